//! The two delivery recipes of the README, with three librdkafka members of one group
//! (`enable.auto.commit=false`, commits made by the application) and one of them killed at the
//! worst moment:
//!
//! - at-least-once: process, then commit. A member killed between processing and committing
//!   leaves its last records uncommitted; the member that takes over its partitions processes
//!   them again. Nothing is lost; exactly those records are processed twice.
//! - at-most-once: commit, then process. A member killed between committing and processing
//!   leaves records committed but never processed; nothing is processed twice, and exactly those
//!   records are lost.
//!
//! The kill is the member closing without a commit (its consumer dropped), once it has
//! processed a fixed number of records, so where it lands is decided by the test, not by timing.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use fjord_e2e::BrokerProcess;
use fjord_e2e::kafka::{Delivered, create_topic, keyed_records, produce_all, producer};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer as _};
use rdkafka::message::{BorrowedMessage, Message as _};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

const PARTITIONS: i32 = 6;
const TOPIC: &str = "work";
const RECORDS: usize = 600;
/// Records the doomed member handles normally before the kill lands.
const BEFORE_KILL: usize = 30;
/// Records caught by the kill: processed but not committed, or committed but not processed.
const CAUGHT: usize = 20;

type Record = (i32, i64);

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
    consumer.subscribe(&[TOPIC]).unwrap();
    consumer
}

/// A broker, a topic, and a group of three members with a stable assignment (each owns
/// two partitions). The records are produced after that, so no member reads any before.
async fn group_of_three(group: &str) -> (BrokerProcess, Vec<BaseConsumer>, Vec<Delivered>) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("broker.properties");
    std::fs::write(&config, "group.initial.rebalance.delay.ms=0\n").unwrap();
    let broker = BrokerProcess::start(&["--config", config.to_str().unwrap()]).unwrap();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, TOPIC, PARTITIONS, &[])
        .await
        .unwrap();
    let members: Vec<BaseConsumer> = (0..3).map(|_| member(&bootstrap, group)).collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        for member in &members {
            assert!(member.poll(Duration::from_millis(20)).is_none());
        }
        let sizes: Vec<usize> = members
            .iter()
            .map(|m| m.assignment().unwrap().count())
            .collect();
        if sizes == [2, 2, 2] {
            break;
        }
        assert!(Instant::now() < deadline, "no stable assignment: {sizes:?}");
    }
    let records = keyed_records(group, RECORDS, 20);
    let delivered = produce_all(&producer(&bootstrap, &[]).unwrap(), TOPIC, &records, 600)
        .await
        .unwrap();
    drop(dir);
    (broker, members, delivered)
}

/// Commits `message`'s partition up to and including it, synchronously.
fn commit_through(consumer: &BaseConsumer, message: &BorrowedMessage<'_>) {
    let mut offsets = TopicPartitionList::new();
    offsets
        .add_partition_offset(
            message.topic(),
            message.partition(),
            Offset::Offset(message.offset() + 1),
        )
        .unwrap();
    consumer.commit(&offsets, CommitMode::Sync).unwrap();
}

fn position(message: &BorrowedMessage<'_>) -> Record {
    (message.partition(), message.offset())
}

/// Polls the survivors, each handling a record with `handle`, until `done` says so; then polls
/// two more seconds and fails if any record arrives.
fn run_survivors(
    survivors: &[BaseConsumer],
    mut handle: impl FnMut(&BaseConsumer, &BorrowedMessage<'_>),
    done: impl Fn() -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while !done() {
        assert!(Instant::now() < deadline, "the survivors did not finish");
        for survivor in survivors {
            if let Some(message) = survivor.poll(Duration::from_millis(20)) {
                handle(survivor, &message.unwrap());
            }
        }
    }
    let quiet_until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < quiet_until {
        for survivor in survivors {
            if let Some(message) = survivor.poll(Duration::from_millis(20)) {
                panic!(
                    "a record beyond the expected: {:?}",
                    position(&message.unwrap())
                );
            }
        }
    }
}

fn counts(processed: &[Record]) -> BTreeMap<Record, usize> {
    let mut counts = BTreeMap::new();
    for record in processed {
        *counts.entry(*record).or_default() += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread")]
async fn processing_before_committing_delivers_every_record_at_least_once_across_a_kill() {
    let (_broker, mut members, delivered) = group_of_three("at-least-once").await;
    let doomed = members.pop().unwrap();
    let mut processed: Vec<Record> = Vec::new();
    // Everyone processes, then commits. The doomed member stops committing after
    // BEFORE_KILL records and is killed once it processed CAUGHT more.
    let mut doomed_done = 0;
    let mut uncommitted = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while uncommitted.len() < CAUGHT {
        assert!(
            Instant::now() < deadline,
            "the doomed member got too few records"
        );
        for survivor in &members {
            if let Some(message) = survivor.poll(Duration::from_millis(20)) {
                let message = message.unwrap();
                processed.push(position(&message));
                commit_through(survivor, &message);
            }
        }
        if let Some(message) = doomed.poll(Duration::from_millis(20)) {
            let message = message.unwrap();
            processed.push(position(&message));
            if doomed_done < BEFORE_KILL {
                commit_through(&doomed, &message);
                doomed_done += 1;
            } else {
                uncommitted.push(position(&message));
            }
        }
    }
    // The kill: gone without a commit of what it processed last.
    drop(doomed);

    let everything: BTreeSet<Record> = delivered.iter().map(|d| (d.partition, d.offset)).collect();
    let processed = std::cell::RefCell::new(processed);
    run_survivors(
        &members,
        |survivor, message| {
            processed.borrow_mut().push(position(message));
            commit_through(survivor, message);
        },
        || processed.borrow().iter().copied().collect::<BTreeSet<_>>() == everything,
    );

    let counts = counts(&processed.into_inner());
    assert!(everything.iter().all(|r| counts.contains_key(r)));
    let twice: BTreeSet<Record> = counts
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(r, _)| *r)
        .collect();
    assert_eq!(twice, uncommitted.iter().copied().collect::<BTreeSet<_>>());
    assert_eq!(twice.len(), CAUGHT, "each caught record processed twice");
    assert!(counts.values().all(|n| *n <= 2), "{counts:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn committing_before_processing_delivers_no_record_twice_across_a_kill() {
    let (_broker, mut members, delivered) = group_of_three("at-most-once").await;
    let doomed = members.pop().unwrap();
    let mut processed: Vec<Record> = Vec::new();
    // Everyone commits, then processes. The doomed member, after BEFORE_KILL records, takes a
    // batch of CAUGHT records, commits past it, and is killed before processing it.
    let mut doomed_done = 0;
    let mut batch: Vec<Record> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while batch.len() < CAUGHT {
        assert!(
            Instant::now() < deadline,
            "the doomed member got too few records"
        );
        for survivor in &members {
            if let Some(message) = survivor.poll(Duration::from_millis(20)) {
                let message = message.unwrap();
                commit_through(survivor, &message);
                processed.push(position(&message));
            }
        }
        if let Some(message) = doomed.poll(Duration::from_millis(20)) {
            let message = message.unwrap();
            commit_through(&doomed, &message);
            if doomed_done < BEFORE_KILL {
                processed.push(position(&message));
                doomed_done += 1;
            } else {
                batch.push(position(&message));
            }
        }
    }
    // The kill, after the batch's commit and before its processing.
    drop(doomed);

    let lost: BTreeSet<Record> = batch.iter().copied().collect();
    let expected: BTreeSet<Record> = delivered
        .iter()
        .map(|d| (d.partition, d.offset))
        .filter(|r| !lost.contains(r))
        .collect();
    let processed = std::cell::RefCell::new(processed);
    run_survivors(
        &members,
        |survivor, message| {
            commit_through(survivor, message);
            processed.borrow_mut().push(position(message));
        },
        || processed.borrow().len() >= expected.len(),
    );

    let processed = processed.into_inner();
    let counts = counts(&processed);
    assert!(counts.values().all(|n| *n == 1), "a record processed twice");
    let processed: BTreeSet<Record> = processed.into_iter().collect();
    assert_eq!(
        processed, expected,
        "lost exactly the committed, unprocessed batch"
    );
    assert_eq!(lost.len(), CAUGHT);
}
