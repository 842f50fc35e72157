//! InitProducerId (key 22): hands an idempotent producer its producer id.
//!
//! Without a transactional id (idempotent producers), as in Kafka: a new
//! producer id that was never handed out before, epoch 0, whatever
//! `producer_id`/`producer_epoch` the client sends (KIP-360 epoch bumps of a
//! non-transactional producer also get a fresh id) and ignoring
//! `transaction_timeout_ms`. If the id block cannot be reserved on disk the
//! answer is KAFKA_STORAGE_ERROR, which clients retry.
//!
//! Transactions are not implemented yet. A transactional id is answered
//! UNSUPPORTED_VERSION (35): Redpanda answers a transactional
//! FindCoordinator with it when transactions are disabled, and the clients
//! stop at once with a message that names the cause (the Java client:
//! "Unexpected error in InitProducerIdResponse; The version of API is not
//! supported."). The alternatives mislead: COORDINATOR_NOT_AVAILABLE makes
//! clients retry until their timeout, and TRANSACTIONAL_ID_AUTHORIZATION_FAILED
//! (Redpanda's answer to transactional Produce) points at ACLs.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use tracing::warn;

use super::blocking;
use crate::broker::Broker;

pub async fn handle(
    broker: &Arc<Broker>,
    _version: i16,
    request: InitProducerIdRequest,
) -> InitProducerIdResponse {
    let response = InitProducerIdResponse::default()
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    if request.transactional_id.is_some() {
        return response.with_error_code(ResponseError::UnsupportedVersion.code());
    }
    let allocator = broker.clone();
    match blocking(move || allocator.allocate_producer_id()).await {
        Ok(Ok(producer_id)) => response
            .with_error_code(0)
            .with_producer_id(ProducerId(producer_id))
            .with_producer_epoch(0),
        Ok(Err(e)) => {
            warn!("reserving producer ids: {e}");
            response.with_error_code(ResponseError::KafkaStorageError.code())
        }
        Err(error) => response.with_error_code(error.code()),
    }
}
