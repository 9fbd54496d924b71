//! What changed between two verifications of one lab (pure): the cells
//! whose observed result or verdict moved, one line each, so that `watch`
//! prints only what an edit did.
//!
//! ```text
//! + leak        ams -> agent-1 tcp/445 (no flow): open
//! - missing     agent-1 -> ams tcp/7780 (flow 5): now open, pass
//! ~ pass        admin -> storage tcp/22 (no flow): blocked -> rejected
//! ```
//!
//! `+` a cell that fails now (and did not, or failed otherwise), `-` a
//! failure that is gone (or became another), `~` a cell whose verdict stayed
//! but whose observed result changed.

use crate::node_contract::Proto;
use crate::probe::Observed;
use crate::verify::{Report, Verdict};
use std::collections::BTreeMap;

/// A cell of the matrix.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct CellKey {
    pub src: String,
    pub dst: String,
    pub proto: Proto,
    pub port: u16,
}

/// What a verification saw of a cell and how it judged it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CellState {
    pub observed: Observed,
    pub verdict: Verdict,
    pub flow: Option<u32>,
}

/// Every cell of a run's reports.
pub type Cells = BTreeMap<CellKey, CellState>;

/// The cells of `report`.
pub fn cells(report: &Report) -> Cells {
    report
        .results
        .iter()
        .map(|r| {
            (
                CellKey {
                    src: r.src.clone(),
                    dst: r.dst.clone(),
                    proto: r.proto,
                    port: r.port,
                },
                CellState {
                    observed: r.observed,
                    verdict: r.verdict,
                    flow: r.flow,
                },
            )
        })
        .collect()
}

fn line(sign: char, verdict: Verdict, k: &CellKey, flow: Option<u32>, what: &str) -> String {
    let flow = flow.map_or("no flow".to_string(), |f| format!("flow {f}"));
    format!(
        "{sign} {:<11} {} -> {} {}/{} ({flow}): {what}",
        verdict.as_str(),
        k.src,
        k.dst,
        k.proto,
        k.port
    )
}

/// The lines for every cell that changed from `before` to `after`, in cell
/// order (a cell's `-` before its `+`). With an empty `before` (the first
/// run), every failing cell of `after`.
pub fn changed(before: &Cells, after: &Cells) -> Vec<String> {
    let mut keys: Vec<&CellKey> = before.keys().chain(after.keys()).collect();
    keys.sort();
    keys.dedup();
    let fails = |s: &CellState| s.verdict != Verdict::Pass;
    let mut out = Vec::new();
    for k in keys {
        match (before.get(k), after.get(k)) {
            (None, Some(a)) if fails(a) => {
                out.push(line('+', a.verdict, k, a.flow, a.observed.as_str()))
            }
            (Some(b), None) if fails(b) => {
                out.push(line('-', b.verdict, k, b.flow, "no longer in the plan"))
            }
            (Some(b), Some(a)) if b.verdict == a.verdict && b.observed != a.observed => {
                let what = format!("{} -> {}", b.observed, a.observed);
                out.push(line('~', a.verdict, k, a.flow, &what));
            }
            (Some(b), Some(a)) if b.verdict != a.verdict => {
                if fails(b) {
                    let what = format!("now {}, {}", a.observed, a.verdict.as_str());
                    out.push(line('-', b.verdict, k, b.flow, &what));
                }
                if fails(a) {
                    out.push(line('+', a.verdict, k, a.flow, a.observed.as_str()));
                }
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(src: &str, dst: &str, port: u16) -> CellKey {
        CellKey {
            src: src.into(),
            dst: dst.into(),
            proto: Proto::Tcp,
            port,
        }
    }

    fn state(observed: Observed, verdict: Verdict, flow: Option<u32>) -> CellState {
        CellState {
            observed,
            verdict,
            flow,
        }
    }

    fn before() -> Cells {
        use Observed::*;
        Cells::from([
            (
                key("admin", "agent-1", 445),
                state(Blocked, Verdict::Pass, None),
            ),
            (
                key("admin", "storage", 22),
                state(Blocked, Verdict::Pass, None),
            ),
            (
                key("agent-1", "ams", 7780),
                state(Blocked, Verdict::Missing, Some(5)),
            ),
            (key("ams", "agent-2", 445), state(Open, Verdict::Leak, None)),
            (
                key("ams", "agent-2", 22),
                state(Open, Verdict::Pass, Some(3)),
            ),
            (key("gone", "x", 1), state(Open, Verdict::Leak, None)),
        ])
    }

    #[test]
    fn only_cells_whose_observation_or_verdict_moved_are_printed() {
        use Observed::*;
        let mut after = before();
        after.remove(&key("gone", "x", 1));
        after.insert(
            key("admin", "agent-1", 445),
            state(Open, Verdict::Leak, None),
        );
        after.insert(
            key("admin", "storage", 22),
            state(Rejected, Verdict::Pass, None),
        );
        after.insert(
            key("agent-1", "ams", 7780),
            state(Open, Verdict::Pass, Some(5)),
        );
        after.insert(key("new", "y", 2), state(Open, Verdict::Leak, None));
        after.insert(key("new", "y", 3), state(Blocked, Verdict::Pass, None));
        insta::assert_snapshot!(changed(&before(), &after).join("\n"), @r"
        + leak        admin -> agent-1 tcp/445 (no flow): open
        ~ pass        admin -> storage tcp/22 (no flow): blocked -> rejected
        - missing     agent-1 -> ams tcp/7780 (flow 5): now open, pass
        - leak        gone -> x tcp/1 (no flow): no longer in the plan
        + leak        new -> y tcp/2 (no flow): open
        ");
    }

    #[test]
    fn the_first_run_lists_the_failing_cells_and_an_unchanged_run_nothing() {
        insta::assert_snapshot!(changed(&Cells::new(), &before()).join("\n"), @r"
        + missing     agent-1 -> ams tcp/7780 (flow 5): blocked
        + leak        ams -> agent-2 tcp/445 (no flow): open
        + leak        gone -> x tcp/1 (no flow): open
        ");
        assert!(changed(&before(), &before()).is_empty());
    }

    #[test]
    fn a_failure_that_turns_into_another_is_one_line_each() {
        let mut after = before();
        after.insert(
            key("ams", "agent-2", 445),
            state(Observed::Open, Verdict::Misrouted, None),
        );
        assert_eq!(
            changed(&before(), &after),
            [
                "- leak        ams -> agent-2 tcp/445 (no flow): now open, misrouted",
                "+ misrouted   ams -> agent-2 tcp/445 (no flow): open",
            ]
        );
    }
}
