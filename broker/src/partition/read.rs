//! Reading for consumers: up to the high watermark (read_committed: the last stable offset,
//! with the aborted transactions that overlap what was read, from the transaction indexes of
//! the segments from the one read onwards — searched, like the batches, after the lock).
//! The partition's lock is held only to take a [`ReadPlan`](crate::log::ReadPlan) and the
//! offsets; the disk reads run after it is released, so a slow read never holds up a produce
//! to the same partition. A plan whose segment retention removed meanwhile is taken again.
//!
//! A read returns batches of one segment. Compaction can leave a segment whose batches hold no
//! record any more (emptied batches keep the segment's offsets); a read that finds only those
//! reads on from past them, segment by segment, so a consumer is never answered with nothing
//! but empty batches while records follow (librdkafka takes such an answer for a fetch size
//! too small, doubles it, and gives up after about ten in a row).

use bytes::Bytes;

use super::{Offsets, Partition, PartitionError, lock};
use crate::log::batch::BatchHeader;
use crate::log::{AbortedPlan, AbortedTxn, LogError, ReadPlan};

/// Plans taken for one read before giving up: each retry means retention removed the planned
/// segment in between, which moves the log start, so a second plan nearly always succeeds.
const MAX_PLANS: usize = 3;

/// Segments of nothing but emptied batches a read passes over before it answers with them.
const MAX_EMPTY_SEGMENTS: usize = 1_000;

/// What a consumer may see (Fetch's `isolation_level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// Up to the high watermark.
    ReadUncommitted,
    /// Up to the last stable offset, listing the aborted transactions read.
    ReadCommitted,
}

impl Isolation {
    /// From Fetch's `isolation_level` field (0 or 1).
    pub fn from_level(level: i8) -> Self {
        if level == 1 {
            Isolation::ReadCommitted
        } else {
            Isolation::ReadUncommitted
        }
    }
}

/// A read's records and the offsets at the time it was planned.
#[derive(Debug, Clone)]
pub struct ReadResult {
    pub records: Bytes,
    pub offsets: Offsets,
    /// read_committed: the aborted transactions overlapping the records read, by first
    /// offset (Fetch's `aborted_transactions`); `None` for read_uncommitted.
    pub aborted: Option<Vec<AbortedTxn>>,
}

/// A read planned under the partition's lock; [`execute`](Self::execute) does its disk reads.
/// It holds no lock and no borrow of the partition.
pub struct PlannedRead {
    plan: ReadPlan,
    pub offsets: Offsets,
    from: i64,
    /// read_committed: the transaction indexes to search.
    aborted: Option<AbortedPlan>,
}

/// One past the last offset of the whole batches in `records`; `None` when there are none.
fn end_of_batches(records: &[u8]) -> Option<i64> {
    let mut position = 0;
    let mut end = None;
    while let Some(rest) = records.get(position..).filter(|rest| !rest.is_empty()) {
        let Ok(header) = BatchHeader::parse(rest) else {
            break;
        };
        if header.size() == 0 {
            break;
        }
        end = Some(header.last_offset() + 1);
        position += header.size();
    }
    end
}

/// When `records` are whole batches none of which holds a record (batches compaction emptied),
/// the offset after the last of them; `None` when any holds a record (or a control record), or
/// there are none.
fn past_empty_batches(records: &[u8]) -> Option<i64> {
    let mut position = 0;
    let mut next = None;
    while let Some(rest) = records.get(position..).filter(|rest| !rest.is_empty()) {
        let header = BatchHeader::parse(rest).ok()?;
        if header.record_count > 0 || header.is_control() || header.size() == 0 {
            return None;
        }
        next = Some(header.last_offset() + 1);
        position += header.size();
    }
    next
}

impl PlannedRead {
    pub fn execute(&self) -> Result<Bytes, LogError> {
        self.plan.read()
    }

    /// read_committed: the aborted transactions overlapping `records` (what
    /// [`execute`](Self::execute) returned), sorted by first offset; `None` for
    /// read_uncommitted.
    pub fn aborted(&self, records: &[u8]) -> Result<Option<Vec<AbortedTxn>>, LogError> {
        let Some(plan) = &self.aborted else {
            return Ok(None);
        };
        let Some(upper) = end_of_batches(records) else {
            return Ok(Some(Vec::new()));
        };
        let mut aborted = plan.collect(self.from, upper)?;
        aborted.sort_by_key(|txn| txn.first_offset);
        Ok(Some(aborted))
    }
}

impl Partition {
    /// Whole batches from the one containing `from`: at most `max_bytes` unless the first
    /// batch alone is larger, only below the bound `isolation` sets.
    pub fn read(
        &self,
        from: i64,
        max_bytes: usize,
        isolation: Isolation,
    ) -> Result<ReadResult, PartitionError> {
        self.read_with(from, max_bytes, isolation, || {})
    }

    /// [`read`](Self::read), running `between` after each plan is taken and before its reads:
    /// where tests let retention run.
    pub(super) fn read_with(
        &self,
        from: i64,
        max_bytes: usize,
        isolation: Isolation,
        mut between: impl FnMut(),
    ) -> Result<ReadResult, PartitionError> {
        let mut read = self.read_segment(from, max_bytes, isolation, &mut between)?;
        let mut passed = 0;
        while passed < MAX_EMPTY_SEGMENTS
            && let Some(next) = past_empty_batches(&read.records)
        {
            let further = self.read_segment(next, max_bytes, isolation, &mut between)?;
            if further.records.is_empty() {
                // Nothing readable past them yet: the empty batches move the consumer on.
                break;
            }
            read = further;
            passed += 1;
        }
        Ok(read)
    }

    /// One segment's batches from `from`, planned again if retention removed the segment.
    fn read_segment(
        &self,
        from: i64,
        max_bytes: usize,
        isolation: Isolation,
        between: &mut impl FnMut(),
    ) -> Result<ReadResult, PartitionError> {
        let mut plans = 0;
        loop {
            let planned = self.plan_read(from, max_bytes, isolation)?;
            plans += 1;
            between();
            let outcome = planned
                .execute()
                .and_then(|records| Ok((planned.aborted(&records)?, records)));
            match outcome {
                Ok((aborted, records)) => {
                    return Ok(ReadResult {
                        records,
                        offsets: planned.offsets,
                        aborted,
                    });
                }
                Err(LogError::SegmentRemoved { path }) if plans < MAX_PLANS => {
                    tracing::debug!(segment = %path.display(), "planned segment removed; planning again");
                }
                Err(error) => return Err(error.into()),
            }
        }
    }

    /// The first half of [`read`](Self::read): the plan and the offsets, under the lock.
    pub fn plan_read(
        &self,
        from: i64,
        max_bytes: usize,
        isolation: Isolation,
    ) -> Result<PlannedRead, PartitionError> {
        let log = lock(&self.log);
        let offsets = Offsets::of(&log, &lock(&self.producers), &lock(&self.replica));
        let (bound, aborted) = match isolation {
            Isolation::ReadUncommitted => (offsets.high_watermark, None),
            Isolation::ReadCommitted => (offsets.last_stable, Some(log.plan_aborted(from))),
        };
        let plan = log.plan_read(from, max_bytes, bound)?;
        Ok(PlannedRead {
            plan,
            offsets,
            from,
            aborted,
        })
    }
}
