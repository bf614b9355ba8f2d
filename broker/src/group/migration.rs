//! Groups moving between the classic and the consumer protocol while they have members
//! (KIP-848's online migration), as `group.consumer.migration.policy` allows:
//!
//! ```text
//!  ConsumerGroupHeartbeat joining a classic group with members
//!     ─► upgrade allowed, the members embed the consumer protocol, ≤ group.consumer.max.size
//!     ─► each classic member becomes a member at the generation, Stable with what it was
//!        assigned (subscription and assignment decoded) ─► one batch: the classic group's
//!        tombstone, then the consumer group's records ─► the heartbeat goes on as usual
//!  JoinGroup / SyncGroup / Heartbeat / LeaveGroup for a consumer group
//!     ─► its classic members (consumer/classic.rs)
//!  a member leaves or is removed, and only classic members are left
//!     ─► downgrade allowed, ≤ group.max.size ─► a classic group Stable at the group epoch,
//!        each member with its target assignment ─► one batch: the consumer group's
//!        tombstones, then the classic group's record ─► the group rebalances
//!  JoinGroup for an empty consumer group ─► its tombstones; a classic group takes the id
//! ```
//!
//! Committed offsets are keyed by the group id alone: they stay through every conversion.
//! Both locks are held (classic groups first) while a group changes kind and its batch is
//! appended, so the log has the conversion in the order it happened, and a load replays it.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use bytes::Bytes;
use uuid::Uuid;

use super::consumer::assignor::TopicPartitions;
use super::consumer::group::{ConsumerGroup, TopicsImage};
use super::consumer::member::Member;
use super::consumer::records::{
    ClassicMemberMetadata, ClassicProtocol, ConsumerGroupKey, ConsumerGroupRecord,
};
use super::embedded::{self, decode_assignment, decode_subscription};
use super::metadata_record::{GroupMetadata, StoredMember, group_key, group_value};
use super::state::{ClassicMember, Group};
use super::{GroupCoordinator, GroupError};
use crate::group::consumer::group::GroupChange;

/// One record of a conversion batch: key and value (`None`: a tombstone).
pub(super) type Entry = (Vec<u8>, Option<Vec<u8>>);

/// The classic group's metadata record, or its tombstone.
pub(super) fn classic_entry(group_id: &str, value: Option<&GroupMetadata>) -> Entry {
    (group_key(group_id), value.map(group_value))
}

/// The consumer group records that delete a whole group: every member's three records, then
/// the target assignment epoch and the group epoch.
pub(super) fn consumer_tombstones(group: &ConsumerGroup) -> Vec<ConsumerGroupRecord> {
    let group_id = group.group_id().to_owned();
    let mut records: Vec<ConsumerGroupRecord> = group
        .members()
        .flat_map(|m| {
            super::consumer_groups::change_records(
                &group_id,
                &GroupChange::MemberRemoved(m.member_id.clone()),
            )
        })
        .collect();
    records.push(ConsumerGroupRecord {
        key: ConsumerGroupKey::TargetAssignmentMetadata {
            group: group_id.clone(),
        },
        value: None,
    });
    records.push(ConsumerGroupRecord {
        key: ConsumerGroupKey::GroupMetadata { group: group_id },
        value: None,
    });
    records
}

/// `(topic, partitions)` by name as the topic ids map to names now; unknown topics dropped.
fn by_name(partitions: &TopicPartitions, names: &HashMap<Uuid, String>) -> Vec<(String, Vec<i32>)> {
    partitions
        .iter()
        .filter_map(|(id, set)| Some((names.get(id)?.clone(), set.iter().copied().collect())))
        .collect()
}

/// `(topic, partitions)` by name as topic ids; unknown topics dropped.
fn by_id(partitions: &[(String, Vec<i32>)], topics: &TopicsImage) -> TopicPartitions {
    let mut out = TopicPartitions::new();
    for (name, list) in partitions {
        if let Some(topic) = topics.get(name) {
            out.entry(topic.id).or_default().extend(
                list.iter()
                    .copied()
                    .filter(|p| (0..topic.partitions).contains(p)),
            );
        }
    }
    out.retain(|_, set| !set.is_empty());
    out
}

fn millis(duration: std::time::Duration) -> i32 {
    i32::try_from(duration.as_millis()).unwrap_or(i32::MAX)
}

/// A classic member as a member of the consumer group that replaces its group.
fn converted(member: ClassicMember, topics: &TopicsImage) -> Result<Member, GroupError> {
    let malformed = |error: embedded::MalformedEmbedded| {
        tracing::warn!(member = %member.member_id, %error, "cannot upgrade the group");
        GroupError::GroupIdNotFound
    };
    let subscription = decode_subscription(&member.subscription).map_err(malformed)?;
    let assignment = decode_assignment(&member.assignment).map_err(malformed)?;
    let mut converted = Member::new(member.member_id);
    converted.instance_id = member.instance_id;
    converted.rack_id = subscription.rack_id;
    converted.client_id = member.client_id;
    converted.client_host = member.client_host;
    converted.rebalance_timeout = member.rebalance_timeout;
    converted.subscribed_topic_names = subscription.topics.into_iter().collect();
    converted.assigned = by_id(&assignment, topics);
    converted.classic = Some(ClassicMemberMetadata {
        session_timeout_ms: millis(member.session_timeout),
        supported_protocols: member
            .protocols
            .into_iter()
            .map(|(name, metadata)| ClassicProtocol {
                name,
                metadata: metadata.to_vec(),
            })
            .collect(),
    });
    Ok(converted)
}

/// The protocol most members prefer among those all of them offer (Kafka's
/// `selectProtocol`; ties: the earlier in the first member's list).
fn select_protocol(members: &[&ClassicMemberMetadata]) -> Option<String> {
    let first = members.first()?;
    let shared: Vec<&str> = first
        .supported_protocols
        .iter()
        .map(|p| p.name.as_str())
        .filter(|name| {
            members
                .iter()
                .all(|m| m.supported_protocols.iter().any(|p| p.name == *name))
        })
        .collect();
    let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
    for member in members {
        if let Some(preferred) = member
            .supported_protocols
            .iter()
            .find(|p| shared.contains(&p.name.as_str()))
        {
            *votes.entry(preferred.name.as_str()).or_default() += 1;
        }
    }
    let most = votes.values().copied().max()?;
    shared
        .into_iter()
        .find(|name| votes.get(name) == Some(&most))
        .map(str::to_owned)
}

impl GroupCoordinator {
    /// The consumer group a classic group with members becomes for a ConsumerGroupHeartbeat
    /// that joins it; GROUP_ID_NOT_FOUND (Kafka's answer) when the policy, the group's
    /// protocol type or `group.consumer.max.size` forbid it, or a member's subscription or
    /// assignment does not parse. The classic group is left as it was on refusal.
    pub(super) fn upgrade(
        &self,
        group_id: &str,
        classic: &mut Group,
        topics: &TopicsImage,
        now: Instant,
    ) -> Result<ConsumerGroup, GroupError> {
        let allowed = self.settings.migration.upgrade
            && classic.uses_consumer_protocol()
            && classic.member_count() <= self.settings.consumer.max_size;
        if !allowed {
            tracing::info!(
                group = group_id,
                "a classic group with members cannot become a consumer group (group.consumer.migration.policy, protocol type or group.consumer.max.size)"
            );
            return Err(GroupError::GroupIdNotFound);
        }
        let members = classic
            .classic_members()
            .into_iter()
            .map(|member| converted(member, topics))
            .collect::<Result<Vec<_>, _>>()?;
        classic.release_waiting();
        tracing::info!(
            group = group_id,
            members = members.len(),
            "classic group upgraded to a consumer group"
        );
        Ok(ConsumerGroup::from_classic(
            group_id,
            classic.generation(),
            members,
            &self.settings.consumer,
            now,
        ))
    }

    /// The classic group `group` becomes now that only classic members are left, and its
    /// record, if `group.consumer.migration.policy` and `group.max.size` allow it. Its
    /// generation is `generation`, the group epoch before the removal that left only classic
    /// members (Kafka converts instead of removing), so members at that epoch go on with it.
    pub(super) fn downgrade(
        &self,
        group: &ConsumerGroup,
        generation: i32,
        topic_names: &HashMap<Uuid, String>,
        now: Instant,
        now_ms: i64,
    ) -> Option<(Group, GroupMetadata)> {
        let members: Vec<&Member> = group.members().collect();
        if !self.settings.migration.downgrade
            || !group.all_classic()
            || members.len() > self.settings.limits.max_size
        {
            return None;
        }
        let classic: Vec<&ClassicMemberMetadata> =
            members.iter().filter_map(|m| m.classic.as_ref()).collect();
        let protocol = select_protocol(&classic)?;
        let stored = members
            .iter()
            .zip(&classic)
            .map(|(member, metadata)| {
                let subscription = metadata
                    .supported_protocols
                    .iter()
                    .find(|p| p.name == protocol)
                    .map(|p| Bytes::from(p.metadata.clone()))
                    .unwrap_or_default();
                let version = decode_subscription(&subscription).map_or(0, |s| s.version);
                let target = group
                    .target_assignment(&member.member_id)
                    .cloned()
                    .unwrap_or_default();
                StoredMember {
                    member_id: member.member_id.clone(),
                    group_instance_id: member.instance_id.clone(),
                    client_id: member.client_id.clone(),
                    client_host: member.client_host.clone(),
                    rebalance_timeout_ms: millis(member.rebalance_timeout),
                    session_timeout_ms: metadata.session_timeout_ms,
                    subscription,
                    assignment: embedded::encode_assignment(
                        version,
                        &by_name(&target, topic_names),
                    ),
                }
            })
            .collect();
        let metadata = GroupMetadata {
            protocol_type: super::consumer::group::CONSUMER_PROTOCOL_TYPE.to_owned(),
            generation,
            protocol: Some(protocol),
            leader: members.first().map(|m| m.member_id.clone()),
            current_state_timestamp: now_ms,
            members: stored,
        };
        let mut classic_group = Group::restore(group.group_id(), metadata.clone(), now);
        classic_group.rebalance(&self.settings.limits, now);
        tracing::info!(
            group = group.group_id(),
            members = members.len(),
            "consumer group downgraded to a classic group"
        );
        Some((classic_group, metadata))
    }
}

#[cfg(test)]
#[path = "migration_tests.rs"]
mod tests;
