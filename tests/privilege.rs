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

/// Sends one TCP connect or UDP datagram (payload `x`, which names no
/// port) from inside `from`'s namespace and returns the first answer.
fn ask(lab: &str, from: &str, ip: &str, proto: &str, port: u16) -> String {
    const SCRIPT: &str = r#"
import socket, sys
ip, proto, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
if proto == "udp":
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(3)
    s.sendto(b"x", (ip, port))
    print(s.recvfrom(2048)[0].decode().strip())
else:
    print(socket.create_connection((ip, port), timeout=3).recv(2048).decode().strip())
"#;
    in_netns(
        lab,
        from,
        &["python3", "-c", SCRIPT, ip, proto, &port.to_string()],
    )
}

/// Without capabilities, the stubs still bind ports under 1024 (through the
/// namespace's ip_unprivileged_port_start) and the catch-alls still learn
/// the port a client asked for: TCP from SO_ORIGINAL_DST, UDP from the
/// packet mark (SO_RCVMARK; the payload names no port, so the agent's
/// payload fallback cannot be what answers).
fn listeners_work_without_capabilities(lab: &str) {
    let sc = seglab::scenario::load("scenario-2").unwrap();
    let (host, stub) = sc
        .hosts
        .iter()
        .find_map(|h| {
            h.services
                .iter()
                .find(|s| s.key.port < 1024 && s.key.proto.to_string() == "tcp")
                .map(|s| (h, s))
        })
        .expect("scenario-2 has a TCP stub under 1024");
    let router = sc.segment(&host.segment).unwrap().router.clone().unwrap();
    let ip = docker(&[
        "inspect",
        "-f",
        "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
        &container(lab, &host.name),
    ]);
    let ip = ip.trim();
    let port = stub.key.port;
    let answer = ask(lab, &router, ip, "tcp", port);
    assert!(
        answer.contains(&format!("host={} ", host.name))
            && answer.contains(&format!("port={port}"))
            && !answer.contains("catch-all"),
        "tcp/{port}: {answer}"
    );
    for (proto, port) in [("tcp", 40001), ("udp", 40000)] {
        let answer = ask(lab, &router, ip, proto, port);
        assert!(
            answer.contains("service=catch-all")
                && answer.contains(&format!("proto={proto} port={port}")),
            "{proto}/{port}: {answer}"
        );
    }
    let logs = Command::new("docker")
        .args(["logs", &container(lab, &host.name)])
        .output()
        .expect("docker runs");
    let logs = text(&logs);
    assert!(!logs.contains("SO_RCVMARK unavailable"), "{logs}");
}

#[test]
fn lab_nodes_hold_no_capability_and_cannot_send_raw_frames() {
    if !live(LAB) {
        return;
    }
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

    listeners_work_without_capabilities(&lab);

    // The same image on the same segment with Docker's default capabilities
    // (NET_RAW among them) does send the frame: without the fix, the check
    // above would fail. Labelled with the lab, so `down` removes it too.
    let image = docker(&["inspect", "-f", "{{.Image}}", &container(&lab, "agent-1")]);
    let net = network_of(&lab, "mgmt");
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
