//! The transaction rows of the report, their ratios and their table.
//!
//! Each broker (and flush policy) has one idempotent row and one row per transaction size;
//! [`finish`] holds every row against the idempotent row of the same target and policy
//! (`vs-idem`) and derives the broker's CPU-seconds per GB. Pure: no I/O.

use std::fmt::Write as _;

use serde::Serialize;

use crate::report::{cpu_seconds_per_gb, percent, size, spread};
use crate::stats::{Latency, ratio};

/// One transactional (or idempotent) produce case of one broker.
#[derive(Debug, Clone, Serialize)]
pub struct TxnRow {
    pub target: String,
    pub policy: String,
    pub partitions: i32,
    pub record_bytes: usize,
    /// Records per transaction; `None` for the idempotent baseline.
    pub records_per_transaction: Option<u64>,
    pub records: u64,
    pub transactions: u64,
    pub seconds: f64,
    pub mb_per_sec: f64,
    pub records_per_sec: f64,
    /// Committed transactions per second; `None` for the idempotent baseline.
    pub transactions_per_sec: Option<f64>,
    /// `commit_transaction` calls, the wait for the records in flight included.
    pub commit_latency: Option<Latency>,
    /// EndTxn alone: `commit_transaction` after the records were acknowledged.
    pub end_latency: Option<Latency>,
    pub errors: u64,
    pub first_error: Option<String>,
    /// As in [`crate::report::ProduceRow::broker_cores`].
    pub broker_cores: Option<f64>,
    /// Broker CPU-seconds per GB (10^9 bytes of record values).
    pub broker_cpu_seconds_per_gb: Option<f64>,
    /// MB/s over the idempotent row's of the same target and policy.
    pub vs_idem: Option<f64>,
    /// MB/s of every run of the case, in run order; the row is the median run.
    pub runs_mb_per_sec: Vec<f64>,
}

/// Fills every row's `vs_idem` and CPU-seconds per GB.
pub fn finish(rows: &mut [TxnRow]) {
    let idempotent: Vec<Option<f64>> = rows
        .iter()
        .map(|row| {
            rows.iter()
                .find(|r| {
                    r.records_per_transaction.is_none()
                        && r.target == row.target
                        && r.policy == row.policy
                        && r.partitions == row.partitions
                        && r.record_bytes == row.record_bytes
                })
                .map(|r| r.mb_per_sec)
        })
        .collect();
    for (row, idempotent) in rows.iter_mut().zip(idempotent) {
        row.vs_idem = ratio(row.mb_per_sec, idempotent);
        row.broker_cpu_seconds_per_gb = cpu_seconds_per_gb(row.broker_cores, row.mb_per_sec);
    }
}

fn millis(latency: Option<Latency>, pick: fn(&Latency) -> f64) -> String {
    latency.map_or("-".into(), |l| {
        let ms = pick(&l);
        if ms < 10.0 {
            format!("{ms:.2}")
        } else {
            format!("{ms:.1}")
        }
    })
}

/// The TRANSACTIONS table.
pub fn render(rows: &[TxnRow], out: &mut String) {
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\nTRANSACTIONS (acks=all, one producer; commit = commit_transaction incl. records in flight, end = EndTxn alone, ms)"
    );
    let _ = writeln!(
        out,
        "{:<11} {:<6} {:>5} {:>6} {:>7} {:>10} {:>8} {:>7} {:>10} {:>8} {:>8} {:>8} {:>7} {:>7} {:>5} {:>8} {:>7}",
        "target",
        "policy",
        "parts",
        "size",
        "txn",
        "records",
        "MB/s",
        "spread",
        "rec/s",
        "txn/s",
        "com-p50",
        "com-p99",
        "end-p50",
        "end-p99",
        "cpu",
        "cpu-s/GB",
        "vs-idem"
    );
    for row in rows {
        let _ = writeln!(
            out,
            "{:<11} {:<6} {:>5} {:>6} {:>7} {:>10} {:>8.1} {:>7} {:>10.0} {:>8} {:>8} {:>8} {:>7} {:>7} {:>5} {:>8} {:>7}{}",
            row.target,
            row.policy,
            row.partitions,
            size(row.record_bytes),
            row.records_per_transaction
                .map_or("idem".into(), |n| n.to_string()),
            row.records,
            row.mb_per_sec,
            spread(&row.runs_mb_per_sec),
            row.records_per_sec,
            row.transactions_per_sec
                .map_or("-".into(), |t| format!("{t:.1}")),
            millis(row.commit_latency, |l| l.p50_ms),
            millis(row.commit_latency, |l| l.p99_ms),
            millis(row.end_latency, |l| l.p50_ms),
            millis(row.end_latency, |l| l.p99_ms),
            row.broker_cores.map_or("-".into(), |c| format!("{c:.2}")),
            row.broker_cpu_seconds_per_gb
                .map_or("-".into(), |s| format!("{s:.2}")),
            percent(row.vs_idem),
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
        "  txn: records per transaction (idem: enable.idempotence, no transactions, the same producer otherwise); vs-idem: MB/s over the idem row of the same broker and policy"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(target: &str, policy: &str, per_txn: Option<u64>, mbps: f64) -> TxnRow {
        TxnRow {
            target: target.into(),
            policy: policy.into(),
            partitions: 8,
            record_bytes: 1024,
            records_per_transaction: per_txn,
            records: 100_000,
            transactions: per_txn.map_or(0, |n| 100_000 / n),
            seconds: 1.0,
            mb_per_sec: mbps,
            records_per_sec: 100_000.0,
            transactions_per_sec: per_txn.map(|n| 100_000.0 / n as f64),
            commit_latency: per_txn.map(|_| Latency {
                p50_ms: 4.5,
                p99_ms: 25.0,
                p999_ms: 30.0,
            }),
            end_latency: per_txn.map(|_| Latency {
                p50_ms: 1.25,
                p99_ms: 3.75,
                p999_ms: 4.0,
            }),
            errors: 0,
            first_error: None,
            broker_cores: Some(0.5),
            broker_cpu_seconds_per_gb: None,
            vs_idem: None,
            runs_mb_per_sec: vec![mbps],
        }
    }

    #[test]
    fn each_row_is_held_against_the_idempotent_row_of_its_own_broker_and_policy() {
        let mut rows = vec![
            row("fjord-sync", "sync", None, 200.0),
            row("fjord-sync", "sync", Some(100), 50.0),
            row("fjord-sync", "sync", Some(10_000), 180.0),
            row("fjord-os", "os", None, 400.0),
            row("fjord-os", "os", Some(100), 100.0),
            row("base-sync", "sync", Some(100), 40.0),
        ];
        finish(&mut rows);
        let vs: Vec<Option<f64>> = rows.iter().map(|r| r.vs_idem).collect();
        assert_eq!(
            vs,
            [
                Some(1.0),
                Some(0.25),
                Some(0.9),
                Some(1.0),
                Some(0.25),
                None
            ],
            "base-sync has no idempotent row of its own"
        );
        // 0.5 cores at 200 MB/s: 0.5 CPU-seconds per 200 MB, 2.5 per GB.
        assert_eq!(rows[0].broker_cpu_seconds_per_gb, Some(2.5));
        assert_eq!(rows[1].broker_cpu_seconds_per_gb, Some(10.0));
    }

    #[test]
    fn the_table_shows_rates_commit_latencies_and_the_ratio_to_idempotent() {
        let mut rows = vec![
            row("fjord-sync", "sync", None, 200.0),
            row("fjord-sync", "sync", Some(100), 50.0),
        ];
        rows[1].errors = 2;
        rows[1].first_error = Some("delivery failed: timed out".into());
        finish(&mut rows);
        let mut out = String::new();
        render(&rows, &mut out);
        assert!(out.contains("TRANSACTIONS"), "{out}");
        let fields = |txn: &str| -> Vec<String> {
            out.lines()
                .map(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
                .find(|f| {
                    f.first().is_some_and(|t| t == "fjord-sync")
                        && f.get(4).is_some_and(|t| t == txn)
                })
                .unwrap_or_else(|| panic!("no row with txn {txn} in\n{out}"))
        };
        // target policy parts size txn records MB/s spread rec/s txn/s com-p50 com-p99
        // end-p50 end-p99 cpu cpu-s/GB vs-idem
        let idem = fields("idem");
        assert_eq!(idem[6], "200.0");
        assert_eq!(idem[9..14], ["-", "-", "-", "-", "-"], "{idem:?}");
        assert_eq!(idem[15..17], ["2.50", "100%"], "{idem:?}");
        let txn = fields("100");
        assert_eq!(
            txn[6..17],
            [
                "50.0", "-", "100000", "1000.0", "4.50", "25.0", "1.25", "3.75", "0.50", "10.00",
                "25%"
            ],
            "{txn:?}"
        );
        let txn = out
            .lines()
            .find(|l| l.contains("     100 "))
            .expect("100-record row");
        assert!(
            txn.contains("(2 errors: delivery failed: timed out)"),
            "{txn}"
        );
    }

    #[test]
    fn the_report_finishes_the_rows_and_carries_them_in_its_table_and_json_line() {
        let mut report = crate::report::Report {
            transactions: vec![
                row("fjord-os", "os", None, 400.0),
                row("fjord-os", "os", Some(10_000), 300.0),
            ],
            ..crate::report::Report::default()
        };
        report.finish();
        assert!(report.render().contains("\nTRANSACTIONS ("));
        let json: serde_json::Value =
            serde_json::from_str(&report.json_line()).expect("valid JSON");
        let rows = &json["transactions"];
        assert_eq!(
            rows[1]["records_per_transaction"],
            serde_json::json!(10_000)
        );
        assert_eq!(rows[1]["vs_idem"], serde_json::json!(0.75));
        assert_eq!(rows[1]["commit_latency"]["p99_ms"], serde_json::json!(25.0));
        assert_eq!(rows[0]["transactions_per_sec"], serde_json::Value::Null);
    }

    #[test]
    fn no_rows_print_no_table() {
        let mut out = String::new();
        render(&[], &mut out);
        assert!(out.is_empty());
    }
}
