//! A raw Kafka protocol client for tests that must send what no well-behaved
//! client sends: corrupt batches, old message formats, bad acks. Requests and
//! responses are encoded and decoded with the `kafka-protocol` crate; record
//! batches are built by hand so they can be broken on purpose.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::Context as _;
use bytes::{Buf as _, BufMut as _, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::{Decodable as _, Encodable as _, StrBytes};

/// One connection speaking the Kafka protocol.
pub struct WireClient {
    stream: TcpStream,
    correlation_id: i32,
}

impl WireClient {
    pub fn connect(addr: SocketAddr) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        Ok(Self {
            stream,
            correlation_id: 0,
        })
    }

    /// Sends `request` at `version` and returns the decoded response.
    pub fn call(
        &mut self,
        api_key: ApiKey,
        version: i16,
        request: RequestKind,
    ) -> anyhow::Result<ResponseKind> {
        let sent = self.send(api_key, version, request)?;
        let (correlation_id, response) = self.receive(api_key, version)?;
        anyhow::ensure!(correlation_id == sent, "correlation id mismatch");
        Ok(response)
    }

    /// Sends `request` without waiting for its answer (pipelining); returns
    /// its correlation id.
    pub fn send(
        &mut self,
        api_key: ApiKey,
        version: i16,
        request: RequestKind,
    ) -> anyhow::Result<i32> {
        self.correlation_id += 1;
        let header = RequestHeader::default()
            .with_request_api_key(api_key as i16)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation_id)
            .with_client_id(Some(StrBytes::from_static_str("fjord-wire-test")));
        let mut body = BytesMut::new();
        header.encode(&mut body, api_key.request_header_version(version))?;
        request.encode(&mut body, version)?;
        let mut frame = BytesMut::with_capacity(body.len() + 4);
        frame.put_i32(i32::try_from(body.len())?);
        frame.put_slice(&body);
        self.stream.write_all(&frame)?;
        Ok(self.correlation_id)
    }

    /// Reads the next answer, which must be for `api_key` at `version`;
    /// returns its correlation id with it.
    pub fn receive(
        &mut self,
        api_key: ApiKey,
        version: i16,
    ) -> anyhow::Result<(i32, ResponseKind)> {
        let mut size = [0u8; 4];
        self.stream
            .read_exact(&mut size)
            .context("reading the response size (connection closed?)")?;
        let mut payload = vec![0u8; usize::try_from(i32::from_be_bytes(size))?];
        self.stream.read_exact(&mut payload)?;
        let mut payload = Bytes::from(payload);
        let header =
            ResponseHeader::decode(&mut payload, api_key.response_header_version(version))?;
        let response = ResponseKind::decode(api_key, &mut payload, version)?;
        Ok((header.correlation_id, response))
    }
}

/// Builds one uncompressed RecordBatch v2 holding `values` (no keys, no
/// headers), with a correct CRC-32C.
pub fn record_batch(values: &[&[u8]], timestamp: i64) -> Vec<u8> {
    idempotent_batch(values, timestamp, (-1, -1, -1))
}

/// Like [`record_batch`], from an idempotent producer: `(producer id, epoch,
/// base sequence)`.
pub fn idempotent_batch(values: &[&[u8]], timestamp: i64, producer: (i64, i16, i32)) -> Vec<u8> {
    batch(values, timestamp, producer, 0)
}

/// Like [`idempotent_batch`], in the producer's transaction.
pub fn transactional_batch(values: &[&[u8]], timestamp: i64, producer: (i64, i16, i32)) -> Vec<u8> {
    batch(values, timestamp, producer, 0x10)
}

fn batch(values: &[&[u8]], timestamp: i64, producer: (i64, i16, i32), attributes: i16) -> Vec<u8> {
    let mut records = Vec::new();
    for (delta, value) in values.iter().enumerate() {
        let mut record = Vec::new();
        record.push(0); // attributes
        put_varlong(&mut record, 0); // timestamp delta
        put_varlong(&mut record, delta as i64); // offset delta
        put_varlong(&mut record, -1); // null key
        put_varlong(&mut record, value.len() as i64);
        record.extend_from_slice(value);
        put_varlong(&mut record, 0); // no headers
        put_varlong(&mut records, record.len() as i64);
        records.extend(record);
    }
    let mut after_crc = BytesMut::new();
    after_crc.put_i16(attributes); // no compression, CreateTime
    after_crc.put_i32(values.len() as i32 - 1); // last offset delta
    after_crc.put_i64(timestamp); // base timestamp
    after_crc.put_i64(timestamp); // max timestamp
    after_crc.put_i64(producer.0);
    after_crc.put_i16(producer.1);
    after_crc.put_i32(producer.2);
    after_crc.put_i32(values.len() as i32);
    after_crc.put_slice(&records);
    let mut batch = BytesMut::new();
    batch.put_i64(0); // base offset
    batch.put_i32((4 + 1 + 4 + after_crc.len()) as i32); // length after this field
    batch.put_i32(-1); // partition leader epoch
    batch.put_i8(2); // magic
    batch.put_u32(crc32c::crc32c(&after_crc));
    batch.put_slice(&after_crc);
    batch.to_vec()
}

/// The same batch with the magic byte set to an old message format.
pub fn with_magic(mut batch: Vec<u8>, magic: i8) -> Vec<u8> {
    batch[16] = magic as u8;
    batch
}

/// Reads the i16 at `position` of a batch (for assertions on headers).
pub fn i16_at(batch: &[u8], position: usize) -> i16 {
    (&batch[position..position + 2]).get_i16()
}

fn put_varlong(out: &mut Vec<u8>, value: i64) {
    let mut zigzag = ((value << 1) ^ (value >> 63)) as u64;
    loop {
        if zigzag < 0x80 {
            out.push(zigzag as u8);
            return;
        }
        out.push((zigzag as u8 & 0x7f) | 0x80);
        zigzag >>= 7;
    }
}

/// One connection to the broker at `bootstrap` (`host:port`).
pub fn connect(bootstrap: &str) -> anyhow::Result<WireClient> {
    WireClient::connect(bootstrap.parse().context("a bootstrap address")?)
}

/// The API keys the broker at `bootstrap` advertises in ApiVersions.
pub fn advertised_api_keys(bootstrap: &str) -> anyhow::Result<std::collections::BTreeSet<i16>> {
    let request = RequestKind::ApiVersions(kafka_protocol::messages::ApiVersionsRequest::default());
    match connect(bootstrap)?.call(ApiKey::ApiVersions, 3, request)? {
        ResponseKind::ApiVersions(response) => {
            Ok(response.api_keys.iter().map(|k| k.api_key).collect())
        }
        other => anyhow::bail!("not an ApiVersions response: {other:?}"),
    }
}

/// ConsumerGroupDescribe (v1) of one group.
pub fn describe_consumer_group(
    bootstrap: &str,
    group: &str,
) -> anyhow::Result<kafka_protocol::messages::ConsumerGroupDescribeResponse> {
    let request =
        kafka_protocol::messages::ConsumerGroupDescribeRequest::default().with_group_ids(vec![
            kafka_protocol::messages::GroupId(StrBytes::from_string(group.to_owned())),
        ]);
    match connect(bootstrap)?.call(
        ApiKey::ConsumerGroupDescribe,
        1,
        RequestKind::ConsumerGroupDescribe(request),
    )? {
        ResponseKind::ConsumerGroupDescribe(response) => Ok(response),
        other => anyhow::bail!("not a ConsumerGroupDescribe response: {other:?}"),
    }
}

/// DescribeQuorum (v2) of the metadata log, as the broker at `bootstrap` answers it.
pub fn describe_quorum(
    bootstrap: &str,
) -> anyhow::Result<kafka_protocol::messages::DescribeQuorumResponse> {
    use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
    let request = kafka_protocol::messages::DescribeQuorumRequest::default().with_topics(vec![
        TopicData::default()
            .with_topic_name(kafka_protocol::messages::TopicName(
                StrBytes::from_static_str("__cluster_metadata"),
            ))
            .with_partitions(vec![PartitionData::default().with_partition_index(0)]),
    ]);
    match connect(bootstrap)?.call(
        ApiKey::DescribeQuorum,
        2,
        RequestKind::DescribeQuorum(request),
    )? {
        ResponseKind::DescribeQuorum(response) => Ok(response),
        other => anyhow::bail!("not a DescribeQuorum response: {other:?}"),
    }
}
