//! Subnets a lab may not leave: a rule set that writes a segment's address
//! as a literal (`ip daddr 10.61.1.10`, a customer's own) would no longer
//! match once seglab moved the lab to free subnets, so such a lab keeps the
//! scenario's subnets, and `up` refuses when they collide with what the
//! machine already uses. Pure: what is taken is read by the backend.

use crate::scenario::{RuleFile, Scenario};
use ipnet::Ipv4Net;
use std::fmt;
use std::net::Ipv4Addr;

/// An IPv4 address or prefix written in a rule file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Literal {
    /// 1-based line in the file.
    pub line: usize,
    pub text: String,
    pub net: Ipv4Net,
}

/// Every IPv4 literal of an nft file outside comments and quoted strings
/// (`comment "..."` says nothing about what a rule matches).
pub fn literals(text: &str) -> Vec<Literal> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = code_of(line);
        let b = code.as_bytes();
        let mut i = 0;
        while i < b.len() {
            let boundary = i == 0 || !is_word(b[i - 1]);
            if !(b[i].is_ascii_digit() && boundary) {
                i += 1;
                continue;
            }
            let start = i;
            while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
                i += 1;
            }
            if i + 1 < b.len() && b[i] == b'/' && b[i + 1].is_ascii_digit() {
                i += 1;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
            }
            if i < b.len() && is_word(b[i]) {
                // Part of a longer word (`1.2.3.4x`, a version `1.0.6.1a`).
                while i < b.len() && is_word(b[i]) {
                    i += 1;
                }
                continue;
            }
            let word = &code[start..i];
            let net = match word.split_once('/') {
                Some(_) => word.parse::<Ipv4Net>().ok(),
                None => word
                    .parse::<Ipv4Addr>()
                    .ok()
                    .map(|a| Ipv4Net::new(a, 32).expect("a /32")),
            };
            if let Some(net) = net {
                out.push(Literal {
                    line: n + 1,
                    text: word.to_string(),
                    net,
                });
            }
        }
    }
    out
}

/// Letters, digits and what joins them into one word (`.` of an address,
/// `:` of an IPv6 one, `$`/`@` of a variable or set).
fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b':' | b'$' | b'@')
}

/// The line with its comment cut and its quoted strings blanked.
fn code_of(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                out.push(' ');
            }
            '#' if !quoted => break,
            _ if quoted => out.push(' '),
            _ => out.push(c),
        }
    }
    out
}

/// A literal of a rule file that pins a segment of the scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    pub file: String,
    pub line: usize,
    pub literal: String,
    pub segment: String,
}

impl fmt::Display for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {} (segment {})",
            self.file, self.line, self.literal, self.segment
        )
    }
}

fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// The literals of the scenario's rule files (gateways' rule sets and
/// phases' files) that fall on a segment: non-empty means the lab's
/// subnets are fixed.
pub fn hard_coded(sc: &Scenario) -> Vec<Pin> {
    let files: Vec<&RuleFile> = sc
        .gateways
        .iter()
        .filter_map(|g| g.ruleset.as_ref())
        .chain(
            sc.phases
                .iter()
                .flat_map(|p| &p.rulesets)
                .flat_map(|r| std::iter::once(&r.open).chain(r.close.as_ref())),
        )
        .collect();
    let mut pins = Vec::new();
    for f in files {
        for l in literals(&f.text) {
            // A prefix that covers a segment pins it as much as an address;
            // `0.0.0.0/0` (anything) says nothing about where the lab is.
            if l.net.prefix_len() == 0 {
                continue;
            }
            if let Some(s) = sc.segments.iter().find(|s| overlaps(&s.subnet, &l.net)) {
                pins.push(Pin {
                    file: f.file.clone(),
                    line: l.line,
                    literal: l.text,
                    segment: s.name.clone(),
                });
            }
        }
    }
    pins
}

/// A literal of a rule file in the private ranges labs are made from that
/// is on none of the lab's segments: a rule matching it matches no lab
/// host (a customer's other networks, or the scenario's own addresses in a
/// lab seglab moved to free subnets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stray {
    pub file: String,
    pub line: usize,
    pub literal: String,
}

impl fmt::Display for Stray {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.literal)
    }
}

/// The ranges lab segments come from (RFC 1918 and the benchmarking range
/// seglab places labs in); an address elsewhere (a public one, loopback,
/// multicast) is not taken for a lab's.
const LAB_RANGES: [&str; 4] = [
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "198.18.0.0/15",
];

/// Every [`Stray`] of `file` in the lab of scenario `sc` (as placed).
pub fn strays(sc: &Scenario, file: &RuleFile) -> Vec<Stray> {
    let ranges: Vec<Ipv4Net> = LAB_RANGES
        .iter()
        .map(|r| r.parse().expect("a valid range"))
        .collect();
    literals(&file.text)
        .into_iter()
        .filter(|l| l.net.prefix_len() > 0)
        .filter(|l| ranges.iter().any(|r| r.contains(&l.net)))
        .filter(|l| !sc.segments.iter().any(|s| overlaps(&s.subnet, &l.net)))
        .map(|l| Stray {
            file: file.file.clone(),
            line: l.line,
            literal: l.text,
        })
        .collect()
}

/// Something of the machine that holds a subnet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Taken {
    /// A route of seglab's machine (`ip route show table all`).
    Route { dest: Ipv4Net, dev: String },
    /// A segment of another running lab.
    Lab {
        lab: String,
        segment: String,
        subnet: Ipv4Net,
    },
    /// Another network of the engine.
    Network { name: String, subnet: Ipv4Net },
}

impl Taken {
    fn subnet(&self) -> &Ipv4Net {
        match self {
            Taken::Route { dest, .. } => dest,
            Taken::Lab { subnet, .. } | Taken::Network { subnet, .. } => subnet,
        }
    }
}

impl fmt::Display for Taken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Taken::Route { dest, dev } => write!(f, "route {dest} dev {dev} of this machine"),
            Taken::Lab {
                lab,
                segment,
                subnet,
            } => write!(f, "lab {lab} segment {segment} ({subnet})"),
            Taken::Network { name, subnet } => write!(f, "Docker network {name} ({subnet})"),
        }
    }
}

/// A segment whose fixed subnet is taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collision {
    pub segment: String,
    pub subnet: Ipv4Net,
    pub with: Taken,
}

/// Every segment of `sc` that overlaps something `taken`, with the first
/// thing it overlaps (labs first, then networks, then routes: the most
/// specific cause). A default route overlaps everything and says nothing.
pub fn collisions(sc: &Scenario, taken: &[Taken]) -> Vec<Collision> {
    let rank = |t: &Taken| match t {
        Taken::Lab { .. } => 0,
        Taken::Network { .. } => 1,
        Taken::Route { .. } => 2,
    };
    let mut ordered: Vec<&Taken> = taken
        .iter()
        .filter(|t| t.subnet().prefix_len() > 0)
        .collect();
    ordered.sort_by_key(|t| rank(t));
    sc.segments
        .iter()
        .filter_map(|s| {
            let t = ordered.iter().find(|t| overlaps(t.subnet(), &s.subnet))?;
            Some(Collision {
                segment: s.name.clone(),
                subnet: s.subnet,
                with: (*t).clone(),
            })
        })
        .collect()
}

/// Why `up` refuses lab `lab`, and how to get on.
pub fn refusal(lab: &str, pins: &[Pin], found: &[Collision]) -> String {
    let mut out = format!(
        "lab {lab}: its rule sets write addresses of its segments as literals, so its \
         subnets cannot move, and they collide:\n"
    );
    for c in found {
        out.push_str(&format!(
            "  segment {} {} collides with {}\n",
            c.segment, c.subnet, c.with
        ));
    }
    out.push_str("  written as literals:");
    for p in pins.iter().take(3) {
        out.push_str(&format!(" {p};"));
    }
    if pins.len() > 3 {
        out.push_str(&format!(" and {} more", pins.len() - 3));
    }
    out.push('\n');
    let labs: Vec<&str> = found
        .iter()
        .filter_map(|c| match &c.with {
            Taken::Lab { lab, .. } => Some(lab.as_str()),
            _ => None,
        })
        .collect();
    out.push_str(
        "Choose subnets that collide with nothing (see `ip route`, `docker network ls`, \
         `seglab status`), or write $seg_<segment>, $<host> and $role_<role> instead of \
         literal addresses so that seglab may move the lab",
    );
    if let Some(other) = labs.first() {
        out.push_str(&format!(
            ", or take the other lab down (seglab down {other})"
        ));
    }
    out.push('.');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::rule_file;

    fn texts(t: &str) -> Vec<(usize, String)> {
        literals(t).into_iter().map(|l| (l.line, l.text)).collect()
    }

    #[test]
    fn literals_are_found_outside_comments_and_strings() {
        let rules = "#!/usr/sbin/nft -f\n\
            # 10.0.0.1 in a comment\n\
            table inet filter { # 10.0.0.2\n\
              chain forward {\n\
                iifname \"lan0\" ip daddr 10.61.1.10 tcp dport 443 accept comment \"to 10.0.0.3\"\n\
                ip saddr 10.61.0.0/24 ip daddr { 192.168.7.1, 10.61.2.5-10.61.2.9 } accept\n\
                ip daddr $seg_lan meta mark 0x10.1 accept\n\
                ct state established accept # version 1.0.6 and 1.2.3.4\n\
              }\n\
            }\n";
        assert_eq!(
            texts(rules),
            vec![
                (5, "10.61.1.10".to_string()),
                (6, "10.61.0.0/24".to_string()),
                (6, "192.168.7.1".to_string()),
                (6, "10.61.2.5".to_string()),
                (6, "10.61.2.9".to_string()),
            ]
        );
        // Not addresses: too few parts, out of range, part of a word.
        assert_eq!(
            texts("1.0.6 300.1.1.1 v1.2.3.4 1.2.3.4a eth0.1.2.3"),
            vec![]
        );
        assert_eq!(literals("ip daddr 10.0.0.0/8")[0].net.prefix_len(), 8);
    }

    fn scenario(rules: &str) -> Scenario {
        let mut sc = crate::scenario::load("scenario-2").unwrap();
        sc.gateways[0].ruleset = Some(rule_file("gw.nft", rules));
        sc
    }

    #[test]
    fn only_literals_on_a_segment_pin_the_lab() {
        // scenario-2's segments are 198.18.20.0/24 .. 198.18.24.0/24.
        assert!(hard_coded(&scenario(
            "ip daddr $ams accept\nip daddr 8.8.8.8 accept\nip saddr 0.0.0.0/0 drop"
        ))
        .is_empty());
        let pins = hard_coded(&scenario(
            "\nip daddr 198.18.21.7 accept\nip saddr 198.18.0.0/16",
        ));
        assert_eq!(
            pins.iter().map(ToString::to_string).collect::<Vec<_>>(),
            vec![
                "gw.nft:2: 198.18.21.7 (segment admin)",
                "gw.nft:3: 198.18.0.0/16 (segment mgmt)"
            ]
        );
        // Built-in scenarios use defines only: they move as before.
        for b in crate::scenario::builtin::names() {
            assert!(
                hard_coded(&crate::scenario::load(b).unwrap()).is_empty(),
                "{b}"
            );
        }
    }

    #[test]
    fn strays_are_lab_range_literals_on_no_segment_of_the_lab() {
        // scenario-2's segments are 198.18.20.0/24 .. 198.18.24.0/24; the
        // lab moved to 198.19.x would leave every one of them stray.
        let sc = scenario("");
        let file = rule_file(
            "new.nft",
            "ip daddr 198.18.21.7 accept
             ip daddr 198.19.21.7 accept
             ip saddr 10.70.1.0/24 accept # 10.9.9.9 in a comment
             ip daddr 8.8.8.8 accept
             ip saddr 0.0.0.0/0 drop
             ip saddr 198.18.0.0/16 accept
",
        );
        assert_eq!(
            strays(&sc, &file)
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            vec!["new.nft:2: 198.19.21.7", "new.nft:3: 10.70.1.0/24"]
        );
        let mut moved = sc.clone();
        for s in &mut moved.segments {
            s.subnet = format!("198.19.{}.0/24", s.subnet.network().octets()[2])
                .parse()
                .unwrap();
        }
        assert_eq!(
            strays(&moved, &file)
                .iter()
                .map(|s| s.line)
                .collect::<Vec<_>>(),
            vec![1, 3, 6]
        );
    }

    #[test]
    fn collisions_name_the_most_specific_cause_and_ignore_default_routes() {
        let sc = scenario("");
        let net = |s: &str| s.parse::<Ipv4Net>().unwrap();
        let taken = vec![
            Taken::Route {
                dest: net("0.0.0.0/0"),
                dev: "eth0".into(),
            },
            Taken::Route {
                dest: net("198.18.20.0/23"),
                dev: "br-x".into(),
            },
            Taken::Network {
                name: "br-x".into(),
                subnet: net("198.18.21.0/24"),
            },
            Taken::Lab {
                lab: "if-a".into(),
                segment: "admin".into(),
                subnet: net("198.18.21.0/24"),
            },
            Taken::Route {
                dest: net("10.0.0.0/8"),
                dev: "eth1".into(),
            },
        ];
        let found = collisions(&sc, &taken);
        let said: Vec<String> = found
            .iter()
            .map(|c| format!("{} {} {}", c.segment, c.subnet, c.with))
            .collect();
        assert_eq!(
            said,
            vec![
                "mgmt 198.18.20.0/24 route 198.18.20.0/23 dev br-x of this machine",
                "admin 198.18.21.0/24 lab if-a segment admin (198.18.21.0/24)",
            ]
        );
        assert!(collisions(&sc, &taken[..1]).is_empty());
        let pins = hard_coded(&scenario("ip daddr 198.18.21.7 accept"));
        let msg = refusal("if-b", &pins, &found);
        assert!(
            msg.contains("segment admin 198.18.21.0/24 collides with lab if-a segment admin"),
            "{msg}"
        );
        assert!(
            msg.contains("gw.nft:1: 198.18.21.7 (segment admin)"),
            "{msg}"
        );
        assert!(msg.contains("$seg_<segment>"), "{msg}");
        assert!(
            msg.ends_with("or take the other lab down (seglab down if-a)."),
            "{msg}"
        );
    }
}
