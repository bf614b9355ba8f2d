//! Fetch: serve batches as they are stored, long-polling until `min_bytes`
//! are available or `max_wait_ms` passes.
//!
//! Limits, as Kafka applies them: each partition returns at most its
//! `partition_max_bytes`, the response at most `max_bytes` — except that the
//! first non-empty partition always returns at least one whole batch, so a
//! batch larger than the limits still makes progress. Batches are whole: where
//! Kafka would cut a later partition's batch short, it is left out.
//!
//! Isolation: `isolation_level=1` (read_committed) reads up to each partition's last stable
//! offset and answers the aborted transactions overlapping what it read, which the client
//! uses to drop their records; at level 0 `aborted_transactions` is null, as in Kafka.
//!
//! Fetch sessions (KIP-227): none are created. A request opening a session
//! gets session id 0, which tells the client to keep sending full requests;
//! a request naming a session id gets FETCH_SESSION_ID_NOT_FOUND.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_protocol::messages::fetch_response::{
    AbortedTransaction, FetchableTopicResponse, PartitionData,
};
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse, ProducerId, TopicName};
use kafka_protocol::protocol::StrBytes;
use tokio::sync::watch;

use super::{HandleError, blocking};
use crate::api::errors::{not_led_here, partition_error};
use crate::broker::Broker;
use crate::log::LogError;
use crate::partition::{Isolation, PartitionError, ReadResult};
use crate::protocol::ResponseError;
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
        let read_request = request.clone();
        // Each partition's watch is taken before its read, so an append between the read and
        // the wait is not missed.
        let (response, bytes, mut watches) =
            blocking(broker, move |topics| read(topics, &read_request, version)).await?;
        broker.metrics.fetch_reads.inc();
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
            () = any_append(&mut watches) => {}
            () = tokio::time::sleep_until(deadline.into()) => {}
        }
    }
}

/// Resolves once any of the watched partitions publishes a new high watermark, or goes away;
/// never when there is none to watch.
async fn any_append(watches: &mut [watch::Receiver<i64>]) {
    if watches.is_empty() {
        return std::future::pending().await;
    }
    let changes = watches.iter_mut().map(|watch| Box::pin(watch.changed()));
    let _ = futures::future::select_all(changes).await;
}

fn has_error(response: &FetchResponse) -> bool {
    response
        .responses
        .iter()
        .flat_map(|topic| topic.partitions.iter())
        .any(|partition| partition.error_code != 0)
}

/// One pass over the requested partitions: the response, its record bytes, and a watch of each
/// partition's high watermark, taken before its read.
fn read(
    topics: &Topics,
    request: &FetchRequest,
    version: i16,
) -> (FetchResponse, usize, Vec<watch::Receiver<i64>>) {
    let snapshot = topics.snapshot();
    let isolation = Isolation::from_level(request.isolation_level);
    let mut watches = Vec::new();
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
                        .with_aborted_transactions(None)
                        .with_preferred_read_replica(BrokerId(-1));
                    let Some(name) = &name else {
                        data.error_code = ResponseError::UnknownTopicId.code();
                        return data;
                    };
                    let Some(partition) = topics
                        .partition(name, wanted.partition)
                        .filter(|partition| partition.is_leader())
                    else {
                        data.error_code = not_led_here(topics, name, wanted.partition).code();
                        return data;
                    };
                    watches.push(partition.watch_high_watermark());
                    if let Err(error) = partition.check_leader_epoch(wanted.current_leader_epoch) {
                        data.error_code = partition_error(&error).code();
                        return data;
                    }
                    let limit = (wanted.partition_max_bytes.max(0) as usize).min(budget);
                    // At least one batch for the first partition with data.
                    let limit = if total == 0 { limit.max(1) } else { limit };
                    let read = if limit == 0 {
                        let empty = (isolation == Isolation::ReadCommitted).then(Vec::new);
                        Ok(ReadResult { records: bytes::Bytes::new(), offsets: partition.offsets(), aborted: empty })
                    } else {
                        partition.read(wanted.fetch_offset, limit, isolation)
                    };
                    match read {
                        Ok(read) => {
                            data.high_watermark = read.offsets.high_watermark;
                            data.last_stable_offset = read.offsets.last_stable;
                            data.log_start_offset = read.offsets.log_start;
                            data.aborted_transactions = read.aborted.map(|aborted| {
                                aborted
                                    .iter()
                                    .map(|txn| {
                                        AbortedTransaction::default()
                                            .with_producer_id(ProducerId(txn.producer_id))
                                            .with_first_offset(txn.first_offset)
                                    })
                                    .collect()
                            });
                            // Only the first partition with data may pass the limits; a later
                            // one whose next batch does not fit is left for the next fetch.
                            if limit > 0 && !(total > 0 && read.records.len() > limit) {
                                total += read.records.len();
                                budget = budget.saturating_sub(read.records.len());
                                data.records = Some(read.records);
                            }
                        }
                        Err(error) => {
                            let offsets = partition.offsets();
                            data.high_watermark = offsets.high_watermark;
                            data.last_stable_offset = offsets.last_stable;
                            data.log_start_offset = offsets.log_start;
                            data.error_code = partition_error(&error).code();
                            if !matches!(error, PartitionError::Log(LogError::OffsetOutOfRange { .. })) {
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
        watches,
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use bytes::Bytes;
    use kafka_protocol::messages::ProduceRequest;
    use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};

    use super::*;
    use crate::config::{BrokerSettings, Config};
    use crate::log::test_batch::batch_of;
    use crate::partition::AppendOrigin;
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
            let batch = batch_of(40, 1_000, b'a' + partition as u8);
            size = batch.len();
            topics
                .partition("t", partition)
                .unwrap()
                .append(Bytes::from(batch), AppendOrigin::Client, 5_000)
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
        let (response, total, _) = read(&topics, &request(big, big), 12);
        assert_eq!((sizes(&response), total), (vec![batch; 3], 3 * batch));

        // Room for two batches and a half: the third partition waits.
        let two_and_a_half = i32::try_from(batch * 5 / 2).unwrap();
        let (response, total, _) = read(&topics, &request(two_and_a_half, big), 12);
        assert_eq!(
            (sizes(&response), total),
            (vec![batch, batch, 0], 2 * batch)
        );

        // max_bytes below one batch: the first partition still makes progress,
        // the others get nothing rather than a batch past the limit.
        let (response, _, _) = read(&topics, &request(10, big), 12);
        assert_eq!(sizes(&response), vec![batch, 0, 0]);

        // partition_max_bytes below one batch: likewise.
        let (response, _, _) = read(&topics, &request(big, 10), 12);
        assert_eq!(sizes(&response), vec![batch, 0, 0]);

        // Before v3 there is no max_bytes: only the partition limit counts.
        let (response, _, _) = read(&topics, &request(10, big), 2);
        assert_eq!(sizes(&response), vec![batch; 3]);
    }

    fn produce_request(partition: i32) -> ProduceRequest {
        ProduceRequest::default()
            .with_acks(1)
            .with_timeout_ms(10_000)
            .with_topic_data(vec![
                TopicProduceData::default()
                    .with_name(TopicName(StrBytes::from_static_str("t")))
                    .with_partition_data(vec![
                        PartitionProduceData::default()
                            .with_index(partition)
                            .with_records(Some(Bytes::from(batch_of(10, 100, b'x')))),
                    ]),
            ])
    }

    async fn produce_to(broker: &Arc<Broker>, partition: i32) {
        let pending = crate::api::produce::handle(broker, produce_request(partition), 11)
            .await
            .unwrap();
        let response = pending.await.unwrap().unwrap();
        assert_eq!(response.responses[0].partition_responses[0].error_code, 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_long_poll_fetch_wakes_for_appends_to_its_own_partitions_only() {
        let dir = tempfile::tempdir().unwrap();
        let (topics, _) = topics_with_a_batch_per_partition(dir.path());
        let broker = Arc::new(Broker::new(
            Config::for_tests(dir.path().to_path_buf()),
            "cluster".to_owned(),
            ("127.0.0.1".to_owned(), 9092),
            topics,
        ));
        // Partition 0 from its end (offset 40): nothing to answer until an append there.
        let fetch = FetchRequest::default()
            .with_max_wait_ms(10_000)
            .with_min_bytes(1)
            .with_max_bytes(1 << 20)
            .with_topics(vec![
                FetchTopic::default()
                    .with_topic(TopicName(StrBytes::from_static_str("t")))
                    .with_partitions(vec![
                        FetchPartition::default()
                            .with_partition(0)
                            .with_fetch_offset(40)
                            .with_partition_max_bytes(1 << 20),
                    ]),
            ]);
        let waiting = tokio::spawn({
            let broker = Arc::clone(&broker);
            async move { handle(&broker, fetch, 12).await }
        });
        let first_pass = Instant::now();
        while broker.metrics.fetch_reads.get() == 0 {
            assert!(
                first_pass.elapsed() < Duration::from_secs(10),
                "no first pass"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }

        for _ in 0..5 {
            produce_to(&broker, 1).await;
        }
        // Time for a woken fetch to read again, as it did when any append woke every fetch.
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            broker.metrics.fetch_reads.get(),
            1,
            "appends to partition 1 woke a fetch of partition 0"
        );
        assert!(!waiting.is_finished());

        produce_to(&broker, 0).await;
        let response = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("the append to partition 0 answers the fetch")
            .unwrap()
            .unwrap();
        let partition = &response.responses[0].partitions[0];
        assert_eq!(partition.error_code, 0);
        assert!(partition.records.as_ref().is_some_and(|r| !r.is_empty()));
        assert_eq!(broker.metrics.fetch_reads.get(), 2);
    }
}
