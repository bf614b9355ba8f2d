//! The broker's shared state: configuration, identity, topics and their partitions,
//! metrics and readiness. One `Arc<Broker>` is
//! handed to every connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::config::Config;
use crate::group::{GroupCoordinator, GroupSettings};
use crate::metrics::Metrics;
use crate::topics::Topics;
use crate::txn::service::TxnService;
use crate::txn::{TransactionVersion, TxnSettings};

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
    /// The transaction coordinator; started by `Bound::serve`.
    pub txns: Arc<TxnService>,
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
        let txns = TxnService::new(
            Arc::clone(&topics),
            Arc::clone(&groups),
            txn_settings(&config.settings, &topics),
        );
        Self {
            config,
            cluster_id,
            advertised_host: advertised.0,
            advertised_port: advertised.1,
            groups,
            txns,
            topics,
            metrics: Metrics::default(),
            ready: AtomicBool::new(false),
        }
    }

    pub fn node_id(&self) -> i32 {
        self.config.node_id
    }

    /// Serving, and the metadata quorum has a leader.
    pub fn is_ready(&self) -> bool {
        self.not_ready_because().is_none()
    }

    /// Why the broker is not ready, if it is not.
    pub fn not_ready_because(&self) -> Option<&'static str> {
        if !self.ready.load(Ordering::Acquire) {
            Some("not serving")
        } else if self.topics.metadata().quorum().leader().is_none() {
            Some("no metadata quorum leader")
        } else {
            None
        }
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

/// The transaction coordinator's settings from the broker's, at the cluster's
/// `transaction.version` feature level.
fn txn_settings(settings: &crate::config::BrokerSettings, topics: &Topics) -> TxnSettings {
    let level = crate::cluster::features::finalized(&topics.snapshot())
        .into_iter()
        .find(|(name, _)| *name == "transaction.version")
        .map_or(2, |(_, level)| level);
    TxnSettings {
        max_timeout_ms: settings.transaction_max_timeout_ms,
        transactional_id_expiration_ms: settings.transactional_id_expiration_ms,
        abort_timed_out_interval_ms: settings.transaction_abort_timed_out_interval_ms,
        remove_expired_interval_ms: settings.transaction_remove_expired_interval_ms,
        state_log_partitions: settings.transaction_state_log_num_partitions,
        state_log_segment_bytes: settings.transaction_state_log_segment_bytes,
        transaction_version: TransactionVersion::from_level(level)
            .unwrap_or(TransactionVersion::V2),
    }
}
