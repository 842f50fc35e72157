#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Retention (`Log::delete_expired_segments`): which segments go by `retention.ms` and
//! `retention.bytes`, that the active segment and data at or above the high watermark stay, that
//! the log start offset moves and reads below it are out of range, and that the log start
//! survives clean and unclean reopens.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::*;
use takhin_storage::{Log, LogConfig, ReadError, RetentionPolicy};

/// Two records per batch, two batches per segment: segment bases 0, 4, 8, ...
const RECORDS_PER_BATCH: usize = 2;
const BATCHES_PER_SEGMENT: u64 = 2;

fn spec() -> BatchSpec {
    BatchSpec::plain(RECORDS_PER_BATCH, 100)
}

fn config() -> LogConfig {
    small_segments(spec().encode().len() as u64 * BATCHES_PER_SEGMENT)
}

/// Bytes of one full segment.
fn segment_bytes() -> u64 {
    spec().encode().len() as u64 * BATCHES_PER_SEGMENT
}

/// Appends two batches per entry of `segment_max_timestamps`, so segment `i` ends up with the
/// largest timestamp `segment_max_timestamps[i]`; the last entry is the active segment.
fn fill(log: &Log, segment_max_timestamps: &[i64]) {
    for &max_timestamp in segment_max_timestamps {
        for _ in 0..BATCHES_PER_SEGMENT {
            // Record i of a batch has timestamp base + i.
            append(
                log,
                &spec().at(max_timestamp - (RECORDS_PER_BATCH as i64 - 1)),
            );
        }
    }
    let expected: Vec<i64> = (0..segment_max_timestamps.len() as i64)
        .map(|index| index * 4)
        .collect();
    assert_eq!(log.segment_base_offsets(), expected);
}

fn by_time(retention_ms: i64) -> RetentionPolicy {
    RetentionPolicy {
        retention_ms,
        retention_bytes: -1,
    }
}

fn by_size(retention_bytes: i64) -> RetentionPolicy {
    RetentionPolicy {
        retention_ms: -1,
        retention_bytes,
    }
}

fn segment_exists(dir: &Path, base_offset: i64) -> bool {
    dir.join(format!("{TOPIC}-0/{base_offset:020}.log"))
        .exists()
}

fn assert_out_of_range(log: &Log, offset: i64) {
    match log.read(offset, 1 << 20, i64::MAX, true) {
        Err(ReadError::OffsetOutOfRange {
            requested,
            log_start_offset,
            ..
        }) => {
            assert_eq!(requested, offset);
            assert_eq!(log_start_offset, log.log_start_offset());
        }
        other => panic!("read at {offset}: expected OffsetOutOfRange, got {other:?}"),
    }
}

#[test]
fn retention_ms_deletes_expired_segments_from_the_oldest_and_stops_at_the_first_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (_log_dir, log, _) = open(dir.path(), config());
    // Segment 3 is older than segment 2, but deletion stops at segment 2 (Kafka's rule: a
    // prefix of the log goes, never a hole in it).
    fill(&log, &[1_000, 2_000, 3_000, 500, 5_000]);
    let end = log.log_end_offset();

    let nothing = log
        .delete_expired_segments(by_time(-1), 1 << 40, end)
        .unwrap();
    assert_eq!(
        nothing.segments_deleted, 0,
        "retention.ms=-1 keeps everything"
    );
    assert_eq!(log.log_start_offset(), 0);

    // now - 2_000 = 1_500 > 1_000 (expired); now - 3_000 = 500 (kept).
    let outcome = log
        .delete_expired_segments(by_time(1_000), 3_500, end)
        .unwrap();
    assert_eq!(outcome.segments_deleted, 2);
    assert_eq!(outcome.segments_over_retention_ms, 2);
    assert_eq!(outcome.bytes_deleted, 2 * segment_bytes());
    assert_eq!(outcome.log_start_offset, 8);
    assert_eq!(log.log_start_offset(), 8);
    assert_eq!(log.segment_base_offsets(), vec![8, 12, 16]);
    assert!(!segment_exists(dir.path(), 0) && !segment_exists(dir.path(), 4));
    assert!(segment_exists(dir.path(), 8));
    assert_out_of_range(&log, 0);
    assert_out_of_range(&log, 7);
    assert_eq!(read_all(&log, 8).first().unwrap().base_offset, 8);

    // A segment exactly retention.ms old stays (Kafka deletes only when strictly older).
    let outcome = log
        .delete_expired_segments(by_time(1_000), 4_000, end)
        .unwrap();
    assert_eq!(outcome.segments_deleted, 0);

    // Everything expired: every closed segment goes, the active one never does.
    let outcome = log
        .delete_expired_segments(by_time(0), 1 << 40, end)
        .unwrap();
    assert_eq!(outcome.segments_deleted, 2);
    assert_eq!(
        log.segment_base_offsets(),
        vec![16],
        "the active segment stays"
    );
    assert_eq!(log.log_start_offset(), 16);
    assert_out_of_range(&log, 15);
    assert_eq!(read_all(&log, 16).len(), BATCHES_PER_SEGMENT as usize);
    let outcome = append(&log, &spec());
    assert_eq!((outcome.base_offset, outcome.log_start_offset), (20, 16));
}

#[test]
fn retention_never_deletes_data_at_or_above_the_high_watermark() {
    let dir = tempfile::tempdir().unwrap();
    let (_log_dir, log, _) = open(dir.path(), config());
    fill(&log, &[1_000, 1_000, 1_000, 1_000, 1_000]);
    // The high watermark inside segment 8: segments 0 and 4 are wholly below it, 8 is not.
    let outcome = log
        .delete_expired_segments(by_time(0), 1 << 40, 10)
        .unwrap();
    assert_eq!(outcome.segments_deleted, 2);
    assert_eq!(log.segment_base_offsets(), vec![8, 12, 16]);
    let outcome = log
        .delete_expired_segments(by_size(0), 1 << 40, 12)
        .unwrap();
    assert_eq!(outcome.segments_deleted, 1);
    assert_eq!(log.log_start_offset(), 12);
}

#[test]
fn retention_bytes_keeps_the_partition_at_least_that_large() {
    let dir = tempfile::tempdir().unwrap();
    let (_log_dir, log, _) = open(dir.path(), config());
    fill(&log, &[1_000; 5]);
    let end = log.log_end_offset();
    let segment = segment_bytes();
    assert_eq!(log.size_bytes(), 5 * segment);

    let nothing = log.delete_expired_segments(by_size(-1), 0, end).unwrap();
    assert_eq!(
        nothing.segments_deleted, 0,
        "retention.bytes=-1 keeps everything"
    );
    let nothing = log
        .delete_expired_segments(by_size(5 * segment as i64 + 1), 0, end)
        .unwrap();
    assert_eq!(
        nothing.segments_deleted, 0,
        "a log under the limit keeps everything"
    );

    // 5 segments, limit 2 segments + 1 byte: deleting a third segment would leave 2 segments,
    // under the limit, so only two go.
    let outcome = log
        .delete_expired_segments(by_size(2 * segment as i64 + 1), 0, end)
        .unwrap();
    assert_eq!(outcome.segments_deleted, 2);
    assert_eq!(outcome.segments_over_retention_bytes, 2);
    assert_eq!(outcome.bytes_deleted, 2 * segment);
    assert_eq!(log.segment_base_offsets(), vec![8, 12, 16]);
    assert_eq!(log.log_start_offset(), 8);
    assert_eq!(log.size_bytes(), 3 * segment);
    assert_out_of_range(&log, 4);

    // Exactly at the limit after deleting: it goes.
    let outcome = log
        .delete_expired_segments(by_size(2 * segment as i64), 0, end)
        .unwrap();
    assert_eq!(outcome.segments_deleted, 1);
    assert_eq!(log.segment_base_offsets(), vec![12, 16]);

    // retention.bytes=0: every closed segment goes, the active one stays.
    let outcome = log.delete_expired_segments(by_size(0), 0, end).unwrap();
    assert_eq!(outcome.segments_deleted, 1);
    assert_eq!(log.segment_base_offsets(), vec![16]);
    assert_eq!(log.log_start_offset(), 16);
    let outcome = log.delete_expired_segments(by_size(0), 0, end).unwrap();
    assert_eq!(outcome.segments_deleted, 0);
    assert_eq!(outcome.log_start_offset, 16);
}

#[test]
fn size_then_time_and_a_delete_records_start_inside_a_segment() {
    let dir = tempfile::tempdir().unwrap();
    let (_log_dir, log, _) = open(dir.path(), config());
    fill(&log, &[1_000, 9_000, 1_000, 9_000, 9_000]);
    let end = log.log_end_offset();
    log.delete_records_before(5).unwrap();
    assert_eq!(log.segment_base_offsets(), vec![4, 8, 12, 16]);
    // Nothing expired: the start DeleteRecords set, inside segment 4, stays.
    let outcome = log
        .delete_expired_segments(by_time(10_000), 10_000, end)
        .unwrap();
    assert_eq!((outcome.segments_deleted, outcome.log_start_offset), (0, 5));
    assert_eq!(log.log_start_offset(), 5);
    // Size takes segment 4 (4 segments, limit 3), then time takes segment 8 (expired); 12 is not.
    let policy = RetentionPolicy {
        retention_ms: 5_000,
        retention_bytes: 3 * segment_bytes() as i64,
    };
    let outcome = log.delete_expired_segments(policy, 10_000, end).unwrap();
    assert_eq!(outcome.segments_over_retention_bytes, 1);
    assert_eq!(outcome.segments_over_retention_ms, 1);
    assert_eq!(outcome.segments_deleted, 2);
    assert_eq!(log.segment_base_offsets(), vec![12, 16]);
    assert_eq!(log.log_start_offset(), 12);
}

#[test]
fn the_log_start_moved_by_retention_survives_clean_and_unclean_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let (log_dir, log, _) = open(dir.path(), config());
    fill(&log, &[1_000, 1_000, 1_000, 5_000]);
    let end = log.log_end_offset();
    log.delete_expired_segments(by_time(1_000), 3_000, end)
        .unwrap();
    assert_eq!(log.log_start_offset(), 12);
    log.flush().unwrap();
    log_dir.checkpoint(std::slice::from_ref(&log)).unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.path().join("log-start-offset-checkpoint")).unwrap(),
        format!("0\n1\n{TOPIC} 0 12\n")
    );
    log_dir.close(std::slice::from_ref(&log)).unwrap();
    drop((log, log_dir));

    let (log_dir, log, report) = open(dir.path(), config());
    assert!(report.clean_shutdown);
    assert_eq!(log.log_start_offset(), 12);
    assert_eq!(log.log_end_offset(), end);
    assert_out_of_range(&log, 11);
    assert_eq!(read_all(&log, 12).len(), BATCHES_PER_SEGMENT as usize);

    // Grow again, retain by size, checkpoint, then "crash" (no close).
    fill_more(&log, 3);
    let end = log.log_end_offset();
    let outcome = log
        .delete_expired_segments(by_size(segment_bytes() as i64), 0, end)
        .unwrap();
    assert!(outcome.segments_deleted > 0);
    let start = log.log_start_offset();
    assert!(start > 12);
    log.flush().unwrap();
    log_dir.checkpoint(std::slice::from_ref(&log)).unwrap();
    drop((log, log_dir));

    let (_log_dir, log, report) = open(dir.path(), config());
    assert!(!report.clean_shutdown);
    assert_eq!(log.log_start_offset(), start);
    assert_eq!(log.log_end_offset(), end);
    assert_out_of_range(&log, start - 1);
    assert_out_of_range(&log, 0);
    assert_eq!(read_all(&log, start).first().unwrap().base_offset, start);
}

fn fill_more(log: &Log, segments: u64) {
    for _ in 0..segments * BATCHES_PER_SEGMENT {
        append(log, &spec());
    }
}

/// Readers racing retention see data or OFFSET_OUT_OF_RANGE, never an I/O error, and never
/// batches below what they asked for.
#[test]
fn reads_racing_retention_finish_or_are_out_of_range() {
    let dir = tempfile::tempdir().unwrap();
    let (_log_dir, log, _) = open(dir.path(), config());
    fill_more(&log, 4);
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let log = log.clone();
            let done = done.clone();
            std::thread::spawn(move || {
                let mut reads = 0u64;
                while !done.load(Ordering::Acquire) {
                    let offset = log.log_start_offset();
                    match log.read(offset, 1 << 20, i64::MAX, true) {
                        Ok(result) => {
                            if let Some(first) = batch_headers(&result.records).first() {
                                assert!(first.last_offset() >= offset);
                            }
                        }
                        Err(ReadError::OffsetOutOfRange { .. }) => {}
                        Err(other) => panic!("read at {offset}: {other}"),
                    }
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    for _ in 0..200 {
        fill_more(&log, 1);
        let end = log.log_end_offset();
        log.delete_expired_segments(by_size(2 * segment_bytes() as i64), 0, end)
            .unwrap();
        assert!(log.segment_count() <= 3);
    }
    done.store(true, Ordering::Release);
    for reader in readers {
        assert!(reader.join().unwrap() > 0);
    }
}

/// Batches without timestamps (-1): a segment's age is its `.log` file's modification time, as
/// Kafka's `LogSegment.largestTimestamp`.
#[test]
fn segments_without_timestamps_age_by_file_modification_time() {
    let dir = tempfile::tempdir().unwrap();
    let untimed = BatchSpec::plain(1, 100).at(-1);
    let (_log_dir, log, _) = open(
        dir.path(),
        small_segments(untimed.encode().len() as u64 * 2),
    );
    for _ in 0..6 {
        append(&log, &untimed);
    }
    assert_eq!(log.segment_base_offsets(), vec![0, 2, 4]);
    let end = log.log_end_offset();
    let wall_clock_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let outcome = log
        .delete_expired_segments(by_time(60_000), wall_clock_ms, end)
        .unwrap();
    assert_eq!(outcome.segments_deleted, 0, "just written: not expired");
    let outcome = log
        .delete_expired_segments(by_time(60_000), wall_clock_ms + 120_000, end)
        .unwrap();
    assert_eq!(outcome.segments_deleted, 2);
    assert_eq!(log.log_start_offset(), 4);
}
