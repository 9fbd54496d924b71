use super::render::{json, summary_line, table};
use super::*;
use crate::observe::render::json as obs_json;
use crate::observe::sample::{cell, observation};
use Observed::*;

/// A verify report's JSON with the given cells (src, dst, key, observed).
fn report(phase: &str, cells: &[(&str, &str, &str, Observed)]) -> Value {
    let results: Vec<Value> = cells
        .iter()
        .map(|(s, d, k, o)| {
            let (proto, port) = k.split_once('/').unwrap();
            serde_json::json!({
                "src": s, "dst": d, "proto": proto, "port": port.parse::<u16>().unwrap(),
                "expected": "blocked", "observed": o, "verdict": "pass",
                "responder": (*o == Open).then(|| format!("{d}/svc/{port}")),
                "flow": null, "elapsed_ms": 1.0, "retried": false,
            })
        })
        .collect();
    serde_json::json!({
        "scenario": "scenario-3", "lab": "ob-a", "phase": phase,
        "summary": {}, "results": results,
        "segments": {"ams": "mgmt", "admin": "mgmt", "agent-1": "sensitive", "agent-2": "sensitive", "storage": "sensitive"},
    })
}

fn cells(name: &str, v: &Value) -> Cells {
    from_value(name, v).unwrap()
}

const BASE: &[(&str, &str, &str, Observed)] = &[
    ("ams", "agent-1", "tcp/445", Blocked),
    ("ams", "agent-1", "tcp/7780", Blocked),
    ("ams", "agent-2", "tcp/445", Blocked),
    ("admin", "agent-1", "tcp/445", Rejected),
    ("agent-1", "ams", "tcp/7780", Open),
    ("agent-1", "ams", "udp/53", Blocked),
];

fn changed(
    base: &[(&'static str, &'static str, &'static str, Observed)],
    at: &[(usize, Observed)],
) -> Vec<(&'static str, &'static str, &'static str, Observed)> {
    let mut out = base.to_vec();
    for (i, o) in at {
        out[*i].3 = *o;
    }
    out
}

#[test]
fn one_port_opened_is_exactly_one_change() {
    let a = cells("A.json", &report("base", BASE));
    let b = cells("B.json", &report("base", &changed(BASE, &[(0, Open)])));
    let d = diff(&a, &b);
    assert_eq!(d.summary.changed, 1);
    assert_eq!(d.summary.newly_open, 1);
    assert_eq!(d.summary.compared, BASE.len());
    let c = &d.changes[0];
    assert_eq!(
        (c.key.src.as_str(), c.key.dst.as_str(), c.key.port),
        ("ams", "agent-1", 445)
    );
    assert_eq!(c.change, Change::NewlyOpen);
    assert_eq!(
        summary_line(&d),
        "1 cell changed: 1 newly open (A.json -> B.json, 6 cells in both)"
    );
    assert!(!diff(&a, &a).changed());
    assert_eq!(
        summary_line(&diff(&a, &a)),
        "no cell changed (A.json -> A.json, 6 cells in both)"
    );
}

#[test]
fn changes_are_grouped_by_phase_segment_pair_and_host_pair() {
    let before = report("base", BASE);
    let mut after_cells = changed(
        BASE,
        &[
            (0, Open),
            (2, Open),
            (3, Blocked),
            (4, Rejected),
            (5, HostDown),
        ],
    );
    after_cells.remove(1);
    after_cells.push(("storage", "ams", "tcp/22", Open));
    let mut after = report("base", &after_cells);
    // Another responder for a cell open on both sides.
    after["results"][3]["observed"] = "open".into();
    after["results"][3]["responder"] = "storage/catchall/7780".into();
    let before = serde_json::json!([before, report("push-install", BASE)]);
    let d = diff(&cells("before.json", &before), &cells("after.json", &after));
    insta::assert_snapshot!(table(&d));
    let v: Value = serde_json::from_str(&json(&d)).unwrap();
    assert_eq!(v["summary"]["changed"], d.summary.changed);
    assert_eq!(v["changes"][0]["src_segment"], "mgmt");
    assert!(v["changes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["change"] == "only-before" && c["after"].is_null()));
}

#[test]
fn a_report_and_an_observation_compare_on_what_was_observed() {
    let rep = report("base", &[("agent-1", "ams", "tcp/7780", Open)]);
    let mut obs = observation(vec![cell("agent-1", "ams", "tcp/7780", Open)]);
    obs.scenario = "scenario-3".into();
    // The observation's responder matches the report's: nothing changed.
    let o = parse("obs.json", &obs_json(&obs)).unwrap();
    assert!(!diff(&cells("r.json", &rep), &o).changed());
    obs.cells[0].observed = Blocked;
    let o = parse("obs.json", &obs_json(&obs)).unwrap();
    let d = diff(&cells("r.json", &rep), &o);
    assert_eq!(d.summary.newly_blocked, 1);
    // Wrapped as `test --scan --baseline` writes it.
    let wrapped = serde_json::json!({"verify": [rep], "scan": [], "diff": {"ignored": true}});
    assert_eq!(cells("w.json", &wrapped).cells.len(), 1);
}

#[test]
fn scan_reports_count_every_port_of_their_spans() {
    let scan = serde_json::json!({
        "lab": "ob-a", "scenario": "scenario-3", "phase": "base", "summary": {},
        "pairs": [{"src": "ams", "dst": "agent-1", "src_segment": "mgmt", "dst_segment": "sensitive",
                   "proto": "tcp", "ports": 10, "rounds": 1, "packets": 10, "elapsed_ms": 1,
                   "spans": [{"first": 1, "last": 9, "expected": "blocked", "observed": "blocked", "verdict": "pass", "flow": null, "reason": "no flow", "stranger": false},
                             {"first": 10, "last": 10, "expected": "blocked", "observed": "open", "verdict": "leak", "flow": null, "reason": "no flow", "stranger": false}]}]
    });
    let c = cells("scan.json", &scan);
    assert_eq!(c.cells.len(), 10);
    assert_eq!(c.cells.values().filter(|s| s.observed == Open).count(), 1);
}

#[test]
fn documents_that_are_not_reports_are_refused_naming_the_file() {
    let e = parse("bad.json", "{\n  \"a\": 1,\n  oops\n}").unwrap_err();
    assert!(e.to_string().starts_with("bad.json:3:3: not JSON:"), "{e}");
    let e = parse("odd.json", "{\"hello\": 1}").unwrap_err();
    assert!(
        e.to_string()
            .starts_with("odd.json: the document is an object with neither"),
        "{e}"
    );
    let e = parse("num.json", "[1]").unwrap_err();
    assert!(e.to_string().contains("item 0 is a number"), "{e}");
    let e = parse(
        "broken.json",
        "{\"results\": [{\"src\": \"a\"}], \"scenario\": \"s\", \"phase\": \"p\"}",
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("looks like a verify report, but missing field"),
        "{e}"
    );
    let e = load(std::path::Path::new("/nonexistent/seglab-before.json")).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("/nonexistent/seglab-before.json: cannot read:"),
        "{e}"
    );
}

#[test]
fn a_verdict_counts_only_when_both_sides_were_judged_in_memory() {
    let seen = |verdict: Option<Verdict>| Seen {
        observed: Open,
        responder: None,
        src_segment: None,
        dst_segment: None,
        judged: verdict.map(|verdict| Judged {
            verdict,
            flow: None,
        }),
    };
    // `watch`: the policy changed under an unchanged observation.
    let (pass, leak) = (seen(Some(Verdict::Pass)), seen(Some(Verdict::Leak)));
    assert_eq!(change(&pass, &leak), Some(Change::Other));
    assert_eq!(change(&pass, &pass), None);
    // A document read back has no verdict: only what was observed counts.
    assert_eq!(change(&seen(None), &leak), None);
    assert_eq!(change(&pass, &seen(None)), None);
}
