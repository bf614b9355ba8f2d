//! Random joins, leaves and heartbeats: no partition is ever owned by two members, and once
//! the changes stop every member reaches its target.

use std::time::Instant;

use proptest::prelude::*;

use super::group::ConsumerGroup;
use super::group_harness::{Client, assert_at_target, assert_exclusive, converge, topics};

#[derive(Debug, Clone)]
enum Step {
    /// The client in this slot joins if it is out, else heartbeats.
    Beat(usize),
    /// The client in this slot leaves if it is in.
    Leave(usize),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0..5usize).prop_map(Step::Beat),
        1 => (0..5usize).prop_map(Step::Leave),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_joins_leaves_and_heartbeats_never_share_a_partition_and_converge(
        steps in proptest::collection::vec(step(), 1..60),
        partitions in 1..9i32,
    ) {
        let now = Instant::now();
        let topics = topics(partitions);
        let mut group = ConsumerGroup::new("g");
        let mut slots: Vec<Option<Client>> = vec![None; 5];
        let mut joins = 0;
        for step in steps {
            match step {
                Step::Beat(slot) => {
                    let client = slots[slot].get_or_insert_with(|| {
                        joins += 1;
                        Client::new(&format!("m{slot}-{joins}"))
                    });
                    client.beat(&mut group, &topics, now);
                }
                Step::Leave(slot) => {
                    if let Some(client) = slots[slot].take() {
                        let mut leave = client.request();
                        leave.member_epoch = -1;
                        let answer = group.heartbeat(
                            &leave, &topics, &super::group_harness::assignors(),
                            &super::group_harness::config(), now,
                        );
                        prop_assert!(answer.is_ok(), "{answer:?}");
                    }
                }
            }
            let clients: Vec<Client> = slots.iter().flatten().cloned().collect();
            assert_exclusive(&group, &clients);
        }
        let mut clients: Vec<Client> = slots.into_iter().flatten().collect();
        converge(&mut group, &mut clients, &topics, now);
        assert_at_target(&group, &clients);
        let owned: usize = clients.iter().map(|c| c.owned().len()).sum();
        let expected = if clients.is_empty() { 0 } else { partitions as usize };
        prop_assert_eq!(owned, expected);
    }
}
