//! `status`: the labs on the engine, or one lab's segments, gateways and
//! hosts with their state and health.

use super::Outcome;
use crate::error::{Error, Result};
use crate::runtime::docker::DockerBackend;
use crate::runtime::LabBackend;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};

pub(super) async fn show(lab: Option<String>) -> Result<Outcome> {
    let rt = DockerBackend::connect().await?;
    Ok(status(&rt, lab.as_deref()).await?.into())
}

async fn status<B: LabBackend>(rt: &B, lab: Option<&str>) -> Result<String> {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED);
    match lab {
        None => {
            t.set_header(["lab", "scenario", "running", "containers", "state"]);
            let labs = rt.list_labs().await?;
            if labs.is_empty() {
                return Ok("no labs".into());
            }
            let mut notes = String::new();
            for l in labs {
                let state = if l.partial() {
                    notes.push_str(&format!("\n{}", l.describe()));
                    "partial"
                } else {
                    "complete"
                };
                let (running, nodes) = (l.running.to_string(), l.nodes.to_string());
                t.add_row([l.name, l.scenario, running, nodes, state.into()]);
            }
            if !notes.is_empty() {
                return Ok(format!("{t}{notes}"));
            }
        }
        Some(name) => {
            let summary = rt.lab_summary(name).await?;
            let partial = summary.filter(|s| s.partial()).map(|s| s.describe());
            let info = match (rt.find_lab(name).await, &partial) {
                (Ok(info), _) => info,
                // Nothing to show but that it is partial; but a spec that
                // cannot be read is said as such (exit 3), not as partial.
                (Err(Error::Input(_)), Some(partial)) => return Ok(partial.clone()),
                (Err(e), _) => return Err(e),
            };
            let sc = &info.scenario;
            let health = crate::health::check(rt, &info).await;
            // "ok", or every problem: what `verify` would call path-down.
            let health_of = |node: &str| match health.node(node) {
                Some(h) if !h.ok() => h
                    .problems
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                Some(h) => match h.open_phase.as_deref() {
                    Some(p) => match crate::health::seal::isolated_for(p) {
                        Some(g) => format!("ok, forwards everything (isolating {g})"),
                        None => format!("ok, phase {p} open"),
                    },
                    None => "ok".into(),
                },
                None => "-".into(),
            };
            t.set_header([
                "node",
                "kind",
                "role",
                "segments and addresses",
                "rule set (sha256)",
                "state",
                "health",
            ]);
            for g in &sc.gateways {
                let addrs: Vec<String> = g
                    .attachments
                    .iter()
                    .map(|a| match a.interface.as_str() {
                        // Named otherwise than its segment: say how.
                        i if !i.is_empty() && i != a.segment => {
                            format!("{} {} ({i})", a.segment, a.address)
                        }
                        _ => format!("{} {}", a.segment, a.address),
                    })
                    .collect();
                let state = info
                    .node(&g.name)
                    .map_or("missing".into(), |n| n.status.clone());
                t.add_row([
                    g.name.clone(),
                    "gateway".into(),
                    "-".into(),
                    addrs.join(", "),
                    ruleset_cell(g.ruleset.as_ref(), health.node(&g.name)),
                    state,
                    health_of(&g.name),
                ]);
            }
            for h in &sc.hosts {
                let state = info
                    .node(&h.name)
                    .map_or("missing".into(), |n| n.status.clone());
                t.add_row([
                    h.name.clone(),
                    "host".into(),
                    h.role.clone(),
                    format!("{} {}", h.segment, h.address),
                    "-".into(),
                    state,
                    health_of(&h.name),
                ]);
            }
            let segs: Vec<String> = sc
                .segments
                .iter()
                .map(|s| {
                    format!(
                        "{} {}{}",
                        s.name,
                        s.subnet,
                        if s.transit { " (transit)" } else { "" }
                    )
                })
                .collect();
            let mut out = format!(
                "lab {name}: {} ({})\nsegments: {}\n{t}{}",
                sc.name,
                sc.title,
                segs.join(", "),
                partial.map(|p| format!("\n{p}")).unwrap_or_default()
            );
            for (g, p) in health.open_phases() {
                let what = match crate::health::seal::isolated_for(p) {
                    Some(iso) => format!(
                        "{g} forwards everything for an isolated verify of {iso} \
                         (an interrupted `verify --isolate`?)"
                    ),
                    None => format!("phase {p} is open on {g} (an interrupted `verify --phase`?)"),
                };
                out.push_str(&format!(
                    "\n{what}; the next `seglab verify {name}` puts its own rule set back"
                ));
            }
            return Ok(out);
        }
    }
    Ok(t.to_string())
}

/// A gateway's rule file, its hash, and whether the node still runs what
/// seglab sealed there: `gw.nft 1a2b3c4d5e6f, in place`.
fn ruleset_cell(
    rules: Option<&crate::scenario::RuleFile>,
    health: Option<&crate::health::NodeHealth>,
) -> String {
    use crate::health::Problem;
    let file = rules.map_or("(none)".to_string(), |r| {
        format!("{} {}", r.file, crate::lab::apply::short_hash(&r.text))
    });
    let state = match health {
        None => "-".to_string(),
        Some(h) if h.problems.contains(&Problem::RulesetChanged) => {
            "changed behind seglab's back".into()
        }
        Some(h) if h.problems.contains(&Problem::LostRuleset) => "lost (restarted?)".into(),
        Some(h) if !h.running() => "-".into(),
        Some(h) => match h.open_phase.as_deref() {
            Some(p) => match crate::health::seal::isolated_for(p) {
                Some(g) => format!("forwards everything (isolating {g})"),
                None => format!("phase {p} open"),
            },
            None => "in place".into(),
        },
    };
    format!("{file}, {state}")
}

#[cfg(test)]
mod tests {
    use super::ruleset_cell;
    use crate::health::{NodeHealth, Problem};
    use crate::node_contract::NodeKind;
    use crate::test_support::rule_file;

    #[test]
    fn the_rule_set_cell_names_the_file_its_hash_and_whether_it_is_in_place() {
        let rules = rule_file("gw.nft", "");
        let mut h = NodeHealth {
            name: "gw".into(),
            kind: NodeKind::Gateway,
            problems: Vec::new(),
            open_phase: None,
            reached: None,
            found: None,
        };
        assert_eq!(
            ruleset_cell(Some(&rules), Some(&h)),
            "gw.nft e3b0c44298fc, in place"
        );
        h.open_phase = Some("push-install".into());
        assert!(ruleset_cell(Some(&rules), Some(&h)).ends_with(", phase push-install open"));
        h.problems.push(Problem::RulesetChanged);
        assert!(ruleset_cell(Some(&rules), Some(&h)).ends_with(", changed behind seglab's back"));
        assert_eq!(ruleset_cell(None, None), "(none), -");
    }
}
