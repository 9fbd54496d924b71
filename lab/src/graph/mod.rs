//! The topology of a scenario as a picture: segments (transit networks
//! apart), gateways with their interfaces, and hosts, for `seglab graph`
//! and for the reports that draw the topology.
//!
//! [`Topology`] is read from a [`Scenario`] (a design, or a running lab's
//! scenario as placed, with its actual subnets and interface names), and
//! rendered by [`dot`] (Graphviz), [`mermaid`] (Markdown) and [`svg`]
//! (self-contained, laid out by [`layout`] without Graphviz). [`svg`] can
//! colour each segment-to-segment path by a verdict ([`PathColours`]).
//!
//! Everything here is pure: text in, text out, in a stable order (the
//! scenario's), so that the outputs can be snapshot-tested.

mod colours;
pub mod dot;
mod layout;
pub mod mermaid;
mod svg;
pub(crate) mod text;
mod wires;

#[cfg(test)]
mod tests;

pub use colours::{PathColours, Verdict};
pub use svg::svg;

use crate::scenario::{topology, Scenario};
use ipnet::Ipv4Net;
use std::net::Ipv4Addr;

/// A segment: a network hosts live on, or a transit network that only
/// joins gateways.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentNode {
    pub name: String,
    pub subnet: Ipv4Net,
    pub transit: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayNode {
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostNode {
    pub name: String,
    pub segment: String,
    pub role: String,
    pub address: Ipv4Addr,
}

/// A gateway's attachment to a segment: an edge of the picture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub gateway: String,
    pub segment: String,
    /// The gateway's interface on the segment; empty in a lab made by a
    /// seglab that did not name interfaces.
    pub interface: String,
    pub address: Ipv4Addr,
}

/// The way from one host segment to another: the links it crosses, in
/// order (from the source segment to its router, ..., from the last
/// gateway to the destination segment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentPath {
    pub from: String,
    pub to: String,
    /// Indices into [`Topology::links`].
    pub links: Vec<usize>,
}

/// What the pictures show, in the scenario's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    pub name: String,
    pub title: String,
    pub segments: Vec<SegmentNode>,
    pub gateways: Vec<GatewayNode>,
    pub hosts: Vec<HostNode>,
    pub links: Vec<Link>,
    /// Every ordered pair of distinct host segments that has a way through.
    pub paths: Vec<SegmentPath>,
}

impl Topology {
    pub fn from_scenario(sc: &Scenario) -> Topology {
        let mut links = Vec::new();
        for g in &sc.gateways {
            for a in &g.attachments {
                links.push(Link {
                    gateway: g.name.clone(),
                    segment: a.segment.clone(),
                    interface: a.interface.clone(),
                    address: a.address,
                });
            }
        }
        let mut t = Topology {
            name: sc.name.clone(),
            title: sc.title.clone(),
            segments: sc
                .segments
                .iter()
                .map(|s| SegmentNode {
                    name: s.name.clone(),
                    subnet: s.subnet,
                    transit: s.transit,
                })
                .collect(),
            gateways: sc
                .gateways
                .iter()
                .map(|g| GatewayNode {
                    name: g.name.clone(),
                })
                .collect(),
            hosts: sc
                .hosts
                .iter()
                .map(|h| HostNode {
                    name: h.name.clone(),
                    segment: h.segment.clone(),
                    role: h.role.clone(),
                    address: h.address,
                })
                .collect(),
            links,
            paths: Vec::new(),
        };
        t.paths = segment_paths(sc, &t);
        t
    }

    /// The segment of host `host`.
    pub fn segment_of(&self, host: &str) -> Option<&str> {
        self.hosts
            .iter()
            .find(|h| h.name == host)
            .map(|h| h.segment.as_str())
    }

    pub fn hosts_on<'a>(&'a self, segment: &'a str) -> impl Iterator<Item = &'a HostNode> + 'a {
        self.hosts.iter().filter(move |h| h.segment == segment)
    }

    /// The index of the link between `gateway` and `segment`.
    pub fn link(&self, gateway: &str, segment: &str) -> Option<usize> {
        self.links
            .iter()
            .position(|l| l.gateway == gateway && l.segment == segment)
    }

    /// The way from segment `from` to segment `to`.
    pub fn path(&self, from: &str, to: &str) -> Option<&SegmentPath> {
        self.paths.iter().find(|p| p.from == from && p.to == to)
    }
}

/// The links of every segment-to-segment way, from the routing seglab
/// derives for the lab (see [`topology::path`]).
fn segment_paths(sc: &Scenario, t: &Topology) -> Vec<SegmentPath> {
    let hosted: Vec<&str> = sc
        .segments
        .iter()
        .filter(|s| !s.transit)
        .map(|s| s.name.as_str())
        .collect();
    let mut out = Vec::new();
    for from in &hosted {
        for to in &hosted {
            if from == to {
                continue;
            }
            let Some(gws) = topology::path(sc, from, to) else {
                continue;
            };
            let Some(links) = path_links(sc, t, from, to, &gws) else {
                continue;
            };
            out.push(SegmentPath {
                from: from.to_string(),
                to: to.to_string(),
                links,
            });
        }
    }
    out
}

fn path_links(
    sc: &Scenario,
    t: &Topology,
    from: &str,
    to: &str,
    gws: &[String],
) -> Option<Vec<usize>> {
    let (first, last) = (gws.first()?, gws.last()?);
    let mut links = vec![t.link(first, from)?];
    for pair in gws.windows(2) {
        let (a, b) = (sc.gateway(&pair[0])?, sc.gateway(&pair[1])?);
        // The network the two share, as the routes use it.
        let shared = a
            .attachments
            .iter()
            .find(|x| b.address_on(&x.segment).is_some())?;
        links.push(t.link(&a.name, &shared.segment)?);
        links.push(t.link(&b.name, &shared.segment)?);
    }
    links.push(t.link(last, to)?);
    Some(links)
}
