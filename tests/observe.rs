//! `seglab observe`, `seglab diff` and `seglab test --baseline` against
//! the real engine: an observation of scenario 2 is its plan's open cells,
//! the policy written from it gives them back, a one-port change is exactly
//! one diff, and bad files are refused (exit 2) before any lab is made.

mod common;

use common::*;
use seglab::observe::{policy, Observation};
use seglab::plan::{cell, flows_in, plan, Expected};
use seglab::probe::Observed;
use seglab::scenario::{builtin, Source};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Output;

/// A lab name with this helper's prefix, unique to the test process.
fn lab_name(tag: &str) -> String {
    format!("ob-{}-{tag}", std::process::id())
}

/// Brings `scenario` up as lab `name` (extra arguments after it).
fn up_cmd(scenario: &str, name: &str, extra: &[String]) -> std::process::Child {
    seglab()
        .args(["up", scenario, "--name", name])
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("seglab starts")
}

fn ok(o: &Output) {
    assert!(o.status.success(), "{}", text(o));
}

fn path(dir: &tempfile::TempDir, name: &str) -> String {
    dir.path().join(name).display().to_string()
}

type CellId = (String, String, String, u16);

fn open_cells(obs: &Observation) -> BTreeSet<CellId> {
    obs.open()
        .map(|c| (c.src.clone(), c.dst.clone(), c.proto.to_string(), c.port))
        .collect()
}

#[test]
fn observe_of_scenario_2_is_its_plans_open_cells_and_the_written_policy_gives_them_back() {
    if !live(LAB) {
        return;
    }
    let lab = LabGuard(lab_name("s2"));
    ok(&up_cmd("scenario-2", &lab.0, &[])
        .wait_with_output()
        .unwrap());
    let dir = tempfile::tempdir().unwrap();
    let (json, written) = (path(&dir, "obs.json"), path(&dir, "policy.yaml"));
    let o = run(&[
        "observe",
        &lab.0,
        "--format",
        "json",
        "--output",
        &json,
        "--write-policy",
        &written,
    ]);
    ok(&o);
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(table.contains("admin -> ams: tcp 9877"), "{table}");
    assert!(table.contains("from \\ to"), "{table}");
    let obs: Observation = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(obs.kind, "observation");
    let sc = seglab::scenario::load("scenario-2").unwrap();
    let p = plan(&sc, None).unwrap();
    // Every cell probed, none down, and the open ones are the plan's.
    assert_eq!(obs.cells.len(), p.cells.len());
    assert!(
        obs.cells.iter().all(|c| matches!(
            c.observed,
            Observed::Open | Observed::Blocked | Observed::Rejected
        )),
        "{table}"
    );
    let planned: BTreeSet<CellId> = p
        .cells
        .iter()
        .filter(|c| c.expected == Expected::Open)
        .map(|c| (c.src.clone(), c.dst.clone(), c.proto.to_string(), c.port))
        .collect();
    assert_eq!(open_cells(&obs), planned);
    // Written policy in place of the scenario's: the same open cells.
    let yaml = std::fs::read_to_string(&written).unwrap();
    assert!(!yaml.contains("Observed otherwise"), "{yaml}");
    let b = builtin::find("scenario-2").unwrap();
    let again = Source::from_text(
        "scenario-2 (observed policy)",
        policy::splice(b.yaml, &yaml),
        repo_root().join("scenarios/scenario-2"),
    )
    .load(&[])
    .unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    let flows = flows_in(&again, None).unwrap();
    let reopened: BTreeSet<CellId> = obs
        .cells
        .iter()
        .filter(|c| {
            let (s, d) = (again.host(&c.src).unwrap(), again.host(&c.dst).unwrap());
            cell(&flows, s, d, c.key()).expected == Expected::Open
        })
        .map(|c| (c.src.clone(), c.dst.clone(), c.proto.to_string(), c.port))
        .collect();
    assert_eq!(reopened, open_cells(&obs), "{yaml}");
    // A policy file is never overwritten: refused before any probing.
    let o = run(&["observe", &lab.0, "--write-policy", &written]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(&written),
        "{}",
        text(&o)
    );

    // With --ports, the scan engine: the plan's open cells over those ports
    // of every pair that something filters.
    let scanned = path(&dir, "scan.json");
    let ranges = "440-450,7780,9877";
    ok(&run(&[
        "observe", &lab.0, "--ports", ranges, "--format", "json", "--output", &scanned,
    ]));
    let obs: Observation =
        serde_json::from_str(&std::fs::read_to_string(&scanned).unwrap()).unwrap();
    assert_eq!(obs.ports, ranges);
    let any = seglab::scenario::Selector::Any;
    let pairs = seglab::scan::select::select_pairs(&sc, &any, &any).unwrap();
    let ports: seglab::scan::PortSet = ranges.parse().unwrap();
    let flows = flows_in(&sc, None).unwrap();
    let mut planned = BTreeSet::new();
    for (s, d) in &pairs {
        for proto in [
            seglab::node_contract::Proto::Tcp,
            seglab::node_contract::Proto::Udp,
        ] {
            for port in ports.iter() {
                let key = seglab::ports::PortKey { proto, port };
                let c = cell(&flows, sc.host(s).unwrap(), sc.host(d).unwrap(), key);
                if c.expected == Expected::Open {
                    planned.insert((s.clone(), d.clone(), proto.to_string(), port));
                }
            }
        }
    }
    assert_eq!(obs.cells.len(), pairs.len() * 2 * ports.len());
    assert_eq!(open_cells(&obs), planned);

    // A host that is down is said to be down, never blocked.
    docker(&["kill", &container(&lab.0, "storage")]);
    let o = run(&["observe", &lab.0, "--format", "json"]);
    ok(&o);
    let obs: Observation = serde_json::from_slice(&o.stdout).unwrap();
    for c in &obs.cells {
        let touches = c.src == "storage" || c.dst == "storage";
        assert_eq!(touches, c.observed == Observed::HostDown, "{c:?}");
    }
    let o = run(&["observe", &lab.0]);
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(
        table.contains("agent-1 -> storage: host-down tcp"),
        "{table}"
    );
}

#[test]
fn diff_is_exact_on_a_one_port_change() {
    if !live(LAB) {
        return;
    }
    // Scenario 3 with SMB from the management server to the agents added
    // on both gateways (a leak there needs both to let it through).
    let (a, b) = (LabGuard(lab_name("s3a")), LabGuard(lab_name("s3b")));
    let extra: Vec<String> = [
        ("gw-mgmt", "s3-gw-mgmt-extra-445.nft"),
        ("gw-sensitive", "s3-gw-sensitive-extra-445.nft"),
    ]
    .iter()
    .flat_map(|(gw, f)| {
        [
            "--ruleset".to_string(),
            format!("{gw}={}", fixture(&format!("rulesets/{f}"))),
        ]
    })
    .collect();
    let ups = [
        up_cmd("scenario-3", &a.0, &[]),
        up_cmd("scenario-3", &b.0, &extra),
    ];
    for child in ups {
        ok(&child.wait_with_output().unwrap());
    }
    let dir = tempfile::tempdir().unwrap();
    let (ja, jb) = (path(&dir, "A.json"), path(&dir, "B.json"));
    ok(&run(&["verify", &a.0, "--format", "json", "--output", &ja]));
    let o = run(&["verify", &b.0, "--format", "json", "--output", &jb]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "the added port leaks: {}",
        text(&o)
    );
    let o = run(&["diff", &ja, &jb, "--format", "json"]);
    ok(&o);
    let d: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let changes: BTreeSet<String> = d["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{} {}>{} {}/{}",
                c["change"].as_str().unwrap(),
                c["src"].as_str().unwrap(),
                c["dst"].as_str().unwrap(),
                c["proto"].as_str().unwrap(),
                c["port"]
            )
        })
        .collect();
    let expected: BTreeSet<String> = ["agent-1", "agent-2"]
        .iter()
        .map(|agent| format!("newly-open ams>{agent} tcp/445"))
        .collect();
    assert_eq!(changes, expected, "{}", String::from_utf8_lossy(&o.stdout));
    assert_eq!(d["summary"]["changed"], 2);
    // The table says it, and CI can fail on it.
    let o = run(&["diff", &ja, &jb]);
    ok(&o);
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(
        table.starts_with("2 cells changed: 2 newly open"),
        "{table}"
    );
    assert!(
        table.contains("ams -> agent-1: newly open tcp 445"),
        "{table}"
    );
    let o = run(&["diff", &ja, &jb, "--fail-on-change"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let o = run(&["diff", &ja, &ja, "--fail-on-change"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // An observation of the changed lab compares with the report.
    let jo = path(&dir, "obs.json");
    ok(&run(&[
        "observe", &b.0, "--format", "json", "--output", &jo,
    ]));
    let o = run(&["diff", &jb, &jo, "--fail-on-change"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn bad_files_are_refused_with_exit_2_naming_them_before_any_lab() {
    let dir = tempfile::tempdir().unwrap();
    let missing = path(&dir, "no-such-baseline.json");
    let not_json = path(&dir, "not.json");
    std::fs::write(&not_json, "{\n  \"verify\": [\n  oops\n").unwrap();
    let odd = path(&dir, "odd.json");
    std::fs::write(&odd, "{\"hello\": 1}").unwrap();
    for (file, says) in [
        (&missing, "cannot read"),
        (&not_json, ":3:3: not JSON"),
        (&odd, "neither"),
    ] {
        // `test` reads the baseline before it makes a lab: it fails at
        // once, engine or not.
        let started = std::time::Instant::now();
        let o = run(&["test", "scenario-2", "--baseline", file]);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(file.as_str()) && err.contains(says),
            "{}",
            text(&o)
        );
        assert!(!err.contains("is up"), "{}", text(&o));
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        let o = run(&["diff", file, &odd]);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(file.as_str()),
            "{}",
            text(&o)
        );
    }
    // --fail-on-change means nothing without a baseline.
    let o = run(&["test", "scenario-2", "--fail-on-change"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(!Path::new(&missing).exists());
}
