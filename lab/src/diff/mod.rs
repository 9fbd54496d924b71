//! `seglab diff` and `seglab test --baseline`: the cells whose observed
//! result changed between two runs. Pure.
//!
//! Either side is a JSON document that seglab wrote: a verify or test
//! report (one object, an array, or `{"verify": [...], "scan": [...]}`),
//! a scan report, or an observation (`"kind": "observation"`). Only what
//! was observed counts, never the verdict: a report and an observation
//! compare, and a policy changed between the runs changes nothing here.
//! A cell is its scenario, phase, source, destination, protocol and port;
//! the lab's name is not part of it, so two labs of one scenario compare.
//!
//! `watch` compares its own runs here too ([`from_report`]): those cells
//! also carry their verdicts, which then count as a change as well.

pub mod render;

use crate::node_contract::Proto;
use crate::probe::Observed;
use crate::verify::{Report, Verdict};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// Why a document cannot be compared; every message names the file.
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}:{line}:{column}: not JSON: {message}")]
    Json {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{file}: {what} (expected a seglab report: verify/test JSON, a scan report, or an observation)")]
    Shape { file: String, what: String },
}

/// One cell, as both sides name it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct CellKey {
    pub scenario: String,
    pub phase: String,
    pub src: String,
    pub dst: String,
    pub proto: Proto,
    pub port: u16,
}

/// What one side observed of a cell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Seen {
    pub observed: Observed,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub responder: Option<String>,
    #[serde(skip)]
    pub src_segment: Option<String>,
    #[serde(skip)]
    pub dst_segment: Option<String>,
    /// How the run judged the cell: only a report still in memory knows
    /// (`watch`, which compares its own runs); a document read back is
    /// compared by what was observed alone.
    #[serde(skip)]
    pub judged: Option<Judged>,
}

/// How a run judged a cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Judged {
    pub verdict: Verdict,
    /// The flow of Appendix A that permits the cell, if any.
    pub flow: Option<u32>,
}

/// Every cell of a document.
#[derive(Debug, Clone, Default)]
pub struct Cells {
    /// What messages and the diff call the document (its path).
    pub name: String,
    pub cells: BTreeMap<CellKey, Seen>,
}

/// Reads and parses a document (see the module documentation).
pub fn load(path: &Path) -> Result<Cells, DiffError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| DiffError::Read {
        file: file.clone(),
        source,
    })?;
    parse(&file, &text)
}

/// Parses a document's text; `file` names it in messages.
pub fn parse(file: &str, text: &str) -> Result<Cells, DiffError> {
    let v: Value = serde_json::from_str(text).map_err(|e| DiffError::Json {
        file: file.to_string(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    from_value(file, &v)
}

/// The cells of a document already parsed (e.g. the reports of the run
/// that `test --baseline` compares).
pub fn from_value(file: &str, v: &Value) -> Result<Cells, DiffError> {
    let mut cells = Cells {
        name: file.to_string(),
        cells: BTreeMap::new(),
    };
    let shape = |what: String| DiffError::Shape {
        file: file.to_string(),
        what,
    };
    add(&mut cells, v, "the document").map_err(shape)?;
    Ok(cells)
}

/// The cells of a report still in memory, with how it judged each (see
/// [`Seen::judged`]); `name` names it in the diff.
pub fn from_report(name: &str, r: &Report) -> Cells {
    let mut cells = Cells {
        name: name.to_string(),
        cells: BTreeMap::new(),
    };
    for c in &r.results {
        let key = CellKey {
            scenario: r.scenario.clone(),
            phase: r.phase.clone(),
            src: c.src.clone(),
            dst: c.dst.clone(),
            proto: c.proto,
            port: c.port,
        };
        let seen = Seen {
            observed: c.observed,
            responder: c.responder.clone(),
            src_segment: r.segments.get(&c.src).cloned(),
            dst_segment: r.segments.get(&c.dst).cloned(),
            judged: Some(Judged {
                verdict: c.verdict,
                flow: c.flow,
            }),
        };
        insert(&mut cells, key, seen);
    }
    cells
}

#[derive(Deserialize)]
struct VerifyDoc {
    scenario: String,
    phase: String,
    results: Vec<VerifyCell>,
    #[serde(default)]
    segments: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct VerifyCell {
    src: String,
    dst: String,
    proto: Proto,
    port: u16,
    observed: Observed,
    #[serde(default)]
    responder: Option<String>,
}

#[derive(Deserialize)]
struct ScanDoc {
    scenario: String,
    phase: String,
    pairs: Vec<ScanPair>,
}

#[derive(Deserialize)]
struct ScanPair {
    src: String,
    dst: String,
    src_segment: String,
    dst_segment: String,
    proto: Proto,
    spans: Vec<ScanSpan>,
}

#[derive(Deserialize)]
struct ScanSpan {
    first: u16,
    last: u16,
    observed: Observed,
}

/// Adds the cells of `v` (any accepted shape); `at` says where it is.
fn add(cells: &mut Cells, v: &Value, at: &str) -> Result<(), String> {
    let typed = |what: &str, e: serde_json::Error| format!("{at} looks like {what}, but {e}");
    match v {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                add(cells, item, &format!("item {i}"))?;
            }
            Ok(())
        }
        Value::Object(o) if o.get("kind").and_then(Value::as_str) == Some(crate::observe::KIND) => {
            let obs: crate::observe::Observation =
                serde_json::from_value(v.clone()).map_err(|e| typed("an observation", e))?;
            for c in obs.cells {
                let key = CellKey {
                    scenario: obs.scenario.clone(),
                    phase: obs.phase.clone(),
                    src: c.src,
                    dst: c.dst,
                    proto: c.proto,
                    port: c.port,
                };
                insert(
                    cells,
                    key,
                    Seen {
                        observed: c.observed,
                        responder: c.responder,
                        src_segment: Some(c.src_segment),
                        dst_segment: Some(c.dst_segment),
                        judged: None,
                    },
                );
            }
            Ok(())
        }
        Value::Object(o) if o.contains_key("results") => {
            let r: VerifyDoc =
                serde_json::from_value(v.clone()).map_err(|e| typed("a verify report", e))?;
            for c in r.results {
                let seen = Seen {
                    observed: c.observed,
                    responder: c.responder,
                    src_segment: r.segments.get(&c.src).cloned(),
                    dst_segment: r.segments.get(&c.dst).cloned(),
                    judged: None,
                };
                let key = CellKey {
                    scenario: r.scenario.clone(),
                    phase: r.phase.clone(),
                    src: c.src,
                    dst: c.dst,
                    proto: c.proto,
                    port: c.port,
                };
                insert(cells, key, seen);
            }
            Ok(())
        }
        Value::Object(o) if o.contains_key("pairs") => {
            let r: ScanDoc =
                serde_json::from_value(v.clone()).map_err(|e| typed("a scan report", e))?;
            for p in r.pairs {
                for s in p.spans {
                    for port in s.first..=s.last {
                        let key = CellKey {
                            scenario: r.scenario.clone(),
                            phase: r.phase.clone(),
                            src: p.src.clone(),
                            dst: p.dst.clone(),
                            proto: p.proto,
                            port,
                        };
                        let seen = Seen {
                            observed: s.observed,
                            responder: None,
                            src_segment: Some(p.src_segment.clone()),
                            dst_segment: Some(p.dst_segment.clone()),
                            judged: None,
                        };
                        insert(cells, key, seen);
                    }
                }
            }
            Ok(())
        }
        Value::Object(o) if o.contains_key("verify") || o.contains_key("scan") => {
            // `test --scan`, and `test --baseline` (whose "diff" is not a
            // run's result).
            for part in ["verify", "scan"] {
                if let Some(p) = o.get(part) {
                    add(cells, p, &format!("\"{part}\""))?;
                }
            }
            Ok(())
        }
        Value::Object(_) => Err(format!(
            "{at} is an object with neither \"results\", \"pairs\", \"verify\"/\"scan\" nor \"kind\": \"observation\""
        )),
        other => Err(format!("{at} is {}", kind_of(other))),
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A cell seen twice in one document (a catalog port that `test --scan`
/// both verified and scanned) keeps what verify saw: it came first and
/// names its responder.
fn insert(cells: &mut Cells, key: CellKey, seen: Seen) {
    cells.cells.entry(key).or_insert(seen);
}

/// How a cell changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Change {
    /// Blocked or rejected before, open after.
    NewlyOpen,
    /// Open before, blocked or rejected after.
    NewlyBlocked,
    /// Anything else: blocked <-> rejected, another responder, a host
    /// down or an error on either side.
    Other,
    OnlyBefore,
    OnlyAfter,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::NewlyOpen => "newly open",
            Change::NewlyBlocked => "newly blocked",
            Change::Other => "changed",
            Change::OnlyBefore => "only before",
            Change::OnlyAfter => "only after",
        }
    }
}

/// One changed cell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CellChange {
    #[serde(flatten)]
    pub key: CellKey,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src_segment: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dst_segment: Option<String>,
    pub change: Change,
    pub before: Option<Seen>,
    pub after: Option<Seen>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DiffSummary {
    /// Cells in both documents.
    pub compared: usize,
    pub changed: usize,
    pub newly_open: usize,
    pub newly_blocked: usize,
    pub other: usize,
    pub only_before: usize,
    pub only_after: usize,
}

/// The changes between two documents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diff {
    pub before: String,
    pub after: String,
    pub summary: DiffSummary,
    pub changes: Vec<CellChange>,
    /// Cells per (scenario, phase) in each document, so that a phase that
    /// only one side has is said once, not cell by cell.
    #[serde(skip)]
    pub groups: BTreeMap<(String, String), (usize, usize)>,
}

impl Diff {
    pub fn changed(&self) -> bool {
        self.summary.changed > 0
    }
}

fn closed(o: Observed) -> bool {
    matches!(o, Observed::Blocked | Observed::Rejected)
}

/// How `before` became `after`, or `None` if it did not change. A
/// responder counts only when both sides name one (a scan names none), a
/// verdict only when both sides were judged in memory (`watch`: an edit
/// that only moves a cell's verdict is still news there).
fn change(before: &Seen, after: &Seen) -> Option<Change> {
    let (b, a) = (before.observed, after.observed);
    if closed(b) && a == Observed::Open {
        return Some(Change::NewlyOpen);
    }
    if b == Observed::Open && closed(a) {
        return Some(Change::NewlyBlocked);
    }
    let responder = matches!(
        (&before.responder, &after.responder),
        (Some(x), Some(y)) if x != y
    );
    let verdict = matches!(
        (&before.judged, &after.judged),
        (Some(x), Some(y)) if x.verdict != y.verdict
    );
    (b != a || responder || verdict).then_some(Change::Other)
}

/// Compares two documents' cells.
pub fn diff(before: &Cells, after: &Cells) -> Diff {
    let mut summary = DiffSummary::default();
    let mut changes = Vec::new();
    let mut groups: BTreeMap<(String, String), (usize, usize)> = BTreeMap::new();
    let group = |k: &CellKey| (k.scenario.clone(), k.phase.clone());
    for k in before.cells.keys() {
        groups.entry(group(k)).or_default().0 += 1;
    }
    for k in after.cells.keys() {
        groups.entry(group(k)).or_default().1 += 1;
    }
    let keys: std::collections::BTreeSet<&CellKey> =
        before.cells.keys().chain(after.cells.keys()).collect();
    for key in keys {
        let (b, a) = (before.cells.get(key), after.cells.get(key));
        let what = match (b, a) {
            (Some(b), Some(a)) => {
                summary.compared += 1;
                change(b, a)
            }
            (Some(_), None) => Some(Change::OnlyBefore),
            _ => Some(Change::OnlyAfter),
        };
        let Some(what) = what else { continue };
        match what {
            Change::NewlyOpen => summary.newly_open += 1,
            Change::NewlyBlocked => summary.newly_blocked += 1,
            Change::Other => summary.other += 1,
            Change::OnlyBefore => summary.only_before += 1,
            Change::OnlyAfter => summary.only_after += 1,
        }
        summary.changed += 1;
        let seg = |f: fn(&Seen) -> &Option<String>| {
            a.and_then(|s| f(s).clone())
                .or_else(|| b.and_then(|s| f(s).clone()))
        };
        changes.push(CellChange {
            key: key.clone(),
            src_segment: seg(|s| &s.src_segment),
            dst_segment: seg(|s| &s.dst_segment),
            change: what,
            before: b.cloned(),
            after: a.cloned(),
        });
    }
    Diff {
        before: before.name.clone(),
        after: after.name.clone(),
        summary,
        changes,
        groups,
    }
}

#[cfg(test)]
mod tests;
