//! One transactional id's state (Kafka's `TransactionMetadata`) and the transitions the
//! coordinator makes on it. Each transition is pure: it returns the metadata to write, and the
//! coordinator applies it only once the record is durable in `__transaction_state`.
//!
//! ```text
//!        InitProducerId             AddPartitions / AddOffsets / produce (TV2)
//!  Empty ◄──────────── Complete* ────────────────────────────────► Ongoing ◄──┐ more partitions
//!    │  ▲                  ▲                                          │  │    │
//!    │  └ InitProducerId   │ markers written                 EndTxn   │  └────┘
//!    │                     │                          commit ┌────────┴──────┐ abort, timeout,
//!    │ EndTxn abort (TV2)  │                                 ▼               ▼ InitProducerId
//!    └──────────────► PrepareAbort ◄─── PrepareEpochFence  PrepareCommit  PrepareAbort
//!                     (TV2 also from Complete*)                 │               │
//!                                                       CompleteCommit    CompleteAbort
//!  Empty / Complete* idle for transactional.id.expiration.ms ──► Dead (a tombstone)
//! ```

use std::collections::BTreeSet;

use super::records::{TopicPartitions, TransactionLogValue, TxnRecordError};
use super::{NO_PRODUCER_EPOCH, NO_PRODUCER_ID, TxnError};

/// Kafka's transaction states; [`TxnState::name`] is what DescribeTransactions and
/// ListTransactions report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TxnState {
    Empty,
    Ongoing,
    PrepareCommit,
    PrepareAbort,
    CompleteCommit,
    CompleteAbort,
    Dead,
    PrepareEpochFence,
}

impl TxnState {
    pub const ALL: [TxnState; 8] = [
        TxnState::Empty,
        TxnState::Ongoing,
        TxnState::PrepareCommit,
        TxnState::PrepareAbort,
        TxnState::CompleteCommit,
        TxnState::CompleteAbort,
        TxnState::Dead,
        TxnState::PrepareEpochFence,
    ];

    /// The status byte of `TransactionLogValue`.
    pub fn id(self) -> i8 {
        match self {
            TxnState::Empty => 0,
            TxnState::Ongoing => 1,
            TxnState::PrepareCommit => 2,
            TxnState::PrepareAbort => 3,
            TxnState::CompleteCommit => 4,
            TxnState::CompleteAbort => 5,
            TxnState::Dead => 6,
            TxnState::PrepareEpochFence => 7,
        }
    }

    pub fn from_id(id: i8) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.id() == id)
    }

    pub fn name(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::PrepareCommit => "PrepareCommit",
            TxnState::PrepareAbort => "PrepareAbort",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
            TxnState::Dead => "Dead",
            TxnState::PrepareEpochFence => "PrepareEpochFence",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.name() == name)
    }

    /// The states a transition into `self` may start from (Kafka's `validPreviousStates`).
    pub fn valid_previous_states(self) -> &'static [TxnState] {
        use TxnState::*;
        match self {
            Empty => &[Empty, CompleteCommit, CompleteAbort],
            Ongoing => &[Ongoing, Empty, CompleteCommit, CompleteAbort],
            PrepareCommit => &[Ongoing],
            PrepareAbort => &[
                Ongoing,
                PrepareEpochFence,
                Empty,
                CompleteCommit,
                CompleteAbort,
            ],
            CompleteCommit => &[PrepareCommit],
            CompleteAbort => &[PrepareAbort],
            Dead => &[Empty, CompleteAbort, CompleteCommit],
            PrepareEpochFence => &[Ongoing],
        }
    }

    /// Whether an idle transactional id in this state may expire.
    pub fn expiration_allowed(self) -> bool {
        matches!(
            self,
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort
        )
    }
}

/// The `transaction.version` feature level (KIP-890): of the cluster, or the one a client's
/// request versions show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TransactionVersion {
    /// The original protocol.
    V0,
    /// Flexible `__transaction_state` records.
    V1,
    /// The epoch is bumped on every EndTxn; partitions are added as the producer writes.
    V2,
}

impl TransactionVersion {
    pub fn from_level(level: i16) -> Option<Self> {
        match level {
            0 => Some(Self::V0),
            1 => Some(Self::V1),
            2 => Some(Self::V2),
            _ => None,
        }
    }

    pub fn level(self) -> i16 {
        match self {
            Self::V0 => 0,
            Self::V1 => 1,
            Self::V2 => 2,
        }
    }

    pub fn supports_epoch_bump(self) -> bool {
        self >= Self::V2
    }

    /// The `TransactionLogValue` version written at this level.
    pub fn log_value_version(self) -> i16 {
        if self >= Self::V1 { 1 } else { 0 }
    }

    /// The client's version as an AddPartitionsToTxn request shows it: above 3, V2.
    pub fn of_add_partitions_request(version: i16) -> Self {
        if version > 3 { Self::V2 } else { Self::V0 }
    }

    /// The client's version as an EndTxn request shows it: above 4, V2.
    pub fn of_end_txn_request(version: i16) -> Self {
        if version > 4 { Self::V2 } else { Self::V0 }
    }
}

/// A partition of a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

impl TopicPartition {
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }
}

/// An epoch this high or higher is exhausted: the next bump takes a new producer id, so the
/// coordinator can always fence with `i16::MAX`.
pub fn is_epoch_exhausted(epoch: i16) -> bool {
    epoch >= i16::MAX - 1
}

/// One transactional id's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnMetadata {
    pub producer_id: i64,
    /// The producer id before the last transition (a new one after a rotation).
    pub previous_producer_id: i64,
    /// Set while a TV2 completion will move to a new producer id (the epoch is exhausted).
    pub next_producer_id: i64,
    pub producer_epoch: i16,
    /// The epoch before the last bump, to recognise a retried InitProducerId or EndTxn;
    /// not stored, so -1 after a load.
    pub last_producer_epoch: i16,
    /// KIP-939's next epoch, kept as loaded (-1 otherwise).
    pub next_producer_epoch: i16,
    pub timeout_ms: i32,
    pub state: TxnState,
    pub partitions: BTreeSet<TopicPartition>,
    /// When the transaction began (its first partition), -1 when none has.
    pub start_timestamp_ms: i64,
    pub last_update_timestamp_ms: i64,
    pub client_version: TransactionVersion,
}

impl TxnMetadata {
    /// A transactional id seen for the first time: its producer id, no epoch yet.
    pub fn new(producer_id: i64, timeout_ms: i32, now_ms: i64) -> Self {
        TxnMetadata {
            producer_id,
            previous_producer_id: NO_PRODUCER_ID,
            next_producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            last_producer_epoch: NO_PRODUCER_EPOCH,
            next_producer_epoch: NO_PRODUCER_EPOCH,
            timeout_ms,
            state: TxnState::Empty,
            partitions: BTreeSet::new(),
            start_timestamp_ms: -1,
            last_update_timestamp_ms: now_ms,
            client_version: TransactionVersion::V0,
        }
    }

    pub fn is_epoch_exhausted(&self) -> bool {
        is_epoch_exhausted(self.producer_epoch)
    }

    /// KIP-939 transactions have no timeout.
    pub fn is_two_phase_commit(&self) -> bool {
        self.timeout_ms == i32::MAX
    }

    /// A copy moving to `state`; every transition records the producer id it leaves.
    fn next(&self, state: TxnState) -> TxnMetadata {
        TxnMetadata {
            state,
            previous_producer_id: self.producer_id,
            ..self.clone()
        }
    }

    /// Checks `target` is a transition Kafka allows from `self` (its `prepareTransitionTo`).
    pub fn check_transition(&self, target: &TxnMetadata) -> Result<(), TxnError> {
        if target.producer_id < 0 {
            return Err(TxnError::Internal(format!(
                "illegal new producer id {}",
                target.producer_id
            )));
        }
        if target.state != TxnState::Dead && target.producer_epoch < 0 {
            return Err(TxnError::Internal(format!(
                "illegal new producer epoch {}",
                target.producer_epoch
            )));
        }
        if !target.state.valid_previous_states().contains(&self.state) {
            return Err(TxnError::Internal(format!(
                "transition from {} to {} is not allowed",
                self.state.name(),
                target.state.name()
            )));
        }
        Ok(())
    }

    /// InitProducerId while a transaction is open: the epoch moves up one (not again after a
    /// fence whose write failed, and never past `i16::MAX`) to fence the old producer.
    pub fn fence_epoch(&self, failed_fence_before: bool) -> TxnMetadata {
        let mut next = self.next(TxnState::PrepareEpochFence);
        if !failed_fence_before && self.producer_epoch != i16::MAX {
            next.producer_epoch = self.producer_epoch + 1;
        }
        next
    }

    /// InitProducerId on an idle id: the epoch moves up one. With the producer's current
    /// epoch (KIP-360) the last epoch is remembered, and a retry of a bump that succeeded
    /// gets the same epoch again; any other epoch is fenced.
    pub fn increment_epoch(
        &self,
        timeout_ms: i32,
        expected_epoch: Option<i16>,
        now_ms: i64,
    ) -> Result<TxnMetadata, TxnError> {
        if self.is_epoch_exhausted() {
            return Err(TxnError::Internal(format!(
                "no producer epoch left for producer id {}",
                self.producer_id
            )));
        }
        let mut next = self.next(TxnState::Empty);
        let bumped = self.producer_epoch + 1;
        match expected_epoch {
            None => {
                next.producer_epoch = bumped;
                next.last_producer_epoch = NO_PRODUCER_EPOCH;
            }
            Some(expected)
                if self.producer_epoch == NO_PRODUCER_EPOCH || expected == self.producer_epoch =>
            {
                next.producer_epoch = bumped;
                next.last_producer_epoch = self.producer_epoch;
            }
            Some(expected) if expected == self.last_producer_epoch => {}
            Some(_) => return Err(TxnError::ProducerFenced),
        }
        next.timeout_ms = timeout_ms;
        next.partitions.clear();
        next.start_timestamp_ms = -1;
        next.last_update_timestamp_ms = now_ms;
        Ok(next)
    }

    /// InitProducerId with the epoch exhausted: a new producer id at epoch 0.
    pub fn rotate_producer_id(
        &self,
        new_producer_id: i64,
        timeout_ms: i32,
        now_ms: i64,
        record_last_epoch: bool,
    ) -> TxnMetadata {
        let mut next = self.next(TxnState::Empty);
        next.producer_id = new_producer_id;
        next.producer_epoch = 0;
        next.last_producer_epoch = if record_last_epoch {
            self.producer_epoch
        } else {
            NO_PRODUCER_EPOCH
        };
        next.timeout_ms = timeout_ms;
        next.partitions.clear();
        next.start_timestamp_ms = -1;
        next.last_update_timestamp_ms = now_ms;
        next
    }

    /// Partitions join the transaction; the first ones start it.
    pub fn add_partitions(
        &self,
        partitions: impl IntoIterator<Item = TopicPartition>,
        now_ms: i64,
        client_version: TransactionVersion,
    ) -> TxnMetadata {
        let mut next = self.next(TxnState::Ongoing);
        if matches!(
            self.state,
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort
        ) {
            next.start_timestamp_ms = now_ms;
        }
        next.partitions.extend(partitions);
        next.last_update_timestamp_ms = now_ms;
        next.client_version = client_version;
        next
    }

    /// EndTxn (or a coordinator abort): PrepareCommit or PrepareAbort. Under TV2 the epoch
    /// moves up one (not past `i16::MAX` for an abort) and the old one is remembered; with no
    /// partition added (a TV2 abort of an idle id) the transaction starts now.
    pub fn prepare_end(
        &self,
        state: TxnState,
        client_version: TransactionVersion,
        next_producer_id: i64,
        now_ms: i64,
        no_partition_added: bool,
    ) -> TxnMetadata {
        let mut next = self.next(state);
        if client_version.supports_epoch_bump() {
            if !(self.producer_epoch == i16::MAX && state == TxnState::PrepareAbort) {
                // An epoch of i16::MAX here becomes negative and fails `check_transition`.
                next.producer_epoch = self.producer_epoch.wrapping_add(1);
            }
            next.last_producer_epoch = self.producer_epoch;
        }
        if no_partition_added {
            next.start_timestamp_ms = now_ms;
        }
        next.next_producer_id = next_producer_id;
        next.last_update_timestamp_ms = now_ms;
        next.client_version = client_version;
        next
    }

    /// The markers are written: CompleteCommit or CompleteAbort, the partitions leave, and a
    /// TV2 transaction that exhausted its epoch moves to its next producer id at epoch 0.
    pub fn complete(&self, now_ms: i64) -> TxnMetadata {
        let state = if self.state == TxnState::PrepareCommit {
            TxnState::CompleteCommit
        } else {
            TxnState::CompleteAbort
        };
        let mut next = self.next(state);
        if self.client_version.supports_epoch_bump() && self.next_producer_id != NO_PRODUCER_ID {
            next.producer_id = self.next_producer_id;
            next.producer_epoch = 0;
        }
        next.next_producer_id = NO_PRODUCER_ID;
        next.partitions.clear();
        next.last_update_timestamp_ms = now_ms;
        next
    }

    /// The id expired.
    pub fn dead(&self) -> TxnMetadata {
        let mut next = self.next(TxnState::Dead);
        next.partitions.clear();
        next
    }

    /// The record Kafka writes for this state.
    pub fn to_log_value(&self) -> TransactionLogValue {
        let partitions = (self.state != TxnState::Empty).then(|| {
            let mut topics: Vec<TopicPartitions> = Vec::new();
            for tp in &self.partitions {
                match topics.last_mut() {
                    Some(last) if last.topic == tp.topic => last.partitions.push(tp.partition),
                    _ => topics.push(TopicPartitions {
                        topic: tp.topic.clone(),
                        partitions: vec![tp.partition],
                    }),
                }
            }
            topics
        });
        TransactionLogValue {
            producer_id: self.producer_id,
            previous_producer_id: self.previous_producer_id,
            next_producer_id: self.next_producer_id,
            producer_epoch: self.producer_epoch,
            next_producer_epoch: self.next_producer_epoch,
            transaction_timeout_ms: self.timeout_ms,
            state: self.state,
            partitions,
            last_update_timestamp_ms: self.last_update_timestamp_ms,
            start_timestamp_ms: self.start_timestamp_ms,
            client_transaction_version: self.client_version.level(),
        }
    }

    /// The state a record holds, as Kafka loads it (no last epoch).
    pub fn from_log_value(value: &TransactionLogValue) -> Result<Self, TxnRecordError> {
        let client_version = TransactionVersion::from_level(value.client_transaction_version)
            .ok_or_else(|| {
                TxnRecordError(format!(
                    "unknown client transaction version {}",
                    value.client_transaction_version
                ))
            })?;
        let mut partitions = BTreeSet::new();
        if value.state != TxnState::Empty {
            for topic in value.partitions.iter().flatten() {
                for &partition in &topic.partitions {
                    partitions.insert(TopicPartition::new(topic.topic.clone(), partition));
                }
            }
        }
        Ok(TxnMetadata {
            producer_id: value.producer_id,
            previous_producer_id: value.previous_producer_id,
            next_producer_id: value.next_producer_id,
            producer_epoch: value.producer_epoch,
            last_producer_epoch: NO_PRODUCER_EPOCH,
            next_producer_epoch: value.next_producer_epoch,
            timeout_ms: value.transaction_timeout_ms,
            state: value.state,
            partitions,
            start_timestamp_ms: value.start_timestamp_ms,
            last_update_timestamp_ms: value.last_update_timestamp_ms,
            client_version,
        })
    }
}
