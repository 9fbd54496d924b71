//! Lab nodes as containers: their labels, names, image and settings.
//!
//! Least privilege: seglab configures every node from the host (inside its
//! namespace, with the host's capabilities), so no node holds a capability
//! of its own, and none can gain one.

use super::engine::{ContainerSpec, ContextFile, Engine};
use crate::error::{Error, Result};
use crate::node_contract::{greeting_for, NodeConfig, NodeKind, ServiceSpec, CONFIG_ENV};
use crate::scenario::Scenario;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

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

/// Processes and threads per node: the agent runs one thread (plus what
/// `docker exec` adds for a moment); the limit only stops a runaway.
const NODE_PIDS_LIMIT: i64 = 256;
/// Memory per node, swap included. Measured: an agent peaks at about
/// 5 MiB (cgroup v1 memory.max_usage_in_bytes, its binary's pages
/// included) through `verify`; 128 MiB leaves ample headroom and still
/// bounds a runaway.
const NODE_MEMORY_LIMIT: i64 = 128 << 20;

const DOCKERFILE: &str = include_str!("../../../../images/node/Dockerfile");

pub(super) fn container_name(lab: &str, node: &str) -> String {
    format!("seglab-{lab}-{node}")
}

pub(super) fn seed_of(name: &str) -> u64 {
    name.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    })
}

/// Builds (once per content) the node image and returns its reference.
pub(super) async fn ensure_node_image(rt: &Engine, node_binary: &Path) -> Result<String> {
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

pub(super) fn labels(lab: &str, sc: &Scenario, extra: &[(&str, &str)]) -> HashMap<String, String> {
    let mut l = HashMap::from([
        (LABEL_LAB.to_string(), lab.to_string()),
        (LABEL_SCENARIO.to_string(), sc.name.clone()),
    ]);
    for (k, v) in extra {
        l.insert(k.to_string(), v.to_string());
    }
    l
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

/// The container of node `name` of the placed scenario `placed`.
pub(super) fn node_spec(
    lab: &str,
    placed: &Scenario,
    image: &str,
    segments: &BTreeMap<String, String>,
    name: &str,
    kind: NodeKind,
) -> ContainerSpec {
    let spec_json = serde_json::to_string(placed).expect("a scenario serializes");
    let spec_for = |name: &str, kind: NodeKind, extra: &[(&str, &str)]| {
        let cfg = node_config(lab, placed, name, kind);
        let mut labels = labels(lab, placed, extra);
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
    match kind {
        NodeKind::Gateway => {
            let g = placed.gateway(name).expect("a gateway of the scenario");
            let mut spec = spec_for(name, kind, &[(LABEL_GATEWAY, name)]);
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
                .map(|a| (segments[&a.segment].clone(), a.address))
                .collect();
            spec
        }
        NodeKind::Host => {
            let h = placed.host(name).expect("a host of the scenario");
            let extra = [
                (LABEL_HOST, h.name.as_str()),
                (LABEL_ROLE, h.role.as_str()),
                (LABEL_SEGMENT, h.segment.as_str()),
            ];
            let mut spec = spec_for(name, kind, &extra);
            // Stubs listen on ports under 1024 (22, 25, 445...) without
            // CAP_NET_BIND_SERVICE; the sysctl is the namespace's own.
            spec.sysctls
                .insert("net.ipv4.ip_unprivileged_port_start".into(), "0".into());
            spec.networks = vec![(segments[&h.segment].clone(), h.address)];
            spec
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_containers_hold_no_capability_and_get_what_their_kind_needs() {
        let sc = crate::scenario::load("scenario-3").unwrap();
        let segments: BTreeMap<String, String> = sc
            .segments
            .iter()
            .map(|s| (s.name.clone(), format!("net-{}", s.name)))
            .collect();
        let gw = node_spec("l1", &sc, "img", &segments, "gw-mgmt", NodeKind::Gateway);
        let host = node_spec("l1", &sc, "img", &segments, "agent-1", NodeKind::Host);
        for spec in [&gw, &host] {
            assert!(spec.cap_add.is_empty());
            assert_eq!(spec.cap_drop, ["ALL"]);
            assert!(spec.no_new_privileges && spec.read_only);
            assert!(spec.pids_limit.is_some() && spec.memory.is_some());
            assert_eq!(spec.labels[LABEL_LAB], "l1");
            let stored: Scenario = serde_json::from_str(&spec.labels[LABEL_SPEC]).unwrap();
            assert_eq!(stored, sc);
        }
        assert_eq!(gw.name, "seglab-l1-gw-mgmt");
        assert_eq!(gw.sysctls["net.ipv4.ip_forward"], "1");
        let nets: Vec<&str> = gw.networks.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(nets, ["net-mgmt", "net-transit"]);
        assert_eq!(host.sysctls["net.ipv4.ip_unprivileged_port_start"], "0");
        assert!(!host.sysctls.contains_key("net.ipv4.ip_forward"));
        assert_eq!(host.labels[LABEL_ROLE], "agent");
        assert_eq!(host.networks.len(), 1);
    }
}
