//! `apply` and `watch`: change a running lab's rule sets.

use super::Outcome;
use crate::error::Result;
use crate::lab::{apply as lab_apply, RulesetOverride};
use crate::runtime::docker::DockerBackend;

pub(super) async fn apply(lab: &str, rulesets: &[RulesetOverride]) -> Result<Outcome> {
    let rt = DockerBackend::connect().await?;
    let changes = lab_apply::apply(&rt, lab, rulesets).await?;
    let mut out: Vec<String> = changes.iter().map(|c| c.describe()).collect();
    let loaded = changes.iter().filter(|c| c.phase.is_none()).count();
    out.push(format!(
        "lab {lab}: {loaded} rule set{} replaced, scenario recorded; seglab verify {lab}",
        if loaded == 1 { "" } else { "s" }
    ));
    Ok(out.join("\n").into())
}

pub(super) async fn watch(
    lab: &str,
    rulesets: &[RulesetOverride],
    timeout: u64,
    no_trace: bool,
) -> Result<Outcome> {
    let _ = (lab, rulesets, timeout, no_trace);
    Err(crate::error::Error::Input("watch: not yet".into()))
}
