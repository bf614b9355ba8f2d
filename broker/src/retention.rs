//! The retention task: every `log.retention.check.interval.ms`, each
//! partition deletes whole closed segments past its `retention.ms` or
//! `retention.bytes` (the log decides which; the active segment is kept).

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::api::now_ms;
use crate::topics::Topics;

/// Runs until `shutdown` fires.
pub async fn run(topics: Arc<Topics>, interval: Duration, shutdown: CancellationToken) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await; // the first tick is immediate; start after one interval
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let topics = topics.clone();
        let pass = tokio::task::spawn_blocking(move || apply_everywhere(&topics)).await;
        if let Err(error) = pass {
            tracing::error!(%error, "retention pass panicked");
        }
    }
}

fn apply_everywhere(topics: &Topics) {
    let now = now_ms();
    for partition in topics.all_partitions() {
        match partition.log().apply_retention(now) {
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
