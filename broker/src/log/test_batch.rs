//! A small RecordBatch v2 encoder for tests: varint records, CRC-32C, no compression.

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
    let max_delta = records.iter().map(|r| r.timestamp_delta).max().unwrap_or(0);
    let count = records.len() as i32;
    let mut b = Vec::with_capacity(61 + body.len());
    b.extend_from_slice(&base_offset.to_be_bytes());
    b.extend_from_slice(&((49 + body.len()) as i32).to_be_bytes());
    b.extend_from_slice(&0i32.to_be_bytes()); // partition leader epoch
    b.push(2); // magic
    b.extend_from_slice(&0u32.to_be_bytes()); // crc, filled below
    b.extend_from_slice(&0i16.to_be_bytes()); // attributes
    b.extend_from_slice(&(count - 1).max(0).to_be_bytes());
    b.extend_from_slice(&base_timestamp.to_be_bytes());
    b.extend_from_slice(&(base_timestamp + max_delta).to_be_bytes());
    b.extend_from_slice(&(-1i64).to_be_bytes()); // producer id
    b.extend_from_slice(&(-1i16).to_be_bytes()); // producer epoch
    b.extend_from_slice(&(-1i32).to_be_bytes()); // base sequence
    b.extend_from_slice(&count.to_be_bytes());
    b.extend_from_slice(&body);
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

fn put_varlong(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

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
