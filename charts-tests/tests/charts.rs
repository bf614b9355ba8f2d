//! The Helm charts, rendered by the real Helm 3 and Helm 4 over several value
//! sets: lint, round-trip through the Kubernetes types, schema checks of the
//! custom resources, and the properties that matter (least-privilege RBAC,
//! probes, security context, resources, labels, CRDs identical to crdgen).

use std::collections::BTreeSet;

use fjord_charts_tests::helm::{self, Helm};
use fjord_charts_tests::schema;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

const OPERATOR: &str = "fjord-operator";
const CLUSTER: &str = "fjord-cluster";
const RELEASE_NS: &str = "fjord-system";

/// Value sets of the operator chart: defaults, everything switched on and
/// scoped to one namespace, and bring-your-own CRDs/ServiceAccount/RBAC.
const OPERATOR_VALUES: &[(&str, &str)] = &[
    ("defaults", ""),
    (
        "namespaced",
        r#"
watchNamespace: apps
replicas: 2
leaderElection: {enabled: false}
image: {tag: "1.2.3"}
log: {level: debug, format: human}
metrics: {serviceMonitor: {enabled: true, labels: {release: prom}}}
podAnnotations: {team: streaming}
podLabels: {tier: platform}
priorityClassName: system-cluster-critical
nodeSelector: {kubernetes.io/os: linux}
tolerations: [{key: dedicated, operator: Equal, value: infra, effect: NoSchedule}]
affinity:
  podAntiAffinity:
    preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        podAffinityTerm:
          topologyKey: kubernetes.io/hostname
          labelSelector: {matchLabels: {app.kubernetes.io/name: fjord-operator}}
"#,
    ),
    (
        "bring-your-own",
        r#"
crds: {install: false}
serviceAccount: {create: false, name: platform-operator}
rbac: {create: false}
metrics: {service: {enabled: false}}
"#,
    ),
];

/// Value sets of the cluster chart.
const CLUSTER_VALUES: &[(&str, &str)] = &[
    ("defaults", ""),
    (
        "full",
        r#"
cluster:
  name: events
  replicas: 1
  image: example.org/fjord-broker:1.2.3
  storage: {size: 200Gi, storageClassName: fast-ssd}
  config: {num.partitions: 6, log.retention.ms: 604800000, log.cleaner.min.cleanable.ratio: 0.5, auto.create.topics.enable: false}
  resources: {requests: {cpu: "2", memory: 4Gi}, limits: {memory: 4Gi}}
  listeners: [{name: kafka, port: 9092}]
  rack: {topologyKey: topology.kubernetes.io/zone}
  pod:
    labels: {team: data}
    nodeSelector: {disk: ssd}
    tolerations: [{key: dedicated, operator: Equal, value: kafka, effect: NoSchedule}]
    priorityClassName: high
  podDisruptionBudget: {enabled: true, maxUnavailable: 1}
topics:
  - name: orders
    partitions: 6
    replicationFactor: 1
    retention: {ms: 604800000, bytes: -1}
    cleanupPolicy: delete
    config: {segment.bytes: 1073741824, max.message.bytes: 1048588}
    deletionPolicy: Delete
  - name: customers
    topicName: customers.v1
    cleanupPolicy: compact
  - name: clicks
    tiered: true
    localRetention: {ms: 3600000}
"#,
    ),
];

fn render(helm: &Helm, chart: &str, values: &str) -> Vec<Value> {
    helm.template(chart, "fjord", RELEASE_NS, values)
        .unwrap_or_else(|e| panic!("helm {} template {chart}: {e:#}", helm.major))
}

fn every_rendering() -> Vec<(String, &'static str, Vec<Value>)> {
    let mut out = Vec::new();
    for helm in helm::all() {
        for (chart, sets) in [(OPERATOR, OPERATOR_VALUES), (CLUSTER, CLUSTER_VALUES)] {
            for (name, values) in sets {
                out.push((
                    format!("helm {} {chart} {name}", helm.major),
                    chart,
                    render(&helm, chart, values),
                ));
            }
        }
    }
    out
}

fn of_kind<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| o["kind"] == kind).collect()
}

fn one<T: DeserializeOwned>(objects: &[Value], kind: &str) -> T {
    let found = of_kind(objects, kind);
    assert_eq!(found.len(), 1, "expected one {kind}, found {}", found.len());
    serde_json::from_value(found[0].clone())
        .unwrap_or_else(|e| panic!("{kind} does not parse: {e}"))
}

/// Every field of `original` is in `after` with the same value.
fn survives(original: &Value, after: &Value, path: &str, lost: &mut Vec<String>) {
    match (original, after) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in a {
                match b.get(key) {
                    Some(other) => survives(value, other, &format!("{path}.{key}"), lost),
                    None => lost.push(format!("{path}.{key}")),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                survives(x, y, &format!("{path}[{i}]"), lost);
            }
        }
        (Value::Number(a), Value::Number(b)) if a.as_f64() == b.as_f64() => {}
        (a, b) if a == b => {}
        (a, b) => lost.push(format!("{path}: {a} became {b}")),
    }
}

fn round_trip<T: DeserializeOwned + Serialize>(object: &Value) -> Result<Value, String> {
    let typed: T = serde_json::from_value(object.clone()).map_err(|e| e.to_string())?;
    serde_json::to_value(&typed).map_err(|e| e.to_string())
}

#[test]
fn charts_lint_strictly_with_every_value_set() {
    for helm in helm::all() {
        for (chart, sets) in [(OPERATOR, OPERATOR_VALUES), (CLUSTER, CLUSTER_VALUES)] {
            for (name, values) in sets {
                helm.lint(chart, values)
                    .unwrap_or_else(|e| panic!("helm {} lint {chart} ({name}): {e:#}", helm.major));
            }
        }
    }
}

#[test]
fn every_rendered_object_survives_a_round_trip_through_its_type() {
    for (label, _, objects) in every_rendering() {
        for object in &objects {
            let kind = (
                object["apiVersion"].as_str().unwrap_or(""),
                object["kind"].as_str().unwrap_or(""),
            );
            let after = match kind {
                ("v1", "ServiceAccount") => round_trip::<ServiceAccount>(object),
                ("v1", "Service") => round_trip::<Service>(object),
                ("apps/v1", "Deployment") => round_trip::<Deployment>(object),
                ("rbac.authorization.k8s.io/v1", "ClusterRole") => {
                    round_trip::<ClusterRole>(object)
                }
                ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => {
                    round_trip::<ClusterRoleBinding>(object)
                }
                ("rbac.authorization.k8s.io/v1", "Role") => round_trip::<Role>(object),
                ("rbac.authorization.k8s.io/v1", "RoleBinding") => {
                    round_trip::<RoleBinding>(object)
                }
                ("apiextensions.k8s.io/v1", "CustomResourceDefinition") => {
                    round_trip::<CustomResourceDefinition>(object)
                }
                ("fjord.dev/v1alpha1", "KafkaCluster") => {
                    round_trip::<fjord_crds::KafkaCluster>(object)
                }
                ("fjord.dev/v1alpha1", "Topic") => round_trip::<fjord_crds::Topic>(object),
                // Not a Kubernetes type: its shape is asserted in its own test.
                ("monitoring.coreos.com/v1", "ServiceMonitor") => Ok(object.clone()),
                other => panic!("{label}: no type for {other:?}; add it to this test"),
            };
            let after = after.unwrap_or_else(|e| panic!("{label}: {kind:?} does not parse: {e}"));
            let mut lost = Vec::new();
            survives(object, &after, "", &mut lost);
            assert!(
                lost.is_empty(),
                "{label}: {kind:?} lost fields in a round trip: {lost:#?}"
            );
        }
    }
}

#[test]
fn chart_crds_are_exactly_crdgen_output() {
    let file = std::fs::read_to_string(helm::charts_dir().join("fjord-operator/files/crds.yaml"))
        .expect("chart CRDs");
    assert!(
        file == fjord_crds::crds_yaml().expect("CRDs render"),
        "helm/fjord-operator/files/crds.yaml is stale: run scripts/crdgen"
    );
    let generated: Vec<Value> = fjord_crds::crds()
        .iter()
        .map(|c| serde_json::to_value(c).expect("CRD serializes"))
        .collect();
    for helm in helm::all() {
        let objects = render(&helm, OPERATOR, "");
        let rendered: Vec<Value> = of_kind(&objects, "CustomResourceDefinition")
            .into_iter()
            .cloned()
            .collect();
        assert_eq!(
            rendered, generated,
            "helm {}: rendered CRDs differ from crdgen",
            helm.major
        );
        for crd in &rendered {
            assert_eq!(
                crd["metadata"]["annotations"]["helm.sh/resource-policy"],
                "keep"
            );
        }
        let without = render(&helm, OPERATOR, "crds: {install: false}");
        assert!(of_kind(&without, "CustomResourceDefinition").is_empty());
    }
}

#[test]
fn custom_resources_satisfy_their_crd_schemas() {
    let crds: Vec<Value> = fjord_crds::crds()
        .iter()
        .map(|c| serde_json::to_value(c).expect("CRD serializes"))
        .collect();
    let schema_of = |kind: &str| {
        crds.iter()
            .find(|c| c["spec"]["names"]["kind"] == kind)
            .map(schema::crd_schema)
            .unwrap_or_else(|| panic!("no CRD for {kind}"))
    };
    let mut checked = 0;
    for (label, _, objects) in every_rendering() {
        for object in objects
            .iter()
            .filter(|o| o["apiVersion"] == "fjord.dev/v1alpha1")
        {
            let kind = object["kind"].as_str().unwrap_or_default();
            let errors = schema::validate(schema_of(kind), object);
            assert!(
                errors.is_empty(),
                "{label}: {kind} {} violates its schema:\n{}",
                object["metadata"]["name"],
                errors.join("\n")
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 10,
        "only {checked} custom resources were checked"
    );
}

#[test]
fn schema_checks_catch_what_a_chart_could_get_wrong() {
    let crd = serde_json::to_value(&fjord_crds::crds()[1]).expect("Topic CRD");
    let bad = serde_json::json!({
        "apiVersion": "fjord.dev/v1alpha1", "kind": "Topic", "metadata": {"name": "t"},
        "spec": {"cluster": {"name": "main"}, "partitions": 0, "config": {"segment.bytes": 5}, "retention": {"ms": 1}, "partitionz": 3}
    });
    let errors = schema::validate(schema::crd_schema(&crd), &bad).join("\n");
    assert!(
        errors.contains(".spec.partitions: 0 is below the minimum"),
        "{errors}"
    );
    assert!(
        errors.contains(".spec.config.segment.bytes: expected string"),
        "{errors}"
    );
    assert!(
        errors.contains(".spec.partitionz: unknown field"),
        "{errors}"
    );
}

fn rules(objects: &[Value], kind: &str) -> Vec<PolicyRule> {
    let found = of_kind(objects, kind);
    assert_eq!(found.len(), 1, "expected one {kind}");
    serde_json::from_value::<Vec<PolicyRule>>(found[0]["rules"].clone()).expect("rules parse")
}

/// `group/resource verb` for every grant.
fn grants(rules: &[PolicyRule]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for rule in rules {
        for group in rule.api_groups.clone().unwrap_or_default() {
            for resource in rule.resources.clone().unwrap_or_default() {
                for verb in &rule.verbs {
                    out.insert(format!("{group}/{resource} {verb}"));
                }
            }
        }
        assert!(
            rule.non_resource_urls.is_none(),
            "no non-resource URLs: {rule:?}"
        );
        assert!(rule.resource_names.is_none() || rule.resources.is_some());
    }
    out
}

/// Exactly what the controllers use. Widening this list is a decision.
const OPERATOR_GRANTS: &[&str] = &[
    "fjord.dev/kafkaclusters get",
    "fjord.dev/kafkaclusters list",
    "fjord.dev/kafkaclusters watch",
    "fjord.dev/topics get",
    "fjord.dev/topics list",
    "fjord.dev/topics watch",
    "fjord.dev/topics patch",
    "fjord.dev/kafkaclusters/status patch",
    "fjord.dev/topics/status patch",
    "apps/statefulsets list",
    "apps/statefulsets watch",
    "apps/statefulsets create",
    "apps/statefulsets patch",
    "/services list",
    "/services watch",
    "/services create",
    "/services patch",
    "/configmaps list",
    "/configmaps watch",
    "/configmaps create",
    "/configmaps patch",
    "/serviceaccounts create",
    "/serviceaccounts patch",
    "/pods list",
    "policy/poddisruptionbudgets create",
    "policy/poddisruptionbudgets patch",
    "policy/poddisruptionbudgets delete",
    "events.k8s.io/events create",
    "events.k8s.io/events patch",
];

#[test]
fn operator_rbac_grants_exactly_what_the_controllers_use() {
    let expected: BTreeSet<String> = OPERATOR_GRANTS.iter().map(|s| (*s).to_owned()).collect();
    for helm in helm::all() {
        let objects = render(&helm, OPERATOR, "");
        let granted = grants(&rules(&objects, "ClusterRole"));
        assert_eq!(
            granted, expected,
            "helm {}: ClusterRole differs from what the controllers use",
            helm.major
        );
        for grant in &granted {
            assert!(!grant.contains('*'), "wildcard grant {grant}");
            assert!(
                !grant.contains("secrets") && !grant.contains("customresourcedefinitions"),
                "{grant}"
            );
        }
        // Leader election: only Leases, only in the operator's own namespace.
        let roles = of_kind(&objects, "Role");
        assert_eq!(roles.len(), 1);
        assert_eq!(roles[0]["metadata"]["namespace"], RELEASE_NS);
        let lease: Vec<PolicyRule> =
            serde_json::from_value(roles[0]["rules"].clone()).expect("rules");
        let lease_grants: Vec<String> = grants(&lease).into_iter().collect();
        assert_eq!(
            lease_grants,
            [
                "coordination.k8s.io/leases create",
                "coordination.k8s.io/leases get",
                "coordination.k8s.io/leases update"
            ]
        );
        let binding: ClusterRoleBinding = one(&objects, "ClusterRoleBinding");
        let subject = &binding.subjects.expect("subjects")[0];
        assert_eq!(
            (subject.kind.as_str(), subject.namespace.as_deref()),
            ("ServiceAccount", Some(RELEASE_NS))
        );
        let sa: ServiceAccount = one(&objects, "ServiceAccount");
        assert_eq!(sa.metadata.name.as_deref(), Some(subject.name.as_str()));
    }
}

#[test]
fn a_watched_namespace_gets_a_role_instead_of_a_cluster_role() {
    let expected: BTreeSet<String> = OPERATOR_GRANTS.iter().map(|s| (*s).to_owned()).collect();
    for helm in helm::all() {
        let objects = render(&helm, OPERATOR, OPERATOR_VALUES[1].1);
        assert!(of_kind(&objects, "ClusterRole").is_empty());
        assert!(of_kind(&objects, "ClusterRoleBinding").is_empty());
        let role: Role = one(&objects, "Role");
        assert_eq!(role.metadata.namespace.as_deref(), Some("apps"));
        assert_eq!(grants(&role.rules.expect("rules")), expected);
        let binding: RoleBinding = one(&objects, "RoleBinding");
        assert_eq!(binding.metadata.namespace.as_deref(), Some("apps"));
        let deployment: Deployment = one(&objects, "Deployment");
        let env = deployment.spec.template.spec.expect("pod").containers[0]
            .env
            .clone()
            .expect("env");
        let watch = env
            .iter()
            .find(|e| e.name == "FJORD_WATCH_NAMESPACE")
            .expect("watch env");
        assert_eq!(watch.value.as_deref(), Some("apps"));
        let monitor = of_kind(&objects, "ServiceMonitor");
        assert_eq!(monitor.len(), 1);
        assert_eq!(monitor[0]["spec"]["endpoints"][0]["port"], "metrics");
        assert_eq!(monitor[0]["metadata"]["labels"]["release"], "prom");
    }
}

#[test]
fn the_operator_deployment_is_hardened_probed_and_resourced() {
    for helm in helm::all() {
        for (name, values) in OPERATOR_VALUES {
            let objects = render(&helm, OPERATOR, values);
            let label = format!("helm {} {name}", helm.major);
            let deployment: Deployment = one(&objects, "Deployment");
            let spec = deployment.spec;
            let pod = spec.template.spec.clone().expect("pod spec");
            let pod_security = pod.security_context.clone().expect("pod security context");
            assert_eq!(pod_security.run_as_non_root, Some(true), "{label}");
            let container = &pod.containers[0];
            let security = container
                .security_context
                .clone()
                .expect("security context");
            assert_eq!(security.read_only_root_filesystem, Some(true), "{label}");
            assert_eq!(security.allow_privilege_escalation, Some(false), "{label}");
            assert_eq!(
                security.capabilities.and_then(|c| c.drop),
                Some(vec!["ALL".to_owned()]),
                "{label}"
            );
            let path = |p: &Option<k8s_openapi::api::core::v1::Probe>| {
                p.as_ref()
                    .and_then(|p| p.http_get.as_ref())
                    .and_then(|h| h.path.clone())
            };
            assert_eq!(
                path(&container.liveness_probe).as_deref(),
                Some("/livez"),
                "{label}"
            );
            assert_eq!(
                path(&container.readiness_probe).as_deref(),
                Some("/readyz"),
                "{label}"
            );
            let resources = container.resources.clone().expect("resources");
            assert!(
                resources.requests.is_some_and(|r| r.contains_key("memory")),
                "{label}"
            );
            assert!(
                resources.limits.is_some_and(|l| l.contains_key("memory")),
                "{label}"
            );
            assert_eq!(
                container.args.as_deref(),
                Some(&["run".to_owned()][..]),
                "{label}"
            );
            let selector = spec.selector.match_labels.expect("selector");
            let labels = spec
                .template
                .metadata
                .and_then(|m| m.labels)
                .expect("pod labels");
            for (k, v) in &selector {
                assert_eq!(
                    labels.get(k),
                    Some(v),
                    "{label}: the selector must match the pod"
                );
            }
        }
    }
}

#[test]
fn every_fjord_env_var_of_the_deployment_is_a_flag_of_the_operator() {
    use clap::CommandFactory as _;
    let cli = fjord_operator::cli::Cli::command();
    let run = cli.find_subcommand("run").expect("run subcommand");
    let known: BTreeSet<String> = run
        .get_arguments()
        .filter_map(|a| a.get_env())
        .map(|e| e.to_string_lossy().into_owned())
        .collect();
    for helm in helm::all() {
        let deployment: Deployment = one(&render(&helm, OPERATOR, ""), "Deployment");
        let env = deployment.spec.template.spec.expect("pod").containers[0]
            .env
            .clone()
            .expect("env");
        for var in env.iter().filter(|e| e.name.starts_with("FJORD_")) {
            assert!(
                known.contains(&var.name),
                "{} is not read by `fjord-operator run` (known: {known:?})",
                var.name
            );
        }
    }
}

#[test]
fn every_object_carries_the_standard_labels() {
    for (label, chart, objects) in every_rendering() {
        for object in objects
            .iter()
            .filter(|o| o["kind"] != "CustomResourceDefinition")
        {
            let labels = &object["metadata"]["labels"];
            for key in [
                "app.kubernetes.io/name",
                "app.kubernetes.io/instance",
                "app.kubernetes.io/managed-by",
                "app.kubernetes.io/version",
                "app.kubernetes.io/part-of",
                "helm.sh/chart",
            ] {
                assert!(
                    labels[key].is_string(),
                    "{label}: {} {} has no {key}",
                    object["kind"],
                    object["metadata"]["name"]
                );
            }
            assert!(
                labels["helm.sh/chart"]
                    .as_str()
                    .is_some_and(|c| c.starts_with(chart))
            );
        }
    }
}

#[test]
fn the_cluster_chart_renders_topics_on_its_cluster_with_string_configs() {
    for helm in helm::all() {
        let objects = render(&helm, CLUSTER, CLUSTER_VALUES[1].1);
        let cluster: fjord_crds::KafkaCluster = one(&objects, "KafkaCluster");
        assert_eq!(cluster.metadata.name.as_deref(), Some("events"));
        assert_eq!(cluster.metadata.namespace.as_deref(), Some(RELEASE_NS));
        assert_eq!(cluster.spec.config["log.retention.ms"], "604800000");
        assert_eq!(
            cluster.spec.config["log.cleaner.min.cleanable.ratio"],
            "0.5"
        );
        assert_eq!(cluster.spec.config["auto.create.topics.enable"], "false");
        assert_eq!(
            cluster.spec.storage.storage_class_name.as_deref(),
            Some("fast-ssd")
        );
        let topics: Vec<fjord_crds::Topic> = of_kind(&objects, "Topic")
            .into_iter()
            .map(|t| serde_json::from_value(t.clone()).expect("topic parses"))
            .collect();
        assert_eq!(topics.len(), 3);
        for topic in &topics {
            assert_eq!(topic.spec.cluster.name.as_deref(), Some("events"));
        }
        assert_eq!(topics[0].spec.config["segment.bytes"], "1073741824");
        assert_eq!(
            topics[0].spec.retention.as_ref().and_then(|r| r.ms),
            Some(604_800_000)
        );
        assert_eq!(topics[1].spec.topic_name.as_deref(), Some("customers.v1"));

        let defaults = render(&helm, CLUSTER, "");
        let cluster: fjord_crds::KafkaCluster = one(&defaults, "KafkaCluster");
        assert_eq!(
            cluster.metadata.name.as_deref(),
            Some("fjord"),
            "the release name"
        );
        assert!(of_kind(&defaults, "Topic").is_empty());
    }
}

#[test]
fn a_topic_without_a_name_does_not_render() {
    for helm in helm::all() {
        let error = helm
            .template(CLUSTER, "fjord", RELEASE_NS, "topics: [{partitions: 3}]")
            .expect_err("a nameless topic is refused");
        let output = helm::failure_output(&error);
        assert!(
            output.contains("schema") && output.contains("topics") && output.contains("name"),
            "helm {}: {output}",
            helm.major
        );
    }
}

#[test]
fn chart_versions_and_default_images_match_the_binaries() {
    for chart in [OPERATOR, CLUSTER] {
        let text = std::fs::read_to_string(helm::charts_dir().join(chart).join("Chart.yaml"))
            .expect("Chart.yaml");
        let meta: Value = serde_yaml::from_str(&text).expect("Chart.yaml parses");
        assert_eq!(
            meta["appVersion"],
            env!("CARGO_PKG_VERSION"),
            "{chart} appVersion"
        );
    }
    for helm in helm::all() {
        let deployment: Deployment = one(&render(&helm, OPERATOR, ""), "Deployment");
        let container = &deployment.spec.template.spec.expect("pod").containers[0];
        assert_eq!(
            container.image.as_deref(),
            Some(concat!(
                "ghcr.io/fjord/fjord-operator:",
                env!("CARGO_PKG_VERSION")
            ))
        );
        let env = container.env.clone().expect("env");
        let broker = env
            .iter()
            .find(|e| e.name == "FJORD_BROKER_IMAGE")
            .and_then(|e| e.value.clone());
        assert_eq!(
            broker.as_deref(),
            Some(fjord_operator::DEFAULT_BROKER_IMAGE)
        );
    }
}

#[test]
fn the_dockerfile_builds_the_images_the_charts_name_as_non_root() {
    let dockerfile =
        std::fs::read_to_string(helm::charts_dir().join("../Dockerfile")).expect("Dockerfile");
    for binary in ["fjord-broker", "fjord-operator"] {
        assert!(
            dockerfile.contains(&format!(" AS {binary}\n")),
            "no {binary} stage"
        );
        assert!(
            dockerfile.contains(&format!("-t ghcr.io/fjord/{binary}:")),
            "no image name for {binary}"
        );
        assert!(
            dockerfile.contains(&format!("ENTRYPOINT [\"/usr/local/bin/{binary}\"]")),
            "{binary} entrypoint"
        );
    }
    assert_eq!(
        dockerfile.matches("USER 65532:65532").count(),
        2,
        "both images run as non-root"
    );
    let values = std::fs::read_to_string(helm::charts_dir().join("fjord-operator/values.yaml"))
        .expect("values");
    assert!(values.contains("repository: ghcr.io/fjord/fjord-operator"));
    assert!(values.contains("repository: ghcr.io/fjord/fjord-broker"));
}

#[test]
fn a_mistyped_operator_value_is_refused_by_the_values_schema() {
    for helm in helm::all() {
        for (values, complaint) in [
            ("watchNamespce: apps", "watchNamespce"),
            ("log: {format: xml}", "format"),
            ("leaderElection: {leaseDuration: soon}", "leaseDuration"),
        ] {
            let error = helm
                .template(OPERATOR, "fjord", RELEASE_NS, values)
                .expect_err(values);
            assert!(
                error.to_string().contains(complaint),
                "helm {}: {error:#}",
                helm.major
            );
        }
    }
}
