//! The broker's shared state: configuration, identity, topics and their partitions,
//! metrics and readiness. One `Arc<Broker>` is
//! handed to every connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::config::Config;
use crate::group::{GroupCoordinator, GroupSettings};
use crate::metrics::Metrics;
use crate::topics::Topics;

/// State shared by all connections.
pub struct Broker {
    pub config: Config,
    pub cluster_id: String,
    /// Host and port clients are told to connect to.
    pub advertised_host: String,
    pub advertised_port: u16,
    pub topics: Arc<Topics>,
    /// Consumer groups coordinated here; started by `Bound::serve`.
    pub groups: Arc<GroupCoordinator>,
    pub metrics: Metrics,
    ready: AtomicBool,
}

impl Broker {
    pub fn new(
        config: Config,
        cluster_id: String,
        advertised: (String, u16),
        topics: Topics,
    ) -> Self {
        let topics = Arc::new(topics);
        let groups =
            GroupCoordinator::new(Arc::clone(&topics), GroupSettings::from(&config.settings));
        Self {
            config,
            cluster_id,
            advertised_host: advertised.0,
            advertised_port: advertised.1,
            groups,
            topics,
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
        self.metrics
            .partitions
            .set(self.topics.all_partitions().len() as i64);
        self.metrics.encode()
    }
}
