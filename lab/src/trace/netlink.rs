//! The kernel's nftables trace events, as the `NFNLGRP_NFTRACE` netlink
//! group delivers them (what `nft monitor trace` prints): one message per
//! chain a traced packet enters (carrying the packet's headers and
//! interfaces) and per rule or policy that gives a verdict in it. Pure:
//! the datagrams come from whoever listens.
//!
//! A message is a netlink header, the `nfgenmsg` (the family), and
//! attributes; the layout is `enum nft_trace_attributes` of
//! `linux/netfilter/nf_tables.h`. Numbers are big-endian.

use super::Flow;
use crate::node_contract::Proto;
use netlink_packet_core::NetlinkBuffer;
use netlink_packet_utils::nla::NlasIterator;
use serde::Serialize;
use std::net::Ipv4Addr;

/// `(NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_TRACE`.
const TRACE_MESSAGE: u16 = ((libc::NFNL_SUBSYS_NFTABLES as u16) << 8) | libc::NFT_MSG_TRACE as u16;
/// The netlink group of trace events.
pub const NFTRACE_GROUP: u32 = libc::NFNLGRP_NFTRACE as u32;

// enum nft_trace_attributes
const TABLE: u16 = 1;
const CHAIN: u16 = 2;
const RULE_HANDLE: u16 = 3;
const TYPE: u16 = 4;
const VERDICT: u16 = 5;
const ID: u16 = 6;
const NETWORK_HEADER: u16 = 8;
const TRANSPORT_HEADER: u16 = 9;
const IIF: u16 = 10;
const OIF: u16 = 12;
const POLICY: u16 = 16;
// enum nft_verdict_attributes
const VERDICT_CODE: u16 = 1;
const VERDICT_CHAIN: u16 = 2;

/// What kind of step an event reports (`enum nft_trace_types`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    /// A rule gave the verdict.
    Rule,
    /// The chain's policy decided.
    Policy,
    /// The end of a chain that was jumped to: back to its caller.
    Return,
    /// The packet entered the chain (no verdict yet).
    Unspec,
}

/// A verdict as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Accept,
    Drop,
    Continue,
    Return,
    Jump(String),
    Goto(String),
    Queue,
    Stolen,
    Other(i32),
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Verdict::Accept => f.write_str("accept"),
            Verdict::Drop => f.write_str("drop"),
            Verdict::Continue => f.write_str("continue"),
            Verdict::Return => f.write_str("return"),
            Verdict::Jump(c) => write!(f, "jump {c}"),
            Verdict::Goto(c) => write!(f, "goto {c}"),
            Verdict::Queue => f.write_str("queue"),
            Verdict::Stolen => f.write_str("stolen"),
            Verdict::Other(n) => write!(f, "verdict {n}"),
        }
    }
}

impl Verdict {
    fn from_code(code: i32, chain: Option<String>) -> Verdict {
        let chain = || chain.clone().unwrap_or_default();
        match code {
            -1 => Verdict::Continue,
            -2 => Verdict::Continue, // NFT_BREAK: the rule did not match
            -3 => Verdict::Jump(chain()),
            -4 => Verdict::Goto(chain()),
            -5 => Verdict::Return,
            // Netfilter verdicts carry data above the low byte (a queue number).
            c if c >= 0 => match c & 0xff {
                0 => Verdict::Drop,
                1 => Verdict::Accept,
                2 => Verdict::Stolen,
                3 => Verdict::Queue,
                _ => Verdict::Other(c),
            },
            c => Verdict::Other(c),
        }
    }
}

/// The packet as the chain saw it (only in the first event of each chain
/// the packet enters).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Packet {
    pub iif: Option<u32>,
    pub oif: Option<u32>,
    pub flow: Option<Flow>,
    /// TCP flags (`tcp flags`), for TCP.
    pub tcp_flags: Option<u8>,
}

/// One trace event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TraceEvent {
    /// The kernel's trace id: the same for every event of one packet in one
    /// hook, and reused by later packets.
    pub id: u32,
    /// `inet`, `ip`, ...
    pub family: String,
    pub table: String,
    pub chain: String,
    pub step: Step,
    /// The rule's handle, for [`Step::Rule`].
    pub handle: Option<u64>,
    pub verdict: Option<Verdict>,
    pub packet: Option<Packet>,
}

impl TraceEvent {
    /// `family table chain`, as nft names a chain.
    pub fn chain_path(&self) -> String {
        format!("{} {} {}", self.family, self.table, self.chain)
    }

    /// True when this step dropped the packet (a reject rule also reports
    /// `drop`: the caller tells them apart by the rule).
    pub fn drops(&self) -> bool {
        self.verdict == Some(Verdict::Drop)
    }
}

/// Why a datagram could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("malformed netlink message: {0}")]
    Netlink(String),
    #[error("malformed trace attribute {attr}: {why}")]
    Attribute { attr: u16, why: &'static str },
}

fn family_name(nfproto: u8) -> String {
    match nfproto as i32 {
        libc::NFPROTO_INET => "inet".into(),
        libc::NFPROTO_IPV4 => "ip".into(),
        libc::NFPROTO_IPV6 => "ip6".into(),
        libc::NFPROTO_ARP => "arp".into(),
        libc::NFPROTO_BRIDGE => "bridge".into(),
        libc::NFPROTO_NETDEV => "netdev".into(),
        n => format!("family-{n}"),
    }
}

fn be32(attr: u16, v: &[u8]) -> Result<u32, DecodeError> {
    let b: [u8; 4] = v.try_into().map_err(|_| DecodeError::Attribute {
        attr,
        why: "not 4 bytes",
    })?;
    Ok(u32::from_be_bytes(b))
}

fn be64(attr: u16, v: &[u8]) -> Result<u64, DecodeError> {
    let b: [u8; 8] = v.try_into().map_err(|_| DecodeError::Attribute {
        attr,
        why: "not 8 bytes",
    })?;
    Ok(u64::from_be_bytes(b))
}

fn string(v: &[u8]) -> String {
    let end = v.iter().position(|&b| b == 0).unwrap_or(v.len());
    String::from_utf8_lossy(&v[..end]).into_owned()
}

fn verdict(v: &[u8]) -> Result<Verdict, DecodeError> {
    let mut code = None;
    let mut chain = None;
    for nla in NlasIterator::new(v) {
        let nla = nla.map_err(|_| DecodeError::Attribute {
            attr: VERDICT,
            why: "bad nested attribute",
        })?;
        match nla.kind() {
            VERDICT_CODE => code = Some(be32(VERDICT_CODE, nla.value())? as i32),
            VERDICT_CHAIN => chain = Some(string(nla.value())),
            _ => {}
        }
    }
    let code = code.ok_or(DecodeError::Attribute {
        attr: VERDICT,
        why: "no verdict code",
    })?;
    Ok(Verdict::from_code(code, chain))
}

/// The five-tuple of an IPv4 header and the transport header after it
/// (`None` for anything but TCP and UDP over IPv4).
fn flow_of(network: &[u8], transport: &[u8]) -> (Option<Flow>, Option<u8>) {
    if network.len() < 20 || network[0] >> 4 != 4 || transport.len() < 4 {
        return (None, None);
    }
    let proto = match network[9] {
        6 => Proto::Tcp,
        17 => Proto::Udp,
        _ => return (None, None),
    };
    let addr = |at: usize| {
        Ipv4Addr::new(
            network[at],
            network[at + 1],
            network[at + 2],
            network[at + 3],
        )
    };
    let port = |at: usize| u16::from_be_bytes([transport[at], transport[at + 1]]);
    let flags = (proto == Proto::Tcp && transport.len() > 13).then(|| transport[13]);
    let flow = Flow {
        src: addr(12),
        dst: addr(16),
        proto,
        sport: port(0),
        dport: port(2),
    };
    (Some(flow), flags)
}

fn event(family: u8, attrs: &[u8]) -> Result<TraceEvent, DecodeError> {
    let mut e = TraceEvent {
        id: 0,
        family: family_name(family),
        table: String::new(),
        chain: String::new(),
        step: Step::Unspec,
        handle: None,
        verdict: None,
        packet: None,
    };
    let (mut network, mut transport) = (None, None);
    let (mut iif, mut oif) = (None, None);
    for nla in NlasIterator::new(attrs) {
        let nla = nla.map_err(|_| DecodeError::Attribute {
            attr: 0,
            why: "bad attribute",
        })?;
        let v = nla.value();
        match nla.kind() {
            TABLE => e.table = string(v),
            CHAIN => e.chain = string(v),
            RULE_HANDLE => e.handle = Some(be64(RULE_HANDLE, v)?),
            TYPE => {
                e.step = match be32(TYPE, v)? as i32 {
                    libc::NFT_TRACETYPE_POLICY => Step::Policy,
                    libc::NFT_TRACETYPE_RETURN => Step::Return,
                    libc::NFT_TRACETYPE_RULE => Step::Rule,
                    _ => Step::Unspec,
                }
            }
            VERDICT => e.verdict = Some(verdict(v)?),
            ID => e.id = be32(ID, v)?,
            NETWORK_HEADER => network = Some(v.to_vec()),
            TRANSPORT_HEADER => transport = Some(v.to_vec()),
            IIF => iif = Some(be32(IIF, v)?),
            OIF => oif = Some(be32(OIF, v)?),
            // The policy's verdict (NF_DROP / NF_ACCEPT).
            POLICY => e.verdict = Some(Verdict::from_code(be32(POLICY, v)? as i32, None)),
            _ => {}
        }
    }
    if network.is_some() || iif.is_some() || oif.is_some() {
        let (flow, tcp_flags) = match (&network, &transport) {
            (Some(n), Some(t)) => flow_of(n, t),
            _ => (None, None),
        };
        e.packet = Some(Packet {
            iif,
            oif,
            flow,
            tcp_flags,
        });
    }
    Ok(e)
}

/// Decodes every trace event of one datagram read from the group; other
/// messages (errors, `NLMSG_DONE`) are skipped.
pub fn decode(datagram: &[u8]) -> Result<Vec<TraceEvent>, DecodeError> {
    let mut out = Vec::new();
    let mut rest = datagram;
    while rest.len() >= 16 {
        let msg =
            NetlinkBuffer::new_checked(rest).map_err(|e| DecodeError::Netlink(e.to_string()))?;
        let len = (msg.length() as usize).max(16);
        // Messages are 4-byte aligned in a datagram.
        let next = (len + 3) & !3;
        if msg.message_type() == TRACE_MESSAGE {
            let payload = msg.payload();
            if payload.len() < 4 {
                return Err(DecodeError::Netlink(
                    "trace message without nfgenmsg".into(),
                ));
            }
            out.push(event(payload[0], &payload[4..])?);
        }
        rest = rest.get(next..).unwrap_or(&[]);
    }
    Ok(out)
}

#[cfg(test)]
#[path = "netlink_tests.rs"]
mod tests;
