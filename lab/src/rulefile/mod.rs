//! A rule file's format, told by its content: nft text (`table ... {`,
//! `add rule ...`) or an `iptables-save` dump (`*filter` ... `COMMIT`).
//! Pure: whoever read the file passes its text. Anything else (a YAML
//! file, a shell script, a list of `iptables -A ...` commands) is refused
//! at its first line that is neither, so the user learns at once which
//! file and which line, and what seglab accepts.

pub mod iptables;

use crate::scenario::RuleFile;

/// The formats a gateway's rule file may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum RuleFormat {
    /// nft text, loaded with `nft -f -` (with seglab's address `define`s).
    Nft,
    /// An `iptables-save` dump, loaded with `iptables-nft-restore`.
    IptablesSave,
}

impl RuleFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleFormat::Nft => "nft",
            RuleFormat::IptablesSave => "iptables-save",
        }
    }
}

/// One problem of a rule file, at a line of it (1-based).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct FileProblem {
    pub file: String,
    pub line: usize,
    pub message: String,
}

/// Words an nft file's first statement can begin with: nft's commands
/// (`add`, `flush`, ...), the objects a bare statement creates (`table`,
/// `chain`, ...), and the preprocessor's `define` and `include`.
const NFT_WORDS: &[&str] = &[
    "table",
    "chain",
    "set",
    "map",
    "flowtable",
    "counter",
    "quota",
    "limit",
    "ct",
    "secmark",
    "synproxy",
    "element",
    "rule",
    "add",
    "create",
    "insert",
    "replace",
    "delete",
    "destroy",
    "flush",
    "reset",
    "rename",
    "list",
    "define",
    "redefine",
    "undefine",
    "include",
];

/// What the accepted formats look like, for refusals.
pub const ACCEPTED: &str = "seglab reads nft files (`table inet filter { ... }`, `add rule ...`) \
     and iptables-save dumps (`*filter`, `:FORWARD DROP [0:0]`, `-A FORWARD ... -j ACCEPT`, `COMMIT`)";

/// The format of `text`, from its first line that is not blank nor a
/// comment (`#!/usr/sbin/nft -f` included). A file of only comments is an
/// nft file that loads nothing. Otherwise the 1-based line that is neither
/// format, and why.
pub fn detect(text: &str) -> Result<RuleFormat, (usize, String)> {
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        // `:CHAIN` or `-A` before any `*table`: an iptables-save dump whose
        // header is missing; its validation says so at that line.
        if iptables::is_dump_line(line) {
            return Ok(RuleFormat::IptablesSave);
        }
        let first = line
            .split(|c: char| c.is_whitespace() || c == ';' || c == '{')
            .next()
            .unwrap_or("");
        if NFT_WORDS.contains(&first) {
            return Ok(RuleFormat::Nft);
        }
        let hint = if matches!(first, "iptables" | "ip6tables" | "iptables-nft" | "nft") {
            format!(" (a list of `{first}` commands is not a rule file: give the output of iptables-save, or nft text)")
        } else {
            String::new()
        };
        return Err((
            i + 1,
            format!(
                "`{}` is neither nft nor iptables-save{hint}; {ACCEPTED}",
                clip(line)
            ),
        ));
    }
    Ok(RuleFormat::Nft)
}

/// A line shortened for a message.
pub(crate) fn clip(line: &str) -> String {
    const MAX: usize = 80;
    match line.char_indices().nth(MAX) {
        Some((i, _)) => format!("{} ...", &line[..i]),
        None => line.to_string(),
    }
}

impl RuleFile {
    /// The file's format (nft when it is neither: [`check`] refuses those
    /// before anything loads them).
    pub fn format(&self) -> RuleFormat {
        detect(&self.text).unwrap_or(RuleFormat::Nft)
    }
}

/// The format of `file`, or every problem that keeps seglab from loading
/// it (nft text is checked by nft itself, at load time).
pub fn check(file: &RuleFile) -> Result<RuleFormat, Vec<FileProblem>> {
    let problem = |(line, message)| FileProblem {
        file: file.file.clone(),
        line,
        message,
    };
    match detect(&file.text).map_err(|e| vec![problem(e)])? {
        RuleFormat::Nft => Ok(RuleFormat::Nft),
        RuleFormat::IptablesSave => {
            let problems = iptables::validate(&file.text);
            if problems.is_empty() {
                Ok(RuleFormat::IptablesSave)
            } else {
                Err(problems.into_iter().map(problem).collect())
            }
        }
    }
}

/// [`check`] for a file that opens or closes a phase: those are applied on
/// top of the gateway's rule set, which only nft text can do (an
/// iptables-save dump replaces whole tables).
pub fn check_phase_file(file: &RuleFile) -> Result<RuleFormat, Vec<FileProblem>> {
    match check(file)? {
        RuleFormat::Nft => Ok(RuleFormat::Nft),
        RuleFormat::IptablesSave => Err(vec![FileProblem {
            file: file.file.clone(),
            line: first_statement_line(&file.text),
            message: "a phase's files must be nft text: they are applied on top of the gateway's \
                      rule set, and an iptables-save dump replaces whole tables \
                      (an iptables-save dump may be a gateway's own rule set)"
                .into(),
        }]),
    }
}

fn first_statement_line(text: &str) -> usize {
    text.lines()
        .position(|l| !l.trim().is_empty() && !l.trim().starts_with('#'))
        .map_or(1, |i| i + 1)
}

/// Whether any file of `sc` is an iptables-save dump (seglab then needs
/// `iptables-nft-restore`).
pub fn uses_iptables(sc: &crate::scenario::Scenario) -> bool {
    sc.gateways
        .iter()
        .filter_map(|g| g.ruleset.as_ref())
        .chain(
            sc.phases
                .iter()
                .flat_map(|p| p.rulesets.iter())
                .flat_map(|r| std::iter::once(&r.open).chain(r.close.as_ref())),
        )
        .any(|f| f.format() == RuleFormat::IptablesSave)
}

#[cfg(test)]
mod tests;
