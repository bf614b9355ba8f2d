//! KIP-848 consumer groups rebuilt from their records when a `__consumer_offsets` partition is
//! loaded (`Replay::consumer_groups` keeps the last value per key).
//!
//! ```text
//!  load ─► last value per key ─► per group: epoch (type 3), target epoch (6), targets (7),
//!          members' metadata (5) and current assignments (8) ─► ConsumerGroup::restore
//! ```
//!
//! A group without its epoch record is skipped (its members rejoin). Members rejoin nothing:
//! they go on heartbeating at their epochs, with sessions started at the load.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use super::consumer::assignor::TopicPartitions;
use super::consumer::group::{ConsumerGroup, StoredGroup};
use super::consumer::member::{Member, MemberState};
use super::consumer::records::{self, ConsumerGroupKey, ConsumerGroupValue};
use super::consumer::regex::{TopicRegex, resolve};
use super::{GroupCoordinator, lock};

/// One group's records, gathered.
#[derive(Default)]
struct Gathered {
    epoch: Option<i32>,
    stored: StoredGroup,
    metadata: BTreeMap<String, records::MemberMetadata>,
    current: BTreeMap<String, records::CurrentMemberAssignment>,
}

fn partitions(list: &[records::TopicPartitions]) -> TopicPartitions {
    let mut out = TopicPartitions::new();
    for topic in list {
        out.entry(topic.topic_id)
            .or_default()
            .extend(topic.partitions.iter().copied());
    }
    out
}

fn assigned(list: &[records::AssignedPartitions]) -> TopicPartitions {
    let mut out = TopicPartitions::new();
    for topic in list {
        out.entry(topic.topic_id)
            .or_default()
            .extend(topic.partitions.iter().copied());
    }
    out
}

fn state(code: i8) -> MemberState {
    match code {
        0 => MemberState::Stable,
        1 => MemberState::UnrevokedPartitions,
        2 => MemberState::UnreleasedPartitions,
        _ => MemberState::Unknown,
    }
}

/// The member its metadata and current assignment records describe.
fn member(
    member_id: &str,
    metadata: records::MemberMetadata,
    current: Option<records::CurrentMemberAssignment>,
) -> Member {
    let mut member = Member::new(member_id.to_owned());
    member.instance_id = metadata.instance_id;
    member.rack_id = metadata.rack_id;
    member.client_id = metadata.client_id;
    member.client_host = metadata.client_host;
    member.rebalance_timeout =
        Duration::from_millis(u64::try_from(metadata.rebalance_timeout_ms).unwrap_or(0));
    member.subscribed_topic_names = metadata.subscribed_topic_names.into_iter().collect();
    member.subscribed_topic_regex = metadata.subscribed_topic_regex;
    member.server_assignor = metadata.server_assignor;
    member.classic = metadata.classic_member_metadata;
    if let Some(current) = current {
        member.member_epoch = current.member_epoch;
        member.previous_member_epoch = current.previous_member_epoch;
        member.state = state(current.state);
        member.assigned = assigned(&current.assigned_partitions);
        member.pending_revocation = assigned(&current.partitions_pending_revocation);
    }
    member
}

impl GroupCoordinator {
    /// Rebuilds the consumer groups whose records `stored` holds; returns how many.
    pub(super) fn restore_consumer_groups(
        &self,
        stored: HashMap<ConsumerGroupKey, ConsumerGroupValue>,
    ) -> usize {
        let mut gathered: BTreeMap<String, Gathered> = BTreeMap::new();
        for (key, value) in stored {
            let group = gathered.entry(key.group().to_owned()).or_default();
            match (key, value) {
                (_, ConsumerGroupValue::GroupMetadata(v)) => group.epoch = Some(v.epoch),
                (_, ConsumerGroupValue::TargetAssignmentMetadata(v)) => {
                    group.stored.target_epoch = v.assignment_epoch;
                }
                (
                    ConsumerGroupKey::TargetAssignmentMember { member, .. },
                    ConsumerGroupValue::TargetAssignmentMember(v),
                ) => {
                    group
                        .stored
                        .target
                        .insert(member, partitions(&v.topic_partitions));
                }
                (
                    ConsumerGroupKey::MemberMetadata { member, .. },
                    ConsumerGroupValue::MemberMetadata(v),
                ) => {
                    group.metadata.insert(member, v);
                }
                (
                    ConsumerGroupKey::CurrentMemberAssignment { member, .. },
                    ConsumerGroupValue::CurrentMemberAssignment(v),
                ) => {
                    group.current.insert(member, v);
                }
                // Partition metadata and regular expressions are recomputed from the topics.
                _ => {}
            }
        }
        let image = self.topics_image();
        let now = Instant::now();
        let mut groups = lock(&self.consumer_groups);
        let mut restored = 0;
        for (group_id, mut gathered) in gathered {
            let Some(epoch) = gathered.epoch else {
                continue;
            };
            gathered.stored.group_epoch = epoch;
            let mut current = gathered.current;
            gathered.stored.members = gathered
                .metadata
                .into_iter()
                .map(|(id, metadata)| {
                    let assignment = current.remove(&id);
                    member(&id, metadata, assignment)
                })
                .collect();
            let regexes: BTreeSet<String> = gathered
                .stored
                .members
                .iter()
                .filter_map(|m| m.subscribed_topic_regex.clone())
                .collect();
            let resolved = regexes
                .into_iter()
                .filter_map(|pattern| {
                    let regex = TopicRegex::new(&pattern).ok()?;
                    let names = image.iter().map(|(name, t)| (name.as_str(), t.id));
                    Some((pattern, resolve(&regex, names)))
                })
                .collect();
            let group = ConsumerGroup::restore(
                &group_id,
                gathered.stored,
                resolved,
                &image,
                &self.settings.consumer,
                now,
            );
            groups.insert(group_id, group);
            restored += 1;
        }
        restored
    }
}
