use super::*;
use crate::trace::evidence::{Evidence, NodeFacts, TraceSink};
use crate::trace::{text, Walk, PROBE_PORTS};
use std::collections::BTreeMap;

const MGMT: &str = include_str!("../../../tests/fixtures/traces/netlink-s3-gw-mgmt.hex");
const SENSITIVE: &str = include_str!("../../../tests/fixtures/traces/netlink-s3-gw-sensitive.hex");
const MGMT_TEXT: &str = include_str!("../../../tests/fixtures/traces/monitor-s3-gw-mgmt.txt");

fn events(capture: &str) -> Vec<TraceEvent> {
    capture
        .lines()
        .flat_map(|l| decode(&hex::decode(l).unwrap()).unwrap())
        .collect()
}

/// The walks of every probe in a capture, as the evidence board builds
/// them (every probe five-tuple of the capture registered), by flow.
fn walks(capture: &str) -> BTreeMap<Flow, Vec<Walk>> {
    let all = events(capture);
    let board = Evidence::new();
    board.add_node("gw", NodeFacts::default());
    let mut flows = Vec::new();
    for e in &all {
        if let Some(f) = e.packet.as_ref().and_then(|p| p.flow) {
            if PROBE_PORTS.contains(&f.sport) && !flows.contains(&f) {
                board.expect(flows.len(), f);
                flows.push(f);
            }
        }
    }
    board.events("gw", all);
    flows
        .iter()
        .enumerate()
        .map(|(i, f)| (*f, board.walks(i).into_iter().map(|w| w.walk).collect()))
        .collect()
}

#[test]
fn every_datagram_of_a_capture_decodes() {
    for capture in [MGMT, SENSITIVE] {
        for line in capture.lines() {
            let events = decode(&hex::decode(line).unwrap()).unwrap();
            assert_eq!(events.len(), 1, "{line}");
            let e = &events[0];
            assert!(!e.table.is_empty() && !e.chain.is_empty(), "{e:?}");
            assert_ne!(e.id, 0, "{e:?}");
        }
    }
}

#[test]
fn the_first_event_of_a_chain_carries_the_packet() {
    let all = events(MGMT);
    let first = &all[0];
    assert_eq!(
        (
            first.family.as_str(),
            first.table.as_str(),
            first.chain.as_str()
        ),
        ("inet", "seglab_trace", "probes")
    );
    let p = first.packet.as_ref().expect("the packet's headers");
    let f = p.flow.expect("a TCP five-tuple");
    assert_eq!(
        f.to_string(),
        "tcp 198.18.166.10:40017 -> 198.18.165.10:7780"
    );
    assert_eq!(p.tcp_flags, Some(0x02), "a SYN");
    assert!(p.iif.is_some() && p.oif.is_none());
    assert_eq!(first.step, Step::Rule);
    assert_eq!(first.verdict, Some(Verdict::Continue));
    // The chain's policy, in an event of its own without the packet.
    let policy = all[1..]
        .iter()
        .find(|e| e.id == first.id && e.step == Step::Policy)
        .unwrap();
    assert_eq!(policy.chain_path(), "inet seglab_trace probes");
    assert_eq!(policy.verdict, Some(Verdict::Accept));
    assert!(policy.packet.is_none());
}

#[test]
fn the_decoded_walks_are_what_nft_monitor_printed() {
    let ours = walks(MGMT);
    let theirs = text::walks(MGMT_TEXT);
    let mut compared = 0;
    for w in &theirs {
        let Some(flow) = w.flow else { continue };
        let Some(mine) = ours.get(&flow) else {
            continue;
        };
        // The same packet (a flow's walks are in order in both).
        let Some(m) = mine.iter().find(|m| m.id == w.id) else {
            continue;
        };
        let decided = |w: &Walk| -> Vec<(String, bool, String)> {
            w.decisions
                .iter()
                .filter(|d| !d.chain.contains("seglab_trace"))
                .map(|d| {
                    let by_rule = d.handle.is_some() || d.rule.is_some();
                    (d.chain.clone(), by_rule, d.verdict.clone())
                })
                .collect()
        };
        // The text may be cut short at the end of the capture.
        if decided(w).len() == decided(m).len() {
            assert_eq!(decided(m), decided(w), "{flow}");
            assert_eq!(m.iif.is_some(), w.iif.is_some(), "{flow}");
            compared += 1;
        }
    }
    assert!(compared > 50, "only {compared} walks compared");
}

#[test]
fn the_walks_of_a_capture() {
    let mut out = Vec::new();
    for (flow, ws) in walks(SENSITIVE).iter().take(40) {
        for w in ws {
            let last = w
                .decisions
                .iter()
                .rfind(|d| !d.chain.contains("seglab_trace"))
                .map(|d| match d.handle {
                    Some(h) => format!("{} rule #{h} {}", d.chain, d.verdict),
                    None => format!("{} policy {}", d.chain, d.verdict),
                })
                .unwrap_or_else(|| "-".into());
            out.push(format!(
                "{flow} {} -> {} | {last}",
                w.iif.as_deref().unwrap_or("-"),
                w.oif.as_deref().unwrap_or("-")
            ));
        }
    }
    insta::assert_snapshot!(out.join("\n"));
}

/// A trace message built by hand: `attrs` as (type, value).
fn message(family: u8, attrs: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut body = vec![family, 0, 0, 0];
    for (kind, value) in attrs {
        let len = 4 + value.len();
        body.extend_from_slice(&(len as u16).to_ne_bytes());
        body.extend_from_slice(&kind.to_ne_bytes());
        body.extend_from_slice(value);
        body.resize(body.len().div_ceil(4) * 4, 0);
    }
    let mut msg = Vec::new();
    msg.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
    msg.extend_from_slice(&TRACE_MESSAGE.to_ne_bytes());
    msg.extend_from_slice(&[0; 10]);
    msg.extend(body);
    msg
}

fn nested_verdict(code: i32, chain: Option<&str>) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&8u16.to_ne_bytes());
    v.extend_from_slice(&VERDICT_CODE.to_ne_bytes());
    v.extend_from_slice(&code.to_be_bytes());
    if let Some(c) = chain {
        let mut s = c.as_bytes().to_vec();
        s.push(0);
        v.extend_from_slice(&((4 + s.len()) as u16).to_ne_bytes());
        v.extend_from_slice(&VERDICT_CHAIN.to_ne_bytes());
        v.extend(s);
        v.resize(v.len().div_ceil(4) * 4, 0);
    }
    v
}

#[test]
fn verdicts_policies_and_jumps_decode() {
    let name = |s: &str| {
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        v
    };
    let jump = message(
        libc::NFPROTO_INET as u8,
        &[
            (TABLE, name("filter")),
            (CHAIN, name("forward")),
            (ID, 7u32.to_be_bytes().to_vec()),
            (
                TYPE,
                (libc::NFT_TRACETYPE_RULE as u32).to_be_bytes().to_vec(),
            ),
            (RULE_HANDLE, 12u64.to_be_bytes().to_vec()),
            (VERDICT, nested_verdict(-3, Some("mgmt_in"))),
        ],
    );
    let policy = message(
        libc::NFPROTO_IPV4 as u8,
        &[
            (TABLE, name("nat")),
            (CHAIN, name("POSTROUTING")),
            (ID, 7u32.to_be_bytes().to_vec()),
            (
                TYPE,
                (libc::NFT_TRACETYPE_POLICY as u32).to_be_bytes().to_vec(),
            ),
            (POLICY, 0u32.to_be_bytes().to_vec()),
        ],
    );
    // Two messages in one datagram, as the kernel may batch them.
    let mut datagram = jump.clone();
    datagram.extend(&policy);
    let got = decode(&datagram).unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].chain_path(), "inet filter forward");
    assert_eq!(got[0].handle, Some(12));
    assert_eq!(got[0].verdict, Some(Verdict::Jump("mgmt_in".into())));
    assert_eq!(got[1].chain_path(), "ip nat POSTROUTING");
    assert_eq!(got[1].step, Step::Policy);
    assert!(got[1].drops());
    // A queue verdict keeps its number above the low byte.
    assert_eq!(Verdict::from_code(0x0005_0003, None), Verdict::Queue);
    assert_eq!(Verdict::from_code(-2, None), Verdict::Continue);
    // Garbage is an error, not a panic.
    assert!(decode(&[0xff; 20]).is_err());
    assert_eq!(decode(&[]).unwrap(), Vec::new());
}
