//! KIP-848 records byte for byte, against bytes assembled by hand from Kafka's
//! `ConsumerGroup*Key` and `ConsumerGroup*Value` schemas.

use super::*;
use crate::group::offsets::{OffsetRecord, read_batches, read_record};

const TOPIC: Uuid = Uuid::from_u128(0x0011_2233_4455_6677_8899_aabb_ccdd_eeff);

fn topic_bytes() -> [u8; 16] {
    [
        0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee,
        0xff,
    ]
}

fn group_key() -> ConsumerGroupKey {
    ConsumerGroupKey::GroupMetadata { group: "g".into() }
}

fn member_key() -> ConsumerGroupKey {
    ConsumerGroupKey::MemberMetadata {
        group: "g".into(),
        member: "m".into(),
    }
}

fn member() -> MemberMetadata {
    MemberMetadata {
        instance_id: None,
        rack_id: Some("r".into()),
        client_id: "c".into(),
        client_host: "/h".into(),
        subscribed_topic_names: vec!["t".into()],
        subscribed_topic_regex: None,
        rebalance_timeout_ms: 300_000,
        server_assignor: Some("uniform".into()),
        classic_member_metadata: None,
    }
}

/// `member()` at value version 0.
fn member_v0() -> Vec<u8> {
    let mut v: Vec<u8> = vec![0, 0];
    v.push(0); // null instance id
    v.extend_from_slice(&[2, b'r']); // rack
    v.extend_from_slice(&[2, b'c']); // client id
    v.extend_from_slice(&[3, b'/', b'h']); // client host
    v.extend_from_slice(&[2, 2, b't']); // one subscribed topic
    v.push(0); // null regex
    v.extend_from_slice(&[0, 0x04, 0x93, 0xe0]); // rebalance timeout 300000
    v.extend_from_slice(&[8]);
    v.extend_from_slice(b"uniform");
    v.push(0); // no tagged fields
    v
}

fn current_assignment() -> CurrentMemberAssignment {
    CurrentMemberAssignment {
        member_epoch: 4,
        previous_member_epoch: 3,
        state: 1,
        assigned_partitions: vec![AssignedPartitions {
            topic_id: TOPIC,
            partitions: vec![0],
            assignment_epochs: Some(vec![4]),
        }],
        partitions_pending_revocation: vec![AssignedPartitions {
            topic_id: TOPIC,
            partitions: vec![1],
            assignment_epochs: None,
        }],
    }
}

fn current_assignment_v0() -> Vec<u8> {
    let mut v: Vec<u8> = vec![0, 0, 0, 0, 0, 4, 0, 0, 0, 3, 1];
    v.push(2); // one assigned topic
    v.extend_from_slice(&topic_bytes());
    v.extend_from_slice(&[2, 0, 0, 0, 0]); // partitions [0]
    v.extend_from_slice(&[1, 0, 5, 2, 0, 0, 0, 4]); // tag 0, 5 bytes: epochs [4]
    v.push(2); // one topic pending revocation
    v.extend_from_slice(&topic_bytes());
    v.extend_from_slice(&[2, 0, 0, 0, 1]); // partitions [1]
    v.push(0); // its tagged fields: none
    v.push(0); // the value's tagged fields
    v
}

/// One record of every type with its value's bytes at version 0.
fn samples() -> Vec<(ConsumerGroupKey, ConsumerGroupValue, Vec<u8>)> {
    let mut group = vec![0, 0, 0, 0, 0, 5, 2, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8];
    group.extend_from_slice(&[1, 8, 0, 0, 0, 0, 0, 0, 0x03, 0xe8]);

    let mut partitions = vec![0, 0, 2];
    partitions.extend_from_slice(&topic_bytes());
    partitions.extend_from_slice(&[2, b't', 0, 0, 0, 2]); // name, partition count
    partitions.extend_from_slice(&[2, 0, 0, 0, 0, 2, 3, b'r', b'1', 0]); // p0 in rack r1
    partitions.extend_from_slice(&[0, 0]); // topic and value tagged fields

    let mut target = vec![0, 0, 2];
    target.extend_from_slice(&topic_bytes());
    target.extend_from_slice(&[3, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0]);

    let mut regex = vec![0, 0, 2, 2, b't', 0, 0, 0, 0, 0, 0, 0, 9];
    regex.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0x03, 0xe8, 0]);

    let g = || "g".to_owned();
    let m = || "m".to_owned();
    vec![
        (
            group_key(),
            ConsumerGroupValue::GroupMetadata(GroupMetadata {
                epoch: 5,
                metadata_hash: 0x0102_0304_0506_0708,
                creation_time_ms: 1_000,
            }),
            group,
        ),
        (
            ConsumerGroupKey::PartitionMetadata { group: g() },
            ConsumerGroupValue::PartitionMetadata(PartitionMetadata {
                topics: vec![TopicMetadata {
                    topic_id: TOPIC,
                    topic_name: "t".into(),
                    num_partitions: 2,
                    partition_racks: vec![PartitionRacks {
                        partition: 0,
                        racks: vec!["r1".into()],
                    }],
                }],
            }),
            partitions,
        ),
        (
            member_key(),
            ConsumerGroupValue::MemberMetadata(member()),
            member_v0(),
        ),
        (
            ConsumerGroupKey::TargetAssignmentMetadata { group: g() },
            ConsumerGroupValue::TargetAssignmentMetadata(TargetAssignmentMetadata {
                assignment_epoch: 7,
                assignment_timestamp: 1_000,
            }),
            vec![0, 0, 0, 0, 0, 7, 1, 0, 8, 0, 0, 0, 0, 0, 0, 0x03, 0xe8],
        ),
        (
            ConsumerGroupKey::TargetAssignmentMember {
                group: g(),
                member: m(),
            },
            ConsumerGroupValue::TargetAssignmentMember(TargetAssignmentMember {
                topic_partitions: vec![TopicPartitions {
                    topic_id: TOPIC,
                    partitions: vec![0, 2],
                }],
            }),
            target,
        ),
        (
            ConsumerGroupKey::CurrentMemberAssignment {
                group: g(),
                member: m(),
            },
            ConsumerGroupValue::CurrentMemberAssignment(current_assignment()),
            current_assignment_v0(),
        ),
        (
            ConsumerGroupKey::RegularExpression {
                group: g(),
                regex: "t.*".into(),
            },
            ConsumerGroupValue::RegularExpression(RegularExpression {
                topics: vec!["t".into()],
                version: 9,
                timestamp: 1_000,
            }),
            regex,
        ),
    ]
}

#[test]
fn every_key_is_its_record_type_then_the_group_and_its_sub_key() {
    let expected: Vec<Vec<u8>> = vec![
        vec![0, 3, 0, 1, b'g'],
        vec![0, 4, 0, 1, b'g'],
        vec![0, 5, 0, 1, b'g', 0, 1, b'm'],
        vec![0, 6, 0, 1, b'g'],
        vec![0, 7, 0, 1, b'g', 0, 1, b'm'],
        vec![0, 8, 0, 1, b'g', 0, 1, b'm'],
        vec![0, 16, 0, 1, b'g', 0, 3, b't', b'.', b'*'],
    ];
    let samples = samples();
    assert_eq!(samples.len(), expected.len());
    for ((key, _, _), bytes) in samples.iter().zip(expected) {
        assert_eq!(key.encode(), bytes, "{key:?}");
        assert_eq!(ConsumerGroupKey::decode(&bytes), Ok(Some(key.clone())));
        assert_eq!(key.group(), "g");
    }
}

#[test]
fn every_value_is_written_as_kafkas_version_0_and_reads_back() {
    for (key, value, bytes) in samples() {
        assert_eq!(value.encode(), bytes, "{key:?}");
        assert_eq!(
            ConsumerGroupValue::decode(&key, &bytes),
            Ok(value),
            "{key:?}"
        );
    }
}

#[test]
fn tagged_fields_at_their_defaults_are_not_written_as_kafka_4_0_wrote_them() {
    let group = ConsumerGroupValue::GroupMetadata(GroupMetadata {
        epoch: 5,
        metadata_hash: 0,
        creation_time_ms: -1,
    });
    assert_eq!(group.encode(), vec![0, 0, 0, 0, 0, 5, 0]);
    assert_eq!(
        ConsumerGroupValue::decode(&group_key(), &[0, 0, 0, 0, 0, 5, 0]),
        Ok(group)
    );
    let target = ConsumerGroupValue::TargetAssignmentMetadata(TargetAssignmentMetadata {
        assignment_epoch: 7,
        assignment_timestamp: 0,
    });
    let key = ConsumerGroupKey::TargetAssignmentMetadata { group: "g".into() };
    assert_eq!(target.encode(), vec![0, 0, 0, 0, 0, 7, 0]);
    assert_eq!(
        ConsumerGroupValue::decode(&key, &[0, 0, 0, 0, 0, 7, 0]),
        Ok(target)
    );
    // A current assignment without assignment epochs, as before KIP-1251.
    let mut bare = current_assignment();
    bare.assigned_partitions[0].assignment_epochs = None;
    let mut v = current_assignment_v0();
    let at = 2 + 4 + 4 + 1 + 1 + 16 + 5;
    v.splice(at..at + 8, [0]);
    let key = ConsumerGroupKey::CurrentMemberAssignment {
        group: "g".into(),
        member: "m".into(),
    };
    assert_eq!(
        ConsumerGroupValue::CurrentMemberAssignment(bare.clone()).encode(),
        v
    );
    assert_eq!(
        ConsumerGroupValue::decode(&key, &v),
        Ok(ConsumerGroupValue::CurrentMemberAssignment(bare))
    );
}

#[test]
fn a_classic_member_carries_its_protocols_in_tagged_field_0_as_a_nullable_struct() {
    let mut classic = member();
    classic.instance_id = Some("i".into());
    classic.classic_member_metadata = Some(ClassicMemberMetadata {
        session_timeout_ms: 45_000,
        supported_protocols: vec![ClassicProtocol {
            name: "range".into(),
            metadata: vec![1, 2],
        }],
    });
    let mut v = member_v0();
    v.splice(2..3, [2, b'i']);
    v.pop(); // the empty tagged-field section
    v.extend_from_slice(&[1, 0, 17]); // one field, tag 0, 17 bytes
    v.extend_from_slice(&[1, 0, 0, 0xaf, 0xc8]); // present; session timeout 45000
    v.extend_from_slice(&[2, 6]); // one protocol, its name
    v.extend_from_slice(b"range");
    v.extend_from_slice(&[3, 1, 2, 0, 0]); // metadata, protocol and struct tagged fields
    let value = ConsumerGroupValue::MemberMetadata(classic);
    assert_eq!(value.encode(), v);
    assert_eq!(ConsumerGroupValue::decode(&member_key(), &v), Ok(value));

    // A null struct written into the tagged field reads as no classic metadata.
    let mut null_struct = member_v0();
    null_struct.pop();
    null_struct.extend_from_slice(&[1, 0, 1, 0]);
    assert_eq!(
        ConsumerGroupValue::decode(&member_key(), &null_struct),
        Ok(ConsumerGroupValue::MemberMetadata(member()))
    );
}

#[test]
fn unknown_tagged_fields_are_skipped_at_every_level() {
    let group = [0, 0, 0, 0, 0, 5, 1, 9, 2, 0xaa, 0xbb];
    assert_eq!(
        ConsumerGroupValue::decode(&group_key(), &group),
        Ok(ConsumerGroupValue::GroupMetadata(GroupMetadata {
            epoch: 5,
            metadata_hash: 0,
            creation_time_ms: -1,
        }))
    );
    let (key, value, mut bytes) = samples().swap_remove(4);
    // The topic's tagged fields (second to last byte): one unknown field of one byte.
    let at = bytes.len() - 2;
    bytes.splice(at..at + 1, [1, 3, 1, 0x7f]);
    assert_eq!(ConsumerGroupValue::decode(&key, &bytes), Ok(value));
}

#[test]
fn a_cut_at_every_byte_position_is_an_error() {
    for (key, value, bytes) in samples() {
        let key_bytes = key.encode();
        for cut in 0..key_bytes.len() {
            assert!(
                ConsumerGroupKey::decode(&key_bytes[..cut]).is_err(),
                "{key:?} cut at {cut}"
            );
        }
        for cut in 0..bytes.len() {
            assert!(
                ConsumerGroupRecord::read(&key_bytes, Some(&bytes[..cut])).is_err(),
                "{value:?} cut at {cut}"
            );
        }
    }
}

#[test]
fn damaged_values_and_keys_are_errors_not_panics() {
    let key = group_key();
    let bad: Vec<(&str, Vec<u8>)> = vec![
        ("version 1", vec![0, 1, 0, 0, 0, 5, 0]),
        ("version -1", vec![0xff, 0xff, 0, 0, 0, 5, 0]),
        ("a byte after the end", vec![0, 0, 0, 0, 0, 5, 0, 0]),
        (
            "a hash of 4 bytes",
            vec![0, 0, 0, 0, 0, 5, 1, 0, 4, 0, 0, 0, 1],
        ),
        ("a field past the end", vec![0, 0, 0, 0, 0, 5, 1, 7, 0x7f]),
        (
            "a 6-byte varint",
            vec![0, 0, 0, 0, 0, 5, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
        ),
    ];
    for (what, bytes) in bad {
        assert!(ConsumerGroupValue::decode(&key, &bytes).is_err(), "{what}");
    }
    let member = member_v0();
    let mut null_client = member.clone();
    null_client[5] = 0; // the client id's length: null
    assert!(ConsumerGroupValue::decode(&member_key(), &null_client).is_err());
    let mut not_utf8 = member.clone();
    not_utf8[6] = 0xff;
    assert!(ConsumerGroupValue::decode(&member_key(), &not_utf8).is_err());
    let huge_array = [0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f, 0];
    let target = ConsumerGroupKey::TargetAssignmentMember {
        group: "g".into(),
        member: "m".into(),
    };
    assert!(ConsumerGroupValue::decode(&target, &huge_array).is_err());
    let null_array = [0, 0, 0, 0];
    assert!(ConsumerGroupValue::decode(&target, &null_array).is_err());

    assert!(
        ConsumerGroupKey::decode(&[0, 3, 0xff, 0xff]).is_err(),
        "null group"
    );
    assert!(
        ConsumerGroupKey::decode(&[0, 3, 0, 1, 0xff]).is_err(),
        "not UTF-8"
    );
    assert!(
        ConsumerGroupKey::decode(&[0, 3, 0, 1, b'g', 0]).is_err(),
        "trailing byte"
    );
}

#[test]
fn keys_of_other_record_types_are_not_consumer_group_records() {
    for record_type in [0i16, 1, 2, 9, 10, 11, 12, 13, 14, 15, 17, 20, -1] {
        let mut key = record_type.to_be_bytes().to_vec();
        key.extend_from_slice(&[0, 1, b'g', 0, 1, b't', 0, 0, 0, 0]);
        assert_eq!(
            ConsumerGroupRecord::read(&key, Some(&[0, 0])),
            Ok(None),
            "type {record_type}"
        );
    }
    assert!(ConsumerGroupRecord::read(&[0], None).is_err());
}

#[test]
fn a_batch_of_every_record_type_and_a_tombstone_reads_back_through_the_loader() {
    let mut records: Vec<ConsumerGroupRecord> = samples()
        .into_iter()
        .map(|(key, value, _)| ConsumerGroupRecord {
            key,
            value: Some(value),
        })
        .collect();
    records.push(ConsumerGroupRecord {
        key: member_key(),
        value: None,
    });
    let stored = read_batches(&record_batch(&records, 1_000), 1 << 20);
    assert!(stored.skipped.is_empty(), "{:?}", stored.skipped);
    assert_eq!(stored.next_offset, Some(records.len() as i64));
    let read: Vec<_> = stored
        .key_values()
        .iter()
        .map(|(k, v)| read_record(k, v.as_deref()))
        .collect();
    let expected: Vec<_> = records
        .into_iter()
        .map(|r| Ok(Some(OffsetRecord::ConsumerGroup(r))))
        .collect();
    assert_eq!(read, expected);
}

mod properties {
    use proptest::collection::vec;
    use proptest::option::of;
    use proptest::prelude::*;

    use super::*;

    fn text() -> impl Strategy<Value = String> {
        "\\PC{0,8}"
    }

    fn topic_id() -> impl Strategy<Value = Uuid> {
        any::<u128>().prop_map(Uuid::from_u128)
    }

    fn partitions() -> impl Strategy<Value = Vec<i32>> {
        vec(any::<i32>(), 0..4)
    }

    fn assigned() -> impl Strategy<Value = Vec<AssignedPartitions>> {
        vec(
            (topic_id(), partitions(), of(partitions())).prop_map(
                |(topic_id, partitions, assignment_epochs)| AssignedPartitions {
                    topic_id,
                    partitions,
                    assignment_epochs,
                },
            ),
            0..3,
        )
    }

    fn member() -> impl Strategy<Value = MemberMetadata> {
        let classic = (any::<i32>(), vec((text(), vec(any::<u8>(), 0..6)), 0..3)).prop_map(
            |(session_timeout_ms, protocols)| ClassicMemberMetadata {
                session_timeout_ms,
                supported_protocols: protocols
                    .into_iter()
                    .map(|(name, metadata)| ClassicProtocol { name, metadata })
                    .collect(),
            },
        );
        (
            (of(text()), of(text()), text(), text()),
            (vec(text(), 0..3), of(text()), any::<i32>(), of(text())),
            of(classic),
        )
            .prop_map(
                |((instance_id, rack_id, client_id, client_host), rest, classic)| {
                    let (subscribed_topic_names, subscribed_topic_regex, timeout, assignor) = rest;
                    MemberMetadata {
                        instance_id,
                        rack_id,
                        client_id,
                        client_host,
                        subscribed_topic_names,
                        subscribed_topic_regex,
                        rebalance_timeout_ms: timeout,
                        server_assignor: assignor,
                        classic_member_metadata: classic,
                    }
                },
            )
    }

    fn record() -> impl Strategy<Value = ConsumerGroupRecord> {
        let group = text();
        let sub = text();
        let topic = (
            topic_id(),
            text(),
            any::<i32>(),
            vec((any::<i32>(), vec(text(), 0..3)), 0..3),
        )
            .prop_map(
                |(topic_id, topic_name, num_partitions, racks)| TopicMetadata {
                    topic_id,
                    topic_name,
                    num_partitions,
                    partition_racks: racks
                        .into_iter()
                        .map(|(partition, racks)| PartitionRacks { partition, racks })
                        .collect(),
                },
            );
        let value = prop_oneof![
            (any::<i32>(), any::<i64>(), any::<i64>()).prop_map(|(epoch, hash, created)| {
                ConsumerGroupValue::GroupMetadata(GroupMetadata {
                    epoch,
                    metadata_hash: hash,
                    creation_time_ms: created,
                })
            }),
            vec(topic, 0..3).prop_map(|topics| {
                ConsumerGroupValue::PartitionMetadata(PartitionMetadata { topics })
            }),
            member().prop_map(ConsumerGroupValue::MemberMetadata),
            (any::<i32>(), any::<i64>()).prop_map(|(epoch, at)| {
                ConsumerGroupValue::TargetAssignmentMetadata(TargetAssignmentMetadata {
                    assignment_epoch: epoch,
                    assignment_timestamp: at,
                })
            }),
            vec((topic_id(), partitions()), 0..3).prop_map(|topics| {
                ConsumerGroupValue::TargetAssignmentMember(TargetAssignmentMember {
                    topic_partitions: topics
                        .into_iter()
                        .map(|(topic_id, partitions)| TopicPartitions {
                            topic_id,
                            partitions,
                        })
                        .collect(),
                })
            }),
            (
                any::<i32>(),
                any::<i32>(),
                any::<i8>(),
                assigned(),
                assigned()
            )
                .prop_map(
                    |(member_epoch, previous_member_epoch, state, assigned, pending)| {
                        ConsumerGroupValue::CurrentMemberAssignment(CurrentMemberAssignment {
                            member_epoch,
                            previous_member_epoch,
                            state,
                            assigned_partitions: assigned,
                            partitions_pending_revocation: pending,
                        })
                    }
                ),
            (vec(text(), 0..3), any::<i64>(), any::<i64>()).prop_map(
                |(topics, version, timestamp)| {
                    ConsumerGroupValue::RegularExpression(RegularExpression {
                        topics,
                        version,
                        timestamp,
                    })
                }
            ),
        ];
        (group, sub, of(value), 0..7usize).prop_map(|(group, sub, value, tombstone_type)| {
            let key_of = |value: &ConsumerGroupValue| match value {
                ConsumerGroupValue::GroupMetadata(_) => ConsumerGroupKey::GroupMetadata { group },
                ConsumerGroupValue::PartitionMetadata(_) => {
                    ConsumerGroupKey::PartitionMetadata { group }
                }
                ConsumerGroupValue::MemberMetadata(_) => {
                    ConsumerGroupKey::MemberMetadata { group, member: sub }
                }
                ConsumerGroupValue::TargetAssignmentMetadata(_) => {
                    ConsumerGroupKey::TargetAssignmentMetadata { group }
                }
                ConsumerGroupValue::TargetAssignmentMember(_) => {
                    ConsumerGroupKey::TargetAssignmentMember { group, member: sub }
                }
                ConsumerGroupValue::CurrentMemberAssignment(_) => {
                    ConsumerGroupKey::CurrentMemberAssignment { group, member: sub }
                }
                ConsumerGroupValue::RegularExpression(_) => {
                    ConsumerGroupKey::RegularExpression { group, regex: sub }
                }
            };
            let key = match &value {
                Some(value) => key_of(value),
                None => samples().swap_remove(tombstone_type).0,
            };
            ConsumerGroupRecord { key, value }
        })
    }

    proptest! {
        #[test]
        fn every_record_reads_back_as_written(record in record()) {
            let (key, value) = record.encode();
            prop_assert_eq!(ConsumerGroupRecord::read(&key, value.as_deref()), Ok(Some(record)));
        }

        #[test]
        fn any_bytes_after_a_valid_key_are_read_or_refused_without_panicking(
            record_type in 0usize..7, bytes in vec(any::<u8>(), 0..64)
        ) {
            let key = samples().swap_remove(record_type).0.encode();
            let _ = ConsumerGroupRecord::read(&key, Some(&bytes));
        }

        #[test]
        fn a_flipped_byte_in_a_value_is_read_or_refused_without_panicking(
            sample in 0usize..7, at in any::<prop::sample::Index>(), xor in 1u8..=255
        ) {
            let (key, _, mut value) = samples().swap_remove(sample);
            let at = at.index(value.len());
            value[at] ^= xor;
            let _ = ConsumerGroupRecord::read(&key.encode(), Some(&value));
        }
    }
}
