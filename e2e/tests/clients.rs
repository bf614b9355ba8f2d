//! Real Kafka clients against the real `fjord-broker` binary: librdkafka 2.12
//! through the `rdkafka` crate, and kcat on Debian's librdkafka 2.0.
//! Everything produced is consumed back and compared byte for byte, at the
//! partition and offset the broker acknowledged.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

use fjord_e2e::kafka::{
    assert_same_records, consume_all, create_topic, keyed_records, produce_all, producer,
};
use fjord_e2e::wire::WireClient;
use fjord_e2e::{BrokerProcess, run_tool, tool};
use kafka_protocol::messages::alter_configs_request::{AlterConfigsResource, AlterableConfig};
use kafka_protocol::messages::{AlterConfigsRequest, ApiKey, RequestKind, ResponseKind};
use kafka_protocol::protocol::StrBytes;
use rdkafka::admin::{AdminOptions, AlterConfig, ResourceSpecifier};
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

const PARTITIONS: i32 = 8;
const RECORDS_PER_CODEC: usize = 60_000;

#[tokio::test(flavor = "multi_thread")]
async fn librdkafka_round_trips_keyed_records_with_every_codec_over_eight_partitions() {
    let broker = BrokerProcess::start(&[]).unwrap();
    let bootstrap = broker.bootstrap();
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let topic = format!("codec-{codec}");
        create_topic(&bootstrap, &topic, PARTITIONS, &[])
            .await
            .unwrap();
        let records = keyed_records(codec, RECORDS_PER_CODEC, 100);
        let producer = producer(
            &bootstrap,
            &[("compression.type", codec), ("batch.size", "262144")],
        )
        .unwrap();
        let delivered = produce_all(&producer, &topic, &records, 10_000)
            .await
            .unwrap();
        let partitions_used: std::collections::HashSet<i32> =
            delivered.iter().map(|d| d.partition).collect();
        assert_eq!(
            partitions_used.len(),
            PARTITIONS as usize,
            "{codec}: keys spread over every partition"
        );
        let consumed = consume_all(
            &bootstrap,
            &topic,
            PARTITIONS,
            records.len(),
            Duration::from_secs(120),
        )
        .unwrap();
        assert_same_records(&delivered, &consumed);
    }
}

#[test]
fn kcat_round_trips_keyed_records_with_every_codec() {
    let broker = BrokerProcess::start(&[]).unwrap();
    let kcat = tool("FJORD_KCAT", "kcat").unwrap();
    let dir = tempfile::tempdir().unwrap();
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let topic = format!("kcat-{codec}");
        // Keys repeat, so each key's values must come back in the order sent.
        let lines: Vec<String> = (0..5_000)
            .map(|i| format!("k{}:{codec}-{i}", i % 50))
            .collect();
        let input = dir.path().join(format!("{codec}.txt"));
        std::fs::write(&input, lines.join("\n") + "\n").unwrap();
        run_tool(
            Command::new(&kcat)
                .args([
                    "-b",
                    &broker.bootstrap(),
                    "-t",
                    &topic,
                    "-P",
                    "-K:",
                    "-z",
                    codec,
                    "-l",
                ])
                .arg(&input),
            Duration::from_secs(60),
        )
        .unwrap();
        let out = run_tool(
            Command::new(&kcat).args([
                "-b",
                &broker.bootstrap(),
                "-t",
                &topic,
                "-C",
                "-e",
                "-q",
                "-f",
                "%k:%s\n",
            ]),
            Duration::from_secs(60),
        )
        .unwrap();
        let got: Vec<&str> = out.lines().collect();
        assert_eq!(got.len(), lines.len(), "{codec}: record count");
        let mut by_key: HashMap<&str, Vec<&str>> = HashMap::new();
        for line in &got {
            let (key, value) = line.split_once(':').unwrap();
            by_key.entry(key).or_default().push(value);
        }
        for line in &lines {
            let (key, _) = line.split_once(':').unwrap();
            let expected: Vec<&str> = lines
                .iter()
                .filter(|l| l.starts_with(&format!("{key}:")))
                .map(|l| &l[key.len() + 1..])
                .collect();
            assert_eq!(by_key[key], expected, "{codec}: values of {key} in order");
        }
    }
}

fn reader(bootstrap: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "fjord-e2e-offsets")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn timestamps_find_offsets_and_delete_records_moves_the_log_start() {
    let broker = BrokerProcess::start(&[]).unwrap();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "timed", 1, &[]).await.unwrap();
    let producer = producer(&bootstrap, &[("linger.ms", "0")]).unwrap();
    let base = 1_700_000_000_000i64;
    for i in 0..20i64 {
        let record = rdkafka::producer::FutureRecord::to("timed")
            .key("k")
            .payload("v")
            .timestamp(base + i * 1000);
        producer
            .send(record, Duration::from_secs(10))
            .await
            .unwrap();
    }
    let consumer = reader(&bootstrap);
    let mut wanted = TopicPartitionList::new();
    wanted
        .add_partition_offset("timed", 0, Offset::Offset(base + 5_500))
        .unwrap();
    let found = consumer
        .offsets_for_times(wanted, Duration::from_secs(10))
        .unwrap();
    assert_eq!(
        found.find_partition("timed", 0).unwrap().offset(),
        Offset::Offset(6)
    );
    let mut after_all = TopicPartitionList::new();
    after_all
        .add_partition_offset("timed", 0, Offset::Offset(base + 60_000))
        .unwrap();
    let found = consumer
        .offsets_for_times(after_all, Duration::from_secs(10))
        .unwrap();
    assert_eq!(
        found.find_partition("timed", 0).unwrap().offset(),
        Offset::End
    );

    let admin = fjord_e2e::kafka::admin(&bootstrap).unwrap();
    let mut cut = TopicPartitionList::new();
    cut.add_partition_offset("timed", 0, Offset::Offset(12))
        .unwrap();
    let result = admin
        .delete_records(&cut, &AdminOptions::new())
        .await
        .unwrap();
    assert_eq!(
        result.find_partition("timed", 0).unwrap().offset(),
        Offset::Offset(12)
    );
    assert_eq!(
        consumer
            .fetch_watermarks("timed", 0, Duration::from_secs(10))
            .unwrap(),
        (12, 20)
    );
    let consumed = consume_all(&bootstrap, "timed", 1, 8, Duration::from_secs(30)).unwrap();
    assert_eq!(
        consumed.first().unwrap().offset,
        12,
        "reading from the beginning starts at the new log start"
    );
    let mut beyond = TopicPartitionList::new();
    beyond
        .add_partition_offset("timed", 0, Offset::Offset(21))
        .unwrap();
    let result = admin.delete_records(&beyond, &AdminOptions::new()).await;
    let refused = match result {
        Err(error) => format!("{error}"),
        Ok(list) => format!("{:?}", list.find_partition("timed", 0).unwrap().error()),
    };
    assert!(
        refused.contains("OffsetOutOfRange") || refused.contains("out of range"),
        "{refused}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn retention_removes_old_segments() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("broker.properties");
    std::fs::write(&config, "log.retention.check.interval.ms=200\n").unwrap();
    let data = dir.path().join("data");
    let broker = BrokerProcess::start_in(&data, &["--config", config.to_str().unwrap()]).unwrap();
    let bootstrap = broker.bootstrap();
    create_topic(
        &bootstrap,
        "short-lived",
        1,
        &[("segment.bytes", "4096"), ("retention.ms", "1500")],
    )
    .await
    .unwrap();
    let producer = producer(&bootstrap, &[("linger.ms", "0")]).unwrap();
    let records = keyed_records("old", 200, 200);
    produce_all(&producer, "short-lived", &records, 1)
        .await
        .unwrap();
    let segments = |dir: &std::path::Path| {
        std::fs::read_dir(dir.join("short-lived-0"))
            .unwrap()
            .filter(|entry| {
                entry
                    .as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|e| e == "log")
            })
            .count()
    };
    let before = segments(&data);
    assert!(before > 5, "expected many segments, found {before}");
    let consumer = reader(&bootstrap);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (low, high) = consumer
            .fetch_watermarks("short-lived", 0, Duration::from_secs(10))
            .unwrap();
        if low > 0 && segments(&data) < before {
            assert_eq!(high, 200);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "retention never deleted a segment"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn topic_configs_are_described_altered_and_refused_with_reasons() {
    let broker = BrokerProcess::start(&[]).unwrap();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "configured", 2, &[("retention.ms", "3600000")])
        .await
        .unwrap();
    let admin = fjord_e2e::kafka::admin(&bootstrap).unwrap();
    let results = admin
        .describe_configs(
            [&ResourceSpecifier::Topic("configured")],
            &AdminOptions::new(),
        )
        .await
        .unwrap();
    let resource = results.into_iter().next().unwrap().unwrap();
    let retention = resource.get("retention.ms").unwrap();
    assert_eq!(retention.value.as_deref(), Some("3600000"));
    assert_eq!(retention.source, rdkafka::admin::ConfigSource::DynamicTopic);
    let segment = resource.get("segment.bytes").unwrap();
    assert_eq!(segment.value.as_deref(), Some("1073741824"));
    assert_eq!(segment.source, rdkafka::admin::ConfigSource::Default);

    let alter =
        AlterConfig::new(ResourceSpecifier::Topic("configured")).set("segment.bytes", "1048576");
    let results = admin
        .alter_configs([&alter], &AdminOptions::new())
        .await
        .unwrap();
    assert!(results[0].is_ok(), "{results:?}");
    let results = admin
        .describe_configs(
            [&ResourceSpecifier::Topic("configured")],
            &AdminOptions::new(),
        )
        .await
        .unwrap();
    let resource = results.into_iter().next().unwrap().unwrap();
    assert_eq!(
        resource.get("segment.bytes").unwrap().value.as_deref(),
        Some("1048576")
    );
    // AlterConfigs replaces the whole set: retention.ms went back to the default.
    assert_eq!(
        resource.get("retention.ms").unwrap().source,
        rdkafka::admin::ConfigSource::Default
    );

    // The rdkafka crate drops per-resource AlterConfigs errors, so refused
    // alterations are checked on the wire.
    let mut wire = WireClient::connect(broker.kafka).unwrap();
    for (key, value, reason) in [
        (
            "retention.ms",
            "forever",
            "Invalid value forever for configuration retention.ms: not a whole number",
        ),
        (
            "retention.forever",
            "1",
            "Unknown topic config name: retention.forever",
        ),
        (
            "cleanup.policy",
            "compacted",
            "Invalid value compacted for configuration cleanup.policy: String must be one of: compact, delete",
        ),
    ] {
        let request = AlterConfigsRequest::default().with_resources(vec![
            AlterConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(StrBytes::from_static_str("configured"))
                .with_configs(vec![
                    AlterableConfig::default()
                        .with_name(StrBytes::from_static_str(key))
                        .with_value(Some(StrBytes::from_static_str(value))),
                ]),
        ]);
        let ResponseKind::AlterConfigs(response) = wire
            .call(ApiKey::AlterConfigs, 2, RequestKind::AlterConfigs(request))
            .unwrap()
        else {
            panic!("not an AlterConfigs response");
        };
        let result = &response.responses[0];
        assert_eq!(result.error_code, 40, "{key}={value}: INVALID_CONFIG");
        let message = result.error_message.as_deref().unwrap_or_default();
        assert!(message.contains(reason), "{key}={value}: {message}");
    }
    let refused = create_topic(
        &bootstrap,
        "badly-configured",
        1,
        &[("segment.bytes", "10")],
    )
    .await;
    assert!(
        format!("{refused:?}").contains("InvalidConfig"),
        "{refused:?}"
    );

    let results = admin
        .describe_configs([&ResourceSpecifier::Broker(0)], &AdminOptions::new())
        .await
        .unwrap();
    let resource = results.into_iter().next().unwrap().unwrap();
    assert_eq!(
        resource.get("log.retention.ms").unwrap().value.as_deref(),
        Some("604800000")
    );
    assert_eq!(
        resource.get("num.partitions").unwrap().value.as_deref(),
        Some("1")
    );
}
