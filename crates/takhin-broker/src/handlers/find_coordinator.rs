//! FindCoordinator (key 10): which broker coordinates a group (or a
//! transactional id). On a single node it is always this broker.
//!
//! v0-v3 ask for one key; v4+ batch several in `coordinator_keys` and get one
//! `Coordinator` entry each. Transactions are not implemented yet, so a
//! transactional key is answered UNSUPPORTED_VERSION (as InitProducerId does
//! for a transactional id): clients fail at once with a clear message instead
//! of retrying until a timeout. Share groups (key type 2) likewise.
//!
//! librdkafka also reads this API's presence as a feature flag: it sends LZ4
//! batches uncompressed unless FindCoordinator v0 is advertised.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;

const KEY_TYPE_GROUP: i8 = 0;

fn coordinator_for(broker: &Broker, key: StrBytes, key_type: i8) -> Coordinator {
    let coordinator = Coordinator::default().with_key(key);
    if key_type != KEY_TYPE_GROUP {
        return coordinator
            .with_node_id(BrokerId(-1))
            .with_host(StrBytes::default())
            .with_port(-1)
            .with_error_code(ResponseError::UnsupportedVersion.code())
            .with_error_message(Some(StrBytes::from_static_str(
                "this broker coordinates consumer groups only; transactions and share groups are not supported yet",
            )));
    }
    Coordinator::default()
        .with_key(coordinator.key)
        .with_node_id(BrokerId(broker.config.node_id))
        .with_host(StrBytes::from_string(broker.config.advertised_host.clone()))
        .with_port(i32::from(broker.config.advertised_port))
}

pub fn handle(
    broker: &Broker,
    version: i16,
    request: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    if version >= 4 {
        let coordinators = request
            .coordinator_keys
            .into_iter()
            .map(|key| coordinator_for(broker, key, request.key_type))
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    let found = coordinator_for(broker, request.key, request.key_type);
    FindCoordinatorResponse::default()
        .with_error_code(found.error_code)
        .with_error_message(found.error_message)
        .with_node_id(found.node_id)
        .with_host(found.host)
        .with_port(found.port)
}
