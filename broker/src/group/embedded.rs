//! The consumer protocol embedded in classic JoinGroup and SyncGroup bytes
//! (ConsumerProtocolSubscription and ConsumerProtocolAssignment: an int16 version, then the
//! body), which the coordinator reads and writes only when a group moves between the classic
//! and the consumer protocol. A version newer than this broker knows is read as the newest
//! it knows, as Kafka's clients and coordinator do: later versions only add fields at the end.

use bytes::{Buf as _, BufMut as _, Bytes, BytesMut};
use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as AssignedTopic;
use kafka_protocol::messages::{ConsumerProtocolAssignment, ConsumerProtocolSubscription};
use kafka_protocol::protocol::{Decodable as _, Encodable as _, StrBytes};

/// The newest version of both structures this broker reads and writes.
const LATEST: i16 = 3;

/// Bytes that do not hold a consumer protocol structure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed consumer protocol {what}: {reason}")]
pub struct MalformedEmbedded {
    what: &'static str,
    reason: String,
}

/// A member's subscription: its topics, the partitions it says it owns, its rack.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Subscription {
    /// The version it was written with (clamped to [`LATEST`]): its assignment is written so.
    pub version: i16,
    pub topics: Vec<String>,
    pub owned: Vec<(String, Vec<i32>)>,
    pub rack_id: Option<String>,
}

fn version(bytes: &mut Bytes, what: &'static str) -> Result<i16, MalformedEmbedded> {
    if bytes.len() < 2 {
        return Err(MalformedEmbedded {
            what,
            reason: "shorter than its version".into(),
        });
    }
    let version = bytes.get_i16();
    if version < 0 {
        return Err(MalformedEmbedded {
            what,
            reason: format!("version {version}"),
        });
    }
    Ok(version.min(LATEST))
}

pub fn decode_subscription(metadata: &Bytes) -> Result<Subscription, MalformedEmbedded> {
    let what = "subscription";
    let mut bytes = metadata.clone();
    let version = version(&mut bytes, what)?;
    let decoded = ConsumerProtocolSubscription::decode(&mut bytes, version).map_err(|error| {
        MalformedEmbedded {
            what,
            reason: error.to_string(),
        }
    })?;
    Ok(Subscription {
        version,
        topics: decoded.topics.iter().map(|t| t.to_string()).collect(),
        owned: decoded
            .owned_partitions
            .iter()
            .map(|tp| (tp.topic.0.to_string(), tp.partitions.clone()))
            .collect(),
        // Clients without `client.rack` send an empty rack: no rack.
        rack_id: decoded
            .rack_id
            .map(|r| r.to_string())
            .filter(|r| !r.is_empty()),
    })
}

/// A member's assignment, `(topic, partitions)`; no bytes at all is no assignment (a member
/// that has not had its first SyncGroup).
pub fn decode_assignment(bytes: &Bytes) -> Result<Vec<(String, Vec<i32>)>, MalformedEmbedded> {
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let what = "assignment";
    let mut bytes = bytes.clone();
    let version = version(&mut bytes, what)?;
    let decoded = ConsumerProtocolAssignment::decode(&mut bytes, version).map_err(|error| {
        MalformedEmbedded {
            what,
            reason: error.to_string(),
        }
    })?;
    Ok(decoded
        .assigned_partitions
        .iter()
        .map(|tp| (tp.topic.0.to_string(), tp.partitions.clone()))
        .collect())
}

/// An assignment of `partitions` (by topic name) in `version`.
pub fn encode_assignment(version: i16, partitions: &[(String, Vec<i32>)]) -> Bytes {
    let version = version.clamp(0, LATEST);
    let assignment = ConsumerProtocolAssignment::default().with_assigned_partitions(
        partitions
            .iter()
            .map(|(topic, partitions)| {
                AssignedTopic::default()
                    .with_topic(StrBytes::from_string(topic.clone()).into())
                    .with_partitions(partitions.clone())
            })
            .collect(),
    );
    let mut out = BytesMut::new();
    out.put_i16(version);
    // Only a version outside 0..=3 fails to encode, and the version is clamped.
    if assignment.encode(&mut out, version).is_err() {
        return Bytes::new();
    }
    out.freeze()
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::consumer_protocol_subscription::TopicPartition as OwnedTopic;

    use super::*;

    fn subscription_bytes(version: i16) -> Bytes {
        let subscription = ConsumerProtocolSubscription::default()
            .with_topics(vec![StrBytes::from_static_str("orders")])
            .with_owned_partitions(vec![
                OwnedTopic::default()
                    .with_topic(StrBytes::from_static_str("orders").into())
                    .with_partitions(vec![0, 2]),
            ])
            .with_rack_id(Some(StrBytes::from_static_str("rack-a")));
        let mut out = BytesMut::new();
        out.put_i16(version);
        subscription.encode(&mut out, version).expect("encodes");
        out.freeze()
    }

    #[test]
    fn a_subscription_gives_its_topics_owned_partitions_and_rack_by_version() {
        let v3 = decode_subscription(&subscription_bytes(3)).expect("v3");
        assert_eq!(v3.topics, ["orders"]);
        assert_eq!(v3.owned, [("orders".to_owned(), vec![0, 2])]);
        assert_eq!(v3.rack_id.as_deref(), Some("rack-a"));
        let v0 = decode_subscription(&subscription_bytes(0)).expect("v0");
        assert_eq!((v0.version, v0.owned.len(), v0.rack_id), (0, 0, None));
    }

    #[test]
    fn a_newer_version_is_read_as_the_newest_known_and_garbage_is_refused() {
        let mut newer = BytesMut::new();
        newer.put_i16(7);
        newer.extend_from_slice(&subscription_bytes(3)[2..]);
        newer.extend_from_slice(&[0, 0, 0, 1]); // a field a later version adds
        let read = decode_subscription(&newer.freeze()).expect("reads as v3");
        assert_eq!((read.version, read.topics.len()), (3, 1));
        assert!(decode_subscription(&Bytes::from_static(&[0])).is_err());
        assert!(decode_subscription(&Bytes::from_static(&[0xff, 0xff])).is_err());
        assert!(decode_subscription(&Bytes::from_static(&[0, 1, 0, 0, 0, 9])).is_err());
    }

    #[test]
    fn an_assignment_round_trips_and_no_bytes_is_no_assignment() {
        let partitions = vec![("a".to_owned(), vec![1, 3]), ("b".to_owned(), vec![0])];
        for version in [0, 1, 3, 9] {
            let bytes = encode_assignment(version, &partitions);
            assert_eq!(i16::from_be_bytes([bytes[0], bytes[1]]), version.min(3));
            assert_eq!(decode_assignment(&bytes).expect("decodes"), partitions);
        }
        assert_eq!(decode_assignment(&Bytes::new()), Ok(Vec::new()));
        assert!(decode_assignment(&Bytes::from_static(&[0, 0, 0, 0, 0, 5])).is_err());
    }
}
