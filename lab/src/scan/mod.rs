//! The leak scan: every TCP and UDP port of a host pair, judged against the
//! plan (`seglab scan`, `seglab test --scan`).
//!
//! `verify` probes the catalog's ports; a rule such as
//! `tcp dport 30000-31000 accept` leaks outside them and goes unseen. A scan
//! tries every port (or the ports asked for) of every selected host pair and
//! judges each against the plan, as [`crate::plan::cell`] says for any port:
//! a port that no flow permits must not open.
//!
//! How a pair is scanned (see [`engine`]), from inside the source host's
//! namespace like every probe:
//!
//! * **TCP**: a bare SYN per port from a raw socket; a SYN-ACK is `open`
//!   (the source's kernel, which holds no such connection, answers it with a
//!   reset, so no connection is ever made), a reset or an ICMP unreachable
//!   is `rejected`, silence is `blocked`.
//! * **UDP**: a datagram per port from one of the scan's bound sockets; only
//!   the destination's identity reply is `open` (another host's identity is
//!   `misrouted`), an ICMP unreachable is `rejected`, silence is `blocked`.
//! * **Rounds**: ports not answered are tried again in the next round. A
//!   round after which they are called `blocked` is one in which no packet
//!   was lost: none of the kernel's loss counters on the path moved (full
//!   queues, conntrack refusals, unresolved neighbours, socket buffers;
//!   see the Docker backend's `losses`), or, where the backend cannot tell,
//!   a second round that found no new answer. A round that still finds
//!   answers, or lost packets, is followed by another.
//! * **Source ports**: a port's probes always leave from the same source
//!   port of [`table::SCAN_PORTS`] (`dport mod 2048`), so a scan repeated
//!   within conntrack's memory meets its own entries again instead of new
//!   ones. The destination's catch-all listens on a range of ports, so the
//!   redirected answers of one source port to many ports stay distinct
//!   five-tuples (see [`crate::node_contract::CATCHALL_PORTS`]).
//! * **Conntrack**: seglab's table `inet seglab_scan` in every node gives
//!   the scan's connections timeouts of a second or two (see [`table`]):
//!   a full scan makes 65,535 entries per protocol on every node on its
//!   path, and the kernel's limit (`nf_conntrack_max`) is shared.

pub mod engine;
pub mod judge;
pub mod ranges;
pub mod report;
mod run;
pub mod select;
pub mod table;
pub(crate) mod wire;

pub use ranges::PortSet;
pub use run::{scan_lab, ScanRequest};

use crate::node_contract::Proto;
use crate::plan::Expected;
use crate::probe::Observed;
use crate::verify::Verdict;
use serde::Serialize;
use std::net::Ipv4Addr;
use std::time::Duration;

/// How one source scans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanOptions {
    /// Rounds at most; a scan still finding answers in its last round
    /// calls the ports still silent `error`, never `blocked`.
    pub max_rounds: u32,
    /// How long a round waits for late answers after its last packet.
    pub grace: Duration,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            max_rounds: 4,
            grace: Duration::from_millis(150),
        }
    }
}

/// One destination and protocol to scan from a source.
#[derive(Debug, Clone)]
pub struct ScanTarget {
    /// The caller's reference, echoed in the [`TargetScan`].
    pub id: usize,
    pub dst: Ipv4Addr,
    pub proto: Proto,
    /// Shared by every target of a scan (a bitmap of 8 KiB each would
    /// grow with the lab).
    pub ports: std::sync::Arc<PortSet>,
    /// Whose identity a UDP answer must carry: the lab and the host.
    pub lab: String,
    pub host: String,
    /// The nodes a probe crosses after it leaves the source: the gateways
    /// on the way and the destination (whose loss counters the backend
    /// reads, see [`engine::Footprint::losses`]).
    pub path: Vec<crate::runtime::NodeRef>,
}

/// Everything one source scans.
#[derive(Debug, Clone)]
pub struct ScanJob {
    /// The source host's address: every probe leaves from it.
    pub src: Ipv4Addr,
    pub targets: Vec<ScanTarget>,
    pub options: ScanOptions,
}

/// Consecutive ports of one target that saw the same.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeenSpan {
    pub first: u16,
    pub last: u16,
    pub observed: Observed,
    /// The ICMP type and its sender of a rejection, who answered in the
    /// destination's place, or why a port could not be told.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Someone other than the destination answered (a UDP identity of
    /// another host or lab).
    pub stranger: bool,
}

/// Ascending ports and what each saw (observed, detail, stranger) as spans
/// of consecutive ports that saw the same.
pub fn spans(
    seen: impl IntoIterator<Item = (u16, Observed, Option<String>, bool)>,
) -> Vec<SeenSpan> {
    let mut out: Vec<SeenSpan> = Vec::new();
    for (port, observed, detail, stranger) in seen {
        match out.last_mut() {
            Some(s)
                if s.last.checked_add(1) == Some(port)
                    && s.observed == observed
                    && s.stranger == stranger
                    && s.detail == detail =>
            {
                s.last = port;
            }
            _ => out.push(SeenSpan {
                first: port,
                last: port,
                observed,
                detail,
                stranger,
            }),
        }
    }
    out
}

/// What one target's ports saw, in ascending spans that cover every port
/// scanned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetScan {
    pub id: usize,
    pub spans: Vec<SeenSpan>,
    /// Rounds run, and probe packets sent in all.
    pub rounds: u32,
    pub packets: u64,
    pub elapsed: Duration,
}

/// Consecutive ports of a host pair with the same judgement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JudgedSpan {
    pub first: u16,
    pub last: u16,
    pub expected: Expected,
    pub observed: Observed,
    pub verdict: Verdict,
    /// The Appendix A flow that permits these ports, if any.
    pub flow: Option<u32>,
    /// The plan's reason: `flow 5`, `same segment`, `host firewall of ams`,
    /// `no flow`.
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl JudgedSpan {
    pub fn len(&self) -> u64 {
        u64::from(self.last - self.first) + 1
    }

    pub fn is_empty(&self) -> bool {
        false
    }
}

/// One host pair and protocol, scanned and judged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PairScan {
    pub src: String,
    pub dst: String,
    pub src_segment: String,
    pub dst_segment: String,
    pub proto: Proto,
    /// Ports scanned.
    pub ports: u64,
    /// Ascending, covering every port scanned.
    pub spans: Vec<JudgedSpan>,
    pub rounds: u32,
    pub packets: u64,
    pub elapsed_ms: u64,
}

/// Ports by verdict, over every pair of a report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ScanSummary {
    /// Host pairs × protocols scanned.
    pub pairs: usize,
    pub ports: u64,
    pub passed: u64,
    pub leaks: u64,
    pub missing: u64,
    pub misrouted: u64,
    pub wrong_block: u64,
    pub host_down: u64,
    pub path_down: u64,
    pub errors: u64,
    /// Probe packets sent in all.
    pub packets: u64,
    pub wall_ms: u64,
}

impl ScanSummary {
    /// Ports that failed the plan (anything but `pass`).
    pub fn failed(&self) -> u64 {
        self.ports - self.passed
    }
}

/// The scan of one lab in one phase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScanReport {
    pub lab: String,
    pub scenario: String,
    /// `base`, or the phase scanned.
    pub phase: String,
    /// What was put back before the scan (a phase left open).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    pub summary: ScanSummary,
    pub pairs: Vec<PairScan>,
}

impl ScanReport {
    pub fn ok(&self) -> bool {
        self.summary.failed() == 0
    }
}
