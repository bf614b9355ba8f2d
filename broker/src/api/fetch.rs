//! Fetch: serve batches as they are stored, long-polling until `min_bytes`
//! are available or `max_wait_ms` passes.
//!
//! Limits, as Kafka applies them: each partition returns at most its
//! `partition_max_bytes`, the response at most `max_bytes` — except that the
//! first non-empty partition always returns at least one whole batch, so a
//! batch larger than the limits still makes progress.
//!
//! Fetch sessions (KIP-227): none are created. A request opening a session
//! gets session id 0, which tells the client to keep sending full requests;
//! a request naming a session id gets FETCH_SESSION_ID_NOT_FOUND.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::{HandleError, blocking};
use crate::broker::Broker;
use crate::protocol::ResponseError;
use crate::protocol::errors::log_error;
use crate::topics::Topics;

/// Longest wait honoured, whatever the client asks.
const MAX_WAIT: Duration = Duration::from_secs(30);

pub async fn handle(
    broker: &Arc<Broker>,
    request: FetchRequest,
    version: i16,
) -> Result<FetchResponse, HandleError> {
    let started = Instant::now();
    if request.session_id != 0 {
        return Ok(FetchResponse::default()
            .with_error_code(ResponseError::FetchSessionIdNotFound.code())
            .with_session_id(0));
    }
    let deadline = started + Duration::from_millis(request.max_wait_ms.max(0) as u64).min(MAX_WAIT);
    let min_bytes = request.min_bytes.max(0) as usize;
    let request = Arc::new(request);
    loop {
        // Register for wake-ups before reading, so an append between the read
        // and the wait is not missed.
        let appended = broker.appended.notified();
        tokio::pin!(appended);
        appended.as_mut().enable();
        let read_request = request.clone();
        let (response, bytes) =
            blocking(broker, move |topics| read(topics, &read_request, version)).await?;
        let now = Instant::now();
        if bytes >= min_bytes
            || bytes > 0 && min_bytes == 0
            || now >= deadline
            || has_error(&response)
        {
            broker
                .metrics
                .fetch_latency
                .observe(started.elapsed().as_secs_f64());
            return Ok(response);
        }
        // Cancel-safe: both arms only wait.
        tokio::select! {
            _ = appended => {}
            _ = tokio::time::sleep_until(deadline.into()) => {}
        }
    }
}

fn has_error(response: &FetchResponse) -> bool {
    response
        .responses
        .iter()
        .flat_map(|topic| topic.partitions.iter())
        .any(|partition| partition.error_code != 0)
}

/// One pass over the requested partitions: the response and its record bytes.
fn read(topics: &Topics, request: &FetchRequest, version: i16) -> (FetchResponse, usize) {
    let snapshot = topics.snapshot();
    let mut budget = if version >= 3 {
        request.max_bytes.max(0) as usize
    } else {
        usize::MAX
    };
    let mut total = 0usize;
    let responses = request
        .topics
        .iter()
        .map(|topic| {
            // v13+ name topics by id.
            let name = if version >= 13 {
                snapshot.topic_by_id(topic.topic_id).map(|record| record.name.clone())
            } else {
                Some(topic.topic.0.to_string())
            };
            let partitions = topic
                .partitions
                .iter()
                .map(|wanted| {
                    let _span = tracing::debug_span!("partition", topic = name.as_deref().unwrap_or(""), partition = wanted.partition)
                        .entered();
                    let mut data = PartitionData::default()
                        .with_partition_index(wanted.partition)
                        .with_high_watermark(-1)
                        .with_last_stable_offset(-1)
                        .with_log_start_offset(-1)
                        .with_preferred_read_replica(BrokerId(-1));
                    let Some(name) = &name else {
                        data.error_code = ResponseError::UnknownTopicId.code();
                        return data;
                    };
                    let Some(partition) = topics.partition(name, wanted.partition) else {
                        data.error_code = ResponseError::UnknownTopicOrPartition.code();
                        return data;
                    };
                    let log = partition.log();
                    let high_watermark = log.log_end_offset();
                    data.high_watermark = high_watermark;
                    data.last_stable_offset = high_watermark;
                    data.log_start_offset = log.log_start_offset();
                    let limit = (wanted.partition_max_bytes.max(0) as usize).min(budget);
                    // At least one batch for the first partition with data.
                    let limit = if total == 0 { limit.max(1) } else { limit };
                    if limit == 0 {
                        return data;
                    }
                    match log.read(wanted.fetch_offset, limit, high_watermark) {
                        Ok(records) => {
                            total += records.len();
                            budget = budget.saturating_sub(records.len());
                            data.records = Some(records);
                        }
                        Err(error) => {
                            data.error_code = log_error(&error).code();
                            if !matches!(error, crate::log::LogError::OffsetOutOfRange { .. }) {
                                tracing::warn!(topic = %name, partition = wanted.partition, %error, "fetch read failed");
                            }
                        }
                    }
                    data
                })
                .collect();
            FetchableTopicResponse::default()
                .with_topic(TopicName(StrBytes::from_string(name.unwrap_or_default())))
                .with_topic_id(topic.topic_id)
                .with_partitions(partitions)
        })
        .collect();
    (
        FetchResponse::default()
            .with_session_id(0)
            .with_responses(responses),
        total,
    )
}
