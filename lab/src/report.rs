//! Rendering verification reports: a table for people (a summary line per
//! scenario and phase, then only the failing cells, grouped by source and
//! destination and naming the whitepaper flow), JSON for tools, and JUnit
//! XML for CI systems.

use crate::plan::Expected;
use crate::verify::{ProbeResult, Report, Verdict};
use quick_junit::{NonSuccessKind, Report as JReport, TestCase, TestCaseStatus, TestSuite};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

/// Output format of `verify` and `test`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Junit,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "table" => Ok(Format::Table),
            "json" => Ok(Format::Json),
            "junit" => Ok(Format::Junit),
            _ => Err(format!(
                "unknown format `{s}` (expected table, json or junit)"
            )),
        }
    }
}

pub fn render(reports: &[Report], format: Format) -> String {
    match format {
        Format::Table => table(reports),
        Format::Json => json(reports),
        Format::Junit => junit(reports),
    }
}

/// One line of numbers for a report.
pub fn summary_line(r: &Report) -> String {
    let s = &r.summary;
    let mut line = format!(
        "{} {:<24} {} probes: {} passed, {} missing, {} leaks, {} misrouted, {} retries, {:.2} s",
        if r.ok() { "PASS" } else { "FAIL" },
        format!("{} / {}", r.scenario, r.phase),
        s.probes,
        s.passed,
        s.missing,
        s.leaks,
        s.misrouted,
        s.retries,
        s.wall_ms as f64 / 1000.0
    );
    for (n, what) in [
        (s.wrong_block, "wrong-block"),
        (s.host_down, "host-down"),
        (s.errors, "errors"),
    ] {
        if n > 0 {
            let _ = write!(line, ", {n} {what}");
        }
    }
    line
}

fn cell_words(c: &ProbeResult) -> String {
    let mut w = format!("{} {}/{}", c.verdict.as_str(), c.proto, c.port);
    match (c.verdict, c.flow) {
        (Verdict::Missing, Some(f)) => {
            let _ = write!(w, " (flow {f})");
        }
        (Verdict::Leak, _) => {
            let _ = write!(w, " (no flow permits it)");
        }
        _ => {}
    }
    if let Some(r) = &c.responder {
        if c.verdict != Verdict::Pass {
            let _ = write!(w, " answered by {r}");
        }
    }
    if let Some(d) = &c.detail {
        if matches!(c.verdict, Verdict::HostDown | Verdict::Error) {
            let _ = write!(w, " [{d}]");
        }
    }
    w
}

fn table(reports: &[Report]) -> String {
    let mut out = String::new();
    for r in reports {
        let _ = writeln!(out, "{}", summary_line(r));
        let mut groups: BTreeMap<(&str, &str), Vec<String>> = BTreeMap::new();
        for c in r.results.iter().filter(|c| c.verdict != Verdict::Pass) {
            groups
                .entry((c.src.as_str(), c.dst.as_str()))
                .or_default()
                .push(cell_words(c));
        }
        for ((src, dst), cells) in groups {
            let _ = writeln!(out, "    {src} -> {dst}: {}", cells.join(", "));
        }
    }
    out
}

fn json(reports: &[Report]) -> String {
    if let [one] = reports {
        serde_json::to_string_pretty(one).expect("a report serializes")
    } else {
        serde_json::to_string_pretty(reports).expect("reports serialize")
    }
}

/// JUnit: a suite per scenario and phase; a case per expected-open cell and
/// one per (source segment -> destination host) group of blocked cells, so
/// CI shows names a person can read.
fn junit(reports: &[Report]) -> String {
    let mut jr = JReport::new("seglab");
    for r in reports {
        let mut suite = TestSuite::new(format!("{} / {}", r.scenario, r.phase));
        for c in r.results.iter().filter(|c| c.expected == Expected::Open) {
            let name = format!(
                "open {} -> {} {}/{}{}",
                c.src,
                c.dst,
                c.proto,
                c.port,
                c.flow.map(|f| format!(" (flow {f})")).unwrap_or_default()
            );
            let mut case = TestCase::new(name, status(std::slice::from_ref(&c)));
            case.set_time(Duration::from_secs_f64(c.elapsed_ms / 1000.0));
            suite.add_test_case(case);
        }
        let mut blocked: BTreeMap<(String, String), Vec<&ProbeResult>> = BTreeMap::new();
        for c in r.results.iter().filter(|c| c.expected == Expected::Blocked) {
            blocked
                .entry((src_segment(r, &c.src), c.dst.clone()))
                .or_default()
                .push(c);
        }
        for ((seg, dst), cells) in blocked {
            let name = format!("blocked segment {seg} -> {dst} ({} probes)", cells.len());
            suite.add_test_case(TestCase::new(name, status(&cells)));
        }
        jr.add_test_suite(suite);
    }
    jr.to_string().expect("JUnit serializes")
}

fn src_segment(r: &Report, host: &str) -> String {
    r.segments
        .get(host)
        .cloned()
        .unwrap_or_else(|| host.to_string())
}

fn status(cells: &[&ProbeResult]) -> TestCaseStatus {
    let failing: Vec<String> = cells
        .iter()
        .filter(|c| c.verdict != Verdict::Pass)
        .map(|c| format!("{} -> {}: {}", c.src, c.dst, cell_words(c)))
        .collect();
    if failing.is_empty() {
        TestCaseStatus::success()
    } else {
        let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
        s.set_message(failing.join("; "));
        s
    }
}
