//! Claiming a lab name before anything of the lab is made. Two `up` runs
//! with the same name may both find the name free; the claim decides which
//! of them goes on. It is a container that is never started, named after
//! the lab: the engine makes container names unique atomically, so exactly
//! one create succeeds and the other gets a conflict. The loser has then
//! created nothing and cleans nothing up, so it can never remove the
//! winner's lab. The claim stays for the lab's lifetime (it also makes a
//! lab that `up` left half-made visible) and goes with `down`, by label.

use super::{labels, LABEL_LAB};
use crate::error::{Error, Result};
use crate::runtime::{ContainerSpec, Runtime, RuntimeError};
use crate::scenario::Scenario;

/// Marks the claim container (it is neither a host nor a gateway).
pub const LABEL_CLAIM: &str = "io.seglab.claim";

/// The claim's container name: a `.` is in no lab or node name, so it
/// cannot be any node's container name (`seglab-LAB-NODE`).
pub(super) fn claim_name(lab: &str) -> String {
    format!("seglab-{lab}.claim")
}

/// The answer to an `up` whose lab name is taken.
pub(super) fn already_exists(lab: &str) -> Error {
    Error::Input(format!(
        "lab {lab} already exists (seglab status {lab} shows it; seglab down {lab} removes it)"
    ))
}

/// Claims `lab` for this run; `Error::Input` "already exists" when another
/// run holds it, or when objects of a lab by that name are still there
/// (say, one being taken down right now). Returns the claim's id.
pub(super) async fn claim(rt: &Runtime, lab: &str, sc: &Scenario, image: &str) -> Result<String> {
    let spec = ContainerSpec {
        name: claim_name(lab),
        hostname: "claim".into(),
        image: image.to_string(),
        labels: labels(lab, sc, &[(LABEL_CLAIM, "1")]),
        cap_drop: vec!["ALL".into()],
        no_new_privileges: true,
        read_only: true,
        ..ContainerSpec::default()
    };
    let id = match rt.create_container(&spec).await {
        Ok(id) => id,
        Err(RuntimeError::NameTaken { .. }) => return Err(already_exists(lab)),
        Err(e) => return Err(e.into()),
    };
    // The name was free, but a lab of that name may still be going away
    // (its claim removed first): then it is not ours to build on.
    let others = rt
        .containers(&[(LABEL_LAB, lab)])
        .await?
        .iter()
        .any(|c| c.id != id)
        || !rt.networks(&[(LABEL_LAB, lab)]).await?.is_empty();
    if others {
        rt.remove_container(&id).await?;
        return Err(already_exists(lab));
    }
    Ok(id)
}
