//! The broker's shared state: configuration, identity, topics and their partitions,
//! metrics and readiness. One `Arc<Broker>` is
//! handed to every connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use uuid::Uuid;

use crate::cluster::{BrokerRecord, Command};
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
    /// This process's registration with the cluster: new at every start.
    pub incarnation: Uuid,
    /// The broker-to-broker gRPC address other brokers reach this one at.
    pub rpc_advertised: String,
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
            incarnation: Uuid::new_v4(),
            rpc_advertised: String::new(),
            ready: AtomicBool::new(false),
        }
    }

    /// The same broker, telling other brokers to reach it at `rpc`.
    pub fn with_rpc_advertised(mut self, rpc: String) -> Self {
        self.rpc_advertised = rpc;
        self
    }

    /// What this broker registers with the cluster.
    pub fn registration(&self) -> BrokerRecord {
        BrokerRecord {
            id: self.node_id(),
            host: self.advertised_host.clone(),
            port: self.advertised_port,
            rack: self.config.rack.clone(),
            rpc: self.rpc_advertised.clone(),
            incarnation: self.incarnation,
            fenced: false,
        }
    }

    /// The brokers clients are told of: each registered one that is not fenced, and this one
    /// (before its registration is applied, from its own configuration).
    pub fn client_brokers(&self) -> Vec<BrokerRecord> {
        let mut brokers: Vec<BrokerRecord> = self
            .topics
            .snapshot()
            .brokers
            .values()
            .filter(|broker| !broker.fenced)
            .cloned()
            .collect();
        if !brokers.iter().any(|broker| broker.id == self.node_id()) {
            brokers.push(self.registration());
        }
        brokers.sort_by_key(|broker| broker.id);
        brokers
    }

    /// Where broker `id` takes client connections, if it is known and not fenced.
    pub fn endpoint(&self, id: i32) -> Option<(String, u16)> {
        if id == self.node_id() {
            return Some((self.advertised_host.clone(), self.advertised_port));
        }
        self.topics
            .snapshot()
            .brokers
            .get(&id)
            .filter(|broker| !broker.fenced)
            .map(|broker| (broker.host.clone(), broker.port))
    }

    /// The metadata quorum's leader, as Kafka's controller id (-1 while there is none).
    pub fn controller_id(&self) -> i32 {
        self.topics
            .metadata()
            .quorum()
            .leader()
            .and_then(|id| i32::try_from(id).ok())
            .unwrap_or(-1)
    }

    /// Whether this incarnation's registration is committed and applied here.
    pub fn is_registered(&self) -> bool {
        self.topics
            .snapshot()
            .brokers
            .get(&self.node_id())
            .is_some_and(|record| record.incarnation == self.incarnation)
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
        } else if !self.is_registered() {
            Some("not registered with the cluster yet")
        } else {
            None
        }
    }

    /// Proposes this broker's registration; says whether it is committed.
    pub fn register_blocking(&self) -> bool {
        let record = self.registration();
        match self
            .topics
            .metadata()
            .propose_blocking(Command::RegisterBroker(record))
        {
            Ok(applied) => applied.outcome.is_ok(),
            Err(error) => {
                tracing::debug!(%error, "registering this broker");
                false
            }
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
