//! Log compaction: the cleaner keeps the latest record per key in the closed segments of a log
//! whose `cleanup.policy` contains `compact`, as Kafka's `LogCleaner` does.
//!
//! ```text
//!  log start        first dirty (cleaner-offset-checkpoint)      end (first uncleanable)   active
//!  │ clean: compacted before │ dirty: written since the last clean │ too young (min lag) │ never │
//!
//!  1. plan   (lock held)   how dirty; which closed segments; the producers' last entries;
//!                          the last stable offset; the transaction indexes to search
//!  2. map    (no lock)     key → latest committed offset over the dirty range, within a
//!                          byte budget
//!  3. clean  (no lock)     rewrite every segment below the map's end, grouped up to
//!                          segment.bytes, into <base>.log.cleaned (+ indexes), fsynced
//!  4. swap   (lock held)   sources unchanged? → .cleaned → .swap → originals .deleted →
//!                          .swap into place; checkpoint the new first dirty offset
//! ```
//!
//! # What is kept
//!
//! A record is kept when its offset is at or past the map's end (not compacted this time), or
//! when it has a key and no later offset for that key is in the map — unless it is a tombstone
//! whose batch's delete horizon has passed. Records without a key are dropped (Kafka counts them
//! as invalid). Batches keep their base offset, last
//! offset delta (so the producer's last sequence stays known), partition leader epoch and
//! producer id, epoch and base sequence; offsets never change, the gaps are left to readers.
//!
//! - **Tombstones** follow KIP-534: the first clean that keeps a tombstone rewrites its batch
//!   with the delete-horizon attribute set and `baseTimestamp = now + delete.retention.ms`
//!   (record timestamps stay exact, as deltas from it). A later clean after the horizon drops
//!   the tombstone. The horizon travels with the batch, so no other state needs to survive.
//! - **Transactions** (`cleaner/txn.rs`): records of aborted transactions are never mapped
//!   and always dropped; a marker stays while its transaction has a batch left, then gets a
//!   delete horizon as a tombstone does and goes after it. The cleaned segment's transaction
//!   index lists the aborted transactions whose marker it keeps with data before it.
//! - **Emptied batches** are dropped, except the last batch of a producer the partition still
//!   tracks (or its last marker, kept whole, when one that changed its epoch came last), and the last batch of each cleaned segment: both stay as a header with zero
//!   records (Kafka keeps the former too). The first keeps the producer's sequence and epoch in
//!   the log for the next rebuild of producer state; the second makes a cleaned segment end at
//!   exactly the offset its sources ended at, which is what lets recovery finish a swap exactly.
//! - **Rewritten batches** are encoded with their original codec (gzip, snappy in xerial
//!   framing, lz4 frames, zstd), with a fresh CRC; a batch that loses nothing and needs no
//!   horizon is copied byte for byte.
//! - A batch whose records do not decode (it predates `compact` on the topic, or inflates past
//!   the decompression cap) is kept whole and its keys are not mapped: compaction never loses
//!   data it cannot read.
//!
//! # Bounded memory
//!
//! The map holds whole keys (no hash collisions) and charges each `key length + 64` bytes
//! against its budget (`log.cleaner.dedupe.buffer.size` / `log.cleaner.threads`). A batch whose
//! new keys would not fit ends the map there: this clean compacts up to that offset, and the
//! checkpoint moves only that far, so the next pass continues from it.
//!
//! # I/O rate
//!
//! Every batch read (for the map, then again for the rewrite) and written passes through a
//! [`Throttle`] (`cleaner/throttle.rs`): `log.cleaner.io.max.bytes.per.second` for all cleans
//! together, unlimited by default. Stopping it (shutdown) abandons the clean at its next read or
//! write ([`LogError::CleanAborted`]); its `.cleaned` files are deleted.
//!
//! # When
//!
//! A log is cleanable when its dirty bytes are at least `min.cleanable.dirty.ratio` of its
//! closed bytes (from the log start to the first uncleanable offset), or when its oldest dirty
//! batch is older than `max.compaction.lag.ms`. Segments whose newest timestamp is within
//! `min.compaction.lag.ms` of now, and everything after them, are not cleaned yet; nor is the
//! segment holding the partition's last stable offset and what follows (an open transaction's
//! records, or ones above the high watermark, are never cleaned). Like
//! Kafka's, each clean rewrites the already clean segments too, since newer keys may supersede
//! their records.
//!
//! # Concurrency and crashes
//!
//! Closed segments never change, so steps 2 and 3 read them without the partition's lock. If
//! retention (or a truncation) removes one meanwhile, the swap sees a source missing and the
//! clean is abandoned: its `.cleaned` files are deleted. A read planned before a swap that opens
//! a replaced file after it notices the inode changed and plans again
//! ([`LogError::SegmentRemoved`]). The swap's order makes every crash recoverable — see
//! `cleaner/swap.rs`: opening a partition deletes `.cleaned` files (roll back) and completes
//! `.swap` files (roll forward).

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::batch::{BatchHeader, HEADER_SIZE};
use super::checkpoint::{self, CLEANER_OFFSET};
use super::compression::decompressed_limit;
use super::error::LogError;
use super::partition::PartitionLog;
use super::records::BatchRecords;
use super::scan::{BatchScanner, Scan, ScannedBatch};
use super::segment::{MAX_RELATIVE_OFFSET, MAX_SEGMENT_BYTES, Segment, file_name};
use super::sync::Syncer;
use super::transactions::AbortedPlan;
use super::txn_index::{self, AbortedTxn, TXN_INDEX_SUFFIX};

mod filter;
mod swap;
#[cfg(test)]
mod swap_tests;
#[cfg(test)]
mod tests;
mod throttle;
mod txn;
#[cfg(test)]
mod txn_tests;

#[cfg(test)]
pub(crate) use swap::SwapStep;
pub(crate) use swap::finish_interrupted_swaps;
pub use throttle::Throttle;
#[cfg(test)]
pub(crate) use throttle::{Clock, ManualClock};
use txn::TxnTracker;

/// Bytes one key costs in the offset map beyond its own length: the entry, the key's
/// allocation and the hash table's slack.
const ENTRY_OVERHEAD: usize = 64;

/// How dirty a compacted log is, taken under the partition's lock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cleanable {
    /// Dirty bytes / (clean + dirty bytes) of the cleanable closed segments.
    pub dirty_ratio: f64,
    /// A dirty batch is older than `max.compaction.lag.ms`: clean whatever the ratio.
    pub overdue: bool,
    /// Worth a clean now: the ratio reaches `min.cleanable.dirty.ratio`, or overdue.
    pub due: bool,
    first_dirty: i64,
    end: i64,
}

/// The last entry a producer the partition still tracks has in the log, as Kafka's
/// `LastRecord`: compaction keeps it so a rebuild of producer state from the log finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastRecord {
    /// The last offset of its last data batch; `None` when a marker that changed its epoch
    /// came after that batch: then its markers at `epoch` are kept.
    pub last_data_offset: Option<i64>,
    pub epoch: i16,
}

/// What a clean needs from the partition beyond the log: where its stable part ends, and the
/// producers it still tracks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerView {
    /// The partition's last stable offset: no clean reaches the segment holding it.
    pub last_stable: i64,
    /// By producer id.
    pub producers: HashMap<i64, LastRecord>,
}

impl ProducerView {
    /// No transaction open and no producer tracked: the log alone bounds a clean.
    pub fn unbounded() -> ProducerView {
        ProducerView {
            last_stable: i64::MAX,
            producers: HashMap::new(),
        }
    }
}

/// A closed segment a clean reads, as it was when the clean was planned.
#[derive(Debug, Clone)]
struct Source {
    base: i64,
    next_offset: i64,
    size: u64,
    log_path: PathBuf,
}

/// A clean planned under the partition's lock, to run without it ([`CleanPlan::run`]).
#[must_use = "a plan cleans nothing until it runs"]
pub struct CleanPlan {
    dir: PathBuf,
    syncer: Syncer,
    sources: Vec<Source>,
    first_dirty: i64,
    end: i64,
    now_ms: i64,
    /// The last entry of every producer the partition tracks.
    producers: HashMap<i64, LastRecord>,
    /// The transaction indexes from the first source on (a marker may lie past the sources).
    aborted: AbortedPlan,
    segment_bytes: u64,
    index_interval: u64,
    delete_retention_ms: i64,
    decompress_limit: usize,
}

/// Cleaned segments written and fsynced as `.cleaned` files, waiting for
/// [`PartitionLog::swap_in`].
#[must_use = "cleaned files stay on disk until swapped in or discarded"]
pub struct Cleaned {
    dir: PathBuf,
    groups: Vec<CleanedGroup>,
    /// The next first dirty offset: the offset map's end.
    first_dirty: i64,
}

/// One cleaned segment and the segments it replaces.
struct CleanedGroup {
    base: i64,
    /// `(base offset, size)` of each source, in order.
    sources: Vec<(i64, u64)>,
    size: u64,
}

/// What a clean did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CleanOutcome {
    /// Segments replaced, and the segments that replaced them.
    pub segments_before: usize,
    pub segments_after: usize,
    pub bytes_before: u64,
    pub bytes_after: u64,
    /// Offsets below this are now compacted.
    pub first_dirty: i64,
}

impl PartitionLog {
    /// How dirty the log is; `None` unless it is compacted and has a cleanable dirty range.
    /// The segment holding `last_stable` (the partition's last stable offset) and everything
    /// after it are not cleanable: an open transaction's records are never cleaned.
    pub fn cleanable(&self, now_ms: i64, last_stable: i64) -> Result<Option<Cleanable>, LogError> {
        if !self.config.compact {
            return Ok(None);
        }
        let closed = &self.segments[..self.segments.len() - 1];
        let active_base = self.active().base_offset;
        let checkpointed = match checkpoint::read_offset(&self.dir, CLEANER_OFFSET) {
            Ok(offset) => offset.unwrap_or(0),
            Err(error) => {
                tracing::warn!(%error, "unreadable cleaner checkpoint; the whole log counts as dirty");
                0
            }
        };
        let first_dirty = checkpointed.max(self.log_start_offset).min(active_base);
        let min_lag = self.config.min_compaction_lag_ms;
        let young = now_ms.saturating_sub(min_lag);
        let end = closed
            .iter()
            .filter(|s| s.next_offset > first_dirty)
            .find(|s| (min_lag > 0 && s.max_timestamp > young) || s.next_offset > last_stable)
            .map_or(active_base, |s| s.base_offset);
        if end <= first_dirty {
            return Ok(None);
        }
        let (mut clean, mut dirty) = (0u64, 0u64);
        for s in closed {
            if s.next_offset <= first_dirty {
                clean += s.size;
            } else if s.base_offset < end {
                dirty += s.size;
            }
        }
        if dirty == 0 {
            return Ok(None);
        }
        let dirty_ratio = dirty as f64 / (clean + dirty) as f64;
        let max_lag = self.config.max_compaction_lag_ms;
        let overdue = max_lag < i64::MAX
            && match closed
                .iter()
                .find(|s| s.next_offset > first_dirty && !s.is_empty())
            {
                Some(s) => first_batch_timestamp(s.log_path())?
                    .is_some_and(|ts| ts < now_ms.saturating_sub(max_lag)),
                None => false,
            };
        Ok(Some(Cleanable {
            dirty_ratio,
            overdue,
            due: overdue || dirty_ratio >= self.config.min_cleanable_dirty_ratio,
            first_dirty,
            end,
        }))
    }

    /// Plans a clean if one is due (see [`Self::cleanable`]), below `view.last_stable`. The
    /// last entry of each of `view.producers` is never dropped.
    pub fn plan_clean(
        &self,
        now_ms: i64,
        view: ProducerView,
    ) -> Result<Option<CleanPlan>, LogError> {
        let Some(cleanable) = self.cleanable(now_ms, view.last_stable)?.filter(|c| c.due) else {
            return Ok(None);
        };
        let closed = &self.segments[..self.segments.len() - 1];
        let sources = closed
            .iter()
            .filter(|s| s.base_offset < cleanable.end)
            .map(|s| Source {
                base: s.base_offset,
                next_offset: s.next_offset,
                size: s.size,
                log_path: s.log_path().to_path_buf(),
            })
            .collect::<Vec<Source>>();
        let aborted = self.plan_aborted(sources.first().map_or(cleanable.first_dirty, |s| s.base));
        Ok(Some(CleanPlan {
            dir: self.dir.clone(),
            syncer: self.syncer.clone(),
            sources,
            first_dirty: cleanable.first_dirty,
            end: cleanable.end,
            now_ms,
            producers: view.producers,
            aborted,
            segment_bytes: self.config.segment_bytes.clamp(1, MAX_SEGMENT_BYTES),
            index_interval: self.config.index_interval_bytes,
            delete_retention_ms: self.config.delete_retention_ms,
            decompress_limit: decompressed_limit(self.config.max_message_bytes),
        }))
    }

    /// Plans, runs and swaps in one clean while holding the log: for tests and tools. The
    /// broker's cleaner holds the partition's lock only to plan and to swap.
    pub fn clean(
        &mut self,
        now_ms: i64,
        budget: usize,
        view: ProducerView,
    ) -> Result<Option<CleanOutcome>, LogError> {
        let Some(plan) = self.plan_clean(now_ms, view)? else {
            return Ok(None);
        };
        match plan.run(budget, &Throttle::unlimited())? {
            Some(cleaned) => self.swap_in(cleaned),
            None => Ok(None),
        }
    }
}

impl CleanPlan {
    /// Builds the offset map and writes the cleaned segments, fsynced, every byte read and
    /// written passing through `io`. `None` when the budget cannot hold the keys of even one
    /// batch. [`LogError::SegmentRemoved`] means retention removed a source meanwhile, and
    /// [`LogError::CleanAborted`] that `io` was stopped: the clean is abandoned, its files
    /// deleted.
    pub fn run(self, budget: usize, io: &Throttle) -> Result<Option<Cleaned>, LogError> {
        let Some(map) = self.build_map(budget, io)? else {
            return Ok(None);
        };
        let sources: Vec<Source> = self
            .sources
            .iter()
            .filter(|s| s.base < map.end)
            .cloned()
            .collect();
        let mut cleaned = Cleaned {
            dir: self.dir.clone(),
            groups: Vec::new(),
            first_dirty: map.end,
        };
        // One tracker for every group: a transaction may start in one and end in another.
        let range = match (sources.first(), sources.last()) {
            (Some(first), Some(last)) => (first.base, last.next_offset),
            _ => (map.end, map.end),
        };
        let mut txns = TxnTracker::new(self.aborted.collect(range.0, range.1)?);
        for group in group_by_size(&sources, self.segment_bytes) {
            match self.clean_group(group, &map, &mut txns, io) {
                Ok(done) => cleaned.groups.push(done),
                Err(e) => {
                    swap::remove_files(&self.dir, group[0].base, swap::CLEANED);
                    cleaned.discard();
                    return Err(e);
                }
            }
        }
        Ok(Some(cleaned))
    }

    /// Key → latest offset over the dirty range, up to where the budget lasts. Records of
    /// aborted transactions are not mapped: only committed data shadows older values.
    fn build_map(&self, budget: usize, io: &Throttle) -> Result<Option<OffsetMap>, LogError> {
        let mut map = OffsetMap::new(budget, self.first_dirty);
        let mut txns = TxnTracker::new(self.aborted.collect(self.first_dirty, self.end)?);
        for source in self
            .sources
            .iter()
            .filter(|s| s.next_offset > self.first_dirty)
        {
            let file = open_source(&source.log_path)?;
            let mut scanner = BatchScanner::new(&file, &source.log_path, 0, source.size, false);
            while let Some(b) = next_batch(&mut scanner, &source.log_path)? {
                let last = b.header.last_offset();
                if last < self.first_dirty {
                    continue;
                }
                let bytes = read_batch(&file, &b, &source.log_path)?;
                if !io.acquire(bytes.len()) {
                    return Err(LogError::CleanAborted);
                }
                let txn = txns.on_batch(&bytes, &b.header);
                if b.header.is_control() || txn.discardable {
                    map.end = last + 1;
                    continue;
                }
                let keys = match batch_keys(&bytes, self.decompress_limit) {
                    Ok(keys) => keys,
                    Err(error) => {
                        tracing::warn!(path = %source.log_path.display(), offset = b.header.base_offset, %error,
                            "batch records do not decode; kept whole, keys not compacted");
                        map.end = last + 1;
                        continue;
                    }
                };
                if !map.fits(&keys) {
                    if map.end == self.first_dirty {
                        tracing::warn!(
                            budget,
                            offset = b.header.base_offset,
                            "the cleaner's dedupe buffer cannot hold the keys of one batch"
                        );
                        return Ok(None);
                    }
                    return Ok(Some(map));
                }
                for (key, offset) in keys {
                    map.put(key, offset);
                }
                map.end = last + 1;
            }
        }
        map.end = self.end;
        Ok(Some(map))
    }

    /// Writes `<base>.log.cleaned` (+ indexes) for one group of sources and fsyncs it.
    fn clean_group(
        &self,
        group: &[Source],
        map: &OffsetMap,
        txns: &mut TxnTracker,
        io: &Throttle,
    ) -> Result<CleanedGroup, LogError> {
        let base = group[0].base;
        swap::remove_files(&self.dir, base, swap::CLEANED);
        let mut out = Segment::with_suffix(&self.dir, base, swap::CLEANED, &self.syncer)?;
        let context = filter::Context {
            map,
            now_ms: self.now_ms,
            delete_retention_ms: self.delete_retention_ms,
            producers: &self.producers,
            decompress_limit: self.decompress_limit,
        };
        // The aborted transactions whose ABORT marker the cleaned segment keeps.
        let mut txn_entries = Vec::new();
        // The group's last batch, when it was dropped: it is written back empty at the end.
        let mut dropped_last: Option<BatchHeader> = None;
        for source in group {
            let file = open_source(&source.log_path)?;
            let mut scanner = BatchScanner::new(&file, &source.log_path, 0, source.size, false);
            while let Some(b) = next_batch(&mut scanner, &source.log_path)? {
                let bytes = read_batch(&file, &b, &source.log_path)?;
                if !io.acquire(bytes.len()) {
                    return Err(LogError::CleanAborted);
                }
                let txn = txns.on_batch(&bytes, &b.header);
                txn_entries.extend(txn.index_entry);
                let kept = match filter::filter_batch(&bytes, &b.header, &context, txn) {
                    filter::Filtered::Keep => bytes,
                    filter::Filtered::Rewrite(rewritten) => rewritten,
                    filter::Filtered::Drop => {
                        dropped_last = Some(b.header);
                        continue;
                    }
                };
                dropped_last = None;
                write_batch(&mut out, &kept, self.index_interval)?;
                if !io.acquire(kept.len()) {
                    return Err(LogError::CleanAborted);
                }
            }
        }
        if let Some(header) = dropped_last {
            let empty = filter::empty_batch(&header);
            write_batch(&mut out, &empty, self.index_interval)?;
            if !io.acquire(empty.len()) {
                return Err(LogError::CleanAborted);
            }
        }
        out.finish_time_index()?;
        out.sync()?;
        out.close_files();
        self.write_txn_index(base, &txn_entries)?;
        Ok(CleanedGroup {
            base,
            sources: group.iter().map(|s| (s.base, s.size)).collect(),
            size: out.size,
        })
    }
}

impl CleanPlan {
    /// Writes `<base>.txnindex.cleaned`: the aborted transactions whose ABORT marker the
    /// cleaned segment keeps (with data of theirs before it), in order, fsynced. An entry
    /// whose data is all gone is not carried over: its marker stays only until its horizon.
    fn write_txn_index(&self, base: i64, entries: &[AbortedTxn]) -> Result<(), LogError> {
        let path = self.dir.join(format!(
            "{}{}",
            file_name(base, TXN_INDEX_SUFFIX),
            swap::CLEANED
        ));
        let file = txn_index::open(&path)
            .map_err(LogError::io("open cleaned transaction index", &path))?;
        for (slot, entry) in (0u64..).zip(entries) {
            txn_index::append(&file, slot, entry)
                .map_err(LogError::io("write cleaned transaction index", &path))?;
        }
        self.syncer
            .sync_data(&file, &path)
            .map_err(LogError::io("fsync cleaned transaction index", &path))
    }
}

impl Cleaned {
    /// Deletes the cleaned files: the clean is abandoned.
    pub fn discard(self) {
        for group in &self.groups {
            swap::remove_files(&self.dir, group.base, swap::CLEANED);
        }
    }
}

/// The key → latest offset map of one clean, charged against a byte budget.
pub(super) struct OffsetMap {
    latest: HashMap<Vec<u8>, i64>,
    used: usize,
    budget: usize,
    /// One past the last offset mapped: records from here on are not compacted this time.
    pub(super) end: i64,
}

impl OffsetMap {
    fn new(budget: usize, start: i64) -> OffsetMap {
        OffsetMap {
            latest: HashMap::new(),
            used: 0,
            budget,
            end: start,
        }
    }

    /// Whether every new key of a batch fits (counting a key repeated in the batch twice).
    fn fits(&self, keys: &[(Vec<u8>, i64)]) -> bool {
        let extra: usize = keys
            .iter()
            .filter(|(key, _)| !self.latest.contains_key(key))
            .map(|(key, _)| key.len() + ENTRY_OVERHEAD)
            .sum();
        self.used + extra <= self.budget
    }

    fn put(&mut self, key: Vec<u8>, offset: i64) {
        match self.latest.get_mut(&key) {
            Some(latest) => *latest = (*latest).max(offset),
            None => {
                self.used += key.len() + ENTRY_OVERHEAD;
                self.latest.insert(key, offset);
            }
        }
    }

    pub(super) fn latest(&self, key: &[u8]) -> Option<i64> {
        self.latest.get(key).copied()
    }
}

/// `(key, offset)` of every keyed record of a whole stored batch.
fn batch_keys(batch: &[u8], limit: usize) -> Result<Vec<(Vec<u8>, i64)>, String> {
    let records = BatchRecords::new(batch, limit).map_err(|e| e.to_string())?;
    let mut keys = Vec::new();
    for record in records.records() {
        let record = record.map_err(|e| e.to_string())?;
        if let Some(key) = record.key {
            keys.push((key.to_vec(), record.offset));
        }
    }
    Ok(keys)
}

/// Consecutive sources whose sizes add up to at most `max_bytes` (at least one each) and
/// whose offsets stay within a segment's relative-offset range, as Kafka's
/// `groupSegmentsBySize`.
fn group_by_size(sources: &[Source], max_bytes: u64) -> Vec<&[Source]> {
    let mut groups = Vec::new();
    let mut start = 0;
    while start < sources.len() {
        let mut end = start + 1;
        let mut size = sources[start].size;
        while let Some(next) = sources.get(end) {
            if size + next.size > max_bytes
                || next.next_offset - 1 - sources[start].base > MAX_RELATIVE_OFFSET
            {
                break;
            }
            size += next.size;
            end += 1;
        }
        groups.push(&sources[start..end]);
        start = end;
    }
    groups
}

fn write_batch(out: &mut Segment, batch: &[u8], index_interval: u64) -> Result<(), LogError> {
    let header = BatchHeader::parse(batch)?;
    if out.size + batch.len() as u64 > MAX_SEGMENT_BYTES {
        return Err(LogError::Corrupt {
            path: out.log_path().to_path_buf(),
            reason: "a cleaned segment would outgrow the largest segment size".to_owned(),
        });
    }
    let (head, records) = batch.split_at(HEADER_SIZE);
    let head: &[u8; HEADER_SIZE] = head.try_into().expect("a parsed batch holds a header");
    out.append(head, records, &header, index_interval)
}

fn open_source(path: &Path) -> Result<File, LogError> {
    File::open(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => LogError::SegmentRemoved {
            path: path.to_path_buf(),
        },
        _ => LogError::io("open segment to clean", path)(e),
    })
}

fn next_batch(
    scanner: &mut BatchScanner<'_>,
    path: &Path,
) -> Result<Option<ScannedBatch>, LogError> {
    match scanner.next_batch()? {
        Scan::Batch(b) => Ok(Some(b)),
        Scan::End => Ok(None),
        Scan::Invalid { position, reason } => Err(LogError::Corrupt {
            path: path.to_path_buf(),
            reason: format!("at position {position}: {reason}"),
        }),
    }
}

fn read_batch(file: &File, b: &ScannedBatch, path: &Path) -> Result<Vec<u8>, LogError> {
    let mut bytes = vec![0u8; b.header.size()];
    file.read_exact_at(&mut bytes, b.position)
        .map_err(LogError::io("read segment to clean", path))?;
    super::batch::validate_stored_batch(&bytes).map_err(|e| LogError::Corrupt {
        path: path.to_path_buf(),
        reason: format!("batch at position {}: {e}", b.position),
    })?;
    Ok(bytes)
}

/// The first batch's maxTimestamp, as the age of a dirty segment's oldest batch.
fn first_batch_timestamp(path: &Path) -> Result<Option<i64>, LogError> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(LogError::io("open segment", path)(e)),
    };
    let mut head = [0u8; HEADER_SIZE];
    match file.read_exact_at(&mut head, 0) {
        Ok(()) => Ok(BatchHeader::parse(&head).ok().map(|h| h.max_timestamp)),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(None),
        Err(e) => Err(LogError::io("read segment", path)(e)),
    }
}
