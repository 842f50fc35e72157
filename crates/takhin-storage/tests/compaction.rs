#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Log compaction (`Log::clean`): a seeded model test against a reference implementation of
//! Kafka's rules, tombstone expiry, `min.compaction.lag.ms`, the bounded offset map, and crash
//! safety of the `.cleaned` / `.swap` protocol (every intermediate file state, reopened).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use common::*;
use takhin_storage::{
    AppendOptions, BatchBuilderParams, CleanOptions, CleanReport, Compression, Log, LogConfig,
    Record, check_stored_batch, decode_records, encode_batch, validate,
};

/// One record as a consumer sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    offset: i64,
    timestamp: i64,
    key: Option<Bytes>,
    value: Option<Bytes>,
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
        })
        .collect()
}

/// Every record from the log start, checking each batch's framing and CRC, that offsets only
/// increase, and that each batch's records lie within its declared offset range.
fn read_entries(log: &Log) -> Vec<Entry> {
    let mut entries: Vec<Entry> = Vec::new();
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
                });
            }
            position += header.total_size();
            offset = header.last_offset() + 1;
        }
    }
    entries
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

/// Reference implementation of the retention rules, for a clean whose map covers
/// `[.., map_end)` and where tombstones below `map_end` are dropped iff `drop_tombstones`.
fn expected_after_clean(model: &[Entry], map_end: i64, drop_tombstones: bool) -> Vec<Entry> {
    let mut latest: BTreeMap<Bytes, i64> = BTreeMap::new();
    for entry in model.iter().filter(|entry| entry.offset < map_end) {
        if let Some(key) = &entry.key {
            latest.insert(key.clone(), entry.offset);
        }
    }
    model
        .iter()
        .filter(|entry| {
            if entry.offset >= map_end {
                return true;
            }
            let Some(key) = &entry.key else { return false };
            if latest[key] > entry.offset {
                return false;
            }
            !(entry.value.is_none() && drop_tombstones)
        })
        .cloned()
        .collect()
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

fn options(dedupe_buffer_bytes: usize, drop_tombstones: bool) -> CleanOptions {
    CleanOptions {
        dedupe_buffer_bytes,
        // Either every tombstone is past the horizon, or none is.
        delete_retention_ms: if drop_tombstones { 0 } else { i64::MAX / 4 },
        ..CleanOptions::default()
    }
}

fn check_round(
    log: &Log,
    model: &mut Vec<Entry>,
    report: &CleanReport,
    drop_tombstones: bool,
    seed: u64,
) {
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
    let before = latest_values(model);
    *model = expected_after_clean(model, map_end, drop_tombstones);
    let entries = read_entries(log);
    assert_eq!(entries, *model, "seed {seed}: {report:?}");
    if !drop_tombstones {
        assert_eq!(latest_values(&entries), before, "seed {seed}");
    }
}

#[test]
fn randomized_model_compaction_keeps_latest_per_key() {
    let mut totals = CleanReport::default();
    for seed in 1..=24u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let dir = tempfile::tempdir().unwrap();
        let (mut log_dir, mut log, _) = open(dir.path(), config());
        let (mut clock_ms, mut sequence) = (1_000, 0);
        let keys = 5 + rng.below(60);
        let mut model = append_random(&log, &mut rng, 120, keys, &mut clock_ms, &mut sequence);
        for round in 0..4 {
            log.flush().unwrap();
            // Small buffers make the map fill part-way (only the covered range is cleaned).
            let dedupe_buffer_bytes = if rng.chance(30) { 2_000 } else { 1 << 20 };
            let drop_tombstones = rng.chance(50);
            let report = log
                .clean(options(dedupe_buffer_bytes, drop_tombstones), clock_ms)
                .unwrap();
            check_round(&log, &mut model, &report, drop_tombstones, seed);
            totals.map_full |= report.map_full;
            totals.segments_cleaned += report.segments_cleaned;
            totals.tombstones_removed += report.tombstones_removed;
            totals.keyless_records_removed += report.keyless_records_removed;
            totals.empty_batches_retained += report.empty_batches_retained;
            totals.batches_removed += report.batches_removed;
            if round == 1 {
                // Reopen (clean on odd seeds, as after a crash on even ones): cleaned segments,
                // offset gaps and empty batches pass recovery unchanged.
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
                assert_eq!(read_entries(&log), model, "seed {seed} after reopen");
            }
            model.extend(append_random(
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
    assert!(totals.keyless_records_removed > 0, "{totals:?}");
    assert!(totals.empty_batches_retained > 0, "{totals:?}");
    assert!(totals.batches_removed > 0, "{totals:?}");
}

#[test]
fn tombstones_outlive_their_segment_by_delete_retention_ms() {
    let dir = tempfile::tempdir().unwrap();
    let (_log_dir, log, _) = open(dir.path(), config());
    append_batch(
        &log,
        &[(Some("a"), Some("1".into()))],
        1_000,
        Compression::None,
        None,
    );
    append_batch(
        &log,
        &[(Some("b"), Some("2".into()))],
        1_010,
        Compression::Lz4,
        None,
    );
    append_batch(&log, &[(Some("a"), None)], 1_020, Compression::None, None);
    // Roll past the tombstone so it lies in a closed segment.
    let filler = "x".repeat(1_600);
    append_batch(
        &log,
        &[(Some("c"), Some(filler.clone()))],
        1_030,
        Compression::None,
        None,
    );
    append_batch(
        &log,
        &[(Some("d"), Some(filler))],
        1_040,
        Compression::None,
        None,
    );
    log.flush().unwrap();
    let retention = CleanOptions {
        delete_retention_ms: 5_000,
        ..CleanOptions::default()
    };
    // The tombstone's segment ends at 1_020: at 6_020 it is exactly at the horizon, kept.
    let report = log.clean(retention.clone(), 6_020).unwrap();
    let keys: Vec<_> = read_entries(&log)
        .into_iter()
        .map(|entry| (entry.offset, entry.key.unwrap(), entry.value.is_some()))
        .collect();
    assert_eq!(
        keys[..2],
        [(1, Bytes::from("b"), true), (2, Bytes::from("a"), false)],
        "{report:?}"
    );
    assert_eq!(report.records_removed, 1, "{report:?}");
    // One millisecond later the tombstone goes; the batch that held it stays as an empty
    // header (last batch of its segment), so the offsets after it do not move.
    let report = log.clean(retention, 6_021).unwrap();
    assert_eq!(report.tombstones_removed, 1, "{report:?}");
    let entries = read_entries(&log);
    assert_eq!(entries[0].offset, 1);
    assert_eq!(entries[1].offset, 3);
    assert!(
        entries
            .iter()
            .all(|entry| entry.key.as_deref() != Some(b"a".as_slice()))
    );
    // A fetch at the removed offset gets the (empty) batch that covers it, then moves on.
    assert!(
        !log.read(2, 1 << 20, i64::MAX, true)
            .unwrap()
            .records
            .is_empty()
    );
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

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else if entry.file_name() != ".lock" {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
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
    let report = log.clean(options(1 << 20, false), clock_ms).unwrap();
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
                    .clean(options(1 << 20, false), 10_000)
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
    log.clean(options(1 << 20, false), 10_000).unwrap();
    let entries = read_entries(&log);
    assert!(entries.len() < written.len());
    assert_eq!(latest_values(&entries), latest_values(&written));
    let by_offset: BTreeMap<i64, &Entry> =
        written.iter().map(|entry| (entry.offset, entry)).collect();
    for entry in &entries {
        assert_eq!(by_offset[&entry.offset], entry);
    }
}
