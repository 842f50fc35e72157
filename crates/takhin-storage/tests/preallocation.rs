//! The data directory's preallocation budget: how many zeros all logs together keep ahead of
//! their data, and how idle logs give theirs back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Arc;

use common::*;
use takhin_storage::{Log, LogConfig, LogDir};

/// The broker's window for durable topics.
const WINDOW_BYTES: u64 = 256 * 1024;
const IDLE_MS: i64 = 30_000;

fn durable() -> LogConfig {
    LogConfig {
        preallocate_bytes: WINDOW_BYTES,
        ..LogConfig::default()
    }
}

fn open_partition(log_dir: &LogDir, partition: i32) -> Arc<Log> {
    log_dir
        .open_log(TOPIC, partition, topic_id(), durable())
        .unwrap()
        .0
}

/// One small batch at `now_ms`.
fn write_once(log: &Log, now_ms: i64) {
    append(log, &BatchSpec::plain(1, 100).at(now_ms));
}

/// On disk past the data, over every `.log` under `dir`: (file length - data, allocated
/// blocks - data). Data is what the log publishes ([`Log::size_bytes`]).
fn bytes_past_data(dir: &Path, logs: &[Arc<Log>]) -> (u64, u64) {
    let (mut length, mut allocated) = (0u64, 0u64);
    for log in logs {
        for entry in std::fs::read_dir(log.dir()).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|ext| ext == "log") {
                let metadata = std::fs::metadata(&path).unwrap();
                length += metadata.len();
                allocated += metadata.blocks() * 512;
            }
        }
    }
    let data: u64 = logs.iter().map(|log| log.size_bytes()).sum();
    assert!(dir.exists());
    (length - data, allocated.saturating_sub(data))
}

/// 2,000 partitions would hold 500 MiB of zeros at 256 KiB each; many partitions written once
/// hold no more than the budget between them, and the budget counts exactly what they hold.
#[test]
fn many_partitions_written_once_stay_under_the_budget() {
    const PARTITIONS: i32 = 40;
    const BUDGET_BYTES: u64 = 1024 * 1024;
    let dir = tempfile::tempdir().unwrap();
    let log_dir = LogDir::open(dir.path()).unwrap();
    log_dir.preallocation_budget().set_limit_bytes(BUDGET_BYTES);
    let logs: Vec<Arc<Log>> = (0..PARTITIONS)
        .map(|partition| open_partition(&log_dir, partition))
        .collect();
    for log in &logs {
        write_once(log, 1_000);
    }

    let budget = log_dir.preallocation_budget();
    let (past_length, past_allocated) = bytes_past_data(dir.path(), &logs);
    assert!(budget.used_bytes() <= BUDGET_BYTES);
    assert!(
        budget.used_bytes() >= BUDGET_BYTES - WINDOW_BYTES,
        "the budget was used: {}",
        budget.used_bytes()
    );
    assert_eq!(past_length, budget.used_bytes());
    let held: u64 = logs.iter().map(|log| log.preallocated_bytes()).sum();
    assert_eq!(held, budget.used_bytes());
    // Blocks are allocated per 4 KiB page: a partition's last data page is counted once more.
    assert!(
        past_allocated <= BUDGET_BYTES + 4_096 * PARTITIONS as u64,
        "{past_allocated} bytes allocated past the data"
    );
    // Those without zeros read and write as ever.
    for log in &logs {
        write_once(log, 2_000);
        assert_eq!(read_all(log, 0).len(), 2);
    }
    log_dir.close(&logs).unwrap();
    assert_eq!(budget.used_bytes(), 0, "a clean close trims every zero");
}

/// Zeros of a partition with no append for the idle time are trimmed, returning their budget to
/// a partition that is written; the idle one gets zeros again with its next append.
#[test]
fn an_idle_partitions_zeros_are_trimmed_and_a_written_one_gets_them_again() {
    let dir = tempfile::tempdir().unwrap();
    let log_dir = LogDir::open(dir.path()).unwrap();
    log_dir.preallocation_budget().set_limit_bytes(WINDOW_BYTES);
    let (idle, busy) = (open_partition(&log_dir, 0), open_partition(&log_dir, 1));
    write_once(&idle, 1_000);
    assert_eq!(idle.preallocated_bytes(), WINDOW_BYTES);
    write_once(&busy, 1_000);
    assert_eq!(busy.preallocated_bytes(), 0, "the budget is spent");

    assert_eq!(
        idle.trim_idle_preallocation(1_000 + IDLE_MS - 1, IDLE_MS),
        0
    );
    let trimmed = idle.trim_idle_preallocation(1_000 + IDLE_MS, IDLE_MS);
    assert_eq!(trimmed, WINDOW_BYTES);
    assert_eq!(idle.preallocated_bytes(), 0);
    assert_eq!(
        bytes_past_data(dir.path(), std::slice::from_ref(&idle)).0,
        0
    );
    assert_eq!(log_dir.preallocation_budget().used_bytes(), 0);

    write_once(&busy, 40_000);
    assert_eq!(busy.preallocated_bytes(), WINDOW_BYTES, "the freed budget");
    // Not idle: written just now.
    assert_eq!(
        busy.trim_idle_preallocation(40_000 + IDLE_MS / 2, IDLE_MS),
        0
    );
    assert_eq!(
        busy.trim_idle_preallocation(40_000 + IDLE_MS, IDLE_MS),
        WINDOW_BYTES
    );
    write_once(&idle, 80_000);
    assert_eq!(idle.preallocated_bytes(), WINDOW_BYTES, "written again");
    assert_eq!(read_all(&idle, 0).len(), 2);
    log_dir.close(&[idle, busy]).unwrap();
}

/// A crash leaves the zeros on disk: the dropped logs give their budget back, and recovery
/// trims the zeros without calling them damage.
#[test]
fn zeros_a_crash_left_are_trimmed_by_recovery_and_charge_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log_dir = LogDir::open(dir.path()).unwrap();
    let log = open_partition(&log_dir, 0);
    write_once(&log, 1_000);
    log.flush().unwrap();
    let zeros = log.preallocated_bytes();
    assert_eq!(zeros, WINDOW_BYTES);
    let budget = log_dir.preallocation_budget().clone();
    drop((log, log_dir));
    assert_eq!(budget.used_bytes(), 0);

    let log_dir = LogDir::open(dir.path()).unwrap();
    let (log, report) = log_dir.open_log(TOPIC, 0, topic_id(), durable()).unwrap();
    assert!(!report.clean_shutdown);
    assert_eq!(report.preallocated_bytes_trimmed, zeros, "{report}");
    assert!(report.truncated_at.is_none(), "{report}");
    assert_eq!(log.preallocated_bytes(), 0);
    assert_eq!(log_dir.preallocation_budget().used_bytes(), 0);
    assert_eq!(read_all(&log, 0).len(), 1);
    log_dir.close(&[log]).unwrap();
}
