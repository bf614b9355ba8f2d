//! The raw Kafka sink: the least a server can do and still be a Kafka broker
//! to librdkafka's producer. It answers ApiVersions and Metadata (one broker,
//! every topic with the case's partition count) and, for Produce, appends
//! each partition's record bytes as they arrived to one file, `fdatasync`s it
//! once per request when the policy is `sync`, and answers with base offsets.
//! No CRC check, no index, no per-partition file, no producer state, and one
//! request at a time per connection (so `sync` pays one fsync per request,
//! where a broker with group commit overlaps them).
//!
//! Driven by the same client as the brokers, it separates what the client and
//! the disk cost on this machine from what a broker adds: the raw baseline's
//! client is a memory-copy loop, which no Kafka client matches.
//!
//! ```text
//!   accept thread ──► one thread per connection: read frame, decode header,
//!                     ApiVersions | Metadata | Produce → append (+ fdatasync) → answer
//! ```

use std::fs::File;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::FileExt as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, bail};
use bytes::{Buf as _, BufMut as _, Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, BrokerId, MetadataRequest, MetadataResponse, ProduceRequest,
    ProduceResponse, RequestHeader, ResponseHeader,
};
use kafka_protocol::protocol::{Decodable as _, Encodable as _, StrBytes};

use crate::raw::Durability;

/// Versions the sink answers: ones librdkafka 2.x speaks and the protocol
/// crate encodes.
const VERSIONS: [(ApiKey, i16, i16); 3] = [
    (ApiKey::Produce, 3, 9),
    (ApiKey::Metadata, 4, 12),
    (ApiKey::ApiVersions, 0, 3),
];
const NODE_ID: i32 = 1;
/// A frame longer than this closes the connection.
const MAX_FRAME: usize = 100 << 20;

/// A running sink; stops (and its threads end) when dropped.
pub struct RawKafkaSink {
    address: SocketAddr,
    stop: Arc<AtomicBool>,
    accept: Option<std::thread::JoinHandle<()>>,
}

impl RawKafkaSink {
    /// Listens on a free loopback port, appending to `file`; every topic has
    /// `partitions` partitions.
    pub fn start(file: File, partitions: i32, durability: Durability) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let address = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Log {
            file,
            state: Mutex::new(LogState {
                end: 0,
                next_offsets: vec![0; usize::try_from(partitions.max(1))?],
            }),
            durability,
        });
        let accept_stop = stop.clone();
        let accept = std::thread::spawn(move || {
            while !accept_stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (log, stop) = (log.clone(), accept_stop.clone());
                        std::thread::spawn(move || {
                            if let Err(error) = serve(stream, &log, address, &stop) {
                                eprintln!("[bench] raw-kafka connection: {error:#}");
                            }
                        });
                    }
                    Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(error) => {
                        eprintln!("[bench] raw-kafka accept: {error}");
                        return;
                    }
                }
            }
        });
        Ok(Self {
            address,
            stop,
            accept: Some(accept),
        })
    }

    pub fn bootstrap(&self) -> String {
        self.address.to_string()
    }
}

impl Drop for RawKafkaSink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

struct Log {
    file: File,
    state: Mutex<LogState>,
    durability: Durability,
}

struct LogState {
    /// Bytes written to the file.
    end: u64,
    next_offsets: Vec<i64>,
}

/// Answers one connection's requests in order until it closes or the sink
/// stops.
fn serve(
    mut stream: TcpStream,
    log: &Log,
    address: SocketAddr,
    stop: &AtomicBool,
) -> anyhow::Result<()> {
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_millis(200)))?;
    while !stop.load(Ordering::Relaxed) {
        let mut size = [0u8; 4];
        match stream.read_exact(&mut size) {
            Ok(()) => {}
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(error) => return Err(error.into()),
        }
        let size = usize::try_from(i32::from_be_bytes(size)).context("negative frame size")?;
        if size > MAX_FRAME {
            bail!("frame of {size} bytes");
        }
        let mut frame = vec![0; size];
        read_fully(&mut stream, &mut frame, stop)?;
        if let Some(answer) = answer(Bytes::from(frame), log, address)? {
            stream.write_all(&answer)?;
        }
    }
    Ok(())
}

/// `read_exact` that keeps going through read timeouts (which only exist so
/// the connection notices the sink stopping).
fn read_fully(stream: &mut TcpStream, mut buf: &mut [u8], stop: &AtomicBool) -> anyhow::Result<()> {
    while !buf.is_empty() {
        match stream.read(buf) {
            Ok(0) => bail!("connection closed mid-frame"),
            Ok(n) => buf = &mut buf[n..],
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) && !stop.load(Ordering::Relaxed) => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(())
}

/// The answer frame to one request frame; `None` for acks=0 produces.
fn answer(mut frame: Bytes, log: &Log, address: SocketAddr) -> anyhow::Result<Option<BytesMut>> {
    if frame.len() < 4 {
        bail!("a frame of {} bytes", frame.len());
    }
    let api_key = ApiKey::try_from(i16::from_be_bytes([frame[0], frame[1]]))
        .map_err(|()| anyhow::anyhow!("unknown api key"))?;
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let header = RequestHeader::decode(&mut frame, api_key.request_header_version(version))?;
    let mut out = BytesMut::with_capacity(256);
    out.put_i32(0);
    ResponseHeader::default()
        .with_correlation_id(header.correlation_id)
        .encode(&mut out, api_key.response_header_version(version))?;
    match api_key {
        ApiKey::ApiVersions => {
            // An unknown ApiVersions version is answered at v0 (KIP-511).
            let version = if version > 3 { 0 } else { version };
            api_versions().encode(&mut out, version)?;
        }
        ApiKey::Metadata => {
            let request = MetadataRequest::decode(&mut frame, version)?;
            metadata(&request, log, address)?.encode(&mut out, version)?;
        }
        ApiKey::Produce => {
            let request = ProduceRequest::decode(&mut frame, version)?;
            let acks = request.acks;
            let response = produce(request, log)?;
            if acks == 0 {
                return Ok(None);
            }
            response.encode(&mut out, version)?;
        }
        other => bail!("the raw Kafka sink does not answer {other:?}"),
    }
    let size = i32::try_from(out.len() - 4)?;
    out[..4].copy_from_slice(&size.to_be_bytes());
    Ok(Some(out))
}

fn api_versions() -> ApiVersionsResponse {
    ApiVersionsResponse::default().with_api_keys(
        VERSIONS
            .iter()
            .map(|(key, min, max)| {
                ApiVersion::default()
                    .with_api_key(*key as i16)
                    .with_min_version(*min)
                    .with_max_version(*max)
            })
            .collect(),
    )
}

fn metadata(
    request: &MetadataRequest,
    log: &Log,
    address: SocketAddr,
) -> anyhow::Result<MetadataResponse> {
    let partitions = log
        .state
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .next_offsets
        .len();
    let topics = request
        .topics
        .iter()
        .flatten()
        .map(|topic| {
            MetadataResponseTopic::default()
                .with_name(topic.name.clone())
                .with_partitions(
                    (0..i32::try_from(partitions).unwrap_or(1))
                        .map(|index| {
                            MetadataResponsePartition::default()
                                .with_partition_index(index)
                                .with_leader_id(BrokerId(NODE_ID))
                                .with_replica_nodes(vec![BrokerId(NODE_ID)])
                                .with_isr_nodes(vec![BrokerId(NODE_ID)])
                        })
                        .collect(),
                )
        })
        .collect();
    Ok(MetadataResponse::default()
        .with_brokers(vec![
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(NODE_ID))
                .with_host(StrBytes::from_string(address.ip().to_string()))
                .with_port(i32::from(address.port())),
        ])
        .with_cluster_id(Some(StrBytes::from_static_str("raw-kafka")))
        .with_controller_id(BrokerId(NODE_ID))
        .with_topics(topics))
}

/// Appends every partition's records, in request order, to the one file,
/// then fsyncs it once (policy `sync`).
fn produce(request: ProduceRequest, log: &Log) -> anyhow::Result<ProduceResponse> {
    let mut topics = Vec::with_capacity(request.topic_data.len());
    for topic in request.topic_data {
        let mut partitions = Vec::with_capacity(topic.partition_data.len());
        for data in topic.partition_data {
            let records = data.records.unwrap_or_default();
            let count = record_count(&records)?;
            let base_offset = {
                let mut state = log.state.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
                let index = usize::try_from(data.index).context("partition index")?;
                let next = state
                    .next_offsets
                    .get_mut(index)
                    .with_context(|| format!("no partition {index}"))?;
                let base = *next;
                *next += count;
                let at = state.end;
                state.end += records.len() as u64;
                drop(state);
                log.file.write_all_at(&records, at)?;
                base
            };
            partitions.push(
                PartitionProduceResponse::default()
                    .with_index(data.index)
                    .with_base_offset(base_offset)
                    .with_log_append_time_ms(-1),
            );
        }
        topics.push(
            TopicProduceResponse::default()
                .with_name(topic.name)
                .with_partition_responses(partitions),
        );
    }
    if log.durability == Durability::Sync {
        log.file.sync_data()?;
    }
    Ok(ProduceResponse::default().with_responses(topics))
}

/// Records in a run of v2 batches, from their headers.
fn record_count(mut records: &[u8]) -> anyhow::Result<i64> {
    let mut count = 0i64;
    while !records.is_empty() {
        if records.len() < 61 {
            bail!("{} bytes after the last whole batch", records.len());
        }
        let length = usize::try_from((&records[8..12]).get_i32()).context("batch length")?;
        let last_offset_delta = (&records[23..27]).get_i32();
        count += i64::from(last_offset_delta) + 1;
        records = records.get(12 + length..).context("a cut batch")?;
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka_load::{self, Acks, Budget};

    #[test]
    fn librdkafka_produces_through_the_sink_into_its_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("raw-kafka.log");
        let sink = RawKafkaSink::start(File::create(&path).expect("file"), 4, Durability::Sync)
            .expect("sink");
        let budget = Budget {
            duration: Duration::from_secs(20),
            bytes: 100 * 20_000,
            records: u64::MAX,
        };
        let produced = kafka_load::produce(&sink.bootstrap(), "t", 4, 100, Acks::All, budget)
            .expect("produce");
        assert_eq!((produced.sent, produced.records), (20_000, 20_000));
        assert_eq!(produced.errors, 0, "{:?}", produced.first_error);
        drop(sink);
        // Every record's value is in the file, inside its batch.
        let written = std::fs::metadata(&path).expect("file").len();
        assert!(written > 100 * 20_000, "{written} bytes");
    }

    #[test]
    fn records_are_counted_from_batch_headers() {
        let mut batch = [0u8; 70];
        batch[8..12].copy_from_slice(&58i32.to_be_bytes()); // 12 + 58 = 70 bytes
        batch[23..27].copy_from_slice(&4i32.to_be_bytes()); // 5 records
        let two: Vec<u8> = batch.iter().chain(batch.iter()).copied().collect();
        assert_eq!(record_count(&two).expect("whole"), 10);
        assert!(record_count(&two[..100]).is_err(), "a cut batch");
    }
}
