//! `fjord-broker` command-line flags.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use fjord_common::LogArgs;
use fjord_common::units::parse_duration;

/// A Kafka-compatible broker with a durable, segmented log.
///
/// With no arguments it runs a complete single-node broker on 127.0.0.1:9092
/// with its data in ./data.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "fjord-broker", version)]
pub struct Cli {
    /// Directory holding the partition logs and the broker's metadata.
    #[arg(long, env = "FJORD_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// Address of the Kafka listener. Port 0 picks a free port.
    #[arg(long, env = "FJORD_LISTEN", default_value = "127.0.0.1:9092")]
    pub listen: SocketAddr,

    /// `host:port` clients are told to connect to (default: the bound listen
    /// address). Never a wildcard such as 0.0.0.0.
    #[arg(long, env = "FJORD_ADVERTISED_ADDRESS")]
    pub advertised_address: Option<String>,

    /// Address of the broker-to-broker gRPC listener (metadata quorum, replication).
    /// Default: port 9093 on the --listen host (a free port when --listen's port is 0).
    #[arg(long, env = "FJORD_RPC_LISTEN")]
    pub rpc_listen: Option<SocketAddr>,

    /// The voters a new cluster starts with, as Kafka's `controller.quorum.voters`:
    /// `1@host:port,2@host:port,3@host:port` (their --rpc-listen addresses). Overrides the
    /// --config file. Brokers not listed observe the metadata quorum. Absent: one broker.
    #[arg(long, env = "FJORD_VOTERS")]
    pub voters: Option<String>,

    /// Address of the HTTP admin listener (/livez, /readyz, /metrics).
    #[arg(long, env = "FJORD_ADMIN_LISTEN", default_value = "127.0.0.1:9644")]
    pub admin_listen: SocketAddr,

    /// This broker's node id.
    #[arg(long, env = "FJORD_NODE_ID", default_value_t = 0, value_parser = clap::value_parser!(i32).range(0..))]
    pub node_id: i32,

    /// Cluster id. When absent, one is generated once and kept in the data
    /// directory's meta.properties.
    #[arg(long, env = "FJORD_CLUSTER_ID")]
    pub cluster_id: Option<String>,

    /// Rack (failure domain) of this broker, reported in Metadata.
    #[arg(long, env = "FJORD_RACK")]
    pub rack: Option<String>,

    /// How long a graceful shutdown may take to drain in-flight requests
    /// before connections are cut (e.g. 30s).
    #[arg(long, env = "FJORD_SHUTDOWN_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,

    /// File of broker settings by their Kafka names (`log.retention.ms=...`,
    /// `num.partitions=...`), one `key=value` per line. Flags override it.
    #[arg(long, env = "FJORD_CONFIG")]
    pub config: Option<PathBuf>,

    #[command(flatten)]
    pub log: LogArgs,
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::Parser as _;

    #[test]
    fn no_arguments_mean_a_local_single_node_broker() {
        let cli = Cli::try_parse_from(["fjord-broker"]).unwrap();
        assert_eq!(cli.listen.to_string(), "127.0.0.1:9092");
        assert_eq!(cli.admin_listen.to_string(), "127.0.0.1:9644");
        assert_eq!(cli.data_dir.to_str(), Some("./data"));
        assert_eq!(cli.node_id, 0);
        assert_eq!(cli.shutdown_timeout.as_secs(), 30);
    }

    #[test]
    fn bad_flag_values_are_refused_with_the_flag_named() {
        let error = Cli::try_parse_from(["fjord-broker", "--listen", "nowhere"]).unwrap_err();
        assert!(error.to_string().contains("--listen"), "{error}");
        let error = Cli::try_parse_from(["fjord-broker", "--node-id=-1"]).unwrap_err();
        assert!(error.to_string().contains("--node-id"), "{error}");
        let error =
            Cli::try_parse_from(["fjord-broker", "--shutdown-timeout", "soon"]).unwrap_err();
        assert!(error.to_string().contains("not a duration"), "{error}");
    }
}
