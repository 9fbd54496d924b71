//! TCP listeners of the agent: a stub per TCP service, and the catch-all that
//! takes every port no stub serves (the host's nft redirects them) and tells
//! the client which port it originally asked for.

use super::{bind_error, log, AgentError};
use crate::node_contract::{Greeting, Identity, Proto};
use nix::sys::socket::{getsockopt, sockopt::OriginalDst};
use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

/// Accept queue length: a probe run may open hundreds of connections to one
/// host at once, and an overflowing queue turns into 1 s SYN retransmits that
/// look like filtered ports. The kernel caps it at `net.core.somaxconn`.
pub(super) const BACKLOG: u32 = 4096;

/// How long a connection stays open after the greeting, reading what the
/// client sends: long enough for a client that speaks first (and would see a
/// reset if we closed on unread data), short enough to free the socket soon.
const LINGER: Duration = Duration::from_secs(2);

/// Pause after a failed accept, so that running out of descriptors does not
/// turn the accept loop into a busy loop that floods the log.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

pub(super) fn listen(addr: Ipv4Addr, port: u16) -> Result<(TcpListener, SocketAddr), AgentError> {
    let bind = || -> std::io::Result<(TcpListener, SocketAddr)> {
        let socket = TcpSocket::new_v4()?;
        // Lets a restarted agent rebind while old connections sit in TIME_WAIT.
        socket.set_reuseaddr(true)?;
        socket.bind(SocketAddrV4::new(addr, port).into())?;
        let listener = socket.listen(BACKLOG)?;
        let local = listener.local_addr()?;
        Ok((listener, local))
    };
    bind().map_err(bind_error(Proto::Tcp, port, addr))
}

/// A stub service: the same greeting for every connection.
pub(super) struct Stub {
    pub listener: TcpListener,
    pub greeting: String,
}

impl Stub {
    pub async fn run(self) -> Infallible {
        loop {
            if let Some(stream) = accept(&self.listener).await {
                tokio::spawn(answer(stream, self.greeting.clone()));
            }
        }
    }
}

/// The catch-all: `identity` with the port filled in per connection.
pub(super) struct CatchAll {
    pub listener: TcpListener,
    pub identity: Identity,
}

impl CatchAll {
    pub async fn run(self) -> Infallible {
        loop {
            if let Some(stream) = accept(&self.listener).await {
                let identity = Identity {
                    port: original_port(&stream),
                    ..self.identity.clone()
                };
                tokio::spawn(answer(stream, identity.greeting(Greeting::Plain)));
            }
        }
    }
}

async fn accept(listener: &TcpListener) -> Option<TcpStream> {
    match listener.accept().await {
        Ok((stream, _)) => Some(stream),
        Err(e) => {
            let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
            log(format_args!("accept on tcp port {port} failed: {e}"));
            tokio::time::sleep(ACCEPT_BACKOFF).await;
            None
        }
    }
}

/// The port the client connected to before nft redirected it here, from
/// conntrack; the local port when the connection was not redirected (or
/// conntrack has no entry for it).
pub(super) fn original_port(stream: &TcpStream) -> u16 {
    match getsockopt(stream, OriginalDst) {
        Ok(original) => u16::from_be(original.sin_port),
        Err(_) => stream.local_addr().map(|a| a.port()).unwrap_or(0),
    }
}

async fn answer(mut stream: TcpStream, greeting: String) {
    if stream.write_all(greeting.as_bytes()).await.is_err() {
        return;
    }
    let mut sink = [0u8; 4096];
    let drain = async {
        while let Ok(n) = stream.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(LINGER, drain).await;
}
