//! What this broker implements, per API: the single source for ApiVersions
//! and for refusing requests at versions it does not handle.
//!
//! Each range is the intersection of the request type's own `VERSIONS` in the
//! protocol crate and what the handler implements (`ApiKey::valid_versions()`
//! overstates some APIs, so it is not used).

use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiKey, ApiVersionsResponse};
use kafka_protocol::protocol::{Message, VersionRange};

use kafka_protocol::messages as m;

/// Implemented APIs: key, the versions handled, and the minimum advertised.
///
/// Produce advertises a minimum of 0 although versions below 3 are refused:
/// librdkafka 2.0.x compresses nothing unless Produce v0 is advertised
/// (librdkafka issue 4956), and Kafka 4.0 advertises 0 for the same reason.
const IMPLEMENTED: &[(ApiKey, VersionRange)] = &[
    (
        ApiKey::ApiVersions,
        range(m::ApiVersionsRequest::VERSIONS, 0, 4),
    ),
    (ApiKey::Metadata, range(m::MetadataRequest::VERSIONS, 0, 12)),
    (
        ApiKey::CreateTopics,
        range(m::CreateTopicsRequest::VERSIONS, 2, 7),
    ),
    (
        ApiKey::DeleteTopics,
        range(m::DeleteTopicsRequest::VERSIONS, 1, 6),
    ),
    (
        ApiKey::CreatePartitions,
        range(m::CreatePartitionsRequest::VERSIONS, 0, 3),
    ),
    (
        ApiKey::DescribeConfigs,
        range(m::DescribeConfigsRequest::VERSIONS, 1, 4),
    ),
    (
        ApiKey::AlterConfigs,
        range(m::AlterConfigsRequest::VERSIONS, 0, 2),
    ),
    (
        ApiKey::IncrementalAlterConfigs,
        range(m::IncrementalAlterConfigsRequest::VERSIONS, 0, 1),
    ),
    (
        ApiKey::DescribeCluster,
        range(m::DescribeClusterRequest::VERSIONS, 0, 2),
    ),
    (
        ApiKey::DescribeQuorum,
        range(m::DescribeQuorumRequest::VERSIONS, 0, 2),
    ),
    (
        ApiKey::AddRaftVoter,
        range(m::AddRaftVoterRequest::VERSIONS, 0, 0),
    ),
    (
        ApiKey::RemoveRaftVoter,
        range(m::RemoveRaftVoterRequest::VERSIONS, 0, 0),
    ),
    (
        ApiKey::UpdateFeatures,
        range(m::UpdateFeaturesRequest::VERSIONS, 0, 2),
    ),
    (
        ApiKey::InitProducerId,
        range(m::InitProducerIdRequest::VERSIONS, 0, 5),
    ),
    (ApiKey::Produce, range(m::ProduceRequest::VERSIONS, 3, 12)),
    (
        ApiKey::AddPartitionsToTxn,
        range(m::AddPartitionsToTxnRequest::VERSIONS, 0, 3),
    ),
    (
        ApiKey::AddOffsetsToTxn,
        range(m::AddOffsetsToTxnRequest::VERSIONS, 0, 4),
    ),
    (ApiKey::EndTxn, range(m::EndTxnRequest::VERSIONS, 0, 5)),
    (
        ApiKey::TxnOffsetCommit,
        range(m::TxnOffsetCommitRequest::VERSIONS, 0, 5),
    ),
    (
        ApiKey::DescribeTransactions,
        range(m::DescribeTransactionsRequest::VERSIONS, 0, 0),
    ),
    (
        ApiKey::ListTransactions,
        range(m::ListTransactionsRequest::VERSIONS, 0, 1),
    ),
    (
        ApiKey::DescribeProducers,
        range(m::DescribeProducersRequest::VERSIONS, 0, 0),
    ),
    (ApiKey::Fetch, range(m::FetchRequest::VERSIONS, 4, 16)),
    (
        ApiKey::ListOffsets,
        range(m::ListOffsetsRequest::VERSIONS, 1, 9),
    ),
    (
        ApiKey::OffsetForLeaderEpoch,
        range(m::OffsetForLeaderEpochRequest::VERSIONS, 2, 4),
    ),
    (
        ApiKey::DeleteRecords,
        range(m::DeleteRecordsRequest::VERSIONS, 0, 2),
    ),
    (
        ApiKey::FindCoordinator,
        range(m::FindCoordinatorRequest::VERSIONS, 0, 6),
    ),
    (
        ApiKey::JoinGroup,
        range(m::JoinGroupRequest::VERSIONS, 0, 9),
    ),
    (
        ApiKey::SyncGroup,
        range(m::SyncGroupRequest::VERSIONS, 0, 5),
    ),
    (
        ApiKey::Heartbeat,
        range(m::HeartbeatRequest::VERSIONS, 0, 4),
    ),
    (
        ApiKey::LeaveGroup,
        range(m::LeaveGroupRequest::VERSIONS, 0, 5),
    ),
    (
        ApiKey::OffsetCommit,
        range(m::OffsetCommitRequest::VERSIONS, 2, 9),
    ),
    (
        ApiKey::OffsetFetch,
        range(m::OffsetFetchRequest::VERSIONS, 1, 9),
    ),
    (
        ApiKey::ListGroups,
        range(m::ListGroupsRequest::VERSIONS, 0, 5),
    ),
    (
        ApiKey::DescribeGroups,
        range(m::DescribeGroupsRequest::VERSIONS, 0, 5),
    ),
    (
        ApiKey::DeleteGroups,
        range(m::DeleteGroupsRequest::VERSIONS, 0, 2),
    ),
    (
        ApiKey::OffsetDelete,
        range(m::OffsetDeleteRequest::VERSIONS, 0, 0),
    ),
    (
        ApiKey::ConsumerGroupHeartbeat,
        range(m::ConsumerGroupHeartbeatRequest::VERSIONS, 0, 1),
    ),
    (
        ApiKey::ConsumerGroupDescribe,
        range(m::ConsumerGroupDescribeRequest::VERSIONS, 0, 1),
    ),
];

/// The KIP-848 APIs, advertised only when `group.coordinator.rebalance.protocols` has
/// `consumer`.
const CONSUMER_PROTOCOL: [ApiKey; 2] = [
    ApiKey::ConsumerGroupHeartbeat,
    ApiKey::ConsumerGroupDescribe,
];

const fn range(crate_range: VersionRange, min: i16, max: i16) -> VersionRange {
    VersionRange {
        min: if crate_range.min > min {
            crate_range.min
        } else {
            min
        },
        max: if crate_range.max < max {
            crate_range.max
        } else {
            max
        },
    }
}

/// The versions of `key` this broker decodes and answers, if any.
pub fn supported(key: ApiKey) -> Option<VersionRange> {
    IMPLEMENTED
        .iter()
        .find(|(candidate, _)| *candidate == key)
        .map(|(_, range)| *range)
}

/// Whether `version` of `key` is handled.
pub fn is_supported(key: ApiKey, version: i16) -> bool {
    supported(key).is_some_and(|range| range.min <= version && version <= range.max)
}

/// The minimum version advertised for `key` (see the note on Produce).
fn advertised_min(key: ApiKey, range: VersionRange) -> i16 {
    if key == ApiKey::Produce { 0 } else { range.min }
}

/// The ApiVersions answer: every implemented API with its range (the KIP-848 APIs only with
/// `consumer_protocol`).
pub fn api_versions_response(error_code: i16, consumer_protocol: bool) -> ApiVersionsResponse {
    let api_keys = IMPLEMENTED
        .iter()
        .filter(|(key, _)| consumer_protocol || !CONSUMER_PROTOCOL.contains(key))
        .map(|(key, range)| {
            ApiVersion::default()
                .with_api_key(*key as i16)
                .with_min_version(advertised_min(*key, *range))
                .with_max_version(range.max)
        })
        .collect();
    ApiVersionsResponse::default()
        .with_error_code(error_code)
        .with_api_keys(api_keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_advertised_range_is_decodable_by_the_protocol_crate() {
        for (key, range) in IMPLEMENTED {
            assert!(!range.is_empty(), "{key:?} has an empty range");
            let crate_range = key.valid_versions();
            assert!(
                range.min >= crate_range.min && range.max <= crate_range.max,
                "{key:?}"
            );
        }
    }

    #[test]
    fn api_versions_lists_each_api_once() {
        let response = api_versions_response(0, true);
        let mut keys: Vec<i16> = response.api_keys.iter().map(|k| k.api_key).collect();
        let count = keys.len();
        keys.dedup();
        assert_eq!(keys.len(), count);
        assert!(keys.contains(&(ApiKey::ApiVersions as i16)));
    }

    #[test]
    fn the_consumer_group_apis_are_advertised_only_with_the_consumer_protocol() {
        let listed = |consumer: bool| -> Vec<i16> {
            api_versions_response(0, consumer)
                .api_keys
                .iter()
                .map(|k| k.api_key)
                .collect()
        };
        for key in CONSUMER_PROTOCOL {
            assert!(listed(true).contains(&(key as i16)), "{key:?}");
            assert!(!listed(false).contains(&(key as i16)), "{key:?}");
        }
        assert!(listed(false).contains(&(ApiKey::JoinGroup as i16)));
    }
}
