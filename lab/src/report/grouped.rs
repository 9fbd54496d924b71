//! The failing cells of a report grouped for people: by segment pair, then
//! verdict, then a line per (ports, flows) naming the host pairs that share
//! it, with each explanation said once under its group. Pure: the table
//! and the Markdown report both say these groups.

use super::pairs::{self, Order};
use crate::node_contract::Proto;
use crate::ports::PortKey;
use crate::scan::ranges::{range_text, runs};
use crate::verify::{ProbeResult, Report, Verdict};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// Lines said per (segment pair, verdict) group, host pairs named per
/// line, explanations said per group, and port items said per protocol,
/// unless the reader asked for everything (`-v`).
pub const LINES_SAID: usize = 8;
pub const PAIRS_SAID: usize = 8;
pub const WHYS_SAID: usize = 4;
pub const PORT_ITEMS_SAID: usize = 8;

/// How much to say, and whether to colour it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Style {
    /// Every line, host pair, port and explanation (`-v`).
    pub verbose: bool,
    /// ANSI colours (see [`colour_wanted`]).
    pub colour: bool,
}

/// Colours only for a person at a terminal, and never with `NO_COLOR` set
/// and not empty (<https://no-color.org>).
pub fn colour_wanted(stdout_is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    stdout_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

pub(crate) type HostPair<'a> = (&'a str, &'a str);

/// Cells of one segment pair and verdict that failed alike: the same
/// ports, flows and detail, for every host pair named.
#[derive(Debug)]
pub(crate) struct Line<'a> {
    pub ports: BTreeSet<PortKey>,
    pub flows: BTreeSet<u32>,
    /// Why a cell was not judged (host down, path down, error).
    pub detail: Option<&'a str>,
    /// Who answered a misrouted cell.
    pub responders: BTreeSet<&'a str>,
    pub pairs: Vec<HostPair<'a>>,
}

/// One explanation and the cells it explains.
#[derive(Debug)]
pub(crate) struct Why<'a> {
    pub why: &'a str,
    pub ports: BTreeSet<PortKey>,
    pub pairs: BTreeSet<HostPair<'a>>,
}

/// The failing cells of one segment pair and verdict.
#[derive(Debug)]
pub(crate) struct Group<'a> {
    pub segments: HostPair<'a>,
    pub verdict: Verdict,
    pub cells: usize,
    /// Most host pairs first, then in scenario order.
    pub lines: Vec<Line<'a>>,
    pub whys: Vec<Why<'a>>,
}

impl Group<'_> {
    /// A line's ports (see [`ports_words`]); when they are cut short and
    /// other lines of the group have ports this one lacks, those are named
    /// (`without tcp 7780`): lines that differ by a port read differently.
    pub fn line_ports(&self, l: &Line, cap: Option<usize>) -> String {
        let mut w = ports_words(&l.ports, cap);
        if !w.contains('…') {
            return w;
        }
        let all: BTreeSet<PortKey> = self
            .lines
            .iter()
            .flat_map(|l| l.ports.iter().copied())
            .collect();
        let lacking: BTreeSet<PortKey> = all.difference(&l.ports).copied().collect();
        if !lacking.is_empty() {
            let _ = write!(w, ", without {}", ports_words(&lacking, cap));
        }
        w
    }

    /// What follows a line's ports: `, flow 5`, `, no flow`, or ` [why
    /// it was not judged]`.
    pub fn after_ports(&self, l: &Line) -> String {
        match l.detail {
            Some(_) => format!(" {}", self.flow_words(l)),
            None => format!(", {}", self.flow_words(l)),
        }
    }

    /// `flow 5`, `flows 5, 14` or `no flow`, and for cells not judged on
    /// the network their detail in brackets instead.
    pub fn flow_words(&self, l: &Line) -> String {
        if let Some(d) = l.detail {
            return format!("[{d}]");
        }
        self.flows_only(l)
    }

    fn flows_only(&self, l: &Line) -> String {
        let mut w = match l.flows.len() {
            0 => "no flow".to_string(),
            1 => format!("flow {}", l.flows.iter().next().expect("one")),
            _ => format!(
                "flows {}",
                l.flows
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        if self.verdict == Verdict::Misrouted && !l.responders.is_empty() {
            let r: Vec<&str> = l.responders.iter().copied().collect();
            let _ = write!(w, ", answered by {}", r.join(", "));
        }
        w
    }
}

fn segment<'a>(r: &'a Report, host: &'a str) -> &'a str {
    r.segments.get(host).map(String::as_str).unwrap_or(host)
}

/// The failing cells of a report, grouped: segment pairs in order of their
/// first failing cell (the scenario's host order), verdicts within in
/// [`Verdict`] order.
pub(crate) fn groups<'r>(r: &'r Report) -> Vec<Group<'r>> {
    let failing = r.results.iter().filter(|c| c.verdict != Verdict::Pass);
    let segments =
        |c: &&'r ProbeResult| -> HostPair<'r> { (segment(r, &c.src), segment(r, &c.dst)) };
    let mut out = Vec::new();
    for (segments, cells) in pairs::by_pair(failing, segments, Order::FirstSeen) {
        for (verdict, cells) in pairs::sorted(cells, |c| c.verdict) {
            // Per host pair and detail, its cells, in scenario order.
            let by_hosts = pairs::first_seen(cells, |c| {
                let unjudged = matches!(
                    c.verdict,
                    Verdict::HostDown | Verdict::PathDown | Verdict::Error
                );
                let detail = if unjudged { c.detail.as_deref() } else { None };
                ((c.src.as_str(), c.dst.as_str()), detail)
            });
            out.push(group(segments, verdict, by_hosts));
        }
    }
    out
}

/// A host pair and why its cells were not judged, if they were not.
type PairDetail<'a> = (HostPair<'a>, Option<&'a str>);

/// The group of one segment pair and verdict, from its cells per host
/// pair and detail: host pairs that failed alike share a line.
fn group<'a>(
    segments: HostPair<'a>,
    verdict: Verdict,
    by_hosts: Vec<(PairDetail<'a>, Vec<&'a ProbeResult>)>,
) -> Group<'a> {
    let mut lines: Vec<Line> = Vec::new();
    let mut whys: Vec<Why> = Vec::new();
    let mut cells = 0;
    for ((pair, detail), cs) in by_hosts {
        cells += cs.len();
        let ports: BTreeSet<PortKey> = cs.iter().map(|c| key(c)).collect();
        let flows: BTreeSet<u32> = cs.iter().filter_map(|c| c.flow).collect();
        let responders: BTreeSet<&str> = if verdict == Verdict::Misrouted {
            cs.iter().filter_map(|c| c.responder.as_deref()).collect()
        } else {
            BTreeSet::new()
        };
        match lines.iter_mut().find(|l| {
            l.ports == ports && l.flows == flows && l.detail == detail && l.responders == responders
        }) {
            Some(l) => l.pairs.push(pair),
            None => lines.push(Line {
                ports,
                flows,
                detail,
                responders,
                pairs: vec![pair],
            }),
        }
        for c in &cs {
            let Some(e) = &c.explain else { continue };
            let w = match whys.iter_mut().find(|w| w.why == e.why) {
                Some(w) => w,
                None => {
                    whys.push(Why {
                        why: &e.why,
                        ports: BTreeSet::new(),
                        pairs: BTreeSet::new(),
                    });
                    whys.last_mut().expect("just pushed")
                }
            };
            w.ports.insert(key(c));
            w.pairs.insert(pair);
        }
    }
    // A stable sort: lines of as many pairs keep scenario order.
    lines.sort_by_key(|l| std::cmp::Reverse(l.pairs.len()));
    Group {
        segments,
        verdict,
        cells,
        lines,
        whys,
    }
}

fn key(c: &ProbeResult) -> PortKey {
    PortKey {
        proto: c.proto,
        port: c.port,
    }
}

/// Ports compressed per protocol: `tcp 22,25,80,111,139,443,…,44445 (25
/// ports); udp 53`. Runs of consecutive ports are ranges (`30000-30010`);
/// past `cap` items a protocol says its first ones, `…` and its last; the
/// count follows whenever the items do not show every port one by one.
pub fn ports_words(keys: &BTreeSet<PortKey>, cap: Option<usize>) -> String {
    let mut by_proto: BTreeMap<Proto, Vec<u16>> = BTreeMap::new();
    for k in keys {
        by_proto.entry(k.proto).or_default().push(k.port);
    }
    by_proto
        .iter()
        .map(|(proto, ports)| {
            let ranges = runs(ports.iter().copied());
            let items: Vec<String> = ranges.iter().map(range_text).collect();
            let (text, elided) = match cap {
                Some(cap) if items.len() > cap.max(2) => {
                    let head = &items[..cap.max(2) - 1];
                    let last = items.last().expect("more than cap");
                    (format!("{},…,{last}", head.join(",")), true)
                }
                _ => (items.join(","), false),
            };
            if elided || ranges.len() != ports.len() {
                format!("{proto} {text} ({} ports)", ports.len())
            } else {
                format!("{proto} {text}")
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// `admin -> agent-1, agent-2; jump -> agent-1`: host pairs of one source
/// said together, or `admin, jump -> agent-1` (those of one destination)
/// when that is shorter; at most `cap` pairs (then how many more).
pub fn pairs_words(pairs: &[HostPair], cap: Option<usize>) -> String {
    let shown = cap.map_or(pairs.len(), |c| c.min(pairs.len()));
    let fold = |by_dst: bool| {
        let mut out: Vec<(&str, Vec<&str>)> = Vec::new();
        for &(src, dst) in &pairs[..shown] {
            let (key, other) = if by_dst { (dst, src) } else { (src, dst) };
            match out.iter_mut().find(|(k, _)| *k == key) {
                Some((_, others)) => others.push(other),
                None => out.push((key, vec![other])),
            }
        }
        out
    };
    let (by_src, by_dst) = (fold(false), fold(true));
    let said: Vec<String> = if by_dst.len() < by_src.len() {
        by_dst
            .iter()
            .map(|(dst, srcs)| format!("{} -> {dst}", srcs.join(", ")))
            .collect()
    } else {
        by_src
            .iter()
            .map(|(src, dsts)| format!("{src} -> {}", dsts.join(", ")))
            .collect()
    };
    let mut w = said.join("; ");
    if shown < pairs.len() {
        let _ = write!(w, " and {} more", pairs.len() - shown);
    }
    w
}

/// `179 leaks`, `2 missing`, `1 error`.
pub fn count_words(n: usize, v: Verdict) -> String {
    let word = match v {
        Verdict::Leak if n != 1 => "leaks",
        Verdict::Error if n != 1 => "errors",
        _ => v.as_str(),
    };
    format!("{n} {word}")
}

/// `1 host pair`, `4 host pairs`.
pub fn host_pairs(n: usize) -> String {
    format!("{n} host pair{}", if n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(proto: Proto, ports: &[u16]) -> BTreeSet<PortKey> {
        ports.iter().map(|&port| PortKey { proto, port }).collect()
    }

    #[test]
    fn ports_are_lists_and_ranges_with_their_count_when_not_all_shown() {
        let few = set(Proto::Tcp, &[22, 25, 80]);
        assert_eq!(ports_words(&few, Some(8)), "tcp 22,25,80");
        let run = set(Proto::Tcp, &[22, 30000, 30001, 30002]);
        assert_eq!(ports_words(&run, Some(8)), "tcp 22,30000-30002 (4 ports)");
        let many = set(
            Proto::Tcp,
            &[22, 25, 80, 111, 139, 443, 445, 3389, 5985, 8080, 44445],
        );
        assert_eq!(
            ports_words(&many, Some(8)),
            "tcp 22,25,80,111,139,443,445,…,44445 (11 ports)"
        );
        assert_eq!(
            ports_words(&many, None),
            "tcp 22,25,80,111,139,443,445,3389,5985,8080,44445"
        );
        let mut both = many.clone();
        both.extend(set(Proto::Udp, &[53, 161, 162]));
        assert_eq!(
            ports_words(&both, Some(3)),
            "tcp 22,25,…,44445 (11 ports); udp 53,161-162 (3 ports)"
        );
    }

    #[test]
    fn pairs_of_one_source_are_said_together_and_capped() {
        let pairs = [
            ("admin", "agent-1"),
            ("admin", "agent-2"),
            ("jump", "agent-1"),
        ];
        assert_eq!(
            pairs_words(&pairs, None),
            "admin -> agent-1, agent-2; jump -> agent-1"
        );
        assert_eq!(
            pairs_words(&pairs, Some(2)),
            "admin -> agent-1, agent-2 and 1 more"
        );
        let to_one = [
            ("admin", "ams"),
            ("jump", "ams"),
            ("bastion", "ams"),
            ("jump", "nas"),
        ];
        assert_eq!(
            pairs_words(&to_one, None),
            "admin, jump, bastion -> ams; jump -> nas"
        );
    }

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        use std::ffi::OsStr;
        assert!(colour_wanted(true, None));
        assert!(colour_wanted(true, Some(OsStr::new(""))));
        assert!(!colour_wanted(true, Some(OsStr::new("1"))));
        assert!(!colour_wanted(false, None));
        assert!(!colour_wanted(false, Some(OsStr::new("1"))));
    }
}
