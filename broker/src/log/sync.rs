//! The seam around the fsyncs that durability rests on: a segment's data (`.log`, `.index`,
//! `.timeindex`), a new segment's directory entry, and a roll's producer snapshot and its entry.
//!
//! A [`Syncer`] is held by every open segment file. In production it is empty and calls
//! `fdatasync(2)` / `fsync(2)` directly (one branch, no allocation, no indirect call); a test
//! puts a [`FileSync`] layer behind it that can record the order of syncs, hold them until
//! released, or make them fail, so tests can show that an acknowledgement waits for the fsync
//! of its bytes, which a `kill -9` test cannot (the page cache survives the process).
//!
//! Not behind the seam: checkpoint files (recovery point, log start, leader epochs) and the
//! broker's own files (`meta.properties`, the clean-shutdown marker) fsync directly; they are
//! written off the acknowledgement path and replaced atomically.

use std::fmt;
use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::Arc;

/// How files are made durable.
pub trait FileSync: Send + Sync + 'static {
    /// Makes `file`'s data durable, with the metadata needed to read it back (`fdatasync`).
    fn sync_data(&self, file: &File, path: &Path) -> io::Result<()>;
    /// Makes the entries of `dir` (files created, renamed or removed in it) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
}

/// The kernel's fsync: what a [`Syncer`] without a layer does.
#[derive(Debug, Clone, Copy, Default)]
pub struct OsSync;

impl FileSync for OsSync {
    fn sync_data(&self, file: &File, _path: &Path) -> io::Result<()> {
        file.sync_data()
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }
}

/// The fsync every partition file of one broker goes through. Cheap to clone.
#[derive(Clone, Default)]
pub struct Syncer {
    layer: Option<Arc<dyn FileSync>>,
}

impl Syncer {
    /// The kernel's fsync, called directly.
    pub fn os() -> Syncer {
        Syncer { layer: None }
    }

    /// Every sync goes through `layer` instead (tests).
    pub fn layered(layer: Arc<dyn FileSync>) -> Syncer {
        Syncer { layer: Some(layer) }
    }

    pub(crate) fn sync_data(&self, file: &File, path: &Path) -> io::Result<()> {
        match &self.layer {
            None => OsSync.sync_data(file, path),
            Some(layer) => layer.sync_data(file, path),
        }
    }

    pub(crate) fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        match &self.layer {
            None => OsSync.sync_dir(dir),
            Some(layer) => layer.sync_dir(dir),
        }
    }
}

impl fmt::Debug for Syncer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.layer.is_some() {
            "Syncer(layered)"
        } else {
            "Syncer(os)"
        })
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! A [`FileSync`] layer for tests: records every sync in order, and can hold syncs at a
    //! gate until released or make them fail.

    use std::os::unix::fs::MetadataExt as _;
    use std::path::PathBuf;
    use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
    use std::time::{Duration, Instant};

    use super::*;

    /// One step of a sync, in the order they happened.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub(crate) enum SyncEvent {
        /// A data sync of `path` (inode `inode`) was called; it covers what was written before.
        DataStarted { path: PathBuf, inode: u64 },
        /// That data sync finished; everything written to the file before it started is durable.
        DataDone { path: PathBuf, inode: u64 },
        /// A directory sync finished.
        DirDone(PathBuf),
        /// A sync failed (injected).
        Failed(PathBuf),
    }

    /// Which syncs wait at the gate.
    enum Hold {
        Nothing,
        Everything,
        /// Syncs of this file or directory only.
        Path(PathBuf),
    }

    struct State {
        events: Vec<SyncEvent>,
        hold: Hold,
        /// Syncs waiting at the gate now.
        waiting: usize,
        fail: bool,
    }

    pub(crate) struct RecordingSync {
        state: Mutex<State>,
        changed: Condvar,
    }

    impl RecordingSync {
        pub(crate) fn new() -> Arc<RecordingSync> {
            Arc::new(RecordingSync {
                state: Mutex::new(State {
                    events: Vec::new(),
                    hold: Hold::Nothing,
                    waiting: 0,
                    fail: false,
                }),
                changed: Condvar::new(),
            })
        }

        pub(crate) fn syncer(self: &Arc<Self>) -> Syncer {
            Syncer::layered(Arc::clone(self) as Arc<dyn FileSync>)
        }

        fn lock(&self) -> MutexGuard<'_, State> {
            self.state.lock().unwrap_or_else(PoisonError::into_inner)
        }

        /// From now on every sync waits at the gate until [`Self::release`].
        pub(crate) fn hold_all(&self) {
            self.lock().hold = Hold::Everything;
        }

        /// From now on syncs of `path` (a file or a directory) wait at the gate.
        pub(crate) fn hold_path(&self, path: &Path) {
            self.lock().hold = Hold::Path(path.to_path_buf());
        }

        /// Opens the gate.
        pub(crate) fn release(&self) {
            self.lock().hold = Hold::Nothing;
            self.changed.notify_all();
        }

        /// From now on every sync fails with EIO, as a disk error would.
        pub(crate) fn fail_from_now(&self) {
            self.lock().fail = true;
        }

        /// Waits until `count` syncs wait at the gate; false if they do not within `timeout`.
        pub(crate) fn wait_until_held(&self, count: usize, timeout: Duration) -> bool {
            let deadline = Instant::now() + timeout;
            let mut state = self.lock();
            while state.waiting < count {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return false;
                }
                state = self
                    .changed
                    .wait_timeout(state, left)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            true
        }

        /// Everything that happened so far, in order.
        pub(crate) fn events(&self) -> Vec<SyncEvent> {
            self.lock().events.clone()
        }

        /// Whether the data of the file now at `path` was fsynced: a data sync of that inode,
        /// under that name or under `<name>.tmp` (written, then renamed into place). Both
        /// must match, since a removed file's inode number is reused for new files.
        pub(crate) fn was_synced(&self, path: &Path) -> io::Result<bool> {
            let inode = std::fs::metadata(path)?.ino();
            let mut tmp = path.as_os_str().to_owned();
            tmp.push(".tmp");
            Ok(self.lock().events.iter().any(|e| {
                matches!(e, SyncEvent::DataDone { path: p, inode: i }
                    if *i == inode && (p == path || p.as_os_str() == tmp))
            }))
        }

        /// Waits at the gate while `path` is held; fails when failing is on.
        fn gate(&self, path: &Path) -> io::Result<()> {
            let held = |state: &State| match &state.hold {
                Hold::Nothing => false,
                Hold::Everything => true,
                Hold::Path(held) => held == path,
            };
            let mut state = self.lock();
            if held(&state) {
                state.waiting += 1;
                self.changed.notify_all();
                while held(&state) {
                    state = self
                        .changed
                        .wait(state)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                state.waiting -= 1;
            }
            if state.fail {
                state.events.push(SyncEvent::Failed(path.to_path_buf()));
                return Err(io::Error::from_raw_os_error(libc::EIO));
            }
            Ok(())
        }

        fn push(&self, event: SyncEvent) {
            self.lock().events.push(event);
            self.changed.notify_all();
        }
    }

    impl FileSync for RecordingSync {
        fn sync_data(&self, file: &File, path: &Path) -> io::Result<()> {
            let inode = file.metadata()?.ino();
            let path = path.to_path_buf();
            self.push(SyncEvent::DataStarted {
                path: path.clone(),
                inode,
            });
            self.gate(&path)?;
            OsSync.sync_data(file, &path)?;
            self.push(SyncEvent::DataDone { path, inode });
            Ok(())
        }

        fn sync_dir(&self, dir: &Path) -> io::Result<()> {
            self.gate(dir)?;
            OsSync.sync_dir(dir)?;
            self.push(SyncEvent::DirDone(dir.to_path_buf()));
            Ok(())
        }
    }
}
