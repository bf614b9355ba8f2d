//! A small Kafka admin client: what topic reconciliation needs and nothing
//! more (Metadata, CreateTopics, DescribeConfigs, IncrementalAlterConfigs,
//! CreatePartitions, DeleteTopics).
//!
//! ```text
//!  topic reconciler ──► Connector::connect(bootstrap) ──► Box<dyn Admin>
//!                                                          │ one TCP connection,
//!                                                          │ requests in turn,
//!                                                          ▼ versions from ApiVersions
//!                                                       a Kafka-compatible broker
//! ```
//!
//! [`Admin`] and [`Connector`] are traits so reconcile flows can be tested
//! against an in-memory cluster ([`memory`]) as well as a real broker.

pub mod client;
pub mod memory;
mod wire;

use std::collections::BTreeMap;

use futures::future::BoxFuture;

/// A topic as the cluster reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TopicState {
    /// Kafka's topic id; `None` when the broker does not report ids.
    pub id: Option<uuid::Uuid>,
    pub partitions: i32,
    pub replication_factor: i32,
    /// Configs set on the topic itself (source `DYNAMIC_TOPIC_CONFIG`): what
    /// the resource controls.
    pub overrides: BTreeMap<String, String>,
    /// Every config not at its default, whatever set it: what status shows.
    pub effective: BTreeMap<String, String>,
}

/// One change of a topic config: `Some` sets the key, `None` returns it to
/// the broker default.
pub type ConfigChange = (String, Option<String>);

/// What topic reconciliation asks of a cluster.
pub trait Admin: Send {
    /// The topic, or `None` when it does not exist.
    fn describe_topic<'a>(
        &'a mut self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<TopicState>, AdminError>>;
    /// Creates the topic; returns its id when the broker reports one.
    fn create_topic<'a>(
        &'a mut self,
        name: &'a str,
        partitions: i32,
        replication_factor: Option<i32>,
        config: &'a BTreeMap<String, String>,
    ) -> BoxFuture<'a, Result<Option<uuid::Uuid>, AdminError>>;
    /// Sets and removes topic configs in one request.
    fn alter_configs<'a>(
        &'a mut self,
        name: &'a str,
        changes: &'a [ConfigChange],
    ) -> BoxFuture<'a, Result<(), AdminError>>;
    /// Grows the topic to `count` partitions.
    fn create_partitions<'a>(
        &'a mut self,
        name: &'a str,
        count: i32,
    ) -> BoxFuture<'a, Result<(), AdminError>>;
    /// Deletes the topic; a topic that is already gone is not an error.
    fn delete_topic<'a>(&'a mut self, name: &'a str) -> BoxFuture<'a, Result<(), AdminError>>;
}

/// Opens admin sessions to clusters by their bootstrap servers.
pub trait Connector: Send + Sync {
    fn connect<'a>(
        &'a self,
        bootstrap_servers: &'a str,
    ) -> BoxFuture<'a, Result<Box<dyn Admin>, AdminError>>;
}

/// Why an admin request failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("cannot connect to any of {servers}: {source}")]
    Connect {
        servers: String,
        source: std::io::Error,
    },
    #[error("{api} request failed on the connection: {source}")]
    Io {
        api: &'static str,
        source: std::io::Error,
    },
    #[error("{api} timed out")]
    Timeout { api: &'static str },
    #[error("cannot encode or decode {api}: {message}")]
    Codec { api: &'static str, message: String },
    #[error("the cluster does not support {api} in a version this client speaks")]
    UnsupportedVersion { api: &'static str },
    #[error("{api} failed with {error}{}", message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Kafka {
        api: &'static str,
        error: kafka_protocol::error::ResponseError,
        message: Option<String>,
    },
}

impl AdminError {
    /// Whether trying again later can help (it cannot for a refused config).
    pub fn is_retriable(&self) -> bool {
        match self {
            Self::Connect { .. } | Self::Io { .. } | Self::Timeout { .. } => true,
            Self::Codec { .. } | Self::UnsupportedVersion { .. } => false,
            Self::Kafka { error, .. } => error.is_retriable(),
        }
    }
}
