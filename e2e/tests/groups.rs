//! Consumer groups with real clients: librdkafka consumers sharing a topic through the classic
//! protocol, committed offsets that survive a broker restart, and `kcat -G`.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use std::process::Command;

use fjord_e2e::kafka::{create_topic, keyed_records, produce_all, producer};
use fjord_e2e::{BrokerProcess, java_client, run_tool, tool};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer as _};
use rdkafka::message::Message as _;

const PARTITIONS: i32 = 6;

fn start(dir: &Path) -> BrokerProcess {
    let config = dir.join("broker.properties");
    std::fs::write(&config, "group.initial.rebalance.delay.ms=0\n").unwrap();
    let data = dir.join("data");
    BrokerProcess::start_in(&data, &["--config", config.to_str().unwrap()]).unwrap()
}

fn member(bootstrap: &str, group: &str) -> BaseConsumer {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "500")
        .set("partition.assignment.strategy", "range")
        .create()
        .unwrap();
    consumer.subscribe(&["shared"]).unwrap();
    consumer
}

/// Polls every consumer until `expected` records arrived in all, or panics at the deadline.
/// Returns, per consumer, the partitions it received records from and how many records.
fn consume(consumers: &[BaseConsumer], expected: usize) -> Vec<(BTreeSet<i32>, usize)> {
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut seen = vec![(BTreeSet::new(), 0usize); consumers.len()];
    while seen.iter().map(|(_, n)| n).sum::<usize>() < expected {
        assert!(
            Instant::now() < deadline,
            "consumed {} of {expected} records",
            seen.iter().map(|(_, n)| n).sum::<usize>()
        );
        for (consumer, (partitions, count)) in consumers.iter().zip(&mut seen) {
            if let Some(message) = consumer.poll(Duration::from_millis(50)) {
                let message = message.unwrap();
                partitions.insert(message.partition());
                *count += 1;
            }
        }
    }
    seen
}

/// Polls until every consumer has a non-empty assignment and together they hold every
/// partition exactly once.
fn wait_for_assignment(consumers: &[BaseConsumer]) -> Vec<BTreeSet<i32>> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        for consumer in consumers {
            let _ = consumer.poll(Duration::from_millis(20));
        }
        let owned: Vec<BTreeSet<i32>> = consumers
            .iter()
            .map(|c| {
                c.assignment()
                    .unwrap()
                    .elements()
                    .iter()
                    .map(|e| e.partition())
                    .collect()
            })
            .collect();
        let all: Vec<i32> = owned.iter().flatten().copied().collect();
        let distinct: BTreeSet<i32> = all.iter().copied().collect();
        if owned.iter().all(|o| !o.is_empty())
            && all.len() == PARTITIONS as usize
            && distinct.len() == PARTITIONS as usize
        {
            return owned;
        }
        assert!(
            Instant::now() < deadline,
            "no complete assignment: {owned:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn three_consumers_share_a_topic_and_resume_from_committed_offsets_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = start(dir.path());
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "shared", PARTITIONS, &[])
        .await
        .unwrap();
    let records = keyed_records("group", 600, 50);
    produce_all(&producer(&bootstrap, &[]).unwrap(), "shared", &records, 600)
        .await
        .unwrap();

    let consumers: Vec<BaseConsumer> = (0..3).map(|_| member(&bootstrap, "readers")).collect();
    let owned = wait_for_assignment(&consumers);
    let seen = consume(&consumers, records.len());
    // Each consumer read only the partitions it was assigned; together, every record once.
    for ((partitions, _), assigned) in seen.iter().zip(&owned) {
        assert!(
            partitions.is_subset(assigned),
            "{partitions:?} not in {assigned:?}"
        );
    }
    assert_eq!(seen.iter().map(|(_, n)| n).sum::<usize>(), records.len());
    for consumer in &consumers {
        consumer.commit_consumer_state(CommitMode::Sync).unwrap();
    }
    // The committed offsets are the end offsets of every partition.
    let committed = consumers[0]
        .committed_offsets(
            {
                let mut list = rdkafka::TopicPartitionList::new();
                for p in 0..PARTITIONS {
                    list.add_partition("shared", p);
                }
                list
            },
            Duration::from_secs(10),
        )
        .unwrap();
    let total: i64 = committed
        .elements()
        .iter()
        .map(|e| e.offset().to_raw().unwrap())
        .sum();
    assert_eq!(total, records.len() as i64);
    drop(consumers);

    // After a restart the group resumes where it committed: only new records arrive.
    assert!(broker.stop().unwrap().success());
    let broker = start(dir.path());
    let bootstrap = broker.bootstrap();
    let more = keyed_records("after", 60, 50);
    produce_all(&producer(&bootstrap, &[]).unwrap(), "shared", &more, 60)
        .await
        .unwrap();
    let resumed = [member(&bootstrap, "readers")];
    let seen = consume(&resumed, more.len());
    assert_eq!(seen[0].1, more.len());
    // Nothing else arrives: the old records were not read again.
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        if let Some(message) = resumed[0].poll(Duration::from_millis(100)) {
            let message = message.unwrap();
            let value = String::from_utf8_lossy(message.payload().unwrap()).into_owned();
            panic!("read again after the restart: {value}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_members_partitions_move_to_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path());
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "shared", PARTITIONS, &[])
        .await
        .unwrap();
    let mut consumers: Vec<BaseConsumer> = (0..3).map(|_| member(&bootstrap, "movers")).collect();
    wait_for_assignment(&consumers);
    // Closing a consumer leaves the group; the other two take over all six partitions.
    let gone = consumers.pop().unwrap();
    gone.unsubscribe();
    drop(gone);
    let owned = wait_for_assignment(&consumers);
    let counts: BTreeMap<usize, usize> = owned.iter().map(BTreeSet::len).enumerate().collect();
    assert_eq!(
        counts.values().sum::<usize>(),
        PARTITIONS as usize,
        "{owned:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn kcat_as_a_group_member_reads_everything_once_and_commits_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path());
    let bootstrap = broker.bootstrap();
    let kcat = tool("FJORD_KCAT", "kcat").unwrap();
    create_topic(&bootstrap, "shared", PARTITIONS, &[])
        .await
        .unwrap();
    let records = keyed_records("kcat", 120, 20);
    produce_all(&producer(&bootstrap, &[]).unwrap(), "shared", &records, 120)
        .await
        .unwrap();
    let read = |extra: &[&str]| {
        let mut command = Command::new(&kcat);
        command
            // Not `-o beginning`: in -G mode that overrides the committed offsets.
            .args(["-b", &bootstrap, "-G", "kcat-readers"])
            .args([
                "-X",
                "auto.offset.reset=earliest",
                "-X",
                "auto.commit.interval.ms=100",
            ])
            .args(["-f", "%s\\n"])
            .args(extra)
            .arg("shared");
        run_tool(&mut command, Duration::from_secs(60)).unwrap()
    };
    // -e: exit once every assigned partition is read to its end; kcat commits on the way out.
    let first = read(&["-e"]);
    let mut values: Vec<&str> = first.lines().collect();
    values.sort_unstable();
    let mut expected: Vec<String> = records
        .iter()
        .map(|(_, v)| String::from_utf8(v.clone()).unwrap())
        .collect();
    expected.sort_unstable();
    assert_eq!(values, expected);
    // The same group again: nothing left to read.
    let second = read(&["-e"]);
    assert_eq!(second.lines().count(), 0, "{second}");
}

/// `(partition, offset)` pairs of the `consumed` and `committed` lines of the Java client.
fn java_lines(out: &str, kind: &str) -> Vec<(i32, i64)> {
    out.lines()
        .filter_map(|line| line.strip_prefix(kind))
        .map(|rest| {
            let mut fields = rest.split_whitespace();
            let partition = fields.next().unwrap().parse().unwrap();
            let offset = fields.next().unwrap().parse().unwrap();
            (partition, offset)
        })
        .collect()
}

/// Runs `kafka_python_client.py` with `args`; its stdout.
fn python_client(args: &[&str]) -> String {
    let python = tool("FJORD_PYTHON", "python3").unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/kafka_python_client.py");
    run_tool(
        Command::new(python).arg(script).args(args),
        Duration::from_secs(120),
    )
    .unwrap()
}

/// A client's `group` command (see JavaClient.java) reads everything as a member of a group,
/// commits each partition's end offset, and a second run of the group finds nothing to read.
async fn a_client_consumes_as_a_group_member_and_resumes_from_its_commit(
    client: impl Fn(&[&str]) -> String,
) {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path());
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "shared", PARTITIONS, &[])
        .await
        .unwrap();
    let records = keyed_records("member", 300, 20);
    let delivered = produce_all(&producer(&bootstrap, &[]).unwrap(), "shared", &records, 300)
        .await
        .unwrap();
    let mut ends: BTreeMap<i32, i64> = BTreeMap::new();
    for record in &delivered {
        let end = ends.entry(record.partition).or_default();
        *end = (*end).max(record.offset + 1);
    }

    let out = client(&["group", &bootstrap, "shared", "readers", "300", "60"]);
    let consumed = java_lines(&out, "consumed ");
    let distinct: BTreeSet<(i32, i64)> = consumed.iter().copied().collect();
    assert_eq!((consumed.len(), distinct.len()), (300, 300), "{out}");
    let committed: BTreeMap<i32, i64> = java_lines(&out, "committed ").into_iter().collect();
    assert_eq!(committed, ends, "the commit is each partition's end offset");

    // A second run of the same group starts at the commit: nothing to read.
    let out = client(&["group", &bootstrap, "shared", "readers", "1", "5"]);
    assert!(java_lines(&out, "consumed ").is_empty(), "{out}");
    let committed: BTreeMap<i32, i64> = java_lines(&out, "committed ").into_iter().collect();
    assert_eq!(committed, ends);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_java_client_consumes_as_a_group_member_and_resumes_from_its_commit() {
    a_client_consumes_as_a_group_member_and_resumes_from_its_commit(|args| {
        java_client(args).unwrap()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn kafka_python_consumes_as_a_group_member_and_resumes_from_its_commit() {
    a_client_consumes_as_a_group_member_and_resumes_from_its_commit(python_client).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_java_admin_client_lists_describes_resets_and_deletes_a_group() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path());
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "shared", PARTITIONS, &[])
        .await
        .unwrap();
    let records = keyed_records("admin", 120, 20);
    produce_all(&producer(&bootstrap, &[]).unwrap(), "shared", &records, 120)
        .await
        .unwrap();
    // A group made by a client: it read everything, committed, and left.
    let consumer = member(&bootstrap, "managed");
    consume(std::slice::from_ref(&consumer), records.len());
    consumer.commit_consumer_state(CommitMode::Sync).unwrap();
    let ends: Vec<i64> = {
        let committed = consumer.committed(Duration::from_secs(10)).unwrap();
        let mut ends = vec![0; PARTITIONS as usize];
        for e in committed.elements() {
            ends[e.partition() as usize] = e.offset().to_raw().unwrap();
        }
        ends
    };
    consumer.unsubscribe();
    drop(consumer);

    let out = java_client(&["groupadmin", &bootstrap, "shared", "managed"]).unwrap();
    let facts: Vec<&str> = out.lines().collect();
    assert!(facts.contains(&"fact listed managed Empty"), "{out}");
    assert!(facts.contains(&"fact described managed Empty 0"), "{out}");
    for (partition, end) in ends.iter().enumerate() {
        assert!(
            facts.contains(&format!("fact offset {partition} {end}").as_str()),
            "{out}"
        );
    }
    assert!(
        facts.contains(&"fact altered 0 0"),
        "reset to the start: {out}"
    );
    assert!(
        !facts.iter().any(|f| f.starts_with("fact after-delete 1 ")),
        "partition 1's offset deleted: {out}"
    );
    assert!(facts.contains(&"fact after-delete 0 0"), "{out}");
    assert!(
        facts.contains(&"fact offsets-after-group-delete 0"),
        "{out}"
    );
    assert!(
        facts
            .iter()
            .any(|f| f.starts_with("fact delete-unknown GroupIdNotFoundException")),
        "{out}"
    );
}

/// Counts the rebalances a consumer goes through.
#[derive(Default)]
struct Rebalances(std::sync::atomic::AtomicUsize);

impl rdkafka::ClientContext for Rebalances {}

impl rdkafka::consumer::ConsumerContext for Rebalances {
    fn pre_rebalance(
        &self,
        _consumer: &BaseConsumer<Self>,
        _rebalance: &rdkafka::consumer::Rebalance<'_>,
    ) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

fn static_member(bootstrap: &str, instance: &str) -> BaseConsumer<Rebalances> {
    let consumer: BaseConsumer<Rebalances> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "static")
        .set("group.instance.id", instance)
        .set("enable.auto.commit", "false")
        .set("session.timeout.ms", "30000")
        .set("heartbeat.interval.ms", "500")
        .set("partition.assignment.strategy", "range")
        .create_with_context(Rebalances::default())
        .unwrap();
    consumer.subscribe(&["shared"]).unwrap();
    consumer
}

fn assigned(consumer: &BaseConsumer<Rebalances>) -> BTreeSet<i32> {
    consumer
        .assignment()
        .unwrap()
        .elements()
        .iter()
        .map(|e| e.partition())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_static_member_restarting_within_its_session_does_not_rebalance_the_group() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path());
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "shared", PARTITIONS, &[])
        .await
        .unwrap();
    let first = static_member(&bootstrap, "first");
    let second = static_member(&bootstrap, "second");
    let deadline = Instant::now() + Duration::from_secs(60);
    while assigned(&first).len() + assigned(&second).len() != PARTITIONS as usize
        || assigned(&first).is_empty()
        || assigned(&second).is_empty()
    {
        assert!(Instant::now() < deadline, "no stable assignment");
        let _ = first.poll(Duration::from_millis(50));
        let _ = second.poll(Duration::from_millis(50));
    }
    let settled = first.context().0.load(std::sync::atomic::Ordering::SeqCst);
    let kept = assigned(&second);

    // The second member restarts: a static member leaves no LeaveGroup behind, and its
    // successor takes its place with the same assignment.
    drop(second);
    let second = static_member(&bootstrap, "second");
    let deadline = Instant::now() + Duration::from_secs(30);
    while assigned(&second) != kept {
        assert!(
            Instant::now() < deadline,
            "the restarted member got {:?}",
            assigned(&second)
        );
        let _ = first.poll(Duration::from_millis(50));
        let _ = second.poll(Duration::from_millis(50));
    }
    // Give a rebalance, had there been one, time to reach the first member.
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        let _ = first.poll(Duration::from_millis(50));
        let _ = second.poll(Duration::from_millis(50));
    }
    assert_eq!(
        first.context().0.load(std::sync::atomic::Ordering::SeqCst),
        settled,
        "the first member went through a rebalance"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn committed_offsets_survive_a_kill_9_of_the_broker() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = start(dir.path());
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "shared", PARTITIONS, &[])
        .await
        .unwrap();
    let records = keyed_records("crash", 240, 20);
    produce_all(&producer(&bootstrap, &[]).unwrap(), "shared", &records, 240)
        .await
        .unwrap();
    let reader = member(&bootstrap, "crash-readers");
    consume(std::slice::from_ref(&reader), records.len());
    reader.commit_consumer_state(CommitMode::Sync).unwrap();
    drop(reader);

    // No clean shutdown: the broker recovers its logs, then reloads __consumer_offsets.
    broker.kill9().unwrap();
    let broker = start(dir.path());
    let bootstrap = broker.bootstrap();
    let more = keyed_records("after-crash", 30, 20);
    produce_all(&producer(&bootstrap, &[]).unwrap(), "shared", &more, 30)
        .await
        .unwrap();
    // Resumed from the commit: exactly the records produced after the crash.
    let resumed = member(&bootstrap, "crash-readers");
    let mut values = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline && values.len() < more.len() + 1 {
        if let Some(message) = resumed.poll(Duration::from_millis(100)) {
            let message = message.unwrap();
            values.push(String::from_utf8_lossy(message.payload().unwrap()).into_owned());
        } else if values.len() == more.len() {
            break;
        }
    }
    assert_eq!(values.len(), more.len(), "{values:?}");
    assert!(
        values.iter().all(|v| v.starts_with("after-crash")),
        "read again after the crash: {values:?}"
    );
}
