//! `apply`: new rule sets for the gateways of a running lab, without `down`
//! and `up`. Each gateway's replacement is one nft transaction (its tables
//! deleted and the new file loaded, or nothing at all), and every new file
//! is checked (`nft -c`, which changes nothing) in its gateway before any
//! gateway changes: a file nft refuses leaves the whole lab as it was. The
//! new scenario is then recorded with the lab ([`LabBackend::record_scenario`]),
//! so that `verify` closes a phase back to the applied rule set and `explain`
//! maps rules to the applied file's lines.

use super::{apply_overrides, RulesetOverride};
use crate::error::{Error, Result};
use crate::health::{self, seal};
use crate::netns::NetnsError;
use crate::nft;
use crate::runtime::{LabBackend, LabInfo, NodeRef};
use crate::scenario::{Gateway, RuleFile, Scenario};
use sha2::{Digest, Sha256};

/// What nft is asked: only to check a script, or to run it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Check,
    Apply,
}

/// The first 12 hex digits of the SHA-256 of a rule file's text: enough to
/// tell two versions of a file apart at a glance (`status`, `apply`).
pub fn short_hash(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))[..12].to_string()
}

/// The script that replaces a gateway's rule set in one transaction: the
/// `tables` deleted, then the defines and the user's file (its `flush
/// ruleset` blanked, see [`nft::without_flush_ruleset`]). Returns it with
/// the number of lines before the user's first, for [`nft::map_error`], and
/// the lines of the file's `flush ruleset` statements. Pure.
pub fn replacement_script(
    sc: &Scenario,
    gw: &Gateway,
    tables: &[String],
    user_text: &str,
) -> (String, usize, Vec<usize>) {
    let (text, flushes) = nft::without_flush_ruleset(user_text);
    let (loaded, defines) = nft::with_defines(sc, gw, &text);
    let deletes: String = tables
        .iter()
        .map(|t| format!("delete table {t}\n"))
        .collect();
    (
        format!("{deletes}{loaded}"),
        tables.len() + defines,
        flushes,
    )
}

/// Replaces gateway `node`'s rule set with `rules` in one nft transaction
/// (with [`Mode::Check`], nft only checks that it would load: nothing
/// changes). Every table but the platform's and seglab's own (trace, scan
/// and the seal, which the caller renews) goes, so nothing of the previous
/// file survives. nft's refusal is [`Error::Ruleset`], located in the
/// user's file. An iptables-save dump is checked with `iptables-nft-restore
/// --test` and loaded with [`super::iptables::replace_with_dump`]: its
/// tables are replaced in one transaction, the old rule set's others
/// deleted after it, so a refused dump also leaves the old rule set whole.
pub async fn replace_ruleset<B: LabBackend>(
    b: &B,
    sc: &Scenario,
    lab: &str,
    node: &NodeRef,
    rules: &RuleFile,
    mode: Mode,
) -> Result<()> {
    if super::iptables::is_dump(rules) {
        return match mode {
            Mode::Check => super::iptables::check_iptables(b, node, rules, lab).await,
            Mode::Apply => super::iptables::replace_with_dump(b, node, rules, lab).await,
        };
    }
    let gw = sc.gateway(&node.name).ok_or_else(|| {
        Error::Input(format!(
            "lab {lab} has no gateway {} (gateways: {})",
            node.name,
            sc.gateway_names()
        ))
    })?;
    let listing = health::listing(b, node).await?;
    // Not the seal: it must survive a refused file, and is renewed after.
    let tables = seal::tables_to_clear(&listing, b.platform_chain_prefix())
        .map_err(|e| Error::Environment(format!("cannot read {}'s rule set: {e}", node.name)))?;
    let (script, offset, flushes) = replacement_script(sc, gw, &tables, &rules.text);
    if mode == Mode::Apply {
        if let Some(line) = flushes.first() {
            tracing::warn!(
                "{}:{line}: `flush ruleset` left out: seglab replaces {}'s tables itself \
                 (the platform's own table stays)",
                rules.file,
                node.name
            );
        }
    }
    let args: &[&str] = match mode {
        Mode::Check => &["-c", "-f", "-"],
        Mode::Apply => &["-f", "-"],
    };
    match b.run(node, "nft", args, Some(script.into_bytes())).await {
        Ok(_) => Ok(()),
        Err(e) => match e.as_nft_rejection() {
            NetnsError::NftRejected { stderr, .. } => Err(Error::Ruleset {
                file: rules.file.clone(),
                target: format!("gateway {} of lab {lab}", node.name),
                message: nft::map_error(&stderr, &rules.file, offset),
            }),
            e => Err(e.into()),
        },
    }
}

/// What `apply` changed for one gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub gateway: String,
    /// `None` for the gateway's own rule set, else the phase (and `:close`).
    pub phase: Option<String>,
    pub old: Option<RuleFile>,
    pub new: RuleFile,
}

impl Change {
    /// `gw-mgmt: old.nft -> new.nft (sha256 1a2b3c4d5e6f)`.
    pub fn describe(&self) -> String {
        let target = match &self.phase {
            None => self.gateway.clone(),
            Some(p) => format!("{}@{p}", self.gateway),
        };
        let old = self.old.as_ref().map_or("(none)", |r| r.file.as_str());
        let same = self.old.as_ref().is_some_and(|o| o.text == self.new.text);
        format!(
            "{target}: {old} -> {} (sha256 {}{}){}",
            self.new.file,
            short_hash(&self.new.text),
            if same { ", same text" } else { "" },
            if self.phase.is_some() {
                "; recorded, loaded when the phase opens"
            } else {
                ""
            }
        )
    }
}

/// The lab `lab`, every node of it running; else bad input naming it.
pub async fn running_lab<B: LabBackend>(b: &B, lab: &str) -> Result<LabInfo> {
    let info = b.find_lab(lab).await?;
    let sc = &info.scenario;
    let down: Vec<String> = sc
        .gateways
        .iter()
        .map(|g| g.name.as_str())
        .chain(sc.hosts.iter().map(|h| h.name.as_str()))
        .filter_map(|n| match info.node(n) {
            Some(x) if x.running && x.node.is_some() => None,
            Some(x) => Some(format!("{n} is {}", x.status)),
            None => Some(format!("{n} is missing")),
        })
        .collect();
    if down.is_empty() {
        Ok(info)
    } else {
        Err(Error::Input(format!(
            "lab {lab} is not running ({}); seglab down {lab} and up again",
            down.join(", ")
        )))
    }
}

/// The changes `overrides` make to `sc` (read from their files, checked as
/// `up` checks them: an unknown gateway or phase, an unreadable file is bad
/// input), and the scenario with them.
pub fn changes(sc: &Scenario, overrides: &[RulesetOverride]) -> Result<(Scenario, Vec<Change>)> {
    let mut new = sc.clone();
    apply_overrides(&mut new, overrides, true)?;
    let mut out: Vec<Change> = Vec::new();
    for o in overrides {
        let phase = o
            .phase
            .as_ref()
            .map(|p| format!("{p}{}", if o.close { ":close" } else { "" }));
        // A gateway named twice: the last file wins, as in the scenario.
        out.retain(|c| !(c.gateway == o.gateway && c.phase == phase));
        let pick = |s: &Scenario| -> Option<RuleFile> {
            match &o.phase {
                None => s.gateway(&o.gateway)?.ruleset.clone(),
                Some(p) => {
                    let r = s
                        .phase(p)?
                        .rulesets
                        .iter()
                        .find(|r| r.gateway == o.gateway)?;
                    if o.close {
                        r.close.clone()
                    } else {
                        Some(r.open.clone())
                    }
                }
            }
        };
        let new_file = pick(&new).expect("apply_overrides set it");
        out.push(Change {
            gateway: o.gateway.clone(),
            phase,
            old: pick(sc),
            new: new_file,
        });
    }
    Ok((new, out))
}

/// Refuses while a phase (or an isolation) is open on a gateway: `verify`
/// would close it back to the rule set it started from.
pub async fn refuse_open_phases<B: LabBackend>(b: &B, info: &LabInfo) -> Result<()> {
    for g in &info.scenario.gateways {
        let node = info.running(&g.name)?;
        let listing = health::listing(b, node).await?;
        let found = seal::read(&listing)
            .map_err(|e| Error::Environment(format!("cannot read {}'s rule set: {e}", g.name)))?;
        if let Some(p) = found.and_then(|s| s.phase) {
            return Err(Error::Input(format!(
                "{}; apply changes no rule set meanwhile (seglab verify {} puts the gateway's own \
                 rule set back once no verify is running)",
                seal::describe_left_open(&g.name, &p),
                info.name
            )));
        }
    }
    Ok(())
}

/// `seglab apply`: replaces the rule sets that `overrides` name in running
/// lab `lab`, all or nothing: every new file is checked in its gateway
/// first; then each gateway's replacement is one transaction, sealed; then
/// the new scenario is recorded. Phase overrides (`GW@PHASE[:close]`) only
/// change the recorded scenario. Returns what changed.
pub async fn apply<B: LabBackend>(
    b: &B,
    lab: &str,
    overrides: &[RulesetOverride],
) -> Result<Vec<Change>> {
    apply_to(b, &running_lab(b, lab).await?, overrides).await
}

/// [`apply`] to a lab just found running ([`running_lab`]).
pub async fn apply_to<B: LabBackend>(
    b: &B,
    info: &LabInfo,
    overrides: &[RulesetOverride],
) -> Result<Vec<Change>> {
    let (new_sc, changes) = changes(&info.scenario, overrides)?;
    refuse_open_phases(b, info).await?;
    apply_scenario(b, info, &new_sc, &changes).await?;
    Ok(changes)
}

/// Loads the gateways' own rule sets that `changes` name from `new_sc`
/// (checked everywhere first), seals them and records `new_sc`. On a
/// failure mid-way the gateways already changed get their old rule set back.
pub async fn apply_scenario<B: LabBackend>(
    b: &B,
    info: &LabInfo,
    new_sc: &Scenario,
    changes: &[Change],
) -> Result<()> {
    let lab = info.name.as_str();
    let base: Vec<&Change> = changes.iter().filter(|c| c.phase.is_none()).collect();
    for c in &base {
        let node = info.running(&c.gateway)?;
        replace_ruleset(b, new_sc, lab, node, &c.new, Mode::Check).await?;
    }
    for (i, c) in base.iter().enumerate() {
        let node = info.running(&c.gateway)?;
        let step = async {
            replace_ruleset(b, new_sc, lab, node, &c.new, Mode::Apply).await?;
            health::seal_node(b, node, None).await?;
            Ok::<_, Error>(())
        };
        if let Err(e) = step.await {
            // Checked, yet refused (the gateway changed meanwhile): the
            // ones already replaced go back, so the lab stays as recorded.
            for done in base[..=i].iter().rev() {
                let node = info.running(&done.gateway)?;
                let old = done.old.as_ref();
                let back = async {
                    match old {
                        Some(r) => {
                            replace_ruleset(b, &info.scenario, lab, node, r, Mode::Apply).await?
                        }
                        None => {
                            super::load_gateway_ruleset(b, &info.scenario, lab, node, None).await?
                        }
                    }
                    health::seal_node(b, node, None).await?;
                    Ok::<_, Error>(())
                };
                if let Err(e) = back.await {
                    tracing::warn!("putting {}'s rule set back failed: {e}", done.gateway);
                }
            }
            return Err(e);
        }
    }
    b.record_scenario(lab, new_sc).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_deletes_then_loads_and_errors_map_to_the_users_lines() {
        let sc = crate::scenario::load("scenario-3").unwrap();
        let user = "#!/usr/sbin/nft -f\nflush ruleset\ntable inet filter {\n  bogus\n}\n";
        let tables = vec!["inet filter".to_string(), "ip nat2".to_string()];
        let gw = sc.gateway("gw-mgmt").unwrap();
        let (script, offset, flushes) = replacement_script(&sc, gw, &tables, user);
        assert!(script.starts_with("delete table inet filter\ndelete table ip nat2\n# Defined"));
        assert_eq!(flushes, vec![2]);
        assert!(!script.contains("flush ruleset"));
        // nft numbers the script's lines: the user's line 4 is `bogus`.
        let bogus = script.lines().position(|l| l.trim() == "bogus").unwrap() + 1;
        assert_eq!(bogus - offset, 4);
        let err = format!("/dev/stdin:{bogus}:3-7: Error: syntax error");
        assert!(nft::map_error(&err, "mine.nft", offset).starts_with("mine.nft:4:3-7:"));
    }

    #[test]
    fn short_hashes_are_twelve_hex_digits_of_sha256() {
        // sha256("") = e3b0c44298fc1c149afbf4c8996fb924...
        assert_eq!(short_hash(""), "e3b0c44298fc");
        assert_ne!(short_hash("a"), short_hash("b"));
    }
}
