//! How the controller moves a partition's leadership and ISR, as pure rules over one
//! [`PartitionAssignment`] (Kafka's `PartitionChangeBuilder`, without eligible leader
//! replicas). Every change bumps the partition epoch; a change of leader bumps the leader
//! epoch too.
//!
//! - A fenced broker leaves every ISR it is in, unless it is the last member (the ISR then
//!   keeps naming who had everything); a partition it led gets the first in-sync replica (in
//!   replica order) that is not fenced, or no leader (-1) when there is none — unless unclean
//!   election is allowed, which takes any live replica and makes it the whole ISR.
//! - An unfenced broker leads the partitions that have no leader and name it in their ISR (or
//!   in their replicas, with unclean election).
//! - The leader changes the ISR (AlterPartition) only at its current leader and partition
//!   epochs, keeping itself in it, with replicas only, adding no fenced broker.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::PartitionAssignment;

/// Why an ISR change was refused (Kafka's AlterPartition errors).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum AlterIsrError {
    #[error(
        "broker {requested} does not lead the partition at epoch {epoch} (broker {leader} does)"
    )]
    NotLeader {
        requested: i32,
        leader: i32,
        epoch: i32,
    },
    #[error("leader epoch {requested} is not the partition's ({current})")]
    FencedLeaderEpoch { requested: i32, current: i32 },
    #[error("partition epoch {requested} is not the partition's ({current}): refresh and retry")]
    InvalidUpdateVersion { requested: i32, current: i32 },
    #[error("ISR {0:?} must include its leader and only replicas of the partition")]
    InvalidIsr(Vec<i32>),
    #[error("broker {0} is fenced and cannot join the ISR")]
    Ineligible(i32),
}

fn changed(assignment: &mut PartitionAssignment, new_leader: Option<i32>) {
    if let Some(leader) = new_leader
        && leader != assignment.leader
    {
        assignment.leader = leader;
        assignment.leader_epoch += 1;
    }
    assignment.partition_epoch += 1;
}

/// Broker `broker` was fenced; `live` says which brokers are not. Returns whether the
/// partition changed.
pub fn fence(
    assignment: &mut PartitionAssignment,
    broker: i32,
    live: impl Fn(i32) -> bool,
    unclean: bool,
) -> bool {
    let before = assignment.clone();
    if assignment.isr.len() > 1 {
        assignment.isr.retain(|id| *id != broker);
    }
    if assignment.leader == broker {
        let in_sync = assignment
            .replicas
            .iter()
            .copied()
            .find(|id| *id != broker && assignment.isr.contains(id) && live(*id));
        let leader = match in_sync {
            Some(id) => id,
            None if unclean => match assignment
                .replicas
                .iter()
                .copied()
                .find(|id| *id != broker && live(*id))
            {
                Some(id) => {
                    assignment.isr = vec![id];
                    id
                }
                None => -1,
            },
            None => -1,
        };
        assignment.leader = leader;
    }
    if *assignment == before {
        return false;
    }
    let leader = assignment.leader;
    assignment.leader = before.leader;
    changed(assignment, Some(leader));
    true
}

/// Broker `broker` is no longer fenced. Returns whether the partition changed.
pub fn unfence(assignment: &mut PartitionAssignment, broker: i32, unclean: bool) -> bool {
    if assignment.leader >= 0 || !assignment.replicas.contains(&broker) {
        return false;
    }
    if assignment.isr.contains(&broker) {
        changed(assignment, Some(broker));
        true
    } else if unclean {
        assignment.isr = vec![broker];
        changed(assignment, Some(broker));
        true
    } else {
        false
    }
}

/// The leader `leader` at `leader_epoch` and `partition_epoch` sets the ISR to `isr`.
pub fn alter_isr(
    assignment: &mut PartitionAssignment,
    leader: i32,
    leader_epoch: i32,
    partition_epoch: i32,
    isr: &[i32],
    live: impl Fn(i32) -> bool,
) -> Result<(), AlterIsrError> {
    if leader_epoch != assignment.leader_epoch {
        return Err(AlterIsrError::FencedLeaderEpoch {
            requested: leader_epoch,
            current: assignment.leader_epoch,
        });
    }
    if leader != assignment.leader {
        return Err(AlterIsrError::NotLeader {
            requested: leader,
            leader: assignment.leader,
            epoch: assignment.leader_epoch,
        });
    }
    if partition_epoch != assignment.partition_epoch {
        return Err(AlterIsrError::InvalidUpdateVersion {
            requested: partition_epoch,
            current: assignment.partition_epoch,
        });
    }
    let members: BTreeSet<i32> = isr.iter().copied().collect();
    if !members.contains(&leader)
        || members.len() != isr.len()
        || !members.iter().all(|id| assignment.replicas.contains(id))
    {
        return Err(AlterIsrError::InvalidIsr(isr.to_vec()));
    }
    if let Some(fenced) = members
        .iter()
        .copied()
        .find(|id| !assignment.isr.contains(id) && !live(*id))
    {
        return Err(AlterIsrError::Ineligible(fenced));
    }
    // Keep replica order, as Kafka lists the ISR.
    assignment.isr = assignment
        .replicas
        .iter()
        .copied()
        .filter(|id| members.contains(id))
        .collect();
    changed(assignment, None);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partition(replicas: &[i32], isr: &[i32], leader: i32) -> PartitionAssignment {
        PartitionAssignment {
            replicas: replicas.to_vec(),
            isr: isr.to_vec(),
            leader,
            leader_epoch: 5,
            partition_epoch: 9,
        }
    }

    #[test]
    fn fencing_the_leader_moves_leadership_to_the_next_live_in_sync_replica() {
        let mut p = partition(&[1, 2, 3], &[1, 2, 3], 1);
        assert!(fence(&mut p, 1, |id| id != 1 && id != 2, false));
        assert_eq!((p.leader, p.leader_epoch, p.partition_epoch), (3, 6, 10));
        assert_eq!(p.isr, [2, 3]);
        // A fenced follower only leaves the ISR; the epoch of leadership stays.
        assert!(fence(&mut p, 2, |id| id == 3, false));
        assert_eq!((p.leader, p.leader_epoch, p.isr.clone()), (3, 6, vec![3]));
        // Nothing of a broker the partition does not name.
        assert!(!fence(&mut p, 7, |_| true, false));
        assert_eq!(p.partition_epoch, 11);
    }

    #[test]
    fn the_last_in_sync_replica_stays_in_the_isr_and_leads_again_when_it_returns() {
        let mut p = partition(&[1, 2], &[1], 1);
        assert!(fence(&mut p, 1, |id| id == 2, false));
        assert_eq!((p.leader, p.isr.clone(), p.leader_epoch), (-1, vec![1], 6));
        // The out-of-sync replica may not lead without unclean election...
        assert!(!unfence(&mut p, 2, false));
        // ... the in-sync one does when it is back.
        assert!(unfence(&mut p, 1, false));
        assert_eq!((p.leader, p.leader_epoch), (1, 7));
    }

    #[test]
    fn unclean_election_takes_a_live_out_of_sync_replica_and_makes_it_the_isr() {
        let mut p = partition(&[1, 2], &[1], 1);
        assert!(fence(&mut p, 1, |id| id == 2, true));
        assert_eq!((p.leader, p.isr.clone()), (2, vec![2]));
        let mut q = partition(&[1, 2], &[1], -1);
        assert!(unfence(&mut q, 2, true));
        assert_eq!((q.leader, q.isr.clone()), (2, vec![2]));
    }

    #[test]
    fn isr_changes_come_only_from_the_current_leader_at_the_current_epochs() {
        let live = |id: i32| id != 4;
        let mut p = partition(&[1, 2, 3, 4], &[1, 2], 1);
        assert_eq!(
            alter_isr(&mut p, 2, 5, 9, &[2], live),
            Err(AlterIsrError::NotLeader {
                requested: 2,
                leader: 1,
                epoch: 5
            })
        );
        assert!(matches!(
            alter_isr(&mut p, 1, 4, 9, &[1], live),
            Err(AlterIsrError::FencedLeaderEpoch { .. })
        ));
        assert!(matches!(
            alter_isr(&mut p, 1, 5, 8, &[1], live),
            Err(AlterIsrError::InvalidUpdateVersion { .. })
        ));
        for bad in [&[2][..], &[1, 1], &[1, 9]] {
            assert!(matches!(
                alter_isr(&mut p, 1, 5, 9, bad, live),
                Err(AlterIsrError::InvalidIsr(_))
            ));
        }
        assert_eq!(
            alter_isr(&mut p, 1, 5, 9, &[1, 4], live),
            Err(AlterIsrError::Ineligible(4))
        );
        alter_isr(&mut p, 1, 5, 9, &[3, 1, 2], live).unwrap();
        assert_eq!(
            (p.isr.clone(), p.leader_epoch, p.partition_epoch),
            (vec![1, 2, 3], 5, 10)
        );
    }
}
