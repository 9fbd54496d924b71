//! What can go wrong talking to the engine, typed by what a caller can do.

use super::*;

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
    pub(super) fn api(
        action: &'static str,
        object: impl Into<String>,
        source: BollardError,
    ) -> Self {
        RuntimeError::Api {
            action,
            object: object.into(),
            source,
        }
    }

    /// Map a bollard error, turning 404 into [`RuntimeError::NotFound`].
    pub(super) fn from_bollard(
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
