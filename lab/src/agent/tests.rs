//! In-process tests of the agent on loopback, every listener on an ephemeral
//! port so that parallel tests (and other processes) cannot collide.

use super::*;
use crate::node_contract::{probe_payload, ServiceSpec};
use std::net::{SocketAddrV4, TcpListener as StdTcpListener};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(5);

/// Catch-all sockets per protocol in the tests: more than one, so that
/// every test sees the range's sockets answer alike.
const CATCHALLS: u16 = 4;

fn loopback() -> AgentOptions {
    AgentOptions {
        bind: Ipv4Addr::LOCALHOST,
        catchall: CatchAllPorts::Ephemeral(CATCHALLS),
    }
}

fn service(proto: Proto, port: u16, name: &str, greeting: Greeting) -> ServiceSpec {
    ServiceSpec {
        proto,
        port,
        service: name.to_string(),
        greeting,
    }
}

fn host(services: Vec<ServiceSpec>) -> NodeConfig {
    NodeConfig {
        lab: "lab1".into(),
        name: "ams".into(),
        kind: NodeKind::Host,
        services,
    }
}

fn identity(service: &str, proto: Proto, port: u16) -> Identity {
    Identity {
        lab: "lab1".into(),
        host: "ams".into(),
        service: service.into(),
        proto,
        port,
    }
}

/// Binds `config` on loopback and serves it in the background.
fn start(config: &NodeConfig) -> (Vec<Endpoint>, tokio::task::JoinHandle<()>) {
    let agent = Agent::bind(config, &loopback()).expect("bind");
    let endpoints = agent.endpoints().to_vec();
    let task = tokio::spawn(async move {
        let Err(e) = agent.run().await;
        panic!("agent stopped: {e}");
    });
    (endpoints, task)
}

/// Every endpoint of `service` over `proto`, in bind order.
fn endpoints_of(endpoints: &[Endpoint], proto: Proto, service: &str) -> Vec<SocketAddr> {
    endpoints
        .iter()
        .filter(|e| e.proto == proto && e.service == service)
        .map(|e| e.addr)
        .collect()
}

fn endpoint(endpoints: &[Endpoint], proto: Proto, service: &str) -> SocketAddr {
    endpoints
        .iter()
        .find(|e| e.proto == proto && e.service == service)
        .unwrap_or_else(|| panic!("no {proto} endpoint for {service}"))
        .addr
}

async fn tcp_first_line(addr: SocketAddr) -> String {
    let stream = timeout(WAIT, TcpStream::connect(addr))
        .await
        .expect("connect timed out")
        .expect("connect");
    let mut line = String::new();
    timeout(WAIT, BufReader::new(stream).read_line(&mut line))
        .await
        .expect("greeting timed out")
        .expect("read greeting");
    line
}

async fn udp_exchange(addr: SocketAddr, payload: &[u8]) -> String {
    let client = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    client.send_to(payload, addr).await.unwrap();
    let mut buf = [0u8; 2048];
    let (n, from) = timeout(WAIT, client.recv_from(&mut buf))
        .await
        .expect("no udp reply")
        .unwrap();
    assert_eq!(from, addr, "reply must come from the port the probe hit");
    String::from_utf8(buf[..n].to_vec()).unwrap()
}

#[tokio::test]
async fn tcp_stubs_greet_with_their_identity_in_each_style() {
    let config = host(vec![
        service(Proto::Tcp, 0, "console", Greeting::Plain),
        service(Proto::Tcp, 0, "sftp", Greeting::Ssh),
        service(Proto::Tcp, 0, "smtp", Greeting::Smtp),
    ]);
    let (endpoints, task) = start(&config);

    for (name, prefix) in [
        ("console", "SEGLAB/1 "),
        ("sftp", "SSH-2.0-seglab_1.0 SEGLAB/1 "),
        ("smtp", "220 ams ESMTP SEGLAB/1 "),
    ] {
        let addr = endpoint(&endpoints, Proto::Tcp, name);
        let line = tcp_first_line(addr).await;
        assert!(line.starts_with(prefix), "{name}: {line:?}");
        assert!(line.ends_with("\r\n"), "{name}: {line:?}");
        assert_eq!(
            Identity::parse(&line),
            Some(identity(name, Proto::Tcp, addr.port())),
            "{name}: {line:?}"
        );
    }
    task.abort();
}

#[tokio::test]
async fn tcp_stub_drains_what_the_client_sends_then_closes() {
    let (endpoints, task) = start(&host(vec![service(Proto::Tcp, 0, "http", Greeting::Plain)]));
    let addr = endpoint(&endpoints, Proto::Tcp, "http");
    // A client that stays silent, greeted first: the stub keeps it until
    // its own deadline, which therefore comes before the second client's.
    let mut silent = BufReader::new(TcpStream::connect(addr).await.unwrap());
    let mut greeting = String::new();
    silent.read_line(&mut greeting).await.unwrap();
    // Deadlines apart by more than the timer's resolution (1 ms).
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
    stream.shutdown().await.unwrap();
    // Closed on the client's EOF, it closes before the silent one; closed
    // on its own deadline, after.
    let mut answer = String::new();
    let mut rest = String::new();
    tokio::select! {
        biased;
        read = timeout(WAIT, stream.read_to_string(&mut answer)) => {
            read.expect("the stub must close after the client's EOF")
                .expect("no reset: the stub reads what the client sent");
        }
        _ = silent.read_to_string(&mut rest) => {
            panic!("the silent client was let go first: the stub waits out its deadline, not the EOF")
        }
    }
    assert_eq!(
        answer,
        identity("http", Proto::Tcp, addr.port()).greeting(Greeting::Plain)
    );
    task.abort();
}

#[tokio::test]
async fn udp_stub_replies_with_its_identity() {
    let (endpoints, task) = start(&host(vec![service(
        Proto::Udp,
        0,
        "netbios-ns",
        Greeting::Plain,
    )]));
    let addr = endpoint(&endpoints, Proto::Udp, "netbios-ns");
    for payload in [&b"anything"[..], probe_payload(9).as_bytes()] {
        let reply = udp_exchange(addr, payload).await;
        assert_eq!(
            reply,
            identity("netbios-ns", Proto::Udp, addr.port()).greeting(Greeting::Plain)
        );
    }
    task.abort();
}

#[tokio::test]
async fn udp_catchall_takes_the_port_from_the_payload_without_a_mark() {
    let (endpoints, task) = start(&host(vec![]));
    let catchalls = endpoints_of(&endpoints, Proto::Udp, CATCHALL_SERVICE);
    assert_eq!(catchalls.len(), usize::from(CATCHALLS));
    for addr in catchalls {
        let reply = udp_exchange(addr, probe_payload(5353).as_bytes()).await;
        assert_eq!(
            Identity::parse(&reply),
            Some(identity(CATCHALL_SERVICE, Proto::Udp, 5353)),
            "{reply:?}"
        );

        // Neither mark nor probe payload: the catch-all socket's own port.
        let reply = udp_exchange(addr, b"\x00\x01garbage").await;
        assert_eq!(
            Identity::parse(&reply),
            Some(identity(CATCHALL_SERVICE, Proto::Udp, addr.port())),
            "{reply:?}"
        );
    }
    task.abort();
}

/// A scan's burst, scaled down: every client socket sends one probe to each
/// catch-all socket before anything is read, and every probe is answered,
/// from the socket it hit, naming the port its payload names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_catchall_answers_a_burst_over_all_its_sockets() {
    const SOCKETS: u16 = 64;
    const CLIENTS: u16 = 64;
    let mut options = loopback();
    options.catchall = CatchAllPorts::Ephemeral(SOCKETS);
    let agent = Agent::bind(&host(vec![]), &options).unwrap();
    let catchalls = endpoints_of(agent.endpoints(), Proto::Udp, CATCHALL_SERVICE);
    assert_eq!(catchalls.len(), usize::from(SOCKETS));
    let task = tokio::spawn(agent.run());

    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let client = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        for (s, addr) in catchalls.iter().enumerate() {
            let port = 1000 + c * SOCKETS + s as u16;
            client
                .send_to(probe_payload(port).as_bytes(), addr)
                .await
                .unwrap();
        }
        clients.push((c, client));
    }
    let mut reading = tokio::task::JoinSet::new();
    for (c, client) in clients {
        let catchalls = catchalls.clone();
        reading.spawn(async move {
            let mut buf = [0u8; 2048];
            let mut seen = std::collections::BTreeSet::new();
            for _ in 0..SOCKETS {
                let (n, from) = timeout(WAIT, client.recv_from(&mut buf))
                    .await
                    .expect("a probe of the burst got no answer")
                    .unwrap();
                let reply = std::str::from_utf8(&buf[..n]).unwrap();
                let id = Identity::parse(reply).expect("an identity");
                let s = catchalls
                    .iter()
                    .position(|a| *a == from)
                    .expect("a catch-all");
                assert_eq!(id.port, 1000 + c * SOCKETS + s as u16, "{reply:?}");
                assert_eq!(id.service, CATCHALL_SERVICE);
                seen.insert(s);
            }
            seen.len()
        });
    }
    while let Some(seen) = reading.join_next().await {
        assert_eq!(seen.unwrap(), usize::from(SOCKETS));
    }
    task.abort();
}

#[test]
fn a_reply_built_in_place_is_the_identity_line() {
    let template = identity(CATCHALL_SERVICE, Proto::Udp, 0);
    let prefix = udp::reply_prefix(&template);
    let mut out = Vec::new();
    for port in [0, 1, 53, 9877, 65472, 65535] {
        udp::write_reply(&mut out, &prefix, port);
        let expected = identity(CATCHALL_SERVICE, Proto::Udp, port).greeting(Greeting::Plain);
        assert_eq!(std::str::from_utf8(&out).unwrap(), expected);
    }
}

#[test]
fn the_catchall_ports_are_the_range_or_so_many_ephemeral_ones() {
    assert_eq!(CatchAllPorts::Range(10..=12).ports(), [10, 11, 12]);
    assert_eq!(CatchAllPorts::Ephemeral(2).ports(), [0, 0]);
    assert_eq!(
        AgentOptions::default().catchall,
        CatchAllPorts::Range(CATCHALL_PORTS)
    );
    assert_eq!(CATCHALL_PORTS.len(), 64);
}

#[tokio::test]
async fn a_catchall_port_in_use_fails_naming_it() {
    let taken = StdTcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = taken.local_addr().unwrap().port();
    let options = AgentOptions {
        bind: Ipv4Addr::LOCALHOST,
        catchall: CatchAllPorts::Range(port..=port),
    };
    let Err(e) = Agent::bind(&host(vec![]), &options) else {
        panic!("bound a port in use");
    };
    assert!(
        matches!(e, AgentError::Bind { proto: Proto::Tcp, port: p, .. } if p == port),
        "{e:?}"
    );
}

#[tokio::test]
async fn udp_catchall_prefers_the_packet_mark() {
    use nix::sys::socket::{setsockopt, sockopt::Mark};
    let (endpoints, task) = start(&host(vec![]));
    let addr = endpoint(&endpoints, Proto::Udp, CATCHALL_SERVICE);

    let client = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    if let Err(e) = setsockopt(&client, Mark, &6000) {
        // Setting a socket mark needs CAP_NET_ADMIN; the lab needs root anyway.
        eprintln!("skipped: cannot mark packets here ({e})");
        task.abort();
        return;
    }
    client
        .send_to(probe_payload(7000).as_bytes(), addr)
        .await
        .unwrap();
    let mut buf = [0u8; 2048];
    let (n, _) = timeout(WAIT, client.recv_from(&mut buf))
        .await
        .expect("no udp reply")
        .unwrap();
    let reply = std::str::from_utf8(&buf[..n]).unwrap();
    assert_eq!(
        Identity::parse(reply),
        Some(identity(CATCHALL_SERVICE, Proto::Udp, 6000)),
        "{reply:?}"
    );
    task.abort();
}

#[tokio::test]
async fn tcp_catchall_without_redirect_reports_its_own_port() {
    let (endpoints, task) = start(&host(vec![]));
    let catchalls = endpoints_of(&endpoints, Proto::Tcp, CATCHALL_SERVICE);
    assert_eq!(catchalls.len(), usize::from(CATCHALLS));
    for addr in catchalls {
        let line = tcp_first_line(addr).await;
        assert_eq!(
            line,
            identity(CATCHALL_SERVICE, Proto::Tcp, addr.port()).greeting(Greeting::Plain)
        );
    }
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_500_connects_is_queued_and_every_one_gets_its_identity() {
    const BURST: usize = 500;
    raise_nofile_limit();
    let agent = Agent::bind(
        &host(vec![service(Proto::Tcp, 0, "zmq", Greeting::Plain)]),
        &loopback(),
    )
    .unwrap();
    let addr = endpoint(agent.endpoints(), Proto::Tcp, "zmq");

    // Connect all before the agent accepts anything: only a backlog of at
    // least BURST lets every handshake complete; past it the kernel drops
    // the SYNs, and their retries too, as nothing empties the queue.
    let mut connecting = tokio::task::JoinSet::new();
    for _ in 0..BURST {
        connecting.spawn(async move {
            match timeout(WAIT, TcpStream::connect(addr)).await {
                Ok(connected) => Some(connected.expect("connect")),
                Err(_) => None,
            }
        });
    }
    let mut streams = Vec::with_capacity(BURST);
    while let Some(stream) = connecting.join_next().await {
        streams.extend(stream.unwrap());
    }
    assert_eq!(
        streams.len(),
        BURST,
        "not every handshake completed: the accept queue overflowed"
    );

    let task = tokio::spawn(agent.run());
    let mut reading = tokio::task::JoinSet::new();
    for stream in streams {
        reading.spawn(async move {
            let mut line = String::new();
            timeout(WAIT, BufReader::new(stream).read_line(&mut line))
                .await
                .expect("greeting timed out")
                .expect("read greeting");
            Identity::parse(&line)
        });
    }
    let mut answered = 0;
    while let Some(identity_read) = reading.join_next().await {
        assert_eq!(
            identity_read.unwrap(),
            Some(identity("zmq", Proto::Tcp, addr.port()))
        );
        answered += 1;
    }
    assert_eq!(answered, BURST);
    task.abort();
}

#[tokio::test]
async fn a_gateway_binds_nothing_yet_reports_ready_and_keeps_running() {
    let mut config = host(vec![service(Proto::Tcp, 0, "console", Greeting::Plain)]);
    config.kind = NodeKind::Gateway;
    let agent = Agent::bind(&config, &loopback()).unwrap();
    assert_eq!(agent.endpoints(), &[] as &[Endpoint]);

    let ready = std::sync::atomic::AtomicBool::new(false);
    let served = timeout(
        Duration::from_millis(200),
        serve(config, loopback(), || {
            ready.store(true, std::sync::atomic::Ordering::SeqCst)
        }),
    )
    .await;
    assert!(served.is_err(), "a gateway must serve until stopped");
    assert!(ready.load(std::sync::atomic::Ordering::SeqCst));
}

#[tokio::test]
async fn a_host_binds_every_service_and_both_catchalls() {
    let config = host(vec![
        service(Proto::Tcp, 0, "sftp", Greeting::Ssh),
        service(Proto::Udp, 0, "netbios-ns", Greeting::Plain),
    ]);
    let agent = Agent::bind(&config, &loopback()).unwrap();
    let bound: Vec<(Proto, &str)> = agent
        .endpoints()
        .iter()
        .map(|e| (e.proto, e.service.as_str()))
        .collect();
    let catchalls = usize::from(CATCHALLS);
    let mut expected = vec![(Proto::Tcp, "sftp"), (Proto::Udp, "netbios-ns")];
    expected.extend(std::iter::repeat_n(
        (Proto::Tcp, CATCHALL_SERVICE),
        catchalls,
    ));
    expected.extend(std::iter::repeat_n(
        (Proto::Udp, CATCHALL_SERVICE),
        catchalls,
    ));
    assert_eq!(bound, expected);
    assert!(agent.endpoints().iter().all(|e| e.addr.port() != 0));
    // Each catch-all its own port.
    let ports: std::collections::BTreeSet<(Proto, u16)> = agent
        .endpoints()
        .iter()
        .map(|e| (e.proto, e.addr.port()))
        .collect();
    assert_eq!(ports.len(), agent.endpoints().len());
}

#[tokio::test]
async fn a_port_in_use_fails_naming_proto_and_port() {
    let taken = StdTcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = taken.local_addr().unwrap().port();
    let config = host(vec![service(Proto::Tcp, port, "console", Greeting::Plain)]);
    let ready = std::cell::Cell::new(false);
    let Err(e) = serve(config, loopback(), || ready.set(true)).await;
    assert!(
        matches!(e, AgentError::Bind { proto: Proto::Tcp, port: p, .. } if p == port),
        "{e:?}"
    );
    assert!(e.to_string().contains(&format!("tcp port {port}")), "{e}");
    assert_eq!(e.exit_code(), 1);
    assert!(!ready.get(), "ready must come only after every bind");
}

#[test]
fn config_comes_from_json_and_a_bad_one_is_exit_2() {
    let json = r#"{"lab":"t","name":"h1","kind":"host","services":[
        {"proto":"tcp","port":22,"service":"sftp","greeting":"ssh"},
        {"proto":"udp","port":137,"service":"netbios-ns"}]}"#;
    let config = parse_config(Some(json.into())).unwrap();
    assert_eq!(config.name, "h1");
    assert_eq!(config.services[0].greeting, Greeting::Ssh);
    assert_eq!(config.services[1].greeting, Greeting::Plain);

    let missing = parse_config(None).unwrap_err();
    assert!(matches!(missing, AgentError::ConfigMissing));
    assert!(missing.to_string().contains(CONFIG_ENV));
    assert_eq!(missing.exit_code(), 2);

    let invalid = parse_config(Some(r#"{"lab":"t"}"#.into())).unwrap_err();
    assert!(
        matches!(invalid, AgentError::ConfigInvalid(_)),
        "{invalid:?}"
    );
    assert_eq!(invalid.exit_code(), 2);
}

#[test]
fn probe_payloads_name_their_port() {
    assert_eq!(probe_payload(161), "SEGLAB-PROBE port=161\n");
    assert_eq!(parse_probe_port(probe_payload(161).as_bytes()), Some(161));
    assert_eq!(parse_probe_port(b"SEGLAB-PROBE port=70000\n"), None);
    assert_eq!(parse_probe_port(b"port=53\n"), None);
    assert_eq!(parse_probe_port(b"\xff\xfe"), None);
}

#[test]
fn the_mark_wins_over_the_payload_and_zero_is_no_mark() {
    let payload = probe_payload(53);
    assert_eq!(udp::original_port(Some(161), payload.as_bytes()), Some(161));
    assert_eq!(udp::original_port(Some(0), payload.as_bytes()), Some(53));
    assert_eq!(udp::original_port(None, payload.as_bytes()), Some(53));
    assert_eq!(udp::original_port(Some(0x1_0001), b""), None);
}

#[test]
fn a_mark_holding_the_raw_network_order_port_decodes_too() {
    // What `meta mark set @th,0,32 & 0xffff` leaves in the mark register.
    let raw = |port: u16| {
        let [hi, lo] = port.to_be_bytes();
        u32::from_ne_bytes([0, 0, hi, lo])
    };
    for port in [1, 53, 161, 5353, 40000, 65535] {
        assert_eq!(udp::port_from_mark(raw(port)), Some(port), "{port}");
        assert_eq!(udp::port_from_mark(u32::from(port)), Some(port), "{port}");
    }
    assert_eq!(udp::port_from_mark(0), None);
    assert_eq!(udp::port_from_mark(0xdead_beef), None);
}

#[test]
fn the_open_files_limit_is_raised_to_the_hard_one() {
    use nix::sys::resource::{getrlimit, Resource};
    raise_nofile_limit();
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    assert_eq!(soft, hard);
}
