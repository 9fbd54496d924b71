//! Why a probe ended as it did: the kernel's nftables trace of probe
//! packets, in every gateway and in every host with a host firewall.
//!
//! * [`table`]: the table seglab adds to those nodes. A chain hooked before
//!   everything else (prerouting, priority -350) sets `meta nftrace` on probe
//!   packets alone, recognised by the probe source ports ([`PROBE_PORTS`]).
//!   It decides nothing, so a verdict is the same with tracing on or off.
//! * [`netlink`]: the kernel's trace events (`NFT_MSG_TRACE` on the
//!   `NFNLGRP_NFTRACE` group) decoded into [`TraceEvent`]s.
//! * [`evidence`]: the events of one probing round, matched to each probe's
//!   five-tuple. A drop seen for a probe's packet decides it at once (no
//!   waiting for the timeout), and each probe's walks through the nodes are
//!   kept for its explanation.
//! * `text` (tests only): `nft monitor trace` text into the same [`Walk`]s,
//!   to hold the listener's walks against what nft itself prints.
//!
//! The listener itself is an operation of the backend
//! ([`crate::runtime::LabBackend::trace`]): on this machine a netlink socket
//! opened inside the node's namespace.

pub mod evidence;
pub mod explain;
pub mod netlink;
pub mod table;
// The tests hold the listener's walks against nft's own text.
#[cfg(test)]
pub mod text;

use crate::node_contract::Proto;
use serde::Serialize;
use std::net::Ipv4Addr;

pub use evidence::Evidence;
pub use netlink::TraceEvent;
pub use table::PROBE_PORTS;

/// The five-tuple of a traced packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Flow {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub proto: Proto,
    pub sport: u16,
    pub dport: u16,
}

impl Flow {
    /// The answer's five-tuple.
    pub fn reversed(self) -> Flow {
        Flow {
            src: self.dst,
            dst: self.src,
            proto: self.proto,
            sport: self.dport,
            dport: self.sport,
        }
    }
}

impl std::fmt::Display for Flow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}:{} -> {}:{}",
            self.proto, self.src, self.sport, self.dst, self.dport
        )
    }
}

/// How a chain decided a packet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// `family table chain`, e.g. `inet filter forward`.
    pub chain: String,
    /// The deciding rule's handle (from the kernel's events; the text
    /// monitor does not print it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handle: Option<u64>,
    /// The deciding rule as nft prints it; `None` when the policy decided
    /// (or, from the kernel's events, until the rule is looked up).
    pub rule: Option<String>,
    pub verdict: String,
}

/// One packet's way through one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Walk {
    pub id: String,
    pub flow: Option<Flow>,
    pub iif: Option<String>,
    /// The output interface once it was known (routed packets).
    pub oif: Option<String>,
    /// Every decision, in order; `continue` verdicts included.
    pub decisions: Vec<Decision>,
}

impl Walk {
    /// The decision that dropped or rejected the packet, if one did.
    pub fn stopped_by(&self) -> Option<&Decision> {
        self.decisions
            .iter()
            .find(|d| d.verdict == "drop" || d.verdict.starts_with("reject"))
    }
}
