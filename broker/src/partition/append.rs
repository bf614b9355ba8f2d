//! Appending as the leader: split and validate the batches (for a compacted topic, decode
//! them to refuse records without a key), check idempotent producers' sequences and
//! transaction state, write, record producer state, advance the high watermark — all under
//! the partition's locks — and hand back what the caller may await.
//!
//! Transactions: a transactional batch opens or extends its producer's transaction; control
//! batches (COMMIT/ABORT markers) come only from the broker ([`Partition::write_marker`], or
//! `append` with [`AppendOrigin::Coordinator`]) — a client's is INVALID_RECORD, as in Kafka.
//! A marker is checked against the producer's epochs before it is written; once written it
//! ends the transaction, and an ABORT is recorded in the transaction index of the marker's
//! segment with the last stable offset after it.
//!
//! *Durable* resolves once the appended bytes are fsynced under the broker's flush policy
//! (`sync`: by the group-commit flusher; `os`: at once, the OS writes back). *Committed*
//! resolves once the high watermark has passed them: on one node that is at once, since the
//! high watermark is the log end. Produce with `acks=1` waits on durable; `acks=all` on both.

use std::future::{Future, IntoFuture};
use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::watch;

use super::{Partition, PartitionError, PartitionEvent, lock};
use crate::log::batch::{BatchHeader, split_batches};
use crate::log::compression::decompressed_limit;
use crate::log::control::EndTxnMarker;
use crate::log::records::BatchRecords;
use crate::log::{AbortedTxn, Flusher, LogError, PartitionLog, SyncHandle, TimestampType};
use crate::producer_state::{
    BatchMeta, ProducerStates, SequenceCheck, TransactionVersion, last_sequence,
};

/// A batch of a request: where it is, its header, and the marker it holds if it is one.
type ToAppend = ((Range<usize>, BatchHeader), Option<EndTxnMarker>);

/// Who is appending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendOrigin {
    /// A producer, through Produce.
    Client,
    /// The broker itself: coordinator records, built with
    /// [`BatchBuilder`](crate::log::builder::BatchBuilder).
    Coordinator,
}

/// How acknowledged appends become durable.
#[derive(Clone)]
pub enum Durability {
    /// `flush.policy=sync`: the group-commit flusher fsyncs before an ack.
    Fsync(Arc<Flusher>),
    /// `flush.policy=os`: the OS writes back in its own time; acks do not wait.
    Os,
}

/// One leader append's outcome.
pub struct Appended {
    /// Offset of the first record (of the original batch, for a duplicate).
    pub base_offset: i64,
    /// The broker time stamped on the batches, -1 for CreateTime topics.
    pub log_append_time: i64,
    pub log_start_offset: i64,
    pub durable: Durable,
    pub committed: Committed,
}

/// Resolves once the append is fsynced (see the module docs). Awaiting it registers the fsync;
/// [`into_future`](IntoFuture::into_future) registers it at once, so it runs while the caller
/// goes on.
pub struct Durable {
    handle: SyncHandle,
    durability: Durability,
}

impl IntoFuture for Durable {
    type Output = Result<(), LogError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        match self.durability {
            Durability::Fsync(flusher) => Box::pin(flusher.submit(self.handle)),
            Durability::Os => Box::pin(std::future::ready(Ok(()))),
        }
    }
}

/// Resolves once the high watermark reaches `end` (one past the append's last offset).
pub struct Committed {
    end: i64,
    high_watermark: watch::Receiver<i64>,
    topic: String,
    partition: i32,
}

impl IntoFuture for Committed {
    type Output = Result<(), PartitionError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(mut self) -> Self::IntoFuture {
        Box::pin(async move {
            match self.high_watermark.wait_for(|hw| *hw >= self.end).await {
                Ok(_) => Ok(()),
                // The partition was closed here: whether a new leader kept it is unknown.
                Err(_) => Err(PartitionError::NotLeader {
                    topic: self.topic,
                    partition: self.partition,
                }),
            }
        })
    }
}

impl Partition {
    /// Appends `records` (one or more RecordBatch v2, as a Produce carries them) as the leader.
    /// All of the request's batches are validated before any is written; sequence checks run
    /// batch by batch, so a refused batch leaves the ones before it appended (as Kafka).
    pub fn append(
        &self,
        records: Bytes,
        origin: AppendOrigin,
        now: i64,
    ) -> Result<Appended, PartitionError> {
        if self.internal && origin == AppendOrigin::Client {
            return Err(PartitionError::InternalTopic(self.topic.clone()));
        }
        let batches = split_batches(&records)?;
        if batches.is_empty() {
            return Err(PartitionError::NoBatches);
        }
        let mut markers = Vec::with_capacity(batches.len());
        for (range, header) in &batches {
            if header.is_control() && origin == AppendOrigin::Client {
                return Err(PartitionError::ControlBatchFromClient {
                    topic: self.topic.clone(),
                    partition: self.index,
                });
            }
            if (header.is_transactional() || header.is_control()) && header.producer_id < 0 {
                return Err(PartitionError::TransactionalWithoutProducerId {
                    topic: self.topic.clone(),
                    partition: self.index,
                });
            }
            markers.push(if header.is_control() {
                EndTxnMarker::from_batch(&records[range.clone()])?
            } else {
                None
            });
        }
        let mut log = lock(&self.log);
        let Some(epoch) = lock(&self.replica).leader_epoch() else {
            return Err(PartitionError::NotLeader {
                topic: self.topic.clone(),
                partition: self.index,
            });
        };
        if log.config().compact {
            let limit = decompressed_limit(log.config().max_message_bytes);
            for (range, header) in &batches {
                if !header.is_control() {
                    self.check_keys(&records[range.clone()], limit)?;
                }
            }
        }
        let mut producers = lock(&self.producers);
        let outcome = self.append_locked(
            &mut log,
            &mut producers,
            &records,
            batches.into_iter().zip(markers).collect(),
            (epoch, origin),
            now,
        );
        drop(producers);
        // Whatever was appended before a refused batch is in the log: publish it either way.
        let end = log.log_end_offset();
        self.log_end
            .send_if_modified(|published| std::mem::replace(published, end) != end);
        let moved = lock(&self.replica).advance_high_watermark(end);
        if let Some(high_watermark) = moved {
            lock(&self.producers).forget_replicated(high_watermark);
            self.high_watermark.send_replace(high_watermark);
        }
        let (base_offset, log_append_time) = outcome?;
        Ok(Appended {
            base_offset,
            log_append_time,
            log_start_offset: log.log_start_offset(),
            durable: Durable {
                handle: log.sync_handle(),
                durability: self.shared.durability.clone(),
            },
            committed: Committed {
                end,
                high_watermark: self.high_watermark.subscribe(),
                topic: self.topic.clone(),
                partition: self.index,
            },
        })
    }

    /// Writes a COMMIT (`commit`) or ABORT marker for `producer_id` at `producer_epoch`, from
    /// the transaction coordinator at `coordinator_epoch`, through the same path as any
    /// append. The marker ends the producer's open transaction here, if it has one; a marker
    /// with an older producer epoch is INVALID_PRODUCER_EPOCH, one from an older coordinator
    /// TRANSACTION_COORDINATOR_FENCED.
    pub fn write_marker(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        coordinator_epoch: i32,
        commit: bool,
        now: i64,
    ) -> Result<Appended, PartitionError> {
        let marker = EndTxnMarker {
            commit,
            coordinator_epoch,
        };
        let batch = marker.batch(producer_id, producer_epoch, now);
        self.append(Bytes::from(batch), AppendOrigin::Coordinator, now)
    }

    /// A compacted topic takes only records with a key (Kafka's `LogValidator`): the one
    /// place the produce path decodes records, with the decompression cap.
    fn check_keys(&self, batch: &[u8], limit: usize) -> Result<(), PartitionError> {
        let records = BatchRecords::new(batch, limit)?;
        for record in records.records() {
            if record?.key.is_none() {
                return Err(PartitionError::KeylessRecordOnCompactedTopic {
                    topic: self.topic.clone(),
                    partition: self.index,
                });
            }
        }
        Ok(())
    }

    /// The append protocol under the log and producer locks: `(base offset, append time)` of
    /// the first batch, appended or found duplicate.
    fn append_locked(
        &self,
        log: &mut PartitionLog,
        producers: &mut ProducerStates,
        records: &Bytes,
        batches: Vec<ToAppend>,
        (epoch, origin): (i32, AppendOrigin),
        now: i64,
    ) -> Result<(i64, i64), PartitionError> {
        let mut first: Option<(i64, i64)> = None;
        for ((range, header), marker) in batches {
            let idempotent = header.producer_id >= 0 && !header.is_control();
            let last_seq = last_sequence(header.base_sequence, header.record_count);
            if let Some(marker) = marker {
                producers.check_marker(
                    header.producer_id,
                    header.producer_epoch,
                    marker.coordinator_epoch,
                    TransactionVersion::Legacy,
                )?;
            }
            if idempotent && origin == AppendOrigin::Coordinator {
                producers.check_coordinator_batch(header.producer_id, header.producer_epoch)?;
            } else if idempotent {
                let check = producers.check(
                    header.producer_id,
                    header.producer_epoch,
                    header.base_sequence,
                    last_seq,
                )?;
                if let SequenceCheck::Duplicate(original) = check {
                    first.get_or_insert((original.first_offset, -1));
                    continue;
                }
                producers.check_txn_state(header.producer_id, header.is_transactional())?;
            }
            let active_segment = log.active_base_offset();
            let info = log.append_validated(&records[range], &header, epoch, now)?;
            if log.active_base_offset() != active_segment {
                // The segment rolled before this batch: the state so far is that of every
                // batch below the new segment, so a restart replays at most it. Written and
                // fsynced off the partition's locks, by the roll's background sync once the
                // closed segment is fsynced.
                let snapshot = producers.snapshot(log.dir(), info.base_offset);
                log.write_with_last_roll(Box::new(move |syncer| snapshot.write_synced(syncer)));
                self.shared.events.send(PartitionEvent::SegmentRolled {
                    topic: self.topic.clone(),
                    partition: self.index,
                    active_base_offset: log.active_base_offset(),
                });
            }
            if idempotent {
                let meta = BatchMeta {
                    first_seq: header.base_sequence,
                    last_seq,
                    first_offset: info.base_offset,
                    last_offset: info.last_offset,
                    timestamp: info.max_timestamp,
                };
                if header.is_transactional() {
                    producers.record_transactional(header.producer_id, header.producer_epoch, meta);
                } else {
                    producers.record(header.producer_id, header.producer_epoch, meta);
                }
            }
            if let Some(marker) = marker {
                end_transaction(log, producers, &header, marker, info.base_offset)?;
            }
            let append_time = if log.config().timestamp_type == TimestampType::LogAppendTime {
                info.log_append_time
            } else {
                -1
            };
            first.get_or_insert((info.base_offset, append_time));
        }
        Ok(first.expect("split_batches returned at least one batch"))
    }
}

/// Applies a marker appended (or found on a replay) at `offset`: it ends its producer's
/// transaction, and an ABORT goes into the transaction index with the last stable offset
/// after it.
pub(super) fn end_transaction(
    log: &mut PartitionLog,
    producers: &mut ProducerStates,
    header: &BatchHeader,
    marker: EndTxnMarker,
    offset: i64,
) -> Result<(), LogError> {
    let completed =
        producers.apply_marker(header.producer_id, header.producer_epoch, marker, offset);
    match completed {
        Some(completed) if completed.aborted => log.append_aborted_txn(&AbortedTxn {
            producer_id: completed.producer_id,
            first_offset: completed.first_offset,
            last_offset: completed.last_offset,
            last_stable_offset: producers.last_stable_offset_after(&completed),
        }),
        _ => Ok(()),
    }
}
