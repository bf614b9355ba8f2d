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
    let bound = fjord_broker::bind(config).await?;
    // One machine-readable line, so scripts and tests need not guess ports.
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
