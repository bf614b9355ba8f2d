//! Topic reconciliation against a real `fjord-broker`: the operator's admin
//! client and its reconcile flow create a topic, revert drift made by another
//! client, grow partitions and delete the topic. librdkafka, not the
//! operator's own client, checks every step.
//!
//! The Kubernetes side is an in-process stand-in that accepts every write
//! (status patches, Events, the finalizer release) and records it.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fjord_crds::Topic;
use fjord_e2e::BrokerProcess;
use fjord_operator::context::{Context, Settings};
use fjord_operator::kafka::Connector as _;
use fjord_operator::kafka::client::TcpConnector;
use fjord_operator::metrics::Metrics;
use http::{Request, Response};
use kube::client::Body;
use rdkafka::admin::{AdminOptions, AlterConfig, ConfigSource, ResourceSpecifier};
use serde_json::{Value, json};

/// Accepts every API call: Events are echoed, anything else answers with the
/// Topic as it stands. Records `METHOD path` and the body of each call.
/// Every API call: `METHOD path` and the JSON body.
type Calls = Arc<Mutex<Vec<(String, Value)>>>;

fn permissive_api(topic: Value) -> (kube::Client, Calls) {
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let calls = Arc::new(Mutex::new(Vec::new()));
    let seen = calls.clone();
    tokio::spawn(async move {
        while let Some((request, send)) = handle.next_request().await {
            let call = format!("{} {}", request.method(), request.uri().path());
            let bytes = request
                .into_body()
                .collect_bytes()
                .await
                .unwrap_or_default();
            let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            let answer = if call.contains("/events") {
                body.clone()
            } else {
                topic.clone()
            };
            seen.lock().unwrap().push((call, body));
            send.send_response(Response::new(Body::from(
                serde_json::to_vec(&answer).unwrap(),
            )));
        }
    });
    (kube::Client::new(service, "default"), calls)
}

fn topic_object(bootstrap: &str, partitions: i32, deleting: bool, status: Value) -> Value {
    let mut meta = json!({"name": "orders", "namespace": "shop", "uid": "t-1", "generation": 1,
                          "finalizers": ["fjord.dev/topic"]});
    if deleting {
        meta["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
    }
    json!({
        "apiVersion": "fjord.dev/v1alpha1", "kind": "Topic", "metadata": meta,
        "spec": {"cluster": {"bootstrapServers": bootstrap}, "partitions": partitions,
                 "retention": {"ms": 3600000}, "config": {"segment.bytes": "1048576"},
                 "deletionPolicy": "Delete"},
        "status": status,
    })
}

/// Runs one reconcile of `object` and returns the status after it: the last
/// one written, or the one it had when nothing changed.
async fn reconcile(object: Value) -> Value {
    let before = object["status"].clone();
    let (client, calls) = permissive_api(object.clone());
    let ctx = Arc::new(Context::new(
        client,
        Metrics::new(),
        Settings::default(),
        Arc::new(TcpConnector),
    ));
    let topic: Topic = serde_json::from_value(object).expect("test topic parses");
    fjord_operator::topic::reconcile(Arc::new(topic), ctx)
        .await
        .expect("reconcile succeeds");
    let calls = calls.lock().unwrap();
    calls
        .iter()
        .rev()
        .find(|(call, _)| call.ends_with("/status"))
        .map_or(before, |(_, body)| body["status"].clone())
}

fn ready(status: &Value) -> (String, String) {
    let ready = status["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
        .cloned()
        .unwrap_or_default();
    (
        ready["status"].as_str().unwrap_or("").to_owned(),
        ready["reason"].as_str().unwrap_or("").to_owned(),
    )
}

async fn configs(bootstrap: &str) -> BTreeMap<String, (Option<String>, ConfigSource)> {
    let admin = fjord_e2e::kafka::admin(bootstrap).unwrap();
    let results = admin
        .describe_configs([&ResourceSpecifier::Topic("orders")], &AdminOptions::new())
        .await
        .unwrap();
    let resource = results.into_iter().next().unwrap().unwrap();
    resource
        .entries
        .into_iter()
        .map(|e| (e.name, (e.value, e.source)))
        .collect()
}

fn partitions(bootstrap: &str) -> Option<usize> {
    let admin = fjord_e2e::kafka::admin(bootstrap).unwrap();
    let metadata = admin
        .inner()
        .fetch_metadata(Some("orders"), Duration::from_secs(30))
        .unwrap();
    metadata
        .topics()
        .iter()
        .find(|t| t.name() == "orders" && t.error().is_none())
        .map(|t| t.partitions().len())
}

/// A broker that never creates topics on its own: a metadata probe for a
/// deleted topic must not bring it back.
fn broker() -> (BrokerProcess, tempfile::NamedTempFile) {
    let config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(config.path(), "auto.create.topics.enable=false\n").unwrap();
    let path = config.path().to_str().unwrap().to_owned();
    (BrokerProcess::start(&["--config", &path]).unwrap(), config)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_admin_client_speaks_to_a_real_broker() {
    let (broker, _config) = broker();
    let bootstrap = broker.bootstrap();
    let mut admin = TcpConnector.connect(&bootstrap).await.unwrap();
    assert_eq!(admin.describe_topic("orders").await.unwrap(), None);
    let config = BTreeMap::from([("retention.ms".to_owned(), "60000".to_owned())]);
    admin
        .create_topic("orders", 2, None, &config)
        .await
        .unwrap();
    let state = admin
        .describe_topic("orders")
        .await
        .unwrap()
        .expect("the topic exists");
    assert_eq!(state.partitions, 2);
    assert_eq!(state.overrides, config);
    assert_eq!(partitions(&bootstrap), Some(2), "librdkafka sees the topic");

    admin
        .alter_configs(
            "orders",
            &[
                ("retention.ms".into(), None),
                ("segment.bytes".into(), Some("1048576".into())),
            ],
        )
        .await
        .unwrap();
    let seen = configs(&bootstrap).await;
    assert_eq!(
        seen["retention.ms"].1,
        ConfigSource::Default,
        "removed key is back at its default"
    );
    assert_eq!(
        seen["segment.bytes"],
        (Some("1048576".into()), ConfigSource::DynamicTopic)
    );

    admin.create_partitions("orders", 4).await.unwrap();
    assert_eq!(partitions(&bootstrap), Some(4));
    let error = admin
        .create_partitions("orders", 3)
        .await
        .expect_err("no shrinking");
    assert!(!error.is_retriable(), "{error}");

    admin.delete_topic("orders").await.unwrap();
    assert_eq!(admin.describe_topic("orders").await.unwrap(), None);
    admin
        .delete_topic("orders")
        .await
        .expect("deleting a missing topic is fine");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_topic_resource_is_created_kept_in_line_grown_and_deleted() {
    let (broker, _config) = broker();
    let bootstrap = broker.bootstrap();

    // Create.
    let status = reconcile(topic_object(&bootstrap, 3, false, json!({}))).await;
    assert_eq!(
        ready(&status),
        ("True".into(), "InSync".into()),
        "{status:#}"
    );
    assert_eq!(partitions(&bootstrap), Some(3));
    let seen = configs(&bootstrap).await;
    assert_eq!(
        seen["retention.ms"],
        (Some("3600000".into()), ConfigSource::DynamicTopic)
    );
    assert_eq!(
        seen["segment.bytes"],
        (Some("1048576".into()), ConfigSource::DynamicTopic)
    );

    // Drift by another client: AlterConfigs replaces the set.
    let admin = fjord_e2e::kafka::admin(&bootstrap).unwrap();
    let drift =
        AlterConfig::new(ResourceSpecifier::Topic("orders")).set("max.message.bytes", "2048");
    admin
        .alter_configs([&drift], &AdminOptions::new())
        .await
        .unwrap();
    assert_eq!(
        configs(&bootstrap).await["retention.ms"].1,
        ConfigSource::Default
    );
    let status = reconcile(topic_object(&bootstrap, 3, false, status)).await;
    assert_eq!(ready(&status).0, "True", "{status:#}");
    let seen = configs(&bootstrap).await;
    assert_eq!(
        seen["retention.ms"],
        (Some("3600000".into()), ConfigSource::DynamicTopic),
        "drift reverted"
    );
    assert_eq!(
        seen["max.message.bytes"].1,
        ConfigSource::Default,
        "foreign key removed"
    );

    // Grow.
    let status = reconcile(topic_object(&bootstrap, 5, false, status)).await;
    assert_eq!(ready(&status).0, "True", "{status:#}");
    assert_eq!(status["partitions"], 5);
    assert_eq!(partitions(&bootstrap), Some(5));

    // A decrease reaching the operator is refused; nothing is destroyed.
    let refused = reconcile(topic_object(&bootstrap, 2, false, status.clone())).await;
    assert_eq!(
        ready(&refused),
        ("False".into(), "PartitionDecrease".into())
    );
    assert_eq!(partitions(&bootstrap), Some(5));

    // Delete with deletionPolicy Delete.
    reconcile(topic_object(&bootstrap, 5, true, status)).await;
    assert_eq!(partitions(&bootstrap), None, "the topic is gone");
}
