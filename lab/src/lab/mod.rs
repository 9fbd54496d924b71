//! A live lab: a scenario brought up on the Docker engine as networks,
//! gateway containers and host containers, configured from the host inside
//! each container's network namespace; and its removal, always by label.
//!
//! Everything seglab creates carries `io.seglab.lab=<lab>`, so `down` finds
//! it whatever state `up` reached; `up` tears down on any failure itself.

mod claim;
mod inventory;
mod overrides;

pub use claim::LABEL_CLAIM;
pub use inventory::{find_lab, lab_summary, list_labs, LabInfo, LabSummary, NodeInfo};
pub use overrides::{apply_overrides, fits, RulesetOverride};

use crate::addressing::{choose_subnets, default_pool, relocate};
use crate::cancel::Cancel;
use crate::error::{Error, Result};
use crate::health;
use crate::netns::{self, NetnsError};
use crate::nft;
use crate::node_contract::{
    greeting_for, NodeConfig, NodeKind, ServiceSpec, CONFIG_ENV, READY_LINE,
};
use crate::runtime::{
    ContainerInfo, ContainerSpec, ContextFile, NetworkSpec, Runtime, RuntimeError,
};
use crate::scenario::{topology, RuleFile, Scenario};
use futures_util::{stream, StreamExt};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub const LABEL_LAB: &str = "io.seglab.lab";
pub const LABEL_SCENARIO: &str = "io.seglab.scenario";
pub const LABEL_HOST: &str = "io.seglab.host";
pub const LABEL_GATEWAY: &str = "io.seglab.gateway";
pub const LABEL_SEGMENT: &str = "io.seglab.segment";
pub const LABEL_ROLE: &str = "io.seglab.role";
/// The resolved (and possibly relocated) scenario, as JSON, so that `verify`
/// and `status` know the lab without the files it came from.
pub const LABEL_SPEC: &str = "io.seglab.spec";
pub const LABEL_IMAGE: &str = "io.seglab.image";

/// How many Docker or namespace operations run at once: enough to overlap
/// the engine's latency, few enough not to thrash a small machine.
const PARALLEL: usize = 8;
/// Container starts at once: the engine serializes much of a start, and
/// measured here more than a few in flight only add contention.
const PARALLEL_START: usize = 4;
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// Processes and threads per node: the agent runs one thread (plus what
/// `docker exec` adds for a moment); the limit only stops a runaway.
const NODE_PIDS_LIMIT: i64 = 256;
/// Memory per node, swap included. Measured: an agent peaks at about
/// 5 MiB (cgroup v1 memory.max_usage_in_bytes, its binary's pages
/// included) through `verify`; 128 MiB leaves ample headroom and still
/// bounds a runaway.
const NODE_MEMORY_LIMIT: i64 = 128 << 20;

const DOCKERFILE: &str = include_str!("../../../images/node/Dockerfile");

/// Options of `up`.
#[derive(Debug, Clone)]
pub struct UpOptions {
    /// The static node agent binary that goes into the image.
    pub node_binary: PathBuf,
}

/// Where the node agent binary is: `SEGLAB_NODE_BIN`, else next to the
/// running executable (cargo and `make` put both binaries in one folder).
pub fn default_node_binary() -> Result<PathBuf> {
    if let Ok(p) = std::env::var("SEGLAB_NODE_BIN") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe()
        .map_err(|e| Error::Environment(format!("cannot find seglab's own executable: {e}")))?;
    let dir = exe.parent().unwrap_or(std::path::Path::new("."));
    for cand in [dir.join("seglab-node"), dir.join("../seglab-node")] {
        if cand.exists() {
            return Ok(cand);
        }
    }
    Err(Error::Environment(format!(
        "the node agent `seglab-node` is not next to {} (build it with `cargo build`, or set SEGLAB_NODE_BIN)",
        exe.display()
    )))
}

/// A fresh lab name: the scenario's name and a random suffix of eight hex
/// digits. Should the system's random source fail, the clock and the PID
/// still make two runs' names differ.
pub fn fresh_name(scenario: &str) -> String {
    let suffix = getrandom::u32().unwrap_or_else(|_| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        nanos ^ std::process::id()
    });
    format!("{scenario}-{suffix:08x}")
}

pub fn check_lab_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 40
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(Error::Input(format!(
            "lab name `{name}`: use letters, digits, `-` and `_` (at most 40, starting with a letter or digit)"
        )))
    }
}

fn container_name(lab: &str, node: &str) -> String {
    format!("seglab-{lab}-{node}")
}

fn seed_of(name: &str) -> u64 {
    name.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    })
}

/// Builds (once per content) the node image and returns its reference.
pub async fn ensure_node_image(rt: &Runtime, node_binary: &PathBuf) -> Result<String> {
    let bytes = std::fs::read(node_binary).map_err(|e| {
        Error::Environment(format!(
            "cannot read the node agent {}: {e}",
            node_binary.display()
        ))
    })?;
    let files = [
        ContextFile {
            path: "Dockerfile".into(),
            bytes: DOCKERFILE.as_bytes().to_vec(),
            mode: 0o644,
        },
        ContextFile {
            path: "seglab-node".into(),
            bytes,
            mode: 0o755,
        },
    ];
    let labels = HashMap::from([(LABEL_IMAGE.to_string(), "node".to_string())]);
    let id = rt.ensure_image("seglab-node", &files, &labels).await?;
    Ok(id)
}

fn labels(lab: &str, sc: &Scenario, extra: &[(&str, &str)]) -> HashMap<String, String> {
    let mut l = HashMap::from([
        (LABEL_LAB.to_string(), lab.to_string()),
        (LABEL_SCENARIO.to_string(), sc.name.clone()),
    ]);
    for (k, v) in extra {
        l.insert(k.to_string(), v.to_string());
    }
    l
}

/// Creates the lab's networks, moving the lab to free subnets when the
/// scenario's are taken (also when another lab takes them at the same
/// moment: the engine then refuses, and we choose again).
async fn create_networks(
    rt: &Runtime,
    lab: &str,
    sc: &Scenario,
) -> Result<(Scenario, BTreeMap<String, String>)> {
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
        let specs: Vec<NetworkSpec> = placed
            .segments
            .iter()
            .map(|s| NetworkSpec {
                name: container_name(lab, &s.name),
                subnet: s.subnet,
                docker_gateway: s.docker_gateway,
                labels: labels(lab, sc, &[(LABEL_SEGMENT, &s.name)]),
            })
            .collect();
        let results: Vec<(String, std::result::Result<String, RuntimeError>)> =
            stream::iter(specs.into_iter().zip(placed.segments.iter()))
                .map(
                    |(spec, seg)| async move { (seg.name.clone(), rt.create_network(&spec).await) },
                )
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

/// The node agent's configuration for a host or gateway.
fn node_config(lab: &str, sc: &Scenario, name: &str, kind: NodeKind) -> NodeConfig {
    let services = match kind {
        NodeKind::Gateway => Vec::new(),
        NodeKind::Host => sc
            .host(name)
            .map(|h| {
                h.services
                    .iter()
                    .map(|s| ServiceSpec {
                        proto: s.key.proto,
                        port: s.key.port,
                        service: s.service.clone(),
                        greeting: greeting_for(s.key.proto, s.key.port),
                    })
                    .collect()
            })
            .unwrap_or_default(),
    };
    NodeConfig {
        lab: lab.to_string(),
        name: name.to_string(),
        kind,
        services,
    }
}

/// A rule set that rejects answers with ICMP, and the kernel rate-limits
/// ICMP errors (a handful per destination, then one a second): a burst of
/// probes would see most rejects as drops. Lab nodes answer them all.
fn icmp_sysctls() -> impl Iterator<Item = (String, String)> {
    [
        ("net.ipv4.icmp_ratelimit", "0"),
        ("net.ipv4.icmp_msgs_per_sec", "100000"),
        ("net.ipv4.icmp_msgs_burst", "100000"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
}

/// Brings `sc` up as lab `lab` and returns once it is ready: every stub
/// listening, every route in place, every rule set loaded. On failure the
/// caller removes what was created (see [`up_or_clean`]).
///
/// Cancellation is cooperative: a request that creates something always
/// runs to its answer, and `cancel` is looked at between them (and races
/// only the waits that create nothing). A request dropped mid-way would
/// still be carried out by a busy engine, after the cleanup's sweep.
async fn up_inner(
    rt: &Runtime,
    lab: &str,
    sc: &Scenario,
    image: &str,
    progress: &dyn Fn(&str),
    cancel: &Cancel,
) -> Result<LabInfo> {
    let check = || {
        if cancel.is_cancelled() {
            Err(Error::Interrupted)
        } else {
            Ok(())
        }
    };
    progress("networks");
    let (placed, net_ids) = create_networks(rt, lab, sc).await?;
    check()?;
    let spec_json = serde_json::to_string(&placed).expect("a scenario serializes");

    progress("containers, routes and rules");
    let spec_for = |name: &str, kind: NodeKind, extra: &[(&str, &str)]| {
        let cfg = node_config(lab, &placed, name, kind);
        let mut labels = labels(lab, sc, extra);
        labels.insert(LABEL_SPEC.into(), spec_json.clone());
        ContainerSpec {
            name: container_name(lab, name),
            hostname: name.to_string(),
            image: image.to_string(),
            env: vec![format!(
                "{CONFIG_ENV}={}",
                serde_json::to_string(&cfg).expect("a node config serializes")
            )],
            labels,
            // Least privilege: seglab configures every node from the host
            // (inside its namespace, with the host's capabilities), so no
            // node needs any of its own. Without NET_RAW a process in a
            // host cannot forge frames onto the segment's bridge.
            cap_add: Vec::new(),
            cap_drop: vec!["ALL".into()],
            no_new_privileges: true,
            pids_limit: Some(NODE_PIDS_LIMIT),
            memory: Some(NODE_MEMORY_LIMIT),
            sysctls: icmp_sysctls().collect(),
            read_only: true,
            networks: Vec::new(),
        }
    };
    let mut specs = Vec::new();
    for g in &placed.gateways {
        let mut spec = spec_for(&g.name, NodeKind::Gateway, &[(LABEL_GATEWAY, &g.name)]);
        spec.sysctls.extend(
            [
                ("net.ipv4.ip_forward", "1"),
                // Paths may be asymmetric when several gateways share a
                // transit network; strict reverse-path checks would drop them.
                ("net.ipv4.conf.all.rp_filter", "0"),
                ("net.ipv4.conf.default.rp_filter", "0"),
                ("net.ipv4.conf.all.send_redirects", "0"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        spec.networks = g
            .attachments
            .iter()
            .map(|a| (net_ids[&a.segment].clone(), a.address))
            .collect();
        specs.push(spec);
    }
    for h in &placed.hosts {
        let extra = [
            (LABEL_HOST, h.name.as_str()),
            (LABEL_ROLE, h.role.as_str()),
            (LABEL_SEGMENT, h.segment.as_str()),
        ];
        let mut spec = spec_for(&h.name, NodeKind::Host, &extra);
        // Stubs listen on ports under 1024 (22, 25, 445...) without
        // CAP_NET_BIND_SERVICE; the sysctl is the namespace's own.
        spec.sysctls
            .insert("net.ipv4.ip_unprivileged_port_start".into(), "0".into());
        spec.networks = vec![(net_ids[&h.segment].clone(), h.address)];
        specs.push(spec);
    }

    // Each node is configured as soon as it is ready, while others start.
    let nodes = specs.iter().map(|s| {
        let (name, kind) = match s.labels.get(LABEL_HOST) {
            Some(h) => (h.clone(), NodeKind::Host),
            None => (s.hostname.clone(), NodeKind::Gateway),
        };
        (s, name, kind)
    });
    stream::iter(nodes)
        .map(|(spec, name, kind)| {
            let placed = &placed;
            async move {
                check()?;
                let id = rt.create_container(spec).await?;
                rt.start_container(&id).await?;
                tokio::select! {
                    r = rt.wait_for_log_line(&id, READY_LINE, READY_TIMEOUT) => r?,
                    () = cancel.cancelled() => return Err(Error::Interrupted),
                }
                check()?;
                let c = rt.inspect_container(&id).await?;
                let node = NodeInfo {
                    name,
                    kind,
                    container_id: id,
                    running: c.running,
                    status: c.status,
                    pid: c.pid,
                };
                configure_node(placed, lab, &node).await
            }
        })
        .buffer_unordered(PARALLEL_START)
        // Not `try_collect`: it would drop the others mid-request.
        .collect::<Vec<Result<()>>>()
        .await
        .into_iter()
        .collect::<Result<Vec<()>>>()?;
    check()?;
    let info = find_lab(rt, lab).await?;
    Ok(info)
}

fn pid_of(n: &NodeInfo, lab: &str) -> Result<u32> {
    n.pid.ok_or_else(|| {
        Error::Environment(format!(
            "{} of lab {lab} is not running ({})",
            n.name, n.status
        ))
    })
}

/// Routes and rules of one node, applied inside its namespace.
async fn configure_node(sc: &Scenario, lab: &str, n: &NodeInfo) -> Result<()> {
    let pid = pid_of(n, lab)?;
    // Docker leaves a default route to the network's reserved address,
    // where nothing answers; ours replace it (or none stays, so nothing
    // can leave a lab without gateways).
    netns::run(pid, "ip", &["route", "flush", "exact", "0.0.0.0/0"], None).await?;
    match n.kind {
        NodeKind::Host => {
            if let Some(gw) = topology::host_gateway(sc, &n.name) {
                netns::ip_batch(pid, &format!("route replace default via {gw}\n")).await?;
            }
            let host = sc
                .host(&n.name)
                .expect("the node is a host of the scenario");
            apply_rules(
                pid,
                &nft::host_rules(host),
                "seglab's host rules",
                &n.name,
                lab,
                0,
            )
            .await?;
            health::seal_node(pid, None).await?;
        }
        NodeKind::Gateway => {
            let routes: String = topology::gateway_routes(sc, &n.name)
                .iter()
                .map(|r| format!("route replace {} via {}\n", r.dest, r.via))
                .collect();
            if !routes.is_empty() {
                netns::ip_batch(pid, &routes).await?;
            }
            let gw = sc
                .gateway(&n.name)
                .expect("the node is a gateway of the scenario");
            load_gateway_ruleset(sc, lab, pid, &n.name, gw.ruleset.as_ref()).await?;
        }
    }
    Ok(())
}

async fn apply_rules(
    pid: u32,
    text: &str,
    file: &str,
    target: &str,
    lab: &str,
    offset: usize,
) -> Result<()> {
    match netns::nft_apply(pid, text).await {
        Ok(()) => Ok(()),
        Err(NetnsError::NftRejected { stderr, .. }) => Err(Error::Ruleset {
            file: file.to_string(),
            target: format!("{target} of lab {lab}"),
            message: nft::map_error(&stderr, file, offset),
        }),
        Err(e) => Err(e.into()),
    }
}

/// Deletes every table in a gateway except Docker's, so that a reload
/// starts from nothing whatever the previous file created.
async fn reset_gateway(pid: u32) -> Result<()> {
    let listing = health::listing(pid).await?;
    let tables = health::seal::tables_to_reset(&listing)
        .map_err(|e| Error::Environment(format!("cannot reset the gateway's rule set: {e}")))?;
    let cmds: String = tables
        .iter()
        .map(|t| format!("delete table {t}\n"))
        .collect();
    if !cmds.is_empty() {
        netns::nft_apply(pid, &cmds).await?;
    }
    Ok(())
}

/// Loads a gateway's rule set from scratch (used by `up` and to close a
/// phase) and seals it, so that `verify` can tell it is still in place.
pub(crate) async fn load_gateway_ruleset(
    sc: &Scenario,
    lab: &str,
    pid: u32,
    gateway: &str,
    rules: Option<&RuleFile>,
) -> Result<()> {
    reset_gateway(pid).await?;
    if let Some(r) = rules {
        apply_file(sc, lab, pid, gateway, r).await?;
    }
    health::seal_node(pid, None).await?;
    Ok(())
}

/// Applies an nft file (with the address defines) on top of what is loaded.
pub(crate) async fn apply_file(
    sc: &Scenario,
    lab: &str,
    pid: u32,
    gateway: &str,
    rules: &RuleFile,
) -> Result<()> {
    let (text, offset) = nft::with_defines(sc, &rules.text);
    apply_rules(
        pid,
        &text,
        &rules.file,
        &format!("gateway {gateway}"),
        lab,
        offset,
    )
    .await
}

/// `up`, removing everything it created when it fails or when `cancel`
/// fires first (Ctrl-C, SIGTERM).
pub async fn up_or_clean(
    rt: &Runtime,
    lab: &str,
    sc: &Scenario,
    opts: &UpOptions,
    progress: &dyn Fn(&str),
    cancel: &Cancel,
) -> Result<LabInfo> {
    // Checks that create nothing: a failure here must not clean up, above
    // all not a lab of the same name that is already running.
    netns::check_tools()?;
    check_lab_name(lab)?;
    if !rt.containers(&[(LABEL_LAB, lab)]).await?.is_empty()
        || !rt.networks(&[(LABEL_LAB, lab)]).await?.is_empty()
    {
        return Err(claim::already_exists(lab));
    }
    progress("image");
    let image = tokio::select! {
        r = ensure_node_image(rt, &opts.node_binary) => r?,
        () = cancel.cancelled() => return Err(Error::Interrupted),
    };
    // Another `up` of the same name may have passed the check above too:
    // the claim decides, and only its owner goes on (and may clean up).
    // Not raced against `cancel`: whether it landed must be known.
    claim::claim(rt, lab, sc, &image).await?;
    let result = up_inner(rt, lab, sc, &image, progress, cancel).await;
    if result.is_err() {
        progress("cleaning up");
        // Nothing is in flight any more: the sweep sees all `up` created.
        if let Err(e) = down(rt, lab).await {
            tracing::warn!("cleanup of lab {lab} failed: {e}");
        }
    }
    result
}

/// Removes every container and network of a lab, by label. Safe to repeat
/// and to run on a half-built lab. Objects whose creation was still in
/// flight when an interrupted `up` was dropped appear a moment later, so
/// the listing is repeated until it comes back empty.
pub async fn down(rt: &Runtime, lab: &str) -> Result<usize> {
    let mut removed = remove_by_label(rt, &[(LABEL_LAB, lab)]).await?;
    for _ in 0..5 {
        let n = remove_by_label(rt, &[(LABEL_LAB, lab)]).await?;
        if n == 0 {
            break;
        }
        removed += n;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(removed)
}

/// Removes every seglab lab on the engine.
pub async fn down_all(rt: &Runtime) -> Result<usize> {
    remove_by_label(rt, &[(LABEL_LAB, "")]).await
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
async fn remove_by_label(rt: &Runtime, filter: &[(&str, &str)]) -> Result<usize> {
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

    #[test]
    fn fresh_names_are_valid_lab_names_and_differ() {
        let a = super::fresh_name("scenario-1");
        let b = super::fresh_name("scenario-1");
        super::check_lab_name(&a).unwrap();
        let suffix = a.strip_prefix("scenario-1-").unwrap();
        assert_eq!(suffix.len(), 8);
        assert!(suffix.chars().all(|c| c.is_ascii_hexdigit()));
        // 32 random bits: two names in a row are the same once in 2^32.
        assert_ne!(a, b);
    }
}
