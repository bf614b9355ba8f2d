//! One batch through the cleaner: which records stay, and the batch re-encoded around them.
//! The rules are in the module docs of `cleaner`.

use std::collections::HashMap;

use super::txn::TxnVerdict;
use super::{LastRecord, OffsetMap};
use crate::log::batch::{
    ATTRIBUTES_AT, BatchHeader, CRC_AT, DELETE_HORIZON_FLAG, HEADER_SIZE, LOG_OVERHEAD, MAGIC_V2,
};
use crate::log::builder::put_varlong;
use crate::log::compression;
use crate::log::records::{BatchRecords, Record};

const COMPRESSION_MASK: i16 = 0x07;

/// What a clean does with one batch.
#[derive(Debug)]
pub(super) enum Filtered {
    /// Copy it byte for byte.
    Keep,
    /// Write these bytes instead: same base offset and last offset, fewer records.
    Rewrite(Vec<u8>),
    /// Nothing of it stays.
    Drop,
}

pub(super) struct Context<'a> {
    pub map: &'a OffsetMap,
    pub now_ms: i64,
    pub delete_retention_ms: i64,
    pub producers: &'a HashMap<i64, LastRecord>,
    pub decompress_limit: usize,
}

/// Filters one whole stored batch whose header is `header`; `txn` is what the transactions
/// say about it ([`super::txn::TxnTracker`]). The order is Kafka's `checkBatchRetention`:
/// whether the batch's records go whole (an aborted transaction's, or a marker past its
/// horizon whose transaction left nothing), then whether the batch is its producer's last
/// (kept, emptied if need be), then the records one by one.
pub(super) fn filter_batch(
    batch: &[u8],
    header: &BatchHeader,
    cx: &Context<'_>,
    txn: TxnVerdict,
) -> Filtered {
    let last_of_producer = is_last_of_producer(header, cx.producers);
    if header.is_control() {
        return filter_control(batch, header, cx, txn.discardable, last_of_producer);
    }
    if txn.discardable {
        return if last_of_producer {
            Filtered::Rewrite(empty_batch(header))
        } else {
            Filtered::Drop
        };
    }
    if header.record_count == 0 && !last_of_producer {
        // Emptied by an earlier clean for a producer no longer tracked.
        return Filtered::Drop;
    }
    if header.base_offset >= cx.map.end {
        return Filtered::Keep;
    }
    let decoded = match BatchRecords::new(batch, cx.decompress_limit) {
        Ok(decoded) => decoded,
        Err(_) => return Filtered::Keep,
    };
    let mut retained = Vec::new();
    let mut total = 0usize;
    for record in decoded.records() {
        let Ok(record) = record else {
            return Filtered::Keep;
        };
        total += 1;
        if retain(&record, header, cx) {
            retained.push(record);
        }
    }
    let tombstones = retained.iter().any(|r| r.value.is_none());
    let set_horizon = tombstones && header.delete_horizon().is_none();
    if retained.len() == total && !set_horizon {
        return Filtered::Keep;
    }
    if retained.is_empty() {
        return if last_of_producer {
            Filtered::Rewrite(empty_batch(header))
        } else {
            Filtered::Drop
        };
    }
    let horizon = set_horizon.then(|| cx.now_ms.saturating_add(cx.delete_retention_ms));
    match encode(header, &retained, horizon) {
        Some(bytes) => Filtered::Rewrite(bytes),
        None => Filtered::Keep,
    }
}

/// A control batch: a marker whose transaction left nothing before it gets a delete horizon
/// (as a tombstone does) and goes at the first clean after it; every other one stays whole.
/// A producer's last marker stays whole even then: it holds the producer's epoch.
fn filter_control(
    batch: &[u8],
    header: &BatchHeader,
    cx: &Context<'_>,
    discardable: bool,
    last_of_producer: bool,
) -> Filtered {
    let horizon_passed = header
        .delete_horizon()
        .is_some_and(|horizon| cx.now_ms >= horizon);
    if last_of_producer {
        return Filtered::Keep;
    }
    if discardable && (horizon_passed || header.record_count == 0) {
        return Filtered::Drop;
    }
    if !discardable || header.delete_horizon().is_some() {
        return Filtered::Keep;
    }
    let horizon = cx.now_ms.saturating_add(cx.delete_retention_ms);
    let Ok(decoded) = BatchRecords::new(batch, cx.decompress_limit) else {
        return Filtered::Keep;
    };
    let records: Result<Vec<Record<'_>>, _> = decoded.records().collect();
    let Ok(records) = records else {
        return Filtered::Keep;
    };
    match encode(header, &records, Some(horizon)) {
        Some(bytes) => Filtered::Rewrite(bytes),
        None => Filtered::Keep,
    }
}

/// Kafka's `isBatchLastRecordOfProducer`: the batch holding a tracked producer's last data
/// offset, or, when a marker came after its last data batch, a marker at its epoch.
fn is_last_of_producer(header: &BatchHeader, producers: &HashMap<i64, LastRecord>) -> bool {
    if header.producer_id < 0 {
        return false;
    }
    producers
        .get(&header.producer_id)
        .is_some_and(|last| match last.last_data_offset {
            Some(offset) => header.last_offset() == offset,
            None => header.is_control() && header.producer_epoch == last.epoch,
        })
}

/// Kafka's `shouldRetainRecord`, with KIP-534 delete horizons.
fn retain(record: &Record<'_>, header: &BatchHeader, cx: &Context<'_>) -> bool {
    if record.offset >= cx.map.end {
        return true;
    }
    let Some(key) = record.key else {
        return false;
    };
    if cx
        .map
        .latest(key)
        .is_some_and(|latest| latest > record.offset)
    {
        return false;
    }
    match record.value {
        Some(_) => true,
        None => header
            .delete_horizon()
            .is_none_or(|horizon| cx.now_ms < horizon),
    }
}

/// The batch with only `retained` (in offset order), in its original codec; with `horizon`,
/// the delete-horizon attribute set and `baseTimestamp` = horizon. `None` when a timestamp
/// delta would overflow or compression fails: the batch is then kept as it was.
fn encode(header: &BatchHeader, retained: &[Record<'_>], horizon: Option<i64>) -> Option<Vec<u8>> {
    let base_timestamp = horizon.unwrap_or(header.base_timestamp);
    let max_timestamp = if header.is_log_append_time() {
        header.max_timestamp
    } else {
        retained
            .iter()
            .map(|r| r.timestamp)
            .max()
            .unwrap_or(header.max_timestamp)
    };
    let mut body = Vec::new();
    let mut record = Vec::new();
    for r in retained {
        record.clear();
        record.push(0); // attributes
        put_varlong(&mut record, r.timestamp.checked_sub(base_timestamp)?);
        put_varlong(&mut record, r.offset - header.base_offset);
        put_bytes(&mut record, r.key);
        put_bytes(&mut record, r.value);
        put_varlong(&mut record, r.headers.len() as i64);
        for h in &r.headers {
            put_bytes(&mut record, Some(h.key));
            put_bytes(&mut record, h.value);
        }
        put_varlong(&mut body, record.len() as i64);
        body.extend_from_slice(&record);
    }
    let codec = header.compression();
    let section = if codec == 0 {
        body
    } else {
        compression::compress(codec, &body).ok()?
    };
    let mut attributes = header.attributes;
    if horizon.is_some() {
        attributes |= DELETE_HORIZON_FLAG;
    }
    let count = i32::try_from(retained.len()).ok()?;
    Some(assemble(
        header,
        attributes,
        (base_timestamp, max_timestamp),
        count,
        &section,
    ))
}

/// The batch's header with no records (uncompressed), keeping its offsets, producer fields,
/// timestamps and flags: the offsets it covered stay accounted for.
pub(super) fn empty_batch(header: &BatchHeader) -> Vec<u8> {
    assemble(
        header,
        header.attributes & !COMPRESSION_MASK,
        (header.base_timestamp, header.max_timestamp),
        0,
        &[],
    )
}

fn assemble(
    header: &BatchHeader,
    attributes: i16,
    (base_timestamp, max_timestamp): (i64, i64),
    count: i32,
    section: &[u8],
) -> Vec<u8> {
    let mut b = Vec::with_capacity(HEADER_SIZE + section.len());
    b.extend_from_slice(&header.base_offset.to_be_bytes());
    let length = (HEADER_SIZE - LOG_OVERHEAD + section.len()) as i32;
    b.extend_from_slice(&length.to_be_bytes());
    b.extend_from_slice(&header.partition_leader_epoch.to_be_bytes());
    b.push(MAGIC_V2 as u8);
    b.extend_from_slice(&0u32.to_be_bytes()); // crc, set below
    b.extend_from_slice(&attributes.to_be_bytes());
    b.extend_from_slice(&header.last_offset_delta.to_be_bytes());
    b.extend_from_slice(&base_timestamp.to_be_bytes());
    b.extend_from_slice(&max_timestamp.to_be_bytes());
    b.extend_from_slice(&header.producer_id.to_be_bytes());
    b.extend_from_slice(&header.producer_epoch.to_be_bytes());
    b.extend_from_slice(&header.base_sequence.to_be_bytes());
    b.extend_from_slice(&count.to_be_bytes());
    b.extend_from_slice(section);
    let crc = crc32c::crc32c(&b[ATTRIBUTES_AT..]);
    b[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
    b
}

fn put_bytes(out: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        None => put_varlong(out, -1),
        Some(bytes) => {
            put_varlong(out, bytes.len() as i64);
            out.extend_from_slice(bytes);
        }
    }
}
