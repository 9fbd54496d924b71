//! From the raw file to a [`Scenario`]: resolve every name, assign every
//! address, check everything, and report all problems at once.

use super::model::*;
use super::raw::*;
use super::{topology, ScenarioError, Source};
use crate::catalog::{Catalog, Params, Release, BUILTIN_CATALOG};
use crate::diag::{Diagnostics, Pos};
use crate::ports::{parse_port_spec, PortSpec};
use ipnet::Ipv4Net;
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

/// First host offset handed out to hosts without a fixed address, leaving
/// the low addresses to gateways.
const FIRST_HOST_OFFSET: u32 = 10;

fn at<T>(s: &S<T>) -> Pos {
    Pos::of(&s.referenced)
}

/// Applies one `KEY=VALUE` parameter override.
pub fn apply_param(params: &mut Params, key: &str, value: &str) -> Result<(), String> {
    match key {
        "console_port" => {
            params.console_port = value
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("--param console_port={value}: not a port (1-65535)"))?;
        }
        "release" => {
            params.release = value
                .parse::<Release>()
                .map_err(|e| format!("--param release={value}: {e}"))?;
        }
        other => {
            return Err(format!(
                "--param {other}: unknown parameter (known: console_port, release)"
            ))
        }
    }
    Ok(())
}

fn check_name(d: &mut Diagnostics, name: &S<String>, field: String) {
    let n = &name.value;
    let ok = n.len() <= 24
        && n.starts_with(|c: char| c.is_ascii_lowercase())
        && n.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !n.ends_with('-');
    if !ok {
        d.push(
            at(name),
            field,
            format!("`{n}` is not a valid name (lowercase letters, digits and `-`, starting with a letter, at most 24 characters)"),
        );
    }
}

fn parse_basis(d: &mut Diagnostics, b: &S<String>, field: String) -> Basis {
    match b.value.as_str() {
        "stated" => Basis::Stated,
        "modelled" => Basis::Modelled,
        other => {
            d.push(
                at(b),
                field,
                format!("unknown basis `{other}` (expected `stated` or `modelled`)"),
            );
            Basis::Modelled
        }
    }
}

fn nth(net: &Ipv4Net, offset: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(net.network()) + offset)
}

struct Ctx<'a> {
    raw: &'a RawScenario,
    catalog: &'a Catalog,
    params: &'a Params,
    /// Hosts as resolved so far (name, segment, role) for selector checks.
    hosts: Vec<(String, String, String)>,
}

impl Ctx<'_> {
    fn check_selector(
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
            Selector::Segment(seg) => {
                (!self.raw.segments.value.iter().any(|x| &x.name.value == seg))
                    .then(|| format!("unknown segment `{seg}`"))
            }
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

    fn resolve_flow(&self, d: &mut Diagnostics, f: &RawFlow, field: &str) -> Option<Flow> {
        let from = self.check_selector(d, &f.from, format!("{field}.from"));
        let to = self.check_selector(d, &f.to, format!("{field}.to"));
        let basis = parse_basis(d, &f.basis, format!("{field}.basis"));
        let id = u32::try_from(f.flow.value).unwrap_or(u32::MAX);
        let cat = self.catalog.flow(id);
        if cat.is_none() {
            d.push(
                at(&f.flow),
                format!("{field}.flow"),
                format!(
                    "unknown Appendix A flow {} (flows are numbered 1-19)",
                    f.flow.value
                ),
            );
        }
        let ports: Vec<PortSpec> = match &f.ports {
            Some(list) => {
                if list.value.is_empty() {
                    d.push(at(list), format!("{field}.ports"), "an empty port list permits nothing; leave `ports` out to take the catalog flow's ports");
                }
                list.value
                    .iter()
                    .enumerate()
                    .filter_map(|(j, p)| match parse_port_spec(&p.value, self.params) {
                        Ok(spec) => Some(spec),
                        Err(e) => {
                            d.push(at(p), format!("{field}.ports[{j}]"), e);
                            None
                        }
                    })
                    .collect()
            }
            None => cat.map(|c| c.ports.clone()).unwrap_or_default(),
        };
        Some(Flow {
            flow: id,
            title: cat.map(|c| c.title.clone()).unwrap_or_default(),
            from: from?,
            to: to?,
            ports,
            basis,
            quote: f.quote.clone(),
        })
    }
}

/// A flow that a destination's own host firewall refuses can never open:
/// the scenario contradicts itself, and the plan could not say what to
/// expect. Reported once per flow and host.
fn check_against_firewalls(
    d: &mut Diagnostics,
    hosts: &[Host],
    flow: &Flow,
    raw: &RawFlow,
    field: &str,
) {
    for h in hosts.iter().filter(|h| flow.to.matches(h)) {
        let Some(allow) = &h.firewall else {
            continue;
        };
        let refused: Vec<String> = flow
            .ports
            .iter()
            .filter(|p| !allow.iter().any(|a| a.key == p.key))
            .map(|p| p.key.to_string())
            .collect();
        if !refused.is_empty() {
            d.push(
                at(&raw.to),
                format!("{field}.to"),
                format!(
                    "flow {} permits {} to host `{}`, but its host firewall does not open {}",
                    flow.flow,
                    refused.join(", "),
                    h.name,
                    if refused.len() == 1 { "it" } else { "them" }
                ),
            );
        }
    }
}

pub(super) fn load(
    src: &Source,
    overrides: &[(String, String)],
) -> Result<Scenario, ScenarioError> {
    let file = src.file.as_str();
    let mut d = Diagnostics::new(file);
    // Nothing but blank lines and comments: say so, rather than the YAML
    // parser's "unexpected end of input" at the end of the file.
    let blank = src.text.lines().all(|l| {
        let l = l.trim();
        l.is_empty() || l.starts_with('#') || l == "---" || l == "..."
    });
    if blank {
        let what = if src.text.trim().is_empty() {
            "the scenario file is empty"
        } else {
            "the scenario file is empty (it holds only comments)"
        };
        d.push(Pos { line: 1, col: 1 }, "", what);
        return Err(ScenarioError::Invalid(d.into_sorted()));
    }
    let raw: RawScenario = serde_saphyr::from_str(&src.text)
        .map_err(|e| ScenarioError::Invalid(vec![crate::diag::from_yaml_error(file, &e)]))?;

    check_name(&mut d, &raw.name, "name".into());

    // Parameters: the file's, then the command line's.
    let mut params = Params::default();
    if let Some(cp) = &raw.params.console_port {
        match u16::try_from(cp.value) {
            Ok(p) if p > 0 => params.console_port = p,
            _ => d.push(
                at(cp),
                "params.console_port",
                format!("port {} is out of range 1-65535", cp.value),
            ),
        }
    }
    if let Some(r) = &raw.params.release {
        match r.value.parse() {
            Ok(rel) => params.release = rel,
            Err(e) => d.push(at(r), "params.release", e),
        }
    }
    for (k, v) in overrides {
        apply_param(&mut params, k, v).map_err(ScenarioError::BadOverride)?;
    }

    let catalog = match &raw.catalog {
        None => Catalog::load("scenarios/catalog.yaml", BUILTIN_CATALOG, &params),
        Some(c) => match src.sibling(&c.value) {
            Ok((name, text)) => Catalog::load(&name, &text, &params),
            Err(e) => {
                d.push(at(c), "catalog", e);
                return Err(ScenarioError::Invalid(d.into_sorted()));
            }
        },
    };
    let catalog = match catalog {
        Ok(c) => c,
        Err(mut errs) => {
            errs.extend(d.into_sorted());
            return Err(ScenarioError::Invalid(errs));
        }
    };

    // Segments.
    let mut segments: Vec<Segment> = Vec::new();
    for (i, s) in raw.segments.value.iter().enumerate() {
        check_name(&mut d, &s.name, format!("segments[{i}].name"));
        if segments.iter().any(|x| x.name == s.name.value) {
            d.push(
                at(&s.name),
                format!("segments[{i}].name"),
                format!("segment `{}` is defined twice", s.name.value),
            );
            continue;
        }
        let subnet = match s.subnet.value.parse::<Ipv4Net>() {
            Ok(n) if n.trunc() != n => {
                d.push(
                    at(&s.subnet),
                    format!("segments[{i}].subnet"),
                    format!("`{}` has host bits set (did you mean {}?)", n, n.trunc()),
                );
                continue;
            }
            Ok(n) if n.prefix_len() > 28 => {
                d.push(
                    at(&s.subnet),
                    format!("segments[{i}].subnet"),
                    format!("`{n}` is too small for a lab segment (at most /28)"),
                );
                continue;
            }
            Ok(n) => n,
            Err(_) => {
                d.push(
                    at(&s.subnet),
                    format!("segments[{i}].subnet"),
                    format!(
                        "`{}` is not an IPv4 subnet (expected e.g. 198.18.1.0/24)",
                        s.subnet.value
                    ),
                );
                continue;
            }
        };
        if let Some(other) = segments
            .iter()
            .find(|x| x.subnet.contains(&subnet) || subnet.contains(&x.subnet))
        {
            d.push(
                at(&s.subnet),
                format!("segments[{i}].subnet"),
                format!(
                    "{subnet} overlaps segment `{}` ({})",
                    other.name, other.subnet
                ),
            );
        }
        segments.push(Segment {
            name: s.name.value.clone(),
            subnet,
            transit: s.transit,
            router: None,
            docker_gateway: Ipv4Addr::from(u32::from(subnet.broadcast()) - 1),
        });
    }
    if raw.segments.value.is_empty() {
        d.push(
            at(&raw.segments),
            "segments",
            "a scenario needs at least one segment",
        );
    }

    // Gateways and their attachments.
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    let mut gateways: Vec<Gateway> = Vec::new();
    for (i, g) in raw.gateways.iter().enumerate() {
        let field = format!("gateways[{i}].name");
        check_name(&mut d, &g.name, field.clone());
        if let Some(kind) = names.insert(g.name.value.clone(), "gateway".into()) {
            d.push(
                at(&g.name),
                field,
                format!("name `{}` is already used by a {kind}", g.name.value),
            );
        }
        let mut attachments = Vec::new();
        for (j, s) in g.segments.value.iter().enumerate() {
            if !raw.segments.value.iter().any(|x| x.name.value == s.value) {
                d.push(
                    at(s),
                    format!("gateways[{i}].segments[{j}]"),
                    format!("unknown segment `{}`", s.value),
                );
            } else if attachments
                .iter()
                .any(|a: &Attachment| a.segment == s.value)
            {
                d.push(
                    at(s),
                    format!("gateways[{i}].segments[{j}]"),
                    format!("segment `{}` is listed twice", s.value),
                );
            } else {
                attachments.push(Attachment {
                    segment: s.value.clone(),
                    address: Ipv4Addr::UNSPECIFIED,
                });
            }
        }
        if g.segments.value.is_empty() {
            d.push(
                at(&g.segments),
                format!("gateways[{i}].segments"),
                "a gateway must attach to at least one segment",
            );
        }
        let ruleset = match &g.ruleset {
            None => None,
            Some(r) => match src.sibling(&r.value) {
                Ok((file, text)) => Some(RuleFile { file, text }),
                Err(e) => {
                    d.push(at(r), format!("gateways[{i}].ruleset"), e);
                    None
                }
            },
        };
        gateways.push(Gateway {
            name: g.name.value.clone(),
            attachments,
            ruleset,
        });
    }

    // Routers and gateway addresses: the router takes the first address of
    // the segment (.1 in a /24), further gateways the next ones.
    let mut used: BTreeSet<Ipv4Addr> = BTreeSet::new();
    for (i, s) in raw.segments.value.iter().enumerate() {
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

    // Hosts: fixed addresses first, then the rest in order.
    let mut hosts: Vec<Host> = Vec::new();
    let mut pending: Vec<usize> = Vec::new();
    for (i, h) in raw.hosts.value.iter().enumerate() {
        let field = format!("hosts[{i}].name");
        check_name(&mut d, &h.name, field.clone());
        if let Some(kind) = names.insert(h.name.value.clone(), "host".into()) {
            d.push(
                at(&h.name),
                field,
                format!("name `{}` is already used by a {kind}", h.name.value),
            );
        }
        let seg = segments.iter().find(|s| s.name == h.segment.value);
        // A segment that is defined but invalid is reported where it is
        // defined, not again as unknown here.
        let defined = raw
            .segments
            .value
            .iter()
            .any(|s| s.name.value == h.segment.value);
        match seg {
            None if defined => {}
            None => d.push(
                at(&h.segment),
                format!("hosts[{i}].segment"),
                format!("unknown segment `{}`", h.segment.value),
            ),
            Some(s) if s.transit => d.push(
                at(&h.segment),
                format!("hosts[{i}].segment"),
                format!(
                    "segment `{}` is a transit network: it joins gateways and holds no hosts",
                    s.name
                ),
            ),
            Some(_) => {}
        }
        let role = catalog.roles.get(&h.role.value);
        if role.is_none() {
            d.push(
                at(&h.role),
                format!("hosts[{i}].role"),
                format!(
                    "unknown role `{}` (the catalog has: {})",
                    h.role.value,
                    catalog.roles.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            );
        }
        let mut address = Ipv4Addr::UNSPECIFIED;
        if let Some(a) = &h.address {
            match a.value.parse::<Ipv4Addr>() {
                Err(_) => d.push(
                    at(a),
                    format!("hosts[{i}].address"),
                    format!("`{}` is not an IPv4 address", a.value),
                ),
                Ok(ip) => {
                    if let Some(s) = seg {
                        if !s.subnet.contains(&ip) {
                            d.push(
                                at(a),
                                format!("hosts[{i}].address"),
                                format!("{ip} is outside segment `{}` ({})", s.name, s.subnet),
                            );
                        } else if ip == s.subnet.network()
                            || ip == s.subnet.broadcast()
                            || ip == s.docker_gateway
                        {
                            d.push(at(a), format!("hosts[{i}].address"), format!("{ip} is reserved in {} (network, broadcast, or the address Docker keeps for itself)", s.subnet));
                        } else if !used.insert(ip) {
                            d.push(
                                at(a),
                                format!("hosts[{i}].address"),
                                format!("{ip} is already taken by another host or gateway"),
                            );
                        }
                    }
                    address = ip;
                }
            }
        } else {
            pending.push(i);
        }
        hosts.push(Host {
            name: h.name.value.clone(),
            segment: h.segment.value.clone(),
            role: h.role.value.clone(),
            address,
            services: role.map(|r| r.services.clone()).unwrap_or_default(),
            firewall: None,
        });
    }
    for i in pending {
        let Some(seg) = segments.iter().find(|s| s.name == hosts[i].segment) else {
            continue;
        };
        let size = 1u32 << (32 - seg.subnet.prefix_len());
        let free = (FIRST_HOST_OFFSET.min(size / 2)..size - 2)
            .map(|o| nth(&seg.subnet, o))
            .find(|ip| *ip != seg.docker_gateway && !used.contains(ip));
        match free {
            Some(ip) => {
                used.insert(ip);
                hosts[i].address = ip;
            }
            None => d.push(
                at(&raw.hosts.value[i].name),
                format!("hosts[{i}].address"),
                format!("segment `{}` has no free address left", seg.name),
            ),
        }
    }
    if raw.hosts.value.is_empty() {
        d.push(
            at(&raw.hosts),
            "hosts",
            "a scenario needs at least one host",
        );
    }

    let ctx = Ctx {
        raw: &raw,
        catalog: &catalog,
        params: &params,
        hosts: hosts
            .iter()
            .map(|h| (h.name.clone(), h.segment.clone(), h.role.clone()))
            .collect(),
    };

    // Host firewalls.
    for (i, fw) in raw.host_firewalls.iter().enumerate() {
        let sel = ctx.check_selector(&mut d, &fw.hosts, format!("host_firewalls[{i}].hosts"));
        parse_basis(&mut d, &fw.basis, format!("host_firewalls[{i}].basis"));
        let mut allow: Vec<PortSpec> = Vec::new();
        for (j, id) in fw.allow_flows.iter().enumerate() {
            match catalog.flow(u32::try_from(id.value).unwrap_or(u32::MAX)) {
                Some(f) => allow.extend(f.ports.iter().cloned()),
                None => d.push(
                    at(id),
                    format!("host_firewalls[{i}].allow_flows[{j}]"),
                    format!("unknown Appendix A flow {}", id.value),
                ),
            }
        }
        for (j, p) in fw.allow.iter().enumerate() {
            match parse_port_spec(&p.value, &params) {
                Ok(spec) => allow.push(spec),
                Err(e) => d.push(at(p), format!("host_firewalls[{i}].allow[{j}]"), e),
            }
        }
        if let Some(sel) = sel {
            for h in hosts.iter_mut().filter(|h| sel.matches(h)) {
                let list = h.firewall.get_or_insert_with(Vec::new);
                for spec in &allow {
                    if !list.iter().any(|s| s.key == spec.key) {
                        list.push(spec.clone());
                    }
                }
                list.sort_by_key(|s| s.key);
            }
        }
    }

    // Policy and phases.
    let policy: Vec<Flow> = raw
        .policy
        .iter()
        .enumerate()
        .filter_map(|(i, f)| {
            let flow = ctx.resolve_flow(&mut d, f, &format!("policy[{i}]"))?;
            check_against_firewalls(&mut d, &hosts, &flow, f, &format!("policy[{i}]"));
            Some(flow)
        })
        .collect();
    let mut phases: Vec<Phase> = Vec::new();
    for (i, p) in raw.phases.iter().enumerate() {
        check_name(&mut d, &p.name, format!("phases[{i}].name"));
        if phases.iter().any(|x| x.name == p.name.value) {
            d.push(
                at(&p.name),
                format!("phases[{i}].name"),
                format!("phase `{}` is defined twice", p.name.value),
            );
        }
        let flows = p
            .flows
            .iter()
            .enumerate()
            .filter_map(|(j, f)| {
                let field = format!("phases[{i}].flows[{j}]");
                let flow = ctx.resolve_flow(&mut d, f, &field)?;
                check_against_firewalls(&mut d, &hosts, &flow, f, &field);
                Some(flow)
            })
            .collect();
        let mut rulesets = Vec::new();
        for (j, r) in p.rulesets.iter().enumerate() {
            if !gateways.iter().any(|g| g.name == r.gateway.value) {
                d.push(
                    at(&r.gateway),
                    format!("phases[{i}].rulesets[{j}].gateway"),
                    format!("unknown gateway `{}`", r.gateway.value),
                );
            }
            let mut load = |f: &S<String>, field: &str| match src.sibling(&f.value) {
                Ok((file, text)) => Some(RuleFile { file, text }),
                Err(e) => {
                    d.push(at(f), format!("phases[{i}].rulesets[{j}].{field}"), e);
                    None
                }
            };
            let open = load(&r.open, "open");
            let close = r.close.as_ref().and_then(|c| load(c, "close"));
            if let Some(open) = open {
                rulesets.push(PhaseRuleset {
                    gateway: r.gateway.value.clone(),
                    open,
                    close,
                });
            }
        }
        phases.push(Phase {
            name: p.name.value.clone(),
            temporary: p.temporary,
            flows,
            rulesets,
        });
    }

    let block = match &raw.block {
        None => None,
        Some(b) => match b.value.as_str() {
            "drop" => Some(BlockStyle::Drop),
            "reject" => Some(BlockStyle::Reject),
            other => {
                d.push(
                    at(b),
                    "block",
                    format!("unknown block style `{other}` (expected `drop` or `reject`)"),
                );
                None
            }
        },
    };
    let scenario = Scenario {
        name: raw.name.value.clone(),
        block,
        title: raw.title.clone(),
        file: file.to_string(),
        params,
        catalog,
        segments,
        gateways,
        hosts,
        policy,
        phases,
    };

    // Reachability: every host segment must reach every other through the
    // gateways, or the lab cannot carry the flows at all.
    if d.is_empty() {
        let host_segments: Vec<String> = scenario
            .segments
            .iter()
            .filter(|s| scenario.hosts.iter().any(|h| h.segment == s.name))
            .map(|s| s.name.clone())
            .collect();
        for a in &host_segments {
            let unreachable: Vec<&String> = host_segments
                .iter()
                .filter(|b| topology::path(&scenario, a, b).is_none())
                .collect();
            if unreachable.is_empty() {
                continue;
            }
            let (i, h) = raw
                .hosts
                .value
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

    if !d.is_empty() {
        return Err(ScenarioError::Invalid(d.into_sorted()));
    }
    Ok(scenario)
}
