//! Which host pairs a scan covers (`--from SEL --to SEL`).
//!
//! A scan is worth its packets only where something filters: a pair whose
//! path crosses a gateway, or whose destination keeps a host firewall. Two
//! hosts of one segment with no host firewall between them talk freely by
//! design, so scanning them would only count open ports nobody guards.

use crate::scenario::topology::host_path;
use crate::scenario::{Host, Scenario};

/// Which hosts one end of a scan takes: the scenario's own selectors
/// (`any`, `role:R`, `segment:S`, a host name or `host:NAME`).
pub use crate::scenario::Selector;

/// A selector as the user wrote it: a host by its bare name.
fn said(sel: &Selector) -> String {
    match sel {
        Selector::Host(h) => h.clone(),
        other => other.to_string(),
    }
}

/// A selector naming a host, role or segment the scenario lacks.
fn check(sel: &Selector, sc: &Scenario) -> Result<(), SelectError> {
    let unknown = |what: &'static str, name: &str, known: Vec<&str>| {
        let mut known: Vec<&str> = known;
        known.dedup();
        Err(SelectError::Unknown {
            what,
            name: name.to_string(),
            known: known.join(", "),
        })
    };
    match sel {
        Selector::Any => Ok(()),
        Selector::Host(h) if sc.host(h).is_none() => unknown(
            "host",
            h,
            sc.hosts.iter().map(|h| h.name.as_str()).collect(),
        ),
        Selector::Role(r) if !sc.hosts.iter().any(|h| &h.role == r) => {
            let mut roles: Vec<&str> = sc.hosts.iter().map(|h| h.role.as_str()).collect();
            roles.sort_unstable();
            unknown("role", r, roles)
        }
        Selector::Segment(s) if !sc.hosts.iter().any(|h| &h.segment == s) => unknown(
            "segment",
            s,
            sc.segments
                .iter()
                .filter(|g| sc.hosts.iter().any(|h| h.segment == g.name))
                .map(|g| g.name.as_str())
                .collect(),
        ),
        _ => Ok(()),
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SelectError {
    /// `what` is `host`, `role` or `segment` (a segment of no host counts
    /// as unknown: it has nothing to scan).
    #[error("no {what} `{name}` in this scenario (known: {known})")]
    Unknown {
        what: &'static str,
        name: String,
        known: String,
    },
    #[error(
        "--from {} --to {} selects no host pair that a gateway or host firewall separates",
        said(from),
        said(to)
    )]
    Empty { from: Selector, to: Selector },
}

/// Whether anything filters between two hosts: a gateway on their path or
/// a host firewall at the destination.
pub fn filtered(sc: &Scenario, src: &Host, dst: &Host) -> bool {
    dst.firewall.is_some() || !host_path(sc, &src.name, &dst.name).is_empty()
}

/// Every (source, destination) of distinct hosts the selectors take that
/// something filters, in the scenario's host order.
pub fn select_pairs(
    sc: &Scenario,
    from: &Selector,
    to: &Selector,
) -> Result<Vec<(String, String)>, SelectError> {
    check(from, sc)?;
    check(to, sc)?;
    let mut pairs = Vec::new();
    for src in sc.hosts.iter().filter(|h| from.matches(h)) {
        for dst in sc.hosts.iter().filter(|h| to.matches(h)) {
            if src.name != dst.name && filtered(sc, src, dst) {
                pairs.push((src.name.clone(), dst.name.clone()));
            }
        }
    }
    if pairs.is_empty() {
        return Err(SelectError::Empty {
            from: from.clone(),
            to: to.clone(),
        });
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(s: &str) -> Selector {
        s.parse().unwrap()
    }

    fn pairs(sc: &str, from: &str, to: &str) -> Result<Vec<String>, SelectError> {
        let sc = crate::scenario::load(sc).unwrap();
        Ok(select_pairs(&sc, &sel(from), &sel(to))?
            .into_iter()
            .map(|(s, d)| format!("{s}>{d}"))
            .collect())
    }

    #[test]
    fn parses_selectors_and_refuses_empty_ones() {
        assert_eq!(sel("any"), Selector::Any);
        assert_eq!(sel("role:agent"), Selector::Role("agent".into()));
        assert_eq!(sel("segment:mgmt"), Selector::Segment("mgmt".into()));
        assert_eq!(sel("ams"), Selector::Host("ams".into()));
        assert_eq!(sel("host:ams"), Selector::Host("ams".into()));
        for bad in ["", " ", "role:", "segment:", "host:"] {
            assert!(bad.parse::<Selector>().is_err(), "{bad:?} parsed");
        }
        assert_eq!(sel("role:agent").to_string(), "role:agent");
    }

    #[test]
    fn any_to_any_takes_only_pairs_a_gateway_separates() {
        let all = pairs("scenario-3", "any", "any").unwrap();
        // mgmt (ams, admin) and sensitive (agent-1, agent-2, storage), both ways.
        assert_eq!(all.len(), 12);
        assert_eq!(all[0], "ams>agent-1");
        assert_eq!(all[3], "admin>agent-1");
        assert_eq!(all[6], "agent-1>ams");
        assert!(!all.contains(&"ams>admin".to_string()));
        assert!(!all.contains(&"agent-1>storage".to_string()));
    }

    #[test]
    fn roles_segments_and_hosts_narrow_the_pairs() {
        assert_eq!(
            pairs("scenario-3", "ams", "role:agent").unwrap(),
            ["ams>agent-1", "ams>agent-2"]
        );
        assert_eq!(
            pairs("scenario-3", "segment:sensitive", "host:ams").unwrap(),
            ["agent-1>ams", "agent-2>ams", "storage>ams"]
        );
    }

    #[test]
    fn a_host_firewall_makes_a_same_segment_pair_worth_scanning() {
        // scenario-1: every LAN host keeps a host firewall; the vendor hosts
        // on the internet side keep none, and no gateway separates them.
        let lan = pairs("scenario-1", "ams", "segment:lan").unwrap();
        assert_eq!(
            lan,
            ["ams>admin", "ams>agent-1", "ams>agent-2", "ams>storage"]
        );
        assert_eq!(
            pairs("scenario-1", "vendor-dl", "segment:internet"),
            Err(SelectError::Empty {
                from: sel("vendor-dl"),
                to: sel("segment:internet")
            })
        );
        assert_eq!(
            pairs("scenario-1", "vendor-dl", "ams").unwrap(),
            ["vendor-dl>ams"]
        );
    }

    #[test]
    fn unknown_names_list_the_known_ones() {
        let err = pairs("scenario-3", "nobody", "any").unwrap_err();
        assert_eq!(
            err.to_string(),
            "no host `nobody` in this scenario (known: ams, admin, agent-1, agent-2, storage)"
        );
        let err = pairs("scenario-3", "any", "role:dba").unwrap_err();
        assert_eq!(
            err.to_string(),
            "no role `dba` in this scenario (known: admin, agent, ams, storage)"
        );
        let err = pairs("scenario-3", "segment:transit", "any").unwrap_err();
        assert_eq!(
            err.to_string(),
            "no segment `transit` in this scenario (known: mgmt, sensitive)"
        );
    }

    #[test]
    fn a_selection_of_no_separated_pair_says_so() {
        let err = pairs("scenario-3", "ams", "admin").unwrap_err();
        assert_eq!(
            err.to_string(),
            "--from ams --to admin selects no host pair that a gateway or host firewall separates"
        );
    }
}
