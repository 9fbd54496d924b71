//! The markup of the HTML report: one self-contained document (its style,
//! script and data inline, nothing fetched), a section per [`View`].

use super::model::{CellVerdict, PairCell, PortRow, View, ViewKind};
use crate::graph::{self, text::xml as esc};
use crate::verify::Verdict;
use serde::Serialize;
use std::fmt::Write;

const STYLE: &str = include_str!("page.css");
const SCRIPT: &str = include_str!("page.js");

/// What the page's script reads: per view, the rows of each matrix cell
/// (by the cell's `data-k`) and the explanations they point to.
#[derive(Serialize)]
struct Data<'a> {
    views: Vec<ViewData<'a>>,
}

#[derive(Serialize)]
struct ViewData<'a> {
    /// `verify`, `scan` or `observe` (whose rows have no verdict).
    kind: &'static str,
    cells: Vec<&'a [PortRow]>,
    whys: &'a [String],
}

/// JSON inside `<script>`: `</` would end the element early, whatever the
/// string it is in (an explanation quoting a rule, a host's name), so no
/// `<`, `>` or `&` is written as itself (they occur only in strings).
fn script_json(value: &impl Serialize) -> String {
    serde_json::to_string(value)
        .expect("report data serializes")
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// The hosts of a view ordered for the matrix: segment by segment (in the
/// topology's order), in scenario order within a segment.
fn matrix_order<'v>(view: &'v View) -> Vec<(&'v str, &'v str)> {
    let seg_rank = |s: &str| {
        view.topology
            .and_then(|t| t.segments.iter().position(|x| x.name == s))
            .unwrap_or(usize::MAX)
    };
    let mut hosts: Vec<(&str, &str)> = view
        .hosts
        .iter()
        .map(|h| {
            let seg = view.segments.get(h).map_or("", String::as_str);
            (h.as_str(), seg)
        })
        .collect();
    hosts.sort_by_key(|(_, seg)| seg_rank(seg));
    hosts
}

fn cell_title(src: &str, dst: &str, cell: &PairCell, kind: ViewKind) -> String {
    if cell.total == 0 {
        return format!("{src} → {dst}: not probed");
    }
    let scan = kind == ViewKind::Scan;
    let unit = if scan { "ports" } else { "probes" };
    let mut by: Vec<(&str, u64)> = Vec::new();
    for r in &cell.rows {
        let n = r.ports;
        // An observation's rows say what was seen, not a verdict.
        let word = if kind == ViewKind::Observe {
            r.observed
        } else {
            r.seen.as_str()
        };
        match by.iter_mut().find(|(v, _)| *v == word) {
            Some((_, k)) => *k += n,
            None => by.push((word, n)),
        }
    }
    let parts: Vec<String> = by.iter().map(|(v, n)| format!("{n} {v}")).collect();
    format!("{src} → {dst}: {} {unit}, {}", cell.total, parts.join(", "))
}

/// The cell's background: its worst verdict, darker the larger the share
/// of its ports that failed (a heat map), always with the symbol on it.
fn cell_style(cell: &PairCell) -> String {
    match cell.verdict {
        CellVerdict::Probed(
            Verdict::Leak | Verdict::Missing | Verdict::Misrouted | Verdict::WrongBlock,
        )
        | CellVerdict::Open => format!(" style=\"--a:{:.2}\"", 0.35 + 0.65 * cell.heat()),
        _ => String::new(),
    }
}

fn matrix(out: &mut String, view: &View, cell_index: &mut Vec<(String, String)>) {
    let hosts = matrix_order(view);
    out.push_str(
        "<div class=\"matrix-wrap\"><table class=\"matrix\"><thead><tr><th></th><th></th>",
    );
    // A header row of segments over their columns.
    let mut i = 0;
    while i < hosts.len() {
        let seg = hosts[i].1;
        let n = hosts[i..].iter().take_while(|h| h.1 == seg).count();
        let _ = write!(out, "<th class=\"seg\" colspan=\"{n}\">{}</th>", esc(seg));
        i += n;
    }
    out.push_str("</tr><tr><th></th><th class=\"corner\">from ↓ to →</th>");
    for (h, _) in &hosts {
        let _ = write!(out, "<th class=\"col\" scope=\"col\">{}</th>", esc(h));
    }
    out.push_str("</tr></thead><tbody>");
    let empty = PairCell::default();
    for (r, (src, seg)) in hosts.iter().enumerate() {
        out.push_str("<tr>");
        if r == 0 || hosts[r - 1].1 != *seg {
            let n = hosts[r..].iter().take_while(|h| h.1 == *seg).count();
            let _ = write!(out, "<th class=\"seg\" rowspan=\"{n}\">{}</th>", esc(seg));
        }
        let _ = write!(out, "<th class=\"row\" scope=\"row\">{}</th>", esc(src));
        for (dst, _) in &hosts {
            if src == dst {
                out.push_str("<td class=\"self\" aria-label=\"same host\"></td>");
                continue;
            }
            let cell = view.cell(src, dst).unwrap_or(&empty);
            let k = cell_index.len();
            cell_index.push((src.to_string(), dst.to_string()));
            let v = cell.verdict.as_str();
            // The number of failing ports, or of open ones in an
            // observation.
            let text = match cell.verdict {
                CellVerdict::None | CellVerdict::Closed => String::new(),
                CellVerdict::Probed(Verdict::Pass) => String::new(),
                CellVerdict::Probed(_) | CellVerdict::Open => cell.failed.to_string(),
            };
            let _ = write!(
                out,
                "<td class=\"cell v-{v}\" data-k=\"{k}\" data-src=\"{}\" data-dst=\"{}\" data-verdict=\"{v}\" title=\"{}\" tabindex=\"0\" role=\"button\"{}>{}{}{}</td>",
                esc(src),
                esc(dst),
                esc(&cell_title(src, dst, cell, view.kind)),
                cell_style(cell),
                cell.verdict.symbol(),
                if text.is_empty() { "" } else { "\u{2009}" },
                text
            );
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div>");
}

fn legend(out: &mut String, kind: ViewKind) {
    let (items, note): (&[(CellVerdict, &str)], &str) = if kind == ViewKind::Observe {
        (&[
            (CellVerdict::Open, "open: some port answered"),
            (
                CellVerdict::Closed,
                "closed: every port blocked or rejected",
            ),
            (CellVerdict::Probed(Verdict::HostDown), "host or path down"),
            (CellVerdict::Probed(Verdict::Error), "probe error"),
            (CellVerdict::None, "not probed"),
        ], "number: open ports; darker: a larger share of the pair's ports open; judged against no policy")
    } else {
        (
            &[
                (CellVerdict::Probed(Verdict::Pass), "as planned"),
                (
                    CellVerdict::Probed(Verdict::Leak),
                    "leak: open, must be blocked",
                ),
                (
                    CellVerdict::Probed(Verdict::Missing),
                    "missing: must open, did not",
                ),
                (
                    CellVerdict::Probed(Verdict::Misrouted),
                    "misrouted: another answered",
                ),
                (
                    CellVerdict::Probed(Verdict::WrongBlock),
                    "wrong-block: blocked the wrong way",
                ),
                (
                    CellVerdict::Probed(Verdict::HostDown),
                    "host or path down: not judged",
                ),
                (CellVerdict::Probed(Verdict::Error), "probe error"),
                (CellVerdict::None, "not probed"),
            ],
            "number: failing ports; darker: a larger share of the pair's ports failed",
        )
    };
    out.push_str("<div class=\"legend\" aria-label=\"legend\">");
    for (v, words) in items {
        let _ = write!(
            out,
            "<span><span class=\"swatch v-{}\">{}</span>{}</span>",
            v.as_str(),
            v.symbol(),
            esc(words)
        );
    }
    let _ = write!(out, "<span>{}</span></div>", esc(note));
}

/// A view's result for the header and its tab: an observation judges
/// nothing, so it neither passes nor fails.
fn result(view: &View) -> (&'static str, &'static str) {
    match (view.kind, view.ok) {
        (ViewKind::Observe, _) => ("seen", "◉ OBSERVED"),
        (_, true) => ("ok", "✓ PASS"),
        (_, false) => ("bad", "✗ FAIL"),
    }
}

/// One view's section; `shown` is the one the page opens on.
fn section(out: &mut String, n: usize, view: &View, shown: bool) -> Vec<(String, String)> {
    let _ = write!(
        out,
        "<section class=\"view\" id=\"view-{n}\" data-view=\"{n}\" data-label=\"{}\" data-ok=\"{}\"{}>",
        esc(&view.label),
        view.ok,
        if shown { "" } else { " hidden" }
    );
    let _ = write!(
        out,
        "<h2>{} {}</h2><p class=\"summary\">{}</p>",
        result(view).1.split(' ').next().unwrap_or(""),
        esc(&view.label),
        esc(&view.summary)
    );
    let _ = write!(out, "<p>Lab <code>{}</code></p>", esc(&view.lab));
    if !view.notes.is_empty() {
        out.push_str("<ul class=\"notes\">");
        for note in &view.notes {
            let _ = write!(out, "<li>{}</li>", esc(note));
        }
        out.push_str("</ul>");
    }
    out.push_str("<div class=\"panes\">");
    if let Some(t) = view.topology {
        let _ = write!(
            out,
            "<figure class=\"topology\">{}</figure>",
            graph::svg(t, &view.colours)
        );
    }
    out.push_str("<div class=\"matrix-pane\">");
    legend(out, view.kind);
    let mut index = Vec::new();
    matrix(out, view, &mut index);
    out.push_str("<div class=\"detail\" hidden aria-live=\"polite\"></div></div></div></section>");
    index
}

/// The whole document.
pub fn document(title: &str, params: &[(String, String)], views: &[View]) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style>\
         <noscript><style>section.view[hidden]{{display:block}}</style></noscript></head><body>",
        esc(title)
    );
    let all_ok = views.iter().all(|v| v.ok);
    let judged = views.iter().any(|v| v.kind != ViewKind::Observe);
    let (class, verdict) = match (judged, all_ok) {
        (false, _) => (
            "seen",
            "◉ OBSERVED: what is reachable, judged against no policy",
        ),
        (true, true) => ("ok", "✓ PASS: every cell as planned"),
        (true, false) => ("bad", "✗ FAIL: some cells are not as planned"),
    };
    let _ = write!(
        out,
        "<header><h1>{}</h1><p class=\"result {class}\">{verdict}</p>",
        esc(title),
    );
    out.push_str("<table class=\"params\">");
    for (k, v) in params {
        let _ = write!(out, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(v));
    }
    out.push_str("</table><table class=\"runs\">");
    for (n, v) in views.iter().enumerate() {
        let _ = write!(
            out,
            "<tr><td class=\"result {}\">{}</td><td><button data-view=\"{n}\">{}</button></td><td class=\"summary\">{}</td></tr>",
            result(v).0,
            result(v).1,
            esc(&v.label),
            esc(&v.summary)
        );
    }
    out.push_str("</table></header>");
    // Open on the first view that failed: that is what the reader came for.
    let shown = views.iter().position(|v| !v.ok).unwrap_or(0);
    out.push_str("<nav id=\"views\" aria-label=\"scenarios and phases\">");
    for (n, v) in views.iter().enumerate() {
        let _ = write!(
            out,
            "<button class=\"tab\" data-view=\"{n}\" aria-selected=\"{}\">{} {}</button>",
            n == shown,
            result(v).1.split(' ').next().unwrap_or(""),
            esc(&v.label)
        );
    }
    out.push_str("</nav>");
    let mut data = Data { views: Vec::new() };
    for (n, v) in views.iter().enumerate() {
        let index = section(&mut out, n, v, n == shown);
        let cells = index
            .iter()
            .map(|k| v.cells.get(k).map_or(&[][..], |c| c.rows.as_slice()))
            .collect();
        data.views.push(ViewData {
            kind: v.kind.as_str(),
            cells,
            whys: &v.whys,
        });
    }
    let _ = writeln!(
        out,
        "<footer>Written by seglab {}. This file is self-contained: it fetches nothing.</footer>\
         <script type=\"application/json\" id=\"seglab-data\">{}</script><script>{SCRIPT}</script></body></html>",
        env!("CARGO_PKG_VERSION"),
        script_json(&data)
    );
    out
}
