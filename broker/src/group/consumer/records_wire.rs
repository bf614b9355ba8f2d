//! The primitives of Kafka's generated message code that the KIP-848 records use: big-endian
//! integers, UUIDs (16 bytes), classic int16-length strings (keys) and the flexible encodings
//! of the values — unsigned varints of length + 1 (0: null) for strings, bytes and arrays, and
//! a tagged-field section ending every struct.
//!
//! Reading never panics and never allocates from a length it has not checked against the
//! bytes left: every length past the end is an error.

use bytes::BufMut as _;
use uuid::Uuid;

use crate::group::offsets::RecordFormatError;

/// Kafka refuses strings longer than this (`0x7fff`), as its generated readers do.
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

    fn error(&self, reason: &str) -> RecordFormatError {
        RecordFormatError::new(format!("{}: {reason}", self.what))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], RecordFormatError> {
        if self.buf.len() < n {
            return Err(self.error("truncated"));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], RecordFormatError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub(super) fn i8(&mut self) -> Result<i8, RecordFormatError> {
        Ok(i8::from_be_bytes(self.fixed()?))
    }

    pub(super) fn i16(&mut self) -> Result<i16, RecordFormatError> {
        Ok(i16::from_be_bytes(self.fixed()?))
    }

    pub(super) fn i32(&mut self) -> Result<i32, RecordFormatError> {
        Ok(i32::from_be_bytes(self.fixed()?))
    }

    pub(super) fn i64(&mut self) -> Result<i64, RecordFormatError> {
        Ok(i64::from_be_bytes(self.fixed()?))
    }

    pub(super) fn uuid(&mut self) -> Result<Uuid, RecordFormatError> {
        Ok(Uuid::from_bytes(self.fixed()?))
    }

    pub(super) fn unsigned_varint(&mut self) -> Result<u32, RecordFormatError> {
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

    fn utf8(&self, bytes: &[u8]) -> Result<String, RecordFormatError> {
        String::from_utf8(bytes.to_vec()).map_err(|_| self.error("string is not UTF-8"))
    }

    /// A classic string (int16 length), as keys carry them; null is refused.
    pub(super) fn string(&mut self) -> Result<String, RecordFormatError> {
        let len = self.i16()?;
        let len = usize::try_from(len).map_err(|_| self.error("null string in a key"))?;
        let bytes = self.take(len)?;
        self.utf8(bytes)
    }

    /// A compact length (varint of length + 1), `None` for null, checked against the bytes left.
    fn compact_len(&mut self) -> Result<Option<usize>, RecordFormatError> {
        let Some(len) = self.unsigned_varint()?.checked_sub(1) else {
            return Ok(None);
        };
        let len = len as usize;
        if len > self.buf.len() {
            return Err(self.error("length past the end"));
        }
        Ok(Some(len))
    }

    pub(super) fn compact_nullable_string(&mut self) -> Result<Option<String>, RecordFormatError> {
        let Some(len) = self.compact_len()? else {
            return Ok(None);
        };
        if len > MAX_STRING_LEN {
            return Err(self.error("string longer than 32767 bytes"));
        }
        let bytes = self.take(len)?;
        self.utf8(bytes).map(Some)
    }

    pub(super) fn compact_string(&mut self) -> Result<String, RecordFormatError> {
        self.compact_nullable_string()?
            .ok_or_else(|| self.error("null in a non-nullable string"))
    }

    pub(super) fn compact_bytes(&mut self) -> Result<Vec<u8>, RecordFormatError> {
        let len = self
            .compact_len()?
            .ok_or_else(|| self.error("null in non-nullable bytes"))?;
        Ok(self.take(len)?.to_vec())
    }

    /// An array of `item`s, `None` for null. Every element takes at least one byte, so a count
    /// past the bytes left is damage, not a reason to allocate.
    pub(super) fn compact_nullable_array<T>(
        &mut self,
        mut item: impl FnMut(&mut Self) -> Result<T, RecordFormatError>,
    ) -> Result<Option<Vec<T>>, RecordFormatError> {
        let Some(len) = self.compact_len()? else {
            return Ok(None);
        };
        let mut out = Vec::with_capacity(len);
        for _ in 0..len {
            out.push(item(self)?);
        }
        Ok(Some(out))
    }

    pub(super) fn compact_array<T>(
        &mut self,
        item: impl FnMut(&mut Self) -> Result<T, RecordFormatError>,
    ) -> Result<Vec<T>, RecordFormatError> {
        self.compact_nullable_array(item)?
            .ok_or_else(|| self.error("null in a non-nullable array"))
    }

    /// A tagged-field section: `known` reads the fields it knows from a reader over exactly
    /// their bytes and returns whether it knew the tag; unknown tags are skipped.
    pub(super) fn tagged_fields(
        &mut self,
        mut known: impl FnMut(u32, &mut Reader<'a>) -> Result<bool, RecordFormatError>,
    ) -> Result<(), RecordFormatError> {
        let count = self.unsigned_varint()?;
        for _ in 0..count {
            let tag = self.unsigned_varint()?;
            let size = self.unsigned_varint()? as usize;
            let mut field = Reader::new(self.take(size)?, self.what);
            if known(tag, &mut field)? {
                field.end()?;
            }
        }
        Ok(())
    }

    /// A struct without tagged fields of its own that this broker reads: the section skipped.
    pub(super) fn skip_tagged_fields(&mut self) -> Result<(), RecordFormatError> {
        self.tagged_fields(|_, _| Ok(false))
    }

    /// The end of the key or value: bytes left over are damage.
    pub(super) fn end(&self) -> Result<(), RecordFormatError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(self.error("bytes after the last field"))
        }
    }
}

/// Classic string (int16 length), as keys carry them. Group and member ids and regular
/// expressions are checked to fit before they are stored; a longer one is cut at 32767 bytes
/// rather than written with a length that lies.
pub(super) fn put_string(out: &mut Vec<u8>, s: &str) {
    let len = floor_char_boundary(s, MAX_STRING_LEN);
    out.put_i16(len as i16);
    out.put_slice(&s.as_bytes()[..len]);
}

fn floor_char_boundary(s: &str, max: usize) -> usize {
    if s.len() <= max {
        return s.len();
    }
    (0..=max)
        .rev()
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(0)
}

pub(super) fn put_unsigned_varint(out: &mut Vec<u8>, mut value: u32) {
    while value >= 0x80 {
        out.put_u8((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.put_u8(value as u8);
}

/// A compact length: varint of `len + 1`.
pub(super) fn put_compact_len(out: &mut Vec<u8>, len: usize) {
    put_unsigned_varint(out, u32::try_from(len + 1).unwrap_or(u32::MAX));
}

pub(super) fn put_compact_string(out: &mut Vec<u8>, s: &str) {
    let len = floor_char_boundary(s, MAX_STRING_LEN);
    put_compact_len(out, len);
    out.put_slice(&s.as_bytes()[..len]);
}

pub(super) fn put_compact_nullable_string(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        None => put_unsigned_varint(out, 0),
        Some(s) => put_compact_string(out, s),
    }
}

pub(super) fn put_compact_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_compact_len(out, bytes.len());
    out.put_slice(bytes);
}

pub(super) fn put_compact_array<T>(out: &mut Vec<u8>, items: &[T], put: impl Fn(&mut Vec<u8>, &T)) {
    put_compact_len(out, items.len());
    for item in items {
        put(out, item);
    }
}

pub(super) fn put_uuid(out: &mut Vec<u8>, id: &uuid::Uuid) {
    out.put_slice(id.as_bytes());
}

/// A tagged-field section of the fields given, in ascending tag order (as Kafka writes them):
/// each `(tag, bytes)` becomes tag, size, bytes.
pub(super) fn put_tagged_fields(out: &mut Vec<u8>, fields: &[(u32, Vec<u8>)]) {
    put_unsigned_varint(out, fields.len() as u32);
    for (tag, bytes) in fields {
        put_unsigned_varint(out, *tag);
        put_unsigned_varint(out, bytes.len() as u32);
        out.put_slice(bytes);
    }
}
