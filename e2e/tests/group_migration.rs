//! A group that changes protocol while it consumes (KIP-848's online migration), with
//! confluent-kafka (librdkafka 2.12) members as separate processes: one classic member
//! (`group.protocol=classic`, eager range) reads a 6-partition topic alone; two members with
//! `group.protocol=consumer` join — the broker converts the group to a consumer group and the
//! three share the partitions, each owned by exactly one; the two leave — the broker converts
//! it back, and the classic member takes everything again.
//!
//! Before each conversion the group has committed everything it read, so the member that
//! gets a partition must start at the committed offset: no record may be read twice, and
//! none may be missed. ConsumerGroupDescribe says which kind the group is at each stage.
//!
//! Needs `FJORD_PYTHON` (the venv with confluent-kafka) from `scripts/install-test-tools`.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use fjord_e2e::group_checks::{GroupTopic, expect_every_record_once_owned};
use fjord_e2e::kafka::{Delivered, create_topic};
use fjord_e2e::members::{Client, Members};
use fjord_e2e::wire::describe_consumer_group;
use fjord_e2e::{BrokerProcess, java_client};

const TOPIC: GroupTopic = GroupTopic {
    name: "mixed",
    partitions: 6,
};
const GROUP: &str = "mixed-readers";
const RECORDS: usize = 300;
/// The classic member's session timeout (`group.min.session.timeout.ms`).
const SESSION: Duration = Duration::from_secs(6);
const LIFETIME: Duration = Duration::from_secs(240);
const GROUP_ID_NOT_FOUND: i16 = 69;

fn start(dir: &Path) -> BrokerProcess {
    let config = dir.join("broker.properties");
    std::fs::write(
        &config,
        "group.initial.rebalance.delay.ms=0\n\
         group.consumer.session.timeout.ms=6000\n\
         group.consumer.heartbeat.interval.ms=500\n",
    )
    .unwrap();
    BrokerProcess::start_in(&dir.join("data"), &["--config", config.to_str().unwrap()]).unwrap()
}

/// The group as ConsumerGroupDescribe sees it: `None` while it is not a consumer group,
/// else its members' types (0 classic, 1 consumer), sorted.
fn consumer_group_members(bootstrap: &str) -> Option<Vec<i8>> {
    let described = describe_consumer_group(bootstrap, GROUP).unwrap();
    let group = &described.groups[0];
    if group.error_code == GROUP_ID_NOT_FOUND {
        return None;
    }
    assert_eq!(group.error_code, 0, "{group:?}");
    let mut types: Vec<i8> = group.members.iter().map(|m| m.member_type).collect();
    types.sort_unstable();
    Some(types)
}

/// How the Java Admin API lists and describes the group: its `fact` lines.
fn java_admin_view(bootstrap: &str) -> Vec<String> {
    let out = java_client(&["describegroup", bootstrap, GROUP]).unwrap();
    out.lines()
        .filter(|line| line.starts_with("fact "))
        .map(str::to_owned)
        .collect()
}

/// How many records each member has printed so far.
fn printed(members: &Members) -> Vec<usize> {
    members
        .members()
        .iter()
        .map(|m| m.records().len())
        .collect()
}

/// Fails if a record was printed twice, by one member or by two.
fn expect_no_record_twice(members: &Members) {
    let mut readers: BTreeMap<(i32, i64), Vec<&str>> = BTreeMap::new();
    for member in members.members() {
        for record in member.records() {
            readers.entry(*record).or_default().push(&member.name);
        }
    }
    let twice: Vec<_> = readers
        .iter()
        .filter(|(_, r)| r.len() > 1)
        .take(5)
        .collect();
    assert!(
        twice.is_empty(),
        "records read more than once though everything was committed before each handover: \
         {twice:?}\n{}",
        members.transcripts()
    );
}

/// Produces a batch, waits until the group has read all of it and committed its end
/// offsets.
fn produce_and_read(
    runtime: &tokio::runtime::Runtime,
    bootstrap: &str,
    tag: &str,
    delivered: &mut Vec<Delivered>,
    members: &mut Members,
) {
    delivered.extend(
        runtime
            .block_on(TOPIC.produce(bootstrap, tag, RECORDS))
            .unwrap(),
    );
    expect_every_record_once_owned(members, delivered).unwrap();
    TOPIC
        .wait_for_end_offsets_committed(bootstrap, GROUP, delivered, members)
        .unwrap();
}

#[test]
fn a_classic_group_converts_to_the_consumer_protocol_and_back_as_members_come_and_go() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path());
    let bootstrap = broker.bootstrap();
    runtime
        .block_on(create_topic(&bootstrap, TOPIC.name, TOPIC.partitions, &[]))
        .unwrap();
    let command = |client: Client| {
        client
            .member_command(&bootstrap, TOPIC.name, GROUP, SESSION, LIFETIME)
            .unwrap()
    };

    // One classic member reads everything and commits it.
    let mut members = Members::new();
    let classic = members
        .spawn("classic", command(Client::ConfluentKafka))
        .unwrap();
    members
        .wait_for_assignment(TOPIC.partitions, Duration::from_secs(60))
        .unwrap();
    let mut delivered = Vec::new();
    produce_and_read(
        &runtime,
        &bootstrap,
        "classic",
        &mut delivered,
        &mut members,
    );
    assert_eq!(consumer_group_members(&bootstrap), None, "a classic group");
    assert_eq!(
        java_admin_view(&bootstrap),
        [
            format!("fact listed {GROUP} Classic consumer Stable"),
            // DescribeGroups, which the Admin API falls back to, has no member types.
            format!("fact described {GROUP} Classic Stable 1 ?"),
        ]
    );

    // Two consumer-protocol members join: the group converts and the three share the topic.
    let before_upgrade = printed(&members);
    for name in ["consumer-a", "consumer-b"] {
        members
            .spawn(name, command(Client::ConfluentKafkaConsumerProtocol))
            .unwrap();
    }
    let shared = members
        .wait_for_assignment(TOPIC.partitions, Duration::from_secs(60))
        .unwrap();
    assert_eq!(shared.len(), 3, "{shared:?}\n{}", members.transcripts());
    assert_eq!(
        consumer_group_members(&bootstrap),
        Some(vec![0, 1, 1]),
        "a consumer group with one classic member"
    );
    let view = java_admin_view(&bootstrap);
    assert_eq!(
        view[0],
        format!("fact listed {GROUP} Consumer consumer Stable"),
        "{view:?}"
    );
    assert_eq!(
        view[1],
        format!("fact described {GROUP} Consumer Stable 3 false,true,true"),
        "{view:?}"
    );
    produce_and_read(&runtime, &bootstrap, "mixed", &mut delivered, &mut members);
    // The newcomers started at the offsets the classic member had committed.
    for (index, member) in members.members().iter().enumerate().skip(1) {
        let early: Vec<_> = member
            .records()
            .iter()
            .filter(|(p, o)| {
                delivered[..RECORDS]
                    .iter()
                    .any(|d| d.partition == *p && d.offset == *o)
            })
            .collect();
        assert!(
            early.is_empty(),
            "member {index} re-read committed records: {early:?}"
        );
    }
    assert!(printed(&members)[classic] >= before_upgrade[classic]);

    // The consumer-protocol members leave: only the classic member is left, and the group
    // goes back to the classic protocol; the classic member takes every partition again.
    let before_downgrade = printed(&members);
    for member in [1, 2] {
        let status = members.stop(member, Duration::from_secs(30)).unwrap();
        assert!(status.success(), "{status}\n{}", members.transcripts());
    }
    let alone = members
        .wait_for_assignment(TOPIC.partitions, Duration::from_secs(30))
        .unwrap();
    assert_eq!(
        alone,
        [(0..TOPIC.partitions).collect::<BTreeSet<i32>>()],
        "{}",
        members.transcripts()
    );
    assert_eq!(
        consumer_group_members(&bootstrap),
        None,
        "a classic group again"
    );
    produce_and_read(
        &runtime,
        &bootstrap,
        "classic-again",
        &mut delivered,
        &mut members,
    );
    let reread: Vec<_> = members.members()[classic].records()[before_downgrade[classic]..]
        .iter()
        .filter(|(p, o)| {
            delivered[..2 * RECORDS]
                .iter()
                .any(|d| d.partition == *p && d.offset == *o)
        })
        .collect();
    assert!(
        reread.is_empty(),
        "the classic member re-read committed records: {reread:?}"
    );
    expect_no_record_twice(&members);
    let status = members.stop(classic, Duration::from_secs(30)).unwrap();
    assert!(status.success(), "{status}\n{}", members.transcripts());
}
