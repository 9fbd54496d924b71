//! Finding a running lab again from its labels: which containers it has,
//! their state, and the scenario it was built from (kept in a label, so
//! `verify` and `status` need none of the original files).

use super::{LABEL_GATEWAY, LABEL_HOST, LABEL_LAB, LABEL_SPEC};
use crate::error::{Error, Result};
use crate::node::NodeKind;
use crate::runtime::Runtime;
use crate::scenario::Scenario;
use std::collections::BTreeMap;

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
        (None, None) => Err(Error::Input(format!(
            "no lab named `{lab}` on this Docker engine (seglab status lists them)"
        ))),
    }
}

/// Every lab on the engine: name, scenario, containers running, in all.
pub async fn list_labs(rt: &Runtime) -> Result<Vec<(String, String, usize, usize)>> {
    let mut labs: BTreeMap<String, (String, usize, usize)> = BTreeMap::new();
    for c in rt.containers(&[(LABEL_LAB, "")]).await? {
        let Some(lab) = c.labels.get(LABEL_LAB) else {
            continue;
        };
        let e = labs.entry(lab.clone()).or_insert_with(|| {
            (
                c.labels
                    .get(super::LABEL_SCENARIO)
                    .cloned()
                    .unwrap_or_default(),
                0,
                0,
            )
        });
        e.1 += usize::from(c.running);
        e.2 += 1;
    }
    Ok(labs
        .into_iter()
        .map(|(lab, (sc, running, all))| (lab, sc, running, all))
        .collect())
}
