//! The KafkaCluster controller.
//!
//! ```text
//!  KafkaCluster ──► paused? ──► validate (pure) ──► build (pure) ──► apply, in order: ──► status
//!                     │            │ invalid                          1 ServiceAccount
//!                     ▼            ▼                                  2 ConfigMap (server.properties)
//!                   wait     Ready=False + Event,                     3 headless Service
//!                            nothing applied, wait                    4 bootstrap Service
//!                            for a spec change                        5 StatefulSet (config hash rolls pods)
//!                                                                     6 PodDisruptionBudget
//! ```
//!
//! The order makes every object exist before something refers to it: the
//! pods' ServiceAccount and ConfigMap before the StatefulSet, the headless
//! Service (pod DNS) before the pods that advertise names under it. Status is
//! computed from the StatefulSet the API server returned from the apply.
//!
//! An invalid or unsupported spec gets `Ready=False` with a reason and a
//! Warning Event, and the reconciler waits for the next change instead of
//! retrying. Kubernetes API errors back off and retry.

pub mod build;
pub mod status;
pub mod validate;

use std::sync::Arc;
use std::time::Duration;

use fjord_crds::{KafkaCluster, KafkaClusterStatus};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::jiff::Timestamp;
use kube::Resource as _;
use kube::api::{Api, ListParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use tracing::instrument;

use crate::apply::{apply, delete_if_present, patch_status};
use crate::conditions::{self, Verdict};
use crate::context::{Context, is_paused};
use crate::error::{Error, Result};

/// Name of this controller in metrics and logs.
pub const CONTROLLER: &str = "kafkacluster";

/// How soon a cluster that is not ready yet is looked at again.
const NOT_READY_REQUEUE: Duration = Duration::from_secs(15);
/// How soon a ready cluster is looked at again (the watch covers changes).
const READY_REQUEUE: Duration = Duration::from_secs(300);

/// Reconciles one KafkaCluster.
#[instrument(skip_all, fields(namespace = cluster.metadata.namespace, cluster = cluster.metadata.name))]
pub async fn reconcile(cluster: Arc<KafkaCluster>, ctx: Arc<Context>) -> Result<Action> {
    let _timer = ctx.metrics.reconcile(CONTROLLER);
    if is_paused(&cluster.metadata) {
        tracing::info!("paused, not reconciling");
        return Ok(Action::await_change());
    }
    let namespace = cluster
        .metadata
        .namespace
        .clone()
        .ok_or(Error::MissingField("metadata.namespace"))?;

    if let Err(invalid) = validate::validate(&cluster) {
        let verdicts = conditions::failed(invalid.reason(), invalid.to_string());
        warn_once(&ctx, &cluster, invalid.reason(), &invalid.to_string()).await;
        write_status(&ctx, &cluster, verdicts, None).await?;
        return Ok(Action::await_change());
    }

    let objects = build::build(&cluster, &ctx.settings.default_image);
    let names = build::Names::of(&cluster);
    apply(&ctx.client, &namespace, &objects.service_account).await?;
    apply(&ctx.client, &namespace, &objects.config_map).await?;
    apply(&ctx.client, &namespace, &objects.headless_service).await?;
    apply(&ctx.client, &namespace, &objects.bootstrap_service).await?;
    let sts = apply(&ctx.client, &namespace, &objects.stateful_set).await?;
    match &objects.pod_disruption_budget {
        Some(pdb) => drop(apply(&ctx.client, &namespace, pdb).await?),
        None => {
            delete_if_present::<PodDisruptionBudget>(
                &ctx.client,
                &namespace,
                &names.pod_disruption_budget,
            )
            .await?
        }
    }

    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &namespace);
    let pods = pods
        .list(&ListParams::default().labels(&build::selector_string(&names)))
        .await
        .map_err(|source| Error::Get {
            kind: "Pod".to_owned(),
            namespace: namespace.clone(),
            name: build::selector_string(&names),
            source: Box::new(source),
        })?
        .items;
    let bootstrap = names.bootstrap_servers(&cluster);
    let verdicts = status::verdicts(&cluster, &sts, &pods, &bootstrap);
    let ready = verdicts.first().is_some_and(|v| v.status);
    write_status(&ctx, &cluster, verdicts, Some(&sts)).await?;
    Ok(Action::requeue(if ready {
        READY_REQUEUE
    } else {
        NOT_READY_REQUEUE
    }))
}

async fn write_status(
    ctx: &Context,
    cluster: &KafkaCluster,
    verdicts: Vec<Verdict>,
    sts: Option<&k8s_openapi::api::apps::v1::StatefulSet>,
) -> Result<()> {
    let previous = cluster.status.clone().unwrap_or_default();
    let names = build::Names::of(cluster);
    let (replicas, ready_replicas) = sts.map_or(
        (previous.replicas, previous.ready_replicas),
        status::replica_counts,
    );
    let status = KafkaClusterStatus {
        observed_generation: cluster.metadata.generation,
        conditions: conditions::merge(
            &previous.conditions,
            verdicts,
            cluster.metadata.generation,
            Timestamp::now(),
        ),
        replicas,
        ready_replicas,
        selector: Some(build::selector_string(&names)),
        bootstrap_servers: sts
            .map(|_| names.bootstrap_servers(cluster))
            .or(previous.bootstrap_servers),
        cluster_id: build::cluster_id(cluster),
    };
    patch_status(&ctx.client, cluster, &status).await
}

/// Publishes a Warning Event unless the Ready condition already says the same.
async fn warn_once(ctx: &Context, cluster: &KafkaCluster, reason: &str, message: &str) {
    let current = cluster
        .status
        .as_ref()
        .and_then(|s| conditions::ready_reason(&s.conditions));
    if current == Some(reason) {
        return;
    }
    let event = Event {
        type_: EventType::Warning,
        reason: reason.to_owned(),
        note: Some(message.to_owned()),
        action: "Validate".to_owned(),
        secondary: None,
    };
    if let Err(error) = ctx.recorder.publish(&event, &cluster.object_ref(&())).await {
        tracing::warn!(%error, "cannot publish event");
    }
}

/// Transient failures back off; the metric records the category.
pub fn error_policy(_cluster: Arc<KafkaCluster>, error: &Error, ctx: Arc<Context>) -> Action {
    tracing::warn!(%error, "reconcile failed, retrying");
    ctx.metrics.failure(CONTROLLER, error.category());
    Action::requeue(Duration::from_secs(10))
}

#[cfg(test)]
#[path = "reconcile_tests.rs"]
mod reconcile_tests;
