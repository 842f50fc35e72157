//! Storage health: damaged data a real broker found, as the console reports it.
//!
//! Against an external cluster (Apache Kafka, tests/console-kafka) the console
//! has no storage-health source, and the endpoint says so.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use common::*;
use serde_json::{Value, json};

/// Scrub often and fast, so damage left in place is found within the test.
const SCRUB_QUICKLY: &[(&str, &str)] = &[
    ("log.scrub.interval.ms", "50"),
    ("log.scrub.bytes.per.second", "104857600"),
];

/// The segments of a partition, oldest first, with their base offsets.
fn segments(partition_dir: &Path) -> Vec<(i64, PathBuf)> {
    let mut logs: Vec<(i64, PathBuf)> = std::fs::read_dir(partition_dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "log"))
        .map(|path| {
            let base = path.file_stem().unwrap().to_str().unwrap().parse().unwrap();
            (base, path)
        })
        .collect();
    logs.sort();
    logs
}

/// Flips a bit in the records of the segment's first batch (byte 80, past
/// the 61-byte batch header, so only the CRC tells) and answers that batch's
/// size in bytes.
fn damage_first_batch(log: &Path) -> u64 {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(log)
        .unwrap();
    let mut length = [0u8; 4];
    file.read_exact_at(&mut length, 8).unwrap();
    let batch_bytes = 12 + u64::from(u32::from_be_bytes(length));
    assert!(batch_bytes > 81, "batch of {batch_bytes} bytes");
    let mut byte = [0u8; 1];
    file.read_exact_at(&mut byte, 80).unwrap();
    file.write_all_at(&[byte[0] ^ 0x20], 80).unwrap();
    file.sync_all().unwrap();
    batch_bytes
}

async fn storage_health(console: &TestConsole, query: &str) -> Value {
    let answer = console
        .get(&TestConsole::path(&format!("/storage-health{query}")))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    answer.json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damage_moved_out_by_recovery_and_found_by_the_scrubber_is_listed() {
    if external_bootstrap().is_some() {
        return; // Damaging files needs the broker's data directory.
    }
    let dir = tempfile::tempdir().unwrap();
    let topic = "ledger";
    let console = start_in(dir.path(), SCRUB_QUICKLY).await;
    let created = console
        .post(
            &TestConsole::path("/topics"),
            json!({"name": topic, "partitions": 2, "replication_factor": 1,
                   "configs": {"segment.bytes": "1024"}}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let value = "v".repeat(200);
    for n in 0..24 {
        let key = format!("key-{n}");
        console
            .produce(topic, 0, &[(Some(key.as_str()), Some(value.as_str()))])
            .await;
    }
    console
        .produce(topic, 1, &[(Some("key"), Some("intact"))])
        .await;
    let healthy = storage_health(&console, "").await;
    assert_eq!(healthy["available"], true, "{healthy}");
    assert_eq!(healthy["damaged_range_count"], 0, "{healthy}");
    assert_eq!(healthy["partitions"], json!([]), "{healthy}");
    console.stop().await;

    // One closed segment gets a flipped bit and loses its offset index, so the
    // next start verifies it and moves the damaged batch out; another gets a
    // flipped bit only, which a clean start does not look for: the scrubber
    // finds it.
    let partition_dir = dir.path().join(format!("{topic}-0"));
    let logs = segments(&partition_dir);
    assert!(logs.len() >= 4, "{logs:?}");
    let (recovered_base, recovered_log) = logs[1].clone();
    let (scrubbed_base, scrubbed_log) = logs[2].clone();
    let recovered_bytes = damage_first_batch(&recovered_log);
    std::fs::remove_file(recovered_log.with_extension("index")).unwrap();
    let scrubbed_bytes = damage_first_batch(&scrubbed_log);

    let console = start_in(dir.path(), SCRUB_QUICKLY).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let health = loop {
        let health = storage_health(&console, "").await;
        if health["damaged_range_count"] == 2 {
            break health;
        }
        assert!(Instant::now() < deadline, "damage not reported: {health}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(health["available"], true);
    assert_eq!(health["damaged_partition_count"], 1, "{health}");
    assert_eq!(health["truncated"], false);
    assert_eq!(health["offline_partitions"], json!([]));
    let partitions = health["partitions"].as_array().unwrap();
    assert_eq!(partitions.len(), 1, "{health}");
    assert_eq!(partitions[0]["topic"], topic);
    assert_eq!(partitions[0]["partition"], 0);
    let ranges = partitions[0]["damaged_ranges"].as_array().unwrap();
    // Recovery reports first (at start-up), the scrubber after.
    let quarantine = dir
        .path()
        .join("quarantine")
        .join(format!("{topic}-0"))
        .join(format!(
            "{recovered_base:020}.log.0-{recovered_bytes}.damaged"
        ));
    assert_eq!(
        ranges[0],
        json!({
            "file": recovered_log.display().to_string(),
            "position_bytes": 0,
            "end_position_bytes": recovered_bytes,
            // One record per batch: the damaged batch held one offset.
            "first_offset": recovered_base,
            "end_offset": recovered_base + 1,
            "reason": ranges[0]["reason"],
            "state": "quarantined",
            "quarantined_to": quarantine.display().to_string(),
        }),
        "{health}"
    );
    assert!(
        ranges[0]["reason"].as_str().unwrap().contains("CRC"),
        "{health}"
    );
    let kept = std::fs::read(&quarantine).unwrap();
    assert_eq!(kept.len() as u64, recovered_bytes);
    assert_eq!(
        ranges[1],
        json!({
            "file": scrubbed_log.display().to_string(),
            "position_bytes": 0,
            "end_position_bytes": scrubbed_bytes,
            "first_offset": scrubbed_base,
            "end_offset": scrubbed_base + 1,
            "reason": ranges[1]["reason"],
            "state": "served",
            "quarantined_to": null,
        }),
        "{health}"
    );

    // The topic filter is what the topic page asks for.
    let only_topic = storage_health(&console, &format!("?topic={topic}")).await;
    assert_eq!(only_topic, health);
    let other = storage_health(&console, "?topic=other").await;
    assert_eq!(other["available"], true);
    assert_eq!(other["damaged_range_count"], 0);
    assert_eq!(other["partitions"], json!([]));
    console.stop().await;
}

#[tokio::test]
async fn storage_health_is_known_only_for_a_cluster_takhin_runs() {
    // No source, as under `takhin console --brokers ...`: the cluster is never asked.
    let config = takhin_console::ConsoleConfig::single(takhin_console::ClusterConfig::new(
        CLUSTER,
        vec!["127.0.0.1:1".to_string()],
    ));
    let console = TestConsoleRouter(takhin_console::router(config));
    let answer = console.get(&TestConsole::path("/storage-health")).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert_eq!(
        answer.json(),
        json!({
            "available": false,
            "damaged_partition_count": 0,
            "damaged_range_count": 0,
            "partitions": [],
            "truncated": false,
            "offline_partitions": [],
        })
    );
    console
        .get("/api/v1/clusters/nope/storage-health")
        .await
        .problem(StatusCode::NOT_FOUND);
    console
        .get(&TestConsole::path("/storage-health?topic=a&topic=b"))
        .await
        .problem(StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_test_broker_hands_in_its_logs_and_an_external_cluster_does_not() {
    let console = start().await;
    let health = storage_health(&console, "").await;
    assert_eq!(
        health["available"],
        external_bootstrap().is_none(),
        "{health}"
    );
    assert_eq!(health["damaged_range_count"], 0, "{health}");
    console.stop().await;
}
