//! A ConsumerGroupHeartbeat as the group checks and applies it: Kafka's request checks, its
//! member-epoch rule, and copying what a request says onto its member.

use std::time::Duration;

use super::assignor::Assignor;
use super::group::{ConsumerGroupError, HeartbeatRequest};
use super::member::{
    JOIN_GROUP_MEMBER_EPOCH, LEAVE_GROUP_MEMBER_EPOCH, LEAVE_GROUP_STATIC_MEMBER_EPOCH, Member,
};

/// Kafka's checks of a heartbeat before it looks at the group.
pub(super) fn validate(
    request: &HeartbeatRequest,
    assignors: &[&dyn Assignor],
) -> Result<(), ConsumerGroupError> {
    use ConsumerGroupError::InvalidRequest;
    let epoch = request.member_epoch;
    if request.member_id.is_empty()
        && (request.version >= 1 || epoch > 0 || epoch == LEAVE_GROUP_MEMBER_EPOCH)
    {
        return Err(InvalidRequest("MemberId can't be empty."));
    }
    if request.instance_id.as_deref() == Some("") {
        return Err(InvalidRequest("InstanceId can't be empty."));
    }
    if request.rack_id.as_deref() == Some("") {
        return Err(InvalidRequest("RackId can't be empty."));
    }
    if request.rebalance_timeout_ms < -1 {
        return Err(InvalidRequest("RebalanceTimeoutMs can't be negative."));
    }
    if epoch == JOIN_GROUP_MEMBER_EPOCH {
        if request.rebalance_timeout_ms == -1 {
            return Err(InvalidRequest(
                "RebalanceTimeoutMs must be provided in first request.",
            ));
        }
        if request.owned.as_ref().is_none_or(|owned| !owned.is_empty()) {
            return Err(InvalidRequest(
                "TopicPartitions must be empty when (re-)joining.",
            ));
        }
        if request.subscribed_topic_names.is_none() && request.subscribed_topic_regex.is_none() {
            return Err(InvalidRequest(
                "Either SubscribedTopicNames or SubscribedTopicRegex must be non-null when (re-)joining.",
            ));
        }
    } else if epoch == LEAVE_GROUP_STATIC_MEMBER_EPOCH {
        if request.instance_id.is_none() {
            return Err(InvalidRequest("InstanceId can't be null."));
        }
    } else if epoch < LEAVE_GROUP_STATIC_MEMBER_EPOCH {
        return Err(InvalidRequest("MemberEpoch is invalid."));
    }
    if let Some(name) = &request.server_assignor
        && !assignors.iter().any(|a| a.name() == name)
    {
        return Err(ConsumerGroupError::UnsupportedAssignor(name.clone()));
    }
    Ok(())
}

/// Kafka's epoch rule: ahead is fenced; behind is fenced unless it is the previous epoch and
/// the member owns no more than its current assignment (the answer that moved it on was lost).
pub(super) fn check_epoch(
    member: &Member,
    request: &HeartbeatRequest,
) -> Result<(), ConsumerGroupError> {
    let received = request.member_epoch;
    if received > member.member_epoch {
        return Err(ConsumerGroupError::FencedMemberEpoch);
    }
    if received < member.member_epoch {
        let subset = request.owned.as_ref().is_some_and(|owned| {
            owned.iter().all(|(topic, partitions)| {
                partitions.is_empty()
                    || member
                        .assigned
                        .get(topic)
                        .is_some_and(|assigned| partitions.is_subset(assigned))
            })
        });
        if received != member.previous_member_epoch || !subset {
            return Err(ConsumerGroupError::FencedMemberEpoch);
        }
    }
    Ok(())
}

/// Copies what the request says (fields left out stay as they were).
pub(super) fn apply_request(member: &mut Member, request: &HeartbeatRequest) {
    if request.instance_id.is_some() {
        member.instance_id.clone_from(&request.instance_id);
    }
    if request.rack_id.is_some() {
        member.rack_id.clone_from(&request.rack_id);
    }
    if let Ok(ms) = u64::try_from(request.rebalance_timeout_ms) {
        member.rebalance_timeout = Duration::from_millis(ms);
    }
    if let Some(names) = &request.subscribed_topic_names {
        member.subscribed_topic_names = names.iter().cloned().collect();
    }
    if let Some(regex) = &request.subscribed_topic_regex {
        member.subscribed_topic_regex = (!regex.is_empty()).then(|| regex.clone());
    }
    if request.server_assignor.is_some() {
        member.server_assignor.clone_from(&request.server_assignor);
    }
    if request.classic.is_some() {
        member.classic.clone_from(&request.classic);
    }
    member.client_id.clone_from(&request.client_id);
    member.client_host.clone_from(&request.client_host);
}

/// A full request (the member's whole state, sent on joining or after an error) gets the
/// whole assignment back even if it did not change.
pub(super) fn is_full(request: &HeartbeatRequest) -> bool {
    request.rebalance_timeout_ms != -1
        && request.subscribed_topic_names.is_some()
        && request.owned.is_some()
}
