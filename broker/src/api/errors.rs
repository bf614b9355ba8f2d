//! The one place domain errors become Kafka error codes: the domain modules (`partition/`,
//! `cluster/`, `log/`) say what went wrong in their own terms, and only the API layer speaks
//! the protocol's.

use kafka_protocol::ResponseError;

use crate::cluster::ProposeError;
use crate::cluster::quorum::QuorumError;
use crate::group::consumer::group::ConsumerGroupError;
use crate::group::{ConsumerHeartbeatError, GroupError};
use crate::log::{BatchError, LogError};
use crate::partition::PartitionError;
use crate::producer_state::SequenceError;
use crate::topics::TopicError;
use crate::topics::Topics;

/// The Kafka error for a topic operation that failed.
pub fn topic_error(error: &TopicError) -> ResponseError {
    match error {
        TopicError::AlreadyExists(_) => ResponseError::TopicAlreadyExists,
        TopicError::Unknown(_) => ResponseError::UnknownTopicOrPartition,
        TopicError::InvalidName(_) => ResponseError::InvalidTopicException,
        TopicError::InvalidPartitions(_) => ResponseError::InvalidPartitions,
        TopicError::InvalidReplicationFactor(_) => ResponseError::InvalidReplicationFactor,
        TopicError::InvalidConfig(_) => ResponseError::InvalidConfig,
        // Kafka's controller does not check this (ControllerApis.deleteTopics has no
        // internal-topic case; its TopicCommand refuses client-side: "is a kafka internal topic
        // and is not allowed to be marked for deletion"). INVALID_TOPIC_EXCEPTION is what
        // Kafka's ReplicaManager answers when it protects internal topics the same way
        // (DeleteRecords: "Cannot delete records of internal topic").
        TopicError::Internal(_) => ResponseError::InvalidTopicException,
        TopicError::Refused(_) => ResponseError::UnknownServerError,
        TopicError::Metadata(_) | TopicError::OpenPartition { .. } => {
            ResponseError::KafkaStorageError
        }
    }
}

/// The Kafka error for a partition operation that failed.
pub fn partition_error(error: &PartitionError) -> ResponseError {
    match error {
        PartitionError::InvalidBatch(batch) => batch_error(batch),
        PartitionError::NoBatches
        | PartitionError::ControlBatchFromClient { .. }
        | PartitionError::TransactionalWithoutProducerId { .. }
        | PartitionError::KeylessRecordOnCompactedTopic { .. } => ResponseError::InvalidRecord,
        PartitionError::UndecodableRecords(_) => ResponseError::CorruptMessage,
        PartitionError::Sequence(SequenceError::FencedEpoch { .. }) => {
            ResponseError::InvalidProducerEpoch
        }
        PartitionError::Sequence(SequenceError::OutOfOrder { .. }) => {
            ResponseError::OutOfOrderSequenceNumber
        }
        PartitionError::Sequence(SequenceError::InvalidTxnState { .. }) => {
            ResponseError::InvalidTxnState
        }
        PartitionError::Sequence(SequenceError::CoordinatorFenced { .. }) => {
            ResponseError::TransactionCoordinatorFenced
        }
        PartitionError::Log(log) => log_error(log),
        // Kafka: "Cannot append to internal topic" is an InvalidTopicException.
        PartitionError::InternalTopic(_) => ResponseError::InvalidTopicException,
        PartitionError::FencedLeaderEpoch { .. } => ResponseError::FencedLeaderEpoch,
        PartitionError::UnknownLeaderEpoch { .. } => ResponseError::UnknownLeaderEpoch,
        PartitionError::NotLeader { .. } | PartitionError::StaleLeaderEpoch { .. } => {
            ResponseError::NotLeaderOrFollower
        }
    }
}

/// The Kafka error for a produce whose acknowledgement wait failed: an fsync failure of any
/// kind means the bytes may not be on disk.
pub fn ack_wait_error(error: &PartitionError) -> ResponseError {
    match error {
        PartitionError::Log(_) => ResponseError::KafkaStorageError,
        other => partition_error(other),
    }
}

/// The Kafka error for a request about a partition this broker does not lead: one the cluster
/// has (led elsewhere, or hosted here as a follower) is NOT_LEADER_OR_FOLLOWER, so clients
/// refresh their metadata; any other is UNKNOWN_TOPIC_OR_PARTITION.
pub fn not_led_here(topics: &Topics, topic: &str, index: i32) -> ResponseError {
    let exists = topics
        .snapshot()
        .topics
        .get(topic)
        .is_some_and(|record| (0..record.partitions).contains(&index));
    if exists {
        ResponseError::NotLeaderOrFollower
    } else {
        ResponseError::UnknownTopicOrPartition
    }
}

/// The Kafka error for a metadata change that was not committed.
pub fn propose_error(error: &ProposeError) -> ResponseError {
    match error {
        ProposeError::Storage(_) | ProposeError::Quorum(QuorumError::Failed(_)) => {
            ResponseError::KafkaStorageError
        }
        // Kafka's answer when the controller does not answer in time.
        ProposeError::Quorum(QuorumError::NoLeader(_)) => ResponseError::RequestTimedOut,
        ProposeError::Task(_) => ResponseError::UnknownServerError,
    }
}

/// The Kafka error for a group request that was refused.
pub fn group_error(error: GroupError) -> ResponseError {
    match error {
        GroupError::CoordinatorNotAvailable => ResponseError::CoordinatorNotAvailable,
        GroupError::CoordinatorLoadInProgress => ResponseError::CoordinatorLoadInProgress,
        GroupError::InvalidGroupId => ResponseError::InvalidGroupId,
        GroupError::InvalidSessionTimeout => ResponseError::InvalidSessionTimeout,
        GroupError::InconsistentGroupProtocol => ResponseError::InconsistentGroupProtocol,
        GroupError::UnknownMemberId => ResponseError::UnknownMemberId,
        GroupError::MemberIdRequired => ResponseError::MemberIdRequired,
        GroupError::IllegalGeneration => ResponseError::IllegalGeneration,
        GroupError::RebalanceInProgress => ResponseError::RebalanceInProgress,
        GroupError::FencedInstanceId => ResponseError::FencedInstanceId,
        GroupError::GroupMaxSizeReached => ResponseError::GroupMaxSizeReached,
        GroupError::NonEmptyGroup => ResponseError::NonEmptyGroup,
        GroupError::GroupIdNotFound => ResponseError::GroupIdNotFound,
        GroupError::OffsetMetadataTooLarge => ResponseError::OffsetMetadataTooLarge,
        GroupError::UnknownTopicOrPartition => ResponseError::UnknownTopicOrPartition,
        GroupError::GroupSubscribedToTopic => ResponseError::GroupSubscribedToTopic,
        GroupError::UnstableOffsetCommit => ResponseError::UnstableOffsetCommit,
        GroupError::StaleMemberEpoch => ResponseError::StaleMemberEpoch,
        GroupError::InvalidRequest => ResponseError::InvalidRequest,
        GroupError::UnsupportedVersion => ResponseError::UnsupportedVersion,
        GroupError::UnknownServerError => ResponseError::UnknownServerError,
        // As Kafka's group metadata manager: a failed offsets append sends the client to
        // find the coordinator again.
        GroupError::StorageError => ResponseError::NotCoordinator,
    }
}

/// The Kafka error for a ConsumerGroupHeartbeat that was refused.
pub fn consumer_group_error(error: &ConsumerHeartbeatError) -> ResponseError {
    match error {
        ConsumerHeartbeatError::Coordinator(error) => group_error(*error),
        ConsumerHeartbeatError::Regex(error) => error.error(),
        ConsumerHeartbeatError::Group(error) => match error {
            ConsumerGroupError::FencedMemberEpoch => ResponseError::FencedMemberEpoch,
            ConsumerGroupError::UnknownMemberId => ResponseError::UnknownMemberId,
            ConsumerGroupError::UnreleasedInstanceId(_) => ResponseError::UnreleasedInstanceId,
            ConsumerGroupError::FencedInstanceId(_) => ResponseError::FencedInstanceId,
            ConsumerGroupError::GroupMaxSizeReached(_) => ResponseError::GroupMaxSizeReached,
            ConsumerGroupError::InvalidRequest(_) => ResponseError::InvalidRequest,
            ConsumerGroupError::UnsupportedAssignor(_) => ResponseError::UnsupportedAssignor,
            ConsumerGroupError::AssignmentFailed(_) => ResponseError::UnknownServerError,
        },
    }
}

/// The Kafka error for a log operation that failed.
pub fn log_error(error: &LogError) -> ResponseError {
    match error {
        LogError::OffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange,
        LogError::MessageTooLarge { .. } => ResponseError::MessageTooLarge,
        LogError::InvalidBatch(batch) => batch_error(batch),
        // Good CRC, undecodable records: what the producer sent, not disk damage (Kafka answers
        // CORRUPT_MESSAGE for a CorruptRecordException too).
        LogError::CorruptRecords { .. } => ResponseError::CorruptMessage,
        LogError::FlusherStopped => ResponseError::NotLeaderOrFollower,
        _ if error.is_storage_error() => ResponseError::KafkaStorageError,
        _ => ResponseError::UnknownServerError,
    }
}

/// The Kafka error for a record batch that failed validation.
pub fn batch_error(error: &BatchError) -> ResponseError {
    match error {
        BatchError::UnsupportedMagic(_) => ResponseError::UnsupportedForMessageFormat,
        BatchError::UnsupportedCompression(_) => ResponseError::UnsupportedCompressionType,
        _ => ResponseError::CorruptMessage,
    }
}

/// The error message Kafka clients show, for errors worth explaining.
pub fn message(error: &impl std::fmt::Display) -> Option<kafka_protocol::protocol::StrBytes> {
    Some(kafka_protocol::protocol::StrBytes::from_string(
        error.to_string(),
    ))
}
