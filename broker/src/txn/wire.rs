//! The encodings `__transaction_state` records use, as Kafka's generated message code writes
//! them: big-endian integers; classic strings (int16 length) and arrays (int32 count, -1 for
//! null) in the key and in value version 0; compact strings and arrays (unsigned varint of
//! length + 1, 0 for null) and a tagged-field section ending every struct in value version 1.
//!
//! Reading never panics and never sizes an allocation from a length it has not checked against
//! the bytes left.

use super::records::TxnRecordError;

/// Kafka refuses strings longer than this (`0x7fff`).
const MAX_STRING_LEN: usize = i16::MAX as usize;

/// A cursor over one key or value; `what` names it in errors.
pub(super) struct Reader<'a> {
    buf: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub(super) fn new(buf: &'a [u8], what: &'static str) -> Self {
        Reader { buf, what }
    }

    pub(super) fn error(&self, reason: impl std::fmt::Display) -> TxnRecordError {
        TxnRecordError(format!("{}: {reason}", self.what))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], TxnRecordError> {
        if self.buf.len() < n {
            return Err(self.error("truncated"));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], TxnRecordError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub(super) fn i8(&mut self) -> Result<i8, TxnRecordError> {
        Ok(i8::from_be_bytes(self.fixed()?))
    }

    pub(super) fn i16(&mut self) -> Result<i16, TxnRecordError> {
        Ok(i16::from_be_bytes(self.fixed()?))
    }

    pub(super) fn i32(&mut self) -> Result<i32, TxnRecordError> {
        Ok(i32::from_be_bytes(self.fixed()?))
    }

    pub(super) fn i64(&mut self) -> Result<i64, TxnRecordError> {
        Ok(i64::from_be_bytes(self.fixed()?))
    }

    pub(super) fn unsigned_varint(&mut self) -> Result<u32, TxnRecordError> {
        let mut value = 0u32;
        for shift in (0..35).step_by(7) {
            let [byte] = self.fixed::<1>()?;
            value |= u32::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(self.error("unsigned varint longer than 5 bytes"))
    }

    fn utf8(&self, bytes: &[u8]) -> Result<String, TxnRecordError> {
        String::from_utf8(bytes.to_vec()).map_err(|_| self.error("string is not UTF-8"))
    }

    /// A classic string: int16 length, never null.
    pub(super) fn string(&mut self) -> Result<String, TxnRecordError> {
        let len = self.i16()?;
        let len = usize::try_from(len).map_err(|_| self.error("null string"))?;
        let bytes = self.take(len)?;
        self.utf8(bytes)
    }

    /// A compact string: unsigned varint length + 1, never null.
    pub(super) fn compact_string(&mut self) -> Result<String, TxnRecordError> {
        let len = self.unsigned_varint()?;
        let len = len
            .checked_sub(1)
            .ok_or_else(|| self.error("null string"))? as usize;
        if len > MAX_STRING_LEN {
            return Err(self.error(format!("string of {len} bytes")));
        }
        let bytes = self.take(len)?;
        self.utf8(bytes)
    }

    /// A classic array's count (`None`: null), checked against the bytes left at
    /// `min_element` bytes an element.
    pub(super) fn array_len(
        &mut self,
        min_element: usize,
    ) -> Result<Option<usize>, TxnRecordError> {
        let count = self.i32()?;
        if count < 0 {
            return Ok(None);
        }
        self.checked_count(count as usize, min_element).map(Some)
    }

    /// A compact array's count (`None`: null), checked the same way.
    pub(super) fn compact_array_len(
        &mut self,
        min_element: usize,
    ) -> Result<Option<usize>, TxnRecordError> {
        let count = self.unsigned_varint()?;
        match count.checked_sub(1) {
            None => Ok(None),
            Some(count) => self.checked_count(count as usize, min_element).map(Some),
        }
    }

    fn checked_count(&self, count: usize, min_element: usize) -> Result<usize, TxnRecordError> {
        if count.saturating_mul(min_element) > self.buf.len() {
            return Err(self.error(format!(
                "array of {count} elements is longer than the record"
            )));
        }
        Ok(count)
    }

    /// A tagged-field section: each `(tag, bytes)` in order, for the caller to interpret.
    pub(super) fn tagged_fields(&mut self) -> Result<Vec<(u32, &'a [u8])>, TxnRecordError> {
        let count = self.unsigned_varint()? as usize;
        // Every tagged field is at least two bytes (tag and size).
        let count = self.checked_count(count, 2)?;
        let mut fields = Vec::with_capacity(count);
        for _ in 0..count {
            let tag = self.unsigned_varint()?;
            let size = self.unsigned_varint()? as usize;
            fields.push((tag, self.take(size)?));
        }
        Ok(fields)
    }

    /// Nothing may follow the last field.
    pub(super) fn end(&self) -> Result<(), TxnRecordError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(self.error(format!("{} bytes after the last field", self.buf.len())))
        }
    }
}

pub(super) fn put_unsigned_varint(out: &mut Vec<u8>, mut value: u32) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

pub(super) fn put_string(out: &mut Vec<u8>, s: &str) {
    let len = i16::try_from(s.len()).expect("callers keep strings within Kafka's 32767 bytes");
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

pub(super) fn put_compact_string(out: &mut Vec<u8>, s: &str) {
    put_unsigned_varint(out, s.len() as u32 + 1);
    out.extend_from_slice(s.as_bytes());
}

/// A classic array's count; `None` writes null.
pub(super) fn put_array_len(out: &mut Vec<u8>, count: Option<usize>) {
    let count = count.map_or(-1, |n| n as i32);
    out.extend_from_slice(&count.to_be_bytes());
}

/// A compact array's count; `None` writes null.
pub(super) fn put_compact_array_len(out: &mut Vec<u8>, count: Option<usize>) {
    put_unsigned_varint(out, count.map_or(0, |n| n as u32 + 1));
}

/// A tagged-field section from `(tag, bytes)` in ascending tag order.
pub(super) fn put_tagged_fields(out: &mut Vec<u8>, fields: &[(u32, Vec<u8>)]) {
    put_unsigned_varint(out, fields.len() as u32);
    for (tag, bytes) in fields {
        put_unsigned_varint(out, *tag);
        put_unsigned_varint(out, bytes.len() as u32);
        out.extend_from_slice(bytes);
    }
}
