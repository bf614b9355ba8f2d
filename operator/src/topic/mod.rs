//! The Topic controller.
//!
//! ```text
//!  Topic ──► paused? ──► finalizer ──► Apply:   desired (pure) ──► resolve cluster ──► describe ──► plan (pure)
//!                                       │                                                  │
//!                                       │        Create:  status.topicName first (claims the topic), CreateTopics
//!                                       │        Update:  IncrementalAlterConfigs, CreatePartitions
//!                                       │        Refuse:  Ready=False + Event, nothing changed
//!                                       │        then describe again ──► status (id, partitions, effective config)
//!                                       └────► Cleanup: deletionPolicy Delete and the topic is ours ──► DeleteTopics
//! ```
//!
//! The cluster is named by `spec.cluster.name` (a KafkaCluster in the same
//! namespace, reached at its `status.bootstrapServers`) or given directly as
//! `spec.cluster.bootstrapServers`. A ready topic is re-read every resync
//! period, so drift made behind the operator's back is reverted.
//!
//! Ownership: the operator writes `status.topicName` before it creates a
//! topic and `status.topicId` after; an existing topic with another id (or
//! none recorded) is only touched when `spec.adopt` is true.
//!
//! Every Topic carries the finalizer, so deletion waits for the operator:
//! with `deletionPolicy: Retain` it removes the finalizer and leaves the
//! topic; with `Delete` it deletes the topic first. A Topic whose
//! KafkaCluster is gone is released without deleting anything.

pub mod plan;

use std::sync::Arc;
use std::time::Duration;

use fjord_crds::topic::DeletionPolicy;
use fjord_crds::{KafkaCluster, Topic, TopicStatus};
use k8s_openapi::jiff::Timestamp;
use kube::Resource as _;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use tracing::instrument;

use crate::apply::patch_status;
use crate::conditions::{self, Verdict};
use crate::context::{Context, is_paused};
use crate::error::{Error, Result};
use crate::kafka::{Admin, TopicState};
use plan::{Desired, Plan};

/// Name of this controller in metrics and logs.
pub const CONTROLLER: &str = "topic";
/// The finalizer that lets the operator apply the deletion policy.
pub const FINALIZER: &str = "fjord.dev/topic";
/// How soon a Topic waiting for its cluster is looked at again.
const WAIT_REQUEUE: Duration = Duration::from_secs(15);

/// Reconciles one Topic.
#[instrument(skip_all, fields(namespace = topic.metadata.namespace, topic = topic.metadata.name))]
pub async fn reconcile(topic: Arc<Topic>, ctx: Arc<Context>) -> Result<Action> {
    let _timer = ctx.metrics.reconcile(CONTROLLER);
    if is_paused(&topic.metadata) {
        tracing::info!("paused, not reconciling");
        return Ok(Action::await_change());
    }
    let namespace = topic
        .metadata
        .namespace
        .clone()
        .ok_or(Error::MissingField("metadata.namespace"))?;
    let name = topic.metadata.name.clone().unwrap_or_default();
    let api: Api<Topic> = Api::namespaced(ctx.client.clone(), &namespace);
    finalizer(&api, FINALIZER, topic, |event| async {
        match event {
            Finalizer::Apply(topic) => apply(&topic, &ctx).await,
            Finalizer::Cleanup(topic) => cleanup(&topic, &ctx).await,
        }
    })
    .await
    .map_err(|source| Error::Finalizer {
        namespace,
        name,
        source: Box::new(source),
    })
}

/// Where the topic's cluster answers, or the conditions to show while it
/// cannot be reached.
enum Servers {
    Found(String),
    Wait(Vec<Verdict>),
    /// The KafkaCluster does not exist.
    NoCluster(Vec<Verdict>),
}

async fn resolve(topic: &Topic, ctx: &Context) -> Result<Servers> {
    let cluster = &topic.spec.cluster;
    if let Some(servers) = &cluster.bootstrap_servers {
        return Ok(Servers::Found(servers.clone()));
    }
    let namespace = topic.metadata.namespace.clone().unwrap_or_default();
    let Some(name) = cluster.name.clone() else {
        return Ok(Servers::NoCluster(conditions::failed(
            "NoCluster",
            "spec.cluster names neither a KafkaCluster nor bootstrap servers",
        )));
    };
    let api: Api<KafkaCluster> = Api::namespaced(ctx.client.clone(), &namespace);
    let found = api.get_opt(&name).await.map_err(|source| Error::Get {
        kind: "KafkaCluster".to_owned(),
        namespace: namespace.clone(),
        name: name.clone(),
        source: Box::new(source),
    })?;
    let Some(kafka) = found else {
        return Ok(Servers::NoCluster(conditions::failed(
            "ClusterNotFound",
            format!("KafkaCluster {namespace}/{name} does not exist"),
        )));
    };
    let status = kafka.status.unwrap_or_default();
    let ready = status
        .conditions
        .iter()
        .any(|c| c.type_ == conditions::READY && c.status == "True");
    match status.bootstrap_servers {
        Some(servers) if ready => Ok(Servers::Found(servers)),
        _ => Ok(Servers::Wait(conditions::progressing(
            "ClusterNotReady",
            format!("waiting for KafkaCluster {name} to be ready"),
        ))),
    }
}

async fn apply(topic: &Topic, ctx: &Context) -> Result<Action> {
    let desired = match plan::desired(topic) {
        Ok(desired) => desired,
        Err(invalid) => {
            let message = invalid.to_string();
            warn_once(ctx, topic, invalid.reason(), &message).await;
            write_status(
                ctx,
                topic,
                conditions::failed(invalid.reason(), message),
                None,
                None,
            )
            .await?;
            return Ok(Action::await_change());
        }
    };
    let servers = match resolve(topic, ctx).await? {
        Servers::Found(servers) => servers,
        Servers::Wait(verdicts) | Servers::NoCluster(verdicts) => {
            write_status(ctx, topic, verdicts, None, None).await?;
            return Ok(Action::requeue(WAIT_REQUEUE));
        }
    };
    let kafka = |source| Error::Kafka {
        servers: servers.clone(),
        source,
    };
    let mut admin = match ctx.kafka.connect(&servers).await {
        Ok(admin) => admin,
        Err(source) => {
            let verdicts = conditions::failed("ClusterUnreachable", source.to_string());
            write_status(ctx, topic, verdicts, None, None).await?;
            return Err(kafka(source));
        }
    };
    let observed = admin.describe_topic(&desired.name).await.map_err(kafka)?;
    let owned = observed
        .as_ref()
        .is_some_and(|o| plan::owned(topic.status.as_ref(), &desired, o));
    match plan::plan(&desired, observed.as_ref(), owned, topic.spec.adopt) {
        Plan::Create => {
            // Claim the name first: if the status write after the create is
            // lost, the next pass still recognises the topic as ours.
            let claim =
                conditions::progressing("Creating", format!("creating topic {:?}", desired.name));
            write_status(ctx, topic, claim, Some(&desired.name), None).await?;
            admin
                .create_topic(
                    &desired.name,
                    desired.partitions,
                    desired.replication_factor,
                    &desired.config,
                )
                .await
                .map_err(kafka)?;
            event(
                ctx,
                topic,
                EventType::Normal,
                "Created",
                format!("created topic {:?}", desired.name),
            )
            .await;
        }
        Plan::Update { changes, grow_to } => {
            if !changes.is_empty() {
                admin
                    .alter_configs(&desired.name, &changes)
                    .await
                    .map_err(kafka)?;
                let keys: Vec<&str> = changes.iter().map(|(k, _)| k.as_str()).collect();
                event(
                    ctx,
                    topic,
                    EventType::Normal,
                    "ConfigUpdated",
                    format!("set {}", keys.join(", ")),
                )
                .await;
            }
            if let Some(count) = grow_to {
                admin
                    .create_partitions(&desired.name, count)
                    .await
                    .map_err(kafka)?;
                event(
                    ctx,
                    topic,
                    EventType::Normal,
                    "PartitionsAdded",
                    format!("grew to {count} partitions"),
                )
                .await;
            }
        }
        Plan::Refuse { reason, message } => {
            warn_once(ctx, topic, reason, &message).await;
            write_status(
                ctx,
                topic,
                conditions::failed(reason, message),
                None,
                observed.as_ref(),
            )
            .await?;
            return Ok(Action::requeue(ctx.settings.topic_resync));
        }
    }
    let now = admin.describe_topic(&desired.name).await.map_err(kafka)?;
    let verdicts = match &now {
        Some(state) if in_sync(&desired, state) => conditions::ready(
            "InSync",
            format!("topic {:?} matches the resource", desired.name),
        ),
        Some(_) => {
            conditions::progressing("Converging", "the cluster has not applied every change yet")
        }
        None => conditions::progressing("Creating", "the topic is not visible yet"),
    };
    let requeue = if verdicts[0].status {
        ctx.settings.topic_resync
    } else {
        WAIT_REQUEUE
    };
    write_status(ctx, topic, verdicts, Some(&desired.name), now.as_ref()).await?;
    Ok(Action::requeue(requeue))
}

fn in_sync(desired: &Desired, state: &TopicState) -> bool {
    state.partitions == desired.partitions && state.overrides == desired.config
}

async fn cleanup(topic: &Topic, ctx: &Context) -> Result<Action> {
    if topic.spec.deletion_policy == DeletionPolicy::Retain {
        tracing::info!("deletionPolicy Retain: leaving the topic in the cluster");
        return Ok(Action::await_change());
    }
    let Some(recorded) = topic.status.as_ref().and_then(|s| s.topic_name.clone()) else {
        // Nothing was ever created (or claimed) by this resource.
        return Ok(Action::await_change());
    };
    let servers = match resolve(topic, ctx).await? {
        Servers::Found(servers) => servers,
        Servers::NoCluster(_) => {
            tracing::warn!("the topic's cluster is gone; releasing the resource without deleting");
            return Ok(Action::await_change());
        }
        Servers::Wait(verdicts) => {
            write_status(ctx, topic, verdicts, None, None).await?;
            return Ok(Action::requeue(WAIT_REQUEUE));
        }
    };
    let kafka = |source| Error::Kafka {
        servers: servers.clone(),
        source,
    };
    let mut admin: Box<dyn Admin> = ctx.kafka.connect(&servers).await.map_err(kafka)?;
    let desired = Desired {
        name: recorded.clone(),
        partitions: topic.spec.partitions,
        replication_factor: topic.spec.replication_factor,
        config: Default::default(),
    };
    if let Some(observed) = admin.describe_topic(&recorded).await.map_err(kafka)? {
        if plan::owned(topic.status.as_ref(), &desired, &observed) || topic.spec.adopt {
            admin.delete_topic(&recorded).await.map_err(kafka)?;
            tracing::info!(kafka_topic = recorded, "deleted topic");
        } else {
            tracing::warn!(
                kafka_topic = recorded,
                "topic is not ours any more; not deleting it"
            );
        }
    }
    Ok(Action::await_change())
}

async fn write_status(
    ctx: &Context,
    topic: &Topic,
    verdicts: Vec<Verdict>,
    topic_name: Option<&str>,
    observed: Option<&TopicState>,
) -> Result<()> {
    let previous = topic.status.clone().unwrap_or_default();
    let status = TopicStatus {
        observed_generation: topic.metadata.generation,
        conditions: conditions::merge(
            &previous.conditions,
            verdicts,
            topic.metadata.generation,
            Timestamp::now(),
        ),
        topic_name: topic_name.map(str::to_owned).or(previous.topic_name),
        topic_id: observed
            .and_then(|o| o.id.map(|id| id.to_string()))
            .or(previous.topic_id),
        partitions: observed.map(|o| o.partitions).or(previous.partitions),
        replication_factor: observed
            .map(|o| o.replication_factor)
            .or(previous.replication_factor),
        config: observed.map_or(previous.config, |o| o.effective.clone()),
    };
    if topic.status.as_ref() == Some(&status) {
        return Ok(());
    }
    patch_status(&ctx.client, topic, &status).await
}

async fn event(ctx: &Context, topic: &Topic, type_: EventType, reason: &str, note: String) {
    let event = Event {
        type_,
        reason: reason.to_owned(),
        note: Some(note),
        action: "Reconcile".to_owned(),
        secondary: None,
    };
    if let Err(error) = ctx.recorder.publish(&event, &topic.object_ref(&())).await {
        tracing::warn!(%error, "cannot publish event");
    }
}

/// A Warning Event, unless the Ready condition already gives the same reason.
async fn warn_once(ctx: &Context, topic: &Topic, reason: &str, message: &str) {
    let current = topic
        .status
        .as_ref()
        .and_then(|s| conditions::ready_reason(&s.conditions));
    if current != Some(reason) {
        event(ctx, topic, EventType::Warning, reason, message.to_owned()).await;
    }
}

/// The Topics in `topics` that live on `cluster` (by name, same namespace).
pub fn topics_on(
    topics: &[Arc<Topic>],
    cluster: &KafkaCluster,
) -> Vec<kube::runtime::reflector::ObjectRef<Topic>> {
    topics
        .iter()
        .filter(|t| {
            t.metadata.namespace == cluster.metadata.namespace
                && t.spec.cluster.name.is_some()
                && t.spec.cluster.name == cluster.metadata.name
        })
        .map(|t| kube::runtime::reflector::ObjectRef::from_obj(t.as_ref()))
        .collect()
}

/// Transient failures back off; the metric records the category.
pub fn error_policy(_topic: Arc<Topic>, error: &Error, ctx: Arc<Context>) -> Action {
    tracing::warn!(%error, "reconcile failed, retrying");
    ctx.metrics.failure(CONTROLLER, error.category());
    Action::requeue(Duration::from_secs(10))
}

#[cfg(test)]
#[path = "reconcile_tests.rs"]
mod reconcile_tests;
