//! What a test checks of a consumer group of member processes (`members.rs`) on one topic:
//! records produced to every partition, every one of them read by the member that owned its
//! partition at the time, and the group's committed offsets ending at the end offsets.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::{ClientConfig, TopicPartitionList};

use crate::kafka::{Delivered, keyed_records, produce_all, producer};
use crate::members::Members;

/// The topic a group reads: its name and partition count.
#[derive(Debug, Clone, Copy)]
pub struct GroupTopic<'a> {
    pub name: &'a str,
    pub partitions: i32,
}

impl GroupTopic<'_> {
    /// Produces `count` keyed records tagged `tag`; fails unless they reach every partition.
    pub async fn produce(
        &self,
        bootstrap: &str,
        tag: &str,
        count: usize,
    ) -> anyhow::Result<Vec<Delivered>> {
        let records = keyed_records(tag, count, 20);
        let delivered = produce_all(&producer(bootstrap, &[])?, self.name, &records, count).await?;
        let partitions: BTreeSet<i32> = delivered.iter().map(|d| d.partition).collect();
        if partitions != (0..self.partitions).collect() {
            bail!("the {tag} records reached only partitions {partitions:?}");
        }
        Ok(delivered)
    }

    /// The group's committed offset per partition, as librdkafka's OffsetFetch reads it
    /// (partitions without a commit left out).
    pub fn committed(&self, bootstrap: &str, group: &str) -> anyhow::Result<BTreeMap<i32, i64>> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .create()?;
        let mut list = TopicPartitionList::new();
        for partition in 0..self.partitions {
            list.add_partition(self.name, partition);
        }
        Ok(consumer
            .committed_offsets(list, Duration::from_secs(10))
            .context("OffsetFetch")?
            .elements()
            .iter()
            .filter_map(|e| Some((e.partition(), e.offset().to_raw().filter(|o| *o >= 0)?)))
            .collect())
    }

    /// Waits until the group's committed offsets are the end offsets of `delivered`;
    /// returns them.
    pub fn wait_for_end_offsets_committed(
        &self,
        bootstrap: &str,
        group: &str,
        delivered: &[Delivered],
        members: &Members,
    ) -> anyhow::Result<BTreeMap<i32, i64>> {
        let mut ends: BTreeMap<i32, i64> = BTreeMap::new();
        for record in delivered {
            let end = ends.entry(record.partition).or_default();
            *end = (*end).max(record.offset + 1);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut last = self.committed(bootstrap, group)?;
        while last != ends {
            if Instant::now() >= deadline {
                bail!(
                    "committed {last:?}, end offsets {ends:?}\n{}",
                    members.transcripts()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
            last = self.committed(bootstrap, group)?;
        }
        Ok(ends)
    }
}

/// Waits until the members together printed every `delivered` record, and fails if one
/// printed a record of a partition it did not own then.
pub fn expect_every_record_once_owned(
    members: &mut Members,
    delivered: &[Delivered],
) -> anyhow::Result<()> {
    let expected: BTreeSet<(i32, i64)> =
        delivered.iter().map(|d| (d.partition, d.offset)).collect();
    members.wait_until(
        Duration::from_secs(60),
        "every produced record",
        |members| {
            let seen: BTreeSet<(i32, i64)> = members
                .iter()
                .flat_map(|m| m.records().iter().copied())
                .collect();
            seen.is_superset(&expected)
        },
    )?;
    for member in members.members() {
        if !member.foreign_records().is_empty() {
            bail!(
                "{} printed records of partitions it did not own: {:?}\n{}",
                member.name,
                member.foreign_records(),
                member.transcript()
            );
        }
    }
    Ok(())
}
