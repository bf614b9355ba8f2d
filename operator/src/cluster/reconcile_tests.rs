//! KafkaCluster reconcile flows against the mock API server.

use std::sync::Arc;

use serde_json::{Value, json};

use super::*;
use crate::fixtures::{self, Seen, condition, echo, not_found, reply};
use crate::kafka::memory::MemoryCluster;

const NS: &str = "/namespaces/streaming";
const STATUS_PATH: &str = "/apis/fjord.dev/v1alpha1/namespaces/streaming/kafkaclusters/main/status";
const EVENTS_PATH: &str = "/apis/events.k8s.io/v1/namespaces/streaming/events";

fn cluster(spec: Value, annotations: Value) -> Value {
    json!({
        "apiVersion": "fjord.dev/v1alpha1", "kind": "KafkaCluster",
        "metadata": {"name": "main", "namespace": "streaming", "uid": "6f1c2a4e-0b7d-4c1e-9a55-2f3d4e5a6b7c",
                     "generation": 4, "annotations": annotations},
        "spec": spec,
    })
}

fn parse(object: &Value) -> Arc<KafkaCluster> {
    Arc::new(serde_json::from_value(object.clone()).expect("test cluster parses"))
}

/// Asserts a server-side apply by the operator's field manager, forced.
fn assert_applied(seen: &Seen, kind: &str) {
    assert!(
        seen.query.contains("fieldManager=fjord-operator"),
        "{}",
        seen.query
    );
    assert!(seen.query.contains("force=true"), "{}", seen.query);
    assert_eq!(seen.body["kind"], kind);
    assert_eq!(
        seen.body["metadata"]["ownerReferences"][0]["kind"],
        "KafkaCluster"
    );
}

/// The StatefulSet as the API server returns it after the apply, with status.
fn pod_list(items: Value) -> impl FnOnce(&Seen) -> (u16, Value) {
    move |_| {
        (
            200,
            json!({"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": items}),
        )
    }
}

fn sts_with_status(ready: i32) -> impl FnOnce(&Seen) -> (u16, Value) {
    move |seen| {
        let mut sts = seen.body.clone();
        sts["metadata"]["generation"] = json!(7);
        sts["status"] = json!({"observedGeneration": 7, "replicas": 1, "readyReplicas": ready, "updatedReplicas": 1,
                               "currentRevision": "r1", "updateRevision": "r1"});
        (200, sts)
    }
}

/// Answers the applies of everything up to the StatefulSet, which reports
/// `ready` ready brokers.
async fn expect_objects_through_the_statefulset(api: &mut fixtures::ApiServer, ready: i32) {
    for path in [
        "serviceaccounts/main-broker",
        "configmaps/main-config",
        "services/main-brokers",
        "services/main-bootstrap",
    ] {
        api.expect("PATCH", &format!("/api/v1{NS}/{path}"), echo)
            .await;
    }
    api.expect(
        "PATCH",
        &format!("/apis/apps/v1{NS}/statefulsets/main-broker"),
        sts_with_status(ready),
    )
    .await;
}

#[tokio::test]
async fn a_valid_cluster_is_applied_in_order_and_reports_ready() {
    let (ctx, mut api) = fixtures::context(&MemoryCluster::default());
    let object = cluster(
        json!({"replicas": 1, "config": {"num.partitions": "3"}}),
        json!({}),
    );
    let run = tokio::spawn(reconcile(parse(&object), ctx));
    let order = [
        (
            "ServiceAccount",
            format!("/api/v1{NS}/serviceaccounts/main-broker"),
        ),
        ("ConfigMap", format!("/api/v1{NS}/configmaps/main-config")),
        ("Service", format!("/api/v1{NS}/services/main-brokers")),
        ("Service", format!("/api/v1{NS}/services/main-bootstrap")),
    ];
    for (kind, path) in &order {
        let seen = api.expect("PATCH", path, echo).await;
        assert_applied(&seen, kind);
    }
    let sts = api
        .expect(
            "PATCH",
            &format!("/apis/apps/v1{NS}/statefulsets/main-broker"),
            sts_with_status(1),
        )
        .await;
    assert_applied(&sts, "StatefulSet");
    let pdb = api
        .expect(
            "PATCH",
            &format!("/apis/policy/v1{NS}/poddisruptionbudgets/main-broker"),
            echo,
        )
        .await;
    assert_applied(&pdb, "PodDisruptionBudget");
    let listed = api
        .expect("GET", &format!("/api/v1{NS}/pods"), pod_list(json!([])))
        .await;
    assert!(
        listed.query.contains("labelSelector=") && listed.query.contains("main"),
        "pods are listed by the brokers' selector: {}",
        listed.query
    );
    let status = api
        .expect("PATCH", STATUS_PATH, reply(object.clone()))
        .await;
    assert_eq!(condition(&status.body, "Ready")["status"], "True");
    assert_eq!(condition(&status.body, "Ready")["reason"], "BrokersReady");
    assert_eq!(status.body["status"]["readyReplicas"], 1);
    assert_eq!(status.body["status"]["observedGeneration"], 4);
    assert_eq!(
        status.body["status"]["bootstrapServers"],
        "main-bootstrap.streaming.svc:9092"
    );
    assert_eq!(status.body["status"]["clusterId"], "bxwqTgt9TB6aVS89TlprfA");
    assert!(
        status.body["status"]["selector"]
            .as_str()
            .is_some_and(|s| s.contains("app.kubernetes.io/instance=main"))
    );
    let action = run.await.expect("task").expect("reconcile succeeds");
    assert_eq!(action, Action::requeue(READY_REQUEUE));
    api.done().await;
}

#[tokio::test]
async fn brokers_still_starting_requeue_soon_and_a_disabled_budget_is_deleted() {
    let (ctx, mut api) = fixtures::context(&MemoryCluster::default());
    let object = cluster(
        json!({"podDisruptionBudget": {"enabled": false}}),
        json!({}),
    );
    let run = tokio::spawn(reconcile(parse(&object), ctx));
    expect_objects_through_the_statefulset(&mut api, 0).await;
    api.expect(
        "DELETE",
        &format!("/apis/policy/v1{NS}/poddisruptionbudgets/main-broker"),
        not_found,
    )
    .await;
    api.expect("GET", &format!("/api/v1{NS}/pods"), pod_list(json!([])))
        .await;
    let status = api
        .expect("PATCH", STATUS_PATH, reply(object.clone()))
        .await;
    assert_eq!(
        condition(&status.body, "Ready")["reason"],
        "BrokersStarting"
    );
    assert_eq!(condition(&status.body, "Progressing")["status"], "True");
    assert_eq!(
        run.await.expect("task").expect("reconcile succeeds"),
        Action::requeue(NOT_READY_REQUEUE)
    );
    api.done().await;
}

#[tokio::test]
async fn several_brokers_get_ready_false_and_nothing_is_applied() {
    let (ctx, mut api) = fixtures::context(&MemoryCluster::default());
    let object = cluster(json!({"replicas": 3}), json!({}));
    let run = tokio::spawn(reconcile(parse(&object), ctx));
    let event = api.expect("POST", EVENTS_PATH, echo).await;
    assert_eq!(event.body["type"], "Warning");
    assert_eq!(event.body["reason"], "MultiBrokerNotSupported");
    let status = api
        .expect("PATCH", STATUS_PATH, reply(object.clone()))
        .await;
    let ready = condition(&status.body, "Ready");
    assert_eq!(ready["status"], "False");
    assert_eq!(ready["reason"], "MultiBrokerNotSupported");
    assert!(
        ready["message"]
            .as_str()
            .is_some_and(|m| m.contains("replicas is 3"))
    );
    assert_eq!(
        run.await.expect("task").expect("reconcile succeeds"),
        Action::await_change()
    );
    api.done().await;
}

#[tokio::test]
async fn an_invalid_cluster_already_reported_gets_no_second_event() {
    let (ctx, mut api) = fixtures::context(&MemoryCluster::default());
    let mut object = cluster(json!({"tieredStorage": {"bucket": "s3://b/p"}}), json!({}));
    object["status"] = json!({"conditions": [{"type": "Ready", "status": "False", "reason": "TieredStorageNotSupported",
                                               "message": "m", "lastTransitionTime": "2026-01-01T00:00:00Z"}]});
    let run = tokio::spawn(reconcile(parse(&object), ctx));
    let status = api
        .expect("PATCH", STATUS_PATH, reply(object.clone()))
        .await;
    let ready = condition(&status.body, "Ready");
    assert_eq!(ready["reason"], "TieredStorageNotSupported");
    assert_eq!(
        ready["lastTransitionTime"], "2026-01-01T00:00:00Z",
        "the transition time is kept"
    );
    run.await.expect("task").expect("reconcile succeeds");
    api.done().await;
}

#[tokio::test]
async fn a_paused_cluster_is_not_touched() {
    let (ctx, api) = fixtures::context(&MemoryCluster::default());
    let object = cluster(json!({"replicas": 3}), json!({"fjord.dev/paused": "true"}));
    let action = reconcile(parse(&object), ctx)
        .await
        .expect("reconcile succeeds");
    assert_eq!(action, Action::await_change());
    api.done().await;
}

#[tokio::test]
async fn an_api_error_is_a_retriable_kubernetes_failure() {
    let (ctx, mut api) = fixtures::context(&MemoryCluster::default());
    let object = cluster(json!({}), json!({}));
    let run = tokio::spawn(reconcile(parse(&object), ctx.clone()));
    api.expect("PATCH", &format!("/api/v1{NS}/serviceaccounts/main-broker"), |_| {
        (500, json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 500, "message": "etcd is sad"}))
    })
    .await;
    let error = run.await.expect("task").expect_err("the apply fails");
    assert_eq!(error.category(), "kubernetes");
    let action = error_policy(parse(&object), &error, ctx.clone());
    assert_eq!(action, Action::requeue(Duration::from_secs(10)));
    assert!(ctx.metrics.render().contains(r#"category="kubernetes""#));
    api.done().await;
}

#[tokio::test]
async fn a_crash_looping_broker_pod_makes_the_cluster_degraded() {
    let (ctx, mut api) = fixtures::context(&MemoryCluster::default());
    let object = cluster(json!({}), json!({}));
    let run = tokio::spawn(reconcile(parse(&object), ctx));
    expect_objects_through_the_statefulset(&mut api, 0).await;
    api.expect(
        "PATCH",
        &format!("/apis/policy/v1{NS}/poddisruptionbudgets/main-broker"),
        echo,
    )
    .await;
    let looping = json!([{
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "main-broker-0", "namespace": "streaming"},
        "status": {"containerStatuses": [{
            "name": "broker", "image": "fjord-broker", "imageID": "", "ready": false, "restartCount": 7,
            "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s"}}
        }]}
    }]);
    api.expect("GET", &format!("/api/v1{NS}/pods"), pod_list(looping))
        .await;
    let status = api
        .expect("PATCH", STATUS_PATH, reply(object.clone()))
        .await;
    let degraded = condition(&status.body, "Degraded");
    assert_eq!(degraded["status"], "True");
    assert_eq!(degraded["reason"], "BrokerPodFailing");
    assert!(
        degraded["message"]
            .as_str()
            .is_some_and(|m| m.contains("main-broker-0 is CrashLoopBackOff"))
    );
    assert_eq!(condition(&status.body, "Ready")["status"], "False");
    run.await.expect("task").expect("reconcile succeeds");
    api.done().await;
}

#[tokio::test]
async fn a_storage_size_that_is_no_quantity_gets_ready_false_and_no_statefulset() {
    let (ctx, mut api) = fixtures::context(&MemoryCluster::default());
    let object = cluster(json!({"storage": {"size": "lots-of-space"}}), json!({}));
    let run = tokio::spawn(reconcile(parse(&object), ctx));
    let event = api.expect("POST", EVENTS_PATH, echo).await;
    assert_eq!(event.body["type"], "Warning");
    assert_eq!(event.body["reason"], "InvalidQuantity");
    let status = api
        .expect("PATCH", STATUS_PATH, reply(object.clone()))
        .await;
    let ready = condition(&status.body, "Ready");
    assert_eq!(ready["status"], "False");
    assert_eq!(ready["reason"], "InvalidQuantity");
    let message = ready["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("spec.storage.size") && message.contains("\"lots-of-space\""),
        "the message names the field and the value: {message}"
    );
    assert_eq!(condition(&status.body, "Degraded")["status"], "True");
    assert_eq!(
        run.await.expect("task").expect("reconcile succeeds"),
        Action::await_change()
    );
    // No ServiceAccount, ConfigMap, Service or StatefulSet was applied.
    api.done().await;
}
