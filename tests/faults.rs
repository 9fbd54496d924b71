//! The fault suite: faults a lab must survive, on the real Docker engine
//! (kill -9 and SIGTERM of each verb, racing runs); each asserts the exit
//! code, the verdicts or what `status` says, and that nothing is left.
//! Dead, restarted and disconnected nodes are in `health.rs`, a low
//! descriptor limit in `limits.rs`, a closed stdout in `robust.rs`.

mod common;

use common::*;
use std::process::Child;
use std::time::{Duration, Instant};

/// Two `up` runs of one name at once: exactly one wins, the other says the
/// lab exists and leaves nothing of its own, and above all does not take
/// the winner's lab down.
#[test]
fn two_ups_with_one_name_one_wins_and_the_lab_is_intact() {
    if !live(LAB) {
        return;
    }
    let guard = LabGuard(unique("race"));
    let lab = guard.0.clone();
    let children: Vec<Child> = (0..2)
        .map(|_| {
            seglab()
                .args(["up", "scenario-2", "--name", &lab])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("seglab starts")
        })
        .collect();
    let outputs: Vec<_> = children
        .into_iter()
        .map(|c| c.wait_with_output().expect("seglab runs"))
        .collect();
    let codes: Vec<_> = outputs.iter().map(|o| o.status.code()).collect();
    let all = outputs.iter().map(text).collect::<Vec<_>>().join("\n");
    assert!(
        codes == [Some(0), Some(2)] || codes == [Some(2), Some(0)],
        "{all}"
    );
    let loser = outputs.iter().find(|o| o.status.code() == Some(2)).unwrap();
    assert!(
        String::from_utf8_lossy(&loser.stderr).contains(&format!("lab {lab} already exists")),
        "{all}"
    );

    // The winner's lab is whole: every node, and it verifies clean.
    let st = run(&["status", &lab]);
    assert!(st.status.success(), "{}", text(&st));
    let st = String::from_utf8_lossy(&st.stdout).into_owned();
    assert_eq!(st.matches("running").count(), 9, "{st}");
    assert!(!st.contains("partial"), "{st}");
    let o = run(&["verify", &lab]);
    assert!(o.status.success(), "{}", text(&o));

    let o = run(&["down", &lab]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(leftovers(&lab), (0, 0));
}

/// How many objects of `kind` (`ps -a` or `network ls`) carry the lab's
/// label and `extra` filters.
fn count(lab: &str, kind: &[&str], extra: &[&str]) -> usize {
    let mut args: Vec<String> = kind.iter().map(|s| s.to_string()).collect();
    args.extend([
        "-q".into(),
        "--filter".into(),
        format!("label=io.seglab.lab={lab}"),
    ]);
    for f in extra {
        args.extend(["--filter".into(), f.to_string()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    docker(&args).lines().count()
}

/// Starts `up`, waits until `reached` holds, then SIGKILLs it: seglab gets
/// no chance to clean up.
fn kill_9_up_when(lab: &str, reached: impl Fn() -> bool) {
    let mut child = seglab()
        .args(["up", "scenario-2", "--name", lab])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("seglab starts");
    let start = Instant::now();
    while !reached() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "up never got there"
        );
        if let Some(status) = child.try_wait().unwrap() {
            panic!("up ended ({status}) before it got there");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Whether `up` of `lab` got to `moment`: its claim, a first network, a
/// first node exists.
fn reached(moment: &str, lab: &str) -> bool {
    match moment {
        "claim" => count(lab, &["ps", "-a"], &[]) > 0,
        "network" => count(lab, &["network", "ls"], &[]) > 0,
        _ => count(lab, &["ps", "-a"], &["label=io.seglab.spec"]) > 0,
    }
}

/// After `kill -9` at several moments of `up`, `status` lists the lab as
/// partial, `status LAB` says so and how to remove it, and `down` removes
/// everything; a lab with networks only is no exception.
#[test]
fn a_lab_left_half_made_by_kill_9_is_listed_as_partial_and_down_removes_it() {
    if !live(LAB) {
        return;
    }
    for moment in ["claim", "network", "node"] {
        let guard = LabGuard(unique(&format!("kill9-{moment}")));
        let lab = guard.0.clone();
        kill_9_up_when(&lab, || reached(moment, &lab));

        // A moment for requests the engine still had in flight to land.
        std::thread::sleep(Duration::from_millis(500));
        let st = run(&["status"]);
        assert!(st.status.success(), "{}", text(&st));
        let out = String::from_utf8_lossy(&st.stdout).into_owned();
        let row = out
            .lines()
            .find(|l| l.contains(&format!(" {lab} ")))
            .unwrap_or_else(|| panic!("{moment}: {lab} not listed: {out}"));
        assert!(row.contains("partial"), "{moment}: {out}");
        assert!(
            out.contains(&format!("seglab down {lab}")),
            "{moment}: {out}"
        );

        let st = run(&["status", &lab]);
        assert!(st.status.success(), "{moment}: {}", text(&st));
        let out = String::from_utf8_lossy(&st.stdout);
        assert!(
            out.contains(&format!("lab {lab} is partial")),
            "{moment}: {out}"
        );
        assert!(
            out.contains(&format!("seglab down {lab} removes it")),
            "{out}"
        );

        // The name stays taken until the lab is removed.
        let o = run(&["up", "scenario-2", "--name", &lab]);
        assert_eq!(o.status.code(), Some(2), "{moment}: {}", text(&o));
        assert!(String::from_utf8_lossy(&o.stderr).contains("already exists"));

        if moment == "network" {
            // Networks only, not a single container: still listed.
            let filter = format!("label=io.seglab.lab={lab}");
            for id in docker(&["ps", "-aq", "--filter", &filter]).lines() {
                docker(&["rm", "-f", id]);
            }
            assert_eq!(count(&lab, &["ps", "-a"], &[]), 0);
            let out = String::from_utf8_lossy(&run(&["status"]).stdout).into_owned();
            let row = out.lines().find(|l| l.contains(&format!(" {lab} ")));
            assert!(row.is_some_and(|r| r.contains("partial")), "{out}");
        }

        let o = run(&["down", &lab]);
        assert!(o.status.success(), "{moment}: {}", text(&o));
        assert_eq!(leftovers(&lab), (0, 0), "{moment}");
        let out = String::from_utf8_lossy(&run(&["status"]).stdout).into_owned();
        assert!(!out.contains(&format!(" {lab} ")), "{moment}: {out}");
    }
}

/// Containers and networks of every lab of scenario `scenario`.
fn leftovers_of_scenario(scenario: &str) -> (usize, usize) {
    let filter = format!("label=io.seglab.scenario={scenario}");
    let c = docker(&["ps", "-aq", "--filter", &filter]).lines().count();
    let n = docker(&["network", "ls", "-q", "--filter", &filter])
        .lines()
        .count();
    (c, n)
}

fn signal(child: &std::process::Child, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig}");
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{what} never happened"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sigterm_during_up_leaves_nothing() {
    if !live(LAB) {
        return;
    }
    let lab = unique("termup");
    let _guard = LabGuard(lab.clone());
    let child = seglab()
        .args(["up", "scenario-3", "--name", &lab])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("a container exists", || leftovers(&lab).0 > 0);
    signal(&child, "-TERM");
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", text(&o));
    assert_eq!(leftovers(&lab), (0, 0));
}

#[test]
fn sigterm_during_verify_leaves_the_lab_as_it_was() {
    if !live(LAB) {
        return;
    }
    let guard = up("scenario-3", "termverify", &[]);
    let lab = guard.0.clone();
    for phase in [None, Some("push-install")] {
        // No drop evidence: the dropped probes wait while we signal.
        let mut args = vec!["verify", &lab, "--timeout", "5000", "--no-trace"];
        if let Some(p) = phase {
            args.extend(["--phase", p]);
        }
        let child = seglab()
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Probing has begun once the blocked probes wait for their timeout.
        std::thread::sleep(Duration::from_millis(1500));
        signal(&child, "-TERM");
        let o = child.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(130), "{phase:?}: {}", text(&o));
        let o = run(&["verify", &lab]);
        assert_eq!(o.status.code(), Some(0), "after {phase:?}: {}", text(&o));
        assert!(
            !String::from_utf8_lossy(&o.stdout).contains("note:"),
            "the interrupted run closed its phase itself: {}",
            text(&o)
        );
    }
}

#[test]
fn sigterm_during_test_tears_its_lab_down() {
    if !live(LAB) {
        return;
    }
    let scenario = fixture("faults/sigterm.yaml");
    let child = seglab()
        .args(["test", &scenario, "--timeout", "5000", "--no-trace"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("the lab runs", || {
        docker(&[
            "ps",
            "-q",
            "--filter",
            "label=io.seglab.scenario=faults-sigterm",
        ])
        .lines()
        .count()
            >= 4
    });
    std::thread::sleep(Duration::from_millis(1000));
    signal(&child, "-TERM");
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", text(&o));
    assert_eq!(leftovers_of_scenario("faults-sigterm"), (0, 0));
}

#[test]
fn sigterm_during_down_then_down_again_removes_everything() {
    if !live(LAB) {
        return;
    }
    let guard = up("scenario-4", "termdown", &[]);
    let lab = guard.0.clone();
    let child = seglab()
        .args(["down", &lab])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("down removed something", || leftovers(&lab).0 < 10);
    signal(&child, "-TERM");
    let _ = child.wait_with_output().unwrap();
    let o = run(&["down", &lab]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(leftovers(&lab), (0, 0));
}

#[test]
fn sigint_as_networks_are_created_on_a_busy_engine_leaves_nothing() {
    if !live(LAB) {
        return;
    }
    // A request dropped mid-way used to be carried out by a busy engine
    // after the cleanup had swept: networks were left behind (seen once in
    // four tries while another lab came up; not reproduced on demand).
    let busy = up("scenario-4", "busy", &[]);
    for round in 0..2 {
        let lab = unique("intnet");
        let _guard = LabGuard(lab.clone());
        // Keep the engine busy with another lab's removal and creation.
        let other = seglab()
            .args(["up", "scenario-3", "--name", &format!("{lab}-other")])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let _other_guard = LabGuard(format!("{lab}-other"));
        let child = seglab()
            .args(["up", "scenario-4", "--name", &lab])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // The first network exists: the others are in flight.
        wait_until("a network exists", || leftovers(&lab).1 > 0);
        signal(&child, "-INT");
        let o = child.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(130), "round {round}: {}", text(&o));
        let mut other = other;
        other.wait().unwrap();
        // Anything still in flight would land within a few seconds.
        std::thread::sleep(Duration::from_secs(3));
        assert_eq!(leftovers(&lab), (0, 0), "round {round}");
    }
    drop(busy);
}
