//! One partition on this broker: its log, its producer state (idempotence and transactions)
//! and its replica state (leader epoch, high watermark, log start offsets, room for
//! follower progress and the ISR). Handlers call it; they never take its locks.
//!
//! ```text
//!  api/ handlers ── append ─► Partition ─► Appended { offsets, durable, committed }
//!                ── read ───►   │  plan under the lock, disk reads after it
//!  partition manager ─ open / become_leader / stop_leading / remove
//!                              │
//!     log: Mutex<PartitionLog>          lock order: log → producers → replica
//!     producers: Mutex<ProducerStates>
//!     replica: Mutex<ReplicaState>      (pure rules in replica.rs)
//!     watches: log end, high watermark  (long-poll fetches wait on them)
//!     events ─► leadership and segment rolls, to the coordinators and the tiering uploader
//! ```

mod append;
mod error;
mod events;
mod read;
mod replica;

#[cfg(test)]
mod compaction_tests;
#[cfg(test)]
mod leader_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod txn_tests;

use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::watch;
use uuid::Uuid;

pub use append::{AppendOrigin, Appended, Committed, Durability, Durable};
pub use error::PartitionError;
pub use events::{Events, PartitionEvent};
pub use read::{Isolation, PlannedRead, ReadResult};
pub use replica::{EpochMismatch, ReplicaState};

use crate::log::batch::BatchHeader;
use crate::log::control::EndTxnMarker;
use crate::log::{
    CleanOutcome, Cleanable, LogConfig, LogError, PartitionLog, ProducerView, RecoveryCheckpoint,
    Syncer, Throttle,
};
use crate::producer_state::{BatchMeta, ProducerStates, last_sequence};

/// Which partition, and of what kind of topic.
#[derive(Debug, Clone)]
pub struct PartitionId {
    pub topic: String,
    pub topic_id: Uuid,
    pub index: i32,
    /// An internal topic (`__consumer_offsets`, ...): only the broker appends to it.
    pub internal: bool,
}

/// What every partition of the broker shares: how acknowledged writes become durable, and
/// where events go.
#[derive(Clone)]
pub struct Shared {
    pub durability: Durability,
    pub events: Events,
    pub syncer: Syncer,
}

/// The offsets a reader is told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offsets {
    pub log_start: i64,
    pub high_watermark: i64,
    /// The last stable offset: the smaller of the first unstable offset (the first offset of
    /// the earliest transaction not yet ended, or ended by a marker not yet below the high
    /// watermark) and the high watermark; never below the log start.
    pub last_stable: i64,
    pub log_end: i64,
}

impl Offsets {
    fn of(log: &PartitionLog, producers: &ProducerStates, replica: &ReplicaState) -> Offsets {
        let high_watermark = replica.high_watermark();
        let log_start = replica.log_start_offset();
        let last_stable = producers
            .first_unstable_offset(high_watermark)
            .map_or(high_watermark, |first| first.min(high_watermark))
            .max(log_start);
        Offsets {
            log_start,
            high_watermark,
            last_stable,
            log_end: log.log_end_offset(),
        }
    }
}

/// One partition hosted here.
pub struct Partition {
    pub topic: String,
    pub topic_id: Uuid,
    pub index: i32,
    internal: bool,
    log: Mutex<PartitionLog>,
    producers: Mutex<ProducerStates>,
    replica: Mutex<ReplicaState>,
    /// The log end offset as last published, under the log lock so in order.
    log_end: watch::Sender<i64>,
    /// The high watermark as last published: consumers' long-poll fetches wait on it.
    high_watermark: watch::Sender<i64>,
    shared: Shared,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The state's invariants are kept by its operations, not by the lock: a thread that
    // panicked holding it must not take every later request down too.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Partition {
    /// Opens (creating if missing) the partition's log in `dir` and rebuilds its producer
    /// state. It does not lead until [`become_leader`](Self::become_leader).
    pub fn open(
        id: PartitionId,
        dir: &Path,
        config: LogConfig,
        clean_shutdown: bool,
        shared: Shared,
    ) -> Result<Partition, LogError> {
        let mut log =
            PartitionLog::open_with_sync(dir, config, clean_shutdown, shared.syncer.clone())?;
        let producers = rebuild_producer_states(&mut log)?;
        let replica = ReplicaState::new(log.log_start_offset(), log.log_end_offset());
        Ok(Partition {
            topic: id.topic,
            topic_id: id.topic_id,
            index: id.index,
            internal: id.internal,
            log_end: watch::Sender::new(log.log_end_offset()),
            high_watermark: watch::Sender::new(replica.high_watermark()),
            log: Mutex::new(log),
            producers: Mutex::new(producers),
            replica: Mutex::new(replica),
            shared,
        })
    }

    pub fn is_internal(&self) -> bool {
        self.internal
    }

    /// Leads the partition from now on at `epoch`. Taken under the log lock, so an append
    /// sees one epoch from its check to its write.
    pub fn become_leader(&self, epoch: i32) -> Result<(), PartitionError> {
        let log = lock(&self.log);
        let mut replica = lock(&self.replica);
        let changed =
            replica
                .become_leader(epoch)
                .map_err(|current| PartitionError::StaleLeaderEpoch {
                    topic: self.topic.clone(),
                    partition: self.index,
                    requested: epoch,
                    current,
                })?;
        let moved = replica.advance_high_watermark(log.log_end_offset());
        drop(replica);
        drop(log);
        if let Some(high_watermark) = moved {
            self.high_watermark.send_replace(high_watermark);
        }
        if changed {
            self.shared.events.send(PartitionEvent::BecameLeader {
                topic: self.topic.clone(),
                partition: self.index,
                leader_epoch: epoch,
            });
        }
        Ok(())
    }

    /// Stops leading: later appends get NOT_LEADER_OR_FOLLOWER.
    pub fn stop_leading(&self) {
        let _log = lock(&self.log);
        if lock(&self.replica).stop_leading() {
            self.shared.events.send(PartitionEvent::StoppedLeading {
                topic: self.topic.clone(),
                partition: self.index,
            });
        }
    }

    /// Whether this broker leads the partition now.
    pub fn is_leader(&self) -> bool {
        lock(&self.replica).leader_epoch().is_some()
    }

    /// The leader epoch to report to clients: the current one, or the last known.
    pub fn leader_epoch(&self) -> i32 {
        lock(&self.replica).latest_epoch()
    }

    /// Checks the leader epoch a request carries (-1: no check).
    pub fn check_leader_epoch(&self, requested: i32) -> Result<(), PartitionError> {
        lock(&self.replica)
            .check_epoch(requested)
            .map_err(|mismatch| match mismatch {
                EpochMismatch::Fenced(current) => {
                    PartitionError::FencedLeaderEpoch { requested, current }
                }
                EpochMismatch::Unknown(current) => {
                    PartitionError::UnknownLeaderEpoch { requested, current }
                }
            })
    }

    pub fn offsets(&self) -> Offsets {
        let log = lock(&self.log);
        let producers = lock(&self.producers);
        Offsets::of(&log, &producers, &lock(&self.replica))
    }

    /// The first offset on the local volume (ListOffsets EARLIEST_LOCAL).
    pub fn local_log_start_offset(&self) -> i64 {
        lock(&self.replica).local_log_start_offset()
    }

    /// A watch of the published log end offset (what followers wait on).
    pub fn watch_log_end(&self) -> watch::Receiver<i64> {
        self.log_end.subscribe()
    }

    /// A watch of the published high watermark. Subscribe before reading: a change published
    /// after the subscription then shows as one.
    pub fn watch_high_watermark(&self) -> watch::Receiver<i64> {
        self.high_watermark.subscribe()
    }

    /// `(offset, timestamp)` of the first record at or after `timestamp` (ListOffsets).
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<(i64, i64)>, LogError> {
        lock(&self.log).offset_for_timestamp(timestamp)
    }

    /// `(offset, timestamp)` of the first record with the log's largest timestamp.
    pub fn max_timestamp(&self) -> Result<Option<(i64, i64)>, LogError> {
        lock(&self.log).max_timestamp()
    }

    /// OffsetForLeaderEpoch: `(epoch, end offset)`; `None` = UNDEFINED.
    pub fn end_offset_for_epoch(&self, epoch: i32) -> Option<(i32, i64)> {
        lock(&self.log).end_offset_for_epoch(epoch)
    }

    /// DeleteRecords: removes everything below `offset` (-1: the high watermark); returns the
    /// new log start. Offsets past the high watermark are refused.
    pub fn delete_records_before(&self, offset: i64) -> Result<i64, PartitionError> {
        let mut log = lock(&self.log);
        let high_watermark = lock(&self.replica).high_watermark();
        let offset = if offset == -1 { high_watermark } else { offset };
        if offset < 0 || offset > high_watermark {
            return Err(LogError::OffsetOutOfRange {
                offset,
                log_start_offset: log.log_start_offset(),
                log_end_offset: high_watermark,
            }
            .into());
        }
        let outcome = log.delete_records_before(offset);
        lock(&self.replica).set_local_log_start(log.log_start_offset());
        let retired = log.take_retired();
        drop(log);
        retired.unlink();
        Ok(outcome?)
    }

    /// Deletes closed segments past retention; returns how many.
    pub fn apply_retention(&self, now_ms: i64) -> Result<usize, LogError> {
        let mut log = lock(&self.log);
        let outcome = log.apply_retention(now_ms);
        lock(&self.replica).set_local_log_start(log.log_start_offset());
        let retired = log.take_retired();
        drop(log);
        retired.unlink();
        outcome
    }

    /// How dirty the log is, if it is compacted (for the cleaner to pick the dirtiest).
    pub fn cleanable(&self, now_ms: i64) -> Result<Option<Cleanable>, LogError> {
        let log = lock(&self.log);
        let last_stable =
            Offsets::of(&log, &lock(&self.producers), &lock(&self.replica)).last_stable;
        log.cleanable(now_ms, last_stable)
    }

    /// Compacts the log if a clean is due: the lock is held to plan (which closed segments,
    /// the producers' last batches) and to swap the result in; reading and rewriting the
    /// segments run without it. `None` when there was nothing to do, or when retention
    /// removed a segment meanwhile or `io` was stopped (the clean is abandoned). `budget`
    /// bounds the key → offset map in bytes; `io` limits the clean's reads and writes.
    pub fn clean(
        &self,
        now_ms: i64,
        budget: usize,
        io: &Throttle,
    ) -> Result<Option<CleanOutcome>, LogError> {
        let plan = {
            let log = lock(&self.log);
            let producers = lock(&self.producers);
            let view = ProducerView {
                last_stable: Offsets::of(&log, &producers, &lock(&self.replica)).last_stable,
                producers: producers.last_records(),
            };
            drop(producers);
            log.plan_clean(now_ms, view)?
        };
        let Some(plan) = plan else {
            return Ok(None);
        };
        let cleaned = match plan.run(budget, io) {
            Ok(Some(cleaned)) => cleaned,
            Ok(None) | Err(LogError::SegmentRemoved { .. } | LogError::CleanAborted) => {
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let mut log = lock(&self.log);
        let outcome = log.swap_in(cleaned);
        let retired = log.take_retired();
        drop(log);
        retired.unlink();
        outcome
    }

    /// The recovery point to checkpoint, written by the caller without the lock.
    pub fn recovery_checkpoint(&self) -> RecoveryCheckpoint {
        lock(&self.log).recovery_checkpoint()
    }

    pub fn set_config(&self, config: LogConfig) {
        lock(&self.log).set_config(config);
    }

    /// Flushes the log and writes its checkpoints and producer snapshot (clean shutdown).
    pub fn flush_for_shutdown(&self) -> Result<(), LogError> {
        let mut log = lock(&self.log);
        log.flush()?;
        // Lets the next start skip replaying the log for producer state. An empty log has
        // nothing to replay, and a snapshot at the log end is still true if nothing was
        // appended since it was written.
        let end = log.log_end_offset();
        if end == log.log_start_offset() || ProducerStates::has_snapshot(log.dir(), end) {
            return Ok(());
        }
        if let Err(error) = lock(&self.producers).write_snapshot(log.dir(), end, true) {
            tracing::warn!(topic = %self.topic, partition = self.index, %error, "writing the producer snapshot at shutdown failed");
        }
        Ok(())
    }

    /// The log, for tests that inspect or arrange it directly.
    #[cfg(test)]
    pub(crate) fn log(&self) -> MutexGuard<'_, PartitionLog> {
        lock(&self.log)
    }

    /// Whether the producer has a transaction open in this partition at `epoch` (its
    /// coordinator put the partition in the transaction before the first batch).
    pub fn has_open_transaction(&self, producer_id: i64, epoch: i16) -> bool {
        lock(&self.producers).has_open_transaction(producer_id, epoch)
    }

    /// Forgets producers idle longer than `expiration_ms` (`producer.id.expiration.ms`).
    pub fn expire_producers(&self, now_ms: i64, expiration_ms: i64) -> usize {
        lock(&self.producers).expire(now_ms, expiration_ms)
    }

    /// The producers with state in this partition (DescribeProducers).
    pub fn active_producers(&self) -> Vec<crate::producer_state::ActiveProducer> {
        lock(&self.producers).describe()
    }

    /// The producer state, for tests.
    #[cfg(test)]
    pub(crate) fn producers(&self) -> MutexGuard<'_, ProducerStates> {
        lock(&self.producers)
    }
}

/// Rebuilds producer state: the newest usable snapshot, then the batch headers in `log` after
/// it (all of them when there is none). The transaction indexes are cut back to the snapshot
/// and their entries after it written again from the markers the replay meets, so they hold
/// exactly the aborted transactions of the log as recovered.
fn rebuild_producer_states(log: &mut PartitionLog) -> Result<ProducerStates, LogError> {
    const CHUNK: usize = 1 << 20;
    let end = log.log_end_offset();
    let start = log.log_start_offset();
    let snapshot = ProducerStates::read_snapshot(log.dir(), end)
        .map_err(LogError::io("read producer snapshots", log.dir()))?;
    let (mut offset, mut states) = match snapshot {
        Some((at, states)) => (at.max(start), states),
        None => (start, ProducerStates::default()),
    };
    log.truncate_txn_indexes_from(offset)?;
    while offset < end {
        let before = offset;
        let bytes = log.read(offset, CHUNK, end)?;
        if bytes.is_empty() {
            break;
        }
        let mut position = 0;
        while position < bytes.len() {
            let Ok(header) = BatchHeader::parse(&bytes[position..]) else {
                break;
            };
            let last_offset = header.base_offset + i64::from(header.last_offset_delta);
            let size = 12 + header.batch_length.max(0) as usize;
            if header.is_control() && header.producer_id >= 0 {
                let batch = bytes.get(position..position + size).unwrap_or_default();
                match EndTxnMarker::from_batch(batch) {
                    Ok(Some(marker)) => {
                        append::end_transaction(
                            log,
                            &mut states,
                            &header,
                            marker,
                            header.base_offset,
                        )?;
                    }
                    Ok(None) => {}
                    Err(error) => {
                        tracing::warn!(offset = header.base_offset, %error, "a control batch of the log does not parse; passed over");
                    }
                }
            } else if header.producer_id >= 0 {
                let meta = BatchMeta {
                    first_seq: header.base_sequence,
                    // From the offsets, not the record count: compaction removes
                    // records from a batch but keeps its last offset delta.
                    last_seq: last_sequence(
                        header.base_sequence,
                        header.last_offset_delta.saturating_add(1),
                    ),
                    first_offset: header.base_offset,
                    last_offset,
                    timestamp: header.max_timestamp,
                };
                if header.is_transactional() {
                    states.record_transactional(header.producer_id, header.producer_epoch, meta);
                } else {
                    states.record(header.producer_id, header.producer_epoch, meta);
                }
            }
            offset = last_offset + 1;
            position += size;
        }
        if offset == before {
            break; // nothing parsed: never loop on the same offset
        }
    }
    states.retain_from(start);
    // A partition opens with its high watermark at the log end.
    states.forget_replicated(end);
    Ok(states)
}
