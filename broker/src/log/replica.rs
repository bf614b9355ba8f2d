//! Follower-side operations for replication: appending batches whose offsets the leader already
//! assigned, and truncating a divergent tail (found through OffsetForLeaderEpoch) before
//! fetching again.
//!
//! Truncation order: later segments are deleted, the segment holding the cut is truncated and
//! its indexes rebuilt and fsynced, then the leader epoch cache and the recovery point are
//! brought down to the new end. A crash in between is repaired by the next open: the active
//! segment is always re-validated, and epochs past the log end are dropped.

use super::AppendInfo;
use super::batch::{self, HEADER_SIZE};
use super::checkpoint::{self, LOG_START_OFFSET, RECOVERY_POINT};
use super::error::LogError;
use super::partition::PartitionLog;
use super::segment::Segment;

impl PartitionLog {
    /// Appends one batch fetched from the leader, keeping the leader's baseOffset and
    /// partitionLeaderEpoch (and LogAppendTime stamp). The batch is validated like a stored
    /// one (a compacted batch holds fewer records than offsets); it must start at or after the
    /// log end offset (a gap is allowed, as the leader's log may have been compacted). Does not
    /// fsync.
    pub fn append_replicated(&mut self, batch: &[u8], now_ms: i64) -> Result<AppendInfo, LogError> {
        self.ensure_writable()?;
        let header = batch::validate_stored_batch(batch)?;
        let end = self.log_end_offset();
        if header.base_offset < end {
            return Err(LogError::AppendOutOfOrder {
                offset: header.base_offset,
                log_end_offset: end,
            });
        }
        self.maybe_roll(batch.len() as u64, header.last_offset(), now_ms)?;
        if self
            .epochs
            .assign(header.partition_leader_epoch, header.base_offset)
        {
            self.epochs.persist()?;
        }
        let (head, records) = batch.split_at(HEADER_SIZE);
        let head: &[u8; HEADER_SIZE] = head.try_into().expect("a valid batch holds a header");
        self.append_to_active(head, records, &header, now_ms)?;
        Ok(AppendInfo {
            base_offset: header.base_offset,
            last_offset: header.last_offset(),
            log_append_time: if header.is_log_append_time() {
                header.max_timestamp
            } else {
                -1
            },
            max_timestamp: header.max_timestamp,
            bytes: batch.len(),
        })
    }

    /// Removes the batch containing `offset` and everything after it (Kafka's `truncateTo`),
    /// so the new log end offset is at most `offset`. At or below the log start offset the log
    /// is emptied and starts again at `offset`. Returns the new log end offset.
    pub fn truncate_to(&mut self, offset: i64) -> Result<i64, LogError> {
        self.ensure_writable()?;
        // A rolled segment still being fsynced would otherwise move the recovery point past
        // the cut once its fsync completes.
        self.settle_closed(true)?;
        let end = self.log_end_offset();
        if offset >= end {
            return Ok(end);
        }
        if offset <= self.log_start_offset {
            self.truncate_fully_and_start_at(offset.max(0))?;
            return Ok(self.log_end_offset());
        }
        let keep = self.segments.partition_point(|s| s.base_offset < offset);
        for mut seg in self.segments.drain(keep..) {
            seg.delete_files()?;
        }
        let interval = self.config.index_interval_bytes;
        let active = self
            .segments
            .last_mut()
            .expect("offset > log start keeps the first segment");
        active.truncate_from(offset, interval, &mut self.epochs)?;
        let end = self.log_end_offset();
        if self.epochs.truncate_from_end(end) {
            self.epochs.persist()?;
        }
        if self.recovery_point > end {
            self.recovery_point = end;
            checkpoint::write_offset(&self.dir, RECOVERY_POINT, end)?;
        }
        if self.log_start_offset > end {
            // The cut batch straddled the log start.
            self.log_start_offset = end;
            checkpoint::write_offset(&self.dir, LOG_START_OFFSET, end)?;
        }
        Ok(end)
    }

    /// Deletes every segment and restarts the log, empty, at `offset`: checkpoint first, so a
    /// crash leaves segments below the new start, which the next open removes.
    fn truncate_fully_and_start_at(&mut self, offset: i64) -> Result<(), LogError> {
        tracing::info!(dir = %self.dir.display(), offset, "emptying log");
        checkpoint::write_offset(&self.dir, LOG_START_OFFSET, offset)?;
        self.log_start_offset = offset;
        for mut seg in self.segments.drain(..) {
            seg.delete_files()?;
        }
        self.segments
            .push(Segment::new(&self.dir, offset, &self.syncer));
        self.recovery_point = offset;
        checkpoint::write_offset(&self.dir, RECOVERY_POINT, offset)?;
        if self.epochs.clear() {
            self.epochs.persist()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::batch::BatchHeader;
    use crate::log::test_batch::batch_of;
    use crate::log::tests::{append_batches, read_all, small_config};

    fn open(dir: &std::path::Path, clean: bool) -> PartitionLog {
        PartitionLog::open(dir, small_config(), clean).expect("open")
    }

    #[test]
    fn a_follower_keeps_the_leaders_offsets_and_epochs() {
        let leader_dir = tempfile::tempdir().expect("tempdir");
        let mut leader = open(leader_dir.path(), true);
        let mut written = append_batches(&mut leader, 10);
        let mut b = batch_of(3, 0, 1);
        leader.append(&mut b, 4, 0).expect("append");
        written.push(b);

        let dir = tempfile::tempdir().expect("tempdir");
        let mut follower = open(dir.path(), true);
        for b in &written {
            let info = follower.append_replicated(b, 0).expect("replicate");
            assert_eq!(
                info.base_offset,
                BatchHeader::parse(b).expect("header").base_offset
            );
        }
        assert_eq!(read_all(&follower, 0), written);
        assert_eq!(follower.log_end_offset(), leader.log_end_offset());
        assert_eq!(
            follower.end_offset_for_epoch(1),
            leader.end_offset_for_epoch(1)
        );
        assert_eq!(
            follower.end_offset_for_epoch(4),
            Some((4, leader.log_end_offset()))
        );
        let err = follower
            .append_replicated(&written[0], 0)
            .expect_err("out of order");
        assert!(
            matches!(err, LogError::AppendOutOfOrder { offset: 0, .. }),
            "{err}"
        );
    }

    #[test]
    fn truncation_removes_the_whole_batch_holding_the_offset_and_all_after() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut log = open(dir.path(), true);
        let written = append_batches(&mut log, 40);
        let segments = log.segments.len();
        let victim = &written[12];
        let h = batch::validate_batch(victim).expect("valid");
        let end = log.truncate_to(h.last_offset()).expect("truncate");
        assert_eq!(end, h.base_offset);
        assert_eq!(read_all(&log, 0), written[..12].to_vec());
        assert!(log.segments.len() < segments);
        let info = log.append(&mut batch_of(2, 0, 7), 3, 0).expect("append");
        assert_eq!(info.base_offset, end);
        assert_eq!(log.end_offset_for_epoch(1), Some((1, end)));
        drop(log);
        for clean in [false, true] {
            let log = open(dir.path(), clean);
            assert_eq!(log.log_end_offset(), end + 2);
            assert_eq!(read_all(&log, 0)[..12].to_vec(), written[..12].to_vec());
            log.close().expect("close");
        }
    }

    #[test]
    fn truncating_at_or_past_the_end_changes_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut log = open(dir.path(), true);
        let written = append_batches(&mut log, 5);
        let end = log.log_end_offset();
        assert_eq!(log.truncate_to(end).expect("truncate"), end);
        assert_eq!(log.truncate_to(end + 10).expect("truncate"), end);
        assert_eq!(read_all(&log, 0), written);
    }

    #[test]
    fn truncating_to_the_log_start_empties_the_log_there() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut log = open(dir.path(), true);
        append_batches(&mut log, 40);
        let start = log.segments[2].base_offset;
        log.delete_records_before(start).expect("delete records");
        assert_eq!(log.truncate_to(start).expect("truncate"), start);
        assert_eq!(
            (
                log.log_start_offset(),
                log.log_end_offset(),
                log.size_bytes()
            ),
            (start, start, 0)
        );
        assert_eq!(log.end_offset_for_epoch(1), None);
        let info = log.append(&mut batch_of(1, 0, 1), 2, 0).expect("append");
        assert_eq!(info.base_offset, start);
        drop(log);
        let log = open(dir.path(), false);
        assert_eq!(
            (log.log_start_offset(), log.log_end_offset()),
            (start, start + 1)
        );
        assert_eq!(log.segments.len(), 1);
    }
}
