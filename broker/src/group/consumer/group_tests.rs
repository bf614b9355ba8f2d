//! The consumer group state machine driven by simulated clients and a made-up clock.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use uuid::Uuid;

use super::assignor::{AssignmentSpec, Assignor, AssignorError, MemberId, TopicPartitions};
use super::group::{
    ConsumerGroup, ConsumerGroupConfig, ConsumerGroupError, GroupChange, HeartbeatAnswer,
    HeartbeatRequest, TopicMetadata, TopicsImage,
};
use super::member::MemberState;

/// Deals every subscribed partition to the subscribing members in turn, in id order (or in
/// reverse id order).
struct RoundRobin(&'static str, bool);

impl Assignor for RoundRobin {
    fn name(&self) -> &'static str {
        self.0
    }

    fn assign(
        &self,
        spec: &AssignmentSpec,
    ) -> Result<BTreeMap<MemberId, TopicPartitions>, AssignorError> {
        let mut out: BTreeMap<MemberId, TopicPartitions> = spec
            .members
            .keys()
            .map(|id| (id.clone(), TopicPartitions::new()))
            .collect();
        for (topic, described) in &spec.topics {
            let mut takers: Vec<&MemberId> = spec
                .members
                .iter()
                .filter(|(_, m)| m.subscribed.contains(topic))
                .map(|(id, _)| id)
                .collect();
            if self.1 {
                takers.reverse();
            }
            for partition in 0..described.partitions {
                if takers.is_empty() {
                    break;
                }
                let taker = takers[partition as usize % takers.len()];
                if let Some(assigned) = out.get_mut(taker) {
                    assigned.entry(*topic).or_default().insert(partition);
                }
            }
        }
        Ok(out)
    }
}

const UNIFORM: RoundRobin = RoundRobin("uniform", false);
const RANGE: RoundRobin = RoundRobin("range", true);

pub(super) fn assignors() -> [&'static dyn Assignor; 2] {
    [&UNIFORM, &RANGE]
}

fn topic_id() -> Uuid {
    Uuid::from_u128(1)
}

pub(super) fn topics(partitions: i32) -> TopicsImage {
    BTreeMap::from([(
        "t".to_owned(),
        TopicMetadata {
            id: topic_id(),
            partitions,
        },
    )])
}

pub(super) fn config() -> ConsumerGroupConfig {
    ConsumerGroupConfig::default()
}

fn parts(partitions: &[i32]) -> TopicPartitions {
    if partitions.is_empty() {
        return TopicPartitions::new();
    }
    BTreeMap::from([(topic_id(), partitions.iter().copied().collect())])
}

/// A consumer as the protocol expects it to behave: it owns what it was last given.
#[derive(Debug, Clone)]
pub(super) struct Client {
    member_id: String,
    instance_id: Option<String>,
    epoch: i32,
    owned: TopicPartitions,
    /// Keeps partitions it was told to give up.
    stubborn: bool,
    /// The topics it subscribes to when it joins.
    topics: Vec<String>,
}

impl Client {
    pub(super) fn new(member_id: &str) -> Self {
        Client {
            member_id: member_id.to_owned(),
            instance_id: None,
            epoch: 0,
            owned: TopicPartitions::new(),
            stubborn: false,
            topics: vec!["t".to_owned()],
        }
    }

    /// A client that subscribes to `topics` by name.
    pub(super) fn subscribing(member_id: &str, topics: &[&str]) -> Self {
        Client {
            topics: topics.iter().map(|t| (*t).to_owned()).collect(),
            ..Client::new(member_id)
        }
    }

    pub(super) fn member_id(&self) -> &str {
        &self.member_id
    }

    pub(super) fn request(&self) -> HeartbeatRequest {
        let joining = self.epoch == 0;
        HeartbeatRequest {
            version: 1,
            member_id: self.member_id.clone(),
            member_epoch: self.epoch,
            instance_id: self.instance_id.clone(),
            rebalance_timeout_ms: if joining { 30_000 } else { -1 },
            subscribed_topic_names: joining.then(|| self.topics.clone()),
            owned: Some(self.owned.clone()),
            client_id: "client".into(),
            client_host: "/127.0.0.1".into(),
            ..HeartbeatRequest::default()
        }
    }

    pub(super) fn beat(
        &mut self,
        group: &mut ConsumerGroup,
        topics: &TopicsImage,
        now: Instant,
    ) -> HeartbeatAnswer {
        self.beat_with(group, topics, &assignors(), now)
    }

    /// A heartbeat to a group whose `group.consumer.assignors` are `assignors`.
    pub(super) fn beat_with(
        &mut self,
        group: &mut ConsumerGroup,
        topics: &TopicsImage,
        assignors: &[&dyn Assignor],
        now: Instant,
    ) -> HeartbeatAnswer {
        let answer = group
            .heartbeat(&self.request(), topics, assignors, &config(), now)
            .expect("the heartbeat is accepted");
        self.apply(&answer);
        answer
    }

    pub(super) fn apply(&mut self, answer: &HeartbeatAnswer) {
        self.member_id.clone_from(&answer.member_id);
        self.epoch = answer.member_epoch;
        if let Some(assignment) = &answer.assignment {
            if self.stubborn {
                for (topic, partitions) in assignment {
                    self.owned.entry(*topic).or_default().extend(partitions);
                }
            } else {
                self.owned = assignment.clone();
            }
        }
    }

    pub(super) fn owned(&self) -> BTreeSet<i32> {
        self.owned.values().flatten().copied().collect()
    }

    /// What it owns, of every topic.
    pub(super) fn owned_partitions(&self) -> BTreeSet<(Uuid, i32)> {
        pairs(&self.owned)
    }
}

/// `(topic, partition)` pairs of `partitions`.
pub(super) fn pairs(partitions: &TopicPartitions) -> BTreeSet<(Uuid, i32)> {
    partitions
        .iter()
        .flat_map(|(topic, partitions)| partitions.iter().map(|p| (*topic, *p)))
        .collect()
}

/// No partition is owned by two clients, nor held (assigned or pending revocation) by two
/// members.
pub(super) fn assert_exclusive(group: &ConsumerGroup, clients: &[Client]) {
    let mut seen = BTreeSet::new();
    for client in clients {
        for partition in client.owned_partitions() {
            assert!(
                seen.insert(partition),
                "partition {partition:?} owned twice: {clients:?}"
            );
        }
    }
    let mut held = BTreeSet::new();
    for member in group.members() {
        for partition in pairs(&member.assigned).union(&pairs(&member.pending_revocation)) {
            assert!(
                held.insert(*partition),
                "partition {partition:?} held twice"
            );
        }
    }
}

/// Heartbeats every client in turn until none of them changes; checks exclusivity after
/// every heartbeat and that no client loses a partition its target keeps.
pub(super) fn converge(
    group: &mut ConsumerGroup,
    clients: &mut [Client],
    topics: &TopicsImage,
    now: Instant,
) {
    converge_with(group, clients, topics, &assignors(), now);
}

/// [`converge`] in a group whose `group.consumer.assignors` are `assignors`.
pub(super) fn converge_with(
    group: &mut ConsumerGroup,
    clients: &mut [Client],
    topics: &TopicsImage,
    assignors: &[&dyn Assignor],
    now: Instant,
) {
    for _round in 0..10 {
        let before: Vec<(i32, TopicPartitions)> =
            clients.iter().map(|c| (c.epoch, c.owned.clone())).collect();
        for i in 0..clients.len() {
            let had = clients[i].owned_partitions();
            clients[i].beat_with(group, topics, assignors, now);
            let kept_by_target = group
                .target_assignment(&clients[i].member_id)
                .map(pairs)
                .unwrap_or_default();
            let member = group.member(&clients[i].member_id).expect("a member");
            let pending = pairs(&member.pending_revocation);
            for partition in had.intersection(&kept_by_target) {
                assert!(
                    !pending.contains(partition),
                    "partition {partition:?} revoked though the target keeps it"
                );
            }
            assert_exclusive(group, clients);
        }
        let after: Vec<(i32, TopicPartitions)> =
            clients.iter().map(|c| (c.epoch, c.owned.clone())).collect();
        if before == after {
            return;
        }
    }
    panic!("the group did not converge: {clients:?}");
}

pub(super) fn assert_at_target(group: &ConsumerGroup, clients: &[Client]) {
    for client in clients {
        let member = group.member(&client.member_id).expect("a member");
        assert_eq!(member.state, MemberState::Stable, "{member:?}");
        assert_eq!(client.epoch, group.group_epoch());
        assert_eq!(
            Some(&client.owned),
            group
                .target_assignment(&client.member_id)
                .or(Some(&TopicPartitions::new()))
        );
    }
}

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
