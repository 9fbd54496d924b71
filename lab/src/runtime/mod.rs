//! The lab backend seam: everything seglab does to a lab that has a side
//! effect goes through [`LabBackend`], in the spirit of containerlab's
//! `runtime.ContainerRuntime` and youki's `Syscall` trait.
//!
//! A backend makes a lab's segments and nodes, keeps the lab's resolved
//! scenario with it, finds labs again and removes them. Configuring and
//! probing a node are operations of the backend too: the caller holds a
//! [`NodeRef`] and asks the backend to run a program or a batch of probes
//! inside the node's network namespace. On this machine that is `setns`
//! (the [`docker`] backend); on a Docker Swarm, where a node's namespace is
//! on another machine, it will be a helper there. A caller never enters a
//! namespace itself.
//!
//! [`fake`] is an in-memory backend for unit tests of the orchestration
//! (verify, phases, `test`): nothing is created and no packet is sent.

#[cfg(test)]
mod apply_tests;
pub mod docker;
#[cfg(test)]
pub mod fake;
#[cfg(test)]
mod fake_tests;
#[cfg(test)]
mod isolate_tests;
#[cfg(test)]
mod scan_tests;

use crate::error::Result;
use crate::netns::NetnsError;
use crate::node_contract::NodeKind;
use crate::probe::{Observation, ProbeTarget, Window};
use crate::scan::{ScanJob, TargetScan};
use crate::scenario::Scenario;
use crate::trace::evidence::TraceSink;
use crate::trace::Evidence;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{ExitStatus, Output};
use std::time::Duration;

/// A node of a lab as its backend addresses it. Opaque: only the backend
/// that made it knows where the node's namespace is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRef {
    /// The node's name in the scenario.
    pub name: String,
    pub(crate) place: NodePlace,
}

/// Where a node's network namespace is, for the backend that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NodePlace {
    /// A namespace on this machine, entered through the node's PID 1
    /// (`/proc/PID/ns/net`).
    Local { pid: u32 },
    /// A node of the in-memory test backend.
    #[cfg(test)]
    Fake,
}

/// One node of a lab, as its backend found it.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    pub name: String,
    pub kind: NodeKind,
    /// The backend's id of the node (a container id for Docker).
    pub id: String,
    pub running: bool,
    /// The backend's state word (`running`, `exited`, ...).
    pub status: String,
    /// How to reach the node, while it runs.
    pub node: Option<NodeRef>,
}

/// A lab as its backend found it: its scenario and its nodes.
#[derive(Debug, Clone)]
pub struct LabInfo {
    pub name: String,
    pub scenario: Scenario,
    pub nodes: BTreeMap<String, NodeInfo>,
}

impl LabInfo {
    pub fn node(&self, name: &str) -> Option<&NodeInfo> {
        self.nodes.get(name)
    }

    /// The running node `name`, or an environment error saying it is not.
    pub fn running(&self, name: &str) -> Result<&NodeRef> {
        self.node(name)
            .and_then(|n| n.node.as_ref())
            .ok_or_else(|| {
                let state = self.node(name).map_or("missing", |n| n.status.as_str());
                crate::error::Error::Environment(format!(
                    "{name} of lab {} is not running ({state})",
                    self.name
                ))
            })
    }
}

/// A lab as `status` lists it, counted from everything that carries its
/// name, so that a lab `up` left half-made (killed before its first node,
/// or with segments only) shows too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabSummary {
    pub name: String,
    pub scenario: String,
    /// Nodes (hosts and gateways) running, and in all.
    pub running: usize,
    pub nodes: usize,
    /// How many nodes the lab's scenario has, if a node carries it.
    pub expected: Option<usize>,
    /// Objects of the lab that are no node (its claim, the scenarios
    /// `apply` recorded, strays).
    pub others: usize,
    /// Segments made (networks).
    pub networks: usize,
}

impl LabSummary {
    /// True when nodes of the lab are missing, or no node carries its
    /// scenario: an `up` that was killed (or is still at work).
    pub fn partial(&self) -> bool {
        self.expected.is_none_or(|e| self.nodes < e)
    }

    /// One line: why the lab is partial and how to remove it.
    pub fn describe(&self) -> String {
        let nodes = match self.expected {
            Some(e) => format!("{} of its {e} nodes", self.nodes),
            None => format!("{} nodes and no scenario", self.nodes),
        };
        let count = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
        format!(
            "lab {name} is partial: {nodes}, {}, {} \
             (an `up` was killed, or is still at work); seglab down {name} removes it",
            count(self.others, "other container"),
            count(self.networks, "network"),
            name = self.name,
        )
    }
}

/// What `up` hands the backend besides the scenario.
#[derive(Debug, Clone)]
pub struct UpOptions {
    /// The static node agent binary that nodes run as PID 1.
    pub node_binary: PathBuf,
}

/// What a backend readied for nodes to be made from (the node image).
#[derive(Debug, Clone)]
pub struct Prepared {
    pub(crate) image: String,
}

/// A lab name this run holds: only its holder builds the lab (and may
/// clean it up), so two runs that race for one name never undo each other.
#[derive(Debug, Clone)]
pub struct Claim {
    pub lab: String,
    pub(crate) image: String,
}

/// A lab's segments as made: the scenario on the subnets it got.
#[derive(Debug, Clone)]
pub struct Placed {
    pub scenario: Scenario,
    /// The backend's id of each segment.
    pub(crate) segments: BTreeMap<String, String>,
}

/// A node that was created and started, but may not be ready yet.
#[derive(Debug, Clone)]
pub struct Started {
    pub name: String,
    pub kind: NodeKind,
    pub(crate) id: String,
}

/// How a batch of probes runs.
#[derive(Clone)]
pub struct ProbeOptions {
    pub timeout: Duration,
    /// Probes in flight at once for this source.
    pub concurrency: usize,
    /// The round's trace evidence: probes take their source ports from it
    /// and end as soon as a drop of their packets is seen. `None`: no
    /// tracing, every drop costs the timeout.
    pub evidence: Option<Evidence>,
}

/// A node's network state, read inside its namespace ([`LabBackend::inspect`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeNet {
    pub interfaces: Vec<NetInterface>,
    /// IPv4 routes: destination and next hop (`None`: on the link).
    pub routes: Vec<(ipnet::Ipv4Net, Option<std::net::Ipv4Addr>)>,
    /// The rule set's generation: it moves with every committed change, so
    /// a node whose generation has not moved still runs the rule set last
    /// listed. `None` when the backend cannot tell.
    pub ruleset_generation: Option<u32>,
}

/// An interface of a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetInterface {
    pub index: u32,
    pub name: String,
    pub up: bool,
    pub ipv4: Vec<std::net::Ipv4Addr>,
}

/// A running trace listener of one node ([`LabBackend::trace`]); it stops
/// when dropped.
pub struct TraceHandle {
    sync: tokio::sync::mpsc::Sender<tokio::sync::oneshot::Sender<()>>,
    _task: tokio_util::task::AbortOnDropHandle<()>,
}

impl TraceHandle {
    /// A listener run by `task`, which answers each sync request once it
    /// has delivered every event queued before it.
    pub fn new(
        sync: tokio::sync::mpsc::Sender<tokio::sync::oneshot::Sender<()>>,
        task: tokio::task::JoinHandle<()>,
    ) -> TraceHandle {
        TraceHandle {
            sync,
            _task: tokio_util::task::AbortOnDropHandle::new(task),
        }
    }

    /// Returns once every event the node emitted before the call has been
    /// delivered (or the listener has stopped).
    pub async fn sync(&self) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self.sync.send(tx).await.is_ok() {
            let _ = rx.await;
        }
    }
}

/// The lab backend. See the module documentation.
#[allow(async_fn_in_trait)] // used through generics on one thread; no Send bound needed
pub trait LabBackend {
    /// Fails early, before anything is created, when the backend cannot
    /// work here (tools missing).
    fn preflight(&self) -> Result<()>;

    /// Readies what nodes are made from (builds the node image once per
    /// content). Creates nothing of a lab: safe to abandon.
    async fn prepare(&self, opts: &UpOptions) -> Result<Prepared>;

    /// Claims `lab` for this run: exactly one of several racing runs gets
    /// it; the others get "already exists" and have created nothing.
    async fn claim(&self, lab: &str, sc: &Scenario, prepared: &Prepared) -> Result<Claim>;

    /// Makes the lab's segments, moved to free subnets when the scenario's
    /// are taken; returns the scenario as placed. Every request it makes
    /// runs to its answer.
    async fn create_segments(&self, claim: &Claim, sc: &Scenario) -> Result<Placed>;

    /// Creates and starts node `name` of the placed scenario (which is kept
    /// with the lab). Every request it makes runs to its answer.
    async fn create_node(
        &self,
        claim: &Claim,
        placed: &Placed,
        name: &str,
        kind: NodeKind,
    ) -> Result<Started>;

    /// Waits until a started node's agent is ready; creates nothing, so it
    /// is safe to abandon.
    async fn node_ready(&self, node: &Started) -> Result<NodeRef>;

    /// The lab `lab`: its scenario (the one last recorded, see
    /// [`LabBackend::record_scenario`]) and nodes. An unknown lab is bad input.
    async fn find_lab(&self, lab: &str) -> Result<LabInfo>;

    /// Records `sc` as the lab's scenario from now on (`apply` changed a
    /// gateway's rule set): every later [`LabBackend::find_lab`], in this
    /// process or another, returns it. The lab keeps it with its own
    /// objects, so it goes with `remove_lab`. Two records at once must not
    /// both succeed silently: the loser gets an error (bad input, "try
    /// again"), and a record either lands whole or not at all.
    async fn record_scenario(&self, lab: &str, sc: &Scenario) -> Result<()>;

    /// Every lab, complete or not.
    async fn list_labs(&self) -> Result<Vec<LabSummary>>;

    /// One lab's summary; `None` when nothing of it exists.
    async fn lab_summary(&self, lab: &str) -> Result<Option<LabSummary>>;

    /// Removes everything of `lab`; safe to repeat and on a half-made lab.
    /// Returns how many objects were removed.
    async fn remove_lab(&self, lab: &str) -> Result<usize>;

    /// Removes every lab.
    async fn remove_all(&self) -> Result<usize>;

    /// Runs a program of seglab's machine (`nft`, `ip`) inside the node's
    /// network namespace, with `stdin`, and returns what it printed.
    async fn run(
        &self,
        node: &NodeRef,
        program: &str,
        args: &[&str],
        stdin: Option<Vec<u8>>,
    ) -> Result<Output, NetnsError>;

    /// Runs a batch of probes from inside the node's network namespace.
    async fn probe(
        &self,
        node: &NodeRef,
        targets: Vec<ProbeTarget>,
        opts: ProbeOptions,
        window: &Window,
    ) -> Result<Vec<Observation>, NetnsError>;

    /// Scans from inside the node's network namespace: every port of every
    /// target of `job` (see [`crate::scan`]), within `window`.
    async fn scan(
        &self,
        node: &NodeRef,
        job: ScanJob,
        window: &Window,
    ) -> Result<Vec<TargetScan>, NetnsError>;

    /// The node's interfaces, routes and rule set generation, read inside
    /// its namespace (cheaply: health checks read it before and after every
    /// probing round).
    async fn inspect(&self, node: &NodeRef) -> Result<NodeNet, NetnsError>;

    /// Starts delivering the node's trace events (see [`crate::trace`]) to
    /// `sink` until the handle is dropped. Listening starts before this
    /// returns: every event after it is delivered.
    async fn trace(
        &self,
        node: &NodeRef,
        sink: std::sync::Arc<dyn TraceSink>,
    ) -> Result<TraceHandle, NetnsError>;

    /// Runs a program interactively inside the node's namespace, with
    /// seglab's terminal; blocking.
    fn exec_interactive(&self, node: &NodeRef, argv: &[String]) -> Result<ExitStatus, NetnsError>;

    /// Chains whose names start with this belong to the platform (its own
    /// tables in a node's rule set): seglab never resets or seals them.
    fn platform_chain_prefix(&self) -> &'static str;
}
