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
//! 2. the segment's index files are removed, then the segment is rewritten without the damage
//!    to `<base>.log.cleaned`, fsync'd, and renamed over the `.log` (a range at the end of the
//!    file is cut off with `set_len` instead). A crash before the rename leaves a `.cleaned`
//!    file that the next open removes (pass 1) and a segment without indexes, which that open
//!    verifies whole, finding the same damage again: every step can be repeated. With no room
//!    for the copies (a full disk) the partition still opens: no quarantine copy is kept, and a
//!    segment that cannot be rewritten is cut at its first damaged range, losing only that
//!    segment's batches after it;
//! 3. the segment is opened and verified again, rebuilding its indexes.
//!
//! Offsets of the batches that were in a damaged range are gone: reads skip the gap as they
//! skip a compaction gap. [`DamagedRange`] names them, in the recovery report (logged at WARN)
//! and in [`crate::Log::damaged_ranges`] (metrics).
//!
//! The last (active) segment is different: damage there is what a crash leaves (a torn or
//! half-written tail), and recovery truncates it at the first bad batch as Kafka does.
//!
//! Damage a clean start does not look for (bytes flipped inside a closed segment, below its
//! last index entry) is found by the scrubber: [`Log::scrub`] verifies closed segments a
//! bounded step at a time (the broker paces it, `log.scrub.*`), reports what it finds and
//! leaves the bytes in place: consumers reading them get the CRC error Kafka would give, and
//! the next recovery that verifies that segment moves the damage out. Once partitions have
//! replicas, this is where a damaged range would be fetched again from an in-sync one.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};

use crate::Log;
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
    /// Where recovery kept a copy of the damaged bytes; `None` when there were none (an offset
    /// gap at a batch boundary), no room for a copy, or the damage is still in the log.
    pub quarantined_to: Option<PathBuf>,
    /// The damaged bytes are still in the log and served as stored (the scrubber found them);
    /// false once recovery moved them out.
    pub in_log: bool,
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

/// What [`excise`] did.
pub(crate) struct Excised {
    /// Each range's quarantine file; `None` where no copy could be kept (no room).
    pub quarantined: Vec<Option<PathBuf>>,
    /// Set when the segment could not be rewritten (no room for the copy): it was cut at the
    /// first damaged range instead, losing the intact batches after it in this segment only.
    pub cut_at: Option<u64>,
}

/// Steps 1 and 2 of the module docs: quarantines `ranges` (in file order, not overlapping) of
/// `segment` and removes them from its `.log`. Consumes the segment: the caller opens it again.
///
/// Needs room for a copy of the damage and, unless the damage is only at the end, for a copy of
/// the segment. Without it (a full disk) the partition must still open: the quarantine copy is
/// skipped, and a segment that cannot be rewritten is cut at its first damaged range (a cut
/// needs no space). The index files go before the `.log` changes, so a crash in between leaves
/// a segment without indexes, which the next open verifies whole.
pub(crate) fn excise(
    segment: Segment,
    ranges: &[SkippedRange],
    quarantine_dir: &Path,
) -> io::Result<Excised> {
    let quarantined = match quarantine(&segment, ranges, quarantine_dir) {
        Ok(paths) => paths.into_iter().map(Some).collect(),
        Err(err) => {
            tracing::warn!(file = %segment.log_path.display(), error = %err, "could not keep a copy of the damaged bytes");
            vec![None; ranges.len()]
        }
    };
    let dir = segment
        .log_path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    remove_if_exists(&segment.index_path)?;
    remove_if_exists(&segment.time_index_path)?;
    checkpoint::sync_dir(&dir)?;

    let size = segment.size_bytes();
    let base = segment.base_offset;
    let mut cut_at = None;
    if let [range] = ranges
        && range.end_position >= size
    {
        cut(&segment, range.position)?;
    } else {
        let cleaned = staged_path(&dir, base, LOG_SUFFIX, CLEANED_SUFFIX);
        if let Err(err) = rewrite_without(&segment, ranges, &cleaned) {
            tracing::warn!(file = %segment.log_path.display(), error = %err, "could not rewrite the segment without its damage; cutting it at the first damaged range");
            let _ = remove_if_exists(&cleaned);
            let position = ranges.first().map_or(size, |range| range.position);
            cut(&segment, position)?;
            cut_at = Some(position);
        }
    }
    drop(segment);
    checkpoint::sync_dir(&dir)?;
    Ok(Excised {
        quarantined,
        cut_at,
    })
}

/// Copies each range to its own fsync'd file under `quarantine_dir`.
fn quarantine(
    segment: &Segment,
    ranges: &[SkippedRange],
    quarantine_dir: &Path,
) -> io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(quarantine_dir)
        .map_err(|err| annotate(quarantine_dir, "creating", err))?;
    let mut quarantined = Vec::with_capacity(ranges.len());
    for range in ranges {
        let path = quarantine_path(quarantine_dir, segment, range);
        let mut out =
            std::fs::File::create(&path).map_err(|err| annotate(&path, "creating", err))?;
        let written = copy_range(segment, range.position, range.end_position, &mut out)
            .and_then(|()| out.sync_all());
        if let Err(err) = written {
            let _ = remove_if_exists(&path);
            return Err(annotate(&path, "writing", err));
        }
        quarantined.push(path);
    }
    checkpoint::sync_dir(quarantine_dir)?;
    Ok(quarantined)
}

/// Writes the segment without `ranges` to `cleaned`, fsyncs it and renames it over the `.log`.
fn rewrite_without(segment: &Segment, ranges: &[SkippedRange], cleaned: &Path) -> io::Result<()> {
    let mut out =
        std::fs::File::create(cleaned).map_err(|err| annotate(cleaned, "creating", err))?;
    let mut kept_from = 0;
    for range in ranges {
        copy_range(segment, kept_from, range.position, &mut out)
            .map_err(|err| annotate(cleaned, "writing", err))?;
        kept_from = range.end_position;
    }
    copy_range(segment, kept_from, segment.size_bytes(), &mut out)
        .and_then(|()| out.sync_all())
        .map_err(|err| annotate(cleaned, "writing", err))?;
    rename(cleaned, &segment.log_path)
}

fn cut(segment: &Segment, position: u64) -> io::Result<()> {
    let file = segment.log_file();
    file.set_len(position)
        .and_then(|()| file.sync_all())
        .map_err(|err| annotate(&segment.log_path, "cutting", err))
}

fn annotate(path: &Path, doing: &str, err: io::Error) -> io::Error {
    io::Error::new(err.kind(), format!("{doing} {}: {err}", path.display()))
}

/// Where a scrub of one log stands ([`crate::Log::scrub`]): the closed segment being verified
/// (a segment replaced by compaction since is verified again from its start; one deleted by
/// retention is skipped), the next byte in it and the offset the next batch must not go below.
#[derive(Debug, Default, Clone)]
pub struct ScrubCursor {
    segment: Option<(i64, Weak<Segment>)>,
    position: u64,
    next_offset: i64,
}

/// What one [`crate::Log::scrub`] call did.
#[derive(Debug, Default)]
pub struct ScrubStep {
    /// Bytes read and checked.
    pub bytes_verified: u64,
    /// Damage found in this step and not known before (also in [`crate::Log::damaged_ranges`]).
    pub damage_found: Vec<DamagedRange>,
    /// The last closed segment was finished: the cursor starts over at the log's first one.
    pub pass_complete: bool,
}

impl Log {
    /// The scrubber's step: verifies the batches of the closed segments from `cursor` on, as
    /// an unclean recovery does (framing, CRC, offsets increasing and below the next
    /// segment's base), until about `max_bytes` were read (at least one batch). Damage is
    /// skipped to the next good batch ([`Segment::next_good_batch`]) and reported
    /// ([`Log::damaged_ranges`]), not changed: the log keeps serving it as stored, and the
    /// next recovery that verifies the segment moves it out.
    ///
    /// Runs beside appends, reads and compaction without any of their locks: closed segments
    /// never change in place (compaction swaps in new files, which the cursor notices).
    pub fn scrub(&self, cursor: &mut ScrubCursor, max_bytes: u64) -> io::Result<ScrubStep> {
        let segments = self.segments_snapshot();
        let closed = segments.len().saturating_sub(1);
        let mut step = ScrubStep::default();
        let mut index = match &cursor.segment {
            None => 0,
            Some((base, weak)) => {
                match segments[..closed]
                    .iter()
                    .position(|s| s.base_offset >= *base)
                {
                    Some(index) => {
                        let same = segments[index].base_offset == *base
                            && weak
                                .upgrade()
                                .is_some_and(|s| Arc::ptr_eq(&s, &segments[index]));
                        if !same {
                            cursor.position = 0;
                            cursor.next_offset = segments[index].base_offset;
                        }
                        index
                    }
                    None => closed,
                }
            }
        };
        while index < closed && step.bytes_verified < max_bytes {
            let segment = &segments[index];
            let end_offset = segments[index + 1].base_offset;
            if cursor.position == 0 {
                cursor.next_offset = segment.base_offset;
            }
            cursor.segment = Some((segment.base_offset, Arc::downgrade(segment)));
            self.scrub_segment(segment, end_offset, cursor, max_bytes, &mut step)?;
            if cursor.position >= segment.size_bytes() {
                index += 1;
                cursor.position = 0;
                cursor.segment = segments
                    .get(index)
                    .map(|next| (next.base_offset, Arc::downgrade(next)));
            }
        }
        if index >= closed {
            *cursor = ScrubCursor::default();
            step.pass_complete = true;
        }
        Ok(step)
    }

    fn scrub_segment(
        &self,
        segment: &Segment,
        end_offset: i64,
        cursor: &mut ScrubCursor,
        max_bytes: u64,
        step: &mut ScrubStep,
    ) -> io::Result<()> {
        let size = segment.size_bytes();
        while cursor.position < size && step.bytes_verified < max_bytes {
            let position = cursor.position;
            let checked = segment.checked_header(
                position,
                size,
                true,
                cursor.next_offset,
                false,
                Some(end_offset),
            );
            let reason = match checked {
                Ok(header) => {
                    cursor.position += header.total_size() as u64;
                    cursor.next_offset = header.last_offset() + 1;
                    step.bytes_verified += header.total_size() as u64;
                    continue;
                }
                Err(reason) => reason,
            };
            let end_position = if segment.zeros_from(position, size)? {
                // Zeros a failed trim left after the data (see `Segment::load_tail`): not damage.
                cursor.position = size;
                continue;
            } else {
                segment
                    .next_good_batch(position + 1, size, cursor.next_offset, Some(end_offset))?
                    .unwrap_or(size)
            };
            let next_base = if end_position < size {
                segment
                    .read_header(end_position, size)?
                    .map(|header| header.base_offset)
            } else {
                None
            };
            let range = DamagedRange {
                file: segment.log_path.clone(),
                position_bytes: position,
                end_position_bytes: end_position,
                first_offset: cursor.next_offset,
                end_offset: next_base.unwrap_or(end_offset),
                reason,
                quarantined_to: None,
                in_log: true,
            };
            step.bytes_verified += end_position - position;
            cursor.position = end_position;
            if !self.damaged_ranges().contains(&range) {
                self.record_damage(range.clone());
                step.damage_found.push(range);
            }
        }
        Ok(())
    }
}
