//! The producer's requests: InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn, EndTxn (both
//! transaction versions), and the produce path's check that a partition is in the
//! transaction (TV1) or its implicit add (TV2, KIP-890). The checks run in Kafka's order, so
//! a request that fails several gets Kafka's error.

use super::coordinator::{EndAnswerTo, Entry, ProducerIdAndEpoch, ProducerIdSource, Purpose, Step};
use super::metadata::{
    TopicPartition, TransactionVersion, TxnMetadata, TxnState, is_epoch_exhausted,
};
use super::{CONSUMER_OFFSETS_TOPIC, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, TxnCoordinator, TxnError};

/// The partition of a topic with `partitions` partitions that `key` maps to, as Kafka
/// computes it for `__transaction_state` and `__consumer_offsets`: Java's `String.hashCode`,
/// made positive by `Utils.abs` (`i32::MIN` becomes 0).
pub fn partition_for(key: &str, partitions: i32) -> i32 {
    let hash = key.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    });
    let positive = if hash == i32::MIN { 0 } else { hash.abs() };
    positive % partitions.max(1)
}

/// An InitProducerId with a transactional id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitProducerId {
    pub transactional_id: String,
    pub timeout_ms: i32,
    /// The producer's current id and epoch (v3+, KIP-360), when it has them.
    pub current: Option<ProducerIdAndEpoch>,
}

fn check_transactional_id(transactional_id: &str) -> Result<(), TxnError> {
    if transactional_id.is_empty() {
        return Err(TxnError::InvalidRequest("the transactional id is empty"));
    }
    if transactional_id.len() > i16::MAX as usize {
        return Err(TxnError::InvalidRequest("the transactional id is too long"));
    }
    Ok(())
}

impl TxnCoordinator {
    fn entry(&self, transactional_id: &str) -> Option<&Entry> {
        self.txns.get(transactional_id)
    }

    /// InitProducerId: a new id gets a new producer id at epoch 0; a known one gets its epoch
    /// bumped (a new producer id once the epoch is exhausted). An open transaction is aborted
    /// first and the producer is told CONCURRENT_TRANSACTIONS, to retry.
    pub fn init_producer_id(
        &mut self,
        request: &InitProducerId,
        now_ms: i64,
        ids: &mut dyn ProducerIdSource,
    ) -> Result<Step<ProducerIdAndEpoch>, TxnError> {
        let id = request.transactional_id.as_str();
        check_transactional_id(id)?;
        if request.timeout_ms <= 0 || request.timeout_ms > self.settings.max_timeout_ms {
            return Err(TxnError::InvalidTransactionTimeout(request.timeout_ms));
        }
        let (partition, coordinator_epoch) = self.owner(id)?;
        if !self.txns.contains_key(id) {
            let producer_id = ids.next_producer_id()?;
            let entry = Entry {
                meta: TxnMetadata::new(producer_id, request.timeout_ms, now_ms),
                pending: None,
                failed_epoch_fence: false,
                partition,
            };
            self.txns.insert(id.to_owned(), entry);
        }
        let entry = self.entry(id).expect("inserted above");
        if entry.pending.is_some() {
            return Err(TxnError::ConcurrentTransactions);
        }
        let meta = &entry.meta;
        if let Some(current) = request.current {
            // KIP-360: the producer's own id, a retry after a rotation it never heard of, or
            // an id created just now may go on; anyone else is fenced.
            let valid = meta.producer_epoch == NO_PRODUCER_EPOCH
                || current.producer_id == meta.producer_id
                || (current.producer_id == meta.previous_producer_id
                    && is_epoch_exhausted(current.producer_epoch));
            if !valid {
                return Err(TxnError::ProducerFenced);
            }
        }
        match meta.state {
            TxnState::PrepareCommit | TxnState::PrepareAbort => {
                Err(TxnError::ConcurrentTransactions)
            }
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort => {
                let rotate = meta.is_epoch_exhausted()
                    && request
                        .current
                        .is_none_or(|c| c.producer_epoch == meta.producer_epoch);
                let target = if rotate {
                    let new_id = ids.next_producer_id()?;
                    meta.rotate_producer_id(
                        new_id,
                        request.timeout_ms,
                        now_ms,
                        request.current.is_some(),
                    )
                } else {
                    let expected = request.current.map(|c| c.producer_epoch);
                    meta.increment_epoch(request.timeout_ms, expected, now_ms)?
                };
                meta.check_transition(&target)?;
                let write =
                    self.start_write(id, target, Purpose::InitProducerId, coordinator_epoch);
                Ok(Step::Write(write))
            }
            TxnState::Ongoing => self.fence_and_abort(id, EndAnswerTo::InitProducerId, now_ms, ids),
            TxnState::Dead | TxnState::PrepareEpochFence => Err(TxnError::Internal(format!(
                "transactional id in state {}, which is never stable",
                meta.state.name()
            ))),
        }
    }

    /// Bumps the epoch of an open transaction to fence its producer and aborts it (an
    /// InitProducerId on an Ongoing id, or a timeout), under the cluster's transaction version.
    pub(super) fn fence_and_abort(
        &mut self,
        id: &str,
        answer_to: EndAnswerTo,
        now_ms: i64,
        ids: &mut dyn ProducerIdSource,
    ) -> Result<Step<ProducerIdAndEpoch>, TxnError> {
        let entry = self.entry(id).ok_or(TxnError::InvalidProducerIdMapping)?;
        let fenced = entry.meta.fence_epoch(entry.failed_epoch_fence);
        entry.meta.check_transition(&fenced)?;
        let version = self.settings.transaction_version;
        let end = EndTxn {
            producer_id: fenced.producer_id,
            producer_epoch: fenced.producer_epoch,
            commit: false,
            from_client: false,
            version,
            fence: true,
        };
        self.end(id, end, answer_to, now_ms, ids)
    }

    /// AddPartitionsToTxn (v0–v3 from a client; v4+ from a broker for a TV2 producer): the
    /// partitions join the transaction, which starts with the first. Already-added partitions
    /// of an open transaction are answered at once.
    pub fn add_partitions(
        &mut self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: &[TopicPartition],
        client_version: TransactionVersion,
        now_ms: i64,
    ) -> Result<Step<()>, TxnError> {
        check_transactional_id(transactional_id)?;
        if partitions.iter().any(|p| p.topic.len() > i16::MAX as usize) {
            return Err(TxnError::InvalidRequest("a topic name is too long"));
        }
        let (_, coordinator_epoch) = self.owner(transactional_id)?;
        let entry = self
            .entry(transactional_id)
            .ok_or(TxnError::InvalidProducerIdMapping)?;
        let meta = &entry.meta;
        if meta.producer_id != producer_id {
            return Err(TxnError::InvalidProducerIdMapping);
        }
        if meta.producer_epoch != producer_epoch {
            return Err(TxnError::ProducerFenced);
        }
        if entry.pending.is_some()
            || matches!(meta.state, TxnState::PrepareCommit | TxnState::PrepareAbort)
        {
            return Err(TxnError::ConcurrentTransactions);
        }
        if meta.state == TxnState::Ongoing && partitions.iter().all(|p| meta.partitions.contains(p))
        {
            return Ok(Step::Answer(()));
        }
        let target = meta.add_partitions(partitions.iter().cloned(), now_ms, client_version);
        meta.check_transition(&target)?;
        let write = self.start_write(
            transactional_id,
            target,
            Purpose::AddPartitions,
            coordinator_epoch,
        );
        Ok(Step::Write(write))
    }

    /// AddOffsetsToTxn: the partition of `__consumer_offsets` that holds `group_id` joins the
    /// transaction (`offsets_partitions`: `offsets.topic.num.partitions`).
    pub fn add_offsets(
        &mut self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        group_id: &str,
        offsets_partitions: i32,
        now_ms: i64,
    ) -> Result<Step<()>, TxnError> {
        let partition = TopicPartition::new(
            CONSUMER_OFFSETS_TOPIC,
            partition_for(group_id, offsets_partitions),
        );
        self.add_partitions(
            transactional_id,
            producer_id,
            producer_epoch,
            &[partition],
            TransactionVersion::V0,
            now_ms,
        )
    }

    /// A transactional produce to `partition`: under TV2 the partition is added (it may start
    /// the transaction); before, it must already be in it (TRANSACTION_ABORTABLE otherwise).
    pub fn verify_or_add_partition(
        &mut self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partition: &TopicPartition,
        client_version: TransactionVersion,
        now_ms: i64,
    ) -> Result<Step<()>, TxnError> {
        if client_version.supports_epoch_bump() {
            let partitions = std::slice::from_ref(partition);
            return self.add_partitions(
                transactional_id,
                producer_id,
                producer_epoch,
                partitions,
                client_version,
                now_ms,
            );
        }
        check_transactional_id(transactional_id)?;
        self.owner(transactional_id)?;
        let entry = self
            .entry(transactional_id)
            .ok_or(TxnError::InvalidProducerIdMapping)?;
        let meta = &entry.meta;
        if meta.producer_id != producer_id {
            Err(TxnError::InvalidProducerIdMapping)
        } else if meta.producer_epoch != producer_epoch {
            Err(TxnError::ProducerFenced)
        } else if matches!(meta.state, TxnState::PrepareCommit | TxnState::PrepareAbort) {
            Err(TxnError::ConcurrentTransactions)
        } else if meta.partitions.contains(partition) {
            Ok(Step::Answer(()))
        } else {
            Err(TxnError::TransactionAbortable)
        }
    }

    /// EndTxn: commit or abort. Under TV2 (EndTxn v5+) the epoch is bumped on every end and
    /// returned; a retry of an end that completed is answered with the current id and epoch.
    #[allow(clippy::too_many_arguments)]
    pub fn end_txn(
        &mut self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
        client_version: TransactionVersion,
        now_ms: i64,
        ids: &mut dyn ProducerIdSource,
    ) -> Result<Step<ProducerIdAndEpoch>, TxnError> {
        check_transactional_id(transactional_id)?;
        self.owner(transactional_id)?;
        let end = EndTxn {
            producer_id,
            producer_epoch,
            commit,
            from_client: true,
            version: client_version,
            fence: false,
        };
        self.end(
            transactional_id,
            end,
            EndAnswerTo::Client(client_version),
            now_ms,
            ids,
        )
    }

    fn end(
        &mut self,
        id: &str,
        end: EndTxn,
        answer_to: EndAnswerTo,
        now_ms: i64,
        ids: &mut dyn ProducerIdSource,
    ) -> Result<Step<ProducerIdAndEpoch>, TxnError> {
        let (_, coordinator_epoch) = self.owner(id)?;
        let entry = self.entry(id).ok_or(TxnError::InvalidProducerIdMapping)?;
        let decision = if end.version.supports_epoch_bump() {
            decide_v2(entry, &end)?
        } else {
            decide_v1(entry, &end)?
        };
        let (next_state, no_partition_added) = match decision {
            Decision::Done => {
                let meta = &entry.meta;
                let answer = if end.version.supports_epoch_bump() {
                    ProducerIdAndEpoch {
                        producer_id: meta.producer_id,
                        producer_epoch: meta.producer_epoch,
                    }
                } else {
                    ProducerIdAndEpoch::NONE
                };
                return Ok(Step::Answer(answer));
            }
            Decision::Prepare {
                state,
                no_partition_added,
            } => (state, no_partition_added),
        };
        let next_producer_id =
            if end.version.supports_epoch_bump() && !end.fence && entry.meta.is_epoch_exhausted() {
                ids.next_producer_id()?
            } else {
                NO_PRODUCER_ID
            };
        let entry = self.txns.get_mut(id).expect("looked up above");
        if end.fence {
            // Kafka bumps the epoch of the metadata itself here: it stays bumped even if the
            // write fails (and `failed_epoch_fence` keeps the next fence from bumping again).
            entry.meta.producer_epoch = end.producer_epoch;
            entry.meta.last_producer_epoch = NO_PRODUCER_EPOCH;
        }
        // TV1 writes its end records as version 0 clients, as Kafka does.
        let version = if end.version.supports_epoch_bump() {
            end.version
        } else {
            TransactionVersion::V0
        };
        let target = entry.meta.prepare_end(
            next_state,
            version,
            next_producer_id,
            now_ms,
            no_partition_added,
        );
        entry.meta.check_transition(&target)?;
        let purpose = Purpose::End {
            answer_to,
            fence: end.fence,
        };
        Ok(Step::Write(self.start_write(
            id,
            target,
            purpose,
            coordinator_epoch,
        )))
    }
}

/// An EndTxn as the decision needs it.
struct EndTxn {
    producer_id: i64,
    producer_epoch: i16,
    commit: bool,
    from_client: bool,
    version: TransactionVersion,
    /// The coordinator fences the producer (its epoch is already the bumped one).
    fence: bool,
}

enum Decision {
    /// Nothing to write: a retry of an end that already completed.
    Done,
    Prepare {
        state: TxnState,
        no_partition_added: bool,
    },
}

fn prepare_state(commit: bool) -> TxnState {
    if commit {
        TxnState::PrepareCommit
    } else {
        TxnState::PrepareAbort
    }
}

fn invalid_state(meta: &TxnMetadata) -> TxnError {
    TxnError::InvalidTxnState(meta.state.name())
}

fn never_stable(meta: &TxnMetadata) -> TxnError {
    TxnError::Internal(format!(
        "transactional id in state {}, which is never stable",
        meta.state.name()
    ))
}

/// TV1: the epoch must be the current one; ending a completed transaction the same way again
/// succeeds, the other way is INVALID_TXN_STATE.
fn decide_v1(entry: &Entry, end: &EndTxn) -> Result<Decision, TxnError> {
    let meta = &entry.meta;
    if meta.producer_id != end.producer_id {
        return Err(TxnError::InvalidProducerIdMapping);
    }
    if (end.from_client && end.producer_epoch != meta.producer_epoch)
        || end.producer_epoch < meta.producer_epoch
    {
        return Err(TxnError::ProducerFenced);
    }
    if entry.pending.is_some() {
        return Err(TxnError::ConcurrentTransactions);
    }
    match (meta.state, end.commit) {
        (TxnState::Ongoing, commit) => Ok(Decision::Prepare {
            state: prepare_state(commit),
            no_partition_added: false,
        }),
        (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false) => Ok(Decision::Done),
        (TxnState::PrepareCommit, true) | (TxnState::PrepareAbort, false) => {
            Err(TxnError::ConcurrentTransactions)
        }
        (TxnState::Dead | TxnState::PrepareEpochFence, _) => Err(never_stable(meta)),
        _ => Err(invalid_state(meta)),
    }
}

/// TV2 (KIP-890): every end bumps the epoch, so the epoch tells a retry (one below the
/// current) from a new request (the current). For Empty, CompleteAbort and CompleteCommit:
///
/// ```text
///                  abort: retry  current        commit: retry  current
///  Empty                  FENCED bump                   FENCED INVALID_TXN_STATE
///  CompleteAbort          ok     bump                   INVALID_TXN_STATE (both)
///  CompleteCommit         INVALID_TXN_STATE  bump       ok     INVALID_TXN_STATE
/// ```
fn decide_v2(entry: &Entry, end: &EndTxn) -> Result<Decision, TxnError> {
    let meta = &entry.meta;
    let epoch = i32::from(end.producer_epoch);
    let current = i32::from(meta.producer_epoch);
    // A retry of an end whose epoch overflowed: the producer id moved on, epoch 0.
    let retry_on_overflow = !end.fence
        && meta.previous_producer_id == end.producer_id
        && end.producer_epoch == i16::MAX - 1
        && meta.producer_epoch == 0;
    let retry_on_bump = !end.fence && current == epoch + 1;
    let valid_epoch = if end.fence {
        (!end.from_client || epoch == current) && epoch >= current
    } else {
        match meta.state {
            TxnState::Ongoing | TxnState::Empty | TxnState::Dead | TxnState::PrepareEpochFence => {
                epoch == current
            }
            TxnState::PrepareCommit | TxnState::PrepareAbort => retry_on_bump,
            TxnState::CompleteCommit | TxnState::CompleteAbort => {
                retry_on_bump || retry_on_overflow || epoch == current
            }
        }
    };
    let retry = retry_on_bump || retry_on_overflow;
    if meta.producer_id != end.producer_id && !retry_on_overflow {
        return Err(TxnError::InvalidProducerIdMapping);
    }
    if !valid_epoch {
        return Err(TxnError::ProducerFenced);
    }
    if entry.pending.is_some() {
        return Err(TxnError::ConcurrentTransactions);
    }
    let abort_now = Decision::Prepare {
        state: TxnState::PrepareAbort,
        no_partition_added: true,
    };
    match (meta.state, end.commit) {
        (TxnState::Ongoing, commit) => Ok(Decision::Prepare {
            state: prepare_state(commit),
            no_partition_added: false,
        }),
        (TxnState::CompleteCommit, true) if retry => Ok(Decision::Done),
        (TxnState::CompleteCommit, false) if !retry => Ok(abort_now),
        (TxnState::CompleteAbort, false) if retry => Ok(Decision::Done),
        (TxnState::CompleteAbort, false) => Ok(abort_now),
        (TxnState::PrepareCommit, true) | (TxnState::PrepareAbort, false) => {
            Err(TxnError::ConcurrentTransactions)
        }
        (TxnState::Empty, false) => Ok(abort_now),
        (TxnState::Dead | TxnState::PrepareEpochFence, _) => Err(never_stable(meta)),
        _ => Err(invalid_state(meta)),
    }
}
