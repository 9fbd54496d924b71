use super::*;
use crate::trace::{Decision, Walk};

fn sc() -> Scenario {
    crate::scenario::load("scenario-3").unwrap()
}

fn facts(sc: &Scenario, gw: &str) -> NodeFacts {
    let g = sc.gateway(gw).unwrap();
    NodeFacts {
        addresses: g
            .attachments
            .iter()
            .enumerate()
            .map(|(i, a)| (format!("eth{i}"), a.address))
            .collect(),
        platform_tables: [("ip".to_string(), "nat".to_string())].into(),
        ..NodeFacts::default()
    }
}

fn all_facts(sc: &Scenario) -> BTreeMap<String, NodeFacts> {
    sc.gateways
        .iter()
        .map(|g| (g.name.clone(), facts(sc, &g.name)))
        .collect()
}

fn decision(chain: &str, handle: Option<u64>, verdict: &str) -> Decision {
    Decision {
        chain: chain.into(),
        handle,
        rule: None,
        verdict: verdict.into(),
    }
}

fn walk(node: &str, iif: &str, oif: &str, decisions: Vec<Decision>) -> NodeWalk {
    NodeWalk {
        node: node.into(),
        answer: false,
        walk: Walk {
            id: "1".into(),
            flow: None,
            iif: Some(iif.into()),
            oif: Some(oif.into()),
            decisions,
        },
    }
}

fn subject(observed: Observed) -> Subject<'static> {
    Subject {
        src: "agent-1",
        dst: "ams",
        observed,
    }
}

/// Which interface of `gw` is on `segment`, as [`facts`] names them.
fn on(sc: &Scenario, gw: &str, segment: &str) -> String {
    let i = sc
        .gateway(gw)
        .unwrap()
        .attachments
        .iter()
        .position(|a| a.segment == segment)
        .unwrap();
    format!("eth{i}")
}

#[test]
fn the_path_is_the_gateways_in_order_then_a_firewalled_destination() {
    let sc = sc();
    assert_eq!(
        traced_path(&sc, "agent-1", "ams"),
        ["gw-sensitive", "gw-mgmt"]
    );
    assert_eq!(
        traced_path(&sc, "ams", "agent-1"),
        ["gw-mgmt", "gw-sensitive"]
    );
}

#[test]
fn a_policy_drop_names_the_gateway_and_the_chain() {
    let sc = sc();
    let walks = [walk(
        "gw-sensitive",
        &on(&sc, "gw-sensitive", "sensitive"),
        &on(&sc, "gw-sensitive", "transit"),
        vec![
            decision("inet filter forward", None, "drop"),
            decision("ip nat POSTROUTING", None, "accept"),
        ],
    )];
    let e = explain(
        &sc,
        subject(Observed::Blocked),
        &walks,
        &all_facts(&sc),
        &RuleBook::new(),
    );
    assert_eq!(
        e.why,
        "dropped by gw-sensitive: inet filter forward policy drop"
    );
    assert_eq!(
        e.path[0].from.as_ref().unwrap().segment.as_deref(),
        Some("sensitive")
    );
    assert_eq!(
        e.path[0].to.as_ref().unwrap().segment.as_deref(),
        Some("transit")
    );
    assert_eq!(e.path[0].steps.len(), 1, "the platform's chain is left out");
    assert!(!e.path[1].seen);
    insta::assert_snapshot!(e.to_text(""));
}

#[test]
fn a_leak_names_the_accepting_rule_of_every_gateway_with_its_source() {
    let sc = sc();
    let mut rules = RuleBook::new();
    for (gw, h, text, src) in [
        (
            "gw-sensitive",
            5,
            "ip saddr 198.18.31.10 accept",
            Some("allow-all.nft:7"),
        ),
        ("gw-mgmt", 8, "tcp dport 445 accept", None),
    ] {
        rules.entry(gw.to_string()).or_default().insert(
            ("inet".into(), "filter".into(), h),
            NamedRule {
                text: text.into(),
                source: src.map(str::to_string),
            },
        );
    }
    let walks = [
        walk(
            "gw-sensitive",
            "eth0",
            "eth1",
            vec![decision("inet filter forward", Some(5), "accept")],
        ),
        walk(
            "gw-mgmt",
            "eth1",
            "eth0",
            vec![decision("inet filter forward", Some(8), "accept")],
        ),
    ];
    let e = explain(
        &sc,
        subject(Observed::Open),
        &walks,
        &all_facts(&sc),
        &rules,
    );
    assert_eq!(
        e.why,
        "accepted by gw-sensitive: inet filter forward rule `ip saddr 198.18.31.10 accept` \
         (allow-all.nft:7); gw-mgmt: inet filter forward rule `tcp dport 445 accept`"
    );
}

#[test]
fn a_packet_lost_with_no_drop_says_where_it_was_last_seen() {
    let sc = sc();
    let walks = [walk(
        "gw-sensitive",
        &on(&sc, "gw-sensitive", "sensitive"),
        &on(&sc, "gw-sensitive", "transit"),
        vec![decision("inet filter forward", Some(3), "accept")],
    )];
    let e = explain(
        &sc,
        subject(Observed::Blocked),
        &walks,
        &all_facts(&sc),
        &RuleBook::new(),
    );
    assert_eq!(
        e.why,
        "left gw-sensitive towards transit, never reached gw-mgmt (no drop seen)"
    );
    let none = explain(
        &sc,
        subject(Observed::Blocked),
        &[],
        &all_facts(&sc),
        &RuleBook::new(),
    );
    assert_eq!(none.why, "never reached gw-sensitive (no drop seen)");
}

#[test]
fn a_dropped_answer_and_a_reject_are_told_apart() {
    let sc = sc();
    let mut answer = walk(
        "gw-mgmt",
        "eth0",
        "eth1",
        vec![decision("inet filter forward", None, "drop")],
    );
    answer.answer = true;
    let walks = [
        walk(
            "gw-sensitive",
            "eth0",
            "eth1",
            vec![decision("inet filter forward", Some(2), "accept")],
        ),
        walk(
            "gw-mgmt",
            "eth1",
            "eth0",
            vec![decision("inet filter forward", Some(2), "accept")],
        ),
        answer,
    ];
    let e = explain(
        &sc,
        subject(Observed::Blocked),
        &walks,
        &all_facts(&sc),
        &RuleBook::new(),
    );
    assert_eq!(
        e.why,
        "the answer was dropped by gw-mgmt: inet filter forward policy drop"
    );
    let rejected = [walk(
        "gw-sensitive",
        "eth0",
        "eth1",
        vec![decision("inet filter forward", Some(6), "reject")],
    )];
    let e = explain(
        &sc,
        subject(Observed::Rejected),
        &rejected,
        &all_facts(&sc),
        &RuleBook::new(),
    );
    assert_eq!(
        e.why,
        "rejected by gw-sensitive: inet filter forward rule `handle 6` -> reject"
    );
}

fn step(chain: &str, rule: Option<&str>, verdict: &str) -> Step {
    Step {
        chain: chain.into(),
        rule: rule.map(str::to_string),
        source: None,
        verdict: verdict.into(),
    }
}

#[test]
fn a_leak_into_a_firewalled_host_names_the_firewall_rule_not_the_catchall_policy() {
    let allow = "tcp dport { 445, 9850, 25001, 43234 } accept";
    let path = [
        Hop {
            node: "gw-edge".into(),
            seen: true,
            from: None,
            to: None,
            steps: vec![step("inet filter forward", None, "accept")],
            answer: vec![],
        },
        Hop {
            node: "agent-1".into(),
            seen: true,
            from: None,
            to: None,
            steps: vec![
                step("inet seglab_host firewall", Some(allow), "accept"),
                step("inet seglab_host catchall", None, "accept"),
            ],
            answer: vec![],
        },
    ];
    let cell = Subject {
        src: "vendor-dl",
        dst: "agent-1",
        observed: Observed::Open,
    };
    assert_eq!(
        sentence(cell, &path),
        format!(
            "accepted by gw-edge: inet filter forward policy accept; agent-1: inet seglab_host firewall rule `{allow}`"
        )
    );
}

#[test]
fn an_answer_traced_back_is_not_told_as_no_answer() {
    let hop = |node: &str, answer: bool| Hop {
        node: node.into(),
        seen: true,
        from: None,
        to: None,
        steps: vec![step(
            "inet filter forward",
            Some("tcp dport 445 accept"),
            "accept",
        )],
        answer: if answer {
            vec![step(
                "inet filter forward",
                Some("ct state established,related accept"),
                "accept",
            )]
        } else {
            vec![]
        },
    };
    let cell = Subject {
        src: "ams",
        dst: "agent-1",
        observed: Observed::Error,
    };
    assert_eq!(
        sentence(cell, &[hop("gw-mgmt", true), hop("gw-sensitive", true)]),
        "passed gw-sensitive with no drop seen; agent-1's answer came back through gw-sensitive, gw-mgmt, but no service identified itself"
    );
    assert_eq!(
        sentence(cell, &[hop("gw-mgmt", false), hop("gw-sensitive", false)]),
        "passed gw-sensitive with no drop seen; no answer came back from agent-1"
    );
}

#[test]
fn a_probe_every_traced_node_let_through_is_told_apart() {
    let sc = sc();
    let accepted = |node: &str| {
        walk(
            node,
            "eth0",
            "eth1",
            vec![decision("inet filter forward", Some(2), "accept")],
        )
    };
    let both = [accepted("gw-sensitive"), accepted("gw-mgmt")];
    assert_eq!(
        let_through(&sc, "agent-1", "ams", &both),
        Some(vec!["gw-sensitive".to_string(), "gw-mgmt".to_string()])
    );
    // Not seen by the second gateway, or dropped by one: not let through.
    assert_eq!(let_through(&sc, "agent-1", "ams", &both[..1]), None);
    let dropped = [
        accepted("gw-sensitive"),
        walk(
            "gw-mgmt",
            "eth1",
            "eth0",
            vec![decision("inet filter forward", None, "drop")],
        ),
    ];
    assert_eq!(let_through(&sc, "agent-1", "ams", &dropped), None);
    assert_eq!(let_through(&sc, "agent-1", "ams", &[]), None);
    // Two hosts of one segment without a firewall: nothing is traced.
    assert_eq!(let_through(&sc, "agent-1", "agent-2", &[]), None);
}

#[test]
fn a_policy_written_on_a_line_of_its_own_is_told_with_it() {
    // An iptables-save dump writes `:FORWARD DROP [0:0]`: the book has the
    // policy under its key, and the step names it (not as a rule).
    let sc = sc();
    let walks = [walk(
        "gw-sensitive",
        &on(&sc, "gw-sensitive", "sensitive"),
        &on(&sc, "gw-sensitive", "transit"),
        vec![decision("ip filter FORWARD", None, "drop")],
    )];
    let mut rules = RuleBook::new();
    rules.entry("gw-sensitive".into()).or_default().insert(
        super::policy_key("ip", "filter", "FORWARD"),
        NamedRule {
            text: ":FORWARD DROP".into(),
            source: Some("gw.iptables:6".into()),
        },
    );
    let e = explain(
        &sc,
        subject(Observed::Blocked),
        &walks,
        &all_facts(&sc),
        &rules,
    );
    assert_eq!(
        e.why,
        "dropped by gw-sensitive: ip filter FORWARD policy drop (gw.iptables:6)"
    );
    assert_eq!(e.path[0].steps[0].rule, None);
    // Another chain's policy is not this one's.
    let walks = [walk(
        "gw-sensitive",
        &on(&sc, "gw-sensitive", "sensitive"),
        &on(&sc, "gw-sensitive", "transit"),
        vec![decision("ip filter INPUT", None, "drop")],
    )];
    let e = explain(
        &sc,
        subject(Observed::Blocked),
        &walks,
        &all_facts(&sc),
        &rules,
    );
    assert_eq!(
        e.why,
        "dropped by gw-sensitive: ip filter INPUT policy drop"
    );
}
