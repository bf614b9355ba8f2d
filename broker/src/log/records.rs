//! Records inside a stored RecordBatch v2: decompression and decoding, off the hot path.
//!
//! Produce and fetch never come here (see [`batch`](super::batch)): only lookups that must name
//! a single record — ListOffsets by timestamp and MAX_TIMESTAMP — and, later, compaction. This
//! decoder is our own rather than the `kafka-protocol` crate's, whose record decoder has had
//! varint/varlong bugs and sizes vectors from wire counts.
//!
//! Layout of the records section (after the 61-byte header; compressed as a whole with the
//! codec in the batch attributes), one record after another, `recordCount` of them:
//!
//! ```text
//! length           varint   bytes of the record after this field
//! attributes       int8     unused
//! timestampDelta   varlong  record timestamp = baseTimestamp + delta (CreateTime)
//! offsetDelta      varint   record offset = baseOffset + delta
//! keyLength        varint   -1 = null key
//! key              bytes
//! valueLength      varint   -1 = null value (a tombstone)
//! value            bytes
//! headerCount      varint
//!   headerKeyLength varint, headerKey bytes, headerValueLength varint (-1 = null), value bytes
//! ```
//!
//! Varints are zigzag-encoded base-128 (Protocol Buffers' `sint32`/`sint64`): at most 5 bytes
//! for a varint, 10 for a varlong; a longer encoding, or one whose last byte carries bits past
//! the type's width, is malformed (Kafka's Java decoder silently drops such bits).
//!
//! # Guarantees
//!
//! - Every length and count is checked against the bytes actually there before it is used, and
//!   no allocation is sized from a wire count: a hostile batch costs at most its own bytes plus
//!   the decompression limit. Malformed input is a [`RecordError`], never a panic.
//! - A batch decodes to exactly `recordCount` records that fill the section exactly; offset
//!   deltas increase strictly and stay within `lastOffsetDelta`; each record's fields fill
//!   exactly its `length`.
//! - Decompression output is capped ([`super::compression`]): a batch that would inflate past
//!   the limit is [`RecordError::TooLarge`], before the memory is spent.
//! - In a LogAppendTime batch every record's timestamp is the batch's maxTimestamp (as Kafka).

use std::borrow::Cow;

use super::batch::{BatchError, BatchHeader, HEADER_SIZE};
use super::compression;

/// Why the records of a batch could not be decoded. Maps to CORRUPT_MESSAGE: the batch passed
/// its CRC, so these are the producer's bytes, not damage on disk.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The fixed batch header is unusable.
    #[error("batch header: {0}")]
    Header(#[from] BatchError),
    /// The records section breaks the record format; `record` is the index of the record.
    #[error("record {record}: {reason}")]
    Malformed { record: i32, reason: String },
    /// Decompressing the records section would exceed `limit` bytes.
    #[error("the records inflate past the {limit}-byte decompression limit")]
    TooLarge { limit: usize },
    /// The codec's decoder refused the records section.
    #[error("{codec} decompression failed: {reason}")]
    Decompress { codec: &'static str, reason: String },
    /// The batch names a codec Kafka does not define.
    #[error("compression codec {0} is not supported")]
    UnsupportedCompression(u8),
}

/// One decoded record; key, value and headers borrow from the (decompressed) batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    pub offset: i64,
    pub timestamp: i64,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub headers: Vec<RecordHeader<'a>>,
}

/// One record header: a non-null key and a nullable value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordHeader<'a> {
    pub key: &'a [u8],
    pub value: Option<&'a [u8]>,
}

/// A batch with its records section ready to decode: borrowed when uncompressed, owned once
/// decompressed.
#[derive(Debug)]
pub struct BatchRecords<'a> {
    header: BatchHeader,
    body: Cow<'a, [u8]>,
}

impl<'a> BatchRecords<'a> {
    /// Takes one whole batch (header included, as stored) and decompresses its records section
    /// with at most `limit` bytes of output. The CRC is the caller's business: stored batches
    /// were checked when appended.
    pub fn new(batch: &'a [u8], limit: usize) -> Result<BatchRecords<'a>, RecordError> {
        let header = BatchHeader::parse(batch)?;
        let end = header.size().min(batch.len());
        let section = batch.get(HEADER_SIZE..end).unwrap_or_default();
        let body = match header.compression() {
            0 => Cow::Borrowed(section),
            codec => Cow::Owned(compression::decompress(codec, section, limit)?),
        };
        Ok(BatchRecords { header, body })
    }

    pub fn header(&self) -> &BatchHeader {
        &self.header
    }

    /// The decompressed records section.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The records in offset order. Ends after the first error.
    pub fn records(&self) -> Records<'_> {
        let h = &self.header;
        Records {
            body: &self.body,
            pos: 0,
            index: 0,
            count: h.record_count,
            base_offset: h.base_offset,
            base_timestamp: h.base_timestamp,
            log_append_time: h.is_log_append_time().then_some(h.max_timestamp),
            last_offset_delta: h.last_offset_delta,
            previous_delta: None,
            done: false,
        }
    }
}

/// Iterator over the records of a [`BatchRecords`].
#[derive(Debug)]
pub struct Records<'a> {
    body: &'a [u8],
    pos: usize,
    index: i32,
    count: i32,
    base_offset: i64,
    base_timestamp: i64,
    log_append_time: Option<i64>,
    last_offset_delta: i32,
    previous_delta: Option<i32>,
    done: bool,
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<Record<'a>, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = if self.index >= self.count {
            self.done = true;
            if self.pos == self.body.len() {
                return None;
            }
            Err(format!(
                "{} bytes follow the last of {} records",
                self.body.len() - self.pos,
                self.count
            ))
        } else {
            self.next_record()
        };
        let item = item.map_err(|reason| RecordError::Malformed {
            record: self.index,
            reason,
        });
        if item.is_err() {
            self.done = true;
        } else {
            self.index += 1;
        }
        Some(item)
    }
}

impl<'a> Records<'a> {
    fn next_record(&mut self) -> Result<Record<'a>, String> {
        let length = read_varint(self.body, &mut self.pos).map_err(|e| format!("length: {e}"))?;
        let length = usize::try_from(length).map_err(|_| format!("negative length {length}"))?;
        let end = self
            .pos
            .checked_add(length)
            .filter(|&end| end <= self.body.len())
            .ok_or_else(|| {
                format!(
                    "length {length} runs past the {} bytes left",
                    self.body.len() - self.pos
                )
            })?;
        let record = &self.body[..end];
        let mut pos = self.pos;
        let _attributes = take(record, &mut pos, 1).map_err(|e| format!("attributes: {e}"))?;
        let timestamp_delta =
            read_varlong(record, &mut pos).map_err(|e| format!("timestamp delta: {e}"))?;
        let offset_delta =
            read_varint(record, &mut pos).map_err(|e| format!("offset delta: {e}"))?;
        if offset_delta < 0
            || offset_delta > self.last_offset_delta
            || self.previous_delta.is_some_and(|p| offset_delta <= p)
        {
            return Err(format!(
                "offset delta {offset_delta} is out of order or past the last offset delta {}",
                self.last_offset_delta
            ));
        }
        let key = read_bytes(record, &mut pos).map_err(|e| format!("key: {e}"))?;
        let value = read_bytes(record, &mut pos).map_err(|e| format!("value: {e}"))?;
        let header_count =
            read_varint(record, &mut pos).map_err(|e| format!("header count: {e}"))?;
        if header_count < 0 {
            return Err(format!("negative header count {header_count}"));
        }
        // Each header takes at least two bytes, so the loop is bounded by the record's size.
        let mut headers = Vec::new();
        for i in 0..header_count {
            let key = read_bytes(record, &mut pos)
                .map_err(|e| format!("header {i} key: {e}"))?
                .ok_or_else(|| format!("header {i} has a null key"))?;
            let value =
                read_bytes(record, &mut pos).map_err(|e| format!("header {i} value: {e}"))?;
            headers.push(RecordHeader { key, value });
        }
        if pos != end {
            return Err(format!(
                "fields end {} bytes before the record's length says",
                end - pos
            ));
        }
        let timestamp = match self.log_append_time {
            Some(t) => t,
            None => self
                .base_timestamp
                .checked_add(timestamp_delta)
                .ok_or_else(|| format!("timestamp delta {timestamp_delta} overflows"))?,
        };
        self.pos = end;
        self.previous_delta = Some(offset_delta);
        Ok(Record {
            offset: self.base_offset + i64::from(offset_delta),
            timestamp,
            key,
            value,
            headers,
        })
    }
}

/// Why a varint or a length-prefixed field did not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VarintError {
    #[error("ends before its last byte")]
    Truncated,
    #[error("is longer than its type allows")]
    TooLong,
    #[error("sets bits past its type's width")]
    Overflow,
}

/// Reads a zigzag varint (at most 5 bytes) at `*pos`, advancing it.
pub fn read_varint(buf: &[u8], pos: &mut usize) -> Result<i32, VarintError> {
    let raw = read_unsigned(buf, pos, 32)?;
    let raw = u32::try_from(raw).map_err(|_| VarintError::Overflow)?;
    Ok(((raw >> 1) as i32) ^ -((raw & 1) as i32))
}

/// Reads a zigzag varlong (at most 10 bytes) at `*pos`, advancing it.
pub fn read_varlong(buf: &[u8], pos: &mut usize) -> Result<i64, VarintError> {
    let raw = read_unsigned(buf, pos, 64)?;
    Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64))
}

/// Base-128 little-endian groups of 7 bits, `bits` wide at most.
fn read_unsigned(buf: &[u8], pos: &mut usize, bits: u32) -> Result<u64, VarintError> {
    let max_bytes = bits.div_ceil(7);
    let mut value = 0u64;
    for i in 0..max_bytes {
        let byte = *buf.get(*pos + i as usize).ok_or(VarintError::Truncated)?;
        let group = u64::from(byte & 0x7f);
        let shift = 7 * i;
        if shift + 7 > bits && group >> (bits - shift) != 0 {
            return Err(VarintError::Overflow);
        }
        value |= group << shift;
        if byte & 0x80 == 0 {
            *pos += i as usize + 1;
            return Ok(value);
        }
    }
    Err(VarintError::TooLong)
}

/// A varint length then that many bytes; length -1 is null.
fn read_bytes<'a>(buf: &'a [u8], pos: &mut usize) -> Result<Option<&'a [u8]>, String> {
    let length = read_varint(buf, pos).map_err(|e| format!("length {e}"))?;
    if length == -1 {
        return Ok(None);
    }
    let length = usize::try_from(length).map_err(|_| format!("invalid length {length}"))?;
    take(buf, pos, length).map(Some)
}

fn take<'a>(buf: &'a [u8], pos: &mut usize, length: usize) -> Result<&'a [u8], String> {
    let end = pos
        .checked_add(length)
        .filter(|&end| end <= buf.len())
        .ok_or_else(|| {
            format!(
                "{length} bytes run past the {} left",
                buf.len().saturating_sub(*pos)
            )
        })?;
    let bytes = &buf[*pos..end];
    *pos = end;
    Ok(bytes)
}

/// Decodes every record of `batch` (a whole stored batch) and returns how many there were, or
/// the first error: the entry point of the `records` fuzz target and its property test.
pub fn decode_all(batch: &[u8], limit: usize) -> Result<usize, RecordError> {
    let records = BatchRecords::new(batch, limit)?;
    let mut count = 0;
    for record in records.records() {
        record?;
        count += 1;
    }
    Ok(count)
}

#[cfg(test)]
#[path = "records_tests.rs"]
mod tests;
