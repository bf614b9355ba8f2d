//! KIP-848 consumer groups in the coordinator: ConsumerGroupHeartbeat, ConsumerGroupDescribe,
//! the session tick and the groups' records, beside the classic groups of `state.rs`.
//!
//! ```text
//!  ConsumerGroupHeartbeat ─► check_coordinator ─► a classic group with members: GROUP_ID_NOT_FOUND
//!     ─► topics snapshot (name → id, partitions) ─► regexes resolved (regex.rs)
//!     ─► ConsumerGroup::heartbeat ─► changes as KIP-848 records appended (under the lock)
//!     ─► durable + committed ─► answer
//!  tick (100 ms) ─► ConsumerGroup::tick ─► records of removed members appended
//! ```
//!
//! Records are appended under the consumer groups lock, so a group's records reach the log in
//! the order its state changed; loading the partition rebuilds the groups from them
//! (`consumer_restore.rs`).

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use bytes::Bytes;
use uuid::Uuid;

use super::consumer::assignor::{Assignor, TopicPartitions};
use super::consumer::assignors;
use super::consumer::group::{
    ConsumerGroup, ConsumerGroupError, GroupChange, HeartbeatAnswer, HeartbeatRequest, TopicsImage,
};
use super::consumer::member::{
    JOIN_GROUP_MEMBER_EPOCH, LEAVE_GROUP_MEMBER_EPOCH, Member, MemberState,
};
use super::consumer::records::{
    self, AssignedPartitions, ConsumerGroupKey, ConsumerGroupRecord, ConsumerGroupValue,
};
use super::consumer::regex::{InvalidRegex, TopicRegex, resolve};
use super::migration::{Entry, classic_entry, consumer_tombstones};
use super::state::Group;
use super::store::{when_written, written};
use super::{GroupCoordinator, GroupError, lock};
use crate::cluster::topics::CONSUMER_OFFSETS;
use crate::partition::{AppendOrigin, Appended};

/// Why a ConsumerGroupHeartbeat was refused.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ConsumerHeartbeatError {
    /// The coordinator's own checks, or the group id belongs to a classic group.
    #[error("{0}")]
    Coordinator(GroupError),
    #[error("{0}")]
    Group(ConsumerGroupError),
    #[error("{0}")]
    Regex(InvalidRegex),
}

impl From<GroupError> for ConsumerHeartbeatError {
    fn from(error: GroupError) -> Self {
        ConsumerHeartbeatError::Coordinator(error)
    }
}

/// What ConsumerGroupDescribe reports of a group.
#[derive(Debug, Clone)]
pub struct ConsumerGroupDescription {
    pub state: &'static str,
    pub group_epoch: i32,
    pub assignment_epoch: i32,
    pub assignor: String,
    /// Each member with its target assignment.
    pub members: Vec<(Member, TopicPartitions)>,
    /// Topic names by id, for the assignments.
    pub topic_names: Vec<(Uuid, String)>,
}

/// Checks an OffsetCommit against a consumer group (Kafka's `ConsumerGroup.validateOffsetCommit`):
/// epoch -1 is a commit from outside the group, allowed while it has no members; otherwise
/// the member must be known, commit with OffsetCommit v9+ unless it speaks the classic
/// protocol (UNSUPPORTED_VERSION), and commit at its current epoch (STALE_MEMBER_EPOCH, or
/// ILLEGAL_GENERATION for a classic member, whose generation is its epoch).
pub(super) fn check_commit(
    group: &ConsumerGroup,
    member_id: &str,
    member_epoch: i32,
    version: i16,
) -> Result<(), GroupError> {
    if member_epoch < 0 && group.is_empty() {
        return Ok(());
    }
    let member = group.member(member_id).ok_or(GroupError::UnknownMemberId)?;
    let classic = member.classic.is_some();
    if !classic && version < 9 {
        return Err(GroupError::UnsupportedVersion);
    }
    if member_epoch != member.member_epoch {
        return Err(if classic {
            GroupError::IllegalGeneration
        } else {
            GroupError::StaleMemberEpoch
        });
    }
    Ok(())
}

impl GroupCoordinator {
    /// The assignors of `group.consumer.assignors`, in order.
    pub(super) fn consumer_assignors(&self) -> Vec<&'static dyn Assignor> {
        self.settings
            .consumer_assignors
            .iter()
            .filter_map(|name| assignors::assignor(name))
            .collect()
    }

    /// ConsumerGroupHeartbeat: answered once the group's changes are durable.
    pub async fn consumer_heartbeat(
        &self,
        group_id: &str,
        request: HeartbeatRequest,
    ) -> Result<HeartbeatAnswer, ConsumerHeartbeatError> {
        self.check_coordinator(group_id)?;
        let regex = match request.subscribed_topic_regex.as_deref() {
            Some(pattern) if !pattern.is_empty() => {
                Some(TopicRegex::new(pattern).map_err(ConsumerHeartbeatError::Regex)?)
            }
            _ => None,
        };
        let image = self.topics_image();
        let now_ms = crate::api::now_ms();
        let now = Instant::now();
        let assignors = self.consumer_assignors();
        let (outcome, appended) = {
            let mut classic = lock(&self.groups);
            // Records written before the group's own: a classic group it replaces.
            let mut before = Vec::new();
            let mut upgraded = None;
            if let Some(group) = classic.get_mut(group_id) {
                if !group.is_empty() {
                    // Only a member joining converts a classic group (Kafka's
                    // `createIfNotExists`), and only with a request that passes the checks.
                    if request.member_epoch != JOIN_GROUP_MEMBER_EPOCH {
                        return Err(GroupError::GroupIdNotFound.into());
                    }
                    ConsumerGroup::check_request(&request, &assignors)
                        .map_err(ConsumerHeartbeatError::Group)?;
                    upgraded = Some(self.upgrade(group_id, group, &image, now)?);
                    before.push(classic_entry(group_id, None));
                } else if group.generation() > 0 {
                    // An empty classic group is replaced, as Kafka does.
                    before.push(classic_entry(group_id, None));
                }
            }
            let replaced = classic.remove(group_id);
            let mut groups = lock(&self.consumer_groups);
            let upgrading = upgraded.is_some();
            if let Some(upgraded) = upgraded {
                groups.insert(group_id.to_owned(), upgraded);
            }
            let existed = groups.contains_key(group_id);
            let group = groups
                .entry(group_id.to_owned())
                .or_insert_with(|| ConsumerGroup::new(group_id));
            resolve_regexes(group, regex.as_ref(), &image);
            let epoch_before = group.group_epoch();
            let outcome =
                group.heartbeat(&request, &image, &assignors, &self.settings.consumer, now);
            let mut records: Vec<Entry> = before;
            records.extend(change_entries(group_id, &group.take_changes()));
            if upgrading && outcome.is_err() {
                // The join that would have converted the group is refused (a full group,
                // say): the classic group stays as it was and nothing is written.
                groups.remove(group_id);
                if let Some(replaced) = replaced {
                    classic.insert(group_id.to_owned(), replaced);
                }
                records.clear();
            } else if outcome.is_ok() && request.member_epoch == LEAVE_GROUP_MEMBER_EPOCH {
                records.extend(self.downgrade_into(
                    group_id,
                    epoch_before,
                    &mut classic,
                    &mut groups,
                    now,
                    now_ms,
                ));
            } else if !existed && group.is_empty() {
                groups.remove(group_id);
            }
            let appended =
                (!records.is_empty()).then(|| self.append_entries(group_id, &records, now_ms));
            (outcome, appended)
        };
        if let Some(appended) = appended {
            written(group_id, appended?).await?;
        }
        outcome.map_err(ConsumerHeartbeatError::Group)
    }

    /// Converts `group_id` to a classic group if only classic members are left and the
    /// policy allows it: the records of the conversion, to append now (under both locks).
    pub(super) fn downgrade_into(
        &self,
        group_id: &str,
        generation: i32,
        classic: &mut HashMap<String, Group>,
        groups: &mut HashMap<String, ConsumerGroup>,
        now: Instant,
        now_ms: i64,
    ) -> Vec<Entry> {
        let Some(group) = groups.get(group_id) else {
            return Vec::new();
        };
        let names: HashMap<Uuid, String> = self
            .topics
            .snapshot()
            .topics
            .iter()
            .map(|(name, topic)| (topic.id, name.clone()))
            .collect();
        let Some((converted, metadata)) = self.downgrade(group, generation, &names, now, now_ms)
        else {
            return Vec::new();
        };
        let mut records: Vec<Entry> = consumer_tombstones(group)
            .iter()
            .map(ConsumerGroupRecord::encode)
            .collect();
        records.push(classic_entry(group_id, Some(&metadata)));
        groups.remove(group_id);
        classic.insert(group_id.to_owned(), converted);
        records
    }

    /// Ends sessions and overdue revocations of consumer groups, writing what changed; a
    /// group left with classic members only goes back to the classic protocol if allowed.
    pub(super) fn tick_consumer_groups(&self, now: Instant, now_ms: i64) {
        let mut classic = lock(&self.groups);
        let mut groups = lock(&self.consumer_groups);
        let mut active = Vec::new();
        let mut writes = Vec::new();
        let ids: Vec<String> = groups.keys().cloned().collect();
        for id in ids {
            let Some(group) = groups.get_mut(&id) else {
                continue;
            };
            let epoch_before = group.group_epoch();
            let expired = group.tick(now);
            if !expired.is_empty() {
                tracing::info!(group = %id, members = ?expired, "consumer group members expired");
            }
            let mut records = change_entries(&id, &group.take_changes());
            if !group.is_empty() {
                active.push(id.clone());
            }
            if !expired.is_empty() {
                records.extend(self.downgrade_into(
                    &id,
                    epoch_before,
                    &mut classic,
                    &mut groups,
                    now,
                    now_ms,
                ));
            }
            if records.is_empty() {
                continue;
            }
            if let Ok(appended) = self.append_entries(&id, &records, now_ms) {
                writes.push((id, appended));
            }
        }
        drop(groups);
        drop(classic);
        for (group_id, appended) in writes {
            when_written(&group_id, appended);
        }
        let mut last_active = lock(&self.last_active);
        for id in active {
            last_active.insert(id, now_ms);
        }
    }

    /// Appends `records` of `group_id` in one batch.
    fn append_records(
        &self,
        group_id: &str,
        records: &[ConsumerGroupRecord],
        now_ms: i64,
    ) -> Result<Appended, GroupError> {
        let entries: Vec<Entry> = records.iter().map(ConsumerGroupRecord::encode).collect();
        self.append_entries(group_id, &entries, now_ms)
    }

    /// Appends `entries` (KIP-848 and classic group records) of `group_id` in one batch.
    pub(super) fn append_entries(
        &self,
        group_id: &str,
        entries: &[Entry],
        now_ms: i64,
    ) -> Result<Appended, GroupError> {
        let index = self.offsets_partition(group_id);
        let partition = self
            .topics
            .partition(CONSUMER_OFFSETS, index)
            .ok_or(GroupError::CoordinatorNotAvailable)?;
        let batch = records::entries_batch(entries, now_ms);
        partition
            .append(Bytes::from(batch), AppendOrigin::Coordinator, now_ms)
            .map_err(|error| {
                tracing::error!(group = group_id, %error, "writing consumer group records failed");
                GroupError::StorageError
            })
    }

    /// ConsumerGroupDescribe of one group: GROUP_ID_NOT_FOUND unless it is a consumer group.
    pub fn describe_consumer_group(
        &self,
        group_id: &str,
    ) -> Result<ConsumerGroupDescription, GroupError> {
        self.check_coordinator(group_id)?;
        let snapshot = self.topics.snapshot();
        let groups = lock(&self.consumer_groups);
        let group = groups.get(group_id).ok_or(GroupError::GroupIdNotFound)?;
        let assignors = self.consumer_assignors();
        Ok(ConsumerGroupDescription {
            state: group.state_name(),
            group_epoch: group.group_epoch(),
            assignment_epoch: group.target_assignment_epoch(),
            assignor: group
                .preferred_assignor(&assignors)
                .map_or(String::new(), |a| a.name().to_owned()),
            members: group
                .members()
                .map(|m| {
                    let target = group
                        .target_assignment(&m.member_id)
                        .cloned()
                        .unwrap_or_default();
                    (m.clone(), target)
                })
                .collect(),
            topic_names: snapshot
                .topics
                .iter()
                .map(|(name, topic)| (topic.id, name.clone()))
                .collect(),
        })
    }

    /// ListGroups' consumer groups: `(group, state)`, those whose state is in `states` (empty:
    /// all; compared without case).
    pub fn list_consumer_groups(&self, states: &[String]) -> Vec<(String, &'static str)> {
        let mut listed: Vec<(String, &'static str)> = lock(&self.consumer_groups)
            .iter()
            .map(|(id, group)| (id.clone(), group.state_name()))
            .filter(|(_, state)| {
                states.is_empty() || states.iter().any(|s| s.eq_ignore_ascii_case(state))
            })
            .collect();
        listed.sort();
        listed
    }

    /// OffsetFetch v9's member check (Kafka's `ConsumerGroup.validateOffsetFetch`): without a
    /// member id and with epoch -1 anyone may fetch; a consumer group's member must be known
    /// (UNKNOWN_MEMBER_ID) and fetch at its epoch (STALE_MEMBER_EPOCH). Other groups are not
    /// checked.
    pub fn check_offset_fetch(
        &self,
        group_id: &str,
        member_id: Option<&str>,
        member_epoch: i32,
    ) -> Result<(), GroupError> {
        if member_epoch < 0 && member_id.is_none() {
            return Ok(());
        }
        let groups = lock(&self.consumer_groups);
        let Some(group) = groups.get(group_id) else {
            return Ok(());
        };
        let member = group
            .member(member_id.unwrap_or_default())
            .ok_or(GroupError::UnknownMemberId)?;
        if member.member_epoch != member_epoch {
            return Err(GroupError::StaleMemberEpoch);
        }
        Ok(())
    }

    /// DeleteGroups of a consumer group: refused while it has members (NON_EMPTY_GROUP);
    /// an empty one is removed with tombstones for its epoch and target epoch records. `None`:
    /// `group_id` is not a consumer group.
    pub(super) fn delete_consumer_group(
        &self,
        group_id: &str,
        now_ms: i64,
    ) -> Result<Option<Appended>, GroupError> {
        let mut groups = lock(&self.consumer_groups);
        let Some(group) = groups.get(group_id) else {
            return Ok(None);
        };
        if !group.is_empty() {
            return Err(GroupError::NonEmptyGroup);
        }
        let group_key = || group_id.to_owned();
        let tombstones = [
            ConsumerGroupRecord {
                key: ConsumerGroupKey::TargetAssignmentMetadata { group: group_key() },
                value: None,
            },
            ConsumerGroupRecord {
                key: ConsumerGroupKey::GroupMetadata { group: group_key() },
                value: None,
            },
        ];
        let appended = self.append_records(group_id, &tombstones, now_ms)?;
        groups.remove(group_id);
        Ok(Some(appended))
    }

    /// Kafka's cleanup after offset expiry for consumer groups: one without members and
    /// without committed offsets is removed with its tombstones. Returns how many went.
    pub(super) async fn remove_empty_consumer_groups(&self, now_ms: i64) -> usize {
        let doomed: Vec<String> = {
            let groups = lock(&self.consumer_groups);
            let offsets = lock(&self.offsets);
            groups
                .iter()
                .filter(|(id, group)| {
                    group.is_empty() && offsets.get(*id).is_none_or(|c| c.is_empty())
                })
                .map(|(id, _)| id.clone())
                .collect()
        };
        let mut count = 0;
        for group_id in doomed {
            // A member may have joined since: then the group stays.
            let Ok(Some(appended)) = self.delete_consumer_group(&group_id, now_ms) else {
                continue;
            };
            lock(&self.last_active).remove(&group_id);
            count += 1;
            if let Err(error) = written(&group_id, appended).await {
                tracing::warn!(group = %group_id, %error, "tombstones of an expired consumer group not stored");
            }
        }
        count
    }

    /// Whether `group_id` is a consumer group here.
    pub fn is_consumer_group(&self, group_id: &str) -> bool {
        lock(&self.consumer_groups).contains_key(group_id)
    }
}

/// Resolves the group's subscribed regular expressions (and the request's) against the topics
/// now: a change bumps the group epoch, so topics created or deleted reach the assignment.
fn resolve_regexes(group: &mut ConsumerGroup, requested: Option<&TopicRegex>, image: &TopicsImage) {
    let names = || image.iter().map(|(name, topic)| (name.as_str(), topic.id));
    let mut patterns: BTreeSet<String> = group
        .members()
        .filter_map(|m| m.subscribed_topic_regex.clone())
        .collect();
    if let Some(regex) = requested {
        group.resolve_regex(regex.as_str(), resolve(regex, names()));
        patterns.remove(regex.as_str());
    }
    for pattern in patterns {
        // Members' expressions compiled when they brought them.
        if let Ok(regex) = TopicRegex::new(&pattern) {
            group.resolve_regex(&pattern, resolve(&regex, names()));
        }
    }
}

fn partitions_list(partitions: &TopicPartitions) -> Vec<records::TopicPartitions> {
    partitions
        .iter()
        .map(|(topic, set)| records::TopicPartitions {
            topic_id: *topic,
            partitions: set.iter().copied().collect(),
        })
        .collect()
}

fn assigned_list(partitions: &TopicPartitions) -> Vec<AssignedPartitions> {
    partitions
        .iter()
        .map(|(topic, set)| AssignedPartitions {
            topic_id: *topic,
            partitions: set.iter().copied().collect(),
            assignment_epochs: None,
        })
        .collect()
}

/// Kafka's `MemberState` values in the current assignment record.
fn state_code(state: MemberState) -> i8 {
    match state {
        MemberState::Stable => 0,
        MemberState::UnrevokedPartitions => 1,
        MemberState::UnreleasedPartitions => 2,
        MemberState::Unknown => 127,
    }
}

/// `changes` as encoded records.
pub(super) fn change_entries(group: &str, changes: &[GroupChange]) -> Vec<Entry> {
    changes
        .iter()
        .flat_map(|change| change_records(group, change))
        .map(|record| record.encode())
        .collect()
}

/// The records one change is written as, in Kafka's order (a removed member: its current
/// assignment, target assignment and metadata are deleted).
pub(super) fn change_records(group: &str, change: &GroupChange) -> Vec<ConsumerGroupRecord> {
    let group = group.to_owned();
    let record = |key, value| ConsumerGroupRecord { key, value };
    match change {
        GroupChange::MemberUpserted(member) => vec![record(
            ConsumerGroupKey::MemberMetadata {
                group,
                member: member.member_id.clone(),
            },
            Some(ConsumerGroupValue::MemberMetadata(
                records::MemberMetadata {
                    instance_id: member.instance_id.clone(),
                    rack_id: member.rack_id.clone(),
                    client_id: member.client_id.clone(),
                    client_host: member.client_host.clone(),
                    subscribed_topic_names: member.subscribed_topic_names.iter().cloned().collect(),
                    subscribed_topic_regex: member.subscribed_topic_regex.clone(),
                    rebalance_timeout_ms: i32::try_from(member.rebalance_timeout.as_millis())
                        .unwrap_or(i32::MAX),
                    server_assignor: member.server_assignor.clone(),
                    classic_member_metadata: member.classic.clone(),
                },
            )),
        )],
        GroupChange::MemberRemoved(member) => vec![
            record(
                ConsumerGroupKey::CurrentMemberAssignment {
                    group: group.clone(),
                    member: member.clone(),
                },
                None,
            ),
            record(
                ConsumerGroupKey::TargetAssignmentMember {
                    group: group.clone(),
                    member: member.clone(),
                },
                None,
            ),
            record(
                ConsumerGroupKey::MemberMetadata {
                    group,
                    member: member.clone(),
                },
                None,
            ),
        ],
        GroupChange::GroupEpoch(epoch) => vec![record(
            ConsumerGroupKey::GroupMetadata { group },
            Some(ConsumerGroupValue::GroupMetadata(records::GroupMetadata {
                epoch: *epoch,
                metadata_hash: 0,
                creation_time_ms: -1,
            })),
        )],
        GroupChange::TargetAssignment {
            member_id,
            partitions,
        } => vec![record(
            ConsumerGroupKey::TargetAssignmentMember {
                group,
                member: member_id.clone(),
            },
            Some(ConsumerGroupValue::TargetAssignmentMember(
                records::TargetAssignmentMember {
                    topic_partitions: partitions_list(partitions),
                },
            )),
        )],
        GroupChange::TargetAssignmentEpoch(epoch) => vec![record(
            ConsumerGroupKey::TargetAssignmentMetadata { group },
            Some(ConsumerGroupValue::TargetAssignmentMetadata(
                records::TargetAssignmentMetadata {
                    assignment_epoch: *epoch,
                    assignment_timestamp: 0,
                },
            )),
        )],
        GroupChange::CurrentAssignment(member) => vec![record(
            ConsumerGroupKey::CurrentMemberAssignment {
                group,
                member: member.member_id.clone(),
            },
            Some(ConsumerGroupValue::CurrentMemberAssignment(
                records::CurrentMemberAssignment {
                    member_epoch: member.member_epoch,
                    previous_member_epoch: member.previous_member_epoch,
                    state: state_code(member.state),
                    assigned_partitions: assigned_list(&member.assigned),
                    partitions_pending_revocation: assigned_list(&member.pending_revocation),
                },
            )),
        )],
    }
}

#[cfg(test)]
#[path = "consumer_groups_tests.rs"]
mod tests;
