//! Sets of ports and their ranges: what a scan covers (`--ports 1-1024,8080`)
//! and how its results are said (`tcp 30000-30010`).

use serde::Serialize;
use std::fmt;
use std::ops::RangeInclusive;

/// A set of ports 1 to 65535 (port 0 is never scanned), as a bitmap: a full
/// range costs 8 KiB, whatever is in it.
#[derive(Clone, PartialEq, Eq)]
pub struct PortSet {
    bits: Box<[u64; 1024]>,
}

impl Default for PortSet {
    fn default() -> Self {
        PortSet {
            bits: Box::new([0; 1024]),
        }
    }
}

impl fmt::Debug for PortSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PortSet({self})")
    }
}

impl PortSet {
    /// Every port, 1 to 65535.
    pub fn all() -> PortSet {
        PortSet::from_range(1..=u16::MAX)
    }

    pub fn from_range(range: RangeInclusive<u16>) -> PortSet {
        let mut s = PortSet::default();
        s.insert_range(range);
        s
    }

    pub fn insert(&mut self, port: u16) {
        if port != 0 {
            self.bits[usize::from(port / 64)] |= 1 << (port % 64);
        }
    }

    pub fn insert_range(&mut self, range: RangeInclusive<u16>) {
        for p in range {
            self.insert(p);
        }
    }

    pub fn remove(&mut self, port: u16) {
        self.bits[usize::from(port / 64)] &= !(1 << (port % 64));
    }

    pub fn contains(&self, port: u16) -> bool {
        self.bits[usize::from(port / 64)] & (1 << (port % 64)) != 0
    }

    pub fn len(&self) -> usize {
        self.bits.iter().map(|w| w.count_ones() as usize).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.bits.iter().all(|&w| w == 0)
    }

    /// The ports in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = u16> + '_ {
        (1..=u16::MAX).filter(|&p| self.contains(p))
    }

    /// The set as maximal ranges, ascending.
    pub fn ranges(&self) -> Vec<RangeInclusive<u16>> {
        runs(self.iter())
    }
}

impl fmt::Display for PortSet {
    /// `1-1024,8080` (the form `--ports` takes).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text: Vec<String> = self.ranges().iter().map(range_text).collect();
        f.write_str(&text.join(","))
    }
}

/// `30000-30010`, or `445` for a range of one.
pub fn range_text(r: &RangeInclusive<u16>) -> String {
    if r.start() == r.end() {
        r.start().to_string()
    } else {
        format!("{}-{}", r.start(), r.end())
    }
}

/// Ascending ports as maximal runs of consecutive ports.
pub fn runs(ports: impl IntoIterator<Item = u16>) -> Vec<RangeInclusive<u16>> {
    let mut out: Vec<RangeInclusive<u16>> = Vec::new();
    for p in ports {
        match out.last_mut() {
            Some(r) if r.end().checked_add(1) == Some(p) => *r = *r.start()..=p,
            _ => out.push(p..=p),
        }
    }
    out
}

impl std::str::FromStr for PortSet {
    type Err = String;

    /// `1-65535`, `1-1024,8080,30000-30010`: ports 1 to 65535, ranges with
    /// the smaller port first.
    fn from_str(s: &str) -> Result<PortSet, String> {
        let mut set = PortSet::default();
        let port = |t: &str| -> Result<u16, String> {
            let t = t.trim();
            if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("`{t}` is not a port (expected 1 to 65535)"));
            }
            match t.parse::<u16>() {
                Ok(p) if p > 0 => Ok(p),
                _ => Err(format!("`{t}` is not a port (expected 1 to 65535)")),
            }
        };
        for part in s.split(',') {
            let (lo, hi) = match part.split_once('-') {
                Some((a, b)) => (port(a)?, port(b)?),
                None => {
                    let p = port(part)?;
                    (p, p)
                }
            };
            if lo > hi {
                return Err(format!(
                    "`{}`: a range goes from the smaller port to the larger",
                    part.trim()
                ));
            }
            set.insert_range(lo..=hi);
        }
        Ok(set)
    }
}

impl Serialize for PortSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ranges_and_says_them_back_merged() {
        let s: PortSet = "8080, 1-3,4,30000-30010".parse().unwrap();
        assert_eq!(s.to_string(), "1-4,8080,30000-30010");
        assert_eq!(s.len(), 4 + 1 + 11);
        assert!(s.contains(30005) && !s.contains(5) && !s.contains(0));
        assert_eq!(PortSet::all().len(), 65535);
        assert_eq!(PortSet::all().to_string(), "1-65535");
    }

    #[test]
    fn refuses_what_is_no_port_list() {
        for bad in ["", "0", "65536", "5-3", "tcp/5", "1,,2", "1-", "-5", "a"] {
            assert!(bad.parse::<PortSet>().is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn runs_split_at_gaps_and_at_the_top() {
        assert_eq!(
            runs([1, 2, 3, 5, 65534, 65535]),
            vec![1..=3, 5..=5, 65534..=65535]
        );
        assert_eq!(range_text(&(7..=7)), "7");
    }
}
