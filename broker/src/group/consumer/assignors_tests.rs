//! The registry, and properties both assignors keep over random specs.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use uuid::Uuid;

use super::*;
use crate::group::consumer::assignor::{MemberSpec, TopicPartitions, TopicSpec};

pub(in crate::group::consumer) fn topic(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

/// A member for [`spec`]: id, subscribed topic numbers, current (topic number, partitions).
pub(in crate::group::consumer) type TestMember<'a> = (&'a str, &'a [u128], &'a [(u128, &'a [i32])]);

/// A spec from (topic number, partitions) and members.
pub(in crate::group::consumer) fn spec(
    topics: &[(u128, i32)],
    members: &[TestMember<'_>],
) -> AssignmentSpec {
    AssignmentSpec {
        topics: topics
            .iter()
            .map(|&(n, partitions)| {
                let name = format!("t{n}");
                (topic(n), TopicSpec { name, partitions })
            })
            .collect(),
        members: members
            .iter()
            .map(|(id, subscribed, assigned)| {
                let member = MemberSpec {
                    subscribed: subscribed.iter().map(|&n| topic(n)).collect(),
                    assigned: assigned
                        .iter()
                        .map(|&(n, ps)| (topic(n), ps.iter().copied().collect()))
                        .collect(),
                    ..MemberSpec::default()
                };
                (id.to_string(), member)
            })
            .collect(),
    }
}

pub(in crate::group::consumer) fn count(partitions: &TopicPartitions) -> usize {
    partitions.values().map(BTreeSet::len).sum()
}

/// Every partition of a subscribed topic assigned exactly once, to a subscriber of its topic;
/// nothing else assigned; every member present.
pub(in crate::group::consumer) fn check_complete(
    spec: &AssignmentSpec,
    result: &BTreeMap<MemberId, TopicPartitions>,
) -> Result<(), String> {
    let members: BTreeSet<&MemberId> = spec.members.keys().collect();
    let listed: BTreeSet<&MemberId> = result.keys().collect();
    if members != listed {
        return Err(format!("members {members:?}, result lists {listed:?}"));
    }
    let mut owners: BTreeMap<(Uuid, i32), &MemberId> = BTreeMap::new();
    for (id, partitions) in result {
        let subscribed = &spec.members[id].subscribed;
        for (topic, ps) in partitions {
            if !subscribed.contains(topic) {
                return Err(format!("{id} got {topic}, which it does not subscribe to"));
            }
            if ps.is_empty() {
                return Err(format!("{id} has an empty entry for {topic}"));
            }
            for &p in ps {
                if let Some(other) = owners.insert((*topic, p), id) {
                    return Err(format!("{topic}-{p} to both {other} and {id}"));
                }
            }
        }
    }
    for (topic, t) in &spec.topics {
        let subscribed = spec.members.values().any(|m| m.subscribed.contains(topic));
        for p in 0..t.partitions {
            if subscribed != owners.contains_key(&(*topic, p)) {
                return Err(format!("{topic}-{p}: subscribed {subscribed}, assigned"));
            }
        }
    }
    let expected: usize = spec
        .topics
        .iter()
        .filter(|(id, _)| spec.members.values().any(|m| m.subscribed.contains(id)))
        .map(|(_, t)| usize::try_from(t.partitions).unwrap_or(0))
        .sum();
    if owners.len() != expected {
        return Err(format!("{} assigned, {expected} expected", owners.len()));
    }
    Ok(())
}

/// The current partitions each member may keep, computed as plainly as possible: subscribed,
/// in range, first holder by id.
pub(in crate::group::consumer) fn valid_current(
    spec: &AssignmentSpec,
) -> BTreeMap<(Uuid, i32), MemberId> {
    let mut owners = BTreeMap::new();
    for (id, member) in &spec.members {
        for (topic, ps) in &member.assigned {
            let Some(t) = spec.topics.get(topic) else {
                continue;
            };
            for &p in ps {
                if member.subscribed.contains(topic) && p >= 0 && p < t.partitions {
                    owners.entry((*topic, p)).or_insert_with(|| id.clone());
                }
            }
        }
    }
    owners
}

/// How many currently (validly) owned partitions have a different owner in `result`.
pub(in crate::group::consumer) fn moves(
    spec: &AssignmentSpec,
    result: &BTreeMap<MemberId, TopicPartitions>,
) -> usize {
    valid_current(spec)
        .into_iter()
        .filter(|((topic, p), owner)| !result[owner].get(topic).is_some_and(|ps| ps.contains(p)))
        .count()
}

/// Random specs: 1..5 topics of 1..30 partitions, 0..20 members, subscriptions all alike or
/// random, current assignments random (including partitions out of range, of topics not
/// subscribed to, and held twice).
fn arb_spec() -> impl Strategy<Value = AssignmentSpec> {
    let topics = prop::collection::vec(1..30i32, 1..5);
    (topics, any::<bool>()).prop_flat_map(|(partitions, homogeneous)| {
        let n = partitions.len();
        let subscription = prop::collection::btree_set(0..n, 0..=n);
        let current = prop::collection::vec((0..n + 1, -1..32i32), 0..12);
        let member = (subscription, current);
        (
            Just(partitions),
            Just(homogeneous),
            prop::collection::btree_set(0..n, 1..=n),
            prop::collection::vec(member, 0..20),
        )
            .prop_map(|(partitions, homogeneous, common, members)| {
                let topic_of = |i: usize| topic(i as u128 + 1);
                AssignmentSpec {
                    topics: partitions
                        .iter()
                        .enumerate()
                        .map(|(i, &p)| {
                            let name = format!("t{i}");
                            (
                                topic_of(i),
                                TopicSpec {
                                    name,
                                    partitions: p,
                                },
                            )
                        })
                        .collect(),
                    members: members
                        .into_iter()
                        .enumerate()
                        .map(|(m, (subscription, current))| {
                            let chosen = if homogeneous { &common } else { &subscription };
                            let mut assigned = TopicPartitions::new();
                            for (t, p) in current {
                                assigned.entry(topic_of(t)).or_default().insert(p);
                            }
                            let member = MemberSpec {
                                subscribed: chosen.iter().map(|&i| topic_of(i)).collect(),
                                assigned,
                                ..MemberSpec::default()
                            };
                            (format!("m{m:02}"), member)
                        })
                        .collect(),
                }
            })
    })
}

fn homogeneous(spec: &AssignmentSpec) -> bool {
    let mut subscriptions = spec.members.values().map(|m| &m.subscribed);
    subscriptions
        .next()
        .is_none_or(|first| subscriptions.all(|s| s == first))
}

/// The fewest current partitions any assignment with counts within one must move: with the
/// larger quotas on the largest holdings, what each member holds above its quota.
fn fewest_moves_for_balance(spec: &AssignmentSpec) -> usize {
    let total: usize = match spec.members.values().next() {
        Some(m) => m
            .subscribed
            .iter()
            .map(|t| usize::try_from(spec.topics[t].partitions).unwrap_or(0))
            .sum(),
        None => return 0,
    };
    let n = spec.members.len();
    let mut held: BTreeMap<&MemberId, usize> = spec.members.keys().map(|id| (id, 0)).collect();
    let owners = valid_current(spec);
    for owner in owners.values() {
        *held.entry(owner).or_default() += 1;
    }
    let mut counts: Vec<usize> = held.into_values().collect();
    counts.sort_unstable_by(|a, b| b.cmp(a));
    counts
        .iter()
        .enumerate()
        .map(|(rank, &c)| c.saturating_sub(total / n + usize::from(rank < total % n)))
        .sum()
}

/// Whether some member can pass a partition along subscribers to one holding two fewer.
fn has_cost_reducing_path(
    spec: &AssignmentSpec,
    result: &BTreeMap<MemberId, TopicPartitions>,
) -> bool {
    let ids: Vec<&MemberId> = spec.members.keys().collect();
    let n = ids.len();
    let mut reach = vec![vec![false; n]; n];
    for (a, ida) in ids.iter().enumerate() {
        for (b, idb) in ids.iter().enumerate() {
            reach[a][b] = a != b
                && result[*ida]
                    .keys()
                    .any(|t| spec.members[*idb].subscribed.contains(t));
        }
    }
    for k in 0..n {
        for a in 0..n {
            for b in 0..n {
                if reach[a][k] && reach[k][b] && a != b {
                    reach[a][b] = true;
                }
            }
        }
    }
    let load: Vec<usize> = ids.iter().map(|id| count(&result[*id])).collect();
    (0..n).any(|a| (0..n).any(|b| reach[a][b] && load[a] >= load[b] + 2))
}

fn with_current(
    spec: &AssignmentSpec,
    result: &BTreeMap<MemberId, TopicPartitions>,
) -> AssignmentSpec {
    let mut next = spec.clone();
    for (id, member) in &mut next.members {
        member.assigned = result[id].clone();
    }
    next
}

#[test]
fn assignors_are_found_by_their_exact_name() {
    for name in NAMES {
        let found = assignor(name).expect("every listed name has an assignor");
        assert_eq!(found.name(), name);
    }
    assert_eq!(DEFAULT, "uniform");
    assert!(assignor("Uniform").is_none());
    assert!(assignor("sticky").is_none());
    assert!(assignor("").is_none());
}

#[test]
fn a_subscription_to_an_undescribed_topic_is_refused_by_both_assignors() {
    let spec = spec(&[(1, 3)], &[("a", &[1, 9], &[])]);
    for name in NAMES {
        let error = assignor(name).expect("listed").assign(&spec);
        assert_eq!(error, Err(AssignorError::UnknownTopic(topic(9))), "{name}");
    }
}

#[test]
fn a_group_without_members_gets_an_empty_assignment() {
    let spec = spec(&[(1, 3)], &[]);
    for name in NAMES {
        let result = assignor(name).expect("listed").assign(&spec);
        assert_eq!(result, Ok(BTreeMap::new()), "{name}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn every_subscribed_partition_goes_to_exactly_one_subscriber(spec in arb_spec()) {
        for name in NAMES {
            let result = assignor(name).expect("listed").assign(&spec).map_err(|e| {
                TestCaseError::fail(format!("{name}: {e}"))
            })?;
            check_complete(&spec, &result).map_err(|e| TestCaseError::fail(format!("{name}: {e}")))?;
        }
    }

    #[test]
    fn both_assignors_are_deterministic_and_stable(spec in arb_spec()) {
        for name in NAMES {
            let assignor = assignor(name).expect("listed");
            let first = assignor.assign(&spec).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let again = assignor.assign(&spec.clone()).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(&first, &again, "{} is not deterministic", name);
            // Given its own result as the current assignment, nothing moves.
            let rerun = assignor
                .assign(&with_current(&spec, &first))
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(&first, &rerun, "{} moves partitions of its own result", name);
        }
    }

    #[test]
    fn uniform_balances_as_far_as_subscriptions_allow(spec in arb_spec()) {
        let result = UniformAssignor.assign(&spec).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let counts: Vec<usize> = result.values().map(count).collect();
        if homogeneous(&spec) && !counts.is_empty() {
            let (min, max) = (counts.iter().min(), counts.iter().max());
            prop_assert!(max.zip(min).is_some_and(|(max, min)| max - min <= 1), "{:?}", counts);
        }
        prop_assert!(!has_cost_reducing_path(&spec, &result), "{:?}", counts);
    }

    #[test]
    fn uniform_homogeneous_moves_no_more_than_balance_requires(spec in arb_spec()) {
        prop_assume!(homogeneous(&spec));
        let result = UniformAssignor.assign(&spec).map_err(|e| TestCaseError::fail(e.to_string()))?;
        // The bound is also a lower bound for any balanced assignment, so it is met exactly.
        prop_assert_eq!(moves(&spec, &result), fewest_moves_for_balance(&spec));
    }

    #[test]
    fn uniform_moves_only_what_a_joining_or_leaving_member_needs(
        spec in arb_spec(),
        leaver in any::<prop::sample::Index>(),
    ) {
        prop_assume!(homogeneous(&spec) && !spec.members.is_empty());
        let before = UniformAssignor.assign(&spec).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let settled = with_current(&spec, &before);

        let mut joined = settled.clone();
        let subscribed = settled.members.values().next().map(|m| m.subscribed.clone()).unwrap_or_default();
        joined.members.insert("new".into(), MemberSpec { subscribed, ..MemberSpec::default() });
        let after = UniformAssignor.assign(&joined).map_err(|e| TestCaseError::fail(e.to_string()))?;
        // Every move is a partition handed to the new member, and it gets no other.
        prop_assert_eq!(moves(&joined, &after), count(&after["new"]));

        let ids: Vec<MemberId> = settled.members.keys().cloned().collect();
        let gone = &ids[leaver.index(ids.len())];
        let mut left = settled.clone();
        left.members.remove(gone);
        let after = UniformAssignor.assign(&left).map_err(|e| TestCaseError::fail(e.to_string()))?;
        // Nothing the remaining members held moves; only the leaver's partitions find owners.
        prop_assert_eq!(moves(&left, &after), 0);
        check_complete(&left, &after).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn range_splits_each_topic_evenly_and_co_partitions(spec in arb_spec()) {
        let fresh = {
            let mut fresh = spec.clone();
            fresh.members.values_mut().for_each(|m| m.assigned.clear());
            fresh
        };
        for spec in [&spec, &fresh] {
            let result = RangeAssignor.assign(spec).map_err(|e| TestCaseError::fail(e.to_string()))?;
            for topic in spec.topics.keys() {
                let counts: Vec<usize> = spec
                    .members
                    .iter()
                    .filter(|(_, m)| m.subscribed.contains(topic))
                    .map(|(id, _)| result[id].get(topic).map_or(0, BTreeSet::len))
                    .collect();
                let (min, max) = (counts.iter().min(), counts.iter().max());
                prop_assert!(max.zip(min).is_none_or(|(max, min)| max - min <= 1), "{:?}", counts);
            }
        }
        // Without current assignments, topics with the same partition count and subscribers
        // give each member the same partition numbers.
        let result = RangeAssignor.assign(&fresh).map_err(|e| TestCaseError::fail(e.to_string()))?;
        for (a, ta) in &fresh.topics {
            for (b, tb) in &fresh.topics {
                let subscribers = |t: &Uuid| -> Vec<&MemberId> {
                    fresh.members.iter().filter(|(_, m)| m.subscribed.contains(t)).map(|(id, _)| id).collect()
                };
                if ta.partitions == tb.partitions && subscribers(a) == subscribers(b) {
                    for id in subscribers(a) {
                        prop_assert_eq!(result[id].get(a), result[id].get(b));
                    }
                }
            }
        }
    }
}
