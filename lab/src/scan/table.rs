//! seglab's scan table in every node (`inet seglab_scan`), and the source
//! ports a scan leaves from.
//!
//! A full scan of one pair makes 65,535 conntrack entries per protocol in
//! every node on its path (the source, each gateway that passes it, the
//! destination), and the kernel's limit (`nf_conntrack_max`, 262,144 here)
//! holds for each namespace: with the kernel's timeouts (a SYN that gets no
//! answer stays two minutes, an unanswered datagram 30 s), a few scans in
//! a row through one gateway would fill its table, and a full table drops
//! new connections, which would read as blocked ports. So the table gives
//! the scan's connections, and only those (recognised by their source
//! ports), timeouts of a second or two: long enough for any answer in a lab,
//! short enough that a node never holds more than about two seconds of
//! scanning. The chains run before conntrack (priority -350) and give no
//! verdict, so a rule set behaves exactly as without them.
//!
//! Like the trace table it is seglab's, never part of a user's rule set:
//! resets keep it and seals leave it out (see [`crate::health::seal`]).

use std::ops::RangeInclusive;

/// Name of seglab's scan table (family `inet`).
pub const SCAN_TABLE: &str = "seglab_scan";

/// Source ports of scan probes: above the kernel's ephemeral ports (up to
/// 60999) and apart from the traced probe ports, so that neither a
/// client of the host nor `verify` ever takes one, and 2,048 of them: port
/// `p` leaves from `61000 + p % 2048`, so each source port meets at most 32
/// ports of a destination (the catch-all's range has 64).
pub const SCAN_PORTS: RangeInclusive<u16> = 61000..=63047;

/// How many source ports a scan uses.
pub const SCAN_PORT_COUNT: u16 = 2048;

/// The source port that probes of destination port `dport` leave from.
pub fn source_port(dport: u16) -> u16 {
    SCAN_PORTS.start() + dport % SCAN_PORT_COUNT
}

/// Seconds a scan connection is remembered, answered or not. An answer in a
/// lab comes within milliseconds; a round resends what stayed silent.
const PENDING_S: u32 = 2;
/// Seconds after its answer (the source's reset, the reply datagram).
const DONE_S: u32 = 1;

/// The table, as `nft -f` input (re-creating it is harmless).
pub fn scan_table() -> String {
    let (lo, hi) = (SCAN_PORTS.start(), SCAN_PORTS.end());
    let (p, d) = (PENDING_S, DONE_S);
    format!(
        "table inet {SCAN_TABLE} {{\n\
         \x20   ct timeout tcp_scan {{\n\
         \x20       protocol tcp; l3proto ip\n\
         \x20       policy = {{ syn_sent: {p}, syn_recv: {p}, established: {p}, fin_wait: {d}, close_wait: {d}, last_ack: {d}, time_wait: {d}, close: {d} }}\n\
         \x20   }}\n\
         \x20   ct timeout udp_scan {{\n\
         \x20       protocol udp; l3proto ip\n\
         \x20       policy = {{ unreplied: {p}, replied: {d} }}\n\
         \x20   }}\n\
         \x20   chain arriving {{\n\
         \x20       type filter hook prerouting priority -350; policy accept;\n\
         \x20       tcp sport {lo}-{hi} ct timeout set \"tcp_scan\"\n\
         \x20       udp sport {lo}-{hi} ct timeout set \"udp_scan\"\n\
         \x20   }}\n\
         \x20   chain leaving {{\n\
         \x20       type filter hook output priority -350; policy accept;\n\
         \x20       tcp sport {lo}-{hi} ct timeout set \"tcp_scan\"\n\
         \x20       udp sport {lo}-{hi} ct timeout set \"udp_scan\"\n\
         \x20   }}\n\
         }}\n"
    )
}

/// Re-creates the table from nothing.
pub fn reload_scan_table() -> String {
    format!(
        "table inet {SCAN_TABLE}\ndelete table inet {SCAN_TABLE}\n{}",
        scan_table()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_sets_short_timeouts_on_scan_ports_only() {
        insta::assert_snapshot!(scan_table());
    }

    #[test]
    fn each_source_port_meets_at_most_32_destination_ports() {
        let mut per_source = std::collections::BTreeMap::<u16, u32>::new();
        for p in 1..=u16::MAX {
            let s = source_port(p);
            assert!(SCAN_PORTS.contains(&s));
            *per_source.entry(s).or_default() += 1;
        }
        assert_eq!(per_source.len(), usize::from(SCAN_PORT_COUNT));
        assert!(per_source.values().all(|&n| n <= 32));
        assert!(!SCAN_PORTS.contains(&60999));
        assert!(!crate::trace::table::PROBE_PORTS.contains(SCAN_PORTS.start()));
    }
}
