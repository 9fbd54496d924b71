//! `seglab graph LAB`, live: a running lab is drawn as placed, from the
//! scenario the lab keeps (its subnets and interface names), not from the
//! design it was made from.

mod common;

use common::*;
use seglab::graph::{dot::dot, Topology};

#[test]
fn a_running_lab_is_drawn_as_placed() {
    if !live(LAB) {
        return;
    }
    // The prefix of this file's labs is `gr-`.
    let guard = LabGuard(format!("gr-{}", std::process::id()));
    let lab = guard.0.as_str();
    let o = run(&["up", "scenario-3", "--name", lab]);
    assert!(o.status.success(), "{}", text(&o));

    // The scenario the lab keeps on its nodes.
    let spec = docker(&[
        "inspect",
        "-f",
        "{{index .Config.Labels \"io.seglab.spec\"}}",
        &container(lab, "gw-mgmt"),
    ]);
    let placed: seglab::scenario::Scenario = serde_json::from_str(spec.trim()).unwrap();
    let o = run(&["graph", lab, "--format", "dot"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim_end(),
        dot(&Topology::from_scenario(&placed)).trim_end()
    );
    // With the interface names the gateways run.
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("[label=\"transit\\n"),
        "{}",
        text(&o)
    );

    let o = run(&["graph", lab]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let svg = String::from_utf8_lossy(&o.stdout);
    for node in [
        "ams",
        "admin",
        "agent-1",
        "agent-2",
        "storage",
        "gw-mgmt",
        "gw-sensitive",
    ] {
        assert_eq!(
            svg.matches(&format!("data-node=\"{node}\"")).count(),
            1,
            "{node}"
        );
    }

    // A lab is drawn as it runs: no parameters.
    let o = run(&["graph", lab, "--param", "console_port=9000"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--param"), "{}", text(&o));
}
