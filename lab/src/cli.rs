//! The command line: argument definitions and what each command does with
//! the library. `main.rs` only parses, runs and maps errors to exit codes.

use crate::cancel::Cancel;
use crate::commands::design::{self, PlanFormat};
use crate::error::{Error, Result};
use crate::lab::{self, RulesetOverride, UpOptions};
use crate::report::{self, Format};
use crate::runtime::Runtime;
use crate::testrun::{test_scenario, TestOptions};
use crate::verify::{verify_lab, Report, VerifyOptions};
use clap::{Parser, Subcommand};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use futures_util::StreamExt;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

/// Scenarios `seglab test` runs at once.
const TEST_PARALLEL: usize = 2;

#[derive(Debug, Parser)]
#[command(
    name = "seglab",
    version,
    about = "Turn a network segmentation design into a live Docker lab and prove, probe by probe, that only the permitted flows succeed"
)]
pub struct Cli {
    /// More logging (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the built-in scenarios.
    List,
    /// Check scenario files (or built-in names); report every problem, located.
    Validate {
        #[arg(required = true, value_name = "FILE|NAME")]
        scenarios: Vec<String>,
    },
    /// Print the expected probe matrix of a scenario.
    Plan {
        scenario: String,
        #[arg(long)]
        phase: Option<String>,
        #[arg(long, value_enum, default_value_t = PlanFormat::Table)]
        format: PlanFormat,
        #[arg(long = "param", value_name = "KEY=VALUE")]
        params: Vec<String>,
    },
    /// Print a reference nft rule set derived from the policy.
    Render {
        scenario: String,
        #[arg(long)]
        gateway: Option<String>,
        #[arg(long)]
        phase: Option<String>,
        #[arg(long = "param", value_name = "KEY=VALUE")]
        params: Vec<String>,
    },
    /// Bring a scenario up as a live lab.
    Up {
        scenario: String,
        /// Lab name (default: the scenario's name and a random suffix).
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        inputs: LabInputs,
    },
    /// Remove a lab (or all labs) by label; safe to repeat.
    Down {
        #[arg(required_unless_present_any = ["all", "images"], conflicts_with = "all")]
        lab: Option<String>,
        #[arg(long)]
        all: bool,
        /// Also remove seglab's node images.
        #[arg(long)]
        images: bool,
    },
    /// List labs, or show one lab's segments, gateways and hosts.
    Status { lab: Option<String> },
    /// Run a host program inside a lab node's network namespace.
    Exec {
        lab: String,
        node: String,
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Probe a running lab and judge every cell against the plan.
    Verify {
        lab: String,
        #[arg(long)]
        phase: Option<String>,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Up, verify every phase, down: the CI verb. No scenario: all built-in ones.
    Test {
        scenarios: Vec<String>,
        #[command(flatten)]
        inputs: LabInputs,
        #[command(flatten)]
        output: OutputArgs,
        /// Leave the labs running.
        #[arg(long)]
        keep: bool,
    },
}

#[derive(Debug, clap::Args)]
pub struct LabInputs {
    /// Your own nft file: GATEWAY=FILE, GATEWAY@PHASE=FILE, GATEWAY@PHASE:close=FILE.
    #[arg(long = "ruleset", value_name = "GATEWAY=FILE")]
    pub rulesets: Vec<RulesetOverride>,
    #[arg(long = "param", value_name = "KEY=VALUE")]
    pub params: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct OutputArgs {
    #[arg(long, default_value = "table")]
    pub format: Format,
    /// Write the report to FILE (in --format); the table still goes to standard output.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Probe timeout in milliseconds (50 to 60000): a dropped probe costs exactly this.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(TIMEOUT_MS))]
    pub timeout: u64,
}

/// Bounds of `--timeout` in milliseconds. Below 50 ms a leak whose answer
/// is merely slow (a busy engine, a loaded CI runner) looks blocked, and a
/// cell that must be blocked then passes (`--timeout 1` passed 60 of 358
/// leaks); above a minute, a run with dropped probes never seems to end.
pub const TIMEOUT_MS: std::ops::RangeInclusive<u64> = 50..=60_000;

impl OutputArgs {
    fn verify(&self) -> VerifyOptions {
        VerifyOptions {
            timeout: Duration::from_millis(self.timeout),
            ..VerifyOptions::default()
        }
    }

    /// Checks before a run that `--output` can be written, so that a bad
    /// path costs no lab and no probing; leaves nothing behind.
    fn check(&self) -> Result<()> {
        match &self.output {
            None => Ok(()),
            Some(path) => check_writable(path),
        }
    }

    /// The text for stdout, and the error of writing `--output` if that
    /// failed: the report then still reaches stdout (in the format asked
    /// for, since the file did not get it).
    fn emit(&self, reports: &[Report]) -> (String, Option<Error>) {
        let text = report::render(reports, self.format);
        match &self.output {
            None => (text, None),
            Some(path) => match std::fs::write(path, &text) {
                // The file is for tools; the terminal still gets the
                // table people read (summaries and failing cells).
                Ok(()) => (report::render(reports, Format::Table), None),
                Err(e) => (
                    text,
                    Some(Error::Environment(format!(
                        "cannot write the report to {}: {e}",
                        path.display()
                    ))),
                ),
            },
        }
    }
}

/// Whether `path` can be written, found without changing anything: an
/// existing file is opened for writing (not truncated), a new one is
/// created and removed again. Bad input (exit 2) naming the path.
fn check_writable(path: &std::path::Path) -> Result<()> {
    let bad = |e: std::io::Error| {
        Error::Input(format!(
            "--output {}: cannot be written: {e}",
            path.display()
        ))
    };
    if path.is_dir() {
        return Err(bad(std::io::Error::new(
            std::io::ErrorKind::IsADirectory,
            "is a directory",
        )));
    }
    match std::fs::OpenOptions::new().write(true).open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
                .map_err(bad)?;
            std::fs::remove_file(path).map_err(bad)
        }
        Err(e) => Err(bad(e)),
    }
}

/// What a command printed, whether verification passed, and the errors
/// that came after (or beside) results: those are printed after the
/// results, never instead of them.
#[derive(Debug, Default)]
pub struct Outcome {
    pub stdout: String,
    pub failed: Option<String>,
    /// Exit with this code (`exec` passes on its command's).
    pub exit_code: Option<i32>,
    pub errors: Vec<Error>,
}

impl From<String> for Outcome {
    fn from(stdout: String) -> Outcome {
        Outcome {
            stdout,
            ..Outcome::default()
        }
    }
}

impl Outcome {
    pub fn from_error(e: Error) -> Outcome {
        Outcome {
            errors: vec![e],
            ..Outcome::default()
        }
    }

    /// The exit code: the command's own (`exec`), else the worst of a
    /// failed verification and the errors (see [`crate::error::worst`]).
    pub fn exit_code(&self) -> i32 {
        if let Some(code) = self.exit_code {
            return code;
        }
        let failed = if self.failed.is_some() {
            crate::error::EXIT_VERIFY_FAILED
        } else {
            0
        };
        self.errors
            .iter()
            .map(Error::exit_code)
            .fold(failed, crate::error::worst)
    }
}

fn progress_sink() -> impl Fn(&str) {
    let bar = if std::io::stderr().is_terminal() {
        let pb = indicatif::ProgressBar::new_spinner();
        pb.enable_steady_tick(Duration::from_millis(100));
        Some(pb)
    } else {
        None
    };
    move |step: &str| {
        tracing::info!("{step}");
        if let Some(pb) = &bar {
            if step == "done" {
                pb.finish_and_clear();
            } else {
                pb.set_message(step.to_string());
            }
        }
    }
}

fn load_with(
    scenario: &str,
    inputs: &LabInputs,
    strict: bool,
) -> Result<crate::scenario::Scenario> {
    let params = design::parse_pairs(&inputs.params, "--param")?;
    let mut sc = design::load(scenario, &params)?;
    lab::apply_overrides(&mut sc, &inputs.rulesets, strict)?;
    Ok(sc)
}

pub async fn run(cli: Cli) -> Result<Outcome> {
    match cli.command {
        Command::List => Ok(design::list_text().into()),
        Command::Validate { scenarios } => Ok(design::validate(&scenarios)?.into()),
        Command::Plan {
            scenario,
            phase,
            format,
            params,
        } => {
            let sc = design::load(&scenario, &design::parse_pairs(&params, "--param")?)?;
            Ok(design::plan_text(&sc, phase.as_deref(), format)?.into())
        }
        Command::Render {
            scenario,
            gateway,
            phase,
            params,
        } => {
            let sc = design::load(&scenario, &design::parse_pairs(&params, "--param")?)?;
            Ok(design::render_text(&sc, gateway.as_deref(), phase.as_deref())?.into())
        }
        Command::Up {
            scenario,
            name,
            inputs,
        } => {
            let sc = load_with(&scenario, &inputs, true)?;
            let name = name.unwrap_or_else(|| lab::fresh_name(&sc.name));
            lab::check_lab_name(&name)?;
            let rt = Runtime::connect().await?;
            let opts = UpOptions {
                node_binary: lab::default_node_binary()?,
            };
            let cancel = Cancel::on_signals();
            let progress = progress_sink();
            let info = lab::up_or_clean(&rt, &name, &sc, &opts, &progress, &cancel).await;
            progress("done");
            let info = info?;
            Ok(format!(
                "lab {name} is up ({} nodes); seglab verify {name}; seglab down {name}",
                info.nodes.len()
            )
            .into())
        }
        Command::Down { lab, all, images } => {
            let rt = Runtime::connect().await?;
            let mut n = match lab {
                Some(l) => lab::down(&rt, &l).await?,
                None if all => lab::down_all(&rt).await?,
                None => 0,
            };
            if images {
                n += rt.remove_images(&[(lab::LABEL_IMAGE, "")]).await?;
            }
            Ok(format!("removed {n} objects").into())
        }
        Command::Status { lab } => {
            let rt = Runtime::connect().await?;
            Ok(status(&rt, lab.as_deref()).await?.into())
        }
        Command::Exec { lab, node, command } => {
            let rt = Runtime::connect().await?;
            let info = lab::find_lab(&rt, &lab).await?;
            let n = info.node(&node).ok_or_else(|| {
                Error::Input(format!(
                    "lab {lab} has no host or gateway `{node}` (it has: {})",
                    info.nodes.keys().cloned().collect::<Vec<_>>().join(", ")
                ))
            })?;
            let pid = n.pid.ok_or_else(|| {
                Error::Environment(format!("{node} of lab {lab} is not running ({})", n.status))
            })?;
            let status =
                tokio::task::spawn_blocking(move || crate::netns::exec_interactive(pid, &command))
                    .await
                    .map_err(|e| Error::Environment(format!("exec failed: {e}")))??;
            // Like a shell: the command's own status, 128+N for a signal.
            use std::os::unix::process::ExitStatusExt;
            let code = status
                .code()
                .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
            Ok(Outcome {
                exit_code: Some(code),
                ..Outcome::default()
            })
        }
        Command::Verify { lab, phase, output } => {
            output.check()?;
            let rt = Runtime::connect().await?;
            let cancel = Cancel::on_signals();
            let before = lab_size(&rt, &lab).await?;
            tracing::debug!("lab {lab}: {before} containers; probing");
            let result = tokio::select! {
                r = verify_lab(&rt, &lab, phase.as_deref(), output.verify()) => r,
                () = cancel.cancelled() => {
                    // Never leave a temporary phase open behind an interrupt.
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
            Ok(finish(&output, &result?, Vec::new()))
        }
        Command::Test {
            scenarios,
            inputs,
            output,
            keep,
        } => {
            let names: Vec<String> = if scenarios.is_empty() {
                crate::builtin::names()
                    .iter()
                    .map(|s| s.to_string())
                    .collect()
            } else {
                scenarios
            };
            output.check()?;
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
            let rt = Runtime::connect().await?;
            let opts = TestOptions {
                up: UpOptions {
                    node_binary: lab::default_node_binary()?,
                },
                verify: output.verify(),
                keep,
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
            let mut errors = Vec::new();
            for r in results {
                reports.extend(r.reports);
                errors.extend(r.errors.into_iter().map(|e| Error::Context {
                    context: format!("{} (lab {})", r.scenario, r.lab),
                    source: Box::new(e),
                }));
            }
            Ok(finish(&output, &reports, errors))
        }
    }
}

/// How many containers lab `lab` has (running or not).
async fn lab_size(rt: &Runtime, lab: &str) -> Result<usize> {
    Ok(rt.containers(&[(lab::LABEL_LAB, lab)]).await?.len())
}

fn finish(output: &OutputArgs, reports: &[Report], mut errors: Vec<Error>) -> Outcome {
    if reports.is_empty() && !errors.is_empty() {
        // Nothing was verified: no empty report (an empty JUnit suite
        // reads as a pass to some CI systems), only the errors.
        return Outcome {
            errors,
            ..Outcome::default()
        };
    }
    let (stdout, write_error) = output.emit(reports);
    errors.extend(write_error);
    let failed: Vec<String> = reports
        .iter()
        .filter(|r| !r.ok())
        .map(|r| format!("{} / {}", r.scenario, r.phase))
        .collect();
    Outcome {
        stdout,
        failed: (!failed.is_empty()).then(|| failed.join(", ")),
        exit_code: None,
        errors,
    }
}

async fn status(rt: &Runtime, lab: Option<&str>) -> Result<String> {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED);
    match lab {
        None => {
            t.set_header(["lab", "scenario", "running", "containers", "state"]);
            let labs = lab::list_labs(rt).await?;
            if labs.is_empty() {
                return Ok("no labs".into());
            }
            let mut notes = String::new();
            for l in labs {
                let state = if l.partial() {
                    notes.push_str(&format!("\n{}", l.describe()));
                    "partial"
                } else {
                    "complete"
                };
                let (running, nodes) = (l.running.to_string(), l.nodes.to_string());
                t.add_row([l.name, l.scenario, running, nodes, state.into()]);
            }
            if !notes.is_empty() {
                return Ok(format!("{t}{notes}"));
            }
        }
        Some(name) => {
            let summary = lab::lab_summary(rt, name).await?;
            let partial = summary.filter(|s| s.partial()).map(|s| s.describe());
            let info = match (lab::find_lab(rt, name).await, &partial) {
                (Ok(info), _) => info,
                // Nothing to show but that it is partial.
                (Err(_), Some(partial)) => return Ok(partial.clone()),
                (Err(e), None) => return Err(e),
            };
            let sc = &info.scenario;
            let health = crate::health::check(&info).await;
            // "ok", or every problem: what `verify` would call path-down.
            let health_of = |node: &str| match health.node(node) {
                Some(h) if !h.ok() => h
                    .problems
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                Some(h) => match &h.open_phase {
                    Some(p) => format!("ok, phase {p} open"),
                    None => "ok".into(),
                },
                None => "-".into(),
            };
            t.set_header([
                "node",
                "kind",
                "role",
                "segments and addresses",
                "state",
                "health",
            ]);
            for g in &sc.gateways {
                let addrs: Vec<String> = g
                    .attachments
                    .iter()
                    .map(|a| format!("{} {}", a.segment, a.address))
                    .collect();
                let state = info
                    .node(&g.name)
                    .map_or("missing".into(), |n| n.status.clone());
                t.add_row([
                    g.name.clone(),
                    "gateway".into(),
                    "-".into(),
                    addrs.join(", "),
                    state,
                    health_of(&g.name),
                ]);
            }
            for h in &sc.hosts {
                let state = info
                    .node(&h.name)
                    .map_or("missing".into(), |n| n.status.clone());
                t.add_row([
                    h.name.clone(),
                    "host".into(),
                    h.role.clone(),
                    format!("{} {}", h.segment, h.address),
                    state,
                    health_of(&h.name),
                ]);
            }
            let segs: Vec<String> = sc
                .segments
                .iter()
                .map(|s| {
                    format!(
                        "{} {}{}",
                        s.name,
                        s.subnet,
                        if s.transit { " (transit)" } else { "" }
                    )
                })
                .collect();
            let mut out = format!(
                "lab {name}: {} ({})\nsegments: {}\n{t}{}",
                sc.name,
                sc.title,
                segs.join(", "),
                partial.map(|p| format!("\n{p}")).unwrap_or_default()
            );
            for (g, p) in health.open_phases() {
                out.push_str(&format!(
                    "\nphase {p} is open on {g} (an interrupted `verify --phase`?); \
                     the next `seglab verify {name}` puts its own rule set back"
                ));
            }
            return Ok(out);
        }
    }
    Ok(t.to_string())
}
