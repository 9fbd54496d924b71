//! The scanner: runs on a thread that joined the source host's network
//! namespace (see [`scan_from`]) and scans each target in turn, in rounds
//! (see the [module documentation](super)).
//!
//! It holds, for the whole job: a raw TCP socket (its SYNs go out there, and
//! every TCP segment that reaches the host comes back there too), a raw ICMP
//! socket (every ICMP error the host gets), and for UDP one bound socket per
//! scan source port, so that answers reach a socket (and the host sends no
//! port-unreachable of its own); one epoll instance watches them all. A raw
//! socket needs `CAP_NET_RAW` in the namespace: seglab has it, as root on
//! the machine that owns the lab's namespaces; the lab's hosts never do.

use super::table::{source_port, SCAN_PORTS, SCAN_PORT_COUNT};
use super::wire::{self, Answer};
use super::{ScanJob, ScanOptions, ScanTarget, SeenSpan, TargetScan};
use crate::netns::{self, NetnsError};
use crate::node_contract::{probe_payload, Identity, Proto};
use crate::probe::{IcmpError, Observed, Window};
use nix::errno::Errno;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::socket::{self as sock, sockopt, MsgFlags, SockaddrIn};
use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Probes sent between two looks at the answers: small enough that the
/// answers never pile up in the sockets, large enough to cost little.
const BATCH: usize = 256;
/// Receive buffer of each raw socket: a whole round of answers can wait
/// there while the scanner sends.
const RAW_RCVBUF: usize = 32 << 20;
/// How long a round waits for late answers at most, however many still
/// come: a round cut short by it is no evidence of silence, so the silent
/// ports are tried again (a destination that slow makes a longer scan,
/// never one that calls ports blocked early).
const MAX_SETTLE: Duration = Duration::from_secs(10);
const TOKEN_TCP: u64 = 0;
const TOKEN_ICMP: u64 = 1;
const TOKEN_UDP: u64 = 2;

/// Descriptors a scanning source holds: two scanners' raw sockets and
/// epoll instances, the machine's conntrack socket and counter files, and
/// one UDP socket per scan source port when it scans UDP.
pub fn descriptors(job: &ScanJob) -> usize {
    let udp = job.targets.iter().any(|t| t.proto == Proto::Udp);
    let nodes: std::collections::BTreeSet<&str> = job
        .targets
        .iter()
        .flat_map(|t| t.path.iter().map(|n| n.name.as_str()))
        .collect();
    let path_files = 4 * nodes.len();
    16 + path_files + if udp { usize::from(SCAN_PORT_COUNT) } else { 0 }
}

/// What a backend does around each target on the machine that runs the
/// scanner (see the Docker backend's `conntrack`): called on the scanner's
/// thread, inside the source host's namespace.
pub trait Footprint: Send {
    /// Before a target: may wait until the machine has room for it.
    fn before(&mut self);
    /// After a target: clears what its probes left on the machine.
    fn after(&mut self, src: Ipv4Addr, target: &ScanTarget);
    /// The sum of the loss counters on the target's path, or `None` when
    /// the backend cannot read them: a round after which it has not moved
    /// lost no packet, so what stayed silent was dropped by a rule.
    fn losses(&mut self, target: &ScanTarget) -> Option<u64>;
}

/// No footprint to mind, and no loss counters.
pub struct NoFootprint;

impl Footprint for NoFootprint {
    fn before(&mut self) {}
    fn after(&mut self, _: Ipv4Addr, _: &ScanTarget) {}
    fn losses(&mut self, _: &ScanTarget) -> Option<u64> {
        None
    }
}

/// Runs `job` from inside the network namespace of `pid` (the source host's
/// container), once `window` has room for the source and its sockets.
pub async fn scan_from(
    pid: u32,
    job: ScanJob,
    window: &Window,
    mut footprint: Box<dyn Footprint>,
) -> Result<Vec<TargetScan>, NetnsError> {
    let _source = window.source_permit().await;
    let _sockets = window.probe_permits(descriptors(&job)).await;
    // Dropped (the run interrupted, Ctrl-C), this future stops the
    // scanner threads within a batch (they are no tokio tasks) and waits
    // until the target in flight has cleared its footprint.
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let stop = Stop {
        flag: Arc::default(),
        finished,
    };
    let flag = stop.flag.clone();
    let result = netns::run_in(pid, move || {
        let _done = done;
        scan_here(&job, footprint.as_mut(), &flag)
    })
    .await?;
    result.map_err(|source| NetnsError::Io {
        pid,
        context: "cannot scan".to_string(),
        source,
    })
}

/// Set when the future that waits for the scanner is dropped.
struct Stop {
    flag: Arc<AtomicBool>,
    /// Disconnected once the scanner's thread is done.
    finished: std::sync::mpsc::Receiver<()>,
}

/// How long an interrupted scan waits for its scanner to clear the
/// machine's conntrack entries of the target in flight (a batch and the
/// deletions: milliseconds).
const STOP_WAIT: Duration = Duration::from_secs(2);

impl Drop for Stop {
    fn drop(&mut self) {
        self.flag.store(true, Ordering::Relaxed);
        // Blocks the runtime's thread briefly, and only when a scan is
        // interrupted: the process is about to exit, and must not leave
        // 65,535 entries in the machine's table behind.
        let _ = self.finished.recv_timeout(STOP_WAIT);
    }
}

/// Runs `job` from the current network namespace, until `stop` is set
/// (the ports not told by then are `error`).
///
/// Two scanners share each target, one the even ports and one the odd
/// (each with the scan source ports of its own parity, since port `p`
/// leaves from `61000 + p % 2048`), on two threads: a probe's whole path
/// through the lab's namespaces runs in the kernel on the CPU that sent
/// it, so one thread would leave the machine's other CPU idle.
pub fn scan_here(
    job: &ScanJob,
    footprint: &mut dyn Footprint,
    stop: &AtomicBool,
) -> io::Result<Vec<TargetScan>> {
    let mut even = Scanner::open(job, 0)?;
    let mut odd = Scanner::open(job, 1)?;
    let mut out = Vec::new();
    let shared = std::sync::Mutex::new(footprint);
    let lock = || shared.lock().expect("no scanner panics");
    for t in &job.targets {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        lock().before();
        let start = Instant::now();
        // The second thread is made by this one, inside the source's
        // namespace, and so is in it too.
        let (a, b) = std::thread::scope(|s| {
            let odd_half = s.spawn(|| odd.scan(t, &shared, stop));
            let a = even.scan(t, &shared, stop);
            (a, odd_half.join().expect("a scanner never panics"))
        });
        lock().after(job.src, t);
        out.push(merge(t.id, a, b, start.elapsed()));
    }
    Ok(out)
}

/// One target's result from the results of its two halves.
fn merge(id: usize, a: TargetScan, b: TargetScan, elapsed: Duration) -> TargetScan {
    let mut ports: Vec<(u16, Observed, Option<String>, bool)> = a
        .spans
        .into_iter()
        .chain(b.spans)
        .flat_map(|s| {
            (s.first..=s.last).map(move |p| (p, s.observed, s.detail.clone(), s.stranger))
        })
        .collect();
    ports.sort_by_key(|p| p.0);
    TargetScan {
        id,
        spans: super::spans(ports),
        rounds: a.rounds.max(b.rounds),
        packets: a.packets + b.packets,
        elapsed,
    }
}

/// What a port saw so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cell {
    /// Not part of the target.
    Skip,
    Silent,
    Open,
    /// Someone else answered: the detail says who.
    Stranger(u16),
    Rejected(u16),
    Error(u16),
}

/// The ports of one target and the details said of them (each said once).
struct Board {
    cells: Vec<Cell>,
    details: Vec<String>,
    known: HashMap<String, u16>,
    answered: usize,
}

impl Board {
    /// The ports of `t` of one parity.
    fn new(t: &ScanTarget, parity: u16) -> Board {
        let mut cells = vec![Cell::Skip; 1 << 16];
        for p in t.ports.iter().filter(|p| p % 2 == parity) {
            cells[usize::from(p)] = Cell::Silent;
        }
        Board {
            cells,
            details: Vec::new(),
            known: HashMap::new(),
            answered: 0,
        }
    }

    fn detail(&mut self, text: String) -> u16 {
        if let Some(&i) = self.known.get(&text) {
            return i;
        }
        let i = u16::try_from(self.details.len()).unwrap_or(u16::MAX);
        if i < u16::MAX {
            self.details.push(text.clone());
            self.known.insert(text, i);
        }
        i
    }

    /// Records the first answer of a port; later ones change nothing.
    fn answer(&mut self, port: u16, cell: Cell) {
        let c = &mut self.cells[usize::from(port)];
        if *c == Cell::Silent {
            *c = cell;
            self.answered += 1;
        }
    }

    fn silent(&self, port: u16) -> bool {
        self.cells[usize::from(port)] == Cell::Silent
    }

    /// The ports as spans of equal outcome; silence is `blocked`.
    fn spans(&self) -> Vec<SeenSpan> {
        let said = |i: u16| self.details.get(usize::from(i)).cloned();
        super::spans((1..=u16::MAX).filter_map(|port| {
            let (observed, detail, stranger) = match self.cells[usize::from(port)] {
                Cell::Skip => return None,
                Cell::Silent => (Observed::Blocked, None, false),
                Cell::Open => (Observed::Open, None, false),
                Cell::Stranger(i) => (Observed::Open, said(i), true),
                Cell::Rejected(i) => (Observed::Rejected, said(i), false),
                Cell::Error(i) => (Observed::Error, said(i), false),
            };
            Some((port, observed, detail, stranger))
        }))
    }
}

struct Scanner {
    /// The ports this scanner probes: even (0) or odd (1).
    parity: u16,
    src: Ipv4Addr,
    options: ScanOptions,
    /// Keys the SYNs' sequence numbers to this scan.
    key: u64,
    epoll: Epoll,
    tcp: Option<OwnedFd>,
    icmp: OwnedFd,
    /// Socket `i` is bound to scan source port `SCAN_PORTS.start() + i`;
    /// `None` where the port was taken.
    udp: Vec<Option<UdpSocket>>,
    buf: Vec<u8>,
}

fn raw_socket(protocol: sock::SockProtocol) -> io::Result<OwnedFd> {
    let fd = sock::socket(
        sock::AddressFamily::Inet,
        sock::SockType::Raw,
        sock::SockFlag::SOCK_NONBLOCK | sock::SockFlag::SOCK_CLOEXEC,
        protocol,
    )?;
    // Best effort: without it the default buffer still holds a batch.
    let _ = sock::setsockopt(&fd, sockopt::RcvBufForce, &RAW_RCVBUF);
    Ok(fd)
}

impl Scanner {
    fn open(job: &ScanJob, parity: u16) -> io::Result<Scanner> {
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
        let watch = |fd: std::os::fd::BorrowedFd<'_>, token: u64| {
            epoll.add(fd, EpollEvent::new(EpollFlags::EPOLLIN, token))
        };
        let icmp = raw_socket(sock::SockProtocol::Icmp)?;
        watch(icmp.as_fd(), TOKEN_ICMP)?;
        let tcp = if job.targets.iter().any(|t| t.proto == Proto::Tcp) {
            let fd = raw_socket(sock::SockProtocol::Tcp)?;
            watch(fd.as_fd(), TOKEN_TCP)?;
            Some(fd)
        } else {
            None
        };
        let mut udp = Vec::new();
        if job.targets.iter().any(|t| t.proto == Proto::Udp) {
            for (i, port) in SCAN_PORTS.enumerate() {
                if port % 2 != parity {
                    udp.push(None);
                    continue;
                }
                let socket = match UdpSocket::bind(SocketAddrV4::new(job.src, port)) {
                    Ok(s) => s,
                    Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
                        udp.push(None);
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                socket.set_nonblocking(true)?;
                watch(socket.as_fd(), TOKEN_UDP + i as u64)?;
                udp.push(Some(socket));
            }
        }
        let mut key = [0u8; 8];
        getrandom::fill(&mut key).map_err(|e| io::Error::other(e.to_string()))?;
        Ok(Scanner {
            parity,
            src: job.src,
            options: job.options,
            key: u64::from_ne_bytes(key),
            epoll,
            tcp,
            icmp,
            udp,
            buf: vec![0; 1 << 16],
        })
    }

    /// Scans one target in rounds until a round loses no packet, or finds
    /// no new answer.
    fn scan(
        &mut self,
        t: &ScanTarget,
        footprint: &std::sync::Mutex<&mut dyn Footprint>,
        stop: &AtomicBool,
    ) -> TargetScan {
        let losses = |t: &ScanTarget| footprint.lock().expect("no scanner panics").losses(t);
        let start = Instant::now();
        let mut board = Board::new(t, self.parity);
        let mut pending: Vec<u16> = t.ports.iter().filter(|p| p % 2 == self.parity).collect();
        if pending.is_empty() {
            return TargetScan {
                id: t.id,
                spans: Vec::new(),
                rounds: 0,
                packets: 0,
                elapsed: Duration::ZERO,
            };
        }
        let (mut rounds, mut packets) = (0u32, 0u64);
        // Answers to an earlier target that come late are nobody's now.
        self.drain(t, &mut board, Instant::now());
        board.answered = 0;
        loop {
            rounds += 1;
            let before = board.answered;
            let lost_before = losses(t);
            for batch in pending.chunks(BATCH) {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                for &port in batch {
                    packets += 1;
                    self.send(t, port, &mut board);
                }
                self.drain(t, &mut board, Instant::now());
            }
            if stop.load(Ordering::Relaxed) {
                let why = board.detail("the scan was stopped".to_string());
                pending.retain(|&p| board.silent(p));
                for &p in &pending {
                    board.answer(p, Cell::Error(why));
                }
                break;
            }
            let quiet = self.settle(t, &mut board);
            let found = board.answered - before;
            pending.retain(|&p| board.silent(p));
            let lost_after = losses(t);
            // A round in which no loss counter moved lost nothing: what
            // stayed silent was dropped by a rule. Otherwise two silent
            // tries make a port blocked, and a round that still found
            // answers gets another.
            let lossless = quiet && lost_before.is_some() && lost_before == lost_after;
            if pending.is_empty() || lossless || (quiet && rounds >= 2 && found == 0) {
                break;
            }
            if rounds >= self.options.max_rounds {
                let why = board.detail(format!(
                    "no answer, but the lab was still losing packets after {rounds} rounds"
                ));
                for &p in &pending {
                    board.answer(p, Cell::Error(why));
                }
                break;
            }
        }
        TargetScan {
            id: t.id,
            spans: board.spans(),
            rounds,
            packets,
            elapsed: start.elapsed(),
        }
    }

    /// Waits for the round's late answers: until none came for `grace`
    /// (a destination's agent answers a burst of datagrams from its queue,
    /// well after the last one was sent; a late answer is no loss and no
    /// counter shows it), at most [`MAX_SETTLE`].
    /// Returns whether the answers stopped; if not, the round is no
    /// evidence of silence.
    fn settle(&mut self, t: &ScanTarget, board: &mut Board) -> bool {
        let cap = Instant::now() + MAX_SETTLE;
        loop {
            let before = board.answered;
            let until = (Instant::now() + self.options.grace).min(cap);
            self.drain(t, board, until);
            if board.answered == before {
                return true;
            }
            if Instant::now() >= cap {
                return false;
            }
        }
    }

    /// Sends one probe; a probe the source cannot send is decided here.
    fn send(&mut self, t: &ScanTarget, port: u16, board: &mut Board) {
        let sport = source_port(port);
        let dst = SockaddrIn::from(SocketAddrV4::new(t.dst, port));
        let sent = loop {
            let r = match t.proto {
                Proto::Tcp => {
                    let Some(fd) = &self.tcp else { return };
                    let seq = wire::sequence(self.key, t.dst, port);
                    let segment = wire::syn(self.src, t.dst, sport, port, seq);
                    sock::sendto(fd.as_raw_fd(), &segment, &dst, MsgFlags::empty())
                }
                Proto::Udp => {
                    let i = usize::from(sport - SCAN_PORTS.start());
                    let Some(Some(socket)) = self.udp.get(i) else {
                        let why = board.detail(format!(
                            "source port {sport} is taken on the source host; not scanned"
                        ));
                        board.answer(port, Cell::Error(why));
                        return;
                    };
                    let payload = probe_payload(port);
                    sock::sendto(
                        socket.as_raw_fd(),
                        payload.as_bytes(),
                        &dst,
                        MsgFlags::empty(),
                    )
                }
            };
            match r {
                // The socket's send buffer is full: let the answers in and
                // the queue drain, then send again.
                Err(Errno::EAGAIN | Errno::ENOBUFS) => {
                    self.drain(t, board, Instant::now() + Duration::from_millis(1));
                }
                Err(Errno::EINTR) => {}
                other => break other,
            }
        };
        match sent {
            Ok(_) => {}
            Err(Errno::EPERM | Errno::EACCES | Errno::ENETUNREACH | Errno::EHOSTUNREACH) => {
                let why = board.detail(format!(
                    "refused on the source host itself ({})",
                    sent.unwrap_err()
                ));
                board.answer(port, Cell::Rejected(why));
            }
            Err(e) => {
                let why = board.detail(format!("cannot send: {e}"));
                board.answer(port, Cell::Error(why));
            }
        }
    }

    /// Reads every answer that arrives until `until` (at least those
    /// already waiting).
    fn drain(&mut self, t: &ScanTarget, board: &mut Board, until: Instant) {
        let mut events = [EpollEvent::empty(); 64];
        loop {
            let left = until.saturating_duration_since(Instant::now());
            let timeout = EpollTimeout::try_from(left).unwrap_or(EpollTimeout::MAX);
            let n = match self.epoll.wait(&mut events, timeout) {
                Ok(n) => n,
                Err(Errno::EINTR) => continue,
                Err(e) => {
                    tracing::warn!("scan: epoll_wait: {e}");
                    return;
                }
            };
            for e in &events[..n] {
                match e.data() {
                    TOKEN_TCP | TOKEN_ICMP => self.read_raw(e.data(), t, board),
                    token => {
                        self.read_udp(usize::try_from(token - TOKEN_UDP).unwrap_or(0), t, board)
                    }
                }
            }
            if n == 0 && Instant::now() >= until {
                return;
            }
        }
    }

    fn read_raw(&mut self, token: u64, t: &ScanTarget, board: &mut Board) {
        let fd = match (token, &self.tcp) {
            (TOKEN_TCP, Some(fd)) => fd.as_raw_fd(),
            _ => self.icmp.as_raw_fd(),
        };
        while let Ok(n) = sock::recv(fd, &mut self.buf, MsgFlags::MSG_DONTWAIT) {
            if let Some(answer) = wire::parse(&self.buf[..n]) {
                self.take(answer, t, board);
            }
        }
    }

    /// Judges one packet that came back: only an answer to one of this
    /// target's probes counts.
    fn take(&self, answer: Answer, t: &ScanTarget, board: &mut Board) {
        match answer {
            Answer::Tcp {
                from,
                to,
                sport,
                dport,
                syn,
                rst,
                ack,
            } => {
                let ours = t.proto == Proto::Tcp
                    && from == t.dst
                    && to == self.src
                    && dport == source_port(sport)
                    && ack == Some(wire::sequence(self.key, t.dst, sport).wrapping_add(1));
                if !ours {
                    return;
                }
                if rst {
                    let why = board.detail("TCP reset".to_string());
                    board.answer(sport, Cell::Rejected(why));
                } else if syn {
                    board.answer(sport, Cell::Open);
                }
            }
            Answer::Icmp {
                sender,
                kind,
                code,
                probe,
            } => {
                let ours = probe.proto == t.proto
                    && probe.src == self.src
                    && probe.dst == t.dst
                    && probe.sport == source_port(probe.dport);
                if ours {
                    let icmp = IcmpError {
                        kind,
                        code,
                        from: Some(sender),
                    };
                    let why = board.detail(icmp.to_string());
                    board.answer(probe.dport, Cell::Rejected(why));
                }
            }
        }
    }

    fn read_udp(&mut self, i: usize, t: &ScanTarget, board: &mut Board) {
        let Some(Some(socket)) = self.udp.get(i) else {
            return;
        };
        loop {
            let (n, from) = match socket.recv_from(&mut self.buf) {
                Ok(got) => got,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return,
            };
            let SocketAddr::V4(from) = from else { continue };
            let port = from.port();
            let ours = t.proto == Proto::Udp
                && *from.ip() == t.dst
                && usize::from(source_port(port) - SCAN_PORTS.start()) == i;
            if !ours {
                continue;
            }
            let text = String::from_utf8_lossy(&self.buf[..n]);
            let cell = match Identity::parse(&text) {
                Some(id)
                    if id.lab == t.lab
                        && id.host == t.host
                        && id.proto == Proto::Udp
                        && id.port == port =>
                {
                    Cell::Open
                }
                Some(id) => Cell::Stranger(board.detail(format!(
                    "answered by {} of lab {} ({} {}/{})",
                    id.host, id.lab, id.service, id.proto, id.port
                ))),
                None => Cell::Stranger(board.detail("answered without an identity".into())),
            };
            board.answer(port, cell);
        }
    }
}
