//! The classic group protocol at the wire, request by request, with the errors Kafka gives for
//! each kind of bad input: batched FindCoordinator keys, KIP-394 member ids, bad members and
//! generations, rebalances in progress, fenced static members, a member that never heartbeats,
//! a member killed mid-rebalance, batched LeaveGroup members, OffsetCommit of unknown topics
//! and oversized metadata, OffsetFetch of several groups, ListGroups state filters,
//! DescribeGroups, DeleteGroups and OffsetDelete, and a group id longer than a record key.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::time::{Duration, Instant};

use bytes::{BufMut as _, Bytes};
use fjord_e2e::BrokerProcess;
use fjord_e2e::kafka::create_topic;
use fjord_e2e::wire::WireClient;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    ApiKey, DeleteGroupsRequest, DescribeGroupsRequest, FindCoordinatorRequest, GroupId,
    HeartbeatRequest, JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest, ListGroupsRequest,
    OffsetCommitRequest, OffsetDeleteRequest, OffsetFetchRequest, RequestKind, ResponseKind,
    SyncGroupRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;

// Kafka's error codes.
const NONE: i16 = 0;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const OFFSET_METADATA_TOO_LARGE: i16 = 12;
const ILLEGAL_GENERATION: i16 = 22;
const INCONSISTENT_GROUP_PROTOCOL: i16 = 23;
const INVALID_GROUP_ID: i16 = 24;
const UNKNOWN_MEMBER_ID: i16 = 25;
const INVALID_SESSION_TIMEOUT: i16 = 26;
const REBALANCE_IN_PROGRESS: i16 = 27;
const NON_EMPTY_GROUP: i16 = 68;
const GROUP_ID_NOT_FOUND: i16 = 69;
const MEMBER_ID_REQUIRED: i16 = 79;
const FENCED_INSTANCE_ID: i16 = 82;
const GROUP_SUBSCRIBED_TO_TOPIC: i16 = 86;

/// Each group's (partition, offset, metadata) as OffsetFetch answered.
type GroupOffsets = Vec<(String, Vec<(i32, i64, String)>)>;

const JOIN: i16 = 7;
const SYNC: i16 = 5;
const HEARTBEAT: i16 = 4;

/// No initial rebalance delay, and sessions as short as one second.
fn start() -> BrokerProcess {
    let config = std::env::temp_dir().join(format!(
        "fjord-group-protocol-{}-{:?}.properties",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::write(
        &config,
        "group.initial.rebalance.delay.ms=0\ngroup.min.session.timeout.ms=1000\n",
    )
    .unwrap();
    BrokerProcess::start(&["--config", config.to_str().unwrap()]).unwrap()
}

fn text(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

fn group_id(s: &str) -> GroupId {
    GroupId(text(s))
}

/// A consumer's subscription (ConsumerProtocolSubscription v0) to `topics`.
fn subscription(topics: &[&str]) -> Bytes {
    let mut out = Vec::new();
    out.put_i16(0);
    out.put_i32(topics.len() as i32);
    for topic in topics {
        out.put_i16(topic.len() as i16);
        out.put_slice(topic.as_bytes());
    }
    out.put_i32(-1); // no user data
    Bytes::from(out)
}

fn call(wire: &mut WireClient, key: ApiKey, version: i16, request: RequestKind) -> ResponseKind {
    wire.call(key, version, request).unwrap()
}

struct JoinArgs<'a> {
    group: &'a str,
    member: &'a str,
    instance: Option<&'a str>,
    protocol_type: &'a str,
    session_ms: i32,
    rebalance_ms: i32,
}

impl<'a> JoinArgs<'a> {
    fn new(group: &'a str, member: &'a str) -> Self {
        Self {
            group,
            member,
            instance: None,
            protocol_type: "consumer",
            session_ms: 10_000,
            rebalance_ms: 10_000,
        }
    }

    fn request(&self) -> RequestKind {
        RequestKind::JoinGroup(
            JoinGroupRequest::default()
                .with_group_id(group_id(self.group))
                .with_member_id(text(self.member))
                .with_group_instance_id(self.instance.map(text))
                .with_session_timeout_ms(self.session_ms)
                .with_rebalance_timeout_ms(self.rebalance_ms)
                .with_protocol_type(text(self.protocol_type))
                .with_protocols(vec![
                    JoinGroupRequestProtocol::default()
                        .with_name(text("range"))
                        .with_metadata(subscription(&["orders"])),
                ]),
        )
    }
}

/// COORDINATOR_LOAD_IN_PROGRESS and COORDINATOR_NOT_AVAILABLE: while `__consumer_offsets` is
/// created and loaded, clients ask again, and so do these tests.
const LOADING: [i16; 2] = [14, 15];

/// Runs `attempt` again while it answers [`LOADING`], for up to 30 s.
fn until_loaded<T>(mut attempt: impl FnMut() -> T, errors: impl Fn(&T) -> Vec<i16>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answer = attempt();
        let loading = errors(&answer).iter().any(|e| LOADING.contains(e));
        if !loading || Instant::now() > deadline {
            return answer;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn join(wire: &mut WireClient, args: &JoinArgs<'_>) -> JoinGroupResponse {
    until_loaded(
        || match call(wire, ApiKey::JoinGroup, JOIN, args.request()) {
            ResponseKind::JoinGroup(response) => response,
            other => panic!("unexpected {other:?}"),
        },
        |response| vec![response.error_code],
    )
}

/// Joins as a new member: MEMBER_ID_REQUIRED with an id, then the join with it.
fn join_new(wire: &mut WireClient, args: JoinArgs<'_>) -> JoinGroupResponse {
    let first = join(wire, &args);
    assert_eq!(first.error_code, MEMBER_ID_REQUIRED, "{first:?}");
    assert!(!first.member_id.is_empty());
    let member = first.member_id.to_string();
    join(
        wire,
        &JoinArgs {
            member: &member,
            ..args
        },
    )
}

/// SyncGroup; the leader hands `assignments` out. Returns (error, assignment).
fn sync(
    wire: &mut WireClient,
    group: &str,
    member: &str,
    generation: i32,
    assignments: &[(&str, &'static [u8])],
) -> (i16, Bytes) {
    let request = SyncGroupRequest::default()
        .with_group_id(group_id(group))
        .with_member_id(text(member))
        .with_generation_id(generation)
        .with_protocol_type(Some(text("consumer")))
        .with_protocol_name(Some(text("range")))
        .with_assignments(
            assignments
                .iter()
                .map(|(member, assignment)| {
                    SyncGroupRequestAssignment::default()
                        .with_member_id(text(member))
                        .with_assignment(Bytes::from_static(assignment))
                })
                .collect(),
        );
    match call(
        wire,
        ApiKey::SyncGroup,
        SYNC,
        RequestKind::SyncGroup(request),
    ) {
        ResponseKind::SyncGroup(response) => (response.error_code, response.assignment),
        other => panic!("unexpected {other:?}"),
    }
}

fn heartbeat(
    wire: &mut WireClient,
    group: &str,
    member: &str,
    instance: Option<&str>,
    generation: i32,
) -> i16 {
    let request = HeartbeatRequest::default()
        .with_group_id(group_id(group))
        .with_member_id(text(member))
        .with_group_instance_id(instance.map(text))
        .with_generation_id(generation);
    match call(
        wire,
        ApiKey::Heartbeat,
        HEARTBEAT,
        RequestKind::Heartbeat(request),
    ) {
        ResponseKind::Heartbeat(response) => response.error_code,
        other => panic!("unexpected {other:?}"),
    }
}

fn describe_state(wire: &mut WireClient, group: &str) -> (i16, String, usize) {
    let request = DescribeGroupsRequest::default().with_groups(vec![group_id(group)]);
    match call(
        wire,
        ApiKey::DescribeGroups,
        5,
        RequestKind::DescribeGroups(request),
    ) {
        ResponseKind::DescribeGroups(response) => {
            let described = &response.groups[0];
            (
                described.error_code,
                described.group_state.to_string(),
                described.members.len(),
            )
        }
        other => panic!("unexpected {other:?}"),
    }
}

/// Commits `offset` with `metadata` for `group` (generation -1: an admin commit when the group
/// has no members), returning each partition's error.
fn commit(
    wire: &mut WireClient,
    group: &str,
    (member, generation): (&str, i32),
    partitions: &[(&str, i32, i64, &str)],
) -> Vec<i16> {
    let request = OffsetCommitRequest::default()
        .with_group_id(group_id(group))
        .with_member_id(text(member))
        .with_generation_id_or_member_epoch(generation)
        .with_topics(
            partitions
                .iter()
                .map(|(topic, partition, offset, metadata)| {
                    OffsetCommitRequestTopic::default()
                        .with_name(TopicName(text(topic)))
                        .with_partitions(vec![
                            OffsetCommitRequestPartition::default()
                                .with_partition_index(*partition)
                                .with_committed_offset(*offset)
                                .with_committed_metadata(Some(text(metadata))),
                        ])
                })
                .collect(),
        );
    until_loaded(
        || match call(
            wire,
            ApiKey::OffsetCommit,
            8,
            RequestKind::OffsetCommit(request.clone()),
        ) {
            ResponseKind::OffsetCommit(response) => response
                .topics
                .iter()
                .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
                .collect(),
            other => panic!("unexpected {other:?}"),
        },
        Vec::clone,
    )
}

#[test]
fn find_coordinator_answers_every_key_of_a_batch_and_refuses_an_empty_group_id() {
    let broker = start();
    let mut wire = WireClient::connect(broker.kafka).unwrap();
    let request = FindCoordinatorRequest::default()
        .with_key_type(0)
        .with_coordinator_keys(vec![text("orders"), text(""), text("billing")]);
    let ResponseKind::FindCoordinator(response) = call(
        &mut wire,
        ApiKey::FindCoordinator,
        4,
        RequestKind::FindCoordinator(request),
    ) else {
        panic!("not a FindCoordinator response");
    };
    let answers: Vec<(String, i16, i32)> = response
        .coordinators
        .iter()
        .map(|c| (c.key.to_string(), c.error_code, c.port))
        .collect();
    let port = i32::from(broker.kafka.port());
    assert_eq!(
        answers,
        vec![
            ("orders".into(), NONE, port),
            (String::new(), INVALID_GROUP_ID, -1),
            ("billing".into(), NONE, port),
        ]
    );
    // Before v4: one key, answered at the top level.
    let request = FindCoordinatorRequest::default().with_key(text("orders"));
    let ResponseKind::FindCoordinator(response) = call(
        &mut wire,
        ApiKey::FindCoordinator,
        3,
        RequestKind::FindCoordinator(request),
    ) else {
        panic!("not a FindCoordinator response");
    };
    assert_eq!((response.error_code, response.port), (NONE, port));
}

#[test]
fn joins_syncs_and_heartbeats_with_bad_members_generations_or_settings_get_kafkas_errors() {
    let broker = start();
    let mut wire = WireClient::connect(broker.kafka).unwrap();
    let group = "bad-members";

    let first = join_new(&mut wire, JoinArgs::new(group, ""));
    assert_eq!(first.error_code, NONE);
    assert_eq!(first.generation_id, 1);
    let m1 = first.member_id.to_string();
    assert_eq!(first.leader.as_str(), m1);

    assert_eq!(sync(&mut wire, group, &m1, 2, &[]).0, ILLEGAL_GENERATION);
    assert_eq!(
        sync(&mut wire, group, "stranger", 1, &[]).0,
        UNKNOWN_MEMBER_ID
    );
    let (error, assignment) = sync(
        &mut wire,
        group,
        &m1,
        1,
        &[(m1.as_str(), b"partitions 0-5")],
    );
    assert_eq!((error, assignment.as_ref()), (NONE, &b"partitions 0-5"[..]));

    assert_eq!(
        heartbeat(&mut wire, group, "stranger", None, 1),
        UNKNOWN_MEMBER_ID
    );
    assert_eq!(
        heartbeat(&mut wire, group, &m1, None, 0),
        ILLEGAL_GENERATION
    );
    assert_eq!(heartbeat(&mut wire, group, &m1, None, 1), NONE);

    let refused = |wire: &mut WireClient, args: JoinArgs<'_>| join(wire, &args).error_code;
    assert_eq!(refused(&mut wire, JoinArgs::new("", "")), INVALID_GROUP_ID);
    let short_session = JoinArgs {
        session_ms: 500,
        ..JoinArgs::new(group, "")
    };
    assert_eq!(refused(&mut wire, short_session), INVALID_SESSION_TIMEOUT);
    let long_session = JoinArgs {
        session_ms: 1_800_001,
        ..JoinArgs::new(group, "")
    };
    assert_eq!(refused(&mut wire, long_session), INVALID_SESSION_TIMEOUT);
    let other_protocol = JoinArgs {
        protocol_type: "connect",
        ..JoinArgs::new(group, "")
    };
    assert_eq!(
        refused(&mut wire, other_protocol),
        INCONSISTENT_GROUP_PROTOCOL
    );
    assert_eq!(
        refused(&mut wire, JoinArgs::new(group, "stranger")),
        UNKNOWN_MEMBER_ID
    );

    // A second member's join starts a rebalance: m1 hears of it from its heartbeat, and the
    // join is answered once m1 has rejoined.
    let mut second = WireClient::connect(broker.kafka).unwrap();
    let asked = join(&mut second, &JoinArgs::new(group, ""));
    assert_eq!(asked.error_code, MEMBER_ID_REQUIRED);
    let m2 = asked.member_id.to_string();
    second
        .send(ApiKey::JoinGroup, JOIN, JoinArgs::new(group, &m2).request())
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut in_progress = heartbeat(&mut wire, group, &m1, None, 1);
    while in_progress == NONE && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        in_progress = heartbeat(&mut wire, group, &m1, None, 1);
    }
    assert_eq!(in_progress, REBALANCE_IN_PROGRESS);
    let rejoined = join(&mut wire, &JoinArgs::new(group, &m1));
    assert_eq!((rejoined.error_code, rejoined.generation_id), (NONE, 2));
    assert_eq!(rejoined.members.len(), 2, "the leader sees both members");
    let (_, ResponseKind::JoinGroup(joined)) = second.receive(ApiKey::JoinGroup, JOIN).unwrap()
    else {
        panic!("not a JoinGroup response");
    };
    assert_eq!((joined.error_code, joined.generation_id), (NONE, 2));
    assert!(
        joined.members.is_empty(),
        "only the leader gets the members"
    );
}

#[test]
fn a_member_that_never_heartbeats_is_removed_and_one_killed_mid_rebalance_is_dropped() {
    let broker = start();
    let mut wire = WireClient::connect(broker.kafka).unwrap();

    let silent = join_new(
        &mut wire,
        JoinArgs {
            session_ms: 1_000,
            ..JoinArgs::new("silent", "")
        },
    );
    let member = silent.member_id.to_string();
    assert_eq!(
        sync(&mut wire, "silent", &member, 1, &[(member.as_str(), b"a")]).0,
        NONE
    );
    std::thread::sleep(Duration::from_millis(2_000));
    assert_eq!(
        heartbeat(&mut wire, "silent", &member, None, 1),
        UNKNOWN_MEMBER_ID
    );
    assert_eq!(
        describe_state(&mut wire, "silent"),
        (NONE, "Empty".into(), 0)
    );

    // A stable member is killed (its connection closed, nothing more sent) just as another
    // joins: the rebalance waits for it for the group's rebalance timeout (as in Kafka, the
    // longest of its members'), then goes on without it.
    let mut doomed = WireClient::connect(broker.kafka).unwrap();
    let first = join_new(
        &mut doomed,
        JoinArgs {
            rebalance_ms: 2_000,
            ..JoinArgs::new("killed", "")
        },
    );
    let m1 = first.member_id.to_string();
    assert_eq!(
        sync(&mut doomed, "killed", &m1, 1, &[(m1.as_str(), b"a")]).0,
        NONE
    );
    drop(doomed);
    let started = Instant::now();
    let second = join_new(
        &mut wire,
        JoinArgs {
            rebalance_ms: 2_000,
            ..JoinArgs::new("killed", "")
        },
    );
    let waited = started.elapsed();
    assert_eq!((second.error_code, second.generation_id), (NONE, 2));
    assert_eq!(second.leader, second.member_id, "the survivor leads");
    assert_eq!(second.members.len(), 1);
    assert!(
        waited >= Duration::from_millis(1_500) && waited < Duration::from_secs(10),
        "the join waited {waited:?} for the killed member's rebalance timeout (2 s)"
    );
}

#[test]
fn leave_group_answers_each_member_of_a_batch_and_a_replaced_static_member_is_fenced() {
    let broker = start();
    let mut wire = WireClient::connect(broker.kafka).unwrap();
    let joined = join_new(&mut wire, JoinArgs::new("leaving", ""));
    let member = joined.member_id.to_string();
    let request = LeaveGroupRequest::default()
        .with_group_id(group_id("leaving"))
        .with_members(vec![
            MemberIdentity::default().with_member_id(text(&member)),
            MemberIdentity::default().with_member_id(text("ghost")),
        ]);
    let ResponseKind::LeaveGroup(left) = call(
        &mut wire,
        ApiKey::LeaveGroup,
        4,
        RequestKind::LeaveGroup(request),
    ) else {
        panic!("not a LeaveGroup response");
    };
    let answers: Vec<(String, i16)> = left
        .members
        .iter()
        .map(|m| (m.member_id.to_string(), m.error_code))
        .collect();
    assert_eq!(left.error_code, NONE);
    assert_eq!(
        answers,
        vec![(member, NONE), ("ghost".into(), UNKNOWN_MEMBER_ID)]
    );
    assert_eq!(
        describe_state(&mut wire, "leaving"),
        (NONE, "Empty".into(), 0)
    );

    // A static member that comes back under a new member id replaces the old one, which is
    // fenced from then on.
    let static_member = |member: &'static str| JoinArgs {
        instance: Some("instance-1"),
        ..JoinArgs::new("static", member)
    };
    let old = join(&mut wire, &static_member(""));
    assert_eq!(old.error_code, NONE, "a static member needs no second join");
    let old_id = old.member_id.to_string();
    let old_assignment: (&str, &'static [u8]) = (old_id.as_str(), b"a");
    assert_eq!(
        sync(&mut wire, "static", &old_id, 1, &[old_assignment]).0,
        NONE
    );
    let mut restarted = WireClient::connect(broker.kafka).unwrap();
    let new = join(&mut restarted, &static_member(""));
    assert_eq!(new.error_code, NONE);
    assert_ne!(new.member_id.as_str(), old_id);
    assert_eq!(
        heartbeat(
            &mut wire,
            "static",
            &old_id,
            Some("instance-1"),
            old.generation_id
        ),
        FENCED_INSTANCE_ID
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn offsets_and_group_admin_requests_get_kafkas_answers() {
    let broker = start();
    create_topic(&broker.bootstrap(), "orders", 2, &[])
        .await
        .unwrap();
    let mut wire = WireClient::connect(broker.kafka).unwrap();

    // An admin commit (no member, generation -1) to a group without members.
    let long_metadata = "m".repeat(5_000);
    let errors = commit(
        &mut wire,
        "idle",
        ("", -1),
        &[
            ("orders", 0, 5, "checkpoint"),
            ("no-such-topic", 0, 1, ""),
            ("orders", 1, 7, &long_metadata),
        ],
    );
    assert_eq!(
        errors,
        vec![NONE, UNKNOWN_TOPIC_OR_PARTITION, OFFSET_METADATA_TOO_LARGE]
    );

    // A stable group whose member subscribes to `orders`.
    let busy = join_new(&mut wire, JoinArgs::new("busy", ""));
    let member = busy.member_id.to_string();
    assert_eq!(
        sync(&mut wire, "busy", &member, 1, &[(member.as_str(), b"a")]).0,
        NONE
    );
    assert_eq!(
        commit(&mut wire, "busy", (&member, 1), &[("orders", 1, 3, "")]),
        vec![NONE]
    );
    assert_eq!(
        commit(&mut wire, "busy", (&member, 7), &[("orders", 1, 4, "")]),
        vec![ILLEGAL_GENERATION]
    );

    // Several groups in one OffsetFetch; an unknown group has no offsets.
    let fetch_group = |group: &str| {
        OffsetFetchRequestGroup::default()
            .with_group_id(group_id(group))
            .with_topics(Some(vec![
                OffsetFetchRequestTopics::default()
                    .with_name(TopicName(text("orders")))
                    .with_partition_indexes(vec![0, 1]),
            ]))
    };
    let request = OffsetFetchRequest::default()
        .with_require_stable(true)
        .with_groups(vec![
            fetch_group("idle"),
            fetch_group("busy"),
            fetch_group("nobody"),
        ]);
    let ResponseKind::OffsetFetch(fetched) = call(
        &mut wire,
        ApiKey::OffsetFetch,
        8,
        RequestKind::OffsetFetch(request),
    ) else {
        panic!("not an OffsetFetch response");
    };
    let offsets: GroupOffsets = fetched
        .groups
        .iter()
        .map(|g| {
            assert_eq!(g.error_code, NONE);
            let partitions = g
                .topics
                .iter()
                .flat_map(|t| &t.partitions)
                .map(|p| {
                    (
                        p.partition_index,
                        p.committed_offset,
                        p.metadata
                            .as_ref()
                            .map(|m| m.to_string())
                            .unwrap_or_default(),
                    )
                })
                .collect();
            (g.group_id.to_string(), partitions)
        })
        .collect();
    assert_eq!(
        offsets,
        vec![
            (
                "idle".into(),
                vec![(0, 5, "checkpoint".into()), (1, -1, String::new())]
            ),
            (
                "busy".into(),
                vec![(0, -1, String::new()), (1, 3, String::new())]
            ),
            (
                "nobody".into(),
                vec![(0, -1, String::new()), (1, -1, String::new())]
            ),
        ]
    );

    // ListGroups with and without a state filter.
    let list = |wire: &mut WireClient, states: &[&str]| -> Vec<(String, String)> {
        let request = ListGroupsRequest::default()
            .with_states_filter(states.iter().map(|s| text(s)).collect());
        let ResponseKind::ListGroups(listed) = call(
            wire,
            ApiKey::ListGroups,
            4,
            RequestKind::ListGroups(request),
        ) else {
            panic!("not a ListGroups response");
        };
        let mut groups: Vec<_> = listed
            .groups
            .iter()
            .map(|g| (g.group_id.to_string(), g.group_state.to_string()))
            .collect();
        groups.sort();
        groups
    };
    assert_eq!(
        list(&mut wire, &["Stable"]),
        vec![("busy".into(), "Stable".into())]
    );
    assert_eq!(
        list(&mut wire, &["Empty"]),
        vec![("idle".into(), "Empty".into())]
    );
    assert_eq!(
        list(&mut wire, &[]),
        vec![
            ("busy".into(), "Stable".into()),
            ("idle".into(), "Empty".into())
        ]
    );

    assert_eq!(
        describe_state(&mut wire, "busy"),
        (NONE, "Stable".into(), 1)
    );
    assert_eq!(
        describe_state(&mut wire, "nobody"),
        (NONE, "Dead".into(), 0)
    );

    // OffsetDelete: a topic a member subscribes to is refused.
    let request = OffsetDeleteRequest::default()
        .with_group_id(group_id("busy"))
        .with_topics(vec![
            OffsetDeleteRequestTopic::default()
                .with_name(TopicName(text("orders")))
                .with_partitions(vec![
                    OffsetDeleteRequestPartition::default().with_partition_index(1),
                ]),
        ]);
    let ResponseKind::OffsetDelete(deleted) = call(
        &mut wire,
        ApiKey::OffsetDelete,
        0,
        RequestKind::OffsetDelete(request),
    ) else {
        panic!("not an OffsetDelete response");
    };
    assert_eq!(deleted.error_code, NONE);
    assert_eq!(
        deleted.topics[0].partitions[0].error_code,
        GROUP_SUBSCRIBED_TO_TOPIC
    );

    // DeleteGroups: a group with members is refused, an unknown one is not found.
    let request = DeleteGroupsRequest::default().with_groups_names(vec![
        group_id("busy"),
        group_id("idle"),
        group_id("nobody"),
    ]);
    let ResponseKind::DeleteGroups(deleted) = call(
        &mut wire,
        ApiKey::DeleteGroups,
        2,
        RequestKind::DeleteGroups(request),
    ) else {
        panic!("not a DeleteGroups response");
    };
    let results: Vec<(String, i16)> = deleted
        .results
        .iter()
        .map(|r| (r.group_id.to_string(), r.error_code))
        .collect();
    assert_eq!(
        results,
        vec![
            ("busy".into(), NON_EMPTY_GROUP),
            ("idle".into(), NONE),
            ("nobody".into(), GROUP_ID_NOT_FOUND),
        ]
    );
    assert_eq!(list(&mut wire, &[]), vec![("busy".into(), "Stable".into())]);
}

#[test]
fn a_group_id_longer_than_a_record_key_can_hold_is_refused_as_invalid() {
    let broker = start();
    let mut wire = WireClient::connect(broker.kafka).unwrap();
    // A flexible version carries it; the offsets record key (an INT16-length string) cannot.
    let long = "g".repeat(usize::from(u16::MAX));
    assert_eq!(
        join(&mut wire, &JoinArgs::new(&long, "")).error_code,
        INVALID_GROUP_ID
    );
    assert_eq!(
        commit(&mut wire, &long, ("", -1), &[("orders", 0, 1, "")]),
        vec![INVALID_GROUP_ID]
    );
    // The longest id a key holds is an ordinary group.
    let longest = "g".repeat(usize::from(i16::MAX as u16));
    let joined = join_new(&mut wire, JoinArgs::new(&longest, ""));
    assert_eq!((joined.error_code, joined.generation_id), (NONE, 1));
}
