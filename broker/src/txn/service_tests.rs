//! The transaction service over real partitions: a commit decided before a crash is finished
//! by the next coordinator, and the transaction's offsets and records become visible.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::*;
use crate::config::BrokerSettings;
use crate::group::{GroupCoordinator, GroupSettings};
use crate::log::builder::BatchBuilder;
use crate::partition::AppendOrigin;
use crate::topics::{NewTopic, Topics};

fn settings() -> BrokerSettings {
    BrokerSettings {
        offsets_topic_num_partitions: 2,
        transaction_state_log_num_partitions: 2,
        ..BrokerSettings::default()
    }
}

/// A broker's topics, group coordinator and transaction service over `dir`, with every
/// `__transaction_state` partition loaded.
async fn open(dir: &std::path::Path) -> (Arc<Topics>, Arc<TxnService>) {
    let topics = Arc::new(Topics::open(dir, settings(), false).unwrap());
    if !topics.snapshot().topics.contains_key("t") {
        let topic = NewTopic {
            name: "t".to_owned(),
            partitions: 1,
            replication_factor: -1,
            configs: BTreeMap::new(),
        };
        topics.create(&topic, false).unwrap();
    }
    let groups = GroupCoordinator::new(Arc::clone(&topics), GroupSettings::from(&settings()));
    let txn_settings = super::super::TxnSettings {
        state_log_partitions: 2,
        ..super::super::TxnSettings::default()
    };
    let service = TxnService::new(Arc::clone(&topics), groups, txn_settings);
    service.ensure_state_topic().unwrap();
    for partition in 0..2 {
        let effects = service.load(partition, 0).unwrap();
        service.process(effects);
    }
    (topics, service)
}

fn transactional_batch(producer: ProducerIdAndEpoch) -> Bytes {
    let batch = BatchBuilder::new(1_000)
        .producer(producer.producer_id, producer.producer_epoch, 0)
        .transactional()
        .record(None, Some(b"in the transaction"), 1_000)
        .build();
    Bytes::from(batch)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_decided_before_a_crash_is_finished_by_the_next_coordinator() {
    let dir = tempfile::tempdir().unwrap();
    let producer = {
        let (topics, service) = open(dir.path()).await;
        let init = InitProducerId {
            transactional_id: "decided".into(),
            timeout_ms: 60_000,
            current: None,
        };
        let producer = service.init_producer_id(init).await.unwrap();
        let partition = TopicPartition::new("t", 0);
        service
            .add_partitions("decided", producer, vec![partition], TransactionVersion::V0)
            .await
            .unwrap();
        let t0 = topics.partition("t", 0).unwrap();
        let appended = t0
            .append(transactional_batch(producer), AppendOrigin::Client, 1_000)
            .unwrap();
        appended.durable.await.unwrap();
        assert_eq!(t0.offsets().last_stable, 0, "held at the open transaction");
        // The commit is decided (its PrepareCommit record durable) and then the broker
        // stops before any marker is written.
        let step = {
            let mut ids = || -> Result<i64, TxnError> { Err(TxnError::CoordinatorNotAvailable) };
            let mut state = lock(&service.state);
            state
                .end_txn(
                    "decided",
                    producer.producer_id,
                    producer.producer_epoch,
                    true,
                    TransactionVersion::V0,
                    2_000,
                    &mut ids,
                )
                .unwrap()
        };
        let Step::Write(write) = step else {
            panic!("a commit writes its decision first");
        };
        service.append(&write).await.unwrap();
        assert_eq!(t0.offsets().last_stable, 0, "no marker yet");
        producer
    };

    // The next coordinator loads PrepareCommit and writes the markers.
    let (topics, service) = open(dir.path()).await;
    let t0 = topics.partition("t", 0).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while service.describe("decided").map(|d| d.state) != Ok("CompleteCommit") {
        assert!(
            std::time::Instant::now() < deadline,
            "still {:?}",
            service.describe("decided")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let offsets = t0.offsets();
    assert_eq!(offsets.log_end, 2, "the record and its COMMIT marker");
    assert_eq!(offsets.last_stable, 2, "the transaction is stable");
    let described = service.describe("decided").unwrap();
    assert_eq!(described.producer_id, producer.producer_id);
}
