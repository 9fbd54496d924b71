//! The `params` section, then the command line's `--param KEY=VALUE`
//! overrides on top of it.

use super::{at, RawParams};
use crate::catalog::{Params, Release};
use crate::diag::Diagnostics;
use crate::scenario::ScenarioError;

/// The file's parameters with the overrides applied. A bad value in the file
/// is a located problem among the others; a bad override is not in the file,
/// so it ends the resolution on its own.
pub(super) fn resolve(
    d: &mut Diagnostics,
    raw: &RawParams,
    overrides: &[(String, String)],
) -> Result<Params, ScenarioError> {
    let mut params = Params::default();
    if let Some(cp) = &raw.console_port {
        match u16::try_from(cp.value) {
            Ok(p) if p > 0 => params.console_port = p,
            _ => d.push(
                at(cp),
                "params.console_port",
                format!("port {} is out of range 1-65535", cp.value),
            ),
        }
    }
    if let Some(r) = &raw.release {
        match r.value.parse() {
            Ok(rel) => params.release = rel,
            Err(e) => d.push(at(r), "params.release", e),
        }
    }
    for (k, v) in overrides {
        apply_param(&mut params, k, v).map_err(ScenarioError::BadOverride)?;
    }
    Ok(params)
}

/// Applies one `KEY=VALUE` parameter override.
pub fn apply_param(params: &mut Params, key: &str, value: &str) -> Result<(), String> {
    match key {
        "console_port" => {
            params.console_port = value
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("--param console_port={value}: not a port (1-65535)"))?;
        }
        "release" => {
            params.release = value
                .parse::<Release>()
                .map_err(|e| format!("--param release={value}: {e}"))?;
        }
        other => {
            return Err(format!(
                "--param {other}: unknown parameter (known: console_port, release)"
            ))
        }
    }
    Ok(())
}
