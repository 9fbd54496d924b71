//! A node's network state read from inside its namespace without starting
//! a program: its interfaces and IPv4 addresses (`getifaddrs`, which asks
//! the kernel over netlink in the calling thread's namespace), its IPv4
//! routes (`/proc/thread-self/net/route`: the thread's own namespace, not
//! the process's) and its rule set's generation (nftables' `GETGEN`: it
//! moves with every committed change of the rule set).

use crate::netns::{self, NetnsError};
use crate::runtime::{NetInterface, NodeNet};
use ipnet::Ipv4Net;
use netlink_packet_core::NetlinkBuffer;
use netlink_packet_utils::nla::NlasIterator;
use nix::sys::socket::{self as sock, NetlinkAddr};
use std::collections::BTreeMap;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;

/// `(NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETGEN` and the answer's type.
const GETGEN: u16 = (10 << 8) | 16;
const NEWGEN: u16 = (10 << 8) | 15;
const NFTA_GEN_ID: u16 = 1;

/// The rule set's generation, asked over netlink.
fn ruleset_generation() -> io::Result<u32> {
    let fd = sock::socket(
        sock::AddressFamily::Netlink,
        sock::SockType::Raw,
        sock::SockFlag::SOCK_CLOEXEC,
        sock::SockProtocol::NetlinkNetFilter,
    )?;
    sock::bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 0))?;
    let timeout = nix::sys::time::TimeVal::new(2, 0);
    sock::setsockopt(&fd, sock::sockopt::ReceiveTimeout, &timeout)?;
    let mut req = Vec::with_capacity(20);
    req.extend_from_slice(&20u32.to_ne_bytes());
    req.extend_from_slice(&GETGEN.to_ne_bytes());
    req.extend_from_slice(&(libc::NLM_F_REQUEST as u16).to_ne_bytes());
    req.extend_from_slice(&1u32.to_ne_bytes()); // sequence
    req.extend_from_slice(&0u32.to_ne_bytes()); // port: the kernel
    req.extend_from_slice(&[libc::AF_UNSPEC as u8, 0, 0, 0]); // nfgenmsg
    sock::sendto(
        fd.as_raw_fd(),
        &req,
        &NetlinkAddr::new(0, 0),
        sock::MsgFlags::empty(),
    )?;
    let mut buf = vec![0u8; 8192];
    let n = sock::recv(fd.as_raw_fd(), &mut buf, sock::MsgFlags::empty())?;
    parse_generation(&buf[..n])
        .ok_or_else(|| io::Error::other("no rule set generation in the kernel's answer"))
}

/// The generation in a `NEWGEN` answer.
fn parse_generation(datagram: &[u8]) -> Option<u32> {
    let msg = NetlinkBuffer::new_checked(datagram).ok()?;
    if msg.message_type() != NEWGEN {
        return None;
    }
    let attrs = msg.payload().get(4..)?;
    NlasIterator::new(attrs)
        .filter_map(Result::ok)
        .find(|a| a.kind() == NFTA_GEN_ID)
        .and_then(|a| Some(u32::from_be_bytes(a.value().try_into().ok()?)))
}

/// The IPv4 routes of `/proc/net/route` text: destination, mask and gateway
/// are in the kernel's byte order, printed as hex.
fn parse_routes(text: &str) -> Vec<(Ipv4Net, Option<Ipv4Addr>)> {
    let addr = |hex: &str| {
        u32::from_str_radix(hex, 16)
            .ok()
            .map(|v| Ipv4Addr::from(v.to_le_bytes()))
    };
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (dest, gateway, mask) = (addr(f.get(1)?)?, addr(f.get(2)?)?, addr(f.get(7)?)?);
            let prefix = u32::from(mask).count_ones() as u8;
            let net = Ipv4Net::new(dest, prefix).ok()?;
            Some((net, (!gateway.is_unspecified()).then_some(gateway)))
        })
        .collect()
}

fn interfaces() -> io::Result<Vec<NetInterface>> {
    let mut by_name: BTreeMap<String, NetInterface> = BTreeMap::new();
    for a in nix::ifaddrs::getifaddrs()? {
        let name = a.interface_name.clone();
        let entry = by_name.entry(name.clone()).or_insert_with(|| NetInterface {
            index: nix::net::if_::if_nametoindex(name.as_str()).unwrap_or(0),
            name,
            up: a.flags.contains(nix::net::if_::InterfaceFlags::IFF_UP),
            ipv4: Vec::new(),
        });
        if let Some(v4) = a.address.as_ref().and_then(|s| s.as_sockaddr_in()) {
            entry.ipv4.push(v4.ip());
        }
    }
    Ok(by_name.into_values().collect())
}

/// Reads the state of the node whose PID 1 is `pid`.
pub(super) async fn inspect(pid: u32) -> Result<NodeNet, NetnsError> {
    let read = netns::run_in(pid, || {
        Ok::<_, io::Error>(NodeNet {
            interfaces: interfaces()?,
            routes: parse_routes(&std::fs::read_to_string("/proc/thread-self/net/route")?),
            ruleset_generation: Some(ruleset_generation()?),
        })
    })
    .await?;
    read.map_err(|source| NetnsError::Io {
        pid,
        context: "cannot read the node's interfaces, routes and rule set generation".into(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_of_the_proc_file() {
        // As the kernel prints it: a route via a gateway, a link route and a default.
        let text =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
            eth1\t00A712C6\t01A812C6\t0003\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
            eth0\t00A612C6\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
            eth0\t00000000\t01A612C6\t0003\t0\t0\t0\t00000000\t0\t0\t0\n";
        assert_eq!(
            parse_routes(text),
            vec![
                (
                    "198.18.167.0/24".parse().unwrap(),
                    Some("198.18.168.1".parse().unwrap())
                ),
                ("198.18.166.0/24".parse().unwrap(), None),
                (
                    "0.0.0.0/0".parse().unwrap(),
                    Some("198.18.166.1".parse().unwrap())
                ),
            ]
        );
    }

    #[test]
    fn a_generation_answer() {
        let mut msg = Vec::new();
        msg.extend_from_slice(&28u32.to_ne_bytes());
        msg.extend_from_slice(&NEWGEN.to_ne_bytes());
        msg.extend_from_slice(&[0; 10]);
        msg.extend_from_slice(&[0, 0, 0, 0]);
        msg.extend_from_slice(&8u16.to_ne_bytes());
        msg.extend_from_slice(&NFTA_GEN_ID.to_ne_bytes());
        msg.extend_from_slice(&4242u32.to_be_bytes());
        assert_eq!(parse_generation(&msg), Some(4242));
        assert_eq!(parse_generation(&msg[..10]), None);
    }
}
