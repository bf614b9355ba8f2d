//! ListOffsets by time with real clients: the Java client's `offsetsForTimes` and admin
//! `maxTimestamp`, librdkafka's `offsets_for_times`. Records go out with explicit, increasing
//! CreateTime timestamps in every codec to a 6-partition topic, several per batch; each lookup
//! must name the exact record at or after the time asked, not the start of its batch.
//!
//! Each test also reads the partition's `.log` to check that the answers it judged were
//! records inside batches, so that a broker answering per batch could not pass.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use fjord_e2e::BrokerProcess;
use fjord_e2e::kafka::create_topic;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::producer::FutureRecord;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

const CODECS: [&str; 5] = ["none", "gzip", "snappy", "lz4", "zstd"];
const PARTITIONS: i32 = 6;
const COUNT: usize = 30;

/// `(partition, offset, timestamp)` of every record sent to one topic.
type Sent = Vec<(i32, i64, i64)>;

/// `(offset, timestamp)` of the first record of `partition` whose timestamp is `>= query`.
fn expected(sent: &Sent, partition: i32, query: i64) -> Option<(i64, i64)> {
    sent.iter()
        .filter(|(p, _, ts)| *p == partition && *ts >= query)
        .map(|(_, offset, ts)| (*offset, *ts))
        .min()
}

/// `(first offset, last offset)` of every batch in the partition's first segment.
fn batches_on_disk(data_dir: &Path, topic: &str, partition: i32) -> Vec<(i64, i64)> {
    let log = data_dir
        .join(format!("{topic}-{partition}"))
        .join(format!("{:020}.log", 0));
    let bytes = std::fs::read(&log).unwrap();
    let mut batches = Vec::new();
    let mut pos = 0;
    while pos + 61 <= bytes.len() {
        let field = |at: usize, len: usize| &bytes[pos + at..pos + at + len];
        let base = i64::from_be_bytes(field(0, 8).try_into().unwrap());
        let length = i32::from_be_bytes(field(8, 4).try_into().unwrap());
        let last_delta = i32::from_be_bytes(field(23, 4).try_into().unwrap());
        batches.push((base, base + i64::from(last_delta)));
        pos += 12 + usize::try_from(length).unwrap();
    }
    assert_eq!(pos, bytes.len(), "{} holds whole batches", log.display());
    batches
}

/// How many of `answers` (offsets) lie inside a batch rather than at its start.
fn inside_batches(batches: &[(i64, i64)], answers: impl Iterator<Item = i64>) -> usize {
    answers
        .filter(|offset| {
            batches
                .iter()
                .any(|(first, last)| offset > first && offset <= last)
        })
        .count()
}

/// librdkafka's lookup of `query(partition)` on every partition of `topic`: offsets, with
/// `None` for "no such record".
fn librdkafka_lookup(
    consumer: &BaseConsumer,
    topic: &str,
    query: impl Fn(i32) -> i64,
) -> HashMap<i32, Option<i64>> {
    let mut wanted = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        wanted
            .add_partition_offset(topic, p, Offset::Offset(query(p)))
            .unwrap();
    }
    let found = consumer
        .offsets_for_times(wanted, Duration::from_secs(10))
        .unwrap();
    (0..PARTITIONS)
        .map(|p| {
            let offset = match found.find_partition(topic, p).unwrap().offset() {
                Offset::Offset(o) => Some(o),
                Offset::End => None,
                other => panic!("{topic}-{p}: unexpected answer {other:?}"),
            };
            (p, offset)
        })
        .collect()
}

fn lookup_client(bootstrap: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "fjord-e2e-times")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap()
}

/// Checks librdkafka's answer for a time 5 ms before every record, and 1 ms after the last.
fn assert_librdkafka_finds_every_record(
    consumer: &BaseConsumer,
    data_dir: &Path,
    topic: &str,
    sent: &Sent,
) {
    let stamps = |p: i32| -> Vec<i64> {
        let mut s: Vec<i64> = sent
            .iter()
            .filter(|(q, _, _)| *q == p)
            .map(|(_, _, ts)| *ts)
            .collect();
        s.sort_unstable();
        s
    };
    let mut inside = 0;
    for i in 0..=COUNT {
        let query = |p: i32| match stamps(p).get(i) {
            Some(ts) => ts - 5,
            None => stamps(p).last().unwrap() + 1,
        };
        let found = librdkafka_lookup(consumer, topic, query);
        for p in 0..PARTITIONS {
            let want = expected(sent, p, query(p)).map(|(offset, _)| offset);
            assert_eq!(found[&p], want, "{topic}-{p}: librdkafka at {}", query(p));
            let batches = batches_on_disk(data_dir, topic, p);
            inside += inside_batches(&batches, want.into_iter());
        }
    }
    assert!(
        inside >= COUNT,
        "{topic}: only {inside} answers fell inside batches"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn librdkafka_offsets_for_times_names_the_exact_record_in_every_codec() {
    let broker = BrokerProcess::start(&[]).unwrap();
    let bootstrap = broker.bootstrap();
    let base = 1_700_000_000_000i64;
    let consumer = lookup_client(&bootstrap);
    for codec in CODECS {
        let topic = format!("librdkafka-times-{codec}");
        create_topic(&bootstrap, &topic, PARTITIONS, &[])
            .await
            .unwrap();
        // Everything is queued before the first batch goes out: records share batches.
        let producer = fjord_e2e::kafka::producer(
            &bootstrap,
            &[("compression.type", codec), ("linger.ms", "200")],
        )
        .unwrap();
        let mut pending = Vec::new();
        for i in 0..COUNT as i64 {
            for p in 0..PARTITIONS {
                let ts = base + 10 * i + i64::from(p);
                let value = format!("{codec}-{p}-{i}-").repeat(8);
                let record = FutureRecord::to(&topic)
                    .partition(p)
                    .timestamp(ts)
                    .key("k")
                    .payload(&value);
                let future = producer.send_result(record).map_err(|(e, _)| e).unwrap();
                pending.push((ts, future));
            }
        }
        let mut sent = Sent::new();
        for (ts, future) in pending {
            let delivery = future.await.unwrap().map_err(|(e, _)| e).unwrap();
            sent.push((delivery.partition, delivery.offset, ts));
        }
        assert_librdkafka_finds_every_record(&consumer, &broker.data_dir, &topic, &sent);
    }
}

/// The lines `KIND CODEC PARTITION NUMBERS...` of the Java program's output.
fn lines<'a>(output: &'a str, kind: &str) -> Vec<(&'a str, i32, Vec<i64>)> {
    output
        .lines()
        .filter_map(|line| line.strip_prefix(kind)?.strip_prefix(' '))
        .map(|line| {
            let mut fields = line.split(' ');
            let codec = fields.next().unwrap();
            let partition = fields.next().unwrap().parse().unwrap();
            let numbers = fields.map(|f| f.parse().unwrap()).collect();
            (codec, partition, numbers)
        })
        .collect()
}

#[test]
fn java_offsets_for_times_and_max_timestamp_name_the_exact_record_in_every_codec() {
    let broker = BrokerProcess::start(&[]).unwrap();
    let bootstrap = broker.bootstrap();
    let mut args = vec!["times", bootstrap.as_str(), "30"];
    args.extend(CODECS);
    assert_eq!(args[2], COUNT.to_string());
    let output = fjord_e2e::java_client(&args).unwrap();

    let consumer = lookup_client(&bootstrap);
    for codec in CODECS {
        let topic = format!("java-times-{codec}");
        let sent: Sent = lines(&output, "sent")
            .into_iter()
            .filter(|(c, _, _)| *c == codec)
            .map(|(_, p, n)| (p, n[0], n[1]))
            .collect();
        assert_eq!(sent.len(), COUNT * PARTITIONS as usize, "{codec}: sent");

        let found = lines(&output, "found");
        let found: Vec<_> = found.iter().filter(|(c, _, _)| *c == codec).collect();
        assert_eq!(found.len(), (COUNT + 1) * PARTITIONS as usize, "{codec}");
        let mut inside = 0;
        for (_, p, n) in &found {
            let (query, answer) = (n[0], (n[1], n[2]));
            let want = expected(&sent, *p, query).unwrap_or((-1, -1));
            assert_eq!(answer, want, "{topic}-{p}: offsetsForTimes at {query}");
            let batches = batches_on_disk(&broker.data_dir, &topic, *p);
            inside += inside_batches(&batches, std::iter::once(want.0));
        }
        assert!(
            inside >= COUNT,
            "{codec}: only {inside} answers fell inside batches"
        );

        let maxes = lines(&output, "max");
        let maxes: Vec<_> = maxes.iter().filter(|(c, _, _)| *c == codec).collect();
        assert_eq!(maxes.len(), PARTITIONS as usize, "{codec}: max lines");
        for (_, p, n) in maxes {
            let newest = sent
                .iter()
                .filter(|(q, _, _)| q == p)
                .map(|(_, offset, ts)| (*ts, std::cmp::Reverse(*offset)))
                .max()
                .map(|(ts, offset)| (offset.0, ts))
                .unwrap();
            assert_eq!((n[0], n[1]), newest, "{topic}-{p}: maxTimestamp");
            let batches = batches_on_disk(&broker.data_dir, &topic, *p);
            assert_eq!(
                inside_batches(&batches, std::iter::once(newest.0)),
                1,
                "{topic}-{p}: the newest record is inside its batch"
            );
        }

        // librdkafka reads the Java client's batches (xerial-framed snappy, Java's lz4) too.
        assert_librdkafka_finds_every_record(&consumer, &broker.data_dir, &topic, &sent);
    }
}
