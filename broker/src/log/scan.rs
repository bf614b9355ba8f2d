//! Forward scan over the batches of a `.log` file, reading in chunks with `pread`.
//!
//! Used by reads (to find the batch containing an offset), timestamp lookups, index rebuilds
//! and recovery. With `validate` set every batch is checked like a produced one (lengths, magic,
//! CRC-32C, offset delta); without it only the header is parsed. The scan stops at the first
//! batch that does not fit or does not check out and reports its position: recovery truncates
//! there, every other caller treats it as corruption.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::batch::{self, BatchHeader, HEADER_SIZE, LOG_OVERHEAD};
use super::error::LogError;

const CHUNK: usize = 64 * 1024;

#[derive(Debug, Clone, Copy)]
pub(crate) struct ScannedBatch {
    pub position: u64,
    pub header: BatchHeader,
}

impl ScannedBatch {
    pub(crate) fn size(&self) -> u64 {
        self.header.size() as u64
    }
}

#[derive(Debug)]
pub(crate) enum Scan {
    Batch(ScannedBatch),
    /// Clean end: the scan reached `end` exactly at a batch boundary.
    End,
    /// The bytes at `position` are not a whole, valid batch.
    Invalid {
        position: u64,
        reason: String,
    },
}

pub(crate) struct BatchScanner<'a> {
    file: &'a File,
    path: &'a Path,
    pos: u64,
    end: u64,
    validate: bool,
    buf: Vec<u8>,
    buf_at: u64,
}

impl<'a> BatchScanner<'a> {
    /// Scans `[start, end)` of `file`; `start` must be a batch boundary.
    pub(crate) fn new(
        file: &'a File,
        path: &'a Path,
        start: u64,
        end: u64,
        validate: bool,
    ) -> Self {
        BatchScanner {
            file,
            path,
            pos: start,
            end,
            validate,
            buf: Vec::new(),
            buf_at: start,
        }
    }

    pub(crate) fn position(&self) -> u64 {
        self.pos
    }

    pub(crate) fn next_batch(&mut self) -> Result<Scan, LogError> {
        if self.pos >= self.end {
            return Ok(Scan::End);
        }
        let remaining = self.end - self.pos;
        let invalid = |position, reason: String| Ok(Scan::Invalid { position, reason });
        if remaining < HEADER_SIZE as u64 {
            return invalid(
                self.pos,
                format!("{remaining} trailing bytes are less than a batch header"),
            );
        }
        let header = match BatchHeader::parse(self.bytes(HEADER_SIZE)?) {
            Ok(h) => h,
            Err(e) => return invalid(self.pos, e.to_string()),
        };
        if header.batch_length < (HEADER_SIZE - LOG_OVERHEAD) as i32 {
            return invalid(
                self.pos,
                format!("batch length {} is too small", header.batch_length),
            );
        }
        let size = header.size() as u64;
        if size > remaining {
            return invalid(
                self.pos,
                format!("batch of {size} bytes runs past the end ({remaining} left)"),
            );
        }
        if self.validate {
            let bytes = self.bytes(size as usize)?;
            if let Err(e) = batch::validate_stored_batch(bytes) {
                return invalid(self.pos, e.to_string());
            }
        }
        let scanned = ScannedBatch {
            position: self.pos,
            header,
        };
        self.pos += size;
        Ok(Scan::Batch(scanned))
    }

    /// The `len` bytes at the current position, reading a chunk if they are not buffered.
    fn bytes(&mut self, len: usize) -> Result<&[u8], LogError> {
        let buffered =
            self.pos >= self.buf_at && self.pos + len as u64 <= self.buf_at + self.buf.len() as u64;
        if !buffered {
            let want = (len.max(CHUNK) as u64).min(self.end - self.pos) as usize;
            self.buf.resize(want, 0);
            self.file
                .read_exact_at(&mut self.buf, self.pos)
                .map_err(LogError::io("read segment", self.path))?;
            self.buf_at = self.pos;
        }
        let from = (self.pos - self.buf_at) as usize;
        Ok(&self.buf[from..from + len])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::test_batch::batch_of;
    use std::io::Write;

    #[test]
    fn a_scan_walks_every_batch_and_stops_at_a_torn_tail() {
        let mut tmp = tempfile::NamedTempFile::new().expect("temp file");
        let batches: Vec<Vec<u8>> = (0..50).map(|i| batch_of(1 + i % 20, 0, i as u8)).collect();
        for b in &batches {
            tmp.write_all(b).expect("write");
        }
        let total: u64 = batches.iter().map(|b| b.len() as u64).sum();
        let path = tmp.path().to_path_buf();
        let file = tmp.reopen().expect("reopen");
        let mut scanner = BatchScanner::new(&file, &path, 0, total, true);
        let mut seen = 0;
        while let Scan::Batch(b) = scanner.next_batch().expect("io") {
            assert_eq!(b.size(), batches[seen].len() as u64);
            seen += 1;
        }
        assert_eq!(seen, batches.len());

        let mut torn = BatchScanner::new(&file, &path, 0, total - 3, true);
        let stop = loop {
            match torn.next_batch().expect("io") {
                Scan::Batch(_) => {}
                Scan::End => panic!("a torn tail is not a clean end"),
                Scan::Invalid { position, .. } => break position,
            }
        };
        assert_eq!(stop, total - batches[49].len() as u64);
    }
}
