//! Least privilege, checked on a live lab: every node (hosts and gateways)
//! runs with no capability at all and no-new-privileges, under a pids and a
//! memory limit; and a raw frame cannot be sent from a node's namespace with
//! the node's own capabilities, whereas a container of the same image with
//! Docker's default capabilities can (so the check can fail).

mod common;

use common::*;
use std::process::Command;

/// `docker exec CONTAINER /seglab-node --try-raw-socket`: docker exec runs
/// with exactly the container's capability set.
fn try_raw_socket(container: &str) -> std::process::Output {
    Command::new("docker")
        .args(["exec", container, "/seglab-node", "--try-raw-socket"])
        .output()
        .expect("docker runs")
}

/// The fields of /proc/PID/status, by name.
fn proc_status(pid: &str) -> std::collections::HashMap<String, String> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .expect("/proc/PID/status of the container's init")
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

#[test]
fn lab_nodes_hold_no_capability_and_cannot_send_raw_frames() {
    let guard = up("scenario-2", "priv", &[]);
    let lab = guard.0.clone();

    for node in ["agent-1", "gw-mgmt"] {
        let c = container(&lab, node);
        let status = proc_status(&pid_of(&lab, node));
        for cap in ["CapEff", "CapPrm", "CapBnd"] {
            assert_eq!(status[cap], "0000000000000000", "{node}: {cap}");
        }
        assert_eq!(status["NoNewPrivs"], "1", "{node}");
        let limits = docker(&[
            "inspect",
            "-f",
            "{{.HostConfig.CapAdd}} {{.HostConfig.CapDrop}} {{.HostConfig.SecurityOpt}} \
             {{.HostConfig.PidsLimit}} {{.HostConfig.Memory}}",
            &c,
        ]);
        assert_eq!(
            limits.trim(),
            "[] [ALL] [no-new-privileges] 256 134217728",
            "{node}"
        );

        let o = try_raw_socket(&c);
        assert_eq!(o.status.code(), Some(1), "{node}: {}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("EPERM"),
            "{node}: {}",
            text(&o)
        );
    }

    // The same image on the same segment with Docker's default capabilities
    // (NET_RAW among them) does send the frame: without the fix, the check
    // above would fail. Labelled with the lab, so `down` removes it too.
    let image = docker(&["inspect", "-f", "{{.Image}}", &container(&lab, "agent-1")]);
    let net = docker(&[
        "network",
        "ls",
        "-q",
        "--filter",
        &format!("label=io.seglab.lab={lab}"),
        "--filter",
        "label=io.seglab.segment=mgmt",
    ]);
    let stray = container(&lab, "default-caps");
    docker(&[
        "run",
        "-d",
        "--name",
        &stray,
        "--label",
        &format!("io.seglab.lab={lab}"),
        "--network",
        net.trim(),
        "--env",
        &format!(
            r#"SEGLAB_NODE={{"lab":"{lab}","name":"default-caps","kind":"gateway","services":[]}}"#
        ),
        image.trim(),
    ]);
    let o = try_raw_socket(&stray);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("sent a raw frame"),
        "{}",
        text(&o)
    );

    let o = run(&["down", &lab]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(leftovers(&lab), (0, 0));
}
