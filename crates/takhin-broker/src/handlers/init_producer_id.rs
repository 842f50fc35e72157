//! InitProducerId (key 22): hands an idempotent producer its producer id.
//!
//! Without a transactional id (idempotent producers), as in Kafka: a new
//! producer id that was never handed out before, epoch 0, whatever
//! `producer_id`/`producer_epoch` the client sends (KIP-360 epoch bumps of a
//! non-transactional producer also get a fresh id) and ignoring
//! `transaction_timeout_ms`. If the id block cannot be reserved on disk the
//! answer is KAFKA_STORAGE_ERROR, which clients retry.
//!
//! An empty transactional id is INVALID_REQUEST, exactly as Kafka's
//! `TransactionCoordinator.handleInitProducerId` answers it (clients send
//! null, not "", for an idempotent producer).
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
    match request.transactional_id.as_ref().map(|id| id.as_str()) {
        None => {}
        Some("") => return response.with_error_code(ResponseError::InvalidRequest.code()),
        Some(_) => return response.with_error_code(ResponseError::UnsupportedVersion.code()),
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

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::TransactionalId;
    use kafka_protocol::protocol::StrBytes;

    use crate::handlers::describe_configs::testing::{assert_encodes, open_broker};

    use super::*;

    #[tokio::test]
    async fn idempotent_producers_get_fresh_ids() {
        let dir = tempfile::tempdir().unwrap();
        let broker = open_broker(dir.path());
        let idempotent = || InitProducerIdRequest::default().with_transactional_id(None);
        let first = handle(&broker, 4, idempotent()).await;
        let second = handle(&broker, 4, idempotent()).await;
        assert_encodes(&first, 0..=5);
        assert_eq!((first.error_code, first.producer_epoch), (0, 0));
        assert_ne!(first.producer_id, second.producer_id);
        let empty = handle(&broker, 4, InitProducerIdRequest::default()).await;
        assert_eq!(empty.error_code, ResponseError::InvalidRequest.code());
        let transactional = InitProducerIdRequest::default()
            .with_transactional_id(Some(TransactionalId(StrBytes::from_static_str("tx"))));
        let refused = handle(&broker, 4, transactional).await;
        assert_eq!(refused.error_code, ResponseError::UnsupportedVersion.code());
        assert_encodes(&refused, 0..=5);
    }
}
