//! What each subcommand does with the library; `cli.rs` holds only the
//! argument definitions. [`run`] dispatches a parsed command line to the
//! module of its command, and every command answers with an [`Outcome`]
//! for `main.rs` to print.

mod apply;
pub mod design;
mod explain;
pub mod graph;
mod lab;
mod observe;
mod output;
mod scan;
mod status;
mod verify;

use crate::cli::{Cli, Command, LabInputs};
use crate::error::{Error, Result};

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

fn load_with(
    scenario: &str,
    inputs: &LabInputs,
    strict: bool,
) -> Result<crate::scenario::Scenario> {
    let params = design::parse_pairs(&inputs.params, "--param")?;
    let mut sc = design::load(scenario, &params)?;
    crate::lab::apply_overrides(&mut sc, &inputs.rulesets, strict)?;
    Ok(sc)
}

pub async fn run(cli: Cli) -> Result<Outcome> {
    // `-v` also makes reports list every failing host pair.
    let verbose = cli.verbose > 0;
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
        Command::Graph {
            target,
            format,
            params,
            output,
        } => graph::graph(&target, format, &params, output.as_deref()).await,
        Command::Up {
            scenario,
            name,
            inputs,
        } => lab::up(scenario, name, inputs).await,
        Command::Down { lab, all, images } => lab::down(lab, all, images).await,
        Command::Status { lab } => status::show(lab).await,
        Command::Apply { lab, rulesets } => apply::apply(&lab, &rulesets).await,
        Command::Watch {
            lab,
            rulesets,
            timeout,
            no_trace,
        } => apply::watch(&lab, &rulesets, timeout, no_trace).await,
        Command::Exec { lab, node, command } => lab::exec(lab, node, command).await,
        Command::Verify {
            lab,
            phase,
            isolate,
            output,
        } => {
            let mut output = output;
            output.report.verbose = verbose;
            verify::verify(lab, phase, isolate, output).await
        }
        Command::Explain {
            lab,
            src,
            dst,
            port,
            phase,
            format,
            timeout,
        } => explain::explain(&lab, &src, &dst, port, phase.as_deref(), format, timeout).await,
        Command::Scan {
            lab,
            from,
            to,
            proto,
            ports,
            phase,
            output,
        } => {
            let args = scan::ScanArgs {
                lab,
                from,
                to,
                protos: proto,
                ports,
                phase,
            };
            let output = crate::cli::ReportArgs { verbose, ..output };
            scan::scan(args, output).await
        }
        Command::Test(mut args) => {
            args.output.report.verbose = verbose;
            verify::test(args).await
        }
        Command::Observe {
            lab,
            phase,
            ports,
            format,
            output,
            timeout,
            write_policy,
        } => {
            let args = observe::ObserveArgs {
                lab,
                phase,
                ports,
                format,
                output,
                timeout,
                write_policy,
            };
            observe::observe(args).await
        }
        Command::Diff {
            before,
            after,
            format,
            fail_on_change,
        } => observe::diff_files(&before, &after, format, fail_on_change),
    }
}
