//! The classic group state machine with a made-up clock.

use super::*;

pub(super) const SESSION: Duration = Duration::from_secs(10);
pub(super) const REBALANCE: Duration = Duration::from_secs(30);

pub(super) fn limits(initial_delay: Duration) -> GroupLimits {
    GroupLimits {
        min_session_timeout: Duration::from_secs(6),
        max_session_timeout: Duration::from_secs(1800),
        initial_rebalance_delay: initial_delay,
        max_size: 3,
    }
}

pub(super) fn join(member_id: &str, protocols: &[&str]) -> Join {
    Join {
        member_id: member_id.to_owned(),
        group_instance_id: None,
        client_id: "client".to_owned(),
        client_host: "/127.0.0.1".to_owned(),
        session_timeout: SESSION,
        rebalance_timeout: REBALANCE,
        protocol_type: "consumer".to_owned(),
        protocols: protocols
            .iter()
            .map(|name| {
                (
                    (*name).to_owned(),
                    Bytes::from(format!("{member_id}:{name}")),
                )
            })
            .collect(),
        require_known_member: true,
    }
}

/// Sends a join and returns the receiver of its answer.
pub(super) fn send_join(
    group: &mut Group,
    join: Join,
    limits: &GroupLimits,
    now: Instant,
) -> oneshot::Receiver<JoinAnswer> {
    let (respond, answer) = oneshot::channel();
    group.join(join, respond, limits, now);
    answer
}

pub(super) fn answered<T>(answer: &mut oneshot::Receiver<T>) -> Option<T> {
    answer.try_recv().ok()
}

/// Joins a new member the KIP-394 way: asked for an id, then joining with it.
pub(super) fn join_new(
    group: &mut Group,
    protocols: &[&str],
    limits: &GroupLimits,
    now: Instant,
) -> (String, oneshot::Receiver<JoinAnswer>) {
    let mut first = send_join(group, join("", protocols), limits, now);
    let required = answered(&mut first).expect("answered at once");
    assert_eq!(required.error, Some(GroupError::MemberIdRequired));
    assert!(required.member_id.starts_with("client-"));
    let answer = send_join(group, join(&required.member_id, protocols), limits, now);
    (required.member_id, answer)
}

pub(super) fn sync(
    group: &mut Group,
    member: &str,
    generation: i32,
    assignments: Vec<(String, Bytes)>,
    now: Instant,
) -> oneshot::Receiver<SyncAnswer> {
    let (respond, answer) = oneshot::channel();
    if group.sync(member, generation, assignments, respond, now) {
        // The leader's assignment is written at once here; `restore_tests` covers the wait.
        group.assignment_stored(generation, Ok(()), &limits(Duration::ZERO), now);
    }
    answer
}

#[test]
fn two_members_join_sync_and_get_their_assignments() {
    let limits = limits(Duration::ZERO);
    let now = Instant::now();
    let mut group = Group::new("g");
    let (a, mut a_join) = join_new(&mut group, &["range", "roundrobin"], &limits, now);
    // Alone and without an initial delay, the first member's join completes at once.
    let a_answer = answered(&mut a_join).expect("a joined");
    assert_eq!(a_answer.error, None);
    assert_eq!(
        (a_answer.generation, a_answer.leader.as_str()),
        (1, a.as_str())
    );
    assert_eq!(a_answer.members.len(), 1, "the leader gets the member list");
    assert_eq!(group.state(), GroupState::CompletingRebalance);

    // A second member starts a rebalance; the first rejoins; both are answered.
    let (b, mut b_join) = join_new(&mut group, &["roundrobin"], &limits, now);
    assert_eq!(group.state(), GroupState::PreparingRebalance);
    assert!(
        answered(&mut b_join).is_none(),
        "waits for the others to rejoin"
    );
    let mut a_join = send_join(&mut group, join(&a, &["range", "roundrobin"]), &limits, now);
    let a_answer = answered(&mut a_join).expect("join phase over");
    let b_answer = answered(&mut b_join).expect("join phase over");
    assert_eq!(a_answer.generation, 2);
    assert_eq!(
        a_answer.protocol_name.as_deref(),
        Some("roundrobin"),
        "the one both support"
    );
    assert_eq!(a_answer.leader, a, "the leader stays");
    assert_eq!(a_answer.members.len(), 2);
    assert!(b_answer.members.is_empty(), "followers get no member list");
    assert_eq!(
        a_answer.members[1],
        (b.clone(), None, Bytes::from(format!("{b}:roundrobin")))
    );

    // The follower's sync waits for the leader's assignments.
    let mut b_sync = sync(&mut group, &b, 2, vec![], now);
    assert!(answered(&mut b_sync).is_none());
    let mut a_sync = sync(
        &mut group,
        &a,
        2,
        vec![
            (a.clone(), Bytes::from_static(b"A")),
            (b.clone(), Bytes::from_static(b"B")),
        ],
        now,
    );
    assert_eq!(answered(&mut a_sync), Some(Ok(Bytes::from_static(b"A"))));
    assert_eq!(answered(&mut b_sync), Some(Ok(Bytes::from_static(b"B"))));
    assert_eq!(group.state(), GroupState::Stable);
    assert_eq!(group.heartbeat(&b, None, 2, now), Ok(()));
}

#[test]
fn bad_joins_get_kafkas_errors() {
    let limits = limits(Duration::ZERO);
    let now = Instant::now();
    let mut group = Group::new("g");
    let mut short = join("", &["range"]);
    short.session_timeout = Duration::from_secs(1);
    let mut answer = send_join(&mut group, short, &limits, now);
    assert_eq!(
        answered(&mut answer).unwrap().error,
        Some(GroupError::InvalidSessionTimeout)
    );
    let mut none = join("", &[]);
    none.protocols.clear();
    let mut answer = send_join(&mut group, none, &limits, now);
    assert_eq!(
        answered(&mut answer).unwrap().error,
        Some(GroupError::InconsistentGroupProtocol)
    );
    let mut answer = send_join(&mut group, join("stranger", &["range"]), &limits, now);
    assert_eq!(
        answered(&mut answer).unwrap().error,
        Some(GroupError::UnknownMemberId)
    );
    let (_a, _) = join_new(&mut group, &["range"], &limits, now);
    // A member with no protocol in common with the group is refused.
    let mut answer = send_join(&mut group, join("", &["sticky"]), &limits, now);
    assert_eq!(
        answered(&mut answer).unwrap().error,
        Some(GroupError::InconsistentGroupProtocol)
    );
    let mut other_type = join("", &["range"]);
    other_type.protocol_type = "connect".to_owned();
    let mut answer = send_join(&mut group, other_type, &limits, now);
    assert_eq!(
        answered(&mut answer).unwrap().error,
        Some(GroupError::InconsistentGroupProtocol)
    );
    // group.max.size counts members and ids handed out.
    let _ = join_new(&mut group, &["range"], &limits, now);
    let mut first = send_join(&mut group, join("", &["range"]), &limits, now);
    assert_eq!(
        answered(&mut first).unwrap().error,
        Some(GroupError::MemberIdRequired)
    );
    let mut over = send_join(&mut group, join("", &["range"]), &limits, now);
    assert_eq!(
        answered(&mut over).unwrap().error,
        Some(GroupError::GroupMaxSizeReached)
    );
}

#[test]
fn sync_and_heartbeat_check_member_and_generation() {
    let limits = limits(Duration::ZERO);
    let now = Instant::now();
    let mut group = Group::new("g");
    let (a, _) = join_new(&mut group, &["range"], &limits, now);
    assert_eq!(
        answered(&mut sync(&mut group, "stranger", 1, vec![], now)),
        Some(Err(GroupError::UnknownMemberId))
    );
    assert_eq!(
        answered(&mut sync(&mut group, &a, 7, vec![], now)),
        Some(Err(GroupError::IllegalGeneration))
    );
    assert_eq!(
        group.heartbeat("stranger", None, 1, now),
        Err(GroupError::UnknownMemberId)
    );
    assert_eq!(
        group.heartbeat(&a, None, 0, now),
        Err(GroupError::IllegalGeneration)
    );
    assert_eq!(
        group.heartbeat(&a, None, 1, now),
        Ok(()),
        "heartbeats are fine before the sync"
    );
    drop(sync(
        &mut group,
        &a,
        1,
        vec![(a.clone(), Bytes::new())],
        now,
    ));
    // A new member: the old one is told to rejoin through its heartbeat.
    let (_b, _) = join_new(&mut group, &["range"], &limits, now);
    assert_eq!(
        group.heartbeat(&a, None, 1, now),
        Err(GroupError::RebalanceInProgress)
    );
    assert_eq!(
        answered(&mut sync(&mut group, &a, 1, vec![], now)),
        Some(Err(GroupError::RebalanceInProgress))
    );
}

#[test]
fn a_member_that_stops_heartbeating_is_removed_and_the_rest_rebalance() {
    let limits = limits(Duration::ZERO);
    let start = Instant::now();
    let mut group = Group::new("g");
    let (a, _) = join_new(&mut group, &["range"], &limits, start);
    let (b, mut b_join) = join_new(&mut group, &["range"], &limits, start);
    drop(send_join(&mut group, join(&a, &["range"]), &limits, start));
    assert_eq!(answered(&mut b_join).unwrap().generation, 2);
    drop(sync(&mut group, &a, 2, vec![], start));
    assert_eq!(group.state(), GroupState::Stable);

    // a keeps heartbeating; b goes silent past its session timeout.
    let later = start + SESSION - Duration::from_secs(1);
    assert_eq!(group.heartbeat(&a, None, 2, later), Ok(()));
    group.tick(&limits, start + SESSION + Duration::from_millis(1));
    assert!(!group.has_member(&b));
    assert_eq!(group.state(), GroupState::PreparingRebalance);
    // a rejoins: generation 3 with a alone.
    let mut a_join = send_join(&mut group, join(&a, &["range"]), &limits, start + SESSION);
    let answer = answered(&mut a_join).unwrap();
    assert_eq!((answer.generation, answer.members.len()), (3, 1));
}

#[test]
fn members_that_do_not_rejoin_within_the_rebalance_timeout_are_dropped() {
    let limits = limits(Duration::ZERO);
    let start = Instant::now();
    let mut group = Group::new("g");
    let (a, _) = join_new(&mut group, &["range"], &limits, start);
    let (b, mut b_join) = join_new(&mut group, &["range"], &limits, start);
    drop(send_join(&mut group, join(&a, &["range"]), &limits, start));
    let _ = answered(&mut b_join).unwrap();
    drop(sync(&mut group, &a, 2, vec![], start));
    // c joins; a rejoins; b never does (it heartbeats, but does not rejoin).
    let (_c, mut c_join) = join_new(&mut group, &["range"], &limits, start);
    drop(send_join(&mut group, join(&a, &["range"]), &limits, start));
    let mut now = start;
    while now < start + REBALANCE - Duration::from_secs(1) {
        now += Duration::from_secs(5);
        let now = now.min(start + REBALANCE - Duration::from_secs(1));
        assert_eq!(
            group.heartbeat(&b, None, 2, now),
            Err(GroupError::RebalanceInProgress),
            "b is told to rejoin"
        );
        group.tick(&limits, now);
    }
    assert!(answered(&mut c_join).is_none(), "still waiting for b");
    group.tick(&limits, start + REBALANCE);
    let answer = answered(&mut c_join).expect("the deadline ends the join phase");
    assert_eq!(answer.generation, 3);
    assert!(!group.has_member(&b));
}

#[test]
fn a_new_group_waits_the_initial_delay_for_more_members() {
    let delay = Duration::from_secs(3);
    let limits = limits(delay);
    let start = Instant::now();
    let mut group = Group::new("g");
    let (_a, mut a_join) = join_new(&mut group, &["range"], &limits, start);
    assert!(answered(&mut a_join).is_none(), "waits for more members");
    let (_b, mut b_join) = join_new(
        &mut group,
        &["range"],
        &limits,
        start + Duration::from_secs(2),
    );
    group.tick(&limits, start + Duration::from_secs(4));
    assert!(
        answered(&mut a_join).is_none(),
        "b's arrival extended the wait"
    );
    group.tick(&limits, start + Duration::from_secs(5));
    assert_eq!(answered(&mut a_join).unwrap().generation, 1);
    assert_eq!(answered(&mut b_join).unwrap().generation, 1);
}

#[test]
fn leaving_ends_membership_and_an_empty_group_can_be_deleted() {
    let limits = limits(Duration::ZERO);
    let now = Instant::now();
    let mut group = Group::new("g");
    let (a, _) = join_new(&mut group, &["range"], &limits, now);
    assert_eq!(group.delete(), Err(GroupError::NonEmptyGroup));
    assert_eq!(
        group.leave("stranger", None, &limits, now),
        Err(GroupError::UnknownMemberId)
    );
    assert_eq!(group.leave(&a, None, &limits, now), Ok(()));
    assert_eq!(group.state(), GroupState::Empty);
    assert_eq!(group.delete(), Ok(()));
    assert_eq!(group.state(), GroupState::Dead);
    let mut answer = send_join(&mut group, join("", &["range"]), &limits, now);
    assert_eq!(
        answered(&mut answer).unwrap().error,
        Some(GroupError::CoordinatorNotAvailable)
    );
}

#[test]
fn a_static_member_rejoining_fences_its_old_id() {
    let limits = limits(Duration::ZERO);
    let now = Instant::now();
    let mut group = Group::new("g");
    let mut first = join("", &["range"]);
    first.group_instance_id = Some("instance-1".to_owned());
    let mut answer = send_join(&mut group, first.clone(), &limits, now);
    let old = answered(&mut answer).unwrap();
    assert_eq!(old.error, None, "static members need no second join");
    let mut again = send_join(&mut group, first, &limits, now);
    let new = answered(&mut again).unwrap();
    assert_ne!(new.member_id, old.member_id);
    assert!(!group.has_member(&old.member_id));
    assert_eq!(
        group.leave(&old.member_id, Some("instance-1"), &limits, now),
        Err(GroupError::FencedInstanceId)
    );
}

#[test]
fn a_static_member_restarting_takes_its_old_place_without_a_rebalance() {
    let limits = limits(Duration::ZERO);
    let now = Instant::now();
    let mut group = Group::new("g");
    let static_join = |instance: &str| {
        let mut join = join("", &["range"]);
        join.group_instance_id = Some(instance.to_owned());
        join
    };
    let mut a_join = send_join(&mut group, static_join("ia"), &limits, now);
    let a = answered(&mut a_join).unwrap().member_id;
    let mut b_join = send_join(&mut group, static_join("ib"), &limits, now);
    let mut a_again = send_join(&mut group, join(&a, &["range"]), &limits, now);
    let generation = answered(&mut a_again).unwrap().generation;
    let b = answered(&mut b_join).unwrap().member_id;
    drop(sync(
        &mut group,
        &a,
        generation,
        vec![
            (a.clone(), Bytes::from_static(b"A")),
            (b.clone(), Bytes::from_static(b"B")),
        ],
        now,
    ));
    assert_eq!(group.state(), GroupState::Stable);

    // b restarts: a new id, answered at once with the same generation; no rebalance — even
    // with other metadata (a restarted consumer owns no partitions yet).
    let mut restarted = static_join("ib");
    restarted.protocols = vec![("range".to_owned(), Bytes::from_static(b"owns nothing"))];
    let mut back = send_join(&mut group, restarted, &limits, now);
    let back = answered(&mut back).expect("answered at once");
    assert_eq!((back.error, back.generation), (None, generation));
    assert_ne!(back.member_id, b);
    assert_eq!(group.state(), GroupState::Stable);
    assert_eq!(group.heartbeat(&a, Some("ia"), generation, now), Ok(()));
    assert_eq!(
        answered(&mut sync(
            &mut group,
            &back.member_id,
            generation,
            vec![],
            now
        )),
        Some(Ok(Bytes::from_static(b"B"))),
        "the same assignment"
    );
    // The old incarnation is fenced.
    assert_eq!(
        group.heartbeat(&b, Some("ib"), generation, now),
        Err(GroupError::FencedInstanceId)
    );
    // The leader coming back stays leader, gets the members, and is told not to assign.
    let mut leader_back = send_join(&mut group, static_join("ia"), &limits, now);
    let leader_back = answered(&mut leader_back).expect("answered at once");
    assert_eq!(group.state(), GroupState::Stable);
    assert_eq!(leader_back.leader, leader_back.member_id);
    assert!(leader_back.skip_assignment);
    assert_eq!(leader_back.members.len(), 2);
    assert_eq!(
        answered(&mut sync(
            &mut group,
            &leader_back.member_id,
            generation,
            vec![(leader_back.member_id.clone(), Bytes::from_static(b"other"))],
            now
        )),
        Some(Ok(Bytes::from_static(b"A"))),
        "a stable group keeps its assignment"
    );
    // Changing the chosen protocol does rebalance.
    let mut other = static_join("ib");
    other.protocols = vec![("roundrobin".to_owned(), Bytes::new())];
    let mut moved = send_join(&mut group, other, &limits, now);
    assert!(answered(&mut moved).unwrap().error.is_some() || group.state() != GroupState::Stable);
}
