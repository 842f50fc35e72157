//! Log compaction (`cleanup.policy=compact`): keeps the latest record per key in the closed,
//! fsync'd part of a log and swaps the rewritten segments in crash-safely. Entry point:
//! [`crate::Log::clean`]; recovery of an interrupted swap: [`recover_compaction_leftovers`]
//! (pass 1 of `Log::open`).
//!
//! # What is cleaned
//!
//! The *cleanable range* is a prefix of the closed segments: it ends before the first segment
//! that is the active one, is not wholly below the recovery point (not fsync'd yet; the single
//! node's high watermark is at or above it), or whose largest timestamp is newer than
//! `now - min.compaction.lag.ms` (Kafka's `LogCleanerManager.cleanableOffsets`). Each call
//! cleans from the first segment (the already-clean part is re-read so that newer keys in the
//! dirty part remove older records there, as Kafka does). After a successful clean the log's
//! first dirty offset ([`Log::first_dirty_offset`], persisted in `cleaner-offset-checkpoint`)
//! moves to the end of the range the offset map covered; [`Log::dirty_stats`] reports clean
//! versus dirty bytes from it, which the broker's scheduling (`min.cleanable.dirty.ratio`,
//! `max.compaction.lag.ms`) uses.
//!
//! # The rules (Kafka's `Cleaner`)
//!
//! 1. **Offset map.** Pass 1 reads the cleanable range batch by batch and maps each key to the
//!    offset of its latest record. The map is charged `key length + MAP_ENTRY_OVERHEAD_BYTES`
//!    per key and may not exceed `CleanOptions::dedupe_buffer_bytes`
//!    (`log.cleaner.dedupe.buffer.size`); when the next batch might not fit, pass 1 stops
//!    there and `map_end_offset` is the first offset the map does not cover. Keys are stored
//!    whole (Kafka stores a 16-byte MD5 and accepts the collision risk; we accept more memory
//!    per key instead).
//! 2. **Record retention** (`shouldRetainRecord`): a record at or past `map_end_offset` is kept;
//!    a record without a key is dropped (Kafka counts it as an invalid message); a record whose
//!    key has a later offset in the map is dropped; a tombstone (null value) that is the latest
//!    for its key is kept until its batch's **delete horizon** and dropped from then on
//!    (`now >= deleteHorizonMs`); everything else is kept.
//!
//!    *Delete horizons (KIP-534, Kafka 3.1+).* A batch has none until a clean keeps one of its
//!    tombstones; that clean rewrites it with `deleteHorizonMs = now + delete.retention.ms`
//!    (attributes bit 6, the horizon in the baseTimestamp field, record timestamp deltas
//!    re-encoded against it so record timestamps do not change: see `batch.rs`), and the
//!    tombstone lives until that time. Later cleans keep the horizon while the batch still holds
//!    a tombstone. Why, rather than the first rule Takhin had (the segment's largest timestamp
//!    older than `now - delete.retention.ms`): record timestamps are the producer's (CreateTime),
//!    so a tombstone stamped in the past, or one whose segment waited longer than
//!    `delete.retention.ms` for its first clean, went in that very clean, and a consumer that
//!    had read the key but not yet the delete never learned of it. Kafka's pre-3.1 rule (the
//!    last clean segment's modification time) had the converse fault, tombstones kept forever on
//!    quiet topics; KIP-534 fixed both with a horizon that is the broker's own clock plus
//!    `delete.retention.ms`, fixed when the cleaner first keeps the tombstone.
//!    One difference from Kafka: a rewritten batch left with no tombstone loses its horizon
//!    (Kafka keeps the flag), so "bit 6 set" means "holds a tombstone" for every batch the
//!    cleaner wrote, which lets scheduling read horizons from batch headers alone.
//! 3. **Batch retention** (`BatchRetention`): a batch whose records all survive and whose
//!    delete horizon stays as it is is copied byte for byte. Otherwise the kept records are
//!    re-encoded as one batch with the original base offset *and last offset*, producer
//!    id/epoch/base sequence, flags, leader epoch and codec, and the horizon of rule 2
//!    (`batch::encode_retained_batch`, Kafka's `buildRetainedRecordsInto`). A batch left with no
//!    records is kept as a header-only batch (`RETAIN_EMPTY`, never with a horizon) when it is
//!    the last batch of a producer id in the cleanable range (so a rebuilt producer state keeps
//!    its last sequence) or the last batch of its segment (so every segment still ends at the
//!    next one's base offset, which recovery checks; Kafka retains the last batch of the
//!    cleaning round for the same reason); otherwise it is dropped.
//! 4. **Transactions (not yet).** Takhin has no transaction coordinator, so no transactional or
//!    control batch can be in a Takhin log: Produce refuses them (a control batch from a client
//!    is INVALID_RECORD, a transactional batch TRANSACTIONAL_ID_AUTHORIZATION_FAILED without a
//!    transactional id and INVALID_TXN_STATE with one, as Kafka answers; see
//!    `takhin-broker/src/handlers/produce.rs`). Should one be found (a log written elsewhere), it
//!    is copied verbatim and its records are not entered into the offset map, so it never causes
//!    another record to be dropped. When transactions arrive (KIP-98 coordinator, markers written
//!    by the broker), the cleaner must do what Kafka's does: track aborted transactions from
//!    the transaction index and drop their data (`CleanedTransactionMetadata`), drop a marker
//!    once no data of its transaction is left and its own delete horizon has passed (KIP-534
//!    horizons apply to markers too: a marker of an emptied transaction gets one when first
//!    seen), and keep the last marker of an active producer for fencing.
//!
//! # Merging (Kafka's `groupSegmentsBySize`)
//!
//! The segments to rewrite are grouped from the oldest: a segment joins the group before it while
//! the group's current bytes stay within `segment.bytes`, its index entries within
//! `segment.index.bytes`, and its last offset within `i32::MAX` of the group's base (index
//! entries hold offsets as u32 relative to it). Sizes are those before cleaning, as in Kafka, so
//! full segments shrink in one clean and merge in a later one. A group is written as one output
//! with the first segment's base offset (each original segment's last batch is still kept, as a
//! header if empty, so no offset range changes).
//!
//! # The crash-safe swap (Kafka's `.cleaned` / `.swap` model)
//!
//! For a group whose first segment has base offset `B` (and covers `B2..Bk` besides):
//!
//! 1. Write `B.log.cleaned`, `B.index.cleaned`, `B.timeindex.cleaned` through the normal segment
//!    append path; fsync all three.
//! 2. Under the log's append lock, after checking that every segment of the group is still in
//!    the log (and the last one closed): rename the two index files to `*.swap`, then
//!    `B.log.cleaned` to `B.log.swap`; fsync the directory. **This rename is the commit point.**
//! 3. Delete the files of `B2..Bk`; fsync the directory. Rename `B.index.swap` and
//!    `B.timeindex.swap` over the old indexes; fsync the directory.
//! 4. Rename `B.log.swap` over `B.log` (atomically replacing it); fsync the directory.
//! 5. Open the new segment and replace the group in the segment map (one write-locked step).
//!    A reader holding an old segment's `Arc` keeps reading the old, now unlinked, file.
//!
//! A crash before the commit point leaves `*.cleaned` (and maybe index `*.swap`) files beside
//! the intact old segments: recovery deletes them (and the indexes of `B`, rebuilt from `B.log`).
//! A crash after it leaves `B.log.swap`, complete and fsync'd: recovery reads its end offset
//! (last batch header), deletes every segment file with a base offset in `(B, end)` (the rest
//! of the group, whichever of them step 3 had not deleted yet), renames it over `B.log` and
//! deletes `B`'s index files so they are rebuilt from it. The covered segments are always
//! deleted before `B.log.swap` loses its name, so recovery never sees the merged segment
//! overlapping old ones. Either way the group is wholly old or wholly new; offsets never change,
//! so old and new segments may coexist in one log.
//!
//! # Scheduling
//!
//! When to clean is the caller's (the broker's cleaner) decision, from [`DirtyStats`] and
//! [`DirtyStats::should_clean`]: Kafka's rule (the dirty ratio reaches
//! `min.cleanable.dirty.ratio`, or a dirty record is older than `max.compaction.lag.ms`), and
//! also as soon as the earliest delete horizon of a tombstone below the first dirty offset is
//! reached. Kafka 3.1+ has no such trigger (KIP-534 proposed one, the merged implementation,
//! KAFKA-8522, left it out), so on a quiet topic its tombstones stay until new dirty data or
//! `max.compaction.lag.ms` brings a clean; Takhin removes them within `delete.retention.ms`
//! plus one cleaner backoff of the clean that first kept them. The log remembers that horizon in
//! memory: every successful clean sets it from the batches it covered
//! ([`CleanReport::next_delete_horizon_ms`]); after an open or a failed clean it is unknown and
//! [`Log::dirty_stats`] reads it once from the batch headers below the first dirty offset
//! (bit 6 marks exactly the batches holding a tombstone, rule 2). Retention or DeleteRecords
//! removing such a batch can leave a stale horizon behind: it costs one clean that finds nothing
//! to remove and then knows better.
//!
//! # Not yet
//!
//! Transactional data (rule 4).

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use crate::batch::{self, BatchError, BatchHeader, Record};
use crate::checkpoint;
use crate::log::{Log, MAX_DECOMPRESSED_BATCH_BYTES, largest_timestamp};
use crate::log_dir::StorageError;
use crate::segment::{
    INDEX_SUFFIX, IndexLimits, LOG_SUFFIX, Preallocate, Segment, TIME_INDEX_SUFFIX,
    offset_file_path,
};

/// Suffix of compaction output not yet committed (deleted by recovery).
pub(crate) const CLEANED_SUFFIX: &str = "cleaned";
/// Suffix of committed compaction output not yet renamed into place (completed by recovery).
pub(crate) const SWAP_SUFFIX: &str = "swap";

/// Kafka's default `log.cleaner.dedupe.buffer.size`: 128 MiB.
pub const DEFAULT_DEDUPE_BUFFER_BYTES: usize = 128 * 1024 * 1024;
/// Bytes charged per offset-map entry besides the key itself: the offset, the hash-table slot
/// and the key's allocation (an estimate that errs high).
pub const MAP_ENTRY_OVERHEAD_BYTES: usize = 64;

/// Parameters of one [`Log::clean`] call; names and defaults are Kafka's.
#[derive(Clone, Debug)]
pub struct CleanOptions {
    /// `log.cleaner.dedupe.buffer.size`: memory for the key → offset map.
    pub dedupe_buffer_bytes: usize,
    /// `delete.retention.ms`: how long a tombstone is kept after the first clean that saw it
    /// (the batch's KIP-534 delete horizon is set to `now + delete_retention_ms` then).
    pub delete_retention_ms: i64,
    /// `min.compaction.lag.ms`: segments with a record newer than `now - lag` are not cleaned.
    pub min_compaction_lag_ms: i64,
    /// `log.cleaner.io.max.bytes.per.second`: bytes read plus written per second, averaged over
    /// the call (the cleaner sleeps after a batch read in pass 1 and after each segment in pass 2
    /// to stay under it). `None`: unthrottled.
    pub io_max_bytes_per_second: Option<u64>,
}

impl Default for CleanOptions {
    fn default() -> Self {
        CleanOptions {
            dedupe_buffer_bytes: DEFAULT_DEDUPE_BUFFER_BYTES,
            delete_retention_ms: 24 * 60 * 60 * 1000,
            min_compaction_lag_ms: 0,
            io_max_bytes_per_second: None,
        }
    }
}

/// What one [`Log::clean`] did.
#[derive(Clone, Debug, Default)]
pub struct CleanReport {
    /// End (exclusive) of the cleanable range; `None` if nothing was cleanable.
    pub cleanable_end_offset: Option<i64>,
    /// First offset the offset map did not cover (records from here on were kept).
    pub map_end_offset: Option<i64>,
    /// Pass 1 stopped early because the next batch might not fit `dedupe_buffer_bytes`.
    pub map_full: bool,
    /// Keys in the offset map and the bytes charged for them.
    pub map_keys: usize,
    pub map_bytes: usize,
    /// Segments rewritten and swapped in (merged ones included).
    pub segments_cleaned: usize,
    /// Segments folded into the segment before them (the segment count dropped by this much).
    pub segments_merged: usize,
    /// Segments read whose content would not change (left as they were).
    pub segments_unchanged: usize,
    /// Segments cleaned but not swapped in because retention or DeleteRecords removed the
    /// original meanwhile.
    pub segments_gone: usize,
    pub bytes_before: u64,
    pub bytes_after: u64,
    pub records_removed: u64,
    pub tombstones_removed: u64,
    pub keyless_records_removed: u64,
    /// Batches dropped whole / kept as header-only batches.
    pub batches_removed: u64,
    pub empty_batches_retained: u64,
    /// Batches given a delete horizon (KIP-534) because they kept a tombstone and had none.
    pub delete_horizons_set: u64,
    /// Earliest delete horizon of a batch in the covered range that still holds a tombstone
    /// after this clean: when the next clean can remove one (see [`DirtyStats`]).
    pub next_delete_horizon_ms: Option<i64>,
    pub duration: Duration,
}

/// An operating error while cleaning. The log stays usable unless
/// [`CleanError::takes_log_offline`] (an error inside the swap, after its commit point).
#[derive(Debug, thiserror::Error)]
pub enum CleanError {
    #[error("{context}: {source}")]
    Io { context: String, source: io::Error },
    #[error("{context}: {source}")]
    Corrupt { context: String, source: BatchError },
    #[error("{context}: {source}")]
    Swap { context: String, source: io::Error },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl CleanError {
    /// True for a failure after a swap was committed on disk: the in-memory log no longer
    /// matches the files, so the log goes offline until it is reopened (recovery completes the
    /// swap).
    pub fn takes_log_offline(&self) -> bool {
        matches!(self, CleanError::Swap { .. })
    }
}

fn io_error(context: impl Into<String>) -> impl FnOnce(io::Error) -> CleanError {
    let context = context.into();
    move |source| CleanError::Io { context, source }
}

/// `<dir>/<base, 20 digits>.<kind>.<stage>`, e.g. `00000000000000000042.log.cleaned`.
pub(crate) fn staged_path(dir: &Path, base_offset: i64, kind: &str, stage: &str) -> PathBuf {
    dir.join(format!("{base_offset:020}.{kind}.{stage}"))
}

/// Key → offset of its latest record, over `[first offset read, end_offset)`.
struct OffsetMap {
    offsets: HashMap<Bytes, i64>,
    charged_bytes: usize,
    capacity_bytes: usize,
    /// Every keyed, non-transactional record below this offset has been entered.
    end_offset: i64,
    full: bool,
}

impl OffsetMap {
    fn new(capacity_bytes: usize, start_offset: i64) -> Self {
        OffsetMap {
            offsets: HashMap::new(),
            charged_bytes: 0,
            capacity_bytes,
            end_offset: start_offset,
            full: false,
        }
    }

    /// Enters the batch's keys if they surely fit (charging every key as if new); returns false
    /// and marks the map full otherwise, entering nothing.
    fn try_add(&mut self, header: &BatchHeader, records: &[Record]) -> bool {
        let worst_case: usize = records
            .iter()
            .filter_map(|record| record.key.as_ref())
            .map(|key| key.len() + MAP_ENTRY_OVERHEAD_BYTES)
            .sum();
        if self.charged_bytes + worst_case > self.capacity_bytes {
            self.full = true;
            return false;
        }
        for record in records {
            if let Some(key) = &record.key {
                let previous = self.offsets.insert(key.clone(), record.offset);
                if previous.is_none() {
                    self.charged_bytes += key.len() + MAP_ENTRY_OVERHEAD_BYTES;
                }
            }
        }
        self.end_offset = header.last_offset() + 1;
        true
    }
}

/// Reads the batches of a closed segment in order (header, whole batch bytes).
struct BatchReader<'a> {
    segment: &'a Segment,
    position: u64,
    end_position: u64,
}

impl<'a> BatchReader<'a> {
    fn new(segment: &'a Segment) -> Self {
        BatchReader {
            segment,
            position: 0,
            end_position: segment.size_bytes(),
        }
    }

    fn next_batch(&mut self) -> Result<Option<(BatchHeader, BytesMut)>, CleanError> {
        let context = || format!("reading {}", self.segment.log_path.display());
        let Some(header) = self
            .segment
            .read_header(self.position, self.end_position)
            .map_err(io_error(context()))?
        else {
            return Ok(None);
        };
        let bytes = self
            .segment
            .read_bytes(self.position, header.total_size())
            .map_err(io_error(context()))?;
        self.position += header.total_size() as u64;
        Ok(Some((header, bytes)))
    }
}

fn decode(
    segment: &Segment,
    header: &BatchHeader,
    bytes: &[u8],
) -> Result<Vec<Record>, CleanError> {
    batch::decode_records(bytes, MAX_DECOMPRESSED_BATCH_BYTES)
        .map(|(_, records)| records)
        .map_err(|source| CleanError::Corrupt {
            context: format!(
                "decoding batch at offset {} in {}",
                header.base_offset,
                segment.log_path.display()
            ),
            source,
        })
}

/// Transactional and control batches are not compacted yet (module docs, rule 4).
fn copied_verbatim(header: &BatchHeader) -> bool {
    header.is_control() || header.is_transactional()
}

/// Sleeps as needed to keep `bytes_so_far` within `io_max_bytes_per_second` since `started`.
struct Throttle {
    started: Instant,
    bytes_so_far: u64,
    max_bytes_per_second: Option<u64>,
}

impl Throttle {
    fn account(&mut self, bytes: u64) {
        self.bytes_so_far += bytes;
        let Some(rate) = self.max_bytes_per_second.filter(|rate| *rate > 0) else {
            return;
        };
        let due = Duration::from_secs_f64(self.bytes_so_far as f64 / rate as f64);
        if let Some(wait) = due.checked_sub(self.started.elapsed()) {
            std::thread::sleep(wait);
        }
    }
}

/// The body of [`Log::clean`] (which holds the log's clean lock).
pub(crate) fn clean_log(
    log: &Log,
    options: &CleanOptions,
    now_ms: i64,
) -> Result<CleanReport, CleanError> {
    let started = Instant::now();
    let mut report = CleanReport::default();
    let mut throttle = Throttle {
        started,
        bytes_so_far: 0,
        max_bytes_per_second: options.io_max_bytes_per_second,
    };
    let cleanable = cleanable_segments(log, options, now_ms)?;
    let Some(last) = cleanable.last() else {
        *log.delete_horizon_watch().lock() = DeleteHorizonWatch::Known(None);
        report.duration = started.elapsed();
        return Ok(report);
    };
    report.cleanable_end_offset = Some(last.1);

    // Pass 1: the offset map, and each producer's last batch in the cleanable range.
    let first_offset = cleanable[0].0.base_offset;
    let mut map = OffsetMap::new(options.dedupe_buffer_bytes, first_offset);
    let mut producer_last_offsets: HashMap<i64, i64> = HashMap::new();
    for (segment, _) in &cleanable {
        let mut reader = BatchReader::new(segment);
        while let Some((header, bytes)) = reader.next_batch()? {
            throttle.account(bytes.len() as u64);
            if header.producer_id >= 0 {
                producer_last_offsets.insert(header.producer_id, header.last_offset());
            }
            if map.full {
                continue;
            }
            if copied_verbatim(&header) {
                map.end_offset = header.last_offset() + 1;
                continue;
            }
            let records = decode(segment, &header, &bytes)?;
            map.try_add(&header, &records);
        }
    }
    report.map_end_offset = Some(map.end_offset);
    report.map_full = map.full;
    report.map_keys = map.offsets.len();
    report.map_bytes = map.charged_bytes;
    if map.full {
        tracing::info!(dir = %log.dir().display(), map_end_offset = map.end_offset, dedupe_buffer_bytes = options.dedupe_buffer_bytes, "offset map full; cleaning only the range it covers");
    }

    // Pass 2: rewrite and swap, small adjacent segments merged (Kafka's groupSegmentsBySize).
    let config = log.config();
    let limits = IndexLimits::new(config.index_interval_bytes, config.segment_index_bytes);
    let covered = cleanable
        .iter()
        .take_while(|(segment, _)| segment.base_offset < map.end_offset)
        .count();
    let max_group_bytes = config.segment_bytes.min(i32::MAX as u64);
    for group in group_segments(&cleanable[..covered], max_group_bytes, limits) {
        let before: u64 = group.iter().map(|segment| segment.size_bytes()).sum();
        let rules = Rules {
            map: &map,
            producer_last_offsets: &producer_last_offsets,
            delete_retention_ms: options.delete_retention_ms,
            now_ms,
        };
        let Some(cleaned) = rewrite_group(log.dir(), &group, &rules, limits, &mut report)? else {
            report.segments_unchanged += group.len();
            throttle.account(before);
            continue;
        };
        let after = cleaned.size_bytes();
        drop(cleaned);
        if swap_in(log, &group)? {
            report.segments_cleaned += group.len();
            report.segments_merged += group.len() - 1;
            report.bytes_before += before;
            report.bytes_after += after;
            tracing::debug!(file = %group[0].log_path.display(), segments = group.len(), before, after, "cleaned segment");
        } else {
            report.segments_gone += group.len();
            remove_staged(log.dir(), group[0].base_offset, CLEANED_SUFFIX)
                .map_err(io_error("removing unused compaction output"))?;
        }
        throttle.account(before + after);
    }
    // Everything below the map's end is now deduplicated (Kafka's checkpointed "first dirty"),
    // and every tombstone there has a delete horizon, the earliest of which is now known.
    log.advance_first_dirty_offset(map.end_offset);
    *log.delete_horizon_watch().lock() = DeleteHorizonWatch::Known(report.next_delete_horizon_ms);
    report.duration = started.elapsed();
    tracing::info!(
        dir = %log.dir().display(), segments_cleaned = report.segments_cleaned,
        bytes_before = report.bytes_before, bytes_after = report.bytes_after,
        records_removed = report.records_removed, duration_ms = report.duration.as_millis() as u64,
        "cleaned log"
    );
    Ok(report)
}

/// How dirty a log is: what the cleaner's scheduling looks at (Kafka's `LogToClean` and
/// `LogCleanerManager.maxCompactionDelay`). See [`Log::dirty_stats`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DirtyStats {
    /// [`Log::first_dirty_offset`].
    pub first_dirty_offset: i64,
    /// Bytes of the closed segments wholly below the first dirty offset.
    pub clean_bytes: u64,
    /// Bytes of the cleanable segments (closed, fsync'd, older than `min.compaction.lag.ms`)
    /// holding offsets at or above the first dirty offset.
    pub dirty_bytes: u64,
    /// Smallest first-batch max timestamp over the closed segments holding dirty offsets
    /// (Kafka's `getFirstBatchTimestamp`), for `max.compaction.lag.ms`; `None` if none.
    pub earliest_dirty_timestamp: Option<i64>,
    /// Earliest KIP-534 delete horizon of a batch below the first dirty offset that holds a
    /// tombstone: from then on a clean removes it even if nothing new is dirty. `None` if no
    /// such batch (module docs, "Scheduling").
    pub earliest_delete_horizon_ms: Option<i64>,
}

impl DirtyStats {
    /// `dirty_bytes / (clean_bytes + dirty_bytes)`; 0 for an empty log.
    pub fn dirty_ratio(&self) -> f64 {
        let total = self.clean_bytes + self.dirty_bytes;
        if total == 0 {
            0.0
        } else {
            self.dirty_bytes as f64 / total as f64
        }
    }

    /// Whether a closed dirty segment holds a record older than `now - max_compaction_lag_ms`
    /// (Kafka: the log must be compacted now, whatever its dirty ratio).
    pub fn compaction_lag_exceeded(&self, max_compaction_lag_ms: i64, now_ms: i64) -> bool {
        self.earliest_dirty_timestamp
            .is_some_and(|timestamp| now_ms.saturating_sub(timestamp) > max_compaction_lag_ms)
    }

    /// Whether a tombstone's delete horizon has been reached: a clean now removes it.
    pub fn delete_horizon_reached(&self, now_ms: i64) -> bool {
        self.earliest_delete_horizon_ms
            .is_some_and(|horizon| now_ms >= horizon)
    }

    /// Kafka's scheduling rule (something is cleanable and the dirty ratio reaches
    /// `min.cleanable.dirty.ratio` or `max.compaction.lag.ms` is exceeded), or a tombstone's
    /// delete horizon was reached (module docs, "Scheduling": Takhin's addition).
    pub fn should_clean(
        &self,
        min_cleanable_dirty_ratio: f64,
        max_compaction_lag_ms: i64,
        now_ms: i64,
    ) -> bool {
        let dirty_enough = self.dirty_bytes > 0
            && (self.dirty_ratio() >= min_cleanable_dirty_ratio
                || self.compaction_lag_exceeded(max_compaction_lag_ms, now_ms));
        dirty_enough || self.delete_horizon_reached(now_ms)
    }
}

/// What a log knows of the delete horizons below its first dirty offset, for scheduling (held
/// by the [`Log`], kept up to date by [`clean_log`], read by [`dirty_stats`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DeleteHorizonWatch {
    /// Not known since the log was opened or a clean failed: [`dirty_stats`] reads the batch
    /// headers below the first dirty offset once.
    Unknown,
    /// The earliest horizon of a batch that holds a tombstone; `None` if no batch does.
    Known(Option<i64>),
}

/// The body of [`Log::dirty_stats`].
pub(crate) fn dirty_stats(
    log: &Log,
    options: &CleanOptions,
    now_ms: i64,
) -> Result<DirtyStats, CleanError> {
    let first_dirty_offset = log.first_dirty_offset();
    let mut stats = DirtyStats {
        first_dirty_offset,
        ..DirtyStats::default()
    };
    let segments = log.segments_snapshot();
    for pair in segments.windows(2) {
        let (segment, end) = (&pair[0], pair[1].base_offset);
        if end <= first_dirty_offset {
            stats.clean_bytes += segment.size_bytes();
            continue;
        }
        if let Some((header, _)) = BatchReader::new(segment).next_batch()? {
            let timestamp = header.max_timestamp;
            stats.earliest_dirty_timestamp = Some(
                stats
                    .earliest_dirty_timestamp
                    .map_or(timestamp, |earliest| earliest.min(timestamp)),
            );
        }
    }
    for (segment, end) in cleanable_segments(log, options, now_ms)? {
        if end > first_dirty_offset {
            stats.dirty_bytes += segment.size_bytes();
        }
    }
    stats.earliest_delete_horizon_ms = known_delete_horizon(log, &segments)?;
    Ok(stats)
}

/// The log's [`DeleteHorizonWatch`], reading it from the batch headers below the first dirty
/// offset when unknown. A batch the cleaner wrote carries a horizon exactly when it holds a
/// tombstone (rule 2), so the headers tell without decoding records.
fn known_delete_horizon(log: &Log, segments: &[Arc<Segment>]) -> Result<Option<i64>, CleanError> {
    if let DeleteHorizonWatch::Known(horizon) = *log.delete_horizon_watch().lock() {
        return Ok(horizon);
    }
    let first_dirty_offset = log.first_dirty_offset();
    let mut earliest: Option<i64> = None;
    for segment in segments
        .iter()
        .take_while(|segment| segment.base_offset < first_dirty_offset)
    {
        let end_position = segment.size_bytes();
        let mut position = 0;
        let context = || format!("reading {}", segment.log_path.display());
        while let Some(header) = segment
            .read_header(position, end_position)
            .map_err(io_error(context()))?
        {
            position += header.total_size() as u64;
            if header.base_offset >= first_dirty_offset {
                break;
            }
            if header.records_count > 0
                && !copied_verbatim(&header)
                && let Some(horizon) = header.delete_horizon_ms()
            {
                earliest = Some(earliest.map_or(horizon, |earliest| earliest.min(horizon)));
            }
        }
    }
    let mut watch = log.delete_horizon_watch().lock();
    match *watch {
        // A clean that finished meanwhile knows better.
        DeleteHorizonWatch::Known(horizon) => Ok(horizon),
        DeleteHorizonWatch::Unknown => {
            *watch = DeleteHorizonWatch::Known(earliest);
            Ok(earliest)
        }
    }
}

/// The cleanable prefix of the closed segments, each with its end (the next segment's base).
fn cleanable_segments(
    log: &Log,
    options: &CleanOptions,
    now_ms: i64,
) -> Result<Vec<(Arc<Segment>, i64)>, CleanError> {
    let segments = log.segments_snapshot();
    let recovery_point = log.recovery_point();
    let mut cleanable = Vec::new();
    for pair in segments.windows(2) {
        let (segment, next) = (&pair[0], &pair[1]);
        // Only fsync'd data: what recovery would not verify again and may not truncate.
        if next.base_offset > recovery_point {
            break;
        }
        if options.min_compaction_lag_ms > 0
            && largest_timestamp(segment)? > now_ms.saturating_sub(options.min_compaction_lag_ms)
        {
            break;
        }
        cleanable.push((segment.clone(), next.base_offset));
    }
    Ok(cleanable)
}

/// What deciding the fate of a batch needs besides the batch (module docs, rules 2 and 3).
struct Rules<'a> {
    map: &'a OffsetMap,
    producer_last_offsets: &'a HashMap<i64, i64>,
    /// `delete.retention.ms`: a new delete horizon is `now_ms + delete_retention_ms`.
    delete_retention_ms: i64,
    now_ms: i64,
}

/// Why a record goes, if it does (module docs, rule 2).
enum Removal {
    Keyless,
    Superseded,
    Tombstone,
}

impl Rules<'_> {
    /// `tombstones_expired`: the record's batch has a delete horizon and `now` has reached it.
    fn removal(&self, record: &Record, tombstones_expired: bool) -> Option<Removal> {
        if record.offset >= self.map.end_offset {
            return None;
        }
        let Some(key) = &record.key else {
            return Some(Removal::Keyless);
        };
        if self
            .map
            .offsets
            .get(key)
            .is_some_and(|latest| *latest > record.offset)
        {
            return Some(Removal::Superseded);
        }
        if record.value.is_none() && tombstones_expired {
            return Some(Removal::Tombstone);
        }
        None
    }

    /// Kafka's `shouldRetainRecord` for tombstones: they may go once `now >= deleteHorizonMs`.
    fn tombstones_expired(&self, header: &BatchHeader) -> bool {
        header
            .delete_horizon_ms()
            .is_some_and(|horizon| self.now_ms >= horizon)
    }

    /// The horizon a batch is written with when it keeps `kept` (rule 2): its own if it has one
    /// and still holds a tombstone, a new one (`now + delete.retention.ms`) if it holds a
    /// tombstone but had none, and none once it holds no tombstone.
    fn delete_horizon_after(&self, header: &BatchHeader, kept: &[Record]) -> Option<i64> {
        if !kept.iter().any(|record| record.value.is_none()) {
            return None;
        }
        Some(
            header
                .delete_horizon_ms()
                .unwrap_or_else(|| self.now_ms.saturating_add(self.delete_retention_ms)),
        )
    }
}

/// Kafka's `groupSegmentsBySize`: consecutive segments merged while the group's bytes stay
/// within `max_bytes` (`segment.bytes`), its index entries within `segment.index.bytes`, and its
/// offsets within `i32::MAX` of the first segment's base (index entries hold them as u32).
fn group_segments(
    segments: &[(Arc<Segment>, i64)],
    max_bytes: u64,
    limits: IndexLimits,
) -> Vec<Vec<Arc<Segment>>> {
    let mut groups = Vec::new();
    let mut index = 0;
    while index < segments.len() {
        let first = &segments[index].0;
        let mut group = vec![first.clone()];
        let mut bytes = first.size_bytes();
        let mut offset_entries = first.indexes.offset_entries();
        let mut time_entries = first.indexes.time_entries();
        index += 1;
        while let Some((next, next_end)) = segments.get(index) {
            if bytes + next.size_bytes() > max_bytes
                || offset_entries + next.indexes.offset_entries() > limits.max_offset_entries
                || time_entries + next.indexes.time_entries() > limits.max_time_entries
                || next_end - 1 - first.base_offset > i64::from(i32::MAX)
            {
                break;
            }
            bytes += next.size_bytes();
            offset_entries += next.indexes.offset_entries();
            time_entries += next.indexes.time_entries();
            group.push(next.clone());
            index += 1;
        }
        groups.push(group);
    }
    groups
}

/// Writes the cleaned copy of the segments of `group` as one `<first base>.*.cleaned`,
/// fsync'd. `None` (and no files) for a single segment in which nothing would change.
fn rewrite_group(
    dir: &Path,
    group: &[Arc<Segment>],
    rules: &Rules<'_>,
    limits: IndexLimits,
    report: &mut CleanReport,
) -> Result<Option<Segment>, CleanError> {
    let base = group[0].base_offset;
    let cleaned = Segment::create_at(
        base,
        staged_path(dir, base, LOG_SUFFIX, CLEANED_SUFFIX),
        staged_path(dir, base, INDEX_SUFFIX, CLEANED_SUFFIX),
        staged_path(dir, base, TIME_INDEX_SUFFIX, CLEANED_SUFFIX),
        None,
    )
    .map_err(io_error(format!(
        "creating compaction output for segment {base}"
    )))?;
    let result = (|| {
        let mut changed = group.len() > 1;
        for segment in group {
            changed |= write_cleaned(segment, &cleaned, rules, limits, report)?;
        }
        if changed {
            let context = || format!("writing {}", cleaned.log_path.display());
            cleaned.on_become_inactive().map_err(io_error(context()))?;
            cleaned.sync_all().map_err(io_error(context()))?;
        }
        Ok(changed)
    })();
    match result {
        Ok(true) => Ok(Some(cleaned)),
        Ok(false) | Err(_) => {
            drop(cleaned);
            remove_staged(dir, base, CLEANED_SUFFIX).map_err(io_error(format!(
                "removing compaction output of segment {base}"
            )))?;
            result.map(|_| None)
        }
    }
}

/// Appends the cleaned batches of `segment` to `cleaned`; returns whether anything changed.
fn write_cleaned(
    segment: &Segment,
    cleaned: &Segment,
    rules: &Rules<'_>,
    limits: IndexLimits,
    report: &mut CleanReport,
) -> Result<bool, CleanError> {
    let context = || format!("writing {}", cleaned.log_path.display());
    let segment_end_position = segment.size_bytes();
    let mut reader = BatchReader::new(segment);
    let mut changed = false;
    while let Some((header, bytes)) = reader.next_batch()? {
        let last_in_segment = reader.position == segment_end_position;
        let output = match batch_outcome(segment, &header, &bytes, last_in_segment, rules, report)?
        {
            BatchOutcome::Copy => bytes,
            BatchOutcome::Rewrite(encoded) => {
                changed = true;
                encoded
            }
            BatchOutcome::Drop => {
                changed = true;
                report.batches_removed += 1;
                continue;
            }
        };
        let written = BatchHeader::parse(&output).map_err(|source| CleanError::Corrupt {
            context: context(),
            source,
        })?;
        cleaned
            .append(&[&output], &[written], limits, Preallocate::default())
            .map_err(io_error(context()))?;
    }
    Ok(changed)
}

/// What becomes of one batch (module docs, rule 3).
enum BatchOutcome {
    Copy,
    Rewrite(BytesMut),
    Drop,
}

fn batch_outcome(
    segment: &Segment,
    header: &BatchHeader,
    bytes: &[u8],
    last_in_segment: bool,
    rules: &Rules<'_>,
    report: &mut CleanReport,
) -> Result<BatchOutcome, CleanError> {
    if copied_verbatim(header) || header.base_offset >= rules.map.end_offset {
        return Ok(BatchOutcome::Copy);
    }
    let records = decode(segment, header, bytes)?;
    let total = records.len();
    let tombstones_expired = rules.tombstones_expired(header);
    let mut kept = Vec::with_capacity(total);
    for record in records {
        match rules.removal(&record, tombstones_expired) {
            None => kept.push(record),
            Some(Removal::Keyless) => report.keyless_records_removed += 1,
            Some(Removal::Tombstone) => report.tombstones_removed += 1,
            Some(Removal::Superseded) => {}
        }
    }
    report.records_removed += (total - kept.len()) as u64;
    let producer_last = header.producer_id >= 0
        && rules.producer_last_offsets.get(&header.producer_id) == Some(&header.last_offset());
    let keep_if_empty = producer_last || last_in_segment;
    if kept.is_empty() && !keep_if_empty {
        return Ok(BatchOutcome::Drop);
    }
    let delete_horizon_ms = rules.delete_horizon_after(header, &kept);
    if let Some(horizon) = delete_horizon_ms {
        report.next_delete_horizon_ms = Some(
            report
                .next_delete_horizon_ms
                .map_or(horizon, |earliest| earliest.min(horizon)),
        );
    }
    if kept.len() == total && delete_horizon_ms == header.delete_horizon_ms() {
        // Unchanged, including an empty batch kept by an earlier clean that is still needed.
        return Ok(BatchOutcome::Copy);
    }
    if kept.is_empty() {
        report.empty_batches_retained += 1;
    }
    if delete_horizon_ms.is_some() && header.delete_horizon_ms().is_none() {
        report.delete_horizons_set += 1;
    }
    let encoded =
        batch::encode_retained_batch(header, &kept, delete_horizon_ms).map_err(|source| {
            CleanError::Corrupt {
                context: format!(
                    "re-encoding batch at offset {} of {}",
                    header.base_offset,
                    segment.log_path.display()
                ),
                source,
            }
        })?;
    Ok(BatchOutcome::Rewrite(encoded))
}

/// Removes `<base>.{log,index,timeindex}.<stage>` (missing files are fine).
fn remove_staged(dir: &Path, base_offset: i64, stage: &str) -> io::Result<()> {
    for kind in [LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX] {
        remove_if_exists(&staged_path(dir, base_offset, kind, stage))?;
    }
    Ok(())
}

pub(crate) fn remove_if_exists(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(io::Error::new(
            err.kind(),
            format!("{}: {err}", path.display()),
        )),
    }
}

pub(crate) fn rename(from: &Path, to: &Path) -> io::Result<()> {
    std::fs::rename(from, to).map_err(|err| {
        io::Error::new(
            err.kind(),
            format!("renaming {} to {}: {err}", from.display(), to.display()),
        )
    })
}

/// Steps 2-5 of the swap (module docs) for the `.cleaned` output of `group` (written at the
/// first segment's base). `Ok(false)` if a segment of the group left the log meanwhile (the
/// `.cleaned` files are then left for the caller to remove).
fn swap_in(log: &Log, group: &[Arc<Segment>]) -> Result<bool, CleanError> {
    let dir = log.dir();
    let base = group[0].base_offset;
    let final_path = |kind: &str| offset_file_path(dir, base, kind);
    let staged = |kind: &str, stage: &str| staged_path(dir, base, kind, stage);
    let mut committed = false;
    let result = log.replace_closed_segments(group, || {
        // Step 2: the log file last; its `.swap` name is the commit point.
        for kind in [INDEX_SUFFIX, TIME_INDEX_SUFFIX, LOG_SUFFIX] {
            rename(&staged(kind, CLEANED_SUFFIX), &staged(kind, SWAP_SUFFIX))?;
        }
        checkpoint::sync_dir(dir)?;
        committed = true;
        // Step 3a: the other merged segments go (recovery would delete them for the swap).
        if group.len() > 1 {
            for merged in &group[1..] {
                for kind in [LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX] {
                    remove_if_exists(&offset_file_path(dir, merged.base_offset, kind))?;
                }
            }
            checkpoint::sync_dir(dir)?;
        }
        // Step 3.
        for kind in [INDEX_SUFFIX, TIME_INDEX_SUFFIX] {
            rename(&staged(kind, SWAP_SUFFIX), &final_path(kind))?;
        }
        checkpoint::sync_dir(dir)?;
        // Step 4.
        rename(&staged(LOG_SUFFIX, SWAP_SUFFIX), &final_path(LOG_SUFFIX))?;
        checkpoint::sync_dir(dir)?;
        // Step 5.
        let (segment, indexes_valid) = Segment::open(dir, base)?;
        let loaded = if indexes_valid {
            segment.load_tail(None)?
        } else {
            Err("indexes of the cleaned segment do not parse".to_string())
        };
        if let Err(reason) = loaded {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("cleaned segment {base} in {}: {reason}", dir.display()),
            ));
        }
        segment.fully_synced.store(true, Ordering::Release);
        Ok(segment)
    });
    let context = format!(
        "swapping in the cleaned segment {base} of {}",
        dir.display()
    );
    match result {
        Ok(swapped) => Ok(swapped),
        Err(source) if committed => Err(CleanError::Swap { context, source }),
        Err(source) => {
            // Nothing committed: the old segment stands; drop whatever was staged. (Should the
            // removal fail too, recovery removes `.cleaned` and index `.swap` files.)
            let _ = remove_staged(dir, base, SWAP_SUFFIX);
            let _ = remove_staged(dir, base, CLEANED_SUFFIX);
            Err(CleanError::Io { context, source })
        }
    }
}

/// The offset after the last batch of a complete (fsync'd) segment file: walks the batch
/// headers (base offset, length, last offset delta at byte 23 of magic 2).
fn swap_end_offset(path: &Path) -> io::Result<i64> {
    use std::os::unix::fs::FileExt;
    let file = std::fs::File::open(path)?;
    let size = file.metadata()?.len();
    let mut position = 0u64;
    let mut end = None;
    let corrupt = |what: &str| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: {what}", path.display()),
        )
    };
    while position < size {
        let mut header = [0u8; 27];
        file.read_exact_at(&mut header, position)
            .map_err(|_| corrupt("truncated batch header"))?;
        let (mut eight, mut four, mut delta) = ([0u8; 8], [0u8; 4], [0u8; 4]);
        eight.copy_from_slice(&header[0..8]);
        four.copy_from_slice(&header[8..12]);
        delta.copy_from_slice(&header[23..27]);
        let (base_offset, length, last_delta) = (
            i64::from_be_bytes(eight),
            i32::from_be_bytes(four),
            i32::from_be_bytes(delta),
        );
        if length < 15 {
            return Err(corrupt("bad batch length"));
        }
        end = Some(base_offset + i64::from(last_delta) + 1);
        position += 12 + length as u64;
    }
    end.ok_or_else(|| corrupt("empty swap file"))
}

/// Segment files (`.log`, `.index`, `.timeindex`, no stage suffix) with a base offset in
/// `(after, before)`.
fn segment_files_between(dir: &Path, after: i64, before: i64) -> io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let Some(name) = path.file_name().and_then(|name| name.to_str()) else {
            continue;
        };
        let Some((stem, kind)) = name.split_once('.') else {
            continue;
        };
        if stem.len() != 20 || ![LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX].contains(&kind) {
            continue;
        }
        if let Ok(base) = stem.parse::<i64>()
            && base > after
            && base < before
        {
            files.push(path);
        }
    }
    Ok(files)
}

/// What [`recover_compaction_leftovers`] did.
#[derive(Debug, Default)]
pub(crate) struct LeftoverReport {
    pub cleaned_files_removed: usize,
    pub swaps_completed: usize,
}

/// Pass 1a of recovery (`Log::open`): finishes or undoes an interrupted swap (module docs).
///
/// 1. Every `*.cleaned` file is deleted: uncommitted output.
/// 2. Every index `*.swap` file is deleted; when no `<base>.log.swap` exists (the swap was not
///    committed, or a rename to the final name may have been lost) `<base>.index` and
///    `<base>.timeindex` are deleted too, so the open rebuilds them from `<base>.log`.
/// 3. Every `<base>.log.swap` (committed, complete, fsync'd) is renamed over `<base>.log`, and
///    that segment's index files are deleted to be rebuilt from it.
/// 4. The directory is fsync'd if anything changed.
pub(crate) fn recover_compaction_leftovers(dir: &Path) -> io::Result<LeftoverReport> {
    let mut report = LeftoverReport::default();
    let mut log_swaps = Vec::new();
    let mut index_swaps = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let Some(name) = path.file_name().and_then(|name| name.to_str()) else {
            continue;
        };
        let mut parts = name.splitn(3, '.');
        let (Some(stem), Some(kind), Some(stage)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let Ok(base) = stem.parse::<i64>() else {
            continue;
        };
        if stem.len() != 20 || ![LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX].contains(&kind) {
            continue;
        }
        match stage {
            CLEANED_SUFFIX => {
                tracing::warn!(file = %path.display(), "removing uncommitted compaction output");
                remove_if_exists(&path)?;
                report.cleaned_files_removed += 1;
            }
            SWAP_SUFFIX if kind == LOG_SUFFIX => log_swaps.push(base),
            SWAP_SUFFIX => index_swaps.push((base, path)),
            _ => {}
        }
    }
    for (base, path) in index_swaps {
        remove_if_exists(&path)?;
        report.cleaned_files_removed += 1;
        if !log_swaps.contains(&base) {
            remove_if_exists(&offset_file_path(dir, base, INDEX_SUFFIX))?;
            remove_if_exists(&offset_file_path(dir, base, TIME_INDEX_SUFFIX))?;
        }
    }
    for base in log_swaps {
        tracing::warn!(dir = %dir.display(), base, "completing an interrupted compaction swap");
        // A merged swap covers later segments up to its end: those not yet deleted go now.
        let end = swap_end_offset(&staged_path(dir, base, LOG_SUFFIX, SWAP_SUFFIX))?;
        for covered in segment_files_between(dir, base, end)? {
            tracing::warn!(file = %covered.display(), "removing a segment merged by compaction");
            remove_if_exists(&covered)?;
        }
        remove_if_exists(&offset_file_path(dir, base, INDEX_SUFFIX))?;
        remove_if_exists(&offset_file_path(dir, base, TIME_INDEX_SUFFIX))?;
        rename(
            &staged_path(dir, base, LOG_SUFFIX, SWAP_SUFFIX),
            &offset_file_path(dir, base, LOG_SUFFIX),
        )?;
        report.swaps_completed += 1;
    }
    if report.cleaned_files_removed > 0 || report.swaps_completed > 0 {
        checkpoint::sync_dir(dir)?;
    }
    Ok(report)
}
