//! The server-side assignors by name, as `group.consumer.assignors` lists them and a member
//! asks for one in `group.remote.assignor`: `uniform` (Kafka's default, first) and `range`.
//! Also what both assignors read of a spec the same way: the partition counts and which
//! current partitions a member may keep.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use super::assignor::{AssignmentSpec, Assignor, AssignorError, MemberId};
use super::range::RangeAssignor;
use super::uniform::UniformAssignor;

/// The assignors' names, the default first (Kafka's `group.consumer.assignors` default order).
pub const NAMES: [&str; 2] = ["uniform", "range"];

/// The assignor a group uses when its members name none.
pub const DEFAULT: &str = NAMES[0];

static UNIFORM: UniformAssignor = UniformAssignor;
static RANGE: RangeAssignor = RangeAssignor;

/// The assignor called `name` (exactly, as Kafka compares them), if there is one.
pub fn assignor(name: &str) -> Option<&'static dyn Assignor> {
    match name {
        "uniform" => Some(&UNIFORM),
        "range" => Some(&RANGE),
        _ => None,
    }
}

/// Refuses a spec in which a member subscribes to a topic it does not describe.
pub(super) fn check_subscriptions(spec: &AssignmentSpec) -> Result<(), AssignorError> {
    for member in spec.members.values() {
        if let Some(&unknown) = member
            .subscribed
            .iter()
            .find(|topic| !spec.topics.contains_key(topic))
        {
            return Err(AssignorError::UnknownTopic(unknown));
        }
    }
    Ok(())
}

/// The partition count of `topic` (none for an unknown topic or a negative count).
pub(super) fn partition_count(spec: &AssignmentSpec, topic: Uuid) -> i32 {
    spec.topics.get(&topic).map_or(0, |t| t.partitions.max(0))
}

/// Each member's current partitions that it may keep, in (topic, partition) order: of a topic
/// it subscribes to, that the topic still has, and that no member before it (by id) holds.
/// Members that may keep nothing are left out.
pub(super) fn held_partitions(spec: &AssignmentSpec) -> BTreeMap<&MemberId, Vec<(Uuid, i32)>> {
    let mut claimed = BTreeSet::new();
    let mut held = BTreeMap::new();
    for (id, member) in &spec.members {
        let mut mine = Vec::new();
        for (&topic, partitions) in &member.assigned {
            if !member.subscribed.contains(&topic) {
                continue;
            }
            let count = partition_count(spec, topic);
            for &partition in partitions {
                if (0..count).contains(&partition) && claimed.insert((topic, partition)) {
                    mine.push((topic, partition));
                }
            }
        }
        if !mine.is_empty() {
            held.insert(id, mine);
        }
    }
    held
}

#[cfg(test)]
#[path = "assignors_tests.rs"]
pub(super) mod tests;
