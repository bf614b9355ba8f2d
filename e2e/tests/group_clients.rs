//! Three-member consumer groups of clients with their own protocol code — kafka-python,
//! aiokafka and kafkajs — and of confluent-kafka (librdkafka), each member a separate process
//! (`fjord_e2e::members`).
//!
//! Per client, one classic-protocol scenario: three members split a 6-partition topic with
//! every partition owned by exactly one of them; one is killed with SIGKILL (no LeaveGroup)
//! and its partitions move to the other two once its session times out; records produced
//! after that, on every partition, are all read; the group's committed offsets end at the
//! end offsets; a member stopped with SIGTERM leaves the group, and the last one takes
//! everything without waiting for a session timeout.
//!
//! With the KIP-848 consumer protocol (confluent-kafka, `group.protocol=consumer`) the same
//! group also shows that moves are incremental: after the kill only the dead member's
//! partitions move, once the broker's `group.consumer.session.timeout.ms` has passed, and no
//! survivor gives up any of its own; a member that joins takes only what the others give up.
//!
//! Needs `FJORD_PYTHON` (the venv with kafka-python, aiokafka and confluent-kafka) and
//! `FJORD_NODE` / `FJORD_NODE_PATH` (node and the kafkajs install), from
//! `scripts/install-test-tools`.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use fjord_e2e::BrokerProcess;
use fjord_e2e::group_checks::{self, GroupTopic};
use fjord_e2e::kafka::{Delivered, create_topic};
use fjord_e2e::members::{Client, Members};

const TOPIC: &str = "shared";
const PARTITIONS: i32 = 6;
/// The members' session timeout: the broker's smallest allowed (`group.min.session.timeout.ms`).
const SESSION: Duration = Duration::from_secs(6);
/// Time past a deadline the group needs to act on it: a heartbeat, a JoinGroup round, a sync.
const SLACK: Duration = Duration::from_secs(10);
/// A member exits by itself after this long, should the test lose track of it.
const LIFETIME: Duration = Duration::from_secs(240);
/// Records per batch produced (one batch before the members start, one after the kill).
const RECORDS: usize = 300;

/// The broker's consumer-protocol session timeout in the consumer-protocol scenario.
const CONSUMER_SESSION: Duration = Duration::from_secs(6);
/// The broker's settings for that scenario: a short session, heartbeats every 500 ms.
const CONSUMER_PROTOCOL_SETTINGS: &str =
    "group.consumer.session.timeout.ms=6000\ngroup.consumer.heartbeat.interval.ms=500\n";

fn start(dir: &Path, settings: &str) -> BrokerProcess {
    let config = dir.join("broker.properties");
    std::fs::write(&config, settings).unwrap();
    BrokerProcess::start_in(&dir.join("data"), &["--config", config.to_str().unwrap()]).unwrap()
}

const SHARED: GroupTopic = GroupTopic {
    name: TOPIC,
    partitions: PARTITIONS,
};

async fn produce(bootstrap: &str, tag: &str) -> Vec<Delivered> {
    SHARED.produce(bootstrap, tag, RECORDS).await.unwrap()
}

fn committed(bootstrap: &str, group: &str) -> BTreeMap<i32, i64> {
    SHARED.committed(bootstrap, group).unwrap()
}

fn expect_every_record_once_owned(members: &mut Members, delivered: &[Delivered]) {
    group_checks::expect_every_record_once_owned(members, delivered).unwrap();
}

fn wait_for_end_offsets_committed(
    bootstrap: &str,
    group: &str,
    delivered: &[Delivered],
    members: &Members,
) -> BTreeMap<i32, i64> {
    SHARED
        .wait_for_end_offsets_committed(bootstrap, group, delivered, members)
        .unwrap()
}

fn three_members_share_a_topic_survive_a_kill_and_commit_the_end_offsets(client: Client) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), "group.initial.rebalance.delay.ms=0\n");
    let bootstrap = broker.bootstrap();
    let group = format!("{client:?}-readers").to_lowercase();
    runtime
        .block_on(create_topic(&bootstrap, TOPIC, PARTITIONS, &[]))
        .unwrap();
    let mut delivered = runtime.block_on(produce(&bootstrap, "before"));

    let mut members = Members::new();
    for i in 0..3 {
        let command = client
            .member_command(&bootstrap, TOPIC, &group, SESSION, LIFETIME)
            .unwrap();
        members.spawn(&format!("member-{i}"), command).unwrap();
    }
    // Each partition owned by exactly one member, and each member owns some.
    let owned = members
        .wait_for_assignment(PARTITIONS, Duration::from_secs(90))
        .unwrap();
    assert_eq!(owned.len(), 3);

    // A crash: no LeaveGroup, so only the session timeout frees its partitions.
    let victim = 2;
    let freed = members.member(victim).assignment().unwrap().clone();
    members.kill(victim).unwrap();
    let owned = members
        .wait_for_assignment(PARTITIONS, SESSION + SLACK)
        .unwrap();
    assert_eq!(owned.len(), 2, "{owned:?}");

    // Records produced now, on the freed partitions too, reach the two left.
    let after = runtime.block_on(produce(&bootstrap, "after"));
    assert!(after.iter().any(|d| freed.contains(&d.partition)));
    delivered.extend(after);
    expect_every_record_once_owned(&mut members, &delivered);

    // Every member commits after what it processed: the commits reach the end offsets.
    let ends = wait_for_end_offsets_committed(&bootstrap, &group, &delivered, &members);

    // A clean stop leaves the group: the last member takes every partition before a session
    // timeout could have freed them.
    let status = members.stop(0, Duration::from_secs(30)).unwrap();
    assert!(
        status.success() && members.member(0).stopped(),
        "{status}\n{}",
        members.transcripts()
    );
    let owned = members.wait_for_assignment(PARTITIONS, SESSION).unwrap();
    assert_eq!(owned, [(0..PARTITIONS).collect::<BTreeSet<i32>>()]);
    let status = members.close_stdin(1, Duration::from_secs(30)).unwrap();
    assert!(
        status.success() && members.member(1).stopped(),
        "{status}\n{}",
        members.transcripts()
    );
    assert_eq!(committed(&bootstrap, &group), ends);
}

#[test]
fn three_kafka_python_members_share_a_topic_survive_a_kill_and_commit_the_end_offsets() {
    three_members_share_a_topic_survive_a_kill_and_commit_the_end_offsets(Client::KafkaPython);
}

#[test]
fn three_aiokafka_members_share_a_topic_survive_a_kill_and_commit_the_end_offsets() {
    three_members_share_a_topic_survive_a_kill_and_commit_the_end_offsets(Client::AioKafka);
}

#[test]
fn three_kafkajs_members_share_a_topic_survive_a_kill_and_commit_the_end_offsets() {
    three_members_share_a_topic_survive_a_kill_and_commit_the_end_offsets(Client::KafkaJs);
}

#[test]
fn three_confluent_kafka_members_share_a_topic_survive_a_kill_and_commit_the_end_offsets() {
    three_members_share_a_topic_survive_a_kill_and_commit_the_end_offsets(Client::ConfluentKafka);
}

/// The assignments `member` printed since it had printed `mark` of them.
fn printed_since(members: &Members, member: usize, mark: usize) -> &[BTreeSet<i32>] {
    &members.member(member).assignments()[mark..]
}

fn marks(members: &Members) -> Vec<usize> {
    members
        .members()
        .iter()
        .map(|m| m.assignments().len())
        .collect()
}

#[test]
fn three_confluent_kafka_consumer_protocol_members_move_only_what_must_move() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), CONSUMER_PROTOCOL_SETTINGS);
    let bootstrap = broker.bootstrap();
    let client = Client::ConfluentKafkaConsumerProtocol;
    let group = "confluent-kafka-kip848";
    runtime
        .block_on(create_topic(&bootstrap, TOPIC, PARTITIONS, &[]))
        .unwrap();
    let mut delivered = runtime.block_on(produce(&bootstrap, "before"));
    let spawn = |members: &mut Members, name: &str| {
        let command = client
            .member_command(&bootstrap, TOPIC, group, CONSUMER_SESSION, LIFETIME)
            .unwrap();
        members.spawn(name, command).unwrap()
    };

    let mut members = Members::new();
    for i in 0..3 {
        spawn(&mut members, &format!("member-{i}"));
    }
    let owned = members
        .wait_for_assignment(PARTITIONS, Duration::from_secs(90))
        .unwrap();
    assert_eq!(owned.len(), 3);

    // A crash: only the broker's session timeout frees the victim's partitions, and only
    // they move; the survivors never give up one of their own on the way.
    let victim = 2;
    let before_kill = marks(&members);
    members.kill(victim).unwrap();
    let killed_at = Instant::now();
    let after_kill = members
        .wait_for_assignment(PARTITIONS, CONSUMER_SESSION + SLACK)
        .unwrap();
    let took = killed_at.elapsed();
    assert!(
        took >= CONSUMER_SESSION - Duration::from_secs(1),
        "the partitions moved {took:?} after the kill, before the session could end"
    );
    assert_eq!(after_kill.len(), 2, "{after_kill:?}");
    let mut taken = BTreeSet::new();
    for survivor in 0..2 {
        for printed in printed_since(&members, survivor, before_kill[survivor]) {
            assert!(
                printed.is_superset(&owned[survivor]),
                "member-{survivor} went from {:?} to {printed:?}\n{}",
                owned[survivor],
                members.transcripts()
            );
        }
        taken.extend(after_kill[survivor].difference(&owned[survivor]));
    }
    assert_eq!(taken, owned[victim], "only the victim's partitions moved");

    // A member joins: the survivors give up only what it gets, and take nothing meanwhile.
    let before_join = marks(&members);
    let joiner = spawn(&mut members, "member-3");
    let after_join = members
        .wait_for_assignment(PARTITIONS, Duration::from_secs(60))
        .unwrap();
    assert_eq!(after_join.len(), 3, "{after_join:?}");
    let mut given_up = BTreeSet::new();
    for survivor in 0..2 {
        for printed in printed_since(&members, survivor, before_join[survivor]) {
            assert!(
                printed.is_subset(&after_kill[survivor])
                    && printed.is_superset(&after_join[survivor]),
                "member-{survivor} went from {:?} to {printed:?}, ending at {:?}\n{}",
                after_kill[survivor],
                after_join[survivor],
                members.transcripts()
            );
        }
        given_up.extend(after_kill[survivor].difference(&after_join[survivor]));
    }
    assert_eq!(
        after_join[2], given_up,
        "the newcomer got exactly what moved"
    );
    for printed in members.member(joiner).assignments() {
        assert!(printed.is_subset(&given_up), "member-3 had {printed:?}");
    }

    // Records produced now reach their owners; the commits reach the end offsets.
    delivered.extend(runtime.block_on(produce(&bootstrap, "after")));
    expect_every_record_once_owned(&mut members, &delivered);
    let ends = wait_for_end_offsets_committed(&bootstrap, group, &delivered, &members);

    // A clean stop leaves the group: the others take its partitions well before the broker
    // could have ended its session (6 s after its last heartbeat).
    for (stopped, left) in [(0, vec![1, joiner]), (1, vec![joiner])] {
        let status = if stopped == 0 {
            members.stop(stopped, Duration::from_secs(30)).unwrap()
        } else {
            members
                .close_stdin(stopped, Duration::from_secs(30))
                .unwrap()
        };
        assert!(
            status.success() && members.member(stopped).stopped(),
            "{status}\n{}",
            members.transcripts()
        );
        let owned = members
            .wait_for_assignment(PARTITIONS, Duration::from_secs(4))
            .unwrap();
        assert_eq!(owned.len(), left.len());
    }
    let status = members
        .close_stdin(joiner, Duration::from_secs(30))
        .unwrap();
    assert!(status.success() && members.member(joiner).stopped());
    assert_eq!(committed(&bootstrap, group), ends);
}
