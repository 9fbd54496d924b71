//! The expected probe matrix: for every source host, destination host and
//! catalog port, whether the policy says it must open or be blocked, and
//! which whitepaper flow permits it. Derived from the policy only, never
//! from the rule sets under test.

use crate::node_contract::Proto;
use crate::ports::PortKey;
use crate::scenario::{Flow, Host, Scenario};
use serde::Serialize;
use std::fmt::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Expected {
    Open,
    Blocked,
}

impl Expected {
    pub fn as_str(self) -> &'static str {
        match self {
            Expected::Open => "open",
            Expected::Blocked => "blocked",
        }
    }
}

/// One cell of the matrix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cell {
    pub src: String,
    pub dst: String,
    pub proto: Proto,
    pub port: u16,
    pub expected: Expected,
    /// Appendix A number of the policy flow that permits it, if any.
    pub flow: Option<u32>,
    /// Why: `flow 5`, `same segment`, `host firewall of ams`, `no flow`.
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub scenario: String,
    pub phase: Option<String>,
    pub ports: Vec<PortKey>,
    pub cells: Vec<Cell>,
}

/// The cells of one source and destination.
#[derive(Debug)]
pub struct Pair<'a> {
    pub src: &'a str,
    pub dst: &'a str,
    /// Cells that must open.
    pub open: Vec<&'a Cell>,
    /// How many must be blocked.
    pub blocked: usize,
    /// Why, for the first cell (the same for all when none differ).
    pub reason: &'a str,
}

#[derive(Debug, thiserror::Error)]
#[error("scenario `{scenario}` has no phase `{phase}` (phases: {known})")]
pub struct UnknownPhase {
    pub scenario: String,
    pub phase: String,
    pub known: String,
}

/// The policy flows in force in a phase (`None`: the base policy).
pub fn flows_in<'a>(sc: &'a Scenario, phase: Option<&str>) -> Result<Vec<&'a Flow>, UnknownPhase> {
    let mut flows: Vec<&Flow> = sc.policy.iter().collect();
    if let Some(name) = phase {
        let p = sc.phase(name).ok_or_else(|| UnknownPhase {
            scenario: sc.name.clone(),
            phase: name.to_string(),
            known: if sc.phases.is_empty() {
                "none".into()
            } else {
                sc.phases
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        })?;
        flows.extend(p.flows.iter());
    }
    Ok(flows)
}

/// Ports the matrix runs over: the catalog's, plus any port a policy flow
/// or a host firewall names.
pub fn probe_ports(sc: &Scenario) -> Vec<PortKey> {
    let mut ports = sc.catalog.probe_ports();
    let flows = sc
        .policy
        .iter()
        .chain(sc.phases.iter().flat_map(|p| p.flows.iter()));
    ports.extend(flows.flat_map(|f| f.ports.iter().map(|p| p.key)));
    for h in &sc.hosts {
        ports.extend(h.services.iter().map(|s| s.key));
        ports.extend(h.firewall.iter().flatten().map(|s| s.key));
    }
    ports.into_iter().collect()
}

/// What the plan expects of one source, destination and port, under
/// `flows` (see [`flows_in`]): also for ports outside the matrix.
pub fn cell(flows: &[&Flow], src: &Host, dst: &Host, key: PortKey) -> Cell {
    let permitting = flows
        .iter()
        .find(|f| f.from.matches(src) && f.to.matches(dst) && f.ports.iter().any(|p| p.key == key));
    let same_segment = src.segment == dst.segment;
    let firewall_blocks = dst
        .firewall
        .as_ref()
        .is_some_and(|allow| !allow.iter().any(|p| p.key == key));
    let (expected, reason) = if firewall_blocks {
        (Expected::Blocked, format!("host firewall of {}", dst.name))
    } else if let Some(f) = permitting {
        (Expected::Open, format!("flow {}", f.flow))
    } else if same_segment {
        (Expected::Open, "same segment".to_string())
    } else {
        (Expected::Blocked, "no flow".to_string())
    };
    Cell {
        src: src.name.clone(),
        dst: dst.name.clone(),
        proto: key.proto,
        port: key.port,
        expected,
        flow: permitting.map(|f| f.flow),
        reason,
    }
}

pub fn plan(sc: &Scenario, phase: Option<&str>) -> Result<Plan, UnknownPhase> {
    let flows = flows_in(sc, phase)?;
    let ports = probe_ports(sc);
    let mut cells = Vec::new();
    for src in &sc.hosts {
        for dst in sc.hosts.iter().filter(|d| d.name != src.name) {
            for key in &ports {
                cells.push(cell(&flows, src, dst, *key));
            }
        }
    }
    Ok(Plan {
        scenario: sc.name.clone(),
        phase: phase.map(str::to_string),
        ports,
        cells,
    })
}

impl Plan {
    pub fn cell(&self, src: &str, dst: &str, proto: Proto, port: u16) -> Option<&Cell> {
        self.cells
            .iter()
            .find(|c| c.src == src && c.dst == dst && c.proto == proto && c.port == port)
    }

    /// The cells grouped by source and destination, in plan order.
    pub fn pairs(&self) -> impl Iterator<Item = Pair<'_>> {
        self.cells
            .chunk_by(|a, b| a.src == b.src && a.dst == b.dst)
            .map(|chunk| {
                let open: Vec<&Cell> = chunk
                    .iter()
                    .filter(|c| c.expected == Expected::Open)
                    .collect();
                Pair {
                    src: &chunk[0].src,
                    dst: &chunk[0].dst,
                    blocked: chunk.len() - open.len(),
                    open,
                    reason: &chunk[0].reason,
                }
            })
    }

    /// A compact text form: per source and destination, the open ports
    /// (with the permitting flow) and how many ports are blocked.
    pub fn compact(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# {} phase={} ports={} cells={}",
            self.scenario,
            self.phase.as_deref().unwrap_or("base"),
            self.ports.len(),
            self.cells.len()
        );
        for pair in self.pairs() {
            let open = if pair.open.is_empty() {
                "-".to_string()
            } else if pair.blocked == 0 {
                "all".to_string()
            } else {
                pair.open
                    .iter()
                    .map(|c| match c.flow {
                        Some(f) => format!("{}/{}[{f}]", c.proto, c.port),
                        None => format!("{}/{}", c.proto, c.port),
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            let _ = writeln!(
                out,
                "{} -> {}: open {} | blocked {}",
                pair.src, pair.dst, open, pair.blocked
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node_contract::Proto::Tcp;

    #[test]
    fn builtin_scenarios_load() {
        for name in crate::scenario::builtin::names() {
            let sc = crate::scenario::load(name).unwrap_or_else(|e| panic!("{name}: {e}"));
            let p = plan(&sc, None).unwrap();
            let hosts = sc.hosts.len();
            assert_eq!(p.cells.len(), hosts * (hosts - 1) * p.ports.len(), "{name}");
        }
        let sc = crate::scenario::load("scenario-2").unwrap();
        let p = plan(&sc, None).unwrap();
        assert_eq!(
            p.cell("agent-1", "ams", Tcp, 7780).unwrap().expected,
            Expected::Open
        );
    }
}
