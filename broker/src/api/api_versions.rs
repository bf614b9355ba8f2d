//! ApiVersions: the APIs and versions this broker implements.

use kafka_protocol::messages::ApiVersionsResponse;

use crate::protocol::versions;

/// `consumer_protocol`: whether the KIP-848 APIs are enabled
/// (`group.coordinator.rebalance.protocols`).
pub fn handle(consumer_protocol: bool) -> ApiVersionsResponse {
    versions::api_versions_response(0, consumer_protocol)
}
