//! Proving the flows: every cell of the expected matrix is probed in the
//! live lab, from inside the source host's namespace, and judged against
//! the plan. A cell that fails is probed once more before it counts, so a
//! lost packet never fails a CI run; the report says how many were retried.

use crate::error::{Error, Result};
use crate::lab::{self, find_lab, LabInfo};
use crate::node::{Identity, NodeKind, Proto, CATCHALL_SERVICE};
use crate::plan::{plan, Cell, Expected, Plan};
use crate::probe::{probe_from, Observation, Observed, ProbeTarget, Window};
use crate::runtime::Runtime;
use crate::scenario::{BlockStyle, Scenario};
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
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            timeout: Duration::from_millis(500),
            concurrency: 4096,
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
    match (expected, observed) {
        (_, Observed::HostDown) => Verdict::HostDown,
        (_, Observed::Error) => Verdict::Error,
        (Expected::Open, Observed::Open) => match responder {
            Some(id) if who.matches(id) => Verdict::Pass,
            _ => Verdict::Misrouted,
        },
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
    pub errors: usize,
    pub retries: usize,
    /// Probes that got an answer (open or rejected).
    pub answered: usize,
    pub wall_ms: u64,
    /// Answers per second while the answers came in: answered probes of the
    /// first round divided by the time until the last of them finished.
    /// (All probes of a source start together, so a probe's own elapsed
    /// time is when it finished.) Drops do not count: they cost a timeout
    /// by design.
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
    /// Each host's segment, for grouping in reports.
    #[serde(skip)]
    pub segments: BTreeMap<String, String>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.summary.failed() == 0
    }
}

/// A probe's outcome before judgement.
#[derive(Debug, Clone)]
struct Seen {
    observed: Observed,
    responder: Option<Identity>,
    detail: Option<String>,
    elapsed: Duration,
}

impl From<Observation> for Seen {
    fn from(o: Observation) -> Seen {
        Seen {
            observed: o.observed,
            responder: o.responder,
            detail: o.detail,
            elapsed: o.elapsed,
        }
    }
}

fn host_down(why: String) -> Seen {
    Seen {
        observed: Observed::HostDown,
        responder: None,
        detail: Some(why),
        elapsed: Duration::ZERO,
    }
}

fn running_hosts(info: &LabInfo) -> BTreeMap<&str, Option<u32>> {
    info.nodes
        .values()
        .filter(|n| n.kind == NodeKind::Host)
        .map(|n| (n.name.as_str(), n.pid.filter(|_| n.running)))
        .collect()
}

/// Probes the given cells (indices into `plan.cells`) once, all sources in
/// parallel; a cell whose source or destination is not running, before or
/// after the run, is `host-down`.
async fn probe_cells(
    rt: &Runtime,
    lab: &str,
    sc: &Scenario,
    plan: &Plan,
    which: &[usize],
    opts: VerifyOptions,
) -> Result<BTreeMap<usize, Seen>> {
    // Before anything is probed: a descriptor limit too low is said plainly.
    let window = Window::shared().map_err(|e| Error::Environment(e.to_string()))?;
    let window = &window;
    let before = find_lab(rt, lab).await?;
    let up = running_hosts(&before);
    let mut seen: BTreeMap<usize, Seen> = BTreeMap::new();
    let mut by_src: BTreeMap<&str, (u32, Vec<ProbeTarget>)> = BTreeMap::new();
    for &i in which {
        let c = &plan.cells[i];
        let (Some(src_pid), Some(_)) = (
            up.get(c.src.as_str()).copied().flatten(),
            up.get(c.dst.as_str()).copied().flatten(),
        ) else {
            let down = if up.get(c.src.as_str()).copied().flatten().is_none() {
                &c.src
            } else {
                &c.dst
            };
            seen.insert(i, host_down(format!("{down} is not running")));
            continue;
        };
        let dst = sc
            .host(&c.dst)
            .expect("plan hosts are scenario hosts")
            .address;
        by_src
            .entry(c.src.as_str())
            .or_insert((src_pid, Vec::new()))
            .1
            .push(ProbeTarget {
                id: i,
                dst,
                proto: c.proto,
                port: c.port,
            });
    }
    let runs = by_src.into_iter().map(|(src, (pid, targets))| async move {
        let ids: Vec<usize> = targets.iter().map(|t| t.id).collect();
        match probe_from(pid, targets, opts.timeout, opts.concurrency, window).await {
            Ok(obs) => Ok(obs
                .into_iter()
                .map(|o| (o.id, Seen::from(o)))
                .collect::<Vec<_>>()),
            // The source vanished while we entered its namespace.
            Err(crate::netns::NetnsError::NotFound { .. }) => Ok(ids
                .into_iter()
                .map(|i| (i, host_down(format!("{src} stopped during the run"))))
                .collect()),
            Err(e) => Err(Error::from(e)),
        }
    });
    for r in futures_util::future::join_all(runs).await {
        seen.extend(r?);
    }
    // A destination that died during the run makes its silence meaningless.
    let after = find_lab(rt, lab).await?;
    let still = running_hosts(&after);
    for (&i, s) in seen.iter_mut() {
        let c = &plan.cells[i];
        for h in [&c.src, &c.dst] {
            if still.get(h.as_str()).copied().flatten().is_none()
                && s.observed != Observed::HostDown
            {
                *s = host_down(format!("{h} stopped during the run"));
            }
        }
    }
    Ok(seen)
}

/// Probes every cell of `plan` in lab `lab` and judges it.
pub async fn verify_plan(
    rt: &Runtime,
    lab: &str,
    sc: &Scenario,
    plan: &Plan,
    label: &str,
    opts: VerifyOptions,
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
    let mut seen = probe_cells(rt, lab, sc, plan, &all, opts).await?;
    let answers: Vec<Duration> = seen
        .values()
        .filter(|s| matches!(s.observed, Observed::Open | Observed::Rejected))
        .map(|s| s.elapsed)
        .collect();
    let answered_per_s = match answers.iter().max() {
        Some(last) if !last.is_zero() => answers.len() as f64 / last.as_secs_f64(),
        _ => 0.0,
    };
    let retry: Vec<usize> = seen
        .iter()
        .filter(|(i, s)| !matches!(judge_one(**i, s), Verdict::Pass | Verdict::HostDown))
        .map(|(i, _)| *i)
        .collect();
    if !retry.is_empty() {
        tracing::debug!(cells = retry.len(), "retrying failed probes once");
        let again = probe_cells(rt, lab, sc, plan, &retry, opts).await?;
        seen.extend(again);
    }
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
        });
    }
    summary.wall_ms = start.elapsed().as_millis() as u64;
    Ok(Report {
        scenario: sc.name.clone(),
        lab: lab.to_string(),
        phase: label.to_string(),
        summary,
        results,
        segments: sc
            .hosts
            .iter()
            .map(|h| (h.name.clone(), h.segment.clone()))
            .collect(),
    })
}

/// Puts every gateway that a phase touches back on its own rule set, e.g.
/// after `verify --phase` was interrupted with the phase open.
pub async fn reset_phase(rt: &Runtime, lab_name: &str, phase: &str) -> Result<()> {
    let info = find_lab(rt, lab_name).await?;
    let sc = &info.scenario;
    let Some(ph) = sc.phase(phase) else {
        return Ok(());
    };
    for r in &ph.rulesets {
        if let Some(pid) = info.node(&r.gateway).and_then(|n| n.pid) {
            reload_base(sc, lab_name, pid, &r.gateway).await?;
        }
    }
    Ok(())
}

/// Loads a gateway's own rule set from scratch.
async fn reload_base(sc: &Scenario, lab: &str, pid: u32, gateway: &str) -> Result<()> {
    let base = sc.gateway(gateway).and_then(|g| g.ruleset.as_ref());
    lab::load_gateway_ruleset(sc, lab, pid, gateway, base).await
}

/// `seglab verify`: the base policy, or a phase: open it, verify, close it,
/// and for a temporary phase verify again that the temporary flows closed.
pub async fn verify_lab(
    rt: &Runtime,
    lab_name: &str,
    phase: Option<&str>,
    opts: VerifyOptions,
) -> Result<Vec<Report>> {
    let info = find_lab(rt, lab_name).await?;
    let sc = &info.scenario;
    let Some(phase) = phase else {
        let p = plan(sc, None)?;
        return Ok(vec![verify_plan(rt, lab_name, sc, &p, "base", opts).await?]);
    };
    let p = plan(sc, Some(phase))?;
    let ph = sc.phase(phase).expect("plan checked the phase");
    let gw_pid = |g: &str| -> Result<u32> {
        info.node(g).and_then(|n| n.pid).ok_or_else(|| {
            Error::Environment(format!("gateway {g} of lab {lab_name} is not running"))
        })
    };
    // Open the phase; if a gateway refuses, put back the ones already opened.
    let mut opened_on = Vec::new();
    for r in &ph.rulesets {
        let step =
            async { lab::apply_file(sc, lab_name, gw_pid(&r.gateway)?, &r.gateway, &r.open).await };
        if let Err(e) = step.await {
            for done in opened_on {
                let _ = reload_base(sc, lab_name, gw_pid(done)?, done).await;
            }
            return Err(e);
        }
        opened_on.push(r.gateway.as_str());
    }
    let opened = verify_plan(rt, lab_name, sc, &p, phase, opts).await;
    for r in &ph.rulesets {
        let pid = gw_pid(&r.gateway)?;
        match &r.close {
            Some(close) => lab::apply_file(sc, lab_name, pid, &r.gateway, close).await?,
            None => reload_base(sc, lab_name, pid, &r.gateway).await?,
        }
    }
    let mut reports = vec![opened?];
    if ph.temporary {
        let base = plan(sc, None)?;
        let label = format!("{phase} (closed)");
        reports.push(verify_plan(rt, lab_name, sc, &base, &label, opts).await?);
    }
    Ok(reports)
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
