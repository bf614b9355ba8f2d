//! Group metadata records byte for byte, against bytes assembled by hand from Kafka's
//! `GroupMetadataKey` and `GroupMetadataValue` schemas.

use super::*;
use crate::group::offsets::{OffsetRecord, read_batches, read_record};

fn stable_group() -> GroupMetadata {
    GroupMetadata {
        protocol_type: "consumer".into(),
        generation: 5,
        protocol: Some("range".into()),
        leader: Some("m1".into()),
        current_state_timestamp: 1_000,
        members: vec![StoredMember {
            member_id: "m1".into(),
            group_instance_id: None,
            client_id: "c".into(),
            client_host: "/127.0.0.1".into(),
            rebalance_timeout_ms: 300_000,
            session_timeout_ms: 45_000,
            subscription: Bytes::from_static(&[1, 2]),
            assignment: Bytes::from_static(&[3]),
        }],
    }
}

/// `stable_group()` as Kafka writes it at version 3.
fn stable_group_v3() -> Vec<u8> {
    let mut v: Vec<u8> = vec![0, 3];
    v.extend_from_slice(&[0, 8]);
    v.extend_from_slice(b"consumer");
    v.extend_from_slice(&[0, 0, 0, 5]);
    v.extend_from_slice(&[0, 5]);
    v.extend_from_slice(b"range");
    v.extend_from_slice(&[0, 2]);
    v.extend_from_slice(b"m1");
    v.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0x03, 0xe8]); // current state timestamp
    v.extend_from_slice(&[0, 0, 0, 1]); // one member
    v.extend_from_slice(&[0, 2]);
    v.extend_from_slice(b"m1");
    v.extend_from_slice(&[0xff, 0xff]); // no group instance id
    v.extend_from_slice(&[0, 1]);
    v.extend_from_slice(b"c");
    v.extend_from_slice(&[0, 10]);
    v.extend_from_slice(b"/127.0.0.1");
    v.extend_from_slice(&[0, 0x04, 0x93, 0xe0]); // rebalance timeout 300000
    v.extend_from_slice(&[0, 0, 0xaf, 0xc8]); // session timeout 45000
    v.extend_from_slice(&[0, 0, 0, 2, 1, 2]); // subscription
    v.extend_from_slice(&[0, 0, 0, 1, 3]); // assignment
    v
}

#[test]
fn the_key_is_version_2_and_the_group_id() {
    assert_eq!(group_key("g"), vec![0, 2, 0, 1, b'g']);
}

#[test]
fn a_stable_group_is_written_as_kafkas_version_3_value() {
    assert_eq!(group_value(&stable_group()), stable_group_v3());
    assert_eq!(read_group_value(&stable_group_v3()), Ok(stable_group()));
}

#[test]
fn an_empty_group_is_written_with_null_protocol_and_leader_and_no_members() {
    let empty = GroupMetadata {
        protocol_type: "consumer".into(),
        generation: 6,
        protocol: None,
        leader: None,
        current_state_timestamp: 2,
        members: Vec::new(),
    };
    let mut expected: Vec<u8> = vec![0, 3, 0, 8];
    expected.extend_from_slice(b"consumer");
    expected.extend_from_slice(&[0, 0, 0, 6, 0xff, 0xff, 0xff, 0xff]);
    expected.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0]);
    assert_eq!(group_value(&empty), expected);
    assert_eq!(read_group_value(&expected), Ok(empty));
}

#[test]
fn a_static_members_instance_id_follows_its_member_id() {
    let mut group = stable_group();
    group.members[0].group_instance_id = Some("i".into());
    let value = group_value(&group);
    let at = stable_group_v3()
        .windows(2)
        .position(|w| w == [0xff, 0xff])
        .unwrap();
    assert_eq!(&value[at..at + 3], &[0, 1, b'i']);
    assert_eq!(read_group_value(&value), Ok(group));
}

#[test]
fn version_0_values_read_with_the_session_timeout_as_rebalance_timeout() {
    let mut v: Vec<u8> = vec![0, 0, 0, 8];
    v.extend_from_slice(b"consumer");
    v.extend_from_slice(&[0, 0, 0, 5, 0, 5]);
    v.extend_from_slice(b"range");
    v.extend_from_slice(&[0, 2]);
    v.extend_from_slice(b"m1");
    v.extend_from_slice(&[0, 0, 0, 1, 0, 2]);
    v.extend_from_slice(b"m1");
    v.extend_from_slice(&[0, 1, b'c', 0, 10]);
    v.extend_from_slice(b"/127.0.0.1");
    v.extend_from_slice(&[0, 0, 0xaf, 0xc8, 0, 0, 0, 2, 1, 2, 0, 0, 0, 1, 3]);
    let mut expected = stable_group();
    expected.current_state_timestamp = -1;
    expected.members[0].rebalance_timeout_ms = 45_000;
    assert_eq!(read_group_value(&v), Ok(expected));
}

#[test]
fn version_1_and_2_values_add_the_rebalance_timeout_then_the_state_timestamp() {
    // Version 2 is version 3 without the group instance id.
    let v3 = stable_group_v3();
    let at = v3.windows(2).position(|w| w == [0xff, 0xff]).unwrap();
    let mut v2 = v3.clone();
    v2.drain(at..at + 2);
    v2[1] = 2;
    assert_eq!(read_group_value(&v2), Ok(stable_group()));
    // Version 1 is version 2 without the timestamp (8 bytes after the leader).
    let mut v1 = v2.clone();
    let timestamp_at = 2 + 10 + 4 + 7 + 4;
    v1.drain(timestamp_at..timestamp_at + 8);
    v1[1] = 1;
    let mut expected = stable_group();
    expected.current_state_timestamp = -1;
    assert_eq!(read_group_value(&v1), Ok(expected));
}

#[test]
fn version_4_values_read_with_compact_fields_and_tagged_fields_skipped() {
    let mut v: Vec<u8> = vec![0, 4, 9];
    v.extend_from_slice(b"consumer");
    v.extend_from_slice(&[0, 0, 0, 5, 6]);
    v.extend_from_slice(b"range");
    v.extend_from_slice(&[0]); // null leader
    v.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0x03, 0xe8]);
    v.extend_from_slice(&[2, 3]); // one member; its id
    v.extend_from_slice(b"m1");
    v.extend_from_slice(&[2, b'i', 2, b'c', 11]);
    v.extend_from_slice(b"/127.0.0.1");
    v.extend_from_slice(&[0, 0x04, 0x93, 0xe0, 0, 0, 0xaf, 0xc8]);
    v.extend_from_slice(&[3, 1, 2, 2, 3]); // subscription, assignment
    v.extend_from_slice(&[0]); // the member's tagged fields
    v.extend_from_slice(&[1, 5, 2, 0xaa, 0xbb]); // one unknown tagged field
    let mut expected = stable_group();
    expected.leader = None;
    expected.members[0].group_instance_id = Some("i".into());
    assert_eq!(read_group_value(&v), Ok(expected));
}

#[test]
fn damaged_values_are_errors_not_panics() {
    let value = stable_group_v3();
    for cut in 0..value.len() {
        assert!(
            read_group_value(&value[..cut]).is_err(),
            "a value cut at {cut} bytes"
        );
    }
    assert!(read_group_value(&[0, 9]).is_err(), "an unknown version");
    assert!(read_group_value(&[0, 4, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]).is_err());
    let mut huge_array = vec![0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff];
    huge_array.extend_from_slice(&[0x7f, 0xff, 0xff, 0xff]);
    assert!(read_group_value(&huge_array).is_err());
}

#[test]
fn a_group_batch_reads_back_as_the_group_and_a_tombstone_as_none() {
    let mut bytes = group_batch("g", Some(&stable_group()), 1_000);
    let mut tombstone = group_batch("g", None, 1_000);
    tombstone[..8].copy_from_slice(&1i64.to_be_bytes());
    bytes.extend_from_slice(&tombstone);
    let stored = read_batches(&bytes, 1 << 20);
    assert!(stored.skipped.is_empty());
    let read: Vec<_> = stored
        .key_values()
        .iter()
        .map(|(k, v)| read_record(k, v.as_deref()).unwrap().unwrap())
        .collect();
    assert_eq!(
        read,
        vec![
            OffsetRecord::GroupMetadata {
                group: "g".into(),
                value: Some(stable_group()),
            },
            OffsetRecord::GroupMetadata {
                group: "g".into(),
                value: None,
            },
        ]
    );
}
