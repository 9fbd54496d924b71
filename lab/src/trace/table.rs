//! The table that marks probe packets for tracing in a node.
//!
//! Probes leave from a source port in [`PROBE_PORTS`] (the prober binds
//! them there), so a probe's packets and their answers are recognised by
//! port alone: the kernel scrubs packet marks between namespaces, so a mark
//! set by the prober would not reach the gateways. Only the packets that
//! decide a probe are traced: a TCP probe's SYN (retransmissions included)
//! and its SYN-ACK, and every UDP datagram of a probe and its answers. The
//! chain runs before everything else (priority -350, before conntrack and
//! any user chain) and never gives a verdict of its own, so a rule set
//! behaves exactly as without it.
//!
//! The table is seglab's, never part of a user's rule set: resets keep it,
//! and seals leave it out (see [`crate::health::seal`]).

use std::ops::RangeInclusive;

/// Name of seglab's trace table (family `inet`).
pub const TRACE_TABLE: &str = "seglab_trace";

/// Source ports of probes.
pub const PROBE_PORTS: RangeInclusive<u16> = 40000..=59999;

/// The table, as `nft -f` input (re-creating it is harmless).
pub fn trace_table() -> String {
    let (lo, hi) = (PROBE_PORTS.start(), PROBE_PORTS.end());
    format!(
        "table inet {TRACE_TABLE} {{\n\
         \x20   chain probes {{\n\
         \x20       type filter hook prerouting priority -350; policy accept;\n\
         \x20       tcp sport {lo}-{hi} tcp flags & (syn | ack) == syn meta nftrace set 1\n\
         \x20       tcp dport {lo}-{hi} tcp flags & (syn | ack) == syn | ack meta nftrace set 1\n\
         \x20       udp sport {lo}-{hi} meta nftrace set 1\n\
         \x20       udp dport {lo}-{hi} meta nftrace set 1\n\
         \x20   }}\n\
         }}\n"
    )
}

/// Re-creates the table from nothing (after a reset of the node's tables,
/// or when a user's file deleted it).
pub fn reload_trace_table() -> String {
    format!(
        "table inet {TRACE_TABLE}\ndelete table inet {TRACE_TABLE}\n{}",
        trace_table()
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_table_marks_probe_ports_only() {
        insta::assert_snapshot!(super::trace_table());
    }
}
