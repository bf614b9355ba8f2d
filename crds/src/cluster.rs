//! `KafkaCluster`: a set of Fjord brokers.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Affinity, ResourceRequirements, Toleration};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

/// The desired state of a Fjord cluster: how many brokers, what they run, where
/// they keep their data and how they are configured.
#[allow(
    clippy::duplicated_attributes,
    reason = "each printcolumn(...) repeats the same keys"
)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "fjord.dev",
    version = "v1alpha1",
    kind = "KafkaCluster",
    plural = "kafkaclusters",
    shortname = "fkc",
    category = "fjord",
    namespaced,
    annotation("helm.sh/resource-policy", "keep"),
    status = "KafkaClusterStatus",
    derive = "PartialEq",
    doc = "A Fjord cluster: a StatefulSet of Kafka-compatible brokers with their Services, configuration and disruption budget.",
    scale(
        spec_replicas_path = ".spec.replicas",
        status_replicas_path = ".status.replicas",
        label_selector_path = ".status.selector"
    ),
    printcolumn(
        name = "Desired",
        type_ = "integer",
        json_path = ".spec.replicas",
        description = "Brokers asked for"
    ),
    printcolumn(
        name = "Ready",
        type_ = "integer",
        json_path = ".status.readyReplicas",
        description = "Brokers ready"
    ),
    printcolumn(
        name = "Status",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status",
        description = "Whether the cluster is ready"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason",
        description = "Why the cluster is (not) ready"
    ),
    printcolumn(
        name = "Bootstrap",
        type_ = "string",
        json_path = ".status.bootstrapServers",
        description = "Address clients connect to",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct KafkaClusterSpec {
    /// Number of brokers. Until multi-broker replication is available, only 0 or
    /// 1 is served; a higher number is reported as not ready.
    #[serde(default = "default_replicas")]
    #[schemars(range(min = 0, max = 256))]
    pub replicas: i32,

    /// Container image of the broker. Defaults to the broker image matching the
    /// operator's version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub image: Option<String>,

    /// When the kubelet pulls the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<ImagePullPolicy>,

    /// CPU and memory requests and limits of each broker container; each a
    /// Kubernetes quantity such as `500m` or `4Gi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = crate::quantity::pattern_resource_quantities)]
    pub resources: Option<ResourceRequirements>,

    /// The persistent volume each broker keeps its log segments on. Cannot be
    /// changed after creation (volume claim templates are immutable).
    #[serde(default)]
    #[x_kube(validation = Rule::new("self == oldSelf").message("storage cannot be changed after creation"))]
    pub storage: StorageSpec,

    /// Broker settings and default topic settings, by their Kafka names (for
    /// example `log.segment.bytes`, `retention.ms`, `num.partitions`). Written to
    /// the broker's configuration file; a change rolls the brokers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub config: BTreeMap<String, String>,

    /// The Kafka listeners clients connect to. Defaults to one plaintext
    /// listener named `kafka` on port 9092.
    #[serde(default = "default_listeners")]
    #[schemars(length(min = 1, max = 8))]
    #[x_kube(validation = Rule::new("self.all(l, self.exists_one(m, m.name == l.name))").message("listener names must be unique"))]
    #[x_kube(validation = Rule::new("self.all(l, self.exists_one(m, m.port == l.port))").message("listener ports must be unique"))]
    pub listeners: Vec<ListenerSpec>,

    /// Spreads brokers across failure domains and tells each broker its rack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rack: Option<RackSpec>,

    /// Moves closed log segments to an S3-compatible object store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tiered_storage: Option<TieredStorageSpec>,

    /// Overrides for the broker pods' template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<PodOverrides>,

    /// The PodDisruptionBudget guarding the brokers during voluntary disruptions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_disruption_budget: Option<PodDisruptionBudgetSpec>,
}

fn default_replicas() -> i32 {
    1
}

fn default_listeners() -> Vec<ListenerSpec> {
    vec![ListenerSpec {
        name: "kafka".to_owned(),
        port: 9092,
        tls: None,
        authentication: None,
    }]
}

/// When the kubelet pulls the broker image.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum ImagePullPolicy {
    Always,
    IfNotPresent,
    Never,
}

impl ImagePullPolicy {
    /// The name Kubernetes uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Always => "Always",
            Self::IfNotPresent => "IfNotPresent",
            Self::Never => "Never",
        }
    }
}

/// The persistent volume of each broker.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct StorageSpec {
    /// Size of each broker's volume, a Kubernetes quantity greater than zero,
    /// e.g. `100Gi`.
    #[serde(default = "default_storage_size")]
    #[schemars(schema_with = "crate::quantity::size_schema")]
    pub size: Quantity,

    /// StorageClass of the volumes; the cluster's default class when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class_name: Option<String>,
}

fn default_storage_size() -> Quantity {
    Quantity("10Gi".to_owned())
}

impl Default for StorageSpec {
    fn default() -> Self {
        Self {
            size: default_storage_size(),
            storage_class_name: None,
        }
    }
}

/// One Kafka listener.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListenerSpec {
    /// Name of the listener (also the name of its Service port).
    #[schemars(
        length(min = 1, max = 15),
        regex(pattern = r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
    )]
    pub name: String,

    /// TCP port the brokers listen on.
    #[schemars(range(min = 1024, max = 65535))]
    pub port: i32,

    /// TLS for this listener. Reported as not yet supported until the broker
    /// serves TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<ListenerTls>,

    /// How clients authenticate on this listener. Reported as not yet supported
    /// until the broker enforces authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication: Option<ListenerAuthentication>,
}

/// TLS settings of a listener.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListenerTls {
    /// Name of a `kubernetes.io/tls` Secret holding the server certificate and key.
    #[schemars(length(min = 1))]
    pub secret_name: String,
}

/// Client authentication mechanisms.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum ListenerAuthentication {
    #[serde(rename = "SCRAM-SHA-256")]
    ScramSha256,
    #[serde(rename = "SCRAM-SHA-512")]
    ScramSha512,
}

/// Rack awareness.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RackSpec {
    /// Node label whose value is the broker's rack, e.g.
    /// `topology.kubernetes.io/zone`. Brokers are spread evenly across its values.
    #[schemars(length(min = 1))]
    pub topology_key: String,
}

/// Tiered storage: closed segments move to an object store.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct TieredStorageSpec {
    /// The object store as a URL: `s3://bucket/prefix` or `file:///dir`.
    #[schemars(regex(pattern = r"^(s3|file)://.+$"))]
    pub bucket: String,

    /// A Secret whose keys (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// optionally `AWS_ENDPOINT_URL`, `AWS_REGION`) are given to the brokers as
    /// environment variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret_ref: Option<SecretRef>,

    /// Size of each broker's local cache of remote segment chunks, a
    /// Kubernetes quantity greater than zero, e.g. `1Gi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::quantity::size_schema")]
    pub cache_size: Option<Quantity>,

    /// Default `local.retention.ms` for topics: how long segments stay on the
    /// local volume once uploaded. -2 means "as long as `retention.ms`".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = -2))]
    pub default_local_retention_ms: Option<i64>,
}

/// A reference to a Secret in the resource's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretRef {
    /// Name of the Secret.
    #[schemars(length(min = 1))]
    pub name: String,
}

/// Overrides for the broker pods' template.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodOverrides {
    /// Extra labels on the broker pods.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,

    /// Extra annotations on the broker pods.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,

    /// Node labels the broker pods must be scheduled on.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,

    /// Tolerations of the broker pods.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,

    /// Scheduling affinity of the broker pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,

    /// PriorityClass of the broker pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_class_name: Option<String>,
}

/// The PodDisruptionBudget of the brokers.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodDisruptionBudgetSpec {
    /// Whether the operator creates the budget.
    #[serde(default = "default_true")]
    pub enabled: bool,

    /// How many brokers a voluntary disruption may take down at once.
    #[serde(default = "default_max_unavailable")]
    #[schemars(range(min = 1))]
    pub max_unavailable: i32,
}

fn default_true() -> bool {
    true
}

fn default_max_unavailable() -> i32 {
    1
}

/// The observed state of a Fjord cluster.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct KafkaClusterStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// `Ready`, `Progressing` and `Degraded`, with a reason and a message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,

    /// Broker pods that exist.
    #[serde(default)]
    pub replicas: i32,

    /// Broker pods that are ready.
    #[serde(default)]
    pub ready_replicas: i32,

    /// Label selector of the broker pods, for the scale subresource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,

    /// The address Kafka clients bootstrap from (`host:port`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap_servers: Option<String>,

    /// The Kafka cluster id the brokers share.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
}
