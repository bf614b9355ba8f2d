//! The metadata quorum's admin APIs: DescribeQuorum (KIP-595, KIP-836, KIP-853), the quorum
//! as its leader sees it, and AddRaftVoter / RemoveRaftVoter (KIP-853), one voter at a time.
//! Any broker answers: one that does not lead asks the leader over RPC.

use kafka_protocol::messages::describe_quorum_response::{
    Listener, Node, PartitionData, ReplicaState, TopicData,
};
use kafka_protocol::messages::{
    BrokerId, DescribeQuorumRequest, DescribeQuorumResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use std::sync::Arc;

use kafka_protocol::messages::{
    AddRaftVoterRequest, AddRaftVoterResponse, RemoveRaftVoterRequest, RemoveRaftVoterResponse,
};

use super::{HandleError, blocking};
use crate::broker::Broker;
use crate::cluster::METADATA_LOG_DIR;
use crate::cluster::quorum::MembershipChange;
use crate::protocol::ResponseError;

/// Kafka's name of the metadata log's topic.
pub const METADATA_TOPIC: &str = "__cluster_metadata";

pub async fn describe_quorum(
    broker: &Broker,
    request: &DescribeQuorumRequest,
) -> DescribeQuorumResponse {
    let asks_for_the_log = matches!(request.topics.as_slice(), [topic]
        if topic.topic_name.as_str() == METADATA_TOPIC
            && matches!(topic.partitions.as_slice(), [p] if p.partition_index == 0));
    let topic_name = TopicName(StrBytes::from_static_str(METADATA_TOPIC));
    if !asks_for_the_log {
        let error = ResponseError::UnknownTopicOrPartition;
        return DescribeQuorumResponse::default().with_topics(vec![
            TopicData::default()
                .with_topic_name(topic_name)
                .with_partitions(vec![
                    PartitionData::default()
                        .with_error_code(error.code())
                        .with_error_message(Some(StrBytes::from_string(format!(
                            "only {METADATA_TOPIC}-0 (the {METADATA_LOG_DIR} log) is a quorum"
                        ))))
                        .with_leader_id(BrokerId(-1))
                        .with_leader_epoch(-1)
                        .with_high_watermark(-1),
                ]),
        ]);
    }
    let view = broker.topics.metadata().quorum().describe().await;
    let replica = |(id, log_end): (&u64, &i64)| {
        ReplicaState::default()
            .with_replica_id(BrokerId(i32::try_from(*id).unwrap_or(-1)))
            .with_log_end_offset(*log_end)
            .with_last_fetch_timestamp(-1)
            .with_last_caught_up_timestamp(-1)
    };
    let partition = PartitionData::default()
        .with_partition_index(0)
        .with_leader_id(BrokerId(
            view.leader
                .and_then(|id| i32::try_from(id).ok())
                .unwrap_or(-1),
        ))
        .with_leader_epoch(i32::try_from(view.term).unwrap_or(i32::MAX))
        .with_high_watermark(i64::try_from(view.high_watermark).unwrap_or(i64::MAX))
        .with_current_voters(view.voters.iter().map(replica).collect())
        .with_observers(view.observers.iter().map(replica).collect());
    let nodes = view
        .addresses
        .iter()
        .filter_map(|(id, addr)| {
            let (host, port) = addr.rsplit_once(':')?;
            Some(
                Node::default()
                    .with_node_id(BrokerId(i32::try_from(*id).ok()?))
                    .with_listeners(vec![
                        Listener::default()
                            .with_name(StrBytes::from_static_str("CONTROLLER"))
                            .with_host(StrBytes::from_string(
                                host.trim_start_matches('[')
                                    .trim_end_matches(']')
                                    .to_owned(),
                            ))
                            .with_port(port.parse().ok()?),
                    ]),
            )
        })
        .collect();
    DescribeQuorumResponse::default()
        .with_topics(vec![
            TopicData::default()
                .with_topic_name(topic_name)
                .with_partitions(vec![partition]),
        ])
        .with_nodes(nodes)
}

/// Why a voter change is refused before it reaches the quorum.
fn check_voter_change(
    broker: &Broker,
    cluster_id: Option<&StrBytes>,
    voter: i32,
    adding: bool,
) -> Result<u64, (ResponseError, String)> {
    if let Some(cluster_id) = cluster_id
        && cluster_id.as_str() != broker.cluster_id
    {
        return Err((
            ResponseError::InconsistentClusterId,
            format!(
                "cluster id {cluster_id} is not this cluster's ({})",
                broker.cluster_id
            ),
        ));
    }
    let id = u64::try_from(voter).map_err(|_| {
        (
            ResponseError::InvalidRequest,
            format!("{voter} is not a node id"),
        )
    })?;
    let voters = broker.topics.metadata().quorum().voters();
    if adding && voters.contains(&id) {
        return Err((
            ResponseError::DuplicateVoter,
            format!("node {voter} is already a voter"),
        ));
    }
    if !adding && !voters.contains(&id) {
        return Err((
            ResponseError::VoterNotFound,
            format!("node {voter} is not a voter"),
        ));
    }
    if !adding && voters.len() == 1 {
        return Err((
            ResponseError::InvalidRequest,
            format!("node {voter} is the last voter: the quorum cannot lose it"),
        ));
    }
    Ok(id)
}

/// Runs a voter change through the quorum's leader.
async fn change_voters(
    broker: &Arc<Broker>,
    change: MembershipChange,
) -> Result<(i16, Option<String>), HandleError> {
    let changed = blocking(broker, move |topics| {
        topics.metadata().change_membership_blocking(change)
    })
    .await?;
    Ok(match changed {
        Ok(_) => (0, None),
        Err(error) => {
            tracing::warn!(%error, "changing the metadata quorum's voters failed");
            (
                ResponseError::RequestTimedOut.code(),
                Some(error.to_string()),
            )
        }
    })
}

/// AddRaftVoter: makes a broker (an observer, or one added as one first) a voter.
pub async fn add_raft_voter(
    broker: &Arc<Broker>,
    request: AddRaftVoterRequest,
) -> Result<AddRaftVoterResponse, HandleError> {
    let refused = |(error, message): (ResponseError, String)| {
        AddRaftVoterResponse::default()
            .with_error_code(error.code())
            .with_error_message(Some(StrBytes::from_string(message)))
    };
    let id = match check_voter_change(broker, request.cluster_id.as_ref(), request.voter_id, true) {
        Ok(id) => id,
        Err(refusal) => return Ok(refused(refusal)),
    };
    // The voter's RPC address: its listener (any name), else the address it joined with.
    let addr = request
        .listeners
        .first()
        .map(|listener| format!("{}:{}", listener.host, listener.port))
        .or_else(|| broker.topics.metadata().quorum().member_address(id));
    let Some(addr) = addr else {
        return Ok(refused((
            ResponseError::InvalidRequest,
            format!("node {id} has no listener and is not an observer"),
        )));
    };
    let (error, message) = change_voters(broker, MembershipChange::AddVoter { id, addr }).await?;
    Ok(AddRaftVoterResponse::default()
        .with_error_code(error)
        .with_error_message(message.map(StrBytes::from_string)))
}

/// RemoveRaftVoter: makes a voter an observer.
pub async fn remove_raft_voter(
    broker: &Arc<Broker>,
    request: RemoveRaftVoterRequest,
) -> Result<RemoveRaftVoterResponse, HandleError> {
    let id = match check_voter_change(broker, request.cluster_id.as_ref(), request.voter_id, false)
    {
        Ok(id) => id,
        Err((error, message)) => {
            return Ok(RemoveRaftVoterResponse::default()
                .with_error_code(error.code())
                .with_error_message(Some(StrBytes::from_string(message))));
        }
    };
    let (error, message) = change_voters(broker, MembershipChange::RemoveVoter { id }).await?;
    Ok(RemoveRaftVoterResponse::default()
        .with_error_code(error)
        .with_error_message(message.map(StrBytes::from_string)))
}
