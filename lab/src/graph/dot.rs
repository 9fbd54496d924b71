//! The topology in Graphviz's DOT language: a cluster per segment holding
//! the segment's network (a node, its subnet) and its hosts, each joined to
//! it by an edge labelled with its address; gateways outside, as hexagons,
//! joined to each segment they attach by an edge labelled with the
//! interface and address. Transit clusters are dashed.

use super::text::dot as q;
use super::Topology;
use std::fmt::Write as _;

fn segment_id(name: &str) -> String {
    q(&format!("segment:{name}"))
}

fn host_id(name: &str) -> String {
    q(&format!("host:{name}"))
}

fn gateway_id(name: &str) -> String {
    q(&format!("gateway:{name}"))
}

/// The label of a gateway's link: interface and address.
pub(super) fn link_label(interface: &str, address: std::net::Ipv4Addr) -> String {
    if interface.is_empty() {
        address.to_string()
    } else {
        format!("{interface}\n{address}")
    }
}

pub fn dot(t: &Topology) -> String {
    let mut s = String::new();
    // Writing to a String cannot fail.
    let w = &mut s;
    let _ = writeln!(w, "// Topology of {}: {} (seglab graph)", t.name, t.title);
    let _ = writeln!(w, "graph {} {{", q(&t.name));
    let _ = writeln!(
        w,
        "  graph [rankdir=LR, fontname=\"Helvetica\", fontsize=12, labelloc=t, label={}, nodesep=0.3, ranksep=0.9];",
        q(&format!("{}: {}", t.name, t.title))
    );
    let _ = writeln!(w, "  node [fontname=\"Helvetica\", fontsize=10];");
    let _ = writeln!(
        w,
        "  edge [fontname=\"Helvetica\", fontsize=9, color=\"#555555\"];"
    );
    for seg in &t.segments {
        let _ = writeln!(w);
        let _ = writeln!(w, "  subgraph {} {{", q(&format!("cluster_{}", seg.name)));
        let kind = if seg.transit {
            " (transit network)"
        } else {
            ""
        };
        let _ = writeln!(w, "    label={};", q(&format!("{}{kind}", seg.name)));
        let style = if seg.transit {
            "dashed,rounded"
        } else {
            "rounded"
        };
        let _ = writeln!(w, "    style=\"{style}\"; color=\"#555555\";");
        let _ = writeln!(
            w,
            "    {} [label={}, shape=box, style=filled, fillcolor=\"#E8EEF4\"];",
            segment_id(&seg.name),
            q(&seg.subnet.to_string())
        );
        for h in t.hosts_on(&seg.name) {
            let _ = writeln!(
                w,
                "    {} [label={}, shape=box, style=rounded];",
                host_id(&h.name),
                q(&format!("{}\nrole {}", h.name, h.role))
            );
        }
        for h in t.hosts_on(&seg.name) {
            let _ = writeln!(
                w,
                "    {} -- {} [label={}];",
                host_id(&h.name),
                segment_id(&seg.name),
                q(&h.address.to_string())
            );
        }
        let _ = writeln!(w, "  }}");
    }
    if !t.gateways.is_empty() {
        let _ = writeln!(w);
    }
    for g in &t.gateways {
        let _ = writeln!(
            w,
            "  {} [label={}, shape=hexagon, style=filled, fillcolor=\"#FFF4D6\"];",
            gateway_id(&g.name),
            q(&g.name)
        );
    }
    for l in &t.links {
        let _ = writeln!(
            w,
            "  {} -- {} [label={}];",
            gateway_id(&l.gateway),
            segment_id(&l.segment),
            q(&link_label(&l.interface, l.address))
        );
    }
    let _ = writeln!(w, "}}");
    s
}
