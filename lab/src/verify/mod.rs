//! Proving the flows: every cell of the expected matrix is probed in the
//! live lab, from inside the source host's namespace, and judged against
//! the plan. A cell that fails is probed once more before it counts, so a
//! lost packet never fails a CI run; the report says how many were retried.

mod explain;
mod isolate;
pub(crate) mod phases;
mod round;

pub use explain::{explain_cell, CellReport};
pub use isolate::{crosses_gateway, reset_isolation, verify_isolated};
pub use phases::{reset_phase, verify_lab};

use round::{probe_cells, Seen};

use crate::error::Result;
use crate::health::LabHealth;
use crate::node_contract::{Identity, Proto, CATCHALL_SERVICE};
use crate::plan::{Cell, Expected, Plan};
use crate::probe::Observed;
use crate::runtime::{LabBackend, LabInfo};
use crate::scenario::{BlockStyle, Scenario};
use crate::trace::explain::{Explanation, Subject};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Options of a verification run.
#[derive(Debug, Clone, Copy)]
pub struct VerifyOptions {
    /// How long a probe waits for an answer; a dropped probe costs exactly this.
    pub timeout: Duration,
    /// Probes in flight at once per source host; all sources together stay
    /// within the process's probe window (see [`Window`]).
    pub concurrency: usize,
    /// Trace probe packets in the gateways and firewalled hosts: a traced
    /// drop decides a probe at once, and failing cells are explained.
    /// Off, verdicts are the same, drops cost the timeout and failing cells
    /// have no explanation.
    pub trace: bool,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            timeout: Duration::from_millis(500),
            concurrency: 4096,
            trace: true,
        }
    }
}

/// The judgement of one cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, PartialOrd, Ord, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Pass,
    /// Should open, did not.
    Missing,
    /// Should be blocked, opened.
    Leak,
    /// Opened, but another host or service answered.
    Misrouted,
    /// Blocked, but not in the style the scenario asks for.
    WrongBlock,
    /// The source or destination container is not running: nothing could
    /// be said about the network.
    HostDown,
    /// A node on the path (a gateway, or an end host's routes or rules) was
    /// broken before or during the run: its silence says nothing about the
    /// rule sets, so the cell is neither pass nor blocked.
    PathDown,
    /// The probe itself failed (see the detail).
    Error,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Missing => "missing",
            Verdict::Leak => "leak",
            Verdict::Misrouted => "misrouted",
            Verdict::WrongBlock => "wrong-block",
            Verdict::HostDown => "host-down",
            Verdict::PathDown => "path-down",
            Verdict::Error => "error",
        }
    }
}

/// Who should answer an open cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedResponder {
    pub lab: String,
    pub host: String,
    pub service: String,
    pub proto: Proto,
    pub port: u16,
}

impl ExpectedResponder {
    pub fn for_cell(lab: &str, sc: &Scenario, cell: &Cell) -> ExpectedResponder {
        let service = sc
            .host(&cell.dst)
            .and_then(|h| {
                h.services
                    .iter()
                    .find(|s| s.key.proto == cell.proto && s.key.port == cell.port)
            })
            .map(|s| s.service.clone())
            .unwrap_or_else(|| CATCHALL_SERVICE.to_string());
        ExpectedResponder {
            lab: lab.to_string(),
            host: cell.dst.clone(),
            service,
            proto: cell.proto,
            port: cell.port,
        }
    }

    fn matches(&self, id: &Identity) -> bool {
        id.lab == self.lab
            && id.host == self.host
            && id.service == self.service
            && id.proto == self.proto
            && id.port == self.port
    }
}

/// Judges one observation against the plan (pure).
pub fn judge(
    expected: Expected,
    observed: Observed,
    responder: Option<&Identity>,
    who: &ExpectedResponder,
    block: Option<BlockStyle>,
) -> Verdict {
    let stranger = !responder.is_some_and(|id| who.matches(id));
    verdict(expected, observed, stranger, block)
}

/// The verdict of one observation (pure), where `stranger` says that an
/// answer came from someone other than the expected host and service (for
/// a scan's port: another host's identity). Shared by `verify` and `scan`.
pub fn verdict(
    expected: Expected,
    observed: Observed,
    stranger: bool,
    block: Option<BlockStyle>,
) -> Verdict {
    match (expected, observed) {
        (_, Observed::HostDown) => Verdict::HostDown,
        (_, Observed::PathDown) => Verdict::PathDown,
        (_, Observed::Error) => Verdict::Error,
        (Expected::Open, Observed::Open) if stranger => Verdict::Misrouted,
        (Expected::Open, Observed::Open) => Verdict::Pass,
        (Expected::Open, Observed::Blocked | Observed::Rejected) => Verdict::Missing,
        (Expected::Blocked, Observed::Open) => Verdict::Leak,
        (Expected::Blocked, Observed::Blocked) => match block {
            Some(BlockStyle::Reject) => Verdict::WrongBlock,
            _ => Verdict::Pass,
        },
        (Expected::Blocked, Observed::Rejected) => match block {
            Some(BlockStyle::Drop) => Verdict::WrongBlock,
            _ => Verdict::Pass,
        },
    }
}

/// One probed cell, as reported.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeResult {
    pub src: String,
    pub dst: String,
    pub proto: Proto,
    pub port: u16,
    pub expected: Expected,
    pub observed: Observed,
    pub verdict: Verdict,
    /// `host/service/port` of whoever answered.
    pub responder: Option<String>,
    /// Appendix A flow that permits the cell, if any.
    pub flow: Option<u32>,
    pub elapsed_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    pub retried: bool,
    /// Why a failing cell failed (with tracing on).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explain: Option<Explanation>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Summary {
    pub probes: usize,
    pub passed: usize,
    pub missing: usize,
    pub leaks: usize,
    pub misrouted: usize,
    pub wrong_block: usize,
    pub host_down: usize,
    pub path_down: usize,
    pub errors: usize,
    pub retries: usize,
    /// Probes that got an answer (open or rejected).
    pub answered: usize,
    pub wall_ms: u64,
    /// Answered probes of the first round divided by that round's wall
    /// time (the node checks around it included). Drops cost a timeout by
    /// design, so a matrix of mostly dropped cells answers slowly.
    pub answered_per_s: f64,
}

impl Summary {
    pub fn failed(&self) -> usize {
        self.probes - self.passed
    }
}

/// The verification of one scenario in one phase.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scenario: String,
    pub lab: String,
    /// `base`, a phase name, or `PHASE (closed)`.
    pub phase: String,
    pub summary: Summary,
    pub results: Vec<ProbeResult>,
    /// What seglab noticed and did beside probing (e.g. a phase left open by
    /// an interrupted run, put back before this one).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Each host's segment, for grouping in reports (and for `seglab
    /// diff`, which reads reports back).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub segments: BTreeMap<String, String>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.summary.failed() == 0
    }
}

/// Probes every cell of `plan` in lab `lab` and judges it.
pub async fn verify_plan<B: LabBackend>(
    b: &B,
    lab: &str,
    sc: &Scenario,
    plan: &Plan,
    label: &str,
    opts: VerifyOptions,
) -> Result<Report> {
    verify_cells(b, lab, sc, plan, label, opts, false, None).await
}

/// [`verify_plan`], the first round starting from `first` (a look at
/// every node just taken) when given.
pub(super) async fn verify_from<B: LabBackend>(
    b: &B,
    lab: &str,
    sc: &Scenario,
    plan: &Plan,
    label: &str,
    opts: VerifyOptions,
    first: Option<(LabInfo, LabHealth)>,
) -> Result<Report> {
    verify_cells(b, lab, sc, plan, label, opts, false, first).await
}

/// [`verify_plan`]; with `explain_all`, passing cells are explained too.
#[allow(clippy::too_many_arguments)]
async fn verify_cells<B: LabBackend>(
    b: &B,
    lab: &str,
    sc: &Scenario,
    plan: &Plan,
    label: &str,
    opts: VerifyOptions,
    explain_all: bool,
    first: Option<(LabInfo, LabHealth)>,
) -> Result<Report> {
    let start = Instant::now();
    let all: Vec<usize> = (0..plan.cells.len()).collect();
    let judge_one = |i: usize, s: &Seen| {
        let c = &plan.cells[i];
        judge(
            c.expected,
            s.observed,
            s.responder.as_ref(),
            &ExpectedResponder::for_cell(lab, sc, c),
            sc.block,
        )
    };
    let round = Instant::now();
    let (mut seen, mut last_check) = probe_cells(b, lab, sc, plan, &all, opts, first).await?;
    let round = round.elapsed();
    let answers = seen
        .values()
        .filter(|s| matches!(s.observed, Observed::Open | Observed::Rejected))
        .count();
    let answered_per_s = if round.is_zero() {
        0.0
    } else {
        answers as f64 / round.as_secs_f64()
    };
    let retry: Vec<usize> = seen
        .iter()
        .filter(|(i, s)| {
            !matches!(
                judge_one(**i, s),
                Verdict::Pass | Verdict::HostDown | Verdict::PathDown
            )
        })
        .map(|(i, _)| *i)
        .collect();
    if !retry.is_empty() {
        tracing::debug!(cells = retry.len(), "retrying failed probes once");
        let (again, last) = probe_cells(b, lab, sc, plan, &retry, opts, Some(last_check)).await?;
        seen.extend(again);
        last_check = last;
    }
    let failing: Vec<explain::Failing> = seen
        .iter()
        .filter(|(i, s)| {
            let v = judge_one(**i, s);
            opts.trace
                && !matches!(v, Verdict::HostDown | Verdict::PathDown)
                && (explain_all || v != Verdict::Pass)
        })
        .map(|(&i, s)| explain::Failing {
            id: i,
            subject: Subject {
                src: &plan.cells[i].src,
                dst: &plan.cells[i].dst,
                observed: s.observed,
            },
            walks: &s.walks,
        })
        .collect();
    let (info, health) = &last_check;
    let mut explanations = explain::explain_cells(b, &info.scenario, info, health, &failing).await;
    let mut summary = Summary {
        probes: plan.cells.len(),
        retries: retry.len(),
        answered_per_s,
        ..Summary::default()
    };
    let mut results = Vec::with_capacity(plan.cells.len());
    for (i, c) in plan.cells.iter().enumerate() {
        let s = &seen[&i];
        let v = judge_one(i, s);
        match v {
            Verdict::Pass => summary.passed += 1,
            Verdict::Missing => summary.missing += 1,
            Verdict::Leak => summary.leaks += 1,
            Verdict::Misrouted => summary.misrouted += 1,
            Verdict::WrongBlock => summary.wrong_block += 1,
            Verdict::HostDown => summary.host_down += 1,
            Verdict::PathDown => summary.path_down += 1,
            Verdict::Error => summary.errors += 1,
        }
        if matches!(s.observed, Observed::Open | Observed::Rejected) {
            summary.answered += 1;
        }
        results.push(ProbeResult {
            src: c.src.clone(),
            dst: c.dst.clone(),
            proto: c.proto,
            port: c.port,
            expected: c.expected,
            observed: s.observed,
            verdict: v,
            responder: s
                .responder
                .as_ref()
                .map(|r| format!("{}/{}/{}", r.host, r.service, r.port)),
            flow: c.flow,
            elapsed_ms: s.elapsed.as_secs_f64() * 1000.0,
            detail: s.detail.clone(),
            retried: retry.binary_search(&i).is_ok(),
            explain: explanations.remove(&i),
        });
    }
    summary.wall_ms = start.elapsed().as_millis() as u64;
    Ok(Report {
        scenario: sc.name.clone(),
        lab: lab.to_string(),
        phase: label.to_string(),
        summary,
        results,
        notes: Vec::new(),
        segments: sc
            .hosts
            .iter()
            .map(|h| (h.name.clone(), h.segment.clone()))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who() -> ExpectedResponder {
        ExpectedResponder {
            lab: "l".into(),
            host: "ams".into(),
            service: "zmq".into(),
            proto: Proto::Tcp,
            port: 7780,
        }
    }

    fn id(host: &str, service: &str) -> Identity {
        Identity {
            lab: "l".into(),
            host: host.into(),
            service: service.into(),
            proto: Proto::Tcp,
            port: 7780,
        }
    }

    #[test]
    fn verdicts() {
        use Expected::*;
        use Observed as O;
        let w = who();
        let right = id("ams", "zmq");
        assert_eq!(judge(Open, O::Open, Some(&right), &w, None), Verdict::Pass);
        assert_eq!(
            judge(Open, O::Open, Some(&id("admin", "zmq")), &w, None),
            Verdict::Misrouted
        );
        assert_eq!(
            judge(Open, O::Open, Some(&id("ams", CATCHALL_SERVICE)), &w, None),
            Verdict::Misrouted
        );
        assert_eq!(judge(Open, O::Blocked, None, &w, None), Verdict::Missing);
        assert_eq!(judge(Open, O::Rejected, None, &w, None), Verdict::Missing);
        assert_eq!(
            judge(Blocked, O::Open, Some(&right), &w, None),
            Verdict::Leak
        );
        assert_eq!(judge(Blocked, O::Blocked, None, &w, None), Verdict::Pass);
        assert_eq!(judge(Blocked, O::Rejected, None, &w, None), Verdict::Pass);
        assert_eq!(
            judge(Blocked, O::Rejected, None, &w, Some(BlockStyle::Drop)),
            Verdict::WrongBlock
        );
        assert_eq!(
            judge(Blocked, O::Blocked, None, &w, Some(BlockStyle::Reject)),
            Verdict::WrongBlock
        );
        assert_eq!(
            judge(Blocked, O::HostDown, None, &w, None),
            Verdict::HostDown
        );
        assert_eq!(judge(Open, O::Error, None, &w, None), Verdict::Error);
    }
}
