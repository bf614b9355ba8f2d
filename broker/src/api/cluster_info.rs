//! DescribeCluster and InitProducerId.

use std::sync::Arc;

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{
    BrokerId, DescribeClusterRequest, DescribeClusterResponse, InitProducerIdRequest,
    InitProducerIdResponse, ProducerId,
};
use kafka_protocol::protocol::StrBytes;

use super::{HandleError, blocking};
use crate::api::errors::propose_error;
use crate::broker::Broker;
use crate::protocol::ResponseError;

pub fn describe_cluster(
    broker: &Broker,
    request: &DescribeClusterRequest,
) -> DescribeClusterResponse {
    let mut response = DescribeClusterResponse::default()
        .with_cluster_id(StrBytes::from_string(broker.cluster_id.clone()))
        .with_controller_id(BrokerId(broker.controller_id()))
        .with_endpoint_type(request.endpoint_type)
        .with_cluster_authorized_operations(i32::MIN);
    // Endpoint type 1 = brokers; 2 = controllers (KIP-919), which we do not expose.
    if request.endpoint_type > 1 {
        response.error_code = ResponseError::UnsupportedEndpointType.code();
        response.error_message = Some(StrBytes::from_static_str(
            "Only broker endpoints are exposed",
        ));
        return response;
    }
    response.brokers = broker
        .client_brokers()
        .into_iter()
        .map(|record| {
            DescribeClusterBroker::default()
                .with_broker_id(BrokerId(record.id))
                .with_host(StrBytes::from_string(record.host))
                .with_port(i32::from(record.port))
                .with_rack(record.rack.map(StrBytes::from_string))
        })
        .collect();
    response
}

pub async fn init_producer_id(
    broker: &Arc<Broker>,
    request: InitProducerIdRequest,
    version: i16,
) -> Result<InitProducerIdResponse, HandleError> {
    if let Some(transactional_id) = request.transactional_id.as_ref() {
        let id = transactional_id.to_string();
        return Ok(super::txn::init_producer_id(broker, &request, &id, version).await);
    }
    let allocated = blocking(broker, |topics| topics.metadata().allocate_producer_id()).await?;
    Ok(match allocated {
        Ok(id) => InitProducerIdResponse::default()
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(0),
        Err(error) => {
            tracing::error!(%error, "allocating a producer id failed");
            InitProducerIdResponse::default()
                .with_error_code(propose_error(&error).code())
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1)
        }
    })
}
