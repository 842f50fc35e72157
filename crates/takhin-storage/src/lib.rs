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
//!   cleaner-offset-checkpoint             same format (first dirty offset per partition)
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
//! checkpoint files), [`Log`] (one partition), `cleaner` (log compaction), [`LogDir`] (the
//! data directory, recovery).
//!
//! # Example
//!
//! ```
//! use takhin_storage::{AppendOptions, BatchBuilderParams, LogConfig, LogDir, Record, encode_batch, validate};
//!
//! let data = tempfile::tempdir()?;
//! let log_dir = LogDir::open(data.path())?;
//! let (log, _report) = log_dir.open_log("orders", 0, uuid::Uuid::new_v4(), LogConfig::default())?;
//! let record = Record { offset: 0, timestamp: 1_000, key: None, value: Some("hello".into()), headers: vec![] };
//! let batch = validate(encode_batch(&BatchBuilderParams::default(), &[record])?)?;
//! let outcome = log.append(batch, AppendOptions { now_ms: 1_000, leader_epoch: 0 })?;
//! log.sync_to(outcome.last_offset + 1)?; // durable: now the produce may be acknowledged
//! let fetched = log.read(0, 1 << 20, log.log_end_offset(), true)?;
//! assert!(!fetched.records.is_empty());
//! log_dir.close(&[log])?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Durability contract
//!
//! [`Log::append`] writes to the page cache only. [`Log::sync_to`] fdatasyncs (group commit)
//! and advances [`Log::recovery_point`]; the broker acknowledges a produce only after it. A
//! kill -9 or power loss loses at most what was never synced; the next open verifies every batch
//! from the checkpointed recovery point onwards and truncates a torn or corrupt tail (see
//! [`LogDir::open_log`] and [`RecoveryReport`]). [`LogDir::checkpoint`] persists recovery points
//! and log start offsets; call it periodically and [`LogDir::close`] on shutdown.
//!
//! # Retention
//!
//! [`Log::delete_expired_segments`] applies `retention.ms` (by each segment's largest timestamp)
//! and `retention.bytes` (per partition) as Kafka's `UnifiedLog.deleteOldSegments` does: whole
//! closed segments from the oldest on, never the active segment, never data at or above the
//! high watermark. The log start offset moves to the first segment kept; the caller persists it
//! with [`LogDir::checkpoint`], and reads below it are [`ReadError::OffsetOutOfRange`]. The
//! broker calls it every `log.retention.check.interval.ms` for topics whose `cleanup.policy`
//! includes `delete`.
//!
//! # Compaction
//!
//! [`Log::clean`] compacts the closed, fsync'd part of a log (`cleanup.policy=compact`) as
//! Kafka's `LogCleaner` does: the latest record per key is kept, records without a key are
//! dropped, tombstones go `delete.retention.ms` after the first clean that kept them (KIP-534:
//! that clean writes the batch's delete horizon into its header), segments younger than
//! `min.compaction.lag.ms` are not touched, and
//! offsets never change (gaps appear; each rewritten batch keeps its base and last offset and
//! its producer fields). The key → offset map is bounded by
//! [`CleanOptions::dedupe_buffer_bytes`]; when it fills, only the range it covers is cleaned.
//! Each segment is rewritten to `<base>.log.cleaned` (+ indexes), fsync'd, committed by a
//! rename to `.swap` and renamed over the old files; [`LogDir::open_log`] deletes `.cleaned`
//! leftovers and completes `.swap` ones, so a crash leaves every segment wholly old or wholly
//! new. Appends and reads continue while it runs. A successful clean advances
//! [`Log::first_dirty_offset`] (persisted by [`LogDir::checkpoint`] in
//! `cleaner-offset-checkpoint`); [`Log::dirty_stats`] gives the dirty ratio, the oldest dirty
//! timestamp and the earliest tombstone delete horizon the broker schedules by. Adjacent small
//! segments are merged while cleaning (up to `segment.bytes`; the `.swap` of the merged segment
//! commits the whole group). Not yet: compaction of transactional batches (copied verbatim;
//! the broker accepts none). Details: the `cleaner` module source.
//!
//! ```
//! use takhin_storage::{CleanOptions, LogConfig, LogDir};
//!
//! let data = tempfile::tempdir()?;
//! let log_dir = LogDir::open(data.path())?;
//! let (log, _report) = log_dir.open_log("compacted", 0, uuid::Uuid::new_v4(), LogConfig::default())?;
//! // ... appends, then from a background thread:
//! let report = log.clean(CleanOptions::default(), 1_700_000_000_000)?;
//! assert_eq!(report.segments_cleaned, 0); // nothing closed yet
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Errors, as Kafka error codes
//!
//! | error | Kafka code |
//! |---|---|
//! | [`BatchError`] with `is_corrupt()` (short length, magic outside 0..=2, CRC, undecompressable) | CORRUPT_MESSAGE |
//! | [`BatchError`] otherwise (length past the bytes, magic 0/1, record count or framing, codec, limits, batch count) | INVALID_RECORD |
//! | [`AppendError::OutOfOrderSequence`] | OUT_OF_ORDER_SEQUENCE_NUMBER |
//! | [`AppendError::InvalidProducerEpoch`] | INVALID_PRODUCER_EPOCH |
//! | [`AppendError::Io`], [`AppendError::Offline`], [`ReadError::Io`] | KAFKA_STORAGE_ERROR |
//! | [`ReadError::OffsetOutOfRange`] | OFFSET_OUT_OF_RANGE |
//!
//! # Limits
//!
//! * A segment holds at most `min(segment.bytes, i32::MAX)` bytes (index positions are u32) and
//!   offsets within `i32::MAX` of its base; a single batch larger than `segment.bytes` gets a
//!   segment of its own.
//! * Each index holds at most `segment.index.bytes` of entries, kept in memory too.
//! * Produce validation ([`validate`]) walks compressed batches as a stream through a 64 KiB
//!   buffer (snappy: one block of at most 32 MiB at a time) and refuses a batch that inflates
//!   beyond [`MAX_DECOMPRESSED_BATCH_BYTES`].
//! * Record decoding ([`decode_records`]) never allocates more than its
//!   `max_decompressed_bytes` argument plus one read chunk; the log passes
//!   [`MAX_DECOMPRESSED_BATCH_BYTES`].
//! * Compaction holds at most [`CleanOptions::dedupe_buffer_bytes`] of keys (each charged its
//!   length plus 64 bytes) plus one decoded batch at a time.
//! * Per producer, the last 5 batches are remembered for duplicate detection; producer state is
//!   never expired (yet).
//! * All logs of a [`LogDir`] together keep at most [`PreallocationBudget::limit_bytes`]
//!   (default [`DEFAULT_PREALLOCATION_BUDGET_BYTES`]) of preallocated zeros.

pub mod batch;
mod checkpoint;
mod cleaner;
mod damage;
mod index;
mod log;
mod log_dir;
mod page_cache;
mod preallocation;
mod producer_state;
mod segment;

pub use batch::{
    BatchBuilderParams, BatchError, BatchHeader, Compression, Record, RecordHeader,
    ValidatedBatches, check_stored_batch, decode_records, encode_batch, validate,
};
pub use cleaner::{
    CleanError, CleanOptions, CleanReport, DEFAULT_DEDUPE_BUFFER_BYTES, DirtyStats,
    MAP_ENTRY_OVERHEAD_BYTES,
};
pub use damage::{DamagedRange, QUARANTINE_DIR, ScrubCursor, ScrubStep};
pub use log::{
    AppendError, AppendOptions, AppendOutcome, FileSlice, Log, MAX_CONCURRENT_SYNCS,
    MAX_DECOMPRESSED_BATCH_BYTES, OfflineReason, ReadError, ReadResult, RecoveryReport,
    RetentionOutcome, RetentionPolicy, TruncationPoint,
};
pub use log_dir::{CLEAN_SHUTDOWN_MARKER, LogDir, StorageError};
pub use preallocation::{DEFAULT_PREALLOCATION_BUDGET_BYTES, PreallocationBudget};

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
    /// Not a Kafka config: how far the active segment's file is kept ahead of its data with
    /// written zeros (0: not at all), for logs synced on every acknowledgement; see
    /// `docs/architecture.md`. Drawn from the data directory's [`PreallocationBudget`];
    /// trimmed when the segment rolls, the log closes or [`Log::trim_idle_preallocation`]
    /// finds it idle; zeros a crash left are trimmed by recovery, not reported as damage.
    pub preallocate_bytes: u64,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1024 * 1024 * 1024,
            segment_ms: 7 * 24 * 60 * 60 * 1000,
            index_interval_bytes: 4096,
            segment_index_bytes: 10 * 1024 * 1024,
            message_timestamp_type: TimestampType::CreateTime,
            preallocate_bytes: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn shared_types_are_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<crate::Log>();
        assert_send_sync::<crate::LogDir>();
        assert_send_sync::<crate::ValidatedBatches>();
    }
}
