//! What happens to partitions that other parts of the broker act on: the group and transaction
//! coordinators load their state when this broker becomes a partition's leader and unload it
//! when it stops leading; the tiering uploader starts from a rolled segment.
//!
//! Delivered through a [`tokio::sync::broadcast`] channel shared by every partition of the
//! broker. A subscriber that falls more than [`CAPACITY`] events behind is told so
//! (`RecvError::Lagged`) and must resynchronise from the partitions' current state.

use tokio::sync::broadcast;

/// Events held for the slowest subscriber.
pub const CAPACITY: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartitionEvent {
    /// This broker now leads the partition, at `leader_epoch`.
    BecameLeader {
        topic: String,
        partition: i32,
        leader_epoch: i32,
    },
    /// This broker stopped leading the partition (it was deleted, or leadership moved).
    StoppedLeading { topic: String, partition: i32 },
    /// The active segment was closed; the new one starts at `active_base_offset`, so every
    /// segment below it is closed and will not change.
    SegmentRolled {
        topic: String,
        partition: i32,
        active_base_offset: i64,
    },
}

/// The sending side, cloned into every partition.
#[derive(Debug, Clone)]
pub struct Events(broadcast::Sender<PartitionEvent>);

impl Default for Events {
    fn default() -> Self {
        Events(broadcast::Sender::new(CAPACITY))
    }
}

impl Events {
    pub fn subscribe(&self) -> broadcast::Receiver<PartitionEvent> {
        self.0.subscribe()
    }

    /// Sends to whoever subscribes now; with no subscriber the event is dropped, which is fine:
    /// a subscriber starts from the partitions' state, then follows events.
    pub(super) fn send(&self, event: PartitionEvent) {
        let _ = self.0.send(event);
    }
}
