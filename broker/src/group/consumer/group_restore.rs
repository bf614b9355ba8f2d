//! A consumer group rebuilt from its records when its `__consumer_offsets` partition is
//! loaded, as Kafka's coordinator replays them: the group and target epochs, every member with
//! its subscription and where its reconciliation stood, and each member's target. Sessions
//! start at the load (Kafka schedules every member's session timeout when it loads a group),
//! and a member that still had partitions to revoke gets its rebalance timeout again, so
//! members go on heartbeating at their epochs without a new assignment.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use uuid::Uuid;

use super::super::assignor::{MemberId, TopicPartitions};
use super::super::member::{Deadlines, Member, MemberState};
use super::{ConsumerGroup, ConsumerGroupConfig, TopicsImage};

/// What the records hold of one group.
#[derive(Debug, Clone, Default)]
pub struct StoredGroup {
    pub group_epoch: i32,
    pub target_epoch: i32,
    pub target: BTreeMap<MemberId, TopicPartitions>,
    pub members: Vec<Member>,
}

impl ConsumerGroup {
    /// The group `stored` describes. `resolved_regexes` are the members' regular expressions
    /// resolved against `topics` now, so the first heartbeat after the load finds the
    /// subscribed topics unchanged and computes no new target.
    pub fn restore(
        group_id: &str,
        stored: StoredGroup,
        resolved_regexes: BTreeMap<String, BTreeSet<Uuid>>,
        topics: &TopicsImage,
        config: &ConsumerGroupConfig,
        now: Instant,
    ) -> Self {
        let mut group = ConsumerGroup::new(group_id);
        group.group_epoch = stored.group_epoch;
        group.target_epoch = stored.target_epoch;
        group.resolved_regexes = resolved_regexes;
        for member in stored.members {
            if let Some(instance) = &member.instance_id {
                group
                    .static_members
                    .insert(instance.clone(), member.member_id.clone());
            }
            let revocation = (member.state == MemberState::UnrevokedPartitions)
                .then(|| now + member.rebalance_timeout);
            group.deadlines.insert(
                member.member_id.clone(),
                Deadlines {
                    session: now + member.session_timeout(config.session_timeout),
                    revocation,
                },
            );
            group.members.insert(member.member_id.clone(), member);
        }
        group.target = stored
            .target
            .into_iter()
            .filter(|(member_id, _)| group.members.contains_key(member_id))
            .collect();
        let members = group.members.clone();
        group.subscribed_topics = group.subscribed_topics_of(&members, topics);
        group
    }
}
