//! The KIP-848 consumer protocol (`group.protocol=consumer`) with librdkafka members on a
//! six-partition topic: the broker assigns (uniform assignor) through ConsumerGroupHeartbeat.
//!
//! At every stable point each partition is owned by exactly one member. A member that leaves
//! has its partitions moved to the others, which give up none of theirs; a member that joins
//! gets only what has to move. Everything produced is consumed once and the group's committed
//! offsets (OffsetCommit v9, checked against the member epoch) are the end offsets. A topic
//! deleted while its partitions are assigned is taken back from its members, who go on with
//! the topics left.
//! ConsumerGroupDescribe and ListGroups are checked on the wire (`consumer_protocol_wire.rs`
//! checks error codes).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use fjord_e2e::BrokerProcess;
use fjord_e2e::kafka::{Delivered, admin, create_topic, keyed_records, produce_all, producer};
use fjord_e2e::member_processes::{JavaClasses, LineProcess, Ownership, java_records};
use fjord_e2e::rebalance::{Member, Recorder, assignment, mark, revoked_since};
use fjord_e2e::wire::{WireClient, advertised_api_keys, describe_consumer_group};
use kafka_protocol::messages::{ApiKey, ListGroupsRequest, RequestKind, ResponseKind};
use rdkafka::admin::AdminOptions;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer as _};
use rdkafka::message::Message as _;
use rdkafka::{ClientConfig, TopicPartitionList};

const PARTITIONS: i32 = 6;
const TOPIC: &str = "kip848";

fn start(dir: &Path, settings: &str) -> BrokerProcess {
    let config = dir.join("broker.properties");
    std::fs::write(&config, settings).unwrap();
    BrokerProcess::start_in(&dir.join("data"), &["--config", config.to_str().unwrap()]).unwrap()
}

/// A member of the consumer protocol. Classic-only settings (`session.timeout.ms`,
/// `heartbeat.interval.ms`, `partition.assignment.strategy`) must not be set with it: the
/// broker decides them.
fn member(bootstrap: &str, group: &str) -> Member {
    member_of(bootstrap, group, &[TOPIC])
}

/// A consumer-protocol member subscribing to `topics` by name.
fn member_of(bootstrap: &str, group: &str, topics: &[&str]) -> Member {
    let consumer: Member = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("group.protocol", "consumer")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create_with_context(Recorder::default())
        .unwrap();
    consumer.subscribe(topics).unwrap();
    consumer
}

/// Whether every member owns something, each partition has exactly one owner, and no member
/// owns two more than another.
fn is_balanced_partitioning(owned: &[BTreeSet<i32>]) -> bool {
    let total: usize = owned.iter().map(BTreeSet::len).sum();
    let distinct: BTreeSet<i32> = owned.iter().flatten().copied().collect();
    let sizes = owned.iter().map(BTreeSet::len);
    let spread = sizes.clone().max().unwrap_or(0) - sizes.min().unwrap_or(0);
    owned.iter().all(|o| !o.is_empty())
        && total == PARTITIONS as usize
        && distinct == (0..PARTITIONS).collect()
        && spread <= 1
}

/// Polls the members (no records are waiting) until their assignments are a stable point.
fn wait_for_stable(members: &[&Member]) -> Vec<BTreeSet<i32>> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        for member in members {
            if let Some(message) = member.poll(Duration::from_millis(20)) {
                panic!("no records yet, got {:?}", message.map(|m| m.offset()));
            }
        }
        let owned: Vec<BTreeSet<i32>> = members.iter().map(|m| assignment(m)).collect();
        if is_balanced_partitioning(&owned) {
            return owned;
        }
        assert!(Instant::now() < deadline, "no stable point: {owned:?}");
    }
}

fn end_offsets(delivered: &[Delivered]) -> BTreeMap<i32, i64> {
    let mut ends = BTreeMap::new();
    for record in delivered {
        let end: &mut i64 = ends.entry(record.partition).or_default();
        *end = (*end).max(record.offset + 1);
    }
    ends
}

fn committed(member: &Member) -> BTreeMap<i32, i64> {
    let mut all = TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        all.add_partition(TOPIC, partition);
    }
    member
        .committed_offsets(all, Duration::from_secs(10))
        .unwrap()
        .elements()
        .iter()
        .filter_map(|e| e.offset().to_raw().map(|o| (e.partition(), o)))
        .filter(|(_, offset)| *offset >= 0)
        .collect()
}

fn wire(bootstrap: &str) -> WireClient {
    WireClient::connect(bootstrap.parse::<SocketAddr>().unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn consumer_protocol_members_share_a_topic_keep_their_partitions_and_commit_everything() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), "group.consumer.heartbeat.interval.ms=500\n");
    let bootstrap = broker.bootstrap();
    assert!(
        advertised_api_keys(&bootstrap)
            .unwrap()
            .contains(&(ApiKey::ConsumerGroupHeartbeat as i16))
    );
    create_topic(&bootstrap, TOPIC, PARTITIONS, &[])
        .await
        .unwrap();
    let group = "kip848";
    let first = member(&bootstrap, group);
    let second = member(&bootstrap, group);
    let leaving = member(&bootstrap, group);
    let owned = wait_for_stable(&[&first, &second, &leaving]);

    // The broker's view: three members, each at the group epoch with its share.
    let described = describe_consumer_group(&bootstrap, group).unwrap();
    let described = &described.groups[0];
    assert_eq!(described.error_code, 0, "{:?}", described.error_message);
    assert_eq!(described.assignor_name.as_str(), "uniform");
    assert_eq!(described.members.len(), 3);
    let mut shares: Vec<BTreeSet<i32>> = described
        .members
        .iter()
        .map(|m| {
            assert_eq!(m.subscribed_topic_names[0].0.as_str(), TOPIC);
            m.assignment
                .topic_partitions
                .iter()
                .flat_map(|t| t.partitions.iter().copied())
                .collect()
        })
        .collect();
    let mut expected = owned.clone();
    shares.sort();
    expected.sort();
    assert_eq!(
        shares, expected,
        "described assignments are the members' own"
    );

    // One member closes: the two others take over its partitions and give up none of theirs.
    let marks = [mark(&first), mark(&second)];
    drop(leaving);
    let after_leave = wait_for_stable(&[&first, &second]);
    for (i, member) in [&first, &second].into_iter().enumerate() {
        assert!(
            after_leave[i].is_superset(&owned[i]),
            "member {i} had {:?}, now {:?}",
            owned[i],
            after_leave[i]
        );
        assert_eq!(revoked_since(member, marks[i]), BTreeSet::new());
    }

    // A member joins: it gets only what has to move, and the others give up only that.
    let marks = [mark(&first), mark(&second)];
    let joining = member(&bootstrap, group);
    let after_join = wait_for_stable(&[&first, &second, &joining]);
    let revoked = [
        revoked_since(&first, marks[0]),
        revoked_since(&second, marks[1]),
    ];
    for i in 0..2 {
        assert!(revoked[i].is_subset(&after_leave[i]), "{revoked:?}");
        let kept: BTreeSet<i32> = after_leave[i].difference(&revoked[i]).copied().collect();
        assert_eq!(after_join[i], kept, "member {i} gained or lost more");
    }
    let moved: BTreeSet<i32> = revoked.iter().flatten().copied().collect();
    assert_eq!(after_join[2], moved, "the newcomer got exactly what moved");

    // Everything produced now is consumed once; the commits are the end offsets.
    let records = keyed_records("kip848", 600, 20);
    let delivered = produce_all(&producer(&bootstrap, &[]).unwrap(), TOPIC, &records, 600)
        .await
        .unwrap();
    let members = [&first, &second, &joining];
    let mut seen = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.len() < delivered.len() {
        assert!(Instant::now() < deadline, "consumed {}", seen.len());
        for (i, member) in members.iter().enumerate() {
            if let Some(message) = member.poll(Duration::from_millis(20)) {
                let message = message.unwrap();
                assert!(after_join[i].contains(&message.partition()));
                assert!(seen.insert((message.partition(), message.offset())));
            }
        }
    }
    for member in members {
        member.commit_consumer_state(CommitMode::Sync).unwrap();
    }
    assert_eq!(committed(&first), end_offsets(&delivered));

    // ListGroups names it a consumer group.
    let listed = match wire(&bootstrap)
        .call(
            ApiKey::ListGroups,
            5,
            RequestKind::ListGroups(ListGroupsRequest::default()),
        )
        .unwrap()
    {
        ResponseKind::ListGroups(response) => response,
        other => panic!("{other:?}"),
    };
    let ours = listed
        .groups
        .iter()
        .find(|g| g.group_id.0.as_str() == group)
        .unwrap();
    assert_eq!(ours.group_type.as_str(), "consumer");
    assert_eq!(ours.group_state.as_str(), "Stable");
}

/// Starts the broker over `dir`'s data on `listen`; a port just given up may take a moment.
fn restart_on(dir: &Path, listen: &str) -> BrokerProcess {
    let config = dir.join("broker.properties");
    let config = config.to_str().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match BrokerProcess::start_on(&dir.join("data"), listen, &["--config", config]) {
            Ok(broker) => return broker,
            Err(error) if Instant::now() < deadline => {
                eprintln!("restart on {listen} failed ({error:#}); retrying");
                std::thread::sleep(Duration::from_millis(500));
            }
            Err(error) => panic!("the broker did not restart on {listen}: {error:#}"),
        }
    }
}

/// The group's epoch and each member's epoch, as ConsumerGroupDescribe reports them (retried
/// while the coordinator loads).
fn epochs(bootstrap: &str, group: &str) -> (i32, BTreeMap<String, i32>) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let response = describe_consumer_group(bootstrap, group).unwrap();
        let described = &response.groups[0];
        if described.error_code == 0 {
            let members = described
                .members
                .iter()
                .map(|m| (m.member_id.to_string(), m.member_epoch))
                .collect();
            return (described.group_epoch, members);
        }
        assert!(
            Instant::now() < deadline,
            "describe: {:?}",
            described.error_message
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn after_a_kill_9_of_the_broker_the_group_comes_back_and_its_members_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = start(dir.path(), "group.consumer.heartbeat.interval.ms=500\n");
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, TOPIC, PARTITIONS, &[])
        .await
        .unwrap();
    let group = "kip848-restart";
    let members = [
        member(&bootstrap, group),
        member(&bootstrap, group),
        member(&bootstrap, group),
    ];
    let all: Vec<&Member> = members.iter().collect();
    let owned = wait_for_stable(&all);
    let before = epochs(&bootstrap, group);
    let marks: Vec<usize> = all.iter().map(|m| mark(m)).collect();

    broker.kill9().unwrap();
    let _broker = restart_on(dir.path(), &bootstrap);

    // The members heartbeat through the restart at their epochs: the group is rebuilt from
    // its records, so nobody rejoins, nothing moves and the group epoch stays.
    let until = Instant::now() + Duration::from_secs(4);
    while Instant::now() < until {
        for member in &all {
            // Transport errors while the broker is down come out of poll; records must not.
            if let Some(Ok(message)) = member.poll(Duration::from_millis(20)) {
                panic!("no records were produced, got offset {}", message.offset());
            }
        }
    }
    let after: Vec<BTreeSet<i32>> = all.iter().map(|m| assignment(m)).collect();
    assert_eq!(after, owned);
    for (i, member) in all.iter().enumerate() {
        assert_eq!(
            revoked_since(member, marks[i]),
            BTreeSet::new(),
            "member {i}"
        );
    }
    assert_eq!(epochs(&bootstrap, group), before);
}

// --- the Java client (kafka-clients 4.x) with group.protocol=consumer ----------------------

fn ownerships(members: &[&LineProcess]) -> Vec<Ownership> {
    members
        .iter()
        .map(|m| Ownership::from_java_lines(&m.stdout()).unwrap())
        .collect()
}

fn wait_for_java_stable(members: &[&LineProcess], within: Duration) -> Vec<Ownership> {
    let deadline = Instant::now() + within;
    loop {
        let current = ownerships(members);
        let owned: Vec<BTreeSet<i32>> = current.iter().map(|o| o.owned.clone()).collect();
        if is_balanced_partitioning(&owned) {
            return current;
        }
        assert!(
            Instant::now() < deadline,
            "no stable point within {within:?}: {owned:?}; stderr: {:?}",
            members.iter().map(|m| m.stderr()).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn java_consumer_protocol_members_share_a_topic_and_take_over_from_a_killed_one() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(
        dir.path(),
        "group.consumer.heartbeat.interval.ms=500\ngroup.consumer.session.timeout.ms=6000\n",
    );
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, TOPIC, PARTITIONS, &[])
        .await
        .unwrap();
    let records = keyed_records("java", 600, 20);
    let delivered = produce_all(&producer(&bootstrap, &[]).unwrap(), TOPIC, &records, 600)
        .await
        .unwrap();
    let group = "kip848-java";
    let classes = JavaClasses::compile().unwrap();
    let member = |assignor: &str| {
        classes
            .member(&bootstrap, TOPIC, group, assignor, 180)
            .unwrap()
    };
    let (first, second, mut leaving) = (
        member("consumer"),
        member("consumer:uniform"),
        member("consumer"),
    );
    // Starting three JVMs takes a while on a busy machine.
    wait_for_java_stable(&[&first, &second, &leaving], Duration::from_secs(90));
    let (_, members) = epochs(&bootstrap, group);
    assert_eq!(
        members.len(),
        3,
        "the members are a consumer group: {members:?}"
    );

    // One leaves: the other two own everything and give up nothing.
    let before = ownerships(&[&first, &second]);
    leaving.close_stdin();
    assert!(leaving.wait(Duration::from_secs(30)).unwrap().success());
    let after_leave = wait_for_java_stable(&[&first, &second], Duration::from_secs(30));
    for (was, now) in before.iter().zip(&after_leave) {
        assert!(now.owned.is_superset(&was.owned), "{was:?} -> {now:?}");
        assert_eq!(now.given_up, was.given_up, "a member gave up partitions");
    }

    // One joins: it gets exactly what the others give up.
    let joining = member("consumer");
    let after_join = wait_for_java_stable(&[&first, &second, &joining], Duration::from_secs(90));
    let mut moved = BTreeSet::new();
    for (was, now) in after_leave.iter().zip(&after_join) {
        let given_up = now.given_up_since(was);
        let kept: BTreeSet<i32> = was.owned.difference(&given_up).copied().collect();
        assert_eq!(now.owned, kept, "{was:?} -> {now:?}");
        moved.extend(given_up);
    }
    assert_eq!(
        after_join[2].owned, moved,
        "the newcomer got exactly what moved"
    );

    // One is killed: it never leaves, so its partitions move once its 6 s session ends, and
    // the others keep theirs.
    let mut killed = first;
    killed.kill9().unwrap();
    let after_kill = wait_for_java_stable(&[&second, &joining], Duration::from_secs(20));
    for (was, now) in after_join[1..].iter().zip(&after_kill) {
        assert!(now.owned.is_superset(&was.owned), "{was:?} -> {now:?}");
    }

    // Everything was processed, and the group's commits reach the end offsets.
    let expected: BTreeSet<(i32, i64)> =
        delivered.iter().map(|d| (d.partition, d.offset)).collect();
    let everyone = [&killed, &second, &leaving, &joining];
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let seen: BTreeSet<(i32, i64)> = everyone
            .iter()
            .flat_map(|m| java_records(&m.stdout()).unwrap())
            .collect();
        if expected.is_subset(&seen) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "processed {} of {}",
            seen.len(),
            expected.len()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let ends = end_offsets(&delivered);
    let reader: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", group)
        .create()
        .unwrap();
    let mut all = TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        all.add_partition(TOPIC, partition);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let committed: BTreeMap<i32, i64> = reader
            .committed_offsets(all.clone(), Duration::from_secs(10))
            .unwrap()
            .elements()
            .iter()
            .filter_map(|e| e.offset().to_raw().map(|o| (e.partition(), o)))
            .filter(|(_, offset)| *offset >= 0)
            .collect();
        if committed == ends {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "committed {committed:?}, ends {ends:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    for mut survivor in [second, joining] {
        survivor.close_stdin();
        assert!(survivor.wait(Duration::from_secs(30)).unwrap().success());
        assert_eq!(survivor.stdout().last().map(String::as_str), Some("closed"));
    }
}

// --- a regular expression subscription, resolved by the broker ------------------------------

fn owned_topic_partitions(members: &[&Member]) -> Vec<BTreeSet<(String, i32)>> {
    members
        .iter()
        .map(|m| {
            m.assignment()
                .unwrap()
                .elements()
                .iter()
                .map(|e| (e.topic().to_owned(), e.partition()))
                .collect()
        })
        .collect()
}

/// Polls `members` until together they own exactly `expected`, each partition once, and each
/// owns some.
fn wait_for_owned(members: &[&Member], expected: &BTreeSet<(String, i32)>) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        for member in members {
            if let Some(Ok(message)) = member.poll(Duration::from_millis(20)) {
                panic!("no records were produced, got offset {}", message.offset());
            }
        }
        let owned = owned_topic_partitions(members);
        let total: usize = owned.iter().map(BTreeSet::len).sum();
        let union: BTreeSet<(String, i32)> = owned.iter().flatten().cloned().collect();
        if total == expected.len() && union == *expected && owned.iter().all(|o| !o.is_empty()) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "owned {owned:?}, want {expected:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_regex_subscription_takes_in_topics_created_later() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), "group.consumer.heartbeat.interval.ms=500\n");
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "orders-eu", 3, &[]).await.unwrap();
    create_topic(&bootstrap, "payments", 2, &[]).await.unwrap();
    let group = "kip848-regex";
    let regex_member = || {
        let consumer: Member = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("group.id", group)
            .set("group.protocol", "consumer")
            .set("enable.auto.commit", "false")
            .create_with_context(Recorder::default())
            .unwrap();
        consumer.subscribe(&["^orders-.*"]).unwrap();
        consumer
    };
    let (first, second) = (regex_member(), regex_member());
    let partitions = |topic: &str, count: i32| -> Vec<(String, i32)> {
        (0..count).map(|p| (topic.to_owned(), p)).collect()
    };
    let mut expected: BTreeSet<(String, i32)> = partitions("orders-eu", 3).into_iter().collect();
    wait_for_owned(&[&first, &second], &expected);

    // The broker resolved the expression: the members subscribe by regex (librdkafka sends it
    // in parentheses), not by names.
    let response = describe_consumer_group(&bootstrap, group).unwrap();
    for member in &response.groups[0].members {
        let regex = member.subscribed_topic_regex.as_deref().unwrap_or_default();
        assert!(regex.contains("^orders-.*"), "{regex:?}");
        assert!(member.subscribed_topic_names.is_empty());
    }

    // A matching topic created now is assigned too; one that does not match is not.
    create_topic(&bootstrap, "orders-us", 2, &[]).await.unwrap();
    create_topic(&bootstrap, "refunds", 2, &[]).await.unwrap();
    expected.extend(partitions("orders-us", 2));
    wait_for_owned(&[&first, &second], &expected);
}

// --- a subscribed topic deleted while its partitions are assigned ---------------------------

#[tokio::test(flavor = "multi_thread")]
async fn a_topic_deleted_while_assigned_leaves_its_members_the_other_topic_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = start(dir.path(), "group.consumer.heartbeat.interval.ms=500\n");
    let bootstrap = broker.bootstrap();
    let (stays, goes) = ("stays", "goes");
    create_topic(&bootstrap, stays, 3, &[]).await.unwrap();
    create_topic(&bootstrap, goes, 3, &[]).await.unwrap();
    let group = "kip848-deleted-topic";
    let (first, second) = (
        member_of(&bootstrap, group, &[stays, goes]),
        member_of(&bootstrap, group, &[stays, goes]),
    );
    let members = [&first, &second];
    let partitions =
        |topic: &str| -> Vec<(String, i32)> { (0..3).map(|p| (topic.to_owned(), p)).collect() };
    let everything: BTreeSet<(String, i32)> = [partitions(stays), partitions(goes)]
        .concat()
        .into_iter()
        .collect();
    wait_for_owned(&members, &everything);
    let holders = owned_topic_partitions(&members)
        .iter()
        .filter(|owned| owned.iter().any(|(topic, _)| topic == goes))
        .count();
    assert!(holders > 0, "the doomed topic is assigned before it goes");

    let deleted = admin(&bootstrap)
        .unwrap()
        .delete_topics(&[goes], &AdminOptions::new())
        .await
        .unwrap();
    assert!(deleted.iter().all(Result::is_ok), "{deleted:?}");

    // Its partitions are taken back; the other topic stays owned, each partition once.
    let remaining: BTreeSet<(String, i32)> = partitions(stays).into_iter().collect();
    wait_for_owned(&members, &remaining);
    let owned = owned_topic_partitions(&members);

    // The broker agrees, and the members go on consuming the topic that is left.
    let described = describe_consumer_group(&bootstrap, group).unwrap();
    let described = &described.groups[0];
    assert_eq!(described.error_code, 0, "{:?}", described.error_message);
    assert_eq!(described.members.len(), 2);
    for member in &described.members {
        for topic in &member.assignment.topic_partitions {
            assert_eq!(topic.topic_name.as_str(), stays, "{member:?}");
        }
    }
    let records = keyed_records("after-delete", 300, 20);
    let delivered = produce_all(&producer(&bootstrap, &[]).unwrap(), stays, &records, 300)
        .await
        .unwrap();
    let mut seen = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.len() < delivered.len() {
        assert!(
            Instant::now() < deadline,
            "consumed {} of {}",
            seen.len(),
            delivered.len()
        );
        for (i, member) in members.iter().enumerate() {
            let Some(Ok(message)) = member.poll(Duration::from_millis(20)) else {
                continue;
            };
            let at = (message.topic().to_owned(), message.partition());
            assert!(owned[i].contains(&at), "member {i} read {at:?}");
            assert!(seen.insert((message.partition(), message.offset())));
        }
    }
    assert!(broker.is_running(), "the broker stays up");
}
