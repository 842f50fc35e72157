//! Record batch format v2 (magic 2): a zero-copy header view, produce-path validation, and a
//! record codec that keeps repeated header keys and bounds every count by the bytes present.
//!
//! # Byte layout (all integers big-endian)
//!
//! ```text
//! offset  size  field
//!      0     8  baseOffset            ┐ outside the CRC: the log rewrites these two
//!      8     4  batchLength           │ (bytes after this field; total = batchLength + 12)
//!     12     4  partitionLeaderEpoch  ┘ outside the CRC: rewritten on append
//!     16     1  magic (= 2)
//!     17     4  crc (CRC-32C over bytes 21..end of batch)
//!     21     2  attributes: bits 0-2 compression (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd),
//!               bit 3 timestampType (1 = LogAppendTime), bit 4 isTransactional, bit 5 isControl,
//!               bit 6 hasDeleteHorizon (KIP-534: baseTimestamp holds deleteHorizonMs)
//!     23     4  lastOffsetDelta
//!     27     8  baseTimestamp         (deleteHorizonMs when bit 6 is set)
//!     35     8  maxTimestamp          (inside the CRC: a LogAppendTime rewrite recomputes it)
//!     43     8  producerId
//!     51     2  producerEpoch
//!     53     4  baseSequence
//!     57     4  recordsCount
//!     61     …  records (compressed as a whole when compression != none)
//! ```
//!
//! Each record: `length varint, attributes i8, timestampDelta varlong, offsetDelta varint,
//! keyLength varint (-1 = null), key, valueLength varint (-1 = null), value, headersCount varint,
//! headers (keyLength varint, key utf8, valueLength varint (-1 = null), value)`. Varints are
//! zigzag-encoded (protobuf style).
//!
//! A record's timestamp is `baseTimestamp + timestampDelta` (CreateTime) or the batch's
//! maxTimestamp (LogAppendTime), whatever bit 6 says. When the log cleaner gives a batch a delete
//! horizon (KIP-534, Kafka 3.1+, see [`BatchHeader::delete_horizon_ms`]) it writes the horizon
//! into baseTimestamp and re-encodes every record's delta against it, as Kafka's
//! `MemoryRecordsBuilder` does, so every reader (Kafka's `DefaultRecord.readFrom`, librdkafka,
//! [`decode_records`]) still computes the original record timestamps. Only producers' batches
//! need baseTimestamp to be the first record's timestamp, and the cleaner writes none of those.
//!
//! Nothing here panics on malformed input and nothing allocates based on a count read from the
//! wire beyond the bytes actually present: this module is fuzzed.

use std::borrow::Cow;
use std::io::Read;

use bytes::{BufMut, Bytes, BytesMut};

use crate::TimestampType;

/// Bytes before `batchLength`'s payload starts: baseOffset (8) + batchLength (4).
pub const LOG_OVERHEAD: usize = 12;
/// Magic byte of the only supported batch format.
pub const MAGIC_V2: i8 = 2;

const BASE_OFFSET_POS: usize = 0;
const BATCH_LENGTH_POS: usize = 8;
const PARTITION_LEADER_EPOCH_POS: usize = 12;
pub(crate) const MAGIC_POS: usize = 16;
const CRC_POS: usize = 17;
const ATTRIBUTES_POS: usize = 21;
const LAST_OFFSET_DELTA_POS: usize = 23;
const BASE_TIMESTAMP_POS: usize = 27;
const MAX_TIMESTAMP_POS: usize = 35;
const PRODUCER_ID_POS: usize = 43;
const PRODUCER_EPOCH_POS: usize = 51;
const BASE_SEQUENCE_POS: usize = 53;
const RECORDS_COUNT_POS: usize = 57;

const COMPRESSION_MASK: i16 = 0x07;
const TIMESTAMP_TYPE_BIT: i16 = 0x08;
const TRANSACTIONAL_BIT: i16 = 0x10;
const CONTROL_BIT: i16 = 0x20;
/// KIP-534: baseTimestamp is the batch's delete horizon (Kafka's `DELETE_HORIZON_FLAG_MASK`).
const DELETE_HORIZON_BIT: i16 = 0x40;

/// Smallest possible encoded record body: attributes, timestampDelta, offsetDelta, keyLength,
/// valueLength, headersCount, one byte each.
const MIN_RECORD_BODY_BYTES: usize = 6;

/// Compression codec of a batch (attributes bits 0-2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Compression {
    /// The attributes bits of this codec.
    pub fn id(self) -> i16 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }

    /// The codec for attributes bits 0-2, or `None` for the unassigned ids 5-7.
    pub fn from_attributes(attributes: i16) -> Option<Compression> {
        match attributes & COMPRESSION_MASK {
            0 => Some(Compression::None),
            1 => Some(Compression::Gzip),
            2 => Some(Compression::Snappy),
            3 => Some(Compression::Lz4),
            4 => Some(Compression::Zstd),
            _ => None,
        }
    }
}

/// Why a batch was rejected. Every message names the numbers involved.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error("batch at byte {position} is truncated: needs {needed} bytes, {available} available")]
    Truncated {
        position: usize,
        needed: usize,
        available: usize,
    },
    #[error(
        "batch at byte {position} has batchLength {batch_length}, smaller than the {minimum}-byte header"
    )]
    BadLength {
        position: usize,
        batch_length: i32,
        minimum: usize,
    },
    #[error("unsupported record batch magic {0} (only magic 2 is supported)")]
    UnsupportedMagic(i8),
    #[error("batch CRC-32C mismatch: header says {expected:#010x}, computed {computed:#010x}")]
    CrcMismatch { expected: u32, computed: u32 },
    #[error(
        "batch declares {records_count} records and lastOffsetDelta {last_offset_delta}, but {found} records were found"
    )]
    RecordCountMismatch {
        records_count: i32,
        last_offset_delta: i32,
        found: i64,
    },
    #[error("invalid record: {0}")]
    InvalidRecord(String),
    #[error("unknown compression codec in attributes {0:#06x}")]
    UnknownCompression(i16),
    #[error("failed to decompress batch records: {0}")]
    Decompress(String),
    #[error("failed to compress batch records: {0}")]
    Compress(String),
    #[error("decompressed records exceed the limit of {limit_bytes} bytes")]
    TooLarge { limit_bytes: usize },
    #[error("expected exactly one compressed record batch, found {0}")]
    NotExactlyOneBatch(usize),
}

impl BatchError {
    /// `true` for Kafka `CORRUPT_MESSAGE`, `false` for Kafka `INVALID_RECORD`, following where
    /// Kafka 4.1 throws `CorruptRecordException` versus `InvalidRecordException`:
    ///
    /// * corrupt: a batch length below the header size and a magic outside 0..=2
    ///   (`ByteBufferLogInputStream.nextBatchSize`), a CRC mismatch
    ///   (`DefaultRecordBatch.ensureValid`), and a compressed stream that does not decompress
    ///   (Kafka fails with a non-API `KafkaException` and closes the connection; a per-partition
    ///   `CORRUPT_MESSAGE` is the closest answer that keeps it open).
    /// * invalid: a batch length reaching past the bytes present (Kafka finds no whole batch:
    ///   "must have at least one record batch"), magic 0 or 1 (`ProduceRequest.validateRecords`),
    ///   record counts and record framing that disagree with the records (`LogValidator`,
    ///   `DefaultRecord.readFrom`), an unknown codec, limits, and the one-batch rule.
    pub fn is_corrupt(&self) -> bool {
        match self {
            BatchError::BadLength { .. } | BatchError::CrcMismatch { .. } => true,
            BatchError::Decompress(_) => true,
            BatchError::UnsupportedMagic(magic) => !(0..=1).contains(magic),
            BatchError::Truncated { .. }
            | BatchError::RecordCountMismatch { .. }
            | BatchError::InvalidRecord(_)
            | BatchError::UnknownCompression(_)
            | BatchError::Compress(_)
            | BatchError::TooLarge { .. }
            | BatchError::NotExactlyOneBatch(_) => false,
        }
    }
}

fn be_i16(buf: &[u8], pos: usize) -> i16 {
    i16::from_be_bytes([buf[pos], buf[pos + 1]])
}
fn be_i32(buf: &[u8], pos: usize) -> i32 {
    i32::from_be_bytes([buf[pos], buf[pos + 1], buf[pos + 2], buf[pos + 3]])
}
fn be_i64(buf: &[u8], pos: usize) -> i64 {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&buf[pos..pos + 8]);
    i64::from_be_bytes(bytes)
}

/// The 61-byte header of a v2 batch, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub records_count: i32,
}

impl BatchHeader {
    pub const SIZE: usize = 61;

    /// Decodes the header at the start of `buf`. Checks only that 61 bytes are present: no
    /// length, magic or CRC validation (see [`validate`]).
    pub fn parse(buf: &[u8]) -> Result<BatchHeader, BatchError> {
        if buf.len() < Self::SIZE {
            return Err(BatchError::Truncated {
                position: 0,
                needed: Self::SIZE,
                available: buf.len(),
            });
        }
        Ok(BatchHeader {
            base_offset: be_i64(buf, BASE_OFFSET_POS),
            batch_length: be_i32(buf, BATCH_LENGTH_POS),
            partition_leader_epoch: be_i32(buf, PARTITION_LEADER_EPOCH_POS),
            magic: buf[MAGIC_POS] as i8,
            crc: be_i32(buf, CRC_POS) as u32,
            attributes: be_i16(buf, ATTRIBUTES_POS),
            last_offset_delta: be_i32(buf, LAST_OFFSET_DELTA_POS),
            base_timestamp: be_i64(buf, BASE_TIMESTAMP_POS),
            max_timestamp: be_i64(buf, MAX_TIMESTAMP_POS),
            producer_id: be_i64(buf, PRODUCER_ID_POS),
            producer_epoch: be_i16(buf, PRODUCER_EPOCH_POS),
            base_sequence: be_i32(buf, BASE_SEQUENCE_POS),
            records_count: be_i32(buf, RECORDS_COUNT_POS),
        })
    }

    /// Size of the whole batch in bytes (batchLength + 12). Negative lengths give 0.
    pub fn total_size(&self) -> usize {
        usize::try_from(self.batch_length).unwrap_or(0) + LOG_OVERHEAD
    }

    pub fn last_offset(&self) -> i64 {
        self.base_offset + i64::from(self.last_offset_delta)
    }

    /// The codec; unknown ids (5-7) read as `None` here, [`validate`] rejects them.
    pub fn compression(&self) -> Compression {
        Compression::from_attributes(self.attributes).unwrap_or(Compression::None)
    }

    pub fn timestamp_type(&self) -> TimestampType {
        if self.attributes & TIMESTAMP_TYPE_BIT != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }

    pub fn is_transactional(&self) -> bool {
        self.attributes & TRANSACTIONAL_BIT != 0
    }

    pub fn is_control(&self) -> bool {
        self.attributes & CONTROL_BIT != 0
    }

    /// KIP-534 (Kafka's `RecordBatch.deleteHorizonMs`): with attributes bit 6 set, baseTimestamp
    /// is the time from which the log cleaner may remove this batch's tombstones (and, for a
    /// transaction marker, the marker). Set by the cleaner the first time it keeps a tombstone
    /// of the batch: `now + delete.retention.ms`. `None` without the bit.
    pub fn delete_horizon_ms(&self) -> Option<i64> {
        (self.attributes & DELETE_HORIZON_BIT != 0).then_some(self.base_timestamp)
    }

    /// base_sequence + last_offset_delta, wrapping past i32::MAX to 0 like Kafka's
    /// `DefaultRecordBatch.incrementSequence`.
    pub fn last_sequence(&self) -> i32 {
        increment_sequence(self.base_sequence, self.last_offset_delta)
    }
}

/// `sequence + increment`, wrapping past i32::MAX to 0 (Kafka `DefaultRecordBatch.incrementSequence`).
pub fn increment_sequence(sequence: i32, increment: i32) -> i32 {
    if sequence > i32::MAX - increment {
        increment - (i32::MAX - sequence) - 1
    } else {
        sequence + increment
    }
}

/// CRC-32C of a whole batch's checksummed region (attributes to end).
fn batch_crc(batch: &[u8]) -> u32 {
    crc32c::crc32c(&batch[ATTRIBUTES_POS..])
}

/// One or more batches that passed [`validate`]; only `validate` constructs it.
#[derive(Debug)]
pub struct ValidatedBatches {
    buf: Bytes,
    headers: Vec<BatchHeader>,
}

impl ValidatedBatches {
    pub fn headers(&self) -> &[BatchHeader] {
        &self.headers
    }
    pub fn size_bytes(&self) -> usize {
        self.buf.len()
    }
    /// Sum of the batches' record counts.
    pub fn records_count(&self) -> i64 {
        self.headers
            .iter()
            .map(|header| i64::from(header.records_count))
            .sum()
    }
    /// The batches' bytes, as validated.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }
    pub(crate) fn into_parts(self) -> (Bytes, Vec<BatchHeader>) {
        (self.buf, self.headers)
    }
}

/// Validates a Produce payload.
///
/// Per batch: at least 61 bytes, `batchLength` covers the header and fits in the buffer, magic 2,
/// known codec, CRC-32C, `recordsCount >= 1` and `lastOffsetDelta == recordsCount - 1`. Then the
/// records section (decompressed as a stream when the batch is compressed) is walked record by
/// record: each record's length varint and internal structure (attributes, varints, key, value,
/// headers, exactly filling the record's length) are checked, there must be exactly
/// `recordsCount` records, and the section (or decompressed stream) must end right after the
/// last one.
///
/// Memory is constant whatever the codec ratio: decompressed bytes pass through a
/// [`WALK_BUFFER_BYTES`] buffer and are never kept (snappy decompresses one block at a time, see
/// [`SNAPPY_BLOCK_BYTES_MAX`]). A batch that inflates beyond
/// [`MAX_DECOMPRESSED_BATCH_BYTES`](crate::MAX_DECOMPRESSED_BATCH_BYTES) is refused with
/// [`BatchError::TooLarge`].
///
/// As in Kafka's `LogValidator`, a payload holding a compressed batch must hold exactly one
/// batch, and an empty payload is rejected (`NotExactlyOneBatch(0)`).
///
/// `buf` is kept as it is (a produce request's records are a slice of the request frame): the
/// log writes it without copying it.
pub fn validate(buf: impl Into<Bytes>) -> Result<ValidatedBatches, BatchError> {
    validate_with_limit(buf.into(), crate::log::MAX_DECOMPRESSED_BATCH_BYTES)
}

/// [`validate`] with a chosen decompressed-size limit per batch (tests use small ones).
fn validate_with_limit(
    buf: impl Into<Bytes>,
    decompressed_limit_bytes: usize,
) -> Result<ValidatedBatches, BatchError> {
    let buf = buf.into();
    let mut headers = Vec::new();
    let mut position = 0usize;
    let mut any_compressed = false;
    while position < buf.len() {
        let header = validate_one(&buf[position..], position, decompressed_limit_bytes)?;
        any_compressed |= header.compression() != Compression::None;
        position += header.total_size();
        headers.push(header);
    }
    if headers.is_empty() || (any_compressed && headers.len() != 1) {
        return Err(BatchError::NotExactlyOneBatch(headers.len()));
    }
    Ok(ValidatedBatches { buf, headers })
}

/// Checks the framing (length and magic) of the batch at the start of `buf` and returns its
/// header. `position` only labels errors.
pub(crate) fn check_framing(buf: &[u8], position: usize) -> Result<BatchHeader, BatchError> {
    let header = BatchHeader::parse(buf).map_err(|_| BatchError::Truncated {
        position,
        needed: BatchHeader::SIZE,
        available: buf.len(),
    })?;
    if header.batch_length < (BatchHeader::SIZE - LOG_OVERHEAD) as i32 {
        return Err(BatchError::BadLength {
            position,
            batch_length: header.batch_length,
            minimum: BatchHeader::SIZE - LOG_OVERHEAD,
        });
    }
    if header.magic != MAGIC_V2 {
        return Err(BatchError::UnsupportedMagic(header.magic));
    }
    if header.total_size() > buf.len() {
        return Err(BatchError::Truncated {
            position,
            needed: header.total_size(),
            available: buf.len(),
        });
    }
    Ok(header)
}

/// Framing plus CRC: what recovery checks for every batch of an unclean segment.
pub(crate) fn check_framing_and_crc(
    buf: &[u8],
    position: usize,
) -> Result<BatchHeader, BatchError> {
    let header = check_framing(buf, position)?;
    let computed = batch_crc(&buf[..header.total_size()]);
    if computed != header.crc {
        return Err(BatchError::CrcMismatch {
            expected: header.crc,
            computed,
        });
    }
    Ok(header)
}

fn validate_one(
    buf: &[u8],
    position: usize,
    decompressed_limit_bytes: usize,
) -> Result<BatchHeader, BatchError> {
    let header = check_framing_and_crc(buf, position)?;
    let compression = Compression::from_attributes(header.attributes)
        .ok_or(BatchError::UnknownCompression(header.attributes))?;
    let count_mismatch = |found: i64| BatchError::RecordCountMismatch {
        records_count: header.records_count,
        last_offset_delta: header.last_offset_delta,
        found,
    };
    if header.records_count < 1
        || i64::from(header.last_offset_delta) != i64::from(header.records_count) - 1
    {
        return Err(count_mismatch(-1));
    }
    let section = &buf[BatchHeader::SIZE..header.total_size()];
    walk_records(&header, compression, section, decompressed_limit_bytes)?;
    Ok(header)
}

// ---------------------------------------------------------------------------------------------
// Streaming record walk (validation): constant memory whatever the compression ratio.

/// Decompressed bytes held at once while [`validate`] walks a records section.
pub const WALK_BUFFER_BYTES: usize = 64 * 1024;

/// Largest snappy block [`validate`] decompresses at once. Snappy blocks cannot be decoded as a
/// stream, so each is materialized: xerial-framed payloads (Kafka's Java client, 32 KiB blocks)
/// stay tiny, while an unframed payload (librdkafka; one block, 1 MB by default) is one block as
/// a whole. Snappy expands at most ~21x, so this also needs at least ~1.5 MiB of input.
pub const SNAPPY_BLOCK_BYTES_MAX: usize = 32 * 1024 * 1024;

/// Largest zstd window (log2 bytes) accepted: zstd's own default, which is what a Kafka producer
/// at `compression.zstd.level` 22 needs. The decoder keeps up to one window (128 MiB), touched
/// only as far as the frame actually writes.
const ZSTD_WINDOW_LOG_MAX: u32 = 27;

/// Checks that `section` (compressed with `compression`) holds exactly `header.records_count`
/// well-formed records and nothing after them, decompressing at most `limit_bytes`.
fn walk_records(
    header: &BatchHeader,
    compression: Compression,
    section: &[u8],
    limit_bytes: usize,
) -> Result<(), BatchError> {
    let error = |err: std::io::Error| BatchError::Decompress(format!("{compression:?}: {err}"));
    match compression {
        Compression::None => walk_stream(header, &mut RecordStream::over(section)),
        Compression::Gzip => walk_stream(
            header,
            &mut RecordStream::new(
                flate2::read::GzDecoder::new(section),
                compression,
                limit_bytes,
            ),
        ),
        Compression::Snappy => walk_stream(
            header,
            &mut RecordStream::new(SnappyBlocks::new(section), compression, limit_bytes),
        ),
        Compression::Lz4 => {
            let decoder = lz4::Decoder::new(section).map_err(error)?;
            let mut stream = RecordStream::new(decoder, compression, limit_bytes);
            walk_stream(header, &mut stream)?;
            // The lz4 decoder reports a frame cut before its end mark as a clean end of stream;
            // Kafka's reader fails on it ("Stream ended prematurely"), so ask whether it finished.
            let (_, finished) = stream.source.finish();
            finished.map_err(error)
        }
        Compression::Zstd => {
            let mut decoder = zstd::stream::read::Decoder::with_buffer(section).map_err(error)?;
            decoder.window_log_max(ZSTD_WINDOW_LOG_MAX).map_err(error)?;
            walk_stream(
                header,
                &mut RecordStream::new(decoder, compression, limit_bytes),
            )
        }
    }
}

fn walk_stream<R: Read>(
    header: &BatchHeader,
    stream: &mut RecordStream<'_, R>,
) -> Result<(), BatchError> {
    let count_mismatch = |found: i64| BatchError::RecordCountMismatch {
        records_count: header.records_count,
        last_offset_delta: header.last_offset_delta,
        found,
    };
    for index in 0..i64::from(header.records_count) {
        let Some(first) = stream.next_byte()? else {
            return Err(count_mismatch(index));
        };
        let length = stream.varint_after(first, index)?;
        let length = usize::try_from(length)
            .ok()
            .filter(|length| *length >= MIN_RECORD_BODY_BYTES)
            .ok_or_else(|| {
                BatchError::InvalidRecord(format!("record {index} has length {length}"))
            })?;
        check_record_body(&mut RecordBody {
            stream,
            remaining: length,
            index,
        })?;
    }
    if stream.next_byte()?.is_some() {
        // Kafka: "Incorrect declared batch size, records still remaining in file".
        return Err(count_mismatch(i64::from(header.records_count) + 1));
    }
    Ok(())
}

/// A decompressor seen through a fixed buffer, counting what it yields; or an uncompressed
/// records section walked where it lies (no buffer, no copy).
struct RecordStream<'a, R> {
    source: R,
    compression: Compression,
    /// Borrowed: the whole uncompressed section. Owned: the decompression buffer.
    buffer: Cow<'a, [u8]>,
    start: usize,
    end: usize,
    produced_bytes: usize,
    limit_bytes: usize,
}

impl<'a> RecordStream<'a, std::io::Empty> {
    /// An uncompressed section.
    fn over(section: &'a [u8]) -> Self {
        RecordStream {
            source: std::io::empty(),
            compression: Compression::None,
            buffer: Cow::Borrowed(section),
            start: 0,
            end: section.len(),
            produced_bytes: section.len(),
            limit_bytes: usize::MAX,
        }
    }
}

impl<R: Read> RecordStream<'_, R> {
    fn new(source: R, compression: Compression, limit_bytes: usize) -> Self {
        RecordStream {
            source,
            compression,
            buffer: Cow::Owned(vec![0; WALK_BUFFER_BYTES]),
            start: 0,
            end: 0,
            produced_bytes: 0,
            limit_bytes,
        }
    }

    /// Makes at least one byte available; `false` at the end of the stream.
    fn fill(&mut self) -> Result<bool, BatchError> {
        if self.start < self.end {
            return Ok(true);
        }
        let Cow::Owned(buffer) = &mut self.buffer else {
            // A borrowed section is the whole stream.
            return Ok(false);
        };
        loop {
            match self.source.read(buffer) {
                Ok(0) => return Ok(false),
                Ok(read) => {
                    self.produced_bytes = self.produced_bytes.saturating_add(read);
                    if self.produced_bytes > self.limit_bytes {
                        return Err(BatchError::TooLarge {
                            limit_bytes: self.limit_bytes,
                        });
                    }
                    self.start = 0;
                    self.end = read;
                    return Ok(true);
                }
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
                Err(err) => {
                    return Err(BatchError::Decompress(format!(
                        "{:?}: {err}",
                        self.compression
                    )));
                }
            }
        }
    }

    fn next_byte(&mut self) -> Result<Option<u8>, BatchError> {
        if !self.fill()? {
            return Ok(None);
        }
        self.start += 1;
        Ok(Some(self.buffer[self.start - 1]))
    }

    /// Discards `count` bytes; `false` if the stream ended first.
    fn skip(&mut self, mut count: usize) -> Result<bool, BatchError> {
        while count > 0 {
            if !self.fill()? {
                return Ok(false);
            }
            let step = count.min(self.end - self.start);
            self.start += step;
            count -= step;
        }
        Ok(true)
    }

    /// The rest of a record length varint whose first byte is `first`.
    fn varint_after(&mut self, first: u8, index: i64) -> Result<i32, BatchError> {
        let mut raw = u64::from(first & 0x7f);
        let mut byte = first;
        let mut used = 1;
        while byte & 0x80 != 0 {
            if used == 5 {
                return Err(BatchError::InvalidRecord(format!(
                    "record {index}: length varint longer than 5 bytes"
                )));
            }
            byte = self.next_byte()?.ok_or_else(|| {
                BatchError::InvalidRecord(format!("record {index}: records end inside its length"))
            })?;
            raw |= u64::from(byte & 0x7f) << (7 * used);
            used += 1;
        }
        let raw = u32::try_from(raw).map_err(|_| {
            BatchError::InvalidRecord(format!("record {index}: length varint overflows 32 bits"))
        })?;
        Ok(zigzag_i32(raw))
    }
}

/// What is left of one record's body while checking it: every read is charged to `remaining`.
struct RecordBody<'a, 'b, R> {
    stream: &'a mut RecordStream<'b, R>,
    remaining: usize,
    index: i64,
}

impl<R: Read> RecordBody<'_, '_, R> {
    fn invalid(&self, what: &str) -> BatchError {
        BatchError::InvalidRecord(format!("record {}: {what}", self.index))
    }

    fn byte(&mut self, what: &str) -> Result<u8, BatchError> {
        if self.remaining == 0 {
            return Err(self.invalid(&format!("{what} overruns the record length")));
        }
        let byte = self
            .stream
            .next_byte()?
            .ok_or_else(|| self.invalid(&format!("records end inside {what}")))?;
        self.remaining -= 1;
        Ok(byte)
    }

    fn unsigned_varint(&mut self, max_bytes: usize, what: &str) -> Result<u64, BatchError> {
        let mut value = 0u64;
        for index in 0..max_bytes {
            let byte = self.byte(what)?;
            value |= u64::from(byte & 0x7f) << (7 * index);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(self.invalid(&format!("{what} varint longer than {max_bytes} bytes")))
    }

    fn varint(&mut self, what: &str) -> Result<i32, BatchError> {
        let raw = self.unsigned_varint(5, what)?;
        let raw = u32::try_from(raw)
            .map_err(|_| self.invalid(&format!("{what} varint overflows 32 bits")))?;
        Ok(zigzag_i32(raw))
    }

    fn skip(&mut self, length: usize, what: &str) -> Result<(), BatchError> {
        if length > self.remaining {
            return Err(self.invalid(&format!(
                "{what} of {length} bytes exceeds the {} bytes left in the record",
                self.remaining
            )));
        }
        if !self.stream.skip(length)? {
            return Err(self.invalid(&format!("records end inside {what}")));
        }
        self.remaining -= length;
        Ok(())
    }

    /// A length-prefixed byte string; -1 is null, allowed only when `nullable`.
    fn bytes(&mut self, what: &str, nullable: bool) -> Result<(), BatchError> {
        let length = self.varint(what)?;
        if length == -1 && nullable {
            return Ok(());
        }
        let length = usize::try_from(length)
            .map_err(|_| self.invalid(&format!("{what} has length {length}")))?;
        self.skip(length, what)
    }
}

/// Checks one record body (the layout in the module docs) without keeping any of it: it must
/// parse and fill exactly its declared length, as Kafka's `DefaultRecord.readFrom` requires.
fn check_record_body<R: Read>(body: &mut RecordBody<'_, '_, R>) -> Result<(), BatchError> {
    body.byte("attributes")?;
    body.unsigned_varint(10, "timestamp delta")?;
    body.varint("offset delta")?;
    body.bytes("key", true)?;
    body.bytes("value", true)?;
    let headers_count = body.varint("headers count")?;
    // Each header takes at least two bytes, so the count is bounded by what is present.
    let headers_count = usize::try_from(headers_count)
        .ok()
        .filter(|count| *count <= body.remaining / 2)
        .ok_or_else(|| body.invalid(&format!("headers count {headers_count} is invalid")))?;
    for _ in 0..headers_count {
        body.bytes("header key", false)?;
        body.bytes("header value", true)?;
    }
    if body.remaining != 0 {
        return Err(body.invalid(&format!("{} unread bytes", body.remaining)));
    }
    Ok(())
}

/// Xerial-framed or unframed snappy (see [`decompress_snappy`]) as a `Read`, one block at a
/// time, each block at most [`SNAPPY_BLOCK_BYTES_MAX`] decompressed.
struct SnappyBlocks<'a> {
    input: &'a [u8],
    /// Next unread input byte; `None` for an unframed payload not yet decompressed.
    position: Option<usize>,
    framed: bool,
    block: Vec<u8>,
    block_position: usize,
    decoder: snap::raw::Decoder,
}

impl<'a> SnappyBlocks<'a> {
    fn new(input: &'a [u8]) -> Self {
        let framed =
            input.len() >= SNAPPY_XERIAL_HEADER_BYTES && &input[..8] == SNAPPY_XERIAL_MAGIC;
        SnappyBlocks {
            input,
            position: framed.then_some(SNAPPY_XERIAL_HEADER_BYTES),
            framed,
            block: Vec::new(),
            block_position: 0,
            decoder: snap::raw::Decoder::new(),
        }
    }

    /// Decompresses the next block into `self.block`; `false` when there is none.
    fn next_block(&mut self) -> std::io::Result<bool> {
        let invalid =
            |message: String| std::io::Error::new(std::io::ErrorKind::InvalidData, message);
        let compressed = match (self.framed, self.position) {
            (false, None) => {
                self.position = Some(self.input.len());
                self.input
            }
            (false, Some(_)) => return Ok(false),
            (true, None) => return Ok(false),
            (true, Some(position)) if position >= self.input.len() => return Ok(false),
            (true, Some(position)) => {
                if self.input.len() - position < 4 {
                    return Err(invalid("truncated block length".to_string()));
                }
                let length = be_i32(self.input, position) as u32 as usize;
                let start = position + 4;
                if length > self.input.len() - start {
                    return Err(invalid(format!("block of {length} bytes is truncated")));
                }
                self.position = Some(start + length);
                &self.input[start..start + length]
            }
        };
        let length =
            snap::raw::decompress_len(compressed).map_err(|err| invalid(err.to_string()))?;
        if length > SNAPPY_BLOCK_BYTES_MAX {
            return Err(invalid(format!(
                "block decompresses to {length} bytes, more than {SNAPPY_BLOCK_BYTES_MAX}"
            )));
        }
        self.block.clear();
        self.block.resize(length, 0);
        self.block_position = 0;
        self.decoder
            .decompress(compressed, &mut self.block)
            .map_err(|err| invalid(err.to_string()))?;
        Ok(true)
    }
}

impl Read for SnappyBlocks<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.block_position == self.block.len() {
            if !self.next_block()? {
                return Ok(0);
            }
        }
        let count = out.len().min(self.block.len() - self.block_position);
        out[..count].copy_from_slice(&self.block[self.block_position..self.block_position + count]);
        self.block_position += count;
        Ok(count)
    }
}

// ---------------------------------------------------------------------------------------------
// The header a batch is stored with.

/// The header `batch` (one whole validated batch) is stored with: baseOffset and
/// partitionLeaderEpoch set (both outside the CRC) and, for LogAppendTime, maxTimestamp and the
/// timestamp-type bit set with the CRC recomputed over the new header and the unchanged records.
/// Only the header changes, so the log writes the records section from the request as it is.
pub(crate) fn stored_header(
    batch: &[u8],
    base_offset: i64,
    leader_epoch: i32,
    log_append_time_ms: Option<i64>,
) -> [u8; BatchHeader::SIZE] {
    let mut header = [0u8; BatchHeader::SIZE];
    header.copy_from_slice(&batch[..BatchHeader::SIZE]);
    header[BASE_OFFSET_POS..BASE_OFFSET_POS + 8].copy_from_slice(&base_offset.to_be_bytes());
    header[PARTITION_LEADER_EPOCH_POS..PARTITION_LEADER_EPOCH_POS + 4]
        .copy_from_slice(&leader_epoch.to_be_bytes());
    if let Some(timestamp_ms) = log_append_time_ms {
        header[MAX_TIMESTAMP_POS..MAX_TIMESTAMP_POS + 8]
            .copy_from_slice(&timestamp_ms.to_be_bytes());
        let attributes = be_i16(&header, ATTRIBUTES_POS) | TIMESTAMP_TYPE_BIT;
        header[ATTRIBUTES_POS..ATTRIBUTES_POS + 2].copy_from_slice(&attributes.to_be_bytes());
        let crc = crc32c::crc32c_append(
            crc32c::crc32c(&header[ATTRIBUTES_POS..]),
            &batch[BatchHeader::SIZE..],
        );
        header[CRC_POS..CRC_POS + 4].copy_from_slice(&crc.to_be_bytes());
    }
    header
}

// ---------------------------------------------------------------------------------------------
// Varints (zigzag, protobuf style).

/// Reads a zigzag varint (at most 5 bytes); returns (value, bytes consumed).
pub(crate) fn read_varint(buf: &[u8]) -> Option<(i32, usize)> {
    let (raw, used) = read_unsigned_varint(buf, 5)?;
    let raw = u32::try_from(raw).ok()?;
    Some((zigzag_i32(raw), used))
}

fn zigzag_i32(raw: u32) -> i32 {
    ((raw >> 1) as i32) ^ -((raw & 1) as i32)
}

/// Reads a zigzag varlong (at most 10 bytes); returns (value, bytes consumed).
pub(crate) fn read_varlong(buf: &[u8]) -> Option<(i64, usize)> {
    let (raw, used) = read_unsigned_varint(buf, 10)?;
    Some((((raw >> 1) as i64) ^ -((raw & 1) as i64), used))
}

fn read_unsigned_varint(buf: &[u8], max_bytes: usize) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (index, byte) in buf.iter().take(max_bytes).enumerate() {
        value |= u64::from(byte & 0x7f) << (7 * index);
        if byte & 0x80 == 0 {
            return Some((value, index + 1));
        }
    }
    None
}

pub(crate) fn put_varint(out: &mut BytesMut, value: i32) {
    put_unsigned_varint(out, u64::from(((value << 1) ^ (value >> 31)) as u32));
}

pub(crate) fn put_varlong(out: &mut BytesMut, value: i64) {
    put_unsigned_varint(out, ((value << 1) ^ (value >> 63)) as u64);
}

fn put_unsigned_varint(out: &mut BytesMut, mut value: u64) {
    while value >= 0x80 {
        out.put_u8((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.put_u8(value as u8);
}

// ---------------------------------------------------------------------------------------------
// Records.

/// A record header; keys may repeat within one record and keep their order.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordHeader {
    pub key: String,
    pub value: Option<Bytes>,
}

/// A decoded record with its absolute offset and timestamp (the batch's maxTimestamp for
/// LogAppendTime batches, as Kafka reports it).
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    pub offset: i64,
    pub timestamp: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<RecordHeader>,
}

/// Cursor over a records section; every read is bounds-checked.
struct Cursor<'a> {
    bytes: &'a Bytes,
    position: usize,
    end: usize,
}

impl Cursor<'_> {
    fn remaining(&self) -> usize {
        self.end - self.position
    }
    fn varint(&mut self, what: &str) -> Result<i32, BatchError> {
        let (value, used) = read_varint(&self.bytes[self.position..self.end]).ok_or_else(|| {
            BatchError::InvalidRecord(format!("bad varint for {what} at byte {}", self.position))
        })?;
        self.position += used;
        Ok(value)
    }
    fn varlong(&mut self, what: &str) -> Result<i64, BatchError> {
        let (value, used) =
            read_varlong(&self.bytes[self.position..self.end]).ok_or_else(|| {
                BatchError::InvalidRecord(format!(
                    "bad varlong for {what} at byte {}",
                    self.position
                ))
            })?;
        self.position += used;
        Ok(value)
    }
    fn i8(&mut self, what: &str) -> Result<i8, BatchError> {
        if self.remaining() < 1 {
            return Err(BatchError::InvalidRecord(format!("missing {what}")));
        }
        self.position += 1;
        Ok(self.bytes[self.position - 1] as i8)
    }
    /// A length-prefixed byte string; -1 means null.
    fn nullable_bytes(&mut self, what: &str) -> Result<Option<Bytes>, BatchError> {
        let length = self.varint(what)?;
        if length == -1 {
            return Ok(None);
        }
        let length = usize::try_from(length)
            .ok()
            .filter(|length| *length <= self.remaining())
            .ok_or_else(|| {
                BatchError::InvalidRecord(format!(
                    "{what} length {length} exceeds {} remaining bytes",
                    self.remaining()
                ))
            })?;
        let value = self.bytes.slice(self.position..self.position + length);
        self.position += length;
        Ok(Some(value))
    }
}

/// Decodes (decompressing if needed) the records of one batch, the first in `batch`.
///
/// The decompressed records section may not exceed `max_decompressed_bytes`; record and header
/// counts are bounded by the bytes present; any inconsistency is an error, never a panic.
pub fn decode_records(
    batch: &[u8],
    max_decompressed_bytes: usize,
) -> Result<(BatchHeader, Vec<Record>), BatchError> {
    let header = check_framing(batch, 0)?;
    let compression = Compression::from_attributes(header.attributes)
        .ok_or(BatchError::UnknownCompression(header.attributes))?;
    let section = &batch[BatchHeader::SIZE..header.total_size()];
    let records_bytes = match compression {
        Compression::None => Bytes::copy_from_slice(section),
        codec => decompress(codec, section, max_decompressed_bytes)?,
    };
    let records = decode_record_section(&header, &records_bytes)?;
    Ok((header, records))
}

fn decode_record_section(header: &BatchHeader, bytes: &Bytes) -> Result<Vec<Record>, BatchError> {
    let declared = usize::try_from(header.records_count).unwrap_or(0);
    let mut records = Vec::with_capacity(declared.min(bytes.len() / (MIN_RECORD_BODY_BYTES + 1)));
    let mut cursor = Cursor {
        bytes,
        position: 0,
        end: bytes.len(),
    };
    while cursor.position < bytes.len() {
        if records.len() >= declared {
            return Err(BatchError::RecordCountMismatch {
                records_count: header.records_count,
                last_offset_delta: header.last_offset_delta,
                found: records.len() as i64 + 1,
            });
        }
        let length = cursor.varint("record length")?;
        let length = usize::try_from(length)
            .ok()
            .filter(|length| *length <= cursor.remaining())
            .ok_or_else(|| {
                BatchError::InvalidRecord(format!("record {} has length {length}", records.len()))
            })?;
        let mut record_cursor = Cursor {
            bytes,
            position: cursor.position,
            end: cursor.position + length,
        };
        records.push(decode_record(header, &mut record_cursor)?);
        if record_cursor.position != record_cursor.end {
            return Err(BatchError::InvalidRecord(format!(
                "record {} has {} unread bytes",
                records.len() - 1,
                record_cursor.remaining()
            )));
        }
        cursor.position += length;
    }
    if records.len() != declared {
        return Err(BatchError::RecordCountMismatch {
            records_count: header.records_count,
            last_offset_delta: header.last_offset_delta,
            found: records.len() as i64,
        });
    }
    Ok(records)
}

fn decode_record(header: &BatchHeader, cursor: &mut Cursor<'_>) -> Result<Record, BatchError> {
    let _attributes = cursor.i8("record attributes")?;
    let timestamp_delta = cursor.varlong("timestamp delta")?;
    let offset_delta = cursor.varint("offset delta")?;
    let key = cursor.nullable_bytes("key")?;
    let value = cursor.nullable_bytes("value")?;
    let headers_count = cursor.varint("headers count")?;
    // Each header takes at least two bytes, so the count is bounded by what is present.
    let headers_count = usize::try_from(headers_count)
        .ok()
        .filter(|count| *count <= cursor.remaining() / 2)
        .ok_or_else(|| {
            BatchError::InvalidRecord(format!("headers count {headers_count} is invalid"))
        })?;
    let mut headers = Vec::with_capacity(headers_count);
    for _ in 0..headers_count {
        let key_bytes = cursor
            .nullable_bytes("header key")?
            .ok_or_else(|| BatchError::InvalidRecord("null header key".to_string()))?;
        let key = String::from_utf8(key_bytes.to_vec())
            .map_err(|_| BatchError::InvalidRecord("header key is not UTF-8".to_string()))?;
        let value = cursor.nullable_bytes("header value")?;
        headers.push(RecordHeader { key, value });
    }
    let timestamp = match header.timestamp_type() {
        TimestampType::LogAppendTime => header.max_timestamp,
        TimestampType::CreateTime => header.base_timestamp.wrapping_add(timestamp_delta),
    };
    Ok(Record {
        offset: header.base_offset + i64::from(offset_delta),
        timestamp,
        key,
        value,
        headers,
    })
}

/// Decompresses a records section, failing with `TooLarge` as soon as the output would exceed
/// `limit_bytes` (the output is never allocated beyond limit + one read chunk).
fn decompress(codec: Compression, input: &[u8], limit_bytes: usize) -> Result<Bytes, BatchError> {
    let error = |err: std::io::Error| BatchError::Decompress(format!("{codec:?}: {err}"));
    let mut out = Vec::new();
    let limit = limit_bytes as u64 + 1;
    match codec {
        Compression::None => out.extend_from_slice(input),
        Compression::Gzip => {
            flate2::read::GzDecoder::new(input)
                .take(limit)
                .read_to_end(&mut out)
                .map_err(error)?;
        }
        Compression::Lz4 => {
            lz4::Decoder::new(input)
                .map_err(error)?
                .take(limit)
                .read_to_end(&mut out)
                .map_err(error)?;
        }
        Compression::Zstd => {
            zstd::stream::read::Decoder::new(input)
                .map_err(error)?
                .take(limit)
                .read_to_end(&mut out)
                .map_err(error)?;
        }
        Compression::Snappy => out = decompress_snappy(input, limit_bytes)?,
    }
    if out.len() > limit_bytes {
        return Err(BatchError::TooLarge { limit_bytes });
    }
    Ok(Bytes::from(out))
}

/// Xerial snappy framing (what Kafka's Java client writes): 16-byte magic header, then blocks of
/// `u32 length` + raw snappy. Falls back to one raw snappy block (librdkafka's older format).
const SNAPPY_XERIAL_MAGIC: &[u8; 8] = b"\x82SNAPPY\x00";
const SNAPPY_XERIAL_HEADER_BYTES: usize = 16;

fn decompress_snappy(input: &[u8], limit_bytes: usize) -> Result<Vec<u8>, BatchError> {
    let mut out = Vec::new();
    if input.len() < SNAPPY_XERIAL_HEADER_BYTES || &input[..8] != SNAPPY_XERIAL_MAGIC {
        snappy_block(input, &mut out, limit_bytes)?;
        return Ok(out);
    }
    let mut position = SNAPPY_XERIAL_HEADER_BYTES;
    while position < input.len() {
        if input.len() - position < 4 {
            return Err(BatchError::Decompress(
                "snappy: truncated block length".to_string(),
            ));
        }
        let length = be_i32(input, position) as u32 as usize;
        position += 4;
        if length > input.len() - position {
            return Err(BatchError::Decompress(format!(
                "snappy: block of {length} bytes is truncated"
            )));
        }
        snappy_block(&input[position..position + length], &mut out, limit_bytes)?;
        position += length;
    }
    Ok(out)
}

fn snappy_block(block: &[u8], out: &mut Vec<u8>, limit_bytes: usize) -> Result<(), BatchError> {
    let error = |err: snap::Error| BatchError::Decompress(format!("snappy: {err}"));
    let length = snap::raw::decompress_len(block).map_err(error)?;
    if length > limit_bytes.saturating_sub(out.len()) {
        return Err(BatchError::TooLarge { limit_bytes });
    }
    let start = out.len();
    out.resize(start + length, 0);
    snap::raw::Decoder::new()
        .decompress(block, &mut out[start..])
        .map_err(error)?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Encoding.

/// Parameters of a batch built by [`encode_batch`].
#[derive(Clone, Debug)]
pub struct BatchBuilderParams {
    pub base_offset: i64,
    pub compression: Compression,
    pub timestamp_type: TimestampType,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub is_transactional: bool,
    pub partition_leader_epoch: i32,
}

impl Default for BatchBuilderParams {
    /// A non-idempotent, uncompressed CreateTime batch at offset 0.
    fn default() -> Self {
        BatchBuilderParams {
            base_offset: 0,
            compression: Compression::None,
            timestamp_type: TimestampType::CreateTime,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            is_transactional: false,
            partition_leader_epoch: -1,
        }
    }
}

/// Encodes `records` as one v2 batch. Each record's offset delta is `record.offset -
/// params.base_offset`; lastOffsetDelta is the last record's delta; baseTimestamp is the first
/// record's timestamp and maxTimestamp the largest.
pub fn encode_batch(
    params: &BatchBuilderParams,
    records: &[Record],
) -> Result<BytesMut, BatchError> {
    encode_batch_with_horizon(params, records, None)
}

/// [`encode_batch`], or with `delete_horizon_ms`: baseTimestamp = the horizon, attributes bit 6
/// set, and the record timestamp deltas relative to the horizon (Kafka's `MemoryRecordsBuilder`
/// with `deleteHorizonMs`), so decoded record timestamps are unchanged.
fn encode_batch_with_horizon(
    params: &BatchBuilderParams,
    records: &[Record],
    delete_horizon_ms: Option<i64>,
) -> Result<BytesMut, BatchError> {
    let (first, last) = match (records.first(), records.last()) {
        (Some(first), Some(last)) => (first, last),
        _ => {
            return Err(BatchError::InvalidRecord(
                "cannot encode an empty batch".to_string(),
            ));
        }
    };
    let base_timestamp = delete_horizon_ms.unwrap_or(first.timestamp);
    let max_timestamp = records
        .iter()
        .map(|record| record.timestamp)
        .max()
        .unwrap_or(base_timestamp);
    let to_i32 = |value: i64, what: &str| {
        i32::try_from(value)
            .map_err(|_| BatchError::InvalidRecord(format!("{what} {value} does not fit in i32")))
    };
    let last_offset_delta = to_i32(last.offset - params.base_offset, "offset delta")?;
    let records_count = to_i32(records.len() as i64, "record count")?;

    let mut raw = BytesMut::new();
    for record in records {
        encode_record(&mut raw, record, params.base_offset, base_timestamp)?;
    }
    let section = compress(params.compression, raw)?;

    let mut attributes = params.compression.id();
    if params.timestamp_type == TimestampType::LogAppendTime {
        attributes |= TIMESTAMP_TYPE_BIT;
    }
    if params.is_transactional {
        attributes |= TRANSACTIONAL_BIT;
    }
    if delete_horizon_ms.is_some() {
        attributes |= DELETE_HORIZON_BIT;
    }
    let batch_length = to_i32(
        (BatchHeader::SIZE - LOG_OVERHEAD + section.len()) as i64,
        "batch length",
    )?;
    let mut out = BytesMut::with_capacity(BatchHeader::SIZE + section.len());
    out.put_i64(params.base_offset);
    out.put_i32(batch_length);
    out.put_i32(params.partition_leader_epoch);
    out.put_i8(MAGIC_V2);
    out.put_u32(0); // CRC, filled below
    out.put_i16(attributes);
    out.put_i32(last_offset_delta);
    out.put_i64(base_timestamp);
    out.put_i64(max_timestamp);
    out.put_i64(params.producer_id);
    out.put_i16(params.producer_epoch);
    out.put_i32(params.base_sequence);
    out.put_i32(records_count);
    out.put_slice(&section);
    let crc = batch_crc(&out);
    out[CRC_POS..CRC_POS + 4].copy_from_slice(&crc.to_be_bytes());
    Ok(out)
}

/// Re-encodes the records a compaction kept from `original` as one batch that stands in for it,
/// as Kafka's `MemoryRecords.filterTo` does for v2 batches:
///
/// * same base offset and the same **last** offset (lastOffsetDelta is copied, so the producer's
///   last sequence survives and the batch still covers its original offset range; record
///   offset deltas then have gaps);
/// * same partition leader epoch, producer id, epoch, base sequence, transactional and control
///   flags, timestamp type and compression codec;
/// * recordsCount = `records.len()`, baseTimestamp/maxTimestamp from the kept records; for
///   LogAppendTime the kept records carry the original maxTimestamp (see [`decode_records`]), so
///   it is preserved;
/// * with `delete_horizon_ms` (KIP-534, Kafka's `buildRetainedRecordsInto(.., deleteHorizonMs)`):
///   attributes bit 6 set and baseTimestamp = the horizon, record timestamp deltas relative to
///   it (see [`BatchHeader::delete_horizon_ms`]); without it, no bit 6 (an original horizon is
///   not carried over implicitly: the caller passes the one it wants);
/// * with no records: a header-only batch (Kafka's `writeEmptyHeader`): no codec, no delete
///   horizon, base and max timestamp = the original maxTimestamp, recordsCount 0.
///
/// The CRC is computed over the new bytes. The result does **not** pass [`validate`] (which
/// requires recordsCount = lastOffsetDelta + 1, a produce-time rule); it passes
/// [`check_stored_batch`] and [`decode_records`].
pub(crate) fn encode_retained_batch(
    original: &BatchHeader,
    records: &[Record],
    delete_horizon_ms: Option<i64>,
) -> Result<BytesMut, BatchError> {
    let mut out = if records.is_empty() {
        let mut out = BytesMut::with_capacity(BatchHeader::SIZE);
        out.put_i64(original.base_offset);
        out.put_i32((BatchHeader::SIZE - LOG_OVERHEAD) as i32);
        out.put_i32(original.partition_leader_epoch);
        out.put_i8(MAGIC_V2);
        out.put_u32(0); // CRC, filled below
        out.put_i16(original.attributes & (TIMESTAMP_TYPE_BIT | TRANSACTIONAL_BIT));
        out.put_i32(original.last_offset_delta);
        out.put_i64(original.max_timestamp);
        out.put_i64(original.max_timestamp);
        out.put_i64(original.producer_id);
        out.put_i16(original.producer_epoch);
        out.put_i32(original.base_sequence);
        out.put_i32(0);
        out
    } else {
        let params = BatchBuilderParams {
            base_offset: original.base_offset,
            compression: original.compression(),
            timestamp_type: original.timestamp_type(),
            producer_id: original.producer_id,
            producer_epoch: original.producer_epoch,
            base_sequence: original.base_sequence,
            is_transactional: original.is_transactional(),
            partition_leader_epoch: original.partition_leader_epoch,
        };
        encode_batch_with_horizon(&params, records, delete_horizon_ms)?
    };
    let kept_last_offset = records.last().map_or(original.base_offset, |r| r.offset);
    if kept_last_offset > original.last_offset() {
        return Err(BatchError::InvalidRecord(format!(
            "kept record offset {kept_last_offset} beyond the batch's last offset {}",
            original.last_offset()
        )));
    }
    out[LAST_OFFSET_DELTA_POS..LAST_OFFSET_DELTA_POS + 4]
        .copy_from_slice(&original.last_offset_delta.to_be_bytes());
    let attributes = be_i16(&out, ATTRIBUTES_POS) | (original.attributes & CONTROL_BIT);
    out[ATTRIBUTES_POS..ATTRIBUTES_POS + 2].copy_from_slice(&attributes.to_be_bytes());
    let crc = batch_crc(&out);
    out[CRC_POS..CRC_POS + 4].copy_from_slice(&crc.to_be_bytes());
    Ok(out)
}

/// Checks a batch as stored in a segment (framing, magic 2, CRC-32C) and returns its header.
/// Unlike [`validate`] it accepts compacted batches, whose recordsCount may be smaller than
/// lastOffsetDelta + 1 (zero for a retained empty batch). Recovery applies the same check.
pub fn check_stored_batch(batch: &[u8]) -> Result<BatchHeader, BatchError> {
    check_framing_and_crc(batch, 0)
}

fn encode_record(
    out: &mut BytesMut,
    record: &Record,
    base_offset: i64,
    base_timestamp: i64,
) -> Result<(), BatchError> {
    let offset_delta = i32::try_from(record.offset - base_offset).map_err(|_| {
        BatchError::InvalidRecord(format!(
            "record offset {} below base {base_offset}",
            record.offset
        ))
    })?;
    let mut body = BytesMut::new();
    body.put_i8(0);
    put_varlong(&mut body, record.timestamp.wrapping_sub(base_timestamp));
    put_varint(&mut body, offset_delta);
    put_nullable_bytes(&mut body, record.key.as_deref())?;
    put_nullable_bytes(&mut body, record.value.as_deref())?;
    put_varint(&mut body, len_i32(record.headers.len())?);
    for header in &record.headers {
        put_nullable_bytes(&mut body, Some(header.key.as_bytes()))?;
        put_nullable_bytes(&mut body, header.value.as_deref())?;
    }
    put_varint(out, len_i32(body.len())?);
    out.put_slice(&body);
    Ok(())
}

fn len_i32(length: usize) -> Result<i32, BatchError> {
    i32::try_from(length)
        .map_err(|_| BatchError::InvalidRecord(format!("length {length} does not fit in i32")))
}

fn put_nullable_bytes(out: &mut BytesMut, value: Option<&[u8]>) -> Result<(), BatchError> {
    match value {
        None => put_varint(out, -1),
        Some(bytes) => {
            put_varint(out, len_i32(bytes.len())?);
            out.put_slice(bytes);
        }
    }
    Ok(())
}

fn compress(codec: Compression, raw: BytesMut) -> Result<BytesMut, BatchError> {
    use kafka_protocol::compression::{Compressor, Gzip, Lz4, Snappy, Zstd};
    let mut out = BytesMut::new();
    let fill = |tmp: &mut BytesMut| {
        tmp.put_slice(&raw);
        Ok(())
    };
    let result = match codec {
        Compression::None => return Ok(raw),
        Compression::Gzip => Gzip::compress(&mut out, fill),
        Compression::Snappy => Snappy::compress(&mut out, fill),
        Compression::Lz4 => Lz4::compress(&mut out, fill),
        Compression::Zstd => Zstd::compress(&mut out, fill),
    };
    result.map_err(|err| BatchError::Compress(format!("{codec:?}: {err}")))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(offset: i64, timestamp: i64, value: &str) -> Record {
        Record {
            offset,
            timestamp,
            key: Some(Bytes::from(format!("k{offset}"))),
            value: Some(Bytes::copy_from_slice(value.as_bytes())),
            headers: vec![
                RecordHeader {
                    key: "h".into(),
                    value: Some(Bytes::from_static(b"1")),
                },
                RecordHeader {
                    key: "h".into(),
                    value: None,
                },
            ],
        }
    }

    fn batch(compression: Compression, count: i64) -> BytesMut {
        let records: Vec<Record> = (0..count).map(|i| record(i, 1000 + i, "value")).collect();
        encode_batch(
            &BatchBuilderParams {
                compression,
                ..Default::default()
            },
            &records,
        )
        .unwrap()
    }

    #[test]
    fn varint_round_trip_edges() {
        for value in [0, 1, -1, 63, -64, 64, i32::MAX, i32::MIN] {
            let mut out = BytesMut::new();
            put_varint(&mut out, value);
            assert_eq!(read_varint(&out), Some((value, out.len())));
        }
        for value in [0i64, -1, i64::MAX, i64::MIN, 1 << 40] {
            let mut out = BytesMut::new();
            put_varlong(&mut out, value);
            assert_eq!(read_varlong(&out), Some((value, out.len())));
        }
        assert_eq!(read_varint(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x01]), None);
    }

    #[test]
    fn round_trip_every_codec_keeps_repeated_headers() {
        for codec in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let encoded = batch(codec, 5);
            let validated = validate(encoded.clone()).unwrap();
            assert_eq!(validated.headers()[0].compression(), codec);
            assert_eq!(validated.records_count(), 5);
            let (header, records) = decode_records(&encoded, 1 << 20).unwrap();
            assert_eq!(header.records_count, 5);
            assert_eq!(records.len(), 5);
            assert_eq!(records[3], record(3, 1003, "value"));
            assert_eq!(records[3].headers.len(), 2);
        }
    }

    #[test]
    fn decompression_is_bounded() {
        let records: Vec<Record> = (0..100)
            .map(|i| Record {
                offset: i,
                timestamp: 0,
                key: None,
                value: Some(Bytes::from(vec![0u8; 1000])),
                headers: vec![],
            })
            .collect();
        for codec in [
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let encoded = encode_batch(
                &BatchBuilderParams {
                    compression: codec,
                    ..Default::default()
                },
                &records,
            )
            .unwrap();
            let err = decode_records(&encoded, 10_000).unwrap_err();
            assert!(
                matches!(
                    err,
                    BatchError::TooLarge {
                        limit_bytes: 10_000
                    }
                ),
                "{codec:?}: {err}"
            );
            assert!(decode_records(&encoded, 200_000).is_ok());
        }
    }

    #[test]
    fn last_sequence_wraps() {
        let mut header = BatchHeader::parse(&batch(Compression::None, 3)).unwrap();
        header.base_sequence = i32::MAX - 1;
        assert_eq!(header.last_sequence(), 0);
        header.base_sequence = 5;
        assert_eq!(header.last_sequence(), 7);
    }

    #[test]
    fn validate_rejects_each_corruption() {
        let good = batch(Compression::None, 3);

        let mut crc = good.clone();
        let last = crc.len() - 1;
        crc[last] ^= 0xff;
        assert!(matches!(
            validate(crc).unwrap_err(),
            BatchError::CrcMismatch { .. }
        ));

        let mut magic = good.clone();
        magic[MAGIC_POS] = 1;
        let err = validate(magic.clone()).unwrap_err();
        assert!(matches!(err, BatchError::UnsupportedMagic(1)));
        assert!(!err.is_corrupt());

        magic[MAGIC_POS] = 3;
        let err = validate(magic.clone()).unwrap_err();
        assert!(matches!(err, BatchError::UnsupportedMagic(3)) && err.is_corrupt());
        magic[MAGIC_POS] = 0xff;
        assert!(validate(magic).unwrap_err().is_corrupt());

        // batchLength reaching past the bytes present: Kafka finds no whole batch, INVALID_RECORD.
        let truncated = BytesMut::from(&good[..good.len() - 1]);
        let err = validate(truncated).unwrap_err();
        assert!(matches!(err, BatchError::Truncated { .. }) && !err.is_corrupt());

        let short_header = BytesMut::from(&good[..30]);
        assert!(matches!(
            validate(short_header).unwrap_err(),
            BatchError::Truncated { needed: 61, .. }
        ));

        let mut bad_length = good.clone();
        bad_length[BATCH_LENGTH_POS..BATCH_LENGTH_POS + 4].copy_from_slice(&10i32.to_be_bytes());
        assert!(matches!(
            validate(bad_length).unwrap_err(),
            BatchError::BadLength {
                batch_length: 10,
                ..
            }
        ));

        // Count and delta disagree with the records (CRC recomputed so only the count is wrong).
        let mut count = good.clone();
        count[RECORDS_COUNT_POS..RECORDS_COUNT_POS + 4].copy_from_slice(&4i32.to_be_bytes());
        count[LAST_OFFSET_DELTA_POS..LAST_OFFSET_DELTA_POS + 4]
            .copy_from_slice(&3i32.to_be_bytes());
        fix_crc(&mut count);
        let err = validate(count).unwrap_err();
        assert!(
            matches!(err, BatchError::RecordCountMismatch { found: 3, .. }) && !err.is_corrupt()
        );

        let mut delta = good.clone();
        delta[LAST_OFFSET_DELTA_POS..LAST_OFFSET_DELTA_POS + 4]
            .copy_from_slice(&7i32.to_be_bytes());
        fix_crc(&mut delta);
        assert!(matches!(
            validate(delta).unwrap_err(),
            BatchError::RecordCountMismatch { found: -1, .. }
        ));

        let mut codec = good.clone();
        codec[ATTRIBUTES_POS + 1] |= 0x07;
        fix_crc(&mut codec);
        assert!(matches!(
            validate(codec).unwrap_err(),
            BatchError::UnknownCompression(7)
        ));

        // A record length varint pointing past the batch end.
        let mut record_length = good.clone();
        record_length[BatchHeader::SIZE] = 0x7e;
        fix_crc(&mut record_length);
        assert!(matches!(
            validate(record_length).unwrap_err(),
            BatchError::InvalidRecord(_)
        ));

        assert!(matches!(
            validate(BytesMut::new()).unwrap_err(),
            BatchError::NotExactlyOneBatch(0)
        ));
        let mut two_compressed = batch(Compression::Gzip, 2);
        two_compressed.extend_from_slice(&batch(Compression::Gzip, 2));
        assert!(matches!(
            validate(two_compressed).unwrap_err(),
            BatchError::NotExactlyOneBatch(2)
        ));
        let mut two_plain = good.clone();
        two_plain.extend_from_slice(&good);
        assert_eq!(validate(two_plain).unwrap().headers().len(), 2);
    }

    const COMPRESSED: [Compression; 4] = [
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    /// The uncompressed records section of `count` records, each value `value_bytes` long.
    fn raw_section(count: i64, value_bytes: usize) -> BytesMut {
        let records: Vec<Record> = (0..count)
            .map(|i| Record {
                value: Some(Bytes::from(vec![b'v'; value_bytes])),
                ..record(i, 1000 + i, "")
            })
            .collect();
        let encoded = encode_batch(&BatchBuilderParams::default(), &records).unwrap();
        BytesMut::from(&encoded[BatchHeader::SIZE..])
    }

    /// A batch whose header declares `records_count` records (and the matching
    /// lastOffsetDelta) around an arbitrary records `section`, with a valid CRC.
    fn batch_with_section(codec: Compression, section: &[u8], records_count: i32) -> BytesMut {
        let mut out = BytesMut::from(&batch(codec, 1)[..BatchHeader::SIZE]);
        out.extend_from_slice(section);
        let batch_length = (out.len() - LOG_OVERHEAD) as i32;
        out[BATCH_LENGTH_POS..BATCH_LENGTH_POS + 4].copy_from_slice(&batch_length.to_be_bytes());
        out[RECORDS_COUNT_POS..RECORDS_COUNT_POS + 4].copy_from_slice(&records_count.to_be_bytes());
        out[LAST_OFFSET_DELTA_POS..LAST_OFFSET_DELTA_POS + 4]
            .copy_from_slice(&(records_count - 1).to_be_bytes());
        fix_crc(&mut out);
        out
    }

    /// Deterministic pseudo-random bytes (xorshift), so failures reproduce.
    fn garbage(length: usize, seed: u64) -> Vec<u8> {
        let mut state = seed | 1;
        (0..length)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect()
    }

    #[test]
    fn compressed_valid_batches_pass() {
        for codec in COMPRESSED {
            for (count, value_bytes) in [(1, 0), (50, 10), (3, 200_000)] {
                let section = compress(codec, raw_section(count, value_bytes)).unwrap();
                let encoded = batch_with_section(codec, &section, count as i32);
                let validated = validate(encoded).unwrap();
                assert_eq!(validated.records_count(), count, "{codec:?}");
            }
        }
    }

    #[test]
    fn compressed_garbage_is_refused() {
        for codec in COMPRESSED {
            for seed in 1..20u64 {
                let section = garbage(300, seed * 7919);
                let err = validate(batch_with_section(codec, &section, 1)).unwrap_err();
                assert!(
                    matches!(
                        err,
                        BatchError::Decompress(_)
                            | BatchError::InvalidRecord(_)
                            | BatchError::RecordCountMismatch { .. }
                            | BatchError::TooLarge { .. }
                    ),
                    "{codec:?} seed {seed}: {err}"
                );
            }
            // Garbage behind a valid codec header (gzip/xerial/lz4/zstd magic kept).
            let mut section = compress(codec, raw_section(5, 100)).unwrap();
            let keep = 20.min(section.len() / 2);
            let tail = garbage(section.len() - keep, 42);
            section[keep..].copy_from_slice(&tail);
            assert!(
                validate(batch_with_section(codec, &section, 5)).is_err(),
                "{codec:?}"
            );
        }
        assert!(
            validate(batch_with_section(Compression::Gzip, &garbage(300, 3), 1))
                .unwrap_err()
                .is_corrupt()
        );
    }

    #[test]
    fn truncated_compressed_stream_is_refused() {
        for codec in COMPRESSED {
            let section = compress(codec, raw_section(20, 100)).unwrap();
            for keep in [
                0,
                1,
                section.len() / 2,
                section.len() - 4,
                section.len() - 1,
            ] {
                let result = validate(batch_with_section(codec, &section[..keep], 20));
                assert!(
                    result.is_err(),
                    "{codec:?} truncated to {keep} of {}",
                    section.len()
                );
            }
        }
    }

    #[test]
    fn compressed_record_count_must_match() {
        for codec in COMPRESSED {
            let section = compress(codec, raw_section(4, 10)).unwrap();
            let err = validate(batch_with_section(codec, &section, 3)).unwrap_err();
            assert!(
                matches!(err, BatchError::RecordCountMismatch { found: 4, .. })
                    && !err.is_corrupt(),
                "{codec:?}: {err}"
            );
            let err = validate(batch_with_section(codec, &section, 5)).unwrap_err();
            assert!(
                matches!(err, BatchError::RecordCountMismatch { found: 4, .. }),
                "{codec:?}: {err}"
            );
            assert!(validate(batch_with_section(codec, &section, 4)).is_ok());
        }
    }

    #[test]
    fn compressed_record_structure_is_checked() {
        // One record whose key length claims more bytes than the record holds.
        let mut raw = raw_section(1, 10);
        assert_eq!(raw[0] as usize, 2 * (raw.len() - 1)); // one-byte length varint
        // Body: attributes, timestampDelta, offsetDelta, then keyLength.
        raw[4] = 0x7e;
        for codec in COMPRESSED {
            let section = compress(codec, raw.clone()).unwrap();
            let err = validate(batch_with_section(codec, &section, 1)).unwrap_err();
            assert!(
                matches!(err, BatchError::InvalidRecord(_)),
                "{codec:?}: {err}"
            );
        }
        // Trailing bytes after the last record inside the decompressed stream.
        let mut raw = raw_section(2, 10);
        raw.extend_from_slice(&[0]);
        for codec in COMPRESSED {
            let section = compress(codec, raw.clone()).unwrap();
            let err = validate(batch_with_section(codec, &section, 2)).unwrap_err();
            assert!(
                matches!(err, BatchError::RecordCountMismatch { found: 3, .. }),
                "{codec:?}: {err}"
            );
        }
    }

    #[test]
    fn zip_bomb_is_refused_at_the_limit() {
        // A single 4 MiB record of one repeated byte: every codec compresses it at least 15x
        // (snappy tops out near 21x).
        let raw = raw_section(1, 4 * 1024 * 1024);
        for codec in COMPRESSED {
            let section = compress(codec, raw.clone()).unwrap();
            assert!(
                section.len() < raw.len() / 15,
                "{codec:?}: {}",
                section.len()
            );
            let encoded = batch_with_section(codec, &section, 1);
            let err = validate_with_limit(encoded.clone(), 1024 * 1024).unwrap_err();
            assert!(
                matches!(err, BatchError::TooLarge { limit_bytes } if limit_bytes == 1024 * 1024)
                    && !err.is_corrupt(),
                "{codec:?}: {err}"
            );
            // Under the limit it is walked through the fixed buffer and accepted.
            assert!(validate_with_limit(encoded, raw.len()).is_ok(), "{codec:?}");
        }
    }

    #[test]
    fn oversized_snappy_block_is_refused_before_allocating() {
        // An unframed snappy block whose length prefix claims 1 GiB.
        let mut section = BytesMut::new();
        put_unsigned_varint(&mut section, 1 << 30);
        section.extend_from_slice(&[0; 8]);
        let err = validate(batch_with_section(Compression::Snappy, &section, 1)).unwrap_err();
        assert!(matches!(err, BatchError::Decompress(_)), "{err}");
    }

    fn fix_crc(batch: &mut [u8]) {
        let crc = batch_crc(batch);
        batch[CRC_POS..CRC_POS + 4].copy_from_slice(&crc.to_be_bytes());
    }

    /// Rewrites `batch`'s header in place as the log stores it.
    fn restamp(
        batch: &mut [u8],
        base_offset: i64,
        leader_epoch: i32,
        log_append_time: Option<i64>,
    ) {
        let header = stored_header(batch, base_offset, leader_epoch, log_append_time);
        batch[..BatchHeader::SIZE].copy_from_slice(&header);
    }

    #[test]
    fn log_append_time_rewrite_keeps_crc_valid() {
        let mut encoded = batch(Compression::Lz4, 2);
        restamp(&mut encoded, 42, 7, Some(99_000));
        let validated = validate(encoded.clone()).unwrap();
        let header = validated.headers()[0];
        assert_eq!(
            (
                header.base_offset,
                header.partition_leader_epoch,
                header.max_timestamp
            ),
            (42, 7, 99_000)
        );
        assert_eq!(header.timestamp_type(), TimestampType::LogAppendTime);
        let (_, records) = decode_records(&encoded, 1 << 20).unwrap();
        assert!(records.iter().all(|record| record.timestamp == 99_000));
        assert_eq!(records[1].offset, 43);
    }

    const ALL_CODECS: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    /// Five records at 100..=104 with timestamps out of order, the third a tombstone.
    fn horizon_fixture(codec: Compression, timestamp_type: TimestampType) -> BytesMut {
        let records: Vec<Record> = [1_000, 990, 1_020, 1_005, 1_010]
            .into_iter()
            .enumerate()
            .map(|(index, timestamp)| Record {
                value: (index != 2).then(|| Bytes::from(format!("v{index}"))),
                ..record(100 + index as i64, timestamp, "")
            })
            .collect();
        let params = BatchBuilderParams {
            base_offset: 100,
            compression: codec,
            timestamp_type,
            producer_id: 9,
            producer_epoch: 2,
            base_sequence: 40,
            partition_leader_epoch: 3,
            ..Default::default()
        };
        encode_batch(&params, &records).unwrap()
    }

    #[test]
    fn delete_horizon_round_trips_through_the_header() {
        const HORIZON: i64 = 1_700_000_086_400;
        for codec in ALL_CODECS {
            for timestamp_type in [TimestampType::CreateTime, TimestampType::LogAppendTime] {
                let mut original = horizon_fixture(codec, timestamp_type);
                if timestamp_type == TimestampType::LogAppendTime {
                    restamp(&mut original, 100, 3, Some(5_000));
                }
                let (header, records) = decode_records(&original, 1 << 20).unwrap();
                assert_eq!(header.delete_horizon_ms(), None);
                let kept: Vec<Record> = records.iter().skip(1).cloned().collect();

                let with = encode_retained_batch(&header, &kept, Some(HORIZON)).unwrap();
                let stored = check_stored_batch(&with).unwrap();
                let context = format!("{codec:?} {timestamp_type:?}");
                assert_eq!(stored.delete_horizon_ms(), Some(HORIZON), "{context}");
                assert_eq!(stored.base_timestamp, HORIZON, "{context}");
                assert_eq!(stored.attributes & DELETE_HORIZON_BIT, DELETE_HORIZON_BIT);
                // Everything else about the batch is the original's.
                assert_eq!(
                    stored.attributes & !DELETE_HORIZON_BIT,
                    header.attributes,
                    "{context}"
                );
                assert_eq!(
                    (
                        stored.base_offset,
                        stored.last_offset(),
                        stored.max_timestamp
                    ),
                    (100, 104, header.max_timestamp),
                    "{context}"
                );
                assert_eq!(
                    (
                        stored.producer_id,
                        stored.producer_epoch,
                        stored.base_sequence,
                        stored.partition_leader_epoch
                    ),
                    (9, 2, 40, 3)
                );
                // Record timestamps are the original ones (deltas re-encoded against the
                // horizon), for CreateTime and LogAppendTime alike.
                let (_, decoded) = decode_records(&with, 1 << 20).unwrap();
                assert_eq!(decoded, kept, "{context}");

                let without = encode_retained_batch(&header, &kept, None).unwrap();
                let stored = check_stored_batch(&without).unwrap();
                assert_eq!(stored.delete_horizon_ms(), None, "{context}");
                assert_eq!(stored.base_timestamp, kept[0].timestamp, "{context}");
                assert_eq!(decode_records(&without, 1 << 20).unwrap().1, kept);

                // An empty header never carries a horizon (Kafka's `writeEmptyHeader`).
                let empty = encode_retained_batch(&stored, &[], Some(HORIZON)).unwrap();
                let stored = check_stored_batch(&empty).unwrap();
                assert_eq!(
                    (stored.delete_horizon_ms(), stored.records_count),
                    (None, 0)
                );
            }
        }
    }

    #[test]
    fn a_batch_with_the_delete_horizon_bit_passes_validation() {
        // A producer never sets bit 6, but validation accepts it as Kafka does (it is a
        // storage-only attribute, ignored by LogValidator).
        let mut encoded = batch(Compression::Lz4, 3);
        let attributes = be_i16(&encoded, ATTRIBUTES_POS) | DELETE_HORIZON_BIT;
        encoded[ATTRIBUTES_POS..ATTRIBUTES_POS + 2].copy_from_slice(&attributes.to_be_bytes());
        fix_crc(&mut encoded);
        let validated = validate(encoded).unwrap();
        let header = validated.headers()[0];
        assert_eq!(header.delete_horizon_ms(), Some(header.base_timestamp));
        assert_eq!(header.compression(), Compression::Lz4);
    }

    fn arbitrary_records() -> impl proptest::strategy::Strategy<Value = Vec<Record>> {
        use proptest::prelude::*;
        let bytes = || {
            proptest::option::of(
                proptest::collection::vec(any::<u8>(), 0..40).prop_map(Bytes::from),
            )
        };
        let record = (
            -1_000i64..1_000,
            bytes(),
            bytes(),
            proptest::collection::vec(("[a-c]{1,3}", bytes()), 0..4),
        );
        proptest::collection::vec(record, 1..12).prop_map(|records| {
            records
                .into_iter()
                .enumerate()
                .map(|(index, (timestamp_delta, key, value, headers))| Record {
                    offset: 100 + index as i64,
                    timestamp: 1_700_000_000_000 + timestamp_delta,
                    key,
                    value,
                    headers: headers
                        .into_iter()
                        .map(|(key, value)| RecordHeader { key, value })
                        .collect(),
                })
                .collect()
        })
    }

    proptest::proptest! {
        /// Our encoder and decoder agree with each other and with kafka-protocol's decoder.
        #[test]
        fn encode_decode_round_trip_and_interop(records in arbitrary_records(), codec in 0usize..5) {
            use kafka_protocol::records::RecordBatchDecoder;
            let codecs = [Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd];
            let params = BatchBuilderParams { base_offset: 100, compression: codecs[codec], producer_id: 5, producer_epoch: 1, base_sequence: 9, ..Default::default() };
            let encoded = encode_batch(&params, &records).unwrap();
            let validated = validate(encoded.clone()).unwrap();
            proptest::prop_assert_eq!(validated.headers()[0].last_sequence(), 9 + records.len() as i32 - 1);
            let (_, decoded) = decode_records(&encoded, 1 << 20).unwrap();
            proptest::prop_assert_eq!(&decoded, &records);

            let set = RecordBatchDecoder::decode(&mut encoded.clone().freeze()).unwrap();
            proptest::prop_assert_eq!(set.records.len(), records.len());
            for (theirs, ours) in set.records.iter().zip(&records) {
                proptest::prop_assert_eq!(theirs.offset, ours.offset);
                proptest::prop_assert_eq!(theirs.timestamp, ours.timestamp);
                proptest::prop_assert_eq!(&theirs.key, &ours.key);
                proptest::prop_assert_eq!(&theirs.value, &ours.value);
                proptest::prop_assert_eq!(theirs.producer_id, 5);
            }
        }

        /// Batches written by kafka-protocol's encoder validate and decode with ours.
        #[test]
        fn kafka_protocol_batches_decode(records in arbitrary_records(), codec in 0usize..5) {
            use kafka_protocol::records::{Compression as TheirCompression, Record as TheirRecord, RecordBatchEncoder, RecordEncodeOptions, TimestampType as TheirTimestampType};
            let codecs = [TheirCompression::None, TheirCompression::Gzip, TheirCompression::Snappy, TheirCompression::Lz4, TheirCompression::Zstd];
            let theirs: Vec<TheirRecord> = records
                .iter()
                .enumerate()
                .map(|(index, record)| TheirRecord {
                    transactional: false,
                    control: false,
                    delete_horizon: false,
                    partition_leader_epoch: 0,
                    producer_id: -1,
                    producer_epoch: -1,
                    timestamp_type: TheirTimestampType::Creation,
                    offset: index as i64,
                    sequence: -1,
                    timestamp: record.timestamp,
                    key: record.key.clone(),
                    value: record.value.clone(),
                    headers: Default::default(),
                })
                .collect();
            let mut encoded = BytesMut::new();
            RecordBatchEncoder::encode(&mut encoded, &theirs, &RecordEncodeOptions { version: 2, compression: codecs[codec] }).unwrap();
            // kafka-protocol starts a new batch whenever record properties change, and a
            // compressed payload must be a single batch, so validate batch by batch.
            let mut decoded = Vec::new();
            let mut rest = &encoded[..];
            while !rest.is_empty() {
                let size = BatchHeader::parse(rest).unwrap().total_size();
                validate(BytesMut::from(&rest[..size])).unwrap();
                decoded.extend(decode_records(&rest[..size], 1 << 20).unwrap().1);
                rest = &rest[size..];
            }
            proptest::prop_assert_eq!(decoded.len(), records.len());
            for (index, (ours, original)) in decoded.iter().zip(&records).enumerate() {
                proptest::prop_assert_eq!(ours.offset, index as i64);
                proptest::prop_assert_eq!(ours.timestamp, original.timestamp);
                proptest::prop_assert_eq!(&ours.key, &original.key);
                proptest::prop_assert_eq!(&ours.value, &original.value);
            }
        }
    }

    proptest::proptest! {
        /// A cleaned batch with a delete horizon reads back with the original timestamps through
        /// ours and kafka-protocol's decoder (which, like Kafka's, adds the deltas to
        /// baseTimestamp and reports the flag).
        #[test]
        fn retained_batch_with_delete_horizon_interop(
            records in arbitrary_records(),
            codec in 0usize..5,
            horizon in 0i64..4_000_000_000_000,
            keep_mask in proptest::num::u16::ANY,
        ) {
            use kafka_protocol::records::RecordBatchDecoder;
            let params = BatchBuilderParams { base_offset: 100, compression: ALL_CODECS[codec], ..Default::default() };
            let original = encode_batch(&params, &records).unwrap();
            let header = BatchHeader::parse(&original).unwrap();
            let mut kept: Vec<Record> = records
                .iter()
                .enumerate()
                .filter(|(index, _)| keep_mask & (1 << index) != 0)
                .map(|(_, record)| record.clone())
                .collect();
            if kept.is_empty() {
                kept.push(records[0].clone());
            }
            let encoded = encode_retained_batch(&header, &kept, Some(horizon)).unwrap();
            let (stored, decoded) = decode_records(&encoded, 1 << 20).unwrap();
            proptest::prop_assert_eq!(stored.delete_horizon_ms(), Some(horizon));
            proptest::prop_assert_eq!(&decoded, &kept);
            let set = RecordBatchDecoder::decode(&mut encoded.clone().freeze()).unwrap();
            proptest::prop_assert_eq!(set.records.len(), kept.len());
            for (theirs, ours) in set.records.iter().zip(&kept) {
                proptest::prop_assert!(theirs.delete_horizon);
                proptest::prop_assert_eq!(theirs.offset, ours.offset);
                proptest::prop_assert_eq!(theirs.timestamp, ours.timestamp);
                proptest::prop_assert_eq!(&theirs.value, &ours.value);
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn validate_and_decode_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = validate(BytesMut::from(&bytes[..]));
            let _ = decode_records(&bytes, 1 << 16);
        }

        #[test]
        fn mutated_valid_batch_never_panics(index in 0usize..200, byte in proptest::num::u8::ANY, codec in 0usize..5) {
            let codecs = [Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd];
            let mut encoded = batch(codecs[codec], 4);
            let index = index % encoded.len();
            encoded[index] = byte;
            let _ = validate(encoded.clone());
            fix_crc(&mut encoded);
            let _ = validate(encoded.clone());
            let _ = decode_records(&encoded, 1 << 16);
        }
    }
}
