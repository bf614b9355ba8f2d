//! Cluster metadata: topics (names, ids, partition counts, config overrides)
//! and the producer-id allocation — everything that must survive a restart
//! besides the partition logs themselves.
//!
//! Changes go through [`Cluster`]: validate, apply to a copy of the state,
//! commit the copy through the [`MetadataStore`], and only then publish it.
//! A change that fails to commit leaves the published state untouched. The
//! store is a trait so that the metadata quorum can later back it with Raft;
//! today [`FileStore`] keeps one JSON document in the data directory.

mod store;
pub mod topic_config;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use store::{FileStore, MetadataStore, StoreError};

/// One topic as the cluster knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicRecord {
    pub name: String,
    pub id: Uuid,
    pub partitions: i32,
    pub replication_factor: i16,
    /// Topic-level overrides by Kafka name; absent keys use the broker default.
    pub configs: BTreeMap<String, String>,
}

/// The whole metadata state. Versioned on disk.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterState {
    pub topics: BTreeMap<String, TopicRecord>,
    /// The next producer id to hand out; ids below it are never reused.
    pub next_producer_id: i64,
}

impl ClusterState {
    pub fn topic_by_id(&self, id: Uuid) -> Option<&TopicRecord> {
        self.topics.values().find(|topic| topic.id == id)
    }
}

/// How many producer ids one durable allocation reserves (as Kafka's blocks).
pub const PRODUCER_ID_BLOCK: i64 = 1000;

/// The published metadata plus the store that keeps it.
pub struct Cluster {
    state: RwLock<Arc<ClusterState>>,
    store: Box<dyn MetadataStore>,
    /// Producer ids handed out from the current durable block: (next, end).
    producer_ids: std::sync::Mutex<(i64, i64)>,
}

impl Cluster {
    /// Loads the state from `store` (empty on first start).
    pub fn open(store: Box<dyn MetadataStore>) -> Result<Self, StoreError> {
        let state = store.load()?.unwrap_or_default();
        let next = state.next_producer_id;
        Ok(Self {
            state: RwLock::new(Arc::new(state)),
            store,
            producer_ids: std::sync::Mutex::new((next, next)),
        })
    }

    /// A consistent snapshot of the state.
    pub fn snapshot(&self) -> Arc<ClusterState> {
        self.state
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Applies `change` to a copy of the state, commits it, then publishes it.
    /// `change` may refuse by returning an error; nothing is committed then.
    pub fn update<T, E>(
        &self,
        change: impl FnOnce(&mut ClusterState) -> Result<T, E>,
    ) -> Result<T, UpdateError<E>> {
        let mut guard = self
            .state
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut next = ClusterState::clone(&guard);
        let value = change(&mut next).map_err(UpdateError::Refused)?;
        self.store.commit(&next).map_err(UpdateError::Store)?;
        *guard = Arc::new(next);
        Ok(value)
    }

    /// Hands out a producer id that was never handed out before, even across
    /// restarts: ids come from blocks whose end is committed before use.
    pub fn allocate_producer_id(&self) -> Result<i64, StoreError> {
        let mut ids = self
            .producer_ids
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if ids.0 >= ids.1 {
            let start = ids.0;
            let end = start + PRODUCER_ID_BLOCK;
            self.update(|state| {
                state.next_producer_id = end;
                Ok::<_, std::convert::Infallible>(())
            })
            .map_err(|error| match error {
                UpdateError::Store(error) => error,
                UpdateError::Refused(never) => match never {},
            })?;
            *ids = (start, end);
        }
        let id = ids.0;
        ids.0 += 1;
        Ok(id)
    }
}

/// Why [`Cluster::update`] changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError<E> {
    #[error("{0}")]
    Refused(E),
    #[error(transparent)]
    Store(StoreError),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(name: &str) -> TopicRecord {
        TopicRecord {
            name: name.to_owned(),
            id: Uuid::new_v4(),
            partitions: 3,
            replication_factor: 1,
            configs: BTreeMap::from([("retention.ms".to_owned(), "1000".to_owned())]),
        }
    }

    #[test]
    fn committed_topics_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let cluster = Cluster::open(Box::new(FileStore::new(dir.path()))).unwrap();
        let orders = topic("orders");
        cluster
            .update(|state| {
                state.topics.insert("orders".into(), orders.clone());
                Ok::<_, String>(())
            })
            .unwrap();
        drop(cluster);
        let reopened = Cluster::open(Box::new(FileStore::new(dir.path()))).unwrap();
        assert_eq!(reopened.snapshot().topics.get("orders"), Some(&orders));
    }

    #[test]
    fn a_refused_change_publishes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let cluster = Cluster::open(Box::new(FileStore::new(dir.path()))).unwrap();
        let result = cluster.update(|state| {
            state.topics.insert("half-made".into(), topic("half-made"));
            Err::<(), _>("refused")
        });
        assert!(matches!(result, Err(UpdateError::Refused("refused"))));
        assert!(cluster.snapshot().topics.is_empty());
    }

    #[test]
    fn producer_ids_are_never_reused_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let cluster = Cluster::open(Box::new(FileStore::new(dir.path()))).unwrap();
        let first: Vec<i64> = (0..3)
            .map(|_| cluster.allocate_producer_id().unwrap())
            .collect();
        assert_eq!(first, vec![0, 1, 2]);
        drop(cluster);
        let reopened = Cluster::open(Box::new(FileStore::new(dir.path()))).unwrap();
        let next = reopened.allocate_producer_id().unwrap();
        assert!(next > 2, "reused producer id {next}");
    }
}
