//! Bad transactional requests on the wire get Kafka's error codes: a timeout above
//! `transaction.max.timeout.ms`, ending a transaction never begun, a fenced epoch (by API
//! version: PRODUCER_FENCED, or INVALID_PRODUCER_EPOCH to clients older than KIP-588), a
//! producer id that is not the transactional id's, AddPartitionsToTxn with an unknown
//! partition, a transactional produce to a partition not added (the classic flow), and a
//! FindCoordinator key type that is neither a group nor a transaction.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use fjord_e2e::BrokerProcess;
use fjord_e2e::kafka::create_topic;
use fjord_e2e::wire::{WireClient, transactional_batch};
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    AddPartitionsToTxnRequest, ApiKey, EndTxnRequest, FindCoordinatorRequest,
    InitProducerIdRequest, ProduceRequest, ProducerId, RequestKind, ResponseKind, TopicName,
    TransactionalId,
};
use kafka_protocol::protocol::StrBytes;

const INVALID_REQUEST: i16 = 42;
const INVALID_PRODUCER_EPOCH: i16 = 47;
const INVALID_TXN_STATE: i16 = 48;
const INVALID_PRODUCER_ID_MAPPING: i16 = 49;
const INVALID_TRANSACTION_TIMEOUT: i16 = 50;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const OPERATION_NOT_ATTEMPTED: i16 = 55;
const PRODUCER_FENCED: i16 = 90;
/// Retriable answers while `__transaction_state` is created and loaded.
const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
const COORDINATOR_NOT_AVAILABLE: i16 = 15;
const NOT_COORDINATOR: i16 = 16;

fn text(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

fn wire(bootstrap: &str) -> WireClient {
    WireClient::connect(bootstrap.parse::<SocketAddr>().unwrap()).unwrap()
}

/// InitProducerId for `id` with `timeout_ms`: `(error, producer id, epoch)`, retried while the
/// coordinator is being set up (bounded).
fn init(client: &mut WireClient, id: &str, timeout_ms: i32) -> (i16, i64, i16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let request = InitProducerIdRequest::default()
            .with_transactional_id(Some(TransactionalId(text(id))))
            .with_transaction_timeout_ms(timeout_ms)
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
        let retriable = [
            COORDINATOR_LOAD_IN_PROGRESS,
            COORDINATOR_NOT_AVAILABLE,
            NOT_COORDINATOR,
        ];
        if retriable.contains(&response.error_code) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
            continue;
        }
        return (
            response.error_code,
            response.producer_id.0,
            response.producer_epoch,
        );
    }
}

fn end(client: &mut WireClient, id: &str, producer: (i64, i16), version: i16) -> i16 {
    let request = EndTxnRequest::default()
        .with_transactional_id(TransactionalId(text(id)))
        .with_producer_id(ProducerId(producer.0))
        .with_producer_epoch(producer.1)
        .with_committed(true);
    match client
        .call(ApiKey::EndTxn, version, RequestKind::EndTxn(request))
        .unwrap()
    {
        ResponseKind::EndTxn(response) => response.error_code,
        other => panic!("not an EndTxn response: {other:?}"),
    }
}

/// AddPartitionsToTxn v3: each `(topic, partition)`'s error code.
fn add(
    client: &mut WireClient,
    id: &str,
    producer: (i64, i16),
    wanted: &[(&str, i32)],
) -> Vec<i16> {
    let topics = wanted
        .iter()
        .map(|(topic, partition)| {
            AddPartitionsToTxnTopic::default()
                .with_name(TopicName(text(topic)))
                .with_partitions(vec![*partition])
        })
        .collect();
    let request = AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(TransactionalId(text(id)))
        .with_v3_and_below_producer_id(ProducerId(producer.0))
        .with_v3_and_below_producer_epoch(producer.1)
        .with_v3_and_below_topics(topics);
    let ResponseKind::AddPartitionsToTxn(response) = client
        .call(
            ApiKey::AddPartitionsToTxn,
            3,
            RequestKind::AddPartitionsToTxn(request),
        )
        .unwrap()
    else {
        panic!("not an AddPartitionsToTxn response");
    };
    response
        .results_by_topic_v3_and_below
        .iter()
        .flat_map(|t| {
            t.results_by_partition
                .iter()
                .map(|p| p.partition_error_code)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_transactional_requests_get_kafkas_errors() {
    let broker = BrokerProcess::start(&[]).unwrap();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "t", 2, &[]).await.unwrap();
    let mut client = wire(&bootstrap);

    // A timeout above transaction.max.timeout.ms (15 minutes by default).
    assert_eq!(
        init(&mut client, "w", 2_000_000).0,
        INVALID_TRANSACTION_TIMEOUT
    );
    let (error, producer_id, epoch) = init(&mut client, "w", 10_000);
    assert_eq!(error, 0);
    // Ending a transaction that was never begun.
    assert_eq!(
        end(&mut client, "w", (producer_id, epoch), 3),
        INVALID_TXN_STATE
    );
    // A new InitProducerId fences the old epoch; a client older than KIP-588 (EndTxn v1)
    // hears INVALID_PRODUCER_EPOCH.
    let (error, same_id, newer) = init(&mut client, "w", 10_000);
    assert_eq!((error, same_id, newer), (0, producer_id, epoch + 1));
    assert_eq!(
        end(&mut client, "w", (producer_id, epoch), 3),
        PRODUCER_FENCED
    );
    assert_eq!(
        end(&mut client, "w", (producer_id, epoch), 1),
        INVALID_PRODUCER_EPOCH
    );
    // Another producer id than the transactional id's.
    assert_eq!(
        add(&mut client, "w", (producer_id + 1, newer), &[("t", 0)]),
        [INVALID_PRODUCER_ID_MAPPING]
    );
    // An unknown partition: it is refused, the others not attempted.
    assert_eq!(
        add(
            &mut client,
            "w",
            (producer_id, newer),
            &[("t", 0), ("t", 7)]
        ),
        [OPERATION_NOT_ATTEMPTED, UNKNOWN_TOPIC_OR_PARTITION]
    );

    // The classic flow: a transactional produce to a partition the transaction does not
    // have is refused, and nothing is written.
    assert_eq!(
        add(&mut client, "w", (producer_id, newer), &[("t", 0)]),
        [0]
    );
    let produce = |partition: i32| {
        let batch = transactional_batch(&[b"x"], 1_000, (producer_id, newer, 0));
        ProduceRequest::default()
            .with_transactional_id(Some(TransactionalId(text("w"))))
            .with_acks(-1)
            .with_timeout_ms(10_000)
            .with_topic_data(vec![
                TopicProduceData::default()
                    .with_name(TopicName(text("t")))
                    .with_partition_data(vec![
                        PartitionProduceData::default()
                            .with_index(partition)
                            .with_records(Some(Bytes::from(batch))),
                    ]),
            ])
    };
    let code = |response: ResponseKind| match response {
        ResponseKind::Produce(r) => {
            let p = &r.responses[0].partition_responses[0];
            (p.error_code, p.base_offset)
        }
        other => panic!("not a Produce response: {other:?}"),
    };
    let refused = client
        .call(ApiKey::Produce, 9, RequestKind::Produce(produce(1)))
        .unwrap();
    assert_eq!(code(refused), (INVALID_TXN_STATE, -1));
    let added = client
        .call(ApiKey::Produce, 9, RequestKind::Produce(produce(0)))
        .unwrap();
    assert_eq!(code(added), (0, 0));

    // FindCoordinator knows groups (0) and transactions (1) only.
    let request = FindCoordinatorRequest::default()
        .with_key(text("w"))
        .with_key_type(2);
    let ResponseKind::FindCoordinator(response) = client
        .call(
            ApiKey::FindCoordinator,
            3,
            RequestKind::FindCoordinator(request),
        )
        .unwrap()
    else {
        panic!("not a FindCoordinator response");
    };
    assert_eq!(response.error_code, INVALID_REQUEST);
}
