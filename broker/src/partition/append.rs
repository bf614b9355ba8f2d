//! Appending as the leader: split and validate the batches (for a compacted topic, decode
//! them to refuse records without a key), check idempotent producers' sequences, write,
//! record producer state, advance the high watermark — all under the partition's locks — and
//! hand back what the caller may await.
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
use crate::log::records::BatchRecords;
use crate::log::{Flusher, LogError, PartitionLog, SyncHandle, TimestampType};
use crate::producer_state::{BatchMeta, ProducerStates, SequenceCheck, last_sequence};

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
        let outcome = self.append_locked(&mut log, &mut producers, &records, batches, epoch, now);
        drop(producers);
        // Whatever was appended before a refused batch is in the log: publish it either way.
        let end = log.log_end_offset();
        self.log_end
            .send_if_modified(|published| std::mem::replace(published, end) != end);
        let moved = lock(&self.replica).advance_high_watermark(end);
        if let Some(high_watermark) = moved {
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
        batches: Vec<(Range<usize>, BatchHeader)>,
        epoch: i32,
        now: i64,
    ) -> Result<(i64, i64), PartitionError> {
        let mut first: Option<(i64, i64)> = None;
        for (range, header) in batches {
            if header.is_transactional() || header.is_control() {
                return Err(PartitionError::TransactionalNotSupported);
            }
            let idempotent = header.producer_id >= 0;
            let last_seq = last_sequence(header.base_sequence, header.record_count);
            if idempotent {
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
                producers.record(
                    header.producer_id,
                    header.producer_epoch,
                    BatchMeta {
                        first_seq: header.base_sequence,
                        last_seq,
                        first_offset: info.base_offset,
                        last_offset: info.last_offset,
                        timestamp: info.max_timestamp,
                    },
                );
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
