//! Server-side assignors: what a target assignment is computed from, and the trait each
//! assignor (`uniform`, `range`, chosen per group by `group.consumer.assignors` and the
//! member's `group.remote.assignor`) implements. Pure: no clock, no I/O.
//!
//! As in Kafka's `PartitionAssignor` (group-coordinator's `GroupSpec`, `SubscribedTopicDescriber`):
//! topics are known by id; every member says which topics it subscribes to (a regular
//! expression is resolved to topic ids before the assignor sees it) and what it holds now, so
//! an assignor can be sticky.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

/// A member of a consumer group, by id.
pub type MemberId = String;

/// Partitions by topic id.
pub type TopicPartitions = BTreeMap<Uuid, BTreeSet<i32>>;

/// What an assignor knows of one member.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberSpec {
    /// `client.rack`, for rack-aware assignment.
    pub rack: Option<String>,
    /// The static member's `group.instance.id`.
    pub instance_id: Option<String>,
    /// The topics it subscribes to that exist (by id).
    pub subscribed: BTreeSet<Uuid>,
    /// Its current target assignment: what a sticky assignor keeps where it can.
    pub assigned: TopicPartitions,
}

/// What an assignor knows of one subscribed topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    pub name: String,
    pub partitions: i32,
}

/// Everything one assignment is computed from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AssignmentSpec {
    pub members: BTreeMap<MemberId, MemberSpec>,
    /// Every topic some member subscribes to.
    pub topics: BTreeMap<Uuid, TopicSpec>,
}

/// Why an assignor could not assign.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssignorError {
    #[error("a member subscribes to topic {0}, which the spec does not describe")]
    UnknownTopic(Uuid),
}

/// A server-side assignor.
pub trait Assignor: Send + Sync {
    /// The name members ask for in `group.remote.assignor` (`uniform`, `range`).
    fn name(&self) -> &'static str;

    /// The target assignment of every member of `spec` (members without partitions included,
    /// with none). Every partition of a subscribed topic goes to exactly one member that
    /// subscribes to its topic; partitions of topics nobody subscribes to go to nobody.
    fn assign(
        &self,
        spec: &AssignmentSpec,
    ) -> Result<BTreeMap<MemberId, TopicPartitions>, AssignorError>;
}
