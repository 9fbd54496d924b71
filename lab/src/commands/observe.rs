//! `observe`, `diff`, and `test --baseline`'s diff against the run.

use super::Outcome;
use crate::cancel::Cancel;
use crate::cli::{BaselineArgs, DocFormat, ObserveFormat, ReportArgs, TIMEOUT_MS};
use crate::diff::{self, Cells, Diff};
use crate::error::{Error, Result};
use crate::observe::{self, policy, ObserveRequest};
use crate::report::{self, Format};
use crate::runtime::docker::DockerBackend;
use crate::scan::{PortSet, ScanReport};
use crate::verify::{Report, VerifyOptions};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub(super) struct ObserveArgs {
    pub lab: String,
    pub phase: Option<String>,
    pub ports: Option<PortSet>,
    pub format: ObserveFormat,
    pub output: Option<PathBuf>,
    pub timeout: u64,
    pub write_policy: Option<PathBuf>,
}

/// Bad input (exit 2) about a file, said before any probing.
fn bad_file(flag: &str, path: &Path, why: impl std::fmt::Display) -> Error {
    Error::Input(format!("{flag} {}: {why}", path.display()))
}

pub(super) async fn observe(args: ObserveArgs) -> Result<Outcome> {
    let out_args = ReportArgs {
        format: Format::Table,
        output: args.output.clone(),
        verbose: false,
        page: Default::default(),
    };
    out_args.check()?;
    if let Some(p) = &args.write_policy {
        // A policy someone may have edited is never overwritten.
        if p.exists() {
            return Err(bad_file(
                "--write-policy",
                p,
                "exists already (seglab never overwrites a policy file: remove it or name another)",
            ));
        }
        ReportArgs {
            format: Format::Table,
            output: Some(p.clone()),
            verbose: false,
            page: Default::default(),
        }
        .check()
        .map_err(|_| bad_file("--write-policy", p, "cannot be written"))?;
    }
    debug_assert!(TIMEOUT_MS.contains(&args.timeout));
    let req = ObserveRequest {
        phase: args.phase.clone(),
        ports: args.ports,
        verify: VerifyOptions {
            timeout: Duration::from_millis(args.timeout),
            ..VerifyOptions::default()
        },
    };
    let rt = DockerBackend::connect().await?;
    let cancel = Cancel::on_signals();
    let lab = &args.lab;
    let (obs, sc) = tokio::select! {
        r = observe::observe_lab(&rt, lab, &req) => r?,
        () = cancel.cancelled() => {
            // Never leave a phase open behind an interrupt.
            if let Some(p) = &args.phase {
                crate::verify::reset_phase(&rt, lab, p).await?;
            }
            return Err(Error::Interrupted);
        }
    };
    let table = observe::render::table(&obs);
    let text = match args.format {
        ObserveFormat::Table => table.clone(),
        ObserveFormat::Json => observe::render::json(&obs),
        ObserveFormat::Html => {
            let mut extra = vec![
                ("lab".to_string(), lab.clone()),
                ("ports".to_string(), obs.ports.clone()),
                ("probe timeout".to_string(), format!("{} ms", args.timeout)),
            ];
            extra.extend(args.phase.clone().map(|p| ("phase".to_string(), p)));
            let ctx = crate::report::html::Context::for_run(extra).with_scenario(&sc);
            crate::report::html::observation_html(&obs, &ctx)
        }
    };
    let mut outcome = Outcome::default();
    outcome.stdout = match &args.output {
        None => text,
        Some(path) => match std::fs::write(path, &text) {
            Ok(()) => table,
            Err(e) => {
                outcome.errors.push(Error::Environment(format!(
                    "cannot write the observation to {}: {e}",
                    path.display()
                )));
                text
            }
        },
    };
    if let Some(path) = &args.write_policy {
        let written = policy::write_policy(&sc, &obs);
        let wrote = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, written.yaml.as_bytes()));
        match wrote {
            Ok(()) => {
                let n = written.flows.len();
                outcome.stdout.push_str(&format!(
                    "\nwrote {n} flow{} to {}{}\n",
                    if n == 1 { "" } else { "s" },
                    path.display(),
                    if written.inexpressible.is_empty() {
                        String::new()
                    } else {
                        format!(
                            " ({} cells no flow can express: see its header)",
                            written.inexpressible.len()
                        )
                    }
                ));
            }
            Err(e) => outcome.errors.push(Error::Environment(format!(
                "cannot write the policy to {}: {e}",
                path.display()
            ))),
        }
    }
    Ok(outcome)
}

fn load(path: &Path) -> Result<Cells> {
    diff::load(path).map_err(|e| Error::Input(e.to_string()))
}

/// `seglab diff BEFORE AFTER`.
pub(super) fn diff_files(
    before: &Path,
    after: &Path,
    format: DocFormat,
    fail_on_change: bool,
) -> Result<Outcome> {
    let (b, a) = (load(before)?, load(after)?);
    let d = diff::diff(&b, &a);
    let stdout = match format {
        DocFormat::Table => diff::render::table(&d),
        DocFormat::Json => diff::render::json(&d),
    };
    Ok(Outcome {
        stdout,
        exit_code: (fail_on_change && d.changed()).then_some(crate::error::EXIT_VERIFY_FAILED),
        ..Outcome::default()
    })
}

/// The baseline of `test --baseline`, read before any lab is made.
pub(super) fn load_baseline(args: &BaselineArgs) -> Result<Option<Cells>> {
    args.baseline.as_deref().map(load).transpose()
}

/// Finishes `test --baseline`: the run's reports, then the diff against
/// the baseline. In a table (and on the terminal when `--output` takes
/// the document) the diff follows the summaries; JSON gets it under
/// `"diff"` beside `"verify"` (and `"scan"`); JUnit has no place for it,
/// so there it is said only on the terminal (with `--output`).
pub(super) fn finish_with_baseline(
    output: &ReportArgs,
    reports: &[Report],
    scans: &[ScanReport],
    errors: Vec<Error>,
    baseline: &Cells,
    fail_on_change: bool,
) -> Outcome {
    // The verdict and the errors exactly as without a baseline.
    let mut outcome = super::output::finish_all(
        &ReportArgs {
            format: Format::Table,
            output: None,
            verbose: output.verbose,
            page: Default::default(),
        },
        reports,
        scans,
        errors,
    );
    if reports.is_empty() && scans.is_empty() {
        return outcome;
    }
    let run_doc = serde_json::json!({"verify": reports, "scan": scans});
    let run = diff::from_value("this run", &run_doc).expect("seglab's own reports compare");
    let d = diff::diff(baseline, &run);
    let table = format!(
        "{}\n{}",
        report::render_all_styled(reports, scans, Format::Table, &output.style()),
        diff::render::table(&d)
    );
    let text = match output.format {
        Format::Table => table.clone(),
        Format::Json => json_with_diff(reports, scans, &d),
        Format::Junit => report::render_all(reports, scans, Format::Junit),
        // The page shows the run; the diff is said on the terminal.
        Format::Html => output.html(reports, scans),
        Format::Markdown => format!(
            "{}\n```text\n{}\n```\n",
            report::render_all(reports, scans, Format::Markdown),
            diff::render::table(&d).trim_end()
        ),
    };
    outcome.stdout = match &output.output {
        None => text,
        Some(path) => match std::fs::write(path, &text) {
            Ok(()) => table,
            Err(e) => {
                outcome.errors.push(Error::Environment(format!(
                    "cannot write the report to {}: {e}",
                    path.display()
                )));
                text
            }
        },
    };
    if fail_on_change && d.changed() {
        let changed = format!(
            "{} against {}",
            diff::render::summary_line(&d),
            baseline.name
        );
        outcome.failed = Some(match outcome.failed.take() {
            Some(f) => format!("{f}; {changed}"),
            None => changed,
        });
    }
    outcome
}

/// `{"verify": [...], "scan": [...], "diff": {...}}` (`scan` only when the
/// run scanned).
fn json_with_diff(reports: &[Report], scans: &[ScanReport], d: &Diff) -> String {
    let mut doc = serde_json::json!({"verify": reports});
    if !scans.is_empty() {
        doc["scan"] = serde_json::json!(scans);
    }
    doc["diff"] = serde_json::to_value(d).expect("a diff serializes");
    serde_json::to_string_pretty(&doc).expect("reports serialize")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node_contract::Proto;
    use crate::plan::Expected;
    use crate::probe::Observed;
    use crate::verify::{ProbeResult, Summary, Verdict};

    fn report(observed: Observed) -> Report {
        let verdict = match observed {
            Observed::Open => Verdict::Leak,
            _ => Verdict::Pass,
        };
        Report {
            scenario: "scenario-3".into(),
            lab: "ob-x".into(),
            phase: "base".into(),
            summary: Summary {
                probes: 1,
                passed: usize::from(verdict == Verdict::Pass),
                leaks: usize::from(verdict == Verdict::Leak),
                ..Summary::default()
            },
            results: vec![ProbeResult {
                src: "ams".into(),
                dst: "agent-1".into(),
                proto: Proto::Tcp,
                port: 445,
                expected: Expected::Blocked,
                observed,
                verdict,
                responder: None,
                flow: None,
                elapsed_ms: 1.0,
                detail: None,
                retried: false,
                explain: None,
            }],
            notes: Vec::new(),
            segments: [("ams", "mgmt"), ("agent-1", "sensitive")]
                .into_iter()
                .map(|(h, s)| (h.to_string(), s.to_string()))
                .collect(),
        }
    }

    fn baseline() -> Cells {
        let text = report::render(&[report(Observed::Blocked)], Format::Json);
        diff::parse("base.json", &text).unwrap()
    }

    fn args(format: Format) -> ReportArgs {
        ReportArgs {
            format,
            output: None,
            verbose: false,
            page: Default::default(),
        }
    }

    #[test]
    fn the_diff_follows_the_summaries_and_fails_the_run_only_when_asked() {
        let run = [report(Observed::Open)];
        let o = finish_with_baseline(&args(Format::Table), &run, &[], vec![], &baseline(), false);
        let summary = o.stdout.find("FAIL scenario-3 / base").unwrap();
        let diff = o.stdout.find("1 cell changed: 1 newly open").unwrap();
        assert!(summary < diff, "{}", o.stdout);
        assert!(
            o.stdout.contains("ams -> agent-1: newly open tcp 445"),
            "{}",
            o.stdout
        );
        // The leak fails the run anyway; the change is added when asked.
        assert!(!o.failed.as_deref().unwrap().contains("changed"));
        let o = finish_with_baseline(&args(Format::Table), &run, &[], vec![], &baseline(), true);
        assert!(
            o.failed.as_deref().unwrap().contains("1 cell changed"),
            "{o:?}"
        );
        // Nothing changed: nothing added to a passing run.
        let same = [report(Observed::Blocked)];
        let o = finish_with_baseline(&args(Format::Table), &same, &[], vec![], &baseline(), true);
        assert_eq!(o.failed, None);
        assert!(o.stdout.contains("no cell changed"), "{}", o.stdout);
    }

    #[test]
    fn json_carries_the_diff_beside_the_reports_and_reads_back_as_a_baseline() {
        let run = [report(Observed::Open)];
        let o = finish_with_baseline(&args(Format::Json), &run, &[], vec![], &baseline(), false);
        let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
        assert_eq!(v["diff"]["summary"]["newly_open"], 1);
        assert_eq!(v["verify"][0]["segments"]["ams"], "mgmt");
        let again = diff::parse("run.json", &o.stdout).unwrap();
        assert_eq!(again.cells.len(), 1);
        assert!(again.cells.values().all(|s| s.observed == Observed::Open));
    }
}
