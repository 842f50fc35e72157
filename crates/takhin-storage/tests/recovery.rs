#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Reopening logs: clean (no scan), unclean (scan from the recovery point), torn and corrupted
//! tails, damaged indexes, producer state across restarts.

mod common;

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use common::*;
use proptest::prelude::*;
use takhin_storage::{AppendError, Compression, LogConfig};

fn segment_file(dir: &Path, base: i64, suffix: &str) -> PathBuf {
    dir.join(format!("{TOPIC}-0/{base:020}.{suffix}"))
}

/// Appends `count` batches of 1-3 records; returns (base, last) per batch.
fn fill(log: &takhin_storage::Log, count: usize) -> Vec<(i64, i64)> {
    (0..count)
        .map(|index| {
            let outcome = append(log, &BatchSpec::plain(1 + index % 3, 40 + index % 50));
            (outcome.base_offset, outcome.last_offset)
        })
        .collect()
}

fn offsets(headers: &[takhin_storage::BatchHeader]) -> Vec<(i64, i64)> {
    headers
        .iter()
        .map(|header| (header.base_offset, header.last_offset()))
        .collect()
}

#[test]
fn clean_reopen_trusts_indexes_and_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_segments(3_000);
    let (log_dir, log, report) = open(dir.path(), config.clone());
    assert!(
        report.clean_shutdown,
        "a new partition has nothing to recover"
    );
    let batches = fill(&log, 60);
    let segments = log.segment_base_offsets();
    assert!(segments.len() > 3);
    let index_before = std::fs::read(segment_file(dir.path(), segments[1], "index")).unwrap();
    // Rolling wrote the segment's index entries (they are kept in memory until then).
    assert!(!index_before.is_empty());
    log_dir.close(std::slice::from_ref(&log)).unwrap();
    drop((log, log_dir));

    let (_log_dir, log, report) = open(dir.path(), config);
    assert!(report.clean_shutdown);
    assert_eq!(report.segments_scanned, 0, "{report}");
    assert_eq!(report.indexes_rebuilt, 0);
    assert_eq!(report.bytes_truncated, 0);
    let end = batches.last().unwrap().1 + 1;
    assert_eq!(report.producer_snapshot_offset, Some(end));
    assert_eq!(report.batches_replayed, 0);
    assert_eq!(log.log_end_offset(), end);
    assert_eq!(log.recovery_point(), end);
    assert_eq!(log.segment_base_offsets(), segments);
    assert_eq!(offsets(&read_all(&log, 0)), batches);
    assert_eq!(
        std::fs::read(segment_file(dir.path(), segments[1], "index")).unwrap(),
        index_before
    );
    assert!(
        report.to_string().starts_with("clean shutdown: "),
        "{report}"
    );
    let outcome = append(&log, &BatchSpec::plain(1, 10));
    assert_eq!(outcome.base_offset, end);
}

#[test]
fn unclean_reopen_scans_from_the_recovery_point() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_segments(2_000);
    let (log_dir, log, _) = open(dir.path(), config.clone());
    let mut batches = fill(&log, 40);
    log.flush().unwrap();
    log_dir.checkpoint(std::slice::from_ref(&log)).unwrap();
    let recovery_point = log.recovery_point();
    batches.extend(fill(&log, 20));
    let segments = log.segment_base_offsets();
    let scanned_expected = segments
        .iter()
        .filter(|base| {
            **base
                >= *segments
                    .iter()
                    .rev()
                    .find(|base| **base <= recovery_point)
                    .unwrap()
        })
        .count();
    // The active segment's index entries reach its file at a sync or a roll: none came since it
    // was created, so the crash loses them all.
    let active_index = segment_file(dir.path(), *segments.last().unwrap(), "index");
    assert_eq!(std::fs::metadata(&active_index).unwrap().len(), 0);
    drop((log, log_dir)); // no close: a crash

    let (_log_dir, log, report) = open(dir.path(), config);
    assert!(!report.clean_shutdown);
    assert_eq!(report.segments_scanned, scanned_expected, "{report}");
    assert!(scanned_expected < segments.len());
    assert_eq!(report.bytes_truncated, 0);
    assert_eq!(offsets(&read_all(&log, 0)), batches);
    // Recovery rebuilt them, and every batch is found from its offsets.
    assert!(std::fs::metadata(&active_index).unwrap().len() > 0);
    for (base, last) in &batches {
        for offset in [*base, *last] {
            let records = log.read(offset, 1, i64::MAX, true).unwrap().records;
            assert_eq!(offsets(&batch_headers(&records)), vec![(*base, *last)]);
        }
    }
    assert_eq!(log.recovery_point(), recovery_point);
    assert!(
        report.to_string().starts_with("unclean shutdown: "),
        "{report}"
    );
}

#[test]
fn restart_after_a_crash_verifies_only_what_the_last_checkpoint_did_not_cover() {
    let dir = tempfile::tempdir().unwrap();
    // One large active segment, as a busy partition has between rolls.
    let config = LogConfig {
        index_interval_bytes: 4096,
        ..small_segments(64 << 20)
    };
    let (log_dir, log, _) = open(dir.path(), config.clone());
    let mut batches: Vec<(i64, i64)> = (0..2_000)
        .map(|index| {
            let outcome = append(
                &log,
                &BatchSpec::plain(2, 1_000 + index % 700).at(1_000 + index as i64 % 97),
            );
            (outcome.base_offset, outcome.last_offset)
        })
        .collect();
    log.flush().unwrap();
    log_dir.checkpoint(std::slice::from_ref(&log)).unwrap();
    let checkpointed_bytes = log.size_bytes();
    batches.extend(fill(&log, 100));
    log.flush().unwrap();
    let written_after = log.size_bytes() - checkpointed_bytes;
    assert_eq!(log.segment_count(), 1);
    drop((log, log_dir)); // kill -9

    let full = tempfile::tempdir().unwrap();
    copy_dir(dir.path(), full.path());
    std::fs::remove_file(full.path().join("recovery-point-offset-checkpoint")).unwrap();

    let (_log_dir, log, report) = open(dir.path(), config.clone());
    assert!(!report.clean_shutdown);
    assert_eq!(report.segments_scanned, 1, "{report}");
    // What was written since the checkpoint, plus at most one index interval and a batch.
    assert!(report.bytes_verified >= written_after, "{report}");
    assert!(
        report.bytes_verified <= written_after + 4096 + 2 * 1_800,
        "{} bytes verified for {written_after} written after the checkpoint: {report}",
        report.bytes_verified
    );
    assert_eq!(offsets(&read_all(&log, 0)), batches);
    // The same state as a recovery that read everything: indexes byte for byte, timestamps,
    // and appends go on at the same offset.
    let (_full_dir, full_log, full_report) = open(full.path(), config);
    assert_eq!(
        full_report.bytes_verified,
        full_log.size_bytes(),
        "{full_report}"
    );
    for suffix in ["index", "timeindex"] {
        assert_eq!(
            std::fs::read(segment_file(dir.path(), 0, suffix)).unwrap(),
            std::fs::read(segment_file(full.path(), 0, suffix)).unwrap(),
            "{suffix}"
        );
    }
    assert_eq!(
        log.max_timestamp().unwrap(),
        full_log.max_timestamp().unwrap()
    );
    assert_eq!(
        log.offset_for_timestamp(1_050).unwrap(),
        full_log.offset_for_timestamp(1_050).unwrap()
    );
    assert_eq!(log.log_end_offset(), full_log.log_end_offset());
}

#[test]
fn damage_after_the_recovery_point_is_still_found_when_verification_resumes_there() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_segments(64 << 20);
    let (log_dir, log, _) = open(dir.path(), config.clone());
    let mut batches = fill(&log, 300);
    log.flush().unwrap();
    log_dir.checkpoint(std::slice::from_ref(&log)).unwrap();
    let checkpointed_bytes = log.size_bytes();
    batches.extend(fill(&log, 30));
    drop((log, log_dir));
    let path = segment_file(dir.path(), 0, "log");
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    let at = checkpointed_bytes + 100;
    let mut byte = [0u8; 1];
    file.read_exact_at(&mut byte, at).unwrap();
    file.write_all_at(&[byte[0] ^ 0x11], at).unwrap();
    drop(file);

    let (_log_dir, log, report) = open(dir.path(), config);
    let point = report.truncated_at.clone().expect("damage found");
    assert_eq!(point.position_bytes, checkpointed_bytes, "{report}");
    assert_eq!(point.offset, batches[300].0);
    assert_eq!(offsets(&read_all(&log, 0)), batches[..300].to_vec());
}

#[test]
fn unclean_reopen_without_checkpoint_scans_everything() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_segments(2_000);
    let (log_dir, log, _) = open(dir.path(), config.clone());
    let batches = fill(&log, 30);
    let segments = log.segment_count();
    drop((log, log_dir));
    let (_log_dir, log, report) = open(dir.path(), config);
    assert_eq!(report.segments_scanned, segments);
    assert_eq!(
        report.producer_snapshot_offset, None,
        "no snapshot at or below recovery point 0"
    );
    assert_eq!(offsets(&read_all(&log, 0)), batches);
}

/// Bytes of batch `(base, _)` as the log serves them.
fn batch_bytes(log: &takhin_storage::Log, base: i64) -> Vec<u8> {
    log.read(base, 1, i64::MAX, true).unwrap().records.to_vec()
}

#[test]
fn damage_in_a_closed_segment_loses_only_the_damaged_batch() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_segments(2_000);
    let (log_dir, log, _) = open(dir.path(), config.clone());
    let batches = fill(&log, 40);
    let segments = log.segment_base_offsets();
    assert!(segments.len() >= 4);
    let damaged = batches[batches
        .iter()
        .position(|(base, _)| *base == segments[2])
        .unwrap()];
    let next = batches[batches
        .iter()
        .position(|(base, _)| *base == segments[2])
        .unwrap()
        + 1];
    let damaged_bytes = batch_bytes(&log, damaged.0);
    drop((log, log_dir)); // a crash, with no recovery checkpoint: every segment is verified
    // Flip a byte in the records of the first batch of segment 2.
    let path = segment_file(dir.path(), segments[2], "log");
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    let mut byte = [0u8; 1];
    file.read_exact_at(&mut byte, 70).unwrap();
    file.write_all_at(&[byte[0] ^ 0x40], 70).unwrap();
    let mut flipped = damaged_bytes.clone();
    flipped[70] ^= 0x40;

    let (_log_dir, log, report) = open(dir.path(), config);
    assert!(report.truncated_at.is_none(), "{report}");
    let [range] = &report.damaged[..] else {
        panic!("one damaged range: {report}");
    };
    assert_eq!(range.file, path);
    assert_eq!(
        (range.position_bytes, range.end_position_bytes),
        (0, damaged_bytes.len() as u64)
    );
    assert_eq!((range.first_offset, range.end_offset), (damaged.0, next.0));
    assert!(range.reason.contains("CRC"), "{}", range.reason);
    // The damaged bytes are kept, outside the log.
    let kept = range.quarantined_to.clone().unwrap();
    assert!(kept.starts_with(dir.path().join("quarantine").join(format!("{TOPIC}-0"))));
    assert_eq!(std::fs::read(&kept).unwrap(), flipped);
    assert!(report.to_string().contains("damaged: "), "{report}");
    assert_eq!(log.damaged_ranges(), report.damaged);
    // Every other batch is there, in every segment, byte for byte, and so is the log end.
    assert_eq!(log.segment_base_offsets(), segments);
    let expected: Vec<(i64, i64)> = batches.iter().copied().filter(|b| *b != damaged).collect();
    assert_eq!(offsets(&read_all(&log, 0)), expected);
    assert_eq!(log.log_end_offset(), batches.last().unwrap().1 + 1);
    // Reading from an offset of the lost batch goes on with the next one.
    let records = log.read(damaged.0, 1, i64::MAX, true).unwrap().records;
    assert_eq!(offsets(&batch_headers(&records)), vec![next]);
    let end = log.log_end_offset();
    assert_eq!(append(&log, &BatchSpec::plain(1, 1)).base_offset, end);
}

/// The case: 4 KiB of garbage after the last batch of a closed segment. Kafka keeps
/// every record on a clean and on an unclean start; so must Takhin.
#[test]
fn garbage_after_a_closed_segment_keeps_every_later_record_on_clean_and_unclean_starts() {
    for clean in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let config = small_segments(20_000);
        let (log_dir, log, _) = open(dir.path(), config.clone());
        let batches = fill(&log, 400);
        let segments = log.segment_base_offsets();
        assert!(segments.len() >= 4, "{segments:?}");
        log.flush().unwrap();
        log_dir.checkpoint(std::slice::from_ref(&log)).unwrap();
        if clean {
            log_dir.close(std::slice::from_ref(&log)).unwrap();
        }
        drop((log, log_dir));
        let path = segment_file(dir.path(), segments[0], "log");
        let size = std::fs::metadata(&path).unwrap().len();
        let garbage: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 251) as u8 | 1).collect();
        file_append(&path, &garbage);

        let (_log_dir, log, report) = open(dir.path(), config);
        assert_eq!(report.clean_shutdown, clean);
        assert_eq!(log.segment_base_offsets(), segments, "{report}");
        assert_eq!(offsets(&read_all(&log, 0)), batches, "{report}");
        assert_eq!(std::fs::metadata(&path).unwrap().len(), size);
        let [range] = &report.damaged[..] else {
            panic!("one damaged range: {report}");
        };
        assert_eq!(
            (range.position_bytes, range.end_position_bytes),
            (size, size + 4096)
        );
        assert_eq!(
            (range.first_offset, range.end_offset),
            (segments[1], segments[1])
        );
        assert_eq!(
            std::fs::read(range.quarantined_to.as_ref().unwrap()).unwrap(),
            garbage
        );
    }
}

fn file_append(path: &Path, bytes: &[u8]) {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .unwrap()
        .write_all(bytes)
        .unwrap();
}

#[test]
fn garbage_between_batches_of_a_closed_segment_is_skipped_to_the_next_batch() {
    // 1 KiB of garbage inserted after the third batch of segment 1: nothing is lost but the
    // garbage, and the segment is rewritten without it.
    let dir = tempfile::tempdir().unwrap();
    let config = small_segments(2_000);
    let (log_dir, log, _) = open(dir.path(), config.clone());
    let batches = fill(&log, 40);
    let segments = log.segment_base_offsets();
    let in_segment_1: Vec<(i64, i64)> = batches
        .iter()
        .copied()
        .filter(|(base, _)| *base >= segments[1] && *base < segments[2])
        .collect();
    assert!(in_segment_1.len() >= 4);
    let at: usize = in_segment_1[..3]
        .iter()
        .map(|(base, _)| batch_bytes(&log, *base).len())
        .sum();
    log_dir.close(std::slice::from_ref(&log)).unwrap();
    drop((log, log_dir));
    let path = segment_file(dir.path(), segments[1], "log");
    let mut bytes = std::fs::read(&path).unwrap();
    let original = bytes.clone();
    let garbage: Vec<u8> = (0..1024u32).map(|i| (i % 13) as u8 + 2).collect();
    bytes.splice(at..at, garbage.iter().copied());
    std::fs::write(&path, &bytes).unwrap();
    // The clean open reads only the segment's tail; a missing index makes it verify it all.
    std::fs::remove_file(segment_file(dir.path(), segments[1], "index")).unwrap();

    let (_log_dir, log, report) = open(dir.path(), config.clone());
    let [range] = &report.damaged[..] else {
        panic!("one damaged range: {report}");
    };
    assert_eq!(
        (range.position_bytes, range.end_position_bytes),
        (at as u64, (at + garbage.len()) as u64)
    );
    assert_eq!(range.first_offset, in_segment_1[3].0);
    assert_eq!(range.end_offset, in_segment_1[3].0, "no offsets lost");
    assert_eq!(std::fs::read(&path).unwrap(), original);
    assert_eq!(offsets(&read_all(&log, 0)), batches);
    drop((log, _log_dir));
    // Nothing is left to find, and no `.cleaned` file is left behind.
    let (_log_dir, _log, report) = open(dir.path(), config);
    assert!(report.damaged.is_empty(), "{report}");
    assert!(
        std::fs::read_dir(dir.path().join(format!("{TOPIC}-0")))
            .unwrap()
            .all(|entry| !entry
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".cleaned"))
    );
}

#[test]
fn lost_tail_at_a_batch_boundary_is_a_gap_and_keeps_later_segments() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_segments(2_000);
    let (log_dir, log, _) = open(dir.path(), config.clone());
    let batches = fill(&log, 40);
    let segments = log.segment_base_offsets();
    assert!(segments.len() >= 3);
    drop((log, log_dir));
    // Segment 1 loses its last batch exactly at a batch boundary: no torn bytes, but an offset
    // gap before segment 2.
    let in_segment_1: Vec<&(i64, i64)> = batches
        .iter()
        .filter(|(base, _)| *base >= segments[1] && *base < segments[2])
        .collect();
    assert!(in_segment_1.len() >= 2);
    let path = segment_file(dir.path(), segments[1], "log");
    let size = std::fs::metadata(&path).unwrap().len();
    let last_size = {
        let (_log_dir, log, _) = open(dir.path(), config.clone());
        let (base, _) = in_segment_1.last().unwrap();
        log.read(*base, 1, i64::MAX, true).unwrap().records.len() as u64
    };
    std::fs::remove_file(dir.path().join(".kafka_cleanshutdown")).ok();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(size - last_size)
        .unwrap();

    let (_log_dir, log, report) = open(dir.path(), config);
    let lost = **in_segment_1.last().unwrap();
    assert!(report.truncated_at.is_none(), "{report}");
    let [range] = &report.damaged[..] else {
        panic!("one gap: {report}");
    };
    assert_eq!(
        (range.first_offset, range.end_offset),
        (lost.0, segments[2])
    );
    assert!(range.reason.contains("next one starts"), "{report}");
    assert_eq!(range.quarantined_to, None);
    assert_eq!(log.segment_base_offsets(), segments);
    let expected: Vec<(i64, i64)> = batches.iter().copied().filter(|b| *b != lost).collect();
    assert_eq!(offsets(&read_all(&log, 0)), expected);
    assert_eq!(log.log_end_offset(), batches.last().unwrap().1 + 1);
}

/// A log whose active segment keeps `bytes` of written zeros ahead (durable topics).
fn preallocating(segment_bytes: u64, bytes: u64) -> LogConfig {
    LogConfig {
        preallocate_bytes: bytes,
        ..small_segments(segment_bytes)
    }
}

/// Bytes of data per segment (the sum of its batches), from reading the log back.
fn data_bytes_per_segment(log: &takhin_storage::Log) -> Vec<(i64, u64)> {
    let segments = log.segment_base_offsets();
    let mut sizes: Vec<(i64, u64)> = segments.iter().map(|base| (*base, 0)).collect();
    for header in read_all(log, 0) {
        let index = segments
            .iter()
            .rposition(|base| *base <= header.base_offset)
            .unwrap();
        sizes[index].1 += header.total_size() as u64;
    }
    sizes
}

fn file_len(dir: &Path, base: i64) -> u64 {
    std::fs::metadata(segment_file(dir, base, "log"))
        .unwrap()
        .len()
}

#[test]
fn preallocated_zeros_stay_ahead_of_small_appends_and_never_read_as_data() {
    let dir = tempfile::tempdir().unwrap();
    let config = preallocating(12_000, 8_192);
    let (log_dir, log, _) = open(dir.path(), config.clone());
    let mut batches = fill(&log, 150);
    let sizes = data_bytes_per_segment(&log);
    assert!(sizes.len() >= 3, "{sizes:?}");
    // Closed segments were trimmed to their data when they rolled.
    for (base, data) in &sizes[..sizes.len() - 1] {
        assert_eq!(file_len(dir.path(), *base), *data, "segment {base}");
    }
    // The active one runs ahead with zeros: at least half the window, never past segment.bytes.
    let (active, data) = *sizes.last().unwrap();
    let file = file_len(dir.path(), active);
    assert!(
        file >= (data + 4_096).min(12_000) && file <= (data + 8_192).min(12_000),
        "{file} {data}"
    );
    let tail = std::fs::read(segment_file(dir.path(), active, "log")).unwrap();
    assert!(tail[data as usize..].iter().all(|byte| *byte == 0));
    // Reads stop at the data.
    assert_eq!(offsets(&read_all(&log, 0)), batches);
    drop((log, log_dir)); // a crash: the zeros stay on disk

    let (log_dir, log, report) = open(dir.path(), config.clone());
    assert!(!report.clean_shutdown);
    assert_eq!(report.bytes_truncated, 0, "{report}");
    assert!(report.truncated_at.is_none(), "{report}");
    assert_eq!(report.preallocated_bytes_trimmed, file - data, "{report}");
    assert!(
        report.to_string().contains("preallocated bytes trimmed"),
        "{report}"
    );
    assert_eq!(file_len(dir.path(), active), data);
    assert_eq!(offsets(&read_all(&log, 0)), batches);

    // Appends go on from the recovered end; a clean close trims the active segment too.
    batches.extend(fill(&log, 10));
    assert!(file_len(dir.path(), active) > data_bytes_per_segment(&log).last().unwrap().1);
    log_dir.close(std::slice::from_ref(&log)).unwrap();
    let sizes = data_bytes_per_segment(&log);
    drop((log, log_dir));
    for (base, data) in &sizes {
        assert_eq!(file_len(dir.path(), *base), *data, "segment {base}");
    }
    let (_log_dir, log, report) = open(dir.path(), config);
    assert!(report.clean_shutdown);
    assert_eq!(report.segments_scanned, 0, "{report}");
    assert_eq!(offsets(&read_all(&log, 0)), batches);
}

/// A log of several preallocating segments, closed cleanly: its directory, the batches written,
/// their headers and the segments' base offsets.
type ClosedLog = (
    tempfile::TempDir,
    Vec<(i64, i64)>,
    Vec<takhin_storage::BatchHeader>,
    Vec<i64>,
);

fn closed_preallocating_log(config: &LogConfig) -> ClosedLog {
    let dir = tempfile::tempdir().unwrap();
    let (log_dir, log, _) = open(dir.path(), config.clone());
    let batches = fill(&log, 150);
    log_dir.close(std::slice::from_ref(&log)).unwrap();
    let headers = read_all(&log, 0);
    let bases = log.segment_base_offsets();
    assert!(bases.len() >= 3, "{bases:?}");
    (dir, batches, headers, bases)
}

#[test]
fn zeros_left_on_a_closed_segment_are_trimmed_without_a_full_scan() {
    // A power loss after a roll can keep a closed segment's zeros on disk (its trim not yet
    // durable) below the recovery point, where the open trusts indexes and scans only the tail.
    let config = preallocating(12_000, 8_192);
    let (dir, batches, _, bases) = closed_preallocating_log(&config);
    let closed = bases[1];
    let data = file_len(dir.path(), closed);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(segment_file(dir.path(), closed, "log"))
        .unwrap();
    file.set_len(data + 5_000).unwrap();
    drop(file);

    let (_log_dir, log, report) = open(dir.path(), config);
    assert!(report.clean_shutdown);
    assert_eq!(report.segments_scanned, 0, "{report}");
    assert_eq!(report.preallocated_bytes_trimmed, 5_000, "{report}");
    assert!(report.truncated_at.is_none(), "{report}");
    assert_eq!(file_len(dir.path(), closed), data);
    assert_eq!(offsets(&read_all(&log, 0)), batches);
}

#[test]
fn zeros_in_place_of_a_closed_segments_last_batch_are_a_gap() {
    // With a dense offset index the zeroed batch is the indexed one (load_tail refuses it);
    // with no index entries it lies past them and is trimmed, and the open must then notice
    // the segment ends short of the next one.
    for index_interval_bytes in [256, 1 << 20] {
        let config = LogConfig {
            index_interval_bytes,
            ..preallocating(12_000, 8_192)
        };
        let (dir, batches, headers, bases) = closed_preallocating_log(&config);
        let closed = bases[1];
        let last = headers
            .iter()
            .rfind(|header| header.base_offset >= closed && header.base_offset < bases[2])
            .unwrap();
        let path = segment_file(dir.path(), closed, "log");
        let mut bytes = std::fs::read(&path).unwrap();
        let at = bytes.len() - last.total_size();
        bytes[at..].fill(0);
        std::fs::write(&path, &bytes).unwrap();

        let (_log_dir, log, report) = open(dir.path(), config);
        assert!(report.truncated_at.is_none(), "{report}");
        let range = report.damaged.first().expect("a gap is reported");
        assert_eq!(
            (range.first_offset, range.end_offset),
            (last.base_offset, bases[2]),
            "{report}"
        );
        let expected: Vec<(i64, i64)> = batches
            .into_iter()
            .filter(|(base, _)| *base != last.base_offset)
            .collect();
        assert_eq!(
            offsets(&read_all(&log, 0)),
            expected,
            "{index_interval_bytes}"
        );
    }
}

#[test]
fn appends_larger_than_a_quarter_of_the_window_write_no_zeros() {
    let dir = tempfile::tempdir().unwrap();
    let (_log_dir, log, _) = open(dir.path(), preallocating(1 << 20, 8_192));
    for _ in 0..5 {
        append(&log, &BatchSpec::plain(3, 1_000));
    }
    let (base, data) = data_bytes_per_segment(&log)[0];
    assert_eq!(file_len(dir.path(), base), data);
}

#[test]
fn a_torn_batch_before_preallocated_zeros_is_still_damage() {
    let dir = tempfile::tempdir().unwrap();
    let config = preallocating(1 << 20, 8_192);
    let (log_dir, log, _) = open(dir.path(), config.clone());
    let batches = fill(&log, 20);
    let (base, data) = data_bytes_per_segment(&log)[0];
    let (last_base, _) = *batches.last().unwrap();
    let last_len = log
        .read(last_base, 1, i64::MAX, true)
        .unwrap()
        .records
        .len() as u64;
    drop((log, log_dir));
    // The last batch's second half never reached the disk: zeros, like the space after it.
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(segment_file(dir.path(), base, "log"))
        .unwrap();
    let cut = data - last_len / 2;
    file.write_all_at(&vec![0; (data - cut) as usize], cut)
        .unwrap();
    drop(file);

    let (_log_dir, log, report) = open(dir.path(), config);
    let point = report.truncated_at.clone().expect("damage reported");
    assert_eq!(point.position_bytes, data - last_len, "{report}");
    assert_eq!(point.offset, last_base);
    assert_eq!(log.log_end_offset(), last_base);
    assert_eq!(file_len(dir.path(), base), data - last_len);
    assert_eq!(
        offsets(&read_all(&log, 0)),
        batches[..batches.len() - 1].to_vec()
    );
}

#[test]
fn bad_or_missing_indexes_are_rebuilt_on_clean_open() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_segments(3_000);
    let (log_dir, log, _) = open(dir.path(), config.clone());
    let batches = fill(&log, 50);
    let segments = log.segment_base_offsets();
    log_dir.close(std::slice::from_ref(&log)).unwrap();
    drop((log, log_dir));
    let index0 = segment_file(dir.path(), segments[0], "index");
    let original = std::fs::read(&index0).unwrap();
    assert!(original.len() >= 16);
    std::fs::write(&index0, &original[..original.len() - 3]).unwrap(); // not a multiple of 8
    let mut swapped = original.clone();
    swapped.swap(3, 11); // non-monotonic relative offsets
    std::fs::write(segment_file(dir.path(), segments[1], "index"), &swapped).unwrap();
    std::fs::remove_file(segment_file(dir.path(), segments[2], "timeindex")).unwrap();

    let (_log_dir, log, report) = open(dir.path(), config);
    assert_eq!(report.indexes_rebuilt, 3, "{report}");
    assert_eq!(report.bytes_truncated, 0);
    assert_eq!(
        std::fs::read(&index0).unwrap(),
        original,
        "rebuilt index equals the one written live"
    );
    for (base, last) in &batches {
        for offset in [*base, *last] {
            let headers = batch_headers(&log.read(offset, 1, i64::MAX, true).unwrap().records);
            assert_eq!(offsets(&headers), vec![(*base, *last)]);
        }
    }
}

#[test]
fn leftovers_are_removed_and_stale_snapshots_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let (log_dir, log, _) = open(dir.path(), LogConfig::default());
    fill(&log, 3);
    let log_path = log.dir().to_path_buf();
    drop((log, log_dir));
    std::fs::write(log_path.join("leader-epoch-checkpoint.tmp"), b"garbage").unwrap();
    std::fs::write(log_path.join("00000000000000000099.index"), [0u8; 8]).unwrap();
    std::fs::write(
        log_path.join("00000000000000000500.snapshot"),
        b"beyond the end",
    )
    .unwrap();
    let (_log_dir, log, _) = open(dir.path(), LogConfig::default());
    assert!(!log_path.join("leader-epoch-checkpoint.tmp").exists());
    assert!(!log_path.join("00000000000000000099.index").exists());
    assert!(!log_path.join("00000000000000000500.snapshot").exists());
    assert_eq!(log.segment_count(), 1);
}

#[test]
fn torn_tail_drops_leader_epochs_beyond_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let (log_dir, log, _) = open(dir.path(), LogConfig::default());
    let options = |epoch| takhin_storage::AppendOptions {
        now_ms: 0,
        leader_epoch: epoch,
    };
    log.append(BatchSpec::plain(2, 10).validated(), options(1))
        .unwrap();
    log.append(BatchSpec::plain(2, 10).validated(), options(2))
        .unwrap();
    assert_eq!(log.epoch_entries(), vec![(1, 0), (2, 2)]);
    let path = segment_file(dir.path(), 0, "log");
    drop((log, log_dir));
    let size = std::fs::metadata(&path).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(size - 5)
        .unwrap();
    let (_log_dir, log, report) = open(dir.path(), LogConfig::default());
    assert_eq!(log.log_end_offset(), 2);
    assert_eq!(log.epoch_entries(), vec![(1, 0)], "{report}");
    assert_eq!(
        std::fs::read_to_string(log.dir().join("leader-epoch-checkpoint")).unwrap(),
        "0\n1\n1 0\n"
    );
}

// ---------------------------------------------------------------------------------------------
// Idempotent producers.

fn idempotent(
    log: &takhin_storage::Log,
    epoch: i16,
    sequence: i32,
    records: usize,
) -> Result<takhin_storage::AppendOutcome, AppendError> {
    log.append(
        BatchSpec::idempotent(42, epoch, sequence, records).validated(),
        options(0),
    )
}

#[test]
fn idempotent_duplicates_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (_log_dir, log, _) = open(dir.path(), LogConfig::default());
    let first = idempotent(&log, 0, 0, 3).unwrap();
    assert_eq!(
        (first.base_offset, first.last_offset, first.duplicate),
        (0, 2, false)
    );
    append(&log, &BatchSpec::plain(2, 10)); // offsets 3-4, no producer
    let second = idempotent(&log, 0, 3, 2).unwrap();
    assert_eq!((second.base_offset, second.last_offset), (5, 6));
    let end = log.log_end_offset();
    let retry = idempotent(&log, 0, 0, 3).unwrap();
    assert_eq!(
        (retry.base_offset, retry.last_offset, retry.duplicate),
        (0, 2, true)
    );
    assert_eq!(log.log_end_offset(), end, "a duplicate writes nothing");
    assert!(matches!(
        idempotent(&log, 0, 7, 1),
        Err(AppendError::OutOfOrderSequence {
            producer_id: 42,
            expected: 5,
            received: 7
        })
    ));
    assert!(matches!(
        idempotent(&log, 0, 4, 1),
        Err(AppendError::OutOfOrderSequence {
            expected: 5,
            received: 4,
            ..
        })
    ));
    assert!(matches!(
        idempotent(&log, 1, 5, 1),
        Err(AppendError::OutOfOrderSequence {
            expected: 0,
            received: 5,
            ..
        })
    ));
    assert_eq!(idempotent(&log, 1, 0, 1).unwrap().base_offset, 7);
    assert!(matches!(
        idempotent(&log, 0, 5, 1),
        Err(AppendError::InvalidProducerEpoch {
            current: 1,
            received: 0,
            ..
        })
    ));
    assert!(matches!(
        log.append(BatchSpec::idempotent(43, 0, 9, 1).validated(), options(0)),
        Err(AppendError::OutOfOrderSequence {
            producer_id: 43,
            expected: 0,
            received: 9
        })
    ));
    assert_eq!(log.log_end_offset(), 8, "rejected batches write nothing");
    // Only the last five batches are remembered.
    for index in 0..6 {
        idempotent(&log, 1, 1 + index, 1).unwrap();
    }
    assert!(idempotent(&log, 1, 2, 1).unwrap().duplicate);
    assert!(
        idempotent(&log, 1, 1, 1).is_err(),
        "the sixth-newest batch is forgotten: out of order"
    );
}

/// Writes producer batches across several segments; returns (sequence, base, last) per batch.
fn producer_history(log: &takhin_storage::Log) -> Vec<(i32, i64, i64)> {
    let mut history = Vec::new();
    let mut sequence = 0;
    for index in 0..20usize {
        let records = 1 + index % 3;
        let outcome = idempotent(log, 0, sequence, records).unwrap();
        history.push((sequence, outcome.base_offset, outcome.last_offset));
        sequence += records as i32;
        append(log, &BatchSpec::plain(1, 200));
    }
    history
}

fn assert_duplicates_detected(log: &takhin_storage::Log, history: &[(i32, i64, i64)]) {
    let end = log.log_end_offset();
    for (sequence, base, last) in &history[history.len() - 5..] {
        let records = (last - base + 1) as usize;
        let retry = idempotent(log, 0, *sequence, records).unwrap();
        assert!(retry.duplicate, "sequence {sequence}");
        assert_eq!((retry.base_offset, retry.last_offset), (*base, *last));
    }
    assert_eq!(log.log_end_offset(), end);
    let (sequence, base, last) = history.last().unwrap();
    let next = sequence + (last - base + 1) as i32;
    assert!(
        matches!(idempotent(log, 0, next + 1, 1), Err(AppendError::OutOfOrderSequence { expected, .. }) if expected == next)
    );
    assert_eq!(idempotent(log, 0, next, 1).unwrap().base_offset, end);
}

#[test]
fn duplicates_detected_after_clean_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_segments(1_500);
    let (log_dir, log, _) = open(dir.path(), config.clone());
    let history = producer_history(&log);
    assert!(log.segment_count() > 2);
    log_dir.close(std::slice::from_ref(&log)).unwrap();
    drop((log, log_dir));
    let (_log_dir, log, report) = open(dir.path(), config);
    assert_eq!(report.batches_replayed, 0);
    assert_duplicates_detected(&log, &history);
}

#[test]
fn duplicates_detected_after_unclean_reopen() {
    for checkpoint in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let config = small_segments(1_500);
        let (log_dir, log, _) = open(dir.path(), config.clone());
        let history = producer_history(&log);
        if checkpoint {
            // A recovery point in the middle (as if checkpointed earlier): a roll snapshot at or
            // below it is used, then the batches after it are replayed.
            log.flush().unwrap();
            let mut snapshots: Vec<i64> = std::fs::read_dir(log.dir())
                .unwrap()
                .filter_map(|entry| {
                    entry
                        .unwrap()
                        .file_name()
                        .to_str()?
                        .strip_suffix(".snapshot")?
                        .parse()
                        .ok()
                })
                .collect();
            snapshots.sort();
            assert_eq!(snapshots.len(), 2, "the two newest roll snapshots are kept");
            let recovery_point = snapshots[0] + 1;
            std::fs::write(
                dir.path().join("recovery-point-offset-checkpoint"),
                format!("0\n1\n{TOPIC} 0 {recovery_point}\n"),
            )
            .unwrap();
        }
        drop((log, log_dir)); // crash
        let (_log_dir, log, report) = open(dir.path(), config);
        if checkpoint {
            let snapshot = report
                .producer_snapshot_offset
                .expect("a roll snapshot below the recovery point");
            assert!(snapshot > 0 && snapshot < log.log_end_offset(), "{report}");
            assert!(report.segments_scanned >= 2, "{report}");
        } else {
            assert_eq!(report.producer_snapshot_offset, None);
        }
        assert!(report.batches_replayed > 0);
        assert_duplicates_detected(&log, &history);
    }
}

#[test]
fn torn_snapshot_falls_back_to_replay() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_segments(1_500);
    let (log_dir, log, _) = open(dir.path(), config.clone());
    let history = producer_history(&log);
    log_dir.close(std::slice::from_ref(&log)).unwrap();
    let snapshot = log
        .dir()
        .join(format!("{:020}.snapshot", log.log_end_offset()));
    drop((log, log_dir));
    let bytes = std::fs::read(&snapshot).unwrap();
    std::fs::write(&snapshot, &bytes[..bytes.len() / 2]).unwrap();
    let (_log_dir, log, report) = open(dir.path(), config);
    assert!(
        report
            .producer_snapshot_offset
            .is_some_and(|offset| offset < log.log_end_offset())
            || report.producer_snapshot_offset.is_none()
    );
    assert!(report.batches_replayed > 0);
    assert_duplicates_detected(&log, &history);
}

// ---------------------------------------------------------------------------------------------
// Property: damage to the tail of the last segment loses exactly the damaged batch and what
// follows it.

#[derive(Clone, Debug)]
struct Appended {
    base: i64,
    last: i64,
    segment: i64,
    position: u64,
    bytes: Bytes,
}

fn codec(index: u8) -> Compression {
    [
        Compression::None,
        Compression::Gzip,
        Compression::Lz4,
        Compression::Zstd,
    ][usize::from(index % 4)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn recovery_keeps_exactly_the_good_prefix(
        specs in proptest::collection::vec((1usize..6, 0usize..300, 0u8..4), 1..30),
        torn in proptest::bool::ANY,
        damage_fraction in 0.0f64..1.0,
        flip in 1u8..=255,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let config = small_segments(1_500);
        let (log_dir, log, _) = open(dir.path(), config.clone());
        for (records, value_bytes, codec_index) in &specs {
            append(&log, &BatchSpec::plain(*records, *value_bytes).compressed(codec(*codec_index)));
        }
        let segments = log.segment_base_offsets();
        let mut appended: Vec<Appended> = Vec::new();
        for header in read_all(&log, 0) {
            let segment = *segments.iter().rev().find(|base| **base <= header.base_offset).unwrap();
            let position = appended.iter().filter(|batch| batch.segment == segment).map(|batch| batch.bytes.len() as u64).sum();
            let bytes = log.read(header.base_offset, 1, i64::MAX, true).unwrap().records;
            appended.push(Appended { base: header.base_offset, last: header.last_offset(), segment, position, bytes });
        }
        let last_segment = *segments.last().unwrap();
        // Index entries reach the file at a sync; take the live index as written by one.
        log.flush().unwrap();
        let index_before = std::fs::read(segment_file(dir.path(), last_segment, "index")).unwrap();
        drop((log, log_dir)); // crash: no clean shutdown marker

        let log_path = segment_file(dir.path(), last_segment, "log");
        let size = std::fs::metadata(&log_path).unwrap().len();
        prop_assume!(size > 0);
        let damage = ((size as f64 * damage_fraction) as u64).min(size - 1);
        let file = std::fs::OpenOptions::new().read(true).write(true).open(&log_path).unwrap();
        let damaged_batch = appended.iter().find(|batch| batch.segment == last_segment && batch.position <= damage && damage < batch.position + batch.bytes.len() as u64).unwrap();
        let valid_bytes = if torn {
            file.set_len(damage).unwrap();
            // A cut exactly at a batch boundary damages nothing.
            damaged_batch.position
        } else {
            let within = damage - damaged_batch.position;
            // partitionLeaderEpoch (bytes 12..16) is outside the CRC by design: undetectable.
            prop_assume!(!(12..16).contains(&within));
            let mut byte = [0u8; 1];
            file.read_exact_at(&mut byte, damage).unwrap();
            file.write_all_at(&[byte[0] ^ flip], damage).unwrap();
            damaged_batch.position
        };
        drop(file);

        let (_log_dir, log, report) = open(dir.path(), config);
        let expected: Vec<&Appended> = appended.iter().filter(|batch| batch.segment != last_segment || batch.position + (batch.bytes.len() as u64) <= valid_bytes).collect();
        let end = expected.last().map_or(0, |batch| batch.last + 1).max(last_segment.min(damaged_batch.base));
        prop_assert_eq!(log.log_end_offset(), end, "{}", report);
        prop_assert_eq!(std::fs::metadata(&log_path).unwrap().len(), valid_bytes);
        // A torn prefix of zeros (a base offset of 0 cut early) cannot be told from space
        // preallocated ahead of the data: trimmed as such, not reported as damage.
        let zeros_left = torn && damaged_batch.bytes[..(damage - damaged_batch.position) as usize].iter().all(|byte| *byte == 0);
        if zeros_left {
            prop_assert!(report.truncated_at.is_none(), "{}", report);
            prop_assert_eq!(report.preallocated_bytes_trimmed, damage - damaged_batch.position);
        } else if !torn || damage != damaged_batch.position {
            let point = report.truncated_at.clone().expect("damage reported");
            prop_assert_eq!(point.file, log_path.clone());
            prop_assert_eq!(point.position_bytes, valid_bytes);
            prop_assert_eq!(point.offset, damaged_batch.base);
        }
        // Every good batch reads back byte for byte, at every offset it holds.
        let read = read_all(&log, 0);
        prop_assert_eq!(read.len(), expected.len());
        for batch in &expected {
            for offset in [batch.base, batch.last] {
                let bytes = log.read(offset, 1, i64::MAX, true).unwrap().records;
                prop_assert_eq!(&bytes, &batch.bytes);
            }
        }
        // The rebuilt offset index is the live one minus entries for dropped batches.
        let index_after = std::fs::read(segment_file(dir.path(), last_segment, "index")).unwrap();
        let expected_index: Vec<u8> = index_before
            .chunks_exact(8)
            .filter(|entry| u64::from(u32::from_be_bytes([entry[4], entry[5], entry[6], entry[7]])) < valid_bytes)
            .flatten()
            .copied()
            .collect();
        prop_assert_eq!(index_after, expected_index);
        prop_assert_eq!(std::fs::metadata(segment_file(dir.path(), last_segment, "timeindex")).unwrap().len() % 12, 0);
        // The log accepts appends at the recovered end.
        let outcome = append(&log, &BatchSpec::plain(1, 5));
        prop_assert_eq!(outcome.base_offset, end);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    /// A byte flipped anywhere in a closed segment, clean or unclean start, loses that batch and
    /// nothing else. (Not in baseOffset, bytes 0..8, outside the CRC: a changed base offset can
    /// make its neighbour look out of order too; nor in partitionLeaderEpoch, 12..16, which no
    /// check covers.)
    #[test]
    fn damage_in_a_closed_segment_loses_only_its_batch(
        specs in proptest::collection::vec((1usize..6, 0usize..300, 0u8..4), 8..40),
        clean in proptest::bool::ANY,
        segment_choice in 0usize..100,
        damage_fraction in 0.0f64..1.0,
        flip in 1u8..=255,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let config = small_segments(1_500);
        let (log_dir, log, _) = open(dir.path(), config.clone());
        for (records, value_bytes, codec_index) in &specs {
            append(&log, &BatchSpec::plain(*records, *value_bytes).compressed(codec(*codec_index)));
        }
        let segments = log.segment_base_offsets();
        prop_assume!(segments.len() >= 2);
        let segment = segments[segment_choice % (segments.len() - 1)];
        let all: Vec<(i64, i64, Vec<u8>)> = read_all(&log, 0)
            .iter()
            .map(|header| (header.base_offset, header.last_offset(), batch_bytes(&log, header.base_offset)))
            .collect();
        if clean {
            log_dir.close(std::slice::from_ref(&log)).unwrap();
        }
        drop((log, log_dir));
        let path = segment_file(dir.path(), segment, "log");
        let size = std::fs::metadata(&path).unwrap().len();
        let damage = ((size as f64 * damage_fraction) as u64).min(size - 1);
        let mut position = 0u64;
        let mut damaged = None;
        for (base, last, bytes) in all.iter().filter(|(base, ..)| *base >= segment && segments.iter().rev().find(|s| **s <= *base) == Some(&segment)) {
            if damage < position + bytes.len() as u64 {
                damaged = Some((*base, *last, damage - position));
                break;
            }
            position += bytes.len() as u64;
        }
        let (damaged_base, damaged_last, within) = damaged.unwrap();
        prop_assume!(!(0..8).contains(&within) && !(12..16).contains(&within));
        let file = std::fs::OpenOptions::new().read(true).write(true).open(&path).unwrap();
        let mut byte = [0u8; 1];
        file.read_exact_at(&mut byte, damage).unwrap();
        file.write_all_at(&[byte[0] ^ flip], damage).unwrap();
        drop(file);
        // A clean open trusts the segment and reads only its tail: the index going missing
        // (or the scrubber) is what makes it look at every batch.
        std::fs::remove_file(segment_file(dir.path(), segment, "index")).unwrap();

        let (_log_dir, log, report) = open(dir.path(), config);
        prop_assert!(report.truncated_at.is_none(), "{}", report);
        prop_assert_eq!(report.damaged.len(), 1, "{}", report);
        prop_assert_eq!(report.damaged[0].first_offset, damaged_base);
        prop_assert_eq!(log.segment_base_offsets(), segments);
        let expected: Vec<&(i64, i64, Vec<u8>)> = all.iter().filter(|(base, ..)| *base != damaged_base).collect();
        let read = read_all(&log, 0);
        prop_assert_eq!(read.len(), expected.len(), "{}", report);
        for (base, last, bytes) in expected {
            for offset in [*base, *last] {
                prop_assert_eq!(&batch_bytes(&log, offset), bytes);
            }
        }
        prop_assert!(damaged_last < log.log_end_offset());
    }
}

#[test]
fn damage_with_no_room_for_a_copy_is_still_moved_out_of_the_log() {
    // No room for the quarantine (here: a file where its directory would go; ENOSPC fails the
    // copy the same way): the partition must still open, the damage must still leave the log,
    // and the report says no copy was kept.
    let dir = tempfile::tempdir().unwrap();
    let config = small_segments(2_000);
    let (log_dir, log, _) = open(dir.path(), config.clone());
    let batches = fill(&log, 40);
    let segments = log.segment_base_offsets();
    drop((log, log_dir));
    std::fs::write(dir.path().join("quarantine"), b"in the way").unwrap();
    let path = segment_file(dir.path(), segments[1], "log");
    let size = std::fs::metadata(&path).unwrap().len();
    file_append(&path, &[0xAB; 512]);

    let (_log_dir, log, report) = open(dir.path(), config);
    let [range] = &report.damaged[..] else {
        panic!("one damaged range: {report}");
    };
    assert_eq!(
        (range.position_bytes, range.end_position_bytes),
        (size, size + 512)
    );
    assert_eq!(range.quarantined_to, None);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), size);
    assert_eq!(log.segment_base_offsets(), segments);
    assert_eq!(offsets(&read_all(&log, 0)), batches);
}
