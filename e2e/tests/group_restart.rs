//! A consumer group survives a restart of its coordinator: the group's metadata record in
//! `__consumer_offsets` brings it back stable, so librdkafka members go on heartbeating with
//! their generation, keep their partitions without a rebalance and keep consuming — after a
//! clean stop and after a `kill -9`. DescribeGroups shows each member's client host as Kafka
//! does (`/127.0.0.1`).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use fjord_e2e::BrokerProcess;
use fjord_e2e::kafka::{create_topic, keyed_records, produce_all, producer};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer as _, ConsumerContext, Rebalance};
use rdkafka::message::Message as _;

const PARTITIONS: i32 = 6;
const GROUP: &str = "survivors";

/// Counts the rebalances a consumer goes through.
#[derive(Default)]
struct Rebalances(AtomicUsize);

impl rdkafka::ClientContext for Rebalances {}

impl ConsumerContext for Rebalances {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, _rebalance: &Rebalance<'_>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

type Member = BaseConsumer<Rebalances>;

fn config(dir: &Path) -> String {
    let config = dir.join("broker.properties");
    std::fs::write(&config, "group.initial.rebalance.delay.ms=0\n").unwrap();
    config.to_str().unwrap().to_owned()
}

/// Starts the broker over `dir`'s data on `listen`; a port just given up may take a moment
/// to be free again, so a few attempts are made.
fn start_on(dir: &Path, listen: &str) -> BrokerProcess {
    let config = config(dir);
    let data = dir.join("data");
    let mut attempts = 0;
    loop {
        match BrokerProcess::start_on(&data, listen, &["--config", &config]) {
            Ok(broker) => return broker,
            Err(error) if attempts < 10 => {
                attempts += 1;
                eprintln!("restart on {listen} failed ({error:#}); retrying");
                std::thread::sleep(Duration::from_millis(500));
            }
            Err(error) => panic!("the broker did not restart on {listen}: {error:#}"),
        }
    }
}

fn member(bootstrap: &str) -> Member {
    let consumer: Member = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", GROUP)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        // Longer than a restart takes: librdkafka drops its assignment itself if no
        // heartbeat succeeds within the session.
        .set("session.timeout.ms", "30000")
        .set("heartbeat.interval.ms", "500")
        .set("reconnect.backoff.max.ms", "500")
        .set("partition.assignment.strategy", "range")
        .create_with_context(Rebalances::default())
        .unwrap();
    consumer.subscribe(&["shared"]).unwrap();
    consumer
}

fn assigned(consumer: &Member) -> BTreeSet<i32> {
    consumer
        .assignment()
        .unwrap()
        .elements()
        .iter()
        .map(|e| e.partition())
        .collect()
}

fn rebalances(members: &[Member]) -> Vec<usize> {
    members
        .iter()
        .map(|m| m.context().0.load(Ordering::SeqCst))
        .collect()
}

/// Polls every member for `duration`, returning per member the partitions and values of the
/// records that arrived.
fn poll_for(members: &[Member], duration: Duration) -> Vec<Vec<(i32, String)>> {
    let until = Instant::now() + duration;
    let mut seen = vec![Vec::new(); members.len()];
    while Instant::now() < until {
        for (member, seen) in members.iter().zip(&mut seen) {
            // Errors (the broker going away during a restart) are reports, not records.
            if let Some(Ok(message)) = member.poll(Duration::from_millis(20)) {
                let value = String::from_utf8_lossy(message.payload().unwrap()).into_owned();
                seen.push((message.partition(), value));
            }
        }
    }
    seen
}

/// Polls until every member holds partitions, together all six once each, and no rebalance
/// happened for three seconds. Returns each member's partitions.
fn wait_until_stable(members: &[Member]) -> Vec<BTreeSet<i32>> {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        assert!(Instant::now() < deadline, "the group never settled");
        let before = rebalances(members);
        poll_for(members, Duration::from_secs(3));
        let owned: Vec<BTreeSet<i32>> = members.iter().map(assigned).collect();
        let all: BTreeSet<i32> = owned.iter().flatten().copied().collect();
        let complete = owned.iter().all(|o| !o.is_empty())
            && owned.iter().map(BTreeSet::len).sum::<usize>() == PARTITIONS as usize
            && all.len() == PARTITIONS as usize;
        if complete && rebalances(members) == before {
            return owned;
        }
    }
}

/// Produces `count` records tagged `tag` and polls until the members have them all; each
/// record must arrive at the member that owns its partition.
async fn produce_and_consume(
    bootstrap: &str,
    members: &[Member],
    owned: &[BTreeSet<i32>],
    tag: &str,
    count: usize,
) {
    let records = keyed_records(tag, count, 20);
    produce_all(
        &producer(bootstrap, &[]).unwrap(),
        "shared",
        &records,
        count,
    )
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut got = 0;
    while got < count {
        assert!(
            Instant::now() < deadline,
            "{got} of {count} '{tag}' records arrived"
        );
        for (seen, owned) in poll_for(members, Duration::from_millis(200))
            .iter()
            .zip(owned)
        {
            for (partition, value) in seen {
                assert!(
                    owned.contains(partition),
                    "a member read partition {partition} but owns {owned:?}"
                );
                assert!(value.starts_with(tag), "read again: {value}");
            }
            got += seen.len();
        }
    }
}

/// DescribeGroups through librdkafka: the group is Stable with three members, each with the
/// client host Kafka would report.
fn assert_described_stable(members: &[Member]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let listed = members[0].fetch_group_list(Some(GROUP), Duration::from_secs(10));
        if let Ok(list) = &listed
            && let Some(group) = list.groups().iter().find(|g| g.name() == GROUP)
            && group.state() == "Stable"
        {
            assert_eq!(group.protocol_type(), "consumer");
            assert_eq!(group.protocol(), "range");
            assert_eq!(group.members().len(), members.len());
            for described in group.members() {
                assert_eq!(described.client_host(), "/127.0.0.1");
            }
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no stable group described: {:?}",
            listed.map(|l| l
                .groups()
                .iter()
                .map(|g| (g.name().to_owned(), g.state().to_owned()))
                .collect::<Vec<_>>())
        );
        poll_for(members, Duration::from_millis(200));
    }
}

async fn members_keep_their_partitions_across_a_restart(crash: bool) {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = start_on(dir.path(), "127.0.0.1:0");
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "shared", PARTITIONS, &[])
        .await
        .unwrap();
    let members: Vec<Member> = (0..3).map(|_| member(&bootstrap)).collect();
    let owned = wait_until_stable(&members);
    produce_and_consume(&bootstrap, &members, &owned, "before", 120).await;
    assert_described_stable(&members);
    let settled = rebalances(&members);

    if crash {
        broker.kill9().unwrap();
    } else {
        assert!(broker.stop().unwrap().success());
    }
    // The members notice the broker is gone while it is down.
    poll_for(&members, Duration::from_secs(1));
    let _broker = start_on(dir.path(), &bootstrap);

    produce_and_consume(&bootstrap, &members, &owned, "after", 120).await;
    // Give a rebalance, had there been one, time to reach every member.
    poll_for(&members, Duration::from_secs(3));
    assert_eq!(
        members.iter().map(assigned).collect::<Vec<_>>(),
        owned,
        "the members' partitions changed"
    );
    assert_eq!(
        rebalances(&members),
        settled,
        "a member went through a rebalance"
    );
    assert_described_stable(&members);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stable_group_keeps_its_members_and_partitions_across_a_broker_restart() {
    members_keep_their_partitions_across_a_restart(false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stable_group_keeps_its_members_and_partitions_across_a_kill_9() {
    members_keep_their_partitions_across_a_restart(true).await;
}
