//! A subscribed topic deleted while its partitions are assigned: the next heartbeat's topics
//! image lacks it, the group epoch moves, the new target leaves it out, its partitions are
//! taken back from their owners, and the remaining topic stays owned exactly once throughout.

use std::collections::BTreeSet;
use std::time::Instant;

use uuid::Uuid;

use super::assignor::Assignor;
use super::assignors::assignor;
use super::group::{ConsumerGroup, TopicMetadata, TopicsImage};
use super::group_harness::{
    Client, assert_at_target, assert_exclusive, assignors, converge_with, pairs,
};

const KEPT: &str = "kept";
const DELETED: &str = "deleted";

fn id(topic: &str) -> Uuid {
    Uuid::from_u128(if topic == KEPT { 1 } else { 2 })
}

/// The cluster's topics: `names`, each with `partitions` partitions.
fn image(names: &[&str], partitions: i32) -> TopicsImage {
    names
        .iter()
        .map(|name| {
            let metadata = TopicMetadata {
                id: id(name),
                partitions,
            };
            ((*name).to_owned(), metadata)
        })
        .collect()
}

/// Every `(topic, partition)` of `topic`.
fn all_of(topic: &str, partitions: i32) -> BTreeSet<(Uuid, i32)> {
    (0..partitions).map(|p| (id(topic), p)).collect()
}

/// Everything the clients own, each partition once (`assert_exclusive` checks that).
fn owned_by_all(clients: &[Client]) -> BTreeSet<(Uuid, i32)> {
    clients.iter().flat_map(Client::owned_partitions).collect()
}

/// The tests' round robin and the broker's own assignors (`uniform` first, as configured by
/// default).
fn assignor_sets() -> [(&'static str, Vec<&'static dyn Assignor>); 2] {
    let real = ["uniform", "range"]
        .into_iter()
        .map(|name| assignor(name).expect("a configured assignor"))
        .collect();
    [("round robin", assignors().to_vec()), ("uniform", real)]
}

#[test]
fn a_topic_deleted_while_assigned_is_taken_back_and_the_other_stays_owned_once() {
    let partitions = 3;
    for (name, assignors) in assignor_sets() {
        let now = Instant::now();
        let both = image(&[KEPT, DELETED], partitions);
        let mut group = ConsumerGroup::new("g");
        let mut clients: Vec<Client> = ["a", "b", "c"]
            .into_iter()
            .map(|id| Client::subscribing(id, &[KEPT, DELETED]))
            .collect();
        converge_with(&mut group, &mut clients, &both, &assignors, now);
        assert_at_target(&group, &clients);
        let mut everything = all_of(KEPT, partitions);
        everything.extend(all_of(DELETED, partitions));
        assert_eq!(owned_by_all(&clients), everything, "{name}");
        let holders: Vec<usize> = (0..clients.len())
            .filter(|&i| {
                clients[i]
                    .owned_partitions()
                    .iter()
                    .any(|(topic, _)| *topic == id(DELETED))
            })
            .collect();
        assert!(
            !holders.is_empty(),
            "{name}: someone holds the deleted topic"
        );
        let epoch = group.group_epoch();

        // The topic is gone: the first heartbeat that sees it missing moves the group epoch,
        // and the new target holds none of its partitions.
        let kept = image(&[KEPT], partitions);
        let first = holders[0];
        let had = clients[first].owned_partitions();
        let answer = clients[first].beat_with(&mut group, &kept, &assignors, now);
        assert_eq!(group.group_epoch(), epoch + 1, "{name}");
        assert_eq!(group.target_assignment_epoch(), epoch + 1, "{name}");
        for client in &clients {
            let target = group
                .target_assignment(client.member_id())
                .map(pairs)
                .unwrap_or_default();
            assert!(
                target.iter().all(|(topic, _)| *topic == id(KEPT)),
                "{name}: the target of {} still has the deleted topic: {target:?}",
                client.member_id()
            );
        }
        // Its holder is told to give the deleted partitions up, and keeps the rest.
        let told = answer
            .assignment
            .as_ref()
            .map(pairs)
            .unwrap_or_else(|| panic!("{name}: the holder is sent a new assignment"));
        assert!(
            told.iter().all(|(topic, _)| *topic == id(KEPT)),
            "{name}: {told:?}"
        );
        assert!(told.is_subset(&had), "{name}: nothing new before revoking");
        let member = group.member(clients[first].member_id()).expect("a member");
        let revoking = pairs(&member.pending_revocation);
        let deleted_had: BTreeSet<(Uuid, i32)> = had
            .iter()
            .filter(|(topic, _)| *topic == id(DELETED))
            .copied()
            .collect();
        assert!(revoking.is_superset(&deleted_had), "{name}: {member:?}");
        assert_eq!(
            answer.member_epoch, epoch,
            "{name}: the holder stays at its epoch until it has revoked"
        );
        assert_exclusive(&group, &clients);

        // Everyone reconciles: the kept topic is owned exactly once, the deleted one by nobody,
        // at every step (`converge_with` checks exclusivity after each heartbeat).
        converge_with(&mut group, &mut clients, &kept, &assignors, now);
        assert_at_target(&group, &clients);
        assert_eq!(owned_by_all(&clients), all_of(KEPT, partitions), "{name}");
        for member in group.members() {
            let held: Vec<(Uuid, i32)> = pairs(&member.assigned)
                .union(&pairs(&member.pending_revocation))
                .copied()
                .filter(|(topic, _)| *topic == id(DELETED))
                .collect();
            assert!(held.is_empty(), "{name}: {member:?}");
        }
        assert_eq!(
            group.group_epoch(),
            epoch + 1,
            "{name}: one epoch for one deletion"
        );
        assert_eq!(group.state_name(), "Stable", "{name}");
    }
}

#[test]
fn a_topic_recreated_under_the_same_name_is_a_new_topic_to_the_group() {
    let partitions = 2;
    let now = Instant::now();
    let mut group = ConsumerGroup::new("g");
    let mut clients = vec![
        Client::subscribing("a", &[KEPT, DELETED]),
        Client::subscribing("b", &[KEPT, DELETED]),
    ];
    let both = image(&[KEPT, DELETED], partitions);
    converge_with(&mut group, &mut clients, &both, &assignors(), now);
    let epoch = group.group_epoch();

    // Deleted and created again between two heartbeats: same name, new id.
    let mut recreated = both.clone();
    let new_id = Uuid::from_u128(3);
    recreated.insert(
        DELETED.to_owned(),
        TopicMetadata {
            id: new_id,
            partitions,
        },
    );
    converge_with(&mut group, &mut clients, &recreated, &assignors(), now);
    assert_at_target(&group, &clients);
    assert_eq!(group.group_epoch(), epoch + 1);
    let mut expected = all_of(KEPT, partitions);
    expected.extend((0..partitions).map(|p| (new_id, p)));
    assert_eq!(
        owned_by_all(&clients),
        expected,
        "the new topic is assigned, the old one's partitions are gone"
    );
}
