//! Observing a running lab through `verify`'s probing (the catalog's
//! ports) or the scan engine (`--ports`), the phase opened and closed
//! again as `verify --phase` and `scan --phase` do.

use super::Observation;
use crate::error::Result;
use crate::plan::plan;
use crate::runtime::LabBackend;
use crate::scan::{scan_lab, PortSet, ScanRequest};
use crate::scenario::Scenario;
use crate::verify::phases::{close_on, open_phase, start, Start};
use crate::verify::{verify_lab, verify_plan, VerifyOptions};

/// What to observe.
#[derive(Debug, Clone, Default)]
pub struct ObserveRequest {
    /// Open this phase for the observation (and close it again).
    pub phase: Option<String>,
    /// Scan these ports of every host pair that something filters, instead
    /// of probing the catalog's ports of every host pair.
    pub ports: Option<PortSet>,
    pub verify: VerifyOptions,
}

/// Observes lab `lab`; returns the observation and the lab's scenario.
pub async fn observe_lab<B: LabBackend>(
    b: &B,
    lab: &str,
    req: &ObserveRequest,
) -> Result<(Observation, Scenario)> {
    let info = b.find_lab(lab).await?;
    let sc = info.scenario.clone();
    let phase = req.phase.as_deref();
    // An unknown phase is said before anything is touched.
    let p = plan(&sc, phase)?;
    if let Some(ports) = &req.ports {
        let scan = ScanRequest {
            ports: ports.clone(),
            ..ScanRequest::default()
        };
        let report = scan_lab(b, lab, phase, &scan).await?;
        let mut obs = Observation::from_scan(&report);
        obs.ports = ports.to_string();
        return Ok((obs, sc));
    }
    // The verdicts of `verify` are dropped; its probing (the node checks
    // before and after, a second try of every cell that differs from the
    // plan) is what makes the observation as reliable as a verification.
    let Some(phase) = phase else {
        let reports = verify_lab(b, lab, None, req.verify).await?;
        return Ok((Observation::from_report(&reports[0]), sc));
    };
    let Start { info, notes, .. } = start(b, info, None).await?;
    let opened_on = open_phase(b, &info, phase, None).await?;
    let report = verify_plan(b, lab, &sc, &p, phase, req.verify).await;
    close_on(b, &info, &opened_on, Some(phase)).await?;
    let mut obs = Observation::from_report(&report?);
    obs.notes = notes;
    Ok((obs, sc))
}
