//! What a consumer group promises its members, with three members of each real client on a
//! six-partition topic: librdkafka with the cooperative-sticky assignor (in process), the Java
//! client as member processes (range and cooperative-sticky) and `kcat -G` processes.
//!
//! At every stable point each partition is owned by exactly one member. A member that stops
//! has its partitions moved to the others — within the session timeout when it is killed with
//! SIGKILL and leaves nothing behind. Under a cooperative assignor the members that stay are
//! never asked to give up what they keep, and a member that comes back gets only what has to
//! move. After everything is consumed, the group's committed offsets are the end offsets.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use fjord_e2e::kafka::{Delivered, create_topic, keyed_records, produce_all, producer};
use fjord_e2e::member_processes::{
    JavaClasses, LineProcess, Ownership, java_records, kcat_assignment,
};
use fjord_e2e::rebalance::{Member, Recorder, assignment, mark, revoked_since};
use fjord_e2e::{BrokerProcess, tool};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer as _};
use rdkafka::message::Message as _;
use rdkafka::{ClientConfig, TopicPartitionList};

const PARTITIONS: i32 = 6;
const TOPIC: &str = "shared";
/// The members' session timeout: the broker's smallest allowed (`group.min.session.timeout.ms`).
const SESSION: Duration = Duration::from_secs(6);

fn start(dir: &Path) -> BrokerProcess {
    let config = dir.join("broker.properties");
    std::fs::write(&config, "group.initial.rebalance.delay.ms=0\n").unwrap();
    BrokerProcess::start_in(&dir.join("data"), &["--config", config.to_str().unwrap()]).unwrap()
}

async fn topic_with_records(bootstrap: &str, tag: &str, count: usize) -> Vec<Delivered> {
    create_topic(bootstrap, TOPIC, PARTITIONS, &[])
        .await
        .unwrap();
    produce(bootstrap, tag, count).await
}

async fn produce(bootstrap: &str, tag: &str, count: usize) -> Vec<Delivered> {
    let records = keyed_records(tag, count, 20);
    produce_all(&producer(bootstrap, &[]).unwrap(), TOPIC, &records, count)
        .await
        .unwrap()
}

/// Each partition's end offset after `delivered`.
fn end_offsets(delivered: &[Delivered]) -> BTreeMap<i32, i64> {
    let mut ends = BTreeMap::new();
    for record in delivered {
        let end: &mut i64 = ends.entry(record.partition).or_default();
        *end = (*end).max(record.offset + 1);
    }
    ends
}

/// Waits until `group`'s committed offsets are `ends` (commits may still be on their way);
/// panics with the last ones seen at the deadline.
fn assert_committed_eventually(bootstrap: &str, group: &str, ends: &BTreeMap<i32, i64>) {
    let reader: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
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
        if committed == *ends {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "committed {committed:?}, end offsets {ends:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Whether `owned` (one set per member) is a stable point: every member owns something, each
/// partition has exactly one owner, and no member owns two more than another.
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

// --- librdkafka, cooperative-sticky, in process -------------------------------------------

fn cooperative_member(bootstrap: &str, group: &str) -> Member {
    let consumer: Member = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", SESSION.as_millis().to_string())
        .set("heartbeat.interval.ms", "500")
        .set("partition.assignment.strategy", "cooperative-sticky")
        .create_with_context(Recorder::default())
        .unwrap();
    consumer.subscribe(&[TOPIC]).unwrap();
    consumer
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

#[tokio::test(flavor = "multi_thread")]
async fn cooperative_librdkafka_members_keep_their_partitions_when_one_leaves_and_one_joins() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path());
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, TOPIC, PARTITIONS, &[])
        .await
        .unwrap();
    let group = "cooperative";
    let first = cooperative_member(&bootstrap, group);
    let second = cooperative_member(&bootstrap, group);
    let leaving = cooperative_member(&bootstrap, group);
    let owned = wait_for_stable(&[&first, &second, &leaving]);
    let marks = [mark(&first), mark(&second)];

    // One member closes: the two others take over its partitions and give up none of theirs.
    drop(leaving);
    let after_leave = wait_for_stable(&[&first, &second]);
    for (i, member) in [&first, &second].into_iter().enumerate() {
        assert!(
            after_leave[i].is_superset(&owned[i]),
            "member {i} had {:?}, now {:?}",
            owned[i],
            after_leave[i]
        );
        assert_eq!(
            revoked_since(member, marks[i]),
            BTreeSet::new(),
            "member {i} lost partitions it kept"
        );
    }

    // A member joins: it gets only what has to move, and the others give up only that.
    let marks = [mark(&first), mark(&second)];
    let joining = cooperative_member(&bootstrap, group);
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
    assert!(moved.len() <= 2, "moved {moved:?} of a 3-3 split");

    // Everything produced now is consumed once; the commits are the end offsets.
    let delivered = produce(&bootstrap, "cooperative", 600).await;
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
    assert_committed_eventually(&bootstrap, group, &end_offsets(&delivered));
}

// --- the Java client, as member processes ----------------------------------------------------

fn ownerships(members: &[&LineProcess]) -> Vec<Ownership> {
    members
        .iter()
        .map(|m| Ownership::from_java_lines(&m.stdout()).unwrap())
        .collect()
}

/// Waits until the members' reported ownership is a stable point.
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

/// Waits until the members together have processed every record in `delivered`.
fn wait_for_java_records(members: &[&LineProcess], delivered: &[Delivered]) {
    let expected: BTreeSet<(i32, i64)> =
        delivered.iter().map(|d| (d.partition, d.offset)).collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let seen: BTreeSet<(i32, i64)> = members
            .iter()
            .flat_map(|m| java_records(&m.stdout()).unwrap())
            .collect();
        if expected.is_subset(&seen) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "processed {} of {}",
            expected.intersection(&seen).count(),
            expected.len()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Three Java member processes with `assignor`: they share the topic, one leaves (its stdin
/// closes), one joins, one is killed with SIGKILL; each time the partitions are spread again,
/// and in the end everything was processed and committed.
async fn java_members_share_a_topic_and_take_over_from_a_killed_one(
    assignor: &str,
    cooperative: bool,
) {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path());
    let bootstrap = broker.bootstrap();
    let mut delivered = topic_with_records(&bootstrap, "java", 600).await;
    let group = format!("java-{assignor}");
    let classes = JavaClasses::compile().unwrap();
    let member = || {
        classes
            .member(&bootstrap, TOPIC, &group, assignor, 180)
            .unwrap()
    };
    let (first, second, mut leaving) = (member(), member(), member());
    // Starting three JVMs takes a while on a busy machine.
    wait_for_java_stable(&[&first, &second, &leaving], Duration::from_secs(90));
    wait_for_java_records(&[&first, &second, &leaving], &delivered);

    // One leaves: the other two own everything.
    let before = ownerships(&[&first, &second]);
    leaving.close_stdin();
    assert!(leaving.wait(Duration::from_secs(30)).unwrap().success());
    assert_eq!(leaving.stdout().last().map(String::as_str), Some("closed"));
    let after_leave = wait_for_java_stable(&[&first, &second], Duration::from_secs(30));
    if cooperative {
        for (was, now) in before.iter().zip(&after_leave) {
            assert!(now.owned.is_superset(&was.owned), "{was:?} -> {now:?}");
            assert_eq!(now.given_up, was.given_up, "a member gave up partitions");
        }
    }

    // One joins.
    let joining = member();
    let after_join = wait_for_java_stable(&[&first, &second, &joining], Duration::from_secs(90));
    if cooperative {
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
        assert!(moved.len() <= 2, "moved {moved:?} of a 3-3 split");
        assert!(after_join[2].given_up.is_empty());
    }

    // One is killed: no LeaveGroup, so its partitions move when its session expires.
    let mut killed = first;
    let killed_at = Instant::now();
    killed.kill9().unwrap();
    let survivors = [&second, &joining];
    let after_kill = wait_for_java_stable(&survivors, 2 * SESSION);
    let took = killed_at.elapsed();
    if cooperative {
        for (was, now) in after_join[1..].iter().zip(&after_kill) {
            assert!(now.owned.is_superset(&was.owned), "{was:?} -> {now:?}");
        }
    }
    eprintln!("a killed member's partitions moved after {took:?}");

    let more = produce(&bootstrap, "after-kill", 300).await;
    wait_for_java_records(&survivors, &more);
    delivered.extend(more);
    assert_committed_eventually(&bootstrap, &group, &end_offsets(&delivered));
    for mut survivor in [second, joining] {
        survivor.close_stdin();
        assert!(survivor.wait(Duration::from_secs(30)).unwrap().success());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn java_members_with_the_range_assignor_share_a_topic_and_take_over_from_a_killed_one() {
    java_members_share_a_topic_and_take_over_from_a_killed_one("RangeAssignor", false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cooperative_java_members_move_only_what_they_must_and_take_over_from_a_killed_one() {
    java_members_share_a_topic_and_take_over_from_a_killed_one("CooperativeStickyAssignor", true)
        .await;
}

// --- kcat -G, as member processes ------------------------------------------------------------

fn kcat_member(bootstrap: &str, group: &str) -> LineProcess {
    let kcat = tool("FJORD_KCAT", "kcat").unwrap();
    let session = SESSION.as_millis().to_string();
    LineProcess::spawn(
        Command::new(kcat)
            .args(["-b", bootstrap, "-G", group])
            .args(["-X", &format!("session.timeout.ms={session}")])
            .args(["-X", "heartbeat.interval.ms=500"])
            .args(["-X", "auto.offset.reset=earliest"])
            .args(["-X", "auto.commit.interval.ms=100"])
            // -u: unbuffered, each record line as it is read.
            .args(["-u", "-f", "%p %o\\n"])
            .arg(TOPIC),
    )
    .unwrap()
}

fn kcat_assignments(members: &[&LineProcess]) -> Vec<BTreeSet<i32>> {
    members
        .iter()
        .map(|m| kcat_assignment(&m.stderr()).unwrap())
        .collect()
}

fn wait_for_kcat_stable(members: &[&LineProcess]) -> Vec<BTreeSet<i32>> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let owned = kcat_assignments(members);
        if is_balanced_partitioning(&owned) {
            return owned;
        }
        assert!(Instant::now() < deadline, "no stable point: {owned:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Each member's records, `(partition, offset)`, once every one of `delivered` arrived.
fn wait_for_kcat_records(
    members: &[&LineProcess],
    delivered: &[Delivered],
) -> Vec<Vec<(i32, i64)>> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let records: Vec<Vec<(i32, i64)>> = members
            .iter()
            .map(|m| {
                m.stdout()
                    .iter()
                    .map(|line| {
                        let (p, o) = line.split_once(' ').unwrap();
                        (p.parse().unwrap(), o.parse().unwrap())
                    })
                    .collect()
            })
            .collect();
        let seen: BTreeSet<(i32, i64)> = records.iter().flatten().copied().collect();
        if delivered
            .iter()
            .all(|d| seen.contains(&(d.partition, d.offset)))
        {
            return records;
        }
        assert!(
            Instant::now() < deadline,
            "read {} of {} records; by member and partition: {:?}; assignments: {:?}",
            seen.len(),
            delivered.len(),
            records
                .iter()
                .map(|mine| mine
                    .iter()
                    .fold(BTreeMap::<i32, usize>::new(), |mut n, (p, _)| {
                        *n.entry(*p).or_default() += 1;
                        n
                    }))
                .collect::<Vec<_>>(),
            kcat_assignments(members)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn three_kcat_members_read_disjoint_partitions_and_commit_the_end_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path());
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, TOPIC, PARTITIONS, &[])
        .await
        .unwrap();
    let group = "kcats";
    let mut members: Vec<LineProcess> = (0..3).map(|_| kcat_member(&bootstrap, group)).collect();
    let owned = wait_for_kcat_stable(&members.iter().collect::<Vec<_>>());

    // Every record is read once, by the one member that owns its partition.
    let mut delivered = produce(&bootstrap, "kcat", 600).await;
    let records = wait_for_kcat_records(&members.iter().collect::<Vec<_>>(), &delivered);
    assert_eq!(records.iter().map(Vec::len).sum::<usize>(), delivered.len());
    for (mine, assigned) in records.iter().zip(&owned) {
        let partitions: BTreeSet<i32> = mine.iter().map(|(p, _)| *p).collect();
        assert_eq!(
            &partitions, assigned,
            "a member read outside its assignment"
        );
    }

    // One stops (SIGTERM: kcat closes its consumer and leaves): the others take over.
    let mut stopped = members.pop().unwrap();
    stopped.terminate().unwrap();
    assert!(stopped.wait(Duration::from_secs(30)).unwrap().success());
    wait_for_kcat_stable(&members.iter().collect::<Vec<_>>());
    let more = produce(&bootstrap, "kcat-after", 120).await;
    wait_for_kcat_records(&members.iter().collect::<Vec<_>>(), &more);
    delivered.extend(more);

    // kcat commits what it read as it closes.
    for member in &mut members {
        member.terminate().unwrap();
        assert!(member.wait(Duration::from_secs(30)).unwrap().success());
    }
    assert_committed_eventually(&bootstrap, group, &end_offsets(&delivered));
}
