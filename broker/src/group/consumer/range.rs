//! The `range` assignor, Kafka's server-side range assignor
//! (`org.apache.kafka.coordinator.group.assignor.RangeAssignor`): topic by topic, the
//! partitions are split in contiguous ranges over the members subscribed to the topic, in
//! member id order. With `P` partitions and `N` subscribers, each gets `P / N` and the first
//! `P % N` one more. Topics with the same partition count and the same subscribers are split
//! the same way, so a member gets the same partition numbers of each (co-partitioning, for
//! joins).
//!
//! Sticky as Kafka's is: a subscriber keeps its lowest current partitions of the topic up to
//! `P / N`, and one more if it held more and the `P % N` extra places are not yet taken
//! (members in id order); the partitions left go, in ascending order, to the subscribers below
//! their share, extra places first to those that come first. A current partition counts only
//! if the member still subscribes to the topic, the topic still has it and no member before it
//! (by id) holds it too.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use super::assignor::{AssignmentSpec, Assignor, AssignorError, MemberId, TopicPartitions};
use super::assignors::{check_subscriptions, held_partitions, partition_count};

/// Kafka's `range` assignor.
#[derive(Debug, Clone, Copy, Default)]
pub struct RangeAssignor;

impl Assignor for RangeAssignor {
    fn name(&self) -> &'static str {
        "range"
    }

    fn assign(
        &self,
        spec: &AssignmentSpec,
    ) -> Result<BTreeMap<MemberId, TopicPartitions>, AssignorError> {
        check_subscriptions(spec)?;
        let mut subscribers: BTreeMap<Uuid, Vec<&MemberId>> = BTreeMap::new();
        for (id, member) in &spec.members {
            for &topic in &member.subscribed {
                subscribers.entry(topic).or_default().push(id);
            }
        }
        let mut held: BTreeMap<(&MemberId, Uuid), Vec<i32>> = BTreeMap::new();
        for (id, partitions) in held_partitions(spec) {
            for (topic, partition) in partitions {
                held.entry((id, topic)).or_default().push(partition);
            }
        }

        let mut assignment: BTreeMap<MemberId, TopicPartitions> = spec
            .members
            .keys()
            .map(|id| (id.clone(), TopicPartitions::new()))
            .collect();
        for (topic, members) in subscribers {
            let partitions = partition_count(spec, topic);
            let members: Vec<(&MemberId, &[i32])> = members
                .into_iter()
                .map(|id| (id, held.get(&(id, topic)).map_or(&[][..], Vec::as_slice)))
                .collect();
            let share = assign_topic(partitions, &members);
            for (member, partitions) in share {
                if let Some(target) = assignment.get_mut(member)
                    && !partitions.is_empty()
                {
                    target.insert(topic, partitions);
                }
            }
        }
        Ok(assignment)
    }
}

/// One topic of `partitions` partitions over `members` (in order), given what each holds now
/// (ascending, valid, held by no one else).
fn assign_topic<'a>(
    partitions: i32,
    members: &[(&'a MemberId, &[i32])],
) -> BTreeMap<&'a MemberId, BTreeSet<i32>> {
    let mut result: BTreeMap<&MemberId, BTreeSet<i32>> = BTreeMap::new();
    if members.is_empty() {
        return result;
    }
    let count = usize::try_from(partitions).unwrap_or(0);
    let min_quota = count / members.len();
    let mut extras = count % members.len();

    let mut kept = BTreeSet::new();
    let mut unfilled: Vec<(&MemberId, usize)> = Vec::new();
    for &(member, current) in members {
        let keep = current.len().min(min_quota);
        let mut mine: BTreeSet<i32> = current[..keep].iter().copied().collect();
        if current.len() > min_quota && extras > 0 {
            extras -= 1;
            mine.insert(current[min_quota]);
        } else {
            unfilled.push((member, min_quota - keep));
        }
        kept.extend(mine.iter().copied());
        result.insert(member, mine);
    }

    let mut unassigned = (0..partitions).filter(|p| !kept.contains(p));
    for (member, mut missing) in unfilled {
        if extras > 0 {
            extras -= 1;
            missing += 1;
        }
        if let Some(mine) = result.get_mut(member) {
            mine.extend(unassigned.by_ref().take(missing));
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::consumer::assignors::tests::{check_complete, spec, topic};

    fn owned(result: &BTreeMap<MemberId, TopicPartitions>, member: &str, t: u128) -> Vec<i32> {
        result[member]
            .get(&topic(t))
            .map(|ps| ps.iter().copied().collect())
            .unwrap_or_default()
    }

    #[test]
    fn partitions_are_split_in_contiguous_ranges_in_member_order() {
        let spec = spec(
            &[(1, 7)],
            &[("a", &[1], &[]), ("b", &[1], &[]), ("c", &[1], &[])],
        );
        let result = RangeAssignor.assign(&spec).expect("assigns");
        assert_eq!(owned(&result, "a", 1), [0, 1, 2]);
        assert_eq!(owned(&result, "b", 1), [3, 4]);
        assert_eq!(owned(&result, "c", 1), [5, 6]);
    }

    #[test]
    fn co_partitioned_topics_give_a_member_the_same_partition_numbers() {
        let spec = spec(
            &[(1, 5), (2, 5)],
            &[("a", &[1, 2], &[]), ("b", &[1, 2], &[])],
        );
        let result = RangeAssignor.assign(&spec).expect("assigns");
        assert_eq!(owned(&result, "a", 1), [0, 1, 2]);
        assert_eq!(owned(&result, "a", 2), [0, 1, 2]);
        assert_eq!(owned(&result, "b", 1), [3, 4]);
        assert_eq!(owned(&result, "b", 2), [3, 4]);
    }

    #[test]
    fn each_topic_is_split_over_its_own_subscribers_only() {
        let spec = spec(
            &[(1, 4), (2, 2)],
            &[("a", &[1], &[]), ("b", &[1, 2], &[]), ("c", &[2], &[])],
        );
        let result = RangeAssignor.assign(&spec).expect("assigns");
        check_complete(&spec, &result).expect("complete");
        assert_eq!(owned(&result, "a", 1), [0, 1]);
        assert_eq!(owned(&result, "b", 1), [2, 3]);
        assert_eq!(owned(&result, "b", 2), [0]);
        assert_eq!(owned(&result, "c", 2), [1]);
    }

    #[test]
    fn members_keep_their_lowest_partitions_up_to_their_share_when_one_joins() {
        let spec = spec(
            &[(1, 6)],
            &[
                ("a", &[1], &[(1, &[0, 1, 2])]),
                ("b", &[1], &[(1, &[3, 4, 5])]),
                ("c", &[1], &[]),
            ],
        );
        let result = RangeAssignor.assign(&spec).expect("assigns");
        assert_eq!(owned(&result, "a", 1), [0, 1]);
        assert_eq!(owned(&result, "b", 1), [3, 4]);
        assert_eq!(owned(&result, "c", 1), [2, 5]);
    }

    #[test]
    fn an_extra_place_stays_with_the_first_member_holding_more_than_its_share() {
        // 7 over 3: shares 3, 2, 2. "a" held 4 and keeps 3; "b" held 3 but the one extra place
        // is taken, so it keeps 2; "c" gets what is left.
        let spec = spec(
            &[(1, 7)],
            &[
                ("a", &[1], &[(1, &[0, 1, 2, 3])]),
                ("b", &[1], &[(1, &[4, 5, 6])]),
                ("c", &[1], &[]),
            ],
        );
        let result = RangeAssignor.assign(&spec).expect("assigns");
        assert_eq!(owned(&result, "a", 1), [0, 1, 2]);
        assert_eq!(owned(&result, "b", 1), [4, 5]);
        assert_eq!(owned(&result, "c", 1), [3, 6]);
    }

    #[test]
    fn a_partition_held_twice_stays_with_the_first_member_by_id() {
        let spec = spec(
            &[(1, 2)],
            &[("a", &[1], &[(1, &[1])]), ("b", &[1], &[(1, &[1])])],
        );
        let result = RangeAssignor.assign(&spec).expect("assigns");
        check_complete(&spec, &result).expect("complete");
        assert_eq!(owned(&result, "a", 1), [1]);
        assert_eq!(owned(&result, "b", 1), [0]);
    }
}
