//! `iptables-save` dumps (pure): what a dump holds, which of its tables
//! seglab loads, and `iptables-nft-restore`'s refusals mapped back to the
//! dump's lines.
//!
//! A dump is a list of tables, each `*name`, then `:CHAIN POLICY [p:b]`
//! lines, then rules (`-A CHAIN ...`), then `COMMIT`; `#` starts a comment.
//! seglab loads `filter`, `raw` and `mangle`: they only decide, mark or
//! leave untracked what crosses the gateway. It refuses `nat`: a NAT rule
//! would rewrite the lab's addresses, so a probe would no longer be the
//! pair of hosts it stands for (seglab itself never adds NAT to a
//! gateway), and `security`, which holds SELinux labels for a policy the
//! lab's nodes do not have.

/// The tables seglab loads from a dump.
pub const LOADED_TABLES: [&str; 3] = ["filter", "raw", "mangle"];

/// Chains of the platform in a node (see `LabBackend::platform_chain_prefix`).
const PLATFORM_PREFIX: &str = "DOCKER_";

/// A dump as written: its tables in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dump {
    pub tables: Vec<DumpTable>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpTable {
    pub name: String,
    /// 1-based line of `*name`.
    pub line: usize,
    pub chains: Vec<ChainLine>,
    pub rules: Vec<RuleLine>,
    /// The line of its `COMMIT`, if it has one.
    pub commit: Option<usize>,
}

/// `:CHAIN POLICY [packets:bytes]`; a user-defined chain's policy is `-`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainLine {
    pub name: String,
    pub policy: String,
    pub line: usize,
}

/// A command line of a table: `-A FORWARD -p tcp ... -j ACCEPT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleLine {
    /// The command as written: `-A`, `--append`, `-I`, `-N`, ...
    pub command: String,
    /// The chain it names (empty if none).
    pub chain: String,
    pub line: usize,
    /// The line as written, trimmed.
    pub text: String,
}

impl RuleLine {
    /// An append: the rule takes the next place (and handle) in its chain.
    pub fn is_append(&self) -> bool {
        matches!(self.command.as_str(), "-A" | "--append")
    }
}

/// Whether a (trimmed, non-comment) line can only be a dump's: `*table`,
/// `:CHAIN ...`, `-X ...` / `--xyz ...` or `COMMIT`. A YAML list item
/// (`- name`) or a Markdown bullet (`* item`) is not.
pub fn is_dump_line(line: &str) -> bool {
    let second = line.chars().nth(1);
    match line.chars().next() {
        Some('*') => second.is_some_and(|c| c.is_ascii_alphanumeric()),
        Some(':') => second.is_some_and(|c| !c.is_whitespace()),
        Some('-') => second.is_some_and(|c| c.is_ascii_alphabetic() || c == '-'),
        _ => line == "COMMIT",
    }
}

/// Words of a line, honouring the double quotes iptables-save writes
/// around comments (`--comment "a b"`); quotes are dropped.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut started = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' if quoted => {
                if let Some(n) = chars.next() {
                    word.push(n);
                }
            }
            '"' => {
                quoted = !quoted;
                started = true;
            }
            c if c.is_whitespace() && !quoted => {
                if started {
                    out.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            c => {
                word.push(c);
                started = true;
            }
        }
    }
    if started {
        out.push(word);
    }
    out
}

/// Why a table is not loaded, or `None` for one that is.
fn refusal(table: &str) -> Option<String> {
    if LOADED_TABLES.contains(&table) {
        return None;
    }
    let why = match table {
        "nat" => "NAT would rewrite the lab's addresses, so a probe would no longer be the pair \
                  of hosts it stands for (seglab never adds NAT to a gateway); leave the `*nat` \
                  table out of the file"
            .to_string(),
        "security" => "it holds SELinux labels for a policy the lab's nodes do not have; leave \
                       the `*security` table out of the file"
            .to_string(),
        _ => "it is not an iptables table seglab knows".to_string(),
    };
    Some(format!(
        "table `{table}` is not loaded: {why} (seglab loads {})",
        LOADED_TABLES.map(|t| format!("*{t}")).join(", ")
    ))
}

/// Reads a dump, with every problem that keeps seglab from loading it (in
/// line order, 1-based lines). `iptables-nft-restore` checks the rules
/// themselves (matches, targets, ports) when the dump is loaded.
pub fn parse(text: &str) -> (Dump, Vec<(usize, String)>) {
    let mut dump = Dump::default();
    let mut problems = Vec::new();
    let mut open: Option<DumpTable> = None;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('*') {
            let name = name.trim();
            if let Some(t) = open.take() {
                problems.push((
                    t.line,
                    format!(
                        "table `{}` has no COMMIT before table `{name}` begins (line {n})",
                        t.name
                    ),
                ));
                dump.tables.push(t);
            }
            if let Some(why) = refusal(name) {
                problems.push((n, why));
            }
            open = Some(DumpTable {
                name: name.to_string(),
                line: n,
                chains: Vec::new(),
                rules: Vec::new(),
                commit: None,
            });
            continue;
        }
        let Some(table) = open.as_mut() else {
            problems.push((
                n,
                format!(
                    "`{}` is outside a table: in an iptables-save dump each table begins with \
                     `*filter` (or `*raw`, `*mangle`) and ends with `COMMIT`",
                    super::clip(line)
                ),
            ));
            continue;
        };
        if line == "COMMIT" {
            let mut t = open.take().expect("a table is open");
            t.commit = Some(n);
            dump.tables.push(t);
            continue;
        }
        let w = words(line);
        if let Some(chain) = line.strip_prefix(':') {
            let parts: Vec<&str> = chain.split_whitespace().collect();
            match parts.as_slice() {
                // Docker's embedded DNS keeps its chains (`DOCKER_OUTPUT`,
                // ...) in each node; seglab never resets nor seals a table
                // holding such a chain, so a dump must not make one.
                [name, ..] if name.starts_with(PLATFORM_PREFIX) => problems.push((
                    n,
                    format!(
                        "chain `{name}`: chains named {PLATFORM_PREFIX}* are the platform's \
                         (Docker's DNS) in a lab node; give the chain another name"
                    ),
                )),
                [name, policy, ..] if matches!(*policy, "ACCEPT" | "DROP" | "-") => {
                    table.chains.push(ChainLine {
                        name: name.to_string(),
                        policy: policy.to_string(),
                        line: n,
                    });
                }
                _ => problems.push((
                    n,
                    format!(
                        "`{}`: a chain line is `:CHAIN POLICY [packets:bytes]`, with policy \
                         ACCEPT, DROP or `-` (a chain of your own)",
                        super::clip(line)
                    ),
                )),
            }
            continue;
        }
        if !line.starts_with('-') {
            problems.push((
                n,
                format!(
                    "`{}` is not an iptables-save line: inside a table, expected \
                     `:CHAIN POLICY [p:b]`, `-A CHAIN ...` or `COMMIT`",
                    super::clip(line)
                ),
            ));
            continue;
        }
        if w.iter()
            .any(|x| x == "-t" || x == "--table" || x.starts_with("--table="))
        {
            problems.push((
                n,
                format!(
                    "a rule names no table of its own (`-t`): it belongs to `*{}` above it",
                    table.name
                ),
            ));
        }
        table.rules.push(RuleLine {
            command: w[0].clone(),
            chain: w
                .get(1)
                .filter(|c| !c.starts_with('-'))
                .cloned()
                .unwrap_or_default(),
            line: n,
            text: line.to_string(),
        });
    }
    if let Some(t) = open {
        problems.push((
            t.line,
            format!(
                "table `{}` has no COMMIT: iptables-restore would load none of it",
                t.name
            ),
        ));
        dump.tables.push(t);
    }
    problems.sort();
    (dump, problems)
}

/// Every problem that keeps seglab from loading the dump `text`.
pub fn validate(text: &str) -> Vec<(usize, String)> {
    parse(text).1
}

/// `iptables-nft-restore`'s refusal of `text` (the user's file, fed as it
/// is), told at `file`'s line with the line as written. It names the line
/// as `Error occurred at line: N` or `line N failed`.
pub fn map_error(stderr: &str, file: &str, text: &str) -> String {
    let mut at: Option<usize> = None;
    let mut messages = Vec::new();
    for raw in stderr.lines() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with("Try `") {
            continue;
        }
        if let Some(n) = line.strip_prefix("Error occurred at line:") {
            at = at.or(n.trim().parse().ok());
            continue;
        }
        // `iptables-nft-restore v1.8.9 (nf_tables): invalid port ...`
        let mut msg = match line.split_once("): ") {
            Some((head, rest)) if head.starts_with("iptables") => rest,
            _ => line,
        };
        // `iptables-nft-restore: line 4 failed: No chain/target/match ...`
        if let Some((head, rest)) = msg.split_once(" failed") {
            if let Some(n) = head.rsplit_once("line ").and_then(|(_, n)| n.parse().ok()) {
                at = at.or(Some(n));
                msg = rest.trim_start_matches(':').trim();
            }
        }
        if !msg.is_empty() {
            messages.push(msg.to_string());
        }
    }
    let msg = if messages.is_empty() {
        "iptables-nft-restore refused it".to_string()
    } else {
        messages.join("; ")
    };
    match at {
        Some(n) => {
            let written = text.lines().nth(n.saturating_sub(1)).unwrap_or("").trim();
            format!("{file}:{n}: {msg}\n    {written}")
        }
        None => format!("{file}: {msg}"),
    }
}
