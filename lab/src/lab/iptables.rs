//! Loading an iptables-save dump into a gateway: `iptables-nft-restore`
//! inside the gateway's namespace (through the backend), which turns the
//! dump into nft tables (`ip filter` with chains INPUT, FORWARD, OUTPUT),
//! so tracing, sealing and explanations work on them as on nft files.

use crate::error::{Error, Result};
use crate::health;
use crate::netns::{self, NetnsError};
use crate::rulefile::{self, iptables, RuleFormat};
use crate::runtime::{LabBackend, NodeRef};
use crate::scenario::{RuleFile, Scenario};

/// The program that loads dumps, on seglab's machine.
pub const RESTORE: &str = "iptables-nft-restore";

/// Loads the dump `rules` into `node` as it is (its lines are the file's),
/// replacing the tables it names (the platform's `ip nat` is not one of
/// them: seglab refuses dumps with a `*nat`). The caller resets the
/// gateway first and seals it after. A refusal is [`Error::Ruleset`] at
/// the file's line.
pub async fn load_iptables<B: LabBackend>(
    b: &B,
    node: &NodeRef,
    rules: &RuleFile,
    lab: &str,
) -> Result<()> {
    restore(b, node, rules, lab, &[]).await
}

/// Checks that `node` would load the dump `rules` (`iptables-nft-restore
/// --test`: the dump is parsed and built, and the transaction aborted, so
/// nothing changes). A refusal is [`Error::Ruleset`] at the file's line.
pub async fn check_iptables<B: LabBackend>(
    b: &B,
    node: &NodeRef,
    rules: &RuleFile,
    lab: &str,
) -> Result<()> {
    restore(b, node, rules, lab, &["--test"]).await
}

async fn restore<B: LabBackend>(
    b: &B,
    node: &NodeRef,
    rules: &RuleFile,
    lab: &str,
    args: &[&str],
) -> Result<()> {
    // Checked when the file was read; checked again because a refused table
    // (`*nat`) must never reach a gateway, whoever calls this.
    if let Err(problems) = rulefile::check(rules) {
        let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
        return Err(Error::Input(lines.join("\n")));
    }
    match b
        .run(node, RESTORE, args, Some(rules.text.as_bytes().to_vec()))
        .await
    {
        Ok(_) => Ok(()),
        Err(NetnsError::CommandFailed { stderr, .. }) => Err(Error::Ruleset {
            file: rules.file.clone(),
            target: format!("gateway {} of lab {lab}", node.name),
            message: iptables::map_error(&stderr, &rules.file, &rules.text),
        }),
        Err(e) => Err(e.into()),
    }
}

/// Replaces a gateway's rule set with the dump `rules`, the old one staying
/// whole when the dump is refused: `iptables-nft-restore` replaces the
/// dump's tables in one transaction, then the tables of the old rule set
/// that the dump does not make are deleted (the platform's and seglab's
/// own stay). Meanwhile both the old tables and the new decide, which only
/// ever drops more. The caller seals the gateway after.
pub async fn replace_with_dump<B: LabBackend>(
    b: &B,
    node: &NodeRef,
    rules: &RuleFile,
    lab: &str,
) -> Result<()> {
    load_iptables(b, node, rules, lab).await?;
    let made: Vec<String> = iptables::parse(&rules.text)
        .0
        .tables
        .iter()
        .map(|t| format!("ip {}", t.name))
        .collect();
    let listing = health::listing(b, node).await?;
    let stale: String = health::seal::tables_to_reset(&listing, b.platform_chain_prefix())
        .map_err(|e| Error::Environment(format!("cannot reset the gateway's rule set: {e}")))?
        .into_iter()
        .filter(|t| !made.contains(t))
        .map(|t| format!("delete table {t}\n"))
        .collect();
    if !stale.is_empty() {
        super::nft_apply(b, node, &stale).await?;
    }
    Ok(())
}

/// Fails, before anything is made, when a file of `sc` is an iptables-save
/// dump and `iptables-nft-restore` is not installed here.
pub fn preflight(sc: &Scenario) -> Result<()> {
    if rulefile::uses_iptables(sc) {
        netns::check_tool(RESTORE)?;
    }
    Ok(())
}

/// Whether `rules` is loaded with [`load_iptables`] rather than nft.
pub fn is_dump(rules: &RuleFile) -> bool {
    rules.format() == RuleFormat::IptablesSave
}
