//! `up`, `down` and `exec`: bring a lab up, remove it, run a host program
//! inside one of its nodes.

use super::output::progress_sink;
use super::{load_with, Outcome};
use crate::cancel::Cancel;
use crate::cli::LabInputs;
use crate::error::{Error, Result};
use crate::lab::{self, UpOptions};
use crate::runtime::docker::DockerBackend;
use crate::runtime::LabBackend;

pub(super) async fn up(
    scenario: String,
    name: Option<String>,
    inputs: LabInputs,
) -> Result<Outcome> {
    let sc = load_with(&scenario, &inputs, true)?;
    let name = name.unwrap_or_else(|| lab::fresh_name(&sc.name));
    lab::check_lab_name(&name)?;
    let rt = DockerBackend::connect().await?;
    let opts = UpOptions {
        node_binary: lab::default_node_binary()?,
    };
    let cancel = Cancel::on_signals();
    let progress = progress_sink();
    let info = lab::up_or_clean(&rt, &name, &sc, &opts, &progress, &cancel).await;
    progress("done");
    let info = info?;
    Ok(format!(
        "lab {name} is up ({} nodes); seglab verify {name}; seglab down {name}",
        info.nodes.len()
    )
    .into())
}

pub(super) async fn down(lab: Option<String>, all: bool, images: bool) -> Result<Outcome> {
    let rt = DockerBackend::connect().await?;
    let mut n = match lab {
        Some(l) => rt.remove_lab(&l).await?,
        None if all => rt.remove_all().await?,
        None => 0,
    };
    if images {
        n += rt.remove_images().await?;
    }
    Ok(format!("removed {n} objects").into())
}

pub(super) async fn exec(lab: String, node: String, command: Vec<String>) -> Result<Outcome> {
    let rt = DockerBackend::connect().await?;
    let info = rt.find_lab(&lab).await?;
    let n = info.node(&node).ok_or_else(|| {
        Error::Input(format!(
            "lab {lab} has no host or gateway `{node}` (it has: {})",
            info.nodes.keys().cloned().collect::<Vec<_>>().join(", ")
        ))
    })?;
    let target = n.node.clone().ok_or_else(|| {
        Error::Environment(format!("{node} of lab {lab} is not running ({})", n.status))
    })?;
    let backend = rt.clone();
    let status = tokio::task::spawn_blocking(move || backend.exec_interactive(&target, &command))
        .await
        .map_err(|e| Error::Environment(format!("exec failed: {e}")))??;
    // Like a shell: the command's own status, 128+N for a signal.
    use std::os::unix::process::ExitStatusExt;
    let code = status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
    Ok(Outcome {
        exit_code: Some(code),
        ..Outcome::default()
    })
}
