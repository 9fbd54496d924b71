//! Named gateway interfaces and fixed subnets, live: a customer's rule set
//! that matches on its own interface names and literal addresses passes as
//! it is; the gateway carries the names; paths print them; and a second lab
//! of the same fixture is refused (exit 2), leaving nothing, since its
//! subnets cannot move.

mod common;

use common::*;

/// A lab name of this test file (prefix `if-`), unique per process.
fn lab_name(tag: &str) -> String {
    format!("if-{}-{tag}", std::process::id())
}

fn up_named(scenario: &str, tag: &str) -> LabGuard {
    let guard = LabGuard(lab_name(tag));
    let o = run(&["up", scenario, "--name", &guard.0]);
    assert!(o.status.success(), "{}", text(&o));
    guard
}

#[test]
fn a_customer_rule_set_on_named_interfaces_and_its_own_subnets_passes() {
    if !live(LAB) {
        return;
    }
    let scenario = fixture("customer-nft");
    let guard = up_named(&scenario, "acme");
    let lab = guard.0.as_str();

    // Every cell passes: the rules match `iifname "lan0"` and 10.61.x.
    let o = run(&["verify", lab, "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    for r in reports(&o) {
        assert_eq!(failing(&r), Vec::<String>::new(), "{r}");
    }

    // The gateway's interfaces carry the scenario's names.
    let o = run(&["exec", lab, "fw01", "--", "ip", "-br", "link"]);
    assert!(o.status.success(), "{}", text(&o));
    let links = String::from_utf8_lossy(&o.stdout);
    let mut names: Vec<&str> = links
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(|n| n.split('@').next().unwrap_or(n))
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["dmz0", "lan0", "lo", "wan0"], "{links}");
    // Hosts keep the platform's names.
    let o = run(&["exec", lab, "ams", "--", "ip", "-br", "link"]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("eth0"),
        "{}",
        text(&o)
    );

    // The path of a cell names them.
    let o = explain(lab, &["ams", "licensing", "tcp/443"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("\n  fw01 in dmz0 (dmz), out wan0 (wan)\n"),
        "{out}"
    );
    assert!(out.contains("fw01.nft:15)"), "{out}");

    // A second lab of the fixture cannot move: refused, nothing of it left.
    let second = lab_name("acme-again");
    let _guard2 = LabGuard(second.clone());
    let o = run(&["up", &scenario, "--name", &second]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    for want in [
        format!("lab {second}: its rule sets write addresses of its segments as literals"),
        format!("segment lan 10.61.0.0/24 collides with lab {lab} segment lan (10.61.0.0/24)"),
        "fw01.nft:11: 10.61.0.20 (segment lan)".to_string(),
        format!("or take the other lab down (seglab down {lab})."),
    ] {
        assert!(err.contains(&want), "{want:?} in\n{err}");
    }
    assert_eq!(leftovers(&second), (0, 0));

    // The first lab is untouched, and leaves nothing once down (its renamed
    // interfaces included: no network is left with stale endpoints).
    let o = run(&["verify", lab]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = run(&["down", lab]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(leftovers(lab), (0, 0));
}

#[test]
fn a_lab_without_literal_addresses_still_moves_and_its_gateways_are_named() {
    if !live(LAB) {
        return;
    }
    // scenario-3's rule sets use defines only: two labs side by side, the
    // second moved, both with interfaces named after their segments.
    let a = up_named("scenario-3", "s3a");
    let b = up_named("scenario-3", "s3b");
    for lab in [&a.0, &b.0] {
        let o = run(&["exec", lab, "gw-sensitive", "--", "ip", "-br", "addr"]);
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(out.contains("sensitive@"), "{}", text(&o));
        assert!(out.contains("transit@"), "{}", text(&o));
        let o = run(&["verify", lab]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    }
    for lab in [&a.0, &b.0] {
        let o = run(&["down", lab]);
        assert!(o.status.success(), "{}", text(&o));
        assert_eq!(leftovers(lab), (0, 0));
    }
}
