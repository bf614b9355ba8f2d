//! The transactions part of the run: transactional produce next to idempotent produce, against
//! the same broker in the same run.
//!
//! ```text
//!  for log.flush.policy in sync (the default), os:
//!    for the broker (and the --baseline-broker, as base-*):
//!      start it; warm up: one transaction of one record (creates __transaction_state)
//!      repeat: idempotent, transactions of 100, transactions of 10,000   (1 KiB, 8 partitions)
//!              each on a fresh topic after sync(2), deleted when the run ends
//!      one row per case: the median run by MB/s, with every run's MB/s
//! ```
//!
//! The cases take turns within each round (idempotent, 100, 10,000, idempotent, ...) so that
//! drift of the machine meets them alike, and `vs-idem` compares like with like. A failed run
//! becomes a note and the others go on; a broker that died ends its part with a note carrying
//! its exit status and log tail.

use std::path::Path;

use anyhow::Context as _;

use crate::kafka_load::{self, Budget};
use crate::process::Server;
use crate::report::{Report, take_median};
use crate::run::{CpuMeter, Plan, note, settle_page_cache, start_fjord_with};
use crate::stats::per_sec;
use crate::txn_load::{self, Mode, TxnProduced};
use crate::txn_report::TxnRow;

/// The cases, in the order they take turns.
pub const CASES: [Mode; 3] = [
    Mode::Idempotent,
    Mode::Transactions(100),
    Mode::Transactions(10_000),
];
const PARTITIONS: i32 = 8;
const RECORD_BYTES: usize = 1024;

/// Every broker binary of the plan under both flush policies.
pub fn run_transactions(
    plan: &Plan,
    runtime: &tokio::runtime::Runtime,
    work: &Path,
    report: &mut Report,
) {
    let baseline = plan.baseline_broker.iter().map(|b| ("base", b));
    let brokers: Vec<_> = [("fjord", &plan.broker)]
        .into_iter()
        .chain(baseline)
        .collect();
    for policy in ["sync", "os"] {
        for (prefix, binary) in &brokers {
            let target = format!("{prefix}-{policy}");
            let dir = work.join(format!("{target}-transactions"));
            let outcome = start_fjord_with(binary, &dir, &format!("log.flush.policy={policy}\n"))
                .and_then(|mut server| {
                    one_broker(plan, runtime, &mut server, &target, policy, report)
                });
            if let Err(error) = outcome {
                note(
                    report,
                    &format!("{target} transactions"),
                    format!("{error:#}"),
                );
            }
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}

/// What a case is called in progress lines and notes, and in its topic's name.
fn label(mode: Mode) -> String {
    mode.records_per_transaction()
        .map_or("idempotent".into(), |n| format!("txn-{n}"))
}

fn one_broker(
    plan: &Plan,
    runtime: &tokio::runtime::Runtime,
    server: &mut Server,
    target: &str,
    policy: &str,
    report: &mut Report,
) -> anyhow::Result<()> {
    let bootstrap = server.bootstrap();
    warm_up(runtime, &bootstrap).context("warming up the transaction coordinator")?;
    server.check_alive()?;
    // (produced, broker cores) of each run that worked, per case.
    let mut runs: Vec<Vec<(TxnProduced, Option<f64>)>> = CASES.iter().map(|_| vec![]).collect();
    for run in 0..plan.repeat {
        for (mode, runs) in CASES.into_iter().zip(&mut runs) {
            let what = format!("{target} {}", label(mode));
            let topic = format!("bench-txn-{}-{run}", label(mode));
            settle_page_cache();
            let mut cpu = None;
            let outcome = runtime
                .block_on(kafka_load::create_topics(
                    &bootstrap,
                    std::slice::from_ref(&topic),
                    PARTITIONS,
                ))
                .and_then(|()| {
                    let meter = CpuMeter::start(server.pid());
                    let produced = txn_load::produce(
                        &bootstrap,
                        &topic,
                        PARTITIONS,
                        RECORD_BYTES,
                        mode,
                        &format!("fjord-bench-{topic}"),
                        plan.budget,
                    );
                    cpu = meter.cores();
                    produced
                });
            server.check_alive()?;
            match outcome {
                Ok(produced) => {
                    progress(&what, &produced);
                    runs.push((produced, cpu));
                }
                Err(error) => note(report, &what, format!("{error:#}")),
            }
            if let Err(error) = runtime.block_on(kafka_load::delete_topics(
                &bootstrap,
                std::slice::from_ref(&topic),
            )) {
                eprintln!("[bench] {what}: deleting {topic}: {error:#}");
            }
        }
    }
    for (mode, runs) in CASES.into_iter().zip(runs) {
        if let Some(((produced, cores), all)) = take_median(runs, |(p, _)| p.mb_per_sec()) {
            let mut row = txn_row(target, policy, mode, &produced, cores);
            row.runs_mb_per_sec = all;
            report.transactions.push(row);
        }
    }
    Ok(())
}

/// One transaction of one record: the broker creates and loads `__transaction_state` on the
/// first InitProducerId, which would otherwise fall into the first case's broker CPU.
fn warm_up(runtime: &tokio::runtime::Runtime, bootstrap: &str) -> anyhow::Result<()> {
    let topic = "bench-txn-warm-up".to_owned();
    runtime.block_on(kafka_load::create_topics(
        bootstrap,
        std::slice::from_ref(&topic),
        1,
    ))?;
    let budget = Budget {
        duration: std::time::Duration::from_secs(10),
        bytes: RECORD_BYTES as u64,
        records: 1,
    };
    let produced = txn_load::produce(
        bootstrap,
        &topic,
        1,
        RECORD_BYTES,
        Mode::Transactions(1),
        "fjord-bench-warm-up",
        budget,
    )?;
    anyhow::ensure!(
        produced.transactions == 1 && produced.records == 1,
        "the warm-up committed {} transactions of {} records, not 1 of 1",
        produced.transactions,
        produced.records
    );
    runtime.block_on(kafka_load::delete_topics(
        bootstrap,
        std::slice::from_ref(&topic),
    ))
}

fn progress(what: &str, produced: &TxnProduced) {
    eprintln!(
        "[bench] {what}: {} of {} records acknowledged, {:.1} MB/s, {} transactions, commit p99 {} ms",
        produced.records,
        produced.sent,
        produced.mb_per_sec(),
        produced.transactions,
        produced
            .commit
            .map_or("-".into(), |l| format!("{:.1}", l.p99_ms)),
    );
}

fn txn_row(
    target: &str,
    policy: &str,
    mode: Mode,
    produced: &TxnProduced,
    broker_cores: Option<f64>,
) -> TxnRow {
    TxnRow {
        target: target.into(),
        policy: policy.into(),
        partitions: PARTITIONS,
        record_bytes: RECORD_BYTES,
        records_per_transaction: mode.records_per_transaction(),
        records: produced.records,
        transactions: produced.transactions,
        seconds: produced.elapsed.as_secs_f64(),
        mb_per_sec: produced.mb_per_sec(),
        records_per_sec: per_sec(produced.records as f64, produced.elapsed),
        transactions_per_sec: mode
            .records_per_transaction()
            .map(|_| per_sec(produced.transactions as f64, produced.elapsed)),
        commit_latency: produced.commit,
        end_latency: produced.end,
        errors: produced.errors,
        first_error: produced.first_error.clone(),
        broker_cores,
        broker_cpu_seconds_per_gb: None,
        vs_idem: None,
        runs_mb_per_sec: Vec::new(),
    }
}
