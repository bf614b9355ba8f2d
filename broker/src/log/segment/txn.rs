//! A segment's aborted-transaction index (`.txnindex`, `log/txn_index.rs`): the ABORT markers
//! in the segment, counted from the file's size on open, appended as markers are written, read
//! for read_committed fetches and the cleaner, cut with the log.

use std::fs::{self, OpenOptions};
use std::io;
use std::path::PathBuf;

use super::{Segment, sibling};
use crate::log::error::LogError;
use crate::log::txn_index::{self, AbortedTxn, TXN_INDEX_SUFFIX};

impl Segment {
    pub(crate) fn txn_index_path(&self) -> PathBuf {
        sibling(&self.log_path, TXN_INDEX_SUFFIX)
    }

    /// Entries of the transaction index.
    pub(crate) fn txn_entries(&self) -> u64 {
        self.txn_entries
    }

    /// Counts the transaction index's entries from its size, cutting a torn last entry.
    pub(super) fn load_txn_index(&mut self) -> Result<(), LogError> {
        let path = self.txn_index_path();
        let len = match fs::metadata(&path) {
            Ok(metadata) => metadata.len(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
            Err(e) => return Err(LogError::io("stat transaction index", path)(e)),
        };
        self.txn_entries = txn_index::entries_in(len);
        if len % txn_index::ENTRY_SIZE != 0 {
            tracing::warn!(path = %path.display(), len, "cutting a torn transaction index entry");
            OpenOptions::new()
                .write(true)
                .open(&path)
                .and_then(|f| f.set_len(self.txn_entries * txn_index::ENTRY_SIZE))
                .map_err(LogError::io("truncate transaction index", &path))?;
        }
        Ok(())
    }

    /// Appends an aborted transaction whose ABORT marker is in this segment. With the
    /// segment's files open (the active segment, written since it was opened) the index is
    /// fsynced with them; otherwise (a replay at open, or the first abort after a restart)
    /// it is fsynced at once, since no later sync of the segment would cover it.
    pub(crate) fn append_aborted(&mut self, entry: &AbortedTxn) -> Result<(), LogError> {
        let path = self.txn_index_path();
        let slot = self.txn_entries;
        let open = || txn_index::open(&path).map_err(LogError::io("open transaction index", &path));
        match self.files.as_mut() {
            Some(files) => {
                if files.txn_index.is_none() {
                    files.txn_index = Some(open()?);
                }
                let file = files.txn_index.as_ref().expect("opened above");
                txn_index::append(file, slot, entry)
                    .map_err(LogError::io("append transaction index", &path))?;
            }
            None => {
                let file = open()?;
                txn_index::append(&file, slot, entry)
                    .map_err(LogError::io("append transaction index", &path))?;
                self.syncer
                    .sync_data(&file, &path)
                    .map_err(LogError::io("fsync transaction index", &path))?;
            }
        }
        self.txn_entries += 1;
        Ok(())
    }

    /// The aborted transactions whose marker is in this segment, in marker order.
    pub(crate) fn aborted_txns(&self) -> Result<Vec<AbortedTxn>, LogError> {
        let path = self.txn_index_path();
        txn_index::read(&path, self.txn_entries)
            .map_err(LogError::io("read transaction index", path))
    }

    /// Cuts the entries of markers at or after `offset` (entries are in marker order).
    pub(crate) fn truncate_txn_index_from(&mut self, offset: i64) -> Result<(), LogError> {
        if self.txn_entries == 0 {
            return Ok(());
        }
        let keep = self
            .aborted_txns()?
            .iter()
            .take_while(|entry| entry.last_offset < offset)
            .count() as u64;
        if keep == self.txn_entries {
            return Ok(());
        }
        let path = self.txn_index_path();
        OpenOptions::new()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_len(keep * txn_index::ENTRY_SIZE))
            .map_err(LogError::io("truncate transaction index", &path))?;
        self.txn_entries = keep;
        Ok(())
    }
}
