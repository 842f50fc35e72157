//! Damaged data in closed segments: what recovery does with it and how it is reported.
//!
//! A closed segment's batches were written before the next segment began and, under the default
//! durability, fsync'd before anything after them was acknowledged. Damage found in one (bytes
//! that do not parse as batches, a CRC mismatch, offsets that do not fit) is therefore
//! corruption of stored data, not a torn tail: nothing after it depends on the damaged bytes,
//! and every intact batch after it, in the same segment and in later ones, is kept.
//!
//! Recovery (`Log::open`, pass 3) moves each damaged range out of the `.log`:
//!
//! 1. the range's bytes are copied to `<quarantine dir>/<base>.log.<from>-<to>.damaged`
//!    (the quarantine dir is `<data dir>/quarantine/<topic>-<partition>/`) and fsync'd, so an
//!    operator (or, once replication exists, a repair from a replica) still has them;
//! 2. the segment is rewritten without them to `<base>.log.cleaned`, fsync'd, and renamed over
//!    the `.log` (a range at the end of the file is cut off with `set_len` instead); its index
//!    files are removed. A crash before the rename leaves a `.cleaned` file that the next
//!    open removes (pass 1), and that open finds the same damage again: every step can be
//!    repeated;
//! 3. the segment is opened and verified again, rebuilding its indexes.
//!
//! Offsets of the batches that were in a damaged range are gone: reads skip the gap as they
//! skip a compaction gap. [`DamagedRange`] names them, in the recovery report (logged at WARN)
//! and in [`crate::Log::damaged_ranges`] (metrics).
//!
//! The last (active) segment is different: damage there is what a crash leaves (a torn or
//! half-written tail), and recovery truncates it at the first bad batch as Kafka does.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::checkpoint;
use crate::cleaner::{CLEANED_SUFFIX, remove_if_exists, rename, staged_path};
use crate::segment::{LOG_SUFFIX, Segment, SkippedRange};

/// Name of the directory under the data directory that holds damaged bytes moved out of logs.
pub const QUARANTINE_DIR: &str = "quarantine";

/// Bytes copied per read while quarantining or rewriting a segment.
const COPY_CHUNK_BYTES: u64 = 1024 * 1024;

/// A range of a segment found damaged: by recovery (and moved out of the log), or by the
/// scrubber (still in the log, reported).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DamagedRange {
    /// The segment's `.log`.
    pub file: PathBuf,
    /// Byte range of the damage in `file`, as it was found.
    pub position_bytes: u64,
    pub end_position_bytes: u64,
    /// Offsets the damage covers: `[first_offset, end_offset)`. Some of them may never have
    /// existed (compaction gaps); none of them can be read any more once recovery moved the
    /// damage out.
    pub first_offset: i64,
    pub end_offset: i64,
    /// Why the bytes are damage (e.g. the CRC mismatch).
    pub reason: String,
    /// Where recovery kept the damaged bytes; `None` when nothing was moved (an offset gap at a
    /// batch boundary, or damage the scrubber reported in a live log).
    pub quarantined_to: Option<PathBuf>,
}

impl std::fmt::Display for DamagedRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} bytes {}..{}, offsets {}..{} ({})",
            self.file.display(),
            self.position_bytes,
            self.end_position_bytes,
            self.first_offset,
            self.end_offset,
            self.reason
        )?;
        if let Some(path) = &self.quarantined_to {
            write!(f, ", kept in {}", path.display())?;
        }
        Ok(())
    }
}

/// The quarantine file of one damaged range.
fn quarantine_path(quarantine_dir: &Path, segment: &Segment, range: &SkippedRange) -> PathBuf {
    quarantine_dir.join(format!(
        "{:020}.{LOG_SUFFIX}.{}-{}.damaged",
        segment.base_offset, range.position, range.end_position
    ))
}

/// Copies `[from, to)` of the segment's `.log` to the end of `out`.
fn copy_range(segment: &Segment, from: u64, to: u64, out: &mut std::fs::File) -> io::Result<()> {
    let mut position = from;
    while position < to {
        let len = (to - position).min(COPY_CHUNK_BYTES);
        let bytes = segment.read_bytes(position, len as usize)?;
        out.write_all(&bytes)?;
        position += len;
    }
    Ok(())
}

/// Steps 1 and 2 of the module docs: quarantines `ranges` (in file order, not overlapping) of
/// `segment` and removes them from its `.log`. Consumes the segment: the caller opens it again.
/// Returns each range's quarantine file.
pub(crate) fn excise(
    segment: Segment,
    ranges: &[SkippedRange],
    quarantine_dir: &Path,
) -> io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(quarantine_dir)
        .map_err(|err| annotate(quarantine_dir, "creating", err))?;
    let mut quarantined = Vec::with_capacity(ranges.len());
    for range in ranges {
        let path = quarantine_path(quarantine_dir, &segment, range);
        let mut out =
            std::fs::File::create(&path).map_err(|err| annotate(&path, "creating", err))?;
        copy_range(&segment, range.position, range.end_position, &mut out)
            .and_then(|()| out.sync_all())
            .map_err(|err| annotate(&path, "writing", err))?;
        quarantined.push(path);
    }
    checkpoint::sync_dir(quarantine_dir)?;

    let size = segment.size_bytes();
    let dir = segment
        .log_path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let base = segment.base_offset;
    let only_the_tail = matches!(ranges, [range] if range.end_position >= size);
    if only_the_tail {
        let cut = ranges[0].position;
        let file = segment.log_file();
        file.set_len(cut)
            .and_then(|()| file.sync_all())
            .map_err(|err| annotate(&segment.log_path, "cutting", err))?;
    } else {
        let cleaned = staged_path(&dir, base, LOG_SUFFIX, CLEANED_SUFFIX);
        let mut out =
            std::fs::File::create(&cleaned).map_err(|err| annotate(&cleaned, "creating", err))?;
        let mut kept_from = 0;
        for range in ranges {
            copy_range(&segment, kept_from, range.position, &mut out)
                .map_err(|err| annotate(&cleaned, "writing", err))?;
            kept_from = range.end_position;
        }
        copy_range(&segment, kept_from, size, &mut out)
            .and_then(|()| out.sync_all())
            .map_err(|err| annotate(&cleaned, "writing", err))?;
        rename(&cleaned, &segment.log_path)?;
    }
    let (index, time_index) = (segment.index_path.clone(), segment.time_index_path.clone());
    drop(segment);
    remove_if_exists(&index)?;
    remove_if_exists(&time_index)?;
    checkpoint::sync_dir(&dir)?;
    Ok(quarantined)
}

fn annotate(path: &Path, doing: &str, err: io::Error) -> io::Error {
    io::Error::new(err.kind(), format!("{doing} {}: {err}", path.display()))
}
