#![allow(clippy::unwrap_used, clippy::expect_used)]
//! kill -9 during compaction: a child process (this test binary, re-executed) appends
//! deterministic batches, syncs them and cleans the log, over and over; the parent SIGKILLs it
//! at a different moment each round, reopens the log and checks that what a consumer reads is
//! exactly a compaction of what was appended: every record is the one appended at its offset,
//! the latest value of every key is there, and nothing acknowledged is lost.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use bytes::Bytes;
use common::*;
use takhin_storage::{
    AppendOptions, BatchBuilderParams, CleanOptions, Compression, Log, LogConfig, Record,
    check_stored_batch, decode_records, encode_batch, validate,
};

const CHILD_DIR_ENV: &str = "TAKHIN_STORAGE_COMPACTION_CRASH_CHILD_DIR";
const TEST_NAME: &str = "kill_minus_nine_during_compaction_keeps_old_or_new_segments";
const RECORDS_PER_BATCH: i64 = 4;
const BATCHES_PER_STEP: i64 = 10;
/// The child stops on its own after this many steps, should the parent fail to kill it.
const CHILD_MAX_STEPS: usize = 2_000;
const ROUNDS: u64 = 20;

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 1_200,
        index_interval_bytes: 128,
        ..LogConfig::default()
    }
}

/// The record appended at `offset`: 31 keys, every 11th record a tombstone.
fn generated(offset: i64) -> (Bytes, Option<Bytes>) {
    let key = Bytes::from(format!("key-{}", (offset * 7) % 31));
    let value = (offset % 11 != 0).then(|| Bytes::from(format!("value-{offset}")));
    (key, value)
}

fn append_generated_batch(log: &Log) {
    let base = log.log_end_offset();
    assert_eq!(base % RECORDS_PER_BATCH, 0, "batches are appended whole");
    let records: Vec<Record> = (0..RECORDS_PER_BATCH)
        .map(|index| {
            let (key, value) = generated(base + index);
            Record {
                offset: index,
                timestamp: 1_000 + base + index,
                key: Some(key),
                value,
                headers: vec![],
            }
        })
        .collect();
    let codec = [Compression::None, Compression::Lz4, Compression::Zstd][(base / 4 % 3) as usize];
    let params = BatchBuilderParams {
        compression: codec,
        ..BatchBuilderParams::default()
    };
    let batch = validate(encode_batch(&params, &records).unwrap()).unwrap();
    log.append(
        batch,
        AppendOptions {
            now_ms: 1_000 + base,
            leader_epoch: 0,
        },
    )
    .unwrap();
}

fn clean_options() -> CleanOptions {
    CleanOptions {
        delete_retention_ms: i64::MAX / 4,
        ..CleanOptions::default()
    }
}

fn run_child(dir: &str) {
    let (_log_dir, log, _) = open(std::path::Path::new(dir), config());
    for step in 0..CHILD_MAX_STEPS {
        for _ in 0..BATCHES_PER_STEP {
            append_generated_batch(&log);
        }
        log.flush().unwrap();
        println!("acked {}", log.log_end_offset());
        log.clean(clean_options(), 1_000_000).unwrap();
        println!("cleaned {step}");
    }
}

/// Reads everything and checks it against the generator; returns the log end offset.
fn verify(log: &Log) {
    let mut latest_read: BTreeMap<Bytes, Option<Bytes>> = BTreeMap::new();
    let mut offset = log.log_start_offset();
    let mut previous = -1;
    while offset < log.log_end_offset() {
        let bytes = log.read(offset, 1 << 20, i64::MAX, true).unwrap().records;
        let mut position = 0;
        while position < bytes.len() {
            let header = check_stored_batch(&bytes[position..]).unwrap();
            let (_, records) =
                decode_records(&bytes[position..position + header.total_size()], 1 << 24).unwrap();
            for record in records {
                assert!(record.offset > previous);
                previous = record.offset;
                let (key, value) = generated(record.offset);
                assert_eq!(
                    (record.key.clone().unwrap(), record.value.clone()),
                    (key, value)
                );
                latest_read.insert(record.key.unwrap(), record.value);
            }
            position += header.total_size();
            offset = header.last_offset() + 1;
        }
    }
    let mut latest_appended: BTreeMap<Bytes, Option<Bytes>> = BTreeMap::new();
    for offset in 0..log.log_end_offset() {
        let (key, value) = generated(offset);
        latest_appended.insert(key, value);
    }
    assert_eq!(latest_read, latest_appended);
}

#[test]
fn kill_minus_nine_during_compaction_keeps_old_or_new_segments() {
    if let Ok(dir) = std::env::var(CHILD_DIR_ENV) {
        run_child(&dir);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut last_acked = 0i64;
    let mut interrupted_swaps = 0;
    for round in 0..ROUNDS {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
            .env(CHILD_DIR_ENV, dir.path())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut cleans = 0;
        while cleans < 3 {
            let line = lines.next().expect("child exited early").unwrap();
            if let Some(end) = line.strip_prefix("acked ") {
                last_acked = end.parse().unwrap();
            } else if line.starts_with("cleaned ") {
                cleans += 1;
            }
        }
        // Land the kill at a different moment of the next step each round.
        std::thread::sleep(std::time::Duration::from_micros(round * 300));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();

        let (log_dir, log, report) = open(dir.path(), config());
        assert!(
            log.log_end_offset() >= last_acked,
            "round {round}: {report}"
        );
        verify(&log);
        interrupted_swaps += report.swaps_completed + report.cleaned_files_removed;
        // Cleaned segments are merged up to segment.bytes, so few closed ones remain.
        assert!(log.segment_count() >= 2, "{report}");
        drop((log_dir, log));
    }
    println!("kills that interrupted a clean's file swap: {interrupted_swaps}");
}
