//! Compaction with transactions, through a partition (transactional batches, markers, the last
//! stable offset): committed values win over aborted ones, aborted data goes, markers go only
//! after their transaction's data and their delete horizon, nothing at or past the last
//! stable offset is cleaned, and producer state survives.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use bytes::Bytes;
use uuid::Uuid;

use crate::log::batch::{BatchHeader, split_batches};
use crate::log::builder::BatchBuilder;
use crate::log::control::EndTxnMarker;
use crate::log::records::BatchRecords;
use crate::log::{AbortedTxn, LogConfig, Syncer, Throttle};
use crate::partition::{
    AppendOrigin, Durability, Events, Isolation, Partition, PartitionId, Shared,
};
use crate::producer_state::{SequenceCheck, SequenceError};

const NOW: i64 = 1_000_000;
const RETENTION: i64 = 10_000;

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 400,
        index_interval_bytes: 100,
        retention_ms: -1,
        compact: true,
        min_cleanable_dirty_ratio: 0.0,
        delete_retention_ms: RETENTION,
        ..LogConfig::default()
    }
}

fn open(dir: &Path, clean_shutdown: bool) -> Partition {
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
    let partition =
        Partition::open(id, &dir.join("t-0"), config(), clean_shutdown, shared).expect("open");
    partition.become_leader(0).expect("lead");
    partition
}

fn produce(partition: &Partition, batch: Vec<u8>) -> BatchHeader {
    let header = BatchHeader::parse(&batch).expect("header");
    let appended = partition
        .append(Bytes::from(batch), AppendOrigin::Client, NOW)
        .expect("append");
    BatchHeader {
        base_offset: appended.base_offset,
        ..header
    }
}

/// A plain (non-transactional) batch of one record.
fn plain(partition: &Partition, key: &str, value: &str) -> i64 {
    let batch = BatchBuilder::new(NOW)
        .record(Some(key.as_bytes()), Some(value.as_bytes()), NOW)
        .build();
    produce(partition, batch).base_offset
}

/// A transactional batch of `producer` (epoch 0) from `sequence`.
fn txn(partition: &Partition, producer: i64, sequence: i32, records: &[(&str, &str)]) -> i64 {
    let mut builder = BatchBuilder::new(NOW)
        .producer(producer, 0, sequence)
        .transactional();
    for (key, value) in records {
        builder = builder.record(Some(key.as_bytes()), Some(value.as_bytes()), NOW);
    }
    produce(partition, builder.build()).base_offset
}

fn marker(partition: &Partition, producer: i64, commit: bool) -> i64 {
    partition
        .write_marker(producer, 0, 0, commit, NOW)
        .expect("marker")
        .base_offset
}

/// Plain records of their own keys, enough to close the segments before them.
fn filler(partition: &Partition, tag: &str) {
    for i in 0..12 {
        plain(partition, &format!("{tag}-{i}"), "filler-value");
    }
    partition.log().wait_for_rolls().expect("rolls");
}

fn clean(partition: &Partition, now: i64) -> Option<crate::log::CleanOutcome> {
    partition
        .clean(now, 1 << 20, &Throttle::unlimited())
        .expect("clean")
}

/// One batch of the log as a reader gets it.
struct Read {
    header: BatchHeader,
    bytes: Vec<u8>,
}

/// Every batch a reader gets from the log start, and (read_committed) the aborted
/// transactions the reads listed.
fn read_all(partition: &Partition, isolation: Isolation) -> (Vec<Read>, Vec<AbortedTxn>) {
    let (mut batches, mut aborted) = (Vec::new(), Vec::new());
    let mut next = partition.offsets().log_start;
    for _ in 0..1_000 {
        let read = partition.read(next, 1 << 20, isolation).expect("read");
        if read.records.is_empty() {
            break;
        }
        aborted.extend(read.aborted.unwrap_or_default());
        for (range, header) in split_batches(&read.records).expect("whole batches") {
            if header.last_offset() < next {
                continue;
            }
            next = header.last_offset() + 1;
            batches.push(Read {
                header,
                bytes: read.records[range].to_vec(),
            });
        }
    }
    aborted.sort_by_key(|txn| txn.first_offset);
    aborted.dedup();
    (batches, aborted)
}

/// Key → latest value as a consumer of `isolation` sees the log, dropping aborted records as
/// Kafka's consumer does (by producer, from the listed first offset to its ABORT marker).
fn table(partition: &Partition, isolation: Isolation) -> BTreeMap<String, String> {
    let (batches, aborted) = read_all(partition, isolation);
    let mut pending = aborted;
    let mut aborting = HashSet::new();
    let mut table = BTreeMap::new();
    for Read { header, bytes } in &batches {
        while pending
            .first()
            .is_some_and(|txn| txn.first_offset <= header.last_offset())
        {
            aborting.insert(pending.remove(0).producer_id);
        }
        if header.is_control() {
            if EndTxnMarker::from_batch(bytes).is_ok_and(|m| m.is_some_and(|m| !m.commit)) {
                aborting.remove(&header.producer_id);
            }
            continue;
        }
        if header.is_transactional() && aborting.contains(&header.producer_id) {
            continue;
        }
        let records = BatchRecords::new(bytes, 1 << 20).expect("decode");
        for record in records.records() {
            let record = record.expect("record");
            let key = String::from_utf8_lossy(record.key.expect("key")).into_owned();
            let value = String::from_utf8_lossy(record.value.expect("value")).into_owned();
            table.insert(key, value);
        }
    }
    table
}

/// Offsets of the records (not markers) in the log.
fn record_offsets(partition: &Partition) -> HashSet<i64> {
    let (batches, _) = read_all(partition, Isolation::ReadUncommitted);
    let mut offsets = HashSet::new();
    for Read { bytes, .. } in batches.iter().filter(|b| !b.header.is_control()) {
        let records = BatchRecords::new(bytes, 1 << 20).expect("decode");
        for record in records.records() {
            offsets.insert(record.expect("record").offset);
        }
    }
    offsets
}

/// The marker batch at `offset`, if the log still holds it.
fn marker_at(partition: &Partition, offset: i64) -> Option<BatchHeader> {
    let (batches, _) = read_all(partition, Isolation::ReadUncommitted);
    batches
        .into_iter()
        .find(|b| b.header.base_offset == offset && b.header.is_control())
        .map(|b| b.header)
}

#[test]
fn an_aborted_value_never_replaces_the_committed_one_and_aborted_records_are_removed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let partition = open(dir.path(), false);
    plain(&partition, "k1", "committed-1");
    plain(&partition, "k2", "committed-2");
    // Producer 1 aborts a later value for k1 and a key of its own.
    let aborted_batch = txn(
        &partition,
        1,
        0,
        &[("k1", "aborted-1"), ("k3", "aborted-3")],
    );
    let abort = marker(&partition, 1, false);
    // Producer 2 commits a new k2 in two batches around producer 1's next transaction.
    txn(&partition, 2, 0, &[("k2", "txn-2")]);
    let later = txn(&partition, 1, 2, &[("k4", "committed-4")]);
    txn(&partition, 2, 1, &[("k5", "txn-5")]);
    marker(&partition, 2, true);
    marker(&partition, 1, true);
    filler(&partition, "a");
    let expected = BTreeMap::from(
        [
            ("k1", "committed-1"),
            ("k2", "txn-2"),
            ("k4", "committed-4"),
            ("k5", "txn-5"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    let committed_before = table(&partition, Isolation::ReadCommitted);
    for (key, value) in &expected {
        assert_eq!(committed_before.get(key), Some(value), "before: {key}");
    }
    let entries = partition.log().aborted_txns().expect("index");
    assert_eq!(entries.len(), 1);

    let outcome = clean(&partition, NOW).expect("cleaned");
    assert!(outcome.first_dirty > abort, "{outcome:?}");
    for isolation in [Isolation::ReadCommitted, Isolation::ReadUncommitted] {
        let seen = table(&partition, isolation);
        for (key, value) in &expected {
            assert_eq!(seen.get(key), Some(value), "{isolation:?}: {key}");
        }
        assert!(
            !seen.contains_key("k3"),
            "{isolation:?} sees an aborted key"
        );
    }
    let left = record_offsets(&partition);
    assert!(
        !left.contains(&aborted_batch) && !left.contains(&(aborted_batch + 1)),
        "the aborted records are gone"
    );
    assert!(left.contains(&later), "the committed transaction stays");
    // The marker stays this time (its data was there to remove), and so does its entry.
    assert!(marker_at(&partition, abort).is_some());
    assert_eq!(partition.log().aborted_txns().expect("index"), entries);
}

#[test]
fn markers_go_only_after_their_data_and_then_their_delete_horizon() {
    let dir = tempfile::tempdir().expect("tempdir");
    let partition = open(dir.path(), false);
    txn(&partition, 1, 0, &[("k1", "aborted")]);
    let abort = marker(&partition, 1, false);
    txn(&partition, 2, 0, &[("k2", "committed")]);
    let commit = marker(&partition, 2, true);
    // Both producers write on, so neither marker's transaction holds a last batch.
    txn(&partition, 1, 1, &[("p1", "later")]);
    marker(&partition, 1, true);
    txn(&partition, 2, 1, &[("p2", "later")]);
    marker(&partition, 2, true);
    plain(&partition, "k2", "superseded");
    filler(&partition, "a");

    // 1: the aborted data and the superseded committed record go; both markers stay, since
    // this clean met their transactions' batches.
    clean(&partition, NOW).expect("cleaned");
    let first = marker_at(&partition, abort).expect("abort marker kept");
    assert_eq!(first.delete_horizon(), None);
    let commit_first = marker_at(&partition, commit).expect("commit marker kept");
    assert_eq!(commit_first.delete_horizon(), None);
    assert_eq!(partition.log().aborted_txns().expect("index").len(), 1);

    // 2: nothing of either transaction is left: each marker gets its delete horizon, and the
    // aborted transaction's entry is not carried over.
    filler(&partition, "b");
    let second = NOW + 5;
    clean(&partition, second).expect("cleaned");
    let horizon = second + RETENTION;
    for offset in [abort, commit] {
        let header = marker_at(&partition, offset).expect("marker kept until its horizon");
        assert_eq!(header.delete_horizon(), Some(horizon), "marker at {offset}");
    }
    assert_eq!(partition.log().aborted_txns().expect("index"), vec![]);

    // 3: before the horizon they stay; at it they go.
    filler(&partition, "c");
    clean(&partition, horizon - 1).expect("cleaned");
    assert!(marker_at(&partition, abort).is_some() && marker_at(&partition, commit).is_some());
    filler(&partition, "d");
    clean(&partition, horizon).expect("cleaned");
    assert!(
        marker_at(&partition, abort).is_none(),
        "abort marker removed"
    );
    assert!(
        marker_at(&partition, commit).is_none(),
        "commit marker removed"
    );
    let seen = table(&partition, Isolation::ReadCommitted);
    assert_eq!(seen.get("k2").map(String::as_str), Some("superseded"));
    assert!(!seen.contains_key("k1"));
    assert_eq!(seen.get("p1").map(String::as_str), Some("later"));
}

#[test]
fn a_transaction_still_open_keeps_its_records_and_everything_after_uncleaned() {
    let dir = tempfile::tempdir().expect("tempdir");
    let partition = open(dir.path(), false);
    plain(&partition, "k", "old");
    filler(&partition, "a");
    let open_txn = txn(&partition, 3, 0, &[("k", "in-transaction")]);
    plain(&partition, "k", "newer");
    filler(&partition, "b");
    let lso = partition.offsets().last_stable;
    assert_eq!(lso, open_txn);

    let outcome = clean(&partition, NOW).expect("the part before the LSO is cleaned");
    assert!(outcome.first_dirty <= lso, "{outcome:?}");
    let left = record_offsets(&partition);
    assert!(
        left.contains(&open_txn),
        "the open transaction's record stays"
    );
    assert!(
        left.contains(&0),
        "nothing past the LSO shadowed k's old value yet"
    );
    assert!(
        clean(&partition, NOW).is_none(),
        "nothing more to clean below the LSO"
    );

    // Once it commits, the newer plain value wins over both.
    marker(&partition, 3, true);
    filler(&partition, "c");
    clean(&partition, NOW).expect("cleaned");
    let left = record_offsets(&partition);
    assert!(!left.contains(&0) && !left.contains(&open_txn));
    let seen = table(&partition, Isolation::ReadCommitted);
    assert_eq!(seen.get("k").map(String::as_str), Some("newer"));
}

#[test]
fn an_aborted_last_batch_of_a_producer_stays_empty_with_its_marker_and_producer_state() {
    let dir = tempfile::tempdir().expect("tempdir");
    let partition = open(dir.path(), false);
    plain(&partition, "k", "committed");
    let last = txn(&partition, 5, 0, &[("k", "aborted"), ("x", "aborted")]);
    let abort = marker(&partition, 5, false);
    filler(&partition, "a");
    let entries = partition.log().aborted_txns().expect("index");

    for (round, tag) in ["b", "c"].into_iter().enumerate() {
        let now = NOW + 2 * RETENTION * round as i64;
        clean(&partition, now).expect("cleaned");
        let (batches, _) = read_all(&partition, Isolation::ReadUncommitted);
        let emptied = batches
            .iter()
            .find(|b| b.header.base_offset == last)
            .expect("the producer's last batch stays");
        assert_eq!(emptied.header.record_count, 0);
        assert_eq!(
            (
                emptied.header.producer_id,
                emptied.header.base_sequence,
                emptied.header.last_offset()
            ),
            (5, 0, last + 1)
        );
        assert!(emptied.header.is_transactional());
        // Its transaction still has a batch: the marker and the index entry stay.
        assert!(marker_at(&partition, abort).is_some(), "round {round}");
        assert_eq!(partition.log().aborted_txns().expect("index"), entries);
        let seen = table(&partition, Isolation::ReadCommitted);
        assert_eq!(seen.get("k").map(String::as_str), Some("committed"));
        assert!(!seen.contains_key("x"));
        filler(&partition, tag);
    }

    // Rebuilt from the log alone, the producer's sequence is known and no transaction is
    // left open.
    let offsets = partition.offsets();
    drop(partition);
    for entry in std::fs::read_dir(dir.path().join("t-0")).expect("list") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "snapshot") {
            std::fs::remove_file(path).expect("remove snapshot");
        }
    }
    let partition = open(dir.path(), false);
    assert_eq!(partition.offsets().last_stable, offsets.last_stable);
    assert_eq!(partition.log().aborted_txns().expect("index"), entries);
    let producers = partition.producers();
    assert!(matches!(
        producers.check(5, 0, 0, 1),
        Ok(SequenceCheck::Duplicate(_))
    ));
    assert!(matches!(
        producers.check(5, 0, 5, 5),
        Err(SequenceError::OutOfOrder { expected: 2, .. })
    ));
}

#[test]
fn a_producers_last_marker_stays_while_the_producer_is_tracked_and_older_ones_go() {
    let dir = tempfile::tempdir().expect("tempdir");
    let partition = open(dir.path(), false);
    txn(&partition, 6, 0, &[("k", "v0")]);
    let commit = marker(&partition, 6, true);
    // A marker at a newer epoch (as transaction version 2 writes them) comes last: it holds
    // the producer's epoch, and its transaction has no data here.
    let bumped = partition
        .write_marker(6, 1, 0, false, NOW)
        .expect("marker")
        .base_offset;
    plain(&partition, "k", "v1");
    filler(&partition, "a");
    let last = partition.producers().last_records()[&6];
    assert_eq!((last.last_data_offset, last.epoch), (None, 1));

    for round in 0..3 {
        filler(&partition, &format!("r{round}"));
        clean(&partition, NOW + 10 * RETENTION * round).expect("cleaned");
    }
    assert!(
        marker_at(&partition, commit).is_none(),
        "the older marker went after its horizon"
    );
    let kept = marker_at(&partition, bumped).expect("the producer's last marker stays");
    assert_eq!((kept.producer_id, kept.producer_epoch), (6, 1));
    assert!(partition.log().aborted_txns().expect("index").is_empty());
}

#[test]
fn an_emptied_batch_goes_once_its_producer_is_no_longer_tracked() {
    use super::tests::{BUDGET, append, batches, config, open};
    use crate::log::{LastRecord, ProducerView};

    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = open(dir.path(), config());
    let mut batch = BatchBuilder::new(NOW)
        .producer(7, 0, 0)
        .record(Some(b"x"), Some(b"old"), NOW)
        .build();
    log.append(&mut batch, 0, NOW).expect("append");
    let first = BatchHeader::parse(&batch).expect("header");
    append(&mut log, &[("x", Some("new"))], NOW);
    for i in 0..12 {
        append(&mut log, &[(&format!("f{i}"), Some("filler-value"))], NOW);
    }
    let find = |log: &crate::log::PartitionLog| {
        batches(log)
            .into_iter()
            .map(|b| BatchHeader::parse(&b).expect("header"))
            .find(|h| h.base_offset == first.base_offset)
    };
    let tracked = ProducerView {
        last_stable: i64::MAX,
        producers: [(
            7,
            LastRecord {
                last_data_offset: Some(first.last_offset()),
                epoch: 0,
            },
        )]
        .into(),
    };
    log.clean(NOW, BUDGET, tracked.clone())
        .expect("clean")
        .expect("ran");
    let emptied = find(&log).expect("kept while tracked");
    assert_eq!((emptied.record_count, emptied.producer_id), (0, 7));
    // A later clean while still tracked keeps it; once the producer is gone, so is it.
    for i in 0..12 {
        append(&mut log, &[(&format!("g{i}"), Some("filler-value"))], NOW);
    }
    log.clean(NOW, BUDGET, tracked)
        .expect("clean")
        .expect("ran");
    assert!(find(&log).is_some());
    for i in 0..12 {
        append(&mut log, &[(&format!("h{i}"), Some("filler-value"))], NOW);
    }
    log.clean(NOW, BUDGET, ProducerView::unbounded())
        .expect("clean")
        .expect("ran");
    assert!(
        find(&log).is_none(),
        "an untracked producer's empty batch goes"
    );
}

#[test]
fn a_crash_at_any_step_of_a_transactional_swap_reopens_to_the_same_committed_values() {
    use super::SwapStep;
    use crate::log::ProducerView;

    for stop in [
        SwapStep::Written,
        SwapStep::Renamed,
        SwapStep::Retired,
        SwapStep::Installed,
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let partition = open(dir.path(), false);
        plain(&partition, "k1", "committed-1");
        txn(
            &partition,
            1,
            0,
            &[("k1", "aborted-1"), ("k3", "aborted-3")],
        );
        let abort = marker(&partition, 1, false);
        txn(&partition, 2, 0, &[("k2", "txn-2")]);
        marker(&partition, 2, true);
        txn(&partition, 1, 2, &[("k4", "committed-4")]);
        marker(&partition, 1, true);
        filler(&partition, "a");
        let committed = table(&partition, Isolation::ReadCommitted);
        let entries = partition.log().aborted_txns().expect("index");
        assert_eq!(entries.len(), 1);
        {
            let view = ProducerView {
                last_stable: partition.offsets().last_stable,
                producers: partition.producers().last_records(),
            };
            let mut log = partition.log();
            log.flush().expect("flush");
            let cleaned = log
                .plan_clean(NOW, view)
                .expect("plan")
                .expect("due")
                .run(1 << 20, &Throttle::unlimited())
                .expect("run")
                .expect("cleaned");
            assert!(
                log.swap_in_until(cleaned, Some(stop))
                    .expect("swap")
                    .is_none()
            );
        }
        drop(partition); // the crash

        let partition = open(dir.path(), false);
        assert_eq!(
            table(&partition, Isolation::ReadCommitted),
            committed,
            "{stop:?}"
        );
        // Past the first step the swap is completed on opening: the aborted records are gone.
        let uncommitted = table(&partition, Isolation::ReadUncommitted);
        assert_eq!(
            uncommitted == committed,
            stop != SwapStep::Written,
            "{stop:?}"
        );
        assert_eq!(
            partition.log().aborted_txns().expect("index"),
            entries,
            "{stop:?}"
        );
        assert!(marker_at(&partition, abort).is_some(), "{stop:?}");
        // It cleans on: the aborted records go if they had not.
        filler(&partition, "b");
        clean(&partition, NOW).expect("cleaned");
        assert_eq!(table(&partition, Isolation::ReadUncommitted), {
            let mut want = committed.clone();
            want.extend((0..12).map(|i| (format!("b-{i}"), "filler-value".to_owned())));
            want
        });
    }
}
