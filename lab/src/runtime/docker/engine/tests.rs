//! Tests against the real engine (live: skipped without one, see
//! [`crate::tier`]), beside a few pure ones. Every test labels what it creates with
//! `io.seglab.lab=rt-test-<pid>-<n>` and a [`Fixture`] removes everything so
//! labelled when dropped, even when the test panics. Subnets come from
//! 198.19.(200 + pid % 50).0/24, one /27 per test.

use super::image::{context_tar, split_reference};
use super::*;
use std::sync::atomic::{AtomicUsize, Ordering};

const LAB_LABEL: &str = "io.seglab.lab";
const SLEEPER_ENV: &str = "SEGLAB_RT_SLEEPER";

static COUNTER: AtomicUsize = AtomicUsize::new(0);

struct Fixture {
    rt: Engine,
    lab: String,
    slot: u8,
}

impl Fixture {
    /// `None` without a Docker engine: the calling test is live and
    /// returns, skipped (see [`crate::tier`]).
    async fn new() -> Option<Fixture> {
        if !crate::tier::live(&[crate::tier::Need::Docker]) {
            return None;
        }
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        assert!(n < 8, "one /27 per test: at most 8 fixtures per process");
        Some(Fixture {
            rt: Engine::connect().await.expect("Docker engine"),
            lab: format!("rt-test-{}-{n}", std::process::id()),
            slot: n as u8,
        })
    }

    fn labels(&self) -> HashMap<String, String> {
        HashMap::from([(LAB_LABEL.to_string(), self.lab.clone())])
    }

    fn filter(&self) -> [(&str, &str); 1] {
        [(LAB_LABEL, self.lab.as_str())]
    }

    fn name(&self, what: &str) -> String {
        format!("{}-{what}", self.lab)
    }

    /// This test's /27, as two /28 halves.
    fn subnets(&self) -> (Ipv4Net, Ipv4Net) {
        let third = 200 + (std::process::id() % 50) as u8;
        let fourth = self.slot * 32;
        let a = Ipv4Net::new(Ipv4Addr::new(198, 19, third, fourth), 28).unwrap();
        let b = Ipv4Net::new(Ipv4Addr::new(198, 19, third, fourth + 16), 28).unwrap();
        (a, b)
    }

    /// Networks `a` and `b` on this fixture's two subnets.
    async fn two_networks(&self) -> (String, String) {
        let (a, b) = self.subnets();
        let net_a = self
            .rt
            .create_network(&self.network_spec("a", a))
            .await
            .unwrap();
        let net_b = self
            .rt
            .create_network(&self.network_spec("b", b))
            .await
            .unwrap();
        (net_a, net_b)
    }

    fn network_spec(&self, what: &str, subnet: Ipv4Net) -> NetworkSpec {
        NetworkSpec {
            name: self.name(what),
            subnet,
            docker_gateway: host(subnet, 1),
            labels: self.labels(),
        }
    }

    /// A tiny image: enough to create containers, not to run them.
    fn tiny_context(&self) -> Vec<ContextFile> {
        vec![
            ContextFile {
                path: "Dockerfile".into(),
                bytes: b"FROM scratch\nCOPY nonce /nonce\nCMD [\"/does-not-exist\"]\n".to_vec(),
                mode: 0o644,
            },
            ContextFile {
                path: "nonce".into(),
                bytes: self.lab.as_bytes().to_vec(),
                mode: 0o644,
            },
        ]
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let lab = self.lab.clone();
        // A fresh runtime on its own thread: Drop may run inside (or after) the
        // test's runtime, which cannot be blocked on.
        let outcome = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime")
                .block_on(cleanup(&lab))
        })
        .join();
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("cleanup of {} failed: {e}", self.lab),
            Err(_) => eprintln!("cleanup of {} panicked", self.lab),
        }
    }
}

async fn cleanup(lab: &str) -> Result<(), RuntimeError> {
    let rt = Engine::connect().await?;
    let filter = [(LAB_LABEL, lab)];
    for c in rt.containers(&filter).await? {
        rt.remove_container(&c.id).await?;
    }
    for n in rt.networks(&filter).await? {
        rt.remove_network(&n.id).await?;
    }
    rt.remove_images(&filter).await?;
    Ok(())
}

fn host(net: Ipv4Net, n: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(net.network()) + n)
}

/// PID 1 of the sleeper image: the test binary itself (statically linked),
/// running only this test, which prints a line and sleeps forever when
/// `SEGLAB_RT_SLEEPER` is set, and does nothing otherwise.
#[test]
#[ignore = "runs as the process of a test container"]
fn sleeper() {
    let Ok(line) = std::env::var(SLEEPER_ENV) else {
        return;
    };
    println!("{line}");
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

#[test]
fn context_hash_ignores_order_and_sees_every_byte() {
    let f = |path: &str, bytes: &[u8], mode| ContextFile {
        path: path.into(),
        bytes: bytes.to_vec(),
        mode,
    };
    let a = vec![f("Dockerfile", b"FROM scratch", 0o644), f("x", b"1", 0o755)];
    let b = vec![f("x", b"1", 0o755), f("Dockerfile", b"FROM scratch", 0o644)];
    assert_eq!(context_hash(&a), context_hash(&b));
    assert_eq!(context_hash(&a).len(), 64);
    let mode = vec![f("Dockerfile", b"FROM scratch", 0o644), f("x", b"1", 0o644)];
    assert_ne!(context_hash(&a), context_hash(&mode));
    // Moving bytes between path and content changes the hash.
    let shifted = vec![f("Dockerfile", b"FROM scratch", 0o644), f("x1", b"", 0o755)];
    assert_ne!(context_hash(&a), context_hash(&shifted));
}

#[test]
fn references_split_into_repo_and_tag() {
    assert_eq!(split_reference("seglab-node:abc"), ("seglab-node", "abc"));
    assert_eq!(split_reference("seglab-node"), ("seglab-node", "latest"));
    assert_eq!(
        split_reference("localhost:5000/x/y:t"),
        ("localhost:5000/x/y", "t")
    );
    assert_eq!(
        split_reference("localhost:5000/x"),
        ("localhost:5000/x", "latest")
    );
}

#[test]
fn context_tar_holds_files_with_modes() {
    let files = vec![ContextFile {
        path: "bin/tool".into(),
        bytes: b"hello".to_vec(),
        mode: 0o755,
    }];
    let tar = context_tar(&files).unwrap();
    let mut archive = tar::Archive::new(tar.as_slice());
    let entries: Vec<(String, u32, u64)> = archive
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let h = e.header();
            (
                e.path().unwrap().display().to_string(),
                h.mode().unwrap(),
                h.size().unwrap(),
            )
        })
        .collect();
    assert_eq!(entries, vec![("bin/tool".to_string(), 0o755, 5)]);
}

#[tokio::test]
async fn missing_engine_is_reported_with_where_it_was_looked_for() {
    let err = Engine::connect_to("unix:///nonexistent/seglab/docker.sock", String::new())
        .await
        .unwrap_err();
    assert!(
        matches!(err, RuntimeError::EngineUnreachable { .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    eprintln!("missing engine reads: {msg}");
    assert!(msg.contains("Docker engine is not there"), "{msg}");
    assert!(msg.contains("DOCKER_HOST"), "{msg}");
    assert!(msg.contains("/var/run/docker.sock"), "{msg}");
    assert!(msg.contains("/nonexistent/seglab/docker.sock"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_build_once_race_safely_and_are_removed_by_label() {
    let Some(fx) = Fixture::new().await else {
        return;
    };
    let reference = format!("seglab-rt-test:{}", fx.lab);
    let files = fx.tiny_context();
    let hash = context_hash(&files);

    // Two builders of the same content at once, each with its own connection.
    let other = Engine::connect().await.unwrap();
    let started = Instant::now();
    let labels = fx.labels();
    let (a, b) = tokio::join!(
        fx.rt.ensure_image(&reference, &files, &labels),
        other.ensure_image(&reference, &files, &labels),
    );
    let built_in = started.elapsed();
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(
        a.starts_with("sha256:") && b.starts_with("sha256:"),
        "{a} {b}"
    );

    // Present now: a no-op returning the tagged image.
    let started = Instant::now();
    let again = fx.rt.ensure_image(&reference, &files, &fx.labels()).await;
    let cached_in = started.elapsed();
    let again = again.unwrap();
    let tagged = fx.rt.docker.inspect_image(&reference).await.unwrap();
    assert_eq!(tagged.id.as_deref(), Some(again.as_str()));
    assert!(again == a || again == b, "{again} is neither {a} nor {b}");
    let labels = tagged.config.and_then(|c| c.labels).unwrap_or_default();
    assert_eq!(labels.get(IMAGE_HASH_LABEL), Some(&hash));
    assert_eq!(labels.get(LAB_LABEL), Some(&fx.lab));
    eprintln!("timing: concurrent double build {built_in:?}, cached ensure_image {cached_in:?}");

    // Another reference for the same content: tagged, not rebuilt.
    let second_ref = format!("seglab-rt-test:{}-b", fx.lab);
    let same = fx
        .rt
        .ensure_image(&second_ref, &files, &fx.labels())
        .await
        .unwrap();
    assert_eq!(same, again);

    // A failing build surfaces the builder's message.
    let broken = vec![ContextFile {
        path: "Dockerfile".into(),
        // No step may succeed before the failing one: the classic builder would
        // keep its (unlabelled) intermediate image as cache.
        bytes: format!("FROM scratch\nCOPY missing-file-{} /x\n", fx.lab).into_bytes(),
        mode: 0o644,
    }];
    let err = fx
        .rt
        .ensure_image(
            &format!("seglab-rt-test:{}-broken", fx.lab),
            &broken,
            &fx.labels(),
        )
        .await
        .unwrap_err();
    match &err {
        RuntimeError::Build { message, .. } => {
            assert!(message.contains("missing-file"), "{err}")
        }
        other => panic!("expected a build error, got {other:?}"),
    }

    let removed = fx.rt.remove_images(&fx.filter()).await.unwrap();
    assert!(removed >= 1, "removed {removed}");
    assert!(fx
        .rt
        .image_with_hash(&hash, &reference)
        .await
        .unwrap()
        .is_none());
    let err = fx.rt.docker.inspect_image(&reference).await.unwrap_err();
    assert_eq!(status_of(&err), Some(404), "{err}");
    assert_eq!(fx.rt.remove_images(&fx.filter()).await.unwrap(), 0);
}

#[tokio::test]
async fn networks_are_isolated_bridges_and_overlaps_are_typed() {
    let Some(fx) = Fixture::new().await else {
        return;
    };
    let (a, b) = fx.subnets();
    let spec = fx.network_spec("a", a);
    let started = Instant::now();
    let id = fx.rt.create_network(&spec).await.unwrap();
    eprintln!("timing: network create {:?}", started.elapsed());

    let inspected = fx.rt.docker.inspect_network(&id, None).await.unwrap();
    assert_eq!(inspected.driver.as_deref(), Some("bridge"));
    assert_eq!(inspected.internal, Some(false));
    let options = inspected.options.unwrap_or_default();
    for (k, v) in [
        ("com.docker.network.bridge.enable_ip_masquerade", "false"),
        ("com.docker.network.bridge.inhibit_ipv4", "true"),
        ("com.docker.network.bridge.enable_icc", "true"),
    ] {
        assert_eq!(options.get(k).map(String::as_str), Some(v), "{k}");
    }
    let config = inspected.ipam.unwrap().config.unwrap();
    assert_eq!(config.len(), 1);
    assert_eq!(config[0].subnet.as_deref(), Some(a.to_string().as_str()));
    assert_eq!(
        config[0].gateway.as_deref(),
        Some(host(a, 1).to_string().as_str())
    );

    let listed = fx.rt.networks(&fx.filter()).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, id);
    assert_eq!(listed[0].name, spec.name);
    assert_eq!(listed[0].subnets, vec![a]);
    assert_eq!(listed[0].labels.get(LAB_LABEL), Some(&fx.lab));
    assert!(fx.rt.used_subnets().await.unwrap().contains(&a));

    // The whole /27 overlaps the /28 just made.
    let supernet = a.supernet().unwrap();
    let err = fx
        .rt
        .create_network(&fx.network_spec("overlap", supernet))
        .await
        .unwrap_err();
    match &err {
        RuntimeError::SubnetConflict {
            subnet, network, ..
        } => {
            assert_eq!(*subnet, supernet);
            assert_eq!(*network, fx.name("overlap"));
        }
        other => panic!("expected SubnetConflict, got {other:?}"),
    }
    eprintln!("subnet conflict reads: {err}");

    // The engine accepts a second network with the same name: ids tell them apart.
    let twin = fx
        .rt
        .create_network(&NetworkSpec {
            subnet: b,
            docker_gateway: host(b, 1),
            ..spec.clone()
        })
        .await
        .unwrap();
    assert_ne!(twin, id);
    let listed = fx.rt.networks(&fx.filter()).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|n| n.name == spec.name));
    let other_lab = [(LAB_LABEL, "rt-test-no-such-lab")];
    assert!(fx.rt.networks(&other_lab).await.unwrap().is_empty());

    for net in [&id, &twin] {
        fx.rt.remove_network(net).await.unwrap();
        fx.rt.remove_network(net).await.unwrap();
    }
    assert!(fx.rt.networks(&fx.filter()).await.unwrap().is_empty());
}

#[tokio::test]
async fn containers_get_static_addresses_on_every_network_before_start() {
    let Some(fx) = Fixture::new().await else {
        return;
    };
    let (a, b) = fx.subnets();
    let (net_a, net_b) = fx.two_networks().await;
    let image = fx
        .rt
        .ensure_image(
            &format!("seglab-rt-test:{}", fx.lab),
            &fx.tiny_context(),
            &fx.labels(),
        )
        .await
        .unwrap();

    let spec = ContainerSpec {
        name: fx.name("gw"),
        hostname: "gw".into(),
        image: image.clone(),
        env: vec!["SEGLAB_X=1".into()],
        labels: fx.labels(),
        cap_add: vec!["NET_ADMIN".into()],
        cap_drop: vec!["ALL".into()],
        no_new_privileges: true,
        pids_limit: Some(64),
        memory: Some(64 << 20),
        sysctls: HashMap::from([("net.ipv4.ip_forward".to_string(), "1".to_string())]),
        read_only: true,
        networks: vec![(net_a.clone(), host(a, 2)), (net_b.clone(), host(b, 3))],
    };
    let started = Instant::now();
    let id = fx.rt.create_container(&spec).await.unwrap();
    eprintln!(
        "timing: container create + connect 1 more network {:?}",
        started.elapsed()
    );

    let info = fx.rt.inspect_container(&id).await.unwrap();
    assert_eq!(info.id, id);
    assert_eq!(info.name, spec.name);
    assert_eq!(info.status, "created");
    assert!(!info.running);
    assert_eq!(info.pid, None);
    assert_eq!(info.labels.get(LAB_LABEL), Some(&fx.lab));
    assert_eq!(
        info.addresses,
        vec![(fx.name("a"), host(a, 2)), (fx.name("b"), host(b, 3))]
    );

    let raw = fx.rt.docker.inspect_container(&id, None).await.unwrap();
    let hc = raw.host_config.unwrap();
    assert_eq!(hc.network_mode.as_deref(), Some(net_a.as_str()));
    assert_eq!(hc.privileged, Some(false));
    assert_eq!(hc.readonly_rootfs, Some(true));
    assert_eq!(hc.cap_add, Some(vec!["NET_ADMIN".to_string()]));
    assert_eq!(hc.cap_drop, Some(vec!["ALL".to_string()]));
    assert_eq!(hc.security_opt, Some(vec!["no-new-privileges".to_string()]));
    assert_eq!(hc.pids_limit, Some(64));
    assert_eq!(hc.memory, Some(64 << 20));
    assert_eq!(hc.memory_swap, Some(64 << 20));
    assert_eq!(
        hc.sysctls.unwrap_or_default().get("net.ipv4.ip_forward"),
        Some(&"1".to_string())
    );
    assert_eq!(
        hc.restart_policy.and_then(|r| r.name),
        Some(RestartPolicyNameEnum::NO)
    );
    let config = raw.config.unwrap();
    assert_eq!(config.hostname.as_deref(), Some("gw"));
    assert_eq!(config.stop_timeout, Some(1));
    assert!(config
        .env
        .unwrap_or_default()
        .contains(&"SEGLAB_X=1".to_string()));

    let listed = fx.rt.containers(&fx.filter()).await.unwrap();
    assert_eq!(listed, vec![info]);
    let other_lab = [(LAB_LABEL, "rt-test-no-such-lab")];
    assert!(fx.rt.containers(&other_lab).await.unwrap().is_empty());

    // A name in use is a typed conflict (what claims a lab name).
    let err = fx
        .rt
        .create_container(&ContainerSpec {
            networks: Vec::new(),
            ..spec.clone()
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RuntimeError::NameTaken { name } if *name == spec.name),
        "{err:?}"
    );

    // A missing image and a missing second network are both reported, and the
    // latter leaves no half-made container behind.
    let err = fx
        .rt
        .create_container(&ContainerSpec {
            name: fx.name("noimage"),
            image: format!("seglab-rt-test:{}-absent", fx.lab),
            ..spec.clone()
        })
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    let err = fx
        .rt
        .create_container(&ContainerSpec {
            name: fx.name("nonet"),
            networks: vec![
                (net_a.clone(), host(a, 4)),
                ("seglab-rt-test-no-such-network".into(), host(b, 4)),
            ],
            ..spec.clone()
        })
        .await
        .unwrap_err();
    match &err {
        RuntimeError::NotFound { kind, name } => {
            assert_eq!(
                (*kind, name.as_str()),
                ("network", "seglab-rt-test-no-such-network")
            )
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
    let err = fx
        .rt
        .create_container(&ContainerSpec {
            name: fx.name("badaddr"),
            networks: vec![(net_a.clone(), host(a, 4)), (net_b.clone(), host(a, 4))],
            ..spec.clone()
        })
        .await
        .unwrap_err();
    match &err {
        RuntimeError::AddressOutsideSubnet {
            network, address, ..
        } => assert_eq!((network.clone(), *address), (fx.name("b"), host(a, 4))),
        other => panic!("expected AddressOutsideSubnet, got {other:?}"),
    }
    assert_eq!(fx.rt.containers(&fx.filter()).await.unwrap().len(), 1);

    // The image is in use: kept, silently.
    assert_eq!(fx.rt.remove_images(&fx.filter()).await.unwrap(), 0);

    let started = Instant::now();
    fx.rt.remove_container(&id).await.unwrap();
    eprintln!("timing: container remove {:?}", started.elapsed());
    fx.rt.remove_container(&id).await.unwrap();
    assert!(fx
        .rt
        .inspect_container(&id)
        .await
        .unwrap_err()
        .is_not_found());
    assert!(fx.rt.containers(&fx.filter()).await.unwrap().is_empty());
    assert!(fx.rt.start_container(&id).await.unwrap_err().is_not_found());

    fx.rt.remove_network(&net_a).await.unwrap();
    fx.rt.remove_network(&net_b).await.unwrap();
    assert_eq!(fx.rt.remove_images(&fx.filter()).await.unwrap(), 1);
}

#[tokio::test]
async fn running_containers_log_report_pid_and_die_on_kill() {
    let Some(fx) = Fixture::new().await else {
        return;
    };
    let (a, b) = fx.subnets();
    let (net_a, net_b) = fx.two_networks().await;

    let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
    let dockerfile = "FROM scratch\nCOPY t /t\nENTRYPOINT [\"/t\", \"--exact\", \
                      \"runtime::docker::engine::tests::sleeper\", \"--ignored\", \"--nocapture\", \
                      \"--test-threads=1\"]\n";
    let files = vec![
        ContextFile {
            path: "Dockerfile".into(),
            bytes: dockerfile.as_bytes().to_vec(),
            mode: 0o644,
        },
        ContextFile {
            path: "t".into(),
            bytes: exe,
            mode: 0o755,
        },
    ];
    let started = Instant::now();
    let image = fx
        .rt
        .ensure_image(&format!("seglab-rt-test:{}", fx.lab), &files, &fx.labels())
        .await
        .unwrap();
    eprintln!(
        "timing: build of a {} MB context {:?}",
        files[1].bytes.len() / 1_000_000,
        started.elapsed()
    );

    let ready = format!("sleeper {} ready", fx.lab);
    let spec = ContainerSpec {
        name: fx.name("host"),
        hostname: "host".into(),
        image,
        env: vec![format!("{SLEEPER_ENV}={ready}")],
        labels: fx.labels(),
        cap_add: vec![],
        sysctls: HashMap::new(),
        read_only: true,
        networks: vec![(net_a.clone(), host(a, 5)), (net_b.clone(), host(b, 5))],
        ..ContainerSpec::default()
    };
    let started = Instant::now();
    let id = fx.rt.create_container(&spec).await.unwrap();
    fx.rt.start_container(&id).await.unwrap();
    let create_start = started.elapsed();
    fx.rt
        .wait_for_log_line(&id, &ready, Duration::from_secs(30))
        .await
        .unwrap();
    eprintln!(
        "timing: create + connect + start {create_start:?}, until ready line {:?}",
        started.elapsed()
    );
    // Starting again is harmless.
    fx.rt.start_container(&id).await.unwrap();

    let info = fx.rt.inspect_container(&id).await.unwrap();
    assert!(info.running);
    assert_eq!(info.status, "running");
    assert!(info.pid.is_some_and(|p| p > 1), "{info:?}");
    assert_eq!(
        info.addresses,
        vec![(fx.name("a"), host(a, 5)), (fx.name("b"), host(b, 5))]
    );

    let err = fx
        .rt
        .wait_for_log_line(&id, "never printed", Duration::from_millis(300))
        .await
        .unwrap_err();
    match &err {
        RuntimeError::LogTimeout { logs, .. } => assert!(logs.contains(&ready), "{err}"),
        other => panic!("expected LogTimeout, got {other:?}"),
    }

    let started = Instant::now();
    fx.rt.kill_container(&id).await.unwrap();
    eprintln!("timing: kill {:?}", started.elapsed());
    let info = fx.rt.inspect_container(&id).await.unwrap();
    assert!(!info.running);
    assert_eq!(info.status, "exited");
    assert_eq!(info.pid, None);
    fx.rt.kill_container(&id).await.unwrap();

    let err = fx
        .rt
        .wait_for_log_line(&id, "never printed", Duration::from_secs(10))
        .await
        .unwrap_err();
    match &err {
        RuntimeError::ContainerExited {
            status,
            exit_code,
            logs,
            ..
        } => {
            assert_eq!(status, "exited");
            assert_eq!(*exit_code, Some(137));
            assert!(logs.contains(&ready), "{err}");
        }
        other => panic!("expected ContainerExited, got {other:?}"),
    }

    let started = Instant::now();
    fx.rt.remove_container(&id).await.unwrap();
    eprintln!("timing: remove exited container {:?}", started.elapsed());

    // A running container is removed by force, even by two removers at once.
    let id = fx
        .rt
        .create_container(&ContainerSpec {
            name: fx.name("host2"),
            ..spec.clone()
        })
        .await
        .unwrap();
    fx.rt.start_container(&id).await.unwrap();
    fx.rt
        .wait_for_log_line(&id, &ready, Duration::from_secs(30))
        .await
        .unwrap();
    let started = Instant::now();
    let (r1, r2) = tokio::join!(fx.rt.remove_container(&id), fx.rt.remove_container(&id));
    eprintln!(
        "timing: two concurrent removes of a running container {:?}",
        started.elapsed()
    );
    r1.unwrap();
    r2.unwrap();
    assert!(fx
        .rt
        .inspect_container(&id)
        .await
        .unwrap_err()
        .is_not_found());

    fx.rt.remove_network(&net_a).await.unwrap();
    fx.rt.remove_network(&net_b).await.unwrap();
}

#[tokio::test]
async fn missing_objects_are_not_found_or_already_gone() {
    let Some(fx) = Fixture::new().await else {
        return;
    };
    let err = fx
        .rt
        .kill_container("seglab-rt-test-no-such-container")
        .await;
    assert!(err.unwrap_err().is_not_found());
    fx.rt
        .remove_container("seglab-rt-test-no-such-container")
        .await
        .unwrap();
    fx.rt
        .remove_network("seglab-rt-test-no-such-network")
        .await
        .unwrap();
}
