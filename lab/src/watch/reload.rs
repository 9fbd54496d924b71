//! A scenario file saved while `watch` runs (pure): what of it a running
//! lab can take (policy, flows, phases, parameters, rule files) and what
//! needs a new lab (segments, gateways, hosts, addresses).
//!
//! The lab runs the scenario as placed (its subnets may have moved to free
//! ones at `up`), so a saved file is compared with the file as it was when
//! watching started, never with the placed scenario, and what it changes is
//! grafted onto the placed one.

use crate::scenario::Scenario;

/// The parts of the topology that differ between two versions of a
/// scenario file: empty when a running lab can take the new one.
pub fn topology_changes(before: &Scenario, after: &Scenario) -> Vec<&'static str> {
    let mut out = Vec::new();
    if before.segments != after.segments {
        out.push("segments");
    }
    let attachments = |s: &Scenario| -> Vec<(String, Vec<crate::scenario::Attachment>)> {
        s.gateways
            .iter()
            .map(|g| (g.name.clone(), g.attachments.clone()))
            .collect()
    };
    if attachments(before) != attachments(after) {
        out.push("gateways");
    }
    if before.hosts != after.hosts {
        out.push("hosts");
    }
    out
}

/// `running` (the lab's recorded scenario, as placed) with what a new
/// version of its file changed since `before`: the policy, phases, block
/// style, catalog, parameters and title wholesale, and each gateway's rule
/// file where the file's changed. The topology stays the running one's.
pub fn graft(running: &Scenario, before: &Scenario, after: &Scenario) -> Scenario {
    let mut out = running.clone();
    out.title = after.title.clone();
    out.params = after.params.clone();
    out.block = after.block;
    out.catalog = after.catalog.clone();
    out.policy = after.policy.clone();
    out.phases = after.phases.clone();
    for g in &mut out.gateways {
        let was = before.gateway(&g.name).map(|x| &x.ruleset);
        let now = after.gateway(&g.name).map(|x| &x.ruleset);
        if let (Some(was), Some(now)) = (was, now) {
            if was != now {
                g.ruleset = now.clone();
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::rule_file;

    #[test]
    fn policy_and_rule_files_graft_onto_the_placed_lab_and_topology_does_not() {
        let file = crate::scenario::load("scenario-3").unwrap();
        // The lab was placed on other subnets at `up`.
        let mut placed = file.clone();
        placed.segments[0].subnet = "198.51.100.0/24".parse().unwrap();
        let mut edited = file.clone();
        edited.policy.pop();
        edited.gateways[0].ruleset = Some(rule_file("new.nft", "table inet filter {}\n"));
        assert!(topology_changes(&file, &edited).is_empty());
        let g = graft(&placed, &file, &edited);
        assert_eq!(g.segments, placed.segments);
        assert_eq!(g.policy, edited.policy);
        assert_eq!(g.gateways[0].ruleset, edited.gateways[0].ruleset);
        assert_eq!(g.gateways[1].ruleset, placed.gateways[1].ruleset);

        let mut moved = file.clone();
        moved.hosts[0].address = "198.18.77.99".parse().unwrap();
        moved.segments[1].name = "other".into();
        assert_eq!(topology_changes(&file, &moved), ["segments", "hosts"]);
    }
}
