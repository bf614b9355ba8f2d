//! Metadata: the brokers, the cluster id and controller, and topics with their
//! partitions and leaders. Unknown topics are created when both the broker
//! (`auto.create.topics.enable`) and the request allow it.

use std::sync::Arc;

use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::{HandleError, blocking};
use crate::api::errors::topic_error;
use crate::broker::Broker;
use crate::cluster::TopicRecord;
use crate::protocol::ResponseError;
use crate::topics::{NewTopic, TopicError, Topics, validate_topic_name};

pub async fn handle(
    broker: &Arc<Broker>,
    request: MetadataRequest,
    version: i16,
) -> Result<MetadataResponse, HandleError> {
    let brokers = broker
        .client_brokers()
        .into_iter()
        .map(|record| {
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(record.id))
                .with_host(StrBytes::from_string(record.host))
                .with_port(i32::from(record.port))
                .with_rack(record.rack.map(StrBytes::from_string))
        })
        .collect();
    // Before v4 a request could not opt out of auto-creation.
    let allow_auto_create = broker.topics.settings().auto_create_topics_enable
        && (version < 4 || request.allow_auto_topic_creation);
    let node_id = broker.node_id();
    let topics = blocking(broker, move |topics| match request.topics {
        None => topics
            .snapshot()
            .topics
            .values()
            .map(|record| describe(topics, record, node_id))
            .collect::<Vec<_>>(),
        Some(requested) => requested
            .into_iter()
            .map(|wanted| {
                let snapshot = topics.snapshot();
                let Some(TopicName(name)) = wanted.name else {
                    return match snapshot.topic_by_id(wanted.topic_id) {
                        Some(record) => describe(topics, record, node_id),
                        None => error_topic(None, wanted.topic_id, ResponseError::UnknownTopicId),
                    };
                };
                if let Some(record) = snapshot.topics.get(name.as_str()) {
                    return describe(topics, record, node_id);
                }
                if let Err(error) = validate_topic_name(&name) {
                    return error_topic(Some(name), Uuid::nil(), topic_error(&error));
                }
                if !allow_auto_create {
                    return error_topic(
                        Some(name),
                        Uuid::nil(),
                        ResponseError::UnknownTopicOrPartition,
                    );
                }
                let new = NewTopic {
                    name: name.to_string(),
                    partitions: -1,
                    replication_factor: -1,
                    configs: Default::default(),
                };
                match topics.create(&new, false) {
                    Ok(record) => describe(topics, &record, node_id),
                    // Another request created it first.
                    Err(TopicError::AlreadyExists(_)) => {
                        match topics.snapshot().topics.get(name.as_str()) {
                            Some(record) => describe(topics, record, node_id),
                            None => error_topic(
                                Some(name),
                                Uuid::nil(),
                                ResponseError::LeaderNotAvailable,
                            ),
                        }
                    }
                    Err(error) => {
                        tracing::warn!(topic = %name, %error, "auto-creating a topic failed");
                        error_topic(Some(name), Uuid::nil(), topic_error(&error))
                    }
                }
            })
            .collect(),
    })
    .await?;
    Ok(MetadataResponse::default()
        .with_brokers(brokers)
        .with_cluster_id(Some(StrBytes::from_string(broker.cluster_id.clone())))
        .with_controller_id(BrokerId(broker.controller_id()))
        .with_topics(topics))
}

fn describe(topics: &Topics, record: &TopicRecord, node_id: i32) -> MetadataResponseTopic {
    let ids = |ids: &[i32]| ids.iter().copied().map(BrokerId).collect::<Vec<_>>();
    let partitions = (0..record.partitions)
        .map(|index| {
            let partition = MetadataResponsePartition::default().with_partition_index(index);
            match record.assignment(index) {
                Some(assignment) => {
                    let partition = partition
                        .with_leader_id(BrokerId(assignment.leader))
                        .with_leader_epoch(assignment.leader_epoch)
                        .with_replica_nodes(ids(&assignment.replicas))
                        .with_isr_nodes(ids(&assignment.isr));
                    if assignment.leader < 0 {
                        partition.with_error_code(ResponseError::LeaderNotAvailable.code())
                    } else {
                        partition
                    }
                }
                // A partition of a state from before placement: this broker's alone, at the
                // epoch it leads it at here.
                None => partition
                    .with_leader_id(BrokerId(node_id))
                    .with_leader_epoch(
                        topics
                            .partition(&record.name, index)
                            .map_or(0, |partition| partition.leader_epoch()),
                    )
                    .with_replica_nodes(vec![BrokerId(node_id)])
                    .with_isr_nodes(vec![BrokerId(node_id)]),
            }
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(StrBytes::from_string(record.name.clone()))))
        .with_topic_id(record.id)
        .with_is_internal(record.internal)
        .with_partitions(partitions)
}

fn error_topic(name: Option<StrBytes>, id: Uuid, error: ResponseError) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_error_code(error.code())
        .with_name(name.map(TopicName))
        .with_topic_id(id)
}
