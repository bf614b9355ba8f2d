//! DescribeQuorum (KIP-595, KIP-836, KIP-853): the metadata quorum as its leader sees it.
//! Any broker answers: one that does not lead asks the leader over RPC.

use kafka_protocol::messages::describe_quorum_response::{
    Listener, Node, PartitionData, ReplicaState, TopicData,
};
use kafka_protocol::messages::{
    BrokerId, DescribeQuorumRequest, DescribeQuorumResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;
use crate::cluster::METADATA_LOG_DIR;
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
