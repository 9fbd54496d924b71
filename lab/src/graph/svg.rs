//! The topology as a self-contained SVG (no fonts, scripts or images to
//! fetch), laid out by [`super::layout`].
//!
//! Every element says what it is, for tests and for the HTML report's
//! scripts and styles:
//! - `<g class="segment" data-segment="NAME">` per segment (`transit` added
//!   to the class of a transit network), holding its hosts;
//! - `<g class="node host" data-node="NAME">` per host and
//!   `<g class="node gateway" data-node="NAME">` per gateway;
//! - `<g class="link" data-gateway data-segment data-interface
//!   data-address data-paths>` per gateway attachment, where `data-paths`
//!   lists the segment pairs routed over it (`from>to`, space-separated);
//! - with colours, a verdict class (`pass`, `fail`, `unknown`) and
//!   `data-verdict` on each coloured link and segment, and a legend with a
//!   `<g class="path VERDICT" data-from data-to>` per coloured path.
//!
//! The styles are scoped to the root's class `seglab-topology`, so the SVG
//! can be put inline in a page without touching the page's own elements.
//! Verdicts have a colour (Okabe–Ito), a line style and a symbol each.

use super::colours::{PathColours, Verdict};
use super::layout::{layout, Rect, HOST_W_MAX, MARGIN, SEG_HEADER, SEG_PAD, TITLE_H};
use super::text::{clip, fits, width, xml};
use super::wires::{route, Wire};
use super::Topology;
use std::fmt::Write as _;

const FONT: &str = "'DejaVu Sans', Helvetica, Arial, sans-serif";
const LEGEND_ROW: i32 = 22;
const LEGEND_COL: i32 = 230;

fn style() -> String {
    let mut s = String::new();
    let rules = [
        format!(".seglab-topology text {{ font-family: {FONT}; fill: #1A1A1A; }}"),
        ".seglab-topology .title { font-size: 16px; font-weight: bold; }".into(),
        ".seglab-topology .segment > rect.box { fill: #E8EEF4; stroke: #4D4D4D; stroke-width: 1.5; }".into(),
        ".seglab-topology .segment.transit > rect.box { fill: #F5F5F5; stroke-dasharray: 7 4; }".into(),
        ".seglab-topology .seg-name { font-size: 14px; font-weight: bold; }".into(),
        ".seglab-topology .meta { font-size: 11px; fill: #404040; }".into(),
        ".seglab-topology .name { font-size: 13px; font-weight: bold; }".into(),
        ".seglab-topology .host > rect { fill: #FFFFFF; stroke: #808080; }".into(),
        ".seglab-topology .gateway > polygon { fill: #FFF4D6; stroke: #7A5C00; stroke-width: 1.5; }".into(),
        ".seglab-topology .wire { fill: none; stroke: #4D4D4D; stroke-width: 1.5; }".into(),
        ".seglab-topology .link > text { font-size: 10px; paint-order: stroke; stroke: #FFFFFF; stroke-width: 3px; stroke-linejoin: round; }".into(),
        ".seglab-topology .badge > text { font-size: 11px; font-weight: bold; fill: #FFFFFF; }".into(),
        ".seglab-topology .legend text { font-size: 12px; }".into(),
    ];
    for r in rules {
        let _ = writeln!(s, "{r}");
    }
    for v in [Verdict::Pass, Verdict::Fail, Verdict::Unknown] {
        let (c, class) = (v.colour(), v.class());
        let (w, dash) = line_style(v);
        let _ = writeln!(
            s,
            ".seglab-topology .{class} > .wire, .seglab-topology .segment.{class} > rect.box {{ stroke: {c}; stroke-width: {w}; stroke-dasharray: {dash}; }}"
        );
        let _ = writeln!(
            s,
            ".seglab-topology .{class} .badge > circle {{ fill: {c}; }}"
        );
    }
    s
}

/// Stroke width and dashes of a verdict, so that colour is not the only cue.
fn line_style(v: Verdict) -> (&'static str, &'static str) {
    match v {
        Verdict::Pass => ("3", "none"),
        Verdict::Fail => ("3.5", "9 4"),
        Verdict::Unknown => ("3", "2 4"),
    }
}

fn badge(out: &mut String, x: i32, y: i32, v: Verdict) {
    let _ = writeln!(
        out,
        "<g class=\"badge\"><circle cx=\"{x}\" cy=\"{y}\" r=\"8\"/><text x=\"{x}\" y=\"{}\" text-anchor=\"middle\">{}</text></g>",
        y + 4,
        v.symbol()
    );
}

/// The classes and `data-verdict` of an element with verdict `v`.
fn verdict_attrs(class: &str, v: Option<Verdict>) -> String {
    match v {
        Some(v) => format!(
            "class=\"{class} {}\" data-verdict=\"{}\"",
            v.class(),
            v.class()
        ),
        None => format!("class=\"{class}\""),
    }
}

/// The topology as SVG, its segment-to-segment paths coloured by
/// `colours` (none: a neutral drawing).
pub fn svg(t: &Topology, colours: &PathColours) -> String {
    let lay = layout(t);
    let title = format!("{} — {}", t.name, t.title);
    let legend_h = legend_height(colours, lay.width.max(400));
    let w = lay.width.max(width(&title, 16, true) + 2 * MARGIN);
    let (wires, channels) = route(t, &lay);
    let h = lay.height + channels + legend_h;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"seglab-topology\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{}\">",
        xml(&format!("Topology of {}", t.name))
    );
    let _ = writeln!(out, "<title>{}</title>", xml(&title));
    let _ = writeln!(out, "<style>\n{}</style>", style());
    let _ = writeln!(
        out,
        "<text class=\"title\" x=\"{MARGIN}\" y=\"{}\">{}</text>",
        MARGIN + TITLE_H / 2,
        xml(&title)
    );
    for (i, r) in lay.segments.iter().enumerate() {
        segment(&mut out, t, i, *r, &lay.hosts, colours);
    }
    for (i, wire) in wires.iter().enumerate() {
        if let Some(wire) = wire {
            link(&mut out, t, i, wire, colours);
        }
    }
    for (i, g) in t.gateways.iter().enumerate() {
        let r = lay.gateways[i];
        let segs: Vec<&str> = t
            .links
            .iter()
            .filter(|l| l.gateway == g.name)
            .map(|l| l.segment.as_str())
            .collect();
        let _ = writeln!(
            out,
            "<g class=\"node gateway\" data-node=\"{}\" data-segments=\"{}\">",
            xml(&g.name),
            xml(&segs.join(" "))
        );
        let _ = writeln!(
            out,
            "<title>{}</title>",
            xml(&format!("gateway {} (on {})", g.name, segs.join(", ")))
        );
        let (x, y, x2, y2, cy) = (r.x, r.y, r.x + r.w, r.y + r.h, r.cy());
        let _ = writeln!(
            out,
            "<polygon points=\"{x},{cy} {},{y} {},{y} {x2},{cy} {},{y2} {},{y2}\"/>",
            x + 14,
            x2 - 14,
            x2 - 14,
            x + 14
        );
        let _ = writeln!(
            out,
            "<text class=\"name\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            r.cx(),
            cy - 1,
            xml(&clip(&g.name, fits(r.w - 28, 13, true)))
        );
        let _ = writeln!(
            out,
            "<text class=\"meta\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">gateway</text>",
            r.cx(),
            cy + 13
        );
        let _ = writeln!(out, "</g>");
    }
    legend(&mut out, colours, lay.height + channels, w);
    let _ = writeln!(out, "</svg>");
    out
}

fn segment(
    out: &mut String,
    t: &Topology,
    i: usize,
    r: Rect,
    hosts: &[Rect],
    colours: &PathColours,
) {
    let seg = &t.segments[i];
    let class = if seg.transit {
        "segment transit"
    } else {
        "segment"
    };
    let v = colours.path(&seg.name, &seg.name);
    let _ = writeln!(
        out,
        "<g {} data-segment=\"{}\" data-subnet=\"{}\" data-transit=\"{}\">",
        verdict_attrs(class, v),
        xml(&seg.name),
        seg.subnet,
        seg.transit
    );
    let kind = if seg.transit {
        "transit network"
    } else {
        "segment"
    };
    let _ = writeln!(
        out,
        "<title>{}</title>",
        xml(&format!("{kind} {} ({})", seg.name, seg.subnet))
    );
    let _ = writeln!(
        out,
        "<rect class=\"box\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"8\"/>",
        r.x, r.y, r.w, r.h
    );
    let _ = writeln!(
        out,
        "<text class=\"seg-name\" x=\"{}\" y=\"{}\">{}</text>",
        r.x + SEG_PAD,
        r.y + 20,
        xml(&clip(&seg.name, fits(r.w - 2 * SEG_PAD, 14, true)))
    );
    let net = if seg.transit {
        format!("{} transit", seg.subnet)
    } else {
        seg.subnet.to_string()
    };
    let _ = writeln!(
        out,
        "<text class=\"meta\" x=\"{}\" y=\"{}\">{}</text>",
        r.x + SEG_PAD,
        r.y + SEG_HEADER - 10,
        xml(&net)
    );
    if let Some(v) = v {
        badge(out, r.x + r.w - 14, r.y + 14, v);
    }
    for (hi, h) in t.hosts.iter().enumerate() {
        if h.segment != seg.name {
            continue;
        }
        let c = hosts[hi];
        let _ = writeln!(
            out,
            "<g class=\"node host\" data-node=\"{}\" data-segment=\"{}\" data-role=\"{}\" data-address=\"{}\">",
            xml(&h.name),
            xml(&h.segment),
            xml(&h.role),
            h.address
        );
        let _ = writeln!(
            out,
            "<title>{}</title>",
            xml(&format!(
                "host {} ({}, role {}, on {})",
                h.name, h.address, h.role, h.segment
            ))
        );
        let _ = writeln!(
            out,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"4\"/>",
            c.x, c.y, c.w, c.h
        );
        let room = c.w.min(HOST_W_MAX) - 20;
        let _ = writeln!(
            out,
            "<text class=\"name\" x=\"{}\" y=\"{}\">{}</text>",
            c.x + 10,
            c.y + 17,
            xml(&clip(&h.name, fits(room, 13, true)))
        );
        let _ = writeln!(
            out,
            "<text class=\"meta\" x=\"{}\" y=\"{}\">{}</text>",
            c.x + 10,
            c.y + 33,
            xml(&clip(
                &format!("{} · {}", h.role, h.address),
                fits(room, 11, false)
            ))
        );
        let _ = writeln!(out, "</g>");
    }
    let _ = writeln!(out, "</g>");
}

/// A gateway's wire to a segment, labelled with interface and address.
fn link(out: &mut String, t: &Topology, i: usize, wire: &Wire, colours: &PathColours) {
    let l = &t.links[i];
    let paths: Vec<String> = t
        .paths
        .iter()
        .filter(|p| p.links.contains(&i))
        .map(|p| format!("{}>{}", p.from, p.to))
        .collect();
    let v = colours.link(t, i);
    let _ = writeln!(
        out,
        "<g {} data-gateway=\"{}\" data-segment=\"{}\" data-interface=\"{}\" data-address=\"{}\" data-paths=\"{}\">",
        verdict_attrs("link", v),
        xml(&l.gateway),
        xml(&l.segment),
        xml(&l.interface),
        l.address,
        xml(&paths.join(" "))
    );
    let points: Vec<String> = wire
        .points
        .iter()
        .map(|(x, y)| format!("{x},{y}"))
        .collect();
    let _ = writeln!(
        out,
        "<polyline class=\"wire\" points=\"{}\"/>",
        points.join(" ")
    );
    let (mx, my) = wire.label;
    if !l.interface.is_empty() {
        let _ = writeln!(
            out,
            "<text x=\"{mx}\" y=\"{}\" text-anchor=\"middle\" font-weight=\"bold\">{}</text>",
            my - 5,
            xml(&l.interface)
        );
    }
    let _ = writeln!(
        out,
        "<text x=\"{mx}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
        my + 13,
        l.address
    );
    if let Some(v) = v {
        badge(out, wire.badge.0, wire.badge.1, v);
    }
    let _ = writeln!(out, "</g>");
}

fn legend_height(colours: &PathColours, width: i32) -> i32 {
    if colours.is_empty() {
        return 0;
    }
    let per_row = ((width - 2 * MARGIN) / LEGEND_COL).max(1) as usize;
    let rows = colours.paths().count().div_ceil(per_row) as i32;
    // The key, then the paths.
    LEGEND_ROW * (1 + rows) + MARGIN
}

/// The key of the verdicts and the verdict of every coloured path, each
/// with its symbol and line style.
fn legend(out: &mut String, colours: &PathColours, top: i32, width: i32) {
    if colours.is_empty() {
        return;
    }
    let _ = writeln!(out, "<g class=\"legend\">");
    let y = top;
    let mut x = MARGIN;
    for v in [Verdict::Pass, Verdict::Fail, Verdict::Unknown] {
        let _ = writeln!(out, "<g class=\"key {}\">", v.class());
        let _ = writeln!(
            out,
            "<line class=\"wire\" x1=\"{x}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\"/>",
            x + 36
        );
        badge(out, x + 18, y, v);
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{}\">{}</text>",
            x + 44,
            y + 4,
            v.class()
        );
        let _ = writeln!(out, "</g>");
        x += 120;
    }
    let per_row = ((width - 2 * MARGIN) / LEGEND_COL).max(1) as usize;
    for (k, (from, to, v)) in colours.paths().enumerate() {
        let x = MARGIN + (k % per_row) as i32 * LEGEND_COL;
        let y = top + LEGEND_ROW * (1 + (k / per_row) as i32);
        let _ = writeln!(
            out,
            "<g class=\"path {}\" data-from=\"{}\" data-to=\"{}\" data-verdict=\"{}\">",
            v.class(),
            xml(from),
            xml(to),
            v.class()
        );
        badge(out, x + 8, y, v);
        let what = if from == to {
            format!("within {from}: {}", v.class())
        } else {
            format!("{from} → {to}: {}", v.class())
        };
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{}\">{}</text>",
            x + 22,
            y + 4,
            xml(&clip(&what, 34))
        );
        let _ = writeln!(out, "</g>");
    }
    let _ = writeln!(out, "</g>");
}
