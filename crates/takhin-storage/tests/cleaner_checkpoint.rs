#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The cleaner's first dirty offset (`cleaner-offset-checkpoint`) and the dirty statistics the
//! broker schedules compaction by.

use bytes::Bytes;
use takhin_storage::{
    AppendOptions, BatchBuilderParams, CleanOptions, Log, LogConfig, LogDir, Record, encode_batch,
    validate,
};

const NOW: i64 = 1_700_000_000_000;

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 1_000,
        index_interval_bytes: 128,
        ..LogConfig::default()
    }
}

/// One single-record batch per key, ~100 bytes each, at `timestamp`.
fn append(log: &Log, keys: impl IntoIterator<Item = u32>, timestamp: i64) {
    for key in keys {
        let record = Record {
            offset: 0,
            timestamp,
            key: Some(Bytes::from(format!("key-{key}"))),
            value: Some(Bytes::from(vec![b'v'; 20])),
            headers: vec![],
        };
        let batch =
            validate(encode_batch(&BatchBuilderParams::default(), &[record]).unwrap()).unwrap();
        log.append(
            batch,
            AppendOptions {
                now_ms: timestamp,
                leader_epoch: 0,
            },
        )
        .unwrap();
    }
    log.sync_to(log.log_end_offset()).unwrap();
}

fn closed_bytes(log: &Log) -> u64 {
    // Every segment but the active one (the log reports only the total).
    let dir = log.dir();
    let bases = log.segment_base_offsets();
    bases[..bases.len() - 1]
        .iter()
        .map(|base| {
            std::fs::metadata(dir.join(format!("{base:020}.log")))
                .unwrap()
                .len()
        })
        .sum()
}

#[test]
fn first_dirty_offset_advances_on_clean_and_survives_reopen() {
    let data = tempfile::tempdir().unwrap();
    let topic_id = uuid::Uuid::new_v4();
    let first_dirty = {
        let log_dir = LogDir::open(data.path()).unwrap();
        let (log, _) = log_dir.open_log("t", 0, topic_id, config()).unwrap();
        assert_eq!(log.first_dirty_offset(), 0);
        append(&log, (0..40).map(|i| i % 5), NOW);
        assert!(log.segment_count() > 2);
        let report = log.clean(CleanOptions::default(), NOW).unwrap();
        let end = report.cleanable_end_offset.unwrap();
        assert_eq!(report.map_end_offset, Some(end));
        assert_eq!(log.first_dirty_offset(), end);
        let stats = log.dirty_stats(&CleanOptions::default(), NOW).unwrap();
        assert_eq!(stats.dirty_bytes, 0);
        assert_eq!(stats.dirty_ratio(), 0.0);
        log_dir.close(std::slice::from_ref(&log)).unwrap();
        let text = std::fs::read_to_string(data.path().join("cleaner-offset-checkpoint")).unwrap();
        assert_eq!(text, format!("0\n1\nt 0 {end}\n"));
        end
    };
    // A crash after a checkpoint keeps it too; the value is reloaded at open.
    let log_dir = LogDir::open(data.path()).unwrap();
    let (log, _) = log_dir.open_log("t", 0, topic_id, config()).unwrap();
    assert_eq!(log.first_dirty_offset(), first_dirty);
    // A checkpoint beyond the log end (e.g. a lost tail) resets to the log start.
    log_dir.checkpoint(std::slice::from_ref(&log)).unwrap();
    drop((log, log_dir));
    std::fs::write(
        data.path().join("cleaner-offset-checkpoint"),
        "0\n1\nt 0 999999\n",
    )
    .unwrap();
    let log_dir = LogDir::open(data.path()).unwrap();
    let (log, _) = log_dir.open_log("t", 0, topic_id, config()).unwrap();
    assert_eq!(log.first_dirty_offset(), log.log_start_offset());
}

#[test]
fn dirty_ratio_counts_closed_bytes_from_the_first_dirty_offset() {
    let data = tempfile::tempdir().unwrap();
    let log_dir = LogDir::open(data.path()).unwrap();
    let (log, _) = log_dir
        .open_log("t", 0, uuid::Uuid::new_v4(), config())
        .unwrap();
    let options = CleanOptions::default();

    // Nothing closed: nothing to clean.
    append(&log, 0..3, NOW);
    let stats = log.dirty_stats(&options, NOW).unwrap();
    assert_eq!((stats.clean_bytes, stats.dirty_bytes), (0, 0));
    assert!(!stats.should_clean(0.0, i64::MAX, NOW));

    // Distinct keys: all closed bytes are dirty before the first clean.
    append(&log, 3..40, NOW);
    let stats = log.dirty_stats(&options, NOW).unwrap();
    assert_eq!(stats.first_dirty_offset, 0);
    assert_eq!(stats.clean_bytes, 0);
    assert_eq!(stats.dirty_bytes, closed_bytes(&log));
    assert_eq!(stats.dirty_ratio(), 1.0);
    assert_eq!(stats.earliest_dirty_timestamp, Some(NOW));
    assert!(stats.should_clean(0.5, i64::MAX, NOW));

    // Clean (nothing to remove: distinct keys); then everything closed is clean.
    log.clean(options.clone(), NOW).unwrap();
    let clean_before = closed_bytes(&log);
    let stats = log.dirty_stats(&options, NOW).unwrap();
    assert_eq!((stats.clean_bytes, stats.dirty_bytes), (clean_before, 0));
    assert_eq!(stats.earliest_dirty_timestamp, None);
    assert!(!stats.should_clean(0.0, 0, NOW + 1_000_000));

    // A little more, later: ratio = new closed bytes / all closed bytes.
    append(&log, 40..60, NOW + 10_000);
    let closed = closed_bytes(&log);
    let stats = log.dirty_stats(&options, NOW + 10_000).unwrap();
    assert_eq!(stats.clean_bytes, clean_before);
    assert_eq!(stats.dirty_bytes, closed - clean_before);
    let expected = (closed - clean_before) as f64 / closed as f64;
    assert!((stats.dirty_ratio() - expected).abs() < 1e-9);
    assert!(stats.dirty_ratio() < 0.5, "ratio {}", stats.dirty_ratio());
    assert!(!stats.should_clean(0.5, i64::MAX, NOW + 10_000));
    // max.compaction.lag.ms: the oldest dirty closed segment (the formerly active one) starts
    // with a record from NOW, 20 s old at NOW + 20 s.
    assert_eq!(stats.earliest_dirty_timestamp, Some(NOW));
    assert!(stats.compaction_lag_exceeded(5_000, NOW + 20_000));
    assert!(!stats.compaction_lag_exceeded(60_000, NOW + 20_000));
    assert!(stats.should_clean(0.5, 5_000, NOW + 20_000));

    // min.compaction.lag.ms hides segments too young to clean.
    let lagged = CleanOptions {
        min_compaction_lag_ms: 60_000,
        ..CleanOptions::default()
    };
    let stats = log.dirty_stats(&lagged, NOW + 20_000).unwrap();
    assert_eq!(stats.dirty_bytes, 0);
    assert!(!stats.should_clean(0.0, 0, NOW + 20_000));
}
