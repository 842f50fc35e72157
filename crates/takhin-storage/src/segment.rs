//! One log segment: `<base offset, 20 digits>.log` plus its `.index` and `.timeindex`.
//!
//! The `.log` is a concatenation of whole v2 record batches, byte for byte as the producer sent
//! them except for the fields the log rewrites (base offset, partition leader epoch, and for
//! LogAppendTime topics maxTimestamp + attributes + CRC). Every batch's offsets are >= the
//! segment's base offset and < the next segment's base offset, and `lastOffset - baseOffset`
//! fits in an i32 so index entries can hold it.
//!
//! Index entries are added per batch, Kafka's rule: when more than `index.interval.bytes` were
//! appended since the last entry, the batch gets an offset entry (its last offset → its
//! position) and the time index gets `(max timestamp so far, its offset)` if that timestamp
//! grew. Recovery rebuilds both indexes with the same rule, so a rebuilt index equals the one
//! written live.
//!
//! Thread-safety: appends, recovery and truncation are done by the owning [`crate::Log`] under
//! its append lock. Readers may call the read methods concurrently: they only read bytes below
//! the published `size_bytes` (stored with `Release` after the write completed), which never
//! change once published.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use bytes::BytesMut;
use parking_lot::Mutex;

use crate::batch::{self, BatchHeader};
use crate::index::{self, OffsetEntry, SegmentIndexes, TimeEntry};
use crate::preallocation::PreallocationBudget;

pub(crate) const LOG_SUFFIX: &str = "log";
pub(crate) const INDEX_SUFFIX: &str = "index";
pub(crate) const TIME_INDEX_SUFFIX: &str = "timeindex";

/// `<dir>/<offset as 20 digits>.<suffix>`, Kafka's file naming.
pub(crate) fn offset_file_path(dir: &Path, offset: i64, suffix: &str) -> PathBuf {
    dir.join(format!("{offset:020}.{suffix}"))
}

/// Limits on index sizes derived from `segment.index.bytes`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct IndexLimits {
    pub interval_bytes: u64,
    pub max_offset_entries: usize,
    pub max_time_entries: usize,
}

impl IndexLimits {
    pub fn new(index_interval_bytes: u64, segment_index_bytes: u64) -> Self {
        let entries = |size: usize| {
            usize::try_from(segment_index_bytes / size as u64)
                .unwrap_or(usize::MAX)
                .max(1)
        };
        IndexLimits {
            interval_bytes: index_interval_bytes,
            max_offset_entries: entries(index::OFFSET_ENTRY_BYTES),
            max_time_entries: entries(index::TIME_ENTRY_BYTES),
        }
    }
}

/// Mutable bookkeeping, changed only under the log's append lock.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SegmentState {
    /// Offset after the last batch (= base offset when empty).
    pub next_offset: i64,
    pub bytes_since_last_index_entry: u64,
    /// Largest batch maxTimestamp and the last offset of the batch that carried it.
    pub max_timestamp: Option<(i64, i64)>,
    /// maxTimestamp of the first batch: segment.ms is measured from it (Kafka's rule).
    pub rolling_based_timestamp: Option<i64>,
    /// `now_ms` when the segment was created or first seen by this process (fallback for age).
    pub created_ms: Option<i64>,
}

/// How [`Segment::recover`] checks a segment's batches and what it does at damage.
#[derive(Clone, Copy, Debug)]
pub(crate) struct VerifyRules {
    /// The log's last (active) segment: base offsets must follow each other without a gap
    /// (it is never compacted), and damage cuts the segment there: a torn tail after a crash.
    /// A closed segment's damage is skipped over instead (see [`SkippedRange`]): its batches
    /// were durable when the next segment began, so the damage is corruption of stored data,
    /// and nothing after it depends on the damaged bytes.
    pub last_segment: bool,
    /// Every batch's last offset must be below this: the next segment's base offset.
    pub end_offset: Option<i64>,
    /// Offsets below this were fsync'd (the checkpointed recovery point): verification starts
    /// at the last indexed batch wholly below it instead of at byte 0 (see
    /// [`Segment::trusted_prefix`]), so a restart after a crash reads what was written since the
    /// last checkpoint, not the whole active segment.
    pub trusted_below: Option<i64>,
}

/// The fsync'd start of a segment that recovery does not read again: its index entries and the
/// bookkeeping they imply, and the indexed batch where verification resumes.
struct TrustedPrefix {
    position: u64,
    offsets: Vec<OffsetEntry>,
    times: Vec<TimeEntry>,
    next_offset: i64,
    max_timestamp: Option<(i64, i64)>,
    rolling_based_timestamp: Option<i64>,
}

/// Bytes of a closed segment [`Segment::recover`] could not read as batches and skipped over,
/// to the next position where a whole batch with a valid CRC and fitting offsets begins
/// (or to the end of the file). The file still holds them: the caller moves them out
/// (`Log::open`, pass 3).
#[derive(Clone, Debug)]
pub(crate) struct SkippedRange {
    pub position: u64,
    pub end_position: u64,
    /// The offset expected at `position`: offsets from here up to the next batch's base (or the
    /// next segment's base) are lost.
    pub offset: i64,
    pub reason: String,
}

/// What [`Segment::recover`] found.
#[derive(Debug)]
pub(crate) struct SegmentRecovery {
    /// Bytes of data cut off (from the first bad batch on).
    pub truncated_bytes: u64,
    /// Zeros cut off the end: preallocated space, not data (see [`Preallocate`]).
    pub preallocated_bytes: u64,
    /// Byte position, offset expected there, and why the scan stopped, if it stopped early
    /// (only in the last segment; see [`VerifyRules::last_segment`]).
    pub damage: Option<(u64, i64, String)>,
    /// Damaged ranges of a closed segment, skipped over, in file order.
    pub skipped: Vec<SkippedRange>,
    /// Bytes read and checked (from where verification started to the end of the file).
    pub bytes_verified: u64,
}

/// Longest run of zeros at a segment's end that recovery takes for preallocated space rather
/// than damage: far above any `preallocate.bytes` the broker uses.
pub(crate) const MAX_PREALLOCATED_TAIL: u64 = 64 * 1024 * 1024;

/// How far [`Segment::append`] keeps written zeros ahead of the data (0: not at all), never
/// past `limit` (the segment size at which the log rolls).
///
/// Why: an `fdatasync` after an append that grew the file must also write the inode (new
/// size, new blocks) — on ext4 a journal commit or a synchronous inode write, one more device
/// round trip. Data written over blocks that are already allocated and written needs only its
/// own pages and the cache flush, as for `fio` on its laid-out file. Measured on this project's
/// test VM (16 KiB writes, one `fdatasync` each): 197 µs and 88 µs of CPU per sync appending,
/// 121 µs and 46 µs over written zeros.
///
/// Every zero is drawn from `budget` first (`None`: unbounded) and given back when data covers
/// it or it is trimmed; see `preallocation.rs`.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Preallocate<'a> {
    pub bytes: u64,
    pub limit: u64,
    pub budget: Option<&'a PreallocationBudget>,
}

/// Smallest grant from a nearly spent budget worth writing zeros for: one write of
/// `ZEROS`; a sliver would be overrun by the next append before it saved a sync anything.
const MIN_PREALLOCATION_GRANT_BYTES: u64 = 64 * 1024;

/// Starts write-back of `[offset, offset + len)` of `file` without waiting for it
/// (`sync_file_range(SYNC_FILE_RANGE_WRITE)`), so preallocated zeros reach the disk before
/// an `fdatasync` would have to write them. Best effort: errors are ignored, the data's own
/// sync still covers them.
fn start_write_back(file: &File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd;
    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return;
    };
    // SAFETY: plain system call on a descriptor `file` keeps open; no memory is passed.
    #[allow(unsafe_code)]
    let _ = unsafe {
        libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE)
    };
}

pub(crate) struct Segment {
    pub base_offset: i64,
    pub log_path: PathBuf,
    pub index_path: PathBuf,
    pub time_index_path: PathBuf,
    /// Shared with fetch responses that send a range of it straight from the page cache (see
    /// [`crate::FileSlice`]); they keep it open after the segment is deleted.
    log_file: Arc<File>,
    size_bytes: AtomicU64,
    /// End of the zeros written past `size_bytes` (see [`Segment::append`]): the file's length.
    /// Changed only by the appender, roll, close and recovery, which the log serializes.
    file_bytes: AtomicU64,
    /// Of the zeros past `size_bytes`, those taken from a [`PreallocationBudget`] and not given
    /// back yet. Changed under the log's append lock (or with the log exclusively held).
    preallocated_charge_bytes: AtomicU64,
    /// `now_ms` of the last append (or of creation): idle segments lose their zeros.
    last_append_ms: AtomicI64,
    pub indexes: SegmentIndexes,
    state: Mutex<SegmentState>,
    /// Set once the whole segment (log and indexes) was fsync'd while inactive.
    pub fully_synced: AtomicBool,
}

fn open_rw(path: &Path, create_truncate: bool) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(create_truncate)
        .truncate(create_truncate)
        .open(path)
}

/// Most slices one `pwritev` takes (Linux's `IOV_MAX`).
const IOV_MAX: usize = 1024;

/// Writes `parts` one after another at `offset` with `pwritev`, retrying short writes, so an
/// append of rewritten headers and the producer's records sections is one system call.
fn write_all_vectored_at(file: &File, parts: &[&[u8]], mut offset: u64) -> io::Result<()> {
    let mut slices: Vec<io::IoSlice<'_>> = parts
        .iter()
        .filter(|part| !part.is_empty())
        .map(|part| io::IoSlice::new(part))
        .collect();
    let mut rest = &mut slices[..];
    while !rest.is_empty() {
        let count = rest.len().min(IOV_MAX);
        let written = match rustix::io::pwritev(file, &rest[..count], offset) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(written) => written,
            Err(rustix::io::Errno::INTR) => continue,
            Err(errno) => return Err(errno.into()),
        };
        offset += written as u64;
        io::IoSlice::advance_slices(&mut rest, written);
    }
    Ok(())
}

fn annotate(path: &Path, err: io::Error) -> io::Error {
    io::Error::new(err.kind(), format!("{}: {err}", path.display()))
}

impl Segment {
    fn paths(dir: &Path, base_offset: i64) -> (PathBuf, PathBuf, PathBuf) {
        (
            offset_file_path(dir, base_offset, LOG_SUFFIX),
            offset_file_path(dir, base_offset, INDEX_SUFFIX),
            offset_file_path(dir, base_offset, TIME_INDEX_SUFFIX),
        )
    }

    /// Creates a new empty segment (truncating leftovers with the same name).
    pub fn create(dir: &Path, base_offset: i64, now_ms: Option<i64>) -> io::Result<Segment> {
        let (log_path, index_path, time_index_path) = Self::paths(dir, base_offset);
        Self::create_at(base_offset, log_path, index_path, time_index_path, now_ms)
    }

    /// [`Segment::create`] under explicit file names: the cleaner writes its output as
    /// `<base>.log.cleaned`, `<base>.index.cleaned`, `<base>.timeindex.cleaned` (see
    /// `cleaner.rs`), through the same append and indexing code as a live segment.
    pub fn create_at(
        base_offset: i64,
        log_path: PathBuf,
        index_path: PathBuf,
        time_index_path: PathBuf,
        now_ms: Option<i64>,
    ) -> io::Result<Segment> {
        let log_file = Arc::new(open_rw(&log_path, true).map_err(|err| annotate(&log_path, err))?);
        let offset_file = open_rw(&index_path, true).map_err(|err| annotate(&index_path, err))?;
        let time_file =
            open_rw(&time_index_path, true).map_err(|err| annotate(&time_index_path, err))?;
        Ok(Segment {
            base_offset,
            log_path,
            index_path,
            time_index_path,
            log_file,
            size_bytes: AtomicU64::new(0),
            file_bytes: AtomicU64::new(0),
            preallocated_charge_bytes: AtomicU64::new(0),
            last_append_ms: AtomicI64::new(now_ms.unwrap_or(0)),
            indexes: SegmentIndexes::new(offset_file, time_file, Vec::new(), Vec::new()),
            state: Mutex::new(SegmentState {
                next_offset: base_offset,
                bytes_since_last_index_entry: 0,
                max_timestamp: None,
                rolling_based_timestamp: None,
                created_ms: now_ms,
            }),
            fully_synced: AtomicBool::new(false),
        })
    }

    /// Opens an existing segment. Returns it and whether both index files were well-formed
    /// (missing index files are created empty and count as malformed when the log is not empty).
    /// The caller must then call [`Segment::load_tail`] or [`Segment::recover`].
    pub fn open(dir: &Path, base_offset: i64) -> io::Result<(Segment, bool)> {
        let (log_path, index_path, time_index_path) = Self::paths(dir, base_offset);
        let log_file = Arc::new(open_rw(&log_path, false).map_err(|err| annotate(&log_path, err))?);
        let size = log_file
            .metadata()
            .map_err(|err| annotate(&log_path, err))?
            .len();
        let index_missing = !index_path.exists() || !time_index_path.exists();
        let open_index = |path: &Path| {
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)
                .map_err(|err| annotate(path, err))
        };
        let offset_file = open_index(&index_path)?;
        let time_file = open_index(&time_index_path)?;
        let offsets = index::parse_offset_index(&index::read_whole(&offset_file)?, size);
        let times = index::parse_time_index(&index::read_whole(&time_file)?);
        let valid = offsets.is_some() && times.is_some() && !(index_missing && size > 0);
        let segment = Segment {
            base_offset,
            log_path,
            index_path,
            time_index_path,
            log_file,
            size_bytes: AtomicU64::new(size),
            file_bytes: AtomicU64::new(size),
            // Zeros a crash left are trimmed by recovery; this process never paid for them.
            preallocated_charge_bytes: AtomicU64::new(0),
            last_append_ms: AtomicI64::new(0),
            indexes: SegmentIndexes::new(
                offset_file,
                time_file,
                offsets.unwrap_or_default(),
                times.unwrap_or_default(),
            ),
            state: Mutex::new(SegmentState {
                next_offset: base_offset,
                bytes_since_last_index_entry: 0,
                max_timestamp: None,
                rolling_based_timestamp: None,
                created_ms: None,
            }),
            fully_synced: AtomicBool::new(false),
        };
        Ok((segment, valid))
    }

    /// Published size of the `.log` in bytes.
    pub fn size_bytes(&self) -> u64 {
        self.size_bytes.load(Ordering::Acquire)
    }

    pub fn state(&self) -> SegmentState {
        *self.state.lock()
    }

    pub fn set_created_ms(&self, now_ms: i64) {
        self.state.lock().created_ms.get_or_insert(now_ms);
    }

    fn relative(&self, offset: i64) -> u32 {
        debug_assert!(
            offset >= self.base_offset && offset - self.base_offset <= i64::from(i32::MAX)
        );
        (offset - self.base_offset) as u32
    }

    /// Whether `offset` can be stored relative to this segment's base (Kafka: fits in an i32).
    pub fn can_hold_offset(&self, offset: i64) -> bool {
        offset >= self.base_offset && offset - self.base_offset <= i64::from(i32::MAX)
    }

    pub fn log_file(&self) -> &Arc<File> {
        &self.log_file
    }

    pub fn read_bytes(&self, position: u64, length: usize) -> io::Result<BytesMut> {
        // Read into uninitialised capacity: zeroing a buffer that pread then overwrites cost a
        // tenth of the broker's CPU serving a backlog consumer.
        let mut buf = Vec::with_capacity(length);
        while buf.len() < length {
            let at = position + buf.len() as u64;
            // Appends what it reads to `buf` (its spare capacity, which
            // `with_capacity` made at least `length`).
            let read = match rustix::io::pread(
                &self.log_file,
                rustix::buffer::spare_capacity(&mut buf),
                at,
            ) {
                Ok(read) => read,
                Err(rustix::io::Errno::INTR) => continue,
                Err(errno) => return Err(annotate(&self.log_path, io::Error::from(errno))),
            };
            if read == 0 {
                return Err(annotate(
                    &self.log_path,
                    io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("{length} bytes at {position}: file ends after {}", at),
                    ),
                ));
            }
        }
        buf.truncate(length);
        Ok(BytesMut::from(bytes::Bytes::from(buf)))
    }

    /// The header of the batch at `position`, if a whole header lies below `end_position`.
    pub fn read_header(&self, position: u64, end_position: u64) -> io::Result<Option<BatchHeader>> {
        if position + BatchHeader::SIZE as u64 > end_position {
            return Ok(None);
        }
        let mut buf = [0u8; BatchHeader::SIZE];
        self.log_file
            .read_exact_at(&mut buf, position)
            .map_err(|err| annotate(&self.log_path, err))?;
        let header = BatchHeader::parse(&buf)
            .map_err(|err| io::Error::new(io::ErrorKind::InvalidData, err.to_string()))?;
        if header.total_size() < BatchHeader::SIZE
            || position + header.total_size() as u64 > end_position
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{}: batch at byte {position} has invalid length {}",
                    self.log_path.display(),
                    header.batch_length
                ),
            ));
        }
        Ok(Some(header))
    }

    /// Position and header of the first batch whose last offset is >= `target_offset`, scanning
    /// forward from the offset index's lower bound. `None` if no such batch below `end_position`.
    pub fn find_batch(
        &self,
        target_offset: i64,
        end_position: u64,
    ) -> io::Result<Option<(u64, BatchHeader)>> {
        let relative = target_offset
            .saturating_sub(self.base_offset)
            .clamp(0, i64::from(u32::MAX)) as u32;
        let mut position = u64::from(self.indexes.lookup_position(relative));
        while let Some(header) = self.read_header(position, end_position)? {
            if header.last_offset() >= target_offset {
                return Ok(Some((position, header)));
            }
            position += header.total_size() as u64;
        }
        Ok(None)
    }

    /// Appends whole batches (already rewritten) and indexes them. On a failed `.log` write the
    /// file is cut back to its previous size; nothing is published.
    ///
    /// With `preallocate.bytes > 0` the file is kept that far ahead of the data with written
    /// zeros (see [`Preallocate`]).
    pub fn append(
        &self,
        parts: &[&[u8]],
        headers: &[BatchHeader],
        limits: IndexLimits,
        preallocate: Preallocate<'_>,
    ) -> io::Result<()> {
        let start = self.size_bytes.load(Ordering::Acquire);
        if let Err(err) = write_all_vectored_at(&self.log_file, parts, start) {
            // Preallocated zeros go too: a torn write in them would read as damage.
            let _ = self.log_file.set_len(start);
            self.file_bytes.store(start, Ordering::Release);
            self.release_preallocation_charge(preallocate.budget);
            return Err(annotate(&self.log_path, err));
        }
        let mut state = self.state.lock();
        let mut position = start;
        for header in headers {
            self.index_batch(&mut state, header, position, limits)
                .map_err(|err| annotate(&self.index_path, err))?;
            position += header.total_size() as u64;
        }
        debug_assert_eq!(
            position,
            start + parts.iter().map(|part| part.len() as u64).sum::<u64>()
        );
        self.size_bytes.store(position, Ordering::Release);
        let file_bytes = self.file_bytes.fetch_max(position, Ordering::AcqRel);
        self.give_back(
            preallocate.budget,
            file_bytes.min(position).saturating_sub(start),
        );
        self.preallocate(start, position, preallocate);
        Ok(())
    }

    /// `bytes` of this segment's charged zeros are gone (covered by data or trimmed).
    fn give_back(&self, budget: Option<&PreallocationBudget>, bytes: u64) {
        let charge = self.preallocated_charge_bytes.load(Ordering::Acquire);
        let returned = bytes.min(charge);
        if returned == 0 {
            return;
        }
        self.preallocated_charge_bytes
            .store(charge - returned, Ordering::Release);
        if let Some(budget) = budget {
            budget.release(returned);
        }
    }

    /// Gives every charged zero back to `budget`: after the zeros were cut off, or when the
    /// segment leaves a log that is dropped or reopened (whose recovery cuts them).
    pub fn release_preallocation_charge(&self, budget: Option<&PreallocationBudget>) {
        let charge = self.preallocated_charge_bytes.swap(0, Ordering::AcqRel);
        if let Some(budget) = budget {
            budget.release(charge);
        }
    }

    /// Zeros past the data this segment holds on the budget's account.
    pub fn preallocated_charge_bytes(&self) -> u64 {
        self.preallocated_charge_bytes.load(Ordering::Acquire)
    }

    pub fn note_append_ms(&self, now_ms: i64) {
        self.last_append_ms.store(now_ms, Ordering::Relaxed);
    }

    pub fn last_append_ms(&self) -> i64 {
        self.last_append_ms.load(Ordering::Relaxed)
    }

    /// After an append of `[start, end)`: writes zeros past `end` when fewer than half of
    /// `preallocate.bytes` are left, up to `end + preallocate.bytes` (not past
    /// `preallocate.limit`), and starts their write-back at once. Only after appends of at most
    /// a quarter of `preallocate.bytes`: larger ones would overrun the zeros anyway, and their
    /// syncs are few for the bytes, so the zeros would cost more than the inode writes they
    /// save (librdkafka's 1 MiB batches: 15% slower). A failure is not the append's: the zeros
    /// are cut off again and the next append extends the file as without preallocation.
    ///
    /// The zeros come out of `preallocate.budget`: a partial grant of at least
    /// [`MIN_PREALLOCATION_GRANT_BYTES`] is written, a smaller one given back.
    fn preallocate(&self, start: u64, end: u64, preallocate: Preallocate<'_>) {
        let file_bytes = self.file_bytes.load(Ordering::Acquire);
        let mut to = (end + preallocate.bytes).min(preallocate.limit.max(end));
        if end - start > preallocate.bytes / 4
            || file_bytes >= end + preallocate.bytes / 2
            || to <= file_bytes
        {
            return;
        }
        let wanted = to - file_bytes;
        let granted = preallocate
            .budget
            .map_or(wanted, |budget| budget.reserve(wanted));
        if granted < wanted.min(MIN_PREALLOCATION_GRANT_BYTES) {
            if let Some(budget) = preallocate.budget {
                budget.release(granted);
            }
            return;
        }
        to = file_bytes + granted;
        self.preallocated_charge_bytes
            .fetch_add(granted, Ordering::AcqRel);
        static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];
        let mut at = file_bytes;
        while at < to {
            let len = (to - at).min(ZEROS.len() as u64) as usize;
            match rustix::io::pwrite(&*self.log_file, &ZEROS[..len], at) {
                Ok(written) if written > 0 => at += written as u64,
                Err(rustix::io::Errno::INTR) => {}
                result => {
                    tracing::debug!(file = %self.log_path.display(), ?result, "preallocating failed");
                    let _ = self.log_file.set_len(end);
                    self.file_bytes.store(end, Ordering::Release);
                    self.release_preallocation_charge(preallocate.budget);
                    return;
                }
            }
        }
        start_write_back(&self.log_file, file_bytes, to - file_bytes);
        self.file_bytes.store(to, Ordering::Release);
    }

    /// Cuts the zeros [`Segment::append`] wrote past the data off the file: when the segment
    /// stops being the active one, and at a clean close. The size change reaches the disk with
    /// the segment's next sync. A failure is logged, not returned: reads stop at the data, and
    /// the next open trims zeros it finds after the last batch (see [`Segment::load_tail`]).
    /// Trimmed zeros go back to `budget`.
    pub fn trim_preallocated_or_warn(&self, budget: Option<&PreallocationBudget>) {
        let size = self.size_bytes();
        if self.file_bytes.load(Ordering::Acquire) > size {
            match self.log_file.set_len(size) {
                Ok(()) => {
                    self.file_bytes.store(size, Ordering::Release);
                    self.release_preallocation_charge(budget);
                }
                Err(err) => {
                    tracing::warn!(file = %self.log_path.display(), error = %err, "could not trim preallocated zeros; the next open will")
                }
            }
        }
    }

    /// Kafka's per-batch bookkeeping, shared by append and recovery.
    fn index_batch(
        &self,
        state: &mut SegmentState,
        header: &BatchHeader,
        position: u64,
        limits: IndexLimits,
    ) -> io::Result<()> {
        if position == 0 {
            state.rolling_based_timestamp = Some(header.max_timestamp);
        }
        if state
            .max_timestamp
            .is_none_or(|(timestamp, _)| header.max_timestamp > timestamp)
        {
            state.max_timestamp = Some((header.max_timestamp, header.last_offset()));
        }
        if state.bytes_since_last_index_entry > limits.interval_bytes {
            if self.indexes.offset_entries() < limits.max_offset_entries {
                self.indexes.append_offset(OffsetEntry {
                    relative_offset: self.relative(header.last_offset()),
                    position: position as u32,
                });
            }
            if let Some((timestamp, offset)) = state.max_timestamp
                && self.indexes.time_entries() < limits.max_time_entries
            {
                self.indexes.maybe_append_time(TimeEntry {
                    timestamp,
                    relative_offset: self.relative(offset),
                });
            }
            state.bytes_since_last_index_entry = 0;
        }
        state.bytes_since_last_index_entry += header.total_size() as u64;
        state.next_offset = header.last_offset() + 1;
        Ok(())
    }

    /// True when either index reached its `segment.index.bytes` capacity.
    pub fn indexes_full(&self, limits: IndexLimits) -> bool {
        self.indexes.offset_entries() >= limits.max_offset_entries
            || self.indexes.time_entries() >= limits.max_time_entries
    }

    /// Clean-open load: trusts the indexes and scans batch headers (lengths only, no CRC) from the
    /// last offset-index entry to the end to learn the next offset and max timestamp. Returns
    /// `Ok(Err(reason))` if the tail does not parse, in which case the caller runs [`recover`].
    ///
    /// An all-zero tail after the last batch is preallocated space whose trim did not reach the
    /// disk (a power loss after a roll): it is cut off here and its length returned, the same
    /// call [`recover`] makes, without verifying the whole segment for it. The caller checks the
    /// trimmed segment still ends where the next one begins.
    ///
    /// `end_offset` is the next segment's base offset, if any: a batch reaching it is damage.
    ///
    /// [`recover`]: Segment::recover
    pub fn load_tail(&self, end_offset: Option<i64>) -> io::Result<Result<u64, String>> {
        let mut size = self.size_bytes();
        let mut state = self.state.lock();
        let last_entry = self.indexes.last_offset_entry();
        let mut position = last_entry.map_or(0, |entry| u64::from(entry.position));
        let indexed = position;
        if let Some(entry) = self.indexes.last_time_entry() {
            state.max_timestamp = Some((
                entry.timestamp,
                self.base_offset + i64::from(entry.relative_offset),
            ));
        }
        state.bytes_since_last_index_entry = size - position;
        state.next_offset = self.base_offset;
        if let Some(entry) = last_entry {
            state.next_offset = self.base_offset + i64::from(entry.relative_offset) + 1;
        }
        let mut min_base_offset = self.base_offset;
        let mut trimmed = 0;
        if size > 0 {
            match self.checked_header(0, size, false, self.base_offset, false, end_offset) {
                Ok(header) => state.rolling_based_timestamp = Some(header.max_timestamp),
                Err(reason) => return Ok(Err(reason)),
            }
        }
        while position < size {
            let checked =
                self.checked_header(position, size, false, min_base_offset, false, end_offset);
            let header = match checked {
                Ok(header) => header,
                // Zeros where the last index entry points mean an indexed batch is gone.
                Err(_) if position > indexed && self.zeros_from(position, size)? => {
                    self.log_file
                        .set_len(position)
                        .map_err(|err| annotate(&self.log_path, err))?;
                    trimmed = size - position;
                    state.bytes_since_last_index_entry -= trimmed;
                    size = position;
                    self.file_bytes.store(size, Ordering::Release);
                    self.size_bytes.store(size, Ordering::Release);
                    break;
                }
                Err(reason) => return Ok(Err(reason)),
            };
            if state
                .max_timestamp
                .is_none_or(|(timestamp, _)| header.max_timestamp > timestamp)
            {
                state.max_timestamp = Some((header.max_timestamp, header.last_offset()));
            }
            min_base_offset = header.last_offset() + 1;
            state.next_offset = state.next_offset.max(min_base_offset);
            position += header.total_size() as u64;
        }
        Ok(Ok(trimmed))
    }

    /// Reads and checks the batch at `position`: framing (and CRC when `verify_crc`), base offset
    /// == `expected_base_offset` when `contiguous` (>= otherwise), last offset below
    /// `end_offset` (the next segment's base) when given, offsets representable relative to this
    /// segment. Errors are reasons.
    ///
    /// baseOffset sits outside the CRC, so contiguity is the only check that catches a damaged
    /// one. Compaction (`cleaner.rs`) leaves gaps between batches of closed segments, so only the
    /// last segment (never compacted: the cleaner does not touch the active segment) is checked
    /// with `contiguous`; in a closed segment a damaged base offset is still caught when it
    /// overlaps the next batch or moves the segment's end off the next segment's base (which
    /// compaction preserves), but not when it stays inside a compaction gap.
    pub(crate) fn checked_header(
        &self,
        position: u64,
        size: u64,
        verify_crc: bool,
        expected_base_offset: i64,
        contiguous: bool,
        end_offset: Option<i64>,
    ) -> Result<BatchHeader, String> {
        let available = size - position;
        let header_len = (BatchHeader::SIZE as u64).min(available) as usize;
        let head = self
            .read_bytes(position, header_len)
            .map_err(|err| err.to_string())?;
        let header = match BatchHeader::parse(&head) {
            Ok(header) => header,
            Err(err) => return Err(err.to_string()),
        };
        if header.total_size() < BatchHeader::SIZE || header.total_size() as u64 > available {
            return Err(format!(
                "batch length {} with {available} bytes left in the file",
                header.batch_length
            ));
        }
        if verify_crc {
            let whole = self
                .read_bytes(position, header.total_size())
                .map_err(|err| err.to_string())?;
            batch::check_framing_and_crc(&whole, position as usize)
                .map_err(|err| err.to_string())?;
        } else if header.magic != batch::MAGIC_V2 {
            return Err(format!("unsupported magic {}", header.magic));
        }
        let offset_ok = if contiguous {
            header.base_offset == expected_base_offset
        } else {
            header.base_offset >= expected_base_offset
        };
        if !offset_ok || header.last_offset_delta < 0 {
            return Err(format!(
                "batch offsets {}..={} do not follow offset {expected_base_offset}",
                header.base_offset,
                header.last_offset()
            ));
        }
        if let Some(end_offset) = end_offset
            && header.last_offset() >= end_offset
        {
            return Err(format!(
                "batch offsets {}..={} reach the next segment, which starts at {end_offset}",
                header.base_offset,
                header.last_offset()
            ));
        }
        if !self.can_hold_offset(header.last_offset()) {
            return Err(format!(
                "batch last offset {} does not fit relative to base {}",
                header.last_offset(),
                self.base_offset
            ));
        }
        Ok(header)
    }

    /// Unclean-open recovery: checks every batch (framing, magic, CRC, increasing offsets below
    /// `rules.end_offset`, contiguous ones in the last segment: see `checked_header`), rebuilds
    /// both indexes from the good batches and calls `on_batch` for each good batch in order.
    ///
    /// At a bad batch the last segment is truncated (a torn tail); a closed segment is not
    /// changed: the scan looks for the next whole batch with a valid CRC and fitting offsets
    /// ([`Segment::next_good_batch`]), goes on from there, and reports the bytes in between
    /// as a [`SkippedRange`] for the caller to move out. Zeros to the end of the file are
    /// preallocated space in either case, trimmed and not reported as damage.
    pub fn recover(
        &self,
        limits: IndexLimits,
        rules: VerifyRules,
        on_batch: &mut dyn FnMut(&BatchHeader),
    ) -> io::Result<SegmentRecovery> {
        let size = self
            .log_file
            .metadata()
            .map_err(|err| annotate(&self.log_path, err))?
            .len();
        let trusted = match rules.trusted_below {
            Some(trusted_below) => self.trusted_prefix(trusted_below, size)?,
            None => None,
        };
        let mut state = self.state.lock();
        let created_ms = state.created_ms;
        *state = SegmentState {
            next_offset: self.base_offset,
            bytes_since_last_index_entry: 0,
            max_timestamp: None,
            rolling_based_timestamp: None,
            created_ms,
        };
        let mut position = 0u64;
        let (offsets, times) = match trusted {
            Some(trusted) => {
                position = trusted.position;
                state.next_offset = trusted.next_offset;
                state.max_timestamp = trusted.max_timestamp;
                state.rolling_based_timestamp = trusted.rolling_based_timestamp;
                (trusted.offsets, trusted.times)
            }
            None => (Vec::new(), Vec::new()),
        };
        self.indexes
            .replace(offsets, times)
            .map_err(|err| annotate(&self.index_path, err))?;
        let bytes_verified = size - position;
        let mut damage = None;
        let mut skipped = Vec::new();
        // Where the data ends: the file's end, or the start of zeros or a cut before it.
        let mut data_end = size;
        while position < size {
            let checked = self.checked_header(
                position,
                size,
                true,
                state.next_offset,
                rules.last_segment,
                rules.end_offset,
            );
            let reason = match checked {
                Ok(header) => {
                    self.index_batch(&mut state, &header, position, limits)
                        .map_err(|err| annotate(&self.index_path, err))?;
                    on_batch(&header);
                    position += header.total_size() as u64;
                    continue;
                }
                Err(reason) => reason,
            };
            if self.zeros_from(position, size)? {
                data_end = position;
                break;
            }
            if rules.last_segment {
                damage = Some((position, state.next_offset, reason));
                data_end = position;
                break;
            }
            let end_position = self
                .next_good_batch(position + 1, size, state.next_offset, rules.end_offset)?
                .unwrap_or(size);
            skipped.push(SkippedRange {
                position,
                end_position,
                offset: state.next_offset,
                reason,
            });
            position = end_position;
        }
        let preallocated_bytes = if damage.is_none() { size - data_end } else { 0 };
        if data_end < size {
            self.log_file
                .set_len(data_end)
                .map_err(|err| annotate(&self.log_path, err))?;
        }
        self.file_bytes.store(data_end, Ordering::Release);
        // A normally closed segment ends with its max timestamp in the time index; so does this.
        if let Some((timestamp, offset)) = state.max_timestamp {
            self.indexes.maybe_append_time(TimeEntry {
                timestamp,
                relative_offset: self.relative(offset),
            });
        }
        self.indexes
            .write_pending()
            .map_err(|err| annotate(&self.index_path, err))?;
        self.size_bytes.store(data_end, Ordering::Release);
        Ok(SegmentRecovery {
            truncated_bytes: size - data_end - preallocated_bytes,
            preallocated_bytes,
            damage,
            skipped,
            bytes_verified,
        })
    }

    /// Where [`Segment::recover`] may start when every offset below `trusted_below` was
    /// fsync'd: at the last offset-index entry whose batch lies wholly below it. That batch is
    /// checked first (CRC, and its last offset must be the entry's, so the index is not
    /// trusted blindly; the index file is written but not fsync'd); everything before it is
    /// trusted as a clean open trusts a segment. `None`: verify from byte 0.
    ///
    /// The entries kept give the same bookkeeping a live append had after that batch: the
    /// batch's own entry was added when the bytes since the previous one passed the interval
    /// (so zero bytes are counted since it when it is verified again), and the last time
    /// entry at or below it is the largest timestamp so far.
    fn trusted_prefix(&self, trusted_below: i64, size: u64) -> io::Result<Option<TrustedPrefix>> {
        let below =
            u32::try_from(trusted_below.saturating_sub(self.base_offset)).unwrap_or(u32::MAX);
        let (mut offsets, mut times) = self.indexes.entries();
        let count = offsets.partition_point(|entry| {
            entry.relative_offset < below && u64::from(entry.position) < size
        });
        let Some(entry) = count.checked_sub(1).map(|last| offsets[last]) else {
            return Ok(None);
        };
        let position = u64::from(entry.position);
        let Ok(header) = self.checked_header(position, size, true, self.base_offset, false, None)
        else {
            return Ok(None);
        };
        if header.last_offset() != self.base_offset + i64::from(entry.relative_offset) {
            return Ok(None);
        }
        let Ok(first) = self.checked_header(0, size, false, self.base_offset, false, None) else {
            return Ok(None);
        };
        offsets.truncate(count);
        times.retain(|time| time.relative_offset <= entry.relative_offset);
        let max_timestamp = times.last().map(|time| {
            (
                time.timestamp,
                self.base_offset + i64::from(time.relative_offset),
            )
        });
        Ok(Some(TrustedPrefix {
            position,
            offsets,
            times,
            next_offset: header.base_offset,
            max_timestamp,
            rolling_based_timestamp: Some(first.max_timestamp),
        }))
    }

    /// The first position at or after `from` where a whole batch with a valid CRC begins whose
    /// offsets are at least `min_offset` and below `end_offset`, or `None` before `size`.
    ///
    /// Reads the file in chunks and tries only positions whose magic byte is 2 and whose length
    /// fits the file, so skipping damage costs a read of the damaged bytes, not a CRC per byte.
    /// A batch stored inside another batch's value (a record holding raw Kafka batches) could
    /// pass these checks only if its offsets also fit this gap; the CRC rules out chance.
    pub(crate) fn next_good_batch(
        &self,
        from: u64,
        size: u64,
        min_offset: i64,
        end_offset: Option<i64>,
    ) -> io::Result<Option<u64>> {
        const CHUNK_BYTES: u64 = 1024 * 1024;
        let mut start = from;
        while start + BatchHeader::SIZE as u64 <= size {
            let len = (size - start).min(CHUNK_BYTES + BatchHeader::SIZE as u64);
            let chunk = self.read_bytes(start, len as usize)?;
            let candidates = chunk.len().saturating_sub(BatchHeader::SIZE - 1);
            for at in 0..candidates {
                if chunk[at + batch::MAGIC_POS] as i8 != batch::MAGIC_V2 {
                    continue;
                }
                let position = start + at as u64;
                let Ok(header) = BatchHeader::parse(&chunk[at..]) else {
                    continue;
                };
                let fits = header.total_size() >= BatchHeader::SIZE
                    && position + header.total_size() as u64 <= size
                    && header.base_offset >= min_offset
                    && header.last_offset_delta >= 0
                    && end_offset.is_none_or(|end| header.last_offset() < end)
                    && self.can_hold_offset(header.last_offset());
                if !fits {
                    continue;
                }
                let whole = self.read_bytes(position, header.total_size())?;
                if batch::check_framing_and_crc(&whole, position as usize).is_ok() {
                    return Ok(Some(position));
                }
            }
            start += candidates as u64;
        }
        Ok(None)
    }

    /// Whether `[position, size)` holds only zeros: space [`Segment::append`] preallocated
    /// and a crash left, not damage. More than [`MAX_PREALLOCATED_TAIL`] bytes is not.
    pub(crate) fn zeros_from(&self, mut position: u64, size: u64) -> io::Result<bool> {
        if size - position > MAX_PREALLOCATED_TAIL {
            return Ok(false);
        }
        while position < size {
            let len = (size - position).min(256 * 1024) as usize;
            let chunk = self
                .read_bytes(position, len)
                .map_err(|err| annotate(&self.log_path, err))?;
            if chunk.iter().any(|byte| *byte != 0) {
                return Ok(false);
            }
            position += len as u64;
        }
        Ok(true)
    }

    /// Called when the segment stops being the active one: records the final max timestamp in
    /// the time index even if it is full (as Kafka's `onBecomeInactiveSegment`).
    pub fn on_become_inactive(&self) -> io::Result<()> {
        let state = self.state.lock();
        if let Some((timestamp, offset)) = state.max_timestamp {
            self.indexes.maybe_append_time(TimeEntry {
                timestamp,
                relative_offset: self.relative(offset),
            });
        }
        self.indexes
            .write_pending()
            .map_err(|err| annotate(&self.index_path, err))
    }

    /// fdatasyncs the `.log`, after writing pending index entries (not synced: an index is a
    /// hint, rebuilt after an unclean shutdown).
    pub fn sync_log(&self) -> io::Result<()> {
        self.indexes
            .write_pending()
            .map_err(|err| annotate(&self.index_path, err))?;
        self.log_file
            .sync_data()
            .map_err(|err| annotate(&self.log_path, err))
    }

    pub fn sync_all(&self) -> io::Result<()> {
        self.sync_log()?;
        self.indexes
            .sync()
            .map_err(|err| annotate(&self.index_path, err))
    }

    /// Removes the segment's files (open handles held by readers stay valid).
    pub fn delete_files(&self) -> io::Result<()> {
        for path in [&self.log_path, &self.index_path, &self.time_index_path] {
            match std::fs::remove_file(path) {
                Ok(()) => {}
                Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                Err(err) => return Err(annotate(path, err)),
            }
        }
        Ok(())
    }
}
