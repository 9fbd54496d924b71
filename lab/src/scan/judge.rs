//! Judging a scanned target against the plan, port by port, as
//! [`crate::verify::judge`] judges a probed cell; pure.
//!
//! The plan's expectation of a pair changes only at the ports a flow
//! between them or the destination's host firewall names; every other
//! port shares one expectation. So a target's seen spans are cut only at
//! those ports, and a full scan of 65,535 ports costs a handful of plan
//! look-ups, not one per port.

use super::{JudgedSpan, PairScan, PortSet, ScanSummary, SeenSpan, TargetScan};
use crate::node_contract::Proto;
use crate::plan::{cell, Cell};
use crate::ports::PortKey;
use crate::probe::Observed;
use crate::scenario::{Flow, Host, Scenario};
use crate::verify::Verdict;
use std::collections::BTreeSet;
use std::time::Duration;

/// The verdict of one port: `verify`'s, with `stranger` for an answer
/// from someone other than the destination.
pub use crate::verify::verdict;

/// The plan of one pair and protocol: the ports whose expectation is their
/// own, and the expectation every other port shares.
struct PairPlan<'a> {
    flows: &'a [&'a Flow],
    src: &'a Host,
    dst: &'a Host,
    proto: Proto,
    named: BTreeSet<u16>,
    /// `None` only if every port is named.
    rest: Option<Cell>,
}

impl<'a> PairPlan<'a> {
    fn new(flows: &'a [&'a Flow], src: &'a Host, dst: &'a Host, proto: Proto) -> Self {
        let of_proto = |specs: &'a [crate::ports::PortSpec]| {
            specs
                .iter()
                .filter(move |p| p.key.proto == proto)
                .map(|p| p.key.port)
        };
        let mut named: BTreeSet<u16> = flows
            .iter()
            .filter(|f| f.from.matches(src) && f.to.matches(dst))
            .flat_map(|f| of_proto(&f.ports))
            .collect();
        named.extend(dst.firewall.iter().flat_map(|fw| of_proto(fw)));
        let rest = (1..=u16::MAX)
            .find(|p| !named.contains(p))
            .map(|port| cell(flows, src, dst, PortKey { proto, port }));
        PairPlan {
            flows,
            src,
            dst,
            proto,
            named,
            rest,
        }
    }

    /// Calls `each` with consecutive runs of `first..=last` that share one
    /// expectation.
    fn split(&self, first: u16, last: u16, mut each: impl FnMut(u16, u16, &Cell)) {
        let mut from = first;
        for &port in self.named.range(first..=last) {
            if port > from {
                each(from, port - 1, self.rest.as_ref().expect("an unnamed port"));
            }
            let own = cell(
                self.flows,
                self.src,
                self.dst,
                PortKey {
                    proto: self.proto,
                    port,
                },
            );
            each(port, port, &own);
            match port.checked_add(1) {
                Some(next) => from = next,
                None => return,
            }
        }
        if from <= last {
            each(from, last, self.rest.as_ref().expect("an unnamed port"));
        }
    }
}

/// Appends a span, merging it into the last one when it continues it with
/// the same judgement.
fn push(spans: &mut Vec<JudgedSpan>, span: JudgedSpan) {
    if let Some(last) = spans.last_mut() {
        let same = last.expected == span.expected
            && last.observed == span.observed
            && last.verdict == span.verdict
            && last.flow == span.flow
            && last.reason == span.reason
            && last.detail == span.detail;
        if same && last.last.checked_add(1) == Some(span.first) {
            last.last = span.last;
            return;
        }
    }
    spans.push(span);
}

/// Judges what one target's ports saw against the plan under `flows` (see
/// [`crate::plan::flows_in`]): ascending spans covering exactly the ports
/// scanned.
pub fn judge_target(
    sc: &Scenario,
    flows: &[&Flow],
    src: &Host,
    dst: &Host,
    proto: Proto,
    scanned: &TargetScan,
) -> PairScan {
    debug_assert!(
        scanned.spans.windows(2).all(|w| w[0].last < w[1].first),
        "seen spans ascend without overlap"
    );
    let plan = PairPlan::new(flows, src, dst, proto);
    let mut spans = Vec::new();
    let mut ports = 0;
    for seen in &scanned.spans {
        ports += u64::from(seen.last - seen.first) + 1;
        plan.split(seen.first, seen.last, |first, last, c| {
            push(
                &mut spans,
                JudgedSpan {
                    first,
                    last,
                    expected: c.expected,
                    observed: seen.observed,
                    verdict: verdict(c.expected, seen.observed, seen.stranger, sc.block),
                    flow: c.flow,
                    reason: c.reason.clone(),
                    detail: seen.detail.clone(),
                },
            )
        });
    }
    PairScan {
        src: src.name.clone(),
        dst: dst.name.clone(),
        src_segment: src.segment.clone(),
        dst_segment: dst.segment.clone(),
        proto,
        ports,
        spans,
        rounds: scanned.rounds,
        packets: scanned.packets,
        elapsed_ms: u64::try_from(scanned.elapsed.as_millis()).unwrap_or(u64::MAX),
    }
}

/// A pair that was not scanned: an end host is down (`Observed::HostDown`)
/// or a node on its path is broken (`Observed::PathDown`). Every port of
/// `ports` gets that verdict with `why` as its detail; the expectations
/// still come from the plan, so the report says what went untested.
#[allow(clippy::too_many_arguments)]
pub fn unjudged(
    sc: &Scenario,
    flows: &[&Flow],
    src: &Host,
    dst: &Host,
    proto: Proto,
    ports: &PortSet,
    observed: Observed,
    why: &str,
) -> PairScan {
    let spans = ports
        .ranges()
        .into_iter()
        .map(|r| SeenSpan {
            first: *r.start(),
            last: *r.end(),
            observed,
            detail: Some(why.to_string()),
            stranger: false,
        })
        .collect();
    let nothing = TargetScan {
        id: 0,
        spans,
        rounds: 0,
        packets: 0,
        elapsed: Duration::ZERO,
    };
    judge_target(sc, flows, src, dst, proto, &nothing)
}

/// Ports by verdict over `pairs`, and the wall time of the whole scan.
pub fn summarize(pairs: &[PairScan], wall: Duration) -> ScanSummary {
    let mut s = ScanSummary {
        pairs: pairs.len(),
        wall_ms: u64::try_from(wall.as_millis()).unwrap_or(u64::MAX),
        ..ScanSummary::default()
    };
    for p in pairs {
        s.packets += p.packets;
        for span in &p.spans {
            let n = span.len();
            s.ports += n;
            *match span.verdict {
                Verdict::Pass => &mut s.passed,
                Verdict::Leak => &mut s.leaks,
                Verdict::Missing => &mut s.missing,
                Verdict::Misrouted => &mut s.misrouted,
                Verdict::WrongBlock => &mut s.wrong_block,
                Verdict::HostDown => &mut s.host_down,
                Verdict::PathDown => &mut s.path_down,
                Verdict::Error => &mut s.errors,
            } += n;
        }
    }
    s
}

#[cfg(test)]
#[path = "judge_tests.rs"]
mod tests;
