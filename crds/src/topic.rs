//! `Topic`: a Kafka topic kept in line with its resource.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

/// The desired state of a topic. The resource is authoritative: the operator
/// creates the topic, makes its configuration match exactly (keys removed here
/// go back to the broker default), adds partitions, and reverts drift.
#[allow(
    clippy::duplicated_attributes,
    reason = "each printcolumn(...) repeats the same keys"
)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "fjord.dev",
    version = "v1alpha1",
    kind = "Topic",
    plural = "topics",
    shortname = "ft",
    category = "fjord",
    namespaced,
    annotation("helm.sh/resource-policy", "keep"),
    status = "TopicStatus",
    derive = "PartialEq",
    doc = "A Kafka topic, created and kept in line with this resource by the Fjord operator.",
    printcolumn(
        name = "Topic",
        type_ = "string",
        json_path = ".status.topicName",
        description = "Name of the topic in Kafka"
    ),
    printcolumn(
        name = "Partitions",
        type_ = "integer",
        json_path = ".spec.partitions",
        description = "Partitions asked for"
    ),
    printcolumn(
        name = "Status",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status",
        description = "Whether the topic matches its resource"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason",
        description = "Why the topic is (not) ready"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.topicName) == has(oldSelf.topicName) && (!has(self.topicName) || self.topicName == oldSelf.topicName)").message("topicName cannot be changed"))]
#[x_kube(validation = Rule::new("!has(self.cleanupPolicy) || !has(self.config) || !('cleanup.policy' in self.config)").message("cleanup.policy is set both by cleanupPolicy and in config"))]
#[x_kube(validation = Rule::new("!has(self.tiered) || !has(self.config) || !('remote.storage.enable' in self.config)").message("remote.storage.enable is set both by tiered and in config"))]
#[x_kube(validation = Rule::new("!has(self.retention) || !has(self.config) || !((has(self.retention.ms) && 'retention.ms' in self.config) || (has(self.retention.bytes) && 'retention.bytes' in self.config))").message("retention is set both by retention and in config"))]
#[x_kube(validation = Rule::new("!has(self.localRetention) || !has(self.config) || !((has(self.localRetention.ms) && 'local.retention.ms' in self.config) || (has(self.localRetention.bytes) && 'local.retention.bytes' in self.config))").message("local retention is set both by localRetention and in config"))]
pub struct TopicSpec {
    /// Where the topic lives: a KafkaCluster in this namespace, or the
    /// bootstrap servers of any Kafka-compatible cluster. Cannot be changed.
    #[x_kube(validation = Rule::new("self == oldSelf").message("cluster cannot be changed"))]
    #[x_kube(validation = Rule::new("has(self.name) != has(self.bootstrapServers)").message("set exactly one of cluster.name and cluster.bootstrapServers"))]
    pub cluster: ClusterRef,

    /// Name of the topic in Kafka. Defaults to the resource's name. Cannot be
    /// changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 249), regex(pattern = r"^[a-zA-Z0-9._-]+$"))]
    pub topic_name: Option<String>,

    /// Number of partitions. May grow, never shrink.
    #[serde(default = "default_partitions")]
    #[schemars(range(min = 1, max = 100000))]
    #[x_kube(validation = Rule::new("self >= oldSelf").message("partitions cannot be decreased"))]
    pub partitions: i32,

    /// Copies of each partition. Defaults to the cluster's
    /// `default.replication.factor`. Cannot be changed yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 32))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("replicationFactor cannot be changed"))]
    pub replication_factor: Option<i32>,

    /// How long and how much data the topic keeps (`retention.ms`,
    /// `retention.bytes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<Retention>,

    /// How long and how much data stays on the brokers' local volumes when the
    /// topic is tiered (`local.retention.ms`, `local.retention.bytes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_retention: Option<Retention>,

    /// Whether closed segments move to the cluster's object store
    /// (`remote.storage.enable`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tiered: Option<bool>,

    /// How old records are removed (`cleanup.policy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cleanup_policy: Option<CleanupPolicy>,

    /// Any other topic configuration by its Kafka name, e.g.
    /// `segment.bytes: "1073741824"`. A key may not also be set by a typed field.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub config: BTreeMap<String, String>,

    /// What happens to the topic when this resource is deleted: `Delete` deletes
    /// it with all its data, `Retain` leaves it in the cluster.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,

    /// Take over a topic that already exists and was not created by this
    /// resource. Without it such a topic is left alone and reported.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adopt: bool,
}

fn default_partitions() -> i32 {
    1
}

/// Which cluster a topic lives on. Exactly one field is set.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterRef {
    /// Name of a KafkaCluster in the Topic's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub name: Option<String>,

    /// Comma-separated `host:port` list of any Kafka-compatible cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub bootstrap_servers: Option<String>,
}

/// Retention limits; -1 means unlimited.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Retention {
    /// Time limit in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = -1))]
    pub ms: Option<i64>,

    /// Size limit in bytes, per partition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = -1))]
    pub bytes: Option<i64>,
}

/// Kafka's `cleanup.policy`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum CleanupPolicy {
    #[serde(rename = "delete")]
    Delete,
    #[serde(rename = "compact")]
    Compact,
    #[serde(rename = "compact,delete")]
    CompactDelete,
}

impl CleanupPolicy {
    /// The value Kafka uses.
    pub fn as_kafka(self) -> &'static str {
        match self {
            Self::Delete => "delete",
            Self::Compact => "compact",
            Self::CompactDelete => "compact,delete",
        }
    }
}

/// What happens to the topic when its resource is deleted.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
pub enum DeletionPolicy {
    /// Delete the topic and its data.
    Delete,
    /// Leave the topic in the cluster.
    #[default]
    Retain,
}

/// The observed state of a topic.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct TopicStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// `Ready`, `Progressing` and `Degraded`, with a reason and a message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,

    /// Name of the topic in Kafka. Set before the operator creates the topic,
    /// which marks the topic as this resource's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_name: Option<String>,

    /// Kafka's id of the topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_id: Option<String>,

    /// Partitions the topic has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partitions: Option<i32>,

    /// Replicas of each partition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication_factor: Option<i32>,

    /// The topic's configuration as the broker reports it: every key not at its
    /// default, by Kafka name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub config: BTreeMap<String, String>,
}
