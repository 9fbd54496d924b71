//! The trace events of one probing round, matched to the probes.
//!
//! A probe takes its source port from [`Evidence::source_port`] and, before
//! its first packet leaves, says which five-tuple it is ([`Evidence::expect`]).
//! The listeners of the traced nodes feed every event in
//! ([`TraceSink::events`]). Each node's events are grouped into walks, one
//! per packet: a walk starts where every traced packet starts, in seglab's
//! trace chain, and gathers the decisions of every chain the packet then
//! meets in that node (the kernel numbers the events of one packet with one
//! trace id, and reuses ids for later packets).
//!
//! A walk of a probe's packet (or of its answer) that a chain drops decides
//! the probe: it is told at once through its [`DropWait`]. A drop by a
//! `reject` rule is no such evidence: the kernel reports it as `drop` too,
//! but the probe gets the refusal itself and must report it as rejected. The
//! first drop decides, and later events for the same probe (a retransmitted
//! SYN, a datagram sent again) never change it.
//!
//! Walks are kept until the round ends, so that a probe's explanation has
//! every node's part, also of events read after the probe was decided.

use super::netlink::{Step, TraceEvent, Verdict};
use super::{Decision, Flow, Walk, PROBE_PORTS};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// Where a listener delivers the events it reads.
pub trait TraceSink: Send + Sync + 'static {
    /// Events read in node `node`, in the order the kernel emitted them.
    fn events(&self, node: &str, events: Vec<TraceEvent>);
    /// Events of node `node` were lost (the listener fell behind).
    fn lost(&self, node: &str);
}

/// A rule of a node's rule set: family, table and handle.
pub type RuleRef = (String, String, u64);

/// What seglab knows of a traced node before the round.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeFacts {
    /// Interface names by index.
    pub interfaces: BTreeMap<u32, String>,
    /// Rules whose verdict is a reject (the kernel reports them as drops).
    pub rejects: BTreeSet<RuleRef>,
    /// The IPv4 address of each interface (to name its segment).
    pub addresses: BTreeMap<String, std::net::Ipv4Addr>,
    /// The platform's own tables (family, name): their chains are left out
    /// of explanations.
    pub platform_tables: BTreeSet<(String, String)>,
}

/// A drop seen for a probe's packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropSeen {
    pub node: String,
    /// `family table chain`.
    pub chain: String,
    /// The rule's handle, or `None` for the chain's policy.
    pub handle: Option<u64>,
    /// True when the probe's answer, not the probe itself, was dropped.
    pub answer: bool,
}

impl std::fmt::Display for DropSeen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = if self.answer { "its answer" } else { "it" };
        match self.handle {
            None => write!(
                f,
                "{} dropped {what}: {} policy drop",
                self.node, self.chain
            ),
            Some(h) => write!(
                f,
                "{} dropped {what}: {} rule handle {h}",
                self.node, self.chain
            ),
        }
    }
}

/// Resolves when a drop of the probe's packets is seen; never, when none is.
pub struct DropWait(Option<oneshot::Receiver<DropSeen>>);

impl DropWait {
    /// A wait that never ends (no evidence is gathered).
    pub fn never() -> DropWait {
        DropWait(None)
    }

    /// The first drop seen.
    pub async fn dropped(&mut self) -> DropSeen {
        match self.0.as_mut() {
            Some(rx) => match rx.await {
                Ok(seen) => seen,
                // The round ended: no evidence will come.
                Err(_) => std::future::pending().await,
            },
            None => std::future::pending().await,
        }
    }
}

/// A node's part of one probe: the walks of its packets and answers there.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NodeWalk {
    pub node: String,
    pub walk: Walk,
    /// True for the probe's answer (reply direction).
    pub answer: bool,
}

#[derive(Default)]
struct Slot {
    flow: Option<Flow>,
    notify: Option<oneshot::Sender<DropSeen>>,
    walks: Vec<NodeWalk>,
}

#[derive(Default)]
struct NodeState {
    facts: NodeFacts,
    /// Trace id -> the walk its current packet belongs to (probe id and
    /// index of the walk), or `None` when the packet is no probe's.
    current: HashMap<u32, Option<(usize, usize)>>,
    lost: bool,
}

#[derive(Default)]
struct State {
    /// Five-tuples (both directions) -> probe id.
    flows: HashMap<Flow, usize>,
    /// Probe id -> its slot.
    slots: HashMap<usize, Slot>,
    nodes: HashMap<String, NodeState>,
}

/// The evidence board of one round. Cheap to clone; shared by the prober
/// (on its namespace threads) and the listeners.
#[derive(Clone, Default)]
pub struct Evidence {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    next_port: AtomicU32,
    state: Mutex<State>,
}

/// The first chain of every traced packet: where its walk begins.
fn is_trace_chain(e: &TraceEvent) -> bool {
    e.table == super::table::TRACE_TABLE
}

impl Evidence {
    pub fn new() -> Evidence {
        Evidence::default()
    }

    /// Tells the board about a node whose events will come.
    pub fn add_node(&self, node: &str, facts: NodeFacts) {
        let mut st = self.inner.state.lock().expect("evidence lock");
        st.nodes.insert(
            node.to_string(),
            NodeState {
                facts,
                ..NodeState::default()
            },
        );
    }

    /// A source port for a probe: a random one of [`PROBE_PORTS`] (the
    /// caller binds it, and takes another when it is in use). Never a
    /// sequence: when the catch-all took every port on one port, two UDP
    /// probes from one source port to two ports of one host shared the
    /// redirected answer's five-tuple, and the second was dropped while the
    /// first one's conntrack entry lived. The catch-all's range of ports
    /// now keeps such tuples apart; random ports still keep any clash that
    /// is left rare and independent, so a retry clears it.
    pub fn source_port(&self) -> u16 {
        let (lo, hi) = (*PROBE_PORTS.start() as u32, *PROBE_PORTS.end() as u32);
        let n = getrandom::u32()
            .unwrap_or_else(|_| self.inner.next_port.fetch_add(7919, Ordering::Relaxed));
        (lo + n % (hi - lo + 1)) as u16
    }

    /// Probe `probe` sends `flow`: its drops are looked for from now on.
    pub fn expect(&self, probe: usize, flow: Flow) -> DropWait {
        let (tx, rx) = oneshot::channel();
        let mut st = self.inner.state.lock().expect("evidence lock");
        if let Some(old) = st.slots.get(&probe).and_then(|s| s.flow) {
            st.flows.remove(&old);
            st.flows.remove(&old.reversed());
        }
        st.flows.insert(flow, probe);
        st.flows.insert(flow.reversed(), probe);
        let slot = st.slots.entry(probe).or_default();
        slot.flow = Some(flow);
        slot.notify = Some(tx);
        DropWait(Some(rx))
    }

    /// Every walk seen for probe `probe`, in the order they began per node.
    pub fn walks(&self, probe: usize) -> Vec<NodeWalk> {
        let st = self.inner.state.lock().expect("evidence lock");
        st.slots
            .get(&probe)
            .map(|s| s.walks.clone())
            .unwrap_or_default()
    }

    /// Nodes whose listener fell behind and lost events this round.
    pub fn lossy_nodes(&self) -> Vec<String> {
        let st = self.inner.state.lock().expect("evidence lock");
        let mut v: Vec<String> = st
            .nodes
            .iter()
            .filter(|(_, n)| n.lost)
            .map(|(k, _)| k.clone())
            .collect();
        v.sort();
        v
    }

    fn feed(st: &mut State, node: &str, e: TraceEvent) {
        let Some(ns) = st.nodes.get_mut(node) else {
            return;
        };
        if is_trace_chain(&e) {
            // A new packet begins its walk here (its headers come with the
            // chain's first event), or it is the trace chain's own verdict.
            let Some(packet) = &e.packet else {
                return;
            };
            let found = packet.flow.and_then(|f| {
                let probe = *st.flows.get(&f)?;
                let answer = st.slots.get(&probe)?.flow != Some(f);
                Some((probe, answer))
            });
            let name = |i: Option<u32>| {
                i.map(|i| {
                    ns.facts
                        .interfaces
                        .get(&i)
                        .cloned()
                        .unwrap_or_else(|| format!("if{i}"))
                })
            };
            let entry = found.and_then(|(probe, answer)| {
                let slot = st.slots.get_mut(&probe)?;
                slot.walks.push(NodeWalk {
                    node: node.to_string(),
                    answer,
                    walk: Walk {
                        id: format!("{:08x}", e.id),
                        flow: packet.flow,
                        iif: name(packet.iif),
                        oif: name(packet.oif),
                        decisions: Vec::new(),
                    },
                });
                Some((probe, slot.walks.len() - 1))
            });
            ns.current.insert(e.id, entry);
            return;
        }
        let Some(Some((probe, at))) = ns.current.get(&e.id).copied() else {
            return;
        };
        let Some(slot) = st.slots.get_mut(&probe) else {
            return;
        };
        let nw = &mut slot.walks[at];
        if let Some(p) = &e.packet {
            // A later hook knows the way out.
            if nw.walk.oif.is_none() {
                nw.walk.oif = p.oif.map(|i| {
                    ns.facts
                        .interfaces
                        .get(&i)
                        .cloned()
                        .unwrap_or_else(|| format!("if{i}"))
                });
            }
        }
        let Some(verdict) = &e.verdict else {
            return;
        };
        // The kernel also reports the end of a chain's rules as a rule
        // step without a rule (nft does not print it): no decision.
        if e.step == Step::Rule && e.handle.is_none() {
            return;
        }
        let reject = e.handle.is_some_and(|h| {
            ns.facts
                .rejects
                .contains(&(e.family.clone(), e.table.clone(), h))
        });
        let shown = if reject && *verdict == Verdict::Drop {
            "reject".to_string()
        } else {
            verdict.to_string()
        };
        nw.walk.decisions.push(Decision {
            chain: e.chain_path(),
            handle: if e.step == Step::Rule { e.handle } else { None },
            rule: None,
            verdict: shown,
        });
        if e.drops() && !reject {
            if let Some(tx) = slot.notify.take() {
                let _ = tx.send(DropSeen {
                    node: node.to_string(),
                    chain: e.chain_path(),
                    handle: if e.step == Step::Rule { e.handle } else { None },
                    answer: nw.answer,
                });
            }
        }
    }
}

impl TraceSink for Evidence {
    fn events(&self, node: &str, events: Vec<TraceEvent>) {
        let mut st = self.inner.state.lock().expect("evidence lock");
        for e in events {
            Evidence::feed(&mut st, node, e);
        }
    }

    fn lost(&self, node: &str) {
        let mut st = self.inner.state.lock().expect("evidence lock");
        if let Some(n) = st.nodes.get_mut(node) {
            n.lost = true;
            // Walks in progress may miss their ends: start afresh.
            n.current.clear();
        }
        tracing::warn!("trace events of {node} were lost; some probes wait for their timeout");
    }
}

#[cfg(test)]
#[path = "evidence_tests.rs"]
mod tests;
