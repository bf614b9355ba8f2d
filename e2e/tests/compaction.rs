//! Log compaction with a real client: librdkafka produces updates and tombstones to a topic
//! with `cleanup.policy=compact`, the broker's cleaner runs, and a fresh consumer sees exactly
//! the latest record per key; a keyless record is refused with INVALID_RECORD.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use fjord_e2e::BrokerProcess;
use fjord_e2e::kafka::{consume_all, create_topic, keyed_records, produce_all, producer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::FutureRecord;

const TOPIC: &str = "compacted";

/// Bytes of the partition's `.log` files. The cleaner swaps files while this runs: a file
/// gone between the listing and its size counts as nothing.
fn log_bytes(partition_dir: &Path) -> u64 {
    std::fs::read_dir(partition_dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fresh_consumer_of_a_compacted_topic_sees_only_the_latest_record_per_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("broker.properties");
    std::fs::write(&config, "log.cleaner.backoff.ms=200\n").unwrap();
    let data = dir.path().join("data");
    let broker = BrokerProcess::start_in(&data, &["--config", config.to_str().unwrap()]).unwrap();
    let bootstrap = broker.bootstrap();
    create_topic(
        &bootstrap,
        TOPIC,
        1,
        // A low dirty ratio: any dirty segment is cleaned, so the log converges to one record
        // per key whenever the cleaner's passes fall relative to the produce.
        &[
            ("cleanup.policy", "compact"),
            ("segment.bytes", "16384"),
            ("min.cleanable.dirty.ratio", "0.01"),
        ],
    )
    .await
    .unwrap();

    // 40 rounds of updates to 50 keys, lz4-compressed batches.
    let updates = producer(&bootstrap, &[("compression.type", "lz4")]).unwrap();
    let mut latest: HashMap<Vec<u8>, Option<Vec<u8>>> = HashMap::new();
    let mut records = Vec::new();
    for round in 0..40 {
        for key in 0..50 {
            let key = format!("key-{key:02}").into_bytes();
            let value = format!("round {round} {}", "x".repeat(90)).into_bytes();
            latest.insert(key.clone(), Some(value.clone()));
            records.push((key, value));
        }
    }
    produce_all(&updates, TOPIC, &records, 500).await.unwrap();
    // Tombstones for ten keys.
    for key in 0..10 {
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
    // Records of new keys push every update out of the active segment: uncompressed, 300 of
    // them fill more than two 16 KiB segments whatever the updates compressed to.
    let filler = keyed_records("filler", 300, 100);
    for (key, value) in &filler {
        latest.insert(key.clone(), Some(value.clone()));
    }
    let uncompressed = producer(&bootstrap, &[("compression.type", "none")]).unwrap();
    produce_all(&uncompressed, TOPIC, &filler, 100)
        .await
        .unwrap();

    // A keyless record is refused, as Kafka does for compacted topics.
    let plain = producer(
        &bootstrap,
        &[("enable.idempotence", "false"), ("acks", "1")],
    )
    .unwrap();
    let refused = plain
        .send(
            FutureRecord::<Vec<u8>, [u8]>::to(TOPIC).payload(b"no key"),
            Duration::from_secs(30),
        )
        .await;
    match refused {
        Err((KafkaError::MessageProduction(code), _)) => {
            assert_eq!(code, RDKafkaErrorCode::InvalidRecord)
        }
        other => panic!("a keyless record must be refused: {other:?}"),
    }

    // The cleaner runs every 200 ms; wait for the log to shrink.
    let partition_dir = data.join(format!("{TOPIC}-0"));
    let produced: u64 = records
        .iter()
        .map(|(k, v)| (k.len() + v.len()) as u64)
        .sum();
    let deadline = Instant::now() + Duration::from_secs(60);
    while log_bytes(&partition_dir) > produced / 4 {
        assert!(
            Instant::now() < deadline,
            "the log did not shrink: {} bytes on disk for {produced} produced",
            log_bytes(&partition_dir)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Shrunk is not yet compacted all through: read until a pass has cleaned everything.
    let consumed = loop {
        let consumed =
            consume_all(&bootstrap, TOPIC, 1, latest.len(), Duration::from_secs(60)).unwrap();
        let keys: std::collections::HashSet<_> = consumed.iter().map(|r| r.key.clone()).collect();
        if keys.len() == consumed.len() || Instant::now() > deadline {
            break consumed;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let mut seen: HashMap<Vec<u8>, Option<Vec<u8>>> = HashMap::new();
    for record in &consumed {
        let key = record.key.clone().expect("every record has a key");
        assert!(
            seen.insert(key.clone(), record.value.clone()).is_none(),
            "key {} read twice: not compacted ({:?})",
            String::from_utf8_lossy(&key),
            consumed
                .iter()
                .filter(|r| r.key.as_ref() == Some(&key))
                .map(|r| r.offset)
                .collect::<Vec<_>>()
        );
    }
    assert_eq!(seen, latest, "each key reads its latest value or tombstone");
    assert!(
        consumed.windows(2).all(|w| w[0].offset < w[1].offset),
        "offsets increase"
    );
}

/// Dozens of segments that compaction leaves holding only emptied batches: librdkafka, which
/// takes an answer without a record for a fetch size too small (doubling it, and giving up
/// after about ten in a row), still reads through to the records after them.
#[tokio::test(flavor = "multi_thread")]
async fn a_consumer_reads_past_dozens_of_segments_that_compaction_emptied() {
    let dir = tempfile::tempdir().unwrap();
    let (cleaner_off, cleaner_on) = (
        dir.path().join("off.properties"),
        dir.path().join("on.properties"),
    );
    std::fs::write(&cleaner_off, "log.cleaner.enable=false\n").unwrap();
    std::fs::write(&cleaner_on, "log.cleaner.backoff.ms=200\n").unwrap();
    let data = dir.path().join("data");
    // Written with the cleaner off, so that one clean over the whole log decides the segments.
    let mut broker =
        BrokerProcess::start_in(&data, &["--config", cleaner_off.to_str().unwrap()]).unwrap();
    let bootstrap = broker.bootstrap();
    let topic = "emptied";
    create_topic(
        &bootstrap,
        topic,
        1,
        &[
            ("cleanup.policy", "compact"),
            ("segment.bytes", "1024"),
            ("min.cleanable.dirty.ratio", "0.01"),
        ],
    )
    .await
    .unwrap();
    // One record per batch: 3,000 updates of one key fill some 300 segments.
    let one_by_one = producer(
        &bootstrap,
        &[
            ("enable.idempotence", "false"),
            ("acks", "1"),
            ("linger.ms", "0"),
        ],
    )
    .unwrap();
    let hot: Vec<_> = (0..3000)
        .map(|i| {
            (
                b"hot".to_vec(),
                format!("update {i:04} {}", "x".repeat(40)).into_bytes(),
            )
        })
        .collect();
    produce_all(&one_by_one, topic, &hot, 1).await.unwrap();
    let cold = keyed_records("cold", 20, 100);
    produce_all(&one_by_one, topic, &cold, 1).await.unwrap();
    drop(one_by_one);
    broker.stop().unwrap();
    let broker =
        BrokerProcess::start_in(&data, &["--config", cleaner_on.to_str().unwrap()]).unwrap();
    let bootstrap = broker.bootstrap();

    let partition_dir = data.join(format!("{topic}-0"));
    let produced: u64 = hot.iter().map(|(k, v)| (k.len() + v.len()) as u64).sum();
    let deadline = Instant::now() + Duration::from_secs(60);
    // Cleaned through: the log has shrunk and stays the same size over ten cleaner passes.
    let (mut last, mut unchanged_since) = (u64::MAX, Instant::now());
    loop {
        let now = log_bytes(&partition_dir);
        if now != last {
            (last, unchanged_since) = (now, Instant::now());
        } else if now < produced / 2 && unchanged_since.elapsed() > Duration::from_secs(2) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the log was not cleaned: {now} bytes on disk"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let segments = std::fs::read_dir(&partition_dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|e| e == "log")
        })
        .count();
    assert!(
        segments > 15,
        "{segments} segments: too few to exercise the read"
    );

    let consumed = consume_all(&bootstrap, topic, 1, 21, Duration::from_secs(60)).unwrap();
    let values: Vec<_> = consumed
        .iter()
        .filter(|r| r.key.as_deref() == Some(b"hot".as_slice()))
        .map(|r| r.value.clone().unwrap())
        .collect();
    assert_eq!(
        values,
        vec![hot[2999].1.clone()],
        "only the latest update of the hot key"
    );
    assert_eq!(consumed.len(), 21, "the latest update and the 20 cold keys");
}

/// `count` records whose keys carry `tag`: `tag-0`, `tag-1`, ...
fn tagged(tag: &str, count: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
    (0..count)
        .map(|i| {
            (
                format!("{tag}-{i}").into_bytes(),
                format!("{tag} value {i} {}", "v".repeat(60)).into_bytes(),
            )
        })
        .collect()
}

/// Tombstones are kept for `delete.retention.ms` after the clean that first sees them (so a
/// consumer that is behind still learns of the deletion), then a later clean removes them: a
/// fresh consumer then reads no trace of the deleted keys.
#[tokio::test(flavor = "multi_thread")]
async fn deleted_keys_disappear_once_delete_retention_has_passed() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("broker.properties");
    std::fs::write(&config, "log.cleaner.backoff.ms=200\n").unwrap();
    let data = dir.path().join("data");
    let broker = BrokerProcess::start_in(&data, &["--config", config.to_str().unwrap()]).unwrap();
    let bootstrap = broker.bootstrap();
    let topic = "deletions";
    create_topic(
        &bootstrap,
        topic,
        1,
        &[
            ("cleanup.policy", "compact"),
            ("segment.bytes", "4096"),
            ("min.cleanable.dirty.ratio", "0.01"),
            ("delete.retention.ms", "2000"),
        ],
    )
    .await
    .unwrap();
    let plain = producer(&bootstrap, &[("compression.type", "none")]).unwrap();
    let kept = tagged("kept", 10);
    let doomed = tagged("doomed", 10);
    produce_all(&plain, topic, &kept, 50).await.unwrap();
    produce_all(&plain, topic, &doomed, 50).await.unwrap();
    for (key, _) in &doomed {
        plain
            .send(
                FutureRecord::<Vec<u8>, Vec<u8>>::to(topic).key(key),
                Duration::from_secs(30),
            )
            .await
            .map_err(|(e, _)| e)
            .unwrap();
    }
    // Filler closes the segments holding the tombstones, so the cleaner gets to them.
    let filler = |round: usize| tagged(&format!("filler-{round}"), 60);
    produce_all(&plain, topic, &filler(0), 50).await.unwrap();

    let deleted = |consumed: &[fjord_e2e::kafka::Consumed]| {
        consumed
            .iter()
            .filter(|r| r.key.as_ref().is_some_and(|k| k.starts_with(b"doomed")))
            .map(|r| r.value.is_none())
            .collect::<Vec<_>>()
    };
    // First the updates of the deleted keys go and their tombstones stay.
    let deadline = Instant::now() + Duration::from_secs(60);
    let expected = kept.len() + doomed.len() + 60;
    loop {
        let consumed =
            consume_all(&bootstrap, topic, 1, expected, Duration::from_secs(30)).unwrap();
        let seen = deleted(&consumed);
        if seen.len() == doomed.len() && seen.iter().all(|tombstone| *tombstone) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the deleted keys' values were not cleaned away: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // After delete.retention.ms, a clean (brought on by more writes) removes the tombstones.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let mut round = 1;
    loop {
        produce_all(&plain, topic, &filler(round), 50)
            .await
            .unwrap();
        round += 1;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let consumed = consume_all(
            &bootstrap,
            topic,
            1,
            kept.len() + 60,
            Duration::from_secs(30),
        )
        .unwrap();
        if deleted(&consumed).is_empty() {
            let keys: std::collections::HashSet<_> =
                consumed.iter().filter_map(|r| r.key.clone()).collect();
            assert!(
                kept.iter().all(|(k, _)| keys.contains(k)),
                "every kept key is still there"
            );
            break;
        }
        assert!(
            Instant::now() < deadline + Duration::from_secs(30),
            "tombstones outlived delete.retention.ms: {:?}",
            deleted(&consumed)
        );
    }
}
