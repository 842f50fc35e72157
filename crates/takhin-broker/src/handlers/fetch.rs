//! Fetch (key 1): read whole record batches straight from segment files.
//!
//! - Batches are returned as stored; nothing is decoded or re-encoded.
//! - Bytes are bounded by the request's `max_bytes` (capped by the broker's
//!   `fetch.max.bytes`) and each partition's `partition_max_bytes`, except
//!   that the first batch found is returned whole even when larger (KIP-74),
//!   so a consumer never gets stuck behind a big batch.
//! - Consumers read up to the high watermark, which on a durable topic is
//!   what has been fdatasync'd.
//! - Long poll: with fewer than `min_bytes` available the request waits until
//!   a partition's high watermark moves or `max_wait_ms` passes. Waiting is a
//!   notification per partition, never a timer loop.
//! - Record sets are not copied: a cached one of [`FILE_SEND_MIN_BYTES`] or
//!   more is sent from its segment file with `sendfile` (the response holds
//!   a placeholder, see `takhin_protocol::Reply`); anything else is read on
//!   the blocking pool and written from that buffer. So a connection task
//!   never waits for the disk.
//! - Fetch sessions (KIP-227) are declined by answering session id 0, which
//!   clients treat as "send full fetch requests"; that is always correct.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse};
use takhin_protocol::{FilePart, Reply, Response, file_records_placeholder};
use takhin_storage::{FileSlice, ReadError};
use tokio::sync::Notify;

use super::blocking;
use crate::broker::Broker;
use crate::partition::{LEADER_EPOCH, Partition};

/// Longest a fetch may wait, whatever the client asks for.
pub const MAX_WAIT_MS_CAP: i32 = 5 * 60 * 1000;

/// A partition's record set this long or longer, when cached, is sent from
/// its file; a shorter one is copied. Short sets are what a consumer at the
/// tail of the log gets; copying a few KiB twice costs about what the extra
/// `sendfile` call and the page references cost, so they keep the simpler
/// path (a judgement, not a measurement: consumers at the tail are not
/// throughput-bound).
pub const FILE_SEND_MIN_BYTES: usize = 32 * 1024;

struct Target {
    topic_index: usize,
    partition_index: i32,
    partition: Result<Arc<Partition>, ResponseError>,
    fetch_offset: i64,
    partition_max_bytes: usize,
}

/// Checks the client's view of the leader epoch against ours.
pub(crate) fn check_leader_epoch(current_leader_epoch: i32) -> Result<(), ResponseError> {
    match current_leader_epoch {
        -1 => Ok(()),
        epoch if epoch > LEADER_EPOCH => Err(ResponseError::UnknownLeaderEpoch),
        epoch if epoch < LEADER_EPOCH => Err(ResponseError::FencedLeaderEpoch),
        _ => Ok(()),
    }
}

pub async fn handle(broker: &Arc<Broker>, version: i16, request: FetchRequest) -> Reply {
    let wait = Duration::from_millis(request.max_wait_ms.clamp(0, MAX_WAIT_MS_CAP) as u64);
    let deadline = tokio::time::Instant::now() + wait;
    let max_bytes = usize::try_from(request.max_bytes)
        .unwrap_or(0)
        .min(broker.config.fetch_max_bytes);
    let min_bytes = usize::try_from(request.min_bytes).unwrap_or(0);
    let read_committed = request.isolation_level == 1;

    let mut topics = Vec::with_capacity(request.topics.len());
    let mut targets = Vec::new();
    for (topic_index, fetch_topic) in request.topics.into_iter().enumerate() {
        let topic = if version >= 13 {
            broker
                .topic_by_id(&fetch_topic.topic_id)
                .ok_or(ResponseError::UnknownTopicId)
        } else {
            broker
                .topic(fetch_topic.topic.as_str())
                .ok_or(ResponseError::UnknownTopicOrPartition)
        };
        topics.push(
            FetchableTopicResponse::default()
                .with_topic(fetch_topic.topic.clone())
                .with_topic_id(fetch_topic.topic_id),
        );
        for wanted in fetch_topic.partitions {
            let partition = topic.clone().and_then(|topic| {
                check_leader_epoch(wanted.current_leader_epoch)?;
                topic
                    .partition(wanted.partition)
                    .ok_or(ResponseError::UnknownTopicOrPartition)
            });
            targets.push(Target {
                topic_index,
                partition_index: wanted.partition,
                partition,
                fetch_offset: wanted.fetch_offset,
                partition_max_bytes: usize::try_from(wanted.partition_max_bytes).unwrap_or(0),
            });
        }
    }
    let targets = Arc::new(targets);

    let waiter = Arc::new(Notify::new());
    let (results, file_records) = loop {
        let may_wait = tokio::time::Instant::now() < deadline;
        if may_wait {
            for target in targets.iter() {
                if let Ok(partition) = &target.partition {
                    partition.register_waiter(&waiter);
                }
            }
        }
        let reading = targets.clone();
        let (results, file_records) = blocking(move || read_all(&reading, max_bytes))
            .await
            .unwrap_or_else(|error| {
                let results = (0..targets.len())
                    .map(|_| PartitionRead::error(error, -1, -1))
                    .collect();
                (results, Vec::new())
            });
        let bytes: usize = results.iter().map(|r| r.records.len()).sum();
        let any_error = results.iter().any(|r| r.error != 0);
        if !may_wait || bytes >= min_bytes.max(1) || any_error {
            break (results, file_records);
        }
        tokio::select! {
            _ = waiter.notified() => {}
            _ = tokio::time::sleep_until(deadline) => {}
        }
    };

    for (target, read) in targets.iter().zip(results) {
        if let Ok(partition) = &target.partition {
            partition.metrics.record_fetch(read.records.len());
        }
        let data = PartitionData::default()
            .with_partition_index(target.partition_index)
            .with_error_code(read.error)
            .with_high_watermark(read.high_watermark)
            .with_last_stable_offset(read.high_watermark)
            .with_log_start_offset(read.log_start_offset)
            .with_aborted_transactions(read_committed.then(Vec::new))
            .with_preferred_read_replica(BrokerId(-1))
            // Empty records, never null: librdkafka rejects a null record set.
            .with_records(Some(read.records));
        topics[target.topic_index].partitions.push(data);
    }
    let response = FetchResponse::default()
        .with_error_code(0)
        .with_session_id(0)
        .with_responses(topics);
    Reply {
        response: Response::Fetch(response),
        file_records,
    }
}

struct PartitionRead {
    error: i16,
    high_watermark: i64,
    log_start_offset: i64,
    /// In memory, or a placeholder for file record sets.
    records: Bytes,
}

impl PartitionRead {
    fn error(error: ResponseError, high_watermark: i64, log_start_offset: i64) -> PartitionRead {
        PartitionRead {
            error: error.code(),
            high_watermark,
            log_start_offset,
            records: Bytes::new(),
        }
    }
}

/// Reads every target, filling the response budget in request order. Returns
/// the reads and the record sets their placeholders stand for.
fn read_all(targets: &[Target], max_bytes: usize) -> (Vec<PartitionRead>, Vec<Vec<FilePart>>) {
    let mut total_bytes = 0usize;
    let mut results = Vec::with_capacity(targets.len());
    let mut file_records = Vec::new();
    for target in targets {
        let partition = match &target.partition {
            Ok(partition) => partition,
            Err(error) => {
                results.push(PartitionRead::error(*error, -1, -1));
                continue;
            }
        };
        let log = partition.log();
        let high_watermark = partition.high_watermark();
        let log_start_offset = log.log_start_offset();
        let log_end_offset = log.log_end_offset();
        let offset = target.fetch_offset;
        if offset < log_start_offset || offset > log_end_offset {
            results.push(PartitionRead::error(
                ResponseError::OffsetOutOfRange,
                high_watermark,
                log_start_offset,
            ));
            continue;
        }
        let budget = target
            .partition_max_bytes
            .min(max_bytes.saturating_sub(total_bytes));
        let records = if offset >= high_watermark || (budget == 0 && total_bytes > 0) {
            // Between the high watermark and the log end: not yet readable,
            // but not out of range either.
            Bytes::new()
        } else {
            match log
                .read_slices(offset, budget, high_watermark, total_bytes == 0)
                .and_then(|slices| {
                    records_of(&slices, &mut file_records).map_err(|source| ReadError::Io {
                        context: format!("reading {}-{}", partition.topic, partition.index),
                        source,
                    })
                }) {
                Ok(records) => records,
                Err(ReadError::OffsetOutOfRange { .. }) => {
                    results.push(PartitionRead::error(
                        ResponseError::OffsetOutOfRange,
                        high_watermark,
                        log_start_offset,
                    ));
                    continue;
                }
                Err(e) => {
                    tracing::warn!(topic = %partition.topic, partition = partition.index, "read failed: {e}");
                    results.push(PartitionRead::error(
                        ResponseError::KafkaStorageError,
                        high_watermark,
                        log_start_offset,
                    ));
                    continue;
                }
            }
        };
        total_bytes += records.len();
        results.push(PartitionRead {
            error: 0,
            high_watermark,
            log_start_offset,
            records,
        });
    }
    (results, file_records)
}

/// The record set of `slices`: a placeholder (its file parts pushed onto
/// `file_records`) when it is long enough and cached, else read into memory.
fn records_of(
    slices: &[FileSlice],
    file_records: &mut Vec<Vec<FilePart>>,
) -> std::io::Result<Bytes> {
    let len: usize = slices.iter().map(FileSlice::len).sum();
    let cached = || slices.iter().all(|slice| slice.is_cached() == Some(true));
    if len >= FILE_SEND_MIN_BYTES
        && let Some(placeholder) = file_records_placeholder(file_records.len(), len)
        && cached()
    {
        file_records.push(
            slices
                .iter()
                .map(|slice| FilePart {
                    file: slice.file().clone(),
                    position: slice.position(),
                    len: slice.len(),
                })
                .collect(),
        );
        return Ok(placeholder);
    }
    FileSlice::read_all(slices)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use takhin_storage::{
        AppendOptions, BatchBuilderParams, LogConfig, LogDir, Record, encode_batch, validate,
    };

    use super::*;

    fn append(log: &takhin_storage::Log, records: usize, value_bytes: usize) {
        let records: Vec<Record> = (0..records)
            .map(|i| Record {
                offset: i as i64,
                timestamp: 1_000,
                key: None,
                value: Some(Bytes::from(vec![i as u8; value_bytes])),
                headers: vec![],
            })
            .collect();
        let batch =
            validate(encode_batch(&BatchBuilderParams::default(), &records).unwrap()).unwrap();
        let options = AppendOptions {
            now_ms: 1_000,
            leader_epoch: 0,
        };
        log.append(batch, options).unwrap();
    }

    /// Large cached record sets become placeholders with their file ranges; short ones and
    /// ones not in the page cache are read, with the same bytes.
    #[test]
    fn only_large_cached_record_sets_are_left_in_their_files() {
        let dir = tempfile::tempdir().unwrap();
        let log_dir = LogDir::open(dir.path()).unwrap();
        let (log, _) = log_dir
            .open_log("t", 0, uuid::Uuid::new_v4(), LogConfig::default())
            .unwrap();
        append(&log, 10, 10); // offsets 0-9: a short batch
        append(&log, 100, 1_000); // offsets 10-109: ~100 KiB
        log.sync_to(log.log_end_offset()).unwrap();
        let end = log.log_end_offset();

        let short = log.read_slices(0, 100, end, true).unwrap();
        let mut files = Vec::new();
        let records = records_of(&short, &mut files).unwrap();
        assert!(files.is_empty(), "a short set is copied");
        assert_eq!(records, FileSlice::read_all(&short).unwrap());

        let large = log.read_slices(10, 1 << 20, end, true).unwrap();
        let bytes = FileSlice::read_all(&large).unwrap();
        assert!(bytes.len() >= FILE_SEND_MIN_BYTES);
        let Some(true) = large[0].is_cached() else {
            return; // no cachestat on this kernel: every set is copied
        };
        let records = records_of(&large, &mut files).unwrap();
        assert_eq!(files.len(), 1);
        let placeholder = file_records_placeholder(0, bytes.len()).unwrap();
        assert_eq!(records.as_ptr(), placeholder.as_ptr(), "a placeholder");
        assert_eq!(
            files[0].iter().map(|part| part.len).sum::<usize>(),
            bytes.len()
        );
        assert_eq!(files[0][0].position, large[0].position());

        // Not cached any more: read, same bytes, no file part.
        rustix::fs::fadvise(&**large[0].file(), 0, None, rustix::fs::Advice::DontNeed).unwrap();
        let mut files = Vec::new();
        let records = records_of(&large, &mut files).unwrap();
        assert!(files.is_empty(), "an uncached set is read");
        assert_eq!(records, bytes);
        log_dir.close(&[log]).unwrap();
    }
}
