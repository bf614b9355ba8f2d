//! The metadata quorum's gRPC service: Raft messages from peers to the local Raft node, and
//! proposals and membership changes forwarded by brokers that do not lead the quorum.

use std::collections::BTreeMap;

use openraft::error::{ClientWriteError, RaftError};
use openraft::{BasicNode, ChangeMembers, Raft};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tonic::{Request, Response, Status};

use super::types::TypeConfig;
use crate::cluster::command::{Change, Command, CommandError};
use crate::rpc::proto::Json;
use crate::rpc::proto::metadata_quorum_server::MetadataQuorum;

/// A proposal's answer from the leader.
#[derive(Debug, Serialize, Deserialize)]
pub enum ProposeAnswer {
    Applied {
        index: u64,
        outcome: Result<Change, CommandError>,
    },
    /// This broker does not lead the quorum (the leader it knows, if any).
    NotLeader {
        leader: Option<u64>,
    },
    Failed(String),
}

/// A membership change asked of the leader.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum MembershipChange {
    /// Makes `id` an observer: it receives the metadata log but does not vote.
    AddObserver { id: u64, addr: String },
    /// Makes `id` (an observer already, or added as one first) a voter.
    AddVoter { id: u64, addr: String },
    /// Makes the voter `id` an observer.
    RemoveVoter { id: u64 },
}

/// A membership change's answer from the leader.
#[derive(Debug, Serialize, Deserialize)]
pub enum MembershipAnswer {
    /// Committed, at this log index.
    Done {
        index: u64,
    },
    NotLeader {
        leader: Option<u64>,
    },
    /// Refused (a voter that does not exist, the last voter, another change in progress).
    Refused(String),
}

/// The metadata quorum as one broker sees it: who leads, and how far each member is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuorumView {
    pub leader: Option<u64>,
    /// The Raft term (Kafka's leader epoch of the metadata log).
    pub term: u64,
    /// The index after the last applied entry (the metadata log's high watermark).
    pub high_watermark: u64,
    /// Voters and observers by node id, with the index after the last entry the leader
    /// knows they hold (-1: unknown, as on a broker that does not lead).
    pub voters: BTreeMap<u64, i64>,
    pub observers: BTreeMap<u64, i64>,
    /// Every member's RPC address.
    pub addresses: BTreeMap<u64, String>,
}

impl QuorumView {
    pub fn of(metrics: &openraft::RaftMetrics<u64, BasicNode>) -> Self {
        let membership = metrics.membership_config.membership();
        let progress = |id: u64| -> i64 {
            let matched = metrics
                .replication
                .as_ref()
                .and_then(|replication| replication.get(&id).cloned());
            match matched {
                Some(Some(log_id)) => i64::try_from(log_id.index + 1).unwrap_or(i64::MAX),
                Some(None) => 0,
                None if id == metrics.id => metrics
                    .last_log_index
                    .map_or(0, |index| i64::try_from(index + 1).unwrap_or(i64::MAX)),
                None => -1,
            }
        };
        QuorumView {
            leader: metrics.current_leader,
            term: metrics.current_term,
            high_watermark: metrics.last_applied.as_ref().map_or(0, |id| id.index + 1),
            voters: membership
                .voter_ids()
                .map(|id| (id, progress(id)))
                .collect(),
            observers: membership
                .learner_ids()
                .map(|id| (id, progress(id)))
                .collect(),
            addresses: membership
                .nodes()
                .map(|(id, node)| (*id, node.addr.clone()))
                .collect(),
        }
    }
}

/// Runs `change` on the local Raft node, which must lead.
pub async fn change_membership(
    raft: &Raft<TypeConfig>,
    change: MembershipChange,
) -> MembershipAnswer {
    let result = match change {
        MembershipChange::AddObserver { id, addr } => {
            raft.add_learner(id, BasicNode::new(addr), true).await
        }
        MembershipChange::AddVoter { id, addr } => {
            match raft.add_learner(id, BasicNode::new(addr), true).await {
                Ok(_) => {
                    raft.change_membership(ChangeMembers::AddVoterIds([id].into()), true)
                        .await
                }
                Err(error) => Err(error),
            }
        }
        MembershipChange::RemoveVoter { id } => {
            raft.change_membership(ChangeMembers::RemoveVoters([id].into()), true)
                .await
        }
    };
    match result {
        Ok(response) => MembershipAnswer::Done {
            index: response.log_id.index,
        },
        Err(RaftError::APIError(ClientWriteError::ForwardToLeader(forward))) => {
            MembershipAnswer::NotLeader {
                leader: forward.leader_id,
            }
        }
        Err(error) => MembershipAnswer::Refused(error.to_string()),
    }
}

/// Writes `command` on the local Raft node, which must lead.
pub async fn propose_local(raft: &Raft<TypeConfig>, command: Command) -> ProposeAnswer {
    match raft.client_write(command).await {
        Ok(response) => match response.data {
            Some(outcome) => ProposeAnswer::Applied {
                index: response.log_id.index,
                outcome,
            },
            None => ProposeAnswer::Failed("a command entry was applied without an outcome".into()),
        },
        Err(RaftError::APIError(ClientWriteError::ForwardToLeader(forward))) => {
            ProposeAnswer::NotLeader {
                leader: forward.leader_id,
            }
        }
        Err(error) => ProposeAnswer::Failed(error.to_string()),
    }
}

/// The gRPC service of one broker.
pub struct QuorumService {
    raft: Raft<TypeConfig>,
}

impl QuorumService {
    pub fn new(raft: Raft<TypeConfig>) -> Self {
        Self { raft }
    }
}

fn decode<T: DeserializeOwned>(request: Request<Json>) -> Result<T, Status> {
    serde_json::from_slice(&request.into_inner().json)
        .map_err(|error| Status::invalid_argument(format!("undecodable request: {error}")))
}

fn encode<T: Serialize>(answer: &T) -> Result<Response<Json>, Status> {
    let json = serde_json::to_vec(answer)
        .map_err(|error| Status::internal(format!("unencodable answer: {error}")))?;
    Ok(Response::new(Json { json }))
}

#[tonic::async_trait]
impl MetadataQuorum for QuorumService {
    async fn append_entries(&self, request: Request<Json>) -> Result<Response<Json>, Status> {
        let answer = self.raft.append_entries(decode(request)?).await;
        encode(&answer)
    }

    async fn vote(&self, request: Request<Json>) -> Result<Response<Json>, Status> {
        let answer = self.raft.vote(decode(request)?).await;
        encode(&answer)
    }

    async fn install_snapshot(&self, request: Request<Json>) -> Result<Response<Json>, Status> {
        let answer = self.raft.install_snapshot(decode(request)?).await;
        encode(&answer)
    }

    async fn propose(&self, request: Request<Json>) -> Result<Response<Json>, Status> {
        let command: Command = decode(request)?;
        encode(&propose_local(&self.raft, command).await)
    }

    async fn change_membership(&self, request: Request<Json>) -> Result<Response<Json>, Status> {
        let change: MembershipChange = decode(request)?;
        encode(&change_membership(&self.raft, change).await)
    }

    async fn describe(&self, _request: Request<Json>) -> Result<Response<Json>, Status> {
        encode(&QuorumView::of(&self.raft.metrics().borrow()))
    }
}

/// The voters of a membership change's result, for logs.
pub fn describe_voters(voters: &BTreeMap<u64, String>) -> String {
    voters
        .iter()
        .map(|(id, addr)| format!("{id}@{addr}"))
        .collect::<Vec<_>>()
        .join(",")
}
