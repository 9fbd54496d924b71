//! The commands on a design alone, which need no lab and no Docker:
//! `list`, `validate`, `plan`, `render`.
//! They return text for the binary to print.

use crate::error::{Error, Result};
use crate::plan::{plan, Expected};
use crate::render::render_gateway;
use crate::scenario::{Scenario, ScenarioError, Source};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};

/// Output format of `plan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PlanFormat {
    Table,
    Json,
}

/// Parses `KEY=VALUE` pairs from the command line.
pub fn parse_pairs(pairs: &[String], what: &str) -> Result<Vec<(String, String)>> {
    pairs
        .iter()
        .map(|p| {
            p.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| Error::Input(format!("{what} `{p}`: expected KEY=VALUE")))
        })
        .collect()
}

pub fn load(arg: &str, params: &[(String, String)]) -> Result<Scenario> {
    Ok(Source::open(arg)?.load(params)?)
}

/// Validates every file; all problems of all files are reported together,
/// also those of files that cannot be read at all (missing, unreadable).
pub fn validate(args: &[String]) -> Result<String> {
    let mut ok = Vec::new();
    let mut diags = Vec::new();
    let mut unreadable = Vec::new();
    for arg in args {
        match load(arg, &[]) {
            Ok(sc) => ok.push(format!(
                "ok: {} ({}: {} segments, {} gateways, {} hosts, {} flows, {} phases)",
                sc.file,
                sc.name,
                sc.segments.len(),
                sc.gateways.len(),
                sc.hosts.len(),
                sc.policy.len(),
                sc.phases.len()
            )),
            Err(Error::Scenario(ScenarioError::Invalid(d))) => diags.extend(d),
            Err(e) if e.exit_code() == crate::error::EXIT_BAD_INPUT => unreadable.push(e),
            Err(e) => return Err(e),
        }
    }
    if unreadable.is_empty() {
        return if diags.is_empty() {
            Ok(ok.join("\n"))
        } else {
            Err(Error::Scenario(ScenarioError::Invalid(diags)))
        };
    }
    let n = diags.len() + unreadable.len();
    let mut lines: Vec<String> = diags.iter().map(ToString::to_string).collect();
    lines.extend(unreadable.iter().map(ToString::to_string));
    lines.push(format!(
        "{n} problem{} found",
        if n == 1 { "" } else { "s" }
    ));
    Err(Error::Input(lines.join("\n")))
}

pub fn plan_text(sc: &Scenario, phase: Option<&str>, format: PlanFormat) -> Result<String> {
    let p = plan(sc, phase)?;
    Ok(match format {
        PlanFormat::Json => serde_json::to_string_pretty(&p).expect("a plan serializes"),
        PlanFormat::Table => {
            let mut t = Table::new();
            t.load_style(UTF8_FULL_CONDENSED);
            t.set_header([
                "source",
                "destination",
                "must open (flow)",
                "must be blocked",
            ]);
            for pair in p.pairs() {
                let open = match (pair.open.len(), pair.blocked) {
                    (0, _) => "-".to_string(),
                    (n, 0) => format!("all {n} ports ({})", pair.reason),
                    _ => pair
                        .open
                        .iter()
                        .map(|c| match c.flow {
                            Some(f) => format!("{}/{} ({f})", c.proto, c.port),
                            None => format!("{}/{}", c.proto, c.port),
                        })
                        .collect::<Vec<_>>()
                        .join(" "),
                };
                t.add_row([
                    pair.src.to_string(),
                    pair.dst.to_string(),
                    open,
                    format!("{} ports", pair.blocked),
                ]);
            }
            let opens = p
                .cells
                .iter()
                .filter(|c| c.expected == Expected::Open)
                .count();
            format!(
                "{} ({}), phase {}: {} probes, {} must open, {} must be blocked\n{t}",
                sc.name,
                sc.title,
                phase.unwrap_or("base"),
                p.cells.len(),
                opens,
                p.cells.len() - opens
            )
        }
    })
}

pub fn render_text(sc: &Scenario, gateway: Option<&str>, phase: Option<&str>) -> Result<String> {
    if let Some(p) = phase {
        crate::plan::flows_in(sc, Some(p))?;
    }
    let gws: Vec<&str> = match gateway {
        Some(g) => {
            if sc.gateway(g).is_none() {
                return Err(Error::Input(format!(
                    "scenario `{}` has no gateway `{g}` (gateways: {})",
                    sc.name,
                    sc.gateway_names()
                )));
            }
            vec![g]
        }
        None => sc.gateways.iter().map(|g| g.name.as_str()).collect(),
    };
    Ok(gws
        .iter()
        .map(|g| render_gateway(sc, g, phase))
        .collect::<Vec<_>>()
        .join("\n"))
}

pub fn list_text() -> String {
    crate::scenario::builtin::BUILTINS
        .iter()
        .map(|b| {
            let title = Source::builtin(b)
                .load(&[])
                .map(|s| s.title)
                .unwrap_or_default();
            format!("{:<12} {title}", b.name)
        })
        .collect::<Vec<_>>()
        .join("\n")
}
