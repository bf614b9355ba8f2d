//! Classic members inside a consumer group, and a group made from a classic one: a made-up
//! clock, clients that behave as the classic protocol expects (an eager client gives up
//! everything before it rejoins).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use super::assignor::TopicPartitions;
use super::group::{
    CONSUMER_PROTOCOL_TYPE, ClassicJoin, ClassicSync, ConsumerGroup, GroupChange, TopicsImage,
};
use super::group_harness::{Client, assert_exclusive, assignors, config, topics};
use super::member::{Member, MemberState};
use super::records::{ClassicMemberMetadata, ClassicProtocol};
use crate::group::GroupError;

fn parts(topics: &TopicsImage, partitions: &[i32]) -> TopicPartitions {
    let id = topics["t"].id;
    if partitions.is_empty() {
        return TopicPartitions::new();
    }
    TopicPartitions::from([(id, partitions.iter().copied().collect())])
}

fn set(partitions: &TopicPartitions) -> BTreeSet<i32> {
    partitions.values().flatten().copied().collect()
}

/// A member of a classic group as conversion hands it over.
fn classic_member(id: &str, topics: &TopicsImage, assigned: &[i32]) -> Member {
    let mut member = Member::new(id.to_owned());
    member.subscribed_topic_names = BTreeSet::from(["t".to_owned()]);
    member.rebalance_timeout = Duration::from_secs(30);
    member.assigned = parts(topics, assigned);
    member.classic = Some(ClassicMemberMetadata {
        session_timeout_ms: 10_000,
        supported_protocols: vec![ClassicProtocol {
            name: "range".into(),
            metadata: Vec::new(),
        }],
    });
    member
}

fn sync<'a>(member_id: &'a str, generation: i32, protocol: Option<&'a str>) -> ClassicSync<'a> {
    ClassicSync {
        member_id,
        instance_id: None,
        generation,
        protocol_type: Some("consumer"),
        protocol_name: protocol,
    }
}

/// The JoinGroup an eager classic client sends: it owns nothing when it rejoins.
fn rejoin(id: &str) -> ClassicJoin {
    ClassicJoin {
        member_id: id.to_owned(),
        instance_id: None,
        rack_id: None,
        client_id: "classic".into(),
        client_host: "/127.0.0.1".into(),
        rebalance_timeout_ms: 30_000,
        session_timeout_ms: 10_000,
        protocol_type: CONSUMER_PROTOCOL_TYPE.into(),
        protocols: vec![ClassicProtocol {
            name: "range".into(),
            metadata: Vec::new(),
        }],
        subscribed_topic_names: vec!["t".into()],
        owned: TopicPartitions::new(),
    }
}

fn upgraded(topics: &TopicsImage, now: Instant) -> ConsumerGroup {
    let members = vec![
        classic_member("a", topics, &[0, 1, 2]),
        classic_member("b", topics, &[3, 4, 5]),
    ];
    ConsumerGroup::from_classic("g", 7, members, &config(), now)
}

#[test]
fn a_converted_group_keeps_the_generation_and_each_members_partitions() {
    let topics = topics(6);
    let now = Instant::now();
    let mut group = upgraded(&topics, now);
    assert_eq!(
        (group.group_epoch(), group.target_assignment_epoch()),
        (7, 7)
    );
    for (id, partitions) in [("a", [0, 1, 2]), ("b", [3, 4, 5])] {
        let member = group.member(id).expect("converted");
        assert_eq!(
            (member.member_epoch, member.state),
            (7, MemberState::Stable)
        );
        assert_eq!(set(&member.assigned), BTreeSet::from(partitions));
        assert_eq!(group.target_assignment(id), Some(&member.assigned));
    }
    assert!(group.all_classic());
    let changes = group.take_changes();
    let upserts = changes
        .iter()
        .filter(|c| matches!(c, GroupChange::MemberUpserted(_)))
        .count();
    assert_eq!(upserts, 2);
    assert!(changes.contains(&GroupChange::GroupEpoch(7)));
    assert!(changes.contains(&GroupChange::TargetAssignmentEpoch(7)));
}

#[test]
fn a_partition_two_classic_members_claim_stays_with_the_first() {
    let topics = topics(4);
    let members = vec![
        classic_member("a", &topics, &[0, 1]),
        classic_member("b", &topics, &[1, 2]),
    ];
    let group = ConsumerGroup::from_classic("g", 3, members, &config(), Instant::now());
    assert_eq!(
        set(&group.member("a").expect("a").assigned),
        BTreeSet::from([0, 1])
    );
    assert_eq!(
        set(&group.member("b").expect("b").assigned),
        BTreeSet::from([2])
    );
}

#[test]
fn a_new_member_joins_and_the_classic_members_rejoin_to_hand_over_with_no_double_owner() {
    let topics = topics(6);
    let now = Instant::now();
    let mut group = upgraded(&topics, now);
    let mut newcomer = Client::new("c");
    newcomer.beat(&mut group, &topics, now);
    assert_eq!(
        group.group_epoch(),
        8,
        "the new member moved the group epoch"
    );
    assert!(
        newcomer.owned().is_empty(),
        "its share is still held by the classic members"
    );

    // The classic members hear of each step through their heartbeat and rejoin (an eager
    // client gives up everything first); the new member heartbeats. No partition is ever
    // held by two members, and it settles with each partition owned once.
    let cfg = config();
    let mut generations = std::collections::BTreeMap::from([("a", 7), ("b", 7)]);
    let mut synced = std::collections::BTreeMap::new();
    for _round in 0..6 {
        for id in ["a", "b"] {
            let generation = generations[id];
            match group.classic_heartbeat(id, None, generation, &cfg, now) {
                Ok(()) => continue,
                Err(error) => assert_eq!(error, GroupError::RebalanceInProgress),
            }
            let joined = group
                .classic_join(rejoin(id), &topics, &assignors(), &cfg, now)
                .expect("rejoins");
            assert_eq!(joined.protocol_name, "range");
            generations.insert(id, joined.generation);
            let assigned = group
                .classic_sync(sync(id, joined.generation, Some("range")), &cfg, now)
                .expect("synced");
            synced.insert(id, set(&assigned));
            assert_exclusive(&group, std::slice::from_ref(&newcomer));
        }
        newcomer.beat(&mut group, &topics, now);
        assert_exclusive(&group, std::slice::from_ref(&newcomer));
    }
    let mut owners = BTreeSet::new();
    for id in ["a", "b", "c"] {
        let member = group.member(id).expect("a member");
        assert_eq!(member.state, MemberState::Stable, "{member:?}");
        assert_eq!(member.member_epoch, 8);
        assert_eq!(Some(&member.assigned), group.target_assignment(id));
        for partition in set(&member.assigned) {
            assert!(owners.insert(partition), "partition {partition} held twice");
        }
    }
    assert_eq!(
        owners,
        (0..6).collect(),
        "every partition has its one owner"
    );
    for id in ["a", "b"] {
        assert_eq!(synced[id], set(&group.member(id).expect("a").assigned));
    }
    assert_eq!(
        newcomer.owned(),
        set(&group.member("c").expect("c").assigned)
    );
}

#[test]
fn stale_or_foreign_classic_requests_get_kafkas_errors() {
    let topics = topics(6);
    let now = Instant::now();
    let mut group = upgraded(&topics, now);
    let mut consumer_member = Client::new("c");
    consumer_member.beat(&mut group, &topics, now);
    let cfg = config();
    assert_eq!(
        group.classic_sync(sync("a", 6, None), &cfg, now),
        Err(GroupError::IllegalGeneration)
    );
    assert_eq!(
        group.classic_sync(sync("a", 7, Some("roundrobin")), &cfg, now),
        Err(GroupError::InconsistentGroupProtocol)
    );
    assert_eq!(
        group.classic_heartbeat("nobody", None, 7, &cfg, now),
        Err(GroupError::UnknownMemberId)
    );
    assert_eq!(
        group.classic_heartbeat("c", None, 8, &cfg, now),
        Err(GroupError::UnknownMemberId),
        "a consumer-protocol member has no classic heartbeat"
    );
    let mut other_type = rejoin("d");
    other_type.protocol_type = "connect".into();
    assert_eq!(
        group.classic_join(other_type, &topics, &assignors(), &cfg, now),
        Err(GroupError::InconsistentGroupProtocol)
    );
    let mut no_shared_protocol = rejoin("d");
    no_shared_protocol.protocols[0].name = "roundrobin".into();
    assert_eq!(
        group.classic_join(no_shared_protocol, &topics, &assignors(), &cfg, now),
        Err(GroupError::InconsistentGroupProtocol)
    );
    assert_eq!(
        group.classic_leave("nobody", None),
        Err(GroupError::UnknownMemberId)
    );
    assert!(group.member("d").is_none(), "refused joins add no member");
}

#[test]
fn when_the_consumer_protocol_member_leaves_only_classic_members_are_left() {
    let topics = topics(6);
    let now = Instant::now();
    let mut group = upgraded(&topics, now);
    let mut newcomer = Client::new("c");
    newcomer.beat(&mut group, &topics, now);
    assert!(!group.all_classic());
    let mut leaving = newcomer.request();
    leaving.member_epoch = -1;
    group
        .heartbeat(&leaving, &topics, &assignors(), &config(), now)
        .expect("leaves");
    assert!(group.all_classic());
    assert_eq!(group.classic_leave("a", None), Ok(()));
    assert!(group.member("a").is_none());
}

#[test]
fn a_classic_member_told_to_rejoin_that_does_not_is_removed_after_its_rebalance_timeout() {
    let topics = topics(6);
    let now = Instant::now();
    let mut group = upgraded(&topics, now);
    Client::new("c").beat(&mut group, &topics, now);
    let cfg = config();
    assert_eq!(
        group.classic_heartbeat("a", None, 7, &cfg, now),
        Err(GroupError::RebalanceInProgress)
    );
    // It keeps heartbeating but never rejoins; "b" rejoins as told.
    let joined = group
        .classic_join(rejoin("b"), &topics, &assignors(), &cfg, now)
        .expect("rejoins");
    for second in [5, 10, 15, 20, 25, 29] {
        let later = now + Duration::from_secs(second);
        let _ = group.classic_heartbeat("a", None, 7, &cfg, later);
        let _ = group.classic_heartbeat("b", None, joined.generation, &cfg, later);
        assert!(group.tick(later).is_empty(), "{second} s");
    }
    let removed = group.tick(now + Duration::from_secs(31));
    assert_eq!(removed, ["a"]);
}

#[test]
fn a_classic_members_session_is_its_own_session_timeout() {
    let topics = topics(6);
    let now = Instant::now();
    let mut group = upgraded(&topics, now);
    // 10 s, not group.consumer.session.timeout.ms (45 s).
    assert!(group.tick(now + Duration::from_secs(9)).is_empty());
    let mut removed = group.tick(now + Duration::from_secs(11));
    removed.sort();
    assert_eq!(removed, ["a", "b"]);
}

#[test]
fn a_restarted_static_classic_member_takes_its_old_place_under_a_new_member_id() {
    let topics = topics(6);
    let now = Instant::now();
    let mut a = classic_member("a", &topics, &[0, 1, 2]);
    a.instance_id = Some("reader-1".into());
    let members = vec![a, classic_member("b", &topics, &[3, 4, 5])];
    let mut group = ConsumerGroup::from_classic("g", 4, members, &config(), now);
    // b's rejoin has the group look at its subscribed topics once (the epoch moves to 5).
    group
        .classic_join(rejoin("b"), &topics, &assignors(), &config(), now)
        .expect("b rejoins");
    let epoch = group.group_epoch();
    let target = group.target_assignment("a").cloned();
    let mut restarted = rejoin("a-2");
    restarted.instance_id = Some("reader-1".into());
    let joined = group
        .classic_join(restarted, &topics, &assignors(), &config(), now)
        .expect("takes the old place");
    assert!(group.member("a").is_none(), "the old member id is gone");
    let member = group.member("a-2").expect("the new member id");
    assert_eq!(member.instance_id.as_deref(), Some("reader-1"));
    assert_eq!(joined.generation, member.member_epoch);
    assert_eq!(
        group.group_epoch(),
        epoch,
        "no rebalance for a static member's return"
    );
    assert_eq!(
        group.target_assignment("a-2").cloned(),
        target,
        "its target stays"
    );
    assert_eq!(
        group.classic_heartbeat("a", Some("reader-1"), 4, &config(), now),
        Err(GroupError::FencedInstanceId)
    );
}
