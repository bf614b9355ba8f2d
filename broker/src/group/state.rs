//! One consumer group under the classic rebalance protocol, as pure state: requests and the
//! clock go in, answers come out through the responders the requests left. No I/O, no timer
//! of its own — [`Group::tick`] is called with the time — so every path is tested with a
//! made-up clock.
//!
//! ```text
//!  Empty ──join──► PreparingRebalance ──all members rejoined, or rebalance timeout──►
//!        CompletingRebalance (joins answered; generation + 1) ──leader's SyncGroup──► Stable
//!  Stable / CompletingRebalance ──join of a new member, changed metadata, leave, expiry──►
//!        PreparingRebalance
//! ```
//!
//! As in Kafka: a JoinGroup of v4+ without a member id is answered MEMBER_ID_REQUIRED with an
//! id to join with (KIP-394); a new, empty group waits `group.initial.rebalance.delay.ms` for
//! more members (each arrival extends the wait, up to the rebalance timeout); members that do
//! not rejoin within the rebalance timeout are removed; a member that misses its session
//! timeout is removed and the others rebalance.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::oneshot;

use super::GroupError;

/// Kafka's group states (`DescribeGroups` and `ListGroups` report these names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl GroupState {
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

/// A JoinGroup, as the state machine needs it.
#[derive(Debug, Clone)]
pub struct Join {
    /// Empty: a member joining for the first time.
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    pub protocol_type: String,
    /// `(name, metadata)` in the member's order of preference.
    pub protocols: Vec<(String, Bytes)>,
    /// v4+: a member without an id is given one and asked to join again with it.
    pub require_known_member: bool,
}

/// A JoinGroup's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinAnswer {
    pub error: Option<GroupError>,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub member_id: String,
    /// Every member's id, instance id and metadata for the chosen protocol: the leader's only.
    pub members: Vec<(String, Option<String>, Bytes)>,
    /// The leader must not compute an assignment (a static leader back in a stable group,
    /// KIP-814); its SyncGroup gets the assignment it had.
    pub skip_assignment: bool,
}

impl JoinAnswer {
    /// A refusal: no generation, no members.
    pub(super) fn error(error: GroupError, member_id: String) -> Self {
        JoinAnswer {
            error: Some(error),
            generation: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            member_id,
            members: Vec::new(),
            skip_assignment: false,
        }
    }
}

/// A SyncGroup's answer: the member's assignment, or why there is none.
pub type SyncAnswer = Result<Bytes, GroupError>;

pub type JoinResponder = oneshot::Sender<JoinAnswer>;
pub type SyncResponder = oneshot::Sender<SyncAnswer>;

/// Limits from the broker's settings.
#[derive(Debug, Clone)]
pub struct GroupLimits {
    pub min_session_timeout: Duration,
    pub max_session_timeout: Duration,
    pub initial_rebalance_delay: Duration,
    pub max_size: usize,
}

#[derive(Debug)]
struct Member {
    instance_id: Option<String>,
    client_id: String,
    client_host: String,
    session_timeout: Duration,
    rebalance_timeout: Duration,
    protocol_type: String,
    protocols: Vec<(String, Bytes)>,
    assignment: Bytes,
    awaiting_join: Option<JoinResponder>,
    awaiting_sync: Option<SyncResponder>,
    /// When the session ends unless the member is heard from.
    deadline: Instant,
}

impl Member {
    fn metadata_for(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(name, _)| name == protocol)
            .map(|(_, metadata)| metadata.clone())
            .unwrap_or_default()
    }
}

/// What DescribeGroups reports of a member.
#[derive(Debug, Clone)]
pub struct MemberDescription {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub metadata: Bytes,
    pub assignment: Bytes,
}

/// One group.
#[derive(Debug)]
pub struct Group {
    id: String,
    state: GroupState,
    generation: i32,
    protocol_type: Option<String>,
    protocol: Option<String>,
    leader: Option<String>,
    /// By member id; `order` keeps join order (the first member leads). Boxed: a B-tree node
    /// holds room for eleven entries, and most groups have one or a few members.
    members: BTreeMap<String, Box<Member>>,
    order: Vec<String>,
    /// Ids handed out with MEMBER_ID_REQUIRED, not yet joined with.
    pending: HashSet<String>,
    /// When the join phase ends at the latest.
    rebalance_deadline: Option<Instant>,
    /// A new group's initial delay: the join phase does not end before it.
    initial_delay_until: Option<Instant>,
    /// The leader's assignment while its record is being written (CompletingRebalance).
    pending_assignment: Option<BTreeMap<String, Bytes>>,
    /// The group changed in a way Kafka writes down without anyone waiting for it (it became
    /// Empty; a static member took its old place): see `take_due_record`.
    record_due: bool,
}

impl Group {
    pub fn new(id: &str) -> Self {
        Group {
            id: id.to_owned(),
            state: GroupState::Empty,
            generation: 0,
            protocol_type: None,
            protocol: None,
            leader: None,
            members: BTreeMap::new(),
            order: Vec::new(),
            pending: HashSet::new(),
            rebalance_deadline: None,
            initial_delay_until: None,
            pending_assignment: None,
            record_due: false,
        }
    }

    pub fn state(&self) -> GroupState {
        self.state
    }

    pub fn generation(&self) -> i32 {
        self.generation
    }

    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// The group's protocol type: its members', kept once it is empty (as Kafka keeps it).
    pub fn protocol_type(&self) -> Option<&str> {
        self.protocol_type.as_deref()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    pub fn has_member(&self, member_id: &str) -> bool {
        self.members.contains_key(member_id)
    }

    pub fn members(&self) -> Vec<MemberDescription> {
        let protocol = self.protocol.clone().unwrap_or_default();
        self.order
            .iter()
            .filter_map(|id| self.members.get(id).map(|member| (id, member)))
            .map(|(id, member)| MemberDescription {
                member_id: id.clone(),
                group_instance_id: member.instance_id.clone(),
                client_id: member.client_id.clone(),
                client_host: member.client_host.clone(),
                metadata: member.metadata_for(&protocol),
                assignment: member.assignment.clone(),
            })
            .collect()
    }

    fn new_member_id(&self, client_id: &str) -> String {
        format!("{client_id}-{}", uuid::Uuid::new_v4())
    }

    /// A JoinGroup. The answer comes through `respond`, now or when the join phase ends.
    pub fn join(&mut self, join: Join, respond: JoinResponder, limits: &GroupLimits, now: Instant) {
        let refuse = |respond: JoinResponder, error, member_id: &str| {
            let _ = respond.send(JoinAnswer::error(error, member_id.to_owned()));
        };
        if self.state == GroupState::Dead {
            return refuse(
                respond,
                GroupError::CoordinatorNotAvailable,
                &join.member_id,
            );
        }
        if join.session_timeout < limits.min_session_timeout
            || join.session_timeout > limits.max_session_timeout
        {
            return refuse(respond, GroupError::InvalidSessionTimeout, &join.member_id);
        }
        if join.protocol_type.is_empty() || join.protocols.is_empty() || !self.supports(&join) {
            return refuse(
                respond,
                GroupError::InconsistentGroupProtocol,
                &join.member_id,
            );
        }
        if join.member_id.is_empty() {
            // A static member rejoining under a new id fences its old one.
            if let Some(instance) = join.group_instance_id.clone()
                && let Some(old) = self.member_of_instance(&instance)
            {
                if self.replace_static_member(&old, &join, now) {
                    let member_id = self.member_of_instance(&instance).expect("just replaced");
                    let is_leader = self.leader.as_deref() == Some(member_id.as_str());
                    let mut answer = self.answer_for(&member_id, is_leader);
                    answer.skip_assignment = is_leader;
                    let _ = respond.send(answer);
                    return;
                }
                self.remove_member(&old);
            }
            if self.members.len() + self.pending.len() >= limits.max_size {
                return refuse(respond, GroupError::GroupMaxSizeReached, "");
            }
            let member_id = self.new_member_id(&join.client_id);
            if join.require_known_member && join.group_instance_id.is_none() {
                self.pending.insert(member_id.clone());
                return refuse(respond, GroupError::MemberIdRequired, &member_id);
            }
            return self.add_member(member_id, join, respond, limits, now);
        }
        if self.pending.remove(&join.member_id) {
            let member_id = join.member_id.clone();
            return self.add_member(member_id, join, respond, limits, now);
        }
        let Some(member) = self.members.get_mut(&join.member_id) else {
            return refuse(respond, GroupError::UnknownMemberId, &join.member_id);
        };
        if join.group_instance_id.is_some() && member.instance_id != join.group_instance_id {
            return refuse(respond, GroupError::FencedInstanceId, &join.member_id);
        }
        member.deadline = now + member.session_timeout;
        let unchanged = member.protocols == join.protocols;
        let is_leader = self.leader.as_deref() == Some(join.member_id.as_str());
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance if unchanged && !is_leader => {
                // A follower that lost the answer: tell it the current generation again.
                let answer = self.answer_for(&join.member_id, false);
                let _ = respond.send(answer);
            }
            _ => {
                let member = self
                    .members
                    .get_mut(&join.member_id)
                    .expect("looked up above");
                member.protocols = join.protocols;
                member.session_timeout = join.session_timeout;
                member.rebalance_timeout = join.rebalance_timeout;
                member.awaiting_join = Some(respond);
                self.prepare_rebalance(limits, now);
                self.try_complete_join(now);
            }
        }
    }

    /// KIP-345: a static member that comes back (a restart) under a new id while the group is
    /// stable takes its old place — same generation, same assignment — and the other members do
    /// not rebalance, unless its protocols would change the group's chosen protocol (Kafka's
    /// test; the metadata itself, e.g. the partitions a consumer says it owns, may differ). A
    /// returning leader stays leader and is told to skip the assignment (KIP-814). Says
    /// whether it replaced.
    fn replace_static_member(&mut self, old: &str, join: &Join, now: Instant) -> bool {
        if self.state != GroupState::Stable || !self.members.contains_key(old) {
            return false;
        }
        let previous = self
            .members
            .get_mut(old)
            .map(|member| std::mem::replace(&mut member.protocols, join.protocols.clone()));
        if self.select_protocol() != self.protocol {
            if let (Some(member), Some(previous)) = (self.members.get_mut(old), previous) {
                member.protocols = previous;
            }
            return false;
        }
        let member_id = self.new_member_id(&join.client_id);
        let Some(mut member) = self.members.remove(old) else {
            return false;
        };
        if let Some(respond) = member.awaiting_sync.take() {
            let _ = respond.send(Err(GroupError::FencedInstanceId));
        }
        member.client_id = join.client_id.clone();
        member.client_host = join.client_host.clone();
        member.session_timeout = join.session_timeout;
        member.rebalance_timeout = join.rebalance_timeout;
        member.deadline = now + join.session_timeout;
        self.members.insert(member_id.clone(), member);
        for id in &mut self.order {
            if id == old {
                *id = member_id.clone();
            }
        }
        if self.leader.as_deref() == Some(old) {
            self.leader = Some(member_id);
        }
        // Kafka writes the group down with the member's new id.
        self.record_due = true;
        true
    }

    fn member_of_instance(&self, instance: &str) -> Option<String> {
        self.members
            .iter()
            .find(|(_, m)| m.instance_id.as_deref() == Some(instance))
            .map(|(id, _)| id.clone())
    }

    /// Whether the group can take this member: same protocol type, and a protocol every
    /// member (this one included) supports.
    fn supports(&self, join: &Join) -> bool {
        if self.members.is_empty() {
            return true;
        }
        if self.protocol_type.as_deref() != Some(join.protocol_type.as_str()) {
            return false;
        }
        join.protocols.iter().any(|(name, _)| {
            self.members
                .iter()
                .filter(|(id, _)| **id != join.member_id)
                .all(|(_, m)| m.protocols.iter().any(|(n, _)| n == name))
        })
    }

    fn add_member(
        &mut self,
        member_id: String,
        join: Join,
        respond: JoinResponder,
        limits: &GroupLimits,
        now: Instant,
    ) {
        if self.members.is_empty() {
            self.protocol_type = Some(join.protocol_type.clone());
        }
        self.order.push(member_id.clone());
        self.members.insert(
            member_id,
            Box::new(Member {
                instance_id: join.group_instance_id,
                client_id: join.client_id,
                client_host: join.client_host,
                session_timeout: join.session_timeout,
                rebalance_timeout: join.rebalance_timeout,
                protocol_type: join.protocol_type,
                protocols: join.protocols,
                assignment: Bytes::new(),
                awaiting_join: Some(respond),
                awaiting_sync: None,
                deadline: now + join.session_timeout,
            }),
        );
        let was_empty = self.state == GroupState::Empty;
        self.prepare_rebalance(limits, now);
        if was_empty || self.initial_delay_until.is_some() {
            // A new group waits for more members; each arrival extends the wait.
            let delay = limits.initial_rebalance_delay;
            if !delay.is_zero() {
                let until = now + delay;
                let cap = self.rebalance_deadline.unwrap_or(until);
                self.initial_delay_until = Some(until.min(cap));
            }
        }
        self.try_complete_join(now);
    }

    /// Enters PreparingRebalance (answering pending syncs with REBALANCE_IN_PROGRESS).
    fn prepare_rebalance(&mut self, _limits: &GroupLimits, now: Instant) {
        if self.state == GroupState::PreparingRebalance {
            return;
        }
        // An assignment still being written is dropped; its write, when done, changes nothing.
        self.pending_assignment = None;
        for member in self.members.values_mut() {
            if let Some(sync) = member.awaiting_sync.take() {
                let _ = sync.send(Err(GroupError::RebalanceInProgress));
            }
        }
        let timeout = self
            .members
            .values()
            .map(|m| m.rebalance_timeout)
            .max()
            .unwrap_or_default();
        self.rebalance_deadline = Some(now + timeout);
        self.state = GroupState::PreparingRebalance;
    }

    /// Ends the join phase if every member has rejoined and any initial delay has passed.
    fn try_complete_join(&mut self, now: Instant) {
        if self.state != GroupState::PreparingRebalance {
            return;
        }
        if self.initial_delay_until.is_some_and(|until| now < until) {
            return;
        }
        if self.members.values().all(|m| m.awaiting_join.is_some()) {
            self.complete_join();
        }
    }

    /// Generation + 1, the protocol chosen, every waiting join answered.
    fn complete_join(&mut self) {
        self.initial_delay_until = None;
        self.rebalance_deadline = None;
        // Members that did not rejoin in time are out.
        let gone: Vec<String> = self
            .members
            .iter()
            .filter(|(_, m)| m.awaiting_join.is_none())
            .map(|(id, _)| id.clone())
            .collect();
        for id in gone {
            self.members.remove(&id);
            self.order.retain(|o| *o != id);
        }
        self.generation += 1;
        if self.members.is_empty() {
            // The protocol type stays, as in Kafka (DescribeGroups and ListGroups show it).
            self.state = GroupState::Empty;
            self.protocol = None;
            self.leader = None;
            self.record_due = true;
            return;
        }
        self.protocol = self.select_protocol();
        if !self
            .leader
            .as_ref()
            .is_some_and(|l| self.members.contains_key(l))
        {
            self.leader = self.order.first().cloned();
        }
        self.state = GroupState::CompletingRebalance;
        let ids: Vec<String> = self.order.clone();
        for id in ids {
            let is_leader = self.leader.as_deref() == Some(id.as_str());
            let answer = self.answer_for(&id, is_leader);
            if let Some(member) = self.members.get_mut(&id)
                && let Some(respond) = member.awaiting_join.take()
            {
                let _ = respond.send(answer);
            }
        }
    }

    fn answer_for(&self, member_id: &str, with_members: bool) -> JoinAnswer {
        let protocol = self.protocol.clone().unwrap_or_default();
        JoinAnswer {
            error: None,
            generation: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol.clone(),
            leader: self.leader.clone().unwrap_or_default(),
            member_id: member_id.to_owned(),
            skip_assignment: false,
            members: if with_members {
                self.order
                    .iter()
                    .filter_map(|id| self.members.get(id).map(|m| (id, m)))
                    .map(|(id, m)| (id.clone(), m.instance_id.clone(), m.metadata_for(&protocol)))
                    .collect()
            } else {
                Vec::new()
            },
        }
    }

    /// The protocol every member supports that most members prefer (Kafka's vote).
    fn select_protocol(&self) -> Option<String> {
        let first = self.members.values().next()?;
        let candidates: Vec<&String> = first
            .protocols
            .iter()
            .map(|(name, _)| name)
            .filter(|name| {
                self.members
                    .values()
                    .all(|m| m.protocols.iter().any(|(n, _)| n == *name))
            })
            .collect();
        let mut votes: BTreeMap<&String, usize> = BTreeMap::new();
        for member in self.members.values() {
            if let Some((name, _)) = member
                .protocols
                .iter()
                .find(|(name, _)| candidates.contains(&name))
            {
                *votes.entry(name).or_default() += 1;
            }
        }
        candidates
            .iter()
            .max_by_key(|name| {
                (
                    votes.get(*name).copied().unwrap_or(0),
                    std::cmp::Reverse(**name),
                )
            })
            .map(|name| (*name).clone())
    }

    /// A SyncGroup. The answer comes through `respond`, now or once the leader's assignment
    /// is stored. Returns true when the leader's assignment waits to be written: the caller
    /// writes [`Group::record`] and reports with [`Group::assignment_stored`], as Kafka answers
    /// the generation's SyncGroups only once its record is in the log.
    #[must_use = "a true answer means the assignment must be written"]
    pub fn sync(
        &mut self,
        member_id: &str,
        generation: i32,
        assignments: Vec<(String, Bytes)>,
        respond: SyncResponder,
        now: Instant,
    ) -> bool {
        let Some(member) = self.members.get_mut(member_id) else {
            let _ = respond.send(Err(GroupError::UnknownMemberId));
            return false;
        };
        if generation != self.generation {
            let _ = respond.send(Err(GroupError::IllegalGeneration));
            return false;
        }
        member.deadline = now + member.session_timeout;
        match self.state {
            GroupState::Empty | GroupState::Dead => {
                let _ = respond.send(Err(GroupError::UnknownMemberId));
            }
            GroupState::PreparingRebalance => {
                let _ = respond.send(Err(GroupError::RebalanceInProgress));
            }
            GroupState::Stable => {
                let _ = respond.send(Ok(member.assignment.clone()));
            }
            GroupState::CompletingRebalance => {
                member.awaiting_sync = Some(respond);
                if self.leader.as_deref() == Some(member_id) && self.pending_assignment.is_none() {
                    self.pending_assignment = Some(assignments.into_iter().collect());
                    return true;
                }
            }
        }
        false
    }

    /// The leader's assignment of `generation` was written (or not): on success every member
    /// gets its assignment and the group is Stable; on failure every waiting member gets the
    /// error and the group rebalances, as Kafka does. A report for a generation the group has
    /// left behind changes nothing.
    pub fn assignment_stored(
        &mut self,
        generation: i32,
        outcome: Result<(), GroupError>,
        limits: &GroupLimits,
        now: Instant,
    ) {
        if self.state != GroupState::CompletingRebalance || self.generation != generation {
            return;
        }
        let Some(mut assigned) = self.pending_assignment.take() else {
            return;
        };
        match outcome {
            Ok(()) => {
                for (id, member) in &mut self.members {
                    member.assignment = assigned.remove(id).unwrap_or_default();
                    if let Some(respond) = member.awaiting_sync.take() {
                        let _ = respond.send(Ok(member.assignment.clone()));
                    }
                }
                self.state = GroupState::Stable;
            }
            Err(error) => {
                for member in self.members.values_mut() {
                    member.assignment = Bytes::new();
                    if let Some(respond) = member.awaiting_sync.take() {
                        let _ = respond.send(Err(error));
                    }
                }
                self.prepare_rebalance(limits, now);
                self.try_complete_join(now);
            }
        }
    }

    /// A Heartbeat.
    pub fn heartbeat(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        now: Instant,
    ) -> Result<(), GroupError> {
        if let Some(instance) = instance_id
            && self.member_of_instance(instance).as_deref() != Some(member_id)
        {
            return Err(GroupError::FencedInstanceId);
        }
        let Some(member) = self.members.get_mut(member_id) else {
            return Err(GroupError::UnknownMemberId);
        };
        if self.state == GroupState::Empty || self.state == GroupState::Dead {
            return Err(GroupError::UnknownMemberId);
        }
        if generation != self.generation {
            return Err(GroupError::IllegalGeneration);
        }
        member.deadline = now + member.session_timeout;
        if self.state == GroupState::PreparingRebalance {
            return Err(GroupError::RebalanceInProgress);
        }
        Ok(())
    }

    /// A member leaving (LeaveGroup). With `instance_id`, the member must be that instance's.
    pub fn leave(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        limits: &GroupLimits,
        now: Instant,
    ) -> Result<(), GroupError> {
        let member_id = match (member_id, instance_id) {
            ("", Some(instance)) => self
                .member_of_instance(instance)
                .ok_or(GroupError::UnknownMemberId)?,
            (id, Some(instance)) => {
                if self.member_of_instance(instance).as_deref() != Some(id) {
                    return Err(GroupError::FencedInstanceId);
                }
                id.to_owned()
            }
            (id, None) => id.to_owned(),
        };
        if self.pending.remove(&member_id) {
            return Ok(());
        }
        if !self.members.contains_key(&member_id) {
            return Err(GroupError::UnknownMemberId);
        }
        self.remove_member(&member_id);
        self.after_removal(limits, now);
        Ok(())
    }

    fn remove_member(&mut self, member_id: &str) {
        if let Some(member) = self.members.remove(member_id) {
            if let Some(respond) = member.awaiting_join {
                let _ = respond.send(JoinAnswer::error(
                    GroupError::UnknownMemberId,
                    member_id.to_owned(),
                ));
            }
            if let Some(respond) = member.awaiting_sync {
                let _ = respond.send(Err(GroupError::UnknownMemberId));
            }
        }
        self.order.retain(|id| id != member_id);
        if self.leader.as_deref() == Some(member_id) {
            self.leader = None;
        }
    }

    fn after_removal(&mut self, limits: &GroupLimits, now: Instant) {
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.prepare_rebalance(limits, now);
                self.try_complete_join(now);
            }
            GroupState::PreparingRebalance => self.try_complete_join(now),
            GroupState::Empty | GroupState::Dead => {}
        }
    }

    /// Time passes: expired sessions end, a join phase past its deadline or initial delay
    /// completes.
    pub fn tick(&mut self, limits: &GroupLimits, now: Instant) {
        let expired: Vec<String> = self
            .members
            .iter()
            .filter(|(_, m)| m.awaiting_join.is_none() && m.deadline <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in &expired {
            tracing::info!(group = %self.id, member = %id, "member's session expired; removing it");
            self.remove_member(id);
        }
        if !expired.is_empty() {
            self.after_removal(limits, now);
        }
        if self.state == GroupState::PreparingRebalance {
            if self
                .rebalance_deadline
                .is_some_and(|deadline| now >= deadline)
            {
                self.complete_join();
            } else {
                self.try_complete_join(now);
            }
        }
    }

    /// Marks the group deleted: every waiting member is told the coordinator moved.
    pub fn delete(&mut self) -> Result<(), GroupError> {
        if !self.members.is_empty() {
            return Err(GroupError::NonEmptyGroup);
        }
        self.state = GroupState::Dead;
        Ok(())
    }

    /// The protocol type members of a non-empty group use (`consumer` for consumers).
    pub fn member_protocol_type(&self) -> Option<&str> {
        self.members
            .values()
            .next()
            .map(|m| m.protocol_type.as_str())
    }
}

#[path = "restore.rs"]
mod restore;

#[path = "state_migration.rs"]
mod migration;
pub use migration::ClassicMember;

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
