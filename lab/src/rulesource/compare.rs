//! Whether a rule statement of a file can be the rule nft lists, and how
//! alike they are. nft prints a rule its own way: defines expanded, sets
//! sorted, `counter` with its numbers, hex marks, implied matches dropped
//! (`ip protocol tcp`), a one-element set as its element. So the test is on
//! tokens: the verdict must be the same, every value (number, address,
//! string, set) of either side must meet its equal on the other, a `$name`
//! seglab defined stands for any one value, and every keyword must meet its
//! equal too, but for the few nft adds or drops on its own.

use super::statements::{Kind, Token};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok {
    Word(String),
    /// A number, address, range, quoted string or set (sorted, in braces).
    Value(String),
    /// An unknown `$name`, or a set holding one.
    Wild,
}

/// A rule reduced to what the comparison looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Shape {
    /// The last verdict word (`accept`, `drop`, `reject`, `jump audit`, ...);
    /// empty when the rule has none.
    pub verdict: String,
    pub toks: Vec<Tok>,
}

const VERDICTS: [&str; 13] = [
    "accept",
    "drop",
    "reject",
    "return",
    "continue",
    "queue",
    "jump",
    "goto",
    "vmap",
    "masquerade",
    "snat",
    "dnat",
    "redirect",
];

/// Words nft adds or drops on its own (`mark set 1` -> `meta mark set
/// 0x00000001`, `reject with icmp type X` -> `reject with icmp X`).
const FILLERS: [&str; 8] = [
    "ip", "ip6", "inet", "protocol", "meta", "l4proto", "nexthdr", "type",
];

/// Service names nft knows that a hand-written file may use for a port
/// (nft lists the number).
const SERVICES: [(&str, u16); 18] = [
    ("ftp", 21),
    ("ssh", 22),
    ("telnet", 23),
    ("smtp", 25),
    ("domain", 53),
    ("http", 80),
    ("kerberos", 88),
    ("sunrpc", 111),
    ("ntp", 123),
    ("netbios-ns", 137),
    ("netbios-dgm", 138),
    ("netbios-ssn", 139),
    ("snmp", 161),
    ("ldap", 389),
    ("https", 443),
    ("microsoft-ds", 445),
    ("ldaps", 636),
    ("nfs", 2049),
];

fn atom(t: &Token) -> Tok {
    let s = t.text.as_str();
    if t.kind == Kind::Str {
        return Tok::Value(s.to_string());
    }
    if s.starts_with('$') {
        return Tok::Wild;
    }
    if let Some((_, port)) = SERVICES.iter().find(|(n, _)| *n == s) {
        return Tok::Value(port.to_string());
    }
    if let Some(n) = s
        .strip_prefix("0x")
        .and_then(|h| u64::from_str_radix(h, 16).ok())
    {
        return Tok::Value(n.to_string());
    }
    let bytes = s.as_bytes();
    let numeric = bytes[0].is_ascii_digit()
        || (bytes[0] == b':' && bytes.get(1).is_some_and(u8::is_ascii_digit))
        || (s.contains(':')
            && s.chars()
                .all(|c| c.is_ascii_hexdigit() || ":./-".contains(c)));
    if !numeric {
        return Tok::Word(s.to_string());
    }
    // A host written as a /32 (or /128) prefix is listed without it.
    let s = s
        .strip_suffix("/32")
        .filter(|a| a.contains('.'))
        .or_else(|| s.strip_suffix("/128").filter(|a| a.contains(':')))
        .unwrap_or(s);
    Tok::Value(s.to_string())
}

fn text(t: &Tok) -> &str {
    match t {
        Tok::Word(s) | Tok::Value(s) => s,
        Tok::Wild => "$",
    }
}

/// Elements (each a run of atoms) as one token: a set, or the element alone.
fn group(elements: Vec<Vec<Tok>>) -> Tok {
    let mut elements: Vec<Vec<Tok>> = elements.into_iter().filter(|e| !e.is_empty()).collect();
    if elements.iter().flatten().any(|t| *t == Tok::Wild) {
        return Tok::Wild;
    }
    if elements.len() == 1 && elements[0].len() == 1 {
        return elements.remove(0).remove(0);
    }
    let mut texts: Vec<String> = elements
        .iter()
        .map(|e| e.iter().map(text).collect::<Vec<_>>().join(" "))
        .collect();
    texts.sort();
    texts.dedup();
    Tok::Value(format!("{{{}}}", texts.join(",")))
}

/// Reduces a rule's tokens (from a file or from the listing).
pub(crate) fn shape(tokens: &[Token]) -> Shape {
    let mut toks = Vec::new();
    // Top-level atoms joined by commas (`established,related`) are a set,
    // as nft lists `{ established, related }`.
    let mut run: Vec<Vec<Tok>> = Vec::new();
    let mut joined = false;
    let mut i = 0;
    let push = |toks: &mut Vec<Tok>, run: &mut Vec<Vec<Tok>>| {
        if !run.is_empty() {
            toks.push(group(std::mem::take(run)));
        }
    };
    while i < tokens.len() {
        let t = &tokens[i];
        let piece = match t.kind {
            Kind::Open => {
                let (elements, next) = set(tokens, i + 1);
                i = next;
                group(elements)
            }
            Kind::Comma => {
                joined = true;
                i += 1;
                continue;
            }
            Kind::Close | Kind::End => {
                i += 1;
                continue;
            }
            _ if t.text == "counter" && is_counts(&tokens[i + 1..]) => {
                // `counter packets N bytes N`: the numbers are the kernel's.
                i += 5;
                Tok::Word("counter".into())
            }
            _ => {
                i += 1;
                atom(t)
            }
        };
        if !joined {
            push(&mut toks, &mut run);
        }
        joined = false;
        run.push(vec![piece]);
    }
    push(&mut toks, &mut run);
    let mut verdict = String::new();
    for (k, t) in toks.iter().enumerate() {
        if let Tok::Word(w) = t {
            if VERDICTS.contains(&w.as_str()) {
                verdict = w.clone();
                if matches!(w.as_str(), "jump" | "goto") {
                    if let Some(target) = toks.get(k + 1) {
                        verdict = format!("{w} {}", text(target));
                    }
                }
            }
        }
    }
    Shape { verdict, toks }
}

fn is_counts(rest: &[Token]) -> bool {
    let w: Vec<&str> = rest.iter().take(4).map(|t| t.text.as_str()).collect();
    matches!(w.as_slice(), ["packets", _, "bytes", _])
}

/// The elements of a set whose `{` is before `i` (nested sets flattened);
/// returns them and the index after the closing `}`.
fn set(tokens: &[Token], mut i: usize) -> (Vec<Vec<Tok>>, usize) {
    let mut elements = vec![Vec::new()];
    let mut depth = 1;
    while i < tokens.len() {
        let t = &tokens[i];
        i += 1;
        match t.kind {
            Kind::Open => depth += 1,
            Kind::Close => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            Kind::Comma => elements.push(Vec::new()),
            Kind::End => {}
            _ => elements.last_mut().expect("never empty").push(atom(t)),
        }
    }
    (elements, i)
}

fn weight(file: &Tok, listed: &Tok) -> u32 {
    match (file, listed) {
        (Tok::Wild, Tok::Value(_)) => 2,
        (Tok::Wild, Tok::Word(_)) => 1,
        (Tok::Value(a), Tok::Value(b)) if a == b => 3,
        (Tok::Word(a) | Tok::Value(a), Tok::Word(b) | Tok::Value(b)) if a == b => 2,
        _ => 0,
    }
}

/// Whether a file's statement can have made a listed rule.
pub(crate) fn fits(file: &Shape, listed: &Shape) -> bool {
    if file.verdict != listed.verdict {
        return false;
    }
    let (a, b) = (&file.toks, &listed.toks);
    let w = b.len() + 1;
    // Heaviest common subsequence (values weigh most, so they pair first),
    // then which tokens it used.
    let mut best = vec![0u32; (a.len() + 1) * w];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            let pair = match weight(&a[i], &b[j]) {
                0 => 0,
                x => x + best[(i + 1) * w + j + 1],
            };
            best[i * w + j] = pair.max(best[(i + 1) * w + j]).max(best[i * w + j + 1]);
        }
    }
    let (mut used_a, mut used_b) = (vec![false; a.len()], vec![false; b.len()]);
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let x = weight(&a[i], &b[j]);
        if x > 0 && best[i * w + j] == x + best[(i + 1) * w + j + 1] {
            (used_a[i], used_b[j]) = (true, true);
            (i, j) = (i + 1, j + 1);
        } else if best[i * w + j] == best[(i + 1) * w + j] {
            i += 1;
        } else {
            j += 1;
        }
    }
    let complete = |toks: &[Tok], used: &[bool]| {
        toks.iter().zip(used).all(|(t, &u)| match t {
            _ if u => true,
            // nft drops a match another implies (`ip protocol tcp tcp dport
            // 22` -> `tcp dport 22`) and adds one (`reject with tcp reset`
            // -> `meta l4proto tcp reject with tcp reset`).
            Tok::Word(w) => {
                FILLERS.contains(&w.as_str()) || toks.iter().zip(used).any(|(o, &ou)| ou && o == t)
            }
            _ => false,
        })
    };
    complete(a, &used_a) && complete(b, &used_b)
}

#[cfg(test)]
mod tests {
    use super::super::statements::lex;
    use super::*;

    #[test]
    fn how_nft_prints_a_rule_does_not_hide_its_statement() {
        let like = |file: &str, listed: &str| fits(&shape(&lex(file)), &shape(&lex(listed)));
        let same = [
            (
                "ip saddr $role_agent ip daddr $ams tcp dport 7780 accept",
                "ip saddr { 198.18.31.10, 198.18.31.11 } ip daddr 198.18.30.10 tcp dport 7780 accept",
            ),
            (
                "tcp dport { 445, 139, 22 } counter accept",
                "tcp dport { 22, 139, 445 } counter packets 3 bytes 180 accept",
            ),
            (
                "ct state { established, related } accept",
                "ct state established,related accept",
            ),
            (
                "ip protocol tcp tcp dport ssh accept",
                "tcp dport 22 accept",
            ),
            (
                "ip daddr 10.0.0.1/32 meta mark set 1",
                "ip daddr 10.0.0.1 meta mark set 0x00000001",
            ),
            ("iifname lo accept", "iifname \"lo\" accept"),
            ("tcp dport { 80 } drop", "tcp dport 80 drop"),
            (
                "ip daddr $x reject with icmp type admin-prohibited",
                "ip daddr 10.0.0.3 reject with icmp admin-prohibited",
            ),
            (
                "reject with tcp reset",
                "meta l4proto tcp reject with tcp reset",
            ),
            (
                "meta l4proto tcp tcp dport 22 accept",
                "tcp dport 22 accept",
            ),
            (
                "meta iifname \"eth1\" oifname eth2 accept",
                "iifname \"eth1\" oifname \"eth2\" accept",
            ),
            (
                "ip saddr { 10.0.0.0/24 } drop",
                "ip saddr { 10.0.0.0/24 } drop",
            ),
        ];
        for (file, listed) in same {
            assert!(like(file, listed), "{file} | {listed}");
        }
        let different = [
            ("tcp dport 22 accept", "tcp dport 22 drop"),
            ("tcp dport 22 accept", "tcp dport 2222 accept"),
            ("ip saddr $a tcp dport 22 accept", "tcp dport 22 accept"),
            (
                "tcp dport 22 accept",
                "ip saddr 10.0.0.1 tcp dport 22 accept",
            ),
            ("ip daddr $x jump audit", "ip daddr 10.0.0.3 jump other"),
            ("log prefix \"a\" drop", "log prefix \"b\" drop"),
            ("tcp dport 22 accept", "udp dport 22 accept"),
            ("ip saddr $a accept", "ip daddr 10.0.0.1 accept"),
            (
                "icmp type echo-request accept",
                "icmp type echo-reply accept",
            ),
            (
                "ct state established accept",
                "ct state established,related accept",
            ),
            // nft merged the set: refused rather than guessed.
            (
                "ip saddr { 10.0.0.0/24, 10.0.1.0/24 } drop",
                "ip saddr { 10.0.0.0/23 } drop",
            ),
        ];
        for (file, listed) in different {
            assert!(!like(file, listed), "{file} | {listed}");
        }
    }
}
