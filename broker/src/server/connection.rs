//! One client connection: frames in, responses out, in request order.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::{ApiKey, ResponseKind};
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::api;
use crate::broker::Broker;
use crate::protocol::codec::{self, DecodeError};
use crate::protocol::frame::{FrameError, FrameReader};
use crate::protocol::{ResponseError, versions};

/// Serves one connection until the peer leaves, a protocol error closes it,
/// it idles past `connections.max.idle.ms`, or shutdown.
pub async fn run(
    mut stream: TcpStream,
    peer: SocketAddr,
    broker: &Arc<Broker>,
    shutdown: CancellationToken,
) {
    let _ = stream.set_nodelay(true);
    let settings = &broker.config.settings;
    let idle = Duration::from_millis(settings.connections_max_idle_ms);
    let mut reader = FrameReader::new(settings.socket_request_max_bytes);
    loop {
        // Cancel-safe: FrameReader keeps partial frames buffered.
        let frame = tokio::select! {
            _ = shutdown.cancelled() => break,
            frame = tokio::time::timeout(idle, reader.next(&mut stream)) => frame,
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
        let response = match codec::decode_request(frame) {
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
                match api::handle(broker, request).instrument(span).await {
                    Ok(Some(body)) => Some((api_key, version, correlation_id, body)),
                    Ok(None) => None,
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
                let body =
                    versions::api_versions_response(ResponseError::UnsupportedVersion.code());
                Some((
                    ApiKey::ApiVersions,
                    0,
                    correlation_id,
                    ResponseKind::ApiVersions(body),
                ))
            }
            Err(error) => {
                // As Kafka does: a request we cannot read closes the connection.
                tracing::info!(%peer, %error, "closing connection: undecodable request");
                break;
            }
        };
        let Some((api_key, version, correlation_id, body)) = response else {
            continue;
        };
        let bytes = match codec::encode_response(api_key, version, correlation_id, &body) {
            Ok(bytes) => bytes,
            Err(error) => {
                tracing::error!(%peer, ?api_key, version, error = format!("{error:#}"), "encoding a response failed");
                break;
            }
        };
        if let Err(error) = stream.write_all(&bytes).await {
            tracing::debug!(%peer, %error, "connection write failed");
            break;
        }
        broker.metrics.bytes_out.inc_by(bytes.len() as u64);
    }
    let _ = stream.shutdown().await;
}
