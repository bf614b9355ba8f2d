//! Partition replication, Kafka-style: followers pull from the leader; the leader tracks each
//! follower's progress, proposes ISR changes to the metadata quorum and advances the high
//! watermark; a follower whose log diverged from the leader's truncates by leader epoch first.
//!
//! This module is the sans-io core of it, so that its rules run unchanged under a seeded
//! simulation with crashes, partitions, delays and reordering (`sim/`, run by `sim_tests.rs`):
//!
//! - [`LeaderProgress`] (`progress.rs`): the leader's view of its followers — their log ends and
//!   durable ends, when each last caught up — and from it the high watermark and the ISR the
//!   leader wants.
//! - [`diverging`] and [`truncation_offset`] (`divergence.rs`): the leader's check of a
//!   follower's fetch position against its leader epochs, and where the follower cuts its log.
//!
//! The controller's side (who leads, fencing, accepting ISR changes) is
//! `cluster/leadership.rs`.

mod divergence;
mod progress;

#[cfg(test)]
mod sim;
#[cfg(test)]
mod sim_tests;

pub use divergence::{EpochEnd, diverging, truncation_offset};
pub use progress::{Counts, FollowerProgress, LeaderProgress};
