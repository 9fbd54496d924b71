//! The grouped table and Markdown of a large synthetic report: the
//! allow-all case of issue 10 (every blocked cell between mgmt and
//! sensitive leaks, both ways), plus a missing flow, a misrouted cell and
//! cells behind a stopped gateway.

use super::*;
use crate::node_contract::Proto;
use crate::probe::Observed;
use crate::trace::explain::Explanation;
use crate::verify::Summary;

const TCP: [u16; 11] = [22, 25, 80, 111, 139, 443, 445, 3389, 5985, 8080, 44445];

fn cell(src: &str, dst: &str, proto: Proto, port: u16, verdict: Verdict) -> ProbeResult {
    let (expected, observed) = match verdict {
        Verdict::Pass => (Expected::Open, Observed::Open),
        Verdict::Leak => (Expected::Blocked, Observed::Open),
        Verdict::Missing => (Expected::Open, Observed::Blocked),
        Verdict::Misrouted => (Expected::Open, Observed::Open),
        _ => (Expected::Blocked, Observed::PathDown),
    };
    ProbeResult {
        src: src.into(),
        dst: dst.into(),
        proto,
        port,
        expected,
        observed,
        verdict,
        responder: (observed == Observed::Open).then(|| format!("{dst}/catch-all/{port}")),
        flow: (expected == Expected::Open).then_some(5),
        elapsed_ms: 1.0,
        detail: None,
        retried: verdict != Verdict::Pass,
        explain: None,
    }
}

fn why(text: &str) -> Option<Explanation> {
    Some(Explanation {
        why: text.into(),
        path: Vec::new(),
    })
}

/// Three mgmt hosts and ten sensitive ones; each sensitive host has one
/// catalog port of its own that a flow permits, so the leaks of each
/// destination differ by one port: ten lines per direction, more than the
/// cap says.
fn allow_all() -> Report {
    let mgmt = ["admin", "jump", "bastion"];
    let sensitive: Vec<String> = (1..=10).map(|i| format!("agent-{i}")).collect();
    let mut results = Vec::new();
    let mut segments = BTreeMap::new();
    for m in mgmt {
        segments.insert(m.to_string(), "mgmt".to_string());
    }
    for (i, s) in sensitive.iter().enumerate() {
        segments.insert(s.clone(), "sensitive".to_string());
        for m in mgmt {
            for (j, &port) in TCP.iter().enumerate() {
                let (a, b) = (m, s.as_str());
                for (src, dst, gw) in [(a, b, "gw-sensitive"), (b, a, "gw-mgmt")] {
                    let mut c = if i == j {
                        cell(src, dst, Proto::Tcp, port, Verdict::Pass)
                    } else {
                        cell(src, dst, Proto::Tcp, port, Verdict::Leak)
                    };
                    if c.verdict == Verdict::Leak {
                        c.explain = why(&format!(
                            "accepted by {gw}: inet filter forward rule `accept` (allow-all.nft:7)"
                        ));
                    }
                    results.push(c);
                }
            }
            results.push(cell(m, s, Proto::Udp, 161, Verdict::Leak));
        }
    }
    segments.insert("ams".into(), "sensitive".into());
    segments.insert("web-1".into(), "dmz".into());
    let mut missing = cell("agent-1", "ams", Proto::Tcp, 7780, Verdict::Missing);
    missing.explain = why("dropped by gw-sensitive: inet filter forward policy drop");
    results.push(missing);
    let mut wrong = cell("agent-2", "ams", Proto::Tcp, 7780, Verdict::Misrouted);
    wrong.responder = Some("agent-9/catch-all/7780".into());
    results.push(wrong);
    for port in [80, 443] {
        let mut down = cell("web-1", "admin", Proto::Tcp, port, Verdict::PathDown);
        down.detail = Some("gw-mgmt is not running (exited)".into());
        results.push(down);
    }
    let count = |v: Verdict| results.iter().filter(|c| c.verdict == v).count();
    let summary = Summary {
        probes: results.len(),
        passed: count(Verdict::Pass),
        missing: count(Verdict::Missing),
        leaks: count(Verdict::Leak),
        misrouted: count(Verdict::Misrouted),
        path_down: count(Verdict::PathDown),
        retries: results.len() - count(Verdict::Pass),
        wall_ms: 2345,
        ..Summary::default()
    };
    Report {
        scenario: "scenario-3".into(),
        lab: "s3".into(),
        phase: "base".into(),
        summary,
        results,
        notes: Vec::new(),
        segments,
    }
}

fn passing() -> Report {
    let mut r = allow_all();
    r.phase = "push-install (closed)".into();
    r.results.retain(|c| c.verdict == Verdict::Pass);
    r.summary = Summary {
        probes: r.results.len(),
        passed: r.results.len(),
        wall_ms: 1000,
        ..Summary::default()
    };
    r
}

#[test]
fn grouped_table_says_the_segment_pairs_wide_open_within_the_cap() {
    insta::assert_snapshot!(render(&[allow_all(), passing()], Format::Table));
}

#[test]
fn verbose_table_names_every_host_pair_and_port() {
    let style = Style {
        verbose: true,
        colour: false,
    };
    let text = render_styled(&[allow_all()], Format::Table, &style);
    assert!(!text.contains('…'), "{text}");
    for i in 1..=10 {
        assert!(
            text.contains(&format!("agent-{i} -> admin, jump, bastion"))
                || text.contains(&format!("agent-{i} -> admin")),
            "agent-{i}: {text}"
        );
    }
    insta::assert_snapshot!(text);
}

#[test]
fn colours_wrap_verdicts_and_leave_the_words() {
    let style = Style {
        verbose: false,
        colour: true,
    };
    let text = render_styled(&[allow_all()], Format::Table, &style);
    assert!(
        text.starts_with("\x1b[31mFAIL\x1b[0m scenario-3 / base"),
        "{text}"
    );
    assert!(text.contains("\x1b[31mleak\x1b[0m tcp "), "{text}");
    let plain = render(&[allow_all()], Format::Table);
    let stripped = text
        .replace("\x1b[31m", "")
        .replace("\x1b[33m", "")
        .replace("\x1b[35m", "")
        .replace("\x1b[32m", "")
        .replace("\x1b[1m", "")
        .replace("\x1b[0m", "");
    assert_eq!(stripped, plain);
}

#[test]
fn markdown_has_the_summary_table_and_the_grouped_failures() {
    insta::assert_snapshot!(render(&[allow_all(), passing()], Format::Markdown));
}

/// Scenario-3 with both gateways forwarding everything, against the
/// in-memory backend (every probe answered): what issue 10's user saw as
/// 358 leaks in a wall of text reads as two segment pairs wide open.
#[tokio::test]
async fn scenario_3_wide_open_reads_as_two_segment_pairs() {
    use crate::cancel::Cancel;
    use crate::runtime::fake::FakeBackend;
    use crate::runtime::UpOptions;
    let sc = crate::scenario::load("scenario-3").unwrap();
    let b = FakeBackend::new(|_, _, _, _, _| Observed::Open);
    let opts = UpOptions {
        node_binary: std::path::PathBuf::new(),
    };
    crate::lab::up_or_clean(&b, "s3-open", &sc, &opts, &|_| {}, &Cancel::never())
        .await
        .unwrap();
    let reports = crate::verify::verify_lab(&b, "s3-open", None, Default::default())
        .await
        .unwrap();
    let mut base = reports[0].clone();
    base.summary.wall_ms = 0;
    assert_eq!(base.summary.leaks, 358);
    let text = render(&[base], Format::Table);
    for segs in ["mgmt -> sensitive: ", "sensitive -> mgmt: "] {
        let line = text.lines().find(|l| l.trim_start().starts_with(segs));
        assert!(
            line.is_some_and(|l| l.ends_with("every blocked cell opened")),
            "{text}"
        );
    }
    insta::assert_snapshot!(text);
}
