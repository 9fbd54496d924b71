//! Rendering scan reports, as [`crate::report`] renders verify's: a table
//! for people (a summary line per scenario and phase, then only the
//! failing port ranges, grouped by segment pair and said once for all the
//! host pairs they share), JSON for tools (every range of every pair with
//! its verdict), and JUnit XML for CI (a case per host pair and protocol).

use super::ranges::range_text;
use super::{JudgedSpan, PairScan, ScanReport};
use crate::node_contract::Proto;
use crate::probe::Observed;
use crate::report::pairs::{self, Order};
use crate::report::Format;
use crate::verify::Verdict;
use quick_junit::{NonSuccessKind, Report as JReport, TestCase, TestCaseStatus, TestSuite};
use std::fmt::Write;
use std::hash::Hash;
use std::ops::RangeInclusive;
use std::time::Duration;

/// Ranges said on one line at most; the rest are counted (JSON has them).
const RANGES_SAID: usize = 12;

pub fn render(reports: &[ScanReport], format: Format) -> String {
    match format {
        Format::Table => table(reports),
        Format::Json => json(reports),
        Format::Junit => junit(reports),
        // The scan's lines already group by segment pair; a CI summary
        // shows them as they are.
        Format::Markdown => format!("```text\n{}```\n", table(reports)),
        Format::Html => {
            crate::report::render_html(&[], reports, &std::collections::BTreeMap::new(), &[])
        }
    }
}

fn label(r: &ScanReport) -> String {
    format!("{} / {}", r.scenario, r.phase)
}

/// The summary lines of several reports, their numbers aligned.
pub fn summary_lines(reports: &[ScanReport]) -> Vec<String> {
    let width = reports.iter().map(|r| label(r).len()).max().unwrap_or(0);
    reports
        .iter()
        .map(|r| {
            let s = &r.summary;
            let hosts: std::collections::BTreeSet<(&str, &str)> = r
                .pairs
                .iter()
                .map(|p| (p.src.as_str(), p.dst.as_str()))
                .collect();
            let protos: std::collections::BTreeSet<&str> =
                r.pairs.iter().map(|p| p.proto.as_str()).collect();
            let mut line = format!(
                "{} {:<width$}  scan: {} host pairs ({}), {} ports: {} leaks, {} missing, {} misrouted, {:.2} s",
                if r.ok() { "PASS" } else { "FAIL" },
                label(r),
                hosts.len(),
                protos.into_iter().collect::<Vec<_>>().join(", "),
                s.ports,
                s.leaks,
                s.missing,
                s.misrouted,
                s.wall_ms as f64 / 1000.0
            );
            for (n, what) in [
                (s.wrong_block, "wrong-block"),
                (s.host_down, "host-down"),
                (s.path_down, "path-down"),
                (s.errors, "errors"),
            ] {
                if n > 0 {
                    let _ = write!(line, ", {n} {what}");
                }
            }
            line
        })
        .collect()
}

/// What a failing range of a pair is: spans of one kind are said together.
/// Ports not judged on the network (host down, path down, error) share
/// their kind whatever the plan expected of them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Kind<'a> {
    proto: Proto,
    verdict: Verdict,
    observed: Observed,
    flow: Option<u32>,
    reason: &'a str,
    detail: Option<&'a str>,
}

impl<'a> Kind<'a> {
    fn of(proto: Proto, s: &'a JudgedSpan) -> Kind<'a> {
        let unjudged = matches!(
            s.verdict,
            Verdict::HostDown | Verdict::PathDown | Verdict::Error
        );
        Kind {
            proto,
            verdict: s.verdict,
            observed: s.observed,
            flow: if unjudged { None } else { s.flow },
            reason: if unjudged { "" } else { &s.reason },
            detail: s.detail.as_deref(),
        }
    }

    /// What the ports did: `open`, `blocked`, `rejected`, `misrouted`,
    /// `host-down`...
    fn what(&self) -> &'static str {
        match self.verdict {
            Verdict::Misrouted => "misrouted",
            Verdict::HostDown | Verdict::PathDown | Verdict::Error => self.verdict.as_str(),
            _ => self.observed.as_str(),
        }
    }

    /// Why that fails the plan, in brackets, and the detail seen.
    fn why(&self) -> String {
        let mut w = match self.verdict {
            Verdict::Leak => format!(" ({})", self.reason),
            Verdict::Missing | Verdict::Misrouted => match self.flow {
                Some(f) => format!(" (flow {f} permits it)"),
                None => format!(" ({})", self.reason),
            },
            Verdict::WrongBlock => {
                let wanted = match self.observed {
                    Observed::Rejected => "drop",
                    _ => "reject",
                };
                format!(" ({}; the scenario asks for {wanted})", self.reason)
            }
            _ => String::new(),
        };
        if let Some(d) = self.detail {
            let _ = write!(w, " [{d}]");
        }
        w
    }
}

/// The failing ranges of a pair by kind, in port order of each kind's
/// first range; touching ranges of one kind are joined.
fn failing(p: &PairScan) -> Vec<(Kind<'_>, Vec<RangeInclusive<u16>>)> {
    let mut out: Vec<(Kind, Vec<RangeInclusive<u16>>)> = Vec::new();
    for s in p.spans.iter().filter(|s| s.verdict != Verdict::Pass) {
        let kind = Kind::of(p.proto, s);
        let ranges = match out.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, ranges)) => ranges,
            None => {
                out.push((kind, Vec::new()));
                &mut out.last_mut().expect("just pushed").1
            }
        };
        match ranges.last_mut() {
            Some(r) if r.end().checked_add(1) == Some(s.first) => *r = *r.start()..=s.last,
            _ => ranges.push(s.first..=s.last),
        }
    }
    out
}

/// `30000-30010, 31000`, and how many more when there are too many to say.
fn ranges_words(ranges: &[RangeInclusive<u16>]) -> String {
    let said: Vec<String> = ranges.iter().take(RANGES_SAID).map(range_text).collect();
    let mut w = said.join(", ");
    if ranges.len() > RANGES_SAID {
        let ports: u64 = ranges[RANGES_SAID..]
            .iter()
            .map(|r| u64::from(r.end() - r.start()) + 1)
            .sum();
        let _ = write!(
            w,
            " and {} more ranges ({ports} ports)",
            ranges.len() - RANGES_SAID
        );
    }
    w
}

/// `tcp 30000-30010 open`, the words a failing kind starts with.
fn kind_words(kind: &Kind, ranges: &[RangeInclusive<u16>]) -> String {
    format!("{} {} {}", kind.proto, ranges_words(ranges), kind.what())
}

/// One line of the table: a kind and its ranges, from some sources to
/// some destinations.
struct Line<'a> {
    segments: Segments<'a>,
    kind: Kind<'a>,
    ranges: Vec<RangeInclusive<u16>>,
    srcs: Vec<&'a str>,
    dsts: Vec<&'a str>,
}

type Segments<'a> = (&'a str, &'a str);

/// Folds items of equal keys into the first of them, kept in order of
/// first appearance.
fn fold<T, K: Hash + Eq + Clone>(
    items: impl IntoIterator<Item = T>,
    key: impl Fn(&T) -> K,
    merge: impl Fn(&mut T, T),
) -> Vec<T> {
    pairs::first_seen(items, key)
        .into_iter()
        .map(|(_, alike)| {
            let mut alike = alike.into_iter();
            let mut first = alike.next().expect("a group has an item");
            for other in alike {
                merge(&mut first, other);
            }
            first
        })
        .collect()
}

/// Joins host pairs that failed alike, range by range: first the
/// destinations of one source, then the sources of one set of
/// destinations; then the ranges of one kind that those same sources and
/// destinations share go on one line.
fn lines(r: &ScanReport) -> Vec<Line<'_>> {
    let ranges = r.pairs.iter().flat_map(|p| {
        failing(p).into_iter().flat_map(move |(kind, ranges)| {
            ranges.into_iter().map(move |range| Line {
                segments: (p.src_segment.as_str(), p.dst_segment.as_str()),
                kind: kind.clone(),
                ranges: vec![range],
                srcs: vec![p.src.as_str()],
                dsts: vec![p.dst.as_str()],
            })
        })
    });
    let by_src = fold(
        ranges,
        |l| (l.segments, l.kind.clone(), l.ranges[0].clone(), l.srcs[0]),
        |a, b| a.dsts.extend(b.dsts),
    );
    let by_dsts = fold(
        by_src,
        |l| {
            (
                l.segments,
                l.kind.clone(),
                l.ranges[0].clone(),
                l.dsts.clone(),
            )
        },
        |a, b| a.srcs.extend(b.srcs),
    );
    let mut out = fold(
        by_dsts,
        |l| (l.segments, l.kind.clone(), l.srcs.clone(), l.dsts.clone()),
        |a, b| a.ranges.extend(b.ranges),
    );
    for l in &mut out {
        l.ranges.sort_by_key(|r| *r.start());
    }
    // Segment pairs in order of first appearance, lines within as found.
    pairs::by_pair(out, |l| l.segments, Order::FirstSeen)
        .into_iter()
        .flat_map(|(_, lines)| lines)
        .collect()
}

fn table(reports: &[ScanReport]) -> String {
    let mut out = String::new();
    for (r, summary) in reports.iter().zip(summary_lines(reports)) {
        let _ = writeln!(out, "{summary}");
        for n in &r.notes {
            let _ = writeln!(out, "    note: {n}");
        }
        for l in lines(r) {
            let _ = writeln!(
                out,
                "    {} → {}: {} from {} to {}{}",
                l.segments.0,
                l.segments.1,
                kind_words(&l.kind, &l.ranges),
                l.srcs.join(", "),
                l.dsts.join(", "),
                l.kind.why()
            );
        }
    }
    out
}

fn json(reports: &[ScanReport]) -> String {
    crate::report::one_or_many(reports)
}

/// JUnit: a suite per scenario and phase, a case per host pair and
/// protocol; a failing case sums up its failing ranges in its message and
/// lists every failing span in its body.
fn junit(reports: &[ScanReport]) -> String {
    let mut jr = JReport::new("seglab scan");
    jr.add_test_suites(junit_suites(reports));
    jr.to_string().expect("JUnit serializes")
}

/// The JUnit suites of scan reports (also for `seglab test --scan`, beside
/// verify's).
pub fn junit_suites(reports: &[ScanReport]) -> Vec<TestSuite> {
    let mut suites = Vec::new();
    for r in reports {
        let mut suite = TestSuite::new(format!("scan {}", label(r)));
        for p in &r.pairs {
            let name = format!("{} → {} {}", p.src, p.dst, p.proto);
            let mut case = TestCase::new(name, status(p));
            case.set_time(Duration::from_millis(p.elapsed_ms));
            suite.add_test_case(case);
        }
        suites.push(suite);
    }
    suites
}

fn status(p: &PairScan) -> TestCaseStatus {
    let kinds = failing(p);
    if kinds.is_empty() {
        return TestCaseStatus::success();
    }
    let message: Vec<String> = kinds
        .iter()
        .map(|(k, ranges)| {
            // `host-down: tcp 1-65535 [why]`, not `host-down` twice.
            let words = match k.what() {
                what if what == k.verdict.as_str() => {
                    format!("{} {}", k.proto, ranges_words(ranges))
                }
                _ => kind_words(k, ranges),
            };
            format!("{}: {words}{}", k.verdict.as_str(), k.why())
        })
        .collect();
    let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
    s.set_message(message.join("; "));
    let body: String = p
        .spans
        .iter()
        .filter(|s| s.verdict != Verdict::Pass)
        .map(|s| {
            let mut line = format!(
                "{} {}: {}: expected {} ({}), saw {}",
                p.proto,
                range_text(&(s.first..=s.last)),
                s.verdict.as_str(),
                s.expected.as_str(),
                s.reason,
                s.observed.as_str(),
            );
            if let Some(d) = &s.detail {
                let _ = write!(line, " [{d}]");
            }
            line.push('\n');
            line
        })
        .collect();
    s.set_description(body);
    s
}

#[cfg(test)]
#[path = "report_tests.rs"]
mod tests;
