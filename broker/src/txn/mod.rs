//! The transaction coordinator (Kafka's `TransactionCoordinator` and
//! `TransactionStateManager`); `service.rs` puts it to work (appends, markers, loading, the
//! clock), everything else here is pure state: requests and the clock go in; answers, records to
//! write to `__transaction_state` and transaction markers to write to the data partitions come
//! out. No I/O and no timer of its own, so every path is tested with a made-up clock.
//!
//! ```text
//!  request ─► TxnCoordinator ─► Step::Answer (nothing to write)
//!                            └► Step::Write(record) ─► caller appends it to __transaction_state
//!                                 ─► write_done(ok | error) ─► the request's answer, and after a
//!                                    PrepareCommit/PrepareAbort the markers to write
//!  markers written on every partition ─► markers_written ─► the CompleteCommit/Abort record
//!  tick(now) ─► aborts of timed-out transactions, tombstones of expired transactional ids
//! ```
//!
//! Ordering and invariants, as in Kafka:
//! - A transition is applied only after its record is durable: until `write_done`, the id has a
//!   pending transition and every other request on it is answered CONCURRENT_TRANSACTIONS. One
//!   write at most is in flight per transactional id.
//! - The decision (PrepareCommit/PrepareAbort) is durable before any marker is written; the
//!   client is answered then, and the markers follow. A coordinator that loads a partition
//!   with a transaction in PrepareX writes its markers again (`finish_load`).
//! - Epochs only grow for a producer id; markers only name partitions of the transaction.
//! - A failed write changes nothing and is answered with the write's error, with one
//!   exception taken from Kafka: an epoch fence (InitProducerId on an open transaction, or a
//!   timeout) bumps the epoch in memory when it starts, and after a failed write the next
//!   fence does not bump it again.
//!
//! `records.rs` holds the record layout, `metadata.rs` one id's state and transitions,
//! `coordinator.rs` the ids the coordinator owns and the writes in flight, `requests.rs` the
//! client requests, `background.rs` timeouts, expiry and loading, `admin.rs` the KIP-664
//! Describe/ListTransactions views.

mod admin;
mod background;
mod coordinator;
mod metadata;
pub mod records;
mod requests;
pub mod service;
mod wire;

pub use admin::{ListFilter, TxnDescription, TxnList, TxnListing};
pub use background::TxnLogReplay;
pub use coordinator::{
    Answer, Effects, ProducerIdAndEpoch, ProducerIdSource, Step, TxnCoordinator, TxnMarkers, Write,
    WriteDone, WriteError,
};
pub use metadata::{TopicPartition, TransactionVersion, TxnMetadata, TxnState, is_epoch_exhausted};
pub use requests::{InitProducerId, partition_for};

/// No producer id (`RecordBatch.NO_PRODUCER_ID`).
pub const NO_PRODUCER_ID: i64 = -1;
/// No producer epoch (`RecordBatch.NO_PRODUCER_EPOCH`).
pub const NO_PRODUCER_EPOCH: i16 = -1;
/// The topic whose partitions hold the coordinator's state.
pub const TRANSACTION_STATE_TOPIC: &str = "__transaction_state";
/// The topic a group's offsets live in (AddOffsetsToTxn adds one of its partitions).
pub const CONSUMER_OFFSETS_TOPIC: &str = "__consumer_offsets";

/// The broker's settings for the transaction coordinator, with Kafka's names and defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnSettings {
    /// `transaction.max.timeout.ms` (900000): the longest timeout a producer may ask for.
    pub max_timeout_ms: i32,
    /// `transactional.id.expiration.ms` (604800000, 7 days): an id idle this long is removed.
    pub transactional_id_expiration_ms: i64,
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms` (10000).
    pub abort_timed_out_interval_ms: i64,
    /// `transaction.remove.expired.transaction.cleanup.interval.ms` (3600000).
    pub remove_expired_interval_ms: i64,
    /// `transaction.state.log.num.partitions` (50).
    pub state_log_partitions: i32,
    /// `transaction.state.log.segment.bytes` (104857600).
    pub state_log_segment_bytes: i32,
    /// The cluster's `transaction.version` feature level (2): the record version written, and
    /// the rules of the aborts the coordinator starts itself.
    pub transaction_version: TransactionVersion,
}

impl Default for TxnSettings {
    fn default() -> Self {
        TxnSettings {
            max_timeout_ms: 900_000,
            transactional_id_expiration_ms: 604_800_000,
            abort_timed_out_interval_ms: 10_000,
            remove_expired_interval_ms: 3_600_000,
            state_log_partitions: 50,
            state_log_segment_bytes: 100 * 1024 * 1024,
            transaction_version: TransactionVersion::V2,
        }
    }
}

/// Why the coordinator refused a request; the API layer gives each its Kafka code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxnError {
    /// `INVALID_REQUEST`.
    #[error("{0}")]
    InvalidRequest(&'static str),
    /// `INVALID_TRANSACTION_TIMEOUT`: not positive, or above `transaction.max.timeout.ms`.
    #[error("transaction timeout {0} ms is not within 1..=transaction.max.timeout.ms")]
    InvalidTransactionTimeout(i32),
    /// `CONCURRENT_TRANSACTIONS` (retriable): another transition of the id is in flight.
    #[error("a transition of this transactional id is in progress")]
    ConcurrentTransactions,
    /// `PRODUCER_FENCED`; `INVALID_PRODUCER_EPOCH` to clients older than KIP-588 (see
    /// [`TxnError::fenced_code_is_legacy`]).
    #[error("a newer producer with the same transactional id fenced this one")]
    ProducerFenced,
    /// `INVALID_PRODUCER_ID_MAPPING`: the id is unknown or has another producer id.
    #[error("the producer id does not belong to the transactional id")]
    InvalidProducerIdMapping,
    /// `INVALID_TXN_STATE`: e.g. EndTxn with nothing to end, commit after an abort.
    #[error("the transaction is {0}; the request does not apply")]
    InvalidTxnState(&'static str),
    /// `TRANSACTION_ABORTABLE`: a produce to a partition not in the transaction (TV1
    /// verification).
    #[error("the partition is not part of the transaction")]
    TransactionAbortable,
    /// `NOT_COORDINATOR`.
    #[error("this broker does not coordinate the transactional id")]
    NotCoordinator,
    /// `COORDINATOR_LOAD_IN_PROGRESS` (retriable).
    #[error("the coordinator is loading the transactional id's partition")]
    CoordinatorLoadInProgress,
    /// `COORDINATOR_NOT_AVAILABLE` (retriable): the write to `__transaction_state` failed.
    #[error("the transaction state could not be written")]
    CoordinatorNotAvailable,
    /// `TRANSACTIONAL_ID_NOT_FOUND` (DescribeTransactions).
    #[error("the transactional id is not known")]
    TransactionalIdNotFound,
    /// `UNKNOWN_SERVER_ERROR`: a state Kafka treats as a bug, or a write that cannot succeed.
    #[error("internal error: {0}")]
    Internal(String),
}

impl TxnError {
    pub fn is_retriable(&self) -> bool {
        matches!(
            self,
            TxnError::ConcurrentTransactions
                | TxnError::CoordinatorLoadInProgress
                | TxnError::CoordinatorNotAvailable
                | TxnError::NotCoordinator
        )
    }

    /// Whether a client speaking `api_version` of `api_key` predates PRODUCER_FENCED (KIP-588)
    /// and must get INVALID_PRODUCER_EPOCH instead, as Kafka's handlers answer: InitProducerId
    /// (22) below 4, AddPartitionsToTxn (24), AddOffsetsToTxn (25) and EndTxn (26) below 2.
    pub fn fenced_code_is_legacy(api_key: i16, api_version: i16) -> bool {
        match api_key {
            22 => api_version < 4,
            24..=26 => api_version < 2,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests;
