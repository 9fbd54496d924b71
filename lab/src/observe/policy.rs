//! `seglab observe --write-policy`: a `policy:` section whose flows permit
//! exactly what was observed open, as a starting point for a customer's
//! lab that has no written policy. Pure.
//!
//! The plan decides some cells whatever the policy says: a host reaches
//! the hosts of its own segment, and a destination's host firewall refuses
//! what it does not allow. Only the other cells (a gateway between the
//! hosts, and no host firewall refusing) are the policy's to decide; for
//! them the written flows permit the open cells and nothing else. Cells
//! the plan decides otherwise than observed are listed in the file's
//! header comment, since no flow can express them.
//!
//! Grouping: for each port, the host pairs that opened are cut into
//! rectangles (sources with the same set of destinations); rectangles of
//! the same sources and destinations share one flow with all their ports.
//! Pairs the plan decides without the policy (a host and itself, one
//! segment) may fall inside a rectangle, which keeps flows few (`any`
//! rather than every other host). A set of hosts is named by `any`, by
//! the roles and segments it holds whole, and by host names for the rest,
//! so a flow never reaches a pair the policy decides that did not open.

use super::{Observation, ObservedCell};
use crate::plan::{cell, Expected};
use crate::ports::PortKey;
use crate::probe::Observed;
use crate::scenario::{Scenario, Selector, LOCAL_FLOWS};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// Notes said in the header at most; the rest are counted.
const NOTES_SAID: usize = 20;
/// Ports per line of a flow's port list.
const PORTS_PER_LINE: usize = 10;

/// One written flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenFlow {
    pub flow: u32,
    pub from: Selector,
    pub to: Selector,
    pub ports: Vec<PortKey>,
}

/// The written policy: its flows, the cells no flow can express, and the
/// YAML text.
#[derive(Debug, Clone)]
pub struct WrittenPolicy {
    pub flows: Vec<WrittenFlow>,
    /// `src -> dst proto/port: why`, for cells the plan decides otherwise
    /// than observed.
    pub inexpressible: Vec<String>,
    /// Cells that could not be observed (host down, path down, error):
    /// the policy does not permit them.
    pub unobserved: usize,
    pub yaml: String,
}

/// What the plan makes of a cell under no policy at all: `Some` when the
/// plan decides it whatever the flows say (same segment, host firewall),
/// `None` when the policy decides.
fn fixed(sc: &Scenario, c: &ObservedCell) -> Option<(Expected, String)> {
    let (src, dst) = (sc.host(&c.src)?, sc.host(&c.dst)?);
    let none = cell(&[], src, dst, c.key());
    match none.reason.as_str() {
        "no flow" => None,
        _ => Some((none.expected, none.reason)),
    }
}

/// The policy that permits exactly what `obs` saw open (see the module
/// documentation), for scenario `sc`.
pub fn write_policy(sc: &Scenario, obs: &Observation) -> WrittenPolicy {
    let mut inexpressible = Vec::new();
    let mut unobserved = 0;
    // Per port, the host pairs the policy must open.
    let mut open: BTreeMap<PortKey, BTreeSet<(usize, usize)>> = BTreeMap::new();
    let index = |name: &str| sc.hosts.iter().position(|h| h.name == name);
    for c in &obs.cells {
        let seen_open = match c.observed {
            Observed::Open => true,
            Observed::Blocked | Observed::Rejected => false,
            _ => {
                unobserved += 1;
                continue;
            }
        };
        let (Some(s), Some(d)) = (index(&c.src), index(&c.dst)) else {
            inexpressible.push(format!(
                "{} -> {} {}: a host the scenario does not have",
                c.src,
                c.dst,
                c.key()
            ));
            continue;
        };
        match fixed(sc, c) {
            Some((expected, why)) if (expected == Expected::Open) != seen_open => {
                inexpressible.push(format!(
                    "{} -> {} {}: {} but the plan says {} ({why})",
                    c.src,
                    c.dst,
                    c.key(),
                    c.observed,
                    expected.as_str()
                ));
            }
            Some(_) => {}
            None if seen_open => {
                open.entry(c.key()).or_default().insert((s, d));
            }
            None => {}
        }
    }
    // Pairs whose cells the plan decides without the policy (a host and
    // itself, two hosts of one segment) may be named too: a flow that
    // also covers them changes nothing, and reads simpler (`any` rather
    // than every other host). So per port, each source's destinations are
    // the ones that opened (must) and those it may name beside them; the
    // sources that may name the same destinations form one rectangle.
    // Rectangles of the same sources and destinations share one flow.
    let n = sc.hosts.len();
    let free = |a: usize, b: usize| a == b || sc.hosts[a].segment == sc.hosts[b].segment;
    type Rect = (BTreeSet<usize>, BTreeSet<usize>);
    let mut rects: BTreeMap<Rect, (BTreeSet<usize>, Vec<PortKey>)> = BTreeMap::new();
    for (key, pairs) in &open {
        let mut dsts_of: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
        for &(s, d) in pairs {
            dsts_of.entry(s).or_default().insert(d);
        }
        let mut srcs_of: BTreeMap<BTreeSet<usize>, (BTreeSet<usize>, BTreeSet<usize>)> =
            BTreeMap::new();
        for (s, must) in dsts_of {
            let may: BTreeSet<usize> = (0..n)
                .filter(|&d| must.contains(&d) || (free(s, d) && allows_all(sc, d, &[*key])))
                .collect();
            let (srcs, musts) = srcs_of.entry(may).or_default();
            srcs.insert(s);
            musts.extend(must);
        }
        for (may, (srcs, must)) in srcs_of {
            let (musts, ports) = rects.entry((srcs, may)).or_default();
            musts.extend(must);
            ports.push(*key);
        }
    }
    let mut flows = Vec::new();
    let mut number = *LOCAL_FLOWS.start() + 1;
    for ((srcs, to_may), (dsts, ports)) in rects {
        // Sources that may be named beside: every pair of them with the
        // destinations is decided without the policy.
        let from_may: BTreeSet<usize> = (0..n)
            .filter(|&s| srcs.contains(&s) || to_may.iter().all(|&d| free(s, d)))
            .collect();
        for from in cover(sc, &srcs, &from_may) {
            for to in cover(sc, &dsts, &to_may) {
                flows.push(WrittenFlow {
                    flow: number,
                    from: from.clone(),
                    to,
                    ports: ports.clone(),
                });
                number += 1;
            }
        }
    }
    let yaml = yaml(sc, obs, &flows, &inexpressible, unobserved);
    WrittenPolicy {
        flows,
        inexpressible,
        unobserved,
        yaml,
    }
}

/// Whether host `d`'s own firewall (if any) lets every one of `ports` in:
/// a flow may name it as a destination of them.
fn allows_all(sc: &Scenario, d: usize, ports: &[PortKey]) -> bool {
    sc.hosts[d]
        .firewall
        .as_ref()
        .is_none_or(|fw| ports.iter().all(|k| fw.iter().any(|p| p.key == *k)))
}

/// Selectors that together match every host of `must` and none outside
/// `may` (indices into `sc.hosts`; `must` is within `may`): `any` when
/// `may` is every host, else the roles and segments within `may` that
/// cover most of `must` still uncovered (roles before segments on a tie:
/// the scenarios' own policies speak of roles), then host names for the
/// rest.
fn cover(sc: &Scenario, must: &BTreeSet<usize>, may: &BTreeSet<usize>) -> Vec<Selector> {
    if may.len() == sc.hosts.len() {
        return vec![Selector::Any];
    }
    let mut left = must.clone();
    let mut out = Vec::new();
    let mut groups: Vec<(Selector, BTreeSet<usize>)> = Vec::new();
    for h in &sc.hosts {
        for sel in [
            Selector::Role(h.role.clone()),
            Selector::Segment(h.segment.clone()),
        ] {
            if !groups.iter().any(|(s, _)| *s == sel) {
                let members = (0..sc.hosts.len())
                    .filter(|&i| sel.matches(&sc.hosts[i]))
                    .collect();
                groups.push((sel, members));
            }
        }
    }
    loop {
        let best = groups
            .iter()
            .filter(|(_, m)| m.is_subset(may))
            .map(|(s, m)| (s, m, m.intersection(&left).count()))
            .filter(|(_, _, gain)| *gain > 0)
            .max_by_key(|(s, _, gain)| (*gain, matches!(s, Selector::Role(_))));
        let Some((sel, members, _)) = best else { break };
        out.push(sel.clone());
        left.retain(|i| !members.contains(i));
    }
    out.extend(
        left.into_iter()
            .map(|i| Selector::Host(sc.hosts[i].name.clone())),
    );
    out
}

/// A string YAML reads back as written (JSON's double quotes are YAML's).
fn quoted(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

fn yaml(
    sc: &Scenario,
    obs: &Observation,
    flows: &[WrittenFlow],
    inexpressible: &[String],
    unobserved: usize,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Written by `seglab observe --write-policy` from lab {} (scenario {}, {}, ports {}).",
        obs.lab, sc.name, obs.phase, obs.ports
    );
    out.push_str(
        "# These flows permit exactly the cells observed open between hosts whose\n\
         # cells the policy decides (a gateway between them, no host firewall\n\
         # refusing). Put this section in place of the scenario's `policy:`.\n",
    );
    if unobserved > 0 {
        let _ = writeln!(
            out,
            "# {unobserved} cell{} could not be observed (host down, path down or error): not permitted.",
            if unobserved == 1 { "" } else { "s" }
        );
    }
    if !inexpressible.is_empty() {
        out.push_str("# Observed otherwise than the plan decides them whatever the policy says:\n");
        for n in inexpressible.iter().take(NOTES_SAID) {
            let _ = writeln!(out, "#   {n}");
        }
        if inexpressible.len() > NOTES_SAID {
            let _ = writeln!(out, "#   ... and {} more", inexpressible.len() - NOTES_SAID);
        }
    }
    if flows.is_empty() {
        out.push_str("policy: []\n");
        return out;
    }
    out.push_str("policy:\n");
    for f in flows {
        let name = |s: &Selector| match s {
            Selector::Any => "any".to_string(),
            Selector::Host(h) | Selector::Role(h) | Selector::Segment(h) => h.clone(),
        };
        let _ = writeln!(out, "  - flow: {}", f.flow);
        let _ = writeln!(
            out,
            "    title: {}",
            quoted(&format!("observed: {} -> {}", name(&f.from), name(&f.to)))
        );
        let _ = writeln!(out, "    from: {}", quoted(&f.from.to_string()));
        let _ = writeln!(out, "    to: {}", quoted(&f.to.to_string()));
        let ports: Vec<String> = f.ports.iter().map(ToString::to_string).collect();
        let lines: Vec<String> = ports.chunks(PORTS_PER_LINE).map(|c| c.join(", ")).collect();
        let _ = writeln!(out, "    ports: [{}]", lines.join(",\n      "));
        out.push_str("    basis: modelled\n");
    }
    out
}

/// A scenario file's text with its `policy:` section replaced by `policy`
/// (a section as [`write_policy`] writes it): the top-level `policy:` key
/// and everything under it go, the new section is appended.
pub fn splice(scenario_yaml: &str, policy: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in scenario_yaml.lines() {
        let top_level = line.starts_with(|c: char| !c.is_whitespace() && c != '#' && c != '-');
        if top_level {
            inside = line.starts_with("policy:");
        }
        if !inside {
            out.push_str(line);
            out.push('\n');
        }
    }
    out.push_str(policy);
    out
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
