//! Why a partition operation was refused or failed. `api::errors` maps each to its Kafka code.

use crate::log::records::RecordError;
use crate::log::{BatchError, LogError};
use crate::producer_state::SequenceError;

#[derive(Debug, thiserror::Error)]
pub enum PartitionError {
    /// A batch of the request failed validation; nothing of the request was appended.
    #[error(transparent)]
    InvalidBatch(#[from] BatchError),
    #[error("the produce request carried no record batch")]
    NoBatches,
    /// A record without a key sent to a compacted topic (Kafka's message).
    #[error(
        "Compacted topic cannot accept message without key in topic partition {topic}-{partition}."
    )]
    KeylessRecordOnCompactedTopic { topic: String, partition: i32 },
    /// The records of a batch for a compacted topic do not decode (or inflate past the cap).
    #[error("records of a batch for a compacted topic: {0}")]
    UndecodableRecords(#[from] RecordError),
    /// Control batches (transaction markers) are written by the broker only (Kafka's message).
    #[error(
        "Clients are not allowed to write control records in topic partition {topic}-{partition}"
    )]
    ControlBatchFromClient { topic: String, partition: i32 },
    /// A transactional batch must name its producer.
    #[error("a transactional batch without a producer id in topic partition {topic}-{partition}")]
    TransactionalWithoutProducerId { topic: String, partition: i32 },
    /// An idempotent producer's batch is out of sequence or from a fenced epoch.
    #[error(transparent)]
    Sequence(#[from] SequenceError),
    #[error(transparent)]
    Log(#[from] LogError),
    /// Clients do not write to internal topics; the broker's coordinators do.
    #[error("Cannot append to internal topic {0}")]
    InternalTopic(String),
    /// The request names a leader epoch older than this replica's: the client's metadata is stale.
    #[error("leader epoch {requested} is older than the current leader epoch {current}")]
    FencedLeaderEpoch { requested: i32, current: i32 },
    /// The request names a leader epoch this replica has not reached yet.
    #[error("leader epoch {requested} is newer than the current leader epoch {current}")]
    UnknownLeaderEpoch { requested: i32, current: i32 },
    /// This broker does not lead the partition (any more): the client refreshes its metadata.
    #[error("this broker is not the leader of {topic}-{partition}")]
    NotLeader { topic: String, partition: i32 },
    /// A leader epoch below the current one was installed.
    #[error("leader epoch {requested} of {topic}-{partition} is below the current {current}")]
    StaleLeaderEpoch {
        topic: String,
        partition: i32,
        requested: i32,
        current: i32,
    },
}
