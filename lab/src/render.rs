//! `seglab render`: a reference nft rule set per gateway, derived from the
//! policy, as a starting point for administrators. It is never what the lab
//! verifies against: the hand-written rule sets are.

use crate::nft::ident;
use crate::node_contract::Proto;
use crate::plan::flows_in;
use crate::scenario::{topology, Scenario};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// Reference rule set for one gateway (with the phase's flows, if any).
pub fn render_gateway(sc: &Scenario, gateway: &str, phase: Option<&str>) -> String {
    let flows = flows_in(sc, phase).unwrap_or_default();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Reference rule set for gateway {gateway} of {} ({}){}.",
        sc.name,
        sc.title,
        phase.map(|p| format!(", phase {p}")).unwrap_or_default()
    );
    out.push_str("# Derived by `seglab render` from the scenario's policy: a starting point to\n# review, not a verified rule set. Addresses come from seglab's defines.\n\n");
    out.push_str("table inet filter {\n    chain forward {\n        type filter hook forward priority filter; policy drop;\n        ct state established,related accept\n        ct state invalid drop\n");
    for f in flows {
        // Per source, the destinations whose path crosses this gateway.
        let mut by_src: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for src in sc.select(&f.from) {
            for dst in sc.select(&f.to).filter(|d| d.name != src.name) {
                let crosses = topology::path(sc, &src.segment, &dst.segment)
                    .is_some_and(|p| p.iter().any(|g| g == gateway));
                if crosses {
                    by_src.entry(&src.name).or_default().insert(&dst.name);
                }
            }
        }
        // Sources with the same destinations share a rule.
        let mut groups: BTreeMap<BTreeSet<&str>, Vec<&str>> = BTreeMap::new();
        for (src, dsts) in by_src {
            groups.entry(dsts).or_default().push(src);
        }
        if groups.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            "\n        # flow {}: {} ({} -> {})",
            f.flow, f.title, f.from, f.to
        );
        for (dsts, srcs) in groups {
            for proto in [Proto::Tcp, Proto::Udp] {
                let ports: Vec<String> = f
                    .ports
                    .iter()
                    .filter(|p| p.key.proto == proto)
                    .map(|p| {
                        if p.key.port == sc.params.console_port && p.service == "console" {
                            "$console_port".to_string()
                        } else {
                            p.key.port.to_string()
                        }
                    })
                    .collect();
                if ports.is_empty() {
                    continue;
                }
                let _ = writeln!(
                    out,
                    "        ip saddr {} ip daddr {} {proto} dport {} accept",
                    set(srcs.iter().copied()),
                    set(dsts.iter().copied()),
                    if ports.len() == 1 {
                        ports[0].clone()
                    } else {
                        format!("{{ {} }}", ports.join(", "))
                    }
                );
            }
        }
    }
    out.push_str("    }\n}\n");
    out
}

fn set<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let v: Vec<String> = names.map(|n| format!("${}", ident(n))).collect();
    if v.len() == 1 {
        v[0].clone()
    } else {
        format!("{{ {} }}", v.join(", "))
    }
}
