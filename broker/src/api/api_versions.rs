//! ApiVersions: the APIs and versions this broker implements.

use kafka_protocol::messages::ApiVersionsResponse;

use crate::protocol::versions;

pub fn handle(_version: i16) -> ApiVersionsResponse {
    versions::api_versions_response(0)
}
