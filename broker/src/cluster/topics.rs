//! Topic lifecycle at the cluster level: Kafka's name rules, validating a new topic against the
//! broker defaults, and the admin operations that turn a request into a [`Command`] — create,
//! delete, grow, reconfigure — plus the internal topics the cluster creates for itself.
//!
//! Validation that needs the broker's settings happens here, before proposing; the state
//! machine re-checks what must hold on every replica (name free, topic known, partitions only
//! grow, internal topics stay). Acting on disk is the partition manager's part (`topics.rs`),
//! driven by the change feed, so an operation returns once the partitions are open.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::command::{Change, Command, CommandError};
use super::metadata::{Metadata, ProposeError};
use super::placement::{self, Candidate};
use super::{ClusterState, PartitionAssignment, TopicRecord, topic_config};
use crate::config::BrokerSettings;
use crate::log::LogError;

/// Kafka's name of the topic that keeps consumer group offsets.
pub const CONSUMER_OFFSETS: &str = "__consumer_offsets";
/// The transaction coordinator's topic.
pub const TRANSACTION_STATE: &str = "__transaction_state";

/// Why a topic operation was refused or failed. Mapped to Kafka error codes in
/// `api::errors`.
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
    #[error("Topic {0} is a kafka internal topic and is not allowed to be deleted.")]
    Internal(String),
    #[error("the metadata refused the change: {0}")]
    Refused(CommandError),
    #[error("committing metadata: {0}")]
    Metadata(#[from] ProposeError),
    #[error("opening partition {topic}-{partition}: {source}")]
    OpenPartition {
        topic: String,
        partition: i32,
        source: LogError,
    },
}

impl From<CommandError> for TopicError {
    fn from(error: CommandError) -> Self {
        match error {
            CommandError::TopicExists(name) => TopicError::AlreadyExists(name),
            // A stale id: the topic that was meant is gone.
            CommandError::UnknownTopic(name) | CommandError::TopicIdMismatch { name, .. } => {
                TopicError::Unknown(name)
            }
            CommandError::PartitionsNotIncreased { .. } | CommandError::InvalidPartitions(_) => {
                TopicError::InvalidPartitions(error.to_string())
            }
            CommandError::InvalidReplicationFactor(_) | CommandError::InvalidAssignment(_) => {
                TopicError::InvalidReplicationFactor(error.to_string())
            }
            CommandError::InternalTopic(name) => TopicError::Internal(name),
            CommandError::TopicIdInUse { .. }
            | CommandError::InvalidProducerIdCount(_)
            | CommandError::InvalidFeatureLevel(_)
            | CommandError::UnknownBroker(_)
            | CommandError::UnknownPartition { .. }
            | CommandError::AlterPartition(_) => TopicError::Refused(error),
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

/// Checks a new topic against `state` and fills in broker defaults; the record carries a
/// fresh id.
pub fn validate_new(
    topic: &NewTopic,
    settings: &BrokerSettings,
    live: &[Candidate],
    state: &ClusterState,
) -> Result<TopicRecord, TopicError> {
    validate_topic_name(&topic.name)?;
    let partitions = match topic.partitions {
        -1 => settings.num_partitions,
        n if n >= 1 => n,
        n => {
            return Err(TopicError::InvalidPartitions(format!(
                "Number of partitions was set to an invalid non-positive value: {n}."
            )));
        }
    };
    let replication_factor = match topic.replication_factor {
        -1 => settings.default_replication_factor,
        n if n >= 1 => n,
        n => {
            return Err(TopicError::InvalidReplicationFactor(format!(
                "Replication factor must be larger than 0, or -1 to use the default value: {n}."
            )));
        }
    };
    let assignments = place_new(live, 0, partitions, replication_factor)?;
    topic_config::validate_all(&topic.configs).map_err(TopicError::InvalidConfig)?;
    if state.topics.contains_key(&topic.name) {
        return Err(TopicError::AlreadyExists(topic.name.clone()));
    }
    Ok(TopicRecord {
        name: topic.name.clone(),
        id: Uuid::new_v4(),
        partitions,
        replication_factor,
        configs: topic.configs.clone(),
        internal: false,
        assignments,
    })
}

/// Places partitions `first..first + count` on the `live` brokers, from a random start.
pub fn place_new(
    live: &[Candidate],
    first: i32,
    count: i32,
    factor: i16,
) -> Result<Vec<PartitionAssignment>, TopicError> {
    let random = Uuid::new_v4().as_u128();
    let (start, shift) = (
        (random & 0xffff) as usize,
        ((random >> 16) & 0xffff) as usize,
    );
    let placed = placement::place(live, first, count, factor, start, shift)
        .map_err(|error| TopicError::InvalidReplicationFactor(error.to_string()))?;
    Ok(placed.into_iter().map(PartitionAssignment::new).collect())
}

/// The replication factor of an internal topic: its setting, capped at the live brokers.
fn capped(factor: i16, live: &[Candidate]) -> i16 {
    factor
        .min(i16::try_from(live.len()).unwrap_or(i16::MAX))
        .max(1)
}

/// The record of `__consumer_offsets` as Kafka creates it, from the `offsets.topic.*` settings.
pub fn consumer_offsets_record(
    settings: &BrokerSettings,
    live: &[Candidate],
) -> Result<TopicRecord, TopicError> {
    internal_record(
        CONSUMER_OFFSETS,
        settings.offsets_topic_num_partitions,
        capped(settings.offsets_topic_replication_factor, live),
        settings.offsets_topic_segment_bytes,
        "producer",
        live,
    )
}

/// `__transaction_state` as Kafka creates it: compacted, uncompressed, with
/// `transaction.state.log.num.partitions` partitions.
pub fn transaction_state_record(
    settings: &BrokerSettings,
    live: &[Candidate],
) -> Result<TopicRecord, TopicError> {
    internal_record(
        TRANSACTION_STATE,
        settings.transaction_state_log_num_partitions,
        capped(settings.transaction_state_log_replication_factor, live),
        u64::try_from(settings.transaction_state_log_segment_bytes).unwrap_or_default(),
        "uncompressed",
        live,
    )
}

/// A compacted internal topic, placed on the `live` brokers.
fn internal_record(
    name: &str,
    partitions: i32,
    replication_factor: i16,
    segment_bytes: u64,
    compression: &str,
    live: &[Candidate],
) -> Result<TopicRecord, TopicError> {
    Ok(TopicRecord {
        name: name.to_owned(),
        id: Uuid::new_v4(),
        partitions,
        replication_factor,
        configs: BTreeMap::from([
            ("cleanup.policy".to_owned(), "compact".to_owned()),
            ("segment.bytes".to_owned(), segment_bytes.to_string()),
            ("compression.type".to_owned(), compression.to_owned()),
        ]),
        internal: true,
        assignments: place_new(live, 0, partitions, replication_factor)?,
    })
}

impl Metadata {
    /// The brokers that can take new replicas: the registered ones that are not fenced, and
    /// this one (which counts itself live before its registration is committed).
    pub fn live_brokers(&self) -> Vec<Candidate> {
        let state = self.snapshot();
        let mut live: Vec<Candidate> = state
            .brokers
            .values()
            .filter(|broker| !broker.fenced)
            .map(|broker| Candidate {
                id: broker.id,
                rack: broker.rack.clone(),
            })
            .collect();
        let me = self.node_id();
        if !live.iter().any(|broker| broker.id == me) {
            live.push(Candidate { id: me, rack: None });
        }
        live
    }

    /// Creates a topic (or only validates it); returns once its partitions are open here.
    pub fn create_topic(
        &self,
        topic: &NewTopic,
        settings: &BrokerSettings,
        validate_only: bool,
    ) -> Result<TopicRecord, TopicError> {
        let record = validate_new(topic, settings, &self.live_brokers(), &self.snapshot())?;
        if validate_only {
            return Ok(record);
        }
        self.propose_blocking(Command::CreateTopic(record.clone()))?
            .outcome?;
        tracing::info!(topic = %record.name, partitions = record.partitions, "created topic");
        Ok(record)
    }

    /// Deletes a topic; its partitions are removed here before this returns.
    pub fn delete_topic(&self, name: &str) -> Result<TopicRecord, TopicError> {
        let id = self
            .snapshot()
            .topics
            .get(name)
            .map(|topic| topic.id)
            .ok_or_else(|| TopicError::Unknown(name.to_owned()))?;
        let command = Command::DeleteTopic {
            name: name.to_owned(),
            id,
        };
        match self.propose_blocking(command)?.outcome? {
            Change::TopicDeleted(record) => {
                tracing::info!(topic = %name, "deleted topic");
                Ok(record)
            }
            other => unreachable!("DeleteTopic applied as {other:?}"),
        }
    }

    /// Grows a topic to `count` partitions.
    pub fn create_partitions(
        &self,
        name: &str,
        count: i32,
        validate_only: bool,
    ) -> Result<(), TopicError> {
        let (current, factor) = self
            .snapshot()
            .topics
            .get(name)
            .map(|topic| (topic.partitions, topic.replication_factor))
            .ok_or_else(|| TopicError::Unknown(name.to_owned()))?;
        if count <= current {
            return Err(CommandError::PartitionsNotIncreased {
                current,
                requested: count,
            }
            .into());
        }
        let assignments = place_new(&self.live_brokers(), current, count - current, factor)?;
        if validate_only {
            return Ok(());
        }
        let command = Command::CreatePartitions {
            name: name.to_owned(),
            count,
            assignments,
        };
        self.propose_blocking(command)?.outcome?;
        Ok(())
    }

    /// Replaces a topic's config overrides with `configs` (validated first).
    pub fn set_topic_configs(
        &self,
        name: &str,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<(), TopicError> {
        topic_config::validate_all(&configs).map_err(TopicError::InvalidConfig)?;
        if !self.snapshot().topics.contains_key(name) {
            return Err(TopicError::Unknown(name.to_owned()));
        }
        if validate_only {
            return Ok(());
        }
        let command = Command::AlterTopicConfigs {
            name: name.to_owned(),
            configs,
        };
        self.propose_blocking(command)?.outcome?;
        Ok(())
    }

    /// `__consumer_offsets`, created with Kafka's settings on first use.
    pub fn consumer_offsets_topic(
        &self,
        settings: &BrokerSettings,
    ) -> Result<TopicRecord, TopicError> {
        self.internal_topic(consumer_offsets_record(settings, &self.live_brokers())?)
    }

    /// `__transaction_state`, created on the first transactional request.
    pub fn transaction_state_topic(
        &self,
        settings: &BrokerSettings,
    ) -> Result<TopicRecord, TopicError> {
        self.internal_topic(transaction_state_record(settings, &self.live_brokers())?)
    }

    /// The internal topic `record` describes: the existing one, or `record` created now.
    fn internal_topic(&self, record: TopicRecord) -> Result<TopicRecord, TopicError> {
        let name = record.name.clone();
        if let Some(existing) = self.snapshot().topics.get(&name) {
            return Ok(existing.clone());
        }
        match self
            .propose_blocking(Command::CreateTopic(record.clone()))?
            .outcome
        {
            Ok(_) => {
                tracing::info!(
                    topic = %name,
                    partitions = record.partitions,
                    "created internal topic"
                );
                Ok(record)
            }
            // Created by a concurrent first use.
            Err(CommandError::TopicExists(_)) => self
                .snapshot()
                .topics
                .get(&name)
                .cloned()
                .ok_or(TopicError::Unknown(name)),
            Err(error) => Err(error.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn a_new_topic_gets_the_broker_defaults_and_is_checked_against_the_state() {
        let settings = BrokerSettings {
            num_partitions: 4,
            ..BrokerSettings::default()
        };
        let new = NewTopic {
            name: "orders".into(),
            partitions: -1,
            replication_factor: -1,
            configs: BTreeMap::new(),
        };
        let one = [Candidate { id: 1, rack: None }];
        let three: Vec<Candidate> = (1..=3).map(|id| Candidate { id, rack: None }).collect();
        let record = validate_new(&new, &settings, &one, &ClusterState::default()).unwrap();
        assert_eq!(record.assignments.len(), 4);
        assert!(
            record
                .assignments
                .iter()
                .all(|a| a.replicas == [1] && a.leader == 1)
        );
        assert_eq!((record.partitions, record.replication_factor), (4, 1));
        assert!(!record.internal);
        let mut state = ClusterState::default();
        state.topics.insert("orders".into(), record);
        assert!(matches!(
            validate_new(&new, &settings, &one, &state),
            Err(TopicError::AlreadyExists(_))
        ));
        let replicated = NewTopic {
            name: "replicated".into(),
            replication_factor: 2,
            ..new
        };
        let error = validate_new(&replicated, &settings, &one, &state).unwrap_err();
        assert!(error.to_string().contains("only 1 broker(s)"), "{error}");
        let placed = validate_new(&replicated, &settings, &three, &state).unwrap();
        assert!(
            placed
                .assignments
                .iter()
                .all(|a| a.replicas.len() == 2 && a.isr == a.replicas && a.leader == a.replicas[0])
        );
    }

    #[test]
    fn consumer_offsets_follow_the_offsets_topic_settings() {
        let settings = BrokerSettings {
            offsets_topic_num_partitions: 7,
            offsets_topic_segment_bytes: 2048,
            ..BrokerSettings::default()
        };
        let one = [Candidate { id: 1, rack: None }];
        let five: Vec<Candidate> = (1..=5).map(|id| Candidate { id, rack: None }).collect();
        let record = consumer_offsets_record(&settings, &one).unwrap();
        assert_eq!(record.name, "__consumer_offsets");
        assert!(record.internal);
        assert_eq!(record.partitions, 7);
        // Kafka's default factor 3, capped at the live brokers.
        assert_eq!(record.replication_factor, 1);
        assert_eq!(
            consumer_offsets_record(&settings, &five)
                .unwrap()
                .replication_factor,
            3
        );
        assert_eq!(record.configs["cleanup.policy"], "compact");
        assert_eq!(record.configs["segment.bytes"], "2048");
        assert_eq!(record.configs["compression.type"], "producer");
        let defaults = consumer_offsets_record(&BrokerSettings::default(), &one).unwrap();
        assert_eq!(defaults.partitions, 50);
        assert_eq!(defaults.configs["segment.bytes"], "104857600");
    }
}
