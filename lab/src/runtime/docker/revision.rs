//! The scenario a lab runs, once `apply` changed it. A container's labels
//! cannot change after it is created, so the node labels keep the scenario
//! of `up` and each `apply` records the new one in a revision: a container
//! that is never started (like the claim, see [`super::claim`]), named
//! `seglab-<lab>.rev-<N>` and labelled with the lab, its revision number and
//! the scenario. The engine makes names unique atomically, so two applies
//! that pick the same next number cannot both land: the loser is told to
//! try again. [`newest`] is what `find_lab` reads; all but the newest two
//! are removed as a new one lands, and all go with the lab's label at
//! `down`.

use super::engine::{ContainerInfo, ContainerSpec, Engine, RuntimeError};
use super::nodes::{labels, LABEL_LAB, LABEL_SPEC};
use crate::error::{Error, Result};
use crate::scenario::Scenario;

/// Marks a revision container; its value is the revision number.
pub const LABEL_REVISION: &str = "io.seglab.revision";

/// A revision's container name: the `.` keeps it apart from every node's
/// (`seglab-LAB-NODE`) and from the claim's (`seglab-LAB.claim`).
pub(super) fn revision_name(lab: &str, n: u64) -> String {
    format!("seglab-{lab}.rev-{n}")
}

fn number(c: &ContainerInfo) -> Option<u64> {
    c.labels.get(LABEL_REVISION)?.parse().ok()
}

/// The newest revision among a lab's containers, with its number.
pub(super) fn newest(containers: &[ContainerInfo]) -> Option<(u64, &ContainerInfo)> {
    containers
        .iter()
        .filter_map(|c| Some((number(c)?, c)))
        .max_by_key(|(n, _)| *n)
}

/// Records `sc` as lab `lab`'s scenario: a new revision, numbered one past
/// the newest. Its image is the lab's own (any of its containers'), so
/// nothing is pulled or built.
pub(super) async fn record(rt: &Engine, lab: &str, sc: &Scenario) -> Result<u64> {
    let containers = rt.containers(&[(LABEL_LAB, lab)]).await?;
    let image = containers
        .iter()
        .map(|c| c.image.as_str())
        .find(|i| !i.is_empty())
        .ok_or_else(|| {
            Error::Input(format!(
                "no lab named `{lab}` on this Docker engine (seglab status lists them)"
            ))
        })?
        .to_string();
    let n = newest(&containers).map_or(1, |(n, _)| n + 1);
    let spec_json = serde_json::to_string(sc).expect("a scenario serializes");
    let number = n.to_string();
    let mut labels = labels(lab, sc, &[(LABEL_REVISION, number.as_str())]);
    labels.insert(LABEL_SPEC.into(), spec_json);
    let spec = ContainerSpec {
        name: revision_name(lab, n),
        hostname: "revision".into(),
        image,
        labels,
        cap_drop: vec!["ALL".into()],
        no_new_privileges: true,
        read_only: true,
        ..ContainerSpec::default()
    };
    match rt.create_container(&spec).await {
        Ok(_) => {
            prune(rt, &containers, n).await;
            Ok(n)
        }
        Err(RuntimeError::NameTaken { .. }) => Err(Error::Input(format!(
            "another `seglab apply` of lab {lab} recorded revision {n} at the same moment; \
             this one's rule sets are loaded but not recorded: run it again"
        ))),
        Err(e) => Err(e.into()),
    }
}

/// Removes the revisions older than the one before `n`: a `watch` records
/// one per save, and every `find_lab` lists them all. The one before `n`
/// stays for a reader that listed the lab just before `n` was made.
async fn prune(rt: &Engine, containers: &[ContainerInfo], n: u64) {
    for c in containers
        .iter()
        .filter(|c| number(c).is_some_and(|k| k + 1 < n))
    {
        if let Err(e) = rt.remove_container(&c.id).await {
            tracing::debug!("removing old revision {}: {e}", c.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn c(name: &str, rev: Option<&str>) -> ContainerInfo {
        let mut labels = HashMap::new();
        if let Some(r) = rev {
            labels.insert(LABEL_REVISION.to_string(), r.to_string());
        }
        ContainerInfo {
            id: name.into(),
            name: name.into(),
            labels,
            image: "img".into(),
            running: false,
            status: "created".into(),
            pid: None,
            addresses: Vec::new(),
        }
    }

    #[test]
    fn the_newest_revision_is_the_highest_number_not_the_last_listed() {
        let cs = [
            c("seglab-l-gw", None),
            c("seglab-l.rev-10", Some("10")),
            c("seglab-l.rev-9", Some("9")),
            c("seglab-l.rev-x", Some("garbage")),
        ];
        assert_eq!(
            newest(&cs).map(|(n, c)| (n, c.name.as_str())),
            Some((10, "seglab-l.rev-10"))
        );
        assert!(newest(&cs[..1]).is_none());
        assert_eq!(revision_name("l", 3), "seglab-l.rev-3");
    }
}
