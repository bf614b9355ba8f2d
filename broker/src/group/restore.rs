//! A group to and from its `__consumer_offsets` metadata record (`metadata_record.rs`).
//!
//! Kafka writes a group down when a generation completes (the leader's assignment, before the
//! members get it), when the group becomes Empty, and when a static member takes its old place;
//! a deletion writes a tombstone. Loading the partition rebuilds each group from its last
//! record: a group with members comes back Stable at its generation with its members,
//! protocol, leader and assignments, and every member's session starts at the load — a member
//! not heard from within its session timeout is removed and the others rebalance, as for any
//! expired session. An Empty record gives an Empty group with its protocol type and generation.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use super::{Group, GroupState, Member};
use crate::group::metadata_record::{GroupMetadata, StoredMember};

fn millis(ms: i32) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

fn clamp_ms(duration: Duration) -> i32 {
    i32::try_from(duration.as_millis()).unwrap_or(i32::MAX)
}

impl Group {
    /// The group as its metadata record; `now_ms` is the current state's timestamp. While the
    /// leader's assignment is being written, the record carries it.
    pub fn record(&self, now_ms: i64) -> GroupMetadata {
        let protocol = self.protocol.clone().unwrap_or_default();
        let members = self
            .order
            .iter()
            .filter_map(|id| self.members.get(id).map(|member| (id, member)))
            .map(|(id, member)| StoredMember {
                member_id: id.clone(),
                group_instance_id: member.instance_id.clone(),
                client_id: member.client_id.clone(),
                client_host: member.client_host.clone(),
                rebalance_timeout_ms: clamp_ms(member.rebalance_timeout),
                session_timeout_ms: clamp_ms(member.session_timeout),
                subscription: member.metadata_for(&protocol),
                assignment: match &self.pending_assignment {
                    Some(pending) => pending.get(id).cloned().unwrap_or_default(),
                    None => member.assignment.clone(),
                },
            })
            .collect();
        GroupMetadata {
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            generation: self.generation,
            protocol: self.protocol.clone(),
            leader: self.leader.clone(),
            current_state_timestamp: now_ms,
            members,
        }
    }

    /// The record to write for a change no request waits on (see `record_due`), once.
    pub fn take_due_record(&mut self, now_ms: i64) -> Option<GroupMetadata> {
        std::mem::take(&mut self.record_due).then(|| self.record(now_ms))
    }

    /// The group as its last record left it, loaded at `now`. A record with members but no
    /// protocol cannot be a completed generation: its members are dropped (they rejoin).
    pub fn restore(id: &str, stored: GroupMetadata, now: Instant) -> Group {
        let mut group = Group::new(id);
        group.generation = stored.generation;
        group.protocol_type = Some(stored.protocol_type).filter(|t| !t.is_empty());
        let Some(protocol) = stored.protocol.filter(|_| !stored.members.is_empty()) else {
            return group;
        };
        let mut seen = HashSet::new();
        for member in stored.members {
            if !seen.insert(member.member_id.clone()) {
                continue;
            }
            let session_timeout = millis(member.session_timeout_ms);
            group.order.push(member.member_id.clone());
            group.members.insert(
                member.member_id,
                Box::new(Member {
                    instance_id: member.group_instance_id,
                    client_id: member.client_id,
                    client_host: member.client_host,
                    session_timeout,
                    rebalance_timeout: millis(member.rebalance_timeout_ms),
                    protocol_type: group.protocol_type.clone().unwrap_or_default(),
                    protocols: vec![(protocol.clone(), member.subscription)],
                    assignment: member.assignment,
                    awaiting_join: None,
                    awaiting_sync: None,
                    deadline: now + session_timeout,
                }),
            );
        }
        group.leader = stored
            .leader
            .filter(|leader| group.members.contains_key(leader))
            .or_else(|| group.order.first().cloned());
        group.protocol = Some(protocol);
        group.state = GroupState::Stable;
        group
    }
}

#[cfg(test)]
#[path = "restore_tests.rs"]
mod tests;
