#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The scrubber's step ([`Log::scrub`]): damage a clean start does not see is found, reported
//! once, and left for recovery to move out; segments deleted or replaced mid-pass are handled.

mod common;

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use common::*;
use takhin_storage::{Log, RetentionPolicy, ScrubCursor, ScrubStep};

fn segment_file(dir: &Path, base: i64) -> PathBuf {
    dir.join(format!("{TOPIC}-0/{base:020}.log"))
}

/// Scrubs in steps of `step_bytes` until a pass completes; returns every step.
fn scrub_pass(log: &Log, cursor: &mut ScrubCursor, step_bytes: u64) -> Vec<ScrubStep> {
    let mut steps = Vec::new();
    for _ in 0..10_000 {
        let step = log.scrub(cursor, step_bytes).unwrap();
        let done = step.pass_complete;
        steps.push(step);
        if done {
            return steps;
        }
    }
    panic!("no complete pass in 10,000 steps");
}

fn closed_bytes(log: &Log) -> u64 {
    let bases = log.segment_base_offsets();
    let mut bytes = 0;
    for header in read_all(log, log.log_start_offset()) {
        if header.base_offset < *bases.last().unwrap() {
            bytes += header.total_size() as u64;
        }
    }
    bytes
}

#[test]
fn the_scrubber_finds_a_flipped_byte_a_clean_start_does_not_see() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_segments(3_000);
    let (log_dir, log, _) = open(dir.path(), config.clone());
    for index in 0..80 {
        append(&log, &BatchSpec::plain(1 + index % 3, 100));
    }
    let bases = log.segment_base_offsets();
    assert!(bases.len() >= 4);
    // The second batch of segment 1: below its last index entry, where a clean open never
    // reads.
    let headers = read_all(&log, 0);
    let in_segment: Vec<_> = headers
        .iter()
        .filter(|h| h.base_offset >= bases[1] && h.base_offset < bases[2])
        .collect();
    let damaged = in_segment[1];
    let position = in_segment[0].total_size() as u64;
    log_dir.close(std::slice::from_ref(&log)).unwrap();
    drop((log, log_dir));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(segment_file(dir.path(), bases[1]))
        .unwrap();
    let at = position + 70;
    let mut byte = [0u8; 1];
    file.read_exact_at(&mut byte, at).unwrap();
    file.write_all_at(&[byte[0] ^ 0x08], at).unwrap();
    drop(file);

    let (log_dir, log, report) = open(dir.path(), config.clone());
    assert!(
        report.damaged.is_empty(),
        "a clean start reads only tails: {report}"
    );
    let mut cursor = ScrubCursor::default();
    let steps = scrub_pass(&log, &mut cursor, 700);
    assert!(steps.len() > 3, "small steps: {}", steps.len());
    let verified: u64 = steps.iter().map(|step| step.bytes_verified).sum();
    assert_eq!(verified, closed_bytes(&log), "every closed byte once");
    let found: Vec<_> = steps
        .iter()
        .flat_map(|step| step.damage_found.clone())
        .collect();
    let [range] = &found[..] else {
        panic!("one damaged range: {found:?}");
    };
    assert_eq!(range.file, segment_file(dir.path(), bases[1]));
    assert_eq!(
        (range.position_bytes, range.end_position_bytes),
        (position, position + damaged.total_size() as u64)
    );
    assert_eq!(
        (range.first_offset, range.end_offset),
        (damaged.base_offset, in_segment[2].base_offset)
    );
    assert!(range.reason.contains("CRC"), "{}", range.reason);
    assert_eq!(range.quarantined_to, None);
    assert_eq!(log.damaged_ranges(), found);
    // The next pass knows it already: nothing new, still listed once.
    let again = scrub_pass(&log, &mut cursor, 1 << 20);
    assert!(again.iter().all(|step| step.damage_found.is_empty()));
    assert_eq!(log.damaged_ranges().len(), 1);
    // The bytes are served as stored (as Kafka would), untouched by the scrubber.
    assert_eq!(read_all(&log, 0).len(), headers.len());
    drop((log, log_dir));
    // A recovery that verifies the segment moves the damage out; everything else stays.
    std::fs::remove_file(dir.path().join(format!("{TOPIC}-0/{:020}.index", bases[1]))).unwrap();
    let (_log_dir, log, report) = open(dir.path(), config);
    assert_eq!(report.damaged.len(), 1, "{report}");
    assert!(report.damaged[0].quarantined_to.is_some());
    assert_eq!(read_all(&log, 0).len(), headers.len() - 1);
}

#[test]
fn a_scrub_pass_survives_segments_deleted_and_appended_meanwhile() {
    let dir = tempfile::tempdir().unwrap();
    let (_log_dir, log, _) = open(dir.path(), small_segments(2_000));
    for index in 0..120 {
        append(&log, &BatchSpec::plain(1 + index % 2, 80).at(1_000));
    }
    let mut cursor = ScrubCursor::default();
    let first = log.scrub(&mut cursor, 3_000).unwrap();
    assert!(!first.pass_complete);
    // Retention removes the segments the cursor is in, and appends roll new ones.
    let policy = RetentionPolicy {
        retention_ms: -1,
        retention_bytes: log.size_bytes() as i64 / 2,
    };
    let outcome = log
        .delete_expired_segments(policy, 10_000, log.log_end_offset())
        .unwrap();
    assert!(outcome.segments_deleted > 2, "{outcome:?}");
    for _ in 0..40 {
        append(&log, &BatchSpec::plain(1, 80).at(2_000));
    }
    let rest = scrub_pass(&log, &mut cursor, 3_000);
    assert!(rest.iter().all(|step| step.damage_found.is_empty()));
    assert!(log.damaged_ranges().is_empty());
    // A fresh pass reads exactly the closed bytes there are now.
    let full = scrub_pass(&log, &mut ScrubCursor::default(), 1 << 20);
    let verified: u64 = full.iter().map(|step| step.bytes_verified).sum();
    assert_eq!(verified, closed_bytes(&log));
}
