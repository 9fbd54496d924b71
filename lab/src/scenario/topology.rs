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

/// The gateways a packet from host `src` to host `dst` crosses, in order:
/// none within one segment, or when either host or the way is unknown.
pub fn host_path(sc: &Scenario, src: &str, dst: &str) -> Vec<String> {
    let segment = |h: &str| sc.host(h).map(|h| h.segment.as_str());
    match (segment(src), segment(dst)) {
        (Some(a), Some(b)) => path(sc, a, b).unwrap_or_default(),
        _ => Vec::new(),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(sc: &Scenario, gw: &str, seg: &str) -> Ipv4Addr {
        sc.gateway(gw).unwrap().address_on(seg).unwrap()
    }

    #[test]
    fn paths_cross_the_gateways_in_order() {
        let sc = crate::scenario::load("scenario-4").unwrap();
        let p = |a: &str, b: &str| path(&sc, a, b).unwrap();
        assert_eq!(
            p("sensitive", "offsite"),
            ["gw-sensitive", "gw-edge", "gw-offsite"]
        );
        assert_eq!(p("mgmt", "sensitive"), ["gw-mgmt", "gw-sensitive"]);
        assert_eq!(p("offsite", "mgmt"), ["gw-offsite", "gw-edge", "gw-mgmt"]);
        assert!(p("mgmt", "mgmt").is_empty());
    }

    #[test]
    fn gateways_route_via_the_next_gateway_on_the_shared_network() {
        let sc = crate::scenario::load("scenario-4").unwrap();
        let subnet = |s: &str| sc.segment(s).unwrap().subnet;
        let routes = gateway_routes(&sc, "gw-offsite");
        let via_edge = addr(&sc, "gw-edge", "wan");
        assert_eq!(
            routes,
            vec![
                Route {
                    dest: subnet("mgmt"),
                    via: via_edge
                },
                Route {
                    dest: subnet("sensitive"),
                    via: via_edge
                },
            ]
        );
        let routes = gateway_routes(&sc, "gw-mgmt");
        assert!(routes.contains(&Route {
            dest: subnet("sensitive"),
            via: addr(&sc, "gw-sensitive", "transit")
        }));
        assert!(routes.contains(&Route {
            dest: subnet("offsite"),
            via: addr(&sc, "gw-edge", "transit")
        }));
        // Transit networks need no routes: every gateway on them is attached.
        assert!(routes.iter().all(|r| r.dest != subnet("transit")));
    }

    #[test]
    fn hosts_use_their_segments_router_and_a_lone_segment_has_none() {
        let sc = crate::scenario::load("scenario-4").unwrap();
        assert_eq!(
            host_gateway(&sc, "agent-1"),
            Some(addr(&sc, "gw-sensitive", "sensitive"))
        );
        let flat = crate::scenario::Source::from_text(
            "flat.yaml",
            "name: flat\ntitle: t\nsegments: [{name: lan, subnet: 198.18.9.0/24}]\nhosts: [{name: a, segment: lan, role: admin}]\n",
            std::path::PathBuf::new(),
        )
        .load(&[])
        .unwrap();
        assert_eq!(host_gateway(&flat, "a"), None);
        assert!(gateway_routes(&flat, "nope").is_empty());
    }
}
