//! The raw baseline: the least work that moves records over loopback TCP into
//! a file and back, with the same durability policy as the broker under test.
//!
//! ```text
//!   client (this thread)                       sink thread
//!   build batch: [u32 len][payload] x N  ──►   read batch header, read frames,
//!   up to IN_FLIGHT batches unacknowledged      check each frame's length,
//!   ack reader thread ◄── u64 record count ──   write_all to the file,
//!   latency = ack time - batch send time        fdatasync when the policy is sync
//! ```
//!
//! A batch on the wire is `u32 frame bytes, u32 frame count`, then the frames.
//! Batches are as large as librdkafka's (1,000,000 bytes or 10,000 records),
//! and as many may be unacknowledged as librdkafka keeps requests in flight
//! (5). The reader walks the file frame by frame through a 1 MiB buffer,
//! copying each payload out as a client would.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::kafka_load::{Budget, Fetched, Produced};
use crate::stats::Latency;

/// Frame bytes per batch at most, as librdkafka's `batch.size`.
const BATCH_BYTES: usize = 1_000_000;
/// Records per batch at most, as librdkafka's `batch.num.messages`.
const BATCH_RECORDS: usize = 10_000;
/// Unacknowledged batches at most, as librdkafka's in-flight request limit.
const IN_FLIGHT: usize = 5;
/// A frame longer than this is refused by the sink.
const MAX_FRAME: u32 = 1 << 20;

/// Whether the sink fsyncs each batch before acknowledging it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    Sync,
    Os,
}

/// Sends `record_size`-byte records through a loopback sink into `file`
/// until `budget` is spent. Latency figures are per batch.
pub fn write(
    file: &Path,
    record_size: usize,
    durability: Durability,
    budget: Budget,
) -> anyhow::Result<Produced> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let address = listener.local_addr()?;
    let out = File::create(file).with_context(|| format!("creating {}", file.display()))?;
    let sink = std::thread::spawn(move || -> anyhow::Result<()> {
        let (stream, _) = listener.accept()?;
        sink(stream, out, durability)
    });

    let stream = TcpStream::connect(address)?;
    stream.set_nodelay(true)?;
    let mut acks = stream.try_clone()?;
    let mut writer = BufWriter::with_capacity(256 << 10, stream);
    // Send times of the unacknowledged batches; its bound is the window.
    let (in_flight, sent_times) = mpsc::sync_channel::<(Instant, u32)>(IN_FLIGHT - 1);
    let started = Instant::now();
    let ack_reader = std::thread::spawn(move || -> anyhow::Result<(u64, Vec<u32>)> {
        let (mut records, mut latencies) = (0u64, Vec::new());
        while let Ok((sent_at, count)) = sent_times.recv() {
            let mut ack = [0u8; 8];
            acks.read_exact(&mut ack).context("reading an ack")?;
            if u64::from_le_bytes(ack) != u64::from(count) {
                bail!(
                    "sink acknowledged {} records, {count} sent",
                    u64::from_le_bytes(ack)
                );
            }
            records += u64::from(count);
            latencies.push(u32::try_from(sent_at.elapsed().as_micros()).unwrap_or(u32::MAX));
        }
        Ok((records, latencies))
    });

    let payload: Vec<u8> = (0..record_size).map(|i| (i % 251) as u8).collect();
    let frame_len = u32::try_from(record_size).context("record size")?;
    let per_batch = (BATCH_BYTES / (record_size + 4)).clamp(1, BATCH_RECORDS);
    let max_records = budget.max_records(record_size);
    let mut sent = 0u64;
    let mut send_error = None;
    while sent < max_records && started.elapsed() < budget.duration {
        let count = per_batch.min(usize::try_from(max_records - sent).unwrap_or(per_batch));
        let count32 = u32::try_from(count).context("batch count")?;
        let sent_at = Instant::now();
        if in_flight.send((sent_at, count32)).is_err() {
            break; // the ack reader failed; its error is reported below
        }
        let result = (|| -> std::io::Result<()> {
            writer.write_all(&(count32 * (frame_len + 4)).to_le_bytes())?;
            writer.write_all(&count32.to_le_bytes())?;
            for _ in 0..count {
                writer.write_all(&frame_len.to_le_bytes())?;
                writer.write_all(&payload)?;
            }
            writer.flush()
        })();
        if let Err(error) = result {
            send_error = Some(error);
            break;
        }
        sent += count as u64;
    }
    drop(in_flight);
    let (records, mut latencies) = ack_reader
        .join()
        .map_err(|_| anyhow::anyhow!("ack reader panicked"))??;
    let elapsed = started.elapsed();
    drop(writer); // end of stream: the sink returns
    sink.join()
        .map_err(|_| anyhow::anyhow!("sink panicked"))??;
    if let Some(error) = send_error {
        bail!("sending to the raw sink: {error}");
    }
    Ok(Produced {
        sent,
        records,
        bytes: records * record_size as u64,
        elapsed,
        latency: Latency::from_micros(&mut latencies),
        errors: 0,
        first_error: None,
    })
}

/// The sink: one connection, batches appended to `out` in arrival order.
fn sink(stream: TcpStream, out: File, durability: Durability) -> anyhow::Result<()> {
    let mut reader = BufReader::with_capacity(1 << 20, stream.try_clone()?);
    let mut acks = stream;
    let mut out = out;
    let mut batch = Vec::new();
    loop {
        let mut header = [0u8; 8];
        match reader.read_exact(&mut header) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(error) => return Err(error.into()),
        }
        let bytes = u32::from_le_bytes(header[..4].try_into().expect("4 bytes"));
        let count = u32::from_le_bytes(header[4..].try_into().expect("4 bytes"));
        if bytes as usize > BATCH_BYTES + BATCH_RECORDS * 4 {
            bail!("batch of {bytes} bytes is too large");
        }
        batch.resize(bytes as usize, 0);
        reader.read_exact(&mut batch)?;
        let frames = count_frames(&batch)?;
        if frames != count {
            bail!("batch holds {frames} frames, header says {count}");
        }
        out.write_all(&batch)?;
        if durability == Durability::Sync {
            out.sync_data()?;
        }
        acks.write_all(&u64::from(count).to_le_bytes())?;
    }
}

/// Counts the length-prefixed frames of a batch, checking that they tile it.
pub fn count_frames(batch: &[u8]) -> anyhow::Result<u32> {
    let (mut at, mut frames) = (0usize, 0u32);
    while at < batch.len() {
        let Some(prefix) = batch.get(at..at + 4) else {
            bail!("truncated frame length at byte {at}");
        };
        let len = u32::from_le_bytes(prefix.try_into().expect("4 bytes"));
        if len > MAX_FRAME {
            bail!("frame of {len} bytes at byte {at}");
        }
        at += 4 + len as usize;
        if at > batch.len() {
            bail!("truncated frame ending at byte {at}");
        }
        frames += 1;
    }
    Ok(frames)
}

/// Reads the file written by [`write`] back, frame by frame.
pub fn read(file: &Path) -> anyhow::Result<Fetched> {
    let started = Instant::now();
    let mut reader = BufReader::with_capacity(1 << 20, File::open(file)?);
    let (mut records, mut bytes) = (0u64, 0u64);
    let mut payload = vec![0u8; MAX_FRAME as usize];
    let deadline = Duration::from_secs(120);
    loop {
        let mut prefix = [0u8; 4];
        match reader.read_exact(&mut prefix) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(error) => return Err(error.into()),
        }
        let len = u32::from_le_bytes(prefix);
        if len > MAX_FRAME {
            bail!("frame of {len} bytes in {}", file.display());
        }
        reader.read_exact(&mut payload[..len as usize])?;
        records += 1;
        bytes += u64::from(len);
        if records.is_multiple_of(1 << 16) && started.elapsed() > deadline {
            bail!("reading {} took over {deadline:?}", file.display());
        }
    }
    Ok(Fetched {
        records,
        bytes,
        elapsed: started.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(lens: &[u32]) -> Vec<u8> {
        let mut batch = Vec::new();
        for len in lens {
            batch.extend(len.to_le_bytes());
            batch.extend(std::iter::repeat_n(7u8, *len as usize));
        }
        batch
    }

    #[test]
    fn frames_that_tile_the_batch_are_counted() {
        assert_eq!(count_frames(&frames(&[3, 0, 100])).expect("valid"), 3);
        assert_eq!(count_frames(&[]).expect("valid"), 0);
    }

    #[test]
    fn a_truncated_frame_is_refused() {
        let mut batch = frames(&[10, 10]);
        batch.pop();
        assert!(count_frames(&batch).is_err());
        assert!(count_frames(&[1, 0]).is_err());
    }

    #[test]
    fn a_small_run_round_trips_through_the_sink_and_the_reader() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("raw.log");
        let budget = Budget {
            duration: Duration::from_secs(10),
            bytes: 100 * 25_000,
            records: u64::MAX,
        };
        let written = write(&file, 100, Durability::Os, budget).expect("write");
        assert_eq!(written.records, 25_000);
        assert_eq!(written.sent, 25_000);
        let read = read(&file).expect("read");
        assert_eq!(read.records, 25_000);
        assert_eq!(read.bytes, 2_500_000);
    }
}
