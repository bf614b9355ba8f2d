//! Control records: the COMMIT and ABORT markers that end a transaction in a partition.
//!
//! A marker is a control batch (attributes: transactional and control) of the producer whose
//! transaction it ends, with one record, as Kafka's `EndTransactionMarker` writes it
//! (big-endian):
//!
//! ```text
//! key:   version:i16 (0)  type:i16 (0 = ABORT, 1 = COMMIT)
//! value: version:i16 (0)  coordinator_epoch:i32
//! ```
//!
//! Other control types (Kafka's KRaft records) are not markers; a control batch left without
//! records by compaction ends nothing.

use super::batch::BatchError;
use super::builder::BatchBuilder;
use super::records::BatchRecords;

/// Control record type of an ABORT marker.
pub const ABORT: i16 = 0;
/// Control record type of a COMMIT marker.
pub const COMMIT: i16 = 1;
/// Markers are a few dozen bytes: anything that inflates past this is not one.
const MARKER_LIMIT: usize = 64 * 1024;

/// What a COMMIT or ABORT marker says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndTxnMarker {
    pub commit: bool,
    /// The epoch of the transaction coordinator that wrote it.
    pub coordinator_epoch: i32,
}

impl EndTxnMarker {
    /// The marker's control batch for `producer_id` at `producer_epoch`, stamped `timestamp`.
    pub fn batch(&self, producer_id: i64, producer_epoch: i16, timestamp: i64) -> Vec<u8> {
        let control_type = if self.commit { COMMIT } else { ABORT };
        let mut key = [0u8; 4];
        key[2..].copy_from_slice(&control_type.to_be_bytes());
        let mut value = [0u8; 6];
        value[2..].copy_from_slice(&self.coordinator_epoch.to_be_bytes());
        BatchBuilder::new(timestamp)
            .producer(producer_id, producer_epoch, -1)
            .transactional()
            .control()
            .record(Some(&key), Some(&value), timestamp)
            .build()
    }

    /// The marker a control batch holds: `None` for another control type or a batch without
    /// records. A marker whose key or value does not parse is corrupt.
    pub fn from_batch(batch: &[u8]) -> Result<Option<EndTxnMarker>, BatchError> {
        let corrupt = |what: String| BatchError::CorruptMessage(format!("control record: {what}"));
        let records = BatchRecords::new(batch, MARKER_LIMIT).map_err(|e| corrupt(e.to_string()))?;
        let Some(record) = records.records().next() else {
            return Ok(None);
        };
        let record = record.map_err(|e| corrupt(e.to_string()))?;
        let key = record
            .key
            .filter(|key| key.len() >= 4)
            .ok_or_else(|| corrupt("a key of fewer than 4 bytes".to_string()))?;
        let version = i16::from_be_bytes([key[0], key[1]]);
        if version < 0 {
            return Err(corrupt(format!("key version {version}")));
        }
        let commit = match i16::from_be_bytes([key[2], key[3]]) {
            ABORT => false,
            COMMIT => true,
            _ => return Ok(None),
        };
        let value = record
            .value
            .filter(|value| value.len() >= 6)
            .ok_or_else(|| corrupt("a marker value of fewer than 6 bytes".to_string()))?;
        let coordinator_epoch = i32::from_be_bytes([value[2], value[3], value[4], value[5]]);
        Ok(Some(EndTxnMarker {
            commit,
            coordinator_epoch,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::batch::validate_batch;

    #[test]
    fn a_marker_batch_is_a_transactional_control_batch_that_parses_back() {
        for commit in [true, false] {
            let marker = EndTxnMarker {
                commit,
                coordinator_epoch: 7,
            };
            let batch = marker.batch(42, 3, 1_000);
            let header = validate_batch(&batch).expect("valid");
            assert!(header.is_control() && header.is_transactional());
            assert_eq!((header.producer_id, header.producer_epoch), (42, 3));
            assert_eq!(EndTxnMarker::from_batch(&batch), Ok(Some(marker)));
        }
    }

    #[test]
    fn other_control_types_and_bad_keys_are_told_apart() {
        let batch = |key: &[u8], value: &[u8]| {
            BatchBuilder::new(0)
                .producer(1, 0, -1)
                .transactional()
                .control()
                .record(Some(key), Some(value), 0)
                .build()
        };
        // Type 2 (a KRaft leader change): not a transaction marker.
        assert_eq!(
            EndTxnMarker::from_batch(&batch(&[0, 0, 0, 2], &[0; 6])),
            Ok(None)
        );
        assert!(EndTxnMarker::from_batch(&batch(&[0, 0, 1], &[0; 6])).is_err());
        assert!(EndTxnMarker::from_batch(&batch(&[0, 0, 0, 1], &[0; 3])).is_err());
    }
}
