//! The partition log: Kafka's on-disk layout, append, read, recovery and retention.
//!
//! # On disk
//!
//! One directory per partition:
//!
//! ```text
//! 00000000000000000000.log        RecordBatch v2 batches, bytes as produced, offsets assigned
//! 00000000000000000000.index      sparse: relative offset u32 → byte position u32
//! 00000000000000000000.timeindex  sparse: max timestamp i64 → relative offset u32
//! 00000000000000000000.txnindex   aborted transactions whose ABORT marker is in the segment
//!                                 (`txn_index.rs`; created at the first)
//! 00000000000000052113.log        the next segment, named after its base offset (20 digits)
//! ...
//! recovery-point-offset-checkpoint  everything below this offset is fsynced, indexes too
//!                                   (written periodically: it may lag the true point)
//! log-start-offset-checkpoint       first readable offset (DeleteRecords, retention)
//! leader-epoch-checkpoint           epoch → start offset, for OffsetForLeaderEpoch
//! 00000000000000052113.snapshot     idempotent-producer state below that offset
//! 00000000000000000000.log.deleted  a removed segment's file, until unlinked
//! cleaner-offset-checkpoint         compacted topics: the first offset not yet compacted
//! 00000000000000000000.log.cleaned  a cleaned segment being written (+ its indexes)
//! 00000000000000000000.log.swap     a cleaned segment being swapped in
//! ```
//!
//! Formats are in [`batch`], [`records`], `index`, `time_index` and `checkpoint`. Index files grow by appends
//! and are never preallocated.
//!
//! # Invariants
//!
//! - Segments are ordered by base offset; each `.log` is whole, valid batches back to back with
//!   increasing offsets; the last segment is the only one appended to (the active segment).
//!   Compaction replaces closed segments by cleaned ones ([`cleaner`]): offsets keep their
//!   places, with gaps where records were removed, and a compacted batch may hold fewer
//!   records than offsets ([`batch::validate_stored_batch`]).
//! - `log_start_offset <= log_end_offset`; no segment lies wholly below the log start offset
//!   except the active one.
//! - Memory per partition is a few counters per segment. Indexes are read with `pread` per
//!   lookup, never loaded. Only the active segment, once written, holds file descriptors (its
//!   `.log`, `.index`, `.timeindex`); a closed segment opens its files for a read and closes them.
//! - Appends never decode records: append checks the header and CRC-32C and rewrites
//!   `baseOffset` and `partitionLeaderEpoch` (outside the CRC). For LogAppendTime topics it also
//!   sets the timestamp-type bit and `maxTimestamp` and recomputes the CRC. Records are decoded
//!   only off the hot path, by [`records`] with capped decompression: timestamp lookups
//!   (`timestamp.rs`) narrow down to one batch by index and headers and decode it to answer
//!   with the exact record, as Kafka does.
//!
//! # Ordering and durability
//!
//! Append writes batch bytes, then index entries, and does not fsync. Durability comes from the
//! group-commit [`Flusher`] (the caller's acknowledgement waits for it) or from [`PartitionLog::flush`].
//! Rolling a segment writes its final time-index entry and hands its files to a background
//! thread that fsyncs them (as Kafka's roll schedules an asynchronous flush): under
//! `log.flush.policy=os` a closed segment can hold a whole segment of dirty pages, which an
//! inline fsync would turn into a multi-second stall for every producer of the partition. The
//! recovery point moves past a closed segment only once its fsync is done (checked on later
//! appends; a roll with more than a few still running waits for the oldest; flush, close and
//! truncation wait for all), so unclean recovery only ever scans the segments that may hold
//! unsynced data plus whatever followed a stale checkpoint. The same thread then writes and
//! fsyncs the file the caller hands over for the roll ([`PartitionLog::write_with_last_roll`]:
//! the producer snapshot at the new segment's base) and its directory entry; a failure there is
//! logged and leaves the log in service, since the next open falls back to an older snapshot.
//! A new segment's `.log` has its directory entry fsynced by its first sync, so an offset in it
//! is acknowledged only once the file itself survives a power cut.
//!
//! Every one of these fsyncs goes through the partition's [`Syncer`] (`sync.rs`): the kernel's
//! fsync in production, called directly; in tests a layer that records, holds or fails them, to
//! show what an acknowledgement waits for and to model a power cut (unsynced bytes lost).
//! Checkpoint files fsync directly. A new leader epoch is checkpointed
//! before its first batch is written. Deletion (retention, DeleteRecords) persists the new log
//! start offset first and removes files second, by renaming them to `.deleted` for the caller
//! to unlink once it has released the log; opening a partition deletes segments left below the
//! log start offset, index files left without their `.log`, and `.deleted` files.
//!
//! # Failure handling
//!
//! - Unclean open (`clean_shutdown = false`): segments from the one containing the recovery point
//!   onwards are scanned and every batch validated (length, magic, CRC-32C, increasing offsets).
//!   The first bad batch and everything after it is cut: the `.log` is truncated to exactly the
//!   whole valid batches before it, later segments are deleted, indexes are rebuilt, the leader
//!   epoch cache is trimmed to the new log end, the result is fsynced and the recovery point set.
//! - Any open: a missing or implausible index is rebuilt from its `.log`.
//! - A failed fsync marks the log failed: appends and syncs return [`LogError::LogFailed`]
//!   until it is reopened, since the kernel may already have dropped the unsynced pages.
//! - A failed write is not fatal: appends write at the known end position, so a partial write is
//!   overwritten by the next append and never counted.
//! - Disk errors are [`LogError::is_storage_error`] (KAFKA_STORAGE_ERROR); checkpoints that do
//!   not parse are `Corrupt`, except the recovery point, which falls back to a full scan.
//!
//! # Use
//!
//! The produce path appends under the partition's lock, then waits for durability outside it:
//!
//! ```no_run
//! # use std::sync::Mutex;
//! # use fjord_broker::log::{Flusher, LogError, PartitionLog};
//! # async fn produce(log: &Mutex<PartitionLog>, flusher: &Flusher, batch: &mut [u8], epoch: i32, now_ms: i64)
//! #     -> Result<i64, LogError> {
//! let (info, handle) = {
//!     let mut log = log.lock().expect("lock not poisoned");
//!     let info = log.append(batch, epoch, now_ms)?;
//!     (info, log.sync_handle())
//! };
//! flusher.sync(handle).await?; // acks=all / acks=1: acknowledged means fsynced
//! Ok(info.base_offset)
//! # }
//! ```
//!
//! A broker starts one [`Flusher`] per data directory, opens each partition with
//! `clean_shutdown` set from its clean-shutdown marker, and at shutdown calls
//! [`PartitionLog::close`] on every partition before writing the marker.
//!
//! # Not here
//!
//! Tiering and replication fetch sessions live elsewhere; this module exposes what they need:
//! raw batch reads, segment-granular deletes, leader epochs, and for followers
//! [`PartitionLog::append_replicated`] (offsets as the leader assigned them) and
//! [`PartitionLog::truncate_to`] (cut a divergent tail). Compaction is here ([`cleaner`]); the
//! broker's maintenance task decides when each partition is cleaned.

pub mod batch;
pub mod builder;
mod checkpoint;
pub mod cleaner;
pub(crate) mod compression;
pub mod control;
mod error;
mod flusher;
mod index;
mod leader_epoch;
pub use leader_epoch::{EpochEntry, end_offset_for};
mod partition;
pub mod records;
mod recovery;
#[cfg(test)]
mod recovery_tests;
mod replica;
mod retention;
mod scan;
mod segment;
pub(crate) mod sync;
#[cfg(test)]
pub(crate) mod test_batch;
mod time_index;
mod timestamp;
mod transactions;
pub(crate) mod txn_index;

#[cfg(test)]
mod tests;

pub use batch::BatchError;
pub use cleaner::{
    CleanOutcome, CleanPlan, Cleanable, Cleaned, LastRecord, ProducerView, Throttle,
};
pub use error::LogError;
pub use flusher::{Flusher, SyncHandle};
pub use partition::{PartitionLog, ReadPlan, RecoveryCheckpoint, RetiredFiles, RollWrite};
pub use sync::{FileSync, OsSync, Syncer};
pub use transactions::{AbortedPlan, AbortedTxn};

/// Per-topic log configuration; fields keep Kafka's topic config names.
#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// `segment.bytes`: roll the active segment before it would exceed this size.
    pub segment_bytes: u64,
    /// `segment.ms`: roll the active segment once it is this old.
    pub segment_ms: u64,
    /// `index.interval.bytes`: bytes of batches between two offset index entries.
    pub index_interval_bytes: u64,
    /// `retention.ms`: delete closed segments whose newest timestamp is older; -1 = unlimited.
    pub retention_ms: i64,
    /// `retention.bytes`: delete the oldest closed segments while the log is larger; -1 = unlimited.
    pub retention_bytes: i64,
    /// `max.message.bytes`: largest batch accepted.
    pub max_message_bytes: u32,
    /// `message.timestamp.type`.
    pub timestamp_type: TimestampType,
    /// `cleanup.policy` contains `compact`: the cleaner keeps the latest record per key.
    pub compact: bool,
    /// `min.cleanable.dirty.ratio`: clean once the dirty part is this share of the log.
    pub min_cleanable_dirty_ratio: f64,
    /// `min.compaction.lag.ms`: records younger than this stay uncompacted.
    pub min_compaction_lag_ms: i64,
    /// `max.compaction.lag.ms`: a dirty segment older than this is cleaned whatever the ratio.
    pub max_compaction_lag_ms: i64,
    /// `delete.retention.ms`: how long a tombstone stays after the clean that first kept it.
    pub delete_retention_ms: i64,
}

const DAY_MS: u64 = 24 * 60 * 60 * 1000;

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1024 * 1024 * 1024,
            segment_ms: 7 * DAY_MS,
            index_interval_bytes: 4096,
            retention_ms: 7 * DAY_MS as i64,
            retention_bytes: -1,
            max_message_bytes: 1_048_588,
            timestamp_type: TimestampType::CreateTime,
            compact: false,
            min_cleanable_dirty_ratio: 0.5,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: i64::MAX,
            delete_retention_ms: DAY_MS as i64,
        }
    }
}

/// `message.timestamp.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimestampType {
    /// Keep the producer's timestamps.
    #[default]
    CreateTime,
    /// Stamp each batch with the broker's clock at append.
    LogAppendTime,
}

/// Where an appended batch went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    pub base_offset: i64,
    pub last_offset: i64,
    /// The broker time stamped on the batch, -1 for CreateTime topics.
    pub log_append_time: i64,
    pub max_timestamp: i64,
    pub bytes: usize,
}
