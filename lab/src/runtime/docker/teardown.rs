//! Removing a lab: every container and network carrying its label.

use super::engine::{ContainerInfo, Engine};
use crate::error::{Error, Result};
use futures_util::{stream, StreamExt};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::nodes::LABEL_LAB;

/// Removals at once.
const PARALLEL: usize = 8;

/// Removes every container and network of a lab, by label. Safe to repeat
/// and to run on a half-built lab; the listing is repeated until it comes
/// back empty, for objects the engine was still making.
pub(super) async fn down(rt: &Engine, lab: &str) -> Result<usize> {
    let filter = [(LABEL_LAB, lab)];
    let mut removed = remove_by_label(rt, &filter).await?;
    for _ in 0..5 {
        let n = remove_by_label(rt, &filter).await?;
        if n == 0 {
            break;
        }
        removed += n;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(removed)
}

/// Splits containers into rounds such that no two of a round share a
/// network. The engine keeps a per-network endpoint count that concurrent
/// endpoint changes on one network can leave wrong, after which the network
/// cannot be removed until dockerd restarts (moby/moby#42119); work on
/// different networks still runs in parallel. Greedy colouring, the most
/// connected first.
fn disjoint_rounds<T>(items: &[T], networks: impl Fn(&T) -> Vec<String>) -> Vec<Vec<&T>> {
    let mut order: Vec<&T> = items.iter().collect();
    order.sort_by_key(|t| std::cmp::Reverse(networks(t).len()));
    let mut rounds: Vec<Vec<&T>> = Vec::new();
    for t in order {
        let mine = networks(t);
        let shares = |r: &Vec<&T>| {
            r.iter()
                .any(|o| networks(o).iter().any(|n| mine.contains(n)))
        };
        match rounds.iter_mut().find(|r| !shares(r)) {
            Some(r) => r.push(t),
            None => rounds.push(vec![t]),
        }
    }
    rounds
}

/// Removes containers, and each network as soon as its last container is
/// gone: the engine handles much of both one at a time, so overlapping
/// them is what shortens `down`.
pub(super) async fn remove_by_label(rt: &Engine, filter: &[(&str, &str)]) -> Result<usize> {
    let containers = rt.containers(filter).await?;
    let networks = rt.networks(filter).await?;
    let former: Arc<Vec<String>> = Arc::new(containers.iter().map(|c| c.name.clone()).collect());
    let mut left: HashMap<&str, usize> = networks
        .iter()
        .map(|n| {
            let attached = containers
                .iter()
                .filter(|c| c.addresses.iter().any(|(net, _)| *net == n.name))
                .count();
            (n.name.as_str(), attached)
        })
        .collect();
    let mut removing_networks = tokio::task::JoinSet::new();
    let mut remove_network = |id: &str| {
        let (rt, id, former) = (rt.clone(), id.to_string(), Arc::clone(&former));
        removing_networks.spawn(async move { rt.remove_network_leaving(&id, &former).await });
    };
    for n in networks.iter().filter(|n| left[n.name.as_str()] == 0) {
        remove_network(&n.id);
    }
    let attached = |c: &ContainerInfo| c.addresses.iter().map(|(n, _)| n.clone()).collect();
    for round in disjoint_rounds(&containers, attached) {
        let mut removals = stream::iter(round)
            .map(|c| async move { rt.remove_container(&c.id).await.map(|()| c) })
            .buffer_unordered(PARALLEL);
        while let Some(c) = removals.next().await {
            for (net, _) in &c?.addresses {
                if let Some(k) = left.get_mut(net.as_str()) {
                    *k -= 1;
                    if *k == 0 {
                        let n = networks.iter().find(|n| n.name == *net).expect("counted");
                        remove_network(&n.id);
                    }
                }
            }
        }
    }
    // Networks whose attachments the engine did not report are removed last.
    for n in networks.iter().filter(|n| left[n.name.as_str()] > 0) {
        remove_network(&n.id);
    }
    while let Some(r) = removing_networks.join_next().await {
        r.map_err(|e| Error::Environment(format!("network removal stopped: {e}")))??;
    }
    Ok(containers.len() + networks.len())
}

#[cfg(test)]
mod tests {
    use super::disjoint_rounds;

    #[test]
    fn rounds_never_put_two_containers_of_one_network_together() {
        // scenario-4's attachments: gateways share the transit network.
        let nodes: Vec<(&str, Vec<String>)> = [
            ("gw-mgmt", vec!["mgmt", "transit"]),
            ("gw-sensitive", vec!["sensitive", "transit"]),
            ("gw-edge", vec!["transit", "wan"]),
            ("gw-offsite", vec!["offsite", "wan"]),
            ("ams", vec!["mgmt"]),
            ("admin", vec!["mgmt"]),
            ("agent-1", vec!["sensitive"]),
            ("agent-2", vec!["sensitive"]),
            ("storage", vec!["sensitive"]),
            ("offsite-sftp", vec!["offsite"]),
        ]
        .into_iter()
        .map(|(n, nets)| (n, nets.into_iter().map(String::from).collect()))
        .collect();
        let rounds = disjoint_rounds(&nodes, |(_, nets)| nets.clone());
        assert_eq!(rounds.iter().map(Vec::len).sum::<usize>(), nodes.len());
        for r in &rounds {
            for (i, a) in r.iter().enumerate() {
                for b in &r[i + 1..] {
                    assert!(
                        !a.1.iter().any(|n| b.1.contains(n)),
                        "{} and {} share",
                        a.0,
                        b.0
                    );
                }
            }
        }
        // Four nodes share `sensitive`: at least four rounds, and no more
        // than needed here.
        assert_eq!(rounds.len(), 4);
    }
}
