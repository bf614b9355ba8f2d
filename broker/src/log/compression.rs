//! Decompression of a batch's records section, with a cap on the output.
//!
//! Codecs are Kafka's: 1 gzip, 2 snappy, 3 lz4, 4 zstd. All four decoders are pure Rust
//! (`flate2` on miniz_oxide, `snap`, `lz4_flex`, `ruzstd`), so hostile input meets no C code.
//!
//! - **gzip**: RFC 1952, several members read as one stream (as Java's `GZIPInputStream`).
//! - **snappy**: the Java client writes xerial framing (`SnappyOutputStream`: an 8-byte magic,
//!   two i32 versions, then blocks of `i32 length` + raw snappy); librdkafka writes one raw
//!   snappy block. Both are read: the magic picks the framing, as Kafka's `SnappyInputStream`
//!   and librdkafka do.
//! - **lz4**: the LZ4 frame format (Kafka's `Lz4BlockOutputStream` and librdkafka both write it).
//! - **zstd**: one or more concatenated frames.
//!
//! # The cap
//!
//! A batch is decoded whole in memory, so the output is capped at [`decompressed_limit`]:
//! 64 × `max.message.bytes` (64 MiB at Kafka's default), never less than 64 MiB and never more
//! than 1 GiB. `max.message.bytes` bounds a batch as stored — compressed — and real record
//! data (text, JSON, Avro) compresses 3–20:1 with these codecs, so 64:1 leaves room for every
//! batch a producer could have meant, while a compression bomb (gzip and zstd inflate zeros
//! past 1000:1) stops at the cap. The floor keeps batches written under a larger
//! `max.message.bytes` readable after the setting is lowered. Output buffers grow towards the
//! cap as bytes arrive, never from a size the input claims; raw snappy states its length up
//! front, which is checked against the cap before anything is allocated.

use std::io::Read;

use super::records::RecordError;

/// Smallest decompression cap, whatever `max.message.bytes` says.
pub const MIN_DECOMPRESSED_LIMIT: usize = 64 * 1024 * 1024;
/// Largest decompression cap, whatever `max.message.bytes` says.
pub const MAX_DECOMPRESSED_LIMIT: usize = 1024 * 1024 * 1024;
/// Allowed ratio of decompressed records to `max.message.bytes`.
const RATIO: usize = 64;

/// The decompression cap for a topic with this `max.message.bytes` (see the module docs).
pub fn decompressed_limit(max_message_bytes: u32) -> usize {
    (max_message_bytes as usize)
        .saturating_mul(RATIO)
        .clamp(MIN_DECOMPRESSED_LIMIT, MAX_DECOMPRESSED_LIMIT)
}

/// Decompresses `input` with Kafka codec `codec` (1..=4) into at most `limit` bytes.
pub fn decompress(codec: u8, input: &[u8], limit: usize) -> Result<Vec<u8>, RecordError> {
    match codec {
        1 => read_capped(
            "gzip",
            flate2::read::MultiGzDecoder::new(input),
            Vec::new(),
            limit,
        ),
        2 => snappy(input, limit),
        3 => read_capped(
            "lz4",
            lz4_flex::frame::FrameDecoder::new(input),
            Vec::new(),
            limit,
        ),
        4 => zstd(input, limit),
        other => Err(RecordError::UnsupportedCompression(other)),
    }
}

/// Reads `reader` to its end onto `out`, failing once `out` would exceed `limit` bytes. The
/// buffer grows by doubling as data arrives, never past `limit + 1`.
fn read_capped(
    codec: &'static str,
    mut reader: impl Read,
    mut out: Vec<u8>,
    limit: usize,
) -> Result<Vec<u8>, RecordError> {
    const FIRST_CHUNK: usize = 16 * 1024;
    let mut filled = out.len();
    loop {
        if filled == out.len() {
            if filled > limit {
                return Err(RecordError::TooLarge { limit });
            }
            let grow = filled.max(FIRST_CHUNK).min(limit + 1 - filled);
            out.resize(filled + grow, 0);
        }
        match reader.read(&mut out[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(failed(codec, e)),
        }
    }
    out.truncate(filled);
    Ok(out)
}

fn failed(codec: &'static str, reason: impl std::fmt::Display) -> RecordError {
    RecordError::Decompress {
        codec,
        reason: reason.to_string(),
    }
}

/// Magic of xerial snappy-java's stream format, followed by two big-endian i32 versions.
const XERIAL_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
const XERIAL_HEADER: usize = 16;

fn snappy(input: &[u8], limit: usize) -> Result<Vec<u8>, RecordError> {
    let mut out = Vec::new();
    if !input.starts_with(&XERIAL_MAGIC) {
        raw_snappy(input, &mut out, limit)?;
        return Ok(out);
    }
    let mut pos = XERIAL_HEADER;
    if input.len() < pos {
        return Err(failed("snappy", "xerial header is truncated"));
    }
    while pos < input.len() {
        let Some(length) = input.get(pos..pos + 4) else {
            return Err(failed("snappy", "xerial block length is truncated"));
        };
        let length = u32::from_be_bytes([length[0], length[1], length[2], length[3]]) as usize;
        pos += 4;
        let Some(block) = input.get(pos..).and_then(|rest| rest.get(..length)) else {
            return Err(failed(
                "snappy",
                format!("xerial block of {length} bytes runs past the input"),
            ));
        };
        raw_snappy(block, &mut out, limit)?;
        pos += length;
    }
    Ok(out)
}

/// Appends one raw snappy block to `out`; its stated length is checked first.
fn raw_snappy(block: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<(), RecordError> {
    let length = snap::raw::decompress_len(block).map_err(|e| failed("snappy", e))?;
    let start = out.len();
    if length > limit - start {
        return Err(RecordError::TooLarge { limit });
    }
    out.resize(start + length, 0);
    let written = snap::raw::Decoder::new()
        .decompress(block, &mut out[start..])
        .map_err(|e| failed("snappy", e))?;
    out.truncate(start + written);
    Ok(())
}

fn zstd(input: &[u8], limit: usize) -> Result<Vec<u8>, RecordError> {
    let mut rest = input;
    let mut out = Vec::new();
    // One frame per pass: the decoder reads exactly its frame from `rest`.
    loop {
        let decoder =
            ruzstd::decoding::StreamingDecoder::new(&mut rest).map_err(|e| failed("zstd", e))?;
        out = read_capped("zstd", decoder, out, limit)?;
        if rest.is_empty() {
            return Ok(out);
        }
    }
}

/// Compresses a records section with Kafka codec `codec` (1..=4), for batches the cleaner
/// rewrites: gzip, snappy in xerial framing (what the Java client writes; librdkafka reads it
/// too), an LZ4 frame with independent blocks, one zstd frame.
pub fn compress(codec: u8, input: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::Write as _;
    match codec {
        1 => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(input)?;
            e.finish()
        }
        2 => {
            let mut out = XERIAL_MAGIC.to_vec();
            out.extend_from_slice(&1i32.to_be_bytes()); // version
            out.extend_from_slice(&1i32.to_be_bytes()); // compatible version
            let mut encoder = snap::raw::Encoder::new();
            for block in input.chunks(XERIAL_BLOCK) {
                let compressed = encoder.compress_vec(block).map_err(std::io::Error::other)?;
                out.extend_from_slice(&(compressed.len() as u32).to_be_bytes());
                out.extend_from_slice(&compressed);
            }
            Ok(out)
        }
        3 => {
            let mut e = lz4_flex::frame::FrameEncoder::new(Vec::new());
            e.write_all(input)?;
            e.finish().map_err(std::io::Error::other)
        }
        4 => Ok(ruzstd::encoding::compress_to_vec(
            input,
            ruzstd::encoding::CompressionLevel::Fastest,
        )),
        other => Err(std::io::Error::other(format!(
            "compression codec {other} is not supported"
        ))),
    }
}

/// snappy-java's default block size.
const XERIAL_BLOCK: usize = 32 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_compress_writes_decompresses_to_the_input_in_every_codec() {
        let input: Vec<u8> = (0..100_000u32)
            .flat_map(|i| (i % 251).to_be_bytes())
            .collect();
        for codec in 1..=4 {
            let compressed = compress(codec, &input).expect("compresses");
            assert!(
                compressed.len() < input.len(),
                "codec {codec} compressed nothing"
            );
            assert_eq!(
                decompress(codec, &compressed, 1 << 24).expect("decompresses"),
                input,
                "codec {codec}"
            );
        }
        assert!(compress(5, b"x").is_err());
    }

    #[test]
    fn the_cap_follows_max_message_bytes_between_its_bounds() {
        assert_eq!(decompressed_limit(1_048_588), 64 * 1_048_588);
        assert_eq!(decompressed_limit(1000), MIN_DECOMPRESSED_LIMIT);
        assert_eq!(decompressed_limit(u32::MAX), MAX_DECOMPRESSED_LIMIT);
    }

    #[test]
    fn read_capped_stops_one_byte_past_the_limit() {
        let data = vec![7u8; 100_000];
        let out = read_capped("test", &data[..], Vec::new(), 100_000).expect("fits exactly");
        assert_eq!(out, data);
        assert_eq!(
            read_capped("test", &data[..], Vec::new(), 99_999),
            Err(RecordError::TooLarge { limit: 99_999 })
        );
        // A reader that never ends is cut off at the cap, not read forever.
        assert_eq!(
            read_capped("test", std::io::repeat(0), Vec::new(), 1 << 20),
            Err(RecordError::TooLarge { limit: 1 << 20 })
        );
    }

    #[test]
    fn an_unknown_codec_is_unsupported() {
        assert_eq!(
            decompress(5, b"x", 10),
            Err(RecordError::UnsupportedCompression(5))
        );
    }
}
