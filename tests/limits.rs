//! Probing stays within the open-file limit: `verify` under `ulimit -n 256`
//! (and 512) gives the verdicts it gives without a limit, with no `error`
//! cell and no hang, and a limit too low to probe at all is an environment
//! error (exit 3) that says so, before anything is probed.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// `seglab verify LAB --format json` under `ulimit -n LIMIT` (soft and
/// hard, as the shell sets both), or without a limit. Killed after a
/// deadline so that a hang fails the test instead of stalling the suite.
fn verify_under(lab: &str, limit: Option<u32>) -> Output {
    verify_within(lab, limit, Duration::from_secs(180))
}

fn verify_within(lab: &str, limit: Option<u32>, deadline: Duration) -> Output {
    let script = match limit {
        Some(n) => format!("ulimit -n {n} && exec \"$0\" verify \"$1\" --format json"),
        None => "exec \"$0\" verify \"$1\" --format json".to_string(),
    };
    // To files, not pipes: a report does not fit a pipe's buffer, and
    // nobody reads the pipe while we wait.
    let out = tempfile::tempfile().unwrap();
    let err = tempfile::tempfile().unwrap();
    let mut child = Command::new("sh")
        .args(["-c", &script, env!("CARGO_BIN_EXE_seglab"), lab])
        .env("SEGLAB_NODE_BIN", env!("CARGO_BIN_EXE_seglab-node"))
        .env_remove("RUST_LOG")
        .stdout(Stdio::from(out.try_clone().unwrap()))
        .stderr(Stdio::from(err.try_clone().unwrap()))
        .spawn()
        .expect("sh runs");
    let deadline = Instant::now() + deadline;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("seglab verify under ulimit -n {limit:?} hung");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let read = |mut f: std::fs::File| {
        use std::io::{Read, Seek};
        let mut v = Vec::new();
        f.rewind().unwrap();
        f.read_to_end(&mut v).unwrap();
        v
    };
    Output {
        status,
        stdout: read(out),
        stderr: read(err),
    }
}

/// Each cell's verdict, by `src>dst proto/port`.
fn verdicts(o: &Output) -> BTreeMap<String, String> {
    let reports = reports(o);
    assert_eq!(reports.len(), 1, "{}", text(o));
    reports[0]["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            (
                format!("{}>{} {}/{}", r["src"], r["dst"], r["proto"], r["port"]),
                r["verdict"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Before the window, 512 gave 273 `error` cells of 900 (two descriptors a
/// probe, every source at once) and 256 probed one cell at a time per source.
#[test]
fn verify_under_ulimit_256_gives_the_same_verdicts_without_errors() {
    if !live(LAB) {
        return;
    }
    let lab = up("scenario-4", "limits", &[]);
    let free = verify_under(&lab.0, None);
    assert_eq!(free.status.code(), Some(0), "{}", text(&free));
    for limit in [256, 512] {
        let tight = verify_under(&lab.0, Some(limit));
        assert_eq!(tight.status.code(), Some(0), "{limit}: {}", text(&tight));
        let summary = &reports(&tight)[0]["summary"];
        assert_eq!(summary["errors"], 0, "{limit}: {}", text(&tight));
        assert_eq!(summary["probes"], 900, "{summary}");
        assert_eq!(verdicts(&tight), verdicts(&free), "{limit}");
    }
}

#[test]
fn a_limit_too_low_to_probe_is_an_environment_error() {
    if !live(LAB) {
        return;
    }
    let lab = up("scenario-4", "limits-low", &[]);
    let o = verify_under(&lab.0, Some(32));
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("open-file limit (ulimit -n) is 32"),
        "{}",
        text(&o)
    );
    assert!(o.stdout.is_empty(), "{}", text(&o));
}

const SCALE_56: &str = "tests/scale/scale-56/scenario.yaml";

#[test]
fn the_scale_lab_validates_with_its_full_matrix() {
    let path = repo_root().join(SCALE_56);
    let path = path.to_str().unwrap();
    let o = run(&["validate", path]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let sc = seglab::scenario::Source::open(path)
        .unwrap()
        .load(&[])
        .unwrap();
    assert_eq!((sc.hosts.len(), sc.gateways.len()), (48, 8));
    assert_eq!(seglab::plan::plan(&sc, None).unwrap().cells.len(), 67_680);
}

/// The 56-node lab verifies clean at the machine's limit and under 256
/// (minutes: the drops time out a window at a time). On demand:
/// `cargo test --test limits scale -- --ignored --nocapture`.
#[test]
#[ignore]
fn the_56_node_lab_verifies_clean_at_any_limit() {
    if !live(LAB) {
        return;
    }
    let path = repo_root().join(SCALE_56);
    let lab = up(path.to_str().unwrap(), "scale", &[]);
    let free = verify_under(&lab.0, None);
    assert_eq!(free.status.code(), Some(0), "{}", text(&free));
    let tight = verify_within(&lab.0, Some(256), Duration::from_secs(900));
    assert_eq!(tight.status.code(), Some(0), "{}", text(&tight));
    for o in [&free, &tight] {
        let summary = &reports(o)[0]["summary"];
        eprintln!("{summary}");
        assert_eq!(summary["errors"], 0, "{summary}");
        assert_eq!(summary["probes"], 67_680, "{summary}");
    }
}
