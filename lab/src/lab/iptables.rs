//! Loading an iptables-save dump into a gateway: `iptables-nft-restore`
//! inside the gateway's namespace (through the backend), which turns the
//! dump into nft tables (`ip filter` with chains INPUT, FORWARD, OUTPUT),
//! so tracing, sealing and explanations work on them as on nft files.

use crate::error::{Error, Result};
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
    // Checked when the file was read; checked again because a refused table
    // (`*nat`) must never reach a gateway, whoever calls this.
    if let Err(problems) = rulefile::check(rules) {
        let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
        return Err(Error::Input(lines.join("\n")));
    }
    match b
        .run(node, RESTORE, &[], Some(rules.text.as_bytes().to_vec()))
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
