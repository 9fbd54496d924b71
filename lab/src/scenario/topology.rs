//! Routing derived from the topology, never written by hand: which gateway a
//! segment's hosts use, which gateways a flow crosses, and each gateway's
//! routes to the segments it is not attached to.

use super::model::Scenario;
use ipnet::Ipv4Net;
use std::collections::{BTreeMap, VecDeque};
use std::net::Ipv4Addr;

/// A static route in a gateway.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Route {
    pub dest: Ipv4Net,
    pub via: Ipv4Addr,
}

/// Gateways adjacent to `gw` (sharing a segment), with the shared segment.
fn neighbours<'a>(sc: &'a Scenario, gw: &'a str) -> Vec<(&'a str, &'a str)> {
    let Some(g) = sc.gateway(gw) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for a in &g.attachments {
        for other in &sc.gateways {
            if other.name != gw
                && other.address_on(&a.segment).is_some()
                && !out.iter().any(|(n, _)| *n == other.name.as_str())
            {
                out.push((other.name.as_str(), a.segment.as_str()));
            }
        }
    }
    out
}

/// Shortest chain of gateways from `start` to a gateway attached to
/// `segment` (inclusive at both ends), by breadth-first search.
fn gateway_path(sc: &Scenario, start: &str, segment: &str) -> Option<Vec<String>> {
    let mut prev: BTreeMap<&str, Option<&str>> = BTreeMap::new();
    let mut queue = VecDeque::from([start]);
    prev.insert(start, None);
    while let Some(g) = queue.pop_front() {
        if sc.gateway(g)?.address_on(segment).is_some() {
            let mut path = vec![g.to_string()];
            let mut cur = g;
            while let Some(Some(p)) = prev.get(cur) {
                path.push(p.to_string());
                cur = p;
            }
            path.reverse();
            return Some(path);
        }
        for (n, _) in neighbours(sc, g) {
            if !prev.contains_key(n) {
                prev.insert(n, Some(g));
                queue.push_back(n);
            }
        }
    }
    None
}

/// The gateways a packet from segment `from` to segment `to` crosses, in
/// order; empty for the same segment; `None` when there is no way through.
pub fn path(sc: &Scenario, from: &str, to: &str) -> Option<Vec<String>> {
    if from == to {
        return Some(Vec::new());
    }
    let router = sc.segment(from)?.router.as_deref()?;
    gateway_path(sc, router, to)
}

/// The default route of a host: its segment's router on that segment.
pub fn host_gateway(sc: &Scenario, host: &str) -> Option<Ipv4Addr> {
    let h = sc.host(host)?;
    let router = sc.segment(&h.segment)?.router.as_deref()?;
    sc.gateway(router)?.address_on(&h.segment)
}

/// Routes a gateway needs to every host segment it is not attached to.
pub fn gateway_routes(sc: &Scenario, gw: &str) -> Vec<Route> {
    let Some(g) = sc.gateway(gw) else {
        return Vec::new();
    };
    let mut routes = Vec::new();
    for seg in sc.segments.iter().filter(|s| !s.transit) {
        if g.address_on(&seg.name).is_some() {
            continue;
        }
        let Some(p) = gateway_path(sc, gw, &seg.name) else {
            continue;
        };
        let next = &p[1];
        let shared = neighbours(sc, gw)
            .into_iter()
            .find(|(n, _)| n == next)
            .map(|(_, s)| s);
        if let Some(via) = shared.and_then(|s| sc.gateway(next)?.address_on(s)) {
            routes.push(Route {
                dest: seg.subnet,
                via,
            });
        }
    }
    routes
}
