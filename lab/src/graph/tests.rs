use super::*;
use crate::scenario::builtin;
use quick_xml::events::Event;
use std::collections::BTreeMap;

fn topo(name: &str) -> Topology {
    Topology::from_scenario(&crate::scenario::load(name).unwrap())
}

/// A scenario given as YAML text (no rule sets needed for a picture).
fn topo_of(yaml: &str) -> Topology {
    let sc = crate::scenario::Source::from_text("t.yaml", yaml, std::path::PathBuf::new())
        .load(&[])
        .unwrap();
    Topology::from_scenario(&sc)
}

#[test]
fn dot_of_every_builtin_scenario() {
    for name in builtin::names() {
        insta::assert_snapshot!(format!("dot-{name}"), dot::dot(&topo(name)));
    }
}

#[test]
fn mermaid_of_scenario_3() {
    insta::assert_snapshot!(mermaid::mermaid(&topo("scenario-3")));
}

#[test]
fn svg_of_scenario_3() {
    insta::assert_snapshot!(svg(&topo("scenario-3"), &PathColours::new()));
}

#[test]
fn svg_of_scenario_3_coloured() {
    let t = topo("scenario-3");
    let mut c = PathColours::new();
    c.set_path("mgmt", "sensitive", Verdict::Fail)
        .set_path("sensitive", "mgmt", Verdict::Pass)
        .set_path("mgmt", "mgmt", Verdict::Unknown);
    insta::assert_snapshot!(svg(&t, &c));
}

/// What a well-formed SVG holds: the `g` elements by class, with their
/// `data-*` attributes.
#[derive(Debug, Default)]
struct Parsed {
    /// (class, attributes) of every `g`, in document order.
    groups: Vec<(String, BTreeMap<String, String>)>,
    /// The name of the root element.
    root: String,
}

impl Parsed {
    fn with_class<'a>(
        &'a self,
        class: &'a str,
    ) -> impl Iterator<Item = &'a BTreeMap<String, String>> {
        self.groups
            .iter()
            .filter(move |(c, _)| c.split(' ').any(|w| w == class))
            .map(|(_, a)| a)
    }

    fn names(&self, class: &str, attr: &str) -> Vec<String> {
        self.with_class(class).map(|a| a[attr].clone()).collect()
    }
}

/// Parses `svg` strictly: every tag closed and matched, every attribute
/// quoted and its entities known; panics with the problem otherwise.
fn parse(svg: &str) -> Parsed {
    let mut reader = quick_xml::Reader::from_str(svg);
    let mut out = Parsed::default();
    let mut open: Vec<String> = Vec::new();
    loop {
        let ev = reader
            .read_event()
            .unwrap_or_else(|e| panic!("not well-formed at {}: {e}", reader.buffer_position()));
        let (start, empty) = match &ev {
            Event::Start(s) => (Some(s.clone()), false),
            Event::Empty(s) => (Some(s.clone()), true),
            Event::End(e) => {
                let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                assert_eq!(
                    open.pop().as_deref(),
                    Some(name.as_str()),
                    "mismatched </{name}>"
                );
                continue;
            }
            Event::Text(t) => {
                t.decode().unwrap();
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        let s = start.unwrap();
        let name = String::from_utf8(s.name().as_ref().to_vec()).unwrap();
        if out.root.is_empty() {
            out.root = name.clone();
        }
        let mut attrs = BTreeMap::new();
        for a in s.attributes() {
            let a = a.unwrap();
            let key = String::from_utf8(a.key.as_ref().to_vec()).unwrap();
            let value = a
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .unwrap()
                .into_owned();
            assert!(attrs.insert(key.clone(), value).is_none(), "{key} twice");
        }
        if name == "g" {
            let class = attrs.get("class").cloned().unwrap_or_default();
            out.groups.push((class, attrs));
        }
        if !empty {
            open.push(name);
        }
    }
    assert!(open.is_empty(), "unclosed: {open:?}");
    assert_eq!(out.root, "svg");
    out
}

#[test]
fn the_svg_has_one_node_per_host_and_gateway_and_one_group_per_segment() {
    for name in builtin::names() {
        let t = topo(name);
        let p = parse(&svg(&t, &PathColours::new()));
        let names = |v: Vec<&String>| v.into_iter().cloned().collect::<Vec<_>>();
        assert_eq!(
            p.names("host", "data-node"),
            names(t.hosts.iter().map(|h| &h.name).collect()),
            "{name}"
        );
        assert_eq!(
            p.names("gateway", "data-node"),
            names(t.gateways.iter().map(|g| &g.name).collect()),
            "{name}"
        );
        assert_eq!(
            p.with_class("node").count(),
            t.hosts.len() + t.gateways.len(),
            "{name}"
        );
        assert_eq!(
            p.names("segment", "data-segment"),
            names(t.segments.iter().map(|s| &s.name).collect()),
            "{name}"
        );
        assert_eq!(p.with_class("link").count(), t.links.len(), "{name}");
        // Neutral: no verdict anywhere, no legend.
        assert!(p
            .groups
            .iter()
            .all(|(_, a)| !a.contains_key("data-verdict")));
        assert_eq!(p.with_class("legend").count(), 0);
    }
}

/// Nothing in the picture overlaps: boxes of segments and gateways are
/// apart, hosts are inside their segment, and the drawing holds them all.
#[test]
fn the_layout_keeps_boxes_apart_and_hosts_inside_their_segment() {
    let many = {
        let mut y = String::from(
            "name: many\ntitle: Twenty hosts\nsegments:\n  - {name: lan, subnet: 198.18.60.0/24, router: gw-a}\n  - {name: dmz, subnet: 198.18.61.0/24, router: gw-b}\n  - {name: core, subnet: 198.18.62.0/24, transit: true}\ngateways:\n  - {name: gw-a, segments: [lan, core]}\n  - {name: gw-b, segments: [dmz, core]}\n  - {name: gw-c, segments: [dmz, lan]}\nhosts:\n",
        );
        for i in 0..20 {
            y.push_str(&format!(
                "  - {{name: pc-{i:02}, segment: lan, role: admin}}\n"
            ));
        }
        y.push_str("  - {name: web, segment: dmz, role: storage}\n");
        let mut t = topo_of(&y);
        // A piece of its own (no valid scenario has one, but the layout
        // stacks pieces).
        t.segments.push(SegmentNode {
            name: "lone".into(),
            subnet: "198.18.63.0/24".parse().unwrap(),
            transit: false,
        });
        t.hosts.push(HostNode {
            name: "solo".into(),
            segment: "lone".into(),
            role: "admin".into(),
            address: "198.18.63.10".parse().unwrap(),
        });
        t
    };
    let mut all: Vec<Topology> = builtin::names().into_iter().map(topo).collect();
    all.push(many);
    for t in &all {
        let lay = layout::layout(t);
        let boxes: Vec<(&str, layout::Rect)> = t
            .segments
            .iter()
            .map(|s| s.name.as_str())
            .zip(lay.segments.iter().copied())
            .chain(
                t.gateways
                    .iter()
                    .map(|g| g.name.as_str())
                    .zip(lay.gateways.iter().copied()),
            )
            .collect();
        let apart = |a: layout::Rect, b: layout::Rect| {
            a.x + a.w <= b.x || b.x + b.w <= a.x || a.y + a.h <= b.y || b.y + b.h <= a.y
        };
        for (i, (na, a)) in boxes.iter().enumerate() {
            assert!(a.x >= 0 && a.y >= 0, "{}: {na} {a:?}", t.name);
            assert!(
                a.x + a.w <= lay.width && a.y + a.h <= lay.height,
                "{}: {na} {a:?}",
                t.name
            );
            for (nb, b) in &boxes[i + 1..] {
                assert!(apart(*a, *b), "{}: {na} {a:?} overlaps {nb} {b:?}", t.name);
            }
        }
        for (hi, h) in t.hosts.iter().enumerate() {
            let c = lay.hosts[hi];
            let s = lay.segments[t.segments.iter().position(|s| s.name == h.segment).unwrap()];
            assert!(
                c.x >= s.x && c.y >= s.y && c.x + c.w <= s.x + s.w && c.y + c.h <= s.y + s.h,
                "{}: {} {c:?} outside {s:?}",
                t.name,
                h.name
            );
            for (hj, o) in lay.hosts.iter().enumerate().skip(hi + 1) {
                assert!(
                    apart(c, *o),
                    "{}: {} overlaps {}",
                    t.name,
                    h.name,
                    t.hosts[hj].name
                );
            }
        }
        // Well-formed, one node each, also for this one.
        let p = parse(&svg(t, &PathColours::new()));
        assert_eq!(
            p.with_class("node").count(),
            t.hosts.len() + t.gateways.len()
        );
    }
}

#[test]
fn scenario_2_hangs_its_four_gateways_on_the_transit_network() {
    let t = topo("scenario-2");
    let lay = layout::layout(&t);
    let transit = lay.segments[t.segments.iter().position(|s| s.transit).unwrap()];
    for (g, r) in t.gateways.iter().zip(&lay.gateways) {
        // Level with the bus: every line to it is horizontal.
        assert!(
            r.cy() > transit.y + 16 && r.cy() < transit.y + transit.h - 16,
            "{}: {r:?} beside {transit:?}",
            g.name
        );
    }
    // Two on each side.
    let left = lay
        .gateways
        .iter()
        .filter(|r| r.cx() < transit.cx())
        .count();
    assert_eq!(left, 2);
}

#[test]
fn paths_cross_the_links_the_routes_use() {
    let t = topo("scenario-4");
    let p = t.path("sensitive", "offsite").unwrap();
    let crossed: Vec<(&str, &str)> = p
        .links
        .iter()
        .map(|&i| (t.links[i].gateway.as_str(), t.links[i].segment.as_str()))
        .collect();
    assert_eq!(
        crossed,
        [
            ("gw-sensitive", "sensitive"),
            ("gw-sensitive", "transit"),
            ("gw-edge", "transit"),
            ("gw-edge", "wan"),
            ("gw-offsite", "wan"),
            ("gw-offsite", "offsite"),
        ]
    );
    // Host segments only, both directions, never a segment to itself.
    assert_eq!(t.paths.len(), 6);
    assert_eq!(t.segment_of("agent-1"), Some("sensitive"));
}

#[test]
fn a_link_takes_the_worst_verdict_of_the_paths_over_it() {
    let t = topo("scenario-4");
    let mut c = PathColours::new();
    c.set_hosts(&t, "agent-1", "offsite-sftp", Verdict::Pass)
        .set_hosts(&t, "ams", "offsite-sftp", Verdict::Unknown)
        .set_hosts(&t, "agent-2", "offsite-sftp", Verdict::Fail)
        .set_hosts(&t, "nobody", "ams", Verdict::Fail);
    let of = |c: &PathColours, g: &str, s: &str| c.link(&t, t.link(g, s).unwrap());
    // sensitive -> offsite failed once (agent-2), passed once: fail.
    assert_eq!(of(&c, "gw-sensitive", "sensitive"), Some(Verdict::Fail));
    assert_eq!(of(&c, "gw-mgmt", "mgmt"), Some(Verdict::Unknown));
    assert_eq!(of(&c, "gw-offsite", "offsite"), Some(Verdict::Fail));
    assert_eq!(c.path("sensitive", "offsite"), Some(Verdict::Fail));
    // No path from offsite judged: its link on the way back is unchanged.
    c.set_link("gw-mgmt", "mgmt", Verdict::Fail);
    assert_eq!(of(&c, "gw-mgmt", "mgmt"), Some(Verdict::Fail));
    assert_eq!(c.paths().count(), 2);

    let p = parse(&svg(&t, &c));
    let verdict_of = |g: &str, s: &str| {
        p.with_class("link")
            .find(|a| a["data-gateway"] == g && a["data-segment"] == s)
            .and_then(|a| a.get("data-verdict").cloned())
    };
    assert_eq!(verdict_of("gw-edge", "wan").as_deref(), Some("fail"));
    assert_eq!(verdict_of("gw-mgmt", "mgmt").as_deref(), Some("fail"));
    let legend: Vec<(String, String)> = p
        .with_class("path")
        .map(|a| (a["data-from"].clone(), a["data-verdict"].clone()))
        .collect();
    assert_eq!(
        legend,
        [
            ("mgmt".to_string(), "unknown".to_string()),
            ("sensitive".to_string(), "fail".to_string())
        ]
    );
}

/// Names with markup in them (a lab's scenario is whatever was stored)
/// come out escaped in every format.
#[test]
fn names_are_escaped_in_every_format() {
    let mut t = topo("scenario-1");
    t.title = "<b>\"Tom & Jerry's\"</b> #1".into();
    t.hosts[0].role = "a<b>&\"c\"".into();
    t.links[0].interface = "e\"th\\0".into();
    let s = svg(&t, &PathColours::new());
    parse(&s);
    assert!(
        s.contains("&lt;b&gt;&quot;Tom &amp; Jerry&apos;s&quot;&lt;/b&gt;"),
        "{s}"
    );
    let d = dot::dot(&t);
    assert!(d.contains(r#"label="e\"th\\0\n"#), "{d}");
    let m = mermaid::mermaid(&t);
    assert!(m.contains("role a#lt;b#gt;#amp;#quot;c#quot;"), "{m}");
    assert!(!m.contains("<b>"), "{m}");
}

#[test]
fn a_lab_made_without_interface_names_labels_links_with_addresses_only() {
    let mut t = topo("scenario-3");
    for l in &mut t.links {
        l.interface.clear();
    }
    let d = dot::dot(&t);
    assert!(d.contains("[label=\"198.18.30.1\"]"), "{d}");
    let p = parse(&svg(&t, &PathColours::new()));
    assert_eq!(p.with_class("link").count(), 4);
}
