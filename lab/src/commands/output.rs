//! Output shared by the commands: the report in `--format` (and to
//! `--output`), the verdict of a run as an [`Outcome`], and the progress
//! line on a terminal.

use super::Outcome;
use crate::cli::{OutputArgs, ReportArgs};
use crate::error::{Error, Result};
use crate::report::{self, Format, Style};
use crate::scan::ScanReport;
use crate::verify::{Report, VerifyOptions};
use std::io::IsTerminal;
use std::time::Duration;

// The behaviour of the argument group `OutputArgs` (defined with the other
// arguments in `cli.rs`).
impl OutputArgs {
    pub(super) fn verify(&self) -> VerifyOptions {
        VerifyOptions {
            timeout: Duration::from_millis(self.timeout),
            trace: !self.no_trace,
            ..VerifyOptions::default()
        }
    }

    /// Checks before a run that `--output` can be written, so that a bad
    /// path costs no lab and no probing; leaves nothing behind.
    pub(super) fn check(&self) -> Result<()> {
        self.report.check()
    }
}

impl ReportArgs {
    /// How much the table and Markdown say (`-v`: everything), uncoloured.
    pub(super) fn style(&self) -> Style {
        Style {
            verbose: self.verbose,
            colour: false,
        }
    }

    /// The HTML report, with the topologies and parameters the command
    /// gave. With `-v` it logs its render time and size beside the
    /// table's (rendered for that alone), which `make bench` reads
    /// against the budget (scenario 4: 50 ms, 300 KB).
    pub(super) fn html(&self, reports: &[Report], scans: &[ScanReport]) -> String {
        let t = std::time::Instant::now();
        let page = report::render_html(reports, scans, &self.page.topologies, &self.page.params);
        let html_ms = t.elapsed().as_secs_f64() * 1000.0;
        if tracing::enabled!(tracing::Level::INFO) {
            let t = std::time::Instant::now();
            let table = report::render_all_styled(reports, scans, Format::Table, &self.style());
            let table_ms = t.elapsed().as_secs_f64() * 1000.0;
            tracing::info!(
                "html report: {} views, {} bytes, rendered in {html_ms:.2} ms (the table: {} bytes in {table_ms:.2} ms)",
                reports.len() + scans.len(),
                page.len(),
                table.len()
            );
        }
        page
    }

    /// See [`OutputArgs::check`].
    pub(super) fn check(&self) -> Result<()> {
        match &self.output {
            None => Ok(()),
            Some(path) => check_writable(path),
        }
    }

    /// The text for stdout, and the error of writing `--output` if that
    /// failed: the report then still reaches stdout (in the format asked
    /// for, since the file did not get it).
    fn emit(&self, reports: &[Report], scans: &[ScanReport]) -> (String, Option<Error>) {
        let plain = self.style();
        let terminal = Style {
            colour: report::colour_wanted(
                std::io::stdout().is_terminal(),
                std::env::var_os("NO_COLOR").as_deref(),
            ),
            ..plain
        };
        // Colour only for the table on the terminal, never in a file.
        let text = match (self.format, &self.output) {
            (Format::Html, _) => self.html(reports, scans),
            (Format::Table, None) => {
                report::render_all_styled(reports, scans, Format::Table, &terminal)
            }
            _ => report::render_all_styled(reports, scans, self.format, &plain),
        };
        match &self.output {
            None => (text, None),
            Some(path) => match std::fs::write(path, &text) {
                // The file is for tools; the terminal still gets the
                // table people read (summaries and failing cells).
                Ok(()) => (
                    report::render_all_styled(reports, scans, Format::Table, &terminal),
                    None,
                ),
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

pub(super) fn finish(output: &OutputArgs, reports: &[Report], errors: Vec<Error>) -> Outcome {
    finish_all(&output.report, reports, &[], errors)
}

/// The outcome of a run with verification reports, scan reports, or both.
pub(super) fn finish_all(
    output: &ReportArgs,
    reports: &[Report],
    scans: &[ScanReport],
    mut errors: Vec<Error>,
) -> Outcome {
    if reports.is_empty() && scans.is_empty() && !errors.is_empty() {
        // Nothing was verified: no empty report (an empty JUnit suite
        // reads as a pass to some CI systems), only the errors.
        return Outcome {
            errors,
            ..Outcome::default()
        };
    }
    let (stdout, write_error) = output.emit(reports, scans);
    errors.extend(write_error);
    let failed: Vec<String> = reports
        .iter()
        .filter(|r| !r.ok())
        .map(|r| format!("{} / {}", r.scenario, r.phase))
        .chain(
            scans
                .iter()
                .filter(|r| !r.ok())
                .map(|r| format!("scan {} / {}", r.scenario, r.phase)),
        )
        .collect();
    Outcome {
        stdout,
        failed: (!failed.is_empty()).then(|| failed.join(", ")),
        exit_code: None,
        errors,
    }
}

pub(super) fn progress_sink() -> impl Fn(&str) {
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
