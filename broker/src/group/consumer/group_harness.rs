//! Simulated clients of a consumer group and the checks every group test makes: a stand-in
//! assignor (round robin), a client that owns what it was last given, convergence with
//! exclusivity checked after every heartbeat.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use uuid::Uuid;

use super::assignor::{AssignmentSpec, Assignor, AssignorError, MemberId, TopicPartitions};
use super::group::{
    ConsumerGroup, ConsumerGroupConfig, HeartbeatAnswer, HeartbeatRequest, TopicMetadata,
    TopicsImage,
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

pub(super) fn topic_id() -> Uuid {
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

pub(super) fn parts(partitions: &[i32]) -> TopicPartitions {
    if partitions.is_empty() {
        return TopicPartitions::new();
    }
    BTreeMap::from([(topic_id(), partitions.iter().copied().collect())])
}

/// A consumer as the protocol expects it to behave: it owns what it was last given.
#[derive(Debug, Clone)]
pub(super) struct Client {
    pub(super) member_id: String,
    pub(super) instance_id: Option<String>,
    pub(super) epoch: i32,
    pub(super) owned: TopicPartitions,
    /// Keeps partitions it was told to give up.
    pub(super) stubborn: bool,
    /// The topics it subscribes to when it joins.
    pub(super) topics: Vec<String>,
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
