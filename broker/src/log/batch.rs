//! RecordBatch v2 header view and validation: the produce hot path.
//!
//! A batch is kept as the bytes the client sent. Only the 61-byte header is read; records are
//! never decoded here. Layout (big-endian), with the part the CRC covers:
//!
//! ```text
//!  0 baseOffset i64 ─┐ rewritten by the log
//!  8 batchLength i32  │ (= total size - 12)
//! 12 partitionLeaderEpoch i32 ─ rewritten by the log
//! 16 magic i8 (must be 2)
//! 17 crc u32 (CRC-32C of bytes 21..end)
//! 21 attributes i16 ──────────────────────┐
//! 23 lastOffsetDelta i32                   │
//! 27 baseTimestamp i64                     │
//! 35 maxTimestamp i64                      │ covered by the CRC
//! 43 producerId i64                        │
//! 51 producerEpoch i16                     │
//! 53 baseSequence i32                      │
//! 57 recordCount i32                       │
//! 61 records ...  ─────────────────────────┘
//! ```
//!
//! Legacy message sets (magic 0 and 1) keep their magic byte at offset 16 too, so they are
//! recognised and refused with [`BatchError::UnsupportedMagic`] before anything else is read.

use std::ops::Range;

/// Bytes before `batchLength` counts: baseOffset and batchLength themselves.
pub const LOG_OVERHEAD: usize = 12;
/// Size of the fixed RecordBatch v2 header, up to and including recordCount.
pub const HEADER_SIZE: usize = 61;
/// The only record format this log stores.
pub const MAGIC_V2: i8 = 2;

pub(crate) const BASE_OFFSET_AT: usize = 0;
pub(crate) const LENGTH_AT: usize = 8;
pub(crate) const LEADER_EPOCH_AT: usize = 12;
pub(crate) const MAGIC_AT: usize = 16;
pub(crate) const CRC_AT: usize = 17;
pub(crate) const ATTRIBUTES_AT: usize = 21;
pub(crate) const MAX_TIMESTAMP_AT: usize = 35;

const COMPRESSION_MASK: i16 = 0x07;
/// Attribute bit: timestamps are the broker's append time, not the producer's.
pub(crate) const LOG_APPEND_TIME_FLAG: i16 = 0x08;
pub(crate) const TRANSACTIONAL_FLAG: i16 = 0x10;
pub(crate) const CONTROL_FLAG: i16 = 0x20;
/// Attribute bit set by compaction (KIP-534): baseTimestamp holds the delete horizon, the time
/// after which the batch's tombstones may be removed; record timestamps stay relative to it.
pub(crate) const DELETE_HORIZON_FLAG: i16 = 0x40;
/// Highest compression codec Kafka defines (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd).
const MAX_COMPRESSION: u8 = 4;

/// Why a batch was refused. Maps to Kafka error codes in the protocol layer:
/// `CorruptMessage` → CORRUPT_MESSAGE (2), `UnsupportedMagic` → UNSUPPORTED_FOR_MESSAGE_FORMAT (43),
/// `UnsupportedCompression` → UNSUPPORTED_COMPRESSION_TYPE (76).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error("corrupt record batch: {0}")]
    CorruptMessage(String),
    #[error("record batch magic {0} is not supported (only v2)")]
    UnsupportedMagic(i8),
    #[error("record batch compression codec {0} is not supported")]
    UnsupportedCompression(u8),
}

/// The fixed header of one RecordBatch v2, parsed without touching the records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub record_count: i32,
}

impl BatchHeader {
    /// Parses the header at the start of `bytes`. Checks the magic byte and that the header is
    /// complete; it does not check the CRC or the length against `bytes` (see [`validate_batch`]).
    pub fn parse(bytes: &[u8]) -> Result<BatchHeader, BatchError> {
        if bytes.len() > MAGIC_AT {
            let magic = bytes[MAGIC_AT] as i8;
            if matches!(magic, 0 | 1) {
                return Err(BatchError::UnsupportedMagic(magic));
            }
            if magic != MAGIC_V2 {
                return Err(BatchError::CorruptMessage(format!(
                    "invalid record batch magic {magic}"
                )));
            }
        }
        let Some(h) = bytes.get(..HEADER_SIZE) else {
            return Err(BatchError::CorruptMessage(format!(
                "{} bytes cannot hold a {HEADER_SIZE}-byte batch header",
                bytes.len()
            )));
        };
        Ok(BatchHeader {
            base_offset: be_i64(h, 0),
            batch_length: be_i32(h, LENGTH_AT),
            partition_leader_epoch: be_i32(h, LEADER_EPOCH_AT),
            magic: h[MAGIC_AT] as i8,
            crc: be_i32(h, CRC_AT) as u32,
            attributes: be_i16(h, ATTRIBUTES_AT),
            last_offset_delta: be_i32(h, 23),
            base_timestamp: be_i64(h, 27),
            max_timestamp: be_i64(h, MAX_TIMESTAMP_AT),
            producer_id: be_i64(h, 43),
            producer_epoch: be_i16(h, 51),
            base_sequence: be_i32(h, 53),
            record_count: be_i32(h, 57),
        })
    }

    pub fn is_transactional(&self) -> bool {
        self.attributes & TRANSACTIONAL_FLAG != 0
    }

    pub fn is_control(&self) -> bool {
        self.attributes & CONTROL_FLAG != 0
    }

    /// Compression codec: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd.
    pub fn compression(&self) -> u8 {
        (self.attributes & COMPRESSION_MASK) as u8
    }

    /// The delete horizon compaction set on this batch, if any (the `DELETE_HORIZON_FLAG`
    /// attribute: `baseTimestamp` holds it).
    pub fn delete_horizon(&self) -> Option<i64> {
        (self.attributes & DELETE_HORIZON_FLAG != 0).then_some(self.base_timestamp)
    }

    pub fn is_log_append_time(&self) -> bool {
        self.attributes & LOG_APPEND_TIME_FLAG != 0
    }

    /// Whole size of the batch in bytes, header included.
    pub fn size(&self) -> usize {
        LOG_OVERHEAD + self.batch_length.max(0) as usize
    }

    pub fn last_offset(&self) -> i64 {
        self.base_offset + i64::from(self.last_offset_delta)
    }
}

/// Splits a Produce request's `records` bytes into batches and validates each one fully (magic,
/// lengths, CRC-32C, offset delta against record count). Returns the byte range of each batch
/// with its header, so nothing downstream needs to parse or checksum it again.
pub fn split_batches(records: &[u8]) -> Result<Vec<(Range<usize>, BatchHeader)>, BatchError> {
    let mut batches = Vec::new();
    let mut pos = 0;
    while pos < records.len() {
        let rest = &records[pos..];
        let size = batch_size(rest)?;
        let header = validate_batch(&rest[..size])?;
        batches.push((pos..pos + size, header));
        pos += size;
    }
    Ok(batches)
}

/// Size of the batch at the start of `bytes` from its length field, checked to fit in `bytes`.
fn batch_size(bytes: &[u8]) -> Result<usize, BatchError> {
    // An old-format message set (v0/v1 keep their magic at the same place)
    // is refused as such whatever its lengths say; any other magic is checked
    // after the lengths, as garbage.
    if bytes.len() > MAGIC_AT && matches!(bytes[MAGIC_AT] as i8, 0 | 1) {
        return Err(BatchError::UnsupportedMagic(bytes[MAGIC_AT] as i8));
    }
    if bytes.len() < LOG_OVERHEAD {
        return Err(BatchError::CorruptMessage(format!(
            "{} trailing bytes are not a batch",
            bytes.len()
        )));
    }
    let length = be_i32(bytes, LENGTH_AT);
    if length < (HEADER_SIZE - LOG_OVERHEAD) as i32 {
        return Err(BatchError::CorruptMessage(format!(
            "batch length {length} is shorter than a header"
        )));
    }
    let size = LOG_OVERHEAD + length as usize;
    if size > bytes.len() {
        return Err(BatchError::CorruptMessage(format!(
            "batch length {length} runs past the {} bytes available",
            bytes.len()
        )));
    }
    Ok(size)
}

/// Validates that `bytes` is exactly one well-formed RecordBatch v2, as a producer must send
/// it (one record per offset), and returns its header.
pub fn validate_batch(bytes: &[u8]) -> Result<BatchHeader, BatchError> {
    let header = validate_stored_batch(bytes)?;
    if header.record_count > 0 && header.last_offset_delta != header.record_count - 1 {
        return Err(BatchError::CorruptMessage(format!(
            "last offset delta {} does not fit record count {}",
            header.last_offset_delta, header.record_count
        )));
    }
    Ok(header)
}

/// [`validate_batch`] for a batch as a log may hold it: compaction removes records from a
/// batch but keeps its base offset and last offset delta (so the producer's last sequence
/// stays known), so a stored batch may hold fewer records than offsets.
pub fn validate_stored_batch(bytes: &[u8]) -> Result<BatchHeader, BatchError> {
    let header = BatchHeader::parse(bytes)?;
    if header.batch_length < (HEADER_SIZE - LOG_OVERHEAD) as i32 || header.size() != bytes.len() {
        return Err(BatchError::CorruptMessage(format!(
            "batch length {} does not match the {} bytes of the batch",
            header.batch_length,
            bytes.len()
        )));
    }
    let crc = crc32c::crc32c(&bytes[ATTRIBUTES_AT..]);
    if crc != header.crc {
        return Err(BatchError::CorruptMessage(format!(
            "CRC-32C mismatch: header says {:#010x}, bytes give {crc:#010x}",
            header.crc
        )));
    }
    if header.record_count < 0 {
        return Err(BatchError::CorruptMessage(format!(
            "negative record count {}",
            header.record_count
        )));
    }
    if header.last_offset_delta < 0
        || i64::from(header.record_count) > i64::from(header.last_offset_delta) + 1
    {
        return Err(BatchError::CorruptMessage(format!(
            "last offset delta {} does not fit record count {}",
            header.last_offset_delta, header.record_count
        )));
    }
    if header.compression() > MAX_COMPRESSION {
        return Err(BatchError::UnsupportedCompression(header.compression()));
    }
    Ok(header)
}

/// Rewrites the two fields outside the CRC that the log owns: baseOffset and partitionLeaderEpoch.
pub(crate) fn assign_offset(batch: &mut [u8], base_offset: i64, leader_epoch: i32) {
    batch[BASE_OFFSET_AT..BASE_OFFSET_AT + 8].copy_from_slice(&base_offset.to_be_bytes());
    batch[LEADER_EPOCH_AT..LEADER_EPOCH_AT + 4].copy_from_slice(&leader_epoch.to_be_bytes());
}

/// Marks the batch as LogAppendTime with `append_time` as its maxTimestamp and recomputes the
/// CRC, as Kafka does for `message.timestamp.type=LogAppendTime` topics.
#[cfg(test)]
pub(crate) fn set_log_append_time(batch: &mut [u8], append_time: i64) {
    let (head, tail) = batch.split_at_mut(HEADER_SIZE);
    let head: &mut [u8; HEADER_SIZE] = head.try_into().expect("split at the header size");
    set_log_append_time_split(head, tail, append_time);
}

/// [`set_log_append_time`] for a batch held as its header (which changes) and the records
/// after it (which do not), so the records need not be copied to be stamped.
pub(crate) fn set_log_append_time_split(
    head: &mut [u8; HEADER_SIZE],
    records: &[u8],
    append_time: i64,
) {
    let attributes = be_i16(head, ATTRIBUTES_AT) | LOG_APPEND_TIME_FLAG;
    head[ATTRIBUTES_AT..ATTRIBUTES_AT + 2].copy_from_slice(&attributes.to_be_bytes());
    head[MAX_TIMESTAMP_AT..MAX_TIMESTAMP_AT + 8].copy_from_slice(&append_time.to_be_bytes());
    let crc = crc32c::crc32c_append(crc32c::crc32c(&head[ATTRIBUTES_AT..]), records);
    head[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
}

pub(crate) fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

pub(crate) fn be_i32(b: &[u8], at: usize) -> i32 {
    let mut a = [0; 4];
    a.copy_from_slice(&b[at..at + 4]);
    i32::from_be_bytes(a)
}

fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::test_batch::{Record, encode_batch};
    use proptest::prelude::*;

    fn sample() -> Vec<u8> {
        encode_batch(
            0,
            1_000,
            &[
                Record::new(b"k1", b"v1", 0),
                Record::new(b"k2", b"value two", 5),
                Record::new(b"", b"three", 9),
            ],
        )
    }

    #[test]
    fn a_valid_batch_parses_and_validates() {
        let batch = sample();
        let h = validate_batch(&batch).expect("valid");
        assert_eq!(h.record_count, 3);
        assert_eq!(h.last_offset_delta, 2);
        assert_eq!(h.base_timestamp, 1_000);
        assert_eq!(h.max_timestamp, 1_009);
        assert_eq!(h.size(), batch.len());
        assert_eq!(h.compression(), 0);
        assert!(!h.is_transactional() && !h.is_control());
    }

    #[test]
    fn split_batches_returns_the_range_of_each_batch() {
        let a = sample();
        let b = encode_batch(0, 5, &[Record::new(b"x", b"y", 0)]);
        let mut all = a.clone();
        all.extend_from_slice(&b);
        let ranges: Vec<_> = split_batches(&all)
            .expect("valid")
            .into_iter()
            .map(|(range, _)| range)
            .collect();
        assert_eq!(ranges, vec![0..a.len(), a.len()..a.len() + b.len()]);
        assert!(split_batches(&[]).expect("empty is fine").is_empty());
    }

    #[test]
    fn legacy_magic_is_refused_as_unsupported() {
        let mut batch = sample();
        batch[MAGIC_AT] = 1;
        assert_eq!(split_batches(&batch), Err(BatchError::UnsupportedMagic(1)));
        // A v0 message set is shorter than a v2 header; its magic is still at byte 16.
        let v0 = [
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 14, 1, 2, 3, 4, 0, 0, 0, 0, 0xff, 0xff,
        ];
        assert_eq!(split_batches(&v0), Err(BatchError::UnsupportedMagic(0)));
    }

    #[test]
    fn a_flipped_payload_bit_fails_the_crc() {
        let mut batch = sample();
        let last = batch.len() - 1;
        batch[last] ^= 0x40;
        assert!(
            matches!(split_batches(&batch), Err(BatchError::CorruptMessage(m)) if m.contains("CRC"))
        );
    }

    #[test]
    fn a_length_past_the_buffer_is_corrupt() {
        let batch = sample();
        assert!(matches!(
            split_batches(&batch[..batch.len() - 1]),
            Err(BatchError::CorruptMessage(_))
        ));
        assert!(matches!(
            split_batches(&batch[..5]),
            Err(BatchError::CorruptMessage(_))
        ));
    }

    #[test]
    fn an_offset_delta_that_disagrees_with_the_count_is_corrupt() {
        let mut batch = sample();
        batch[23..27].copy_from_slice(&5i32.to_be_bytes());
        let crc = crc32c::crc32c(&batch[ATTRIBUTES_AT..]);
        batch[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
        assert!(
            matches!(validate_batch(&batch), Err(BatchError::CorruptMessage(m)) if m.contains("delta"))
        );
    }

    #[test]
    fn assigning_offsets_keeps_the_crc_valid() {
        let mut batch = sample();
        assign_offset(&mut batch, 42, 7);
        let h = validate_batch(&batch).expect("still valid");
        assert_eq!(
            (h.base_offset, h.partition_leader_epoch, h.last_offset()),
            (42, 7, 44)
        );
    }

    #[test]
    fn log_append_time_sets_the_flag_and_max_timestamp_with_a_fresh_crc() {
        let mut batch = sample();
        set_log_append_time(&mut batch, 99_999);
        let h = validate_batch(&batch).expect("crc recomputed");
        assert!(h.is_log_append_time());
        assert_eq!(h.max_timestamp, 99_999);
    }

    proptest! {
        #[test]
        fn corrupting_any_byte_is_detected_or_harmless(
            seed in 0usize..10_000, xor in 1u8..=255, cut in proptest::option::of(0usize..200)
        ) {
            let batch = sample();
            let at = seed % batch.len();
            let mut bad = batch.clone();
            bad[at] ^= xor;
            if let Some(cut) = cut { bad.truncate(cut.min(bad.len())); }
            // Only bytes outside the CRC and not otherwise checked may change harmlessly:
            // baseOffset and partitionLeaderEpoch, which the log overwrites anyway.
            if let Ok(ranges) = split_batches(&bad) {
                prop_assert!(cut.is_none_or(|c| c >= batch.len()) || bad.is_empty());
                if !bad.is_empty() {
                    prop_assert!(at < 8 || (12..16).contains(&at), "byte {at} changed unnoticed");
                    let ranges: Vec<_> = ranges.into_iter().map(|(range, _)| range).collect();
                    prop_assert_eq!(ranges, vec![0..batch.len()]);
                }
            }
        }

        #[test]
        fn parse_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = BatchHeader::parse(&bytes);
            let _ = split_batches(&bytes);
        }
    }
}
