//! The prober: tries flows and reports what it observed.
//!
//! Probes of one source host run from inside that host's network namespace
//! ([`probe_from`], via [`crate::netns::run_in`] and a current-thread tokio
//! runtime on the namespace's dedicated thread), so that they leave through
//! the host's own interfaces, routes and rules exactly like its traffic would.
//! The probes of one source run concurrently, within one [`Window`] shared by
//! every source of the process and sized from the open-file limit (see
//! [`window`]); a batch in which every probe is dropped therefore takes about
//! one timeout per window-full, not one per probe. A probe starts its clock
//! only once it has its place in the window.
//! The targets come from the caller; the prober never invents an address.
//!
//! What each [`Observed`] means:
//!
//! * [`Observed::Open`]: a TCP connection was accepted (or a UDP datagram was
//!   answered) and the answer carried a seglab identity, recorded as the
//!   `responder`: which lab host and which service (or the catch-all) spoke.
//! * [`Observed::Rejected`]: the flow was actively refused: a TCP reset
//!   (`ECONNREFUSED`), or an ICMP destination-unreachable (net, host, port,
//!   prohibited, ...), or a local refusal on the source (no route, its own
//!   filter). The `detail` says which, and for ICMP which router or host sent
//!   it (read from the socket's error queue, `IP_RECVERR`).
//! * [`Observed::Blocked`]: nothing came back within the timeout: the packets
//!   were silently dropped somewhere.
//! * [`Observed::HostDown`]: an ICMP host-unknown (`EHOSTDOWN`).
//! * [`Observed::Error`]: something else: the peer connected but sent no
//!   identity (not a seglab stub), or a local error (out of sockets, ...);
//!   `detail` has the reason.
//!
//! Each probe holds one descriptor: TCP connects a nonblocking socket it
//! keeps, so the ICMP error queue is read from that same socket when the
//! connection fails.
//!
//! TCP probes close with `SO_LINGER` 0, i.e. with a reset: no TIME_WAIT is
//! left on either side, which matters when thousands of probes go to the same
//! destination port. UDP sockets set `IP_RECVERR`, without which Linux does
//! not report ICMP net/host-unreachable to a UDP socket at all (they are "soft"
//! errors) and a rejected datagram would look blocked. A UDP probe is re-sent
//! every quarter of the timeout until something comes back: a burst of
//! concurrent probes to one UDP listener overflows its receive buffer
//! (`RcvbufErrors`) and the lost datagrams would otherwise look blocked too.
//!
//! ICMP errors are rate-limited by the kernel that sends them (per destination:
//! `net.ipv4.icmp_ratelimit`, and overall: `net.ipv4.icmp_msgs_per_sec`,
//! both per network namespace; loopback is exempt). Many concurrent probes
//! rejected with ICMP by the same gateway or host can therefore come back as
//! blocked unless those limits are lifted in the lab's namespaces.

pub mod window;

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::socket::{self as sock, sockopt, ControlMessageOwned, MsgFlags, SockaddrIn};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpStream, UdpSocket};
use tokio::task::JoinSet;

use crate::netns::{self, NetnsError};
use crate::node_contract::{Identity, Proto};
use crate::runtime::ProbeOptions;
use crate::trace::evidence::{DropSeen, DropWait};
use crate::trace::{Evidence, Flow};

pub use window::Window;

/// At most this many bytes of an answer are read while looking for an identity.
pub const MAX_ANSWER: usize = 512;

/// One flow to try.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProbeTarget {
    /// The caller's reference; echoed in the [`Observation`].
    pub id: usize,
    /// The source host's address: probes leave from it (it names the
    /// probe's five-tuple for the trace evidence).
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub proto: Proto,
    pub port: u16,
}

/// What a probe saw. See the module documentation.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum Observed {
    Open,
    Blocked,
    Rejected,
    HostDown,
    /// Not probed, or probed in vain: a node on the path (a gateway, or an
    /// end host's own set-up) was broken before or during the run.
    PathDown,
    Error,
}

impl Observed {
    pub fn as_str(self) -> &'static str {
        match self {
            Observed::Open => "open",
            Observed::Blocked => "blocked",
            Observed::Rejected => "rejected",
            Observed::HostDown => "host-down",
            Observed::PathDown => "path-down",
            Observed::Error => "error",
        }
    }
}

impl std::fmt::Display for Observed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The result of one probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    /// [`ProbeTarget::id`].
    pub id: usize,
    pub observed: Observed,
    /// Who answered (for [`Observed::Open`]).
    pub responder: Option<Identity>,
    /// Why, in words: the errno, the ICMP type and its sender, a timeout, or
    /// what came back instead of an identity.
    pub detail: Option<String>,
    /// From the start of this probe to its verdict.
    pub elapsed: Duration,
}

/// Runs every probe from inside the network namespace of `pid` (the source
/// host's container), once `window` has room for one more source thread.
/// See [`run_probes`].
pub async fn probe_from(
    pid: u32,
    targets: Vec<ProbeTarget>,
    opts: ProbeOptions,
    window: &Window,
) -> Result<Vec<Observation>, NetnsError> {
    // Held until the thread is done: it covers the namespace descriptor and
    // the thread's runtime.
    let _source = window.source_permit().await;
    let window = window.clone();
    let result = netns::run_in(pid, move || {
        // No signal driver: it would cost a descriptor per runtime.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()?;
        Ok::<_, io::Error>(rt.block_on(run_probes(targets, &opts, &window)))
    })
    .await?;
    result.map_err(|source| NetnsError::Io {
        pid,
        context: "cannot start the probe runtime".to_string(),
        source,
    })
}

/// Runs every probe from the current network namespace, at most
/// `opts.concurrency` of them at a time and each only once `window` has
/// room for it, and returns the observations in the order of `targets`.
pub async fn run_probes(
    targets: Vec<ProbeTarget>,
    opts: &ProbeOptions,
    window: &Window,
) -> Vec<Observation> {
    let concurrency = opts.concurrency.max(1);
    let timeout = opts.timeout;
    let mut observations: Vec<Option<Observation>> = vec![None; targets.len()];
    let mut running = JoinSet::new();
    let mut finish = |joined: Result<(usize, Observation), tokio::task::JoinError>| match joined {
        Ok((index, o)) => observations[index] = Some(o),
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    };
    for (index, target) in targets.into_iter().enumerate() {
        while running.len() >= concurrency {
            finish(running.join_next().await.expect("the set is not empty"));
        }
        // Taken before the probe starts its clock, released when it ends.
        let permit = window.probe_permit().await;
        let evidence = opts.evidence.clone();
        running.spawn(async move {
            let o = probe(target, timeout, evidence.as_ref()).await;
            drop(permit);
            (index, o)
        });
    }
    while let Some(joined) = running.join_next().await {
        finish(joined);
    }
    observations
        .into_iter()
        .map(|o| o.expect("every probe reported"))
        .collect()
}

/// What one probe concluded, before timing (not to be confused with
/// [`crate::verify::Verdict`], the judgement of a cell against the plan).
struct Conclusion {
    observed: Observed,
    responder: Option<Identity>,
    detail: Option<String>,
}

impl Conclusion {
    fn open(identity: Identity) -> Conclusion {
        Conclusion {
            observed: Observed::Open,
            responder: Some(identity),
            detail: None,
        }
    }

    fn with(observed: Observed, detail: impl Into<String>) -> Conclusion {
        Conclusion {
            observed,
            responder: None,
            detail: Some(detail.into()),
        }
    }

    fn blocked(timeout: Duration) -> Conclusion {
        Conclusion::with(Observed::Blocked, format!("no answer within {timeout:?}"))
    }

    /// Blocked on the evidence of a traced drop, without the timeout.
    fn dropped(seen: DropSeen) -> Conclusion {
        Conclusion::with(Observed::Blocked, seen.to_string())
    }
}

/// A nonblocking IPv4 socket for a probe; failing, the probe's conclusion.
fn probe_socket(proto: Proto) -> Result<std::os::fd::OwnedFd, Conclusion> {
    let kind = match proto {
        Proto::Tcp => sock::SockType::Stream,
        Proto::Udp => sock::SockType::Datagram,
    };
    sock::socket(
        sock::AddressFamily::Inet,
        kind,
        sock::SockFlag::SOCK_NONBLOCK | sock::SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(|e| {
        Conclusion::with(
            Observed::Error,
            format!(
                "cannot create a {} socket: {e}",
                proto.as_str().to_uppercase()
            ),
        )
    })
}

/// With trace evidence: binds the probe's socket to its source address and
/// a probe source port, and registers its five-tuple before its first
/// packet leaves. Without: nothing (the kernel picks the port).
fn traced(
    fd: BorrowedFd<'_>,
    target: &ProbeTarget,
    evidence: Option<&Evidence>,
) -> Result<DropWait, Conclusion> {
    let Some(evidence) = evidence else {
        return Ok(DropWait::never());
    };
    // A port in use (a listener of the host, a probe still closing) is
    // skipped; the range is wide, so a few tries always find one.
    let mut last = None;
    for _ in 0..64 {
        let sport = evidence.source_port();
        match sock::bind(
            fd.as_raw_fd(),
            &SockaddrIn::from(SocketAddrV4::new(target.src, sport)),
        ) {
            Ok(()) => {
                let flow = Flow {
                    src: target.src,
                    dst: target.dst,
                    proto: target.proto,
                    sport,
                    dport: target.port,
                };
                return Ok(evidence.expect(target.id, flow));
            }
            Err(Errno::EADDRINUSE) => last = Some(Errno::EADDRINUSE),
            Err(e) => {
                return Err(Conclusion::with(
                    Observed::Error,
                    format!("cannot bind the probe to {}: {e}", target.src),
                ))
            }
        }
    }
    Err(Conclusion::with(
        Observed::Error,
        format!(
            "no free probe source port on {}: {}",
            target.src,
            last.map_or("?".into(), |e| e.to_string())
        ),
    ))
}

async fn probe(target: ProbeTarget, timeout: Duration, evidence: Option<&Evidence>) -> Observation {
    let start = Instant::now();
    let conclusion = match target.proto {
        Proto::Tcp => probe_tcp(&target, timeout, evidence).await,
        Proto::Udp => probe_udp(&target, timeout, evidence).await,
    };
    Observation {
        id: target.id,
        observed: conclusion.observed,
        responder: conclusion.responder,
        detail: conclusion.detail,
        elapsed: start.elapsed(),
    }
}

async fn probe_tcp(
    target: &ProbeTarget,
    timeout: Duration,
    evidence: Option<&Evidence>,
) -> Conclusion {
    let dst = SocketAddrV4::new(target.dst, target.port);
    // The socket is made and connected by hand, not by tokio's `TcpSocket`,
    // whose failing `connect` consumes it: the error queue is read from this
    // very socket, so one descriptor per probe is enough.
    let fd = match probe_socket(Proto::Tcp) {
        Ok(fd) => fd,
        Err(c) => return c,
    };
    let reset_on_close = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    if let Err(e) = sock::setsockopt(&fd, sockopt::Linger, &reset_on_close) {
        return Conclusion::with(Observed::Error, format!("cannot set SO_LINGER: {e}"));
    }
    // Best effort: the ICMP error details.
    let _ = sock::setsockopt(&fd, sockopt::Ipv4RecvErr, &true);
    let mut dropped = match traced(fd.as_fd(), target, evidence) {
        Ok(wait) => wait,
        Err(c) => return c,
    };
    match sock::connect(fd.as_raw_fd(), &SockaddrIn::from(dst)) {
        Ok(()) | Err(Errno::EINPROGRESS) => {}
        Err(e) => return refused(Proto::Tcp, "connect", &e.into(), Some(fd.as_fd())),
    }
    let stream = match TcpStream::from_std(std::net::TcpStream::from(fd)) {
        Ok(s) => s,
        Err(e) => {
            return Conclusion::with(Observed::Error, format!("cannot watch the socket: {e}"))
        }
    };
    // Writable once connected or failed (as tokio's own connect waits);
    // a drop seen in a traced node decides at once.
    let connected = tokio::select! {
        r = tokio::time::timeout(timeout, stream.writable()) => r,
        seen = dropped.dropped() => return Conclusion::dropped(seen),
    };
    match connected {
        Err(_) => return Conclusion::blocked(timeout),
        Ok(Err(e)) => return Conclusion::with(Observed::Error, format!("connect: {e}")),
        Ok(Ok(())) => {}
    }
    match stream.take_error() {
        Ok(None) => {}
        Ok(Some(e)) => return refused(Proto::Tcp, "connect", &e, Some(stream.as_fd())),
        Err(e) => return Conclusion::with(Observed::Error, format!("connect: SO_ERROR: {e}")),
    }
    read_identity(stream, timeout).await
}

/// Reads the first line of what a connected peer says and looks for an identity.
async fn read_identity(mut stream: TcpStream, timeout: Duration) -> Conclusion {
    let mut buf = [0u8; MAX_ANSWER];
    let mut len = 0;
    let read = tokio::time::timeout(timeout, async {
        loop {
            let n = stream.read(&mut buf[len..]).await?;
            if n == 0 {
                return Ok::<_, io::Error>(true); // EOF
            }
            len += n;
            if buf[..len].contains(&b'\n') || len == buf.len() {
                return Ok(false);
            }
        }
    })
    .await;
    // Only complete lines count: a line cut short could carry a cut-off port.
    let eof = matches!(read, Ok(Ok(true)));
    let complete = if eof {
        len
    } else {
        buf[..len]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1)
    };
    if let Some(identity) = Identity::parse(&String::from_utf8_lossy(&buf[..complete])) {
        return Conclusion::open(identity);
    }
    let got = if len == 0 {
        String::new()
    } else {
        format!(" (got {})", snippet(&buf[..len]))
    };
    let detail = match read {
        Err(_) => format!("connected, but no identity within {timeout:?}{got}"),
        Ok(Err(e)) => format!("connected, but no identity: {e}{got}"),
        Ok(Ok(true)) => format!("connected, but the peer closed without an identity{got}"),
        Ok(Ok(false)) => format!("connected, but no identity{got}"),
    };
    Conclusion::with(Observed::Error, detail)
}

async fn probe_udp(
    target: &ProbeTarget,
    timeout: Duration,
    evidence: Option<&Evidence>,
) -> Conclusion {
    let dst = SocketAddrV4::new(target.dst, target.port);
    let fd = match probe_socket(Proto::Udp) {
        Ok(fd) => fd,
        Err(c) => return c,
    };
    let mut dropped = match traced(fd.as_fd(), target, evidence) {
        Ok(wait) => wait,
        Err(c) => return c,
    };
    let socket = match UdpSocket::from_std(std::net::UdpSocket::from(fd)) {
        Ok(s) => s,
        Err(e) => {
            return Conclusion::with(Observed::Error, format!("cannot watch the socket: {e}"))
        }
    };
    // Without it, ICMP net/host-unreachable never reach a UDP socket.
    if let Err(e) =
        nix::sys::socket::setsockopt(&socket, nix::sys::socket::sockopt::Ipv4RecvErr, &true)
    {
        return Conclusion::with(Observed::Error, format!("cannot set IP_RECVERR: {e}"));
    }
    if let Err(e) = socket.connect(SocketAddr::V4(dst)).await {
        return refused(Proto::Udp, "connect", &e, Some(socket.as_fd()));
    }
    let payload = crate::node_contract::probe_payload(dst.port());
    let mut buf = [0u8; MAX_ANSWER];
    // Datagrams get lost (a burst of probes overflows the responder's receive
    // buffer), so the probe is sent again every quarter of the timeout until
    // an answer or an ICMP error comes back.
    let mut resend = tokio::time::interval(udp_resend_interval(timeout));
    resend.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let exchange = tokio::time::timeout(timeout, async {
        loop {
            tokio::select! {
                _ = resend.tick() => {
                    socket.send(payload.as_bytes()).await.map_err(|e| ("send", e))?;
                }
                received = socket.recv(&mut buf) => return received.map_err(|e| ("recv", e)),
            }
        }
    });
    let exchange = tokio::select! {
        r = exchange => r,
        seen = dropped.dropped() => return Conclusion::dropped(seen),
    };
    match exchange {
        Err(_) => Conclusion::blocked(timeout),
        Ok(Err((op, e))) => refused(Proto::Udp, op, &e, Some(socket.as_fd())),
        Ok(Ok(n)) => match Identity::parse(&String::from_utf8_lossy(&buf[..n])) {
            Some(identity) => Conclusion::open(identity),
            None => Conclusion::with(
                Observed::Error,
                format!(
                    "answered, but with no identity (got {})",
                    snippet(&buf[..n])
                ),
            ),
        },
    }
}

/// How often a UDP probe is sent while no answer came.
fn udp_resend_interval(timeout: Duration) -> Duration {
    (timeout / 4).max(Duration::from_millis(10))
}

/// Classifies a failed `op` on a probe socket.
fn refused(proto: Proto, op: &str, e: &io::Error, errqueue: Option<BorrowedFd<'_>>) -> Conclusion {
    let icmp = errqueue.and_then(read_icmp_error);
    let how = |fallback: &str| match &icmp {
        Some(icmp) => format!("{e}: {icmp}"),
        None => format!("{e}: {fallback}"),
    };
    match e.raw_os_error() {
        Some(libc::ECONNREFUSED) => Conclusion::with(
            Observed::Rejected,
            how(match proto {
                Proto::Tcp => "TCP reset",
                Proto::Udp => "ICMP port-unreachable",
            }),
        ),
        Some(libc::EHOSTUNREACH | libc::ENETUNREACH | libc::EACCES | libc::EPERM) => {
            Conclusion::with(Observed::Rejected, how("refused on the source host itself"))
        }
        Some(libc::EHOSTDOWN) => Conclusion::with(Observed::HostDown, how("host down")),
        _ => Conclusion::with(Observed::Error, format!("{op}: {e}")),
    }
}

/// An ICMP error: its type and code, and who sent it (the last one the
/// kernel queued on a probe socket, or one a scan read).
pub(crate) struct IcmpError {
    pub(crate) kind: u8,
    pub(crate) code: u8,
    pub(crate) from: Option<Ipv4Addr>,
}

impl std::fmt::Display for IcmpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The names nft's `reject with icmp type ...` uses.
        let name = match (self.kind, self.code) {
            (3, 0) => "net-unreachable",
            (3, 1) => "host-unreachable",
            (3, 2) => "prot-unreachable",
            (3, 3) => "port-unreachable",
            (3, 4) => "frag-needed",
            (3, 6) => "net-unknown",
            (3, 7) => "host-unknown",
            (3, 9) => "net-prohibited",
            (3, 10) => "host-prohibited",
            (3, 13) => "admin-prohibited",
            (11, _) => "time-exceeded",
            _ => "",
        };
        if name.is_empty() {
            write!(f, "ICMP type {} code {}", self.kind, self.code)?;
        } else {
            write!(f, "ICMP {name}")?;
        }
        if let Some(from) = self.from {
            write!(f, " from {from}")?;
        }
        Ok(())
    }
}

fn read_icmp_error(fd: BorrowedFd<'_>) -> Option<IcmpError> {
    let mut data = [0u8; 64];
    let mut iov = [io::IoSliceMut::new(&mut data)];
    // Room for one `IP_RECVERR` message: the extended error and the offender.
    let mut control = nix::cmsg_space!(libc::sock_extended_err, libc::sockaddr_in);
    let msg = sock::recvmsg::<SockaddrIn>(
        fd.as_raw_fd(),
        &mut iov,
        Some(&mut control),
        MsgFlags::MSG_ERRQUEUE | MsgFlags::MSG_DONTWAIT,
    )
    .ok()?;
    let found = msg.cmsgs().ok()?.find_map(|cmsg| match cmsg {
        ControlMessageOwned::Ipv4RecvErr(ee, offender) => Some((ee, offender)),
        _ => None,
    });
    let (ee, offender) = found?;
    if ee.ee_origin != libc::SO_EE_ORIGIN_ICMP {
        return None;
    }
    let from = offender
        .filter(|o| o.sin_family == libc::AF_INET as libc::sa_family_t)
        .map(|o| Ipv4Addr::from(u32::from_be(o.sin_addr.s_addr)));
    Some(IcmpError {
        kind: ee.ee_type,
        code: ee.ee_code,
        from,
    })
}

/// A short, printable excerpt of what came back.
fn snippet(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out: String = text.chars().take(80).collect::<String>();
    if text.chars().count() > 80 {
        out.push('…');
    }
    format!("{:?}", out)
}

#[cfg(test)]
mod tests;
