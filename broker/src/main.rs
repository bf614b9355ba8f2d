//! `fjord-broker`: runs a single-node Kafka-compatible broker.

use clap::Parser as _;
use fjord_broker::{Cli, Config};
use fjord_common::{Telemetry, shutdown_token};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let _telemetry = match Telemetry::init("fjord-broker", &cli.log) {
        Ok(telemetry) => telemetry,
        Err(error) => {
            eprintln!("fjord-broker: {error:#}");
            return std::process::ExitCode::from(2);
        }
    };
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            eprintln!("fjord-broker: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = Config::load(&cli)?;
    let shutdown = shutdown_token();
    let starting = fjord_broker::start(config).await?;
    tracing::info!(admin = %starting.admin_addr(), "admin listener serving; recovering logs");
    let bound = starting.recover().await?;
    // One machine-readable line, so scripts and tests need not guess ports.
    // Printed once the logs are recovered and the Kafka port is bound.
    println!(
        "listening kafka={} admin={}",
        bound.kafka_addr(),
        bound.admin_addr()
    );
    tracing::info!(
        kafka = %bound.kafka_addr(),
        admin = %bound.admin_addr(),
        cluster_id = %bound.broker.cluster_id,
        "broker started"
    );
    bound.serve(shutdown).await
}
