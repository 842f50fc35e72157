#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Log compaction (`Log::clean`): a seeded model test against a reference implementation of
//! Kafka's rules (KIP-534 delete horizons included, on an injected clock), tombstone expiry and
//! its scheduling, `min.compaction.lag.ms`, the bounded offset map, and crash safety of the
//! `.cleaned` / `.swap` protocol (every intermediate file state, reopened).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use common::*;
use takhin_storage::{
    AppendOptions, BatchBuilderParams, CleanOptions, CleanReport, Compression, Log, LogConfig,
    Record, check_stored_batch, decode_records, encode_batch, validate,
};

/// One record as a consumer sees it, with the base offset of its batch (which compaction
/// never changes: batches are rewritten in place, never combined).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    offset: i64,
    timestamp: i64,
    key: Option<Bytes>,
    value: Option<Bytes>,
    batch_base: i64,
}

/// xorshift64*: deterministic and dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

const CODECS: [Compression; 5] = [
    Compression::None,
    Compression::Gzip,
    Compression::Snappy,
    Compression::Lz4,
    Compression::Zstd,
];

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 1_500,
        index_interval_bytes: 128,
        ..LogConfig::default()
    }
}

/// Appends one batch of `(key, value)` records at `timestamp_ms`; returns the entries written.
fn append_batch(
    log: &Log,
    records: &[(Option<&str>, Option<String>)],
    timestamp_ms: i64,
    compression: Compression,
    producer: Option<(i64, i32)>,
) -> Vec<Entry> {
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(index, (key, value))| Record {
            offset: index as i64,
            timestamp: timestamp_ms + index as i64,
            key: key.map(|key| Bytes::from(key.to_string())),
            value: value.clone().map(Bytes::from),
            headers: vec![],
        })
        .collect();
    let (producer_id, producer_epoch, base_sequence) = match producer {
        Some((id, sequence)) => (id, 0, sequence),
        None => (-1, -1, -1),
    };
    let params = BatchBuilderParams {
        compression,
        producer_id,
        producer_epoch,
        base_sequence,
        ..BatchBuilderParams::default()
    };
    let batch = validate(encode_batch(&params, &records).unwrap()).unwrap();
    let outcome = log
        .append(
            batch,
            AppendOptions {
                now_ms: timestamp_ms,
                leader_epoch: 0,
            },
        )
        .unwrap();
    assert!(!outcome.duplicate);
    records
        .into_iter()
        .map(|record| Entry {
            offset: outcome.base_offset + record.offset,
            timestamp: record.timestamp,
            key: record.key,
            value: record.value,
            batch_base: outcome.base_offset,
        })
        .collect()
}

/// Every record from the log start, checking each batch's framing and CRC, that offsets only
/// increase, and that each batch's records lie within its declared offset range.
fn read_entries(log: &Log) -> Vec<Entry> {
    read_log(log).0
}

/// [`read_entries`], and the delete horizon of every batch that has one (by base offset),
/// checking that only batches holding a tombstone have one.
fn read_log(log: &Log) -> (Vec<Entry>, BTreeMap<i64, i64>) {
    let mut entries: Vec<Entry> = Vec::new();
    let mut horizons = BTreeMap::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let bytes = log.read(offset, 1 << 20, i64::MAX, true).unwrap().records;
        assert!(!bytes.is_empty(), "no progress reading at {offset}");
        let mut position = 0;
        while position < bytes.len() {
            let header = check_stored_batch(&bytes[position..]).unwrap();
            let batch = &bytes[position..position + header.total_size()];
            let (_, records) = decode_records(batch, 1 << 24).unwrap();
            assert_eq!(records.len(), header.records_count as usize);
            let holds_tombstone = records.iter().any(|record| record.value.is_none());
            if let Some(horizon) = header.delete_horizon_ms() {
                horizons.insert(header.base_offset, horizon);
            }
            // (A batch no clean has covered yet holds tombstones without one.)
            assert!(
                header.delete_horizon_ms().is_none() || holds_tombstone,
                "batch at {}: a delete horizon only while it holds a tombstone",
                header.base_offset
            );
            for record in records {
                assert!(record.offset >= header.base_offset);
                assert!(record.offset <= header.last_offset());
                if let Some(previous) = entries.last() {
                    assert!(record.offset > previous.offset, "offsets must increase");
                }
                entries.push(Entry {
                    offset: record.offset,
                    timestamp: record.timestamp,
                    key: record.key,
                    value: record.value,
                    batch_base: header.base_offset,
                });
            }
            position += header.total_size();
            offset = header.last_offset() + 1;
        }
    }
    (entries, horizons)
}

/// The consumer's view of a compacted topic: latest value per key (tombstones = absent).
fn latest_values(entries: &[Entry]) -> BTreeMap<Bytes, Bytes> {
    let mut latest = BTreeMap::new();
    for entry in entries {
        let Some(key) = &entry.key else { continue };
        match &entry.value {
            Some(value) => latest.insert(key.clone(), value.clone()),
            None => latest.remove(key),
        };
    }
    latest
}

/// What a consumer should read back: the records, and each batch's delete horizon.
#[derive(Clone, Debug, Default)]
struct Model {
    entries: Vec<Entry>,
    horizons: BTreeMap<i64, i64>,
}

/// What one modelled clean did to tombstones.
#[derive(Debug, Default)]
struct TombstoneCounts {
    removed: u64,
    kept_before_horizon: u64,
    horizons_set: u64,
}

/// Reference implementation of the retention rules for a clean at `now_ms` whose map covers
/// `[.., map_end)`: per batch below `map_end`, keyless and superseded records go, tombstones go
/// iff the batch has a delete horizon and `now_ms` reached it; a batch left holding a tombstone
/// keeps its horizon or gets `now_ms + delete_retention_ms`, any other batch has none.
fn clean_model(
    model: &mut Model,
    map_end: i64,
    now_ms: i64,
    delete_retention_ms: i64,
) -> TombstoneCounts {
    let mut counts = TombstoneCounts::default();
    let mut latest: BTreeMap<Bytes, i64> = BTreeMap::new();
    for entry in model.entries.iter().filter(|entry| entry.offset < map_end) {
        if let Some(key) = &entry.key {
            latest.insert(key.clone(), entry.offset);
        }
    }
    let mut kept = Vec::with_capacity(model.entries.len());
    let mut index = 0;
    while index < model.entries.len() {
        let base = model.entries[index].batch_base;
        let end = index
            + model.entries[index..]
                .iter()
                .take_while(|entry| entry.batch_base == base)
                .count();
        let batch = &model.entries[index..end];
        index = end;
        if base >= map_end {
            kept.extend_from_slice(batch);
            continue;
        }
        let expired = model
            .horizons
            .get(&base)
            .is_some_and(|horizon| now_ms >= *horizon);
        let mut holds_tombstone = false;
        for entry in batch {
            let Some(key) = &entry.key else { continue };
            if latest[key] > entry.offset {
                continue;
            }
            if entry.value.is_none() {
                if expired {
                    counts.removed += 1;
                    continue;
                }
                holds_tombstone = true;
                counts.kept_before_horizon += 1;
            }
            kept.push(entry.clone());
        }
        if holds_tombstone {
            model.horizons.entry(base).or_insert_with(|| {
                counts.horizons_set += 1;
                now_ms.saturating_add(delete_retention_ms)
            });
        } else {
            model.horizons.remove(&base);
        }
    }
    model.entries = kept;
    counts
}

/// Appends `batches` random batches: `keys` distinct keys, ~15% tombstones, ~3% keyless
/// records, all codecs, a third from an idempotent producer.
fn append_random(
    log: &Log,
    rng: &mut Rng,
    batches: usize,
    keys: u64,
    clock_ms: &mut i64,
    sequence: &mut i32,
) -> Vec<Entry> {
    let mut written = Vec::new();
    for _ in 0..batches {
        let count = 1 + rng.below(6) as usize;
        let keys_text: Vec<Option<String>> = (0..count)
            .map(|_| (!rng.chance(3)).then(|| format!("key-{}", rng.below(keys))))
            .collect();
        let records: Vec<(Option<&str>, Option<String>)> = keys_text
            .iter()
            .map(|key| {
                let value = (!rng.chance(15)).then(|| format!("value-{}", rng.next()));
                (key.as_deref(), value)
            })
            .collect();
        let codec = CODECS[rng.below(CODECS.len() as u64) as usize];
        let producer = rng.chance(33).then_some((42, *sequence));
        if producer.is_some() {
            *sequence += count as i32;
        }
        *clock_ms += 10;
        written.extend(append_batch(log, &records, *clock_ms, codec, producer));
    }
    written
}

/// A `delete.retention.ms` no test clock reaches.
const KEEP_TOMBSTONES_MS: i64 = i64::MAX / 4;

fn options(dedupe_buffer_bytes: usize, delete_retention_ms: i64) -> CleanOptions {
    CleanOptions {
        dedupe_buffer_bytes,
        delete_retention_ms,
        ..CleanOptions::default()
    }
}

/// Cleans at `now_ms` and checks the log against the model cleaned the same way.
fn clean_and_check(
    log: &Log,
    model: &mut Model,
    options: CleanOptions,
    now_ms: i64,
    seed: u64,
) -> (CleanReport, TombstoneCounts) {
    let delete_retention_ms = options.delete_retention_ms;
    let report = log.clean(options, now_ms).unwrap();
    let active_base = *log.segment_base_offsets().last().unwrap();
    assert_eq!(
        report.cleanable_end_offset,
        Some(active_base),
        "seed {seed}"
    );
    let map_end = report.map_end_offset.unwrap();
    assert!(map_end <= active_base, "seed {seed}");
    if !report.map_full {
        assert_eq!(map_end, active_base, "seed {seed}");
    }
    let before = latest_values(&model.entries);
    let counts = clean_model(model, map_end, now_ms, delete_retention_ms);
    let (entries, horizons) = read_log(log);
    assert_eq!(entries, model.entries, "seed {seed}: {report:?}");
    assert_eq!(horizons, model.horizons, "seed {seed}: {report:?}");
    assert_eq!(latest_values(&entries), before, "seed {seed}");
    assert_eq!(report.tombstones_removed, counts.removed, "seed {seed}");
    assert_eq!(
        report.delete_horizons_set, counts.horizons_set,
        "seed {seed}"
    );
    // The next clean that can remove a tombstone is the earliest horizon of the covered range.
    let covered_horizon = model
        .horizons
        .range(..map_end)
        .map(|(_, horizon)| *horizon)
        .min();
    assert_eq!(
        report.next_delete_horizon_ms, covered_horizon,
        "seed {seed}"
    );
    (report, counts)
}

#[test]
fn randomized_model_compaction_keeps_latest_per_key() {
    let mut totals = CleanReport::default();
    let mut tombstones_kept_before_horizon = 0;
    for seed in 1..=24u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let dir = tempfile::tempdir().unwrap();
        let (mut log_dir, mut log, _) = open(dir.path(), config());
        let (mut clock_ms, mut sequence) = (1_000, 0);
        let keys = 5 + rng.below(60);
        let mut model = Model {
            entries: append_random(&log, &mut rng, 120, keys, &mut clock_ms, &mut sequence),
            ..Model::default()
        };
        for round in 0..6 {
            log.flush().unwrap();
            // Small buffers make the map fill part-way (only the covered range is cleaned).
            let dedupe_buffer_bytes = if rng.chance(30) { 2_000 } else { 1 << 20 };
            // Horizons from now to never; the clock (an injected `now`, no sleeping) moves on
            // by up to ~1 s per round, so some horizons pass and some do not.
            let delete_retention_ms =
                [0, 50, 400, 1_500, KEEP_TOMBSTONES_MS][rng.below(5) as usize];
            clock_ms += rng.below(600) as i64;
            let (report, counts) = clean_and_check(
                &log,
                &mut model,
                options(dedupe_buffer_bytes, delete_retention_ms),
                clock_ms,
                seed,
            );
            tombstones_kept_before_horizon += counts.kept_before_horizon;
            totals.map_full |= report.map_full;
            totals.segments_cleaned += report.segments_cleaned;
            totals.tombstones_removed += report.tombstones_removed;
            totals.keyless_records_removed += report.keyless_records_removed;
            totals.empty_batches_retained += report.empty_batches_retained;
            totals.batches_removed += report.batches_removed;
            totals.delete_horizons_set += report.delete_horizons_set;
            if round == 1 || round == 4 {
                // Reopen (clean on odd seeds, as after a crash on even ones): cleaned segments,
                // offset gaps, empty batches and delete horizons pass recovery unchanged, and
                // the scheduling reads the earliest horizon back from the batch headers.
                if seed % 2 == 1 {
                    log_dir.close(std::slice::from_ref(&log)).unwrap();
                }
                drop((log_dir, log));
                let report;
                (log_dir, log, report) = open(dir.path(), config());
                assert_eq!(report.bytes_truncated, 0, "seed {seed}: {report}");
                if seed % 2 == 0 {
                    // No recovery-point checkpoint was written: every segment, compacted ones
                    // included, was verified batch by batch.
                    assert_eq!(report.segments_scanned, report.segments_loaded, "{report}");
                }
                let (entries, horizons) = read_log(&log);
                assert_eq!(entries, model.entries, "seed {seed} after reopen");
                assert_eq!(horizons, model.horizons, "seed {seed} after reopen");
                let stats = log.dirty_stats(&CleanOptions::default(), clock_ms).unwrap();
                let below_first_dirty = model
                    .horizons
                    .range(..log.first_dirty_offset())
                    .map(|(_, horizon)| *horizon)
                    .min();
                assert_eq!(
                    stats.earliest_delete_horizon_ms, below_first_dirty,
                    "seed {seed}"
                );
            }
            model.entries.extend(append_random(
                &log,
                &mut rng,
                40,
                keys,
                &mut clock_ms,
                &mut sequence,
            ));
        }
    }
    // The seeds exercise every rule.
    assert!(totals.map_full, "{totals:?}");
    assert!(totals.segments_cleaned > 100, "{totals:?}");
    assert!(totals.tombstones_removed > 0, "{totals:?}");
    assert!(totals.delete_horizons_set > 0, "{totals:?}");
    assert!(tombstones_kept_before_horizon > 0, "{totals:?}");
    assert!(totals.keyless_records_removed > 0, "{totals:?}");
    assert!(totals.empty_batches_retained > 0, "{totals:?}");
    assert!(totals.batches_removed > 0, "{totals:?}");
}

/// Appends single-record batches `(key, value)` from `timestamp_ms` and rolls past them with
/// two big records, so they lie in closed segments; flushes.
fn append_and_close(log: &Log, records: &[(&str, Option<&str>)], timestamp_ms: i64) -> Vec<Entry> {
    let mut written = Vec::new();
    for (index, (key, value)) in records.iter().enumerate() {
        written.extend(append_batch(
            log,
            &[(Some(key), value.map(str::to_string))],
            timestamp_ms + index as i64 * 10,
            Compression::None,
            None,
        ));
    }
    let filler = "x".repeat(1_600);
    for key in ["filler-1", "filler-2"] {
        append_batch(
            log,
            &[(Some(key), Some(filler.clone()))],
            timestamp_ms,
            Compression::None,
            None,
        );
    }
    log.flush().unwrap();
    written
}

/// The delete horizon of the batch holding `offset`, read from the log.
fn horizon_at(log: &Log, offset: i64) -> Option<i64> {
    let bytes = log.read(offset, 1, i64::MAX, true).unwrap().records;
    check_stored_batch(&bytes).unwrap().delete_horizon_ms()
}

#[test]
fn tombstones_live_delete_retention_ms_from_the_first_clean_that_keeps_them() {
    const NOW: i64 = 1_700_000_000_000;
    const RETENTION_MS: i64 = 5_000;
    let retention = CleanOptions {
        delete_retention_ms: RETENTION_MS,
        ..CleanOptions::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let (log_dir, log, _) = open(dir.path(), config());
    // Records stamped (CreateTime) long ago: by the segment's largest timestamp the tombstone
    // would be far past `delete.retention.ms` already.
    let written = append_and_close(
        &log,
        &[("a", Some("1")), ("b", Some("2")), ("a", None)],
        1_000,
    );
    let tombstone = written[2].clone();
    assert_eq!((tombstone.offset, tombstone.value.as_ref()), (2, None));

    // First clean: "a"=1 goes (superseded), the tombstone stays and its batch gets the horizon
    // NOW + delete.retention.ms; its record timestamp is unchanged.
    let report = log.clean(retention.clone(), NOW).unwrap();
    assert_eq!(
        (
            report.records_removed,
            report.tombstones_removed,
            report.delete_horizons_set
        ),
        (1, 0, 1),
        "{report:?}"
    );
    assert_eq!(report.next_delete_horizon_ms, Some(NOW + RETENTION_MS));
    assert_eq!(horizon_at(&log, 2), Some(NOW + RETENTION_MS));
    assert_eq!(horizon_at(&log, 1), None);
    let entries = read_entries(&log);
    assert_eq!(entries[..2], [written[1].clone(), tombstone.clone()]);

    // Scheduling: nothing is dirty, but the horizon triggers a clean once reached.
    let stats = log.dirty_stats(&retention, NOW + RETENTION_MS - 1).unwrap();
    assert_eq!(stats.dirty_bytes, 0);
    assert_eq!(stats.earliest_delete_horizon_ms, Some(NOW + RETENTION_MS));
    assert!(!stats.should_clean(0.5, i64::MAX, NOW + RETENTION_MS - 1));
    assert!(stats.should_clean(0.5, i64::MAX, NOW + RETENTION_MS));

    // A clean before the horizon keeps the tombstone and does not move the horizon.
    let report = log
        .clean(retention.clone(), NOW + RETENTION_MS - 1)
        .unwrap();
    assert_eq!(
        (
            report.tombstones_removed,
            report.delete_horizons_set,
            report.segments_cleaned
        ),
        (0, 0, 0),
        "{report:?}"
    );
    assert_eq!(horizon_at(&log, 2), Some(NOW + RETENTION_MS));

    // After a restart the horizon is read back from the batch headers.
    log_dir.close(std::slice::from_ref(&log)).unwrap();
    drop((log_dir, log));
    let (_log_dir, log, _) = open(dir.path(), config());
    let stats = log.dirty_stats(&retention, NOW + RETENTION_MS).unwrap();
    assert_eq!(stats.earliest_delete_horizon_ms, Some(NOW + RETENTION_MS));
    assert!(stats.should_clean(0.5, i64::MAX, NOW + RETENTION_MS));

    // At the horizon the tombstone goes; its batch stays as an empty header (last batch of its
    // segment), so the offsets after it do not move, and no horizon is left to wait for.
    let report = log.clean(retention.clone(), NOW + RETENTION_MS).unwrap();
    assert_eq!(report.tombstones_removed, 1, "{report:?}");
    assert_eq!(report.next_delete_horizon_ms, None);
    let entries = read_entries(&log);
    assert_eq!(entries[0], written[1]);
    assert_eq!(entries[1].offset, 3);
    assert!(
        entries
            .iter()
            .all(|entry| entry.key.as_deref() != Some(b"a".as_slice()))
    );
    let stats = log.dirty_stats(&retention, NOW + RETENTION_MS).unwrap();
    assert_eq!(stats.earliest_delete_horizon_ms, None);
    assert!(!stats.should_clean(0.5, i64::MAX, i64::MAX));
    // A fetch at the removed offset gets the (empty) batch that covers it, then moves on.
    let bytes = log.read(2, 1 << 20, i64::MAX, true).unwrap().records;
    let header = check_stored_batch(&bytes).unwrap();
    assert_eq!(
        (
            header.last_offset(),
            header.records_count,
            header.delete_horizon_ms()
        ),
        (2, 0, None)
    );
}

#[test]
fn a_batch_keeps_its_horizon_while_it_holds_a_tombstone_and_loses_it_after() {
    const NOW: i64 = 1_700_000_000_000;
    let dir = tempfile::tempdir().unwrap();
    let (_log_dir, log, _) = open(dir.path(), config());
    // One batch: x=1, t=null (tombstone), y=1.
    let first = append_batch(
        &log,
        &[
            (Some("x"), Some("1".into())),
            (Some("t"), None),
            (Some("y"), Some("1".into())),
        ],
        1_000,
        Compression::Zstd,
        None,
    );
    let clean = |log: &Log, now_ms: i64| log.clean(options(1 << 20, 1_000), now_ms).unwrap();
    append_and_close(&log, &[("x", Some("2"))], 2_000);
    let report = clean(&log, NOW);
    assert_eq!(report.delete_horizons_set, 1, "{report:?}");
    assert_eq!(horizon_at(&log, 0), Some(NOW + 1_000));
    // y=1 is superseded later: the batch is rewritten, and the tombstone's horizon stays the
    // one the first clean set, not moved to the second clean's time.
    append_and_close(&log, &[("y", Some("2"))], 3_000);
    let report = clean(&log, NOW + 500);
    assert_eq!(
        (report.delete_horizons_set, report.tombstones_removed),
        (0, 0),
        "{report:?}"
    );
    assert_eq!(horizon_at(&log, 0), Some(NOW + 1_000));
    let entries = read_entries(&log);
    assert_eq!(entries[0], first[1]);
    assert_ne!(entries[1].batch_base, 0);
    // At the horizon the tombstone goes too: an empty header remains, without a horizon.
    let report = clean(&log, NOW + 1_000);
    assert_eq!(report.tombstones_removed, 1, "{report:?}");
    assert_eq!(horizon_at(&log, 0), None);
    assert!(read_entries(&log).iter().all(|entry| entry.offset > 2));
}

#[test]
fn min_compaction_lag_protects_recent_segments() {
    let dir = tempfile::tempdir().unwrap();
    let (_log_dir, log, _) = open(dir.path(), config());
    let value = "v".repeat(200);
    // Old segment(s): timestamps around 1_000; young ones around 100_000.
    for index in 0..20 {
        append_batch(
            &log,
            &[(Some("k"), Some(format!("{index}{value}")))],
            1_000 + index,
            Compression::None,
            None,
        );
    }
    let old_end = log.log_end_offset();
    for index in 0..20 {
        append_batch(
            &log,
            &[(Some("k"), Some(format!("{index}{value}")))],
            100_000 + index,
            Compression::Gzip,
            None,
        );
    }
    log.flush().unwrap();
    let bases = log.segment_base_offsets();
    assert!(bases.len() > 4, "{bases:?}");
    let options = CleanOptions {
        min_compaction_lag_ms: 50_000,
        delete_retention_ms: 0,
        ..CleanOptions::default()
    };
    let report = log.clean(options, 120_000).unwrap();
    let cleanable_end = report.cleanable_end_offset.unwrap();
    // The first segment holding a young record bounds the cleanable range.
    let first_young = *bases.iter().rev().find(|base| **base < old_end).unwrap();
    assert_eq!(cleanable_end, first_young, "{report:?}");
    let entries = read_entries(&log);
    let young: Vec<i64> = entries
        .iter()
        .map(|entry| entry.offset)
        .filter(|offset| *offset >= cleanable_end)
        .collect();
    assert_eq!(
        young,
        (cleanable_end..log.log_end_offset()).collect::<Vec<_>>()
    );
    // Below it, only the last record of the covered range survives... and every segment ends
    // where it did, through the empty batches the cleaner keeps.
    let old: Vec<i64> = entries
        .iter()
        .map(|entry| entry.offset)
        .filter(|offset| *offset < cleanable_end)
        .collect();
    assert_eq!(old, vec![cleanable_end - 1]);
    assert_eq!(log.segment_base_offsets(), bases);
}

#[test]
fn idempotent_producer_keeps_its_last_batch_header() {
    let dir = tempfile::tempdir().unwrap();
    let (_log_dir, log, _) = open(dir.path(), config());
    append_batch(
        &log,
        &[(Some("k"), Some("1".into())), (Some("k"), Some("2".into()))],
        1_000,
        Compression::Zstd,
        Some((7, 0)),
    );
    append_batch(
        &log,
        &[(Some("k"), Some("3".into()))],
        1_001,
        Compression::None,
        None,
    );
    append_batch(
        &log,
        &[(Some("j"), Some("x".repeat(1_600)))],
        1_002,
        Compression::None,
        None,
    );
    append_batch(
        &log,
        &[(Some("j"), Some("y".into()))],
        1_003,
        Compression::None,
        None,
    );
    log.flush().unwrap();
    log.clean(CleanOptions::default(), 2_000).unwrap();
    let bytes = log.read(0, 1 << 20, i64::MAX, true).unwrap().records;
    let first = check_stored_batch(&bytes).unwrap();
    // Producer 7's batch lost both records but keeps offsets 0..=1 and its sequence range.
    assert_eq!(
        (first.base_offset, first.last_offset(), first.records_count),
        (0, 1, 0)
    );
    assert_eq!(
        (
            first.producer_id,
            first.base_sequence,
            first.last_sequence()
        ),
        (7, 0, 1)
    );
    // After a crash and a reopen without producer snapshots, the state replayed from the
    // empty header still knows sequence 1 was producer 7's last: 2 is in order.
    drop((log, _log_dir));
    for entry in std::fs::read_dir(partition_dir(dir.path())).unwrap() {
        let path = entry.unwrap().path();
        if path
            .extension()
            .is_some_and(|extension| extension == "snapshot")
        {
            std::fs::remove_file(path).unwrap();
        }
    }
    let (_log_dir, log, _) = open(dir.path(), config());
    let next = append_batch(
        &log,
        &[(Some("k"), Some("4".into()))],
        1_004,
        Compression::None,
        Some((7, 2)),
    );
    assert_eq!(next[0].offset, 5);
}

// ---------------------------------------------------------------------------------------------
// Crash safety: every file state the swap can leave behind, reopened.

fn partition_dir(data: &Path) -> PathBuf {
    data.join(format!("{TOPIC}-0"))
}

fn file(dir: &Path, base: i64, suffix: &str) -> PathBuf {
    dir.join(format!("{base:020}.{suffix}"))
}

/// A closed log with overwrites across several segments (old state) and its cleaned copy.
struct CrashFixture {
    _root: tempfile::TempDir,
    old: PathBuf,
    new: PathBuf,
    old_entries: Vec<Entry>,
    new_entries: Vec<Entry>,
    /// Base offset of a segment the clean rewrote.
    base: i64,
}

fn crash_fixture() -> CrashFixture {
    let root = tempfile::tempdir().unwrap();
    let old = root.path().join("old");
    let new = root.path().join("new");
    let (log_dir, log, _) = open(&old, config());
    let mut rng = Rng(99);
    let (mut clock_ms, mut sequence) = (1_000, 0);
    append_random(&log, &mut rng, 150, 12, &mut clock_ms, &mut sequence);
    log.flush().unwrap();
    let old_entries = read_entries(&log);
    log_dir.close(std::slice::from_ref(&log)).unwrap();
    drop((log_dir, log));
    copy_dir(&old, &new);
    let (log_dir, log, _) = open(&new, config());
    let report = log
        .clean(options(1 << 20, KEEP_TOMBSTONES_MS), clock_ms)
        .unwrap();
    assert!(report.segments_cleaned >= 3, "{report:?}");
    let new_entries = read_entries(&log);
    assert_ne!(old_entries, new_entries);
    log_dir.close(std::slice::from_ref(&log)).unwrap();
    drop((log_dir, log));
    // Pick a segment whose file changed.
    let bases: Vec<i64> = {
        let mut bases: Vec<i64> = std::fs::read_dir(partition_dir(&old))
            .unwrap()
            .filter_map(|entry| {
                let name = entry.unwrap().file_name().into_string().unwrap();
                name.strip_suffix(".log").map(|stem| stem.parse().unwrap())
            })
            .collect();
        bases.sort_unstable();
        bases
    };
    let base = *bases
        .iter()
        .find(|base| {
            std::fs::read(file(&partition_dir(&old), **base, "log")).unwrap()
                != std::fs::read(file(&partition_dir(&new), **base, "log")).unwrap()
        })
        .unwrap();
    CrashFixture {
        _root: root,
        old,
        new,
        old_entries,
        new_entries,
        base,
    }
}

/// Builds a data directory from the old one plus the given files of the new segment `base`
/// (`(new file suffix, name in the crashed directory)`), minus `remove`; reopens it (with or
/// without the clean-shutdown marker) and returns what a consumer reads.
fn crashed_state(
    fixture: &CrashFixture,
    name: &str,
    new_files: &[(&str, &str)],
    remove: &[&str],
    clean_marker: bool,
) -> (Vec<Entry>, takhin_storage::RecoveryReport) {
    let data = fixture._root.path().join(name);
    copy_dir(&fixture.old, &data);
    if !clean_marker {
        std::fs::remove_file(data.join(takhin_storage::CLEAN_SHUTDOWN_MARKER)).unwrap();
    }
    let (from, to) = (partition_dir(&fixture.new), partition_dir(&data));
    for (suffix, target) in new_files {
        std::fs::copy(
            file(&from, fixture.base, suffix),
            file(&to, fixture.base, target),
        )
        .unwrap();
    }
    for suffix in remove {
        std::fs::remove_file(file(&to, fixture.base, suffix)).unwrap();
    }
    let (_log_dir, log, report) = open(&data, config());
    let leftovers: Vec<String> = std::fs::read_dir(&to)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".cleaned") || name.ends_with(".swap"))
        .collect();
    assert!(leftovers.is_empty(), "{name}: {leftovers:?}");
    let entries = read_entries(&log);
    // Every offset is found through the (rebuilt or trusted) offset index.
    for entry in &entries {
        let bytes = log.read(entry.offset, 1, i64::MAX, true).unwrap().records;
        let header = check_stored_batch(&bytes).unwrap();
        assert!(header.base_offset <= entry.offset && entry.offset <= header.last_offset());
    }
    (entries, report)
}

/// The old content with segment `base`'s offset range taken from the new content.
fn with_new_segment(fixture: &CrashFixture) -> Vec<Entry> {
    // The segment's range ends where the next segment starts; the new content in
    // [base, next base) replaces the old one there.
    let next_base = next_segment_base(&partition_dir(&fixture.old), fixture.base);
    let in_segment = |entry: &&Entry| entry.offset >= fixture.base && entry.offset < next_base;
    let mut mixed: Vec<Entry> = fixture
        .old_entries
        .iter()
        .filter(|entry| !in_segment(entry))
        .cloned()
        .collect();
    mixed.extend(fixture.new_entries.iter().filter(in_segment).cloned());
    mixed.sort_by_key(|entry| entry.offset);
    mixed
}

fn next_segment_base(dir: &Path, base: i64) -> i64 {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|entry| {
            let name = entry.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".log")
                .map(|stem| stem.parse::<i64>().unwrap())
        })
        .filter(|other| *other > base)
        .min()
        .unwrap()
}

#[test]
fn crash_at_every_swap_step_leaves_old_or_new_segment() {
    let fixture = crash_fixture();
    let mixed = with_new_segment(&fixture);
    assert_ne!(mixed, fixture.old_entries);
    assert_eq!(latest_values(&mixed), latest_values(&fixture.old_entries));
    for clean_marker in [true, false] {
        let tag = if clean_marker { "clean" } else { "unclean" };
        // Step 1: output written (maybe partly) as `.cleaned`: the old segment stands.
        let (entries, report) = crashed_state(
            &fixture,
            &format!("cleaned-{tag}"),
            &[("log", "log.cleaned"), ("index", "index.cleaned")],
            &[],
            clean_marker,
        );
        assert_eq!(entries, fixture.old_entries, "{report}");
        assert_eq!(report.cleaned_files_removed, 2);
        // Step 2, before the commit point: index `.swap` files and the `.cleaned` log.
        let (entries, report) = crashed_state(
            &fixture,
            &format!("index-swap-{tag}"),
            &[
                ("log", "log.cleaned"),
                ("index", "index.swap"),
                ("timeindex", "timeindex.swap"),
            ],
            &[],
            clean_marker,
        );
        assert_eq!(entries, fixture.old_entries, "{report}");
        // Step 2 committed: `.swap` files beside the old segment: the new one wins.
        let (entries, report) = crashed_state(
            &fixture,
            &format!("swap-and-old-{tag}"),
            &[
                ("log", "log.swap"),
                ("index", "index.swap"),
                ("timeindex", "timeindex.swap"),
            ],
            &[],
            clean_marker,
        );
        assert_eq!(entries, mixed, "{report}");
        assert_eq!(report.swaps_completed, 1);
        // Step 3 done: new indexes in place, the log still `.swap`, old log present.
        let (entries, report) = crashed_state(
            &fixture,
            &format!("new-index-old-log-{tag}"),
            &[
                ("log", "log.swap"),
                ("index", "index"),
                ("timeindex", "timeindex"),
            ],
            &[],
            clean_marker,
        );
        assert_eq!(entries, mixed, "{report}");
        // Only the `.swap` log left (old files already gone, as Kafka's deletion order can).
        let (entries, report) = crashed_state(
            &fixture,
            &format!("swap-only-{tag}"),
            &[("log", "log.swap")],
            &["log", "index", "timeindex"],
            clean_marker,
        );
        assert_eq!(entries, mixed, "{report}");
    }
}

// ---------------------------------------------------------------------------------------------
// Concurrency: appends, reads and cleaning at the same time.

#[test]
fn cleaning_runs_beside_appends_and_reads() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    let dir = tempfile::tempdir().unwrap();
    let (_log_dir, log, _) = open(dir.path(), config());
    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let log = log.clone();
        std::thread::spawn(move || {
            let mut written = Vec::new();
            for index in 0..600i64 {
                let key = format!("k{}", index % 23);
                let value = (index % 13 != 0).then(|| format!("v{index}"));
                let codec = CODECS[(index % 5) as usize];
                written.extend(append_batch(
                    &log,
                    &[(Some(&key), value)],
                    1_000 + index,
                    codec,
                    None,
                ));
                if index % 10 == 0 {
                    log.flush().unwrap();
                }
            }
            log.flush().unwrap();
            written
        })
    };
    let cleaner = {
        let (log, done) = (log.clone(), done.clone());
        std::thread::spawn(move || {
            let mut cleaned = 0;
            while !done.load(Ordering::Acquire) {
                cleaned += log
                    .clean(options(1 << 20, KEEP_TOMBSTONES_MS), 10_000)
                    .unwrap()
                    .segments_cleaned;
            }
            cleaned
        })
    };
    let reader = {
        let (log, done) = (log.clone(), done.clone());
        std::thread::spawn(move || {
            let mut reads = 0;
            while !done.load(Ordering::Acquire) {
                read_entries(&log); // checks CRCs and increasing offsets
                reads += 1;
            }
            reads
        })
    };
    let written = writer.join().unwrap();
    done.store(true, Ordering::Release);
    let cleaned = cleaner.join().unwrap();
    let reads = reader.join().unwrap();
    assert!(cleaned > 0 && reads > 0, "cleaned {cleaned}, reads {reads}");
    log.clean(options(1 << 20, KEEP_TOMBSTONES_MS), 10_000)
        .unwrap();
    let entries = read_entries(&log);
    assert!(entries.len() < written.len());
    assert_eq!(latest_values(&entries), latest_values(&written));
    let by_offset: BTreeMap<i64, &Entry> =
        written.iter().map(|entry| (entry.offset, entry)).collect();
    for entry in &entries {
        assert_eq!(by_offset[&entry.offset], entry);
    }
}
