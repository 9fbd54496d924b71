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

/// No panic (exit 101) and no "panicked" message, whatever happened.
#[track_caller]
fn assert_no_panic(o: &Output) {
    assert_ne!(o.status.code(), Some(101), "{}", stderr(o));
    assert!(!stderr(o).contains("panicked"), "{}", stderr(o));
}

/// A full device is an environment problem: a message and exit 3.
#[test]
fn output_to_a_full_device_is_exit_3_with_a_message() {
    for args in [
        &["render", "scenario-3"][..],
        &["plan", "scenario-4"],
        &["--help"],
    ] {
        let o = Command::new(env!("CARGO_BIN_EXE_seglab"))
            .args(args)
            .current_dir(repo_root())
            .stdout(std::fs::File::create("/dev/full").unwrap())
            .output()
            .unwrap();
        assert_no_panic(&o);
        assert_exit(&o, 3);
        assert!(
            stderr(&o).contains("cannot write to standard output"),
            "{}",
            stderr(&o)
        );
    }
}

/// `seglab plan ... | head -c 10`: a reader that has seen enough closes
/// the pipe; seglab stops quietly with exit 0, as ripgrep does. The JSON
/// plan of scenario 4 is larger than a pipe's buffer, so the write meets
/// the closed pipe every time; repeated to catch the race of smaller ones.
#[test]
fn a_reader_that_closes_early_is_a_quiet_exit() {
    use std::io::Read;
    use std::process::Stdio;
    for round in 0..4 {
        for (args, keep) in [
            (&["plan", "scenario-4", "--format", "json"][..], 10),
            (&["plan", "scenario-3"], 1),
            (&["render", "scenario-4"], 1),
            (&["test", "--help"], 1),
        ] {
            let mut child = Command::new(env!("CARGO_BIN_EXE_seglab"))
                .args(args)
                .current_dir(repo_root())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let mut buf = vec![0; keep];
            child.stdout.take().unwrap().read_exact(&mut buf).unwrap();
            // The read end is closed here (the pipe was dropped).
            let o = child.wait_with_output().unwrap();
            assert_no_panic(&o);
            assert_exit(&o, 0);
            assert_eq!(stderr(&o), "", "round {round}, {args:?}");
        }
    }
}

#[test]
fn a_timeout_outside_50_to_60000_ms_is_bad_input() {
    for t in ["0", "1", "49", "60001", "99999999999999"] {
        for verb in [&["verify", "some-lab"][..], &["test", "scenario-2"]] {
            let o = seglab(&[verb, &["--timeout", t]].concat());
            assert_exit(&o, 2);
            let err = stderr(&o);
            assert!(err.contains("--timeout"), "{t}: {err}");
            // Argument parsing refuses it: Docker is never asked.
            assert!(!err.contains("Docker"), "{t}: {err}");
        }
    }
    let o = seglab(&["verify", "some-lab", "--timeout", "1"]);
    assert!(stderr(&o).contains("50..=60000"), "{}", stderr(&o));
    // The bounds themselves are accepted: what fails then is the missing engine.
    for t in ["50", "60000"] {
        let o = seglab(&["verify", "some-lab", "--timeout", t]);
        assert_exit(&o, 3);
        assert!(stderr(&o).contains("Docker engine"), "{}", stderr(&o));
    }
}

#[test]
fn plan_formats_are_listed_when_one_is_wrong() {
    let o = seglab(&["plan", "scenario-3", "--format", "xml"]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("table, json"), "{}", stderr(&o));
}

/// An `--output` that cannot be written is found before any lab is touched
/// (exit 2, naming the path, Docker never asked), and leaves nothing.
#[test]
fn an_unwritable_output_is_found_before_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let missing_dir = dir.path().join("no-such-dir/report.json");
    let a_dir = dir.path().to_path_buf();
    for path in [&missing_dir, &a_dir] {
        let p = path.display().to_string();
        for verb in [&["verify", "some-lab"][..], &["test", "scenario-2"]] {
            let o = seglab(&[verb, &["--output", &p]].concat());
            assert_exit(&o, 2);
            let err = stderr(&o);
            assert!(err.contains(&format!("--output {p}")), "{err}");
            assert!(!err.contains("Docker"), "{err}");
        }
    }
    assert!(!missing_dir.parent().unwrap().exists());
    // A writable path passes the check and is not created by it: what
    // fails is the engine, and the file does not exist.
    let fresh = dir.path().join("fresh.json");
    let o = seglab(&[
        "verify",
        "some-lab",
        "--output",
        &fresh.display().to_string(),
    ]);
    assert_exit(&o, 3);
    assert!(!fresh.exists());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

/// A file that is not UTF-8 gets the line, column and byte offset of its
/// first bad byte, like every other scenario problem.
#[test]
fn a_scenario_that_is_not_utf8_is_located() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("latin1.yaml");
    std::fs::write(&file, b"name: cafe\ntitle: Caf\xe9 network\n").unwrap();
    let f = file.display().to_string();
    for verb in ["validate", "plan", "render"] {
        let o = seglab(&[verb, &f]);
        assert_exit(&o, 2);
        let err = stderr(&o);
        assert!(
            err.contains(&format!("{f}:2:11: byte 0xe9 at offset 21 is not UTF-8")),
            "{err}"
        );
    }
}

/// `validate good bad missing`: the problems of every file, the missing
/// one's included, in one run.
#[test]
fn validate_reports_a_missing_file_beside_the_problems_of_the_others() {
    let bad = "tests/fixtures/invalid/flow-unknown-number.yaml";
    let o = seglab(&["validate", "scenario-2", bad, "missing.yaml"]);
    assert_exit(&o, 2);
    let err = stderr(&o);
    assert!(
        err.contains(&format!("{bad}:13:12: policy[0].flow")),
        "{err}"
    );
    assert!(err.contains("`missing.yaml`"), "{err}");
    assert!(err.trim_end().ends_with("2 problems found"), "{err}");
}

#[test]
fn report_formats_are_listed_when_one_is_wrong() {
    let o = seglab(&["verify", "nolab", "--format", "html5"]);
    assert_exit(&o, 2);
    assert!(
        stderr(&o).contains("expected table, json, junit, markdown or html"),
        "{}",
        stderr(&o)
    );
}

/// `graph` draws every built-in scenario in every format, to standard
/// output or to `--output` (then printing nothing).
#[test]
fn graph_draws_every_builtin_scenario_in_every_format() {
    for name in BUILTINS {
        let o = seglab(&["graph", name]);
        assert_exit(&o, 0);
        let svg = stdout(&o);
        assert!(
            svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""),
            "{svg}"
        );
        assert!(svg.trim_end().ends_with("</svg>"), "{svg}");
        let o = seglab(&["graph", name, "--format", "dot"]);
        assert_exit(&o, 0);
        assert!(
            stdout(&o).contains(&format!("graph \"{name}\" {{")),
            "{}",
            stdout(&o)
        );
        let o = seglab(&["graph", name, "--format", "mermaid"]);
        assert_exit(&o, 0);
        assert!(stdout(&o).contains("\nflowchart LR\n"), "{}", stdout(&o));
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("topology.dot");
    let o = seglab(&[
        "graph",
        "scenario-3",
        "--format",
        "dot",
        "--output",
        &file.display().to_string(),
    ]);
    assert_exit(&o, 0);
    assert_eq!(stdout(&o), "");
    let written = std::fs::read_to_string(&file).unwrap();
    assert!(
        written.contains("\"gateway:gw-mgmt\" -- \"segment:transit\""),
        "{written}"
    );
}

/// Neither a scenario nor a lab: bad input naming both possibilities,
/// whether the engine could be asked (here it cannot) or the name cannot
/// be a lab's at all (then the engine is not asked).
#[test]
fn graph_of_neither_a_scenario_nor_a_lab_is_bad_input() {
    let o = seglab(&["graph", "no-such-lab"]);
    assert_exit(&o, 2);
    let err = stderr(&o);
    assert!(
        err.contains("no scenario file or built-in scenario named `no-such-lab`"),
        "{err}"
    );
    assert!(err.contains("scenario-1, scenario-2"), "{err}");
    assert!(
        err.contains("no lab of that name could be looked for"),
        "{err}"
    );
    assert!(err.contains("unix:///nonexistent/docker.sock"), "{err}");
    assert_eq!(stdout(&o), "");

    let o = seglab(&["graph", "missing/scenario.yaml", "--format", "mermaid"]);
    assert_exit(&o, 2);
    let err = stderr(&o);
    assert!(err.contains("named `missing/scenario.yaml`"), "{err}");
    assert!(err.contains("cannot be a lab's name"), "{err}");
    assert!(!err.contains("Docker"), "{err}");

    for args in [
        &["graph", "scenario-3", "--format", "png"][..],
        &["graph", "scenario-3", "--param", "console_port"],
        &["graph"],
    ] {
        assert_exit(&seglab(args), 2);
    }
}
