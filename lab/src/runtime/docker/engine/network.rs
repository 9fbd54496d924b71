//! Lab segments as bridge networks.

use super::*;

/// A lab network: a plain bridge whose host side has no address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkSpec {
    pub name: String,
    pub subnet: Ipv4Net,
    /// Address Docker's IPAM reserves as gateway; never assigned to the host
    /// (inhibit_ipv4) and never to a container.
    pub docker_gateway: Ipv4Addr,
    pub labels: HashMap<String, String>,
}

/// A network as the engine reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkInfo {
    pub id: String,
    pub name: String,
    pub labels: HashMap<String, String>,
    pub subnets: Vec<Ipv4Net>,
}

pub(super) fn ipam_subnets(ipam: Option<&Ipam>) -> Vec<Ipv4Net> {
    ipam.and_then(|i| i.config.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|c| c.subnet.as_deref())
        .filter_map(|s| s.parse::<Ipv4Net>().ok())
        .collect()
}

pub(super) fn network_info(n: Network) -> NetworkInfo {
    NetworkInfo {
        subnets: ipam_subnets(n.ipam.as_ref()),
        id: n.id.unwrap_or_default(),
        name: n.name.unwrap_or_default(),
        labels: n.labels.unwrap_or_default(),
    }
}

impl Engine {
    /// Every IPv4 subnet any network on the engine uses, seglab's or not, so
    /// lab subnets can be chosen where they cannot collide.
    pub async fn used_subnets(&self) -> Result<Vec<Ipv4Net>, RuntimeError> {
        let networks = self
            .docker
            .list_networks(None)
            .await
            .map_err(|e| RuntimeError::api("listing", "all networks", e))?;
        let mut subnets: Vec<Ipv4Net> = networks
            .iter()
            .flat_map(|n| ipam_subnets(n.ipam.as_ref()))
            .collect();
        subnets.sort();
        subnets.dedup();
        Ok(subnets)
    }

    /// Create a lab segment: a bridge that forwards between its containers
    /// but gives the host no address on it and no masquerading, so the lab
    /// reaches neither the host nor the outside world, and routing between
    /// segments is left entirely to gateway containers. Not `internal`:
    /// Docker's isolation rules would then drop traffic that gateways route.
    pub async fn create_network(&self, spec: &NetworkSpec) -> Result<String, RuntimeError> {
        let options = HashMap::from([
            (
                "com.docker.network.bridge.enable_ip_masquerade".to_string(),
                "false".to_string(),
            ),
            (
                "com.docker.network.bridge.inhibit_ipv4".to_string(),
                "true".to_string(),
            ),
            (
                "com.docker.network.bridge.enable_icc".to_string(),
                "true".to_string(),
            ),
        ]);
        let request = NetworkCreateRequest {
            name: spec.name.clone(),
            driver: Some("bridge".into()),
            internal: Some(false),
            attachable: Some(false),
            enable_ipv6: Some(false),
            ipam: Some(Ipam {
                driver: Some("default".into()),
                config: Some(vec![IpamConfig {
                    subnet: Some(spec.subnet.to_string()),
                    gateway: Some(spec.docker_gateway.to_string()),
                    ..Default::default()
                }]),
                options: None,
            }),
            options: Some(options),
            labels: Some(spec.labels.clone()),
            ..Default::default()
        };
        let started = Instant::now();
        let created = self.docker.create_network(request).await.map_err(|e| {
            let msg = message_of(&e).unwrap_or_default().to_ascii_lowercase();
            if msg.contains("overlap") || msg.contains("conflicts with network") {
                RuntimeError::SubnetConflict {
                    network: spec.name.clone(),
                    subnet: spec.subnet,
                    message: message_of(&e).unwrap_or_default().to_string(),
                }
            } else {
                RuntimeError::api(
                    "creating network",
                    format!("{} ({})", spec.name, spec.subnet),
                    e,
                )
            }
        })?;
        tracing::debug!(name = spec.name, id = created.id, elapsed = ?started.elapsed(), "created network");
        Ok(created.id)
    }

    /// Networks matching all label filters: how a lab finds (and cleans up)
    /// its segments, since names are not unique on the engine.
    pub async fn networks(
        &self,
        label_filters: &[(&str, &str)],
    ) -> Result<Vec<NetworkInfo>, RuntimeError> {
        let filters = label_filter(label_filters);
        let opts = ListNetworksOptionsBuilder::new().filters(&filters).build();
        let networks = self.docker.list_networks(Some(opts)).await.map_err(|e| {
            RuntimeError::api("listing networks", describe_filters(label_filters), e)
        })?;
        let mut infos: Vec<NetworkInfo> = networks.into_iter().map(network_info).collect();
        infos.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        Ok(infos)
    }

    /// Remove a network by id; already gone counts as done, so cleanup can be
    /// repeated after a partial failure.
    pub async fn remove_network(&self, id: &str) -> Result<(), RuntimeError> {
        self.remove_network_leaving(id, &[]).await
    }

    /// Removes a network whose containers were just removed. The engine
    /// sometimes still counts endpoints for a moment (and, rarely, for good:
    /// moby/moby#42119); it is asked again, and the lab's former containers
    /// are force-disconnected by name, which clears a stale endpoint when
    /// the engine still knows it.
    pub async fn remove_network_leaving(
        &self,
        id: &str,
        former: &[String],
    ) -> Result<(), RuntimeError> {
        let mut attempt = 0;
        loop {
            match self.docker.remove_network(id).await {
                Ok(()) => return Ok(()),
                Err(e) if status_of(&e) == Some(404) => return Ok(()),
                Err(e)
                    if attempt < 10
                        && message_of(&e).is_some_and(|m| m.contains("active endpoints")) =>
                {
                    attempt += 1;
                    if attempt == 5 {
                        for name in former {
                            let req = bollard::models::NetworkDisconnectRequest {
                                container: name.clone(),
                                force: Some(true),
                            };
                            let _ = self.docker.disconnect_network(id, req).await;
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
                }
                Err(e) if message_of(&e).is_some_and(|m| m.contains("active endpoints")) => {
                    return Err(RuntimeError::StaleEndpoints {
                        network: id.to_string(),
                        message: message_of(&e).unwrap_or_default().to_string(),
                    })
                }
                Err(e) => return Err(RuntimeError::api("removing network", id, e)),
            }
        }
    }
}
