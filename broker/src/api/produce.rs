//! Produce: each partition's [`Partition::append`](crate::partition::Partition::append) checks
//! and appends the batches as received (offsets assigned in place); the answer waits for what
//! `acks` asks — nothing for `acks=0`, the append's *durable* future for `acks=1` (fsynced, under
//! the default `sync` flush policy), and *committed* as well for `acks=all` (the high watermark
//! past it; at once on one node).
//!
//! ```text
//!  transactional request ─► each partition verified (or added, Produce v12+) with the
//!                            transaction coordinator; refused ones answered with its error
//!  request ─► blocking task: per partition { append, register its fsync }
//!          ─► (deferred) wait for every registered fsync (and commit) ─► answer
//! ```

use std::collections::HashMap;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ApiKey, ProduceRequest, ProduceResponse};
use kafka_protocol::protocol::StrBytes;

use super::{HandleError, blocking};
use crate::api::errors::{ack_wait_error, not_led_here, partition_error};
use crate::api::txn::txn_error;
use crate::broker::Broker;
use crate::log::batch::BatchHeader;
use crate::partition::{AppendOrigin, PartitionError};
use crate::protocol::ResponseError;
use crate::txn::{ProducerIdAndEpoch, TopicPartition, TransactionVersion, TxnError};

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as i64)
}

/// The part of a produce that waits for durability, awaited in request order.
pub type PendingProduce =
    Pin<Box<dyn Future<Output = Result<Option<ProduceResponse>, HandleError>> + Send>>;

/// One partition's wait: durable, then (acks=all) committed.
type AckWait = Pin<Box<dyn Future<Output = Result<(), PartitionError>> + Send>>;

/// Appends now (in request order); returns the wait for fsync and the answer.
pub async fn handle(
    broker: &Arc<Broker>,
    request: ProduceRequest,
    version: i16,
) -> Result<PendingProduce, HandleError> {
    let started = Instant::now();
    let acks = request.acks;
    if !(-1..=1).contains(&acks) {
        let response = all_failed(request, ResponseError::InvalidRequiredAcks);
        return Ok(Box::pin(async move { Ok(Some(response)) }));
    }
    // Each partition's fsync is registered as soon as it is appended, so it runs while the
    // request appends to the next partition, and requests pipelined behind this one share it;
    // the answer waits for all of them.
    // A transactional producer's partitions must be in its transaction (Transactions V2,
    // Produce v12+: they join it now), before anything is appended.
    let refused = match request.transactional_id.as_ref() {
        Some(id) => verify_transaction(broker, id.as_str(), &request, version).await,
        None => HashMap::new(),
    };
    let (responses, waits) = blocking(broker, move |topics| {
        let now = now_ms();
        let mut waits: Vec<AckWait> = Vec::new();
        let responses: Vec<TopicProduceResponse> = request
            .topic_data
            .into_iter()
            .map(|topic| {
                let partitions = topic
                    .partition_data
                    .into_iter()
                    .map(|data| {
                        let _span = tracing::debug_span!(
                            "partition",
                            topic = topic.name.0.as_str(),
                            partition = data.index
                        )
                        .entered();
                        let key = (topic.name.0.to_string(), data.index);
                        let outcome = match topics.partition(topic.name.0.as_str(), data.index) {
                            _ if refused.contains_key(&key) => {
                                Err((refused[&key], Some("the transaction refused it".to_owned())))
                            }
                            None => Err((
                                not_led_here(topics, topic.name.0.as_str(), data.index),
                                None,
                            )),
                            Some(partition) => partition
                                .append(data.records.unwrap_or_default(), AppendOrigin::Client, now)
                                .map_err(|error| {
                                    (partition_error(&error), Some(error.to_string()))
                                }),
                        };
                        let response = PartitionProduceResponse::default().with_index(data.index);
                        match outcome {
                            Ok(appended) => {
                                if acks != 0 {
                                    let durable = appended.durable.into_future();
                                    let committed =
                                        (acks == -1).then(|| appended.committed.into_future());
                                    waits.push(Box::pin(async move {
                                        durable.await?;
                                        if let Some(committed) = committed {
                                            committed.await?;
                                        }
                                        Ok(())
                                    }));
                                }
                                response
                                    .with_base_offset(appended.base_offset)
                                    .with_log_append_time_ms(appended.log_append_time)
                                    .with_log_start_offset(appended.log_start_offset)
                            }
                            Err((error, message)) => response
                                .with_error_code(error.code())
                                .with_error_message(message.map(StrBytes::from_string))
                                .with_base_offset(-1)
                                .with_log_append_time_ms(-1)
                                .with_log_start_offset(-1),
                        }
                    })
                    .collect();
                TopicProduceResponse::default()
                    .with_name(topic.name)
                    .with_partition_responses(partitions)
            })
            .collect();
        (responses, waits)
    })
    .await?;
    let broker = broker.clone();
    Ok(Box::pin(async move {
        let mut responses = responses;
        let mut failure = None;
        for wait in waits {
            if let Err(error) = wait.await {
                failure.get_or_insert(error);
            }
        }
        if let Some(error) = failure {
            // Nothing in this request is acknowledged: it may not be on disk (or committed).
            let code = ack_wait_error(&error);
            tracing::error!(%error, ?code, "an acknowledgement wait failed; answering with an error");
            for partition in responses
                .iter_mut()
                .flat_map(|topic| topic.partition_responses.iter_mut())
            {
                if partition.error_code == 0 {
                    partition.error_code = code.code();
                    partition.error_message = Some(StrBytes::from_string(error.to_string()));
                }
            }
        }
        broker
            .metrics
            .produce_latency
            .observe(started.elapsed().as_secs_f64());
        if acks == 0 {
            let failed = responses
                .iter()
                .flat_map(|topic| topic.partition_responses.iter())
                .find(|partition| partition.error_code != 0);
            return match failed {
                // acks=0 has no answer to carry an error: like Kafka, close
                // the connection so the producer notices.
                Some(partition) => Err(HandleError::AcksZeroFailed(partition.error_code)),
                None => Ok(None),
            };
        }
        Ok(Some(ProduceResponse::default().with_responses(responses)))
    }))
}

/// Checks each partition of a transactional Produce with the transaction coordinator; the
/// partitions refused, with the error Produce answers (a fenced producer is
/// INVALID_PRODUCER_EPOCH; the coordinator being busy or away, NOT_ENOUGH_REPLICAS, which
/// the producer retries, as Kafka answers a failed verification).
async fn verify_transaction(
    broker: &Arc<Broker>,
    transactional_id: &str,
    request: &ProduceRequest,
    version: i16,
) -> HashMap<(String, i32), ResponseError> {
    let transaction_version = if version >= 12 {
        TransactionVersion::V2
    } else {
        TransactionVersion::V0
    };
    let mut refused = HashMap::new();
    for topic in &request.topic_data {
        for data in &topic.partition_data {
            let key = (topic.name.0.to_string(), data.index);
            let header = data
                .records
                .as_ref()
                .and_then(|records| BatchHeader::parse(records).ok());
            let Some(header) = header.filter(|h| h.is_transactional()) else {
                // Not transactional: the partition's own checks answer it.
                continue;
            };
            // A partition holding the producer's open transaction at this epoch was verified
            // (or added) with the transaction's first batch, as Kafka's verification guard.
            let open = broker
                .topics
                .partition(topic.name.0.as_str(), data.index)
                .is_some_and(|p| p.has_open_transaction(header.producer_id, header.producer_epoch));
            if open {
                continue;
            }
            let producer = ProducerIdAndEpoch {
                producer_id: header.producer_id,
                producer_epoch: header.producer_epoch,
            };
            let partition = TopicPartition::new(topic.name.0.as_str(), data.index);
            let verified = broker
                .txns
                .verify_or_add_partition(transactional_id, producer, partition, transaction_version)
                .await;
            if let Err(error) = verified {
                let code = match &error {
                    TxnError::ProducerFenced => ResponseError::InvalidProducerEpoch,
                    TxnError::TransactionAbortable if version < 11 => {
                        ResponseError::InvalidTxnState
                    }
                    retriable if retriable.is_retriable() => ResponseError::NotEnoughReplicas,
                    other => txn_error(other, ApiKey::Produce, version),
                };
                tracing::debug!(transactional_id, topic = %key.0, partition = key.1, %error, "transactional produce refused");
                refused.insert(key, code);
            }
        }
    }
    refused
}

fn all_failed(request: ProduceRequest, error: ResponseError) -> ProduceResponse {
    ProduceResponse::default().with_responses(
        request
            .topic_data
            .into_iter()
            .map(|topic| {
                let partitions = topic
                    .partition_data
                    .into_iter()
                    .map(|data| {
                        PartitionProduceResponse::default()
                            .with_index(data.index)
                            .with_error_code(error.code())
                            .with_base_offset(-1)
                            .with_log_append_time_ms(-1)
                            .with_log_start_offset(-1)
                    })
                    .collect();
                TopicProduceResponse::default()
                    .with_name(topic.name)
                    .with_partition_responses(partitions)
            })
            .collect(),
    )
}

#[cfg(test)]
mod durability_tests;
