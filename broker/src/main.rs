//! `fjord-broker`: runs a Kafka-compatible broker, alone or as one broker of a cluster.

use clap::Parser as _;
use fjord_broker::{Cli, Config};
use fjord_common::{Telemetry, shutdown_token};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let mut cli = Cli::parse();
    // The Raft library logs every election step at info: only its warnings, unless asked.
    if !cli.log.log_level.contains("openraft") {
        cli.log.log_level.push_str(",openraft=warn");
    }
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
        "listening kafka={} admin={} rpc={}",
        bound.kafka_addr(),
        bound.admin_addr(),
        bound.rpc_addr()
    );
    tracing::info!(
        kafka = %bound.kafka_addr(),
        admin = %bound.admin_addr(),
        rpc = %bound.rpc_addr(),
        cluster_id = %bound.broker.cluster_id,
        "broker started"
    );
    bound.serve(shutdown).await
}
