//! The resolved scenario: typed, validated, every name checked and every
//! address assigned. Everything downstream (plan, render, lab) reads this.

use crate::catalog::{Catalog, Params};
use crate::ports::PortSpec;
use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::Ipv4Addr;

/// Which hosts a flow or firewall entry applies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Selector {
    Any,
    Host(String),
    Role(String),
    Segment(String),
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Selector::Any => f.write_str("any"),
            Selector::Host(h) => write!(f, "host:{h}"),
            Selector::Role(r) => write!(f, "role:{r}"),
            Selector::Segment(s) => write!(f, "segment:{s}"),
        }
    }
}

impl TryFrom<String> for Selector {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Selector::parse(&s)
    }
}

impl std::str::FromStr for Selector {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Selector::parse(s)
    }
}

impl From<Selector> for String {
    fn from(s: Selector) -> String {
        s.to_string()
    }
}

impl Selector {
    /// `any`, `host:NAME`, `role:NAME`, `segment:NAME`, or a bare host name.
    pub fn parse(text: &str) -> Result<Selector, String> {
        let text = text.trim();
        if text == "any" {
            return Ok(Selector::Any);
        }
        let (kind, name) = text.split_once(':').unwrap_or(("host", text));
        if name.is_empty() {
            return Err(format!("selector `{text}` names nothing"));
        }
        match kind {
            "host" => Ok(Selector::Host(name.to_string())),
            "role" => Ok(Selector::Role(name.to_string())),
            "segment" => Ok(Selector::Segment(name.to_string())),
            other => Err(format!(
                "unknown selector kind `{other}` (expected host:, role:, segment: or any)"
            )),
        }
    }

    pub fn matches(&self, host: &Host) -> bool {
        match self {
            Selector::Any => true,
            Selector::Host(h) => &host.name == h,
            Selector::Role(r) => &host.role == r,
            Selector::Segment(s) => &host.segment == s,
        }
    }
}

/// Whether a fact comes from the whitepaper or is our modelling choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Basis {
    Stated,
    Modelled,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    pub name: String,
    pub subnet: Ipv4Net,
    pub transit: bool,
    /// The gateway that hosts of this segment use as their default route.
    pub router: Option<String>,
    /// The address the platform keeps for itself on this segment, which no
    /// node takes: a container network reserves one as "its" gateway (with
    /// Docker's `inhibit_ipv4` nobody holds it). Parked at the end of the
    /// range, away from the addresses nodes get.
    pub reserved: Ipv4Addr,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub segment: String,
    pub address: Ipv4Addr,
    /// The name of the gateway's interface on the segment (`interface:` in
    /// the scenario, else the segment's name): seglab renames the platform's
    /// interface to it before any rule set is loaded. Empty in a lab made
    /// by a seglab that did not rename (its interfaces keep the platform's
    /// names).
    #[serde(default)]
    pub interface: String,
}

/// An nft file as loaded (display name for messages, and its text).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleFile {
    pub file: String,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gateway {
    pub name: String,
    pub attachments: Vec<Attachment>,
    pub ruleset: Option<RuleFile>,
}

impl Gateway {
    pub fn address_on(&self, segment: &str) -> Option<Ipv4Addr> {
        self.attachments
            .iter()
            .find(|a| a.segment == segment)
            .map(|a| a.address)
    }

    /// The name of the gateway's interface on `segment`.
    pub fn interface_on(&self, segment: &str) -> Option<&str> {
        self.attachments
            .iter()
            .find(|a| a.segment == segment)
            .map(|a| a.interface.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Host {
    pub name: String,
    pub segment: String,
    pub role: String,
    pub address: Ipv4Addr,
    /// Stub services (from the role in the catalog).
    pub services: Vec<PortSpec>,
    /// Host-based firewall: when present, only these ports are open inbound.
    pub firewall: Option<Vec<PortSpec>>,
}

/// A permitted flow of the policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flow {
    /// Appendix A flow number.
    pub flow: u32,
    pub title: String,
    pub from: Selector,
    pub to: Selector,
    pub ports: Vec<PortSpec>,
    pub basis: Basis,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quote: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhaseRuleset {
    pub gateway: String,
    pub open: RuleFile,
    pub close: Option<RuleFile>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Phase {
    pub name: String,
    pub temporary: bool,
    pub flows: Vec<Flow>,
    pub rulesets: Vec<PhaseRuleset>,
}

/// How a blocked flow must look when the scenario insists on a style.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlockStyle {
    /// Silently dropped: the probe times out.
    Drop,
    /// Actively refused: TCP reset or ICMP unreachable.
    Reject,
}

/// A validated scenario.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scenario {
    pub name: String,
    pub title: String,
    /// Where it was read from: a path, or `scenarios/NAME/scenario.yaml` for a
    /// built-in scenario.
    pub file: String,
    pub params: Params,
    /// Required block style, if the scenario names one.
    pub block: Option<BlockStyle>,
    pub catalog: Catalog,
    pub segments: Vec<Segment>,
    pub gateways: Vec<Gateway>,
    pub hosts: Vec<Host>,
    pub policy: Vec<Flow>,
    pub phases: Vec<Phase>,
}

impl Scenario {
    pub fn host(&self, name: &str) -> Option<&Host> {
        self.hosts.iter().find(|h| h.name == name)
    }
    pub fn gateway(&self, name: &str) -> Option<&Gateway> {
        self.gateways.iter().find(|g| g.name == name)
    }
    pub fn segment(&self, name: &str) -> Option<&Segment> {
        self.segments.iter().find(|s| s.name == name)
    }
    pub fn phase(&self, name: &str) -> Option<&Phase> {
        self.phases.iter().find(|p| p.name == name)
    }
    /// The gateways' names, for messages.
    pub fn gateway_names(&self) -> String {
        let names: Vec<&str> = self.gateways.iter().map(|g| g.name.as_str()).collect();
        names.join(", ")
    }

    pub fn select<'a>(&'a self, sel: &'a Selector) -> impl Iterator<Item = &'a Host> + 'a {
        self.hosts.iter().filter(move |h| sel.matches(h))
    }
}
