//! The orchestration of `up`, `verify` and `test` against the in-memory
//! backend: retries, host-down and path-down checks, the order in which a
//! phase opens and closes (and is put back when a gateway refuses it), and
//! `test`'s teardown. No Docker, no root, no packet.

use super::fake::FakeBackend;
use super::{LabBackend, UpOptions};
use crate::cancel::Cancel;
use crate::error::Error;
use crate::lab;
use crate::node_contract::Proto;
use crate::plan::{plan, Expected};
use crate::probe::Observed;
use crate::scenario::Scenario;
use crate::testrun::{test_scenario, TestOptions};
use crate::verify::{verify_lab, Report, Verdict, VerifyOptions};
use std::collections::BTreeSet;
use std::path::PathBuf;

type Open = BTreeSet<(String, String, Proto, u16)>;

/// The cells the base policy of `name` opens.
pub(super) fn policy(name: &str) -> (Scenario, Open) {
    let sc = crate::scenario::load(name).unwrap();
    let open = plan(&sc, None)
        .unwrap()
        .cells
        .iter()
        .filter(|c| c.expected == Expected::Open)
        .map(|c| (c.src.clone(), c.dst.clone(), c.proto, c.port))
        .collect();
    (sc, open)
}

/// A backend whose network does exactly what the base policy says, except
/// that `first_lost` cells lose their first probe.
pub(super) fn faithful(open: Open, first_lost: bool) -> FakeBackend {
    FakeBackend::new(move |src, dst, proto, port, before| {
        let key = (src.to_string(), dst.to_string(), proto, port);
        match (open.contains(&key), first_lost && before == 0) {
            (true, false) => Observed::Open,
            (true, true) | (false, _) => Observed::Blocked,
        }
    })
}

pub(super) async fn up(b: &FakeBackend, sc: &Scenario) -> String {
    let name = format!("{}-fake", sc.name);
    let opts = UpOptions {
        node_binary: PathBuf::new(),
    };
    lab::up_or_clean(b, &name, sc, &opts, &|_| {}, &Cancel::never())
        .await
        .unwrap();
    name
}

/// A lab of built-in scenario `name` up on a [`faithful`] backend whose
/// probes are never lost: the scenario, the backend and the lab's name,
/// where most tests start.
pub(super) async fn running(name: &str) -> (Scenario, FakeBackend, String) {
    let (sc, open) = policy(name);
    let b = faithful(open, false);
    let lab = up(&b, &sc).await;
    (sc, b, lab)
}

pub(super) fn opts() -> VerifyOptions {
    VerifyOptions::default()
}

pub(super) fn test_opts() -> TestOptions {
    TestOptions {
        up: UpOptions {
            node_binary: PathBuf::new(),
        },
        verify: opts(),
        keep: false,
        each_gateway: false,
        scan: None,
    }
}

fn verdicts(r: &Report) -> BTreeSet<Verdict> {
    r.results.iter().map(|c| c.verdict).collect()
}

#[tokio::test]
async fn up_configures_and_seals_every_node() {
    let (sc, b, lab) = running("scenario-3").await;
    let log = b.log();
    assert_eq!(log[0], format!("claim {lab}"));
    for n in sc
        .gateways
        .iter()
        .map(|g| &g.name)
        .chain(sc.hosts.iter().map(|h| &h.name))
    {
        assert!(log.contains(&format!("node {n}")), "{n}: {log:?}");
        assert!(log.contains(&format!("seal {n} -")), "{n}: {log:?}");
    }
    let info = b.find_lab(&lab).await.unwrap();
    assert_eq!(info.nodes.len(), sc.gateways.len() + sc.hosts.len());
}

#[tokio::test]
async fn a_lost_first_probe_is_retried_and_passes() {
    let (sc, open) = policy("scenario-2");
    let n_open = open.len();
    let b = faithful(open, true);
    let lab = up(&b, &sc).await;
    let reports = verify_lab(&b, &lab, None, opts()).await.unwrap();
    let r = &reports[0];
    assert!(r.ok(), "{:?}", verdicts(r));
    assert_eq!(r.summary.retries, n_open);
    assert!(r
        .results
        .iter()
        .all(|c| c.retried == (c.expected == Expected::Open)));
}

#[tokio::test]
async fn a_host_that_stops_during_the_run_is_host_down_never_blocked() {
    let (sc, open) = policy("scenario-2");
    let b = faithful(open, false).after_probe(|s| {
        for l in s.labs.values_mut() {
            l.nodes.get_mut("storage").unwrap().running = false;
        }
    });
    let lab = up(&b, &sc).await;
    let r = &verify_lab(&b, &lab, None, opts()).await.unwrap()[0];
    for c in &r.results {
        if c.src == "storage" || c.dst == "storage" {
            assert_eq!(c.verdict, Verdict::HostDown, "{c:?}");
        } else {
            assert_eq!(c.verdict, Verdict::Pass, "{c:?}");
        }
    }
}

#[tokio::test]
async fn cells_across_a_dead_gateway_are_path_down_and_not_probed() {
    let (sc, b, lab) = running("scenario-3").await;
    b.with(|s| {
        let l = s.labs.get_mut(&lab).unwrap();
        l.nodes.get_mut("gw-sensitive").unwrap().running = false;
    });
    let r = &verify_lab(&b, &lab, None, opts()).await.unwrap()[0];
    assert!(!r.ok());
    let segment = |h: &str| sc.host(h).unwrap().segment.clone();
    for c in &r.results {
        let crosses = segment(&c.src) != segment(&c.dst);
        let want = if crosses {
            Verdict::PathDown
        } else {
            Verdict::Pass
        };
        assert_eq!(c.verdict, want, "{c:?}");
    }
    let probed_across = b.with(|s| {
        s.probed
            .keys()
            .filter(|(src, dst, ..)| segment(src) != segment(dst))
            .count()
    });
    assert_eq!(probed_across, 0, "no probe is sent in vain");
}

#[tokio::test]
async fn a_gateway_that_lost_its_routes_is_path_down() {
    let (_, b, lab) = running("scenario-3").await;
    b.with(|s| {
        let l = s.labs.get_mut(&lab).unwrap();
        l.nodes.get_mut("gw-mgmt").unwrap().lost_routes = true;
    });
    let r = &verify_lab(&b, &lab, None, opts()).await.unwrap()[0];
    let detail = r
        .results
        .iter()
        .find(|c| c.verdict == Verdict::PathDown)
        .and_then(|c| c.detail.clone())
        .unwrap();
    assert!(detail.starts_with("gw-mgmt lost its route to"), "{detail}");
}

/// The gateway operations of a log, without the probes.
fn gateway_ops(log: &[String]) -> Vec<String> {
    log.iter()
        // Tracing is looked at on its own.
        .filter(|l| !l.starts_with("trace "))
        .filter(|l| l.contains(" gw-") || l.starts_with("probe"))
        .map(|l| {
            if l.starts_with("probe") {
                "probe".to_string()
            } else {
                l.split(':').next().unwrap().to_string()
            }
        })
        .fold(Vec::new(), |mut v, l| {
            if !(l == "probe" && v.last().is_some_and(|p| p == "probe")) {
                v.push(l);
            }
            v
        })
}

#[tokio::test]
async fn a_phase_opens_sealed_is_probed_and_closes_on_every_gateway() {
    let (_, b, lab) = running("scenario-3").await;
    let start = b.log().len();
    let reports = verify_lab(&b, &lab, Some("push-install"), opts())
        .await
        .unwrap();
    assert_eq!(reports.len(), 2, "the phase and its closed check");
    assert_eq!(reports[1].phase, "push-install (closed)");
    assert!(reports[1].ok());
    let ops = gateway_ops(&b.log()[start..]);
    assert_eq!(
        ops,
        [
            "seal gw-mgmt push-install",
            "load gw-mgmt",
            "seal gw-mgmt push-install",
            "seal gw-sensitive push-install",
            "load gw-sensitive",
            "seal gw-sensitive push-install",
            "probe",
            "reset gw-mgmt",
            "load gw-mgmt",
            "seal gw-mgmt -",
            "reset gw-sensitive",
            "load gw-sensitive",
            "seal gw-sensitive -",
            "probe",
        ]
    );
    // Every probing round listens to both gateways first.
    let log = &b.log()[start..];
    for (i, l) in log.iter().enumerate() {
        if l.starts_with("probe") && !log[i - 1].starts_with("probe") {
            assert_eq!(
                &log[i - 2..i],
                ["trace gw-mgmt", "trace gw-sensitive"],
                "{log:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_phase_a_gateway_refuses_is_put_back_where_it_opened_and_nothing_is_probed() {
    let (_, b, lab) = running("scenario-3").await;
    b.with(|s| s.refuse = Some(("gw-sensitive".into(), "25001".into())));
    let start = b.log().len();
    let err = verify_lab(&b, &lab, Some("push-install"), opts())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Ruleset { .. }), "{err}");
    let ops = gateway_ops(&b.log()[start..]);
    assert!(!ops.contains(&"probe".to_string()), "{ops:?}");
    // Both gateways end on their own rule set, sealed without the phase.
    assert_eq!(
        &ops[ops.len() - 6..],
        [
            "reset gw-mgmt",
            "load gw-mgmt",
            "seal gw-mgmt -",
            "reset gw-sensitive",
            "load gw-sensitive",
            "seal gw-sensitive -",
        ]
    );
}

#[tokio::test]
async fn a_phase_left_open_is_closed_before_the_next_run_and_noted() {
    let (_, b, lab) = running("scenario-3").await;
    // What a `verify --phase` killed mid-run leaves: the phase in the seal.
    b.with(|s| {
        let n = s
            .labs
            .get_mut(&lab)
            .unwrap()
            .nodes
            .get_mut("gw-mgmt")
            .unwrap();
        let seal = n
            .seal
            .clone()
            .unwrap()
            .replace("phase=-", "phase=push-install");
        n.seal = Some(seal);
    });
    let r = &verify_lab(&b, &lab, None, opts()).await.unwrap()[0];
    assert!(r.ok());
    assert_eq!(r.notes.len(), 1);
    assert!(r.notes[0].starts_with("gw-mgmt still had phase push-install open"));
}

#[tokio::test]
async fn test_verifies_every_phase_then_tears_down_last() {
    let (sc, open) = policy("scenario-3");
    let b = faithful(open, false);
    let run = test_scenario(&b, &sc, &test_opts(), &|_| {}, &Cancel::never()).await;
    assert!(run.errors.is_empty(), "{:?}", run.errors);
    let phases: Vec<&str> = run.reports.iter().map(|r| r.phase.as_str()).collect();
    assert_eq!(phases, ["base", "push-install", "push-install (closed)"]);
    let log = b.log();
    assert_eq!(log.last().unwrap(), &format!("remove {}", run.lab));
    assert!(b.with(|s| s.labs.is_empty()));
}

#[tokio::test]
async fn test_keeps_the_reports_it_has_and_still_tears_down_when_a_phase_fails() {
    let (sc, open) = policy("scenario-3");
    let b = faithful(open, false);
    b.with(|s| s.refuse = Some(("gw-mgmt".into(), "25001".into())));
    let run = test_scenario(&b, &sc, &test_opts(), &|_| {}, &Cancel::never()).await;
    assert_eq!(run.reports.len(), 1, "the base report is kept");
    assert!(run.reports[0].ok());
    assert_eq!(run.errors.len(), 1);
    assert!(matches!(run.errors[0], Error::Ruleset { .. }));
    assert_eq!(b.log().last().unwrap(), &format!("remove {}", run.lab));
}

#[tokio::test]
async fn an_up_that_fails_removes_what_it_made() {
    let (sc, open) = policy("scenario-2");
    let b = faithful(open, false);
    // A gateway that refuses its own rule set.
    b.with(|s| s.refuse = Some(("gw-mgmt".into(), "chain forward".into())));
    let opts = UpOptions {
        node_binary: PathBuf::new(),
    };
    let err = lab::up_or_clean(&b, "l1", &sc, &opts, &|_| {}, &Cancel::never())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Ruleset { .. }), "{err}");
    assert_eq!(b.log().last().unwrap(), "remove l1");
    assert!(b.list_labs().await.unwrap().is_empty());
}
