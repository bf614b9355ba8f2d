//! Reconciliation of one member towards its target assignment (Kafka's
//! `CurrentAssignmentBuilder`). Pure: the member, its target, who holds what, and the
//! partitions the member says it owns go in; the member's next state comes out.
//!
//! ```text
//!  STABLE ──newer target epoch──► next step
//!  UNREVOKED_PARTITIONS ──owned partitions no longer include the revoked ones──► next step
//!  UNRELEASED_PARTITIONS ──every heartbeat──► next step (takes what was released meanwhile)
//!  next step:
//!    keep = assigned ∩ target; revoke = assigned − keep
//!    revoke not empty and still owned   ─► UNREVOKED_PARTITIONS, same epoch, assigned = keep
//!    else add (target − keep) that no other member holds, epoch = target epoch,
//!         UNRELEASED_PARTITIONS if some of the target is still held elsewhere, else STABLE
//! ```
//!
//! The safety rule: a partition joins a member's assignment only when no other member holds
//! it (assigned or pending revocation), and a member moves past an epoch only once it has
//! given up what it must revoke — so no partition is ever owned by two members at once.

use std::collections::BTreeSet;

use uuid::Uuid;

use super::assignor::TopicPartitions;
use super::group::ConsumerGroupError;
use super::member::{Member, MemberState};

/// What reconciling a member looks at besides the member.
pub(super) struct Target<'a> {
    pub epoch: i32,
    pub partitions: &'a TopicPartitions,
    /// The topics the member subscribes to now: targets of other topics count as empty.
    pub subscribed: &'a BTreeSet<Uuid>,
}

/// The member's next state. `held_elsewhere(topic, partition)`: whether another member holds
/// the partition. `owned`: the partitions the heartbeat says the member owns (`None`: not
/// sent, so the member is taken to still own whatever it had).
pub(super) fn reconcile(
    member: &Member,
    target: &Target<'_>,
    held_elsewhere: &dyn Fn(Uuid, i32) -> bool,
    owned: Option<&TopicPartitions>,
) -> Result<Member, ConsumerGroupError> {
    match member.state {
        MemberState::Stable if member.member_epoch == target.epoch => Ok(member.clone()),
        MemberState::Stable | MemberState::UnreleasedPartitions => Ok(next_assignment(
            member,
            member.member_epoch,
            target,
            held_elsewhere,
            owned,
        )),
        MemberState::UnrevokedPartitions => {
            if owns_any(owned, &member.pending_revocation) {
                Ok(member.clone())
            } else {
                Ok(next_assignment(
                    member,
                    member.member_epoch,
                    target,
                    held_elsewhere,
                    owned,
                ))
            }
        }
        MemberState::Unknown => {
            if owned.is_none_or(|owned| owned.values().any(|p| !p.is_empty())) {
                return Err(ConsumerGroupError::FencedMemberEpoch);
            }
            Ok(next_assignment(
                member,
                target.epoch,
                target,
                held_elsewhere,
                owned,
            ))
        }
    }
}

/// Whether the member still owns any of `revoked` (it does when it did not say).
fn owns_any(owned: Option<&TopicPartitions>, revoked: &TopicPartitions) -> bool {
    let Some(owned) = owned else {
        return true;
    };
    owned.iter().any(|(topic, partitions)| {
        revoked
            .get(topic)
            .is_some_and(|revoked| partitions.iter().any(|p| revoked.contains(p)))
    })
}

fn next_assignment(
    member: &Member,
    epoch: i32,
    target: &Target<'_>,
    held_elsewhere: &dyn Fn(Uuid, i32) -> bool,
    owned: Option<&TopicPartitions>,
) -> Member {
    let empty = BTreeSet::new();
    let topics: BTreeSet<Uuid> = target
        .partitions
        .keys()
        .chain(member.assigned.keys())
        .copied()
        .collect();
    let mut keep = TopicPartitions::new();
    let mut revoke = TopicPartitions::new();
    let mut add = TopicPartitions::new();
    let mut unreleased = false;
    for topic in topics {
        let wanted = if target.subscribed.contains(&topic) {
            target.partitions.get(&topic).unwrap_or(&empty)
        } else {
            &empty
        };
        let current = member.assigned.get(&topic).unwrap_or(&empty);
        let kept: BTreeSet<i32> = current.intersection(wanted).copied().collect();
        let revoked: BTreeSet<i32> = current.difference(&kept).copied().collect();
        let mut added = BTreeSet::new();
        for &partition in wanted.difference(&kept) {
            // A partition this member is itself still revoking is not someone else's.
            let own_pending = member
                .pending_revocation
                .get(&topic)
                .is_some_and(|p| p.contains(&partition));
            if held_elsewhere(topic, partition) && !own_pending {
                unreleased = true;
            } else {
                added.insert(partition);
            }
        }
        for (map, set) in [(&mut keep, kept), (&mut revoke, revoked), (&mut add, added)] {
            if !set.is_empty() {
                map.insert(topic, set);
            }
        }
    }
    let mut next = member.clone();
    if !revoke.is_empty() && owns_any(owned, &revoke) {
        next.state = MemberState::UnrevokedPartitions;
        next.update_epoch(epoch);
        next.assigned = keep;
        next.pending_revocation = revoke;
        return next;
    }
    for (topic, partitions) in add {
        keep.entry(topic).or_default().extend(partitions);
    }
    next.state = if unreleased {
        MemberState::UnreleasedPartitions
    } else {
        MemberState::Stable
    };
    next.update_epoch(target.epoch);
    next.assigned = keep;
    next.pending_revocation = TopicPartitions::new();
    next
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn topic() -> Uuid {
        Uuid::from_u128(7)
    }

    fn parts(partitions: &[i32]) -> TopicPartitions {
        BTreeMap::from([(topic(), partitions.iter().copied().collect())])
    }

    fn member(epoch: i32, assigned: &[i32]) -> Member {
        let mut member = Member::new("m".into());
        member.member_epoch = epoch;
        member.previous_member_epoch = epoch - 1;
        member.assigned = parts(assigned);
        member
    }

    fn nobody(_: Uuid, _: i32) -> bool {
        false
    }

    #[test]
    fn a_member_that_must_give_up_partitions_stays_at_its_epoch_until_it_does() {
        let subscribed = BTreeSet::from([topic()]);
        let wanted = parts(&[0, 2]);
        let target = Target {
            epoch: 5,
            partitions: &wanted,
            subscribed: &subscribed,
        };
        let owned = parts(&[0, 1]);
        let next = reconcile(&member(4, &[0, 1]), &target, &nobody, Some(&owned)).unwrap();
        assert_eq!(next.state, MemberState::UnrevokedPartitions);
        assert_eq!(next.member_epoch, 4);
        assert_eq!(next.assigned, parts(&[0]));
        assert_eq!(next.pending_revocation, parts(&[1]));

        let still = reconcile(&next, &target, &nobody, Some(&owned)).unwrap();
        assert_eq!(still, next, "partition 1 is still owned");
        let silent = reconcile(&next, &target, &nobody, None).unwrap();
        assert_eq!(
            silent, next,
            "a heartbeat without owned partitions revokes nothing"
        );

        let done = reconcile(&next, &target, &nobody, Some(&parts(&[0]))).unwrap();
        assert_eq!(done.state, MemberState::Stable);
        assert_eq!(done.member_epoch, 5);
        assert_eq!(done.assigned, parts(&[0, 2]));
        assert!(done.pending_revocation.is_empty());
    }

    #[test]
    fn partitions_another_member_holds_are_withheld_until_released() {
        let subscribed = BTreeSet::from([topic()]);
        let wanted = parts(&[0, 1]);
        let target = Target {
            epoch: 3,
            partitions: &wanted,
            subscribed: &subscribed,
        };
        let held = |_: Uuid, partition: i32| partition == 1;
        let next = reconcile(&member(2, &[0]), &target, &held, Some(&parts(&[0]))).unwrap();
        assert_eq!(next.state, MemberState::UnreleasedPartitions);
        assert_eq!(next.member_epoch, 3);
        assert_eq!(next.assigned, parts(&[0]));

        let released = reconcile(&next, &target, &nobody, Some(&parts(&[0]))).unwrap();
        assert_eq!(released.state, MemberState::Stable);
        assert_eq!(released.assigned, parts(&[0, 1]));
    }

    #[test]
    fn partitions_of_topics_no_longer_subscribed_are_revoked() {
        let subscribed = BTreeSet::new();
        let wanted = parts(&[0]);
        let target = Target {
            epoch: 2,
            partitions: &wanted,
            subscribed: &subscribed,
        };
        let next = reconcile(&member(1, &[0]), &target, &nobody, Some(&parts(&[0]))).unwrap();
        assert_eq!(next.state, MemberState::UnrevokedPartitions);
        assert_eq!(next.pending_revocation, parts(&[0]));
    }

    #[test]
    fn a_member_in_an_unknown_state_is_fenced_unless_it_owns_nothing() {
        let subscribed = BTreeSet::from([topic()]);
        let wanted = parts(&[0]);
        let target = Target {
            epoch: 2,
            partitions: &wanted,
            subscribed: &subscribed,
        };
        let mut unknown = member(1, &[]);
        unknown.state = MemberState::Unknown;
        assert_eq!(
            reconcile(&unknown, &target, &nobody, Some(&parts(&[0]))),
            Err(ConsumerGroupError::FencedMemberEpoch)
        );
        let next = reconcile(&unknown, &target, &nobody, Some(&TopicPartitions::new())).unwrap();
        assert_eq!(next.state, MemberState::Stable);
        assert_eq!(next.assigned, parts(&[0]));
    }
}
