//! The `seglab` binary as a user runs it, for the commands that need no
//! Docker: exit codes (0 ok, 2 bad input, 3 environment), what goes to
//! stdout and stderr, and the JSON plan's shape.

mod common;

use common::repo_root;

use std::path::Path;
use std::process::{Command, Output};

const BUILTINS: [&str; 4] = ["scenario-1", "scenario-2", "scenario-3", "scenario-4"];

/// Runs `seglab ARGS` from the repository root, with no Docker in reach.
fn seglab_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_seglab"))
        .args(args)
        .current_dir(dir)
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .env_remove("RUST_LOG")
        .output()
        .expect("the seglab binary runs")
}

fn seglab(args: &[&str]) -> Output {
    seglab_in(&repo_root(), args)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
fn assert_exit(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "exit status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status,
        stdout(o),
        stderr(o)
    );
}

fn plan_json(args: &[&str]) -> serde_json::Value {
    let o = seglab(args);
    assert_exit(&o, 0);
    serde_json::from_str(&stdout(&o))
        .unwrap_or_else(|e| panic!("`seglab {args:?}` is not JSON: {e}\n{}", stdout(&o)))
}

/// The one cell of a JSON plan for (src, dst, proto, port).
fn json_cell<'a>(
    plan: &'a serde_json::Value,
    src: &str,
    dst: &str,
    proto: &str,
    port: u64,
) -> &'a serde_json::Value {
    let matching: Vec<&serde_json::Value> = plan["cells"]
        .as_array()
        .expect("cells is a list")
        .iter()
        .filter(|c| c["src"] == src && c["dst"] == dst && c["proto"] == proto && c["port"] == port)
        .collect();
    assert_eq!(
        matching.len(),
        1,
        "{src} -> {dst} {proto}/{port}: {matching:?}"
    );
    matching[0]
}

#[test]
fn validate_accepts_the_builtin_scenarios() {
    let o = seglab(&[&["validate"][..], &BUILTINS[..]].concat());
    assert_exit(&o, 0);
    let out = stdout(&o);
    for name in BUILTINS {
        assert!(
            out.contains(&format!("ok: scenarios/{name}/scenario.yaml ({name}:")),
            "{out}"
        );
    }
    assert_eq!(out.lines().count(), 4, "{out}");
}

#[test]
fn validate_reports_every_problem_of_every_file() {
    let a = "tests/fixtures/invalid/flow-unknown-number.yaml";
    let b = "tests/fixtures/invalid/several-problems.yaml";
    let o = seglab(&["validate", a, "scenario-2", b]);
    assert_exit(&o, 2);
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "{a}:13:12: policy[0].flow: unknown Appendix A flow 42 (flows are numbered 1-19)"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{b}:10:29: segments[1].subnet: `198.18.51.0/33` is not an IPv4 subnet"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{b}:22:59: policy[2].basis: unknown basis `guessed`"
        )),
        "{err}"
    );
    // One from the first file, thirteen from the second.
    assert!(err.trim_end().ends_with("14 problems found"), "{err}");
    assert!(stdout(&o).is_empty(), "{}", stdout(&o));
}

#[test]
fn validate_a_missing_file_or_name_is_bad_input() {
    let o = seglab(&["validate", "tests/fixtures/invalid/no-such-file.yaml"]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("no-such-file.yaml"), "{}", stderr(&o));
}

#[test]
fn plan_json_has_the_documented_fields() {
    let plan = plan_json(&["plan", "scenario-3", "--format", "json"]);
    assert_eq!(plan["scenario"], "scenario-3");
    assert!(plan["phase"].is_null());
    let cells = plan["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 5 * 4 * plan["ports"].as_array().unwrap().len());
    for c in cells {
        for field in ["src", "dst", "proto", "port", "expected", "flow"] {
            assert!(c.get(field).is_some(), "cell without `{field}`: {c}");
        }
        assert!(c["src"].is_string() && c["dst"].is_string());
        assert!(c["proto"] == "tcp" || c["proto"] == "udp", "{c}");
        assert!(c["port"].is_u64(), "{c}");
        assert!(c["expected"] == "open" || c["expected"] == "blocked", "{c}");
        assert!(c["flow"].is_null() || c["flow"].is_u64(), "{c}");
    }
    // "All agents ... require an open outbound port 7780 to the management server."
    let c = json_cell(&plan, "agent-1", "ams", "tcp", 7780);
    assert_eq!(c["expected"], "open");
    assert_eq!(c["flow"], 5);
    // No push installation outside the phase.
    let c = json_cell(&plan, "ams", "agent-1", "tcp", 445);
    assert_eq!(c["expected"], "blocked");
    assert!(c["flow"].is_null());
}

#[test]
fn plan_with_a_phase() {
    let plan = plan_json(&[
        "plan",
        "scenario-3",
        "--phase",
        "push-install",
        "--format",
        "json",
    ]);
    assert_eq!(plan["phase"], "push-install");
    for port in [445, 25001, 43234] {
        let c = json_cell(&plan, "ams", "agent-2", "tcp", port);
        assert_eq!(c["expected"], "open", "{c}");
        assert_eq!(c["flow"], 6, "{c}");
        assert_eq!(
            json_cell(&plan, "admin", "agent-2", "tcp", port)["expected"],
            "blocked"
        );
    }

    // The table format works too and says which phase it shows.
    let o = seglab(&["plan", "scenario-3", "--phase", "push-install"]);
    assert_exit(&o, 0);
    assert!(stdout(&o).contains("phase push-install"), "{}", stdout(&o));
}

#[test]
fn plan_with_an_unknown_phase_names_the_known_ones() {
    let o = seglab(&["plan", "scenario-3", "--phase", "nope"]);
    assert_exit(&o, 2);
    let err = stderr(&o);
    assert!(
        err.contains("`nope`") && err.contains("push-install"),
        "{err}"
    );
    // A scenario without phases says so.
    let o = seglab(&["plan", "scenario-2", "--phase", "push-install"]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("phases: none"), "{}", stderr(&o));
}

#[test]
fn plan_params_move_the_console_port() {
    let plan = plan_json(&[
        "plan",
        "scenario-2",
        "--format",
        "json",
        "--param",
        "console_port=10443",
    ]);
    let c = json_cell(&plan, "admin", "ams", "tcp", 10443);
    assert_eq!(c["expected"], "open");
    assert_eq!(c["flow"], 3);
    assert_eq!(
        json_cell(&plan, "admin", "ams", "tcp", 9877)["expected"],
        "blocked"
    );
}

#[test]
fn bad_params_are_bad_input() {
    for args in [
        &["plan", "scenario-3", "--param", "bogus=1"][..],
        &["plan", "scenario-3", "--param", "console_port=0"],
        &["plan", "scenario-3", "--param", "release=u7"],
        &["render", "scenario-3", "--param", "console_port"],
    ] {
        let o = seglab(args);
        assert_exit(&o, 2);
        assert!(stderr(&o).contains("--param"), "{args:?}: {}", stderr(&o));
    }
    let o = seglab(&["plan", "scenario-3", "--param", "bogus=1"]);
    assert!(
        stderr(&o).contains("console_port, release"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn render_one_gateway() {
    let o = seglab(&["render", "scenario-4", "--gateway", "gw-sensitive"]);
    assert_exit(&o, 0);
    let out = stdout(&o);
    assert!(
        out.contains("# Reference rule set for gateway gw-sensitive of scenario-4"),
        "{out}"
    );
    assert!(
        out.contains("ip saddr { $agent_1, $agent_2 } ip daddr $offsite_sftp tcp dport 22 accept"),
        "{out}"
    );
    assert!(
        out.contains("ip saddr { $agent_1, $agent_2 } ip daddr $ams tcp dport 7780 accept"),
        "{out}"
    );
    // Only that gateway.
    assert_eq!(out.matches("# Reference rule set").count(), 1, "{out}");

    // Without --gateway: every gateway of the scenario.
    let o = seglab(&["render", "scenario-4"]);
    assert_exit(&o, 0);
    let out = stdout(&o);
    for g in ["gw-mgmt", "gw-sensitive", "gw-edge", "gw-offsite"] {
        assert!(out.contains(&format!("gateway {g} of scenario-4")), "{out}");
    }
}

#[test]
fn render_an_unknown_gateway_is_bad_input() {
    let o = seglab(&["render", "scenario-4", "--gateway", "gw-nope"]);
    assert_exit(&o, 2);
    let err = stderr(&o);
    assert!(err.contains("gw-nope"), "{err}");
    assert!(
        err.contains("gw-mgmt, gw-sensitive, gw-edge, gw-offsite"),
        "{err}"
    );
    assert!(stdout(&o).is_empty());
}

#[test]
fn an_unknown_scenario_lists_the_builtin_ones() {
    for args in [
        &["plan", "scenario-9"][..],
        &["render", "scenario-9"],
        &["validate", "scenario-9"],
    ] {
        let o = seglab(args);
        assert_exit(&o, 2);
        let err = stderr(&o);
        assert!(err.contains("scenario-9"), "{err}");
        assert!(err.contains(&BUILTINS.join(", ")), "{err}");
    }
}

#[test]
fn builtin_scenarios_work_from_any_directory() {
    let o = seglab_in(Path::new("/"), &["plan", "scenario-3"]);
    assert_exit(&o, 0);
    assert!(stdout(&o).contains("scenario-3"), "{}", stdout(&o));
    let o = seglab_in(Path::new("/"), &["validate", "scenario-4"]);
    assert_exit(&o, 0);
    let o = seglab_in(Path::new("/"), &["list"]);
    assert_exit(&o, 0);
    for name in BUILTINS {
        assert!(stdout(&o).contains(name), "{}", stdout(&o));
    }
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["plan"][..],
        &["plan", "scenario-3", "--format", "xml"],
        &["frobnicate"],
    ] {
        let o = seglab(args);
        assert_exit(&o, 2);
    }
}

/// No Docker engine at DOCKER_HOST: an environment problem (exit 3), said
/// in words a user can act on.
#[test]
fn status_without_docker_is_an_environment_error() {
    let o = seglab(&["status"]);
    assert_exit(&o, 3);
    let err = stderr(&o);
    assert!(err.contains("Docker engine"), "{err}");
    assert!(
        err.contains("not there") || err.contains("not reachable"),
        "{err}"
    );
    assert!(err.contains("unix:///nonexistent/docker.sock"), "{err}");
}
