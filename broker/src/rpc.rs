//! The broker-to-broker gRPC plumbing (`proto/cluster.proto`): the generated code, and the
//! identity every call carries.
//!
//! Each request names the caller's cluster and node in the `fjord-cluster-id` and
//! `fjord-node-id` headers, and, while a cluster forms, the voters the caller was started
//! with (`fjord-bootstrap-voters`). [`Identity::check`] refuses a call from another cluster,
//! and one whose bootstrap voters differ from ours while our metadata log is still empty,
//! with FAILED_PRECONDITION and a message naming both sides; each distinct refusal is logged
//! once, so a misconfigured broker is visible without flooding the log.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tonic::metadata::MetadataValue;

#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod proto {
    tonic::include_proto!("fjord.cluster.v1");
}

pub const CLUSTER_ID_HEADER: &str = "fjord-cluster-id";
pub const NODE_ID_HEADER: &str = "fjord-node-id";
pub const BOOTSTRAP_VOTERS_HEADER: &str = "fjord-bootstrap-voters";

/// Who this broker is, as its RPCs say and check.
#[derive(Debug)]
pub struct Identity {
    pub cluster_id: String,
    pub node_id: u64,
    /// The voter ids this broker was started with, comma-separated ("" when none).
    pub bootstrap_voters: String,
    /// Whether the metadata log is still empty here (the cluster is forming).
    forming: AtomicBool,
    refusals: Mutex<HashSet<String>>,
}

impl Identity {
    pub fn new(cluster_id: String, node_id: u64, bootstrap_voters: String) -> Arc<Self> {
        Arc::new(Self {
            cluster_id,
            node_id,
            bootstrap_voters,
            forming: AtomicBool::new(false),
            refusals: Mutex::new(HashSet::new()),
        })
    }

    /// Marks whether the metadata log is still empty here.
    pub fn set_forming(&self, forming: bool) {
        self.forming.store(forming, Ordering::Relaxed);
    }

    /// Puts this broker's identity on an outgoing request.
    pub fn stamp<T>(&self, request: &mut tonic::Request<T>) {
        let headers = request.metadata_mut();
        for (name, value) in [
            (CLUSTER_ID_HEADER, self.cluster_id.as_str()),
            (NODE_ID_HEADER, &self.node_id.to_string()),
            (BOOTSTRAP_VOTERS_HEADER, self.bootstrap_voters.as_str()),
        ] {
            if let Ok(value) = MetadataValue::try_from(value) {
                headers.insert(name, value);
            }
        }
    }

    /// Checks an incoming request's identity (a tonic interceptor).
    pub fn check(&self, request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        let header = |name: &str| {
            request
                .metadata()
                .get(name)
                .and_then(|value| value.to_str().ok())
                .unwrap_or("")
                .to_owned()
        };
        let (cluster, node) = (header(CLUSTER_ID_HEADER), header(NODE_ID_HEADER));
        let refusal = if cluster != self.cluster_id {
            Some(format!(
                "node {node} belongs to cluster {cluster:?} but this broker (node {}) to cluster \
                 {:?}; a broker or data directory of another cluster must not join it",
                self.node_id, self.cluster_id
            ))
        } else if node == self.node_id.to_string() {
            Some(format!(
                "a call from node id {node}, which is this broker's own id: two brokers share \
                 node id {node}"
            ))
        } else {
            let voters = header(BOOTSTRAP_VOTERS_HEADER);
            (self.forming.load(Ordering::Relaxed)
                && !voters.is_empty()
                && !self.bootstrap_voters.is_empty()
                && voters != self.bootstrap_voters)
                .then(|| {
                    format!(
                        "node {node} was started with voters {voters} but this broker (node {}) \
                         with voters {}: controller.quorum.voters must be the same on every \
                         broker of a new cluster",
                        self.node_id, self.bootstrap_voters
                    )
                })
        };
        match refusal {
            None => Ok(request),
            Some(message) => {
                let first = self
                    .refusals
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .insert(message.clone());
                if first {
                    tracing::error!("refusing an RPC: {message}");
                }
                Err(tonic::Status::failed_precondition(message))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request_from(cluster: &str, node: u64, voters: &str) -> tonic::Request<()> {
        let caller = Identity::new(cluster.into(), node, voters.into());
        let mut request = tonic::Request::new(());
        caller.stamp(&mut request);
        request
    }

    #[test]
    fn calls_from_another_cluster_or_this_node_id_are_refused_with_both_sides_named() {
        let me = Identity::new("abc".into(), 1, "1,2,3".into());
        assert!(me.check(request_from("abc", 2, "1,2,3")).is_ok());
        let status = me.check(request_from("xyz", 2, "1,2,3")).unwrap_err();
        assert_eq!(status.code(), tonic::Code::FailedPrecondition);
        assert!(status.message().contains("\"xyz\""), "{}", status.message());
        assert!(status.message().contains("\"abc\""), "{}", status.message());
        let status = me.check(request_from("abc", 1, "1,2,3")).unwrap_err();
        assert!(
            status.message().contains("share node id 1"),
            "{}",
            status.message()
        );
        assert!(
            me.check(tonic::Request::new(())).is_err(),
            "no identity at all"
        );
    }

    #[test]
    fn differing_voter_lists_are_refused_only_while_the_cluster_forms() {
        let me = Identity::new("abc".into(), 1, "1,2,3".into());
        assert!(me.check(request_from("abc", 2, "1,2,4")).is_ok());
        me.set_forming(true);
        let status = me.check(request_from("abc", 2, "1,2,4")).unwrap_err();
        assert!(status.message().contains("1,2,4"), "{}", status.message());
        assert!(me.check(request_from("abc", 2, "1,2,3")).is_ok());
        assert!(
            me.check(request_from("abc", 5, "")).is_ok(),
            "an observer names none"
        );
    }
}
