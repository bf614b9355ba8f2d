//! The leader's view of its followers (Kafka's `Partition.updateFollowerFetchState`,
//! `maybeShrinkIsr`, `maybeExpandIsr` and `maybeIncrementLeaderHW`).
//!
//! - Each fetch tells the leader a follower's log end (its fetch offset) and durable end (the
//!   offset it has fsynced). A follower has *caught up* at the time of a fetch that reached the
//!   leader's log end, or at the time of its previous fetch if this one reached the log end the
//!   leader had then.
//! - The high watermark is the lowest offset the members of the *maximal* ISR hold — the
//!   committed ISR plus a proposed change not committed yet, so that neither an expansion nor a
//!   shrink in flight lets it run ahead — counting for each follower its durable end under
//!   `log.flush.policy=sync` and its log end under `os` (Kafka's behaviour) — the leader's own
//!   offsets included, so that under `sync` what consumers see is on disk on every in-sync
//!   replica and no power loss of a lone leader can take back a record already exposed. It
//!   never moves back.
//! - The ISR the leader wants: without the followers that have not caught up for
//!   `replica.lag.time.max.ms`, with the followers outside it whose counted offset reached the
//!   high watermark and whose log reached the start of this leader's epoch. One change is in
//!   flight at a time.

use std::collections::{BTreeMap, BTreeSet};

/// Which follower offset the high watermark waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counts {
    /// `log.flush.policy=os`: appended (in the follower's page cache).
    LogEnd,
    /// `log.flush.policy=sync`: fsynced on the follower.
    Durable,
}

/// What the leader knows of one follower.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowerProgress {
    /// The follower process the offsets are from (a restarted broker starts over).
    pub incarnation: u64,
    pub log_end: i64,
    pub durable_end: i64,
    /// When it last caught up (ms); the leader's start for followers in the ISR then.
    pub last_caught_up_ms: i64,
    last_fetch_ms: i64,
    leader_end_at_last_fetch: i64,
}

/// The leader's view of its followers, for one leader epoch.
#[derive(Debug, Clone)]
pub struct LeaderProgress {
    leader: i32,
    counts: Counts,
    isr: BTreeSet<i32>,
    /// The partition epoch of the committed ISR.
    partition_epoch: i32,
    /// A change in flight: the ISR asked for, and the partition epoch it was asked at.
    pending: Option<(BTreeSet<i32>, i32)>,
    followers: BTreeMap<i32, FollowerProgress>,
    high_watermark: i64,
    /// The log end when this leader's epoch began: a follower below it is not in sync.
    epoch_start_offset: i64,
}

impl LeaderProgress {
    /// A leader that starts its epoch with `log_end` and `high_watermark`, at `now_ms`, the
    /// ISR being `isr` at `partition_epoch`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        leader: i32,
        replicas: &[i32],
        isr: &[i32],
        partition_epoch: i32,
        counts: Counts,
        log_end: i64,
        high_watermark: i64,
        now_ms: i64,
    ) -> Self {
        let isr: BTreeSet<i32> = isr.iter().copied().collect();
        let followers = replicas
            .iter()
            .copied()
            .filter(|id| *id != leader)
            .map(|id| {
                let progress = FollowerProgress {
                    incarnation: 0,
                    log_end: -1,
                    durable_end: -1,
                    // Followers in the ISR have the lag time to show up.
                    last_caught_up_ms: if isr.contains(&id) { now_ms } else { -1 },
                    last_fetch_ms: -1,
                    leader_end_at_last_fetch: -1,
                };
                (id, progress)
            })
            .collect();
        Self {
            leader,
            counts,
            isr,
            partition_epoch,
            pending: None,
            followers,
            high_watermark,
            epoch_start_offset: log_end,
        }
    }

    pub fn high_watermark(&self) -> i64 {
        self.high_watermark
    }

    /// The ISR as committed in the metadata.
    pub fn isr(&self) -> &BTreeSet<i32> {
        &self.isr
    }

    pub fn follower(&self, id: i32) -> Option<&FollowerProgress> {
        self.followers.get(&id)
    }

    /// Records a fetch by `follower` (process `incarnation`) from `fetch_offset` (its log end)
    /// with `durable_offset` fsynced, when this leader's log ends at `leader_log_end`. What an
    /// earlier incarnation reported is forgotten: a restart may have lost what it had. Says
    /// whether `follower` is a replica of the partition.
    pub fn on_fetch(
        &mut self,
        follower: i32,
        incarnation: u64,
        fetch_offset: i64,
        durable_offset: i64,
        leader_log_end: i64,
        now_ms: i64,
    ) -> bool {
        let Some(progress) = self.followers.get_mut(&follower) else {
            return false;
        };
        if progress.incarnation != incarnation {
            progress.incarnation = incarnation;
            progress.leader_end_at_last_fetch = -1;
            progress.last_fetch_ms = -1;
        }
        if fetch_offset >= leader_log_end {
            progress.last_caught_up_ms = now_ms;
        } else if fetch_offset >= progress.leader_end_at_last_fetch && progress.last_fetch_ms >= 0 {
            progress.last_caught_up_ms = progress.last_caught_up_ms.max(progress.last_fetch_ms);
        }
        progress.log_end = fetch_offset;
        progress.durable_end = durable_offset.min(fetch_offset);
        progress.leader_end_at_last_fetch = leader_log_end;
        progress.last_fetch_ms = now_ms;
        true
    }

    fn counted(&self, id: i32, leader: (i64, i64)) -> i64 {
        let (log_end, durable_end) = if id == self.leader {
            leader
        } else {
            self.followers
                .get(&id)
                .map_or((-1, -1), |p| (p.log_end, p.durable_end))
        };
        match self.counts {
            Counts::LogEnd => log_end,
            Counts::Durable => durable_end,
        }
    }

    /// The committed ISR and the change in flight, together.
    pub fn maximal_isr(&self) -> BTreeSet<i32> {
        let mut isr = self.isr.clone();
        if let Some((pending, _)) = &self.pending {
            isr.extend(pending.iter().copied());
        }
        isr
    }

    /// Moves the high watermark up to what the maximal ISR holds, the leader's log ending at
    /// `leader_log_end` with `leader_durable_end` fsynced; the new value if it moved.
    pub fn advance(&mut self, leader_log_end: i64, leader_durable_end: i64) -> Option<i64> {
        let leader = (leader_log_end, leader_durable_end.min(leader_log_end));
        let lowest = self
            .maximal_isr()
            .iter()
            .map(|id| self.counted(*id, leader))
            .min()
            .unwrap_or(leader_log_end);
        (lowest > self.high_watermark).then(|| {
            self.high_watermark = lowest;
            lowest
        })
    }

    /// The ISR this leader wants now, if it differs from the committed one and no change is
    /// in flight.
    pub fn wanted_isr(&self, now_ms: i64, lag_max_ms: i64) -> Option<Vec<i32>> {
        if self.pending.is_some() {
            return None;
        }
        let mut wanted = self.isr.clone();
        wanted.insert(self.leader);
        for (id, progress) in &self.followers {
            let in_isr = self.isr.contains(id);
            if in_isr && now_ms - progress.last_caught_up_ms > lag_max_ms {
                wanted.remove(id);
            }
            let counted = match self.counts {
                Counts::LogEnd => progress.log_end,
                Counts::Durable => progress.durable_end,
            };
            if !in_isr
                && progress.log_end >= self.epoch_start_offset
                && counted >= self.high_watermark
                && progress.last_fetch_ms >= 0
            {
                wanted.insert(*id);
            }
        }
        (wanted != self.isr).then(|| wanted.into_iter().collect())
    }

    /// The partition epoch an ISR change must name.
    pub fn partition_epoch(&self) -> i32 {
        self.partition_epoch
    }

    /// A change to `isr` was sent to the metadata quorum, at the current partition epoch.
    pub fn proposed(&mut self, isr: &[i32]) {
        self.pending = Some((isr.iter().copied().collect(), self.partition_epoch));
    }

    /// The metadata says the ISR is `isr` at `partition_epoch`. A newer partition epoch ends a
    /// change in flight (it committed, or another change did and it will be refused); the same
    /// or an older one (a late or repeated message) changes nothing.
    pub fn committed(&mut self, isr: &[i32], partition_epoch: i32) {
        if partition_epoch <= self.partition_epoch {
            return;
        }
        self.isr = isr.iter().copied().collect();
        self.partition_epoch = partition_epoch;
        self.pending = None;
    }

    /// A change in flight was refused: the committed ISR stands.
    pub fn refused(&mut self) {
        self.pending = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_high_watermark_waits_for_every_in_sync_follower_and_never_goes_back() {
        let mut leader = LeaderProgress::new(1, &[1, 2, 3], &[1, 2, 3], 0, Counts::LogEnd, 0, 0, 0);
        assert_eq!(leader.advance(10, 10), None, "no follower has fetched");
        leader.on_fetch(2, 1, 10, 0, 10, 5);
        assert_eq!(leader.advance(10, 0), None);
        leader.on_fetch(3, 1, 7, 0, 10, 6);
        assert_eq!(leader.advance(10, 0), Some(7), "os: log ends count");
        leader.on_fetch(3, 1, 4, 0, 10, 7);
        assert_eq!(leader.advance(10, 0), None);
        assert_eq!(leader.high_watermark(), 7);
    }

    #[test]
    fn under_the_sync_policy_the_high_watermark_waits_for_the_followers_fsyncs() {
        let mut leader = LeaderProgress::new(1, &[1, 2], &[1, 2], 0, Counts::Durable, 0, 0, 0);
        leader.on_fetch(2, 1, 10, 4, 10, 1);
        assert_eq!(leader.advance(10, 10), Some(4));
        leader.on_fetch(2, 1, 10, 10, 10, 2);
        assert_eq!(
            leader.advance(10, 8),
            Some(8),
            "the leader's own fsync counts too"
        );
        assert_eq!(leader.advance(10, 10), Some(10));
    }

    #[test]
    fn a_lagging_follower_is_dropped_and_a_caught_up_one_comes_back() {
        let mut leader = LeaderProgress::new(1, &[1, 2, 3], &[1, 2, 3], 0, Counts::LogEnd, 0, 0, 0);
        leader.on_fetch(2, 1, 0, 0, 0, 1_000);
        leader.on_fetch(3, 1, 0, 0, 0, 1_000);
        // 3 keeps fetching but stays behind a growing log; 2 keeps up.
        leader.on_fetch(2, 1, 50, 50, 50, 20_000);
        leader.on_fetch(3, 1, 10, 10, 50, 20_000);
        leader.on_fetch(3, 1, 20, 20, 80, 31_500);
        assert_eq!(leader.wanted_isr(31_500, 30_000), Some(vec![1, 2]));
        leader.proposed(&[1, 2]);
        assert_eq!(
            leader.wanted_isr(31_500, 30_000),
            None,
            "one change at a time"
        );
        // While the shrink is in flight the lagging follower still holds the watermark back.
        leader.on_fetch(2, 1, 80, 80, 80, 31_600);
        assert_eq!(leader.advance(80, 80), Some(20));
        leader.committed(&[1, 2, 3], 0);
        assert_eq!(
            leader.advance(80, 80),
            None,
            "a repeated old ISR ends nothing"
        );
        leader.committed(&[1, 2], 1);
        assert_eq!(leader.advance(80, 80), Some(80));
        // 3 catches up to the watermark: it is wanted back.
        leader.on_fetch(3, 1, 80, 80, 80, 32_000);
        assert_eq!(leader.wanted_isr(32_000, 30_000), Some(vec![1, 2, 3]));
    }

    #[test]
    fn a_follower_that_reaches_the_log_end_it_saw_at_its_last_fetch_counts_as_caught_up() {
        let mut leader = LeaderProgress::new(1, &[1, 2], &[1, 2], 0, Counts::LogEnd, 0, 0, 0);
        leader.on_fetch(2, 1, 0, 0, 100, 1_000);
        // The leader kept growing, but 2 reached the 100 it saw at 1,000.
        leader.on_fetch(2, 1, 100, 100, 150, 2_000);
        assert_eq!(leader.follower(2).unwrap().last_caught_up_ms, 1_000);
        leader.on_fetch(2, 1, 150, 150, 150, 3_000);
        assert_eq!(leader.follower(2).unwrap().last_caught_up_ms, 3_000);
        assert!(!leader.on_fetch(9, 1, 0, 0, 150, 3_000), "not a replica");
        // A restarted follower starts over: its earlier fetches say nothing of its log now.
        leader.on_fetch(2, 2, 40, 40, 150, 4_000);
        assert_eq!(leader.follower(2).unwrap().last_caught_up_ms, 3_000);
        assert_eq!(leader.follower(2).unwrap().log_end, 40);
    }
}
