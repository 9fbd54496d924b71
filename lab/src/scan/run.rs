//! Scanning a running lab: which pairs, the nodes looked at before and
//! after (a pair whose end host is down is `host-down`, one whose path
//! crosses a broken node `path-down`, never `blocked`), the phase opened
//! and closed, the sources run concurrently, every port judged.

use super::judge::{judge_target, summarize, unjudged};
use super::select::{select_pairs, Selector};
use super::table::reload_scan_table;
use super::{PairScan, PortSet, ScanJob, ScanOptions, ScanReport, ScanTarget, TargetScan};
use crate::error::{Error, Result};
use crate::health::{self, LabHealth};
use crate::node_contract::Proto;
use crate::plan::flows_in;
use crate::probe::{Observed, Window};
use crate::runtime::{LabBackend, LabInfo, NodeRef};
use crate::verify::phases::{close_on, open_phase, start, Start};
use futures_util::StreamExt;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

/// Sources scanning at once. Every packet of a probe, its answer and the
/// source's reset run through the whole path in the kernel on the CPU
/// that sent it, so a scan is bound by CPUs, not by waiting, and one
/// source's two scanner threads keep two CPUs busy. And every target in
/// flight holds up to 65,535 entries of the machine's conntrack table
/// until it ends: two sources of each of two labs (`seglab test --scan`)
/// filled it (262,144), and a full table loses packets.
const SCAN_SOURCES: usize = 1;

/// What to scan.
#[derive(Debug, Clone)]
pub struct ScanRequest {
    pub from: Selector,
    pub to: Selector,
    /// Protocols, in the order scanned.
    pub protos: Vec<Proto>,
    pub ports: PortSet,
    pub options: ScanOptions,
}

impl Default for ScanRequest {
    fn default() -> Self {
        ScanRequest {
            from: Selector::Any,
            to: Selector::Any,
            protos: vec![Proto::Tcp, Proto::Udp],
            ports: PortSet::all(),
            options: ScanOptions::default(),
        }
    }
}

/// One target of the scan: its pair and protocol.
struct Planned {
    src: String,
    dst: String,
    proto: Proto,
}

/// `seglab scan`: scans lab `lab` under the base policy or with `phase`
/// open (opened and closed again, as `verify --phase` does).
pub async fn scan_lab<B: LabBackend>(
    b: &B,
    lab: &str,
    phase: Option<&str>,
    req: &ScanRequest,
) -> Result<ScanReport> {
    let info = b.find_lab(lab).await?;
    let sc = info.scenario.clone();
    // Bad input is said before anything is touched.
    flows_in(&sc, phase)?;
    let pairs = select_pairs(&sc, &req.from, &req.to).map_err(|e| Error::Input(e.to_string()))?;
    let hosts: BTreeSet<&str> = pairs
        .iter()
        .flat_map(|(s, d)| [s.as_str(), d.as_str()])
        .collect();
    let hosts: Vec<&str> = hosts.into_iter().collect();
    let Start {
        info,
        notes,
        checked,
    } = start(b, info, Some(&hosts)).await?;
    let Some(phase) = phase else {
        let mut report = scan_pairs(b, &info, None, &pairs, req, checked).await?;
        report.notes = notes;
        return Ok(report);
    };
    let opened_on = open_phase(b, &info, phase, None).await?;
    let scanned = scan_pairs(b, &info, Some(phase), &pairs, req, None).await;
    close_on(b, &info, &opened_on, Some(phase)).await?;
    let mut report = scanned?;
    report.notes = notes;
    Ok(report)
}

/// Makes sure every node that the scan's packets cross has seglab's scan
/// table (labs made before it existed lack it; `up` loads it).
async fn ensure_scan_tables<B: LabBackend>(b: &B, nodes: &[&NodeRef]) -> Result<()> {
    let loads = nodes.iter().map(|node| async move {
        let listed = b
            .run(node, "nft", &["list", "tables"], None)
            .await
            .map_err(Error::from)?;
        let wanted = format!("table inet {}", super::table::SCAN_TABLE);
        if String::from_utf8_lossy(&listed.stdout)
            .lines()
            .any(|l| l.trim() == wanted)
        {
            return Ok(());
        }
        let out = b
            .run(
                node,
                "nft",
                &["-f", "-"],
                Some(reload_scan_table().into_bytes()),
            )
            .await
            .map_err(Error::from)?;
        if out.status.success() {
            Ok(())
        } else {
            Err(Error::Environment(format!(
                "cannot load seglab's scan table into {}: {}",
                node.name,
                String::from_utf8_lossy(&out.stderr).trim()
            )))
        }
    });
    for r in futures_util::future::join_all(loads).await {
        r?;
    }
    Ok(())
}

/// Scans `pairs` once: looks at their nodes, scans what can be judged,
/// looks again, and judges every port.
async fn scan_pairs<B: LabBackend>(
    b: &B,
    info: &LabInfo,
    phase: Option<&str>,
    pairs: &[(String, String)],
    req: &ScanRequest,
    checked: Option<LabHealth>,
) -> Result<ScanReport> {
    let wall = Instant::now();
    let sc = &info.scenario;
    let flows = flows_in(sc, phase)?;
    let window = Window::shared().map_err(|e| Error::Environment(e.to_string()))?;
    let before = match checked {
        Some(h) => h,
        None => health::check(b, info).await,
    };
    let host = |name: &str| {
        sc.host(name)
            .expect("selected pairs are hosts of the scenario")
    };
    let mut planned: Vec<Planned> = Vec::new();
    let mut judged: BTreeMap<usize, PairScan> = BTreeMap::new();
    let mut jobs: BTreeMap<&str, (&NodeRef, ScanJob)> = BTreeMap::new();
    let mut crossed: BTreeSet<&str> = BTreeSet::new();
    let ports = std::sync::Arc::new(req.ports.clone());
    for (src, dst) in pairs {
        for &proto in &req.protos {
            let id = planned.len();
            planned.push(Planned {
                src: src.clone(),
                dst: dst.clone(),
                proto,
            });
            let (s, d) = (host(src), host(dst));
            let node = info.node(src).and_then(|n| n.node.as_ref());
            let problem = before.unjudgeable(sc, src, dst).or_else(|| {
                node.is_none()
                    .then(|| (Observed::HostDown, format!("{src} is not running")))
            });
            if let Some((observed, why)) = problem {
                let p = unjudged(sc, &flows, s, d, proto, &req.ports, observed, &why);
                judged.insert(id, p);
                continue;
            }
            crossed.insert(src);
            crossed.insert(dst);
            crossed.extend(
                crate::scenario::topology::host_path(sc, src, dst)
                    .into_iter()
                    .filter_map(|g| sc.gateway(&g).map(|g| g.name.as_str())),
            );
            let node = node.expect("checked above");
            let gateways = crate::scenario::topology::host_path(sc, src, dst);
            let path: Vec<NodeRef> = gateways
                .iter()
                .map(String::as_str)
                .chain(std::iter::once(dst.as_str()))
                .filter_map(|n| info.node(n).and_then(|n| n.node.clone()))
                .collect();
            jobs.entry(src.as_str())
                .or_insert_with(|| {
                    (
                        node,
                        ScanJob {
                            src: s.address,
                            targets: Vec::new(),
                            options: req.options,
                        },
                    )
                })
                .1
                .targets
                .push(ScanTarget {
                    id,
                    dst: d.address,
                    proto,
                    ports: std::sync::Arc::clone(&ports),
                    lab: info.name.clone(),
                    host: dst.clone(),
                    path,
                });
        }
    }
    let nodes: Vec<&NodeRef> = crossed
        .iter()
        .filter_map(|n| info.node(n).and_then(|n| n.node.as_ref()))
        .collect();
    ensure_scan_tables(b, &nodes).await?;
    let window = &window;
    let results: Vec<Result<Vec<TargetScan>>> = futures_util::stream::iter(jobs.into_values())
        .map(|(node, job)| async move {
            let src = node.name.clone();
            match b.scan(node, job.clone(), window).await {
                Ok(scans) => Ok(scans),
                // The source vanished while we entered its namespace.
                Err(crate::netns::NetnsError::NotFound { .. }) => Ok(job
                    .targets
                    .iter()
                    .map(|t| TargetScan {
                        id: t.id,
                        spans: super::spans(t.ports.iter().map(|p| {
                            let why = format!("{src} stopped during the scan");
                            (p, Observed::HostDown, Some(why), false)
                        })),
                        rounds: 0,
                        packets: 0,
                        elapsed: std::time::Duration::ZERO,
                    })
                    .collect()),
                Err(e) => Err(Error::from(e)),
            }
        })
        .buffer_unordered(SCAN_SOURCES)
        .collect()
        .await;
    // A node that broke during the scan makes its pairs' answers (and
    // above all their silence) meaningless.
    let info_after = b.find_lab(&info.name).await?;
    let mut after = health::check_again(b, &info_after, &before).await;
    after.note_restarts(&before);
    for r in results {
        for scanned in r? {
            let p = &planned[scanned.id];
            let (s, d) = (host(&p.src), host(&p.dst));
            let pair = match after.unjudgeable(sc, &p.src, &p.dst) {
                Some((observed, why)) => unjudged(
                    sc,
                    &flows,
                    s,
                    d,
                    p.proto,
                    &req.ports,
                    observed,
                    &format!("{why} (during the scan)"),
                ),
                None => judge_target(sc, &flows, s, d, p.proto, &scanned),
            };
            judged.insert(scanned.id, pair);
        }
    }
    let pairs: Vec<PairScan> = judged.into_values().collect();
    Ok(ScanReport {
        lab: info.name.clone(),
        scenario: sc.name.clone(),
        phase: phase.unwrap_or("base").to_string(),
        notes: Vec::new(),
        summary: summarize(&pairs, wall.elapsed()),
        pairs,
    })
}
