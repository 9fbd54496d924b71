//! The orchestration of `scan` against the in-memory backend: which pairs
//! are scanned and how each port is judged, a destination that is not
//! running (`host-down`, never scanned), and a phase opened for the scan
//! and closed after it. No Docker, no root, no packet.

use super::fake_tests::{faithful, policy, running, up};
use crate::node_contract::Proto;
use crate::probe::Observed;
use crate::scan::select::Selector;
use crate::scan::{scan_lab, PortSet, ScanRequest};
use crate::verify::Verdict;

fn request(ports: &str) -> ScanRequest {
    ScanRequest {
        ports: ports.parse::<PortSet>().unwrap(),
        ..ScanRequest::default()
    }
}

/// (src, dst, proto, first, last, verdict) of every span that is no pass.
fn failing(r: &crate::scan::ScanReport) -> Vec<(String, String, Proto, u16, u16, Verdict)> {
    r.pairs
        .iter()
        .flat_map(|p| {
            p.spans
                .iter()
                .filter(|s| s.verdict != Verdict::Pass)
                .map(|s| {
                    (
                        p.src.clone(),
                        p.dst.clone(),
                        p.proto,
                        s.first,
                        s.last,
                        s.verdict,
                    )
                })
        })
        .collect()
}

#[tokio::test]
async fn every_port_of_every_filtered_pair_is_judged_and_a_leak_named() {
    let (sc, mut open) = policy("scenario-3");
    for p in 30000..=30010 {
        open.insert(("ams".into(), "agent-1".into(), Proto::Tcp, p));
    }
    let b = faithful(open, false);
    let lab = up(&b, &sc).await;
    let r = scan_lab(&b, &lab, None, &request("1-1024,7780,30000-30010"))
        .await
        .unwrap();
    // 2 x 3 hosts across the gateways, each way, both protocols.
    assert_eq!(r.pairs.len(), 24);
    assert_eq!(r.summary.ports, 24 * 1036);
    assert_eq!(
        failing(&r),
        [(
            "ams".to_string(),
            "agent-1".to_string(),
            Proto::Tcp,
            30000,
            30010,
            Verdict::Leak
        )]
    );
    assert_eq!(r.summary.leaks, 11);
    // The flow that permits ZMQ from each agent: open and passing.
    let zmq = r
        .pairs
        .iter()
        .find(|p| p.src == "agent-2" && p.dst == "ams" && p.proto == Proto::Tcp)
        .unwrap();
    let span = zmq.spans.iter().find(|s| s.first == 7780).unwrap();
    assert_eq!(
        (span.last, span.observed, span.flow),
        (7780, Observed::Open, Some(5))
    );
    assert!(!r.ok());
}

#[tokio::test]
async fn a_destination_that_is_not_running_is_host_down_and_never_scanned() {
    let (_, b, lab) = running("scenario-3").await;
    b.state
        .lock()
        .unwrap()
        .labs
        .get_mut(&lab)
        .unwrap()
        .nodes
        .get_mut("agent-2")
        .unwrap()
        .running = false;
    let start = b.log().len();
    let req = ScanRequest {
        from: Selector::Host("ams".into()),
        ..request("1-100")
    };
    let r = scan_lab(&b, &lab, None, &req).await.unwrap();
    for p in &r.pairs {
        let verdicts: Vec<Verdict> = p.spans.iter().map(|s| s.verdict).collect();
        if p.dst == "agent-2" {
            assert_eq!(verdicts, [Verdict::HostDown], "{p:?}");
        } else {
            assert_eq!(verdicts, [Verdict::Pass], "{p:?}");
        }
    }
    assert_eq!(r.summary.host_down, 2 * 100);
    // ams scans agent-1 and storage only, in both protocols.
    let log = b.log();
    let scans: Vec<&str> = log[start..]
        .iter()
        .filter(|l| l.starts_with("scan"))
        .map(String::as_str)
        .collect();
    assert_eq!(scans, ["scan ams x4"]);
}

#[tokio::test]
async fn a_phase_opens_for_the_scan_and_closes_after_it() {
    let (sc, mut open) = policy("scenario-3");
    // The network does what the phase says while it is open.
    for dst in ["agent-1", "agent-2"] {
        for p in [445, 25001, 43234] {
            open.insert(("ams".into(), dst.into(), Proto::Tcp, p));
        }
    }
    let b = faithful(open, false);
    let lab = up(&b, &sc).await;
    let start = b.log().len();
    let req = ScanRequest {
        from: Selector::Host("ams".into()),
        protos: vec![Proto::Tcp],
        ..request("1-50000")
    };
    let r = scan_lab(&b, &lab, Some("push-install"), &req)
        .await
        .unwrap();
    assert_eq!(r.phase, "push-install");
    assert!(r.ok(), "{:?}", failing(&r));
    let log: Vec<String> = b.log()[start..]
        .iter()
        .filter(|l| l.starts_with("scan") || l.starts_with("seal gw") || l.starts_with("reset gw"))
        .cloned()
        .collect();
    assert_eq!(
        log,
        [
            "seal gw-mgmt push-install",
            "seal gw-mgmt push-install",
            "seal gw-sensitive push-install",
            "seal gw-sensitive push-install",
            "scan ams x3",
            "reset gw-mgmt",
            "seal gw-mgmt -",
            "reset gw-sensitive",
            "seal gw-sensitive -",
        ]
    );
}
