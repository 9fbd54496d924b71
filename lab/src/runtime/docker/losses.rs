//! The kernel's loss counters on a scan's path: a scan calls a port that
//! stayed silent `blocked` after one round only when none of them moved
//! during the round (see [`crate::scan::engine`]).
//!
//! A probe that a rule drops is a block; a probe lost anywhere else leaves
//! a count: a full backlog queue between two namespaces
//! (`/proc/net/softnet_stat`, for the whole machine), conntrack refusing or
//! evicting an entry, or calling a packet invalid (which a rule set's
//! `ct state invalid drop` then drops), a neighbour not resolved in time,
//! a full listen queue or socket buffer, an IP discard. They are read in
//! every namespace on the path (the source, the gateways, the destination)
//! and in the machine's own, which Docker's bridges run lab packets through.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// Counters of one namespace, as `/proc/<pid>/net` shows them; the files
/// are opened once (a `/proc/.../net` file stays with the namespace it was
/// opened in) and read again from their start.
pub struct NetnsCounters {
    conntrack: File,
    /// The neighbour table's statistics are the whole machine's and show
    /// in its own namespace only.
    neighbours: Option<File>,
    snmp: File,
    netstat: File,
}

impl NetnsCounters {
    /// The counters of the namespace that `/proc/<dir>/net` shows (`dir`
    /// is a PID, or `thread-self` for the caller's own).
    pub fn open(dir: &str) -> io::Result<NetnsCounters> {
        let open = |f: &str| File::open(format!("/proc/{dir}/net/{f}"));
        Ok(NetnsCounters {
            conntrack: open("stat/nf_conntrack")?,
            neighbours: open("stat/arp_cache").ok(),
            snmp: open("snmp")?,
            netstat: open("netstat")?,
        })
    }

    /// The sum of every loss counter of the namespace.
    pub fn losses(&self) -> io::Result<u64> {
        Ok(per_cpu_sum(
            &read(&self.conntrack)?,
            &["drop", "early_drop", "insert_failed", "invalid"],
        ) + match &self.neighbours {
            Some(f) => per_cpu_sum(&read(f)?, &["unresolved_discards", "table_fulls"]),
            None => 0,
        } + named_sum(
            &read(&self.snmp)?,
            &[
                ("Ip", "InDiscards"),
                ("Ip", "OutDiscards"),
                ("Udp", "InErrors"),
                ("Udp", "RcvbufErrors"),
                ("Udp", "SndbufErrors"),
            ],
        ) + named_sum(
            &read(&self.netstat)?,
            &[("TcpExt", "ListenOverflows"), ("TcpExt", "ListenDrops")],
        ))
    }
}

/// Packets the machine's CPUs dropped because a backlog queue was full.
pub fn backlog_drops(softnet: &File) -> io::Result<u64> {
    Ok(read(softnet)?
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .filter_map(|h| u64::from_str_radix(h, 16).ok())
        .sum())
}

fn read(f: &File) -> io::Result<String> {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = f.read_at(&mut buf, out.len() as u64)?;
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// A `/proc/net/stat` table: a header of names, then a line of hex values
/// per CPU; the sum of the named columns over every CPU.
fn per_cpu_sum(text: &str, columns: &[&str]) -> u64 {
    let mut lines = text.lines();
    let Some(header) = lines.next() else { return 0 };
    let at: Vec<usize> = header
        .split_whitespace()
        .enumerate()
        .filter(|(_, name)| columns.contains(name))
        .map(|(i, _)| i)
        .collect();
    lines
        .map(|l| {
            let values: Vec<&str> = l.split_whitespace().collect();
            at.iter()
                .filter_map(|&i| values.get(i))
                .filter_map(|h| u64::from_str_radix(h, 16).ok())
                .sum::<u64>()
        })
        .sum()
}

/// `/proc/net/snmp` or `netstat`: pairs of lines `Group: names` and
/// `Group: values`; the sum of the named counters.
fn named_sum(text: &str, wanted: &[(&str, &str)]) -> u64 {
    let lines: Vec<&str> = text.lines().collect();
    let mut sum = 0;
    for pair in lines.chunks(2) {
        let [names, values] = pair else { continue };
        let (Some((group, names)), Some((_, values))) =
            (names.split_once(':'), values.split_once(':'))
        else {
            continue;
        };
        for (name, value) in names.split_whitespace().zip(values.split_whitespace()) {
            if wanted.contains(&(group, name)) {
                sum += value.parse::<u64>().unwrap_or(0);
            }
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_cpu_tables_sum_the_named_columns_over_cpus() {
        let t = "entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error\n\
                 00000001  00000000 00000000 00000000 00000002 00000000 00000000 00000000 00000000 00000000 00000001 00000010 00000000\n\
                 00000001  00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000001 00000003 00000000 00000000\n";
        assert_eq!(
            per_cpu_sum(t, &["drop", "early_drop", "insert_failed", "invalid"]),
            2 + 1 + 0x10 + 1 + 3
        );
        assert_eq!(per_cpu_sum("", &["drop"]), 0);
    }

    #[test]
    fn snmp_pairs_sum_the_named_counters() {
        let t = "Ip: Forwarding InDiscards OutDiscards\nIp: 1 2 3\n\
                 Udp: InDatagrams InErrors RcvbufErrors\nUdp: 100 4 5\n";
        assert_eq!(
            named_sum(t, &[("Ip", "InDiscards"), ("Udp", "RcvbufErrors")]),
            2 + 5
        );
    }

    #[test]
    fn this_machine_shows_every_counter() {
        let c = NetnsCounters::open("thread-self").unwrap();
        c.losses().unwrap();
        backlog_drops(&File::open("/proc/net/softnet_stat").unwrap()).unwrap();
    }
}
