//! The `uniform` assignor, Kafka's default server-side assignor: partitions spread as evenly
//! as the subscriptions allow, each member keeping what it can of its current assignment.
//! Balance comes first, stickiness second. Deterministic: members in id order, partitions in
//! (topic id, partition) order, no hashing.
//!
//! - **Homogeneous** (every member subscribes to the same topics): with `P` partitions and `N`
//!   members, `P % N` members may hold `P / N + 1` and the rest `P / N`, so counts differ by at
//!   most one. The larger quotas go to the members that already hold the most (ties by id), each
//!   member keeps its current partitions up to its quota, and what is left goes to members below
//!   their quota. A partition moves only when its owner holds more than its quota, and no
//!   balanced assignment moves fewer: adding a member moves exactly what the new member gets,
//!   removing one moves exactly what it held.
//! - **Heterogeneous**: every member keeps its current partitions of topics it still subscribes
//!   to; each unassigned partition (those of topics with the fewest subscribers first) goes to
//!   the least loaded subscriber of its topic. Then, while some member `A` can pass a partition
//!   along a chain of subscribers `A → X → … → B` that ends at a member holding at least two
//!   fewer, the chain is applied (each hop moves one partition of a topic the receiver
//!   subscribes to, so only `A` loses one and `B` gains one). No such chain left means the
//!   assignment is as balanced as the subscriptions allow (a cost-reducing path, as in load
//!   balancing by semi-matchings).
//!
//! A current partition counts as held only if its member still subscribes to its topic, the
//! topic still has it, and no member before it (by id) holds it too.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use uuid::Uuid;

use super::assignor::{AssignmentSpec, Assignor, AssignorError, MemberId, TopicPartitions};
use super::assignors::{check_subscriptions, held_partitions, partition_count};

/// Kafka's `uniform` assignor (`org.apache.kafka.coordinator.group.assignor.UniformAssignor`).
#[derive(Debug, Clone, Copy, Default)]
pub struct UniformAssignor;

impl Assignor for UniformAssignor {
    fn name(&self) -> &'static str {
        "uniform"
    }

    fn assign(
        &self,
        spec: &AssignmentSpec,
    ) -> Result<BTreeMap<MemberId, TopicPartitions>, AssignorError> {
        check_subscriptions(spec)?;
        let mut subscriptions = spec.members.values().map(|m| &m.subscribed);
        let homogeneous = match subscriptions.next() {
            Some(first) => subscriptions.all(|s| s == first),
            None => return Ok(BTreeMap::new()),
        };
        if homogeneous {
            Ok(assign_homogeneous(spec))
        } else {
            Ok(assign_heterogeneous(spec))
        }
    }
}

fn empty_assignment(spec: &AssignmentSpec) -> BTreeMap<MemberId, TopicPartitions> {
    spec.members
        .keys()
        .map(|id| (id.clone(), TopicPartitions::new()))
        .collect()
}

fn assign_homogeneous(spec: &AssignmentSpec) -> BTreeMap<MemberId, TopicPartitions> {
    let mut assignment = empty_assignment(spec);
    let Some(first) = spec.members.values().next() else {
        return assignment;
    };
    let all: Vec<(Uuid, i32)> = first
        .subscribed
        .iter()
        .flat_map(|&topic| (0..partition_count(spec, topic)).map(move |p| (topic, p)))
        .collect();
    let members = spec.members.len();
    let (min_quota, extras) = (all.len() / members, all.len() % members);

    let held = held_partitions(spec);
    let mut by_holding: Vec<&MemberId> = spec.members.keys().collect();
    by_holding.sort_by_key(|id| std::cmp::Reverse(held.get(*id).map_or(0, Vec::len)));
    let quota: BTreeMap<&MemberId, usize> = by_holding
        .iter()
        .enumerate()
        .map(|(rank, id)| (*id, min_quota + usize::from(rank < extras)))
        .collect();

    let mut taken = BTreeSet::new();
    for (id, partitions) in &held {
        let keep = quota.get(id).copied().unwrap_or(0);
        for &(topic, partition) in partitions.iter().take(keep) {
            taken.insert((topic, partition));
            add(&mut assignment, id, topic, partition);
        }
    }
    let mut unassigned = all.into_iter().filter(|tp| !taken.contains(tp));
    for (id, quota) in &quota {
        let have = assignment.get(*id).map_or(0, count);
        for (topic, partition) in unassigned.by_ref().take(quota.saturating_sub(have)) {
            add(&mut assignment, id, topic, partition);
        }
    }
    assignment
}

fn add(
    assignment: &mut BTreeMap<MemberId, TopicPartitions>,
    member: &MemberId,
    topic: Uuid,
    partition: i32,
) {
    if let Some(partitions) = assignment.get_mut(member) {
        partitions.entry(topic).or_default().insert(partition);
    }
}

fn count(partitions: &TopicPartitions) -> usize {
    partitions.values().map(BTreeSet::len).sum()
}

/// Heterogeneous state: who holds what, and each member's load.
struct Placement<'a> {
    subscribers: BTreeMap<Uuid, Vec<&'a MemberId>>,
    holdings: BTreeMap<&'a MemberId, TopicPartitions>,
    load: BTreeMap<&'a MemberId, usize>,
}

impl<'a> Placement<'a> {
    fn give(&mut self, member: &'a MemberId, topic: Uuid, partition: i32) {
        self.holdings
            .entry(member)
            .or_default()
            .entry(topic)
            .or_default()
            .insert(partition);
        *self.load.entry(member).or_default() += 1;
    }

    fn take(&mut self, member: &'a MemberId, topic: Uuid) -> Option<i32> {
        let partitions = self.holdings.get_mut(member)?.get_mut(&topic)?;
        let partition = partitions.pop_last()?;
        if partitions.is_empty() {
            self.holdings.get_mut(member).map(|h| h.remove(&topic));
        }
        self.load.entry(member).and_modify(|l| *l -= 1);
        Some(partition)
    }

    fn load(&self, member: &MemberId) -> usize {
        self.load.get(member).copied().unwrap_or(0)
    }

    /// A chain from `from` to the least loaded member it reaches that holds at least two
    /// fewer: the hops as (giver, receiver, topic). Breadth first, members and topics in order.
    fn cost_reducing_path(
        &self,
        from: &'a MemberId,
    ) -> Option<Vec<(&'a MemberId, &'a MemberId, Uuid)>> {
        let limit = self.load(from).checked_sub(2)?;
        let mut came_from: BTreeMap<&'a MemberId, (&'a MemberId, Uuid)> = BTreeMap::new();
        let mut queue = VecDeque::from([from]);
        let mut best: Option<&'a MemberId> = None;
        while let Some(giver) = queue.pop_front() {
            let Some(holding) = self.holdings.get(giver) else {
                continue;
            };
            for &topic in holding.keys() {
                for &receiver in self.subscribers.get(&topic).into_iter().flatten() {
                    if receiver == from || came_from.contains_key(receiver) {
                        continue;
                    }
                    came_from.insert(receiver, (giver, topic));
                    queue.push_back(receiver);
                    let load = self.load(receiver);
                    if load <= limit && best.is_none_or(|b| load < self.load(b)) {
                        best = Some(receiver);
                    }
                }
            }
        }
        let mut hops = Vec::new();
        let mut at = best?;
        while at != from {
            let &(giver, topic) = came_from.get(at)?;
            hops.push((giver, at, topic));
            at = giver;
        }
        hops.reverse();
        Some(hops)
    }
}

fn assign_heterogeneous(spec: &AssignmentSpec) -> BTreeMap<MemberId, TopicPartitions> {
    let mut subscribers: BTreeMap<Uuid, Vec<&MemberId>> = BTreeMap::new();
    for (id, member) in &spec.members {
        for &topic in &member.subscribed {
            subscribers.entry(topic).or_default().push(id);
        }
    }
    let mut placement = Placement {
        subscribers,
        holdings: BTreeMap::new(),
        load: spec.members.keys().map(|id| (id, 0)).collect(),
    };
    let mut taken = BTreeSet::new();
    for (id, partitions) in held_partitions(spec) {
        for (topic, partition) in partitions {
            taken.insert((topic, partition));
            placement.give(id, topic, partition);
        }
    }

    // The most constrained partitions first: those of topics with the fewest subscribers.
    let mut unassigned: Vec<(usize, Uuid, i32)> = Vec::new();
    for (&topic, members) in &placement.subscribers {
        for partition in 0..partition_count(spec, topic) {
            if !taken.contains(&(topic, partition)) {
                unassigned.push((members.len(), topic, partition));
            }
        }
    }
    unassigned.sort_unstable();
    for (_, topic, partition) in unassigned {
        let least_loaded = placement
            .subscribers
            .get(&topic)
            .and_then(|members| members.iter().min_by_key(|id| placement.load(id)).copied());
        if let Some(member) = least_loaded {
            placement.give(member, topic, partition);
        }
    }

    // Each applied chain lowers the sum of squared loads, so this ends.
    'balance: loop {
        let mut heaviest_first: Vec<&MemberId> = spec.members.keys().collect();
        heaviest_first.sort_by_key(|id| std::cmp::Reverse(placement.load(id)));
        for from in heaviest_first {
            if let Some(hops) = placement.cost_reducing_path(from) {
                for (giver, receiver, topic) in hops {
                    if let Some(partition) = placement.take(giver, topic) {
                        placement.give(receiver, topic, partition);
                    }
                }
                continue 'balance;
            }
        }
        break;
    }

    let mut assignment = empty_assignment(spec);
    for (id, holding) in placement.holdings {
        for (topic, partitions) in holding {
            for partition in partitions {
                add(&mut assignment, id, topic, partition);
            }
        }
    }
    assignment
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::consumer::assignors::tests::{check_complete, count, spec, topic};

    fn owned(result: &BTreeMap<MemberId, TopicPartitions>, member: &str, t: u128) -> Vec<i32> {
        result[member]
            .get(&topic(t))
            .map(|ps| ps.iter().copied().collect())
            .unwrap_or_default()
    }

    fn counts(result: &BTreeMap<MemberId, TopicPartitions>) -> Vec<usize> {
        result.values().map(count).collect()
    }

    #[test]
    fn homogeneous_members_get_counts_within_one() {
        let spec = spec(
            &[(1, 4), (2, 3)],
            &[
                ("a", &[1, 2], &[]),
                ("b", &[1, 2], &[]),
                ("c", &[1, 2], &[]),
            ],
        );
        let result = UniformAssignor.assign(&spec).expect("assigns");
        check_complete(&spec, &result).expect("complete");
        assert_eq!(counts(&result), [3, 2, 2]);
    }

    #[test]
    fn a_balanced_current_assignment_is_kept_as_it_is() {
        let spec = spec(
            &[(1, 4)],
            &[("a", &[1], &[(1, &[1, 3])]), ("b", &[1], &[(1, &[0, 2])])],
        );
        let result = UniformAssignor.assign(&spec).expect("assigns");
        assert_eq!(owned(&result, "a", 1), [1, 3]);
        assert_eq!(owned(&result, "b", 1), [0, 2]);
    }

    #[test]
    fn a_joining_member_takes_only_from_members_above_their_quota() {
        // 6 partitions over 3: a holds 4 and gives 2; b holds 2 and keeps them.
        let spec = spec(
            &[(1, 6)],
            &[
                ("a", &[1], &[(1, &[0, 1, 2, 3])]),
                ("b", &[1], &[(1, &[4, 5])]),
                ("c", &[1], &[]),
            ],
        );
        let result = UniformAssignor.assign(&spec).expect("assigns");
        assert_eq!(owned(&result, "a", 1), [0, 1]);
        assert_eq!(owned(&result, "b", 1), [4, 5]);
        assert_eq!(owned(&result, "c", 1), [2, 3]);
    }

    #[test]
    fn the_larger_quotas_go_to_the_members_holding_most() {
        // 5 partitions over 2: the member with 3 keeps 3, although "a" comes first.
        let spec = spec(
            &[(1, 5)],
            &[
                ("a", &[1], &[(1, &[0, 1])]),
                ("b", &[1], &[(1, &[2, 3, 4])]),
            ],
        );
        let result = UniformAssignor.assign(&spec).expect("assigns");
        assert_eq!(owned(&result, "b", 1), [2, 3, 4]);
        assert_eq!(owned(&result, "a", 1), [0, 1]);
    }

    #[test]
    fn current_partitions_that_are_no_longer_valid_are_reassigned() {
        // "a" no longer subscribes to topic 2; partition 9 of topic 1 does not exist; partition
        // 0 is claimed by both and stays with "a", the first by id.
        let spec = spec(
            &[(1, 2), (2, 2)],
            &[
                ("a", &[1], &[(1, &[0, 9]), (2, &[0, 1])]),
                ("b", &[1, 2], &[(1, &[0])]),
            ],
        );
        let result = UniformAssignor.assign(&spec).expect("assigns");
        check_complete(&spec, &result).expect("complete");
        // "a" keeps partition 0 and, as the less loaded, also gets 1; "b" gets topic 2.
        assert_eq!(owned(&result, "a", 1), [0, 1]);
        assert_eq!(owned(&result, "a", 2), Vec::<i32>::new());
        assert_eq!(owned(&result, "b", 2), [0, 1]);
    }

    #[test]
    fn a_topic_only_some_members_subscribe_to_goes_only_to_them() {
        let spec = spec(
            &[(1, 3), (2, 3)],
            &[("a", &[1], &[]), ("b", &[1, 2], &[]), ("c", &[], &[])],
        );
        let result = UniformAssignor.assign(&spec).expect("assigns");
        check_complete(&spec, &result).expect("complete");
        assert_eq!(counts(&result), [3, 3, 0]);
        assert_eq!(owned(&result, "a", 1), [0, 1, 2]);
        assert_eq!(owned(&result, "b", 2), [0, 1, 2]);
    }

    #[test]
    fn heterogeneous_balance_passes_partitions_along_a_chain_of_subscribers() {
        // a: topics 1, 2; b: topics 2, 3; c: topic 3. a holds 4 and c none, and a holds nothing
        // c may take: only a → b (topic 2) → c (topic 3) evens them out.
        let spec = spec(
            &[(1, 2), (2, 2), (3, 2)],
            &[
                ("a", &[1, 2], &[(1, &[0, 1]), (2, &[0, 1])]),
                ("b", &[2, 3], &[(3, &[0, 1])]),
                ("c", &[3], &[]),
            ],
        );
        let result = UniformAssignor.assign(&spec).expect("assigns");
        check_complete(&spec, &result).expect("complete");
        assert_eq!(counts(&result), [2, 2, 2]);
        assert_eq!(owned(&result, "a", 1), [0, 1]);
        assert_eq!(owned(&result, "b", 2), [0, 1]);
        assert_eq!(owned(&result, "c", 3), [0, 1]);
    }
}
