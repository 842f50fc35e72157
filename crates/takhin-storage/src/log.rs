//! The log of one partition: an ordered set of segments, the last one active.
//!
//! # Offsets
//!
//! `log_start_offset <= log_end_offset` and `recovery_point <= log_end_offset`.
//! `log_end_offset` is the next offset to assign and is published only after the batch bytes and
//! index entries are written; everything below `recovery_point` has been fdatasync'd;
//! `log_start_offset` only moves up (DeleteRecords, retention) and may lie inside the first segment.
//! Segment `N` holds offsets in `[N, next segment's base)`: contiguously as appended; after
//! compaction ([`Log::clean`], `cleaner.rs`) with gaps between and inside batches. A closed
//! segment ends with a batch whose last offset is the next segment's base - 1, unless recovery
//! moved damage out of it (`damage.rs`): then the offsets of the damaged batches are a gap too.
//!
//! # Thread-safety
//!
//! `Log` is `Send + Sync` and shared as `Arc<Log>`. Appends, rolls, `delete_records_before`,
//! `delete_expired_segments` and `close` are serialized by the append lock. Deleting a segment
//! publishes the new log start first, then removes the segment from the list, then unlinks its
//! files; a reader holding the segment's `Arc` finishes from the open (unlinked) file. Reads never take it: they clone the segment
//! list (an `RwLock` held for a moment), then use positional reads below each segment's
//! published size, which only ever grows; `log_end_offset` is published (Release) after the
//! bytes and indexes are written. [`Log::clean`] runs outside the append lock (one clean per log
//! at a time, its own lock) and takes the append lock only to swap a cleaned segment in; see
//! `cleaner.rs`. `sync_to` coordinates through its own lock so that one
//! fdatasync serves every caller waiting at the time (group commit), with up to
//! [`MAX_CONCURRENT_SYNCS`] fdatasyncs of one log in flight at once (see there).
//!
//! # Failure
//!
//! An I/O error while writing or syncing takes the log offline: the partial write is cut back
//! where possible, and every later append or sync fails until the log is reopened (which runs
//! recovery). Reads keep working on what was published. [`Log::offline_reason`] says what
//! failed; [`crate::LogDir::reopen_log`] brings the log back without a restart, cutting what
//! was never synced first when asked to (see there).

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use bytes::{Bytes, BytesMut};
use parking_lot::{Condvar, Mutex, RwLock};

use crate::batch::{self, BatchError, BatchHeader, ValidatedBatches};
use crate::checkpoint;
use crate::cleaner::{self, CleanError, CleanOptions, CleanReport};
use crate::damage::{self, DamagedRange};
use crate::log_dir::{StorageError, storage_io};
use crate::preallocation::PreallocationBudget;
use crate::producer_state::{self, Prepared, ProducerStateManager};
use crate::segment::{self, IndexLimits, Preallocate, Segment, VerifyRules};
use crate::{LogConfig, TimestampType};

/// Largest decompressed records section of one batch: [`batch::validate`] refuses a produce
/// batch that inflates beyond it (walking it in constant memory until then), and record-by-record
/// reads (ListOffsets by timestamp) decode at most this much.
///
/// Why 256 MiB: far above anything a real client sends (the Java producer's `buffer.memory`
/// defaults to 32 MiB and `max.request.size` to 1 MiB, librdkafka's `batch.size` to 1 MB), yet it
/// bounds the CPU a single hostile batch can cost (a 250 KB gzip bomb inflating to 256 MiB takes
/// well under a second to walk) and the memory of a decode that must materialize the records.
pub const MAX_DECOMPRESSED_BATCH_BYTES: usize = 256 * 1024 * 1024;

/// fdatasyncs of one log that may be in flight at once. With one, a caller whose records were
/// appended just after a sync started waits for that sync and then for its own: 1.5 syncs on
/// average. With two, it starts its own at once, and the device works on both: on this
/// machine's virtio disk one thread fdatasyncing back to back manages about 4,700 a second
/// (0.21 ms each), two threads 7,600 (0.26 ms each). Correct because an fdatasync that returns
/// has made durable everything written before it was called, including pages another,
/// earlier fdatasync is still writing back; each sync advances the recovery point only to the
/// log end it saw when it started.
pub const MAX_CONCURRENT_SYNCS: u32 = 2;

/// Most damaged ranges a log remembers ([`Log::damaged_ranges`]); each was logged when found.
pub const MAX_DAMAGED_RANGES_KEPT: usize = 64;

/// Who is syncing a log (under `Log::syncs`).
#[derive(Debug, Default)]
struct SyncState {
    /// fdatasyncs in flight.
    running: u32,
}

/// Per-append parameters from the broker.
#[derive(Clone, Copy, Debug)]
pub struct AppendOptions {
    /// Wall-clock time of the append; becomes the batch timestamp for LogAppendTime topics.
    pub now_ms: i64,
    /// Current leader epoch; written into each batch's partitionLeaderEpoch.
    pub leader_epoch: i32,
}

#[derive(Debug, Clone)]
pub struct AppendOutcome {
    pub base_offset: i64,
    pub last_offset: i64,
    /// -1 unless the log uses LogAppendTime.
    pub log_append_time_ms: i64,
    pub log_start_offset: i64,
    /// Idempotent retry: nothing was written and the offsets are the original append's.
    pub duplicate: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// Kafka OUT_OF_ORDER_SEQUENCE_NUMBER.
    #[error(
        "out of order sequence for producer {producer_id}: expected {expected}, received {received}"
    )]
    OutOfOrderSequence {
        producer_id: i64,
        expected: i32,
        received: i32,
    },
    /// Kafka INVALID_PRODUCER_EPOCH.
    #[error("producer {producer_id} epoch {received} is older than the current epoch {current}")]
    InvalidProducerEpoch {
        producer_id: i64,
        current: i16,
        received: i16,
    },
    /// Kafka KAFKA_STORAGE_ERROR.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    /// Kafka KAFKA_STORAGE_ERROR: an earlier I/O error took the log offline (logged then, with
    /// [`Log::offline_reason`]); nothing was tried.
    #[error("log {dir} is offline after an earlier I/O error")]
    Offline { dir: PathBuf },
}

/// Why a log went offline: its first I/O error.
#[derive(Debug, Clone)]
pub struct OfflineReason {
    /// The error, with what was being done.
    pub error: String,
    /// ENOSPC or EDQUOT: the filesystem (or the quota) is full; freeing space cures it.
    pub storage_full: bool,
    /// An fdatasync failed. Linux may then have dropped the dirty pages it could not write
    /// (marked clean, never retried), so what the page cache shows past the recovery point may
    /// not be what the disk holds: only a reopen that cuts the unsynced tail is safe.
    pub sync_failed: bool,
}

impl OfflineReason {
    fn new(error: &dyn std::error::Error, source: Option<&io::Error>, sync_failed: bool) -> Self {
        let storage_full = source.is_some_and(|source| {
            matches!(
                source.kind(),
                io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
            )
        });
        OfflineReason {
            error: error.to_string(),
            storage_full,
            sync_failed,
        }
    }
}

/// What [`Log::quiesce_for_reopen`] holds: no append, roll, retention, DeleteRecords or clean
/// of the old log can run, and no sync of it is in flight.
pub(crate) struct Quiesced<'a> {
    _cleaning: parking_lot::MutexGuard<'a, ()>,
    _producers: parking_lot::MutexGuard<'a, ProducerStateManager>,
    /// Everything below it was fdatasync'd by the old log.
    pub recovery_point: i64,
    pub log_start_offset: i64,
    pub first_dirty_offset: i64,
}

/// Longest [`Log::quiesce_for_reopen`] waits for the old log's compaction, append and syncs in
/// flight: longer fails the reopen, which the caller retries later.
const REOPEN_SYNC_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

#[derive(Debug)]
pub struct ReadResult {
    /// Whole batches only; may be empty.
    pub records: Bytes,
}

/// A range of whole batches in one segment file, as [`Log::read_slices`] found them. Holds the
/// segment's file open, so the bytes stay readable after retention or compaction deletes it.
#[derive(Clone)]
pub struct FileSlice {
    segment: Arc<Segment>,
    position: u64,
    len: usize,
}

impl fmt::Debug for FileSlice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileSlice")
            .field("file", &self.segment.log_path)
            .field("position", &self.position)
            .field("len", &self.len)
            .finish()
    }
}

impl FileSlice {
    pub fn file(&self) -> &Arc<std::fs::File> {
        self.segment.log_file()
    }

    pub fn position(&self) -> u64 {
        self.position
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Copies the bytes into memory.
    pub fn read(&self) -> io::Result<BytesMut> {
        self.segment.read_bytes(self.position, self.len)
    }

    /// Slices read into one buffer.
    pub fn read_all(slices: &[FileSlice]) -> io::Result<Bytes> {
        let mut out = BytesMut::new();
        for slice in slices {
            out.unsplit(slice.read()?);
        }
        Ok(out.freeze())
    }

    /// Whether every page of the slice is in the page cache, so sending it cannot wait for the
    /// disk. `None` where the kernel cannot say (`cachestat(2)` is Linux 6.5+).
    pub fn is_cached(&self) -> Option<bool> {
        crate::page_cache::is_cached(self.file(), self.position, self.len)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("offset {requested} is out of range [{log_start_offset}, {log_end_offset}]")]
    OffsetOutOfRange {
        requested: i64,
        log_start_offset: i64,
        log_end_offset: i64,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    /// A stored batch could not be decoded (only on paths that decode records).
    #[error("{context}: {source}")]
    Corrupt {
        context: String,
        #[source]
        source: BatchError,
    },
}

/// Topic settings that decide which closed segments [`Log::delete_expired_segments`] removes.
/// A negative value disables that limit (Kafka's -1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// `retention.ms`: delete segments whose largest timestamp is older than this.
    pub retention_ms: i64,
    /// `retention.bytes`: delete the oldest segments while the partition stays at least this big.
    pub retention_bytes: i64,
}

/// What one [`Log::delete_expired_segments`] pass deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionOutcome {
    pub segments_deleted: usize,
    pub bytes_deleted: u64,
    /// The log start offset after the pass (unchanged when nothing was deleted).
    pub log_start_offset: i64,
    /// Of `segments_deleted`: wholly below the log start offset already.
    pub segments_below_log_start: usize,
    /// Of `segments_deleted`: removed to bring the partition down to `retention.bytes`.
    pub segments_over_retention_bytes: usize,
    /// Of `segments_deleted`: older than `retention.ms`.
    pub segments_over_retention_ms: usize,
}

/// Where recovery cut a `.log`.
#[derive(Debug, Clone)]
pub struct TruncationPoint {
    pub file: PathBuf,
    pub position_bytes: u64,
    /// The offset the first dropped batch should have had.
    pub offset: i64,
    pub reason: String,
}

/// What opening a log found and repaired.
#[derive(Debug, Default, Clone)]
pub struct RecoveryReport {
    pub clean_shutdown: bool,
    pub segments_loaded: usize,
    /// Segments verified (unclean shutdown, or a bad index): every batch, or every batch after
    /// the recovery point in the segment holding it.
    pub segments_scanned: usize,
    /// Bytes of `.log` files read and checked batch by batch (CRC included): what a restart
    /// after a crash costs, bounded by what was written since the last recovery checkpoint.
    pub bytes_verified: u64,
    pub indexes_rebuilt: usize,
    pub bytes_truncated: u64,
    /// Preallocated zeros (not data) trimmed off segment ends a crash left them on.
    pub preallocated_bytes_trimmed: u64,
    /// Where the last segment was cut at a bad or torn batch (a crash's tail).
    pub truncated_at: Option<TruncationPoint>,
    /// Damage in closed segments, moved out of the log (see `damage.rs`), and offset gaps at
    /// their ends; every intact batch around them is kept.
    pub damaged: Vec<DamagedRange>,
    /// Offset of the producer-state snapshot loaded, if any.
    pub producer_snapshot_offset: Option<i64>,
    pub batches_replayed: u64,
    pub log_start_offset: i64,
    pub log_end_offset: i64,
    /// Files of an interrupted compaction (`*.cleaned`, stray index `*.swap`) deleted.
    pub cleaned_files_removed: usize,
    /// Compacted segments (`<base>.log.swap`) renamed into place by recovery.
    pub swaps_completed: usize,
}

impl fmt::Display for RecoveryReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} shutdown: {} segments loaded, {} scanned ({} bytes verified), {} indexes rebuilt, {} bytes truncated",
            if self.clean_shutdown {
                "clean"
            } else {
                "unclean"
            },
            self.segments_loaded,
            self.segments_scanned,
            self.bytes_verified,
            self.indexes_rebuilt,
            self.bytes_truncated
        )?;
        if let Some(point) = &self.truncated_at {
            write!(
                f,
                " (cut {} at byte {}, offset {}: {})",
                point.file.display(),
                point.position_bytes,
                point.offset,
                point.reason
            )?;
        }
        for range in &self.damaged {
            write!(f, ", damaged: {range}")?;
        }
        if self.preallocated_bytes_trimmed > 0 {
            write!(
                f,
                ", {} preallocated bytes trimmed",
                self.preallocated_bytes_trimmed
            )?;
        }
        if self.swaps_completed > 0 || self.cleaned_files_removed > 0 {
            write!(
                f,
                ", compaction: {} swaps completed, {} leftover files removed",
                self.swaps_completed, self.cleaned_files_removed
            )?;
        }
        match self.producer_snapshot_offset {
            Some(offset) => write!(f, ", producer snapshot {offset}")?,
            None => write!(f, ", no producer snapshot")?,
        }
        write!(
            f,
            " + {} batches replayed; offsets [{}, {})",
            self.batches_replayed, self.log_start_offset, self.log_end_offset
        )
    }
}

/// Leader epoch → start offset, persisted in `leader-epoch-checkpoint`.
#[derive(Debug)]
struct LeaderEpochCache {
    path: PathBuf,
    entries: Vec<(i32, i64)>,
}

impl LeaderEpochCache {
    fn latest(&self) -> Option<i32> {
        self.entries.last().map(|(epoch, _)| *epoch)
    }

    fn persist(&self) -> io::Result<()> {
        checkpoint::write_file_atomically(
            &self.path,
            checkpoint::render_epochs(&self.entries).as_bytes(),
            true,
        )
    }

    /// Records that `epoch` starts at `start_offset`, dropping entries it contradicts.
    fn assign(&mut self, epoch: i32, start_offset: i64) -> io::Result<()> {
        self.entries
            .retain(|(existing, offset)| *existing < epoch && *offset < start_offset);
        self.entries.push((epoch, start_offset));
        self.persist()
    }

    /// Drops entries starting at or after `end_offset` (after truncation). Returns whether
    /// anything changed.
    fn truncate_from_end(&mut self, end_offset: i64) -> bool {
        let before = self.entries.len();
        self.entries.retain(|(_, offset)| *offset < end_offset);
        before != self.entries.len()
    }

    /// Drops entries wholly below `start_offset` and clamps the first to it.
    fn truncate_from_start(&mut self, start_offset: i64) -> bool {
        let keep_from = self
            .entries
            .iter()
            .rposition(|(_, offset)| *offset <= start_offset);
        let Some(keep_from) = keep_from else {
            return false;
        };
        let changed = keep_from > 0 || self.entries[0].1 != start_offset;
        self.entries.drain(..keep_from);
        self.entries[0].1 = start_offset;
        changed
    }

    /// Kafka's `LeaderEpochFileCache.endOffsetFor`.
    fn end_offset_for(&self, epoch: i32, log_end_offset: i64) -> (i32, i64) {
        const UNDEFINED: (i32, i64) = (-1, -1);
        if epoch == -1 {
            return UNDEFINED;
        }
        if self.latest() == Some(epoch) {
            return (epoch, log_end_offset);
        }
        let Some(&(_, higher_start)) = self.entries.iter().find(|(existing, _)| *existing > epoch)
        else {
            return UNDEFINED;
        };
        match self
            .entries
            .iter()
            .rev()
            .find(|(existing, _)| *existing <= epoch)
        {
            Some(&(floor_epoch, _)) => (floor_epoch, higher_start),
            None => (epoch, higher_start),
        }
    }
}

/// Inputs of [`Log::open`] gathered by the [`crate::LogDir`].
pub(crate) struct OpenParams {
    pub dir: PathBuf,
    pub topic: String,
    pub partition: i32,
    pub topic_id: uuid::Uuid,
    pub config: LogConfig,
    pub clean_shutdown: bool,
    pub recovery_point: Option<i64>,
    pub log_start_offset: Option<i64>,
    /// From `cleaner-offset-checkpoint`.
    pub first_dirty_offset: Option<i64>,
    /// Where damaged bytes moved out of this log go (see `damage.rs`).
    pub quarantine_dir: PathBuf,
    /// The data directory's, shared by all its logs.
    pub preallocation: Arc<PreallocationBudget>,
}

pub struct Log {
    topic: String,
    partition: i32,
    dir: PathBuf,
    topic_id: uuid::Uuid,
    config: RwLock<LogConfig>,
    segments: RwLock<BTreeMap<i64, Arc<Segment>>>,
    /// The append lock; guards producer state and all segment mutation.
    append_lock: Mutex<ProducerStateManager>,
    epochs: RwLock<LeaderEpochCache>,
    log_start_offset: AtomicI64,
    log_end_offset: AtomicI64,
    recovery_point: AtomicI64,
    /// The syncs in flight; `sync_done` is notified when one ends.
    syncs: Mutex<SyncState>,
    sync_done: Condvar,
    /// Highest log end offset any sync, in flight or done, started from (raised under
    /// `syncs`): a caller below it needs no sync of its own.
    sync_started_to: AtomicI64,
    offline: AtomicBool,
    /// Set with `offline` by an I/O error (not by a delete).
    offline_reason: Mutex<Option<OfflineReason>>,
    /// Where the active segment's preallocated zeros come from.
    preallocation: Arc<PreallocationBudget>,
    /// Segment files created (counted by rolls) ...
    dir_changes: AtomicU64,
    /// ... and how many of them the last directory fsync covered; held during that fsync, so a
    /// sync that needs the directory durable waits for one in flight rather than skipping it.
    dir_synced: Mutex<u64>,
    /// Held for the whole of [`Log::clean`]: one cleaning of this log at a time.
    clean_lock: Mutex<()>,
    /// End of the range the last successful clean covered (`cleaner-offset-checkpoint`).
    first_dirty_offset: AtomicI64,
    /// Earliest tombstone delete horizon below the first dirty offset (scheduling; see
    /// `cleaner.rs`, "Scheduling"). In memory only: unknown again after a restart.
    delete_horizon_watch: Mutex<cleaner::DeleteHorizonWatch>,
    /// Damage known in this log since it was opened: moved out by recovery, or found by the
    /// scrubber; at most [`MAX_DAMAGED_RANGES_KEPT`], the newest kept.
    damaged: Mutex<Vec<DamagedRange>>,
    /// Batch bytes appended since the log was opened (counted after the log end offset moved
    /// past them); of those, the bytes a finished sync made durable; and the durable count when
    /// the last checkpoint read this log's recovery point. The last two's difference is about
    /// what a restart after a crash verifies ([`Log::bytes_since_checkpoint`]).
    appended_bytes: AtomicU64,
    durable_appended_bytes: AtomicU64,
    checkpointed_appended_bytes: AtomicU64,
    /// Runs at the start of every sync, outside every lock (tests: syncs held in flight).
    #[cfg(test)]
    before_sync: Mutex<Option<Arc<dyn Fn() + Send + Sync>>>,
    /// Makes the next sync fail as a full disk's fdatasync would (tests).
    #[cfg(test)]
    pub(crate) fail_next_sync: AtomicBool,
}

impl Drop for Log {
    /// Gives the zeros still charged back to the budget: a dropped log is deleted, closed
    /// (trimmed already) or replaced by a reopen (whose recovery trims them).
    fn drop(&mut self) {
        for segment in self.segments.get_mut().values() {
            segment.release_preallocation_charge(Some(&self.preallocation));
        }
    }
}

/// Wraps an I/O error with what was being done. `context` runs only on error: it formats paths,
/// and append, sync and fetch would otherwise pay for that on every call.
fn append_io(context: impl FnOnce() -> String) -> impl FnOnce(io::Error) -> AppendError {
    move |source| AppendError::Io {
        context: context(),
        source,
    }
}

/// [`append_io`] for reads.
fn read_io(context: impl FnOnce() -> String) -> impl FnOnce(io::Error) -> ReadError {
    move |source| ReadError::Io {
        context: context(),
        source,
    }
}

impl Log {
    pub fn topic(&self) -> &str {
        &self.topic
    }
    pub fn partition(&self) -> i32 {
        self.partition
    }
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn topic_id(&self) -> uuid::Uuid {
        self.topic_id
    }
    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset.load(Ordering::Acquire)
    }
    pub fn log_end_offset(&self) -> i64 {
        self.log_end_offset.load(Ordering::Acquire)
    }
    /// Everything below this offset is fdatasync'd.
    pub fn recovery_point(&self) -> i64 {
        self.recovery_point.load(Ordering::Acquire)
    }
    /// First offset the cleaner has not deduplicated yet (Kafka's first dirty offset; persisted
    /// in `cleaner-offset-checkpoint`): never below the log start offset.
    pub fn first_dirty_offset(&self) -> i64 {
        self.first_dirty_offset
            .load(Ordering::Acquire)
            .max(self.log_start_offset())
    }
    pub(crate) fn advance_first_dirty_offset(&self, offset: i64) {
        self.first_dirty_offset.fetch_max(offset, Ordering::AcqRel);
    }
    pub(crate) fn delete_horizon_watch(&self) -> &Mutex<cleaner::DeleteHorizonWatch> {
        &self.delete_horizon_watch
    }
    pub fn config(&self) -> LogConfig {
        self.config.read().clone()
    }
    /// Takes effect from the next append (a smaller `segment_bytes` rolls at the next append).
    pub fn set_config(&self, config: LogConfig) {
        *self.config.write() = config;
    }
    pub fn size_bytes(&self) -> u64 {
        self.segments
            .read()
            .values()
            .map(|segment| segment.size_bytes())
            .sum()
    }
    pub fn segment_count(&self) -> usize {
        self.segments.read().len()
    }
    /// Base offsets of the segments, ascending.
    pub fn segment_base_offsets(&self) -> Vec<i64> {
        self.segments.read().keys().copied().collect()
    }
    pub fn latest_epoch(&self) -> Option<i32> {
        self.epochs.read().latest()
    }
    /// The leader-epoch cache entries (epoch, start offset).
    pub fn epoch_entries(&self) -> Vec<(i32, i64)> {
        self.epochs.read().entries.clone()
    }
    /// OffsetForLeaderEpoch, per Kafka's `LeaderEpochFileCache.endOffsetFor`: the latest epoch
    /// ends at the log end offset; an older epoch ends where the next known epoch starts
    /// (answering with the largest known epoch <= the requested one); an epoch above every
    /// known one, or -1, is `(-1, -1)`.
    pub fn end_offset_for_epoch(&self, epoch: i32) -> (i32, i64) {
        self.epochs
            .read()
            .end_offset_for(epoch, self.log_end_offset())
    }
    /// True once an I/O error took the log offline (until it is reopened).
    /// Bytes made durable since the last [`crate::LogDir::checkpoint`] read this log's recovery
    /// point (or since the log was opened): about what a restart after a crash would verify
    /// beyond the checkpoint. Bytes not yet synced (`write.caching=true`) are not counted: how
    /// long they stay unsynced is `flush.ms` / `flush.messages`' business.
    pub fn bytes_since_checkpoint(&self) -> u64 {
        self.durable_appended_bytes
            .load(Ordering::Acquire)
            .saturating_sub(self.checkpointed_appended_bytes.load(Ordering::Relaxed))
    }

    /// The durable-bytes count to record once a checkpoint holding the recovery point read
    /// after this call is durable ([`Log::checkpoint_written`]).
    pub(crate) fn durable_appended_bytes(&self) -> u64 {
        self.durable_appended_bytes.load(Ordering::Acquire)
    }

    pub(crate) fn checkpoint_written(&self, appended_bytes: u64) {
        self.checkpointed_appended_bytes
            .fetch_max(appended_bytes, Ordering::Relaxed);
    }

    /// Damage found in this log since it was opened (see [`DamagedRange`]), oldest first.
    pub fn damaged_ranges(&self) -> Vec<DamagedRange> {
        self.damaged.lock().clone()
    }

    /// Remembers a damaged range, once; the oldest goes beyond [`MAX_DAMAGED_RANGES_KEPT`].
    pub(crate) fn record_damage(&self, range: DamagedRange) {
        let mut damaged = self.damaged.lock();
        if damaged.contains(&range) {
            return;
        }
        if damaged.len() >= MAX_DAMAGED_RANGES_KEPT {
            damaged.remove(0);
        }
        damaged.push(range);
    }

    pub fn is_offline(&self) -> bool {
        self.offline.load(Ordering::Acquire)
    }
    pub(crate) fn mark_offline(&self) {
        self.offline.store(true, Ordering::Release);
    }
    /// The I/O error that took the log offline, if one did.
    pub fn offline_reason(&self) -> Option<OfflineReason> {
        self.offline_reason.lock().clone()
    }
    /// Takes the log offline for `reason`; the first error is kept and logged.
    pub(crate) fn go_offline(&self, reason: OfflineReason) {
        let mut slot = self.offline_reason.lock();
        self.mark_offline();
        if slot.is_none() {
            tracing::error!(
                dir = %self.dir.display(),
                error = %reason.error,
                storage_full = reason.storage_full,
                sync_failed = reason.sync_failed,
                recovery_point = self.recovery_point(),
                log_end_offset = self.log_end_offset(),
                "log offline: appends and syncs fail until it is reopened"
            );
            *slot = Some(reason);
        }
    }
    fn append_failed(&self, err: &AppendError, sync_failed: bool) {
        let source = match err {
            AppendError::Io { source, .. } => Some(source),
            _ => None,
        };
        self.go_offline(OfflineReason::new(err, source, sync_failed));
    }
    /// Zeros past the data this log holds from the data directory's budget.
    pub fn preallocated_bytes(&self) -> u64 {
        self.segments
            .read()
            .values()
            .map(|segment| segment.preallocated_charge_bytes())
            .sum()
    }
    /// Number of producer ids with idempotence state.
    pub fn producer_count(&self) -> usize {
        self.append_lock.lock().len()
    }

    pub(crate) fn segments_snapshot(&self) -> Vec<Arc<Segment>> {
        self.segments.read().values().cloned().collect()
    }

    fn active_segment(&self) -> Arc<Segment> {
        let segments = self.segments.read();
        let active = segments.values().next_back().cloned();
        active.unwrap_or_else(|| unreachable!("a log always has an active segment"))
    }

    fn offline_error(&self) -> AppendError {
        AppendError::Offline {
            dir: self.dir.clone(),
        }
    }

    fn fail<T>(&self, result: Result<T, AppendError>) -> Result<T, AppendError> {
        if let Err(err) = &result {
            self.append_failed(err, false);
        }
        result
    }

    /// Appends validated batches; see the crate docs for the full contract.
    ///
    /// Under the append lock: checks idempotent-producer state (a duplicate returns the original
    /// offsets and writes nothing), assigns offsets by rewriting a copy of each batch's header
    /// (base offset, partitionLeaderEpoch; for LogAppendTime maxTimestamp + attribute + CRC),
    /// rolls the segment if needed, writes the new headers and the untouched records sections to
    /// the page cache with one `pwritev` (no fsync) and updates indexes, producer state and the
    /// leader-epoch cache. `batches` itself is never modified.
    pub fn append(
        &self,
        batches: ValidatedBatches,
        options: AppendOptions,
    ) -> Result<AppendOutcome, AppendError> {
        let mut producers = self.append_lock.lock();
        if self.is_offline() {
            return Err(self.offline_error());
        }
        let config = self.config();
        let (buf, mut headers) = batches.into_parts();
        let base_offset = self.log_end_offset();
        let log_append_time = (config.message_timestamp_type == TimestampType::LogAppendTime)
            .then_some(options.now_ms);

        // Assign offsets first: producer checks compare the assigned offsets. Only headers are
        // rewritten; the records sections are written from `buf` as they came.
        let mut stored_headers = Vec::with_capacity(headers.len());
        let mut position = 0usize;
        let mut next_offset = base_offset;
        for header in headers.iter_mut() {
            let batch_bytes = &buf[position..position + header.total_size()];
            let stored = batch::stored_header(
                batch_bytes,
                next_offset,
                options.leader_epoch,
                log_append_time,
            );
            *header = BatchHeader::parse(&stored).map_err(|err| AppendError::Io {
                context: "re-reading a rewritten batch header".to_string(),
                source: io::Error::other(err.to_string()),
            })?;
            stored_headers.push(stored);
            next_offset = header.last_offset() + 1;
            position += header.total_size();
        }

        let updated = match producers.prepare(&headers)? {
            Prepared::Duplicate(original) => {
                return Ok(AppendOutcome {
                    base_offset: original.first_offset,
                    last_offset: original.last_offset,
                    log_append_time_ms: if log_append_time.is_some() {
                        original.timestamp
                    } else {
                        -1
                    },
                    log_start_offset: self.log_start_offset(),
                    duplicate: true,
                });
            }
            Prepared::Accept(updated) => updated,
        };

        let epoch_is_new = options.leader_epoch >= 0
            && self
                .epochs
                .read()
                .latest()
                .is_none_or(|latest| options.leader_epoch > latest);
        if epoch_is_new {
            // The cache only changes under the append lock, which this thread holds.
            let mut epochs = self.epochs.write();
            if epochs
                .latest()
                .is_none_or(|latest| options.leader_epoch > latest)
            {
                let result = epochs
                    .assign(options.leader_epoch, base_offset)
                    .map_err(append_io(|| {
                        format!("writing leader epoch checkpoint in {}", self.dir.display())
                    }));
                self.fail(result)?;
            }
        }

        let max_timestamp = headers
            .iter()
            .map(|header| header.max_timestamp)
            .max()
            .unwrap_or(-1);
        let mut parts = Vec::with_capacity(2 * headers.len());
        let mut position = 0usize;
        for (header, stored) in headers.iter().zip(&stored_headers) {
            parts.push(&stored[..]);
            parts.push(&buf[position + BatchHeader::SIZE..position + header.total_size()]);
            position += header.total_size();
        }
        let result = self.write_batches(
            &producers,
            &config,
            &parts,
            &headers,
            max_timestamp,
            options.now_ms,
        );
        self.fail(result)?;
        self.appended_bytes
            .fetch_add(buf.len() as u64, Ordering::Release);
        producers.commit(updated);
        self.log_end_offset.store(next_offset, Ordering::Release);
        Ok(AppendOutcome {
            base_offset,
            last_offset: next_offset - 1,
            log_append_time_ms: log_append_time.unwrap_or(-1),
            log_start_offset: self.log_start_offset(),
            duplicate: false,
        })
    }

    fn write_batches(
        &self,
        producers: &ProducerStateManager,
        config: &LogConfig,
        parts: &[&[u8]],
        headers: &[BatchHeader],
        max_timestamp: i64,
        now_ms: i64,
    ) -> Result<(), AppendError> {
        let size_bytes: usize = parts.iter().map(|part| part.len()).sum();
        let limits = IndexLimits::new(config.index_interval_bytes, config.segment_index_bytes);
        let last_offset = headers
            .last()
            .map_or(self.log_end_offset(), BatchHeader::last_offset);
        let mut segment = self.active_segment();
        if let Some(reason) = roll_reason(
            &segment,
            config,
            limits,
            size_bytes as u64,
            max_timestamp,
            last_offset,
            now_ms,
        ) {
            segment = self.roll(producers, &segment, reason, now_ms)?;
        }
        segment.set_created_ms(now_ms);
        segment.note_append_ms(now_ms);
        let preallocate = Preallocate {
            bytes: config.preallocate_bytes,
            limit: config.segment_bytes,
            budget: Some(&self.preallocation),
        };
        segment
            .append(parts, headers, limits, preallocate)
            .map_err(append_io(|| {
                format!(
                    "appending {size_bytes} bytes to {}",
                    segment.log_path.display()
                )
            }))
    }

    /// Trims the active segment's preallocated zeros when nothing was appended for `idle_ms`,
    /// giving them back to the budget (the next append preallocates again). Checks without a
    /// lock first, so a pass over thousands of busy or bare partitions costs a few loads each;
    /// trims under the append lock. Returns the bytes trimmed.
    pub fn trim_idle_preallocation(&self, now_ms: i64, idle_ms: i64) -> u64 {
        let idle = |segment: &Segment| {
            segment.preallocated_charge_bytes() > 0
                && now_ms.saturating_sub(segment.last_append_ms()) >= idle_ms
        };
        if !idle(&self.active_segment()) {
            return 0;
        }
        let _producers = self.append_lock.lock();
        let active = self.active_segment();
        if !idle(&active) {
            return 0;
        }
        let before = active.preallocated_charge_bytes();
        active.trim_preallocated_or_warn(Some(&self.preallocation));
        before - active.preallocated_charge_bytes()
    }

    /// Makes a new active segment at the log end offset.
    fn roll(
        &self,
        producers: &ProducerStateManager,
        previous: &Segment,
        reason: &str,
        now_ms: i64,
    ) -> Result<Arc<Segment>, AppendError> {
        let base_offset = self.log_end_offset();
        let finishing = || format!("finishing segment {}", previous.log_path.display());
        previous.trim_preallocated_or_warn(Some(&self.preallocation));
        previous
            .on_become_inactive()
            .map_err(append_io(finishing))?;
        let segment = Arc::new(
            Segment::create(&self.dir, base_offset, Some(now_ms)).map_err(append_io(|| {
                format!("creating segment {base_offset} in {}", self.dir.display())
            }))?,
        );
        self.segments.write().insert(base_offset, segment.clone());
        // Before the log end moves into the new segment, so a sync that starts from that end
        // sees the change.
        self.dir_changes.fetch_add(1, Ordering::AcqRel);
        tracing::info!(dir = %self.dir.display(), base_offset, reason, "rolled segment");
        // The snapshot only saves replay time; recovery ignores it if it is torn (CRC), so it is
        // not fsync'd here.
        if let Err(err) = producer_state::write_snapshot(&self.dir, base_offset, producers, false) {
            tracing::warn!(dir = %self.dir.display(), base_offset, error = %err, "could not write producer snapshot");
        }
        Ok(segment)
    }

    /// Whole batches starting with the one containing `fetch_offset`, ending before the first
    /// batch whose last offset is >= `max_offset` and before `max_bytes` would be exceeded;
    /// with `min_one_batch` the first batch is returned whole even if larger (KIP-74).
    pub fn read(
        &self,
        fetch_offset: i64,
        max_bytes: usize,
        max_offset: i64,
        min_one_batch: bool,
    ) -> Result<ReadResult, ReadError> {
        let slices = self.read_slices(fetch_offset, max_bytes, max_offset, min_one_batch)?;
        let records = FileSlice::read_all(&slices).map_err(read_io(|| {
            format!("reading offset {fetch_offset} of {}", self.dir.display())
        }))?;
        Ok(ReadResult { records })
    }

    /// [`Log::read`] without the reading: where the batches lie, one slice per segment, so a
    /// fetch can send them from the page cache (`sendfile`) instead of copying them twice.
    /// Batch boundaries come from the offset index and batch headers; the data is not touched.
    pub fn read_slices(
        &self,
        fetch_offset: i64,
        max_bytes: usize,
        max_offset: i64,
        min_one_batch: bool,
    ) -> Result<Vec<FileSlice>, ReadError> {
        let log_end_offset = self.log_end_offset();
        let log_start_offset = self.log_start_offset();
        if fetch_offset < log_start_offset || fetch_offset > log_end_offset {
            return Err(ReadError::OffsetOutOfRange {
                requested: fetch_offset,
                log_start_offset,
                log_end_offset,
            });
        }
        let mut slices = Vec::new();
        if fetch_offset == log_end_offset || fetch_offset >= max_offset {
            return Ok(slices);
        }
        let mut remaining_bytes = max_bytes;
        // Segments are looked up one at a time so the map lock is never held during I/O and a
        // read near the start of a long log does not clone every segment handle.
        let mut next_segment = {
            let map = self.segments.read();
            map.range(..=fetch_offset)
                .next_back()
                .or_else(|| map.iter().next())
                .map(|(_, segment)| segment.clone())
        };
        // Retention or DeleteRecords may have removed the segment holding `fetch_offset` since
        // the range check; they publish the new start before touching the segment map.
        let log_start_offset = self.log_start_offset();
        if fetch_offset < log_start_offset {
            return Err(ReadError::OffsetOutOfRange {
                requested: fetch_offset,
                log_start_offset,
                log_end_offset,
            });
        }
        while let Some(segment) = next_segment.take() {
            next_segment = self
                .segments
                .read()
                .range(segment.base_offset + 1..)
                .next()
                .map(|(_, segment)| segment.clone());
            let end_position = segment.size_bytes();
            let context = || {
                format!(
                    "reading offset {fetch_offset} from {}",
                    segment.log_path.display()
                )
            };
            let Some((position, header)) = segment
                .find_batch(fetch_offset, end_position)
                .map_err(read_io(context))?
            else {
                continue;
            };
            let take_oversized = min_one_batch && slices.is_empty();
            let (end, stop) = chunk_end(
                &segment,
                position,
                header,
                end_position,
                remaining_bytes,
                max_offset,
                take_oversized,
            )
            .map_err(read_io(context))?;
            let len = (end - position) as usize;
            remaining_bytes = remaining_bytes.saturating_sub(len);
            if len > 0 {
                slices.push(FileSlice {
                    segment,
                    position,
                    len,
                });
            }
            if stop || remaining_bytes == 0 {
                break;
            }
        }
        Ok(slices)
    }

    /// ListOffsets by timestamp: the first record (in offset order, at or above the log start)
    /// with timestamp >= `timestamp_ms`, as (offset, timestamp). The candidate batch is found
    /// through the time index and decoded (decompressed if needed).
    pub fn offset_for_timestamp(&self, timestamp_ms: i64) -> Result<Option<(i64, i64)>, ReadError> {
        let log_start_offset = self.log_start_offset();
        for segment in self.segments_snapshot() {
            let state = segment.state();
            if state.next_offset <= log_start_offset {
                continue;
            }
            match state.max_timestamp {
                Some((max_timestamp, _)) if max_timestamp >= timestamp_ms => {}
                _ => continue,
            }
            let start_offset = log_start_offset.max(segment.base_offset);
            let indexed_offset = segment
                .indexes
                .lookup_time(timestamp_ms)
                .map_or(segment.base_offset, |entry| {
                    segment.base_offset + i64::from(entry.relative_offset)
                });
            let target = indexed_offset.max(start_offset);
            let found = scan_for_record(
                &segment,
                target,
                |header| header.max_timestamp >= timestamp_ms,
                |record| record.timestamp >= timestamp_ms && record.offset >= start_offset,
            )?;
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }

    /// ListOffsets MAX_TIMESTAMP: the (offset, timestamp) of the first record carrying the
    /// largest timestamp in the log; for a LogAppendTime batch, its base offset.
    pub fn max_timestamp(&self) -> Result<Option<(i64, i64)>, ReadError> {
        let mut best: Option<(Arc<Segment>, i64, i64)> = None;
        for segment in self.segments_snapshot() {
            if let Some((timestamp, offset)) = segment.state().max_timestamp
                && best
                    .as_ref()
                    .is_none_or(|(_, best_timestamp, _)| timestamp > *best_timestamp)
            {
                best = Some((segment, timestamp, offset));
            }
        }
        let Some((segment, timestamp, offset)) = best else {
            return Ok(None);
        };
        let found = scan_for_record(
            &segment,
            offset,
            |header| header.max_timestamp == timestamp,
            |record| record.timestamp == timestamp,
        )?;
        Ok(Some(found.unwrap_or((offset, timestamp))))
    }

    /// DeleteRecords: moves the log start offset up to `offset` (never down) and deletes the
    /// segments wholly below it (never the active one). Returns the new log start offset.
    pub fn delete_records_before(&self, offset: i64) -> Result<i64, ReadError> {
        let _producers = self.append_lock.lock();
        // A reopen may have replaced this log: its files are no longer this handle's to change.
        if self.is_offline() {
            return Err(ReadError::Io {
                context: format!("deleting records of {}", self.dir.display()),
                source: io::Error::other("log offline"),
            });
        }
        let log_end_offset = self.log_end_offset();
        let log_start_offset = self.log_start_offset();
        if offset > log_end_offset || offset < 0 {
            return Err(ReadError::OffsetOutOfRange {
                requested: offset,
                log_start_offset,
                log_end_offset,
            });
        }
        if offset <= log_start_offset {
            return Ok(log_start_offset);
        }
        self.log_start_offset.store(offset, Ordering::Release);
        let removed: Vec<Arc<Segment>> = {
            let mut map = self.segments.write();
            let bases: Vec<i64> = map.keys().copied().collect();
            let doomed: Vec<i64> = bases
                .windows(2)
                .filter(|pair| pair[1] <= offset)
                .map(|pair| pair[0])
                .collect();
            doomed.iter().filter_map(|base| map.remove(base)).collect()
        };
        for segment in &removed {
            segment.delete_files().map_err(read_io(|| {
                format!("deleting segment {}", segment.log_path.display())
            }))?;
        }
        let mut epochs = self.epochs.write();
        if epochs.truncate_from_start(offset) {
            epochs.persist().map_err(read_io(|| {
                format!("writing leader epoch checkpoint in {}", self.dir.display())
            }))?;
        }
        tracing::info!(dir = %self.dir.display(), log_start_offset = offset, segments_deleted = removed.len(), "deleted records");
        Ok(offset)
    }

    /// Retention (Kafka's `UnifiedLog.deleteOldSegments` for `cleanup.policy=delete`): deletes
    /// whole closed segments from the oldest on and moves the log start offset to the base offset
    /// of the first segment kept. Three passes, as Kafka runs them, each continuing where the
    /// previous stopped and each stopping at the first segment it would keep:
    ///
    /// 1. Log start: segments wholly below the log start offset (left by a DeleteRecords whose
    ///    deletion did not finish, or by a checkpoint newer than the files after a crash).
    /// 2. `retention.bytes` (skipped when negative): with `excess` = log size - retention.bytes,
    ///    delete while `excess - segment size >= 0`, subtracting each deleted segment's size.
    /// 3. `retention.ms` (skipped when negative): delete while `now_ms - largest timestamp >
    ///    retention.ms`. The largest timestamp is the segment's max batch timestamp, or the
    ///    `.log` file's modification time when no batch carries one (Kafka's
    ///    `LogSegment.largestTimestamp`).
    ///
    /// Never deleted: the active segment (Kafka would roll it first; we keep it, so a partition
    /// always keeps its newest data until the next roll), and a segment whose data reaches
    /// `high_watermark` (its successor's base must be `<= high_watermark`), so the log start
    /// never passes what consumers may read.
    ///
    /// Concurrency: runs under the append lock, so it is serialized with appends, rolls, and
    /// `delete_records_before`. The log start offset is published before segments leave the
    /// segment map; a reader that already holds a segment (`Arc`) finishes its read from the
    /// unlinked file (the open descriptor keeps the data until the last handle drops), and a
    /// reader that looks up a segment afterwards sees the new log start and answers
    /// OFFSET_OUT_OF_RANGE. Files are unlinked, not truncated. The caller persists the new log
    /// start with [`crate::LogDir::checkpoint`]; if it crashes first, the next open starts at
    /// the first remaining segment anyway (whole segments are deleted), and a segment that
    /// reappears below a checkpointed log start is removed by pass 1.
    pub fn delete_expired_segments(
        &self,
        policy: RetentionPolicy,
        now_ms: i64,
        high_watermark: i64,
    ) -> Result<RetentionOutcome, StorageError> {
        let _producers = self.append_lock.lock();
        let log_start_offset = self.log_start_offset();
        // A reopen may have replaced this log: its files are no longer this handle's to delete.
        if self.is_offline() {
            return Ok(RetentionOutcome {
                log_start_offset,
                ..RetentionOutcome::default()
            });
        }
        let segments = self.segments_snapshot();
        let mut outcome = RetentionOutcome {
            log_start_offset,
            ..RetentionOutcome::default()
        };
        // `segments[index]` may go only if it is closed and its data lies below the high
        // watermark: both hold when its successor exists and starts at or below it.
        let closed_below_high_watermark = |index: usize| {
            segments
                .get(index + 1)
                .is_some_and(|next| next.base_offset <= high_watermark)
        };
        let mut keep_from = 0usize;

        // Pass 1.
        while closed_below_high_watermark(keep_from)
            && segments[keep_from + 1].base_offset <= log_start_offset
        {
            keep_from += 1;
        }
        outcome.segments_below_log_start = keep_from;

        // Pass 2.
        if policy.retention_bytes >= 0 {
            let size_bytes: u64 = segments[keep_from..]
                .iter()
                .map(|segment| segment.size_bytes())
                .sum();
            let mut excess_bytes = size_bytes.saturating_sub(policy.retention_bytes as u64);
            while closed_below_high_watermark(keep_from)
                && size_bytes >= policy.retention_bytes as u64
                && excess_bytes >= segments[keep_from].size_bytes()
            {
                excess_bytes -= segments[keep_from].size_bytes();
                keep_from += 1;
                outcome.segments_over_retention_bytes += 1;
            }
        }

        // Pass 3.
        if policy.retention_ms >= 0 {
            while closed_below_high_watermark(keep_from)
                && now_ms.saturating_sub(largest_timestamp(&segments[keep_from])?)
                    > policy.retention_ms
            {
                keep_from += 1;
                outcome.segments_over_retention_ms += 1;
            }
        }

        if keep_from == 0 {
            return Ok(outcome);
        }
        let new_log_start_offset = segments[keep_from].base_offset.max(log_start_offset);
        // Publish the start before the segments leave the map (see the doc above).
        self.log_start_offset
            .store(new_log_start_offset, Ordering::Release);
        outcome.log_start_offset = new_log_start_offset;
        {
            let mut map = self.segments.write();
            for segment in &segments[..keep_from] {
                map.remove(&segment.base_offset);
            }
        }
        for segment in &segments[..keep_from] {
            outcome.segments_deleted += 1;
            outcome.bytes_deleted += segment.size_bytes();
            tracing::debug!(file = %segment.log_path.display(), size_bytes = segment.size_bytes(), "deleting segment (retention)");
            segment.delete_files().map_err(storage_io(|| {
                format!("deleting segment {}", segment.log_path.display())
            }))?;
        }
        let mut epochs = self.epochs.write();
        if epochs.truncate_from_start(new_log_start_offset) {
            epochs.persist().map_err(storage_io(|| {
                format!("writing leader epoch checkpoint in {}", self.dir.display())
            }))?;
        }
        Ok(outcome)
    }

    /// Log compaction (`cleanup.policy=compact`) of the closed, fsync'd part of the log: keeps
    /// the latest record per key, drops tombstones `delete.retention.ms` after the first clean
    /// that kept them (KIP-534 delete horizons), leaves offsets unchanged. Blocking and I/O-heavy: call it from a background thread; appends and
    /// reads continue meanwhile. One call at a time per log (later callers wait). See
    /// `cleaner.rs` (and the crate docs) for the rules, the crash-safe swap and the limits.
    pub fn clean(&self, options: CleanOptions, now_ms: i64) -> Result<CleanReport, CleanError> {
        let _cleaning = self.clean_lock.lock();
        // A reopen may have replaced this log, and would delete the cleaner's files under it.
        if self.is_offline() {
            return Err(CleanError::Io {
                context: format!("cleaning {}", self.dir.display()),
                source: io::Error::other("log offline"),
            });
        }
        let result = cleaner::clean_log(self, &options, now_ms);
        if let Err(err) = &result {
            // Part of the log may have been rewritten: read the horizons again when needed.
            *self.delete_horizon_watch.lock() = cleaner::DeleteHorizonWatch::Unknown;
            if err.takes_log_offline() {
                let source = match err {
                    CleanError::Swap { source, .. } => Some(source),
                    _ => None,
                };
                self.go_offline(OfflineReason::new(err, source, false));
            }
        }
        result
    }

    /// How much of the closed part of the log is clean (below [`Log::first_dirty_offset`]) and
    /// how much is dirty and cleanable under `options` (`min.compaction.lag.ms`), and the
    /// earliest tombstone delete horizon, for scheduling by `min.cleanable.dirty.ratio`,
    /// `max.compaction.lag.ms` and `delete.retention.ms`. Reads the first batch header of each
    /// closed dirty segment, and the first time after an open (or a failed clean) every batch
    /// header below the first dirty offset.
    pub fn dirty_stats(
        &self,
        options: &CleanOptions,
        now_ms: i64,
    ) -> Result<cleaner::DirtyStats, CleanError> {
        cleaner::dirty_stats(self, options, now_ms)
    }

    /// Replaces the closed segments `olds` (consecutive, at least one) by the one `install`
    /// produces at the first one's base, under the append lock (so serialized with appends,
    /// rolls, retention and DeleteRecords). Returns `Ok(false)` without calling `install` when a
    /// segment of `olds` is no longer in the segment list or the last became the active
    /// segment. The map changes in one write-locked step: a reader sees either the old or the
    /// new segments; one holding an old `Arc` keeps reading the old file.
    pub(crate) fn replace_closed_segments(
        &self,
        olds: &[Arc<Segment>],
        install: impl FnOnce() -> io::Result<Segment>,
    ) -> io::Result<bool> {
        let _producers = self.append_lock.lock();
        if self.is_offline() {
            return Ok(false);
        }
        {
            let map = self.segments.read();
            let current = olds.iter().all(|old| {
                map.get(&old.base_offset)
                    .is_some_and(|segment| Arc::ptr_eq(segment, old))
            });
            let closed = olds.last().is_some_and(|last_old| {
                map.keys()
                    .next_back()
                    .is_some_and(|last| *last > last_old.base_offset)
            });
            if !current || !closed {
                return Ok(false);
            }
        }
        let segment = Arc::new(install()?);
        let mut map = self.segments.write();
        for old in &olds[1..] {
            map.remove(&old.base_offset);
        }
        map.insert(segment.base_offset, segment);
        Ok(true)
    }

    /// Group commit: returns once every byte below `offset` (capped at the log end offset) is
    /// fdatasync'd. A caller finding a sync in flight that started from at least its offset
    /// waits for it; otherwise it starts one itself, covering everything appended up to that
    /// moment for all later callers, unless [`MAX_CONCURRENT_SYNCS`] are in flight already (then
    /// it waits and looks again). Rolled segments not yet synced are synced whole (log and
    /// indexes), the active one's `.log` only (its indexes are rebuilt by recovery if torn).
    /// Blocking.
    pub fn sync_to(&self, offset: i64) -> Result<(), AppendError> {
        self.sync(offset, true).map(|_| ())
    }

    /// [`Log::sync_to`], except that it returns `Ok(false)` instead of waiting when a sync in
    /// flight already started from at least `offset`: for a caller that learns of that sync's
    /// end otherwise. `Ok(true)`: it ran a sync itself.
    pub fn sync_uncovered(&self, offset: i64) -> Result<bool, AppendError> {
        self.sync(offset, false)
    }

    fn sync(&self, offset: i64, wait_for_covering: bool) -> Result<bool, AppendError> {
        let mut synced = false;
        loop {
            let mut syncs = self.syncs.lock();
            // Read before the log end: counts no byte above the offset this sync covers.
            let appended_bytes = self.appended_bytes.load(Ordering::Acquire);
            let end_offset = self.log_end_offset();
            let target = offset.min(end_offset);
            if self.recovery_point() >= target {
                return Ok(synced);
            }
            if self.is_offline() {
                return Err(self.offline_error());
            }
            let covered =
                syncs.running > 0 && self.sync_started_to.load(Ordering::Acquire) >= target;
            if covered && !wait_for_covering {
                return Ok(synced);
            }
            if covered || syncs.running >= MAX_CONCURRENT_SYNCS {
                self.sync_done.wait(&mut syncs);
                continue;
            }
            syncs.running += 1;
            self.sync_started_to.fetch_max(end_offset, Ordering::AcqRel);
            drop(syncs);
            let result = self.sync_everything(end_offset);
            let mut syncs = self.syncs.lock();
            syncs.running -= 1;
            if let Err(err) = &result {
                // Before waking anyone, so no waiter mistakes a failed sync for a done one.
                self.append_failed(err, true);
            }
            self.sync_done.notify_all();
            drop(syncs);
            result?;
            self.durable_appended_bytes
                .fetch_max(appended_bytes, Ordering::AcqRel);
            synced = true;
        }
    }

    /// Highest log end offset any sync, in flight or done, started from: everything below it
    /// is durable once the syncs in flight end.
    pub fn sync_started_to(&self) -> i64 {
        self.sync_started_to.load(Ordering::Acquire)
    }

    /// Makes everything below `end_offset` (a log end offset read before the call) durable
    /// and advances the recovery point to it. Safe beside another call in flight: a segment's
    /// `fully_synced` is set only after its sync returned, and the directory's fsync is waited
    /// for, not skipped, while another caller runs it.
    fn sync_everything(&self, end_offset: i64) -> Result<(), AppendError> {
        #[cfg(test)]
        {
            // Cloned out first: the lock is not held while the hook runs.
            let hook = self.before_sync.lock().clone();
            if let Some(hook) = hook {
                hook();
            }
            if self.fail_next_sync.swap(false, Ordering::AcqRel) {
                return Err(AppendError::Io {
                    context: format!("fdatasync of {} (injected)", self.dir.display()),
                    source: io::ErrorKind::StorageFull.into(),
                });
            }
        }
        let segments = self.segments_snapshot();
        let count = segments.len();
        for (index, segment) in segments.iter().enumerate() {
            if segment.fully_synced.load(Ordering::Acquire) {
                continue;
            }
            let context = || format!("fdatasync of {}", segment.log_path.display());
            if index + 1 < count {
                segment.sync_all().map_err(append_io(context))?;
                segment.fully_synced.store(true, Ordering::Release);
            } else {
                segment.sync_log().map_err(append_io(context))?;
            }
        }
        let changes = self.dir_changes.load(Ordering::Acquire);
        let mut dir_synced = self.dir_synced.lock();
        if *dir_synced < changes {
            checkpoint::sync_dir(&self.dir).map_err(|source| AppendError::Io {
                context: "fsync of the partition directory".to_string(),
                source,
            })?;
            *dir_synced = changes;
        }
        drop(dir_synced);
        self.recovery_point.fetch_max(end_offset, Ordering::AcqRel);
        Ok(())
    }

    /// `sync_to(log_end_offset)`.
    pub fn flush(&self) -> Result<(), AppendError> {
        self.sync_to(self.log_end_offset())
    }

    /// Clean close: flushes, closes the active segment's time index with its max timestamp,
    /// syncs its indexes and writes a durable producer-state snapshot at the log end offset.
    pub fn close(&self) -> Result<(), AppendError> {
        self.flush()?;
        let producers = self.append_lock.lock();
        let active = self.active_segment();
        let context = || format!("closing {}", active.log_path.display());
        active.trim_preallocated_or_warn(Some(&self.preallocation));
        active.on_become_inactive().map_err(append_io(context))?;
        active.sync_all().map_err(append_io(context))?;
        producer_state::write_snapshot(&self.dir, self.log_end_offset(), &producers, true)
            .map_err(append_io(|| {
                format!("writing producer snapshot in {}", self.dir.display())
            }))?;
        Ok(())
    }

    /// First step of a reopen ([`crate::LogDir::reopen_log`]) of this offline log: takes the
    /// clean lock and the append lock (held by the returned guard) and waits for syncs in
    /// flight to end, so the recovery point read then is final: no sync can start (the log is
    /// offline) and none can still advance it. Each wait is bounded by [`REOPEN_SYNC_WAIT`]
    /// (a long compaction holds the clean lock; its swap will be refused): the reopen fails
    /// then, and is tried again later.
    pub(crate) fn quiesce_for_reopen(&self) -> Result<Quiesced<'_>, StorageError> {
        let busy = |what: &str| StorageError::Io {
            context: format!("reopening {}", self.dir.display()),
            source: io::Error::new(
                io::ErrorKind::TimedOut,
                format!("{what} is still running after {REOPEN_SYNC_WAIT:?}"),
            ),
        };
        let deadline = std::time::Instant::now() + REOPEN_SYNC_WAIT;
        let cleaning = self
            .clean_lock
            .try_lock_until(deadline)
            .ok_or_else(|| busy("a compaction"))?;
        let producers = self
            .append_lock
            .try_lock_until(deadline)
            .ok_or_else(|| busy("an append"))?;
        let mut syncs = self.syncs.lock();
        while syncs.running > 0 {
            if self.sync_done.wait_until(&mut syncs, deadline).timed_out() && syncs.running > 0 {
                return Err(busy("an fdatasync"));
            }
        }
        drop(syncs);
        Ok(Quiesced {
            _cleaning: cleaning,
            _producers: producers,
            recovery_point: self.recovery_point(),
            log_start_offset: self.log_start_offset(),
            first_dirty_offset: self.first_dirty_offset(),
        })
    }

    /// Cuts every batch at or past `durable_end` (this log's final recovery point, under
    /// [`Log::quiesce_for_reopen`]) off the files, through their paths: segments that start at
    /// or past it are deleted (the first segment is emptied instead), the one it falls in is
    /// truncated at the batch that starts there. Segments wholly below it, the only ones the
    /// cleaner may have rewritten, are not touched. Idempotent, so a reopen that failed later
    /// can run it again. Returns the bytes cut.
    pub(crate) fn cut_unsynced_tail(&self, durable_end: i64) -> Result<u64, StorageError> {
        let segments = self.segments_snapshot();
        let mut bytes_cut = 0;
        let mut deleted_any = false;
        for (index, segment) in segments.iter().enumerate() {
            if segment.state().next_offset <= durable_end {
                continue;
            }
            let path = &segment.log_path;
            let file_bytes = match std::fs::metadata(path) {
                Ok(metadata) => metadata.len(),
                Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
                Err(err) => return Err(storage_io(|| format!("reading {}", path.display()))(err)),
            };
            if segment.base_offset >= durable_end && index > 0 {
                segment
                    .delete_files()
                    .map_err(storage_io(|| format!("deleting {}", path.display())))?;
                bytes_cut += file_bytes;
                deleted_any = true;
                continue;
            }
            let end = segment.size_bytes().min(file_bytes);
            let cut = match segment
                .find_batch(durable_end, end)
                .map_err(storage_io(|| format!("reading {}", path.display())))?
            {
                // Recovery points are batch boundaries; were one not, the batch holding it
                // stays whole rather than losing synced records.
                Some((position, header)) if header.base_offset >= durable_end => position,
                Some((position, header)) => position + header.total_size() as u64,
                None if segment.base_offset >= durable_end => 0,
                None => continue,
            };
            if cut < file_bytes {
                let file = std::fs::OpenOptions::new()
                    .write(true)
                    .open(path)
                    .map_err(storage_io(|| format!("opening {}", path.display())))?;
                file.set_len(cut)
                    .and_then(|()| file.sync_all())
                    .map_err(storage_io(|| format!("truncating {}", path.display())))?;
                bytes_cut += file_bytes - cut;
            }
        }
        if deleted_any {
            checkpoint::sync_dir(&self.dir)
                .map_err(storage_io(|| format!("syncing {}", self.dir.display())))?;
        }
        Ok(bytes_cut)
    }

    /// Gives every preallocated zero of this log back to the budget (a reopen's recovery trims
    /// them off the files).
    pub(crate) fn release_preallocation(&self) {
        for segment in self.segments_snapshot() {
            segment.release_preallocation_charge(Some(&self.preallocation));
        }
    }

    /// Opens and recovers the log in `params.dir` (which must exist). Recovery passes:
    ///
    /// 1. Leftovers: finish or discard an interrupted compaction swap (`cleaner.rs`,
    ///    `recover_compaction_leftovers`: `*.cleaned` files are deleted, a `<base>.log.swap` is
    ///    complete and fsync'd so it replaces `<base>.log` and that segment's indexes are
    ///    rebuilt); delete `*.tmp` files (torn checkpoint writes) and index files without a
    ///    `.log`.
    /// 2. Load: open every `<base>.log` with its indexes; malformed or missing indexes are
    ///    marked for rebuild. No segment → create an empty one at the checkpointed log start.
    /// 3. Tail: on a clean shutdown trust each segment and scan only headers after its last
    ///    index entry; on an unclean one verify every batch (framing, magic, CRC, increasing
    ///    offsets below the next segment's base) from the segment holding the recovery point
    ///    onwards. Segments with bad indexes, or whose tail does not parse, are verified the
    ///    same way. In the last segment offsets must be contiguous, and the first bad or torn
    ///    batch cuts it (a torn or half-written tail after kill -9 or power loss). Damage in a
    ///    closed segment never reaches beyond its own damaged bytes: they are moved to the
    ///    quarantine directory and every intact batch after them, in that segment and in later
    ///    ones, is kept (`damage.rs`); a closed segment ending short of the next one is an
    ///    offset gap, reported, not a reason to drop what follows.
    /// 4. Offsets: log end = end of the last good batch; log start = max(checkpoint, first base).
    /// 5. Leader epochs: drop entries at or beyond the log end, clamp to the log start.
    /// 6. Producer state: load the newest valid snapshot at or below the recovery point (the log
    ///    end after a clean shutdown), delete snapshots beyond the log end, replay the batch
    ///    headers after the snapshot.
    pub(crate) fn open(params: OpenParams) -> Result<(Log, RecoveryReport), StorageError> {
        let dir = params.dir.clone();
        let limits = IndexLimits::new(
            params.config.index_interval_bytes,
            params.config.segment_index_bytes,
        );
        let mut report = RecoveryReport {
            clean_shutdown: params.clean_shutdown,
            ..RecoveryReport::default()
        };

        // Pass 1.
        let leftovers = cleaner::recover_compaction_leftovers(&dir).map_err(storage_io(|| {
            format!("recovering compaction leftovers in {}", dir.display())
        }))?;
        report.cleaned_files_removed = leftovers.cleaned_files_removed;
        report.swaps_completed = leftovers.swaps_completed;
        let bases = remove_leftovers_and_list_segments(&dir)?;

        // Pass 2.
        let mut segments: Vec<(Segment, bool)> = Vec::with_capacity(bases.len());
        for base in &bases {
            segments.push(Segment::open(&dir, *base).map_err(storage_io(|| {
                format!("opening segment {base} in {}", dir.display())
            }))?);
        }
        report.segments_loaded = segments.len();
        if segments.is_empty() {
            let base = params.log_start_offset.unwrap_or(0).max(0);
            let segment = Segment::create(&dir, base, None).map_err(storage_io(|| {
                format!("creating segment in {}", dir.display())
            }))?;
            segments.push((segment, true));
        }

        let epoch_path = dir.join(checkpoint::LEADER_EPOCH_CHECKPOINT);
        let mut epochs = LeaderEpochCache {
            entries: read_epochs(&epoch_path),
            path: epoch_path,
        };
        let epochs_before = epochs.entries.clone();

        // Pass 3.
        let recovery_point = params.recovery_point.unwrap_or(0);
        let scan_from_base = if params.clean_shutdown {
            None
        } else {
            let floor = segments
                .iter()
                .rev()
                .find(|(segment, _)| segment.base_offset <= recovery_point);
            Some(floor.map_or(i64::MIN, |(segment, _)| segment.base_offset))
        };
        let mut kept: Vec<Segment> = Vec::with_capacity(segments.len());
        let mut remaining: std::collections::VecDeque<(Segment, bool)> = segments.into();
        while let Some((segment, indexes_valid)) = remaining.pop_front() {
            let end_offset = remaining.front().map(|(next, _)| next.base_offset);
            let must_verify =
                scan_from_base.is_some_and(|base| segment.base_offset >= base) || !indexes_valid;
            let loaded = !must_verify && load_tail_or_verify(&segment, end_offset, &mut report)?;
            let segment = if loaded {
                segment
            } else {
                // The segment holding the recovery point is fsync'd below it: verification
                // resumes there (its indexes permitting), so restarts read only what the last
                // checkpoint did not cover.
                let holds_recovery_point = indexes_valid
                    && scan_from_base == Some(segment.base_offset)
                    && recovery_point > segment.base_offset;
                let rules = VerifyRules {
                    last_segment: end_offset.is_none(),
                    end_offset,
                    trusted_below: holds_recovery_point.then_some(recovery_point),
                };
                let mut on_batch = |header: &BatchHeader| {
                    if header.partition_leader_epoch >= 0
                        && epochs
                            .latest()
                            .is_none_or(|latest| header.partition_leader_epoch > latest)
                    {
                        epochs
                            .entries
                            .push((header.partition_leader_epoch, header.base_offset));
                    }
                };
                let verify = Verify {
                    limits,
                    rules,
                    quarantine_dir: &params.quarantine_dir,
                };
                verify.segment(segment, &mut on_batch, &mut report)?
            };
            // A closed segment that ends short of the next one lost batches at its end (at a
            // batch boundary: power loss of an unsynced tail, or damage moved out above). The
            // later segments are intact and kept; the missing offsets are a gap, as compaction
            // leaves, and are reported.
            let end = segment.state().next_offset;
            if let Some(next) = end_offset
                && end < next
                && report
                    .damaged
                    .last()
                    .is_none_or(|range| range.end_offset != next)
            {
                let range = DamagedRange {
                    file: segment.log_path.clone(),
                    position_bytes: segment.size_bytes(),
                    end_position_bytes: segment.size_bytes(),
                    first_offset: end,
                    end_offset: next,
                    reason: format!(
                        "segment ends at offset {end} but the next one starts at {next}"
                    ),
                    quarantined_to: None,
                    in_log: false,
                };
                tracing::warn!(%range, "offsets missing at the end of a closed segment; later segments kept");
                report.damaged.push(range);
            }
            kept.push(segment);
        }
        // Pass 4.
        let first_base = kept.first().map_or(0, |segment| segment.base_offset);
        let log_end_offset = kept
            .last()
            .map_or(first_base, |segment| segment.state().next_offset);
        let mut log_start_offset = params
            .log_start_offset
            .unwrap_or(first_base)
            .max(first_base);
        if log_start_offset > log_end_offset {
            tracing::warn!(dir = %dir.display(), log_start_offset, log_end_offset, "log start checkpoint is beyond the log end; clamping");
            log_start_offset = log_end_offset;
        }
        let recovery_point = if params.clean_shutdown {
            log_end_offset
        } else {
            recovery_point.clamp(0, log_end_offset)
        };
        for (index, segment) in kept.iter().enumerate() {
            let next_base = kept.get(index + 1).map(|next| next.base_offset);
            if next_base.is_some_and(|next| next <= recovery_point) {
                segment.fully_synced.store(true, Ordering::Release);
            }
        }

        // Pass 5.
        let mut epochs_changed = epochs.entries != epochs_before;
        epochs_changed |= epochs.truncate_from_end(log_end_offset);
        epochs_changed |= epochs.truncate_from_start(log_start_offset);
        if epochs_changed || !epochs.path.exists() {
            epochs
                .persist()
                .map_err(storage_io(|| format!("writing {}", epochs.path.display())))?;
        }

        // Pass 6.
        let snapshot_limit = if params.clean_shutdown {
            log_end_offset
        } else {
            recovery_point
        };
        let (producers, snapshot_offset) =
            load_producer_snapshot(&dir, log_end_offset, snapshot_limit)?;
        report.producer_snapshot_offset = snapshot_offset;

        let mut map = BTreeMap::new();
        for segment in kept {
            map.insert(segment.base_offset, Arc::new(segment));
        }
        let log = Log {
            topic: params.topic,
            partition: params.partition,
            dir,
            topic_id: params.topic_id,
            config: RwLock::new(params.config),
            segments: RwLock::new(map),
            append_lock: Mutex::new(producers),
            epochs: RwLock::new(epochs),
            log_start_offset: AtomicI64::new(log_start_offset),
            log_end_offset: AtomicI64::new(log_end_offset),
            recovery_point: AtomicI64::new(recovery_point),
            syncs: Mutex::new(SyncState::default()),
            sync_done: Condvar::new(),
            sync_started_to: AtomicI64::new(recovery_point),
            offline: AtomicBool::new(false),
            offline_reason: Mutex::new(None),
            preallocation: params.preallocation,
            // The directory may hold files created before a crash and never fsync'd.
            dir_changes: AtomicU64::new(1),
            dir_synced: Mutex::new(0),
            clean_lock: Mutex::new(()),
            // Kafka's `cleanableOffsets`: a checkpoint outside [log start, log end] is reset.
            first_dirty_offset: AtomicI64::new(
                params
                    .first_dirty_offset
                    .filter(|offset| (log_start_offset..=log_end_offset).contains(offset))
                    .unwrap_or(log_start_offset),
            ),
            delete_horizon_watch: Mutex::new(cleaner::DeleteHorizonWatch::Unknown),
            damaged: Mutex::new(Vec::new()),
            appended_bytes: AtomicU64::new(0),
            durable_appended_bytes: AtomicU64::new(0),
            checkpointed_appended_bytes: AtomicU64::new(0),
            #[cfg(test)]
            before_sync: Mutex::new(None),
            #[cfg(test)]
            fail_next_sync: AtomicBool::new(false),
        };
        report.batches_replayed =
            log.replay_producer_state(snapshot_offset.unwrap_or(first_base))?;
        report.log_start_offset = log_start_offset;
        report.log_end_offset = log_end_offset;
        for range in &report.damaged {
            log.record_damage(range.clone());
        }
        Ok((log, report))
    }

    /// Replays the headers of batches starting at or after `from_offset` into producer state.
    fn replay_producer_state(&self, from_offset: i64) -> Result<u64, StorageError> {
        let mut producers = self.append_lock.lock();
        let mut replayed = 0u64;
        for segment in self.segments_snapshot() {
            if segment.state().next_offset <= from_offset {
                continue;
            }
            let end_position = segment.size_bytes();
            let context = || {
                format!(
                    "replaying producer state from {}",
                    segment.log_path.display()
                )
            };
            let mut next = segment
                .find_batch(from_offset, end_position)
                .map_err(storage_io(context))?;
            while let Some((position, header)) = next {
                if header.base_offset >= from_offset {
                    producers.replay(&header);
                    replayed += 1;
                }
                let next_position = position + header.total_size() as u64;
                next = segment
                    .read_header(next_position, end_position)
                    .map_err(storage_io(context))?
                    .map(|header| (next_position, header));
            }
        }
        Ok(replayed)
    }
}

/// Pass 3 for a segment trusted as it is (clean shutdown, below the recovery point): loads its
/// tail ([`Segment::load_tail`]). Returns false when the segment must be verified instead: its
/// tail does not parse, or zeros trimmed off it left it short of the next segment.
fn load_tail_or_verify(
    segment: &Segment,
    end_offset: Option<i64>,
    report: &mut RecoveryReport,
) -> Result<bool, StorageError> {
    let loaded = segment.load_tail(end_offset).map_err(storage_io(|| {
        format!("loading {}", segment.log_path.display())
    }))?;
    match loaded {
        Ok(0) => Ok(true),
        Ok(trimmed) => {
            tracing::info!(file = %segment.log_path.display(), trimmed, "trimmed preallocated zeros after the last batch");
            report.preallocated_bytes_trimmed += trimmed;
            let end = segment.state().next_offset;
            match end_offset {
                Some(next) if next != end => {
                    tracing::warn!(file = %segment.log_path.display(), end, next, "segment ends short of the next one after trimming zeros; verifying the whole segment");
                    Ok(false)
                }
                _ => Ok(true),
            }
        }
        Err(reason) => {
            tracing::warn!(file = %segment.log_path.display(), %reason, "segment tail does not parse; verifying the whole segment");
            Ok(false)
        }
    }
}

/// Pass 3 for a segment whose every batch is checked ([`Segment::recover`]).
struct Verify<'a> {
    limits: IndexLimits,
    rules: VerifyRules,
    quarantine_dir: &'a Path,
}

impl Verify<'_> {
    /// Verifies `segment`, rebuilding its indexes. The last segment is cut at its first bad
    /// batch; a closed one has its damaged ranges moved out (`damage.rs`) and is verified again.
    /// Returns the segment as it now is.
    fn segment(
        &self,
        segment: Segment,
        on_batch: &mut dyn FnMut(&BatchHeader),
        report: &mut RecoveryReport,
    ) -> Result<Segment, StorageError> {
        report.segments_scanned += 1;
        report.indexes_rebuilt += 1;
        let log_path = segment.log_path.clone();
        let context = || format!("recovering {}", log_path.display());
        let outcome = segment
            .recover(self.limits, self.rules, on_batch)
            .map_err(storage_io(context))?;
        report.bytes_verified += outcome.bytes_verified;
        report.preallocated_bytes_trimmed += outcome.preallocated_bytes;
        if let Some((position, offset, reason)) = outcome.damage {
            tracing::warn!(
                file = %log_path.display(), position, offset, %reason,
                truncated_bytes = outcome.truncated_bytes, "truncating the last segment at a bad or torn batch"
            );
            report.bytes_truncated += outcome.truncated_bytes;
            report.truncated_at = Some(TruncationPoint {
                file: log_path.clone(),
                position_bytes: position,
                offset,
                reason,
            });
        }
        if outcome.skipped.is_empty() {
            return Ok(segment);
        }
        let size = segment.size_bytes();
        let mut ranges = Vec::with_capacity(outcome.skipped.len());
        for skipped in &outcome.skipped {
            let end_offset = if skipped.end_position < size {
                segment
                    .read_header(skipped.end_position, size)
                    .map_err(storage_io(context))?
                    .map(|header| header.base_offset)
            } else {
                None
            };
            ranges.push(DamagedRange {
                file: log_path.clone(),
                position_bytes: skipped.position,
                end_position_bytes: skipped.end_position,
                first_offset: skipped.offset,
                end_offset: end_offset
                    .or(self.rules.end_offset)
                    .unwrap_or(skipped.offset),
                reason: skipped.reason.clone(),
                quarantined_to: None,
                in_log: false,
            });
        }
        let dir = log_path.parent().map(Path::to_path_buf).unwrap_or_default();
        let base = segment.base_offset;
        let excised = damage::excise(segment, &outcome.skipped, self.quarantine_dir).map_err(
            storage_io(|| format!("moving damaged bytes out of {}", log_path.display())),
        )?;
        if let Some(position) = excised.cut_at
            && let Some(first) = ranges.first().cloned()
        {
            // No room to rewrite the segment: everything from the first damage to its end went.
            let range = DamagedRange {
                end_position_bytes: size,
                end_offset: self.rules.end_offset.unwrap_or(first.end_offset),
                reason: format!(
                    "{} (the segment was cut here: no room to rewrite it)",
                    first.reason
                ),
                quarantined_to: None,
                ..first
            };
            debug_assert_eq!(range.position_bytes, position);
            ranges = vec![range];
        }
        for (range, path) in ranges.iter_mut().zip(excised.quarantined) {
            report.bytes_truncated += range.end_position_bytes - range.position_bytes;
            if range.quarantined_to.is_none() && excised.cut_at.is_none() {
                range.quarantined_to = path;
            }
            tracing::warn!(%range, "damaged range of a closed segment moved out of the log; later data kept");
        }
        report.damaged.extend(ranges);
        let (segment, _) = Segment::open(&dir, base).map_err(storage_io(context))?;
        let rules = VerifyRules {
            trusted_below: None,
            ..self.rules
        };
        let again = segment
            .recover(self.limits, rules, &mut |_| {})
            .map_err(storage_io(context))?;
        if let Some(skipped) = again.skipped.first() {
            return Err(StorageError::Corrupt {
                file: log_path.clone(),
                reason: format!(
                    "still damaged at byte {} after moving the damage found out: {}",
                    skipped.position, skipped.reason
                ),
            });
        }
        Ok(segment)
    }
}

/// Kafka's `LogSegment.largestTimestamp`: the largest batch timestamp, or the `.log` file's
/// modification time when no batch carries one (all -1, e.g. very old clients).
pub(crate) fn largest_timestamp(segment: &Segment) -> Result<i64, StorageError> {
    if let Some((timestamp, _)) = segment.state().max_timestamp
        && timestamp >= 0
    {
        return Ok(timestamp);
    }
    let context = || {
        format!(
            "reading the modification time of {}",
            segment.log_path.display()
        )
    };
    let modified = std::fs::metadata(&segment.log_path)
        .and_then(|metadata| metadata.modified())
        .map_err(storage_io(context))?;
    let since_epoch = modified
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Ok(i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX))
}

/// Why the active segment must roll before an append, if it must (Kafka's `shouldRoll`).
fn roll_reason(
    segment: &Segment,
    config: &LogConfig,
    limits: IndexLimits,
    incoming_bytes: u64,
    incoming_max_timestamp: i64,
    last_offset: i64,
    now_ms: i64,
) -> Option<&'static str> {
    let size = segment.size_bytes();
    if size == 0 {
        return None;
    }
    // Index positions are u32 and Kafka's segment.bytes is an int: cap at i32::MAX.
    let segment_bytes = config.segment_bytes.min(i32::MAX as u64);
    if size.saturating_add(incoming_bytes) > segment_bytes {
        return Some("segment.bytes");
    }
    let state = segment.state();
    let age_ms = match state.rolling_based_timestamp {
        Some(first_timestamp) if first_timestamp >= 0 => {
            incoming_max_timestamp.saturating_sub(first_timestamp)
        }
        _ => now_ms.saturating_sub(state.created_ms.unwrap_or(now_ms)),
    };
    if age_ms > i64::try_from(config.segment_ms).unwrap_or(i64::MAX) {
        return Some("segment.ms");
    }
    if segment.indexes_full(limits) {
        return Some("segment.index.bytes");
    }
    if !segment.can_hold_offset(last_offset) {
        return Some("relative offset overflow");
    }
    None
}

/// Where the whole batches to read from `position` (whose header is `first`) end: below
/// `end_position`, within `remaining_bytes` (except an oversized first batch when
/// `take_oversized`), before a batch whose last offset reaches `max_offset`. Returns that end
/// and whether to stop (the read ended inside this segment).
///
/// The offset index skips to the last indexed batch inside those bounds; only the headers after
/// it are read (a few: entries are at most `index.interval.bytes` apart).
fn chunk_end(
    segment: &Segment,
    position: u64,
    first: BatchHeader,
    end_position: u64,
    remaining_bytes: usize,
    max_offset: i64,
    take_oversized: bool,
) -> io::Result<(u64, bool)> {
    if first.last_offset() >= max_offset {
        return Ok((position, true));
    }
    if first.total_size() > remaining_bytes {
        let end = if take_oversized {
            position + first.total_size() as u64
        } else {
            position
        };
        return Ok((end, true));
    }
    let limit = end_position.min(position.saturating_add(remaining_bytes as u64));
    let below_relative = max_offset
        .saturating_sub(segment.base_offset)
        .clamp(0, i64::from(u32::MAX)) as u32;
    let mut end = position.max(u64::from(
        segment.indexes.last_position_within(limit, below_relative),
    ));
    while let Some(header) = segment.read_header(end, end_position)? {
        if end + header.total_size() as u64 > limit || header.last_offset() >= max_offset {
            break;
        }
        end += header.total_size() as u64;
    }
    Ok((end, end < end_position))
}

/// Scans batches from the index position of `start_offset`; decodes those accepted by
/// `batch_filter` and returns the first record accepted by `record_filter`.
fn scan_for_record(
    segment: &Segment,
    start_offset: i64,
    batch_filter: impl Fn(&BatchHeader) -> bool,
    record_filter: impl Fn(&batch::Record) -> bool,
) -> Result<Option<(i64, i64)>, ReadError> {
    let end_position = segment.size_bytes();
    let context = || format!("searching {}", segment.log_path.display());
    let Some((mut position, _)) = segment
        .find_batch(start_offset, end_position)
        .map_err(read_io(context))?
    else {
        return Ok(None);
    };
    while let Some(header) = segment
        .read_header(position, end_position)
        .map_err(read_io(context))?
    {
        if batch_filter(&header) {
            let bytes = segment
                .read_bytes(position, header.total_size())
                .map_err(read_io(context))?;
            let (_, records) = batch::decode_records(&bytes, MAX_DECOMPRESSED_BATCH_BYTES)
                .map_err(|source| ReadError::Corrupt {
                    context: format!("{} at byte {position}", context()),
                    source,
                })?;
            // LogAppendTime records all carry the batch maxTimestamp (decode_records applies it),
            // so the first matching record is the batch's first: Kafka's answer too.
            if let Some(record) = records.iter().find(|record| record_filter(record)) {
                return Ok(Some((record.offset, record.timestamp)));
            }
        }
        position += header.total_size() as u64;
    }
    Ok(None)
}

/// Pass 1 of recovery: removes `*.tmp` leftovers and index files whose `.log` is gone; returns
/// the base offsets of the `.log` files, ascending.
fn remove_leftovers_and_list_segments(dir: &Path) -> Result<Vec<i64>, StorageError> {
    let entries =
        std::fs::read_dir(dir).map_err(storage_io(|| format!("listing {}", dir.display())))?;
    let mut bases = Vec::new();
    let mut indexes = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(storage_io(|| format!("listing {}", dir.display())))?
            .path();
        let name = path
            .file_name()
            .and_then(|name| name.to_str())
            .unwrap_or_default()
            .to_string();
        if name.ends_with(checkpoint::TMP_SUFFIX) {
            tracing::warn!(file = %path.display(), "removing leftover temporary file");
            std::fs::remove_file(&path)
                .map_err(storage_io(|| format!("removing {}", path.display())))?;
            continue;
        }
        let Some((stem, suffix)) = name.split_once('.') else {
            continue;
        };
        let Ok(base) = stem.parse::<i64>() else {
            continue;
        };
        if stem.len() != 20 {
            continue;
        }
        match suffix {
            segment::LOG_SUFFIX => bases.push(base),
            segment::INDEX_SUFFIX | segment::TIME_INDEX_SUFFIX => indexes.push((base, path)),
            _ => {}
        }
    }
    for (base, path) in indexes {
        if !bases.contains(&base) {
            tracing::warn!(file = %path.display(), "removing index without a log file");
            std::fs::remove_file(&path)
                .map_err(storage_io(|| format!("removing {}", path.display())))?;
        }
    }
    bases.sort_unstable();
    Ok(bases)
}

fn read_epochs(path: &Path) -> Vec<(i32, i64)> {
    match std::fs::read_to_string(path) {
        Ok(text) => match checkpoint::parse_epochs(&text) {
            Ok(entries) => entries,
            Err(reason) => {
                tracing::warn!(file = %path.display(), %reason, "ignoring malformed leader epoch checkpoint");
                Vec::new()
            }
        },
        Err(_) => Vec::new(),
    }
}

/// Pass 6 of recovery: deletes snapshots beyond the log end and loads the newest valid one at
/// or below `limit_offset`.
fn load_producer_snapshot(
    dir: &Path,
    log_end_offset: i64,
    limit_offset: i64,
) -> Result<(ProducerStateManager, Option<i64>), StorageError> {
    let snapshots = producer_state::list_snapshots(dir).map_err(storage_io(|| {
        format!("listing snapshots in {}", dir.display())
    }))?;
    for (offset, path) in snapshots.iter().rev() {
        if *offset > log_end_offset {
            tracing::warn!(file = %path.display(), log_end_offset, "removing producer snapshot beyond the log end");
            std::fs::remove_file(path)
                .map_err(storage_io(|| format!("removing {}", path.display())))?;
            continue;
        }
        if *offset > limit_offset {
            continue;
        }
        let bytes =
            std::fs::read(path).map_err(storage_io(|| format!("reading {}", path.display())))?;
        match ProducerStateManager::decode_snapshot(&bytes) {
            Ok(state) => return Ok((state, Some(*offset))),
            Err(reason) => {
                tracing::warn!(file = %path.display(), %reason, "ignoring invalid producer snapshot")
            }
        }
    }
    Ok((ProducerStateManager::default(), None))
}

#[cfg(test)]
mod tests {
    use super::*;

    mod concurrent_syncs {
        use std::sync::atomic::AtomicU32;
        use std::sync::mpsc;
        use std::time::Duration;

        use bytes::Bytes;

        use super::*;
        use crate::{BatchBuilderParams, LogDir, Record, encode_batch, validate};

        const PATIENCE: Duration = Duration::from_secs(10);

        fn append_one(log: &Log) -> i64 {
            let record = Record {
                offset: 0,
                timestamp: 1_000,
                key: None,
                value: Some(Bytes::from_static(b"v")),
                headers: vec![],
            };
            let encoded = encode_batch(&BatchBuilderParams::default(), &[record]).unwrap();
            let options = AppendOptions {
                now_ms: 1_000,
                leader_epoch: 0,
            };
            log.append(validate(encoded).unwrap(), options).unwrap();
            log.log_end_offset()
        }

        /// Every sync waits in its hook until the test lets it go; `entered`
        /// gets one message per sync started, and the most syncs ever in the
        /// hook at once are counted.
        struct HeldSyncs {
            entered: mpsc::Receiver<()>,
            release: mpsc::Sender<()>,
            most_at_once: Arc<AtomicU32>,
        }

        fn hold_syncs(log: &Log) -> HeldSyncs {
            let (entered_tx, entered) = mpsc::channel();
            let (release, release_rx) = mpsc::channel::<()>();
            let release_rx = Arc::new(Mutex::new(release_rx));
            let (now, most_at_once) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
            let most = most_at_once.clone();
            let entered_tx = Mutex::new(entered_tx);
            *log.before_sync.lock() = Some(Arc::new(move || {
                let inside = now.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(inside, Ordering::SeqCst);
                entered_tx.lock().send(()).unwrap();
                release_rx.lock().recv().unwrap();
                now.fetch_sub(1, Ordering::SeqCst);
            }));
            HeldSyncs {
                entered,
                release,
                most_at_once,
            }
        }

        fn sync_in_thread(log: &Arc<Log>, offset: i64) -> mpsc::Receiver<bool> {
            let (done, result) = mpsc::channel();
            let log = log.clone();
            std::thread::spawn(move || done.send(log.sync_to(offset).is_ok()).unwrap());
            result
        }

        /// Records appended while a sync is in flight get a sync of their own
        /// at once, not after that one, and never more than
        /// `MAX_CONCURRENT_SYNCS` run; a caller that an in-flight sync covers
        /// waits for it instead of syncing again.
        #[test]
        fn a_sync_starts_beside_one_in_flight_up_to_the_bound() {
            assert_eq!(MAX_CONCURRENT_SYNCS, 2, "this test holds two syncs");
            let dir = tempfile::tempdir().unwrap();
            let log_dir = LogDir::open(dir.path()).unwrap();
            let (log, _) = log_dir
                .open_log("t", 0, uuid::Uuid::new_v4(), crate::LogConfig::default())
                .unwrap();
            let held = hold_syncs(&log);

            let first_end = append_one(&log);
            let first = sync_in_thread(&log, first_end);
            held.entered.recv_timeout(PATIENCE).unwrap();

            // Covered by the sync in flight: no sync of its own, and sync_to waits for it.
            assert!(!log.sync_uncovered(first_end).unwrap());
            let covered = sync_in_thread(&log, first_end);

            let second_end = append_one(&log);
            let second = sync_in_thread(&log, second_end);
            held.entered
                .recv_timeout(PATIENCE)
                .expect("the second sync waited for the first instead of starting beside it");

            // Both places taken: a third waits for one, then syncs.
            let third_end = append_one(&log);
            let third = sync_in_thread(&log, third_end);
            assert!(
                held.entered
                    .recv_timeout(Duration::from_millis(200))
                    .is_err()
            );
            assert!(
                covered.try_recv().is_err(),
                "returned before its sync ended"
            );

            held.release.send(()).unwrap();
            held.release.send(()).unwrap();
            held.entered.recv_timeout(PATIENCE).unwrap();
            held.release.send(()).unwrap();
            for done in [first, covered, second, third] {
                assert!(done.recv_timeout(PATIENCE).unwrap());
            }
            assert_eq!(log.recovery_point(), third_end);
            assert_eq!(held.most_at_once.load(Ordering::SeqCst), 2);
            *log.before_sync.lock() = None;
            log_dir.close(&[log]).unwrap();
        }
    }

    fn cache(entries: &[(i32, i64)]) -> LeaderEpochCache {
        LeaderEpochCache {
            path: PathBuf::from("/nonexistent"),
            entries: entries.to_vec(),
        }
    }

    #[test]
    fn end_offset_for_epoch_follows_kafka() {
        let epochs = cache(&[(1, 0), (3, 10), (5, 20)]);
        assert_eq!(epochs.end_offset_for(5, 30), (5, 30));
        assert_eq!(epochs.end_offset_for(3, 30), (3, 20));
        assert_eq!(epochs.end_offset_for(4, 30), (3, 20));
        assert_eq!(epochs.end_offset_for(2, 30), (1, 10));
        assert_eq!(epochs.end_offset_for(0, 30), (0, 0));
        assert_eq!(epochs.end_offset_for(6, 30), (-1, -1));
        assert_eq!(epochs.end_offset_for(-1, 30), (-1, -1));
        assert_eq!(cache(&[]).end_offset_for(0, 30), (-1, -1));
    }

    #[test]
    fn epoch_truncation() {
        let mut epochs = cache(&[(1, 0), (3, 10), (5, 20)]);
        assert!(epochs.truncate_from_start(15));
        assert_eq!(epochs.entries, vec![(3, 15), (5, 20)]);
        assert!(epochs.truncate_from_end(20));
        assert_eq!(epochs.entries, vec![(3, 15)]);
        assert!(!epochs.truncate_from_end(20));
    }
}
