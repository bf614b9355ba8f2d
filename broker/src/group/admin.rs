//! The group administration calls: ListGroups, DescribeGroups, DeleteGroups, OffsetDelete.

use std::collections::{BTreeMap, HashSet};

use super::store::written;
use super::{
    CommittedOffset, GroupCoordinator, GroupError, GroupState, MemberDescription,
    PartitionVerdicts, lock,
};

/// What DescribeGroups reports of a group.
#[derive(Debug, Clone)]
pub struct GroupDescription {
    pub state: GroupState,
    pub protocol_type: String,
    pub protocol: String,
    pub members: Vec<MemberDescription>,
}

impl GroupCoordinator {
    /// ListGroups: every group coordinated here — with members, Empty after having had some
    /// (kept until offset expiry removes it, as in Kafka), or only with committed offsets
    /// (Empty) — as `(group, protocol type, state)`, keeping those whose state is in
    /// `states` (empty: all; names as Kafka's, compared without case).
    pub fn list(&self, states: &[String]) -> Vec<(String, String, GroupState)> {
        let groups = lock(&self.groups);
        let offsets = lock(&self.offsets);
        let mut listed: BTreeMap<String, (String, GroupState)> = offsets
            .iter()
            .filter(|(_, committed)| !committed.is_empty())
            .map(|(id, _)| (id.clone(), (String::new(), GroupState::Empty)))
            .collect();
        for (id, group) in groups.iter() {
            if group.state() == GroupState::Empty
                && group.protocol_type().is_none()
                && !listed.contains_key(id)
            {
                continue;
            }
            let protocol_type = group.protocol_type().unwrap_or_default().to_owned();
            listed.insert(id.clone(), (protocol_type, group.state()));
        }
        listed
            .into_iter()
            .filter(|(_, (_, state))| {
                states.is_empty()
                    || states
                        .iter()
                        .any(|wanted| wanted.eq_ignore_ascii_case(state.name()))
            })
            .map(|(id, (protocol_type, state))| (id, protocol_type, state))
            .collect()
    }

    /// DescribeGroups: one group; an unknown one is Dead, as Kafka answers.
    pub fn describe(&self, group_id: &str) -> Result<GroupDescription, GroupError> {
        self.check_coordinator(group_id)?;
        let groups = lock(&self.groups);
        if lock(&self.consumer_groups).contains_key(group_id) {
            // Kafka's DescribeGroups (up to version 5) answers a consumer group as Dead: it
            // is not a classic group (ConsumerGroupDescribe describes it).
            return Ok(GroupDescription {
                state: GroupState::Dead,
                protocol_type: String::new(),
                protocol: String::new(),
                members: Vec::new(),
            });
        }
        let has_offsets = lock(&self.offsets)
            .get(group_id)
            .is_some_and(|committed| !committed.is_empty());
        Ok(match groups.get(group_id) {
            Some(group) => GroupDescription {
                state: group.state(),
                protocol_type: group.protocol_type().unwrap_or_default().to_owned(),
                protocol: group.protocol().unwrap_or_default().to_owned(),
                members: group.members(),
            },
            None => GroupDescription {
                state: if has_offsets {
                    GroupState::Empty
                } else {
                    GroupState::Dead
                },
                protocol_type: String::new(),
                protocol: String::new(),
                members: Vec::new(),
            },
        })
    }

    /// DeleteGroups: a group without members goes, with its committed offsets and, if it ever
    /// completed a generation, a tombstone for its metadata record.
    pub async fn delete_group(&self, group_id: &str, now_ms: i64) -> Result<(), GroupError> {
        self.check_coordinator(group_id)?;
        let consumer_tombstones = self.delete_consumer_group(group_id, now_ms)?;
        let consumer = consumer_tombstones.is_some();
        if let Some(appended) = consumer_tombstones {
            written(group_id, appended).await?;
        }
        let (known, tombstone) = {
            let mut groups = lock(&self.groups);
            let (in_groups, tombstone) = match groups.get_mut(group_id) {
                Some(group) => {
                    group.delete()?;
                    let tombstone = (group.generation() > 0)
                        .then(|| self.append_group_record(group_id, None, now_ms));
                    (true, tombstone)
                }
                None => (false, None),
            };
            (
                consumer || in_groups || lock(&self.offsets).contains_key(group_id),
                tombstone,
            )
        };
        if !known {
            return Err(GroupError::GroupIdNotFound);
        }
        if let Some(appended) = tombstone {
            written(group_id, appended?).await?;
        }
        let doomed: Vec<(String, i32, Option<CommittedOffset>)> = lock(&self.offsets)
            .get(group_id)
            .map(|committed| {
                committed
                    .keys()
                    .map(|(topic, partition)| (topic.clone(), *partition, None))
                    .collect()
            })
            .unwrap_or_default();
        if !doomed.is_empty() {
            self.write(group_id, &doomed, None, now_ms).await?;
        }
        lock(&self.offsets).remove(group_id);
        lock(&self.groups).remove(group_id);
        Ok(())
    }

    /// OffsetDelete: removes committed offsets of topics no member is subscribed to.
    pub async fn delete_offsets(
        &self,
        group_id: &str,
        wanted: Vec<(String, Vec<i32>)>,
        now_ms: i64,
    ) -> Result<PartitionVerdicts, GroupError> {
        self.check_coordinator(group_id)?;
        let subscribed: HashSet<String> = {
            let groups = lock(&self.groups);
            match groups.get(group_id) {
                Some(group) if group.member_protocol_type() == Some("consumer") => group
                    .members()
                    .iter()
                    .flat_map(|m| subscribed_topics(&m.metadata))
                    .collect(),
                Some(group) if !group.is_empty() => {
                    // Members of another protocol: their subscriptions are not readable.
                    return Err(GroupError::NonEmptyGroup);
                }
                _ => HashSet::new(),
            }
        };
        if !lock(&self.offsets).contains_key(group_id) && lock(&self.groups).get(group_id).is_none()
        {
            return Err(GroupError::GroupIdNotFound);
        }
        let answers: PartitionVerdicts = wanted
            .into_iter()
            .map(|(topic, partitions)| {
                let verdict = if subscribed.contains(&topic) {
                    Err(GroupError::GroupSubscribedToTopic)
                } else {
                    Ok(())
                };
                let partitions = partitions.into_iter().map(|p| (p, verdict)).collect();
                (topic, partitions)
            })
            .collect();
        let doomed: Vec<(String, i32, Option<CommittedOffset>)> = {
            let offsets = lock(&self.offsets);
            let committed = offsets.get(group_id);
            answers
                .iter()
                .flat_map(|(topic, partitions)| {
                    partitions
                        .iter()
                        .filter(|(p, verdict)| {
                            verdict.is_ok()
                                && committed.is_some_and(|c| c.contains_key(&(topic.clone(), *p)))
                        })
                        .map(|(p, _)| (topic.clone(), *p, None))
                })
                .collect()
        };
        if !doomed.is_empty() {
            self.write(group_id, &doomed, None, now_ms).await?;
            let mut offsets = lock(&self.offsets);
            if let Some(committed) = offsets.get_mut(group_id) {
                for (topic, partition, _) in doomed {
                    committed.remove(&(topic, partition));
                }
            }
        }
        Ok(answers)
    }
}

/// The topics of a consumer's subscription (ConsumerProtocolSubscription: version, then an
/// array of topic names); none if it does not parse.
fn subscribed_topics(metadata: &[u8]) -> Vec<String> {
    let mut buf = metadata;
    let mut topics = Vec::new();
    let take = |buf: &mut &[u8], n: usize| -> Option<Vec<u8>> {
        let (head, tail) = (buf.get(..n)?, buf.get(n..)?);
        *buf = tail;
        Some(head.to_vec())
    };
    let Some(_version) = take(&mut buf, 2) else {
        return topics;
    };
    let Some(count) = take(&mut buf, 4) else {
        return topics;
    };
    let count = i32::from_be_bytes(count.try_into().unwrap_or([0; 4]));
    for _ in 0..count.max(0) {
        let Some(len) = take(&mut buf, 2) else {
            break;
        };
        let len = i16::from_be_bytes(len.try_into().unwrap_or([0; 2])).max(0) as usize;
        let Some(name) = take(&mut buf, len) else {
            break;
        };
        topics.push(String::from_utf8_lossy(&name).into_owned());
    }
    topics
}
