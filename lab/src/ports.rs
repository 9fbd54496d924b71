//! Port specifications as written in catalog and scenario files:
//! `PROTO/PORT [NAME]`, where PORT may be a parameter such as
//! `{console_port}` (the whitepaper notes the console port can be changed).

use crate::node_contract::Proto;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A protocol and port, the unit the probe matrix runs over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PortKey {
    pub proto: Proto,
    pub port: u16,
}

impl fmt::Display for PortKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.proto, self.port)
    }
}

impl std::str::FromStr for PortKey {
    type Err = String;

    /// `tcp/445`, `udp/161`.
    fn from_str(s: &str) -> Result<PortKey, String> {
        let bad = || format!("`{s}`: expected PROTO/PORT, e.g. tcp/445 or udp/161");
        let (proto, port) = s.split_once('/').ok_or_else(bad)?;
        Ok(PortKey {
            proto: proto.parse().map_err(|_| bad())?,
            port: decimal(port)
                .then(|| port.parse().ok())
                .flatten()
                .filter(|p| *p > 0)
                .ok_or_else(bad)?,
        })
    }
}

/// A port with the service name that listens on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortSpec {
    pub key: PortKey,
    pub service: String,
}

/// Values a port spec may refer to by `{name}`.
pub trait ParamLookup {
    fn port_param(&self, name: &str) -> Option<u16>;
}

/// Parses `tcp/445 smb`, `udp/137`, `tcp/{console_port} console`.
/// Unnamed ports get a service name from the well-known table, else `PROTO-PORT`.
pub fn parse_port_spec(text: &str, params: &dyn ParamLookup) -> Result<PortSpec, String> {
    let mut words = text.split_whitespace();
    let head = words
        .next()
        .ok_or_else(|| "empty port spec (expected e.g. `tcp/445 smb`)".to_string())?;
    let name = words.next();
    if words.next().is_some() {
        return Err(format!(
            "`{text}` has more than two words (expected `PROTO/PORT [NAME]`)"
        ));
    }
    let (proto, port) = head
        .split_once('/')
        .ok_or_else(|| format!("`{head}` is not PROTO/PORT (expected e.g. `tcp/445`)"))?;
    let proto: Proto = proto.parse()?;
    let port: u16 = if let Some(param) = port.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
        params
            .port_param(param)
            .ok_or_else(|| format!("unknown parameter `{{{param}}}` in port `{head}`"))?
    } else {
        let n: u64 = decimal(port)
            .then(|| port.parse().ok())
            .flatten()
            .ok_or_else(|| format!("port `{port}` is not a number"))?;
        if !(1..=65535).contains(&n) {
            return Err(format!("port {n} is out of range 1-65535"));
        }
        n as u16
    };
    let key = PortKey { proto, port };
    let service = match name {
        Some(n) => n.to_string(),
        None => well_known_service(key)
            .map(str::to_string)
            .unwrap_or_else(|| format!("{proto}-{port}")),
    };
    Ok(PortSpec { key, service })
}

/// Only decimal digits: `str::parse` alone also takes a leading `+`.
fn decimal(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn well_known_service(key: PortKey) -> Option<&'static str> {
    Some(match (key.proto, key.port) {
        (Proto::Tcp, 22) => "ssh",
        (Proto::Tcp, 25) => "smtp",
        (Proto::Tcp, 80) => "http",
        (_, 111) => "rpcbind",
        (Proto::Udp, 137) => "netbios-ns",
        (Proto::Udp, 138) => "netbios-dgm",
        (Proto::Tcp, 139) => "netbios-ssn",
        (Proto::Tcp, 443) => "https",
        (Proto::Tcp, 445) => "smb",
        (Proto::Tcp, 465) => "smtps",
        (Proto::Tcp, 587) => "submission",
        (_, 2049) => "nfs",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct P;
    impl ParamLookup for P {
        fn port_param(&self, name: &str) -> Option<u16> {
            (name == "console_port").then_some(9877)
        }
    }

    #[test]
    fn parses_names_params_and_defaults() {
        let s = parse_port_spec("tcp/{console_port} console", &P).unwrap();
        assert_eq!((s.key.port, s.service.as_str()), (9877, "console"));
        assert_eq!(
            parse_port_spec("udp/137", &P).unwrap().service,
            "netbios-ns"
        );
        assert_eq!(parse_port_spec("tcp/7780", &P).unwrap().service, "tcp-7780");
    }

    #[test]
    fn rejects_bad_specs() {
        for bad in [
            "",
            "tcp",
            "sctp/1",
            "tcp/0",
            "tcp/70000",
            "tcp/x",
            "tcp/{nope}",
            "tcp/1 a b",
            "tcp/+445",
            "tcp/ 445",
        ] {
            assert!(parse_port_spec(bad, &P).is_err(), "{bad}");
        }
        for bad in [
            "tcp/+445",
            "tcp/-1",
            "tcp/",
            "tcp/0",
            "tcp/65536",
            "tcp/4 45",
        ] {
            assert!(bad.parse::<PortKey>().is_err(), "{bad}");
        }
        assert_eq!(
            "udp/161".parse::<PortKey>(),
            Ok(PortKey {
                proto: Proto::Udp,
                port: 161
            })
        );
    }
}
