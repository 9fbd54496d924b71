//! Judging one gateway on its own (`verify --isolate GW`, `test
//! --each-gateway`). In the default mode a cell is blocked when any gateway
//! on its path drops it, so a gateway that forwards everything hides behind
//! a sound one further along. Here every *other* gateway forwards
//! everything for the duration, and only the cells whose path crosses GW
//! are probed: each verdict is GW's alone.
//!
//! The other gateways are cleared (their tables deleted, the platform's and
//! seglab's own kept) and sealed with an isolation mark before anything is
//! changed, so that a run killed mid-isolation leaves the mark for the next
//! `verify` to find and undo (and for `status` to show). Afterwards, also
//! on failure and on an interrupt, each is put back on its own rule set and
//! the seal is read back to prove it.

use super::phases::{reload_base, start, verify_phase, Start};
use super::{Report, VerifyOptions};
use crate::error::{Error, Result};
use crate::health::{self, seal};
use crate::lab;
use crate::plan::{plan, Plan};
use crate::runtime::{LabBackend, LabInfo, NodeRef};
use crate::scenario::{topology, Scenario};

/// Whether a packet from host `src` to host `dst`, or its answer, crosses
/// gateway `gw`: the path each way is the topology's (see
/// [`topology::host_path`]), so an asymmetric route counts too.
pub fn crosses_gateway(sc: &Scenario, src: &str, dst: &str, gw: &str) -> bool {
    [(src, dst), (dst, src)]
        .iter()
        .any(|(from, to)| topology::host_path(sc, from, to).iter().any(|g| g == gw))
}

/// `plan` narrowed to the cells whose path crosses `gw`.
pub fn crossing(sc: &Scenario, mut plan: Plan, gw: &str) -> Plan {
    plan.cells
        .retain(|c| crosses_gateway(sc, &c.src, &c.dst, gw));
    plan
}

/// A report's label: `base` stays `base` in the default mode, and becomes
/// `isolate GW` (a phase `PHASE, isolate GW`) when GW is judged alone.
pub fn label(phase: &str, isolated: Option<&str>) -> String {
    match (phase, isolated) {
        (p, None) => p.to_string(),
        ("base", Some(gw)) => format!("isolate {gw}"),
        (p, Some(gw)) => format!("{p}, isolate {gw}"),
    }
}

/// `seglab verify LAB --isolate GW [--phase P]`: the base policy (or phase
/// `phase`, opened on GW alone) judged on GW's rule set alone. Every other
/// gateway is back on its own rule set when this returns, whatever it
/// returns.
pub async fn verify_isolated<B: LabBackend>(
    b: &B,
    lab_name: &str,
    gateway: &str,
    phase: Option<&str>,
    opts: VerifyOptions,
) -> Result<Vec<Report>> {
    let info = b.find_lab(lab_name).await?;
    let sc = &info.scenario;
    if sc.gateway(gateway).is_none() {
        let names: Vec<&str> = sc.gateways.iter().map(|g| g.name.as_str()).collect();
        return Err(Error::Input(format!(
            "--isolate {gateway}: lab {lab_name} (scenario {}) has no such gateway; its gateways: {}",
            sc.name,
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        )));
    }
    // An unknown phase is said before anything is changed.
    if let Some(p) = phase {
        plan(sc, Some(p))?;
    }
    let Start { info, notes, .. } = start(b, info, None).await?;
    let others = open_isolation(b, &info, gateway).await?;
    // The others change below: the first round looks again.
    let verified = verify_phase(b, &info, phase, Some(gateway), opts, None).await;
    let restored = restore(b, &info, &others).await;
    let mut reports = match (verified, restored) {
        (Ok(r), Ok(())) => r,
        (Err(e), restored) => {
            if let Err(r) = restored {
                tracing::warn!("{r}");
            }
            return Err(e);
        }
        (Ok(_), Err(e)) => return Err(e),
    };
    reports[0].notes = notes;
    Ok(reports)
}

/// Puts every gateway but `gateway` back on its own rule set, e.g. after
/// `verify --isolate` was interrupted. Every one is reloaded, marked or
/// not: an interrupt may come between any two steps.
pub async fn reset_isolation<B: LabBackend>(b: &B, lab_name: &str, gateway: &str) -> Result<()> {
    let info = b.find_lab(lab_name).await?;
    let others: Vec<Touched> = info
        .scenario
        .gateways
        .iter()
        .filter(|g| g.name != gateway)
        .filter_map(|g| info.node(&g.name)?.node.clone())
        .map(|node| Touched { node, digest: None })
        .collect();
    restore(b, &info, &others).await
}

/// A gateway cleared for an isolation, and the digest its seal had before.
struct Touched {
    node: NodeRef,
    digest: Option<String>,
}

/// Clears every running gateway but `gateway`, sealed with the isolation
/// mark before and after. A gateway that is not running is left alone: the
/// health check makes its cells path-down. If one cannot be cleared, those
/// already touched are put back and the error returned.
async fn open_isolation<B: LabBackend>(
    b: &B,
    info: &LabInfo,
    gateway: &str,
) -> Result<Vec<Touched>> {
    let mark = seal::isolation_mark(gateway);
    let mut touched = Vec::new();
    for g in info.scenario.gateways.iter().filter(|g| g.name != gateway) {
        let Some(node) = info.node(&g.name).and_then(|n| n.node.clone()) else {
            tracing::warn!("{} is not running: its cells will be path-down", g.name);
            continue;
        };
        let step = async {
            let before = health::listing(b, &node).await?;
            let digest = seal::read(&before).ok().flatten().map(|s| s.digest);
            // Marked before anything changes: a kill at any moment after
            // this leaves the isolation to be found.
            health::seal_node(b, &node, Some(&mark)).await?;
            clear(b, &node).await?;
            health::seal_node(b, &node, Some(&mark)).await?;
            Ok::<_, Error>(digest)
        };
        let result = step.await;
        let digest = result.as_ref().ok().cloned().flatten();
        touched.push(Touched {
            node: node.clone(),
            digest,
        });
        if let Err(e) = result {
            if let Err(r) = restore(b, info, &touched).await {
                tracing::warn!("{r}");
            }
            return Err(e);
        }
    }
    Ok(touched)
}

/// Deletes the gateway's tables but the platform's and seglab's own (the
/// seal): with no table left, it forwards everything.
async fn clear<B: LabBackend>(b: &B, node: &NodeRef) -> Result<()> {
    let listing = health::listing(b, node).await?;
    let tables = seal::tables_to_clear(&listing, b.platform_chain_prefix())
        .map_err(|e| Error::Environment(format!("cannot clear {}: {e}", node.name)))?;
    let cmds: String = tables
        .iter()
        .map(|t| format!("delete table {t}\n"))
        .collect();
    if !cmds.is_empty() {
        lab::nft_apply(b, node, &cmds).await?;
    }
    Ok(())
}

/// Reloads each touched gateway's own rule set and reads its seal back: it
/// must seal what is loaded, record no phase, and (where known) have the
/// digest it had before. A gateway that fails does not stop the others;
/// the first error is returned once all were tried.
async fn restore<B: LabBackend>(b: &B, info: &LabInfo, touched: &[Touched]) -> Result<()> {
    let mut first_error = None;
    for t in touched {
        let step = async {
            reload_base(b, &info.scenario, &info.name, &t.node).await?;
            check_restored(b, t).await
        };
        if let Err(e) = step.await {
            tracing::warn!(
                "putting {} back on its own rule set failed: {e}",
                t.node.name
            );
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

async fn check_restored<B: LabBackend>(b: &B, t: &Touched) -> Result<()> {
    let name = &t.node.name;
    let listing = health::listing(b, &t.node).await?;
    let unreadable = |e: seal::ListingError| Error::Environment(format!("{name}: {e}"));
    let now = seal::digest(&listing, b.platform_chain_prefix()).map_err(unreadable)?;
    let found = seal::read(&listing).map_err(unreadable)?;
    let why = match (&found, &t.digest) {
        (None, _) => Some("it has no seal".to_string()),
        (Some(s), _) if s.phase.is_some() => Some(format!(
            "its seal still records {}",
            s.phase.as_deref().unwrap_or_default()
        )),
        (Some(s), _) if s.digest != now => Some("its seal does not match its rules".into()),
        (_, Some(before)) if *before != now => Some(format!(
            "its rule set (digest {now}) is not the one it had before (digest {before})"
        )),
        _ => None,
    };
    match why {
        Some(why) => Err(Error::Environment(format!(
            "{name} was not put back on its own rule set after the isolated verify: {why}"
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_name_the_isolated_gateway() {
        assert_eq!(label("base", None), "base");
        assert_eq!(label("base", Some("gw-a")), "isolate gw-a");
        assert_eq!(
            label("p (closed)", Some("gw-a")),
            "p (closed), isolate gw-a"
        );
    }

    #[test]
    fn the_cells_crossing_a_gateway_are_those_whose_path_does() {
        let sc = crate::scenario::load("scenario-4").unwrap();
        let all = plan(&sc, None).unwrap();
        let seg = |h: &str| sc.host(h).unwrap().segment.clone();
        for gw in sc.gateways.iter().map(|g| g.name.as_str()) {
            let narrowed = crossing(&sc, all.clone(), gw);
            assert!(!narrowed.cells.is_empty(), "{gw}");
            for c in &all.cells {
                let there = topology::path(&sc, &seg(&c.src), &seg(&c.dst)).unwrap();
                let back = topology::path(&sc, &seg(&c.dst), &seg(&c.src)).unwrap();
                let want = there.iter().chain(&back).any(|g| g == gw);
                let kept = narrowed.cells.iter().any(|k| {
                    k.src == c.src && k.dst == c.dst && k.port == c.port && k.proto == c.proto
                });
                assert_eq!(kept, want, "{gw}: {} > {}", c.src, c.dst);
            }
        }
        // Inside one segment no gateway is crossed.
        assert!(!crosses_gateway(&sc, "ams", "admin", "gw-mgmt"));
        assert!(crosses_gateway(&sc, "ams", "offsite-sftp", "gw-edge"));
        assert!(!crosses_gateway(&sc, "ams", "agent-1", "gw-edge"));
    }
}
