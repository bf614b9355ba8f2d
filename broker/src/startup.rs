//! Start-up order: claim the data directory, serve the admin listener, recover the logs, and
//! only then bind the Kafka listener.
//!
//! ```text
//!  start():   data dir, meta.properties ─► admin listener serving (/livez 200, /readyz 503)
//!  recover(): clean-shutdown marker ─► open + recover every log ─► bind Kafka ─► ready (/readyz 200)
//!  serve():   accept Kafka connections until shutdown
//! ```
//!
//! While logs recover the Kafka port is not bound: a client's connection is refused, which
//! every Kafka client treats as a broker that is down for now — it backs off
//! (`reconnect.backoff.ms`) and retries, or uses another bootstrap broker. A listener bound
//! but not yet accepting would instead leave its connections queued without an answer for as
//! long as recovery takes, until the client's request timeout. The admin port answers from
//! the start so a long recovery is live but not ready, and a liveness probe does not kill it.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::admin::{self, AdminState};
use crate::broker::Broker;
use crate::clean_shutdown::{self, LastStop};
use crate::cluster::SNAPSHOT_EVERY;
use crate::cluster::quorum::service::describe_voters;
use crate::cluster::quorum::types::TypeConfig;
use crate::cluster::quorum::{QuorumConfig, QuorumService};
use crate::config::{BrokerSettings, Config};
use crate::log::Syncer;
use crate::rpc::Identity;
use crate::rpc::proto::metadata_quorum_server::MetadataQuorumServer;
use crate::topics::{TopicError, Topics};
use crate::{maintenance, meta_properties, server};

/// A broker whose data directory is claimed and whose admin listener serves; its logs are not
/// recovered yet and its Kafka port is not bound.
pub struct Starting {
    config: Config,
    cluster_id: String,
    /// `meta.properties` existed before this start.
    identity_existed: bool,
    admin: Admin,
    /// The broker-to-broker gRPC listener, bound; served once the metadata is open.
    rpc: TcpListener,
}

/// The admin listener's task; stops when dropped.
struct Admin {
    addr: SocketAddr,
    state: Arc<AdminState>,
    task: JoinHandle<std::io::Result<()>>,
    stop: CancellationToken,
    _stop_on_drop: DropGuard,
}

/// A broker whose logs are recovered and whose Kafka listener is bound but not yet serving.
pub struct Bound {
    pub broker: Arc<Broker>,
    pub kafka: TcpListener,
    admin: Admin,
    rpc_addr: SocketAddr,
    /// The RPC listener and the registration: they run from recovery on, until serving ends.
    rpc_task: JoinHandle<Result<(), tonic::transport::Error>>,
    registration_task: JoinHandle<()>,
    stop_background: CancellationToken,
    _stop_background_on_drop: DropGuard,
}

/// Prepares the data directory and serves the admin listener.
pub async fn start(config: Config) -> anyhow::Result<Starting> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create --data-dir {}", config.data_dir.display()))?;
    let identity_existed = meta_properties::exists(&config.data_dir);
    let voters = &config.settings.cluster.voters;
    let others = voters
        .keys()
        .any(|id| u64::try_from(config.node_id) != Ok(*id));
    if others && !identity_existed && config.cluster_id.is_none() {
        anyhow::bail!(
            "this broker is to join a cluster (controller.quorum.voters {}) with an empty data \
             directory: give it --cluster-id, the same on every broker of the cluster",
            describe_voters(voters)
        );
    }
    let cluster_id = meta_properties::load_or_init(
        &config.data_dir,
        config.cluster_id.as_deref(),
        config.node_id,
    )?;
    for key in config.settings.unknown_keys() {
        tracing::warn!(
            key,
            "the configuration {key} was supplied but is not a known config"
        );
    }
    let listener = TcpListener::bind(config.admin_listen)
        .await
        .with_context(|| format!("cannot listen on --admin-listen {}", config.admin_listen))?;
    let addr = listener.local_addr()?;
    let rpc = TcpListener::bind(config.rpc_listen)
        .await
        .with_context(|| format!("cannot listen on --rpc-listen {}", config.rpc_listen))?;
    let rpc_addr = rpc.local_addr()?;
    if let Ok(me) = u64::try_from(config.node_id)
        && let Some(configured) = voters.get(&me)
        && configured.rsplit_once(':').map(|(_, port)| port) != Some(&rpc_addr.port().to_string())
    {
        anyhow::bail!(
            "controller.quorum.voters gives node {me} the address {configured}, but this broker's \
             --rpc-listen is {rpc_addr}: the ports must match"
        );
    }
    let state = Arc::new(AdminState::default());
    let stop = CancellationToken::new();
    let task = tokio::spawn(admin::serve(listener, state.clone(), stop.clone()));
    Ok(Starting {
        config,
        cluster_id,
        identity_existed,
        rpc,
        admin: Admin {
            addr,
            state,
            task,
            _stop_on_drop: stop.clone().drop_guard(),
            stop,
        },
    })
}

/// [`start`], then [`Starting::recover`].
pub async fn bind(config: Config) -> anyhow::Result<Bound> {
    start(config).await?.recover().await
}

impl Starting {
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin.addr
    }

    pub fn rpc_addr(&self) -> SocketAddr {
        self.rpc
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Opens the metadata (joining the quorum), recovers every log, then binds the Kafka
    /// listener; the broker is ready.
    pub async fn recover(self) -> anyhow::Result<Bound> {
        let node_id = u64::try_from(self.config.node_id).unwrap_or_default();
        let cluster = &self.config.settings.cluster;
        let quorum = QuorumConfig {
            node_id,
            voters: cluster.voters.clone(),
            advertised: self.rpc_advertised()?,
            election_timeout: std::time::Duration::from_millis(cluster.election_timeout_ms),
            snapshot_every: SNAPSHOT_EVERY,
            propose_timeout: std::time::Duration::from_secs(30),
        };
        let identity = Identity::new(self.cluster_id.clone(), node_id, quorum.voter_ids());
        let for_open = identity.clone();
        let rpc_advertised = quorum.advertised.clone();
        self.recover_with(
            identity,
            rpc_advertised,
            move |data_dir, settings, clean| {
                Topics::open_in_cluster(data_dir, settings, clean, Syncer::os(), quorum, for_open)
            },
        )
        .await
    }

    /// The RPC address other brokers reach this one at: its entry in the voters, else the
    /// host clients are told (or the bound address) with the bound RPC port.
    fn rpc_advertised(&self) -> anyhow::Result<String> {
        let node_id = u64::try_from(self.config.node_id).unwrap_or_default();
        if let Some(configured) = self.config.settings.cluster.voters.get(&node_id) {
            return Ok(configured.clone());
        }
        let bound = self.rpc_addr();
        let host = match &self.config.advertised {
            Some((host, _)) => host.clone(),
            None if bound.ip().is_unspecified() => local_hostname()?,
            None => bound.ip().to_string(),
        };
        Ok(if host.contains(':') {
            format!("[{host}]:{}", bound.port())
        } else {
            format!("{host}:{}", bound.port())
        })
    }

    /// [`recover`](Self::recover) with `open` opening the logs (tests slow it down).
    async fn recover_with(
        self,
        identity: Arc<Identity>,
        rpc_advertised: String,
        open: impl FnOnce(&Path, BrokerSettings, bool) -> Result<Topics, TopicError> + Send + 'static,
    ) -> anyhow::Result<Bound> {
        let Starting {
            config,
            cluster_id,
            identity_existed,
            admin,
            rpc,
        } = self;
        let data_dir = config.data_dir.clone();
        let settings = config.settings.clone();
        let topics = tokio::task::spawn_blocking(move || -> anyhow::Result<Topics> {
            let last_stop = LastStop::find(&data_dir, identity_existed)
                .context("reading the clean-shutdown marker")?;
            match last_stop {
                LastStop::NewDataDir => tracing::info!("new data directory: nothing to recover"),
                LastStop::Clean => tracing::info!("clean-shutdown marker found: loading logs"),
                LastStop::Unclean => tracing::info!(
                    "no clean-shutdown marker: recovering logs from their checkpoints"
                ),
            }
            Ok(open(&data_dir, settings, last_stop.clean())?)
        })
        .await
        .context("log recovery task")??;
        let kafka = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on --listen {}", config.listen))?;
        let bound_addr = kafka.local_addr()?;
        let (host, port) = match &config.advertised {
            Some(advertised) => advertised.clone(),
            // Clients cannot connect to a wildcard: advertise this host's name.
            None if bound_addr.ip().is_unspecified() => (local_hostname()?, bound_addr.port()),
            None => (bound_addr.ip().to_string(), bound_addr.port()),
        };
        let broker = Arc::new(
            Broker::new(config, cluster_id, (host, port), topics)
                .with_rpc_advertised(rpc_advertised),
        );
        let rpc_addr = rpc.local_addr()?;
        let stop_background = CancellationToken::new();
        let rpc_task = tokio::spawn(serve_rpc(
            rpc,
            broker.topics.metadata().quorum().raft().clone(),
            identity,
            stop_background.clone(),
        ));
        // Alone, registering is a local commit: done before the broker says it is ready.
        let metadata = broker.topics.metadata();
        if metadata.quorum().leader() == Some(metadata.quorum().node_id()) {
            let registering = broker.clone();
            tokio::task::spawn_blocking(move || registering.register_blocking())
                .await
                .context("registration task")?;
        }
        let registration_task =
            tokio::spawn(keep_registering(broker.clone(), stop_background.clone()));
        admin.state.set_broker(broker.clone());
        // Logs are recovered and the listener is bound: connections from now on
        // are queued and served, so the broker is ready.
        broker.set_ready(true);
        Ok(Bound {
            broker,
            kafka,
            admin,
            rpc_addr,
            rpc_task,
            registration_task,
            _stop_background_on_drop: stop_background.clone().drop_guard(),
            stop_background,
        })
    }
}

impl Bound {
    pub fn kafka_addr(&self) -> SocketAddr {
        self.kafka
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn admin_addr(&self) -> SocketAddr {
        self.admin.addr
    }

    pub fn rpc_addr(&self) -> SocketAddr {
        self.rpc_addr
    }

    /// Serves until `shutdown` fires, then drains within the configured
    /// shutdown timeout.
    pub async fn serve(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let Bound {
            broker,
            kafka,
            admin,
            rpc_task,
            registration_task,
            stop_background,
            _stop_background_on_drop,
            ..
        } = self;
        let drain = broker.config.shutdown_timeout;
        let stop_admin = admin.stop.clone();
        let shutdown_admin = shutdown.clone();
        tokio::spawn(async move {
            shutdown_admin.cancelled().await;
            stop_admin.cancel();
        });
        let settings = &broker.config.settings;
        broker.groups.start(shutdown.clone());
        broker.txns.start(shutdown.clone());
        let retention_task = tokio::spawn(maintenance::run(
            broker.topics.clone(),
            std::time::Duration::from_millis(settings.log_retention_check_interval_ms),
            shutdown.clone(),
            "retention",
            maintenance::apply_retention,
        ));
        let checkpoint_task = tokio::spawn(maintenance::run(
            broker.topics.clone(),
            std::time::Duration::from_millis(settings.log_flush_offset_checkpoint_interval_ms),
            shutdown.clone(),
            "recovery-point checkpoints",
            maintenance::checkpoint_recovery_points,
        ));
        let expiration = settings.producer_id_expiration_ms;
        let producers_task = tokio::spawn(maintenance::run(
            broker.topics.clone(),
            std::time::Duration::from_millis(settings.producer_id_expiration_check_interval_ms),
            shutdown.clone(),
            "producer id expiration",
            move |topics| maintenance::expire_producers(topics, expiration),
        ));
        // Kafka starts no cleaner thread when `log.cleaner.threads` is 0.
        let cleaner_task =
            (settings.log_cleaner_enable && settings.log_cleaner_threads > 0).then(|| {
                let cleaner = Arc::new(maintenance::LogCleaner::new(settings));
                // A throttled clean may take long: shutdown abandons it rather than wait.
                let stop_cleaner = cleaner.clone();
                let cleaner_shutdown = shutdown.clone();
                tokio::spawn(async move {
                    cleaner_shutdown.cancelled().await;
                    stop_cleaner.stop();
                });
                tokio::spawn(maintenance::run(
                    broker.topics.clone(),
                    std::time::Duration::from_millis(settings.log_cleaner_backoff_ms),
                    shutdown.clone(),
                    "log cleaner",
                    move |topics| cleaner.clean_logs(topics),
                ))
            });
        server::serve(kafka, broker.clone(), shutdown.clone(), drain).await;
        broker.set_ready(false);
        stop_background.cancel();
        registration_task.await.context("registration task")?;
        match rpc_task.await.context("RPC listener task")? {
            Ok(()) => {}
            Err(error) => tracing::warn!(%error, "the RPC listener stopped with an error"),
        }
        retention_task.await.context("retention task")?;
        checkpoint_task.await.context("checkpoint task")?;
        producers_task
            .await
            .context("producer id expiration task")?;
        if let Some(task) = cleaner_task {
            task.await.context("log cleaner task")?;
        }
        let Admin {
            task,
            _stop_on_drop,
            ..
        } = admin;
        task.await
            .context("admin listener task")?
            .context("admin listener")?;
        // Every connection is gone: flush the logs, then mark the shutdown
        // clean so the next start skips recovery scans.
        let topics = broker.topics.clone();
        let data_dir = broker.config.data_dir.clone();
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            topics.flush_all().context("flushing logs at shutdown")?;
            clean_shutdown::mark(&data_dir).context("writing the clean-shutdown marker")
        })
        .await
        .context("shutdown flush task")??;
        tracing::info!("broker stopped cleanly");
        Ok(())
    }
}

/// Registers this broker with the cluster, retrying until its registration is applied here
/// or `stop` fires.
async fn keep_registering(broker: Arc<Broker>, stop: CancellationToken) {
    let mut attempts = 0u32;
    while !broker.is_registered() {
        let registering = broker.clone();
        let registered = tokio::select! {
            _ = stop.cancelled() => return,
            done = tokio::task::spawn_blocking(move || registering.register_blocking()) => {
                done.unwrap_or(false)
            }
        };
        if registered {
            break;
        }
        attempts += 1;
        if attempts.is_multiple_of(20) {
            tracing::warn!(
                attempts,
                "this broker is not registered with the cluster yet; retrying"
            );
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(std::time::Duration::from_millis(500)) => {}
        }
    }
    tracing::info!(incarnation = %broker.incarnation, "registered with the cluster");
}

/// Serves the broker-to-broker gRPC services until `shutdown` fires.
async fn serve_rpc(
    listener: TcpListener,
    raft: openraft::Raft<TypeConfig>,
    identity: Arc<Identity>,
    shutdown: CancellationToken,
) -> Result<(), tonic::transport::Error> {
    let quorum = MetadataQuorumServer::with_interceptor(QuorumService::new(raft), move |request| {
        identity.check(request)
    });
    tonic::transport::Server::builder()
        .add_service(quorum)
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
            shutdown.cancelled_owned(),
        )
        .await
}

/// This machine's host name, advertised when listening on a wildcard address.
fn local_hostname() -> anyhow::Result<String> {
    let mut buffer = [0u8; 256];
    // SAFETY: gethostname writes at most `len` bytes into the buffer we own.
    let status = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) };
    anyhow::ensure!(
        status == 0,
        "cannot read the host name: {}",
        std::io::Error::last_os_error()
    );
    let end = buffer
        .iter()
        .position(|byte| *byte == 0)
        .unwrap_or(buffer.len());
    let name = String::from_utf8_lossy(&buffer[..end]).into_owned();
    anyhow::ensure!(
        !name.is_empty(),
        "listening on a wildcard address with no host name: set --advertised-address"
    );
    Ok(name)
}

#[cfg(test)]
mod tests;
