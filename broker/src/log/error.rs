//! Errors of the partition log. Variants name the action that failed and carry the offsets or
//! paths involved; [`LogError::is_storage_error`] tells the protocol layer which ones are disk
//! problems (KAFKA_STORAGE_ERROR) rather than a client's mistake.

use std::io;
use std::path::PathBuf;

use super::batch::BatchError;
use super::records::RecordError;

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// A read or DeleteRecords asked for an offset outside `[log_start_offset, log_end_offset]`.
    #[error("offset {offset} is outside the log [{log_start_offset}, {log_end_offset}]")]
    OffsetOutOfRange {
        offset: i64,
        log_start_offset: i64,
        log_end_offset: i64,
    },
    /// A replicated batch starts below the log end offset: the follower must truncate first.
    #[error("replicated batch at offset {offset} is below the log end offset {log_end_offset}")]
    AppendOutOfOrder { offset: i64, log_end_offset: i64 },
    /// The batch is larger than `max.message.bytes`.
    #[error("batch of {size} bytes exceeds max.message.bytes {max}")]
    MessageTooLarge { size: usize, max: u32 },
    /// The batch failed validation; nothing was written.
    #[error("refused record batch: {0}")]
    InvalidBatch(#[from] BatchError),
    /// A stored batch passed its CRC but its records do not decode (or inflate past the cap): the
    /// producer sent it that way, since appends read only batch headers.
    #[error("records of the batch at offset {offset} in {path}: {source}")]
    CorruptRecords {
        path: PathBuf,
        offset: i64,
        #[source]
        source: RecordError,
    },
    /// On-disk state that cannot be trusted and has no safe fallback.
    #[error("corrupt {path}: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    /// A file operation failed; `op` says which.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// An earlier fsync of this log failed; its unsynced data may be lost, so it takes no more
    /// writes until it is reopened (and recovered).
    #[error("log {dir} failed an earlier fsync and is read-only until reopened")]
    LogFailed { dir: PathBuf },
    /// A read planned under the partition's lock found its segment removed by retention
    /// before it opened the file: plan again (the log start has moved past it).
    #[error("segment {path} was removed before it was read")]
    SegmentRemoved { path: PathBuf },
    /// The cleaner was stopped (the broker is shutting down) in the middle of a clean, which
    /// is abandoned: nothing of it was swapped in.
    #[error("the log cleaner stopped before the clean finished")]
    CleanAborted,
    /// The group-commit flusher has shut down.
    #[error("the log flusher has stopped")]
    FlusherStopped,
}

impl LogError {
    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(io::Error) -> LogError {
        let path = path.into();
        move |source| LogError::Io { op, path, source }
    }

    /// Disk problems: map to KAFKA_STORAGE_ERROR.
    pub fn is_storage_error(&self) -> bool {
        matches!(
            self,
            LogError::Io { .. }
                | LogError::Corrupt { .. }
                | LogError::LogFailed { .. }
                | LogError::SegmentRemoved { .. }
        )
    }
}
