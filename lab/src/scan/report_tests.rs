use super::*;
use crate::node_contract::Proto::{Tcp, Udp};
use crate::plan::flows_in;
use crate::scan::judge::{judge_target, summarize, unjudged};
use crate::scan::{PortSet, SeenSpan, TargetScan};
use crate::scenario::Scenario;

fn scenario() -> Scenario {
    crate::scenario::load("scenario-3").unwrap()
}

/// `ports` scanned, blocked but for `seen`.
fn scan(ports: RangeInclusive<u16>, seen: &[(u16, u16, Observed)]) -> TargetScan {
    let mut spans = Vec::new();
    let mut next = u32::from(*ports.start());
    let span = |first, last, observed| SeenSpan {
        first,
        last,
        observed,
        detail: (observed == Observed::Rejected)
            .then(|| "admin-prohibited from 198.18.32.3".to_string()),
        stranger: false,
    };
    for &(first, last, observed) in seen {
        if u32::from(first) > next {
            spans.push(span(next as u16, first - 1, Observed::Blocked));
        }
        spans.push(span(first, last, observed));
        next = u32::from(last) + 1;
    }
    if next <= u32::from(*ports.end()) {
        spans.push(span(next as u16, *ports.end(), Observed::Blocked));
    }
    TargetScan {
        id: 0,
        spans,
        rounds: 2,
        packets: 2 * u64::from(ports.end() - ports.start() + 1),
        elapsed: Duration::from_millis(1500),
    }
}

/// What a source saw of a destination, by port range.
type Seen = dyn Fn(&str, &str) -> Vec<(u16, u16, Observed)>;

/// Every pair of scenario-3 over TCP, each seeing what `seen` says of it
/// (blocked when it says nothing); `down` hosts are not running.
fn report(phase: &str, seen: &Seen, down: &[&str]) -> ScanReport {
    let sc = scenario();
    let flows = flows_in(&sc, None).unwrap();
    let pairs =
        crate::scan::select::select_pairs(&sc, &"any".parse().unwrap(), &"any".parse().unwrap())
            .unwrap();
    let pairs: Vec<PairScan> = pairs
        .iter()
        .map(|(s, d)| {
            let (src, dst) = (sc.host(s).unwrap(), sc.host(d).unwrap());
            match down.iter().find(|h| **h == s.as_str() || **h == d.as_str()) {
                Some(h) => unjudged(
                    &sc,
                    &flows,
                    src,
                    dst,
                    Tcp,
                    &PortSet::all(),
                    Observed::HostDown,
                    &format!("{h} is not running (exited)"),
                ),
                None => {
                    let mut expected = seen(s, d);
                    if d == "ams"
                        && s.starts_with("agent")
                        && !expected.iter().any(|e| e.0 <= 7780 && 7780 <= e.1)
                    {
                        expected.push((7780, 7780, Observed::Open));
                        expected.sort_by_key(|e| e.0);
                    }
                    judge_target(&sc, &flows, src, dst, Tcp, &scan(1..=65535, &expected))
                }
            }
        })
        .collect();
    ScanReport {
        lab: "s3".into(),
        scenario: sc.name.clone(),
        phase: phase.into(),
        notes: Vec::new(),
        summary: summarize(&pairs, Duration::from_millis(3210)),
        pairs,
    }
}

fn passing() -> ScanReport {
    report("base", &|_, _| Vec::new(), &[])
}

/// Leaks on both agents from ams and on storage from ams and admin, a
/// missing flow from agent-2 (7780 blocked), and storage down.
fn failing_report() -> ScanReport {
    let mut r = report(
        "push-install (closed)",
        &|s, d| match (s, d) {
            ("ams", "agent-1") => vec![
                (22, 22, Observed::Rejected),
                (30000, 30010, Observed::Open),
                (31000, 31000, Observed::Open),
            ],
            ("ams", "agent-2") => vec![
                (22, 22, Observed::Rejected),
                (3389, 3389, Observed::Open),
                (30000, 30010, Observed::Open),
                (31000, 31000, Observed::Open),
            ],
            ("admin", "agent-2") => vec![(3389, 3389, Observed::Open)],
            ("agent-2", "ams") => vec![(7780, 7780, Observed::Blocked)],
            _ => Vec::new(),
        },
        &["storage"],
    );
    r.notes
        .push("push-install was left open: closed before the scan".into());
    r
}

#[test]
fn summary_line_counts_ports_and_pairs() {
    assert_eq!(
        summary_lines(&[passing()]),
        ["PASS scenario-3 / base  scan: 12 host pairs (tcp), 786420 ports: 0 leaks, 0 missing, 0 misrouted, 3.21 s"]
    );
}

#[test]
fn table_of_a_passing_scan_is_its_summary() {
    insta::assert_snapshot!(render(&[passing()], Format::Table));
}

#[test]
fn table_says_failing_ranges_once_for_the_host_pairs_they_share() {
    insta::assert_snapshot!(render(&[failing_report(), passing()], Format::Table));
}

#[test]
fn misrouted_and_wrong_block_say_what_failed() {
    let mut sc = scenario();
    sc.block = Some(crate::scenario::BlockStyle::Drop);
    let flows = flows_in(&sc, None).unwrap();
    let (a, m) = (sc.host("agent-1").unwrap(), sc.host("ams").unwrap());
    let mut seen = scan(
        7770..=7790,
        &[
            (7780, 7780, Observed::Open),
            (7785, 7786, Observed::Rejected),
        ],
    );
    seen.spans[1].stranger = true;
    seen.spans[1].detail = Some("answered by agent-2".into());
    let p = judge_target(&sc, &flows, a, m, Udp, &seen);
    let said: Vec<String> = failing(&p)
        .iter()
        .map(|(k, r)| format!("{}{}", kind_words(k, r), k.why()))
        .collect();
    assert_eq!(
        said,
        [
            // UDP 7780 is no flow's port: another host answering it leaks.
            "udp 7780 open (no flow) [answered by agent-2]",
            "udp 7785-7786 rejected (no flow; the scenario asks for drop) [admin-prohibited from 198.18.32.3]",
        ]
    );
    let p = judge_target(&sc, &flows, a, m, Tcp, &seen);
    let (k, r) = &failing(&p)[0];
    assert_eq!(
        format!("{}{}", kind_words(k, r), k.why()),
        "tcp 7780 misrouted (flow 5 permits it) [answered by agent-2]"
    );
}

#[test]
fn a_line_says_a_dozen_ranges_and_counts_the_rest() {
    let ranges: Vec<RangeInclusive<u16>> = (0..20u16).map(|i| 100 + 2 * i..=100 + 2 * i).collect();
    assert_eq!(
        ranges_words(&ranges),
        "100, 102, 104, 106, 108, 110, 112, 114, 116, 118, 120, 122 and 8 more ranges (8 ports)"
    );
}

#[test]
fn json_carries_every_range_with_its_verdict() {
    let sc = scenario();
    let flows = flows_in(&sc, None).unwrap();
    let (a, m) = (sc.host("agent-1").unwrap(), sc.host("ams").unwrap());
    let pairs = vec![judge_target(
        &sc,
        &flows,
        a,
        m,
        Tcp,
        &scan(7779..=7782, &[(7782, 7782, Observed::Open)]),
    )];
    let r = ScanReport {
        lab: "s3".into(),
        scenario: sc.name.clone(),
        phase: "base".into(),
        notes: Vec::new(),
        summary: summarize(&pairs, Duration::from_millis(40)),
        pairs,
    };
    let text = render(std::slice::from_ref(&r), Format::Json);
    insta::assert_snapshot!(text);
    let many: serde_json::Value =
        serde_json::from_str(&render(&[r.clone(), r], Format::Json)).unwrap();
    assert_eq!(many.as_array().map(Vec::len), Some(2));
}

#[test]
fn junit_has_a_case_per_pair_and_protocol() {
    insta::assert_snapshot!(render(&[failing_report()], Format::Junit));
}

#[test]
fn markdown_is_the_table_in_a_code_block() {
    let md = render(&[failing_report()], Format::Markdown);
    let table = render(&[failing_report()], Format::Table);
    assert_eq!(md, format!("```text\n{table}```\n"));
}
