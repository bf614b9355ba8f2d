//! [`Metadata`]: propose commands, publish the applied state, feed the listeners.
//!
//! A proposal goes to the metadata quorum's leader (this broker, or another over RPC), which
//! appends it to the command log and fsyncs it on a majority of the voters (committed), and
//! every broker then applies it to its state machine, publishes the new state, calls every
//! [`MetadataListener`] with the change in log order and advances the applied-index watch. A
//! proposal returns once all of that happened here too, so a caller reads its own write.
//!
//! The waiting blocks: [`Metadata::propose_blocking`] is for callers already on the blocking
//! pool (the admin handlers run there), [`Metadata::propose`] moves the work there itself.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use super::ClusterState;
use super::command::{Change, Command, CommandError};
use super::log::{Entry, EntryPayload, FileLog, LogId, LogStorage, Membership, Vote, sync_dir};
use super::quorum::{MembershipChange, Quorum, QuorumConfig, QuorumError};
use super::state_machine::{Snapshot, SnapshotMeta, StateMachine, StateStore};
use super::store::{FILE as LEGACY_FILE, FileStore, StoreError};
use crate::rpc::Identity;

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

    /// The whole state was replaced by a snapshot from the leader (this broker was far
    /// behind): reconcile with it.
    fn on_snapshot(&self, index: u64, state: &ClusterState) {
        let _ = (index, state);
    }
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
    #[error(transparent)]
    Quorum(#[from] QuorumError),
    #[error("the proposing task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// The cluster metadata of this node.
pub struct Metadata {
    quorum: Quorum,
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
    /// initialising a one-voter log for `node_id`) and starts the quorum of this node alone.
    /// `listeners` hear every change applied from now on; replayed entries are not announced
    /// (the state is).
    pub fn open(
        data_dir: &Path,
        node_id: u64,
        listeners: Vec<Arc<dyn MetadataListener>>,
    ) -> Result<Self, ProposeError> {
        Self::open_with(data_dir, node_id, listeners, SNAPSHOT_EVERY)
    }

    /// [`open`](Self::open), snapshotting every `snapshot_every` entries.
    pub fn open_with(
        data_dir: &Path,
        node_id: u64,
        listeners: Vec<Arc<dyn MetadataListener>>,
        snapshot_every: u64,
    ) -> Result<Self, ProposeError> {
        let config = QuorumConfig::alone(node_id, snapshot_every);
        let identity = Identity::new(String::new(), node_id, String::new());
        Self::open_quorum(data_dir, listeners, config, identity)
    }

    /// Opens the command log in `data_dir` and starts this broker's member of the metadata
    /// quorum. With no voters configured, an empty log is initialised as a one-voter log of
    /// this node (and an old `cluster-metadata.json` migrated into it); with voters, an empty
    /// log waits for the cluster to form.
    pub fn open_quorum(
        data_dir: &Path,
        listeners: Vec<Arc<dyn MetadataListener>>,
        config: QuorumConfig,
        identity: Arc<Identity>,
    ) -> Result<Self, ProposeError> {
        let dir = data_dir.join(METADATA_LOG_DIR);
        let mut log = FileLog::open(&dir)?;
        let mut machine = StateStore::open(&dir)?;
        let alone = config.voters.is_empty();
        // The vote is written last when a log is initialised: without it, start over.
        if alone && log.read_vote().is_none() {
            if let Some(state) = FileStore::new(data_dir).load()? {
                tracing::info!(
                    topics = state.topics.len(),
                    "migrating {LEGACY_FILE} into the metadata log"
                );
                machine.install_snapshot(Snapshot {
                    meta: SnapshotMeta {
                        last_log_id: Some(LogId { term: 0, index: 0 }),
                        last_membership: None,
                        membership_log_id: None,
                    },
                    state,
                })?;
            }
            log.save_vote(&Vote {
                term: LOCAL_TERM,
                voted_for: Some(config.node_id),
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
        let has_membership = membership.is_some()
            || log
                .entries(0, u64::MAX)
                .iter()
                .any(|entry| matches!(entry.payload, EntryPayload::Membership(_)));
        if alone && !has_membership {
            let mut voters = Membership::voters([config.node_id]);
            voters
                .nodes
                .insert(config.node_id, config.advertised.clone());
            // Where Raft puts a new cluster's first membership: index 0 (after a migrated
            // snapshot, the next index).
            let next = log.get_log_state().last_log_id.map_or(0, |id| id.index + 1);
            let entry = Entry {
                log_id: LogId {
                    term: 0,
                    index: next,
                },
                payload: EntryPayload::Membership(voters),
            };
            log.append(std::slice::from_ref(&entry))?;
        }
        // Logs of earlier releases start at index 1, Raft's at 0: the state before index 1 is
        // the empty state, so it stands as a snapshot at 0 and entry 0 counts as purged.
        if log.get_log_state().last_purged_log_id.is_none()
            && log.entries(0, 1).is_empty()
            && !log.entries(1, 2).is_empty()
        {
            let origin = LogId { term: 0, index: 0 };
            if machine.applied_state().0.is_none() {
                machine.install_snapshot(Snapshot {
                    meta: SnapshotMeta {
                        last_log_id: Some(origin),
                        last_membership: None,
                        membership_log_id: None,
                    },
                    state: ClusterState::default(),
                })?;
            }
            log.purge(origin)?;
        }
        // Logs of earlier releases had one voter and no committed hint: every entry they hold
        // was committed once fsynced.
        if log.read_committed().is_none() && sole_voter(&log, &machine) == Some(config.node_id) {
            log.save_committed(log.get_log_state().last_log_id)?;
        }
        let quorum = Quorum::start(log, machine, listeners, config, identity)?;
        let next_producer_id = quorum.state().next_producer_id;
        Ok(Self {
            quorum,
            producer_ids: Mutex::new((next_producer_id, next_producer_id)),
        })
    }

    /// This broker's member of the metadata quorum.
    pub fn quorum(&self) -> &Quorum {
        &self.quorum
    }

    /// This broker's node id.
    pub fn node_id(&self) -> i32 {
        i32::try_from(self.quorum.node_id()).unwrap_or(i32::MAX)
    }

    /// The applied state.
    pub fn snapshot(&self) -> Arc<ClusterState> {
        self.quorum.state()
    }

    /// The index of the last applied entry.
    pub fn applied_index(&self) -> u64 {
        self.quorum.applied().index()
    }

    /// Waits until the entry at `index` is applied here.
    pub async fn wait_applied(&self, index: u64) {
        let mut applied = self.quorum.applied().subscribe();
        // The sender lives in `self`, which outlives this borrow: the wait cannot fail.
        let _ = applied.wait_for(|applied| *applied >= index).await;
    }

    /// Proposes `command` from the async runtime; the waiting happens on the blocking pool.
    pub async fn propose(self: &Arc<Self>, command: Command) -> Result<Applied, ProposeError> {
        let metadata = self.clone();
        tokio::task::spawn_blocking(move || metadata.propose_blocking(command)).await?
    }

    /// Commits `command` through the quorum's leader, waits until it is applied here (the
    /// listeners have heard of it) and returns its index and outcome. Blocks: call from the
    /// blocking pool or a thread of its own.
    pub fn propose_blocking(&self, command: Command) -> Result<Applied, ProposeError> {
        let (index, outcome) = self.quorum.propose_blocking(command)?;
        Ok(Applied { index, outcome })
    }

    /// Adds or removes a member of the metadata quorum through its leader; blocks.
    pub fn change_membership_blocking(
        &self,
        change: MembershipChange,
    ) -> Result<u64, ProposeError> {
        Ok(self.quorum.change_membership_blocking(change)?)
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

/// The only voter of the log's latest membership, if it has exactly one.
fn sole_voter(log: &FileLog, machine: &StateStore) -> Option<u64> {
    let latest = log
        .entries(0, u64::MAX)
        .into_iter()
        .rev()
        .find_map(|entry| match entry.payload {
            EntryPayload::Membership(membership) => Some(membership),
            _ => None,
        })
        .or_else(|| machine.applied_state().1.map(|(_, membership)| membership))?;
    let voters = latest.voter_ids();
    (voters.len() == 1)
        .then(|| voters.into_iter().next())
        .flatten()
}

#[cfg(test)]
#[path = "metadata_tests.rs"]
mod tests;
