//! Request decoding and response encoding around the protocol crate.

use bytes::{BufMut as _, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::{Decodable as _, Encodable as _};

use super::frame::Prelude;
use super::versions;

/// A request ready for its handler.
#[derive(Debug)]
pub struct Request {
    pub api_key: ApiKey,
    pub header: RequestHeader,
    pub body: RequestKind,
}

/// Why a frame could not become a [`Request`].
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("frame shorter than a request header")]
    TooShort,
    #[error("unknown API key {api_key} (correlation id {correlation_id})")]
    UnknownApiKey { api_key: i16, correlation_id: i32 },
    /// The version is not implemented. For ApiVersions the header still
    /// decoded, so the KIP-511 answer can be sent.
    #[error("{api_key:?} v{version} is not supported (correlation id {correlation_id})")]
    UnsupportedVersion {
        api_key: ApiKey,
        version: i16,
        correlation_id: i32,
    },
    #[error("malformed {api_key:?} v{version} request (correlation id {correlation_id}): {reason}")]
    Malformed {
        api_key: ApiKey,
        version: i16,
        correlation_id: i32,
        reason: String,
    },
}

/// Decodes one frame (without its size prefix).
pub fn decode_request(mut frame: Bytes) -> Result<Request, DecodeError> {
    let prelude = Prelude::read(&frame).ok_or(DecodeError::TooShort)?;
    let api_key = ApiKey::try_from(prelude.api_key).map_err(|_| DecodeError::UnknownApiKey {
        api_key: prelude.api_key,
        correlation_id: prelude.correlation_id,
    })?;
    let version = prelude.api_version;
    let malformed = |reason: String| DecodeError::Malformed {
        api_key,
        version,
        correlation_id: prelude.correlation_id,
        reason,
    };
    if !versions::is_supported(api_key, version) {
        return Err(DecodeError::UnsupportedVersion {
            api_key,
            version,
            correlation_id: prelude.correlation_id,
        });
    }
    let header = RequestHeader::decode(&mut frame, api_key.request_header_version(version))
        .map_err(|error| malformed(format!("header: {error:#}")))?;
    let body = RequestKind::decode(api_key, &mut frame, version)
        .map_err(|error| malformed(format!("{error:#}")))?;
    Ok(Request {
        api_key,
        header,
        body,
    })
}

/// Encodes a response frame, size prefix included.
pub fn encode_response(
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &ResponseKind,
) -> anyhow::Result<BytesMut> {
    let mut out = BytesMut::with_capacity(256 + records_len(body));
    out.put_i32(0); // size, filled in below
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut out, api_key.response_header_version(version))?;
    body.encode(&mut out, version)?;
    let size = i32::try_from(out.len() - 4)?;
    out[..4].copy_from_slice(&size.to_be_bytes());
    Ok(out)
}

/// Record bytes a response carries: reserved up front so a large fetch
/// answer is copied once, not regrown by doubling, and counted against a
/// connection's budget of answers waiting to be written.
pub fn records_len(body: &ResponseKind) -> usize {
    match body {
        ResponseKind::Fetch(fetch) => fetch
            .responses
            .iter()
            .flat_map(|topic| topic.partitions.iter())
            .map(|partition| {
                partition
                    .records
                    .as_ref()
                    .map_or(0, |records| records.len())
            })
            .sum(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(api_key: i16, version: i16, correlation_id: i32, rest: &[u8]) -> Bytes {
        let mut out = BytesMut::new();
        out.put_i16(api_key);
        out.put_i16(version);
        out.put_i32(correlation_id);
        out.put_slice(rest);
        out.freeze()
    }

    #[test]
    fn short_frames_and_unknown_keys_are_errors_that_keep_the_correlation_id() {
        assert!(matches!(
            decode_request(Bytes::from_static(&[0, 3, 0])),
            Err(DecodeError::TooShort)
        ));
        let error = decode_request(frame(9999, 0, 77, &[])).unwrap_err();
        assert!(matches!(
            error,
            DecodeError::UnknownApiKey {
                api_key: 9999,
                correlation_id: 77
            }
        ));
    }

    #[test]
    fn an_unsupported_version_is_reported_before_decoding_the_body() {
        let error = decode_request(frame(ApiKey::ApiVersions as i16, 99, 5, &[])).unwrap_err();
        assert!(matches!(
            error,
            DecodeError::UnsupportedVersion {
                api_key: ApiKey::ApiVersions,
                version: 99,
                correlation_id: 5
            }
        ));
    }

    #[test]
    fn a_truncated_body_is_malformed_not_a_panic() {
        // Metadata v1: header client id (null), then the topics array is missing.
        let error =
            decode_request(frame(ApiKey::Metadata as i16, 1, 9, &[0xff, 0xff])).unwrap_err();
        assert!(
            matches!(
                error,
                DecodeError::Malformed {
                    correlation_id: 9,
                    ..
                }
            ),
            "{error}"
        );
    }

    #[test]
    fn a_metadata_request_claiming_two_billion_topics_fails_cleanly() {
        // 30 bytes that make a naive decoder reserve hundreds of gigabytes.
        let mut body = vec![0xff, 0xff]; // null client id
        body.extend_from_slice(&i32::MAX.to_be_bytes()); // topics count
        let error = decode_request(frame(ApiKey::Metadata as i16, 1, 3, &body)).unwrap_err();
        assert!(matches!(error, DecodeError::Malformed { .. }), "{error}");
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(2000))]

        #[test]
        fn arbitrary_bytes_decode_or_fail_but_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            let _ = decode_request(Bytes::from(bytes));
        }

        #[test]
        fn every_supported_api_survives_random_bodies(
            key in proptest::sample::select(vec![0i16, 1, 2, 3, 18, 19, 20, 21, 22, 23, 32, 33, 37, 44, 60]),
            version in 0i16..18,
            body in proptest::collection::vec(proptest::num::u8::ANY, 0..128),
        ) {
            // A plausible header (null client id, empty tagged fields), then noise.
            let mut rest = vec![0xff, 0xff, 0];
            rest.extend(body);
            let _ = decode_request(frame(key, version, 1, &rest));
        }
    }
}
