//! `__transaction_state` records byte for byte, against bytes assembled by hand from Kafka's
//! `TransactionLogKey` and `TransactionLogValue` schemas.

use super::*;
use crate::txn::{TopicPartition, TransactionVersion, TxnMetadata};

fn ongoing() -> TransactionLogValue {
    TransactionLogValue {
        producer_id: 1000,
        previous_producer_id: 1000,
        next_producer_id: NO_PRODUCER_ID,
        producer_epoch: 5,
        next_producer_epoch: NO_PRODUCER_EPOCH,
        transaction_timeout_ms: 60_000,
        state: TxnState::Ongoing,
        partitions: Some(vec![TopicPartitions {
            topic: "t".into(),
            partitions: vec![0, 2],
        }]),
        last_update_timestamp_ms: 2000,
        start_timestamp_ms: 1500,
        client_transaction_version: 2,
    }
}

fn fixed_head(version: u8) -> Vec<u8> {
    let mut v = vec![0, version];
    v.extend_from_slice(&1000i64.to_be_bytes()); // producer id
    v.extend_from_slice(&[0, 5]); // epoch
    v.extend_from_slice(&[0, 0, 0xea, 0x60]); // timeout 60000
    v.push(1); // Ongoing
    v
}

fn timestamps(v: &mut Vec<u8>) {
    v.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0x07, 0xd0]); // last update 2000
    v.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0x05, 0xdc]); // start 1500
}

/// `ongoing()` at value version 1.
fn ongoing_v1() -> Vec<u8> {
    let mut v = fixed_head(1);
    v.push(2); // one topic
    v.extend_from_slice(&[2, b't']);
    v.push(3); // two partitions
    v.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 2]);
    v.push(0); // no tags on the topic
    timestamps(&mut v);
    v.push(2); // two tagged fields
    v.extend_from_slice(&[0, 8]); // tag 0, 8 bytes: previous producer id
    v.extend_from_slice(&1000i64.to_be_bytes());
    v.extend_from_slice(&[2, 2, 0, 2]); // tag 2, 2 bytes: client transaction version 2
    v
}

/// `ongoing()` at value version 0 (no tagged fields).
fn ongoing_v0() -> Vec<u8> {
    let mut v = fixed_head(0);
    v.extend_from_slice(&[0, 0, 0, 1]); // one topic
    v.extend_from_slice(&[0, 1, b't']);
    v.extend_from_slice(&[0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 2]);
    timestamps(&mut v);
    v
}

#[test]
fn the_key_is_version_0_then_the_transactional_id() {
    let key = encode_key("txn-1");
    assert_eq!(key, [0, 0, 0, 5, b't', b'x', b'n', b'-', b'1']);
    assert_eq!(decode_key(&key).unwrap(), Some("txn-1".into()));
}

#[test]
fn a_key_of_another_version_is_not_ours() {
    assert_eq!(decode_key(&[0, 1, 0, 1, b'x']).unwrap(), None);
    assert_eq!(decode_record(&[0, 3, 0, 0], Some(&[1])).unwrap(), None);
}

#[test]
fn a_key_with_bytes_after_the_id_is_an_error() {
    assert!(decode_key(&[0, 0, 0, 1, b'x', 9]).is_err());
}

#[test]
fn value_version_1_matches_the_schema() {
    assert_eq!(ongoing().encode(1), ongoing_v1());
    assert_eq!(
        TransactionLogValue::decode(&ongoing_v1()).unwrap(),
        (1, ongoing())
    );
}

#[test]
fn value_version_0_matches_the_schema_and_has_no_tagged_fields() {
    assert_eq!(ongoing().encode(0), ongoing_v0());
    let (version, decoded) = TransactionLogValue::decode(&ongoing_v0()).unwrap();
    assert_eq!(version, 0);
    let expected = TransactionLogValue {
        previous_producer_id: NO_PRODUCER_ID,
        client_transaction_version: 0,
        ..ongoing()
    };
    assert_eq!(decoded, expected);
}

#[test]
fn fields_at_their_defaults_are_not_tagged() {
    let value = TransactionLogValue {
        previous_producer_id: NO_PRODUCER_ID,
        client_transaction_version: 0,
        ..ongoing()
    };
    let bytes = value.encode(1);
    assert_eq!(bytes.last(), Some(&0), "an empty tagged-field section");
    assert_eq!(bytes.len(), ongoing_v1().len() - 14);
}

#[test]
fn next_producer_id_and_epoch_are_tags_1_and_3() {
    let value = TransactionLogValue {
        previous_producer_id: NO_PRODUCER_ID,
        client_transaction_version: 0,
        next_producer_id: 7,
        next_producer_epoch: 3,
        ..ongoing()
    };
    let bytes = value.encode(1);
    let mut tail = vec![2, 1, 8];
    tail.extend_from_slice(&7i64.to_be_bytes());
    tail.extend_from_slice(&[3, 2, 0, 3]);
    assert!(bytes.ends_with(&tail), "{bytes:?}");
    assert_eq!(TransactionLogValue::decode(&bytes).unwrap().1, value);
}

#[test]
fn the_empty_state_writes_null_partitions() {
    let empty = TransactionLogValue {
        state: TxnState::Empty,
        partitions: None,
        ..ongoing()
    };
    let v1 = empty.encode(1);
    assert_eq!(v1[17], 0, "compact null array");
    let v0 = empty.encode(0);
    assert_eq!(v0[17..21], [0xff, 0xff, 0xff, 0xff], "classic null array");
    assert_eq!(TransactionLogValue::decode(&v0).unwrap().1.partitions, None);
}

#[test]
fn an_unknown_tag_is_skipped() {
    let mut bytes = ongoing_v1();
    let tags = bytes.len() - 15;
    bytes[tags] = 3;
    bytes.extend_from_slice(&[9, 1, 0xaa]); // tag 9, one byte
    assert_eq!(TransactionLogValue::decode(&bytes).unwrap().1, ongoing());
}

#[test]
fn an_unknown_value_version_is_an_error() {
    let mut bytes = ongoing_v1();
    bytes[1] = 2;
    let error = TransactionLogValue::decode(&bytes).unwrap_err();
    assert!(
        error.to_string().contains("unknown value version 2"),
        "{error}"
    );
}

#[test]
fn an_unknown_status_is_an_error() {
    let mut bytes = ongoing_v1();
    bytes[16] = 8;
    assert!(TransactionLogValue::decode(&bytes).is_err());
}

#[test]
fn bytes_after_the_last_field_are_an_error() {
    for mut bytes in [ongoing_v0(), ongoing_v1()] {
        bytes.push(0);
        assert!(TransactionLogValue::decode(&bytes).is_err());
    }
}

#[test]
fn a_value_cut_at_any_byte_is_an_error() {
    for bytes in [ongoing_v0(), ongoing_v1()] {
        for len in 0..bytes.len() {
            assert!(
                TransactionLogValue::decode(&bytes[..len]).is_err(),
                "cut at {len}"
            );
        }
    }
}

#[test]
fn an_array_longer_than_the_record_is_refused_before_allocating() {
    let mut bytes = fixed_head(0);
    bytes.extend_from_slice(&i32::MAX.to_be_bytes());
    assert!(TransactionLogValue::decode(&bytes).is_err());
    let mut bytes = fixed_head(1);
    bytes.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
    assert!(TransactionLogValue::decode(&bytes).is_err());
}

#[test]
fn a_null_value_is_a_tombstone() {
    let record = decode_record(&encode_key("a"), None).unwrap();
    assert_eq!(record, Some(("a".into(), None)));
}

#[test]
fn metadata_survives_its_record_except_the_last_epoch() {
    let mut meta = TxnMetadata::new(42, 30_000, 100);
    meta = meta.increment_epoch(30_000, None, 200).unwrap();
    let added = [TopicPartition::new("b", 1), TopicPartition::new("a", 3)];
    meta = meta.add_partitions(added, 300, TransactionVersion::V2);
    meta.last_producer_epoch = 0;
    for version in [0, 1] {
        let bytes = meta.to_log_value().encode(version);
        let (_, value) = TransactionLogValue::decode(&bytes).unwrap();
        let loaded = TxnMetadata::from_log_value(&value).unwrap();
        assert_eq!(loaded.partitions, meta.partitions);
        assert_eq!(loaded.last_producer_epoch, NO_PRODUCER_EPOCH);
        if version == 1 {
            let expected = TxnMetadata {
                last_producer_epoch: NO_PRODUCER_EPOCH,
                ..meta.clone()
            };
            assert_eq!(loaded, expected);
        }
    }
    let value = meta.to_log_value();
    let topics: Vec<&str> = value
        .partitions
        .iter()
        .flatten()
        .map(|t| t.topic.as_str())
        .collect();
    assert_eq!(topics, ["a", "b"], "grouped by topic, in order");
}
