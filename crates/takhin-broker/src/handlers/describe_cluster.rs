//! DescribeCluster (key 60): the cluster id, the controller and the brokers.
//!
//! On a single node this broker is the whole cluster and its controller.
//! v1 lets a client ask for the controller endpoints (endpoint type 2)
//! instead of the brokers (1); like a Kafka broker, which only answers for
//! brokers, any other type is UNSUPPORTED_ENDPOINT_TYPE.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};
use kafka_protocol::protocol::StrBytes;

use super::metadata::{ALL_CLUSTER_OPERATIONS, OPERATIONS_NOT_REQUESTED};
use crate::broker::Broker;

/// Kafka's `EndpointType.BROKER`.
const ENDPOINT_TYPE_BROKERS: i8 = 1;

pub fn handle(
    broker: &Arc<Broker>,
    version: i16,
    request: DescribeClusterRequest,
) -> DescribeClusterResponse {
    let response = DescribeClusterResponse::default()
        .with_error_message(None)
        .with_cluster_authorized_operations(OPERATIONS_NOT_REQUESTED);
    if version >= 1 && request.endpoint_type != ENDPOINT_TYPE_BROKERS {
        return response
            .with_endpoint_type(request.endpoint_type)
            .with_error_code(ResponseError::UnsupportedEndpointType.code())
            .with_error_message(Some(StrBytes::from_string(format!(
                "The request was sent to an endpoint of type brokers, but we wanted an endpoint of type {}",
                request.endpoint_type
            ))));
    }
    let node = DescribeClusterBroker::default()
        .with_broker_id(BrokerId(broker.config.node_id))
        .with_host(StrBytes::from_string(broker.config.advertised_host.clone()))
        .with_port(i32::from(broker.config.advertised_port))
        .with_rack(None)
        .with_is_fenced(false);
    response
        .with_error_code(0)
        .with_endpoint_type(ENDPOINT_TYPE_BROKERS)
        .with_cluster_id(StrBytes::from_string(broker.cluster_id.clone()))
        .with_controller_id(BrokerId(broker.config.node_id))
        .with_brokers(vec![node])
        .with_cluster_authorized_operations(if request.include_cluster_authorized_operations {
            ALL_CLUSTER_OPERATIONS
        } else {
            OPERATIONS_NOT_REQUESTED
        })
}

#[cfg(test)]
mod tests {
    use crate::handlers::describe_configs::testing::{assert_encodes, open_broker};

    use super::*;

    #[test]
    fn this_broker_is_the_cluster() {
        let dir = tempfile::tempdir().unwrap();
        let broker = open_broker(dir.path());
        let response = handle(&broker, 0, DescribeClusterRequest::default());
        assert_encodes(&response, 0..=2);
        assert_eq!(response.error_code, 0);
        assert_eq!(response.brokers.len(), 1);
        assert_eq!(response.controller_id, BrokerId(broker.config.node_id));
        assert_eq!(
            response.cluster_authorized_operations,
            OPERATIONS_NOT_REQUESTED
        );
        let controllers = DescribeClusterRequest::default().with_endpoint_type(2);
        let response = handle(&broker, 1, controllers);
        assert_encodes(&response, 1..=2);
        assert_eq!(
            response.error_code,
            ResponseError::UnsupportedEndpointType.code()
        );
    }
}
