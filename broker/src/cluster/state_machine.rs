//! The state machine side of the command log: the applied [`ClusterState`] and its snapshots.
//!
//! Shaped like openraft's `RaftStateMachine` (`applied_state`, `apply`, `build_snapshot`,
//! `install_snapshot`, `get_current_snapshot`). A snapshot is the whole state plus the last
//! log id applied to it and the membership, written as `snapshot-<index, 20 digits>.json`
//! (versioned; temp file, fsync, rename, directory fsync), after which older snapshots are
//! removed. Opening loads the newest snapshot; leftover temp files are ignored. A snapshot that
//! does not parse or has an unknown version stops the broker: it cannot be rebuilt from a
//! purged log.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::ClusterState;
use super::command::{self, Change, CommandError};
use super::log::{Entry, EntryPayload, LogId, Membership, io, read_versioned, write_versioned};
use super::store::StoreError;

/// What a snapshot covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotMeta {
    pub last_log_id: Option<LogId>,
    pub last_membership: Option<Membership>,
    /// The id of the entry that carried `last_membership` (absent in snapshots of releases
    /// with one voter: the snapshot's own id stands in).
    #[serde(default)]
    pub membership_log_id: Option<LogId>,
}

/// A whole state as of `meta.last_log_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub meta: SnapshotMeta,
    pub state: ClusterState,
}

/// The outcome of one applied entry: `None` for entries that carry no command.
pub type Response = Option<Result<Change, CommandError>>;

/// Applies committed entries and keeps snapshots, as openraft's `RaftStateMachine`.
pub trait StateMachine {
    /// The last applied log id, and the membership with the id of the entry that carried it.
    fn applied_state(&self) -> (Option<LogId>, Option<(Option<LogId>, Membership)>);
    /// Applies committed entries in order; one response per entry.
    fn apply(&mut self, entries: &[Entry]) -> Vec<Response>;
    /// Writes the current state as a snapshot.
    fn build_snapshot(&mut self) -> Result<SnapshotMeta, StoreError>;
    /// Replaces the state with `snapshot` (from a leader, or a migration) and keeps it.
    fn install_snapshot(&mut self, snapshot: Snapshot) -> Result<(), StoreError>;
    fn get_current_snapshot(&self) -> Result<Option<Snapshot>, StoreError>;
}

/// [`StateMachine`] over the in-memory state with snapshot files in one directory.
pub struct StateStore {
    dir: PathBuf,
    state: Arc<ClusterState>,
    last_applied: Option<LogId>,
    membership: Option<(Option<LogId>, Membership)>,
    /// The snapshot on disk.
    current: Option<SnapshotMeta>,
}

const PREFIX: &str = "snapshot-";
const SUFFIX: &str = ".json";

impl StateStore {
    /// Loads the newest snapshot in `dir`, or an empty state.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let mut store = Self {
            dir: dir.to_path_buf(),
            state: Arc::default(),
            last_applied: None,
            membership: None,
            current: None,
        };
        if let Some(index) = snapshot_indexes(dir)?.last() {
            let path = store.path(*index);
            let snapshot: Snapshot = read_versioned(&path)?.ok_or_else(|| StoreError::Format {
                path: path.clone(),
                reason: "the snapshot vanished while opening".into(),
            })?;
            store.load(snapshot);
        }
        Ok(store)
    }

    /// The applied state.
    pub fn state(&self) -> Arc<ClusterState> {
        self.state.clone()
    }

    /// The snapshot on disk, if any.
    pub fn current(&self) -> Option<&SnapshotMeta> {
        self.current.as_ref()
    }

    fn path(&self, index: u64) -> PathBuf {
        self.dir.join(format!("{PREFIX}{index:020}{SUFFIX}"))
    }

    fn load(&mut self, snapshot: Snapshot) {
        self.state = Arc::new(snapshot.state);
        self.last_applied = snapshot.meta.last_log_id;
        self.membership = snapshot.meta.last_membership.clone().map(|membership| {
            (
                snapshot
                    .meta
                    .membership_log_id
                    .or(snapshot.meta.last_log_id),
                membership,
            )
        });
        self.current = Some(snapshot.meta);
    }

    fn write(&self, snapshot: &Snapshot) -> Result<(), StoreError> {
        let index = snapshot.meta.last_log_id.map_or(0, |id| id.index);
        let name = format!("{PREFIX}{index:020}{SUFFIX}");
        write_versioned(&self.dir, &name, snapshot)?;
        for older in snapshot_indexes(&self.dir)?
            .into_iter()
            .filter(|i| *i < index)
        {
            let path = self.path(older);
            if let Err(error) = std::fs::remove_file(&path) {
                tracing::warn!(file = %path.display(), %error, "removing an old metadata snapshot failed");
            }
        }
        Ok(())
    }
}

/// The indexes of the snapshot files in `dir`, ascending.
fn snapshot_indexes(dir: &Path) -> Result<Vec<u64>, StoreError> {
    let mut indexes: Vec<u64> = std::fs::read_dir(dir)
        .map_err(io("listing", dir))?
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            name.strip_prefix(PREFIX)?
                .strip_suffix(SUFFIX)?
                .parse::<u64>()
                .ok()
        })
        .collect();
    indexes.sort_unstable();
    Ok(indexes)
}

impl StateMachine for StateStore {
    fn applied_state(&self) -> (Option<LogId>, Option<(Option<LogId>, Membership)>) {
        (self.last_applied, self.membership.clone())
    }

    fn apply(&mut self, entries: &[Entry]) -> Vec<Response> {
        entries
            .iter()
            .map(|entry| {
                self.last_applied = Some(entry.log_id);
                match &entry.payload {
                    EntryPayload::Blank => None,
                    EntryPayload::Membership(membership) => {
                        self.membership = Some((Some(entry.log_id), membership.clone()));
                        None
                    }
                    EntryPayload::Normal(command) => {
                        // Refusals leave the state untouched, so only a change is a copy.
                        let mut next = ClusterState::clone(&self.state);
                        let outcome = command::apply(&mut next, command);
                        if outcome.is_ok() {
                            self.state = Arc::new(next);
                        }
                        Some(outcome)
                    }
                }
            })
            .collect()
    }

    fn build_snapshot(&mut self) -> Result<SnapshotMeta, StoreError> {
        let snapshot = Snapshot {
            meta: SnapshotMeta {
                last_log_id: self.last_applied,
                last_membership: self.membership.as_ref().map(|(_, m)| m.clone()),
                membership_log_id: self.membership.as_ref().and_then(|(id, _)| *id),
            },
            state: ClusterState::clone(&self.state),
        };
        self.write(&snapshot)?;
        self.current = Some(snapshot.meta.clone());
        Ok(snapshot.meta)
    }

    fn install_snapshot(&mut self, snapshot: Snapshot) -> Result<(), StoreError> {
        self.write(&snapshot)?;
        self.load(snapshot);
        Ok(())
    }

    fn get_current_snapshot(&self) -> Result<Option<Snapshot>, StoreError> {
        let Some(meta) = &self.current else {
            return Ok(None);
        };
        read_versioned(&self.path(meta.last_log_id.map_or(0, |id| id.index)))
    }
}
