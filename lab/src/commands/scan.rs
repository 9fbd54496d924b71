//! `scan`: every port of a running lab's filtered host pairs, judged
//! against the plan.

use super::output::finish_all;
use super::Outcome;
use crate::cancel::Cancel;
use crate::cli::ReportArgs;
use crate::error::{Error, Result};
use crate::node_contract::Proto;
use crate::runtime::docker::DockerBackend;
use crate::scan::select::Selector;
use crate::scan::{scan_lab, PortSet, ScanRequest};

pub(super) struct ScanArgs {
    pub lab: String,
    pub from: Selector,
    pub to: Selector,
    pub protos: Vec<Proto>,
    pub ports: PortSet,
    pub phase: Option<String>,
}

pub(super) async fn scan(args: ScanArgs, output: ReportArgs) -> Result<Outcome> {
    output.check()?;
    let mut protos = args.protos;
    protos.dedup();
    if protos.is_empty() {
        return Err(Error::Input("--proto: name tcp, udp or both".into()));
    }
    let req = ScanRequest {
        from: args.from,
        to: args.to,
        protos,
        ports: args.ports,
        ..ScanRequest::default()
    };
    let rt = DockerBackend::connect().await?;
    let cancel = Cancel::on_signals();
    let (lab, phase) = (&args.lab, args.phase.as_deref());
    let report = tokio::select! {
        r = scan_lab(&rt, lab, phase, &req) => r?,
        () = cancel.cancelled() => {
            // Never leave a temporary phase open behind an interrupt.
            if let Some(p) = phase {
                crate::verify::reset_phase(&rt, lab, p).await?;
            }
            return Err(Error::Interrupted);
        }
    };
    Ok(finish_all(&output, &[], &[report], Vec::new()))
}
