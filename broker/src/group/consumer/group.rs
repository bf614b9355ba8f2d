//! One consumer group of the KIP-848 protocol as pure state (Kafka's `ConsumerGroup` and the
//! consumer part of `GroupMetadataManager`): ConsumerGroupHeartbeats and the clock go in,
//! answers and a list of changes to write down come out. No I/O, no timer of its own —
//! [`ConsumerGroup::tick`] is called with the time — so every path is tested with a made-up
//! clock.
//!
//! ```text
//!  heartbeat ─► validate ─► find or create the member (epoch 0 joins, -1 leaves, -2 a static
//!     member steps away) ─► apply its subscription ─► new member / changed subscription /
//!     changed topic metadata: group epoch + 1 ─► group epoch > target epoch: the assignor
//!     computes a new target assignment ─► reconcile the member (reconcile.rs) ─► answer
//!  tick ─► members whose session ended, or that did not revoke within their rebalance
//!     timeout, are removed: group epoch + 1 (the next heartbeat computes the new target)
//! ```
//!
//! Invariants: a heartbeat that fails changes nothing; the group epoch only grows; a partition
//! is held (assigned or pending revocation) by one member at most. Every change the
//! coordinator must write to `__consumer_offsets` is listed in order in [`GroupChange`]s,
//! drained with [`ConsumerGroup::take_changes`].

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use uuid::Uuid;

use super::assignor::{AssignmentSpec, Assignor, MemberId, MemberSpec, TopicPartitions, TopicSpec};
use super::member::{
    Deadlines, JOIN_GROUP_MEMBER_EPOCH, LEAVE_GROUP_STATIC_MEMBER_EPOCH, Member, MemberState,
};
use super::reconcile::{Target, reconcile};
use super::request::{apply_request, check_epoch, is_full, validate};

pub use classic::{CONSUMER_PROTOCOL_TYPE, ClassicJoin, ClassicJoined, ClassicSync};
pub use restore::StoredGroup;

/// Why a heartbeat was refused; the API layer gives each its Kafka code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConsumerGroupError {
    /// `FENCED_MEMBER_EPOCH`: the member's epoch is ahead of the coordinator's, or behind it
    /// and not the previous epoch with a subset of the current assignment.
    #[error("the member epoch is not the one the coordinator expects; rejoin with epoch 0")]
    FencedMemberEpoch,
    /// `UNKNOWN_MEMBER_ID`.
    #[error("the member id is not known to the group")]
    UnknownMemberId,
    /// `UNRELEASED_INSTANCE_ID`: a live member still uses the static instance id.
    #[error("the group.instance.id {0} is still used by a member of the group")]
    UnreleasedInstanceId(String),
    /// `FENCED_INSTANCE_ID`: the instance id belongs to another member id now.
    #[error("the group.instance.id {0} belongs to another member")]
    FencedInstanceId(String),
    /// `GROUP_MAX_SIZE_REACHED`: `group.consumer.max.size`.
    #[error("the group has reached group.consumer.max.size ({0}) members")]
    GroupMaxSizeReached(usize),
    /// `INVALID_REQUEST`, with Kafka's message.
    #[error("{0}")]
    InvalidRequest(&'static str),
    /// `UNSUPPORTED_ASSIGNOR`: the server assignor is not in `group.consumer.assignors`.
    #[error("the server assignor {0} is not one of group.consumer.assignors")]
    UnsupportedAssignor(String),
    /// `UNKNOWN_SERVER_ERROR`: the assignor could not compute a target assignment.
    #[error("computing the target assignment failed: {0}")]
    AssignmentFailed(String),
}

/// The broker's settings for consumer groups.
#[derive(Debug, Clone)]
pub struct ConsumerGroupConfig {
    /// `group.consumer.session.timeout.ms` (45000).
    pub session_timeout: Duration,
    /// `group.consumer.heartbeat.interval.ms` (5000).
    pub heartbeat_interval: Duration,
    /// `group.consumer.max.size`.
    pub max_size: usize,
}

impl Default for ConsumerGroupConfig {
    fn default() -> Self {
        ConsumerGroupConfig {
            session_timeout: Duration::from_millis(45_000),
            heartbeat_interval: Duration::from_millis(5_000),
            max_size: usize::MAX,
        }
    }
}

/// What the group knows of one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMetadata {
    pub id: Uuid,
    pub partitions: i32,
}

/// The cluster's topics by name, as the caller saw them for this call.
pub type TopicsImage = BTreeMap<String, TopicMetadata>;

/// A ConsumerGroupHeartbeat, as the state machine needs it. `None` fields are "unchanged"
/// after the first heartbeat, as in the protocol.
#[derive(Debug, Clone, Default)]
pub struct HeartbeatRequest {
    /// The request's version: from 1 (KIP-1082) the client generates its member id.
    pub version: i16,
    /// Empty in a version 0 join: the coordinator makes one.
    pub member_id: String,
    pub member_epoch: i32,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    /// -1: unchanged.
    pub rebalance_timeout_ms: i32,
    pub subscribed_topic_names: Option<Vec<String>>,
    pub subscribed_topic_regex: Option<String>,
    pub server_assignor: Option<String>,
    /// The partitions the member owns; `None`: not sent.
    pub owned: Option<TopicPartitions>,
    pub client_id: String,
    pub client_host: String,
    /// A classic member's JoinGroup (`classic.rs`): its session timeout and protocols.
    pub classic: Option<super::records::ClassicMemberMetadata>,
}

/// A heartbeat's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatAnswer {
    pub member_id: MemberId,
    pub member_epoch: i32,
    pub heartbeat_interval_ms: i32,
    /// The member's whole assignment: on a full request (a join) or when it changed.
    pub assignment: Option<TopicPartitions>,
}

/// A change the coordinator writes to `__consumer_offsets`, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupChange {
    /// The member's metadata (subscription, ids, timeouts) is new or changed.
    MemberUpserted(Box<Member>),
    /// The member is gone: its metadata, target and current assignment are deleted.
    MemberRemoved(MemberId),
    /// The group epoch moved.
    GroupEpoch(i32),
    /// One member's target assignment.
    TargetAssignment {
        member_id: MemberId,
        partitions: TopicPartitions,
    },
    /// A target assignment is complete at this epoch.
    TargetAssignmentEpoch(i32),
    /// The member's epochs, state, assigned and pending-revocation partitions changed.
    CurrentAssignment(Box<Member>),
}

/// One consumer group.
#[derive(Debug)]
pub struct ConsumerGroup {
    group_id: String,
    group_epoch: i32,
    target_epoch: i32,
    target: BTreeMap<MemberId, TopicPartitions>,
    members: BTreeMap<MemberId, Member>,
    deadlines: BTreeMap<MemberId, Deadlines>,
    /// Static members by instance id.
    static_members: BTreeMap<String, MemberId>,
    /// The subscribed topics the last target assignment was computed with.
    subscribed_topics: BTreeMap<Uuid, TopicSpec>,
    /// Topic ids each regular expression matches, resolved outside.
    resolved_regexes: BTreeMap<String, BTreeSet<Uuid>>,
    changes: Vec<GroupChange>,
}

impl ConsumerGroup {
    pub fn new(group_id: &str) -> Self {
        ConsumerGroup {
            group_id: group_id.to_owned(),
            group_epoch: 0,
            target_epoch: 0,
            target: BTreeMap::new(),
            members: BTreeMap::new(),
            deadlines: BTreeMap::new(),
            static_members: BTreeMap::new(),
            subscribed_topics: BTreeMap::new(),
            resolved_regexes: BTreeMap::new(),
            changes: Vec::new(),
        }
    }

    pub fn group_id(&self) -> &str {
        &self.group_id
    }

    pub fn group_epoch(&self) -> i32 {
        self.group_epoch
    }

    pub fn target_assignment_epoch(&self) -> i32 {
        self.target_epoch
    }

    pub fn target_assignment(&self, member_id: &str) -> Option<&TopicPartitions> {
        self.target.get(member_id)
    }

    pub fn member(&self, member_id: &str) -> Option<&Member> {
        self.members.get(member_id)
    }

    pub fn members(&self) -> impl Iterator<Item = &Member> {
        self.members.values()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The assignor the group uses now: the one most members ask for, else the first of
    /// `assignors` (`group.consumer.assignors`).
    pub fn preferred_assignor<'a>(
        &self,
        assignors: &[&'a dyn Assignor],
    ) -> Option<&'a dyn Assignor> {
        choose_assignor(&self.members, assignors).ok()
    }

    /// Kafka's name of the group's state: `Empty` without members, `Assigning` while the
    /// target assignment lags the group epoch, `Reconciling` while a member is not at the
    /// target, else `Stable`.
    pub fn state_name(&self) -> &'static str {
        if self.members.is_empty() {
            "Empty"
        } else if self.target_epoch < self.group_epoch {
            "Assigning"
        } else if self
            .members
            .values()
            .any(|m| !m.is_reconciled_to(self.target_epoch))
        {
            "Reconciling"
        } else {
            "Stable"
        }
    }

    /// The changes made since the last call, oldest first.
    pub fn take_changes(&mut self) -> Vec<GroupChange> {
        std::mem::take(&mut self.changes)
    }

    /// Regular expressions members subscribe with that have not been resolved yet.
    pub fn unresolved_regexes(&self) -> BTreeSet<String> {
        self.members
            .values()
            .filter_map(|m| m.subscribed_topic_regex.as_ref())
            .filter(|regex| !self.resolved_regexes.contains_key(*regex))
            .cloned()
            .collect()
    }

    /// The topics `regex` matches now. A change bumps the group epoch, so the next heartbeat
    /// computes a new target assignment (until resolved, a regex matches nothing).
    pub fn resolve_regex(&mut self, regex: &str, topics: BTreeSet<Uuid>) {
        if self.resolved_regexes.get(regex) == Some(&topics) {
            return;
        }
        let used = self
            .members
            .values()
            .any(|m| m.subscribed_topic_regex.as_deref() == Some(regex));
        self.resolved_regexes.insert(regex.to_owned(), topics);
        if used {
            self.bump_group_epoch();
        }
    }

    /// Kafka's checks of a heartbeat that need no group (a group converted for a request
    /// that fails them would be converted for nothing).
    pub fn check_request(
        request: &HeartbeatRequest,
        assignors: &[&dyn Assignor],
    ) -> Result<(), ConsumerGroupError> {
        validate(request, assignors)
    }

    /// One ConsumerGroupHeartbeat. `assignors` are `group.consumer.assignors` in order: the
    /// first is the group's default.
    pub fn heartbeat(
        &mut self,
        request: &HeartbeatRequest,
        topics: &TopicsImage,
        assignors: &[&dyn Assignor],
        config: &ConsumerGroupConfig,
        now: Instant,
    ) -> Result<HeartbeatAnswer, ConsumerGroupError> {
        validate(request, assignors)?;
        let interval_ms = i32::try_from(config.heartbeat_interval.as_millis()).unwrap_or(i32::MAX);
        if request.member_epoch < 0 {
            return self.leave(request, config, now, interval_ms);
        }
        let joining = request.member_epoch == JOIN_GROUP_MEMBER_EPOCH;
        let member_id = if request.member_id.is_empty() {
            new_member_id()
        } else {
            request.member_id.clone()
        };

        // The member as it stands, and the static member it replaces.
        let mut bump = false;
        let (old, replaced) = self.find_member(request, &member_id, config, &mut bump)?;

        let mut member = old
            .clone()
            .unwrap_or_else(|| Member::new(member_id.clone()));
        if let Some(replaced) = &replaced {
            member = Member {
                member_id: member_id.clone(),
                member_epoch: JOIN_GROUP_MEMBER_EPOCH,
                previous_member_epoch: JOIN_GROUP_MEMBER_EPOCH,
                ..replaced.clone()
            };
        }
        apply_request(&mut member, request);
        let subscription_changed = match old.as_ref().or(replaced.as_ref()) {
            None => true,
            Some(before) => {
                before.subscribed_topic_names != member.subscribed_topic_names
                    || before.subscribed_topic_regex != member.subscribed_topic_regex
            }
        };
        bump |= subscription_changed;

        // The group as it would be with this member, to compute the target from.
        let mut members = self.members.clone();
        if let Some(replaced) = &replaced {
            members.remove(&replaced.member_id);
        }
        members.insert(member_id.clone(), member.clone());
        let subscribed_topics = self.subscribed_topics_of(&members, topics);
        if subscribed_topics != self.subscribed_topics {
            bump = true;
        }
        let group_epoch = if bump {
            self.group_epoch + 1
        } else {
            self.group_epoch
        };
        let mut target = self.target.clone();
        if let Some(replaced) = &replaced
            && let Some(assignment) = target.remove(&replaced.member_id)
        {
            target.insert(member_id.clone(), assignment);
        }
        let new_target = if group_epoch > self.target_epoch {
            let assignor = choose_assignor(&members, assignors)?;
            let spec = self.spec(&members, &target, &subscribed_topics, topics);
            Some(
                assignor
                    .assign(&spec)
                    .map_err(|error| ConsumerGroupError::AssignmentFailed(error.to_string()))?,
            )
        } else {
            None
        };

        // Reconcile the member against the target it will have.
        let member_target = new_target
            .as_ref()
            .unwrap_or(&target)
            .get(&member_id)
            .cloned()
            .unwrap_or_default();
        let target_epoch = if new_target.is_some() {
            group_epoch
        } else {
            self.target_epoch
        };
        let subscribed = self.subscribed_ids(&member, topics);
        let reconciled = if member.is_reconciled_to(target_epoch) {
            member.clone()
        } else {
            let others = &members;
            let held_elsewhere = |topic: Uuid, partition: i32| {
                others
                    .values()
                    .any(|m| m.member_id != member_id && m.holds(topic, partition))
            };
            reconcile(
                &member,
                &Target {
                    epoch: target_epoch,
                    partitions: &member_target,
                    subscribed: &subscribed,
                },
                &held_elsewhere,
                request.owned.as_ref(),
            )?
        };

        // Nothing can fail from here on: commit.
        if let Some(replaced) = &replaced {
            self.remove_member(&replaced.member_id);
        }
        if old.as_ref().is_none_or(|old| !old.same_metadata(&member)) {
            self.changes
                .push(GroupChange::MemberUpserted(Box::new(member.clone())));
        }
        if let Some(instance) = &member.instance_id {
            self.static_members
                .insert(instance.clone(), member_id.clone());
        }
        if bump {
            self.group_epoch = group_epoch;
            self.changes.push(GroupChange::GroupEpoch(group_epoch));
        }
        self.subscribed_topics = subscribed_topics;
        if replaced.is_some() {
            // The replaced member's target moves to the new member id.
            if let Some(assignment) = target.get(&member_id) {
                self.changes.push(GroupChange::TargetAssignment {
                    member_id: member_id.clone(),
                    partitions: assignment.clone(),
                });
            }
            self.target = target;
        }
        if let Some(new_target) = new_target {
            self.set_target(new_target, group_epoch);
        }
        let before = old.as_ref().or(replaced.as_ref());
        let assignment_changed = before.is_none_or(|b| b.assigned != reconciled.assigned);
        if before.is_none_or(|b| !b.same_assignment(&reconciled)) || replaced.is_some() {
            self.changes
                .push(GroupChange::CurrentAssignment(Box::new(reconciled.clone())));
        }
        let revocation = match (&self.deadlines.get(&member_id), reconciled.state) {
            (_, state) if state != MemberState::UnrevokedPartitions => None,
            (Some(d), _)
                if old.as_ref().is_some_and(|o| {
                    o.state == MemberState::UnrevokedPartitions
                        && o.member_epoch == reconciled.member_epoch
                        && o.pending_revocation == reconciled.pending_revocation
                }) =>
            {
                d.revocation
            }
            _ => Some(now + reconciled.rebalance_timeout),
        };
        self.deadlines.insert(
            member_id.clone(),
            Deadlines {
                session: now + reconciled.session_timeout(config.session_timeout),
                revocation,
            },
        );
        let answer = HeartbeatAnswer {
            member_id: member_id.clone(),
            member_epoch: reconciled.member_epoch,
            heartbeat_interval_ms: interval_ms,
            assignment: (joining || is_full(request) || assignment_changed)
                .then(|| reconciled.assigned.clone()),
        };
        self.members.insert(member_id, reconciled);
        Ok(answer)
    }

    /// The member a heartbeat (epoch ≥ 0) is for: `(as it is, the static member it replaces)`.
    /// Both `None`: a new member.
    fn find_member(
        &self,
        request: &HeartbeatRequest,
        member_id: &str,
        config: &ConsumerGroupConfig,
        bump: &mut bool,
    ) -> Result<(Option<Member>, Option<Member>), ConsumerGroupError> {
        let joining = request.member_epoch == JOIN_GROUP_MEMBER_EPOCH;
        let check_full = || {
            if self.members.len() >= config.max_size {
                Err(ConsumerGroupError::GroupMaxSizeReached(config.max_size))
            } else {
                Ok(())
            }
        };
        let existing = match &request.instance_id {
            None => self.members.get(member_id),
            Some(instance) => {
                let owner = self
                    .static_members
                    .get(instance)
                    .and_then(|id| self.members.get(id));
                match owner {
                    Some(owner) if joining => {
                        if owner.member_epoch != LEAVE_GROUP_STATIC_MEMBER_EPOCH {
                            return Err(ConsumerGroupError::UnreleasedInstanceId(instance.clone()));
                        }
                        // Takes the place of the member that stepped away: no new seat.
                        return Ok((None, Some(owner.clone())));
                    }
                    Some(owner) if owner.member_id != member_id => {
                        return Err(ConsumerGroupError::FencedInstanceId(instance.clone()));
                    }
                    None if !joining => return Err(ConsumerGroupError::UnknownMemberId),
                    owner => owner,
                }
            }
        };
        match existing {
            Some(member) => {
                check_epoch(member, request)?;
                Ok((Some(member.clone()), None))
            }
            None if joining => {
                check_full()?;
                *bump = true;
                Ok((None, None))
            }
            None => Err(ConsumerGroupError::UnknownMemberId),
        }
    }

    /// A heartbeat with epoch -1 (leave) or -2 (a static member steps away).
    fn leave(
        &mut self,
        request: &HeartbeatRequest,
        config: &ConsumerGroupConfig,
        now: Instant,
        interval_ms: i32,
    ) -> Result<HeartbeatAnswer, ConsumerGroupError> {
        let member_id = match &request.instance_id {
            None => self
                .members
                .get(&request.member_id)
                .map(|m| m.member_id.clone())
                .ok_or(ConsumerGroupError::UnknownMemberId)?,
            Some(instance) => {
                let owner = self
                    .static_members
                    .get(instance)
                    .ok_or(ConsumerGroupError::UnknownMemberId)?;
                if *owner != request.member_id {
                    return Err(ConsumerGroupError::FencedInstanceId(instance.clone()));
                }
                owner.clone()
            }
        };
        if request.member_epoch == LEAVE_GROUP_STATIC_MEMBER_EPOCH {
            // Keeps its assignment and place until it rejoins or its session ends.
            if let Some(member) = self.members.get_mut(&member_id) {
                member.update_epoch(LEAVE_GROUP_STATIC_MEMBER_EPOCH);
                let snapshot = member.clone();
                self.changes
                    .push(GroupChange::CurrentAssignment(Box::new(snapshot)));
            }
            self.deadlines.insert(
                member_id.clone(),
                Deadlines {
                    session: now + config.session_timeout,
                    revocation: None,
                },
            );
        } else {
            self.remove_member(&member_id);
            self.bump_group_epoch();
        }
        Ok(HeartbeatAnswer {
            member_id,
            member_epoch: request.member_epoch,
            heartbeat_interval_ms: interval_ms,
            assignment: None,
        })
    }

    /// Removes members whose session ended or that did not revoke in time; returns their ids.
    pub fn tick(&mut self, now: Instant) -> Vec<MemberId> {
        let expired: Vec<MemberId> = self
            .deadlines
            .iter()
            .filter(|(_, d)| d.session <= now || d.revocation.is_some_and(|r| r <= now))
            .map(|(id, _)| id.clone())
            .collect();
        for member_id in &expired {
            self.remove_member(member_id);
        }
        if !expired.is_empty() {
            self.bump_group_epoch();
        }
        expired
    }

    fn bump_group_epoch(&mut self) {
        self.group_epoch += 1;
        self.changes.push(GroupChange::GroupEpoch(self.group_epoch));
    }

    fn remove_member(&mut self, member_id: &str) {
        if let Some(member) = self.members.remove(member_id) {
            if let Some(instance) = &member.instance_id
                && self.static_members.get(instance).map(String::as_str) == Some(member_id)
            {
                self.static_members.remove(instance);
            }
            self.changes
                .push(GroupChange::MemberRemoved(member_id.to_owned()));
        }
        self.deadlines.remove(member_id);
        self.target.remove(member_id);
    }

    fn set_target(&mut self, target: BTreeMap<MemberId, TopicPartitions>, epoch: i32) {
        for (member_id, partitions) in &target {
            if self.target.get(member_id) != Some(partitions) {
                self.changes.push(GroupChange::TargetAssignment {
                    member_id: member_id.clone(),
                    partitions: partitions.clone(),
                });
            }
        }
        self.target = target;
        self.target_epoch = epoch;
        self.changes.push(GroupChange::TargetAssignmentEpoch(epoch));
    }

    /// The topic ids `member` subscribes to that exist.
    fn subscribed_ids(&self, member: &Member, topics: &TopicsImage) -> BTreeSet<Uuid> {
        let mut ids: BTreeSet<Uuid> = member
            .subscribed_topic_names
            .iter()
            .filter_map(|name| topics.get(name).map(|t| t.id))
            .collect();
        if let Some(resolved) = member
            .subscribed_topic_regex
            .as_ref()
            .and_then(|regex| self.resolved_regexes.get(regex))
        {
            let existing = topics.values().map(|t| t.id).collect::<BTreeSet<_>>();
            ids.extend(resolved.intersection(&existing));
        }
        ids
    }

    /// Every topic some member subscribes to, as the assignor sees it.
    fn subscribed_topics_of(
        &self,
        members: &BTreeMap<MemberId, Member>,
        topics: &TopicsImage,
    ) -> BTreeMap<Uuid, TopicSpec> {
        let ids: BTreeSet<Uuid> = members
            .values()
            .flat_map(|m| self.subscribed_ids(m, topics))
            .collect();
        topics
            .iter()
            .filter(|(_, t)| ids.contains(&t.id))
            .map(|(name, t)| {
                (
                    t.id,
                    TopicSpec {
                        name: name.clone(),
                        partitions: t.partitions,
                    },
                )
            })
            .collect()
    }

    fn spec(
        &self,
        members: &BTreeMap<MemberId, Member>,
        target: &BTreeMap<MemberId, TopicPartitions>,
        subscribed_topics: &BTreeMap<Uuid, TopicSpec>,
        topics: &TopicsImage,
    ) -> AssignmentSpec {
        AssignmentSpec {
            members: members
                .values()
                .map(|m| {
                    let spec = MemberSpec {
                        rack: m.rack_id.clone(),
                        instance_id: m.instance_id.clone(),
                        subscribed: self.subscribed_ids(m, topics),
                        assigned: target.get(&m.member_id).cloned().unwrap_or_default(),
                    };
                    (m.member_id.clone(), spec)
                })
                .collect(),
            topics: subscribed_topics.clone(),
        }
    }
}

/// The assignor most members ask for (ties: the earlier in `group.consumer.assignors`), else
/// the group's default, the first configured.
fn choose_assignor<'a>(
    members: &BTreeMap<MemberId, Member>,
    assignors: &[&'a dyn Assignor],
) -> Result<&'a dyn Assignor, ConsumerGroupError> {
    let mut best: Option<(usize, &'a dyn Assignor)> = None;
    for assignor in assignors {
        let votes = members
            .values()
            .filter(|m| m.server_assignor.as_deref() == Some(assignor.name()))
            .count();
        if votes > 0 && best.is_none_or(|(most, _)| votes > most) {
            best = Some((votes, *assignor));
        }
    }
    best.map(|(_, a)| a)
        .or_else(|| assignors.first().copied())
        .ok_or_else(|| ConsumerGroupError::AssignmentFailed("no assignor is configured".into()))
}

/// A member id in Kafka's form (`Uuid.randomUuid().toString()`): never starting with `-`.
fn new_member_id() -> MemberId {
    loop {
        let id = crate::meta_properties::generate_cluster_id();
        if !id.starts_with('-') {
            return id;
        }
    }
}

#[path = "group_restore.rs"]
mod restore;

#[path = "classic.rs"]
mod classic;
