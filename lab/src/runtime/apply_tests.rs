//! `apply` and `watch` against the in-memory backend: every file is checked
//! before any gateway changes, a refused file changes nothing (rule sets,
//! seals and the recorded scenario), a phase left open is refused, the
//! recorded scenario is the one `verify` closes a phase back to, and a
//! watched save prints the cells it changed.

use super::fake::FakeBackend;
use super::fake_tests::{policy, running, up};
use super::LabBackend;
use crate::error::Error;
use crate::lab::apply::{apply, short_hash};
use crate::lab::RulesetOverride;
use crate::verify::verify_lab;

fn file(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

fn ov(s: &str) -> RulesetOverride {
    s.parse().unwrap()
}

fn seals(b: &FakeBackend, lab: &str) -> Vec<Option<String>> {
    b.with(|s| s.labs[lab].nodes.values().map(|n| n.seal.clone()).collect())
}

#[tokio::test]
async fn every_file_is_checked_before_any_gateway_changes_and_the_scenario_is_recorded() {
    let (_, b, lab) = running("scenario-3").await;
    let dir = tempfile::tempdir().unwrap();
    let a = file(&dir, "a.nft", "table inet filter { # a\n}\n");
    let s = file(&dir, "s.nft", "table inet filter { # s\n}\n");
    let before = b.log().len();
    let changes = apply(
        &b,
        &lab,
        &[
            ov(&format!("gw-mgmt={a}")),
            ov(&format!("gw-sensitive={s}")),
        ],
    )
    .await
    .unwrap();
    let log: Vec<String> = b.log()[before..]
        .iter()
        .filter(|l| !l.starts_with("seal"))
        .cloned()
        .collect();
    assert_eq!(
        log,
        [
            "check gw-mgmt",
            "check gw-sensitive",
            "replace gw-mgmt: table inet filter { # a",
            "replace gw-sensitive: table inet filter { # s",
            &format!("record {lab}"),
        ]
    );
    assert_eq!(changes.len(), 2);
    assert!(changes[0].describe().starts_with(&format!(
        "gw-mgmt: scenarios/scenario-3/gw-mgmt.nft -> {a} (sha256 "
    )));
    let info = b.find_lab(&lab).await.unwrap();
    let rs = info
        .scenario
        .gateway("gw-mgmt")
        .unwrap()
        .ruleset
        .clone()
        .unwrap();
    assert_eq!(
        (rs.file.as_str(), short_hash(&rs.text).len()),
        (a.as_str(), 12)
    );
    // Sealed after the change: the next verify finds every node sound.
    let reports = verify_lab(&b, &lab, None, super::fake_tests::opts())
        .await
        .unwrap();
    assert!(reports[0].notes.is_empty());
}

#[tokio::test]
async fn a_refused_file_changes_nothing_anywhere() {
    let (sc, b, lab) = running("scenario-3").await;
    let dir = tempfile::tempdir().unwrap();
    let good = file(&dir, "good.nft", "table inet filter { # good\n}\n");
    let bad = file(&dir, "bad.nft", "table inet filter { # BAD\n}\n");
    b.with(|s| s.refuse = Some(("gw-sensitive".into(), "BAD".into())));
    let seals_before = seals(&b, &lab);
    let before = b.log().len();
    let e = apply(
        &b,
        &lab,
        &[
            ov(&format!("gw-mgmt={good}")),
            ov(&format!("gw-sensitive={bad}")),
        ],
    )
    .await
    .unwrap_err();
    assert_eq!(e.exit_code(), 2);
    // (The fake places its refusal on line 1, in the defines.)
    assert!(
        e.to_string().contains(&format!(
            "gateway gw-sensitive of lab {lab} refused rule set {bad}"
        )),
        "{e}"
    );
    // Checked on both, loaded nowhere, nothing recorded.
    assert_eq!(b.log()[before..], ["check gw-mgmt", "check gw-sensitive"]);
    assert_eq!(seals(&b, &lab), seals_before);
    let info = b.find_lab(&lab).await.unwrap();
    assert_eq!(info.scenario, sc);
}

#[tokio::test]
async fn bad_input_is_refused_before_anything_runs() {
    let (_, b, lab) = running("scenario-3").await;
    let before = b.log().len();
    let e = apply(&b, &lab, &[ov("gw-nope=/dev/null")])
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Input(m) if m.contains("gw-nope") && m.contains("gw-mgmt")),
        "{e}"
    );
    let e = apply(&b, &lab, &[ov("gw-mgmt=/no/such/file.nft")])
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Input(m) if m.contains("/no/such/file.nft")),
        "{e}"
    );
    let e = apply(&b, "no-such-lab", &[ov("gw-mgmt=/dev/null")])
        .await
        .unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert_eq!(b.log().len(), before);
    // A stopped node: the lab is not running.
    b.with(|s| {
        s.labs
            .get_mut(&lab)
            .unwrap()
            .nodes
            .get_mut("ams")
            .unwrap()
            .running = false
    });
    let e = apply(&b, &lab, &[ov("gw-mgmt=/dev/null")])
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Input(m) if m.contains(&format!("lab {lab} is not running (ams is exited"))),
        "{e}"
    );
}

#[tokio::test]
async fn an_open_phase_is_refused_and_a_phase_closes_back_to_the_applied_rule_set() {
    let (_, b, lab) = running("scenario-3").await;
    let dir = tempfile::tempdir().unwrap();
    let a = file(&dir, "a.nft", "table inet filter { # applied\n}\n");
    // A phase left open by an interrupted verify.
    let node = b
        .find_lab(&lab)
        .await
        .unwrap()
        .running("gw-mgmt")
        .unwrap()
        .clone();
    crate::health::seal_node(&b, &node, Some("push-install"))
        .await
        .unwrap();
    let e = apply(&b, &lab, &[ov(&format!("gw-mgmt={a}"))])
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Input(m) if m.contains("phase push-install open")),
        "{e}"
    );
    crate::health::seal_node(&b, &node, None).await.unwrap();
    apply(&b, &lab, &[ov(&format!("gw-mgmt={a}"))])
        .await
        .unwrap();
    let before = b.log().len();
    verify_lab(&b, &lab, Some("push-install"), super::fake_tests::opts())
        .await
        .unwrap();
    assert!(
        b.log()[before..]
            .iter()
            .any(|l| l == "load gw-mgmt: table inet filter { # applied"),
        "{:?}",
        &b.log()[before..]
    );
}

#[tokio::test]
async fn a_phase_file_only_changes_the_record() {
    let (_, b, lab) = running("scenario-3").await;
    let dir = tempfile::tempdir().unwrap();
    let p = file(&dir, "p.nft", "table inet filter { # phase\n}\n");
    let before = b.log().len();
    let changes = apply(&b, &lab, &[ov(&format!("gw-mgmt@push-install={p}"))])
        .await
        .unwrap();
    assert_eq!(b.log()[before..], [format!("record {lab}")]);
    assert!(changes[0]
        .describe()
        .contains("loaded when the phase opens"));
    let info = b.find_lab(&lab).await.unwrap();
    let ph = info.scenario.phase("push-install").unwrap();
    assert!(ph
        .rulesets
        .iter()
        .any(|r| r.gateway == "gw-mgmt" && r.open.file == p));
}

/// What a watch said, kept for the test.
type Said = std::cell::RefCell<Vec<String>>;

fn record(lines: &Said) -> impl Fn(crate::watch::Line) + '_ {
    move |l| {
        let (crate::watch::Line::Out(s) | crate::watch::Line::Err(s)) = l;
        lines.borrow_mut().push(s.to_string());
    }
}

fn summaries(lines: &Said) -> usize {
    lines
        .borrow()
        .iter()
        .filter(|l| l.starts_with("PASS ") || l.starts_with("FAIL "))
        .count()
}

/// Waits (10 s at most) until the watch has said `n` summary lines.
async fn wait_for(lines: &Said, n: usize) {
    for _ in 0..500 {
        if summaries(lines) >= n {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("no summary line {n}: {:?}", lines.borrow());
}

/// `watch` against the fake: a gateway that obeys its file (a file that
/// says LEAK lets ams reach agent-1 on tcp/445), saved once; the run after
/// the save prints that cell alone, and cancelling ends the watch.
#[tokio::test]
async fn watch_prints_the_cell_a_save_changed_and_ends_when_cancelled() {
    use crate::node_contract::Proto;
    use crate::probe::Observed;
    let (sc, open) = policy("scenario-3");
    let dir = tempfile::tempdir().unwrap();
    let path = file(&dir, "gw-mgmt.nft", "table inet filter { }\n");
    let rules = std::path::PathBuf::from(&path);
    let b = FakeBackend::new(move |src, dst, proto, port, _| {
        let key = (src.to_string(), dst.to_string(), proto, port);
        let leaks = std::fs::read_to_string(&rules)
            .unwrap_or_default()
            .contains("LEAK")
            && (src, dst, proto, port) == ("ams", "agent-1", Proto::Tcp, 445);
        if open.contains(&key) || leaks {
            Observed::Open
        } else {
            Observed::Blocked
        }
    });
    let lab = up(&b, &sc).await;
    let lines = Said::default();
    let say = record(&lines);
    let cancel = crate::cancel::Cancel::never();
    let drive = async {
        wait_for(&lines, 1).await;
        std::fs::write(&path, "table inet filter { } # LEAK\n").unwrap();
        wait_for(&lines, 2).await;
        cancel.cancel();
    };
    let given = [ov(&format!("gw-mgmt={path}"))];
    let opts = super::fake_tests::opts();
    let (watched, ()) = tokio::join!(
        crate::watch::watch(&b, &lab, &given, opts, &say, &cancel),
        drive
    );
    watched.unwrap();
    let lines = lines.borrow().clone();
    let second = lines.iter().position(|l| l.starts_with("PASS ")).unwrap();
    let cells: Vec<&String> = lines[second..]
        .iter()
        .filter(|l| l.starts_with("+ ") || l.starts_with("- ") || l.starts_with("~ "))
        .collect();
    assert_eq!(
        cells,
        ["+ leak        ams -> agent-1 tcp/445 (no flow): open"],
        "{lines:?}"
    );
    assert!(lines.last().unwrap().starts_with("FAIL "), "{lines:?}");
}

/// `watch` of a lab brought up with `--param console_port=9000`: a save
/// of its scenario file (a new title) reloads it with that parameter, so the
/// plan still probes 9000 and no cell changes (reloaded without it, the
/// console flow's cells would move back to 9877).
#[tokio::test]
async fn a_reloaded_scenario_file_keeps_the_labs_params() {
    let dir = tempfile::tempdir().unwrap();
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/scenario-3");
    for e in std::fs::read_dir(&src).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dir.path().join(e.file_name())).unwrap();
    }
    let yaml = dir.path().join("scenario.yaml");
    let params = [("console_port".to_string(), "9000".to_string())];
    let sc = crate::scenario::Source::open(&yaml.to_string_lossy())
        .unwrap()
        .load(&params)
        .unwrap();
    let open = crate::plan::plan(&sc, None)
        .unwrap()
        .cells
        .iter()
        .filter(|c| c.expected == crate::plan::Expected::Open)
        .map(|c| (c.src.clone(), c.dst.clone(), c.proto, c.port))
        .collect();
    assert!(
        crate::plan::probe_ports(&sc).iter().any(|k| k.port == 9000),
        "the console port moved"
    );
    let b = super::fake_tests::faithful(open, false);
    let lab = up(&b, &sc).await;
    let lines = Said::default();
    let say = record(&lines);
    let cancel = crate::cancel::Cancel::never();
    let drive = async {
        wait_for(&lines, 1).await;
        // A save that changes nothing the plan depends on (the title).
        let text = std::fs::read_to_string(&yaml).unwrap();
        let edited = text.replacen("title: ", "title: Edited - ", 1);
        assert_ne!(edited, text);
        std::fs::write(&yaml, edited).unwrap();
        wait_for(&lines, 2).await;
        cancel.cancel();
    };
    let opts = super::fake_tests::opts();
    let (watched, ()) = tokio::join!(
        crate::watch::watch(&b, &lab, &[], opts, &say, &cancel),
        drive
    );
    watched.unwrap();
    assert_eq!(summaries(&lines), 2, "{:?}", lines.borrow());
    let lines = lines.borrow().clone();
    assert!(
        lines
            .iter()
            .all(|l| !l.starts_with("+ ") && !l.starts_with("- ") && !l.starts_with("~ ")),
        "{lines:?}"
    );
    assert!(lines.last().unwrap().starts_with("PASS "), "{lines:?}");
}
