//! Entering a lab container's network namespace from the host.
//!
//! seglab configures (nftables rulesets, routes) and probes lab containers
//! from the host, inside each container's network namespace: the node image is
//! `FROM scratch` with a single static agent, so it has no shell, no `nft` and
//! no `ip` to `docker exec`. Instead the host's own tools and sockets are used
//! after joining the namespace of the container's PID 1, addressed as
//! `/proc/<pid>/ns/net`.
//!
//! `setns(2)` changes the namespace of the *calling thread* only, and a thread
//! never comes back. This module is therefore the only place in seglab that
//! calls it, and it does so in exactly two kinds of places:
//!
//! * in a forked child between `fork` and `exec` (`pre_exec`), to run a host
//!   program such as `nft` or `ip` inside the namespace ([`run`],
//!   [`exec_interactive`]);
//! * on a dedicated OS thread that exists only for that purpose and ends with
//!   it ([`run_in`]); sockets created on that thread belong to the container's
//!   namespace and stay there wherever they are used afterwards.
//!
//! Never on a tokio worker: the worker would silently stay in the container's
//! namespace and every later task scheduled on it would see the wrong network.
//!
//! Every entry point refuses a PID that shares seglab's own network namespace
//! (e.g. a container started with host networking), so that a lab ruleset can
//! never replace the host's firewall.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Output, Stdio};

use tokio::io::AsyncWriteExt;

/// How to get the tools seglab runs inside the namespaces.
pub const INSTALL_HINT: &str = "apt-get install -y nftables iproute2";

/// Host programs seglab needs inside the namespaces.
pub const REQUIRED_TOOLS: [&str; 2] = ["nft", "ip"];

/// Why entering a namespace or running something in it failed.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    /// `/proc/<pid>/ns/net` does not exist: the process is gone.
    #[error(
        "no network namespace for PID {pid} (/proc/{pid}/ns/net): the process is gone, \
         so the container is not running"
    )]
    NotFound { pid: u32 },

    /// Opening or joining the namespace was refused.
    #[error(
        "permission denied entering the network namespace of PID {pid}: \
         seglab must run as root (or with CAP_SYS_ADMIN)"
    )]
    PermissionDenied { pid: u32 },

    /// The PID lives in seglab's own network namespace.
    #[error(
        "PID {pid} shares seglab's own (host) network namespace, e.g. a container with \
         host networking; refusing to configure or probe the host's network"
    )]
    HostNamespace { pid: u32 },

    /// The program is not installed (not on `PATH`, nor in the sbin directories).
    #[error("`{program}` was not found on PATH{}", install_hint(program))]
    ToolMissing { program: String },

    /// The program ran and exited unsuccessfully.
    #[error(
        "`{program}` failed in the network namespace of PID {pid} ({status}): {}",
        stderr.trim_end()
    )]
    CommandFailed {
        pid: u32,
        program: String,
        status: ExitStatus,
        /// The program's stderr, verbatim.
        stderr: String,
    },

    /// `nft -f -` refused a ruleset. `stderr` is nft's output verbatim; its
    /// positions read `/dev/stdin:LINE:COL-COL`, LINE counting from 1 in the
    /// text that was applied.
    #[error(
        "nft rejected the ruleset in the network namespace of PID {pid} ({status}):\n{}",
        stderr.trim_end()
    )]
    NftRejected {
        pid: u32,
        status: ExitStatus,
        stderr: String,
    },

    /// Any other system error.
    #[error("{context} (network namespace of PID {pid}): {source}")]
    Io {
        pid: u32,
        context: String,
        #[source]
        source: io::Error,
    },

    /// The function given to [`run_in`] panicked.
    #[error("the thread running in the network namespace of PID {pid} panicked: {message}")]
    ThreadPanicked { pid: u32, message: String },
}

fn install_hint(program: &str) -> String {
    let base = Path::new(program)
        .file_name()
        .and_then(OsStr::to_str)
        .unwrap_or(program);
    if REQUIRED_TOOLS.contains(&base) {
        format!("; install it with `{INSTALL_HINT}`")
    } else if base == "iptables-nft-restore" {
        // Needed only for iptables-save rule files.
        "; seglab loads iptables-save rule files with it: install it with \
         `apt-get install iptables`"
            .to_string()
    } else {
        String::new()
    }
}

impl NetnsError {
    /// `nft -f` that exited unsuccessfully refused the rule set: the error
    /// for that, with nft's own message; any other error as it is.
    pub fn as_nft_rejection(self) -> NetnsError {
        match self {
            NetnsError::CommandFailed {
                pid,
                status,
                stderr,
                ..
            } => NetnsError::NftRejected {
                pid,
                status,
                stderr,
            },
            e => e,
        }
    }

    fn io(pid: u32, context: impl Into<String>, source: io::Error) -> Self {
        NetnsError::Io {
            pid,
            context: context.into(),
            source,
        }
    }
}

/// Path of the network namespace of `pid`.
pub fn ns_path(pid: u32) -> PathBuf {
    PathBuf::from(format!("/proc/{pid}/ns/net"))
}

/// Maps the error of opening `/proc/<pid>/ns/net`.
fn open_error(pid: u32, e: io::Error) -> NetnsError {
    match e.raw_os_error() {
        Some(libc::ENOENT | libc::ESRCH | libc::ENOTDIR) => NetnsError::NotFound { pid },
        Some(libc::EACCES | libc::EPERM) => NetnsError::PermissionDenied { pid },
        _ => NetnsError::io(pid, format!("cannot open {}", ns_path(pid).display()), e),
    }
}

/// Maps the error of spawning a program whose `pre_exec` joins the namespace.
/// std reports the errno of a failing `pre_exec` or `execve` through the
/// spawn: `EPERM` can only come from `setns` (root-less), `ENOENT` from exec.
fn spawn_error(pid: u32, program: &str, e: io::Error) -> NetnsError {
    match e.raw_os_error() {
        Some(libc::EPERM) => NetnsError::PermissionDenied { pid },
        Some(libc::ENOENT) => NetnsError::ToolMissing {
            program: program.to_string(),
        },
        _ => NetnsError::io(pid, format!("cannot start `{program}`"), e),
    }
}

/// Opens the namespace of `pid` (before any fork or thread spawn) and checks
/// that it is not seglab's own.
fn open_ns(pid: u32) -> Result<File, NetnsError> {
    if pid == 0 {
        return Err(NetnsError::NotFound { pid });
    }
    let file = File::open(ns_path(pid)).map_err(|e| open_error(pid, e))?;
    let theirs = file.metadata().map_err(|e| open_error(pid, e))?;
    let ours = std::fs::metadata("/proc/self/ns/net")
        .map_err(|e| NetnsError::io(pid, "cannot stat /proc/self/ns/net", e))?;
    if (theirs.dev(), theirs.ino()) == (ours.dev(), ours.ino()) {
        return Err(NetnsError::HostNamespace { pid });
    }
    Ok(file)
}

/// Finds `program` on `PATH`, then in the sbin directories (where `nft` and
/// `ip` live, and which a non-login root shell may lack on its `PATH`).
fn which(program: &str) -> Option<PathBuf> {
    fn executable(p: &Path) -> bool {
        p.metadata()
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    }
    if program.contains('/') {
        let p = PathBuf::from(program);
        return executable(&p).then_some(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from))
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(program))
        .find(|p| executable(p))
}

fn resolve(program: &str) -> Result<PathBuf, NetnsError> {
    which(program).ok_or_else(|| NetnsError::ToolMissing {
        program: program.to_string(),
    })
}

/// The `pre_exec` hook: joins the network namespace open on `fd`.
/// Runs in the forked child, so it must not allocate: a raw syscall and, on
/// failure, an `io::Error` that only carries the errno.
fn setns_hook(fd: RawFd) -> impl FnMut() -> io::Result<()> + Send + Sync + 'static {
    move || {
        // SAFETY: plain syscall on an fd that the parent keeps open until the
        // spawn has returned; the child is single-threaded here.
        if unsafe { libc::setns(fd, libc::CLONE_NEWNET) } == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
}

/// Checks that `nft` and `ip` are installed.
pub fn check_tools() -> Result<(), NetnsError> {
    for tool in REQUIRED_TOOLS {
        resolve(tool)?;
    }
    Ok(())
}

/// Checks that `program` is installed (a tool only some rule files need).
pub fn check_tool(program: &str) -> Result<(), NetnsError> {
    resolve(program).map(drop)
}

/// Runs the host program `program` with `args` inside the network namespace of
/// `pid`, feeds it `stdin` (or `/dev/null`), and returns what it printed.
/// A non-zero exit is [`NetnsError::CommandFailed`] with its stderr. The child
/// is killed if the returned future is dropped.
pub async fn run(
    pid: u32,
    program: &str,
    args: &[&str],
    stdin: Option<Vec<u8>>,
) -> Result<Output, NetnsError> {
    let exe = resolve(program)?;
    let ns = open_ns(pid)?;
    let mut cmd = tokio::process::Command::new(&exe);
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // SAFETY: the hook only makes a syscall (see `setns_hook`).
    unsafe {
        cmd.pre_exec(setns_hook(ns.as_raw_fd()));
    }
    let mut child = cmd.spawn().map_err(|e| spawn_error(pid, program, e))?;
    drop(ns);

    let pipe = child.stdin.take();
    let feed = async move {
        match (pipe, stdin) {
            (Some(mut pipe), Some(data)) => {
                let written = pipe.write_all(&data).await;
                drop(pipe); // EOF
                written
            }
            _ => Ok(()),
        }
    };
    let (fed, output) = tokio::join!(feed, child.wait_with_output());
    let output =
        output.map_err(|e| NetnsError::io(pid, format!("cannot wait for `{program}`"), e))?;
    if !output.status.success() {
        return Err(NetnsError::CommandFailed {
            pid,
            program: program.to_string(),
            status: output.status,
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    match fed {
        // The program exited successfully without reading all its input.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
        Err(e) => {
            return Err(NetnsError::io(
                pid,
                format!("cannot write the input of `{program}`"),
                e,
            ))
        }
        Ok(()) => {}
    }
    Ok(output)
}

/// Applies an nftables ruleset (`nft -f -`, the text on stdin). On refusal the
/// error is [`NetnsError::NftRejected`] with nft's stderr verbatim.
pub async fn nft_apply(pid: u32, ruleset: &str) -> Result<(), NetnsError> {
    run(pid, "nft", &["-f", "-"], Some(ruleset.as_bytes().to_vec()))
        .await
        .map(drop)
        .map_err(NetnsError::as_nft_rejection)
}

/// `nft list ruleset` in the namespace.
pub async fn nft_list(pid: u32) -> Result<String, NetnsError> {
    let out = run(pid, "nft", &["list", "ruleset"], None).await?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `ip -batch -` with `commands` (one `ip` command per line, without the
/// leading `ip`) on stdin. `ip` stops at the first failing line and names it
/// in its stderr (`Command failed -:LINE`).
pub async fn ip_batch(pid: u32, commands: &str) -> Result<(), NetnsError> {
    run(
        pid,
        "ip",
        &["-batch", "-"],
        Some(commands.as_bytes().to_vec()),
    )
    .await
    .map(drop)
}

/// `ip route show` in the namespace.
pub async fn ip_route_show(pid: u32) -> Result<String, NetnsError> {
    let out = run(pid, "ip", &["route", "show"], None).await?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `argv` (a host program) inside the network namespace of `pid` with
/// seglab's stdin, stdout and stderr, and waits for it: `seglab exec LAB HOST
/// -- CMD...`. Blocking; from async code call it on a blocking thread.
///
/// Like `system(3)`, seglab ignores SIGINT and SIGQUIT while it waits: the
/// terminal's Ctrl-C goes to the program, which decides what it means (a
/// shell or `nmap` keeps running), and seglab never exits under it leaving
/// the program holding the terminal. The program gets the dispositions
/// seglab had (ignored ones are inherited across exec, so they are put
/// back in the child).
pub fn exec_interactive(pid: u32, argv: &[String]) -> Result<ExitStatus, NetnsError> {
    let Some((program, args)) = argv.split_first() else {
        return Err(NetnsError::io(
            pid,
            "nothing to run",
            io::Error::new(io::ErrorKind::InvalidInput, "empty command line"),
        ));
    };
    let exe = resolve(program)?;
    let ns = open_ns(pid)?;
    let mut cmd = std::process::Command::new(&exe);
    cmd.args(args);
    let ignoring = IgnoreInterrupts::new()
        .map_err(|e| NetnsError::io(pid, "cannot ignore SIGINT and SIGQUIT", e))?;
    // SAFETY: both hooks only make syscalls (see `setns_hook`,
    // `IgnoreInterrupts::restore_in_child`).
    unsafe {
        cmd.pre_exec(setns_hook(ns.as_raw_fd()));
        cmd.pre_exec(ignoring.restore_in_child());
    }
    let mut child = cmd.spawn().map_err(|e| spawn_error(pid, program, e))?;
    drop(ns);
    let status = child
        .wait()
        .map_err(|e| NetnsError::io(pid, format!("cannot wait for `{program}`"), e));
    drop(ignoring);
    status
}

/// SIGINT and SIGQUIT ignored in this process until dropped, as `system(3)`
/// does around its wait; the previous dispositions are kept to put back.
struct IgnoreInterrupts {
    saved: [(nix::sys::signal::Signal, nix::sys::signal::SigAction); 2],
}

impl IgnoreInterrupts {
    fn new() -> io::Result<IgnoreInterrupts> {
        use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
        let ignore = SigAction::new(SigHandler::SigIgn, SaFlags::empty(), SigSet::empty());
        let mut saved = Vec::with_capacity(2);
        for sig in [Signal::SIGINT, Signal::SIGQUIT] {
            // SAFETY: SIG_IGN installs no handler code.
            match unsafe { sigaction(sig, &ignore) } {
                Ok(old) => saved.push((sig, old)),
                Err(e) => {
                    drop(IgnoreInterrupts::restore(&saved));
                    return Err(e.into());
                }
            }
        }
        Ok(IgnoreInterrupts {
            saved: [saved[0], saved[1]],
        })
    }

    fn restore(
        saved: &[(nix::sys::signal::Signal, nix::sys::signal::SigAction)],
    ) -> io::Result<()> {
        for (sig, old) in saved {
            // SAFETY: puts back a disposition this process had before.
            unsafe { nix::sys::signal::sigaction(*sig, old) }?;
        }
        Ok(())
    }

    /// The `pre_exec` hook that gives the program seglab's previous
    /// dispositions (sigaction is async-signal-safe; nothing allocates).
    fn restore_in_child(&self) -> impl FnMut() -> io::Result<()> + Send + Sync + 'static {
        let saved = self.saved;
        move || IgnoreInterrupts::restore(&saved)
    }
}

impl Drop for IgnoreInterrupts {
    fn drop(&mut self) {
        if let Err(e) = IgnoreInterrupts::restore(&self.saved) {
            tracing::warn!("cannot restore SIGINT and SIGQUIT: {e}");
        }
    }
}

/// Runs `f` on a dedicated OS thread that has joined the network namespace of
/// `pid`, and returns its result. Sockets `f` creates belong to that namespace
/// (and keep belonging to it when handed back). `f` typically builds its own
/// current-thread tokio runtime; threads it spawns inherit the namespace.
pub async fn run_in<T, F>(pid: u32, f: F) -> Result<T, NetnsError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let ns = open_ns(pid)?;
    let (tx, rx) = tokio::sync::oneshot::channel::<Result<T, NetnsError>>();
    let handle = std::thread::Builder::new()
        .name(format!("seglab-netns-{pid}"))
        .spawn(move || {
            // This thread never leaves the namespace; it ends with `f`.
            if let Err(e) = nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET) {
                let err = match e {
                    nix::errno::Errno::EPERM => NetnsError::PermissionDenied { pid },
                    e => NetnsError::io(pid, "setns", e.into()),
                };
                let _ = tx.send(Err(err));
                return;
            }
            drop(ns);
            let _ = tx.send(Ok(f()));
        })
        .map_err(|e| NetnsError::io(pid, "cannot spawn a namespace thread", e))?;
    match rx.await {
        Ok(result) => result,
        // The sender was dropped without a value: `f` panicked.
        Err(_) => {
            let joined = tokio::task::spawn_blocking(move || handle.join()).await;
            let message = match joined {
                Ok(Err(payload)) => payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "(non-string panic payload)".to_string()),
                _ => "the thread ended without a result".to_string(),
            };
            Err(NetnsError::ThreadPanicked { pid, message })
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn a_missing_iptables_restore_says_how_to_install_it() {
        let e = NetnsError::ToolMissing {
            program: "iptables-nft-restore".into(),
        };
        assert!(
            e.to_string()
                .ends_with("install it with `apt-get install iptables`"),
            "{e}"
        );
    }

    /// A throwaway network namespace: `unshare -n sleep 60`, killed on drop.
    pub(crate) struct TestNs {
        child: std::process::Child,
    }

    impl TestNs {
        /// `None` without root: the calling test is live and returns, skipped
        /// (see [`crate::tier`]).
        pub(crate) fn new() -> Option<TestNs> {
            if !crate::tier::live(&[crate::tier::Need::Root]) {
                return None;
            }
            let child = std::process::Command::new("unshare")
                .args(["-n", "sleep", "120"])
                .spawn()
                .expect("spawn `unshare -n sleep` (util-linux)");
            let ns = TestNs { child };
            // Wait until the child has left our namespace, so that nothing is
            // ever applied to the host's.
            let ours = std::fs::metadata("/proc/self/ns/net").unwrap().ino();
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                let theirs = std::fs::metadata(ns_path(ns.pid())).map(|m| m.ino());
                if matches!(theirs, Ok(ino) if ino != ours) {
                    break;
                }
                assert!(Instant::now() < deadline, "unshare never left our netns");
                std::thread::sleep(Duration::from_millis(5));
            }
            Some(ns)
        }

        pub(crate) fn pid(&self) -> u32 {
            self.child.id()
        }

        /// Brings `lo` up inside the namespace.
        pub(crate) async fn lo_up(&self) {
            run(self.pid(), "ip", &["link", "set", "lo", "up"], None)
                .await
                .unwrap();
        }
    }

    impl Drop for TestNs {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    /// The host's ruleset, stateless (no counters), without the per-bridge
    /// rules Docker adds and removes as other labs on this host come and go.
    fn host_ruleset() -> String {
        let out = std::process::Command::new(which("nft").unwrap())
            .args(["-s", "list", "ruleset"])
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .filter(|l| !l.contains("\"br-"))
            .map(|l| format!("{l}\n"))
            .collect()
    }

    fn gone_pid() -> u32 {
        // PIDs are always below pid_max.
        std::fs::read_to_string("/proc/sys/kernel/pid_max")
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    /// Live: the tools are needed only to work in namespaces, as root.
    #[test]
    fn tools_are_installed() {
        if !crate::tier::live(&[crate::tier::Need::Root]) {
            return;
        }
        check_tools().unwrap();
    }

    #[tokio::test]
    async fn nft_apply_and_list_stay_inside_the_namespace() {
        let Some(ns) = TestNs::new() else { return };
        let before = host_ruleset();
        ns.lo_up().await;
        nft_apply(
            ns.pid(),
            "table inet seglab_test {\n  chain input {\n    type filter hook input priority 0; policy accept;\n    tcp dport 5555 drop\n  }\n}\n",
        )
        .await
        .unwrap();
        let listed = nft_list(ns.pid()).await.unwrap();
        assert!(listed.contains("table inet seglab_test"), "{listed}");
        assert!(listed.contains("tcp dport 5555 drop"), "{listed}");
        let after = host_ruleset();
        assert_eq!(before, after, "the host's ruleset changed");
        assert!(!after.contains("seglab_test"));
    }

    #[tokio::test]
    async fn nft_errors_keep_the_line_number() {
        let Some(ns) = TestNs::new() else { return };
        let err = nft_apply(
            ns.pid(),
            "table inet t {\n  chain c {\n    tcp dport 22 acept\n  }\n}\n",
        )
        .await
        .unwrap_err();
        match &err {
            NetnsError::NftRejected { stderr, .. } => {
                assert!(stderr.contains("/dev/stdin:3:"), "{stderr}");
                assert!(stderr.contains("acept"), "{stderr}");
            }
            other => panic!("expected NftRejected, got {other:?}"),
        }
        assert!(err.to_string().contains("/dev/stdin:3:"));
    }

    #[tokio::test]
    async fn ip_batch_and_route_show() {
        let Some(ns) = TestNs::new() else { return };
        ip_batch(
            ns.pid(),
            "link set lo up\nroute add unreachable 192.0.2.0/24\n",
        )
        .await
        .unwrap();
        let routes = ip_route_show(ns.pid()).await.unwrap();
        assert!(routes.contains("unreachable 192.0.2.0/24"), "{routes}");
        // The host's table has no such route.
        let host = std::process::Command::new(which("ip").unwrap())
            .args(["route", "show"])
            .output()
            .unwrap();
        assert!(!String::from_utf8_lossy(&host.stdout).contains("unreachable 192.0.2.0/24"));
        let err = ip_batch(ns.pid(), "link set lo up\nlink set seglab-nope0 up\n")
            .await
            .unwrap_err();
        match err {
            NetnsError::CommandFailed {
                program, stderr, ..
            } => {
                assert_eq!(program, "ip");
                assert!(stderr.contains("seglab-nope0"), "{stderr}");
                assert!(stderr.contains("-:2"), "{stderr}");
            }
            other => panic!("expected CommandFailed, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn run_feeds_stdin_and_captures_stdout() {
        let Some(ns) = TestNs::new() else { return };
        let out = run(ns.pid(), "cat", &[], Some(b"line one\nline two\n".to_vec()))
            .await
            .unwrap();
        assert_eq!(out.stdout, b"line one\nline two\n");
        // The namespace is fresh: only `lo`.
        let out = run(ns.pid(), "ip", &["-o", "link", "show"], None)
            .await
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.contains(": lo:"), "{text}");
    }

    #[tokio::test]
    async fn run_in_executes_inside_the_namespace() {
        let Some(ns) = TestNs::new() else { return };
        ns.lo_up().await;
        let pid = ns.pid();
        let inside = run_in(pid, || {
            std::fs::read_link("/proc/thread-self/ns/net").unwrap()
        })
        .await
        .unwrap();
        assert_eq!(inside, std::fs::read_link(ns_path(pid)).unwrap());
        assert_ne!(inside, std::fs::read_link("/proc/self/ns/net").unwrap());

        // A listener created in the namespace is not reachable from the host's
        // loopback, but is from the namespace's.
        let listener = run_in(pid, || std::net::TcpListener::bind("127.0.0.1:0").unwrap())
            .await
            .unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let _from_host = std::net::TcpStream::connect(("127.0.0.1", port));
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(
            listener.accept().map(drop).unwrap_err().kind(),
            io::ErrorKind::WouldBlock,
            "a connection from the host's loopback reached the namespace"
        );
        let connected = run_in(pid, move || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        })
        .await
        .unwrap();
        assert!(connected);
        std::thread::sleep(Duration::from_millis(50));
        assert!(listener.accept().is_ok());
    }

    #[tokio::test]
    async fn run_in_reports_a_panic() {
        let Some(ns) = TestNs::new() else { return };
        let err = run_in(ns.pid(), || -> u32 { panic!("boom in ns") })
            .await
            .unwrap_err();
        match err {
            NetnsError::ThreadPanicked { message, .. } => assert_eq!(message, "boom in ns"),
            other => panic!("expected ThreadPanicked, got {other:?}"),
        }
    }

    #[test]
    fn exec_interactive_runs_in_the_namespace() {
        let _one = SIGNALS.lock().unwrap_or_else(|e| e.into_inner());
        let Some(ns) = TestNs::new() else { return };
        let argv: Vec<String> = ["nft", "add", "table", "inet", "seglab_exec"]
            .map(String::from)
            .to_vec();
        let status = exec_interactive(ns.pid(), &argv).unwrap();
        assert!(status.success());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let listed = rt.block_on(nft_list(ns.pid())).unwrap();
        assert!(listed.contains("table inet seglab_exec"), "{listed}");
        assert!(!host_ruleset().contains("seglab_exec"));
        let argv = ["false".to_string()];
        assert!(!exec_interactive(ns.pid(), &argv).unwrap().success());
    }

    /// The signal dispositions are the process's: the tests that change
    /// them (through `exec_interactive`) take turns.
    static SIGNALS: std::sync::Mutex<()> = std::sync::Mutex::new(());

    /// This process's SIGINT and SIGQUIT as a terminal's foreground
    /// process has them (default), whatever it inherited: a test run
    /// started in the background of a non-interactive shell inherits them
    /// ignored, and `exec_interactive` passes on what seglab had, as
    /// system(3) does. Puts the inherited ones back when dropped.
    struct TerminalSignals(Vec<(libc::c_int, libc::sigaction)>);

    impl TerminalSignals {
        fn new() -> TerminalSignals {
            let mut saved = Vec::new();
            for sig in [libc::SIGINT, libc::SIGQUIT] {
                let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
                assert_eq!(
                    unsafe { libc::sigaction(sig, std::ptr::null(), &mut old) },
                    0
                );
                if old.sa_sigaction == libc::SIG_IGN {
                    let mut dfl: libc::sigaction = unsafe { std::mem::zeroed() };
                    dfl.sa_sigaction = libc::SIG_DFL;
                    assert_eq!(
                        unsafe { libc::sigaction(sig, &dfl, std::ptr::null_mut()) },
                        0
                    );
                    saved.push((sig, old));
                }
            }
            TerminalSignals(saved)
        }
    }

    impl Drop for TerminalSignals {
        fn drop(&mut self) {
            for (sig, old) in &self.0 {
                unsafe { libc::sigaction(*sig, old, std::ptr::null_mut()) };
            }
        }
    }

    /// `exec` ignores Ctrl-C and Ctrl-\\ while it waits, as system(3)
    /// does, and the program gets them with their default effect.
    #[test]
    fn exec_interactive_ignores_interrupts_while_the_program_runs() {
        use std::os::unix::process::ExitStatusExt;
        let _one = SIGNALS.lock().unwrap_or_else(|e| e.into_inner());
        let Some(ns) = TestNs::new() else { return };
        let _terminal = TerminalSignals::new();
        // The program interrupts seglab (its parent: this test process),
        // then itself. Without the fix this test process dies of SIGINT.
        let argv: Vec<String> = [
            "sh",
            "-c",
            "kill -INT $PPID; kill -QUIT $PPID; kill -INT $$; exit 7",
        ]
        .map(String::from)
        .to_vec();
        let status = exec_interactive(ns.pid(), &argv).unwrap();
        assert_eq!(status.signal(), Some(libc::SIGINT), "{status:?}");
        // Afterwards seglab's own dispositions are back: not ignored.
        let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
        for sig in [libc::SIGINT, libc::SIGQUIT] {
            assert_eq!(
                unsafe { libc::sigaction(sig, std::ptr::null(), &mut old) },
                0
            );
            assert_ne!(old.sa_sigaction, libc::SIG_IGN, "signal {sig}");
        }
    }

    #[tokio::test]
    async fn a_missing_pid_is_not_found() {
        let pid = gone_pid();
        let err = run(pid, "ip", &["link"], None).await.unwrap_err();
        assert!(
            matches!(err, NetnsError::NotFound { pid: p } if p == pid),
            "{err:?}"
        );
        assert!(err.to_string().contains("not running"));
        let err = run_in(pid, || ()).await.unwrap_err();
        assert!(matches!(err, NetnsError::NotFound { .. }), "{err:?}");
        let err = exec_interactive(pid, &["true".to_string()]).unwrap_err();
        assert!(matches!(err, NetnsError::NotFound { .. }), "{err:?}");
        assert!(matches!(
            run_in(0, || ()).await.unwrap_err(),
            NetnsError::NotFound { pid: 0 }
        ));
    }

    #[tokio::test]
    async fn our_own_namespace_is_refused() {
        let me = std::process::id();
        let err = nft_apply(me, "flush ruleset\n").await.unwrap_err();
        assert!(matches!(err, NetnsError::HostNamespace { .. }), "{err:?}");
    }

    #[tokio::test]
    async fn a_missing_tool_says_how_to_install_it() {
        let Some(ns) = TestNs::new() else { return };
        let err = run(ns.pid(), "seglab-no-such-tool", &[], None)
            .await
            .unwrap_err();
        assert!(matches!(err, NetnsError::ToolMissing { .. }), "{err:?}");
        let msg = NetnsError::ToolMissing {
            program: "nft".into(),
        }
        .to_string();
        assert!(msg.contains(INSTALL_HINT), "{msg}");
    }

    #[test]
    fn errno_mapping() {
        let e = |n| io::Error::from_raw_os_error(n);
        assert!(matches!(
            open_error(7, e(libc::ENOENT)),
            NetnsError::NotFound { pid: 7 }
        ));
        let denied = open_error(7, e(libc::EACCES));
        assert!(matches!(denied, NetnsError::PermissionDenied { pid: 7 }));
        assert!(denied.to_string().contains("root"));
        assert!(matches!(
            spawn_error(7, "nft", e(libc::EPERM)),
            NetnsError::PermissionDenied { .. }
        ));
        assert!(matches!(
            spawn_error(7, "nft", e(libc::ENOENT)),
            NetnsError::ToolMissing { .. }
        ));
    }
}
