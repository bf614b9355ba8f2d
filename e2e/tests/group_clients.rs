//! Three-member consumer groups of clients with their own protocol code — kafka-python,
//! aiokafka and kafkajs — each member a separate process (`fjord_e2e::members`).
//!
//! Per client, one scenario: three members split a 6-partition topic with every partition
//! owned by exactly one of them; one is killed with SIGKILL (no LeaveGroup) and its
//! partitions move to the other two once its session times out; records produced after
//! that, on every partition, are all read; the group's committed offsets end at the end
//! offsets; a member stopped with SIGTERM leaves the group, and the last one takes
//! everything without waiting for a session timeout.
//!
//! Needs `FJORD_PYTHON` (the venv with kafka-python and aiokafka) and `FJORD_NODE` /
//! `FJORD_NODE_PATH` (node and the kafkajs install), from `scripts/install-test-tools`.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use fjord_e2e::BrokerProcess;
use fjord_e2e::kafka::{Delivered, create_topic, keyed_records, produce_all, producer};
use fjord_e2e::members::{Client, Members};
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::{ClientConfig, TopicPartitionList};

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

fn start(dir: &Path) -> BrokerProcess {
    let config = dir.join("broker.properties");
    std::fs::write(&config, "group.initial.rebalance.delay.ms=0\n").unwrap();
    BrokerProcess::start_in(&dir.join("data"), &["--config", config.to_str().unwrap()]).unwrap()
}

async fn produce(bootstrap: &str, tag: &str) -> Vec<Delivered> {
    let records = keyed_records(tag, RECORDS, 20);
    let delivered = produce_all(&producer(bootstrap, &[]).unwrap(), TOPIC, &records, RECORDS)
        .await
        .unwrap();
    let partitions: BTreeSet<i32> = delivered.iter().map(|d| d.partition).collect();
    assert_eq!(
        partitions,
        (0..PARTITIONS).collect(),
        "the {tag} records reach every partition"
    );
    delivered
}

/// The group's committed offset per partition, as librdkafka's OffsetFetch reads it
/// (partitions without a commit left out).
fn committed(bootstrap: &str, group: &str) -> BTreeMap<i32, i64> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut list = TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        list.add_partition(TOPIC, partition);
    }
    consumer
        .committed_offsets(list, Duration::from_secs(10))
        .unwrap()
        .elements()
        .iter()
        .filter_map(|e| Some((e.partition(), e.offset().to_raw().filter(|o| *o >= 0)?)))
        .collect()
}

fn three_members_share_a_topic_survive_a_kill_and_commit_the_end_offsets(client: Client) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path());
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
    let expected: BTreeSet<(i32, i64)> =
        delivered.iter().map(|d| (d.partition, d.offset)).collect();
    members
        .wait_until(
            Duration::from_secs(60),
            "every produced record",
            |members| {
                let seen: BTreeSet<(i32, i64)> = members
                    .iter()
                    .flat_map(|m| m.records().iter().copied())
                    .collect();
                seen.is_superset(&expected)
            },
        )
        .unwrap();
    for member in members.members() {
        assert!(
            member.foreign_records().is_empty(),
            "{} printed records of partitions it did not own: {:?}\n{}",
            member.name,
            member.foreign_records(),
            member.transcript()
        );
    }

    // Every member commits after what it processed: the commits reach the end offsets.
    let mut ends: BTreeMap<i32, i64> = BTreeMap::new();
    for record in &delivered {
        let end = ends.entry(record.partition).or_default();
        *end = (*end).max(record.offset + 1);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = committed(&bootstrap, &group);
    while last != ends {
        assert!(
            Instant::now() < deadline,
            "committed {last:?}, end offsets {ends:?}\n{}",
            members.transcripts()
        );
        std::thread::sleep(Duration::from_millis(200));
        last = committed(&bootstrap, &group);
    }

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
