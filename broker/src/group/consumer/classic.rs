//! Members that speak the classic protocol inside a consumer group, and the group built from
//! a classic one (Kafka's online migration, KIP-848).
//!
//! A classic member has no ConsumerGroupHeartbeat: its JoinGroup is the heartbeat that moves
//! it (subscription from its embedded ConsumerProtocolSubscription, owned partitions from the
//! same), its SyncGroup collects its assigned partitions, and its Heartbeat answers
//! REBALANCE_IN_PROGRESS whenever it should join again to move on:
//!
//! ```text
//!  JoinGroup ─► heartbeat(epoch: its own, owned: the subscription's) ─► generation = epoch
//!  SyncGroup ─► generation == epoch, no newer group epoch pending ─► its assigned partitions
//!  Heartbeat ─► behind the group epoch / must revoke / a partition it waits for is free
//!               ─► REBALANCE_IN_PROGRESS (and it must rejoin within its rebalance timeout)
//! ```
//!
//! Every classic request refreshes the member's session, which lasts its own session timeout.

use std::collections::BTreeSet;
use std::time::Instant;

use super::super::assignor::{Assignor, MemberId, TopicPartitions};
use super::super::member::{
    JOIN_GROUP_MEMBER_EPOCH, LEAVE_GROUP_STATIC_MEMBER_EPOCH, Member, MemberState,
};
use super::super::records::{ClassicMemberMetadata, ClassicProtocol};
use super::{
    ConsumerGroup, ConsumerGroupConfig, ConsumerGroupError, Deadlines, GroupChange,
    HeartbeatRequest, TopicsImage,
};
use crate::group::GroupError;

/// The protocol type every member of a consumer group speaks.
pub const CONSUMER_PROTOCOL_TYPE: &str = "consumer";

/// A classic member's JoinGroup, its subscription decoded.
#[derive(Debug, Clone)]
pub struct ClassicJoin {
    /// Never empty: the coordinator gives a new member its id first.
    pub member_id: MemberId,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    pub protocol_type: String,
    /// `(name, metadata)` in the member's order of preference.
    pub protocols: Vec<ClassicProtocol>,
    pub subscribed_topic_names: Vec<String>,
    /// The partitions its subscription says it owns.
    pub owned: TopicPartitions,
}

/// What a classic member's JoinGroup is answered with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassicJoined {
    pub member_id: MemberId,
    /// The member's epoch.
    pub generation: i32,
    /// The first protocol the member offered.
    pub protocol_name: String,
}

/// A classic member's SyncGroup.
#[derive(Debug, Clone, Copy)]
pub struct ClassicSync<'a> {
    pub member_id: &'a str,
    pub instance_id: Option<&'a str>,
    pub generation: i32,
    pub protocol_type: Option<&'a str>,
    pub protocol_name: Option<&'a str>,
}

/// Kafka's errors of a heartbeat, as a classic request gives them.
fn as_group_error(error: ConsumerGroupError) -> GroupError {
    match error {
        ConsumerGroupError::UnknownMemberId => GroupError::UnknownMemberId,
        ConsumerGroupError::FencedMemberEpoch => GroupError::IllegalGeneration,
        ConsumerGroupError::FencedInstanceId(_) | ConsumerGroupError::UnreleasedInstanceId(_) => {
            GroupError::FencedInstanceId
        }
        ConsumerGroupError::GroupMaxSizeReached(_) => GroupError::GroupMaxSizeReached,
        ConsumerGroupError::InvalidRequest(_) => GroupError::InvalidRequest,
        ConsumerGroupError::UnsupportedAssignor(_) | ConsumerGroupError::AssignmentFailed(_) => {
            GroupError::UnknownServerError
        }
    }
}

impl ConsumerGroup {
    /// The group a classic group becomes when a member joins it with the consumer protocol:
    /// the group epoch and target epoch are the classic generation, and each member is
    /// Stable at that epoch with what it was assigned as its target (a partition two members
    /// claim stays with the first). The next heartbeat computes a new target.
    pub fn from_classic(
        group_id: &str,
        generation: i32,
        members: Vec<Member>,
        config: &ConsumerGroupConfig,
        now: Instant,
    ) -> Self {
        let mut group = ConsumerGroup::new(group_id);
        group.group_epoch = generation;
        group.target_epoch = generation;
        let mut members = members;
        for member in &mut members {
            member.member_epoch = generation;
            member.previous_member_epoch = generation;
            member.state = MemberState::Stable;
            member.pending_revocation.clear();
            for (topic, partitions) in member.assigned.iter_mut() {
                partitions.retain(|p| !group.members.values().any(|m| m.holds(*topic, *p)));
            }
            member
                .assigned
                .retain(|_, partitions| !partitions.is_empty());
            if let Some(instance) = &member.instance_id {
                group
                    .static_members
                    .insert(instance.clone(), member.member_id.clone());
            }
            group.deadlines.insert(
                member.member_id.clone(),
                Deadlines {
                    session: now + member.session_timeout(config.session_timeout),
                    revocation: None,
                },
            );
            group
                .target
                .insert(member.member_id.clone(), member.assigned.clone());
            group
                .members
                .insert(member.member_id.clone(), member.clone());
        }
        let members: Vec<&Member> = group.members.values().collect();
        let mut changes: Vec<GroupChange> = members
            .iter()
            .map(|m| GroupChange::MemberUpserted(Box::new((*m).clone())))
            .collect();
        changes.push(GroupChange::GroupEpoch(generation));
        changes.extend(members.iter().map(|m| GroupChange::TargetAssignment {
            member_id: m.member_id.clone(),
            partitions: m.assigned.clone(),
        }));
        changes.push(GroupChange::TargetAssignmentEpoch(generation));
        changes.extend(
            members
                .iter()
                .map(|m| GroupChange::CurrentAssignment(Box::new((*m).clone()))),
        );
        group.changes = changes;
        group
    }

    /// Whether the group could go back to being a classic group: it has members and every
    /// one of them speaks the classic protocol.
    pub fn all_classic(&self) -> bool {
        !self.members.is_empty() && self.members.values().all(|m| m.classic.is_some())
    }

    /// A classic member's JoinGroup. A static member joining under a new member id takes the
    /// place of the one with its instance id, as in a classic group.
    pub fn classic_join(
        &mut self,
        join: ClassicJoin,
        topics: &TopicsImage,
        assignors: &[&dyn Assignor],
        config: &ConsumerGroupConfig,
        now: Instant,
    ) -> Result<ClassicJoined, GroupError> {
        if join.protocol_type != CONSUMER_PROTOCOL_TYPE || join.protocols.is_empty() {
            return Err(GroupError::InconsistentGroupProtocol);
        }
        let offered: BTreeSet<&str> = join.protocols.iter().map(|p| p.name.as_str()).collect();
        let shares_a_protocol = self
            .members
            .values()
            .filter(|m| m.member_id != join.member_id)
            .filter_map(|m| m.classic.as_ref())
            .all(|c| {
                c.supported_protocols
                    .iter()
                    .any(|p| offered.contains(p.name.as_str()))
            });
        if !shares_a_protocol {
            return Err(GroupError::InconsistentGroupProtocol);
        }
        let protocol_name = join.protocols[0].name.clone();

        // A restarted static member: the old member id steps away so the join replaces it.
        let mut stepped_away = None;
        if let Some(instance) = &join.instance_id
            && let Some(owner) = self.static_members.get(instance).cloned()
            && owner != join.member_id
            && let Some(member) = self.members.get_mut(&owner)
        {
            stepped_away = Some((owner, member.member_epoch, member.previous_member_epoch));
            member.member_epoch = LEAVE_GROUP_STATIC_MEMBER_EPOCH;
        }
        let epoch = self
            .members
            .get(&join.member_id)
            .map_or(JOIN_GROUP_MEMBER_EPOCH, |m| m.member_epoch.max(0));
        let request = HeartbeatRequest {
            version: 1,
            member_id: join.member_id,
            member_epoch: epoch,
            instance_id: join.instance_id,
            rack_id: join.rack_id,
            rebalance_timeout_ms: join.rebalance_timeout_ms,
            subscribed_topic_names: Some(join.subscribed_topic_names),
            subscribed_topic_regex: None,
            server_assignor: None,
            owned: Some(if epoch == JOIN_GROUP_MEMBER_EPOCH {
                TopicPartitions::new()
            } else {
                join.owned
            }),
            client_id: join.client_id,
            client_host: join.client_host,
            classic: Some(ClassicMemberMetadata {
                session_timeout_ms: join.session_timeout_ms,
                supported_protocols: join.protocols,
            }),
        };
        match self.heartbeat(&request, topics, assignors, config, now) {
            Ok(answer) => Ok(ClassicJoined {
                member_id: answer.member_id,
                generation: answer.member_epoch,
                protocol_name,
            }),
            Err(error) => {
                if let Some((owner, epoch, previous)) = stepped_away
                    && let Some(member) = self.members.get_mut(&owner)
                {
                    member.member_epoch = epoch;
                    member.previous_member_epoch = previous;
                }
                Err(as_group_error(error))
            }
        }
    }

    /// A classic member's SyncGroup: its assigned partitions. REBALANCE_IN_PROGRESS when the
    /// group moved on since its JoinGroup (unless it still has partitions to give up, which
    /// its assignment without them tells it to do).
    pub fn classic_sync(
        &mut self,
        sync: ClassicSync<'_>,
        config: &ConsumerGroupConfig,
        now: Instant,
    ) -> Result<TopicPartitions, GroupError> {
        let ClassicSync {
            member_id,
            instance_id,
            generation,
            protocol_type,
            protocol_name,
        } = sync;
        let member = self.classic_member(member_id, instance_id)?;
        if generation != member.member_epoch {
            return Err(GroupError::IllegalGeneration);
        }
        let chosen = member
            .classic
            .as_ref()
            .and_then(|c| c.supported_protocols.first())
            .map(|p| p.name.as_str());
        if protocol_type.is_some_and(|t| t != CONSUMER_PROTOCOL_TYPE)
            || protocol_name.is_some_and(|name| Some(name) != chosen)
        {
            return Err(GroupError::InconsistentGroupProtocol);
        }
        if self.group_epoch > member.member_epoch
            && member.state != MemberState::UnrevokedPartitions
        {
            self.expect_rejoin(member_id, now);
            return Err(GroupError::RebalanceInProgress);
        }
        let assigned = member.assigned.clone();
        self.touch(member_id, config, now);
        Ok(assigned)
    }

    /// A classic member's Heartbeat: REBALANCE_IN_PROGRESS when it should join again — the
    /// group epoch moved past its epoch, it has partitions to revoke, or a partition it
    /// waits for has been released.
    pub fn classic_heartbeat(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        config: &ConsumerGroupConfig,
        now: Instant,
    ) -> Result<(), GroupError> {
        let member = self.classic_member(member_id, instance_id)?;
        if generation != member.member_epoch {
            return Err(GroupError::IllegalGeneration);
        }
        let rejoin = member.member_epoch < self.group_epoch
            || member.state == MemberState::UnrevokedPartitions
            || (member.state == MemberState::UnreleasedPartitions
                && !self.waits_on_unreleased(member));
        self.touch(member_id, config, now);
        if rejoin {
            self.expect_rejoin(member_id, now);
            return Err(GroupError::RebalanceInProgress);
        }
        Ok(())
    }

    /// LeaveGroup for one member of the group (by member id, or by instance id for a static
    /// member): it is removed and the group epoch moves.
    pub fn classic_leave(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> Result<(), GroupError> {
        let owner = match instance_id {
            None => self
                .members
                .get(member_id)
                .map(|m| m.member_id.clone())
                .ok_or(GroupError::UnknownMemberId)?,
            Some(instance) => {
                let owner = self
                    .static_members
                    .get(instance)
                    .cloned()
                    .ok_or(GroupError::UnknownMemberId)?;
                if !member_id.is_empty() && owner != member_id {
                    return Err(GroupError::FencedInstanceId);
                }
                owner
            }
        };
        self.remove_member(&owner);
        self.bump_group_epoch();
        Ok(())
    }

    /// The classic member a request is for (Kafka's `validateConsumerGroupMember`): by member
    /// id, or by instance id for a static member, which must be the same member.
    fn classic_member(
        &self,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> Result<&Member, GroupError> {
        let member = match instance_id {
            None => self.members.get(member_id),
            Some(instance) => self
                .static_members
                .get(instance)
                .and_then(|id| self.members.get(id)),
        }
        .ok_or(GroupError::UnknownMemberId)?;
        if member.member_id != member_id {
            return Err(GroupError::FencedInstanceId);
        }
        if member.classic.is_none() {
            return Err(GroupError::UnknownMemberId);
        }
        Ok(member)
    }

    /// Whether a partition of the member's target it does not have yet is held by another.
    fn waits_on_unreleased(&self, member: &Member) -> bool {
        let Some(target) = self.target.get(&member.member_id) else {
            return false;
        };
        target.iter().any(|(topic, partitions)| {
            partitions.iter().any(|p| {
                !member.holds(*topic, *p)
                    && self
                        .members
                        .values()
                        .any(|other| other.member_id != member.member_id && other.holds(*topic, *p))
            })
        })
    }

    /// Starts the member's session again.
    fn touch(&mut self, member_id: &str, config: &ConsumerGroupConfig, now: Instant) {
        let Some(member) = self.members.get(member_id) else {
            return;
        };
        let session = now + member.session_timeout(config.session_timeout);
        if let Some(deadlines) = self.deadlines.get_mut(member_id) {
            deadlines.session = session;
        }
    }

    /// The member was told to rejoin: unless it does within its rebalance timeout, it is
    /// removed (the deadline a revocation has, kept if one runs already).
    fn expect_rejoin(&mut self, member_id: &str, now: Instant) {
        let Some(timeout) = self.members.get(member_id).map(|m| m.rebalance_timeout) else {
            return;
        };
        if let Some(deadlines) = self.deadlines.get_mut(member_id) {
            deadlines.revocation.get_or_insert(now + timeout);
        }
    }
}
