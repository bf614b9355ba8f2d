//! Periodic log maintenance, each pass on a blocking thread:
//! - retention, every `log.retention.check.interval.ms`: each partition
//!   deletes whole closed segments past its `retention.ms` or
//!   `retention.bytes` (the log decides which; the active segment is kept);
//! - recovery-point checkpoints, every `log.flush.offset.checkpoint.interval.ms`:
//!   each partition whose recovery point moved writes it to its checkpoint
//!   file, without holding the log, so producers never wait on that file;
//! - producer id expiration, every `producer.id.expiration.check.interval.ms`: each
//!   partition forgets producers idle for `producer.id.expiration.ms` with no open
//!   transaction;
//! - log compaction, every `log.cleaner.backoff.ms` (unless `log.cleaner.enable`
//!   is false or `log.cleaner.threads` is 0): the compacted partitions that are
//!   due (dirty ratio reached or `max.compaction.lag.ms` passed) are cleaned,
//!   overdue ones first, then the dirtiest, by up to `log.cleaner.threads`
//!   threads ([`LogCleaner`]). A partition's lock is held only to plan and to
//!   swap in (`log/cleaner.rs`); each key map gets
//!   `log.cleaner.dedupe.buffer.size / log.cleaner.threads` bytes; all reads
//!   and writes together stay under `log.cleaner.io.max.bytes.per.second`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::api::now_ms;
use crate::config::BrokerSettings;
use crate::log::{Cleanable, Throttle};
use crate::partition::Partition;
use crate::topics::Topics;

/// Runs `pass` every `interval` (the first after one interval) until
/// `shutdown` fires.
pub async fn run(
    topics: Arc<Topics>,
    interval: Duration,
    shutdown: CancellationToken,
    what: &'static str,
    pass: impl Fn(&Topics) + Send + Sync + 'static,
) {
    let pass = Arc::new(pass);
    // A zero interval (`log.cleaner.backoff.ms=0`) would make the timer panic.
    let mut ticks = tokio::time::interval(interval.max(Duration::from_millis(1)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await; // the first tick is immediate; start after one interval
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let topics = topics.clone();
        let pass = pass.clone();
        let outcome = tokio::task::spawn_blocking(move || pass(&topics)).await;
        if let Err(error) = outcome {
            tracing::error!(%error, what, "maintenance pass panicked");
        }
    }
}

/// One retention pass over every partition.
pub fn apply_retention(topics: &Topics) {
    let now = now_ms();
    for partition in topics.all_partitions() {
        match partition.apply_retention(now) {
            Ok(0) => {}
            Ok(deleted) => {
                tracing::info!(topic = %partition.topic, partition = partition.index, deleted, "retention deleted segments");
            }
            Err(error) => {
                tracing::warn!(topic = %partition.topic, partition = partition.index, %error, "retention failed");
            }
        }
    }
}

/// The log cleaner, as Kafka's `LogCleaner`: up to `log.cleaner.threads` partitions are cleaned
/// at once, each clean's key map gets `log.cleaner.dedupe.buffer.size / log.cleaner.threads`
/// bytes (so all of them together stay within the buffer), and every clean reads and writes
/// through one throttle of `log.cleaner.io.max.bytes.per.second` in total.
pub struct LogCleaner {
    threads: usize,
    budget: usize,
    io: Throttle,
}

impl LogCleaner {
    pub fn new(settings: &BrokerSettings) -> LogCleaner {
        LogCleaner {
            threads: usize::try_from(settings.log_cleaner_threads).unwrap_or(usize::MAX),
            budget: cleaner_budget(
                settings.log_cleaner_dedupe_buffer_size,
                settings.log_cleaner_threads,
            ),
            io: Throttle::new(settings.log_cleaner_io_max_bytes_per_second),
        }
    }

    /// Abandons the cleans in progress at their next read or write, and cleans no more: the
    /// broker is shutting down.
    pub fn stop(&self) {
        self.io.stop();
    }

    /// One pass: every compacted partition that is due, the most urgent first, `threads` at
    /// a time.
    pub fn clean_logs(&self, topics: &Topics) {
        if self.threads == 0 || self.io.is_stopped() {
            return;
        }
        let now = now_ms();
        let mut due = Vec::new();
        for partition in topics.all_partitions() {
            match partition.cleanable(now) {
                Ok(Some(cleanable)) if cleanable.due => due.push((cleanable, partition)),
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(topic = %partition.topic, partition = partition.index, %error, "measuring how dirty a log is failed");
                }
            }
        }
        due.sort_by(|(a, _), (b, _)| {
            b.overdue
                .cmp(&a.overdue)
                .then(b.dirty_ratio.total_cmp(&a.dirty_ratio))
        });
        let workers = self.threads.min(due.len());
        let queue = Mutex::new(due.into_iter());
        let work = || {
            loop {
                let next = queue
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .next();
                let Some((cleanable, partition)) = next else {
                    return;
                };
                self.clean_one(&cleanable, &partition);
            }
        };
        std::thread::scope(|scope| {
            for _ in 1..workers {
                scope.spawn(work);
            }
            work();
        });
    }

    fn clean_one(&self, cleanable: &Cleanable, partition: &Partition) {
        tracing::info!(topic = %partition.topic, partition = partition.index,
            dirty_ratio = cleanable.dirty_ratio, "cleaning log");
        match partition.clean(now_ms(), self.budget, &self.io) {
            Ok(Some(outcome)) => {
                tracing::info!(topic = %partition.topic, partition = partition.index,
                    dirty_ratio = cleanable.dirty_ratio, segments_before = outcome.segments_before,
                    segments_after = outcome.segments_after, bytes_before = outcome.bytes_before,
                    bytes_after = outcome.bytes_after, "compacted log");
            }
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(topic = %partition.topic, partition = partition.index, %error, "log compaction failed");
            }
        }
    }
}

/// Bytes of key map per clean: Kafka shares the dedupe buffer among its cleaner threads.
fn cleaner_budget(dedupe_buffer_size: u64, threads: u32) -> usize {
    usize::try_from(dedupe_buffer_size / u64::from(threads.max(1))).unwrap_or(usize::MAX)
}

/// Writes every partition's moved recovery point to its checkpoint file; the
/// log is locked only to read the point.
/// Forgets, in every partition, producers idle for `expiration_ms`.
pub fn expire_producers(topics: &Topics, expiration_ms: i64) {
    let now = now_ms();
    let expired: usize = topics
        .all_partitions()
        .iter()
        .map(|partition| partition.expire_producers(now, expiration_ms))
        .sum();
    if expired > 0 {
        tracing::info!(expired, "forgot idle producer ids");
    }
}

pub fn checkpoint_recovery_points(topics: &Topics) {
    for partition in topics.all_partitions() {
        let checkpoint = partition.recovery_checkpoint();
        if let Err(error) = checkpoint.write() {
            tracing::warn!(topic = %partition.topic, partition = partition.index, %error, "writing the recovery-point checkpoint failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::config::BrokerSettings;
    use crate::log::test_batch::batch_of;
    use crate::topics::NewTopic;

    #[test]
    fn a_checkpoint_pass_writes_moved_recovery_points_once() {
        let dir = tempfile::tempdir().unwrap();
        let topics = Topics::open(dir.path(), BrokerSettings::default(), false).unwrap();
        let topic = NewTopic {
            name: "t".to_owned(),
            partitions: 1,
            replication_factor: -1,
            configs: BTreeMap::from([("segment.bytes".to_owned(), "1024".to_owned())]),
        };
        topics.create(&topic, false).unwrap();
        let partition = topics.partition("t", 0).unwrap();
        for i in 0..30 {
            partition
                .log()
                .append(&mut batch_of(4, 1_000, i), 0, 2_000)
                .unwrap();
        }
        let file = dir.path().join("t-0/recovery-point-offset-checkpoint");
        assert!(partition.log().active_base_offset() > 0, "the log rolled");
        // Rolled segments are fsynced in the background and the recovery point
        // moves at the next append after that; the pass then writes it.
        let point = |text: &str| text.lines().nth(2).and_then(|l| l.parse::<i64>().ok());
        let mut written = None;
        for _ in 0..500 {
            partition
                .log()
                .append(&mut batch_of(1, 1_000, 0), 0, 2_000)
                .unwrap();
            checkpoint_recovery_points(&topics);
            written = std::fs::read_to_string(&file)
                .ok()
                .and_then(|text| point(&text));
            if written.is_some_and(|p| p > 0) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let written = written.expect("the pass wrote a checkpoint");
        assert!(written > 0, "the checkpoint moved past the first segment");
        assert!(written <= partition.log().active_base_offset());
    }

    /// Three compacted topics, each with 60 updates to three keys over small segments.
    fn dirty_topics(dir: &std::path::Path, threads: u32) -> (Topics, Vec<u64>) {
        let settings = BrokerSettings {
            log_cleaner_threads: threads,
            ..BrokerSettings::default()
        };
        let topics = Topics::open(dir, settings, false).unwrap();
        let mut sizes = Vec::new();
        for name in ["a", "b", "c"] {
            let topic = NewTopic {
                name: name.to_owned(),
                partitions: 1,
                replication_factor: -1,
                configs: BTreeMap::from([
                    ("cleanup.policy".to_owned(), "compact".to_owned()),
                    ("segment.bytes".to_owned(), "1024".to_owned()),
                    ("min.cleanable.dirty.ratio".to_owned(), "0.01".to_owned()),
                ]),
            };
            topics.create(&topic, false).unwrap();
            let partition = topics.partition(name, 0).unwrap();
            for i in 0..60 {
                let key = format!("k{}", i % 3);
                let batch = crate::log::builder::BatchBuilder::new(now_ms())
                    .record(Some(key.as_bytes()), Some(&[b'v'; 50][..]), now_ms())
                    .build();
                // Through the partition, so the high watermark (and the last stable offset
                // that bounds cleaning) follows.
                partition
                    .append(
                        bytes::Bytes::from(batch),
                        crate::partition::AppendOrigin::Client,
                        now_ms(),
                    )
                    .unwrap();
            }
            partition.log().wait_for_rolls().unwrap();
            sizes.push(partition.log().size_bytes());
        }
        (topics, sizes)
    }

    fn sizes(topics: &Topics) -> Vec<u64> {
        ["a", "b", "c"]
            .map(|name| topics.partition(name, 0).unwrap().log().size_bytes())
            .to_vec()
    }

    #[test]
    fn a_pass_with_several_cleaner_threads_cleans_every_due_partition() {
        let dir = tempfile::tempdir().unwrap();
        let (topics, before) = dirty_topics(dir.path(), 2);
        LogCleaner::new(topics.settings()).clean_logs(&topics);
        for (after, before) in sizes(&topics).into_iter().zip(before) {
            assert!(after < before / 2, "{after} bytes of {before}");
        }
    }

    #[test]
    fn zero_cleaner_threads_clean_nothing_as_in_kafka() {
        let dir = tempfile::tempdir().unwrap();
        let (topics, before) = dirty_topics(dir.path(), 0);
        LogCleaner::new(topics.settings()).clean_logs(&topics);
        assert_eq!(sizes(&topics), before);
    }

    #[test]
    fn a_stopped_cleaner_cleans_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (topics, before) = dirty_topics(dir.path(), 1);
        let cleaner = LogCleaner::new(topics.settings());
        cleaner.stop();
        cleaner.clean_logs(&topics);
        assert_eq!(sizes(&topics), before);
    }

    #[test]
    fn each_cleaner_thread_gets_an_equal_share_of_the_dedupe_buffer() {
        assert_eq!(cleaner_budget(1 << 20, 1), 1 << 20);
        assert_eq!(cleaner_budget(1 << 20, 4), 1 << 18);
        assert_eq!(cleaner_budget(1 << 20, 0), 1 << 20);
    }
}
