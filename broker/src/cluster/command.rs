//! Metadata commands and the deterministic state machine that applies them.
//!
//! [`apply`] is pure: the same state and command give the same result on every node and on
//! every replay, so the proposer carries every choice in the command (the topic id, the
//! producer-id block size). A refused command leaves the state untouched; its refusal is the
//! command's outcome, returned to the proposer like a change.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::features::{self, UpgradeType};
use super::leadership::{self, AlterIsrError};
use super::{BrokerRecord, ClusterState, PartitionAssignment, TopicRecord};

/// One change to the cluster metadata, as written to the command log. Externally tagged with
/// stable names: renaming a variant or a field breaks existing logs.
///
/// What comes next, each with its own variants once something acts on them: broker
/// registrations and heartbeats (fencing), partition assignments, partition leaders and leader
/// epochs, ISR changes, SCRAM credentials, ACLs, remote-segment metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Creates a topic; the proposer chose its id and filled in the defaults.
    CreateTopic(TopicRecord),
    /// Deletes the topic `name` if its id is still `id`.
    DeleteTopic { name: String, id: Uuid },
    /// Grows the topic `name` to `count` partitions, placed as `assignments` (one per new
    /// partition; logs of releases before placement have none).
    CreatePartitions {
        name: String,
        count: i32,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        assignments: Vec<PartitionAssignment>,
    },
    /// Replaces the topic's config overrides (validated by the proposer).
    AlterTopicConfigs {
        name: String,
        configs: BTreeMap<String, String>,
    },
    /// Reserves the next `count` producer ids.
    AllocateProducerIds { count: i64 },
    /// Finalizes feature levels (UpdateFeatures; the proposer checked the upgrade type).
    SetFeatureLevels { levels: BTreeMap<String, i16> },
    /// Registers a broker (again, after a restart: a new incarnation, whose partitions it leads
    /// get a new leader epoch — what it led before the restart may have lost an unflushed tail,
    /// so it must not lead them at the same epoch). Partitions of a state from before placement
    /// go to the first broker that registers: it held them all.
    RegisterBroker(BrokerRecord),
    /// Fences broker `id` (its session expired, or it is shutting down): it leaves the ISRs
    /// and its leaderships move (`leadership::fence`). `unclean` is the proposer's
    /// `unclean.leader.election.enable`; a topic's own setting wins.
    FenceBroker {
        id: i32,
        #[serde(default)]
        unclean: bool,
    },
    /// Ends the fencing of broker `id`: it leads the partitions left without a leader that
    /// it may lead.
    UnfenceBroker {
        id: i32,
        #[serde(default)]
        unclean: bool,
    },
    /// The leader of a partition changes its ISR (Kafka's AlterPartition).
    AlterPartition {
        topic: String,
        partition: i32,
        leader: i32,
        leader_epoch: i32,
        partition_epoch: i32,
        isr: Vec<i32>,
    },
}

/// One partition's new assignment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionChange {
    pub topic: String,
    pub topic_id: Uuid,
    pub partition: i32,
    pub assignment: PartitionAssignment,
}

impl PartitionChange {
    /// Partition `index` of `topic`, now assigned as `assignment`.
    fn of(topic: &TopicRecord, index: usize, assignment: &PartitionAssignment) -> Self {
        Self {
            topic: topic.name.clone(),
            topic_id: topic.id,
            partition: i32::try_from(index).unwrap_or(i32::MAX),
            assignment: assignment.clone(),
        }
    }
}

/// What an applied command changed, for listeners to act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Change {
    TopicCreated(TopicRecord),
    TopicDeleted(TopicRecord),
    /// `topic` now has `topic.partitions` partitions; those from `from` on are new.
    PartitionsCreated {
        topic: TopicRecord,
        from: i32,
    },
    TopicConfigsChanged(TopicRecord),
    /// Ids `start..end` are reserved for the proposer.
    ProducerIdsAllocated {
        start: i64,
        end: i64,
    },
    /// Feature levels were finalized; the epoch after the change.
    FeaturesUpdated {
        epoch: i64,
    },
    /// A broker registered; `adopted` topics were given their first assignments (on it), and
    /// the partitions it leads moved to a new leader epoch if it came back as a new incarnation.
    BrokerRegistered {
        broker: BrokerRecord,
        adopted: Vec<TopicRecord>,
        partitions: Vec<PartitionChange>,
    },
    /// A broker was fenced or unfenced, and these partitions changed with it.
    BrokerFenced {
        id: i32,
        fenced: bool,
        partitions: Vec<PartitionChange>,
    },
    /// A partition's ISR changed.
    PartitionChanged(PartitionChange),
}

/// Why a command was refused. Deterministic: every replica refuses the same command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum CommandError {
    #[error("Topic '{0}' already exists.")]
    TopicExists(String),
    #[error("topic id {id} is already used by topic '{name}'")]
    TopicIdInUse { id: Uuid, name: String },
    #[error("This server does not host this topic: {0}")]
    UnknownTopic(String),
    #[error("topic '{name}' now has id {current}, not {requested}")]
    TopicIdMismatch {
        name: String,
        current: Uuid,
        requested: Uuid,
    },
    #[error(
        "Topic currently has {current} partitions, which is higher than the requested {requested}."
    )]
    PartitionsNotIncreased { current: i32, requested: i32 },
    #[error("Number of partitions was set to an invalid non-positive value: {0}.")]
    InvalidPartitions(i32),
    #[error("Replication factor must be larger than 0: {0}.")]
    InvalidReplicationFactor(i16),
    #[error("Topic {0} is a kafka internal topic and is not allowed to be deleted.")]
    InternalTopic(String),
    #[error(
        "cannot allocate {0} producer ids: the count must be positive and fit after the last id"
    )]
    InvalidProducerIdCount(i64),
    #[error("{0}")]
    InvalidFeatureLevel(String),
    #[error("{0}")]
    InvalidAssignment(String),
    #[error("broker {0} is not registered")]
    UnknownBroker(i32),
    #[error("partition {partition} of topic '{topic}' does not exist")]
    UnknownPartition { topic: String, partition: i32 },
    #[error(transparent)]
    AlterPartition(#[from] AlterIsrError),
}

/// Applies `command` to `state`: the change, or the refusal with `state` untouched.
pub fn apply(state: &mut ClusterState, command: &Command) -> Result<Change, CommandError> {
    match command {
        Command::CreateTopic(record) => {
            if state.topics.contains_key(&record.name) {
                return Err(CommandError::TopicExists(record.name.clone()));
            }
            if let Some(existing) = state.topic_by_id(record.id) {
                return Err(CommandError::TopicIdInUse {
                    id: record.id,
                    name: existing.name.clone(),
                });
            }
            if record.partitions < 1 {
                return Err(CommandError::InvalidPartitions(record.partitions));
            }
            if record.replication_factor < 1 {
                return Err(CommandError::InvalidReplicationFactor(
                    record.replication_factor,
                ));
            }
            if !record.assignments.is_empty() {
                check_assignments(
                    &record.assignments,
                    record.partitions,
                    record.replication_factor,
                )?;
            }
            state.topics.insert(record.name.clone(), record.clone());
            Ok(Change::TopicCreated(record.clone()))
        }
        Command::DeleteTopic { name, id } => {
            let topic = known(state, name)?;
            if topic.id != *id {
                return Err(CommandError::TopicIdMismatch {
                    name: name.clone(),
                    current: topic.id,
                    requested: *id,
                });
            }
            if topic.internal {
                return Err(CommandError::InternalTopic(name.clone()));
            }
            let removed = state
                .topics
                .remove(name)
                .expect("the topic was found just above");
            Ok(Change::TopicDeleted(removed))
        }
        Command::CreatePartitions {
            name,
            count,
            assignments,
        } => {
            let topic = known(state, name)?;
            let current = topic.partitions;
            if *count <= current {
                return Err(CommandError::PartitionsNotIncreased {
                    current,
                    requested: *count,
                });
            }
            if !assignments.is_empty() {
                check_assignments(assignments, count - current, topic.replication_factor)?;
            }
            let topic = state.topics.get_mut(name).expect("found just above");
            topic.partitions = *count;
            topic.assignments.extend(assignments.iter().cloned());
            Ok(Change::PartitionsCreated {
                topic: topic.clone(),
                from: current,
            })
        }
        Command::AlterTopicConfigs { name, configs } => {
            known(state, name)?;
            let topic = state.topics.get_mut(name).expect("found just above");
            topic.configs = configs.clone();
            Ok(Change::TopicConfigsChanged(topic.clone()))
        }
        Command::AllocateProducerIds { count } => {
            let start = state.next_producer_id;
            let end = match start.checked_add(*count) {
                Some(end) if *count > 0 => end,
                _ => return Err(CommandError::InvalidProducerIdCount(*count)),
            };
            state.next_producer_id = end;
            Ok(Change::ProducerIdsAllocated { start, end })
        }
        Command::SetFeatureLevels { levels } => {
            for (name, level) in levels {
                // Any direction: the proposer checked the upgrade type against the state.
                features::check_update(state, name, *level, UpgradeType::UnsafeDowngrade)
                    .map_err(|error| CommandError::InvalidFeatureLevel(error.to_string()))?;
            }
            features::set_levels(state, levels);
            Ok(Change::FeaturesUpdated {
                epoch: state.features_epoch,
            })
        }
        Command::RegisterBroker(broker) => {
            let returning = state
                .brokers
                .get(&broker.id)
                .is_some_and(|known| known.incarnation != broker.incarnation);
            let mut partitions = Vec::new();
            if returning {
                for topic in state.topics.values_mut() {
                    for index in 0..topic.assignments.len() {
                        let assignment = &mut topic.assignments[index];
                        if assignment.leader == broker.id {
                            assignment.leader_epoch += 1;
                            assignment.partition_epoch += 1;
                            partitions.push(PartitionChange::of(
                                topic,
                                index,
                                &topic.assignments[index],
                            ));
                        }
                    }
                }
            }
            let mut adopted = Vec::new();
            for topic in state.topics.values_mut() {
                let placed = i32::try_from(topic.assignments.len()).unwrap_or(i32::MAX);
                if placed < topic.partitions {
                    topic.assignments.extend(
                        (placed..topic.partitions)
                            .map(|_| PartitionAssignment::new(vec![broker.id])),
                    );
                    adopted.push(topic.clone());
                }
            }
            state.brokers.insert(broker.id, broker.clone());
            Ok(Change::BrokerRegistered {
                broker: broker.clone(),
                adopted,
                partitions,
            })
        }
        Command::FenceBroker { id, unclean } => set_fenced(state, *id, true, *unclean),
        Command::UnfenceBroker { id, unclean } => set_fenced(state, *id, false, *unclean),
        Command::AlterPartition {
            topic,
            partition,
            leader,
            leader_epoch,
            partition_epoch,
            isr,
        } => {
            let live = live_brokers(state);
            let record = state
                .topics
                .get_mut(topic)
                .ok_or_else(|| CommandError::UnknownTopic(topic.clone()))?;
            let index = usize::try_from(*partition)
                .ok()
                .filter(|index| *index < record.assignments.len())
                .ok_or_else(|| CommandError::UnknownPartition {
                    topic: topic.clone(),
                    partition: *partition,
                })?;
            let mut changed = record.assignments[index].clone();
            leadership::alter_isr(
                &mut changed,
                *leader,
                *leader_epoch,
                *partition_epoch,
                isr,
                |id| live.contains(&id),
            )?;
            record.assignments[index] = changed;
            Ok(Change::PartitionChanged(PartitionChange::of(
                record,
                index,
                &record.assignments[index],
            )))
        }
    }
}

/// The registered brokers that are not fenced.
fn live_brokers(state: &ClusterState) -> BTreeSet<i32> {
    state
        .brokers
        .values()
        .filter(|broker| !broker.fenced)
        .map(|broker| broker.id)
        .collect()
}

/// Fences or unfences broker `id` and moves the leaderships that change with it.
fn set_fenced(
    state: &mut ClusterState,
    id: i32,
    fenced: bool,
    unclean_default: bool,
) -> Result<Change, CommandError> {
    let broker = state
        .brokers
        .get_mut(&id)
        .ok_or(CommandError::UnknownBroker(id))?;
    broker.fenced = fenced;
    let live = live_brokers(state);
    let mut partitions = Vec::new();
    for topic in state.topics.values_mut() {
        let unclean = topic
            .configs
            .get("unclean.leader.election.enable")
            .map_or(unclean_default, |value| value == "true");
        for index in 0..topic.assignments.len() {
            let assignment = &mut topic.assignments[index];
            let moved = if fenced {
                leadership::fence(assignment, id, |b| live.contains(&b), unclean)
            } else {
                leadership::unfence(assignment, id, unclean)
            };
            if moved {
                partitions.push(PartitionChange::of(topic, index, &topic.assignments[index]));
            }
        }
    }
    Ok(Change::BrokerFenced {
        id,
        fenced,
        partitions,
    })
}

/// Refuses assignments that do not fit the partitions they are for.
fn check_assignments(
    assignments: &[PartitionAssignment],
    partitions: i32,
    factor: i16,
) -> Result<(), CommandError> {
    if i32::try_from(assignments.len()).ok() != Some(partitions) {
        return Err(CommandError::InvalidAssignment(format!(
            "{} assignments for {partitions} partitions",
            assignments.len()
        )));
    }
    for (index, assignment) in assignments.iter().enumerate() {
        let distinct: std::collections::BTreeSet<_> = assignment.replicas.iter().collect();
        if distinct.len() != assignment.replicas.len()
            || i16::try_from(assignment.replicas.len()).ok() != Some(factor)
            || !assignment.replicas.contains(&assignment.leader)
        {
            return Err(CommandError::InvalidAssignment(format!(
                "partition {index}: replicas {:?} led by {} do not fit replication factor {factor}",
                assignment.replicas, assignment.leader
            )));
        }
    }
    Ok(())
}

fn known<'a>(state: &'a ClusterState, name: &str) -> Result<&'a TopicRecord, CommandError> {
    state
        .topics
        .get(name)
        .ok_or_else(|| CommandError::UnknownTopic(name.to_owned()))
}

#[cfg(test)]
#[path = "command_tests.rs"]
mod tests;
