//! The node agent: what runs as PID 1 in every lab container. A host binds a
//! stub for each of its services plus a TCP and a UDP catch-all on each port
//! of [`CATCHALL_PORTS`], and answers
//! every connection or datagram with an [`Identity`], so that a probe learns
//! exactly which host and service it reached; a gateway binds nothing and only
//! keeps the container alive. The `seglab-node` binary is a thin shell around
//! [`serve`] and [`Pid1`].

mod pid1;
mod rawcheck;
mod tcp;
mod udp;

#[cfg(test)]
mod tests;

pub use pid1::Pid1;
pub use rawcheck::{try_raw_socket, RawSocketError};

use crate::node_contract::{
    parse_probe_port, Greeting, Identity, NodeConfig, NodeKind, Proto, CATCHALL_PORTS,
    CATCHALL_SERVICE, CONFIG_ENV, READY_LINE,
};
use std::convert::Infallible;
use std::ffi::OsString;
use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::ops::RangeInclusive;
use tokio::task::JoinSet;

/// Why the agent cannot start or stopped serving.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("{CONFIG_ENV} is not set: seglab-node is the seglab lab agent and takes its JSON node configuration from that variable")]
    ConfigMissing,
    #[error("{CONFIG_ENV} is not valid UTF-8")]
    ConfigNotUnicode,
    #[error("{CONFIG_ENV} is not a valid node configuration: {0}")]
    ConfigInvalid(#[source] serde_json::Error),
    #[error("cannot listen on {proto} port {port} ({addr}): {source}")]
    Bind {
        proto: Proto,
        port: u16,
        addr: Ipv4Addr,
        #[source]
        source: io::Error,
    },
    #[error("cannot install signal handlers: {0}")]
    Signals(#[source] io::Error),
    #[error("a listener stopped unexpectedly: {0}")]
    ListenerDied(String),
}

impl AgentError {
    /// Process exit status for this error: 2 for a bad configuration (the
    /// caller's mistake), 1 for everything that went wrong at run time.
    pub fn exit_code(&self) -> u8 {
        match self {
            AgentError::ConfigMissing
            | AgentError::ConfigNotUnicode
            | AgentError::ConfigInvalid(_) => 2,
            _ => 1,
        }
    }
}

/// Reads the node configuration from [`CONFIG_ENV`].
pub fn config_from_env() -> Result<NodeConfig, AgentError> {
    parse_config(std::env::var_os(CONFIG_ENV))
}

/// Parses the value of [`CONFIG_ENV`] (kept apart from the environment so it
/// can be tested without mutating process-global state).
pub fn parse_config(value: Option<OsString>) -> Result<NodeConfig, AgentError> {
    let value = value.ok_or(AgentError::ConfigMissing)?;
    let text = value
        .into_string()
        .map_err(|_| AgentError::ConfigNotUnicode)?;
    serde_json::from_str(&text).map_err(AgentError::ConfigInvalid)
}

/// Where the agent listens. The defaults are what a lab container needs;
/// tests use loopback and ephemeral ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentOptions {
    /// Address every listener binds to.
    pub bind: Ipv4Addr,
    /// Ports of the TCP and UDP catch-alls.
    pub catchall: CatchAllPorts,
}

impl Default for AgentOptions {
    fn default() -> Self {
        AgentOptions {
            bind: Ipv4Addr::UNSPECIFIED,
            catchall: CatchAllPorts::Range(CATCHALL_PORTS),
        }
    }
}

/// The ports the catch-all binds, a TCP listener and a UDP socket on each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatchAllPorts {
    /// These ports: what a lab host binds ([`CATCHALL_PORTS`], where its nft
    /// rules redirect).
    Range(RangeInclusive<u16>),
    /// This many ephemeral ports per protocol, so that tests run on loopback
    /// unprivileged and in parallel.
    Ephemeral(u16),
}

impl CatchAllPorts {
    /// The port to bind for each listener, 0 for an ephemeral one.
    fn ports(&self) -> Vec<u16> {
        match self {
            CatchAllPorts::Range(range) => range.clone().collect(),
            CatchAllPorts::Ephemeral(count) => vec![0; usize::from(*count)],
        }
    }
}

/// One bound listener, as reported by [`Agent::endpoints`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub proto: Proto,
    /// The port actually bound (differs from the configured one only when
    /// that was 0).
    pub addr: SocketAddr,
    /// Service name, [`CATCHALL_SERVICE`] for the catch-alls.
    pub service: String,
}

/// A node with every listener bound, not yet serving.
pub struct Agent {
    endpoints: Vec<Endpoint>,
    listeners: Vec<Listener>,
}

enum Listener {
    TcpStub(tcp::Stub),
    TcpCatchAll(tcp::CatchAll),
    UdpStub(udp::Stub),
    UdpCatchAll(udp::CatchAll),
}

impl Agent {
    /// Binds every listener the node needs: nothing for a gateway; for a host
    /// each service, then the TCP catch-alls, then the UDP ones, each in port
    /// order. Must be called inside a Tokio
    /// runtime. Fails on the first bind that fails, naming proto and port.
    pub fn bind(config: &NodeConfig, options: &AgentOptions) -> Result<Agent, AgentError> {
        let mut agent = Agent {
            endpoints: Vec::new(),
            listeners: Vec::new(),
        };
        if config.kind == NodeKind::Gateway {
            return Ok(agent);
        }
        let identity = |service: &str, proto: Proto, port: u16| Identity {
            lab: config.lab.clone(),
            host: config.name.clone(),
            service: service.to_string(),
            proto,
            port,
        };
        for spec in &config.services {
            let (listener, addr) = match spec.proto {
                Proto::Tcp => {
                    let (listener, addr) = tcp::listen(options.bind, spec.port)?;
                    let greeting =
                        identity(&spec.service, Proto::Tcp, addr.port()).greeting(spec.greeting);
                    (Listener::TcpStub(tcp::Stub { listener, greeting }), addr)
                }
                Proto::Udp => {
                    let (socket, addr) = udp::bind(options.bind, spec.port, false)?;
                    // UDP has no protocol-specific greeting in the catalog: a
                    // datagram answer is always the plain identity line.
                    let reply =
                        identity(&spec.service, Proto::Udp, addr.port()).greeting(Greeting::Plain);
                    (Listener::UdpStub(udp::Stub { socket, reply }), addr)
                }
            };
            agent.push(listener, spec.proto, addr, &spec.service);
        }

        let ports = options.catchall.ports();
        let template = identity(CATCHALL_SERVICE, Proto::Tcp, 0);
        for &port in &ports {
            let (listener, addr) = tcp::listen(options.bind, port)?;
            let catch_all = tcp::CatchAll {
                listener,
                identity: template.clone(),
            };
            agent.push(
                Listener::TcpCatchAll(catch_all),
                Proto::Tcp,
                addr,
                CATCHALL_SERVICE,
            );
        }
        let template = Identity {
            proto: Proto::Udp,
            ..template
        };
        for &port in &ports {
            let (socket, addr) = udp::bind(options.bind, port, true)?;
            let catch_all = udp::CatchAll::new(socket, &template);
            agent.push(
                Listener::UdpCatchAll(catch_all),
                Proto::Udp,
                addr,
                CATCHALL_SERVICE,
            );
        }
        Ok(agent)
    }

    fn push(&mut self, listener: Listener, proto: Proto, addr: SocketAddr, service: &str) {
        self.listeners.push(listener);
        self.endpoints.push(Endpoint {
            proto,
            addr,
            service: service.to_string(),
        });
    }

    /// Every listener bound, in bind order (services, then the catch-alls:
    /// TCP, then UDP).
    pub fn endpoints(&self) -> &[Endpoint] {
        &self.endpoints
    }

    /// Serves until a listener dies (which only a bug can cause); a gateway
    /// serves nothing and never returns.
    pub async fn run(self) -> Result<Infallible, AgentError> {
        let mut tasks = JoinSet::new();
        for listener in self.listeners {
            match listener {
                Listener::TcpStub(stub) => tasks.spawn(stub.run()),
                Listener::TcpCatchAll(catch_all) => tasks.spawn(catch_all.run()),
                Listener::UdpStub(stub) => tasks.spawn(stub.run()),
                Listener::UdpCatchAll(catch_all) => tasks.spawn(catch_all.run()),
            };
        }
        match tasks.join_next().await {
            None => std::future::pending().await,
            Some(Ok(never)) => match never {},
            Some(Err(e)) => Err(AgentError::ListenerDied(e.to_string())),
        }
    }
}

/// The error for a failed bind (or a failed step right after it) of `proto`
/// `port` on `addr`.
fn bind_error(proto: Proto, port: u16, addr: Ipv4Addr) -> impl FnOnce(io::Error) -> AgentError {
    move |source| AgentError::Bind {
        proto,
        port,
        addr,
        source,
    }
}

/// Binds everything, calls `ready` once every bind has succeeded, then
/// serves; returns only on failure. Must run inside a Tokio runtime.
pub async fn serve(
    config: NodeConfig,
    options: AgentOptions,
    ready: impl FnOnce(),
) -> Result<Infallible, AgentError> {
    let agent = Agent::bind(&config, &options)?;
    ready();
    agent.run().await
}

/// Prints [`READY_LINE`] on stdout and flushes it: `seglab up` watches the
/// container's log for it, so it must not sit in a buffer.
pub fn announce_ready() {
    let mut out = io::stdout().lock();
    // If stdout is gone nobody is waiting for the line; serving still matters.
    let _ = writeln!(out, "{READY_LINE}");
    let _ = out.flush();
}

/// Raises the soft open-files limit to the hard one. Container runtimes often
/// start processes with a soft limit of 1024, which a burst of concurrent
/// probes (each one socket, plus the listeners) can exhaust.
pub fn raise_nofile_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        if soft < hard {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
        }
    }
}

/// Logs to stderr (the container's log) with the agent's prefix.
fn log(message: std::fmt::Arguments<'_>) {
    eprintln!("seglab-node: {message}");
}
