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

mod grouped;
pub mod html;
mod markdown;
pub(crate) mod pairs;
mod table;

pub use grouped::{colour_wanted, ports_words, Style};
pub use markdown::escape as markdown_escape;

/// Output format of `verify` and `test`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Junit,
    /// A CI job summary: the summaries and the grouped failures as tables.
    Markdown,
    /// One self-contained page: topology, host × host matrix, details.
    Html,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "table" => Ok(Format::Table),
            "json" => Ok(Format::Json),
            "junit" => Ok(Format::Junit),
            "markdown" => Ok(Format::Markdown),
            "html" => Ok(Format::Html),
            _ => Err(format!(
                "unknown format `{s}` (expected table, json, junit, markdown or html)"
            )),
        }
    }
}

/// Reports in `format`, capped and without colour (see [`render_styled`]).
pub fn render(reports: &[Report], format: Format) -> String {
    render_styled(reports, format, &Style::default())
}

/// Reports in `format`; the table and Markdown say as much as `style`
/// asks (`-v`: everything), and the table is coloured if it asks.
pub fn render_styled(reports: &[Report], format: Format, style: &Style) -> String {
    match format {
        Format::Table => table::table(reports, style),
        Format::Json => json(reports),
        Format::Junit => junit(reports),
        Format::Markdown => markdown::markdown(reports, style),
        Format::Html => render_html(reports, &[], &BTreeMap::new(), &[]),
    }
}

/// The HTML report of a run (see [`html`]): the topologies draw each
/// scenario, the parameters head the page.
pub fn render_html(
    reports: &[Report],
    scans: &[crate::scan::ScanReport],
    topologies: &BTreeMap<String, crate::graph::Topology>,
    params: &[(String, String)],
) -> String {
    html::html(&html::Page {
        reports,
        scans,
        topologies,
        params,
    })
}

/// Verification reports and scan reports of one run (`seglab test
/// --scan`) in one document: the tables one after the other, JSON as
/// `{"verify": ..., "scan": ...}`, JUnit with the scan's suites after
/// verify's. Without scans, exactly [`render`].
pub fn render_all(reports: &[Report], scans: &[crate::scan::ScanReport], format: Format) -> String {
    render_all_styled(reports, scans, format, &Style::default())
}

/// [`render_all`] as `style` asks (see [`render_styled`]).
pub fn render_all_styled(
    reports: &[Report],
    scans: &[crate::scan::ScanReport],
    format: Format,
    style: &Style,
) -> String {
    if scans.is_empty() {
        return render_styled(reports, format, style);
    }
    if reports.is_empty() {
        return crate::scan::report::render(scans, format);
    }
    match format {
        Format::Table => {
            render_styled(reports, format, style) + &crate::scan::report::render(scans, format)
        }
        Format::Markdown => {
            render_styled(reports, format, style)
                + "\n"
                + &crate::scan::report::render(scans, format)
        }
        Format::Json => serde_json::to_string_pretty(&serde_json::json!({
            "verify": reports,
            "scan": scans,
        }))
        .expect("reports serialize"),
        Format::Junit => {
            let mut jr = JReport::new("seglab");
            jr.add_test_suites(junit_suites(reports));
            jr.add_test_suites(crate::scan::report::junit_suites(scans));
            jr.to_string().expect("JUnit serializes")
        }
        Format::Html => render_html(reports, scans, &BTreeMap::new(), &[]),
    }
}

fn label(r: &Report) -> String {
    format!("{} / {}", r.scenario, r.phase)
}

/// The summary lines of several reports, their numbers aligned.
pub fn summary_lines(reports: &[Report]) -> Vec<String> {
    let width = reports.iter().map(|r| label(r).len()).max().unwrap_or(0);
    reports
        .iter()
        .map(|r| summary_line_padded(r, width))
        .collect()
}

fn summary_line_padded(r: &Report, width: usize) -> String {
    let s = &r.summary;
    let mut line = format!(
        "{} {:<width$}  {} probes: {} passed, {} missing, {} leaks, {} misrouted, {} retries, {:.2} s",
        if r.ok() { "PASS" } else { "FAIL" },
        label(r),
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
        (s.path_down, "path-down"),
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
        if matches!(
            c.verdict,
            Verdict::HostDown | Verdict::PathDown | Verdict::Error
        ) {
            let _ = write!(w, " [{d}]");
        }
    }
    w
}

fn json(reports: &[Report]) -> String {
    one_or_many(reports)
}

/// JSON of reports: one report is one object, several are an array
/// (`verify`'s and `scan`'s alike).
pub(crate) fn one_or_many<T: serde::Serialize>(reports: &[T]) -> String {
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
    jr.add_test_suites(junit_suites(reports));
    jr.to_string().expect("JUnit serializes")
}

fn junit_suites(reports: &[Report]) -> Vec<TestSuite> {
    let mut suites = Vec::new();
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
        suites.push(suite);
    }
    suites
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
        .map(|c| {
            let why = c
                .explain
                .as_ref()
                .map(|e| format!(": {}", e.why))
                .unwrap_or_default();
            format!("{} -> {}: {}{why}", c.src, c.dst, cell_words(c))
        })
        .collect();
    if failing.is_empty() {
        TestCaseStatus::success()
    } else {
        let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
        s.set_message(failing.join("; "));
        // The whole path of each explained cell, in the failure's body.
        let paths: String = cells
            .iter()
            .filter(|c| c.verdict != Verdict::Pass)
            .filter_map(|c| {
                let e = c.explain.as_ref()?;
                Some(format!(
                    "{} -> {} {}/{}:\n{}",
                    c.src,
                    c.dst,
                    c.proto,
                    c.port,
                    e.to_text("  ")
                ))
            })
            .collect();
        if !paths.is_empty() {
            s.set_description(paths);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node_contract::Proto;
    use crate::probe::Observed;
    use crate::verify::Summary;

    fn result(
        src: &str,
        dst: &str,
        port: u16,
        expected: Expected,
        observed: Observed,
        verdict: Verdict,
    ) -> ProbeResult {
        ProbeResult {
            src: src.into(),
            dst: dst.into(),
            proto: Proto::Tcp,
            port,
            expected,
            observed,
            verdict,
            responder: (observed == Observed::Open).then(|| format!("{dst}/svc/{port}")),
            flow: (expected == Expected::Open).then_some(5),
            elapsed_ms: 1.5,
            detail: None,
            retried: verdict != Verdict::Pass,
            explain: None,
        }
    }

    /// A report with one pass, one missing flow and one leak.
    fn sample() -> Vec<Report> {
        let results = vec![
            result(
                "agent-1",
                "ams",
                7780,
                Expected::Open,
                Observed::Open,
                Verdict::Pass,
            ),
            result(
                "agent-2",
                "ams",
                7780,
                Expected::Open,
                Observed::Blocked,
                Verdict::Missing,
            ),
            result(
                "agent-2",
                "ams",
                22,
                Expected::Blocked,
                Observed::Open,
                Verdict::Leak,
            ),
            result(
                "admin",
                "ams",
                22,
                Expected::Blocked,
                Observed::Blocked,
                Verdict::Pass,
            ),
        ];
        let failing = Report {
            scenario: "scenario-2".into(),
            lab: "lab1".into(),
            phase: "base".into(),
            summary: Summary {
                probes: 4,
                passed: 2,
                missing: 1,
                leaks: 1,
                retries: 2,
                answered: 2,
                wall_ms: 512,
                ..Summary::default()
            },
            segments: [
                ("agent-1", "servers"),
                ("agent-2", "servers"),
                ("admin", "admin"),
            ]
            .into_iter()
            .map(|(h, s)| (h.to_string(), s.to_string()))
            .collect(),
            results,
            notes: Vec::new(),
        };
        let mut passing = failing.clone();
        passing.phase = "push-install (closed)".into();
        passing.results.retain(|r| r.verdict == Verdict::Pass);
        passing.summary = Summary {
            probes: 2,
            passed: 2,
            wall_ms: 501,
            ..Summary::default()
        };
        vec![failing, passing]
    }

    #[test]
    fn table_shows_summaries_and_only_failing_cells() {
        insta::assert_snapshot!(render(&sample(), Format::Table));
    }

    #[test]
    fn junit_has_a_case_per_open_cell_and_per_blocked_group() {
        insta::assert_snapshot!(render(&sample(), Format::Junit));
    }

    #[test]
    fn json_of_one_report_is_one_object_and_of_several_an_array() {
        let reports = sample();
        let one: serde_json::Value =
            serde_json::from_str(&render(&reports[..1], Format::Json)).unwrap();
        assert_eq!(one["phase"], "base");
        assert_eq!(one["results"][1]["verdict"], "missing");
        assert_eq!(one["results"][1]["flow"], 5);
        let many: serde_json::Value =
            serde_json::from_str(&render(&reports, Format::Json)).unwrap();
        assert_eq!(many.as_array().map(Vec::len), Some(2));
    }
}

#[cfg(test)]
#[path = "report/grouped_tests.rs"]
mod grouped_tests;
