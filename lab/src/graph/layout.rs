//! Where the SVG puts everything: a deterministic, hand-made layout (no
//! Graphviz at run time).
//!
//! Segments and gateways form a bipartite graph. Each connected piece is
//! drawn as a tree in columns, left to right: its root is its most central
//! segment (least eccentricity; then most gateways, then first in the
//! scenario), which for the built-in scenarios is the transit network.
//! The root's branches are shared between its left and right so that both
//! sides are about as tall; columns alternate gateways and segments. Every
//! node gets a band of height of its own, holding its subtree, so nothing
//! in a column overlaps; a link that is not a tree edge (a segment reached
//! by two gateways) is still drawn, straight. Hosts are drawn inside their
//! segment, in a grid; a segment without hosts (a transit network) is
//! stretched over its band, as a bus the gateways hang on.

use super::text::width;
use super::Topology;
use std::collections::{BTreeMap, VecDeque};

pub const MARGIN: i32 = 20;
/// Above the drawing: the title.
pub const TITLE_H: i32 = 36;
pub const HOST_H: i32 = 40;
pub const HOST_GAP: i32 = 8;
pub const SEG_PAD: i32 = 12;
/// A segment's name and subnet, above its hosts.
pub const SEG_HEADER: i32 = 46;
pub const GW_H: i32 = 44;
/// Between columns: room for the link labels.
const COL_GAP: i32 = 130;
const ROW_GAP: i32 = 24;
const COMPONENT_GAP: i32 = 40;
const HOST_W_MIN: i32 = 150;
/// Longer host texts are clipped to this (the full text is in the node's title).
pub const HOST_W_MAX: i32 = 240;
const SEG_W_MIN: i32 = 150;
const SEG_H_MIN: i32 = 62;
const GW_W_MIN: i32 = 120;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rect {
    pub x: i32,
    pub y: i32,
    pub w: i32,
    pub h: i32,
}

impl Rect {
    pub fn cx(&self) -> i32 {
        self.x + self.w / 2
    }
    pub fn cy(&self) -> i32 {
        self.y + self.h / 2
    }
}

/// The positions of everything, by index into the topology's lists.
#[derive(Debug, Clone)]
pub struct Layout {
    pub width: i32,
    pub height: i32,
    pub segments: Vec<Rect>,
    pub gateways: Vec<Rect>,
    pub hosts: Vec<Rect>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Node {
    Seg(usize),
    Gw(usize),
}

/// Host cards per row in a segment of `n` hosts: one column up to 8, then
/// more (20 hosts: 3 columns of 7 rows).
fn host_columns(n: usize) -> usize {
    n.div_ceil(8).clamp(1, 4)
}

/// The width of the host cards of a segment (all alike).
pub fn host_width(t: &Topology, segment: &str) -> i32 {
    t.hosts_on(segment)
        .map(|h| {
            let line2 = format!("{} · {}", h.role, h.address);
            width(&h.name, 13, true).max(width(&line2, 11, false)) + 20
        })
        .max()
        .unwrap_or(0)
        .clamp(HOST_W_MIN, HOST_W_MAX)
}

fn segment_size(t: &Topology, i: usize) -> (i32, i32) {
    let seg = &t.segments[i];
    let n = t.hosts_on(&seg.name).count();
    let header =
        width(&seg.name, 14, true).max(width(&format!("{} transit", seg.subnet), 11, false));
    if n == 0 {
        return ((header + 2 * SEG_PAD).max(SEG_W_MIN), SEG_H_MIN);
    }
    let cols = host_columns(n) as i32;
    let rows = n.div_ceil(cols as usize) as i32;
    let card = host_width(t, &seg.name);
    let w = (cols * card + (cols - 1) * HOST_GAP + 2 * SEG_PAD)
        .max(header + 2 * SEG_PAD)
        .max(SEG_W_MIN);
    let h = SEG_HEADER + rows * (HOST_H + HOST_GAP) - HOST_GAP + SEG_PAD;
    (w, h)
}

fn gateway_size(t: &Topology, i: usize) -> (i32, i32) {
    (
        (width(&t.gateways[i].name, 13, true) + 44).max(GW_W_MIN),
        GW_H,
    )
}

struct Graph {
    adj: BTreeMap<Node, Vec<Node>>,
    size: BTreeMap<Node, (i32, i32)>,
}

impl Graph {
    fn new(t: &Topology) -> Graph {
        let mut adj: BTreeMap<Node, Vec<Node>> = BTreeMap::new();
        let mut size = BTreeMap::new();
        for i in 0..t.segments.len() {
            adj.insert(Node::Seg(i), Vec::new());
            size.insert(Node::Seg(i), segment_size(t, i));
        }
        for i in 0..t.gateways.len() {
            adj.insert(Node::Gw(i), Vec::new());
            size.insert(Node::Gw(i), gateway_size(t, i));
        }
        for l in &t.links {
            let s = t.segments.iter().position(|s| s.name == l.segment);
            let g = t.gateways.iter().position(|g| g.name == l.gateway);
            if let (Some(s), Some(g)) = (s, g) {
                let (s, g) = (Node::Seg(s), Node::Gw(g));
                for (a, b) in [(s, g), (g, s)] {
                    let list = adj.entry(a).or_default();
                    if !list.contains(&b) {
                        list.push(b);
                    }
                }
            }
        }
        // A segment's gateways in the scenario's order.
        for list in adj.values_mut() {
            if matches!(list.first(), Some(Node::Gw(_))) {
                list.sort();
            }
        }
        Graph { adj, size }
    }

    /// Hops from `start` to every node it reaches, in discovery order.
    fn bfs(&self, start: Node) -> Vec<(Node, usize, Option<Node>)> {
        let mut seen = BTreeMap::from([(start, ())]);
        let mut out = Vec::new();
        let mut queue = VecDeque::from([(start, 0, None)]);
        while let Some((n, d, parent)) = queue.pop_front() {
            out.push((n, d, parent));
            for &m in &self.adj[&n] {
                if seen.insert(m, ()).is_none() {
                    queue.push_back((m, d + 1, Some(n)));
                }
            }
        }
        out
    }
}

/// A laid-out piece: its nodes' rectangles, relative to its top left.
struct Piece {
    rects: BTreeMap<Node, Rect>,
    width: i32,
    height: i32,
}

fn lay_piece(g: &Graph, members: &[Node], hostless: &dyn Fn(Node) -> bool) -> Piece {
    // The most central segment (a piece of one gateway alone has none).
    let root = members
        .iter()
        .filter(|n| matches!(n, Node::Seg(_)))
        .min_by_key(|&&n| {
            let ecc = g.bfs(n).iter().map(|e| e.1).max().unwrap_or(0);
            (ecc, std::cmp::Reverse(g.adj[&n].len()), n)
        })
        .copied()
        .unwrap_or(members[0]);
    let tree = g.bfs(root);
    let mut children: BTreeMap<Node, Vec<Node>> = BTreeMap::new();
    for (n, _, parent) in &tree {
        children.entry(*n).or_default();
        if let Some(p) = parent {
            children.entry(*p).or_default().push(*n);
        }
    }
    // Bands, leaves first (the reverse of breadth-first order).
    let mut band: BTreeMap<Node, i32> = BTreeMap::new();
    let stack = |kids: &[Node], band: &BTreeMap<Node, i32>| -> i32 {
        let sum: i32 = kids.iter().map(|k| band[k]).sum();
        sum + ROW_GAP * (kids.len() as i32 - 1).max(0)
    };
    for (n, _, _) in tree.iter().rev() {
        let own = g.size[n].1;
        band.insert(*n, own.max(stack(&children[n], &band)));
    }
    let depth_of = |n: Node| tree.iter().find(|e| e.0 == n).map_or(0, |e| e.1);
    let subtree_depth = |n: Node| -> usize {
        let base = depth_of(n);
        let mut deepest = base;
        let mut todo = vec![n];
        while let Some(m) = todo.pop() {
            deepest = deepest.max(depth_of(m));
            todo.extend(children[&m].iter().copied());
        }
        deepest - base
    };
    // The root's branches: the first on the left, then the deepest first,
    // each to the shorter side (ties: right). A root with one branch draws
    // it on its right.
    let kids = &children[&root];
    let (mut left, mut right) = (Vec::new(), Vec::new());
    if kids.len() == 1 {
        right.push(kids[0]);
    } else if let Some((&first, rest)) = kids.split_first() {
        left.push(first);
        let mut rest = rest.to_vec();
        rest.sort_by_key(|&k| std::cmp::Reverse(subtree_depth(k)));
        for k in rest {
            if stack(&left, &band) < stack(&right, &band) {
                left.push(k);
            } else {
                right.push(k);
            }
        }
        // Each side in the scenario's order.
        let order = |v: &mut Vec<Node>| v.sort_by_key(|k| kids.iter().position(|x| x == k));
        order(&mut left);
        order(&mut right);
    }
    let root_band = g.size[&root]
        .1
        .max(stack(&left, &band))
        .max(stack(&right, &band));
    band.insert(root, root_band);

    // Vertical centres and columns.
    let mut centre: BTreeMap<Node, i32> = BTreeMap::new();
    let mut column: BTreeMap<Node, i32> = BTreeMap::new();
    let mut top_of: BTreeMap<Node, i32> = BTreeMap::new();
    centre.insert(root, root_band / 2);
    column.insert(root, 0);
    top_of.insert(root, 0);
    let mut todo: Vec<(Node, i32, i32)> = Vec::new();
    for (side, list) in [(-1, &left), (1, &right)] {
        let mut y = (root_band - stack(list, &band)) / 2;
        for &k in list {
            todo.push((k, y, side));
            y += band[&k] + ROW_GAP;
        }
    }
    while let Some((n, top, side)) = todo.pop() {
        centre.insert(n, top + band[&n] / 2);
        top_of.insert(n, top);
        column.insert(n, side * depth_of(n) as i32);
        let kids = &children[&n];
        let mut y = top + (band[&n] - stack(kids, &band)) / 2;
        for &k in kids {
            todo.push((k, y, side));
            y += band[&k] + ROW_GAP;
        }
    }

    // Column widths and lefts.
    let mut col_w: BTreeMap<i32, i32> = BTreeMap::new();
    for (n, c) in &column {
        let w = col_w.entry(*c).or_default();
        *w = (*w).max(g.size[n].0);
    }
    let mut col_x = BTreeMap::new();
    let mut x = 0;
    for (c, w) in &col_w {
        col_x.insert(*c, x);
        x += w + COL_GAP;
    }
    let width = x - COL_GAP;
    let mut rects = BTreeMap::new();
    for (n, c) in &column {
        let (w, mut h) = g.size[n];
        let mut y = centre[n] - h / 2;
        if matches!(n, Node::Seg(_)) && hostless(*n) && band[n] > h {
            h = band[n];
            y = top_of[n];
        }
        let x = col_x[c] + (col_w[c] - w) / 2;
        rects.insert(*n, Rect { x, y, w, h });
    }
    Piece {
        rects,
        width,
        height: root_band,
    }
}

pub fn layout(t: &Topology) -> Layout {
    let g = Graph::new(t);
    let hostless = |n: Node| match n {
        Node::Seg(i) => t.hosts_on(&t.segments[i].name).next().is_none(),
        Node::Gw(_) => false,
    };
    let mut placed: BTreeMap<Node, Rect> = BTreeMap::new();
    let mut y = MARGIN + TITLE_H;
    let mut width = 0;
    // Pieces in the order of their first segment (then lone gateways).
    let starts: Vec<Node> = (0..t.segments.len())
        .map(Node::Seg)
        .chain((0..t.gateways.len()).map(Node::Gw))
        .collect();
    for start in starts {
        if placed.contains_key(&start) {
            continue;
        }
        let members: Vec<Node> = g.bfs(start).into_iter().map(|e| e.0).collect();
        let piece = lay_piece(&g, &members, &hostless);
        for (n, r) in piece.rects {
            placed.insert(
                n,
                Rect {
                    x: r.x + MARGIN,
                    y: r.y + y,
                    ..r
                },
            );
        }
        width = width.max(piece.width);
        y += piece.height + COMPONENT_GAP;
    }
    let height = y - COMPONENT_GAP + MARGIN;
    let segments: Vec<Rect> = (0..t.segments.len())
        .map(|i| placed[&Node::Seg(i)])
        .collect();
    let gateways = (0..t.gateways.len())
        .map(|i| placed[&Node::Gw(i)])
        .collect();
    let mut hosts = vec![Rect::default(); t.hosts.len()];
    for (si, seg) in t.segments.iter().enumerate() {
        let r = segments[si];
        let card = host_width(t, &seg.name);
        let n = t.hosts_on(&seg.name).count();
        let cols = host_columns(n);
        for (k, (hi, _)) in t
            .hosts
            .iter()
            .enumerate()
            .filter(|(_, h)| h.segment == seg.name)
            .enumerate()
        {
            let (row, col) = ((k / cols) as i32, (k % cols) as i32);
            hosts[hi] = Rect {
                x: r.x + SEG_PAD + col * (card + HOST_GAP),
                y: r.y + SEG_HEADER + row * (HOST_H + HOST_GAP),
                w: card,
                h: HOST_H,
            };
        }
    }
    Layout {
        width: width + 2 * MARGIN,
        height: height.max(MARGIN + TITLE_H + MARGIN),
        segments,
        gateways,
        hosts,
    }
}
