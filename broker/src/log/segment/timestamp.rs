//! A segment's part of ListOffsets by time: find the candidate batches with the indexes and
//! batch headers, then let [`crate::log::timestamp`] decode them down to one record.

use std::fs::File;
use std::os::unix::fs::FileExt;

use super::{Segment, open_existing};
use crate::log::batch;
use crate::log::error::LogError;
use crate::log::index;
use crate::log::records::RecordError;
use crate::log::scan::{BatchScanner, Scan, ScannedBatch};
use crate::log::time_index::TimeEntry;
use crate::log::timestamp::{first_record_at_or_after, record_of_max_timestamp};

impl Segment {
    /// `(offset, timestamp)` of the first record with offset `>= min_offset` and timestamp
    /// `>= ts`, decompressing at most `limit` bytes per batch.
    pub(crate) fn offset_for_timestamp(
        &self,
        ts: i64,
        min_offset: i64,
        limit: usize,
    ) -> Result<Option<(i64, i64)>, LogError> {
        if self.is_empty() || self.max_timestamp < ts {
            return Ok(None);
        }
        // The last time index entry below `ts` names a batch whose maxTimestamp is below it, and
        // every earlier batch's too: the scan can start there.
        let below = match (ts.checked_sub(1), self.time_entries) {
            (Some(target), n) if n > 0 => {
                let path = self.time_index_path();
                let found = match &self.files {
                    Some(f) => index::lookup::<TimeEntry>(&f.time_index, n, target),
                    None => match open_existing(&path)? {
                        Some(file) => index::lookup::<TimeEntry>(&file, n, target),
                        None => Ok(None),
                    },
                };
                found.map_err(LogError::io("read time index", &path))?
            }
            _ => None,
        };
        let from_offset = below.map_or(self.base_offset, |e| {
            self.base_offset + i64::from(e.relative_offset)
        });
        let log = self.log_file()?;
        let start = self.index_position(from_offset.max(min_offset))?;
        let mut scanner = BatchScanner::new(&log, &self.log_path, start, self.size, false);
        while let Some(b) = self.next_scanned(&mut scanner)? {
            if b.header.max_timestamp < ts || b.header.last_offset() < min_offset {
                continue;
            }
            let bytes = self.read_batch(&log, &b)?;
            let found = first_record_at_or_after(&bytes, ts, min_offset, limit)
                .map_err(|e| self.corrupt_records(&b, e))?;
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }

    /// `(offset, timestamp)` of the first record carrying this segment's max timestamp: in the
    /// first batch whose maxTimestamp is the segment's, found from the offset index.
    pub(crate) fn record_of_max_timestamp(
        &self,
        limit: usize,
    ) -> Result<Option<(i64, i64)>, LogError> {
        if self.is_empty() || self.max_timestamp < 0 {
            return Ok(None);
        }
        let log = self.log_file()?;
        let start = self.index_position(self.offset_of_max_timestamp)?;
        let mut scanner = BatchScanner::new(&log, &self.log_path, start, self.size, false);
        while let Some(b) = self.next_scanned(&mut scanner)? {
            if b.header.max_timestamp != self.max_timestamp {
                continue;
            }
            let bytes = self.read_batch(&log, &b)?;
            return record_of_max_timestamp(&bytes, limit).map_err(|e| self.corrupt_records(&b, e));
        }
        Ok(None)
    }

    /// The next batch header of the scan; an invalid one is corruption here.
    fn next_scanned(
        &self,
        scanner: &mut BatchScanner<'_>,
    ) -> Result<Option<ScannedBatch>, LogError> {
        match scanner.next_batch()? {
            Scan::Batch(b) => Ok(Some(b)),
            Scan::End => Ok(None),
            Scan::Invalid { position, reason } => Err(LogError::Corrupt {
                path: self.log_path.clone(),
                reason: format!("at position {position}: {reason}"),
            }),
        }
    }

    /// The whole batch, checked against its CRC: a mismatch means the bytes changed on disk.
    fn read_batch(&self, log: &File, b: &ScannedBatch) -> Result<Vec<u8>, LogError> {
        let mut bytes = vec![0u8; b.header.size()];
        log.read_exact_at(&mut bytes, b.position)
            .map_err(LogError::io("read segment", &self.log_path))?;
        batch::validate_stored_batch(&bytes).map_err(|e| LogError::Corrupt {
            path: self.log_path.clone(),
            reason: format!("batch at position {}: {e}", b.position),
        })?;
        Ok(bytes)
    }

    fn corrupt_records(&self, b: &ScannedBatch, source: RecordError) -> LogError {
        LogError::CorruptRecords {
            path: self.log_path.clone(),
            offset: b.header.base_offset,
            source,
        }
    }
}
