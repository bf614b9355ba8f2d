//! Transactions in a partition: the last stable offset, markers, read_committed reads and the
//! aborted-transaction index across restarts, recovery, truncation and retention.

use bytes::Bytes;

use super::*;
use crate::api::errors::partition_error;
use crate::log::AbortedTxn;
use crate::log::builder::BatchBuilder;
use crate::log::control::EndTxnMarker;
use crate::log::test_batch::batch_of;
use crate::producer_state::SequenceError;
use crate::protocol::ResponseError;

fn open(dir: &Path, clean_shutdown: bool, segment_bytes: u64) -> Partition {
    let id = PartitionId {
        topic: "t".to_owned(),
        topic_id: Uuid::new_v4(),
        index: 0,
        internal: false,
    };
    let shared = Shared {
        durability: Durability::Os,
        events: Events::default(),
        syncer: Syncer::os(),
    };
    let config = LogConfig {
        segment_bytes,
        ..LogConfig::default()
    };
    let partition =
        Partition::open(id, &dir.join("t-0"), config, clean_shutdown, shared).expect("open");
    partition.become_leader(0).expect("lead");
    partition
}

/// A transactional batch of `records` records of `producer` at epoch 0 from `sequence`.
fn txn_batch(producer: i64, sequence: i32, records: usize) -> Bytes {
    let mut builder = BatchBuilder::new(1_000)
        .producer(producer, 0, sequence)
        .transactional();
    for i in 0..records {
        builder = builder.record(Some(format!("k{i}").as_bytes()), Some(b"v"), 1_000);
    }
    Bytes::from(builder.build())
}

fn produce(partition: &Partition, batch: Bytes) -> i64 {
    partition
        .append(batch, AppendOrigin::Client, 2_000)
        .expect("append")
        .base_offset
}

fn plain(partition: &Partition, records: usize) -> i64 {
    produce(partition, Bytes::from(batch_of(records, 1_000, b'p')))
}

fn marker(partition: &Partition, producer: i64, commit: bool) -> i64 {
    partition
        .write_marker(producer, 0, 0, commit, 3_000)
        .expect("marker")
        .base_offset
}

/// The base offsets of the batches a read returned.
fn bases(records: &[u8]) -> Vec<i64> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < records.len() {
        let header = BatchHeader::parse(&records[at..]).expect("header");
        out.push(header.base_offset);
        at += header.size();
    }
    out
}

fn committed(partition: &Partition, from: i64) -> ReadResult {
    partition
        .read(from, 1 << 20, Isolation::ReadCommitted)
        .expect("read")
}

fn aborted_ids(read: &ReadResult) -> Vec<(i64, i64)> {
    read.aborted
        .as_ref()
        .expect("read_committed lists aborted transactions")
        .iter()
        .map(|txn| (txn.producer_id, txn.first_offset))
        .collect()
}

#[test]
fn the_lso_is_held_at_an_open_transaction_and_released_by_its_commit() {
    let dir = tempfile::tempdir().unwrap();
    let partition = open(dir.path(), false, 1 << 20);
    plain(&partition, 3);
    let first = produce(&partition, txn_batch(1, 0, 2));
    assert_eq!(first, 3);
    plain(&partition, 2);
    produce(&partition, txn_batch(1, 2, 1));
    let offsets = partition.offsets();
    assert_eq!((offsets.high_watermark, offsets.last_stable), (8, 3));

    let read = committed(&partition, 0);
    assert_eq!(bases(&read.records), vec![0], "stops at the LSO");
    assert_eq!(aborted_ids(&read), vec![]);
    let uncommitted = partition
        .read(0, 1 << 20, Isolation::ReadUncommitted)
        .unwrap();
    assert_eq!(bases(&uncommitted.records), vec![0, 3, 5, 7]);
    assert!(uncommitted.aborted.is_none());

    let at = marker(&partition, 1, true);
    assert_eq!(at, 8);
    assert_eq!(partition.offsets().last_stable, 9);
    let read = committed(&partition, 0);
    assert_eq!(bases(&read.records), vec![0, 3, 5, 7, 8]);
    assert_eq!(aborted_ids(&read), vec![]);
    assert!(partition.log().aborted_txns().unwrap().is_empty());
}

#[test]
fn an_abort_releases_the_lso_and_read_committed_lists_the_aborted_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let partition = open(dir.path(), false, 1 << 20);
    produce(&partition, txn_batch(1, 0, 2));
    produce(&partition, txn_batch(2, 0, 2));
    assert_eq!(partition.offsets().last_stable, 0);
    // Producer 2's abort leaves producer 1's transaction holding the LSO.
    assert_eq!(marker(&partition, 2, false), 4);
    assert_eq!(partition.offsets().last_stable, 0);
    assert!(committed(&partition, 0).records.is_empty());
    assert_eq!(
        partition.log().aborted_txns().unwrap(),
        vec![AbortedTxn {
            producer_id: 2,
            first_offset: 2,
            last_offset: 4,
            last_stable_offset: 0,
        }]
    );
    marker(&partition, 1, false);
    assert_eq!(partition.offsets().last_stable, 6);
    let read = committed(&partition, 0);
    assert_eq!(bases(&read.records), vec![0, 2, 4, 5]);
    assert_eq!(aborted_ids(&read), vec![(1, 0), (2, 2)]);
    // A read past both transactions lists neither.
    plain(&partition, 1);
    let read = committed(&partition, 6);
    assert_eq!(bases(&read.records), vec![6]);
    assert_eq!(aborted_ids(&read), vec![]);
}

#[test]
fn a_clients_control_batch_and_a_plain_batch_inside_a_transaction_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let partition = open(dir.path(), false, 1 << 20);
    let control = EndTxnMarker {
        commit: true,
        coordinator_epoch: 0,
    }
    .batch(1, 0, 1_000);
    let error = partition
        .append(Bytes::from(control), AppendOrigin::Client, 0)
        .err()
        .expect("refused");
    assert!(matches!(
        error,
        PartitionError::ControlBatchFromClient { .. }
    ));
    assert_eq!(partition_error(&error), ResponseError::InvalidRecord);
    assert_eq!(partition.offsets().log_end, 0);

    produce(&partition, txn_batch(1, 0, 1));
    let idempotent = BatchBuilder::new(1_000)
        .producer(1, 0, 1)
        .record(Some(b"k"), Some(b"v"), 1_000)
        .build();
    let error = partition
        .append(Bytes::from(idempotent), AppendOrigin::Client, 0)
        .err()
        .expect("refused");
    assert!(matches!(
        error,
        PartitionError::Sequence(SequenceError::InvalidTxnState { producer_id: 1 })
    ));
    assert_eq!(partition_error(&error), ResponseError::InvalidTxnState);
    assert_eq!(partition.offsets().log_end, 1);
}

#[test]
fn a_marker_with_an_older_producer_epoch_is_fenced_and_not_written() {
    let dir = tempfile::tempdir().unwrap();
    let partition = open(dir.path(), false, 1 << 20);
    let batch = BatchBuilder::new(1_000)
        .producer(1, 2, 0)
        .transactional()
        .record(Some(b"k"), Some(b"v"), 1_000)
        .build();
    produce(&partition, Bytes::from(batch));
    let error = partition
        .write_marker(1, 1, 0, false, 0)
        .err()
        .expect("fenced");
    assert_eq!(partition_error(&error), ResponseError::InvalidProducerEpoch);
    assert_eq!(partition.offsets().log_end, 1);
    assert_eq!(partition.offsets().last_stable, 0);
    // A marker for a producer with nothing open here is written and changes no offsets.
    partition.write_marker(9, 0, 0, true, 0).expect("marker");
    assert_eq!(partition.offsets().last_stable, 0);
    assert_eq!(partition.offsets().log_end, 2);
}

/// Two aborted transactions and one open one; returns the index entries.
fn with_aborts(partition: &Partition) -> Vec<AbortedTxn> {
    produce(partition, txn_batch(1, 0, 2));
    produce(partition, txn_batch(2, 0, 2));
    marker(partition, 1, false);
    produce(partition, txn_batch(3, 0, 1));
    marker(partition, 2, false);
    let entries = partition.log().aborted_txns().unwrap();
    assert_eq!(entries.len(), 2);
    entries
}

#[test]
fn the_txn_index_and_open_transactions_survive_a_clean_restart() {
    let dir = tempfile::tempdir().unwrap();
    let partition = open(dir.path(), false, 1 << 20);
    let entries = with_aborts(&partition);
    let offsets = partition.offsets();
    assert_eq!(offsets.last_stable, 5, "producer 3's transaction is open");
    partition.flush_for_shutdown().unwrap();
    drop(partition);
    let partition = open(dir.path(), true, 1 << 20);
    assert_eq!(partition.log().aborted_txns().unwrap(), entries);
    assert_eq!(partition.offsets(), offsets);
    marker(&partition, 3, true);
    assert_eq!(aborted_ids(&committed(&partition, 0)), vec![(1, 0), (2, 2)]);
}

#[test]
fn crash_recovery_rebuilds_the_txn_index_from_the_markers() {
    let dir = tempfile::tempdir().unwrap();
    let partition = open(dir.path(), false, 1 << 20);
    let entries = with_aborts(&partition);
    let index = partition.log().dir().join(format!("{:020}.txnindex", 0));
    drop(partition); // a crash: no shutdown snapshot
    // Lost the index, and a stray entry for a marker the log does not hold.
    let stray = AbortedTxn {
        producer_id: 9,
        first_offset: 50,
        last_offset: 60,
        last_stable_offset: 61,
    };
    std::fs::write(&index, []).unwrap();
    let file = crate::log::txn_index::open(&index).unwrap();
    crate::log::txn_index::append(&file, 0, &stray).unwrap();
    let partition = open(dir.path(), false, 1 << 20);
    assert_eq!(partition.log().aborted_txns().unwrap(), entries);
    assert_eq!(partition.offsets().last_stable, 5);
}

#[test]
fn truncating_the_log_cuts_the_txn_index_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let partition = open(dir.path(), false, 1 << 20);
    let entries = with_aborts(&partition);
    let second_marker = entries[1].last_offset;
    partition.log().truncate_to(second_marker).unwrap();
    assert_eq!(
        partition.log().aborted_txns().unwrap(),
        entries[..1].to_vec()
    );
    drop(partition);
    let partition = open(dir.path(), true, 1 << 20);
    assert_eq!(
        partition.log().aborted_txns().unwrap(),
        entries[..1].to_vec()
    );
}

#[test]
fn retention_deletes_a_segments_txn_index_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let partition = open(dir.path(), false, 300);
    produce(&partition, txn_batch(1, 0, 2));
    marker(&partition, 1, false);
    for _ in 0..6 {
        plain(&partition, 3);
    }
    partition.log().wait_for_rolls().unwrap();
    let index = partition.log().dir().join(format!("{:020}.txnindex", 0));
    assert!(index.exists());
    partition.set_config(LogConfig {
        segment_bytes: 300,
        retention_ms: 0,
        ..LogConfig::default()
    });
    assert!(partition.apply_retention(i64::MAX).unwrap() > 0);
    assert!(!index.exists());
    assert!(partition.log().aborted_txns().unwrap().is_empty());
}
