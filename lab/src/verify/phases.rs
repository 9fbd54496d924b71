//! Phases: opening a phase's rule files on its gateways, verifying, and
//! closing it again, recorded in each gateway's seal so that a run killed
//! mid-phase is found and undone by the next.

use super::{isolate, verify_from, verify_plan, Report, VerifyOptions};
use crate::error::{Error, Result};
use crate::health::{self, LabHealth};
use crate::lab;
use crate::plan::plan;
use crate::runtime::{LabBackend, LabInfo, NodeRef};
use crate::scenario::Scenario;

/// Puts every gateway that a phase touches back on its own rule set, e.g.
/// after `verify --phase` was interrupted with the phase open.
pub async fn reset_phase<B: LabBackend>(b: &B, lab_name: &str, phase: &str) -> Result<()> {
    let info = b.find_lab(lab_name).await?;
    let Some(ph) = info.scenario.phase(phase) else {
        return Ok(());
    };
    let gateways: Vec<&str> = ph.rulesets.iter().map(|r| r.gateway.as_str()).collect();
    close_on(b, &info, &gateways, None).await
}

/// Loads a gateway's own rule set from scratch (and seals it).
pub(super) async fn reload_base<B: LabBackend>(
    b: &B,
    sc: &Scenario,
    lab: &str,
    node: &NodeRef,
) -> Result<()> {
    let base = sc.gateway(&node.name).and_then(|g| g.ruleset.as_ref());
    lab::load_gateway_ruleset(b, sc, lab, node, base).await
}

/// Closes a phase on every gateway in `gateways`: with the close file that
/// `phase` gives the gateway, if any, else by reloading its own rule set.
/// A gateway that fails does not stop the others from closing; the first
/// error is returned once all were tried.
pub(crate) async fn close_on<B: LabBackend>(
    b: &B,
    info: &LabInfo,
    gateways: &[&str],
    phase: Option<&str>,
) -> Result<()> {
    let sc = &info.scenario;
    let close_file = |g: &str| {
        sc.phase(phase?)?
            .rulesets
            .iter()
            .find(|r| r.gateway == g)?
            .close
            .as_ref()
    };
    let mut first_error = None;
    for g in gateways {
        let step = async {
            let node = info.running(g)?;
            match close_file(g) {
                Some(close) => {
                    lab::apply_file(b, sc, &info.name, node, close).await?;
                    health::seal_node(b, node, None).await?;
                }
                None => reload_base(b, sc, &info.name, node).await?,
            }
            Ok::<_, Error>(())
        };
        if let Err(e) = step.await {
            tracing::warn!("closing the phase on {g} failed: {e}");
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// What a run starts from: the lab, the notes of what was put back first,
/// and, when nothing was, the first look at every node (the first probing
/// round of the base policy starts from it instead of looking again).
pub(crate) struct Start {
    pub info: LabInfo,
    pub notes: Vec<String>,
    pub checked: Option<LabHealth>,
}

/// Looks at every node of the lab. Gateways that a run killed mid-phase
/// (or mid-isolation) left with the phase open (recorded in their seal) are
/// put back on their own rule set first; the notes say so in the report.
/// With `hosts`, only those hosts are looked at (and every gateway).
pub(crate) async fn start<B: LabBackend>(
    b: &B,
    info: LabInfo,
    hosts: Option<&[&str]>,
) -> Result<Start> {
    let checked = match hosts {
        None => health::check(b, &info).await,
        Some(h) => health::check_gateways_and(b, &info, h).await,
    };
    let open: Vec<(String, String)> = checked
        .open_phases()
        .into_iter()
        .map(|(g, p)| (g.to_string(), p.to_string()))
        .collect();
    if open.is_empty() {
        return Ok(Start {
            info,
            notes: Vec::new(),
            checked: Some(checked),
        });
    }
    let gateways: Vec<&str> = open.iter().map(|(g, _)| g.as_str()).collect();
    close_on(b, &info, &gateways, None).await?;
    let notes = open
        .iter()
        .map(|(g, p)| {
            format!(
                "{}; its own rule set was put back before this run",
                health::seal::describe_left_open(g, p)
            )
        })
        .collect::<Vec<_>>();
    for n in &notes {
        tracing::warn!("{n}");
    }
    Ok(Start {
        info,
        notes,
        checked: None,
    })
}

/// Opens `phase` on every gateway it loads rules into, each sealed as open
/// before anything of the phase is loaded (so that a kill at any moment
/// leaves the phase to be found). If a gateway refuses, the ones already
/// opened are put back. With `only`, the phase opens on that gateway alone
/// (an isolated verify). Returns the gateways opened, for [`close_on`].
pub(crate) async fn open_phase<'a, B: LabBackend>(
    b: &B,
    info: &'a LabInfo,
    phase: &str,
    only: Option<&str>,
) -> Result<Vec<&'a str>> {
    let sc = &info.scenario;
    let Some(ph) = sc.phase(phase) else {
        return Ok(Vec::new());
    };
    let mut opened_on: Vec<&str> = Vec::new();
    for r in ph
        .rulesets
        .iter()
        .filter(|r| only.is_none_or(|gw| r.gateway == gw))
    {
        let step = async {
            let node = info.running(&r.gateway)?;
            health::seal_node(b, node, Some(phase)).await?;
            lab::apply_file(b, sc, &info.name, node, &r.open).await?;
            health::seal_node(b, node, Some(phase)).await?;
            Ok::<_, Error>(())
        };
        if let Err(e) = step.await {
            opened_on.push(r.gateway.as_str());
            let _ = close_on(b, info, &opened_on, None).await;
            return Err(e);
        }
        opened_on.push(r.gateway.as_str());
    }
    Ok(opened_on)
}

/// `seglab verify`: the base policy, or a phase: open it, verify, close it,
/// and for a temporary phase verify again that the temporary flows closed.
/// A phase that is open is recorded in each gateway's seal, so that a run
/// killed before it could close the phase is found and undone by the next.
pub async fn verify_lab<B: LabBackend>(
    b: &B,
    lab_name: &str,
    phase: Option<&str>,
    opts: VerifyOptions,
) -> Result<Vec<Report>> {
    let Start {
        info,
        notes,
        checked,
    } = start(b, b.find_lab(lab_name).await?, None).await?;
    let mut reports = verify_phase(b, &info, phase, None, opts, checked).await?;
    reports[0].notes = notes;
    Ok(reports)
}

/// The base policy or a phase, as [`verify_lab`] verifies it, once any
/// leftovers are closed. With `isolated`, only that gateway opens the
/// phase and only the cells whose path crosses it are probed (see
/// [`super::isolate`]); the labels say so.
pub(super) async fn verify_phase<B: LabBackend>(
    b: &B,
    info: &LabInfo,
    phase: Option<&str>,
    isolated: Option<&str>,
    opts: VerifyOptions,
    checked: Option<LabHealth>,
) -> Result<Vec<Report>> {
    let (sc, lab_name) = (&info.scenario, info.name.as_str());
    let scoped = |p: crate::plan::Plan| match isolated {
        Some(gw) => isolate::crossing(sc, p, gw),
        None => p,
    };
    let label = |l: &str| isolate::label(l, isolated);
    let Some(phase) = phase else {
        let p = scoped(plan(sc, None)?);
        // Nothing changed since the first look: the round starts from it.
        let first = checked.map(|h| (info.clone(), h));
        let report = verify_from(b, lab_name, sc, &p, &label("base"), opts, first).await?;
        return Ok(vec![report]);
    };
    let p = scoped(plan(sc, Some(phase))?);
    let ph = sc.phase(phase).expect("plan checked the phase");
    let opened_on = open_phase(b, info, phase, isolated).await?;
    let opened = verify_plan(b, lab_name, sc, &p, &label(phase), opts).await;
    close_on(b, info, &opened_on, Some(phase)).await?;
    let mut reports = vec![opened?];
    if ph.temporary {
        let base = scoped(plan(sc, None)?);
        let closed = label(&format!("{phase} (closed)"));
        reports.push(verify_plan(b, lab_name, sc, &base, &closed, opts).await?);
    }
    Ok(reports)
}
