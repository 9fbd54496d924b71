//! Verdicts to colour the topology with: per segment-to-segment path, or
//! per gateway link, each drawn in its worst verdict.

use super::Topology;
use std::collections::BTreeMap;

/// How a path fared, ordered from best to worst (the worst wins where
/// several paths share a link).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verdict {
    Pass,
    /// Not judged, or the judgement could not be made (path down, not probed).
    Unknown,
    Fail,
}

impl Verdict {
    /// The CSS class (and `data-verdict` value) in the SVG.
    pub fn class(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Unknown => "unknown",
            Verdict::Fail => "fail",
        }
    }

    /// A symbol beside the colour, so that colour is never the only cue.
    pub fn symbol(self) -> &'static str {
        match self {
            Verdict::Pass => "✓",
            Verdict::Unknown => "?",
            Verdict::Fail => "✗",
        }
    }

    /// Okabe–Ito colours, told apart by people with any common colour
    /// vision deficiency: blue, vermillion, grey.
    pub fn colour(self) -> &'static str {
        match self {
            Verdict::Pass => "#0072B2",
            Verdict::Unknown => "#8C8C8C",
            Verdict::Fail => "#D55E00",
        }
    }

    pub fn worst(self, other: Verdict) -> Verdict {
        self.max(other)
    }
}

/// Verdicts for [`super::svg`]: per ordered segment pair (`from == to` for
/// the hosts of one segment among themselves), and per gateway link
/// (gateway, segment). Setting one twice keeps the worse.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PathColours {
    paths: BTreeMap<(String, String), Verdict>,
    links: BTreeMap<(String, String), Verdict>,
}

fn merge(map: &mut BTreeMap<(String, String), Verdict>, key: (String, String), v: Verdict) {
    map.entry(key).and_modify(|w| *w = w.worst(v)).or_insert(v);
}

impl PathColours {
    /// No colours: the neutral drawing.
    pub fn new() -> PathColours {
        PathColours::default()
    }

    pub fn is_empty(&self) -> bool {
        self.paths.is_empty() && self.links.is_empty()
    }

    /// The path from segment `from` to segment `to`.
    pub fn set_path(&mut self, from: &str, to: &str, v: Verdict) -> &mut PathColours {
        merge(&mut self.paths, (from.into(), to.into()), v);
        self
    }

    /// The link of `gateway` to `segment` alone.
    pub fn set_link(&mut self, gateway: &str, segment: &str, v: Verdict) -> &mut PathColours {
        merge(&mut self.links, (gateway.into(), segment.into()), v);
        self
    }

    /// A host pair's verdict, counted for the path between their segments;
    /// hosts the topology does not know are ignored.
    pub fn set_hosts(
        &mut self,
        t: &Topology,
        src: &str,
        dst: &str,
        v: Verdict,
    ) -> &mut PathColours {
        if let (Some(a), Some(b)) = (t.segment_of(src), t.segment_of(dst)) {
            self.set_path(a, b, v);
        }
        self
    }

    pub fn path(&self, from: &str, to: &str) -> Option<Verdict> {
        self.paths.get(&(from.to_string(), to.to_string())).copied()
    }

    /// Every path verdict, by (from, to).
    pub fn paths(&self) -> impl Iterator<Item = (&str, &str, Verdict)> {
        self.paths
            .iter()
            .map(|((a, b), v)| (a.as_str(), b.as_str(), *v))
    }

    /// The verdict of link `index` of `t`: the worst of its own and of
    /// every path that crosses it.
    pub fn link(&self, t: &Topology, index: usize) -> Option<Verdict> {
        let l = &t.links[index];
        let own = self
            .links
            .get(&(l.gateway.clone(), l.segment.clone()))
            .copied();
        t.paths
            .iter()
            .filter(|p| p.links.contains(&index))
            .filter_map(|p| self.path(&p.from, &p.to))
            .chain(own)
            .max()
    }
}
