//! Command line of `fjord-operator`. Every flag has a `FJORD_*` environment
//! fallback so the Helm chart can set it either way.

use std::net::SocketAddr;
use std::time::Duration;

use fjord_common::LogArgs;
use fjord_common::units::parse_duration;

/// Runs Fjord on Kubernetes: reconciles KafkaCluster and Topic resources.
#[derive(Debug, clap::Parser)]
#[command(name = "fjord-operator", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// What to do.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Print every CustomResourceDefinition as YAML.
    Crdgen,
    /// Run the controllers against the cluster found by the standard kubeconfig
    /// resolution (in-cluster service account, then `KUBECONFIG`).
    Run(Box<RunArgs>),
}

/// Flags of `fjord-operator run`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Namespace whose resources are reconciled; empty means every namespace.
    #[arg(long, env = "FJORD_WATCH_NAMESPACE", default_value = "")]
    pub watch_namespace: String,

    /// Address of the HTTP server for /metrics, /livez and /readyz.
    #[arg(long, env = "FJORD_METRICS_ADDRESS", default_value = "0.0.0.0:8080")]
    pub metrics_address: SocketAddr,

    /// Elect one active replica through a coordination.k8s.io Lease. Turn off
    /// only when exactly one replica runs.
    #[arg(long, env = "FJORD_LEADER_ELECTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_election: bool,

    /// Name of the leader election Lease.
    #[arg(
        long,
        env = "FJORD_LEADER_ELECTION_LEASE",
        default_value = "fjord-operator"
    )]
    pub leader_election_lease: String,

    /// Namespace of the leader election Lease (default: the pod's namespace,
    /// from `POD_NAMESPACE`, else `default`).
    #[arg(long, env = "FJORD_LEADER_ELECTION_NAMESPACE")]
    pub leader_election_namespace: Option<String>,

    /// How long a Lease stays valid without renewal (e.g. 15s).
    #[arg(long, env = "FJORD_LEADER_ELECTION_LEASE_DURATION", default_value = "15s", value_parser = parse_duration)]
    pub lease_duration: Duration,

    /// Broker image used when a KafkaCluster names none.
    #[arg(long, env = "FJORD_BROKER_IMAGE", default_value = crate::DEFAULT_BROKER_IMAGE)]
    pub broker_image: String,

    /// How often a Topic is re-read from its cluster to revert drift (e.g. 5m).
    #[arg(long, env = "FJORD_TOPIC_RESYNC", default_value = "5m", value_parser = parse_duration)]
    pub topic_resync: Duration,

    #[command(flatten)]
    pub log: LogArgs,
}
