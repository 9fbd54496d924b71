//! The rule statements of an nft file in the order nft creates them, each
//! with its chain and the line it starts on. Blocks (`table ... { chain ...
//! { ... } }`), flat commands (`add rule`, `insert rule`), several
//! statements on a line (`;`), continued lines (`\`), comments, `define`s
//! and the commands that throw earlier rules away (`flush ruleset`, `flush
//! table`, `delete chain`, ...). Anything else is skipped (`replace rule`
//! too, see [`command`]): a statement we do not understand only leaves a
//! listed rule without a source.

/// One lexical token; `line` is 1-based in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub kind: Kind,
    pub text: String,
    pub line: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Word,
    /// A quoted string, without its quotes.
    Str,
    Open,
    Close,
    Comma,
    /// A newline or `;`: the end of a statement outside braces.
    End,
}

/// Splits nft text into tokens: comments dropped, `\` + newline joined.
pub(crate) fn lex(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut line = 1;
    let mut chars = text.chars().peekable();
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut Vec<Token>, line: usize| {
        if !word.is_empty() {
            let text = std::mem::take(word);
            out.push(Token {
                kind: Kind::Word,
                text,
                line,
            });
        }
    };
    while let Some(c) = chars.next() {
        let single = match c {
            '{' => Some(Kind::Open),
            '}' => Some(Kind::Close),
            ',' => Some(Kind::Comma),
            ';' | '\n' => Some(Kind::End),
            _ => None,
        };
        if let Some(kind) = single {
            flush(&mut word, &mut out, line);
            out.push(Token {
                kind,
                text: c.to_string(),
                line,
            });
            line += usize::from(c == '\n');
            continue;
        }
        match c {
            '#' => {
                flush(&mut word, &mut out, line);
                while chars.peek().is_some_and(|&n| n != '\n') {
                    chars.next();
                }
            }
            '"' => {
                flush(&mut word, &mut out, line);
                let start = line;
                let mut s = String::new();
                for n in chars.by_ref() {
                    if n == '"' {
                        break;
                    }
                    line += usize::from(n == '\n');
                    s.push(n);
                }
                out.push(Token {
                    kind: Kind::Str,
                    text: s,
                    line: start,
                });
            }
            '\\' if chars.peek().is_some_and(|&n| n == '\n' || n == '\r') => {
                // A continued line: the statement goes on.
                flush(&mut word, &mut out, line);
                if chars.next() == Some('\r') && chars.peek() == Some(&'\n') {
                    chars.next();
                }
                line += 1;
            }
            c if c.is_whitespace() => flush(&mut word, &mut out, line),
            c => word.push(c),
        }
    }
    flush(&mut word, &mut out, line);
    out
}

/// A rule statement: where it goes and its tokens (defines of the same
/// file substituted; seglab's own defines stay `$name`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Statement {
    pub family: String,
    pub table: String,
    pub chain: String,
    pub line: usize,
    pub tokens: Vec<Token>,
}

/// What a command does to the rules created before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    Rule(Statement),
    /// `flush ruleset`: every earlier rule is gone.
    ResetAll,
    /// `flush|delete table`, `flush|delete chain` (chain `None` = table).
    Reset {
        family: String,
        table: String,
        chain: Option<String>,
    },
}

const FAMILIES: [&str; 6] = ["ip", "ip6", "inet", "arp", "bridge", "netdev"];

/// `[FAMILY] TABLE [CHAIN]` of a command, nft's default family being `ip`.
fn object<'a, 't>(words: &'a [&'t Token]) -> Option<(String, &'a [&'t Token])> {
    let first = words.first()?;
    if FAMILIES.contains(&first.text.as_str()) && words.len() > 1 {
        Some((first.text.clone(), &words[1..]))
    } else {
        Some(("ip".to_string(), words))
    }
}

#[derive(Debug, Clone)]
enum Scope {
    Table(String, String),
    Chain(String, String, String),
}

/// The steps of one file, in the order nft runs them.
pub(crate) fn steps(text: &str) -> Vec<Step> {
    let tokens = lex(text);
    let mut defines: Vec<(String, Vec<Token>)> = Vec::new();
    let mut scopes: Vec<Scope> = Vec::new();
    let mut out = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        match tokens[i].kind {
            Kind::End | Kind::Comma => {
                i += 1;
                continue;
            }
            Kind::Close => {
                scopes.pop();
                i += 1;
                continue;
            }
            _ => {}
        }
        // One statement: up to the end of the line or `;` outside braces, a
        // `}` closing the enclosing block, or a `{` opening a block.
        let start = i;
        let mut depth = 0usize;
        let mut opens = false;
        while i < tokens.len() {
            let t = &tokens[i];
            match t.kind {
                Kind::End if depth == 0 => break,
                Kind::Close if depth == 0 => break,
                Kind::Open if depth == 0 && opens_block(&scopes, &tokens[start..i]) => {
                    opens = true;
                    i += 1;
                    break;
                }
                Kind::Open => depth += 1,
                Kind::Close => depth -= 1,
                _ => {}
            }
            i += 1;
        }
        let stmt: Vec<&Token> = tokens[start..i - usize::from(opens)].iter().collect();
        let words: Vec<&str> = stmt.iter().map(|t| t.text.as_str()).collect();
        match (scopes.last().cloned(), words.as_slice()) {
            (_, ["define", name, "=", ..]) => {
                let value = substitute(&stmt[3..], &defines);
                defines.push((format!("${name}"), value));
            }
            // A chain's own properties are not rules.
            (Some(Scope::Chain(..)), ["type" | "policy" | "comment" | "devices", ..]) => {}
            (Some(Scope::Chain(f, t, c)), _) => out.push(rule(f, t, c, &stmt, &defines)),
            (Some(Scope::Table(f, t)), ["chain", name, ..]) if opens => {
                scopes.push(Scope::Chain(f, t, name.to_string()));
            }
            (Some(Scope::Table(..)), _) if opens => i = skip_block(&tokens, i),
            (Some(Scope::Table(..)), _) => {}
            (None, ["flush", "ruleset", ..]) => out.push(Step::ResetAll),
            (None, _) => {
                if let Some(step) = command(&stmt, &words, opens, &mut scopes, &defines) {
                    out.push(step);
                } else if opens && scopes.is_empty() {
                    i = skip_block(&tokens, i);
                }
            }
        }
    }
    out
}

/// Whether a `{` after `head` opens a block rather than an anonymous set.
fn opens_block(scopes: &[Scope], head: &[Token]) -> bool {
    let words: Vec<&str> = head.iter().map(|t| t.text.as_str()).collect();
    let words = match words.first() {
        Some(&("add" | "create")) => &words[1..],
        _ => &words[..],
    };
    match scopes.last() {
        None => matches!(words.first(), Some(&("table" | "chain" | "set" | "map"))),
        Some(Scope::Table(..)) => !words.is_empty() && !words.contains(&"="),
        Some(Scope::Chain(..)) => false,
    }
}

/// Skips a block whose `{` was just consumed; returns the index after its `}`.
fn skip_block(tokens: &[Token], mut i: usize) -> usize {
    let mut depth = 1usize;
    while i < tokens.len() && depth > 0 {
        match tokens[i].kind {
            Kind::Open => depth += 1,
            Kind::Close => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    i
}

/// A top-level command: a table or chain block, a rule, or a reset.
fn command(
    stmt: &[&Token],
    words: &[&str],
    opens: bool,
    scopes: &mut Vec<Scope>,
    defines: &[(String, Vec<Token>)],
) -> Option<Step> {
    let (verb, rest) = match words.first()? {
        &("table" | "chain") => ("add", stmt),
        _ => (words[0], stmt.get(1..)?),
    };
    let what = rest.first()?.text.as_str();
    let (family, names) = object(&rest[1..])?;
    let name = |k: usize| names.get(k).map(|t| t.text.clone());
    match (verb, what) {
        ("add" | "create", "table") if opens => {
            scopes.push(Scope::Table(family, name(0)?));
            None
        }
        ("add" | "create", "chain") if opens => {
            scopes.push(Scope::Chain(family, name(0)?, name(1)?));
            None
        }
        // `replace rule ... handle N` keeps the handle of the rule it
        // replaces, out of creation order: left out, its rule gets no source.
        ("add" | "insert" | "create", "rule") => {
            let body = names.get(2..)?;
            // `position N`, `handle N`, `index N` say where, not what.
            let body = match body.first().map(|t| t.text.as_str()) {
                Some("position" | "handle" | "index") => body.get(2..)?,
                _ => body,
            };
            Some(rule(family, name(0)?, name(1)?, body, defines))
        }
        ("flush" | "delete" | "destroy", "table" | "chain") => Some(Step::Reset {
            family,
            table: name(0)?,
            chain: if what == "chain" {
                Some(name(1)?)
            } else {
                None
            },
        }),
        _ => None,
    }
}

fn rule(
    family: String,
    table: String,
    chain: String,
    body: &[&Token],
    defines: &[(String, Vec<Token>)],
) -> Step {
    Step::Rule(Statement {
        family,
        table,
        chain,
        line: body.first().map_or(0, |t| t.line),
        tokens: substitute(body, defines),
    })
}

/// Replaces the file's own `$name`s by their values (the latest define of
/// a name wins); unknown names, seglab's included, stay as they are.
fn substitute(tokens: &[&Token], defines: &[(String, Vec<Token>)]) -> Vec<Token> {
    let mut out = Vec::new();
    for t in tokens {
        match defines.iter().rev().find(|(n, _)| *n == t.text) {
            Some((_, value)) if t.kind == Kind::Word => out.extend(value.iter().cloned()),
            _ => out.push((*t).clone()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_of_flat_commands_continued_lines_and_several_per_line() {
        let text = "define p = 22\nadd rule filter input tcp dport $p accept\ninsert rule inet filter forward position 3 ip saddr $ams \\\n  drop; add rule inet filter forward accept # done\ndelete table ip filter\nadd set inet filter s { type ipv4_addr; }\n";
        let summary: Vec<String> = steps(text)
            .iter()
            .map(|s| match s {
                Step::Rule(s) => {
                    let words: Vec<&str> = s.tokens.iter().map(|t| t.text.as_str()).collect();
                    format!(
                        "{} {} {} line {}: {}",
                        s.family,
                        s.table,
                        s.chain,
                        s.line,
                        words.join(" ")
                    )
                }
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(
            summary,
            [
                "ip filter input line 2: tcp dport 22 accept",
                "inet filter forward line 3: ip saddr $ams drop",
                "inet filter forward line 4: accept",
                "Reset { family: \"ip\", table: \"filter\", chain: None }",
            ]
        );
    }
}
