//! What every reconciliation shares: the API client, metrics, the event
//! recorder, settings, and the way to reach Kafka clusters.

use std::sync::Arc;
use std::time::Duration;

use kube::Client;
use kube::runtime::events::{Recorder, Reporter};

use crate::kafka::Connector;
use crate::metrics::Metrics;

/// The one field manager of every server-side apply the operator makes.
pub const FIELD_MANAGER: &str = "fjord-operator";
/// Annotation that stops reconciliation of one resource while it is `"true"`.
pub const PAUSE_ANNOTATION: &str = "fjord.dev/paused";

/// Settings of the controllers.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Broker image used when a KafkaCluster names none.
    pub default_image: String,
    /// How often a ready Topic is compared with its cluster again.
    pub topic_resync: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            default_image: crate::DEFAULT_BROKER_IMAGE.to_owned(),
            topic_resync: Duration::from_secs(300),
        }
    }
}

/// Shared by every reconciliation.
#[derive(Clone)]
pub struct Context {
    pub client: Client,
    pub metrics: Metrics,
    pub recorder: Recorder,
    pub settings: Settings,
    pub kafka: Arc<dyn Connector>,
}

impl Context {
    pub fn new(
        client: Client,
        metrics: Metrics,
        settings: Settings,
        kafka: Arc<dyn Connector>,
    ) -> Self {
        let reporter = Reporter {
            controller: FIELD_MANAGER.to_owned(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            metrics,
            settings,
            kafka,
        }
    }
}

/// Whether the resource carries the pause annotation.
pub fn is_paused(meta: &kube::api::ObjectMeta) -> bool {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(PAUSE_ANNOTATION))
        .is_some_and(|v| v == "true")
}
