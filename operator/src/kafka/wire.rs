//! One Kafka connection: length-prefixed frames, one request in flight at a
//! time, versions picked from the broker's ApiVersions answer.

use std::collections::HashMap;
use std::time::Duration;

use bytes::{Buf as _, BufMut as _, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use super::AdminError;

/// Longest response this client accepts: admin answers are small.
const MAX_FRAME: usize = 16 * 1024 * 1024;
/// Time one request may take, connection set-up included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const CLIENT_ID: &str = "fjord-operator";

pub struct Connection {
    stream: TcpStream,
    correlation_id: i32,
    versions: HashMap<i16, (i16, i16)>,
}

impl Connection {
    /// Connects to the first reachable `host:port` of a comma-separated list
    /// and learns the broker's API versions.
    pub async fn open(servers: &str) -> Result<Self, AdminError> {
        let mut last = std::io::Error::new(std::io::ErrorKind::InvalidInput, "no address given");
        for server in servers.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match tokio::time::timeout(REQUEST_TIMEOUT, TcpStream::connect(server)).await {
                Ok(Ok(stream)) => {
                    let _ = stream.set_nodelay(true);
                    let mut conn = Self {
                        stream,
                        correlation_id: 0,
                        versions: HashMap::new(),
                    };
                    conn.negotiate().await?;
                    return Ok(conn);
                }
                Ok(Err(error)) => last = error,
                Err(_) => {
                    last = std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("connecting to {server}"),
                    )
                }
            }
        }
        Err(AdminError::Connect {
            servers: servers.to_owned(),
            source: last,
        })
    }

    async fn negotiate(&mut self) -> Result<(), AdminError> {
        let request = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str(CLIENT_ID))
            .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        // v3 is what every current broker answers; its body is flexible.
        let response = self.send_version(ApiKey::ApiVersions, request, 3).await?;
        if response.error_code != 0 {
            return Err(kafka_error("ApiVersions", response.error_code, None));
        }
        self.versions = response
            .api_keys
            .iter()
            .map(|k| (k.api_key, (k.min_version, k.max_version)))
            .collect();
        Ok(())
    }

    /// Sends `request` in the highest version both sides speak.
    pub async fn send<R: Request>(
        &mut self,
        key: ApiKey,
        request: R,
    ) -> Result<R::Response, AdminError> {
        let api = api_name(key);
        let (broker_min, broker_max) = *self
            .versions
            .get(&(key as i16))
            .ok_or(AdminError::UnsupportedVersion { api })?;
        let version = broker_max.min(R::VERSIONS.max);
        if version < broker_min.max(R::VERSIONS.min) {
            return Err(AdminError::UnsupportedVersion { api });
        }
        self.send_version(key, request, version).await
    }

    async fn send_version<R: Request>(
        &mut self,
        key: ApiKey,
        request: R,
        version: i16,
    ) -> Result<R::Response, AdminError> {
        let api = api_name(key);
        match tokio::time::timeout(REQUEST_TIMEOUT, self.round_trip(key, request, version)).await {
            Ok(result) => result,
            Err(_) => Err(AdminError::Timeout { api }),
        }
    }

    async fn round_trip<R: Request>(
        &mut self,
        key: ApiKey,
        request: R,
        version: i16,
    ) -> Result<R::Response, AdminError> {
        let api = api_name(key);
        let codec = |e: anyhow::Error| AdminError::Codec {
            api,
            message: e.to_string(),
        };
        let io = |source| AdminError::Io { api, source };
        self.correlation_id = self.correlation_id.wrapping_add(1);
        let header = RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation_id)
            .with_client_id(Some(StrBytes::from_static_str(CLIENT_ID)));
        let mut body = BytesMut::new();
        header
            .encode(&mut body, R::header_version(version))
            .map_err(codec)?;
        request.encode(&mut body, version).map_err(codec)?;
        let mut frame = BytesMut::with_capacity(body.len() + 4);
        let length = i32::try_from(body.len()).map_err(|_| AdminError::Codec {
            api,
            message: "request too large".to_owned(),
        })?;
        frame.put_i32(length);
        frame.extend_from_slice(&body);
        self.stream.write_all(&frame).await.map_err(io)?;

        let length = self.stream.read_i32().await.map_err(io)?;
        let length = usize::try_from(length)
            .ok()
            .filter(|l| (4..=MAX_FRAME).contains(l))
            .ok_or_else(|| AdminError::Codec {
                api,
                message: format!("response frame of {length} bytes"),
            })?;
        let mut buf = vec![0u8; length];
        self.stream.read_exact(&mut buf).await.map_err(io)?;
        let mut buf = Bytes::from(buf);
        let response_header =
            ResponseHeader::decode(&mut buf, R::Response::header_version(version))
                .map_err(codec)?;
        if response_header.correlation_id != self.correlation_id {
            return Err(AdminError::Codec {
                api,
                message: format!(
                    "correlation id {} answers request {}",
                    response_header.correlation_id, self.correlation_id
                ),
            });
        }
        let response = R::Response::decode(&mut buf, version).map_err(codec)?;
        if buf.has_remaining() {
            tracing::debug!(api, left = buf.remaining(), "response has trailing bytes");
        }
        Ok(response)
    }
}

/// Turns a non-zero error code into an [`AdminError::Kafka`].
pub fn kafka_error(api: &'static str, code: i16, message: Option<&StrBytes>) -> AdminError {
    AdminError::Kafka {
        api,
        error: kafka_protocol::error::ResponseError::try_from_code(code)
            .unwrap_or(kafka_protocol::error::ResponseError::Unknown(code)),
        message: message.map(|m| m.as_str().to_owned()),
    }
}

fn api_name(key: ApiKey) -> &'static str {
    match key {
        ApiKey::ApiVersions => "ApiVersions",
        ApiKey::Metadata => "Metadata",
        ApiKey::CreateTopics => "CreateTopics",
        ApiKey::DeleteTopics => "DeleteTopics",
        ApiKey::DescribeConfigs => "DescribeConfigs",
        ApiKey::IncrementalAlterConfigs => "IncrementalAlterConfigs",
        ApiKey::CreatePartitions => "CreatePartitions",
        _ => "Kafka",
    }
}
