//! The `phases` section: flows opened for a while, and the rule set files
//! that open and close them on each gateway.

use super::selectors::Refs;
use super::{at, check_name, policy, Gateway, Host, Phase, PhaseRuleset, RawPhase, RuleFile, S};
use crate::diag::Diagnostics;
use crate::scenario::Source;

/// Every phase, in file order. A rule set whose `open` file cannot be read
/// is left out (reported); one whose `close` file cannot be read is kept
/// with the default close (reported too, so the scenario is rejected).
pub(super) fn resolve(
    d: &mut Diagnostics,
    raw: &[RawPhase],
    refs: &Refs,
    hosts: &[Host],
    gateways: &[Gateway],
    src: &Source,
) -> Vec<Phase> {
    let mut phases: Vec<Phase> = Vec::new();
    for (i, p) in raw.iter().enumerate() {
        check_name(d, &p.name, format!("phases[{i}].name"));
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
                policy::flow(d, refs, hosts, f, &format!("phases[{i}].flows[{j}]"))
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
                Ok((file, text)) => {
                    let file = RuleFile { file, text };
                    if let Err(problems) = crate::rulefile::check_phase_file(&file) {
                        for p in problems {
                            let field = format!("phases[{i}].rulesets[{j}].{field}");
                            d.push(at(f), field, p.to_string());
                        }
                    }
                    Some(file)
                }
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
    phases
}
