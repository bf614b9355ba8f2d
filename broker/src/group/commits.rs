//! Committing offsets: OffsetCommit, and TxnOffsetCommit — offsets committed inside a
//! producer's transaction, which count only once its COMMIT marker is in `__consumer_offsets`.
//!
//! ```text
//!  OffsetCommit    ─► member check ─► commit batch appended ─► durable + committed ─► cache
//!  TxnOffsetCommit ─► member check ─► transactional batch (producer id, epoch) appended
//!                  ─► durable + committed ─► pending[producer id]
//!  marker written to __consumer_offsets-N ─► complete_transaction: COMMIT moves the pending
//!                  offsets into the cache, ABORT drops them
//! ```
//!
//! While a transaction's offsets are pending, OffsetFetch with `require_stable` answers
//! UNSTABLE_OFFSET_COMMIT for their partitions and without it the offset committed before
//! (`GroupCoordinator::fetch`). A load replays the same rules from the log (`replay.rs`).

use bytes::Bytes;

use super::replay::PendingOffset;
use super::{
    CommittedOffset, GroupCoordinator, GroupError, GroupState, OffsetCommit, consumer_groups, lock,
    offsets, partition_for, store,
};
use crate::cluster::topics::CONSUMER_OFFSETS;
use crate::log::builder::BatchBuilder;
use crate::partition::AppendOrigin;

/// Which request commits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CommitKind {
    /// OffsetCommit at this version.
    Plain { version: i16 },
    /// TxnOffsetCommit.
    Transactional,
}

/// The producer committing offsets in its transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnProducer {
    pub producer_id: i64,
    pub producer_epoch: i16,
}

/// One record to append for a group: `(topic, partition, offset)`, `None` deleting it.
type Accepted = (String, i32, Option<CommittedOffset>);

/// Records to append for one group.
type Commits = [Accepted];

impl GroupCoordinator {
    /// Checks that `member_id` at `generation` may commit for `group_id`, as Kafka's
    /// `validateOffsetCommit`: -1 and an empty member id is a commit from outside group
    /// management, allowed while the group is empty — and, in a transaction, at any time
    /// (a transactional producer need not be a member); a member must be known and at the
    /// group's generation (its epoch in a consumer group); a plain commit while the group
    /// completes a rebalance is REBALANCE_IN_PROGRESS.
    fn check_commit(
        &self,
        group_id: &str,
        member_id: &str,
        generation: i32,
        kind: CommitKind,
    ) -> Result<(), GroupError> {
        self.check_coordinator(group_id)?;
        let groups = lock(&self.groups);
        if let Some(group) = lock(&self.consumer_groups).get(group_id) {
            return match kind {
                CommitKind::Plain { version } => {
                    consumer_groups::check_commit(group, member_id, generation, version)
                }
                // No version rule for a transaction; a stale epoch is ILLEGAL_GENERATION.
                CommitKind::Transactional => {
                    consumer_groups::check_commit(group, member_id, generation, i16::MAX).map_err(
                        |error| match error {
                            GroupError::StaleMemberEpoch => GroupError::IllegalGeneration,
                            other => other,
                        },
                    )
                }
            };
        }
        let Some(group) = groups.get(group_id) else {
            return if generation < 0 {
                Ok(())
            } else {
                Err(GroupError::IllegalGeneration)
            };
        };
        if generation < 0 && member_id.is_empty() {
            return if group.is_empty() || kind == CommitKind::Transactional {
                Ok(())
            } else {
                Err(GroupError::UnknownMemberId)
            };
        }
        if !group.has_member(member_id) {
            return Err(GroupError::UnknownMemberId);
        }
        if generation != group.generation() {
            return Err(GroupError::IllegalGeneration);
        }
        if kind != CommitKind::Transactional && group.state() == GroupState::CompletingRebalance {
            return Err(GroupError::RebalanceInProgress);
        }
        Ok(())
    }

    /// An OffsetCommit of the newest version (see [`Self::commit_with_version`]).
    pub async fn commit(
        &self,
        group_id: &str,
        member_id: &str,
        generation: i32,
        commits: Vec<OffsetCommit>,
        now_ms: i64,
    ) -> Vec<Result<(), GroupError>> {
        self.commit_with_version(group_id, member_id, generation, i16::MAX, commits, now_ms)
            .await
    }

    /// OffsetCommit: appends the commits to the group's `__consumer_offsets` partition and,
    /// once durable and committed, makes them visible. Per partition: `Ok` or why not.
    /// `version` is the request's: a consumer-protocol member must commit with v9+.
    pub async fn commit_with_version(
        &self,
        group_id: &str,
        member_id: &str,
        generation: i32,
        version: i16,
        commits: Vec<OffsetCommit>,
        now_ms: i64,
    ) -> Vec<Result<(), GroupError>> {
        let kind = CommitKind::Plain { version };
        if let Err(error) = self.check_commit(group_id, member_id, generation, kind) {
            return vec![Err(error); commits.len()];
        }
        let (verdicts, accepted) = self.check_partitions(&commits);
        if accepted.is_empty() {
            return verdicts;
        }
        if let Err(error) = self.write(group_id, &accepted, None, now_ms).await {
            return failed(verdicts, error);
        }
        let mut offsets = lock(&self.offsets);
        let group = offsets.entry(group_id.to_owned()).or_default();
        for (topic, partition, offset) in accepted {
            if let Some(offset) = offset {
                group.insert((topic, partition), offset);
            }
        }
        verdicts
    }

    /// TxnOffsetCommit: the commits are appended in a transactional batch of `producer` and
    /// held pending until its transaction ends ([`Self::complete_transaction`]). The member
    /// fields are checked as Kafka checks them (`member_id` empty and `generation` -1: not
    /// checked). Per partition: `Ok` or why not.
    pub async fn txn_commit(
        &self,
        group_id: &str,
        (member_id, generation): (&str, i32),
        producer: TxnProducer,
        commits: Vec<OffsetCommit>,
        now_ms: i64,
    ) -> Vec<Result<(), GroupError>> {
        let kind = CommitKind::Transactional;
        if let Err(error) = self.check_commit(group_id, member_id, generation, kind) {
            return vec![Err(error); commits.len()];
        }
        let (verdicts, accepted) = self.check_partitions(&commits);
        if accepted.is_empty() {
            return verdicts;
        }
        if let Err(error) = self
            .write(group_id, &accepted, Some(producer), now_ms)
            .await
        {
            return failed(verdicts, error);
        }
        let mut pending = lock(&self.pending);
        let open = pending.entry(producer.producer_id).or_default();
        for (topic, partition, offset) in accepted {
            open.push(PendingOffset {
                group: group_id.to_owned(),
                topic,
                partition,
                offset,
            });
        }
        verdicts
    }

    /// A transaction marker of `producer_id` was written to `__consumer_offsets-partition`:
    /// its pending offsets of the groups there count (`commit`) or are dropped. Returns how
    /// many offsets it settled.
    pub fn complete_transaction(&self, partition: i32, producer_id: i64, commit: bool) -> usize {
        let partitions = self.settings.offsets_partitions;
        let settled: Vec<PendingOffset> = {
            let mut pending = lock(&self.pending);
            let Some(open) = pending.get_mut(&producer_id) else {
                return 0;
            };
            let (here, elsewhere): (Vec<_>, Vec<_>) = std::mem::take(open)
                .into_iter()
                .partition(|o| partition_for(&o.group, partitions) == partition);
            if elsewhere.is_empty() {
                pending.remove(&producer_id);
            } else {
                *open = elsewhere;
            }
            here
        };
        let count = settled.len();
        if commit {
            let mut offsets = lock(&self.offsets);
            for settled in settled {
                let group = offsets.entry(settled.group).or_default();
                let key = (settled.topic, settled.partition);
                match settled.offset {
                    Some(offset) => {
                        group.insert(key, offset);
                    }
                    None => {
                        group.remove(&key);
                    }
                }
            }
        }
        count
    }

    /// Each commit's verdict on its own (metadata size, the partition exists), and the ones
    /// accepted.
    fn check_partitions(
        &self,
        commits: &[OffsetCommit],
    ) -> (Vec<Result<(), GroupError>>, Vec<Accepted>) {
        let snapshot = self.topics.snapshot();
        let verdicts: Vec<Result<(), GroupError>> = commits
            .iter()
            .map(|(topic, partition, offset)| {
                if offset.metadata.len() > self.settings.offset_metadata_max_bytes {
                    Err(GroupError::OffsetMetadataTooLarge)
                } else if snapshot
                    .topics
                    .get(topic)
                    .is_none_or(|record| *partition < 0 || *partition >= record.partitions)
                {
                    Err(GroupError::UnknownTopicOrPartition)
                } else {
                    Ok(())
                }
            })
            .collect();
        let accepted = commits
            .iter()
            .zip(&verdicts)
            .filter(|(_, verdict)| verdict.is_ok())
            .map(|((topic, partition, offset), _)| {
                (topic.clone(), *partition, Some(offset.clone()))
            })
            .collect();
        (verdicts, accepted)
    }

    /// Appends commit records for `group_id` (in `producer`'s transaction, if given) and
    /// waits until they are durable and committed.
    pub(super) async fn write(
        &self,
        group_id: &str,
        commits: &Commits,
        producer: Option<TxnProducer>,
        now_ms: i64,
    ) -> Result<(), GroupError> {
        let index = self.offsets_partition(group_id);
        let partition = self
            .topics
            .partition(CONSUMER_OFFSETS, index)
            .ok_or(GroupError::CoordinatorNotAvailable)?;
        let mut builder = BatchBuilder::new(now_ms);
        if let Some(producer) = producer {
            // No sequence: the coordinator's records are not checked as a producer's are.
            builder = builder
                .producer(producer.producer_id, producer.producer_epoch, -1)
                .transactional();
        }
        let batch = offsets::commit_records(builder, group_id, commits, now_ms).build();
        let appended = tokio::task::spawn_blocking(move || {
            partition.append(Bytes::from(batch), AppendOrigin::Coordinator, now_ms)
        })
        .await
        .map_err(|_| GroupError::StorageError)?
        .map_err(|error| {
            tracing::error!(group = group_id, %error, "writing committed offsets failed");
            GroupError::StorageError
        })?;
        store::written(group_id, appended).await
    }
}

/// Every verdict that was `Ok` becomes `error`.
fn failed(verdicts: Vec<Result<(), GroupError>>, error: GroupError) -> Vec<Result<(), GroupError>> {
    verdicts
        .into_iter()
        .map(|verdict| verdict.and(Err(error)))
        .collect()
}

#[cfg(test)]
#[path = "commits_tests.rs"]
mod tests;
