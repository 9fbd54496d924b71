//! The `segments` section: names and subnets. Routers and addresses come
//! later (see `routers`), once the gateways are known.

use super::{at, check_name, RawSegment, Segment, S};
use crate::diag::Diagnostics;
use ipnet::Ipv4Net;
use std::net::Ipv4Addr;

/// The valid segments, in file order. A segment that is defined twice or
/// whose subnet is unusable is left out, so that later sections do not
/// report the same problem again through it.
pub(super) fn resolve(d: &mut Diagnostics, raw: &S<Vec<RawSegment>>) -> Vec<Segment> {
    let mut segments: Vec<Segment> = Vec::new();
    for (i, s) in raw.value.iter().enumerate() {
        check_name(d, &s.name, format!("segments[{i}].name"));
        if segments.iter().any(|x| x.name == s.name.value) {
            d.push(
                at(&s.name),
                format!("segments[{i}].name"),
                format!("segment `{}` is defined twice", s.name.value),
            );
            continue;
        }
        let subnet = match subnet(&s.subnet.value) {
            Ok(n) => n,
            Err(e) => {
                d.push(at(&s.subnet), format!("segments[{i}].subnet"), e);
                continue;
            }
        };
        if let Some(other) = segments
            .iter()
            .find(|x| x.subnet.contains(&subnet) || subnet.contains(&x.subnet))
        {
            d.push(
                at(&s.subnet),
                format!("segments[{i}].subnet"),
                format!(
                    "{subnet} overlaps segment `{}` ({})",
                    other.name, other.subnet
                ),
            );
        }
        segments.push(Segment {
            name: s.name.value.clone(),
            subnet,
            transit: s.transit,
            router: None,
            reserved: Ipv4Addr::from(u32::from(subnet.broadcast()) - 1),
        });
    }
    if raw.value.is_empty() {
        d.push(at(raw), "segments", "a scenario needs at least one segment");
    }
    segments
}

/// The subnet, if it is one a lab can use: a network address (no host
/// bits), with room for gateways and hosts.
fn subnet(text: &str) -> Result<Ipv4Net, String> {
    match text.parse::<Ipv4Net>() {
        Ok(n) if n.trunc() != n => Err(format!(
            "`{}` has host bits set (did you mean {}?)",
            n,
            n.trunc()
        )),
        Ok(n) if n.prefix_len() > 28 => Err(format!(
            "`{n}` is too small for a lab segment (at most /28)"
        )),
        Ok(n) => Ok(n),
        Err(_) => Err(format!(
            "`{text}` is not an IPv4 subnet (expected e.g. 198.18.1.0/24)"
        )),
    }
}
