//! The scenario file as written: parsed strictly (unknown fields are errors),
//! every value that a later check may complain about kept with its location.

// Description and note fields are documentation for people: parsed so that
// they are allowed (unknown fields are errors), never read.
#![allow(dead_code)]

use serde::Deserialize;
use serde_saphyr::Spanned;

pub type S<T> = Spanned<T>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    pub name: S<String>,
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Optional catalog file (relative to the scenario); default: built in.
    #[serde(default)]
    pub catalog: Option<S<String>>,
    #[serde(default)]
    pub params: RawParams,
    /// How blocked flows must be blocked: `drop` or `reject`; default: either.
    #[serde(default)]
    pub block: Option<S<String>>,
    /// Spanned so that an empty list is reported where it is written.
    pub segments: S<Vec<RawSegment>>,
    #[serde(default)]
    pub gateways: Vec<RawGateway>,
    pub hosts: S<Vec<RawHost>>,
    #[serde(default)]
    pub host_firewalls: Vec<RawHostFirewall>,
    #[serde(default)]
    pub policy: Vec<RawFlow>,
    #[serde(default)]
    pub phases: Vec<RawPhase>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawParams {
    #[serde(default)]
    pub console_port: Option<S<u64>>,
    #[serde(default)]
    pub release: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSegment {
    pub name: S<String>,
    pub subnet: S<String>,
    /// A network that only joins gateways (no hosts).
    #[serde(default)]
    pub transit: bool,
    /// The gateway hosts of this segment route through, when several attach.
    #[serde(default)]
    pub router: Option<S<String>>,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGateway {
    pub name: S<String>,
    pub segments: S<Vec<S<RawAttach>>>,
    /// Hand-written nft rule set, relative to the scenario file.
    #[serde(default)]
    pub ruleset: Option<S<String>>,
    #[serde(default)]
    pub description: Option<String>,
}

/// One item of a gateway's `segments`: a segment's name (the interface is
/// named after it), or `{segment: NAME, interface: IFNAME}`.
#[derive(Debug)]
pub enum RawAttach {
    Name(String),
    Map {
        segment: S<String>,
        interface: Option<S<String>>,
    },
}

// By hand, not `#[serde(untagged)]`: an untagged enum is buffered by serde,
// which loses the spans of the map form's values (serde-saphyr's
// `Spanned` documents this limitation).
impl<'de> Deserialize<'de> for RawAttach {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RawAttach;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a segment name or a map `{segment: NAME, interface: IFNAME}`")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawAttach, E> {
                Ok(RawAttach::Name(v.to_string()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<RawAttach, A::Error> {
                use serde::de::Error;
                let (mut segment, mut interface) = (None, None);
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "segment" if segment.is_none() => segment = Some(map.next_value()?),
                        "interface" if interface.is_none() => interface = Some(map.next_value()?),
                        "segment" | "interface" => {
                            return Err(A::Error::custom(format!("duplicate field `{key}`")))
                        }
                        other => {
                            return Err(A::Error::unknown_field(other, &["segment", "interface"]))
                        }
                    }
                }
                Ok(RawAttach::Map {
                    segment: segment.ok_or_else(|| A::Error::missing_field("segment"))?,
                    interface,
                })
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHost {
    pub name: S<String>,
    pub segment: S<String>,
    pub role: S<String>,
    #[serde(default)]
    pub address: Option<S<String>>,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHostFirewall {
    /// Selector of the hosts that carry this firewall.
    pub hosts: S<String>,
    /// Catalog flows whose destination ports the firewall opens.
    #[serde(default)]
    pub allow_flows: Vec<S<u64>>,
    /// Further ports it opens (`PROTO/PORT [NAME]`).
    #[serde(default)]
    pub allow: Vec<S<String>>,
    pub basis: S<String>,
    #[serde(default)]
    pub quote: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFlow {
    /// Appendix A flow number, or a local flow of 9000-9999 (e.g. written
    /// by `seglab observe --write-policy`), which names its own ports.
    pub flow: S<u64>,
    /// Default: the catalog flow's title (`local flow N` for a local one).
    #[serde(default)]
    pub title: Option<String>,
    pub from: S<String>,
    pub to: S<String>,
    /// Default: every port of the catalog flow.
    #[serde(default)]
    pub ports: Option<S<Vec<S<String>>>>,
    /// `stated` (the whitepaper says so) or `modelled` (our assumption).
    pub basis: S<String>,
    #[serde(default)]
    pub quote: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPhase {
    pub name: S<String>,
    /// A temporary phase is verified again after it is closed.
    #[serde(default)]
    pub temporary: bool,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub quote: Option<String>,
    pub flows: Vec<RawFlow>,
    #[serde(default)]
    pub rulesets: Vec<RawPhaseRuleset>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPhaseRuleset {
    pub gateway: S<String>,
    /// nft file loaded on top of the gateway's rule set to open the phase.
    pub open: S<String>,
    /// nft file that closes it; default: reload the gateway's rule set.
    #[serde(default)]
    pub close: Option<S<String>>,
}
