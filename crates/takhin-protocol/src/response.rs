//! Response encoding: length prefix, response header, body.
//!
//! A response is encoded as a chain of parts ([`EncodedResponse`]) that the
//! connection writes in order, so a fetch's record sets are never copied
//! into the frame:
//! - record sets already in memory stay in the buffers they were read into
//!   (vectored writes);
//! - record sets in the page cache stay in their segment files: the fetch
//!   handler puts a placeholder in the response ([`file_records_placeholder`])
//!   and hands the file ranges beside it ([`Reply`]); the connection sends
//!   them with `sendfile`.
//!
//! Measured on a backlog consumer (8 partitions, 1 MiB per partition per
//! fetch): copying record sets into the frame was a fifth of the broker's
//! CPU, and it delayed each response by the copy of several MiB.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

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

/// Longest record set a response can keep in files (a placeholder's length).
pub const MAX_FILE_RECORDS_BYTES: usize = 64 * 1024 * 1024;

/// Most record sets one response can keep in files.
pub const MAX_FILE_RECORD_SETS: usize = 64 * 1024;

/// Placeholders are slices of this: the `i`th set's starts at byte `i`, so its
/// address says which set it stands for. Never read; zero-initialised, it
/// costs address space only.
static PLACEHOLDERS: [u8; MAX_FILE_RECORDS_BYTES + MAX_FILE_RECORD_SETS] =
    [0; MAX_FILE_RECORDS_BYTES + MAX_FILE_RECORD_SETS];

/// A range of a file, written to the connection with `sendfile`.
#[derive(Debug, Clone)]
pub struct FilePart {
    pub file: Arc<File>,
    pub position: u64,
    pub len: usize,
}

/// One part of an encoded frame.
#[derive(Debug, Clone)]
pub enum Part {
    Memory(Bytes),
    File(FilePart),
}

impl Part {
    pub fn len(&self) -> usize {
        match self {
            Part::Memory(bytes) => bytes.len(),
            Part::File(file) => file.len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A handler's answer: the response, and the record sets that stand in it
/// as placeholders (`file_records[i]` for [`file_records_placeholder`]`(i, _)`).
#[derive(Debug)]
pub struct Reply {
    pub response: Response,
    pub file_records: Vec<Vec<FilePart>>,
}

impl From<Response> for Reply {
    fn from(response: Response) -> Reply {
        Reply {
            response,
            file_records: Vec::new(),
        }
    }
}

/// The stand-in for the `index`th record set a response keeps in files,
/// `len` bytes long; `None` past [`MAX_FILE_RECORD_SETS`] or
/// [`MAX_FILE_RECORDS_BYTES`] (keep such a set in memory).
pub fn file_records_placeholder(index: usize, len: usize) -> Option<Bytes> {
    (index < MAX_FILE_RECORD_SETS && len <= MAX_FILE_RECORDS_BYTES)
        .then(|| Bytes::from_static(&PLACEHOLDERS[index..index + len]))
}

/// Which placeholder `bytes` is, if it is one.
fn placeholder_index(bytes: &[u8]) -> Option<usize> {
    let base = PLACEHOLDERS.as_ptr() as usize;
    let at = bytes.as_ptr() as usize;
    (!bytes.is_empty() && at >= base && at < base + MAX_FILE_RECORD_SETS).then(|| at - base)
}

/// A complete response frame (length prefix included) as a chain of parts
/// to be written in order.
#[derive(Debug, Clone, Default)]
pub struct EncodedResponse {
    pub parts: Vec<Part>,
}

impl EncodedResponse {
    /// Total bytes of the frame.
    pub fn len(&self) -> usize {
        self.parts.iter().map(Part::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.parts.iter().all(Part::is_empty)
    }

    /// The frame as one buffer: copies when there are several parts, reads
    /// the file parts.
    pub fn to_bytes(&self) -> io::Result<Bytes> {
        if let [Part::Memory(only)] = self.parts.as_slice() {
            return Ok(only.clone());
        }
        let mut all = BytesMut::with_capacity(self.len());
        for part in &self.parts {
            match part {
                Part::Memory(bytes) => all.extend_from_slice(bytes),
                Part::File(file) => {
                    let start = all.len();
                    all.resize(start + file.len, 0);
                    file.file.read_exact_at(&mut all[start..], file.position)?;
                }
            }
        }
        Ok(all.freeze())
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
    Ok(encode_response_chain(response, &[], api_version, correlation_id)?.to_bytes()?)
}

/// [`encode_response`] as a chain: a fetch's record sets of
/// [`SHARE_MIN_BYTES`] or more referenced instead of copied, and
/// `file_records` (a [`Reply`]'s) in place of their placeholders.
pub fn encode_response_chain(
    response: &Response,
    file_records: &[Vec<FilePart>],
    api_version: i16,
    correlation_id: i32,
) -> anyhow::Result<EncodedResponse> {
    let api_key = response.api_key();
    let header_version = if api_key == ApiKey::ApiVersions {
        0
    } else {
        api_key.response_header_version(api_version)
    };
    let mut buf = ChainBuf::new(shared_fields(response), file_records);
    buf.put_i32(0);
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut buf, header_version)?;
    response.encode_body(&mut buf, api_version)?;
    let body_length = i32::try_from(buf.offset() - 4)?;
    Ok(EncodedResponse {
        parts: buf.finish(body_length.to_be_bytes())?,
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
        .filter(|records| records.len() >= SHARE_MIN_BYTES && placeholder_index(records).is_none())
        .collect()
}

/// A buffer the Kafka encoders write into that keeps known `Bytes` fields by
/// reference: when the encoder copies a slice that *is* the next expected
/// field (same address and length), the bytes written so far become one part
/// and the field another. Anything else is copied as usual, so an encoder
/// that wrote fields in another order would only lose the saving. A
/// placeholder becomes its file parts; one that matches no file record set
/// (which would put zeros on the wire) fails the encoding.
///
/// Message encoders only append. (Record-batch encoders seek back to fill in
/// lengths and CRCs; they never write into a `ChainBuf`.) `seek` and `range`
/// therefore work within the current part only.
struct ChainBuf<'a> {
    parts: Vec<Part>,
    head: BytesMut,
    /// Bytes in `parts`.
    before_head: usize,
    shared: std::vec::IntoIter<Bytes>,
    next_shared: Option<Bytes>,
    file_records: &'a [Vec<FilePart>],
    /// Which file record sets were written.
    files_written: Vec<bool>,
    /// A placeholder that matched no file record set, or matched one twice.
    bad_placeholder: Option<usize>,
}

impl<'a> ChainBuf<'a> {
    fn new(shared: Vec<Bytes>, file_records: &'a [Vec<FilePart>]) -> ChainBuf<'a> {
        let mut shared = shared.into_iter();
        let next_shared = shared.next();
        ChainBuf {
            parts: Vec::new(),
            head: BytesMut::with_capacity(256),
            before_head: 0,
            shared,
            next_shared,
            file_records,
            files_written: vec![false; file_records.len()],
            bad_placeholder: None,
        }
    }

    /// Ends the current part (if it has bytes) so a referenced one can follow.
    fn close_head(&mut self) {
        if !self.head.is_empty() {
            let head = self.head.split().freeze();
            self.before_head += head.len();
            self.parts.push(Part::Memory(head));
        }
    }

    /// Writes the file record set `index` in place of its placeholder `src`.
    fn put_file_records(&mut self, index: usize, src: &[u8]) {
        let Some(set) = self.file_records.get(index) else {
            self.bad_placeholder = Some(index);
            return;
        };
        let len: usize = set.iter().map(|part| part.len).sum();
        if len != src.len() || self.files_written[index] {
            self.bad_placeholder = Some(index);
            return;
        }
        self.files_written[index] = true;
        self.close_head();
        self.before_head += len;
        self.parts.extend(set.iter().cloned().map(Part::File));
    }

    /// The parts, with the first four bytes (written as a placeholder, never
    /// shared) replaced by `prefix`.
    fn finish(mut self, prefix: [u8; 4]) -> anyhow::Result<Vec<Part>> {
        if let Some(index) = self.bad_placeholder {
            anyhow::bail!(
                "file record set placeholder {index} does not match the response's file record sets"
            );
        }
        if let Some(index) = self.files_written.iter().position(|written| !written) {
            anyhow::bail!("file record set {index} has no placeholder in the response");
        }
        if self.parts.is_empty() {
            self.head[..4].copy_from_slice(&prefix);
            return Ok(vec![Part::Memory(self.head.freeze())]);
        }
        // The first part was split off the buffer and is referenced nowhere
        // else, so taking it back is not a copy.
        let Part::Memory(first) = std::mem::replace(&mut self.parts[0], Part::Memory(Bytes::new()))
        else {
            anyhow::bail!("a frame must start with its length prefix in memory");
        };
        let mut first = match first.try_into_mut() {
            Ok(first) => first,
            Err(shared) => BytesMut::from(&shared[..]),
        };
        first[..4].copy_from_slice(&prefix);
        self.parts[0] = Part::Memory(first.freeze());
        if !self.head.is_empty() {
            self.parts.push(Part::Memory(self.head.freeze()));
        }
        Ok(self.parts)
    }
}

// SAFETY: every method forwards to the `BytesMut` that holds the bytes being
// written (`head`), which upholds `BufMut`'s contract; `put_slice` only adds
// whole parts before forwarding.
#[allow(unsafe_code)]
unsafe impl BufMut for ChainBuf<'_> {
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
        if let Some(index) = placeholder_index(src) {
            self.put_file_records(index, src);
            return;
        }
        if let Some(next) = &self.next_shared
            && next.len() == src.len()
            && std::ptr::eq(next.as_ptr(), src.as_ptr())
        {
            let next = next.clone();
            self.close_head();
            self.before_head += next.len();
            self.parts.push(Part::Memory(next));
            self.next_shared = self.shared.next();
            return;
        }
        self.head.put_slice(src);
    }
}

impl ByteBufMut for ChainBuf<'_> {
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
            let chain = encode_response_chain(&response, &[], version, 42).unwrap();
            assert_eq!(
                chain.to_bytes().unwrap().to_vec(),
                plain_frame(&response, version, 42),
                "fetch v{version}"
            );
            // Both topics' two big record sets are parts of their own, the
            // very buffers the response holds.
            let referenced = chain
                .parts
                .iter()
                .filter(|part| {
                    let Part::Memory(part) = part else {
                        return false;
                    };
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

    /// A file with distinct bytes everywhere, and the parts of it that make
    /// the record sets of `fetch_response`: index 0 one range, index 1 two.
    fn file_records() -> (tempfile::NamedTempFile, Vec<Vec<FilePart>>, Vec<Bytes>) {
        use std::io::Write;
        let mut file = tempfile::NamedTempFile::new().unwrap();
        let content: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
        file.write_all(&content).unwrap();
        let shared = Arc::new(file.reopen().unwrap());
        let part = |position: usize, len: usize| FilePart {
            file: shared.clone(),
            position: position as u64,
            len,
        };
        let sets = vec![
            vec![part(10, 50_000)],
            vec![part(100_000, 8_000), part(60_000, 30_000)],
        ];
        let bytes = sets
            .iter()
            .map(|set| {
                set.iter()
                    .flat_map(|p| content[p.position as usize..][..p.len].iter().copied())
                    .collect::<Vec<u8>>()
                    .into()
            })
            .collect();
        (file, sets, bytes)
    }

    #[test]
    fn file_record_sets_take_their_placeholders_places() {
        let (_file, sets, bytes) = file_records();
        let placeholder = |index: usize| file_records_placeholder(index, bytes[index].len());
        // Placeholders given in the order opposite to the sets: the address decides.
        let with_placeholders = fetch_response(&[
            placeholder(1),
            Some(Bytes::from_static(b"small")),
            placeholder(0),
        ]);
        let with_bytes = fetch_response(&[
            Some(bytes[1].clone()),
            Some(Bytes::from_static(b"small")),
            Some(bytes[0].clone()),
        ]);
        // Both topics carry the same partitions; give each topic its own sets.
        let Response::Fetch(mut fetch) = with_placeholders else {
            unreachable!()
        };
        let mut all_sets = sets.clone();
        all_sets.extend(sets.iter().cloned());
        for (index, partition) in fetch.responses[1].partitions.iter_mut().enumerate() {
            if index != 1 {
                let set = if index == 0 { 1 } else { 0 };
                partition.records = file_records_placeholder(2 + set, bytes[set].len());
            }
        }
        let with_placeholders = Response::Fetch(fetch);
        for version in 4..=18 {
            let chain = encode_response_chain(&with_placeholders, &all_sets, version, 5).unwrap();
            assert_eq!(
                chain.to_bytes().unwrap().to_vec(),
                plain_frame(&with_bytes, version, 5),
                "fetch v{version}"
            );
            let file_parts = chain
                .parts
                .iter()
                .filter(|part| matches!(part, Part::File(_)))
                .count();
            assert_eq!(file_parts, 6, "fetch v{version}");
        }
    }

    #[test]
    fn a_placeholder_without_its_file_records_fails_rather_than_send_zeros() {
        let (_file, sets, bytes) = file_records();
        let response = fetch_response(&[file_records_placeholder(0, bytes[0].len())]);
        // No sets at all, and a set of another length.
        assert!(encode_response_chain(&response, &[], 12, 1).is_err());
        assert!(encode_response_chain(&response, &sets[1..], 12, 1).is_err());
        // A set no placeholder stands for would never be sent.
        let response = fetch_response(&[Some(Bytes::from_static(b"x"))]);
        assert!(encode_response_chain(&response, &sets[..1], 12, 1).is_err());
    }

    #[test]
    fn placeholders_are_bounded() {
        assert!(file_records_placeholder(MAX_FILE_RECORD_SETS, 1).is_none());
        assert!(file_records_placeholder(0, MAX_FILE_RECORDS_BYTES + 1).is_none());
        let last = file_records_placeholder(MAX_FILE_RECORD_SETS - 1, MAX_FILE_RECORDS_BYTES);
        assert_eq!(last.map(|p| p.len()), Some(MAX_FILE_RECORDS_BYTES));
    }

    #[test]
    fn other_responses_are_one_part() {
        let body = ApiVersionsResponse::default().with_api_keys(api_versions());
        let chain = encode_response_chain(&Response::ApiVersions(body), &[], 3, 1).unwrap();
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
