//! Swapping cleaned segments in, and finishing or undoing a swap that a crash interrupted.
//!
//! Order, under the partition's lock, for every cleaned segment `<base>`:
//!
//! ```text
//!  (written)   <base>.{index,timeindex,log}.cleaned   fsynced by the clean
//!  1. rename   .cleaned → .swap (indexes first, .log last); fsync the directory
//!  2. retire   every source segment's files → .deleted
//!  3. install  .swap → <base>.index, .timeindex, .log (the .log last); fsync the directory
//!  4. memory   the sources are replaced by the cleaned segment; the first dirty offset is
//!              checkpointed (a crash before that only makes the next clean redo work)
//! ```
//!
//! Opening a partition ([`finish_interrupted_swaps`], before segments are listed):
//! - `.cleaned` files are deleted: the crash came before step 1 finished, every source is
//!   still in place (step 2 has not started).
//! - a `<base>.log.swap` is completed: every `.log` whose base offset lies in the swap's range
//!   (base to its last batch's last offset, which is its sources' last offset: a cleaned
//!   segment keeps its last batch, emptied if need be) is deleted with its indexes, then the
//!   index swaps and the `.log.swap` are renamed into place. This is right after step 1
//!   (sources complete), during step 2 (some retired) and during step 3 (some installed).
//! - index `.swap` files without a `.log.swap` are deleted: step 1 was interrupted before the
//!   `.log` was renamed, so the sources are intact; a missing index is rebuilt anyway.
//! - `.deleted` files are removed by the listing that follows, as for retention.
//!
//! Each cleaned segment is all or nothing: its offset range reads either its sources or
//! itself. Between segments a crash may leave some installed and others not (as between
//! Kafka's per-group swaps), and since every step goes through the segments in offset order,
//! the installed ones come first. The log still holds the same latest value per key: a cleaned
//! segment dropped only records superseded by a later one (kept, in it or further on) and
//! expired tombstones (whose older values sat in it or in an earlier, also installed, segment).
//! The tests stop a swap after every single rename (`swap_tests.rs`).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use super::{CleanOutcome, Cleaned};
use crate::log::checkpoint::{self, CLEANER_OFFSET};
use crate::log::error::LogError;
use crate::log::partition::PartitionLog;
use crate::log::scan::{BatchScanner, Scan};
use crate::log::segment::{INDEX_SUFFIX, LOG_SUFFIX, Segment, TIME_INDEX_SUFFIX, file_name};
use crate::log::sync::Syncer;
use crate::log::txn_index::TXN_INDEX_SUFFIX;

pub(crate) const CLEANED: &str = ".cleaned";
pub(crate) const SWAP: &str = ".swap";

/// Where a test stops a swap, as a crash would: after the named step.
#[cfg_attr(not(test), allow(dead_code))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SwapStep {
    /// The cleaned files are written and fsynced; nothing renamed.
    Written,
    /// `.cleaned` renamed to `.swap`.
    Renamed,
    /// The sources renamed to `.deleted`.
    Retired,
    /// `.swap` renamed into place; the log in memory not yet updated.
    Installed,
    /// After this many file operations of the swap: each rename of a cleaned file, each
    /// source retired (its `.log` first, then its indexes, as one), each rename into place.
    Operations(usize),
}

/// Where a swap stops as a crash would; never, outside tests.
struct CrashPoint {
    at: Option<SwapStep>,
    operations: std::cell::Cell<usize>,
}

impl CrashPoint {
    fn after(&self, step: SwapStep) -> bool {
        self.at == Some(step)
    }

    /// Counts one file operation; whether the crash comes right after it.
    fn operation(&self) -> bool {
        let done = self.operations.get() + 1;
        self.operations.set(done);
        self.at == Some(SwapStep::Operations(done))
    }
}

/// The segment's four files with `suffix` appended, `.log` last.
fn paths(dir: &Path, base: i64, suffix: &str) -> [PathBuf; 4] {
    [
        TXN_INDEX_SUFFIX,
        INDEX_SUFFIX,
        TIME_INDEX_SUFFIX,
        LOG_SUFFIX,
    ]
    .map(|kind| dir.join(format!("{}{suffix}", file_name(base, kind))))
}

/// Removes the segment's files with `suffix`, ignoring those already gone.
pub(crate) fn remove_files(dir: &Path, base: i64, suffix: &str) {
    for path in paths(dir, base, suffix) {
        if let Err(error) = fs::remove_file(&path)
            && error.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(path = %path.display(), %error, "removing a cleaner file failed");
        }
    }
}

fn rename(from: &Path, to: &Path) -> Result<(), LogError> {
    fs::rename(from, to).map_err(LogError::io("rename cleaned segment file", from))
}

impl PartitionLog {
    /// Swaps cleaned segments in for their sources (see the module docs for the order). When
    /// a source was removed or changed since the plan (retention, truncation), the clean is
    /// abandoned: its files are deleted and `Ok(None)` returned. A failure once sources are
    /// being retired takes the log out of service until it is reopened, which completes the
    /// swap.
    pub fn swap_in(&mut self, cleaned: Cleaned) -> Result<Option<CleanOutcome>, LogError> {
        self.swap_in_until(cleaned, None)
    }

    /// [`Self::swap_in`], stopping after `stop_after` as a crash there would (a test seam).
    pub(crate) fn swap_in_until(
        &mut self,
        cleaned: Cleaned,
        stop_after: Option<SwapStep>,
    ) -> Result<Option<CleanOutcome>, LogError> {
        let crash = CrashPoint {
            at: stop_after,
            operations: std::cell::Cell::new(0),
        };
        if crash.after(SwapStep::Written) {
            return Ok(None);
        }
        let Some(firsts) = self.locate_sources(&cleaned) else {
            tracing::info!(dir = %self.dir.display(), "sources changed during the clean; abandoned");
            cleaned.discard();
            return Ok(None);
        };
        for group in &cleaned.groups {
            for (from, to) in paths(&self.dir, group.base, CLEANED)
                .iter()
                .zip(paths(&self.dir, group.base, SWAP).iter())
            {
                rename(from, to)?;
                if crash.operation() {
                    return Ok(None);
                }
            }
        }
        self.syncer
            .sync_dir(&self.dir)
            .map_err(LogError::io("fsync directory", &self.dir))?;
        if crash.after(SwapStep::Renamed) {
            return Ok(None);
        }
        let outcome = self.install(&cleaned, &firsts, &crash);
        if outcome.is_err() {
            self.failed.store(true, Ordering::Release);
        }
        outcome
    }

    /// Steps 2 to 4 of the swap.
    fn install(
        &mut self,
        cleaned: &Cleaned,
        firsts: &[usize],
        crash: &CrashPoint,
    ) -> Result<Option<CleanOutcome>, LogError> {
        let mut bytes_before = 0;
        let mut segments_before = 0;
        for (group, &first) in cleaned.groups.iter().zip(firsts) {
            for seg in &mut self.segments[first..first + group.sources.len()] {
                bytes_before += seg.size;
                segments_before += 1;
                let retired = seg.retire_files()?;
                self.retired.extend(retired);
                if crash.operation() {
                    return Ok(None);
                }
            }
        }
        if crash.after(SwapStep::Retired) {
            return Ok(None);
        }
        for group in &cleaned.groups {
            for (from, to) in paths(&self.dir, group.base, SWAP)
                .iter()
                .zip(paths(&self.dir, group.base, "").iter())
            {
                rename(from, to)?;
                if crash.operation() {
                    return Ok(None);
                }
            }
        }
        self.syncer
            .sync_dir(&self.dir)
            .map_err(LogError::io("fsync directory", &self.dir))?;
        if crash.after(SwapStep::Installed) {
            return Ok(None);
        }
        // From the back, so the positions of earlier groups stay valid.
        for (group, &first) in cleaned.groups.iter().zip(firsts).rev() {
            let next_base = self.segments[first + group.sources.len()].base_offset;
            let (seg, _) = Segment::load(
                &self.dir,
                group.base,
                Some(next_base),
                self.config.index_interval_bytes,
                &mut self.epochs,
                &self.syncer,
            )?;
            self.segments
                .splice(first..first + group.sources.len(), [seg]);
        }
        checkpoint::write_offset(&self.dir, CLEANER_OFFSET, cleaned.first_dirty)?;
        Ok(Some(CleanOutcome {
            segments_before,
            segments_after: cleaned.groups.len(),
            bytes_before,
            bytes_after: cleaned.groups.iter().map(|g| g.size).sum(),
            first_dirty: cleaned.first_dirty,
        }))
    }

    /// The index of each group's first source in `segments`, if every source is still there,
    /// unchanged and closed.
    fn locate_sources(&self, cleaned: &Cleaned) -> Option<Vec<usize>> {
        let closed = self.segments.len() - 1;
        cleaned
            .groups
            .iter()
            .map(|group| {
                let first = self
                    .segments
                    .iter()
                    .position(|s| s.base_offset == group.base)?;
                let unchanged = group.sources.iter().enumerate().all(|(i, &(base, size))| {
                    first + i < closed
                        && self.segments[first + i].base_offset == base
                        && self.segments[first + i].size == size
                });
                unchanged.then_some(first)
            })
            .collect()
    }
}

/// Finishes or undoes swaps a crash interrupted (see the module docs). Runs when a partition
/// is opened, before its segments are listed.
pub(crate) fn finish_interrupted_swaps(dir: &Path, syncer: &Syncer) -> Result<(), LogError> {
    let mut log_swaps = Vec::new();
    let mut index_swaps = Vec::new();
    let mut logs = Vec::new();
    let mut changed = false;
    let entries = fs::read_dir(dir).map_err(LogError::io("list partition directory", dir))?;
    for entry in entries {
        let path = entry
            .map_err(LogError::io("list partition directory", dir))?
            .path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let base = name
            .get(..20)
            .filter(|stem| {
                stem.bytes().all(|c| c.is_ascii_digit()) && name.as_bytes().get(20) == Some(&b'.')
            })
            .and_then(|stem| stem.parse::<i64>().ok());
        let Some(base) = base else {
            continue;
        };
        let rest = &name[21..];
        if rest.ends_with(CLEANED) {
            remove(&path)?;
            changed = true;
        } else if rest == format!("{LOG_SUFFIX}{SWAP}") {
            log_swaps.push(base);
        } else if rest.ends_with(SWAP) {
            index_swaps.push(path);
        } else if rest == LOG_SUFFIX {
            logs.push(base);
        }
    }
    log_swaps.sort_unstable();
    for &base in &log_swaps {
        let [txn_index, index, time_index, log] = paths(dir, base, SWAP);
        let end = swap_end(&log, base)?;
        for &old in logs.iter().filter(|&&old| old >= base && old < end) {
            for path in paths(dir, old, "") {
                match fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(LogError::io("remove a swapped-out segment", path)(e)),
                }
            }
        }
        let [txn_index_to, index_to, time_index_to, log_to] = paths(dir, base, "");
        for (from, to) in [
            (txn_index, txn_index_to),
            (index, index_to),
            (time_index, time_index_to),
        ] {
            match fs::rename(&from, &to) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(LogError::io("install a swapped segment index", from)(e)),
            }
        }
        rename(&log, &log_to)?;
        tracing::info!(
            base_offset = base,
            end_offset = end,
            "completed an interrupted segment swap"
        );
        changed = true;
    }
    for path in index_swaps {
        if path.exists() {
            remove(&path)?;
            changed = true;
        }
    }
    if changed {
        syncer
            .sync_dir(dir)
            .map_err(LogError::io("fsync directory", dir))?;
    }
    Ok(())
}

/// One past the last offset of the swap file's last batch; `base + 1` when it holds none.
fn swap_end(path: &Path, base: i64) -> Result<i64, LogError> {
    let file = fs::File::open(path).map_err(LogError::io("open segment swap", path))?;
    let size = file
        .metadata()
        .map_err(LogError::io("stat segment swap", path))?
        .len();
    let mut scanner = BatchScanner::new(&file, path, 0, size, false);
    let mut end = base + 1;
    while let Scan::Batch(b) = scanner.next_batch()? {
        end = end.max(b.header.last_offset() + 1);
    }
    Ok(end)
}

fn remove(path: &Path) -> Result<(), LogError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(LogError::io("remove cleaner leftover", path)(e)),
    }
}
