//! The KIP-848 APIs on the wire: ApiVersions lists them only with the consumer protocol
//! enabled, and bad ConsumerGroupHeartbeats and OffsetCommit v9 requests get Kafka's error
//! codes.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use fjord_e2e::BrokerProcess;
use fjord_e2e::kafka::create_topic;
use fjord_e2e::wire::{WireClient, advertised_api_keys, describe_consumer_group};
use kafka_protocol::messages::consumer_group_heartbeat_request::TopicPartitions;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::{
    ApiKey, ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse, GroupId,
    OffsetCommitRequest, RequestKind, ResponseKind, TopicName,
};
use kafka_protocol::protocol::StrBytes;

const PARTITIONS: i32 = 6;
const TOPIC: &str = "kip848";

fn start(dir: &Path, settings: &str) -> BrokerProcess {
    let config = dir.join("broker.properties");
    std::fs::write(&config, settings).unwrap();
    BrokerProcess::start_in(&dir.join("data"), &["--config", config.to_str().unwrap()]).unwrap()
}

fn wire(bootstrap: &str) -> WireClient {
    WireClient::connect(bootstrap.parse::<SocketAddr>().unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn without_the_consumer_protocol_the_apis_are_not_advertised_and_describe_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(
        dir.path(),
        "group.coordinator.rebalance.protocols=classic\n",
    );
    let bootstrap = broker.bootstrap();
    let apis = advertised_api_keys(&bootstrap).unwrap();
    assert!(!apis.contains(&(ApiKey::ConsumerGroupHeartbeat as i16)));
    assert!(!apis.contains(&(ApiKey::ConsumerGroupDescribe as i16)));
    assert!(apis.contains(&(ApiKey::JoinGroup as i16)));
    let described = describe_consumer_group(&bootstrap, "any").unwrap();
    assert_eq!(described.groups[0].error_code, 35, "UNSUPPORTED_VERSION");

    // With it, an unknown group is GROUP_ID_NOT_FOUND.
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), "");
    let deadline = Instant::now() + Duration::from_secs(30);
    let code = loop {
        let code = describe_consumer_group(&broker.bootstrap(), "unknown")
            .unwrap()
            .groups[0]
            .error_code;
        // COORDINATOR_LOAD_IN_PROGRESS while the new __consumer_offsets partition loads.
        if code != 14 || Instant::now() > deadline {
            break code;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(code, 69, "GROUP_ID_NOT_FOUND");
}

// --- bad heartbeats and commits on the wire ------------------------------------------------

fn text(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

/// A first heartbeat (epoch 0) of `member` subscribing to `topics` or `regex`.
fn joining(group: &str, member: &str) -> ConsumerGroupHeartbeatRequest {
    ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(text(group)))
        .with_member_id(text(member))
        .with_member_epoch(0)
        .with_rebalance_timeout_ms(30_000)
        .with_subscribed_topic_names(Some(vec![TopicName(text(TOPIC))]))
        .with_topic_partitions(Some(Vec::<TopicPartitions>::new()))
}

/// Sends `request`, retried while the coordinator loads.
fn heartbeat(
    client: &mut WireClient,
    request: ConsumerGroupHeartbeatRequest,
) -> ConsumerGroupHeartbeatResponse {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let response = match client
            .call(
                ApiKey::ConsumerGroupHeartbeat,
                1,
                RequestKind::ConsumerGroupHeartbeat(request.clone()),
            )
            .unwrap()
        {
            ResponseKind::ConsumerGroupHeartbeat(response) => response,
            other => panic!("{other:?}"),
        };
        if response.error_code != 14 || Instant::now() > deadline {
            return response;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn commit_code(client: &mut WireClient, group: &str, member: &str, epoch: i32) -> i16 {
    let request = OffsetCommitRequest::default()
        .with_group_id(GroupId(text(group)))
        .with_member_id(text(member))
        .with_generation_id_or_member_epoch(epoch)
        .with_topics(vec![
            OffsetCommitRequestTopic::default()
                .with_name(TopicName(text(TOPIC)))
                .with_partitions(vec![
                    OffsetCommitRequestPartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(0),
                ]),
        ]);
    match client
        .call(ApiKey::OffsetCommit, 9, RequestKind::OffsetCommit(request))
        .unwrap()
    {
        ResponseKind::OffsetCommit(response) => response.topics[0].partitions[0].error_code,
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_heartbeats_and_commits_get_kafkas_errors() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), "");
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, TOPIC, PARTITIONS, &[])
        .await
        .unwrap();
    let mut client = wire(&bootstrap);

    // A join gets epoch 1, the broker's heartbeat interval and every partition.
    let joined = heartbeat(&mut client, joining("wire", "m1"));
    assert_eq!(joined.error_code, 0, "{:?}", joined.error_message);
    assert_eq!(joined.member_id.as_deref(), Some("m1"));
    assert_eq!(joined.member_epoch, 1);
    assert_eq!(joined.heartbeat_interval_ms, 5_000);
    let assigned: usize = joined
        .assignment
        .unwrap()
        .topic_partitions
        .iter()
        .map(|t| t.partitions.len())
        .sum();
    assert_eq!(assigned, PARTITIONS as usize);

    // Commits: at the member's epoch, fine; another epoch STALE_MEMBER_EPOCH (113); an unknown
    // member UNKNOWN_MEMBER_ID (25).
    assert_eq!(commit_code(&mut client, "wire", "m1", 1), 0);
    assert_eq!(commit_code(&mut client, "wire", "m1", 0), 113);
    assert_eq!(commit_code(&mut client, "wire", "nobody", 1), 25);

    // An epoch ahead is FENCED_MEMBER_EPOCH (110), an unknown member UNKNOWN_MEMBER_ID.
    let ahead = joining("wire", "m1")
        .with_member_epoch(7)
        .with_rebalance_timeout_ms(-1)
        .with_subscribed_topic_names(None)
        .with_topic_partitions(None);
    assert_eq!(heartbeat(&mut client, ahead).error_code, 110);
    let unknown = joining("wire", "m9")
        .with_member_epoch(3)
        .with_topic_partitions(None);
    assert_eq!(heartbeat(&mut client, unknown).error_code, 25);

    // Bad requests: no member id (INVALID_REQUEST, 42), a regex that does not compile
    // (INVALID_REGULAR_EXPRESSION, 128), an assignor not configured (UNSUPPORTED_ASSIGNOR, 112).
    assert_eq!(heartbeat(&mut client, joining("wire", "")).error_code, 42);
    let regex = joining("wire", "m2")
        .with_subscribed_topic_names(None)
        .with_subscribed_topic_regex(Some(text("(unclosed")));
    let refused = heartbeat(&mut client, regex);
    assert_eq!(refused.error_code, 128, "{:?}", refused.error_message);
    let assignor = joining("wire", "m2").with_server_assignor(Some(text("sticky")));
    assert_eq!(heartbeat(&mut client, assignor).error_code, 112);

    // Leaving answers epoch -1; the group is then empty.
    let leave = joining("wire", "m1")
        .with_member_epoch(-1)
        .with_rebalance_timeout_ms(-1)
        .with_subscribed_topic_names(None)
        .with_topic_partitions(None);
    let left = heartbeat(&mut client, leave);
    assert_eq!((left.error_code, left.member_epoch), (0, -1));
    assert_eq!(
        describe_consumer_group(&bootstrap, "wire").unwrap().groups[0]
            .group_state
            .as_str(),
        "Empty"
    );
}
