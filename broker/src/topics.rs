//! The partition manager: the partitions hosted on this broker, opened and removed as the
//! cluster metadata changes.
//!
//! [`PartitionManager`] is a [`MetadataListener`]: a committed TopicCreated or
//! PartitionsCreated opens (creating if missing) the new partitions; TopicDeleted removes them
//! from the registry, renames each directory to `<dir>.<id>-delete` and removes it;
//! TopicConfigsChanged hands the partitions their new log settings. At start-up every partition
//! of the applied state is opened, which also repairs a crash between a commit and its
//! directories; directories left behind by a crash (`*-delete`, or partitions of no committed
//! topic) are removed. Topic validation and the commands live in `cluster/`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use crate::cluster::command::PartitionChange;
use crate::cluster::quorum::QuorumConfig;
use crate::cluster::{
    Change, ClusterState, METADATA_LOG_DIR, Metadata, MetadataListener, SNAPSHOT_EVERY,
    TopicRecord, topic_config,
};
use crate::config::{BrokerSettings, FlushPolicy};
use crate::log::{Flusher, LogError, Syncer};
use crate::partition::{Durability, Events, Partition, PartitionId, Shared};
use crate::rpc::Identity;

pub use crate::cluster::topics::{NewTopic, TopicError, validate_topic_name};

type PartitionMap = HashMap<(String, i32), Arc<Partition>>;

/// The partitions hosted here; acts on metadata changes.
pub struct PartitionManager {
    /// This broker: it hosts the partitions whose replicas name it.
    node_id: i32,
    partitions: RwLock<PartitionMap>,
    data_dir: PathBuf,
    settings: BrokerSettings,
    /// What every partition shares: fsyncs, durability, events.
    shared: Shared,
}

/// The cluster metadata plus the partitions hosted here.
pub struct Topics {
    metadata: Arc<Metadata>,
    manager: Arc<PartitionManager>,
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
        Self::open_on_node(data_dir, settings, clean_shutdown, syncer, 0)
    }

    /// [`open_with_sync`](Self::open_with_sync) for node `node_id`, the voter of a new
    /// metadata log.
    pub fn open_on_node(
        data_dir: &Path,
        settings: BrokerSettings,
        clean_shutdown: bool,
        syncer: Syncer,
        node_id: i32,
    ) -> Result<Self, TopicError> {
        let node_id = u64::try_from(node_id).unwrap_or_default();
        let quorum = QuorumConfig::alone(node_id, SNAPSHOT_EVERY);
        let identity = Identity::new(String::new(), node_id, String::new());
        Self::open_in_cluster(data_dir, settings, clean_shutdown, syncer, quorum, identity)
    }

    /// Opens the metadata as this broker's member of the metadata quorum `quorum`, then every
    /// partition log of its state.
    pub fn open_in_cluster(
        data_dir: &Path,
        settings: BrokerSettings,
        clean_shutdown: bool,
        syncer: Syncer,
        quorum: QuorumConfig,
        identity: Arc<Identity>,
    ) -> Result<Self, TopicError> {
        let durability = match settings.flush_policy {
            FlushPolicy::Sync => Durability::Fsync(Arc::new(Flusher::start())),
            FlushPolicy::Os => Durability::Os,
        };
        let manager = Arc::new(PartitionManager {
            node_id: i32::try_from(quorum.node_id).unwrap_or(i32::MAX),
            partitions: RwLock::new(HashMap::new()),
            data_dir: data_dir.to_path_buf(),
            settings,
            shared: Shared {
                durability,
                events: Events::default(),
                syncer,
            },
        });
        let listener: Arc<dyn MetadataListener> = manager.clone();
        let metadata = Metadata::open_quorum(data_dir, vec![listener], quorum, identity)
            .map_err(TopicError::Metadata)?;
        let state = metadata.snapshot();
        manager.remove_stray_directories(&state);
        for topic in state.topics.values() {
            manager.open_partitions(topic, 0, clean_shutdown)?;
        }
        Ok(Self {
            metadata: Arc::new(metadata),
            manager,
        })
    }

    /// The cluster metadata: propose commands and read the applied state here.
    pub fn metadata(&self) -> &Arc<Metadata> {
        &self.metadata
    }

    pub fn snapshot(&self) -> Arc<ClusterState> {
        self.metadata.snapshot()
    }

    pub fn settings(&self) -> &BrokerSettings {
        &self.manager.settings
    }

    /// Leadership changes and segment rolls of every partition hosted here.
    pub fn events(&self) -> &Events {
        &self.manager.shared.events
    }

    pub fn partition(&self, topic: &str, index: i32) -> Option<Arc<Partition>> {
        self.manager.partition(topic, index)
    }

    /// Every hosted partition.
    pub fn all_partitions(&self) -> Vec<Arc<Partition>> {
        self.manager.all_partitions()
    }

    /// Creates a topic (or only validates it); its partitions are open when this returns.
    pub fn create(&self, topic: &NewTopic, validate_only: bool) -> Result<TopicRecord, TopicError> {
        self.metadata
            .create_topic(topic, self.settings(), validate_only)
    }

    /// Deletes a topic and its data.
    pub fn delete(&self, name: &str) -> Result<TopicRecord, TopicError> {
        self.metadata.delete_topic(name)
    }

    /// Grows a topic to `count` partitions.
    pub fn create_partitions(
        &self,
        name: &str,
        count: i32,
        validate_only: bool,
    ) -> Result<(), TopicError> {
        self.metadata.create_partitions(name, count, validate_only)
    }

    /// Replaces a topic's config overrides with `configs` (validated first).
    pub fn set_configs(
        &self,
        name: &str,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<(), TopicError> {
        self.metadata
            .set_topic_configs(name, configs, validate_only)
    }

    /// Flushes every log and writes its checkpoints (clean shutdown).
    pub fn flush_all(&self) -> Result<(), LogError> {
        self.manager.flush_all()
    }
}

impl MetadataListener for PartitionManager {
    fn on_change(&self, _index: u64, _state: &ClusterState, change: &Change) {
        match change {
            Change::TopicCreated(record) => self.open_new(record, 0),
            Change::PartitionsCreated { topic, from } => self.open_new(topic, *from),
            Change::TopicDeleted(record) => self.remove_partitions(record),
            Change::TopicConfigsChanged(record) => {
                let config = topic_config::log_config(&self.settings, &record.configs);
                for index in 0..record.partitions {
                    if let Some(partition) = self.partition(&record.name, index) {
                        partition.set_config(config.clone());
                    }
                }
            }
            Change::BrokerFenced { partitions, .. }
            | Change::BrokerRegistered { partitions, .. } => {
                for change in partitions {
                    self.follow_assignment(change);
                }
            }
            Change::PartitionChanged(change) => self.follow_assignment(change),
            Change::ProducerIdsAllocated { .. } | Change::FeaturesUpdated { .. } => {}
        }
    }
}

impl PartitionManager {
    /// Leads or follows a hosted partition as its new assignment says.
    fn follow_assignment(&self, change: &PartitionChange) {
        let Some(partition) = self.partition(&change.topic, change.partition) else {
            return;
        };
        let assignment = &change.assignment;
        if assignment.leader == self.node_id {
            if let Err(error) = partition.become_leader(assignment.leader_epoch) {
                tracing::error!(topic = %change.topic, partition = change.partition, %error, "cannot lead the partition");
            }
        } else {
            partition.stop_leading();
        }
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
            // A partition of a state from before placement is this broker's (it held them
            // all); otherwise only those whose replicas name this broker are hosted here.
            let assignment = topic.assignment(index);
            if assignment.is_some_and(|a| !a.replicas.contains(&self.node_id)) {
                continue;
            }
            let id = PartitionId {
                topic: topic.name.clone(),
                topic_id: topic.id,
                index,
                internal: topic.internal,
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
            let lead = match assignment {
                None => Some(0),
                Some(a) => (a.leader == self.node_id).then_some(a.leader_epoch),
            };
            if let Some(epoch) = lead
                && let Err(error) = partition.become_leader(epoch)
            {
                tracing::error!(topic = %topic.name, partition = index, %error, "cannot lead the partition");
            }
        }
        Ok(())
    }

    /// Opens the partitions of a committed topic from `from` on. A failure is logged: the
    /// topic stays committed and its partitions are opened again at the next start.
    fn open_new(&self, record: &TopicRecord, from: i32) {
        if let Err(error) = self.open_partitions(record, from, true) {
            tracing::error!(topic = %record.name, %error, "opening the partitions of a committed topic failed; retried at the next start");
        }
    }

    /// Drops a deleted topic's partitions and removes their directories.
    fn remove_partitions(&self, record: &TopicRecord) {
        let name = record.name.as_str();
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
            if name == METADATA_LOG_DIR {
                continue;
            }
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
    fn the_change_feed_makes_this_broker_lead_new_partitions_and_stop_leading_deleted_ones() {
        use crate::partition::PartitionEvent;
        let dir = tempfile::tempdir().unwrap();
        let topics = Topics::open(dir.path(), BrokerSettings::default(), false).unwrap();
        let mut events = topics.events().subscribe();
        topics.create(&new_topic("led", 2), false).unwrap();
        topics.create_partitions("led", 3, false).unwrap();
        topics.delete("led").unwrap();
        let mut seen = Vec::new();
        while let Ok(event) = events.try_recv() {
            seen.push(event);
        }
        let became = |partition| PartitionEvent::BecameLeader {
            topic: "led".to_owned(),
            partition,
            leader_epoch: 0,
        };
        let stopped = |partition| PartitionEvent::StoppedLeading {
            topic: "led".to_owned(),
            partition,
        };
        assert_eq!(&seen[..3], &[became(0), became(1), became(2)]);
        let mut stops = seen[3..].to_vec();
        stops.sort_by_key(|event| match event {
            PartitionEvent::StoppedLeading { partition, .. } => *partition,
            _ => -1,
        });
        assert_eq!(stops, vec![stopped(0), stopped(1), stopped(2)]);
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

    #[test]
    fn the_internal_offsets_topic_is_hosted_and_refuses_deletion() {
        let dir = tempfile::tempdir().unwrap();
        let settings = BrokerSettings {
            offsets_topic_num_partitions: 2,
            ..BrokerSettings::default()
        };
        let topics = Topics::open(dir.path(), settings.clone(), false).unwrap();
        let record = topics.metadata().consumer_offsets_topic(&settings).unwrap();
        assert!(record.internal);
        assert!(topics.partition("__consumer_offsets", 1).is_some());
        let error = topics.delete("__consumer_offsets").unwrap_err();
        assert_eq!(
            crate::api::errors::topic_error(&error),
            kafka_protocol::ResponseError::InvalidTopicException
        );
        assert!(dir.path().join("__consumer_offsets-0").is_dir());
        drop(topics);
        // The metadata log's own directory is not mistaken for a stray partition.
        let reopened = Topics::open(dir.path(), settings, true).unwrap();
        assert!(reopened.partition("__consumer_offsets", 1).is_some());
        assert!(dir.path().join(METADATA_LOG_DIR).is_dir());
    }

    #[test]
    fn config_changes_reach_the_open_partitions() {
        let dir = tempfile::tempdir().unwrap();
        let topics = Topics::open(dir.path(), BrokerSettings::default(), false).unwrap();
        topics.create(&new_topic("tuned", 1), false).unwrap();
        let configs = BTreeMap::from([("segment.bytes".to_owned(), "2048".to_owned())]);
        topics.set_configs("tuned", configs, false).unwrap();
        let partition = topics.partition("tuned", 0).unwrap();
        assert_eq!(partition.log().config().segment_bytes, 2048);
    }

    #[test]
    fn only_partitions_placed_on_this_broker_are_hosted_and_only_those_it_leads_are_led() {
        use crate::cluster::{Command, PartitionAssignment};
        let dir = tempfile::tempdir().unwrap();
        let topics = Topics::open(dir.path(), BrokerSettings::default(), false).unwrap();
        let mut record = topics
            .metadata()
            .create_topic(&new_topic("spread", 3), topics.settings(), true)
            .unwrap();
        record.replication_factor = 2;
        let me = 0;
        record.assignments = vec![
            PartitionAssignment::new(vec![me, 7]),
            PartitionAssignment::new(vec![7, me]),
            PartitionAssignment::new(vec![7, 8]),
        ];
        let applied = topics
            .metadata()
            .propose_blocking(Command::CreateTopic(record))
            .unwrap();
        assert!(applied.outcome.is_ok(), "{:?}", applied.outcome);
        let led = topics.partition("spread", 0).unwrap();
        assert!(led.is_leader());
        let followed = topics.partition("spread", 1).unwrap();
        assert!(!followed.is_leader(), "hosted as a follower");
        assert!(topics.partition("spread", 2).is_none());
        assert!(!dir.path().join("spread-2").exists());
        assert_eq!(
            crate::api::errors::not_led_here(&topics, "spread", 2),
            kafka_protocol::ResponseError::NotLeaderOrFollower
        );
        assert_eq!(
            crate::api::errors::not_led_here(&topics, "spread", 3),
            kafka_protocol::ResponseError::UnknownTopicOrPartition
        );
        drop((led, followed));
        drop(topics);
        let reopened = Topics::open(dir.path(), BrokerSettings::default(), true).unwrap();
        assert!(reopened.partition("spread", 0).unwrap().is_leader());
        assert!(!reopened.partition("spread", 1).unwrap().is_leader());
        assert!(reopened.partition("spread", 2).is_none());
    }
}
