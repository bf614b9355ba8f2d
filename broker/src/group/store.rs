//! Group metadata records through the coordinator's append path, and groups rebuilt from them
//! when a `__consumer_offsets` partition is loaded.
//!
//! ```text
//!  leader's SyncGroup ─► append the group's record (under the groups lock)
//!                     ─► durable + committed ─► Group::assignment_stored ─► SyncGroup answers
//!  group became Empty / static member replaced ─► append (under the lock) ─► durable, or a log line
//!  DeleteGroups / expiry of an empty group ─► tombstone with the offsets' tombstones
//!  load ─► last record per group ─► Group::restore (sessions start at the load)
//! ```
//!
//! Records are appended while the groups lock is held, as Kafka appends under the group's
//! lock, so the log holds each group's records in the order its state changed; the append only
//! writes to the page cache, and the wait for the fsync happens after the lock is released.
//! A failed write of the leader's assignment fails the generation's SyncGroups with
//! NOT_COORDINATOR (Kafka's mapping of a storage error) and the group rebalances.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use super::metadata_record::{GroupMetadata, group_batch};
use super::state::{Group, GroupState};
use super::{GroupCoordinator, GroupError, lock};
use crate::cluster::topics::CONSUMER_OFFSETS;
use crate::partition::{AppendOrigin, Appended};

impl GroupCoordinator {
    /// Appends `group_id`'s metadata record (`None`: a tombstone) to its `__consumer_offsets`
    /// partition. Called under the groups lock (see the module docs).
    pub(super) fn append_group_record(
        &self,
        group_id: &str,
        value: Option<&GroupMetadata>,
        now_ms: i64,
    ) -> Result<Appended, GroupError> {
        let index = self.offsets_partition(group_id);
        let partition = self
            .topics
            .partition(CONSUMER_OFFSETS, index)
            .ok_or(GroupError::CoordinatorNotAvailable)?;
        let batch = group_batch(group_id, value, now_ms);
        partition
            .append(Bytes::from(batch), AppendOrigin::Coordinator, now_ms)
            .map_err(|error| {
                tracing::error!(group = group_id, %error, "writing group metadata failed");
                GroupError::StorageError
            })
    }

    /// Writes the record `group` owes for a change no request waits on (it became Empty; a
    /// static member took its old place), if any. Under the groups lock; a failure is logged,
    /// as Kafka logs it: the group goes on in memory.
    pub(super) fn store_due(&self, group_id: &str, group: &mut Group, now_ms: i64) {
        let Some(record) = group.take_due_record(now_ms) else {
            return;
        };
        if let Ok(appended) = self.append_group_record(group_id, Some(&record), now_ms) {
            when_written(group_id, appended);
        }
    }

    /// The leader's SyncGroup asked to store `group_id`'s assignment of `generation`: append
    /// it now (under the lock), and report to the group once it is durable — from a task of
    /// its own, so the group is told even if the request's future is dropped.
    pub(super) fn store_assignment(
        self: &Arc<Self>,
        group_id: &str,
        group: &Group,
        generation: i32,
    ) {
        let now_ms = crate::api::now_ms();
        let appended = self.append_group_record(group_id, Some(&group.record(now_ms)), now_ms);
        let coordinator = Arc::clone(self);
        let group_id = group_id.to_owned();
        tokio::spawn(async move {
            let outcome = match appended {
                Ok(appended) => written(&group_id, appended).await,
                Err(error) => Err(error),
            };
            if let Some(group) = lock(&coordinator.groups).get_mut(&group_id) {
                group.assignment_stored(
                    generation,
                    outcome,
                    &coordinator.settings.limits,
                    Instant::now(),
                );
            }
        });
    }

    /// Kafka's cleanup after offset expiry: a group that is Empty with no committed offsets
    /// left is removed, and its record gets a tombstone if it ever completed a generation (a
    /// record can exist only then). Returns how many groups went.
    pub(super) async fn remove_empty_groups(&self, now_ms: i64) -> usize {
        let tombstones: Vec<(String, Result<Appended, GroupError>)> = {
            let mut groups = lock(&self.groups);
            let mut last_active = lock(&self.last_active);
            let offsets = lock(&self.offsets);
            let doomed: Vec<String> = groups
                .iter()
                .filter(|(id, group)| {
                    group.state() == GroupState::Empty
                        && offsets
                            .get(*id)
                            .is_none_or(|committed| committed.is_empty())
                })
                .map(|(id, _)| id.clone())
                .collect();
            doomed
                .into_iter()
                .filter_map(|id| {
                    let group = groups.remove(&id)?;
                    last_active.remove(&id);
                    (group.generation() > 0).then(|| {
                        let appended = self.append_group_record(&id, None, now_ms);
                        (id, appended)
                    })
                })
                .collect()
        };
        let count = tombstones.len();
        for (group_id, appended) in tombstones {
            let outcome = match appended {
                Ok(appended) => written(&group_id, appended).await,
                Err(error) => Err(error),
            };
            if let Err(error) = outcome {
                tracing::warn!(group = %group_id, %error, "tombstone of an expired group not stored");
            }
        }
        count
    }

    /// Rebuilds groups from the last record of each (`None`: a tombstone), as `load` read
    /// them from one `__consumer_offsets` partition.
    pub(super) fn restore_groups(&self, stored: HashMap<String, Option<GroupMetadata>>) {
        let now = Instant::now();
        let mut groups = lock(&self.groups);
        let mut last_active = lock(&self.last_active);
        for (id, value) in stored {
            match value {
                Some(value) => {
                    let since = value.current_state_timestamp;
                    let group = Group::restore(&id, value, now);
                    if group.state() == GroupState::Empty && since >= 0 {
                        // Offsets of an empty group expire counting from when it became empty.
                        last_active.entry(id.clone()).or_insert(since);
                    }
                    groups.insert(id, group);
                }
                None => {
                    groups.remove(&id);
                }
            }
        }
    }
}

/// Waits until an append is durable and committed.
/// Waits in the background for `appended` to become durable and logs if it does not: a
/// change no request waits on (the group goes on in memory, as Kafka's does).
pub(super) fn when_written(group_id: &str, appended: Appended) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let group_id = group_id.to_owned();
    runtime.spawn(async move {
        if let Err(error) = written(&group_id, appended).await {
            tracing::warn!(group = %group_id, %error, "group records not stored");
        }
    });
}

pub(super) async fn written(group_id: &str, appended: Appended) -> Result<(), GroupError> {
    appended.durable.await.map_err(|error| {
        tracing::error!(group = group_id, %error, "fsync of __consumer_offsets failed");
        GroupError::StorageError
    })?;
    appended
        .committed
        .await
        .map_err(|_| GroupError::CoordinatorNotAvailable)
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
