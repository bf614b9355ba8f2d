//! The broker's shared state: configuration, identity, metrics and readiness.
//! One `Arc<Broker>` is handed to every connection.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::config::Config;
use crate::metrics::Metrics;

/// State shared by all connections.
pub struct Broker {
    pub config: Config,
    pub cluster_id: String,
    /// Host and port clients are told to connect to.
    pub advertised_host: String,
    pub advertised_port: u16,
    pub metrics: Metrics,
    ready: AtomicBool,
}

impl Broker {
    pub fn new(
        config: Config,
        cluster_id: String,
        advertised_host: String,
        advertised_port: u16,
    ) -> Self {
        Self {
            config,
            cluster_id,
            advertised_host,
            advertised_port,
            metrics: Metrics::default(),
            ready: AtomicBool::new(false),
        }
    }

    pub fn node_id(&self) -> i32 {
        self.config.node_id
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }

    pub fn render_metrics(&self) -> String {
        self.metrics.encode()
    }
}
