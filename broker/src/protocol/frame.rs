//! Length-prefixed frames: a big-endian `i32` size, then that many bytes.
//!
//! The buffer grows with the bytes that actually arrive (doubling, so a large
//! frame is not copied over and over as it grows), never with the size a peer
//! claims, so a peer announcing 100 MiB and sending nothing costs nothing.

use bytes::{Buf as _, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt as _};

/// How much the read buffer grows per read at least (while the frame needs
/// it); beyond that it grows by the bytes it already holds.
const READ_CHUNK: usize = 64 * 1024;

/// Frames smaller than this are copied out of the read buffer into their own allocation.
/// A frame split off the buffer shares its allocation (64 KiB and up), and what a request
/// decodes to holds slices of its frame: a group member's metadata or assignment kept from a
/// 200-byte JoinGroup would otherwise keep a whole read buffer alive for as long as the member
/// lasts. Larger frames (produce requests) stay zero-copy; they fill most of their buffer.
const COPY_FRAMES_BELOW: usize = 16 * 1024;

/// Why a connection's frame stream ended.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("frame size {size} is outside 8..={max} (socket.request.max.bytes)")]
    BadSize { size: i64, max: u32 },
    #[error("connection closed in the middle of a frame")]
    Truncated,
    #[error("reading from the connection: {0}")]
    Io(#[from] std::io::Error),
}

/// The fixed start of every request: key, version and correlation id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prelude {
    pub api_key: i16,
    pub api_version: i16,
    pub correlation_id: i32,
}

/// Smallest valid request frame: api key, api version, correlation id.
pub const PRELUDE_LEN: usize = 8;

impl Prelude {
    /// Reads the prelude of a frame; `None` when the frame is too short.
    pub fn read(frame: &[u8]) -> Option<Self> {
        let mut head = frame.get(..PRELUDE_LEN)?;
        Some(Self {
            api_key: head.get_i16(),
            api_version: head.get_i16(),
            correlation_id: head.get_i32(),
        })
    }
}

/// Reads frames from one connection.
#[derive(Debug)]
pub struct FrameReader {
    buffer: BytesMut,
    max_size: u32,
}

impl FrameReader {
    pub fn new(max_size: u32) -> Self {
        Self {
            buffer: BytesMut::with_capacity(8 * 1024),
            max_size,
        }
    }

    /// Next whole frame (without its size prefix); `Ok(None)` on a clean end
    /// of stream between frames.
    ///
    /// Cancel-safe: bytes read before cancellation stay buffered.
    pub async fn next<R: AsyncRead + Unpin>(
        &mut self,
        io: &mut R,
    ) -> Result<Option<Bytes>, FrameError> {
        loop {
            if let Some(frame) = self.take_frame()? {
                return Ok(Some(frame));
            }
            // Grow by what already arrived (doubling), at least a chunk, at
            // most the rest of the frame: a large frame is copied a bounded
            // number of times as it grows (not once per chunk), and the
            // allocation stays within a few times the bytes received.
            let step = self.buffer.len().max(READ_CHUNK);
            let wanted = self.bytes_wanted().clamp(1, step);
            self.buffer.reserve(wanted);
            if io.read_buf(&mut self.buffer).await? == 0 {
                return if self.buffer.is_empty() {
                    Ok(None)
                } else {
                    Err(FrameError::Truncated)
                };
            }
        }
    }

    /// Bytes still missing for the frame being read.
    fn bytes_wanted(&self) -> usize {
        if self.buffer.len() < 4 {
            return 4 - self.buffer.len();
        }
        let size = (&self.buffer[..4]).get_i32() as usize;
        (4 + size).saturating_sub(self.buffer.len())
    }

    fn take_frame(&mut self) -> Result<Option<Bytes>, FrameError> {
        if self.buffer.len() < 4 {
            return Ok(None);
        }
        let size = (&self.buffer[..4]).get_i32();
        if size < PRELUDE_LEN as i32 || size as u32 > self.max_size {
            return Err(FrameError::BadSize {
                size: size.into(),
                max: self.max_size,
            });
        }
        let total = 4 + size as usize;
        if self.buffer.len() < total {
            return Ok(None);
        }
        if total < COPY_FRAMES_BELOW {
            let frame = Bytes::copy_from_slice(&self.buffer[4..total]);
            self.buffer.advance(total);
            return Ok(Some(frame));
        }
        let mut frame = self.buffer.split_to(total);
        frame.advance(4);
        Ok(Some(frame.freeze()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(body: &[u8]) -> Vec<u8> {
        let mut out = (body.len() as i32).to_be_bytes().to_vec();
        out.extend_from_slice(body);
        out
    }

    #[tokio::test]
    async fn pipelined_frames_come_out_whole_and_in_order() {
        let mut wire = framed(b"first-frame");
        wire.extend(framed(b"second-frame!"));
        let mut reader = FrameReader::new(1024);
        let mut io = &wire[..];
        assert_eq!(
            reader.next(&mut io).await.unwrap().unwrap(),
            &b"first-frame"[..]
        );
        assert_eq!(
            reader.next(&mut io).await.unwrap().unwrap(),
            &b"second-frame!"[..]
        );
        assert!(reader.next(&mut io).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_frame_cut_short_is_truncated_not_a_clean_end() {
        let wire = framed(b"0123456789");
        let mut reader = FrameReader::new(1024);
        let mut io = &wire[..9];
        assert!(matches!(
            reader.next(&mut io).await,
            Err(FrameError::Truncated)
        ));
    }

    #[tokio::test]
    async fn sizes_below_the_prelude_negative_or_over_the_limit_are_refused() {
        for size in [-1i32, 0, 3, 7, 1025, i32::MAX] {
            let mut reader = FrameReader::new(1024);
            let wire = size.to_be_bytes();
            let mut io = &wire[..];
            let result = reader.next(&mut io).await;
            assert!(
                matches!(result, Err(FrameError::BadSize { .. })),
                "size {size}: {result:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_claimed_size_does_not_allocate_before_bytes_arrive() {
        let mut reader = FrameReader::new(u32::MAX);
        let wire = (100 * 1024 * 1024i32).to_be_bytes();
        let mut io = &wire[..];
        assert!(matches!(
            reader.next(&mut io).await,
            Err(FrameError::Truncated)
        ));
        assert!(reader.buffer.capacity() <= 2 * READ_CHUNK);
    }

    #[tokio::test]
    async fn a_large_frame_grows_the_buffer_within_a_few_times_what_arrived() {
        let mut reader = FrameReader::new(u32::MAX);
        let mut wire = (16 * 1024 * 1024i32).to_be_bytes().to_vec();
        wire.extend(vec![7u8; 1024 * 1024]);
        let mut io = &wire[..];
        assert!(matches!(
            reader.next(&mut io).await,
            Err(FrameError::Truncated)
        ));
        let arrived = reader.buffer.len();
        assert_eq!(arrived, wire.len());
        let capacity = reader.buffer.capacity();
        assert!(
            capacity <= 4 * arrived + READ_CHUNK,
            "{capacity} bytes held for {arrived} received"
        );
    }

    #[test]
    fn a_small_frame_owns_its_bytes_and_a_large_one_stays_in_the_buffer() {
        let mut reader = FrameReader::new(u32::MAX);
        let large = vec![9u8; COPY_FRAMES_BELOW];
        reader.buffer.extend_from_slice(&framed(b"join-group"));
        reader.buffer.extend_from_slice(&framed(&large));
        let start = reader.buffer.as_ptr() as usize;
        let buffer = start..start + reader.buffer.capacity();

        let small = reader.take_frame().unwrap().unwrap();
        assert_eq!(small, &b"join-group"[..]);
        assert!(
            !buffer.contains(&(small.as_ptr() as usize)),
            "a small frame must not keep the read buffer alive"
        );
        let big = reader.take_frame().unwrap().unwrap();
        assert_eq!(big.len(), large.len());
        assert!(
            buffer.contains(&(big.as_ptr() as usize)),
            "a large frame is not copied"
        );
        assert!(reader.take_frame().unwrap().is_none());
    }

    #[test]
    fn the_prelude_needs_eight_bytes() {
        assert_eq!(Prelude::read(&[0, 18, 0, 3, 0, 0, 0]), None);
        assert_eq!(
            Prelude::read(&[0, 18, 0, 3, 0, 0, 0, 42]),
            Some(Prelude {
                api_key: 18,
                api_version: 3,
                correlation_id: 42
            })
        );
    }
}
