//! Fjord's Kafka-compatible broker.
//!
//! ```text
//!  server/ (accept, frames, connections) ─► protocol/ (decode, versions) ─► api/ (one file per API)
//!  admin (HTTP: /livez /readyz /metrics)
//! ```
//!
//! `run` wires them together for the binary and for tests.

pub mod admin;
pub mod alloc;
pub mod api;
pub mod broker;
mod clean_shutdown;
pub mod cluster;
pub mod config;
pub mod log;
mod maintenance;
pub mod meta_properties;
pub mod metrics;
pub mod producer_state;
pub mod protocol;
pub mod server;
pub mod topics;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use broker::Broker;
pub use config::{Cli, Config};

/// Every allocation in a process that links the broker goes through the
/// guarded allocator, so hostile wire counts cannot abort it (see [`alloc`]).
#[global_allocator]
static GLOBAL: alloc::GuardedAlloc = alloc::GuardedAlloc;

/// A broker whose listeners are bound but not yet serving.
pub struct Bound {
    pub broker: Arc<Broker>,
    pub kafka: TcpListener,
    pub admin: TcpListener,
}

impl Bound {
    pub fn kafka_addr(&self) -> SocketAddr {
        self.kafka
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn admin_addr(&self) -> SocketAddr {
        self.admin
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `shutdown` fires, then drains within the configured
    /// shutdown timeout.
    pub async fn serve(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let Bound {
            broker,
            kafka,
            admin,
        } = self;
        let drain = broker.config.shutdown_timeout;
        let admin_task = tokio::spawn(admin::serve(admin, broker.clone(), shutdown.clone()));
        let settings = &broker.config.settings;
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
        server::serve(kafka, broker.clone(), shutdown.clone(), drain).await;
        broker.set_ready(false);
        retention_task.await.context("retention task")?;
        checkpoint_task.await.context("checkpoint task")?;
        admin_task
            .await
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

/// Prepares the data directory, recovers state and binds both listeners.
pub async fn bind(config: Config) -> anyhow::Result<Bound> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create --data-dir {}", config.data_dir.display()))?;
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
    let kafka = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on --listen {}", config.listen))?;
    let admin = TcpListener::bind(config.admin_listen)
        .await
        .with_context(|| format!("cannot listen on --admin-listen {}", config.admin_listen))?;
    let bound_addr = kafka.local_addr()?;
    let (host, port) = match &config.advertised {
        Some(advertised) => advertised.clone(),
        // Clients cannot connect to a wildcard: advertise this host's name.
        None if bound_addr.ip().is_unspecified() => (local_hostname()?, bound_addr.port()),
        None => (bound_addr.ip().to_string(), bound_addr.port()),
    };
    let data_dir = config.data_dir.clone();
    let settings = config.settings.clone();
    let topics = tokio::task::spawn_blocking(move || -> anyhow::Result<topics::Topics> {
        let clean = clean_shutdown::take(&data_dir).context("reading the clean-shutdown marker")?;
        if !clean {
            tracing::info!("no clean-shutdown marker: recovering logs from their checkpoints");
        }
        Ok(topics::Topics::open(&data_dir, settings, clean)?)
    })
    .await
    .context("log recovery task")??;
    let broker = Arc::new(Broker::new(config, cluster_id, (host, port), topics));
    // Logs are recovered and the listener is bound: connections from now on
    // are queued and served, so the broker is ready.
    broker.set_ready(true);
    Ok(Bound {
        broker,
        kafka,
        admin,
    })
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
