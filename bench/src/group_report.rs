//! The consumer-group rows of the report and their table.

use std::fmt::Write as _;

use serde::Serialize;

use crate::report::percent;

/// The group figures of one broker.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GroupRow {
    pub target: String,
    /// Members of the reading group, and the partitions they share.
    pub members: usize,
    pub partitions: i32,
    pub records: u64,
    /// Three members reading the topic from the beginning.
    pub mb_per_sec: f64,
    /// The broker's cores over the group's read.
    pub broker_cores: Option<f64>,
    /// One member (a group of its own) reading the same topic, in the same run.
    pub single_mb_per_sec: Option<f64>,
    /// `mb_per_sec` over `single_mb_per_sec`.
    pub vs_single: Option<f64>,
    /// A new group of three, from the subscribes until all hold their shares.
    pub new_group_stable_seconds: Option<f64>,
    /// The broker's `group.initial.rebalance.delay.ms` for that figure.
    pub initial_rebalance_delay_ms: u64,
    /// A third member joining a stable group of two, until all three hold their shares.
    pub member_join_stable_seconds: Option<f64>,
    /// The same with the KIP-848 consumer protocol (`group.protocol=consumer`).
    pub member_join_stable_seconds_consumer: Option<f64>,
    /// Groups of one member with one committed offset each, and the broker's resident set
    /// before and after they were made.
    pub many_groups: usize,
    /// How long making them took.
    pub many_groups_seconds: Option<f64>,
    pub rss_before_groups_bytes: Option<u64>,
    pub rss_with_groups_bytes: Option<u64>,
}

impl GroupRow {
    /// Resident bytes per group, from before and after the groups were made.
    pub fn bytes_per_group(&self) -> Option<f64> {
        let (before, after) = (self.rss_before_groups_bytes?, self.rss_with_groups_bytes?);
        (self.many_groups > 0).then(|| (after as f64 - before as f64) / self.many_groups as f64)
    }
}

fn seconds(value: Option<f64>) -> String {
    value.map_or("-".into(), |s| format!("{s:.2}"))
}

fn mib(bytes: Option<u64>) -> String {
    bytes.map_or("-".into(), |b| {
        format!("{:.1}", b as f64 / f64::from(1u32 << 20))
    })
}

/// The CONSUMER GROUPS table.
pub fn render(rows: &[GroupRow], out: &mut String) {
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\nCONSUMER GROUPS (read: members of one group from the beginning; stable: s until every member holds its share)"
    );
    let _ = writeln!(
        out,
        "{:<11} {:>7} {:>5} {:>10} {:>8} {:>9} {:>6} {:>5} {:>8} {:>10} {:>11} {:>8} {:>7} {:>10} {:>10} {:>9}",
        "target",
        "members",
        "parts",
        "records",
        "MB/s",
        "1-member",
        "vs-1",
        "cpu",
        "cpu-s/GB",
        "new-group",
        "member-join",
        "join-848",
        "groups",
        "rss-before",
        "rss-groups",
        "B/group"
    );
    for row in rows {
        let cpu_per_gb = row
            .broker_cores
            .filter(|_| row.mb_per_sec > 0.0)
            .map(|cores| cores * 1000.0 / row.mb_per_sec);
        let _ = writeln!(
            out,
            "{:<11} {:>7} {:>5} {:>10} {:>8.1} {:>9} {:>6} {:>5} {:>8} {:>10} {:>11} {:>8} {:>7} {:>10} {:>10} {:>9}",
            row.target,
            row.members,
            row.partitions,
            row.records,
            row.mb_per_sec,
            row.single_mb_per_sec
                .map_or("-".into(), |m| format!("{m:.1}")),
            percent(row.vs_single),
            row.broker_cores.map_or("-".into(), |c| format!("{c:.2}")),
            cpu_per_gb.map_or("-".into(), |s| format!("{s:.2}")),
            seconds(row.new_group_stable_seconds),
            seconds(row.member_join_stable_seconds),
            seconds(row.member_join_stable_seconds_consumer),
            row.many_groups,
            mib(row.rss_before_groups_bytes),
            mib(row.rss_with_groups_bytes),
            row.bytes_per_group()
                .map_or("-".into(), |b| format!("{b:.0}")),
        );
    }
    let _ = writeln!(
        out,
        "  new-group includes group.initial.rebalance.delay.ms ({} ms here; Kafka's default is 3000); member-join waits for the others' next heartbeat (librdkafka: every 3 s); join-848 is member-join with group.protocol=consumer (the broker's group.consumer.heartbeat.interval.ms, 5 s by default as Kafka's)",
        rows[0].initial_rebalance_delay_ms
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_per_group_is_the_growth_over_the_group_count() {
        let row = GroupRow {
            many_groups: 10_000,
            rss_before_groups_bytes: Some(20 << 20),
            rss_with_groups_bytes: Some((20 << 20) + 10_000 * 1_500),
            ..GroupRow::default()
        };
        assert_eq!(row.bytes_per_group(), Some(1_500.0));
        let unmeasured = GroupRow {
            rss_with_groups_bytes: None,
            ..row.clone()
        };
        assert_eq!(unmeasured.bytes_per_group(), None);
    }

    #[test]
    fn the_table_shows_each_figure_and_the_delay_it_was_measured_with() {
        let row = GroupRow {
            target: "fjord-sync".into(),
            members: 3,
            partitions: 6,
            records: 1000,
            mb_per_sec: 300.0,
            broker_cores: Some(0.5),
            single_mb_per_sec: Some(200.0),
            vs_single: Some(1.5),
            new_group_stable_seconds: Some(3.1),
            initial_rebalance_delay_ms: 3000,
            member_join_stable_seconds: Some(2.25),
            member_join_stable_seconds_consumer: Some(5.5),
            many_groups: 10_000,
            many_groups_seconds: Some(4.0),
            rss_before_groups_bytes: Some(20 << 20),
            rss_with_groups_bytes: Some(30 << 20),
        };
        let mut out = String::new();
        render(&[row], &mut out);
        for expected in [
            "fjord-sync",
            "300.0",
            "200.0",
            "150%",
            "1.67",
            "3.10",
            "2.25",
            "10000",
            "1049",
        ] {
            assert!(out.contains(expected), "{expected} missing from\n{out}");
        }
        assert!(out.contains("3000 ms here"));
        let mut nothing = String::new();
        render(&[], &mut nothing);
        assert!(nothing.is_empty());
    }
}
