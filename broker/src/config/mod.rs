//! Broker configuration: command-line flags (each with a `FJORD_*` environment
//! fallback) and a file of broker settings by their Kafka names, which flags
//! override.
//!
//! ```text
//!  --config file (key=value, Kafka names) ──► BrokerSettings ──┐
//!  flags / FJORD_* env ──────────────────────► Cli ────────────┴─► Config
//! ```

mod cli;
mod properties;
mod settings;

pub use cli::Cli;
pub use properties::parse_properties;
pub use settings::{BrokerSettings, ClusterSettings, FlushPolicy, SettingsError, parse_voters};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The gRPC port when --rpc-listen is not given (Kafka's controller port).
pub const DEFAULT_RPC_PORT: u16 = 9093;

/// The validated configuration the broker runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    /// Host and port clients are told to connect to; `None` = the bound address.
    pub advertised: Option<(String, u16)>,
    pub admin_listen: SocketAddr,
    /// The broker-to-broker gRPC listener.
    pub rpc_listen: SocketAddr,
    pub node_id: i32,
    pub cluster_id: Option<String>,
    pub rack: Option<String>,
    pub shutdown_timeout: Duration,
    pub settings: BrokerSettings,
}

impl Config {
    /// Reads the `--config` file, if any, and applies the flags on top.
    pub fn load(cli: &Cli) -> anyhow::Result<Self> {
        let settings = match &cli.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|error| {
                    anyhow::anyhow!("cannot read --config {}: {error}", path.display())
                })?;
                let pairs = parse_properties(&text)
                    .map_err(|error| anyhow::anyhow!("{}: {error}", path.display()))?;
                BrokerSettings::from_pairs(pairs)
                    .map_err(|error| anyhow::anyhow!("{}: {error}", path.display()))?
            }
            None => BrokerSettings::default(),
        };
        let mut settings = settings;
        if let Some(voters) = &cli.voters {
            settings.cluster.voters = parse_voters(voters)
                .map_err(|reason| anyhow::anyhow!("--voters {voters:?}: {reason}"))?;
        }
        let advertised = cli
            .advertised_address
            .as_deref()
            .map(parse_host_port)
            .transpose()?;
        let rpc_listen = cli.rpc_listen.unwrap_or_else(|| {
            let port = if cli.listen.port() == 0 {
                0
            } else {
                DEFAULT_RPC_PORT
            };
            SocketAddr::new(cli.listen.ip(), port)
        });
        Ok(Self {
            data_dir: cli.data_dir.clone(),
            listen: cli.listen,
            advertised,
            admin_listen: cli.admin_listen,
            rpc_listen,
            node_id: cli.node_id,
            cluster_id: cli.cluster_id.clone(),
            rack: cli.rack.clone(),
            shutdown_timeout: cli.shutdown_timeout,
            settings,
        })
    }

    /// A configuration for tests: loopback listeners on free ports, defaults.
    pub fn for_tests(data_dir: PathBuf) -> Self {
        let any_port = SocketAddr::from(([127, 0, 0, 1], 0));
        Self {
            data_dir,
            listen: any_port,
            advertised: None,
            admin_listen: any_port,
            rpc_listen: any_port,
            node_id: 0,
            cluster_id: None,
            rack: None,
            shutdown_timeout: Duration::from_secs(5),
            settings: BrokerSettings::default(),
        }
    }
}

/// Parses `host:port` (IPv6 literals in brackets).
fn parse_host_port(text: &str) -> anyhow::Result<(String, u16)> {
    let (host, port) = text
        .rsplit_once(':')
        .ok_or_else(|| anyhow::anyhow!("--advertised-address {text:?} must be host:port"))?;
    let port: u16 = port
        .parse()
        .map_err(|_| anyhow::anyhow!("--advertised-address {text:?}: {port:?} is not a port"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        anyhow::bail!("--advertised-address {text:?} has no host");
    }
    if host == "0.0.0.0" || host == "::" {
        anyhow::bail!(
            "--advertised-address {text:?}: clients cannot connect to a wildcard address; \
             advertise a name or address they can reach"
        );
    }
    Ok((host.to_owned(), port))
}

#[cfg(test)]
mod tests {
    use super::parse_host_port;

    #[test]
    fn advertised_addresses_accept_names_and_bracketed_ipv6() {
        assert_eq!(
            parse_host_port("broker-0.fjord:9092").unwrap(),
            ("broker-0.fjord".to_owned(), 9092)
        );
        assert_eq!(
            parse_host_port("[::1]:19092").unwrap(),
            ("::1".to_owned(), 19092)
        );
    }

    #[test]
    fn advertised_addresses_reject_wildcards_and_missing_ports() {
        assert!(
            parse_host_port("0.0.0.0:9092")
                .unwrap_err()
                .to_string()
                .contains("wildcard")
        );
        assert!(
            parse_host_port("broker")
                .unwrap_err()
                .to_string()
                .contains("host:port")
        );
        assert!(
            parse_host_port("broker:http")
                .unwrap_err()
                .to_string()
                .contains("not a port")
        );
        assert!(
            parse_host_port(":9092")
                .unwrap_err()
                .to_string()
                .contains("no host")
        );
    }
}
