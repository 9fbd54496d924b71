//! `seglab test`, the CI verb: for each scenario bring a lab up, verify the
//! base policy and every phase (with `--each-gateway` also the base policy
//! with each gateway judged alone, with `--scan` also scan every port of
//! the base policy and of each phase), and take the lab down again, also when
//! verification fails or the run is interrupted (unless `--keep`).

use crate::cancel::Cancel;
use crate::error::Error;
use crate::lab::{self, UpOptions};
use crate::runtime::LabBackend;
use crate::scan::{scan_lab, ScanReport, ScanRequest};
use crate::scenario::Scenario;
use crate::verify::{verify_isolated, verify_lab, Report, VerifyOptions};

#[derive(Debug, Clone)]
pub struct TestOptions {
    pub up: UpOptions,
    pub verify: VerifyOptions,
    /// Leave the labs running afterwards (for debugging).
    pub keep: bool,
    /// After the base policy and the phases, verify the base policy once
    /// more per gateway, judged alone (see [`verify_isolated`]).
    pub each_gateway: bool,
    /// Scan the base policy and every phase too (see [`crate::scan`]).
    pub scan: Option<ScanRequest>,
}

/// What one scenario's run left: the reports it got (also when a later
/// step failed) and the errors on the way, teardown's included.
#[derive(Debug)]
pub struct ScenarioRun {
    pub scenario: String,
    pub lab: String,
    pub reports: Vec<Report>,
    pub scans: Vec<ScanReport>,
    pub errors: Vec<Error>,
}

/// Verifies one scenario in a fresh lab. Never gives up the reports it
/// has: a phase that cannot be verified, or a teardown that fails, adds an
/// error beside the reports of the steps before it.
pub async fn test_scenario<B: LabBackend>(
    b: &B,
    sc: &Scenario,
    opts: &TestOptions,
    progress: &dyn Fn(&str),
    cancel: &Cancel,
) -> ScenarioRun {
    let name = lab::fresh_name(&sc.name);
    let mut out = ScenarioRun {
        scenario: sc.name.clone(),
        lab: name.clone(),
        reports: Vec::new(),
        scans: Vec::new(),
        errors: Vec::new(),
    };
    if let Err(e) = lab::up_or_clean(b, &name, sc, &opts.up, progress, cancel).await {
        out.errors.push(e);
        return out;
    }
    let (reports, scans) = (&mut out.reports, &mut out.scans);
    let run = async {
        progress("verify base");
        reports.extend(verify_lab(b, &name, None, opts.verify).await?);
        if let Some(req) = &opts.scan {
            progress("scan base");
            scans.push(scan_lab(b, &name, None, req).await?);
        }
        for p in &sc.phases {
            progress(&format!("verify phase {}", p.name));
            reports.extend(verify_lab(b, &name, Some(&p.name), opts.verify).await?);
            if let Some(req) = &opts.scan {
                progress(&format!("scan phase {}", p.name));
                scans.push(scan_lab(b, &name, Some(&p.name), req).await?);
            }
        }
        for g in sc.gateways.iter().filter(|_| opts.each_gateway) {
            progress(&format!("verify isolate {}", g.name));
            reports.extend(verify_isolated(b, &name, &g.name, None, opts.verify).await?);
        }
        Ok::<_, Error>(())
    };
    let result = tokio::select! {
        r = run => r,
        () = cancel.cancelled() => Err(Error::Interrupted),
    };
    let failed = result.is_err();
    out.errors.extend(result.err());
    if !opts.keep || failed && cancel.is_cancelled() {
        progress("down");
        if let Err(e) = b.remove_lab(&name).await {
            out.errors.push(Error::Context {
                context: format!("cannot take lab {name} down (seglab down {name} retries)"),
                source: Box::new(e),
            });
        }
    } else {
        tracing::warn!("kept lab {name} (seglab down {name} removes it)");
    }
    out
}
