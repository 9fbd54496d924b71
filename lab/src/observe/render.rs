//! Saying an observation: per segment pair, the open ports of each host
//! pair (`admin -> ams: tcp 22,443,10000-10010; udp 53`), then a segment x
//! segment matrix; JSON for tools. Pure.

use super::{Observation, ObservedCell};
use crate::node_contract::Proto;
use crate::ports::PortKey;
use crate::probe::Observed;
use crate::report::pairs::{self, Order};
use crate::scan::ranges::{range_text, runs};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// A matrix entry names its ports when they fit in this many characters,
/// else counts them.
const MATRIX_PORTS_WIDTH: usize = 30;

/// Ports compressed per protocol: `tcp 22,443,10000-10010; udp 53`.
pub fn ports_text(keys: impl IntoIterator<Item = PortKey>) -> String {
    let mut by_proto: BTreeMap<Proto, BTreeSet<u16>> = BTreeMap::new();
    for k in keys {
        by_proto.entry(k.proto).or_default().insert(k.port);
    }
    by_proto
        .iter()
        .map(|(proto, ports)| {
            let ranges: Vec<String> = runs(ports.iter().copied()).iter().map(range_text).collect();
            format!("{proto} {}", ranges.join(","))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The cells of one host pair.
struct HostPair<'a> {
    src: &'a str,
    dst: &'a str,
    cells: Vec<&'a ObservedCell>,
}

impl HostPair<'_> {
    fn open(&self) -> Vec<PortKey> {
        self.cells
            .iter()
            .filter(|c| c.observed == Observed::Open)
            .map(|c| c.key())
            .collect()
    }
}

/// Host pairs grouped by (source segment, destination segment), both in
/// scenario order: the order of the matrix's rows and columns.
fn by_segment_pair<'o>(obs: &'o Observation) -> Vec<((&'o str, &'o str), Vec<HostPair<'o>>)> {
    pairs::segment_pairs(
        &obs.cells,
        |c: &&'o ObservedCell| (c.src_segment.as_str(), c.dst_segment.as_str()),
        |c: &&'o ObservedCell| (c.src.as_str(), c.dst.as_str()),
        Order::Matrix,
        Order::FirstSeen,
    )
    .into_iter()
    .map(|g| {
        let hosts = g.hosts.into_iter();
        let hosts = hosts.map(|((src, dst), cells)| HostPair { src, dst, cells });
        (g.segments, hosts.collect())
    })
    .collect()
}

/// Every segment of the observation, sources' and destinations', in
/// scenario order.
fn segments(obs: &Observation) -> Vec<&str> {
    pairs::ends(
        obs.cells
            .iter()
            .map(|c| (c.src_segment.as_str(), c.dst_segment.as_str())),
    )
}

/// The summary line: what was probed and how much opened.
pub fn summary_line(obs: &Observation) -> String {
    let pairs: BTreeSet<(&str, &str)> = obs.cells.iter().map(|c| (&*c.src, &*c.dst)).collect();
    let mut counts: BTreeMap<Observed, usize> = BTreeMap::new();
    for c in &obs.cells {
        *counts.entry(c.observed).or_default() += 1;
    }
    let n = |o: Observed| counts.get(&o).copied().unwrap_or(0);
    let mut line = format!(
        "OBSERVED {} / {} (lab {}, ports {}): {} host pairs, {} cells: {} open, {} blocked, {} rejected",
        obs.scenario,
        obs.phase,
        obs.lab,
        obs.ports,
        pairs.len(),
        obs.cells.len(),
        n(Observed::Open),
        n(Observed::Blocked),
        n(Observed::Rejected),
    );
    for o in [Observed::HostDown, Observed::PathDown, Observed::Error] {
        if n(o) > 0 {
            let _ = write!(line, ", {} {o}", n(o));
        }
    }
    line
}

/// The cells of a host pair that could not be observed (host down, path
/// down, error), by what they saw and why.
fn unobserved(p: &HostPair) -> Vec<String> {
    let mut by: BTreeMap<(Observed, Option<&str>), Vec<PortKey>> = BTreeMap::new();
    for c in &p.cells {
        if matches!(
            c.observed,
            Observed::HostDown | Observed::PathDown | Observed::Error
        ) {
            by.entry((c.observed, c.detail.as_deref()))
                .or_default()
                .push(c.key());
        }
    }
    by.into_iter()
        .map(|((o, why), keys)| match why {
            Some(why) => format!("{o} {} [{why}]", ports_text(keys)),
            None => format!("{o} {}", ports_text(keys)),
        })
        .collect()
}

/// The table: the summary, then per segment pair the open ports of each
/// host pair (pairs with nothing open are counted, not listed; segment
/// pairs with nothing open are named on one line), then the segment
/// matrix.
pub fn table(obs: &Observation) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", summary_line(obs));
    for n in &obs.notes {
        let _ = writeln!(out, "    note: {n}");
    }
    let mut shut: Vec<String> = Vec::new();
    for ((s, d), pairs) in by_segment_pair(obs) {
        if pairs
            .iter()
            .all(|p| p.open().is_empty() && unobserved(p).is_empty())
        {
            shut.push(format!("{s} -> {d}"));
            continue;
        }
        let _ = writeln!(out, "  {s} -> {d}");
        let mut closed = 0;
        for p in &pairs {
            let open = p.open();
            let down = unobserved(p);
            if open.is_empty() && down.is_empty() {
                closed += 1;
                continue;
            }
            let mut words = Vec::new();
            if !open.is_empty() {
                words.push(ports_text(open));
            }
            words.extend(down);
            let _ = writeln!(out, "    {} -> {}: {}", p.src, p.dst, words.join("; "));
        }
        if closed > 0 {
            let _ = writeln!(
                out,
                "    ({closed} host pair{} with nothing open)",
                if closed == 1 { "" } else { "s" }
            );
        }
    }
    if !shut.is_empty() {
        let _ = writeln!(out, "  nothing open: {}", shut.join(", "));
    }
    out.push('\n');
    out.push_str(&matrix(obs));
    out
}

/// The segment x segment matrix: for each source segment (row) and
/// destination segment (column), how many of its host pairs have anything
/// open, of how many, and their open ports (counted when many); `-` when
/// nothing opened, blank when no host pair was probed.
pub fn matrix(obs: &Observation) -> String {
    let segs = segments(obs);
    let mut cells: BTreeMap<(&str, &str), String> = BTreeMap::new();
    for ((s, d), pairs) in by_segment_pair(obs) {
        let open: Vec<&HostPair> = pairs.iter().filter(|p| !p.open().is_empty()).collect();
        let text = if open.is_empty() {
            "-".to_string()
        } else {
            let keys: BTreeSet<PortKey> = open.iter().flat_map(|p| p.open()).collect();
            let ports = ports_text(keys.iter().copied());
            let ports = if ports.len() <= MATRIX_PORTS_WIDTH {
                ports
            } else {
                format!("{} ports", keys.len())
            };
            format!("{}/{} {ports}", open.len(), pairs.len())
        };
        cells.insert((s, d), text);
    }
    let corner = "from \\ to";
    let first = segs
        .iter()
        .map(|s| s.len())
        .chain([corner.len()])
        .max()
        .unwrap_or(0);
    let widths: Vec<usize> = segs
        .iter()
        .map(|d| {
            segs.iter()
                .filter_map(|s| cells.get(&(*s, *d)).map(String::len))
                .chain([d.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::from(
        "Segments (host pairs with anything open / host pairs probed, and their open ports):\n",
    );
    let mut row = |head: &str, entries: Vec<&str>| {
        let mut line = format!("  {head:<first$}");
        for (e, w) in entries.iter().zip(&widths) {
            let _ = write!(line, "  {e:<w$}");
        }
        let _ = writeln!(out, "{}", line.trim_end());
    };
    row(corner, segs.clone());
    for s in &segs {
        let entries = segs
            .iter()
            .map(|d| cells.get(&(*s, *d)).map_or("", String::as_str))
            .collect();
        row(s, entries);
    }
    out
}

/// JSON: the observation document, every cell.
pub fn json(obs: &Observation) -> String {
    serde_json::to_string_pretty(obs).expect("an observation serializes")
}

#[cfg(test)]
mod tests {
    use super::super::sample::{cell, observation};
    use super::*;
    use Observed::*;

    fn sample() -> Observation {
        let mut cells = Vec::new();
        let hosts = ["ams", "admin", "agent-1", "agent-2", "storage"];
        for src in hosts {
            for dst in hosts.iter().filter(|d| **d != src) {
                for key in ["tcp/22", "tcp/445", "tcp/7780", "tcp/9877", "udp/53"] {
                    let open = matches!(
                        (src, *dst, key),
                        ("admin", "ams", "tcp/9877")
                            | ("agent-1" | "agent-2", "ams", "tcp/7780")
                            | ("agent-1" | "agent-2", "storage", "tcp/445")
                            | ("agent-1", "agent-2", _)
                            | ("agent-2", "agent-1", _)
                    );
                    let seen = match (src, *dst) {
                        _ if open => Open,
                        (_, "storage") if key == "udp/53" => Rejected,
                        _ => Blocked,
                    };
                    cells.push(cell(src, dst, key, seen));
                }
            }
        }
        let mut down = cell("admin", "storage", "tcp/22", HostDown);
        down.detail = Some("storage is not running (exited)".into());
        let at = cells
            .iter()
            .position(|c| c.src == "admin" && c.dst == "storage" && c.port == 22)
            .unwrap();
        cells[at] = down;
        observation(cells)
    }

    #[test]
    fn ports_are_compressed_per_protocol() {
        let keys = [
            "tcp/22",
            "udp/53",
            "tcp/443",
            "tcp/10000",
            "tcp/10001",
            "tcp/10002",
        ]
        .iter()
        .map(|k| k.parse().unwrap());
        assert_eq!(ports_text(keys), "tcp 22,443,10000-10002; udp 53");
        assert_eq!(ports_text([]), "");
    }

    #[test]
    fn table_groups_host_pairs_by_segment_pair() {
        insta::assert_snapshot!(table(&sample()));
    }

    #[test]
    fn matrix_counts_pairs_and_names_or_counts_ports() {
        let mut obs = sample();
        // Many ports from admin to the agents: counted, not named.
        for (i, port) in (1000..1030).enumerate() {
            let dst = if i % 2 == 0 { "agent-1" } else { "agent-2" };
            obs.cells
                .push(cell("admin", dst, &format!("tcp/{}", port * 2), Open));
        }
        insta::assert_snapshot!(matrix(&obs));
    }

    #[test]
    fn json_is_marked_as_an_observation_and_reads_back() {
        let obs = sample();
        let text = json(&obs);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["kind"], "observation");
        assert_eq!(v["cells"][0]["src_segment"], "mgmt");
        assert_eq!(v["cells"][0]["observed"], "blocked");
        let back: Observation = serde_json::from_str(&text).unwrap();
        assert_eq!(back, obs);
    }
}
