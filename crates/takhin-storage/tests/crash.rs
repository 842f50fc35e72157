#![allow(clippy::unwrap_used, clippy::expect_used)]
//! kill -9 under load: a child process (this test binary, re-executed) appends idempotent
//! batches and prints each offset range once `sync_to` returned; the parent SIGKILLs it mid-run,
//! reopens the log and checks that every acknowledged batch is there, byte for byte, and that
//! the producer's retries are still recognised as duplicates.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use common::*;
use takhin_storage::{AppendError, decode_records};

const CHILD_DIR_ENV: &str = "TAKHIN_STORAGE_CRASH_CHILD_DIR";
const TEST_NAME: &str = "kill_minus_nine_loses_nothing_acknowledged";
/// Batches the parent waits for before killing the child.
const ACKS_BEFORE_KILL: usize = 150;
/// The child stops on its own after this many batches, should the parent fail to kill it.
const CHILD_MAX_BATCHES: i32 = 20_000;
const PRODUCER_ID: i64 = 77;

fn spec(sequence: i32) -> BatchSpec {
    let mut spec = BatchSpec::idempotent(PRODUCER_ID, 0, sequence, 1 + (sequence as usize % 3));
    spec.value_bytes = 100 + sequence as usize % 200;
    spec.timestamp_ms = 1_000 + i64::from(sequence);
    spec
}

/// Durable topics keep written zeros ahead of the data: the kill leaves them on disk.
fn config() -> takhin_storage::LogConfig {
    takhin_storage::LogConfig {
        preallocate_bytes: 4_096,
        ..small_segments(8_000)
    }
}

fn run_child(dir: &str) {
    let (_log_dir, log, _) = open(std::path::Path::new(dir), config());
    let mut stdout = std::io::stdout().lock();
    let mut sequence = 0;
    while sequence < CHILD_MAX_BATCHES {
        let batch = spec(sequence);
        let outcome = append(&log, &batch);
        log.sync_to(outcome.last_offset + 1).unwrap();
        writeln!(
            stdout,
            "acked {sequence} {} {}",
            outcome.base_offset, outcome.last_offset
        )
        .unwrap();
        stdout.flush().unwrap();
        sequence += batch.records as i32;
    }
}

#[test]
fn kill_minus_nine_loses_nothing_acknowledged() {
    if let Ok(dir) = std::env::var(CHILD_DIR_ENV) {
        run_child(&dir);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR_ENV, dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut acked: Vec<(i32, i64, i64)> = Vec::new();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    while acked.len() < ACKS_BEFORE_KILL {
        let Some(line) = lines.next() else { break };
        let line = line.unwrap();
        let Some(rest) = line.strip_prefix("acked ") else {
            continue;
        };
        let fields: Vec<i64> = rest
            .split(' ')
            .map(|field| field.parse().unwrap())
            .collect();
        acked.push((fields[0] as i32, fields[1], fields[2]));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert_eq!(acked.len(), ACKS_BEFORE_KILL, "the child stopped early");

    let (_log_dir, log, report) = open(dir.path(), config());
    assert!(!report.clean_shutdown);
    assert!(log.segment_count() > 1, "{report}");
    let last_acked = acked.last().unwrap().2;
    assert!(log.log_end_offset() > last_acked, "{report}");
    for (sequence, base, last) in &acked {
        let bytes = log.read(*base, 1, i64::MAX, true).unwrap().records;
        let (header, records) = decode_records(&bytes, 1 << 20).unwrap();
        assert_eq!((header.base_offset, header.last_offset()), (*base, *last));
        assert_eq!(header.base_sequence, *sequence);
        assert_eq!(
            records,
            spec(*sequence)
                .records()
                .into_iter()
                .map(|mut record| {
                    record.offset += base;
                    record
                })
                .collect::<Vec<_>>()
        );
    }
    // The producer's retry of its newest batch that survived is recognised.
    let survivors = read_all(&log, 0);
    let newest = survivors.last().unwrap();
    let retry = log
        .append(spec(newest.base_sequence).validated(), options(0))
        .unwrap();
    assert!(retry.duplicate);
    assert_eq!(
        (retry.base_offset, retry.last_offset),
        (newest.base_offset, newest.last_offset())
    );
    let next = newest.last_sequence() + 1;
    assert!(matches!(
        log.append(spec(next + 1).validated(), options(0)),
        Err(AppendError::OutOfOrderSequence { .. })
    ));
    assert_eq!(
        log.append(spec(next).validated(), options(0))
            .unwrap()
            .base_offset,
        log.log_end_offset() - spec(next).records as i64
    );
}
