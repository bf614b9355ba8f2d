//! Divergence by leader epoch (KIP-279, checked inside fetch as KIP-595 does): a follower
//! fetches with its log end and the epoch of its last batch; if the leader's log does not hold
//! that epoch up to that offset, the follower's tail is not the leader's, and the leader
//! answers with the end of that epoch in its own log instead of records.

use crate::log::{EpochEntry, end_offset_for};

/// An epoch and the offset its records end at (exclusive) in the leader's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochEnd {
    pub epoch: i32,
    pub end_offset: i64,
}

/// The leader's answer to a follower at `fetch_offset` whose last batch has
/// `last_fetched_epoch` (-1: an empty log, nothing to check): `None` when the follower's log
/// is a prefix of the leader's, else where the epoch ends here (Kafka's divergingEpoch).
pub fn diverging(
    leader_epochs: &[EpochEntry],
    leader_log_end: i64,
    last_fetched_epoch: i32,
    fetch_offset: i64,
) -> Option<EpochEnd> {
    if last_fetched_epoch < 0 {
        return None;
    }
    match end_offset_for(leader_epochs, last_fetched_epoch, leader_log_end) {
        Some((epoch, end_offset)) if epoch == last_fetched_epoch && end_offset >= fetch_offset => {
            None
        }
        Some((epoch, end_offset)) => Some(EpochEnd { epoch, end_offset }),
        // The follower names an epoch newer than any here: this leader is stale, and the
        // epoch check before this one refuses it. Cut nothing on its word.
        None => None,
    }
}

/// Where a follower cuts its log after the leader answered `leader` (Kafka's
/// `truncateOnFetchResponse`): at the end of that epoch in both logs, whichever is first.
pub fn truncation_offset(
    follower_epochs: &[EpochEntry],
    follower_log_end: i64,
    leader: EpochEnd,
) -> i64 {
    let offset = match end_offset_for(follower_epochs, leader.epoch, follower_log_end) {
        // The same epoch here: its records agree up to where either log ends it.
        Some((epoch, end)) if epoch == leader.epoch => end.min(leader.end_offset),
        // This log does not have the epoch: cut at the end of its largest epoch below it; the
        // next fetch checks again from there.
        Some((_, end)) => end.min(leader.end_offset),
        None => leader.end_offset,
    };
    offset.clamp(0, follower_log_end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epochs(entries: &[(i32, i64)]) -> Vec<EpochEntry> {
        entries
            .iter()
            .map(|(epoch, start_offset)| EpochEntry {
                epoch: *epoch,
                start_offset: *start_offset,
            })
            .collect()
    }

    #[test]
    fn a_follower_whose_tail_another_leader_overwrote_cuts_back_to_where_the_logs_agree() {
        // Leader: epoch 1 at 0..10, epoch 3 from 10 on (30 records). The follower led epoch
        // 2 from offset 8 and wrote up to 15 before it lost leadership.
        let leader = epochs(&[(1, 0), (3, 10)]);
        let follower = epochs(&[(1, 0), (2, 8)]);
        let answer = diverging(&leader, 30, 2, 15).expect("diverged");
        assert_eq!(
            answer,
            EpochEnd {
                epoch: 1,
                end_offset: 10
            }
        );
        // The follower has epoch 1 only up to 8, where its epoch 2 began.
        assert_eq!(truncation_offset(&follower, 15, answer), 8);
        // After the cut it fetches from 8 with epoch 1: a prefix of the leader's log.
        assert_eq!(diverging(&leader, 30, 1, 8), None);
    }

    #[test]
    fn a_prefix_of_the_leaders_log_fetches_on_and_a_longer_tail_of_the_same_epoch_is_cut() {
        let leader = epochs(&[(1, 0), (3, 10)]);
        assert_eq!(diverging(&leader, 30, 3, 30), None);
        assert_eq!(diverging(&leader, 30, 1, 10), None);
        assert_eq!(diverging(&leader, 30, -1, 0), None, "an empty follower");
        // The follower has more of epoch 1 than the leader kept.
        let answer = diverging(&leader, 30, 1, 12).expect("diverged");
        assert_eq!(
            answer,
            EpochEnd {
                epoch: 1,
                end_offset: 10
            }
        );
        assert_eq!(truncation_offset(&epochs(&[(1, 0)]), 12, answer), 10);
        // A follower with the latest epoch past the leader's end (the leader lost records in
        // a crash and was re-elected at the same epoch cannot happen: epochs bump) is cut to
        // the leader's end.
        let answer = diverging(&leader, 30, 3, 31).expect("diverged");
        assert_eq!(
            truncation_offset(&epochs(&[(1, 0), (3, 10)]), 31, answer),
            30
        );
    }
}
