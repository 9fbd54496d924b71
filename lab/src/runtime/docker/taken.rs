//! What already holds subnets on the Docker engine's machine, for a lab
//! whose subnets cannot move ([`crate::pinned`]): the machine's routes, the
//! segments of other labs, and the engine's other networks. Read only.

use super::engine::Engine;
use super::nodes::{LABEL_LAB, LABEL_SEGMENT};
use crate::error::{Error, Result};
use crate::pinned::Taken;
use ipnet::Ipv4Net;

/// Everything that holds a subnet, but lab `lab`'s own networks.
pub(super) async fn taken(rt: &Engine, lab: &str) -> Result<Vec<Taken>> {
    let mut out = Vec::new();
    for n in rt.networks(&[]).await? {
        let owner = n.labels.get(LABEL_LAB);
        if owner.is_some_and(|o| o == lab) {
            continue;
        }
        for subnet in n.subnets {
            out.push(match owner {
                Some(other) => Taken::Lab {
                    lab: other.clone(),
                    segment: n
                        .labels
                        .get(LABEL_SEGMENT)
                        .cloned()
                        .unwrap_or_else(|| n.name.clone()),
                    subnet,
                },
                None => Taken::Network {
                    name: n.name.clone(),
                    subnet,
                },
            });
        }
    }
    out.extend(host_routes().await?);
    Ok(out)
}

/// The machine's IPv4 routes, every table (`ip -j -4 route show table all`).
async fn host_routes() -> Result<Vec<Taken>> {
    let out = tokio::process::Command::new("ip")
        .args(["-j", "-4", "route", "show", "table", "all"])
        .output()
        .await
        .map_err(|e| Error::Environment(format!("cannot read this machine's routes: {e}")))?;
    if !out.status.success() {
        return Err(Error::Environment(format!(
            "cannot read this machine's routes: ip: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    routes_from_json(&String::from_utf8_lossy(&out.stdout))
        .map_err(|e| Error::Environment(format!("cannot read this machine's routes: {e}")))
}

#[derive(serde::Deserialize)]
struct Route {
    dst: String,
    #[serde(default)]
    dev: Option<String>,
}

/// Routes from `ip -j route` output; `default` is 0.0.0.0/0, which
/// [`crate::pinned::collisions`] leaves out.
fn routes_from_json(text: &str) -> Result<Vec<Taken>, serde_json::Error> {
    let routes: Vec<Route> = serde_json::from_str(text)?;
    Ok(routes
        .into_iter()
        .filter_map(|r| {
            let dest = match r.dst.as_str() {
                "default" => Ipv4Net::default(),
                d if d.contains('/') => d.parse().ok()?,
                d => Ipv4Net::new(d.parse().ok()?, 32).ok()?,
            };
            Some(Taken::Route {
                dest,
                dev: r.dev.unwrap_or_else(|| "-".into()),
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_of_every_table_are_read() {
        // Captured on this machine (`ip -j -4 route show table all`).
        let json = r#"[{"dst":"default","gateway":"192.0.2.1","dev":"eth0","flags":[]},{"dst":"172.17.0.0/16","dev":"docker0","protocol":"kernel","scope":"link","prefsrc":"172.17.0.1","flags":["linkdown"]},{"type":"local","dst":"127.0.0.1","dev":"lo","table":"local","protocol":"kernel","scope":"host","prefsrc":"127.0.0.1","flags":[]},{"type":"blackhole","dst":"10.99.0.0/16","flags":[]}]"#;
        let routes: Vec<String> = routes_from_json(json)
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            routes,
            vec![
                "route 0.0.0.0/0 dev eth0 of this machine",
                "route 172.17.0.0/16 dev docker0 of this machine",
                "route 127.0.0.1/32 dev lo of this machine",
                "route 10.99.0.0/16 dev - of this machine",
            ]
        );
    }
}
