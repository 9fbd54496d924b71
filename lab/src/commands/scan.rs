//! `scan`: every port of a running lab's filtered host pairs, judged
//! against the plan.

use super::output::finish_all;
use super::Outcome;
use crate::cancel::Cancel;
use crate::cli::ReportArgs;
use crate::error::{Error, Result};
use crate::node_contract::Proto;
use crate::report::{html::Context, Format};
use crate::runtime::docker::DockerBackend;
use crate::runtime::LabBackend;
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
    let mut output = output;
    if output.format == Format::Html {
        let mut extra = vec![("lab".to_string(), lab.clone())];
        extra.extend(phase.map(|p| ("phase".to_string(), p.to_string())));
        let mut page = Context::for_run(extra);
        if let Ok(info) = rt.find_lab(lab).await {
            page = page.with_scenario(&info.scenario);
        }
        output.page = page;
    }
    Ok(finish_all(&output, &[], &[report], Vec::new()))
}
