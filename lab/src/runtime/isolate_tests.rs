//! `verify --isolate` and `test --each-gateway` against the in-memory
//! backend: which gateways are cleared and marked, in what order, which
//! cells are probed, and that every other gateway is back on its own rule
//! set afterwards: after success, after a failure, and when a killed run
//! left the isolation behind.

use super::fake::FakeBackend;
use super::fake_tests::{faithful, opts, policy, running, test_opts, up};
use super::LabBackend;
use crate::cancel::Cancel;
use crate::error::Error;
use crate::health;
use crate::plan::plan;
use crate::scenario::Scenario;
use crate::testrun::{test_scenario, TestOptions};
use crate::verify::{reset_isolation, verify_isolated, verify_lab};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

/// The gateway operations of a log (`load N` without its text), with each
/// run of probes as one `probe`.
fn gateway_ops(log: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    // Tracing is looked at in fake_tests.
    for l in log.iter().filter(|l| !l.starts_with("trace ")) {
        let op = if l.starts_with("probe") {
            "probe".to_string()
        } else if l.contains(" gw-") {
            match l.strip_prefix("load ") {
                Some(rest) => format!("load {}", rest.split(':').next().unwrap()),
                None => l.clone(),
            }
        } else {
            continue;
        };
        if !(op == "probe" && out.last().is_some_and(|p| p == "probe")) {
            out.push(op);
        }
    }
    out
}

/// Each gateway's sealed phase (`-` for none), as the node holds it now.
fn seals(b: &FakeBackend, lab: &str) -> Vec<(String, String)> {
    b.with(|s| {
        s.labs[lab]
            .nodes
            .iter()
            .filter(|(n, _)| n.starts_with("gw-"))
            .map(|(n, node)| {
                let c = node.seal.clone().unwrap_or_default();
                (n.clone(), c.rsplit("phase=").next().unwrap().to_string())
            })
            .collect()
    })
}

/// Every node of the lab is sound and no gateway records a phase.
async fn all_sound(b: &FakeBackend, lab: &str) {
    let info = b.find_lab(lab).await.unwrap();
    let h = health::check(b, &info).await;
    assert!(h.nodes.values().all(|n| n.ok()), "{:?}", h.nodes);
    assert!(h.open_phases().is_empty(), "{:?}", h.open_phases());
}

/// The (src, dst) pairs of `sc`'s base plan whose path crosses `gw`.
fn crossing_pairs(sc: &Scenario, gw: &str) -> BTreeSet<(String, String)> {
    plan(sc, None)
        .unwrap()
        .cells
        .iter()
        .filter(|c| crate::verify::crosses_gateway(sc, &c.src, &c.dst, gw))
        .map(|c| (c.src.clone(), c.dst.clone()))
        .collect()
}

#[tokio::test]
async fn an_isolated_verify_clears_and_marks_the_others_probes_only_its_cells_and_restores() {
    let (sc, open) = policy("scenario-3");
    let during = Arc::new(Mutex::new(Vec::new()));
    let seen = during.clone();
    let b = faithful(open, false).after_probe(move |s| {
        for l in s.labs.values() {
            for (n, node) in l.nodes.iter().filter(|(n, _)| n.starts_with("gw-")) {
                seen.lock()
                    .unwrap()
                    .push((n.clone(), node.seal.clone().unwrap()));
            }
        }
    });
    let lab = up(&b, &sc).await;
    let start = b.log().len();
    let reports = verify_isolated(&b, &lab, "gw-sensitive", None, opts())
        .await
        .unwrap();
    assert_eq!(reports.len(), 1);
    let r = &reports[0];
    assert_eq!(r.phase, "isolate gw-sensitive");
    assert!(r.ok(), "{:?}", r.results);
    assert_eq!(
        gateway_ops(&b.log()[start..]),
        [
            "seal gw-mgmt isolating:gw-sensitive",
            "reset gw-mgmt",
            "seal gw-mgmt isolating:gw-sensitive",
            "probe",
            "reset gw-mgmt",
            "load gw-mgmt",
            "seal gw-mgmt -",
        ],
        "gw-sensitive keeps its own rule set throughout"
    );
    // While probing, gw-mgmt forwarded under the mark; gw-sensitive was sealed as itself.
    let during = during.lock().unwrap().clone();
    assert!(!during.is_empty());
    for (n, seal) in &during {
        let want = if n == "gw-mgmt" {
            "phase=isolating:gw-sensitive"
        } else {
            "phase=-"
        };
        assert!(seal.ends_with(want), "{n}: {seal}");
    }
    // Exactly the cells whose path crosses gw-sensitive: reported and probed.
    let want = crossing_pairs(&sc, "gw-sensitive");
    let reported: BTreeSet<_> = r
        .results
        .iter()
        .map(|c| (c.src.clone(), c.dst.clone()))
        .collect();
    assert_eq!(reported, want);
    let probed: BTreeSet<_> = b.with(|s| {
        s.probed
            .keys()
            .map(|(a, d, ..)| (a.clone(), d.clone()))
            .collect()
    });
    assert_eq!(probed, want);
    let segment = |h: &str| sc.host(h).unwrap().segment.clone();
    assert!(want.iter().all(|(a, d)| segment(a) != segment(d)));
    all_sound(&b, &lab).await;
}

#[tokio::test]
async fn the_cells_of_each_gateway_are_those_its_paths_cross() {
    let (sc, b, lab) = running("scenario-4").await;
    for gw in sc.gateways.iter().map(|g| g.name.as_str()) {
        let start = b.log().len();
        b.with(|s| s.probed.clear());
        let r = &verify_isolated(&b, &lab, gw, None, opts()).await.unwrap()[0];
        assert!(r.ok(), "{gw}");
        let want = crossing_pairs(&sc, gw);
        let probed: BTreeSet<_> = b.with(|s| {
            s.probed
                .keys()
                .map(|(a, d, ..)| (a.clone(), d.clone()))
                .collect()
        });
        assert_eq!(probed, want, "{gw}");
        let ops = gateway_ops(&b.log()[start..]);
        for other in sc.gateways.iter().map(|g| g.name.as_str()) {
            let marked = format!("seal {other} isolating:{gw}");
            let restored = format!("seal {other} -");
            assert_eq!(ops.contains(&marked), other != gw, "{gw}/{other}: {ops:?}");
            assert_eq!(
                ops.contains(&restored),
                other != gw,
                "{gw}/{other}: {ops:?}"
            );
        }
        assert_eq!(ops.iter().filter(|o| *o == "probe").count(), 1, "{ops:?}");
        let last = sc.gateways.iter().rev().find(|g| g.name != gw).unwrap();
        assert_eq!(ops.last().unwrap(), &format!("seal {} -", last.name));
        all_sound(&b, &lab).await;
    }
}

#[tokio::test]
async fn a_gateway_that_cannot_be_cleared_puts_back_those_already_cleared() {
    let (_, b, lab) = running("scenario-4").await;
    // gw-mgmt and gw-edge are cleared before gw-offsite refuses.
    // (The seal's own commands delete its table too: only the filter's is refused.)
    b.with(|s| s.refuse = Some(("gw-offsite".into(), "delete table inet filter".into())));
    let start = b.log().len();
    let err = verify_isolated(&b, &lab, "gw-sensitive", None, opts())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Netns(_)), "{err}");
    let ops = gateway_ops(&b.log()[start..]);
    assert!(!ops.contains(&"probe".to_string()), "{ops:?}");
    let tail: Vec<&str> = ops.iter().map(String::as_str).skip(ops.len() - 6).collect();
    assert_eq!(
        tail,
        [
            "reset gw-mgmt",
            "load gw-mgmt",
            "seal gw-mgmt -",
            "reset gw-edge",
            "load gw-edge",
            "seal gw-edge -",
        ],
        "{ops:?}"
    );
    b.with(|s| s.refuse = None);
    // The one that refused keeps its mark, for the next run to undo.
    let next = &verify_lab(&b, &lab, None, opts()).await.unwrap()[0];
    assert_eq!(next.notes.len(), 1, "{:?}", next.notes);
    assert!(next.notes[0].starts_with(
        "gw-offsite still forwarded everything for an isolated verify of gw-sensitive"
    ));
    all_sound(&b, &lab).await;
}

#[tokio::test]
async fn an_isolated_phase_opens_on_the_gateway_alone_and_a_refusal_still_restores() {
    let (_, b, lab) = running("scenario-3").await;
    let start = b.log().len();
    let reports = verify_isolated(&b, &lab, "gw-sensitive", Some("push-install"), opts())
        .await
        .unwrap();
    let labels: Vec<&str> = reports.iter().map(|r| r.phase.as_str()).collect();
    assert_eq!(
        labels,
        [
            "push-install, isolate gw-sensitive",
            "push-install (closed), isolate gw-sensitive"
        ]
    );
    // (The fake's network opens the base policy only: the phase's own cells are missing.)
    assert!(reports[1].ok());
    let ops = gateway_ops(&b.log()[start..]);
    assert!(
        !ops.contains(&"seal gw-mgmt push-install".to_string()),
        "{ops:?}"
    );
    assert!(
        ops.contains(&"seal gw-sensitive push-install".to_string()),
        "{ops:?}"
    );
    all_sound(&b, &lab).await;

    b.with(|s| s.refuse = Some(("gw-sensitive".into(), "25001".into())));
    let start = b.log().len();
    let err = verify_isolated(&b, &lab, "gw-sensitive", Some("push-install"), opts())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Ruleset { .. }), "{err}");
    let ops = gateway_ops(&b.log()[start..]);
    assert!(!ops.contains(&"probe".to_string()), "{ops:?}");
    assert_eq!(ops.last().unwrap(), "seal gw-mgmt -", "{ops:?}");
    assert!(seals(&b, &lab).iter().all(|(_, p)| p == "-"));
    all_sound(&b, &lab).await;
}

#[tokio::test]
async fn an_isolation_left_by_a_killed_run_is_undone_by_the_next_verify_or_a_reset() {
    let (_, b, lab) = running("scenario-3").await;
    let mark = |b: &FakeBackend| {
        b.with(|s| {
            let n = s
                .labs
                .get_mut(&lab)
                .unwrap()
                .nodes
                .get_mut("gw-mgmt")
                .unwrap();
            let seal = n.seal.clone().unwrap();
            n.seal = Some(seal.replace("phase=-", "phase=isolating:gw-sensitive"));
        })
    };
    mark(&b);
    let info = b.find_lab(&lab).await.unwrap();
    assert_eq!(
        health::check(&b, &info).await.open_phases(),
        [("gw-mgmt", "isolating:gw-sensitive")]
    );
    let r = &verify_lab(&b, &lab, None, opts()).await.unwrap()[0];
    assert_eq!(r.phase, "base");
    assert!(r.ok());
    assert_eq!(r.notes.len(), 1);
    assert!(
        r.notes[0].contains("isolated verify of gw-sensitive"),
        "{}",
        r.notes[0]
    );
    all_sound(&b, &lab).await;
    // The interrupt path: every other gateway is reloaded and sealed.
    mark(&b);
    reset_isolation(&b, &lab, "gw-sensitive").await.unwrap();
    assert!(seals(&b, &lab).iter().all(|(_, p)| p == "-"));
    all_sound(&b, &lab).await;
}

#[tokio::test]
async fn an_unknown_gateway_is_bad_input_and_changes_nothing() {
    let (_, b, lab) = running("scenario-3").await;
    let start = b.log().len();
    let err = verify_isolated(&b, &lab, "gw-nope", None, opts())
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), crate::error::EXIT_BAD_INPUT);
    assert!(err.to_string().contains("gw-mgmt, gw-sensitive"), "{err}");
    let err = verify_isolated(&b, &lab, "gw-mgmt", Some("nope"), opts())
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), crate::error::EXIT_BAD_INPUT);
    assert!(gateway_ops(&b.log()[start..]).is_empty());
}

#[tokio::test]
async fn test_each_gateway_adds_one_isolated_report_per_gateway_after_the_usual_ones() {
    let (sc, open) = policy("scenario-3");
    let b = faithful(open, false);
    let opts = TestOptions {
        each_gateway: true,
        scan: None,
        ..test_opts()
    };
    let run = test_scenario(&b, &sc, &opts, &|_| {}, &Cancel::never()).await;
    assert!(run.errors.is_empty(), "{:?}", run.errors);
    let phases: Vec<&str> = run.reports.iter().map(|r| r.phase.as_str()).collect();
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
    assert!(run.reports[3..].iter().all(|r| r.ok()));
    assert_eq!(b.log().last().unwrap(), &format!("remove {}", run.lab));
}
