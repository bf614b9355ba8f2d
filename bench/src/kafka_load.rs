//! Produce and fetch load against a Kafka-compatible broker, with librdkafka.
//!
//! Produce: one `BaseProducer` sends fixed-size, keyless records round-robin
//! over the topic's partitions as fast as librdkafka accepts them, until the
//! case's time or size budget is spent, then flushes. librdkafka's own queue
//! (16 MiB, 100,000 records) bounds the records in flight; when it is full the
//! sender polls and retries. Every [`LATENCY_SAMPLE_EVERY`]th record carries
//! its send time (microseconds since the case started) as its delivery
//! opaque; the delivery callback, run on the sending thread by `poll`,
//! records `now - sent` — so latency is send to delivery report under full
//! load, queueing included, sampled the way Kafka's `producer-perf-test`
//! samples it. Reading the clock and storing a latency for every record cost
//! the sending thread, which is the client's bottleneck for 100-byte
//! records, about a tenth of its time.
//!
//! Fetch: one `BaseConsumer` is assigned every partition from the beginning
//! and counts records until it has seen as many as were acknowledged, timed
//! from the first record received to the last. Its fetch-queue back-off is
//! 10 ms instead of librdkafka's 1 s (see [`fetch_all`]).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication, TopicResult};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer as _, ProducerContext};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use crate::stats::Latency;

/// How long a flush, a topic creation or a catch-up read may take at most.
pub const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);

/// One record in this many has its latency measured.
const LATENCY_SAMPLE_EVERY: u64 = 16;

/// The delivery opaque of a record whose latency is not measured.
pub const NOT_SAMPLED: usize = usize::MAX;

/// `acks` of a produce case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acks {
    Leader,
    All,
}

impl Acks {
    pub fn as_config(self) -> &'static str {
        match self {
            Self::Leader => "1",
            Self::All => "all",
        }
    }
}

/// The limits of one produce case: whichever is reached first ends it.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub duration: Duration,
    pub bytes: u64,
    pub records: u64,
}

impl Budget {
    /// Records of `record_size` bytes this budget allows at most.
    pub fn max_records(&self, record_size: usize) -> u64 {
        (self.bytes / record_size.max(1) as u64).min(self.records)
    }
}

/// What one produce case measured.
#[derive(Debug, Clone)]
pub struct Produced {
    /// Records handed to librdkafka.
    pub sent: u64,
    /// Records acknowledged by the broker.
    pub records: u64,
    pub bytes: u64,
    pub elapsed: Duration,
    pub latency: Option<Latency>,
    pub errors: u64,
    pub first_error: Option<String>,
}

impl Produced {
    pub fn mb_per_sec(&self) -> f64 {
        crate::stats::mb_per_sec(self.bytes, self.elapsed)
    }
}

/// What one catch-up read measured.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub records: u64,
    pub bytes: u64,
    pub elapsed: Duration,
}

/// Creates `topics` with `partitions` each, in one request; fails with the
/// broker's error for the first refused topic.
pub async fn create_topics(
    bootstrap: &str,
    topics: &[String],
    partitions: i32,
) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?;
    let new: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|name| NewTopic::new(name, partitions, TopicReplication::Fixed(1)))
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(SETTLE_TIMEOUT));
    let results = tokio::time::timeout(SETTLE_TIMEOUT, admin.create_topics(&new, &options))
        .await
        .context("creating topics timed out")??;
    first_refusal(results, "creating")
}

/// The first topic an admin request was refused for, as an error.
fn first_refusal(results: Vec<TopicResult>, doing: &str) -> anyhow::Result<()> {
    for result in results {
        if let Err((topic, code)) = result {
            bail!("{doing} topic {topic}: {code:?}");
        }
    }
    Ok(())
}

impl Fetched {
    pub fn mb_per_sec(&self) -> f64 {
        crate::stats::mb_per_sec(self.bytes, self.elapsed)
    }
}

/// Deletes `topics` (nothing to do for none); fails with the broker's error
/// for the first refused topic.
pub async fn delete_topics(bootstrap: &str, topics: &[String]) -> anyhow::Result<()> {
    if topics.is_empty() {
        return Ok(());
    }
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?;
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    let options = AdminOptions::new().operation_timeout(Some(SETTLE_TIMEOUT));
    let results = tokio::time::timeout(SETTLE_TIMEOUT, admin.delete_topics(&names, &options))
        .await
        .context("deleting topics timed out")??;
    first_refusal(results, "deleting")
}

/// Delivery bookkeeping shared with librdkafka's callbacks.
pub struct Tally {
    started: Instant,
    latencies_us: Mutex<Vec<u32>>,
    delivered: AtomicU64,
    errors: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl Tally {
    /// A tally whose latencies count from now.
    pub fn new() -> Self {
        Self {
            started: Instant::now(),
            latencies_us: Mutex::new(Vec::new()),
            delivered: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            first_error: Mutex::new(None),
        }
    }

    /// Records acknowledged so far.
    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }

    /// Failed deliveries so far.
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// The first failed delivery's or client error's text.
    pub fn first_error(&self) -> Option<String> {
        self.first_error.lock().ok().and_then(|e| e.clone())
    }

    pub fn note_error(&self, error: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut first) = self.first_error.lock() {
            first.get_or_insert(error);
        }
    }

    fn micros_since_start(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX)
    }
}

impl ClientContext for Tally {
    fn error(&self, error: KafkaError, reason: &str) {
        if let Ok(mut first) = self.first_error.lock() {
            first.get_or_insert(format!("client error: {error}: {reason}"));
        }
    }
}

impl ProducerContext for Tally {
    /// Send time in microseconds since the case started, or [`NOT_SAMPLED`].
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, sent_us: usize) {
        match result {
            Ok(_) => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
                if sent_us == NOT_SAMPLED {
                    return;
                }
                let latency = self.micros_since_start().saturating_sub(sent_us as u64);
                if let Ok(mut latencies) = self.latencies_us.lock() {
                    latencies.push(u32::try_from(latency).unwrap_or(u32::MAX));
                }
            }
            Err((error, _)) => self.note_error(format!("delivery failed: {error}")),
        }
    }
}

/// The producer settings of every produce case: uncompressed records in batches of up to
/// 1 MB or 10,000 records after 5 ms, a queue bounded at 16 MiB or 100,000 records.
pub fn producer_config(bootstrap: &str, acks: Acks) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("acks", acks.as_config())
        .set("compression.type", "none")
        .set("linger.ms", "5")
        .set("batch.size", "1000000")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.kbytes", "16384")
        .set("queue.buffering.max.messages", "100000")
        .set("message.timeout.ms", "30000");
    config
}

/// The value of every benchmark record of `record_size` bytes.
pub fn payload(record_size: usize) -> Vec<u8> {
    (0..record_size).map(|i| (i % 251) as u8).collect()
}

/// Produces `record_size`-byte records to `topic` until `budget` is spent.
pub fn produce(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    record_size: usize,
    acks: Acks,
    budget: Budget,
) -> anyhow::Result<Produced> {
    let producer: BaseProducer<Tally> = producer_config(bootstrap, acks)
        .set("enable.idempotence", "false")
        .create_with_context(Tally::new())
        .context("creating the producer")?;
    let tally = producer.context();
    let payload = payload(record_size);
    let max_records = budget.max_records(record_size);
    let deadline = tally.started + budget.duration;
    let mut sent: u64 = 0;
    let mut now = Instant::now();
    while sent < max_records && now < deadline {
        let partition = i32::try_from(sent % partitions.max(1) as u64).unwrap_or(0);
        let sent_us = if sent.is_multiple_of(LATENCY_SAMPLE_EVERY) {
            now = Instant::now();
            usize::try_from(now.duration_since(tally.started).as_micros())
                .unwrap_or(NOT_SAMPLED - 1)
                .min(NOT_SAMPLED - 1)
        } else {
            NOT_SAMPLED
        };
        let record = BaseRecord::<'_, (), [u8], usize>::with_opaque_to(topic, sent_us)
            .payload(&payload[..])
            .partition(partition);
        match producer.send(record) {
            Ok(()) => {
                sent += 1;
                if sent.is_multiple_of(1024) {
                    producer.poll(Duration::ZERO);
                }
            }
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                producer.poll(Duration::from_millis(1));
                now = Instant::now();
            }
            Err((error, _)) => bail!("enqueueing a record to {topic}: {error}"),
        }
    }
    if let Err(error) = producer.flush(SETTLE_TIMEOUT) {
        tally.note_error(format!(
            "flush after {SETTLE_TIMEOUT:?}: {error} ({} records still in flight)",
            producer.in_flight_count()
        ));
    }
    let elapsed = tally.started.elapsed();
    let records = tally.delivered.load(Ordering::Relaxed);
    let mut latencies = tally
        .latencies_us
        .lock()
        .map(|mut l| std::mem::take(&mut *l))
        .unwrap_or_default();
    let first_error = tally.first_error.lock().ok().and_then(|e| e.clone());
    Ok(Produced {
        sent,
        records,
        bytes: records * record_size as u64,
        elapsed,
        latency: Latency::from_micros(&mut latencies),
        errors: tally.errors.load(Ordering::Relaxed),
        first_error,
    })
}

/// Reads `topic` from the beginning of every partition until `expected`
/// records arrived, or fails after [`SETTLE_TIMEOUT`].
pub fn fetch_all(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    expected: u64,
) -> anyhow::Result<Fetched> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "fjord-bench-reader")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        // When the consumer's queue holds more than `queued.min.messages`
        // (100,000) records, librdkafka pauses fetching for
        // `fetch.queue.backoff.ms`, 1,000 ms by default. A broker that
        // answers a catch-up read at full speed fills that queue within one
        // or two fetches of 100 B records and then sits idle for most of
        // each second. A deeper queue (still bounded by the default 64 MiB
        // `queued.max.messages.kbytes`) and a short back-off measure the
        // read, not the pause.
        .set("fetch.queue.backoff.ms", "10")
        .set("queued.min.messages", "1000000")
        .create()
        .context("creating the consumer")?;
    let mut assignment = TopicPartitionList::new();
    for partition in 0..partitions {
        assignment.add_partition_offset(topic, partition, Offset::Beginning)?;
    }
    let started = Instant::now();
    consumer.assign(&assignment)?;
    let (mut records, mut bytes) = (0u64, 0u64);
    // Throughput is timed from the first record: connecting, metadata and
    // offset look-ups are start-up, not transfer.
    let mut first = None;
    while records < expected {
        if started.elapsed() > SETTLE_TIMEOUT {
            bail!("read {records} of {expected} records of {topic} within {SETTLE_TIMEOUT:?}");
        }
        let Some(message) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let message = message.with_context(|| format!("reading {topic}"))?;
        first.get_or_insert_with(Instant::now);
        records += 1;
        bytes += message.payload_len() as u64;
    }
    Ok(Fetched {
        records,
        bytes,
        elapsed: first.map_or(Duration::ZERO, |first| first.elapsed()),
    })
}
