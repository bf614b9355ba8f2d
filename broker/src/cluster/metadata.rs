//! [`Metadata`]: propose commands, publish the applied state, feed the listeners.
//!
//! Order of a proposal, under one lock so that the log, the state and the change feed agree:
//! append the entry and fsync it (committed: on one node the log is a one-voter log), apply it
//! to the state machine, publish the new state, call every [`MetadataListener`] with the change,
//! advance the applied-index watch, and return. A failed append takes the metadata out of
//! service: later proposals fail until a restart recovers the log from disk.
//!
//! The fsync blocks: [`Metadata::propose_blocking`] is for callers already on the blocking pool
//! (the admin handlers run there), [`Metadata::propose`] moves the work there itself.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use tokio::sync::watch;

use super::ClusterState;
use super::command::{Change, Command, CommandError};
use super::log::{Entry, EntryPayload, FileLog, LogId, LogStorage, Membership, Vote, sync_dir};
use super::state_machine::{Snapshot, SnapshotMeta, StateMachine, StateStore};
use super::store::{FILE as LEGACY_FILE, FileStore, StoreError};

/// The command log's directory in the data directory (Kafka's name for its metadata log).
pub const METADATA_LOG_DIR: &str = "__cluster_metadata-0";

/// Entries between snapshots; older entries are purged after each snapshot.
pub const SNAPSHOT_EVERY: u64 = 1000;

/// How many producer ids one durable allocation reserves (as Kafka's blocks).
pub const PRODUCER_ID_BLOCK: i64 = 1000;

/// The term of a one-voter log: its node voted for itself once.
const LOCAL_TERM: u64 = 1;

/// Acts on applied changes: called in log order, after the change is applied and before the
/// proposal returns (as Kafka's broker metadata publishers). Must not propose.
pub trait MetadataListener: Send + Sync {
    fn on_change(&self, index: u64, state: &ClusterState, change: &Change);
}

/// A committed and applied command.
#[derive(Debug)]
pub struct Applied {
    /// Its log index; the applied index is at least this now.
    pub index: u64,
    /// What it changed, or why the state machine refused it.
    pub outcome: Result<Change, CommandError>,
}

/// Why a command was not committed.
#[derive(Debug, thiserror::Error)]
pub enum ProposeError {
    #[error("writing the metadata log: {0}")]
    Storage(#[from] StoreError),
    #[error("the metadata log failed earlier and takes no commands until the broker restarts")]
    Failed,
    #[error("the proposing task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

struct Inner {
    log: FileLog,
    machine: StateStore,
    snapshot_every: u64,
    failed: bool,
}

/// The cluster metadata of this node.
pub struct Metadata {
    inner: Mutex<Inner>,
    published: RwLock<Arc<ClusterState>>,
    applied: watch::Sender<u64>,
    listeners: Vec<Arc<dyn MetadataListener>>,
    /// Producer ids handed out from the current durable block: (next, end).
    producer_ids: Mutex<(i64, i64)>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Metadata {
    /// Opens the command log in `data_dir` (migrating an old `cluster-metadata.json`, or
    /// initialising a one-voter log for `node_id`) and replays it. `listeners` hear every
    /// change proposed from now on; replayed entries are not announced (the state is).
    pub fn open(
        data_dir: &Path,
        node_id: u64,
        listeners: Vec<Arc<dyn MetadataListener>>,
    ) -> Result<Self, StoreError> {
        Self::open_with(data_dir, node_id, listeners, SNAPSHOT_EVERY)
    }

    /// [`open`](Self::open), snapshotting every `snapshot_every` entries.
    pub fn open_with(
        data_dir: &Path,
        node_id: u64,
        listeners: Vec<Arc<dyn MetadataListener>>,
        snapshot_every: u64,
    ) -> Result<Self, StoreError> {
        let dir = data_dir.join(METADATA_LOG_DIR);
        let mut log = FileLog::open(&dir)?;
        let mut machine = StateStore::open(&dir)?;
        // The vote is written last when a log is initialised: without it, start over.
        if log.read_vote().is_none() {
            if let Some(state) = FileStore::new(data_dir).load()? {
                tracing::info!(
                    topics = state.topics.len(),
                    "migrating {LEGACY_FILE} into the metadata log"
                );
                machine.install_snapshot(Snapshot {
                    meta: SnapshotMeta {
                        last_log_id: Some(LogId { term: 0, index: 0 }),
                        last_membership: None,
                    },
                    state,
                })?;
            }
            log.save_vote(&Vote {
                term: LOCAL_TERM,
                node_id,
                committed: true,
            })?;
        }
        let legacy = data_dir.join(LEGACY_FILE);
        if legacy.exists() {
            let kept = data_dir.join(format!("{LEGACY_FILE}.migrated"));
            std::fs::rename(&legacy, &kept).map_err(|source| StoreError::Io {
                op: "renaming the migrated document",
                path: legacy.clone(),
                source,
            })?;
            sync_dir(data_dir)?;
        }
        // A snapshot newer than the log's purge point: finish that purge.
        let (applied, membership) = machine.applied_state();
        if let Some(applied) = applied
            && log
                .get_log_state()
                .last_purged_log_id
                .is_none_or(|purged| purged.index < applied.index)
            && log
                .get_log_state()
                .last_log_id
                .is_none_or(|last| last.index <= applied.index)
        {
            log.purge(applied)?;
        }
        let from = applied.map_or(1, |id| id.index + 1);
        let replay = log.entries(from, u64::MAX);
        machine.apply(&replay);
        if membership.is_none() && machine.applied_state().1.is_none() {
            let entry = Entry {
                log_id: next_log_id(&log),
                payload: EntryPayload::Membership(Membership {
                    voters: [node_id].into(),
                }),
            };
            log.append(std::slice::from_ref(&entry))?;
            machine.apply(std::slice::from_ref(&entry));
        }
        let state = machine.state();
        let applied_index = machine.applied_state().0.map_or(0, |id| id.index);
        let next_producer_id = state.next_producer_id;
        Ok(Self {
            inner: Mutex::new(Inner {
                log,
                machine,
                snapshot_every: snapshot_every.max(1),
                failed: false,
            }),
            published: RwLock::new(state),
            applied: watch::Sender::new(applied_index),
            listeners,
            producer_ids: Mutex::new((next_producer_id, next_producer_id)),
        })
    }

    /// The applied state.
    pub fn snapshot(&self) -> Arc<ClusterState> {
        self.published
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// The index of the last applied entry.
    pub fn applied_index(&self) -> u64 {
        *self.applied.borrow()
    }

    /// Waits until the entry at `index` is applied here.
    pub async fn wait_applied(&self, index: u64) {
        let mut applied = self.applied.subscribe();
        // The sender lives in `self`, which outlives this borrow: the wait cannot fail.
        let _ = applied.wait_for(|applied| *applied >= index).await;
    }

    /// Proposes `command` from the async runtime; the blocking work runs on the blocking pool.
    pub async fn propose(self: &Arc<Self>, command: Command) -> Result<Applied, ProposeError> {
        let metadata = self.clone();
        tokio::task::spawn_blocking(move || metadata.propose_blocking(command)).await?
    }

    /// Commits `command` (append + fsync), applies it and tells the listeners; returns once
    /// all of that is done. Blocks on the fsync: call from the blocking pool.
    pub fn propose_blocking(&self, command: Command) -> Result<Applied, ProposeError> {
        let mut inner = lock(&self.inner);
        if inner.failed {
            return Err(ProposeError::Failed);
        }
        let entry = Entry {
            log_id: next_log_id(&inner.log),
            payload: EntryPayload::Normal(command),
        };
        let index = entry.log_id.index;
        if let Err(error) = inner.log.append(std::slice::from_ref(&entry)) {
            tracing::error!(%error, "appending to the metadata log failed; metadata changes stop until a restart");
            inner.failed = true;
            return Err(error.into());
        }
        let outcome = inner
            .machine
            .apply(std::slice::from_ref(&entry))
            .pop()
            .flatten()
            .expect("a command entry has an outcome");
        let state = inner.machine.state();
        *self
            .published
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = state.clone();
        if let Ok(change) = &outcome {
            for listener in &self.listeners {
                listener.on_change(index, &state, change);
            }
        }
        self.applied.send_replace(index);
        inner.snapshot_if_due(index);
        Ok(Applied { index, outcome })
    }

    /// Hands out a producer id that was never handed out before, even across restarts: ids
    /// come from blocks whose end is committed before use. Blocks on a new block's fsync.
    pub fn allocate_producer_id(&self) -> Result<i64, ProposeError> {
        let mut ids = lock(&self.producer_ids);
        if ids.0 >= ids.1 {
            let applied = self.propose_blocking(Command::AllocateProducerIds {
                count: PRODUCER_ID_BLOCK,
            })?;
            match applied.outcome {
                Ok(Change::ProducerIdsAllocated { start, end }) => *ids = (start, end),
                Ok(other) => unreachable!("AllocateProducerIds applied as {other:?}"),
                Err(error) => {
                    return Err(ProposeError::Storage(StoreError::Format {
                        path: METADATA_LOG_DIR.into(),
                        reason: error.to_string(),
                    }));
                }
            }
        }
        let id = ids.0;
        ids.0 += 1;
        Ok(id)
    }
}

impl Inner {
    /// Snapshots and purges once `snapshot_every` entries followed the last snapshot. A failure
    /// only delays the purge: the log still holds every entry.
    fn snapshot_if_due(&mut self, index: u64) {
        let last = self
            .machine
            .current()
            .and_then(|meta| meta.last_log_id)
            .map_or(0, |id| id.index);
        if index < last + self.snapshot_every {
            return;
        }
        let result = self
            .machine
            .build_snapshot()
            .and_then(|meta| match meta.last_log_id {
                Some(upto) => self.log.purge(upto),
                None => Ok(()),
            });
        match result {
            Ok(()) => tracing::debug!(index, "metadata snapshot written, older entries purged"),
            Err(error) => {
                tracing::warn!(%error, "writing a metadata snapshot failed; retried after the next command")
            }
        }
    }
}

fn next_log_id(log: &FileLog) -> LogId {
    LogId {
        term: log.read_vote().map_or(LOCAL_TERM, |vote| vote.term),
        index: log.get_log_state().last_log_id.map_or(1, |id| id.index + 1),
    }
}

#[cfg(test)]
#[path = "metadata_tests.rs"]
mod tests;
