//! The scan's packets: the bare TCP SYN it sends from a raw socket, and
//! what it reads back from its raw sockets (a SYN-ACK or a reset, an ICMP
//! error quoting one of its probes). Pure: built and parsed with
//! `etherparse`, tested on bytes.

use crate::node_contract::Proto;
use etherparse::{IpNumber, Ipv4HeaderSlice, Ipv4Slice, TcpHeader, TcpSlice};
use std::net::Ipv4Addr;

/// A probe's addresses and ports, as the source sends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    pub proto: Proto,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub sport: u16,
    pub dport: u16,
}

/// A TCP header with only SYN set and a checksum for `src` to `dst`, ready
/// for a raw `IPPROTO_TCP` socket (the kernel adds the IP header).
pub fn syn(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, seq: u32) -> Vec<u8> {
    let mut h = TcpHeader::new(sport, dport, seq, 1024);
    h.syn = true;
    h.checksum = h
        .calc_checksum_ipv4_raw(src.octets(), dst.octets(), &[])
        .expect("a bare header fits");
    h.to_bytes().to_vec()
}

/// What came back to a scan, read from its raw sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// A TCP segment from `from` (a SYN-ACK, or a reset).
    Tcp {
        from: Ipv4Addr,
        to: Ipv4Addr,
        sport: u16,
        dport: u16,
        syn: bool,
        rst: bool,
        ack: Option<u32>,
    },
    /// An ICMP error (`kind`, `code`) sent by `sender` about `probe`.
    Icmp {
        sender: Ipv4Addr,
        kind: u8,
        code: u8,
        probe: Probe,
    },
}

/// Reads an IPv4 packet as a raw socket hands it over (IP header first).
/// `None` for anything that is not a TCP segment or an ICMP error quoting
/// a TCP or UDP packet.
pub fn parse(packet: &[u8]) -> Option<Answer> {
    let ip = Ipv4Slice::from_slice(packet).ok()?;
    let header = ip.header();
    let payload = ip.payload();
    if payload.fragmented {
        return None;
    }
    match payload.ip_number {
        IpNumber::TCP => {
            let tcp = TcpSlice::from_slice(payload.payload).ok()?;
            Some(Answer::Tcp {
                from: header.source_addr(),
                to: header.destination_addr(),
                sport: tcp.source_port(),
                dport: tcp.destination_port(),
                syn: tcp.syn(),
                rst: tcp.rst(),
                ack: tcp.ack().then(|| tcp.acknowledgment_number()),
            })
        }
        IpNumber::ICMP => icmp_error(header.source_addr(), payload.payload),
        _ => None,
    }
}

/// An ICMP destination-unreachable or time-exceeded: its type and code, and
/// the probe it quotes (the IP header and the first eight bytes of the
/// transport header, which hold the ports).
fn icmp_error(sender: Ipv4Addr, icmp: &[u8]) -> Option<Answer> {
    let (&kind, &code) = (icmp.first()?, icmp.get(1)?);
    if kind != 3 && kind != 11 {
        return None;
    }
    let quoted = icmp.get(8..)?;
    let inner = Ipv4HeaderSlice::from_slice(quoted).ok()?;
    let proto = match inner.protocol() {
        IpNumber::TCP => Proto::Tcp,
        IpNumber::UDP => Proto::Udp,
        _ => return None,
    };
    let ports = quoted.get(inner.slice().len()..inner.slice().len() + 4)?;
    Some(Answer::Icmp {
        sender,
        kind,
        code,
        probe: Probe {
            proto,
            src: inner.source_addr(),
            dst: inner.destination_addr(),
            sport: u16::from_be_bytes([ports[0], ports[1]]),
            dport: u16::from_be_bytes([ports[2], ports[3]]),
        },
    })
}

/// The sequence number of the SYN to `dst`:`dport`: keyed by the scan, so
/// that only an answer to this scan's SYN acknowledges `seq + 1`.
pub fn sequence(key: u64, dst: Ipv4Addr, dport: u16) -> u32 {
    // SplitMix64 over the key, the address and the port: cheap, and a
    // stray segment matches by chance one time in 2^32.
    let mut z = key ^ (u64::from(u32::from(dst)) << 16) ^ u64::from(dport);
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    const SRC: Ipv4Addr = Ipv4Addr::new(198, 18, 30, 10);
    const DST: Ipv4Addr = Ipv4Addr::new(198, 18, 31, 10);

    #[test]
    fn a_syn_is_a_valid_bare_syn() {
        let bytes = syn(SRC, DST, 61005, 445, 7);
        let tcp = TcpSlice::from_slice(&bytes).unwrap();
        assert!(tcp.syn() && !tcp.ack() && !tcp.rst());
        assert_eq!((tcp.source_port(), tcp.destination_port()), (61005, 445));
        assert_eq!(tcp.sequence_number(), 7);
        let header = tcp.to_header();
        assert_eq!(
            header
                .calc_checksum_ipv4_raw(SRC.octets(), DST.octets(), &[])
                .unwrap(),
            tcp.checksum()
        );
    }

    #[test]
    fn a_syn_ack_is_read_with_its_acknowledgement() {
        let mut packet = Vec::new();
        PacketBuilder::ipv4(DST.octets(), SRC.octets(), 63)
            .tcp(445, 61005, 99, 1024)
            .syn()
            .ack(8)
            .write(&mut packet, &[])
            .unwrap();
        assert_eq!(
            parse(&packet),
            Some(Answer::Tcp {
                from: DST,
                to: SRC,
                sport: 445,
                dport: 61005,
                syn: true,
                rst: false,
                ack: Some(8),
            })
        );
    }

    #[test]
    fn an_icmp_error_names_the_probe_it_quotes() {
        // The probe as it left: IP header and UDP header (8 bytes).
        let mut probe = Vec::new();
        PacketBuilder::ipv4(SRC.octets(), DST.octets(), 64)
            .udp(61161, 161)
            .write(&mut probe, b"SEGLAB-PROBE 161\n")
            .unwrap();
        let gw = Ipv4Addr::new(198, 18, 32, 2);
        let mut icmp = vec![3, 13, 0, 0, 0, 0, 0, 0];
        icmp.extend_from_slice(&probe[..28]);
        let mut packet = Vec::new();
        PacketBuilder::ipv4(gw.octets(), SRC.octets(), 64)
            .icmpv4_raw(3, 13, [0; 4])
            .write(&mut packet, &probe[..28])
            .unwrap();
        assert_eq!(
            parse(&packet),
            Some(Answer::Icmp {
                sender: gw,
                kind: 3,
                code: 13,
                probe: Probe {
                    proto: Proto::Udp,
                    src: SRC,
                    dst: DST,
                    sport: 61161,
                    dport: 161
                },
            })
        );
        assert_eq!(icmp_error(gw, &icmp[..20]), None, "a quote cut short");
    }

    #[test]
    fn other_packets_are_none() {
        let mut packet = Vec::new();
        PacketBuilder::ipv4(DST.octets(), SRC.octets(), 63)
            .udp(53, 61000)
            .write(&mut packet, b"x")
            .unwrap();
        assert_eq!(parse(&packet), None);
        assert_eq!(parse(&[0x45, 0, 0]), None);
        let mut echo = Vec::new();
        PacketBuilder::ipv4(DST.octets(), SRC.octets(), 63)
            .icmpv4_echo_reply(1, 1)
            .write(&mut echo, &[])
            .unwrap();
        assert_eq!(parse(&echo), None);
    }

    #[test]
    fn sequences_differ_by_port_and_key() {
        assert_ne!(sequence(1, DST, 445), sequence(1, DST, 446));
        assert_ne!(sequence(1, DST, 445), sequence(2, DST, 445));
        assert_eq!(sequence(1, DST, 445), sequence(1, DST, 445));
    }
}
