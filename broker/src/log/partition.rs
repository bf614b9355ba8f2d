//! [`PartitionLog`]: one partition directory — open, append, read, lookups, flush.
//! Loading segments at open is in `recovery.rs`, retention and DeleteRecords in `retention.rs`.
//! See the module docs of `log` for the on-disk layout and the ordering rules.

use std::collections::VecDeque;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use bytes::Bytes;
use tracing::instrument;

use super::batch::{self, BatchError, BatchHeader, HEADER_SIZE};
use super::checkpoint::{self, LOG_START_OFFSET, RECOVERY_POINT};
use super::error::LogError;
use super::flusher::SyncHandle;
use super::leader_epoch::LeaderEpochCache;
use super::recovery;
use super::segment::{ClosedFiles, MAX_RELATIVE_OFFSET, MAX_SEGMENT_BYTES, Segment, SegmentView};
use super::sync::Syncer;
use super::{AppendInfo, LogConfig, TimestampType};

pub struct PartitionLog {
    pub(super) dir: PathBuf,
    pub(super) config: LogConfig,
    /// Ordered by base offset, never empty; the last one is active.
    pub(super) segments: Vec<Segment>,
    pub(super) log_start_offset: i64,
    /// Everything below is fsynced. The checkpoint file lags it (see [`RecoveryCheckpoint`]).
    pub(super) recovery_point: i64,
    /// The recovery point last written to the checkpoint file; its lock is held by whoever
    /// writes that file, so writers never interleave.
    checkpointed: Arc<Mutex<i64>>,
    pub(super) epochs: LeaderEpochCache,
    pub(super) failed: Arc<AtomicBool>,
    /// Segments closed by a roll whose fsync runs on a thread of its own, oldest first. The
    /// recovery point moves past each one only once it is durable.
    pub(super) closing: VecDeque<Closing>,
    /// Files of segments removed by retention or DeleteRecords, renamed and waiting to be
    /// unlinked by whoever takes them ([`Self::take_retired`]).
    pub(super) retired: Vec<PathBuf>,
    /// Every fsync of this partition's segments and roll files goes through it.
    pub(super) syncer: Syncer,
    /// The last roll's background sync, waiting for a file to write with it
    /// ([`Self::write_with_last_roll`]); dropped at the next append, roll or flush.
    last_roll: Option<mpsc::Sender<RollWrite>>,
}

/// A file to write with a roll, after the closed segment is fsynced (the producer snapshot
/// at the new segment's base offset). It writes through the given [`Syncer`]; an error is
/// logged and leaves the log in service: such a file is an optimization for the next open.
pub type RollWrite = Box<dyn FnOnce(&Syncer) -> std::io::Result<()> + Send>;

/// A rolled segment on its way to disk.
pub(super) struct Closing {
    /// The closed segment's end offset: the recovery point once it is fsynced.
    pub(super) end: i64,
    /// The fsync; `None` when nothing was written since the segment was opened.
    pub(super) sync: Option<std::thread::JoinHandle<Result<(), LogError>>>,
}

/// Rolled segments whose fsync may still be running before a roll waits for the oldest. Rolls
/// happen every `segment.bytes`, so more than this only builds up with tiny segments.
pub(super) const MAX_CLOSING: usize = 4;

impl PartitionLog {
    /// Opens (creating if missing) the partition directory. `clean_shutdown` = the broker-wide
    /// clean-shutdown marker was present: then skip scanning; otherwise recover from the last
    /// recovery checkpoint: scan forward validating batches, truncate a torn/corrupt tail,
    /// rebuild missing or corrupt .index/.timeindex. Fsyncs with the kernel's fsync.
    pub fn open(
        dir: &Path,
        config: LogConfig,
        clean_shutdown: bool,
    ) -> Result<PartitionLog, LogError> {
        PartitionLog::open_with_sync(dir, config, clean_shutdown, Syncer::os())
    }

    /// [`open`](Self::open), with every segment fsync going through `syncer`.
    #[instrument(skip_all, fields(dir = %dir.display(), clean_shutdown))]
    pub fn open_with_sync(
        dir: &Path,
        config: LogConfig,
        clean_shutdown: bool,
        syncer: Syncer,
    ) -> Result<PartitionLog, LogError> {
        fs::create_dir_all(dir).map_err(LogError::io("create partition directory", dir))?;
        let mut epochs = LeaderEpochCache::load(dir)?;
        let epochs_before = epochs.entries().to_vec();
        let checkpointed_start = checkpoint::read_offset(dir, LOG_START_OFFSET)?;
        let recovery_point = match checkpoint::read_offset(dir, RECOVERY_POINT) {
            Ok(point) => point.unwrap_or(0),
            Err(e @ LogError::Corrupt { .. }) => {
                tracing::warn!(error = %e, "ignoring corrupt recovery point; scanning the whole log");
                0
            }
            Err(e) => return Err(e),
        };
        let (mut segments, recovered) = recovery::load_segments(
            dir,
            checkpointed_start,
            recovery_point,
            clean_shutdown,
            config.index_interval_bytes,
            &mut epochs,
            &syncer,
        )?;
        if segments.is_empty() {
            segments.push(Segment::new(
                dir,
                checkpointed_start.unwrap_or(0).max(0),
                &syncer,
            ));
        }
        let first_base = segments[0].base_offset;
        let mut log = PartitionLog {
            dir: dir.to_path_buf(),
            config,
            segments,
            log_start_offset: checkpointed_start.unwrap_or(first_base).max(first_base),
            recovery_point,
            checkpointed: Arc::new(Mutex::new(recovery_point)),
            epochs,
            failed: Arc::new(AtomicBool::new(false)),
            closing: VecDeque::new(),
            retired: Vec::new(),
            syncer,
            last_roll: None,
        };
        let end = log.log_end_offset();
        if log.log_start_offset > end {
            // Data up to the log start was lost in a crash after the start was checkpointed:
            // start over with an empty segment there, so the log never goes backwards.
            tracing::warn!(
                log_start_offset = log.log_start_offset,
                log_end_offset = end,
                "log ends below its start"
            );
            for seg in &mut log.segments {
                seg.delete_files()?;
            }
            log.segments = vec![Segment::new(dir, log.log_start_offset, &log.syncer)];
        }
        let end = log.log_end_offset();
        log.epochs.truncate_from_end(end);
        log.epochs.truncate_from_start(log.log_start_offset);
        if log.epochs.entries() != epochs_before.as_slice() {
            log.epochs.persist()?;
        }
        if recovered || log.recovery_point > end {
            log.syncer
                .sync_dir(dir)
                .map_err(LogError::io("fsync directory", dir))?;
            log.recovery_point = end;
            checkpoint::write_offset(dir, RECOVERY_POINT, end)?;
            *lock(&log.checkpointed) = end;
        }
        tracing::debug!(
            segments = log.segments.len(),
            log_start_offset = log.log_start_offset,
            log_end_offset = end,
            recovered,
            "opened partition log"
        );
        Ok(log)
    }

    /// Validates then appends ONE record batch (bytes exactly as received from a Produce
    /// request, RecordBatch v2). Assigns offsets by rewriting baseOffset and
    /// partitionLeaderEpoch; for LogAppendTime topics also sets the timestamp-type bit and
    /// maxTimestamp and recomputes the CRC. Does NOT fsync. Rolls the segment when
    /// `segment.bytes` / `segment.ms` say so.
    pub fn append(
        &mut self,
        batch: &mut [u8],
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<AppendInfo, LogError> {
        let header = batch::validate_batch(batch)?;
        let (info, head) = self.append_parts(batch, &header, leader_epoch, now_ms)?;
        // Callers see the batch as stored: offsets (and a LogAppendTime stamp) assigned.
        batch[..HEADER_SIZE].copy_from_slice(&head);
        Ok(info)
    }

    /// [`append`](Self::append) for a batch already checked by [`batch::validate_batch`] (or
    /// [`batch::split_batches`]), whose result `header` is: the CRC is not computed twice, and
    /// the batch is not copied — only its header is, to assign offsets.
    pub fn append_validated(
        &mut self,
        batch: &[u8],
        header: &BatchHeader,
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<AppendInfo, LogError> {
        self.append_parts(batch, header, leader_epoch, now_ms)
            .map(|(info, _)| info)
    }

    /// Appends `batch` with its header rewritten (offsets, LogAppendTime); returns the
    /// header as written.
    fn append_parts(
        &mut self,
        batch: &[u8],
        header: &BatchHeader,
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<(AppendInfo, [u8; HEADER_SIZE]), LogError> {
        debug_assert_eq!(BatchHeader::parse(batch).ok().as_ref(), Some(header));
        self.ensure_writable()?;
        if batch.len() > self.config.max_message_bytes as usize {
            return Err(LogError::MessageTooLarge {
                size: batch.len(),
                max: self.config.max_message_bytes,
            });
        }
        if header.record_count == 0 {
            return Err(BatchError::CorruptMessage(
                "a produced batch must hold records".to_string(),
            )
            .into());
        }
        let (head, records) = batch.split_at(HEADER_SIZE);
        let mut head: [u8; HEADER_SIZE] = head.try_into().expect("a valid batch holds a header");
        if !self.closing.is_empty() {
            self.settle_closed(false)?;
        }
        let base_offset = self.log_end_offset();
        let last_offset = base_offset + i64::from(header.last_offset_delta);
        self.maybe_roll(batch.len() as u64, last_offset, now_ms)?;
        if self.epochs.assign(leader_epoch, base_offset) {
            self.epochs.persist()?;
        }
        batch::assign_offset(&mut head, base_offset, leader_epoch);
        let log_append_time = match self.config.timestamp_type {
            TimestampType::CreateTime => -1,
            TimestampType::LogAppendTime => {
                batch::set_log_append_time_split(&mut head, records, now_ms);
                now_ms
            }
        };
        let header = BatchHeader::parse(&head)?;
        self.append_to_active(&head, records, &header, now_ms)?;
        let info = AppendInfo {
            base_offset,
            last_offset,
            log_append_time,
            max_timestamp: header.max_timestamp,
            bytes: batch.len(),
        };
        Ok((info, head))
    }

    pub(super) fn ensure_writable(&self) -> Result<(), LogError> {
        if self.failed.load(Ordering::Acquire) {
            return Err(LogError::LogFailed {
                dir: self.dir.clone(),
            });
        }
        Ok(())
    }

    /// Writes a batch whose offsets are final into the active segment, as its header and the
    /// records after it.
    pub(super) fn append_to_active(
        &mut self,
        head: &[u8; HEADER_SIZE],
        records: &[u8],
        header: &BatchHeader,
        now_ms: i64,
    ) -> Result<(), LogError> {
        let interval = self.config.index_interval_bytes;
        let active = self.active_mut();
        active.roll_base_ms.get_or_insert(now_ms);
        active.append(head, records, header, interval)
    }

    pub(super) fn maybe_roll(
        &mut self,
        batch_bytes: u64,
        last_offset: i64,
        now_ms: i64,
    ) -> Result<(), LogError> {
        // Past the append that rolled: nothing more to write with that roll.
        self.last_roll = None;
        let active = self.active();
        if active.is_empty() {
            return Ok(());
        }
        let max_bytes = self.config.segment_bytes.clamp(1, MAX_SEGMENT_BYTES);
        let full = active.size + batch_bytes > max_bytes;
        let aged = active
            .roll_base_ms
            .is_some_and(|since| now_ms.saturating_sub(since) >= self.config.segment_ms as i64);
        let offsets_overflow = last_offset - active.base_offset > MAX_RELATIVE_OFFSET;
        if full || aged || offsets_overflow {
            self.roll()?;
        }
        Ok(())
    }

    /// Closes the active segment (final time-index entry, no descriptors) and starts a new one
    /// at the log end offset. As in Kafka, the closed segment is fsynced in the background:
    /// under `log.flush.policy=os` it can hold a whole segment of dirty pages, and an inline
    /// fsync would stall every producer of the partition for seconds. The recovery point moves
    /// to the new segment once that fsync is done ([`Self::settle_closed`]). A file written
    /// for the roll ([`Self::write_with_last_roll`]) is written and fsynced by the same thread,
    /// after the segment.
    fn roll(&mut self) -> Result<(), LogError> {
        let end = self.log_end_offset();
        let active = self.active_mut();
        active.finish_time_index()?;
        let files = active.take_files();
        tracing::debug!(base_offset = end, "rolled segment");
        self.segments
            .push(Segment::new(&self.dir, end, &self.syncer));
        let sync = self.sync_in_background(files)?;
        self.closing.push_back(Closing { end, sync });
        let wait = self.closing.len() > MAX_CLOSING;
        self.settle_closed(wait)
    }

    /// Starts the fsync of a closed segment on a thread of its own, which then writes the
    /// roll's file if one is handed over; a failed segment fsync marks the log failed at once,
    /// as a failed group-commit fsync does. When no thread can be started the fsync runs here,
    /// as before, and `None` says it is done.
    fn sync_in_background(
        &mut self,
        files: Option<ClosedFiles>,
    ) -> Result<Option<std::thread::JoinHandle<Result<(), LogError>>>, LogError> {
        let files = files.map(Arc::new);
        let failed = Arc::clone(&self.failed);
        let syncer = self.syncer.clone();
        let (hand_over, roll_write) = mpsc::channel::<RollWrite>();
        let sync = {
            let files = files.clone();
            move || {
                let result = files.as_ref().map_or(Ok(()), |files| files.sync());
                if let (Err(e), Some(files)) = (&result, &files) {
                    failed.store(true, Ordering::Release);
                    tracing::error!(segment = %files.log_path().display(), error = %e, "fsync of a rolled segment failed; log taken out of service");
                    return result;
                }
                // Until the log drops the sender: at its next append, roll or flush.
                if let Ok(write) = roll_write.recv() {
                    run_roll_write(write, &syncer);
                }
                result
            }
        };
        match std::thread::Builder::new()
            .name("fjord-segment-sync".to_string())
            .spawn(sync)
        {
            Ok(handle) => {
                self.last_roll = Some(hand_over);
                Ok(Some(handle))
            }
            Err(e) => {
                tracing::warn!(error = %e, "no thread for a background fsync; fsyncing the rolled segment inline");
                if let Some(Err(e)) = files.map(|files| files.sync()) {
                    self.failed.store(true, Ordering::Release);
                    return Err(e);
                }
                Ok(None)
            }
        }
    }

    /// Hands `write` to the background sync of the roll done by the last append, to run after
    /// the closed segment is fsynced (Kafka fsyncs a roll's producer snapshot with the closed
    /// segment too). Call it right after that append; without such a roll, it runs here.
    pub fn write_with_last_roll(&mut self, write: RollWrite) {
        if self.failed.load(Ordering::Acquire) {
            return;
        }
        let write = match self.last_roll.take() {
            Some(thread) => match thread.send(write) {
                Ok(()) => return,
                Err(mpsc::SendError(write)) => write,
            },
            None => write,
        };
        run_roll_write(write, &self.syncer);
    }

    /// Waits for every rolled segment's background fsync and roll file.
    #[cfg(test)]
    pub(crate) fn wait_for_rolls(&mut self) -> Result<(), LogError> {
        self.settle_closed(true)
    }

    /// Moves the recovery point past rolled segments whose background fsync is done, oldest
    /// first; with `wait`, waits for all of them. A failed fsync fails the log. The checkpoint
    /// file is written later, off the append path ([`Self::recovery_checkpoint`]).
    pub(super) fn settle_closed(&mut self, wait: bool) -> Result<(), LogError> {
        if wait {
            // The last roll's thread waits for a file to write until this is dropped.
            self.last_roll = None;
        }
        let mut durable = None;
        while let Some(front) = self.closing.front() {
            if !wait && front.sync.as_ref().is_some_and(|s| !s.is_finished()) {
                break;
            }
            let Closing { end, sync } = self.closing.pop_front().expect("front exists");
            if let Some(sync) = sync {
                let outcome = sync.join().unwrap_or_else(|_| {
                    Err(LogError::Io {
                        op: "fsync rolled segment",
                        path: self.dir.clone(),
                        source: std::io::Error::other("the fsync thread panicked"),
                    })
                });
                if let Err(e) = outcome {
                    self.failed.store(true, Ordering::Release);
                    self.closing.clear();
                    return Err(e);
                }
            }
            durable = Some(end);
        }
        if let Some(end) = durable {
            self.recovery_point = self.recovery_point.max(end);
        }
        Ok(())
    }

    /// The files of removed segments, to unlink once the log is released: freeing their blocks
    /// can wait on the device for a long time.
    pub fn take_retired(&mut self) -> RetiredFiles {
        RetiredFiles(std::mem::take(&mut self.retired))
    }

    /// What to write to the recovery-point checkpoint file, to be written without holding
    /// the log (a periodic task does, as Kafka's `log.flush.offset.checkpoint.interval.ms`).
    /// Writing the file on the append path stalled every producer of the partition for the
    /// file's fsyncs and rename — hundreds of milliseconds on a busy disk.
    pub fn recovery_checkpoint(&self) -> RecoveryCheckpoint {
        RecoveryCheckpoint {
            dir: self.dir.clone(),
            point: self.recovery_point,
            checkpointed: Arc::clone(&self.checkpointed),
        }
    }

    /// Reads raw batch bytes starting at the batch containing `offset`: at most `max_bytes`
    /// (but always one whole batch if one exists), only whole batches, only batches ending below
    /// `upper_bound` (exclusive; the high watermark), from one segment.
    pub fn read(&self, offset: i64, max_bytes: usize, upper_bound: i64) -> Result<Bytes, LogError> {
        self.plan_read(offset, max_bytes, upper_bound)?.read()
    }

    /// [`read`](Self::read) in two steps: the plan, taken under the log's lock, and its disk
    /// reads, done by [`ReadPlan::read`] after the lock is released.
    pub fn plan_read(
        &self,
        offset: i64,
        max_bytes: usize,
        upper_bound: i64,
    ) -> Result<ReadPlan, LogError> {
        let end = self.log_end_offset();
        if offset < self.log_start_offset || offset > end {
            return Err(LogError::OffsetOutOfRange {
                offset,
                log_start_offset: self.log_start_offset,
                log_end_offset: end,
            });
        }
        let segment = if offset >= upper_bound || offset == end {
            None
        } else {
            let first = self
                .segments
                .partition_point(|s| s.base_offset <= offset)
                .saturating_sub(1);
            self.segments[first..]
                .iter()
                .find(|s| !s.is_empty() && offset < s.next_offset)
                .map(Segment::view)
        };
        Ok(ReadPlan {
            segment,
            offset,
            max_bytes,
            upper_bound,
        })
    }

    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }

    /// Base offset of the active segment: it changes when the log rolls.
    pub fn active_base_offset(&self) -> i64 {
        self.active().base_offset
    }

    /// The next offset to be assigned.
    pub fn log_end_offset(&self) -> i64 {
        self.active().next_offset
    }

    pub fn size_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.size).sum()
    }

    /// OffsetForLeaderEpoch: `(epoch, end offset)` per Kafka semantics; `None` = UNDEFINED.
    pub fn end_offset_for_epoch(&self, epoch: i32) -> Option<(i32, i64)> {
        self.epochs.end_offset_for(epoch, self.log_end_offset())
    }

    pub fn set_config(&mut self, config: LogConfig) {
        self.config = config;
    }

    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Handle to fsync everything appended so far (for the group-commit [`super::Flusher`]).
    pub fn sync_handle(&self) -> SyncHandle {
        let active = self.active();
        SyncHandle::new(
            active.log_handle(),
            active.log_path().to_path_buf(),
            self.dir.clone(),
            Arc::clone(&self.failed),
        )
    }

    /// fsyncs the active segment and its indexes, then checkpoints the recovery point (the log
    /// end offset) and the log start offset. Used at clean shutdown.
    pub fn flush(&mut self) -> Result<(), LogError> {
        if self.failed.load(Ordering::Acquire) {
            return Err(LogError::LogFailed {
                dir: self.dir.clone(),
            });
        }
        self.settle_closed(true)?;
        let active = self.active_mut();
        active.finish_time_index()?;
        if let Err(e) = active.sync() {
            self.failed.store(true, Ordering::Release);
            return Err(e);
        }
        self.recovery_point = self.log_end_offset();
        self.recovery_checkpoint().write()?;
        checkpoint::write_offset(&self.dir, LOG_START_OFFSET, self.log_start_offset)
    }

    /// Flushes and releases every file.
    pub fn close(mut self) -> Result<(), LogError> {
        self.flush()?;
        self.active_mut().close_files();
        Ok(())
    }

    #[cfg(test)]
    pub(super) fn mark_failed_for_test(&self) {
        self.failed.store(true, Ordering::Release);
    }

    pub(super) fn active(&self) -> &Segment {
        self.segments
            .last()
            .expect("a log always has an active segment")
    }

    pub(super) fn active_mut(&mut self) -> &mut Segment {
        self.segments
            .last_mut()
            .expect("a log always has an active segment")
    }
}

fn run_roll_write(write: RollWrite, syncer: &Syncer) {
    if let Err(error) = write(syncer) {
        tracing::warn!(%error, "writing a file of a segment roll failed");
    }
}

/// A read planned under the log's lock, to run without it: it holds no borrow of the log.
#[must_use = "a plan reads nothing until its read runs"]
pub struct ReadPlan {
    segment: Option<SegmentView>,
    offset: i64,
    max_bytes: usize,
    upper_bound: i64,
}

impl ReadPlan {
    /// The planned read's bytes. [`LogError::SegmentRemoved`] means retention removed the
    /// segment since the plan was taken: plan again.
    pub fn read(&self) -> Result<Bytes, LogError> {
        match &self.segment {
            None => Ok(Bytes::new()),
            Some(segment) => Ok(segment
                .read(self.offset, self.max_bytes, self.upper_bound)?
                .unwrap_or_default()),
        }
    }
}

/// A recovery point to checkpoint, taken from a [`PartitionLog`]. A checkpoint behind the
/// true recovery point is safe: a crash then scans a little more of the log.
pub struct RecoveryCheckpoint {
    dir: PathBuf,
    point: i64,
    checkpointed: Arc<Mutex<i64>>,
}

impl RecoveryCheckpoint {
    /// Writes the checkpoint file unless it already holds this point or a later one; says
    /// whether it wrote.
    pub fn write(self) -> Result<bool, LogError> {
        let mut checkpointed = lock(&self.checkpointed);
        if self.point <= *checkpointed {
            return Ok(false);
        }
        checkpoint::write_offset(&self.dir, RECOVERY_POINT, self.point)?;
        *checkpointed = self.point;
        Ok(true)
    }
}

fn lock(point: &Mutex<i64>) -> std::sync::MutexGuard<'_, i64> {
    point
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Renamed files of removed segments (see [`PartitionLog::take_retired`]).
#[must_use = "retired files stay on disk until unlinked (or the partition is next opened)"]
pub struct RetiredFiles(Vec<PathBuf>);

impl RetiredFiles {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Unlinks every file; one that cannot be is logged and left for the next open.
    pub fn unlink(self) {
        for path in self.0 {
            if let Err(error) = std::fs::remove_file(&path) {
                tracing::warn!(path = %path.display(), %error, "unlinking a removed segment file failed");
            }
        }
    }
}
