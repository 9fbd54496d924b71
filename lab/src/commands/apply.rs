//! `apply` and `watch`: change a running lab's rule sets.

use super::Outcome;
use crate::error::Result;
use crate::lab::{apply as lab_apply, RulesetOverride};
use crate::runtime::docker::DockerBackend;

pub(super) async fn apply(lab: &str, rulesets: &[RulesetOverride]) -> Result<Outcome> {
    let rt = DockerBackend::connect().await?;
    let info = lab_apply::running_lab(&rt, lab).await?;
    let changes = lab_apply::apply_to(&rt, &info, rulesets).await?;
    let mut out: Vec<String> = changes.iter().map(|c| c.describe()).collect();
    // An address written in a new file that no lab segment holds: the
    // rules naming it match no host here (the file may have been written
    // for the scenario's subnets while this lab runs on others). `apply`
    // changes rule sets, never segments, so the lab as found says.
    for c in &changes {
        for s in crate::pinned::strays(&info.scenario, &c.new) {
            out.push(format!(
                "note: {s} is on none of lab {lab}'s segments ({}): rules that match it match no lab host",
                segments_words(&info.scenario)
            ));
        }
    }
    let loaded = changes.iter().filter(|c| c.phase.is_none()).count();
    out.push(format!(
        "lab {lab}: {loaded} rule set{} replaced, scenario recorded; seglab verify {lab}",
        if loaded == 1 { "" } else { "s" }
    ));
    Ok(out.join("\n").into())
}

/// `mgmt 198.18.30.0/24, sensitive 198.18.31.0/24`.
fn segments_words(sc: &crate::scenario::Scenario) -> String {
    sc.segments
        .iter()
        .map(|s| format!("{} {}", s.name, s.subnet))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) async fn watch(
    lab: &str,
    rulesets: &[RulesetOverride],
    timeout: u64,
    no_trace: bool,
) -> Result<Outcome> {
    use std::io::Write;
    let rt = DockerBackend::connect().await?;
    let opts = crate::verify::VerifyOptions {
        timeout: std::time::Duration::from_millis(timeout),
        trace: !no_trace,
        ..crate::verify::VerifyOptions::default()
    };
    // Ctrl-C or SIGTERM is how a watch ends, and there is nothing to clean
    // up: not `Cancel::on_signals`, which says it cleans up.
    let cancel = crate::cancel::Cancel::never();
    let fire = cancel.clone();
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).expect("a SIGTERM handler installs");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        fire.cancel();
    });
    // Each line as soon as it is known, flushed: a reader (a person, a
    // test, a pipe) sees a run's result when it ends. A closed pipe ends
    // nothing here; Ctrl-C does.
    let say = |line: crate::watch::Line| {
        let _ = match line {
            crate::watch::Line::Out(s) => {
                let mut o = std::io::stdout().lock();
                writeln!(o, "{s}").and_then(|()| o.flush())
            }
            crate::watch::Line::Err(s) => writeln!(std::io::stderr().lock(), "seglab: {s}"),
        };
    };
    crate::watch::watch(&rt, lab, rulesets, opts, &say, &cancel).await?;
    Ok(format!("stopped watching lab {lab}; it is left as it is").into())
}
