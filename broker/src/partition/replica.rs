//! The replica state of one partition on this broker, as pure data: who leads at which epoch,
//! the high watermark and the log start offsets. Every change goes through a method here, so
//! the rules are tested without a log.
//!
//! On one node this broker is the only replica: the high watermark is the log end, as it was
//! before replicas existed, so records are visible as soon as they are appended. Follower
//! progress and the ISR are kept here too; with followers in the ISR the high watermark is the
//! lowest log end offset among the leader and them.

use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaState {
    /// `Some(epoch)` while this broker leads the partition.
    leader_epoch: Option<i32>,
    /// The last epoch this replica knew, led or not (epochs never go back).
    latest_epoch: i32,
    high_watermark: i64,
    /// First offset of the whole log (with tiered storage, below the local log).
    log_start_offset: i64,
    /// First offset on the local volume.
    local_log_start_offset: i64,
    /// Log end offsets of the followers in the ISR, by broker id.
    in_sync_followers: BTreeMap<i32, i64>,
}

impl ReplicaState {
    /// A replica whose local log spans `[log_start, log_end)`, not leading yet. Everything in
    /// the local log counts as committed: recovery has kept only what may be served.
    pub fn new(log_start: i64, log_end: i64) -> Self {
        ReplicaState {
            leader_epoch: None,
            latest_epoch: -1,
            high_watermark: log_end,
            log_start_offset: log_start,
            local_log_start_offset: log_start,
            in_sync_followers: BTreeMap::new(),
        }
    }

    pub fn leader_epoch(&self) -> Option<i32> {
        self.leader_epoch
    }

    /// The epoch to report: the current one while leading, else the last known (-1: none).
    pub fn latest_epoch(&self) -> i32 {
        self.latest_epoch
    }

    pub fn high_watermark(&self) -> i64 {
        self.high_watermark
    }

    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }

    pub fn local_log_start_offset(&self) -> i64 {
        self.local_log_start_offset
    }

    /// Leads from now on at `epoch`; an epoch below the latest is refused (returned as `Err`
    /// with the latest). Says whether anything changed: the same epoch again is a no-op.
    pub fn become_leader(&mut self, epoch: i32) -> Result<bool, i32> {
        if epoch < self.latest_epoch {
            return Err(self.latest_epoch);
        }
        if self.leader_epoch == Some(epoch) {
            return Ok(false);
        }
        self.leader_epoch = Some(epoch);
        self.latest_epoch = epoch;
        self.in_sync_followers.clear();
        Ok(true)
    }

    /// Stops leading; says whether it was leading.
    pub fn stop_leading(&mut self) -> bool {
        self.in_sync_followers.clear();
        self.leader_epoch.take().is_some()
    }

    /// Checks the leader epoch a request carries (-1: none, no check), as Kafka does.
    pub fn check_epoch(&self, requested: i32) -> Result<(), EpochMismatch> {
        if requested < 0 || requested == self.latest_epoch {
            Ok(())
        } else if requested < self.latest_epoch {
            Err(EpochMismatch::Fenced(self.latest_epoch))
        } else {
            Err(EpochMismatch::Unknown(self.latest_epoch))
        }
    }

    /// Records a follower of the ISR at `log_end`.
    pub fn set_in_sync_follower(&mut self, broker: i32, log_end: i64) {
        self.in_sync_followers.insert(broker, log_end);
    }

    /// Recomputes the high watermark for a local log end of `log_end`: the lowest log end in
    /// the ISR, never moving backwards. Returns the new value when it moved.
    pub fn advance_high_watermark(&mut self, log_end: i64) -> Option<i64> {
        let lowest = self
            .in_sync_followers
            .values()
            .copied()
            .fold(log_end, i64::min);
        (lowest > self.high_watermark).then(|| {
            self.high_watermark = lowest;
            lowest
        })
    }

    /// The local log now starts at `local_start` (retention, DeleteRecords). Without a remote
    /// tier the whole log starts there too.
    pub fn set_local_log_start(&mut self, local_start: i64) {
        self.local_log_start_offset = local_start;
        self.log_start_offset = self.log_start_offset.max(local_start);
        self.high_watermark = self.high_watermark.max(local_start);
    }
}

/// How a request's leader epoch differs from the replica's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpochMismatch {
    /// Older than the replica's (which is given): FENCED_LEADER_EPOCH.
    Fenced(i32),
    /// Newer than the replica's: UNKNOWN_LEADER_EPOCH.
    Unknown(i32),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alone_the_high_watermark_follows_the_log_end_and_never_goes_back() {
        let mut replica = ReplicaState::new(0, 10);
        replica.become_leader(0).unwrap();
        assert_eq!(replica.high_watermark(), 10);
        assert_eq!(replica.advance_high_watermark(15), Some(15));
        assert_eq!(replica.advance_high_watermark(15), None);
        assert_eq!(replica.advance_high_watermark(12), None);
        assert_eq!(replica.high_watermark(), 15);
    }

    #[test]
    fn with_followers_in_sync_the_high_watermark_is_their_lowest_log_end() {
        let mut replica = ReplicaState::new(0, 0);
        replica.become_leader(3).unwrap();
        replica.set_in_sync_follower(2, 4);
        replica.set_in_sync_follower(3, 7);
        assert_eq!(replica.advance_high_watermark(10), Some(4));
        replica.set_in_sync_follower(2, 9);
        assert_eq!(replica.advance_high_watermark(10), Some(7));
        // A new term starts with no follower known in sync.
        replica.become_leader(4).unwrap();
        assert_eq!(replica.advance_high_watermark(10), Some(10));
    }

    #[test]
    fn leader_epochs_only_move_forward_and_requests_are_checked_against_them() {
        let mut replica = ReplicaState::new(0, 0);
        assert_eq!(replica.latest_epoch(), -1);
        assert_eq!(replica.become_leader(2), Ok(true));
        assert_eq!(replica.become_leader(2), Ok(false));
        assert_eq!(replica.become_leader(1), Err(2));
        assert_eq!(replica.check_epoch(-1), Ok(()));
        assert_eq!(replica.check_epoch(2), Ok(()));
        assert_eq!(replica.check_epoch(1), Err(EpochMismatch::Fenced(2)));
        assert_eq!(replica.check_epoch(3), Err(EpochMismatch::Unknown(2)));
        assert!(replica.stop_leading());
        assert!(!replica.stop_leading());
        assert_eq!(replica.leader_epoch(), None);
        assert_eq!(
            replica.latest_epoch(),
            2,
            "the epoch is remembered after leading"
        );
    }

    #[test]
    fn a_moved_log_start_pulls_the_high_watermark_along() {
        let mut replica = ReplicaState::new(0, 5);
        replica.set_local_log_start(8);
        assert_eq!(
            (
                replica.log_start_offset(),
                replica.local_log_start_offset(),
                replica.high_watermark()
            ),
            (8, 8, 8)
        );
    }
}
