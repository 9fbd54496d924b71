//! Each segment's router and every gateway's address on it: the router
//! takes the first address of the segment (.1 in a /24), further gateways
//! the next ones. Runs once segments and gateways are both resolved.

use super::{at, nth, Gateway, RawSegment, Segment};
use crate::diag::Diagnostics;
use std::collections::BTreeSet;
use std::net::Ipv4Addr;

/// Sets `router` on each segment and the address of each attachment, and
/// returns the addresses taken, so that hosts are placed around them.
/// Problems are located at the segment as written (`raw_segments`, in file
/// order); segments that did not resolve are skipped.
pub(super) fn place(
    d: &mut Diagnostics,
    raw_segments: &[RawSegment],
    segments: &mut [Segment],
    gateways: &mut [Gateway],
) -> BTreeSet<Ipv4Addr> {
    let mut used: BTreeSet<Ipv4Addr> = BTreeSet::new();
    for (i, s) in raw_segments.iter().enumerate() {
        let Some(seg) = segments.iter_mut().find(|x| x.name == s.name.value) else {
            continue;
        };
        let attached: Vec<String> = gateways
            .iter()
            .filter(|g| g.attachments.iter().any(|a| a.segment == seg.name))
            .map(|g| g.name.clone())
            .collect();
        seg.router = match &s.router {
            Some(r) if attached.contains(&r.value) => Some(r.value.clone()),
            Some(r) => {
                d.push(
                    at(r),
                    format!("segments[{i}].router"),
                    format!(
                        "`{}` is not a gateway attached to segment `{}`",
                        r.value, seg.name
                    ),
                );
                None
            }
            None if s.transit => None,
            None if attached.len() == 1 => Some(attached[0].clone()),
            None if attached.len() > 1 => {
                d.push(at(&s.name), format!("segments[{i}].router"), format!("several gateways attach to `{}` ({}): name the hosts' gateway with `router:`", seg.name, attached.join(", ")));
                None
            }
            None => None,
        };
        let mut order: Vec<String> = attached;
        if let Some(r) = &seg.router {
            order.retain(|g| g != r);
            order.insert(0, r.clone());
        }
        for (k, gname) in order.iter().enumerate() {
            let addr = nth(&seg.subnet, 1 + k as u32);
            used.insert(addr);
            if let Some(a) = gateways
                .iter_mut()
                .find(|g| g.name == *gname)
                .and_then(|g| g.attachments.iter_mut().find(|a| a.segment == seg.name))
            {
                a.address = addr;
            }
        }
    }
    used
}
