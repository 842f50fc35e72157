//! Produce (key 0): validate each partition's record batch, append it, and
//! acknowledge once it is durable.
//!
//! Steps per request:
//! 1. Under the connection's produce turn (so one client's requests append in
//!    the order it sent them), on the async worker or one blocking thread (see
//!    [`AppendGate`]): resolve each
//!    partition (auto-creating the topic if allowed), validate the batch
//!    (lengths, magic, CRC: CORRUPT_MESSAGE / INVALID_RECORD), check its size
//!    against `max.message.bytes` (MESSAGE_TOO_LARGE), recompress it if the
//!    topic's `compression.type` names another codec, and append it. Batches
//!    are stored verbatim otherwise; validation walks compressed payloads as a
//!    stream (see docs/architecture.md) but keeps nothing decoded.
//! 2. The turn is released, then (`write.caching=false`) each partition's
//!    sync is requested and, unless acks=0, awaited: the partition's sync
//!    driver fdatasyncs with group commit (concurrent producers share one
//!    sync) and advances the high watermark, waking fetches waiting on it
//!    (see `Partition`).
//! 3. With write caching the high watermark advances at once.
//!
//! acks=0 gets no response at all, as in Kafka; if any partition failed, the
//! connection is closed instead, since the client reads no errors.
//!
//! # Transactional and control batches are refused
//!
//! Takhin has no transaction coordinator yet (InitProducerId refuses a
//! transactional id), so no transaction is ever ongoing: a transactional batch
//! would never be committed or aborted, would hold back the last stable offset
//! once that exists, and read_committed consumers would treat it as committed;
//! a client-written control batch (a forged commit or abort marker) likewise.
//! The answers are Kafka's own, in its order:
//!
//! 1. A transactional batch (the first batch of any partition, as Kafka's
//!    `RequestUtils.hasTransactionalRecords` looks) in a request without a
//!    transactional id: TRANSACTIONAL_ID_AUTHORIZATION_FAILED (53) for every
//!    partition of the request, nothing appended (`KafkaApis.handleProduceRequest`
//!    answers the whole request with it; with acks=0 the connection is closed).
//! 2. A transactional batch in a request with a transactional id:
//!    INVALID_TXN_STATE (48) for that partition, what Kafka 3.6+ answers when
//!    transaction verification finds the partition not added to an ongoing
//!    transaction (`ReplicaManager`: "Partition was not added to the
//!    transaction").
//! 3. A control batch: INVALID_RECORD (87) for that partition, after the CRC
//!    and record checks (`LogValidator`: "Clients are not allowed to write
//!    control records").

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use kafka_protocol::ResponseError;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use kafka_protocol::protocol::StrBytes;
use takhin_storage::batch::MAGIC_V2;
use takhin_storage::{
    AppendError, AppendOptions, BatchBuilderParams, BatchHeader, ValidatedBatches,
};
use tokio::sync::OwnedMutexGuard;
use tracing::{debug, warn};

use super::{HandlerError, blocking, find_or_create_topic, now_ms};
use crate::broker::Broker;
use crate::config::{TopicCompression, TopicConfig};
use crate::partition::{LEADER_EPOCH, Partition};

/// Upper bound on a batch's decompressed size when it must be recompressed
/// into the topic's codec.
const MAX_RECOMPRESS_BYTES: usize = 256 * 1024 * 1024;

/// Records a request may carry and still be appended on the async worker.
const INLINE_APPEND_MAX_BYTES: usize = 1024 * 1024;
/// An inline append that slept in the kernel and took longer than this sends
/// appends to the blocking pool ...
const SLOW_INLINE_APPEND: Duration = Duration::from_millis(1);
/// ... for this long; then they try inline again.
const BLOCKING_APPEND_WINDOW: Duration = Duration::from_secs(1);

/// Decides where a produce request's appends run.
///
/// An append validates the batch and writes it to the page cache: for the
/// usual request, microseconds. On the blocking pool it costs two thread
/// wake-ups more than the work itself (measured with the Java producer, 15 KiB
/// requests: 76 µs of broker CPU and 4.1 context switches per request on the
/// pool, 46 µs and 1.2 inline; 18% more throughput). So appends run on the
/// async worker that decoded the request, unless they could hold it long
/// enough to stall the other connections it serves:
///
/// - a request with more than [`INLINE_APPEND_MAX_BYTES`] of records, or one
///   whose topic recompresses (`compression.type` other than `producer`), is
///   appended on the blocking pool: the hand-off is small next to the work;
/// - the kernel can make a buffered write wait (dirty-page throttling when
///   producers outrun the disk, journal waits) and a segment roll creates
///   files: after an inline append that slept (the thread's voluntary context
///   switches went up) and took longer than [`SLOW_INLINE_APPEND`], appends go
///   to the blocking pool for [`BLOCKING_APPEND_WINDOW`], then try inline
///   again. Time the thread was merely preempted does not count: on a busy
///   machine that happens to any thread and would send appends to the pool
///   for nothing (it did, with the wall clock alone: 10-20% less throughput).
///
/// fdatasync never runs inline (see `make_durable`).
pub struct AppendGate {
    epoch: Instant,
    /// Milliseconds after `epoch` until which appends use the blocking pool.
    blocking_until_ms: AtomicU64,
}

impl Default for AppendGate {
    fn default() -> Self {
        AppendGate {
            epoch: Instant::now(),
            blocking_until_ms: AtomicU64::new(0),
        }
    }
}

impl AppendGate {
    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Whether a request with `bytes` of records, recompressed or not, may be
    /// appended on the async worker now.
    fn inline_allowed(&self, bytes: usize, recompresses: bool) -> bool {
        !recompresses
            && bytes <= INLINE_APPEND_MAX_BYTES
            && self.now_ms() >= self.blocking_until_ms.load(Ordering::Relaxed)
    }

    /// An inline append took `took` (more than [`SLOW_INLINE_APPEND`]);
    /// `slept` says whether the thread waited in the kernel meanwhile.
    fn record_slow(&self, took: Duration, slept: bool) {
        if !slept || took <= SLOW_INLINE_APPEND {
            return;
        }
        let until = self.now_ms() + BLOCKING_APPEND_WINDOW.as_millis() as u64;
        self.blocking_until_ms.fetch_max(until, Ordering::Relaxed);
        debug!(
            took_us = took.as_micros() as u64,
            "inline append waited in the kernel; appending on the blocking pool for a while"
        );
    }
}

/// The calling thread's voluntary context switches so far (times it slept),
/// where the platform counts them per thread.
#[cfg(target_os = "linux")]
fn voluntary_context_switches() -> Option<i64> {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::uninit();
    // SAFETY: `usage` points to writable memory of the right size, which
    // getrusage only writes to.
    #[allow(unsafe_code)]
    let status = unsafe { libc::getrusage(libc::RUSAGE_THREAD, usage.as_mut_ptr()) };
    if status != 0 {
        return None;
    }
    // SAFETY: getrusage returned 0, so it filled `usage` in.
    #[allow(unsafe_code)]
    let usage = unsafe { usage.assume_init() };
    #[allow(clippy::unnecessary_cast)] // c_long is i32 on some targets
    Some(usage.ru_nvcsw as i64)
}

#[cfg(not(target_os = "linux"))]
fn voluntary_context_switches() -> Option<i64> {
    None
}

/// A partition's records to append: (slot, partition, config, (records,
/// has transactional id)).
type Work = (
    usize,
    Arc<Partition>,
    Arc<TopicConfig>,
    (Option<bytes::Bytes>, bool),
);

/// One partition's place in the response, filled in as the request goes.
struct Slot {
    topic_index: usize,
    partition_index: i32,
    result: Result<Appended, (ResponseError, String)>,
}

struct Appended {
    partition: Arc<Partition>,
    /// The log the records went to: their sync is awaited on it, even if a
    /// reopen replaced it meanwhile (see `Partition`).
    log: Arc<takhin_storage::Log>,
    config: Arc<TopicConfig>,
    base_offset: i64,
    log_append_time_ms: i64,
    log_start_offset: i64,
    end_offset: i64,
}

pub async fn handle(
    broker: &Arc<Broker>,
    version: i16,
    request: ProduceRequest,
    produce_turn: Option<OwnedMutexGuard<()>>,
) -> Result<Option<ProduceResponse>, HandlerError> {
    let acks = request.acks;
    let has_transactional_id = request.transactional_id.is_some();
    let refusal = transactional_refusal(&request);
    let mut topics: Vec<TopicProduceResponse> = Vec::with_capacity(request.topic_data.len());
    let mut work: Vec<Work> = Vec::new();
    let mut slots = Vec::new();
    for (topic_index, topic_data) in request.topic_data.into_iter().enumerate() {
        topics.push(
            TopicProduceResponse::default()
                .with_name(topic_data.name.clone())
                .with_topic_id(topic_data.topic_id),
        );
        if let Some(refusal) = &refusal {
            // Kafka answers the whole request before looking at topics: nothing
            // is auto-created or appended.
            for partition_data in &topic_data.partition_data {
                slots.push(Slot {
                    topic_index,
                    partition_index: partition_data.index,
                    result: Err(refusal.clone()),
                });
            }
            continue;
        }
        let topic = if !matches!(acks, -1..=1) {
            Err(ResponseError::InvalidRequiredAcks)
        } else if topic_data.name.as_str() == crate::groups::OFFSETS_TOPIC {
            // Only the group coordinator writes its internal topic (Kafka
            // answers INVALID_TOPIC_EXCEPTION the same way).
            Err(ResponseError::InvalidTopicException)
        } else if version >= 13 {
            broker
                .topic_by_id(&topic_data.topic_id)
                .ok_or(ResponseError::UnknownTopicId)
        } else {
            find_or_create_topic(broker, topic_data.name.as_str(), true).await
        };
        for partition_data in topic_data.partition_data {
            let index = partition_data.index;
            let target = match &topic {
                Err(error) => Err((*error, error.to_string())),
                Ok(topic) => match topic.partition(index) {
                    Some(partition) => Ok((partition, topic.config())),
                    None => Err((
                        ResponseError::UnknownTopicOrPartition,
                        format!("topic {} has no partition {index}", topic.name),
                    )),
                },
            };
            // A single node is an ISR of one: acks=all cannot be satisfied when
            // the topic demands more in-sync replicas (Kafka answers the same).
            let target = target.and_then(|(partition, config)| {
                if acks == -1 && config.min_insync_replicas > 1 {
                    Err((
                        ResponseError::NotEnoughReplicas,
                        format!(
                            "min.insync.replicas is {} but this partition has 1 in-sync replica",
                            config.min_insync_replicas
                        ),
                    ))
                } else {
                    Ok((partition, config))
                }
            });
            match target {
                Ok((partition, config)) => {
                    let records = (partition_data.records, has_transactional_id);
                    work.push((slots.len(), partition, config, records));
                    slots.push(Slot {
                        topic_index,
                        partition_index: index,
                        result: Err((ResponseError::UnknownServerError, String::new())),
                    });
                }
                Err(error) => slots.push(Slot {
                    topic_index,
                    partition_index: index,
                    result: Err(error),
                }),
            }
        }
    }

    let bytes = work
        .iter()
        .map(|(_, _, _, (records, _))| records.as_ref().map_or(0, |r| r.len()))
        .sum();
    let recompresses = work
        .iter()
        .any(|(_, _, config, _)| matches!(config.compression, TopicCompression::Codec(_)));
    let inline = broker.append_gate.inline_allowed(bytes, recompresses);
    let append_all = move || {
        work.into_iter()
            .map(
                |(slot, partition, config, (records, has_transactional_id))| {
                    let result = append_one(&partition, &config, records, has_transactional_id)
                        .map(|(log, outcome)| (partition, log, config, outcome));
                    (slot, result)
                },
            )
            .collect::<Vec<_>>()
    };
    let appended = if inline {
        let started = Instant::now();
        let switches = voluntary_context_switches();
        let appended = append_all();
        let took = started.elapsed();
        // Only a slow append needs the second look.
        if took > SLOW_INLINE_APPEND {
            let slept = match (switches, voluntary_context_switches()) {
                (Some(before), Some(after)) => after > before,
                _ => true,
            };
            broker.append_gate.record_slow(took, slept);
        }
        appended
    } else {
        blocking(append_all)
            .await
            .map_err(|e| HandlerError::Protocol(format!("append task failed: {e}")))?
    };
    drop(produce_turn);
    for (slot, result) in appended {
        slots[slot].result = result.map(|(partition, log, config, outcome)| Appended {
            partition,
            log,
            config,
            base_offset: outcome.base_offset,
            log_append_time_ms: outcome.log_append_time_ms,
            log_start_offset: outcome.log_start_offset,
            end_offset: outcome.last_offset + 1,
        });
    }

    make_durable(&mut slots, acks).await;
    if acks == 0 {
        // An acks=0 producer reads no responses; as Kafka does, close the
        // connection on failure so the client notices and refreshes metadata.
        if let Some((error, message)) = slots.iter().find_map(|slot| slot.result.as_ref().err()) {
            return Err(HandlerError::Protocol(format!(
                "acks=0 produce failed with {error:?}: {message}"
            )));
        }
        return Ok(None);
    }

    for slot in slots {
        let mut response = PartitionProduceResponse::default()
            .with_index(slot.partition_index)
            .with_base_offset(-1)
            .with_log_append_time_ms(-1)
            .with_log_start_offset(-1);
        match slot.result {
            Ok(appended) => {
                response = response
                    .with_base_offset(appended.base_offset)
                    .with_log_append_time_ms(appended.log_append_time_ms)
                    .with_log_start_offset(appended.log_start_offset);
            }
            Err((error, message)) => {
                response = response.with_error_code(error.code()).with_error_message(
                    (!message.is_empty()).then(|| StrBytes::from_string(message)),
                );
            }
        }
        topics[slot.topic_index].partition_responses.push(response);
    }
    Ok(Some(ProduceResponse::default().with_responses(topics)))
}

/// The header of the first batch in a partition's records when the whole batch
/// is present with magic 2: what Kafka's `RequestUtils.flag` reads the
/// transactional bit from (no CRC or record checks yet).
fn first_batch_header(records: Option<&[u8]>) -> Option<BatchHeader> {
    let records = records?;
    let header = BatchHeader::parse(records).ok()?;
    let whole = (BatchHeader::SIZE..=records.len()).contains(&header.total_size());
    (header.magic == MAGIC_V2 && whole).then_some(header)
}

/// Rule 1 of the module docs: a transactional batch in a request without a
/// transactional id fails the whole request.
fn transactional_refusal(request: &ProduceRequest) -> Option<(ResponseError, String)> {
    if request.transactional_id.is_some() {
        return None;
    }
    let transactional = request.topic_data.iter().any(|topic| {
        topic.partition_data.iter().any(|partition| {
            first_batch_header(partition.records.as_deref())
                .is_some_and(|header| header.is_transactional())
        })
    });
    transactional.then(|| {
        (
            ResponseError::TransactionalIdAuthorizationFailed,
            "the request carries a transactional record batch but no transactional id \
             (and Takhin has no transaction coordinator yet)"
                .to_string(),
        )
    })
}

/// Validates, recompresses if needed, and appends one partition's records;
/// returns the log they went to with the outcome.
fn append_one(
    partition: &Partition,
    config: &TopicConfig,
    records: Option<bytes::Bytes>,
    has_transactional_id: bool,
) -> Result<(Arc<takhin_storage::Log>, takhin_storage::AppendOutcome), (ResponseError, String)> {
    let Some(records) = records else {
        return Err((ResponseError::InvalidRecord, "records are null".into()));
    };
    let topic_partition = || format!("{}-{}", partition.topic, partition.index);
    // Rule 2 of the module docs (rule 1 already refused the request otherwise).
    if has_transactional_id
        && first_batch_header(Some(&records)).is_some_and(|header| header.is_transactional())
    {
        return Err((
            ResponseError::InvalidTxnState,
            format!(
                "Partition was not added to the transaction: {} is not part of an ongoing \
                 transaction (Takhin has no transaction coordinator yet, so none can be)",
                topic_partition()
            ),
        ));
    }
    let batches = takhin_storage::validate(records.clone()).map_err(batch_error)?;
    if batches.headers().len() != 1 {
        return Err((
            ResponseError::InvalidRecord,
            format!(
                "produce requests must carry exactly one record batch per partition, got {}",
                batches.headers().len()
            ),
        ));
    }
    // Rule 3 of the module docs.
    if batches.headers()[0].is_control() {
        return Err((
            ResponseError::InvalidRecord,
            format!(
                "Clients are not allowed to write control records in topic partition {}",
                topic_partition()
            ),
        ));
    }
    if batches.size_bytes() > config.max_message_bytes {
        return Err((
            ResponseError::MessageTooLarge,
            format!(
                "record batch of {} bytes exceeds max.message.bytes ({})",
                batches.size_bytes(),
                config.max_message_bytes
            ),
        ));
    }
    let batches = match config.compression {
        TopicCompression::Codec(codec) if batches.headers()[0].compression() != codec => {
            recompress(&records, codec)?
        }
        _ => batches,
    };
    let options = AppendOptions {
        now_ms: now_ms(),
        leader_epoch: LEADER_EPOCH,
    };
    let (size_bytes, records_count) = (batches.size_bytes(), batches.records_count());
    let log = partition.log();
    let outcome = log.append(batches, options).map_err(|e| {
        let code = match &e {
            AppendError::OutOfOrderSequence { .. } => ResponseError::OutOfOrderSequenceNumber,
            AppendError::InvalidProducerEpoch { .. } => ResponseError::InvalidProducerEpoch,
            AppendError::Io { .. } => {
                warn!(topic = %partition.topic, partition = partition.index, "append failed: {e}");
                ResponseError::KafkaStorageError
            }
            // Logged once, when the log went offline; not again for every
            // retry a producer sends meanwhile.
            AppendError::Offline { .. } => ResponseError::KafkaStorageError,
        };
        (code, e.to_string())
    })?;
    if !outcome.duplicate {
        partition.metrics.record_append(size_bytes, records_count);
    }
    Ok((log, outcome))
}

fn batch_error(error: takhin_storage::BatchError) -> (ResponseError, String) {
    let code = if error.is_corrupt() {
        ResponseError::CorruptMessage
    } else {
        ResponseError::InvalidRecord
    };
    (code, error.to_string())
}

/// Rewrites a batch in the topic's codec (compression.type other than
/// `producer`), keeping producer id, epoch, sequence and timestamps.
fn recompress(
    records: &[u8],
    codec: takhin_storage::Compression,
) -> Result<ValidatedBatches, (ResponseError, String)> {
    let (header, decoded) =
        takhin_storage::decode_records(records, MAX_RECOMPRESS_BYTES).map_err(batch_error)?;
    let params = BatchBuilderParams {
        base_offset: header.base_offset,
        compression: codec,
        timestamp_type: header.timestamp_type(),
        producer_id: header.producer_id,
        producer_epoch: header.producer_epoch,
        base_sequence: header.base_sequence,
        is_transactional: header.is_transactional(),
        partition_leader_epoch: header.partition_leader_epoch,
    };
    let encoded = takhin_storage::encode_batch(&params, &decoded).map_err(batch_error)?;
    takhin_storage::validate(encoded).map_err(batch_error)
}

/// Makes appended data durable as the topic requires, then advances high
/// watermarks: every partition's sync is requested first, so they run
/// concurrently, then awaited (see `Partition` on group commit). With acks=0
/// on a durable topic the sync is requested and not awaited: the data becomes
/// visible once synced without waiting for a later producer.
async fn make_durable(slots: &mut [Slot], acks: i16) {
    let mut waiting = Vec::new();
    for (index, slot) in slots.iter().enumerate() {
        let Ok(appended) = &slot.result else { continue };
        let partition = &appended.partition;
        if appended.config.write_caching {
            partition.advance_high_watermark(appended.log.log_end_offset());
            maybe_flush_cached(partition, &appended.log, &appended.config);
            continue;
        }
        partition.request_sync(appended.end_offset);
        if acks != 0 {
            waiting.push(index);
        }
    }
    for index in waiting {
        let Ok(appended) = &slots[index].result else {
            continue;
        };
        let durable = appended
            .partition
            .wait_durable(&appended.log, appended.end_offset)
            .await;
        if let Err(message) = durable {
            slots[index].result = Err((ResponseError::KafkaStorageError, message));
        }
    }
}

/// Whether a produce request will wait for an fdatasync before its answer:
/// acks is not 0 and some topic it names (by id from version 13, as
/// [`handle`] looks them up) is not write-cached or does not exist yet
/// (auto-created topics are durable by default). The server runs such
/// requests in a task of their own from the start.
pub fn waits_for_sync(broker: &Broker, version: i16, request: &ProduceRequest) -> bool {
    request.acks != 0
        && request.topic_data.iter().any(|topic| {
            let found = if version >= 13 {
                broker.topic_by_id(&topic.topic_id)
            } else {
                broker.topic(topic.name.as_str())
            };
            found.is_none_or(|topic| !topic.config().write_caching)
        })
}

/// With write caching, fsync once `flush.messages` records are unsynced
/// (the periodic flusher handles `flush.ms`).
fn maybe_flush_cached(
    partition: &Arc<Partition>,
    log: &Arc<takhin_storage::Log>,
    config: &TopicConfig,
) {
    let unsynced = log.log_end_offset() - log.recovery_point();
    if unsynced >= config.flush_messages {
        let (partition, log) = (partition.clone(), log.clone());
        tokio::task::spawn_blocking(move || {
            if let Err(e) = partition.sync_blocking(&log, log.log_end_offset()) {
                warn!("flush.messages flush failed: {e}");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_requests_append_inline_large_or_recompressed_ones_on_the_pool() {
        let gate = AppendGate::default();
        assert!(gate.inline_allowed(16 * 1024, false));
        assert!(gate.inline_allowed(INLINE_APPEND_MAX_BYTES, false));
        assert!(!gate.inline_allowed(INLINE_APPEND_MAX_BYTES + 1, false));
        assert!(!gate.inline_allowed(100, true));
    }

    #[test]
    fn an_append_that_slept_in_the_kernel_sends_appends_to_the_pool_for_a_window() {
        let gate = AppendGate::default();
        let slow = SLOW_INLINE_APPEND + Duration::from_millis(1);
        gate.record_slow(slow, false);
        assert!(
            gate.inline_allowed(100, false),
            "a slow append that only lost the CPU changes nothing"
        );
        gate.record_slow(Duration::from_micros(300), true);
        assert!(
            gate.inline_allowed(100, false),
            "a short sleep changes nothing"
        );
        gate.record_slow(slow, true);
        assert!(!gate.inline_allowed(100, false));
        // The window ends: appends try inline again.
        gate.blocking_until_ms
            .store(gate.now_ms().saturating_sub(1), Ordering::Relaxed);
        assert!(gate.inline_allowed(100, false));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn sleeping_counts_as_a_voluntary_context_switch() {
        let before = voluntary_context_switches().expect("getrusage(RUSAGE_THREAD)");
        std::thread::sleep(Duration::from_millis(2));
        let after = voluntary_context_switches().expect("getrusage(RUSAGE_THREAD)");
        assert!(after > before, "{before} -> {after}");
    }
}
