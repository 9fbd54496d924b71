//! The two test tiers. The pure tier runs anywhere `cargo test` runs; a live
//! test also needs the Docker engine (labs, the runtime) and/or root (to
//! create and enter network namespaces), and the HTML report's test a
//! Chromium. A live test starts with
//!
//! ```ignore
//! if !live(&[Need::Docker, Need::Root]) { return; }
//! ```
//!
//! and where something it needs is missing it is skipped with one line on
//! stderr saying what is missing and to run `make test`. `make test` sets
//! `SEGLAB_LIVE=require`, under which a missing need fails the test
//! instead: CI cannot pass by skipping. `SEGLAB_LIVE=off` skips every live
//! test even where it could run (the pure tier alone, quickly).
//!
//! One file for both kinds of tests: the integration tests include it
//! through `tests/common`, the library's unit tests through a `#[path]`
//! module in `lib.rs`.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::OnceLock;
use std::time::Duration;

/// What a live test needs from the machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// A Docker engine that answers, where seglab looks for it.
    Docker,
    /// Root, to create and enter network namespaces (and run nft/ip there).
    Root,
    /// A `chromium` on the `PATH` (Debian's package), to load the HTML
    /// report in a real browser.
    Chromium,
}

/// How live tests behave, from `SEGLAB_LIVE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Unset or `auto`: run where possible, else skip with a reason.
    Auto,
    /// `require` (`make test`): a missing need fails the test.
    Require,
    /// `off`: skip every live test.
    Off,
}

pub const ENV: &str = "SEGLAB_LIVE";

fn mode() -> Mode {
    match std::env::var(ENV).as_deref() {
        Err(_) | Ok("") | Ok("auto") => Mode::Auto,
        Ok("require") => Mode::Require,
        Ok("off") => Mode::Off,
        Ok(other) => panic!("{ENV}={other}: expected auto, require or off"),
    }
}

/// The socket seglab would talk to: `DOCKER_HOST` when it is a `unix://`
/// URL, else Docker's default (as `runtime::Runtime::connect` does).
fn docker_socket() -> String {
    match std::env::var("DOCKER_HOST") {
        Ok(h) if h.starts_with("unix://") => h["unix://".len()..].to_string(),
        _ => "/var/run/docker.sock".to_string(),
    }
}

/// `None` when the engine answers `/_ping`, else why not. Asked once per
/// test process.
fn docker_missing() -> Option<&'static str> {
    static WHY: OnceLock<Option<String>> = OnceLock::new();
    WHY.get_or_init(|| {
        let socket = docker_socket();
        let ping = || -> std::io::Result<bool> {
            let mut s = UnixStream::connect(&socket)?;
            s.set_read_timeout(Some(Duration::from_secs(5)))?;
            s.set_write_timeout(Some(Duration::from_secs(5)))?;
            s.write_all(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")?;
            let mut head = [0u8; 12];
            s.read_exact(&mut head)?;
            Ok(head.starts_with(b"HTTP/1.") && &head[9..12] == b"200")
        };
        match ping() {
            Ok(true) => None,
            Ok(false) => Some(format!(
                "the Docker engine at {socket} does not answer /_ping"
            )),
            Err(e) => Some(format!("no Docker engine at {socket} ({e})")),
        }
    })
    .as_deref()
}

fn root_missing() -> Option<&'static str> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    (unsafe { libc::geteuid() } != 0).then_some("not root")
}

/// The `chromium` binary on the `PATH`, if there is one.
pub fn chromium() -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("chromium"))
        .find(|bin| {
            use std::os::unix::fs::PermissionsExt;
            bin.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

fn chromium_missing() -> Option<&'static str> {
    chromium()
        .is_none()
        .then_some("no chromium on the PATH (apt-get install chromium)")
}

/// Why the needs are not met, `None` when they all are.
pub fn missing(needs: &[Need]) -> Option<String> {
    let why: Vec<&str> = needs
        .iter()
        .filter_map(|n| match n {
            Need::Docker => docker_missing(),
            Need::Root => root_missing(),
            Need::Chromium => chromium_missing(),
        })
        .collect();
    (!why.is_empty()).then(|| why.join(", "))
}

/// Whether a live test with these needs runs. When it does not, one line
/// on stderr says why (written to the descriptor itself, past libtest's
/// output capture, so that a plain `cargo test` shows it); under
/// `SEGLAB_LIVE=require` it panics instead.
pub fn live(needs: &[Need]) -> bool {
    let why = match mode() {
        Mode::Off => format!("{ENV}=off"),
        mode => match missing(needs) {
            None => return true,
            Some(why) if mode == Mode::Require => {
                panic!("live test cannot run under {ENV}=require: {why}")
            }
            Some(why) => why,
        },
    };
    // libtest names each test's thread after the test; the crate says
    // which test target (`seglab` for the library's unit tests).
    let test = std::thread::current()
        .name()
        .filter(|n| *n != "main")
        .map(|n| format!("{}::{n}: ", env!("CARGO_CRATE_NAME")))
        .unwrap_or_default();
    let _ = writeln!(
        std::io::stderr(),
        "{test}skipped (live): {why}; run make test"
    );
    false
}
