//! The Raft library's type configuration, and conversions between its log types and the
//! command log's own (which are what the files hold, with stable names).

use std::collections::BTreeMap;
use std::io::Cursor;

use openraft::{BasicNode, CommittedLeaderId, LeaderId};

use crate::cluster::command::{Change, Command, CommandError};
use crate::cluster::log::{Entry, EntryPayload, LogId, Membership, Vote};

/// The outcome of one applied entry: `None` for entries that carry no command.
pub type Response = Option<Result<Change, CommandError>>;

openraft::declare_raft_types!(
    /// The metadata quorum's Raft types: commands in, outcomes out, node ids as Kafka's.
    pub TypeConfig:
        D = Command,
        R = Response,
        NodeId = u64,
        Node = BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
        Responder = openraft::impls::OneshotResponder<TypeConfig>,
);

pub type RaftLogId = openraft::LogId<u64>;
pub type RaftVote = openraft::Vote<u64>;
pub type RaftEntry = openraft::Entry<TypeConfig>;
pub type RaftMembership = openraft::Membership<u64, BasicNode>;
pub type StoredMembership = openraft::StoredMembership<u64, BasicNode>;

pub fn to_raft_log_id(id: LogId) -> RaftLogId {
    openraft::LogId::new(CommittedLeaderId::new(id.term, 0), id.index)
}

pub fn from_raft_log_id(id: &RaftLogId) -> LogId {
    LogId {
        term: id.leader_id.term,
        index: id.index,
    }
}

pub fn to_raft_vote(vote: Vote) -> RaftVote {
    openraft::Vote {
        leader_id: LeaderId {
            term: vote.term,
            voted_for: vote.voted_for,
        },
        committed: vote.committed,
    }
}

pub fn from_raft_vote(vote: &RaftVote) -> Vote {
    Vote {
        term: vote.leader_id.term,
        voted_for: vote.leader_id.voted_for,
        committed: vote.committed,
    }
}

pub fn to_raft_membership(membership: &Membership) -> RaftMembership {
    let nodes: BTreeMap<u64, BasicNode> = membership
        .nodes
        .iter()
        .map(|(id, addr)| (*id, BasicNode::new(addr)))
        .collect();
    openraft::Membership::new(membership.configs.clone(), nodes)
}

pub fn from_raft_membership(membership: &RaftMembership) -> Membership {
    Membership {
        configs: membership.get_joint_config().clone(),
        nodes: membership
            .nodes()
            .map(|(id, node)| (*id, node.addr.clone()))
            .collect(),
    }
}

pub fn to_raft_entry(entry: &Entry) -> RaftEntry {
    openraft::Entry {
        log_id: to_raft_log_id(entry.log_id),
        payload: match &entry.payload {
            EntryPayload::Blank => openraft::EntryPayload::Blank,
            EntryPayload::Normal(command) => openraft::EntryPayload::Normal(command.clone()),
            EntryPayload::Membership(membership) => {
                openraft::EntryPayload::Membership(to_raft_membership(membership))
            }
        },
    }
}

pub fn from_raft_entry(entry: &RaftEntry) -> Entry {
    Entry {
        log_id: from_raft_log_id(&entry.log_id),
        payload: match &entry.payload {
            openraft::EntryPayload::Blank => EntryPayload::Blank,
            openraft::EntryPayload::Normal(command) => EntryPayload::Normal(command.clone()),
            openraft::EntryPayload::Membership(membership) => {
                EntryPayload::Membership(from_raft_membership(membership))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_types_survive_the_round_trip_through_the_raft_types() {
        let membership = Membership {
            configs: vec![[1, 2].into(), [1, 2, 3].into()],
            nodes: [(1, "a:1"), (2, "b:2"), (3, "c:3"), (4, "d:4")]
                .into_iter()
                .map(|(id, addr)| (id, addr.to_owned()))
                .collect(),
        };
        for payload in [
            EntryPayload::Blank,
            EntryPayload::Normal(Command::AllocateProducerIds { count: 5 }),
            EntryPayload::Membership(membership),
        ] {
            let entry = Entry {
                log_id: LogId { term: 7, index: 42 },
                payload,
            };
            assert_eq!(from_raft_entry(&to_raft_entry(&entry)), entry);
        }
        for voted_for in [None, Some(3)] {
            let vote = Vote {
                term: 4,
                voted_for,
                committed: voted_for.is_some(),
            };
            assert_eq!(from_raft_vote(&to_raft_vote(vote)), vote);
        }
    }
}
