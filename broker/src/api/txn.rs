//! The transactional APIs: InitProducerId with a transactional id, AddPartitionsToTxn (v0–3),
//! AddOffsetsToTxn, EndTxn (v5: Transactions V2), TxnOffsetCommit, DescribeTransactions,
//! ListTransactions, DescribeProducers, and the check a transactional Produce goes through. The handlers turn
//! requests into calls of the transaction service (`txn/service.rs`) and its answers into
//! Kafka's error codes; PRODUCER_FENCED goes to clients older than KIP-588 as
//! INVALID_PRODUCER_EPOCH.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::describe_producers_response::{
    PartitionResponse as ProducersOfPartition, ProducerState, TopicResponse as ProducersOfTopic,
};
use kafka_protocol::messages::describe_transactions_response::{
    TopicData, TransactionState as DescribedState,
};
use kafka_protocol::messages::list_transactions_response::TransactionState as ListedState;
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, AddPartitionsToTxnRequest,
    AddPartitionsToTxnResponse, ApiKey, DescribeProducersRequest, DescribeProducersResponse,
    DescribeTransactionsRequest, DescribeTransactionsResponse, EndTxnRequest, EndTxnResponse,
    InitProducerIdRequest, InitProducerIdResponse, ListTransactionsRequest,
    ListTransactionsResponse, ProducerId, TopicName, TransactionalId, TxnOffsetCommitRequest,
    TxnOffsetCommitResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::errors::group_error;
use super::{Broker, HandleError, now_ms};
use crate::group::{CommittedOffset, TxnProducer, partition_for};
use crate::txn::{
    CONSUMER_OFFSETS_TOPIC, InitProducerId, ListFilter, ProducerIdAndEpoch, TopicPartition,
    TransactionVersion, TxnError,
};

fn text(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

/// The Kafka error for a refusal of the transaction coordinator, to `api` at `version`.
pub fn txn_error(error: &TxnError, api: ApiKey, version: i16) -> ResponseError {
    match error {
        TxnError::InvalidRequest(_) => ResponseError::InvalidRequest,
        TxnError::InvalidTransactionTimeout(_) => ResponseError::InvalidTransactionTimeout,
        TxnError::ConcurrentTransactions => ResponseError::ConcurrentTransactions,
        TxnError::ProducerFenced if TxnError::fenced_code_is_legacy(api as i16, version) => {
            ResponseError::InvalidProducerEpoch
        }
        TxnError::ProducerFenced => ResponseError::ProducerFenced,
        TxnError::InvalidProducerIdMapping => ResponseError::InvalidProducerIdMapping,
        TxnError::InvalidTxnState(_) => ResponseError::InvalidTxnState,
        TxnError::TransactionAbortable => ResponseError::TransactionAbortable,
        TxnError::NotCoordinator => ResponseError::NotCoordinator,
        TxnError::CoordinatorLoadInProgress => ResponseError::CoordinatorLoadInProgress,
        TxnError::CoordinatorNotAvailable => ResponseError::CoordinatorNotAvailable,
        TxnError::TransactionalIdNotFound => ResponseError::TransactionalIdNotFound,
        TxnError::Internal(_) => ResponseError::UnknownServerError,
    }
}

fn producer(id: ProducerId, epoch: i16) -> ProducerIdAndEpoch {
    ProducerIdAndEpoch {
        producer_id: id.0,
        producer_epoch: epoch,
    }
}

/// InitProducerId with a transactional id.
pub async fn init_producer_id(
    broker: &Arc<Broker>,
    request: &InitProducerIdRequest,
    transactional_id: &str,
    version: i16,
) -> InitProducerIdResponse {
    let current = (version >= 3 && request.producer_id.0 >= 0)
        .then(|| producer(request.producer_id, request.producer_epoch));
    let init = InitProducerId {
        transactional_id: transactional_id.to_owned(),
        timeout_ms: request.transaction_timeout_ms,
        current,
    };
    match broker.txns.init_producer_id(init).await {
        Ok(given) => InitProducerIdResponse::default()
            .with_producer_id(ProducerId(given.producer_id))
            .with_producer_epoch(given.producer_epoch),
        Err(error) => InitProducerIdResponse::default()
            .with_error_code(txn_error(&error, ApiKey::InitProducerId, version).code())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1),
    }
}

pub async fn add_partitions_to_txn(
    broker: &Arc<Broker>,
    request: AddPartitionsToTxnRequest,
    version: i16,
) -> Result<AddPartitionsToTxnResponse, HandleError> {
    let snapshot = broker.topics.snapshot();
    let known = |topic: &str, partition: i32| {
        snapshot
            .topics
            .get(topic)
            .is_some_and(|t| (0..t.partitions).contains(&partition))
    };
    let wanted: Vec<(TopicName, Vec<i32>)> = request
        .v3_and_below_topics
        .iter()
        .map(|t| (t.name.clone(), t.partitions.clone()))
        .collect();
    let any_unknown = wanted
        .iter()
        .any(|(topic, partitions)| partitions.iter().any(|p| !known(topic.as_str(), *p)));
    let outcome = if any_unknown {
        None
    } else {
        let partitions = wanted
            .iter()
            .flat_map(|(topic, partitions)| {
                partitions
                    .iter()
                    .map(|p| TopicPartition::new(topic.as_str(), *p))
            })
            .collect();
        let id = request.v3_and_below_transactional_id.as_str();
        let producer = producer(
            request.v3_and_below_producer_id,
            request.v3_and_below_producer_epoch,
        );
        Some(
            broker
                .txns
                .add_partitions(id, producer, partitions, TransactionVersion::V0)
                .await,
        )
    };
    let code = |topic: &str, partition: i32| match &outcome {
        // Kafka: the unknown ones UNKNOWN_TOPIC_OR_PARTITION, the rest not attempted.
        None if !known(topic, partition) => ResponseError::UnknownTopicOrPartition.code(),
        None => ResponseError::OperationNotAttempted.code(),
        Some(Ok(())) => 0,
        Some(Err(error)) => txn_error(error, ApiKey::AddPartitionsToTxn, version).code(),
    };
    let results = wanted
        .iter()
        .map(|(topic, partitions)| {
            AddPartitionsToTxnTopicResult::default()
                .with_name(topic.clone())
                .with_results_by_partition(
                    partitions
                        .iter()
                        .map(|p| {
                            AddPartitionsToTxnPartitionResult::default()
                                .with_partition_index(*p)
                                .with_partition_error_code(code(topic.as_str(), *p))
                        })
                        .collect(),
                )
        })
        .collect();
    Ok(AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(results))
}

pub async fn add_offsets_to_txn(
    broker: &Arc<Broker>,
    request: AddOffsetsToTxnRequest,
    version: i16,
) -> Result<AddOffsetsToTxnResponse, HandleError> {
    let producer = producer(request.producer_id, request.producer_epoch);
    let outcome = broker
        .txns
        .add_offsets(
            request.transactional_id.as_str(),
            producer,
            request.group_id.as_str(),
        )
        .await;
    let code = outcome.map_or_else(
        |error| txn_error(&error, ApiKey::AddOffsetsToTxn, version).code(),
        |()| 0,
    );
    Ok(AddOffsetsToTxnResponse::default().with_error_code(code))
}

pub async fn end_txn(
    broker: &Arc<Broker>,
    request: EndTxnRequest,
    version: i16,
) -> Result<EndTxnResponse, HandleError> {
    // EndTxn v5 is Transactions V2 (KIP-890): the epoch is bumped and returned.
    let transaction_version = if version >= 5 {
        TransactionVersion::V2
    } else {
        TransactionVersion::V0
    };
    let producer = producer(request.producer_id, request.producer_epoch);
    let outcome = broker
        .txns
        .end_txn(
            request.transactional_id.as_str(),
            producer,
            request.committed,
            transaction_version,
        )
        .await;
    Ok(match outcome {
        Ok(next) => EndTxnResponse::default()
            .with_producer_id(ProducerId(next.producer_id))
            .with_producer_epoch(next.producer_epoch),
        Err(error) => EndTxnResponse::default()
            .with_error_code(txn_error(&error, ApiKey::EndTxn, version).code())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1),
    })
}

pub async fn txn_offset_commit(
    broker: &Arc<Broker>,
    request: TxnOffsetCommitRequest,
    version: i16,
) -> Result<TxnOffsetCommitResponse, HandleError> {
    let group = request.group_id.as_str();
    let producer_id = producer(request.producer_id, request.producer_epoch);
    // The group's offsets partition must be in the transaction; TxnOffsetCommit v5
    // (Transactions V2) adds it, as AddOffsetsToTxn did before.
    let transaction_version = if version >= 5 {
        TransactionVersion::V2
    } else {
        TransactionVersion::V0
    };
    let offsets_partition = TopicPartition::new(
        CONSUMER_OFFSETS_TOPIC,
        partition_for(group, broker.groups.settings().offsets_partitions),
    );
    let verified = broker
        .txns
        .verify_or_add_partition(
            request.transactional_id.as_str(),
            producer_id,
            offsets_partition,
            transaction_version,
        )
        .await;
    let now = now_ms();
    let commits: Vec<(String, i32, CommittedOffset)> = request
        .topics
        .iter()
        .flat_map(|topic| {
            topic.partitions.iter().map(move |p| {
                let offset = CommittedOffset {
                    offset: p.committed_offset,
                    leader_epoch: p.committed_leader_epoch,
                    metadata: p
                        .committed_metadata
                        .as_ref()
                        .map_or(String::new(), |m| m.to_string()),
                    commit_timestamp: now,
                };
                (topic.name.0.to_string(), p.partition_index, offset)
            })
        })
        .collect();
    let codes: Vec<i16> = match verified {
        Err(error) => {
            let code = txn_error(&error, ApiKey::TxnOffsetCommit, version).code();
            vec![code; commits.len()]
        }
        Ok(()) => {
            let txn_producer = TxnProducer {
                producer_id: producer_id.producer_id,
                producer_epoch: producer_id.producer_epoch,
            };
            let member = (request.member_id.as_str(), request.generation_id);
            broker
                .groups
                .txn_commit(group, member, txn_producer, commits, now)
                .await
                .into_iter()
                .map(|verdict| verdict.map_or_else(|e| group_error(e).code(), |()| 0))
                .collect()
        }
    };
    let mut codes = codes.into_iter();
    let topics = request
        .topics
        .iter()
        .map(|topic| {
            TxnOffsetCommitResponseTopic::default()
                .with_name(topic.name.clone())
                .with_partitions(
                    topic
                        .partitions
                        .iter()
                        .map(|p| {
                            TxnOffsetCommitResponsePartition::default()
                                .with_partition_index(p.partition_index)
                                .with_error_code(codes.next().unwrap_or(0))
                        })
                        .collect(),
                )
        })
        .collect();
    Ok(TxnOffsetCommitResponse::default().with_topics(topics))
}

pub async fn describe_transactions(
    broker: &Arc<Broker>,
    request: DescribeTransactionsRequest,
) -> Result<DescribeTransactionsResponse, HandleError> {
    let states = request
        .transactional_ids
        .iter()
        .map(|id| {
            let described = DescribedState::default().with_transactional_id(id.clone());
            match broker.txns.describe(id.as_str()) {
                Err(error) => described
                    .with_error_code(txn_error(&error, ApiKey::DescribeTransactions, 0).code()),
                Ok(d) => {
                    let topics = d
                        .topics
                        .iter()
                        .map(|(topic, partitions)| {
                            TopicData::default()
                                .with_topic(TopicName(text(topic)))
                                .with_partitions(partitions.clone())
                        })
                        .collect();
                    described
                        .with_transaction_state(text(d.state))
                        .with_transaction_timeout_ms(d.timeout_ms)
                        .with_transaction_start_time_ms(d.start_timestamp_ms)
                        .with_producer_id(ProducerId(d.producer_id))
                        .with_producer_epoch(d.producer_epoch)
                        .with_topics(topics)
                }
            }
        })
        .collect();
    Ok(DescribeTransactionsResponse::default().with_transaction_states(states))
}

/// DescribeProducers: the producers with state in each partition asked for (stuck
/// transactions show an old `current_txn_start_offset`).
pub async fn describe_producers(
    broker: &Arc<Broker>,
    request: DescribeProducersRequest,
) -> Result<DescribeProducersResponse, HandleError> {
    let topics = request
        .topics
        .iter()
        .map(|topic| {
            let partitions = topic
                .partition_indexes
                .iter()
                .map(|index| {
                    let response = ProducersOfPartition::default().with_partition_index(*index);
                    match broker.topics.partition(topic.name.as_str(), *index) {
                        None => {
                            response.with_error_code(ResponseError::UnknownTopicOrPartition.code())
                        }
                        Some(partition) => response.with_active_producers(
                            partition
                                .active_producers()
                                .iter()
                                .map(|p| {
                                    ProducerState::default()
                                        .with_producer_id(ProducerId(p.producer_id))
                                        .with_producer_epoch(i32::from(p.epoch))
                                        .with_last_sequence(p.last_sequence)
                                        .with_last_timestamp(p.last_timestamp)
                                        .with_coordinator_epoch(p.coordinator_epoch)
                                        .with_current_txn_start_offset(p.current_txn_start_offset)
                                })
                                .collect(),
                        ),
                    }
                })
                .collect();
            ProducersOfTopic::default()
                .with_name(topic.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    Ok(DescribeProducersResponse::default().with_topics(topics))
}

pub async fn list_transactions(
    broker: &Arc<Broker>,
    request: ListTransactionsRequest,
) -> Result<ListTransactionsResponse, HandleError> {
    let filter = ListFilter {
        states: request
            .state_filters
            .iter()
            .map(|s| s.to_string())
            .collect(),
        producer_ids: request.producer_id_filters.iter().map(|p| p.0).collect(),
        duration_ms: request.duration_filter,
    };
    Ok(match broker.txns.list(&filter) {
        Err(error) => ListTransactionsResponse::default()
            .with_error_code(txn_error(&error, ApiKey::ListTransactions, 0).code()),
        Ok(list) => ListTransactionsResponse::default()
            .with_unknown_state_filters(
                list.unknown_state_filters.iter().map(|s| text(s)).collect(),
            )
            .with_transaction_states(
                list.transactions
                    .iter()
                    .map(|t| {
                        ListedState::default()
                            .with_transactional_id(TransactionalId(text(&t.transactional_id)))
                            .with_producer_id(ProducerId(t.producer_id))
                            .with_transaction_state(text(t.state))
                    })
                    .collect(),
            ),
    })
}
