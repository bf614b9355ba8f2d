//! The run: which cases, in which order, against which process.
//!
//! Order: the raw baseline first (sync, then os), the raw Kafka sink (the
//! same matrix, sync then os), then Fjord with
//! `log.flush.policy=sync` (its default), Fjord with `os`, consumer groups,
//! transactional produce next to idempotent (`run_transactions`), librdkafka's
//! in-process mock broker (the client's own ceiling), and tansu. Each
//! Kafka target runs the same matrix — record size x partitions x acks — and
//! then reads the `acks=1`, 8-partition topic of each size back from the
//! beginning. A failed case becomes a note and the run goes on; a broker that
//! died ends its target with a note carrying its exit status and log tail.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rdkafka::mocking::MockCluster;

use crate::kafka_load::{self, Acks, Budget, Fetched, Produced};
use crate::process::Server;
use crate::raw::{self, Durability};
use crate::raw_kafka::RawKafkaSink;
use crate::report::{FetchRow, MemoryRow, Note, ProduceRow, Report, take_median};
use crate::rss::{self, RssSampler};
use crate::stats::{mb_per_sec, per_sec};

pub const RECORD_SIZES: [usize; 2] = [100, 1024];
pub const PARTITIONS: [i32; 2] = [1, 8];
const ACKS: [Acks; 2] = [Acks::Leader, Acks::All];
/// The partitions of the catch-up read (the `acks=1` topic of that count).
const FETCH_PARTITIONS: i32 = 8;
/// Topics x partitions of the idle-memory measurement: 1,000 partitions.
const IDLE_TOPICS: usize = 100;
const IDLE_PARTITIONS_PER_TOPIC: i32 = 10;

#[derive(Debug, Clone)]
pub struct Plan {
    pub broker: PathBuf,
    /// A second broker binary measured the same way, as `base-sync` / `base-os`.
    pub baseline_broker: Option<PathBuf>,
    pub tansu: Option<PathBuf>,
    pub budget: Budget,
    pub idle_wait: Duration,
    pub work_root: PathBuf,
    pub quick: bool,
    pub only: Only,
    /// Runs of each case; the median run is reported.
    pub repeat: usize,
    /// With a baseline broker: which round of the interleaved runs this is (names topics).
    pub round: usize,
}

/// A subset of the run, from the command line; an empty list means all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Only {
    pub targets: Vec<String>,
    pub sizes: Vec<usize>,
    pub partitions: Vec<i32>,
    pub acks: Vec<String>,
}

impl Only {
    fn target(&self, name: &str) -> bool {
        self.targets.is_empty() || self.targets.iter().any(|t| t == name)
    }

    fn size(&self, size: usize) -> bool {
        self.sizes.is_empty() || self.sizes.contains(&size)
    }

    fn case(&self, size: usize, partitions: i32, acks: Acks) -> bool {
        self.size(size)
            && (self.partitions.is_empty() || self.partitions.contains(&partitions))
            && (self.acks.is_empty() || self.acks.iter().any(|a| a == acks.as_config()))
    }

    /// The produce matrix, record size x partitions x acks, in run order.
    fn cases(&self) -> Vec<(usize, i32, Acks)> {
        let mut cases = Vec::new();
        for size in RECORD_SIZES {
            for partitions in PARTITIONS {
                for acks in ACKS {
                    if self.case(size, partitions, acks) {
                        cases.push((size, partitions, acks));
                    }
                }
            }
        }
        cases
    }
}

/// A Kafka-speaking target under test.
struct Target<'a> {
    name: &'a str,
    policy: &'a str,
    server: Server,
}

pub fn run(plan: &Plan) -> anyhow::Result<Report> {
    std::fs::create_dir_all(&plan.work_root)?;
    let work = tempfile::Builder::new()
        .prefix("fjord-bench-")
        .tempdir_in(&plan.work_root)
        .with_context(|| format!("creating a work directory in {}", plan.work_root.display()))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut report = Report {
        settings: serde_json::json!({
            "seconds_per_case": plan.budget.duration.as_secs_f64(),
            "bytes_per_case": plan.budget.bytes,
            "records_per_case": (plan.budget.records != u64::MAX).then_some(plan.budget.records),
            "quick": plan.quick,
            "broker": plan.broker.display().to_string(),
            "baseline_broker": plan.baseline_broker.as_ref().map(|p| p.display().to_string()),
            "tansu": plan.tansu.as_ref().map(|p| p.display().to_string()),
            "librdkafka": rdkafka::util::get_rdkafka_version().1,
            "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            "work_dir": plan.work_root.display().to_string(),
            "load_average_at_start": rss::load_average(),
        }),
        ..Report::default()
    };

    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if let Some(load) = rss::load_average().filter(|load| *load > cpus as f64 / 2.0) {
        note(
            &mut report,
            "machine",
            format!("load average {load:.1} on {cpus} CPUs at start: other work skews the figures"),
        );
    }

    if plan.only.target("raw") {
        run_raw(plan, work.path(), &mut report);
    }
    if plan.only.target("raw-kafka") {
        run_raw_kafka(plan, work.path(), &mut report);
    }

    for (name, baseline, policy) in [
        ("fjord-sync", "base-sync", "sync"),
        ("fjord-os", "base-os", "os"),
    ] {
        if !plan.only.target(name) {
            continue;
        }
        let Some(baseline_binary) = &plan.baseline_broker else {
            let dir = work.path().join(name);
            let outcome = start_fjord(&plan.broker, &dir, policy).and_then(|server| {
                let mut target = Target {
                    name,
                    policy,
                    server,
                };
                run_kafka_target(plan, &runtime, &mut target, &mut report, policy == "sync")
            });
            if let Err(error) = outcome {
                note(&mut report, name, format!("{error:#}"));
            }
            let _ = std::fs::remove_dir_all(&dir);
            continue;
        };
        // Against a baseline, both brokers run at once and take turns: every case's runs
        // alternate between them (A, B, A, B, ...), so drift of the machine — disk writeback,
        // a neighbour's load — meets both alike.
        let dirs = [work.path().join(name), work.path().join(baseline)];
        let outcome = start_fjord(&plan.broker, &dirs[0], policy).and_then(|first| {
            let second = start_fjord(baseline_binary, &dirs[1], policy)?;
            let mut targets = [
                Target {
                    name,
                    policy,
                    server: first,
                },
                Target {
                    name: baseline,
                    policy,
                    server: second,
                },
            ];
            for round in 0..plan.repeat {
                let round_plan = Plan {
                    repeat: 1,
                    round,
                    ..plan.clone()
                };
                for target in &mut targets {
                    run_kafka_target(&round_plan, &runtime, target, &mut report, false)?;
                }
            }
            anyhow::Ok(())
        });
        if let Err(error) = outcome {
            note(&mut report, name, format!("{error:#}"));
        }
        for dir in dirs {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    merge_rounds(&mut report);

    if plan.only.target("groups") {
        let baseline = plan.baseline_broker.iter().map(|b| ("base-sync", b));
        for (name, binary) in [("fjord-sync", &plan.broker)].into_iter().chain(baseline) {
            let dir = work.path().join(format!("{name}-groups"));
            match crate::run_groups::run_groups(plan, &runtime, binary, &dir, name) {
                Ok(row) => report.groups.push(row),
                Err(error) => note(&mut report, &format!("{name} groups"), format!("{error:#}")),
            }
            let _ = std::fs::remove_dir_all(&dir);
        }
    }

    if plan.only.target("transactions") {
        crate::run_transactions::run_transactions(plan, &runtime, work.path(), &mut report);
    }

    if plan.only.target("mock") {
        run_mock(plan, &mut report);
    }

    match plan.tansu.as_deref() {
        _ if !plan.only.target("tansu") => {}
        Some(tansu) if tansu.is_file() => {
            let outcome =
                Server::start_tansu(tansu, work.path().join("tansu.log")).and_then(|server| {
                    let mut target = Target {
                        name: "tansu",
                        policy: "memory",
                        server,
                    };
                    run_kafka_target(plan, &runtime, &mut target, &mut report, false)
                });
            if let Err(error) = outcome {
                note(&mut report, "tansu", format!("{error:#}"));
            }
        }
        Some(tansu) => note(
            &mut report,
            "tansu",
            format!("skipped: no file at {}", tansu.display()),
        ),
        None => note(
            &mut report,
            "tansu",
            "skipped: no --tansu PATH (or FJORD_TANSU) given".into(),
        ),
    }
    if let Some(settings) = report.settings.as_object_mut() {
        settings.insert("load_average_at_end".into(), rss::load_average().into());
    }
    Ok(report)
}

/// Rows of interleaved rounds (one run each) become one row per case: the median round,
/// with every round's MB/s; memory keeps each target's largest peak.
fn merge_rounds(report: &mut Report) {
    fn merge<R: Clone>(
        rows: &mut Vec<R>,
        key: impl Fn(&R) -> String,
        mb_per_sec: impl Fn(&R) -> f64,
        set_runs: impl Fn(&mut R, Vec<f64>),
    ) {
        let mut order: Vec<String> = Vec::new();
        let mut groups: std::collections::HashMap<String, Vec<R>> = Default::default();
        for row in rows.drain(..) {
            let k = key(&row);
            if !groups.contains_key(&k) {
                order.push(k.clone());
            }
            groups.entry(k).or_default().push(row);
        }
        for k in order {
            let mut group = groups.remove(&k).unwrap_or_default();
            if group.len() == 1 {
                rows.extend(group);
                continue;
            }
            let runs: Vec<f64> = group.iter().map(&mb_per_sec).collect();
            group.sort_by(|a, b| mb_per_sec(a).total_cmp(&mb_per_sec(b)));
            let mut median = group.swap_remove(group.len() / 2);
            set_runs(&mut median, runs);
            rows.push(median);
        }
    }
    merge(
        &mut report.produce,
        |r| {
            format!(
                "{}|{}|{:?}|{:?}|{}",
                r.target, r.policy, r.acks, r.partitions, r.record_bytes
            )
        },
        |r| r.mb_per_sec,
        |r, runs| r.runs_mb_per_sec = runs,
    );
    merge(
        &mut report.fetch,
        |r| {
            format!(
                "{}|{}|{:?}|{}",
                r.target, r.policy, r.partitions, r.record_bytes
            )
        },
        |r| r.mb_per_sec,
        |r, runs| r.runs_mb_per_sec = runs,
    );
    let mut memory: Vec<crate::report::MemoryRow> = Vec::new();
    for row in report.memory.drain(..) {
        match memory.iter_mut().find(|m| m.target == row.target) {
            Some(kept) => {
                kept.peak_rss_bytes = kept.peak_rss_bytes.max(row.peak_rss_bytes);
                kept.idle_rss_after_load_bytes = row.idle_rss_after_load_bytes;
            }
            None => memory.push(row),
        }
    }
    report.memory = memory;
}

pub fn note(report: &mut Report, what: &str, why: String) {
    eprintln!("[bench] {what}: {why}");
    report.notes.push(Note {
        what: what.into(),
        why,
    });
}

/// The raw sink and reader for both durability policies and both sizes, each
/// `plan.repeat` times; the median write and the median read are reported.
fn run_raw(plan: &Plan, work: &Path, report: &mut Report) {
    for (durability, policy) in [(Durability::Sync, "sync"), (Durability::Os, "os")] {
        for size in RECORD_SIZES.into_iter().filter(|s| plan.only.size(*s)) {
            let file = work.join(format!("raw-{policy}-{size}.log"));
            let what = format!("raw {policy} {size}B");
            let (mut writes, mut reads) = (Vec::new(), Vec::new());
            for _ in 0..plan.repeat {
                settle_page_cache();
                match raw::write(&file, size, durability, plan.budget) {
                    Ok(written) => {
                        progress(&what, "write", &written);
                        writes.push(written);
                        match raw::read(&file) {
                            Ok(read) => reads.push(read),
                            Err(error) => {
                                note(report, &format!("{what} read"), format!("{error:#}"));
                            }
                        }
                    }
                    Err(error) => note(report, &what, format!("{error:#}")),
                }
                let _ = std::fs::remove_file(&file);
            }
            if let Some((written, runs)) = take_median(writes, Produced::mb_per_sec) {
                let mut row = produce_row("raw", policy, None, None, size, &written);
                row.runs_mb_per_sec = runs;
                report.produce.push(row);
            }
            if let Some((read, runs)) = take_median(reads, Fetched::mb_per_sec) {
                let mut row = fetch_row("raw", policy, None, size, &read);
                row.runs_mb_per_sec = runs;
                report.fetch.push(row);
            }
        }
    }
}

/// The produce matrix, for both policies, against the raw Kafka sink in this
/// process: what the same client reaches when the server does nothing but
/// append request bytes to a file (and fsync them, for `sync`).
fn run_raw_kafka(plan: &Plan, work: &Path, report: &mut Report) {
    const TOPIC: &str = "bench-raw-kafka";
    for (durability, policy) in [(Durability::Sync, "sync"), (Durability::Os, "os")] {
        for (size, partitions, acks) in plan.only.cases() {
            let what = format!(
                "raw-kafka {policy} {size}B {partitions}p acks={}",
                acks.as_config()
            );
            let file = work.join("raw-kafka.log");
            let runs = repeat_runs(plan, report, &what, |_| {
                let produced = std::fs::File::create(&file)
                    .context("creating the raw Kafka sink's file")
                    .and_then(|out| RawKafkaSink::start(out, partitions, durability))
                    .and_then(|sink| {
                        kafka_load::produce(
                            &sink.bootstrap(),
                            TOPIC,
                            partitions,
                            size,
                            acks,
                            plan.budget,
                        )
                    });
                let _ = std::fs::remove_file(&file);
                if let Ok(produced) = &produced {
                    progress(&what, "produce", produced);
                }
                Ok::<_, std::convert::Infallible>(produced)
            });
            let Ok(runs) = runs;
            push_median(report, runs, "raw-kafka", policy, (size, partitions, acks));
        }
    }
}

/// The median of `runs` of a produce case as `target`'s row.
fn push_median(
    report: &mut Report,
    runs: Vec<Produced>,
    target: &str,
    policy: &str,
    (size, partitions, acks): (usize, i32, Acks),
) {
    if let Some((produced, runs)) = take_median(runs, Produced::mb_per_sec) {
        let mut row = produce_row(
            target,
            policy,
            Some(acks),
            Some(partitions),
            size,
            &produced,
        );
        row.runs_mb_per_sec = runs;
        report.produce.push(row);
    }
}

/// The produce matrix against librdkafka's own mock broker, in this process:
/// it keeps records in memory and does nothing else, so its figures are what
/// the client itself manages on this machine — the ceiling for any broker
/// measured with it. A fresh mock cluster per run frees its memory.
fn run_mock(plan: &Plan, report: &mut Report) {
    for (size, partitions, acks) in plan.only.cases() {
        let what = format!("mock {size}B {partitions}p acks={}", acks.as_config());
        let runs = repeat_runs(plan, report, &what, |_| {
            let produced = MockCluster::new(1)
                .context("starting librdkafka's mock cluster")
                .and_then(|cluster| {
                    cluster
                        .create_topic(MOCK_TOPIC, partitions, 1)
                        .context("creating the mock topic")?;
                    kafka_load::produce(
                        &cluster.bootstrap_servers(),
                        MOCK_TOPIC,
                        partitions,
                        size,
                        acks,
                        plan.budget,
                    )
                });
            if let Ok(produced) = &produced {
                progress(&what, "produce", produced);
            }
            Ok::<_, std::convert::Infallible>(produced)
        });
        let Ok(runs) = runs;
        push_median(report, runs, "mock", "memory", (size, partitions, acks));
    }
}

/// Runs one case `plan.repeat` times: `one(run)` fails outright (the target
/// is gone: stop) or gives the run's outcome; a failed run becomes a note.
/// Returns the runs that worked. Every run starts on a clean page cache.
fn repeat_runs<T, E>(
    plan: &Plan,
    report: &mut Report,
    what: &str,
    mut one: impl FnMut(usize) -> Result<anyhow::Result<T>, E>,
) -> Result<Vec<T>, E> {
    let mut runs = Vec::new();
    for run in 0..plan.repeat {
        settle_page_cache();
        match one(run)? {
            Ok(outcome) => runs.push(outcome),
            Err(error) => note(report, what, format!("{error:#}")),
        }
    }
    Ok(runs)
}

/// Writes back every dirty page on the machine (`sync(2)`) before a run, so
/// that the kernel's writeback of what earlier runs wrote (up to a GiB each)
/// does not compete with this one: without it the first run of a case was
/// regularly 30-60 % faster than the ones after it.
pub fn settle_page_cache() {
    // SAFETY: sync(2) takes no arguments and cannot fail.
    unsafe { libc::sync() };
}

const MOCK_TOPIC: &str = "bench-mock";

fn start_fjord(binary: &Path, dir: &Path, policy: &str) -> anyhow::Result<Server> {
    start_fjord_with(binary, dir, &format!("log.flush.policy={policy}\n"))
}

/// Starts `binary` over `dir` with `properties` as its `--config` file.
pub fn start_fjord_with(binary: &Path, dir: &Path, properties: &str) -> anyhow::Result<Server> {
    let data = dir.join("data");
    std::fs::create_dir_all(&data)?;
    let config = dir.join("broker.properties");
    std::fs::write(&config, properties)?;
    Server::start_fjord(binary, &data, Some(&config), dir.join("broker.log"))
}

/// The produce matrix and the catch-up reads against one target, sampling
/// its memory throughout.
fn run_kafka_target(
    plan: &Plan,
    runtime: &tokio::runtime::Runtime,
    target: &mut Target<'_>,
    report: &mut Report,
    measure_idle: bool,
) -> anyhow::Result<()> {
    let sampler = RssSampler::start(target.server.pid());
    let bootstrap = target.server.bootstrap();
    let mut memory = MemoryRow {
        target: target.name.into(),
        idle_rss_bytes: None,
        idle_rss_1000_partitions_bytes: None,
        idle_rss_after_load_bytes: None,
        peak_rss_bytes: None,
    };
    let rss_now = |server: &Server| rss::read_status(server.pid()).and_then(|s| s.rss);

    if measure_idle && plan.only == Only::default() {
        std::thread::sleep(Duration::from_secs(1));
        memory.idle_rss_bytes = rss_now(&target.server);
        let topics: Vec<String> = (0..IDLE_TOPICS).map(|i| format!("idle-{i:03}")).collect();
        runtime
            .block_on(kafka_load::create_topics(
                &bootstrap,
                &topics,
                IDLE_PARTITIONS_PER_TOPIC,
            ))
            .context("creating 1,000 idle partitions")?;
        std::thread::sleep(plan.idle_wait);
        target.server.check_alive()?;
        memory.idle_rss_1000_partitions_bytes = rss_now(&target.server);
        eprintln!(
            "[bench] {}: idle RSS {} MiB, with 1,000 partitions {} MiB",
            target.name,
            memory.idle_rss_bytes.unwrap_or(0) >> 20,
            memory.idle_rss_1000_partitions_bytes.unwrap_or(0) >> 20
        );
    }

    let mut fetch_topics = Vec::new();
    for (size, partitions, acks) in plan.only.cases() {
        let case = format!(
            "bench-r{}-{size}b-{partitions}p-acks{}",
            plan.round,
            acks.as_config()
        );
        let what = format!(
            "{} {size}B {partitions}p acks={}",
            target.name,
            acks.as_config()
        );
        // Only the last run's topic of the fetch case is kept, to be read
        // back; every other run's topic is deleted as soon as the run ends,
        // so runs do not pile up data (later runs of a case got slower as
        // earlier ones' gigabytes stayed on this machine).
        let keep = acks == Acks::Leader && partitions == FETCH_PARTITIONS;
        let last_run = plan.repeat - 1;
        // (topic, produced, broker cores) of each run that worked.
        let runs = repeat_runs(plan, report, &what, |run| {
            let topic = format!("{case}-{run}");
            let mut cpu = None;
            let outcome = runtime
                .block_on(kafka_load::create_topics(
                    &bootstrap,
                    std::slice::from_ref(&topic),
                    partitions,
                ))
                .and_then(|()| {
                    let meter = CpuMeter::start(target.server.pid());
                    let produced = kafka_load::produce(
                        &bootstrap,
                        &topic,
                        partitions,
                        size,
                        acks,
                        plan.budget,
                    );
                    cpu = meter.cores();
                    produced
                });
            target.server.check_alive()?;
            if let Ok(produced) = &outcome {
                progress(&what, "produce", produced);
                if let Some(error) = &produced.first_error {
                    eprintln!("[bench] {what}: {error}");
                }
                if keep && run == last_run {
                    fetch_topics.push((topic.clone(), size, produced.records));
                }
            }
            if !(keep && run == last_run)
                && let Err(error) = runtime.block_on(kafka_load::delete_topics(
                    &bootstrap,
                    std::slice::from_ref(&topic),
                ))
            {
                eprintln!("[bench] {what}: deleting {topic}: {error:#}");
            }
            anyhow::Ok(outcome.map(|produced| (produced, cpu)))
        })?;
        let Some(((produced, cpu), mb_per_sec)) = take_median(runs, |(p, _)| p.mb_per_sec()) else {
            continue;
        };
        let mut row = produce_row(
            target.name,
            target.policy,
            Some(acks),
            Some(partitions),
            size,
            &produced,
        );
        row.broker_cores = cpu;
        row.runs_mb_per_sec = mb_per_sec;
        report.produce.push(row);
    }

    for (topic, size, records) in fetch_topics {
        let what = format!("{} fetch {size}B {FETCH_PARTITIONS}p", target.name);
        let runs = repeat_runs(plan, report, &what, |_| {
            let meter = CpuMeter::start(target.server.pid());
            let outcome = kafka_load::fetch_all(&bootstrap, &topic, FETCH_PARTITIONS, records);
            let cpu = meter.cores();
            target.server.check_alive()?;
            if let Ok(fetched) = &outcome {
                eprintln!(
                    "[bench] {what}: {} records, {:.1} MB/s",
                    fetched.records,
                    fetched.mb_per_sec()
                );
            }
            anyhow::Ok(outcome.map(|fetched| (fetched, cpu)))
        })?;
        if let Some(((fetched, cpu), mb_per_sec)) = take_median(runs, |(f, _)| f.mb_per_sec()) {
            let mut row = fetch_row(
                target.name,
                target.policy,
                Some(FETCH_PARTITIONS),
                size,
                &fetched,
            );
            row.broker_cores = cpu;
            row.runs_mb_per_sec = mb_per_sec;
            report.fetch.push(row);
        }
        // Read back: its gigabyte would only slow the cases that follow.
        if let Err(error) = runtime.block_on(kafka_load::delete_topics(
            &bootstrap,
            std::slice::from_ref(&topic),
        )) {
            eprintln!("[bench] {what}: deleting {topic}: {error:#}");
        }
    }

    std::thread::sleep(plan.idle_wait);
    memory.idle_rss_after_load_bytes = rss_now(&target.server);
    memory.peak_rss_bytes = sampler.peak();
    eprintln!(
        "[bench] {}: peak RSS {} MiB, idle after load {} MiB",
        target.name,
        memory.peak_rss_bytes.unwrap_or(0) >> 20,
        memory.idle_rss_after_load_bytes.unwrap_or(0) >> 20
    );
    report.memory.push(memory);
    Ok(())
}

/// The broker's CPU time over wall time across one case.
pub struct CpuMeter {
    pid: u32,
    started: Instant,
    cpu: Option<Duration>,
}

impl CpuMeter {
    pub fn start(pid: u32) -> Self {
        Self {
            pid,
            started: Instant::now(),
            cpu: rss::cpu_time(pid),
        }
    }

    /// Cores kept busy since `start` (1.0 = one core all the time).
    pub fn cores(&self) -> Option<f64> {
        let used = rss::cpu_time(self.pid)?.checked_sub(self.cpu?)?;
        Some(used.as_secs_f64() / self.started.elapsed().as_secs_f64().max(1e-9))
    }
}

fn progress(what: &str, action: &str, produced: &Produced) {
    eprintln!(
        "[bench] {what} {action}: {} of {} records acknowledged, {:.1} MB/s, p99 {} ms",
        produced.records,
        produced.sent,
        mb_per_sec(produced.bytes, produced.elapsed),
        produced
            .latency
            .map_or("-".into(), |l| format!("{:.1}", l.p99_ms)),
    );
}

fn produce_row(
    target: &str,
    policy: &str,
    acks: Option<Acks>,
    partitions: Option<i32>,
    size: usize,
    produced: &Produced,
) -> ProduceRow {
    ProduceRow {
        target: target.into(),
        policy: policy.into(),
        acks: acks.map(|a| a.as_config().to_owned()),
        partitions,
        record_bytes: size,
        records: produced.records,
        seconds: produced.elapsed.as_secs_f64(),
        mb_per_sec: mb_per_sec(produced.bytes, produced.elapsed),
        records_per_sec: per_sec(produced.records as f64, produced.elapsed),
        latency: produced.latency,
        errors: produced.errors,
        first_error: produced.first_error.clone(),
        broker_cores: None,
        vs_raw: None,
        vs_tansu: None,
        vs_mock: None,
        vs_raw_kafka: None,
        vs_base: None,
        runs_mb_per_sec: Vec::new(),
    }
}

fn fetch_row(
    target: &str,
    policy: &str,
    partitions: Option<i32>,
    size: usize,
    fetched: &Fetched,
) -> FetchRow {
    FetchRow {
        target: target.into(),
        policy: policy.into(),
        partitions,
        record_bytes: size,
        records: fetched.records,
        seconds: fetched.elapsed.as_secs_f64(),
        mb_per_sec: mb_per_sec(fetched.bytes, fetched.elapsed),
        records_per_sec: per_sec(fetched.records as f64, fetched.elapsed),
        broker_cores: None,
        vs_raw: None,
        vs_tansu: None,
        vs_base: None,
        runs_mb_per_sec: Vec::new(),
    }
}
