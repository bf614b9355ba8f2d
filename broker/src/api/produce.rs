//! Produce: validate each batch's header and CRC, check idempotent-producer
//! sequences, append the bytes as received (offsets assigned in place), then —
//! for `acks=1`/`acks=all` under the default `sync` flush policy — answer only
//! once the group-commit flusher has fsynced them.
//!
//! ```text
//!  request ─► blocking task: per partition { split+validate, lock log,
//!             check sequences, append, record producer state, queue its fsync }
//!          ─► notify fetchers ─► (deferred) wait for every queued fsync ─► answer
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use kafka_protocol::protocol::StrBytes;

use super::{HandleError, blocking};
use crate::broker::Broker;
use crate::config::FlushPolicy;
use crate::log::batch::split_batches;
use crate::log::{SyncHandle, TimestampType};
use crate::producer_state::{BatchMeta, SequenceCheck, SequenceError, last_sequence};
use crate::protocol::ResponseError;
use crate::protocol::errors::{batch_error, log_error};
use crate::topics::Partition;

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as i64)
}

/// The outcome for one partition.
struct Appended {
    base_offset: i64,
    log_append_time: i64,
    log_start_offset: i64,
    sync: Option<SyncHandle>,
}

struct Refused {
    error: ResponseError,
    message: Option<String>,
}

impl Refused {
    fn new(error: ResponseError, message: impl Into<Option<String>>) -> Self {
        Self {
            error,
            message: message.into(),
        }
    }
}

/// The part of a produce that waits for durability, awaited in request order.
pub type PendingProduce =
    Pin<Box<dyn Future<Output = Result<Option<ProduceResponse>, HandleError>> + Send>>;

/// Appends now (in request order); returns the wait for fsync and the answer.
pub async fn handle(
    broker: &Arc<Broker>,
    request: ProduceRequest,
) -> Result<PendingProduce, HandleError> {
    let started = Instant::now();
    let acks = request.acks;
    if request.transactional_id.is_some() {
        // Transactions come later; no transactional producer gets this far
        // without FindCoordinator, which is not advertised.
        let response = all_failed(request, ResponseError::TransactionalIdAuthorizationFailed);
        return Ok(Box::pin(async move { Ok(Some(response)) }));
    }
    if !(-1..=1).contains(&acks) {
        let response = all_failed(request, ResponseError::InvalidRequiredAcks);
        return Ok(Box::pin(async move { Ok(Some(response)) }));
    }
    // Each partition's fsync is queued as soon as it is appended, so it runs
    // while the request appends to the next partition, and requests
    // pipelined behind this one share it; the answer waits for all of them.
    let must_sync = acks != 0 && broker.config.settings.flush_policy == FlushPolicy::Sync;
    let owner = Arc::clone(broker);
    let (responses, waits) = blocking(broker, move |topics| {
        let now = now_ms();
        let mut waits = Vec::new();
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
                        let outcome = match topics.partition(topic.name.0.as_str(), data.index) {
                            None => Err(Refused::new(ResponseError::UnknownTopicOrPartition, None)),
                            Some(partition) => {
                                append(&partition, data.records.unwrap_or_default(), now)
                            }
                        };
                        let response = PartitionProduceResponse::default().with_index(data.index);
                        match outcome {
                            Ok(appended) => {
                                if must_sync && let Some(handle) = appended.sync {
                                    waits.push(owner.flusher.submit(handle));
                                }
                                response
                                    .with_base_offset(appended.base_offset)
                                    .with_log_append_time_ms(appended.log_append_time)
                                    .with_log_start_offset(appended.log_start_offset)
                            }
                            Err(refused) => response
                                .with_error_code(refused.error.code())
                                .with_error_message(refused.message.map(StrBytes::from_string))
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
    broker.appended.notify_waiters();
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
            // Nothing in this request is acknowledged: it may not be on disk.
            tracing::error!(%error, "fsync failed; answering KAFKA_STORAGE_ERROR");
            for partition in responses
                .iter_mut()
                .flat_map(|topic| topic.partition_responses.iter_mut())
            {
                if partition.error_code == 0 {
                    partition.error_code = ResponseError::KafkaStorageError.code();
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

fn append(partition: &Partition, records: Bytes, now: i64) -> Result<Appended, Refused> {
    let batches = split_batches(&records)
        .map_err(|error| Refused::new(batch_error(&error), error.to_string()))?;
    if batches.is_empty() {
        return Err(Refused::new(
            ResponseError::InvalidRecord,
            "the produce request carried no record batch".to_owned(),
        ));
    }
    let mut log = partition.log();
    let mut producers = partition.producers();
    let mut first: Option<(i64, i64)> = None;
    for (range, header) in batches {
        if header.is_transactional() || header.is_control() {
            return Err(Refused::new(
                ResponseError::InvalidRecord,
                "transactional batches are not supported yet".to_owned(),
            ));
        }
        let idempotent = header.producer_id >= 0;
        let last_seq = last_sequence(header.base_sequence, header.record_count);
        if idempotent {
            match producers.check(
                header.producer_id,
                header.producer_epoch,
                header.base_sequence,
                last_seq,
            ) {
                Ok(SequenceCheck::Append) => {}
                Ok(SequenceCheck::Duplicate(original)) => {
                    first.get_or_insert((original.first_offset, -1));
                    continue;
                }
                Err(error @ SequenceError::FencedEpoch { .. }) => {
                    return Err(Refused::new(
                        ResponseError::InvalidProducerEpoch,
                        error.to_string(),
                    ));
                }
                Err(error @ SequenceError::OutOfOrder { .. }) => {
                    return Err(Refused::new(
                        ResponseError::OutOfOrderSequenceNumber,
                        error.to_string(),
                    ));
                }
            }
        }
        let info = log
            .append_validated(&records[range], &header, 0, now)
            .map_err(|error| Refused::new(log_error(&error), error.to_string()))?;
        if idempotent {
            producers.record(
                header.producer_id,
                header.producer_epoch,
                BatchMeta {
                    first_seq: header.base_sequence,
                    last_seq,
                    first_offset: info.base_offset,
                    last_offset: info.last_offset,
                    timestamp: info.max_timestamp,
                },
            );
        }
        let append_time = if log.config().timestamp_type == TimestampType::LogAppendTime {
            info.log_append_time
        } else {
            -1
        };
        first.get_or_insert((info.base_offset, append_time));
    }
    let (base_offset, log_append_time) =
        first.expect("at least one batch was appended or found duplicate");
    Ok(Appended {
        base_offset,
        log_append_time,
        log_start_offset: log.log_start_offset(),
        sync: Some(log.sync_handle()),
    })
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
