//! Fixtures shared by the integration tests: batch builders and a read-back helper.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use takhin_storage::{
    AppendOptions, AppendOutcome, BatchBuilderParams, BatchHeader, Compression, Log, LogConfig,
    LogDir, Record, RecoveryReport, ValidatedBatches, encode_batch, validate,
};

pub const TOPIC: &str = "orders";

/// Describes one batch to build.
#[derive(Clone, Debug)]
pub struct BatchSpec {
    pub records: usize,
    pub value_bytes: usize,
    pub timestamp_ms: i64,
    pub compression: Compression,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
}

impl BatchSpec {
    pub fn plain(records: usize, value_bytes: usize) -> Self {
        BatchSpec {
            records,
            value_bytes,
            timestamp_ms: 1_000,
            compression: Compression::None,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
        }
    }

    pub fn idempotent(producer_id: i64, epoch: i16, base_sequence: i32, records: usize) -> Self {
        BatchSpec {
            producer_id,
            producer_epoch: epoch,
            base_sequence,
            ..BatchSpec::plain(records, 10)
        }
    }

    pub fn at(mut self, timestamp_ms: i64) -> Self {
        self.timestamp_ms = timestamp_ms;
        self
    }

    pub fn compressed(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// Record i has timestamp `timestamp_ms + i` and value bytes all equal to `i as u8`.
    pub fn records(&self) -> Vec<Record> {
        (0..self.records)
            .map(|index| Record {
                offset: index as i64,
                timestamp: self.timestamp_ms + index as i64,
                key: Some(Bytes::from(format!("key-{index}"))),
                value: Some(Bytes::from(vec![index as u8; self.value_bytes])),
                headers: vec![],
            })
            .collect()
    }

    pub fn encode(&self) -> BytesMut {
        let params = BatchBuilderParams {
            base_offset: 0,
            compression: self.compression,
            producer_id: self.producer_id,
            producer_epoch: self.producer_epoch,
            base_sequence: self.base_sequence,
            ..BatchBuilderParams::default()
        };
        encode_batch(&params, &self.records()).unwrap()
    }

    pub fn validated(&self) -> ValidatedBatches {
        validate(self.encode()).unwrap()
    }
}

pub fn options(now_ms: i64) -> AppendOptions {
    AppendOptions {
        now_ms,
        leader_epoch: 0,
    }
}

pub fn append(log: &Log, spec: &BatchSpec) -> AppendOutcome {
    log.append(spec.validated(), options(spec.timestamp_ms))
        .unwrap()
}

/// Headers of the whole batches in `bytes`; panics on a partial batch.
pub fn batch_headers(bytes: &[u8]) -> Vec<BatchHeader> {
    let mut headers = Vec::new();
    let mut position = 0;
    while position < bytes.len() {
        let header = BatchHeader::parse(&bytes[position..]).unwrap();
        assert!(
            position + header.total_size() <= bytes.len(),
            "partial batch in read result"
        );
        position += header.total_size();
        headers.push(header);
    }
    headers
}

/// Reads the whole log from `from` with no limits; returns the batch headers.
pub fn read_all(log: &Log, from: i64) -> Vec<BatchHeader> {
    let mut headers = Vec::new();
    let mut offset = from;
    while offset < log.log_end_offset() {
        let result = log.read(offset, 1 << 20, i64::MAX, true).unwrap();
        let batch = batch_headers(&result.records);
        assert!(!batch.is_empty(), "no progress reading at {offset}");
        offset = batch.last().unwrap().last_offset() + 1;
        headers.extend(batch);
    }
    headers
}

pub fn small_segments(segment_bytes: u64) -> LogConfig {
    LogConfig {
        segment_bytes,
        index_interval_bytes: 256,
        ..LogConfig::default()
    }
}

pub fn open(dir: &Path, config: LogConfig) -> (LogDir, Arc<Log>, RecoveryReport) {
    let log_dir = LogDir::open(dir).unwrap();
    let (log, report) = log_dir.open_log(TOPIC, 0, topic_id(), config).unwrap();
    (log_dir, log, report)
}

pub fn topic_id() -> uuid::Uuid {
    uuid::Uuid::from_bytes([7; 16])
}

/// Copies a data directory, without its lock (a second, independent open of the same bytes).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else if entry.file_name() != ".lock" {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
