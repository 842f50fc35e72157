//! IncrementalAlterConfigs (key 44): change some of a topic's config
//! overrides, leaving the others alone, or with `validate_only` check the
//! change.
//!
//! Operations, as in Kafka (KIP-339): 0 SET the override; 1 DELETE it (fall
//! back to the broker's value; deleting an absent override is fine);
//! 2 APPEND items to, 3 SUBTRACT items from a list setting such as
//! `cleanup.policy`, starting from its current effective value. Kafka's
//! errors: APPEND/SUBTRACT on a non-list setting and unknown names are
//! INVALID_CONFIG; a name given twice in one resource, or an unknown
//! operation, INVALID_REQUEST; a resulting value that does not validate
//! INVALID_CONFIG. The whole resource changes or none of it does. Broker
//! resources are answered as in AlterConfigs (all broker settings are
//! static); BROKER_LOGGER is INVALID_REQUEST: log levels are set at start-up.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};
use kafka_protocol::protocol::StrBytes;

use super::alter_configs::{
    Failure, alter_broker, check_no_duplicates, check_topic, config_error, write_overrides,
};
use super::describe_configs::{
    RESOURCE_BROKER, RESOURCE_BROKER_LOGGER, RESOURCE_TOPIC, check_broker_name,
};
use crate::broker::Broker;
use crate::config::{BrokerConfig, ConfigType, topic_config_def, validate_topic_config};

const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;
const OP_APPEND: i8 = 2;
const OP_SUBTRACT: i8 = 3;

/// One requested change.
#[derive(Debug, Clone, Copy)]
struct Operation<'a> {
    name: &'a str,
    op: i8,
    value: Option<&'a str>,
}

fn list_items(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_string)
        .collect()
}

/// Applies `operations` to a topic's `current` overrides; returns the new
/// override set.
fn apply(
    broker: &BrokerConfig,
    current: &BTreeMap<String, String>,
    operations: &[Operation<'_>],
) -> Result<BTreeMap<String, String>, Failure> {
    check_no_duplicates(operations.iter().map(|o| o.name))?;
    let mut overrides = current.clone();
    for operation in operations {
        let name = operation.name;
        let Some(def) = topic_config_def(name) else {
            return Err((
                ResponseError::InvalidConfig,
                format!("Unknown topic config name: {name}"),
            ));
        };
        let value = operation.value.unwrap_or_default();
        match operation.op {
            OP_SET => {
                let Some(value) = operation.value else {
                    return Err((
                        ResponseError::InvalidConfig,
                        format!("Null value not supported for topic configs: {name}"),
                    ));
                };
                overrides.insert(
                    name.to_string(),
                    validate_topic_config(name, value).map_err(config_error)?,
                );
            }
            OP_DELETE => {
                overrides.remove(name);
            }
            OP_APPEND | OP_SUBTRACT => {
                let verb = if operation.op == OP_APPEND {
                    "append"
                } else {
                    "subtract"
                };
                if def.config_type != ConfigType::List {
                    return Err((
                        ResponseError::InvalidConfig,
                        format!("Config value {verb} is not allowed for config key: {name}"),
                    ));
                }
                let effective = overrides
                    .get(name)
                    .map_or_else(|| broker.value(def.broker_name).to_string(), Clone::clone);
                let mut items = list_items(&effective);
                let changes = list_items(value);
                if operation.op == OP_APPEND {
                    for item in changes {
                        if !items.contains(&item) {
                            items.push(item);
                        }
                    }
                } else {
                    items.retain(|item| !changes.contains(item));
                }
                let joined = items.join(",");
                overrides.insert(
                    name.to_string(),
                    validate_topic_config(name, &joined).map_err(config_error)?,
                );
            }
            other => {
                return Err((
                    ResponseError::InvalidRequest,
                    format!("Unknown config operation {other} for config key: {name}"),
                ));
            }
        }
    }
    Ok(overrides)
}

pub async fn handle(
    broker: &Arc<Broker>,
    _version: i16,
    request: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let mut responses = Vec::with_capacity(request.resources.len());
    for resource in &request.resources {
        let operations: Vec<Operation<'_>> = resource
            .configs
            .iter()
            .map(|c| Operation {
                name: c.name.as_str(),
                op: c.config_operation,
                value: c.value.as_deref(),
            })
            .collect();
        let name = resource.resource_name.as_str();
        let outcome = match resource.resource_type {
            RESOURCE_TOPIC => {
                let planned = check_topic(broker, name).and_then(|()| {
                    let current = broker.topic_overrides(name).unwrap_or_default();
                    apply(&broker.config, &current, &operations)
                });
                match planned {
                    Ok(overrides) => write_overrides(broker, name, overrides, request.validate_only).await,
                    Err(failure) => Err(failure),
                }
            }
            RESOURCE_BROKER => {
                let names: Vec<&str> = operations.iter().map(|o| o.name).collect();
                alter_broker(broker.config.node_id, name, &names)
            }
            RESOURCE_BROKER_LOGGER => check_broker_name(broker.config.node_id, name, false)
                .map_err(|m| (ResponseError::InvalidRequest, m))
                .and_then(|_| {
                    Err((
                        ResponseError::InvalidRequest,
                        "changing log levels at runtime is not supported yet; set log.level and restart"
                            .to_string(),
                    ))
                }),
            other => Err((
                ResponseError::InvalidRequest,
                format!("Unsupported resource type: {other}"),
            )),
        };
        let response = AlterConfigsResourceResponse::default()
            .with_resource_type(resource.resource_type)
            .with_resource_name(resource.resource_name.clone());
        responses.push(match outcome {
            Ok(()) => response.with_error_code(0).with_error_message(None),
            Err((error, message)) => response
                .with_error_code(error.code())
                .with_error_message(Some(StrBytes::from_string(message))),
        });
    }
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::incremental_alter_configs_request::{
        AlterConfigsResource, AlterableConfig,
    };

    use crate::handlers::describe_configs::testing::{assert_encodes, open_broker};

    use super::*;

    fn broker() -> BrokerConfig {
        BrokerConfig::from_map(BTreeMap::new()).unwrap()
    }

    fn op<'a>(name: &'a str, op: i8, value: Option<&'a str>) -> Operation<'a> {
        Operation { name, op, value }
    }

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn set_and_delete_touch_only_their_key() {
        let current = map(&[("retention.ms", "1000"), ("segment.ms", "5000")]);
        let next = apply(
            &broker(),
            &current,
            &[
                op("retention.ms", OP_SET, Some("2000")),
                op("segment.ms", OP_DELETE, None),
            ],
        )
        .unwrap();
        assert_eq!(next, map(&[("retention.ms", "2000")]));
        // Deleting an override that is not there is fine.
        assert_eq!(
            apply(&broker(), &next, &[op("flush.ms", OP_DELETE, None)]).unwrap(),
            next
        );
    }

    #[test]
    fn append_and_subtract_start_from_the_effective_value() {
        let appended = apply(
            &broker(),
            &BTreeMap::new(),
            &[op("cleanup.policy", OP_APPEND, Some("compact"))],
        )
        .unwrap();
        assert_eq!(appended, map(&[("cleanup.policy", "delete,compact")]));
        let again = apply(
            &broker(),
            &appended,
            &[op("cleanup.policy", OP_APPEND, Some("compact"))],
        )
        .unwrap();
        assert_eq!(again, appended);
        let subtracted = apply(
            &broker(),
            &appended,
            &[op("cleanup.policy", OP_SUBTRACT, Some("delete"))],
        )
        .unwrap();
        assert_eq!(subtracted, map(&[("cleanup.policy", "compact")]));
    }

    #[test]
    fn kafka_errors() {
        let none = BTreeMap::new();
        let (error, message) = apply(
            &broker(),
            &none,
            &[op("retention.ms", OP_APPEND, Some("1"))],
        )
        .unwrap_err();
        assert_eq!(error, ResponseError::InvalidConfig);
        assert_eq!(
            message,
            "Config value append is not allowed for config key: retention.ms"
        );
        assert_eq!(
            apply(&broker(), &none, &[op("bogus", OP_SET, Some("1"))])
                .unwrap_err()
                .0,
            ResponseError::InvalidConfig
        );
        assert_eq!(
            apply(
                &broker(),
                &none,
                &[op("retention.ms", OP_SET, Some("soon"))]
            )
            .unwrap_err()
            .0,
            ResponseError::InvalidConfig
        );
        assert_eq!(
            apply(&broker(), &none, &[op("retention.ms", 9, Some("1"))])
                .unwrap_err()
                .0,
            ResponseError::InvalidRequest
        );
        assert_eq!(
            apply(
                &broker(),
                &none,
                &[
                    op("retention.ms", OP_SET, Some("1")),
                    op("retention.ms", OP_DELETE, None)
                ]
            )
            .unwrap_err()
            .0,
            ResponseError::InvalidRequest
        );
        // Subtracting the last policy leaves an empty list, which does not validate.
        let compact = map(&[("cleanup.policy", "compact")]);
        assert_eq!(
            apply(
                &broker(),
                &compact,
                &[op("cleanup.policy", OP_SUBTRACT, Some("compact"))]
            )
            .unwrap_err()
            .0,
            ResponseError::InvalidConfig
        );
    }

    #[tokio::test]
    async fn changes_only_the_named_overrides() {
        let dir = tempfile::tempdir().unwrap();
        let broker = open_broker(dir.path());
        let overrides = BTreeMap::from([("segment.ms".to_string(), "5000".to_string())]);
        broker.create_topic("t", 1, 1, overrides).unwrap();
        let config = |name: &'static str, op: i8, value: Option<&'static str>| {
            AlterableConfig::default()
                .with_name(StrBytes::from_static_str(name))
                .with_config_operation(op)
                .with_value(value.map(StrBytes::from_static_str))
        };
        let resource = |resource_type: i8, name: &'static str, configs| {
            AlterConfigsResource::default()
                .with_resource_type(resource_type)
                .with_resource_name(StrBytes::from_static_str(name))
                .with_configs(configs)
        };
        let request = |validate_only| {
            IncrementalAlterConfigsRequest::default()
                .with_validate_only(validate_only)
                .with_resources(vec![
                    resource(
                        RESOURCE_TOPIC,
                        "t",
                        vec![
                            config("retention.ms", OP_SET, Some("1000")),
                            config("cleanup.policy", OP_APPEND, Some("compact")),
                        ],
                    ),
                    resource(RESOURCE_TOPIC, "missing", vec![]),
                    resource(
                        RESOURCE_BROKER,
                        "1",
                        vec![config("num.partitions", OP_SET, Some("3"))],
                    ),
                ])
        };
        let checked = handle(&broker, 1, request(true)).await;
        assert_eq!(checked.responses[0].error_code, 0);
        assert_eq!(broker.topic_overrides("t").unwrap().len(), 1);
        let response = handle(&broker, 1, request(false)).await;
        assert_encodes(&response, 0..=1);
        let codes: Vec<i16> = response.responses.iter().map(|r| r.error_code).collect();
        assert_eq!(
            codes,
            vec![
                0,
                ResponseError::UnknownTopicOrPartition.code(),
                ResponseError::InvalidRequest.code()
            ]
        );
        assert_eq!(
            broker.topic_overrides("t").unwrap(),
            map(&[
                ("cleanup.policy", "delete,compact"),
                ("retention.ms", "1000"),
                ("segment.ms", "5000")
            ])
        );
        assert_eq!(broker.topic("t").unwrap().config().retention_ms, 1000);
    }
}
