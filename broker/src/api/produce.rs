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

/// Appends under the partition's locks; a roll hands the producer snapshot of
/// the new segment's base offset to the roll's background sync.
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
        let active_segment = log.active_base_offset();
        let info = log
            .append_validated(&records[range], &header, 0, now)
            .map_err(|error| Refused::new(log_error(&error), error.to_string()))?;
        partition.publish_log_end(info.last_offset + 1);
        if log.active_base_offset() != active_segment {
            // The segment rolled before this batch: the state so far is that of
            // every batch below the new segment, so a restart replays at most it.
            // Written and fsynced off the partition's locks, by the roll's
            // background sync once the closed segment is fsynced.
            let snapshot = producers.snapshot(log.dir(), info.base_offset);
            log.write_with_last_roll(Box::new(move |syncer| snapshot.write_synced(syncer)));
        }
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

#[cfg(test)]
mod durability_tests;

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use super::*;
    use crate::config::BrokerSettings;
    use crate::log::test_batch::idempotent_batch_of;
    use crate::producer_state::{ProducerStates, SequenceCheck};
    use crate::topics::{NewTopic, Topics};

    const PRODUCER: i64 = 5;

    fn open(dir: &Path, clean_shutdown: bool) -> Topics {
        Topics::open(dir, BrokerSettings::default(), clean_shutdown).unwrap()
    }

    /// Topic "t" with 2 KiB segments and `batches` batches of 5 records from
    /// producer 5, sequences 0, 5, 10, ...
    fn topic_with_batches(dir: &Path, batches: i32) -> Topics {
        let topics = open(dir, false);
        let topic = NewTopic {
            name: "t".to_owned(),
            partitions: 1,
            replication_factor: -1,
            configs: BTreeMap::from([("segment.bytes".to_owned(), "2048".to_owned())]),
        };
        topics.create(&topic, false).unwrap();
        let partition = topics.partition("t", 0).unwrap();
        for i in 0..batches {
            let batch = idempotent_batch_of(5, 1_000, (PRODUCER, 0, i * 5));
            assert!(append(&partition, Bytes::from(batch), 2_000).is_ok());
        }
        // A roll's snapshot is written after the closed segment's background fsync.
        partition.log().wait_for_rolls().unwrap();
        topics
    }

    fn snapshots(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir.join("t-0"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".snapshot"))
            .collect();
        names.sort();
        names
    }

    /// What the partition's producer state says of the last batch, of one
    /// just before it, and of the next and a gapped sequence.
    fn verdicts(topics: &Topics, batches: i32) -> Vec<String> {
        let partition = topics.partition("t", 0).unwrap();
        let states = partition.producers();
        let last = (batches - 1) * 5;
        [last, last - 5, last + 5, last + 50]
            .into_iter()
            .map(|first| format!("{:?}", states.check(PRODUCER, 0, first, first + 4)))
            .collect()
    }

    /// What the partition's producer state says of a one-record batch of
    /// `producer` (epoch 0) at sequence `seq`.
    fn one_record_verdict(
        topics: &Topics,
        producer: i64,
        seq: i32,
    ) -> Result<SequenceCheck, crate::producer_state::SequenceError> {
        let partition = topics.partition("t", 0).unwrap();
        let states = partition.producers();
        states.check(producer, 0, seq, seq)
    }

    /// A batch of one record, sequence 0, at `offset`.
    fn one_record_batch(offset: i64) -> BatchMeta {
        BatchMeta {
            first_seq: 0,
            last_seq: 0,
            first_offset: offset,
            last_offset: offset,
            timestamp: 0,
        }
    }

    #[test]
    fn a_restart_replays_only_what_follows_the_newest_producer_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let batches = 60;
        let topics = topic_with_batches(dir.path(), batches);
        let expected = verdicts(&topics, batches);
        assert!(expected[0].starts_with("Ok(Duplicate"), "{expected:?}");
        assert!(expected[1].starts_with("Ok(Duplicate"), "{expected:?}");
        assert_eq!(expected[2], "Ok(Append)");
        assert!(expected[3].starts_with("Err(OutOfOrder"), "{expected:?}");
        let active = topics.partition("t", 0).unwrap().log().active_base_offset();
        assert!(active > 0, "the log rolled");
        drop(topics);

        // Rolls left snapshots: the newest at the active segment's base, and
        // one older one, no more.
        let names = snapshots(dir.path());
        assert_eq!(names.len(), 2, "{names:?}");
        assert_eq!(names[1], format!("{active:020}.snapshot"));

        // A crash restart (no clean shutdown) opens from the newest snapshot.
        // A producer only that snapshot knows shows it was read, not replayed past.
        let partition_dir = dir.path().join("t-0");
        let (_, mut marked) = ProducerStates::read_snapshot(&partition_dir, active)
            .unwrap()
            .unwrap();
        marked.record(77, 0, one_record_batch(active - 1));
        marked
            .write_snapshot(&partition_dir, active, false)
            .unwrap();
        let reopened = open(dir.path(), false);
        assert_eq!(verdicts(&reopened, batches), expected);
        assert!(matches!(
            one_record_verdict(&reopened, 77, 0),
            Ok(SequenceCheck::Duplicate(_))
        ));
        drop(reopened);

        // Without snapshots the whole log is replayed, to the same state.
        for name in snapshots(dir.path()) {
            std::fs::remove_file(partition_dir.join(name)).unwrap();
        }
        let replayed = open(dir.path(), false);
        assert_eq!(verdicts(&replayed, batches), expected);
        // A clean shutdown leaves a snapshot at the log end: nothing to replay.
        replayed.flush_all().unwrap();
        let end = replayed.partition("t", 0).unwrap().log().log_end_offset();
        assert_eq!(
            snapshots(dir.path()).last().unwrap(),
            &format!("{end:020}.snapshot")
        );
        drop(replayed);
        assert_eq!(verdicts(&open(dir.path(), true), batches), expected);
    }

    #[test]
    fn snapshots_past_the_log_end_or_damaged_are_passed_over() {
        let dir = tempfile::tempdir().unwrap();
        let batches = 60;
        let topics = topic_with_batches(dir.path(), batches);
        let expected = verdicts(&topics, batches);
        let end = topics.partition("t", 0).unwrap().log().log_end_offset();
        drop(topics);
        let partition_dir = dir.path().join("t-0");
        let names = snapshots(dir.path());

        // One past the log end (a crash lost the tail it describes) claiming a
        // producer the log does not have; the newest real one damaged.
        let mut ahead = ProducerStates::default();
        ahead.record(88, 0, one_record_batch(end));
        ahead
            .write_snapshot(&partition_dir, end + 10, false)
            .unwrap();
        let newest = partition_dir.join(&names[1]);
        let mut bytes = std::fs::read(&newest).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&newest, bytes).unwrap();

        let reopened = open(dir.path(), false);
        assert_eq!(verdicts(&reopened, batches), expected);
        assert!(matches!(
            one_record_verdict(&reopened, 88, 5),
            Ok(SequenceCheck::Append)
        ));
        assert!(
            !partition_dir
                .join(format!("{:020}.snapshot", end + 10))
                .exists(),
            "a snapshot past the log end is removed, before the log grows past it"
        );
    }
}
