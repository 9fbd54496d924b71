//! Grouping cells by segment pair, then host pair: what the verify report,
//! the scan report, `observe` and `diff` all say their cells by. Pure and
//! generic over the cell (any item, with closures that name its keys), so
//! each caller keeps its own cell type and only the grouping lives here.
//!
//! A group keeps its items in the order they came (cells follow the
//! scenario's host order); how the groups themselves are ordered is the
//! caller's [`Order`], because the reports differ there on purpose: a
//! report reads in the order its failures were found, a matrix by its rows
//! and columns, a diff of two documents alphabetically (neither side's
//! order is the one to follow).

use std::collections::hash_map::{Entry, HashMap};
use std::collections::BTreeMap;
use std::hash::Hash;

/// A (source, destination) pair: of segments or of hosts.
pub type Pair<K> = (K, K);

/// How groups are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// By each group's first item.
    FirstSeen,
    /// By key.
    Sorted,
    /// As a matrix reads: by source, then destination, each ranked by
    /// where its name first appears at either end of a pair (see
    /// [`ends`]), so that rows and columns share one order.
    Matrix,
}

/// Items grouped by `key`, groups in order of their first item, items
/// within in their order. Hashed, not searched: a scan groups thousands
/// of port ranges.
pub fn first_seen<T, K: Eq + Hash + Clone>(
    items: impl IntoIterator<Item = T>,
    key: impl Fn(&T) -> K,
) -> Vec<(K, Vec<T>)> {
    let mut out: Vec<(K, Vec<T>)> = Vec::new();
    let mut index: HashMap<K, usize> = HashMap::new();
    for item in items {
        match index.entry(key(&item)) {
            Entry::Occupied(e) => out[*e.get()].1.push(item),
            Entry::Vacant(e) => {
                out.push((e.key().clone(), vec![item]));
                e.insert(out.len() - 1);
            }
        }
    }
    out
}

/// Items grouped by `key`, groups in key order, items within in their
/// order.
pub fn sorted<T, K: Ord>(
    items: impl IntoIterator<Item = T>,
    key: impl Fn(&T) -> K,
) -> Vec<(K, Vec<T>)> {
    let mut by: BTreeMap<K, Vec<T>> = BTreeMap::new();
    for item in items {
        by.entry(key(&item)).or_default().push(item);
    }
    by.into_iter().collect()
}

/// Every name at either end of `pairs`, once, in order of first
/// appearance (a source before its destination): a matrix's rows and
/// columns.
pub fn ends<K: PartialEq>(pairs: impl IntoIterator<Item = Pair<K>>) -> Vec<K> {
    let mut out: Vec<K> = Vec::new();
    for (s, d) in pairs {
        for k in [s, d] {
            if !out.contains(&k) {
                out.push(k);
            }
        }
    }
    out
}

/// Items grouped by the pair `pair` names, groups in `order`.
pub fn by_pair<T, K: Ord + Hash + Clone>(
    items: impl IntoIterator<Item = T>,
    pair: impl Fn(&T) -> Pair<K>,
    order: Order,
) -> Vec<(Pair<K>, Vec<T>)> {
    match order {
        Order::Sorted => sorted(items, pair),
        Order::FirstSeen => first_seen(items, pair),
        Order::Matrix => {
            let mut groups = first_seen(items, pair);
            let names = ends(groups.iter().map(|(p, _)| p.clone()));
            let rank = |k: &K| names.iter().position(|n| n == k);
            // Stable, and every pair's ends are ranked: no ties to break.
            groups.sort_by_key(|((s, d), _)| (rank(s), rank(d)));
            groups
        }
    }
}

/// The items of one segment pair, by host pair.
#[derive(Debug, PartialEq, Eq)]
pub struct SegmentPair<S, H, T> {
    pub segments: Pair<S>,
    pub hosts: Vec<(Pair<H>, Vec<T>)>,
}

/// Items grouped by segment pair (`segments`, groups in `order`), then
/// within each by host pair (`hosts`, in `host_order`).
pub fn segment_pairs<T, S, H>(
    items: impl IntoIterator<Item = T>,
    segments: impl Fn(&T) -> Pair<S>,
    hosts: impl Fn(&T) -> Pair<H>,
    order: Order,
    host_order: Order,
) -> Vec<SegmentPair<S, H, T>>
where
    S: Ord + Hash + Clone,
    H: Ord + Hash + Clone,
{
    by_pair(items, segments, order)
        .into_iter()
        .map(|(segments, items)| SegmentPair {
            segments,
            hosts: by_pair(items, &hosts, host_order),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (source host, destination host, port); hosts are named after their
    /// segment (`m1` is in `m`).
    type Cell = (&'static str, &'static str, u16);

    fn segments(c: &Cell) -> Pair<&'static str> {
        (&c.0[..1], &c.1[..1])
    }

    fn hosts(c: &Cell) -> Pair<&'static str> {
        (c.0, c.1)
    }

    const CELLS: [Cell; 6] = [
        ("s1", "m1", 22),
        ("m2", "s1", 80),
        ("m1", "s1", 22),
        ("m1", "m2", 53),
        ("s1", "m1", 80),
        ("m2", "s1", 22),
    ];

    fn said(groups: &[SegmentPair<&str, &str, Cell>]) -> Vec<String> {
        groups
            .iter()
            .map(|g| {
                let hosts: Vec<String> = g
                    .hosts
                    .iter()
                    .map(|((s, d), cells)| {
                        let ports: Vec<String> = cells.iter().map(|c| c.2.to_string()).collect();
                        format!("{s}>{d} {}", ports.join(","))
                    })
                    .collect();
                format!("{}>{}: {}", g.segments.0, g.segments.1, hosts.join("; "))
            })
            .collect()
    }

    #[test]
    fn first_seen_keeps_the_order_groups_and_items_came_in() {
        let g = segment_pairs(CELLS, segments, hosts, Order::FirstSeen, Order::FirstSeen);
        assert_eq!(
            said(&g),
            [
                "s>m: s1>m1 22,80",
                "m>s: m2>s1 80,22; m1>s1 22",
                "m>m: m1>m2 53"
            ]
        );
    }

    #[test]
    fn sorted_orders_segment_and_host_pairs_by_name() {
        let g = segment_pairs(CELLS, segments, hosts, Order::Sorted, Order::Sorted);
        assert_eq!(
            said(&g),
            [
                "m>m: m1>m2 53",
                "m>s: m1>s1 22; m2>s1 80,22",
                "s>m: s1>m1 22,80"
            ]
        );
    }

    #[test]
    fn a_matrix_ranks_each_segment_where_it_first_appears_at_either_end() {
        // `s` is seen first (as a source), `m` next: rows and columns read
        // s, m, whichever pair came first.
        let g = segment_pairs(CELLS, segments, hosts, Order::Matrix, Order::FirstSeen);
        assert_eq!(
            said(&g),
            [
                "s>m: s1>m1 22,80",
                "m>s: m2>s1 80,22; m1>s1 22",
                "m>m: m1>m2 53"
            ]
        );
        let later: Vec<Cell> = CELLS.iter().rev().copied().collect();
        let g = segment_pairs(later, segments, hosts, Order::Matrix, Order::FirstSeen);
        assert_eq!(
            said(&g),
            [
                "m>m: m1>m2 53",
                "m>s: m2>s1 22,80; m1>s1 22",
                "s>m: s1>m1 80,22"
            ]
        );
    }

    #[test]
    fn ends_names_each_end_once_in_order() {
        assert_eq!(ends([("b", "a"), ("a", "c"), ("c", "b")]), ["b", "a", "c"]);
        assert!(ends::<&str>([]).is_empty());
    }

    #[test]
    fn any_key_groups_first_seen_or_sorted() {
        let words = ["pear", "apple", "plum", "avocado", "fig"];
        let initial = |w: &&str| w.as_bytes()[0];
        assert_eq!(
            first_seen(words, initial),
            [
                (b'p', vec!["pear", "plum"]),
                (b'a', vec!["apple", "avocado"]),
                (b'f', vec!["fig"])
            ]
        );
        assert_eq!(
            sorted(words, initial),
            [
                (b'a', vec!["apple", "avocado"]),
                (b'f', vec!["fig"]),
                (b'p', vec!["pear", "plum"])
            ]
        );
    }
}
