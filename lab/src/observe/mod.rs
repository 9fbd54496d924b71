//! Observing a running lab: what is reachable between its hosts, judged
//! against no policy (`seglab observe`). A support engineer starting from a
//! customer's rule set often has no written policy; the observation is the
//! ground truth to read, to diff (see [`crate::diff`]) and to turn into a
//! first policy (see [`policy`]).
//!
//! The probing is `verify`'s (catalog ports: retries, node checks, a host
//! that is down is `host-down`, never `blocked`) or the scan engine's
//! (`--ports`); only the judgement is left out. The pure parts (the
//! document, its table and segment matrix, the written policy) live here
//! and in [`render`] and [`policy`]; [`run`] talks to the lab.

pub mod policy;
pub mod render;
mod run;

pub use run::{observe_lab, ObserveRequest};

use crate::node_contract::Proto;
use crate::ports::PortKey;
use crate::probe::Observed;
use crate::scan::ScanReport;
use crate::verify::{Report, Verdict};
use serde::{Deserialize, Serialize};

/// The marker of an observation document (`"kind": "observation"`), which
/// tells it from a report when `seglab diff` reads it back.
pub const KIND: &str = "observation";

/// What was observed in one lab in one phase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observation {
    /// Always [`KIND`].
    pub kind: String,
    #[serde(default)]
    pub lab: String,
    pub scenario: String,
    /// `base`, or the phase that was open.
    pub phase: String,
    /// What was probed: `catalog` (every catalog port of every host pair)
    /// or the ranges scanned (`--ports`).
    #[serde(default)]
    pub ports: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    pub cells: Vec<ObservedCell>,
}

/// One probed source, destination and port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedCell {
    pub src: String,
    pub dst: String,
    pub src_segment: String,
    pub dst_segment: String,
    pub proto: Proto,
    pub port: u16,
    pub observed: Observed,
    /// `host/service/port` of whoever answered (catalog probes only).
    #[serde(default)]
    pub responder: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl ObservedCell {
    pub fn key(&self) -> PortKey {
        PortKey {
            proto: self.proto,
            port: self.port,
        }
    }
}

impl Observation {
    /// The observation of a verify report: its observed results without
    /// their verdicts.
    pub fn from_report(r: &Report) -> Observation {
        let seg = |h: &str| r.segments.get(h).cloned().unwrap_or_default();
        Observation {
            kind: KIND.into(),
            lab: r.lab.clone(),
            scenario: r.scenario.clone(),
            phase: r.phase.clone(),
            ports: "catalog".into(),
            notes: r.notes.clone(),
            cells: r
                .results
                .iter()
                .map(|c| ObservedCell {
                    src: c.src.clone(),
                    dst: c.dst.clone(),
                    src_segment: seg(&c.src),
                    dst_segment: seg(&c.dst),
                    proto: c.proto,
                    port: c.port,
                    observed: c.observed,
                    responder: c.responder.clone(),
                    detail: c.detail.clone(),
                })
                .collect(),
        }
    }

    /// The observation of a scan: one cell per port scanned. The scan
    /// names no responder; an answer from another host than the
    /// destination says so in the detail.
    pub fn from_scan(r: &ScanReport) -> Observation {
        let mut cells = Vec::new();
        for p in &r.pairs {
            for s in &p.spans {
                let detail = match (s.verdict, &s.detail) {
                    (Verdict::Misrouted, None) => Some("another host answered".to_string()),
                    (_, d) => d.clone(),
                };
                for port in s.first..=s.last {
                    cells.push(ObservedCell {
                        src: p.src.clone(),
                        dst: p.dst.clone(),
                        src_segment: p.src_segment.clone(),
                        dst_segment: p.dst_segment.clone(),
                        proto: p.proto,
                        port,
                        observed: s.observed,
                        responder: None,
                        detail: detail.clone(),
                    });
                }
            }
        }
        Observation {
            kind: KIND.into(),
            lab: r.lab.clone(),
            scenario: r.scenario.clone(),
            phase: r.phase.clone(),
            ports: String::new(),
            notes: r.notes.clone(),
            cells,
        }
    }

    /// The cells that opened.
    pub fn open(&self) -> impl Iterator<Item = &ObservedCell> {
        self.cells.iter().filter(|c| c.observed == Observed::Open)
    }
}

#[cfg(test)]
pub(crate) mod sample {
    //! A small observation of scenario 2 for the pure tests.
    use super::*;

    /// A cell of scenario 2 (its hosts' segments); an open one names
    /// its responder.
    pub fn cell(src: &str, dst: &str, key: &str, observed: Observed) -> ObservedCell {
        let seg = |h: &str| match h {
            "ams" => "mgmt",
            "admin" => "admin",
            "storage" => "storage",
            _ => "servers",
        };
        let key: PortKey = key.parse().unwrap();
        let mut c = cell_in(&|h| seg(h).into(), src, dst, key, observed);
        c.responder = (observed == Observed::Open).then(|| format!("{dst}/svc/{}", key.port));
        c
    }

    /// A cell of any scenario, `seg` naming its hosts' segments, with no
    /// responder and no detail.
    pub fn cell_in(
        seg: &dyn Fn(&str) -> String,
        src: &str,
        dst: &str,
        key: PortKey,
        observed: Observed,
    ) -> ObservedCell {
        ObservedCell {
            src: src.into(),
            dst: dst.into(),
            src_segment: seg(src),
            dst_segment: seg(dst),
            proto: key.proto,
            port: key.port,
            observed,
            responder: None,
            detail: None,
        }
    }

    pub fn observation(cells: Vec<ObservedCell>) -> Observation {
        Observation {
            kind: KIND.into(),
            lab: "ob-sample".into(),
            scenario: "scenario-2".into(),
            phase: "base".into(),
            ports: "catalog".into(),
            notes: Vec::new(),
            cells,
        }
    }
}
