//! The `host_firewalls` section: which ports each selected host's own
//! firewall opens, from catalog flows and explicit port specs.

use super::selectors::Refs;
use super::{at, parse_basis, Host, RawHostFirewall};
use crate::diag::Diagnostics;
use crate::ports::{parse_port_spec, PortSpec};

/// Sets `firewall` on every host an entry selects. Entries add up: a host
/// selected twice opens the union, each port once, sorted.
pub(super) fn resolve(
    d: &mut Diagnostics,
    raw: &[RawHostFirewall],
    refs: &Refs,
    hosts: &mut [Host],
) {
    for (i, fw) in raw.iter().enumerate() {
        let sel = refs.check_selector(d, &fw.hosts, format!("host_firewalls[{i}].hosts"));
        parse_basis(d, &fw.basis, format!("host_firewalls[{i}].basis"));
        let mut allow: Vec<PortSpec> = Vec::new();
        for (j, id) in fw.allow_flows.iter().enumerate() {
            match refs
                .catalog
                .flow(u32::try_from(id.value).unwrap_or(u32::MAX))
            {
                Some(f) => allow.extend(f.ports.iter().cloned()),
                None => d.push(
                    at(id),
                    format!("host_firewalls[{i}].allow_flows[{j}]"),
                    format!("unknown Appendix A flow {}", id.value),
                ),
            }
        }
        for (j, p) in fw.allow.iter().enumerate() {
            match parse_port_spec(&p.value, refs.params) {
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
}
