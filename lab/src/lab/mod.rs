//! A live lab, whatever backend runs it: `up` claims the lab's name,
//! makes its segments and nodes and configures every node through the
//! backend (routes, the host's own rules, each gateway's rule set, sealed
//! so that `verify` can tell they are still in place); `down` removes it.
//! On any failure or interrupt `up` removes what it made itself.

pub mod apply;
mod interfaces;
mod iptables;
mod overrides;

pub use crate::runtime::{LabInfo, LabSummary, NodeInfo, UpOptions};
pub use iptables::{load_iptables, replace_with_dump};
pub use overrides::{apply_overrides, fits, RulesetOverride};

use crate::cancel::Cancel;
use crate::error::{Error, Result};
use crate::health;
use crate::netns::NetnsError;
use crate::nft;
use crate::node_contract::NodeKind;
use crate::runtime::{LabBackend, NodeRef};
use crate::scenario::{topology, Gateway, RuleFile, Scenario};
use crate::trace;
use futures_util::{stream, StreamExt};
use std::path::PathBuf;

/// Nodes started at once: the engine serializes much of a start, and
/// measured here more than a few in flight only add contention.
const PARALLEL_START: usize = 4;

/// Where the node agent binary is: `SEGLAB_NODE_BIN`, else next to the
/// running executable (cargo and `make` put both binaries in one folder).
pub fn default_node_binary() -> Result<PathBuf> {
    if let Ok(p) = std::env::var("SEGLAB_NODE_BIN") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe()
        .map_err(|e| Error::Environment(format!("cannot find seglab's own executable: {e}")))?;
    let dir = exe.parent().unwrap_or(std::path::Path::new("."));
    for cand in [dir.join("seglab-node"), dir.join("../seglab-node")] {
        if cand.exists() {
            return Ok(cand);
        }
    }
    Err(Error::Environment(format!(
        "the node agent `seglab-node` is not next to {} (build it with `cargo build`, or set SEGLAB_NODE_BIN)",
        exe.display()
    )))
}

/// A fresh lab name: the scenario's name and a random suffix of eight hex
/// digits. Should the system's random source fail, the clock and the PID
/// still make two runs' names differ.
pub fn fresh_name(scenario: &str) -> String {
    let suffix = getrandom::u32().unwrap_or_else(|_| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        nanos ^ std::process::id()
    });
    format!("{scenario}-{suffix:08x}")
}

pub fn check_lab_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 40
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(Error::Input(format!(
            "lab name `{name}`: use letters, digits, `-` and `_` (at most 40, starting with a letter or digit)"
        )))
    }
}

/// Brings `sc` up as lab `claim.lab` and returns once it is ready: every
/// stub listening, every route in place, every rule set loaded. On failure
/// the caller removes what was made (see [`up_or_clean`]).
///
/// Cancellation is cooperative: a request that creates something always
/// runs to its answer, and `cancel` is looked at between them (and races
/// only the waits that create nothing). A request dropped mid-way would
/// still be carried out by a busy engine, after the cleanup's sweep.
async fn up_inner<B: LabBackend>(
    b: &B,
    claim: &crate::runtime::Claim,
    sc: &Scenario,
    progress: &dyn Fn(&str),
    cancel: &Cancel,
) -> Result<LabInfo> {
    let check = || {
        if cancel.is_cancelled() {
            Err(Error::Interrupted)
        } else {
            Ok(())
        }
    };
    progress("networks");
    let placed = b.create_segments(claim, sc).await?;
    check()?;
    progress("containers, routes and rules");
    let nodes = placed
        .scenario
        .gateways
        .iter()
        .map(|g| (g.name.as_str(), NodeKind::Gateway))
        .chain(
            placed
                .scenario
                .hosts
                .iter()
                .map(|h| (h.name.as_str(), NodeKind::Host)),
        );
    // Each node is configured as soon as it is ready, while others start.
    stream::iter(nodes)
        .map(|(name, kind)| {
            let placed = &placed;
            async move {
                check()?;
                let started = b.create_node(claim, placed, name, kind).await?;
                let node = tokio::select! {
                    r = b.node_ready(&started) => r?,
                    () = cancel.cancelled() => return Err(Error::Interrupted),
                };
                check()?;
                configure_node(b, &placed.scenario, &claim.lab, &node, kind).await
            }
        })
        .buffer_unordered(PARALLEL_START)
        // Not `try_collect`: it would drop the others mid-request.
        .collect::<Vec<Result<()>>>()
        .await
        .into_iter()
        .collect::<Result<Vec<()>>>()?;
    check()?;
    b.find_lab(&claim.lab).await
}

/// Routes and rules of one node, applied inside its namespace.
async fn configure_node<B: LabBackend>(
    b: &B,
    sc: &Scenario,
    lab: &str,
    node: &NodeRef,
    kind: NodeKind,
) -> Result<()> {
    let name = node.name.as_str();
    // The platform may leave a default route to an address where nothing
    // answers (Docker's reserved one); ours replace it (or none stays, so
    // nothing can leave a lab without gateways).
    b.run(node, "ip", &["route", "flush", "exact", "0.0.0.0/0"], None)
        .await?;
    match kind {
        NodeKind::Host => {
            if let Some(gw) = topology::host_gateway(sc, name) {
                ip_batch(b, node, &format!("route replace default via {gw}\n")).await?;
            }
            let host = sc.host(name).expect("the node is a host of the scenario");
            let mut rules = nft::host_rules(host);
            // A host firewall can stop a probe: its drops are traced too.
            if host.firewall.is_some() {
                rules.push_str(&trace::table::trace_table());
            }
            // Scans leave from hosts and end in them: their conntrack
            // entries get short timeouts here too.
            rules.push_str(&crate::scan::table::scan_table());
            apply_rules(b, node, &rules, "seglab's host rules", name, lab, 0).await?;
            health::seal_node(b, node, None).await?;
        }
        NodeKind::Gateway => {
            let gw = sc
                .gateway(name)
                .expect("the node is a gateway of the scenario");
            // Before routes and rules: renaming takes a link down, which
            // drops the routes through it, and rules may match on names.
            name_interfaces(b, node, gw).await?;
            let routes: String = topology::gateway_routes(sc, name)
                .iter()
                .map(|r| format!("route replace {} via {}\n", r.dest, r.via))
                .collect();
            if !routes.is_empty() {
                ip_batch(b, node, &routes).await?;
            }
            // Kept by every reset of the gateway's rule set.
            let own = trace::table::trace_table() + &crate::scan::table::scan_table();
            nft_apply(b, node, &own).await?;
            load_gateway_ruleset(b, sc, lab, node, gw.ruleset.as_ref()).await?;
        }
    }
    Ok(())
}

/// Renames the gateway's interfaces to the scenario's names (see
/// [`interfaces`]). Bringing a link up again gives it back its connected
/// route: the kernel keeps the address.
async fn name_interfaces<B: LabBackend>(b: &B, node: &NodeRef, gw: &Gateway) -> Result<()> {
    let found = b.inspect(node).await?;
    let batch = interfaces::rename_batch(gw, &found.interfaces).map_err(Error::Environment)?;
    if !batch.is_empty() {
        ip_batch(b, node, &batch).await?;
    }
    Ok(())
}

/// `ip -batch -`: one `ip` command per line, without the leading `ip`.
async fn ip_batch<B: LabBackend>(b: &B, node: &NodeRef, commands: &str) -> Result<(), NetnsError> {
    b.run(
        node,
        "ip",
        &["-batch", "-"],
        Some(commands.as_bytes().to_vec()),
    )
    .await
    .map(drop)
}

/// `nft -f -` with `ruleset` inside a node; a refusal is
/// [`NetnsError::NftRejected`] with nft's own message.
pub(crate) async fn nft_apply<B: LabBackend>(
    b: &B,
    node: &NodeRef,
    ruleset: &str,
) -> Result<(), NetnsError> {
    b.run(node, "nft", &["-f", "-"], Some(ruleset.as_bytes().to_vec()))
        .await
        .map(drop)
        .map_err(NetnsError::as_nft_rejection)
}

async fn apply_rules<B: LabBackend>(
    b: &B,
    node: &NodeRef,
    text: &str,
    file: &str,
    target: &str,
    lab: &str,
    offset: usize,
) -> Result<()> {
    match nft_apply(b, node, text).await {
        Ok(()) => Ok(()),
        Err(NetnsError::NftRejected { stderr, .. }) => Err(Error::Ruleset {
            file: file.to_string(),
            target: format!("{target} of lab {lab}"),
            message: nft::map_error(&stderr, file, offset),
        }),
        Err(e) => Err(e.into()),
    }
}

/// Deletes every table in a gateway except the platform's, so that a
/// reload starts from nothing whatever the previous file created.
async fn reset_gateway<B: LabBackend>(b: &B, node: &NodeRef) -> Result<()> {
    let listing = health::listing(b, node).await?;
    let tables = health::seal::tables_to_reset(&listing, b.platform_chain_prefix())
        .map_err(|e| Error::Environment(format!("cannot reset the gateway's rule set: {e}")))?;
    let cmds: String = tables
        .iter()
        .map(|t| format!("delete table {t}\n"))
        .collect();
    if !cmds.is_empty() {
        nft_apply(b, node, &cmds).await?;
    }
    Ok(())
}

/// Loads a gateway's rule set from scratch (used by `up` and to close a
/// phase) and seals it, so that `verify` can tell it is still in place.
pub(crate) async fn load_gateway_ruleset<B: LabBackend>(
    b: &B,
    sc: &Scenario,
    lab: &str,
    node: &NodeRef,
    rules: Option<&RuleFile>,
) -> Result<()> {
    if let Some(r) = rules.filter(|r| iptables::is_dump(r)) {
        iptables::replace_with_dump(b, node, r, lab).await?;
        health::seal_node(b, node, None).await?;
        return Ok(());
    }
    reset_gateway(b, node).await?;
    if let Some(r) = rules {
        load_file(b, sc, lab, node, r, true).await?;
    }
    health::seal_node(b, node, None).await?;
    Ok(())
}

/// Applies an nft file (with the address defines) on top of what is loaded.
pub(crate) async fn apply_file<B: LabBackend>(
    b: &B,
    sc: &Scenario,
    lab: &str,
    node: &NodeRef,
    rules: &RuleFile,
) -> Result<()> {
    if iptables::is_dump(rules) {
        // Refused when the scenario or `--ruleset` was read; never reset a
        // gateway's rule set on the way to a phase.
        let e = crate::rulefile::check_phase_file(rules).expect_err("a dump");
        return Err(Error::Input(e[0].to_string()));
    }
    load_file(b, sc, lab, node, rules, false).await
}

/// Applies an nft file; `freshly_reset` says the node's tables were just
/// deleted, so a `flush ruleset` in the file needs no reset of its own.
async fn load_file<B: LabBackend>(
    b: &B,
    sc: &Scenario,
    lab: &str,
    node: &NodeRef,
    rules: &RuleFile,
    freshly_reset: bool,
) -> Result<()> {
    let (user_text, flushes) = nft::without_flush_ruleset(&rules.text);
    if !flushes.is_empty() {
        // What the file asks for, without wiping the platform's own table.
        tracing::warn!(
            "{}:{}: `flush ruleset` left out: seglab resets {}'s tables itself \
             (the platform's own table stays)",
            rules.file,
            flushes[0],
            node.name
        );
        if !freshly_reset {
            reset_gateway(b, node).await?;
        }
    }
    let gw = sc.gateway(&node.name).ok_or_else(|| {
        Error::Environment(format!("{} is not a gateway of the scenario", node.name))
    })?;
    let (text, offset) = nft::with_defines(sc, gw, &user_text);
    apply_rules(
        b,
        node,
        &text,
        &rules.file,
        &format!("gateway {}", node.name),
        lab,
        offset,
    )
    .await
}

/// `up`, removing everything it made when it fails or when `cancel` fires
/// (Ctrl-C, SIGTERM).
pub async fn up_or_clean<B: LabBackend>(
    b: &B,
    lab: &str,
    sc: &Scenario,
    opts: &UpOptions,
    progress: &dyn Fn(&str),
    cancel: &Cancel,
) -> Result<LabInfo> {
    // Checks that create nothing: a failure here must not clean up, above
    // all not a lab of the same name that is already running.
    b.preflight()?;
    iptables::preflight(sc)?;
    check_lab_name(lab)?;
    progress("image");
    let prepared = tokio::select! {
        r = b.prepare(opts) => r?,
        () = cancel.cancelled() => return Err(Error::Interrupted),
    };
    // Another `up` of the same name may be under way: the claim decides,
    // and only its holder goes on (and may clean up). Not raced against
    // `cancel`: whether it landed must be known.
    let claim = b.claim(lab, sc, &prepared).await?;
    let result = up_inner(b, &claim, sc, progress, cancel).await;
    if result.is_err() {
        progress("cleaning up");
        // Nothing is in flight any more: the sweep sees all `up` made.
        if let Err(e) = b.remove_lab(lab).await {
            tracing::warn!("cleanup of lab {lab} failed: {e}");
        }
    }
    result
}

#[cfg(test)]
mod tests {
    #[test]
    fn fresh_names_are_valid_lab_names_and_differ() {
        let a = super::fresh_name("scenario-1");
        let b = super::fresh_name("scenario-1");
        super::check_lab_name(&a).unwrap();
        let suffix = a.strip_prefix("scenario-1-").unwrap();
        assert_eq!(suffix.len(), 8);
        assert!(suffix.chars().all(|c| c.is_ascii_hexdigit()));
        // 32 random bits: two names in a row are the same once in 2^32.
        assert_ne!(a, b);
    }
}
