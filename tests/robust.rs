//! Results are never lost and never misplaced, against the real engine:
//! `seglab test` prints every report it got beside the errors of the
//! others (and of a report file that could not be written), a lab whose
//! stored spec is unreadable is named as such, `down` racing `verify` gives
//! one answer, and log lines carry colours only for a terminal.

mod common;

use common::*;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

/// `seglab test A B` where A's `up` fails (a rule set nft refuses) and B
/// leaks (an allow-all gateway), with `--output` on a full device: B's
/// report still reaches stdout, A's error and the write error reach
/// stderr, the exit is 1 (the failed verification), and no lab is left.
#[test]
fn test_keeps_every_report_beside_the_errors() {
    if !live(LAB) {
        return;
    }
    let o = seglab()
        .args([
            "test",
            "scenario-1",
            "scenario-2",
            "--ruleset",
            &format!("gw-edge={}", fixture("rulesets/allow-all.nft")),
            "--ruleset",
            &format!("gw-mgmt={}", fixture("rulesets/syntax-error.nft")),
            "--format",
            "json",
            "--output",
            "/dev/full",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let reports = reports(&o);
    assert!(!reports.is_empty(), "{}", text(&o));
    for r in &reports {
        assert_eq!(r["scenario"], "scenario-1", "{}", text(&o));
        assert_eq!(leftovers(r["lab"].as_str().unwrap()), (0, 0));
    }
    assert!(
        reports.iter().any(|r| !failing(r).is_empty()),
        "{}",
        text(&o)
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("scenario-2 (lab "), "{err}");
    assert!(err.contains("syntax-error.nft"), "{err}");
    assert!(
        err.contains("cannot write the report to /dev/full"),
        "{err}"
    );
    assert!(err.contains("verification failed: scenario-1"), "{err}");
    let lab2 = err
        .split("scenario-2 (lab ")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .unwrap();
    assert_eq!(leftovers(lab2), (0, 0));
}

/// A tiny local image for hand-made containers (nothing is pulled).
struct ScratchImage(String);

impl ScratchImage {
    fn new(tag: &str) -> ScratchImage {
        let name = format!("seglab-test-{tag}:scratch");
        let mut child = Command::new("docker")
            .args(["build", "-q", "-t", &name, "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"FROM scratch\nCMD [\"/none\"]\n")
            .unwrap();
        assert!(child.wait().unwrap().success());
        ScratchImage(name)
    }
}

impl Drop for ScratchImage {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rmi", &self.0]).output();
    }
}

#[test]
fn a_lab_whose_stored_spec_is_unreadable_is_named_as_such() {
    if !live(LAB) {
        return;
    }
    let lab = unique("badspec");
    // Dropped after the guard has removed the container that uses it, so
    // the image goes too when the test fails half-way.
    let image = ScratchImage::new(&lab);
    let _guard = LabGuard(lab.clone());
    docker(&[
        "create",
        "--name",
        &format!("seglab-{lab}-h1"),
        "--label",
        &format!("io.seglab.lab={lab}"),
        "--label",
        "io.seglab.host=h1",
        "--label",
        "io.seglab.spec={\"name\": \"truncated",
        &image.0,
    ]);
    for verb in ["status", "verify"] {
        let o = run(&[verb, &lab]);
        assert_eq!(o.status.code(), Some(3), "{}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(&format!("lab {lab} exists but its stored spec")),
            "{err}"
        );
        assert!(
            err.contains(&format!("seglab down {lab} removes it")),
            "{err}"
        );
    }
    let o = run(&["down", &lab]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(leftovers(&lab), (0, 0));
}

/// A second lab of a scenario moves to other subnets and says so; then
/// `down` while it is verified: exit 3, "was removed", whichever step of
/// `verify` noticed first.
#[test]
fn a_moved_lab_says_so_and_down_racing_verify_is_exit_3() {
    if !live(LAB) {
        return;
    }
    // A copy of scenario 2 on subnets of its own: the first lab surely
    // gets them (another test's lab may hold the built-in ones), so the
    // second must move.
    let dir = tempfile::tempdir().unwrap();
    for f in std::fs::read_dir(repo_root().join("scenarios/scenario-2")).unwrap() {
        let f = f.unwrap().path();
        let text = std::fs::read_to_string(&f)
            .unwrap()
            .replace("subnet: 198.18.2", "subnet: 198.18.24");
        std::fs::write(dir.path().join(f.file_name().unwrap()), text).unwrap();
    }
    let scenario = dir.path().to_str().unwrap().to_string();
    let _first = up(&scenario, "first", &[]);
    let lab = unique("second");
    let _guard = LabGuard(lab.clone());
    let o = run(&["up", &scenario, "--name", &lab]);
    assert!(o.status.success(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(&format!("lab {lab}: subnets ")), "{err}");
    assert!(err.contains("taken, moved to mgmt 198.1"), "{err}");

    // Without tracing, blocked cells cost the timeout (twice, with the
    // retry), so verify is still probing when `down` starts.
    let mut verify = seglab()
        .args(["-vv", "verify", &lab, "--timeout", "5000", "--no-trace"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(verify.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push(line.clone());
        if line.contains("containers; probing") {
            break;
        }
    }
    let down = run(&["down", &lab]);
    assert!(down.status.success(), "{}", text(&down));
    seen.extend(lines.map(|l| l.unwrap()));
    let status = verify.wait().unwrap();
    let err = seen.join("\n");
    assert_eq!(status.code(), Some(3), "{err}");
    assert!(
        err.contains(&format!(
            "lab {lab} was removed while it was being verified"
        )),
        "{err}"
    );
    assert_eq!(leftovers(&lab), (0, 0));
}

/// Log lines carry ANSI colours only for a terminal, and never with
/// NO_COLOR (a pseudo-terminal from `script` stands in for a person).
#[test]
fn log_lines_are_plain_off_a_terminal_and_with_no_color() {
    if !live(LAB) {
        return;
    }
    let esc = "\u{1b}[";
    let o = run(&["-vv", "status", "no-such-lab-for-colours"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("connected to Docker"), "{err}");
    assert!(!err.contains(esc), "{err:?}");

    let in_pty = |no_color: Option<&str>| {
        let mut c = Command::new("script");
        c.args([
            "-qec",
            &format!(
                "{} -vv status no-such-lab-for-colours",
                env!("CARGO_BIN_EXE_seglab")
            ),
            "/dev/null",
        ])
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR");
        if let Some(v) = no_color {
            c.env("NO_COLOR", v);
        }
        let o = c.output().expect("script (util-linux) runs");
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let tty = in_pty(None);
    assert!(tty.contains("connected to Docker"), "{tty}");
    assert!(tty.contains(esc), "a terminal gets colours: {tty:?}");
    let plain = in_pty(Some("1"));
    assert!(plain.contains("connected to Docker"), "{plain}");
    assert!(!plain.contains(esc), "NO_COLOR: {plain:?}");
}

/// `seglab test A B | head -1`: a stdout closed before anything is written
/// changes nothing of the run: both scenarios are verified (their reports
/// reach `--output`), both labs are torn down, and the exit is quiet.
#[test]
fn a_closed_stdout_still_runs_every_scenario_to_its_teardown() {
    if !live(LAB) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("reports.json");
    let mut child = seglab()
        .args(["test", "scenario-2", "scenario-3", "--format", "json"])
        .arg("--output")
        .arg(&file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let reports: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let scenarios: std::collections::BTreeSet<&str> = reports
        .iter()
        .map(|r| r["scenario"].as_str().unwrap())
        .collect();
    assert_eq!(
        scenarios.into_iter().collect::<Vec<_>>(),
        ["scenario-2", "scenario-3"]
    );
    for r in &reports {
        assert_eq!(leftovers(r["lab"].as_str().unwrap()), (0, 0));
    }
}

/// A teardown that fails inside `seglab test` keeps the reports: they are
/// printed, then the teardown's error (exit 3). The teardown is made to
/// fail by attaching a container of another lab to one of the lab's
/// networks while it is verified: the engine then refuses to remove it.
#[test]
fn a_failed_teardown_in_test_keeps_the_reports() {
    if !live(LAB) {
        return;
    }
    let holder = up("scenario-2", "holder", &[]);
    let intruder = container(&holder.0, "ams");
    let name = format!("tdown-{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    for f in std::fs::read_dir(repo_root().join("scenarios/scenario-2")).unwrap() {
        let f = f.unwrap().path();
        let text = std::fs::read_to_string(&f).unwrap();
        let text = text.replace("name: scenario-2", &format!("name: {name}"));
        std::fs::write(dir.path().join(f.file_name().unwrap()), text).unwrap();
    }
    let mut child = seglab()
        .args(["-v", "test", "--timeout", "3000", "--no-trace"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut s).unwrap();
        s
    });
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push(line.clone());
        if line.contains("verify base") {
            break;
        }
    }
    let filter = format!("label=io.seglab.scenario={name}");
    let nets = docker(&["network", "ls", "-q", "--filter", &filter]);
    let net = nets.lines().next().expect("the lab's networks").to_string();
    docker(&["network", "connect", &net, &intruder]);
    seen.extend(lines.map(|l| l.unwrap()));
    let status = child.wait().unwrap();
    let stdout = out.join().unwrap();
    let err = seen.join("\n");
    // Put things back before asserting: free the network, take the lab down.
    let _ = Command::new("docker")
        .args(["network", "disconnect", "-f", &net, &intruder])
        .output();
    let lab = err
        .split("cannot take lab ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .map(str::to_string);
    if let Some(lab) = &lab {
        let o = run(&["down", lab]);
        assert!(o.status.success(), "{}", text(&o));
        assert_eq!(leftovers(lab), (0, 0));
    }
    assert_eq!(status.code(), Some(3), "{stdout}\n{err}");
    assert!(lab.is_some(), "{err}");
    assert!(
        stdout.contains(&name),
        "the reports are printed: {stdout}\n{err}"
    );
    assert!(!err.contains("verification failed"), "{err}");
    eprintln!("teardown failure reads:\n{err}");
}

/// Nothing verified (the only scenario's `up` failed): no empty report on
/// stdout or in `--output` (an empty JUnit suite reads as a pass), only the
/// error, with its own exit code.
#[test]
fn a_test_that_verified_nothing_writes_no_report() {
    if !live(LAB) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("junit.xml");
    let o = seglab()
        .args([
            "test",
            "scenario-2",
            "--ruleset",
            &format!("gw-mgmt={}", fixture("rulesets/syntax-error.nft")),
            "--format",
            "junit",
            "--output",
        ])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(o.stdout.is_empty(), "{}", text(&o));
    assert!(!file.exists());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("scenario-2 (lab "), "{err}");
    assert!(err.contains("syntax-error.nft:"), "{err}");
}
