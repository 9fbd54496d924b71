//! Keeps the README's worked example, "Reproduce a customer's problem",
//! true. Every `$ ` command of the section's `console` blocks runs, in
//! order, in a copy of `tests/fixtures/customer/` (where the example tells
//! the reader to `cd`), with the `seglab` under test first on `PATH`. Each
//! output line the README shows must come out of its command, in the order
//! shown; a `…` in a shown line stands for any text, and lines the README
//! leaves out may come in between. A command the README marks `# exit N`
//! must exit with N, every other one with 0.

mod common;

use common::{live, repo_root, text, LAB};
use std::path::Path;
use std::process::Command;

const SECTION: &str = "## Reproduce a customer's problem";

/// One `$ ` command of the example and the output the README shows for it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Step {
    command: String,
    exit: i32,
    shown: Vec<String>,
}

/// The steps of the section headed [`SECTION`] in `readme`.
fn steps(readme: &str) -> Vec<Step> {
    let start = readme
        .find(SECTION)
        .unwrap_or_else(|| panic!("README.md has no section `{SECTION}`"));
    let body = &readme[start + SECTION.len()..];
    let body = body.find("\n## ").map_or(body, |end| &body[..end]);
    let mut steps: Vec<Step> = Vec::new();
    let mut in_console = false;
    let mut continued = false;
    for line in body.lines() {
        let trimmed = line.trim_end();
        if trimmed.starts_with("```") {
            in_console = !in_console && trimmed == "```console";
            continued = false;
            continue;
        }
        if !in_console {
            continue;
        }
        if continued {
            let step = steps.last_mut().expect("a command to continue");
            step.command.push(' ');
            step.command.push_str(trimmed.trim_end_matches('\\').trim());
            continued = trimmed.ends_with('\\');
            continue;
        }
        if let Some(cmd) = trimmed.strip_prefix("$ ") {
            continued = cmd.ends_with('\\');
            steps.push(Step {
                command: cmd.trim_end_matches('\\').trim().to_string(),
                exit: 0,
                shown: Vec::new(),
            });
        } else if let Some(step) = steps.last_mut() {
            if !trimmed.trim().is_empty() {
                step.shown.push(trimmed.to_string());
            }
        }
    }
    for step in &mut steps {
        if let Some((cmd, code)) = step.command.rsplit_once("# exit ") {
            step.exit = code.trim().parse().expect("`# exit N` names a number");
            step.command = cmd.trim().to_string();
        }
    }
    steps
}

/// Runs of spaces count as one: tables align their columns to their
/// content.
fn squeeze(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether an output line is what the README shows, `…` matching any text.
fn matches(shown: &str, line: &str) -> bool {
    let shown = squeeze(shown);
    let line = squeeze(line);
    let parts: Vec<&str> = shown.split('…').map(str::trim).collect();
    if parts.len() == 1 {
        return line == shown;
    }
    let mut rest = line.as_str();
    for (i, part) in parts.iter().enumerate() {
        if part.is_empty() {
            continue;
        }
        match rest.find(part) {
            Some(at) if i > 0 || at == 0 => rest = &rest[at + part.len()..],
            _ => return false,
        }
    }
    parts.last().is_some_and(|p| p.is_empty()) || rest.is_empty()
}

/// The shown lines that do not come out, in order, of `output`.
fn unseen(shown: &[String], output: &str) -> Vec<String> {
    let mut lines = output.lines();
    shown
        .iter()
        .filter(|s| !lines.by_ref().any(|l| matches(s, l)))
        .cloned()
        .collect()
}

/// Takes the example's lab down however the test ends.
struct Down(&'static str);

impl Drop for Down {
    fn drop(&mut self) {
        let _ = common::run(&["down", self.0]);
    }
}

#[test]
fn the_readme_example_runs_as_written() {
    if !live(LAB) {
        return;
    }
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let steps = steps(&readme);
    assert!(
        steps.len() >= 5,
        "the example has too few commands: {steps:?}"
    );
    let dir = tempfile::tempdir().unwrap();
    let fixtures = repo_root().join("tests/fixtures/customer");
    for entry in std::fs::read_dir(&fixtures).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
    }
    let _down = Down("northwind");
    let bin = Path::new(env!("CARGO_BIN_EXE_seglab")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for step in &steps {
        let o = Command::new("sh")
            .args(["-c", &step.command])
            .current_dir(dir.path())
            .env("PATH", &path)
            .env("SEGLAB_NODE_BIN", env!("CARGO_BIN_EXE_seglab-node"))
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG")
            .output()
            .unwrap();
        let output = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(
            o.status.code(),
            Some(step.exit),
            "`{}` exits {}: {}",
            step.command,
            step.exit,
            text(&o)
        );
        let missing = unseen(&step.shown, &output);
        assert!(
            missing.is_empty(),
            "`{}`: the README shows lines that did not come out:\n{}\n{}",
            step.command,
            missing.join("\n"),
            text(&o)
        );
    }
}

#[test]
fn steps_are_read_with_their_output_and_exit_codes() {
    let readme = "# x\n## Reproduce a customer's problem\ntext\n```console\n$ seglab up a \\\n    --name b\nup\n\n$ seglab verify b   # exit 1\nleak …\n```\n```sh\n$ not a step\n```\n## Next\n```console\n$ nor this\n```\n";
    assert_eq!(
        steps(readme),
        vec![
            Step {
                command: "seglab up a --name b".into(),
                exit: 0,
                shown: vec!["up".into()],
            },
            Step {
                command: "seglab verify b".into(),
                exit: 1,
                shown: vec!["leak …".into()],
            },
        ]
    );
}

#[test]
fn an_ellipsis_matches_any_text_and_order_counts() {
    assert!(matches("leak … tcp/445", "leak   admin -> ams tcp/445"));
    assert!(matches("… tcp/445 …", "x tcp/445 y"));
    assert!(!matches("leak … tcp/445", "pass admin tcp/445"));
    assert!(!matches("leak … tcp/445", "leak admin tcp/4450"));
    assert!(matches("a  b", "a b"));
    let shown = vec!["one".to_string(), "two".to_string()];
    assert!(unseen(&shown, "one\nx\ntwo\n").is_empty());
    assert_eq!(unseen(&shown, "two\none\n"), vec!["two".to_string()]);
}
