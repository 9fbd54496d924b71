//! Lab segments as Docker bridge networks, placed on free subnets.

use super::engine::{Engine, NetworkSpec, RuntimeError};
use super::nodes::{container_name, labels, seed_of, LABEL_SEGMENT};
use crate::addressing::{choose_subnets, default_pool, relocate};
use crate::error::{Error, Result};
use crate::scenario::Scenario;
use futures_util::{stream, StreamExt};
use std::collections::BTreeMap;

/// Networks created at once.
const PARALLEL: usize = 8;

/// Creates the lab's networks, moving the lab to free subnets when the
/// scenario's are taken (also when another lab takes them at the same
/// moment: the engine then refuses, and we choose again).
pub(super) async fn create_networks(
    rt: &Engine,
    lab: &str,
    sc: &Scenario,
) -> Result<(Scenario, BTreeMap<String, String>)> {
    let pins = crate::pinned::hard_coded(sc);
    if !pins.is_empty() {
        return create_fixed(rt, lab, sc, &pins).await;
    }
    let mut last_conflict = None;
    for attempt in 0..6u64 {
        let used = rt.used_subnets().await?;
        let seed = seed_of(lab).wrapping_add(attempt.wrapping_mul(7919));
        let subnets =
            choose_subnets(sc, &used, default_pool(), seed, attempt > 0).ok_or_else(|| {
                Error::Environment(format!(
                    "no free subnets left in {} for lab {lab}",
                    default_pool()
                ))
            })?;
        let placed = relocate(sc, &subnets);
        let (ids, conflict) = create_all(rt, lab, sc, &placed).await?;
        match conflict {
            None => {
                if let Some(notice) = crate::addressing::moved_notice(lab, sc, &placed) {
                    tracing::warn!("{notice}");
                }
                return Ok((placed, ids));
            }
            Some(e) => {
                tracing::debug!(attempt, "subnet taken meanwhile, choosing again: {e}");
                for id in ids.values() {
                    rt.remove_network(id).await?;
                }
                last_conflict = Some(e);
            }
        }
    }
    Err(last_conflict
        .map(Error::from)
        .unwrap_or_else(|| Error::Environment("could not place the lab's networks".into())))
}

/// Creates a network per segment of `placed`: the ids made, and a subnet
/// conflict if the engine refused one (any other error ends it).
async fn create_all(
    rt: &Engine,
    lab: &str,
    sc: &Scenario,
    placed: &Scenario,
) -> Result<(BTreeMap<String, String>, Option<RuntimeError>)> {
    let specs: Vec<NetworkSpec> = placed
        .segments
        .iter()
        .map(|s| NetworkSpec {
            name: container_name(lab, &s.name),
            subnet: s.subnet,
            docker_gateway: s.reserved,
            labels: labels(lab, sc, &[(LABEL_SEGMENT, &s.name)]),
        })
        .collect();
    let results: Vec<(String, std::result::Result<String, RuntimeError>)> =
        stream::iter(specs.into_iter().zip(placed.segments.iter()))
            .map(|(spec, seg)| async move { (seg.name.clone(), rt.create_network(&spec).await) })
            .buffer_unordered(PARALLEL)
            .collect()
            .await;
    let mut ids = BTreeMap::new();
    let mut conflict = None;
    let mut other = None;
    for (seg, r) in results {
        match r {
            Ok(id) => {
                ids.insert(seg, id);
            }
            Err(e @ RuntimeError::SubnetConflict { .. }) => conflict = Some(e),
            Err(e) => other = Some(e),
        }
    }
    if let Some(e) = other {
        return Err(e.into());
    }
    Ok((ids, conflict))
}

/// A lab whose rule sets hard-code its addresses stays on the scenario's
/// subnets: refused (bad input, nothing made) when one is taken, by the
/// machine's routes, another lab or another network, and also when another
/// `up` takes one at the same moment.
async fn create_fixed(
    rt: &Engine,
    lab: &str,
    sc: &Scenario,
    pins: &[crate::pinned::Pin],
) -> Result<(Scenario, BTreeMap<String, String>)> {
    let refuse = |taken: &[crate::pinned::Taken]| {
        let found = crate::pinned::collisions(sc, taken);
        (!found.is_empty()).then(|| Error::Input(crate::pinned::refusal(lab, pins, &found)))
    };
    if let Some(e) = refuse(&super::taken::taken(rt, lab).await?) {
        return Err(e);
    }
    let (ids, conflict) = create_all(rt, lab, sc, sc).await?;
    let Some(conflict) = conflict else {
        return Ok((sc.clone(), ids));
    };
    for id in ids.values() {
        rt.remove_network(id).await?;
    }
    let taken = super::taken::taken(rt, lab).await?;
    Err(refuse(&taken).unwrap_or_else(|| conflict.into()))
}
