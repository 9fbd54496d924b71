//! `graph`: the topology of a scenario, or of a running lab as placed
//! (its actual subnets and interface names), as SVG, DOT or Mermaid.

use super::{design, Outcome};
use crate::error::{Error, Result};
use crate::graph::{self, PathColours, Topology};
use crate::runtime::docker::DockerBackend;
use crate::runtime::LabBackend;
use crate::scenario::{builtin, Scenario, ScenarioError};
use std::path::Path;

/// Output format of `graph`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GraphFormat {
    /// A drawing that needs no other tool (browsers, documents, slides).
    Svg,
    /// Graphviz source (`dot -Tpng`).
    Dot,
    /// A Mermaid flowchart (Markdown on GitHub and GitLab).
    Mermaid,
}

pub(super) async fn graph(
    target: &str,
    format: GraphFormat,
    params: &[String],
    output: Option<&Path>,
) -> Result<Outcome> {
    let params = design::parse_pairs(params, "--param")?;
    let sc = match design::load(target, &params) {
        Ok(sc) => sc,
        Err(Error::Scenario(ScenarioError::NotFound { .. })) => {
            lab_scenario(target, &params).await?
        }
        Err(e) => return Err(e),
    };
    let t = Topology::from_scenario(&sc);
    let text = match format {
        GraphFormat::Svg => graph::svg(&t, &PathColours::new()),
        GraphFormat::Dot => graph::dot::dot(&t),
        GraphFormat::Mermaid => graph::mermaid::mermaid(&t),
    };
    match output {
        None => Ok(text.into()),
        Some(path) => {
            std::fs::write(path, &text).map_err(|e| {
                Error::Input(format!(
                    "--output {}: cannot be written: {e}",
                    path.display()
                ))
            })?;
            Ok(Outcome::default())
        }
    }
}

/// The scenario of the running lab `name`, as placed; bad input naming
/// both possibilities when `name` is neither a scenario nor a lab.
async fn lab_scenario(name: &str, params: &[(String, String)]) -> Result<Scenario> {
    let not_a_scenario = format!(
        "no scenario file or built-in scenario named `{name}` (built in: {})",
        builtin::names().join(", ")
    );
    if crate::lab::check_lab_name(name).is_err() {
        return Err(Error::Input(format!(
            "{not_a_scenario}, and `{name}` cannot be a lab's name"
        )));
    }
    let rt = DockerBackend::connect().await.map_err(|e| {
        Error::Input(format!(
            "{not_a_scenario}, and no lab of that name could be looked for: {e}"
        ))
    })?;
    match rt.find_lab(name).await {
        Ok(_) if !params.is_empty() => Err(Error::Input(format!(
            "--param changes a scenario, not the running lab `{name}`"
        ))),
        Ok(info) => Ok(info.scenario),
        Err(Error::Input(why)) => Err(Error::Input(format!("{not_a_scenario}, and {why}"))),
        Err(e) => Err(e),
    }
}
