//! An in-memory lab backend for unit tests of the orchestration: labs,
//! nodes and their seals live in a map, programs run in a node are
//! understood as far as seglab uses them (`nft -f`, `nft -j list`, `ip`),
//! and probes are answered by a script. Nothing is created and no packet
//! is sent; every operation is logged, so a test can assert the order.

use super::{
    Claim, LabBackend, LabInfo, LabSummary, NodeInfo, NodePlace, NodeRef, Placed, Prepared,
    ProbeOptions, Started, UpOptions,
};
use crate::error::{Error, Result};
use crate::health::expect::Expectation;
use crate::netns::NetnsError;
use crate::node_contract::{Identity, NodeKind, Proto, CATCHALL_SERVICE};
use crate::probe::{Observation, Observed, ProbeTarget, Window};
use crate::scenario::Scenario;
use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Output};
use std::sync::Mutex;
use std::time::Duration;

/// What a scripted probe answers: the source, the destination host, the
/// protocol and port, and how many times this cell was probed before.
pub type ProbeScript = dyn Fn(&str, &str, Proto, u16, usize) -> Observed + Send;

/// Called after each batch of probes (e.g. to stop a node mid-run).
pub type AfterProbe = dyn Fn(&mut FakeState) + Send;

#[derive(Debug, Clone)]
pub struct FakeNode {
    pub kind: NodeKind,
    pub running: bool,
    /// The seal's comment, as the node's `seglab_state` table holds it.
    pub seal: Option<String>,
    /// Its routes are gone (as after a restart).
    pub lost_routes: bool,
    /// Rule set changes through `nft -f`; a test that changes `seal` by
    /// hand moves the generation too (see `inspect`), as the kernel would.
    pub generation: u32,
}

#[derive(Debug, Clone)]
pub struct FakeLab {
    pub scenario: Scenario,
    pub nodes: BTreeMap<String, FakeNode>,
}

pub struct FakeState {
    pub labs: BTreeMap<String, FakeLab>,
    /// Every operation, in order: `claim L`, `node N`, `reset N`,
    /// `load N: FIRST-LINE`, `seal N PHASE`, `probe SRC xCOUNT`, `remove L`.
    pub log: Vec<String>,
    /// How often each (src, dst, proto, port) was probed.
    pub probed: BTreeMap<(String, String, Proto, u16), usize>,
    /// `nft -f` on this node fails when the text contains this.
    pub refuse: Option<(String, String)>,
}

/// See the module documentation.
pub struct FakeBackend {
    pub state: Mutex<FakeState>,
    script: Box<ProbeScript>,
    after_probe: Option<Box<AfterProbe>>,
}

impl FakeBackend {
    /// A backend whose probes get what `script` says.
    pub fn new(
        script: impl Fn(&str, &str, Proto, u16, usize) -> Observed + Send + 'static,
    ) -> Self {
        FakeBackend {
            state: Mutex::new(FakeState {
                labs: BTreeMap::new(),
                log: Vec::new(),
                probed: BTreeMap::new(),
                refuse: None,
            }),
            script: Box::new(script),
            after_probe: None,
        }
    }

    /// Runs `f` after every batch of probes.
    pub fn after_probe(mut self, f: impl Fn(&mut FakeState) + Send + 'static) -> Self {
        self.after_probe = Some(Box::new(f));
        self
    }

    pub fn log(&self) -> Vec<String> {
        self.state.lock().unwrap().log.clone()
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut FakeState) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }

    fn lab_of(state: &FakeState, node: &str) -> Option<String> {
        state
            .labs
            .iter()
            .find(|(_, l)| l.nodes.contains_key(node))
            .map(|(n, _)| n.clone())
    }
}

fn ok(stdout: impl Into<Vec<u8>>) -> Output {
    Output {
        status: ExitStatus::from_raw(0),
        stdout: stdout.into(),
        stderr: Vec::new(),
    }
}

/// The `ip -j -4 -batch` answer of a sound node (or one without routes).
fn ip_json(sc: &Scenario, node: &str, lost_routes: bool) -> String {
    let e = Expectation::of(sc, node).expect("a node of the scenario");
    let links: Vec<serde_json::Value> = e
        .addresses
        .iter()
        .enumerate()
        .map(|(i, (_, a))| {
            // A gateway's interfaces as seglab named them.
            let name = e
                .interfaces
                .iter()
                .find(|(x, _)| x == a)
                .map_or(format!("eth{i}"), |(_, n)| n.clone());
            serde_json::json!({"ifname": name, "flags": ["UP"],
                "addr_info": [{"family": "inet", "local": a.to_string()}]})
        })
        .collect();
    let routes: Vec<serde_json::Value> = if lost_routes {
        Vec::new()
    } else {
        e.routes
            .iter()
            .map(|(d, via)| {
                let dst = if d.prefix_len() == 0 {
                    "default".to_string()
                } else {
                    d.to_string()
                };
                serde_json::json!({"dst": dst, "gateway": via.to_string()})
            })
            .collect()
    };
    format!(
        "{}\n{}\n",
        serde_json::Value::Array(links),
        serde_json::Value::Array(routes)
    )
}

impl LabBackend for FakeBackend {
    fn preflight(&self) -> Result<()> {
        Ok(())
    }

    async fn prepare(&self, _opts: &UpOptions) -> Result<Prepared> {
        Ok(Prepared {
            image: "fake".into(),
        })
    }

    async fn claim(&self, lab: &str, sc: &Scenario, _prepared: &Prepared) -> Result<Claim> {
        let mut s = self.state.lock().unwrap();
        if s.labs.contains_key(lab) {
            return Err(Error::Input(format!("lab {lab} already exists")));
        }
        s.labs.insert(
            lab.to_string(),
            FakeLab {
                scenario: sc.clone(),
                nodes: BTreeMap::new(),
            },
        );
        s.log.push(format!("claim {lab}"));
        Ok(Claim {
            lab: lab.to_string(),
            image: "fake".into(),
        })
    }

    async fn create_segments(&self, claim: &Claim, sc: &Scenario) -> Result<Placed> {
        self.with(|s| s.log.push(format!("segments {}", claim.lab)));
        Ok(Placed {
            scenario: sc.clone(),
            segments: BTreeMap::new(),
        })
    }

    async fn create_node(
        &self,
        claim: &Claim,
        _placed: &Placed,
        name: &str,
        kind: NodeKind,
    ) -> Result<Started> {
        self.with(|s| {
            s.log.push(format!("node {name}"));
            let lab = s.labs.get_mut(&claim.lab).expect("claimed");
            lab.nodes.insert(
                name.to_string(),
                FakeNode {
                    kind,
                    running: true,
                    seal: None,
                    lost_routes: false,
                    generation: 0,
                },
            );
        });
        Ok(Started {
            name: name.to_string(),
            kind,
            id: name.to_string(),
        })
    }

    async fn node_ready(&self, node: &Started) -> Result<NodeRef> {
        Ok(NodeRef {
            name: node.name.clone(),
            place: NodePlace::Fake,
        })
    }

    async fn find_lab(&self, lab: &str) -> Result<LabInfo> {
        let s = self.state.lock().unwrap();
        let l = s
            .labs
            .get(lab)
            .ok_or_else(|| Error::Input(format!("no lab named `{lab}`")))?;
        let nodes = l
            .nodes
            .iter()
            .map(|(name, n)| {
                let info = NodeInfo {
                    name: name.clone(),
                    kind: n.kind,
                    id: name.clone(),
                    running: n.running,
                    status: if n.running { "running" } else { "exited" }.into(),
                    node: n.running.then(|| NodeRef {
                        name: name.clone(),
                        place: NodePlace::Fake,
                    }),
                };
                (name.clone(), info)
            })
            .collect();
        Ok(LabInfo {
            name: lab.to_string(),
            scenario: l.scenario.clone(),
            nodes,
        })
    }

    async fn record_scenario(&self, lab: &str, sc: &Scenario) -> Result<()> {
        self.with(|s| {
            let l = s
                .labs
                .get_mut(lab)
                .ok_or_else(|| Error::Input(format!("no lab named `{lab}`")))?;
            l.scenario = sc.clone();
            s.log.push(format!("record {lab}"));
            Ok(())
        })
    }

    async fn list_labs(&self) -> Result<Vec<LabSummary>> {
        let names: Vec<String> = self.with(|s| s.labs.keys().cloned().collect());
        let mut out = Vec::new();
        for n in names {
            out.extend(self.lab_summary(&n).await?);
        }
        Ok(out)
    }

    async fn lab_summary(&self, lab: &str) -> Result<Option<LabSummary>> {
        Ok(self.with(|s| {
            s.labs.get(lab).map(|l| LabSummary {
                name: lab.to_string(),
                scenario: l.scenario.name.clone(),
                running: l.nodes.values().filter(|n| n.running).count(),
                nodes: l.nodes.len(),
                expected: Some(l.scenario.hosts.len() + l.scenario.gateways.len()),
                others: 0,
                networks: l.scenario.segments.len(),
            })
        }))
    }

    async fn remove_lab(&self, lab: &str) -> Result<usize> {
        Ok(self.with(|s| {
            s.log.push(format!("remove {lab}"));
            s.labs.remove(lab).map_or(0, |l| l.nodes.len())
        }))
    }

    async fn remove_all(&self) -> Result<usize> {
        let names: Vec<String> = self.with(|s| s.labs.keys().cloned().collect());
        let mut n = 0;
        for l in names {
            n += self.remove_lab(&l).await?;
        }
        Ok(n)
    }

    async fn run(
        &self,
        node: &NodeRef,
        program: &str,
        args: &[&str],
        stdin: Option<Vec<u8>>,
    ) -> Result<Output, NetnsError> {
        let mut s = self.state.lock().unwrap();
        let name = node.name.as_str();
        let lab = Self::lab_of(&s, name).ok_or(NetnsError::NotFound { pid: 0 })?;
        let text = String::from_utf8_lossy(stdin.as_deref().unwrap_or_default()).into_owned();
        let refused = s
            .refuse
            .as_ref()
            .is_some_and(|(n, needle)| n == name && text.contains(needle.as_str()));
        let refusal = || NetnsError::CommandFailed {
            pid: 0,
            program: "nft".into(),
            status: ExitStatus::from_raw(256),
            stderr: "/dev/stdin:1:1-1: Error: refused by the fake\n".into(),
        };
        match (program, args) {
            // A check changes nothing, as nft's.
            ("nft", ["-c", "-f", "-"]) => {
                s.log.push(format!("check {name}"));
                if refused {
                    return Err(refusal());
                }
                Ok(ok(""))
            }
            ("nft", ["-f", "-"]) => {
                // Every change moves the rule set's generation (a refused
                // file below changes nothing, as nft's transaction).
                if refused {
                    return Err(refusal());
                }
                let n = s.labs.get_mut(&lab).unwrap().nodes.get_mut(name).unwrap();
                n.generation += 1;
                if let Some(c) = text
                    .split("comment \"")
                    .nth(1)
                    .and_then(|t| t.split('"').next())
                {
                    let phase = c.rsplit("phase=").next().unwrap_or("-").to_string();
                    s.log.push(format!("seal {name} {phase}"));
                    let n = s.labs.get_mut(&lab).unwrap().nodes.get_mut(name).unwrap();
                    n.seal = Some(c.to_string());
                } else if text.starts_with("delete table") {
                    // A reset, or `apply`'s reset and load in one.
                    match text.lines().find(|l| {
                        !l.starts_with("delete table")
                            && !l.starts_with("define")
                            && !l.starts_with('#')
                            && !l.trim().is_empty()
                    }) {
                        Some(first) => s.log.push(format!("replace {name}: {}", first.trim())),
                        None => s.log.push(format!("reset {name}")),
                    }
                } else {
                    let first = text
                        .lines()
                        .find(|l| !l.starts_with("define") && !l.starts_with('#'))
                        .unwrap_or("")
                        .trim()
                        .to_string();
                    s.log.push(format!("load {name}: {first}"));
                }
                Ok(ok(""))
            }
            ("nft", ["-j", "-s", "list", "ruleset"]) => {
                let seal = &s.labs[&lab].nodes[name].seal;
                let objs = match seal {
                    Some(c) => serde_json::json!([{"table": {"family": "inet", "name": "filter"}},
                        {"rule": {"family": "inet", "table": "seglab_state", "chain": "state",
                                  "comment": c, "expr": []}}]),
                    None => serde_json::json!([{"table": {"family": "inet", "name": "filter"}}]),
                };
                Ok(ok(serde_json::json!({ "nftables": objs }).to_string()))
            }
            ("ip", ["-j", "-4", "-batch", "-"]) => {
                let l = &s.labs[&lab];
                Ok(ok(ip_json(&l.scenario, name, l.nodes[name].lost_routes)))
            }
            ("nft", ["list", "tables"]) => {
                // `up` loads seglab's scan table into every node.
                Ok(ok("table inet filter\ntable inet seglab_scan\n"))
            }
            ("ip", _) => Ok(ok("")),
            _ => panic!("the fake does not know `{program} {args:?}`"),
        }
    }

    async fn inspect(&self, node: &NodeRef) -> Result<super::NodeNet, NetnsError> {
        let s = self.state.lock().unwrap();
        let name = node.name.as_str();
        let lab = Self::lab_of(&s, name).ok_or(NetnsError::NotFound { pid: 0 })?;
        let l = &s.labs[&lab];
        let mut net = crate::health::expect::net_from_ip_json(&ip_json(
            &l.scenario,
            name,
            l.nodes[name].lost_routes,
        ))
        .expect("the fake's own JSON");
        let n = &l.nodes[name];
        let seal = {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            n.seal.hash(&mut h);
            h.finish() as u32
        };
        net.ruleset_generation = Some(n.generation.wrapping_add(seal));
        Ok(net)
    }

    async fn trace(
        &self,
        node: &NodeRef,
        _sink: std::sync::Arc<dyn crate::trace::evidence::TraceSink>,
    ) -> Result<super::TraceHandle, NetnsError> {
        self.state
            .lock()
            .unwrap()
            .log
            .push(format!("trace {}", node.name));
        // No packets, no events: it only answers syncs.
        let (tx, mut rx) = tokio::sync::mpsc::channel::<tokio::sync::oneshot::Sender<()>>(4);
        let task = tokio::spawn(async move {
            while let Some(ack) = rx.recv().await {
                let _ = ack.send(());
            }
        });
        Ok(super::TraceHandle::new(tx, task))
    }

    async fn probe(
        &self,
        node: &NodeRef,
        targets: Vec<ProbeTarget>,
        _opts: ProbeOptions,
        _window: &Window,
    ) -> Result<Vec<Observation>, NetnsError> {
        let mut s = self.state.lock().unwrap();
        let lab = Self::lab_of(&s, &node.name).ok_or(NetnsError::NotFound { pid: 0 })?;
        let sc = s.labs[&lab].scenario.clone();
        s.log
            .push(format!("probe {} x{}", node.name, targets.len()));
        let mut out = Vec::new();
        for t in targets {
            let dst = sc
                .hosts
                .iter()
                .find(|h| h.address == t.dst)
                .expect("probes go to lab hosts only");
            let key = (node.name.clone(), dst.name.clone(), t.proto, t.port);
            let before = *s.probed.get(&key).unwrap_or(&0);
            s.probed.insert(key, before + 1);
            let observed = (self.script)(&node.name, &dst.name, t.proto, t.port, before);
            let service = dst
                .services
                .iter()
                .find(|x| x.key.proto == t.proto && x.key.port == t.port)
                .map_or(CATCHALL_SERVICE.to_string(), |x| x.service.clone());
            out.push(Observation {
                id: t.id,
                observed,
                responder: (observed == Observed::Open).then(|| Identity {
                    lab: lab.clone(),
                    host: dst.name.clone(),
                    service,
                    proto: t.proto,
                    port: t.port,
                }),
                detail: None,
                elapsed: Duration::from_millis(1),
            });
        }
        if let Some(f) = &self.after_probe {
            f(&mut s);
        }
        Ok(out)
    }

    async fn scan(
        &self,
        node: &NodeRef,
        job: crate::scan::ScanJob,
        _window: &Window,
    ) -> Result<Vec<crate::scan::TargetScan>, NetnsError> {
        let mut s = self.state.lock().unwrap();
        let lab = Self::lab_of(&s, &node.name).ok_or(NetnsError::NotFound { pid: 0 })?;
        let sc = s.labs[&lab].scenario.clone();
        s.log
            .push(format!("scan {} x{}", node.name, job.targets.len()));
        let mut out = Vec::new();
        for t in &job.targets {
            let dst = sc
                .hosts
                .iter()
                .find(|h| h.address == t.dst)
                .expect("scans go to lab hosts only");
            let seen = t.ports.iter().map(|port| {
                let observed = (self.script)(&node.name, &dst.name, t.proto, port, 0);
                (port, observed, None, false)
            });
            out.push(crate::scan::TargetScan {
                id: t.id,
                spans: crate::scan::spans(seen),
                rounds: 2,
                packets: 2 * t.ports.len() as u64,
                elapsed: Duration::from_millis(1),
            });
        }
        if let Some(f) = &self.after_probe {
            f(&mut s);
        }
        Ok(out)
    }

    fn exec_interactive(
        &self,
        _node: &NodeRef,
        _argv: &[String],
    ) -> Result<ExitStatus, NetnsError> {
        Ok(ExitStatus::from_raw(0))
    }

    fn platform_chain_prefix(&self) -> &'static str {
        "PLATFORM_"
    }
}
