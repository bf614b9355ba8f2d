use super::*;

fn cluster(yaml: &str) -> KafkaCluster {
    serde_yaml::from_str(yaml).expect("test cluster parses")
}

const MAIN: &str = r#"
apiVersion: fjord.dev/v1alpha1
kind: KafkaCluster
metadata:
  name: main
  namespace: streaming
  uid: 6f1c2a4e-0b7d-4c1e-9a55-2f3d4e5a6b7c
spec:
  replicas: 1
  image: example.org/fjord-broker:1.2.3
  storage: { size: 50Gi, storageClassName: fast }
  config:
    num.partitions: "6"
    log.retention.ms: "3600000"
  resources:
    requests: { cpu: 500m, memory: 1Gi }
"#;

fn container(objects: &ClusterObjects) -> &Container {
    &objects
        .stateful_set
        .spec
        .template
        .spec
        .as_ref()
        .expect("pod spec")
        .containers[0]
}

fn arg_after<'a>(c: &'a Container, flag: &str) -> &'a str {
    let args = c.args.as_ref().expect("args");
    let at = args
        .iter()
        .position(|a| a == flag)
        .unwrap_or_else(|| panic!("{flag} missing"));
    &args[at + 1]
}

#[test]
fn config_map_holds_the_spec_config_by_kafka_names_sorted() {
    let objects = build(&cluster(MAIN), "default:1");
    let data = objects.config_map.data.as_ref().expect("data");
    let text = &data[CONFIG_FILE];
    let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(lines, ["log.retention.ms=3600000", "num.partitions=6"]);
    assert_eq!(
        objects.config_map.metadata.name.as_deref(),
        Some("main-config")
    );
}

#[test]
fn a_config_change_changes_the_pod_template_hash_and_nothing_else_does() {
    let before = build(&cluster(MAIN), "d");
    let mut changed = cluster(MAIN);
    changed
        .spec
        .config
        .insert("num.partitions".into(), "12".into());
    let after = build(&changed, "d");
    let hash = |o: &ClusterObjects| {
        o.stateful_set
            .spec
            .template
            .metadata
            .as_ref()
            .expect("meta")
            .annotations
            .as_ref()
            .expect("annotations")[CONFIG_HASH_ANNOTATION]
            .clone()
    };
    assert_ne!(hash(&before), hash(&after));
    let mut image_only = cluster(MAIN);
    image_only.spec.image = Some("other:2".into());
    assert_eq!(hash(&before), hash(&build(&image_only, "d")));
}

#[test]
fn broker_listens_everywhere_and_advertises_its_own_pod_dns_name() {
    let objects = build(&cluster(MAIN), "d");
    let c = container(&objects);
    assert_eq!(arg_after(c, "--listen"), "0.0.0.0:9092");
    let advertised = arg_after(c, "--advertised-address");
    assert_eq!(
        advertised,
        "$(POD_NAME).main-brokers.$(POD_NAMESPACE).svc:9092"
    );
    assert!(!advertised.contains("0.0.0.0"));
    let env = c.env.as_ref().expect("env");
    let node_id = env
        .iter()
        .find(|e| e.name == "FJORD_NODE_ID")
        .expect("node id env");
    let path = &node_id
        .value_from
        .as_ref()
        .expect("from")
        .field_ref
        .as_ref()
        .expect("field")
        .field_path;
    assert_eq!(path, "metadata.labels['apps.kubernetes.io/pod-index']");
    assert_eq!(arg_after(c, "--cluster-id").len(), 22);
}

#[test]
fn grace_period_outlasts_the_broker_shutdown_timeout() {
    let objects = build(&cluster(MAIN), "d");
    let pod = objects
        .stateful_set
        .spec
        .template
        .spec
        .as_ref()
        .expect("pod");
    let grace = pod.termination_grace_period_seconds.expect("grace");
    let timeout: i64 = arg_after(container(&objects), "--shutdown-timeout")
        .trim_end_matches('s')
        .parse()
        .expect("seconds");
    assert!(
        grace > timeout,
        "grace {grace} <= shutdown timeout {timeout}"
    );
}

#[test]
fn broker_runs_non_root_read_only_without_capabilities_and_probes_readyz() {
    let objects = build(&cluster(MAIN), "d");
    let c = container(&objects);
    let sc = c.security_context.as_ref().expect("security context");
    assert_eq!(sc.read_only_root_filesystem, Some(true));
    assert_eq!(sc.allow_privilege_escalation, Some(false));
    assert_eq!(sc.run_as_non_root, Some(true));
    assert_eq!(
        sc.capabilities.as_ref().and_then(|c| c.drop.clone()),
        Some(vec!["ALL".to_owned()])
    );
    let ready = c
        .readiness_probe
        .as_ref()
        .and_then(|p| p.http_get.as_ref())
        .expect("readiness");
    assert_eq!(ready.path.as_deref(), Some("/readyz"));
    assert_eq!(c.image.as_deref(), Some("example.org/fjord-broker:1.2.3"));
}

#[test]
fn the_default_image_is_used_when_the_spec_names_none() {
    let mut c = cluster(MAIN);
    c.spec.image = None;
    assert_eq!(
        container(&build(&c, "default:1")).image.as_deref(),
        Some("default:1")
    );
}

#[test]
fn builders_take_any_number_of_brokers() {
    let mut three = cluster(MAIN);
    three.spec.replicas = 3;
    three.spec.rack = Some(fjord_crds::cluster::RackSpec {
        topology_key: "topology.kubernetes.io/zone".into(),
    });
    let objects = build(&three, "d");
    let sts = objects.stateful_set.spec;
    assert_eq!(sts.replicas, Some(3));
    assert_eq!(sts.service_name.as_deref(), Some("main-brokers"));
    let spread = sts
        .template
        .spec
        .as_ref()
        .expect("pod")
        .topology_spread_constraints
        .as_ref()
        .expect("spread");
    assert_eq!(spread[0].topology_key, "topology.kubernetes.io/zone");
    let pdb = objects.pod_disruption_budget.expect("pdb");
    assert_eq!(
        pdb.spec.and_then(|s| s.max_unavailable),
        Some(IntOrString::Int(1))
    );
}

#[test]
fn every_object_is_owned_by_the_cluster_and_labelled() {
    let objects = build(&cluster(MAIN), "d");
    let metas = [
        &objects.service_account.metadata,
        &objects.config_map.metadata,
        &objects.headless_service.metadata,
        &objects.bootstrap_service.metadata,
        &objects.stateful_set.metadata,
        &objects
            .pod_disruption_budget
            .as_ref()
            .expect("pdb")
            .metadata,
    ];
    for meta in metas {
        let owner = &meta.owner_references.as_ref().expect("owner")[0];
        assert_eq!(owner.kind, "KafkaCluster");
        assert_eq!(owner.controller, Some(true));
        assert_eq!(owner.uid, "6f1c2a4e-0b7d-4c1e-9a55-2f3d4e5a6b7c");
        let labels = meta.labels.as_ref().expect("labels");
        assert_eq!(labels["app.kubernetes.io/instance"], "main");
        assert_eq!(labels["app.kubernetes.io/managed-by"], "fjord-operator");
        assert_eq!(meta.namespace.as_deref(), Some("streaming"));
    }
}

#[test]
fn headless_service_publishes_unready_pods_and_bootstrap_serves_listeners_only() {
    let objects = build(&cluster(MAIN), "d");
    let headless = objects.headless_service.spec.expect("spec");
    assert_eq!(headless.cluster_ip.as_deref(), Some("None"));
    assert_eq!(headless.publish_not_ready_addresses, Some(true));
    let bootstrap = objects.bootstrap_service.spec.expect("spec");
    let ports: Vec<i32> = bootstrap
        .ports
        .expect("ports")
        .iter()
        .map(|p| p.port)
        .collect();
    assert_eq!(ports, [9092]);
    assert_eq!(
        Names::of(&cluster(MAIN)).bootstrap_servers(&cluster(MAIN)),
        "main-bootstrap.streaming.svc:9092"
    );
}

#[test]
fn storage_becomes_the_volume_claim_template_and_claims_are_retained() {
    let objects = build(&cluster(MAIN), "d");
    let sts = objects.stateful_set.spec;
    let claim = &sts.volume_claim_templates.expect("claims")[0];
    let spec = claim.spec.as_ref().expect("claim spec");
    assert_eq!(spec.storage_class_name.as_deref(), Some("fast"));
    let size = &spec
        .resources
        .as_ref()
        .and_then(|r| r.requests.as_ref())
        .expect("requests")["storage"];
    assert_eq!(size.0, "50Gi");
    let retention = sts
        .persistent_volume_claim_retention_policy
        .expect("retention");
    assert_eq!(retention.when_deleted.as_deref(), Some("Retain"));
}

#[test]
fn a_disabled_budget_is_not_built() {
    let mut c = cluster(MAIN);
    c.spec.pod_disruption_budget = Some(fjord_crds::cluster::PodDisruptionBudgetSpec {
        enabled: false,
        max_unavailable: 1,
    });
    assert!(build(&c, "d").pod_disruption_budget.is_none());
}

#[test]
fn pod_overrides_reach_the_template_but_cannot_replace_selector_labels() {
    let c = cluster(
        r#"
apiVersion: fjord.dev/v1alpha1
kind: KafkaCluster
metadata: { name: main, namespace: ns, uid: u }
spec:
  pod:
    labels: { team: data, app.kubernetes.io/instance: hijack }
    annotations: { a: b }
    nodeSelector: { disk: ssd }
    tolerations: [{ key: dedicated, operator: Equal, value: kafka, effect: NoSchedule }]
    priorityClassName: high
"#,
    );
    let sts = build(&c, "d").stateful_set.spec;
    let meta = sts.template.metadata.expect("meta");
    let labels = meta.labels.expect("labels");
    assert_eq!(labels["team"], "data");
    assert_eq!(labels["app.kubernetes.io/instance"], "main");
    assert_eq!(meta.annotations.expect("annotations")["a"], "b");
    let pod = sts.template.spec.expect("pod");
    assert_eq!(pod.node_selector.expect("selector")["disk"], "ssd");
    assert_eq!(
        pod.tolerations.expect("tolerations")[0].key.as_deref(),
        Some("dedicated")
    );
    assert_eq!(pod.priority_class_name.as_deref(), Some("high"));
}

#[test]
fn cluster_id_is_the_uid_in_kafka_form() {
    let id = cluster_id(&cluster(MAIN)).expect("id");
    assert_eq!(id, "bxwqTgt9TB6aVS89TlprfA");
}

/// The whole rendering of one cluster, compared with a reviewed snapshot.
/// After an intended change: `FJORD_UPDATE_SNAPSHOTS=1 cargo nextest run -p fjord-operator`.
#[test]
fn the_objects_of_a_cluster_match_their_snapshot() {
    let objects = build(&cluster(MAIN), "ghcr.io/fjord/fjord-broker:0.1.0");
    let mut rendered = String::from(
        "# Objects fjord-operator builds for the KafkaCluster in build_tests.rs (MAIN).\n",
    );
    let documents = [
        serde_yaml::to_string(&objects.service_account),
        serde_yaml::to_string(&objects.config_map),
        serde_yaml::to_string(&objects.headless_service),
        serde_yaml::to_string(&objects.bootstrap_service),
        serde_yaml::to_string(&objects.stateful_set),
        serde_yaml::to_string(&objects.pod_disruption_budget),
    ];
    for document in documents {
        rendered.push_str("---\n");
        rendered.push_str(&document.expect("object serializes"));
    }
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/cluster/snapshots/main.yaml"
    );
    if std::env::var_os("FJORD_UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(path, &rendered).expect("snapshot written");
    }
    let snapshot = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        snapshot == rendered,
        "the built objects differ from {path}; review the change and rerun with FJORD_UPDATE_SNAPSHOTS=1"
    );
}
