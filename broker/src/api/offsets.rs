//! ListOffsets, OffsetForLeaderEpoch and DeleteRecords.

use std::sync::Arc;

use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{
    DeleteRecordsRequest, DeleteRecordsResponse, ListOffsetsRequest, ListOffsetsResponse,
    OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse,
};

use super::{HandleError, blocking};
use crate::api::errors::{log_error, not_led_here, partition_error};
use crate::broker::Broker;
use crate::log::LogError;
use crate::protocol::ResponseError;

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;
const LATEST_TIERED: i64 = -5;

pub async fn list_offsets(
    broker: &Arc<Broker>,
    request: ListOffsetsRequest,
    version: i16,
) -> Result<ListOffsetsResponse, HandleError> {
    let read_committed = request.isolation_level == 1;
    let topics = blocking(broker, move |topics| {
        request
            .topics
            .into_iter()
            .map(|topic| {
                let partitions = topic
                    .partitions
                    .into_iter()
                    .map(|wanted| {
                        let response = ListOffsetsPartitionResponse::default()
                            .with_partition_index(wanted.partition_index)
                            .with_timestamp(-1)
                            .with_offset(-1);
                        let Some(partition) = topics
                            .partition(topic.name.0.as_str(), wanted.partition_index)
                            .filter(|partition| partition.is_leader())
                        else {
                            return response.with_error_code(
                                not_led_here(topics, topic.name.0.as_str(), wanted.partition_index)
                                    .code(),
                            );
                        };
                        if let Err(error) =
                            partition.check_leader_epoch(wanted.current_leader_epoch)
                        {
                            return response.with_error_code(partition_error(&error).code());
                        }
                        // Leader epochs are part of the answer from v4 on.
                        let epoch = if version >= 4 {
                            partition.leader_epoch()
                        } else {
                            -1
                        };
                        // By time, the answer names one record: the lookup decodes the batch
                        // holding it (log/timestamp.rs).
                        let by_time = |lookup: Result<_, LogError>| {
                            lookup.map_err(|error| {
                                tracing::warn!(
                                    topic = topic.name.0.as_str(),
                                    partition = wanted.partition_index,
                                    %error,
                                    "ListOffsets by time failed"
                                );
                                log_error(&error)
                            })
                        };
                        let found = match wanted.timestamp {
                            // read_committed consumers start at the last stable offset.
                            LATEST if read_committed => {
                                Ok(Some((partition.offsets().last_stable, -1)))
                            }
                            LATEST => Ok(Some((partition.offsets().high_watermark, -1))),
                            EARLIEST => Ok(Some((partition.offsets().log_start, -1))),
                            EARLIEST_LOCAL => Ok(Some((partition.local_log_start_offset(), -1))),
                            MAX_TIMESTAMP => by_time(partition.max_timestamp()),
                            LATEST_TIERED => Ok(None),
                            ts if ts < 0 => Err(ResponseError::InvalidRequest),
                            ts => by_time(partition.offset_for_timestamp(ts)),
                        };
                        match found {
                            Ok(Some((offset, timestamp))) => response
                                .with_offset(offset)
                                .with_timestamp(timestamp)
                                .with_leader_epoch(epoch),
                            Ok(None) => response,
                            Err(error) => response.with_error_code(error.code()),
                        }
                    })
                    .collect();
                ListOffsetsTopicResponse::default()
                    .with_name(topic.name)
                    .with_partitions(partitions)
            })
            .collect()
    })
    .await?;
    Ok(ListOffsetsResponse::default().with_topics(topics))
}

pub async fn offset_for_leader_epoch(
    broker: &Arc<Broker>,
    request: OffsetForLeaderEpochRequest,
) -> Result<OffsetForLeaderEpochResponse, HandleError> {
    let topics = blocking(broker, move |topics| {
        request
            .topics
            .into_iter()
            .map(|topic| {
                let partitions = topic
                    .partitions
                    .into_iter()
                    .map(|wanted| {
                        let response = EpochEndOffset::default()
                            .with_partition(wanted.partition)
                            .with_leader_epoch(-1)
                            .with_end_offset(-1);
                        let Some(partition) = topics
                            .partition(topic.topic.0.as_str(), wanted.partition)
                            .filter(|partition| partition.is_leader())
                        else {
                            return response.with_error_code(
                                not_led_here(topics, topic.topic.0.as_str(), wanted.partition)
                                    .code(),
                            );
                        };
                        if let Err(error) =
                            partition.check_leader_epoch(wanted.current_leader_epoch)
                        {
                            return response.with_error_code(partition_error(&error).code());
                        }
                        match partition.end_offset_for_epoch(wanted.leader_epoch) {
                            Some((epoch, end_offset)) => response
                                .with_leader_epoch(epoch)
                                .with_end_offset(end_offset),
                            None => response,
                        }
                    })
                    .collect();
                OffsetForLeaderTopicResult::default()
                    .with_topic(topic.topic)
                    .with_partitions(partitions)
            })
            .collect()
    })
    .await?;
    Ok(OffsetForLeaderEpochResponse::default().with_topics(topics))
}

pub async fn delete_records(
    broker: &Arc<Broker>,
    request: DeleteRecordsRequest,
) -> Result<DeleteRecordsResponse, HandleError> {
    let topics = blocking(broker, move |topics| {
        request
            .topics
            .into_iter()
            .map(|topic| {
                let partitions = topic
                    .partitions
                    .into_iter()
                    .map(|wanted| {
                        let response = DeleteRecordsPartitionResult::default()
                            .with_partition_index(wanted.partition_index)
                            .with_low_watermark(-1);
                        let Some(partition) = topics
                            .partition(topic.name.0.as_str(), wanted.partition_index)
                            .filter(|partition| partition.is_leader())
                        else {
                            return response.with_error_code(
                                not_led_here(topics, topic.name.0.as_str(), wanted.partition_index)
                                    .code(),
                            );
                        };
                        // -1 means "up to the high watermark".
                        let outcome = partition.delete_records_before(wanted.offset);
                        match outcome {
                            Ok(low_watermark) => response.with_low_watermark(low_watermark),
                            Err(error) => response.with_error_code(partition_error(&error).code()),
                        }
                    })
                    .collect();
                DeleteRecordsTopicResult::default()
                    .with_name(topic.name)
                    .with_partitions(partitions)
            })
            .collect()
    })
    .await?;
    Ok(DeleteRecordsResponse::default().with_topics(topics))
}
