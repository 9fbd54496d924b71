//! Moving a lab to free subnets: two labs of one scenario (or a lab and
//! anything else on the engine) must not claim overlapping subnets, so a
//! lab whose subnets are taken moves, every address keeping its offset.

use crate::scenario::Scenario;
use ipnet::Ipv4Net;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// Where relocated labs go: 198.18.0.0/15, the benchmarking range (RFC
/// 2544), which no real network routes.
pub fn default_pool() -> Ipv4Net {
    "198.18.0.0/15".parse().expect("a valid pool")
}

fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// Subnets for the scenario's segments that overlap none of `used`: the
/// scenario's own when all are free, else fresh blocks of the same sizes
/// from `pool`, searched from a position given by `seed` so that labs
/// created at the same moment are unlikely to pick the same blocks.
///
/// `must_move` skips the scenario's own subnets: after a conflict two labs
/// that both found them free would otherwise retry them in lockstep.
pub fn choose_subnets(
    sc: &Scenario,
    used: &[Ipv4Net],
    pool: Ipv4Net,
    seed: u64,
    must_move: bool,
) -> Option<BTreeMap<String, Ipv4Net>> {
    let own_free = !must_move
        && sc
            .segments
            .iter()
            .all(|s| !used.iter().any(|u| overlaps(u, &s.subnet)));
    if own_free {
        return Some(
            sc.segments
                .iter()
                .map(|s| (s.name.clone(), s.subnet))
                .collect(),
        );
    }
    let mut taken: Vec<Ipv4Net> = used.to_vec();
    let mut out = BTreeMap::new();
    for s in &sc.segments {
        let candidates: Vec<Ipv4Net> = pool.subnets(s.subnet.prefix_len()).ok()?.collect();
        let n = candidates.len();
        let start = (seed as usize) % n.max(1);
        let pick = (0..n)
            .map(|i| candidates[(start + i) % n])
            .find(|c| !taken.iter().any(|t| overlaps(t, c)))?;
        taken.push(pick);
        out.insert(s.name.clone(), pick);
    }
    Some(out)
}

fn moved(addr: Ipv4Addr, from: &Ipv4Net, to: &Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(to.network()) + (u32::from(addr) - u32::from(from.network())))
}

/// The scenario with its segments moved to `subnets`.
pub fn relocate(sc: &Scenario, subnets: &BTreeMap<String, Ipv4Net>) -> Scenario {
    let mut out = sc.clone();
    let old: BTreeMap<String, Ipv4Net> = sc
        .segments
        .iter()
        .map(|s| (s.name.clone(), s.subnet))
        .collect();
    let shift = |seg: &str, addr: Ipv4Addr| match (old.get(seg), subnets.get(seg)) {
        (Some(from), Some(to)) => moved(addr, from, to),
        _ => addr,
    };
    for s in &mut out.segments {
        s.reserved = shift(&s.name, s.reserved);
        if let Some(n) = subnets.get(&s.name) {
            s.subnet = *n;
        }
    }
    for g in &mut out.gateways {
        for a in &mut g.attachments {
            a.address = shift(&a.segment, a.address);
        }
    }
    for h in &mut out.hosts {
        h.address = shift(&h.segment, h.address);
    }
    out
}

/// The notice `up` gives when it moved a lab: which subnets were taken and
/// where the segments went (their addresses keep their offsets). `None`
/// when the lab stays on the scenario's own subnets.
pub fn moved_notice(lab: &str, sc: &Scenario, placed: &Scenario) -> Option<String> {
    let moves: Vec<(String, String)> = sc
        .segments
        .iter()
        .zip(&placed.segments)
        .filter(|(a, b)| a.subnet != b.subnet)
        .map(|(a, b)| (a.subnet.to_string(), format!("{} {}", b.name, b.subnet)))
        .collect();
    if moves.is_empty() {
        return None;
    }
    let (from, to): (Vec<String>, Vec<String>) = moves.into_iter().unzip();
    Some(format!(
        "lab {lab}: subnets {} taken, moved to {} (addresses keep their offsets; \
         seglab status {lab} shows them)",
        from.join(", "),
        to.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_moved_lab_says_from_where_to_where() {
        let sc = crate::scenario::load("scenario-3").unwrap();
        let m = choose_subnets(&sc, &[], default_pool(), 7, false).unwrap();
        assert_eq!(moved_notice("l", &sc, &relocate(&sc, &m)), None);
        let used: Vec<Ipv4Net> = sc.segments.iter().map(|s| s.subnet).collect();
        let m = choose_subnets(&sc, &used, default_pool(), 12345, false).unwrap();
        let moved = relocate(&sc, &m);
        let notice = moved_notice("l", &sc, &moved).unwrap();
        assert!(notice.starts_with("lab l: subnets "), "{notice}");
        for (a, b) in sc.segments.iter().zip(&moved.segments) {
            assert!(notice.contains(&a.subnet.to_string()), "{notice}");
            assert!(
                notice.contains(&format!("{} {}", b.name, b.subnet)),
                "{notice}"
            );
        }
    }

    #[test]
    fn free_scenarios_stay_where_they_are() {
        let sc = crate::scenario::load("scenario-2").unwrap();
        let m = choose_subnets(&sc, &[], default_pool(), 7, false).unwrap();
        assert_eq!(relocate(&sc, &m), sc);
    }

    #[test]
    fn a_taken_scenario_moves_everything_keeping_offsets() {
        let sc = crate::scenario::load("scenario-2").unwrap();
        let used: Vec<Ipv4Net> = sc.segments.iter().map(|s| s.subnet).collect();
        let m = choose_subnets(&sc, &used, default_pool(), 12345, false).unwrap();
        let moved = relocate(&sc, &m);
        for (a, b) in sc.segments.iter().zip(&moved.segments) {
            assert!(
                !used.iter().any(|u| overlaps(u, &b.subnet)),
                "{} still overlaps",
                b.name
            );
            assert!(default_pool().contains(&b.subnet));
            assert_ne!(a.subnet, b.subnet);
        }
        for (a, b) in sc.hosts.iter().zip(&moved.hosts) {
            let seg = moved.segment(&b.segment).unwrap();
            assert!(seg.subnet.contains(&b.address));
            assert_eq!(u32::from(a.address) & 0xff, u32::from(b.address) & 0xff);
        }
        // Chosen blocks do not overlap each other either.
        let nets: Vec<_> = m.values().collect();
        for (i, a) in nets.iter().enumerate() {
            for b in &nets[i + 1..] {
                assert!(!overlaps(a, b));
            }
        }
    }
}
