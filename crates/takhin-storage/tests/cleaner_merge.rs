#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Merging small cleaned segments (Kafka's `groupSegmentsBySize`): adjacent segments whose
//! cleaned total fits `segment.bytes` become one segment at the first one's base; every offset
//! stays readable; a kill -9 at any step of the group's swap leaves the old segments or the
//! merged one, never a mix or an overlap.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use common::copy_dir;
use takhin_storage::{
    AppendOptions, BatchBuilderParams, CLEAN_SHUTDOWN_MARKER, CleanOptions, Log, LogConfig, LogDir,
    Record, check_stored_batch, decode_records, encode_batch, validate,
};

const NOW: i64 = 1_700_000_000_000;

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 700,
        index_interval_bytes: 64,
        ..LogConfig::default()
    }
}

fn open(dir: &Path) -> (LogDir, Arc<Log>) {
    let log_dir = LogDir::open(dir).unwrap();
    let (log, _) = log_dir
        .open_log("t", 0, uuid::Uuid::from_u128(7), config())
        .unwrap();
    (log_dir, log)
}

/// `count` single-record batches, keys cycling over `keys`.
fn append(log: &Log, count: i64, keys: i64) {
    for _ in 0..count {
        let offset = log.log_end_offset();
        let record = Record {
            offset: 0,
            timestamp: NOW + offset,
            key: Some(Bytes::from(format!("key-{}", offset % keys))),
            value: Some(Bytes::from(format!("value-{offset}"))),
            headers: vec![],
        };
        let batch =
            validate(encode_batch(&BatchBuilderParams::default(), &[record]).unwrap()).unwrap();
        log.append(
            batch,
            AppendOptions {
                now_ms: NOW,
                leader_epoch: 0,
            },
        )
        .unwrap();
    }
    log.sync_to(log.log_end_offset()).unwrap();
}

type Entry = (i64, Bytes, Bytes);

/// Every record from the log start; checks that offsets increase and that a read at every
/// offset up to the log end returns the batch holding it or the next one (gaps).
fn read_entries(log: &Log) -> Vec<Entry> {
    let mut entries: Vec<Entry> = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let bytes = log.read(offset, 1 << 20, i64::MAX, true).unwrap().records;
        let mut rest = &bytes[..];
        while rest.len() >= 12 {
            let length = i32::from_be_bytes(rest[8..12].try_into().unwrap()) as usize + 12;
            let header = check_stored_batch(&rest[..length]).unwrap();
            for record in decode_records(&rest[..length], 1 << 20).unwrap().1 {
                if let Some(last) = entries.last() {
                    assert!(record.offset > last.0);
                }
                entries.push((record.offset, record.key.unwrap(), record.value.unwrap()));
            }
            offset = header.last_offset() + 1;
            rest = &rest[length..];
        }
    }
    for target in log.log_start_offset()..log.log_end_offset() {
        let bytes = log.read(target, 1, i64::MAX, true).unwrap().records;
        let header = check_stored_batch(&bytes).unwrap();
        assert!(header.last_offset() >= target, "offset {target}");
    }
    entries
}

fn latest(entries: &[Entry]) -> std::collections::BTreeMap<Bytes, Bytes> {
    entries
        .iter()
        .map(|(_, key, value)| (key.clone(), value.clone()))
        .collect()
}

fn partition_dir(data: &Path) -> PathBuf {
    data.join("t-0")
}

fn file(dir: &Path, base: i64, suffix: &str) -> PathBuf {
    dir.join(format!("{base:020}.{suffix}"))
}

fn bases(dir: &Path) -> Vec<i64> {
    let mut bases: Vec<i64> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|entry| {
            let name = entry.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".log").map(|stem| stem.parse().unwrap())
        })
        .collect();
    bases.sort_unstable();
    bases
}

#[test]
fn small_cleaned_segments_are_merged_and_every_offset_stays_readable() {
    let data = tempfile::tempdir().unwrap();
    let (log_dir, log) = open(data.path());
    append(&log, 300, 12);
    let before_entries = read_entries(&log);
    assert!(log.segment_count() > 10);
    // Groups are formed from the sizes before cleaning (as Kafka's are): full segments shrink
    // first, and the next clean merges them.
    let first = log.clean(CleanOptions::default(), NOW).unwrap();
    assert!(first.segments_cleaned > 10, "{first:?}");
    let segments_before = log.segment_count();
    let report = log.clean(CleanOptions::default(), NOW).unwrap();
    assert!(report.segments_merged > 0, "{report:?}");
    assert_eq!(
        log.segment_count(),
        segments_before - report.segments_merged
    );
    let entries = read_entries(&log);
    assert_eq!(latest(&entries), latest(&before_entries));
    assert!(entries.len() < before_entries.len());
    // Every closed segment still fits segment.bytes.
    let dir = partition_dir(data.path());
    for base in bases(&dir) {
        assert!(std::fs::metadata(file(&dir, base, "log")).unwrap().len() <= 700);
    }
    // Further cleans converge (merging can make a kept empty batch droppable, and merge more).
    let mut rounds = 0;
    loop {
        let again = log.clean(CleanOptions::default(), NOW).unwrap();
        if again.segments_cleaned == 0 {
            break;
        }
        rounds += 1;
        assert!(rounds < 5, "{again:?}");
        assert_eq!(read_entries(&log), entries);
    }
    assert!(log.segment_count() < segments_before);
    // Both reopens (clean and after a crash) read the same.
    log_dir.close(std::slice::from_ref(&log)).unwrap();
    drop((log_dir, log));
    let (log_dir, log) = open(data.path());
    assert_eq!(read_entries(&log), entries);
    drop((log_dir, log));
    let (_log_dir, log) = open(data.path());
    assert_eq!(read_entries(&log), entries);
}

struct Fixture {
    root: tempfile::TempDir,
    old: PathBuf,
    new: PathBuf,
    old_entries: Vec<Entry>,
    new_entries: Vec<Entry>,
    /// The merged segment's base, its end, and the old bases it covers besides its own.
    base: i64,
    end: i64,
    merged: Vec<i64>,
}

fn fixture() -> Fixture {
    let root = tempfile::tempdir().unwrap();
    let (old, new) = (root.path().join("old"), root.path().join("new"));
    let (log_dir, log) = open(&old);
    append(&log, 300, 12);
    log.clean(CleanOptions::default(), NOW).unwrap();
    // New values for every key: the next clean both removes records and merges.
    append(&log, 60, 12);
    let old_entries = read_entries(&log);
    log_dir.close(std::slice::from_ref(&log)).unwrap();
    drop((log_dir, log));
    copy_dir(&old, &new);
    let (log_dir, log) = open(&new);
    let report = log.clean(CleanOptions::default(), NOW).unwrap();
    assert!(report.segments_merged > 0);
    let new_entries = read_entries(&log);
    log_dir.close(std::slice::from_ref(&log)).unwrap();
    drop((log_dir, log));
    let (old_bases, new_bases) = (bases(&partition_dir(&old)), bases(&partition_dir(&new)));
    let (base, end, merged) = new_bases
        .windows(2)
        .map(|pair| {
            let merged: Vec<i64> = old_bases
                .iter()
                .copied()
                .filter(|b| *b > pair[0] && *b < pair[1])
                .collect();
            (pair[0], pair[1], merged)
        })
        .find(|(base, end, merged)| {
            let inside = |entries: &[Entry]| -> Vec<Entry> {
                entries
                    .iter()
                    .filter(|entry| entry.0 >= *base && entry.0 < *end)
                    .cloned()
                    .collect()
            };
            !merged.is_empty() && inside(&old_entries) != inside(&new_entries)
        })
        .expect("a merged group whose records changed");
    Fixture {
        root,
        old,
        new,
        old_entries,
        new_entries,
        base,
        end,
        merged,
    }
}

impl Fixture {
    /// Old content, with the merged segment's range taken from the new content.
    fn mixed(&self) -> Vec<Entry> {
        let inside = |entry: &&Entry| entry.0 >= self.base && entry.0 < self.end;
        let mut mixed: Vec<Entry> = self
            .old_entries
            .iter()
            .filter(|entry| !inside(entry))
            .cloned()
            .collect();
        mixed.extend(self.new_entries.iter().filter(inside).cloned());
        mixed.sort_by_key(|entry| entry.0);
        mixed
    }

    /// The old directory plus the merged segment's new files (`(new suffix, crashed name)`),
    /// minus `remove` (`(base, suffix)`); reopened (with or without the clean marker).
    fn crashed(
        &self,
        name: &str,
        new_files: &[(&str, &str)],
        remove: &[(i64, &str)],
        clean_marker: bool,
    ) -> Vec<Entry> {
        let data = self.root.path().join(name);
        copy_dir(&self.old, &data);
        if !clean_marker {
            std::fs::remove_file(data.join(CLEAN_SHUTDOWN_MARKER)).unwrap();
        }
        let (from, to) = (partition_dir(&self.new), partition_dir(&data));
        for (suffix, target) in new_files {
            std::fs::copy(file(&from, self.base, suffix), file(&to, self.base, target)).unwrap();
        }
        for (base, suffix) in remove {
            std::fs::remove_file(file(&to, *base, suffix)).unwrap();
        }
        let (_log_dir, log) = open(&data);
        let names: Vec<String> = std::fs::read_dir(&to)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(
            !names
                .iter()
                .any(|n| n.ends_with(".cleaned") || n.ends_with(".swap")),
            "{name}: {names:?}"
        );
        read_entries(&log)
    }
}

#[test]
fn crash_at_every_step_of_a_merged_swap_leaves_old_or_merged_segments() {
    let fixture = fixture();
    let mixed = fixture.mixed();
    assert_ne!(mixed, fixture.old_entries);
    assert_eq!(latest(&mixed), latest(&fixture.old_entries));
    let all_swap = [
        ("log", "log.swap"),
        ("index", "index.swap"),
        ("timeindex", "timeindex.swap"),
    ];
    let merged_files = |kinds: &[&'static str]| -> Vec<(i64, &'static str)> {
        fixture
            .merged
            .iter()
            .flat_map(|base| kinds.iter().map(move |kind| (*base, *kind)))
            .collect()
    };
    for clean_marker in [true, false] {
        let tag = if clean_marker { "clean" } else { "unclean" };
        let covered_gone = |name: &str| {
            let dir = partition_dir(&fixture.root.path().join(name));
            for base in &fixture.merged {
                for kind in ["log", "index", "timeindex"] {
                    assert!(!file(&dir, *base, kind).exists(), "{name}: {base}.{kind}");
                }
            }
        };
        // Step 1: `.cleaned` output (maybe partial): the old segments stand.
        let name = format!("cleaned-{tag}");
        let entries = fixture.crashed(
            &name,
            &[("log", "log.cleaned"), ("index", "index.cleaned")],
            &[],
            clean_marker,
        );
        assert_eq!(entries, fixture.old_entries, "{name}");
        // Step 2 before the commit point: index `.swap`s, log still `.cleaned`.
        let name = format!("index-swap-{tag}");
        let entries = fixture.crashed(
            &name,
            &[
                ("log", "log.cleaned"),
                ("index", "index.swap"),
                ("timeindex", "timeindex.swap"),
            ],
            &[],
            clean_marker,
        );
        assert_eq!(entries, fixture.old_entries, "{name}");
        // Committed, nothing deleted yet: the merged segment wins, the covered ones go.
        let name = format!("swap-all-old-{tag}");
        let entries = fixture.crashed(&name, &all_swap, &[], clean_marker);
        assert_eq!(entries, mixed, "{name}");
        covered_gone(&name);
        // Committed, the covered segments partly deleted (one log file gone).
        let name = format!("swap-partly-deleted-{tag}");
        let entries = fixture.crashed(
            &name,
            &all_swap,
            &[(fixture.merged[0], "log")],
            clean_marker,
        );
        assert_eq!(entries, mixed, "{name}");
        covered_gone(&name);
        // Step 3a done: covered segments gone, swap files and the old first segment present.
        let name = format!("covered-deleted-{tag}");
        let entries = fixture.crashed(
            &name,
            &all_swap,
            &merged_files(&["log", "index", "timeindex"]),
            clean_marker,
        );
        assert_eq!(entries, mixed, "{name}");
        // Step 3 done: new indexes in place, the log still `.swap`.
        let name = format!("new-index-swap-log-{tag}");
        let entries = fixture.crashed(
            &name,
            &[
                ("log", "log.swap"),
                ("index", "index"),
                ("timeindex", "timeindex"),
            ],
            &merged_files(&["log", "index", "timeindex"]),
            clean_marker,
        );
        assert_eq!(entries, mixed, "{name}");
        // Step 4 done: the merged segment in place.
        let name = format!("done-{tag}");
        let entries = fixture.crashed(
            &name,
            &[
                ("log", "log"),
                ("index", "index"),
                ("timeindex", "timeindex"),
            ],
            &merged_files(&["log", "index", "timeindex"]),
            clean_marker,
        );
        assert_eq!(entries, mixed, "{name}");
    }
    assert!(fixture.new.exists());
}
