//! Sources of the rules an iptables-save dump made. `iptables-nft-restore`
//! makes one nft rule per `-A CHAIN ...` line, in table `ip TABLE`, in file
//! order: so a chain's k-th rule by handle is the chain's k-th `-A` line.
//! A chain that other commands change (`-I`, `-D`, `-R`, `-F`, ...) gets
//! no sources, nor one whose listed rules are fewer than its `-A` lines:
//! no source is better than a wrong one. Rules listed after a chain's `-A`
//! lines (a phase's nft file adds them) are left to the nft matching.

use super::{ChainKey, Listing, RuleKey, Source};
use crate::rulefile::iptables;
use crate::scenario::RuleFile;
use std::collections::BTreeMap;

/// Where each rule of `file`'s tables came from, and each chain's policy.
pub(super) fn locate(
    listing: &Listing,
    file: &RuleFile,
) -> (BTreeMap<RuleKey, Source>, BTreeMap<ChainKey, Source>) {
    let (dump, _) = iptables::parse(&file.text);
    let mut rules = BTreeMap::new();
    let mut policies = BTreeMap::new();
    let source = |line: usize, text: &str| Source {
        file: file.file.clone(),
        line,
        rule: Some(text.to_string()),
    };
    for table in &dump.tables {
        for c in &table.chains {
            let key = ChainKey {
                family: "ip".into(),
                table: table.name.clone(),
                chain: c.name.clone(),
            };
            if c.policy != "-" && listing.chains.contains_key(&key) {
                policies.insert(key, source(c.line, &format!(":{} {}", c.name, c.policy)));
            }
        }
        let mut chains: BTreeMap<&str, Vec<&iptables::RuleLine>> = BTreeMap::new();
        for r in &table.rules {
            chains.entry(r.chain.as_str()).or_default().push(r);
        }
        for (chain, lines) in chains {
            if lines.iter().any(|l| !l.is_append()) {
                continue;
            }
            // BTreeMap order: by handle, which is creation order.
            let listed: Vec<&RuleKey> = listing
                .rules
                .iter()
                .filter(|(k, r)| k.family == "ip" && k.table == table.name && r.chain == chain)
                .map(|(k, _)| k)
                .collect();
            if listed.len() < lines.len() {
                continue;
            }
            for (key, line) in listed.into_iter().zip(lines) {
                rules.insert(key.clone(), source(line.line, &line.text));
            }
        }
    }
    (rules, policies)
}
