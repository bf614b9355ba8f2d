//! The metadata quorum: Raft (openraft) over the command log and state machine in
//! `__cluster_metadata-0/`, its messages carried by gRPC.
//!
//! ```text
//!  propose(Command) ─► leader here? ── yes ─► Raft client_write ─► replicated to a majority
//!        │                                     (append + fsync)      of voters, committed
//!        └── no ─► Propose RPC to the leader ─► ... ─► wait until applied here too
//!  every node: committed entries ─► state machine ─► published state, listeners (log order)
//! ```
//!
//! - The quorum runs on its own small runtime (`fjord-metadata` threads), so heartbeats and
//!   elections do not queue behind client traffic, and callers on any thread can propose.
//! - A one-voter quorum (no voters configured) needs no network: its node leads as soon as it
//!   starts, as the command log did before Raft.
//! - Voters of a new cluster (`controller.quorum.voters`) each initialise the same first
//!   membership (harmless on all: only an empty log accepts it); a broker not among them is
//!   an observer and asks the leader to add it, until it is added.
//! - Membership then lives in the log: voters are added and removed one at a time
//!   ([`MembershipChange`]).

// The Raft library's traits return its own error types, which are large.
#![allow(clippy::result_large_err)]

mod log_store;
mod machine;
pub mod network;
pub mod service;
pub mod types;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::{BasicNode, Config, Raft, SnapshotPolicy};
use tokio::sync::watch;

pub use machine::Applied;
pub use service::{MembershipAnswer, MembershipChange, ProposeAnswer, QuorumService, QuorumView};

use self::log_store::LogStore;
use self::machine::MachineStore;
use self::network::{Method, Network};
use self::types::TypeConfig;
use super::ClusterState;
use super::command::{Change, Command, CommandError};
use super::log::{FileLog, LogStorage as _};
use super::metadata::MetadataListener;
use super::state_machine::StateStore;
use crate::rpc::Identity;

/// How this broker takes part in the metadata quorum.
#[derive(Debug, Clone)]
pub struct QuorumConfig {
    pub node_id: u64,
    /// The voters a new cluster starts with, by node id, with their RPC addresses; empty:
    /// this node alone.
    pub voters: BTreeMap<u64, String>,
    /// The RPC address other brokers reach this one at.
    pub advertised: String,
    /// `controller.quorum.election.timeout.ms`: elections start after this much silence
    /// (randomised up to twice as much); heartbeats go out ten times as often.
    pub election_timeout: Duration,
    /// Entries between snapshots.
    pub snapshot_every: u64,
    /// How long a proposal may wait for a leader.
    pub propose_timeout: Duration,
}

impl QuorumConfig {
    /// A quorum of this node alone, with the defaults.
    pub fn alone(node_id: u64, snapshot_every: u64) -> Self {
        Self {
            node_id,
            voters: BTreeMap::new(),
            advertised: String::new(),
            election_timeout: Duration::from_millis(1000),
            snapshot_every,
            propose_timeout: Duration::from_secs(30),
        }
    }

    /// The voter ids as the `fjord-bootstrap-voters` header carries them.
    pub fn voter_ids(&self) -> String {
        self.voters
            .keys()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// Why a command was not committed.
#[derive(Debug, thiserror::Error)]
pub enum QuorumError {
    #[error(
        "no metadata quorum leader answered within {0:?}; check that a majority of the voters \
         is up and reachable"
    )]
    NoLeader(Duration),
    #[error("the metadata quorum failed: {0}")]
    Failed(String),
}

/// This broker's member of the metadata quorum.
pub struct Quorum {
    runtime: Option<tokio::runtime::Runtime>,
    raft: Raft<TypeConfig>,
    applied: Arc<Applied>,
    network: Network,
    config: QuorumConfig,
}

impl Quorum {
    /// Starts the Raft node over `log` and `machine` (opened and, for one voter, bootstrapped
    /// by the caller). Callable from any thread, inside a runtime or not.
    pub fn start(
        log: FileLog,
        machine: StateStore,
        listeners: Vec<Arc<dyn MetadataListener>>,
        config: QuorumConfig,
        identity: Arc<Identity>,
    ) -> Result<Self, QuorumError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("fjord-metadata")
            .enable_all()
            .build()
            .map_err(|error| QuorumError::Failed(format!("starting its runtime: {error}")))?;
        let empty = log.read_vote().is_none_or(|vote| vote.term == 0)
            && log.get_log_state().last_log_id.is_none();
        // Forming: nothing in the log past a new cluster's first membership.
        identity.set_forming(
            log.get_log_state()
                .last_log_id
                .is_none_or(|id| id.index == 0),
        );
        let applied = Arc::new(Applied::new(machine, listeners));
        let network = Network::new(identity.clone(), config.voters.clone());
        let timeout = u64::try_from(config.election_timeout.as_millis())
            .unwrap_or(u64::MAX)
            .max(20);
        let raft_config = Config {
            cluster_name: "fjord".into(),
            election_timeout_min: timeout,
            election_timeout_max: timeout * 2,
            heartbeat_interval: (timeout / 10).max(10),
            install_snapshot_timeout: timeout.max(1000),
            snapshot_policy: SnapshotPolicy::LogsSinceLast(config.snapshot_every.max(1)),
            max_in_snapshot_log_to_keep: 0,
            ..Config::default()
        }
        .validate()
        .map_err(|error| QuorumError::Failed(format!("its configuration: {error}")))?;
        let store = LogStore::new(log);
        let machine = MachineStore::new(applied.clone());
        let node_id = config.node_id;
        let start_network = network.clone();
        let raft = std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    runtime.block_on(Raft::new(
                        node_id,
                        Arc::new(raft_config),
                        start_network,
                        store,
                        machine,
                    ))
                })
                .join()
        })
        .map_err(|_| QuorumError::Failed("starting Raft panicked".into()))?
        .map_err(|error| QuorumError::Failed(format!("starting Raft: {error}")))?;
        let quorum = Self {
            runtime: Some(runtime),
            raft,
            applied,
            network,
            config,
        };
        if !quorum.config.voters.is_empty() {
            quorum.handle().spawn(watch_leader(
                quorum.raft.metrics(),
                service::describe_voters(&quorum.config.voters),
                identity,
            ));
        }
        if quorum.config.voters.is_empty() {
            // Alone, this node leads at once: return once it does and has applied its log, so
            // that callers read the whole state.
            quorum.wait_until_leading(Duration::from_secs(30))?;
        } else if empty {
            quorum.bootstrap();
        }
        Ok(quorum)
    }

    /// A new cluster: voters initialise the first membership, observers ask to be added.
    fn bootstrap(&self) {
        let voters = &self.config.voters;
        let runtime = self.handle();
        if voters.contains_key(&self.config.node_id) {
            let members: BTreeMap<u64, BasicNode> = voters
                .iter()
                .map(|(id, addr)| (*id, BasicNode::new(addr)))
                .collect();
            let raft = self.raft.clone();
            runtime.spawn(async move {
                match raft.initialize(members).await {
                    Ok(()) => tracing::info!("metadata quorum initialised; electing a leader"),
                    // Another voter reached this one first: the log is not empty.
                    Err(error) => tracing::debug!(%error, "metadata quorum already initialised"),
                }
            });
        } else {
            let change = MembershipChange::AddObserver {
                id: self.config.node_id,
                addr: self.config.advertised.clone(),
            };
            let quorum = self.client();
            runtime.spawn(async move {
                let mut attempt = 0u32;
                loop {
                    match quorum.change_membership(change.clone(), Duration::from_secs(10)).await {
                        Ok(index) => {
                            tracing::info!(index, "joined the metadata quorum as an observer");
                            return;
                        }
                        Err(error) => {
                            if attempt.is_multiple_of(10) {
                                tracing::warn!(%error, "asking the metadata quorum to add this broker as an observer; retrying");
                            }
                        }
                    }
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            });
        }
    }

    fn wait_until_leading(&self, timeout: Duration) -> Result<(), QuorumError> {
        let mut metrics = self.raft.metrics();
        let node_id = self.config.node_id;
        self.run_blocking(async move {
            let ready = metrics.wait_for(|m| {
                m.current_leader == Some(node_id)
                    && m.last_applied.as_ref().map(|id| id.index) >= m.last_log_index
            });
            match tokio::time::timeout(timeout, ready).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(_)) => Err(QuorumError::Failed("Raft stopped while starting".into())),
                Err(_) => Err(QuorumError::Failed(format!(
                    "this one-voter quorum did not lead within {timeout:?}"
                ))),
            }
        })
    }

    fn handle(&self) -> &tokio::runtime::Handle {
        self.runtime
            .as_ref()
            .expect("the runtime lives until drop")
            .handle()
    }

    fn client(&self) -> QuorumClient {
        QuorumClient {
            raft: self.raft.clone(),
            network: self.network.clone(),
            applied: self.applied.clone(),
            node_id: self.config.node_id,
        }
    }

    /// This broker's node id.
    pub fn node_id(&self) -> u64 {
        self.config.node_id
    }

    /// The voters, as this broker knows them.
    pub fn voters(&self) -> std::collections::BTreeSet<u64> {
        self.raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .voter_ids()
            .collect()
    }

    /// The RPC address member `id` joined with.
    pub fn member_address(&self, id: u64) -> Option<String> {
        self.raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .get_node(&id)
            .map(|node| node.addr.clone())
    }

    /// The leader of the quorum, as this broker knows it.
    pub fn leader(&self) -> Option<u64> {
        self.raft.metrics().borrow().current_leader
    }

    /// The applied state.
    pub fn state(&self) -> Arc<ClusterState> {
        self.applied.state()
    }

    pub fn applied(&self) -> &Arc<Applied> {
        &self.applied
    }

    /// The Raft node, for the gRPC service.
    pub fn raft(&self) -> &Raft<TypeConfig> {
        &self.raft
    }

    /// Raft's view of the quorum: leader, term, members, progress.
    pub fn metrics(&self) -> watch::Receiver<openraft::RaftMetrics<u64, BasicNode>> {
        self.raft.metrics()
    }

    /// Commits `command` through the leader (here or elsewhere) and waits until it is applied
    /// here. Runs on the quorum's runtime; blocks the calling thread.
    pub fn propose_blocking(
        &self,
        command: Command,
    ) -> Result<(u64, Result<Change, CommandError>), QuorumError> {
        let client = self.client();
        let timeout = self.config.propose_timeout;
        self.run_blocking(async move { client.propose(command, timeout).await })
    }

    /// The quorum as its leader sees it (asked over RPC when it is elsewhere), or as this
    /// broker does when the leader does not answer.
    pub async fn describe(&self) -> QuorumView {
        let local = QuorumView::of(&self.raft.metrics().borrow());
        let Some((leader, addr)) = self.client().leader() else {
            return local;
        };
        if leader == self.config.node_id {
            return local;
        }
        let Ok(peer) = self.network.client(&addr) else {
            return local;
        };
        let asked = async move {
            peer.call::<_, QuorumView>(Method::Describe, &(), Duration::from_secs(5))
                .await
        };
        // The call runs on the quorum's runtime, whichever runtime awaits it.
        match self.handle().spawn(asked).await {
            Ok(Ok(view)) => view,
            _ => local,
        }
    }

    /// Changes the membership through the leader; blocks the calling thread.
    pub fn change_membership_blocking(&self, change: MembershipChange) -> Result<u64, QuorumError> {
        let client = self.client();
        let timeout = self.config.propose_timeout;
        self.run_blocking(async move { client.change_membership(change, timeout).await })
    }

    fn run_blocking<T: Send + 'static>(
        &self,
        work: impl Future<Output = Result<T, QuorumError>> + Send + 'static,
    ) -> Result<T, QuorumError> {
        let (sender, receiver) = std::sync::mpsc::sync_channel(1);
        self.handle().spawn(async move {
            let _ = sender.send(work.await);
        });
        receiver
            .recv()
            .map_err(|_| QuorumError::Failed("the metadata runtime stopped".into()))?
    }
}

impl Drop for Quorum {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            let raft = self.raft.clone();
            // Stop the Raft tasks, then the runtime without waiting on blocking work.
            let _ = std::thread::scope(|scope| {
                scope
                    .spawn(|| {
                        runtime.block_on(async {
                            let _ =
                                tokio::time::timeout(Duration::from_secs(5), raft.shutdown()).await;
                        })
                    })
                    .join()
            });
            runtime.shutdown_background();
        }
    }
}

/// How often a broker without a quorum leader says so.
const NO_LEADER_WARNING: Duration = Duration::from_secs(10);

/// Logs, every [`NO_LEADER_WARNING`] without a leader, that this broker waits for one; and
/// each change of leader. Ends the forming of `identity` once a leader wrote past the first
/// membership.
async fn watch_leader(
    mut metrics: watch::Receiver<openraft::RaftMetrics<u64, BasicNode>>,
    voters: String,
    identity: Arc<Identity>,
) {
    let mut leader = None;
    let mut quiet_since = Instant::now();
    loop {
        if metrics.borrow().last_log_index.unwrap_or(0) > 0 {
            identity.set_forming(false);
        }
        let changed = tokio::time::timeout(NO_LEADER_WARNING, metrics.changed()).await;
        if matches!(changed, Ok(Err(_))) {
            return;
        }
        let now = metrics.borrow().current_leader;
        if now != leader {
            match now {
                Some(id) => tracing::info!(leader = id, "the metadata quorum has a leader"),
                None => tracing::warn!("the metadata quorum lost its leader"),
            }
            leader = now;
            quiet_since = Instant::now();
        } else if now.is_none() && quiet_since.elapsed() >= NO_LEADER_WARNING {
            tracing::warn!(
                %voters,
                "no metadata quorum leader yet: this broker is not ready until a majority of \
                 the voters is up and reachable with the same cluster id"
            );
            quiet_since = Instant::now();
        }
    }
}

/// Proposes and changes membership through whichever broker leads.
#[derive(Clone)]
struct QuorumClient {
    raft: Raft<TypeConfig>,
    network: Network,
    applied: Arc<Applied>,
    node_id: u64,
}

/// How long to wait before asking again when no leader is known.
const RETRY: Duration = Duration::from_millis(100);

impl QuorumClient {
    /// The leader's id and address, if one is known.
    fn leader(&self) -> Option<(u64, String)> {
        let metrics = self.raft.metrics().borrow().clone();
        let leader = metrics.current_leader?;
        let node = metrics
            .membership_config
            .membership()
            .get_node(&leader)?
            .clone();
        Some((leader, self.network.address(leader, &node)))
    }

    async fn propose(
        &self,
        command: Command,
        timeout: Duration,
    ) -> Result<(u64, Result<Change, CommandError>), QuorumError> {
        let deadline = Instant::now() + timeout;
        loop {
            let answer = match self.leader() {
                Some((leader, _)) if leader == self.node_id => {
                    service::propose_local(&self.raft, command.clone()).await
                }
                Some((_, addr)) => {
                    let remaining = deadline.saturating_duration_since(Instant::now());
                    match self.network.client(&addr) {
                        Ok(peer) => peer
                            .call(Method::Propose, &command, remaining.max(RETRY))
                            .await
                            .unwrap_or_else(|error| {
                                tracing::debug!(%error, "forwarding a metadata proposal");
                                ProposeAnswer::NotLeader { leader: None }
                            }),
                        Err(error) => ProposeAnswer::Failed(error),
                    }
                }
                None => ProposeAnswer::NotLeader { leader: None },
            };
            match answer {
                ProposeAnswer::Applied { index, outcome } => {
                    self.wait_applied(index, deadline).await?;
                    return Ok((index, outcome));
                }
                ProposeAnswer::Failed(reason) => return Err(QuorumError::Failed(reason)),
                ProposeAnswer::NotLeader { .. } => {}
            }
            if Instant::now() >= deadline {
                return Err(QuorumError::NoLeader(timeout));
            }
            tokio::time::sleep(RETRY).await;
        }
    }

    async fn change_membership(
        &self,
        change: MembershipChange,
        timeout: Duration,
    ) -> Result<u64, QuorumError> {
        let deadline = Instant::now() + timeout;
        loop {
            let answer = match self.leader() {
                Some((leader, _)) if leader == self.node_id => {
                    service::change_membership(&self.raft, change.clone()).await
                }
                Some((_, addr)) => match self.network.client(&addr) {
                    Ok(peer) => peer
                        .call(Method::ChangeMembership, &change, timeout)
                        .await
                        .unwrap_or(MembershipAnswer::NotLeader { leader: None }),
                    Err(error) => MembershipAnswer::Refused(error),
                },
                // An observer that never heard from the leader asks the configured voters.
                None => self.ask_voters(&change, timeout).await,
            };
            match answer {
                MembershipAnswer::Done { index } => {
                    self.wait_applied(index, deadline).await.ok();
                    return Ok(index);
                }
                MembershipAnswer::Refused(reason) => return Err(QuorumError::Failed(reason)),
                MembershipAnswer::NotLeader { .. } => {}
            }
            if Instant::now() >= deadline {
                return Err(QuorumError::NoLeader(timeout));
            }
            tokio::time::sleep(RETRY).await;
        }
    }

    /// Sends `change` to each configured voter until one that leads takes it.
    async fn ask_voters(&self, change: &MembershipChange, timeout: Duration) -> MembershipAnswer {
        for addr in self.network.configured_addresses() {
            let Ok(peer) = self.network.client(&addr) else {
                continue;
            };
            match peer.call(Method::ChangeMembership, change, timeout).await {
                Ok(MembershipAnswer::NotLeader { .. }) | Err(_) => continue,
                Ok(answer) => return answer,
            }
        }
        MembershipAnswer::NotLeader { leader: None }
    }

    async fn wait_applied(&self, index: u64, deadline: Instant) -> Result<(), QuorumError> {
        let mut applied = self.applied.subscribe();
        let wait = applied.wait_for(|applied| *applied >= index);
        match tokio::time::timeout_at(deadline.into(), wait).await {
            Ok(_) => Ok(()),
            Err(_) => Err(QuorumError::Failed(format!(
                "entry {index} was committed but not applied here in time"
            ))),
        }
    }
}
