//! What the HTML report shows, taken from the reports before any markup:
//! one [`View`] per scenario and phase (verification) and per scan, each a
//! host × host matrix of [`PairCell`]s with the rows a click opens, and the
//! topology's path verdicts.

use crate::graph::{PathColours, Topology, Verdict as PathVerdict};
use crate::scan::ScanReport;
use crate::verify::{Report, Verdict};
use serde::Serialize;
use std::collections::BTreeMap;

/// The verdict of a matrix cell: a report verdict, or `None` for a host
/// pair with no probe (same host, or a pair the plan does not probe).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellVerdict {
    Probed(Verdict),
    /// An observation (judged against no policy): some port answered.
    Open,
    /// An observation: every port probed was blocked or rejected.
    Closed,
    None,
}

impl CellVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            CellVerdict::Probed(v) => v.as_str(),
            CellVerdict::Open => "open",
            CellVerdict::Closed => "closed",
            CellVerdict::None => "none",
        }
    }

    /// How bad a verdict is for the cell's colour (the worst of its ports
    /// wins): a leak above everything, then the other failures of the
    /// rule sets, then the cells nothing could be said of.
    fn severity(self) -> u8 {
        match self {
            CellVerdict::None => 0,
            CellVerdict::Closed => 1,
            CellVerdict::Open => 9,
            CellVerdict::Probed(v) => match v {
                Verdict::Pass => 1,
                Verdict::HostDown => 2,
                Verdict::PathDown => 3,
                Verdict::Error => 4,
                Verdict::WrongBlock => 5,
                Verdict::Missing => 6,
                Verdict::Misrouted => 7,
                Verdict::Leak => 8,
            },
        }
    }

    /// A symbol for each verdict, so that colour is never the only cue.
    pub fn symbol(self) -> &'static str {
        match self {
            CellVerdict::None => "·",
            CellVerdict::Open => "●",
            CellVerdict::Closed => "–",
            CellVerdict::Probed(v) => match v {
                Verdict::Pass => "✓",
                Verdict::Leak => "✗",
                Verdict::Missing => "○",
                Verdict::Misrouted => "⇄",
                Verdict::WrongBlock => "≠",
                Verdict::HostDown | Verdict::PathDown => "↓",
                Verdict::Error => "!",
            },
        }
    }

    /// The colour of the topology's paths for this verdict.
    fn path(self) -> Option<PathVerdict> {
        match self {
            CellVerdict::None | CellVerdict::Open | CellVerdict::Closed => None,
            CellVerdict::Probed(Verdict::Pass) => Some(PathVerdict::Pass),
            CellVerdict::Probed(
                Verdict::Leak | Verdict::Missing | Verdict::Misrouted | Verdict::WrongBlock,
            ) => Some(PathVerdict::Fail),
            CellVerdict::Probed(_) => Some(PathVerdict::Unknown),
        }
    }

    fn worst(self, other: CellVerdict) -> CellVerdict {
        if other.severity() > self.severity() {
            other
        } else {
            self
        }
    }
}

/// One port (verification) or run of ports (scan) of a host pair, as the
/// detail lists it. Serialized for the page's script as an array
/// `[port, verdict, expected, observed, flow, note, why]` (see
/// `page.js`): scenario 4 has 900 of them a view, and named fields would
/// double the page.
#[derive(Debug, Clone, PartialEq)]
pub struct PortRow {
    /// `tcp/445`, or `tcp 1-21` for a scanned run of ports.
    pub port: String,
    pub expected: &'static str,
    pub observed: &'static str,
    /// The verdict (or, in an observation, what was seen).
    pub seen: CellVerdict,
    /// Ports the row covers: 1, or a scanned run's length.
    pub ports: u64,
    /// `flow 5`, `no flow`, or the plan's reason (`same segment`).
    pub flow: String,
    /// Who answered, where it matters (a misrouted cell), or why the cell
    /// was not judged.
    pub note: String,
    /// Index into the view's explanations.
    pub why: Option<usize>,
}

impl Serialize for PortRow {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (
            &self.port,
            self.seen.as_str(),
            self.expected,
            self.observed,
            &self.flow,
            &self.note,
            self.why,
        )
            .serialize(s)
    }
}

/// A host pair of the matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct PairCell {
    pub verdict: CellVerdict,
    /// Rows that failed, and rows in all (ports, for a scan).
    pub failed: u64,
    pub total: u64,
    pub rows: Vec<PortRow>,
}

impl Default for PairCell {
    fn default() -> Self {
        PairCell {
            verdict: CellVerdict::None,
            failed: 0,
            total: 0,
            rows: Vec::new(),
        }
    }
}

impl PairCell {
    /// Failing rows first, worst first; in port order otherwise.
    fn sort(&mut self) {
        self.rows
            .sort_by_key(|r| std::cmp::Reverse(r.seen.severity()));
    }

    /// Adds `row`, counted as failing (in an observation: open) or not.
    fn add(&mut self, row: PortRow, failed: bool) {
        self.verdict = self.verdict.worst(row.seen);
        self.total += row.ports;
        if failed {
            self.failed += row.ports;
        }
        self.rows.push(row);
    }

    /// The share of the pair's ports that failed, for the heat map.
    pub fn heat(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.failed as f64 / self.total as f64
        }
    }
}

/// Verification, scan, or observation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewKind {
    Verify,
    Scan,
    Observe,
}

impl ViewKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ViewKind::Verify => "verify",
            ViewKind::Scan => "scan",
            ViewKind::Observe => "observe",
        }
    }
}

/// One scenario and phase of the run.
#[derive(Debug, Clone)]
pub struct View<'a> {
    pub kind: ViewKind,
    /// `scenario-3 / push-install (closed)`.
    pub label: String,
    pub lab: String,
    pub ok: bool,
    /// The summary line the terminal prints.
    pub summary: String,
    pub notes: Vec<String>,
    pub topology: Option<&'a Topology>,
    /// Matrix rows and columns: the scenario's hosts in its order.
    pub hosts: Vec<String>,
    pub segments: BTreeMap<String, String>,
    pub cells: BTreeMap<(String, String), PairCell>,
    /// Each explanation once, in the order first met.
    pub whys: Vec<String>,
    pub colours: PathColours,
}

impl View<'_> {
    pub fn cell(&self, src: &str, dst: &str) -> Option<&PairCell> {
        self.cells.get(&(src.to_string(), dst.to_string()))
    }
}

/// The hosts of a view in the topology's order; hosts only the report
/// names (a topology missing) follow in name order.
fn hosts_of<'h>(topology: Option<&Topology>, named: impl Iterator<Item = &'h str>) -> Vec<String> {
    let mut hosts: Vec<String> = topology
        .map(|t| t.hosts.iter().map(|h| h.name.clone()).collect())
        .unwrap_or_default();
    let mut rest: Vec<String> = named
        .filter(|n| !hosts.iter().any(|h| h == n))
        .map(str::to_string)
        .collect();
    rest.sort();
    rest.dedup();
    hosts.extend(rest);
    hosts
}

fn segments_of(
    topology: Option<&Topology>,
    known: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut out = known.clone();
    if let Some(t) = topology {
        for h in &t.hosts {
            out.insert(h.name.clone(), h.segment.clone());
        }
    }
    out
}

/// What every view says of itself, beside its cells.
struct Head<'r> {
    kind: ViewKind,
    label: String,
    lab: &'r str,
    ok: bool,
    summary: String,
    notes: &'r [String],
}

/// A view of `cells` (each sorted, failures first) between the hosts
/// `names` mentions, drawn on `topology` if there is one.
fn view<'a, 'n>(
    head: Head,
    topology: Option<&'a Topology>,
    names: impl Iterator<Item = &'n str>,
    segments: &BTreeMap<String, String>,
    mut cells: BTreeMap<(String, String), PairCell>,
    whys: Vec<String>,
) -> View<'a> {
    cells.values_mut().for_each(PairCell::sort);
    // An observation's paths have no verdict to colour them with.
    let colours = match head.kind {
        ViewKind::Observe => PathColours::new(),
        _ => colour(topology, &cells),
    };
    View {
        kind: head.kind,
        label: head.label,
        lab: head.lab.to_string(),
        ok: head.ok,
        summary: head.summary,
        notes: head.notes.to_vec(),
        topology,
        hosts: hosts_of(topology, names),
        segments: segments_of(topology, segments),
        colours,
        cells,
        whys,
    }
}

fn flow_words(flow: Option<u32>) -> String {
    flow.map_or_else(|| "no flow".to_string(), |f| format!("flow {f}"))
}

/// Colours the topology's segment paths by the worst verdict of the host
/// pairs that cross them.
fn colour(
    topology: Option<&Topology>,
    cells: &BTreeMap<(String, String), PairCell>,
) -> PathColours {
    let mut colours = PathColours::new();
    if let Some(t) = topology {
        for ((src, dst), cell) in cells {
            if let Some(v) = cell.verdict.path() {
                colours.set_hosts(t, src, dst, v);
            }
        }
    }
    colours
}

fn intern(whys: &mut Vec<String>, text: String) -> usize {
    match whys.iter().position(|w| *w == text) {
        Some(i) => i,
        None => {
            whys.push(text);
            whys.len() - 1
        }
    }
}

/// The view of a verification report.
pub fn verify_view<'a>(r: &Report, summary: String, topology: Option<&'a Topology>) -> View<'a> {
    let mut cells: BTreeMap<(String, String), PairCell> = BTreeMap::new();
    let mut whys = Vec::new();
    for c in &r.results {
        let why = c
            .explain
            .as_ref()
            .map(|e| intern(&mut whys, e.to_text("").trim_end().to_string()));
        let note = match (c.verdict, &c.responder, &c.detail) {
            (Verdict::HostDown | Verdict::PathDown | Verdict::Error, _, Some(d)) => d.clone(),
            (Verdict::Pass, _, _) => String::new(),
            (_, Some(who), _) => format!("answered by {who}"),
            _ => String::new(),
        };
        let row = PortRow {
            port: format!("{}/{}", c.proto, c.port),
            expected: c.expected.as_str(),
            observed: c.observed.as_str(),
            seen: CellVerdict::Probed(c.verdict),
            ports: 1,
            flow: flow_words(c.flow),
            note,
            why,
        };
        cells
            .entry((c.src.clone(), c.dst.clone()))
            .or_default()
            .add(row, c.verdict != Verdict::Pass);
    }
    let names = r
        .results
        .iter()
        .flat_map(|c| [c.src.as_str(), c.dst.as_str()]);
    let head = Head {
        kind: ViewKind::Verify,
        label: format!("{} / {}", r.scenario, r.phase),
        lab: &r.lab,
        ok: r.ok(),
        summary,
        notes: &r.notes,
    };
    view(head, topology, names, &r.segments, cells, whys)
}

/// The view of a scan report: a row per run of ports alike.
pub fn scan_view<'a>(r: &ScanReport, summary: String, topology: Option<&'a Topology>) -> View<'a> {
    let mut cells: BTreeMap<(String, String), PairCell> = BTreeMap::new();
    let mut segments = BTreeMap::new();
    for p in &r.pairs {
        segments.insert(p.src.clone(), p.src_segment.clone());
        segments.insert(p.dst.clone(), p.dst_segment.clone());
        let cell = cells.entry((p.src.clone(), p.dst.clone())).or_default();
        for s in &p.spans {
            let port = if s.first == s.last {
                format!("{}/{}", p.proto, s.first)
            } else {
                format!("{} {}-{}", p.proto, s.first, s.last)
            };
            let row = PortRow {
                port,
                expected: s.expected.as_str(),
                observed: s.observed.as_str(),
                seen: CellVerdict::Probed(s.verdict),
                ports: s.len(),
                flow: match s.flow {
                    Some(f) => format!("flow {f}"),
                    None => s.reason.clone(),
                },
                note: s.detail.clone().unwrap_or_default(),
                why: None,
            };
            cell.add(row, s.verdict != Verdict::Pass);
        }
    }
    let names = r
        .pairs
        .iter()
        .flat_map(|p| [p.src.as_str(), p.dst.as_str()]);
    let head = Head {
        kind: ViewKind::Scan,
        label: format!("scan {} / {}", r.scenario, r.phase),
        lab: &r.lab,
        ok: r.ok(),
        summary,
        notes: &r.notes,
    };
    view(head, topology, names, &segments, cells, Vec::new())
}

/// The view of an observation: no verdicts, the open ports of each host
/// pair (a cell is darker the larger the share of its ports that answered).
/// Cells nothing could be said of keep their verdict-like colour.
pub fn observe_view<'a>(
    obs: &crate::observe::Observation,
    summary: String,
    topology: Option<&'a Topology>,
) -> View<'a> {
    use crate::probe::Observed;
    let mut cells: BTreeMap<(String, String), PairCell> = BTreeMap::new();
    let mut segments = BTreeMap::new();
    for c in &obs.cells {
        segments.insert(c.src.clone(), c.src_segment.clone());
        segments.insert(c.dst.clone(), c.dst_segment.clone());
        let cell = cells.entry((c.src.clone(), c.dst.clone())).or_default();
        let seen = match c.observed {
            Observed::Open => CellVerdict::Open,
            Observed::Blocked | Observed::Rejected => CellVerdict::Closed,
            Observed::HostDown => CellVerdict::Probed(Verdict::HostDown),
            Observed::PathDown => CellVerdict::Probed(Verdict::PathDown),
            Observed::Error => CellVerdict::Probed(Verdict::Error),
        };
        let row = PortRow {
            port: format!("{}/{}", c.proto, c.port),
            expected: "",
            observed: c.observed.as_str(),
            seen,
            ports: 1,
            flow: String::new(),
            note: c
                .responder
                .clone()
                .map(|r| format!("answered by {r}"))
                .or_else(|| c.detail.clone())
                .unwrap_or_default(),
            why: None,
        };
        // The heat map of an observation shows its open ports.
        cell.add(row, c.observed == Observed::Open);
    }
    let names = obs
        .cells
        .iter()
        .flat_map(|c| [c.src.as_str(), c.dst.as_str()]);
    let head = Head {
        kind: ViewKind::Observe,
        label: format!("observed {} / {}", obs.scenario, obs.phase),
        lab: &obs.lab,
        ok: true,
        summary,
        notes: &obs.notes,
    };
    // Open ports first (the worst `seen`), in port order.
    view(head, topology, names, &segments, cells, Vec::new())
}
