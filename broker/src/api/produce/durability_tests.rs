//! What an acknowledgement promises, shown through the produce path with a sync layer that
//! records, holds and fails fsyncs (a `kill -9` test cannot: the page cache survives it).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::*;
use crate::config::{BrokerSettings, Config};
use crate::log::sync::testing::{RecordingSync, SyncEvent};
use crate::log::test_batch::{batch_of, idempotent_batch_of};
use crate::producer_state::{ProducerStates, SequenceCheck};
use crate::topics::{NewTopic, Topics};

const WAIT: Duration = Duration::from_secs(10);
/// How long an answer that must not come is given to come anyway.
const NOT_YET: Duration = Duration::from_millis(300);

fn create_topic(topics: &Topics, configs: &[(&str, String)]) {
    let topic = NewTopic {
        name: "t".to_owned(),
        partitions: 1,
        replication_factor: -1,
        configs: configs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect::<BTreeMap<_, _>>(),
    };
    topics.create(&topic, false).expect("create topic");
}

/// A broker over `dir` whose logs fsync through `recorder`, with topic "t" (one partition).
fn start_broker(
    dir: &Path,
    recorder: &Arc<RecordingSync>,
    configs: &[(&str, String)],
) -> Arc<Broker> {
    let topics = Topics::open_with_sync(dir, BrokerSettings::default(), false, recorder.syncer())
        .expect("open topics");
    if topics.partition("t", 0).is_none() {
        create_topic(&topics, configs);
    }
    let config = Config::for_tests(dir.to_path_buf());
    Arc::new(Broker::new(
        config,
        "cluster".to_owned(),
        ("127.0.0.1".to_owned(), 9092),
        topics,
    ))
}

fn request(acks: i16, batch: Vec<u8>) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_static_str("t")))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(Bytes::from(batch))),
                ]),
        ])
}

/// The one partition's (error code, base offset).
fn outcome(response: &ProduceResponse) -> (i16, i64) {
    let partition = &response.responses[0].partition_responses[0];
    (partition.error_code, partition.base_offset)
}

async fn answer(pending: PendingProduce) -> ProduceResponse {
    tokio::time::timeout(WAIT, pending)
        .await
        .expect("answered")
        .expect("handled")
        .expect("acks != 0 has an answer")
}

async fn produce(broker: &Arc<Broker>, acks: i16, batch: Vec<u8>) -> ProduceResponse {
    answer(
        handle(broker, request(acks, batch), 11)
            .await
            .expect("appended"),
    )
    .await
}

fn segment(dir: &Path, base_offset: i64) -> PathBuf {
    dir.join("t-0").join(format!("{base_offset:020}.log"))
}

fn data_done(events: &[SyncEvent], file: &Path) -> bool {
    events
        .iter()
        .any(|e| matches!(e, SyncEvent::DataDone { path, .. } if path == file))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acks_1_or_all_answer_waits_for_the_fsync_of_its_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let recorder = RecordingSync::new();
    let broker = start_broker(dir.path(), &recorder, &[]);
    for (i, acks) in [1i16, -1].into_iter().enumerate() {
        let before = recorder.events().len();
        recorder.hold_all();
        let mut pending = handle(&broker, request(acks, batch_of(3, 1_000, 0)), 11)
            .await
            .expect("appended");
        assert!(
            recorder.wait_until_held(1, WAIT),
            "acks={acks}: the segment's fsync is under way"
        );
        assert!(
            tokio::time::timeout(NOT_YET, &mut pending).await.is_err(),
            "acks={acks}: answered while its fsync was held"
        );
        recorder.release();
        let response = answer(pending).await;
        assert_eq!(outcome(&response), (0, 3 * i as i64), "acks={acks}");
        assert!(
            data_done(&recorder.events()[before..], &segment(dir.path(), 0)),
            "acks={acks}: answered without an fsync of the segment"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offset_in_a_new_segment_is_acknowledged_only_once_its_directory_entry_is_fsynced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let recorder = RecordingSync::new();
    let batch = batch_of(2, 1_000, 0);
    // Room for one batch: the second rolls.
    let broker = start_broker(
        dir.path(),
        &recorder,
        &[("segment.bytes", (batch.len() + 1).to_string())],
    );
    assert_eq!(outcome(&produce(&broker, -1, batch.clone()).await), (0, 0));

    // The roll's background fsync of the closed segment (and the snapshot and directory
    // fsync after it) waits at the gate: only the new segment's own sync can fsync the entry.
    recorder.hold_path(&segment(dir.path(), 0));
    let before = recorder.events().len();
    let response = produce(&broker, -1, batch).await;
    assert_eq!(
        outcome(&response),
        (0, 2),
        "the batch went to a new segment"
    );
    let events = recorder.events()[before..].to_vec();
    let new_data = events
        .iter()
        .position(
            |e| matches!(e, SyncEvent::DataDone { path, .. } if *path == segment(dir.path(), 2)),
        )
        .expect("the new segment was fsynced before the answer");
    assert!(
        events[new_data..]
            .iter()
            .any(|e| *e == SyncEvent::DirDone(dir.path().join("t-0"))),
        "answered before the partition directory was fsynced: {events:?}"
    );
    recorder.release();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_fsync_answers_every_waiting_producer_with_a_storage_error_until_the_log_is_reopened()
 {
    let dir = tempfile::tempdir().expect("tempdir");
    let recorder = RecordingSync::new();
    let storage_error = ResponseError::KafkaStorageError.code();
    let broker = start_broker(dir.path(), &recorder, &[]);
    recorder.hold_all();
    let mut waiting = Vec::new();
    for acks in [1i16, -1, -1] {
        waiting.push(
            handle(&broker, request(acks, batch_of(1, 1_000, 0)), 11)
                .await
                .expect("appended"),
        );
    }
    assert!(recorder.wait_until_held(1, WAIT));
    recorder.fail_from_now();
    recorder.release();
    for pending in waiting {
        assert_eq!(
            answer(pending).await.responses[0].partition_responses[0].error_code,
            storage_error
        );
    }
    // Nothing after the failure is acknowledged, even once the disk answers again.
    for acks in [1i16, -1] {
        let response = produce(&broker, acks, batch_of(1, 1_000, 0)).await;
        assert_eq!(outcome(&response), (storage_error, -1), "acks={acks}");
    }
    drop(broker);

    // Reopened (and recovered), the log takes produces again.
    let recorder = RecordingSync::new();
    let broker = start_broker(dir.path(), &recorder, &[]);
    let response = produce(&broker, -1, batch_of(1, 1_000, 0)).await;
    assert_eq!(outcome(&response).0, 0);
}

const PRODUCER: i64 = 5;

#[test]
fn after_a_power_cut_the_partition_reopens_from_the_last_rolls_producer_snapshot() {
    let dir = tempfile::tempdir().expect("tempdir");
    let recorder = RecordingSync::new();
    let topics = Topics::open_with_sync(
        dir.path(),
        BrokerSettings::default(),
        false,
        recorder.syncer(),
    )
    .expect("open");
    create_topic(&topics, &[("segment.bytes", "2048".to_owned())]);
    let partition = topics.partition("t", 0).expect("partition");
    for i in 0..60 {
        let batch = idempotent_batch_of(5, 1_000, (PRODUCER, 0, i * 5));
        assert!(
            partition
                .append(
                    Bytes::from(batch),
                    crate::partition::AppendOrigin::Client,
                    2_000
                )
                .is_ok()
        );
    }
    let active = {
        let mut log = partition.log();
        log.wait_for_rolls().expect("rolled segments fsynced");
        log.active_base_offset()
    };
    assert!(active > 0, "the log rolled");
    drop(partition);
    drop(topics);

    // The power cut: every segment or snapshot file whose data was never fsynced is lost
    // (left empty, as a delayed-allocation file system leaves it).
    let partition_dir = dir.path().join("t-0");
    for entry in std::fs::read_dir(&partition_dir).expect("list") {
        let path = entry.expect("entry").path();
        let ours = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| ["log", "index", "timeindex", "snapshot"].contains(&e));
        if ours && !recorder.was_synced(&path).expect("stat") {
            std::fs::File::options()
                .write(true)
                .open(&path)
                .and_then(|f| f.set_len(0))
                .expect("drop unsynced bytes");
        }
    }
    assert_eq!(
        std::fs::metadata(segment(dir.path(), active))
            .expect("stat")
            .len(),
        0,
        "the active segment was never fsynced: the cut lost it"
    );

    // The roll's snapshot survived. A producer only it knows shows the reopened partition
    // starts from it, not from a replay of the whole log.
    let (at, mut marked) = ProducerStates::read_snapshot(&partition_dir, active)
        .expect("read snapshots")
        .expect("a snapshot decodes");
    assert_eq!(at, active, "the newest snapshot is the last roll's");
    marked.record(
        77,
        0,
        crate::producer_state::BatchMeta {
            first_seq: 0,
            last_seq: 0,
            first_offset: active - 1,
            last_offset: active - 1,
            timestamp: 0,
        },
    );
    marked
        .write_snapshot(&partition_dir, active, false)
        .expect("mark the snapshot");
    let reopened = Topics::open(dir.path(), BrokerSettings::default(), false).expect("reopen");
    let partition = reopened.partition("t", 0).expect("partition");
    assert_eq!(partition.log().log_end_offset(), active);
    let states = partition.producers();
    assert!(matches!(
        states.check(77, 0, 0, 0),
        Ok(SequenceCheck::Duplicate(_))
    ));
    // Sequences equal offsets here: the last batch below the cut is a duplicate, the next is new.
    let next = i32::try_from(active).expect("small");
    assert!(matches!(
        states.check(PRODUCER, 0, next - 5, next - 1),
        Ok(SequenceCheck::Duplicate(_))
    ));
    assert_eq!(
        states.check(PRODUCER, 0, next, next + 4),
        Ok(SequenceCheck::Append)
    );
}
