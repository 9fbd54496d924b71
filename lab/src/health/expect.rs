//! What a sound node looks like, derived from the scenario, and the
//! comparison with what was found inside it (pure: no side effects).

use super::seal::{self, Seal};
use crate::runtime::{NetInterface, NodeNet};
use crate::scenario::{topology, Scenario};
use ipnet::Ipv4Net;
use serde::Deserialize;
use std::fmt;
use std::net::Ipv4Addr;

/// The state a node must be in for probes through it to mean anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expectation {
    /// (segment, address) of every attachment.
    pub addresses: Vec<(String, Ipv4Addr)>,
    /// The name of the interface that must hold each address, where seglab
    /// named it (a gateway's attachments); hosts keep the platform's names.
    pub interfaces: Vec<(Ipv4Addr, String)>,
    /// Static routes seglab set: (destination, next hop); a host's default
    /// route is `0.0.0.0/0`.
    pub routes: Vec<(Ipv4Net, Ipv4Addr)>,
}

impl Expectation {
    /// The expectation of node `name` (a gateway or a host of `sc`).
    pub fn of(sc: &Scenario, name: &str) -> Option<Expectation> {
        if let Some(g) = sc.gateway(name) {
            return Some(Expectation {
                addresses: g
                    .attachments
                    .iter()
                    .map(|a| (a.segment.clone(), a.address))
                    .collect(),
                interfaces: g
                    .attachments
                    .iter()
                    .filter(|a| !a.interface.is_empty())
                    .map(|a| (a.address, a.interface.clone()))
                    .collect(),
                routes: topology::gateway_routes(sc, name)
                    .into_iter()
                    .map(|r| (r.dest, r.via))
                    .collect(),
            });
        }
        let h = sc.host(name)?;
        Some(Expectation {
            addresses: vec![(h.segment.clone(), h.address)],
            interfaces: Vec::new(),
            routes: topology::host_gateway(sc, name)
                .map(|gw| (Ipv4Net::default(), gw))
                .into_iter()
                .collect(),
        })
    }
}

/// What was found inside a running node: its network state and its rule
/// set, each said once (what the trace evidence needs is derived, see
/// [`Found::trace_facts`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Found {
    /// Interfaces, routes, and the rule set's generation when it was looked
    /// at (before the listing).
    pub net: NodeNet,
    /// The rule set as listed.
    pub ruleset: RulesetFound,
}

/// One thing wrong with a node.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "problem", rename_all = "kebab-case")]
pub enum Problem {
    /// The container is not running (Docker's state word).
    NotRunning {
        state: String,
    },
    /// Nothing seglab loaded is there: the container was restarted (or
    /// someone flushed its rule set).
    LostRuleset,
    /// The rule set differs from the one seglab loaded.
    RulesetChanged,
    /// An attachment's address is gone: disconnected from the segment.
    Detached {
        segment: String,
        address: Ipv4Addr,
    },
    /// The interface that holds an attachment is down.
    InterfaceDown {
        segment: String,
        interface: String,
    },
    /// The attachment's address is on a down interface that lost the
    /// scenario's name: the platform disconnected the node.
    Released {
        segment: String,
        address: Ipv4Addr,
        interface: String,
    },
    /// The attachment's address is on an interface that does not have the
    /// scenario's name: renamed away (or never renamed), so rule sets that
    /// match on interface names no longer see it.
    WrongInterface {
        segment: String,
        expected: String,
        found: String,
    },
    LostRoute {
        dest: Ipv4Net,
        via: Ipv4Addr,
    },
    /// The node's process changed between two checks.
    Restarted,
    /// The node could not be looked into.
    Unreadable {
        reason: String,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::NotRunning { state } => write!(f, "is not running ({state})"),
            Problem::LostRuleset => f.write_str("lost its rule set (restarted?)"),
            Problem::RulesetChanged => {
                f.write_str("runs a rule set that changed since seglab loaded it")
            }
            Problem::Detached { segment, address } => {
                write!(
                    f,
                    "is not attached to segment {segment} ({address} is gone)"
                )
            }
            Problem::InterfaceDown { segment, interface } => {
                write!(f, "has its interface {interface} on segment {segment} down")
            }
            Problem::Released {
                segment,
                address,
                interface,
            } => write!(
                f,
                "is not attached to segment {segment} ({address} is left on {interface}, down)"
            ),
            Problem::WrongInterface {
                segment,
                expected,
                found,
            } => write!(
                f,
                "has its interface on segment {segment} named {found}, not {expected} (renamed?)"
            ),
            Problem::LostRoute { dest, via } if dest.prefix_len() == 0 => {
                write!(f, "lost its default route via {via} (restarted?)")
            }
            Problem::LostRoute { dest, via } => {
                write!(f, "lost its route to {dest} via {via} (restarted?)")
            }
            Problem::Restarted => f.write_str("was restarted"),
            Problem::Unreadable { reason } => write!(f, "cannot be checked: {reason}"),
        }
    }
}

/// Everything wrong with a running node: its attachments, its routes and
/// its rule set against what seglab set up.
pub fn compare(expect: &Expectation, found: &Found) -> Vec<Problem> {
    let mut problems = Vec::new();
    match &found.ruleset.seal {
        None => problems.push(Problem::LostRuleset),
        Some(s) if s.digest != found.ruleset.digest => problems.push(Problem::RulesetChanged),
        Some(_) => {}
    }
    for (segment, address) in &expect.addresses {
        match found.addresses().find(|(_, a, _)| a == address) {
            None => problems.push(Problem::Detached {
                segment: segment.clone(),
                address: *address,
            }),
            // Docker disconnects a container from a network by renaming its
            // interface back to the veth's name and taking it down; where it
            // cannot move it out (a host interface holds the name seglab
            // kept as an alternative), the address stays on a down link.
            Some((interface, _, false)) if renamed_away(expect, *address, interface) => problems
                .push(Problem::Released {
                    segment: segment.clone(),
                    address: *address,
                    interface: interface.to_string(),
                }),
            Some((interface, _, false)) => problems.push(Problem::InterfaceDown {
                segment: segment.clone(),
                interface: interface.to_string(),
            }),
            Some(_) => {}
        }
    }
    for (dest, via) in &expect.routes {
        if !found.net.routes.contains(&(*dest, Some(*via))) {
            problems.push(Problem::LostRoute {
                dest: *dest,
                via: *via,
            });
        }
    }
    // Last: a restarted gateway gets the platform's names back, and its
    // lost rule set and routes say more than that.
    for (segment, address) in &expect.addresses {
        let named = expect.interfaces.iter().find(|(a, _)| a == address);
        let holder = found.addresses().find(|(_, a, _)| a == address);
        if let (Some((_, expected)), Some((interface, _, true))) = (named, holder) {
            if expected != interface {
                problems.push(Problem::WrongInterface {
                    segment: segment.clone(),
                    expected: expected.clone(),
                    found: interface.to_string(),
                });
            }
        }
    }
    problems
}

/// Whether `address` is on an interface that does not have the name seglab
/// gave it.
fn renamed_away(expect: &Expectation, address: Ipv4Addr, interface: &str) -> bool {
    expect
        .interfaces
        .iter()
        .any(|(a, n)| *a == address && n != interface)
}

#[derive(Deserialize)]
struct IpLink {
    #[serde(default)]
    ifindex: u32,
    ifname: String,
    #[serde(default)]
    flags: Vec<String>,
    #[serde(default)]
    addr_info: Vec<IpAddr>,
}

#[derive(Deserialize)]
struct IpAddr {
    family: String,
    local: String,
}

#[derive(Deserialize)]
struct IpRoute {
    dst: String,
    gateway: Option<Ipv4Addr>,
}

/// Why `ip` or `nft` output could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(String);

/// Reads the output of `ip -j -4 -batch -` with `addr show` and `route
/// show` (two JSON arrays, one after the other) and of
/// `nft -j -s list ruleset`.
/// `ip -j -4 -batch` of `addr show` and `route show` into a node's state
/// (no rule set generation: `ip` does not tell it).
pub fn net_from_ip_json(ip_batch: &str) -> Result<NodeNet, ParseError> {
    let mut docs = serde_json::Deserializer::from_str(ip_batch).into_iter::<serde_json::Value>();
    let mut next = |what: &str| {
        docs.next()
            .ok_or_else(|| ParseError(format!("`ip` printed no {what}")))?
            .map_err(|e| ParseError(format!("`ip` {what}: {e}")))
    };
    let links: Vec<IpLink> = serde_json::from_value(next("addresses")?)
        .map_err(|e| ParseError(format!("`ip addr`: {e}")))?;
    let routes: Vec<IpRoute> = serde_json::from_value(next("routes")?)
        .map_err(|e| ParseError(format!("`ip route`: {e}")))?;
    let interfaces = links
        .iter()
        .map(|l| NetInterface {
            index: l.ifindex,
            name: l.ifname.clone(),
            up: l.flags.iter().any(|f| f == "UP"),
            ipv4: l
                .addr_info
                .iter()
                .filter(|a| a.family == "inet")
                .filter_map(|a| a.local.parse().ok())
                .collect(),
        })
        .collect();
    let routes = routes
        .iter()
        .filter_map(|r| {
            let dest = if r.dst == "default" {
                Ipv4Net::default()
            } else if r.dst.contains('/') {
                r.dst.parse().ok()?
            } else {
                Ipv4Net::new(r.dst.parse().ok()?, 32).ok()?
            };
            Some((dest, r.gateway))
        })
        .collect();
    Ok(NodeNet {
        interfaces,
        routes,
        ruleset_generation: None,
    })
}

/// The rule set part of what was found: the listing's digest and seal, and
/// what the trace evidence needs of it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RulesetFound {
    pub digest: String,
    pub seal: Option<Seal>,
    pub rejects: std::collections::BTreeSet<crate::trace::evidence::RuleRef>,
    pub platform_tables: std::collections::BTreeSet<(String, String)>,
}

/// Reads `nft -j -s list ruleset`.
pub fn ruleset_found(nft_listing: &str, platform_prefix: &str) -> Result<RulesetFound, ParseError> {
    let e = |e: seal::ListingError| ParseError(e.to_string());
    Ok(RulesetFound {
        digest: seal::digest(nft_listing, platform_prefix).map_err(e)?,
        seal: seal::read(nft_listing).map_err(e)?,
        rejects: seal::reject_rules(nft_listing)
            .map_err(e)?
            .into_iter()
            .collect(),
        platform_tables: seal::platform_table_names(nft_listing, platform_prefix)
            .map_err(e)?
            .into_iter()
            .collect(),
    })
}

impl Found {
    /// (interface, address, interface up) of every IPv4 address.
    pub fn addresses(&self) -> impl Iterator<Item = (&str, Ipv4Addr, bool)> {
        self.net
            .interfaces
            .iter()
            .flat_map(|i| i.ipv4.iter().map(move |a| (i.name.as_str(), *a, i.up)))
    }

    /// What the trace evidence and the explanations need of the node.
    pub fn trace_facts(&self) -> crate::trace::evidence::NodeFacts {
        let net = &self.net;
        crate::trace::evidence::NodeFacts {
            interfaces: net
                .interfaces
                .iter()
                .map(|i| (i.index, i.name.clone()))
                .collect(),
            rejects: self.ruleset.rejects.clone(),
            addresses: net
                .interfaces
                .iter()
                .filter_map(|i| Some((i.name.clone(), *i.ipv4.first()?)))
                .collect(),
            platform_tables: self.ruleset.platform_tables.clone(),
        }
    }
}

/// [`Found`] from `ip` and `nft` output.
pub fn parse_found(
    ip_batch: &str,
    nft_listing: &str,
    platform_prefix: &str,
) -> Result<Found, ParseError> {
    Ok(Found {
        net: net_from_ip_json(ip_batch)?,
        ruleset: ruleset_found(nft_listing, platform_prefix)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured in a scenario-3 gateway (gw-sensitive) on this machine.
    const IP: &str = r#"[{"ifindex":1,"ifname":"lo","flags":["LOOPBACK","UP","LOWER_UP"],"addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8}]},{"ifindex":13,"ifname":"eth1","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],"addr_info":[{"family":"inet","local":"198.18.32.2","prefixlen":24}]},{"ifindex":19,"ifname":"eth0","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],"addr_info":[{"family":"inet","local":"198.18.31.1","prefixlen":24}]}]
[{"dst":"198.18.30.0/24","gateway":"198.18.32.1","dev":"eth1","flags":[]},{"dst":"198.18.31.0/24","dev":"eth0","protocol":"kernel","scope":"link","prefsrc":"198.18.31.1","flags":[]},{"dst":"198.18.32.0/24","dev":"eth1","protocol":"kernel","scope":"link","prefsrc":"198.18.32.2","flags":[]}]
"#;

    const NFT: &str = r#"{"nftables": [{"metainfo": {"version": "1.0.6"}}, {"table": {"family": "inet", "name": "filter", "handle": 2}}, {"chain": {"family": "inet", "table": "filter", "name": "forward", "handle": 1, "type": "filter", "hook": "forward", "prio": 0, "policy": "drop"}}]}"#;

    fn sealed(nft: &str) -> String {
        let d = seal::digest(nft, "DOCKER_").unwrap();
        nft.replace(
            "]}",
            &format!(
                r#", {{"rule": {{"family": "inet", "table": "seglab_state", "chain": "state", "comment": "seglab digest={d} phase=-", "expr": []}}}}]}}"#
            ),
        )
    }

    fn expect() -> Expectation {
        Expectation {
            addresses: vec![
                ("sensitive".into(), "198.18.31.1".parse().unwrap()),
                ("transit".into(), "198.18.32.2".parse().unwrap()),
            ],
            interfaces: vec![
                ("198.18.31.1".parse().unwrap(), "sensitive".into()),
                ("198.18.32.2".parse().unwrap(), "transit".into()),
            ],
            routes: vec![(
                "198.18.30.0/24".parse().unwrap(),
                "198.18.32.1".parse().unwrap(),
            )],
        }
    }

    /// [`IP`] after seglab named the interfaces after their segments.
    fn named(ip: &str) -> String {
        ip.replace("\"eth0\"", "\"sensitive\"")
            .replace("\"eth1\"", "\"transit\"")
    }

    #[test]
    fn an_interface_renamed_away_is_named() {
        let ip = named(IP).replace("\"transit\"", "\"wan7\"");
        let problems = compare(
            &expect(),
            &parse_found(&ip, &sealed(NFT), "DOCKER_").unwrap(),
        );
        assert_eq!(
            problems.iter().map(ToString::to_string).collect::<Vec<_>>(),
            vec!["has its interface on segment transit named wan7, not transit (renamed?)"]
        );
        // Disconnected by Docker: renamed back to the veth's name, down.
        let ip = named(IP).replace(
            "\"transit\",\"flags\":[\"BROADCAST\",\"MULTICAST\",\"UP\",",
            "\"veth1a\",\"flags\":[\"BROADCAST\",\"MULTICAST\",",
        );
        let problems = compare(
            &expect(),
            &parse_found(&ip, &sealed(NFT), "DOCKER_").unwrap(),
        );
        assert_eq!(
            problems.iter().map(ToString::to_string).collect::<Vec<_>>(),
            vec!["is not attached to segment transit (198.18.32.2 is left on veth1a, down)"]
        );
        // Never renamed: Docker's names.
        let problems = compare(
            &expect(),
            &parse_found(IP, &sealed(NFT), "DOCKER_").unwrap(),
        );
        assert_eq!(problems.len(), 2, "{problems:?}");
    }

    #[test]
    fn a_sound_gateway_has_no_problems() {
        let found = parse_found(&named(IP), &sealed(NFT), "DOCKER_").unwrap();
        assert_eq!(found.addresses().count(), 3);
        assert_eq!(compare(&expect(), &found), vec![]);
    }

    #[test]
    fn a_restarted_gateway_lost_rules_and_routes() {
        // After `docker restart`: Docker's addresses are back, nothing else.
        let ip = named(IP).lines().next().unwrap().to_string()
            + "\n[{\"dst\":\"198.18.31.0/24\",\"dev\":\"eth0\"},{\"dst\":\"198.18.32.0/24\",\"dev\":\"eth1\"}]\n";
        let found = parse_found(&ip, r#"{"nftables": [{"metainfo": {}}]}"#, "DOCKER_").unwrap();
        let problems = compare(&expect(), &found);
        assert_eq!(
            problems.iter().map(ToString::to_string).collect::<Vec<_>>(),
            vec![
                "lost its rule set (restarted?)",
                "lost its route to 198.18.30.0/24 via 198.18.32.1 (restarted?)"
            ]
        );
    }

    #[test]
    fn a_changed_rule_set_and_a_lost_segment_are_named() {
        let listing = sealed(NFT).replace("\"drop\"", "\"accept\"");
        let ip = named(IP).replace("198.18.31.1", "10.9.9.9");
        let problems = compare(&expect(), &parse_found(&ip, &listing, "DOCKER_").unwrap());
        assert_eq!(
            problems.iter().map(ToString::to_string).collect::<Vec<_>>(),
            vec![
                "runs a rule set that changed since seglab loaded it",
                "is not attached to segment sensitive (198.18.31.1 is gone)"
            ]
        );
    }

    #[test]
    fn a_host_needs_its_default_route() {
        let sc = crate::scenario::load("scenario-3").unwrap();
        let e = Expectation::of(&sc, "agent-1").unwrap();
        assert_eq!(e.routes.len(), 1);
        assert_eq!(e.routes[0].0.prefix_len(), 0);
        let ip = "[]\n[{\"dst\":\"default\",\"gateway\":\"198.18.31.1\",\"dev\":\"eth0\"}]\n";
        let found = parse_found(ip, &sealed(NFT), "DOCKER_").unwrap();
        assert_eq!(
            found.net.routes,
            vec![(Ipv4Net::default(), Some("198.18.31.1".parse().unwrap()))]
        );
        assert!(Expectation::of(&sc, "gw-sensitive").is_some());
        assert!(Expectation::of(&sc, "nobody").is_none());
    }

    #[test]
    fn unreadable_output_is_an_error() {
        assert!(parse_found("", NFT, "DOCKER_").is_err());
        assert!(parse_found("[]\n", NFT, "DOCKER_").is_err());
        assert!(parse_found(IP, "nope", "DOCKER_").is_err());
    }
}
