//! The scan's footprint in the machine's own connection tracking.
//!
//! Docker's bridges run lab packets through the machine's netfilter hooks
//! (`net.bridge.bridge-nf-call-iptables = 1`, which Docker sets), so every
//! scan probe also makes a conntrack entry in the machine's own namespace,
//! with the machine's timeouts: an unanswered SYN stays two minutes, a UDP
//! exchange 30 s. A full scan of one pair is 65,535 entries per protocol,
//! and `nf_conntrack_max` (262,144 here) is one pair's TCP and UDP and a
//! half: a few pairs in a row would fill the table the machine's own
//! connections need. seglab changes nothing of the machine's rules or
//! timeouts; instead, after each target, it deletes the entries its probes
//! made, and only those (their exact tuples: the lab's source and
//! destination addresses, the scan source port of each port), over
//! ctnetlink. Before a target, the scan waits (10 s at most) while the
//! target's 65,535 entries would fill the table beyond three quarters
//! (another scan, or anything else, holds that many).

use super::losses::{backlog_drops, NetnsCounters};
use crate::node_contract::Proto;
use crate::scan::table::source_port;
use crate::scan::PortSet;
use nix::sys::socket::{self as sock, MsgFlags, NetlinkAddr};
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

const NLM_F_REQUEST: u16 = 1;
const NFNL_SUBSYS_CTNETLINK: u16 = 1;
const IPCTNL_MSG_CT_DELETE: u16 = 2;
const NLA_F_NESTED: u16 = 0x8000;
const CTA_TUPLE_ORIG: u16 = 1;
const CTA_TUPLE_IP: u16 = 1;
const CTA_TUPLE_PROTO: u16 = 2;
const CTA_IP_V4_SRC: u16 = 1;
const CTA_IP_V4_DST: u16 = 2;
const CTA_PROTO_NUM: u16 = 1;
const CTA_PROTO_SRC_PORT: u16 = 2;
const CTA_PROTO_DST_PORT: u16 = 3;
/// Bytes of requests sent at once (each request is 72 bytes).
const CHUNK: usize = 60 * 1024;

/// A ctnetlink socket of the machine's own namespace: opened before the
/// scanner enters the source host's namespace, it keeps working there.
pub struct HostConntrack {
    fd: OwnedFd,
    buf: Vec<u8>,
}

impl HostConntrack {
    pub fn open() -> io::Result<HostConntrack> {
        let fd = sock::socket(
            sock::AddressFamily::Netlink,
            sock::SockType::Raw,
            sock::SockFlag::SOCK_CLOEXEC | sock::SockFlag::SOCK_NONBLOCK,
            sock::SockProtocol::NetlinkNetFilter,
        )?;
        sock::bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 0))?;
        Ok(HostConntrack {
            fd,
            buf: vec![0; 64 * 1024],
        })
    }

    /// Deletes the entries of the probes from `src` to every port of
    /// `ports` of `dst`. Entries that are gone already are fine.
    pub fn forget(
        &mut self,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        proto: Proto,
        ports: &PortSet,
    ) -> io::Result<()> {
        let mut batch = Vec::with_capacity(CHUNK + 128);
        let mut seq = 0u32;
        for dport in ports.iter() {
            seq = seq.wrapping_add(1);
            delete_request(&mut batch, seq, src, dst, proto, source_port(dport), dport);
            if batch.len() >= CHUNK {
                self.send(&batch)?;
                batch.clear();
            }
        }
        if !batch.is_empty() {
            self.send(&batch)?;
        }
        self.discard_answers();
        Ok(())
    }

    fn send(&mut self, batch: &[u8]) -> io::Result<()> {
        let kernel = NetlinkAddr::new(0, 0);
        loop {
            match sock::sendto(self.fd.as_raw_fd(), batch, &kernel, MsgFlags::empty()) {
                Ok(_) => {
                    // The kernel answers a request it could not carry out
                    // (an entry already gone); those answers say nothing.
                    self.discard_answers();
                    return Ok(());
                }
                Err(nix::errno::Errno::EINTR) => {}
                Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::ENOBUFS) => {
                    self.discard_answers();
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn discard_answers(&mut self) {
        while let Ok(n) = sock::recv(self.fd.as_raw_fd(), &mut self.buf, MsgFlags::MSG_DONTWAIT) {
            if n == 0 {
                break;
            }
        }
    }
}

/// Appends one IPCTNL_MSG_CT_DELETE request for the original tuple
/// `src:sport -> dst:dport`.
fn delete_request(
    out: &mut Vec<u8>,
    seq: u32,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: Proto,
    sport: u16,
    dport: u16,
) {
    let start = out.len();
    // nlmsghdr: length (filled in below), type, flags, sequence, port id.
    out.extend_from_slice(&0u32.to_ne_bytes());
    out.extend_from_slice(&((NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE).to_ne_bytes());
    out.extend_from_slice(&NLM_F_REQUEST.to_ne_bytes());
    out.extend_from_slice(&seq.to_ne_bytes());
    out.extend_from_slice(&0u32.to_ne_bytes());
    // nfgenmsg: family, version, resource id (big endian).
    out.extend_from_slice(&[libc::AF_INET as u8, 0, 0, 0]);
    let tuple = nested(out, CTA_TUPLE_ORIG);
    let ip = nested(out, CTA_TUPLE_IP);
    attr(out, CTA_IP_V4_SRC, &src.octets());
    attr(out, CTA_IP_V4_DST, &dst.octets());
    close(out, ip);
    let l4 = nested(out, CTA_TUPLE_PROTO);
    let number = match proto {
        Proto::Tcp => libc::IPPROTO_TCP,
        Proto::Udp => libc::IPPROTO_UDP,
    };
    attr(out, CTA_PROTO_NUM, &[number as u8]);
    attr(out, CTA_PROTO_SRC_PORT, &sport.to_be_bytes());
    attr(out, CTA_PROTO_DST_PORT, &dport.to_be_bytes());
    close(out, l4);
    close(out, tuple);
    let len = u32::try_from(out.len() - start).expect("a request is small");
    out[start..start + 4].copy_from_slice(&len.to_ne_bytes());
}

/// Appends an attribute, padded to four bytes.
fn attr(out: &mut Vec<u8>, kind: u16, value: &[u8]) {
    let len = u16::try_from(4 + value.len()).expect("attributes are small");
    out.extend_from_slice(&len.to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(value);
    out.resize(out.len().next_multiple_of(4), 0);
}

/// Opens a nested attribute; [`close`] fills in its length.
fn nested(out: &mut Vec<u8>, kind: u16) -> usize {
    let at = out.len();
    out.extend_from_slice(&0u16.to_ne_bytes());
    out.extend_from_slice(&(kind | NLA_F_NESTED).to_ne_bytes());
    at
}

fn close(out: &mut [u8], at: usize) {
    let len = u16::try_from(out.len() - at).expect("attributes are small");
    out[at..at + 2].copy_from_slice(&len.to_ne_bytes());
}

/// The scan's footprint on this machine, for [`crate::scan::engine`]:
/// before a target it waits while the machine's conntrack table is more
/// than half full, after it the target's entries are deleted.
pub struct HostFootprint {
    conntrack: HostConntrack,
    /// Loss counters of the machine's namespace, of the source's, and of
    /// each target's path (by target id).
    host: NetnsCounters,
    softnet: std::fs::File,
    source: NetnsCounters,
    /// Each node's counters once, and the nodes on each target's path.
    nodes: Vec<NetnsCounters>,
    paths: std::collections::HashMap<usize, Vec<usize>>,
    /// `nf_conntrack_count` of the machine's namespace, opened there: a
    /// file of `/proc/sys/net` belongs to the namespace it was opened in.
    count: std::fs::File,
    max: u64,
}

impl HostFootprint {
    /// Must be called in seglab's own namespace: the machine's counters
    /// are read where it runs. `source` and `paths` (target id and the PIDs
    /// of the nodes on its path) name the lab's namespaces.
    pub fn open(source: u32, paths: Vec<(usize, Vec<u32>)>) -> io::Result<HostFootprint> {
        let counters = |pid: u32| NetnsCounters::open(&pid.to_string());
        let mut nodes = Vec::new();
        let mut index: std::collections::HashMap<u32, usize> = Default::default();
        let mut by_target = std::collections::HashMap::new();
        for (id, pids) in paths {
            let mut path = Vec::new();
            for pid in pids {
                let i = match index.get(&pid) {
                    Some(&i) => i,
                    None => {
                        nodes.push(counters(pid)?);
                        index.insert(pid, nodes.len() - 1);
                        nodes.len() - 1
                    }
                };
                path.push(i);
            }
            by_target.insert(id, path);
        }
        let max = std::fs::read_to_string("/proc/sys/net/netfilter/nf_conntrack_max")?
            .trim()
            .parse()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        Ok(HostFootprint {
            conntrack: HostConntrack::open()?,
            host: NetnsCounters::open("thread-self")?,
            softnet: std::fs::File::open("/proc/net/softnet_stat")?,
            source: counters(source)?,
            nodes,
            paths: by_target,
            count: std::fs::File::open("/proc/sys/net/netfilter/nf_conntrack_count")?,
            max,
        })
    }

    fn entries(&self) -> Option<u64> {
        use std::os::unix::fs::FileExt;
        let mut buf = [0u8; 32];
        let n = self.count.read_at(&mut buf, 0).ok()?;
        std::str::from_utf8(&buf[..n]).ok()?.trim().parse().ok()
    }
}

/// How long a target waits for room in the machine's table at most: the
/// entries of others (an nmap run leaves an unanswered SYN for two
/// minutes) go in their own time, and a scan must end.
const PATIENCE: Duration = Duration::from_secs(10);

/// Entries a target adds at most while it runs (one per port).
const TARGET_ENTRIES: u64 = 65_535;

impl crate::scan::engine::Footprint for HostFootprint {
    fn before(&mut self) {
        let until = Instant::now() + PATIENCE;
        while let Some(count) = self.entries() {
            // Room for this target with a quarter of the table to spare.
            if count + TARGET_ENTRIES <= self.max / 4 * 3 {
                return;
            }
            if Instant::now() >= until {
                tracing::warn!(
                    "the machine's conntrack table holds {count} of {} entries; scanning on",
                    self.max
                );
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn losses(&mut self, target: &crate::scan::ScanTarget) -> Option<u64> {
        let path = self.paths.get(&target.id)?;
        let mut sum = backlog_drops(&self.softnet).ok()?;
        for c in std::iter::once(&self.host)
            .chain(std::iter::once(&self.source))
            .chain(path.iter().map(|&i| &self.nodes[i]))
        {
            sum += c.losses().ok()?;
        }
        Some(sum)
    }

    fn after(&mut self, src: Ipv4Addr, target: &crate::scan::ScanTarget) {
        if let Err(e) = self
            .conntrack
            .forget(src, target.dst, target.proto, &target.ports)
        {
            tracing::warn!("cannot delete the scan's conntrack entries: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delete_request_is_laid_out_as_ctnetlink_wants() {
        let mut out = Vec::new();
        let (src, dst) = (
            Ipv4Addr::new(198, 18, 30, 10),
            Ipv4Addr::new(198, 18, 31, 10),
        );
        delete_request(&mut out, 7, src, dst, Proto::Udp, 61161, 161);
        assert_eq!(out.len(), 72);
        assert_eq!(u32::from_ne_bytes(out[0..4].try_into().unwrap()), 72);
        assert_eq!(u16::from_ne_bytes(out[4..6].try_into().unwrap()), 0x0102);
        assert_eq!(out[16], libc::AF_INET as u8);
        // CTA_TUPLE_ORIG holds the rest of the message.
        assert_eq!(u16::from_ne_bytes(out[20..22].try_into().unwrap()), 52);
        assert_eq!(&out[28..32], &[8, 0, 1, 0]);
        assert_eq!(&out[32..36], &src.octets());
        assert_eq!(&out[40..44], &dst.octets());
        assert_eq!(out[52], 17);
        assert_eq!(&out[60..62], &61161u16.to_be_bytes());
        assert_eq!(&out[68..70], &161u16.to_be_bytes());
    }
}
