//! The harness must catch broken rule sets: `seglab test` with deliberately
//! broken gateways reports exactly the failing cells, and a destination
//! killed mid-run is reported as host-down, never as blocked.

mod common;

use common::*;
use seglab::plan::{plan, Expected};
use seglab::scenario::Scenario;
use std::collections::BTreeSet;
use std::time::Duration;

fn cell_line(src: &str, dst: &str, proto: &str, port: u16, verdict: &str) -> String {
    format!("{src}>{dst} {proto}/{port} {verdict}")
}

/// `seglab test SCENARIO --format FORMAT` with `--ruleset` for each target.
fn test_with(scenario: &str, format: &str, rulesets: &[String]) -> std::process::Output {
    let mut cmd = seglab();
    cmd.args(["test", scenario, "--format", format]);
    for r in rulesets {
        cmd.args(["--ruleset", r]);
    }
    cmd.output().unwrap()
}

/// `seglab test SCENARIO` with every gateway's rule set replaced by `file`.
fn test_with_all_gateways(sc: &Scenario, file: &str) -> std::process::Output {
    // A timeout of 2 s, not 500 ms: with four labs coming up beside it, a
    // catch-all's UDP answer came later than 500 ms twice in a row (two of two
    // runs here, with this wave's code and with the last wave's), and a
    // leak whose answer is late is `error`, never `pass`, by design. What
    // this test checks is which cells leak, not how fast a loaded machine
    // answers; a drop is decided by its trace, not by the timeout.
    let mut args: Vec<String> = vec![
        "test".into(),
        sc.name.clone(),
        "--format".into(),
        "json".into(),
        "--timeout".into(),
        "2000".into(),
    ];
    for g in &sc.gateways {
        args.push("--ruleset".into());
        args.push(format!("{}={}", g.name, fixture(file)));
    }
    seglab().args(&args).output().unwrap()
}

/// Cells the policy forbids that cross a gateway and that no host firewall
/// stops: what an allow-all network lets through.
fn cross_segment(sc: &Scenario, expected: Expected, verdict: &str) -> Vec<String> {
    let p = plan(sc, None).unwrap();
    let mut out: Vec<String> = p
        .cells
        .iter()
        .filter(|c| c.expected == expected)
        .filter(|c| sc.host(&c.src).unwrap().segment != sc.host(&c.dst).unwrap().segment)
        .filter(|c| {
            sc.host(&c.dst)
                .unwrap()
                .firewall
                .as_ref()
                .is_none_or(|allow| {
                    allow
                        .iter()
                        .any(|s| s.key.port == c.port && s.key.proto == c.proto)
                })
        })
        .map(|c| cell_line(&c.src, &c.dst, c.proto.as_str(), c.port, verdict))
        .collect();
    out.sort();
    out
}

#[test]
fn allow_all_gateways_leak_everything_the_policy_forbids() {
    if !live(LAB) {
        return;
    }
    for name in ["scenario-1", "scenario-2", "scenario-4"] {
        let sc = seglab::scenario::load(name).unwrap();
        let o = test_with_all_gateways(&sc, "rulesets/allow-all.nft");
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        let reports = reports(&o);
        let base = &reports[0];
        assert_eq!(base["phase"], "base");
        let expected = cross_segment(&sc, Expected::Blocked, "leak");
        assert!(!expected.is_empty());
        if failing(base) != expected {
            // What the cells that differ saw, for the log.
            for r in base["results"].as_array().unwrap() {
                let line = cell_line(
                    r["src"].as_str().unwrap(),
                    r["dst"].as_str().unwrap(),
                    r["proto"].as_str().unwrap(),
                    r["port"].as_u64().unwrap() as u16,
                    "leak",
                );
                if expected.contains(&line) && r["verdict"] != "leak" {
                    eprintln!("{line}: {r}");
                }
            }
        }
        assert_eq!(failing(base), expected, "{name}");
        // The catch-all makes ports outside the catalog visible too.
        let fails = failing(base).join("\n");
        assert!(fails.contains(" tcp/3389 leak"), "{fails}");
        assert!(fails.contains(" udp/161 leak"), "{fails}");
    }
}

#[test]
fn drop_all_gateways_miss_every_cross_segment_flow() {
    if !live(LAB) {
        return;
    }
    for name in ["scenario-2", "scenario-4"] {
        let sc = seglab::scenario::load(name).unwrap();
        let o = test_with_all_gateways(&sc, "rulesets/drop-all.nft");
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        let reports = reports(&o);
        let expected = cross_segment(&sc, Expected::Open, "missing");
        assert!(!expected.is_empty());
        assert_eq!(failing(&reports[0]), expected, "{name}");
    }
}

#[test]
fn one_permitted_port_removed_is_exactly_that_missing_flow() {
    if !live(LAB) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let o = seglab()
        .args(["test", "scenario-2", "--format", "json", "--output"])
        .arg(&json)
        .arg("--ruleset")
        .arg(format!(
            "gw-mgmt={}",
            fixture("rulesets/s2-gw-mgmt-without-7780.nft")
        ))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(
        failing(&report),
        vec![
            cell_line("agent-1", "ams", "tcp", 7780, "missing"),
            cell_line("agent-2", "ams", "tcp", 7780, "missing"),
        ]
    );
    // The terminal gets the table, naming the whitepaper flow of the cells:
    // both agents' pairs on the one line they share.
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(
        table.contains("missing tcp 7780, flow 5: agent-1, agent-2 -> ams"),
        "{table}"
    );
}

#[test]
fn one_extra_port_opened_is_exactly_that_leak() {
    if !live(LAB) {
        return;
    }
    let broken = [format!(
        "gw-edge={}",
        fixture("rulesets/s1-gw-edge-extra-443.nft")
    )];
    let o = test_with("scenario-1", "json", &broken);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let reports = reports(&o);
    assert_eq!(
        failing(&reports[0]),
        vec![cell_line("ams", "vendor-cloud", "tcp", 443, "leak")]
    );
}

#[test]
fn push_install_ports_left_open_after_the_phase_are_leaks() {
    if !live(LAB) {
        return;
    }
    let noop = fixture("rulesets/noop.nft");
    let o = seglab()
        .args(["test", "scenario-3", "--format", "json"])
        .args(["--ruleset", &format!("gw-mgmt@push-install:close={noop}")])
        .args([
            "--ruleset",
            &format!("gw-sensitive@push-install:close={noop}"),
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let reports = reports(&o);
    let phases: Vec<&str> = reports
        .iter()
        .map(|r| r["phase"].as_str().unwrap())
        .collect();
    assert_eq!(phases, ["base", "push-install", "push-install (closed)"]);
    assert_eq!(failing(&reports[0]), Vec::<String>::new());
    assert_eq!(failing(&reports[1]), Vec::<String>::new());
    let mut expected = Vec::new();
    for agent in ["agent-1", "agent-2"] {
        for port in [445, 25001, 43234] {
            expected.push(cell_line("ams", agent, "tcp", port, "leak"));
        }
    }
    expected.sort();
    assert_eq!(failing(&reports[2]), expected);
}

#[test]
fn a_destination_killed_mid_run_is_host_down_not_blocked() {
    if !live(LAB) {
        return;
    }
    let guard = up("scenario-2", "kill", &[]);
    let lab = guard.0.clone();
    let o = verify_while_killing(&lab, "storage");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let report = &reports(&o)[0];
    let mut verdicts_with_storage = BTreeSet::new();
    for r in report["results"].as_array().unwrap() {
        let involves = r["src"] == "storage" || r["dst"] == "storage";
        if involves {
            verdicts_with_storage.insert(r["verdict"].as_str().unwrap().to_string());
            assert_eq!(r["observed"], "host-down", "{r}");
        } else {
            assert_eq!(r["verdict"], "pass", "{r}");
        }
    }
    assert_eq!(
        verdicts_with_storage,
        BTreeSet::from(["host-down".to_string()])
    );
    assert!(report["summary"]["host_down"].as_u64().unwrap() > 0);
}

#[test]
fn a_leak_whose_destination_stays_silent_is_never_a_pass() {
    if !live(LAB) {
        return;
    }
    // Both gateways let everything through; ams is frozen, so nothing
    // answers what reaches it (its kernel still completes TCP handshakes).
    let allow = fixture("rulesets/allow-all.nft");
    let guard = up(
        "scenario-3",
        "silent",
        &[
            "--ruleset",
            &format!("gw-mgmt={allow}"),
            "--ruleset",
            &format!("gw-sensitive={allow}"),
        ],
    );
    let lab = guard.0.clone();
    docker(&["pause", &container(&lab, "ams")]);
    let o = seglab()
        .args(["verify", &lab, "--format", "json"])
        .output()
        .unwrap();
    docker(&["unpause", &container(&lab, "ams")]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let report = &reports(&o)[0];
    let mut udp = 0;
    for r in report["results"].as_array().unwrap() {
        if r["dst"] != "ams" || r["src"] == "admin" || r["expected"] != "blocked" {
            continue;
        }
        // Silence is no block once the traced gateways let it through.
        assert_ne!(r["verdict"], "pass", "{r}");
        if r["proto"] == "udp" {
            udp += 1;
            assert_eq!(r["observed"], "error", "{r}");
            let detail = r["detail"].as_str().unwrap();
            assert!(
                detail.contains("gw-sensitive, gw-mgmt let it through, but no answer came within"),
                "{r}"
            );
        }
    }
    assert!(udp > 0);
}

#[test]
fn reports_come_as_junit_for_ci() {
    if !live(LAB) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report.xml");
    let o = seglab()
        .args(["test", "scenario-2", "--format", "junit", "--output"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let xml = std::fs::read_to_string(&out).unwrap();
    assert!(
        xml.contains("<testsuite name=\"scenario-2 / base\""),
        "{xml}"
    );
    assert!(
        xml.contains("open agent-1 -&gt; ams tcp/7780 (flow 5)")
            || xml.contains("open agent-1 -> ams tcp/7780 (flow 5)"),
        "{xml}"
    );
    assert!(
        xml.contains("blocked segment servers -&gt; ams")
            || xml.contains("blocked segment servers -> ams"),
        "{xml}"
    );
    assert!(!xml.contains("<failure"), "{xml}");
    // The terminal still gets the summary line.
    assert!(String::from_utf8_lossy(&o.stdout).contains("PASS scenario-2 / base"));
}

#[test]
fn a_changed_console_port_moves_policy_stubs_and_rules_together() {
    if !live(LAB) {
        return;
    }
    let o = seglab()
        .args([
            "test",
            "scenario-2",
            "--param",
            "console_port=10443",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let reports = reports(&o);
    let cell = |port: u64| {
        reports[0]["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| {
                r["src"] == "admin" && r["dst"] == "ams" && r["proto"] == "tcp" && r["port"] == port
            })
            .cloned()
    };
    let moved = cell(10443).expect("the new console port is probed");
    assert_eq!(moved["expected"], "open");
    assert_eq!(moved["verdict"], "pass");
    assert_eq!(moved["responder"], "ams/console/10443");
    // 9877 stays in the catalog (the catalog service's port) and is closed now.
    let old = cell(9877).expect("9877 is still probed");
    assert_eq!(old["expected"], "blocked");
    assert_eq!(old["verdict"], "pass");
}

#[test]
fn a_phase_that_fails_to_open_is_bad_input_and_leaves_the_base_in_place() {
    if !live(LAB) {
        return;
    }
    let lab = unique("badphase");
    let _guard = LabGuard(lab.clone());
    let bad = format!(
        "gw-sensitive@push-install={}",
        fixture("rulesets/syntax-error.nft")
    );
    let o = run(&["up", "scenario-3", "--name", &lab, "--ruleset", &bad]);
    assert!(o.status.success(), "{}", text(&o));
    let o = run(&["verify", &lab, "--phase", "push-install"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("syntax-error.nft:"),
        "{}",
        text(&o)
    );
    // gw-mgmt opened before gw-sensitive refused: it was put back.
    let rules = in_netns(&lab, "gw-mgmt", &["nft", "list", "ruleset"]);
    assert!(
        rules.contains("7780") && !rules.contains("25001"),
        "{rules}"
    );
    let o = run(&["verify", &lab]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn ctrl_c_during_a_phase_closes_the_phase() {
    if !live(LAB) {
        return;
    }
    let guard = up("scenario-3", "phasectrlc", &[]);
    let lab = guard.0.clone();
    // A long timeout keeps the phase open while we interrupt.
    let child = seglab()
        .args([
            "verify",
            &lab,
            "--phase",
            "push-install",
            "--timeout",
            "5000",
            // No drop evidence: the dropped probes keep the phase open.
            "--no-trace",
        ])
        .spawn()
        .unwrap();
    let opened = std::time::Instant::now();
    while !in_netns(&lab, "gw-mgmt", &["nft", "list", "ruleset"]).contains("25001") {
        assert!(
            opened.elapsed() < Duration::from_secs(60),
            "the phase never opened"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", text(&o));
    for gw in ["gw-mgmt", "gw-sensitive"] {
        let rules = in_netns(&lab, gw, &["nft", "list", "ruleset"]);
        assert!(
            rules.contains("7780") && !rules.contains("25001"),
            "{gw}: {rules}"
        );
    }
}

#[test]
fn the_rendered_reference_rule_sets_implement_the_policy() {
    if !live(LAB) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for name in ["scenario-2", "scenario-4"] {
        let sc = seglab::scenario::load(name).unwrap();
        let mut rulesets = Vec::new();
        for g in &sc.gateways {
            let file = dir.path().join(format!("{name}-{}.nft", g.name));
            let o = run(&["render", name, "--gateway", &g.name]);
            assert!(o.status.success(), "{}", text(&o));
            std::fs::write(&file, &o.stdout).unwrap();
            rulesets.push(format!("{}={}", g.name, file.display()));
        }
        let o = test_with(name, "json", &rulesets);
        assert!(o.status.success(), "{name}: {}", text(&o));
        let phases = reports(&o).len();
        assert_eq!(phases, 1 + 2 * sc.phases.len(), "{name}");
    }
}
