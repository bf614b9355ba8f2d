//! ListOffsets by time: the exact record, as Kafka answers.
//!
//! A lookup narrows down to one batch with the indexes and batch headers, then decodes that
//! batch's records ([`super::records`]) to name a single record:
//!
//! ```text
//!  target ts ─► segments (skip those whose max < ts) ─► time index: last entry below ts
//!            ─► offset index ─► scan batch headers: first with maxTimestamp >= ts
//!            ─► read + CRC check + decompress (capped) + decode ─► first record with
//!               timestamp >= ts and offset >= log start, in offset order
//! ```
//!
//! - **By timestamp**: the first record, in offset order, whose timestamp is at or after the
//!   target, with that record's own timestamp; records before the log start offset do not
//!   count. Timestamps need not increase: records of one batch, and batches, may arrive in any
//!   order, and the answer is still the first qualifying record in offset order. A batch whose
//!   header promises a timestamp its records do not have is passed over, as Kafka does.
//! - **MAX_TIMESTAMP**: the first record carrying the largest timestamp of the log (first
//!   segment, first batch, first record), raised to the log start offset if it lies below it
//!   in a segment that straddles it.
//! - **LogAppendTime** batches give every record the batch's maxTimestamp.
//!
//! # Failure handling
//!
//! A batch that fails its CRC here changed on disk since it was appended: [`LogError::Corrupt`]
//! (KAFKA_STORAGE_ERROR). A batch with a good CRC whose records do not decode, or that inflates
//! past the cap ([`super::compression::decompressed_limit`]), came that way from its producer
//! (the hot path never decodes records): [`LogError::CorruptRecords`] (CORRUPT_MESSAGE, what
//! Kafka answers for a `CorruptRecordException`). Either fails the lookup of that partition
//! only.
//!
//! The lookup runs under the partition's lock like other reads; it decodes one batch (rarely
//! more), whose size the cap bounds.

use super::compression::decompressed_limit;
use super::error::LogError;
use super::partition::PartitionLog;
use super::records::{BatchRecords, RecordError};

impl PartitionLog {
    /// ListOffsets by timestamp: `(offset, timestamp)` of the first record at or after the log
    /// start offset whose timestamp is `>= ts`; `None` when there is none (Kafka answers -1).
    pub fn offset_for_timestamp(&self, ts: i64) -> Result<Option<(i64, i64)>, LogError> {
        let limit = decompressed_limit(self.config.max_message_bytes);
        for seg in &self.segments {
            if seg.next_offset <= self.log_start_offset || seg.max_timestamp < ts {
                continue;
            }
            if let Some(found) = seg.offset_for_timestamp(ts, self.log_start_offset, limit)? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// ListOffsets MAX_TIMESTAMP: `(offset, timestamp)` of the first record with the largest
    /// timestamp in the log; the offset is raised to the log start offset. As in Kafka, a
    /// record below the log start offset that shares a segment with readable ones still counts.
    pub fn max_timestamp(&self) -> Result<Option<(i64, i64)>, LogError> {
        let mut best = None;
        for seg in &self.segments {
            if seg.next_offset <= self.log_start_offset || seg.max_timestamp < 0 {
                continue;
            }
            if best.is_none_or(|b: &super::segment::Segment| seg.max_timestamp > b.max_timestamp) {
                best = Some(seg);
            }
        }
        let Some(seg) = best else {
            return Ok(None);
        };
        let limit = decompressed_limit(self.config.max_message_bytes);
        Ok(seg
            .record_of_max_timestamp(limit)?
            .map(|(offset, ts)| (offset.max(self.log_start_offset), ts)))
    }
}

/// `(offset, timestamp)` of the first record of `batch` (a whole stored batch) with an offset
/// `>= min_offset` and a timestamp `>= ts`.
pub(crate) fn first_record_at_or_after(
    batch: &[u8],
    ts: i64,
    min_offset: i64,
    limit: usize,
) -> Result<Option<(i64, i64)>, RecordError> {
    first_record(batch, limit, |_, offset, timestamp| {
        timestamp >= ts && offset >= min_offset
    })
}

/// `(offset, timestamp)` of the first record of `batch` whose timestamp is the batch's
/// maxTimestamp (Kafka's `offsetOfMaxTimestamp`).
pub(crate) fn record_of_max_timestamp(
    batch: &[u8],
    limit: usize,
) -> Result<Option<(i64, i64)>, RecordError> {
    first_record(batch, limit, |max, _, timestamp| timestamp == max)
}

/// `(offset, timestamp)` of the first record, in offset order, for which `wanted(batch's
/// maxTimestamp, offset, timestamp)` holds.
fn first_record(
    batch: &[u8],
    limit: usize,
    wanted: impl Fn(i64, i64, i64) -> bool,
) -> Result<Option<(i64, i64)>, RecordError> {
    let decoded = BatchRecords::new(batch, limit)?;
    let max = decoded.header().max_timestamp;
    for record in decoded.records() {
        let record = record?;
        if wanted(max, record.offset, record.timestamp) {
            return Ok(Some((record.offset, record.timestamp)));
        }
    }
    Ok(None)
}

#[cfg(test)]
#[path = "timestamp_tests.rs"]
mod tests;
