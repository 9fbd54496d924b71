//! The topology as a Mermaid flowchart (GitHub and GitLab draw it in
//! Markdown): the content of the DOT output, a subgraph per segment with
//! its network node and hosts, gateways as hexagons between them.

use super::dot::link_label;
use super::text::{mermaid_id as id, mermaid_label as label};
use super::Topology;
use std::fmt::Write as _;

/// A label with its line breaks as Mermaid writes them.
fn lines(text: &str) -> String {
    text.split('\n').map(label).collect::<Vec<_>>().join("<br>")
}

pub fn mermaid(t: &Topology) -> String {
    let mut s = String::new();
    // Writing to a String cannot fail.
    let w = &mut s;
    let _ = writeln!(
        w,
        "%% Topology of {}: {} (seglab graph)",
        label(&t.name),
        label(&t.title)
    );
    let _ = writeln!(w, "flowchart LR");
    for seg in &t.segments {
        let kind = if seg.transit {
            " (transit network)"
        } else {
            ""
        };
        let _ = writeln!(
            w,
            "  subgraph {} [\"{}{kind}\"]",
            id("seg", &seg.name),
            label(&seg.name)
        );
        let _ = writeln!(
            w,
            "    {}[(\"{}\")]",
            id("net", &seg.name),
            label(&seg.subnet.to_string())
        );
        for h in t.hosts_on(&seg.name) {
            let _ = writeln!(
                w,
                "    {}[\"{}\"]",
                id("host", &h.name),
                lines(&format!("{}\nrole {}", h.name, h.role))
            );
        }
        for h in t.hosts_on(&seg.name) {
            let _ = writeln!(
                w,
                "    {} ---|\"{}\"| {}",
                id("host", &h.name),
                label(&h.address.to_string()),
                id("net", &seg.name)
            );
        }
        let _ = writeln!(w, "  end");
    }
    for g in &t.gateways {
        let _ = writeln!(w, "  {}{{{{\"{}\"}}}}", id("gw", &g.name), label(&g.name));
    }
    for l in &t.links {
        let _ = writeln!(
            w,
            "  {} ---|\"{}\"| {}",
            id("gw", &l.gateway),
            lines(&link_label(&l.interface, l.address)),
            id("net", &l.segment)
        );
    }
    let _ = writeln!(w, "  classDef host fill:#FFFFFF,stroke:#555555");
    let _ = writeln!(w, "  classDef gateway fill:#FFF4D6,stroke:#8A6D00");
    let _ = writeln!(w, "  classDef net fill:#E8EEF4,stroke:#555555");
    let class = |ids: Vec<String>, class: &str, w: &mut String| {
        if !ids.is_empty() {
            let _ = writeln!(w, "  class {} {class}", ids.join(","));
        }
    };
    class(
        t.hosts.iter().map(|h| id("host", &h.name)).collect(),
        "host",
        w,
    );
    class(
        t.gateways.iter().map(|g| id("gw", &g.name)).collect(),
        "gateway",
        w,
    );
    class(
        t.segments.iter().map(|s| id("net", &s.name)).collect(),
        "net",
        w,
    );
    for seg in t.segments.iter().filter(|s| s.transit) {
        let _ = writeln!(w, "  style {} stroke-dasharray:5 5", id("seg", &seg.name));
    }
    s
}
