//! `seglab explain LAB SRC DST PROTO/PORT`: one cell probed and told (an
//! open cell by its accepting rules, a blocked one by the drop, a phase's
//! cell by the phase's rule files, a port outside the catalog), the lab left
//! as it was, and bad input refused with exit 2 and a sentence.

mod common;

use common::*;
use serde_json::{json, Value};

#[test]
fn explain_tells_one_cell_and_refuses_bad_input() {
    if !live(LAB) {
        return;
    }
    let guard = up("scenario-3", "hd-explain", &[]);
    let lab = guard.0.as_str();

    // A passing open cell: the accepting rule of each gateway, file and line.
    let o = explain(lab, &["agent-1", "ams", "tcp/7780"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    for line in [
        format!("agent-1 -> ams tcp/7780 in lab {lab} (scenario-3, base)\n"),
        "\nobserved: open, answered by ams/zmq/7780, in ".to_string(),
        "\nexpected: open, flow 5: ".to_string(),
        "\nverdict:  pass\n".to_string(),
        "\nwhy:      accepted by gw-sensitive: inet filter forward rule `".to_string(),
        "(scenarios/scenario-3/gw-sensitive.nft:10); gw-mgmt: inet filter forward rule `"
            .to_string(),
        "\n  gw-sensitive in sensitive, out transit\n".to_string(),
        "\n  gw-mgmt in transit, out mgmt\n".to_string(),
    ] {
        assert!(out.contains(&line), "{line:?} in\n{out}");
    }
    let v = explain_json(lab, &["agent-1", "ams", "tcp/7780"]);
    assert_eq!(
        (&v["observed"], &v["expected"], &v["verdict"], &v["flow"]),
        (&json!("open"), &json!("open"), &json!("pass"), &json!(5)),
        "{v}"
    );
    let sources: Vec<&Value> = v["explain"]["path"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| &h["steps"][0]["source"])
        .collect();
    assert_eq!(
        sources,
        [
            "scenarios/scenario-3/gw-sensitive.nft:10",
            "scenarios/scenario-3/gw-mgmt.nft:11"
        ],
        "{v}"
    );

    // A passing blocked cell: the first gateway's policy, the second never
    // sees it.
    let v = explain_json(lab, &["admin", "agent-1", "tcp/445"]);
    assert_eq!(
        (&v["observed"], &v["expected"], &v["verdict"]),
        (&json!("blocked"), &json!("blocked"), &json!("pass")),
        "{v}"
    );
    assert_eq!(
        v["explain"]["why"], "dropped by gw-mgmt: inet filter forward policy drop",
        "{v}"
    );
    assert_eq!(
        v["explain"]["path"][1],
        json!({"node": "gw-sensitive", "seen": false, "steps": []})
    );

    // With the phase open the push is let through by the phase's rule files.
    let v = explain_json(
        lab,
        &["ams", "agent-1", "tcp/445", "--phase", "push-install"],
    );
    assert_eq!(v["phase"], "push-install", "{v}");
    assert_eq!(
        (&v["observed"], &v["expected"], &v["verdict"], &v["flow"]),
        (&json!("open"), &json!("open"), &json!("pass"), &json!(6)),
        "{v}"
    );
    let sources: Vec<&Value> = v["explain"]["path"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| &h["steps"][0]["source"])
        .collect();
    assert_eq!(
        sources,
        [
            "scenarios/scenario-3/push-install-mgmt.nft:3",
            "scenarios/scenario-3/push-install-sensitive.nft:3"
        ],
        "{v}"
    );
    let o = explain(
        lab,
        &["ams", "agent-1", "tcp/445", "--phase", "push-install"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("(scenario-3, push-install)\n"), "{out}");
    assert!(
        out.contains("(scenarios/scenario-3/push-install-mgmt.nft:3)"),
        "{out}"
    );

    // Nothing is left of the phase: the lab is healthy, no phase is open,
    // and the push is blocked again.
    assert_no_phase_open(lab);
    let v = explain_json(lab, &["ams", "agent-1", "tcp/445"]);
    assert_eq!(
        (&v["phase"], &v["observed"]),
        (&json!("base"), &json!("blocked")),
        "{v}"
    );

    // A port outside the catalog: no flow, blocked, and explained.
    let v = explain_json(lab, &["ams", "agent-1", "tcp/31337"]);
    assert_eq!(
        (&v["observed"], &v["expected"], &v["verdict"], &v["flow"]),
        (
            &json!("blocked"),
            &json!("blocked"),
            &json!("pass"),
            &Value::Null
        ),
        "{v}"
    );
    assert_eq!(v["reason"], "no flow", "{v}");
    assert_eq!(
        v["explain"]["why"], "dropped by gw-mgmt: inet filter forward policy drop",
        "{v}"
    );

    // Bad input: exit 2 and a sentence that names what is wrong.
    let hosts = "hosts: ams (";
    for (args, says) in [
        (
            vec![lab, "nosuch", "agent-1", "tcp/445"],
            vec!["SRC `nosuch` is not a host of the lab", hosts],
        ),
        (
            vec![lab, "ams", "10.9.9.9", "tcp/445"],
            vec!["DST `10.9.9.9` is not a host of the lab", hosts],
        ),
        (
            vec![lab, "ams", "agent-1", "tcp/abc"],
            vec!["`tcp/abc`: expected PROTO/PORT, e.g. tcp/445 or udp/161"],
        ),
        (
            vec![lab, "ams", "agent-1", "icmp/1"],
            vec!["`icmp/1`: expected PROTO/PORT"],
        ),
        (
            vec![lab, "ams", "agent-1", "tcp/0"],
            vec!["`tcp/0`: expected PROTO/PORT"],
        ),
        (
            vec![lab, "ams", "agent-1", "tcp/65536"],
            vec!["`tcp/65536`: expected PROTO/PORT"],
        ),
        (
            vec![lab, "ams", "agent-1", "tcp/+445"],
            vec!["`tcp/+445`: expected PROTO/PORT"],
        ),
        (
            vec![lab, "ams", "agent-1", "tcp/445", "--phase", "nophase"],
            vec!["scenario `scenario-3` has no phase `nophase` (phases: push-install)"],
        ),
        (
            vec!["hd-no-such-lab", "ams", "agent-1", "tcp/445"],
            vec!["no lab named `hd-no-such-lab`"],
        ),
    ] {
        let o = seglab().arg("explain").args(&args).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        for s in says {
            assert!(err.contains(s), "{args:?}: {s:?} in {err}");
        }
        assert!(o.stdout.is_empty(), "{args:?}: {}", text(&o));
    }
}

/// No phase left open: status healthy and says no phase, the gateways hold
/// none of the push-install ports.
fn assert_no_phase_open(lab: &str) {
    let o = run(&["status", lab]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let status = String::from_utf8_lossy(&o.stdout);
    assert!(!status.contains("phase"), "{status}");
    assert_eq!(
        status.matches("┆ running ┆ ok     │").count(),
        7,
        "{status}"
    );
    for gw in ["gw-mgmt", "gw-sensitive"] {
        let rules = in_netns(lab, gw, &["nft", "list", "table", "inet", "filter"]);
        assert!(!rules.contains("25001"), "{gw}: {rules}");
    }
}

#[test]
fn a_silent_destination_is_told_and_an_interrupt_closes_the_phase() {
    if !live(LAB) {
        return;
    }
    let guard = up("scenario-3", "hd-silent", &[]);
    let lab = guard.0.as_str();
    // Frozen, agent-1's kernel still completes the handshake, but its
    // responder never says who it is.
    docker(&["pause", &container(lab, "agent-1")]);
    let push = ["ams", "agent-1", "tcp/445", "--phase", "push-install"];
    let v = explain_json(lab, &[&push[..], &["--timeout", "1000"]].concat());
    assert_eq!(
        (&v["observed"], &v["verdict"]),
        (&json!("error"), &json!("error")),
        "{v}"
    );
    assert_eq!(
        v["explain"]["why"],
        "passed gw-sensitive with no drop seen; agent-1's answer came back through gw-sensitive, gw-mgmt, but no service identified itself",
        "{v}"
    );

    // Interrupted while it waits, with the phase open: the phase is closed.
    let child = seglab()
        .args(["explain", lab])
        .args(push)
        .args(["--timeout", "30000"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(4));
    let kill = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("everything it had changed was put back"),
        "{err}"
    );
    docker(&["unpause", &container(lab, "agent-1")]);
    assert_no_phase_open(lab);
}
