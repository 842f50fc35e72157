#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Log operations on a live log: append/read, rolls, indexes, limits, timestamps, DeleteRecords,
//! leader epochs, sync.

mod common;

use std::sync::Arc;

use common::*;
use takhin_storage::{
    AppendOptions, BatchHeader, Compression, LogConfig, ReadError, TimestampType, decode_records,
    validate,
};

#[test]
fn append_and_read_round_trip_across_rolls() {
    let dir = tempfile::tempdir().unwrap();
    let (_log_dir, log, _) = open(dir.path(), small_segments(2_000));
    let mut expected = Vec::new();
    for index in 0..60usize {
        let spec = BatchSpec::plain(1 + index % 4, 20 + index * 7);
        let outcome = append(&log, &spec);
        assert_eq!(
            outcome.base_offset,
            expected.iter().map(|(_, count)| *count as i64).sum::<i64>()
        );
        assert_eq!(
            outcome.last_offset,
            outcome.base_offset + spec.records as i64 - 1
        );
        assert!(!outcome.duplicate);
        assert_eq!(outcome.log_append_time_ms, -1);
        expected.push((outcome.base_offset, spec.records));
    }
    assert!(
        log.segment_count() > 5,
        "expected several rolls, got {}",
        log.segment_count()
    );
    let headers = read_all(&log, 0);
    let got: Vec<(i64, usize)> = headers
        .iter()
        .map(|h| (h.base_offset, h.records_count as usize))
        .collect();
    assert_eq!(got, expected);
    // Content survives: decode one batch and compare values.
    let result = log.read(expected[10].0, 1, i64::MAX, true).unwrap();
    let (header, records) = decode_records(&result.records, 1 << 20).unwrap();
    assert_eq!(header.base_offset, expected[10].0);
    assert_eq!(records.len(), expected[10].1);
    assert_eq!(records[0].value.as_ref().unwrap().len(), 20 + 10 * 7);
    // Every segment base equals the first offset it holds.
    for base in log.segment_base_offsets() {
        assert!(
            expected.iter().any(|(offset, _)| *offset == base),
            "segment base {base} is not a batch start"
        );
    }
}

#[test]
fn read_at_any_offset_returns_the_containing_batch() {
    let dir = tempfile::tempdir().unwrap();
    let (_log_dir, log, _) = open(dir.path(), small_segments(5_000));
    let mut batches = Vec::new();
    for index in 0..80usize {
        let outcome = append(&log, &BatchSpec::plain(1 + index % 5, 30));
        batches.push((outcome.base_offset, outcome.last_offset));
    }
    let index_bytes: u64 = std::fs::read_dir(log.dir())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "index"))
        .map(|path| std::fs::metadata(path).unwrap().len())
        .sum();
    assert!(index_bytes > 0, "the sparse index should have entries");
    for (base, last) in &batches {
        for offset in *base..=*last {
            let result = log.read(offset, 1, i64::MAX, true).unwrap();
            let headers = batch_headers(&result.records);
            assert_eq!(headers.len(), 1);
            assert_eq!(
                (headers[0].base_offset, headers[0].last_offset()),
                (*base, *last),
                "read at {offset}"
            );
        }
    }
}

#[test]
fn kip74_first_batch_larger_than_max_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let (_log_dir, log, _) = open(dir.path(), LogConfig::default());
    let big = append(&log, &BatchSpec::plain(3, 500));
    append(&log, &BatchSpec::plain(1, 10));
    let whole = log.read(0, 100, i64::MAX, true).unwrap();
    let headers = batch_headers(&whole.records);
    assert_eq!(headers.len(), 1, "only the oversized first batch");
    assert_eq!(headers[0].base_offset, big.base_offset);
    assert!(whole.records.len() > 100);
    let none = log.read(0, 100, i64::MAX, false).unwrap();
    assert!(none.records.is_empty());
    // max_bytes exactly fits the first batch: the second is not included.
    let first_size = headers[0].total_size();
    let exact = log.read(0, first_size, i64::MAX, false).unwrap();
    assert_eq!(batch_headers(&exact.records).len(), 1);
    let both = log.read(0, first_size + 1_000, i64::MAX, false).unwrap();
    assert_eq!(batch_headers(&both.records).len(), 2);
}

#[test]
fn max_offset_bounds_reads() {
    let dir = tempfile::tempdir().unwrap();
    let (_log_dir, log, _) = open(dir.path(), LogConfig::default());
    for _ in 0..5 {
        append(&log, &BatchSpec::plain(2, 10)); // offsets 0-1, 2-3, ...
    }
    let headers = batch_headers(&log.read(0, 1 << 20, 4, true).unwrap().records);
    assert_eq!(
        headers.iter().map(|h| h.base_offset).collect::<Vec<_>>(),
        vec![0, 2]
    );
    // A batch straddling max_offset is excluded.
    let headers = batch_headers(&log.read(0, 1 << 20, 5, true).unwrap().records);
    assert_eq!(headers.len(), 2);
    assert!(log.read(4, 1 << 20, 4, true).unwrap().records.is_empty());
    assert!(log.read(2, 1 << 20, 0, true).unwrap().records.is_empty());
}

/// Where reads end is worked out from the offset index and batch headers, without reading the
/// data. Checked against a plain walk over every batch, for many start offsets, byte limits and
/// offset limits, with index entries every few batches and reads that cross segments.
#[test]
fn reads_end_at_the_last_whole_batch_within_bytes_and_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let (_log_dir, log, _) = open(dir.path(), small_segments(6_000));
    // (base offset, last offset, size) of every batch, in order.
    let mut batches = Vec::new();
    for index in 0..80usize {
        let spec = BatchSpec::plain(1 + index % 3, 10 + (index * 37) % 300);
        let size = spec.encode().len();
        let outcome = append(&log, &spec);
        batches.push((outcome.base_offset, outcome.last_offset, size));
    }
    assert!(log.segment_count() > 3, "reads must cross segments");
    let end_offset = log.log_end_offset();
    // Kafka's rule: from the batch holding `fetch_offset`, whole batches below `max_offset`,
    // stopping before `max_bytes` is exceeded, the first one whole when `min_one_batch`.
    let expected = |fetch_offset: i64, max_bytes: usize, max_offset: i64, min_one: bool| {
        let mut taken = Vec::new();
        let mut used = 0usize;
        let first = batches.iter().position(|b| b.1 >= fetch_offset).unwrap();
        for &(base, last, size) in &batches[first..] {
            if last >= max_offset {
                break;
            }
            if used + size > max_bytes {
                if taken.is_empty() && min_one {
                    taken.push(base);
                }
                break;
            }
            used += size;
            taken.push(base);
        }
        taken
    };
    for fetch_offset in (0..end_offset).step_by(7) {
        for max_bytes in [1, 200, 700, 2_500, 6_100, 20_000] {
            for max_offset in [fetch_offset + 1, fetch_offset + 9, end_offset] {
                for min_one in [true, false] {
                    let read = log
                        .read(fetch_offset, max_bytes, max_offset, min_one)
                        .unwrap();
                    let got: Vec<i64> = batch_headers(&read.records)
                        .iter()
                        .map(|h| h.base_offset)
                        .collect();
                    assert_eq!(
                        got,
                        expected(fetch_offset, max_bytes, max_offset, min_one),
                        "read({fetch_offset}, {max_bytes}, {max_offset}, {min_one})"
                    );
                    let slices = log
                        .read_slices(fetch_offset, max_bytes, max_offset, min_one)
                        .unwrap();
                    let len: usize = slices.iter().map(|slice| slice.len()).sum();
                    assert_eq!(len, read.records.len());
                }
            }
        }
    }
}

#[test]
fn offset_out_of_range_and_end_of_log() {
    let dir = tempfile::tempdir().unwrap();
    let (_log_dir, log, _) = open(dir.path(), LogConfig::default());
    assert!(log.read(0, 100, i64::MAX, true).unwrap().records.is_empty());
    append(&log, &BatchSpec::plain(3, 10));
    assert!(log.read(3, 100, i64::MAX, true).unwrap().records.is_empty());
    match log.read(4, 100, i64::MAX, true) {
        Err(ReadError::OffsetOutOfRange {
            requested: 4,
            log_start_offset: 0,
            log_end_offset: 3,
        }) => {}
        other => panic!("expected OffsetOutOfRange, got {other:?}"),
    }
    log.delete_records_before(2).unwrap();
    assert!(matches!(
        log.read(1, 100, i64::MAX, true),
        Err(ReadError::OffsetOutOfRange { requested: 1, .. })
    ));
    assert!(matches!(
        log.read(-1, 100, i64::MAX, true),
        Err(ReadError::OffsetOutOfRange { .. })
    ));
    // Reading from inside a batch whose start is below the log start still returns the batch.
    assert_eq!(
        batch_headers(&log.read(2, 100, i64::MAX, true).unwrap().records)[0].base_offset,
        0
    );
}

#[test]
fn roll_by_segment_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let spec = BatchSpec::plain(1, 100);
    let batch_size = spec.encode().len() as u64;
    let (_log_dir, log, _) = open(dir.path(), small_segments(batch_size * 3));
    for _ in 0..3 {
        append(&log, &spec);
    }
    assert_eq!(log.segment_count(), 1, "three batches fit exactly");
    append(&log, &spec);
    assert_eq!(log.segment_base_offsets(), vec![0, 3]);
    assert_eq!(
        std::fs::metadata(dir.path().join("orders-0/00000000000000000000.log"))
            .unwrap()
            .len(),
        batch_size * 3
    );
    assert!(
        dir.path()
            .join("orders-0/00000000000000000003.log")
            .exists()
    );
    assert!(
        dir.path()
            .join("orders-0/00000000000000000003.snapshot")
            .exists(),
        "producer snapshot on roll"
    );
    // A batch larger than segment_bytes still goes in (alone).
    append(&log, &BatchSpec::plain(1, 10_000));
    append(&log, &spec);
    assert_eq!(log.segment_base_offsets(), vec![0, 3, 4, 5]);
}

#[test]
fn roll_by_segment_ms_uses_batch_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_ms: 1_000,
        ..LogConfig::default()
    };
    let (_log_dir, log, _) = open(dir.path(), config);
    append(&log, &BatchSpec::plain(1, 10).at(10_000));
    append(&log, &BatchSpec::plain(1, 10).at(11_000));
    assert_eq!(
        log.segment_count(),
        1,
        "exactly segment_ms later does not roll"
    );
    append(&log, &BatchSpec::plain(1, 10).at(11_001));
    assert_eq!(log.segment_base_offsets(), vec![0, 2]);
}

#[test]
fn roll_by_index_size() {
    let dir = tempfile::tempdir().unwrap();
    // index_interval_bytes 0 -> every batch after the first gets an entry; 24 bytes -> 3 offset
    // entries, 2 time entries: the time index fills first.
    let config = LogConfig {
        index_interval_bytes: 0,
        segment_index_bytes: 24,
        ..LogConfig::default()
    };
    let (_log_dir, log, _) = open(dir.path(), config);
    for index in 0..10 {
        append(&log, &BatchSpec::plain(1, 10).at(1_000 + index));
    }
    assert!(
        log.segment_count() >= 3,
        "segments: {:?}",
        log.segment_base_offsets()
    );
    for entry in std::fs::read_dir(log.dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|ext| ext == "index") {
            assert!(
                std::fs::metadata(&path).unwrap().len() <= 24,
                "{} too large",
                path.display()
            );
        }
    }
    assert_eq!(read_all(&log, 0).len(), 10);
}

fn log_append_time() -> LogConfig {
    LogConfig {
        message_timestamp_type: TimestampType::LogAppendTime,
        ..LogConfig::default()
    }
}

#[test]
fn log_append_time_rewrites_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let (_log_dir, log, _) = open(dir.path(), log_append_time());
    let outcome = log
        .append(
            BatchSpec::plain(3, 10).at(5).validated(),
            AppendOptions {
                now_ms: 777_000,
                leader_epoch: 2,
            },
        )
        .unwrap();
    assert_eq!(outcome.log_append_time_ms, 777_000);
    let bytes = log.read(0, 1 << 20, i64::MAX, true).unwrap().records;
    let validated = validate(bytes.clone()).unwrap();
    let header = validated.headers()[0];
    assert_eq!(header.max_timestamp, 777_000);
    assert_eq!(header.partition_leader_epoch, 2);
    assert_eq!(header.timestamp_type(), TimestampType::LogAppendTime);
    let (_, records) = decode_records(&bytes, 1 << 20).unwrap();
    assert!(records.iter().all(|record| record.timestamp == 777_000));
}

#[test]
fn one_append_of_many_batches_is_stored_whole_and_leaves_the_input_untouched() {
    // 700 batches are 1,400 slices (rewritten header + records section each): more than one
    // pwritev takes, so the write continues across calls.
    let dir = tempfile::tempdir().unwrap();
    let (_log_dir, log, _) = open(dir.path(), log_append_time());
    append(&log, &BatchSpec::plain(2, 5));
    let specs: Vec<BatchSpec> = (0..700)
        .map(|index| BatchSpec::plain(1 + index % 3, index % 50))
        .collect();
    let mut input = bytes::BytesMut::new();
    for spec in &specs {
        input.extend_from_slice(&spec.encode());
    }
    let input = input.freeze();
    let outcome = log
        .append(validate(input.clone()).unwrap(), options(123_000))
        .unwrap();
    let expected_records: usize = specs.iter().map(|spec| spec.records).sum();
    assert_eq!(outcome.base_offset, 2);
    assert_eq!(outcome.last_offset, 2 + expected_records as i64 - 1);

    let stored = log.read(2, 1 << 30, i64::MAX, true).unwrap().records;
    assert_eq!(stored.len(), input.len());
    // Every stored batch passes validation (so its CRC covers the new timestamp) and carries its
    // assigned offset; the producer's records sections are stored byte for byte.
    let validated = validate(stored.clone()).unwrap();
    let mut next_offset = 2;
    let mut position = 0;
    for (header, spec) in validated.headers().iter().zip(&specs) {
        assert_eq!(header.base_offset, next_offset);
        assert_eq!(header.max_timestamp, 123_000);
        let size = header.total_size();
        assert_eq!(
            stored[position + BatchHeader::SIZE..position + size],
            input[position + BatchHeader::SIZE..position + size]
        );
        next_offset += spec.records as i64;
        position += size;
    }
    assert_eq!(validated.headers().len(), specs.len());
    // The input still holds what the producer sent: offsets from 0, CreateTime.
    let first = BatchHeader::parse(&input).unwrap();
    assert_eq!(first.base_offset, 0);
    assert_eq!(first.timestamp_type(), TimestampType::CreateTime);
}

#[test]
fn offset_for_timestamp_decodes_compressed_batches() {
    let dir = tempfile::tempdir().unwrap();
    let (_log_dir, log, _) = open(dir.path(), small_segments(3_000));
    // Batch k holds 5 records with timestamps 10_000*k + 0..5.
    for batch in 0..30i64 {
        let spec = BatchSpec::plain(5, 50)
            .at(10_000 * batch)
            .compressed(Compression::Zstd);
        append(&log, &spec);
    }
    assert!(log.segment_count() > 1);
    // Inside a compressed batch: timestamp 10_000*7 + 3 is record 3 of batch 7 -> offset 38.
    assert_eq!(
        log.offset_for_timestamp(70_003).unwrap(),
        Some((38, 70_003))
    );
    assert_eq!(
        log.offset_for_timestamp(70_002).unwrap(),
        Some((37, 70_002))
    );
    // Between batches: the first record of the next batch.
    assert_eq!(
        log.offset_for_timestamp(70_005).unwrap(),
        Some((40, 80_000))
    );
    assert_eq!(log.offset_for_timestamp(0).unwrap(), Some((0, 0)));
    assert_eq!(
        log.offset_for_timestamp(290_004).unwrap(),
        Some((149, 290_004))
    );
    assert_eq!(log.offset_for_timestamp(290_005).unwrap(), None);
    for timestamp in (0..300_000).step_by(3_331) {
        let expected = (0..150i64)
            .map(|offset| (offset, 10_000 * (offset / 5) + offset % 5))
            .find(|(_, record_timestamp)| *record_timestamp >= timestamp);
        assert_eq!(
            log.offset_for_timestamp(timestamp).unwrap(),
            expected,
            "timestamp {timestamp}"
        );
    }
    assert_eq!(log.max_timestamp().unwrap(), Some((149, 290_004)));
    // Below the log start nothing is returned.
    log.delete_records_before(42).unwrap();
    assert_eq!(log.offset_for_timestamp(0).unwrap(), Some((42, 80_002)));
}

#[test]
fn max_timestamp_finds_the_record_inside_a_batch() {
    let dir = tempfile::tempdir().unwrap();
    let (_log_dir, log, _) = open(dir.path(), LogConfig::default());
    assert_eq!(log.max_timestamp().unwrap(), None);
    append(&log, &BatchSpec::plain(3, 10).at(500)); // 500..502
    let mut spec = BatchSpec::plain(4, 10)
        .at(100)
        .compressed(Compression::Gzip);
    let mut records = spec.records();
    records[1].timestamp = 9_000; // offset 4
    records[3].timestamp = 9_000;
    let params = takhin_storage::BatchBuilderParams {
        compression: Compression::Gzip,
        ..Default::default()
    };
    let encoded = takhin_storage::encode_batch(&params, &records).unwrap();
    log.append(validate(encoded).unwrap(), options(0)).unwrap();
    spec.timestamp_ms = 200;
    append(&log, &spec);
    assert_eq!(log.max_timestamp().unwrap(), Some((4, 9_000)));
}

#[test]
fn delete_records_before_moves_start_and_deletes_segments() {
    let dir = tempfile::tempdir().unwrap();
    let spec = BatchSpec::plain(2, 100);
    let batch_size = spec.encode().len() as u64;
    let (log_dir, log, _) = open(dir.path(), small_segments(batch_size * 2));
    for _ in 0..6 {
        append(&log, &spec);
    }
    assert_eq!(log.segment_base_offsets(), vec![0, 4, 8]);
    assert_eq!(log.delete_records_before(5).unwrap(), 5);
    assert_eq!(log.segment_base_offsets(), vec![4, 8]);
    assert!(
        !dir.path()
            .join("orders-0/00000000000000000000.log")
            .exists()
    );
    assert_eq!(
        log.delete_records_before(3).unwrap(),
        5,
        "never moves backwards"
    );
    assert!(matches!(
        log.delete_records_before(13),
        Err(ReadError::OffsetOutOfRange { requested: 13, .. })
    ));
    assert_eq!(log.delete_records_before(12).unwrap(), 12);
    assert_eq!(
        log.segment_base_offsets(),
        vec![8],
        "the active segment stays"
    );
    assert_eq!(log.log_start_offset(), 12);
    assert!(
        log.read(12, 100, i64::MAX, true)
            .unwrap()
            .records
            .is_empty()
    );
    let outcome = append(&log, &spec);
    assert_eq!((outcome.base_offset, outcome.log_start_offset), (12, 12));
    // Persisted through the checkpoint and honoured on reopen.
    log.flush().unwrap();
    log_dir.close(std::slice::from_ref(&log)).unwrap();
    drop((log, log_dir));
    let (_log_dir, log, _) = open(dir.path(), small_segments(batch_size * 2));
    assert_eq!(log.log_start_offset(), 12);
    assert_eq!(log.log_end_offset(), 14);
}

#[test]
fn leader_epochs_are_recorded_and_answered() {
    let dir = tempfile::tempdir().unwrap();
    let (_log_dir, log, _) = open(dir.path(), LogConfig::default());
    let append_at = |epoch: i32| {
        log.append(
            BatchSpec::plain(2, 10).validated(),
            AppendOptions {
                now_ms: 0,
                leader_epoch: epoch,
            },
        )
        .unwrap()
    };
    append_at(0);
    append_at(0);
    append_at(3);
    append_at(5);
    assert_eq!(log.latest_epoch(), Some(5));
    assert_eq!(log.epoch_entries(), vec![(0, 0), (3, 4), (5, 6)]);
    assert_eq!(
        std::fs::read_to_string(log.dir().join("leader-epoch-checkpoint")).unwrap(),
        "0\n3\n0 0\n3 4\n5 6\n"
    );
    assert_eq!(log.end_offset_for_epoch(5), (5, 8));
    assert_eq!(log.end_offset_for_epoch(4), (3, 6));
    assert_eq!(log.end_offset_for_epoch(0), (0, 4));
    assert_eq!(log.end_offset_for_epoch(9), (-1, -1));
    let header = batch_headers(&log.read(6, 100, i64::MAX, true).unwrap().records)[0];
    assert_eq!(header.partition_leader_epoch, 5);
}

#[test]
fn checkpoint_files_have_kafkas_exact_text() {
    let dir = tempfile::tempdir().unwrap();
    let log_dir = takhin_storage::LogDir::open(dir.path()).unwrap();
    let (orders, _) = log_dir
        .open_log("orders", 0, topic_id(), LogConfig::default())
        .unwrap();
    let (other, _) = log_dir
        .open_log(
            "my-topic",
            3,
            uuid::Uuid::from_bytes([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]),
            LogConfig::default(),
        )
        .unwrap();
    append(&orders, &BatchSpec::plain(5, 10));
    orders.flush().unwrap();
    append(&orders, &BatchSpec::plain(2, 10)); // not yet synced
    append(&other, &BatchSpec::plain(4, 10));
    other.delete_records_before(3).unwrap();
    log_dir
        .checkpoint(&[orders.clone(), other.clone()])
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.path().join("recovery-point-offset-checkpoint")).unwrap(),
        "0\n2\norders 0 5\nmy-topic 3 0\n"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("log-start-offset-checkpoint")).unwrap(),
        "0\n2\norders 0 0\nmy-topic 3 3\n"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("my-topic-3/partition.metadata")).unwrap(),
        "version: 0\ntopic_id: AQIDBAUGBwgJCgsMDQ4PEA\n"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("my-topic-3/leader-epoch-checkpoint")).unwrap(),
        "0\n1\n0 3\n"
    );
    assert!(
        !dir.path()
            .join("recovery-point-offset-checkpoint.tmp")
            .exists()
    );
}

#[test]
fn log_dir_lock_marker_and_partition_listing() {
    let dir = tempfile::tempdir().unwrap();
    let log_dir = takhin_storage::LogDir::open(dir.path()).unwrap();
    assert!(!log_dir.was_clean_shutdown());
    assert!(matches!(
        takhin_storage::LogDir::open(dir.path()),
        Err(takhin_storage::StorageError::Locked(_))
    ));
    let (log, _) = log_dir
        .open_log("my-topic", 2, topic_id(), LogConfig::default())
        .unwrap();
    let (doomed, _) = log_dir
        .open_log("doomed", 0, topic_id(), LogConfig::default())
        .unwrap();
    std::fs::create_dir(dir.path().join("stale-0.0123456789abcdef-delete")).unwrap();
    std::fs::create_dir(dir.path().join("not_a_partition")).unwrap();
    assert_eq!(
        log_dir.partition_dirs().unwrap(),
        vec![("doomed".to_string(), 0), ("my-topic".to_string(), 2)]
    );
    assert!(!dir.path().join("stale-0.0123456789abcdef-delete").exists());
    log_dir.delete_log(&doomed).unwrap();
    assert!(!dir.path().join("doomed-0").exists());
    assert!(
        doomed
            .append(BatchSpec::plain(1, 1).validated(), options(0))
            .is_err()
    );
    assert!(matches!(
        log_dir.open_log("my-topic", 2, uuid::Uuid::new_v4(), LogConfig::default()),
        Err(takhin_storage::StorageError::AlreadyOpen { .. })
    ));
    log_dir.close(std::slice::from_ref(&log)).unwrap();
    assert!(dir.path().join(".kafka_cleanshutdown").exists());
    drop(log_dir);
    let reopened = takhin_storage::LogDir::open(dir.path()).unwrap();
    assert!(reopened.was_clean_shutdown());
    assert!(
        !dir.path().join(".kafka_cleanshutdown").exists(),
        "marker removed on open"
    );
}

#[test]
fn sync_to_advances_recovery_point_with_concurrent_callers() {
    let dir = tempfile::tempdir().unwrap();
    let (_log_dir, log, _) = open(dir.path(), small_segments(4_000));
    assert_eq!(log.recovery_point(), 0);
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for _ in 0..25 {
                    let outcome = append(&log, &BatchSpec::plain(2, 50));
                    log.sync_to(outcome.last_offset + 1).unwrap();
                    assert!(log.recovery_point() > outcome.last_offset);
                    let read = log.read(outcome.base_offset, 1, i64::MAX, true).unwrap();
                    assert_eq!(
                        batch_headers(&read.records)[0].base_offset,
                        outcome.base_offset
                    );
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(log.log_end_offset(), 200);
    assert_eq!(log.recovery_point(), 200);
    assert!(log.segment_count() > 1);
    log.flush().unwrap();
    assert_eq!(read_all(&log, 0).len(), 100);
}

#[test]
fn concurrent_reads_see_only_whole_batches() {
    let dir = tempfile::tempdir().unwrap();
    let (_log_dir, log, _) = open(dir.path(), small_segments(10_000));
    let writer = {
        let log = Arc::clone(&log);
        std::thread::spawn(move || {
            for index in 0..200usize {
                append(&log, &BatchSpec::plain(1 + index % 3, 40));
            }
        })
    };
    let mut offset = 0;
    while offset < 400 && !(writer.is_finished() && offset == log.log_end_offset()) {
        let result = log.read(offset, 700, i64::MAX, true).unwrap();
        for header in batch_headers(&result.records) {
            assert_eq!(header.base_offset, offset);
            offset = header.last_offset() + 1;
        }
    }
    writer.join().unwrap();
    assert_eq!(offset, log.log_end_offset());
}

#[test]
fn write_failure_takes_the_log_offline_without_publishing() {
    let dir = tempfile::tempdir().unwrap();
    let partition = dir.path().join("orders-0");
    std::fs::create_dir(&partition).unwrap();
    // Every write to /dev/full fails with ENOSPC.
    std::os::unix::fs::symlink("/dev/full", partition.join("00000000000000000000.log")).unwrap();
    let (_log_dir, log, _) = open(dir.path(), LogConfig::default());
    let err = log
        .append(BatchSpec::plain(2, 10).validated(), options(0))
        .unwrap_err();
    assert!(
        matches!(err, takhin_storage::AppendError::Io { .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("00000000000000000000.log"),
        "{err}"
    );
    assert_eq!(log.log_end_offset(), 0, "nothing published");
    assert!(log.is_offline());
    assert!(log.read(0, 100, i64::MAX, true).unwrap().records.is_empty());
    let again = log
        .append(BatchSpec::plain(1, 10).validated(), options(0))
        .unwrap_err();
    assert!(again.to_string().contains("offline"), "{again}");
    assert!(
        log.flush().is_ok(),
        "nothing to sync below the log end offset"
    );
}

#[test]
fn open_log_twice_and_reopen_in_process() {
    let dir = tempfile::tempdir().unwrap();
    let (log_dir, log, _) = open(dir.path(), LogConfig::default());
    append(&log, &BatchSpec::plain(2, 10));
    log_dir.close(std::slice::from_ref(&log)).unwrap();
    drop((log, log_dir));
    let log_dir = takhin_storage::LogDir::open(dir.path()).unwrap();
    assert!(log_dir.was_clean_shutdown());
    let (log, report) = log_dir
        .open_log(TOPIC, 0, topic_id(), LogConfig::default())
        .unwrap();
    assert_eq!(
        report.segments_scanned, 0,
        "first open after a clean shutdown trusts the files"
    );
    assert!(matches!(
        log_dir.open_log(TOPIC, 0, topic_id(), LogConfig::default()),
        Err(takhin_storage::StorageError::AlreadyOpen { partition: 0, .. })
    ));
    append(&log, &BatchSpec::plain(1, 10));
    drop(log); // e.g. dropped after an I/O error, never closed
    let (log, report) = log_dir
        .open_log(TOPIC, 0, topic_id(), LogConfig::default())
        .unwrap();
    assert!(
        report.segments_scanned > 0,
        "a reopen in the same process verifies: {report}"
    );
    assert_eq!(log.log_end_offset(), 3);
    drop(log);
    assert!(matches!(
        log_dir.open_log(TOPIC, 0, uuid::Uuid::new_v4(), LogConfig::default()),
        Err(takhin_storage::StorageError::TopicIdMismatch { .. })
    ));
}

#[test]
fn recreated_partition_does_not_inherit_old_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let (log_dir, log, _) = open(dir.path(), LogConfig::default());
    append(&log, &BatchSpec::plain(5, 10));
    log.delete_records_before(4).unwrap();
    log.flush().unwrap();
    log_dir.checkpoint(std::slice::from_ref(&log)).unwrap();
    log_dir.delete_log(&log).unwrap();
    drop(log);
    let (log, _) = log_dir
        .open_log(TOPIC, 0, uuid::Uuid::new_v4(), LogConfig::default())
        .unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (0, 0));
    log_dir.checkpoint(std::slice::from_ref(&log)).unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.path().join("log-start-offset-checkpoint")).unwrap(),
        "0\n1\norders 0 0\n"
    );
}

#[test]
fn checkpoint_keeps_partitions_not_yet_opened() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("recovery-point-offset-checkpoint"),
        "0\n2\nzeta 1 70\norders 0 9\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("log-start-offset-checkpoint"),
        "0\n1\nzeta 1 5\n",
    )
    .unwrap();
    let (log_dir, log, _) = open(dir.path(), LogConfig::default());
    append(&log, &BatchSpec::plain(3, 10));
    log.flush().unwrap();
    log_dir.checkpoint(std::slice::from_ref(&log)).unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.path().join("recovery-point-offset-checkpoint")).unwrap(),
        "0\n2\norders 0 3\nzeta 1 70\n"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("log-start-offset-checkpoint")).unwrap(),
        "0\n2\norders 0 0\nzeta 1 5\n"
    );
}

#[test]
fn nil_topic_id_means_unknown_and_stray_partitions_can_be_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let (log_dir, log, _) = open(dir.path(), LogConfig::default());
    append(&log, &BatchSpec::plain(1, 10));
    assert!(matches!(
        log_dir.delete_partition(TOPIC, 0),
        Err(takhin_storage::StorageError::AlreadyOpen { .. })
    ));
    drop(log);
    // Opening with the nil id checks nothing and reports the id on disk.
    let (stray, _) = log_dir
        .open_log(TOPIC, 0, uuid::Uuid::nil(), LogConfig::default())
        .unwrap();
    assert_eq!(stray.topic_id(), topic_id());
    drop(stray);
    let (fresh, _) = log_dir
        .open_log("fresh", 1, uuid::Uuid::nil(), LogConfig::default())
        .unwrap();
    assert!(
        !fresh.dir().join("partition.metadata").exists(),
        "no id to record"
    );
    drop(fresh);
    log_dir.delete_partition(TOPIC, 0).unwrap();
    log_dir.delete_partition("fresh", 1).unwrap();
    log_dir.delete_partition("never-existed", 0).unwrap();
    assert!(log_dir.partition_dirs().unwrap().is_empty());
}
