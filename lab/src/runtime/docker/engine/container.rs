//! Lab nodes as containers.

use super::network::ipam_subnets;
use super::*;

/// A lab container to create.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContainerSpec {
    pub name: String,
    pub hostname: String,
    pub image: String,
    /// `KEY=value` entries.
    pub env: Vec<String>,
    pub labels: HashMap<String, String>,
    pub cap_add: Vec<String>,
    /// Capabilities taken away (`ALL` for every one), applied before `cap_add`.
    pub cap_drop: Vec<String>,
    /// `no-new-privileges`: no exec inside the container can gain
    /// privileges (setuid bits, file capabilities).
    pub no_new_privileges: bool,
    /// Most processes and threads the container may have at once.
    pub pids_limit: Option<i64>,
    /// Memory limit in bytes, swap included (the container cannot swap
    /// past it).
    pub memory: Option<i64>,
    pub sysctls: HashMap<String, String>,
    pub read_only: bool,
    /// (network id, static address); the first is attached at create, the
    /// others are connected before start.
    pub networks: Vec<(String, Ipv4Addr)>,
}

/// A container as the engine reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerInfo {
    pub id: String,
    /// Without Docker's leading `/`.
    pub name: String,
    pub labels: HashMap<String, String>,
    /// The id of the container's image.
    pub image: String,
    pub running: bool,
    /// Docker's state word: created, running, exited, ...
    pub status: String,
    /// Host PID of the container's init process, Some when running.
    pub pid: Option<u32>,
    /// (network name, IPv4 address), sorted by network name. Before start,
    /// the statically configured addresses.
    pub addresses: Vec<(String, Ipv4Addr)>,
}

pub(super) fn container_info(c: ContainerInspectResponse) -> ContainerInfo {
    let state = c.state.unwrap_or_default();
    let running = state.running.unwrap_or(false);
    let pid = state
        .pid
        .filter(|p| running && *p > 0)
        .and_then(|p| u32::try_from(p).ok());
    let mut addresses: Vec<(String, Ipv4Addr)> = c
        .network_settings
        .and_then(|s| s.networks)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(net, ep)| {
            // A started container reports IPAddress; before start only the
            // configured static address is known.
            let live = ep.ip_address.filter(|a| !a.is_empty());
            let configured = ep.ipam_config.and_then(|i| i.ipv4_address);
            let addr = live.or(configured)?.parse::<Ipv4Addr>().ok()?;
            Some((net, addr))
        })
        .collect();
    addresses.sort();
    ContainerInfo {
        id: c.id.unwrap_or_default(),
        name: c
            .name
            .map(|n| n.trim_start_matches('/').to_string())
            .unwrap_or_default(),
        labels: c.config.and_then(|c| c.labels).unwrap_or_default(),
        image: c.image.unwrap_or_default(),
        running,
        status: state.status.map(|s| s.to_string()).unwrap_or_default(),
        pid,
        addresses,
    }
}

impl Engine {
    /// Create (but not start) a lab container with its static address on
    /// every network, so that when its process starts all its interfaces are
    /// already there. A missing network or an address outside its subnet is
    /// reported here (the engine itself would only notice at start); if connecting a network fails, the
    /// half-made container is removed again.
    pub async fn create_container(&self, spec: &ContainerSpec) -> Result<String, RuntimeError> {
        let endpoint = |addr: Ipv4Addr| EndpointSettings {
            ipam_config: Some(EndpointIpamConfig {
                ipv4_address: Some(addr.to_string()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let (network_mode, networking_config) = match spec.networks.first() {
            Some((net, addr)) => (
                net.clone(),
                Some(NetworkingConfig {
                    endpoints_config: Some(HashMap::from([(net.clone(), endpoint(*addr))])),
                }),
            ),
            None => ("none".to_string(), None),
        };
        let body = ContainerCreateBody {
            hostname: Some(spec.hostname.clone()),
            image: Some(spec.image.clone()),
            env: Some(spec.env.clone()),
            labels: Some(spec.labels.clone()),
            stop_timeout: Some(1),
            host_config: Some(HostConfig {
                network_mode: Some(network_mode),
                privileged: Some(false),
                cap_add: Some(spec.cap_add.clone()),
                cap_drop: Some(spec.cap_drop.clone()),
                security_opt: Some(if spec.no_new_privileges {
                    vec!["no-new-privileges".to_string()]
                } else {
                    Vec::new()
                }),
                pids_limit: spec.pids_limit,
                memory: spec.memory,
                memory_swap: spec.memory,
                readonly_rootfs: Some(spec.read_only),
                sysctls: Some(spec.sysctls.clone()),
                restart_policy: Some(RestartPolicy {
                    name: Some(RestartPolicyNameEnum::NO),
                    maximum_retry_count: None,
                }),
                auto_remove: Some(false),
                publish_all_ports: Some(false),
                ..Default::default()
            }),
            networking_config,
            ..Default::default()
        };
        let started = Instant::now();
        // The engine accepts connecting a created container to a network that
        // does not exist and only fails at start: check up front instead.
        let checks = spec
            .networks
            .iter()
            .map(|(net, _)| self.docker.inspect_network(net, None));
        for (result, (net, addr)) in futures_util::future::join_all(checks)
            .await
            .into_iter()
            .zip(&spec.networks)
        {
            let network = result.map_err(|e| {
                RuntimeError::from_bollard("checking network for container", "network", net, e)
            })?;
            let subnets = ipam_subnets(network.ipam.as_ref());
            if !subnets.iter().any(|s| s.contains(addr)) {
                return Err(RuntimeError::AddressOutsideSubnet {
                    container: spec.name.clone(),
                    network: network.name.unwrap_or_else(|| net.clone()),
                    address: *addr,
                    subnets: subnets.iter().map(|s| s.to_string()).collect(),
                });
            }
        }
        let opts = CreateContainerOptionsBuilder::new()
            .name(&spec.name)
            .build();
        let created = self
            .docker
            .create_container(Some(opts), body)
            .await
            .map_err(|e| {
                let msg = message_of(&e).unwrap_or_default();
                if status_of(&e) == Some(404) && msg.contains("image") {
                    RuntimeError::NotFound {
                        kind: "image",
                        name: spec.image.clone(),
                    }
                } else if status_of(&e) == Some(409) && msg.contains("already in use") {
                    RuntimeError::NameTaken {
                        name: spec.name.clone(),
                    }
                } else {
                    RuntimeError::api("creating container", spec.name.clone(), e)
                }
            })?;
        for (net, addr) in spec.networks.iter().skip(1) {
            let request = NetworkConnectRequest {
                container: created.id.clone(),
                endpoint_config: Some(endpoint(*addr)),
            };
            if let Err(e) = self.docker.connect_network(net, request).await {
                let err = RuntimeError::api(
                    "connecting network",
                    format!("{net} ({addr}) to container {}", spec.name),
                    e,
                );
                if let Err(cleanup) = self.remove_container(&created.id).await {
                    tracing::warn!(container = spec.name, %cleanup, "cannot remove half-made container");
                }
                return Err(err);
            }
        }
        tracing::debug!(name = spec.name, id = created.id, networks = spec.networks.len(),
            elapsed = ?started.elapsed(), "created container");
        Ok(created.id)
    }

    /// Start a created container; starting one already running is fine.
    pub async fn start_container(&self, id: &str) -> Result<(), RuntimeError> {
        self.docker
            .start_container(id, None)
            .await
            .map_err(|e| RuntimeError::from_bollard("starting container", "container", id, e))
    }

    /// Wait until the container prints `needle` (stdout or stderr), the way
    /// seglab knows a node is ready. Fails early, with the output seen, when
    /// the container stops first, so a crashing node explains itself.
    pub async fn wait_for_log_line(
        &self,
        id: &str,
        needle: &str,
        timeout: Duration,
    ) -> Result<(), RuntimeError> {
        let opts = LogsOptionsBuilder::new()
            .follow(true)
            .stdout(true)
            .stderr(true)
            .build();
        let mut stream = Box::pin(self.docker.logs(id, Some(opts)));
        let mut seen = String::new();
        let watch = async {
            while let Some(item) = stream.next().await {
                let chunk = item?;
                // Search from just before the new chunk: the needle may span chunks.
                let mut from = seen.len().saturating_sub(needle.len());
                seen.push_str(&String::from_utf8_lossy(chunk.as_ref()));
                while !seen.is_char_boundary(from) {
                    from -= 1;
                }
                if seen[from..].contains(needle) {
                    return Ok(true);
                }
            }
            Ok::<bool, BollardError>(false)
        };
        let outcome = tokio::time::timeout(timeout, watch).await;
        match outcome {
            Ok(Ok(true)) => Ok(()),
            Ok(Ok(false)) => {
                let state = self
                    .docker
                    .inspect_container(id, None)
                    .await
                    .map_err(|e| {
                        RuntimeError::from_bollard("inspecting container", "container", id, e)
                    })?
                    .state
                    .unwrap_or_default();
                Err(RuntimeError::ContainerExited {
                    id: id.to_string(),
                    needle: needle.to_string(),
                    status: state.status.map(|s| s.to_string()).unwrap_or_default(),
                    exit_code: state.exit_code,
                    logs: tail(&seen, LOG_TAIL_BYTES),
                })
            }
            Ok(Err(e)) => Err(RuntimeError::from_bollard(
                "following logs of",
                "container",
                id,
                e,
            )),
            Err(_elapsed) => Err(RuntimeError::LogTimeout {
                id: id.to_string(),
                needle: needle.to_string(),
                timeout,
                logs: tail(&seen, LOG_TAIL_BYTES),
            }),
        }
    }

    /// State, PID and addresses of one container: the PID is how seglab
    /// enters its network namespace.
    pub async fn inspect_container(&self, id: &str) -> Result<ContainerInfo, RuntimeError> {
        self.docker
            .inspect_container(id, None)
            .await
            .map(container_info)
            .map_err(|e| RuntimeError::from_bollard("inspecting container", "container", id, e))
    }

    /// All containers (exited ones too) matching all label filters, sorted by
    /// name: how a lab finds its hosts again, and what cleanup removes.
    pub async fn containers(
        &self,
        label_filters: &[(&str, &str)],
    ) -> Result<Vec<ContainerInfo>, RuntimeError> {
        let filters = label_filter(label_filters);
        let opts = ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&filters)
            .build();
        let listed = self.docker.list_containers(Some(opts)).await.map_err(|e| {
            RuntimeError::api("listing containers", describe_filters(label_filters), e)
        })?;
        let inspections = listed
            .iter()
            .filter_map(|c| c.id.as_deref())
            .map(|id| self.inspect_container(id));
        let mut infos = Vec::with_capacity(listed.len());
        for result in futures_util::future::join_all(inspections).await {
            match result {
                Ok(info) => infos.push(info),
                // Removed between list and inspect.
                Err(RuntimeError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        infos.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        Ok(infos)
    }

    /// SIGKILL a container, to test how a lab copes with a host dying
    /// mid-run. A container that is not running is left as it is.
    pub async fn kill_container(&self, id: &str) -> Result<(), RuntimeError> {
        let opts = KillContainerOptionsBuilder::new().signal("SIGKILL").build();
        match self.docker.kill_container(id, Some(opts)).await {
            Ok(()) => Ok(()),
            Err(e)
                if status_of(&e) == Some(409)
                    && message_of(&e).is_some_and(|m| m.contains("not running")) =>
            {
                Ok(())
            }
            Err(e) => Err(RuntimeError::from_bollard(
                "killing container",
                "container",
                id,
                e,
            )),
        }
    }

    /// Remove a container whatever its state (force kills it). Already gone,
    /// or being removed by someone else, counts as done, so cleanup is
    /// idempotent and can race with itself; in the latter case this waits
    /// (up to 10 s) until it is really gone, so its networks can go next.
    pub async fn remove_container(&self, id: &str) -> Result<(), RuntimeError> {
        let opts = RemoveContainerOptionsBuilder::new()
            .force(true)
            .v(true)
            .build();
        match self.docker.remove_container(id, Some(opts)).await {
            Ok(()) => Ok(()),
            Err(e) if status_of(&e) == Some(404) => Ok(()),
            Err(e)
                if status_of(&e) == Some(409)
                    && message_of(&e).is_some_and(|m| m.contains("already in progress")) =>
            {
                let deadline = Instant::now() + Duration::from_secs(10);
                while Instant::now() < deadline {
                    match self.docker.inspect_container(id, None).await {
                        Err(e) if status_of(&e) == Some(404) => return Ok(()),
                        _ => tokio::time::sleep(Duration::from_millis(100)).await,
                    }
                }
                Ok(())
            }
            Err(e) => Err(RuntimeError::api("removing container", id, e)),
        }
    }
}
