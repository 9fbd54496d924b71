//! The table people read: a summary line per scenario and phase, then its
//! failures grouped (see [`super::grouped`]), with a cap per group that
//! `-v` lifts, and colours on a terminal. Verdicts are words, so the table
//! reads the same without colour.

use super::grouped::{
    count_words, groups, host_pairs, pairs_words, ports_words, Group, Style, LINES_SAID,
    PAIRS_SAID, PORT_ITEMS_SAID, WHYS_SAID,
};
use crate::verify::{Report, Verdict};
use std::fmt::Write;

const RESET: &str = "\x1b[0m";

/// The ANSI colour of a verdict: red for what opened and should not
/// (or opened to the wrong host), yellow for what is blocked and should
/// not be, magenta for what could not be judged.
fn verdict_colour(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "\x1b[32m",
        Verdict::Leak | Verdict::Misrouted => "\x1b[31m",
        Verdict::Missing | Verdict::WrongBlock => "\x1b[33m",
        Verdict::HostDown | Verdict::PathDown | Verdict::Error => "\x1b[35m",
    }
}

fn paint(style: &Style, code: &str, text: &str) -> String {
    if style.colour {
        format!("{code}{text}{RESET}")
    } else {
        text.to_string()
    }
}

/// The cap of a list, or none with `-v`.
fn cap(style: &Style, n: usize) -> Option<usize> {
    (!style.verbose).then_some(n)
}

pub(super) fn table(reports: &[Report], style: &Style) -> String {
    let mut out = String::new();
    for (r, line) in reports.iter().zip(super::summary_lines(reports)) {
        let _ = writeln!(out, "{}", paint_summary(style, r, line));
        for n in &r.notes {
            let _ = writeln!(out, "    note: {n}");
        }
        let gs = groups(r);
        let mut i = 0;
        while i < gs.len() {
            let segs = gs[i].segments;
            let same: Vec<&Group> = gs[i..].iter().take_while(|g| g.segments == segs).collect();
            i += same.len();
            let counts: Vec<String> = same
                .iter()
                .map(|g| {
                    paint(
                        style,
                        verdict_colour(g.verdict),
                        &count_words(g.cells, g.verdict),
                    )
                })
                .collect();
            let pairs: std::collections::BTreeSet<_> = same
                .iter()
                .flat_map(|g| g.lines.iter().flat_map(|l| l.pairs.iter()))
                .collect();
            let head = format!("{} -> {}", segs.0, segs.1);
            let _ = writeln!(
                out,
                "    {}: {} ({}){}",
                paint(style, "\x1b[1m", &head),
                counts.join(", "),
                host_pairs(pairs.len()),
                wide_open(r, segs)
            );
            for g in same {
                group(&mut out, g, style);
            }
        }
    }
    out
}

/// `: every blocked cell opened` when all the cells a segment pair must
/// block leaked (an allow-all rule set): the one thing to see first.
fn wide_open(r: &Report, segs: (&str, &str)) -> &'static str {
    let seg = |h: &str| {
        r.segments
            .get(h)
            .map(String::as_str)
            .unwrap_or(h)
            .to_string()
    };
    let mut blocked = r
        .results
        .iter()
        .filter(|c| c.expected == crate::plan::Expected::Blocked)
        .filter(|c| seg(&c.src) == segs.0 && seg(&c.dst) == segs.1)
        .peekable();
    if blocked.peek().is_none() {
        return "";
    }
    if blocked.all(|c| c.verdict == Verdict::Leak) {
        ": every blocked cell opened"
    } else {
        ""
    }
}

/// The summary line as it always was, its PASS or FAIL in colour.
fn paint_summary(style: &Style, r: &Report, line: String) -> String {
    if !style.colour {
        return line;
    }
    let (word, v) = if r.ok() {
        ("PASS", Verdict::Pass)
    } else {
        ("FAIL", Verdict::Leak)
    };
    match line.strip_prefix(word) {
        Some(rest) => format!("{}{rest}", paint(style, verdict_colour(v), word)),
        None => line,
    }
}

fn group(out: &mut String, g: &Group, style: &Style) {
    let verdict = paint(style, verdict_colour(g.verdict), g.verdict.as_str());
    let lines = cap(style, LINES_SAID).unwrap_or(usize::MAX);
    let mut unsaid = 0;
    for (n, l) in g.lines.iter().enumerate() {
        if n >= lines {
            unsaid += l.pairs.len();
            continue;
        }
        let pairs_cap = cap(style, PAIRS_SAID);
        unsaid += pairs_cap.map_or(0, |c| l.pairs.len().saturating_sub(c));
        let _ = writeln!(
            out,
            "        {verdict} {}{}: {}",
            g.line_ports(l, cap(style, PORT_ITEMS_SAID)),
            g.after_ports(l),
            pairs_words(&l.pairs, pairs_cap)
        );
    }
    if unsaid > 0 {
        let _ = writeln!(
            out,
            "        … and {unsaid} more host pair{}: --format json lists every cell (or -v)",
            if unsaid == 1 { "" } else { "s" }
        );
    }
    let whys = cap(style, WHYS_SAID).unwrap_or(usize::MAX);
    for w in g.whys.iter().take(whys) {
        let _ = writeln!(
            out,
            "        why {}, {}: {}",
            ports_words(&w.ports, cap(style, PORT_ITEMS_SAID)),
            host_pairs(w.pairs.len()),
            w.why
        );
    }
    if g.whys.len() > whys {
        let _ = writeln!(
            out,
            "        … and {} more explanations (-v says them)",
            g.whys.len() - whys
        );
    }
}
