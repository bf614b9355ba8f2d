//! One segment: `<base offset>.log` plus its `.index`, `.timeindex` and, once it holds an
//! ABORT marker, its `.txnindex` (`log/txn_index.rs`).
//!
//! The `.log` holds whole RecordBatch v2 batches back to back, exactly as appended. In memory a
//! segment is a few counters (size, next offset, max timestamp, index entry counts); file
//! handles exist only while the segment is active and has been written since it was opened.
//! A closed segment opens its files for the duration of a read and closes them again, so idle
//! partitions hold no descriptors.
//!
//! Write order within an append: batch bytes first, index entries after. Nothing is fsynced
//! here except on request ([`Segment::sync`]); recovery rebuilds indexes of anything past the
//! recovery point, so an index never needs to be durable before its data.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::ops::Deref;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use super::batch::{BatchHeader, HEADER_SIZE};
use super::error::LogError;
use super::index::{self, OffsetEntry};
use super::leader_epoch::LeaderEpochCache;
use super::scan::{BatchScanner, Scan, ScannedBatch};
use super::sync::Syncer;
use super::time_index::TimeEntry;
use super::txn_index::TXN_INDEX_SUFFIX;

pub(crate) const LOG_SUFFIX: &str = "log";
/// Appended to the files of a segment that retention or DeleteRecords removed, until they
/// are unlinked.
pub(crate) const DELETED_SUFFIX: &str = ".deleted";
/// Batches with at least this many record bytes are written as header and records with two
/// writes rather than copied into one buffer first.
const SPLIT_WRITE_BYTES: usize = 16 * 1024;
/// Largest `.log` a segment may reach: index positions are u32, Kafka caps at `i32::MAX`.
pub(crate) const MAX_SEGMENT_BYTES: u64 = i32::MAX as u64;
/// Largest last offset minus base offset within a segment (Kafka's limit).
pub(crate) const MAX_RELATIVE_OFFSET: i64 = i32::MAX as i64;
pub(crate) const INDEX_SUFFIX: &str = "index";
pub(crate) const TIME_INDEX_SUFFIX: &str = "timeindex";

/// `<20-digit zero-padded base offset>.<suffix>`, as Kafka names segment files.
pub(crate) fn file_name(base_offset: i64, suffix: &str) -> String {
    format!("{base_offset:020}.{suffix}")
}

/// The file of the same segment with `suffix` in place of `log`, keeping any trailing suffix:
/// `<base>.log` → `<base>.index`, `<base>.log.cleaned` → `<base>.index.cleaned`.
pub(crate) fn sibling(log_path: &Path, suffix: &str) -> PathBuf {
    let name = log_path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let (stem, rest) = name.split_once('.').unwrap_or((name, LOG_SUFFIX));
    let trailing = rest.strip_prefix(LOG_SUFFIX).unwrap_or_default();
    log_path.with_file_name(format!("{stem}.{suffix}{trailing}"))
}

/// A segment's `.log`, shared with the flusher. Before anything in it counts as durable, its
/// data must be fsynced and — once, for a file created here — its directory entry too. That
/// directory fsync is left to the first sync of the file rather than done at creation: on a
/// journaling file system it waits for a journal commit, which a roll would otherwise pay
/// inline while the closed segment's dirty pages are still being written back.
/// Both fsyncs go through the partition's [`Syncer`].
#[derive(Debug)]
pub(crate) struct LogFile {
    file: File,
    path: PathBuf,
    syncer: Syncer,
    /// The partition directory, while the new file's entry is not yet known to be durable.
    unsynced_entry: Mutex<Option<PathBuf>>,
}

impl LogFile {
    fn new(file: File, path: PathBuf, syncer: Syncer, unsynced_entry: Option<PathBuf>) -> LogFile {
        LogFile {
            file,
            path,
            syncer,
            unsynced_entry: Mutex::new(unsynced_entry),
        }
    }

    /// A file whose directory entry is already durable.
    #[cfg(test)]
    pub(crate) fn existing(file: File, path: PathBuf, syncer: Syncer) -> LogFile {
        LogFile::new(file, path, syncer, None)
    }

    /// fsyncs the data, then the directory entry if it is still pending. Concurrent callers
    /// of one file all return only after both are done.
    pub(crate) fn sync(&self) -> io::Result<()> {
        self.syncer.sync_data(&self.file, &self.path)?;
        let mut entry = self
            .unsynced_entry
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(dir) = entry.as_deref() {
            self.syncer.sync_dir(dir)?;
            *entry = None;
        }
        Ok(())
    }

    pub(crate) fn syncer(&self) -> &Syncer {
        &self.syncer
    }
}

impl Deref for LogFile {
    type Target = File;
    fn deref(&self) -> &File {
        &self.file
    }
}

struct OpenFiles {
    log: Arc<LogFile>,
    /// Shared with read views, which look batches up in it outside the partition's lock.
    index: Arc<File>,
    time_index: File,
    /// Opened at the segment's first aborted transaction since its files were opened.
    txn_index: Option<File>,
}

impl OpenFiles {
    fn sync(&self, log_path: &Path) -> Result<(), LogError> {
        self.log
            .sync()
            .map_err(LogError::io("fsync segment", log_path))?;
        let syncer = self.log.syncer();
        let index_path = sibling(log_path, INDEX_SUFFIX);
        syncer
            .sync_data(&self.index, &index_path)
            .map_err(LogError::io("fsync offset index", &index_path))?;
        let time_index_path = sibling(log_path, TIME_INDEX_SUFFIX);
        syncer
            .sync_data(&self.time_index, &time_index_path)
            .map_err(LogError::io("fsync time index", &time_index_path))?;
        if let Some(txn_index) = &self.txn_index {
            let txn_index_path = sibling(log_path, TXN_INDEX_SUFFIX);
            syncer
                .sync_data(txn_index, &txn_index_path)
                .map_err(LogError::io("fsync transaction index", &txn_index_path))?;
        }
        Ok(())
    }
}

/// The files of a segment that stopped being active, still open so they can be fsynced.
pub(crate) struct ClosedFiles {
    files: OpenFiles,
    log_path: PathBuf,
}

impl ClosedFiles {
    pub(crate) fn sync(&self) -> Result<(), LogError> {
        self.files.sync(&self.log_path)
    }

    pub(crate) fn log_path(&self) -> &Path {
        &self.log_path
    }
}

pub(crate) struct Segment {
    pub base_offset: i64,
    log_path: PathBuf,
    /// Bytes of whole batches in the `.log`; appends write at this position.
    pub size: u64,
    /// One past the last offset in this segment (`base_offset` when empty).
    pub next_offset: i64,
    /// Largest batch maxTimestamp, -1 when empty.
    pub max_timestamp: i64,
    /// Base offset of the first batch that reached `max_timestamp`.
    pub offset_of_max_timestamp: i64,
    /// Where `segment.ms` counts from: the wall clock at the first append into the segment, or
    /// after a restart the first batch's maxTimestamp.
    pub roll_base_ms: Option<i64>,
    index_entries: u64,
    time_entries: u64,
    /// Entries of the `.txnindex` (aborted transactions whose marker is in this segment).
    txn_entries: u64,
    last_time_entry: Option<TimeEntry>,
    bytes_since_index: u64,
    files: Option<OpenFiles>,
    syncer: Syncer,
    /// Inodes of the `.log` and `.index` this segment describes, once known: a read that opens
    /// them by path checks it got these files, not a cleaned replacement swapped in since.
    log_ino: Option<u64>,
    index_ino: Option<u64>,
}

impl Segment {
    /// A new, empty segment. No file is created until the first append.
    pub(crate) fn new(dir: &Path, base_offset: i64, syncer: &Syncer) -> Segment {
        Segment::at(
            dir.join(file_name(base_offset, LOG_SUFFIX)),
            base_offset,
            syncer,
        )
    }

    fn at(log_path: PathBuf, base_offset: i64, syncer: &Syncer) -> Segment {
        Segment {
            base_offset,
            log_path,
            size: 0,
            next_offset: base_offset,
            max_timestamp: -1,
            offset_of_max_timestamp: -1,
            roll_base_ms: None,
            index_entries: 0,
            time_entries: 0,
            txn_entries: 0,
            last_time_entry: None,
            bytes_since_index: 0,
            files: None,
            syncer: syncer.clone(),
            log_ino: None,
            index_ino: None,
        }
    }

    pub(crate) fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The inode of the `.log` this segment describes, once known.
    pub(crate) fn log_ino(&self) -> Option<u64> {
        self.log_ino
    }

    fn index_path(&self) -> PathBuf {
        sibling(&self.log_path, INDEX_SUFFIX)
    }

    fn time_index_path(&self) -> PathBuf {
        sibling(&self.log_path, TIME_INDEX_SUFFIX)
    }

    /// A new, empty segment written under the files `<base>.log<suffix>`, `<base>.index<suffix>`
    /// and `<base>.timeindex<suffix>` (the cleaner's `.cleaned` output). Its files are created
    /// at once, so an output with no batch still exists.
    pub(crate) fn with_suffix(
        dir: &Path,
        base_offset: i64,
        suffix: &str,
        syncer: &Syncer,
    ) -> Result<Segment, LogError> {
        let name = format!("{}{suffix}", file_name(base_offset, LOG_SUFFIX));
        let mut seg = Segment::at(dir.join(name), base_offset, syncer);
        seg.open_files(true)?;
        Ok(seg)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.size == 0
    }

    /// Loads a segment trusted to be whole (clean shutdown, or below the recovery point):
    /// sizes from file metadata, max timestamp from the time index's last entry, and — for the
    /// active segment, whose next offset is not implied by a successor — a header walk from the
    /// last index entry to the end. Indexes that are missing or fail their sanity check, or a
    /// tail that does not walk cleanly, fall back to [`Segment::recover`].
    pub(crate) fn load(
        dir: &Path,
        base_offset: i64,
        next_base: Option<i64>,
        index_interval: u64,
        epochs: &mut LeaderEpochCache,
        syncer: &Syncer,
    ) -> Result<(Segment, u64), LogError> {
        let mut seg = Segment::new(dir, base_offset, syncer);
        let metadata =
            fs::metadata(&seg.log_path).map_err(LogError::io("stat segment", &seg.log_path))?;
        seg.size = metadata.len();
        seg.log_ino = Some(metadata.ino());
        seg.load_txn_index()?;
        match seg.load_indexes(next_base)? {
            Ok(()) => Ok((seg, 0)),
            Err(reason) => {
                tracing::warn!(segment = %seg.log_path.display(), reason, "rebuilding segment indexes");
                let truncated = seg.recover(next_base, index_interval, epochs)?;
                Ok((seg, truncated))
            }
        }
    }

    /// `Ok(Err(reason))` when the segment needs a rebuild.
    fn load_indexes(&mut self, next_base: Option<i64>) -> Result<Result<(), String>, LogError> {
        let (Some(index), Some(time_index)) = (
            open_existing(&self.index_path())?,
            open_existing(&self.time_index_path())?,
        ) else {
            return Ok(Err("index file missing".to_string()));
        };
        self.index_ino = index.metadata().ok().map(|m| m.ino());
        let size = self.size;
        // Relative offsets must stay inside the segment; for the active one that is re-checked
        // once the tail walk below has found its end.
        let max_relative =
            next_base.map_or(i64::from(u32::MAX), |next| next - self.base_offset - 1);
        let len = |f: &File, p: &Path| {
            f.metadata()
                .map(|m| m.len())
                .map_err(LogError::io("stat index", p))
        };
        let offset_check =
            index::check::<OffsetEntry>(&index, len(&index, &self.index_path())?, |e| {
                u64::from(e.position) < size && i64::from(e.relative_offset) <= max_relative
            });
        let time_check = index::check::<TimeEntry>(
            &time_index,
            len(&time_index, &self.time_index_path())?,
            |e| i64::from(e.relative_offset) <= max_relative,
        );
        let ((index_entries, last_index), (time_entries, last_time)) =
            match (offset_check, time_check) {
                (Ok(a), Ok(b)) => (a, b),
                (Err(reason), _) | (_, Err(reason)) => return Ok(Err(reason)),
            };
        self.index_entries = index_entries;
        self.time_entries = time_entries;
        self.last_time_entry = last_time;
        if let Some(t) = last_time {
            self.max_timestamp = t.timestamp;
            self.offset_of_max_timestamp = self.base_offset + i64::from(t.relative_offset);
        }
        let tail_start = last_index.map_or(0, |e| u64::from(e.position));
        self.bytes_since_index = size.saturating_sub(tail_start);
        if let Some(next) = next_base {
            self.next_offset = next;
            return Ok(Ok(()));
        }
        if size == 0 {
            return Ok(Ok(()));
        }
        // Active segment: the first batch starts the segment.ms clock; a walk over the headers
        // after the last index entry finds the next offset.
        let log =
            File::open(&self.log_path).map_err(LogError::io("open segment", &self.log_path))?;
        match first_header(&log, &self.log_path)? {
            Ok(first) => self.roll_base_ms = Some(first.max_timestamp),
            Err(reason) => return Ok(Err(reason)),
        }
        let path = self.log_path.clone();
        let mut scanner = BatchScanner::new(&log, &path, tail_start, size, false);
        loop {
            match scanner.next_batch()? {
                Scan::Batch(b) => {
                    self.next_offset = b.header.last_offset() + 1;
                    self.note_timestamp(&b.header);
                }
                Scan::End => break,
                Scan::Invalid { position, reason } => {
                    return Ok(Err(format!("tail does not walk at {position}: {reason}")));
                }
            }
        }
        let end = self.next_offset - self.base_offset;
        let inside = |relative: Option<u32>| relative.is_none_or(|r| i64::from(r) < end);
        if !inside(last_index.map(|e| e.relative_offset))
            || !inside(last_time.map(|e| e.relative_offset))
        {
            return Ok(Err("index entries point past the last batch".to_string()));
        }
        Ok(Ok(()))
    }

    /// Rebuilds the segment from its `.log`: validates every batch (lengths, magic, CRC-32C,
    /// offsets increasing and below `next_base`, the next segment's base offset), rewrites both indexes, truncates the `.log` after the last whole
    /// valid batch, notes leader epochs, and fsyncs the result. Returns the bytes truncated.
    pub(crate) fn recover(
        &mut self,
        next_base: Option<i64>,
        index_interval: u64,
        epochs: &mut LeaderEpochCache,
    ) -> Result<u64, LogError> {
        let mut fresh = Segment::at(self.log_path.clone(), self.base_offset, &self.syncer);
        let files = fresh.open_files(true)?;
        let log = Arc::clone(&files.log);
        let file_size = log
            .metadata()
            .map_err(LogError::io("stat segment", &self.log_path))?
            .len();
        let mut scanner = BatchScanner::new(&log, &self.log_path, 0, file_size, true);
        let valid_end = loop {
            match scanner.next_batch()? {
                // baseOffset is outside the CRC: check it makes sense here.
                Scan::Batch(b)
                    if b.header.base_offset < fresh.next_offset
                        || b.header.last_offset() - self.base_offset > MAX_RELATIVE_OFFSET
                        || next_base.is_some_and(|next| b.header.last_offset() >= next)
                        || b.position + b.size() > MAX_SEGMENT_BYTES =>
                {
                    tracing::warn!(segment = %self.log_path.display(), position = b.position,
                        offset = b.header.base_offset, "batch offset or position out of place; truncating");
                    break b.position;
                }
                Scan::Batch(b) => {
                    epochs.assign(b.header.partition_leader_epoch, b.header.base_offset);
                    fresh.track_batch(&b, index_interval)?;
                }
                Scan::End => break scanner.position(),
                Scan::Invalid { position, reason } => {
                    tracing::warn!(segment = %self.log_path.display(), position, reason, "truncating invalid tail");
                    break position;
                }
            }
        };
        let truncated = file_size - valid_end;
        if truncated > 0 {
            log.set_len(valid_end)
                .map_err(LogError::io("truncate segment", &self.log_path))?;
        }
        fresh.finish_time_index()?;
        fresh.sync()?;
        fresh.files = None;
        // Entries of markers the cut removed go when the producer state is replayed.
        fresh.load_txn_index()?;
        *self = fresh;
        Ok(truncated)
    }

    /// Indexes a batch the same way whether it was just appended or found by a rebuild.
    /// `interval` is `index.interval.bytes`.
    fn track_batch(&mut self, b: &ScannedBatch, interval: u64) -> Result<(), LogError> {
        self.note_timestamp(&b.header);
        if self.roll_base_ms.is_none() {
            self.roll_base_ms = Some(b.header.max_timestamp);
        }
        if self.bytes_since_index > interval {
            self.write_index_entry(b.header.last_offset(), b.position)?;
        }
        self.bytes_since_index += b.size();
        self.size = b.position + b.size();
        self.next_offset = b.header.last_offset() + 1;
        Ok(())
    }

    fn note_timestamp(&mut self, h: &BatchHeader) {
        if h.max_timestamp > self.max_timestamp {
            self.max_timestamp = h.max_timestamp;
            self.offset_of_max_timestamp = h.base_offset;
        }
    }

    fn write_index_entry(&mut self, last_offset: i64, position: u64) -> Result<(), LogError> {
        let entry = OffsetEntry {
            relative_offset: self.relative(last_offset)?,
            position: u32::try_from(position)
                .map_err(|_| self.corrupt(format!("position {position} beyond 4 GiB")))?,
        };
        let slot = self.index_entries;
        let files = self.open_files(false)?;
        index::append(&files.index, slot, entry)
            .map_err(LogError::io("append offset index", self.index_path()))?;
        self.index_entries += 1;
        self.bytes_since_index = 0;
        self.write_time_entry()
    }

    /// Appends `(max timestamp so far, its offset)` to the time index if the max grew.
    fn write_time_entry(&mut self) -> Result<(), LogError> {
        if self.max_timestamp < 0
            || self
                .last_time_entry
                .is_some_and(|t| t.timestamp >= self.max_timestamp)
        {
            return Ok(());
        }
        let entry = TimeEntry {
            timestamp: self.max_timestamp,
            relative_offset: self.relative(self.offset_of_max_timestamp)?,
        };
        let slot = self.time_entries;
        let files = self.open_files(false)?;
        index::append(&files.time_index, slot, entry)
            .map_err(LogError::io("append time index", self.time_index_path()))?;
        self.time_entries += 1;
        self.last_time_entry = Some(entry);
        Ok(())
    }

    /// Makes the time index's last entry the segment's max timestamp. Called whenever the
    /// segment stops being active: roll, flush, close, recovery.
    pub(crate) fn finish_time_index(&mut self) -> Result<(), LogError> {
        if self.is_empty() {
            return Ok(());
        }
        self.write_time_entry()
    }

    /// `offset` relative to the base offset. Appends roll before this can fail; recovery
    /// refuses batches that would make it fail, so an error here means a damaged segment.
    fn relative(&self, offset: i64) -> Result<u32, LogError> {
        u32::try_from(offset - self.base_offset).map_err(|_| {
            self.corrupt(format!(
                "offset {offset} is not within a u32 of the base offset"
            ))
        })
    }

    fn corrupt(&self, reason: String) -> LogError {
        LogError::Corrupt {
            path: self.log_path.clone(),
            reason,
        }
    }

    /// Opens (creating if needed) the segment's three files for appending. A newly created
    /// `.log` gets its directory entry fsynced with its first sync ([`LogFile::sync`]).
    /// `truncate_indexes` empties both indexes.
    fn open_files(&mut self, truncate_indexes: bool) -> Result<&OpenFiles, LogError> {
        if truncate_indexes {
            self.files = None;
        }
        if self.files.is_none() {
            let existed = self.log_path.exists();
            let open = |path: PathBuf, truncate: bool| {
                OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(truncate)
                    .open(&path)
                    .map_err(LogError::io("open segment file", path))
            };
            let unsynced_entry = match self.log_path.parent() {
                Some(dir) if !existed => Some(dir.to_path_buf()),
                _ => None,
            };
            let files = OpenFiles {
                log: Arc::new(LogFile::new(
                    open(self.log_path.clone(), false)?,
                    self.log_path.clone(),
                    self.syncer.clone(),
                    unsynced_entry,
                )),
                index: Arc::new(open(self.index_path(), truncate_indexes)?),
                time_index: open(self.time_index_path(), truncate_indexes)?,
                txn_index: None,
            };
            self.log_ino = files.log.metadata().ok().map(|m| m.ino());
            self.index_ino = files.index.metadata().ok().map(|m| m.ino());
            self.files = Some(files);
        }
        Ok(self.files.as_ref().expect("opened above"))
    }

    /// Appends one batch whose offsets are already assigned. Bytes go at `self.size` with a
    /// positional write, so a failed, partial write is simply overwritten by the next append.
    pub(crate) fn append(
        &mut self,
        head: &[u8; HEADER_SIZE],
        records: &[u8],
        header: &BatchHeader,
        index_interval: u64,
    ) -> Result<(), LogError> {
        let position = self.size;
        let log = Arc::clone(&self.open_files(false)?.log);
        let write = |bytes: &[u8], at: u64| {
            log.write_all_at(bytes, at)
                .map_err(LogError::io("append batch", &self.log_path))
        };
        if records.len() < SPLIT_WRITE_BYTES {
            // One write of a small copy beats two system calls.
            let mut whole = Vec::with_capacity(HEADER_SIZE + records.len());
            whole.extend_from_slice(head);
            whole.extend_from_slice(records);
            write(&whole, position)?;
        } else {
            write(head, position)?;
            write(records, position + HEADER_SIZE as u64)?;
        }
        self.track_batch(
            &ScannedBatch {
                position,
                header: *header,
            },
            index_interval,
        )
    }

    /// Cuts the batch containing `offset` and everything after it, then rebuilds the indexes
    /// and fsyncs (a scan of the segment: truncation is rare, on a leader change).
    pub(crate) fn truncate_from(
        &mut self,
        offset: i64,
        index_interval: u64,
        epochs: &mut LeaderEpochCache,
    ) -> Result<(), LogError> {
        let Some(batch) = self.locate(&*self.log_file()?, offset)? else {
            return Ok(());
        };
        let cut = batch.position;
        OpenOptions::new()
            .write(true)
            .open(&self.log_path)
            .and_then(|f| f.set_len(cut))
            .map_err(LogError::io("truncate segment", &self.log_path))?;
        tracing::info!(segment = %self.log_path.display(), offset, position = cut, "truncated segment");
        self.recover(None, index_interval, epochs)?;
        self.truncate_txn_index_from(offset)
    }

    /// The active `.log` handle for the flusher, if the segment has been written since opening.
    pub(crate) fn log_handle(&self) -> Option<Arc<LogFile>> {
        self.files.as_ref().map(|f| Arc::clone(&f.log))
    }

    /// fsyncs the `.log` and both indexes, if open.
    pub(crate) fn sync(&self) -> Result<(), LogError> {
        match &self.files {
            Some(files) => files.sync(&self.log_path),
            None => Ok(()),
        }
    }

    /// Hands the open files over (for a roll to fsync them off the append path) and leaves
    /// the segment closed. `None` when nothing was written since the segment was opened.
    pub(crate) fn take_files(&mut self) -> Option<ClosedFiles> {
        self.files.take().map(|files| ClosedFiles {
            files,
            log_path: self.log_path.clone(),
        })
    }

    /// Drops the file handles; the next access reopens them.
    pub(crate) fn close_files(&mut self) {
        self.files = None;
    }

    /// Renames the segment's files to `<name>.deleted` and returns their new paths, for the
    /// caller to unlink once it no longer holds the log (Kafka's asynchronous delete). A rename
    /// frees nothing, so it is quick even where freeing blocks waits for the device (a
    /// `discard` mount). `.log` goes first, as in [`Self::delete_files`]; opening a partition
    /// removes `.deleted` files a crash left behind.
    pub(crate) fn retire_files(&mut self) -> Result<Vec<PathBuf>, LogError> {
        self.files = None;
        let mut retired = Vec::with_capacity(4);
        for path in [
            self.log_path.clone(),
            self.index_path(),
            self.time_index_path(),
            self.txn_index_path(),
        ] {
            let mut name = path.clone().into_os_string();
            name.push(DELETED_SUFFIX);
            let target = PathBuf::from(name);
            match fs::rename(&path, &target) {
                Ok(()) => retired.push(target),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(LogError::io("retire segment file", path)(e)),
            }
        }
        Ok(retired)
    }

    /// Removes the segment's files: `.log` first, so a crash midway leaves only index files,
    /// which opening a partition deletes as orphans.
    pub(crate) fn delete_files(&mut self) -> Result<(), LogError> {
        self.files = None;
        for path in [
            self.log_path.clone(),
            self.index_path(),
            self.time_index_path(),
            self.txn_index_path(),
        ] {
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(LogError::io("delete segment file", path)(e)),
            }
        }
        Ok(())
    }

    /// What a read needs of this segment, detached from it: the read itself can then run
    /// without the partition's lock (see [`SegmentView`]).
    pub(crate) fn view(&self) -> SegmentView {
        SegmentView {
            base_offset: self.base_offset,
            log_path: self.log_path.clone(),
            size: self.size,
            next_offset: self.next_offset,
            index_entries: self.index_entries,
            log: self.files.as_ref().map(|f| Arc::clone(&f.log)),
            index: self.files.as_ref().map(|f| Arc::clone(&f.index)),
            log_ino: self.log_ino,
            index_ino: self.index_ino,
        }
    }

    fn log_file(&self) -> Result<Handle, LogError> {
        match &self.files {
            Some(f) => Ok(Handle::Shared(Arc::clone(&f.log))),
            None => File::open(&self.log_path)
                .map(Handle::Owned)
                .map_err(LogError::io("open segment", &self.log_path)),
        }
    }

    /// Position of the batch containing `offset`, or of the first batch after it; `None` when
    /// no batch of this segment ends at or after `offset`.
    fn locate(&self, log: &File, offset: i64) -> Result<Option<ScannedBatch>, LogError> {
        self.view().locate(log, offset)
    }

    /// A batch boundary at or before the batch containing `offset`, from the offset index.
    fn index_position(&self, offset: i64) -> Result<u64, LogError> {
        self.view().index_position(offset)
    }

    /// Whole batches from the one containing `offset`: at most `max_bytes` unless the first
    /// batch alone is larger, and only batches ending below `upper_bound`.
    #[cfg(test)]
    pub(crate) fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        upper_bound: i64,
    ) -> Result<Option<bytes::Bytes>, LogError> {
        self.view().read(offset, max_bytes, upper_bound)
    }
}

fn open_existing(path: &Path) -> Result<Option<File>, LogError> {
    match File::open(path) {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(LogError::io("open index", path)(e)),
    }
}

/// The first batch's header, or why there is none (a segment that needs recovery).
fn first_header(log: &File, path: &Path) -> Result<Result<BatchHeader, String>, LogError> {
    let mut buf = [0u8; HEADER_SIZE];
    match log.read_exact_at(&mut buf, 0) {
        Ok(()) => Ok(BatchHeader::parse(&buf).map_err(|e| format!("first batch: {e}"))),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
            Ok(Err("first batch is torn".to_string()))
        }
        Err(e) => Err(LogError::io("read segment", path)(e)),
    }
}

mod timestamp;
mod txn;
mod view;

use view::Handle;
pub(crate) use view::SegmentView;

#[cfg(test)]
mod tests;
