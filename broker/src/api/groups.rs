//! FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch,
//! ListGroups, DescribeGroups, DeleteGroups and OffsetDelete: thin over
//! [`crate::group::GroupCoordinator`].

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{
    BrokerId, FindCoordinatorRequest, FindCoordinatorResponse, GroupId, HeartbeatRequest,
    HeartbeatResponse, JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest, LeaveGroupResponse,
    OffsetCommitRequest, OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse,
    SyncGroupRequest, SyncGroupResponse, TopicName,
};
use kafka_protocol::messages::{
    DeleteGroupsRequest, DeleteGroupsResponse, DescribeGroupsRequest, DescribeGroupsResponse,
    ListGroupsRequest, ListGroupsResponse, OffsetDeleteRequest, OffsetDeleteResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::errors::group_error;
use super::{HandleError, blocking, now_ms};
use crate::broker::Broker;
use crate::cluster::topics::{CONSUMER_OFFSETS, TRANSACTION_STATE};
use crate::group::{CommittedOffset, GroupError, Join};
use crate::protocol::ResponseError;
use crate::txn::partition_for;

const GROUP_KEY: i8 = 0;
/// FindCoordinator's key type of a transactional id.
const TRANSACTION_KEY: i8 = 1;

fn text(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

fn code(outcome: Result<(), GroupError>) -> i16 {
    outcome.err().map_or(0, |e| group_error(e).code())
}

/// A member's host as Kafka reports it: Java's `InetAddress.toString()` of the peer without a
/// host name, `/` and the address (IPv6 uncompressed, as Java prints it; an IPv4 address
/// mapped into IPv6 as IPv4).
pub(super) fn client_host(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(ip) => format!("/{ip}"),
        IpAddr::V6(ip) => {
            let segments: Vec<String> = ip.segments().iter().map(|s| format!("{s:x}")).collect();
            format!("/{}", segments.join(":"))
        }
    }
}

pub async fn find_coordinator(
    broker: &Arc<Broker>,
    request: FindCoordinatorRequest,
    version: i16,
) -> Result<FindCoordinatorResponse, HandleError> {
    let keys: Vec<StrBytes> = if version >= 4 {
        request.coordinator_keys.clone()
    } else {
        vec![request.key.clone()]
    };
    let key_type = request.key_type;
    let groups = Arc::clone(&broker.groups);
    let txns = Arc::clone(&broker.txns);
    // The first request for a coordinator of either kind creates its internal topic.
    let outcome = blocking(broker, move |_| {
        if key_type == TRANSACTION_KEY {
            txns.ensure_state_topic()
                .map_err(|_| GroupError::CoordinatorNotAvailable)
        } else {
            groups.ensure_offsets_topic()
        }
    })
    .await?;
    let coordinators: Vec<Coordinator> = keys
        .into_iter()
        .map(|key| {
            let coordinator = Coordinator::default()
                .with_key(key.clone())
                .with_node_id(BrokerId(-1))
                .with_host(StrBytes::default())
                .with_port(-1);
            let refused = |error: ResponseError, message: &str| {
                coordinator
                    .clone()
                    .with_error_code(error.code())
                    .with_error_message(Some(text(message)))
            };
            if key_type != GROUP_KEY && key_type != TRANSACTION_KEY {
                return refused(
                    ResponseError::InvalidRequest,
                    "the key type is neither a group (0) nor a transaction (1)",
                );
            }
            if key.is_empty() {
                return if key_type == GROUP_KEY {
                    refused(ResponseError::InvalidGroupId, "the group id is empty")
                } else {
                    refused(
                        ResponseError::InvalidRequest,
                        "the transactional id is empty",
                    )
                };
            }
            if let Err(error) = outcome {
                return refused(group_error(error), &error.to_string());
            }
            // The coordinator is the leader of the key's partition of the internal topic.
            let topic = if key_type == GROUP_KEY {
                CONSUMER_OFFSETS
            } else {
                TRANSACTION_STATE
            };
            let leader = broker.topics.snapshot().topics.get(topic).map(|record| {
                let index = partition_for(key.as_str(), record.partitions);
                record
                    .assignment(index)
                    .map_or(broker.node_id(), |assignment| assignment.leader)
            });
            match leader.and_then(|id| Some((id, broker.endpoint(id)?))) {
                Some((id, (host, port))) => coordinator
                    .with_node_id(BrokerId(id))
                    .with_host(text(&host))
                    .with_port(i32::from(port)),
                None => refused(
                    ResponseError::CoordinatorNotAvailable,
                    "the coordinator's partition has no leader now",
                ),
            }
        })
        .collect();
    if version >= 4 {
        return Ok(FindCoordinatorResponse::default().with_coordinators(coordinators));
    }
    let only = coordinators.into_iter().next().unwrap_or_default();
    Ok(FindCoordinatorResponse::default()
        .with_error_code(only.error_code)
        .with_error_message(only.error_message)
        .with_node_id(only.node_id)
        .with_host(only.host)
        .with_port(only.port))
}

pub async fn join_group(
    broker: &Arc<Broker>,
    request: JoinGroupRequest,
    version: i16,
    client_id: &str,
    peer: SocketAddr,
) -> Result<JoinGroupResponse, HandleError> {
    let session = Duration::from_millis(request.session_timeout_ms.max(0) as u64);
    // v0 has no rebalance timeout: the session timeout serves for both.
    let rebalance = if version >= 1 {
        Duration::from_millis(request.rebalance_timeout_ms.max(0) as u64)
    } else {
        session
    };
    let join = Join {
        member_id: request.member_id.to_string(),
        group_instance_id: request.group_instance_id.as_ref().map(|s| s.to_string()),
        client_id: client_id.to_owned(),
        client_host: client_host(peer.ip()),
        session_timeout: session,
        rebalance_timeout: rebalance,
        protocol_type: request.protocol_type.to_string(),
        protocols: request
            .protocols
            .iter()
            .map(|p| (p.name.to_string(), p.metadata.clone()))
            .collect(),
        require_known_member: version >= 4,
    };
    // The first group request creates __consumer_offsets: on the blocking pool.
    let groups = Arc::clone(&broker.groups);
    let _ = blocking(broker, move |_| groups.ensure_offsets_topic()).await?;
    let answer = broker.groups.join(request.group_id.0.as_str(), join).await;
    Ok(JoinGroupResponse::default()
        .with_error_code(answer.error.map_or(0, |e| group_error(e).code()))
        .with_generation_id(answer.generation)
        .with_protocol_type(answer.protocol_type.as_deref().map(text))
        .with_protocol_name(answer.protocol_name.as_deref().map(text))
        .with_leader(text(&answer.leader))
        .with_member_id(text(&answer.member_id))
        // v9+ (KIP-814); an older leader gets the members and its SyncGroup is answered with
        // the assignment it had, as before that KIP.
        .with_skip_assignment(answer.skip_assignment && version >= 9)
        .with_members(
            answer
                .members
                .into_iter()
                .map(|(id, instance, metadata)| {
                    JoinGroupResponseMember::default()
                        .with_member_id(text(&id))
                        .with_group_instance_id(instance.as_deref().map(text))
                        .with_metadata(metadata)
                })
                .collect(),
        ))
}

pub async fn sync_group(
    broker: &Arc<Broker>,
    request: SyncGroupRequest,
) -> Result<SyncGroupResponse, HandleError> {
    let assignments = request
        .assignments
        .iter()
        .map(|a| (a.member_id.to_string(), a.assignment.clone()))
        .collect();
    let outcome = broker
        .groups
        .sync(
            request.group_id.0.as_str(),
            (
                request.member_id.as_str(),
                request.group_instance_id.as_deref(),
            ),
            request.generation_id,
            (
                request.protocol_type.as_deref(),
                request.protocol_name.as_deref(),
            ),
            assignments,
        )
        .await;
    let (protocol_type, protocol_name) = (request.protocol_type, request.protocol_name);
    Ok(match outcome {
        Ok(assignment) => SyncGroupResponse::default()
            .with_assignment(assignment)
            .with_protocol_type(protocol_type)
            .with_protocol_name(protocol_name),
        Err(error) => SyncGroupResponse::default().with_error_code(group_error(error).code()),
    })
}

pub async fn heartbeat(
    broker: &Arc<Broker>,
    request: HeartbeatRequest,
) -> Result<HeartbeatResponse, HandleError> {
    let groups = Arc::clone(&broker.groups);
    let outcome = blocking(broker, move |_| {
        groups.heartbeat(
            request.group_id.0.as_str(),
            request.member_id.as_str(),
            request.group_instance_id.as_deref(),
            request.generation_id,
        )
    })
    .await?;
    Ok(HeartbeatResponse::default().with_error_code(code(outcome)))
}

pub async fn leave_group(
    broker: &Arc<Broker>,
    request: LeaveGroupRequest,
    version: i16,
) -> Result<LeaveGroupResponse, HandleError> {
    let groups = Arc::clone(&broker.groups);
    let response = blocking(broker, move |_| {
        let group = request.group_id.0.as_str();
        if version < 3 {
            let outcome = groups.leave(group, request.member_id.as_str(), None);
            return LeaveGroupResponse::default().with_error_code(code(outcome));
        }
        if let Err(error) = groups.check_coordinator(group) {
            return LeaveGroupResponse::default().with_error_code(group_error(error).code());
        }
        let members = request
            .members
            .iter()
            .map(|member| {
                let outcome = groups.leave(
                    group,
                    member.member_id.as_str(),
                    member.group_instance_id.as_deref(),
                );
                MemberResponse::default()
                    .with_member_id(member.member_id.clone())
                    .with_group_instance_id(member.group_instance_id.clone())
                    .with_error_code(code(outcome))
            })
            .collect();
        LeaveGroupResponse::default().with_members(members)
    })
    .await?;
    Ok(response)
}

pub async fn offset_commit(
    broker: &Arc<Broker>,
    request: OffsetCommitRequest,
    version: i16,
) -> Result<OffsetCommitResponse, HandleError> {
    let groups = Arc::clone(&broker.groups);
    let _ = blocking(broker, move |_| groups.ensure_offsets_topic()).await?;
    let now = now_ms();
    let commits: Vec<(String, i32, CommittedOffset)> = request
        .topics
        .iter()
        .flat_map(|topic| {
            topic.partitions.iter().map(move |p| {
                (
                    topic.name.0.to_string(),
                    p.partition_index,
                    CommittedOffset {
                        offset: p.committed_offset,
                        leader_epoch: p.committed_leader_epoch,
                        metadata: p
                            .committed_metadata
                            .as_ref()
                            .map_or(String::new(), |m| m.to_string()),
                        commit_timestamp: now,
                    },
                )
            })
        })
        .collect();
    let verdicts = broker
        .groups
        .commit_with_version(
            request.group_id.0.as_str(),
            request.member_id.as_str(),
            request.generation_id_or_member_epoch,
            version,
            commits,
            now,
        )
        .await;
    let mut verdicts = verdicts.into_iter();
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code(verdicts.next().unwrap_or(Ok(()))))
                })
                .collect();
            OffsetCommitResponseTopic::default()
                .with_name(topic.name)
                .with_partitions(partitions)
        })
        .collect();
    Ok(OffsetCommitResponse::default().with_topics(topics))
}

pub async fn offset_fetch(
    broker: &Arc<Broker>,
    request: OffsetFetchRequest,
    version: i16,
) -> Result<OffsetFetchResponse, HandleError> {
    let groups = Arc::clone(&broker.groups);
    let require_stable = request.require_stable;
    blocking(broker, move |_| {
        if version >= 8 {
            let answers = request
                .groups
                .into_iter()
                .map(|group| {
                    // v9: a consumer-protocol member fetches at its epoch (KIP-848).
                    if version >= 9
                        && let Err(error) = groups.check_offset_fetch(
                            group.group_id.0.as_str(),
                            group.member_id.as_deref(),
                            group.member_epoch,
                        )
                    {
                        return OffsetFetchResponseGroup::default()
                            .with_group_id(group.group_id)
                            .with_error_code(group_error(error).code());
                    }
                    let wanted = group.topics.map(|topics| {
                        topics
                            .into_iter()
                            .map(|t| (t.name.0.to_string(), t.partition_indexes))
                            .collect()
                    });
                    fetch_group(&groups, group.group_id, wanted, require_stable)
                })
                .collect();
            return OffsetFetchResponse::default().with_groups(answers);
        }
        let wanted = request.topics.map(|topics| {
            topics
                .into_iter()
                .map(|t| (t.name.0.to_string(), t.partition_indexes))
                .collect()
        });
        let one = fetch_group(&groups, request.group_id, wanted, require_stable);
        OffsetFetchResponse::default()
            .with_error_code(one.error_code)
            .with_topics(
                one.topics
                    .into_iter()
                    .map(|t| {
                        OffsetFetchResponseTopic::default()
                            .with_name(t.name)
                            .with_partitions(
                                t.partitions
                                    .into_iter()
                                    .map(|p| {
                                        OffsetFetchResponsePartition::default()
                                            .with_partition_index(p.partition_index)
                                            .with_committed_offset(p.committed_offset)
                                            .with_committed_leader_epoch(p.committed_leader_epoch)
                                            .with_metadata(p.metadata)
                                            .with_error_code(p.error_code)
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            )
    })
    .await
}

/// One group's committed offsets, in the v8+ shape (older versions copy it out).
fn fetch_group(
    groups: &crate::group::GroupCoordinator,
    group_id: GroupId,
    wanted: Option<Vec<(String, Vec<i32>)>>,
    require_stable: bool,
) -> OffsetFetchResponseGroup {
    match groups.fetch(group_id.0.as_str(), wanted, require_stable) {
        Err(error) => OffsetFetchResponseGroup::default()
            .with_group_id(group_id)
            .with_error_code(group_error(error).code()),
        Ok(topics) => OffsetFetchResponseGroup::default()
            .with_group_id(group_id)
            .with_topics(
                topics
                    .into_iter()
                    .map(|(topic, partitions)| {
                        OffsetFetchResponseTopics::default()
                            .with_name(TopicName(text(&topic)))
                            .with_partitions(
                                partitions
                                    .into_iter()
                                    .map(|(index, answer)| {
                                        let (committed, epoch, metadata) = match &answer {
                                            Ok(Some(o)) => {
                                                (o.offset, o.leader_epoch, o.metadata.as_str())
                                            }
                                            Ok(None) | Err(_) => (-1, -1, ""),
                                        };
                                        OffsetFetchResponsePartitions::default()
                                            .with_partition_index(index)
                                            .with_committed_offset(committed)
                                            .with_committed_leader_epoch(epoch)
                                            .with_metadata(Some(text(metadata)))
                                            .with_error_code(code(answer.map(|_| ())))
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            ),
    }
}

pub async fn list_groups(
    broker: &Arc<Broker>,
    request: ListGroupsRequest,
) -> Result<ListGroupsResponse, HandleError> {
    let states: Vec<String> = request
        .states_filter
        .iter()
        .map(|s| s.to_string())
        .collect();
    let wanted = |kind: &str| {
        request.types_filter.is_empty()
            || request
                .types_filter
                .iter()
                .any(|t| t.eq_ignore_ascii_case(kind))
    };
    let mut listed: Vec<ListedGroup> = Vec::new();
    if wanted("consumer") {
        // KIP-848 groups: protocol type "consumer", as Kafka lists them.
        for (id, state) in broker.groups.list_consumer_groups(&states) {
            listed.push(
                ListedGroup::default()
                    .with_group_id(GroupId(text(&id)))
                    .with_protocol_type(text("consumer"))
                    .with_group_state(text(state))
                    .with_group_type(text("consumer")),
            );
        }
    }
    if wanted("classic") {
        for (id, protocol_type, state) in broker.groups.list(&states) {
            if broker.groups.is_consumer_group(&id) {
                continue;
            }
            listed.push(
                ListedGroup::default()
                    .with_group_id(GroupId(text(&id)))
                    .with_protocol_type(text(&protocol_type))
                    .with_group_state(text(state.name()))
                    .with_group_type(text("classic")),
            );
        }
    }
    Ok(ListGroupsResponse::default().with_groups(listed))
}

pub async fn describe_groups(
    broker: &Arc<Broker>,
    request: DescribeGroupsRequest,
) -> Result<DescribeGroupsResponse, HandleError> {
    let groups = Arc::clone(&broker.groups);
    blocking(broker, move |_| {
        let described = request
            .groups
            .into_iter()
            .map(|id| match groups.describe(id.0.as_str()) {
                Err(error) => DescribedGroup::default()
                    .with_group_id(id)
                    .with_error_code(group_error(error).code()),
                Ok(group) => DescribedGroup::default()
                    .with_group_id(id)
                    .with_group_state(text(group.state.name()))
                    .with_protocol_type(text(&group.protocol_type))
                    .with_protocol_data(text(&group.protocol))
                    .with_authorized_operations(i32::MIN)
                    .with_members(
                        group
                            .members
                            .into_iter()
                            .map(|m| {
                                DescribedGroupMember::default()
                                    .with_member_id(text(&m.member_id))
                                    .with_group_instance_id(
                                        m.group_instance_id.as_deref().map(text),
                                    )
                                    .with_client_id(text(&m.client_id))
                                    .with_client_host(text(&m.client_host))
                                    .with_member_metadata(m.metadata)
                                    .with_member_assignment(m.assignment)
                            })
                            .collect(),
                    ),
            })
            .collect();
        DescribeGroupsResponse::default().with_groups(described)
    })
    .await
}

pub async fn delete_groups(
    broker: &Arc<Broker>,
    request: DeleteGroupsRequest,
) -> Result<DeleteGroupsResponse, HandleError> {
    let mut results = Vec::with_capacity(request.groups_names.len());
    for id in request.groups_names {
        let outcome = broker.groups.delete_group(id.0.as_str(), now_ms()).await;
        results.push(
            DeletableGroupResult::default()
                .with_group_id(id)
                .with_error_code(code(outcome)),
        );
    }
    Ok(DeleteGroupsResponse::default().with_results(results))
}

pub async fn offset_delete(
    broker: &Arc<Broker>,
    request: OffsetDeleteRequest,
) -> Result<OffsetDeleteResponse, HandleError> {
    let wanted = request
        .topics
        .iter()
        .map(|t| {
            (
                t.name.0.to_string(),
                t.partitions.iter().map(|p| p.partition_index).collect(),
            )
        })
        .collect();
    let outcome = broker
        .groups
        .delete_offsets(request.group_id.0.as_str(), wanted, now_ms())
        .await;
    Ok(match outcome {
        Err(error) => OffsetDeleteResponse::default().with_error_code(group_error(error).code()),
        Ok(topics) => OffsetDeleteResponse::default().with_topics(
            topics
                .into_iter()
                .map(|(topic, partitions)| {
                    OffsetDeleteResponseTopic::default()
                        .with_name(TopicName(text(&topic)))
                        .with_partitions(
                            partitions
                                .into_iter()
                                .map(|(index, verdict)| {
                                    OffsetDeleteResponsePartition::default()
                                        .with_partition_index(index)
                                        .with_error_code(code(verdict))
                                })
                                .collect(),
                        )
                })
                .collect(),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_hosts_read_as_java_prints_a_peer_address() {
        assert_eq!(client_host("127.0.0.1".parse().unwrap()), "/127.0.0.1");
        assert_eq!(client_host("::1".parse().unwrap()), "/0:0:0:0:0:0:0:1");
        assert_eq!(
            client_host("fe80::1:abcd".parse().unwrap()),
            "/fe80:0:0:0:0:0:1:abcd"
        );
        assert_eq!(client_host("::ffff:10.0.0.7".parse().unwrap()), "/10.0.0.7");
    }
}
