//! Sparse offset and time indexes of one segment, in Kafka's file formats.
//!
//! * `.index`: 8-byte entries `relativeOffset u32 BE, position u32 BE`. `relativeOffset` is a
//!   batch's **last** offset minus the segment's base offset (as Kafka's `LogSegment.append`
//!   does); `position` is the byte position of that batch in the `.log`. Entries are strictly
//!   increasing in both fields.
//! * `.timeindex`: 12-byte entries `timestamp i64 BE, relativeOffset u32 BE`: the largest
//!   batch maxTimestamp seen so far and the last offset of the batch that carried it. Timestamps
//!   strictly increase, offsets never decrease.
//!
//! Files are not preallocated and their length is always `entries * entry size`. The entries
//! are kept in memory (at most `segment.index.bytes` per index) so lookups never touch the file,
//! and new entries reach the file in one positional write per index when the segment is synced
//! or stops being active ([`SegmentIndexes::write_pending`]), not one system call per batch. A
//! crash can lose entries that were never written: only trailing ones, which a clean open scans
//! past and an unclean one rebuilds (see below).
//!
//! Nothing here is checksummed: an index is only a hint. On open, a file whose length is not a
//! multiple of the entry size, whose entries are not monotonic, or which points past the end
//! of the `.log`, is reported as invalid and the caller rebuilds it from the `.log`. Lookups
//! return a lower bound and callers scan forward from it, so a missing entry costs time, never
//! correctness.
//!
//! Thread-safety: the in-memory entries sit behind a `RwLock`; appends come from the log's
//! append lock only.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use parking_lot::{Mutex, RwLock};

pub(crate) const OFFSET_ENTRY_BYTES: usize = 8;
pub(crate) const TIME_ENTRY_BYTES: usize = 12;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OffsetEntry {
    pub relative_offset: u32,
    pub position: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TimeEntry {
    pub timestamp: i64,
    pub relative_offset: u32,
}

/// Both indexes of a segment.
pub(crate) struct SegmentIndexes {
    pub offset_file: File,
    pub time_file: File,
    offsets: RwLock<Vec<OffsetEntry>>,
    times: RwLock<Vec<TimeEntry>>,
    /// Entries already in the files: (offset entries, time entries).
    written: Mutex<(usize, usize)>,
}

/// Parses an offset index file's bytes; `None` if malformed for a `.log` of `log_size_bytes`.
pub(crate) fn parse_offset_index(bytes: &[u8], log_size_bytes: u64) -> Option<Vec<OffsetEntry>> {
    if !bytes.len().is_multiple_of(OFFSET_ENTRY_BYTES) {
        return None;
    }
    let mut entries: Vec<OffsetEntry> = Vec::with_capacity(bytes.len() / OFFSET_ENTRY_BYTES);
    for chunk in bytes.chunks_exact(OFFSET_ENTRY_BYTES) {
        let entry = OffsetEntry {
            relative_offset: u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]),
            position: u32::from_be_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]),
        };
        if u64::from(entry.position) >= log_size_bytes {
            return None;
        }
        if let Some(last) = entries.last()
            && (entry.relative_offset <= last.relative_offset || entry.position <= last.position)
        {
            return None;
        }
        entries.push(entry);
    }
    Some(entries)
}

/// Parses a time index file's bytes; `None` if malformed.
pub(crate) fn parse_time_index(bytes: &[u8]) -> Option<Vec<TimeEntry>> {
    if !bytes.len().is_multiple_of(TIME_ENTRY_BYTES) {
        return None;
    }
    let mut entries: Vec<TimeEntry> = Vec::with_capacity(bytes.len() / TIME_ENTRY_BYTES);
    for chunk in bytes.chunks_exact(TIME_ENTRY_BYTES) {
        let mut timestamp = [0u8; 8];
        timestamp.copy_from_slice(&chunk[..8]);
        let entry = TimeEntry {
            timestamp: i64::from_be_bytes(timestamp),
            relative_offset: u32::from_be_bytes([chunk[8], chunk[9], chunk[10], chunk[11]]),
        };
        if let Some(last) = entries.last()
            && (entry.timestamp <= last.timestamp || entry.relative_offset < last.relative_offset)
        {
            return None;
        }
        entries.push(entry);
    }
    Some(entries)
}

pub(crate) fn read_whole(file: &File) -> io::Result<Vec<u8>> {
    let length = file.metadata()?.len();
    let length = usize::try_from(length).map_err(|_| io::Error::other("index file too large"))?;
    let mut bytes = vec![0u8; length];
    file.read_exact_at(&mut bytes, 0)?;
    Ok(bytes)
}

fn encode_offsets(entries: &[OffsetEntry]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(entries.len() * OFFSET_ENTRY_BYTES);
    for entry in entries {
        bytes.extend_from_slice(&entry.relative_offset.to_be_bytes());
        bytes.extend_from_slice(&entry.position.to_be_bytes());
    }
    bytes
}

fn encode_times(entries: &[TimeEntry]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(entries.len() * TIME_ENTRY_BYTES);
    for entry in entries {
        bytes.extend_from_slice(&entry.timestamp.to_be_bytes());
        bytes.extend_from_slice(&entry.relative_offset.to_be_bytes());
    }
    bytes
}

/// Writes `entries[*written..]` at the end of `file` (whose length is `*written` entries).
fn write_tail<T>(
    file: &File,
    entries: &RwLock<Vec<T>>,
    written: &mut usize,
    entry_bytes: usize,
    encode: fn(&[T]) -> Vec<u8>,
) -> io::Result<()> {
    let (bytes, count) = {
        let entries = entries.read();
        let pending = &entries[(*written).min(entries.len())..];
        (encode(pending), pending.len())
    };
    if count > 0 {
        file.write_all_at(&bytes, (*written * entry_bytes) as u64)?;
        *written += count;
    }
    Ok(())
}

impl SegmentIndexes {
    pub fn new(
        offset_file: File,
        time_file: File,
        offsets: Vec<OffsetEntry>,
        times: Vec<TimeEntry>,
    ) -> Self {
        let written = (offsets.len(), times.len());
        SegmentIndexes {
            offset_file,
            time_file,
            offsets: RwLock::new(offsets),
            times: RwLock::new(times),
            written: Mutex::new(written),
        }
    }

    pub fn offset_entries(&self) -> usize {
        self.offsets.read().len()
    }
    pub fn time_entries(&self) -> usize {
        self.times.read().len()
    }
    /// Copies of both indexes' entries (recovery only).
    pub fn entries(&self) -> (Vec<OffsetEntry>, Vec<TimeEntry>) {
        (self.offsets.read().clone(), self.times.read().clone())
    }
    pub fn last_offset_entry(&self) -> Option<OffsetEntry> {
        self.offsets.read().last().copied()
    }
    pub fn last_time_entry(&self) -> Option<TimeEntry> {
        self.times.read().last().copied()
    }

    /// Position of the batch of the largest entry with relative offset <= `relative_offset`, or 0.
    pub fn lookup_position(&self, relative_offset: u32) -> u32 {
        let offsets = self.offsets.read();
        let count = offsets.partition_point(|entry| entry.relative_offset <= relative_offset);
        if count == 0 {
            0
        } else {
            offsets[count - 1].position
        }
    }

    /// Position of the last indexed batch that starts at or below `max_position` and whose last
    /// relative offset is below `below_relative`, or 0. Every batch before it ends at or below
    /// `max_position` and has a smaller last offset: a reader may take them without reading
    /// their headers.
    pub fn last_position_within(&self, max_position: u64, below_relative: u32) -> u32 {
        let offsets = self.offsets.read();
        let count = offsets.partition_point(|entry| {
            u64::from(entry.position) <= max_position && entry.relative_offset < below_relative
        });
        if count == 0 {
            0
        } else {
            offsets[count - 1].position
        }
    }

    /// The largest entry with timestamp <= `timestamp`.
    pub fn lookup_time(&self, timestamp: i64) -> Option<TimeEntry> {
        let times = self.times.read();
        let count = times.partition_point(|entry| entry.timestamp <= timestamp);
        if count == 0 {
            None
        } else {
            Some(times[count - 1])
        }
    }

    /// Appends an offset entry (in memory; [`write_pending`](Self::write_pending) writes it).
    /// Entries that would not be strictly increasing are ignored.
    pub fn append_offset(&self, entry: OffsetEntry) {
        let mut offsets = self.offsets.write();
        if offsets.last().is_some_and(|last| {
            last.relative_offset >= entry.relative_offset || last.position >= entry.position
        }) {
            return;
        }
        offsets.push(entry);
    }

    /// Appends a time entry if its timestamp is larger than the last one (Kafka `maybeAppend`);
    /// in memory, as [`append_offset`](Self::append_offset).
    pub fn maybe_append_time(&self, entry: TimeEntry) {
        let mut times = self.times.write();
        if times.last().is_some_and(|last| {
            last.timestamp >= entry.timestamp || last.relative_offset > entry.relative_offset
        }) {
            return;
        }
        times.push(entry);
    }

    /// Writes the entries appended since the last call to the files, one positional write per
    /// index.
    pub fn write_pending(&self) -> io::Result<()> {
        let mut written = self.written.lock();
        let (offsets_written, times_written) = &mut *written;
        write_tail(
            &self.offset_file,
            &self.offsets,
            offsets_written,
            OFFSET_ENTRY_BYTES,
            encode_offsets,
        )?;
        write_tail(
            &self.time_file,
            &self.times,
            times_written,
            TIME_ENTRY_BYTES,
            encode_times,
        )
    }

    /// Replaces both indexes (files and memory) with the given entries.
    pub fn replace(&self, offsets: Vec<OffsetEntry>, times: Vec<TimeEntry>) -> io::Result<()> {
        let mut written = self.written.lock();
        let mut offsets_guard = self.offsets.write();
        let mut times_guard = self.times.write();
        // Nothing is known to be in the files until both are rewritten.
        *written = (0, 0);
        self.offset_file.set_len(0)?;
        self.offset_file
            .write_all_at(&encode_offsets(&offsets), 0)?;
        self.time_file.set_len(0)?;
        self.time_file.write_all_at(&encode_times(&times), 0)?;
        *written = (offsets.len(), times.len());
        *offsets_guard = offsets;
        *times_guard = times;
        Ok(())
    }

    /// Writes pending entries, then fdatasyncs both files.
    pub fn sync(&self) -> io::Result<()> {
        self.write_pending()?;
        self.offset_file.sync_data()?;
        self.time_file.sync_data()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_rejects_bad_length_and_non_monotonic() {
        let good = encode_offsets(&[
            OffsetEntry {
                relative_offset: 3,
                position: 100,
            },
            OffsetEntry {
                relative_offset: 9,
                position: 300,
            },
        ]);
        assert_eq!(parse_offset_index(&good, 1000).unwrap().len(), 2);
        assert!(parse_offset_index(&good[..12], 1000).is_none());
        assert!(
            parse_offset_index(&good, 300).is_none(),
            "position past the log end"
        );
        let backwards = encode_offsets(&[
            OffsetEntry {
                relative_offset: 9,
                position: 100,
            },
            OffsetEntry {
                relative_offset: 3,
                position: 300,
            },
        ]);
        assert!(parse_offset_index(&backwards, 1000).is_none());
        let zeros = vec![0u8; 16];
        assert!(
            parse_offset_index(&zeros, 1000).is_none(),
            "zero-filled tail after a crash"
        );

        let times = encode_times(&[
            TimeEntry {
                timestamp: 5,
                relative_offset: 1,
            },
            TimeEntry {
                timestamp: 7,
                relative_offset: 1,
            },
        ]);
        assert_eq!(parse_time_index(&times).unwrap().len(), 2);
        assert!(parse_time_index(&times[..13]).is_none());
        let equal_times = encode_times(&[
            TimeEntry {
                timestamp: 5,
                relative_offset: 1,
            },
            TimeEntry {
                timestamp: 5,
                relative_offset: 2,
            },
        ]);
        assert!(parse_time_index(&equal_times).is_none());
    }

    #[test]
    fn lookups_find_greatest_lower_bound() {
        let dir = tempfile::tempdir().unwrap();
        let open = |name: &str| {
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(dir.path().join(name))
                .unwrap()
        };
        let indexes = SegmentIndexes::new(open("a.index"), open("a.timeindex"), vec![], vec![]);
        assert_eq!(indexes.lookup_position(100), 0);
        indexes.append_offset(OffsetEntry {
            relative_offset: 10,
            position: 500,
        });
        indexes.append_offset(OffsetEntry {
            relative_offset: 20,
            position: 900,
        });
        indexes.append_offset(OffsetEntry {
            relative_offset: 15,
            position: 950,
        }); // ignored
        assert_eq!(indexes.lookup_position(9), 0);
        assert_eq!(indexes.lookup_position(10), 500);
        assert_eq!(indexes.lookup_position(19), 500);
        assert_eq!(indexes.lookup_position(25), 900);
        let file_len = |name: &str| std::fs::metadata(dir.path().join(name)).unwrap().len();
        // Entries reach the file on write_pending, all at once.
        assert_eq!(file_len("a.index"), 0);
        indexes.write_pending().unwrap();
        assert_eq!(file_len("a.index"), 16);
        indexes.append_offset(OffsetEntry {
            relative_offset: 30,
            position: 1_000,
        });
        indexes.write_pending().unwrap();
        let bytes = read_whole(&indexes.offset_file).unwrap();
        assert_eq!(
            parse_offset_index(&bytes, 2_000).unwrap(),
            vec![
                OffsetEntry {
                    relative_offset: 10,
                    position: 500
                },
                OffsetEntry {
                    relative_offset: 20,
                    position: 900
                },
                OffsetEntry {
                    relative_offset: 30,
                    position: 1_000
                },
            ]
        );

        indexes.maybe_append_time(TimeEntry {
            timestamp: 100,
            relative_offset: 10,
        });
        indexes.maybe_append_time(TimeEntry {
            timestamp: 90,
            relative_offset: 20,
        }); // ignored
        indexes.maybe_append_time(TimeEntry {
            timestamp: 200,
            relative_offset: 20,
        });
        assert_eq!(indexes.lookup_time(99), None);
        assert_eq!(indexes.lookup_time(150).unwrap().relative_offset, 10);
        assert_eq!(file_len("a.timeindex"), 0);
        indexes.sync().unwrap();
        assert_eq!(file_len("a.timeindex"), 24);
    }
}
