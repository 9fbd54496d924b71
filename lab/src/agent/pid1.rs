//! The duties of PID 1 in a container: the kernel ignores signals PID 1 has no
//! handler for, so without one `docker stop` waits its full timeout before
//! killing; and orphans of anything exec'd into the container are re-parented
//! to PID 1, which must reap them or they stay zombies.

use super::AgentError;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use tokio::signal::unix::{signal, Signal, SignalKind};

/// Installed handlers for the signals PID 1 must handle.
pub struct Pid1 {
    term: Signal,
    int: Signal,
    chld: Signal,
}

impl Pid1 {
    /// Installs the handlers; call it first thing, so that a stop request
    /// during start-up is not lost. Must be called inside a Tokio runtime.
    pub fn install() -> Result<Pid1, AgentError> {
        let install = |kind| signal(kind).map_err(AgentError::Signals);
        Ok(Pid1 {
            term: install(SignalKind::terminate())?,
            int: install(SignalKind::interrupt())?,
            chld: install(SignalKind::child())?,
        })
    }

    /// Reaps children until SIGTERM or SIGINT arrives; returns the name of the
    /// signal that asked us to stop.
    pub async fn until_stopped(mut self) -> &'static str {
        reap();
        loop {
            tokio::select! {
                _ = self.term.recv() => return "SIGTERM",
                _ = self.int.recv() => return "SIGINT",
                _ = self.chld.recv() => reap(),
            }
        }
    }
}

/// Collects every exited child: signals coalesce, so one SIGCHLD may stand
/// for several exits.
fn reap() {
    while let Ok(status) = waitpid(None, Some(WaitPidFlag::WNOHANG)) {
        if status == WaitStatus::StillAlive {
            break;
        }
    }
}
