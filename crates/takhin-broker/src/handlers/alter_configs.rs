//! AlterConfigs (key 33, the legacy API): replace all of a topic's config
//! overrides with the given set, or with `validate_only` check the set.
//!
//! As in Kafka: settings left out of the request lose their override (fall
//! back to the broker's value); a null value, an unknown name or a bad value
//! is INVALID_CONFIG; a name given twice is INVALID_REQUEST; an unknown topic
//! UNKNOWN_TOPIC_OR_PARTITION. Takhin's broker settings are all static, so a
//! BROKER resource that asks for any change is INVALID_REQUEST with Kafka's
//! "Cannot update these configs dynamically" message, after Kafka's checks
//! of the broker id; BROKER_LOGGER is INVALID_REQUEST, as Kafka refuses it
//! on this legacy API. Shared with IncrementalAlterConfigs: the broker
//! resource answer and the writing of overrides.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse};
use kafka_protocol::protocol::StrBytes;

use super::describe_configs::{
    RESOURCE_BROKER, RESOURCE_BROKER_LOGGER, RESOURCE_TOPIC, check_broker_name,
};
use super::{blocking, topic_error};
use crate::broker::Broker;
use crate::config::{ConfigError, validate_topic_config};

pub(crate) type Failure = (ResponseError, String);

/// The Kafka error for a topic setting that does not validate.
pub(crate) fn config_error(error: ConfigError) -> Failure {
    let message = match &error {
        ConfigError::Unknown(name) => format!("Unknown topic config name: {name}"),
        ConfigError::Invalid { .. } => error.to_string(),
    };
    (ResponseError::InvalidConfig, message)
}

/// Kafka refuses a request naming one config twice.
pub(crate) fn check_no_duplicates<'a>(names: impl Iterator<Item = &'a str>) -> Result<(), Failure> {
    let mut seen = HashSet::new();
    for name in names {
        if !seen.insert(name) {
            return Err((
                ResponseError::InvalidRequest,
                "Error due to duplicate config keys".to_string(),
            ));
        }
    }
    Ok(())
}

/// The answer for a BROKER resource: nothing can change at runtime.
pub(crate) fn alter_broker(
    node_id: i32,
    resource_name: &str,
    names: &[&str],
) -> Result<(), Failure> {
    check_broker_name(node_id, resource_name, true)
        .map_err(|m| (ResponseError::InvalidRequest, m))?;
    if names.is_empty() {
        return Ok(());
    }
    Err((
        ResponseError::InvalidRequest,
        format!(
            "Cannot update these configs dynamically: {} (Takhin has no dynamic broker configs yet; \
             set them in the configuration file and restart)",
            names.join(",")
        ),
    ))
}

/// Stores a topic's new overrides (or only validates them).
pub(crate) async fn write_overrides(
    broker: &Arc<Broker>,
    topic: &str,
    overrides: BTreeMap<String, String>,
    validate_only: bool,
) -> Result<(), Failure> {
    let writer = broker.clone();
    let topic = topic.to_string();
    blocking(move || writer.set_topic_overrides(&topic, overrides, validate_only))
        .await
        .map_err(|e| (e, "config change was interrupted".to_string()))?
        .map_err(|e| match e {
            crate::broker::TopicError::InvalidConfig(e) => config_error(e),
            e => topic_error(&e),
        })
}

/// Checks a topic exists, with Kafka's errors.
pub(crate) fn check_topic(broker: &Broker, name: &str) -> Result<(), Failure> {
    crate::metadata::validate_topic_name(name)
        .map_err(|m| (ResponseError::InvalidTopicException, m))?;
    if broker.topic(name).is_none() {
        return Err((
            ResponseError::UnknownTopicOrPartition,
            format!("Topic {name} does not exist"),
        ));
    }
    Ok(())
}

/// The complete new override set of a topic.
fn replacement(configs: &[(&str, Option<&str>)]) -> Result<BTreeMap<String, String>, Failure> {
    check_no_duplicates(configs.iter().map(|(name, _)| *name))?;
    let mut overrides = BTreeMap::new();
    for (name, value) in configs {
        let Some(value) = value else {
            return Err((
                ResponseError::InvalidConfig,
                format!("Null value not supported for topic configs: {name}"),
            ));
        };
        let value = validate_topic_config(name, value).map_err(config_error)?;
        overrides.insert(name.to_string(), value);
    }
    Ok(overrides)
}

pub async fn handle(
    broker: &Arc<Broker>,
    _version: i16,
    request: AlterConfigsRequest,
) -> AlterConfigsResponse {
    let mut responses = Vec::with_capacity(request.resources.len());
    for resource in &request.resources {
        let configs: Vec<(&str, Option<&str>)> = resource
            .configs
            .iter()
            .map(|c| (c.name.as_str(), c.value.as_deref()))
            .collect();
        let name = resource.resource_name.as_str();
        let outcome = match resource.resource_type {
            RESOURCE_TOPIC => {
                match check_topic(broker, name).and_then(|()| replacement(&configs)) {
                    Ok(overrides) => {
                        write_overrides(broker, name, overrides, request.validate_only).await
                    }
                    Err(failure) => Err(failure),
                }
            }
            RESOURCE_BROKER => {
                let names: Vec<&str> = configs.iter().map(|(n, _)| *n).collect();
                alter_broker(broker.config.node_id, name, &names)
            }
            RESOURCE_BROKER_LOGGER => Err((
                ResponseError::InvalidRequest,
                "AlterConfigs is deprecated and does not support the resource type BROKER_LOGGER"
                    .to_string(),
            )),
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
    AlterConfigsResponse::default().with_responses(responses)
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::alter_configs_request::{AlterConfigsResource, AlterableConfig};

    use crate::handlers::describe_configs::testing::{assert_encodes, open_broker};

    use super::*;

    #[test]
    fn the_request_is_the_whole_new_set() {
        let overrides = replacement(&[
            ("retention.ms", Some(" 1000 ")),
            ("cleanup.policy", Some("compact")),
        ])
        .unwrap();
        assert_eq!(overrides.len(), 2);
        assert_eq!(overrides["retention.ms"], "1000");
        assert!(replacement(&[]).unwrap().is_empty());
    }

    #[test]
    fn bad_sets_are_refused_like_kafka() {
        let (error, message) = replacement(&[("nope", Some("1"))]).unwrap_err();
        assert_eq!(error, ResponseError::InvalidConfig);
        assert_eq!(message, "Unknown topic config name: nope");
        assert_eq!(
            replacement(&[("retention.ms", None)]).unwrap_err().0,
            ResponseError::InvalidConfig
        );
        assert_eq!(
            replacement(&[("retention.ms", Some("1")), ("retention.ms", Some("2"))])
                .unwrap_err()
                .0,
            ResponseError::InvalidRequest
        );
    }

    #[test]
    fn broker_configs_are_static() {
        assert!(alter_broker(1, "1", &[]).is_ok());
        assert!(alter_broker(1, "", &[]).is_ok());
        let (error, message) = alter_broker(1, "1", &["num.partitions"]).unwrap_err();
        assert_eq!(error, ResponseError::InvalidRequest);
        assert!(message.starts_with("Cannot update these configs dynamically: num.partitions"));
        assert_eq!(
            alter_broker(1, "2", &[]).unwrap_err().0,
            ResponseError::InvalidRequest
        );
    }

    #[tokio::test]
    async fn replaces_every_override() {
        let dir = tempfile::tempdir().unwrap();
        let broker = open_broker(dir.path());
        let overrides = BTreeMap::from([("segment.ms".to_string(), "5000".to_string())]);
        broker.create_topic("t", 1, 1, overrides).unwrap();
        let request = AlterConfigsRequest::default().with_resources(vec![
            AlterConfigsResource::default()
                .with_resource_type(RESOURCE_TOPIC)
                .with_resource_name(StrBytes::from_static_str("t"))
                .with_configs(vec![
                    AlterableConfig::default()
                        .with_name(StrBytes::from_static_str("retention.ms"))
                        .with_value(Some(StrBytes::from_static_str("1000"))),
                ]),
            AlterConfigsResource::default()
                .with_resource_type(RESOURCE_BROKER_LOGGER)
                .with_resource_name(StrBytes::from_static_str("1")),
        ]);
        let response = handle(&broker, 2, request).await;
        assert_encodes(&response, 0..=2);
        assert_eq!(response.responses[0].error_code, 0);
        assert_eq!(
            response.responses[1].error_code,
            ResponseError::InvalidRequest.code()
        );
        let expected = BTreeMap::from([("retention.ms".to_string(), "1000".to_string())]);
        assert_eq!(broker.topic_overrides("t").unwrap(), expected);
    }
}
