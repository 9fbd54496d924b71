//! Saying a diff: a summary line, then the changed cells grouped like a
//! report (scenario and phase, segment pair, host pair) with their ports
//! compressed; JSON for tools. Pure.

use super::{CellChange, Change, Diff};
use crate::observe::render::ports_text;
use crate::ports::PortKey;
use crate::report::pairs::{self, Order};
use std::fmt::Write;

/// `3 cells changed: 2 newly open, 1 newly blocked`, or `no cell changed`.
pub fn summary_line(d: &Diff) -> String {
    let s = &d.summary;
    let mut line = if s.changed == 0 {
        "no cell changed".to_string()
    } else {
        let mut parts = Vec::new();
        for (n, what) in [
            (s.newly_open, "newly open"),
            (s.newly_blocked, "newly blocked"),
            (s.other, "other changes"),
            (s.only_before, "only before"),
            (s.only_after, "only after"),
        ] {
            if n > 0 {
                parts.push(format!("{n} {what}"));
            }
        }
        format!(
            "{} cell{} changed: {}",
            s.changed,
            if s.changed == 1 { "" } else { "s" },
            parts.join(", ")
        )
    };
    let _ = write!(
        line,
        " ({} -> {}, {} cells in both)",
        d.before, d.after, s.compared
    );
    line
}

/// What happened to a cell, in words that group cells alike.
fn words(c: &CellChange) -> String {
    let seen = |s: &Option<super::Seen>| s.as_ref().map(|s| s.observed.as_str()).unwrap_or("");
    match c.change {
        Change::NewlyOpen | Change::NewlyBlocked => c.change.as_str().to_string(),
        Change::OnlyBefore => format!("only before ({})", seen(&c.before)),
        Change::OnlyAfter => format!("only after ({})", seen(&c.after)),
        Change::Other => {
            let (b, a) = (c.before.as_ref(), c.after.as_ref());
            let (b, a) = (b.expect("both sides"), a.expect("both sides"));
            if b.observed != a.observed {
                format!("{} -> {}", b.observed, a.observed)
            } else {
                format!(
                    "answered by {} (was {})",
                    a.responder.as_deref().unwrap_or("?"),
                    b.responder.as_deref().unwrap_or("?")
                )
            }
        }
    }
}

/// A group's cells in one line per host pair, each kind of change with
/// its ports: `ams -> agent-1: newly open tcp 445 | blocked -> rejected udp 53`.
fn pair_line(src: &str, dst: &str, cells: &[&CellChange]) -> String {
    let mut by: Vec<(String, Vec<PortKey>)> = Vec::new();
    let mut sorted: Vec<&&CellChange> = cells.iter().collect();
    sorted.sort_by_key(|c| c.change);
    for c in sorted {
        let w = words(c);
        let key = PortKey {
            proto: c.key.proto,
            port: c.key.port,
        };
        match by.iter_mut().find(|(x, _)| *x == w) {
            Some((_, ports)) => ports.push(key),
            None => by.push((w, vec![key])),
        }
    }
    let said: Vec<String> = by
        .into_iter()
        .map(|(w, ports)| format!("{w} {}", ports_text(ports)))
        .collect();
    format!("{src} -> {dst}: {}", said.join(" | "))
}

/// The table: the summary line, then per scenario and phase the changed
/// cells by segment pair and host pair. A phase that only one document
/// has is said in one line.
pub fn table<'d>(d: &'d Diff) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", summary_line(d));
    // Sorted, not in either side's order: both documents are equals.
    let groups = pairs::sorted(&d.changes, |c| {
        (c.key.scenario.as_str(), c.key.phase.as_str())
    });
    for ((scenario, phase), changes) in groups {
        let counts = d
            .groups
            .get(&(scenario.to_string(), phase.to_string()))
            .copied()
            .unwrap_or_default();
        match counts {
            (n, 0) => {
                let _ = writeln!(
                    out,
                    "{scenario} / {phase}: only in {} ({n} cells)",
                    d.before
                );
                continue;
            }
            (0, n) => {
                let _ = writeln!(out, "{scenario} / {phase}: only in {} ({n} cells)", d.after);
                continue;
            }
            _ => {}
        }
        let _ = writeln!(out, "{scenario} / {phase}");
        let segment = |s: &'d Option<String>| s.as_deref().unwrap_or("?");
        for g in pairs::segment_pairs(
            changes,
            |c: &&'d CellChange| (segment(&c.src_segment), segment(&c.dst_segment)),
            |c: &&'d CellChange| (c.key.src.as_str(), c.key.dst.as_str()),
            Order::Sorted,
            Order::Sorted,
        ) {
            let _ = writeln!(out, "  {} -> {}", g.segments.0, g.segments.1);
            for ((src, dst), cells) in g.hosts {
                let _ = writeln!(out, "    {}", pair_line(src, dst, &cells));
            }
        }
    }
    out
}

/// JSON: `{"before", "after", "summary", "changes": [...]}`, each change a
/// cell (scenario, phase, src, dst, proto, port, segments) with `change`
/// and what each side saw (`null` for a side that lacks the cell).
pub fn json(d: &Diff) -> String {
    serde_json::to_string_pretty(d).expect("a diff serializes")
}
