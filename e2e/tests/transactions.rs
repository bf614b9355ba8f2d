//! Transactions with real clients — the Java client 4.x (Transactions V2: the epoch bumped on
//! every end, partitions added by the produce) and librdkafka (the classic flow:
//! AddPartitionsToTxn, AddOffsetsToTxn): a transactional producer commits 100 records,
//! aborts 100 and commits 50, each with the consumer group's offset in the transaction;
//! read_committed consumers see exactly the 150 committed records in order, read_uncommitted
//! ones all 250, and the group's offset is the last committed transaction's.
//!
//! Needs `FJORD_JAVA` and `FJORD_KAFKA_JAVA_CP` from `scripts/install-test-tools`.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::time::{Duration, Instant};

use fjord_e2e::kafka::create_topic;
use fjord_e2e::{BrokerProcess, java_client};
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::message::Message as _;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer as _, ThreadedProducer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

fn values(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("v{i}")).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_java_client_commits_and_aborts_transactions_with_group_offsets() {
    let broker = BrokerProcess::start(&[]).unwrap();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "txn", 1, &[]).await.unwrap();
    let out = tokio::task::spawn_blocking(move || {
        java_client(&["transactions", &bootstrap, "txn", "txn-readers"])
    })
    .await
    .unwrap()
    .unwrap();
    let fact = |name: &str| -> Vec<String> {
        out.lines()
            .find_map(|line| line.strip_prefix(&format!("fact {name} ")))
            .unwrap_or_else(|| panic!("no fact {name}: {out}"))
            .split(' ')
            .map(str::to_owned)
            .collect()
    };
    // Exactly the committed records, in order: the first 100 and the last 50.
    let committed: Vec<String> = values(0..100).into_iter().chain(values(200..250)).collect();
    let read = fact("read_committed");
    assert_eq!(read[0], "150", "{out}");
    assert_eq!(read[1].split(',').collect::<Vec<_>>(), committed, "{out}");
    // Everything written, the aborted records too (the markers are not records).
    let read = fact("read_uncommitted");
    assert_eq!(read[0], "250", "{out}");
    assert_eq!(
        read[1].split(',').collect::<Vec<_>>(),
        values(0..250),
        "{out}"
    );
    // The group's offset is the last committed transaction's, never the aborted one's.
    assert_eq!(fact("group-offset"), ["250"], "{out}");
}

/// Every value of partition 0 of `topic` at `isolation`, read from the start until `expected`
/// arrived and then a second more (so an extra record would be seen).
fn read_values(bootstrap: &str, topic: &str, isolation: &str, expected: usize) -> Vec<String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("reader-{isolation}"))
        .set("enable.auto.commit", "false")
        .set("isolation.level", isolation)
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&assignment).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut values = Vec::new();
    let mut complete_at = None;
    while Instant::now() < deadline {
        if values.len() >= expected {
            let at = *complete_at.get_or_insert_with(Instant::now);
            if at.elapsed() > Duration::from_secs(1) {
                break;
            }
        }
        let Some(message) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let message = message.unwrap();
        values.push(String::from_utf8_lossy(message.payload().unwrap_or_default()).into_owned());
    }
    values
}

#[tokio::test(flavor = "multi_thread")]
async fn librdkafka_commits_and_aborts_transactions_with_group_offsets() {
    let broker = BrokerProcess::start(&[]).unwrap();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "rd-txn", 1, &[]).await.unwrap();
    let run = bootstrap.clone();
    tokio::task::spawn_blocking(move || {
        let bootstrap = run;
        // Threaded: delivery reports are polled in the background, as an abort needs.
        let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("transactional.id", "rdkafka-txn")
            .create()
            .unwrap();
        let timeout = Duration::from_secs(30);
        producer.init_transactions(timeout).unwrap();
        let group: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("group.id", "rd-txn-readers")
            .create()
            .unwrap();
        let metadata = group.group_metadata().unwrap();
        for (range, commit) in [(0..100, true), (100..200, false), (200..250, true)] {
            producer.begin_transaction().unwrap();
            for i in range.clone() {
                let value = format!("v{i}");
                producer
                    .send(
                        BaseRecord::<(), _>::to("rd-txn")
                            .partition(0)
                            .payload(&value),
                    )
                    .map_err(|(error, _)| error)
                    .unwrap();
            }
            let mut offsets = TopicPartitionList::new();
            offsets
                .add_partition_offset("rd-txn", 0, Offset::Offset(range.end as i64))
                .unwrap();
            producer
                .send_offsets_to_transaction(&offsets, &metadata, timeout)
                .unwrap();
            if commit {
                producer.commit_transaction(timeout).unwrap();
            } else {
                producer.abort_transaction(timeout).unwrap();
            }
        }
    })
    .await
    .unwrap();
    let committed: Vec<String> = values(0..100).into_iter().chain(values(200..250)).collect();
    assert_eq!(
        read_values(&bootstrap, "rd-txn", "read_committed", 150),
        committed
    );
    assert_eq!(
        read_values(&bootstrap, "rd-txn", "read_uncommitted", 250),
        values(0..250)
    );
    let group: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", "rd-txn-readers")
        .create()
        .unwrap();
    let mut wanted = TopicPartitionList::new();
    wanted.add_partition("rd-txn", 0);
    let offsets = group
        .committed_offsets(wanted, Duration::from_secs(10))
        .unwrap();
    assert_eq!(
        offsets.elements()[0].offset(),
        Offset::Offset(250),
        "the last committed transaction's offset"
    );
}
