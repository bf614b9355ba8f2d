//! A compacted partition: produce refuses records without a key, the cleaner runs through
//! the partition (and the maintenance pass), and producer state survives a clean.

use std::collections::BTreeMap;

use bytes::Bytes;
use kafka_protocol::ResponseError;

use super::*;
use crate::api::errors::partition_error;
use crate::config::BrokerSettings;
use crate::log::builder::BatchBuilder;
use crate::log::test_batch::{Codec, Record, encode_batch_with};
use crate::topics::{NewTopic, Topics};

const NOW: i64 = 1_000_000;

fn compacted_topic(dir: &Path) -> Topics {
    let topics = Topics::open(dir, BrokerSettings::default(), false).expect("open");
    let topic = NewTopic {
        name: "t".to_owned(),
        partitions: 1,
        replication_factor: -1,
        configs: BTreeMap::from([
            ("cleanup.policy".to_owned(), "compact".to_owned()),
            ("segment.bytes".to_owned(), "1024".to_owned()),
            ("min.cleanable.dirty.ratio".to_owned(), "0.01".to_owned()),
        ]),
    };
    topics.create(&topic, false).expect("create");
    topics
}

fn keyed(key: &str, value: Option<&str>) -> Bytes {
    Bytes::from(
        BatchBuilder::new(NOW)
            .record(Some(key.as_bytes()), value.map(str::as_bytes), NOW)
            .build(),
    )
}

#[test]
fn a_keyless_record_is_refused_by_a_compacted_topic_and_a_keyed_one_accepted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let topics = compacted_topic(dir.path());
    let partition = topics.partition("t", 0).expect("partition");
    // One keyed record, then a keyless one in the same (compressed) batch: all refused.
    for codec in [Codec::None, Codec::Gzip, Codec::Zstd] {
        let records = [Record::new(b"k", b"v", 0), Record::new(b"", b"no key", 1)];
        let batch = encode_batch_with(0, NOW, &records, codec);
        let error = partition
            .append(Bytes::from(batch), AppendOrigin::Client, NOW)
            .err()
            .expect("refused");
        assert_eq!(
            partition_error(&error),
            ResponseError::InvalidRecord,
            "{codec:?}"
        );
        assert_eq!(
            error.to_string(),
            "Compacted topic cannot accept message without key in topic partition t-0."
        );
    }
    assert_eq!(partition.offsets().log_end, 0, "nothing was written");
    let appended = partition
        .append(keyed("k", None), AppendOrigin::Client, NOW)
        .expect("a keyed tombstone is accepted");
    assert_eq!(appended.base_offset, 0);

    // Records that do not decode are CORRUPT_MESSAGE, as Kafka answers.
    let garbage = crate::log::test_batch::wrap_records(0, (NOW, NOW), (1, 0), 0, &[0xff; 8]);
    let error = partition
        .append(Bytes::from(garbage), AppendOrigin::Client, NOW)
        .err()
        .expect("refused");
    assert_eq!(partition_error(&error), ResponseError::CorruptMessage);

    // A topic that is not compacted takes keyless records.
    let plain = NewTopic {
        name: "plain".to_owned(),
        partitions: 1,
        replication_factor: -1,
        configs: BTreeMap::new(),
    };
    topics.create(&plain, false).expect("create");
    let records = [Record::new(b"", b"no key", 0)];
    let batch = encode_batch_with(0, NOW, &records, Codec::None);
    topics
        .partition("plain", 0)
        .expect("partition")
        .append(Bytes::from(batch), AppendOrigin::Client, NOW)
        .expect("accepted");
}

#[test]
fn the_cleaner_pass_compacts_a_partition_and_producer_state_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let topics = compacted_topic(dir.path());
    let partition = topics.partition("t", 0).expect("partition");
    // An idempotent producer updating few keys: every batch but the last is superseded.
    for seq in 0..60 {
        let batch = BatchBuilder::new(NOW)
            .producer(42, 1, seq)
            .record(
                Some(format!("k{}", seq % 3).as_bytes()),
                Some(b"value"),
                NOW,
            )
            .build();
        partition
            .append(Bytes::from(batch), AppendOrigin::Client, NOW)
            .expect("append");
    }
    // Another producer's updates close the first one's last batch into a segment.
    for seq in 0..30 {
        let batch = BatchBuilder::new(NOW)
            .producer(43, 0, seq)
            .record(
                Some(format!("k{}", seq % 3).as_bytes()),
                Some(b"value"),
                NOW,
            )
            .build();
        partition
            .append(Bytes::from(batch), AppendOrigin::Client, NOW)
            .expect("append");
    }
    // Producer 44's only batch loses its first record to producer 45's updates.
    let partial = BatchBuilder::new(NOW)
        .producer(44, 0, 0)
        .record(Some(b"k0"), Some(b"value"), NOW)
        .record(Some(b"solo"), Some(b"value"), NOW)
        .build();
    partition
        .append(Bytes::from(partial), AppendOrigin::Client, NOW)
        .expect("append");
    for seq in 0..30 {
        let batch = BatchBuilder::new(NOW)
            .producer(45, 0, seq)
            .record(
                Some(format!("k{}", seq % 3).as_bytes()),
                Some(b"value"),
                NOW,
            )
            .build();
        partition
            .append(Bytes::from(batch), AppendOrigin::Client, NOW)
            .expect("append");
    }
    partition.log().wait_for_rolls().expect("rolls");
    let before = partition.log().size_bytes();
    let cleanable = partition.cleanable(NOW).expect("measure").expect("dirty");
    assert!(cleanable.due, "{cleanable:?}");

    crate::maintenance::LogCleaner::new(topics.settings()).clean_logs(&topics);
    assert!(
        partition.log().size_bytes() < before / 2,
        "the pass compacted the log"
    );
    assert!(
        partition
            .clean(NOW, 1 << 20, &crate::log::Throttle::unlimited())
            .expect("clean")
            .is_none(),
        "nothing left to do"
    );

    // Producer 42's last batch was kept (empty): after a restart without a snapshot its
    // next sequence is still known, and a duplicate of its last batch is recognised.
    partition.flush_for_shutdown().expect("flush");
    drop(partition);
    drop(topics);
    for entry in std::fs::read_dir(dir.path().join("t-0")).expect("list") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "snapshot") {
            std::fs::remove_file(path).expect("remove snapshot");
        }
    }
    let topics = Topics::open(dir.path(), BrokerSettings::default(), false).expect("reopen");
    let partition = topics.partition("t", 0).expect("partition");
    let producers = partition.producers();
    assert!(
        matches!(
            producers.check(42, 1, 61, 61),
            Err(crate::producer_state::SequenceError::OutOfOrder { expected: 60, .. })
        ),
        "the producer's next sequence is known"
    );
    assert!(matches!(
        producers.check(42, 1, 59, 59),
        Ok(crate::producer_state::SequenceCheck::Duplicate(_))
    ));
    // A batch that kept one of its two records still ends at sequence 1.
    assert!(
        matches!(
            producers.check(44, 0, 3, 3),
            Err(crate::producer_state::SequenceError::OutOfOrder { expected: 2, .. })
        ),
        "the sequence comes from the batch's offsets, not its record count"
    );
}

/// Whether `records` hold a batch with at least one record.
fn holds_a_record(records: &[u8]) -> bool {
    crate::log::batch::split_batches(records)
        .expect("whole batches")
        .iter()
        .any(|(_, header)| header.record_count > 0)
}

#[test]
fn a_read_passes_over_segments_that_compaction_emptied_to_the_next_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let topics = compacted_topic(dir.path());
    let partition = topics.partition("t", 0).expect("partition");
    // Many segments of updates to one key, then a segment of others: after cleaning, the
    // first segments hold nothing but emptied batches.
    for i in 0..80 {
        let value = format!("update-{i}");
        partition
            .append(keyed("hot", Some(&value)), AppendOrigin::Client, NOW)
            .expect("append");
    }
    for i in 0..30 {
        partition
            .append(
                keyed(&format!("cold-{i}"), Some("v")),
                AppendOrigin::Client,
                NOW,
            )
            .expect("append");
    }
    partition.log().wait_for_rolls().expect("rolls");
    partition
        .clean(NOW, 1 << 20, &crate::log::Throttle::unlimited())
        .expect("clean")
        .expect("cleaned");

    // The plain one-segment read from the start finds only emptied batches...
    let first = partition
        .plan_read(0, 1 << 20, Isolation::ReadUncommitted)
        .expect("plan")
        .execute()
        .expect("read");
    assert!(
        !first.is_empty() && !holds_a_record(&first),
        "the first segment holds only emptied batches"
    );
    // ...and a read goes on to the first record that is left.
    let read = partition
        .read(0, 1 << 20, Isolation::ReadUncommitted)
        .expect("read");
    assert!(holds_a_record(&read.records), "a read answers with records");

    // Reading on from each answer sees the latest value of every key, in offset order.
    let (mut next, mut seen) = (0, BTreeMap::new());
    for _ in 0..1_000 {
        let read = partition
            .read(next, 1 << 20, Isolation::ReadUncommitted)
            .expect("read");
        if read.records.is_empty() {
            break;
        }
        for (range, header) in crate::log::batch::split_batches(&read.records).expect("batches") {
            let batch = &read.records[range];
            let records = crate::log::records::BatchRecords::new(batch, 1 << 20).expect("decode");
            for record in records.records() {
                let record = record.expect("record");
                let key = String::from_utf8(record.key.expect("key").to_vec()).expect("utf-8");
                let value = record
                    .value
                    .map(|v| String::from_utf8(v.to_vec()).expect("utf-8"));
                seen.insert(key, value);
            }
            next = header.last_offset() + 1;
        }
    }
    assert_eq!(next, partition.offsets().log_end, "read to the end");
    assert_eq!(seen.len(), 31);
    assert_eq!(seen["hot"].as_deref(), Some("update-79"));
}
