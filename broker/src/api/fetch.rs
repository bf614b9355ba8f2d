//! Fetch: serve batches as they are stored, long-polling until `min_bytes`
//! are available or `max_wait_ms` passes.
//!
//! Limits, as Kafka applies them: each partition returns at most its
//! `partition_max_bytes`, the response at most `max_bytes` — except that the
//! first non-empty partition always returns at least one whole batch, so a
//! batch larger than the limits still makes progress. Batches are whole: where
//! Kafka would cut a later partition's batch short, it is left out.
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
                        // Only the first partition with data may pass the limits; a later one
                        // whose next batch does not fit is left for the next fetch.
                        Ok(records) if total > 0 && records.len() > limit => {}
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};

    use super::*;
    use crate::config::BrokerSettings;
    use crate::log::test_batch::batch_of;
    use crate::topics::NewTopic;

    /// Topic "t" with three partitions, each holding one batch of 40 records.
    fn topics_with_a_batch_per_partition(dir: &std::path::Path) -> (Topics, usize) {
        let topics = Topics::open(dir, BrokerSettings::default(), false).unwrap();
        let topic = NewTopic {
            name: "t".to_owned(),
            partitions: 3,
            replication_factor: -1,
            configs: BTreeMap::new(),
        };
        topics.create(&topic, false).unwrap();
        let mut size = 0;
        for partition in 0..3 {
            let mut batch = batch_of(40, 1_000, b'a' + partition as u8);
            size = batch.len();
            topics
                .partition("t", partition)
                .unwrap()
                .log()
                .append(&mut batch, 0, 5_000)
                .unwrap();
        }
        (topics, size)
    }

    fn request(max_bytes: i32, partition_max_bytes: i32) -> FetchRequest {
        let partitions = (0..3)
            .map(|partition| {
                FetchPartition::default()
                    .with_partition(partition)
                    .with_fetch_offset(0)
                    .with_partition_max_bytes(partition_max_bytes)
            })
            .collect();
        FetchRequest::default()
            .with_max_bytes(max_bytes)
            .with_topics(vec![
                FetchTopic::default()
                    .with_topic(TopicName(StrBytes::from_static_str("t")))
                    .with_partitions(partitions),
            ])
    }

    /// The record bytes each partition answered with.
    fn sizes(response: &FetchResponse) -> Vec<usize> {
        response.responses[0]
            .partitions
            .iter()
            .map(|p| p.records.as_ref().map_or(0, bytes::Bytes::len))
            .collect()
    }

    #[test]
    fn a_response_keeps_to_max_bytes_after_its_first_batch() {
        let dir = tempfile::tempdir().unwrap();
        let (topics, batch) = topics_with_a_batch_per_partition(dir.path());
        let big = 1 << 20;

        // Room for everything.
        let (response, total) = read(&topics, &request(big, big), 12);
        assert_eq!((sizes(&response), total), (vec![batch; 3], 3 * batch));

        // Room for two batches and a half: the third partition waits.
        let two_and_a_half = i32::try_from(batch * 5 / 2).unwrap();
        let (response, total) = read(&topics, &request(two_and_a_half, big), 12);
        assert_eq!(
            (sizes(&response), total),
            (vec![batch, batch, 0], 2 * batch)
        );

        // max_bytes below one batch: the first partition still makes progress,
        // the others get nothing rather than a batch past the limit.
        let (response, _) = read(&topics, &request(10, big), 12);
        assert_eq!(sizes(&response), vec![batch, 0, 0]);

        // partition_max_bytes below one batch: likewise.
        let (response, _) = read(&topics, &request(big, 10), 12);
        assert_eq!(sizes(&response), vec![batch, 0, 0]);

        // Before v3 there is no max_bytes: only the partition limit counts.
        let (response, _) = read(&topics, &request(10, big), 2);
        assert_eq!(sizes(&response), vec![batch; 3]);
    }
}
