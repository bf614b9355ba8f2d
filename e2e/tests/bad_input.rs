//! Each kind of bad input gets Kafka's error code, and the broker keeps
//! serving: corrupt batches, old message formats, oversized batches, unknown
//! topics and partitions, invalid names, bad acks, offsets out of range, and a
//! full disk.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::time::Duration;

use bytes::Bytes;
use fjord_e2e::BrokerProcess;
use fjord_e2e::kafka::{consume_all, create_topic};
use fjord_e2e::wire::{WireClient, record_batch, with_magic};
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, CreateTopicsRequest, FetchRequest, ProduceRequest, ProduceResponse, RequestKind,
    ResponseKind, TopicName,
};
use kafka_protocol::protocol::StrBytes;

fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_owned()))
}

fn produce(
    wire: &mut WireClient,
    topic: &str,
    partition: i32,
    acks: i16,
    batch: Vec<u8>,
) -> ProduceResponse {
    let request = ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(topic_name(topic))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(partition)
                        .with_records(Some(Bytes::from(batch))),
                ]),
        ]);
    match wire
        .call(ApiKey::Produce, 9, RequestKind::Produce(request))
        .unwrap()
    {
        ResponseKind::Produce(response) => response,
        other => panic!("unexpected {other:?}"),
    }
}

fn produce_error(
    wire: &mut WireClient,
    topic: &str,
    partition: i32,
    acks: i16,
    batch: Vec<u8>,
) -> (i16, String) {
    let response = produce(wire, topic, partition, acks, batch);
    let partition = &response.responses[0].partition_responses[0];
    (
        partition.error_code,
        partition
            .error_message
            .as_deref()
            .unwrap_or_default()
            .to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_produce_requests_get_kafka_error_codes_and_change_nothing() {
    let broker = BrokerProcess::start(&["--config", &small_messages_config()]).unwrap();
    create_topic(
        &broker.bootstrap(),
        "strict",
        2,
        &[("max.message.bytes", "2000")],
    )
    .await
    .unwrap();
    let mut wire = WireClient::connect(broker.kafka).unwrap();

    let good = record_batch(&[b"first", b"second"], 1_700_000_000_000);
    assert_eq!(produce_error(&mut wire, "strict", 0, -1, good.clone()).0, 0);

    let mut corrupt = good.clone();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff;
    let (code, message) = produce_error(&mut wire, "strict", 0, -1, corrupt);
    assert_eq!(code, 2, "CORRUPT_MESSAGE: {message}");

    let (code, _) = produce_error(&mut wire, "strict", 0, -1, with_magic(good.clone(), 1));
    assert_eq!(code, 43, "UNSUPPORTED_FOR_MESSAGE_FORMAT for magic 1");
    let (code, _) = produce_error(&mut wire, "strict", 0, -1, with_magic(good.clone(), 0));
    assert_eq!(code, 43, "UNSUPPORTED_FOR_MESSAGE_FORMAT for magic 0");

    let big = vec![b'x'; 3000];
    let (code, message) = produce_error(&mut wire, "strict", 0, -1, record_batch(&[&big], 0));
    assert_eq!(code, 10, "MESSAGE_TOO_LARGE: {message}");

    let (code, _) = produce_error(&mut wire, "strict", 7, -1, good.clone());
    assert_eq!(
        code, 3,
        "UNKNOWN_TOPIC_OR_PARTITION for a partition that does not exist"
    );
    let (code, _) = produce_error(&mut wire, "nowhere", 0, -1, good.clone());
    assert_eq!(
        code, 3,
        "UNKNOWN_TOPIC_OR_PARTITION for a topic that does not exist"
    );
    let (code, _) = produce_error(&mut wire, "strict", 0, 2, good.clone());
    assert_eq!(code, 21, "INVALID_REQUIRED_ACKS");
    let (code, _) = produce_error(&mut wire, "strict", 0, 1, b"not a batch at all".to_vec());
    assert_eq!(code, 2, "CORRUPT_MESSAGE for bytes that are no batch");

    // Only the one good batch was written.
    let consumed =
        consume_all(&broker.bootstrap(), "strict", 2, 2, Duration::from_secs(30)).unwrap();
    assert_eq!(
        consumed.iter().map(|r| r.offset).collect::<Vec<_>>(),
        vec![0, 1]
    );
}

fn small_messages_config() -> String {
    let path =
        std::env::temp_dir().join(format!("fjord-bad-input-{}.properties", std::process::id()));
    std::fs::write(&path, "auto.create.topics.enable=false\n").unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn invalid_topic_names_and_out_of_range_offsets_get_kafka_error_codes() {
    let broker = BrokerProcess::start(&[]).unwrap();
    let mut wire = WireClient::connect(broker.kafka).unwrap();
    let request = CreateTopicsRequest::default()
        .with_timeout_ms(10_000)
        .with_topics(vec![
            CreatableTopic::default()
                .with_name(topic_name("no spaces allowed"))
                .with_num_partitions(1)
                .with_replication_factor(1),
            CreatableTopic::default()
                .with_name(topic_name("fine"))
                .with_num_partitions(0)
                .with_replication_factor(1),
            CreatableTopic::default()
                .with_name(topic_name(".."))
                .with_num_partitions(1)
                .with_replication_factor(1),
        ]);
    let ResponseKind::CreateTopics(response) = wire
        .call(ApiKey::CreateTopics, 5, RequestKind::CreateTopics(request))
        .unwrap()
    else {
        panic!("not a CreateTopics response")
    };
    let codes: Vec<i16> = response.topics.iter().map(|t| t.error_code).collect();
    assert_eq!(
        codes,
        vec![17, 37, 17],
        "INVALID_TOPIC_EXCEPTION, INVALID_PARTITIONS, INVALID_TOPIC_EXCEPTION"
    );
    assert!(
        response.topics[0]
            .error_message
            .as_deref()
            .unwrap()
            .contains("illegal")
    );

    let request = CreateTopicsRequest::default()
        .with_timeout_ms(10_000)
        .with_topics(vec![
            CreatableTopic::default()
                .with_name(topic_name("offsets"))
                .with_num_partitions(1)
                .with_replication_factor(1),
        ]);
    wire.call(ApiKey::CreateTopics, 5, RequestKind::CreateTopics(request))
        .unwrap();
    let fetch = FetchRequest::default()
        .with_replica_id(kafka_protocol::messages::BrokerId(-1))
        .with_max_wait_ms(0)
        .with_max_bytes(1 << 20)
        .with_session_epoch(-1)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(topic_name("offsets"))
                .with_partitions(vec![
                    FetchPartition::default()
                        .with_partition(0)
                        .with_fetch_offset(42)
                        .with_partition_max_bytes(1 << 20),
                ]),
        ]);
    let ResponseKind::Fetch(response) = wire
        .call(ApiKey::Fetch, 12, RequestKind::Fetch(fetch))
        .unwrap()
    else {
        panic!("not a Fetch response")
    };
    assert_eq!(
        response.responses[0].partitions[0].error_code, 1,
        "OFFSET_OUT_OF_RANGE"
    );
}

/// A data directory on a 4 MiB tmpfs, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount() -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=4m", "tmpfs"])
            .arg(dir.path())
            .status();
        match status {
            Ok(status) if status.success() => Some(Self { dir }),
            _ => None,
        }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.dir.path())
            .status();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_refuses_writes_with_kafka_storage_error_and_keeps_serving_reads() {
    let Some(disk) = SmallDisk::mount() else {
        eprintln!("SKIPPED: mounting a tmpfs needs root; this test runs in CI, which is root");
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must be able to mount a tmpfs"
        );
        return;
    };
    let data = disk.dir.path().join("data");
    let broker = BrokerProcess::start_in(&data, &[]).unwrap();
    create_topic(
        &broker.bootstrap(),
        "filling",
        1,
        &[("segment.bytes", "1048576")],
    )
    .await
    .unwrap();
    let mut wire = WireClient::connect(broker.kafka).unwrap();
    let payload = vec![b'z'; 60_000];
    let mut acknowledged = 0;
    let mut refusal = None;
    for _ in 0..200 {
        let (code, message) =
            produce_error(&mut wire, "filling", 0, -1, record_batch(&[&payload], 0));
        if code == 0 {
            acknowledged += 1;
        } else {
            refusal = Some((code, message));
            break;
        }
    }
    let (code, message) = refusal.expect("a 4 MiB disk filled up");
    assert_eq!(code, 56, "KAFKA_STORAGE_ERROR: {message}");
    assert!(acknowledged > 10, "only {acknowledged} batches fit");
    // Reads keep working and return every acknowledged batch.
    let consumed = consume_all(
        &broker.bootstrap(),
        "filling",
        1,
        acknowledged,
        Duration::from_secs(30),
    )
    .unwrap();
    assert!(
        consumed
            .iter()
            .all(|record| record.value.as_deref() == Some(&payload[..]))
    );
    drop(broker);
}
