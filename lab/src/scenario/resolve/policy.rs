//! The `policy` section, and the flow resolution it shares with the phases
//! (a phase's flows are written like the policy's).

use super::selectors::Refs;
use super::{at, parse_basis, Flow, Host, RawFlow};
use crate::diag::Diagnostics;
use crate::ports::{parse_port_spec, PortSpec};

/// Flow numbers a scenario may use beside Appendix A's: flows of its own
/// (such as the ones `seglab observe --write-policy` writes), which name
/// their ports since no catalog entry gives them.
pub const LOCAL_FLOWS: std::ops::RangeInclusive<u32> = 9000..=9999;

/// The permitted flows, in file order; a flow with a bad selector is left
/// out (its problems are reported).
pub(super) fn resolve(
    d: &mut Diagnostics,
    raw: &[RawFlow],
    refs: &Refs,
    hosts: &[Host],
) -> Vec<Flow> {
    raw.iter()
        .enumerate()
        .filter_map(|(i, f)| flow(d, refs, hosts, f, &format!("policy[{i}]")))
        .collect()
}

/// One flow, checked, then checked against the hosts' own firewalls.
pub(super) fn flow(
    d: &mut Diagnostics,
    refs: &Refs,
    hosts: &[Host],
    f: &RawFlow,
    field: &str,
) -> Option<Flow> {
    let flow = resolve_flow(d, refs, f, field)?;
    check_against_firewalls(d, hosts, &flow, f, field);
    Some(flow)
}

/// Selectors, basis, catalog flow and ports. Every part is checked even when
/// an earlier one failed, so that all of a flow's problems are reported.
fn resolve_flow(d: &mut Diagnostics, refs: &Refs, f: &RawFlow, field: &str) -> Option<Flow> {
    let from = refs.check_selector(d, &f.from, format!("{field}.from"));
    let to = refs.check_selector(d, &f.to, format!("{field}.to"));
    let basis = parse_basis(d, &f.basis, format!("{field}.basis"));
    let id = u32::try_from(f.flow.value).unwrap_or(u32::MAX);
    let cat = refs.catalog.flow(id);
    let local = LOCAL_FLOWS.contains(&id);
    if local && f.ports.is_none() {
        d.push(
            at(&f.flow),
            format!("{field}.flow"),
            format!(
                "flow {id} is a local flow ({}-{}, not in Appendix A): it needs `ports`",
                LOCAL_FLOWS.start(),
                LOCAL_FLOWS.end()
            ),
        );
    }
    if cat.is_none() && !local {
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
                .filter_map(|(j, p)| match parse_port_spec(&p.value, refs.params) {
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
        title: f
            .title
            .clone()
            .or_else(|| cat.map(|c| c.title.clone()))
            .unwrap_or_else(|| format!("local flow {id}")),
        from: from?,
        to: to?,
        ports,
        basis,
        quote: f.quote.clone(),
    })
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
