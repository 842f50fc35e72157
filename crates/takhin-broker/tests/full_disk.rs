//! A full disk, on a real (small) filesystem: produces fail with
//! KAFKA_STORAGE_ERROR once the data directory's filesystem is full, and the
//! partition serves produce and fetch again on its own, without a restart,
//! once space is freed, with every acknowledged record still readable and
//! nothing that was refused.
//!
//! The data directory is a tmpfs mounted for the test (root only; skipped with
//! a message otherwise) and unmounted when it ends, even on failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::{FetchRequest, ProduceRequest};
use takhin_storage::{Compression, Record};

const TOPIC: &str = "full";
/// Small, so filling it takes moments.
const FILESYSTEM_BYTES: u64 = 16 * 1024 * 1024;
/// Left free by the filler file; the producer fills it.
const SLACK_BYTES: u64 = 1024 * 1024;
/// Above the slack, so the partition cannot come back while the disk is full.
const MIN_FREE_BYTES: &str = "4194304";
const VALUE_BYTES: usize = 8 * 1024;
/// Produce requests in flight at once: they share group commits, so some
/// wait in a sync when the disk fills.
const WINDOW: usize = 8;
/// Most produce requests before the disk must have filled (16 MiB / 8 KiB).
const MAX_REQUESTS: usize = 4_000;
const PATIENCE: Duration = Duration::from_secs(30);

/// A tmpfs mounted on a temporary directory; unmounted (lazily, so a failed
/// test's open files cannot keep it) when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let status = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
        if !status.is_ok_and(|status| status.success()) {
            eprintln!("could not unmount {}", self.dir.path().display());
        }
    }
}

fn is_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .is_some_and(|effective| effective == "0")
}

/// `None` (the test skips) when not root; a root that cannot mount fails.
fn mount_tmpfs(bytes: u64) -> Option<Tmpfs> {
    if !is_root() {
        eprintln!("SKIPPED full_disk: mounting a tmpfs needs root");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
        .arg(dir.path())
        .status()
        .expect("running mount");
    assert!(status.success(), "mount -t tmpfs failed: {status}");
    Some(Tmpfs { dir })
}

/// Writes zeros to `path` until the filesystem is full, then gives back
/// `slack_bytes` of them.
fn fill_leaving(path: &Path, slack_bytes: u64) {
    let mut file = std::fs::File::create(path).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    loop {
        match file.write(&chunk) {
            Ok(0) => break,
            Ok(_) => {}
            Err(err) if err.kind() == std::io::ErrorKind::StorageFull => break,
            Err(err) => panic!("filling {}: {err}", path.display()),
        }
    }
    let len = file.metadata().unwrap().len();
    file.set_len(len.saturating_sub(slack_bytes)).unwrap();
}

fn value(index: usize) -> Bytes {
    let mut value = format!("record-{index:06}-").into_bytes();
    value.resize(VALUE_BYTES, b'.');
    Bytes::from(value)
}

fn produce_one(index: usize) -> ProduceRequest {
    let record = Record {
        offset: 0,
        timestamp: 1_000,
        key: None,
        value: Some(value(index)),
        headers: vec![],
    };
    produce_request(TOPIC, 0, batch(&[record], Compression::None, None), -1)
}

/// Sends produce requests `WINDOW` at a time until one fails. Returns the
/// acknowledged (offset, record index) pairs and the first failure's code.
async fn produce_until_failure(
    client: &mut Client,
    next_index: &mut usize,
) -> (Vec<(i64, usize)>, i16) {
    let mut acked = Vec::new();
    let mut failure = None;
    while failure.is_none() {
        assert!(*next_index < MAX_REQUESTS, "the disk never filled");
        let mut sent = Vec::new();
        for _ in 0..WINDOW {
            sent.push((*next_index, client.send(9, &produce_one(*next_index)).await));
            *next_index += 1;
        }
        for (index, correlation_id) in sent {
            let response = client.receive::<ProduceRequest>(9, correlation_id).await;
            let partition = produced(&response);
            match (partition.error_code, failure) {
                (0, None) => acked.push((partition.base_offset, index)),
                (0, Some(code)) => panic!("record {index} acknowledged after a failure ({code})"),
                (code, None) => failure = Some(code),
                (code, Some(_)) => assert_eq!(
                    code,
                    ResponseError::KafkaStorageError.code(),
                    "record {index} while the disk is full"
                ),
            }
        }
    }
    (acked, failure.unwrap())
}

/// The value of every record from `offset` to the high watermark, by offset.
async fn fetch_all(client: &mut Client, mut offset: i64) -> (Vec<(i64, Bytes)>, i64) {
    let mut records = Vec::new();
    loop {
        let response = client
            .call::<FetchRequest>(12, &fetch_request(TOPIC, offset, 0))
            .await;
        let partition = &response.responses[0].partitions[0];
        assert_eq!(partition.error_code, 0, "fetch at {offset}");
        let batch = decode_all(partition.records.clone().unwrap_or_default());
        if batch.is_empty() {
            return (records, partition.high_watermark);
        }
        for record in batch {
            offset = record.offset + 1;
            records.push((record.offset, record.value.unwrap()));
        }
    }
}

fn assert_acked_readable(fetched: &[(i64, Bytes)], acked: &[(i64, usize)]) {
    assert_eq!(
        fetched.len(),
        acked.len(),
        "records readable vs acknowledged"
    );
    for ((offset, value_read), (acked_offset, index)) in fetched.iter().zip(acked) {
        assert_eq!(offset, acked_offset);
        assert_eq!(*value_read, value(*index), "record at offset {offset}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fails_produces_with_storage_error_and_the_partition_comes_back_when_space_is_freed()
 {
    // Captured by the test harness: printed when the test fails.
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let Some(tmpfs) = mount_tmpfs(FILESYSTEM_BYTES) else {
        return;
    };
    // In a task of its own, so a failure is a value here and the unmount
    // below runs whatever happened (the broker it started may still hold
    // files: the unmount is lazy).
    let outcome = tokio::spawn(full_disk_scenario(tmpfs.path().to_path_buf())).await;
    drop(tmpfs);
    if let Err(failure) = outcome {
        std::panic::resume_unwind(failure.into_panic());
    }
}

async fn full_disk_scenario(mount: PathBuf) {
    let data_dir: PathBuf = mount.join("data");
    let broker = start(
        &data_dir,
        &[
            ("log.dir.offline.check.interval.ms", "100"),
            ("log.dir.reopen.min.free.bytes", MIN_FREE_BYTES),
        ],
    )
    .await;
    let mut client = Client::connect(broker.addr).await;

    // The topic (auto-created) and its first record exist before the filler.
    let mut next_index = 0;
    let first = client.call::<ProduceRequest>(9, &produce_one(0)).await;
    assert_eq!(produced(&first).error_code, 0);
    let mut acked = vec![(produced(&first).base_offset, 0)];
    next_index += 1;
    let filler = mount.join("filler");
    fill_leaving(&filler, SLACK_BYTES);

    let (more, code) = produce_until_failure(&mut client, &mut next_index).await;
    assert_eq!(
        code,
        ResponseError::KafkaStorageError.code(),
        "a produce on a full disk answers KAFKA_STORAGE_ERROR (56)"
    );
    eprintln!("acked {} records before the disk filled", more.len() + 1);
    acked.extend(more);
    assert!(
        acked.len() > WINDOW,
        "the slack held only {} records",
        acked.len()
    );
    let partition = broker.broker.topic(TOPIC).unwrap().partition(0).unwrap();
    assert!(partition.log().is_offline());

    // While the disk stays full: produces keep failing the same way, and what
    // was acknowledged stays readable.
    let again = client
        .call::<ProduceRequest>(9, &produce_one(next_index))
        .await;
    next_index += 1;
    assert_eq!(
        produced(&again).error_code,
        ResponseError::KafkaStorageError.code()
    );
    let (fetched, _) = fetch_all(&mut client, 0).await;
    assert_acked_readable(&fetched, &acked);

    std::fs::remove_file(&filler).unwrap();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let back = loop {
        let response = client
            .call::<ProduceRequest>(9, &produce_one(next_index))
            .await;
        let result = produced(&response);
        if result.error_code == 0 {
            break result.base_offset;
        }
        assert_eq!(result.error_code, ResponseError::KafkaStorageError.code());
        assert!(
            tokio::time::Instant::now() < deadline,
            "the partition did not come back within {PATIENCE:?} of freeing space"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Right after the last acknowledged record: refused records left no trace.
    assert_eq!(back, acked.last().unwrap().0 + 1);
    acked.push((back, next_index));
    next_index += 1;
    let more = client
        .call::<ProduceRequest>(9, &produce_one(next_index))
        .await;
    assert_eq!(produced(&more).error_code, 0);
    acked.push((produced(&more).base_offset, next_index));

    let (fetched, high_watermark) = fetch_all(&mut client, 0).await;
    assert_acked_readable(&fetched, &acked);
    assert_eq!(high_watermark, acked.last().unwrap().0 + 1);
    let metrics = broker.broker.metrics.render(&broker.broker);
    assert!(metrics.contains("takhin_offline_partitions 0"), "{metrics}");
    assert!(
        metrics.contains("takhin_partitions_reopened_total 1"),
        "{metrics}"
    );

    drop(client);
    broker.stop().await;
}
