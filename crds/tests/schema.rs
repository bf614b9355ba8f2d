//! The committed CRD YAML matches the types, and the schema's CEL rules accept
//! and refuse what they promise to.

use fjord_crds::{KafkaCluster, Topic};
use kube::core::cel::{validate_cel, validate_cel_update};

fn topic(yaml: &str) -> Topic {
    serde_yaml::from_str(yaml).expect("test topic parses")
}

fn cluster(yaml: &str) -> KafkaCluster {
    serde_yaml::from_str(yaml).expect("test cluster parses")
}

const TOPIC: &str = r#"
apiVersion: fjord.dev/v1alpha1
kind: Topic
metadata: { name: orders, namespace: shop }
spec:
  cluster: { name: main }
  partitions: 3
  retention: { ms: 86400000 }
  config: { segment.bytes: "1048576" }
"#;

#[test]
fn committed_crds_match_the_types() {
    let committed = include_str!("../crds.yaml");
    let generated = fjord_crds::crds_yaml().expect("CRDs render");
    assert!(
        committed == generated,
        "crds/crds.yaml is stale: run `scripts/crdgen` and commit the result"
    );
}

#[test]
fn every_crd_keeps_users_resources_on_helm_uninstall() {
    for crd in fjord_crds::crds() {
        let keep = crd
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("helm.sh/resource-policy"));
        assert_eq!(
            keep.map(String::as_str),
            Some("keep"),
            "{:?}",
            crd.metadata.name
        );
    }
}

#[test]
fn kafka_cluster_has_scale_and_status_subresources() {
    let crd = fjord_crds::crds().remove(0);
    let version = &crd.spec.versions[0];
    let sub = version.subresources.as_ref().expect("subresources");
    assert!(sub.status.is_some());
    let scale = sub.scale.as_ref().expect("scale subresource");
    assert_eq!(scale.spec_replicas_path, ".spec.replicas");
    assert_eq!(scale.status_replicas_path, ".status.replicas");
    assert_eq!(
        scale.label_selector_path.as_deref(),
        Some(".status.selector")
    );
    assert_eq!(crd.spec.names.short_names, Some(vec!["fkc".to_owned()]));
}

#[test]
fn a_valid_topic_passes_every_rule() {
    let t = topic(TOPIC);
    validate_cel(&t).expect("valid on create");
    validate_cel_update(&t, &t).expect("valid on a no-op update");
}

#[test]
fn partitions_may_grow_but_not_shrink() {
    let old = topic(TOPIC);
    let mut grown = old.clone();
    grown.spec.partitions = 6;
    validate_cel_update(&grown, &old).expect("growing is allowed");
    let mut shrunk = old.clone();
    shrunk.spec.partitions = 2;
    let error = validate_cel_update(&shrunk, &old).expect_err("shrinking is refused");
    assert!(
        format!("{error:?}").contains("partitions cannot be decreased"),
        "{error:?}"
    );
}

#[test]
fn topic_name_and_cluster_cannot_change() {
    let old = topic(TOPIC);
    let mut renamed = old.clone();
    renamed.spec.topic_name = Some("orders-v2".to_owned());
    let error = validate_cel_update(&renamed, &old).expect_err("rename is refused");
    assert!(
        format!("{error:?}").contains("topicName cannot be changed"),
        "{error:?}"
    );

    let mut moved = old.clone();
    moved.spec.cluster.name = Some("other".to_owned());
    let error = validate_cel_update(&moved, &old).expect_err("move is refused");
    assert!(
        format!("{error:?}").contains("cluster cannot be changed"),
        "{error:?}"
    );
}

#[test]
fn cluster_reference_needs_exactly_one_of_name_and_bootstrap_servers() {
    let both = topic(
        r#"
apiVersion: fjord.dev/v1alpha1
kind: Topic
metadata: { name: t }
spec:
  cluster: { name: main, bootstrapServers: "kafka:9092" }
"#,
    );
    let error = validate_cel(&both).expect_err("both set is refused");
    assert!(format!("{error:?}").contains("exactly one"), "{error:?}");
    let neither = topic(
        "{apiVersion: fjord.dev/v1alpha1, kind: Topic, metadata: {name: t}, spec: {cluster: {}}}",
    );
    validate_cel(&neither).expect_err("neither set is refused");
    let external = topic(
        "{apiVersion: fjord.dev/v1alpha1, kind: Topic, metadata: {name: t}, spec: {cluster: {bootstrapServers: 'k:9092'}}}",
    );
    validate_cel(&external).expect("bootstrap servers alone are fine");
}

#[test]
fn a_key_set_both_typed_and_free_form_is_refused() {
    for (typed, key, message) in [
        (
            "cleanupPolicy: compact",
            "cleanup.policy",
            "cleanup.policy is set both",
        ),
        (
            "retention: {ms: 1000}",
            "retention.ms",
            "retention is set both",
        ),
        (
            "retention: {bytes: 1000}",
            "retention.bytes",
            "retention is set both",
        ),
        (
            "localRetention: {ms: 1000}",
            "local.retention.ms",
            "local retention is set both",
        ),
        (
            "tiered: true",
            "remote.storage.enable",
            "remote.storage.enable is set both",
        ),
    ] {
        let t = topic(&format!(
            "{{apiVersion: fjord.dev/v1alpha1, kind: Topic, metadata: {{name: t}}, spec: {{cluster: {{name: c}}, {typed}, config: {{'{key}': '1'}}}}}}"
        ));
        let error = validate_cel(&t).expect_err(key);
        assert!(format!("{error:?}").contains(message), "{key}: {error:?}");
    }
    let disjoint = topic(
        "{apiVersion: fjord.dev/v1alpha1, kind: Topic, metadata: {name: t}, spec: {cluster: {name: c}, retention: {bytes: 5}, config: {retention.ms: '1'}}}",
    );
    validate_cel(&disjoint).expect("typed bytes and free-form ms do not clash");
}

#[test]
fn cluster_storage_is_immutable_and_listener_names_unique() {
    let old = cluster(
        "{apiVersion: fjord.dev/v1alpha1, kind: KafkaCluster, metadata: {name: c}, spec: {}}",
    );
    validate_cel(&old).expect("defaults are valid");
    let mut bigger = old.clone();
    bigger.spec.storage.size.0 = "20Gi".to_owned();
    let error = validate_cel_update(&bigger, &old).expect_err("storage change refused");
    assert!(
        format!("{error:?}").contains("storage cannot be changed"),
        "{error:?}"
    );

    let twice = cluster(
        "{apiVersion: fjord.dev/v1alpha1, kind: KafkaCluster, metadata: {name: c}, spec: {listeners: [{name: a, port: 9092}, {name: a, port: 9093}]}}",
    );
    let error = validate_cel(&twice).expect_err("duplicate names refused");
    assert!(
        format!("{error:?}").contains("listener names must be unique"),
        "{error:?}"
    );
}

#[test]
fn defaults_fill_an_empty_cluster_spec() {
    let c = cluster(
        "{apiVersion: fjord.dev/v1alpha1, kind: KafkaCluster, metadata: {name: c}, spec: {}}",
    );
    assert_eq!(c.spec.replicas, 1);
    assert_eq!(c.spec.listeners.len(), 1);
    assert_eq!(c.spec.listeners[0].port, 9092);
    assert_eq!(c.spec.storage.size.0, "10Gi");
}

/// The `openAPIV3Schema` of a CRD, as JSON.
fn schema_of(index: usize) -> serde_json::Value {
    let crd = serde_json::to_value(&fjord_crds::crds()[index]).expect("CRD serializes");
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone()
}

/// Whether the API server would accept `value` at a node of the schema with
/// these keywords: int-or-string, `pattern` for strings, `minimum` for integers.
fn admits(node: &serde_json::Value, value: &serde_json::Value) -> bool {
    assert_eq!(node["x-kubernetes-int-or-string"], true, "{node}");
    match value {
        serde_json::Value::String(s) => {
            let pattern = node["pattern"].as_str().expect("a pattern");
            regex::Regex::new(pattern)
                .expect("pattern compiles")
                .is_match(s)
        }
        serde_json::Value::Number(n) => {
            let minimum = node["minimum"].as_f64().expect("a minimum");
            n.as_f64().is_some_and(|n| n >= minimum)
        }
        _ => false,
    }
}

#[test]
fn every_quantity_of_a_kafka_cluster_has_a_pattern_that_refuses_garbage() {
    use serde_json::json;
    let spec = &schema_of(0)["properties"]["spec"]["properties"];
    let sizes = [
        ("storage.size", &spec["storage"]["properties"]["size"]),
        (
            "tieredStorage.cacheSize",
            &spec["tieredStorage"]["properties"]["cacheSize"],
        ),
    ];
    for (field, node) in sizes {
        assert_eq!(node["nullable"], false, "{field}: null would be stored");
        for good in [json!("10Gi"), json!("1.5Ti"), json!("500M"), json!(1)] {
            assert!(admits(node, &good), "{field}: {good} is refused");
        }
        for bad in [
            json!("lots-of-space"),
            json!("10GB"),
            json!("-1Gi"),
            json!("0"),
            json!("0Gi"),
            json!(""),
            json!(0),
            json!(-5),
        ] {
            assert!(!admits(node, &bad), "{field}: {bad} is admitted");
        }
    }
    let resources = &spec["resources"]["properties"];
    for list in ["limits", "requests"] {
        let node = &resources[list]["additionalProperties"];
        for good in [json!("500m"), json!("4Gi"), json!("0"), json!(2), json!(0)] {
            assert!(admits(node, &good), "resources.{list}: {good} is refused");
        }
        for bad in [json!("two-gigs"), json!("-1"), json!("1 Gi"), json!(-1)] {
            assert!(!admits(node, &bad), "resources.{list}: {bad} is admitted");
        }
    }
}

#[test]
fn the_crd_patterns_are_the_ones_the_operator_checks() {
    let spec = &schema_of(0)["properties"]["spec"]["properties"];
    assert_eq!(
        spec["storage"]["properties"]["size"]["pattern"],
        fjord_crds::quantity::SIZE_PATTERN
    );
    assert_eq!(
        spec["resources"]["properties"]["limits"]["additionalProperties"]["pattern"],
        fjord_crds::quantity::QUANTITY_PATTERN
    );
}
