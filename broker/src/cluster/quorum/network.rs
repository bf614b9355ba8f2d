//! The Raft library's network over gRPC: one lazily connected channel per peer.
//!
//! A peer's address is the one in the configured voters when it is there (addresses may
//! change across restarts; the configuration is current), else the one in the membership.
//! Transport failures are `Unreachable` (the library backs off and retries); an answer that
//! carries a Raft error is a remote error; a refusal of our identity is logged by the peer
//! and reported here as unreachable, so a misconfigured broker never joins.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use openraft::BasicNode;
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tonic::transport::{Channel, Endpoint};

use super::types::TypeConfig;
use crate::rpc::Identity;
use crate::rpc::proto::Json;
use crate::rpc::proto::metadata_quorum_client::MetadataQuorumClient;

/// How long a connection attempt to a peer may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Creates clients for peers.
#[derive(Clone)]
pub struct Network {
    identity: Arc<Identity>,
    /// Addresses from the configuration, which win over the membership's.
    configured: Arc<BTreeMap<u64, String>>,
}

impl Network {
    pub fn new(identity: Arc<Identity>, configured: BTreeMap<u64, String>) -> Self {
        Self {
            identity,
            configured: Arc::new(configured),
        }
    }

    /// A client for the peer at `addr`.
    pub fn client(&self, addr: &str) -> Result<Peer, String> {
        let endpoint = Endpoint::from_shared(format!("http://{addr}"))
            .map_err(|error| format!("{addr} is not an address: {error}"))?
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_nodelay(true);
        Ok(Peer {
            addr: addr.to_owned(),
            identity: self.identity.clone(),
            client: MetadataQuorumClient::new(endpoint.connect_lazy()),
        })
    }

    /// The configured voters' addresses.
    pub fn configured_addresses(&self) -> Vec<String> {
        self.configured.values().cloned().collect()
    }

    /// The address of `target`: configured, else from the membership.
    pub fn address(&self, target: u64, node: &BasicNode) -> String {
        self.configured
            .get(&target)
            .cloned()
            .unwrap_or_else(|| node.addr.clone())
    }
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = PeerClient;

    async fn new_client(&mut self, target: u64, node: &BasicNode) -> PeerClient {
        let addr = self.address(target, node);
        PeerClient {
            target,
            peer: self.client(&addr),
        }
    }
}

/// A gRPC client of one peer's metadata quorum service.
#[derive(Clone)]
pub struct Peer {
    addr: String,
    identity: Arc<Identity>,
    client: MetadataQuorumClient<Channel>,
}

/// Why a call to a peer failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("calling {addr}: {status}")]
    Transport { addr: String, status: tonic::Status },
    #[error("the answer of {addr} does not decode: {error}")]
    Decode {
        addr: String,
        error: serde_json::Error,
    },
}

/// Which method of the service.
#[derive(Debug, Clone, Copy)]
pub enum Method {
    AppendEntries,
    Vote,
    InstallSnapshot,
    Propose,
    ChangeMembership,
    Describe,
}

impl Peer {
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Sends `request` as JSON to `method`, within `timeout`, and decodes the answer.
    pub async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        method: Method,
        request: &Req,
        timeout: Duration,
    ) -> Result<Resp, CallError> {
        let json = serde_json::to_vec(request).expect("RPC requests always serialise");
        let mut request = tonic::Request::new(Json { json });
        request.set_timeout(timeout);
        self.identity.stamp(&mut request);
        let mut client = self.client.clone();
        let answer = match method {
            Method::AppendEntries => client.append_entries(request).await,
            Method::Vote => client.vote(request).await,
            Method::InstallSnapshot => client.install_snapshot(request).await,
            Method::Propose => client.propose(request).await,
            Method::ChangeMembership => client.change_membership(request).await,
            Method::Describe => client.describe(request).await,
        }
        .map_err(|status| CallError::Transport {
            addr: self.addr.clone(),
            status,
        })?;
        serde_json::from_slice(&answer.into_inner().json).map_err(|error| CallError::Decode {
            addr: self.addr.clone(),
            error,
        })
    }
}

/// The Raft library's client of one peer.
pub struct PeerClient {
    target: u64,
    /// `Err` when the peer's address does not parse (reported on every call).
    peer: Result<Peer, String>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct BadAddress(String);

impl PeerClient {
    async fn send<Req: Serialize, Resp: DeserializeOwned, E>(
        &self,
        method: Method,
        request: &Req,
        option: &RPCOption,
    ) -> Result<Resp, RPCError<u64, BasicNode, RaftError<u64, E>>>
    where
        E: std::error::Error + DeserializeOwned,
    {
        let peer = self
            .peer
            .as_ref()
            .map_err(|error| RPCError::Unreachable(Unreachable::new(&BadAddress(error.clone()))))?;
        let answer: Result<Resp, RaftError<u64, E>> = peer
            .call(method, request, option.hard_ttl())
            .await
            .map_err(|error| match &error {
                CallError::Transport { status, .. }
                    if matches!(
                        status.code(),
                        tonic::Code::Unavailable
                            | tonic::Code::FailedPrecondition
                            | tonic::Code::Unknown
                    ) =>
                {
                    RPCError::Unreachable(Unreachable::new(&error))
                }
                _ => RPCError::Network(NetworkError::new(&error)),
            })?;
        answer.map_err(|error| RPCError::RemoteError(RemoteError::new(self.target, error)))
    }
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        self.send(Method::AppendEntries, &rpc, &option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<u64>,
        RPCError<u64, BasicNode, RaftError<u64, InstallSnapshotError>>,
    > {
        self.send(Method::InstallSnapshot, &rpc, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        option: RPCOption,
    ) -> Result<VoteResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        self.send(Method::Vote, &rpc, &option).await
    }
}
