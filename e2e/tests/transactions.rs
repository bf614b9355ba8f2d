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

/// How many `api` requests the broker answered, by its metrics.
fn requests(broker: &BrokerProcess, api: &str) -> u64 {
    let (_, body) = broker.admin_get("/metrics").unwrap();
    body.lines()
        .filter(|line| line.starts_with(&format!("fjord_broker_requests_total{{api=\"{api}\"")))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

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
    // Transactions V2: the produce and TxnOffsetCommit added the partitions.
    assert_eq!(requests(&broker, "EndTxn"), 3);
    assert_eq!(requests(&broker, "AddPartitionsToTxn"), 0);
    assert_eq!(requests(&broker, "AddOffsetsToTxn"), 0);
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
    // The classic flow: partitions and offsets added explicitly.
    assert!(requests(&broker, "AddPartitionsToTxn") >= 3);
    assert!(requests(&broker, "AddOffsetsToTxn") >= 3);
}

/// Starts the broker over `dir`'s data on `listen` (`None`: any port), with the coordinator's
/// timeout check every second; a port just given up may take a moment to be free again.
fn start_on(dir: &std::path::Path, listen: Option<&str>) -> BrokerProcess {
    let config = dir.join("broker.properties");
    std::fs::write(
        &config,
        "transaction.abort.timed.out.transaction.cleanup.interval.ms=1000\n",
    )
    .unwrap();
    let config = config.to_str().unwrap().to_owned();
    let data = dir.join("data");
    let Some(listen) = listen else {
        return BrokerProcess::start_in(&data, &["--config", &config]).unwrap();
    };
    for _ in 0..10 {
        match BrokerProcess::start_on(&data, listen, &["--config", &config]) {
            Ok(broker) => return broker,
            Err(error) => {
                eprintln!("restart on {listen} failed ({error:#}); retrying");
                std::thread::sleep(Duration::from_millis(500));
            }
        }
    }
    panic!("the broker did not restart on {listen}");
}

#[tokio::test(flavor = "multi_thread")]
async fn after_a_kill_9_an_open_transaction_is_aborted_within_its_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = start_on(dir.path(), None);
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "open-txn", 1, &[]).await.unwrap();
    let committed: Vec<String> = values(0..20);
    let open = bootstrap.clone();
    let committed_values = committed.clone();
    tokio::task::spawn_blocking(move || {
        let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
            .set("bootstrap.servers", &open)
            .set("transactional.id", "crashed")
            .set("transaction.timeout.ms", "4000")
            .create()
            .unwrap();
        let timeout = Duration::from_secs(30);
        producer.init_transactions(timeout).unwrap();
        for (batch, commit) in [(&committed_values, true), (&values(100..130), false)] {
            producer.begin_transaction().unwrap();
            for value in batch {
                producer
                    .send(
                        BaseRecord::<(), _>::to("open-txn")
                            .partition(0)
                            .payload(value),
                    )
                    .map_err(|(error, _)| error)
                    .unwrap();
            }
            producer.flush(timeout).unwrap();
            if commit {
                producer.commit_transaction(timeout).unwrap();
            }
        }
        // The second transaction stays open: its producer is gone with the broker.
        std::mem::forget(producer);
    })
    .await
    .unwrap();
    let listen = bootstrap.clone();
    broker.kill9().unwrap();
    let broker = start_on(dir.path(), Some(&listen));
    let started = Instant::now();
    // Records after the open transaction, outside any transaction.
    let after = values(500..510);
    let plain = fjord_e2e::kafka::producer(&bootstrap, &[]).unwrap();
    for value in &after {
        plain
            .send(
                rdkafka::producer::FutureRecord::<(), _>::to("open-txn")
                    .partition(0)
                    .payload(value),
                Duration::from_secs(30),
            )
            .await
            .map_err(|(error, _)| error)
            .unwrap();
    }
    // read_committed gets past the open transaction once the coordinator aborts it (4 s
    // timeout, checked every second): the committed records and the later ones, none of
    // the aborted.
    let expected: Vec<String> = committed.iter().chain(&after).cloned().collect();
    let read = tokio::task::spawn_blocking(move || {
        read_values(&listen, "open-txn", "read_committed", expected.len())
    })
    .await
    .unwrap();
    assert_eq!(
        read,
        committed.iter().chain(&after).cloned().collect::<Vec<_>>()
    );
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "the open transaction took {:?} to end",
        started.elapsed()
    );
    drop(broker);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_java_admin_client_finds_an_open_transaction_and_its_producer() {
    let broker = BrokerProcess::start(&[]).unwrap();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "stuck", 1, &[]).await.unwrap();
    let out = tokio::task::spawn_blocking(move || java_client(&["txnadmin", &bootstrap, "stuck"]))
        .await
        .unwrap()
        .unwrap();
    let facts: Vec<&str> = out.lines().filter(|l| l.starts_with("fact ")).collect();
    for expected in [
        "fact open-listed stuck Ongoing",
        "fact open-described Ongoing 1 true",
        // The open transaction starts at the partition's first offset.
        "fact open-producer true 0",
        "fact committed-listed stuck CompleteCommit",
        "fact committed-described CompleteCommit 0 true",
        "fact committed-producer true -1",
    ] {
        assert!(facts.contains(&expected), "{expected} missing: {out}");
    }
    assert!(
        facts
            .iter()
            .any(|f| f.starts_with("fact unknown TransactionalIdNotFoundException")),
        "{out}"
    );
}
