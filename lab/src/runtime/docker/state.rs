//! Finding a running lab again from its labels: which containers it has,
//! their state, and the scenario it was built from (kept in a label, so
//! `verify` and `status` need none of the original files).

use super::engine::{ContainerInfo, Engine, NetworkInfo};
use super::nodes::{LABEL_GATEWAY, LABEL_HOST, LABEL_LAB, LABEL_SCENARIO, LABEL_SPEC};
use super::revision;
use crate::error::{Error, Result};
use crate::node_contract::NodeKind;
use crate::runtime::{LabInfo, LabSummary, NodeInfo, NodePlace, NodeRef};
use crate::scenario::Scenario;
use std::collections::{BTreeMap, HashMap};

/// Looks a lab up by name; an unknown lab is bad input (exit 2).
pub(super) async fn find_lab(rt: &Engine, lab: &str) -> Result<LabInfo> {
    let containers = rt.containers(&[(LABEL_LAB, lab)]).await?;
    let mut nodes = BTreeMap::new();
    // The newest scenario `apply` recorded, else the one of `up` (on every
    // node). A newest one that cannot be read is an error, never a reason
    // to fall back on an older one.
    let holder = revision::newest(&containers).map(|(_, c)| c).or_else(|| {
        containers.iter().find(|c| {
            c.labels.contains_key(LABEL_SPEC)
                && (c.labels.contains_key(LABEL_HOST) || c.labels.contains_key(LABEL_GATEWAY))
        })
    });
    let (scenario, unreadable): (Option<Scenario>, _) =
        match holder.and_then(|c| c.labels.get(LABEL_SPEC)) {
            Some(spec) => match serde_json::from_str(spec) {
                Ok(sc) => (Some(sc), None),
                Err(e) => (None, Some(e)),
            },
            None => (None, None),
        };
    for c in containers {
        let (name, kind) = if let Some(h) = c.labels.get(LABEL_HOST) {
            (h.clone(), NodeKind::Host)
        } else if let Some(g) = c.labels.get(LABEL_GATEWAY) {
            (g.clone(), NodeKind::Gateway)
        } else {
            continue;
        };
        nodes.insert(
            name.clone(),
            NodeInfo {
                node: c.pid.filter(|_| c.running).map(|pid| NodeRef {
                    name: name.clone(),
                    place: NodePlace::Local { pid },
                }),
                name,
                kind,
                id: c.id.clone(),
                running: c.running,
                status: c.status.clone(),
            },
        );
    }
    match (scenario, unreadable) {
        (Some(scenario), _) => Ok(LabInfo {
            name: lab.to_string(),
            scenario,
            nodes,
        }),
        // Not "no lab": it is there, and `up --name` would refuse the name.
        (None, Some(e)) => Err(Error::Environment(format!(
            "lab {lab} exists but its stored spec ({LABEL_SPEC}) cannot be read: {e}; \
             seglab down {lab} removes it"
        ))),
        (None, None) => match lab_summary(rt, lab).await? {
            Some(partial) => Err(Error::Input(partial.describe())),
            None => Err(Error::Input(format!(
                "no lab named `{lab}` on this Docker engine (seglab status lists them)"
            ))),
        },
    }
}

/// Groups labelled containers and networks by lab.
fn summarize(containers: &[ContainerInfo], networks: &[NetworkInfo]) -> Vec<LabSummary> {
    fn entry<'a>(
        labs: &'a mut BTreeMap<String, LabSummary>,
        labels: &HashMap<String, String>,
    ) -> Option<&'a mut LabSummary> {
        let lab = labels.get(LABEL_LAB)?;
        let e = labs.entry(lab.clone()).or_insert_with(|| LabSummary {
            name: lab.clone(),
            scenario: String::new(),
            running: 0,
            nodes: 0,
            expected: None,
            others: 0,
            networks: 0,
        });
        if e.scenario.is_empty() {
            e.scenario = labels.get(LABEL_SCENARIO).cloned().unwrap_or_default();
        }
        Some(e)
    }
    let mut labs = BTreeMap::new();
    for c in containers {
        let Some(e) = entry(&mut labs, &c.labels) else {
            continue;
        };
        if c.labels.contains_key(LABEL_HOST) || c.labels.contains_key(LABEL_GATEWAY) {
            e.nodes += 1;
            e.running += usize::from(c.running);
            if e.expected.is_none() {
                e.expected = c
                    .labels
                    .get(LABEL_SPEC)
                    .and_then(|s| serde_json::from_str::<Scenario>(s).ok())
                    .map(|sc| sc.hosts.len() + sc.gateways.len());
            }
        } else {
            e.others += 1;
        }
    }
    for n in networks {
        if let Some(e) = entry(&mut labs, &n.labels) {
            e.networks += 1;
        }
    }
    labs.into_values().collect()
}

/// Every lab on the engine, partial ones included.
pub(super) async fn list_labs(rt: &Engine) -> Result<Vec<LabSummary>> {
    let containers = rt.containers(&[(LABEL_LAB, "")]).await?;
    let networks = rt.networks(&[(LABEL_LAB, "")]).await?;
    Ok(summarize(&containers, &networks))
}

/// One lab's summary; None when nothing carries its label.
pub(super) async fn lab_summary(rt: &Engine, lab: &str) -> Result<Option<LabSummary>> {
    let containers = rt.containers(&[(LABEL_LAB, lab)]).await?;
    let networks = rt.networks(&[(LABEL_LAB, lab)]).await?;
    Ok(summarize(&containers, &networks).into_iter().next())
}

#[cfg(test)]
mod tests {
    use super::super::claim::LABEL_CLAIM;
    use super::*;

    fn labelled(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn container(name: &str, running: bool, labels: HashMap<String, String>) -> ContainerInfo {
        ContainerInfo {
            id: name.into(),
            name: name.into(),
            labels,
            image: String::new(),
            running,
            status: if running { "running" } else { "created" }.into(),
            pid: None,
            addresses: Vec::new(),
        }
    }

    fn network(name: &str, lab: &str) -> NetworkInfo {
        NetworkInfo {
            id: name.into(),
            name: name.into(),
            labels: labelled(&[(LABEL_LAB, lab), (LABEL_SCENARIO, "scenario-2")]),
            subnets: Vec::new(),
        }
    }

    #[test]
    fn labs_with_networks_only_or_missing_nodes_are_partial() {
        let sc = crate::scenario::load("scenario-2").unwrap();
        let spec = serde_json::to_string(&sc).unwrap();
        let all = sc.hosts.len() + sc.gateways.len();
        let node = |lab: &str, name: &str| {
            container(
                &format!("{lab}-{name}"),
                true,
                labelled(&[
                    (LABEL_LAB, lab),
                    (LABEL_SCENARIO, "scenario-2"),
                    (LABEL_HOST, name),
                    (LABEL_SPEC, &spec),
                ]),
            )
        };
        let claim = |lab: &str| {
            container(
                &format!("{lab}.claim"),
                false,
                labelled(&[(LABEL_LAB, lab), (LABEL_CLAIM, "1")]),
            )
        };
        // whole: claim and every node; half: claim and one node;
        // nets: networks only; bare: the claim only.
        // A scenario `apply` recorded is the lab's own object, no node.
        let revision = container(
            "whole.rev-1",
            false,
            labelled(&[
                (LABEL_LAB, "whole"),
                (super::revision::LABEL_REVISION, "1"),
                (LABEL_SPEC, &spec),
            ]),
        );
        let mut containers: Vec<ContainerInfo> =
            (0..all).map(|i| node("whole", &format!("n{i}"))).collect();
        containers.extend([claim("whole"), revision, claim("half"), node("half", "n0")]);
        containers.push(claim("bare"));
        let networks = [
            network("w1", "whole"),
            network("n1", "nets"),
            network("n2", "nets"),
        ];

        let labs = summarize(&containers, &networks);
        let by_name: BTreeMap<&str, &LabSummary> =
            labs.iter().map(|l| (l.name.as_str(), l)).collect();
        assert_eq!(by_name.len(), 4);

        let whole = by_name["whole"];
        assert_eq!((whole.nodes, whole.running, whole.others), (all, all, 2));
        assert_eq!(whole.expected, Some(all));
        assert!(!whole.partial());

        let half = by_name["half"];
        assert_eq!((half.nodes, half.expected), (1, Some(all)));
        assert!(half.partial());
        assert!(half.describe().contains(&format!("1 of its {all} nodes")));

        let nets = by_name["nets"];
        assert_eq!((nets.nodes, nets.others, nets.networks), (0, 0, 2));
        assert_eq!(nets.scenario, "scenario-2");
        assert!(nets.partial());
        assert!(nets.describe().contains("seglab down nets removes it"));

        assert!(by_name["bare"].partial());
    }
}
