//! One probing round: every node on the cells' paths is looked at before
//! and after, the traced nodes are listened to, the probes run from each
//! source's namespace, and each probe gets its walks through the traced
//! nodes.

use super::VerifyOptions;
use crate::error::{Error, Result};
use crate::health::{self, LabHealth};
use crate::node_contract::Identity;
use crate::plan::{Cell, Plan};
use crate::probe::{Observation, Observed, ProbeTarget, Window};
use crate::runtime::{LabBackend, LabInfo, NodeRef, ProbeOptions, TraceHandle};
use crate::scenario::Scenario;
use crate::trace::evidence::{NodeWalk, TraceSink};
use crate::trace::explain::let_through;
use crate::trace::Evidence;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A probe's outcome before judgement.
#[derive(Debug, Clone)]
pub(super) struct Seen {
    pub(super) observed: Observed,
    pub(super) responder: Option<Identity>,
    pub(super) detail: Option<String>,
    pub(super) elapsed: Duration,
    /// The probe's packets as the traced nodes saw them.
    pub(super) walks: Vec<NodeWalk>,
}

impl From<Observation> for Seen {
    fn from(o: Observation) -> Seen {
        Seen {
            observed: o.observed,
            responder: o.responder,
            detail: o.detail,
            elapsed: o.elapsed,
            walks: Vec::new(),
        }
    }
}

fn not_probed(observed: Observed, why: String) -> Seen {
    Seen {
        observed,
        responder: None,
        detail: Some(why),
        elapsed: Duration::ZERO,
        walks: Vec::new(),
    }
}

/// Listens to every traced node of the lab that runs (gateways, and hosts
/// with a firewall) for one round. A node whose listener cannot start only
/// loses its evidence: its drops cost the timeout.
async fn start_tracing<B: LabBackend>(
    b: &B,
    sc: &Scenario,
    info: &LabInfo,
    health: &LabHealth,
) -> (Evidence, Vec<TraceHandle>) {
    let evidence = Evidence::new();
    let traced = sc.gateways.iter().map(|g| g.name.as_str()).chain(
        sc.hosts
            .iter()
            .filter(|h| h.firewall.is_some())
            .map(|h| h.name.as_str()),
    );
    let mut starts = Vec::new();
    for name in traced {
        let (Some(node), Some(facts)) = (
            info.node(name).and_then(|n| n.node.as_ref()),
            health
                .node(name)
                .and_then(|h| Some(h.found.as_ref()?.trace_facts())),
        ) else {
            continue;
        };
        evidence.add_node(name, facts);
        let sink: Arc<dyn TraceSink> = Arc::new(evidence.clone());
        starts.push(async move { (name, b.trace(node, sink).await) });
    }
    let mut handles = Vec::new();
    for (name, started) in futures_util::future::join_all(starts).await {
        match started {
            Ok(h) => handles.push(h),
            Err(e) => tracing::warn!("cannot trace {name}: {e}"),
        }
    }
    (evidence, handles)
}

/// Why a cell cannot be judged on the network: an end host that is not
/// running (`host-down`), or a broken node on its path (`path-down`).
fn unjudgeable(health: &LabHealth, sc: &Scenario, c: &Cell, when: &str) -> Option<Seen> {
    health
        .unjudgeable(sc, &c.src, &c.dst)
        .map(|(observed, why)| not_probed(observed, format!("{why}{when}")))
}

/// Probes the given cells (indices into `plan.cells`) once, all sources in
/// parallel. Every node on a cell's path is checked before and after: a
/// cell whose end host is not running is `host-down`, one whose path
/// crosses a broken node is `path-down`, and neither is ever probed in vain
/// or judged on silence.
pub(super) async fn probe_cells<B: LabBackend>(
    b: &B,
    lab: &str,
    sc: &Scenario,
    plan: &Plan,
    which: &[usize],
    opts: VerifyOptions,
    earlier: Option<(LabInfo, LabHealth)>,
) -> Result<(BTreeMap<usize, Seen>, (LabInfo, LabHealth))> {
    // Before anything is probed: a descriptor limit too low is said plainly.
    let round = Instant::now();
    let step = |what: &str| tracing::debug!("round: {what} at {:?}", round.elapsed());
    let window = Window::shared().map_err(|e| Error::Environment(e.to_string()))?;
    let window = &window;
    // A round right after another starts from that round's last look.
    let (info, before) = match earlier {
        Some(last) => last,
        None => {
            let info = b.find_lab(lab).await?;
            let health = health::check(b, &info).await;
            (info, health)
        }
    };
    let mut seen: BTreeMap<usize, Seen> = BTreeMap::new();
    let mut by_src: BTreeMap<&str, (&NodeRef, Vec<ProbeTarget>)> = BTreeMap::new();
    for &i in which {
        let c = &plan.cells[i];
        if let Some(s) = unjudgeable(&before, sc, c, "") {
            seen.insert(i, s);
            continue;
        }
        let Some(src_node) = info.node(&c.src).and_then(|n| n.node.as_ref()) else {
            seen.insert(
                i,
                not_probed(Observed::HostDown, format!("{} is not running", c.src)),
            );
            continue;
        };
        let dst = sc
            .host(&c.dst)
            .expect("plan hosts are scenario hosts")
            .address;
        by_src
            .entry(c.src.as_str())
            .or_insert((src_node, Vec::new()))
            .1
            .push(ProbeTarget {
                id: i,
                src: sc
                    .host(&c.src)
                    .expect("plan hosts are scenario hosts")
                    .address,
                dst,
                proto: c.proto,
                port: c.port,
            });
    }
    step("nodes checked");
    let (evidence, listeners) = if opts.trace && !by_src.is_empty() {
        let (e, l) = start_tracing(b, sc, &info, &before).await;
        (Some(e), l)
    } else {
        (None, Vec::new())
    };
    let probe_opts = ProbeOptions {
        timeout: opts.timeout,
        concurrency: opts.concurrency,
        evidence: evidence.clone(),
    };
    let probe_opts = &probe_opts;
    let runs = by_src.into_iter().map(|(src, (node, targets))| async move {
        let ids: Vec<usize> = targets.iter().map(|t| t.id).collect();
        match b.probe(node, targets, probe_opts.clone(), window).await {
            Ok(obs) => Ok(obs
                .into_iter()
                .map(|o| (o.id, Seen::from(o)))
                .collect::<Vec<_>>()),
            // The source vanished while we entered its namespace.
            Err(crate::netns::NetnsError::NotFound { .. }) => Ok(ids
                .into_iter()
                .map(|i| {
                    let why = format!("{src} stopped during the run");
                    (i, not_probed(Observed::HostDown, why))
                })
                .collect()),
            Err(e) => Err(Error::from(e)),
        }
    });
    step("listening");
    for r in futures_util::future::join_all(runs).await {
        seen.extend(r?);
    }
    step("probed");
    // Every event of the round is in: each probe gets its walks.
    futures_util::future::join_all(listeners.iter().map(TraceHandle::sync)).await;
    drop(listeners);
    if let Some(evidence) = &evidence {
        for (&i, s) in seen.iter_mut() {
            s.walks = evidence.walks(i);
            // Silence after the network let the probe through is no
            // block: a leak whose answer is merely late (a loaded
            // machine) must never pass as blocked.
            let c = &plan.cells[i];
            if s.observed == Observed::Blocked {
                if let Some(nodes) = let_through(sc, &c.src, &c.dst, &s.walks) {
                    s.observed = Observed::Error;
                    s.detail = Some(format!(
                        "{} let it through, but no answer came within {:?}",
                        nodes.join(", "),
                        opts.timeout
                    ));
                }
            }
        }
    }
    // A node that broke during the run makes its cells' answers (and above
    // all their silence) meaningless.
    step("trace read");
    let info_after = b.find_lab(lab).await?;
    let mut after = health::check_again(b, &info_after, &before).await;
    after.note_restarts(&before);
    step("nodes checked again");
    for (&i, s) in seen.iter_mut() {
        if matches!(s.observed, Observed::HostDown | Observed::PathDown) {
            continue;
        }
        if let Some(broken) = unjudgeable(&after, sc, &plan.cells[i], " (during the run)") {
            *s = broken;
        }
    }
    Ok((seen, (info_after, after)))
}
