//! The log's part of transactions: the aborted-transaction index of each segment
//! (`txn_index.rs`), appended when an ABORT marker is, cut back with the log and collected
//! for read_committed reads outside the partition's lock.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use super::error::LogError;
use super::partition::PartitionLog;
pub use super::txn_index::AbortedTxn;
use super::txn_index::{self, Search};

impl PartitionLog {
    /// Records an aborted transaction in the index of the segment holding its ABORT marker
    /// (`entry.last_offset`): the active one as markers are appended, any on a replay.
    pub fn append_aborted_txn(&mut self, entry: &AbortedTxn) -> Result<(), LogError> {
        self.ensure_writable()?;
        let at = self
            .segments
            .partition_point(|s| s.base_offset <= entry.last_offset)
            .saturating_sub(1);
        self.segments[at].append_aborted(entry)
    }

    /// Removes the entries of markers at or after `offset` from every transaction index: what
    /// a replay of the log from `offset` writes again.
    pub fn truncate_txn_indexes_from(&mut self, offset: i64) -> Result<(), LogError> {
        for segment in self
            .segments
            .iter_mut()
            .filter(|segment| segment.next_offset > offset || segment.is_empty())
        {
            segment.truncate_txn_index_from(offset)?;
        }
        Ok(())
    }

    /// Every aborted transaction in the log's indexes, in marker order (for tests and tools).
    pub fn aborted_txns(&self) -> Result<Vec<AbortedTxn>, LogError> {
        let mut all = Vec::new();
        for segment in &self.segments {
            all.extend(segment.aborted_txns()?);
        }
        Ok(all)
    }

    /// The transaction indexes a read_committed read from `from` may need, taken under the
    /// lock to be searched after it: those of the segment holding `from` and the later ones
    /// that have entries.
    pub fn plan_aborted(&self, from: i64) -> AbortedPlan {
        let first = self
            .segments
            .partition_point(|s| s.base_offset <= from)
            .saturating_sub(1);
        let indexes = self.segments[first..]
            .iter()
            .filter(|segment| segment.txn_entries() > 0)
            .map(|segment| IndexView {
                path: segment.txn_index_path(),
                entries: segment.txn_entries(),
                log_path: segment.log_path().to_path_buf(),
                log_ino: segment.log_ino(),
            })
            .collect();
        AbortedPlan { indexes }
    }
}

/// One segment's transaction index as a plan saw it.
struct IndexView {
    path: PathBuf,
    entries: u64,
    log_path: PathBuf,
    log_ino: Option<u64>,
}

/// Transaction indexes to search, detached from the log (see [`PartitionLog::plan_aborted`]).
pub struct AbortedPlan {
    indexes: Vec<IndexView>,
}

impl AbortedPlan {
    /// The aborted transactions overlapping `[from, upper)`, as Kafka's
    /// `collectAbortedTransactions`: segment by segment until one says no later one matters.
    /// [`LogError::SegmentRemoved`] when retention or compaction replaced a segment since the
    /// plan: plan again.
    pub fn collect(&self, from: i64, upper: i64) -> Result<Vec<AbortedTxn>, LogError> {
        let mut aborted = Vec::new();
        if upper <= from {
            return Ok(aborted);
        }
        for index in &self.indexes {
            let removed = || LogError::SegmentRemoved {
                path: index.log_path.clone(),
            };
            let file = match fs::File::open(&index.path) {
                Ok(file) => file,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(removed()),
                Err(e) => return Err(LogError::io("open transaction index", &index.path)(e)),
            };
            // A segment swapped or retired since the plan renames its `.log` last: if the
            // `.log` is still the planned one, so was the index opened before it.
            let log_ino = fs::metadata(&index.log_path).ok().map(|m| m.ino());
            if index.log_ino.is_some() && log_ino != index.log_ino {
                return Err(removed());
            }
            let entries = txn_index::read_from(&file, index.entries)
                .map_err(LogError::io("read transaction index", &index.path))?;
            let Search {
                aborted: found,
                complete,
            } = txn_index::search(&entries, from, upper);
            aborted.extend(found);
            if complete {
                break;
            }
        }
        Ok(aborted)
    }
}
