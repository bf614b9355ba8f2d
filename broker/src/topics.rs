//! Topics and their partition logs on this broker.
//!
//! Order of a change: validate → commit the metadata → act on disk. Creating
//! commits the topic before its partition directories exist (a crash in
//! between is repaired at start-up, when every committed partition is opened
//! and created if missing); deleting commits the removal, then renames each
//! partition directory to `<dir>.<id>-delete` and removes it. Directories left
//! behind by a crash (`*-delete`, or partitions of no committed topic) are
//! removed at start-up.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use uuid::Uuid;

use crate::cluster::{Cluster, ClusterState, FileStore, TopicRecord, UpdateError, topic_config};
use crate::config::{BrokerSettings, FlushPolicy};
use crate::log::{Flusher, LogError, Syncer};
use crate::partition::{Durability, Events, Partition, PartitionId, Shared};

/// Why a topic operation was refused or failed. Mapped to Kafka error codes in
/// `protocol::errors`.
#[derive(Debug, thiserror::Error)]
pub enum TopicError {
    #[error("Topic '{0}' already exists.")]
    AlreadyExists(String),
    #[error("This server does not host this topic: {0}")]
    Unknown(String),
    #[error("{0}")]
    InvalidName(String),
    #[error("{0}")]
    InvalidPartitions(String),
    #[error("{0}")]
    InvalidReplicationFactor(String),
    #[error("{0}")]
    InvalidConfig(String),
    #[error("committing metadata: {0}")]
    Metadata(#[from] crate::cluster::StoreError),
    #[error("opening partition {topic}-{partition}: {source}")]
    OpenPartition {
        topic: String,
        partition: i32,
        source: LogError,
    },
}

impl From<UpdateError<TopicError>> for TopicError {
    fn from(error: UpdateError<TopicError>) -> Self {
        match error {
            UpdateError::Refused(error) => error,
            UpdateError::Store(error) => TopicError::Metadata(error),
        }
    }
}

/// A topic to create.
#[derive(Debug, Clone)]
pub struct NewTopic {
    pub name: String,
    /// -1: `num.partitions`.
    pub partitions: i32,
    /// -1: `default.replication.factor`.
    pub replication_factor: i16,
    pub configs: BTreeMap<String, String>,
}

type PartitionMap = HashMap<(String, i32), Arc<Partition>>;

/// Topic metadata plus the open partition logs.
pub struct Topics {
    cluster: Cluster,
    partitions: RwLock<PartitionMap>,
    data_dir: PathBuf,
    settings: BrokerSettings,
    /// Live brokers, for replication-factor checks.
    brokers: i16,
    /// What every partition shares: fsyncs, durability, events.
    shared: Shared,
}

/// Kafka's topic-name rules.
pub fn validate_topic_name(name: &str) -> Result<(), TopicError> {
    let invalid = |reason: String| Err(TopicError::InvalidName(reason));
    if name.is_empty() {
        return invalid("Topic name is illegal, it can't be empty".into());
    }
    if name == "." || name == ".." {
        return invalid("Topic name cannot be \".\" or \"..\"".into());
    }
    if name.len() > 249 {
        return invalid(format!(
            "Topic name is illegal, it can't be longer than 249 characters, topic name: {name}"
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return invalid(format!(
            "Topic name {name} is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'"
        ));
    }
    Ok(())
}

impl Topics {
    /// Loads the committed metadata and opens every partition log.
    pub fn open(
        data_dir: &Path,
        settings: BrokerSettings,
        clean_shutdown: bool,
    ) -> Result<Self, TopicError> {
        Self::open_with_sync(data_dir, settings, clean_shutdown, Syncer::os())
    }

    /// [`open`](Self::open), with every partition log fsyncing through `syncer`.
    pub fn open_with_sync(
        data_dir: &Path,
        settings: BrokerSettings,
        clean_shutdown: bool,
        syncer: Syncer,
    ) -> Result<Self, TopicError> {
        let cluster = Cluster::open(Box::new(FileStore::new(data_dir)))?;
        let settings_flush_policy = settings.flush_policy;
        let topics = Self {
            cluster,
            partitions: RwLock::new(HashMap::new()),
            data_dir: data_dir.to_path_buf(),
            settings,
            brokers: 1,
            shared: Shared {
                durability: match settings_flush_policy {
                    FlushPolicy::Sync => Durability::Fsync(Arc::new(Flusher::start())),
                    FlushPolicy::Os => Durability::Os,
                },
                events: Events::default(),
                syncer,
            },
        };
        let state = topics.cluster.snapshot();
        topics.remove_stray_directories(&state);
        for topic in state.topics.values() {
            topics.open_partitions(topic, 0, clean_shutdown)?;
        }
        Ok(topics)
    }

    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    pub fn snapshot(&self) -> Arc<ClusterState> {
        self.cluster.snapshot()
    }

    pub fn settings(&self) -> &BrokerSettings {
        &self.settings
    }

    /// Leadership changes and segment rolls of every partition hosted here.
    pub fn events(&self) -> &Events {
        &self.shared.events
    }

    pub fn partition(&self, topic: &str, index: i32) -> Option<Arc<Partition>> {
        self.read_partitions()
            .get(&(topic.to_owned(), index))
            .cloned()
    }

    /// Every hosted partition.
    pub fn all_partitions(&self) -> Vec<Arc<Partition>> {
        self.read_partitions().values().cloned().collect()
    }

    fn read_partitions(&self) -> std::sync::RwLockReadGuard<'_, PartitionMap> {
        self.partitions
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write_partitions(&self) -> std::sync::RwLockWriteGuard<'_, PartitionMap> {
        self.partitions
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn partition_dir(&self, topic: &str, index: i32) -> PathBuf {
        self.data_dir.join(format!("{topic}-{index}"))
    }

    fn open_partitions(
        &self,
        topic: &TopicRecord,
        from: i32,
        clean_shutdown: bool,
    ) -> Result<(), TopicError> {
        let config = topic_config::log_config(&self.settings, &topic.configs);
        for index in from..topic.partitions {
            let id = PartitionId {
                topic: topic.name.clone(),
                topic_id: topic.id,
                index,
                internal: false,
            };
            let opened = Partition::open(
                id,
                &self.partition_dir(&topic.name, index),
                config.clone(),
                clean_shutdown,
                self.shared.clone(),
            )
            .map_err(|source| TopicError::OpenPartition {
                topic: topic.name.clone(),
                partition: index,
                source,
            })?;
            let partition = Arc::new(opened);
            self.write_partitions()
                .insert((topic.name.clone(), index), Arc::clone(&partition));
            // One node: this broker leads every partition, at epoch 0 until the metadata
            // carries leader epochs.
            if let Err(error) = partition.become_leader(0) {
                tracing::error!(topic = %topic.name, partition = index, %error, "cannot lead the partition");
            }
        }
        Ok(())
    }

    /// Checks a new topic and fills in broker defaults.
    pub fn validate_new(&self, topic: &NewTopic) -> Result<TopicRecord, TopicError> {
        validate_topic_name(&topic.name)?;
        let partitions = match topic.partitions {
            -1 => self.settings.num_partitions,
            n if n >= 1 => n,
            n => {
                return Err(TopicError::InvalidPartitions(format!(
                    "Number of partitions was set to an invalid non-positive value: {n}."
                )));
            }
        };
        let replication_factor = match topic.replication_factor {
            -1 => self.settings.default_replication_factor,
            n if n >= 1 => n,
            n => {
                return Err(TopicError::InvalidReplicationFactor(format!(
                    "Replication factor must be larger than 0, or -1 to use the default value: {n}."
                )));
            }
        };
        if replication_factor > self.brokers {
            return Err(TopicError::InvalidReplicationFactor(format!(
                "Unable to replicate the partition {replication_factor} time(s): The target replication \
                 factor of {replication_factor} cannot be reached because only {} broker(s) are registered.",
                self.brokers
            )));
        }
        topic_config::validate_all(&topic.configs).map_err(TopicError::InvalidConfig)?;
        if self.cluster.snapshot().topics.contains_key(&topic.name) {
            return Err(TopicError::AlreadyExists(topic.name.clone()));
        }
        Ok(TopicRecord {
            name: topic.name.clone(),
            id: Uuid::new_v4(),
            partitions,
            replication_factor,
            configs: topic.configs.clone(),
        })
    }

    /// Creates a topic (or only validates it).
    pub fn create(&self, topic: &NewTopic, validate_only: bool) -> Result<TopicRecord, TopicError> {
        let record = self.validate_new(topic)?;
        if validate_only {
            return Ok(record);
        }
        self.cluster.update(|state| {
            if state.topics.contains_key(&record.name) {
                return Err(TopicError::AlreadyExists(record.name.clone()));
            }
            state.topics.insert(record.name.clone(), record.clone());
            Ok(())
        })?;
        self.open_partitions(&record, 0, true)?;
        tracing::info!(topic = %record.name, partitions = record.partitions, "created topic");
        Ok(record)
    }

    /// Deletes a topic and its data.
    pub fn delete(&self, name: &str) -> Result<TopicRecord, TopicError> {
        let record = self.cluster.update(|state| {
            state
                .topics
                .remove(name)
                .ok_or_else(|| TopicError::Unknown(name.to_owned()))
        })?;
        let removed: Vec<Arc<Partition>> = {
            let mut partitions = self.write_partitions();
            (0..record.partitions)
                .filter_map(|index| partitions.remove(&(name.to_owned(), index)))
                .collect()
        };
        for partition in removed {
            partition.stop_leading();
        }
        for index in 0..record.partitions {
            let dir = self.partition_dir(name, index);
            let doomed = self
                .data_dir
                .join(format!("{name}-{index}.{}-delete", record.id.simple()));
            match std::fs::rename(&dir, &doomed) {
                Ok(()) => {
                    if let Err(error) = std::fs::remove_dir_all(&doomed) {
                        tracing::warn!(dir = %doomed.display(), %error, "removing a deleted partition failed; retried at start-up");
                    }
                }
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => {
                    tracing::warn!(dir = %dir.display(), %error, "renaming a deleted partition failed")
                }
            }
        }
        tracing::info!(topic = %name, "deleted topic");
        Ok(record)
    }

    /// Grows a topic to `count` partitions.
    pub fn create_partitions(
        &self,
        name: &str,
        count: i32,
        validate_only: bool,
    ) -> Result<(), TopicError> {
        let current = self
            .cluster
            .snapshot()
            .topics
            .get(name)
            .cloned()
            .ok_or_else(|| TopicError::Unknown(name.to_owned()))?;
        if count <= current.partitions {
            return Err(TopicError::InvalidPartitions(format!(
                "Topic currently has {} partitions, which is higher than the requested {count}.",
                current.partitions
            )));
        }
        if validate_only {
            return Ok(());
        }
        let record = self.cluster.update(|state| {
            let topic = state
                .topics
                .get_mut(name)
                .ok_or_else(|| TopicError::Unknown(name.to_owned()))?;
            topic.partitions = count;
            Ok(topic.clone())
        })?;
        self.open_partitions(&record, current.partitions, true)
    }

    /// Replaces a topic's config overrides with `configs` (validated first).
    pub fn set_configs(
        &self,
        name: &str,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<(), TopicError> {
        topic_config::validate_all(&configs).map_err(TopicError::InvalidConfig)?;
        if !self.cluster.snapshot().topics.contains_key(name) {
            return Err(TopicError::Unknown(name.to_owned()));
        }
        if validate_only {
            return Ok(());
        }
        let record = self.cluster.update(|state| {
            let topic = state
                .topics
                .get_mut(name)
                .ok_or_else(|| TopicError::Unknown(name.to_owned()))?;
            topic.configs = configs;
            Ok(topic.clone())
        })?;
        let config = topic_config::log_config(&self.settings, &record.configs);
        for index in 0..record.partitions {
            if let Some(partition) = self.partition(name, index) {
                partition.set_config(config.clone());
            }
        }
        Ok(())
    }

    /// Flushes every log and writes its checkpoints (clean shutdown).
    pub fn flush_all(&self) -> Result<(), LogError> {
        let mut first_error = None;
        for partition in self.all_partitions() {
            if let Err(error) = partition.flush_for_shutdown() {
                tracing::error!(topic = %partition.topic, partition = partition.index, %error, "flushing at shutdown failed");
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    fn remove_stray_directories(&self, state: &ClusterState) {
        let Ok(entries) = std::fs::read_dir(&self.data_dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if !path.is_dir() {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            let stray = name.ends_with("-delete")
                || name.rsplit_once('-').is_some_and(|(topic, index)| {
                    index.parse::<i32>().is_ok_and(|index| {
                        state
                            .topics
                            .get(topic)
                            .is_none_or(|record| index >= record.partitions)
                    })
                });
            if stray {
                tracing::info!(dir = %path.display(), "removing the directory of a deleted partition");
                if let Err(error) = std::fs::remove_dir_all(&path) {
                    tracing::warn!(dir = %path.display(), %error, "cannot remove directory");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_topic(name: &str, partitions: i32) -> NewTopic {
        NewTopic {
            name: name.to_owned(),
            partitions,
            replication_factor: -1,
            configs: BTreeMap::new(),
        }
    }

    #[test]
    fn topic_names_follow_kafkas_rules() {
        for good in ["orders", "a.b_c-d", &"x".repeat(249)] {
            assert!(validate_topic_name(good).is_ok(), "{good}");
        }
        for bad in ["", ".", "..", "has space", "ünï", &"x".repeat(250), "a/b"] {
            assert!(
                matches!(validate_topic_name(bad), Err(TopicError::InvalidName(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn created_topics_and_their_partitions_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let topics = Topics::open(dir.path(), BrokerSettings::default(), false).unwrap();
        let record = topics.create(&new_topic("orders", 3), false).unwrap();
        assert!(topics.partition("orders", 2).is_some());
        assert!(dir.path().join("orders-2").is_dir());
        topics.flush_all().unwrap();
        drop(topics);
        let reopened = Topics::open(dir.path(), BrokerSettings::default(), true).unwrap();
        assert_eq!(reopened.snapshot().topics["orders"].id, record.id);
        assert!(reopened.partition("orders", 2).is_some());
        assert!(reopened.partition("orders", 3).is_none());
    }

    #[test]
    fn bad_topics_are_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let topics = Topics::open(dir.path(), BrokerSettings::default(), false).unwrap();
        topics.create(&new_topic("taken", 1), false).unwrap();
        assert!(matches!(
            topics.create(&new_topic("taken", 1), false),
            Err(TopicError::AlreadyExists(_))
        ));
        assert!(matches!(
            topics.create(&new_topic("zero", 0), false),
            Err(TopicError::InvalidPartitions(_))
        ));
        let mut replicated = new_topic("replicated", 1);
        replicated.replication_factor = 3;
        let error = topics.create(&replicated, false).unwrap_err();
        assert!(error.to_string().contains("only 1 broker(s)"), "{error}");
        let mut configured = new_topic("configured", 1);
        configured
            .configs
            .insert("retention.ms".into(), "forever".into());
        assert!(matches!(
            topics.create(&configured, false),
            Err(TopicError::InvalidConfig(_))
        ));
        assert!(topics.create(&new_topic("dry-run", 1), true).is_ok());
        assert!(!topics.snapshot().topics.contains_key("dry-run"));
    }

    #[test]
    fn deleting_a_topic_removes_its_data_and_partitions_only_grow() {
        let dir = tempfile::tempdir().unwrap();
        let topics = Topics::open(dir.path(), BrokerSettings::default(), false).unwrap();
        topics.create(&new_topic("doomed", 2), false).unwrap();
        topics.create_partitions("doomed", 4, false).unwrap();
        assert!(topics.partition("doomed", 3).is_some());
        assert!(matches!(
            topics.create_partitions("doomed", 2, false),
            Err(TopicError::InvalidPartitions(_))
        ));
        topics.delete("doomed").unwrap();
        assert!(topics.partition("doomed", 0).is_none());
        assert!(!dir.path().join("doomed-0").exists());
        assert!(matches!(
            topics.delete("doomed"),
            Err(TopicError::Unknown(_))
        ));
    }
}
