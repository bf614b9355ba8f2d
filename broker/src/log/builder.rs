//! Record batches the broker writes itself — coordinator records now, transaction markers
//! next — encoded as RecordBatch v2 exactly as a producer would, so they go through the same
//! validation and append path as produced batches.

use super::batch::{
    ATTRIBUTES_AT, CONTROL_FLAG, CRC_AT, HEADER_SIZE, LOG_OVERHEAD, TRANSACTIONAL_FLAG,
};

/// Builds one uncompressed batch; the log assigns its offsets on append.
#[derive(Debug, Clone)]
pub struct BatchBuilder {
    base_timestamp: i64,
    max_timestamp: i64,
    producer: (i64, i16, i32),
    attributes: i16,
    records: Vec<u8>,
    count: i32,
}

impl BatchBuilder {
    /// An empty batch with CreateTime `timestamp`, of no producer.
    pub fn new(timestamp: i64) -> Self {
        BatchBuilder {
            base_timestamp: timestamp,
            max_timestamp: timestamp,
            producer: (-1, -1, -1),
            attributes: 0,
            records: Vec::new(),
            count: 0,
        }
    }

    /// Written by `producer_id` at `epoch`, the first record at `base_sequence` (-1: none).
    pub fn producer(mut self, producer_id: i64, epoch: i16, base_sequence: i32) -> Self {
        self.producer = (producer_id, epoch, base_sequence);
        self
    }

    /// Part of a transaction.
    pub fn transactional(mut self) -> Self {
        self.attributes |= TRANSACTIONAL_FLAG;
        self
    }

    /// A control batch (transaction markers).
    pub fn control(mut self) -> Self {
        self.attributes |= CONTROL_FLAG;
        self
    }

    /// Adds a record at `timestamp`; `None` key or value encodes as null (a null value is a
    /// tombstone on a compacted topic).
    pub fn record(mut self, key: Option<&[u8]>, value: Option<&[u8]>, timestamp: i64) -> Self {
        self.max_timestamp = self.max_timestamp.max(timestamp);
        let mut record = vec![0u8]; // attributes
        put_varlong(&mut record, timestamp - self.base_timestamp);
        put_varlong(&mut record, i64::from(self.count));
        for field in [key, value] {
            match field {
                None => put_varlong(&mut record, -1),
                Some(bytes) => {
                    put_varlong(&mut record, bytes.len() as i64);
                    record.extend_from_slice(bytes);
                }
            }
        }
        put_varlong(&mut record, 0); // headers
        put_varlong(&mut self.records, record.len() as i64);
        self.records.extend_from_slice(&record);
        self.count += 1;
        self
    }

    /// The batch's bytes, base offset 0, CRC set.
    pub fn build(self) -> Vec<u8> {
        let mut b = Vec::with_capacity(HEADER_SIZE + self.records.len());
        b.extend_from_slice(&0i64.to_be_bytes()); // base offset, assigned by the log
        let length = (HEADER_SIZE - LOG_OVERHEAD + self.records.len()) as i32;
        b.extend_from_slice(&length.to_be_bytes());
        b.extend_from_slice(&0i32.to_be_bytes()); // partition leader epoch, set by the log
        b.push(2); // magic
        b.extend_from_slice(&0u32.to_be_bytes()); // crc, filled below
        b.extend_from_slice(&self.attributes.to_be_bytes());
        b.extend_from_slice(&(self.count - 1).max(0).to_be_bytes()); // last offset delta
        b.extend_from_slice(&self.base_timestamp.to_be_bytes());
        b.extend_from_slice(&self.max_timestamp.to_be_bytes());
        let (producer_id, epoch, sequence) = self.producer;
        b.extend_from_slice(&producer_id.to_be_bytes());
        b.extend_from_slice(&epoch.to_be_bytes());
        b.extend_from_slice(&sequence.to_be_bytes());
        b.extend_from_slice(&self.count.to_be_bytes());
        b.extend_from_slice(&self.records);
        debug_assert_eq!(b.len() - LOG_OVERHEAD, length as usize);
        let crc = crc32c::crc32c(&b[ATTRIBUTES_AT..]);
        b[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
        b
    }
}

/// Zigzag varint, as the record format encodes lengths and deltas.
pub(crate) fn put_varlong(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::batch::validate_batch;
    use crate::log::records::BatchRecords;

    #[test]
    fn a_built_batch_passes_validation_and_decodes_to_its_records() {
        let batch = BatchBuilder::new(1_000)
            .producer(7, 2, 40)
            .record(Some(b"k1"), Some(b"v1"), 1_000)
            .record(Some(b"k2"), None, 1_005)
            .record(None, Some(b"v3"), 1_002)
            .build();
        let header = validate_batch(&batch).expect("valid batch");
        assert_eq!(
            (
                header.record_count,
                header.last_offset_delta,
                header.max_timestamp
            ),
            (3, 2, 1_005)
        );
        assert_eq!(
            (
                header.producer_id,
                header.producer_epoch,
                header.base_sequence
            ),
            (7, 2, 40)
        );
        assert!(!header.is_transactional() && !header.is_control());
        let decoded = BatchRecords::new(&batch, 1 << 20).expect("decodes");
        let fields: Vec<_> = decoded
            .records()
            .map(|r| r.expect("a whole record"))
            .map(|r| (r.key, r.value, r.offset, r.timestamp))
            .collect();
        assert_eq!(
            fields,
            vec![
                (Some(&b"k1"[..]), Some(&b"v1"[..]), 0, 1_000),
                (Some(&b"k2"[..]), None, 1, 1_005),
                (None, Some(&b"v3"[..]), 2, 1_002),
            ]
        );
    }

    #[test]
    fn control_and_transactional_flags_reach_the_header() {
        let batch = BatchBuilder::new(0)
            .producer(1, 0, -1)
            .transactional()
            .control()
            .record(Some(b"\0\0\0\0"), Some(b"\0\0\0\0\0\0"), 0)
            .build();
        let header = validate_batch(&batch).expect("valid batch");
        assert!(header.is_transactional() && header.is_control());
    }
}
