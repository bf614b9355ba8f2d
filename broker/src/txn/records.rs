//! The records of `__transaction_state`, in Kafka's exact layout
//! (`transaction-coordinator/src/main/resources/common/message/TransactionLog{Key,Value}.json`),
//! so the state can be stored and rebuilt, and Kafka's tools read what this broker writes.
//!
//! ```text
//! key    int16 0 (the key version; Kafka 4.x calls it the record type), string transactional_id
//! value  int16 version, then
//!   v0 (classic)   producer_id i64, producer_epoch i16, timeout_ms i32, status i8,
//!                  partitions [topic string, partition_ids [i32]] (int32 counts, -1 null),
//!                  last_update_ms i64, start_ms i64
//!   v1 (flexible)  the same fields with compact strings and arrays (varint length + 1, 0 null),
//!                  a tagged-field section after each partitions entry and at the end:
//!                    tag 0 PreviousProducerId i64 (default -1)
//!                    tag 1 NextProducerId     i64 (default -1)
//!                    tag 2 ClientTransactionVersion i16 (default 0)
//!                    tag 3 NextProducerEpoch  i16 (default -1; KIP-939)
//! tombstone  a null value: the transactional id expired
//! ```
//!
//! Status ids: 0 Empty, 1 Ongoing, 2 PrepareCommit, 3 PrepareAbort, 4 CompleteCommit,
//! 5 CompleteAbort, 6 Dead, 7 PrepareEpochFence. The partitions are null in the Empty state
//! (and ignored when read in it), grouped by topic otherwise.
//!
//! Written as Kafka 4.x writes them: version 1 when `transaction.version` ≥ 1, else 0; a
//! tagged field only when it is not at its default, tags in ascending order. Read: versions 0
//! and 1, unknown tags skipped. Another key version is not an error but not ours (Kafka skips
//! such records when it loads); another value version, an unknown status, a truncated field or
//! bytes after the last field are errors.

use super::wire::{
    Reader, put_array_len, put_compact_array_len, put_compact_string, put_string,
    put_tagged_fields, put_unsigned_varint,
};
use super::{NO_PRODUCER_EPOCH, NO_PRODUCER_ID, TxnState};

/// The only key version (record type) of `__transaction_state`.
pub const KEY_VERSION: i16 = 0;
/// The highest value version Kafka 4.x writes and reads.
pub const MAX_VALUE_VERSION: i16 = 1;

/// A `__transaction_state` key or value that does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("__transaction_state record: {0}")]
pub struct TxnRecordError(pub(super) String);

/// The partitions of one topic in a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicPartitions {
    pub topic: String,
    pub partitions: Vec<i32>,
}

/// `TransactionLogValue`: one transactional id's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionLogValue {
    pub producer_id: i64,
    /// The producer id before the transition that wrote this record (v1, tag 0).
    pub previous_producer_id: i64,
    /// The producer id the next completion moves to when the epoch is exhausted (v1, tag 1).
    pub next_producer_id: i64,
    pub producer_epoch: i16,
    /// KIP-939's next epoch (v1, tag 3); kept as read, -1 otherwise.
    pub next_producer_epoch: i16,
    pub transaction_timeout_ms: i32,
    pub state: TxnState,
    /// `None`: null (written in the Empty state).
    pub partitions: Option<Vec<TopicPartitions>>,
    pub last_update_timestamp_ms: i64,
    pub start_timestamp_ms: i64,
    /// The client's `transaction.version` feature level (v1, tag 2).
    pub client_transaction_version: i16,
}

const TAG_PREVIOUS_PRODUCER_ID: u32 = 0;
const TAG_NEXT_PRODUCER_ID: u32 = 1;
const TAG_CLIENT_TRANSACTION_VERSION: u32 = 2;
const TAG_NEXT_PRODUCER_EPOCH: u32 = 3;

/// The key of `transactional_id`'s records.
pub fn encode_key(transactional_id: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + transactional_id.len());
    out.extend_from_slice(&KEY_VERSION.to_be_bytes());
    put_string(&mut out, transactional_id);
    out
}

/// The transactional id a key names; `None` for a key version that is not ours.
pub fn decode_key(bytes: &[u8]) -> Result<Option<String>, TxnRecordError> {
    let mut key = Reader::new(bytes, "key");
    if key.i16()? != KEY_VERSION {
        return Ok(None);
    }
    let id = key.string()?;
    key.end()?;
    Ok(Some(id))
}

impl TransactionLogValue {
    /// The value at `version` (0 or 1), version prefix included.
    pub fn encode(&self, version: i16) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(&version.to_be_bytes());
        out.extend_from_slice(&self.producer_id.to_be_bytes());
        out.extend_from_slice(&self.producer_epoch.to_be_bytes());
        out.extend_from_slice(&self.transaction_timeout_ms.to_be_bytes());
        out.push(self.state.id() as u8);
        let flexible = version >= 1;
        let partitions = self.partitions.as_deref();
        if flexible {
            put_compact_array_len(&mut out, partitions.map(<[_]>::len));
        } else {
            put_array_len(&mut out, partitions.map(<[_]>::len));
        }
        for topic in partitions.unwrap_or_default() {
            if flexible {
                put_compact_string(&mut out, &topic.topic);
                put_compact_array_len(&mut out, Some(topic.partitions.len()));
            } else {
                put_string(&mut out, &topic.topic);
                put_array_len(&mut out, Some(topic.partitions.len()));
            }
            for partition in &topic.partitions {
                out.extend_from_slice(&partition.to_be_bytes());
            }
            if flexible {
                put_unsigned_varint(&mut out, 0);
            }
        }
        out.extend_from_slice(&self.last_update_timestamp_ms.to_be_bytes());
        out.extend_from_slice(&self.start_timestamp_ms.to_be_bytes());
        if flexible {
            put_tagged_fields(&mut out, &self.tagged_fields());
        }
        out
    }

    fn tagged_fields(&self) -> Vec<(u32, Vec<u8>)> {
        let mut fields = Vec::new();
        if self.previous_producer_id != NO_PRODUCER_ID {
            let bytes = self.previous_producer_id.to_be_bytes().to_vec();
            fields.push((TAG_PREVIOUS_PRODUCER_ID, bytes));
        }
        if self.next_producer_id != NO_PRODUCER_ID {
            let bytes = self.next_producer_id.to_be_bytes().to_vec();
            fields.push((TAG_NEXT_PRODUCER_ID, bytes));
        }
        if self.client_transaction_version != 0 {
            let bytes = self.client_transaction_version.to_be_bytes().to_vec();
            fields.push((TAG_CLIENT_TRANSACTION_VERSION, bytes));
        }
        if self.next_producer_epoch != NO_PRODUCER_EPOCH {
            let bytes = self.next_producer_epoch.to_be_bytes().to_vec();
            fields.push((TAG_NEXT_PRODUCER_EPOCH, bytes));
        }
        fields
    }

    /// A value of version 0 or 1; returns the version with it.
    pub fn decode(bytes: &[u8]) -> Result<(i16, Self), TxnRecordError> {
        let mut r = Reader::new(bytes, "value");
        let version = r.i16()?;
        if !(0..=MAX_VALUE_VERSION).contains(&version) {
            return Err(r.error(format!("unknown value version {version}")));
        }
        let flexible = version >= 1;
        let producer_id = r.i64()?;
        let producer_epoch = r.i16()?;
        let transaction_timeout_ms = r.i32()?;
        let status = r.i8()?;
        let state =
            TxnState::from_id(status).ok_or_else(|| r.error(format!("unknown status {status}")))?;
        // A topic entry is at least a string length and an array count.
        let count = if flexible {
            r.compact_array_len(2)?
        } else {
            r.array_len(6)?
        };
        let partitions = match count {
            None => None,
            Some(count) => {
                let mut topics = Vec::with_capacity(count);
                for _ in 0..count {
                    topics.push(read_topic(&mut r, flexible)?);
                }
                Some(topics)
            }
        };
        let mut value = TransactionLogValue {
            producer_id,
            previous_producer_id: NO_PRODUCER_ID,
            next_producer_id: NO_PRODUCER_ID,
            producer_epoch,
            next_producer_epoch: NO_PRODUCER_EPOCH,
            transaction_timeout_ms,
            state,
            partitions,
            last_update_timestamp_ms: r.i64()?,
            start_timestamp_ms: r.i64()?,
            client_transaction_version: 0,
        };
        if flexible {
            for (tag, bytes) in r.tagged_fields()? {
                let mut field = Reader::new(bytes, "tagged field");
                match tag {
                    TAG_PREVIOUS_PRODUCER_ID => value.previous_producer_id = field.i64()?,
                    TAG_NEXT_PRODUCER_ID => value.next_producer_id = field.i64()?,
                    TAG_CLIENT_TRANSACTION_VERSION => {
                        value.client_transaction_version = field.i16()?
                    }
                    TAG_NEXT_PRODUCER_EPOCH => value.next_producer_epoch = field.i16()?,
                    // A tag from a later Kafka: skipped, as Kafka's generated readers do.
                    _ => continue,
                }
                field.end()?;
            }
        }
        r.end()?;
        Ok((version, value))
    }
}

fn read_topic(r: &mut Reader<'_>, flexible: bool) -> Result<TopicPartitions, TxnRecordError> {
    let topic = if flexible {
        r.compact_string()?
    } else {
        r.string()?
    };
    let count = if flexible {
        r.compact_array_len(4)?
    } else {
        r.array_len(4)?
    };
    let count = count.ok_or_else(|| r.error("null partition ids"))?;
    let mut partitions = Vec::with_capacity(count);
    for _ in 0..count {
        partitions.push(r.i32()?);
    }
    if flexible {
        // Tags of a later Kafka on the topic entry are skipped.
        r.tagged_fields()?;
    }
    Ok(TopicPartitions { topic, partitions })
}

/// One record of `__transaction_state`, decoded: a transactional id and its state, or a
/// tombstone (`None`). `Ok(None)`: a key version that is not ours, skipped.
pub fn decode_record(
    key: &[u8],
    value: Option<&[u8]>,
) -> Result<Option<(String, Option<TransactionLogValue>)>, TxnRecordError> {
    let Some(id) = decode_key(key)? else {
        return Ok(None);
    };
    let value = match value {
        None => None,
        Some(bytes) => Some(TransactionLogValue::decode(bytes)?.1),
    };
    Ok(Some((id, value)))
}

#[cfg(test)]
#[path = "records_tests.rs"]
mod tests;
