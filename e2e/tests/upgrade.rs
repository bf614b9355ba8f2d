//! A data directory written by the release before the metadata command log — its metadata one
//! JSON document, `cluster-metadata.json` — opens with this broker and serves what it held: the
//! topic keeps its id and configs, every record is read back where it was, producer ids are not
//! handed out twice, and new records follow the old ones. The fixture was written by that
//! release's binary (`e2e/fixtures/make-upgrade-fixture`).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::path::Path;
use std::time::Duration;

use fjord_e2e::BrokerProcess;
use fjord_e2e::kafka::{Consumed, admin, consume_all, producer};
use fjord_e2e::wire::WireClient;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    ApiKey, InitProducerIdRequest, MetadataRequest, ProducerId, RequestKind, ResponseKind,
    TopicName,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::admin::{AdminOptions, ResourceSpecifier};
use rdkafka::producer::FutureRecord;

const FIXTURE: &str = "fixtures/upgrade-data-dir";
const RECORDS: usize = 400;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// What the old release wrote: topic "kept"'s id and the next producer id it would hand out.
fn old_metadata(dir: &Path) -> (String, i64) {
    let text = std::fs::read_to_string(dir.join("cluster-metadata.json")).unwrap();
    let document: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(document["version"], 1, "the fixture is the old document");
    let state = &document["state"];
    (
        state["topics"]["kept"]["id"].as_str().unwrap().to_owned(),
        state["next_producer_id"].as_i64().unwrap(),
    )
}

/// The fixture's records: "key-<i>" => "value-<i>" in partition i % 2, at offset i / 2.
fn assert_fixture_records(consumed: &[Consumed]) {
    let mut old: Vec<&Consumed> = consumed
        .iter()
        .filter(|r| r.value.as_deref().is_some_and(|v| v.starts_with(b"value-")))
        .collect();
    assert_eq!(old.len(), RECORDS, "every record of the old release");
    old.sort_by_key(|r| (r.offset, r.partition));
    for record in old {
        let key = String::from_utf8(record.key.clone().unwrap()).unwrap();
        let i: i64 = key.strip_prefix("key-").unwrap().parse().unwrap();
        assert_eq!(
            (record.partition, record.offset),
            (i32::try_from(i % 2).unwrap(), i / 2),
            "{key}"
        );
        assert_eq!(
            record.value.as_deref(),
            Some(format!("value-{i}").as_bytes())
        );
        assert_eq!(record.timestamp, Some(1_700_000_000_000 + i));
    }
}

fn topic_id(broker: &BrokerProcess) -> String {
    let mut client = WireClient::connect(broker.bootstrap().parse().unwrap()).unwrap();
    let request = MetadataRequest::default().with_topics(Some(vec![
        MetadataRequestTopic::default()
            .with_name(Some(TopicName(StrBytes::from_static_str("kept")))),
    ]));
    let ResponseKind::Metadata(response) = client
        .call(ApiKey::Metadata, 12, RequestKind::Metadata(request))
        .unwrap()
    else {
        panic!("not a Metadata response");
    };
    assert_eq!(response.topics[0].error_code, 0);
    response.topics[0].topic_id.to_string()
}

fn new_producer_id(broker: &BrokerProcess) -> i64 {
    let mut client = WireClient::connect(broker.bootstrap().parse().unwrap()).unwrap();
    let request = InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_transaction_timeout_ms(60_000)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    let ResponseKind::InitProducerId(response) = client
        .call(
            ApiKey::InitProducerId,
            4,
            RequestKind::InitProducerId(request),
        )
        .unwrap()
    else {
        panic!("not an InitProducerId response");
    };
    assert_eq!(response.error_code, 0, "InitProducerId");
    response.producer_id.0
}

#[tokio::test(flavor = "multi_thread")]
async fn a_data_directory_of_the_previous_release_opens_and_serves_its_records() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURE),
        dir.path(),
    );
    let (old_id, old_next_producer_id) = old_metadata(dir.path());
    assert!(!dir.path().join("__cluster_metadata-0").exists());

    let mut broker = BrokerProcess::start_in(dir.path(), &[]).unwrap();
    let bootstrap = broker.bootstrap();
    assert!(
        dir.path().join("cluster-metadata.json.migrated").exists()
            && !dir.path().join("cluster-metadata.json").exists(),
        "the old document is kept aside once migrated"
    );
    assert_eq!(topic_id(&broker), old_id, "the topic keeps its id");
    let consumed = consume_all(&bootstrap, "kept", 2, RECORDS, Duration::from_secs(60)).unwrap();
    assert_fixture_records(&consumed);
    let configs = admin(&bootstrap)
        .unwrap()
        .describe_configs([&ResourceSpecifier::Topic("kept")], &AdminOptions::new())
        .await
        .unwrap();
    let resource = configs.into_iter().next().unwrap().unwrap();
    assert_eq!(
        resource.get("retention.ms").unwrap().value.as_deref(),
        Some("86400000")
    );
    let producer_id = new_producer_id(&broker);
    assert!(
        producer_id >= old_next_producer_id,
        "producer id {producer_id} may have been handed out before (old next: {old_next_producer_id})"
    );

    // New records follow the old ones, and a second start opens the migrated directory as is.
    let writer = producer(&bootstrap, &[]).unwrap();
    for partition in 0..2 {
        let delivery = writer
            .send(
                FutureRecord::to("kept")
                    .partition(partition)
                    .key("new")
                    .payload("after the upgrade"),
                Duration::from_secs(30),
            )
            .await
            .unwrap();
        assert_eq!(delivery.offset, i64::try_from(RECORDS / 2).unwrap());
    }
    drop(writer);
    assert!(broker.stop().unwrap().success());
    let broker = BrokerProcess::start_in(dir.path(), &[]).unwrap();
    assert_eq!(topic_id(&broker), old_id);
    let consumed = consume_all(
        &broker.bootstrap(),
        "kept",
        2,
        RECORDS + 2,
        Duration::from_secs(60),
    )
    .unwrap();
    assert_fixture_records(&consumed);
    assert!(new_producer_id(&broker) > producer_id);
}
