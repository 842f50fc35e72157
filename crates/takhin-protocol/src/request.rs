//! Request decoding: header, version negotiation, body.
//!
//! A frame body is `api_key: i16, api_version: i16, correlation_id: i32`,
//! then the rest of the header (client id, tagged fields, depending on the
//! header version), then the body. Errors split in two kinds, as Kafka does:
//! an ApiVersions request at a version we do not know is answered (KIP-511:
//! with v0 and the ranges we do support); anything else that cannot be
//! decoded closes the connection, because the peer and the broker no longer
//! agree on where the next frame starts or what it means.

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, RequestHeader};
use kafka_protocol::protocol::Decodable;

pub use crate::api::Request;
use crate::api::{decodable_min, decode_body, supported_versions};

/// Bytes every request starts with: api key, api version, correlation id.
const FIXED_HEADER_BYTES: usize = 8;

/// A decoded request with the header fields handlers need.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestFrame {
    pub api_key: ApiKey,
    pub api_version: i16,
    pub correlation_id: i32,
    pub client_id: Option<String>,
    pub body: Request,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Answerable: respond with ApiVersions v0, UNSUPPORTED_VERSION and the
    /// supported ranges.
    #[error("ApiVersions v{api_version} is not supported (correlation id {correlation_id})")]
    UnsupportedApiVersionsVersion {
        api_version: i16,
        correlation_id: i32,
    },
    #[error("request of {0} bytes is shorter than a request header")]
    TooShort(usize),
    #[error("unknown API key {api_key} (correlation id {correlation_id})")]
    UnknownApiKey { api_key: i16, correlation_id: i32 },
    #[error("{api_key:?} v{api_version} is not supported (correlation id {correlation_id})")]
    UnsupportedVersion {
        api_key: ApiKey,
        api_version: i16,
        correlation_id: i32,
    },
    #[error(
        "malformed {api_key:?} v{api_version} request (correlation id {correlation_id}): {reason}"
    )]
    Malformed {
        api_key: ApiKey,
        api_version: i16,
        correlation_id: i32,
        reason: String,
    },
}

impl DecodeError {
    /// Whether the connection must be closed instead of answered.
    pub fn closes_connection(&self) -> bool {
        !matches!(self, DecodeError::UnsupportedApiVersionsVersion { .. })
    }
}

/// Decodes one frame body (without its length prefix).
pub fn decode_request(mut frame: Bytes) -> Result<RequestFrame, DecodeError> {
    if frame.len() < FIXED_HEADER_BYTES {
        return Err(DecodeError::TooShort(frame.len()));
    }
    let raw_api_key = i16::from_be_bytes([frame[0], frame[1]]);
    let api_version = i16::from_be_bytes([frame[2], frame[3]]);
    let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
    let Ok(api_key) = ApiKey::try_from(raw_api_key) else {
        return Err(DecodeError::UnknownApiKey {
            api_key: raw_api_key,
            correlation_id,
        });
    };
    let advertised = supported_versions(api_key);
    let decodable = decodable_min(api_key);
    let version_ok = match (advertised, decodable) {
        (Some(range), Some(decode_min)) => api_version >= decode_min && api_version <= range.max,
        _ => false,
    };
    if !version_ok {
        if api_key == ApiKey::ApiVersions {
            return Err(DecodeError::UnsupportedApiVersionsVersion {
                api_version,
                correlation_id,
            });
        }
        if advertised.is_none() {
            return Err(DecodeError::UnknownApiKey {
                api_key: raw_api_key,
                correlation_id,
            });
        }
        return Err(DecodeError::UnsupportedVersion {
            api_key,
            api_version,
            correlation_id,
        });
    }
    let malformed = |reason: String| DecodeError::Malformed {
        api_key,
        api_version,
        correlation_id,
        reason,
    };
    let header_version = api_key.request_header_version(api_version);
    let header = RequestHeader::decode(&mut frame, header_version)
        .map_err(|e| malformed(format!("header: {e}")))?;
    let body = decode_body(api_key, api_version, &mut frame)
        .map_err(|e| malformed(e.to_string()))?
        .ok_or_else(|| malformed("no decoder".to_string()))?;
    // Trailing bytes are ignored, as Kafka does: a newer client may append
    // tagged data an older schema does not know.
    Ok(RequestFrame {
        api_key,
        api_version,
        correlation_id,
        client_id: header.client_id.map(|id| id.to_string()),
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::messages::{ApiVersionsRequest, MetadataRequest};
    use kafka_protocol::protocol::{Encodable, StrBytes};

    fn frame_of<T: Encodable>(api_key: ApiKey, version: i16, body: &T) -> Bytes {
        let mut buf = BytesMut::new();
        let header = RequestHeader::default()
            .with_request_api_key(api_key as i16)
            .with_request_api_version(version)
            .with_correlation_id(42)
            .with_client_id(Some(StrBytes::from_static_str("test")));
        header
            .encode(&mut buf, api_key.request_header_version(version))
            .unwrap();
        body.encode(&mut buf, version).unwrap();
        buf.freeze()
    }

    #[test]
    fn decodes_every_metadata_version() {
        for version in 0..=13 {
            let frame = frame_of(ApiKey::Metadata, version, &MetadataRequest::default());
            let decoded = decode_request(frame).unwrap();
            assert_eq!(decoded.api_version, version);
            assert_eq!(decoded.correlation_id, 42);
            assert_eq!(decoded.client_id.as_deref(), Some("test"));
            assert!(matches!(decoded.body, Request::Metadata(_)));
        }
    }

    #[test]
    fn future_api_versions_request_is_answerable() {
        let mut frame = frame_of(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default()).to_vec();
        frame[3] = 99;
        let err = decode_request(Bytes::from(frame)).unwrap_err();
        assert_eq!(
            err,
            DecodeError::UnsupportedApiVersionsVersion {
                api_version: 99,
                correlation_id: 42
            }
        );
        assert!(!err.closes_connection());
    }

    #[test]
    fn unknown_keys_old_produce_and_garbage_close_the_connection() {
        let unknown = Bytes::from_static(&[0x7f, 0, 0, 0, 0, 0, 0, 1]);
        assert!(decode_request(unknown).unwrap_err().closes_connection());
        let produce_v2 = Bytes::from_static(&[0, 0, 0, 2, 0, 0, 0, 1, 0, 0]);
        assert!(matches!(
            decode_request(produce_v2),
            Err(DecodeError::UnsupportedVersion { .. })
        ));
        let truncated = frame_of(ApiKey::Metadata, 12, &MetadataRequest::default());
        let truncated = truncated.slice(..truncated.len() - 1);
        assert!(matches!(
            decode_request(truncated),
            Err(DecodeError::Malformed { .. })
        ));
        assert_eq!(
            decode_request(Bytes::from_static(&[0, 1])),
            Err(DecodeError::TooShort(2))
        );
    }
}
