//! ConsumerGroupHeartbeat and ConsumerGroupDescribe (KIP-848): thin over the coordinator's
//! consumer groups (`group/consumer_groups.rs`). Both answer UNSUPPORTED_VERSION when
//! `group.coordinator.rebalance.protocols` leaves `consumer` out (ApiVersions then does not
//! list them either).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use kafka_protocol::messages::consumer_group_describe_response::{
    self as describe, DescribedGroup,
};
use kafka_protocol::messages::consumer_group_heartbeat_response::{self as heartbeat, Assignment};
use kafka_protocol::messages::{
    ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse, ConsumerGroupHeartbeatRequest,
    ConsumerGroupHeartbeatResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::errors::{consumer_group_error, group_error};
use super::groups::client_host;
use super::{HandleError, blocking};
use crate::broker::Broker;
use crate::group::consumer::assignor::TopicPartitions;
use crate::group::consumer::group::HeartbeatRequest;
use crate::protocol::ResponseError;

fn text(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

pub async fn heartbeat(
    broker: &Arc<Broker>,
    request: ConsumerGroupHeartbeatRequest,
    version: i16,
    client_id: &str,
    peer: SocketAddr,
) -> Result<ConsumerGroupHeartbeatResponse, HandleError> {
    if !broker.groups.settings().consumer_protocol {
        return Ok(ConsumerGroupHeartbeatResponse::default()
            .with_error_code(ResponseError::UnsupportedVersion.code())
            .with_error_message(Some(text(
                "group.coordinator.rebalance.protocols does not include consumer",
            ))));
    }
    let groups = Arc::clone(&broker.groups);
    let _ = blocking(broker, move |_| groups.ensure_offsets_topic()).await?;
    let owned = request.topic_partitions.as_ref().map(|topics| {
        let mut owned = TopicPartitions::new();
        for topic in topics {
            owned
                .entry(topic.topic_id)
                .or_default()
                .extend(topic.partitions.iter().copied());
        }
        owned
    });
    let beat = HeartbeatRequest {
        version,
        member_id: request.member_id.to_string(),
        member_epoch: request.member_epoch,
        instance_id: request.instance_id.as_ref().map(|s| s.to_string()),
        rack_id: request.rack_id.as_ref().map(|s| s.to_string()),
        rebalance_timeout_ms: request.rebalance_timeout_ms,
        subscribed_topic_names: request
            .subscribed_topic_names
            .as_ref()
            .map(|names| names.iter().map(|n| n.0.to_string()).collect()),
        subscribed_topic_regex: request
            .subscribed_topic_regex
            .as_ref()
            .map(|s| s.to_string()),
        server_assignor: request.server_assignor.as_ref().map(|s| s.to_string()),
        owned,
        classic: None,
        client_id: client_id.to_owned(),
        client_host: client_host(peer.ip()),
    };
    let outcome = broker
        .groups
        .consumer_heartbeat(request.group_id.0.as_str(), beat)
        .await;
    Ok(match outcome {
        Err(error) => ConsumerGroupHeartbeatResponse::default()
            .with_error_code(consumer_group_error(&error).code())
            .with_error_message(Some(text(&error.to_string()))),
        Ok(answer) => ConsumerGroupHeartbeatResponse::default()
            .with_member_id(Some(text(&answer.member_id)))
            .with_member_epoch(answer.member_epoch)
            .with_heartbeat_interval_ms(answer.heartbeat_interval_ms)
            .with_assignment(answer.assignment.map(|assigned| {
                Assignment::default().with_topic_partitions(
                    assigned
                        .into_iter()
                        .map(|(topic, partitions)| {
                            heartbeat::TopicPartitions::default()
                                .with_topic_id(topic)
                                .with_partitions(partitions.into_iter().collect())
                        })
                        .collect(),
                )
            })),
    })
}

pub async fn describe(
    broker: &Arc<Broker>,
    request: ConsumerGroupDescribeRequest,
) -> Result<ConsumerGroupDescribeResponse, HandleError> {
    if !broker.groups.settings().consumer_protocol {
        let groups = request
            .group_ids
            .into_iter()
            .map(|id| {
                DescribedGroup::default()
                    .with_group_id(id)
                    .with_error_code(ResponseError::UnsupportedVersion.code())
            })
            .collect();
        return Ok(ConsumerGroupDescribeResponse::default().with_groups(groups));
    }
    let groups = Arc::clone(&broker.groups);
    blocking(broker, move |_| {
        let described = request
            .group_ids
            .into_iter()
            .map(|id| match groups.describe_consumer_group(id.0.as_str()) {
                Err(error) => {
                    let message = if groups.is_consumer_group(id.0.as_str()) {
                        error.to_string()
                    } else {
                        format!("Group {} is not a consumer group.", id.0.as_str())
                    };
                    DescribedGroup::default()
                        .with_group_id(id)
                        .with_error_code(group_error(error).code())
                        .with_error_message(Some(text(&message)))
                }
                Ok(group) => {
                    let names: BTreeMap<_, _> = group.topic_names.into_iter().collect();
                    let assignment = |partitions: &TopicPartitions| {
                        describe::Assignment::default().with_topic_partitions(
                            partitions
                                .iter()
                                .map(|(topic, set)| {
                                    let name = names.get(topic).cloned().unwrap_or_default();
                                    describe::TopicPartitions::default()
                                        .with_topic_id(*topic)
                                        .with_topic_name(TopicName(text(&name)))
                                        .with_partitions(set.iter().copied().collect())
                                })
                                .collect(),
                        )
                    };
                    let members = group
                        .members
                        .iter()
                        .map(|(m, target)| {
                            describe::Member::default()
                                .with_member_id(text(&m.member_id))
                                .with_instance_id(m.instance_id.as_deref().map(text))
                                .with_rack_id(m.rack_id.as_deref().map(text))
                                .with_member_epoch(m.member_epoch)
                                .with_client_id(text(&m.client_id))
                                .with_client_host(text(&m.client_host))
                                .with_subscribed_topic_names(
                                    m.subscribed_topic_names
                                        .iter()
                                        .map(|n| TopicName(text(n)))
                                        .collect(),
                                )
                                .with_subscribed_topic_regex(
                                    m.subscribed_topic_regex.as_deref().map(text),
                                )
                                .with_assignment(assignment(&m.assigned))
                                .with_target_assignment(assignment(target))
                                // KIP-1099: 0 a classic member, 1 a consumer member.
                                .with_member_type(if m.classic.is_some() { 0 } else { 1 })
                        })
                        .collect();
                    DescribedGroup::default()
                        .with_group_id(id)
                        .with_group_state(text(group.state))
                        .with_group_epoch(group.group_epoch)
                        .with_assignment_epoch(group.assignment_epoch)
                        .with_assignor_name(text(&group.assignor))
                        .with_members(members)
                        .with_authorized_operations(i32::MIN)
                }
            })
            .collect();
        ConsumerGroupDescribeResponse::default().with_groups(described)
    })
    .await
}
