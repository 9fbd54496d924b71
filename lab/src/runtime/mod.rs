//! The Docker engine seam: the only module that talks to Docker (through
//! bollard). Everything above it speaks in seglab's own small types
//! ([`NetworkSpec`], [`ContainerSpec`], [`ContainerInfo`], ...) so that the
//! rest of the crate never depends on bollard's fast-moving models, and every
//! engine answer that matters to a caller (engine missing, subnet taken,
//! object gone) arrives as a typed [`RuntimeError`].
//!
//! Conventions this module holds to, because the engine (20.10, API 1.41)
//! needs them:
//! - everything seglab creates carries labels, and objects are found by label
//!   and removed by ID (the engine accepts two networks with the same name);
//! - images are only ever built locally from an in-memory context, never
//!   pulled (no registry is reachable);
//! - a container is created on its first network only (API 1.41 attaches one
//!   network at create), then connected to the others, each with a static
//!   IPv4 address, and only then started.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use bollard::errors::Error as BollardError;
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, EndpointIpamConfig, EndpointSettings,
    HostConfig, ImageSummary, Ipam, IpamConfig, Network, NetworkConnectRequest,
    NetworkCreateRequest, NetworkingConfig, RestartPolicy, RestartPolicyNameEnum,
};
use bollard::query_parameters::{
    BuildImageOptionsBuilder, CreateContainerOptionsBuilder, KillContainerOptionsBuilder,
    ListContainersOptionsBuilder, ListImagesOptionsBuilder, ListNetworksOptionsBuilder,
    LogsOptionsBuilder, RemoveContainerOptionsBuilder, RemoveImageOptionsBuilder,
    TagImageOptionsBuilder,
};
use bollard::Docker;
use futures_util::StreamExt;
use ipnet::Ipv4Net;
use sha2::{Digest, Sha256};

#[cfg(test)]
mod tests;

/// Label carrying the content hash of an image's build context.
pub const IMAGE_HASH_LABEL: &str = "io.seglab.image-hash";

/// Where the engine is looked for when `DOCKER_HOST` is not a `unix://` URL.
const DEFAULT_SOCKET: &str = "unix:///var/run/docker.sock";
/// Seconds bollard waits for the head of any response.
const REQUEST_TIMEOUT_SECS: u64 = 120;
/// How much of a container's output an error message keeps.
const LOG_TAIL_BYTES: usize = 8 * 1024;
/// How much of a build's output an error message keeps.
const BUILD_TAIL_LINES: usize = 30;

/// Everything that can go wrong talking to the engine, typed by what a caller
/// can do about it.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// No engine answered. Nothing seglab does can work; the user must start
    /// Docker or point `DOCKER_HOST` at it.
    #[error(
        "the Docker engine is not there: nothing answered at {endpoint} \
         (looked at DOCKER_HOST when it is a unix:// URL, else {default}){hint}: {source}",
        default = DEFAULT_SOCKET
    )]
    EngineUnreachable {
        endpoint: String,
        /// Extra advice (permissions, non-unix DOCKER_HOST), may be empty.
        hint: String,
        #[source]
        source: BollardError,
    },
    /// The engine refused a network because its subnet overlaps one that
    /// already exists (possibly created by someone else meanwhile): the
    /// caller can pick another subnet and retry.
    #[error(
        "subnet {subnet} for network {network} overlaps an existing Docker network: {message}"
    )]
    SubnetConflict {
        network: String,
        subnet: Ipv4Net,
        message: String,
    },
    /// The engine refuses to remove a network that no container uses any
    /// more: its endpoint count went stale (moby/moby#42119).
    #[error(
        "Docker refuses to remove network {network} although no container is attached \
         ({message}); this is the engine's stale endpoint count (moby/moby#42119), \
         which only a restart of dockerd clears"
    )]
    StaleEndpoints { network: String, message: String },
    /// A container's static address is not inside its network's subnet
    /// (the engine would only notice when starting the container).
    #[error(
        "address {address} of container {container} is outside network {network} ({})",
        subnets.join(", ")
    )]
    AddressOutsideSubnet {
        container: String,
        network: String,
        address: Ipv4Addr,
        subnets: Vec<String>,
    },
    /// A container of this name exists already: names are unique on an
    /// engine, which is what makes one a claim on a lab name.
    #[error("a container named {name} already exists")]
    NameTaken { name: String },
    /// The object does not exist (any more).
    #[error("{kind} {name} not found")]
    NotFound { kind: &'static str, name: String },
    /// An image build failed; `output` is the tail of the builder's output.
    #[error("building image {reference} failed: {message}\n{output}")]
    Build {
        reference: String,
        message: String,
        output: String,
    },
    /// A container stopped before it printed the line we waited for.
    #[error(
        "container {id} stopped (status {status}, exit code {exit_code:?}) before logging \
         {needle:?}; its output:\n{logs}"
    )]
    ContainerExited {
        id: String,
        needle: String,
        status: String,
        exit_code: Option<i64>,
        logs: String,
    },
    /// A container did not print the line we waited for in time.
    #[error("container {id} did not log {needle:?} within {timeout:?}; its output:\n{logs}")]
    LogTimeout {
        id: String,
        needle: String,
        timeout: Duration,
        logs: String,
    },
    /// The build context could not be packed.
    #[error("cannot pack build context file {path}: {source}")]
    Context {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// Any other refusal or failure of the engine, with what we were doing.
    #[error("Docker API error while {action} {object}: {source}")]
    Api {
        action: &'static str,
        object: String,
        #[source]
        source: BollardError,
    },
}

impl RuntimeError {
    fn api(action: &'static str, object: impl Into<String>, source: BollardError) -> Self {
        RuntimeError::Api {
            action,
            object: object.into(),
            source,
        }
    }

    /// Map a bollard error, turning 404 into [`RuntimeError::NotFound`].
    fn from_bollard(
        action: &'static str,
        kind: &'static str,
        object: &str,
        source: BollardError,
    ) -> Self {
        if status_of(&source) == Some(404) {
            RuntimeError::NotFound {
                kind,
                name: object.to_string(),
            }
        } else {
            RuntimeError::api(action, object, source)
        }
    }

    /// True for [`RuntimeError::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, RuntimeError::NotFound { .. })
    }
}

/// HTTP status of an engine refusal, if the error is one.
fn status_of(e: &BollardError) -> Option<u16> {
    match e {
        BollardError::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

/// Message of an engine refusal, if the error is one.
fn message_of(e: &BollardError) -> Option<&str> {
    match e {
        BollardError::DockerResponseServerError { message, .. } => Some(message),
        _ => None,
    }
}

/// One file of an in-memory build context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextFile {
    /// Path inside the context, relative, e.g. `Dockerfile` or `bin/seglab-node`.
    pub path: String,
    pub bytes: Vec<u8>,
    /// Unix permission bits, e.g. `0o755` for executables.
    pub mode: u32,
}

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
    pub running: bool,
    /// Docker's state word: created, running, exited, ...
    pub status: String,
    /// Host PID of the container's init process, Some when running.
    pub pid: Option<u32>,
    /// (network name, IPv4 address), sorted by network name. Before start,
    /// the statically configured addresses.
    pub addresses: Vec<(String, Ipv4Addr)>,
}

/// Content hash of a build context: sha256 over every file's path, mode and
/// bytes, in path order, as lowercase hex. The same files always give the same
/// hash, whatever their order in the slice.
pub fn context_hash(files: &[ContextFile]) -> String {
    let mut sorted: Vec<&ContextFile> = files.iter().collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    let mut h = Sha256::new();
    for f in sorted {
        h.update((f.path.len() as u64).to_le_bytes());
        h.update(f.path.as_bytes());
        h.update(f.mode.to_le_bytes());
        h.update((f.bytes.len() as u64).to_le_bytes());
        h.update(&f.bytes);
    }
    hex::encode(h.finalize())
}

/// Pack files into an uncompressed tar, deterministically (mtime 0, root).
fn context_tar(files: &[ContextFile]) -> Result<Vec<u8>, RuntimeError> {
    let mut builder = tar::Builder::new(Vec::new());
    for f in files {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(f.bytes.len() as u64);
        header.set_mode(f.mode);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        builder
            .append_data(&mut header, &f.path, f.bytes.as_slice())
            .map_err(|source| RuntimeError::Context {
                path: f.path.clone(),
                source,
            })?;
    }
    builder
        .into_inner()
        .map_err(|source| RuntimeError::Context {
            path: "<archive>".into(),
            source,
        })
}

/// Split `repo[:tag]` (the repo may hold a registry port) into repo and tag.
fn split_reference(reference: &str) -> (&str, &str) {
    let last_slash = reference.rfind('/').map_or(0, |i| i + 1);
    match reference[last_slash..].rfind(':') {
        Some(i) => (
            &reference[..last_slash + i],
            &reference[last_slash + i + 1..],
        ),
        None => (reference, "latest"),
    }
}

fn label_filter(label_filters: &[(&str, &str)]) -> HashMap<String, Vec<String>> {
    let mut filters = HashMap::new();
    if !label_filters.is_empty() {
        filters.insert(
            "label".to_string(),
            label_filters
                .iter()
                // An empty value asks only that the label exists.
                .map(|(k, v)| {
                    if v.is_empty() {
                        k.to_string()
                    } else {
                        format!("{k}={v}")
                    }
                })
                .collect(),
        );
    }
    filters
}

fn describe_filters(label_filters: &[(&str, &str)]) -> String {
    if label_filters.is_empty() {
        return "(all)".into();
    }
    label_filters
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn ipam_subnets(ipam: Option<&Ipam>) -> Vec<Ipv4Net> {
    ipam.and_then(|i| i.config.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|c| c.subnet.as_deref())
        .filter_map(|s| s.parse::<Ipv4Net>().ok())
        .collect()
}

fn network_info(n: Network) -> NetworkInfo {
    NetworkInfo {
        subnets: ipam_subnets(n.ipam.as_ref()),
        id: n.id.unwrap_or_default(),
        name: n.name.unwrap_or_default(),
        labels: n.labels.unwrap_or_default(),
    }
}

fn container_info(c: ContainerInspectResponse) -> ContainerInfo {
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
        running,
        status: state.status.map(|s| s.to_string()).unwrap_or_default(),
        pid,
        addresses,
    }
}

/// Keep the last `max` bytes of `s`, cut at a character boundary.
fn tail(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    format!("[...]{}", &s[start..])
}

/// A connection to the local Docker engine. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Runtime {
    docker: Docker,
}

impl Runtime {
    /// Connect to the local engine and prove it answers, so that a missing
    /// Docker is reported once, up front, in words a user can act on, rather
    /// than as the first failing API call deep inside a lab run.
    pub async fn connect() -> Result<Runtime, RuntimeError> {
        let from_env = std::env::var("DOCKER_HOST").ok();
        let (endpoint, hint) = match from_env.as_deref() {
            Some(h) if h.starts_with("unix://") => (h.to_string(), String::new()),
            Some(h) => (
                DEFAULT_SOCKET.to_string(),
                format!(
                    "; DOCKER_HOST={h} was ignored: seglab needs the local engine \
                     (it enters containers' network namespaces)"
                ),
            ),
            None => (DEFAULT_SOCKET.to_string(), String::new()),
        };
        Self::connect_to(&endpoint, hint).await
    }

    /// Connect to a given `unix://` socket (used by [`Runtime::connect`]).
    async fn connect_to(endpoint: &str, mut hint: String) -> Result<Runtime, RuntimeError> {
        let unreachable = |hint: String, source: BollardError| {
            let mut hint = hint;
            if source.to_string().contains("ermission denied") {
                hint.push_str("; permission denied: run as root or join the docker group");
            }
            RuntimeError::EngineUnreachable {
                endpoint: endpoint.to_string(),
                hint,
                source,
            }
        };
        let docker =
            Docker::connect_with_unix(endpoint, REQUEST_TIMEOUT_SECS, bollard::API_DEFAULT_VERSION)
                .map_err(|e| unreachable(hint.clone(), e))?;
        let docker = docker
            .negotiate_version()
            .await
            .map_err(|e| unreachable(hint.clone(), e))?;
        if let Err(e) = docker.ping().await {
            hint.push_str(" (version negotiated, but ping failed)");
            return Err(unreachable(hint, e));
        }
        tracing::debug!(endpoint, version = ?docker.client_version(), "connected to Docker");
        Ok(Runtime { docker })
    }

    /// Make sure an image built from exactly these files exists and carries
    /// `reference`, building it only when no image with the same content hash
    /// exists: repeated lab runs then cost nothing, and a changed binary always
    /// gets a fresh image. Nothing is pulled and nothing touches the disk
    /// outside the engine. Several processes may race here; a loser of the
    /// race still gets a usable image id.
    pub async fn ensure_image(
        &self,
        reference: &str,
        files: &[ContextFile],
        labels: &HashMap<String, String>,
    ) -> Result<String, RuntimeError> {
        let hash = context_hash(files);
        if let Some(id) = self.image_with_hash(&hash, reference).await? {
            tracing::debug!(reference, id, "image already present");
            return Ok(id);
        }
        let started = Instant::now();
        match self.build_image(reference, &hash, files, labels).await {
            Ok(id) => {
                tracing::info!(reference, id, elapsed = ?started.elapsed(), "built image");
                Ok(id)
            }
            Err(err) => {
                // A concurrent builder of the same content may have won.
                if let Ok(Some(id)) = self.image_with_hash(&hash, reference).await {
                    tracing::debug!(reference, %err, "build failed but another builder made it");
                    return Ok(id);
                }
                Err(err)
            }
        }
    }

    /// Id of an image with this content hash, tagging it `reference` if no
    /// image with the hash carries that tag yet.
    async fn image_with_hash(
        &self,
        hash: &str,
        reference: &str,
    ) -> Result<Option<String>, RuntimeError> {
        let hash_label = format!("{IMAGE_HASH_LABEL}={hash}");
        let filters = HashMap::from([("label".to_string(), vec![hash_label])]);
        let opts = ListImagesOptionsBuilder::new().filters(&filters).build();
        let images = self
            .docker
            .list_images(Some(opts))
            .await
            .map_err(|e| RuntimeError::api("listing images for", reference, e))?;
        if let Some(img) = images
            .iter()
            .find(|i| i.repo_tags.iter().any(|t| t == reference))
        {
            return Ok(Some(img.id.clone()));
        }
        // Prefer a tagged image (concurrent builds leave untagged twins).
        let tagged = |i: &ImageSummary| i.repo_tags.iter().any(|t| t != "<none>:<none>");
        let Some(img) = images.into_iter().max_by_key(|i| (tagged(i), i.created)) else {
            return Ok(None);
        };
        let (repo, tag) = split_reference(reference);
        let opts = TagImageOptionsBuilder::new().repo(repo).tag(tag).build();
        match self.docker.tag_image(&img.id, Some(opts)).await {
            Ok(()) => Ok(Some(img.id)),
            // Removed meanwhile: build it again.
            Err(e) if status_of(&e) == Some(404) => Ok(None),
            Err(e) => Err(RuntimeError::api("tagging image", reference, e)),
        }
    }

    async fn build_image(
        &self,
        reference: &str,
        hash: &str,
        files: &[ContextFile],
        labels: &HashMap<String, String>,
    ) -> Result<String, RuntimeError> {
        let tar = context_tar(files)?;
        let mut all_labels = labels.clone();
        all_labels.insert(IMAGE_HASH_LABEL.to_string(), hash.to_string());
        let opts = BuildImageOptionsBuilder::new()
            .dockerfile("Dockerfile")
            .t(reference)
            .rm(true)
            .forcerm(true)
            .labels(&all_labels)
            .build();
        let mut stream = self
            .docker
            .build_image(opts, None, Some(bollard::body_full(tar.into())));
        let mut output: Vec<String> = Vec::new();
        let mut built_id: Option<String> = None;
        while let Some(item) = stream.next().await {
            match item {
                Ok(info) => {
                    if let Some(s) = info.stream {
                        output.extend(s.lines().map(str::to_string));
                    }
                    if let Some(s) = info.status {
                        output.push(s);
                    }
                    if let Some(id) = info.aux.and_then(|a| a.id) {
                        built_id = Some(id);
                    }
                }
                Err(e) => {
                    let message = match e {
                        BollardError::DockerStreamError { error } => error,
                        other => other.to_string(),
                    };
                    let skip = output.len().saturating_sub(BUILD_TAIL_LINES);
                    return Err(RuntimeError::Build {
                        reference: reference.to_string(),
                        message,
                        output: output[skip..].join("\n"),
                    });
                }
            }
        }
        if let Some(id) = built_id {
            return Ok(id);
        }
        let inspected =
            self.docker.inspect_image(reference).await.map_err(|e| {
                RuntimeError::from_bollard("inspecting image", "image", reference, e)
            })?;
        inspected.id.ok_or_else(|| RuntimeError::Build {
            reference: reference.to_string(),
            message: "the engine reported no image id".into(),
            output: output.join("\n"),
        })
    }

    /// Remove the images matching all label filters (every tag of them), so
    /// `seglab clean` can reclaim space; an image some container still uses is
    /// left alone without complaint. Returns how many images were deleted;
    /// with no filter at all, nothing is removed.
    pub async fn remove_images(
        &self,
        label_filters: &[(&str, &str)],
    ) -> Result<usize, RuntimeError> {
        if label_filters.is_empty() {
            // Never every image on the engine.
            return Ok(0);
        }
        let filters = label_filter(label_filters);
        let opts = ListImagesOptionsBuilder::new().filters(&filters).build();
        let images =
            self.docker.list_images(Some(opts)).await.map_err(|e| {
                RuntimeError::api("listing images", describe_filters(label_filters), e)
            })?;
        let mut removed = 0;
        for img in images {
            // Removing by tag never forces; the last tag removed deletes the image.
            let mut names: Vec<String> = img
                .repo_tags
                .iter()
                .filter(|t| t.as_str() != "<none>:<none>")
                .cloned()
                .collect();
            if names.is_empty() {
                names.push(img.id.clone());
            }
            let mut deleted = false;
            for name in &names {
                let opts = RemoveImageOptionsBuilder::new().force(false).build();
                match self.docker.remove_image(name, Some(opts), None).await {
                    Ok(items) => deleted |= items.iter().any(|i| i.deleted.is_some()),
                    Err(e) if matches!(status_of(&e), Some(404 | 409)) => {
                        tracing::debug!(image = name, error = %e, "image kept");
                    }
                    Err(e) => return Err(RuntimeError::api("removing image", name.clone(), e)),
                }
            }
            if deleted {
                removed += 1;
            }
        }
        Ok(removed)
    }

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
