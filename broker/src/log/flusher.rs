//! Group-commit flusher: one background thread that batches fsyncs across partitions and
//! requests, so "acknowledged means fsynced" does not cost one fsync per produce request.
//!
//! ```text
//!  produce task A ─ append ─ sync(handle P1) ─┐
//!  produce task B ─ append ─ sync(handle P1) ─┤  std mpsc    ┌ flusher thread ─────────────────┐
//!  produce task C ─ append ─ sync(handle P2) ─┴────────────► │ take everything queued (a round) │
//!        ▲                                                   │ fsync each distinct file once    │
//!        └──────── oneshot: Ok / the fsync error ◄────────── │ answer every waiter of the file  │
//!                                                            └──────────────────────────────────┘
//! ```
//!
//! Correctness rests on ordering: a caller appends, then takes its [`SyncHandle`], then calls
//! [`Flusher::sync`]. Its request is queued after the write, and the fsync that answers it starts
//! after the request was dequeued, so the write is covered. Requests arriving during an fsync wait
//! for the next round. A handle holds the segment's file, so an fsync still covers a
//! segment that rolled in between; closed segments are also fsynced by the log itself, in the
//! background, before the recovery point moves past them.
//!
//! Bounds: the request queue is unbounded on purpose. A bounded one would make `sync` block a
//! runtime thread when full; the number of queued requests is already bounded by the produce
//! requests in flight, which the server limits. One round fsyncs its files one after another;
//! spreading them over a few threads is the next step if rounds with many partitions get slow.
//!
//! Failure: an fsync error reaches every waiter of that file in the round, and marks the log
//! failed (Linux may drop dirty pages after a failed fsync, so a later "successful" fsync proves
//! nothing). From then on syncs and appends of that log fail with [`LogError::LogFailed`] until
//! it is reopened and recovered.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;

use tokio::sync::oneshot;

use super::error::LogError;

/// What to fsync for one partition: its active segment's `.log`. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SyncHandle {
    file: Option<Arc<File>>,
    path: PathBuf,
    dir: PathBuf,
    failed: Arc<AtomicBool>,
}

impl SyncHandle {
    pub(crate) fn new(
        file: Option<Arc<File>>,
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
            Some(file) => self.record(file.sync_data()),
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

struct SyncRequest {
    handle: SyncHandle,
    done: Waiter,
}

/// The group-commit flusher thread. Dropping it is the same as [`Flusher::shutdown`].
pub struct Flusher {
    requests: Option<mpsc::Sender<SyncRequest>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Flusher {
    pub fn start() -> Flusher {
        let (tx, rx) = mpsc::channel();
        let thread = thread::Builder::new()
            .name("fjord-log-flusher".to_string())
            .spawn(move || run(rx))
            .expect("the OS lets a broker start one thread at startup");
        Flusher {
            requests: Some(tx),
            thread: Some(thread),
        }
    }

    /// Resolves once everything written through `handle` up to now is fsynced. Concurrent
    /// callers share one fsync per file per round; an fsync error reaches every one of them.
    pub async fn sync(&self, handle: SyncHandle) -> Result<(), LogError> {
        self.submit(handle).await
    }

    /// Queues the fsync now and returns a future for its outcome: unlike
    /// [`sync`](Self::sync), the request reaches the flusher before the
    /// future is first polled, so a caller can start several and await them
    /// later (pipelined requests share a round that way).
    pub fn submit(
        &self,
        handle: SyncHandle,
    ) -> impl Future<Output = Result<(), LogError>> + Send + 'static {
        let queued = (|| {
            if let Some(e) = handle.failed_error() {
                return Err(e);
            }
            if handle.file.is_none() {
                return Ok(None);
            }
            let (done, answer) = oneshot::channel();
            let requests = self.requests.as_ref().ok_or(LogError::FlusherStopped)?;
            requests
                .send(SyncRequest { handle, done })
                .map_err(|_| LogError::FlusherStopped)?;
            Ok(Some(answer))
        })();
        async move {
            match queued? {
                None => Ok(()),
                Some(answer) => answer.await.map_err(|_| LogError::FlusherStopped)?,
            }
        }
    }

    /// Stops taking requests, answers those already queued, and joins the thread.
    pub fn shutdown(self) {
        drop(self);
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.requests = None;
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the log flusher thread panicked");
        }
    }
}

fn run(requests: mpsc::Receiver<SyncRequest>) {
    while let Ok(first) = requests.recv() {
        let mut round = vec![first];
        round.extend(requests.try_iter());
        // Group waiters by file, keeping first-come order.
        let mut groups: Vec<(SyncHandle, Vec<Waiter>)> = Vec::new();
        let mut slot: HashMap<*const File, usize> = HashMap::new();
        for SyncRequest { handle, done } in round {
            let Some(file) = &handle.file else {
                let _ = done.send(Ok(()));
                continue;
            };
            let key = Arc::as_ptr(file);
            match slot.get(&key) {
                Some(&i) => groups[i].1.push(done),
                None => {
                    slot.insert(key, groups.len());
                    groups.push((handle, vec![done]));
                }
            }
        }
        tracing::trace!(files = groups.len(), "flusher round");
        if groups.len() == 1 {
            sync_group(groups.pop().expect("one group"));
            continue;
        }
        // Files of one round are fsynced in parallel: on a journaling file
        // system concurrent fsyncs share journal commits, so a round over
        // many partitions costs about one fsync, not one per partition.
        let per_thread = groups.len().div_ceil(PARALLEL_SYNCS);
        std::thread::scope(|scope| {
            let mut groups = groups.into_iter().peekable();
            while groups.peek().is_some() {
                let chunk: Vec<_> = groups.by_ref().take(per_thread).collect();
                scope.spawn(move || chunk.into_iter().for_each(sync_group));
            }
        });
    }
}

/// Most fsyncs in flight at once in one round.
const PARALLEL_SYNCS: usize = 8;

fn sync_group((handle, waiters): (SyncHandle, Vec<Waiter>)) {
    let result = handle.sync_now();
    for done in waiters {
        // A waiter that gave up (its task was cancelled) needs no answer.
        let _ = done.send(copy_result(&result));
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
    use std::io::Write;

    fn handle_for(file: File, path: PathBuf) -> SyncHandle {
        SyncHandle::new(
            Some(Arc::new(file)),
            path.clone(),
            path,
            Arc::new(AtomicBool::new(false)),
        )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_concurrent_syncs_across_files_all_resolve() {
        let dir = tempfile::tempdir().expect("tempdir");
        let flusher = Arc::new(Flusher::start());
        let handles: Vec<SyncHandle> = (0..4)
            .map(|i| {
                let path = dir.path().join(format!("{i}.log"));
                let mut f = File::create(&path).expect("create");
                f.write_all(b"data").expect("write");
                handle_for(f, path)
            })
            .collect();
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..200 {
            let flusher = Arc::clone(&flusher);
            let handle = handles[i % handles.len()].clone();
            tasks.spawn(async move { flusher.sync(handle).await });
        }
        let mut done = 0;
        while let Some(result) = tasks.join_next().await {
            result.expect("task").expect("sync");
            done += 1;
        }
        assert_eq!(done, 200);
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
