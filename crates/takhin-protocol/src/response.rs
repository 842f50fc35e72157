//! Response encoding: length prefix, response header, body.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::{ApiKey, ApiVersionsResponse, ResponseHeader};
use kafka_protocol::protocol::Encodable;

pub use crate::api::Response;
use crate::api::api_versions;

/// Encodes `response` as a complete frame (length prefix included).
///
/// The header version follows the API and version, except for ApiVersions,
/// whose response header is always v0: a client cannot know whether the
/// broker understood its flexible header before it has read the response
/// (KIP-511), and librdkafka mis-parses anything else.
pub fn encode_response(
    response: &Response,
    api_version: i16,
    correlation_id: i32,
) -> anyhow::Result<Bytes> {
    let api_key = response.api_key();
    let header_version = if api_key == ApiKey::ApiVersions {
        0
    } else {
        api_key.response_header_version(api_version)
    };
    let mut buf = BytesMut::with_capacity(64);
    buf.put_i32(0);
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut buf, header_version)?;
    response.encode_body(&mut buf, api_version)?;
    let body_length = i32::try_from(buf.len() - 4)?;
    buf[..4].copy_from_slice(&body_length.to_be_bytes());
    Ok(buf.freeze())
}

/// The answer to an ApiVersions request at a version we do not serve:
/// encoded as v0, UNSUPPORTED_VERSION, and our ranges so the client can
/// retry with one of them.
pub fn unsupported_api_versions_response(correlation_id: i32) -> anyhow::Result<Bytes> {
    let body = ApiVersionsResponse::default()
        .with_error_code(ResponseError::UnsupportedVersion.code())
        .with_api_keys(api_versions());
    encode_response(&Response::ApiVersions(body), 0, correlation_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Buf;
    use kafka_protocol::protocol::Decodable;

    #[test]
    fn api_versions_response_header_is_always_v0() {
        let body = ApiVersionsResponse::default().with_api_keys(api_versions());
        let mut frame = encode_response(&Response::ApiVersions(body.clone()), 3, 7).unwrap();
        let length = frame.get_i32() as usize;
        assert_eq!(length, frame.remaining());
        assert_eq!(frame.get_i32(), 7);
        // No tagged-field byte follows the correlation id: the body starts here.
        let decoded = ApiVersionsResponse::decode(&mut frame, 3).unwrap();
        assert_eq!(decoded, body);
    }

    #[test]
    fn unsupported_version_answer_lists_our_ranges() {
        let mut frame = unsupported_api_versions_response(9).unwrap();
        frame.advance(8);
        let decoded = ApiVersionsResponse::decode(&mut frame, 0).unwrap();
        assert_eq!(decoded.error_code, ResponseError::UnsupportedVersion.code());
        assert_eq!(decoded.api_keys.len(), crate::api::SUPPORTED.len());
    }
}
