//! A librdkafka member's rebalance callbacks, recorded, for tests that check which partitions
//! moved: eager, cooperative and consumer-protocol (KIP-848) members alike.

#![allow(clippy::unwrap_used)] // test harness: a poisoned lock is a failed test

use std::collections::BTreeSet;
use std::sync::Mutex;

use rdkafka::consumer::{BaseConsumer, Consumer as _, ConsumerContext, Rebalance};
use rdkafka::{ClientContext, TopicPartitionList};

/// One rebalance callback, as the member saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Assigned(BTreeSet<i32>),
    Revoked(BTreeSet<i32>),
}

/// Records every assign and revoke callback of a member.
#[derive(Default)]
pub struct Recorder(pub Mutex<Vec<Change>>);

impl ClientContext for Recorder {}

impl ConsumerContext for Recorder {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let partitions = |list: &TopicPartitionList| {
            list.elements()
                .iter()
                .map(|e| e.partition())
                .collect::<BTreeSet<i32>>()
        };
        let change = match rebalance {
            Rebalance::Assign(list) => Change::Assigned(partitions(list)),
            Rebalance::Revoke(list) => Change::Revoked(partitions(list)),
            Rebalance::Error(_) => return,
        };
        self.0.lock().unwrap().push(change);
    }
}

/// A librdkafka member whose callbacks are recorded.
pub type Member = BaseConsumer<Recorder>;

/// The partitions `member` holds now.
pub fn assignment(member: &Member) -> BTreeSet<i32> {
    member
        .assignment()
        .unwrap()
        .elements()
        .iter()
        .map(|e| e.partition())
        .collect()
}

/// How many callbacks `member` has seen: a mark to look at later ones.
pub fn mark(member: &Member) -> usize {
    member.context().0.lock().unwrap().len()
}

/// Every partition revoked from `member` in the callbacks after `since`.
pub fn revoked_since(member: &Member, since: usize) -> BTreeSet<i32> {
    member.context().0.lock().unwrap()[since..]
        .iter()
        .filter_map(|change| match change {
            Change::Revoked(partitions) => Some(partitions.clone()),
            Change::Assigned(_) => None,
        })
        .flatten()
        .collect()
}
