//! A classic group's side of the online migration between the protocols: its members handed
//! to the consumer group that replaces it, and a rebalance started in a group just made from
//! a consumer group's classic members (`migration.rs` drives both).

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{Group, GroupLimits, JoinAnswer};
use crate::group::GroupError;

/// One member of a classic group, as the consumer group that replaces the group takes it.
#[derive(Debug, Clone)]
pub struct ClassicMember {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    /// `(name, metadata)` as its last JoinGroup offered them.
    pub protocols: Vec<(String, Bytes)>,
    /// Its metadata for the group's protocol (its first protocol's before one was chosen).
    pub subscription: Bytes,
    /// What it was assigned in the current generation (empty before its first SyncGroup).
    pub assignment: Bytes,
}

impl Group {
    /// Whether the group's members embed the consumer protocol (Kafka's
    /// `usesConsumerGroupProtocol`): only such a group can become a consumer group.
    pub fn uses_consumer_protocol(&self) -> bool {
        self.protocol_type.as_deref() == Some("consumer")
    }

    pub fn member_count(&self) -> usize {
        self.members.len()
    }

    /// The members, in join order, as the consumer group that replaces this one takes them.
    pub fn classic_members(&self) -> Vec<ClassicMember> {
        self.order
            .iter()
            .filter_map(|member_id| {
                let member = self.members.get(member_id)?;
                let subscription = match &self.protocol {
                    Some(name) => member.metadata_for(name),
                    None => member
                        .protocols
                        .first()
                        .map(|(_, metadata)| metadata.clone())
                        .unwrap_or_default(),
                };
                Some(ClassicMember {
                    member_id: member_id.clone(),
                    instance_id: member.instance_id.clone(),
                    client_id: member.client_id.clone(),
                    client_host: member.client_host.clone(),
                    session_timeout: member.session_timeout,
                    rebalance_timeout: member.rebalance_timeout,
                    protocols: member.protocols.clone(),
                    subscription,
                    assignment: member.assignment.clone(),
                })
            })
            .collect()
    }

    /// The group is being replaced: a JoinGroup or SyncGroup still waiting is answered
    /// REBALANCE_IN_PROGRESS, so its member joins again, into the group that replaces it.
    pub fn release_waiting(&mut self) {
        for (member_id, member) in self.members.iter_mut() {
            if let Some(join) = member.awaiting_join.take() {
                let _ = join.send(JoinAnswer::error(
                    GroupError::RebalanceInProgress,
                    member_id.clone(),
                ));
            }
            if let Some(sync) = member.awaiting_sync.take() {
                let _ = sync.send(Err(GroupError::RebalanceInProgress));
            }
        }
    }

    /// Starts a rebalance now: the members of a group just converted back from the consumer
    /// protocol join again and the leader assigns, as after any membership change.
    pub fn rebalance(&mut self, limits: &GroupLimits, now: Instant) {
        self.prepare_rebalance(limits, now);
    }
}
