//! Kafka API handlers: one file per API, each thin, calling the domain modules.
//! `handle` dispatches a decoded request and counts it by API and error.
//!
//! A handler's work that must happen in request order (appends) is done
//! before `handle` returns; what only waits (the fsync of a produce) may come
//! back as [`Handled::Deferred`], which the connection awaits in order while it
//! already reads and appends the next requests. Pipelined produce requests
//! thereby share flusher rounds.

mod api_versions;
mod cluster_info;
mod configs;
mod consumer_groups;
pub mod errors;
mod features;
mod fetch;
mod groups;
mod metadata;
mod offsets;
mod produce;
mod quorum;

pub use produce::now_ms;
mod topics_admin;
mod txn;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use kafka_protocol::messages::{RequestKind, ResponseKind};

use crate::broker::Broker;
use crate::protocol::codec::Request;

/// A request that cannot be answered; the connection is closed.
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    #[error("no handler for {0:?}")]
    NoHandler(kafka_protocol::messages::ApiKey),
    #[error(
        "an acks=0 produce failed with error code {0}; closing the connection so the producer notices"
    )]
    AcksZeroFailed(i16),
    #[error("a blocking task of the handler failed: {0}")]
    Blocking(#[from] tokio::task::JoinError),
}

/// Runs `work` on the blocking pool: topic and log operations touch files.
pub(crate) async fn blocking<T: Send + 'static>(
    broker: &Arc<Broker>,
    work: impl FnOnce(&crate::topics::Topics) -> T + Send + 'static,
) -> Result<T, HandleError> {
    let topics = broker.topics.clone();
    Ok(tokio::task::spawn_blocking(move || work(&topics)).await?)
}

/// The rest of a request's answer, awaited by the connection in order.
pub type Deferred = Pin<Box<dyn Future<Output = Result<Option<ResponseKind>, HandleError>> + Send>>;

/// What `handle` produced: the answer, or a future of it.
#[allow(clippy::large_enum_variant)] // one per request, moved once into the write queue
pub enum Handled {
    /// The answer; `None` means none is sent (Produce with `acks=0`).
    Ready(Option<ResponseKind>),
    /// The answer once durable waits end.
    Deferred(Deferred),
}

/// Handles one request from `peer`: everything order-sensitive is done when this returns.
pub async fn handle(
    broker: &Arc<Broker>,
    request: Request,
    peer: SocketAddr,
) -> Result<Handled, HandleError> {
    let api_key = request.api_key;
    let version = request.header.request_api_version;
    let client_id = request
        .header
        .client_id
        .as_ref()
        .map_or(String::new(), |id| id.to_string());
    let body = match request.body {
        RequestKind::Produce(body) => body,
        other => {
            return handle_now(broker, api_key, version, &client_id, peer, other)
                .await
                .map(Handled::Ready);
        }
    };
    let deferred = produce::handle(broker, body, version).await?;
    let broker = broker.clone();
    Ok(Handled::Deferred(Box::pin(async move {
        let response = deferred.await?.map(ResponseKind::Produce);
        broker
            .metrics
            .count_request(api_name(api_key), response.as_ref().map_or(0, first_error));
        Ok(response)
    })))
}

async fn handle_now(
    broker: &Arc<Broker>,
    api_key: kafka_protocol::messages::ApiKey,
    version: i16,
    client_id: &str,
    peer: SocketAddr,
    body: RequestKind,
) -> Result<Option<ResponseKind>, HandleError> {
    let response = match body {
        RequestKind::ApiVersions(_) => Some(ResponseKind::ApiVersions(features::with_features(
            api_versions::handle(broker.groups.settings().consumer_protocol),
            &broker.topics.snapshot(),
        ))),
        RequestKind::AddPartitionsToTxn(body) => Some(ResponseKind::AddPartitionsToTxn(
            txn::add_partitions_to_txn(broker, body, version).await?,
        )),
        RequestKind::AddOffsetsToTxn(body) => Some(ResponseKind::AddOffsetsToTxn(
            txn::add_offsets_to_txn(broker, body, version).await?,
        )),
        RequestKind::EndTxn(body) => Some(ResponseKind::EndTxn(
            txn::end_txn(broker, body, version).await?,
        )),
        RequestKind::TxnOffsetCommit(body) => Some(ResponseKind::TxnOffsetCommit(
            txn::txn_offset_commit(broker, body, version).await?,
        )),
        RequestKind::DescribeTransactions(body) => Some(ResponseKind::DescribeTransactions(
            txn::describe_transactions(broker, body).await?,
        )),
        RequestKind::ListTransactions(body) => Some(ResponseKind::ListTransactions(
            txn::list_transactions(broker, body).await?,
        )),
        RequestKind::DescribeProducers(body) => Some(ResponseKind::DescribeProducers(
            txn::describe_producers(broker, body).await?,
        )),
        RequestKind::UpdateFeatures(body) => Some(ResponseKind::UpdateFeatures(
            features::update_features(broker, body, version).await?,
        )),
        RequestKind::Metadata(body) => Some(ResponseKind::Metadata(
            metadata::handle(broker, body, version).await?,
        )),
        RequestKind::Fetch(body) => Some(ResponseKind::Fetch(
            fetch::handle(broker, body, version).await?,
        )),
        RequestKind::ListOffsets(body) => Some(ResponseKind::ListOffsets(
            offsets::list_offsets(broker, body, version).await?,
        )),
        RequestKind::OffsetForLeaderEpoch(body) => Some(ResponseKind::OffsetForLeaderEpoch(
            offsets::offset_for_leader_epoch(broker, body).await?,
        )),
        RequestKind::DeleteRecords(body) => Some(ResponseKind::DeleteRecords(
            offsets::delete_records(broker, body).await?,
        )),
        RequestKind::CreateTopics(body) => Some(ResponseKind::CreateTopics(
            topics_admin::create_topics(broker, body, version).await?,
        )),
        RequestKind::DeleteTopics(body) => Some(ResponseKind::DeleteTopics(
            topics_admin::delete_topics(broker, body).await?,
        )),
        RequestKind::CreatePartitions(body) => Some(ResponseKind::CreatePartitions(
            topics_admin::create_partitions(broker, body).await?,
        )),
        RequestKind::DescribeConfigs(body) => Some(ResponseKind::DescribeConfigs(
            configs::describe_configs(broker, body, version).await?,
        )),
        RequestKind::AlterConfigs(body) => Some(ResponseKind::AlterConfigs(
            configs::alter_configs(broker, body).await?,
        )),
        RequestKind::IncrementalAlterConfigs(body) => Some(ResponseKind::IncrementalAlterConfigs(
            configs::incremental_alter_configs(broker, body).await?,
        )),
        RequestKind::DescribeCluster(body) => Some(ResponseKind::DescribeCluster(
            cluster_info::describe_cluster(broker, &body),
        )),
        RequestKind::DescribeQuorum(body) => Some(ResponseKind::DescribeQuorum(
            quorum::describe_quorum(broker, &body).await,
        )),
        RequestKind::AddRaftVoter(body) => Some(ResponseKind::AddRaftVoter(
            quorum::add_raft_voter(broker, body).await?,
        )),
        RequestKind::RemoveRaftVoter(body) => Some(ResponseKind::RemoveRaftVoter(
            quorum::remove_raft_voter(broker, body).await?,
        )),
        RequestKind::InitProducerId(body) => Some(ResponseKind::InitProducerId(
            cluster_info::init_producer_id(broker, body, version).await?,
        )),
        RequestKind::FindCoordinator(body) => Some(ResponseKind::FindCoordinator(
            groups::find_coordinator(broker, body, version).await?,
        )),
        RequestKind::JoinGroup(body) => Some(ResponseKind::JoinGroup(
            groups::join_group(broker, body, version, client_id, peer).await?,
        )),
        RequestKind::SyncGroup(body) => Some(ResponseKind::SyncGroup(
            groups::sync_group(broker, body).await?,
        )),
        RequestKind::Heartbeat(body) => Some(ResponseKind::Heartbeat(
            groups::heartbeat(broker, body).await?,
        )),
        RequestKind::LeaveGroup(body) => Some(ResponseKind::LeaveGroup(
            groups::leave_group(broker, body, version).await?,
        )),
        RequestKind::OffsetCommit(body) => Some(ResponseKind::OffsetCommit(
            groups::offset_commit(broker, body, version).await?,
        )),
        RequestKind::OffsetFetch(body) => Some(ResponseKind::OffsetFetch(
            groups::offset_fetch(broker, body, version).await?,
        )),
        RequestKind::ListGroups(body) => Some(ResponseKind::ListGroups(
            groups::list_groups(broker, body).await?,
        )),
        RequestKind::DescribeGroups(body) => Some(ResponseKind::DescribeGroups(
            groups::describe_groups(broker, body).await?,
        )),
        RequestKind::DeleteGroups(body) => Some(ResponseKind::DeleteGroups(
            groups::delete_groups(broker, body).await?,
        )),
        RequestKind::OffsetDelete(body) => Some(ResponseKind::OffsetDelete(
            groups::offset_delete(broker, body).await?,
        )),
        RequestKind::ConsumerGroupHeartbeat(body) => Some(ResponseKind::ConsumerGroupHeartbeat(
            consumer_groups::heartbeat(broker, body, version, client_id, peer).await?,
        )),
        RequestKind::ConsumerGroupDescribe(body) => Some(ResponseKind::ConsumerGroupDescribe(
            consumer_groups::describe(broker, body).await?,
        )),
        _ => return Err(HandleError::NoHandler(api_key)),
    };
    broker
        .metrics
        .count_request(api_name(api_key), response.as_ref().map_or(0, first_error));
    Ok(response)
}

fn first_nonzero(mut codes: impl Iterator<Item = i16>) -> i16 {
    codes.find(|code| *code != 0).unwrap_or(0)
}

/// The first error a response carries, top-level or per partition (0 = none).
fn first_error(response: &ResponseKind) -> i16 {
    match response {
        ResponseKind::Produce(r) => first_nonzero(
            r.responses
                .iter()
                .flat_map(|t| t.partition_responses.iter().map(|p| p.error_code)),
        ),
        ResponseKind::Fetch(r) if r.error_code != 0 => r.error_code,
        ResponseKind::Fetch(r) => first_nonzero(
            r.responses
                .iter()
                .flat_map(|t| t.partitions.iter().map(|p| p.error_code)),
        ),
        ResponseKind::ListOffsets(r) => first_nonzero(
            r.topics
                .iter()
                .flat_map(|t| t.partitions.iter().map(|p| p.error_code)),
        ),
        ResponseKind::Metadata(r) => first_nonzero(r.topics.iter().map(|t| t.error_code)),
        ResponseKind::CreateTopics(r) => first_nonzero(r.topics.iter().map(|t| t.error_code)),
        ResponseKind::DeleteTopics(r) => first_nonzero(r.responses.iter().map(|t| t.error_code)),
        ResponseKind::CreatePartitions(r) => first_nonzero(r.results.iter().map(|t| t.error_code)),
        ResponseKind::DescribeConfigs(r) => first_nonzero(r.results.iter().map(|t| t.error_code)),
        ResponseKind::AlterConfigs(r) => first_nonzero(r.responses.iter().map(|t| t.error_code)),
        ResponseKind::IncrementalAlterConfigs(r) => {
            first_nonzero(r.responses.iter().map(|t| t.error_code))
        }
        ResponseKind::DeleteRecords(r) => first_nonzero(
            r.topics
                .iter()
                .flat_map(|t| t.partitions.iter().map(|p| p.error_code)),
        ),
        ResponseKind::InitProducerId(r) => r.error_code,
        ResponseKind::EndTxn(r) => r.error_code,
        ResponseKind::AddOffsetsToTxn(r) => r.error_code,
        ResponseKind::AddPartitionsToTxn(r) => {
            first_nonzero(r.results_by_topic_v3_and_below.iter().flat_map(|t| {
                t.results_by_partition
                    .iter()
                    .map(|p| p.partition_error_code)
            }))
        }
        ResponseKind::TxnOffsetCommit(r) => first_nonzero(
            r.topics
                .iter()
                .flat_map(|t| t.partitions.iter().map(|p| p.error_code)),
        ),
        ResponseKind::DescribeCluster(r) => r.error_code,
        ResponseKind::AddRaftVoter(r) => r.error_code,
        ResponseKind::RemoveRaftVoter(r) => r.error_code,
        ResponseKind::DescribeQuorum(r) => first_nonzero(
            std::iter::once(r.error_code).chain(
                r.topics
                    .iter()
                    .flat_map(|t| t.partitions.iter().map(|p| p.error_code)),
            ),
        ),
        ResponseKind::ApiVersions(r) => r.error_code,
        ResponseKind::UpdateFeatures(r) => first_nonzero(
            std::iter::once(r.error_code).chain(r.results.iter().map(|f| f.error_code)),
        ),
        ResponseKind::ConsumerGroupHeartbeat(r) => r.error_code,
        ResponseKind::ConsumerGroupDescribe(r) => {
            first_nonzero(r.groups.iter().map(|g| g.error_code))
        }
        _ => 0,
    }
}

fn api_name(key: kafka_protocol::messages::ApiKey) -> &'static str {
    use kafka_protocol::messages::ApiKey::*;
    match key {
        Produce => "Produce",
        Fetch => "Fetch",
        ListOffsets => "ListOffsets",
        Metadata => "Metadata",
        ApiVersions => "ApiVersions",
        CreateTopics => "CreateTopics",
        DeleteTopics => "DeleteTopics",
        CreatePartitions => "CreatePartitions",
        DescribeConfigs => "DescribeConfigs",
        AlterConfigs => "AlterConfigs",
        IncrementalAlterConfigs => "IncrementalAlterConfigs",
        DeleteRecords => "DeleteRecords",
        DescribeCluster => "DescribeCluster",
        DescribeQuorum => "DescribeQuorum",
        AddRaftVoter => "AddRaftVoter",
        RemoveRaftVoter => "RemoveRaftVoter",
        InitProducerId => "InitProducerId",
        OffsetForLeaderEpoch => "OffsetForLeaderEpoch",
        FindCoordinator => "FindCoordinator",
        JoinGroup => "JoinGroup",
        SyncGroup => "SyncGroup",
        Heartbeat => "Heartbeat",
        LeaveGroup => "LeaveGroup",
        OffsetCommit => "OffsetCommit",
        OffsetFetch => "OffsetFetch",
        ListGroups => "ListGroups",
        DescribeGroups => "DescribeGroups",
        DeleteGroups => "DeleteGroups",
        OffsetDelete => "OffsetDelete",
        ConsumerGroupHeartbeat => "ConsumerGroupHeartbeat",
        ConsumerGroupDescribe => "ConsumerGroupDescribe",
        UpdateFeatures => "UpdateFeatures",
        AddPartitionsToTxn => "AddPartitionsToTxn",
        AddOffsetsToTxn => "AddOffsetsToTxn",
        EndTxn => "EndTxn",
        TxnOffsetCommit => "TxnOffsetCommit",
        DescribeTransactions => "DescribeTransactions",
        ListTransactions => "ListTransactions",
        DescribeProducers => "DescribeProducers",
        _ => "Other",
    }
}
