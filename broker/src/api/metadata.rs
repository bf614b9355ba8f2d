//! Metadata: the brokers, the cluster id and controller, and topics with their
//! partitions and leaders.

use kafka_protocol::messages::metadata_response::{MetadataResponseBroker, MetadataResponseTopic};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse};
use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;
use crate::protocol::ResponseError;

pub fn handle(broker: &Broker, request: MetadataRequest, _version: i16) -> MetadataResponse {
    let me = MetadataResponseBroker::default()
        .with_node_id(BrokerId(broker.node_id()))
        .with_host(StrBytes::from_string(broker.advertised_host.clone()))
        .with_port(i32::from(broker.advertised_port))
        .with_rack(broker.config.rack.clone().map(StrBytes::from_string));
    let topics = request
        .topics
        .unwrap_or_default()
        .into_iter()
        .map(|requested| {
            MetadataResponseTopic::default()
                .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                .with_name(requested.name)
                .with_topic_id(requested.topic_id)
        })
        .collect();
    MetadataResponse::default()
        .with_brokers(vec![me])
        .with_cluster_id(Some(StrBytes::from_string(broker.cluster_id.clone())))
        .with_controller_id(BrokerId(broker.node_id()))
        .with_topics(topics)
}
