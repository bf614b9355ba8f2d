//! The Raft library's log storage over the command log's files ([`FileLog`]).
//!
//! The log is shared by the storage and its readers behind one mutex; every method that
//! changes it returns once it is durable (the file methods fsync), so `append` reports the
//! flush before returning. The fsync runs on the metadata runtime's thread: metadata writes
//! are rare and small, and the runtime is the metadata quorum's alone.

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::{Arc, Mutex, MutexGuard};

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{AnyError, OptionalSend, RaftLogReader, StorageError, StorageIOError};

use super::types::{
    RaftEntry, RaftLogId, RaftVote, TypeConfig, from_raft_entry, from_raft_log_id, from_raft_vote,
    to_raft_entry, to_raft_log_id, to_raft_vote,
};
use crate::cluster::log::{FileLog, LogStorage as _};

/// [`RaftLogStorage`] over a [`FileLog`]; clones share the log.
#[derive(Clone)]
pub struct LogStore {
    log: Arc<Mutex<FileLog>>,
}

impl LogStore {
    pub fn new(log: FileLog) -> Self {
        Self {
            log: Arc::new(Mutex::new(log)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, FileLog> {
        self.log
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<RaftEntry>, StorageError<u64>> {
        let from = match range.start_bound() {
            Bound::Included(from) => *from,
            Bound::Excluded(from) => from.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let to = match range.end_bound() {
            Bound::Included(to) => to.saturating_add(1),
            Bound::Excluded(to) => *to,
            Bound::Unbounded => u64::MAX,
        };
        Ok(self
            .lock()
            .entries(from, to)
            .iter()
            .map(to_raft_entry)
            .collect())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError<u64>> {
        let state = self.lock().get_log_state();
        Ok(LogState {
            last_purged_log_id: state.last_purged_log_id.map(to_raft_log_id),
            last_log_id: state.last_log_id.map(to_raft_log_id),
        })
    }

    async fn save_committed(
        &mut self,
        committed: Option<RaftLogId>,
    ) -> Result<(), StorageError<u64>> {
        self.lock()
            .save_committed(committed.as_ref().map(from_raft_log_id))
            .map_err(|error| StorageIOError::write(AnyError::new(&error)).into())
    }

    async fn read_committed(&mut self) -> Result<Option<RaftLogId>, StorageError<u64>> {
        Ok(self.lock().read_committed().map(to_raft_log_id))
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &RaftVote) -> Result<(), StorageError<u64>> {
        self.lock()
            .save_vote(&from_raft_vote(vote))
            .map_err(|error| StorageIOError::write_vote(AnyError::new(&error)).into())
    }

    async fn read_vote(&mut self) -> Result<Option<RaftVote>, StorageError<u64>> {
        Ok(self.lock().read_vote().map(to_raft_vote))
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError<u64>>
    where
        I: IntoIterator<Item = RaftEntry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<_> = entries.into_iter().map(|e| from_raft_entry(&e)).collect();
        match self.lock().append(&entries) {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(error) => {
                callback.log_io_completed(Err(std::io::Error::other(error.to_string())));
                Err(StorageIOError::write_logs(AnyError::new(&error)).into())
            }
        }
    }

    async fn truncate(&mut self, log_id: RaftLogId) -> Result<(), StorageError<u64>> {
        self.lock()
            .truncate(from_raft_log_id(&log_id))
            .map_err(|error| StorageIOError::write_logs(AnyError::new(&error)).into())
    }

    async fn purge(&mut self, log_id: RaftLogId) -> Result<(), StorageError<u64>> {
        self.lock()
            .purge(from_raft_log_id(&log_id))
            .map_err(|error| StorageIOError::write_logs(AnyError::new(&error)).into())
    }
}
