//! Every failing cell says why: the gateway, chain and rule (with its file
//! and line) or the policy that decided, and `seglab explain` says the same
//! for any one cell. Tracing never changes a verdict: a run without it
//! judges every cell the same.

mod common;

use common::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::process::{Command, Output};

const POLICY_DROP_SENSITIVE: &str = "dropped by gw-sensitive: inet filter forward policy drop";
const HOST_DROP_RULE: &str = "meta l4proto { tcp, udp } drop";

fn test_cmd(scenario: &str, format: &str, rulesets: &[String], extra: &[&str]) -> Command {
    let mut cmd = seglab();
    cmd.args(["test", scenario, "--format", format]).args(extra);
    for r in rulesets {
        cmd.args(["--ruleset", r]);
    }
    cmd
}

fn ruleset(gateway: &str, file: &str) -> String {
    format!("{gateway}={}", fixture(file))
}

fn cell<'a>(report: &'a Value, src: &str, dst: &str, proto: &str, port: u16) -> &'a Value {
    report["results"]
        .as_array()
        .expect("results")
        .iter()
        .find(|r| r["src"] == src && r["dst"] == dst && r["proto"] == proto && r["port"] == port)
        .unwrap_or_else(|| panic!("no cell {src}>{dst} {proto}/{port}"))
}

fn phases(reports: &[Value]) -> Vec<&str> {
    reports
        .iter()
        .map(|r| r["phase"].as_str().unwrap())
        .collect()
}

#[test]
fn a_removed_permitted_port_is_explained_by_the_forward_policy_drop() {
    if !live(LAB) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let fixture = ruleset("gw-sensitive", "rulesets/s3-gw-sensitive-without-7780.nft");
    let o = test_cmd("scenario-3", "json", &[fixture], &[])
        .arg("--output")
        .arg(&json)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let reports = match serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap() {
        Value::Array(a) => a,
        one => vec![one],
    };
    assert_eq!(
        phases(&reports),
        ["base", "push-install", "push-install (closed)"]
    );
    // The agents' ZMQ crosses gw-sensitive first: its policy drops it and
    // gw-mgmt never sees it.
    let path = json!([
        {
            "node": "gw-sensitive",
            "seen": true,
            "from": {"interface": "sensitive", "segment": "sensitive"},
            "to": {"interface": "transit", "segment": "transit"},
            "steps": [{"chain": "inet filter forward", "verdict": "drop"}],
        },
        {"node": "gw-mgmt", "seen": false, "steps": []},
    ]);
    for report in &reports {
        assert_eq!(
            failing(report),
            [
                "agent-1>ams tcp/7780 missing",
                "agent-2>ams tcp/7780 missing"
            ],
            "{}",
            report["phase"]
        );
        for agent in ["agent-1", "agent-2"] {
            let c = cell(report, agent, "ams", "tcp", 7780);
            assert_eq!(c["explain"]["why"], POLICY_DROP_SENSITIVE, "{c}");
            assert_eq!(c["explain"]["path"], path, "{c}");
        }
        // Passing cells carry no explanation.
        let explained = report["results"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| !r["explain"].is_null())
            .count();
        assert_eq!(explained, 2, "{}", report["phase"]);
    }
    // The table says it once under the group of the cells it explains.
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(
        table.contains(&format!(
            "why tcp 7780, 2 host pairs: {POLICY_DROP_SENSITIVE}"
        )),
        "{table}"
    );
}

#[test]
fn an_added_port_is_explained_by_its_rule_with_file_and_line() {
    if !live(LAB) {
        return;
    }
    let mgmt = fixture("rulesets/s3-gw-mgmt-extra-445.nft");
    let sensitive = fixture("rulesets/s3-gw-sensitive-extra-445.nft");
    // The added line is line 12 of both fixtures.
    let at = |file: &str| format!("{file}:12");
    // A leak in scenario 3 needs both gateways to let it through.
    let o = test_cmd(
        "scenario-3",
        "json",
        &[
            format!("gw-mgmt={mgmt}"),
            format!("gw-sensitive={sensitive}"),
        ],
        &[],
    )
    .output()
    .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let reports = reports(&o);
    assert_eq!(
        phases(&reports),
        ["base", "push-install", "push-install (closed)"]
    );
    // The phase opens 445 anyway; before and after it, it is a leak.
    assert_eq!(failing(&reports[1]), Vec::<String>::new());
    for report in [&reports[0], &reports[2]] {
        assert_eq!(
            failing(report),
            ["ams>agent-1 tcp/445 leak", "ams>agent-2 tcp/445 leak"],
            "{}",
            report["phase"]
        );
        for agent in ["agent-1", "agent-2"] {
            let e = &cell(report, "ams", agent, "tcp", 445)["explain"];
            let why = e["why"].as_str().expect("why");
            assert!(
                why.starts_with("accepted by gw-mgmt: inet filter forward rule `ip saddr "),
                "{why}"
            );
            assert!(
                why.contains(&format!(" tcp dport 445 accept` ({}); gw-sensitive: inet filter forward rule `ip saddr ", at(&mgmt))),
                "{why}"
            );
            assert!(
                why.ends_with(&format!(" tcp dport 445 accept` ({})", at(&sensitive))),
                "{why}"
            );
            let hops: Vec<&str> = e["path"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| h["node"].as_str().unwrap())
                .collect();
            assert_eq!(hops, ["gw-mgmt", "gw-sensitive"], "{e}");
            for (hop, file) in e["path"]
                .as_array()
                .unwrap()
                .iter()
                .zip([&mgmt, &sensitive])
            {
                assert_eq!(hop["seen"], true, "{e}");
                let steps = hop["steps"].as_array().unwrap();
                assert_eq!(steps.len(), 1, "{e}");
                assert_eq!(steps[0]["chain"], "inet filter forward");
                assert_eq!(steps[0]["source"], at(file));
                assert_eq!(steps[0]["verdict"], "accept");
                let rule = steps[0]["rule"].as_str().unwrap();
                assert!(rule.ends_with(" tcp dport 445 accept"), "{rule}");
                // The answer went back through the fixture's conntrack rule.
                assert_eq!(hop["answer"][0]["source"], format!("{file}:8"), "{e}");
            }
        }
    }

    // Added to gw-mgmt alone it leaks nothing, and explain shows where it
    // got: through gw-mgmt by the added rule, then gw-sensitive's policy.
    let guard = up(
        "scenario-3",
        "hd-add",
        &["--ruleset", &format!("gw-mgmt={mgmt}")],
    );
    let v = explain_json(&guard.0, &["ams", "agent-1", "tcp/445"]);
    assert_eq!(v["observed"], "blocked", "{v}");
    assert_eq!(v["expected"], "blocked", "{v}");
    assert_eq!(v["verdict"], "pass", "{v}");
    assert_eq!(v["explain"]["why"], POLICY_DROP_SENSITIVE, "{v}");
    let path = v["explain"]["path"].as_array().unwrap();
    assert_eq!(path[0]["node"], "gw-mgmt", "{v}");
    assert_eq!(path[0]["steps"][0]["source"], at(&mgmt), "{v}");
    assert_eq!(path[0]["steps"][0]["verdict"], "accept", "{v}");
    assert_eq!(path[1]["node"], "gw-sensitive", "{v}");
    assert_eq!(
        path[1]["steps"],
        json!([{"chain": "inet filter forward", "verdict": "drop"}]),
        "{v}"
    );
}

#[test]
fn a_host_firewall_drop_names_the_host_and_its_rule() {
    if !live(LAB) {
        return;
    }
    // An edge that forwards everything: only the admin's own firewall is
    // left to stop the internet.
    let edge = fixture("rulesets/allow-all.nft");
    let guard = up(
        "scenario-1",
        "hd-hostfw",
        &["--ruleset", &format!("gw-edge={edge}")],
    );
    let lab = &guard.0;
    let why = format!("dropped by admin: inet seglab_host firewall rule `{HOST_DROP_RULE}`");
    let host_hop = json!({
        "node": "admin",
        "seen": true,
        "from": {"interface": "eth0", "segment": "lan"},
        "steps": [{"chain": "inet seglab_host firewall", "rule": HOST_DROP_RULE, "verdict": "drop"}],
    });

    let v = explain_json(lab, &["vendor-dl", "admin", "tcp/22"]);
    assert_eq!(v["expected"], "blocked", "{v}");
    assert_eq!(v["reason"], "host firewall of admin", "{v}");
    assert_eq!(v["observed"], "blocked", "{v}");
    assert_eq!(v["verdict"], "pass", "{v}");
    assert_eq!(v["explain"]["why"], why, "{v}");
    let path = v["explain"]["path"].as_array().unwrap();
    assert_eq!(path.len(), 2, "{v}");
    assert_eq!(path[0]["node"], "gw-edge", "{v}");
    assert_eq!(
        path[0]["steps"],
        json!([{"chain": "inet filter forward", "verdict": "accept"}]),
        "{v}"
    );
    assert_eq!(path[1], host_hop, "{v}");

    // What the edge lets through and the host firewall serves is a leak:
    // the host's accepting rule says why, not the policy of seglab's own
    // catch-all chain after it.
    let v = explain_json(lab, &["vendor-dl", "agent-1", "tcp/445"]);
    assert_eq!(
        (&v["observed"], &v["verdict"]),
        (&json!("open"), &json!("leak")),
        "{v}"
    );
    assert_eq!(
        v["explain"]["why"],
        "accepted by gw-edge: inet filter forward policy accept; agent-1: inet seglab_host firewall rule `tcp dport { 445, 9850, 25001, 43234 } accept`",
        "{v}"
    );

    // Inside the LAN no gateway is on the path: the host alone decides.
    let v = explain_json(lab, &["ams", "admin", "tcp/22"]);
    assert_eq!(v["reason"], "host firewall of admin", "{v}");
    assert_eq!(v["explain"]["why"], why, "{v}");
    assert_eq!(v["explain"]["path"], json!([host_hop]), "{v}");

    let o = explain(lab, &["ams", "admin", "tcp/22"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("expected: blocked (host firewall of admin)"),
        "{out}"
    );
    assert!(out.contains(&format!("why:      {why}")), "{out}");
    assert!(
        out.contains(&format!(
            "  admin in eth0 (lan)\n    inet seglab_host firewall rule `{HOST_DROP_RULE}`"
        )),
        "{out}"
    );
}

/// Every cell of every phase as (src, dst, proto, port) -> (observed, verdict).
type Cells = BTreeMap<String, BTreeMap<(String, String, String, u64), (String, String)>>;

fn cells(o: &Output) -> Cells {
    reports(o)
        .iter()
        .map(|r| {
            let cells = r["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| {
                    let s = |k: &str| c[k].as_str().unwrap().to_string();
                    (
                        (s("src"), s("dst"), s("proto"), c["port"].as_u64().unwrap()),
                        (s("observed"), s("verdict")),
                    )
                })
                .collect();
            (r["phase"].as_str().unwrap().to_string(), cells)
        })
        .collect()
}

#[test]
fn a_run_without_tracing_judges_every_cell_the_same() {
    if !live(LAB) {
        return;
    }
    let runs: Vec<(&str, Vec<String>, i32)> = vec![
        ("scenario-4", vec![], 0),
        (
            "scenario-3",
            vec![ruleset(
                "gw-sensitive",
                "rulesets/s3-gw-sensitive-without-7780.nft",
            )],
            1,
        ),
        (
            "scenario-3",
            vec![
                ruleset("gw-mgmt", "rulesets/s3-gw-mgmt-extra-445.nft"),
                ruleset("gw-sensitive", "rulesets/allow-all.nft"),
            ],
            1,
        ),
    ];
    // All runs at once: each is its own lab.
    let children: Vec<_> = runs
        .iter()
        .flat_map(|(scenario, rulesets, _)| {
            [&[][..], &["--no-trace"][..]].map(|extra| {
                test_cmd(scenario, "json", rulesets, extra)
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
        })
        .collect();
    let outputs: Vec<Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    for ((scenario, rulesets, code), pair) in runs.iter().zip(outputs.chunks(2)) {
        let (traced, untraced) = (&pair[0], &pair[1]);
        assert_eq!(traced.status.code(), Some(*code), "{}", text(traced));
        assert_eq!(untraced.status.code(), Some(*code), "{}", text(untraced));
        let (a, b) = (cells(traced), cells(untraced));
        assert!(a.values().all(|c| !c.is_empty()), "{scenario} {rulesets:?}");
        assert_eq!(a, b, "{scenario} {rulesets:?}");
        let fails = |o: &Output| reports(o).iter().map(failing).collect::<Vec<_>>();
        assert_eq!(*code != 0, fails(traced).iter().any(|f| !f.is_empty()));
        // Traced, every failing cell is explained; untraced, none is.
        for r in reports(traced) {
            for c in r["results"].as_array().unwrap() {
                assert_eq!(
                    c["verdict"] != "pass",
                    c["explain"]["why"].is_string(),
                    "{c}"
                );
            }
        }
        for r in reports(untraced) {
            for c in r["results"].as_array().unwrap() {
                assert!(c["explain"].is_null(), "{c}");
            }
        }
    }
}

#[test]
fn junit_failure_messages_carry_the_explanation() {
    if !live(LAB) {
        return;
    }
    let fixture = ruleset("gw-sensitive", "rulesets/s3-gw-sensitive-without-7780.nft");
    let o = test_cmd("scenario-3", "junit", &[fixture], &[])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let xml = String::from_utf8_lossy(&o.stdout);
    let failure = |agent: &str| {
        format!(
            "<failure message=\"{agent} -&gt; ams: missing tcp/7780 (flow 5): {POLICY_DROP_SENSITIVE}\">{agent} -&gt; ams tcp/7780:\n  {POLICY_DROP_SENSITIVE}\n    gw-sensitive in sensitive, out transit\n      inet filter forward policy drop\n    gw-mgmt: not seen\n</failure>"
        )
    };
    // One per agent in each of the three phases, and nothing else fails.
    assert_eq!(xml.matches("<failure").count(), 6, "{xml}");
    for agent in ["agent-1", "agent-2"] {
        assert_eq!(xml.matches(&failure(agent)).count(), 3, "{xml}");
    }
}
