//! nft text that seglab writes itself (pure functions, no side effects): the
//! address `define`s prepended to every rule set, each host's firewall and
//! catch-all redirect, and the mapping of nft's error positions back to the
//! user's file.

use crate::node_contract::{Proto, CATCHALL_PORTS};
use crate::scenario::{Gateway, Host, Scenario};
use std::collections::BTreeSet;
use std::fmt::Write;

/// Name of the table seglab owns in each host's namespace.
pub const HOST_TABLE: &str = "seglab_host";

/// The nft identifier for a lab name (`agent-1` -> `agent_1`).
pub fn ident(name: &str) -> String {
    name.replace('-', "_")
}

/// `define`s for every address of the plan, so that rule sets written by
/// hand refer to `$ams`, `$role_agent`, `$seg_mgmt` and `$console_port`
/// and keep working when a lab moves to other subnets.
pub fn defines(sc: &Scenario) -> String {
    let mut out = String::from("# Defined by seglab from the scenario's address plan.\n");
    let _ = writeln!(out, "define console_port = {}", sc.params.console_port);
    for s in &sc.segments {
        let _ = writeln!(out, "define seg_{} = {}", ident(&s.name), s.subnet);
    }
    for h in &sc.hosts {
        let _ = writeln!(out, "define {} = {}", ident(&h.name), h.address);
    }
    let roles: BTreeSet<&str> = sc.hosts.iter().map(|h| h.role.as_str()).collect();
    for r in roles {
        let addrs: Vec<String> = sc
            .hosts
            .iter()
            .filter(|h| h.role == r)
            .map(|h| h.address.to_string())
            .collect();
        let _ = writeln!(out, "define role_{} = {{ {} }}", ident(r), addrs.join(", "));
    }
    out
}

/// `define if_<segment> = "<interface>"` for every segment `gw` is attached
/// to: its own interface names, so that a rule set says `iifname $if_lan`
/// and keeps working when the scenario renames the interface.
pub fn interface_defines(gw: &Gateway) -> String {
    let mut out = String::new();
    // A lab made before interfaces were named has none to define.
    for a in gw.attachments.iter().filter(|a| !a.interface.is_empty()) {
        let _ = writeln!(out, "define if_{} = \"{}\"", ident(&a.segment), a.interface);
    }
    out
}

/// A rule set for gateway `gw`, ready for `nft -f -`: the address defines
/// and the gateway's interface defines, then the user's text. Returns the
/// text and how many lines precede the user's first line.
pub fn with_defines(sc: &Scenario, gw: &Gateway, user_text: &str) -> (String, usize) {
    let defs = defines(sc) + &interface_defines(gw);
    let offset = defs.lines().count();
    (format!("{defs}{user_text}\n"), offset)
}

/// Real rule files often begin with `#!/usr/sbin/nft -f` and `flush
/// ruleset`. Inside a node that statement would also wipe the platform's
/// own table (Docker's embedded DNS), so seglab takes it out and resets the
/// node's tables itself instead. Returns the text with every `flush
/// ruleset` statement blanked (so line numbers stay those of the file) and
/// the 1-based lines it was on.
pub fn without_flush_ruleset(text: &str) -> (String, Vec<usize>) {
    let mut lines = Vec::new();
    let out: Vec<&str> = text
        .lines()
        .enumerate()
        .map(|(i, line)| {
            let code = line.split('#').next().unwrap_or("");
            let words: Vec<&str> = code
                .split(|c: char| c.is_whitespace() || c == ';')
                .filter(|w| !w.is_empty())
                .collect();
            if words == ["flush", "ruleset"] {
                lines.push(i + 1);
                ""
            } else {
                line
            }
        })
        .collect();
    let mut joined = out.join("\n");
    if text.ends_with('\n') {
        joined.push('\n');
    }
    (joined, lines)
}

/// Rewrites nft's `/dev/stdin:LINE:COL` positions to the user's file and
/// line (nft numbers the lines of what it read, defines included).
pub fn map_error(stderr: &str, file: &str, offset: usize) -> String {
    stderr
        .lines()
        .map(|line| {
            let Some(rest) = line.strip_prefix("/dev/stdin:") else {
                return line.to_string();
            };
            let (num, tail) = rest.split_once(':').unwrap_or((rest, ""));
            match num.parse::<usize>() {
                Ok(n) if n > offset => format!("{file}:{}:{tail}", n - offset),
                Ok(n) => format!("<seglab defines>:{n}:{tail}"),
                Err(_) => line.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn port_set(ports: &BTreeSet<u16>) -> String {
    let v: Vec<String> = ports.iter().map(u16::to_string).collect();
    format!("{{ {} }}", v.join(", "))
}

/// The rules seglab loads into a host's own namespace: the host firewall
/// (when the scenario gives it one) and the catch-all redirect that makes
/// every port answer, so a missing listener never passes for a block.
///
/// The redirect goes to the catch-all's range of ports, not one port: NAT
/// then picks for each connection a port of the range that keeps its reply
/// tuple unique, where one port would make probes from one source port to
/// several ports of the host clash in conntrack ([`CATCHALL_PORTS`]).
///
/// The firewall hooks prerouting before destination NAT, so it sees the
/// port the client asked for, not the catch-all's. UDP has no way to ask
/// for the original port after a redirect, so the rule stamps it into the
/// packet mark, which the agent reads with SO_RCVMARK (nft 1.0.6 only takes
/// it as a raw transport-header load: `udp dport` has the wrong type).
pub fn host_rules(host: &Host) -> String {
    let (low, high) = (CATCHALL_PORTS.start(), CATCHALL_PORTS.end());
    // What the redirect takes: every port but the stubs'. The catch-all's
    // own range is redirected too, into itself: NAT keeps such a port where
    // its reply tuple is free and moves it elsewhere in the range where an
    // earlier redirected probe from the same source port took it. Left out
    // of the redirect, a probe sent straight to such a port clashed with
    // that earlier one in conntrack and was dropped (a full-range UDP scan
    // lost port 65472 that way in each of three runs). A stub inside the
    // range is a scenario error, and is not exempted here.
    let unserved = |p: Proto| -> String {
        let stubs: BTreeSet<u16> = host
            .services
            .iter()
            .filter(|s| s.key.proto == p && !CATCHALL_PORTS.contains(&s.key.port))
            .map(|s| s.key.port)
            .collect();
        if stubs.is_empty() {
            // nft has no empty anonymous set.
            format!("meta l4proto {p}")
        } else {
            format!("{p} dport != {}", port_set(&stubs))
        }
    };
    let mut out = String::new();
    let _ = writeln!(out, "table inet {HOST_TABLE} {{");
    if let Some(allow) = &host.firewall {
        let allowed = |p: Proto| -> BTreeSet<u16> {
            allow
                .iter()
                .filter(|s| s.key.proto == p)
                .map(|s| s.key.port)
                .collect()
        };
        out.push_str(
            "    chain firewall {\n        type filter hook prerouting priority -150; policy accept;\n        iifname \"lo\" accept\n        fib daddr type != local accept\n        ct state established,related accept\n",
        );
        for p in [Proto::Tcp, Proto::Udp] {
            let ports = allowed(p);
            if !ports.is_empty() {
                let _ = writeln!(out, "        {p} dport {} accept", port_set(&ports));
            }
        }
        out.push_str("        meta l4proto { tcp, udp } drop\n    }\n");
    }
    let _ = writeln!(
        out,
        "    chain catchall {{\n        type nat hook prerouting priority dstnat; policy accept;"
    );
    let _ = writeln!(
        out,
        "        fib daddr type local {} redirect to :{low}-{high} random",
        unserved(Proto::Tcp)
    );
    let _ = writeln!(
        out,
        "        fib daddr type local {} meta mark set @th,0,32 & 0xffff redirect to :{low}-{high} random",
        unserved(Proto::Udp)
    );
    out.push_str("    }\n}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flush_ruleset_is_blanked_where_it_stands_and_nothing_else() {
        let file = "#!/usr/sbin/nft -f\n\nflush ruleset\n\ntable inet filter {\n  chain forward {\n    type filter hook forward priority 0; policy drop;\n  }\n}\n  flush ruleset ; # again\nflush table inet filter\n";
        let (text, lines) = without_flush_ruleset(file);
        assert_eq!(lines, vec![3, 10]);
        assert_eq!(text.lines().count(), file.lines().count());
        assert!(text.ends_with('\n'));
        assert!(!text.contains("flush ruleset"));
        assert!(text.contains("flush table inet filter"));
        assert_eq!(
            without_flush_ruleset("table ip t {}\n").1,
            Vec::<usize>::new()
        );
    }

    #[test]
    fn a_gateway_gets_its_own_interface_names_and_errors_still_map() {
        let mut sc = crate::scenario::load("scenario-2").unwrap();
        sc.gateways[0].attachments[1].interface = "wan0".into();
        let gw = sc.gateway("gw-mgmt").unwrap();
        assert_eq!(
            interface_defines(gw),
            "define if_mgmt = \"mgmt\"\ndefine if_transit = \"wan0\"\n"
        );
        let user = "table inet t {\n  chain c {\n    bogus\n  }\n}";
        let (text, offset) = with_defines(&sc, gw, user);
        // The user's line 3 is nft's line offset + 3, whatever was prepended.
        assert_eq!(text.lines().nth(offset + 2), Some("    bogus"));
        assert!(text.contains("define if_transit = \"wan0\"\n"));
        let err = format!("/dev/stdin:{}:5-9: Error: syntax error", offset + 3);
        assert!(map_error(&err, "gw.nft", offset).starts_with("gw.nft:3:5-9:"));
        // Only the gateway's own segments.
        assert!(!text.contains("if_admin"));
    }

    #[test]
    fn error_positions_map_back_to_the_users_file() {
        let err = "/dev/stdin:12:9-15: Error: syntax error\n        bogus\n        ^^^^^";
        let mapped = map_error(err, "gw.nft", 10);
        assert!(
            mapped.starts_with("gw.nft:2:9-15: Error: syntax error"),
            "{mapped}"
        );
        assert!(map_error("/dev/stdin:3:1: Error", "gw.nft", 10).starts_with("<seglab defines>:3:"));
    }

    fn host(services: &[(Proto, u16)]) -> Host {
        use crate::ports::{PortKey, PortSpec};
        Host {
            name: "h".into(),
            segment: "s".into(),
            role: "r".into(),
            address: std::net::Ipv4Addr::new(198, 18, 0, 10),
            services: services
                .iter()
                .map(|&(proto, port)| PortSpec {
                    key: PortKey { proto, port },
                    service: "svc".into(),
                })
                .collect(),
            firewall: None,
        }
    }

    #[test]
    fn every_port_but_the_stubs_is_redirected_into_the_catchall_range() {
        let rules = host_rules(&host(&[(Proto::Tcp, 22), (Proto::Tcp, 65500)]));
        // The range itself is redirected too (into itself); a stub inside it
        // (a scenario error) is no exception.
        assert!(
            rules.contains("local tcp dport != { 22 } redirect to :65472-65535 random\n"),
            "{rules}"
        );
        // No UDP stub: no empty set, which nft refuses.
        assert!(
            rules.contains(
                "local meta l4proto udp meta mark set @th,0,32 & 0xffff redirect to :65472-65535 random\n"
            ),
            "{rules}"
        );
        let rules = host_rules(&host(&[]));
        assert!(
            rules.contains("local meta l4proto tcp redirect to :65472-65535 random\n"),
            "{rules}"
        );
    }
}
