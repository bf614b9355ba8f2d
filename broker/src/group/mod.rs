//! The consumer group coordinator: classic group membership and rebalances (`state.rs`,
//! pure), KIP-848 consumer groups (`consumer/`, pure, wired in `consumer_groups.rs`),
//! committed offsets (`offsets.rs`) and group metadata (`metadata_record.rs`, `store.rs`,
//! `state/restore.rs`) kept in `__consumer_offsets`.
//!
//! ```text
//!  JoinGroup / SyncGroup ─► Group (state.rs) ── answer now, or when the join phase ends
//!  leader's SyncGroup ─► group record appended ─► durable ─► Stable ─► SyncGroups answered
//!  Heartbeat / LeaveGroup ─► Group                 (a 100 ms tick ends sessions and phases)
//!  OffsetCommit ─► append a batch to __consumer_offsets-N (Partition::append, Coordinator)
//!               ─► durable + committed ─► cache ─► answer
//!  OffsetFetch  ─► cache
//!  __consumer_offsets-N becomes led here ─► read it from the start: offsets into the cache,
//!                                           groups rebuilt from their last record
//! ```
//!
//! Offsets and groups survive restarts through the log: a stable group comes back stable at
//! its generation, and its members go on heartbeating without a rebalance.

mod admin;
mod commits;
pub mod consumer;
mod consumer_classic;
mod consumer_groups;
mod consumer_restore;
mod embedded;
mod metadata_record;
mod migration;
mod offsets;
mod replay;
mod state;
mod store;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::oneshot;

pub use admin::GroupDescription;
pub use commits::TxnProducer;
pub use consumer_groups::{ConsumerGroupDescription, ConsumerHeartbeatError};
pub use offsets::{CommittedOffset, StoredEntry, partition_for, read_batches};
pub use state::{GroupLimits, GroupState, Join, JoinAnswer, MemberDescription};

use crate::cluster::topics::CONSUMER_OFFSETS;
use crate::partition::{Isolation, PartitionEvent};
use crate::topics::Topics;
use state::Group;

/// Why a group request was refused; `api::errors` gives each its Kafka code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GroupError {
    #[error("the coordinator is not available")]
    CoordinatorNotAvailable,
    #[error("the coordinator is loading the group's offsets")]
    CoordinatorLoadInProgress,
    #[error("the group id is empty or longer than 32767 bytes")]
    InvalidGroupId,
    #[error(
        "the session timeout is outside group.min.session.timeout.ms..group.max.session.timeout.ms"
    )]
    InvalidSessionTimeout,
    #[error("the member's protocol type or protocols do not match the group's")]
    InconsistentGroupProtocol,
    #[error("the member id is not known to the group")]
    UnknownMemberId,
    #[error("a member must rejoin with the member id it was given")]
    MemberIdRequired,
    #[error("the generation is not the group's current one")]
    IllegalGeneration,
    #[error("the group is rebalancing")]
    RebalanceInProgress,
    #[error("another member with this group.instance.id has joined")]
    FencedInstanceId,
    #[error("the group has reached group.max.size members")]
    GroupMaxSizeReached,
    #[error("the group has members")]
    NonEmptyGroup,
    #[error("the group does not exist")]
    GroupIdNotFound,
    #[error("the offset metadata is larger than offset.metadata.max.bytes")]
    OffsetMetadataTooLarge,
    #[error("the topic or partition does not exist")]
    UnknownTopicOrPartition,
    #[error("a member of the group is subscribed to the topic")]
    GroupSubscribedToTopic,
    #[error("writing the offsets failed")]
    StorageError,
    #[error("an offset of the partition is part of a transaction that has not ended")]
    UnstableOffsetCommit,
    #[error("the member epoch is not the member's current one")]
    StaleMemberEpoch,
    #[error("the request is malformed")]
    InvalidRequest,
    #[error("members of a consumer-protocol group commit with OffsetCommit version 9 or later")]
    UnsupportedVersion,
    #[error("the coordinator failed to compute an assignment")]
    UnknownServerError,
}

/// What the broker's settings say of groups.
#[derive(Debug, Clone)]
pub struct GroupSettings {
    pub limits: GroupLimits,
    pub offset_metadata_max_bytes: usize,
    pub offsets_partitions: i32,
    /// `offsets.retention.minutes`: how long offsets outlive their group's last member.
    pub offsets_retention_ms: i64,
    pub offsets_retention_check_interval: Duration,
    /// KIP-848 groups: whether `group.coordinator.rebalance.protocols` has `consumer`.
    pub consumer_protocol: bool,
    /// `group.consumer.session.timeout.ms`, `.heartbeat.interval.ms`, `.max.size`.
    pub consumer: consumer::group::ConsumerGroupConfig,
    /// `group.consumer.assignors`, the default first.
    pub consumer_assignors: Vec<String>,
    /// `group.consumer.migration.policy`.
    pub migration: MigrationPolicy,
}

/// Which way a group with members may move between the protocols
/// (`group.consumer.migration.policy`; an empty group always may).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MigrationPolicy {
    /// A classic group becomes a consumer group when a member joins with the new protocol.
    pub upgrade: bool,
    /// A consumer group becomes a classic group when only classic members are left.
    pub downgrade: bool,
}

impl MigrationPolicy {
    /// From the setting's value: `bidirectional`, `upgrade`, `downgrade` or `disabled`.
    pub fn from_setting(value: &str) -> Self {
        let value = value.to_ascii_lowercase();
        MigrationPolicy {
            upgrade: matches!(value.as_str(), "bidirectional" | "upgrade"),
            downgrade: matches!(value.as_str(), "bidirectional" | "downgrade"),
        }
    }
}

impl From<&crate::config::BrokerSettings> for GroupSettings {
    fn from(settings: &crate::config::BrokerSettings) -> Self {
        GroupSettings {
            limits: GroupLimits {
                min_session_timeout: Duration::from_millis(settings.group_min_session_timeout_ms),
                max_session_timeout: Duration::from_millis(settings.group_max_session_timeout_ms),
                initial_rebalance_delay: Duration::from_millis(
                    settings.group_initial_rebalance_delay_ms,
                ),
                max_size: settings.group_max_size as usize,
            },
            offset_metadata_max_bytes: settings.offset_metadata_max_bytes as usize,
            offsets_partitions: settings.offsets_topic_num_partitions,
            offsets_retention_ms: i64::try_from(settings.offsets_retention_minutes)
                .unwrap_or(i64::MAX / 60_000)
                .saturating_mul(60_000),
            offsets_retention_check_interval: Duration::from_millis(
                settings.offsets_retention_check_interval_ms,
            ),
            consumer_protocol: settings
                .group_coordinator_rebalance_protocols
                .iter()
                .any(|p| p == "consumer"),
            consumer: consumer::group::ConsumerGroupConfig {
                session_timeout: Duration::from_millis(settings.group_consumer_session_timeout_ms),
                heartbeat_interval: Duration::from_millis(
                    settings.group_consumer_heartbeat_interval_ms,
                ),
                max_size: settings.group_consumer_max_size as usize,
            },
            consumer_assignors: settings.group_consumer_assignors.clone(),
            migration: MigrationPolicy::from_setting(&settings.group_consumer_migration_policy),
        }
    }
}

/// Per topic, per partition: the committed offset, if any.
/// One partition's committed offset (`None`: none), or why it cannot be given.
pub type OffsetAnswer = Result<Option<CommittedOffset>, GroupError>;

pub type FetchedOffsets = Vec<(String, Vec<(i32, OffsetAnswer)>)>;

/// Records to append for one group: `(topic, partition, offset)`, `None` deleting it.
type OffsetWrites = Vec<(String, i32, Option<CommittedOffset>)>;

/// Per topic, per partition: done, or why not.
pub type PartitionVerdicts = Vec<(String, Vec<(i32, Result<(), GroupError>)>)>;

/// One partition's commit request: `(topic, partition, offset)`.
pub type OffsetCommit = (String, i32, CommittedOffset);

type OffsetMap = BTreeMap<(String, i32), CommittedOffset>;

/// The coordinator of every group whose `__consumer_offsets` partition this broker leads.
pub struct GroupCoordinator {
    topics: Arc<Topics>,
    settings: GroupSettings,
    groups: Mutex<HashMap<String, Group>>,
    /// KIP-848 groups (`consumer_groups.rs`). Locked after `groups` when both are held.
    consumer_groups: Mutex<HashMap<String, consumer::group::ConsumerGroup>>,
    offsets: Mutex<HashMap<String, OffsetMap>>,
    /// `__consumer_offsets` partitions read into the cache.
    loaded: Mutex<HashSet<i32>>,
    /// When each group last had members (ms since the epoch), for offset expiry.
    last_active: Mutex<HashMap<String, i64>>,
    /// Offsets committed in transactions not yet ended, by producer id (see `replay`).
    pending: Mutex<HashMap<i64, Vec<replay::PendingOffset>>>,
}

pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Largest decompressed batch the loader accepts (the log's own cap is per topic).
const LOAD_BATCH_LIMIT: usize = 64 << 20;
/// How often sessions and join phases are checked.
const TICK: Duration = Duration::from_millis(100);

impl GroupCoordinator {
    pub fn new(topics: Arc<Topics>, settings: GroupSettings) -> Arc<Self> {
        Arc::new(GroupCoordinator {
            topics,
            settings,
            groups: Mutex::new(HashMap::new()),
            consumer_groups: Mutex::new(HashMap::new()),
            offsets: Mutex::new(HashMap::new()),
            loaded: Mutex::new(HashSet::new()),
            last_active: Mutex::new(HashMap::new()),
            pending: Mutex::new(HashMap::new()),
        })
    }

    /// Starts the tick and the load/unload on leadership events; ends with `shutdown`.
    pub fn start(self: &Arc<Self>, shutdown: tokio_util::sync::CancellationToken) {
        let mut events = self.topics.events().subscribe();
        // One loader thread reads partitions one after another: creating `__consumer_offsets`
        // makes this broker leader of all its partitions at once, and a blocking task each
        // would grow the blocking pool (and the allocator's per-thread arenas) by as many.
        let (load, mut to_load) = tokio::sync::mpsc::unbounded_channel::<i32>();
        let coordinator = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            while let Some(partition) = to_load.blocking_recv() {
                coordinator.load(partition);
            }
        });
        let offsets_partitions = |coordinator: &GroupCoordinator| -> Vec<i32> {
            coordinator
                .topics
                .all_partitions()
                .iter()
                .filter(|partition| partition.topic == CONSUMER_OFFSETS)
                .map(|partition| partition.index)
                .collect()
        };
        // Partitions led before the subscription: load them now.
        for partition in offsets_partitions(self) {
            let _ = load.send(partition);
        }
        let coordinator = Arc::clone(self);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(TICK);
            let mut expiry =
                tokio::time::interval(coordinator.settings.offsets_retention_check_interval);
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    _ = ticks.tick() => coordinator.tick(Instant::now()),
                    _ = expiry.tick() => {
                        let coordinator = Arc::clone(&coordinator);
                        tokio::spawn(async move {
                            let expired = coordinator.expire_offsets(crate::api::now_ms()).await;
                            if expired > 0 {
                                tracing::info!(expired, "removed expired committed offsets");
                            }
                        });
                    }
                    event = events.recv() => match event {
                        Ok(PartitionEvent::BecameLeader { topic, partition, .. })
                            if topic == CONSUMER_OFFSETS => {
                            let _ = load.send(partition);
                        }
                        Ok(PartitionEvent::StoppedLeading { topic, partition })
                            if topic == CONSUMER_OFFSETS => coordinator.unload(partition),
                        Ok(_) => {}
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                            tracing::warn!(missed, "group coordinator missed partition events; reloading");
                            for partition in offsets_partitions(&coordinator) {
                                let _ = load.send(partition);
                            }
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                    },
                }
            }
        });
    }

    pub fn settings(&self) -> &GroupSettings {
        &self.settings
    }

    /// Creates `__consumer_offsets` if it does not exist yet (on the first group request).
    pub fn ensure_offsets_topic(&self) -> Result<(), GroupError> {
        if self.topics.snapshot().topics.contains_key(CONSUMER_OFFSETS) {
            return Ok(());
        }
        self.topics
            .metadata()
            .consumer_offsets_topic(self.topics.settings())
            .map(|_| ())
            .map_err(|error| {
                tracing::error!(%error, "creating {CONSUMER_OFFSETS} failed");
                GroupError::CoordinatorNotAvailable
            })
    }

    fn offsets_partition(&self, group: &str) -> i32 {
        let partitions = self
            .topics
            .snapshot()
            .topics
            .get(CONSUMER_OFFSETS)
            .map_or(self.settings.offsets_partitions, |record| record.partitions);
        partition_for(group, partitions)
    }

    /// Whether this broker coordinates `group` now: its offsets partition is here and loaded.
    pub fn check_coordinator(&self, group: &str) -> Result<(), GroupError> {
        // The offsets record stores the group id as a string with an int16 length: a longer
        // id (which flexible request versions can carry) could not be written back.
        if group.is_empty() || group.len() > i16::MAX as usize {
            return Err(GroupError::InvalidGroupId);
        }
        self.ensure_offsets_topic()?;
        let partition = self.offsets_partition(group);
        if self.topics.partition(CONSUMER_OFFSETS, partition).is_none() {
            return Err(GroupError::CoordinatorNotAvailable);
        }
        if !lock(&self.loaded).contains(&partition) {
            return Err(GroupError::CoordinatorLoadInProgress);
        }
        Ok(())
    }

    /// Reads `__consumer_offsets-partition` from its start into the cache.
    fn load(&self, index: i32) {
        let Some(partition) = self.topics.partition(CONSUMER_OFFSETS, index) else {
            return;
        };
        let started = Instant::now();
        let mut replay = replay::Replay::default();
        let mut offset = partition.offsets().log_start;
        loop {
            let read = match partition.read(offset, 1 << 20, Isolation::ReadUncommitted) {
                Ok(read) => read,
                Err(error) => {
                    tracing::error!(partition = index, %error, "loading {CONSUMER_OFFSETS} failed");
                    return;
                }
            };
            if read.records.is_empty() {
                break;
            }
            let stored = offsets::read_batches(&read.records, LOAD_BATCH_LIMIT);
            for error in &stored.skipped {
                tracing::warn!(partition = index, %error, "skipping a batch of {CONSUMER_OFFSETS}");
            }
            for entry in stored.entries {
                if let Err(error) = replay.apply(entry) {
                    tracing::warn!(partition = index, %error, "skipping a record of {CONSUMER_OFFSETS}");
                }
            }
            let next = stored.next_offset.unwrap_or(offset);
            if next <= offset {
                break;
            }
            offset = next;
        }
        let replay::Replay {
            offsets: loaded,
            groups: stored_groups,
            pending,
            records,
            consumer_groups,
        } = replay;
        let groups = loaded.len();
        let restored = stored_groups
            .values()
            .filter(|value| value.is_some())
            .count();
        {
            let mut offsets = lock(&self.offsets);
            for (group, map) in loaded {
                offsets.insert(group, map);
            }
        }
        lock(&self.pending).extend(pending);
        self.restore_groups(stored_groups);
        let consumer_groups = self.restore_consumer_groups(consumer_groups);
        lock(&self.loaded).insert(index);
        tracing::info!(
            partition = index,
            groups,
            restored,
            consumer_groups,
            records,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "loaded {CONSUMER_OFFSETS} partition"
        );
    }

    /// Drops the groups of a partition this broker no longer leads.
    fn unload(&self, index: i32) {
        lock(&self.loaded).remove(&index);
        let partitions = self.settings.offsets_partitions;
        lock(&self.offsets).retain(|group, _| partition_for(group, partitions) != index);
        lock(&self.groups).retain(|group, _| partition_for(group, partitions) != index);
        lock(&self.consumer_groups).retain(|group, _| partition_for(group, partitions) != index);
        let mut pending = lock(&self.pending);
        for offsets in pending.values_mut() {
            offsets.retain(|o| partition_for(&o.group, partitions) != index);
        }
        pending.retain(|_, offsets| !offsets.is_empty());
    }

    fn tick(&self, now: Instant) {
        let now_ms = crate::api::now_ms();
        let mut groups = lock(&self.groups);
        let mut last_active = lock(&self.last_active);
        for (id, group) in groups.iter_mut() {
            group.tick(&self.settings.limits, now);
            self.store_due(id, group, now_ms);
            if !group.is_empty() {
                last_active.insert(id.clone(), now_ms);
            }
        }
        groups.retain(|_, group| group.state() != GroupState::Dead);
        drop(groups);
        drop(last_active);
        self.tick_consumer_groups(now, now_ms);
    }

    /// Removes committed offsets past `offsets.retention.minutes`, as Kafka does: a group
    /// without members loses all its offsets once it has had none for the retention time; a
    /// group that never had members here (commits from outside group management, or a group
    /// not seen since a restart) loses each offset that long after its commit. Returns how
    /// many offsets went. Then an empty group with no offsets left goes too (`store.rs`).
    pub async fn expire_offsets(&self, now_ms: i64) -> usize {
        let retention = self.settings.offsets_retention_ms;
        let doomed: Vec<(String, OffsetWrites)> = {
            let groups = lock(&self.groups);
            let consumer_groups = lock(&self.consumer_groups);
            let last_active = lock(&self.last_active);
            let offsets = lock(&self.offsets);
            offsets
                .iter()
                .filter(|(id, _)| groups.get(*id).is_none_or(|group| group.is_empty()))
                .filter(|(id, _)| {
                    consumer_groups
                        .get(*id)
                        .is_none_or(|group| group.is_empty())
                })
                .filter_map(|(id, committed)| {
                    let expired: Vec<_> = committed
                        .iter()
                        .filter(|(_, offset)| {
                            let since = last_active
                                .get(id)
                                .map_or(offset.commit_timestamp, |active| {
                                    (*active).max(offset.commit_timestamp)
                                });
                            since.saturating_add(retention) <= now_ms
                        })
                        .map(|((topic, partition), _)| (topic.clone(), *partition, None))
                        .collect();
                    (!expired.is_empty()).then(|| (id.clone(), expired))
                })
                .collect()
        };
        let mut count = 0;
        for (group, expired) in doomed {
            if let Err(error) = self.write(&group, &expired, None, now_ms).await {
                tracing::warn!(%group, %error, "removing expired offsets failed; retried at the next check");
                continue;
            }
            count += expired.len();
            let mut offsets = lock(&self.offsets);
            if let Some(committed) = offsets.get_mut(&group) {
                for (topic, partition, _) in expired {
                    committed.remove(&(topic, partition));
                }
                if committed.is_empty() {
                    offsets.remove(&group);
                }
            }
        }
        let removed = self.remove_empty_groups(now_ms).await
            + self.remove_empty_consumer_groups(now_ms).await;
        if removed > 0 {
            tracing::info!(removed, "removed empty groups without offsets");
        }
        count
    }

    pub async fn join(&self, group_id: &str, join: Join) -> JoinAnswer {
        let member_id = join.member_id.clone();
        let refused = |error| JoinAnswer::error(error, member_id.clone());
        if let Err(error) = self.check_coordinator(group_id) {
            return refused(error);
        }
        let (respond, answer) = oneshot::channel();
        let consumer_join = {
            let mut groups = lock(&self.groups);
            let mut consumer_groups = lock(&self.consumer_groups);
            let now_ms = crate::api::now_ms();
            let kind = consumer_groups.get(group_id).map(|group| group.is_empty());
            if kind == Some(false) {
                Some(self.classic_join_consumer(group_id, join, &mut consumer_groups, now_ms))
            } else {
                // An empty consumer group gives its id to the classic group, as Kafka's.
                if let Some(group) = consumer_groups.remove(group_id) {
                    let tombstones: Vec<migration::Entry> = migration::consumer_tombstones(&group)
                        .iter()
                        .map(consumer::records::ConsumerGroupRecord::encode)
                        .collect();
                    self.spawn_written(group_id, &tombstones, now_ms);
                }
                drop(consumer_groups);
                let group = groups
                    .entry(group_id.to_owned())
                    .or_insert_with(|| Group::new(group_id));
                group.join(join, respond, &self.settings.limits, Instant::now());
                self.store_due(group_id, group, now_ms);
                None
            }
        };
        match consumer_join {
            Some(consumer_classic::ConsumerJoin::Answered(answer)) => answer,
            Some(consumer_classic::ConsumerJoin::Written(appended, answer)) => {
                match store::written(group_id, appended).await {
                    Ok(()) => answer,
                    Err(error) => refused(error),
                }
            }
            None => answer
                .await
                .unwrap_or_else(|_| refused(GroupError::CoordinatorNotAvailable)),
        }
    }

    /// SyncGroup; the leader's assignment is answered once its record is durable. In a
    /// consumer group, a classic member gets its assigned partitions.
    pub async fn sync(
        self: &Arc<Self>,
        group_id: &str,
        member: (&str, Option<&str>),
        generation: i32,
        protocol: (Option<&str>, Option<&str>),
        assignments: Vec<(String, Bytes)>,
    ) -> Result<Bytes, GroupError> {
        let (member_id, instance_id) = member;
        self.check_coordinator(group_id)?;
        if let Some(answer) =
            self.classic_sync_consumer(group_id, member_id, instance_id, generation, protocol)
        {
            return answer;
        }
        let (respond, answer) = oneshot::channel();
        {
            let mut groups = lock(&self.groups);
            let Some(group) = groups.get_mut(group_id) else {
                return Err(GroupError::UnknownMemberId);
            };
            if group.sync(member_id, generation, assignments, respond, Instant::now()) {
                self.store_assignment(group_id, group, generation);
            }
        }
        answer
            .await
            .unwrap_or(Err(GroupError::CoordinatorNotAvailable))
    }

    pub fn heartbeat(
        &self,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
    ) -> Result<(), GroupError> {
        self.check_coordinator(group_id)?;
        if let Some(answer) =
            self.classic_heartbeat_consumer(group_id, member_id, instance_id, generation)
        {
            return answer;
        }
        match lock(&self.groups).get_mut(group_id) {
            None => Err(GroupError::UnknownMemberId),
            Some(group) => group.heartbeat(member_id, instance_id, generation, Instant::now()),
        }
    }

    pub fn leave(
        &self,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> Result<(), GroupError> {
        self.check_coordinator(group_id)?;
        let mut groups = lock(&self.groups);
        if let Some(answer) =
            self.classic_leave_consumer(group_id, member_id, instance_id, &mut groups)
        {
            return answer;
        }
        let group = groups
            .get_mut(group_id)
            .ok_or(GroupError::UnknownMemberId)?;
        let outcome = group.leave(
            member_id,
            instance_id,
            &self.settings.limits,
            Instant::now(),
        );
        self.store_due(group_id, group, crate::api::now_ms());
        outcome
    }

    /// OffsetFetch: the committed offsets of `group_id` for `wanted` (`None`: all). With
    /// `require_stable`, a partition with an offset in an open transaction is
    /// UNSTABLE_OFFSET_COMMIT; without it, the offset committed before is returned.
    pub fn fetch(
        &self,
        group_id: &str,
        wanted: Option<Vec<(String, Vec<i32>)>>,
        require_stable: bool,
    ) -> Result<FetchedOffsets, GroupError> {
        self.check_coordinator(group_id)?;
        let unstable: HashSet<(String, i32)> = if require_stable {
            lock(&self.pending)
                .values()
                .flatten()
                .filter(|o| o.group == group_id)
                .map(|o| (o.topic.clone(), o.partition))
                .collect()
        } else {
            HashSet::new()
        };
        let answer = |topic: &str, partition: i32, offset: Option<&CommittedOffset>| {
            if unstable.contains(&(topic.to_owned(), partition)) {
                Err(GroupError::UnstableOffsetCommit)
            } else {
                Ok(offset.cloned())
            }
        };
        let offsets = lock(&self.offsets);
        let group = offsets.get(group_id);
        Ok(match wanted {
            Some(topics) => topics
                .into_iter()
                .map(|(topic, partitions)| {
                    let found = partitions
                        .into_iter()
                        .map(|p| {
                            let offset = group.and_then(|g| g.get(&(topic.clone(), p)));
                            (p, answer(&topic, p, offset))
                        })
                        .collect();
                    (topic, found)
                })
                .collect(),
            None => {
                let mut by_topic: BTreeMap<String, Vec<(i32, OffsetAnswer)>> = BTreeMap::new();
                for ((topic, partition), offset) in group.into_iter().flatten() {
                    by_topic
                        .entry(topic.clone())
                        .or_default()
                        .push((*partition, answer(topic, *partition, Some(offset))));
                }
                by_topic.into_iter().collect()
            }
        })
    }
}

#[cfg(test)]
mod tests;
