//! Response encoding: length prefix, response header, body.
//!
//! A response is encoded as a chain of buffers ([`EncodedResponse`]): the
//! encoder's output, with a fetch's record sets left where they are (the
//! buffers they were read into) rather than copied into the frame. The
//! connection writes the chain with vectored writes. Measured on a backlog
//! consumer (8 partitions, 1 MiB per partition per fetch): copying record sets
//! into the frame was a fifth of the broker's CPU, and it delayed each
//! response by the copy of several MiB.

use bytes::buf::UninitSlice;
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::{ApiKey, ApiVersionsResponse, ResponseHeader};
use kafka_protocol::protocol::Encodable;
use kafka_protocol::protocol::buf::ByteBufMut;

pub use crate::api::Response;
use crate::api::api_versions;

/// A bytes field at least this long that the response holds as [`Bytes`]
/// (a fetch's record sets) is referenced, not copied. Below it a copy is
/// cheaper than another entry in the write.
pub const SHARE_MIN_BYTES: usize = 4 * 1024;

/// A complete response frame (length prefix included) as a chain of buffers
/// to be written in order.
#[derive(Debug, Clone, Default)]
pub struct EncodedResponse {
    pub parts: Vec<Bytes>,
}

impl EncodedResponse {
    /// Total bytes of the frame.
    pub fn len(&self) -> usize {
        self.parts.iter().map(Bytes::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.parts.iter().all(Bytes::is_empty)
    }

    /// The frame as one buffer (copies when there are several parts).
    pub fn to_bytes(&self) -> Bytes {
        match self.parts.as_slice() {
            [] => Bytes::new(),
            [only] => only.clone(),
            parts => {
                let mut all = BytesMut::with_capacity(self.len());
                for part in parts {
                    all.extend_from_slice(part);
                }
                all.freeze()
            }
        }
    }
}

/// Encodes `response` as a complete frame (length prefix included), in one
/// buffer.
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
    Ok(encode_response_chain(response, api_version, correlation_id)?.to_bytes())
}

/// [`encode_response`], with a fetch's record sets of [`SHARE_MIN_BYTES`] or
/// more referenced instead of copied.
pub fn encode_response_chain(
    response: &Response,
    api_version: i16,
    correlation_id: i32,
) -> anyhow::Result<EncodedResponse> {
    let api_key = response.api_key();
    let header_version = if api_key == ApiKey::ApiVersions {
        0
    } else {
        api_key.response_header_version(api_version)
    };
    let mut buf = ChainBuf::new(shared_fields(response));
    buf.put_i32(0);
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut buf, header_version)?;
    response.encode_body(&mut buf, api_version)?;
    let body_length = i32::try_from(buf.offset() - 4)?;
    Ok(EncodedResponse {
        parts: buf.finish(body_length.to_be_bytes()),
    })
}

/// The `Bytes` fields of `response` that may be referenced rather than
/// copied, in the order the encoder writes them.
fn shared_fields(response: &Response) -> Vec<Bytes> {
    let Response::Fetch(fetch) = response else {
        return Vec::new();
    };
    fetch
        .responses
        .iter()
        .flat_map(|topic| topic.partitions.iter())
        .filter_map(|partition| partition.records.clone())
        .filter(|records| records.len() >= SHARE_MIN_BYTES)
        .collect()
}

/// A buffer the Kafka encoders write into that keeps known `Bytes` fields by
/// reference: when the encoder copies a slice that *is* the next expected
/// field (same address and length), the bytes written so far become one part
/// and the field another. Anything else is copied as usual, so an encoder
/// that wrote fields in another order would only lose the saving.
///
/// Message encoders only append. (Record-batch encoders seek back to fill in
/// lengths and CRCs; they never write into a `ChainBuf`.) `seek` and `range`
/// therefore work within the current part only.
struct ChainBuf {
    parts: Vec<Bytes>,
    head: BytesMut,
    /// Bytes in `parts`.
    before_head: usize,
    shared: std::vec::IntoIter<Bytes>,
    next_shared: Option<Bytes>,
}

impl ChainBuf {
    fn new(shared: Vec<Bytes>) -> ChainBuf {
        let mut shared = shared.into_iter();
        let next_shared = shared.next();
        ChainBuf {
            parts: Vec::new(),
            head: BytesMut::with_capacity(256),
            before_head: 0,
            shared,
            next_shared,
        }
    }

    /// The parts, with the first four bytes (written as a placeholder, never
    /// shared) replaced by `prefix`.
    fn finish(mut self, prefix: [u8; 4]) -> Vec<Bytes> {
        if self.parts.is_empty() {
            self.head[..4].copy_from_slice(&prefix);
            return vec![self.head.freeze()];
        }
        // The first part was split off the buffer and is referenced nowhere
        // else, so taking it back is not a copy.
        let mut first = match std::mem::take(&mut self.parts[0]).try_into_mut() {
            Ok(first) => first,
            Err(shared) => BytesMut::from(&shared[..]),
        };
        first[..4].copy_from_slice(&prefix);
        self.parts[0] = first.freeze();
        if !self.head.is_empty() {
            self.parts.push(self.head.freeze());
        }
        self.parts
    }
}

// SAFETY: every method forwards to the `BytesMut` that holds the bytes being
// written (`head`), which upholds `BufMut`'s contract; `put_slice` only adds
// whole parts before forwarding.
#[allow(unsafe_code)]
unsafe impl BufMut for ChainBuf {
    fn remaining_mut(&self) -> usize {
        self.head.remaining_mut()
    }

    // SAFETY: forwarded; the caller's promise about `cnt` is the one
    // `BytesMut::advance_mut` needs.
    #[allow(unsafe_code)]
    unsafe fn advance_mut(&mut self, cnt: usize) {
        // SAFETY: see above.
        unsafe { self.head.advance_mut(cnt) }
    }

    fn chunk_mut(&mut self) -> &mut UninitSlice {
        self.head.chunk_mut()
    }

    fn put_slice(&mut self, src: &[u8]) {
        if let Some(next) = &self.next_shared
            && next.len() == src.len()
            && std::ptr::eq(next.as_ptr(), src.as_ptr())
        {
            if !self.head.is_empty() {
                let head = self.head.split().freeze();
                self.before_head += head.len();
                self.parts.push(head);
            }
            self.before_head += next.len();
            self.parts.push(next.clone());
            self.next_shared = self.shared.next();
            return;
        }
        self.head.put_slice(src);
    }
}

impl ByteBufMut for ChainBuf {
    fn offset(&self) -> usize {
        self.before_head + self.head.len()
    }

    fn seek(&mut self, offset: usize) {
        debug_assert!(offset >= self.before_head, "seek into a finished part");
        self.head.resize(offset.saturating_sub(self.before_head), 0);
    }

    fn range(&mut self, r: std::ops::Range<usize>) -> &mut [u8] {
        debug_assert!(r.start >= self.before_head, "range in a finished part");
        let start = r.start.saturating_sub(self.before_head);
        let end = r.end.saturating_sub(self.before_head);
        &mut self.head[start..end]
    }
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

    /// The frame as the encoder writes it into one buffer.
    fn plain_frame(response: &Response, version: i16, correlation_id: i32) -> Vec<u8> {
        let mut buf = BytesMut::new();
        buf.put_i32(0);
        ResponseHeader::default()
            .with_correlation_id(correlation_id)
            .encode(
                &mut buf,
                response.api_key().response_header_version(version),
            )
            .unwrap();
        response.encode_body(&mut buf, version).unwrap();
        let length = (buf.len() - 4) as i32;
        buf[..4].copy_from_slice(&length.to_be_bytes());
        buf.to_vec()
    }

    fn fetch_response(records: &[Option<Bytes>]) -> Response {
        use kafka_protocol::messages::fetch_response::{
            AbortedTransaction, FetchableTopicResponse, LeaderIdAndEpoch, PartitionData,
        };
        use kafka_protocol::messages::{BrokerId, ProducerId, TopicName};
        use kafka_protocol::protocol::StrBytes;
        let partitions = |topic: usize| {
            records
                .iter()
                .enumerate()
                .map(|(index, records)| {
                    let mut partition = PartitionData::default()
                        .with_partition_index(index as i32)
                        .with_high_watermark(1_000 + index as i64)
                        .with_records(records.clone());
                    if topic == 1 && index == 0 {
                        // Fields written after the records on flexible versions.
                        partition = partition
                            .with_current_leader(
                                LeaderIdAndEpoch::default()
                                    .with_leader_id(BrokerId(3))
                                    .with_leader_epoch(7),
                            )
                            .with_aborted_transactions(Some(vec![
                                AbortedTransaction::default()
                                    .with_producer_id(ProducerId(9))
                                    .with_first_offset(5),
                            ]));
                    }
                    partition
                })
                .collect::<Vec<_>>()
        };
        let topics = (0..2)
            .map(|topic| {
                FetchableTopicResponse::default()
                    .with_topic(TopicName(StrBytes::from_string(format!("topic-{topic}"))))
                    .with_partitions(partitions(topic))
            })
            .collect();
        Response::Fetch(kafka_protocol::messages::FetchResponse::default().with_responses(topics))
    }

    #[test]
    fn a_fetch_response_chain_is_the_same_frame_with_record_sets_referenced() {
        let big = |fill: u8, len: usize| Bytes::from(vec![fill; len]);
        let records = [
            Some(big(1, SHARE_MIN_BYTES)),
            Some(big(2, 100)),
            None,
            Some(Bytes::new()),
            Some(big(3, 70_000)),
        ];
        let response = fetch_response(&records);
        for version in 4..=18 {
            let chain = encode_response_chain(&response, version, 42).unwrap();
            assert_eq!(
                chain.to_bytes().to_vec(),
                plain_frame(&response, version, 42),
                "fetch v{version}"
            );
            // Both topics' two big record sets are parts of their own, the
            // very buffers the response holds.
            let referenced = chain
                .parts
                .iter()
                .filter(|part| {
                    records.iter().flatten().any(|records| {
                        records.len() >= SHARE_MIN_BYTES
                            && std::ptr::eq(part.as_ptr(), records.as_ptr())
                            && part.len() == records.len()
                    })
                })
                .count();
            assert_eq!(referenced, 4, "fetch v{version}");
            // header, big, between, big | header, big, between, big, then
            // the tagged fields that end flexible versions.
            let parts = if version >= 12 { 9 } else { 8 };
            assert_eq!(chain.parts.len(), parts, "fetch v{version}");
        }
    }

    #[test]
    fn other_responses_are_one_part() {
        let body = ApiVersionsResponse::default().with_api_keys(api_versions());
        let chain = encode_response_chain(&Response::ApiVersions(body), 3, 1).unwrap();
        assert_eq!(chain.parts.len(), 1);
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
