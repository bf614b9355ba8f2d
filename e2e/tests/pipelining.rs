//! Pipelined requests on one connection: more requests than the broker reads
//! ahead of the oldest answer, and fetch answers that together exceed the
//! bytes a connection may hold queued, all answered in order and in full.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::time::Duration;

use bytes::Bytes;
use fjord_e2e::BrokerProcess;
use fjord_e2e::kafka::{consume_all, create_topic};
use fjord_e2e::wire::{WireClient, record_batch};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, FetchRequest, ProduceRequest, RequestKind, ResponseKind, TopicName,
};
use kafka_protocol::protocol::StrBytes;

const TOPIC: &str = "pipelined";

fn produce_request(batch: Vec<u8>) -> RequestKind {
    RequestKind::Produce(
        ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(10_000)
            .with_topic_data(vec![
                TopicProduceData::default()
                    .with_name(TopicName(StrBytes::from_static_str(TOPIC)))
                    .with_partition_data(vec![
                        PartitionProduceData::default()
                            .with_index(0)
                            .with_records(Some(Bytes::from(batch))),
                    ]),
            ]),
    )
}

fn fetch_request(offset: i64, max_bytes: i32) -> RequestKind {
    RequestKind::Fetch(
        FetchRequest::default()
            .with_replica_id(kafka_protocol::messages::BrokerId(-1))
            .with_max_wait_ms(0)
            .with_min_bytes(1)
            .with_max_bytes(max_bytes)
            .with_topics(vec![
                FetchTopic::default()
                    .with_topic(TopicName(StrBytes::from_static_str(TOPIC)))
                    .with_partitions(vec![
                        FetchPartition::default()
                            .with_partition(0)
                            .with_fetch_offset(offset)
                            .with_partition_max_bytes(max_bytes),
                    ]),
            ]),
    )
}

fn fetched_bytes(response: &ResponseKind) -> usize {
    let ResponseKind::Fetch(fetch) = response else {
        panic!("expected a fetch answer, got {response:?}");
    };
    let partition = &fetch.responses[0].partitions[0];
    assert_eq!(partition.error_code, 0);
    partition.records.as_ref().map_or(0, Bytes::len)
}

#[tokio::test(flavor = "multi_thread")]
async fn hundreds_of_pipelined_produces_and_big_fetches_are_answered_in_order() {
    let broker = BrokerProcess::start(&[]).unwrap();
    create_topic(&broker.bootstrap(), TOPIC, 1, &[])
        .await
        .unwrap();
    let mut wire = WireClient::connect(broker.kafka).unwrap();

    // 600 produces (the broker reads at most 256 ahead) sent before reading
    // any answer: each answer in order, at the next offset.
    let records_per_batch = 10;
    let value = vec![b'v'; 1000];
    let values: Vec<&[u8]> = vec![&value; records_per_batch];
    let mut sent = Vec::new();
    for _ in 0..600 {
        let batch = record_batch(&values, 1_700_000_000_000);
        sent.push(
            wire.send(ApiKey::Produce, 9, produce_request(batch))
                .unwrap(),
        );
    }
    for (i, expected_id) in sent.iter().enumerate() {
        let (id, response) = wire.receive(ApiKey::Produce, 9).unwrap();
        assert_eq!(id, *expected_id, "answers come in request order");
        let ResponseKind::Produce(produce) = response else {
            panic!("expected a produce answer, got {response:?}");
        };
        let partition = &produce.responses[0].partition_responses[0];
        assert_eq!(partition.error_code, 0);
        assert_eq!(partition.base_offset, (i * records_per_batch) as i64);
    }

    // 6 MB in the log; 20 pipelined fetches of all of it hold ~120 MB of
    // answers, more than a connection may keep queued (64 MiB): the broker
    // waits for the client to read, then answers every one in full.
    let total = {
        let (_, response) = {
            let id = wire
                .send(ApiKey::Fetch, 12, fetch_request(0, 16 << 20))
                .unwrap();
            let answer = wire.receive(ApiKey::Fetch, 12).unwrap();
            assert_eq!(answer.0, id);
            answer
        };
        fetched_bytes(&response)
    };
    assert!(total > 6_000_000, "one fetch returned {total} bytes");
    let ids: Vec<i32> = (0..20)
        .map(|_| {
            wire.send(ApiKey::Fetch, 12, fetch_request(0, 16 << 20))
                .unwrap()
        })
        .collect();
    for expected_id in ids {
        let (id, response) = wire.receive(ApiKey::Fetch, 12).unwrap();
        assert_eq!(id, expected_id);
        assert_eq!(fetched_bytes(&response), total);
    }

    // And a real client reads exactly the 6,000 records.
    let consumed =
        consume_all(&broker.bootstrap(), TOPIC, 1, 6000, Duration::from_secs(30)).unwrap();
    assert_eq!(consumed.len(), 6000);
    assert!(
        consumed
            .iter()
            .enumerate()
            .all(|(i, r)| r.offset == i as i64)
    );
}
