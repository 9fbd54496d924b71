//! Why a cell ended as it did, from its probe's walks through the traced
//! nodes (pure): the path hop by hop (each gateway, and the destination when
//! it has a host firewall), with the interfaces and segments the packet
//! used and every chain that decided, by which rule (as nft prints it, with
//! the file and line it came from where that is known) or by its policy;
//! and one sentence that says it:
//!
//! * a leak: the rule that accepted it on each gateway on the way;
//! * a missing flow: the node and the rule, or policy, that dropped it (or
//!   dropped its answer);
//! * a packet lost with no drop seen: where it was last seen ("left gw-edge
//!   towards wan, never reached gw-offsite").

use super::evidence::{NodeFacts, NodeWalk};
use super::Walk;
use crate::probe::Observed;
use crate::scenario::{topology, Scenario};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;

/// A rule of a node as seglab can name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NamedRule {
    /// As nft prints it.
    pub text: String,
    /// `FILE:LINE` where the rule was written, when it could be matched.
    pub source: Option<String>,
}

/// The rules of the traced nodes, by node and (family, table, handle).
/// A chain's policy, where its line is known, is under [`policy_key`].
pub type RuleBook = BTreeMap<String, BTreeMap<(String, String, u64), NamedRule>>;

/// Where a [`RuleBook`] keeps a chain's policy: handle 0, which no rule
/// has, under `TABLE CHAIN` (a table's base chains each have one).
pub fn policy_key(family: &str, table: &str, chain: &str) -> (String, String, u64) {
    (family.to_string(), format!("{table} {chain}"), 0)
}

/// How one chain decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// `family table chain`.
    pub chain: String,
    /// The deciding rule; `None` when the chain's policy decided.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    pub verdict: String,
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.rule {
            None => {
                write!(f, "{} policy {}", self.chain, self.verdict)?;
                if let Some(s) = &self.source {
                    write!(f, " ({s})")?;
                }
                Ok(())
            }
            Some(r) => {
                write!(f, "{} rule `{r}`", self.chain)?;
                if let Some(s) = &self.source {
                    write!(f, " ({s})")?;
                }
                // An iptables-save line ends in `-j ACCEPT`: no need to repeat it.
                let target = format!("-j {}", self.verdict.to_uppercase());
                if !r.ends_with(&self.verdict) && !r.ends_with(&target) {
                    write!(f, " -> {}", self.verdict)?;
                }
                Ok(())
            }
        }
    }
}

/// An interface of a hop and its segment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Port {
    pub interface: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segment: Option<String>,
}

impl std::fmt::Display for Port {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.segment {
            // Named after its segment (seglab's default): said once.
            Some(s) if *s != self.interface => write!(f, "{} ({s})", self.interface),
            _ => f.write_str(&self.interface),
        }
    }
}

/// One traced node on the cell's path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hop {
    pub node: String,
    /// The probe's packet was traced in this node.
    pub seen: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<Port>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<Port>,
    /// The chains that decided the probe's packet, in order.
    pub steps: Vec<Step>,
    /// The chains that decided its answer, when the answer came this way.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub answer: Vec<Step>,
}

/// Why a cell ended as it did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Explanation {
    /// One sentence.
    pub why: String,
    pub path: Vec<Hop>,
}

impl Explanation {
    /// The sentence and the path, one hop per line, for terminals and
    /// JUnit messages.
    pub fn to_text(&self, indent: &str) -> String {
        let mut out = format!("{indent}{}\n", self.why);
        for h in &self.path {
            if !h.seen {
                let _ = writeln!(out, "{indent}  {}: not seen", h.node);
                continue;
            }
            let ports = match (&h.from, &h.to) {
                (Some(a), Some(b)) => format!(" in {a}, out {b}"),
                (Some(a), None) => format!(" in {a}"),
                _ => String::new(),
            };
            let _ = writeln!(out, "{indent}  {}{ports}", h.node);
            for s in &h.steps {
                let _ = writeln!(out, "{indent}    {s}");
            }
            for s in &h.answer {
                let _ = writeln!(out, "{indent}    answer: {s}");
            }
        }
        out
    }
}

/// The cell being explained.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub src: &'a str,
    pub dst: &'a str,
    pub observed: Observed,
}

/// The traced nodes a probe from `src` to `dst` crosses, in order: the
/// gateways of its path, then the destination if it has a host firewall.
pub fn traced_path(sc: &Scenario, src: &str, dst: &str) -> Vec<String> {
    let mut nodes = topology::host_path(sc, src, dst);
    if sc.host(dst).is_some_and(|h| h.firewall.is_some()) {
        nodes.push(dst.to_string());
    }
    nodes
}

fn port(sc: &Scenario, facts: Option<&NodeFacts>, interface: &Option<String>) -> Option<Port> {
    let interface = interface.clone()?;
    let segment = facts
        .and_then(|f| f.addresses.get(&interface))
        .and_then(|a| sc.segments.iter().find(|s| s.subnet.contains(a)))
        .map(|s| s.name.clone());
    Some(Port { interface, segment })
}

fn steps(walk: &Walk, node: &str, facts: Option<&NodeFacts>, rules: &RuleBook) -> Vec<Step> {
    walk.decisions
        .iter()
        .filter(|d| d.verdict != "continue")
        .filter_map(|d| {
            let mut words = d.chain.splitn(3, ' ');
            let (family, table) = (words.next()?.to_string(), words.next()?.to_string());
            let chain = words.next().unwrap_or("");
            if facts.is_some_and(|f| f.platform_tables.contains(&(family.clone(), table.clone()))) {
                return None;
            }
            let book = rules.get(node);
            let named = match d.handle {
                Some(h) => book.and_then(|b| b.get(&(family, table, h)).cloned()),
                // The policy decided: its line, where a file wrote it.
                None if d.rule.is_none() => book
                    .and_then(|b| b.get(&policy_key(&family, &table, chain)))
                    .map(|n| NamedRule {
                        text: String::new(),
                        ..n.clone()
                    }),
                None => None,
            };
            let is_rule = d.handle.is_some() || d.rule.is_some();
            Some(Step {
                chain: d.chain.clone(),
                rule: named
                    .as_ref()
                    .filter(|_| is_rule)
                    .map(|n| n.text.clone())
                    .or_else(|| d.rule.clone())
                    .or_else(|| d.handle.map(|h| format!("handle {h}"))),
                source: named.and_then(|n| n.source),
                verdict: d.verdict.clone(),
            })
        })
        .collect()
}

/// The walk of a node that tells most: one that stopped the packet, else
/// the first.
fn telling<'a>(walks: impl Iterator<Item = &'a NodeWalk>) -> Option<&'a Walk> {
    let v: Vec<&Walk> = walks.map(|w| &w.walk).collect();
    v.iter()
        .find(|w| w.stopped_by().is_some())
        .or(v.first())
        .copied()
}

/// Explains one cell from its probe's walks.
pub fn explain(
    sc: &Scenario,
    cell: Subject<'_>,
    walks: &[NodeWalk],
    facts: &BTreeMap<String, NodeFacts>,
    rules: &RuleBook,
) -> Explanation {
    let mut path = Vec::new();
    for node in traced_path(sc, cell.src, cell.dst) {
        let f = facts.get(&node);
        let forward = telling(walks.iter().filter(|w| w.node == node && !w.answer));
        let answer = telling(walks.iter().filter(|w| w.node == node && w.answer));
        path.push(Hop {
            seen: forward.is_some(),
            from: forward.and_then(|w| port(sc, f, &w.iif)),
            to: forward.and_then(|w| port(sc, f, &w.oif)),
            steps: forward
                .map(|w| steps(w, &node, f, rules))
                .unwrap_or_default(),
            answer: answer
                .map(|w| steps(w, &node, f, rules))
                .unwrap_or_default(),
            node,
        });
    }
    let why = sentence(cell, &path);
    Explanation { why, path }
}

/// When every traced node on the path let a probe through (a walk of its
/// packet in each, none stopped there), the nodes that did: a probe that
/// then got no answer was not blocked by the network, and its silence
/// must not pass for a block. `None` when a node stopped it, did not see
/// it, or nothing on the path is traced.
pub fn let_through(sc: &Scenario, src: &str, dst: &str, walks: &[NodeWalk]) -> Option<Vec<String>> {
    let path = traced_path(sc, src, dst);
    if path.is_empty() || walks.iter().any(|w| w.walk.stopped_by().is_some()) {
        return None;
    }
    path.iter()
        .all(|n| walks.iter().any(|w| &w.node == n && !w.answer))
        .then_some(path)
}

fn stop_of(steps: &[Step]) -> Option<&Step> {
    steps
        .iter()
        .find(|s| s.verdict == "drop" || s.verdict.starts_with("reject"))
}

/// The step that let the packet through a node: the last accepting rule,
/// else the last accepting policy. A rule says more than a policy: on a
/// host, the firewall chain's rule is what let the packet in, and the
/// later accept by the policy of seglab's own catch-all chain says nothing.
fn last_accept(steps: &[Step]) -> Option<&Step> {
    let accepts = || steps.iter().rev().filter(|s| s.verdict == "accept");
    accepts()
        .find(|s| s.rule.is_some())
        .or_else(|| accepts().next())
}

fn sentence(cell: Subject<'_>, path: &[Hop]) -> String {
    if path.is_empty() {
        return format!(
            "{} and {} share a segment with no host firewall: nothing on the way is traced",
            cell.src, cell.dst
        );
    }
    for h in path {
        if let Some(s) = stop_of(&h.steps) {
            let how = if s.verdict == "drop" {
                "dropped"
            } else {
                "rejected"
            };
            return format!("{how} by {}: {s}", h.node);
        }
        if let Some(s) = stop_of(&h.answer) {
            return format!("the answer was dropped by {}: {s}", h.node);
        }
    }
    if cell.observed == Observed::Open {
        let accepted: Vec<String> = path
            .iter()
            .filter(|h| h.seen)
            .map(|h| match last_accept(&h.steps) {
                Some(s) => format!("{}: {s}", h.node),
                None => format!("{}: no rule of its own stopped it", h.node),
            })
            .collect();
        if accepted.is_empty() {
            return "answered, but no traced node saw it".to_string();
        }
        return format!("accepted by {}", accepted.join("; "));
    }
    // Nothing stopped it where it was traced: where was it last seen?
    let last_seen = path.iter().rposition(|h| h.seen);
    match last_seen {
        None => format!("never reached {} (no drop seen)", path[0].node),
        Some(i) if i + 1 < path.len() => {
            let towards = path[i]
                .to
                .as_ref()
                .map(|p| {
                    format!(
                        " towards {}",
                        p.segment.clone().unwrap_or_else(|| p.interface.clone())
                    )
                })
                .unwrap_or_default();
            format!(
                "left {}{towards}, never reached {} (no drop seen)",
                path[i].node,
                path[i + 1].node
            )
        }
        // The answer was traced on its way back: it did come back (a TCP
        // handshake completed), the service behind it never identified
        // itself.
        Some(i) if path.iter().any(|h| !h.answer.is_empty()) => {
            // In the order the answer crossed them: backwards.
            let through: Vec<&str> = path
                .iter()
                .rev()
                .filter(|h| !h.answer.is_empty())
                .map(|h| h.node.as_str())
                .collect();
            format!(
                "passed {} with no drop seen; {}'s answer came back through {}, but no service identified itself",
                path[i].node,
                cell.dst,
                through.join(", ")
            )
        }
        Some(i) => format!(
            "passed {} with no drop seen; no answer came back from {}",
            path[i].node, cell.dst
        ),
    }
}

#[cfg(test)]
#[path = "explain_tests.rs"]
mod tests;
