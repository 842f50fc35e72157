//! Cleaner scheduling (`clean_compacted_partitions`): a compacted partition is
//! cleaned only once its dirty ratio reaches `min.cleanable.dirty.ratio`, when
//! a closed dirty segment is older than `max.compaction.lag.ms`, or when a
//! tombstone's delete horizon is reached; the dirtiest partition goes first,
//! and the first dirty offsets are written to `cleaner-offset-checkpoint`. Records are appended to the logs directly and
//! passes are run by hand, so the test does not race the background cleaner.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use bytes::Bytes;
use takhin_broker::{Broker, BrokerConfig};
use takhin_storage::{AppendOptions, BatchBuilderParams, Log, Record, encode_batch, validate};

const NOW: i64 = 1_700_000_000_000;

fn open_broker(dir: &std::path::Path) -> Broker {
    let mut values: BTreeMap<String, String> = BTreeMap::new();
    values.insert("data.dir".into(), dir.display().to_string());
    values.insert("kafka.addr".into(), "127.0.0.1:0".into());
    values.insert("http.addr".into(), "127.0.0.1:0".into());
    values.insert("log.cleaner.enable".into(), "false".into());
    Broker::open(BrokerConfig::from_map(values).unwrap()).unwrap()
}

fn create(broker: &Broker, name: &str, extra: &[(&str, &str)]) -> std::sync::Arc<Log> {
    let mut configs: BTreeMap<String, String> = BTreeMap::new();
    configs.insert("cleanup.policy".into(), "compact".into());
    configs.insert("segment.bytes".into(), "1024".into());
    for (k, v) in extra {
        configs.insert(k.to_string(), v.to_string());
    }
    let topic = broker.create_topic(name, 1, 1, configs).unwrap();
    topic.partitions()[0].log()
}

/// One single-record batch per key (distinct keys: cleaning removes nothing,
/// so clean bytes stay large), synced.
fn append(log: &Log, keys: std::ops::Range<u32>, timestamp: i64) {
    for key in keys {
        let record = Record {
            offset: 0,
            timestamp,
            key: Some(Bytes::from(format!("key-{key:05}"))),
            value: Some(Bytes::from(vec![b'v'; 40])),
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

fn ratio(broker: &Broker, topic: &str, log: &Log, now_ms: i64) -> f64 {
    let options = broker
        .topic(topic)
        .unwrap()
        .config()
        .clean_options(&broker.config);
    log.dirty_stats(&options, now_ms).unwrap().dirty_ratio()
}

fn names(cleaned: &[(String, i32)]) -> Vec<&str> {
    cleaned.iter().map(|(topic, _)| topic.as_str()).collect()
}

#[test]
fn only_partitions_at_or_above_the_dirty_ratio_are_cleaned_dirtiest_first() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open_broker(dir.path());
    let below = create(&broker, "below", &[]);
    let above = create(&broker, "above", &[]);
    let eager = create(&broker, "eager", &[("min.cleanable.dirty.ratio", "0.01")]);
    for log in [&below, &above, &eager] {
        append(log, 0..100, NOW);
        assert!(log.segment_count() > 5);
    }
    // Never cleaned: everything closed is dirty (ratio 1), all three go.
    let first_pass = clean(&broker, NOW);
    let mut cleaned = names(&first_pass);
    cleaned.sort();
    assert_eq!(cleaned, ["above", "below", "eager"]);
    for log in [&below, &above, &eager] {
        assert!(log.first_dirty_offset() > 0);
        assert_eq!(ratio(&broker, "below", log, NOW), 0.0);
    }
    // Nothing new: nothing is cleaned.
    assert!(clean(&broker, NOW).is_empty());

    // A little new data in `below` and `eager`, a lot in `above`.
    append(&below, 100..115, NOW);
    append(&eager, 100..115, NOW);
    append(&above, 100..250, NOW);
    let below_ratio = ratio(&broker, "below", &below, NOW);
    let eager_ratio = ratio(&broker, "eager", &eager, NOW);
    let above_ratio = ratio(&broker, "above", &above, NOW);
    assert!(
        below_ratio > 0.0 && below_ratio < 0.5,
        "below: {below_ratio}"
    );
    assert!(
        eager_ratio > 0.01 && eager_ratio < 0.5,
        "eager: {eager_ratio}"
    );
    assert!(above_ratio >= 0.5, "above: {above_ratio}");
    let below_dirty = below.first_dirty_offset();
    let above_dirty = above.first_dirty_offset();

    // `above` reaches the default 0.5, `eager` its own 0.01; the dirtiest first.
    assert_eq!(names(&clean(&broker, NOW)), ["above", "eager"]);
    assert_eq!(below.first_dirty_offset(), below_dirty, "below was cleaned");
    assert!(above.first_dirty_offset() > above_dirty);
    assert_eq!(ratio(&broker, "below", &below, NOW), below_ratio);

    // The pass wrote the first dirty offsets.
    let text = std::fs::read_to_string(dir.path().join("cleaner-offset-checkpoint")).unwrap();
    assert!(
        text.contains(&format!("above 0 {}\n", above.first_dirty_offset())),
        "{text}"
    );
    assert!(text.contains(&format!("below 0 {below_dirty}\n")), "{text}");

    // Lowering the ratio below the partition's makes it eligible.
    let mut overrides = broker.topic_overrides("below").unwrap();
    overrides.insert("min.cleanable.dirty.ratio".into(), "0.1".into());
    broker
        .set_topic_overrides("below", overrides, false)
        .unwrap();
    assert_eq!(names(&clean(&broker, NOW)), ["below"]);
    assert!(below.first_dirty_offset() > below_dirty);
    broker.close().unwrap();

    // The first dirty offsets survive a restart.
    let (above_dirty, below_dirty) = (above.first_dirty_offset(), below.first_dirty_offset());
    drop((below, above, eager, broker));
    let broker = open_broker(dir.path());
    let log = |name: &str| broker.topic(name).unwrap().partitions()[0].log();
    assert_eq!(log("above").first_dirty_offset(), above_dirty);
    assert_eq!(log("below").first_dirty_offset(), below_dirty);
    assert!(clean(&broker, NOW).is_empty());
}

#[test]
fn max_compaction_lag_forces_a_clean_below_the_dirty_ratio() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open_broker(dir.path());
    let lagged = create(&broker, "lagged", &[("max.compaction.lag.ms", "60000")]);
    let unlimited = create(&broker, "unlimited", &[]);
    for log in [&lagged, &unlimited] {
        append(log, 0..100, NOW);
    }
    assert_eq!(clean(&broker, NOW).len(), 2);
    for log in [&lagged, &unlimited] {
        append(log, 100..115, NOW + 1_000);
    }
    assert!(ratio(&broker, "lagged", &lagged, NOW + 1_000) < 0.5);
    let lagged_dirty = lagged.first_dirty_offset();
    // The dirty records are 59 s old: not yet.
    assert!(clean(&broker, NOW + 60_000).is_empty());
    // 61 s: the lag forces `lagged`; `unlimited` (Long.MAX) waits for its ratio.
    assert_eq!(names(&clean(&broker, NOW + 62_000)), ["lagged"]);
    assert!(lagged.first_dirty_offset() > lagged_dirty);

    // min.compaction.lag.ms still applies: a forced clean waits for it.
    let mut overrides = broker.topic_overrides("unlimited").unwrap();
    overrides.insert("max.compaction.lag.ms".into(), "1000".into());
    overrides.insert("min.compaction.lag.ms".into(), "120000".into());
    broker
        .set_topic_overrides("unlimited", overrides, false)
        .unwrap();
    assert!(clean(&broker, NOW + 62_000).is_empty());
    assert_eq!(names(&clean(&broker, NOW + 200_000)), ["unlimited"]);
    broker.close().unwrap();
}

#[test]
fn tombstones_go_at_their_delete_horizon_without_new_dirty_data() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open_broker(dir.path());
    let graves = create(&broker, "graves", &[("delete.retention.ms", "60000")]);
    let quiet = create(&broker, "quiet", &[("delete.retention.ms", "60000")]);
    append(&graves, 0..100, NOW);
    append(&quiet, 0..100, NOW);
    // Delete every tenth key of `graves`, then roll past the tombstones.
    for key in (0..100).step_by(10) {
        let record = Record {
            offset: 0,
            timestamp: NOW,
            key: Some(Bytes::from(format!("key-{key:05}"))),
            value: None,
            headers: vec![],
        };
        let batch =
            validate(encode_batch(&BatchBuilderParams::default(), &[record]).unwrap()).unwrap();
        let options = AppendOptions {
            now_ms: NOW,
            leader_epoch: 0,
        };
        graves.append(batch, options).unwrap();
    }
    append(&graves, 100..130, NOW);
    let horizon = || {
        let options = broker
            .topic("graves")
            .unwrap()
            .config()
            .clean_options(&broker.config);
        let stats = graves.dirty_stats(&options, NOW).unwrap();
        stats.earliest_delete_horizon_ms
    };
    assert_eq!(horizon(), None);

    // The first clean keeps the tombstones and gives them their horizon: NOW + 60 s.
    let first_pass = clean(&broker, NOW);
    let mut cleaned = names(&first_pass);
    cleaned.sort();
    assert_eq!(cleaned, ["graves", "quiet"]);
    assert_eq!(horizon(), Some(NOW + 60_000));
    assert_eq!(ratio(&broker, "graves", &graves, NOW), 0.0);
    // Nothing is dirty: nothing before the horizon, then `graves` alone, once.
    assert!(clean(&broker, NOW + 59_999).is_empty());
    let size_before = graves.size_bytes();
    assert_eq!(names(&clean(&broker, NOW + 60_000)), ["graves"]);
    assert!(graves.size_bytes() < size_before);
    assert_eq!(horizon(), None);
    assert!(clean(&broker, NOW + 120_000).is_empty());
    broker.close().unwrap();
}

fn clean(broker: &Broker, now_ms: i64) -> Vec<(String, i32)> {
    takhin_broker::clean_compacted_partitions(broker, now_ms)
}
