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
pub mod leadership;
pub(crate) mod log;
mod metadata;
pub mod placement;
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
    /// Each partition's replicas, leader and ISR, by partition index. Empty in states of
    /// releases before replica placement, until the first broker registers (it held them all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assignments: Vec<PartitionAssignment>,
}

impl TopicRecord {
    /// Partition `index`'s assignment, if it has one.
    pub fn assignment(&self, index: i32) -> Option<&PartitionAssignment> {
        usize::try_from(index)
            .ok()
            .and_then(|index| self.assignments.get(index))
    }
}

/// Where one partition lives: its replicas (the first is the preferred leader), the in-sync
/// ones, the leader and the leader epoch (bumped by every change of leader).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionAssignment {
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    /// -1 while no replica may lead.
    pub leader: i32,
    pub leader_epoch: i32,
    /// Bumped by every change of the leader or the ISR; an ISR change must name it.
    #[serde(default)]
    pub partition_epoch: i32,
}

impl PartitionAssignment {
    /// A new partition on `replicas`, led by the first, every replica in sync.
    pub fn new(replicas: Vec<i32>) -> Self {
        Self {
            leader: replicas.first().copied().unwrap_or(-1),
            isr: replicas.clone(),
            replicas,
            leader_epoch: 0,
            partition_epoch: 0,
        }
    }
}

/// A broker as it registered with the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerRecord {
    pub id: i32,
    /// The Kafka listener clients are told to connect to.
    pub host: String,
    pub port: u16,
    pub rack: Option<String>,
    /// The broker-to-broker gRPC address.
    pub rpc: String,
    /// Changes at every start of the broker process.
    pub incarnation: Uuid,
    /// Fenced brokers lead nothing and are not in any ISR.
    pub fenced: bool,
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
    /// The registered brokers, by node id.
    #[serde(default)]
    pub brokers: BTreeMap<i32, BrokerRecord>,
}

impl ClusterState {
    pub fn topic_by_id(&self, id: Uuid) -> Option<&TopicRecord> {
        self.topics.values().find(|topic| topic.id == id)
    }
}
