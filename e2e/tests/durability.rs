//! What survives: a graceful restart keeps every record and config; `kill -9`
//! during an `acks=all` stream loses nothing that was acknowledged, and an
//! idempotent producer's records appear exactly once.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fjord_e2e::BrokerProcess;
use fjord_e2e::kafka::{
    Delivered, admin, assert_same_records, consume_all, create_topic, keyed_records, produce_all,
    producer,
};
use rdkafka::admin::{AdminOptions, ResourceSpecifier};
use rdkafka::producer::FutureRecord;

#[tokio::test(flavor = "multi_thread")]
async fn a_graceful_restart_keeps_records_configs_and_identity() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = BrokerProcess::start_in(dir.path(), &[]).unwrap();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "kept", 4, &[("retention.ms", "86400000")])
        .await
        .unwrap();
    let records = keyed_records("before", 20_000, 100);
    let delivered = produce_all(&producer(&bootstrap, &[]).unwrap(), "kept", &records, 5_000)
        .await
        .unwrap();
    let meta_before = std::fs::read_to_string(dir.path().join("meta.properties")).unwrap();
    assert!(broker.stop().unwrap().success());

    let broker = BrokerProcess::start_in(dir.path(), &[]).unwrap();
    let bootstrap = broker.bootstrap();
    assert_eq!(
        std::fs::read_to_string(dir.path().join("meta.properties")).unwrap(),
        meta_before
    );
    let consumed = consume_all(
        &bootstrap,
        "kept",
        4,
        delivered.len(),
        Duration::from_secs(60),
    )
    .unwrap();
    assert_same_records(&delivered, &consumed);
    let results = admin(&bootstrap)
        .unwrap()
        .describe_configs([&ResourceSpecifier::Topic("kept")], &AdminOptions::new())
        .await
        .unwrap();
    let resource = results.into_iter().next().unwrap().unwrap();
    assert_eq!(
        resource.get("retention.ms").unwrap().value.as_deref(),
        Some("86400000")
    );
    // New records continue after the old ones.
    let more = keyed_records("after", 1_000, 100);
    let delivered_more = produce_all(&producer(&bootstrap, &[]).unwrap(), "kept", &more, 1_000)
        .await
        .unwrap();
    let mut all = delivered;
    all.extend(delivered_more);
    let consumed = consume_all(&bootstrap, "kept", 4, all.len(), Duration::from_secs(60)).unwrap();
    assert_same_records(&all, &consumed);
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_during_an_acks_all_stream_loses_no_acknowledged_record() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = BrokerProcess::start_in(dir.path(), &[]).unwrap();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "crash", 3, &[]).await.unwrap();
    let acknowledged: Arc<Mutex<Vec<Delivered>>> = Arc::default();
    let producer = producer(
        &bootstrap,
        &[
            ("message.timeout.ms", "5000"),
            ("linger.ms", "2"),
            ("retries", "1000000"),
        ],
    )
    .unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stream = {
        let acknowledged = acknowledged.clone();
        let producer = producer.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let mut in_flight = tokio::task::JoinSet::new();
            for i in 0..200_000u64 {
                if started.elapsed() > Duration::from_secs(20)
                    || stop.load(std::sync::atomic::Ordering::Relaxed)
                {
                    break;
                }
                let key = format!("key-{}", i % 101);
                let value = format!("value-{i:09}");
                let Ok(delivery) =
                    producer.send_result(FutureRecord::to("crash").key(&key).payload(&value))
                else {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                };
                let acknowledged = acknowledged.clone();
                in_flight.spawn(async move {
                    if let Ok(Ok(delivery)) = delivery.await {
                        acknowledged.lock().unwrap().push(Delivered {
                            partition: delivery.partition,
                            offset: delivery.offset,
                            key: key.into_bytes(),
                            value: value.into_bytes(),
                        });
                    }
                });
                while in_flight.len() > 2_000 {
                    in_flight.join_next().await;
                }
            }
            while in_flight.join_next().await.is_some() {}
        })
    };
    // Kill the broker mid-stream, once a good number of records are acknowledged.
    let deadline = Instant::now() + Duration::from_secs(60);
    while acknowledged.lock().unwrap().len() < 20_000 {
        assert!(Instant::now() < deadline, "the stream never got going");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    broker.kill9().unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    stream.await.unwrap();
    let acknowledged = acknowledged.lock().unwrap().clone();

    let broker = BrokerProcess::start_in(dir.path(), &[]).unwrap();
    let bootstrap = broker.bootstrap();
    let mut expected_at_least = acknowledged.len();
    // Records in flight at the kill may also have been written: read until
    // the log ends, then check.
    let consumer_total = {
        let consumer: rdkafka::consumer::BaseConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("group.id", "fjord-e2e-crash")
            .create()
            .unwrap();
        (0..3)
            .map(|p| {
                let (low, high) = rdkafka::consumer::Consumer::fetch_watermarks(
                    &consumer,
                    "crash",
                    p,
                    Duration::from_secs(10),
                )
                .unwrap();
                (high - low) as usize
            })
            .sum::<usize>()
    };
    assert!(
        consumer_total >= expected_at_least,
        "log holds {consumer_total} records, {expected_at_least} were acknowledged"
    );
    expected_at_least = consumer_total;
    let consumed = consume_all(
        &bootstrap,
        "crash",
        3,
        expected_at_least,
        Duration::from_secs(60),
    )
    .unwrap();
    let mut seen_values = HashSet::new();
    for record in &consumed {
        assert!(
            seen_values.insert(record.value.clone()),
            "a record was written twice: {:?}",
            record.value
        );
    }
    let by_position: std::collections::HashMap<(i32, i64), &fjord_e2e::kafka::Consumed> = consumed
        .iter()
        .map(|record| ((record.partition, record.offset), record))
        .collect();
    for sent in &acknowledged {
        let found = by_position
            .get(&(sent.partition, sent.offset))
            .unwrap_or_else(|| {
                panic!(
                    "acknowledged record at {}/{} is gone",
                    sent.partition, sent.offset
                )
            });
        assert_eq!(found.value.as_deref(), Some(&sent.value[..]));
    }
    eprintln!(
        "{} records acknowledged before kill -9, {} in the log after restart",
        acknowledged.len(),
        consumed.len()
    );
}

#[test]
fn a_retried_idempotent_batch_is_answered_with_its_original_offset_even_after_a_restart() {
    use bytes::Bytes;
    use fjord_e2e::wire::{WireClient, idempotent_batch};
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::{
        ApiKey, CreateTopicsRequest, InitProducerIdRequest, ProduceRequest, RequestKind,
        ResponseKind, TopicName,
    };
    use kafka_protocol::protocol::StrBytes;

    fn send(wire: &mut WireClient, batch: Vec<u8>) -> (i16, i64) {
        let request = ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(10_000)
            .with_topic_data(vec![
                TopicProduceData::default()
                    .with_name(TopicName(StrBytes::from_static_str("idempotent")))
                    .with_partition_data(vec![
                        PartitionProduceData::default()
                            .with_index(0)
                            .with_records(Some(Bytes::from(batch))),
                    ]),
            ]);
        let ResponseKind::Produce(response) = wire
            .call(ApiKey::Produce, 9, RequestKind::Produce(request))
            .unwrap()
        else {
            panic!("not a Produce response")
        };
        let partition = &response.responses[0].partition_responses[0];
        (partition.error_code, partition.base_offset)
    }

    let dir = tempfile::tempdir().unwrap();
    let mut broker = BrokerProcess::start_in(dir.path(), &[]).unwrap();
    let mut wire = WireClient::connect(broker.kafka).unwrap();
    let create = CreateTopicsRequest::default()
        .with_timeout_ms(10_000)
        .with_topics(vec![
            kafka_protocol::messages::create_topics_request::CreatableTopic::default()
                .with_name(TopicName(StrBytes::from_static_str("idempotent")))
                .with_num_partitions(1)
                .with_replication_factor(1),
        ]);
    wire.call(ApiKey::CreateTopics, 5, RequestKind::CreateTopics(create))
        .unwrap();
    let ResponseKind::InitProducerId(init) = wire
        .call(
            ApiKey::InitProducerId,
            4,
            RequestKind::InitProducerId(
                InitProducerIdRequest::default()
                    .with_transactional_id(None)
                    .with_transaction_timeout_ms(60_000),
            ),
        )
        .unwrap()
    else {
        panic!("not an InitProducerId response")
    };
    let producer_id = init.producer_id.0;
    assert!(producer_id >= 0);

    assert_eq!(
        send(
            &mut wire,
            idempotent_batch(&[b"a", b"b"], 0, (producer_id, 0, 0))
        ),
        (0, 0)
    );
    assert_eq!(
        send(&mut wire, idempotent_batch(&[b"c"], 0, (producer_id, 0, 2))),
        (0, 2)
    );
    // The retry of the first batch is a duplicate: same offset, nothing written.
    assert_eq!(
        send(
            &mut wire,
            idempotent_batch(&[b"a", b"b"], 0, (producer_id, 0, 0))
        ),
        (0, 0)
    );
    // A gap in the sequence: OUT_OF_ORDER_SEQUENCE_NUMBER.
    assert_eq!(
        send(&mut wire, idempotent_batch(&[b"x"], 0, (producer_id, 0, 9))).0,
        45
    );
    assert_eq!(
        send(&mut wire, idempotent_batch(&[b"d"], 0, (producer_id, 0, 3))),
        (0, 3)
    );

    // After kill -9 the producer state is rebuilt from the log.
    broker.kill9().unwrap();
    let broker = BrokerProcess::start_in(dir.path(), &[]).unwrap();
    let mut wire = WireClient::connect(broker.kafka).unwrap();
    assert_eq!(
        send(&mut wire, idempotent_batch(&[b"c"], 0, (producer_id, 0, 2))),
        (0, 2)
    );
    assert_eq!(
        send(&mut wire, idempotent_batch(&[b"e"], 0, (producer_id, 0, 4))),
        (0, 4)
    );
    // A new producer id is never one handed out before the restart.
    let ResponseKind::InitProducerId(init) = wire
        .call(
            ApiKey::InitProducerId,
            4,
            RequestKind::InitProducerId(
                InitProducerIdRequest::default()
                    .with_transactional_id(None)
                    .with_transaction_timeout_ms(60_000),
            ),
        )
        .unwrap()
    else {
        panic!("not an InitProducerId response")
    };
    assert!(init.producer_id.0 > producer_id);
}
