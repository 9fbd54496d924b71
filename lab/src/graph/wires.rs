//! The lines from gateways to segments. Most are straight: from the
//! gateway's tip facing the segment to the box's near side, level with the
//! gateway where the box reaches that high. A line that would cross
//! another box (a segment reached by gateways in columns far apart) goes
//! around instead: down beside the gateway to a channel of its own below
//! the drawing, along it, up in the gap beside the segment (columns have
//! nothing in their gaps) and into the segment's near side.

use super::layout::{Layout, Rect, MARGIN};
use super::Topology;

/// Between two channels: room for a two-line label.
const CHANNEL: i32 = 30;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wire {
    pub points: Vec<(i32, i32)>,
    /// The middle of the label (interface above, address below).
    pub label: (i32, i32),
    /// Where a verdict's badge goes: near the segment's end.
    pub badge: (i32, i32),
}

/// Each link's wire (`None` for a link to an unknown node) and how much
/// room the channels need below the layout.
pub fn route(t: &Topology, lay: &Layout) -> (Vec<Option<Wire>>, i32) {
    let boxes: Vec<Rect> = lay
        .segments
        .iter()
        .chain(lay.gateways.iter())
        .copied()
        .collect();
    let mut detours = 0;
    let wires = t
        .links
        .iter()
        .map(|l| {
            let g = lay.gateways[t.gateways.iter().position(|g| g.name == l.gateway)?];
            let s = lay.segments[t.segments.iter().position(|s| s.name == l.segment)?];
            let to_left = s.cx() < g.cx();
            let (gx, sx) = if to_left {
                (g.x, s.x + s.w)
            } else {
                (g.x + g.w, s.x)
            };
            let gy = g.cy();
            let sy = gy.clamp(s.y + 16, (s.y + s.h - 16).max(s.y + 16));
            let others = boxes.iter().filter(|b| **b != g && **b != s);
            if !others.into_iter().any(|b| crosses(*b, (gx, gy), (sx, sy))) {
                return Some(Wire {
                    points: vec![(gx, gy), (sx, sy)],
                    label: ((gx + sx) / 2, (gy + sy) / 2),
                    badge: toward((sx, sy), (gx, gy), 18),
                });
            }
            let y = lay.height - MARGIN + 18 + CHANNEL * detours;
            // The segment's column: the boxes beside and under it.
            let column = boxes.iter().filter(|b| b.x < s.x + s.w && s.x < b.x + b.w);
            let (out, x) = if to_left {
                let right = column.map(|b| b.x + b.w).max().unwrap_or(s.x + s.w);
                (gx - 16, right + 16 + 12 * detours)
            } else {
                let left = column.map(|b| b.x).min().unwrap_or(s.x);
                (gx + 16, left - 16 - 12 * detours)
            };
            let low = (s.y + s.h - 14 - 8 * detours).max(s.y + 16);
            detours += 1;
            Some(Wire {
                points: vec![(gx, gy), (out, gy), (out, y), (x, y), (x, low), (sx, low)],
                label: ((out + x) / 2, y),
                badge: (if to_left { x + 18 } else { x - 18 }, y),
            })
        })
        .collect();
    let room = if detours == 0 {
        0
    } else {
        18 + CHANNEL * detours
    };
    (wires, room)
}

/// The point `d` px from `from` toward `to`.
fn toward(from: (i32, i32), to: (i32, i32), d: i32) -> (i32, i32) {
    let (dx, dy) = ((to.0 - from.0) as f64, (to.1 - from.1) as f64);
    let len = (dx * dx + dy * dy).sqrt().max(1.0);
    (
        from.0 + (d as f64 * dx / len).round() as i32,
        from.1 + (d as f64 * dy / len).round() as i32,
    )
}

/// Whether the segment from `a` to `b` passes through `r` (its inside,
/// a pixel in from the border), looked at every few pixels.
fn crosses(r: Rect, a: (i32, i32), b: (i32, i32)) -> bool {
    let steps = ((b.0 - a.0).abs().max((b.1 - a.1).abs()) / 3).max(1);
    (0..=steps).any(|k| {
        let x = a.0 + (b.0 - a.0) * k / steps;
        let y = a.1 + (b.1 - a.1) * k / steps;
        x > r.x + 1 && x < r.x + r.w - 1 && y > r.y + 1 && y < r.y + r.h - 1
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_crosses_a_box_only_through_its_inside() {
        let r = Rect {
            x: 10,
            y: 10,
            w: 20,
            h: 20,
        };
        assert!(crosses(r, (0, 20), (40, 20)));
        assert!(!crosses(r, (0, 5), (40, 5)));
        // Ending on the border is touching, not crossing.
        assert!(!crosses(r, (0, 20), (10, 20)));
        assert_eq!(toward((0, 0), (100, 0), 18), (18, 0));
    }
}
