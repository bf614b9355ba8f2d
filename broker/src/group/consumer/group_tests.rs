//! The consumer group state machine driven by simulated clients (`group_harness.rs`) and a
//! made-up clock.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use super::group::{
    ConsumerGroup, ConsumerGroupConfig, ConsumerGroupError, GroupChange, HeartbeatRequest,
};
use super::group_harness::*;
use super::member::MemberState;

#[test]
fn a_member_joining_an_empty_group_gets_every_partition_at_epoch_one() {
    let now = Instant::now();
    let mut group = ConsumerGroup::new("g");
    let mut client = Client::new("a");
    let answer = client.beat(&mut group, &topics(6), now);
    assert_eq!(answer.member_epoch, 1);
    assert_eq!(answer.heartbeat_interval_ms, 5000);
    assert_eq!(answer.assignment, Some(parts(&[0, 1, 2, 3, 4, 5])));
    assert_eq!(group.group_epoch(), 1);
    assert_eq!(group.target_assignment_epoch(), 1);

    let again = client.beat(&mut group, &topics(6), now);
    assert_eq!(again.member_epoch, 1);
    assert_eq!(
        again.assignment, None,
        "nothing changed, so no assignment is sent"
    );
}

#[test]
fn a_version_0_join_without_a_member_id_is_given_one_and_version_1_must_bring_its_own() {
    let now = Instant::now();
    let mut group = ConsumerGroup::new("g");
    let mut request = Client::new("").request();
    request.version = 0;
    let answer = group
        .heartbeat(&request, &topics(6), &assignors(), &config(), now)
        .unwrap();
    assert_eq!(answer.member_id.len(), 22, "Kafka's form of a uuid");
    assert!(group.member(&answer.member_id).is_some());

    request.version = 1;
    assert_eq!(
        group.heartbeat(&request, &topics(6), &assignors(), &config(), now),
        Err(ConsumerGroupError::InvalidRequest(
            "MemberId can't be empty."
        ))
    );
}

#[test]
fn a_join_records_the_member_the_epochs_and_both_assignments_in_order() {
    let now = Instant::now();
    let mut group = ConsumerGroup::new("g");
    Client::new("a").beat(&mut group, &topics(2), now);
    let changes = group.take_changes();
    let kinds: Vec<&str> = changes
        .iter()
        .map(|c| match c {
            GroupChange::MemberUpserted(_) => "member",
            GroupChange::MemberRemoved(_) => "removed",
            GroupChange::GroupEpoch(_) => "group epoch",
            GroupChange::TargetAssignment { .. } => "target",
            GroupChange::TargetAssignmentEpoch(_) => "target epoch",
            GroupChange::CurrentAssignment(_) => "current",
        })
        .collect();
    assert_eq!(
        kinds,
        ["member", "group epoch", "target", "target epoch", "current"]
    );
    assert!(
        matches!(&changes[4], GroupChange::CurrentAssignment(m) if m.assigned == parts(&[0, 1]) && m.member_epoch == 1)
    );
    assert!(group.take_changes().is_empty(), "drained");
}

fn three_stable_members(now: Instant) -> (ConsumerGroup, Vec<Client>) {
    let mut group = ConsumerGroup::new("g");
    let mut clients = vec![Client::new("a"), Client::new("b"), Client::new("c")];
    converge(&mut group, &mut clients, &topics(6), now);
    assert_at_target(&group, &clients);
    (group, clients)
}

#[test]
fn three_members_share_six_partitions_after_joining_one_by_one() {
    let (group, clients) = three_stable_members(Instant::now());
    let owned: Vec<BTreeSet<i32>> = clients.iter().map(Client::owned).collect();
    assert_eq!(
        owned,
        [
            BTreeSet::from([0, 3]),
            BTreeSet::from([1, 4]),
            BTreeSet::from([2, 5])
        ]
    );
    assert_eq!(group.group_epoch(), 3);
}

#[test]
fn a_fourth_member_gets_its_share_only_after_the_old_owners_revoke() {
    let now = Instant::now();
    let (mut group, mut clients) = three_stable_members(now);
    let mut d = Client::new("d");
    let joined = d.beat(&mut group, &topics(6), now);
    // Round robin over a, b, c, d gives d partition 3, which a still owns.
    assert_eq!(joined.assignment, Some(parts(&[])));
    assert_eq!(
        group.member("d").unwrap().state,
        MemberState::UnreleasedPartitions
    );

    let revoke = clients[0].beat(&mut group, &topics(6), now);
    assert_eq!(
        revoke.member_epoch, 3,
        "a stays at its epoch until it revokes"
    );
    assert_eq!(revoke.assignment, Some(parts(&[0])));
    assert_eq!(
        group.member("a").unwrap().state,
        MemberState::UnrevokedPartitions
    );
    let acked = clients[0].beat(&mut group, &topics(6), now);
    assert_eq!(acked.member_epoch, 4);
    assert_eq!(
        acked.assignment, None,
        "partition 4 is still b's, so a waits for it"
    );
    assert_eq!(
        group.member("a").unwrap().state,
        MemberState::UnreleasedPartitions
    );

    clients.push(d);
    converge(&mut group, &mut clients, &topics(6), now);
    assert_at_target(&group, &clients);
    let owned: Vec<BTreeSet<i32>> = clients.iter().map(Client::owned).collect();
    assert_eq!(
        owned,
        [
            BTreeSet::from([0, 4]),
            BTreeSet::from([1, 5]),
            BTreeSet::from([2]),
            BTreeSet::from([3])
        ]
    );
}

#[test]
fn when_a_member_leaves_the_others_take_its_partitions_without_double_ownership() {
    let now = Instant::now();
    let (mut group, mut clients) = three_stable_members(now);
    let mut leave = clients[2].request();
    leave.member_epoch = -1;
    let answer = group
        .heartbeat(&leave, &topics(6), &assignors(), &config(), now)
        .unwrap();
    assert_eq!(answer.member_epoch, -1);
    assert!(group.member("c").is_none());
    assert_eq!(group.group_epoch(), 4);
    clients.pop();
    converge(&mut group, &mut clients, &topics(6), now);
    assert_at_target(&group, &clients);
    let owned: Vec<BTreeSet<i32>> = clients.iter().map(Client::owned).collect();
    assert_eq!(
        owned,
        [BTreeSet::from([0, 2, 4]), BTreeSet::from([1, 3, 5])]
    );
}

#[test]
fn new_partitions_of_a_subscribed_topic_bump_the_group_epoch() {
    let now = Instant::now();
    let mut group = ConsumerGroup::new("g");
    let mut client = Client::new("a");
    client.beat(&mut group, &topics(2), now);
    let answer = client.beat(&mut group, &topics(3), now);
    assert_eq!(group.group_epoch(), 2);
    assert_eq!(answer.member_epoch, 2);
    assert_eq!(answer.assignment, Some(parts(&[0, 1, 2])));
}

#[test]
fn a_member_that_does_not_revoke_within_its_rebalance_timeout_is_removed() {
    let start = Instant::now();
    let (mut group, mut clients) = three_stable_members(start);
    clients[0].stubborn = true;
    let mut d = Client::new("d");
    d.beat(&mut group, &topics(6), start);
    clients[0].beat(&mut group, &topics(6), start);
    clients[0].beat(&mut group, &topics(6), start + Duration::from_secs(10));
    assert_eq!(
        group.member("a").unwrap().state,
        MemberState::UnrevokedPartitions
    );

    assert!(group.tick(start + Duration::from_secs(29)).is_empty());
    let epoch = group.group_epoch();
    assert_eq!(group.tick(start + Duration::from_secs(30)), ["a"]);
    assert!(group.member("a").is_none());
    assert_eq!(group.group_epoch(), epoch + 1);
    assert_eq!(
        group.heartbeat(
            &clients[0].request(),
            &topics(6),
            &assignors(),
            &config(),
            start + Duration::from_secs(31)
        ),
        Err(ConsumerGroupError::UnknownMemberId)
    );
}

#[test]
fn a_member_not_heard_from_within_the_session_timeout_is_removed() {
    let start = Instant::now();
    let (mut group, mut clients) = three_stable_members(start);
    let later = start + Duration::from_secs(40);
    clients[0].beat(&mut group, &topics(6), later);
    clients[1].beat(&mut group, &topics(6), later);
    assert!(group.tick(start + Duration::from_millis(44_999)).is_empty());
    assert_eq!(group.tick(start + Duration::from_secs(45)), ["c"]);
    assert_eq!(group.group_epoch(), 4);
    assert!(
        group
            .take_changes()
            .contains(&GroupChange::MemberRemoved("c".into()))
    );
    clients.pop();
    converge(&mut group, &mut clients, &topics(6), later);
    assert_at_target(&group, &clients);
}

fn static_client(member_id: &str, instance: &str) -> Client {
    Client {
        instance_id: Some(instance.to_owned()),
        ..Client::new(member_id)
    }
}

#[test]
fn a_static_member_that_steps_away_and_rejoins_takes_its_place_without_a_rebalance() {
    let now = Instant::now();
    let mut group = ConsumerGroup::new("g");
    let mut clients = vec![static_client("a", "i-a"), Client::new("b")];
    converge(&mut group, &mut clients, &topics(4), now);
    let epoch = group.group_epoch();
    let mut away = clients[0].request();
    away.member_epoch = -2;
    let answer = group
        .heartbeat(&away, &topics(4), &assignors(), &config(), now)
        .unwrap();
    assert_eq!(answer.member_epoch, -2);
    assert_eq!(group.group_epoch(), epoch, "stepping away is no rebalance");
    assert_eq!(group.member("a").unwrap().assigned, parts(&[0, 2]));

    // The restarted process comes back with a new member id and the same instance id.
    let mut back = static_client("a2", "i-a");
    let answer = back.beat(&mut group, &topics(4), now + Duration::from_secs(5));
    assert_eq!(answer.member_epoch, epoch);
    assert_eq!(answer.assignment, Some(parts(&[0, 2])));
    assert_eq!(group.group_epoch(), epoch);
    assert!(group.member("a").is_none());
    assert_eq!(group.target_assignment("a2"), Some(&parts(&[0, 2])));
    assert!(
        group
            .take_changes()
            .contains(&GroupChange::MemberRemoved("a".into()))
    );

    // The old id is fenced out of its instance id.
    let mut old = clients[0].request();
    old.member_epoch = epoch;
    assert_eq!(
        group.heartbeat(&old, &topics(4), &assignors(), &config(), now),
        Err(ConsumerGroupError::FencedInstanceId("i-a".into()))
    );
}

#[test]
fn a_static_member_that_stepped_away_is_removed_when_its_session_ends() {
    let start = Instant::now();
    let mut group = ConsumerGroup::new("g");
    let mut clients = vec![static_client("a", "i-a"), Client::new("b")];
    converge(&mut group, &mut clients, &topics(4), start);
    let mut away = clients[0].request();
    away.member_epoch = -2;
    group
        .heartbeat(&away, &topics(4), &assignors(), &config(), start)
        .unwrap();
    clients[1].beat(&mut group, &topics(4), start + Duration::from_secs(40));
    assert_eq!(group.tick(start + Duration::from_secs(45)), ["a"]);
    let mut rest = vec![clients[1].clone()];
    converge(
        &mut group,
        &mut rest,
        &topics(4),
        start + Duration::from_secs(46),
    );
    assert_eq!(rest[0].owned(), BTreeSet::from([0, 1, 2, 3]));
}

fn refused(group: &mut ConsumerGroup, request: &HeartbeatRequest) -> ConsumerGroupError {
    group
        .heartbeat(request, &topics(6), &assignors(), &config(), Instant::now())
        .expect_err("the heartbeat is refused")
}

#[test]
fn an_epoch_ahead_of_the_coordinators_is_fenced() {
    let (mut group, clients) = three_stable_members(Instant::now());
    let mut request = clients[0].request();
    request.member_epoch += 1;
    assert_eq!(
        refused(&mut group, &request),
        ConsumerGroupError::FencedMemberEpoch
    );
}

#[test]
fn an_older_epoch_is_fenced_unless_it_is_the_previous_one_with_no_new_partitions() {
    let now = Instant::now();
    let (mut group, clients) = three_stable_members(now);
    // a joined at 1 with all six; by the time it heard of epoch 3 it had to revoke, and
    // moved from 1 to 3 once it had: its previous epoch is 1.
    let member = group.member("a").unwrap().clone();
    assert_eq!((member.member_epoch, member.previous_member_epoch), (3, 1));
    let mut request = clients[0].request();
    request.member_epoch = 1;
    request.owned = Some(parts(&[0]));
    let answer = group
        .heartbeat(&request, &topics(6), &assignors(), &config(), now)
        .unwrap();
    assert_eq!(
        answer.member_epoch, 3,
        "the lost answer's epoch is given again"
    );

    request.owned = Some(parts(&[0, 1]));
    assert_eq!(
        refused(&mut group, &request),
        ConsumerGroupError::FencedMemberEpoch
    );
    request.member_epoch = 2;
    request.owned = Some(parts(&[0]));
    assert_eq!(
        refused(&mut group, &request),
        ConsumerGroupError::FencedMemberEpoch
    );
}

#[test]
fn a_heartbeat_from_an_unknown_member_is_refused() {
    let (mut group, _) = three_stable_members(Instant::now());
    let mut request = Client::new("nobody").request();
    request.member_epoch = 3;
    assert_eq!(
        refused(&mut group, &request),
        ConsumerGroupError::UnknownMemberId
    );
    request.member_epoch = -1;
    assert_eq!(
        refused(&mut group, &request),
        ConsumerGroupError::UnknownMemberId
    );
}

#[test]
fn an_instance_id_a_live_member_uses_cannot_be_joined_with() {
    let now = Instant::now();
    let mut group = ConsumerGroup::new("g");
    static_client("a", "i-a").beat(&mut group, &topics(6), now);
    let request = static_client("a2", "i-a").request();
    assert_eq!(
        refused(&mut group, &request),
        ConsumerGroupError::UnreleasedInstanceId("i-a".into())
    );
    assert!(group.member("a2").is_none());
}

#[test]
fn a_member_id_that_is_not_the_instance_ids_owner_is_fenced() {
    let now = Instant::now();
    let mut group = ConsumerGroup::new("g");
    let mut a = static_client("a", "i-a");
    a.beat(&mut group, &topics(6), now);
    Client::new("b").beat(&mut group, &topics(6), now);
    let mut request = a.request();
    request.member_id = "b".into();
    assert_eq!(
        refused(&mut group, &request),
        ConsumerGroupError::FencedInstanceId("i-a".into())
    );
}

#[test]
fn a_full_group_refuses_new_members_but_not_its_own() {
    let now = Instant::now();
    let mut group = ConsumerGroup::new("g");
    let small = ConsumerGroupConfig {
        max_size: 1,
        ..config()
    };
    let mut a = Client::new("a");
    let answer = group
        .heartbeat(&a.request(), &topics(6), &assignors(), &small, now)
        .unwrap();
    a.apply(&answer);
    assert_eq!(
        group.heartbeat(
            &Client::new("b").request(),
            &topics(6),
            &assignors(),
            &small,
            now
        ),
        Err(ConsumerGroupError::GroupMaxSizeReached(1))
    );
    assert!(
        group
            .heartbeat(&a.request(), &topics(6), &assignors(), &small, now)
            .is_ok()
    );
}

#[test]
fn malformed_first_heartbeats_are_invalid_requests() {
    let mut group = ConsumerGroup::new("g");
    let good = Client::new("a").request();
    let cases: [(HeartbeatRequest, &str); 6] = [
        (
            HeartbeatRequest {
                subscribed_topic_names: None,
                ..good.clone()
            },
            "Either SubscribedTopicNames or SubscribedTopicRegex must be non-null when (re-)joining.",
        ),
        (
            HeartbeatRequest {
                rebalance_timeout_ms: -1,
                ..good.clone()
            },
            "RebalanceTimeoutMs must be provided in first request.",
        ),
        (
            HeartbeatRequest {
                rebalance_timeout_ms: -5,
                ..good.clone()
            },
            "RebalanceTimeoutMs can't be negative.",
        ),
        (
            HeartbeatRequest {
                owned: Some(parts(&[1])),
                ..good.clone()
            },
            "TopicPartitions must be empty when (re-)joining.",
        ),
        (
            HeartbeatRequest {
                instance_id: Some(String::new()),
                ..good.clone()
            },
            "InstanceId can't be empty.",
        ),
        (
            HeartbeatRequest {
                member_epoch: -3,
                ..good.clone()
            },
            "MemberEpoch is invalid.",
        ),
    ];
    for (request, message) in cases {
        assert_eq!(
            refused(&mut group, &request),
            ConsumerGroupError::InvalidRequest(message)
        );
    }
    let away_without_instance = HeartbeatRequest {
        member_epoch: -2,
        ..good.clone()
    };
    assert_eq!(
        refused(&mut group, &away_without_instance),
        ConsumerGroupError::InvalidRequest("InstanceId can't be null.")
    );
    assert!(group.is_empty(), "refused joins leave nothing behind");
    assert!(group.take_changes().is_empty());
}

#[test]
fn an_assignor_not_configured_is_unsupported() {
    let mut group = ConsumerGroup::new("g");
    let mut request = Client::new("a").request();
    request.server_assignor = Some("sticky".into());
    assert_eq!(
        refused(&mut group, &request),
        ConsumerGroupError::UnsupportedAssignor("sticky".into())
    );
    assert!(group.is_empty());
}

#[test]
fn the_assignor_most_members_ask_for_is_used_else_the_first_configured() {
    let now = Instant::now();
    let mut group = ConsumerGroup::new("g");
    let mut clients = vec![Client::new("a"), Client::new("b")];
    converge(&mut group, &mut clients, &topics(2), now);
    assert_eq!(
        group.target_assignment("a"),
        Some(&parts(&[0])),
        "uniform deals a first"
    );

    let mut request = clients[0].request();
    request.server_assignor = Some("range".into());
    let answer = group
        .heartbeat(&request, &topics(2), &assignors(), &config(), now)
        .unwrap();
    clients[0].apply(&answer);
    // The assignor alone does not bump the epoch; a new member does.
    let mut c = Client::new("c");
    c.beat(&mut group, &topics(2), now);
    assert_eq!(
        group.target_assignment("c"),
        Some(&parts(&[0])),
        "range deals c first"
    );
}
