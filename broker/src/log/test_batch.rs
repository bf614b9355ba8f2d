//! A small RecordBatch v2 encoder for tests: varint records, CRC-32C, every codec.

use super::batch::{ATTRIBUTES_AT, CRC_AT};

pub(crate) struct Record<'a> {
    key: &'a [u8],
    value: &'a [u8],
    timestamp_delta: i64,
}

impl<'a> Record<'a> {
    /// An empty key encodes as a null key.
    pub(crate) fn new(key: &'a [u8], value: &'a [u8], timestamp_delta: i64) -> Self {
        Record {
            key,
            value,
            timestamp_delta,
        }
    }
}

/// Encodes one uncompressed, non-transactional batch with CreateTime timestamps.
pub(crate) fn encode_batch(
    base_offset: i64,
    base_timestamp: i64,
    records: &[Record<'_>],
) -> Vec<u8> {
    encode_batch_with(base_offset, base_timestamp, records, Codec::None)
}

/// A compression codec as producers write it; snappy in both framings clients use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Codec {
    None,
    Gzip,
    /// xerial snappy-java framing, as the Java client writes it.
    SnappyXerial,
    /// One raw snappy block, as librdkafka writes it.
    SnappyRaw,
    Lz4,
    Zstd,
}

impl Codec {
    pub(crate) const ALL: [Codec; 6] = [
        Codec::None,
        Codec::Gzip,
        Codec::SnappyXerial,
        Codec::SnappyRaw,
        Codec::Lz4,
        Codec::Zstd,
    ];

    /// The batch attributes' codec number.
    pub(crate) fn id(self) -> i16 {
        match self {
            Codec::None => 0,
            Codec::Gzip => 1,
            Codec::SnappyXerial | Codec::SnappyRaw => 2,
            Codec::Lz4 => 3,
            Codec::Zstd => 4,
        }
    }

    pub(crate) fn compress(self, data: &[u8]) -> Vec<u8> {
        use std::io::Write as _;
        match self {
            Codec::None => data.to_vec(),
            Codec::Gzip => {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                e.write_all(data).expect("gzip into memory");
                e.finish().expect("gzip into memory")
            }
            Codec::SnappyXerial => {
                let mut out = vec![
                    0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1,
                ];
                // snappy-java's default block size is 32 KiB; small blocks exercise the framing.
                for chunk in data.chunks(1000) {
                    let block = snap::raw::Encoder::new()
                        .compress_vec(chunk)
                        .expect("snappy into memory");
                    out.extend_from_slice(&(block.len() as u32).to_be_bytes());
                    out.extend_from_slice(&block);
                }
                out
            }
            Codec::SnappyRaw => snap::raw::Encoder::new()
                .compress_vec(data)
                .expect("snappy into memory"),
            Codec::Lz4 => {
                let mut e = lz4_flex::frame::FrameEncoder::new(Vec::new());
                e.write_all(data).expect("lz4 into memory");
                e.finish().expect("lz4 into memory")
            }
            Codec::Zstd => {
                ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
            }
        }
    }
}

/// Encodes one non-transactional CreateTime batch with its records compressed by `codec`.
pub(crate) fn encode_batch_with(
    base_offset: i64,
    base_timestamp: i64,
    records: &[Record<'_>],
    codec: Codec,
) -> Vec<u8> {
    let body = encode_records(records);
    let max_delta = records.iter().map(|r| r.timestamp_delta).max().unwrap_or(0);
    let count = records.len() as i32;
    wrap_records(
        base_offset,
        (base_timestamp, base_timestamp + max_delta),
        (count, (count - 1).max(0)),
        codec.id(),
        &codec.compress(&body),
    )
}

/// The records section of `records`, uncompressed, offset deltas 0, 1, ...
pub(crate) fn encode_records(records: &[Record<'_>]) -> Vec<u8> {
    let mut body = Vec::new();
    for (i, r) in records.iter().enumerate() {
        let mut rec = vec![0u8]; // attributes
        put_varlong(&mut rec, r.timestamp_delta);
        put_varlong(&mut rec, i as i64);
        if r.key.is_empty() {
            put_varlong(&mut rec, -1);
        } else {
            put_varlong(&mut rec, r.key.len() as i64);
            rec.extend_from_slice(r.key);
        }
        put_varlong(&mut rec, r.value.len() as i64);
        rec.extend_from_slice(r.value);
        put_varlong(&mut rec, 0); // headers
        put_varlong(&mut body, rec.len() as i64);
        body.extend_from_slice(&rec);
    }
    body
}

/// A batch around an arbitrary (possibly compressed, possibly malformed) records section, with
/// a valid header and CRC: `(base, max)` timestamps, `(record count, last offset delta)`.
pub(crate) fn wrap_records(
    base_offset: i64,
    (base_timestamp, max_timestamp): (i64, i64),
    (count, last_offset_delta): (i32, i32),
    attributes: i16,
    body: &[u8],
) -> Vec<u8> {
    let mut b = Vec::with_capacity(61 + body.len());
    b.extend_from_slice(&base_offset.to_be_bytes());
    b.extend_from_slice(&((49 + body.len()) as i32).to_be_bytes());
    b.extend_from_slice(&0i32.to_be_bytes()); // partition leader epoch
    b.push(2); // magic
    b.extend_from_slice(&0u32.to_be_bytes()); // crc, filled below
    b.extend_from_slice(&attributes.to_be_bytes());
    b.extend_from_slice(&last_offset_delta.to_be_bytes());
    b.extend_from_slice(&base_timestamp.to_be_bytes());
    b.extend_from_slice(&max_timestamp.to_be_bytes());
    b.extend_from_slice(&(-1i64).to_be_bytes()); // producer id
    b.extend_from_slice(&(-1i16).to_be_bytes()); // producer epoch
    b.extend_from_slice(&(-1i32).to_be_bytes()); // base sequence
    b.extend_from_slice(&count.to_be_bytes());
    b.extend_from_slice(body);
    let crc = crc32c::crc32c(&b[ATTRIBUTES_AT..]);
    b[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
    b
}

/// A batch of `n` records whose values are `tag`-derived, timestamps `ts, ts+1, ..`.
pub(crate) fn batch_of(n: usize, ts: i64, tag: u8) -> Vec<u8> {
    let values: Vec<Vec<u8>> = (0..n).map(|i| vec![tag; 10 + i % 7]).collect();
    let records: Vec<Record<'_>> = values
        .iter()
        .enumerate()
        .map(|(i, v)| Record::new(b"key", v, i as i64))
        .collect();
    encode_batch(0, ts, &records)
}

pub(crate) use super::builder::put_varlong;

#[test]
fn varints_use_zigzag_encoding() {
    let mut out = Vec::new();
    for v in [0, -1, 1, -64, 64, 300] {
        put_varlong(&mut out, v);
    }
    assert_eq!(out, vec![0, 1, 2, 127, 0x80, 1, 0xd8, 0x04]);
}

/// [`batch_of`] from an idempotent producer: `producer_id` at `epoch`, its
/// first record at sequence `base_sequence`.
pub(crate) fn idempotent_batch_of(
    n: usize,
    ts: i64,
    (producer_id, epoch, base_sequence): (i64, i16, i32),
) -> Vec<u8> {
    let mut b = batch_of(n, ts, 0);
    b[43..51].copy_from_slice(&producer_id.to_be_bytes());
    b[51..53].copy_from_slice(&epoch.to_be_bytes());
    b[53..57].copy_from_slice(&base_sequence.to_be_bytes());
    let crc = crc32c::crc32c(&b[ATTRIBUTES_AT..]);
    b[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
    b
}
