//! Cluster metadata: topics (names, ids, partition counts, config overrides),
//! the producer-id allocation and feature levels — everything that must survive a restart
//! besides the partition logs themselves.
//!
//! ```text
//!  propose(Command) ─► command log ─► state machine ─► published ClusterState ─► listeners
//!                     (append+fsync)   apply(state, command)   (snapshot())      (partition manager)
//! ```
//!
//! - A change is a [`Command`] (serialisable, carrying every choice such as the topic id), so
//!   applying it is deterministic ([`command::apply`]: no I/O, clock or randomness). A refused
//!   command changes nothing; the refusal is its outcome.
//! - [`Metadata::propose`] appends the command to the command log (`__cluster_metadata-0/`),
//!   fsyncs it — only then is it committed — applies it, publishes the new state, tells every
//!   [`MetadataListener`] in log order, and returns the log index and the outcome.
//! - The log and the state machine sit behind traits shaped like openraft's `RaftLogStorage`
//!   and `RaftStateMachine` ([`LogStorage`], [`StateMachine`]); on one node the log is a
//!   one-voter log (term 1, the node voted for itself), so every fsynced entry is committed.
//!   Raft can later be put under the same traits and files.
//! - Every [`SNAPSHOT_EVERY`] entries the state is written as a snapshot and older entries are
//!   purged; start-up loads the newest snapshot and replays the entries after it.
//! - A data directory of an earlier release holds one JSON document (`cluster-metadata.json`);
//!   the first start writes it as the snapshot at index 0 and renames it to
//!   `cluster-metadata.json.migrated`.

pub mod command;
pub mod features;
pub(crate) mod log;
mod metadata;
pub mod quorum;
pub(crate) mod state_machine;
mod store;
pub mod topic_config;
pub mod topics;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use command::{Change, Command, CommandError};
pub use log::{Entry, EntryPayload, FileLog, LogId, LogState, LogStorage, Membership, Vote};
pub use metadata::{
    Applied, METADATA_LOG_DIR, Metadata, MetadataListener, PRODUCER_ID_BLOCK, ProposeError,
    SNAPSHOT_EVERY,
};
pub use state_machine::{Snapshot, SnapshotMeta, StateMachine, StateStore};
pub use store::StoreError;

/// One topic as the cluster knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicRecord {
    pub name: String,
    pub id: Uuid,
    pub partitions: i32,
    pub replication_factor: i16,
    /// Topic-level overrides by Kafka name; absent keys use the broker default.
    pub configs: BTreeMap<String, String>,
    /// A topic the cluster itself uses (`__consumer_offsets`); clients may not delete it.
    #[serde(default)]
    pub internal: bool,
}

/// The whole metadata state. Versioned on disk (inside snapshots).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterState {
    pub topics: BTreeMap<String, TopicRecord>,
    /// The next producer id to hand out; ids below it are never reused.
    pub next_producer_id: i64,
    /// Feature levels UpdateFeatures finalized (`features.rs`; the others are at their
    /// default).
    #[serde(default)]
    pub features: BTreeMap<String, i16>,
    /// Bumped by every change of `features`: ApiVersions' `FinalizedFeaturesEpoch`.
    #[serde(default)]
    pub features_epoch: i64,
}

impl ClusterState {
    pub fn topic_by_id(&self, id: Uuid) -> Option<&TopicRecord> {
        self.topics.values().find(|topic| topic.id == id)
    }
}
