//! `verify` and `test`: probe a running lab, or bring scenarios up, verify
//! every phase and take them down again.

use super::output::{finish, finish_all, progress_sink};
use super::{load_with, Outcome};
use crate::cancel::Cancel;
use crate::cli::{OutputArgs, TestArgs};
use crate::error::{Error, Result};
use crate::lab::{self, UpOptions};
use crate::report::{html::Context, Format};
use crate::runtime::docker::DockerBackend;
use crate::runtime::LabBackend;
use crate::testrun::{test_scenario, TestOptions};
use crate::verify::{verify_isolated, verify_lab};
use futures_util::StreamExt;

/// Scenarios `seglab test` runs at once.
const TEST_PARALLEL: usize = 2;

pub(super) async fn verify(
    lab: String,
    phase: Option<String>,
    isolate: Option<String>,
    output: OutputArgs,
) -> Result<Outcome> {
    output.check()?;
    let rt = DockerBackend::connect().await?;
    let cancel = Cancel::on_signals();
    let before = lab_size(&rt, &lab).await?;
    tracing::debug!("lab {lab}: {before} containers; probing");
    let run = async {
        match &isolate {
            Some(gw) => verify_isolated(&rt, &lab, gw, phase.as_deref(), output.verify()).await,
            None => verify_lab(&rt, &lab, phase.as_deref(), output.verify()).await,
        }
    };
    let result = tokio::select! {
        r = run => r,
        () = cancel.cancelled() => {
            // Never leave an isolation or a temporary phase open behind
            // an interrupt.
            if let Some(gw) = &isolate {
                crate::verify::reset_isolation(&rt, &lab, gw).await?;
            }
            if let Some(p) = &phase {
                crate::verify::reset_phase(&rt, &lab, p).await?;
            }
            return Err(Error::Interrupted);
        }
    };
    // `seglab down` racing this run: whichever step noticed first
    // (a vanished namespace, a container gone from the engine, the
    // lab no longer found), the answer is the same: exit 3.
    if before > 0 {
        let after = lab_size(&rt, &lab).await.unwrap_or(0);
        if after < before {
            return Err(Error::Environment(format!(
                "lab {lab} was removed while it was being verified \
                 ({before} containers before, {after} after): no verdict"
            )));
        }
    }
    let reports = result?;
    let mut output = output;
    if output.report.format == Format::Html {
        // The lab as placed (its subnets, interface names and applied rule
        // files); a lab gone by now is shown without its drawing.
        let placed = rt.find_lab(&lab).await.ok().map(|info| info.scenario);
        let mut extra = vec![("lab".to_string(), lab.clone())];
        extra.extend(phase.map(|p| ("phase".to_string(), p)));
        extra.extend(isolate.map(|g| ("isolated gateway".to_string(), g)));
        extra.extend(probe_params(&output));
        let mut page = Context::for_run(extra);
        if let Some(sc) = &placed {
            page = page.with_scenario(sc);
        }
        output.report.page = page;
    }
    Ok(finish(&output, &reports, Vec::new()))
}

/// How the cells were probed, for the HTML report's parameters.
pub(super) fn probe_params(output: &OutputArgs) -> Vec<(String, String)> {
    vec![
        (
            "probe timeout".to_string(),
            format!("{} ms", output.timeout),
        ),
        (
            "tracing".to_string(),
            if output.no_trace {
                "off (--no-trace): failing cells are not explained".to_string()
            } else {
                "on: failing cells are explained".to_string()
            },
        ),
    ]
}

pub(super) async fn test(args: TestArgs) -> Result<Outcome> {
    let TestArgs {
        scenarios,
        inputs,
        output,
        keep,
        each_gateway,
        scan,
        baseline,
    } = args;
    let names: Vec<String> = if scenarios.is_empty() {
        crate::scenario::builtin::names()
            .iter()
            .map(|s| s.to_string())
            .collect()
    } else {
        scenarios
    };
    output.check()?;
    // A bad baseline costs no lab.
    let base = super::observe::load_baseline(&baseline)?;
    let strict = names.len() == 1;
    let mut loaded = Vec::new();
    for n in &names {
        loaded.push(load_with(n, &inputs, strict)?);
    }
    for o in &inputs.rulesets {
        if !loaded.iter().any(|sc| lab::fits(sc, o)) {
            return Err(Error::Input(format!(
                "--ruleset {}: no scenario of this run has gateway `{}`{}",
                o.path.display(),
                o.gateway,
                o.phase
                    .as_ref()
                    .map(|p| format!(" with phase `{p}`"))
                    .unwrap_or_default()
            )));
        }
    }
    let mut output = output;
    if output.report.format == Format::Html {
        let mut extra = vec![("scenarios".to_string(), names.join(", "))];
        for o in &inputs.rulesets {
            extra.push(("rule set".to_string(), o.to_string()));
        }
        extra.extend(probe_params(&output));
        if each_gateway {
            extra.push(("each gateway".to_string(), "judged alone too".to_string()));
        }
        let mut page = Context::for_run(extra);
        for sc in &loaded {
            page = page.with_scenario(sc);
        }
        output.report.page = page;
    }
    let rt = DockerBackend::connect().await?;
    let opts = TestOptions {
        up: UpOptions {
            node_binary: lab::default_node_binary()?,
        },
        verify: output.verify(),
        keep,
        each_gateway,
        scan: scan.then(crate::scan::ScanRequest::default),
    };
    let cancel = Cancel::on_signals();
    let progress = progress_sink();
    // Two labs at a time: the engine serializes much of `up` and
    // `down`, so a second lab overlaps the first's probing. Every
    // scenario runs to its end (and its teardown) before errors count.
    let results: Vec<_> = futures_util::stream::iter(&loaded)
        .map(|sc| {
            let (rt, opts, cancel, progress) = (&rt, &opts, &cancel, &progress);
            async move {
                let step = |s: &str| progress(&format!("{}: {s}", sc.name));
                test_scenario(rt, sc, opts, &step, cancel).await
            }
        })
        .buffered(TEST_PARALLEL)
        .collect()
        .await;
    progress("done");
    // Every report that exists is printed, then every error (an
    // `up` that failed in one scenario, a teardown in another).
    let mut reports = Vec::new();
    let mut scans = Vec::new();
    let mut errors = Vec::new();
    for r in results {
        reports.extend(r.reports);
        scans.extend(r.scans);
        errors.extend(r.errors.into_iter().map(|e| Error::Context {
            context: format!("{} (lab {})", r.scenario, r.lab),
            source: Box::new(e),
        }));
    }
    Ok(match &base {
        Some(base) => super::observe::finish_with_baseline(
            &output.report,
            &reports,
            &scans,
            errors,
            base,
            baseline.fail_on_change,
        ),
        None => finish_all(&output.report, &reports, &scans, errors),
    })
}

/// How many containers lab `lab` has (running or not).
async fn lab_size<B: LabBackend>(b: &B, lab: &str) -> Result<usize> {
    Ok(b.lab_summary(lab).await?.map_or(0, |s| s.nodes + s.others))
}
