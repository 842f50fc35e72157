#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Kafka's own `kafka-dump-log` (kafka.tools.DumpLogSegments) reads our segment, index, time
//! index and producer snapshot files, and the KIP-534 delete horizons the cleaner writes. Runs only when `KAFKA_TOOLS_CP` holds the tool's Java
//! classpath, e.g.
//!
//! ```text
//! mvn -o -q -B -f tests/compat/kafka-tools/pom.xml dependency:build-classpath -Dmdep.outputFile=/tmp/cp.txt
//! KAFKA_TOOLS_CP=$(cat /tmp/cp.txt) cargo test -p takhin-storage --test kafka_dump_log
//! ```

mod common;

use std::process::Command;

use bytes::Bytes;
use common::*;
use takhin_storage::{
    BatchBuilderParams, CleanOptions, Compression, LogConfig, Record, encode_batch, validate,
};

fn dump(classpath: &str, args: &[&str]) -> String {
    let output = Command::new("java")
        .arg("-cp")
        .arg(classpath)
        .arg("kafka.tools.DumpLogSegments")
        .args(args)
        .output()
        .expect("java runs");
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(
        output.status.success(),
        "DumpLogSegments failed:\n{stdout}\n{stderr}"
    );
    format!("{stdout}\n{stderr}")
}

#[test]
fn kafka_dump_log_reads_our_files() {
    let Ok(classpath) = std::env::var("KAFKA_TOOLS_CP") else {
        eprintln!("KAFKA_TOOLS_CP not set: skipping the kafka-dump-log check");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_bytes: 4_000,
        index_interval_bytes: 100,
        ..LogConfig::default()
    };
    let (log_dir, log, _) = open(dir.path(), config);
    let codecs = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];
    let mut sequence = 0;
    for index in 0..40usize {
        let mut spec = BatchSpec::plain(1 + index % 4, 60)
            .at(1_000 * index as i64)
            .compressed(codecs[index % 5]);
        if index % 2 == 0 {
            spec.producer_id = 9;
            spec.producer_epoch = 0;
            spec.base_sequence = sequence;
            sequence += spec.records as i32;
        }
        append(&log, &spec);
    }
    log_dir.close(std::slice::from_ref(&log)).unwrap();
    let base = log.segment_base_offsets()[0];
    let file = |suffix: &str| {
        log.dir()
            .join(format!("{base:020}.{suffix}"))
            .display()
            .to_string()
    };

    let log_output = dump(
        &classpath,
        &[
            "--deep-iteration",
            "--print-data-log",
            "--files",
            &file("log"),
        ],
    );
    assert!(
        log_output.contains("baseOffset: 0 lastOffset: 0"),
        "{log_output}"
    );
    assert!(log_output.contains("isvalid: true"), "{log_output}");
    assert!(!log_output.contains("isvalid: false"), "{log_output}");
    assert!(log_output.contains("compresscodec: zstd"), "{log_output}");
    assert!(log_output.contains("producerId: 9"), "{log_output}");

    for suffix in ["index", "timeindex"] {
        let output = dump(
            &classpath,
            &["--index-sanity-check", "--files", &file(suffix)],
        );
        assert!(output.contains("passed sanity check"), "{suffix}: {output}");
        let output = dump(
            &classpath,
            &["--verify-index-only", "--files", &file(suffix)],
        );
        assert!(!output.contains("Mismatches"), "{suffix}: {output}");
        assert!(!output.contains("ERROR"), "{suffix}: {output}");
    }

    let snapshot = log
        .dir()
        .join(format!("{:020}.snapshot", log.log_end_offset()))
        .display()
        .to_string();
    let output = dump(&classpath, &["--files", &snapshot]);
    assert!(output.contains("producerId: 9"), "{output}");
    assert!(
        output.contains(&format!("lastSequence: {}", sequence - 1)),
        "{output}"
    );
}

/// KIP-534: Kafka's own reader sees the delete horizon the cleaner wrote into a batch header, and
/// the record timestamps (deltas re-encoded against the horizon) it reports are the original
/// ones.
#[test]
fn kafka_dump_log_reads_a_delete_horizon() {
    const NOW: i64 = 1_700_000_000_000;
    const RETENTION_MS: i64 = 60_000;
    let Ok(classpath) = std::env::var("KAFKA_TOOLS_CP") else {
        eprintln!("KAFKA_TOOLS_CP not set: skipping the kafka-dump-log check");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (log_dir, log, _) = open(dir.path(), small_segments(600));
    for (index, codec) in [Compression::None, Compression::Lz4, Compression::Zstd]
        .into_iter()
        .enumerate()
    {
        // key-0 = value, key-1 = tombstone, key-2 = value, at 1_000 + 10 * batch + record.
        let records: Vec<Record> = (0..3)
            .map(|record| Record {
                offset: record,
                timestamp: 1_000 + 10 * index as i64 + record,
                key: Some(Bytes::from(format!("key-{index}-{record}"))),
                value: (record != 1).then(|| Bytes::from_static(b"value")),
                headers: vec![],
            })
            .collect();
        let params = BatchBuilderParams {
            compression: codec,
            ..BatchBuilderParams::default()
        };
        let batch = validate(encode_batch(&params, &records).unwrap()).unwrap();
        log.append(batch, options(1_000)).unwrap();
    }
    for _ in 0..6 {
        append(&log, &BatchSpec::plain(1, 300));
    }
    log.flush().unwrap();
    let clean = CleanOptions {
        delete_retention_ms: RETENTION_MS,
        ..CleanOptions::default()
    };
    let report = log.clean(clean, NOW).unwrap();
    assert_eq!(report.delete_horizons_set, 3, "{report:?}");
    log_dir.close(std::slice::from_ref(&log)).unwrap();
    let base = log.segment_base_offsets()[0];
    let file = log
        .dir()
        .join(format!("{base:020}.log"))
        .display()
        .to_string();
    let output = dump(
        &classpath,
        &["--deep-iteration", "--print-data-log", "--files", &file],
    );
    assert!(output.contains("isvalid: true"), "{output}");
    assert!(!output.contains("isvalid: false"), "{output}");
    let horizon = format!("deleteHorizonMs: OptionalLong[{}]", NOW + RETENTION_MS);
    assert_eq!(output.matches(&horizon).count(), 3, "{output}");
    for (index, codec) in ["none", "lz4", "zstd"].into_iter().enumerate() {
        assert!(
            output.contains(&format!("compresscodec: {codec}")),
            "{output}"
        );
        for record in 0..3i64 {
            let offset = 3 * index as i64 + record;
            let timestamp = 1_000 + 10 * index as i64 + record;
            assert!(
                output.contains(&format!("offset: {offset} CreateTime: {timestamp} ")),
                "record {offset} should read back at {timestamp}:\n{output}"
            );
        }
    }
}
