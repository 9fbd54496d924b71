//! The contract between seglab and the node agent that runs as PID 1 in every
//! lab container: the configuration handed to it through the environment, and
//! the identity line its stub services answer with, so that a probe can tell
//! which host and which service answered.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Environment variable that carries the JSON [`NodeConfig`] into a container.
pub const CONFIG_ENV: &str = "SEGLAB_NODE";

/// Path of the agent binary inside the node image.
pub const AGENT_PATH: &str = "/seglab-node";

/// Line the agent prints on stdout once every listener is bound; `up` waits
/// for it before it calls a host ready.
pub const READY_LINE: &str = "seglab-node ready";

/// Ports on which the catch-all listeners (TCP and UDP, one of each per
/// port) take every connection or datagram that no stub service serves; the
/// host's nft rules redirect there. A range, not one port, because a redirect
/// is NAT: two probes from one source address and port to two ports of a
/// host would, redirected to a single port, share the reply's five-tuple
/// (port -> source), and conntrack drops the second as a clash while the
/// first one's entry lives. Redirected to a range, NAT picks for each new
/// connection a port of it that keeps the reply tuple unique. 64 ports leave
/// room: a leak scan's source port meets at most 32 ports of one host, and
/// the kernel's NAT tries at most 128 ports of a range. Chosen above every
/// catalog port; a host service inside it is a scenario error.
pub const CATCHALL_PORTS: std::ops::RangeInclusive<u16> = 65472..=65535;

/// Transport protocol of a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Proto {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "tcp" => Ok(Proto::Tcp),
            "udp" => Ok(Proto::Udp),
            other => Err(format!("unknown protocol `{other}` (expected tcp or udp)")),
        }
    }
}

/// How a stub greets a client that connects, so that real clients see a
/// plausible peer where the real protocol has the server speak first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Greeting {
    /// A bare identity line.
    #[default]
    Plain,
    /// `SSH-2.0-... <identity>` (SSH/SFTP identification string, RFC 4253 4.2).
    Ssh,
    /// `220 <host> ESMTP <identity>` (SMTP greeting, RFC 5321 4.2).
    Smtp,
}

/// One stub service a host runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceSpec {
    pub proto: Proto,
    pub port: u16,
    /// Service name as the catalog calls it (`console`, `zmq`, `smb`, ...).
    pub service: String,
    #[serde(default)]
    pub greeting: Greeting,
}

/// What a node is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeKind {
    /// A lab host: runs stub services and the catch-all.
    Host,
    /// A gateway: routes and filters; the agent only keeps PID 1.
    Gateway,
}

/// Configuration of the node agent, passed as JSON in [`CONFIG_ENV`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeConfig {
    pub lab: String,
    /// Host or gateway name.
    pub name: String,
    pub kind: NodeKind,
    #[serde(default)]
    pub services: Vec<ServiceSpec>,
}

/// First token of the payload seglab's prober sends in a UDP probe; the UDP
/// catch-all reads the original port from it when the packet carries no mark.
pub const PROBE_TAG: &str = "SEGLAB-PROBE";

/// The UDP probe payload for a probe of `port`: `SEGLAB-PROBE port=<N>\n`.
pub fn probe_payload(port: u16) -> String {
    format!("{PROBE_TAG} port={port}\n")
}

/// The port a UDP probe payload names, if it is one ([`probe_payload`]).
pub fn parse_probe_port(payload: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(payload).ok()?;
    let rest = text.trim_start().strip_prefix(PROBE_TAG)?;
    rest.split_whitespace()
        .find_map(|kv| kv.strip_prefix("port="))
        .and_then(|p| p.parse().ok())
}

/// Who answered a probe: parsed from the identity a stub or the catch-all sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub lab: String,
    pub host: String,
    /// Service name; `catch-all` when no stub serves the port.
    pub service: String,
    pub proto: Proto,
    /// The port the client asked for (for the catch-all: the original port
    /// before the redirect).
    pub port: u16,
}

/// Service name the catch-all reports.
pub const CATCHALL_SERVICE: &str = "catch-all";

const MARK: &str = "SEGLAB/1";

impl Identity {
    /// The identity token sequence, embedded in every answer.
    pub fn token(&self) -> String {
        format!(
            "{MARK} lab={} host={} service={} proto={} port={}",
            self.lab, self.host, self.service, self.proto, self.port
        )
    }

    /// The full first message a stub sends (or, for UDP, replies with).
    pub fn greeting(&self, greeting: Greeting) -> String {
        match greeting {
            Greeting::Plain => format!("{}\r\n", self.token()),
            Greeting::Ssh => format!("SSH-2.0-seglab_1.0 {}\r\n", self.token()),
            Greeting::Smtp => format!("220 {} ESMTP {}\r\n", self.host, self.token()),
        }
    }

    /// Finds and parses an identity anywhere in `text` (after a greeting prefix).
    pub fn parse(text: &str) -> Option<Identity> {
        let start = text.find(MARK)?;
        let rest = text[start + MARK.len()..].lines().next()?;
        let (mut lab, mut host, mut service, mut proto, mut port) = (None, None, None, None, None);
        for kv in rest.split_whitespace() {
            let (k, v) = kv.split_once('=')?;
            match k {
                "lab" => lab = Some(v.to_string()),
                "host" => host = Some(v.to_string()),
                "service" => service = Some(v.to_string()),
                "proto" => proto = v.parse().ok(),
                "port" => port = v.parse().ok(),
                _ => {}
            }
        }
        Some(Identity {
            lab: lab?,
            host: host?,
            service: service?,
            proto: proto?,
            port: port?,
        })
    }
}

/// The greeting style a well-known port gets.
pub fn greeting_for(proto: Proto, port: u16) -> Greeting {
    match (proto, port) {
        (Proto::Tcp, 22) => Greeting::Ssh,
        (Proto::Tcp, 25 | 587) => Greeting::Smtp,
        _ => Greeting::Plain,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> Identity {
        Identity {
            lab: "l1".into(),
            host: "ams".into(),
            service: "console".into(),
            proto: Proto::Tcp,
            port: 9877,
        }
    }

    #[test]
    fn identity_round_trips_through_every_greeting() {
        for g in [Greeting::Plain, Greeting::Ssh, Greeting::Smtp] {
            assert_eq!(Identity::parse(&id().greeting(g)), Some(id()), "{g:?}");
        }
    }

    #[test]
    fn ssh_and_smtp_greetings_look_like_the_real_protocols() {
        assert!(id().greeting(Greeting::Ssh).starts_with("SSH-2.0-"));
        assert!(id().greeting(Greeting::Smtp).starts_with("220 ams ESMTP "));
    }

    #[test]
    fn garbage_is_no_identity() {
        assert_eq!(Identity::parse("HTTP/1.1 200 OK\r\n"), None);
        assert_eq!(Identity::parse("SEGLAB/1 lab=x host=y"), None);
    }
}
