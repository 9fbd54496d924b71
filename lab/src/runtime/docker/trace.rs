//! The trace listener of a node on this machine: a netlink socket of the
//! `NFNLGRP_NFTRACE` group, opened inside the node's namespace (on a
//! namespace thread, [`netns::run_in`]) and read on seglab's runtime.
//! The kernel only emits trace events while someone listens, so a node
//! costs nothing when no round is traced.

use crate::netns::{self, NetnsError};
use crate::runtime::TraceHandle;
use crate::trace::evidence::TraceSink;
use crate::trace::netlink;
use nix::sys::socket::{self as sock, NetlinkAddr};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;
use tokio::io::unix::AsyncFd;
use tokio::sync::{mpsc, oneshot};

/// Receive buffer of a listener: a full matrix traces tens of thousands of
/// events in a burst, and an overrun loses events (the probes concerned
/// then wait for their timeout).
const RCVBUF: usize = 32 << 20;

/// Set `SEGLAB_TRACE_DUMP=DIR` to write every datagram a listener reads, in
/// hex, to `DIR/NODE.hex` (how the test fixtures were captured).
const DUMP_ENV: &str = "SEGLAB_TRACE_DUMP";

fn open_socket() -> io::Result<OwnedFd> {
    let fd = sock::socket(
        sock::AddressFamily::Netlink,
        sock::SockType::Raw,
        sock::SockFlag::SOCK_NONBLOCK | sock::SockFlag::SOCK_CLOEXEC,
        sock::SockProtocol::NetlinkNetFilter,
    )?;
    sock::bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 0))?;
    let group = netlink::NFTRACE_GROUP as libc::c_int;
    // SAFETY: a valid socket, and an option value of the size given.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_NETLINK,
            libc::NETLINK_ADD_MEMBERSHIP,
            (&group as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    // Beyond the system's maximum needs CAP_NET_ADMIN, which seglab has as
    // root; the plain option is the fallback.
    if sock::setsockopt(&fd, sock::sockopt::RcvBufForce, &RCVBUF).is_err() {
        sock::setsockopt(&fd, sock::sockopt::RcvBuf, &RCVBUF)?;
    }
    Ok(fd)
}

/// Reads every datagram queued now; `false` once the socket failed.
fn drain(
    fd: &AsyncFd<OwnedFd>,
    node: &str,
    sink: &dyn TraceSink,
    dump: &mut Option<std::fs::File>,
) -> io::Result<()> {
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match sock::recv(
            fd.get_ref().as_raw_fd(),
            &mut buf,
            sock::MsgFlags::MSG_DONTWAIT,
        ) {
            Ok(0) => return Ok(()),
            Ok(n) => {
                if let Some(f) = dump {
                    use std::io::Write;
                    let _ = writeln!(f, "{}", hex::encode(&buf[..n]));
                }
                match netlink::decode(&buf[..n]) {
                    Ok(events) if !events.is_empty() => sink.events(node, events),
                    Ok(_) => {}
                    Err(e) => tracing::warn!("{node}: unreadable trace event: {e}"),
                }
            }
            Err(nix::errno::Errno::EAGAIN) => return Ok(()),
            Err(nix::errno::Errno::EINTR) => {}
            Err(nix::errno::Errno::ENOBUFS) => sink.lost(node),
            Err(e) => return Err(e.into()),
        }
    }
}

/// Starts listening to node `node` (PID `pid`) for the sink.
pub(super) async fn listen(
    pid: u32,
    node: &str,
    sink: Arc<dyn TraceSink>,
) -> Result<TraceHandle, NetnsError> {
    let fd = netns::run_in(pid, open_socket)
        .await?
        .map_err(|source| NetnsError::Io {
            pid,
            context: "cannot listen to the node's trace events".into(),
            source,
        })?;
    // SAFETY: an OwnedFd stays open and is the same descriptor for as long
    // as the AsyncFd that owns it.
    let fd = unsafe { AsyncFd::register(fd) }.map_err(|e| NetnsError::Io {
        pid,
        context: "cannot watch the trace socket".into(),
        source: e.into(),
    })?;
    let mut dump = std::env::var_os(DUMP_ENV).and_then(|dir| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(std::path::Path::new(&dir).join(format!("{node}.hex")))
            .ok()
    });
    let (sync_tx, mut sync_rx) = mpsc::channel::<oneshot::Sender<()>>(8);
    let node = node.to_string();
    let task = tokio::spawn(async move {
        loop {
            tokio::select! {
                ready = fd.readable() => {
                    let Ok(mut guard) = ready else { return };
                    guard.clear_ready();
                    if let Err(e) = drain(&fd, &node, sink.as_ref(), &mut dump) {
                        tracing::warn!("{node}: trace listener stopped: {e}");
                        return;
                    }
                }
                asked = sync_rx.recv() => {
                    let Some(ack) = asked else { return };
                    // Everything the kernel queued before the question is
                    // in the socket now: read it all, then answer.
                    let _ = drain(&fd, &node, sink.as_ref(), &mut dump);
                    let _ = ack.send(());
                }
            }
        }
    });
    Ok(TraceHandle::new(sync_tx, task))
}
