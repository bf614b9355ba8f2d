//! One member of a consumer group of the KIP-848 protocol, as the coordinator keeps it: who it
//! is, what it subscribes to, and where it stands in reconciling towards its target assignment
//! (Kafka's `ConsumerGroupMember` and `MemberState`).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use uuid::Uuid;

use super::assignor::{MemberId, TopicPartitions};
use super::records::ClassicMemberMetadata;

/// The member epoch of a heartbeat that joins (or rejoins from scratch).
pub const JOIN_GROUP_MEMBER_EPOCH: i32 = 0;
/// The member epoch of a heartbeat that leaves the group for good.
pub const LEAVE_GROUP_MEMBER_EPOCH: i32 = -1;
/// The member epoch of a static member that leaves for now and keeps its place, and the epoch
/// the coordinator keeps for it until it rejoins or its session ends.
pub const LEAVE_GROUP_STATIC_MEMBER_EPOCH: i32 = -2;

/// Where a member stands in its reconciliation (Kafka's `MemberState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberState {
    /// At its target assignment's epoch with everything it was given.
    Stable,
    /// Must give up partitions (acknowledged by leaving them out of the owned partitions of a
    /// heartbeat) before it moves to a newer epoch.
    UnrevokedPartitions,
    /// At the target epoch, waiting for partitions other members still hold.
    UnreleasedPartitions,
    /// A state written by a newer coordinator: the member is fenced unless it rejoins empty.
    Unknown,
}

impl MemberState {
    /// Kafka's name of the state.
    pub fn name(self) -> &'static str {
        match self {
            MemberState::Stable => "STABLE",
            MemberState::UnrevokedPartitions => "UNREVOKED_PARTITIONS",
            MemberState::UnreleasedPartitions => "UNRELEASED_PARTITIONS",
            MemberState::Unknown => "UNKNOWN",
        }
    }
}

/// One member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub member_id: MemberId,
    /// The epoch the member is at; [`LEAVE_GROUP_STATIC_MEMBER_EPOCH`] while a static member is
    /// away.
    pub member_epoch: i32,
    /// The epoch before the last change of `member_epoch`: a heartbeat with it is tolerated when
    /// the answer that moved the member on was lost.
    pub previous_member_epoch: i32,
    pub state: MemberState,
    /// `group.instance.id`: a static member.
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout: Duration,
    pub subscribed_topic_names: BTreeSet<String>,
    /// Kept as the member sent it; the topics it matches are resolved outside the state
    /// machine (see `ConsumerGroup::resolve_regex`).
    pub subscribed_topic_regex: Option<String>,
    /// `group.remote.assignor`.
    pub server_assignor: Option<String>,
    /// The partitions the member may own now.
    pub assigned: TopicPartitions,
    /// Partitions taken from the member that it has not yet said it gave up.
    pub pending_revocation: TopicPartitions,
    /// Set for a member that speaks the classic protocol (JoinGroup, SyncGroup, Heartbeat)
    /// in the group: its session timeout and the protocols its JoinGroup offered.
    pub classic: Option<ClassicMemberMetadata>,
}

impl Member {
    /// A member that has just joined: epoch 0, nothing assigned.
    pub fn new(member_id: MemberId) -> Self {
        Member {
            member_id,
            member_epoch: JOIN_GROUP_MEMBER_EPOCH,
            previous_member_epoch: JOIN_GROUP_MEMBER_EPOCH,
            state: MemberState::Stable,
            instance_id: None,
            rack_id: None,
            client_id: String::new(),
            client_host: String::new(),
            rebalance_timeout: Duration::ZERO,
            subscribed_topic_names: BTreeSet::new(),
            subscribed_topic_regex: None,
            server_assignor: None,
            assigned: TopicPartitions::new(),
            pending_revocation: TopicPartitions::new(),
            classic: None,
        }
    }

    /// How long the member's session lasts without a word from it: a classic member's own
    /// session timeout, else the group's (`group.consumer.session.timeout.ms`).
    pub fn session_timeout(&self, group_default: Duration) -> Duration {
        self.classic.as_ref().map_or(group_default, |classic| {
            Duration::from_millis(u64::try_from(classic.session_timeout_ms).unwrap_or(0))
        })
    }

    /// Moves the member to `epoch`, remembering the one it leaves (Kafka's `updateMemberEpoch`).
    pub(super) fn update_epoch(&mut self, epoch: i32) {
        self.previous_member_epoch = self.member_epoch;
        self.member_epoch = epoch;
    }

    /// Whether the member is at `target_epoch` with nothing left to do.
    pub fn is_reconciled_to(&self, target_epoch: i32) -> bool {
        self.state == MemberState::Stable && self.member_epoch == target_epoch
    }

    /// Whether the member's subscription (what the records call its metadata) differs.
    pub(super) fn same_metadata(&self, other: &Member) -> bool {
        self.instance_id == other.instance_id
            && self.rack_id == other.rack_id
            && self.client_id == other.client_id
            && self.client_host == other.client_host
            && self.rebalance_timeout == other.rebalance_timeout
            && self.subscribed_topic_names == other.subscribed_topic_names
            && self.subscribed_topic_regex == other.subscribed_topic_regex
            && self.server_assignor == other.server_assignor
            && self.classic == other.classic
    }

    /// Whether the member's reconciliation state differs.
    pub(super) fn same_assignment(&self, other: &Member) -> bool {
        self.member_epoch == other.member_epoch
            && self.previous_member_epoch == other.previous_member_epoch
            && self.state == other.state
            && self.assigned == other.assigned
            && self.pending_revocation == other.pending_revocation
    }

    /// Whether the member holds `partition` of `topic`, as assigned or not yet revoked.
    pub fn holds(&self, topic: Uuid, partition: i32) -> bool {
        let has = |map: &TopicPartitions| map.get(&topic).is_some_and(|p| p.contains(&partition));
        has(&self.assigned) || has(&self.pending_revocation)
    }
}

/// Session and rebalance deadlines of a member; not part of what is written down.
#[derive(Debug, Clone, Copy)]
pub(super) struct Deadlines {
    /// The session ends unless the member is heard from before.
    pub session: Instant,
    /// While the member must revoke: it is fenced unless it has revoked before.
    pub revocation: Option<Instant>,
}
