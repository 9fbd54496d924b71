//! Claiming a lab name before anything of the lab is made. Two `up` runs
//! with the same name may both find the name free; the claim decides which
//! of them goes on. It is a container that is never started, named after
//! the lab: the engine makes container names unique atomically, so exactly
//! one create succeeds and the other gets a conflict. The loser has then
//! created nothing and cleans nothing up, so it can never remove the
//! winner's lab. The claim stays for the lab's lifetime (it also makes a
//! lab that `up` left half-made visible) and goes with `down`, by label.

use super::engine::{ContainerSpec, Engine, RuntimeError};
use super::nodes::{labels, LABEL_LAB};
use crate::error::{Error, Result};
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
pub(super) async fn claim(rt: &Engine, lab: &str, sc: &Scenario, image: &str) -> Result<String> {
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
    let filter = [(LABEL_LAB, lab)];
    let (containers, networks) = tokio::join!(rt.containers(&filter), rt.networks(&filter));
    if containers?.iter().any(|c| c.id != id) || !networks?.is_empty() {
        rt.remove_container(&id).await?;
        return Err(already_exists(lab));
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::super::engine::ContextFile;
    use super::*;
    use std::collections::HashMap;

    /// Against the real engine, without the check `up` makes first: the
    /// claim alone must let exactly one of two racers through, and refuse
    /// (removing its own claim again) when objects of the lab exist.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn of_two_claims_at_once_exactly_one_wins() {
        if !crate::tier::live(&[crate::tier::Need::Docker]) {
            return;
        }
        let rt = Engine::connect().await.expect("a Docker engine");
        let lab = format!("claim-test-{}", std::process::id());
        let sc = crate::scenario::load("scenario-2").unwrap();
        let image_label = ("io.seglab.test-image", lab.as_str());
        let files = [
            ContextFile {
                path: "Dockerfile".into(),
                bytes: b"FROM scratch\nCOPY nonce /nonce\nCMD [\"/none\"]\n".to_vec(),
                mode: 0o644,
            },
            ContextFile {
                path: "nonce".into(),
                bytes: lab.as_bytes().to_vec(),
                mode: 0o644,
            },
        ];
        let labels = HashMap::from([(image_label.0.to_string(), lab.clone())]);
        let image = rt
            .ensure_image(&format!("seglab-claim-test:{lab}"), &files, &labels)
            .await
            .unwrap();

        let outcome = async {
            let (a, b) = tokio::join!(claim(&rt, &lab, &sc, &image), claim(&rt, &lab, &sc, &image));
            let claims = rt.containers(&[(LABEL_LAB, &lab)]).await.unwrap().len();
            // A stray object of the lab: a fresh claim is refused.
            super::super::teardown::down(&rt, &lab).await.unwrap();
            let stray = ContainerSpec {
                name: format!("seglab-{lab}-stray"),
                image: image.clone(),
                labels: HashMap::from([(LABEL_LAB.to_string(), lab.clone())]),
                ..ContainerSpec::default()
            };
            rt.create_container(&stray).await.unwrap();
            let c = claim(&rt, &lab, &sc, &image).await;
            let left: Vec<String> = rt
                .containers(&[(LABEL_LAB, &lab)])
                .await
                .unwrap()
                .into_iter()
                .map(|c| c.name)
                .collect();
            (a, b, claims, c, left)
        }
        .await;
        let cleaned = super::super::teardown::down(&rt, &lab).await;
        let images = rt.remove_images(&[image_label]).await;

        let (a, b, claims, c, left) = outcome;
        let refused = |r: &Result<String>| matches!(r, Err(Error::Input(m)) if m.contains(&format!("lab {lab} already exists")));
        assert!(
            a.is_ok() && refused(&b) || refused(&a) && b.is_ok(),
            "{a:?} {b:?}"
        );
        assert_eq!(claims, 1);
        assert!(refused(&c), "{c:?}");
        assert_eq!(left, vec![format!("seglab-{lab}-stray")]);
        cleaned.unwrap();
        images.unwrap();
    }
}
