//! The `hosts` section: names, segments, roles, and addresses: fixed ones
//! first, then the rest in file order from what is left.

use super::{at, check_name, nth, Host, Names, RawHost, RawSegment, Segment, S};
use crate::catalog::{Catalog, Role};
use crate::diag::Diagnostics;
use crate::node_contract::CATCHALL_PORTS;
use std::collections::BTreeSet;
use std::net::Ipv4Addr;

/// First host offset handed out to hosts without a fixed address, leaving
/// the low addresses to gateways.
const FIRST_HOST_OFFSET: u32 = 10;

/// Every host, in file order, without a firewall yet (`firewalls` adds
/// them). `used` holds the gateways' addresses and receives the hosts'.
/// A host whose segment is unknown or unusable keeps address 0.0.0.0: it is
/// reported, and the scenario is rejected anyway.
pub(super) fn resolve(
    d: &mut Diagnostics,
    raw: &S<Vec<RawHost>>,
    raw_segments: &[RawSegment],
    segments: &[Segment],
    catalog: &Catalog,
    names: &mut Names,
    used: &mut BTreeSet<Ipv4Addr>,
) -> Vec<Host> {
    let mut hosts: Vec<Host> = Vec::new();
    let mut pending: Vec<usize> = Vec::new();
    for (i, h) in raw.value.iter().enumerate() {
        let field = format!("hosts[{i}].name");
        check_name(d, &h.name, field.clone());
        if let Some(kind) = names.insert(h.name.value.clone(), "host") {
            d.push(
                at(&h.name),
                field,
                format!("name `{}` is already used by a {kind}", h.name.value),
            );
        }
        let seg = segments.iter().find(|s| s.name == h.segment.value);
        // A segment that is defined but invalid is reported where it is
        // defined, not again as unknown here.
        let defined = raw_segments.iter().any(|s| s.name.value == h.segment.value);
        match seg {
            None if defined => {}
            None => d.push(
                at(&h.segment),
                format!("hosts[{i}].segment"),
                format!("unknown segment `{}`", h.segment.value),
            ),
            Some(s) if s.transit => d.push(
                at(&h.segment),
                format!("hosts[{i}].segment"),
                format!(
                    "segment `{}` is a transit network: it joins gateways and holds no hosts",
                    s.name
                ),
            ),
            Some(_) => {}
        }
        let role = catalog.roles.get(&h.role.value);
        if role.is_none() {
            d.push(
                at(&h.role),
                format!("hosts[{i}].role"),
                format!(
                    "unknown role `{}` (the catalog has: {})",
                    h.role.value,
                    catalog.roles.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            );
        }
        if let Some(r) = role {
            catchall_overlap(d, h, r, i);
        }
        let mut address = Ipv4Addr::UNSPECIFIED;
        match &h.address {
            Some(a) => {
                if let Some(ip) = fixed_address(d, a, seg, used, i) {
                    address = ip;
                }
            }
            None => pending.push(i),
        }
        hosts.push(Host {
            name: h.name.value.clone(),
            segment: h.segment.value.clone(),
            role: h.role.value.clone(),
            address,
            services: role.map(|r| r.services.clone()).unwrap_or_default(),
            firewall: None,
        });
    }
    // Only now, with every fixed address taken, so that a host listed early
    // never takes the address a later one asks for.
    for i in pending {
        let Some(seg) = segments.iter().find(|s| s.name == hosts[i].segment) else {
            continue;
        };
        match free_address(seg, used) {
            Some(ip) => {
                used.insert(ip);
                hosts[i].address = ip;
            }
            None => d.push(
                at(&raw.value[i].name),
                format!("hosts[{i}].address"),
                format!("segment `{}` has no free address left", seg.name),
            ),
        }
    }
    if raw.value.is_empty() {
        d.push(at(raw), "hosts", "a scenario needs at least one host");
    }
    hosts
}

/// Reports each service of the host's role that lies in the catch-all's
/// range: the agent binds every port of the range for the catch-all, and
/// the host's rules redirect the range's ports into it like every port no
/// stub serves, so a stub there could neither bind nor be reached.
fn catchall_overlap(d: &mut Diagnostics, h: &RawHost, role: &Role, i: usize) {
    let (low, high) = (CATCHALL_PORTS.start(), CATCHALL_PORTS.end());
    for s in role
        .services
        .iter()
        .filter(|s| CATCHALL_PORTS.contains(&s.key.port))
    {
        d.push(
            at(&h.role),
            format!("hosts[{i}].role"),
            format!(
                "{} is in the catch-all's range {low}-{high} (role `{}` serves it as `{}`)",
                s.key, role.name, s.service
            ),
        );
    }
}

/// A host's fixed `address`, if it parses. It must lie inside its segment,
/// off the addresses reserved there, and be nobody else's; these checks are
/// skipped when the segment itself did not resolve (reported elsewhere).
fn fixed_address(
    d: &mut Diagnostics,
    a: &S<String>,
    seg: Option<&Segment>,
    used: &mut BTreeSet<Ipv4Addr>,
    i: usize,
) -> Option<Ipv4Addr> {
    let Ok(ip) = a.value.parse::<Ipv4Addr>() else {
        d.push(
            at(a),
            format!("hosts[{i}].address"),
            format!("`{}` is not an IPv4 address", a.value),
        );
        return None;
    };
    if let Some(s) = seg {
        if !s.subnet.contains(&ip) {
            d.push(
                at(a),
                format!("hosts[{i}].address"),
                format!("{ip} is outside segment `{}` ({})", s.name, s.subnet),
            );
        } else if ip == s.subnet.network() || ip == s.subnet.broadcast() || ip == s.reserved {
            d.push(at(a), format!("hosts[{i}].address"), format!("{ip} is reserved in {} (network, broadcast, or the address Docker keeps for itself)", s.subnet));
        } else if !used.insert(ip) {
            d.push(
                at(a),
                format!("hosts[{i}].address"),
                format!("{ip} is already taken by another host or gateway"),
            );
        }
    }
    Some(ip)
}

/// The first address of the segment that nobody holds, from
/// FIRST_HOST_OFFSET on (from the middle in a segment too small for that).
fn free_address(seg: &Segment, used: &BTreeSet<Ipv4Addr>) -> Option<Ipv4Addr> {
    let size = 1u32 << (32 - seg.subnet.prefix_len());
    (FIRST_HOST_OFFSET.min(size / 2)..size - 2)
        .map(|o| nth(&seg.subnet, o))
        .find(|ip| *ip != seg.reserved && !used.contains(ip))
}

#[cfg(test)]
mod tests {
    use crate::scenario::{ScenarioError, Source};

    #[test]
    fn a_service_in_the_catchall_range_is_reported_at_the_hosts_role() {
        let src = Source::open("scenario-1").unwrap();
        let over = [("console_port".to_string(), "65500".to_string())];
        let Err(ScenarioError::Invalid(problems)) = src.load(&over) else {
            panic!("a console port in the catch-all's range must not load");
        };
        let lines: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        let hit = lines
            .iter()
            .find(|l| l.contains("tcp/65500 is in the catch-all's range 65472-65535"))
            .unwrap_or_else(|| panic!("{lines:#?}"));
        assert!(
            hit.starts_with("scenarios/scenario-1/scenario.yaml:28:")
                && hit.contains(": hosts[0].role: tcp/65500 ")
                && hit.contains("role `ams` serves it as `console`"),
            "{hit}"
        );
        assert!(src.load(&[]).is_ok());
    }
}
