//! Finding a running lab again from its labels: which containers it has,
//! their state, and the scenario it was built from (kept in a label, so
//! `verify` and `status` need none of the original files).

use super::{LABEL_GATEWAY, LABEL_HOST, LABEL_LAB, LABEL_SCENARIO, LABEL_SPEC};
use crate::error::{Error, Result};
use crate::node_contract::NodeKind;
use crate::runtime::{ContainerInfo, NetworkInfo, Runtime};
use crate::scenario::Scenario;
use std::collections::{BTreeMap, HashMap};

/// One container of a lab.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    pub name: String,
    pub kind: NodeKind,
    pub container_id: String,
    pub running: bool,
    /// Docker's state word (`running`, `exited`, ...).
    pub status: String,
    pub pid: Option<u32>,
}

/// A lab as found on the engine.
#[derive(Debug, Clone)]
pub struct LabInfo {
    pub name: String,
    pub scenario: Scenario,
    pub nodes: BTreeMap<String, NodeInfo>,
}

impl LabInfo {
    pub fn node(&self, name: &str) -> Option<&NodeInfo> {
        self.nodes.get(name)
    }
}

/// Looks a lab up by name; an unknown lab is bad input (exit 2).
pub async fn find_lab(rt: &Runtime, lab: &str) -> Result<LabInfo> {
    let containers = rt.containers(&[(LABEL_LAB, lab)]).await?;
    let mut scenario: Option<Scenario> = None;
    let mut unreadable = None;
    let mut nodes = BTreeMap::new();
    for c in containers {
        if scenario.is_none() {
            if let Some(spec) = c.labels.get(LABEL_SPEC) {
                match serde_json::from_str(spec) {
                    Ok(sc) => scenario = Some(sc),
                    Err(e) => unreadable = Some(e),
                }
            }
        }
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
                name,
                kind,
                container_id: c.id.clone(),
                running: c.running,
                status: c.status.clone(),
                pid: if c.running { c.pid } else { None },
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

/// A lab as `status` lists it, counted from everything that carries its
/// label, so that a lab `up` left half-made (killed before its first node,
/// or with networks only) shows too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabSummary {
    pub name: String,
    pub scenario: String,
    /// Node containers (hosts and gateways) running, and in all.
    pub running: usize,
    pub nodes: usize,
    /// How many nodes the lab's scenario has, if a node carries it.
    pub expected: Option<usize>,
    /// Containers that are no node (the lab's claim, strays).
    pub others: usize,
    pub networks: usize,
}

impl LabSummary {
    /// True when nodes of the lab are missing, or no node carries its
    /// scenario: an `up` that was killed (or is still at work).
    pub fn partial(&self) -> bool {
        self.expected.is_none_or(|e| self.nodes < e)
    }

    /// One line: why the lab is partial and how to remove it.
    pub fn describe(&self) -> String {
        let nodes = match self.expected {
            Some(e) => format!("{} of its {e} nodes", self.nodes),
            None => format!("{} nodes and no scenario", self.nodes),
        };
        let count = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
        format!(
            "lab {name} is partial: {nodes}, {}, {} \
             (an `up` was killed, or is still at work); seglab down {name} removes it",
            count(self.others, "other container"),
            count(self.networks, "network"),
            name = self.name,
        )
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
pub async fn list_labs(rt: &Runtime) -> Result<Vec<LabSummary>> {
    let containers = rt.containers(&[(LABEL_LAB, "")]).await?;
    let networks = rt.networks(&[(LABEL_LAB, "")]).await?;
    Ok(summarize(&containers, &networks))
}

/// One lab's summary; None when nothing carries its label.
pub async fn lab_summary(rt: &Runtime, lab: &str) -> Result<Option<LabSummary>> {
    let containers = rt.containers(&[(LABEL_LAB, lab)]).await?;
    let networks = rt.networks(&[(LABEL_LAB, lab)]).await?;
    Ok(summarize(&containers, &networks).into_iter().next())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::LABEL_CLAIM;

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
        let mut containers: Vec<ContainerInfo> =
            (0..all).map(|i| node("whole", &format!("n{i}"))).collect();
        containers.extend([claim("whole"), claim("half"), node("half", "n0")]);
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
        assert_eq!((whole.nodes, whole.running, whole.others), (all, all, 1));
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
