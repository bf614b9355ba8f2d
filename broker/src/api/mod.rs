//! Kafka API handlers: one file per API, each thin, calling the domain modules.
//! `handle` dispatches a decoded request and counts it by API and error.

mod api_versions;
mod metadata;

use std::sync::Arc;

use kafka_protocol::messages::{RequestKind, ResponseKind};

use crate::broker::Broker;
use crate::metrics::RequestLabels;
use crate::protocol::codec::Request;

/// A request that cannot be answered; the connection is closed.
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    #[error("no handler for {0:?}")]
    NoHandler(kafka_protocol::messages::ApiKey),
}

/// Answers one request. `Ok(None)` means no response is sent (Produce with
/// `acks=0`).
pub async fn handle(
    broker: &Arc<Broker>,
    request: Request,
) -> Result<Option<ResponseKind>, HandleError> {
    let api_key = request.api_key;
    let version = request.header.request_api_version;
    let response = match request.body {
        RequestKind::ApiVersions(_) => {
            Some(ResponseKind::ApiVersions(api_versions::handle(version)))
        }
        RequestKind::Metadata(body) => Some(ResponseKind::Metadata(metadata::handle(
            broker, body, version,
        ))),
        _ => return Err(HandleError::NoHandler(api_key)),
    };
    broker
        .metrics
        .requests
        .get_or_create(&RequestLabels {
            api: api_name(api_key),
            error: "NONE",
        })
        .inc();
    Ok(response)
}

fn api_name(key: kafka_protocol::messages::ApiKey) -> &'static str {
    use kafka_protocol::messages::ApiKey::*;
    match key {
        Produce => "Produce",
        Fetch => "Fetch",
        ListOffsets => "ListOffsets",
        Metadata => "Metadata",
        ApiVersions => "ApiVersions",
        CreateTopics => "CreateTopics",
        DeleteTopics => "DeleteTopics",
        CreatePartitions => "CreatePartitions",
        DescribeConfigs => "DescribeConfigs",
        AlterConfigs => "AlterConfigs",
        IncrementalAlterConfigs => "IncrementalAlterConfigs",
        DeleteRecords => "DeleteRecords",
        DescribeCluster => "DescribeCluster",
        InitProducerId => "InitProducerId",
        OffsetForLeaderEpoch => "OffsetForLeaderEpoch",
        _ => "Other",
    }
}
