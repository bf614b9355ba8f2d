//! The Raft library's state machine over [`StateStore`]: applies committed entries, publishes
//! the state, tells the listeners, and keeps snapshots.
//!
//! Entries are applied one at a time on the blocking pool (listeners open and remove
//! partition directories): the state after each command is published before the listeners
//! hear of its change, in log order, and the applied-index watch moves after them. An
//! installed snapshot (a follower far behind its leader) replaces the state at once; the
//! listeners hear [`MetadataListener::on_snapshot`].

use std::io::Cursor;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use openraft::storage::{RaftStateMachine, Snapshot as RaftSnapshot};
use openraft::{
    AnyError, OptionalSend, RaftSnapshotBuilder, SnapshotMeta as RaftSnapshotMeta, StorageError,
    StorageIOError,
};
use tokio::sync::watch;

use super::types::{
    RaftEntry, Response, StoredMembership, TypeConfig, from_raft_entry, from_raft_log_id,
    from_raft_membership, to_raft_log_id, to_raft_membership,
};
use crate::cluster::ClusterState;
use crate::cluster::metadata::MetadataListener;
use crate::cluster::state_machine::{Snapshot, SnapshotMeta, StateMachine as _, StateStore};

/// What the state machine and the metadata's readers share.
pub struct Applied {
    machine: Mutex<StateStore>,
    published: RwLock<Arc<ClusterState>>,
    index: watch::Sender<u64>,
    listeners: Vec<Arc<dyn MetadataListener>>,
}

impl Applied {
    pub fn new(machine: StateStore, listeners: Vec<Arc<dyn MetadataListener>>) -> Self {
        let state = machine.state();
        let index = machine.applied_state().0.map_or(0, |id| id.index);
        Self {
            machine: Mutex::new(machine),
            published: RwLock::new(state),
            index: watch::Sender::new(index),
            listeners,
        }
    }

    fn machine(&self) -> MutexGuard<'_, StateStore> {
        self.machine
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The applied state.
    pub fn state(&self) -> Arc<ClusterState> {
        self.published
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// The index of the last applied entry.
    pub fn index(&self) -> u64 {
        *self.index.borrow()
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.index.subscribe()
    }

    fn publish(&self, state: Arc<ClusterState>) {
        *self
            .published
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = state;
    }

    fn apply(&self, entries: Vec<RaftEntry>) -> Vec<Response> {
        let mut machine = self.machine();
        let mut responses = Vec::with_capacity(entries.len());
        for entry in entries {
            let entry = from_raft_entry(&entry);
            let response = machine.apply(std::slice::from_ref(&entry)).pop().flatten();
            if let Some(Ok(change)) = &response {
                let state = machine.state();
                self.publish(state.clone());
                for listener in &self.listeners {
                    listener.on_change(entry.log_id.index, &state, change);
                }
            }
            self.index.send_replace(entry.log_id.index);
            responses.push(response);
        }
        responses
    }

    fn snapshot(&self) -> Result<RaftSnapshot<TypeConfig>, StorageError<u64>> {
        let mut machine = self.machine();
        let meta = machine
            .build_snapshot()
            .map_err(|error| StorageIOError::write_snapshot(None, AnyError::new(&error)))?;
        let snapshot = Snapshot {
            meta,
            state: ClusterState::clone(&machine.state()),
        };
        Ok(to_raft_snapshot(&snapshot))
    }
}

fn raft_meta(meta: &SnapshotMeta) -> RaftSnapshotMeta<u64, openraft::BasicNode> {
    let last_log_id = meta.last_log_id.map(to_raft_log_id);
    RaftSnapshotMeta {
        last_log_id,
        last_membership: match &meta.last_membership {
            Some(membership) => StoredMembership::new(
                meta.membership_log_id
                    .or(meta.last_log_id)
                    .map(to_raft_log_id),
                to_raft_membership(membership),
            ),
            None => StoredMembership::default(),
        },
        snapshot_id: meta.last_log_id.map_or_else(
            || "0-0".to_owned(),
            |id| format!("{}-{}", id.term, id.index),
        ),
    }
}

fn to_raft_snapshot(snapshot: &Snapshot) -> RaftSnapshot<TypeConfig> {
    let bytes = serde_json::to_vec(snapshot).expect("metadata snapshots always serialise");
    RaftSnapshot {
        meta: raft_meta(&snapshot.meta),
        snapshot: Box::new(Cursor::new(bytes)),
    }
}

/// [`RaftStateMachine`] (and its snapshot builder) over the shared [`Applied`].
#[derive(Clone)]
pub struct MachineStore {
    applied: Arc<Applied>,
}

impl MachineStore {
    pub fn new(applied: Arc<Applied>) -> Self {
        Self { applied }
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StorageError<u64>> + Send + 'static,
) -> Result<T, StorageError<u64>> {
    tokio::task::spawn_blocking(work).await.map_err(|error| {
        StorageError::from(StorageIOError::write_state_machine(AnyError::new(&error)))
    })?
}

impl RaftSnapshotBuilder<TypeConfig> for MachineStore {
    async fn build_snapshot(&mut self) -> Result<RaftSnapshot<TypeConfig>, StorageError<u64>> {
        let applied = self.applied.clone();
        blocking(move || applied.snapshot()).await
    }
}

impl RaftStateMachine<TypeConfig> for MachineStore {
    type SnapshotBuilder = MachineStore;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<openraft::LogId<u64>>, StoredMembership), StorageError<u64>> {
        let (last, membership) = self.applied.machine().applied_state();
        let membership = match membership {
            Some((log_id, membership)) => StoredMembership::new(
                log_id.or(last).map(to_raft_log_id),
                to_raft_membership(&membership),
            ),
            None => StoredMembership::default(),
        };
        Ok((last.map(to_raft_log_id), membership))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Response>, StorageError<u64>>
    where
        I: IntoIterator<Item = RaftEntry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<RaftEntry> = entries.into_iter().collect();
        let applied = self.applied.clone();
        blocking(move || Ok(applied.apply(entries))).await
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(
        &mut self,
    ) -> Result<Box<Cursor<Vec<u8>>>, StorageError<u64>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &RaftSnapshotMeta<u64, openraft::BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError<u64>> {
        let mut received: Snapshot = serde_json::from_slice(snapshot.get_ref())
            .map_err(|error| StorageIOError::read_snapshot(None, AnyError::new(&error)))?;
        // The Raft library's meta is authoritative for what the snapshot covers.
        received.meta = SnapshotMeta {
            last_log_id: meta.last_log_id.as_ref().map(from_raft_log_id),
            last_membership: Some(from_raft_membership(meta.last_membership.membership())),
            membership_log_id: meta.last_membership.log_id().as_ref().map(from_raft_log_id),
        };
        let applied = self.applied.clone();
        blocking(move || {
            let index = received.meta.last_log_id.map_or(0, |id| id.index);
            let mut machine = applied.machine();
            machine
                .install_snapshot(received)
                .map_err(|error| StorageIOError::write_snapshot(None, AnyError::new(&error)))?;
            let state = machine.state();
            applied.publish(state.clone());
            for listener in &applied.listeners {
                listener.on_snapshot(index, &state);
            }
            applied.index.send_replace(index);
            Ok(())
        })
        .await
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<RaftSnapshot<TypeConfig>>, StorageError<u64>> {
        let snapshot = self
            .applied
            .machine()
            .get_current_snapshot()
            .map_err(|error| StorageIOError::read_snapshot(None, AnyError::new(&error)))?;
        Ok(snapshot.as_ref().map(to_raft_snapshot))
    }
}
