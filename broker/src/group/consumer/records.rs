//! The records of KIP-848 consumer groups in `__consumer_offsets`, in Kafka's exact layout
//! (`group-coordinator/src/main/resources/common/message/ConsumerGroup*.json`), so a group can
//! be stored and rebuilt, and Kafka's tools read what this broker writes.
//!
//! A key starts with an int16: Kafka 3.x calls it the key version, Kafka 4.x the record type
//! (the schema's `apiKey`, followed by key version 0). The bytes are the same. Key fields are
//! classic strings (int16 length, never null). A value starts with its int16 version; every
//! value has one version, 0, and it is flexible: compact strings, bytes and arrays (unsigned
//! varint of length + 1, 0 for null) and a tagged-field section at the end of every struct. A
//! null value (a tombstone) deletes what its key names.
//!
//! ```text
//! type  key                               value v0 (tagged fields: tag=name, written when
//!                                                  not the default)
//!  3    ConsumerGroupMetadata (group)     epoch i32; tag0 MetadataHash i64 (4.1, KIP-1101,
//!                                         default 0); tag1 CreationTimeMs i64 (KIP-1282,
//!                                         default -1)
//!  4    ConsumerGroupPartitionMetadata    topics[topic_id uuid, topic_name, num_partitions
//!       (group)                           i32, partition_metadata[partition i32,
//!                                         racks[string]]]  (4.1+ writes only tombstones)
//!  5    ConsumerGroupMemberMetadata       instance_id?, rack_id?, client_id, client_host,
//!       (group, member)                   subscribed_topic_names[string],
//!                                         subscribed_topic_regex?, rebalance_timeout_ms i32,
//!                                         server_assignor?; tag0 ClassicMemberMetadata?
//!                                         {session_timeout_ms i32, supported_protocols[name,
//!                                         metadata bytes]} (default null)
//!  6    ConsumerGroupTargetAssignment     assignment_epoch i32; tag0 AssignmentTimestamp i64
//!       Metadata (group)                  (4.3, KIP-1263, default 0)
//!  7    ConsumerGroupTargetAssignment     topic_partitions[topic_id uuid, partitions[i32]]
//!       Member (group, member)
//!  8    ConsumerGroupCurrentMember        member_epoch i32, previous_member_epoch i32,
//!       Assignment (group, member)        state i8, assigned_partitions[P],
//!                                         partitions_pending_revocation[P];
//!                                         P = topic_id uuid, partitions[i32]; tag0
//!                                         AssignmentEpochs [i32]? (KIP-1251, default null)
//! 16    ConsumerGroupRegularExpression    topics[string], version i64, timestamp i64
//!       (group, regular expression)
//! ```
//!
//! A nullable struct in a tagged field (ClassicMemberMetadata) is written as a varint 1 before
//! the struct (size = struct + 1); a tagged nullable array only when it is not null. Tagged
//! fields go in ascending tag order.
//!
//! Written as Kafka 4.x writes them: value version 0, tagged fields only when not at their
//! default. Read: version 0 with or without any of the tagged fields (Kafka 4.0 writes none of
//! the later ones), unknown tags skipped. Any other value version is an error, as Kafka's
//! `CoordinatorRecordSerde` refuses it. The layouts of the 3.6/3.7 early access (e.g.
//! `Error`, `MetadataVersion` and `MetadataBytes` in assignments), changed without a version
//! bump, are not read, as Kafka 4.x does not read them either. Bytes left after the last field
//! of a key or value are an error.

use uuid::Uuid;

use crate::group::offsets::RecordFormatError;
use crate::log::builder::BatchBuilder;

#[path = "records_wire.rs"]
mod wire;
use wire::{
    Reader, put_compact_array, put_compact_bytes, put_compact_nullable_string, put_compact_string,
    put_string, put_tagged_fields, put_uuid,
};

/// The record types (key versions) of KIP-848 consumer groups.
pub mod record_type {
    pub const GROUP_METADATA: i16 = 3;
    pub const PARTITION_METADATA: i16 = 4;
    pub const MEMBER_METADATA: i16 = 5;
    pub const TARGET_ASSIGNMENT_METADATA: i16 = 6;
    pub const TARGET_ASSIGNMENT_MEMBER: i16 = 7;
    pub const CURRENT_MEMBER_ASSIGNMENT: i16 = 8;
    pub const REGULAR_EXPRESSION: i16 = 16;
}

/// The only value version of every record type.
const VALUE_VERSION: i16 = 0;

/// `ConsumerGroupMetadataValue`: the group epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMetadata {
    pub epoch: i32,
    /// Hash of the subscribed topics' metadata (0: not computed).
    pub metadata_hash: i64,
    /// When the group was created (-1: unknown).
    pub creation_time_ms: i64,
}

/// `ConsumerGroupPartitionMetadataValue`: the subscribed topics as of the last assignment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartitionMetadata {
    pub topics: Vec<TopicMetadata>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMetadata {
    pub topic_id: Uuid,
    pub topic_name: String,
    pub num_partitions: i32,
    /// Racks per partition (empty when no partition's racks are known).
    pub partition_racks: Vec<PartitionRacks>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionRacks {
    pub partition: i32,
    pub racks: Vec<String>,
}

/// `ConsumerGroupMemberMetadataValue`: what a member told the coordinator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberMetadata {
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub subscribed_topic_names: Vec<String>,
    pub subscribed_topic_regex: Option<String>,
    pub rebalance_timeout_ms: i32,
    pub server_assignor: Option<String>,
    /// Set for a member that speaks the classic protocol in a consumer group.
    pub classic_member_metadata: Option<ClassicMemberMetadata>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassicMemberMetadata {
    pub session_timeout_ms: i32,
    pub supported_protocols: Vec<ClassicProtocol>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassicProtocol {
    pub name: String,
    pub metadata: Vec<u8>,
}

/// `ConsumerGroupTargetAssignmentMetadataValue`: the epoch of the target assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetAssignmentMetadata {
    pub assignment_epoch: i32,
    /// When the assignment was computed (0: not recorded).
    pub assignment_timestamp: i64,
}

/// `ConsumerGroupTargetAssignmentMemberValue`: one member's target assignment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetAssignmentMember {
    pub topic_partitions: Vec<TopicPartitions>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicPartitions {
    pub topic_id: Uuid,
    pub partitions: Vec<i32>,
}

/// `ConsumerGroupCurrentMemberAssignmentValue`: where a member's reconciliation stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentMemberAssignment {
    pub member_epoch: i32,
    pub previous_member_epoch: i32,
    /// Kafka's `MemberState`: 0 stable, 1 unrevoked partitions, 2 unreleased partitions,
    /// 127 unknown.
    pub state: i8,
    pub assigned_partitions: Vec<AssignedPartitions>,
    pub partitions_pending_revocation: Vec<AssignedPartitions>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignedPartitions {
    pub topic_id: Uuid,
    pub partitions: Vec<i32>,
    /// The epoch each partition was assigned at, aligned with `partitions` (KIP-1251).
    pub assignment_epochs: Option<Vec<i32>>,
}

/// `ConsumerGroupRegularExpressionValue`: the topics a subscribed regular expression matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegularExpression {
    pub topics: Vec<String>,
    /// The metadata image version the expression was resolved against.
    pub version: i64,
    pub timestamp: i64,
}

/// What a key names: its record type, its group and the sub-key of that type.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConsumerGroupKey {
    GroupMetadata { group: String },
    PartitionMetadata { group: String },
    MemberMetadata { group: String, member: String },
    TargetAssignmentMetadata { group: String },
    TargetAssignmentMember { group: String, member: String },
    CurrentMemberAssignment { group: String, member: String },
    RegularExpression { group: String, regex: String },
}

/// A value of the type its key says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsumerGroupValue {
    GroupMetadata(GroupMetadata),
    PartitionMetadata(PartitionMetadata),
    MemberMetadata(MemberMetadata),
    TargetAssignmentMetadata(TargetAssignmentMetadata),
    TargetAssignmentMember(TargetAssignmentMember),
    CurrentMemberAssignment(CurrentMemberAssignment),
    RegularExpression(RegularExpression),
}

/// One stored record; `value: None` is a tombstone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroupRecord {
    pub key: ConsumerGroupKey,
    pub value: Option<ConsumerGroupValue>,
}

impl ConsumerGroupKey {
    pub fn record_type(&self) -> i16 {
        use record_type::*;
        match self {
            Self::GroupMetadata { .. } => GROUP_METADATA,
            Self::PartitionMetadata { .. } => PARTITION_METADATA,
            Self::MemberMetadata { .. } => MEMBER_METADATA,
            Self::TargetAssignmentMetadata { .. } => TARGET_ASSIGNMENT_METADATA,
            Self::TargetAssignmentMember { .. } => TARGET_ASSIGNMENT_MEMBER,
            Self::CurrentMemberAssignment { .. } => CURRENT_MEMBER_ASSIGNMENT,
            Self::RegularExpression { .. } => REGULAR_EXPRESSION,
        }
    }

    pub fn group(&self) -> &str {
        match self {
            Self::GroupMetadata { group }
            | Self::PartitionMetadata { group }
            | Self::MemberMetadata { group, .. }
            | Self::TargetAssignmentMetadata { group }
            | Self::TargetAssignmentMember { group, .. }
            | Self::CurrentMemberAssignment { group, .. }
            | Self::RegularExpression { group, .. } => group,
        }
    }

    /// The member id or regular expression after the group, if this type has one.
    fn sub_key(&self) -> Option<&str> {
        match self {
            Self::MemberMetadata { member, .. }
            | Self::TargetAssignmentMember { member, .. }
            | Self::CurrentMemberAssignment { member, .. } => Some(member),
            Self::RegularExpression { regex, .. } => Some(regex),
            _ => None,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32);
        out.extend_from_slice(&self.record_type().to_be_bytes());
        put_string(&mut out, self.group());
        if let Some(sub_key) = self.sub_key() {
            put_string(&mut out, sub_key);
        }
        out
    }

    /// The key in `bytes`; `None` when its type is not a KIP-848 consumer group record.
    pub fn decode(bytes: &[u8]) -> Result<Option<Self>, RecordFormatError> {
        use record_type::*;
        let mut key = Reader::new(bytes, "consumer group record key");
        let record_type = key.i16()?;
        let group = match record_type {
            GROUP_METADATA..=CURRENT_MEMBER_ASSIGNMENT | REGULAR_EXPRESSION => key.string()?,
            _ => return Ok(None),
        };
        let parsed = match record_type {
            GROUP_METADATA => Self::GroupMetadata { group },
            PARTITION_METADATA => Self::PartitionMetadata { group },
            MEMBER_METADATA => Self::MemberMetadata {
                group,
                member: key.string()?,
            },
            TARGET_ASSIGNMENT_METADATA => Self::TargetAssignmentMetadata { group },
            TARGET_ASSIGNMENT_MEMBER => Self::TargetAssignmentMember {
                group,
                member: key.string()?,
            },
            CURRENT_MEMBER_ASSIGNMENT => Self::CurrentMemberAssignment {
                group,
                member: key.string()?,
            },
            _ => Self::RegularExpression {
                group,
                regex: key.string()?,
            },
        };
        key.end()?;
        Ok(Some(parsed))
    }
}

impl ConsumerGroupValue {
    /// The value at version 0, as Kafka 4.x writes it.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(&VALUE_VERSION.to_be_bytes());
        match self {
            Self::GroupMetadata(v) => v.put(&mut out),
            Self::PartitionMetadata(v) => v.put(&mut out),
            Self::MemberMetadata(v) => v.put(&mut out),
            Self::TargetAssignmentMetadata(v) => v.put(&mut out),
            Self::TargetAssignmentMember(v) => v.put(&mut out),
            Self::CurrentMemberAssignment(v) => v.put(&mut out),
            Self::RegularExpression(v) => v.put(&mut out),
        }
        out
    }

    /// The value of `key`'s type in `bytes`.
    pub fn decode(key: &ConsumerGroupKey, bytes: &[u8]) -> Result<Self, RecordFormatError> {
        let mut value = Reader::new(bytes, "consumer group record value");
        let version = value.i16()?;
        if version != VALUE_VERSION {
            return Err(RecordFormatError::new(format!(
                "consumer group record type {} has no value version {version}",
                key.record_type()
            )));
        }
        let v = &mut value;
        let decoded = match key {
            ConsumerGroupKey::GroupMetadata { .. } => Self::GroupMetadata(GroupMetadata::read(v)?),
            ConsumerGroupKey::PartitionMetadata { .. } => {
                Self::PartitionMetadata(PartitionMetadata::read(v)?)
            }
            ConsumerGroupKey::MemberMetadata { .. } => {
                Self::MemberMetadata(MemberMetadata::read(v)?)
            }
            ConsumerGroupKey::TargetAssignmentMetadata { .. } => {
                Self::TargetAssignmentMetadata(TargetAssignmentMetadata::read(v)?)
            }
            ConsumerGroupKey::TargetAssignmentMember { .. } => {
                Self::TargetAssignmentMember(TargetAssignmentMember::read(v)?)
            }
            ConsumerGroupKey::CurrentMemberAssignment { .. } => {
                Self::CurrentMemberAssignment(CurrentMemberAssignment::read(v)?)
            }
            ConsumerGroupKey::RegularExpression { .. } => {
                Self::RegularExpression(RegularExpression::read(v)?)
            }
        };
        value.end()?;
        Ok(decoded)
    }
}

impl ConsumerGroupRecord {
    /// Reads one record of `__consumer_offsets`: `None` for a key whose type is not a KIP-848
    /// consumer group record (offset commits, classic groups, share and streams groups).
    pub fn read(key: &[u8], value: Option<&[u8]>) -> Result<Option<Self>, RecordFormatError> {
        let Some(key) = ConsumerGroupKey::decode(key)? else {
            return Ok(None);
        };
        let value = value
            .map(|bytes| ConsumerGroupValue::decode(&key, bytes))
            .transpose()?;
        Ok(Some(ConsumerGroupRecord { key, value }))
    }

    /// The record's key and value bytes (`None`: a tombstone).
    pub fn encode(&self) -> (Vec<u8>, Option<Vec<u8>>) {
        (self.key.encode(), self.value.as_ref().map(|v| v.encode()))
    }
}

/// A batch of `records`, in order, for the coordinator to append.
/// One batch of already encoded records (`(key, value)`, `None` a tombstone).
pub fn entries_batch(entries: &[(Vec<u8>, Option<Vec<u8>>)], now: i64) -> Vec<u8> {
    let mut builder = BatchBuilder::new(now);
    for (key, value) in entries {
        builder = builder.record(Some(key), value.as_deref(), now);
    }
    builder.build()
}

pub fn record_batch(records: &[ConsumerGroupRecord], now: i64) -> Vec<u8> {
    let mut builder = BatchBuilder::new(now);
    for record in records {
        let (key, value) = record.encode();
        builder = builder.record(Some(&key), value.as_deref(), now);
    }
    builder.build()
}

fn put_i64_field(value: i64) -> Vec<u8> {
    value.to_be_bytes().to_vec()
}

fn read_i64_field(field: &mut Reader<'_>) -> Result<i64, RecordFormatError> {
    field.i64()
}

fn put_partitions(out: &mut Vec<u8>, partitions: &[i32]) {
    put_compact_array(out, partitions, |out, p| {
        out.extend_from_slice(&p.to_be_bytes())
    });
}

impl GroupMetadata {
    fn put(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.epoch.to_be_bytes());
        let mut tagged = Vec::new();
        if self.metadata_hash != 0 {
            tagged.push((0, put_i64_field(self.metadata_hash)));
        }
        if self.creation_time_ms != -1 {
            tagged.push((1, put_i64_field(self.creation_time_ms)));
        }
        put_tagged_fields(out, &tagged);
    }

    fn read(v: &mut Reader<'_>) -> Result<Self, RecordFormatError> {
        let mut out = GroupMetadata {
            epoch: v.i32()?,
            metadata_hash: 0,
            creation_time_ms: -1,
        };
        v.tagged_fields(|tag, field| {
            match tag {
                0 => out.metadata_hash = read_i64_field(field)?,
                1 => out.creation_time_ms = read_i64_field(field)?,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(out)
    }
}

impl PartitionMetadata {
    fn put(&self, out: &mut Vec<u8>) {
        put_compact_array(out, &self.topics, |out, topic| {
            put_uuid(out, &topic.topic_id);
            put_compact_string(out, &topic.topic_name);
            out.extend_from_slice(&topic.num_partitions.to_be_bytes());
            put_compact_array(out, &topic.partition_racks, |out, p| {
                out.extend_from_slice(&p.partition.to_be_bytes());
                put_compact_array(out, &p.racks, |out, rack| put_compact_string(out, rack));
                put_tagged_fields(out, &[]);
            });
            put_tagged_fields(out, &[]);
        });
        put_tagged_fields(out, &[]);
    }

    fn read(v: &mut Reader<'_>) -> Result<Self, RecordFormatError> {
        let topics = v.compact_array(|v| {
            let topic = TopicMetadata {
                topic_id: v.uuid()?,
                topic_name: v.compact_string()?,
                num_partitions: v.i32()?,
                partition_racks: v.compact_array(|v| {
                    let racks = PartitionRacks {
                        partition: v.i32()?,
                        racks: v.compact_array(Reader::compact_string)?,
                    };
                    v.skip_tagged_fields()?;
                    Ok(racks)
                })?,
            };
            v.skip_tagged_fields()?;
            Ok(topic)
        })?;
        v.skip_tagged_fields()?;
        Ok(PartitionMetadata { topics })
    }
}

impl MemberMetadata {
    fn put(&self, out: &mut Vec<u8>) {
        put_compact_nullable_string(out, self.instance_id.as_deref());
        put_compact_nullable_string(out, self.rack_id.as_deref());
        put_compact_string(out, &self.client_id);
        put_compact_string(out, &self.client_host);
        put_compact_array(out, &self.subscribed_topic_names, |out, t| {
            put_compact_string(out, t)
        });
        put_compact_nullable_string(out, self.subscribed_topic_regex.as_deref());
        out.extend_from_slice(&self.rebalance_timeout_ms.to_be_bytes());
        put_compact_nullable_string(out, self.server_assignor.as_deref());
        let mut tagged = Vec::new();
        if let Some(classic) = &self.classic_member_metadata {
            // A nullable struct: present marker (varint 1), then the struct.
            let mut field = vec![1];
            field.extend_from_slice(&classic.session_timeout_ms.to_be_bytes());
            put_compact_array(&mut field, &classic.supported_protocols, |out, p| {
                put_compact_string(out, &p.name);
                put_compact_bytes(out, &p.metadata);
                put_tagged_fields(out, &[]);
            });
            put_tagged_fields(&mut field, &[]);
            tagged.push((0, field));
        }
        put_tagged_fields(out, &tagged);
    }

    fn read(v: &mut Reader<'_>) -> Result<Self, RecordFormatError> {
        let mut out = MemberMetadata {
            instance_id: v.compact_nullable_string()?,
            rack_id: v.compact_nullable_string()?,
            client_id: v.compact_string()?,
            client_host: v.compact_string()?,
            subscribed_topic_names: v.compact_array(Reader::compact_string)?,
            subscribed_topic_regex: v.compact_nullable_string()?,
            rebalance_timeout_ms: v.i32()?,
            server_assignor: v.compact_nullable_string()?,
            classic_member_metadata: None,
        };
        v.tagged_fields(|tag, field| {
            if tag != 0 {
                return Ok(false);
            }
            if field.unsigned_varint()? == 0 {
                out.classic_member_metadata = None;
                return Ok(true);
            }
            let classic = ClassicMemberMetadata {
                session_timeout_ms: field.i32()?,
                supported_protocols: field.compact_array(|v| {
                    let protocol = ClassicProtocol {
                        name: v.compact_string()?,
                        metadata: v.compact_bytes()?,
                    };
                    v.skip_tagged_fields()?;
                    Ok(protocol)
                })?,
            };
            field.skip_tagged_fields()?;
            out.classic_member_metadata = Some(classic);
            Ok(true)
        })?;
        Ok(out)
    }
}

impl TargetAssignmentMetadata {
    fn put(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.assignment_epoch.to_be_bytes());
        let mut tagged = Vec::new();
        if self.assignment_timestamp != 0 {
            tagged.push((0, put_i64_field(self.assignment_timestamp)));
        }
        put_tagged_fields(out, &tagged);
    }

    fn read(v: &mut Reader<'_>) -> Result<Self, RecordFormatError> {
        let mut out = TargetAssignmentMetadata {
            assignment_epoch: v.i32()?,
            assignment_timestamp: 0,
        };
        v.tagged_fields(|tag, field| {
            if tag != 0 {
                return Ok(false);
            }
            out.assignment_timestamp = read_i64_field(field)?;
            Ok(true)
        })?;
        Ok(out)
    }
}

impl TargetAssignmentMember {
    fn put(&self, out: &mut Vec<u8>) {
        put_compact_array(out, &self.topic_partitions, |out, t| {
            put_uuid(out, &t.topic_id);
            put_partitions(out, &t.partitions);
            put_tagged_fields(out, &[]);
        });
        put_tagged_fields(out, &[]);
    }

    fn read(v: &mut Reader<'_>) -> Result<Self, RecordFormatError> {
        let topic_partitions = v.compact_array(|v| {
            let topic = TopicPartitions {
                topic_id: v.uuid()?,
                partitions: v.compact_array(Reader::i32)?,
            };
            v.skip_tagged_fields()?;
            Ok(topic)
        })?;
        v.skip_tagged_fields()?;
        Ok(TargetAssignmentMember { topic_partitions })
    }
}

impl AssignedPartitions {
    fn put(out: &mut Vec<u8>, topic: &AssignedPartitions) {
        put_uuid(out, &topic.topic_id);
        put_partitions(out, &topic.partitions);
        let mut tagged = Vec::new();
        if let Some(epochs) = &topic.assignment_epochs {
            let mut field = Vec::with_capacity(1 + 4 * epochs.len());
            put_partitions(&mut field, epochs);
            tagged.push((0, field));
        }
        put_tagged_fields(out, &tagged);
    }

    fn read(v: &mut Reader<'_>) -> Result<Self, RecordFormatError> {
        let mut out = AssignedPartitions {
            topic_id: v.uuid()?,
            partitions: v.compact_array(Reader::i32)?,
            assignment_epochs: None,
        };
        v.tagged_fields(|tag, field| {
            if tag != 0 {
                return Ok(false);
            }
            out.assignment_epochs = field.compact_nullable_array(Reader::i32)?;
            Ok(true)
        })?;
        Ok(out)
    }
}

impl CurrentMemberAssignment {
    fn put(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.member_epoch.to_be_bytes());
        out.extend_from_slice(&self.previous_member_epoch.to_be_bytes());
        out.extend_from_slice(&self.state.to_be_bytes());
        put_compact_array(out, &self.assigned_partitions, AssignedPartitions::put);
        put_compact_array(
            out,
            &self.partitions_pending_revocation,
            AssignedPartitions::put,
        );
        put_tagged_fields(out, &[]);
    }

    fn read(v: &mut Reader<'_>) -> Result<Self, RecordFormatError> {
        let out = CurrentMemberAssignment {
            member_epoch: v.i32()?,
            previous_member_epoch: v.i32()?,
            state: v.i8()?,
            assigned_partitions: v.compact_array(AssignedPartitions::read)?,
            partitions_pending_revocation: v.compact_array(AssignedPartitions::read)?,
        };
        v.skip_tagged_fields()?;
        Ok(out)
    }
}

impl RegularExpression {
    fn put(&self, out: &mut Vec<u8>) {
        put_compact_array(out, &self.topics, |out, t| put_compact_string(out, t));
        out.extend_from_slice(&self.version.to_be_bytes());
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        put_tagged_fields(out, &[]);
    }

    fn read(v: &mut Reader<'_>) -> Result<Self, RecordFormatError> {
        let out = RegularExpression {
            topics: v.compact_array(Reader::compact_string)?,
            version: v.i64()?,
            timestamp: v.i64()?,
        };
        v.skip_tagged_fields()?;
        Ok(out)
    }
}

#[cfg(test)]
#[path = "records_tests.rs"]
mod tests;
