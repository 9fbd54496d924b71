//! Selectors (`any`, `host:`, `role:`, `segment:`) as the host firewalls,
//! the policy and the phases write them, checked against what the earlier
//! sections defined.

use super::{at, Host, RawSegment, Selector, S};
use crate::catalog::{Catalog, Params};
use crate::diag::Diagnostics;

/// What a selector or a flow may refer to.
pub(super) struct Refs<'a> {
    /// The segments as written: a segment that is defined but invalid is
    /// reported where it is defined, not again as unknown in a selector.
    raw_segments: &'a [RawSegment],
    pub(super) catalog: &'a Catalog,
    pub(super) params: &'a Params,
    /// Hosts as resolved (name, segment, role).
    hosts: Vec<(String, String, String)>,
}

impl<'a> Refs<'a> {
    pub(super) fn new(
        raw_segments: &'a [RawSegment],
        catalog: &'a Catalog,
        params: &'a Params,
        hosts: &[Host],
    ) -> Refs<'a> {
        Refs {
            raw_segments,
            catalog,
            params,
            hosts: hosts
                .iter()
                .map(|h| (h.name.clone(), h.segment.clone(), h.role.clone()))
                .collect(),
        }
    }

    /// The selector, if it parses and names something that exists; a role
    /// must also be held by some host, or the selector matches nothing.
    pub(super) fn check_selector(
        &self,
        d: &mut Diagnostics,
        s: &S<String>,
        field: String,
    ) -> Option<Selector> {
        let sel = match Selector::parse(&s.value) {
            Ok(sel) => sel,
            Err(e) => {
                d.push(at(s), field, e);
                return None;
            }
        };
        let problem = match &sel {
            Selector::Any => None,
            Selector::Host(h) => {
                (!self.hosts.iter().any(|(n, _, _)| n == h)).then(|| format!("unknown host `{h}`"))
            }
            Selector::Segment(seg) => (!self.raw_segments.iter().any(|x| &x.name.value == seg))
                .then(|| format!("unknown segment `{seg}`")),
            Selector::Role(r) => {
                if !self.catalog.roles.contains_key(r) {
                    Some(format!(
                        "unknown role `{r}` (the catalog has: {})",
                        self.catalog
                            .roles
                            .keys()
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                } else if !self.hosts.iter().any(|(_, _, role)| role == r) {
                    Some(format!("no host has role `{r}`"))
                } else {
                    None
                }
            }
        };
        match problem {
            Some(p) => {
                d.push(at(s), field, p);
                None
            }
            None => Some(sel),
        }
    }
}
