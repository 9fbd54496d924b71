//! From a rule's handle back to the user's file and line (#7, explain).
//! A trace names the node, the `family table chain` and the handle of the
//! rule that decided; [`parse_listing`] reads `nft -a list ruleset` into the
//! rules as nft prints them, and [`locate`] finds the line of the loaded
//! rule files each rule came from. Pure: the text comes from whoever ran nft.
//!
//! Matching: a table allocates handles in creation order, so a chain's rules
//! sorted by handle are its rule statements in the order nft ran them (the
//! gateway's file, then a phase's file; `insert rule` creates at the top but
//! still takes the next handle). Each chain's rules and statements are
//! aligned in that order, pairing only a statement that can have made the
//! rule ([`compare`]), as many pairs as can be. A rule gets a source only
//! when every such alignment gives it the same statement: no source is
//! better than a wrong one. (How alike two compatible texts are does not
//! break a tie: a `$name` and the literal address it stands for look
//! different but may be the same rule.)

mod compare;
mod dump;
#[cfg(test)]
mod dump_tests;
mod statements;
#[cfg(test)]
mod tests;

use crate::rulefile::RuleFormat;
use crate::scenario::RuleFile;
use compare::{fits, shape};
use statements::{steps, Statement, Step};
use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use thiserror::Error;

/// A rule as a trace names it: handles are unique within a table.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct RuleKey {
    pub family: String,
    pub table: String,
    pub handle: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ListedRule {
    pub chain: String,
    /// As nft prints it, without the `# handle N` comment.
    pub text: String,
    /// The rule's verdict is a reject (the probe sees a refusal, not silence).
    pub reject: bool,
    /// Position in its chain, from 0.
    pub index: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct ChainKey {
    pub family: String,
    pub table: String,
    pub chain: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ListedChain {
    pub handle: u64,
    /// A base chain's line as printed: `type filter hook forward priority filter; policy drop;`.
    pub hook: Option<String>,
    /// `accept` or `drop`, for a base chain.
    pub policy: Option<String>,
}

/// The rules and chains of `nft -a list ruleset` (sets, maps, flowtables
/// and other objects are skipped).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Listing {
    pub rules: BTreeMap<RuleKey, ListedRule>,
    pub chains: BTreeMap<ChainKey, ListedChain>,
}

/// The line of a user's rule file a listed rule came from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Source {
    pub file: String,
    /// 1-based, in [`RuleFile::text`]; the statement's first line.
    pub line: usize,
    /// The rule as written in the file, for an iptables-save line (`-A
    /// FORWARD ... -j ACCEPT`), which nft lists quite differently.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ListingProblem {
    #[error("line {line}: `{text}` outside any table")]
    OutsideTable { line: usize, text: String },
    #[error("line {line}: rule `{text}` has no `# handle N` (list with `nft -a`)")]
    NoHandle { line: usize, text: String },
    #[error("line {line}: handle {handle} twice in table {family} {table}")]
    DuplicateHandle {
        line: usize,
        family: String,
        table: String,
        handle: u64,
    },
    #[error("line {line}: `}}` closes nothing")]
    StrayClose { line: usize },
    #[error("the listing ends inside {what}")]
    Unclosed { what: String },
}

/// Every problem of a listing, in line order.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("cannot read the nft listing: {}", .problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct ListingError {
    pub problems: Vec<ListingProblem>,
}

enum Block {
    Table(String, String),
    Chain(ChainKey),
    /// A set, map, flowtable or other object: its contents are skipped.
    Object(usize),
}

/// `BODY # handle N` -> (BODY, N).
fn split_handle(line: &str) -> (&str, Option<u64>) {
    match line.rsplit_once(" # handle ") {
        Some((body, n)) => match n.trim().parse() {
            Ok(h) => (body.trim_end(), Some(h)),
            Err(_) => (line, None),
        },
        None => (line, None),
    }
}

/// Braces opened minus closed, outside quoted strings.
fn brace_balance(text: &str) -> isize {
    let mut quoted = false;
    text.chars().fold(0, |n, c| match c {
        '"' => {
            quoted = !quoted;
            n
        }
        '{' if !quoted => n + 1,
        '}' if !quoted => n - 1,
        _ => n,
    })
}

/// Reads the text of `nft -a list ruleset`.
pub fn parse_listing(text: &str) -> Result<Listing, ListingError> {
    let mut listing = Listing::default();
    let mut problems = Vec::new();
    let mut stack: Vec<Block> = Vec::new();
    let mut positions: BTreeMap<ChainKey, usize> = BTreeMap::new();
    for (n, raw) in text.lines().enumerate() {
        let line = n + 1;
        let trimmed = raw.trim();
        // Blank lines, and nft's own remarks (`# Warning: table ip nat is
        // managed by iptables-nft`) when stderr was captured too.
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let (body, handle) = split_handle(trimmed);
        let words: Vec<&str> = body.split_whitespace().collect();
        match (stack.last_mut(), words.as_slice()) {
            (Some(Block::Object(depth)), _) => {
                let d = *depth as isize + brace_balance(body);
                if d <= 0 {
                    stack.pop();
                } else {
                    *depth = d as usize;
                }
            }
            (_, ["}"]) => {
                if stack.pop().is_none() {
                    problems.push(ListingProblem::StrayClose { line });
                }
            }
            (None, ["table", family, table, "{"]) => {
                stack.push(Block::Table(family.to_string(), table.to_string()));
            }
            (None, _) => problems.push(ListingProblem::OutsideTable {
                line,
                text: body.into(),
            }),
            (Some(Block::Table(family, table)), ["chain", chain, "{"]) => {
                let key = ChainKey {
                    family: family.clone(),
                    table: table.clone(),
                    chain: chain.to_string(),
                };
                let chain = ListedChain {
                    handle: handle.unwrap_or(0),
                    hook: None,
                    policy: None,
                };
                listing.chains.insert(key.clone(), chain);
                stack.push(Block::Chain(key));
            }
            (Some(Block::Table(..)), _) => {
                // A set, map, flowtable, named counter ...; or a table
                // attribute (`flags dormant`, `comment`), which says nothing
                // about rules.
                if brace_balance(body) > 0 {
                    stack.push(Block::Object(brace_balance(body) as usize));
                }
            }
            (Some(Block::Chain(key)), [first, ..]) if handle.is_none() => {
                let chain = listing.chains.get_mut(key).expect("inserted on opening");
                match *first {
                    "type" => {
                        chain.hook = Some(body.to_string());
                        chain.policy = words
                            .windows(2)
                            .find(|w| w[0] == "policy")
                            .map(|w| w[1].trim_end_matches(';').to_string());
                    }
                    "policy" => chain.policy = Some(words[1..].join(" ").replace(';', "")),
                    "comment" | "devices" => {}
                    _ => problems.push(ListingProblem::NoHandle {
                        line,
                        text: body.into(),
                    }),
                }
            }
            (Some(Block::Chain(chain)), _) => {
                let rule_key = RuleKey {
                    family: chain.family.clone(),
                    table: chain.table.clone(),
                    handle: handle.expect("guarded above"),
                };
                let index = *positions
                    .entry(chain.clone())
                    .and_modify(|n| *n += 1)
                    .or_insert(0);
                let tokens = statements::lex(body);
                let rule = ListedRule {
                    chain: chain.chain.clone(),
                    text: body.to_string(),
                    reject: shape(&tokens).verdict == "reject",
                    index,
                };
                match listing.rules.entry(rule_key) {
                    Entry::Occupied(taken) => {
                        let k = taken.key();
                        problems.push(ListingProblem::DuplicateHandle {
                            line,
                            family: k.family.clone(),
                            table: k.table.clone(),
                            handle: k.handle,
                        });
                    }
                    Entry::Vacant(free) => {
                        free.insert(rule);
                    }
                }
            }
        }
    }
    if let Some(open) = stack.last() {
        let what = match open {
            Block::Table(f, t) => format!("table {f} {t}"),
            Block::Chain(k) => format!("chain {} {} {}", k.family, k.table, k.chain),
            Block::Object(_) => "a set, map or other object".into(),
        };
        problems.push(ListingProblem::Unclosed { what });
    }
    if problems.is_empty() {
        Ok(listing)
    } else {
        Err(ListingError { problems })
    }
}

/// The rule statements left in the node after `loaded` ran in order, each
/// with the file it came from.
fn statements_of<'a>(loaded: &[&'a RuleFile]) -> Vec<(&'a str, Statement)> {
    let mut live: Vec<(&str, Statement)> = Vec::new();
    for file in loaded {
        for step in steps(&file.text) {
            match step {
                Step::Rule(s) => live.push((file.file.as_str(), s)),
                Step::ResetAll => live.clear(),
                Step::Reset {
                    family,
                    table,
                    chain,
                } => live.retain(|(_, s)| {
                    s.family != family
                        || s.table != table
                        || chain.as_ref().is_some_and(|c| *c != s.chain)
                }),
            }
        }
    }
    live
}

/// Where each listed rule came from, for the rules that can be told for
/// sure. `loaded` are the files loaded into the node after seglab reset its
/// tables, in load order (the gateway's file, then an open phase's file).
/// Rules no file made (Docker's `ip nat`, seglab's own tables, a rule added
/// by hand) and rules that more than one statement could have made get none.
pub fn locate(listing: &Listing, loaded: &[&RuleFile]) -> BTreeMap<RuleKey, Source> {
    // iptables-save dumps are matched line for rule (see [`dump`]), after
    // the nft files: a dump's own lines are the surer sources.
    let (dumps, nft): (Vec<&RuleFile>, Vec<&RuleFile>) = loaded
        .iter()
        .partition(|f| f.format() == RuleFormat::IptablesSave);
    let mut out = locate_nft(listing, &nft);
    for d in dumps {
        out.extend(dump::locate(listing, d).0);
    }
    out
}

/// Where each base chain's policy was written, for the chains an
/// iptables-save dump made (`:FORWARD DROP [0:0]`); nft files write a
/// policy inside the chain's `type` line, which is not told here.
pub fn locate_policies(listing: &Listing, loaded: &[&RuleFile]) -> BTreeMap<ChainKey, Source> {
    loaded
        .iter()
        .filter(|f| f.format() == RuleFormat::IptablesSave)
        .flat_map(|d| dump::locate(listing, d).1)
        .collect()
}

fn locate_nft(listing: &Listing, loaded: &[&RuleFile]) -> BTreeMap<RuleKey, Source> {
    let mut by_chain: BTreeMap<ChainKey, Vec<(&str, Statement)>> = BTreeMap::new();
    for (file, s) in statements_of(loaded) {
        let key = ChainKey {
            family: s.family.clone(),
            table: s.table.clone(),
            chain: s.chain.clone(),
        };
        by_chain.entry(key).or_default().push((file, s));
    }
    let mut out = BTreeMap::new();
    for (chain, stmts) in by_chain {
        // BTreeMap order: by handle, which is creation order.
        let rules: Vec<(&RuleKey, &ListedRule)> = listing
            .rules
            .iter()
            .filter(|(k, r)| {
                k.family == chain.family && k.table == chain.table && r.chain == chain.chain
            })
            .collect();
        let file_shapes: Vec<_> = stmts.iter().map(|(_, s)| shape(&s.tokens)).collect();
        let fit: Vec<Vec<bool>> = rules
            .iter()
            .map(|(_, r)| {
                let listed = shape(&statements::lex(&r.text));
                file_shapes.iter().map(|f| fits(f, &listed)).collect()
            })
            .collect();
        for (i, j) in certain_pairs(&fit) {
            let (file, s) = &stmts[j];
            let source = Source {
                file: file.to_string(),
                line: s.line,
                rule: None,
            };
            out.insert(rules[i].0.clone(), source);
        }
    }
    out
}

/// Pairs (rule, statement) that every order-keeping alignment with the
/// most pairs makes; `fit[i][j]`: statement j can have made rule i.
fn certain_pairs(fit: &[Vec<bool>]) -> Vec<(usize, usize)> {
    let n = fit.len();
    let m = fit.first().map_or(0, Vec::len);
    // best[i][j]: the most pairs of rules ..i with statements ..j;
    // rest[i][j]: of rules i.. with statements j...
    let mut best = vec![vec![0usize; m + 1]; n + 1];
    for i in 1..=n {
        for j in 1..=m {
            let pair = if fit[i - 1][j - 1] {
                best[i - 1][j - 1] + 1
            } else {
                0
            };
            best[i][j] = pair.max(best[i - 1][j]).max(best[i][j - 1]);
        }
    }
    let mut rest = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            let pair = if fit[i][j] { rest[i + 1][j + 1] + 1 } else { 0 };
            rest[i][j] = pair.max(rest[i + 1][j]).max(rest[i][j + 1]);
        }
    }
    let top = best[n][m];
    let mut out = Vec::new();
    for i in 0..n {
        // The best alignment with rule i left unpaired, and with each pairing.
        let unpaired = (0..=m).map(|j| best[i][j] + rest[i + 1][j]).max();
        let pairings: Vec<usize> = (0..m)
            .filter(|&j| fit[i][j] && best[i][j] + 1 + rest[i + 1][j + 1] == top)
            .collect();
        if let ([j], true) = (pairings.as_slice(), unpaired < Some(top)) {
            out.push((i, *j));
        }
    }
    out
}
