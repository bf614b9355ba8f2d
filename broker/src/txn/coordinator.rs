//! The transactional ids the coordinator owns, and the writes in flight for them.
//!
//! Each id has at most one pending transition: the metadata it will have once its record is
//! durable. `write_done` applies it (or drops it when the write failed) and produces the
//! answer of the request that started it; after a PrepareCommit/PrepareAbort it also produces
//! the markers, and the CompleteCommit/CompleteAbort transition waits for them
//! (`markers_written`).

use std::collections::BTreeMap;

use super::metadata::{TopicPartition, TransactionVersion, TxnMetadata, TxnState};
use super::records::{TransactionLogValue, encode_key};
use super::requests::partition_for;
use super::{NO_PRODUCER_EPOCH, NO_PRODUCER_ID, TxnError, TxnSettings};

/// A producer id and epoch, as InitProducerId and EndTxn (TV2) answer them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerIdAndEpoch {
    pub producer_id: i64,
    pub producer_epoch: i16,
}

impl ProducerIdAndEpoch {
    pub const NONE: ProducerIdAndEpoch = ProducerIdAndEpoch {
        producer_id: NO_PRODUCER_ID,
        producer_epoch: NO_PRODUCER_EPOCH,
    };
}

/// Where new producer ids come from (the cluster's producer id blocks).
pub trait ProducerIdSource {
    /// A producer id never handed out before; an error is the answer to the request.
    fn next_producer_id(&mut self) -> Result<i64, TxnError>;
}

impl<F: FnMut() -> Result<i64, TxnError>> ProducerIdSource for F {
    fn next_producer_id(&mut self) -> Result<i64, TxnError> {
        self()
    }
}

/// A record to append to `__transaction_state`, then report with
/// [`TxnCoordinator::write_done`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    /// The `__transaction_state` partition.
    pub partition: i32,
    /// The coordinator epoch the write was made under; `write_done` passes it back.
    pub coordinator_epoch: i32,
    pub transactional_id: String,
    /// `None`: a tombstone (the id expired).
    pub value: Option<TransactionLogValue>,
    /// The value version to write (`transaction.version` ≥ 1: 1).
    pub value_version: i16,
}

impl Write {
    pub fn key_bytes(&self) -> Vec<u8> {
        encode_key(&self.transactional_id)
    }

    pub fn value_bytes(&self) -> Option<Vec<u8>> {
        self.value.as_ref().map(|v| v.encode(self.value_version))
    }
}

/// Transaction markers to write (WriteTxnMarkers) on every partition listed, then report with
/// [`TxnCoordinator::markers_written`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnMarkers {
    pub transactional_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    /// `true`: COMMIT markers; `false`: ABORT.
    pub commit: bool,
    pub partitions: Vec<TopicPartition>,
    pub coordinator_epoch: i32,
    /// The transaction version of the transaction the markers end.
    pub transaction_version: TransactionVersion,
}

/// Why an append to `__transaction_state` failed, as the caller classifies it (Kafka maps
/// NOT_LEADER_OR_FOLLOWER and KAFKA_STORAGE_ERROR to NOT_COORDINATOR; NOT_ENOUGH_REPLICAS*,
/// REQUEST_TIMED_OUT and UNKNOWN_TOPIC_OR_PARTITION to COORDINATOR_NOT_AVAILABLE).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteError {
    NotCoordinator,
    CoordinatorNotAvailable,
    /// Anything else (answered UNKNOWN_SERVER_ERROR).
    Failed(String),
}

impl WriteError {
    fn to_txn_error(&self) -> TxnError {
        match self {
            WriteError::NotCoordinator => TxnError::NotCoordinator,
            WriteError::CoordinatorNotAvailable => TxnError::CoordinatorNotAvailable,
            WriteError::Failed(reason) => TxnError::Internal(reason.clone()),
        }
    }
}

/// A request's outcome: an answer now, or a record to write first (the answer then comes
/// from [`TxnCoordinator::write_done`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step<A> {
    Answer(A),
    Write(Write),
}

/// The answer to the request that started a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    InitProducerId(Result<ProducerIdAndEpoch, TxnError>),
    AddPartitions(Result<(), TxnError>),
    /// Under TV2 the producer id and epoch to continue with; under TV1 `NONE`.
    EndTxn(Result<ProducerIdAndEpoch, TxnError>),
}

/// Work for the caller: records to write and markers to send.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Effects {
    pub writes: Vec<Write>,
    pub markers: Vec<TxnMarkers>,
}

/// What a finished write leads to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteDone {
    /// For the request waiting on this transactional id, if one is.
    pub answer: Option<Answer>,
    pub effects: Effects,
}

/// Who hears how an EndTxn-like transition went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum EndAnswerTo {
    /// The client's EndTxn, at its transaction version.
    Client(TransactionVersion),
    /// An InitProducerId that had to abort the open transaction first: CONCURRENT_TRANSACTIONS.
    InitProducerId,
    /// A timeout abort.
    Nobody,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Purpose {
    InitProducerId,
    AddPartitions,
    End { answer_to: EndAnswerTo, fence: bool },
    Complete(TxnMarkers),
    Expire,
}

impl Purpose {
    pub(super) fn failure_answer(&self, error: TxnError) -> Option<Answer> {
        match self {
            Purpose::InitProducerId => Some(Answer::InitProducerId(Err(error))),
            Purpose::AddPartitions => Some(Answer::AddPartitions(Err(error))),
            Purpose::End { answer_to, .. } => match answer_to {
                EndAnswerTo::Client(_) => Some(Answer::EndTxn(Err(error))),
                EndAnswerTo::InitProducerId => Some(Answer::InitProducerId(Err(error))),
                EndAnswerTo::Nobody => None,
            },
            Purpose::Complete(_) | Purpose::Expire => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Pending {
    /// A record is being written; `target` applies once it is durable.
    Write {
        target: TxnMetadata,
        purpose: Purpose,
        coordinator_epoch: i32,
    },
    /// The decision is durable; `target` (CompleteX) applies once the markers are written.
    Markers {
        target: TxnMetadata,
        markers: TxnMarkers,
    },
}

#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub(super) meta: TxnMetadata,
    pub(super) pending: Option<Pending>,
    /// A fence whose write failed bumped the epoch in memory; the next fence does not again.
    pub(super) failed_epoch_fence: bool,
    pub(super) partition: i32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ownership {
    Loading(i32),
    Loaded(i32),
}

/// The transaction coordinator of the `__transaction_state` partitions this broker leads.
#[derive(Debug)]
pub struct TxnCoordinator {
    pub(super) settings: TxnSettings,
    pub(super) owned: BTreeMap<i32, Ownership>,
    pub(super) txns: BTreeMap<String, Entry>,
    pub(super) last_abort_check_ms: i64,
    pub(super) last_expiry_check_ms: i64,
}

impl TxnCoordinator {
    /// A coordinator that owns no partition yet; the periodic checks count from `now_ms`.
    pub fn new(settings: TxnSettings, now_ms: i64) -> Self {
        TxnCoordinator {
            settings,
            owned: BTreeMap::new(),
            txns: BTreeMap::new(),
            last_abort_check_ms: now_ms,
            last_expiry_check_ms: now_ms,
        }
    }

    pub fn settings(&self) -> &TxnSettings {
        &self.settings
    }

    /// The `__transaction_state` partition of `transactional_id`.
    pub fn partition_of(&self, transactional_id: &str) -> i32 {
        partition_for(transactional_id, self.settings.state_log_partitions)
    }

    /// The id's current (durable) state.
    pub fn metadata(&self, transactional_id: &str) -> Option<&TxnMetadata> {
        self.txns.get(transactional_id).map(|e| &e.meta)
    }

    /// The state a transition in flight will move the id to.
    pub fn pending_state(&self, transactional_id: &str) -> Option<TxnState> {
        match self.txns.get(transactional_id)?.pending.as_ref()? {
            Pending::Write { target, .. } | Pending::Markers { target, .. } => Some(target.state),
        }
    }

    /// Every transactional id this coordinator holds.
    pub fn transactional_ids(&self) -> impl Iterator<Item = &str> {
        self.txns.keys().map(String::as_str)
    }

    /// The coordinator epoch of the id's partition, or why requests on it are refused.
    pub(super) fn owner(&self, transactional_id: &str) -> Result<(i32, i32), TxnError> {
        let partition = self.partition_of(transactional_id);
        match self.owned.get(&partition) {
            Some(Ownership::Loaded(epoch)) => Ok((partition, *epoch)),
            Some(Ownership::Loading(_)) => Err(TxnError::CoordinatorLoadInProgress),
            None => Err(TxnError::NotCoordinator),
        }
    }

    /// Marks a transition in flight and builds its record.
    pub(super) fn start_write(
        &mut self,
        transactional_id: &str,
        target: TxnMetadata,
        purpose: Purpose,
        coordinator_epoch: i32,
    ) -> Write {
        let entry = self
            .txns
            .get_mut(transactional_id)
            .expect("a write starts only for an id the coordinator holds");
        let value = (target.state != TxnState::Dead).then(|| target.to_log_value());
        let write = Write {
            partition: entry.partition,
            coordinator_epoch,
            transactional_id: transactional_id.to_owned(),
            value,
            value_version: self.settings.transaction_version.log_value_version(),
        };
        entry.pending = Some(Pending::Write {
            target,
            purpose,
            coordinator_epoch,
        });
        write
    }

    /// The write of `transactional_id`'s record made under `coordinator_epoch` finished. A
    /// write the coordinator no longer waits for (the partition moved meanwhile) changes
    /// nothing.
    pub fn write_done(
        &mut self,
        transactional_id: &str,
        coordinator_epoch: i32,
        result: Result<(), WriteError>,
        now_ms: i64,
    ) -> WriteDone {
        let Some(entry) = self.txns.get_mut(transactional_id) else {
            return WriteDone::default();
        };
        let Some(Pending::Write {
            coordinator_epoch: pending_epoch,
            ..
        }) = &entry.pending
        else {
            return WriteDone::default();
        };
        if *pending_epoch != coordinator_epoch {
            return WriteDone::default();
        }
        let Some(Pending::Write {
            target, purpose, ..
        }) = entry.pending.take()
        else {
            unreachable!("matched above");
        };
        match result {
            Ok(()) => self.apply(transactional_id, target, purpose, coordinator_epoch, now_ms),
            Err(error) => {
                let answer = purpose.failure_answer(error.to_txn_error());
                let mut done = WriteDone {
                    answer,
                    ..WriteDone::default()
                };
                match purpose {
                    Purpose::End { fence: true, .. } => entry.failed_epoch_fence = true,
                    // The decision is durable: the completion is written again until it
                    // succeeds or the partition moves away.
                    Purpose::Complete(markers) if error != WriteError::NotCoordinator => {
                        let write = self.start_write(
                            transactional_id,
                            target,
                            Purpose::Complete(markers),
                            coordinator_epoch,
                        );
                        done.effects.writes.push(write);
                    }
                    Purpose::Complete(markers) => {
                        entry.pending = Some(Pending::Markers { target, markers });
                    }
                    _ => {}
                }
                done
            }
        }
    }

    fn apply(
        &mut self,
        transactional_id: &str,
        target: TxnMetadata,
        purpose: Purpose,
        coordinator_epoch: i32,
        now_ms: i64,
    ) -> WriteDone {
        let mut done = WriteDone::default();
        if purpose == Purpose::Expire {
            self.txns.remove(transactional_id);
            return done;
        }
        let entry = self
            .txns
            .get_mut(transactional_id)
            .expect("checked by write_done");
        entry.meta = target;
        match purpose {
            Purpose::InitProducerId => {
                done.answer = Some(Answer::InitProducerId(Ok(ProducerIdAndEpoch {
                    producer_id: entry.meta.producer_id,
                    producer_epoch: entry.meta.producer_epoch,
                })));
            }
            Purpose::AddPartitions => done.answer = Some(Answer::AddPartitions(Ok(()))),
            Purpose::End { answer_to, .. } => {
                entry.failed_epoch_fence = false;
                let complete = entry.meta.complete(now_ms);
                done.answer = match answer_to {
                    EndAnswerTo::Client(version) if version.supports_epoch_bump() => {
                        Some(Answer::EndTxn(Ok(ProducerIdAndEpoch {
                            producer_id: complete.producer_id,
                            producer_epoch: complete.producer_epoch,
                        })))
                    }
                    EndAnswerTo::Client(_) => Some(Answer::EndTxn(Ok(ProducerIdAndEpoch::NONE))),
                    EndAnswerTo::InitProducerId => Some(Answer::InitProducerId(Err(
                        TxnError::ConcurrentTransactions,
                    ))),
                    EndAnswerTo::Nobody => None,
                };
                done.effects = self.send_markers(transactional_id, complete, coordinator_epoch);
            }
            Purpose::Complete(_) | Purpose::Expire => {}
        }
        done
    }

    /// After a durable PrepareX: the markers to write, or (no partition) the completion.
    pub(super) fn send_markers(
        &mut self,
        transactional_id: &str,
        complete: TxnMetadata,
        coordinator_epoch: i32,
    ) -> Effects {
        let entry = self
            .txns
            .get_mut(transactional_id)
            .expect("markers are sent only for an id the coordinator holds");
        let meta = &entry.meta;
        let markers = TxnMarkers {
            transactional_id: transactional_id.to_owned(),
            producer_id: meta.producer_id,
            producer_epoch: meta.producer_epoch,
            commit: meta.state == TxnState::PrepareCommit,
            partitions: meta.partitions.iter().cloned().collect(),
            coordinator_epoch,
            transaction_version: meta.client_version,
        };
        let mut effects = Effects::default();
        if markers.partitions.is_empty() {
            let write = self.start_write(
                transactional_id,
                complete,
                Purpose::Complete(markers),
                coordinator_epoch,
            );
            effects.writes.push(write);
        } else {
            entry.pending = Some(Pending::Markers {
                target: complete,
                markers: markers.clone(),
            });
            effects.markers.push(markers);
        }
        effects
    }

    /// Every marker of the transaction is written: the CompleteCommit/CompleteAbort record to
    /// write (report it with `write_done`).
    pub fn markers_written(
        &mut self,
        transactional_id: &str,
        coordinator_epoch: i32,
    ) -> Result<Write, TxnError> {
        let entry = self
            .txns
            .get_mut(transactional_id)
            .ok_or(TxnError::NotCoordinator)?;
        match entry.pending.take() {
            Some(Pending::Markers { target, markers })
                if markers.coordinator_epoch == coordinator_epoch =>
            {
                Ok(self.start_write(
                    transactional_id,
                    target,
                    Purpose::Complete(markers),
                    coordinator_epoch,
                ))
            }
            other => {
                entry.pending = other;
                Err(TxnError::NotCoordinator)
            }
        }
    }
}
