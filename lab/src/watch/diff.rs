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
//!
//! Which cells changed is [`crate::diff`]'s to say (cells of one lab's
//! base policy, so scenario and phase never differ between two runs);
//! only these lines are watch's own.

use crate::diff::{self, CellKey, Cells, Judged, Seen};
use crate::verify::{Report, Verdict};

/// The cells of `report`, judged.
pub fn cells(report: &Report) -> Cells {
    diff::from_report("this run", report)
}

/// How watch's own run judged a cell: every cell of [`cells`] says.
fn judged(s: &Seen) -> Judged {
    s.judged.expect("watch compares the runs it verified")
}

fn line(sign: char, k: &CellKey, j: Judged, what: &str) -> String {
    let flow = j
        .flow
        .map_or("no flow".to_string(), |f| format!("flow {f}"));
    format!(
        "{sign} {:<11} {} -> {} {}/{} ({flow}): {what}",
        j.verdict.as_str(),
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
    let fails = |s: &Seen| judged(s).verdict != Verdict::Pass;
    let mut out = Vec::new();
    for c in diff::diff(before, after).changes {
        let k = &c.key;
        match (&c.before, &c.after) {
            (None, Some(a)) if fails(a) => out.push(line('+', k, judged(a), a.observed.as_str())),
            (Some(b), None) if fails(b) => {
                out.push(line('-', k, judged(b), "no longer in the plan"))
            }
            (Some(b), Some(a)) => {
                let (jb, ja) = (judged(b), judged(a));
                if jb.verdict == ja.verdict && b.observed != a.observed {
                    let what = format!("{} -> {}", b.observed, a.observed);
                    out.push(line('~', k, ja, &what));
                } else if jb.verdict != ja.verdict {
                    if fails(b) {
                        let what = format!("now {}, {}", a.observed, ja.verdict.as_str());
                        out.push(line('-', k, jb, &what));
                    }
                    if fails(a) {
                        out.push(line('+', k, ja, a.observed.as_str()));
                    }
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
    use crate::node_contract::Proto;
    use crate::probe::Observed;

    fn key(src: &str, dst: &str, port: u16) -> CellKey {
        CellKey {
            scenario: "scenario-3".into(),
            phase: "base".into(),
            src: src.into(),
            dst: dst.into(),
            proto: Proto::Tcp,
            port,
        }
    }

    fn state(observed: Observed, verdict: Verdict, flow: Option<u32>) -> Seen {
        Seen {
            observed,
            responder: None,
            src_segment: None,
            dst_segment: None,
            judged: Some(Judged { verdict, flow }),
        }
    }

    fn before() -> Cells {
        use Observed::*;
        cells_of([
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

    fn cells_of<const N: usize>(cells: [(CellKey, Seen); N]) -> Cells {
        Cells {
            name: "run".into(),
            cells: cells.into(),
        }
    }

    #[test]
    fn only_cells_whose_observation_or_verdict_moved_are_printed() {
        use Observed::*;
        let mut after = before();
        after.cells.remove(&key("gone", "x", 1));
        after.cells.insert(
            key("admin", "agent-1", 445),
            state(Open, Verdict::Leak, None),
        );
        after.cells.insert(
            key("admin", "storage", 22),
            state(Rejected, Verdict::Pass, None),
        );
        after.cells.insert(
            key("agent-1", "ams", 7780),
            state(Open, Verdict::Pass, Some(5)),
        );
        after
            .cells
            .insert(key("new", "y", 2), state(Open, Verdict::Leak, None));
        after
            .cells
            .insert(key("new", "y", 3), state(Blocked, Verdict::Pass, None));
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
        insta::assert_snapshot!(changed(&Cells::default(), &before()).join("\n"), @r"
        + missing     agent-1 -> ams tcp/7780 (flow 5): blocked
        + leak        ams -> agent-2 tcp/445 (no flow): open
        + leak        gone -> x tcp/1 (no flow): open
        ");
        assert!(changed(&before(), &before()).is_empty());
    }

    #[test]
    fn a_failure_that_turns_into_another_is_one_line_each() {
        let mut after = before();
        after.cells.insert(
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

    #[test]
    fn a_verdict_that_moves_under_the_same_observation_is_printed_a_responder_not() {
        let mut after = before();
        // The policy lost flow 3: the same open port is now a leak.
        after.cells.insert(
            key("ams", "agent-2", 22),
            state(Observed::Open, Verdict::Leak, None),
        );
        // Another responder, judged alike: nothing an edit did to the
        // verdicts, and watch says nothing.
        let mut moved = state(Observed::Open, Verdict::Leak, None);
        moved.responder = Some("agent-2/smb/445".into());
        after.cells.insert(key("ams", "agent-2", 445), moved);
        assert_eq!(
            changed(&before(), &after),
            ["+ leak        ams -> agent-2 tcp/22 (no flow): open"]
        );
    }
}
