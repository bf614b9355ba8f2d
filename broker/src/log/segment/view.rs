//! A segment as a read sees it, detached from the [`Segment`](super::Segment): its size, next
//! offset and index entry count at the moment the view was taken, plus shared handles to the
//! active segment's open files. A view borrows nothing, so a fetch takes one under the
//! partition's lock and does its disk reads after releasing it.
//!
//! Bytes below the view's `size` never change while the segment exists: appends only add past
//! it and index entries below `index_entries` are never rewritten. What can happen meanwhile is
//! that retention removes a closed segment. Its files are renamed under the lock and unlinked
//! after it; a view that opens the `.log` before the rename reads on from the open descriptor,
//! one that opens it after gets [`LogError::SegmentRemoved`] and the caller plans again.
//! Compaction replaces a closed segment by a cleaned one under the same name: a view knows the
//! inodes of the files it describes, so one that opens the replacement also gets
//! `SegmentRemoved`, and one that finds another `.index` scans its `.log` from the start.

use std::fs::File;
use std::io;
use std::ops::Deref;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;

use super::super::batch::{HEADER_SIZE, LOG_OVERHEAD, be_i32, be_i64};
use super::super::error::LogError;
use super::super::index::{self, OffsetEntry};
use super::super::scan::{BatchScanner, Scan, ScannedBatch};
use super::{INDEX_SUFFIX, LogFile, open_existing};

/// What a read needs of one segment. Cheap to take: a path and two reference counts.
pub(crate) struct SegmentView {
    pub(super) base_offset: i64,
    pub(super) log_path: PathBuf,
    pub(super) size: u64,
    pub(super) next_offset: i64,
    pub(super) index_entries: u64,
    /// The active segment's open files; a closed segment opens them for the read.
    pub(super) log: Option<Arc<LogFile>>,
    pub(super) index: Option<Arc<File>>,
    /// The inodes the segment's files had when the view was taken (see `Segment`).
    pub(super) log_ino: Option<u64>,
    pub(super) index_ino: Option<u64>,
}

/// A `.log` either shared with the active segment or opened just for one read.
pub(crate) enum Handle {
    Shared(Arc<LogFile>),
    Owned(File),
}

impl Deref for Handle {
    type Target = File;
    fn deref(&self) -> &File {
        match self {
            Handle::Shared(f) => f,
            Handle::Owned(f) => f,
        }
    }
}

impl SegmentView {
    pub(crate) fn is_empty(&self) -> bool {
        self.size == 0
    }

    fn log_file(&self) -> Result<Handle, LogError> {
        match &self.log {
            Some(file) => Ok(Handle::Shared(Arc::clone(file))),
            None => match File::open(&self.log_path) {
                // Compaction swapped a cleaned segment in under the same name: plan again.
                Ok(file) if self.log_ino.is_some() && ino(&file) != self.log_ino => {
                    Err(LogError::SegmentRemoved {
                        path: self.log_path.clone(),
                    })
                }
                Ok(file) => Ok(Handle::Owned(file)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Err(LogError::SegmentRemoved {
                    path: self.log_path.clone(),
                }),
                Err(e) => Err(LogError::io("open segment", &self.log_path)(e)),
            },
        }
    }

    /// A batch boundary at or before the batch containing `offset`, from the offset index. A
    /// missing index (retired meanwhile, or never written) means a scan from the start.
    pub(crate) fn index_position(&self, offset: i64) -> Result<u64, LogError> {
        if self.index_entries == 0 || offset <= self.base_offset {
            return Ok(0);
        }
        let target = u32::try_from(offset - self.base_offset).unwrap_or(u32::MAX);
        let path = super::sibling(&self.log_path, INDEX_SUFFIX);
        let found = match &self.index {
            Some(file) => index::lookup::<OffsetEntry>(file, self.index_entries, target),
            None => match open_existing(&path)? {
                // Another segment's index under this name (a cleaned one): scan from the start.
                Some(file) if self.index_ino.is_some() && ino(&file) != self.index_ino => {
                    return Ok(0);
                }
                Some(file) => index::lookup::<OffsetEntry>(&file, self.index_entries, target),
                None => return Ok(0),
            },
        };
        let found = found.map_err(LogError::io("read offset index", &path))?;
        // Entries name a batch's last offset; an entry below `offset` means the batch containing
        // `offset` starts at or after that entry's position.
        Ok(found.map_or(0, |e| u64::from(e.position)))
    }

    /// Position of the batch containing `offset`, or of the first batch after it; `None` when
    /// no batch of this segment ends at or after `offset`.
    pub(crate) fn locate(&self, log: &File, offset: i64) -> Result<Option<ScannedBatch>, LogError> {
        let start = self.index_position(offset)?;
        let mut scanner = BatchScanner::new(log, &self.log_path, start, self.size, false);
        loop {
            match scanner.next_batch()? {
                Scan::Batch(b) if b.header.last_offset() >= offset => return Ok(Some(b)),
                Scan::Batch(_) => {}
                Scan::End => return Ok(None),
                Scan::Invalid { position, reason } => {
                    return Err(LogError::Corrupt {
                        path: self.log_path.clone(),
                        reason: format!("at position {position}: {reason}"),
                    });
                }
            }
        }
    }

    /// Whole batches from the one containing `offset`: at most `max_bytes` unless the first
    /// batch alone is larger, and only batches ending below `upper_bound`.
    pub(crate) fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        upper_bound: i64,
    ) -> Result<Option<Bytes>, LogError> {
        if self.is_empty() || offset >= self.next_offset {
            return Ok(None);
        }
        let log = self.log_file()?;
        let Some(first) = self.locate(&log, offset)? else {
            return Ok(None);
        };
        if first.header.last_offset() >= upper_bound {
            return Ok(Some(Bytes::new()));
        }
        let available = self.size - first.position;
        let want = first.size().max((max_bytes as u64).min(available));
        let mut buf = vec![0u8; want as usize];
        log.read_exact_at(&mut buf, first.position)
            .map_err(LogError::io("read segment", &self.log_path))?;
        // Keep whole batches below the upper bound; the first one is already known to qualify.
        let mut end = first.size() as usize;
        while end + LOG_OVERHEAD <= buf.len() {
            let size = LOG_OVERHEAD + be_i32(&buf, end + 8).max(0) as usize;
            let Some(header) = buf.get(end..end + 27) else {
                break;
            };
            let last = be_i64(header, 0) + i64::from(be_i32(header, 23));
            if size < HEADER_SIZE || end + size > buf.len() || last >= upper_bound {
                break;
            }
            end += size;
        }
        buf.truncate(end);
        Ok(Some(Bytes::from(buf)))
    }
}

fn ino(file: &File) -> Option<u64> {
    file.metadata().ok().map(|m| m.ino())
}
