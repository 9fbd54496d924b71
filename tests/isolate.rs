//! Each gateway judged on its own (`verify --isolate`, `test
//! --each-gateway`), on the real Docker engine: a gateway that forwards
//! everything no longer hides behind a sound one, and every gateway is back
//! on its own rule set afterwards, also after SIGTERM.

mod common;

use common::*;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// A lab of `scenario` named `hb-…` (plus `extra` arguments to `up`).
fn up_hb(scenario: &str, tag: &str, extra: &[&str]) -> LabGuard {
    let guard = LabGuard(format!("hb-{}", unique(tag)));
    let o = seglab()
        .args(["up", scenario, "--name", &guard.0])
        .args(extra)
        .output()
        .expect("seglab runs");
    assert!(o.status.success(), "{}", text(&o));
    guard
}

/// `nft -s list ruleset` of each gateway of scenario 3 (stateless: no
/// counters, so only the rules count).
fn rulesets(lab: &str) -> Vec<String> {
    ["gw-mgmt", "gw-sensitive"]
        .iter()
        .map(|g| in_netns(lab, g, &["nft", "-s", "list", "ruleset"]))
        .collect()
}

/// `seglab status LAB` says every node is ok (no phase, no isolation).
fn assert_healthy(lab: &str) {
    let o = run(&["status", lab]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    let rows: Vec<&str> = out.lines().filter(|l| l.contains('┆')).skip(1).collect();
    assert_eq!(rows.len(), 7, "{out}");
    for row in rows {
        let health = row.rsplit('┆').next().unwrap().trim_matches(['│', ' ']);
        assert_eq!(health, "ok", "{out}");
    }
}

fn signal(child: &std::process::Child, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig}");
}

#[test]
fn each_gateway_finds_the_broken_gateway_that_the_sound_one_hides() {
    if !live(LAB) {
        return;
    }
    let allow_all = format!("gw-sensitive={}", fixture("rulesets/allow-all.nft"));
    let o = run(&[
        "test",
        "scenario-3",
        "--ruleset",
        &allow_all,
        "--each-gateway",
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let reports = reports(&o);
    let phases: Vec<&str> = reports
        .iter()
        .map(|r| r["phase"].as_str().unwrap())
        .collect();
    assert_eq!(
        phases,
        [
            "base",
            "push-install",
            "push-install (closed)",
            "isolate gw-mgmt",
            "isolate gw-sensitive"
        ]
    );
    // gw-mgmt drops what gw-sensitive lets through: the network as a
    // whole, and gw-mgmt alone, are sound.
    for r in &reports[..4] {
        assert!(failing(r).is_empty(), "{}: {:?}", r["phase"], failing(r));
    }
    let alone = &reports[4];
    assert!(alone["summary"]["leaks"].as_u64().unwrap() > 0, "{alone}");
    let segment = |h: &str| {
        if ["ams", "admin"].contains(&h) {
            "mgmt"
        } else {
            "sensitive"
        }
    };
    for c in alone["results"].as_array().unwrap() {
        let (src, dst) = (c["src"].as_str().unwrap(), c["dst"].as_str().unwrap());
        assert_ne!(
            segment(src),
            segment(dst),
            "only cells across gw-sensitive: {c}"
        );
    }
}

#[test]
fn an_isolated_verify_puts_every_gateway_back_on_its_own_rule_set() {
    if !live(LAB) {
        return;
    }
    let guard = up_hb("scenario-3", "iso", &[]);
    let lab = guard.0.as_str();
    let before = rulesets(lab);
    let o = run(&[
        "verify",
        lab,
        "--isolate",
        "gw-sensitive",
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let r = reports(&o);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0]["phase"], "isolate gw-sensitive");
    assert!(r[0]["notes"].is_null(), "{}", r[0]);
    assert_eq!(rulesets(lab), before);
    assert_healthy(lab);
    // With a phase, opened on the isolated gateway alone.
    let o = run(&[
        "verify",
        lab,
        "--isolate",
        "gw-mgmt",
        "--phase",
        "push-install",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("push-install (closed), isolate gw-mgmt"),
        "{out}"
    );
    assert_eq!(rulesets(lab), before);
    assert_healthy(lab);
    // A gateway the lab does not have is bad input, and changes nothing.
    let o = run(&["verify", lab, "--isolate", "gw-nope"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert_eq!(rulesets(lab), before);
}

#[test]
fn sigterm_during_an_isolated_verify_leaves_every_gateway_restored() {
    if !live(LAB) {
        return;
    }
    let guard = up_hb("scenario-3", "isoterm", &[]);
    let lab = guard.0.as_str();
    let before = rulesets(lab);
    let child = seglab()
        .args([
            "verify",
            lab,
            "--isolate",
            "gw-sensitive",
            "--timeout",
            "5000",
            // No drop evidence: the dropped probes wait while we signal.
            "--no-trace",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once gw-mgmt is cleared, probing starts; its dropped probes wait
    // for their timeout while we signal.
    let start = Instant::now();
    while !in_netns(lab, "gw-mgmt", &["nft", "list", "ruleset"]).contains("isolating:gw-sensitive")
        || in_netns(lab, "gw-mgmt", &["nft", "list", "ruleset"]).contains("table inet filter")
    {
        assert!(start.elapsed() < Duration::from_secs(60), "never isolated");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(1000));
    signal(&child, "-TERM");
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", text(&o));
    assert_eq!(rulesets(lab), before);
    assert_healthy(lab);
    let o = run(&["verify", lab]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        !String::from_utf8_lossy(&o.stdout).contains("note:"),
        "the interrupted run put everything back itself: {}",
        text(&o)
    );
}
