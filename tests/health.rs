//! Gateway and host health on the real engine: a dead, restarted,
//! disconnected or tampered node on a cell's path makes the cell
//! `path-down` (never `pass`, never `blocked`), `status` says why, and a
//! phase left open by a killed run is found and put back.

mod common;

use common::*;
use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::{Duration, Instant};

fn verify_json(lab: &str, extra: &[&str]) -> std::process::Output {
    seglab()
        .args(["verify", lab, "--format", "json"])
        .args(extra)
        .output()
        .unwrap()
}

/// Segment of each host of a report (from its cells, by lab convention:
/// the scenario fixtures here put mgmt hosts first).
fn crosses(src: &str, dst: &str) -> bool {
    let mgmt = ["ams", "admin"];
    mgmt.contains(&src) != mgmt.contains(&dst)
}

/// Every cell that crosses the gateways is path-down and names `why`;
/// every cell inside a segment is judged as usual (`inside`).
fn assert_cross_cells_path_down(report: &serde_json::Value, why: &str, inside: &str) {
    let mut seen = BTreeSet::new();
    for r in report["results"].as_array().unwrap() {
        let (src, dst) = (r["src"].as_str().unwrap(), r["dst"].as_str().unwrap());
        if crosses(src, dst) {
            assert_eq!(r["verdict"], "path-down", "{r}");
            assert_eq!(r["observed"], "path-down", "{r}");
            let detail = r["detail"].as_str().unwrap();
            assert!(detail.contains(why), "{detail} does not say {why}");
            seen.insert("cross");
        } else {
            assert_eq!(r["verdict"], inside, "{r}");
            seen.insert("inside");
        }
    }
    assert_eq!(seen.len(), 2, "both kinds of cells were probed");
    assert!(report["summary"]["path_down"].as_u64().unwrap() > 0);
}

fn seal_of(lab: &str, gateway: &str) -> String {
    in_netns(
        lab,
        gateway,
        &["nft", "-j", "list", "table", "inet", "seglab_state"],
    )
}

#[test]
fn a_dead_gateway_is_path_down_never_a_pass() {
    if !live(LAB) {
        return;
    }
    // The reproduction: open gateways leak, so the verification
    // fails; killing gw-sensitive once made it pass 600/600.
    let guard = up(&fixture("health/open-gateways.yaml"), "dead", &[]);
    let lab = guard.0.clone();
    let o = verify_json(&lab, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(reports(&o)[0]["summary"]["leaks"].as_u64().unwrap() > 300);

    docker(&["kill", &container(&lab, "gw-sensitive")]);
    let o = verify_json(&lab, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let report = &reports(&o)[0];
    assert_cross_cells_path_down(report, "gw-sensitive is not running", "pass");
    assert_eq!(report["summary"]["leaks"], 0);

    let status = run(&["status", &lab]);
    assert!(status.status.success(), "{}", text(&status));
    let line = String::from_utf8_lossy(&status.stdout)
        .lines()
        .find(|l| l.contains("gw-sensitive"))
        .unwrap()
        .to_string();
    assert!(line.contains("is not running"), "{line}");
}

#[test]
fn a_restarted_or_disconnected_gateway_is_named() {
    if !live(LAB) {
        return;
    }
    let guard = up("scenario-3", "restart", &[]);
    let lab = guard.0.clone();
    docker(&["restart", "-t", "0", &container(&lab, "gw-mgmt")]);
    let o = verify_json(&lab, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_cross_cells_path_down(
        &reports(&o)[0],
        "gw-mgmt lost its rule set (restarted?), lost its route to",
        "pass",
    );

    docker(&[
        "network",
        "disconnect",
        &network_of(&lab, "sensitive"),
        &container(&lab, "gw-sensitive"),
    ]);
    let o = verify_json(&lab, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_cross_cells_path_down(
        &reports(&o)[0],
        "gw-sensitive is not attached to segment sensitive",
        "pass",
    );
}

#[test]
fn a_rule_set_changed_behind_seglabs_back_is_named() {
    if !live(LAB) {
        return;
    }
    let guard = up("scenario-3", "tamper", &[]);
    let lab = guard.0.clone();
    in_netns(
        &lab,
        "gw-sensitive",
        &[
            "nft", "insert", "rule", "inet", "filter", "forward", "tcp", "dport", "30000", "accept",
        ],
    );
    let o = verify_json(&lab, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_cross_cells_path_down(
        &reports(&o)[0],
        "gw-sensitive runs a rule set that changed since seglab loaded it",
        "pass",
    );
}

#[test]
fn a_gateway_killed_during_verify_makes_its_cells_path_down() {
    if !live(LAB) {
        return;
    }
    let guard = up("scenario-3", "midrun", &[]);
    let lab = guard.0.clone();
    let o = verify_while_killing(&lab, "gw-mgmt");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_cross_cells_path_down(
        &reports(&o)[0],
        "gw-mgmt is not running (exited) (during the run)",
        "pass",
    );
}

#[test]
fn a_phase_left_open_by_a_killed_verify_is_found_and_put_back() {
    if !live(LAB) {
        return;
    }
    let guard = up("scenario-3", "leftover", &[]);
    let lab = guard.0.clone();
    let mut child = seglab()
        .args([
            "verify",
            &lab,
            "--phase",
            "push-install",
            "--timeout",
            "4000",
            // No drop evidence: the dropped probes keep the phase open.
            "--no-trace",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once both gateways carry the phase (the deadline only turns
    // a hang into a failure, as in the other waits of the live tests).
    let deadline = Instant::now() + Duration::from_secs(60);
    while !(seal_of(&lab, "gw-mgmt").contains("phase=push-install")
        && seal_of(&lab, "gw-sensitive").contains("phase=push-install"))
    {
        assert!(Instant::now() < deadline, "the phase never opened");
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let status = run(&["status", &lab]);
    let out = String::from_utf8_lossy(&status.stdout).into_owned();
    assert!(
        out.contains("phase push-install is open on gw-mgmt"),
        "{out}"
    );
    assert!(out.contains("ok, phase push-install open"), "{out}");

    // The next plain verify puts the base rule sets back, says so, passes.
    let o = verify_json(&lab, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let notes = reports(&o)[0]["notes"].to_string();
    assert!(
        notes.contains("still had phase push-install open"),
        "{notes}"
    );
    for g in ["gw-mgmt", "gw-sensitive"] {
        assert!(seal_of(&lab, g).contains("phase=-"), "{g}");
    }
    let o = verify_json(&lab, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(reports(&o)[0].get("notes").is_none());
}

#[test]
fn a_phase_close_that_fails_on_one_gateway_still_closes_the_others() {
    if !live(LAB) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad-close.nft");
    std::fs::write(&bad, "table inet filter {\n  bogus\n}\n").unwrap();
    let guard = up(
        "scenario-3",
        "closefail",
        &[
            "--ruleset",
            &format!("gw-mgmt@push-install:close={}", bad.display()),
        ],
    );
    let lab = guard.0.clone();
    let o = seglab()
        .args(["verify", &lab, "--phase", "push-install"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("bad-close.nft:2:"), "{}", text(&o));
    // gw-mgmt could not close and says so; gw-sensitive closed anyway.
    assert!(seal_of(&lab, "gw-mgmt").contains("phase=push-install"));
    assert!(seal_of(&lab, "gw-sensitive").contains("phase=-"));
}
