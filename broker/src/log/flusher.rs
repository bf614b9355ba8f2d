//! Group-commit flusher: a few background threads that fsync partition files for any number of
//! waiting produce requests, so "acknowledged means fsynced" does not cost one fsync per request.
//!
//! ```text
//!  produce: append P1 ─ submit(P1) ─┐          ┌ per file: waiters, queued?, running? ┐
//!  produce: append P2 ─ submit(P2) ─┼─ lock ─► │ P1: [a, c]  queued                   │
//!  produce: append P1 ─ submit(P1) ─┘          │ P2: [b]     running (fsync under way)│
//!        ▲                                     └───────────────┬──────────────────────┘
//!        │                                        ready queue: P1, ...
//!        │                         flush threads (FLUSH_THREADS): take a file and all of its
//!        └── oneshot: Ok / error ◄─ waiters, fsync it, answer them; waiters that came in
//!                                   meanwhile make the file ready again
//! ```
//!
//! Correctness rests on ordering: a caller appends, then takes its [`SyncHandle`], then calls
//! [`Flusher::submit`]. Its waiter is registered after the write, and the fsync that answers it
//! starts after a flush thread took the waiter, so the write is covered. A waiter that arrives
//! while its file is being fsynced waits for the next fsync of that file. A file is fsynced by
//! at most one thread at a time; different files in parallel, so a request that touched many
//! partitions costs about one fsync's latency, and one partition's fsync can start while the
//! same request is still appending to the next. A handle holds the segment's file, so an fsync
//! still covers a segment that rolled in between; closed segments are also fsynced by the log
//! itself, in the background, before the recovery point moves past them.
//!
//! Bounds: the number of waiters is bounded by the produce requests in flight, which the server
//! limits; the threads are started once and sleep while nothing is dirty.
//!
//! Tests: the fsync itself runs through the segment's [`super::Syncer`], so a test layer can
//! hold it and check that no waiter is answered before an fsync that began after it registered,
//! and that concurrent waiters share fsyncs.
//!
//! Failure: an fsync error reaches every waiter of that fsync, and marks the log failed (Linux
//! may drop dirty pages after a failed fsync, so a later "successful" fsync proves nothing).
//! From then on syncs and appends of that log fail with [`LogError::LogFailed`] until it is
//! reopened and recovered.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;

use tokio::sync::oneshot;

use super::error::LogError;
use super::segment::LogFile;

/// What to fsync for one partition: its active segment's `.log`. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SyncHandle {
    file: Option<Arc<LogFile>>,
    path: PathBuf,
    dir: PathBuf,
    failed: Arc<AtomicBool>,
}

impl SyncHandle {
    pub(crate) fn new(
        file: Option<Arc<LogFile>>,
        path: PathBuf,
        dir: PathBuf,
        failed: Arc<AtomicBool>,
    ) -> Self {
        SyncHandle {
            file,
            path,
            dir,
            failed,
        }
    }

    fn failed_error(&self) -> Option<LogError> {
        self.failed
            .load(Ordering::Acquire)
            .then(|| LogError::LogFailed {
                dir: self.dir.clone(),
            })
    }

    /// fsyncs on the calling thread, without the flusher (the `os` flush policy, tests).
    pub fn sync_now(&self) -> Result<(), LogError> {
        if let Some(e) = self.failed_error() {
            return Err(e);
        }
        match &self.file {
            None => Ok(()),
            Some(file) => self.record(file.sync()),
        }
    }

    fn record(&self, result: io::Result<()>) -> Result<(), LogError> {
        result.map_err(|source| {
            self.failed.store(true, Ordering::Release);
            tracing::error!(segment = %self.path.display(), error = %source, "fsync failed; log taken out of service");
            LogError::Io { op: "fsync segment", path: self.path.clone(), source }
        })
    }
}

type Waiter = oneshot::Sender<Result<(), LogError>>;

/// Threads fsyncing at once. Parallel fsyncs of different files share journal commits and
/// device queues; more than a few rarely helps and each costs a thread.
const FLUSH_THREADS: usize = 4;

/// A file with waiters: identified by its `Arc<File>`'s address, which cannot be reused while
/// the entry (holding a clone of the handle, hence of the `Arc`) exists.
type FileKey = usize;

struct Dirty {
    handle: SyncHandle,
    waiters: Vec<Waiter>,
    /// In the ready queue.
    queued: bool,
    /// A flush thread is fsyncing it now.
    running: bool,
}

#[derive(Default)]
struct State {
    files: HashMap<FileKey, Dirty>,
    ready: VecDeque<FileKey>,
    stopping: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    work: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A flush thread never panics while holding the lock (it only moves values), but a
        // poisoned lock must not take the broker down with it either.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The group-commit flush threads. Dropping it is the same as [`Flusher::shutdown`].
pub struct Flusher {
    shared: Arc<Shared>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl Flusher {
    pub fn start() -> Flusher {
        let shared = Arc::new(Shared::default());
        let threads = (0..FLUSH_THREADS)
            .map(|i| {
                let shared = Arc::clone(&shared);
                thread::Builder::new()
                    .name(format!("fjord-flush-{i}"))
                    .spawn(move || run(&shared))
                    .expect("the OS lets a broker start a few threads at startup")
            })
            .collect();
        Flusher { shared, threads }
    }

    /// Resolves once everything written through `handle` up to now is fsynced. Concurrent
    /// callers share one fsync per file; an fsync error reaches every one of them.
    pub async fn sync(&self, handle: SyncHandle) -> Result<(), LogError> {
        self.submit(handle).await
    }

    /// Registers the wait now and returns a future for its outcome: unlike
    /// [`sync`](Self::sync), the fsync can start before the future is first polled, so a
    /// caller can start several and await them later (pipelined requests share fsyncs that way).
    pub fn submit(
        &self,
        handle: SyncHandle,
    ) -> impl Future<Output = Result<(), LogError>> + Send + use<> {
        let queued = (|| {
            if let Some(e) = handle.failed_error() {
                return Err(e);
            }
            let Some(file) = &handle.file else {
                return Ok(None);
            };
            let key = Arc::as_ptr(file) as FileKey;
            let (done, answer) = oneshot::channel();
            let mut state = self.shared.lock();
            if state.stopping {
                return Err(LogError::FlusherStopped);
            }
            let dirty = state.files.entry(key).or_insert_with(|| Dirty {
                handle,
                waiters: Vec::new(),
                queued: false,
                running: false,
            });
            dirty.waiters.push(done);
            if !dirty.queued && !dirty.running {
                dirty.queued = true;
                state.ready.push_back(key);
                drop(state);
                self.shared.work.notify_one();
            }
            Ok(Some(answer))
        })();
        async move {
            match queued? {
                None => Ok(()),
                Some(answer) => answer.await.map_err(|_| LogError::FlusherStopped)?,
            }
        }
    }

    /// Stops taking waiters, answers those already registered, and joins the threads.
    pub fn shutdown(self) {
        drop(self);
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.shared.lock().stopping = true;
        self.shared.work.notify_all();
        for thread in self.threads.drain(..) {
            if thread.join().is_err() {
                tracing::error!("a log flush thread panicked");
            }
        }
    }
}

/// One flush thread: fsync ready files until stopping and nothing is ready.
fn run(shared: &Shared) {
    let mut state = shared.lock();
    loop {
        let Some(key) = state.ready.pop_front() else {
            if state.stopping {
                return;
            }
            state = shared
                .work
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
            continue;
        };
        let dirty = state
            .files
            .get_mut(&key)
            .expect("a ready file has an entry");
        dirty.queued = false;
        dirty.running = true;
        let waiters = std::mem::take(&mut dirty.waiters);
        let handle = dirty.handle.clone();
        drop(state);

        let result = handle.sync_now();
        for done in waiters {
            // A waiter that gave up (its task was cancelled) needs no answer.
            let _ = done.send(copy_result(&result));
        }

        state = shared.lock();
        let dirty = state
            .files
            .get_mut(&key)
            .expect("a running file keeps its entry");
        dirty.running = false;
        if dirty.waiters.is_empty() {
            state.files.remove(&key);
        } else {
            // Waiters that came during the fsync need one that starts after them.
            dirty.queued = true;
            state.ready.push_back(key);
            shared.work.notify_one();
        }
    }
}

/// `LogError` is not `Clone` (it holds an `io::Error`); rebuild an equal error for each waiter.
/// `sync_now` fails only with `Io` or `LogFailed`.
fn copy_result(result: &Result<(), LogError>) -> Result<(), LogError> {
    let Err(e) = result else { return Ok(()) };
    Err(match e {
        LogError::Io { op, path, source } => LogError::Io {
            op,
            path: path.clone(),
            source: match source.raw_os_error() {
                Some(code) => io::Error::from_raw_os_error(code),
                None => io::Error::new(source.kind(), source.to_string()),
            },
        },
        LogError::LogFailed { dir } => LogError::LogFailed { dir: dir.clone() },
        other => LogError::Io {
            op: "fsync segment",
            path: PathBuf::new(),
            source: io::Error::other(other.to_string()),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::sync::Syncer;
    use crate::log::sync::testing::{RecordingSync, SyncEvent};
    use std::fs::File;
    use std::io::Write;
    use std::time::Duration;

    fn handle_for(file: File, path: PathBuf) -> SyncHandle {
        SyncHandle::new(
            Some(Arc::new(LogFile::existing(
                file,
                path.clone(),
                Syncer::os(),
            ))),
            path.clone(),
            path,
            Arc::new(AtomicBool::new(false)),
        )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_syncs_share_fsyncs_and_each_is_answered_after_an_fsync_that_began_after_it()
    {
        const FILES: usize = 4;
        const REQUESTS: usize = 200;
        let dir = tempfile::tempdir().expect("tempdir");
        let recorder = RecordingSync::new();
        let syncer = recorder.syncer();
        let flusher = Flusher::start();
        let handles: Vec<SyncHandle> = (0..FILES)
            .map(|i| {
                let path = dir.path().join(format!("{i}.log"));
                let mut f = File::create(&path).expect("create");
                f.write_all(b"data").expect("write");
                SyncHandle::new(
                    Some(Arc::new(LogFile::existing(f, path.clone(), syncer.clone()))),
                    path,
                    dir.path().to_path_buf(),
                    Arc::new(AtomicBool::new(false)),
                )
            })
            .collect();
        // Every fsync waits at the gate while the requests come in, as a slow disk would.
        recorder.hold_all();
        let mut waits = Vec::new();
        for i in 0..REQUESTS {
            let handle = handles[i % FILES].clone();
            let path = handle.path.clone();
            let registered = recorder.events().len();
            waits.push((path, registered, flusher.submit(handle)));
        }
        assert!(
            recorder.wait_until_held(FILES, Duration::from_secs(10)),
            "one fsync per file is under way"
        );
        recorder.release();
        for (path, registered, wait) in waits {
            tokio::time::timeout(Duration::from_secs(10), wait)
                .await
                .expect("answered")
                .expect("sync");
            // When answered, an fsync of its file that started after it registered is done.
            let events = recorder.events();
            let started = events[registered..]
                .iter()
                .position(|e| matches!(e, SyncEvent::DataStarted { path: p, .. } if *p == path))
                .unwrap_or_else(|| {
                    panic!("no fsync of {} began after the request", path.display())
                });
            assert!(
                events[registered + started..]
                    .iter()
                    .any(|e| matches!(e, SyncEvent::DataDone { path: p, .. } if *p == path)),
                "answered before its fsync of {} finished",
                path.display()
            );
        }
        let fsyncs = recorder
            .events()
            .iter()
            .filter(|e| matches!(e, SyncEvent::DataDone { .. }))
            .count();
        // Group commit: the fsync under way, then one for everyone who came during it.
        assert!(
            fsyncs <= 2 * FILES,
            "{fsyncs} fsyncs for {REQUESTS} requests"
        );
    }

    #[tokio::test]
    async fn an_fsync_error_reaches_every_waiter_and_fails_the_log() {
        // fsync on /dev/null fails with EINVAL: a real error from the kernel.
        let devnull = File::options()
            .write(true)
            .open("/dev/null")
            .expect("/dev/null");
        let handle = handle_for(devnull, PathBuf::from("/dev/null"));
        let flusher = Flusher::start();
        let (a, b) = tokio::join!(flusher.sync(handle.clone()), flusher.sync(handle.clone()));
        for result in [a, b] {
            let err = result.expect_err("fsync of /dev/null fails");
            assert!(err.is_storage_error(), "{err}");
        }
        let later = flusher.sync(handle).await.expect_err("log is failed");
        assert!(matches!(later, LogError::LogFailed { .. }), "{later}");
    }

    #[tokio::test]
    async fn a_handle_with_nothing_written_resolves_at_once_and_shutdown_stops_the_flusher() {
        let flusher = Flusher::start();
        let empty = SyncHandle::new(
            None,
            PathBuf::new(),
            PathBuf::new(),
            Arc::new(AtomicBool::new(false)),
        );
        flusher.sync(empty).await.expect("nothing to sync");
        flusher.shutdown();
    }
}
