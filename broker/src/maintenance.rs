//! Periodic log maintenance, each pass on a blocking thread:
//! - retention, every `log.retention.check.interval.ms`: each partition
//!   deletes whole closed segments past its `retention.ms` or
//!   `retention.bytes` (the log decides which; the active segment is kept);
//! - recovery-point checkpoints, every `log.flush.offset.checkpoint.interval.ms`:
//!   each partition whose recovery point moved writes it to its checkpoint
//!   file, without holding the log, so producers never wait on that file;
//! - log compaction, every `log.cleaner.backoff.ms` (unless `log.cleaner.enable`
//!   is false): the compacted partitions that are due (dirty ratio reached or
//!   `max.compaction.lag.ms` passed) are cleaned one at a time, overdue ones
//!   first, then the dirtiest first. A partition's lock is held only to plan
//!   and to swap in (`log/cleaner.rs`); the key map gets
//!   `log.cleaner.dedupe.buffer.size / log.cleaner.threads` bytes.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::api::now_ms;
use crate::topics::Topics;

/// Runs `pass` every `interval` (the first after one interval) until
/// `shutdown` fires.
pub async fn run(
    topics: Arc<Topics>,
    interval: Duration,
    shutdown: CancellationToken,
    what: &'static str,
    pass: fn(&Topics),
) {
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

/// One cleaner pass: every compacted partition that is due, the most urgent first.
pub fn clean_logs(topics: &Topics) {
    let now = now_ms();
    let settings = topics.settings();
    let budget = cleaner_budget(
        settings.log_cleaner_dedupe_buffer_size,
        settings.log_cleaner_threads,
    );
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
    for (cleanable, partition) in due {
        match partition.clean(now_ms(), budget) {
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
}
