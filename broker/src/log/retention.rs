//! Retention and DeleteRecords: both only ever delete whole segments from the front.
//!
//! Order: the new log start offset is checkpointed (fsynced) first, segment files are removed
//! second. A crash in between leaves segments below the checkpointed start, which the next open
//! deletes. Removing is renaming to `.deleted`; the caller unlinks those files after releasing
//! the log ([`PartitionLog::take_retired`]), so producers never wait on freeing blocks. The active segment is never deleted; DeleteRecords inside it only moves the log start
//! offset, hiding the offsets below it from reads.

use std::fs;
use std::time::UNIX_EPOCH;

use tracing::instrument;

use super::checkpoint::{self, LOG_START_OFFSET};
use super::error::LogError;
use super::partition::PartitionLog;
use super::segment::Segment;

impl PartitionLog {
    /// DeleteRecords: advances the log start offset to `offset` (persisted in a checkpoint) and
    /// deletes whole segments below it. Returns the new log start offset. An offset above the
    /// log end offset is [`LogError::OffsetOutOfRange`]; one at or below the start is a no-op.
    #[instrument(skip(self), fields(dir = %self.dir.display()))]
    pub fn delete_records_before(&mut self, offset: i64) -> Result<i64, LogError> {
        let end = self.log_end_offset();
        if offset < 0 || offset > end {
            return Err(LogError::OffsetOutOfRange {
                offset,
                log_start_offset: self.log_start_offset,
                log_end_offset: end,
            });
        }
        if offset > self.log_start_offset {
            let below = self.segments[1..]
                .iter()
                .take_while(|s| s.base_offset <= offset)
                .count();
            self.delete_front(below, offset)?;
        }
        Ok(self.log_start_offset)
    }

    /// Retention: deletes whole closed segments whose largest timestamp is older than
    /// `retention.ms`, then the oldest closed segments while the log exceeds `retention.bytes`,
    /// and any closed segment wholly below the log start offset. Never the active segment.
    /// Returns how many segments were deleted.
    #[instrument(skip(self), fields(dir = %self.dir.display()))]
    pub fn apply_retention(&mut self, now_ms: i64) -> Result<usize, LogError> {
        let closed = self.segments.len() - 1;
        let start = self.log_start_offset;
        // Segments wholly below the log start offset (DeleteRecords inside a segment that has
        // since closed).
        let mut count = self.segments[1..]
            .iter()
            .take_while(|s| s.base_offset <= start)
            .count();
        if self.config.retention_ms >= 0 {
            let retention_ms = self.config.retention_ms;
            while count < closed
                && now_ms.saturating_sub(newest_timestamp(&self.segments[count])) > retention_ms
            {
                count += 1;
            }
        }
        if self.config.retention_bytes >= 0 {
            let mut excess = self.size_bytes() as i64 - self.config.retention_bytes;
            excess -= self.segments[..count]
                .iter()
                .map(|s| s.size as i64)
                .sum::<i64>();
            for seg in &self.segments[count..closed] {
                if excess < seg.size as i64 {
                    break;
                }
                excess -= seg.size as i64;
                count += 1;
            }
        }
        if count > 0 {
            let new_start = self.segments[count].base_offset.max(start);
            self.delete_front(count, new_start)?;
            tracing::info!(
                segments = count,
                log_start_offset = new_start,
                "retention deleted segments"
            );
        }
        Ok(count)
    }

    /// Moves the log start offset to `new_start`, then deletes the first `count` segments.
    fn delete_front(&mut self, count: usize, new_start: i64) -> Result<(), LogError> {
        debug_assert!(
            count < self.segments.len(),
            "the active segment is never deleted"
        );
        if new_start > self.log_start_offset {
            checkpoint::write_offset(&self.dir, LOG_START_OFFSET, new_start)?;
            self.log_start_offset = new_start;
        }
        for mut seg in self.segments.drain(..count) {
            self.retired.extend(seg.retire_files()?);
        }
        if self.epochs.truncate_from_start(new_start) {
            self.epochs.persist()?;
        }
        Ok(())
    }
}

/// A segment's newest timestamp, or as Kafka does for batches without timestamps, the time its
/// `.log` was last modified.
fn newest_timestamp(segment: &Segment) -> i64 {
    if segment.max_timestamp >= 0 {
        return segment.max_timestamp;
    }
    fs::metadata(segment.log_path())
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(i64::MAX, |d| {
            i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
        })
}

#[cfg(test)]
mod tests {
    use crate::log::tests::{append_batches, read_all, small_config};
    use crate::log::{LogConfig, LogError, PartitionLog};

    fn log_with_segments(dir: &std::path::Path, config: LogConfig) -> (PartitionLog, Vec<Vec<u8>>) {
        let mut log = PartitionLog::open(dir, config, true).expect("open");
        let written = append_batches(&mut log, 40);
        assert!(log.segments.len() >= 4, "test needs several segments");
        (log, written)
    }

    #[test]
    fn delete_records_moves_the_start_and_drops_whole_segments_below_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut log, written) = log_with_segments(dir.path(), small_config());
        let segments = log.segments.len();
        let target = log.segments[2].base_offset + 1;
        assert_eq!(log.delete_records_before(target).expect("delete"), target);
        assert_eq!(log.segments.len(), segments - 2);
        assert!(matches!(
            log.read(target - 1, 100, i64::MAX),
            Err(LogError::OffsetOutOfRange { .. })
        ));
        assert!(!log.read(target, 100, i64::MAX).expect("read").is_empty());
        assert_eq!(
            log.delete_records_before(1).expect("no-op below the start"),
            target
        );
        let end = log.log_end_offset();
        assert!(matches!(
            log.delete_records_before(end + 1),
            Err(LogError::OffsetOutOfRange { .. })
        ));
        drop(log);
        let log = PartitionLog::open(dir.path(), small_config(), false).expect("reopen");
        assert_eq!(
            log.log_start_offset(),
            target,
            "the start offset is checkpointed"
        );
        let kept: Vec<Vec<u8>> = written
            .into_iter()
            .filter(|b| {
                crate::log::batch::validate_batch(b).is_ok_and(|h| h.last_offset() >= target)
            })
            .collect();
        assert_eq!(read_all(&log, target), kept);
    }

    #[test]
    fn removed_segments_are_renamed_then_unlinked_by_the_caller_or_the_next_open() {
        let names = |dir: &std::path::Path, suffix: &str| -> Vec<String> {
            let mut names: Vec<String> = std::fs::read_dir(dir)
                .expect("list")
                .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(suffix))
                .collect();
            names.sort();
            names
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut log, _) = log_with_segments(dir.path(), small_config());
        let first_log = log.segments[0].log_path().to_path_buf();
        let target = log.segments[2].base_offset;
        log.delete_records_before(target).expect("delete");
        // Two segments' .log, .index and .timeindex, renamed, not yet freed.
        assert!(!first_log.exists());
        assert_eq!(names(dir.path(), ".deleted").len(), 6);
        let retired = log.take_retired();
        assert!(log.take_retired().is_empty(), "taken once");
        retired.unlink();
        assert!(names(dir.path(), ".deleted").is_empty());

        // A crash before the unlink: the next open removes what was left.
        let target = log.segments[1].base_offset;
        log.delete_records_before(target).expect("delete");
        assert_eq!(names(dir.path(), ".deleted").len(), 3);
        drop(log);
        let log = PartitionLog::open(dir.path(), small_config(), false).expect("reopen");
        assert!(names(dir.path(), ".deleted").is_empty());
        assert_eq!(log.log_start_offset(), target);
    }

    #[test]
    fn delete_records_up_to_the_end_keeps_the_active_segment() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut log, _) = log_with_segments(dir.path(), small_config());
        let end = log.log_end_offset();
        assert_eq!(log.delete_records_before(end).expect("delete"), end);
        assert_eq!(log.segments.len(), 1);
        assert!(log.read(end, 100, i64::MAX).expect("read").is_empty());
        assert_eq!(log.offset_for_timestamp(0).expect("lookup"), None);
        assert_eq!(log.max_timestamp().expect("max"), None);
    }

    #[test]
    fn time_retention_deletes_expired_closed_segments_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = LogConfig {
            retention_ms: 100,
            ..small_config()
        };
        let (mut log, _) = log_with_segments(dir.path(), config);
        let segments = log.segments.len();
        let second_max = log.segments[1].max_timestamp;
        // Only the first segment's newest batch is older than retention.ms.
        assert_eq!(log.apply_retention(second_max + 100).expect("retention"), 1);
        assert_eq!(log.log_start_offset(), log.segments[0].base_offset);
        // Far in the future everything closed expires, but never the active segment.
        assert_eq!(
            log.apply_retention(i64::MAX).expect("retention"),
            segments - 2
        );
        assert_eq!(log.segments.len(), 1);
        assert_eq!(log.apply_retention(i64::MAX).expect("retention"), 0);
    }

    #[test]
    fn size_retention_deletes_the_oldest_segments_while_over_the_limit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut log, _) = log_with_segments(
            dir.path(),
            LogConfig {
                retention_ms: -1,
                ..small_config()
            },
        );
        let total = log.size_bytes() as i64;
        let first = log.segments[0].size as i64;
        log.set_config(LogConfig {
            retention_ms: -1,
            retention_bytes: total - first,
            ..small_config()
        });
        assert_eq!(log.apply_retention(0).expect("retention"), 1);
        // One byte over the limit does not justify deleting a whole segment (Kafka's rule).
        let now = log.size_bytes() as i64;
        log.set_config(LogConfig {
            retention_ms: -1,
            retention_bytes: now - 1,
            ..small_config()
        });
        assert_eq!(log.apply_retention(0).expect("retention"), 0);
        let next = log.segments[0].size as i64;
        log.set_config(LogConfig {
            retention_ms: -1,
            retention_bytes: now - next,
            ..small_config()
        });
        assert_eq!(log.apply_retention(0).expect("retention"), 1);
        log.set_config(LogConfig {
            retention_ms: -1,
            retention_bytes: 0,
            ..small_config()
        });
        log.apply_retention(0).expect("retention");
        assert_eq!(log.segments.len(), 1);
        assert!(log.size_bytes() > 0, "the active segment stays");
    }

    #[test]
    fn unlimited_retention_deletes_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = LogConfig {
            retention_ms: -1,
            retention_bytes: -1,
            ..small_config()
        };
        let (mut log, _) = log_with_segments(dir.path(), config);
        assert_eq!(log.apply_retention(i64::MAX).expect("retention"), 0);
    }

    #[test]
    fn segments_left_below_the_start_by_a_crash_are_deleted_on_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (log, _) = log_with_segments(dir.path(), small_config());
        let start = log.segments[2].base_offset;
        let segments = log.segments.len();
        drop(log);
        // The checkpoint was written, the files not yet removed.
        crate::log::checkpoint::write_offset(
            dir.path(),
            crate::log::checkpoint::LOG_START_OFFSET,
            start,
        )
        .expect("checkpoint");
        let log = PartitionLog::open(dir.path(), small_config(), false).expect("reopen");
        assert_eq!(log.segments.len(), segments - 2);
        assert_eq!(log.log_start_offset(), start);
    }
}
