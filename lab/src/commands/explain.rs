//! `explain`: one cell, probed, judged and explained.

use super::Outcome;
use crate::cancel::Cancel;
use crate::cli::ExplainFormat;
use crate::error::{Error, Result};
use crate::ports::PortKey;
use crate::runtime::docker::DockerBackend;
use crate::verify::{explain_cell, VerifyOptions};
use std::time::Duration;

pub(super) async fn explain(
    lab: &str,
    src: &str,
    dst: &str,
    port: PortKey,
    phase: Option<&str>,
    format: ExplainFormat,
    timeout_ms: u64,
) -> Result<Outcome> {
    let rt = DockerBackend::connect().await?;
    let opts = VerifyOptions {
        timeout: Duration::from_millis(timeout_ms),
        ..VerifyOptions::default()
    };
    let cancel = Cancel::on_signals();
    let report = tokio::select! {
        r = explain_cell(&rt, lab, phase, src, dst, port, opts) => r?,
        () = cancel.cancelled() => {
            // Never leave the phase open behind an interrupt.
            if let Some(p) = phase {
                crate::verify::reset_phase(&rt, lab, p).await?;
            }
            return Err(Error::Interrupted);
        }
    };
    // It could tell: exit 0, whatever the verdict.
    Ok(match format {
        ExplainFormat::Text => report.to_text(),
        ExplainFormat::Json => {
            let mut s = serde_json::to_string_pretty(&report).expect("a report serializes");
            s.push('\n');
            s
        }
    }
    .into())
}
