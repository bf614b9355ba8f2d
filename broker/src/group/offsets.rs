//! Committed offsets as records of `__consumer_offsets`, in Kafka's layout so Kafka's tools
//! read them: key (version 1: group, topic, partition) → value (version 3: offset, leader
//! epoch, metadata, commit timestamp); a null value deletes the offset. The coordinator of a
//! group is the leader of partition `abs(hash(group)) % offsets.topic.num.partitions`, Java's
//! `String.hashCode`, as Kafka computes it.

use bytes::{Buf as _, BufMut as _, Bytes};

use super::consumer::records::ConsumerGroupRecord;
use super::metadata_record::{GROUP_METADATA_KEY_VERSION, GroupMetadata, read_group_value};
use crate::log::batch::BatchHeader;
use crate::log::builder::BatchBuilder;
use crate::log::records::BatchRecords;

const OFFSET_KEY_VERSION: i16 = 1;
const OFFSET_VALUE_VERSION: i16 = 3;

/// The `__consumer_offsets` partition whose leader coordinates `group`.
pub fn partition_for(group: &str, partitions: i32) -> i32 {
    let hash = group.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    });
    // Kafka's Utils.abs: MIN_VALUE maps to 0.
    let positive = if hash == i32::MIN { 0 } else { hash.abs() };
    positive % partitions.max(1)
}

/// One committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp: i64,
}

/// What a stored record says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OffsetRecord {
    Commit {
        group: String,
        topic: String,
        partition: i32,
        /// `None`: deleted.
        offset: Option<CommittedOffset>,
    },
    /// Group metadata (key version 2, `metadata_record.rs`).
    GroupMetadata {
        group: String,
        /// `None`: the group is gone.
        value: Option<GroupMetadata>,
    },
    /// A record of a KIP-848 consumer group (key versions 3 to 8 and 16,
    /// `consumer/records.rs`).
    ConsumerGroup(ConsumerGroupRecord),
}

fn put_string(out: &mut Vec<u8>, s: &str) {
    out.put_i16(s.len() as i16);
    out.put_slice(s.as_bytes());
}

/// The key of `group`'s offset of `topic`-`partition`.
pub fn offset_key(group: &str, topic: &str, partition: i32) -> Vec<u8> {
    let mut key = Vec::with_capacity(10 + group.len() + topic.len());
    key.put_i16(OFFSET_KEY_VERSION);
    put_string(&mut key, group);
    put_string(&mut key, topic);
    key.put_i32(partition);
    key
}

pub fn offset_value(offset: &CommittedOffset) -> Vec<u8> {
    let mut value = Vec::with_capacity(24 + offset.metadata.len());
    value.put_i16(OFFSET_VALUE_VERSION);
    value.put_i64(offset.offset);
    value.put_i32(offset.leader_epoch);
    put_string(&mut value, &offset.metadata);
    value.put_i64(offset.commit_timestamp);
    value
}

/// A batch of offset commits (`None`: a deletion).
#[cfg(test)]
pub fn commit_batch(
    group: &str,
    commits: &[(String, i32, Option<CommittedOffset>)],
    now: i64,
) -> Vec<u8> {
    commit_records(BatchBuilder::new(now), group, commits, now).build()
}

/// `builder` with a record per commit (`None`: a deletion).
pub fn commit_records(
    mut builder: BatchBuilder,
    group: &str,
    commits: &[(String, i32, Option<CommittedOffset>)],
    now: i64,
) -> BatchBuilder {
    for (topic, partition, offset) in commits {
        let key = offset_key(group, topic, *partition);
        let value = offset.as_ref().map(offset_value);
        builder = builder.record(Some(&key), value.as_deref(), now);
    }
    builder
}

/// Why a stored record could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("__consumer_offsets record: {0}")]
pub struct RecordFormatError(String);

impl RecordFormatError {
    pub(super) fn new(reason: impl Into<String>) -> Self {
        RecordFormatError(reason.into())
    }
}

fn get_string(buf: &mut Bytes) -> Result<String, RecordFormatError> {
    let short = || RecordFormatError("truncated string".into());
    if buf.remaining() < 2 {
        return Err(short());
    }
    let len = buf.get_i16();
    if len < 0 {
        return Ok(String::new());
    }
    let len = len as usize;
    if buf.remaining() < len {
        return Err(short());
    }
    let bytes = buf.split_to(len);
    String::from_utf8(bytes.to_vec()).map_err(|_| RecordFormatError("string is not UTF-8".into()))
}

/// Reads one record of `__consumer_offsets`; `None` for a key version this broker does not
/// know (skipped, as Kafka does for unknown versions it need not understand).
pub fn read_record(
    key: &[u8],
    value: Option<&[u8]>,
) -> Result<Option<OffsetRecord>, RecordFormatError> {
    let raw_key = key;
    let mut key = Bytes::copy_from_slice(key);
    if key.remaining() < 2 {
        return Err(RecordFormatError("key shorter than its version".into()));
    }
    match key.get_i16() {
        0 | 1 => {
            let group = get_string(&mut key)?;
            let topic = get_string(&mut key)?;
            if key.remaining() < 4 {
                return Err(RecordFormatError("key without a partition".into()));
            }
            let partition = key.get_i32();
            let offset = value.map(read_offset_value).transpose()?;
            Ok(Some(OffsetRecord::Commit {
                group,
                topic,
                partition,
                offset,
            }))
        }
        GROUP_METADATA_KEY_VERSION => Ok(Some(OffsetRecord::GroupMetadata {
            group: get_string(&mut key)?,
            value: value.map(read_group_value).transpose()?,
        })),
        _ => Ok(ConsumerGroupRecord::read(raw_key, value)?.map(OffsetRecord::ConsumerGroup)),
    }
}

fn read_offset_value(value: &[u8]) -> Result<CommittedOffset, RecordFormatError> {
    let mut value = Bytes::copy_from_slice(value);
    let short = || RecordFormatError("truncated offset value".into());
    if value.remaining() < 10 {
        return Err(short());
    }
    let version = value.get_i16();
    let offset = value.get_i64();
    // v3 carries a leader epoch before the metadata; v0-v2 do not.
    let leader_epoch = if version >= 3 {
        if value.remaining() < 4 {
            return Err(short());
        }
        value.get_i32()
    } else {
        -1
    };
    let metadata = get_string(&mut value)?;
    let commit_timestamp = if value.remaining() >= 8 {
        value.get_i64()
    } else {
        -1
    };
    Ok(CommittedOffset {
        offset,
        leader_epoch,
        metadata,
        commit_timestamp,
    })
}

/// A record's key and value (`None`: a tombstone).
#[cfg(test)]
pub type KeyValue = (Vec<u8>, Option<Vec<u8>>);

/// One entry of `__consumer_offsets`, in log order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredEntry {
    /// A record; `transaction` is its producer id when its batch is transactional (an offset
    /// commit of a transaction, which counts only once the transaction commits).
    Record {
        key: Vec<u8>,
        value: Option<Vec<u8>>,
        transaction: Option<i64>,
    },
    /// A transaction marker (a control record): the producer's transaction committed or aborted.
    Marker { producer_id: i64, commit: bool },
}

/// What one log read of `__consumer_offsets` holds.
#[derive(Debug, Default)]
pub struct StoredRecords {
    /// The records and transaction markers of every batch that decoded, in offset order.
    pub entries: Vec<StoredEntry>,
    /// Why each batch that did not decode was passed over.
    pub skipped: Vec<RecordFormatError>,
    /// One past the last whole batch: where the next read starts.
    pub next_offset: Option<i64>,
}

#[cfg(test)]
impl StoredRecords {
    /// The records' keys and values, markers left out.
    pub fn key_values(&self) -> Vec<KeyValue> {
        self.entries
            .iter()
            .filter_map(|entry| match entry {
                StoredEntry::Record { key, value, .. } => Some((key.clone(), value.clone())),
                StoredEntry::Marker { .. } => None,
            })
            .collect()
    }
}

/// A control record's type (its key: version, then type): 0 aborts, 1 commits.
fn marker_commits(key: &[u8]) -> Result<bool, RecordFormatError> {
    match key {
        [_, _, 0, 0, ..] => Ok(false),
        [_, _, 0, 1, ..] => Ok(true),
        _ => Err(RecordFormatError(format!(
            "control record key {key:?} is neither an abort nor a commit marker"
        ))),
    }
}

/// The entries of one whole batch.
fn batch_entries(
    batch: &[u8],
    header: &BatchHeader,
    limit: usize,
) -> Result<Vec<StoredEntry>, RecordFormatError> {
    let records = BatchRecords::new(batch, limit).map_err(|e| RecordFormatError(e.to_string()))?;
    let transaction = header.is_transactional().then_some(header.producer_id);
    let mut entries = Vec::new();
    for record in records.records() {
        let record = record.map_err(|e| RecordFormatError(e.to_string()))?;
        let Some(key) = record.key else {
            continue;
        };
        entries.push(if header.is_control() {
            StoredEntry::Marker {
                producer_id: header.producer_id,
                commit: marker_commits(key)?,
            }
        } else {
            StoredEntry::Record {
                key: key.to_vec(),
                value: record.value.map(<[u8]>::to_vec),
                transaction,
            }
        });
    }
    Ok(entries)
}

/// The entries of the stored batches in `bytes` (whole batches, as a log read returns them).
/// A batch that does not decode is passed over on its own; the walk goes on past it.
pub fn read_batches(bytes: &[u8], limit: usize) -> StoredRecords {
    let mut out = StoredRecords::default();
    let mut position = 0;
    while let Some(rest) = bytes.get(position..) {
        let Ok(header) = BatchHeader::parse(rest) else {
            break;
        };
        let Some(batch) = rest.get(..header.size()) else {
            break;
        };
        out.next_offset = Some(header.last_offset() + 1);
        position += header.size();
        match batch_entries(batch, &header, limit) {
            Ok(entries) => out.entries.extend(entries),
            Err(error) => out.skipped.push(error),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_map_to_partitions_as_kafka_hashes_them() {
        // Java: "my-group".hashCode() == 1_116_315_290 ... checked by the formula itself:
        // h = 31 * h + c over UTF-16 units, then Utils.abs, then modulo.
        let java_hash = |s: &str| {
            s.encode_utf16()
                .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
        };
        assert_eq!(java_hash("a"), 97);
        assert_eq!(java_hash("ab"), 97 * 31 + 98);
        assert_eq!(partition_for("a", 50), 97 % 50);
        // A group whose hash is negative: Kafka takes the absolute value, not the low bits.
        let negative = (0..1000)
            .map(|i| format!("group-{i}"))
            .find(|g| java_hash(g) < 0)
            .expect("some hash is negative");
        assert_eq!(
            partition_for(&negative, 50),
            java_hash(&negative).abs() % 50
        );
        assert!((0..50).contains(&partition_for("", 50)));
    }

    #[test]
    fn a_commit_batch_reads_back_as_its_commits_and_deletions() {
        let kept = CommittedOffset {
            offset: 42,
            leader_epoch: 3,
            metadata: "meta".into(),
            commit_timestamp: 1_000,
        };
        let batch = commit_batch(
            "g",
            &[("t".into(), 0, Some(kept.clone())), ("t".into(), 1, None)],
            1_000,
        );
        let stored = read_batches(&batch, 1 << 20);
        assert!(stored.skipped.is_empty());
        assert_eq!(stored.next_offset, Some(2));
        let records = stored.key_values();
        let read: Vec<_> = records
            .iter()
            .map(|(k, v)| read_record(k, v.as_deref()).unwrap().unwrap())
            .collect();
        assert_eq!(
            read,
            vec![
                OffsetRecord::Commit {
                    group: "g".into(),
                    topic: "t".into(),
                    partition: 0,
                    offset: Some(kept),
                },
                OffsetRecord::Commit {
                    group: "g".into(),
                    topic: "t".into(),
                    partition: 1,
                    offset: None,
                },
            ]
        );
    }

    #[test]
    fn a_batch_that_does_not_decode_is_passed_over_alone() {
        let mut bytes = crate::log::test_batch::wrap_records(0, (0, 0), (1, 0), 0, &[0xff, 0xff]);
        let mut good = commit_batch("g", &[("t".into(), 0, None)], 1_000);
        good[..8].copy_from_slice(&1i64.to_be_bytes());
        bytes.extend_from_slice(&good);
        let stored = read_batches(&bytes, 1 << 20);
        assert_eq!(stored.skipped.len(), 1);
        assert_eq!(stored.entries.len(), 1, "the good batch after it is read");
        assert_eq!(stored.next_offset, Some(2));
    }

    #[test]
    fn damaged_records_are_errors_and_unknown_key_versions_are_skipped() {
        assert!(read_record(&[0], None).is_err());
        assert!(read_record(&[0, 1, 0, 5, b'a'], None).is_err());
        assert_eq!(read_record(&[0, 9, 1, 2, 3], None), Ok(None));
        let key = offset_key("g", "t", 0);
        assert!(read_record(&key, Some(&[0, 3, 0, 0])).is_err());
    }
}
