use super::*;
use crate::netns::tests::TestNs;
use crate::node_contract::Greeting;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpSocket;

const T: Duration = Duration::from_millis(500);

/// A window that never holds a test back.
fn wide() -> Window {
    Window::new(window::Size {
        probes: 4096,
        sources: 16,
    })
}

fn identity(proto: Proto, port: u16) -> Identity {
    Identity {
        lab: "t1".into(),
        host: "ams".into(),
        service: "console".into(),
        proto,
        port,
    }
}

fn opts(timeout: Duration, concurrency: usize) -> ProbeOptions {
    ProbeOptions {
        timeout,
        concurrency,
        evidence: None,
    }
}

fn target(id: usize, proto: Proto, port: u16) -> ProbeTarget {
    ProbeTarget {
        id,
        src: Ipv4Addr::LOCALHOST,
        dst: Ipv4Addr::LOCALHOST,
        proto,
        port,
    }
}

/// Serves `answer` to every TCP connection on `listener`.
fn serve_tcp(listener: std::net::TcpListener, answer: Option<String>) {
    listener.set_nonblocking(true).unwrap();
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = listener.accept().await else {
                return;
            };
            let answer = answer.clone();
            tokio::spawn(async move {
                match answer {
                    Some(a) => {
                        let _ = conn.write_all(a.as_bytes()).await;
                        let mut sink = [0u8; 16];
                        let _ = conn.read(&mut sink).await;
                    }
                    // Says nothing and keeps the connection open.
                    None => tokio::time::sleep(Duration::from_secs(10)).await,
                }
            });
        }
    });
}

fn tcp_listener(backlog: u32) -> std::net::TcpListener {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_reuseaddr(true).unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    socket.listen(backlog).unwrap().into_std().unwrap()
}

/// A port with nobody listening (bound, then released).
fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A UDP port nothing listens on, and that no socket of another test can
/// take meanwhile: below the kernel's ephemeral range, which every
/// `bind(0)` (the prober's own source sockets among them) draws from. A
/// port handed out by `bind(0)` and released could be the next source
/// port, and a probe sent from it to itself answers itself.
fn free_udp_port() -> u16 {
    (20_000..30_000)
        .find(|p| std::net::UdpSocket::bind(("127.0.0.1", *p)).is_ok())
        .expect("a free UDP port in 20000-29999")
}

/// Answers every datagram on `socket` with `answer(port)`.
fn serve_udp(socket: std::net::UdpSocket, answer: String) {
    socket.set_nonblocking(true).unwrap();
    let socket = UdpSocket::from_std(socket).unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 512];
        while let Ok((_, from)) = socket.recv_from(&mut buf).await {
            let _ = socket.send_to(answer.as_bytes(), from).await;
        }
    });
}

#[tokio::test]
async fn tcp_open_reports_the_responder() {
    let listener = tcp_listener(128);
    let port = listener.local_addr().unwrap().port();
    for greeting in [Greeting::Plain, Greeting::Ssh, Greeting::Smtp] {
        let listener = listener.try_clone().unwrap();
        let id = identity(Proto::Tcp, port);
        serve_tcp(listener, Some(id.greeting(greeting)));
        let obs = run_probes(vec![target(7, Proto::Tcp, port)], &opts(T, 8), &wide()).await;
        assert_eq!(obs.len(), 1);
        assert_eq!(obs[0].id, 7);
        assert_eq!(obs[0].observed, Observed::Open, "{:?}", obs[0]);
        assert_eq!(obs[0].responder, Some(id));
    }
}

#[tokio::test]
async fn tcp_closed_port_is_rejected_by_reset() {
    let port = free_tcp_port();
    let obs = run_probes(vec![target(0, Proto::Tcp, port)], &opts(T, 8), &wide()).await;
    assert_eq!(obs[0].observed, Observed::Rejected, "{:?}", obs[0]);
    assert!(
        obs[0].detail.as_deref().unwrap().contains("TCP reset"),
        "{:?}",
        obs[0]
    );
}

#[tokio::test]
async fn tcp_without_identity_is_an_error() {
    let silent = tcp_listener(16);
    let silent_port = silent.local_addr().unwrap().port();
    serve_tcp(silent, None);
    let chatty = tcp_listener(16);
    let chatty_port = chatty.local_addr().unwrap().port();
    serve_tcp(chatty, Some("HTTP/1.1 400 Bad Request\r\n\r\n".into()));
    let obs = run_probes(
        vec![
            target(0, Proto::Tcp, silent_port),
            target(1, Proto::Tcp, chatty_port),
        ],
        &opts(T, 8),
        &wide(),
    )
    .await;
    // The silent peer was given the whole timeout; the chatty one was
    // judged on its answer, without waiting for the timeout.
    assert_eq!(obs[0].observed, Observed::Error, "{:?}", obs[0]);
    assert_eq!(
        obs[0].detail.as_deref(),
        Some(format!("connected, but no identity within {T:?}").as_str()),
    );
    assert_eq!(obs[1].observed, Observed::Error, "{:?}", obs[1]);
    let detail = obs[1].detail.as_deref().unwrap();
    assert!(detail.contains("HTTP/1.1 400"), "{detail}");
    assert!(!detail.contains("within"), "{detail}");
}

#[tokio::test]
async fn udp_open_reports_the_responder() {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = socket.local_addr().unwrap().port();
    let id = identity(Proto::Udp, port);
    serve_udp(socket, id.greeting(Greeting::Plain));
    let obs = run_probes(vec![target(3, Proto::Udp, port)], &opts(T, 8), &wide()).await;
    assert_eq!(obs[0].observed, Observed::Open, "{:?}", obs[0]);
    assert_eq!(obs[0].responder, Some(id));
}

#[tokio::test]
async fn udp_closed_port_is_rejected_by_icmp() {
    let port = free_udp_port();
    let obs = run_probes(vec![target(0, Proto::Udp, port)], &opts(T, 8), &wide()).await;
    assert_eq!(obs[0].observed, Observed::Rejected, "{:?}", obs[0]);
    let detail = obs[0].detail.as_deref().unwrap();
    assert!(
        detail.contains("ICMP port-unreachable from 127.0.0.1"),
        "{detail}"
    );
}

#[tokio::test]
async fn a_lost_udp_probe_is_sent_again() {
    // A responder that ignores the first datagram of every client, and
    // counts the datagrams.
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = socket.local_addr().unwrap().port();
    let answer = identity(Proto::Udp, port).greeting(Greeting::Plain);
    let received = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&received);
    tokio::spawn(async move {
        let mut seen = std::collections::HashSet::new();
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            assert_eq!(
                &buf[..n],
                crate::node_contract::probe_payload(port).as_bytes()
            );
            count.fetch_add(1, Ordering::SeqCst);
            if !seen.insert(from) {
                let _ = socket.send_to(answer.as_bytes(), from).await;
            }
        }
    });
    let obs = run_probes(vec![target(0, Proto::Udp, port)], &opts(T, 8), &wide()).await;
    // Open within the one timeout, from an answer to a datagram sent again.
    assert_eq!(obs[0].observed, Observed::Open, "{:?}", obs[0]);
    assert!(received.load(Ordering::SeqCst) >= 2);
}

#[tokio::test]
async fn udp_reply_without_identity_is_an_error() {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = socket.local_addr().unwrap().port();
    serve_udp(socket, "pong\n".into());
    let obs = run_probes(vec![target(0, Proto::Udp, port)], &opts(T, 8), &wide()).await;
    assert_eq!(obs[0].observed, Observed::Error, "{:?}", obs[0]);
    assert!(obs[0].detail.as_deref().unwrap().contains("pong"));
}

#[tokio::test]
async fn results_keep_the_order_of_the_targets() {
    // A slow probe first, fast ones after: completion order differs.
    let silent = tcp_listener(16);
    let silent_port = silent.local_addr().unwrap().port();
    serve_tcp(silent, None);
    let open = tcp_listener(16);
    let open_port = open.local_addr().unwrap().port();
    serve_tcp(
        open,
        Some(identity(Proto::Tcp, open_port).greeting(Greeting::Plain)),
    );
    let closed = free_tcp_port();
    let targets = vec![
        target(10, Proto::Tcp, silent_port),
        target(11, Proto::Tcp, closed),
        target(12, Proto::Tcp, open_port),
        target(13, Proto::Udp, free_udp_port()),
    ];
    let obs = run_probes(targets, &opts(T, 8), &wide()).await;
    let got: Vec<_> = obs.iter().map(|o| (o.id, o.observed)).collect();
    assert_eq!(
        got,
        vec![
            (10, Observed::Error),
            (11, Observed::Rejected),
            (12, Observed::Open),
            (13, Observed::Rejected),
        ]
    );
}

/// Accepts and holds every connection without a word; returns the most
/// connections that were alive at once.
fn count_silent_peers(listener: std::net::TcpListener) -> Arc<AtomicUsize> {
    let most = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&most);
    listener.set_nonblocking(false).unwrap();
    std::thread::spawn(move || {
        let mut held: Vec<std::net::TcpStream> = Vec::new();
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            conn.set_nonblocking(true).unwrap();
            // A probe resets its connection (SO_LINGER 0) before it lets
            // the next one in. On loopback the reset usually has arrived by
            // the time `close` returns, but on a busy machine the kernel
            // may defer it to ksoftirqd for a few milliseconds (a full
            // lib test run counted 6 of a window of 3 that way). A
            // connection the window let in too early lives the whole probe
            // timeout (100 ms), so a short settle tells the two apart.
            std::thread::sleep(Duration::from_millis(20));
            held.retain(|c| {
                let mut b = [0u8; 1];
                matches!(c.peek(&mut b), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
            });
            held.push(conn);
            seen.fetch_max(held.len(), Ordering::SeqCst);
        }
    });
    most
}

#[tokio::test]
async fn one_window_bounds_the_probes_of_every_source() {
    let listener = tcp_listener(64);
    let port = listener.local_addr().unwrap().port();
    let most = count_silent_peers(listener);
    let window = Window::new(window::Size {
        probes: 3,
        sources: 2,
    });
    let t = Duration::from_millis(100);
    let batch = |first: usize| {
        (first..first + 6)
            .map(|i| target(i, Proto::Tcp, port))
            .collect()
    };
    let wide_open = opts(t, 100);
    let (a, b) = tokio::join!(
        run_probes(batch(0), &wide_open, &window),
        run_probes(batch(6), &wide_open, &window)
    );
    for o in a.iter().chain(&b) {
        assert_eq!(o.observed, Observed::Error, "{o:?}");
        assert!(
            o.detail.as_deref().unwrap().contains("no identity"),
            "{o:?}"
        );
    }
    assert_eq!(most.load(Ordering::SeqCst), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_tcp_probes_are_all_open() {
    let listener = tcp_listener(4096);
    let port = listener.local_addr().unwrap().port();
    let id = identity(Proto::Tcp, port);
    serve_tcp(listener, Some(id.greeting(Greeting::Plain)));
    let targets: Vec<_> = (0..1000).map(|i| target(i, Proto::Tcp, port)).collect();
    let start = Instant::now();
    let obs = run_probes(targets, &opts(Duration::from_secs(3), 1000), &wide()).await;
    let took = start.elapsed();
    eprintln!("1000 open TCP probes on the host's loopback: {took:?}");
    assert_eq!(obs.len(), 1000);
    for (i, o) in obs.iter().enumerate() {
        assert_eq!(o.id, i);
        assert_eq!(o.observed, Observed::Open, "{o:?}");
        assert_eq!(o.responder.as_ref(), Some(&id));
    }
}

#[test]
fn the_agent_understands_the_udp_probe() {
    assert_eq!(
        crate::node_contract::parse_probe_port(
            crate::node_contract::probe_payload(5353).as_bytes()
        ),
        Some(5353)
    );
}

#[test]
fn observed_serializes_kebab_case() {
    assert_eq!(
        serde_json::to_string(&Observed::HostDown).unwrap(),
        "\"host-down\""
    );
    assert_eq!(Observed::HostDown.to_string(), "host-down");
}

// In a throwaway namespace (see `netns::tests::TestNs`), only 127.0.0.1.

const DROP_5555: &str = "table inet probe_test {
  chain input {
type filter hook input priority 0; policy accept;
tcp dport 5555 drop
udp dport 5555 drop
tcp dport 5556 reject with icmp type admin-prohibited
udp dport 5556 reject with icmp type host-unreachable
  }
}
";

#[tokio::test]
async fn probe_from_sees_the_namespace_rules() {
    let Some(ns) = TestNs::new() else { return };
    ns.lo_up().await;
    crate::netns::nft_apply(ns.pid(), DROP_5555).await.unwrap();
    // Listeners on 5555 inside the namespace: only the rule blocks them.
    let (tcp, udp) = netns::run_in(ns.pid(), || {
        (
            std::net::TcpListener::bind("127.0.0.1:5555").unwrap(),
            std::net::UdpSocket::bind("127.0.0.1:5555").unwrap(),
        )
    })
    .await
    .unwrap();
    serve_tcp(
        tcp,
        Some(identity(Proto::Tcp, 5555).greeting(Greeting::Plain)),
    );
    serve_udp(udp, identity(Proto::Udp, 5555).greeting(Greeting::Plain));
    let targets = vec![
        target(0, Proto::Tcp, 5555),
        target(1, Proto::Udp, 5555),
        target(2, Proto::Tcp, 5556),
        target(3, Proto::Udp, 5556),
        target(4, Proto::Tcp, 5557),
    ];
    let obs = probe_from(ns.pid(), targets, opts(T, 16), &wide())
        .await
        .unwrap();
    let got: Vec<_> = obs.iter().map(|o| o.observed).collect();
    assert_eq!(
        got,
        vec![
            Observed::Blocked,
            Observed::Blocked,
            Observed::Rejected,
            Observed::Rejected,
            Observed::Rejected,
        ],
        "{obs:#?}"
    );
    // Blocked means the probe waited out its timeout.
    for o in &obs[..2] {
        let blocked = format!("no answer within {T:?}");
        assert_eq!(o.detail.as_deref(), Some(blocked.as_str()), "{o:?}");
    }
    let detail = |i: usize| obs[i].detail.clone().unwrap();
    assert!(
        detail(2).contains("ICMP admin-prohibited from 127.0.0.1"),
        "{}",
        detail(2)
    );
    assert!(
        detail(3).contains("ICMP host-unreachable from 127.0.0.1"),
        "{}",
        detail(3)
    );
    assert!(detail(4).contains("TCP reset"), "{}", detail(4));

    // Without the rules, the same listeners answer.
    crate::netns::nft_apply(ns.pid(), "flush ruleset\n")
        .await
        .unwrap();
    let obs = probe_from(
        ns.pid(),
        vec![target(0, Proto::Tcp, 5555), target(1, Proto::Udp, 5555)],
        opts(T, 16),
        &wide(),
    )
    .await
    .unwrap();
    assert_eq!(obs[0].observed, Observed::Open, "{:?}", obs[0]);
    assert_eq!(obs[1].observed, Observed::Open, "{:?}", obs[1]);
    assert_eq!(obs[1].responder, Some(identity(Proto::Udp, 5555)));
}

#[tokio::test]
async fn a_thousand_dropped_probes_are_in_flight_together() {
    let Some(ns) = TestNs::new() else { return };
    ns.lo_up().await;
    crate::netns::nft_apply(ns.pid(), DROP_5555).await.unwrap();
    let targets: Vec<_> = (0..1000)
        .map(|i| target(i, if i % 2 == 0 { Proto::Tcp } else { Proto::Udp }, 5555))
        .collect();
    let start = Instant::now();
    // Only so that a regression fails rather than runs for 1000 timeouts.
    let obs = tokio::time::timeout(
        100 * T,
        probe_from(ns.pid(), targets, opts(T, 1000), &wide()),
    )
    .await
    .expect("the probes ran (nearly) one after the other")
    .unwrap();
    let took = start.elapsed();
    eprintln!("1000 dropped probes in a namespace, timeout {T:?}: {took:?}");
    assert!(obs.iter().all(|o| o.observed == Observed::Blocked));
    // How many probes were in flight on average (Little's law): their
    // summed durations over the batch's. One after the other gives 1,
    // all at once about 1000. A ratio of two clocks, not a bound on
    // either: a loaded machine stretches both.
    let busy: Duration = obs.iter().map(|o| o.elapsed).sum();
    let in_flight = busy.as_secs_f64() / took.as_secs_f64();
    assert!(
        in_flight >= 100.0,
        "on average {in_flight:.0} of 1000 probes in flight ({took:?})"
    );
}

/// Numbers for the report, not a check:
/// `cargo test -p seglab --lib probe::tests::measure -- --ignored --nocapture`
/// (`SEGLAB_MEASURE_N` probes per batch, default 1000).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn measure() {
    let n: usize = std::env::var("SEGLAB_MEASURE_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let Some(ns) = TestNs::new() else { return };
    ns.lo_up().await;
    let pid = ns.pid();
    crate::netns::nft_apply(pid, DROP_5555).await.unwrap();
    let (tcp, udp) = netns::run_in(pid, || {
        let tcp = std::net::TcpListener::bind("127.0.0.1:7000").unwrap();
        // SAFETY: re-listening with a larger backlog.
        assert_eq!(
            unsafe { libc::listen(std::os::fd::AsRawFd::as_raw_fd(&tcp), 4096) },
            0
        );
        (tcp, std::net::UdpSocket::bind("127.0.0.1:7001").unwrap())
    })
    .await
    .unwrap();
    serve_tcp(
        tcp,
        Some(identity(Proto::Tcp, 7000).greeting(Greeting::Plain)),
    );
    serve_udp(udp, identity(Proto::Udp, 7001).greeting(Greeting::Plain));
    let counter = |name: &'static str| async move {
        let out = netns::run(pid, "cat", &["/proc/net/snmp"], None)
            .await
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let mut udp = text.lines().filter(|l| l.starts_with("Udp:"));
        let (names, values) = (udp.next().unwrap(), udp.next().unwrap());
        let i = names.split_whitespace().position(|w| w == name).unwrap();
        values.split_whitespace().nth(i).unwrap().to_string()
    };
    let time_wait = || async move {
        let out = netns::run(pid, "ss", &["-tanH", "state", "time-wait"], None).await;
        out.map(|o| String::from_utf8_lossy(&o.stdout).lines().count())
    };
    let timeout = Duration::from_secs(1);
    for (label, proto, port) in [
        ("tcp open", Proto::Tcp, 7000),
        ("udp open", Proto::Udp, 7001),
        ("tcp dropped", Proto::Tcp, 5555),
        ("udp dropped", Proto::Udp, 5555),
        ("tcp reset", Proto::Tcp, 5557),
        ("udp port-unreachable", Proto::Udp, 5557),
        ("tcp icmp admin-prohibited", Proto::Tcp, 5556),
    ] {
        let targets = (0..n).map(|i| target(i, proto, port)).collect();
        let start = Instant::now();
        let obs = probe_from(pid, targets, opts(timeout, n), &wide())
            .await
            .unwrap();
        let took = start.elapsed();
        let mut counts = std::collections::BTreeMap::new();
        for o in &obs {
            *counts.entry(o.observed.as_str()).or_insert(0) += 1;
        }
        eprintln!(
            "{label:>26}: {n} probes in {took:>12.3?} = {:>7.0}/s {counts:?} \
             (TIME_WAIT {:?}, UDP RcvbufErrors {})",
            n as f64 / took.as_secs_f64(),
            time_wait().await,
            counter("RcvbufErrors").await
        );
    }
}

#[tokio::test]
async fn a_missing_source_is_not_found() {
    let pid: u32 = std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let err = probe_from(pid, vec![target(0, Proto::Tcp, 1)], opts(T, 1), &wide())
        .await
        .unwrap_err();
    assert!(matches!(err, NetnsError::NotFound { .. }), "{err:?}");
}
