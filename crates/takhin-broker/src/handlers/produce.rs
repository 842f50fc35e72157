//! Produce (key 0): validate each partition's record batch, append it, and
//! acknowledge once it is durable.
//!
//! Steps per request:
//! 1. Under the connection's produce turn (so one client's requests append in
//!    the order it sent them), on one blocking thread: resolve each
//!    partition (auto-creating the topic if allowed), validate the batch
//!    (lengths, magic, CRC: CORRUPT_MESSAGE / INVALID_RECORD), check its size
//!    against `max.message.bytes` (MESSAGE_TOO_LARGE), recompress it if the
//!    topic's `compression.type` names another codec, and append it. Batches
//!    are stored verbatim otherwise; validation walks compressed payloads as a
//!    stream (see docs/architecture.md) but keeps nothing decoded.
//! 2. The turn is released, then (acks != 0, `write.caching=false`) the
//!    partitions are fdatasync'd with group commit: concurrent producers
//!    share one sync.
//! 3. High watermarks advance, waking fetches waiting on them.
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

use bytes::BytesMut;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use kafka_protocol::protocol::StrBytes;
use takhin_storage::batch::MAGIC_V2;
use takhin_storage::{
    AppendError, AppendOptions, BatchBuilderParams, BatchHeader, ValidatedBatches,
};
use tokio::sync::OwnedMutexGuard;
use tracing::warn;

use super::{HandlerError, blocking, find_or_create_topic, now_ms};
use crate::broker::Broker;
use crate::config::{TopicCompression, TopicConfig};
use crate::partition::{LEADER_EPOCH, Partition};

/// Upper bound on a batch's decompressed size when it must be recompressed
/// into the topic's codec.
const MAX_RECOMPRESS_BYTES: usize = 256 * 1024 * 1024;

/// One partition's place in the response, filled in as the request goes.
struct Slot {
    topic_index: usize,
    partition_index: i32,
    result: Result<Appended, (ResponseError, String)>,
}

struct Appended {
    partition: Arc<Partition>,
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
    let mut work = Vec::new();
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

    let appended = blocking(move || {
        work.into_iter()
            .map(
                |(slot, partition, config, (records, has_transactional_id))| {
                    let result = append_one(&partition, &config, records, has_transactional_id)
                        .map(|outcome| (partition, config, outcome));
                    (slot, result)
                },
            )
            .collect::<Vec<_>>()
    })
    .await
    .map_err(|e| HandlerError::Protocol(format!("append task failed: {e}")))?;
    drop(produce_turn);
    for (slot, result) in appended {
        slots[slot].result = result.map(|(partition, config, outcome)| Appended {
            partition,
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

/// Validates, recompresses if needed, and appends one partition's records.
fn append_one(
    partition: &Partition,
    config: &TopicConfig,
    records: Option<bytes::Bytes>,
    has_transactional_id: bool,
) -> Result<takhin_storage::AppendOutcome, (ResponseError, String)> {
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
    let batches = takhin_storage::validate(BytesMut::from(&records[..])).map_err(batch_error)?;
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
    let outcome = partition.log.append(batches, options).map_err(|e| {
        let code = match &e {
            AppendError::OutOfOrderSequence { .. } => ResponseError::OutOfOrderSequenceNumber,
            AppendError::InvalidProducerEpoch { .. } => ResponseError::InvalidProducerEpoch,
            AppendError::Io { .. } => {
                warn!(topic = %partition.topic, partition = partition.index, "append failed: {e}");
                ResponseError::KafkaStorageError
            }
        };
        (code, e.to_string())
    })?;
    if !outcome.duplicate {
        partition.metrics.record_append(size_bytes, records_count);
    }
    Ok(outcome)
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
/// watermarks. With acks=0 on a durable topic the sync still happens, in the
/// background, so the data becomes visible without waiting for a later
/// producer.
async fn make_durable(slots: &mut [Slot], acks: i16) {
    let mut syncs = tokio::task::JoinSet::new();
    for (index, slot) in slots.iter().enumerate() {
        let Ok(appended) = &slot.result else { continue };
        let partition = appended.partition.clone();
        if appended.config.write_caching {
            partition.advance_high_watermark(partition.log.log_end_offset());
            maybe_flush_cached(&partition, &appended.config);
            continue;
        }
        let end_offset = appended.end_offset;
        let sync = async move {
            let log = partition.log.clone();
            let result = blocking(move || log.sync_to(end_offset)).await;
            let result = match result {
                Ok(Ok(())) => {
                    partition.advance_high_watermark(partition.log.recovery_point());
                    Ok(())
                }
                Ok(Err(e)) => {
                    warn!(topic = %partition.topic, partition = partition.index, "fdatasync failed: {e}");
                    Err((ResponseError::KafkaStorageError, e.to_string()))
                }
                Err(error) => Err((error, "sync task failed".to_string())),
            };
            (index, result)
        };
        if acks == 0 {
            tokio::spawn(sync);
        } else {
            syncs.spawn(sync);
        }
    }
    while let Some(done) = syncs.join_next().await {
        if let Ok((index, Err(error))) = done {
            slots[index].result = Err(error);
        }
    }
}

/// With write caching, fsync once `flush.messages` records are unsynced
/// (the periodic flusher handles `flush.ms`).
fn maybe_flush_cached(partition: &Arc<Partition>, config: &TopicConfig) {
    let unsynced = partition.log.log_end_offset() - partition.log.recovery_point();
    if unsynced >= config.flush_messages {
        let log = partition.log.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(e) = log.flush() {
                warn!("flush.messages flush failed: {e}");
            }
        });
    }
}
