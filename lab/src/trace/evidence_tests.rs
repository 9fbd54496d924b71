use super::*;
use crate::node_contract::Proto;
use crate::trace::netlink::Packet;
use std::time::Duration;

fn flow(sport: u16, dport: u16) -> Flow {
    Flow {
        src: "10.0.1.10".parse().unwrap(),
        dst: "10.0.2.10".parse().unwrap(),
        proto: Proto::Tcp,
        sport,
        dport,
    }
}

fn ev(id: u32, table: &str, chain: &str, packet: Option<Flow>) -> TraceEvent {
    TraceEvent {
        id,
        family: "inet".into(),
        table: table.into(),
        chain: chain.into(),
        step: Step::Rule,
        handle: None,
        verdict: Some(Verdict::Continue),
        packet: packet.map(|f| Packet {
            iif: Some(2),
            oif: None,
            flow: Some(f),
            tcp_flags: Some(2),
        }),
    }
}

/// One packet of `f` through the trace chain and then `forward`, which
/// decides with `verdict` by rule `handle` (or its policy).
fn packet(id: u32, f: Flow, handle: Option<u64>, verdict: Verdict) -> Vec<TraceEvent> {
    let mut fwd = ev(id, "filter", "forward", Some(f));
    fwd.packet.as_mut().unwrap().oif = Some(3);
    fwd.step = if handle.is_some() {
        Step::Rule
    } else {
        Step::Policy
    };
    fwd.handle = handle;
    fwd.verdict = Some(verdict);
    vec![ev(id, "seglab_trace", "probes", Some(f)), fwd]
}

fn board() -> Evidence {
    let b = Evidence::new();
    b.add_node(
        "gw-a",
        NodeFacts {
            interfaces: [(2, "eth0".to_string()), (3, "eth1".to_string())].into(),
            rejects: [("inet".to_string(), "filter".to_string(), 9)].into(),
            ..NodeFacts::default()
        },
    );
    b
}

async fn decided(mut w: DropWait) -> Option<DropSeen> {
    tokio::time::timeout(Duration::from_millis(50), w.dropped())
        .await
        .ok()
}

#[tokio::test]
async fn a_drop_of_the_probes_packet_decides_it_at_once() {
    let b = board();
    let f = flow(40001, 445);
    let wait = b.expect(0, f);
    b.events("gw-a", packet(0x11, f, None, Verdict::Drop));
    let seen = decided(wait).await.expect("decided by the drop");
    assert_eq!(
        seen,
        DropSeen {
            node: "gw-a".into(),
            chain: "inet filter forward".into(),
            handle: None,
            answer: false,
        }
    );
    assert_eq!(
        seen.to_string(),
        "gw-a dropped it: inet filter forward policy drop"
    );
    let walks = b.walks(0);
    assert_eq!(walks.len(), 1);
    assert_eq!(walks[0].walk.iif.as_deref(), Some("eth0"));
    assert_eq!(walks[0].walk.oif.as_deref(), Some("eth1"));
    assert_eq!(
        walks[0].walk.decisions.len(),
        1,
        "the trace chain is left out"
    );
}

#[tokio::test]
async fn another_probes_drop_or_an_accept_decides_nothing() {
    let b = board();
    let mine = flow(40001, 445);
    let wait = b.expect(0, mine);
    b.expect(1, flow(40002, 445));
    b.events("gw-a", packet(0x11, flow(40002, 445), None, Verdict::Drop));
    b.events("gw-a", packet(0x12, mine, Some(4), Verdict::Accept));
    // Not a probe of this round at all.
    b.events("gw-a", packet(0x13, flow(1234, 80), None, Verdict::Drop));
    assert_eq!(decided(wait).await, None);
    assert_eq!(b.walks(0)[0].walk.decisions[0].verdict, "accept");
    assert_eq!(b.walks(0)[0].walk.decisions[0].handle, Some(4));
}

#[tokio::test]
async fn a_reject_rule_is_left_to_the_probe() {
    let b = board();
    let f = flow(40001, 445);
    let wait = b.expect(0, f);
    // Handle 9 rejects: the kernel says drop, the probe gets the refusal.
    b.events("gw-a", packet(0x11, f, Some(9), Verdict::Drop));
    assert_eq!(decided(wait).await, None);
    assert_eq!(b.walks(0)[0].walk.decisions[0].verdict, "reject");
}

#[tokio::test]
async fn a_dropped_answer_counts_and_the_first_drop_stays() {
    let b = board();
    let f = flow(40001, 22);
    let wait = b.expect(0, f);
    b.events("gw-a", packet(0x11, f, Some(4), Verdict::Accept));
    b.events("gw-a", packet(0x12, f.reversed(), None, Verdict::Drop));
    // A retransmitted SYN, dropped by a rule this time: changes nothing.
    b.events("gw-a", packet(0x11, f, Some(5), Verdict::Drop));
    let seen = decided(wait).await.unwrap();
    assert!(seen.answer);
    assert_eq!(seen.handle, None);
    let walks = b.walks(0);
    assert_eq!(walks.len(), 3, "the reused id began a new walk");
    assert!(walks[1].answer && !walks[2].answer);
}

#[tokio::test]
async fn events_of_unknown_nodes_and_lost_events_are_harmless() {
    let b = board();
    let f = flow(40001, 445);
    let wait = b.expect(0, f);
    b.events("gw-unknown", packet(0x11, f, None, Verdict::Drop));
    b.lost("gw-a");
    assert_eq!(b.lossy_nodes(), vec!["gw-a".to_string()]);
    assert_eq!(decided(wait).await, None);
    // A decision whose packet line was lost is no one's.
    b.events("gw-a", vec![packet(0x20, f, None, Verdict::Drop).remove(1)]);
    assert!(b.walks(0).is_empty() || b.walks(0)[0].walk.decisions.is_empty());
}

#[test]
fn source_ports_are_random_ports_of_the_probe_range() {
    let b = Evidence::new();
    let ports: std::collections::BTreeSet<u16> = (0..1000).map(|_| b.source_port()).collect();
    assert!(ports.iter().all(|p| PROBE_PORTS.contains(p)));
    // Not a sequence: 1000 draws from 20,000 ports spread out.
    assert!(ports.len() > 900, "{}", ports.len());
    let span = ports.last().unwrap() - ports.first().unwrap();
    assert!(span > 15_000, "{span}");
}
