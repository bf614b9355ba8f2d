//! Groups written down and rebuilt, with a made-up clock.

use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::oneshot;

use super::super::tests::{SESSION, answered, join, join_new, limits, send_join, sync};
use crate::group::GroupError;
use crate::group::state::{Group, GroupState, SyncAnswer};

/// A stable group of two members at generation 1: `(group, leader, follower)`.
fn stable_pair(now: Instant) -> (Group, String, String) {
    let limits = limits(Duration::ZERO);
    let mut group = Group::new("g");
    let (a, mut a_join) = join_new(&mut group, &["range"], &limits, now);
    let (b, mut b_join) = join_new(&mut group, &["range"], &limits, now);
    // The first join completed alone; the second rebalanced to generation 2 once both rejoin.
    let _ = answered(&mut a_join);
    let mut a_join = send_join(&mut group, join(&a, &["range"]), &limits, now);
    let a_answer = answered(&mut a_join).expect("both members joined");
    let b_answer = answered(&mut b_join).expect("both members joined");
    assert_eq!(a_answer.generation, b_answer.generation);
    let generation = a_answer.generation;
    let (leader, follower) = if a_answer.leader == a { (a, b) } else { (b, a) };
    let mut follower_sync = sync(&mut group, &follower, generation, vec![], now);
    let mut leader_sync = sync(
        &mut group,
        &leader,
        generation,
        vec![
            (leader.clone(), Bytes::from_static(b"L")),
            (follower.clone(), Bytes::from_static(b"F")),
        ],
        now,
    );
    assert_eq!(
        answered(&mut leader_sync),
        Some(Ok(Bytes::from_static(b"L")))
    );
    assert_eq!(
        answered(&mut follower_sync),
        Some(Ok(Bytes::from_static(b"F")))
    );
    assert_eq!(group.state(), GroupState::Stable);
    (group, leader, follower)
}

#[test]
fn a_stable_group_comes_back_stable_with_its_members_and_assignments() {
    let now = Instant::now();
    let (group, leader, follower) = stable_pair(now);
    let record = group.record(1_234);
    assert_eq!(record.protocol_type, "consumer");
    assert_eq!(record.protocol.as_deref(), Some("range"));
    assert_eq!(record.leader.as_deref(), Some(leader.as_str()));
    assert_eq!(record.current_state_timestamp, 1_234);
    assert_eq!(record.members.len(), 2);

    let later = now + Duration::from_secs(3_600);
    let mut restored = Group::restore("g", record, later);
    assert_eq!(restored.state(), GroupState::Stable);
    assert_eq!(restored.generation(), group.generation());
    assert_eq!(restored.protocol(), Some("range"));
    assert_eq!(restored.protocol_type(), Some("consumer"));
    let described = |g: &Group| {
        g.members()
            .into_iter()
            .map(|m| (m.member_id, m.client_host, m.metadata, m.assignment))
            .collect::<Vec<_>>()
    };
    assert_eq!(described(&restored), described(&group));
    // Members go on with their generation: no rebalance.
    let generation = group.generation();
    assert_eq!(
        restored.heartbeat(&follower, None, generation, later),
        Ok(())
    );
    assert_eq!(restored.heartbeat(&leader, None, generation, later), Ok(()));
    let mut again = sync(&mut restored, &follower, generation, vec![], later);
    assert_eq!(answered(&mut again), Some(Ok(Bytes::from_static(b"F"))));
    // The leader is still the leader: a new member's rebalance hands it the member list.
    let limits = limits(Duration::ZERO);
    let (_, _) = join_new(&mut restored, &["range"], &limits, later);
    let mut leader_join = send_join(&mut restored, join(&leader, &["range"]), &limits, later);
    let mut follower_join = send_join(&mut restored, join(&follower, &["range"]), &limits, later);
    let answer = answered(&mut leader_join).expect("every member rejoined");
    assert_eq!(answer.leader, leader);
    assert_eq!(answer.members.len(), 3);
    assert!(answered(&mut follower_join).is_some());
}

#[test]
fn a_restored_member_that_never_returns_is_expired_and_the_rest_rebalance() {
    let now = Instant::now();
    let (group, leader, follower) = stable_pair(now);
    let generation = group.generation();
    let loaded = now + Duration::from_secs(60);
    let mut restored = Group::restore("g", group.record(0), loaded);
    let limits = limits(Duration::ZERO);
    // The session starts at the load: nobody expires before it ends.
    restored.tick(&limits, loaded + SESSION - Duration::from_millis(1));
    assert_eq!(restored.state(), GroupState::Stable);
    let heard = loaded + SESSION / 2;
    assert_eq!(restored.heartbeat(&leader, None, generation, heard), Ok(()));
    restored.tick(&limits, loaded + SESSION);
    assert!(!restored.has_member(&follower), "the silent member is gone");
    assert!(restored.has_member(&leader));
    assert_eq!(restored.state(), GroupState::PreparingRebalance);
    assert_eq!(
        restored.heartbeat(&leader, None, generation, loaded + SESSION),
        Err(GroupError::RebalanceInProgress)
    );
    let mut rejoin = send_join(
        &mut restored,
        join(&leader, &["range"]),
        &limits,
        loaded + SESSION,
    );
    let answer = answered(&mut rejoin).expect("the only member rejoined");
    assert_eq!(answer.generation, generation + 1);
    assert_eq!(answer.members.len(), 1);
}

#[test]
fn the_generations_syncs_are_answered_only_once_the_assignment_is_stored() {
    let now = Instant::now();
    let limits = limits(Duration::ZERO);
    let mut group = Group::new("g");
    let (a, mut a_join) = join_new(&mut group, &["range"], &limits, now);
    let generation = answered(&mut a_join).expect("alone: at once").generation;
    let (respond, mut answer) = oneshot::channel::<SyncAnswer>();
    let assignment = vec![(a.clone(), Bytes::from_static(b"A"))];
    assert!(group.sync(&a, generation, assignment.clone(), respond, now));
    assert!(
        answered(&mut answer).is_none(),
        "no answer before the write"
    );
    assert_eq!(group.state(), GroupState::CompletingRebalance);
    // The record carries the assignment being written.
    let record = group.record(0);
    assert_eq!(record.members[0].assignment, Bytes::from_static(b"A"));
    // A repeated leader sync does not start a second write.
    let (respond, mut repeated) = oneshot::channel::<SyncAnswer>();
    assert!(!group.sync(&a, generation, assignment, respond, now));
    group.assignment_stored(generation - 1, Ok(()), &limits, now);
    assert!(
        answered(&mut repeated).is_none(),
        "an older generation's report is ignored"
    );
    group.assignment_stored(generation, Ok(()), &limits, now);
    assert_eq!(answered(&mut repeated), Some(Ok(Bytes::from_static(b"A"))));
    assert_eq!(group.state(), GroupState::Stable);
}

#[test]
fn a_failed_write_of_the_assignment_fails_the_syncs_and_rebalances() {
    let now = Instant::now();
    let limits = limits(Duration::ZERO);
    let mut group = Group::new("g");
    let (a, mut a_join) = join_new(&mut group, &["range"], &limits, now);
    let generation = answered(&mut a_join).expect("alone: at once").generation;
    let (respond, mut answer) = oneshot::channel::<SyncAnswer>();
    assert!(group.sync(&a, generation, vec![], respond, now));
    group.assignment_stored(generation, Err(GroupError::StorageError), &limits, now);
    assert_eq!(answered(&mut answer), Some(Err(GroupError::StorageError)));
    assert_eq!(group.state(), GroupState::PreparingRebalance);
    // The member rejoins and a new generation starts.
    let mut rejoin = send_join(&mut group, join(&a, &["range"]), &limits, now);
    assert_eq!(
        answered(&mut rejoin).map(|answer| answer.generation),
        Some(generation + 1)
    );
}

#[test]
fn a_group_that_becomes_empty_is_written_once_and_comes_back_empty() {
    let now = Instant::now();
    let (mut group, leader, follower) = stable_pair(now);
    let generation = group.generation();
    assert_eq!(
        group.take_due_record(0),
        None,
        "a stable group owes no record"
    );
    let limits = limits(Duration::ZERO);
    group.leave(&leader, None, &limits, now).unwrap();
    group.leave(&follower, None, &limits, now).unwrap();
    assert_eq!(group.state(), GroupState::Empty);
    let record = group
        .take_due_record(77)
        .expect("an empty group is written down");
    assert_eq!(group.take_due_record(78), None, "once");
    assert_eq!(record.generation, generation + 1);
    assert_eq!(record.protocol_type, "consumer");
    assert_eq!(record.protocol, None);
    assert_eq!(record.leader, None);
    assert_eq!(record.current_state_timestamp, 77);
    assert!(record.members.is_empty());
    let restored = Group::restore("g", record, now);
    assert_eq!(restored.state(), GroupState::Empty);
    assert_eq!(restored.generation(), generation + 1);
    assert_eq!(restored.protocol_type(), Some("consumer"));
    assert!(restored.is_empty());
}

#[test]
fn a_record_with_members_but_no_protocol_restores_an_empty_group() {
    let now = Instant::now();
    let (group, _, _) = stable_pair(now);
    let mut record = group.record(0);
    record.protocol = None;
    let restored = Group::restore("g", record, now);
    assert_eq!(restored.state(), GroupState::Empty);
    assert!(restored.is_empty());
}

#[test]
fn a_static_member_taking_its_old_place_is_written_down_under_its_new_id() {
    let now = Instant::now();
    let limits = limits(Duration::ZERO);
    let mut group = Group::new("g");
    let mut static_join = join("", &["range"]);
    static_join.group_instance_id = Some("i".into());
    let mut first = send_join(&mut group, static_join.clone(), &limits, now);
    let answer = answered(&mut first).expect("alone: at once");
    let old = answer.member_id;
    let assignment = vec![(old.clone(), Bytes::from_static(b"A"))];
    drop(sync(&mut group, &old, answer.generation, assignment, now));
    assert_eq!(group.state(), GroupState::Stable);
    assert_eq!(group.take_due_record(0), None);
    let mut again = send_join(&mut group, static_join, &limits, now);
    let new = answered(&mut again).expect("replaced at once").member_id;
    assert_ne!(new, old);
    let record = group
        .take_due_record(5)
        .expect("the replacement is written down");
    assert_eq!(record.generation, answer.generation);
    assert_eq!(record.members.len(), 1);
    assert_eq!(record.members[0].member_id, new);
    assert_eq!(record.members[0].group_instance_id.as_deref(), Some("i"));
    assert_eq!(record.members[0].assignment, Bytes::from_static(b"A"));
}
