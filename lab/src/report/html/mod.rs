//! `--format html`: one self-contained page for people (training labs,
//! customer reports). Per scenario and phase (and per scan), the topology
//! with each segment-to-segment path coloured by its worst verdict, and a
//! host × host matrix whose cells open their ports, flows and
//! explanations; above them the run's summary and parameters.
//!
//! Pure: [`html`] turns reports and topologies into text. The page holds
//! its style, script and data inline and fetches nothing, so it can be
//! mailed, archived as a CI artifact or opened offline.

mod model;
mod page;

#[cfg(test)]
mod tests;

pub use model::{CellVerdict, PairCell, PortRow, View, ViewKind};

use crate::graph::Topology;
use crate::scan::ScanReport;
use crate::verify::Report;
use std::collections::BTreeMap;

/// Everything one HTML report shows.
#[derive(Debug, Clone, Copy)]
pub struct Page<'a> {
    pub reports: &'a [Report],
    pub scans: &'a [ScanReport],
    /// The topology of each scenario, by scenario name; a report whose
    /// scenario is missing is shown without a drawing.
    pub topologies: &'a BTreeMap<String, Topology>,
    /// The run's parameters, in the order shown (command, version, time…).
    pub params: &'a [(String, String)],
}

/// What a command knows of its run beyond the reports, for the page:
/// each scenario's topology and the run's parameters. Empty for the other
/// formats.
#[derive(Debug, Clone, Default)]
pub struct Context {
    pub topologies: BTreeMap<String, Topology>,
    pub params: Vec<(String, String)>,
}

impl Context {
    /// The parameters every run has (the command line, seglab's version,
    /// when the report was written), then `extra`.
    pub fn for_run(extra: Vec<(String, String)>) -> Context {
        let command: Vec<String> = std::env::args().collect();
        let mut params = vec![
            ("command".to_string(), command.join(" ")),
            ("seglab".to_string(), env!("CARGO_PKG_VERSION").to_string()),
            (
                "written".to_string(),
                httpdate::fmt_http_date(std::time::SystemTime::now()),
            ),
        ];
        params.extend(extra);
        Context {
            topologies: BTreeMap::new(),
            params,
        }
    }

    /// Draws scenario `sc` in the reports of its name.
    pub fn with_scenario(mut self, sc: &crate::scenario::Scenario) -> Context {
        self.topologies
            .insert(sc.name.clone(), Topology::from_scenario(sc));
        self
    }
}

/// The views of a page: the verification reports in order, then the scans.
pub fn views<'a>(page: &Page<'a>) -> Vec<View<'a>> {
    let summaries = super::summary_lines(page.reports);
    let scan_summaries = crate::scan::report::summary_lines(page.scans);
    let mut views = Vec::new();
    for (r, s) in page.reports.iter().zip(summaries) {
        let t = page.topologies.get(&r.scenario);
        let label = format!("{} / {}", r.scenario, r.phase);
        views.push(model::verify_view(r, counts(&s, &label), t));
    }
    for (r, s) in page.scans.iter().zip(scan_summaries) {
        let t = page.topologies.get(&r.scenario);
        let label = format!("{} / {}", r.scenario, r.phase);
        views.push(model::scan_view(r, counts(&s, &label), t));
    }
    views
}

/// The counts of a terminal summary line (`600 probes: 242 passed, …`):
/// the page says the result (PASS, FAIL, OBSERVED) and the label beside
/// it already, and has no columns to pad.
fn counts(line: &str, label: &str) -> String {
    let words = line.split_whitespace().collect::<Vec<_>>().join(" ");
    // The first word is the result: PASS, FAIL or OBSERVED.
    let rest = words.split_once(' ').map_or(words.as_str(), |(_, r)| r);
    rest.strip_prefix(label)
        .unwrap_or(rest)
        .trim_start()
        .to_string()
}

/// The page.
pub fn html(page: &Page) -> String {
    let title = match page
        .reports
        .iter()
        .map(|r| r.scenario.as_str())
        .chain(page.scans.iter().map(|r| r.scenario.as_str()))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] => "seglab report".to_string(),
        [one] => format!("seglab report: {one}"),
        many => format!("seglab report: {}", many.join(", ")),
    };
    page::document(&title, page.params, &views(page))
}

/// The page of an observation (`seglab observe --format html`): one view,
/// the open ports of each host pair, judged against no policy.
pub fn observation_html(obs: &crate::observe::Observation, ctx: &Context) -> String {
    let line = crate::observe::render::summary_line(obs);
    let summary = counts(&line, &format!("{} / {}", obs.scenario, obs.phase));
    let view = model::observe_view(obs, summary, ctx.topologies.get(&obs.scenario));
    page::document(
        &format!("seglab observation: {}", obs.scenario),
        &ctx.params,
        &[view],
    )
}
