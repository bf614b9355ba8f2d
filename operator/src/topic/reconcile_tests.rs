//! Topic reconcile flows against the mock API server and an in-memory cluster.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use super::*;
use crate::context::Settings;
use crate::fixtures::{self, condition, echo, reply};
use crate::kafka::TopicState;
use crate::kafka::memory::MemoryCluster;

const TOPIC_PATH: &str = "/apis/fjord.dev/v1alpha1/namespaces/shop/topics/orders";
const STATUS_PATH: &str = "/apis/fjord.dev/v1alpha1/namespaces/shop/topics/orders/status";
const CLUSTER_PATH: &str = "/apis/fjord.dev/v1alpha1/namespaces/shop/kafkaclusters/main";
const EVENTS_PATH: &str = "/apis/events.k8s.io/v1/namespaces/shop/events";
const TOPIC_ID: u128 = 0x1234;

fn topic(extra_meta: Value, spec: Value, status: Value) -> Value {
    let mut meta = json!({"name": "orders", "namespace": "shop", "uid": "t-1", "generation": 2, "resourceVersion": "5"});
    if let (Some(meta), Some(extra)) = (meta.as_object_mut(), extra_meta.as_object()) {
        meta.extend(extra.clone());
    }
    let mut object = json!({"apiVersion": "fjord.dev/v1alpha1", "kind": "Topic", "metadata": meta, "spec": spec});
    if !status.is_null() {
        object["status"] = status;
    }
    object
}

fn parse(object: &Value) -> Arc<Topic> {
    Arc::new(serde_json::from_value(object.clone()).expect("test topic parses"))
}

fn ready_cluster() -> Value {
    json!({
        "apiVersion": "fjord.dev/v1alpha1", "kind": "KafkaCluster",
        "metadata": {"name": "main", "namespace": "shop", "uid": "c-1"},
        "spec": {},
        "status": {"bootstrapServers": "main-bootstrap.shop.svc:9092", "replicas": 1, "readyReplicas": 1,
                   "conditions": [{"type": "Ready", "status": "True", "reason": "BrokersReady", "message": "",
                                   "lastTransitionTime": "2026-01-01T00:00:00Z"}]}
    })
}

fn owned_status() -> Value {
    json!({"topicName": "orders", "topicId": uuid::Uuid::from_u128(TOPIC_ID).to_string(), "partitions": 3})
}

fn existing(kafka: &MemoryCluster, partitions: i32, overrides: &[(&str, &str)]) {
    let overrides: BTreeMap<String, String> = overrides
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    kafka.state().topics.insert(
        "orders".to_owned(),
        TopicState {
            id: Some(uuid::Uuid::from_u128(TOPIC_ID)),
            partitions,
            replication_factor: 1,
            effective: overrides.clone(),
            overrides,
        },
    );
}

const FINALIZED: &str = r#"{"finalizers": ["fjord.dev/topic"]}"#;

fn finalized() -> Value {
    serde_json::from_str(FINALIZED).expect("valid JSON")
}

#[tokio::test]
async fn a_new_topic_first_gets_the_finalizer() {
    let kafka = MemoryCluster::default();
    let (ctx, mut api) = fixtures::context(&kafka);
    let object = topic(
        json!({}),
        json!({"cluster": {"name": "main"}, "partitions": 3}),
        Value::Null,
    );
    let run = tokio::spawn(reconcile(parse(&object), ctx));
    let mut with_finalizer = object.clone();
    with_finalizer["metadata"]["finalizers"] = json!(["fjord.dev/topic"]);
    let seen = api.expect("PATCH", TOPIC_PATH, reply(with_finalizer)).await;
    assert!(
        seen.body.to_string().contains("fjord.dev/topic"),
        "{:#}",
        seen.body
    );
    let action = run.await.expect("task").expect("reconcile succeeds");
    assert_eq!(action, Action::await_change());
    api.done().await;
    assert!(
        kafka.take_calls().is_empty(),
        "no Kafka call before the finalizer is in place"
    );
}

#[tokio::test]
async fn a_missing_topic_is_claimed_created_and_reported_ready() {
    let kafka = MemoryCluster::default();
    let (ctx, mut api) = fixtures::context(&kafka);
    let object = topic(
        finalized(),
        json!({"cluster": {"name": "main"}, "partitions": 3, "retention": {"ms": 60000}, "config": {"segment.bytes": "1048576"}}),
        Value::Null,
    );
    let run = tokio::spawn(reconcile(parse(&object), ctx));
    api.expect("GET", CLUSTER_PATH, reply(ready_cluster()))
        .await;
    let claim = api
        .expect("PATCH", STATUS_PATH, reply(object.clone()))
        .await;
    assert_eq!(
        claim.body["status"]["topicName"], "orders",
        "the name is claimed before the create"
    );
    assert_eq!(condition(&claim.body, "Progressing")["status"], "True");
    let event = api.expect("POST", EVENTS_PATH, echo).await;
    assert_eq!(event.body["reason"], "Created");
    let status = api
        .expect("PATCH", STATUS_PATH, reply(object.clone()))
        .await;
    assert_eq!(condition(&status.body, "Ready")["status"], "True");
    assert_eq!(condition(&status.body, "Ready")["reason"], "InSync");
    assert_eq!(status.body["status"]["partitions"], 3);
    assert_eq!(status.body["status"]["observedGeneration"], 2);
    assert!(status.body["status"]["topicId"].is_string());
    assert_eq!(status.body["status"]["config"]["retention.ms"], "60000");
    let action = run.await.expect("task").expect("reconcile succeeds");
    assert_eq!(action, Action::requeue(Settings::default().topic_resync));
    api.done().await;
    assert_eq!(
        kafka.take_calls(),
        [
            "describe orders",
            r#"create orders partitions=3 rf=None config={"retention.ms": "60000", "segment.bytes": "1048576"}"#,
            "describe orders",
        ]
    );
}

#[tokio::test]
async fn drift_made_behind_the_operators_back_is_reverted() {
    let kafka = MemoryCluster::default();
    existing(
        &kafka,
        3,
        &[("retention.ms", "1"), ("max.message.bytes", "5")],
    );
    let (ctx, mut api) = fixtures::context(&kafka);
    let object = topic(
        finalized(),
        json!({"cluster": {"bootstrapServers": "kafka.example:9092"}, "partitions": 4, "retention": {"ms": 60000}}),
        owned_status(),
    );
    let run = tokio::spawn(reconcile(parse(&object), ctx));
    let event = api.expect("POST", EVENTS_PATH, echo).await;
    assert_eq!(event.body["reason"], "ConfigUpdated");
    let event = api.expect("POST", EVENTS_PATH, echo).await;
    assert_eq!(event.body["reason"], "PartitionsAdded");
    let status = api
        .expect("PATCH", STATUS_PATH, reply(object.clone()))
        .await;
    assert_eq!(condition(&status.body, "Ready")["status"], "True");
    assert_eq!(status.body["status"]["partitions"], 4);
    run.await.expect("task").expect("reconcile succeeds");
    api.done().await;
    assert_eq!(
        kafka.take_calls(),
        [
            "describe orders",
            r#"alter orders [("retention.ms", Some("60000")), ("max.message.bytes", None)]"#,
            "grow orders to 4",
            "describe orders",
        ]
    );
}

#[tokio::test]
async fn an_invalid_spec_is_reported_once_and_waits_for_a_change() {
    let kafka = MemoryCluster::default();
    let (ctx, mut api) = fixtures::context(&kafka);
    // The schema refuses this; an old CRD or a direct write might not.
    let object = topic(
        finalized(),
        json!({"cluster": {"name": "main"}, "retention": {"ms": 1}, "config": {"retention.ms": "2"}}),
        Value::Null,
    );
    let run = tokio::spawn(reconcile(parse(&object), ctx));
    let event = api.expect("POST", EVENTS_PATH, echo).await;
    assert_eq!(event.body["type"], "Warning");
    assert_eq!(event.body["reason"], "DuplicateConfigKey");
    let status = api
        .expect("PATCH", STATUS_PATH, reply(object.clone()))
        .await;
    let ready = condition(&status.body, "Ready");
    assert_eq!(
        (ready["status"].as_str(), ready["reason"].as_str()),
        (Some("False"), Some("DuplicateConfigKey"))
    );
    assert_eq!(condition(&status.body, "Degraded")["status"], "True");
    let action = run.await.expect("task").expect("reconcile succeeds");
    assert_eq!(
        action,
        Action::await_change(),
        "no hot loop on an invalid spec"
    );
    api.done().await;
    assert!(kafka.take_calls().is_empty());
}

#[tokio::test]
async fn a_partition_decrease_reaching_the_operator_destroys_nothing() {
    let kafka = MemoryCluster::default();
    existing(&kafka, 6, &[]);
    let (ctx, mut api) = fixtures::context(&kafka);
    let object = topic(
        finalized(),
        json!({"cluster": {"bootstrapServers": "k:9092"}, "partitions": 3}),
        owned_status(),
    );
    let run = tokio::spawn(reconcile(parse(&object), ctx));
    let event = api.expect("POST", EVENTS_PATH, echo).await;
    assert_eq!(event.body["reason"], "PartitionDecrease");
    let status = api
        .expect("PATCH", STATUS_PATH, reply(object.clone()))
        .await;
    assert_eq!(
        condition(&status.body, "Ready")["reason"],
        "PartitionDecrease"
    );
    assert_eq!(status.body["status"]["partitions"], 6);
    run.await.expect("task").expect("reconcile succeeds");
    api.done().await;
    assert_eq!(kafka.take_calls(), ["describe orders"]);
    assert_eq!(kafka.state().topics["orders"].partitions, 6);
}

#[tokio::test]
async fn a_topic_not_created_by_the_resource_is_not_taken_over() {
    let kafka = MemoryCluster::default();
    existing(&kafka, 1, &[("retention.ms", "7")]);
    let (ctx, mut api) = fixtures::context(&kafka);
    let object = topic(
        finalized(),
        json!({"cluster": {"bootstrapServers": "k:9092"}}),
        Value::Null,
    );
    let run = tokio::spawn(reconcile(parse(&object), ctx));
    api.expect("POST", EVENTS_PATH, echo).await;
    let status = api
        .expect("PATCH", STATUS_PATH, reply(object.clone()))
        .await;
    assert_eq!(condition(&status.body, "Ready")["reason"], "TopicExists");
    run.await.expect("task").expect("reconcile succeeds");
    api.done().await;
    assert_eq!(
        kafka.take_calls(),
        ["describe orders"],
        "the foreign topic's config is untouched"
    );
}

#[tokio::test]
async fn deleting_with_policy_delete_deletes_the_topic_then_releases_the_finalizer() {
    let kafka = MemoryCluster::default();
    existing(&kafka, 3, &[]);
    let (ctx, mut api) = fixtures::context(&kafka);
    let object = topic(
        json!({"finalizers": ["fjord.dev/topic"], "deletionTimestamp": "2026-01-01T00:00:00Z"}),
        json!({"cluster": {"name": "main"}, "partitions": 3, "deletionPolicy": "Delete"}),
        owned_status(),
    );
    let run = tokio::spawn(reconcile(parse(&object), ctx));
    api.expect("GET", CLUSTER_PATH, reply(ready_cluster()))
        .await;
    let release = api.expect("PATCH", TOPIC_PATH, reply(object.clone())).await;
    assert!(
        release.body.to_string().contains("remove"),
        "{:#}",
        release.body
    );
    run.await.expect("task").expect("reconcile succeeds");
    api.done().await;
    assert_eq!(kafka.take_calls(), ["describe orders", "delete orders"]);
    assert!(kafka.state().topics.is_empty());
}

#[tokio::test]
async fn deleting_with_policy_retain_keeps_the_topic() {
    let kafka = MemoryCluster::default();
    existing(&kafka, 3, &[]);
    let (ctx, mut api) = fixtures::context(&kafka);
    let object = topic(
        json!({"finalizers": ["fjord.dev/topic"], "deletionTimestamp": "2026-01-01T00:00:00Z"}),
        json!({"cluster": {"name": "main"}, "partitions": 3}),
        owned_status(),
    );
    let run = tokio::spawn(reconcile(parse(&object), ctx));
    api.expect("PATCH", TOPIC_PATH, reply(object.clone())).await;
    run.await.expect("task").expect("reconcile succeeds");
    api.done().await;
    assert!(kafka.take_calls().is_empty());
    assert!(kafka.state().topics.contains_key("orders"));
}

#[tokio::test]
async fn a_topic_waits_for_its_cluster_to_be_ready() {
    let kafka = MemoryCluster::default();
    let (ctx, mut api) = fixtures::context(&kafka);
    let object = topic(
        finalized(),
        json!({"cluster": {"name": "main"}}),
        Value::Null,
    );
    let run = tokio::spawn(reconcile(parse(&object), ctx));
    let mut starting = ready_cluster();
    starting["status"] = json!({});
    api.expect("GET", CLUSTER_PATH, reply(starting)).await;
    let status = api
        .expect("PATCH", STATUS_PATH, reply(object.clone()))
        .await;
    assert_eq!(
        condition(&status.body, "Ready")["reason"],
        "ClusterNotReady"
    );
    assert_eq!(
        run.await.expect("task").expect("reconcile succeeds"),
        Action::requeue(WAIT_REQUEUE)
    );
    api.done().await;
}

#[tokio::test]
async fn an_unreachable_cluster_is_reported_and_retried() {
    let kafka = MemoryCluster::default();
    kafka.state().unreachable = true;
    let (ctx, mut api) = fixtures::context(&kafka);
    let object = topic(
        finalized(),
        json!({"cluster": {"bootstrapServers": "k:9092"}}),
        Value::Null,
    );
    let run = tokio::spawn(reconcile(parse(&object), ctx.clone()));
    let status = api
        .expect("PATCH", STATUS_PATH, reply(object.clone()))
        .await;
    assert_eq!(
        condition(&status.body, "Ready")["reason"],
        "ClusterUnreachable"
    );
    let error = run
        .await
        .expect("task")
        .expect_err("a transient error backs off");
    assert_eq!(error.category(), "kafka");
    api.done().await;
}

#[tokio::test]
async fn a_paused_topic_is_not_touched() {
    let kafka = MemoryCluster::default();
    let (ctx, api) = fixtures::context(&kafka);
    let object = topic(
        json!({"annotations": {"fjord.dev/paused": "true"}}),
        json!({"cluster": {"name": "main"}}),
        Value::Null,
    );
    let action = reconcile(parse(&object), ctx)
        .await
        .expect("reconcile succeeds");
    assert_eq!(action, Action::await_change());
    api.done().await;
    assert!(kafka.take_calls().is_empty());
}

#[test]
fn a_cluster_wakes_only_the_topics_that_name_it() {
    let on = |ns: &str, name: &str, cluster: Value| {
        let mut object = topic(json!({}), json!({"cluster": cluster}), Value::Null);
        object["metadata"]["namespace"] = json!(ns);
        object["metadata"]["name"] = json!(name);
        parse(&object)
    };
    let topics = vec![
        on("shop", "a", json!({"name": "main"})),
        on("shop", "b", json!({"name": "other"})),
        on("elsewhere", "c", json!({"name": "main"})),
        on("shop", "d", json!({"bootstrapServers": "k:9092"})),
    ];
    let cluster: KafkaCluster = serde_json::from_value(ready_cluster()).expect("cluster parses");
    let woken: Vec<String> = topics_on(&topics, &cluster)
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(woken, ["a"]);
}
