//! Node health: is every node on a probe's path in the state seglab left
//! it in? A dead, restarted or disconnected gateway drops everything, and
//! without this check its silence would pass for a sound rule set.
//!
//! For each node: the container runs; inside its namespace every attachment
//! still has its address on an interface that is up, every route seglab set
//! is there, and the rule set matches the seal seglab left when it loaded it
//! ([`seal`]). `verify` checks before and after probing; `status` shows it.

pub mod expect;
pub mod seal;

pub use expect::Problem;

use crate::netns::NetnsError;
use crate::node_contract::NodeKind;
use crate::runtime::{LabBackend, LabInfo, NodeInfo, NodeRef};
use crate::scenario::{topology, Scenario};
use expect::{Expectation, Found};
use futures_util::{stream, StreamExt};
use seal::Seal;
use std::collections::BTreeMap;

/// Nodes looked into at once.
const PARALLEL: usize = 8;

/// The health of one node.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NodeHealth {
    pub name: String,
    pub kind: NodeKind,
    pub problems: Vec<Problem>,
    /// A phase recorded open in the node (an interrupted `verify --phase`).
    pub open_phase: Option<String>,
    /// How the node was reached: a node reached another way (another PID)
    /// at the next check was restarted in between, whatever its state
    /// looks like now.
    #[serde(skip)]
    pub reached: Option<NodeRef>,
    /// What was found inside, for the next check to build on.
    #[serde(skip)]
    pub found: Option<Found>,
}

impl NodeHealth {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    pub fn running(&self) -> bool {
        !self
            .problems
            .iter()
            .any(|p| matches!(p, Problem::NotRunning { .. }))
    }

    /// "gw-sensitive is not running (exited)", every problem named.
    pub fn describe(&self) -> String {
        let words: Vec<String> = self.problems.iter().map(ToString::to_string).collect();
        format!("{} {}", self.name, words.join(", "))
    }
}

/// The health of every node of a lab.
#[derive(Debug, Clone, Default)]
pub struct LabHealth {
    pub nodes: BTreeMap<String, NodeHealth>,
}

impl LabHealth {
    pub fn node(&self, name: &str) -> Option<&NodeHealth> {
        self.nodes.get(name)
    }

    /// What is wrong on the path of a probe from host `src` to host `dst`:
    /// either end or any gateway it crosses. `None` when the path is sound.
    pub fn path_problem(&self, sc: &Scenario, src: &str, dst: &str) -> Option<String> {
        let gateways = topology::host_path(sc, src, dst);
        let broken: Vec<String> = std::iter::once(src.to_string())
            .chain(gateways)
            .chain(std::iter::once(dst.to_string()))
            .filter_map(|n| self.node(&n).filter(|h| !h.ok()).map(NodeHealth::describe))
            .collect();
        (!broken.is_empty()).then(|| broken.join("; "))
    }

    /// Why probes from `src` to `dst` cannot be judged on the network, if
    /// they cannot: an end host that is not running (`host-down`), or a
    /// broken node on the path (`path-down`), with the reason.
    pub fn unjudgeable(
        &self,
        sc: &Scenario,
        src: &str,
        dst: &str,
    ) -> Option<(crate::probe::Observed, String)> {
        for h in [src, dst] {
            if let Some(n) = self.node(h).filter(|n| !n.running()) {
                return Some((crate::probe::Observed::HostDown, n.describe()));
            }
        }
        self.path_problem(sc, src, dst)
            .map(|why| (crate::probe::Observed::PathDown, why))
    }

    /// Nodes that were restarted between `earlier` and this check: they are
    /// reached another way (their PID changed). A PID is only reused once
    /// its process is gone, so the namespace seglab entered between two
    /// checks that agree was the node's.
    pub fn restarted_since(&self, earlier: &LabHealth) -> Vec<&str> {
        self.nodes
            .values()
            .filter(|n| {
                let before = earlier.node(&n.name).and_then(|h| h.reached.as_ref());
                before.is_some() && n.reached.is_some() && before != n.reached.as_ref()
            })
            .map(|n| n.name.as_str())
            .collect()
    }

    /// Marks nodes restarted since `earlier` as having lost their state,
    /// even when they look sound again now.
    pub fn note_restarts(&mut self, earlier: &LabHealth) {
        let restarted: Vec<String> = self
            .restarted_since(earlier)
            .into_iter()
            .map(str::to_string)
            .collect();
        for name in restarted {
            if let Some(n) = self.nodes.get_mut(&name) {
                n.problems.insert(0, Problem::Restarted);
            }
        }
    }

    /// Gateways with a phase recorded open, and the phase.
    pub fn open_phases(&self) -> Vec<(&str, &str)> {
        self.nodes
            .values()
            .filter_map(|n| Some((n.name.as_str(), n.open_phase.as_deref()?)))
            .collect()
    }
}

/// Checks every gateway and host of the lab's scenario.
pub async fn check<B: LabBackend>(b: &B, info: &LabInfo) -> LabHealth {
    check_since(b, info, None, None).await
}

/// Checks every gateway, and of the hosts only those in `hosts` (e.g. the
/// two ends of the one cell `explain` probes): a host left out is absent
/// from the result, so the result only speaks for paths between them.
pub async fn check_gateways_and<B: LabBackend>(b: &B, info: &LabInfo, hosts: &[&str]) -> LabHealth {
    check_since(b, info, None, Some(hosts)).await
}

/// Checks again after a probing round. A node reached the same way as in
/// `earlier` whose rule set generation has not moved since then still runs
/// the rule set listed then, so it is not listed again; its addresses and
/// routes are always read afresh.
pub async fn check_again<B: LabBackend>(b: &B, info: &LabInfo, earlier: &LabHealth) -> LabHealth {
    // The same nodes as before.
    let hosts: Vec<&str> = info
        .scenario
        .hosts
        .iter()
        .map(|h| h.name.as_str())
        .filter(|h| earlier.node(h).is_some())
        .collect();
    check_since(b, info, Some(earlier), Some(&hosts)).await
}

async fn check_since<B: LabBackend>(
    b: &B,
    info: &LabInfo,
    earlier: Option<&LabHealth>,
    hosts: Option<&[&str]>,
) -> LabHealth {
    let sc = &info.scenario;
    let names = sc
        .gateways
        .iter()
        .map(|g| (g.name.as_str(), NodeKind::Gateway))
        .chain(
            sc.hosts
                .iter()
                .filter(|h| hosts.is_none_or(|only| only.contains(&h.name.as_str())))
                .map(|h| (h.name.as_str(), NodeKind::Host)),
        );
    let nodes = stream::iter(names)
        .map(|(name, kind)| {
            let before = earlier.and_then(|e| e.node(name));
            check_node(b, sc, name, kind, info.node(name), before)
        })
        .buffer_unordered(PARALLEL)
        .map(|h| (h.name.clone(), h))
        .collect()
        .await;
    LabHealth { nodes }
}

async fn check_node<B: LabBackend>(
    b: &B,
    sc: &Scenario,
    name: &str,
    kind: NodeKind,
    node: Option<&NodeInfo>,
    before: Option<&NodeHealth>,
) -> NodeHealth {
    let mut health = NodeHealth {
        name: name.to_string(),
        kind,
        problems: Vec::new(),
        open_phase: None,
        reached: None,
        found: None,
    };
    let reached = match node {
        None => {
            health.problems.push(Problem::NotRunning {
                state: "its container is gone".into(),
            });
            return health;
        }
        Some(n) => match n.node.as_ref().filter(|_| n.running) {
            Some(r) => r,
            None => {
                health.problems.push(Problem::NotRunning {
                    state: n.status.clone(),
                });
                return health;
            }
        },
    };
    health.reached = Some(reached.clone());
    let expectation = Expectation::of(sc, name).expect("the node is in the scenario");
    // The same namespace as before (a PID is only reused once its process
    // is gone): its generation means what it meant then.
    let earlier = before
        .filter(|h| h.reached.as_ref() == Some(reached))
        .and_then(|h| h.found.as_ref());
    match look_inside(b, reached, earlier).await {
        Ok(found) => {
            health.problems = expect::compare(&expectation, &found);
            health.open_phase = found.ruleset.seal.as_ref().and_then(|s| s.phase.clone());
            health.found = Some(found);
        }
        // It stopped between the listing and the look inside.
        Err(NetnsError::NotFound { .. }) => health.problems.push(Problem::NotRunning {
            state: "stopped".into(),
        }),
        Err(e) => health.problems.push(Problem::Unreadable {
            reason: e.to_string(),
        }),
    }
    health
}

/// Addresses, routes and rule set inside a node. The rule set is listed
/// only when its generation moved since `earlier` (or is unknown): the
/// generation is read first, so a change during the listing can only make
/// the next look list again.
async fn look_inside<B: LabBackend>(
    b: &B,
    node: &NodeRef,
    earlier: Option<&Found>,
) -> Result<Found, NetnsError> {
    let net = b.inspect(node).await?;
    let unchanged = earlier.filter(|f| {
        f.net.ruleset_generation.is_some() && f.net.ruleset_generation == net.ruleset_generation
    });
    let ruleset = match unchanged {
        Some(f) => f.ruleset.clone(),
        None => expect::ruleset_found(&listing(b, node).await?, b.platform_chain_prefix())
            .map_err(|e| unreadable(node, "cannot read the node's rule set", e.to_string()))?,
    };
    Ok(Found { net, ruleset })
}

fn unreadable(node: &NodeRef, context: &str, why: String) -> NetnsError {
    NetnsError::Io {
        pid: 0,
        context: format!("{context} ({})", node.name),
        source: std::io::Error::other(why),
    }
}

/// `nft -j -s list ruleset` inside a node.
pub async fn listing<B: LabBackend>(b: &B, node: &NodeRef) -> Result<String, NetnsError> {
    let out = b
        .run(node, "nft", &["-j", "-s", "list", "ruleset"], None)
        .await?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Records what is loaded in the node now as what seglab loaded, with the
/// phase that is open (`None`: the node's own rule set).
pub async fn seal_node<B: LabBackend>(
    b: &B,
    node: &NodeRef,
    phase: Option<&str>,
) -> Result<(), NetnsError> {
    let digest = seal::digest(&listing(b, node).await?, b.platform_chain_prefix())
        .map_err(|e| unreadable(node, "cannot read the rule set to seal it", e.to_string()))?;
    let s = Seal {
        digest,
        phase: phase.map(str::to_string),
    };
    crate::lab::nft_apply(b, node, &seal::seal_commands(&s)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, pid: Option<u32>) -> NodeHealth {
        NodeHealth {
            name: name.into(),
            kind: NodeKind::Gateway,
            problems: Vec::new(),
            open_phase: None,
            reached: pid.map(|pid| NodeRef {
                name: name.into(),
                place: crate::runtime::NodePlace::Local { pid },
            }),
            found: None,
        }
    }

    fn lab(nodes: Vec<NodeHealth>) -> LabHealth {
        LabHealth {
            nodes: nodes.into_iter().map(|n| (n.name.clone(), n)).collect(),
        }
    }

    #[test]
    fn a_node_whose_pid_changed_was_restarted_even_if_it_looks_sound() {
        let before = lab(vec![node("gw-a", Some(10)), node("gw-b", Some(20))]);
        let mut after = lab(vec![node("gw-a", Some(11)), node("gw-b", Some(20))]);
        after.note_restarts(&before);
        assert_eq!(
            after.node("gw-a").unwrap().problems,
            vec![Problem::Restarted]
        );
        assert!(after.node("gw-b").unwrap().ok());
        assert_eq!(after.node("gw-a").unwrap().describe(), "gw-a was restarted");
    }

    #[test]
    fn a_path_names_every_broken_node_on_it_and_no_other() {
        let sc = crate::scenario::load("scenario-4").unwrap();
        let mut h = lab(sc
            .gateways
            .iter()
            .map(|g| node(&g.name, Some(1)))
            .chain(sc.hosts.iter().map(|x| node(&x.name, Some(1))))
            .collect());
        assert_eq!(h.path_problem(&sc, "ams", "offsite-sftp"), None);
        h.nodes
            .get_mut("gw-edge")
            .unwrap()
            .problems
            .push(Problem::LostRuleset);
        let why = h.path_problem(&sc, "ams", "offsite-sftp").unwrap();
        assert_eq!(why, "gw-edge lost its rule set (restarted?)");
        // Inside the management segment no gateway is crossed.
        assert_eq!(h.path_problem(&sc, "ams", "admin"), None);
    }
}
