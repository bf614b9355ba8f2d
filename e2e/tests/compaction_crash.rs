//! `kill -9` in the middle of log compaction loses nothing. The cleaner is slowed with
//! `log.cleaner.io.max.bytes.per.second` so that one clean takes seconds; the broker is killed
//! while a clean is writing its `.cleaned` segments (seen in the data directory): just after the
//! first appears, halfway through, and during a second clean of an already compacted log.
//! After every restart a fresh consumer reads the same latest value per key; once cleaning
//! is allowed to finish, it reads exactly one record per key, offsets increasing.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use fjord_e2e::BrokerProcess;
use fjord_e2e::kafka::{Consumed, create_topic, produce_all, producer};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::FutureRecord;
use rdkafka::{Message, Offset, TopicPartitionList};

const TOPIC: &str = "compacted";

type Table = HashMap<Vec<u8>, Option<Vec<u8>>>;

/// Every record of partition 0 from the beginning to the high watermark.
fn read_to_end(bootstrap: &str) -> Vec<Consumed> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "fjord-e2e-compaction-reader")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let (_, high) = consumer
        .fetch_watermarks(TOPIC, 0, Duration::from_secs(30))
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(TOPIC, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&assignment).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut records: Vec<Consumed> = Vec::new();
    while records.last().is_none_or(|r| r.offset < high - 1) {
        assert!(
            Instant::now() < deadline,
            "read {} records, not up to offset {high}",
            records.len()
        );
        let Some(message) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let message = message.unwrap_or_else(|error| {
            panic!(
                "reading after offset {:?} of {high}: {error}",
                records.last().map(|r| r.offset)
            )
        });
        records.push(Consumed {
            partition: message.partition(),
            offset: message.offset(),
            key: message.key().map(<[u8]>::to_vec),
            value: message.payload().map(<[u8]>::to_vec),
            timestamp: message.timestamp().to_millis(),
        });
    }
    assert!(
        records.windows(2).all(|w| w[0].offset < w[1].offset),
        "offsets increase"
    );
    records
}

/// Key → latest value (None: a tombstone) after replaying `records` in order.
fn replay(records: &[Consumed]) -> Table {
    records
        .iter()
        .map(|r| {
            (
                r.key.clone().expect("every record has a key"),
                r.value.clone(),
            )
        })
        .collect()
}

/// Files of the partition directory whose names end with `suffix`.
fn files_ending(partition_dir: &Path, suffix: &str) -> usize {
    std::fs::read_dir(partition_dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().ends_with(suffix))
                .count()
        })
        .unwrap_or(0)
}

/// Polls `condition` every 10 ms for up to a minute.
fn wait_for(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `rounds` updates to 20 keys (and two new keys a round), then tombstones for the first `tombstones` keys, then 150
/// records of new keys that push them all out of the active segment.
async fn produce_updates(bootstrap: &str, tag: &str, rounds: usize, latest: &mut Table) {
    let updates = producer(
        bootstrap,
        &[("compression.type", "none"), ("batch.size", "4096")],
    )
    .unwrap();
    let mut records = Vec::new();
    for round in 0..rounds {
        for key in 0..20 {
            let key = format!("key-{key:02}").into_bytes();
            let value = format!("{tag} round {round} {}", "x".repeat(150)).into_bytes();
            records.push((key, value));
        }
        // Keys written once: every cleaned segment keeps records, so each kill lands in a
        // rewrite that moves data (reading past segments left with nothing but emptied
        // batches is `compaction.rs`'s test).
        for once in 0..2 {
            let key = format!("{tag}-once-{round:03}-{once}").into_bytes();
            records.push((key, format!("{tag} once {}", "y".repeat(150)).into_bytes()));
        }
    }
    for key in 0..150 {
        let key = format!("{tag}-filler-{key:03}").into_bytes();
        records.push((key, "f".repeat(150).into_bytes()));
    }
    let (updates_part, filler) = records.split_at(rounds * 22);
    produce_all(&updates, TOPIC, updates_part, 200)
        .await
        .unwrap();
    for (key, value) in updates_part {
        latest.insert(key.clone(), Some(value.clone()));
    }
    for key in 0..5 {
        let key = format!("key-{key:02}").into_bytes();
        updates
            .send(
                FutureRecord::<Vec<u8>, Vec<u8>>::to(TOPIC).key(&key),
                Duration::from_secs(30),
            )
            .await
            .map_err(|(e, _)| e)
            .unwrap();
        latest.insert(key, None);
    }
    produce_all(&updates, TOPIC, filler, 200).await.unwrap();
    for (key, value) in filler {
        latest.insert(key.clone(), Some(value.clone()));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kill_9_in_the_middle_of_compaction_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let partition_dir = data.join(format!("{TOPIC}-0"));
    let config = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let no_cleaner = config("off.properties", "log.cleaner.enable=false\n");
    // About 500 KB of reads and writes per clean below: ten seconds at 50 KB/s.
    let slow = config(
        "slow.properties",
        "log.cleaner.backoff.ms=100\nlog.cleaner.io.max.bytes.per.second=50000\n",
    );
    let fast = config("fast.properties", "log.cleaner.backoff.ms=100\n");
    let start =
        |properties: &str| BrokerProcess::start_in(&data, &["--config", properties]).unwrap();

    // Everything is written before the cleaner first runs, so its first clean covers it all.
    let mut latest = Table::new();
    let mut broker = start(&no_cleaner);
    create_topic(
        &broker.bootstrap(),
        TOPIC,
        1,
        &[
            ("cleanup.policy", "compact"),
            ("segment.bytes", "16384"),
            ("min.cleanable.dirty.ratio", "0.01"),
        ],
    )
    .await
    .unwrap();
    produce_updates(&broker.bootstrap(), "first", 60, &mut latest).await;
    assert_eq!(replay(&read_to_end(&broker.bootstrap())), latest);
    broker.stop().unwrap();
    let segments = files_ending(&partition_dir, ".log");
    assert!(segments > 10, "{segments} segments");

    // 1. Killed just as the first cleaned segment is being written.
    let mut broker = start(&slow);
    wait_for("a cleaned segment being written", || {
        files_ending(&partition_dir, ".log.cleaned") > 0
    });
    broker.kill9().unwrap();
    assert!(files_ending(&partition_dir, ".log.cleaned") > 0);

    // 2. Killed halfway through writing the cleaned segments.
    let mut broker = start(&slow);
    // The restarted clean reads for seconds before it writes again.
    assert_eq!(
        files_ending(&partition_dir, ".cleaned"),
        0,
        "opening the partition deleted the cleaned files of the killed clean"
    );
    assert_eq!(replay(&read_to_end(&broker.bootstrap())), latest);
    wait_for("half the cleaned segments", || {
        files_ending(&partition_dir, ".log.cleaned") >= segments / 2
    });
    broker.kill9().unwrap();

    // 3. The clean finishes; new updates make the log dirty again, and the broker is killed
    // while that second clean writes.
    let mut broker = start(&slow);
    assert_eq!(replay(&read_to_end(&broker.bootstrap())), latest);
    wait_for("a finished clean", || {
        partition_dir.join("cleaner-offset-checkpoint").exists()
    });
    produce_updates(&broker.bootstrap(), "second", 20, &mut latest).await;
    wait_for("a cleaned segment of the second clean", || {
        files_ending(&partition_dir, ".log.cleaned") > 0
    });
    broker.kill9().unwrap();

    // Unthrottled, the cleaner finishes: one record per key, the latest.
    let broker = start(&fast);
    assert_eq!(replay(&read_to_end(&broker.bootstrap())), latest);
    let deadline = Instant::now() + Duration::from_secs(60);
    let records = loop {
        let records = read_to_end(&broker.bootstrap());
        if records.len() == latest.len() {
            break records;
        }
        assert!(
            Instant::now() < deadline,
            "not compacted: {} records for {} keys",
            records.len(),
            latest.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(replay(&records), latest, "each key reads its latest value");
    assert_eq!(files_ending(&partition_dir, ".cleaned"), 0);
    assert_eq!(files_ending(&partition_dir, ".swap"), 0);
}
