//! `seglab test`, the CI verb: for each scenario bring a lab up, verify the
//! base policy and every phase, and take the lab down again, also when
//! verification fails or the run is interrupted (unless `--keep`).

use crate::cancel::Cancel;
use crate::error::{Error, Result};
use crate::lab::{self, UpOptions};
use crate::runtime::Runtime;
use crate::scenario::Scenario;
use crate::verify::{verify_lab, Report, VerifyOptions};

#[derive(Debug, Clone)]
pub struct TestOptions {
    pub up: UpOptions,
    pub verify: VerifyOptions,
    /// Leave the labs running afterwards (for debugging).
    pub keep: bool,
}

/// Verifies one scenario in a fresh lab; returns the lab name and reports.
pub async fn test_scenario(
    rt: &Runtime,
    sc: &Scenario,
    opts: &TestOptions,
    progress: &dyn Fn(&str),
    cancel: &Cancel,
) -> Result<(String, Vec<Report>)> {
    let name = lab::fresh_name(&sc.name);
    lab::up_or_clean(rt, &name, sc, &opts.up, progress, cancel.cancelled()).await?;
    let run = async {
        progress("verify base");
        let mut reports = verify_lab(rt, &name, None, opts.verify).await?;
        for p in &sc.phases {
            progress(&format!("verify phase {}", p.name));
            reports.extend(verify_lab(rt, &name, Some(&p.name), opts.verify).await?);
        }
        Ok::<_, Error>(reports)
    };
    let result = tokio::select! {
        r = run => r,
        () = cancel.cancelled() => Err(Error::Interrupted),
    };
    if !opts.keep || result.is_err() && cancel.is_cancelled() {
        progress("down");
        lab::down(rt, &name).await?;
    } else {
        tracing::warn!("kept lab {name} (seglab down {name} removes it)");
    }
    Ok((name, result?))
}
