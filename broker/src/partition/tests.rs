//! The partition's producer state across restarts, its read plans, watches and events.

use std::collections::BTreeMap;
use std::path::Path;

use bytes::Bytes;

use super::*;
use crate::config::BrokerSettings;
use crate::log::test_batch::idempotent_batch_of;
use crate::producer_state::SequenceCheck;
use crate::topics::{NewTopic, Topics};

const PRODUCER: i64 = 5;

fn open(dir: &Path, clean_shutdown: bool) -> Topics {
    Topics::open(dir, BrokerSettings::default(), clean_shutdown).unwrap()
}

/// Topic "t" with 2 KiB segments and `batches` batches of 5 records from
/// producer 5, sequences 0, 5, 10, ...
fn topic_with_batches(dir: &Path, batches: i32) -> Topics {
    let topics = open(dir, false);
    let topic = NewTopic {
        name: "t".to_owned(),
        partitions: 1,
        replication_factor: -1,
        configs: BTreeMap::from([("segment.bytes".to_owned(), "2048".to_owned())]),
    };
    topics.create(&topic, false).unwrap();
    let partition = topics.partition("t", 0).unwrap();
    for i in 0..batches {
        let batch = idempotent_batch_of(5, 1_000, (PRODUCER, 0, i * 5));
        assert!(
            partition
                .append(Bytes::from(batch), AppendOrigin::Client, 2_000)
                .is_ok()
        );
    }
    // A roll's snapshot is written after the closed segment's background fsync.
    partition.log().wait_for_rolls().unwrap();
    topics
}

fn snapshots(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("t-0"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".snapshot"))
        .collect();
    names.sort();
    names
}

/// What the partition's producer state says of the last batch, of one
/// just before it, and of the next and a gapped sequence.
fn verdicts(topics: &Topics, batches: i32) -> Vec<String> {
    let partition = topics.partition("t", 0).unwrap();
    let states = partition.producers();
    let last = (batches - 1) * 5;
    [last, last - 5, last + 5, last + 50]
        .into_iter()
        .map(|first| format!("{:?}", states.check(PRODUCER, 0, first, first + 4)))
        .collect()
}

/// What the partition's producer state says of a one-record batch of
/// `producer` (epoch 0) at sequence `seq`.
fn one_record_verdict(
    topics: &Topics,
    producer: i64,
    seq: i32,
) -> Result<SequenceCheck, crate::producer_state::SequenceError> {
    let partition = topics.partition("t", 0).unwrap();
    let states = partition.producers();
    states.check(producer, 0, seq, seq)
}

/// A batch of one record, sequence 0, at `offset`.
fn one_record_batch(offset: i64) -> BatchMeta {
    BatchMeta {
        first_seq: 0,
        last_seq: 0,
        first_offset: offset,
        last_offset: offset,
        timestamp: 0,
    }
}

#[test]
fn a_restart_replays_only_what_follows_the_newest_producer_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let batches = 60;
    let topics = topic_with_batches(dir.path(), batches);
    let expected = verdicts(&topics, batches);
    assert!(expected[0].starts_with("Ok(Duplicate"), "{expected:?}");
    assert!(expected[1].starts_with("Ok(Duplicate"), "{expected:?}");
    assert_eq!(expected[2], "Ok(Append)");
    assert!(expected[3].starts_with("Err(OutOfOrder"), "{expected:?}");
    let active = topics.partition("t", 0).unwrap().log().active_base_offset();
    assert!(active > 0, "the log rolled");
    drop(topics);

    // Rolls left snapshots: the newest at the active segment's base, and
    // one older one, no more.
    let names = snapshots(dir.path());
    assert_eq!(names.len(), 2, "{names:?}");
    assert_eq!(names[1], format!("{active:020}.snapshot"));

    // A crash restart (no clean shutdown) opens from the newest snapshot.
    // A producer only that snapshot knows shows it was read, not replayed past.
    let partition_dir = dir.path().join("t-0");
    let (_, mut marked) = ProducerStates::read_snapshot(&partition_dir, active)
        .unwrap()
        .unwrap();
    marked.record(77, 0, one_record_batch(active - 1));
    marked
        .write_snapshot(&partition_dir, active, false)
        .unwrap();
    let reopened = open(dir.path(), false);
    assert_eq!(verdicts(&reopened, batches), expected);
    assert!(matches!(
        one_record_verdict(&reopened, 77, 0),
        Ok(SequenceCheck::Duplicate(_))
    ));
    drop(reopened);

    // Without snapshots the whole log is replayed, to the same state.
    for name in snapshots(dir.path()) {
        std::fs::remove_file(partition_dir.join(name)).unwrap();
    }
    let replayed = open(dir.path(), false);
    assert_eq!(verdicts(&replayed, batches), expected);
    // A clean shutdown leaves a snapshot at the log end: nothing to replay.
    replayed.flush_all().unwrap();
    let end = replayed.partition("t", 0).unwrap().log().log_end_offset();
    assert_eq!(
        snapshots(dir.path()).last().unwrap(),
        &format!("{end:020}.snapshot")
    );
    drop(replayed);
    assert_eq!(verdicts(&open(dir.path(), true), batches), expected);
}

#[test]
fn snapshots_past_the_log_end_or_damaged_are_passed_over() {
    let dir = tempfile::tempdir().unwrap();
    let batches = 60;
    let topics = topic_with_batches(dir.path(), batches);
    let expected = verdicts(&topics, batches);
    let end = topics.partition("t", 0).unwrap().log().log_end_offset();
    drop(topics);
    let partition_dir = dir.path().join("t-0");
    let names = snapshots(dir.path());

    // One past the log end (a crash lost the tail it describes) claiming a
    // producer the log does not have; the newest real one damaged.
    let mut ahead = ProducerStates::default();
    ahead.record(88, 0, one_record_batch(end));
    ahead
        .write_snapshot(&partition_dir, end + 10, false)
        .unwrap();
    let newest = partition_dir.join(&names[1]);
    let mut bytes = std::fs::read(&newest).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&newest, bytes).unwrap();

    let reopened = open(dir.path(), false);
    assert_eq!(verdicts(&reopened, batches), expected);
    assert!(matches!(
        one_record_verdict(&reopened, 88, 5),
        Ok(SequenceCheck::Append)
    ));
    assert!(
        !partition_dir
            .join(format!("{:020}.snapshot", end + 10))
            .exists(),
        "a snapshot past the log end is removed, before the log grows past it"
    );
}
