//! The Docker engine client: the only code that talks to Docker (through
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

mod container;
mod error;
mod image;
mod network;
#[cfg(test)]
mod tests;

pub use container::{ContainerInfo, ContainerSpec};
pub use error::RuntimeError;
pub use image::{context_hash, ContextFile};
pub use network::{NetworkInfo, NetworkSpec};

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
pub struct Engine {
    docker: Docker,
}

impl Engine {
    /// Connect to the local engine and prove it answers, so that a missing
    /// Docker is reported once, up front, in words a user can act on, rather
    /// than as the first failing API call deep inside a lab run.
    pub async fn connect() -> Result<Engine, RuntimeError> {
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

    /// Connect to a given `unix://` socket (used by [`Engine::connect`]).
    async fn connect_to(endpoint: &str, mut hint: String) -> Result<Engine, RuntimeError> {
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
        Ok(Engine { docker })
    }
}
