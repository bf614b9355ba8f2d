//! Exactly once, end to end: a consume-transform-produce loop (the Java client's `ctp`
//! command: a read_committed consumer in a group, a transactional producer, the consumed
//! offsets committed with `sendOffsetsToTransaction` in each batch's transaction) copies every
//! record of an input topic to an output topic while it is killed with `kill -9` mid-stream
//! several times, fenced once by a successor started while it still runs, and while the
//! broker itself is killed with `kill -9` and restarted over its data. Once the group's
//! offsets reach the input's end, a read_committed reader of the output sees each input
//! record's copy exactly once and none missing; a read_uncommitted reader also sees the
//! copies the aborted transactions left behind, which are counted and reported.
//!
//! A smaller test stops the loop cleanly and starts it again with the same transactional id:
//! the least a restart must survive. A third commits group offsets in three librdkafka
//! transactions (the classic flow, one producer epoch throughout) and checks the group's
//! offset after a broker restart: what `__consumer_offsets` holds, not what the coordinator
//! remembers.
//!
//! The broker faults these tests found are covered by unit tests too: the group
//! coordinator's transactional offset batch (no sequence) is checked for its producer epoch
//! only, so every commit is written, after an epoch bump too
//! (`group/commits_tests.rs`); a producer known at its epoch with no batch remembered starts
//! again at sequence 0, so a later in-flight batch cannot overtake a refused first one
//! (`producer_state_tests.rs`).
//!
//! `FJORD_EXACTLY_ONCE_KILLS` (default 3) sets how many times the loop is killed; each kill
//! comes with a wave of input records, so a larger number makes a longer run.
//!
//! Needs `FJORD_JAVA` and `FJORD_KAFKA_JAVA_CP` from `scripts/install-test-tools`.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};

use fjord_e2e::BrokerProcess;
use fjord_e2e::kafka::{Delivered, create_topic, keyed_records, produce_all, producer};
use fjord_e2e::member_processes::{JavaClasses, LineProcess};
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::error::KafkaError;
use rdkafka::message::Message as _;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer as _, ThreadedProducer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

const PARTITIONS: i32 = 3;
const INPUT: &str = "ctp-input";
const OUTPUT: &str = "ctp-output";
const GROUP: &str = "ctp";
const TRANSACTIONAL_ID: &str = "ctp-app";
/// Input records per wave: a dozen transactions of at most 50, so a kill after a few commits
/// lands mid-stream.
const WAVE: usize = 600;

fn kills() -> usize {
    std::env::var("FJORD_EXACTLY_ONCE_KILLS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(3)
}

/// Starts the broker over `dir`'s data on `listen`; a port just given up may take a moment
/// to be free again, so a few attempts are made.
fn start_broker(dir: &Path, listen: &str) -> BrokerProcess {
    let config = dir.join("broker.properties");
    std::fs::write(
        &config,
        "group.initial.rebalance.delay.ms=0\n\
         transaction.max.timeout.ms=60000\n\
         transaction.abort.timed.out.transaction.cleanup.interval.ms=1000\n",
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let data = dir.join("data");
    let mut attempts = 0;
    loop {
        match BrokerProcess::start_on(&data, listen, &["--config", config]) {
            Ok(broker) => return broker,
            Err(error) if attempts < 10 => {
                attempts += 1;
                eprintln!("broker start on {listen} failed ({error:#}); retrying");
                std::thread::sleep(Duration::from_millis(500));
            }
            Err(error) => panic!("the broker did not start on {listen}: {error:#}"),
        }
    }
}

/// The loop's instances: the running one, restarted whenever it ends, and what the ended
/// ones printed.
struct App {
    classes: JavaClasses,
    bootstrap: String,
    running: LineProcess,
    started: usize,
    /// Commits printed by instances that ended.
    ended_commits: usize,
}

impl App {
    fn start(classes: JavaClasses, bootstrap: &str) -> Self {
        let running = Self::spawn(&classes, bootstrap);
        Self {
            classes,
            bootstrap: bootstrap.to_owned(),
            running,
            started: 1,
            ended_commits: 0,
        }
    }

    fn spawn(classes: &JavaClasses, bootstrap: &str) -> LineProcess {
        classes
            .ctp(bootstrap, INPUT, OUTPUT, GROUP, TRANSACTIONAL_ID, 600)
            .unwrap()
    }

    fn commits(process: &LineProcess) -> usize {
        process
            .stdout()
            .iter()
            .filter(|line| line.starts_with("committed "))
            .count()
    }

    /// Transactions committed by every instance so far.
    fn total_commits(&self) -> usize {
        self.ended_commits + Self::commits(&self.running)
    }

    /// Reports how an instance ended and counts its commits.
    fn ended(&mut self, mut process: LineProcess, how: &str) {
        let status = process.wait(Duration::from_secs(30)).unwrap();
        let commits = Self::commits(&process);
        self.ended_commits += commits;
        let stdout = process.stdout();
        let last = stdout[stdout.len().saturating_sub(12)..].to_vec();
        let errors: Vec<String> = process
            .stderr()
            .into_iter()
            .filter(|line| !line.starts_with("SLF4J"))
            .collect();
        eprintln!(
            "an instance {how} ({status}) after {commits} commits; last lines {last:?}; \
             stderr {errors:?}"
        );
    }

    /// Starts a successor; the running instance is left as it is and returned.
    fn replace(&mut self) -> LineProcess {
        self.started += 1;
        std::mem::replace(
            &mut self.running,
            Self::spawn(&self.classes, &self.bootstrap),
        )
    }

    /// Restarts the instance if it ended by itself (a client error ends it).
    fn keep_running(&mut self) {
        if let Ok(Some(_)) = self.running.try_wait() {
            let ended = self.replace();
            self.ended(ended, "exited");
        }
    }

    /// Waits until `more` transactions were committed, restarting instances that end.
    fn wait_for_commits(&mut self, more: usize) {
        let target = self.total_commits() + more;
        let deadline = Instant::now() + Duration::from_secs(90);
        while self.total_commits() < target {
            assert!(
                Instant::now() < deadline,
                "{} of {target} transactions committed; instance {} printed {:?}, stderr {:?}",
                self.total_commits(),
                self.started,
                self.running.stdout(),
                self.running.stderr()
            );
            self.keep_running();
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the running instance with SIGKILL and starts a successor.
    fn kill9_and_restart(&mut self) {
        self.running.kill9().unwrap();
        let killed = self.replace();
        self.ended(killed, "killed with SIGKILL");
    }
}

/// Produces a wave of input records tagged `tag`; what was delivered, where.
async fn produce_wave(bootstrap: &str, tag: &str) -> Vec<Delivered> {
    let records = keyed_records(tag, WAVE, 24);
    let producer = producer(bootstrap, &[]).unwrap();
    produce_all(&producer, INPUT, &records, 100).await.unwrap()
}

/// The group's committed offset on each input partition (-1: none), or `None` while the
/// broker cannot answer.
fn committed_offsets(bootstrap: &str) -> Option<Vec<i64>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", GROUP)
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut wanted = TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        wanted.add_partition(INPUT, partition);
    }
    let offsets = consumer
        .committed_offsets(wanted, Duration::from_secs(5))
        .ok()?;
    Some(
        offsets
            .elements()
            .iter()
            .map(|element| match element.offset() {
                Offset::Offset(offset) => offset,
                _ => -1,
            })
            .collect(),
    )
}

/// Every value of the output topic at `isolation`, read from the beginning to the end of
/// each partition (its last stable offset under read_committed).
fn read_output(bootstrap: &str, isolation: &str) -> Vec<String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("ctp-reader-{isolation}"))
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("isolation.level", isolation)
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        assignment
            .add_partition_offset(OUTPUT, partition, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&assignment).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut at_end = vec![false; PARTITIONS as usize];
    let mut values = Vec::new();
    while at_end.iter().any(|done| !done) {
        assert!(
            Instant::now() < deadline,
            "reading {OUTPUT} at {isolation}: {} values, partitions at their end: {at_end:?}",
            values.len()
        );
        match consumer.poll(Duration::from_millis(200)) {
            None => {}
            Some(Err(KafkaError::PartitionEOF(partition))) => {
                at_end[usize::try_from(partition).unwrap()] = true;
            }
            Some(Err(error)) => panic!("reading {OUTPUT} at {isolation}: {error}"),
            Some(Ok(message)) => {
                at_end[usize::try_from(message.partition()).unwrap()] = false;
                values.push(String::from_utf8(message.payload().unwrap().to_vec()).unwrap());
            }
        }
    }
    values
}

/// How many times each input position `(partition, offset)` appears in `outputs`, checking
/// that each output carries its input's value.
fn copies(inputs: &HashMap<(i32, i64), String>, outputs: &[String]) -> BTreeMap<(i32, i64), usize> {
    let mut counts = BTreeMap::new();
    for output in outputs {
        let fields: Vec<&str> = output.splitn(4, ':').collect();
        assert!(
            fields.len() == 4 && fields[0] == "in",
            "an output that names no input: {output:?}"
        );
        let position: (i32, i64) = (fields[1].parse().unwrap(), fields[2].parse().unwrap());
        let input = inputs
            .get(&position)
            .unwrap_or_else(|| panic!("an output for no input record: {output:?}"));
        assert_eq!(fields[3], input, "the value copied from {position:?}");
        *counts.entry(position).or_insert(0) += 1;
    }
    counts
}

/// The input topic's end offsets, from where its records were delivered.
fn end_offsets(delivered: &[Delivered]) -> Vec<i64> {
    let mut ends = vec![0; PARTITIONS as usize];
    for record in delivered {
        let end = &mut ends[usize::try_from(record.partition).unwrap()];
        *end = (*end).max(record.offset + 1);
    }
    ends
}

/// Keeps the loop running until the group's committed offsets reach `ends`, watching
/// `zombie` (a fenced instance) until it ends; then stops the loop through its stdin.
fn run_until_processed(app: &mut App, ends: &[i64], mut zombie: Option<LineProcess>) {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut committed = None;
    while committed.as_deref() != Some(ends) {
        assert!(
            Instant::now() < deadline,
            "the group's offsets {committed:?} never reached the input's end {ends:?}; \
             instance {} printed {:?}, stderr {:?}",
            app.started,
            app.running.stdout(),
            app.running.stderr()
        );
        app.keep_running();
        if let Some(ended) = zombie.take_if(|z| matches!(z.try_wait(), Ok(Some(_)))) {
            app.ended(ended, "fenced, exited");
        }
        std::thread::sleep(Duration::from_millis(500));
        committed = committed_offsets(&app.bootstrap);
    }
    if let Some(mut idle) = zombie {
        // It never called its producer after the fencing, so nothing told it.
        idle.kill9().unwrap();
        app.ended(idle, "fenced while idle, killed with SIGKILL");
    }
    app.running.close_stdin();
    let status = app.running.wait(Duration::from_secs(30)).unwrap();
    eprintln!(
        "{} instances committed {} transactions; the last one ended {status}",
        app.started,
        app.total_commits()
    );
}

/// Reads the output topic both ways: under read_committed every delivered input's copy must
/// appear exactly once; under read_uncommitted the copies of aborted transactions are
/// counted and reported.
fn check_output(bootstrap: &str, delivered: &[Delivered]) {
    let inputs: HashMap<(i32, i64), String> = delivered
        .iter()
        .map(|record| {
            (
                (record.partition, record.offset),
                String::from_utf8(record.value.clone()).unwrap(),
            )
        })
        .collect();
    let committed = copies(&inputs, &read_output(bootstrap, "read_committed"));
    let missing: Vec<_> = inputs
        .keys()
        .filter(|p| !committed.contains_key(p))
        .collect();
    let repeated: Vec<_> = committed.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        missing.is_empty() && repeated.is_empty(),
        "read_committed: {} of {} inputs missing (e.g. {:?}), {} repeated (e.g. {:?})",
        missing.len(),
        inputs.len(),
        missing.iter().take(10).collect::<Vec<_>>(),
        repeated.len(),
        repeated.iter().take(10).collect::<Vec<_>>()
    );
    let uncommitted = copies(&inputs, &read_output(bootstrap, "read_uncommitted"));
    let duplicates: usize = uncommitted.values().map(|n| n - 1).sum();
    eprintln!(
        "{} inputs, each output once under read_committed; read_uncommitted also sees \
         {duplicates} copies from aborted transactions",
        inputs.len()
    );
}

/// A broker over a fresh directory with the input and output topics, and the compiled
/// Java client.
async fn setup() -> (tempfile::TempDir, BrokerProcess, JavaClasses) {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), "127.0.0.1:0");
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, INPUT, PARTITIONS, &[])
        .await
        .unwrap();
    create_topic(&bootstrap, OUTPUT, PARTITIONS, &[])
        .await
        .unwrap();
    let classes = tokio::task::spawn_blocking(JavaClasses::compile)
        .await
        .unwrap()
        .unwrap();
    (dir, broker, classes)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_loop_stopped_and_started_again_goes_on_with_its_transactional_id() {
    let (_dir, broker, classes) = setup().await;
    let bootstrap = broker.bootstrap();
    let mut delivered = produce_wave(&bootstrap, "first").await;
    let mut app = App::start(classes, &bootstrap);
    let ends = end_offsets(&delivered);
    app = tokio::task::spawn_blocking(move || {
        run_until_processed(&mut app, &ends, None);
        app
    })
    .await
    .unwrap();

    // The same transactional id again, after a clean stop: nothing was left open.
    delivered.extend(produce_wave(&bootstrap, "second").await);
    let ends = end_offsets(&delivered);
    tokio::task::spawn_blocking(move || {
        let stopped = app.replace();
        app.ended(stopped, "stopped");
        run_until_processed(&mut app, &ends, None);
    })
    .await
    .unwrap();
    check_output(&bootstrap, &delivered);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_consume_transform_produce_loop_outputs_each_input_once_across_kills_and_a_broker_crash()
{
    let kills = kills();
    let (dir, mut broker, classes) = setup().await;
    let bootstrap = broker.bootstrap();
    let mut delivered = produce_wave(&bootstrap, "w0").await;
    let mut app = App::start(classes, &bootstrap);

    // Killed mid-stream, a few transactions into each wave; the successor's
    // initTransactions aborts what the killed instance left open.
    for kill in 1..=kills {
        app = tokio::task::spawn_blocking(move || {
            app.wait_for_commits(3);
            app.kill9_and_restart();
            app
        })
        .await
        .unwrap();
        delivered.extend(produce_wave(&bootstrap, &format!("w{kill}")).await);
    }

    // A zombie: a successor starts while the instance still runs and fences its producer;
    // the old instance ends at its next transactional call.
    let zombie;
    (app, zombie) = tokio::task::spawn_blocking(move || {
        app.wait_for_commits(3);
        let zombie = app.replace();
        (app, zombie)
    })
    .await
    .unwrap();
    delivered.extend(produce_wave(&bootstrap, "zombie").await);

    // The broker crashes mid-stream and comes back over its data on the same address.
    let data = dir.path().to_path_buf();
    (app, broker) = tokio::task::spawn_blocking(move || {
        app.wait_for_commits(3);
        broker.kill9().unwrap();
        eprintln!("broker killed with SIGKILL");
        let broker = start_broker(&data, &broker.bootstrap());
        (app, broker)
    })
    .await
    .unwrap();
    delivered.extend(produce_wave(&bootstrap, "last").await);

    let ends = end_offsets(&delivered);
    tokio::task::spawn_blocking(move || run_until_processed(&mut app, &ends, Some(zombie)))
        .await
        .unwrap();
    check_output(&bootstrap, &delivered);
    drop(broker);
}

/// The group's committed offset on partition 0 of `topic`, asked as `group`.
fn group_offset(bootstrap: &str, group: &str, topic: &str) -> Offset {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut wanted = TopicPartitionList::new();
    wanted.add_partition(topic, 0);
    let offsets = consumer
        .committed_offsets(wanted, Duration::from_secs(30))
        .unwrap();
    offsets.elements()[0].offset()
}

#[tokio::test(flavor = "multi_thread")]
async fn offsets_committed_by_librdkafka_transactions_survive_a_broker_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = start_broker(dir.path(), "127.0.0.1:0");
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "rd-eos", 1, &[]).await.unwrap();
    let run = bootstrap.clone();
    tokio::task::spawn_blocking(move || {
        // librdkafka keeps the producer epoch across transactions (the classic flow).
        let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
            .set("bootstrap.servers", &run)
            .set("transactional.id", "rd-eos")
            .create()
            .unwrap();
        let timeout = Duration::from_secs(30);
        producer.init_transactions(timeout).unwrap();
        let group: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &run)
            .set("group.id", "rd-eos-group")
            .create()
            .unwrap();
        let metadata = group.group_metadata().unwrap();
        for end in [10, 20, 30] {
            producer.begin_transaction().unwrap();
            let value = format!("up to {end}");
            producer
                .send(
                    BaseRecord::<(), _>::to("rd-eos")
                        .partition(0)
                        .payload(&value),
                )
                .map_err(|(error, _)| error)
                .unwrap();
            let mut offsets = TopicPartitionList::new();
            offsets
                .add_partition_offset("rd-eos", 0, Offset::Offset(end))
                .unwrap();
            producer
                .send_offsets_to_transaction(&offsets, &metadata, timeout)
                .unwrap();
            producer.commit_transaction(timeout).unwrap();
        }
    })
    .await
    .unwrap();
    let before = group_offset(&bootstrap, "rd-eos-group", "rd-eos");
    assert!(broker.stop().unwrap().success());
    let _broker = start_broker(dir.path(), &bootstrap);
    let after = group_offset(&bootstrap, "rd-eos-group", "rd-eos");
    assert_eq!(
        (before, after),
        (Offset::Offset(30), Offset::Offset(30)),
        "the last committed transaction's offset, before and after the restart"
    );
}
