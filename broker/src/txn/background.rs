//! What the coordinator does on its own: abort transactions open longer than their timeout
//! (Kafka's `abortTimedOutTransactions`), remove transactional ids idle for
//! `transactional.id.expiration.ms` with a tombstone, and take over or give up
//! `__transaction_state` partitions (loading replays the partition; a transaction found in
//! PrepareCommit/PrepareAbort gets its markers written again).

use std::collections::BTreeMap;

use super::coordinator::{
    Answer, Effects, EndAnswerTo, Entry, Ownership, Pending, ProducerIdSource, Purpose, Step,
};
use super::metadata::{TxnMetadata, TxnState};
use super::records::{TxnRecordError, decode_record};
use super::{TxnCoordinator, TxnError};

/// The state of one `__transaction_state` partition, rebuilt record by record in log order.
#[derive(Debug, Default, Clone)]
pub struct TxnLogReplay {
    txns: BTreeMap<String, TxnMetadata>,
}

impl TxnLogReplay {
    /// Applies one record; a record whose key is not a transaction log key is skipped. An
    /// error leaves the replay as it was (the caller logs it and goes on, as Kafka does).
    pub fn apply(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<(), TxnRecordError> {
        let Some((id, value)) = decode_record(key, value)? else {
            return Ok(());
        };
        match value {
            None => {
                self.txns.remove(&id);
            }
            Some(value) => {
                self.txns.insert(id, TxnMetadata::from_log_value(&value)?);
            }
        }
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.txns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.txns.is_empty()
    }
}

impl TxnCoordinator {
    /// Runs the periodic checks whose interval has passed since they last ran.
    pub fn tick(&mut self, now_ms: i64, ids: &mut dyn ProducerIdSource) -> Effects {
        let mut effects = Effects::default();
        if now_ms - self.last_abort_check_ms >= self.settings.abort_timed_out_interval_ms {
            self.last_abort_check_ms = now_ms;
            effects = self.abort_timed_out(now_ms, ids);
        }
        if now_ms - self.last_expiry_check_ms >= self.settings.remove_expired_interval_ms {
            self.last_expiry_check_ms = now_ms;
            let expired = self.expire_transactional_ids(now_ms);
            effects.writes.extend(expired.writes);
        }
        effects
    }

    fn loaded(&self, entry: &Entry) -> bool {
        matches!(self.owned.get(&entry.partition), Some(Ownership::Loaded(_)))
    }

    /// Aborts every Ongoing transaction that started more than its timeout ago: its epoch is
    /// bumped (fencing the producer) and PrepareAbort is written. Ids with a transition in
    /// flight, and KIP-939 transactions (no timeout), are left alone.
    pub fn abort_timed_out(&mut self, now_ms: i64, ids: &mut dyn ProducerIdSource) -> Effects {
        let timed_out: Vec<String> = self
            .txns
            .iter()
            .filter(|(_, e)| {
                self.loaded(e)
                    && e.pending.is_none()
                    && e.meta.state == TxnState::Ongoing
                    && !e.meta.is_two_phase_commit()
                    && e.meta.start_timestamp_ms + i64::from(e.meta.timeout_ms) < now_ms
            })
            .map(|(id, _)| id.clone())
            .collect();
        let mut effects = Effects::default();
        for id in timed_out {
            if let Ok(Step::Write(write)) =
                self.fence_and_abort(&id, EndAnswerTo::Nobody, now_ms, ids)
            {
                effects.writes.push(write);
            }
        }
        effects
    }

    /// Tombstones for ids in Empty, CompleteCommit or CompleteAbort not updated for
    /// `transactional.id.expiration.ms`; each is removed once its tombstone is written.
    pub fn expire_transactional_ids(&mut self, now_ms: i64) -> Effects {
        let deadline = now_ms - self.settings.transactional_id_expiration_ms;
        let expired: Vec<(String, TxnMetadata, i32)> = self
            .txns
            .iter()
            .filter(|(_, e)| {
                self.loaded(e)
                    && e.pending.is_none()
                    && e.meta.state.expiration_allowed()
                    && e.meta.last_update_timestamp_ms <= deadline
            })
            .filter_map(|(id, e)| match self.owned.get(&e.partition) {
                Some(Ownership::Loaded(epoch)) => Some((id.clone(), e.meta.dead(), *epoch)),
                _ => None,
            })
            .collect();
        let mut effects = Effects::default();
        for (id, dead, coordinator_epoch) in expired {
            let write = self.start_write(&id, dead, Purpose::Expire, coordinator_epoch);
            effects.writes.push(write);
        }
        effects
    }

    /// This broker now leads `partition` at `coordinator_epoch`: requests for its ids are
    /// answered COORDINATOR_LOAD_IN_PROGRESS until `finish_load`. What the coordinator held of
    /// the partition is dropped; requests waiting on it are answered NOT_COORDINATOR.
    pub fn begin_load(&mut self, partition: i32, coordinator_epoch: i32) -> Vec<(String, Answer)> {
        let answers = self.drop_partition(partition);
        self.owned
            .insert(partition, Ownership::Loading(coordinator_epoch));
        answers
    }

    /// The partition is replayed: its ids are served from now on. Transactions whose decision
    /// was written but not completed get their markers (or, with no partition, their
    /// completion record) again. `NOT_COORDINATOR` if the partition was given up or loaded at
    /// another epoch meanwhile.
    pub fn finish_load(
        &mut self,
        partition: i32,
        coordinator_epoch: i32,
        replay: TxnLogReplay,
        now_ms: i64,
    ) -> Result<Effects, TxnError> {
        if self.owned.get(&partition) != Some(&Ownership::Loading(coordinator_epoch)) {
            return Err(TxnError::NotCoordinator);
        }
        self.owned
            .insert(partition, Ownership::Loaded(coordinator_epoch));
        let mut effects = Effects::default();
        for (id, meta) in replay.txns {
            if self.partition_of(&id) != partition {
                // A record in the wrong partition (the partition count changed): not ours.
                continue;
            }
            let deciding = matches!(meta.state, TxnState::PrepareCommit | TxnState::PrepareAbort);
            let complete = meta.complete(now_ms);
            let entry = Entry {
                meta,
                pending: None,
                failed_epoch_fence: false,
                partition,
            };
            self.txns.insert(id.clone(), entry);
            if deciding {
                let more = self.send_markers(&id, complete, coordinator_epoch);
                effects.writes.extend(more.writes);
                effects.markers.extend(more.markers);
            }
        }
        Ok(effects)
    }

    /// This broker no longer leads `partition`: its ids are dropped, and requests waiting on
    /// them are answered NOT_COORDINATOR.
    pub fn unload(&mut self, partition: i32) -> Vec<(String, Answer)> {
        let answers = self.drop_partition(partition);
        self.owned.remove(&partition);
        answers
    }

    fn drop_partition(&mut self, partition: i32) -> Vec<(String, Answer)> {
        let ids: Vec<String> = self
            .txns
            .iter()
            .filter(|(_, e)| e.partition == partition)
            .map(|(id, _)| id.clone())
            .collect();
        let mut answers = Vec::new();
        for id in ids {
            let Some(entry) = self.txns.remove(&id) else {
                continue;
            };
            if let Some(Pending::Write { purpose, .. }) = entry.pending
                && let Some(answer) = purpose.failure_answer(TxnError::NotCoordinator)
            {
                answers.push((id, answer));
            }
        }
        answers
    }
}
