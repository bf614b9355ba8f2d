//! One client connection: frames in, responses out, in request order.
//!
//! ```text
//!  reader: read frame ─► decode ─► api::handle (appends happen here, in order)
//!             │ pending answer (ready, or a future waiting for fsync)
//!             ▼ bounded queue (MAX_IN_FLIGHT answers, MAX_QUEUED_RECORD_BYTES of records)
//!  writer: await each answer in order ─► encode ─► write
//! ```
//!
//! The reader keeps reading while earlier answers wait for durability, so a
//! client's pipelined produce requests share fsyncs; answers still
//! leave in request order. Either side ending closes the connection: the
//! writer cancels the reader's token, the reader closing the queue lets the
//! writer finish what is queued and stop.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::{ApiKey, ResponseKind};
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::api::{self, Handled};
use crate::broker::Broker;
use crate::protocol::codec::{self, DecodeError};
use crate::protocol::frame::{FrameError, FrameReader};
use crate::protocol::{ResponseError, versions};

/// Requests read ahead of the oldest unanswered one. A waiting produce answer
/// is small, and librdkafka keeps up to a million requests in flight without
/// idempotence (five with it): with few slots, a producer of many small
/// requests spends its time waiting for the slot, not for the disk.
const MAX_IN_FLIGHT: usize = 256;

/// Record bytes that answers waiting in the queue may hold at most (fetch
/// answers carry their records); one larger answer still passes, alone.
const MAX_QUEUED_RECORD_BYTES: usize = 64 << 20;

/// An answer to write once it is ready.
struct Pending {
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    answer: Handled,
    span: tracing::Span,
    /// Its share of [`MAX_QUEUED_RECORD_BYTES`], returned once it is written.
    _budget: Option<OwnedSemaphorePermit>,
}

/// The budget share of an answer: its record bytes in KiB, at most the whole
/// budget, none for answers that carry no records.
fn budget_units(answer: &Handled) -> u32 {
    let bytes = match answer {
        Handled::Ready(Some(body)) => codec::records_len(body),
        _ => 0,
    };
    let units = bytes.div_ceil(1024).min(MAX_QUEUED_RECORD_BYTES / 1024);
    u32::try_from(units).unwrap_or(u32::MAX)
}

/// Serves one connection until the peer leaves, a protocol error closes it,
/// it idles past `connections.max.idle.ms`, or shutdown.
pub async fn run(
    stream: TcpStream,
    peer: SocketAddr,
    broker: &Arc<Broker>,
    shutdown: CancellationToken,
) {
    let _ = stream.set_nodelay(true);
    let (mut read_half, write_half) = stream.into_split();
    let closed = shutdown.child_token();
    let (queue, answers) = mpsc::channel::<Pending>(MAX_IN_FLIGHT);
    let budget = Arc::new(Semaphore::new(MAX_QUEUED_RECORD_BYTES / 1024));
    let writer = tokio::spawn(write_answers(
        write_half,
        answers,
        broker.clone(),
        peer,
        closed.clone(),
    ));

    let settings = &broker.config.settings;
    let idle = Duration::from_millis(settings.connections_max_idle_ms);
    let mut reader = FrameReader::new(settings.socket_request_max_bytes);
    loop {
        // Cancel-safe: FrameReader keeps partial frames buffered.
        let frame = tokio::select! {
            _ = closed.cancelled() => break,
            frame = tokio::time::timeout(idle, reader.next(&mut read_half)) => frame,
        };
        let frame = match frame {
            Err(_) => {
                tracing::debug!(%peer, "closing idle connection");
                break;
            }
            Ok(Ok(Some(frame))) => frame,
            Ok(Ok(None)) => break,
            Ok(Err(FrameError::Io(error))) => {
                tracing::debug!(%peer, %error, "connection read failed");
                break;
            }
            Ok(Err(error)) => {
                tracing::info!(%peer, %error, "closing connection: bad frame");
                break;
            }
        };
        broker.metrics.bytes_in.inc_by(frame.len() as u64 + 4);
        let mut pending = match codec::decode_request(frame) {
            Ok(request) => {
                let api_key = request.api_key;
                let version = request.header.request_api_version;
                let correlation_id = request.header.correlation_id;
                let span = tracing::debug_span!(
                    "request",
                    api_key = ?api_key,
                    api_version = version,
                    correlation_id,
                    client_id = request.header.client_id.as_deref().unwrap_or(""),
                );
                match api::handle(broker, request, peer)
                    .instrument(span.clone())
                    .await
                {
                    Ok(answer) => Pending {
                        api_key,
                        version,
                        correlation_id,
                        answer,
                        span,
                        _budget: None,
                    },
                    Err(error) => {
                        tracing::warn!(%peer, ?api_key, %error, "closing connection: request failed");
                        break;
                    }
                }
            }
            Err(DecodeError::UnsupportedVersion {
                api_key: ApiKey::ApiVersions,
                correlation_id,
                version,
            }) => {
                // KIP-511: answer at v0 with UNSUPPORTED_VERSION and our ranges,
                // so the client can retry at a version both sides know.
                tracing::debug!(%peer, version, "ApiVersions above our range; answering at v0");
                let body = versions::api_versions_response(
                    ResponseError::UnsupportedVersion.code(),
                    broker.groups.settings().consumer_protocol,
                );
                Pending {
                    api_key: ApiKey::ApiVersions,
                    version: 0,
                    correlation_id,
                    answer: Handled::Ready(Some(ResponseKind::ApiVersions(body))),
                    span: tracing::Span::none(),
                    _budget: None,
                }
            }
            Err(error) => {
                // As Kafka does: a request we cannot read closes the connection.
                tracing::info!(%peer, %error, "closing connection: undecodable request");
                break;
            }
        };
        let units = budget_units(&pending.answer);
        if units > 0 {
            // Cancel-safe: the permit is only taken when the acquire completes.
            let permit = tokio::select! {
                _ = closed.cancelled() => break,
                permit = Arc::clone(&budget).acquire_many_owned(units) => permit,
            };
            let Ok(permit) = permit else { break };
            pending._budget = Some(permit);
        }
        // Cancel-safe: a send that does not complete queues nothing.
        let sent = tokio::select! {
            _ = closed.cancelled() => false,
            sent = queue.send(pending) => sent.is_ok(),
        };
        if !sent {
            break;
        }
    }
    // Let the writer answer what is queued, then close.
    drop(queue);
    if let Err(error) = writer.await {
        tracing::error!(%peer, %error, "connection writer task failed");
    }
}

/// Writes answers in request order until the queue closes or a write fails.
async fn write_answers(
    mut out: OwnedWriteHalf,
    mut answers: mpsc::Receiver<Pending>,
    broker: Arc<Broker>,
    peer: SocketAddr,
    closed: CancellationToken,
) {
    while let Some(pending) = answers.recv().await {
        let body = match pending.answer {
            Handled::Ready(body) => body,
            Handled::Deferred(future) => match future.instrument(pending.span).await {
                Ok(body) => body,
                Err(error) => {
                    tracing::warn!(%peer, api_key = ?pending.api_key, %error, "closing connection: request failed");
                    break;
                }
            },
        };
        let Some(body) = body else {
            continue;
        };
        let bytes = match codec::encode_response(
            pending.api_key,
            pending.version,
            pending.correlation_id,
            &body,
        ) {
            Ok(bytes) => bytes,
            Err(error) => {
                tracing::error!(%peer, api_key = ?pending.api_key, version = pending.version, error = format!("{error:#}"), "encoding a response failed");
                break;
            }
        };
        if let Err(error) = out.write_all(&bytes).await {
            tracing::debug!(%peer, %error, "connection write failed");
            break;
        }
        broker.metrics.bytes_out.inc_by(bytes.len() as u64);
    }
    // Stop the reader too, whatever ended the writer.
    closed.cancel();
    let _ = out.shutdown().await;
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
    use kafka_protocol::messages::{FetchResponse, ProduceResponse};

    use super::*;

    fn fetch_answer(record_bytes: &[usize]) -> Handled {
        let partitions = record_bytes
            .iter()
            .map(|len| PartitionData::default().with_records(Some(Bytes::from(vec![0u8; *len]))))
            .collect();
        let topic = FetchableTopicResponse::default().with_partitions(partitions);
        Handled::Ready(Some(ResponseKind::Fetch(
            FetchResponse::default().with_responses(vec![topic]),
        )))
    }

    #[test]
    fn fetch_answers_take_their_record_bytes_in_kib_from_the_budget() {
        assert_eq!(budget_units(&fetch_answer(&[1024, 1024, 1])), 3);
        assert_eq!(budget_units(&fetch_answer(&[])), 0);
    }

    #[test]
    fn an_answer_larger_than_the_budget_takes_all_of_it_and_no_more() {
        let whole = u32::try_from(MAX_QUEUED_RECORD_BYTES / 1024).expect("fits");
        assert_eq!(
            budget_units(&fetch_answer(&[MAX_QUEUED_RECORD_BYTES + 5])),
            whole
        );
    }

    #[test]
    fn answers_without_records_take_nothing() {
        let produce = Handled::Ready(Some(ResponseKind::Produce(ProduceResponse::default())));
        assert_eq!(budget_units(&produce), 0);
        assert_eq!(budget_units(&Handled::Ready(None)), 0);
        let deferred = Handled::Deferred(Box::pin(async { Ok(None) }));
        assert_eq!(budget_units(&deferred), 0);
    }
}
