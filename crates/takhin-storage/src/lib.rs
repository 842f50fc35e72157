//! Takhin's storage engine: Kafka-compatible record batches, log segments, indexes, per-partition
//! logs with crash recovery, and idempotent-producer state.
//!
//! The on-disk layout is Kafka's, so Kafka's tools (`kafka-dump-log`) read our segments:
//!
//! ```text
//! <data dir>/
//!   .lock                                 flock held while a LogDir is open
//!   .kafka_cleanshutdown                  present only between a clean close and the next open
//!   recovery-point-offset-checkpoint      "0\n<N>\n<topic> <partition> <offset>\n"...
//!   log-start-offset-checkpoint           same format
//!   <topic>-<partition>/
//!     00000000000000000000.log            record batches (magic 2), verbatim
//!     00000000000000000000.index          8-byte entries: relative offset u32, position u32
//!     00000000000000000000.timeindex      12-byte entries: timestamp i64, relative offset u32
//!     00000000000000000042.snapshot       producer state at offset 42
//!     leader-epoch-checkpoint             "0\n<N>\n<epoch> <start offset>\n"...
//!     partition.metadata                  "version: 0\ntopic_id: <base64url uuid>\n"
//! ```
//!
//! Modules, bottom-up: [`batch`] (format, validation, codec), `index` (offset and time indexes),
//! `segment` (one `.log` + its indexes), `producer_state` (idempotence), `checkpoint` (text
//! checkpoint files), [`Log`] (one partition), [`LogDir`] (the data directory, recovery).

pub mod batch;
mod checkpoint;
mod index;
mod log;
mod log_dir;
mod producer_state;
mod segment;

pub use batch::{
    BatchBuilderParams, BatchError, BatchHeader, Compression, Record, RecordHeader,
    ValidatedBatches, decode_records, encode_batch, validate,
};
pub use log::{
    AppendError, AppendOptions, AppendOutcome, Log, ReadError, ReadResult, RecoveryReport,
};
pub use log_dir::{LogDir, StorageError};

/// Which timestamp a batch carries: the producer's (`CreateTime`) or the broker's at append
/// (`LogAppendTime`, Kafka's `message.timestamp.type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimestampType {
    CreateTime,
    LogAppendTime,
}

/// Per-log configuration; names and defaults are Kafka's topic configs.
#[derive(Clone, Debug)]
pub struct LogConfig {
    /// `segment.bytes`: roll when an append would make the active segment larger.
    pub segment_bytes: u64,
    /// `segment.ms`: roll when the active segment is non-empty and older than this.
    pub segment_ms: u64,
    /// `index.interval.bytes`: bytes appended between two index entries.
    pub index_interval_bytes: u64,
    /// `segment.index.bytes`: roll when the offset (or time) index would exceed it.
    pub segment_index_bytes: u64,
    /// `message.timestamp.type`.
    pub message_timestamp_type: TimestampType,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1024 * 1024 * 1024,
            segment_ms: 7 * 24 * 60 * 60 * 1000,
            index_interval_bytes: 4096,
            segment_index_bytes: 10 * 1024 * 1024,
            message_timestamp_type: TimestampType::CreateTime,
        }
    }
}
