//! Which watched files were saved: the only module that uses `notify`.
//!
//! Editors save in several steps (write a temporary file, rename it over
//! the old one; or truncate, then write), and a watch on the file itself
//! would end with the inode the rename replaced. So the parent directory of
//! each file is watched, events are kept for the watched names only, and a
//! burst of them is one save once the directory has been quiet for a
//! moment ([`FileWatch::next_save`]).

use crate::error::{Error, Result};
use notify::{EventKind, RecursiveMode, Watcher};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::mpsc;

/// How long a directory must stay quiet before a burst counts as one save.
pub const QUIET: Duration = Duration::from_millis(40);
/// A save is taken at most this long after its first event, even if the
/// directory keeps changing.
pub const AT_MOST: Duration = Duration::from_millis(400);

/// Where a watched file is, as its directory's events name it: the
/// directory's canonical path and the file's name.
pub fn key(path: &Path) -> Result<PathBuf> {
    let name = path
        .file_name()
        .ok_or_else(|| Error::Input(format!("watch: {} is no file", path.display())))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let dir = dir
        .canonicalize()
        .map_err(|e| Error::Input(format!("watch: cannot watch {}: {e}", path.display())))?;
    Ok(dir.join(name))
}

/// Watched files and the events of their directories.
pub struct FileWatch {
    _watcher: notify::RecommendedWatcher,
    events: mpsc::UnboundedReceiver<PathBuf>,
    watched: BTreeSet<PathBuf>,
}

impl FileWatch {
    /// Watches `files` (as [`key`]s) through their directories.
    pub fn new(files: &BTreeSet<PathBuf>) -> Result<FileWatch> {
        let (tx, events) = mpsc::unbounded_channel();
        let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            // Reads and opens change nothing; everything else may be a save.
            if let Ok(ev) = res {
                if !matches!(ev.kind, EventKind::Access(_)) {
                    for p in ev.paths {
                        let _ = tx.send(p);
                    }
                }
            }
        })
        .map_err(|e| Error::Environment(format!("watch: cannot watch files: {e}")))?;
        let dirs: BTreeSet<&Path> = files.iter().filter_map(|f| f.parent()).collect();
        for d in dirs {
            watcher.watch(d, RecursiveMode::NonRecursive).map_err(|e| {
                Error::Environment(format!("watch: cannot watch {}: {e}", d.display()))
            })?;
        }
        Ok(FileWatch {
            _watcher: watcher,
            events,
            watched: files.clone(),
        })
    }

    /// The watched files of the next save: waits for an event on one of
    /// them, then until their directories are quiet for [`QUIET`] (at most
    /// [`AT_MOST`]). `None` once the watcher has stopped.
    pub async fn next_save(&mut self) -> Option<BTreeSet<PathBuf>> {
        let mut saved = BTreeSet::new();
        while saved.is_empty() {
            let p = self.events.recv().await?;
            if self.watched.contains(&p) {
                saved.insert(p);
            }
        }
        let deadline = tokio::time::Instant::now() + AT_MOST;
        loop {
            let quiet = tokio::time::Instant::now() + QUIET;
            match tokio::time::timeout_at(quiet.min(deadline), self.events.recv()).await {
                Ok(Some(p)) => {
                    if self.watched.contains(&p) {
                        saved.insert(p);
                    }
                    if tokio::time::Instant::now() >= deadline {
                        return Some(saved);
                    }
                }
                Ok(None) | Err(_) => return Some(saved),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_rename_over_the_file_and_a_plain_write_are_each_one_save() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("gw.nft");
        let other = dir.path().join("other.nft");
        std::fs::write(&file, "a").unwrap();
        let k = key(&file).unwrap();
        let mut w = FileWatch::new(&BTreeSet::from([k.clone()])).unwrap();
        // An editor's save: a temporary file renamed over the watched one.
        let tmp = dir.path().join(".gw.nft.swp");
        std::fs::write(&tmp, "b").unwrap();
        std::fs::rename(&tmp, &file).unwrap();
        let saved = tokio::time::timeout(Duration::from_secs(10), w.next_save())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(saved, BTreeSet::from([k.clone()]));
        // Another file of the directory is no save; a plain write is one.
        std::fs::write(&other, "x").unwrap();
        std::fs::write(&file, "c").unwrap();
        let saved = tokio::time::timeout(Duration::from_secs(10), w.next_save())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(saved, BTreeSet::from([k]));
    }
}
