//! The benchmark's results: rows per case, ratios against the raw baseline
//! and tansu, checks against the targets of issue 3, and their rendering as a
//! table (for people) and one JSON line (for scripts).
//!
//! Everything here is pure: the runner fills a [`Report`], then
//! [`Report::finish`] derives ratios and checks from the rows alone.

use std::fmt::Write as _;

use serde::Serialize;

use crate::stats::{Latency, ratio};

/// Target: Fjord's 1 KiB `acks=1` produce throughput against the raw sink.
pub const MIN_RAW_RATIO: f64 = 0.70;
/// Target: the broker's peak resident set through the whole benchmark.
pub const MAX_PEAK_RSS: u64 = 256 << 20;
/// Target: the broker's resident set when idle with 1,000 partitions.
pub const MAX_IDLE_RSS: u64 = 64 << 20;

/// One produce case (or a raw write, with `acks` and `partitions` empty).
#[derive(Debug, Clone, Serialize)]
pub struct ProduceRow {
    pub target: String,
    pub policy: String,
    pub acks: Option<String>,
    pub partitions: Option<i32>,
    pub record_bytes: usize,
    pub records: u64,
    pub seconds: f64,
    pub mb_per_sec: f64,
    pub records_per_sec: f64,
    pub latency: Option<Latency>,
    pub errors: u64,
    pub first_error: Option<String>,
    /// CPU cores the broker process kept busy during the case (CPU time
    /// over wall time); `None` for the raw baseline.
    pub broker_cores: Option<f64>,
    pub vs_raw: Option<f64>,
    pub vs_tansu: Option<f64>,
    /// MB/s over librdkafka's mock broker's in the same case: how much of
    /// what the client manages at all on this machine the target reached.
    pub vs_mock: Option<f64>,
    /// MB/s over the raw Kafka sink's in the same case and policy: the same
    /// client against a server that only appends (and fsyncs) request bytes.
    pub vs_raw_kafka: Option<f64>,
    /// MB/s over the baseline broker's (`--baseline-broker`) in the same case and policy.
    pub vs_base: Option<f64>,
    /// MB/s of every run of the case, in run order; the row is the median run.
    pub runs_mb_per_sec: Vec<f64>,
}

/// One catch-up read (or a raw file read).
#[derive(Debug, Clone, Serialize)]
pub struct FetchRow {
    pub target: String,
    pub policy: String,
    pub partitions: Option<i32>,
    pub record_bytes: usize,
    pub records: u64,
    pub seconds: f64,
    pub mb_per_sec: f64,
    pub records_per_sec: f64,
    /// As in [`ProduceRow::broker_cores`].
    pub broker_cores: Option<f64>,
    pub vs_raw: Option<f64>,
    pub vs_tansu: Option<f64>,
    /// As in [`ProduceRow::vs_base`].
    pub vs_base: Option<f64>,
    /// As in [`ProduceRow::runs_mb_per_sec`].
    pub runs_mb_per_sec: Vec<f64>,
}

/// Resident memory of one broker process.
#[derive(Debug, Clone, Serialize)]
pub struct MemoryRow {
    pub target: String,
    pub idle_rss_bytes: Option<u64>,
    pub idle_rss_1000_partitions_bytes: Option<u64>,
    pub idle_rss_after_load_bytes: Option<u64>,
    pub peak_rss_bytes: Option<u64>,
}

/// A figure held against its target.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: String,
    pub value: Option<f64>,
    pub target: String,
    pub pass: bool,
}

/// A case that did not run or failed, with why.
#[derive(Debug, Clone, Serialize)]
pub struct Note {
    pub what: String,
    pub why: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub settings: serde_json::Value,
    pub produce: Vec<ProduceRow>,
    pub fetch: Vec<FetchRow>,
    pub memory: Vec<MemoryRow>,
    pub groups: Vec<crate::group_report::GroupRow>,
    pub transactions: Vec<crate::txn_report::TxnRow>,
    pub checks: Vec<Check>,
    pub notes: Vec<Note>,
}

/// The raw baseline a policy is held against: tansu keeps records in memory
/// and acknowledges without any disk write, so it meets the `os` sink.
fn raw_policy(policy: &str) -> &str {
    if policy == "sync" { "sync" } else { "os" }
}

/// MB/s of `target`'s row for the same case (acks, partitions, record size) as `row`.
/// The baseline broker's target for a fjord target (`fjord-sync` → `base-sync`).
fn baseline_of(target: &str) -> Option<&'static str> {
    match target {
        "fjord-sync" => Some("base-sync"),
        "fjord-os" => Some("base-os"),
        _ => None,
    }
}

/// Broker CPU-seconds per GB (10^9 bytes of record values) moved: a cost that holds across
/// machines better than throughput does.
pub fn cpu_seconds_per_gb(cores: Option<f64>, mb_per_sec: f64) -> Option<f64> {
    cores
        .filter(|_| mb_per_sec > 0.0)
        .map(|cores| cores * 1000.0 / mb_per_sec)
}

fn same_case(rows: &[ProduceRow], target: &str, row: &ProduceRow) -> Option<f64> {
    same_case_with_policy(rows, target, None, row)
}

/// [`same_case`], of the row with `policy` when one is given.
fn same_case_with_policy(
    rows: &[ProduceRow],
    target: &str,
    policy: Option<&str>,
    row: &ProduceRow,
) -> Option<f64> {
    rows.iter()
        .find(|r| {
            r.target == target
                && policy.is_none_or(|p| r.policy == p)
                && r.acks == row.acks
                && r.partitions == row.partitions
                && r.record_bytes == row.record_bytes
        })
        .map(|r| r.mb_per_sec)
}

impl Report {
    /// Fills every row's ratios and derives the checks.
    pub fn finish(&mut self) {
        let vs_baselines: Vec<_> = self
            .produce
            .iter()
            .map(|row| match row.target.as_str() {
                "raw" | "raw-kafka" | "mock" => (None, None),
                _ => (
                    ratio(row.mb_per_sec, same_case(&self.produce, "mock", row)),
                    ratio(
                        row.mb_per_sec,
                        same_case_with_policy(
                            &self.produce,
                            "raw-kafka",
                            Some(raw_policy(&row.policy)),
                            row,
                        ),
                    ),
                ),
            })
            .collect();
        for (row, (vs_mock, vs_raw_kafka)) in self.produce.iter_mut().zip(vs_baselines) {
            row.vs_mock = vs_mock;
            row.vs_raw_kafka = vs_raw_kafka;
        }
        let raw_produce = |policy: &str, size: usize| {
            self.produce
                .iter()
                .find(|r| {
                    r.target == "raw" && r.policy == raw_policy(policy) && r.record_bytes == size
                })
                .map(|r| r.mb_per_sec)
        };
        let ratios: Vec<_> = self
            .produce
            .iter()
            .map(|row| {
                if row.target == "raw" {
                    return (None, None);
                }
                let vs_tansu = if row.target.starts_with("fjord") {
                    ratio(row.mb_per_sec, same_case(&self.produce, "tansu", row))
                } else {
                    None
                };
                (
                    ratio(row.mb_per_sec, raw_produce(&row.policy, row.record_bytes)),
                    vs_tansu,
                )
            })
            .collect();
        for (row, (vs_raw, vs_tansu)) in self.produce.iter_mut().zip(ratios) {
            row.vs_raw = vs_raw;
            row.vs_tansu = vs_tansu;
        }

        let raw_fetch = |policy: &str, size: usize| {
            self.fetch
                .iter()
                .find(|r| {
                    r.target == "raw" && r.policy == raw_policy(policy) && r.record_bytes == size
                })
                .map(|r| r.mb_per_sec)
        };
        let tansu_fetch = |size: usize| {
            self.fetch
                .iter()
                .find(|r| r.target == "tansu" && r.record_bytes == size)
                .map(|r| r.mb_per_sec)
        };
        let ratios: Vec<_> = self
            .fetch
            .iter()
            .map(|row| match row.target.as_str() {
                "raw" => (None, None),
                "tansu" => (
                    ratio(row.mb_per_sec, raw_fetch(&row.policy, row.record_bytes)),
                    None,
                ),
                _ => (
                    ratio(row.mb_per_sec, raw_fetch(&row.policy, row.record_bytes)),
                    ratio(row.mb_per_sec, tansu_fetch(row.record_bytes)),
                ),
            })
            .collect();
        for (row, (vs_raw, vs_tansu)) in self.fetch.iter_mut().zip(ratios) {
            row.vs_raw = vs_raw;
            row.vs_tansu = vs_tansu;
        }
        let vs_base: Vec<_> = self
            .produce
            .iter()
            .map(|row| {
                let base = baseline_of(&row.target)?;
                ratio(row.mb_per_sec, same_case(&self.produce, base, row))
            })
            .collect();
        for (row, vs_base) in self.produce.iter_mut().zip(vs_base) {
            row.vs_base = vs_base;
        }
        let vs_base: Vec<_> = self
            .fetch
            .iter()
            .map(|row| {
                let base = baseline_of(&row.target)?;
                let other = self.fetch.iter().find(|r| {
                    r.target == base
                        && r.partitions == row.partitions
                        && r.record_bytes == row.record_bytes
                })?;
                ratio(row.mb_per_sec, Some(other.mb_per_sec))
            })
            .collect();
        for (row, vs_base) in self.fetch.iter_mut().zip(vs_base) {
            row.vs_base = vs_base;
        }
        crate::txn_report::finish(&mut self.transactions);
        self.checks = self.derive_checks();
    }

    fn derive_checks(&self) -> Vec<Check> {
        let mut checks = Vec::new();
        let fjord = |row: &&ProduceRow| row.target.starts_with("fjord");
        for row in self.produce.iter().filter(fjord) {
            // Without a baseline row (a subset run, or a failed baseline,
            // which has its own note) there is nothing to hold the figure against.
            if row.record_bytes != 1024 || row.acks.as_deref() != Some("1") {
                continue;
            }
            for (baseline, value) in [("raw", row.vs_raw), ("raw-kafka", row.vs_raw_kafka)] {
                let Some(value) = value else { continue };
                checks.push(Check {
                    name: format!(
                        "{} 1 KiB acks=1 partitions={} vs {baseline} {}",
                        row.target,
                        row.partitions.unwrap_or(0),
                        raw_policy(&row.policy)
                    ),
                    value: Some(value),
                    target: format!(">= {MIN_RAW_RATIO:.2}"),
                    pass: value >= MIN_RAW_RATIO,
                });
            }
        }
        let mut targets: Vec<&str> = self
            .produce
            .iter()
            .filter(fjord)
            .map(|r| r.target.as_str())
            .collect();
        targets.dedup();
        for target in targets {
            let worst = self
                .produce
                .iter()
                .filter(|r| r.target == target)
                .filter_map(|r| r.vs_tansu)
                .fold(None, |worst: Option<f64>, r| {
                    Some(worst.map_or(r, |w| w.min(r)))
                });
            if let Some(worst) = worst {
                checks.push(Check {
                    name: format!("{target} ahead of tansu in every produce case (worst ratio)"),
                    value: Some(worst),
                    target: "> 1.00".into(),
                    pass: worst > 1.0,
                });
            }
        }
        for memory in self.memory.iter().filter(|m| m.target.starts_with("fjord")) {
            checks.push(Check {
                name: format!("{} peak RSS (MiB)", memory.target),
                value: memory.peak_rss_bytes.map(mib),
                target: format!("<= {}", MAX_PEAK_RSS >> 20),
                pass: memory.peak_rss_bytes.is_some_and(|b| b <= MAX_PEAK_RSS),
            });
            if let Some(idle) = memory.idle_rss_1000_partitions_bytes {
                checks.push(Check {
                    name: format!("{} idle RSS with 1,000 partitions (MiB)", memory.target),
                    value: Some(mib(idle)),
                    target: format!("<= {}", MAX_IDLE_RSS >> 20),
                    pass: idle <= MAX_IDLE_RSS,
                });
            }
        }
        checks
    }

    /// The human-readable table.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "\nPRODUCE (MB = 10^6 bytes of record values; latency = send to delivery report, ms)"
        );
        let _ = writeln!(
            out,
            "{:<11} {:<6} {:<4} {:>5} {:>6} {:>10} {:>8} {:>7} {:>10} {:>8} {:>8} {:>8} {:>5} {:>7} {:>7} {:>8} {:>7} {:>7} {:>7}",
            "target",
            "policy",
            "acks",
            "parts",
            "size",
            "records",
            "MB/s",
            "spread",
            "rec/s",
            "p50",
            "p99",
            "p999",
            "cpu",
            "cpu-s/GB",
            "vs-raw",
            "vs-tansu",
            "vs-mock",
            "vs-rawk",
            "vs-base"
        );
        for row in &self.produce {
            let (p50, p99, p999) = row.latency.map_or((None, None, None), |l| {
                (Some(l.p50_ms), Some(l.p99_ms), Some(l.p999_ms))
            });
            let _ = writeln!(
                out,
                "{:<11} {:<6} {:<4} {:>5} {:>6} {:>10} {:>8.1} {:>7} {:>10.0} {:>8} {:>8} {:>8} {:>5} {:>7} {:>7} {:>8} {:>7} {:>7} {:>7}{}",
                row.target,
                row.policy,
                row.acks.as_deref().unwrap_or("-"),
                row.partitions.map_or("-".into(), |p| p.to_string()),
                size(row.record_bytes),
                row.records,
                row.mb_per_sec,
                spread(&row.runs_mb_per_sec),
                row.records_per_sec,
                millis(p50),
                millis(p99),
                millis(p999),
                cores(row.broker_cores),
                cpu_per_gb(cpu_seconds_per_gb(row.broker_cores, row.mb_per_sec)),
                percent(row.vs_raw),
                percent(row.vs_tansu),
                percent(row.vs_mock),
                percent(row.vs_raw_kafka),
                percent(row.vs_base),
                if row.errors > 0 {
                    format!(
                        "  ({} errors: {})",
                        row.errors,
                        row.first_error.as_deref().unwrap_or("?")
                    )
                } else {
                    String::new()
                },
            );
        }
        let _ = writeln!(
            out,
            "\nFETCH (catch-up read of everything from the beginning)"
        );
        let _ = writeln!(
            out,
            "{:<11} {:<6} {:>5} {:>6} {:>10} {:>8} {:>7} {:>10} {:>5} {:>8} {:>7} {:>8} {:>7}",
            "target",
            "policy",
            "parts",
            "size",
            "records",
            "MB/s",
            "spread",
            "rec/s",
            "cpu",
            "cpu-s/GB",
            "vs-raw",
            "vs-tansu",
            "vs-base"
        );
        for row in &self.fetch {
            let _ = writeln!(
                out,
                "{:<11} {:<6} {:>5} {:>6} {:>10} {:>8.1} {:>7} {:>10.0} {:>5} {:>8} {:>7} {:>8} {:>7}",
                row.target,
                row.policy,
                row.partitions.map_or("-".into(), |p| p.to_string()),
                size(row.record_bytes),
                row.records,
                row.mb_per_sec,
                spread(&row.runs_mb_per_sec),
                row.records_per_sec,
                cores(row.broker_cores),
                cpu_per_gb(cpu_seconds_per_gb(row.broker_cores, row.mb_per_sec)),
                percent(row.vs_raw),
                percent(row.vs_tansu),
                percent(row.vs_base),
            );
        }
        let _ = writeln!(out, "\nMEMORY (resident set of the broker process, MiB)");
        let _ = writeln!(
            out,
            "{:<11} {:>8} {:>11} {:>16} {:>8}",
            "target", "idle", "idle+1000p", "idle-after-load", "peak"
        );
        for row in &self.memory {
            let _ = writeln!(
                out,
                "{:<11} {:>8} {:>11} {:>16} {:>8}",
                row.target,
                mib_text(row.idle_rss_bytes),
                mib_text(row.idle_rss_1000_partitions_bytes),
                mib_text(row.idle_rss_after_load_bytes),
                mib_text(row.peak_rss_bytes),
            );
        }
        crate::group_report::render(&self.groups, &mut out);
        crate::txn_report::render(&self.transactions, &mut out);
        let _ = writeln!(out, "\nCHECKS");
        for check in &self.checks {
            let _ = writeln!(
                out,
                "{:<4} {:<62} {:>8} (target {})",
                if check.pass { "ok" } else { "MISS" },
                check.name,
                check.value.map_or("-".into(), |v| format!("{v:.2}")),
                check.target,
            );
        }
        for note in &self.notes {
            let _ = writeln!(out, "note: {}: {}", note.what, note.why);
        }
        out
    }

    /// The whole report as one JSON line.
    pub fn json_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|error| format!("{{\"error\":\"{error}\"}}"))
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / f64::from(1u32 << 20)
}

fn mib_text(bytes: Option<u64>) -> String {
    bytes.map_or("-".into(), |b| format!("{:.1}", mib(b)))
}

/// `100 B`, `1 KiB`, ...
pub fn size(bytes: usize) -> String {
    if bytes >= 1024 && bytes.is_multiple_of(1024) {
        format!("{}KiB", bytes / 1024)
    } else {
        format!("{bytes}B")
    }
}

/// How far apart the runs of a case were: (max - min) / median, or "-" for
/// a single run.
pub fn spread(runs: &[f64]) -> String {
    if runs.len() < 2 {
        return "-".into();
    }
    let mut sorted = runs.to_vec();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[(sorted.len() - 1) / 2];
    if median <= 0.0 {
        return "-".into();
    }
    format!(
        "{:.0}%",
        (sorted[sorted.len() - 1] - sorted[0]) / median * 100.0
    )
}

/// The median run by MB/s, taken out of `runs`, with the MB/s of every run
/// in run order; `None` when no run worked.
pub fn take_median<T>(mut runs: Vec<T>, mb_per_sec: impl Fn(&T) -> f64) -> Option<(T, Vec<f64>)> {
    let all: Vec<f64> = runs.iter().map(mb_per_sec).collect();
    let median = median_index(&all)?;
    Some((runs.swap_remove(median), all))
}

/// Index of the median of `values` (the lower one of an even count).
pub fn median_index(values: &[f64]) -> Option<usize> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|a, b| values[*a].total_cmp(&values[*b]));
    order.get((values.len().max(1) - 1) / 2).copied()
}

/// A ratio as a whole percentage, `-` when there is none.
pub fn percent(ratio: Option<f64>) -> String {
    ratio.map_or("-".into(), |r| format!("{:.0}%", r * 100.0))
}

fn cores(cores: Option<f64>) -> String {
    cores.map_or("-".into(), |c| format!("{c:.2}"))
}

fn cpu_per_gb(seconds: Option<f64>) -> String {
    seconds.map_or("-".into(), |s| format!("{s:.2}"))
}

fn millis(ms: Option<f64>) -> String {
    match ms {
        None => "-".into(),
        Some(ms) if ms < 10.0 => format!("{ms:.2}"),
        Some(ms) => format!("{ms:.1}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn produce(
        target: &str,
        policy: &str,
        acks: Option<&str>,
        partitions: Option<i32>,
        bytes: usize,
        mbps: f64,
    ) -> ProduceRow {
        ProduceRow {
            target: target.into(),
            policy: policy.into(),
            acks: acks.map(Into::into),
            partitions,
            record_bytes: bytes,
            records: 1000,
            seconds: 1.0,
            mb_per_sec: mbps,
            records_per_sec: 1000.0,
            latency: Some(Latency {
                p50_ms: 1.5,
                p99_ms: 12.5,
                p999_ms: 40.0,
            }),
            errors: 0,
            first_error: None,
            broker_cores: Some(1.25),
            vs_raw: None,
            vs_tansu: None,
            vs_mock: None,
            vs_raw_kafka: None,
            vs_base: None,
            runs_mb_per_sec: Vec::new(),
        }
    }

    fn report() -> Report {
        Report {
            produce: vec![
                produce("raw", "sync", None, None, 1024, 200.0),
                produce("raw", "os", None, None, 1024, 400.0),
                produce("raw-kafka", "sync", Some("1"), Some(8), 1024, 160.0),
                produce("raw-kafka", "os", Some("1"), Some(8), 1024, 250.0),
                produce("fjord-sync", "sync", Some("1"), Some(8), 1024, 150.0),
                produce("fjord-os", "os", Some("1"), Some(8), 1024, 200.0),
                produce("tansu", "memory", Some("1"), Some(8), 1024, 100.0),
            ],
            memory: vec![MemoryRow {
                target: "fjord-sync".into(),
                idle_rss_bytes: Some(10 << 20),
                idle_rss_1000_partitions_bytes: Some(70 << 20),
                idle_rss_after_load_bytes: Some(30 << 20),
                peak_rss_bytes: Some(200 << 20),
            }],
            ..Report::default()
        }
    }

    #[test]
    fn ratios_meet_the_raw_run_of_the_same_policy_and_size() {
        let mut report = report();
        report.finish();
        let by_target = |t: &str| report.produce.iter().find(|r| r.target == t).expect("row");
        assert_eq!(by_target("fjord-sync").vs_raw, Some(0.75));
        assert_eq!(by_target("fjord-os").vs_raw, Some(0.5));
        assert_eq!(
            by_target("tansu").vs_raw,
            Some(0.25),
            "tansu meets the os sink"
        );
        assert_eq!(by_target("fjord-sync").vs_tansu, Some(1.5));
        assert_eq!(by_target("raw").vs_raw, None);
        assert_eq!(by_target("fjord-sync").vs_raw_kafka, Some(150.0 / 160.0));
        assert_eq!(by_target("fjord-os").vs_raw_kafka, Some(0.8));
        assert_eq!(
            by_target("tansu").vs_raw_kafka,
            Some(0.4),
            "tansu meets the os sink"
        );
        assert_eq!(by_target("raw-kafka").vs_raw_kafka, None);
    }

    #[test]
    fn a_baseline_broker_gives_each_fjord_row_its_ratio_and_cpu_per_gb_is_cores_over_throughput() {
        let mut report = report();
        report.produce.push(produce(
            "base-sync",
            "sync",
            Some("1"),
            Some(8),
            1024,
            100.0,
        ));
        report.finish();
        let row = |t: &str| report.produce.iter().find(|r| r.target == t).expect("row");
        assert_eq!(row("fjord-sync").vs_base, Some(1.5));
        assert_eq!(row("fjord-os").vs_base, None, "no base-os row was measured");
        assert_eq!(row("base-sync").vs_base, None);
        // 1.25 cores at 150 MB/s: 1.25 CPU-seconds per 150 MB, 8.33 per GB.
        assert_eq!(
            cpu_seconds_per_gb(row("fjord-sync").broker_cores, 150.0).map(|s| format!("{s:.2}")),
            Some("8.33".to_owned())
        );
        let table = report.render();
        let line = table
            .lines()
            .find(|l| l.starts_with("fjord-sync") && l.contains("KiB"))
            .expect("fjord-sync row");
        assert!(line.ends_with("150%") && line.contains("8.33"), "{line}");
    }

    #[test]
    fn checks_hold_each_figure_against_its_target() {
        let mut report = report();
        report.finish();
        let check = |prefix: &str| {
            report
                .checks
                .iter()
                .find(|c| c.name.starts_with(prefix))
                .unwrap_or_else(|| panic!("no check {prefix}"))
        };
        assert!(check("fjord-sync 1 KiB acks=1 partitions=8").pass);
        assert!(!check("fjord-os 1 KiB acks=1 partitions=8 vs raw os").pass);
        assert!(check("fjord-os 1 KiB acks=1 partitions=8 vs raw-kafka os").pass);
        assert!(check("fjord-sync 1 KiB acks=1 partitions=8 vs raw-kafka sync").pass);
        assert!(check("fjord-sync ahead of tansu").pass);
        assert!(check("fjord-sync peak RSS").pass);
        assert!(!check("fjord-sync idle RSS").pass);
    }

    #[test]
    fn table_shows_ratios_and_latencies() {
        let mut report = report();
        report.finish();
        let table = report.render();
        let line = table
            .lines()
            .find(|l| l.starts_with("fjord-sync") && l.contains("KiB"))
            .expect("fjord-sync row");
        assert!(line.contains("75%"), "{line}");
        assert!(line.contains("1.25"), "{line}");
        assert!(line.contains("150%"), "{line}");
        assert!(
            line.contains("1.50") && line.contains("12.5") && line.contains("40.0"),
            "{line}"
        );
        assert!(table.contains("MISS"), "{table}");
    }

    #[test]
    fn json_is_one_parseable_line() {
        let mut report = report();
        report.finish();
        let line = report.json_line();
        assert!(!line.contains('\n'));
        let value: serde_json::Value = serde_json::from_str(&line).expect("valid JSON");
        assert_eq!(value["produce"][4]["vs_raw"], serde_json::json!(0.75));
        assert_eq!(
            value["memory"][0]["peak_rss_bytes"],
            serde_json::json!(200u64 << 20)
        );
    }

    #[test]
    fn sizes_and_percentages_read_naturally() {
        assert_eq!(size(100), "100B");
        assert_eq!(size(1024), "1KiB");
        assert_eq!(percent(Some(0.704)), "70%");
        assert_eq!(percent(None), "-");
        assert_eq!(millis(Some(12.5)), "12.5");
        assert_eq!(millis(Some(1.5)), "1.50");
    }

    #[test]
    fn the_median_run_is_the_middle_one_and_the_lower_middle_of_an_even_count() {
        assert_eq!(median_index(&[5.0, 1.0, 3.0]), Some(2));
        assert_eq!(median_index(&[4.0, 1.0, 3.0, 2.0]), Some(3));
        assert_eq!(median_index(&[7.0]), Some(0));
        assert_eq!(median_index(&[]), None);
    }

    #[test]
    fn the_median_run_is_taken_out_with_every_runs_figure_in_order() {
        let runs = vec![("a", 5.0), ("b", 1.0), ("c", 3.0)];
        let (median, all) = take_median(runs, |(_, mbps)| *mbps).expect("runs");
        assert_eq!(median, ("c", 3.0));
        assert_eq!(all, vec![5.0, 1.0, 3.0]);
        assert!(take_median(Vec::<f64>::new(), |v| *v).is_none());
    }

    #[test]
    fn spread_is_the_range_over_the_median() {
        assert_eq!(spread(&[90.0, 100.0, 110.0]), "20%");
        assert_eq!(spread(&[100.0]), "-");
        assert_eq!(spread(&[0.0, 0.0]), "-");
    }
}
