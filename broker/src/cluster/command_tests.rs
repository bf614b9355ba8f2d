use super::*;

fn topic(name: &str, id: u128) -> TopicRecord {
    TopicRecord {
        name: name.to_owned(),
        id: Uuid::from_u128(id),
        partitions: 2,
        replication_factor: 1,
        configs: BTreeMap::from([("retention.ms".to_owned(), "1000".to_owned())]),
        internal: false,
        assignments: Vec::new(),
    }
}

fn with(topics: &[TopicRecord]) -> ClusterState {
    ClusterState {
        topics: topics.iter().map(|t| (t.name.clone(), t.clone())).collect(),
        next_producer_id: 7,
        ..ClusterState::default()
    }
}

/// Applies a command that must be refused and checks the state did not change.
fn refused(state: &ClusterState, command: Command) -> CommandError {
    let mut after = state.clone();
    let error = apply(&mut after, &command).unwrap_err();
    assert_eq!(&after, state, "a refused {command:?} changed the state");
    error
}

#[test]
fn creating_a_topic_adds_the_proposed_record() {
    let mut state = with(&[]);
    let orders = topic("orders", 1);
    let change = apply(&mut state, &Command::CreateTopic(orders.clone())).unwrap();
    assert_eq!(change, Change::TopicCreated(orders.clone()));
    assert_eq!(state.topics["orders"], orders);
}

#[test]
fn creating_a_topic_is_refused_for_a_taken_name_or_id_or_bad_counts() {
    let state = with(&[topic("orders", 1)]);
    assert_eq!(
        refused(&state, Command::CreateTopic(topic("orders", 2))),
        CommandError::TopicExists("orders".into())
    );
    assert_eq!(
        refused(&state, Command::CreateTopic(topic("payments", 1))),
        CommandError::TopicIdInUse {
            id: Uuid::from_u128(1),
            name: "orders".into()
        }
    );
    let mut empty = topic("empty", 3);
    empty.partitions = 0;
    assert_eq!(
        refused(&state, Command::CreateTopic(empty)),
        CommandError::InvalidPartitions(0)
    );
    let mut unreplicated = topic("unreplicated", 4);
    unreplicated.replication_factor = 0;
    assert_eq!(
        refused(&state, Command::CreateTopic(unreplicated)),
        CommandError::InvalidReplicationFactor(0)
    );
}

#[test]
fn deleting_a_topic_removes_it_and_reports_the_record() {
    let orders = topic("orders", 1);
    let mut state = with(&[orders.clone(), topic("kept", 2)]);
    let change = apply(
        &mut state,
        &Command::DeleteTopic {
            name: "orders".into(),
            id: orders.id,
        },
    )
    .unwrap();
    assert_eq!(change, Change::TopicDeleted(orders));
    assert_eq!(state.topics.keys().collect::<Vec<_>>(), ["kept"]);
}

#[test]
fn deleting_is_refused_for_unknown_topics_stale_ids_and_internal_topics() {
    let mut offsets = topic("__consumer_offsets", 9);
    offsets.internal = true;
    let state = with(&[topic("orders", 1), offsets]);
    assert_eq!(
        refused(
            &state,
            Command::DeleteTopic {
                name: "missing".into(),
                id: Uuid::from_u128(1)
            }
        ),
        CommandError::UnknownTopic("missing".into())
    );
    assert!(matches!(
        refused(
            &state,
            Command::DeleteTopic {
                name: "orders".into(),
                id: Uuid::from_u128(5)
            }
        ),
        CommandError::TopicIdMismatch { .. }
    ));
    assert_eq!(
        refused(
            &state,
            Command::DeleteTopic {
                name: "__consumer_offsets".into(),
                id: Uuid::from_u128(9)
            }
        ),
        CommandError::InternalTopic("__consumer_offsets".into())
    );
}

#[test]
fn partitions_only_grow() {
    let mut state = with(&[topic("orders", 1)]);
    let change = apply(
        &mut state,
        &Command::CreatePartitions {
            name: "orders".into(),
            count: 5,
            assignments: Vec::new(),
        },
    )
    .unwrap();
    let mut grown = topic("orders", 1);
    grown.partitions = 5;
    assert_eq!(
        change,
        Change::PartitionsCreated {
            topic: grown,
            from: 2
        }
    );
    assert_eq!(state.topics["orders"].partitions, 5);
    for count in [5, 1] {
        assert_eq!(
            refused(
                &state,
                Command::CreatePartitions {
                    name: "orders".into(),
                    count,
                    assignments: Vec::new(),
                }
            ),
            CommandError::PartitionsNotIncreased {
                current: 5,
                requested: count
            }
        );
    }
    assert_eq!(
        refused(
            &state,
            Command::CreatePartitions {
                name: "missing".into(),
                count: 9,
                assignments: Vec::new(),
            }
        ),
        CommandError::UnknownTopic("missing".into())
    );
}

#[test]
fn altering_configs_replaces_the_overrides() {
    let mut state = with(&[topic("orders", 1)]);
    let configs = BTreeMap::from([("segment.bytes".to_owned(), "1024".to_owned())]);
    let change = apply(
        &mut state,
        &Command::AlterTopicConfigs {
            name: "orders".into(),
            configs: configs.clone(),
        },
    )
    .unwrap();
    assert_eq!(state.topics["orders"].configs, configs);
    assert_eq!(
        change,
        Change::TopicConfigsChanged(state.topics["orders"].clone())
    );
    assert_eq!(
        refused(
            &state,
            Command::AlterTopicConfigs {
                name: "missing".into(),
                configs
            }
        ),
        CommandError::UnknownTopic("missing".into())
    );
}

#[test]
fn producer_ids_are_allocated_in_blocks_after_the_last_one() {
    let mut state = with(&[]);
    let change = apply(&mut state, &Command::AllocateProducerIds { count: 10 }).unwrap();
    assert_eq!(change, Change::ProducerIdsAllocated { start: 7, end: 17 });
    assert_eq!(state.next_producer_id, 17);
    for count in [0, -3, i64::MAX] {
        assert_eq!(
            refused(&state, Command::AllocateProducerIds { count }),
            CommandError::InvalidProducerIdCount(count)
        );
    }
}

#[test]
fn commands_keep_their_stable_serialised_names() {
    let command = Command::DeleteTopic {
        name: "orders".into(),
        id: Uuid::from_u128(1),
    };
    let json = serde_json::to_value(&command).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"DeleteTopic": {"name": "orders", "id": "00000000-0000-0000-0000-000000000001"}})
    );
    let back: Command = serde_json::from_value(json).unwrap();
    assert_eq!(back, command);
    let allocate = serde_json::to_value(Command::AllocateProducerIds { count: 3 }).unwrap();
    assert_eq!(
        allocate,
        serde_json::json!({"AllocateProducerIds": {"count": 3}})
    );
}

fn placed_epochs(state: &ClusterState) -> Vec<(i32, i32)> {
    state.topics["old"]
        .assignments
        .iter()
        .map(|a| (a.leader_epoch, a.partition_epoch))
        .collect()
}

fn broker(id: i32) -> BrokerRecord {
    BrokerRecord {
        id,
        host: format!("broker-{id}"),
        port: 9092,
        rack: None,
        rpc: format!("broker-{id}:9093"),
        incarnation: Uuid::from_u128(id as u128),
        fenced: false,
    }
}

#[test]
fn the_first_broker_to_register_adopts_partitions_placed_before_placement_existed() {
    let mut state = ClusterState::default();
    let old = topic("old", 1);
    apply(&mut state, &Command::CreateTopic(old.clone())).unwrap();
    apply(
        &mut state,
        &Command::CreatePartitions {
            name: "old".into(),
            count: 5,
            assignments: Vec::new(),
        },
    )
    .unwrap();
    let change = apply(&mut state, &Command::RegisterBroker(broker(4))).unwrap();
    let Change::BrokerRegistered {
        broker: b, adopted, ..
    } = change
    else {
        panic!("{change:?}")
    };
    assert_eq!((b.id, adopted.len()), (4, 1));
    let placed = &state.topics["old"].assignments;
    assert_eq!(placed.len(), 5);
    assert!(
        placed
            .iter()
            .all(|a| *a == PartitionAssignment::new(vec![4]))
    );
    // The next registration (another broker, or this one restarted) adopts nothing.
    let change = apply(&mut state, &Command::RegisterBroker(broker(5))).unwrap();
    assert!(matches!(change, Change::BrokerRegistered { adopted, .. } if adopted.is_empty()));
    assert_eq!(state.brokers.len(), 2);
    let mut restarted = broker(4);
    restarted.incarnation = Uuid::from_u128(99);
    let change = apply(&mut state, &Command::RegisterBroker(restarted.clone())).unwrap();
    assert_eq!(state.brokers[&4], restarted);
    // A new incarnation leads what it led at a new epoch: it may have lost an unflushed tail.
    let Change::BrokerRegistered { partitions, .. } = change else {
        panic!("{change:?}")
    };
    assert_eq!(partitions.len(), 5);
    assert!(placed_epochs(&state).iter().all(|e| *e == (1, 1)));
    // The same incarnation again (a retried registration) changes no epoch.
    apply(&mut state, &Command::RegisterBroker(restarted)).unwrap();
    assert!(placed_epochs(&state).iter().all(|e| *e == (1, 1)));
}

#[test]
fn assignments_must_fit_the_partitions_and_the_replication_factor() {
    let mut state = ClusterState::default();
    let mut placed = topic("placed", 1);
    placed.partitions = 2;
    placed.replication_factor = 2;
    placed.assignments = vec![
        PartitionAssignment::new(vec![1, 2]),
        PartitionAssignment::new(vec![2, 3]),
    ];
    apply(&mut state, &Command::CreateTopic(placed.clone())).unwrap();
    for bad in [
        vec![PartitionAssignment::new(vec![1, 2])],
        vec![
            PartitionAssignment::new(vec![1, 1]),
            PartitionAssignment::new(vec![2, 3]),
        ],
        vec![
            PartitionAssignment::new(vec![1]),
            PartitionAssignment::new(vec![2, 3]),
        ],
    ] {
        let mut record = topic("bad", 2);
        record.partitions = 2;
        record.replication_factor = 2;
        record.assignments = bad;
        assert!(matches!(
            refused(&state, Command::CreateTopic(record)),
            CommandError::InvalidAssignment(_)
        ));
    }
    let grow = |assignments| Command::CreatePartitions {
        name: "placed".into(),
        count: 3,
        assignments,
    };
    assert!(matches!(
        refused(&state, grow(vec![PartitionAssignment::new(vec![3])])),
        CommandError::InvalidAssignment(_)
    ));
    apply(
        &mut state,
        &grow(vec![PartitionAssignment::new(vec![3, 1])]),
    )
    .unwrap();
    assert_eq!(state.topics["placed"].assignment(2).unwrap().leader, 3);
}

#[test]
fn fencing_moves_leaders_within_the_isr_and_isr_changes_need_the_current_epochs() {
    let mut state = ClusterState::default();
    for id in [1, 2, 3] {
        apply(&mut state, &Command::RegisterBroker(broker(id))).unwrap();
    }
    let mut record = topic("orders", 1);
    record.partitions = 2;
    record.replication_factor = 3;
    record.assignments = vec![
        PartitionAssignment::new(vec![1, 2, 3]),
        PartitionAssignment::new(vec![2, 3, 1]),
    ];
    apply(&mut state, &Command::CreateTopic(record)).unwrap();
    let change = apply(
        &mut state,
        &Command::FenceBroker {
            id: 1,
            unclean: false,
        },
    )
    .unwrap();
    let Change::BrokerFenced { partitions, .. } = change else {
        panic!("{change:?}")
    };
    assert_eq!(partitions.len(), 2, "both ISRs lose broker 1");
    let first = &state.topics["orders"].assignments[0];
    assert_eq!(
        (first.leader, first.leader_epoch, first.isr.clone()),
        (2, 1, vec![2, 3])
    );
    let second = &state.topics["orders"].assignments[1];
    assert_eq!((second.leader, second.leader_epoch), (2, 0));
    assert!(state.brokers[&1].fenced);
    // The new leader may not bring a fenced broker back into the ISR...
    let alter = |isr: Vec<i32>, partition_epoch| Command::AlterPartition {
        topic: "orders".into(),
        partition: 0,
        leader: 2,
        leader_epoch: 1,
        partition_epoch,
        isr,
    };
    assert!(matches!(
        refused(&state, alter(vec![1, 2, 3], 1)),
        CommandError::AlterPartition(AlterIsrError::Ineligible(1))
    ));
    // ... until it is unfenced; and a change must name the current partition epoch.
    apply(
        &mut state,
        &Command::UnfenceBroker {
            id: 1,
            unclean: false,
        },
    )
    .unwrap();
    assert!(matches!(
        refused(&state, alter(vec![1, 2, 3], 0)),
        CommandError::AlterPartition(AlterIsrError::InvalidUpdateVersion { .. })
    ));
    let change = apply(&mut state, &alter(vec![1, 2, 3], 1)).unwrap();
    assert!(matches!(change, Change::PartitionChanged(p) if p.assignment.isr == [1, 2, 3]));
    assert!(matches!(
        refused(
            &state,
            Command::FenceBroker {
                id: 9,
                unclean: false
            }
        ),
        CommandError::UnknownBroker(9)
    ));
}
