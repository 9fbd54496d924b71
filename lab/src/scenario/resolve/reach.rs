//! Reachability: every host segment must reach every other through the
//! gateways, or the lab cannot carry the flows at all.

use super::{at, RawHost, Scenario};
use crate::diag::Diagnostics;
use crate::scenario::topology;

/// One problem per host segment that cannot reach some other, located at
/// the first host listed in it. Needs a scenario that is otherwise valid.
pub(super) fn check(d: &mut Diagnostics, scenario: &Scenario, raw_hosts: &[RawHost]) {
    let host_segments: Vec<String> = scenario
        .segments
        .iter()
        .filter(|s| scenario.hosts.iter().any(|h| h.segment == s.name))
        .map(|s| s.name.clone())
        .collect();
    for a in &host_segments {
        let unreachable: Vec<&String> = host_segments
            .iter()
            .filter(|b| topology::path(scenario, a, b).is_none())
            .collect();
        if unreachable.is_empty() {
            continue;
        }
        let (i, h) = raw_hosts
            .iter()
            .enumerate()
            .find(|(_, h)| &h.segment.value == a)
            .expect("a host segment has a host");
        d.push(
            at(&h.segment),
            format!("hosts[{i}].segment"),
            format!(
                "host `{}` in segment `{a}` cannot reach segment{} {} through the gateways",
                h.name.value,
                if unreachable.len() == 1 { "" } else { "s" },
                unreachable
                    .iter()
                    .map(|s| format!("`{s}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
}
