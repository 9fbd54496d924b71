//! `--format markdown`: a CI job summary (`$GITHUB_STEP_SUMMARY`). A
//! summary table (a row per scenario and phase), then per failing report
//! its grouped failures as a table and its explanations as a list, capped
//! as the terminal table is (`-v` lifts the caps).

use super::grouped::{
    groups, host_pairs, pairs_words, ports_words, Style, LINES_SAID, PAIRS_SAID, PORT_ITEMS_SAID,
    WHYS_SAID,
};
use crate::verify::Report;
use std::fmt::Write;

/// Text safe in a Markdown table cell: `|` would end the cell, backticks
/// would open code spans the text never closes, `*`, `_`, `[`, `<` would
/// become emphasis, links or HTML; a line break would end the row.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '\\' | '|' | '`' | '*' | '_' | '[' | ']' | '<' => {
                out.push('\\');
                out.push(ch);
            }
            '\n' | '\r' => out.push(' '),
            _ => out.push(ch),
        }
    }
    out
}

pub(super) fn markdown(reports: &[Report], style: &Style) -> String {
    let mut out = String::from(
        "| result | scenario | phase | probes | passed | missing | leaks | misrouted | wrong-block | host-down | path-down | errors | retries | time |\n\
         |---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n",
    );
    for r in reports {
        let s = &r.summary;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.2} s |",
            if r.ok() { "✅ PASS" } else { "❌ FAIL" },
            escape(&r.scenario),
            escape(&r.phase),
            s.probes,
            s.passed,
            s.missing,
            s.leaks,
            s.misrouted,
            s.wrong_block,
            s.host_down,
            s.path_down,
            s.errors,
            s.retries,
            s.wall_ms as f64 / 1000.0
        );
    }
    let cap = |n: usize| (!style.verbose).then_some(n);
    for r in reports {
        let gs = groups(r);
        if gs.is_empty() && r.notes.is_empty() {
            continue;
        }
        let _ = write!(
            out,
            "\n### {} / {}\n\n",
            escape(&r.scenario),
            escape(&r.phase)
        );
        for n in &r.notes {
            let _ = writeln!(out, "> note: {}\n", escape(n));
        }
        if gs.is_empty() {
            continue;
        }
        out.push_str(
            "| segments | verdict | ports | flows | host pairs |\n|---|---|---|---|---|\n",
        );
        let mut whys = String::new();
        for g in &gs {
            let segs = format!("{} → {}", escape(g.segments.0), escape(g.segments.1));
            let verdict = format!("**{}**", g.verdict.as_str());
            let mut unsaid = 0;
            for (n, l) in g.lines.iter().enumerate() {
                if cap(LINES_SAID).is_some_and(|c| n >= c) {
                    unsaid += l.pairs.len();
                    continue;
                }
                unsaid += cap(PAIRS_SAID).map_or(0, |c| l.pairs.len().saturating_sub(c));
                let _ = writeln!(
                    out,
                    "| {segs} | {verdict} | {} | {} | {} |",
                    escape(&g.line_ports(l, cap(PORT_ITEMS_SAID))),
                    escape(&g.flow_words(l)),
                    escape(&pairs_words(&l.pairs, cap(PAIRS_SAID)))
                );
            }
            if unsaid > 0 {
                let _ = writeln!(
                    out,
                    "| {segs} | {verdict} | … | … | … and {unsaid} more host pair{}: `--format json` lists every cell |",
                    if unsaid == 1 { "" } else { "s" }
                );
            }
            let said = cap(WHYS_SAID).unwrap_or(usize::MAX);
            for w in g.whys.iter().take(said) {
                let _ = writeln!(
                    whys,
                    "- {segs}, {} {}, {}: {}",
                    g.verdict.as_str(),
                    escape(&ports_words(&w.ports, cap(PORT_ITEMS_SAID))),
                    host_pairs(w.pairs.len()),
                    escape(w.why)
                );
            }
            if g.whys.len() > said {
                let _ = writeln!(
                    whys,
                    "- {segs}: … and {} more explanations (`-v` says them)",
                    g.whys.len() - said
                );
            }
        }
        if !whys.is_empty() {
            let _ = write!(out, "\nWhy:\n\n{whys}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn table_cells_escape_what_markdown_would_read() {
        assert_eq!(
            escape("rule `ip saddr { a | b } accept` (x_y.nft:7)\nnext"),
            "rule \\`ip saddr { a \\| b } accept\\` (x\\_y.nft:7) next"
        );
        assert_eq!(
            escape("a\\b <c> [d] *e* -> f"),
            "a\\\\b \\<c> \\[d\\] \\*e\\* -> f"
        );
    }
}
