use super::*;
use crate::node_contract::Proto::{Tcp, Udp};
use crate::plan::flows_in;
use crate::plan::Expected;
use crate::scenario::BlockStyle;

fn scenario() -> Scenario {
    crate::scenario::load("scenario-3").unwrap()
}

fn span(first: u16, last: u16, observed: Observed) -> SeenSpan {
    SeenSpan {
        first,
        last,
        observed,
        detail: None,
        stranger: false,
    }
}

/// Every port of 1-65535 blocked but `odd`, which saw their own.
fn scan_with(odd: &[SeenSpan]) -> TargetScan {
    let mut spans = Vec::new();
    let mut next = 1u32;
    for s in odd {
        if u32::from(s.first) > next {
            spans.push(span(next as u16, s.first - 1, Observed::Blocked));
        }
        spans.push(s.clone());
        next = u32::from(s.last) + 1;
    }
    if next <= 65535 {
        spans.push(span(next as u16, 65535, Observed::Blocked));
    }
    TargetScan {
        id: 7,
        spans,
        rounds: 2,
        packets: 131_070,
        elapsed: Duration::from_millis(1234),
    }
}

fn judge(sc: &Scenario, phase: Option<&str>, src: &str, dst: &str, scan: &TargetScan) -> PairScan {
    let flows = flows_in(sc, phase).unwrap();
    let (src, dst) = (sc.host(src).unwrap(), sc.host(dst).unwrap());
    judge_target(sc, &flows, src, dst, Tcp, scan)
}

fn failing(p: &PairScan) -> Vec<(u16, u16, Verdict, &str)> {
    p.spans
        .iter()
        .filter(|s| s.verdict != Verdict::Pass)
        .map(|s| (s.first, s.last, s.verdict, s.reason.as_str()))
        .collect()
}

#[test]
fn an_open_range_no_flow_permits_is_one_leak_span() {
    let sc = scenario();
    let scan = scan_with(&[span(30000, 30010, Observed::Open)]);
    let p = judge(&sc, None, "ams", "agent-1", &scan);
    assert_eq!(failing(&p), [(30000, 30010, Verdict::Leak, "no flow")]);
    // Blocked, open, blocked: three spans, nothing else cut them.
    assert_eq!(p.spans.len(), 3);
    assert_eq!((p.spans[0].first, p.spans[2].last), (1, 65535));
    assert_eq!(
        (p.ports, p.rounds, p.packets, p.elapsed_ms),
        (65535, 2, 131_070, 1234)
    );
    assert_eq!(
        (p.src_segment.as_str(), p.dst_segment.as_str()),
        ("mgmt", "sensitive")
    );
    let s = summarize(&[p], Duration::from_millis(3210));
    assert_eq!((s.pairs, s.ports, s.passed, s.leaks), (1, 65535, 65524, 11));
    assert_eq!((s.failed(), s.packets, s.wall_ms), (11, 131_070, 3210));
}

#[test]
fn a_flows_port_is_its_own_span_and_passes_when_open() {
    let sc = scenario();
    let p = judge(
        &sc,
        None,
        "agent-1",
        "ams",
        &scan_with(&[span(7780, 7780, Observed::Open)]),
    );
    assert!(failing(&p).is_empty());
    let own = &p.spans[1];
    assert_eq!((own.first, own.last, own.flow), (7780, 7780, Some(5)));
    assert_eq!(
        (own.expected, own.reason.as_str()),
        (Expected::Open, "flow 5")
    );
    assert_eq!(p.spans[0].reason, "no flow");
    assert_eq!(p.spans.len(), 3);
}

#[test]
fn a_flows_port_blocked_is_missing() {
    let sc = scenario();
    let p = judge(&sc, None, "agent-1", "ams", &scan_with(&[]));
    assert_eq!(failing(&p), [(7780, 7780, Verdict::Missing, "flow 5")]);
    // Blocked everywhere, yet cut around 7780: its expectation differs.
    assert_eq!(p.spans.len(), 3);
    // UDP 7780 is no flow's port: one span.
    let flows = flows_in(&sc, None).unwrap();
    let (a, m) = (sc.host("agent-1").unwrap(), sc.host("ams").unwrap());
    let udp = judge_target(&sc, &flows, a, m, Udp, &scan_with(&[]));
    assert_eq!(udp.spans.len(), 1);
}

#[test]
fn a_phase_flow_opens_its_ports_only_in_that_phase() {
    let sc = scenario();
    let scan = scan_with(&[span(445, 445, Observed::Open)]);
    let base = judge(&sc, None, "ams", "agent-1", &scan);
    assert_eq!(failing(&base), [(445, 445, Verdict::Leak, "no flow")]);
    let push = judge(&sc, Some("push-install"), "ams", "agent-1", &scan);
    let f = failing(&push);
    assert!(
        f.iter().all(|s| s.2 == Verdict::Missing && s.3 == "flow 6"),
        "{f:?}"
    );
    assert!(!f.iter().any(|s| s.0 <= 445 && 445 <= s.1));
}

#[test]
fn a_stranger_answering_is_misrouted_where_open_and_a_leak_where_blocked() {
    let sc = scenario();
    let mut odd = span(7780, 7781, Observed::Open);
    odd.stranger = true;
    odd.detail = Some("answered by agent-2".into());
    let p = judge(&sc, None, "agent-1", "ams", &scan_with(&[odd]));
    assert_eq!(
        failing(&p),
        [
            (7780, 7780, Verdict::Misrouted, "flow 5"),
            (7781, 7781, Verdict::Leak, "no flow")
        ]
    );
    assert_eq!(p.spans[1].detail.as_deref(), Some("answered by agent-2"));
}

#[test]
fn the_scenarios_block_style_judges_how_a_port_is_blocked() {
    let mut sc = scenario();
    let scan = scan_with(&[span(22, 22, Observed::Rejected)]);
    assert!(failing(&judge(&sc, None, "ams", "agent-1", &scan)).is_empty());
    sc.block = Some(BlockStyle::Drop);
    assert_eq!(
        failing(&judge(&sc, None, "ams", "agent-1", &scan)),
        [(22, 22, Verdict::WrongBlock, "no flow")]
    );
    sc.block = Some(BlockStyle::Reject);
    let p = judge(&sc, None, "ams", "agent-1", &scan);
    assert_eq!(
        failing(&p),
        [
            (1, 21, Verdict::WrongBlock, "no flow"),
            (23, 65535, Verdict::WrongBlock, "no flow")
        ]
    );
}

#[test]
fn ports_not_scanned_never_appear() {
    let sc = scenario();
    let scan = TargetScan {
        id: 1,
        spans: vec![
            span(7770, 7790, Observed::Blocked),
            span(9000, 9000, Observed::Open),
        ],
        rounds: 2,
        packets: 44,
        elapsed: Duration::from_millis(80),
    };
    let p = judge(&sc, None, "agent-1", "ams", &scan);
    let ranges: Vec<(u16, u16)> = p.spans.iter().map(|s| (s.first, s.last)).collect();
    assert_eq!(
        ranges,
        [(7770, 7779), (7780, 7780), (7781, 7790), (9000, 9000)]
    );
    assert_eq!(p.ports, 22);
    assert_eq!(
        failing(&p),
        [
            (7780, 7780, Verdict::Missing, "flow 5"),
            (9000, 9000, Verdict::Leak, "no flow")
        ]
    );
}

#[test]
fn a_host_firewall_names_its_own_ports() {
    // scenario-1: agents keep a host firewall; the ams reaches them on the
    // LAN with nothing between but that firewall.
    let sc = crate::scenario::load("scenario-1").unwrap();
    let p = judge(&sc, None, "ams", "agent-1", &scan_with(&[]));
    let reasons: BTreeSet<&str> = p.spans.iter().map(|s| s.reason.as_str()).collect();
    assert!(reasons.contains("host firewall of agent-1"), "{reasons:?}");
    assert_eq!(p.spans[0].first, 1);
    assert_eq!(p.spans.last().unwrap().last, 65535);
    assert!(p.spans.windows(2).all(|w| w[0].last + 1 == w[1].first));
}

#[test]
fn an_unscanned_pair_says_why_on_every_port_with_the_plans_expectations() {
    let sc = scenario();
    let flows = flows_in(&sc, None).unwrap();
    let (a, m) = (sc.host("agent-1").unwrap(), sc.host("ams").unwrap());
    let why = "agent-1 is not running (exited)";
    let p = unjudged(
        &sc,
        &flows,
        a,
        m,
        Tcp,
        &PortSet::all(),
        Observed::HostDown,
        why,
    );
    assert_eq!(p.ports, 65535);
    assert_eq!(p.spans.len(), 3);
    assert!(p.spans.iter().all(|s| s.verdict == Verdict::HostDown
        && s.observed == Observed::HostDown
        && s.detail.as_deref() == Some(why)));
    assert_eq!(p.spans[1].expected, Expected::Open);
    let ports: PortSet = "1-10,20".parse().unwrap();
    let p = unjudged(
        &sc,
        &flows,
        a,
        m,
        Tcp,
        &ports,
        Observed::PathDown,
        "gw-mgmt is paused",
    );
    let ranges: Vec<(u16, u16)> = p.spans.iter().map(|s| (s.first, s.last)).collect();
    assert_eq!(ranges, [(1, 10), (20, 20)]);
    let s = summarize(&[p], Duration::ZERO);
    assert_eq!((s.ports, s.path_down, s.passed), (11, 11, 0));
}

#[test]
fn the_verdicts_agree_with_verifys() {
    use crate::node_contract::Identity;
    use crate::verify::ExpectedResponder;
    let who = ExpectedResponder {
        lab: "l".into(),
        host: "ams".into(),
        service: "catch-all".into(),
        proto: Tcp,
        port: 9,
    };
    let own = Identity {
        lab: who.lab.clone(),
        host: who.host.clone(),
        service: who.service.clone(),
        proto: Tcp,
        port: 9,
    };
    let observed = [
        Observed::Open,
        Observed::Blocked,
        Observed::Rejected,
        Observed::HostDown,
        Observed::PathDown,
        Observed::Error,
    ];
    for e in [Expected::Open, Expected::Blocked] {
        for o in observed {
            for b in [None, Some(BlockStyle::Drop), Some(BlockStyle::Reject)] {
                let theirs = crate::verify::judge(e, o, Some(&own), &who, b);
                assert_eq!(verdict(e, o, false, b), theirs, "{e:?} {o:?} {b:?}");
                let stranger = crate::verify::judge(e, o, None, &who, b);
                assert_eq!(
                    verdict(e, o, true, b),
                    stranger,
                    "{e:?} {o:?} {b:?} stranger"
                );
            }
        }
    }
}
