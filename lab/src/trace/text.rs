//! Reading what `nft monitor trace` prints in a node (nft 1.0.6 prints text
//! even with `-j`) into the same [`Walk`]s that seglab's own listener
//! builds from the kernel's trace events: every chain a traced packet went
//! through, the rule that decided or the chain's policy, and the verdict.
//! It is what a person sees with `seglab exec LAB GW -- nft monitor trace`,
//! and the tests hold the listener's walks against it.
//!
//! A line reads `trace id ID FAMILY TABLE CHAIN EVENT`, EVENT being
//! `packet: FIELDS` (the packet as the chain saw it), `rule RULE (verdict V)`
//! or `policy V`. The kernel reuses trace ids: a later packet can carry the
//! id of an earlier one, so a packet's walk is the run of lines of one id
//! from its `packet:` line in the first chain it met until that chain is met
//! again.

use super::{Decision, Flow, Walk};
use crate::node_contract::Proto;
#[cfg(test)]
use std::net::Ipv4Addr;

/// One line of the monitor's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceLine {
    pub id: String,
    /// `family table chain`, e.g. `inet filter forward`.
    pub chain: String,
    pub event: Event,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The packet as the chain saw it, with its interfaces.
    Packet {
        iif: Option<String>,
        oif: Option<String>,
        flow: Option<Flow>,
    },
    /// A rule that gave a verdict (`continue` included), as nft prints it.
    Rule { rule: String, verdict: String },
    /// The chain's policy decided.
    Policy { verdict: String },
}

/// The value after `key` in a run of `key value` words.
fn after<'a>(words: &[&'a str], key: &[&str]) -> Option<&'a str> {
    words
        .windows(key.len() + 1)
        .find(|w| w[..key.len()] == *key)
        .map(|w| w[key.len()])
}

fn unquote(s: &str) -> String {
    s.trim_matches('"').to_string()
}

fn flow_of(words: &[&str]) -> Option<Flow> {
    let proto: Proto = after(words, &["ip", "protocol"])
        .or_else(|| {
            // Chains after NAT print no `ip protocol`: the ports say it.
            ["tcp", "udp"]
                .into_iter()
                .find(|p| after(words, &[p, "dport"]).is_some())
        })?
        .parse()
        .ok()?;
    let p = proto.as_str();
    Some(Flow {
        src: after(words, &["ip", "saddr"])?.parse().ok()?,
        dst: after(words, &["ip", "daddr"])?.parse().ok()?,
        proto,
        sport: after(words, &[p, "sport"])?.parse().ok()?,
        dport: after(words, &[p, "dport"])?.parse().ok()?,
    })
}

/// Reads one line; `None` for anything that is not a trace event.
pub fn parse_line(line: &str) -> Option<TraceLine> {
    let rest = line.trim_end().strip_prefix("trace id ")?;
    let mut head = rest.splitn(5, ' ');
    let id = head.next()?.to_string();
    let chain = [head.next()?, head.next()?, head.next()?].join(" ");
    let tail = head.next()?;
    let event = if let Some(fields) = tail.strip_prefix("packet: ") {
        let words: Vec<&str> = fields.split_whitespace().collect();
        Event::Packet {
            iif: after(&words, &["iif"]).map(unquote),
            oif: after(&words, &["oif"]).map(unquote),
            flow: flow_of(&words),
        }
    } else if let Some(rule) = tail.strip_prefix("rule ") {
        let (rule, verdict) = rule.rsplit_once(" (verdict ")?;
        Event::Rule {
            rule: rule.to_string(),
            verdict: verdict.trim_end_matches(')').to_string(),
        }
    } else if let Some(verdict) = tail.strip_prefix("policy ") {
        Event::Policy {
            verdict: verdict.trim().to_string(),
        }
    } else {
        return None;
    };
    Some(TraceLine { id, chain, event })
}

/// Groups the monitor's lines into walks, in the order the walks began.
/// Lines of other packets may come in between.
pub fn walks(text: &str) -> Vec<Walk> {
    let mut out: Vec<Walk> = Vec::new();
    // Per id: the walk it belongs to now, and the first chain of that walk.
    let mut open: std::collections::HashMap<String, (usize, String)> = Default::default();
    for line in text.lines().filter_map(parse_line) {
        if let Event::Packet { iif, oif, flow } = &line.event {
            let renewed = match open.get(&line.id) {
                None => true,
                // The id came back to the walk's first chain: a new packet.
                Some((_, first)) => *first == line.chain,
            };
            if renewed {
                open.insert(line.id.clone(), (out.len(), line.chain.clone()));
                out.push(Walk {
                    id: line.id.clone(),
                    flow: *flow,
                    iif: iif.clone(),
                    oif: oif.clone(),
                    decisions: Vec::new(),
                });
            } else if let Some((i, _)) = open.get(&line.id) {
                let w = &mut out[*i];
                w.oif = w.oif.take().or_else(|| oif.clone());
                w.flow = w.flow.or(*flow);
            }
            continue;
        }
        let Some((i, _)) = open.get(&line.id) else {
            continue; // its packet line came before the monitor started
        };
        let (rule, verdict) = match line.event {
            Event::Rule { rule, verdict } => (Some(rule), verdict),
            Event::Policy { verdict } => (None, verdict),
            Event::Packet { .. } => unreachable!("handled above"),
        };
        out[*i].decisions.push(Decision {
            chain: line.chain,
            handle: None,
            rule,
            verdict,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MGMT: &str = include_str!("../../../tests/fixtures/traces/scenario-3-gw-mgmt.txt");
    const SENSITIVE: &str =
        include_str!("../../../tests/fixtures/traces/scenario-3-gw-sensitive.txt");

    fn flow(src: &str, dst: &str, proto: Proto, dport: u16, w: &Walk) -> bool {
        w.flow.is_some_and(|f| {
            f.src == src.parse::<Ipv4Addr>().unwrap()
                && f.dst == dst.parse::<Ipv4Addr>().unwrap()
                && f.proto == proto
                && f.dport == dport
        })
    }

    #[test]
    fn lines_of_each_kind_are_read() {
        let l = parse_line("trace id 3d342528 inet filter forward policy drop ").unwrap();
        assert_eq!(l.id, "3d342528");
        assert_eq!(l.chain, "inet filter forward");
        assert_eq!(
            l.event,
            Event::Policy {
                verdict: "drop".into()
            }
        );
        let l = parse_line(
            "trace id ea3d5fa1 inet filter forward rule ct state established,related accept (verdict accept)",
        )
        .unwrap();
        assert_eq!(
            l.event,
            Event::Rule {
                rule: "ct state established,related accept".into(),
                verdict: "accept".into()
            }
        );
        assert_eq!(parse_line("Error: no such file"), None);
        assert_eq!(parse_line(""), None);
    }

    #[test]
    fn rules_that_iptables_nft_made_are_traced_like_nft_ones() {
        // gw-mgmt loaded with an iptables-save dump: table `ip filter`,
        // chain FORWARD, and the counter iptables-nft adds to each rule.
        let all = walks(include_str!(
            "../../../tests/fixtures/traces/scenario-3-gw-mgmt-iptables.txt"
        ));
        let accepted = all
            .iter()
            .find(|w| flow("198.18.31.10", "198.18.30.10", Proto::Tcp, 7780, w))
            .unwrap();
        let d = accepted
            .decisions
            .iter()
            .find(|d| d.chain == "ip filter FORWARD")
            .unwrap();
        assert_eq!(
            (d.rule.as_deref(), d.verdict.as_str()),
            (
                Some("ip saddr 198.18.31.10 ip daddr 198.18.30.10 tcp dport 7780 counter packets 0 bytes 0 accept"),
                "accept"
            )
        );
        let dropped = all
            .iter()
            .find(|w| flow("198.18.30.11", "198.18.31.10", Proto::Tcp, 445, w))
            .unwrap();
        let stop = dropped.stopped_by().unwrap();
        assert_eq!(
            (stop.chain.as_str(), stop.rule.as_deref()),
            ("ip filter FORWARD", None)
        );
    }

    #[test]
    fn a_dropped_probe_names_the_chain_policy_and_interfaces() {
        // admin -> agent-1 tcp/445: no flow; gw-mgmt's forward policy drops it.
        let all = walks(MGMT);
        let w = all
            .iter()
            .find(|w| flow("198.18.30.11", "198.18.31.10", Proto::Tcp, 445, w))
            .expect("the probe was traced");
        let stop = w.stopped_by().expect("dropped");
        assert_eq!(stop.chain, "inet filter forward");
        assert_eq!(stop.rule, None);
        assert_eq!(stop.verdict, "drop");
        assert_eq!(
            (w.iif.as_deref(), w.oif.as_deref()),
            (Some("eth0"), Some("eth1"))
        );
        // UDP too, in the other gateway.
        let udp = walks(SENSITIVE)
            .into_iter()
            .find(|w| flow("198.18.31.10", "198.18.30.10", Proto::Udp, 161, w))
            .unwrap();
        assert_eq!(udp.stopped_by().unwrap().chain, "inet filter forward");
    }

    #[test]
    fn an_accepted_probe_names_the_rule_that_let_it_through() {
        // agent-1 -> ams tcp/7780: flow 5, accepted by a rule in gw-sensitive.
        let w = walks(SENSITIVE)
            .into_iter()
            .find(|w| flow("198.18.31.10", "198.18.30.10", Proto::Tcp, 7780, w))
            .unwrap();
        assert_eq!(w.stopped_by(), None);
        let forward = w
            .decisions
            .iter()
            .find(|d| d.chain == "inet filter forward")
            .unwrap();
        assert_eq!(forward.verdict, "accept");
        assert!(
            forward
                .rule
                .as_deref()
                .unwrap()
                .contains("tcp dport 7780 accept"),
            "{forward:?}"
        );
    }

    #[test]
    fn a_reused_trace_id_starts_a_new_walk() {
        // 2bcb89fb stands for the SYN and, later, another packet of the
        // same connection: two walks, each beginning at the trace chain.
        let ids: Vec<Walk> = walks(SENSITIVE)
            .into_iter()
            .filter(|w| w.id == "2bcb89fb")
            .collect();
        assert_eq!(ids.len(), 2);
        for w in &ids {
            assert_eq!(w.decisions[0].chain, "inet seglab_trace pre");
        }
        // Every walk of the capture starts at the trace chain and is whole.
        for w in walks(MGMT).iter().chain(walks(SENSITIVE).iter()) {
            assert_eq!(w.decisions.first().unwrap().chain, "inet seglab_trace pre");
            assert!(w.flow.is_some(), "{w:?}");
        }
    }

    #[test]
    fn the_walks_of_a_capture() {
        let summary: Vec<String> = walks(MGMT)
            .iter()
            .map(|w| {
                let f = w.flow.unwrap();
                let last = w.decisions.last().unwrap();
                format!(
                    "{} {}:{} -> {}:{} {} | {} {}",
                    f.proto,
                    f.src,
                    f.sport,
                    f.dst,
                    f.dport,
                    w.iif.as_deref().unwrap_or("-"),
                    last.chain,
                    last.rule
                        .as_deref()
                        .unwrap_or(&format!("policy {}", last.verdict))
                )
            })
            .collect();
        insta::assert_snapshot!(summary.join("\n"));
    }
}
