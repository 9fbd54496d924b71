//! Explanations of the failing cells of a round: the traced nodes their
//! probes crossed are asked for their rule sets (`nft -a list ruleset`,
//! whose handles name the rules the trace events point to), each rule is
//! matched to the file and line it came from (the gateway's own file, then
//! the open phase's), and each cell's walks become its [`Explanation`].

use super::{phases, ProbeResult, VerifyOptions};
use crate::error::{Error, Result};
use crate::health::LabHealth;
use crate::plan::{self, Plan};
use crate::ports::PortKey;
use crate::rulesource;
use crate::runtime::{LabBackend, LabInfo};
use crate::scenario::{RuleFile, Scenario};
use crate::trace::evidence::{NodeFacts, NodeWalk};
use crate::trace::explain::{explain, policy_key, Explanation, NamedRule, RuleBook, Subject};
use std::collections::{BTreeMap, BTreeSet};

/// The files loaded in gateway `gw` now, in load order: its own rule set,
/// then the rules of the phase its seal says is open.
fn loaded_files<'a>(sc: &'a Scenario, health: &LabHealth, gw: &str) -> Vec<&'a RuleFile> {
    let mut files: Vec<&RuleFile> = sc
        .gateway(gw)
        .and_then(|g| g.ruleset.as_ref())
        .into_iter()
        .collect();
    let open = health.node(gw).and_then(|h| h.open_phase.as_deref());
    if let Some(p) = open.and_then(|p| sc.phase(p)) {
        files.extend(
            p.rulesets
                .iter()
                .filter(|r| r.gateway == gw)
                .map(|r| &r.open),
        );
    }
    files
}

/// The named rules of `node`, from its listing now.
async fn rules_of<B: LabBackend>(
    b: &B,
    sc: &Scenario,
    info: &LabInfo,
    health: &LabHealth,
    node: &str,
) -> Option<BTreeMap<(String, String, u64), NamedRule>> {
    let reached = info.node(node)?.node.as_ref()?;
    let out = b
        .run(reached, "nft", &["-a", "list", "ruleset"], None)
        .await
        .map_err(|e| tracing::debug!("cannot list the rules of {node}: {e}"))
        .ok()?;
    let listing = rulesource::parse_listing(&String::from_utf8_lossy(&out.stdout))
        .map_err(|e| tracing::debug!("cannot read the rules of {node}: {e}"))
        .ok()?;
    let files = loaded_files(sc, health, node);
    let sources = rulesource::locate(&listing, &files);
    let policies = rulesource::locate_policies(&listing, &files)
        .into_iter()
        .map(|(c, s)| {
            let named = NamedRule {
                text: s.rule.clone().unwrap_or_default(),
                source: Some(format!("{}:{}", s.file, s.line)),
            };
            (policy_key(&c.family, &c.table, &c.chain), named)
        });
    Some(
        listing
            .rules
            .iter()
            .map(|(key, rule)| {
                let source = sources.get(key);
                (
                    (key.family.clone(), key.table.clone(), key.handle),
                    NamedRule {
                        // An iptables-save line is told as written.
                        text: source
                            .and_then(|s| s.rule.clone())
                            .unwrap_or_else(|| rule.text.clone()),
                        source: source.map(|s| format!("{}:{}", s.file, s.line)),
                    },
                )
            })
            .chain(policies)
            .collect(),
    )
}

/// One failing cell to explain.
pub(super) struct Failing<'a> {
    pub id: usize,
    pub subject: Subject<'a>,
    pub walks: &'a [NodeWalk],
}

/// Explains every cell of `cells`, by id.
pub(super) async fn explain_cells<B: LabBackend>(
    b: &B,
    sc: &Scenario,
    info: &LabInfo,
    health: &LabHealth,
    cells: &[Failing<'_>],
) -> BTreeMap<usize, Explanation> {
    if cells.is_empty() {
        return BTreeMap::new();
    }
    // Only the nodes whose rules (or policies: an iptables-save dump wrote
    // them on a line of their own) a cell names are listed.
    let named: BTreeSet<&str> = cells
        .iter()
        .flat_map(|c| c.walks.iter())
        .filter(|w| {
            w.walk
                .decisions
                .iter()
                .any(|d| d.handle.is_some() || d.verdict != "continue")
        })
        .map(|w| w.node.as_str())
        .collect();
    let listed = futures_util::future::join_all(
        named
            .iter()
            .map(|n| async move { (n.to_string(), rules_of(b, sc, info, health, n).await) }),
    )
    .await;
    let book: RuleBook = listed
        .into_iter()
        .filter_map(|(n, r)| Some((n, r?)))
        .collect();
    let facts: BTreeMap<String, NodeFacts> = health
        .nodes
        .iter()
        .filter_map(|(n, h)| Some((n.clone(), h.found.as_ref()?.trace_facts())))
        .collect();
    cells
        .iter()
        .map(|c| (c.id, explain(sc, c.subject, c.walks, &facts, &book)))
        .collect()
}

/// `seglab explain`: one cell, probed and explained.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CellReport {
    pub lab: String,
    pub scenario: String,
    /// `base` or the phase.
    pub phase: String,
    #[serde(flatten)]
    pub result: ProbeResult,
    /// Why the plan expects what it does: `flow 5`, `no flow`, ...
    pub reason: String,
    /// The title of the flow that permits the cell.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flow_title: Option<String>,
}

impl CellReport {
    pub fn to_text(&self) -> String {
        let r = &self.result;
        let mut out = format!(
            "{} -> {} {}/{} in lab {} ({}, {})\n",
            r.src, r.dst, r.proto, r.port, self.lab, self.scenario, self.phase
        );
        let detail = r
            .responder
            .as_ref()
            .map(|who| format!(", answered by {who}"))
            .or_else(|| r.detail.as_ref().map(|d| format!(" ({d})")))
            .unwrap_or_default();
        out.push_str(&format!(
            "observed: {}{detail}, in {:.1} ms\n",
            r.observed, r.elapsed_ms
        ));
        let flow = match (&r.flow, &self.flow_title) {
            (Some(f), Some(t)) => format!(", flow {f}: {t}"),
            _ => format!(" ({})", self.reason),
        };
        out.push_str(&format!("expected: {}{flow}\n", r.expected.as_str()));
        out.push_str(&format!("verdict:  {}\n", r.verdict.as_str()));
        match &r.explain {
            Some(e) => {
                out.push_str("why:      ");
                let text = e.to_text("");
                if e.path.is_empty() {
                    // Nothing traced on the way: the sentence says so.
                    out.push_str(&text);
                } else {
                    out.push_str(&text.replacen('\n', "\npath:\n", 1));
                }
            }
            None => out.push_str("why:      no trace of this probe (tracing off, or not probed)\n"),
        }
        out
    }
}

/// A host of the lab named by its name or its address.
fn host_named<'a>(sc: &'a Scenario, what: &str, arg: &str) -> Result<&'a crate::scenario::Host> {
    sc.hosts
        .iter()
        .find(|h| h.name == arg || h.address.to_string() == arg)
        .ok_or_else(|| {
            let known: Vec<String> = sc
                .hosts
                .iter()
                .map(|h| format!("{} ({})", h.name, h.address))
                .collect();
            // Never an address outside the lab: seglab probes lab hosts only.
            Error::Input(format!(
                "{what} `{arg}` is not a host of the lab (hosts: {})",
                known.join(", ")
            ))
        })
}

/// Probes one cell (from `src` to `dst` on `key`, host names or
/// addresses), with `phase` open if given, and explains it whatever its
/// verdict.
pub async fn explain_cell<B: LabBackend>(
    b: &B,
    lab: &str,
    phase: Option<&str>,
    src: &str,
    dst: &str,
    key: PortKey,
    opts: VerifyOptions,
) -> Result<CellReport> {
    let info = b.find_lab(lab).await?;
    let sc = &info.scenario;
    let (src, dst) = (host_named(sc, "SRC", src)?, host_named(sc, "DST", dst)?);
    if src.name == dst.name {
        return Err(Error::Input(format!(
            "SRC and DST are the same host ({})",
            src.name
        )));
    }
    let flows = plan::flows_in(sc, phase)?;
    let cell = plan::cell(&flows, src, dst, key);
    let one = Plan {
        scenario: sc.name.clone(),
        phase: phase.map(str::to_string),
        ports: vec![key],
        cells: vec![cell.clone()],
    };
    // Only the cell's two ends and the gateways are looked at.
    let ends = [src.name.as_str(), dst.name.as_str()];
    let start = phases::start(b, info.clone(), Some(&ends)).await?;
    let label = phase.unwrap_or("base");
    let report = match phase {
        None => {
            let first = start.checked.map(|h| (start.info.clone(), h));
            super::verify_cells(b, lab, sc, &one, label, opts, true, first).await?
        }
        Some(p) => {
            let opened_on = phases::open_phase(b, &info, p, None).await?;
            let report = super::verify_cells(b, lab, sc, &one, label, opts, true, None).await;
            phases::close_on(b, &info, &opened_on, Some(p)).await?;
            report?
        }
    };
    let result = report
        .results
        .into_iter()
        .next()
        .expect("one cell, one result");
    let flow_title = cell
        .flow
        .and_then(|n| flows.iter().find(|f| f.flow == n).map(|f| f.title.clone()));
    Ok(CellReport {
        lab: lab.to_string(),
        scenario: sc.name.clone(),
        phase: label.to_string(),
        result,
        reason: cell.reason,
        flow_title,
    })
}
