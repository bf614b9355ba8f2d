//! The Fjord operator: runs Fjord on Kubernetes.
//!
//! ```text
//!            ┌──────────── fjord-operator run ─────────────┐
//!  SIGTERM ─►│ shutdown token                               │
//!            │ http: /metrics /livez /readyz                │
//!            │ leader election (Lease) ──► when leading:    │
//!            │    KafkaCluster controller ─► StatefulSet,   │──► Kubernetes API (server-side apply)
//!            │      Services, ConfigMap, PDB, SA, status    │
//!            │    Topic controller ─► Kafka admin protocol  │──► brokers
//!            └──────────────────────────────────────────────┘
//! ```
//!
//! Each reconciler reads what is referenced, validates (pure), builds the
//! desired state (pure), applies it in a documented order and writes status
//! conditions. See `docs/operator.md` for the design and reconcile order.

pub mod apply;
pub mod cli;
pub mod cluster;
pub mod conditions;
pub mod context;
pub mod error;
pub mod http;
pub mod kafka;
pub mod leader;
pub mod metrics;
pub mod topic;

#[cfg(test)]
mod fixtures;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use fjord_crds::{KafkaCluster, Topic};
use futures::StreamExt as _;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use kube::api::Api;
use kube::runtime::Controller;
use kube::runtime::watcher;
use kube::{Client, Resource};
use serde::de::DeserializeOwned;

use crate::context::{Context, Settings};
use crate::metrics::Metrics;

/// Broker image used when a KafkaCluster names none: the broker built from the
/// same version as this operator.
pub const DEFAULT_BROKER_IMAGE: &str =
    concat!("ghcr.io/fjord/fjord-broker:", env!("CARGO_PKG_VERSION"));

fn api<K>(client: &Client, namespace: &str) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    if namespace.is_empty() {
        Api::all(client.clone())
    } else {
        Api::namespaced(client.clone(), namespace)
    }
}

/// `fjord-operator run`: serves HTTP, waits for leadership, runs the controllers
/// until SIGTERM.
pub async fn run(args: cli::RunArgs) -> anyhow::Result<()> {
    let _telemetry = fjord_common::Telemetry::init("fjord-operator", &args.log)?;
    let shutdown = fjord_common::shutdown_token();
    let client = Client::try_default()
        .await
        .context("no Kubernetes API found (in-cluster service account or KUBECONFIG)")?;
    let metrics = Metrics::new();
    let ready = Arc::new(AtomicBool::new(false));
    let server = tokio::spawn(http::serve(
        args.metrics_address,
        http::router(metrics.clone(), ready.clone()),
        shutdown.clone(),
    ));

    // Standby replicas are ready too: they are healthy, just not leading.
    ready.store(true, Ordering::Relaxed);
    let stop = shutdown.child_token();
    if args.leader_election {
        let namespace = args
            .leader_election_namespace
            .clone()
            .or_else(|| std::env::var("POD_NAMESPACE").ok())
            .unwrap_or_else(|| "default".to_owned());
        let identity = std::env::var("POD_NAME")
            .unwrap_or_else(|_| format!("fjord-operator-{}", uuid::Uuid::new_v4()));
        let elector = leader::Elector::new(
            client.clone(),
            &namespace,
            &args.leader_election_lease,
            &identity,
            args.lease_duration,
        );
        // Losing the Lease stops this replica; its pod restarts as a standby.
        if !elector.lead(&shutdown, shutdown.clone()).await {
            return Ok(());
        }
    }

    let settings = Settings {
        default_image: args.broker_image.clone(),
        topic_resync: args.topic_resync,
    };
    let ctx = Arc::new(Context::new(
        client.clone(),
        metrics,
        settings,
        Arc::new(kafka::client::TcpConnector),
    ));
    let ns = args.watch_namespace.as_str();
    tracing::info!(
        namespace = if ns.is_empty() { "<all>" } else { ns },
        "starting controllers"
    );
    let config = watcher::Config::default();
    // Only the objects the operator made: not every Service and ConfigMap.
    let owned = watcher::Config::default().labels("app.kubernetes.io/managed-by=fjord-operator");
    let clusters = Controller::new(api::<KafkaCluster>(&client, ns), config.clone())
        .owns(api::<StatefulSet>(&client, ns), owned.clone())
        .owns(api::<Service>(&client, ns), owned.clone())
        .owns(api::<ConfigMap>(&client, ns), owned)
        .graceful_shutdown_on(stop.clone().cancelled_owned())
        .run(cluster::reconcile, cluster::error_policy, ctx.clone())
        .for_each(|_| futures::future::ready(()));
    let topic_controller = Controller::new(api::<Topic>(&client, ns), config.clone());
    let topic_store = topic_controller.store();
    // A KafkaCluster that changes (becomes ready, moves its bootstrap address)
    // wakes the Topics that name it.
    let topics = topic_controller
        .watches(api::<KafkaCluster>(&client, ns), config, move |cluster| {
            topic::topics_on(&topic_store.state(), &cluster)
        })
        .graceful_shutdown_on(stop.clone().cancelled_owned())
        .run(topic::reconcile, topic::error_policy, ctx)
        .for_each(|_| futures::future::ready(()));
    tokio::join!(clusters, topics);
    shutdown.cancel();
    server.await??;
    tracing::info!("stopped");
    Ok(())
}
