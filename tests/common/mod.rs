//! Helpers shared by the integration tests that drive the real `seglab`
//! binary against the real Docker engine. Such a test starts with
//! `if !live(LAB) { return; }` (see [`live`]).
#![allow(dead_code)]

pub mod live;

// Not every test crate has live tests.
#[allow(unused_imports)]
pub use live::{live, Need};

/// What a test that brings a lab up needs: the engine for the containers,
/// root to enter their network namespaces.
pub const LAB: &[Need] = &[Need::Docker, Need::Root];

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

pub fn seglab() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_seglab"));
    c.env("SEGLAB_NODE_BIN", env!("CARGO_BIN_EXE_seglab-node"));
    c.env_remove("RUST_LOG");
    c
}

pub fn run(args: &[&str]) -> Output {
    seglab().args(args).output().expect("seglab runs")
}

pub fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A lab name no other test (or test process) uses.
pub fn unique(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "t{}-{}-{tag}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// The repository root (the crate lives in `lab/`).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate lives one level below the repository root")
        .to_path_buf()
}

pub fn fixture(rel: &str) -> String {
    repo_root()
        .join("tests/fixtures")
        .join(rel)
        .display()
        .to_string()
}

pub fn docker(args: &[&str]) -> String {
    let o = Command::new("docker")
        .args(args)
        .output()
        .expect("docker runs");
    assert!(o.status.success(), "docker {args:?}: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Containers and networks labelled with this lab.
pub fn leftovers(lab: &str) -> (usize, usize) {
    let filter = format!("label=io.seglab.lab={lab}");
    let c = docker(&["ps", "-aq", "--filter", &filter]).lines().count();
    let n = docker(&["network", "ls", "-q", "--filter", &filter])
        .lines()
        .count();
    (c, n)
}

/// Takes a lab down when the test ends, however it ends.
pub struct LabGuard(pub String);

impl Drop for LabGuard {
    fn drop(&mut self) {
        let _ = run(&["down", &self.0]);
    }
}

/// Brings `scenario` up as a fresh lab named after `tag` (plus `extra`
/// arguments) and returns the guard that takes it down again.
pub fn up(scenario: &str, tag: &str, extra: &[&str]) -> LabGuard {
    let guard = LabGuard(unique(tag));
    let o = seglab()
        .args(["up", scenario, "--name", &guard.0])
        .args(extra)
        .output()
        .expect("seglab runs");
    assert!(o.status.success(), "{}", text(&o));
    guard
}

/// The container of a lab node.
pub fn container(lab: &str, node: &str) -> String {
    format!("seglab-{lab}-{node}")
}

pub fn pid_of(lab: &str, node: &str) -> String {
    docker(&["inspect", "-f", "{{.State.Pid}}", &container(lab, node)])
        .trim()
        .to_string()
}

/// Runs a host program inside a node's network namespace.
pub fn in_netns(lab: &str, node: &str, args: &[&str]) -> String {
    let pid = pid_of(lab, node);
    let o = Command::new("nsenter")
        .args(["-t", &pid, "-n", "--"])
        .args(args)
        .output()
        .expect("nsenter runs");
    assert!(o.status.success(), "{args:?} in {node}: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The JSON reports of a `seglab test`/`verify --format json` run.
pub fn reports(o: &Output) -> Vec<serde_json::Value> {
    let v: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("JSON output ({e}): {}", text(o)));
    match v {
        serde_json::Value::Array(a) => a,
        one => vec![one],
    }
}

/// The failing cells of a report as `src>dst proto/port verdict` lines, sorted.
pub fn failing(report: &serde_json::Value) -> Vec<String> {
    let mut out: Vec<String> = report["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|r| r["verdict"] != "pass")
        .map(|r| {
            format!(
                "{}>{} {}/{} {}",
                r["src"].as_str().unwrap(),
                r["dst"].as_str().unwrap(),
                r["proto"].as_str().unwrap(),
                r["port"],
                r["verdict"].as_str().unwrap()
            )
        })
        .collect();
    out.sort();
    out
}

/// `seglab verify LAB --format json` with a long timeout, during which
/// `node`'s container is killed (once probing is well under way).
pub fn verify_while_killing(lab: &str, node: &str) -> Output {
    // A long timeout keeps the blocked probes in flight while we kill;
    // without tracing, no drop evidence ends them sooner.
    let child = seglab()
        .args([
            "verify",
            lab,
            "--format",
            "json",
            "--timeout",
            "4000",
            "--no-trace",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("seglab starts");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    docker(&["kill", &container(lab, node)]);
    child.wait_with_output().expect("seglab runs")
}

/// The id of the network of `segment` in lab `lab`.
pub fn network_of(lab: &str, segment: &str) -> String {
    docker(&[
        "network",
        "ls",
        "-q",
        "--filter",
        &format!("label=io.seglab.lab={lab}"),
        "--filter",
        &format!("label=io.seglab.segment={segment}"),
    ])
    .trim()
    .to_string()
}

/// `seglab explain LAB ARGS…`.
pub fn explain(lab: &str, args: &[&str]) -> Output {
    seglab().args(["explain", lab]).args(args).output().unwrap()
}

pub fn explain_json(lab: &str, args: &[&str]) -> serde_json::Value {
    let o = seglab()
        .args(["explain", lab])
        .args(args)
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("JSON ({e}): {}", text(&o)))
}
