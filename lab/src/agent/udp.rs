//! UDP listeners of the agent: a stub per UDP service, and the catch-all (one
//! socket per port of its range) that takes every datagram no stub serves and
//! recovers its original port from the packet mark nft sets (or, failing
//! that, from the probe payload).

use super::{bind_error, log, parse_probe_port, AgentError};
use crate::node_contract::{Greeting, Identity, Proto};
use nix::sys::socket::{
    recvmsg, setsockopt, sockopt::RcvMark, ControlMessageOwned, MsgFlags, SockaddrIn,
};
use std::convert::Infallible;
use std::io::{self, IoSliceMut};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::AsRawFd;
use std::time::Duration;
use tokio::io::Interest;
use tokio::net::UdpSocket;

/// Large enough for any probe; longer datagrams are truncated, which is fine
/// because only their first line can matter.
const DATAGRAM: usize = 2048;

/// Pause after a failed receive so a persistent error cannot spin the loop.
const RECV_BACKOFF: Duration = Duration::from_millis(50);

/// Binds a UDP socket; `mark` asks the kernel to hand over each packet's
/// mark (SO_RCVMARK). Without kernel support for that the catch-all still
/// works from the probe payload, so that failure is only logged.
pub(super) fn bind(
    addr: Ipv4Addr,
    port: u16,
    mark: bool,
) -> Result<(UdpSocket, SocketAddr), AgentError> {
    let bind = || -> io::Result<(UdpSocket, SocketAddr)> {
        let socket = std::net::UdpSocket::bind(SocketAddrV4::new(addr, port))?;
        socket.set_nonblocking(true)?;
        let local = socket.local_addr()?;
        Ok((UdpSocket::from_std(socket)?, local))
    };
    let (socket, local) = bind().map_err(bind_error(Proto::Udp, port, addr))?;
    // A burst of probes to one port arrives faster than one task answers;
    // the default buffer drops a good part of it (the prober resends, but
    // every resend costs a quarter of the timeout). The kernel caps the
    // request at net.core.rmem_max.
    if let Err(e) = setsockopt(&socket, nix::sys::socket::sockopt::RcvBuf, &(4 << 20)) {
        log(format_args!("SO_RCVBUF on udp port {}: {e}", local.port()));
    }
    if mark {
        if let Err(e) = setsockopt(&socket, RcvMark, &true) {
            log(format_args!(
                "SO_RCVMARK unavailable on udp port {} ({e}): the catch-all falls back to probe payloads",
                local.port()
            ));
        }
    }
    Ok((socket, local))
}

/// A stub service: every datagram gets the same reply.
pub(super) struct Stub {
    pub socket: UdpSocket,
    pub reply: String,
}

impl Stub {
    pub async fn run(self) -> Infallible {
        let mut buf = [0u8; DATAGRAM];
        loop {
            match self.socket.recv_from(&mut buf).await {
                Ok((_, peer)) => reply(&self.socket, self.reply.as_bytes(), peer).await,
                Err(e) => receive_failed(&self.socket, e).await,
            }
        }
    }
}

/// One socket of the catch-all: an identity whose port is filled in per
/// datagram.
pub(super) struct CatchAll {
    socket: UdpSocket,
    /// The identity line up to its port number (`... port=`).
    prefix: Vec<u8>,
}

impl CatchAll {
    /// The catch-all on `socket` answering as `identity` (whose port is
    /// replaced per datagram).
    pub fn new(socket: UdpSocket, identity: &Identity) -> CatchAll {
        CatchAll {
            socket,
            prefix: reply_prefix(identity),
        }
    }

    /// Serves the socket. A scan sends a burst of datagrams spread over the
    /// range's sockets, so on readiness the socket is drained until the
    /// kernel has nothing more, each datagram answered at once; the receive
    /// buffer and the reply are reused, so a datagram costs no allocation.
    pub async fn run(self) -> Infallible {
        let mut buf = [0u8; DATAGRAM];
        let mut answer = Vec::with_capacity(self.prefix.len() + "65535\r\n".len());
        let local_port = self.socket.local_addr().map(|a| a.port()).unwrap_or(0);
        loop {
            if let Err(e) = self.socket.readable().await {
                receive_failed(&self.socket, e).await;
                continue;
            }
            loop {
                let received = self.socket.try_io(Interest::READABLE, || {
                    receive_marked(&self.socket, &mut buf)
                });
                match received {
                    Ok((len, peer, mark)) => {
                        let port = original_port(mark, &buf[..len]).unwrap_or(local_port);
                        write_reply(&mut answer, &self.prefix, port);
                        // Sent from this very socket: conntrack then rewrites
                        // the source back to the port the client sent to.
                        // (The send also counts against the task's budget,
                        // so a long burst still lets the other tasks run.)
                        reply(&self.socket, &answer, peer).await;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => {
                        receive_failed(&self.socket, e).await;
                        break;
                    }
                }
            }
        }
    }
}

/// `identity`'s plain greeting up to the port number, which ends it.
pub(super) fn reply_prefix(identity: &Identity) -> Vec<u8> {
    let zero = Identity {
        port: 0,
        ..identity.clone()
    };
    let line = zero.greeting(Greeting::Plain);
    let prefix = line
        .strip_suffix("0\r\n")
        .expect("an identity line ends with its port");
    prefix.as_bytes().to_vec()
}

/// Fills `out` with the identity line of `prefix` for `port`, reusing its
/// allocation.
pub(super) fn write_reply(out: &mut Vec<u8>, prefix: &[u8], port: u16) {
    use std::io::Write;
    out.clear();
    out.extend_from_slice(prefix);
    // Writing into a Vec cannot fail.
    let _ = write!(out, "{port}\r\n");
}

/// The original destination port of a redirected datagram: nft's mark if it
/// set one that is a port, else the port the probe payload names.
pub(super) fn original_port(mark: Option<u32>, payload: &[u8]) -> Option<u16> {
    mark.and_then(port_from_mark)
        .or_else(|| parse_probe_port(payload))
}

/// Decodes the port nft put into the mark, in either of the two forms rules
/// produce: host byte order (a converting `meta mark set udp dport`, which
/// nft 1.0.6 rejects as a datatype mismatch), or the raw network-order bytes
/// in the upper half of the register (`meta mark set @th,0,32 & 0xffff`,
/// which that nft accepts but does not convert). 0 is no mark.
pub(super) fn port_from_mark(mark: u32) -> Option<u16> {
    let port = match u16::try_from(mark) {
        Ok(port) => port,
        Err(_) => match mark.to_ne_bytes() {
            [0, 0, hi, lo] => u16::from_be_bytes([hi, lo]),
            _ => return None,
        },
    };
    (port != 0).then_some(port)
}

/// One non-blocking recvmsg: payload length, sender, and the packet mark if
/// the kernel delivered one.
fn receive_marked(
    socket: &UdpSocket,
    buf: &mut [u8],
) -> io::Result<(usize, SocketAddr, Option<u32>)> {
    let mut iov = [IoSliceMut::new(buf)];
    let mut control = nix::cmsg_space!(u32);
    let msg = recvmsg::<SockaddrIn>(
        socket.as_raw_fd(),
        &mut iov,
        Some(&mut control),
        MsgFlags::MSG_DONTWAIT,
    )?;
    let mark = msg.cmsgs().ok().and_then(|mut cmsgs| {
        cmsgs.find_map(|cmsg| match cmsg {
            ControlMessageOwned::SoMark(mark) => Some(mark),
            _ => None,
        })
    });
    let peer = msg
        .address
        .map(|a| SocketAddr::V4(a.into()))
        .ok_or_else(|| io::Error::other("datagram without a sender address"))?;
    Ok((msg.bytes, peer, mark))
}

async fn reply(socket: &UdpSocket, payload: &[u8], peer: SocketAddr) {
    if let Err(e) = socket.send_to(payload, peer).await {
        log(format_args!("udp reply to {peer} failed: {e}"));
    }
}

async fn receive_failed(socket: &UdpSocket, e: io::Error) {
    let port = socket.local_addr().map(|a| a.port()).unwrap_or(0);
    log(format_args!("receive on udp port {port} failed: {e}"));
    tokio::time::sleep(RECV_BACKOFF).await;
}
