//! The consumer-group part of the run, against one broker binary.
//!
//! ```text
//!  broker with its defaults (log.flush.policy=sync, group.initial.rebalance.delay.ms=3000):
//!    create a 6-partition topic, fill it (1 KiB records, the case budget)
//!    repeat: a group of 1 reads it all; a group of 3 forms (time to stable) and reads it all
//!    repeat: a group of 2 forms, a 3rd member joins (time to stable), with the classic protocol
//!            and with the consumer protocol (KIP-848)
//!  broker with group.initial.rebalance.delay.ms=0 (so lone members join at once):
//!    RSS, then 10,000 groups of one member + one committed offset, RSS again
//! ```
//!
//! Each figure is the median of `--repeat` runs.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;

use crate::group_report::GroupRow;
use crate::groups::{self, GROUP_PARTITIONS, MANY_GROUPS, Protocol};
use crate::kafka_load::{self, Acks};
use crate::rss;
use crate::run::{Plan, start_fjord_with};
use crate::stats::mb_per_sec;

const TOPIC: &str = "bench-groups";
const RECORD_BYTES: usize = 1024;
/// Kafka's default, and Fjord's.
const DEFAULT_INITIAL_DELAY_MS: u64 = 3_000;

fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    values.get((values.len().max(1) - 1) / 2).copied()
}

pub fn run_groups(
    plan: &Plan,
    runtime: &tokio::runtime::Runtime,
    binary: &Path,
    dir: &Path,
    name: &str,
) -> anyhow::Result<GroupRow> {
    let mut row = GroupRow {
        target: name.into(),
        members: 3,
        partitions: GROUP_PARTITIONS,
        initial_rebalance_delay_ms: DEFAULT_INITIAL_DELAY_MS,
        ..GroupRow::default()
    };
    reads_and_rebalances(plan, runtime, binary, &dir.join("defaults"), &mut row)?;
    many_groups(plan, runtime, binary, &dir.join("many"), &mut row)?;
    Ok(row)
}

fn reads_and_rebalances(
    plan: &Plan,
    runtime: &tokio::runtime::Runtime,
    binary: &Path,
    dir: &Path,
    row: &mut GroupRow,
) -> anyhow::Result<()> {
    let mut server = start_fjord_with(binary, dir, "log.flush.policy=sync\n")?;
    let bootstrap = server.bootstrap();
    runtime
        .block_on(kafka_load::create_topics(
            &bootstrap,
            &[TOPIC.to_owned()],
            GROUP_PARTITIONS,
        ))
        .context("creating the group topic")?;
    let produced = kafka_load::produce(
        &bootstrap,
        TOPIC,
        GROUP_PARTITIONS,
        RECORD_BYTES,
        Acks::Leader,
        plan.budget,
    )?;
    server.check_alive()?;
    let expected = produced.records;
    row.records = expected;
    eprintln!(
        "[bench] {}: group topic holds {expected} records",
        row.target
    );

    // (MB/s, broker CPU-seconds) of each run.
    let (mut single, mut three, mut stable, mut join) = (vec![], vec![], vec![], vec![]);
    let mut join_848 = vec![];
    for run in 0..plan.repeat {
        let group = format!("bench-one-{run}");
        let (_, (_, bytes, elapsed)) =
            groups::read_as_group(&bootstrap, &group, TOPIC, 1, expected)?;
        single.push(mb_per_sec(bytes, elapsed));

        let cpu_before = rss::cpu_time(server.pid());
        let group = format!("bench-three-{run}");
        let (to_stable, (_, bytes, elapsed)) =
            groups::read_as_group(&bootstrap, &group, TOPIC, 3, expected)?;
        let cpu = rss::cpu_time(server.pid())
            .zip(cpu_before)
            .and_then(|(after, before)| after.checked_sub(before));
        server.check_alive()?;
        let rate = mb_per_sec(bytes, elapsed);
        eprintln!(
            "[bench] {}: group of 3 stable in {:.2} s, read {rate:.1} MB/s (1 member: {:.1})",
            row.target,
            to_stable.as_secs_f64(),
            single.last().copied().unwrap_or_default(),
        );
        three.push((rate, cpu, elapsed));
        stable.push(to_stable.as_secs_f64());

        let group = format!("bench-join-{run}");
        let joined = groups::third_member_joins(&bootstrap, &group, TOPIC, Protocol::Classic)?;
        let group = format!("bench-join-848-{run}");
        let joined_848 = groups::third_member_joins(&bootstrap, &group, TOPIC, Protocol::Consumer);
        eprintln!(
            "[bench] {}: a 3rd member joined a stable group of 2 in {:.2} s (consumer protocol: {})",
            row.target,
            joined.as_secs_f64(),
            match &joined_848 {
                Ok(took) => format!("{:.2} s", took.as_secs_f64()),
                Err(error) => format!("{error:#}"),
            }
        );
        join.push(joined.as_secs_f64());
        if let Ok(took) = joined_848 {
            join_848.push(took.as_secs_f64());
        }
    }
    three.sort_by(|a, b| a.0.total_cmp(&b.0));
    if let Some((rate, cpu, elapsed)) = three.get((three.len().max(1) - 1) / 2).copied() {
        row.mb_per_sec = rate;
        // The members' join is in the CPU time too; it is small next to the read.
        row.broker_cores = cpu.map(|cpu| cpu.as_secs_f64() / elapsed.as_secs_f64().max(1e-9));
    }
    row.single_mb_per_sec = median(single);
    row.vs_single = row
        .single_mb_per_sec
        .filter(|single| *single > 0.0)
        .map(|single| row.mb_per_sec / single);
    row.new_group_stable_seconds = median(stable);
    row.member_join_stable_seconds = median(join);
    row.member_join_stable_seconds_consumer = median(join_848);
    Ok(())
}

fn many_groups(
    plan: &Plan,
    runtime: &tokio::runtime::Runtime,
    binary: &Path,
    dir: &Path,
    row: &mut GroupRow,
) -> anyhow::Result<()> {
    let server = start_fjord_with(
        binary,
        dir,
        "log.flush.policy=sync\ngroup.initial.rebalance.delay.ms=0\n",
    )?;
    let topic = "bench-offsets";
    runtime
        .block_on(kafka_load::create_topics(
            &server.bootstrap(),
            &[topic.to_owned()],
            1,
        ))
        .context("creating the offsets topic")?;
    // One group first: the coordinator creates and loads __consumer_offsets.
    groups::many_groups(server.kafka, "bench-warm-up", topic, 1)?;
    std::thread::sleep(plan.idle_wait);
    row.rss_before_groups_bytes = rss::read_status(server.pid()).and_then(|s| s.rss);
    let started = std::time::Instant::now();
    groups::many_groups(server.kafka, "bench-many", topic, MANY_GROUPS)?;
    let took = started.elapsed();
    std::thread::sleep(plan.idle_wait.max(Duration::from_secs(1)));
    row.rss_with_groups_bytes = rss::read_status(server.pid()).and_then(|s| s.rss);
    row.many_groups = MANY_GROUPS;
    row.many_groups_seconds = Some(took.as_secs_f64());
    eprintln!(
        "[bench] {}: {MANY_GROUPS} groups joined and committed in {:.1} s; RSS {} -> {} MiB",
        row.target,
        took.as_secs_f64(),
        row.rss_before_groups_bytes.unwrap_or(0) >> 20,
        row.rss_with_groups_bytes.unwrap_or(0) >> 20,
    );
    Ok(())
}
