//! Group metadata as records of `__consumer_offsets`, in Kafka's layout so Kafka's tools read
//! them: key version 2 (the group id) → `GroupMetadataValue` (Kafka's
//! `group-coordinator/src/main/resources/common/message/GroupMetadataValue.json`). A null
//! value (a tombstone) says the group is gone.
//!
//! Written at version 3, as Kafka 3.x and 4.x write it; versions 0 to 4 are read:
//!
//! ```text
//!  v0  protocol_type, generation, protocol?, leader?, members[member_id, client_id,
//!      client_host, session_timeout, subscription, assignment]
//!  v1  + member rebalance_timeout (after client_host)
//!  v2  + current_state_timestamp (after leader)
//!  v3  + member group_instance_id? (after member_id)
//!  v4  the v3 fields, flexible: compact strings, arrays and bytes, tagged fields
//! ```
//!
//! Strings carry an int16 length (-1: null), bytes an int32 length, arrays an int32 count;
//! v4 uses unsigned varints of length + 1 (0: null) and ends each struct with tagged fields.

use bytes::{BufMut as _, Bytes};

use super::offsets::RecordFormatError;
use crate::log::builder::BatchBuilder;

/// The key version of group metadata records (0 and 1 are offset commits).
pub const GROUP_METADATA_KEY_VERSION: i16 = 2;
/// The value version written.
const VALUE_VERSION: i16 = 3;
/// The highest value version read (the first flexible one).
const FLEXIBLE_VERSION: i16 = 4;

/// One group as stored: what a restart rebuilds the group from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMetadata {
    /// `consumer` for consumers; empty if the group never had a member.
    pub protocol_type: String,
    pub generation: i32,
    /// The protocol chosen for the generation (`None` for an empty group).
    pub protocol: Option<String>,
    pub leader: Option<String>,
    /// When the group entered its current state (ms since the epoch; -1 before v2).
    pub current_state_timestamp: i64,
    pub members: Vec<StoredMember>,
}

/// One member as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    /// `/` and the member's IP address, as Kafka reports it.
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    /// The member's metadata for the chosen protocol.
    pub subscription: Bytes,
    pub assignment: Bytes,
}

/// The key of `group`'s metadata record.
pub fn group_key(group: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(4 + group.len());
    key.put_i16(GROUP_METADATA_KEY_VERSION);
    put_string(&mut key, Some(group));
    key
}

/// The value of a group metadata record, at version 3.
pub fn group_value(group: &GroupMetadata) -> Vec<u8> {
    let mut value = Vec::with_capacity(64);
    value.put_i16(VALUE_VERSION);
    put_string(&mut value, Some(&group.protocol_type));
    value.put_i32(group.generation);
    put_string(&mut value, group.protocol.as_deref());
    put_string(&mut value, group.leader.as_deref());
    value.put_i64(group.current_state_timestamp);
    value.put_i32(group.members.len() as i32);
    for member in &group.members {
        put_string(&mut value, Some(&member.member_id));
        put_string(&mut value, member.group_instance_id.as_deref());
        put_string(&mut value, Some(&member.client_id));
        put_string(&mut value, Some(&member.client_host));
        value.put_i32(member.rebalance_timeout_ms);
        value.put_i32(member.session_timeout_ms);
        value.put_i32(member.subscription.len() as i32);
        value.put_slice(&member.subscription);
        value.put_i32(member.assignment.len() as i32);
        value.put_slice(&member.assignment);
    }
    value
}

/// A batch of one group metadata record (`None`: a tombstone), for the coordinator to append.
pub fn group_batch(group: &str, value: Option<&GroupMetadata>, now: i64) -> Vec<u8> {
    let key = group_key(group);
    let value = value.map(group_value);
    BatchBuilder::new(now)
        .record(Some(&key), value.as_deref(), now)
        .build()
}

/// Strings this broker writes are checked to fit an int16 length before they get here
/// (group ids by the coordinator; member ids, client ids and hosts are short).
fn put_string(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        None => out.put_i16(-1),
        Some(s) => {
            let len = s.len().min(i16::MAX as usize);
            out.put_i16(len as i16);
            out.put_slice(&s.as_bytes()[..len]);
        }
    }
}

/// Reads a group metadata value of versions 0 to 4.
pub fn read_group_value(value: &[u8]) -> Result<GroupMetadata, RecordFormatError> {
    let mut reader = Reader {
        buf: value,
        flexible: false,
    };
    let version = reader.i16()?;
    if !(0..=FLEXIBLE_VERSION).contains(&version) {
        return Err(RecordFormatError::new(format!(
            "group metadata value version {version} is unknown"
        )));
    }
    reader.flexible = version >= FLEXIBLE_VERSION;
    let protocol_type = reader.string()?.unwrap_or_default();
    let generation = reader.i32()?;
    let protocol = reader.string()?;
    let leader = reader.string()?;
    let current_state_timestamp = if version >= 2 { reader.i64()? } else { -1 };
    let count = reader.array_len()?;
    let mut members = Vec::new();
    for _ in 0..count {
        let member_id = reader.string()?.unwrap_or_default();
        let group_instance_id = if version >= 3 { reader.string()? } else { None };
        let client_id = reader.string()?.unwrap_or_default();
        let client_host = reader.string()?.unwrap_or_default();
        let rebalance_timeout_ms = if version >= 1 {
            Some(reader.i32()?)
        } else {
            None
        };
        let session_timeout_ms = reader.i32()?;
        let subscription = reader.bytes()?;
        let assignment = reader.bytes()?;
        reader.tagged_fields()?;
        members.push(StoredMember {
            member_id,
            group_instance_id,
            client_id,
            client_host,
            // Version 0 has one timeout for both, as JoinGroup v0 does.
            rebalance_timeout_ms: rebalance_timeout_ms.unwrap_or(session_timeout_ms),
            session_timeout_ms,
            subscription,
            assignment,
        });
    }
    reader.tagged_fields()?;
    Ok(GroupMetadata {
        protocol_type,
        generation,
        protocol,
        leader,
        current_state_timestamp,
        members,
    })
}

/// A cursor over a value; `flexible` switches to the compact encodings of version 4.
struct Reader<'a> {
    buf: &'a [u8],
    flexible: bool,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], RecordFormatError> {
        if self.buf.len() < n {
            return Err(RecordFormatError::new("truncated group metadata value"));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], RecordFormatError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn i16(&mut self) -> Result<i16, RecordFormatError> {
        Ok(i16::from_be_bytes(self.array()?))
    }

    fn i32(&mut self) -> Result<i32, RecordFormatError> {
        Ok(i32::from_be_bytes(self.array()?))
    }

    fn i64(&mut self) -> Result<i64, RecordFormatError> {
        Ok(i64::from_be_bytes(self.array()?))
    }

    fn unsigned_varint(&mut self) -> Result<u32, RecordFormatError> {
        let mut value = 0u32;
        for shift in (0..35).step_by(7) {
            let [byte] = self.array::<1>()?;
            value |= u32::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(RecordFormatError::new(
            "unsigned varint longer than 5 bytes",
        ))
    }

    /// A length, `None` for null: int16/int32 (-1 null) or, flexible, varint of length + 1.
    fn length(&mut self, wide: bool) -> Result<Option<usize>, RecordFormatError> {
        let len = if self.flexible {
            i64::from(self.unsigned_varint()?) - 1
        } else if wide {
            i64::from(self.i32()?)
        } else {
            i64::from(self.i16()?)
        };
        if len < 0 {
            return Ok(None);
        }
        let len = len as usize;
        if len > self.buf.len() {
            return Err(RecordFormatError::new("length past the end of the value"));
        }
        Ok(Some(len))
    }

    fn string(&mut self) -> Result<Option<String>, RecordFormatError> {
        let Some(len) = self.length(false)? else {
            return Ok(None);
        };
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec())
            .map(Some)
            .map_err(|_| RecordFormatError::new("string is not UTF-8"))
    }

    fn bytes(&mut self) -> Result<Bytes, RecordFormatError> {
        let Some(len) = self.length(true)? else {
            return Ok(Bytes::new());
        };
        Ok(Bytes::copy_from_slice(self.take(len)?))
    }

    /// An array's element count; every element takes at least one byte, so a count past the
    /// bytes left is damage, not a reason to allocate.
    fn array_len(&mut self) -> Result<usize, RecordFormatError> {
        let len = if self.flexible {
            i64::from(self.unsigned_varint()?) - 1
        } else {
            i64::from(self.i32()?)
        };
        let len = usize::try_from(len).unwrap_or(0);
        if len > self.buf.len() {
            return Err(RecordFormatError::new("array longer than the value"));
        }
        Ok(len)
    }

    /// Version 4's tagged fields: none are known, all are skipped.
    fn tagged_fields(&mut self) -> Result<(), RecordFormatError> {
        if !self.flexible {
            return Ok(());
        }
        let count = self.unsigned_varint()?;
        for _ in 0..count {
            let _tag = self.unsigned_varint()?;
            let size = self.unsigned_varint()? as usize;
            self.take(size)?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "metadata_record_tests.rs"]
mod tests;
