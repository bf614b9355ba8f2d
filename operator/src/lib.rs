//! The Fjord operator.
pub mod cli;

/// Broker image used when a KafkaCluster names none: the broker built from the
/// same version as this operator.
pub const DEFAULT_BROKER_IMAGE: &str =
    concat!("ghcr.io/fjord/fjord-broker:", env!("CARGO_PKG_VERSION"));

pub async fn run(_args: cli::RunArgs) -> anyhow::Result<()> {
    anyhow::bail!("not yet")
}
