//! The probe window: how many probes, and how many source threads, may be in
//! flight at once in this process, sized from the open-file limit.
//!
//! Every probe holds one socket while it runs, and every source runs on its
//! own namespace thread with its own tokio runtime (an epoll instance and an
//! eventfd, plus the namespace descriptor while it enters). Without a bound,
//! a lab of 48 hosts asks for tens of thousands of descriptors at once and
//! the probes that find none end as `error` cells, or worse, hang. So one
//! window is shared by every source of every verification in the process
//! (`seglab test` verifies two labs at a time): a probe first takes a permit,
//! and only then starts its clock, so waiting for the window never makes a
//! probe look blocked.
//!
//! The window is sized once, the first time it is needed: the soft
//! `RLIMIT_NOFILE` is raised to the hard limit, the descriptors already
//! open are counted, and a [`reserve`] is kept for everything else seglab
//! opens meanwhile (Docker connections, `nft` and `ip` children and their
//! pipes, another lab's `up` during `seglab test`).

use std::sync::{Arc, OnceLock};

use nix::sys::resource::{getrlimit, setrlimit, Resource};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Descriptors one probe holds: its socket (TCP reads the ICMP error queue
/// from the same socket, so no duplicate is needed).
pub const PER_PROBE: u64 = 1;
/// Descriptors one source thread holds: the namespace it enters, its
/// runtime's epoll instance and eventfd, and one spare.
pub const PER_SOURCE: u64 = 4;
/// Descriptors kept for the rest of seglab while probes run, at least:
/// Docker connections, `nft`/`ip` children (three pipes each, plus the exec
/// pipe), log output, and a second verification's own set-up.
pub const RESERVE: u64 = 64;

/// What is kept for the rest of seglab under `limit`: [`RESERVE`], or an
/// eighth of a large limit, since `seglab test` may bring one lab up (a
/// child per node at once) while it probes another.
pub fn reserve(limit: u64) -> u64 {
    RESERVE.max(limit / 8)
}
/// Fewer probes in flight than this is not worth running: a lab would take
/// minutes to verify. Below it the limit is an environment error.
pub const MIN_PROBES: u64 = 8;
/// A ceiling far above what a lab needs; the limit decides below it.
pub const MAX_PROBES: u64 = 1 << 16;
/// Source threads at once. A source's probes are many and wait on the
/// network, so a few threads keep the window full; more of them at once let a
/// large lab's drops time out together rather than source after source.
pub const MAX_SOURCES: u64 = 64;

/// How much may run at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    /// Probes in flight, over every source.
    pub probes: usize,
    /// Source threads running.
    pub sources: usize,
}

/// The open-file limit is too low for seglab to probe at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the open-file limit (ulimit -n) is {limit}, too low to probe: {open} descriptors are \
     open, seglab keeps {reserve} for Docker, nft and ip, and probing needs at least {needed} \
     in all; raise it (ulimit -n 256 or more)"
)]
pub struct TooFewDescriptors {
    pub limit: u64,
    pub open: u64,
    pub reserve: u64,
    pub needed: u64,
}

/// Sizes the window (pure): `limit` descriptors in all, `open` already
/// open, up to `sources` source threads wanted.
pub fn size(limit: u64, open: u64, sources: u64) -> Result<Size, TooFewDescriptors> {
    let reserve = reserve(limit);
    let needed = open + reserve + PER_SOURCE + MIN_PROBES * PER_PROBE;
    if limit < needed {
        return Err(TooFewDescriptors {
            limit,
            open,
            reserve,
            needed,
        });
    }
    let free = limit - open - reserve;
    // Sources may take at most an eighth of what is free: the probes are
    // the work, and a few sources keep a small window full.
    let sources = sources
        .clamp(1, MAX_SOURCES)
        .min(free / 8 / PER_SOURCE)
        .max(1);
    let probes = ((free - sources * PER_SOURCE) / PER_PROBE).min(MAX_PROBES);
    Ok(Size {
        probes: usize::try_from(probes).unwrap_or(usize::MAX),
        sources: usize::try_from(sources).unwrap_or(usize::MAX),
    })
}

/// Permits for probes and for source threads; cheap to clone, and every
/// clone draws from the same permits, across runtimes and threads.
#[derive(Debug, Clone)]
pub struct Window {
    probes: Arc<Semaphore>,
    sources: Arc<Semaphore>,
    size: Size,
}

impl Window {
    /// A window of exactly this size (tests, and callers that know better).
    pub fn new(size: Size) -> Window {
        Window {
            probes: Arc::new(Semaphore::new(size.probes.max(1))),
            sources: Arc::new(Semaphore::new(size.sources.max(1))),
            size,
        }
    }

    /// The process-wide window, sized from the descriptor limit the first
    /// time it is asked for.
    pub fn shared() -> Result<Window, TooFewDescriptors> {
        static SHARED: OnceLock<Result<Window, TooFewDescriptors>> = OnceLock::new();
        SHARED
            .get_or_init(|| {
                let limit = raise_nofile_limit();
                let open = open_descriptors();
                let size = size(limit, open, MAX_SOURCES)?;
                tracing::debug!(limit, open, ?size, "probe window");
                Ok(Window::new(size))
            })
            .clone()
    }

    pub fn size(&self) -> Size {
        self.size
    }

    /// Waits for room for one more probe.
    pub async fn probe_permit(&self) -> OwnedSemaphorePermit {
        Arc::clone(&self.probes)
            .acquire_owned()
            .await
            .expect("the probe window is never closed")
    }

    /// Waits for room for `n` probes at once (a scan source holds one
    /// socket per scan source port); more than the window holds is taken
    /// as the whole window.
    pub async fn probe_permits(&self, n: usize) -> OwnedSemaphorePermit {
        let n = n.clamp(1, self.size.probes.max(1));
        Arc::clone(&self.probes)
            .acquire_many_owned(u32::try_from(n).unwrap_or(u32::MAX))
            .await
            .expect("the probe window is never closed")
    }

    /// Waits for room for one more source thread.
    pub async fn source_permit(&self) -> OwnedSemaphorePermit {
        Arc::clone(&self.sources)
            .acquire_owned()
            .await
            .expect("the source window is never closed")
    }
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit and returns the soft
/// limit in force afterwards.
fn raise_nofile_limit() -> u64 {
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return 1024;
    };
    // An infinite hard limit is still capped by fs.nr_open.
    let wanted = hard.min(1 << 20);
    if soft < wanted && setrlimit(Resource::RLIMIT_NOFILE, wanted, hard).is_ok() {
        tracing::debug!(from = soft, to = wanted, "raised RLIMIT_NOFILE");
        return wanted;
    }
    soft
}

/// Descriptors this process has open now.
fn open_descriptors() -> u64 {
    match std::fs::read_dir("/proc/self/fd") {
        // Less the one `read_dir` itself holds.
        Ok(dir) => (dir.count() as u64).saturating_sub(1),
        // Without /proc, assume a busy process.
        Err(_) => 64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_machine_limit_gives_a_wide_window() {
        let s = size(20_000, 12, MAX_SOURCES).unwrap();
        assert_eq!(s.sources, MAX_SOURCES as usize);
        assert_eq!(
            s.probes,
            (20_000 - 12 - 2_500 - MAX_SOURCES * PER_SOURCE) as usize
        );
        let s = size(1 << 20, 12, MAX_SOURCES).unwrap();
        assert_eq!(s.probes, MAX_PROBES as usize);
    }

    #[test]
    fn the_window_plus_everything_else_fits_the_limit() {
        for limit in [100, 256, 512, 1024, 4096, 20_000, 1 << 20] {
            for open in [3, 12, 40] {
                for sources in [1, 6, 16, 48] {
                    let Ok(s) = size(limit, open, sources) else {
                        assert!(limit < 256, "{limit} {open} {sources}");
                        continue;
                    };
                    let used = open
                        + reserve(limit)
                        + s.sources as u64 * PER_SOURCE
                        + s.probes as u64 * PER_PROBE;
                    assert!(used <= limit, "{limit} {open} {sources}: {s:?}");
                    assert!(s.probes as u64 >= MIN_PROBES, "{s:?}");
                    assert!(s.sources >= 1 && s.sources as u64 <= sources.max(1));
                }
            }
        }
    }

    #[test]
    fn a_limit_of_256_leaves_room_for_probes_and_sources() {
        let s = size(256, 20, MAX_SOURCES).unwrap();
        assert_eq!(s.sources, 5);
        assert_eq!(s.probes, 256 - 20 - 64 - 5 * 4);
        // Few descriptors: fewer sources at once, never none.
        let s = size(100, 20, 48).unwrap();
        assert_eq!(
            s,
            Size {
                probes: 12,
                sources: 1
            }
        );
    }

    #[test]
    fn a_limit_too_low_is_an_error_that_says_why() {
        let err = size(32, 10, 6).unwrap_err();
        assert_eq!(
            err,
            TooFewDescriptors {
                limit: 32,
                open: 10,
                reserve: RESERVE,
                needed: 10 + RESERVE + PER_SOURCE + MIN_PROBES
            }
        );
        let text = err.to_string();
        assert!(text.contains("ulimit -n) is 32"), "{text}");
        assert!(text.contains("raise it"), "{text}");
        // Exactly the minimum works.
        let needed = 10 + RESERVE + PER_SOURCE + MIN_PROBES;
        assert_eq!(
            size(needed, 10, 6).unwrap(),
            Size {
                probes: MIN_PROBES as usize,
                sources: 1
            }
        );
        assert!(size(needed - 1, 10, 6).is_err());
        // More open than the limit (another thread opened some meanwhile).
        assert!(size(256, 300, 6).is_err());
    }

    #[tokio::test]
    async fn permits_are_shared_by_every_clone() {
        let w = Window::new(Size {
            probes: 2,
            sources: 1,
        });
        let other = w.clone();
        let a = w.probe_permit().await;
        let _b = other.probe_permit().await;
        assert!(Arc::clone(&w.probes).try_acquire_owned().is_err());
        drop(a);
        let _c = other.probe_permit().await;
        let _s = w.source_permit().await;
        assert!(Arc::clone(&other.sources).try_acquire_owned().is_err());
    }
}
