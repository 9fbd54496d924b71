//! Tests of the written policy, above all its property: in place of the
//! scenario's policy, the plan opens exactly the cells observed open.

use super::super::sample::{cell_in, observation};
use super::super::ObservedCell;
use super::*;
use crate::plan::{flows_in, plan};
use crate::scenario::{builtin, Source};

/// The observation that a lab running exactly its plan would give,
/// with `changes` (src, dst, key, observed) applied.
fn observed_plan(sc: &Scenario, changes: &[(&str, &str, &str, Observed)]) -> Observation {
    let p = plan(sc, None).unwrap();
    let seg = |h: &str| sc.host(h).unwrap().segment.clone();
    let mut cells: Vec<ObservedCell> = p
        .cells
        .iter()
        .map(|c| {
            let observed = match c.expected {
                Expected::Open => Observed::Open,
                Expected::Blocked => Observed::Blocked,
            };
            let key = PortKey {
                proto: c.proto,
                port: c.port,
            };
            cell_in(&seg, &c.src, &c.dst, key, observed)
        })
        .collect();
    for (src, dst, key, seen) in changes {
        let key: PortKey = key.parse().unwrap();
        match cells
            .iter_mut()
            .find(|c| c.src == *src && c.dst == *dst && c.key() == key)
        {
            Some(c) => c.observed = *seen,
            None => cells.push(cell_in(&seg, src, dst, key, *seen)),
        }
    }
    let mut obs = observation(cells);
    obs.scenario = sc.name.clone();
    obs
}

/// The property: with the written policy in place of the scenario's,
/// the plan opens exactly the observed-open cells, except those listed
/// as inexpressible.
fn round_trip(name: &str, changes: &[(&str, &str, &str, Observed)]) -> WrittenPolicy {
    let b = builtin::find(name).unwrap();
    let sc = Source::builtin(b).load(&[]).unwrap();
    let obs = observed_plan(&sc, changes);
    let w = write_policy(&sc, &obs);
    let text = splice(b.yaml, &w.yaml);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios")
        .join(name);
    let src = Source::from_text(format!("{name} (written)"), text, dir);
    let again = src
        .load(&[])
        .unwrap_or_else(|e| panic!("{e}\n--- written:\n{}", w.yaml));
    let flows = flows_in(&again, None).unwrap();
    let mut wrong = Vec::new();
    for c in &obs.cells {
        let (s, d) = (again.host(&c.src).unwrap(), again.host(&c.dst).unwrap());
        let opens = cell(&flows, s, d, c.key()).expected == Expected::Open;
        let line = format!("{} -> {} {}", c.src, c.dst, c.key());
        let listed = w.inexpressible.iter().any(|n| n.starts_with(&line));
        if opens != (c.observed == Observed::Open) && !listed {
            wrong.push(format!(
                "{line}: observed {}, plan opens: {opens}",
                c.observed
            ));
        }
    }
    assert!(wrong.is_empty(), "{name}: {wrong:#?}\n{}", w.yaml);
    w
}

#[test]
fn the_written_policy_opens_exactly_what_was_observed_in_every_builtin_scenario() {
    for name in builtin::names() {
        round_trip(name, &[]);
    }
}

#[test]
fn leaks_and_missing_flows_are_written_as_observed() {
    use Observed::*;
    let w = round_trip(
        "scenario-2",
        &[
            // A leak on a catalog port, one outside the catalog, and a
            // flow that did not open.
            ("admin", "agent-1", "tcp/22", Open),
            ("admin", "agent-2", "tcp/31337", Open),
            ("agent-1", "ams", "tcp/7780", Rejected),
            // Decided by the plan whatever the policy says.
            ("agent-1", "agent-2", "tcp/22", Blocked),
            ("storage", "ams", "tcp/22", HostDown),
        ],
    );
    assert_eq!(w.unobserved, 1);
    assert_eq!(
        w.inexpressible,
        vec!["agent-1 -> agent-2 tcp/22: blocked but the plan says open (same segment)"]
    );
    insta::assert_snapshot!(w.yaml);
}

#[test]
fn a_network_open_everywhere_is_written_as_few_flows_from_any_to_any() {
    for name in ["scenario-2", "scenario-4"] {
        let sc = crate::scenario::load(name).unwrap();
        let p = plan(&sc, None).unwrap();
        let firewalled = |dst: &str, key: PortKey| {
            sc.host(dst)
                .unwrap()
                .firewall
                .as_ref()
                .is_some_and(|fw| !fw.iter().any(|p| p.key == key))
        };
        let all: Vec<(&str, &str, String, Observed)> = p
            .cells
            .iter()
            .filter(|c| {
                !firewalled(
                    &c.dst,
                    PortKey {
                        proto: c.proto,
                        port: c.port,
                    },
                )
            })
            .map(|c| {
                (
                    c.src.as_str(),
                    c.dst.as_str(),
                    format!("{}/{}", c.proto, c.port),
                    Observed::Open,
                )
            })
            .collect();
        let changes: Vec<(&str, &str, &str, Observed)> = all
            .iter()
            .map(|(s, d, k, o)| (*s, *d, k.as_str(), *o))
            .collect();
        let w = round_trip(name, &changes);
        let anywhere = w
            .flows
            .iter()
            .filter(|f| f.from == Selector::Any && f.to == Selector::Any)
            .count();
        if sc.hosts.iter().all(|h| h.firewall.is_none()) {
            assert_eq!(w.flows.len(), 1, "{name}: {}", w.yaml);
            assert_eq!(anywhere, 1, "{name}: {}", w.yaml);
        } else {
            assert!(w.flows.len() <= 4, "{name}: {}", w.yaml);
        }
    }
}

#[test]
fn whole_roles_and_segments_are_named_and_the_rest_by_host() {
    let sc = crate::scenario::load("scenario-3").unwrap();
    let idx = |names: &[&str]| -> BTreeSet<usize> {
        names
            .iter()
            .map(|n| sc.hosts.iter().position(|h| h.name == *n).unwrap())
            .collect()
    };
    let all: Vec<&str> = sc.hosts.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(cover(&sc, &idx(&all), &idx(&all)), vec![Selector::Any]);
    let agents: Vec<&str> = sc
        .hosts
        .iter()
        .filter(|h| h.role == "agent")
        .map(|h| h.name.as_str())
        .collect();
    assert!(agents.len() > 1, "scenario-3 has several agents");
    let mut some = agents.clone();
    some.push("ams");
    let got = cover(&sc, &idx(&some), &idx(&some));
    assert!(got.contains(&Selector::Role("agent".into())), "{got:?}");
    assert_eq!(got.len(), 2, "{got:?}");
    // A part of a role (and of a segment): a host name.
    let got = cover(&sc, &idx(&agents[..1]), &idx(&agents[..1]));
    assert_eq!(got, vec![Selector::Host(agents[0].into())]);
    // A segment held whole that no role matches: the segment.
    let got = cover(&sc, &idx(&["ams", "admin"]), &idx(&["ams", "admin"]));
    assert_eq!(got, vec![Selector::Segment("mgmt".into())]);
    // Hosts that may be named beside: the larger selector.
    let got = cover(&sc, &idx(&agents[..1]), &idx(&agents));
    assert_eq!(got, vec![Selector::Role("agent".into())]);
    let mut but_one = all.clone();
    but_one.retain(|h| *h != "ams");
    assert_eq!(cover(&sc, &idx(&but_one), &idx(&all)), vec![Selector::Any]);
}

#[test]
fn local_flows_need_their_ports_and_may_carry_a_title() {
    let b = builtin::find("scenario-2").unwrap();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/scenario-2");
    let load =
        |policy: &str| Source::from_text("s2.yaml", splice(b.yaml, policy), dir.clone()).load(&[]);
    let e = load("policy:\n  - {flow: 9001, from: role:admin, to: role:ams, basis: modelled}\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("policy[0].flow: flow 9001 is a local flow (9000-9999, not in Appendix A): it needs `ports`"), "{e}");
    let e = load("policy:\n  - {flow: 10000, from: role:admin, to: role:ams, ports: [tcp/1], basis: modelled}\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown Appendix A flow 10000"), "{e}");
    let sc = load("policy:\n  - {flow: 9001, title: mine, from: role:admin, to: role:ams, ports: [tcp/1], basis: modelled}\n  - {flow: 9002, from: role:admin, to: role:ams, ports: [tcp/2], basis: modelled}\n").unwrap();
    assert_eq!(sc.policy[0].title, "mine");
    assert_eq!(sc.policy[1].title, "local flow 9002");
}

#[test]
fn splice_replaces_the_policy_section_only() {
    let text = "name: x\npolicy:\n  - flow: 5\n    from: a\n# c\n- flow: 6\nphases: []\n";
    assert_eq!(
        splice(text, "policy: []\n"),
        "name: x\nphases: []\npolicy: []\n"
    );
}
