//! Pure builders: a validated KafkaCluster in, the Kubernetes objects that run
//! it out. No I/O; the reconciler applies what these return.
//!
//! Every object carries the `app.kubernetes.io/*` labels and a controller
//! owner reference to the KafkaCluster, so deleting the cluster garbage
//! collects them (the PVCs stay: their retention policy is `Retain`).
//!
//! The builders take any number of brokers: node id from the pod ordinal,
//! one advertised DNS name per pod under the headless Service. What limits a
//! cluster to one broker today is [`super::validate::MAX_SERVED_REPLICAS`].

use std::collections::BTreeMap;

use fjord_crds::KafkaCluster;
use k8s_openapi::api::apps::v1::{
    StatefulSet, StatefulSetPersistentVolumeClaimRetentionPolicy, StatefulSetSpec,
    StatefulSetUpdateStrategy,
};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMap, ConfigMapVolumeSource, Container, ContainerPort, EmptyDirVolumeSource,
    EnvFromSource, EnvVar, EnvVarSource, HTTPGetAction, ObjectFieldSelector, PersistentVolumeClaim,
    PersistentVolumeClaimSpec, PodSecurityContext, PodSpec, PodTemplateSpec, Probe, SeccompProfile,
    SecretEnvSource, SecurityContext, Service, ServiceAccount, ServicePort, ServiceSpec,
    TopologySpreadConstraint, Volume, VolumeMount, VolumeResourceRequirements,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::Resource as _;
use sha2::{Digest as _, Sha256};

/// Port of the broker's HTTP admin listener (/livez, /readyz, /metrics).
pub const ADMIN_PORT: i32 = 9644;
/// The broker's `--shutdown-timeout`; the pod's grace period is longer.
pub const SHUTDOWN_TIMEOUT_SECONDS: i64 = 30;
/// Pod annotation holding a hash of the rendered config: a change rolls the pods.
pub const CONFIG_HASH_ANNOTATION: &str = "fjord.dev/config-hash";
/// The key of the broker config file in the ConfigMap.
pub const CONFIG_FILE: &str = "server.properties";
const CONFIG_DIR: &str = "/etc/fjord";
const DATA_DIR: &str = "/var/lib/fjord";
/// Non-root user of the broker image.
const BROKER_UID: i64 = 65532;

/// Every object of one cluster, in the order they are applied.
#[derive(Debug, Clone)]
pub struct ClusterObjects {
    pub service_account: ServiceAccount,
    pub config_map: ConfigMap,
    pub headless_service: Service,
    pub bootstrap_service: Service,
    pub stateful_set: StatefulSet,
    /// `None` when the spec turns the budget off.
    pub pod_disruption_budget: Option<PodDisruptionBudget>,
}

/// Names of a cluster's objects, derived from the KafkaCluster's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    pub cluster: String,
    pub namespace: String,
    pub stateful_set: String,
    pub headless_service: String,
    pub bootstrap_service: String,
    pub config_map: String,
    pub service_account: String,
    pub pod_disruption_budget: String,
}

impl Names {
    pub fn of(cluster: &KafkaCluster) -> Self {
        let name = cluster.metadata.name.clone().unwrap_or_default();
        Self {
            namespace: cluster.metadata.namespace.clone().unwrap_or_default(),
            stateful_set: format!("{name}-broker"),
            headless_service: format!("{name}-brokers"),
            bootstrap_service: format!("{name}-bootstrap"),
            config_map: format!("{name}-config"),
            service_account: format!("{name}-broker"),
            pod_disruption_budget: format!("{name}-broker"),
            cluster: name,
        }
    }

    /// `host:port` of the bootstrap Service for the first listener.
    pub fn bootstrap_servers(&self, cluster: &KafkaCluster) -> String {
        let port = cluster.spec.listeners.first().map_or(9092, |l| l.port);
        format!("{}.{}.svc:{port}", self.bootstrap_service, self.namespace)
    }
}

/// The Kafka cluster id of a KafkaCluster: its uid's 16 bytes in unpadded
/// URL-safe base64, the form Kafka uses. Stable for the resource's life.
pub fn cluster_id(cluster: &KafkaCluster) -> Option<String> {
    let uid = cluster.metadata.uid.as_deref()?;
    let bytes = match uuid::Uuid::parse_str(uid) {
        Ok(id) => id.into_bytes(),
        // Not a UUID (only in hand-written objects): hash it instead.
        Err(_) => {
            let digest = Sha256::digest(uid.as_bytes());
            let mut bytes = [0u8; 16];
            bytes.copy_from_slice(&digest[..16]);
            bytes
        }
    };
    Some(base64_url(&bytes))
}

fn base64_url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// Labels that select a cluster's broker pods. Never change them: a
/// StatefulSet's selector is immutable.
pub fn selector_labels(names: &Names) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".to_owned(), "fjord".to_owned()),
        (
            "app.kubernetes.io/instance".to_owned(),
            names.cluster.clone(),
        ),
        (
            "app.kubernetes.io/component".to_owned(),
            "broker".to_owned(),
        ),
    ])
}

/// The label selector of the broker pods as a string, for the scale subresource.
pub fn selector_string(names: &Names) -> String {
    selector_labels(names)
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn labels(names: &Names) -> BTreeMap<String, String> {
    let mut labels = selector_labels(names);
    labels.insert("app.kubernetes.io/part-of".to_owned(), "fjord".to_owned());
    labels.insert(
        "app.kubernetes.io/managed-by".to_owned(),
        "fjord-operator".to_owned(),
    );
    labels
}

fn meta(cluster: &KafkaCluster, names: &Names, name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: Some(names.namespace.clone()),
        labels: Some(labels(names)),
        owner_references: owner_reference(cluster).map(|o| vec![o]),
        ..ObjectMeta::default()
    }
}

fn owner_reference(cluster: &KafkaCluster) -> Option<OwnerReference> {
    cluster.controller_owner_ref(&())
}

/// The broker config file: the spec's `config`, sorted, `key=value` per line.
pub fn render_config(cluster: &KafkaCluster) -> String {
    let mut out =
        String::from("# Rendered by fjord-operator from the KafkaCluster's spec.config.\n");
    for (key, value) in &cluster.spec.config {
        // The value is one line: a newline would start another setting.
        let value = value.replace(['\n', '\r'], " ");
        out.push_str(&format!("{key}={value}\n"));
    }
    out
}

/// Short hash of the rendered config, stamped on the pod template.
pub fn config_hash(config: &str) -> String {
    Sha256::digest(config.as_bytes())
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Builds every object of a validated cluster.
pub fn build(cluster: &KafkaCluster, default_image: &str) -> ClusterObjects {
    let names = Names::of(cluster);
    let config = render_config(cluster);
    let hash = config_hash(&config);
    ClusterObjects {
        service_account: ServiceAccount {
            metadata: meta(cluster, &names, &names.service_account),
            automount_service_account_token: Some(false),
            ..ServiceAccount::default()
        },
        config_map: ConfigMap {
            metadata: meta(cluster, &names, &names.config_map),
            data: Some(BTreeMap::from([(CONFIG_FILE.to_owned(), config)])),
            ..ConfigMap::default()
        },
        headless_service: headless_service(cluster, &names),
        bootstrap_service: bootstrap_service(cluster, &names),
        stateful_set: stateful_set(cluster, &names, default_image, &hash),
        pod_disruption_budget: pod_disruption_budget(cluster, &names),
    }
}

fn listener_ports(cluster: &KafkaCluster) -> Vec<ServicePort> {
    cluster
        .spec
        .listeners
        .iter()
        .map(|l| ServicePort {
            name: Some(l.name.clone()),
            port: l.port,
            target_port: Some(IntOrString::String(l.name.clone())),
            protocol: Some("TCP".to_owned()),
            app_protocol: Some("kafka".to_owned()),
            ..ServicePort::default()
        })
        .collect()
}

fn headless_service(cluster: &KafkaCluster, names: &Names) -> Service {
    let mut ports = listener_ports(cluster);
    ports.push(ServicePort {
        name: Some("admin".to_owned()),
        port: ADMIN_PORT,
        target_port: Some(IntOrString::String("admin".to_owned())),
        protocol: Some("TCP".to_owned()),
        app_protocol: Some("http".to_owned()),
        ..ServicePort::default()
    });
    Service {
        metadata: meta(cluster, names, &names.headless_service),
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".to_owned()),
            // Brokers find each other before they are ready.
            publish_not_ready_addresses: Some(true),
            selector: Some(selector_labels(names)),
            ports: Some(ports),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

fn bootstrap_service(cluster: &KafkaCluster, names: &Names) -> Service {
    Service {
        metadata: meta(cluster, names, &names.bootstrap_service),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".to_owned()),
            selector: Some(selector_labels(names)),
            ports: Some(listener_ports(cluster)),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

fn pod_disruption_budget(cluster: &KafkaCluster, names: &Names) -> Option<PodDisruptionBudget> {
    let spec = cluster.spec.pod_disruption_budget.as_ref();
    if spec.is_some_and(|p| !p.enabled) {
        return None;
    }
    let max_unavailable = spec.map_or(1, |p| p.max_unavailable);
    Some(PodDisruptionBudget {
        metadata: meta(cluster, names, &names.pod_disruption_budget),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(max_unavailable)),
            selector: Some(LabelSelector {
                match_labels: Some(selector_labels(names)),
                ..LabelSelector::default()
            }),
            ..PodDisruptionBudgetSpec::default()
        }),
        ..PodDisruptionBudget::default()
    })
}

fn field_env(name: &str, path: &str) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: path.to_owned(),
                ..ObjectFieldSelector::default()
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }
}

fn broker_container(cluster: &KafkaCluster, names: &Names, default_image: &str) -> Container {
    let spec = &cluster.spec;
    let listener = spec.listeners.first();
    let port = listener.map_or(9092, |l| l.port);
    let mut args = vec![
        "--config".to_owned(),
        format!("{CONFIG_DIR}/{CONFIG_FILE}"),
        "--data-dir".to_owned(),
        format!("{DATA_DIR}/data"),
        // All interfaces inside the pod; clients are told the pod's own DNS name.
        "--listen".to_owned(),
        format!("0.0.0.0:{port}"),
        "--advertised-address".to_owned(),
        format!(
            "$(POD_NAME).{}.$(POD_NAMESPACE).svc:{port}",
            names.headless_service
        ),
        "--admin-listen".to_owned(),
        format!("0.0.0.0:{ADMIN_PORT}"),
        "--shutdown-timeout".to_owned(),
        format!("{SHUTDOWN_TIMEOUT_SECONDS}s"),
    ];
    if let Some(id) = cluster_id(cluster) {
        args.push("--cluster-id".to_owned());
        args.push(id);
    }
    let mut env = vec![
        field_env("POD_NAME", "metadata.name"),
        field_env("POD_NAMESPACE", "metadata.namespace"),
        // The StatefulSet ordinal is the node id.
        field_env(
            "FJORD_NODE_ID",
            "metadata.labels['apps.kubernetes.io/pod-index']",
        ),
        EnvVar {
            name: "FJORD_LOG_FORMAT".to_owned(),
            value: Some("json".to_owned()),
            ..EnvVar::default()
        },
    ];
    if let Some(rack) = &spec.rack {
        // Needs the node's topology labels copied onto the pod (Kubernetes
        // pod topology labels); an unset label leaves the rack empty.
        env.push(field_env(
            "FJORD_RACK",
            &format!("metadata.labels['{}']", rack.topology_key),
        ));
    }
    let env_from = spec
        .tiered_storage
        .as_ref()
        .and_then(|t| t.credentials_secret_ref.as_ref())
        .map(|secret| {
            vec![EnvFromSource {
                secret_ref: Some(SecretEnvSource {
                    name: secret.name.clone(),
                    optional: Some(false),
                }),
                ..EnvFromSource::default()
            }]
        });
    let mut ports: Vec<ContainerPort> = spec
        .listeners
        .iter()
        .map(|l| ContainerPort {
            name: Some(l.name.clone()),
            container_port: l.port,
            protocol: Some("TCP".to_owned()),
            ..ContainerPort::default()
        })
        .collect();
    ports.push(ContainerPort {
        name: Some("admin".to_owned()),
        container_port: ADMIN_PORT,
        protocol: Some("TCP".to_owned()),
        ..ContainerPort::default()
    });
    let probe = |path: &str, period: i32, failures: i32| Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_owned()),
            port: IntOrString::String("admin".to_owned()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        failure_threshold: Some(failures),
        timeout_seconds: Some(2),
        ..Probe::default()
    };
    Container {
        name: "broker".to_owned(),
        image: Some(
            spec.image
                .clone()
                .unwrap_or_else(|| default_image.to_owned()),
        ),
        image_pull_policy: spec.image_pull_policy.map(|p| p.as_str().to_owned()),
        args: Some(args),
        env: Some(env),
        env_from,
        ports: Some(ports),
        resources: spec.resources.clone(),
        // Ready means caught up: the broker answers /readyz only then.
        readiness_probe: Some(probe("/readyz", 5, 3)),
        liveness_probe: Some(probe("/livez", 10, 6)),
        // Log recovery after a crash may take a while: up to 10 minutes.
        startup_probe: Some(probe("/livez", 5, 120)),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            run_as_non_root: Some(true),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".to_owned()]),
                ..Capabilities::default()
            }),
            ..SecurityContext::default()
        }),
        volume_mounts: Some(vec![
            VolumeMount {
                name: "data".to_owned(),
                mount_path: DATA_DIR.to_owned(),
                ..VolumeMount::default()
            },
            VolumeMount {
                name: "config".to_owned(),
                mount_path: CONFIG_DIR.to_owned(),
                read_only: Some(true),
                ..VolumeMount::default()
            },
            VolumeMount {
                name: "tmp".to_owned(),
                mount_path: "/tmp".to_owned(),
                ..VolumeMount::default()
            },
        ]),
        ..Container::default()
    }
}

fn stateful_set(
    cluster: &KafkaCluster,
    names: &Names,
    default_image: &str,
    hash: &str,
) -> StatefulSet {
    let spec = &cluster.spec;
    let pod = spec.pod.clone().unwrap_or_default();
    let mut pod_labels = pod.labels.clone();
    // The selector labels win over user labels: they must keep matching.
    pod_labels.extend(labels(names));
    let mut annotations = pod.annotations.clone();
    annotations.insert(CONFIG_HASH_ANNOTATION.to_owned(), hash.to_owned());
    let topology_spread_constraints = spec.rack.as_ref().map(|rack| {
        vec![TopologySpreadConstraint {
            max_skew: 1,
            topology_key: rack.topology_key.clone(),
            when_unsatisfiable: "DoNotSchedule".to_owned(),
            label_selector: Some(LabelSelector {
                match_labels: Some(selector_labels(names)),
                ..LabelSelector::default()
            }),
            ..TopologySpreadConstraint::default()
        }]
    });
    let non_empty = |m: BTreeMap<String, String>| (!m.is_empty()).then_some(m);
    let template = PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(pod_labels),
            annotations: Some(annotations),
            ..ObjectMeta::default()
        }),
        spec: Some(PodSpec {
            service_account_name: Some(names.service_account.clone()),
            automount_service_account_token: Some(false),
            enable_service_links: Some(false),
            termination_grace_period_seconds: Some(SHUTDOWN_TIMEOUT_SECONDS + 30),
            security_context: Some(PodSecurityContext {
                run_as_non_root: Some(true),
                run_as_user: Some(BROKER_UID),
                run_as_group: Some(BROKER_UID),
                fs_group: Some(BROKER_UID),
                seccomp_profile: Some(SeccompProfile {
                    type_: "RuntimeDefault".to_owned(),
                    ..SeccompProfile::default()
                }),
                ..PodSecurityContext::default()
            }),
            containers: vec![broker_container(cluster, names, default_image)],
            volumes: Some(vec![
                Volume {
                    name: "config".to_owned(),
                    config_map: Some(ConfigMapVolumeSource {
                        name: names.config_map.clone(),
                        ..ConfigMapVolumeSource::default()
                    }),
                    ..Volume::default()
                },
                Volume {
                    name: "tmp".to_owned(),
                    empty_dir: Some(EmptyDirVolumeSource::default()),
                    ..Volume::default()
                },
            ]),
            node_selector: non_empty(pod.node_selector),
            tolerations: (!pod.tolerations.is_empty()).then_some(pod.tolerations),
            affinity: pod.affinity,
            priority_class_name: pod.priority_class_name,
            topology_spread_constraints,
            ..PodSpec::default()
        }),
    };
    let data_claim = PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some("data".to_owned()),
            labels: Some(selector_labels(names)),
            ..ObjectMeta::default()
        },
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".to_owned()]),
            storage_class_name: spec.storage.storage_class_name.clone(),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([(
                    "storage".to_owned(),
                    spec.storage.size.clone(),
                )])),
                ..VolumeResourceRequirements::default()
            }),
            ..PersistentVolumeClaimSpec::default()
        }),
        ..PersistentVolumeClaim::default()
    };
    StatefulSet {
        metadata: meta(cluster, names, &names.stateful_set),
        spec: StatefulSetSpec {
            replicas: Some(spec.replicas),
            service_name: Some(names.headless_service.clone()),
            selector: LabelSelector {
                match_labels: Some(selector_labels(names)),
                ..LabelSelector::default()
            },
            // Brokers of a quorum must start together; rolling updates still
            // go one pod at a time and wait for readiness.
            pod_management_policy: Some("Parallel".to_owned()),
            update_strategy: Some(StatefulSetUpdateStrategy {
                type_: Some("RollingUpdate".to_owned()),
                ..StatefulSetUpdateStrategy::default()
            }),
            persistent_volume_claim_retention_policy: Some(
                StatefulSetPersistentVolumeClaimRetentionPolicy {
                    when_deleted: Some("Retain".to_owned()),
                    when_scaled: Some("Retain".to_owned()),
                },
            ),
            template,
            volume_claim_templates: Some(vec![data_claim]),
            ..StatefulSetSpec::default()
        },
        ..StatefulSet::default()
    }
}

#[cfg(test)]
#[path = "build_tests.rs"]
mod tests;
