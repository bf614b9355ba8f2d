//! Transactional produce load, with librdkafka, and its idempotent baseline.
//!
//! Both modes use one `BaseProducer` with the settings of every produce case
//! ([`kafka_load::producer_config`]) and `acks=all`, sending fixed-size keyless records
//! round-robin over the topic's partitions:
//!
//! ```text
//!  idempotent:    enable.idempotence=true; one warm-up record (untimed), then
//!                   send until the budget is spent, flush
//!  transactions:  transactional.id=..; init_transactions and a warm-up transaction of one
//!                 record (untimed), then until the budget is spent:
//!                   begin ─ send N records ─ flush ─ commit_transaction
//!                           └──────── commit latency ──────────┘
//!                                             └─ end latency ─┘
//! ```
//!
//! Before the clock starts, each run sends one record (in a transaction of its own when
//! transactional), so that the producer id, the topic's metadata and the connections are in
//! place: start-up is not throughput. Time runs from the first counted send to the last
//! acknowledgement (idempotent) or commit (transactions). The budget is checked between
//! transactions only, so every transaction holds its full `N` records (the last one fewer only
//! when the byte or record budget ends inside it); a run overshoots its time budget by at most
//! one transaction.
//!
//! `commit` is what an application's `commitTransaction` call costs: it waits for the
//! transaction's records still in flight, then for EndTxn. `end` is the EndTxn round trip
//! alone, after the records were acknowledged (the explicit flush): the coordinator answers once
//! its PrepareCommit is durable and writes the markers after. Until they are written and the
//! transaction is complete, the next transaction's AddPartitionsToTxn is answered
//! CONCURRENT_TRANSACTIONS, which librdkafka retries every 20 ms; the records wait for it, so
//! that wait falls into the next transaction's `commit`. A failed send, flush or commit aborts the
//! transaction (bounded by [`ABORT_TIMEOUT`]) and fails the run with what went wrong; every
//! wait is bounded by [`SETTLE_TIMEOUT`].

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer as _};

use crate::kafka_load::{self, Acks, Budget, SETTLE_TIMEOUT, Tally};
use crate::stats::{Latency, mb_per_sec};

/// How long aborting a failed transaction may take before the run gives up on it.
const ABORT_TIMEOUT: Duration = Duration::from_secs(10);

/// How a case produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `enable.idempotence=true`, no transactions: the baseline.
    Idempotent,
    /// Transactions of this many records each.
    Transactions(u64),
}

impl Mode {
    /// Records per transaction; `None` for the idempotent baseline.
    pub fn records_per_transaction(self) -> Option<u64> {
        match self {
            Self::Idempotent => None,
            Self::Transactions(records) => Some(records),
        }
    }
}

/// What one transactional (or idempotent) produce run measured.
#[derive(Debug, Clone)]
pub struct TxnProduced {
    /// Records handed to librdkafka.
    pub sent: u64,
    /// Records acknowledged (and, with transactions, committed).
    pub records: u64,
    pub bytes: u64,
    pub elapsed: Duration,
    /// Transactions committed.
    pub transactions: u64,
    /// Each `commit_transaction` call, the wait for records in flight included.
    pub commit: Option<Latency>,
    /// EndTxn alone: `commit_transaction` after the records were acknowledged.
    pub end: Option<Latency>,
    pub errors: u64,
    pub first_error: Option<String>,
}

impl TxnProduced {
    pub fn mb_per_sec(&self) -> f64 {
        mb_per_sec(self.bytes, self.elapsed)
    }
}

/// Produces `record_size`-byte records to `topic` in `mode` until `budget` is spent;
/// `transactional_id` names the producer's transactions (unused when idempotent).
pub fn produce(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    record_size: usize,
    mode: Mode,
    transactional_id: &str,
    budget: Budget,
) -> anyhow::Result<TxnProduced> {
    let mut config = kafka_load::producer_config(bootstrap, Acks::All);
    config.set("enable.idempotence", "true");
    if mode != Mode::Idempotent {
        config.set("transactional.id", transactional_id);
    }
    let producer: BaseProducer<Tally> = config
        .create_with_context(Tally::new())
        .context("creating the producer")?;
    if mode != Mode::Idempotent {
        producer
            .init_transactions(SETTLE_TIMEOUT)
            .with_context(|| format!("init_transactions of {transactional_id}"))?;
    }
    let sender = Sender {
        producer: &producer,
        topic,
        partitions: u64::try_from(partitions.max(1)).unwrap_or(1),
        payload: kafka_load::payload(record_size),
    };
    // Untimed: one record (in a transaction of its own when transactional), so that the
    // producer id, the topic's metadata and the connections are in place when the clock starts.
    let mut warm_up = 0;
    match mode {
        Mode::Idempotent => {
            sender.send(&mut warm_up, 1, Instant::now() + SETTLE_TIMEOUT)?;
            flush(&producer)?;
        }
        Mode::Transactions(_) => {
            sender.committed(&mut warm_up, 1, "the warm-up transaction", transactional_id)?;
        }
    }
    let warmed_up = producer.context().delivered();
    anyhow::ensure!(
        warmed_up == 1,
        "the warm-up record was not acknowledged: {}",
        producer
            .context()
            .first_error()
            .unwrap_or_else(|| "no error reported".into())
    );

    let max_records = budget.max_records(record_size);
    let started = Instant::now();
    let deadline = started + budget.duration;
    let mut sent = 0;
    let (mut commits, mut ends) = (Vec::new(), Vec::new());
    match mode {
        Mode::Idempotent => {
            // In steps of 1,024 records, so the deadline is looked at often enough.
            while sent < max_records && Instant::now() < deadline {
                let until = (sent + 1024).min(max_records);
                sender.send(&mut sent, until, deadline)?;
            }
            if let Err(error) = flush(&producer) {
                producer.context().note_error(format!("{error:#}"));
            }
        }
        Mode::Transactions(size) => {
            let size = size.max(1);
            while sent < max_records && Instant::now() < deadline {
                let number = format!("transaction {}", commits.len() + 1);
                let until = (sent + size).min(max_records);
                let (commit, end) =
                    sender.committed(&mut sent, until, &number, transactional_id)?;
                commits.push(micros(commit));
                ends.push(micros(end));
            }
        }
    }
    let elapsed = started.elapsed();
    let tally = producer.context();
    let records = tally.delivered().saturating_sub(warmed_up);
    Ok(TxnProduced {
        sent,
        records,
        bytes: records * record_size as u64,
        elapsed,
        transactions: commits.len() as u64,
        commit: Latency::from_micros(&mut commits),
        end: Latency::from_micros(&mut ends),
        errors: tally.errors(),
        first_error: tally.first_error(),
    })
}

fn micros(duration: Duration) -> u32 {
    u32::try_from(duration.as_micros()).unwrap_or(u32::MAX)
}

/// Sends the records of one run.
struct Sender<'a> {
    producer: &'a BaseProducer<Tally>,
    topic: &'a str,
    partitions: u64,
    payload: Vec<u8>,
}

impl Sender<'_> {
    /// Sends records numbered `*next..until` round-robin over the partitions, waiting while
    /// librdkafka's queue is full, until all are handed over or `stop` passes. Returns whether
    /// all were.
    fn send(&self, next: &mut u64, until: u64, stop: Instant) -> anyhow::Result<bool> {
        while *next < until {
            let partition = i32::try_from(*next % self.partitions).unwrap_or(0);
            let record = BaseRecord::<'_, (), [u8], usize>::with_opaque_to(
                self.topic,
                kafka_load::NOT_SAMPLED,
            )
            .payload(&self.payload[..])
            .partition(partition);
            match self.producer.send(record) {
                Ok(()) => {
                    *next += 1;
                    if next.is_multiple_of(1024) {
                        self.producer.poll(Duration::ZERO);
                    }
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    if Instant::now() >= stop {
                        return Ok(false);
                    }
                    self.producer.poll(Duration::from_millis(1));
                }
                Err((error, _)) => bail!("enqueueing a record to {}: {error}", self.topic),
            }
        }
        Ok(true)
    }

    /// [`Self::transaction`], aborted when it fails; the error names the transaction.
    fn committed(
        &self,
        next: &mut u64,
        until: u64,
        which: &str,
        transactional_id: &str,
    ) -> anyhow::Result<(Duration, Duration)> {
        self.transaction(next, until)
            .map_err(
                |error| match self.producer.abort_transaction(ABORT_TIMEOUT) {
                    Ok(()) => error,
                    Err(abort) => anyhow::anyhow!("{error:#}; aborting it failed too: {abort}"),
                },
            )
            .with_context(|| format!("{which} of {transactional_id}"))
    }

    /// One transaction of records `*next..until`: begin, send, flush, commit. Returns the
    /// commit latency (flush and commit) and the end latency (commit alone).
    fn transaction(&self, next: &mut u64, until: u64) -> anyhow::Result<(Duration, Duration)> {
        let producer = self.producer;
        producer.begin_transaction().context("begin_transaction")?;
        let began = Instant::now();
        if !self.send(next, until, began + SETTLE_TIMEOUT)? {
            bail!(
                "librdkafka's queue stayed full for {SETTLE_TIMEOUT:?}: {} of {} records sent",
                *next,
                until
            );
        }
        let committing = Instant::now();
        flush(producer)?;
        // A failed delivery fails the commit too; say which record failed first.
        if producer.context().errors() > 0 {
            bail!(
                "{}",
                producer
                    .context()
                    .first_error()
                    .unwrap_or_else(|| "a delivery failed".into())
            );
        }
        let flushed = Instant::now();
        // Its own flush finds nothing in flight and returns at once.
        producer
            .commit_transaction(SETTLE_TIMEOUT)
            .context("commit_transaction")?;
        Ok((committing.elapsed(), flushed.elapsed()))
    }
}

/// Waits until every record handed to librdkafka is acknowledged or failed, serving delivery
/// reports meanwhile; fails after [`SETTLE_TIMEOUT`]. Not `BaseProducer::flush`: the `rdkafka`
/// crate's `poll` waits out its whole timeout even once the last report is in, and its flush
/// polls 100 ms at a time, which added up to 100 ms to every transaction.
fn flush(producer: &BaseProducer<Tally>) -> anyhow::Result<()> {
    let started = Instant::now();
    while producer.in_flight_count() > 0 {
        if started.elapsed() > SETTLE_TIMEOUT {
            bail!(
                "flush: {} records still in flight after {SETTLE_TIMEOUT:?}",
                producer.in_flight_count()
            );
        }
        producer.poll(Duration::from_millis(1));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use rdkafka::mocking::MockCluster;
    use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};

    use super::*;

    fn budget(records: u64) -> Budget {
        Budget {
            duration: Duration::from_secs(30),
            bytes: u64::MAX,
            records,
        }
    }

    fn mock_with_topic(
        topic: &str,
    ) -> MockCluster<'static, rdkafka::producer::DefaultProducerContext> {
        let cluster = MockCluster::new(1).expect("librdkafka's mock cluster starts");
        cluster
            .create_topic(topic, 4, 1)
            .expect("the mock topic is created");
        cluster
    }

    #[test]
    fn transactions_hold_their_full_size_and_the_last_one_ends_with_the_budget() {
        let cluster = mock_with_topic("txn");
        let produced = produce(
            &cluster.bootstrap_servers(),
            "txn",
            4,
            64,
            Mode::Transactions(100),
            "test-txn",
            budget(250),
        )
        .expect("the run commits");
        assert_eq!(
            (produced.sent, produced.records, produced.transactions),
            (250, 250, 3),
            "100 + 100 + 50"
        );
        assert_eq!(produced.bytes, 250 * 64);
        assert_eq!(produced.errors, 0, "{:?}", produced.first_error);
        let (commit, end) = (
            produced.commit.expect("commits timed"),
            produced.end.expect("ends timed"),
        );
        assert!(
            commit.p99_ms >= end.p99_ms || commit.p50_ms >= end.p50_ms,
            "{commit:?} {end:?}"
        );
    }

    #[test]
    fn a_refused_commit_fails_the_run_and_names_the_transaction() {
        let cluster = mock_with_topic("refused");
        cluster.request_errors(
            RDKafkaApiKey::EndTxn,
            &[
                // The warm-up transaction's commit goes through.
                RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR,
                RDKafkaRespErr::RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
            ],
        );
        let error = produce(
            &cluster.bootstrap_servers(),
            "refused",
            4,
            64,
            Mode::Transactions(10),
            "test-refused",
            budget(30),
        )
        .expect_err("the commit is refused");
        let text = format!("{error:#}");
        assert!(
            text.starts_with("transaction 1 of test-refused: commit_transaction"),
            "{text}"
        );
        assert!(text.contains("authoriz"), "{text}");
    }

    #[test]
    fn the_idempotent_baseline_sends_the_budget_without_transactions() {
        let cluster = mock_with_topic("idem");
        let produced = produce(
            &cluster.bootstrap_servers(),
            "idem",
            4,
            64,
            Mode::Idempotent,
            "unused",
            budget(3000),
        )
        .expect("the run completes");
        assert_eq!((produced.sent, produced.records), (3000, 3000));
        assert_eq!(produced.transactions, 0);
        assert!(produced.commit.is_none() && produced.end.is_none());
    }
}
