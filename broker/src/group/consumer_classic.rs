//! Classic requests (JoinGroup, SyncGroup, Heartbeat, LeaveGroup) for a group that is a
//! consumer group: its members that speak the classic protocol (`consumer/classic.rs`), a
//! JoinGroup answered once its records are durable, a LeaveGroup that may leave only classic
//! members and so convert the group back (`migration.rs`).

use std::collections::HashMap;
use std::time::Instant;

use bytes::Bytes;
use uuid::Uuid;

use super::consumer::group::{
    CONSUMER_PROTOCOL_TYPE, ClassicJoin, ClassicSync, ConsumerGroup, TopicMetadata, TopicsImage,
};
use super::consumer::records::ClassicProtocol;
use super::consumer_groups::change_entries;
use super::embedded::{self, decode_subscription};
use super::migration::Entry;
use super::state::Group;
use super::store::when_written;
use super::{GroupCoordinator, GroupError, Join, JoinAnswer, lock};
use crate::partition::Appended;

/// A JoinGroup for a group id that is a consumer group with members.
pub(super) enum ConsumerJoin {
    /// Answered now (refused, or a new member asked to come back with its id).
    Answered(JoinAnswer),
    /// Answered once the records are durable.
    Written(Appended, JoinAnswer),
}

impl GroupCoordinator {
    /// The topics now, as a consumer group sees them (name → id and partition count).
    pub(super) fn topics_image(&self) -> TopicsImage {
        self.topics
            .snapshot()
            .topics
            .iter()
            .map(|(name, topic)| {
                let metadata = TopicMetadata {
                    id: topic.id,
                    partitions: topic.partitions,
                };
                (name.clone(), metadata)
            })
            .collect()
    }

    /// A classic member's JoinGroup to the consumer group `group_id` (Kafka's
    /// `classicGroupJoinToConsumerGroup`): its subscription is its first protocol's, it is
    /// reconciled with the partitions that subscription says it owns, and it is answered
    /// with its epoch as the generation, no leader and no members — it assigns nothing.
    pub(super) fn classic_join_consumer(
        &self,
        group_id: &str,
        join: Join,
        groups: &mut HashMap<String, ConsumerGroup>,
        now_ms: i64,
    ) -> ConsumerJoin {
        let refused = |error, member_id: &str| {
            ConsumerJoin::Answered(JoinAnswer::error(error, member_id.to_owned()))
        };
        let limits = &self.settings.limits;
        if join.session_timeout < limits.min_session_timeout
            || join.session_timeout > limits.max_session_timeout
        {
            return refused(GroupError::InvalidSessionTimeout, &join.member_id);
        }
        let member_id = if join.member_id.is_empty() {
            let member_id = Uuid::new_v4().to_string();
            if join.require_known_member && join.group_instance_id.is_none() {
                return refused(GroupError::MemberIdRequired, &member_id);
            }
            member_id
        } else {
            join.member_id.clone()
        };
        let Some((_, first)) = join.protocols.first() else {
            return refused(GroupError::InconsistentGroupProtocol, &member_id);
        };
        let subscription = match decode_subscription(first) {
            Ok(subscription) => subscription,
            Err(error) => {
                tracing::info!(group = group_id, member = %member_id, %error, "JoinGroup refused");
                return refused(GroupError::InconsistentGroupProtocol, &member_id);
            }
        };
        let image = self.topics_image();
        let owned = subscription
            .owned
            .iter()
            .filter_map(|(name, partitions)| {
                let topic = image.get(name)?;
                Some((topic.id, partitions.iter().copied().collect()))
            })
            .collect();
        let classic_join = ClassicJoin {
            member_id: member_id.clone(),
            instance_id: join.group_instance_id.clone(),
            rack_id: subscription.rack_id,
            client_id: join.client_id.clone(),
            client_host: join.client_host.clone(),
            rebalance_timeout_ms: i32::try_from(join.rebalance_timeout.as_millis())
                .unwrap_or(i32::MAX),
            session_timeout_ms: i32::try_from(join.session_timeout.as_millis()).unwrap_or(i32::MAX),
            protocol_type: join.protocol_type.clone(),
            protocols: join
                .protocols
                .iter()
                .map(|(name, metadata)| ClassicProtocol {
                    name: name.clone(),
                    metadata: metadata.to_vec(),
                })
                .collect(),
            subscribed_topic_names: subscription.topics,
            owned,
        };
        let Some(group) = groups.get_mut(group_id) else {
            return refused(GroupError::UnknownMemberId, &member_id);
        };
        let assignors = self.consumer_assignors();
        let outcome = group.classic_join(
            classic_join,
            &image,
            &assignors,
            &self.settings.consumer,
            Instant::now(),
        );
        let records = change_entries(group_id, &group.take_changes());
        let appended = if records.is_empty() {
            None
        } else {
            match self.append_entries(group_id, &records, now_ms) {
                Ok(appended) => Some(appended),
                Err(error) => return refused(error, &member_id),
            }
        };
        let answer = match outcome {
            Ok(joined) => JoinAnswer {
                error: None,
                generation: joined.generation,
                protocol_type: Some(CONSUMER_PROTOCOL_TYPE.to_owned()),
                protocol_name: Some(joined.protocol_name),
                leader: String::new(),
                member_id: joined.member_id,
                members: Vec::new(),
                skip_assignment: false,
            },
            Err(error) => JoinAnswer::error(error, member_id),
        };
        match appended {
            Some(appended) => ConsumerJoin::Written(appended, answer),
            None => ConsumerJoin::Answered(answer),
        }
    }

    /// A classic member's SyncGroup to a consumer group: its assigned partitions, written in
    /// its subscription's version. `None`: `group_id` is not a consumer group.
    pub(super) fn classic_sync_consumer(
        &self,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        protocol: (Option<&str>, Option<&str>),
    ) -> Option<Result<Bytes, GroupError>> {
        let mut groups = lock(&self.consumer_groups);
        let group = groups.get_mut(group_id)?;
        let sync = ClassicSync {
            member_id,
            instance_id,
            generation,
            protocol_type: protocol.0,
            protocol_name: protocol.1,
        };
        let assigned = group.classic_sync(sync, &self.settings.consumer, Instant::now());
        let assigned = match assigned {
            Ok(assigned) => assigned,
            Err(error) => return Some(Err(error)),
        };
        let version = group
            .member(member_id)
            .and_then(|m| m.classic.as_ref())
            .and_then(|c| c.supported_protocols.first())
            .and_then(|p| decode_subscription(&Bytes::from(p.metadata.clone())).ok())
            .map_or(0, |s| s.version);
        drop(groups);
        let names: HashMap<Uuid, String> = self
            .topics
            .snapshot()
            .topics
            .iter()
            .map(|(name, topic)| (topic.id, name.clone()))
            .collect();
        let partitions: Vec<(String, Vec<i32>)> = assigned
            .iter()
            .filter_map(|(id, set)| Some((names.get(id)?.clone(), set.iter().copied().collect())))
            .collect();
        Some(Ok(embedded::encode_assignment(version, &partitions)))
    }

    /// A classic member's Heartbeat to a consumer group. `None`: not a consumer group.
    pub(super) fn classic_heartbeat_consumer(
        &self,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
    ) -> Option<Result<(), GroupError>> {
        let mut groups = lock(&self.consumer_groups);
        let group = groups.get_mut(group_id)?;
        Some(group.classic_heartbeat(
            member_id,
            instance_id,
            generation,
            &self.settings.consumer,
            Instant::now(),
        ))
    }

    /// LeaveGroup of one member of a consumer group; a group left with classic members only
    /// goes back to the classic protocol if allowed. `None`: not a consumer group.
    pub(super) fn classic_leave_consumer(
        &self,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        classic: &mut HashMap<String, Group>,
    ) -> Option<Result<(), GroupError>> {
        let now_ms = crate::api::now_ms();
        let mut groups = lock(&self.consumer_groups);
        let group = groups.get_mut(group_id)?;
        let epoch_before = group.group_epoch();
        if let Err(error) = group.classic_leave(member_id, instance_id) {
            return Some(Err(error));
        }
        let mut records: Vec<Entry> = change_entries(group_id, &group.take_changes());
        records.extend(self.downgrade_into(
            group_id,
            epoch_before,
            classic,
            &mut groups,
            Instant::now(),
            now_ms,
        ));
        drop(groups);
        self.spawn_written(group_id, &records, now_ms);
        Some(Ok(()))
    }

    /// Appends `records` and logs, without waiting, if they fail to become durable (a change
    /// no request waits on; the group goes on in memory, as Kafka's does).
    pub(super) fn spawn_written(&self, group_id: &str, records: &[Entry], now_ms: i64) {
        if records.is_empty() {
            return;
        }
        if let Ok(appended) = self.append_entries(group_id, records, now_ms) {
            when_written(group_id, appended);
        }
    }
}
