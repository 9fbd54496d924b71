//! The Docker backend: a lab on the local Docker engine. Segments are
//! bridge networks, nodes are containers running the node agent, and
//! everything carries the lab's label (`io.seglab.lab=<lab>`), so that a
//! lab is found, listed and removed whatever state `up` reached. The
//! resolved scenario is kept in a label of every node, and each `apply`'s
//! in a revision container of its own ([`revision`]). A node's namespace
//! is on this machine: seglab enters it by its PID 1 (`setns`, in
//! [`crate::netns`]) to configure and probe it.
//!
//! Docker's own quirks stay here: its reserved address per network, its
//! DNS table in each node (`DOCKER_*` chains), the engine's stale endpoint
//! counts (moby/moby#42119) that `down` works around.

mod claim;
mod conntrack;
pub mod engine;
mod inspect;
mod losses;
mod nodes;
mod revision;
mod segments;
mod state;
mod taken;
mod teardown;
mod trace;

pub use claim::LABEL_CLAIM;
pub use engine::{Engine, RuntimeError};
pub use nodes::{LABEL_IMAGE, LABEL_LAB};
pub use revision::LABEL_REVISION;

use super::{
    Claim, LabBackend, LabInfo, LabSummary, NodePlace, NodeRef, Placed, Prepared, ProbeOptions,
    Started, UpOptions,
};
use crate::error::{Error, Result};
use crate::netns::{self, NetnsError};
use crate::node_contract::{NodeKind, READY_LINE};
use crate::probe::{Observation, ProbeTarget, Window};
use crate::scenario::Scenario;
use std::process::{ExitStatus, Output};
use std::time::Duration;

/// How long a started node may take until its agent says it is ready.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// Labs on the local Docker engine.
#[derive(Debug, Clone)]
pub struct DockerBackend {
    engine: Engine,
}

impl DockerBackend {
    /// Connects to the local engine (see [`Engine::connect`]).
    pub async fn connect() -> Result<DockerBackend, RuntimeError> {
        Ok(DockerBackend {
            engine: Engine::connect().await?,
        })
    }

    /// Removes seglab's node images (`down --images`).
    pub async fn remove_images(&self) -> Result<usize> {
        Ok(self.engine.remove_images(&[(LABEL_IMAGE, "")]).await?)
    }

    fn pid(node: &NodeRef) -> u32 {
        match node.place {
            NodePlace::Local { pid } => pid,
            #[cfg(test)]
            NodePlace::Fake => unreachable!("a fake node given to the Docker backend"),
        }
    }
}

impl LabBackend for DockerBackend {
    fn preflight(&self) -> Result<()> {
        Ok(netns::check_tools()?)
    }

    async fn prepare(&self, opts: &UpOptions) -> Result<Prepared> {
        let image = nodes::ensure_node_image(&self.engine, &opts.node_binary).await?;
        Ok(Prepared { image })
    }

    async fn claim(&self, lab: &str, sc: &Scenario, prepared: &Prepared) -> Result<Claim> {
        // The claim itself checks for the lab's objects once it holds the
        // name; a look before would only repeat that.
        claim::claim(&self.engine, lab, sc, &prepared.image).await?;
        Ok(Claim {
            lab: lab.to_string(),
            image: prepared.image.clone(),
        })
    }

    async fn create_segments(&self, claim: &Claim, sc: &Scenario) -> Result<Placed> {
        let (scenario, segments) = segments::create_networks(&self.engine, &claim.lab, sc).await?;
        Ok(Placed { scenario, segments })
    }

    async fn create_node(
        &self,
        claim: &Claim,
        placed: &Placed,
        name: &str,
        kind: NodeKind,
    ) -> Result<Started> {
        let spec = nodes::node_spec(
            &claim.lab,
            &placed.scenario,
            &claim.image,
            &placed.segments,
            name,
            kind,
        );
        let id = self.engine.create_container(&spec).await?;
        self.engine.start_container(&id).await?;
        Ok(Started {
            name: name.to_string(),
            kind,
            id,
        })
    }

    async fn node_ready(&self, node: &Started) -> Result<NodeRef> {
        self.engine
            .wait_for_log_line(&node.id, READY_LINE, READY_TIMEOUT)
            .await?;
        let c = self.engine.inspect_container(&node.id).await?;
        let pid = c.pid.filter(|_| c.running).ok_or_else(|| {
            Error::Environment(format!("{} stopped once ready ({})", node.name, c.status))
        })?;
        Ok(NodeRef {
            name: node.name.clone(),
            place: NodePlace::Local { pid },
        })
    }

    async fn find_lab(&self, lab: &str) -> Result<LabInfo> {
        state::find_lab(&self.engine, lab).await
    }

    async fn record_scenario(&self, lab: &str, sc: &Scenario) -> Result<()> {
        let n = revision::record(&self.engine, lab, sc).await?;
        tracing::debug!("lab {lab}: scenario recorded as revision {n}");
        Ok(())
    }

    async fn list_labs(&self) -> Result<Vec<LabSummary>> {
        state::list_labs(&self.engine).await
    }

    async fn lab_summary(&self, lab: &str) -> Result<Option<LabSummary>> {
        state::lab_summary(&self.engine, lab).await
    }

    async fn remove_lab(&self, lab: &str) -> Result<usize> {
        teardown::down(&self.engine, lab).await
    }

    async fn remove_all(&self) -> Result<usize> {
        teardown::remove_by_label(&self.engine, &[(LABEL_LAB, "")]).await
    }

    async fn run(
        &self,
        node: &NodeRef,
        program: &str,
        args: &[&str],
        stdin: Option<Vec<u8>>,
    ) -> Result<Output, NetnsError> {
        netns::run(Self::pid(node), program, args, stdin).await
    }

    async fn probe(
        &self,
        node: &NodeRef,
        targets: Vec<ProbeTarget>,
        opts: ProbeOptions,
        window: &Window,
    ) -> Result<Vec<Observation>, NetnsError> {
        crate::probe::probe_from(Self::pid(node), targets, opts, window).await
    }

    async fn scan(
        &self,
        node: &NodeRef,
        job: crate::scan::ScanJob,
        window: &Window,
    ) -> Result<Vec<crate::scan::TargetScan>, NetnsError> {
        let pid = Self::pid(node);
        let paths = job
            .targets
            .iter()
            .map(|t| (t.id, t.path.iter().map(Self::pid).collect()))
            .collect();
        let footprint =
            conntrack::HostFootprint::open(pid, paths).map_err(|source| NetnsError::Io {
                pid,
                context: "cannot open the conntrack table and loss counters".to_string(),
                source,
            })?;
        crate::scan::engine::scan_from(pid, job, window, Box::new(footprint)).await
    }

    async fn inspect(&self, node: &NodeRef) -> Result<super::NodeNet, NetnsError> {
        inspect::inspect(Self::pid(node)).await
    }

    async fn trace(
        &self,
        node: &NodeRef,
        sink: std::sync::Arc<dyn crate::trace::evidence::TraceSink>,
    ) -> Result<super::TraceHandle, NetnsError> {
        trace::listen(Self::pid(node), &node.name, sink).await
    }

    fn exec_interactive(&self, node: &NodeRef, argv: &[String]) -> Result<ExitStatus, NetnsError> {
        netns::exec_interactive(Self::pid(node), argv)
    }

    fn platform_chain_prefix(&self) -> &'static str {
        "DOCKER_"
    }
}
