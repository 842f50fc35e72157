//! DescribeConfigs (key 32): the settings of a topic, of this broker, or of
//! its loggers, each with where its value comes from.
//!
//! Copies Kafka's behaviour:
//! - TOPIC (2): every topic setting; an override is `DYNAMIC_TOPIC_CONFIG`,
//!   otherwise the value is the broker setting it falls back to, reported as
//!   `STATIC_BROKER_CONFIG` when the operator set it and `DEFAULT_CONFIG`
//!   when it is the built-in default. Topic settings are not read-only
//!   (AlterConfigs changes them). An invalid name is INVALID_TOPIC_EXCEPTION,
//!   an unknown topic UNKNOWN_TOPIC_OR_PARTITION.
//! - BROKER (4): our node id names this broker's settings, all read-only
//!   (static: nothing changes them at runtime). The empty name names the
//!   cluster-wide dynamic defaults, of which Takhin has none, so the list is
//!   empty. Another id is INVALID_REQUEST, with Kafka's message.
//! - BROKER_LOGGER (8): answered with an empty list (log levels are set with
//!   `log.level` at start-up, not per logger).
//! - Synonyms (v1+, when asked) list the places a value could come from,
//!   most specific first, as Kafka orders them: the topic override, then the
//!   broker setting if the operator set it, then the built-in default.
//! - `configuration_keys` restricts the answer; unknown keys are left out.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;
use crate::config::{BROKER_CONFIGS, BrokerConfig, ConfigType, TOPIC_CONFIGS, broker_config_def};

/// Kafka's `ConfigResource.Type` codes.
pub(crate) const RESOURCE_TOPIC: i8 = 2;
pub(crate) const RESOURCE_BROKER: i8 = 4;
pub(crate) const RESOURCE_BROKER_LOGGER: i8 = 8;

/// Kafka's `ConfigSource` codes (DescribeConfigs v1+, CreateTopics v5+).
pub(crate) const DYNAMIC_TOPIC_CONFIG: i8 = 1;
pub(crate) const STATIC_BROKER_CONFIG: i8 = 4;
pub(crate) const DEFAULT_CONFIG: i8 = 5;

/// One place a config value can come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Synonym {
    pub name: &'static str,
    pub value: String,
    pub source: i8,
}

/// One setting as DescribeConfigs and CreateTopics report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConfigEntry {
    pub name: &'static str,
    pub value: String,
    pub source: i8,
    pub read_only: bool,
    pub config_type: ConfigType,
    pub doc: &'static str,
    /// Most specific first; the first one is where `value` comes from.
    pub synonyms: Vec<Synonym>,
}

/// Where a broker setting's value comes from, most specific first.
fn broker_synonyms(broker: &BrokerConfig, name: &'static str) -> Vec<Synonym> {
    let mut synonyms = Vec::with_capacity(2);
    if !broker.is_default(name) {
        synonyms.push(Synonym {
            name,
            value: broker.value(name).to_string(),
            source: STATIC_BROKER_CONFIG,
        });
    }
    if let Some(def) = broker_config_def(name) {
        synonyms.push(Synonym {
            name,
            value: def.default.to_string(),
            source: DEFAULT_CONFIG,
        });
    }
    synonyms
}

/// Every topic setting, resolved against the topic's overrides and the
/// broker's settings.
pub(crate) fn topic_entries(
    broker: &BrokerConfig,
    overrides: &BTreeMap<String, String>,
) -> Vec<ConfigEntry> {
    let mut entries = Vec::with_capacity(TOPIC_CONFIGS.len());
    for def in TOPIC_CONFIGS {
        let mut synonyms = Vec::with_capacity(3);
        if let Some(value) = overrides.get(def.name) {
            synonyms.push(Synonym {
                name: def.name,
                value: value.clone(),
                source: DYNAMIC_TOPIC_CONFIG,
            });
        }
        synonyms.extend(broker_synonyms(broker, def.broker_name));
        let (value, source) = match synonyms.first() {
            Some(first) => (first.value.clone(), first.source),
            // A topic setting whose broker setting is missing from the table
            // is a programming error; report the broker's (empty) value.
            None => (broker.value(def.broker_name).to_string(), DEFAULT_CONFIG),
        };
        entries.push(ConfigEntry {
            name: def.name,
            value,
            source,
            read_only: false,
            config_type: def.config_type,
            doc: def.doc,
            synonyms,
        });
    }
    entries
}

/// Every broker setting; all are static, hence read-only.
pub(crate) fn broker_entries(broker: &BrokerConfig) -> Vec<ConfigEntry> {
    BROKER_CONFIGS
        .iter()
        .map(|def| ConfigEntry {
            name: def.name,
            value: broker.value(def.name).to_string(),
            source: if broker.is_default(def.name) {
                DEFAULT_CONFIG
            } else {
                STATIC_BROKER_CONFIG
            },
            read_only: true,
            config_type: def.config_type,
            doc: def.doc,
            synonyms: broker_synonyms(broker, def.name),
        })
        .collect()
}

/// Checks the resource name of a BROKER resource: empty (cluster-wide
/// defaults) when `allow_empty`, else our node id. Returns whether it names
/// the cluster-wide defaults. Kafka's messages.
pub(crate) fn check_broker_name(
    node_id: i32,
    resource_name: &str,
    allow_empty: bool,
) -> Result<bool, String> {
    if resource_name.is_empty() {
        return if allow_empty {
            Ok(true)
        } else {
            Err("Broker id must not be empty".to_string())
        };
    }
    let Ok(id) = resource_name.parse::<i32>() else {
        return Err(format!(
            "Broker id must be an integer, but it is: {resource_name}"
        ));
    };
    if id != node_id {
        let expected = if allow_empty {
            format!("{node_id} or empty string")
        } else {
            node_id.to_string()
        };
        return Err(format!(
            "Unexpected broker id, expected {expected}, but received {resource_name}"
        ));
    }
    Ok(false)
}

fn to_result(
    entry: ConfigEntry,
    include_synonyms: bool,
    include_documentation: bool,
) -> DescribeConfigsResourceResult {
    let synonyms = if include_synonyms {
        entry
            .synonyms
            .into_iter()
            .map(|s| {
                DescribeConfigsSynonym::default()
                    .with_name(StrBytes::from_static_str(s.name))
                    .with_value(Some(StrBytes::from_string(s.value)))
                    .with_source(s.source)
            })
            .collect()
    } else {
        Vec::new()
    };
    DescribeConfigsResourceResult::default()
        .with_name(StrBytes::from_static_str(entry.name))
        .with_value(Some(StrBytes::from_string(entry.value)))
        .with_read_only(entry.read_only)
        .with_config_source(entry.source)
        .with_is_sensitive(false)
        .with_synonyms(synonyms)
        .with_config_type(entry.config_type.code())
        .with_documentation(include_documentation.then(|| StrBytes::from_static_str(entry.doc)))
}

/// The entries of one resource, or the Kafka error for it.
fn entries_of(
    broker: &Broker,
    resource_type: i8,
    resource_name: &str,
) -> Result<Vec<ConfigEntry>, (ResponseError, String)> {
    match resource_type {
        RESOURCE_TOPIC => {
            if let Err(reason) = crate::metadata::validate_topic_name(resource_name) {
                return Err((ResponseError::InvalidTopicException, reason));
            }
            match broker.topic_overrides(resource_name) {
                Some(overrides) => Ok(topic_entries(&broker.config, &overrides)),
                None => Err((
                    ResponseError::UnknownTopicOrPartition,
                    format!("Topic {resource_name} does not exist"),
                )),
            }
        }
        RESOURCE_BROKER => {
            match check_broker_name(broker.config.node_id, resource_name, true) {
                // Takhin has no cluster-wide dynamic defaults.
                Ok(true) => Ok(Vec::new()),
                Ok(false) => Ok(broker_entries(&broker.config)),
                Err(message) => Err((ResponseError::InvalidRequest, message)),
            }
        }
        RESOURCE_BROKER_LOGGER => {
            match check_broker_name(broker.config.node_id, resource_name, false) {
                Ok(_) => Ok(Vec::new()),
                Err(message) => Err((ResponseError::InvalidRequest, message)),
            }
        }
        other => Err((
            ResponseError::InvalidRequest,
            format!("Unsupported resource type: {other}"),
        )),
    }
}

pub fn handle(
    broker: &Arc<Broker>,
    version: i16,
    request: DescribeConfigsRequest,
) -> DescribeConfigsResponse {
    let include_synonyms = version >= 1 && request.include_synonyms;
    let include_documentation = version >= 3 && request.include_documentation;
    let mut results = Vec::with_capacity(request.resources.len());
    for resource in request.resources {
        let result = DescribeConfigsResult::default()
            .with_resource_type(resource.resource_type)
            .with_resource_name(resource.resource_name.clone());
        let result = match entries_of(broker, resource.resource_type, &resource.resource_name) {
            Ok(entries) => {
                let wanted = resource.configuration_keys.as_ref();
                let configs = entries
                    .into_iter()
                    .filter(|entry| {
                        wanted.is_none_or(|keys| keys.iter().any(|k| k.as_str() == entry.name))
                    })
                    .map(|entry| to_result(entry, include_synonyms, include_documentation))
                    .collect();
                result
                    .with_error_code(0)
                    .with_error_message(None)
                    .with_configs(configs)
            }
            Err((error, message)) => result
                .with_error_code(error.code())
                .with_error_message(Some(StrBytes::from_string(message))),
        };
        results.push(result);
    }
    DescribeConfigsResponse::default().with_results(results)
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;

    use super::*;

    fn broker_config(pairs: &[(&str, &str)]) -> BrokerConfig {
        BrokerConfig::from_map(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
        .unwrap()
    }

    fn entry<'a>(entries: &'a [ConfigEntry], name: &str) -> &'a ConfigEntry {
        entries.iter().find(|e| e.name == name).unwrap()
    }

    #[test]
    fn topic_default_comes_from_the_built_in_default() {
        let broker = broker_config(&[]);
        let entries = topic_entries(&broker, &BTreeMap::new());
        assert_eq!(entries.len(), TOPIC_CONFIGS.len());
        let retention = entry(&entries, "retention.ms");
        assert_eq!(retention.value, "604800000");
        assert_eq!(retention.source, DEFAULT_CONFIG);
        assert!(!retention.read_only);
        assert_eq!(
            retention.synonyms,
            vec![Synonym {
                name: "log.retention.ms",
                value: "604800000".into(),
                source: DEFAULT_CONFIG
            }]
        );
    }

    #[test]
    fn topic_falls_back_to_an_operator_set_broker_value() {
        let broker = broker_config(&[("log.retention.ms", "1000")]);
        let entries = topic_entries(&broker, &BTreeMap::new());
        let retention = entry(&entries, "retention.ms");
        assert_eq!(retention.value, "1000");
        assert_eq!(retention.source, STATIC_BROKER_CONFIG);
        let sources: Vec<_> = retention.synonyms.iter().map(|s| s.source).collect();
        assert_eq!(sources, vec![STATIC_BROKER_CONFIG, DEFAULT_CONFIG]);
    }

    #[test]
    fn topic_override_comes_first() {
        let broker = broker_config(&[("log.retention.ms", "1000")]);
        let overrides = BTreeMap::from([("retention.ms".to_string(), "5".to_string())]);
        let entries = topic_entries(&broker, &overrides);
        let retention = entry(&entries, "retention.ms");
        assert_eq!(retention.value, "5");
        assert_eq!(retention.source, DYNAMIC_TOPIC_CONFIG);
        let synonyms: Vec<_> = retention
            .synonyms
            .iter()
            .map(|s| (s.name, s.value.as_str(), s.source))
            .collect();
        assert_eq!(
            synonyms,
            vec![
                ("retention.ms", "5", DYNAMIC_TOPIC_CONFIG),
                ("log.retention.ms", "1000", STATIC_BROKER_CONFIG),
                ("log.retention.ms", "604800000", DEFAULT_CONFIG),
            ]
        );
        // Other settings are untouched by the override.
        assert_eq!(entry(&entries, "segment.bytes").source, DEFAULT_CONFIG);
    }

    #[test]
    fn broker_entries_are_read_only_with_their_source() {
        let broker = broker_config(&[("num.partitions", "3")]);
        let entries = broker_entries(&broker);
        let partitions = entry(&entries, "num.partitions");
        assert!(partitions.read_only);
        assert_eq!(partitions.value, "3");
        assert_eq!(partitions.source, STATIC_BROKER_CONFIG);
        let message_max = entry(&entries, "message.max.bytes");
        assert_eq!(message_max.source, DEFAULT_CONFIG);
    }

    #[test]
    fn broker_names_follow_kafka() {
        assert_eq!(check_broker_name(1, "", true), Ok(true));
        assert_eq!(check_broker_name(1, "1", true), Ok(false));
        assert_eq!(
            check_broker_name(1, "2", true).unwrap_err(),
            "Unexpected broker id, expected 1 or empty string, but received 2"
        );
        assert!(
            check_broker_name(1, "x", true)
                .unwrap_err()
                .contains("must be an integer")
        );
        assert!(check_broker_name(1, "", false).is_err());
    }

    #[test]
    fn describes_topics_and_the_broker() {
        let dir = tempfile::tempdir().unwrap();
        let broker = testing::open_broker(dir.path());
        let overrides = BTreeMap::from([("retention.ms".to_string(), "5".to_string())]);
        broker.create_topic("t", 1, 1, overrides).unwrap();
        let resource = |resource_type: i8, name: &str, keys: Option<Vec<&'static str>>| {
            DescribeConfigsResource::default()
                .with_resource_type(resource_type)
                .with_resource_name(StrBytes::from_string(name.to_string()))
                .with_configuration_keys(
                    keys.map(|keys| keys.into_iter().map(StrBytes::from_static_str).collect()),
                )
        };
        let request = DescribeConfigsRequest::default()
            .with_include_synonyms(true)
            .with_include_documentation(true)
            .with_resources(vec![
                resource(RESOURCE_TOPIC, "t", None),
                resource(RESOURCE_TOPIC, "t", Some(vec!["retention.ms", "no.such"])),
                resource(RESOURCE_TOPIC, "missing", None),
                resource(RESOURCE_BROKER, "1", None),
                resource(RESOURCE_BROKER, "", None),
                resource(RESOURCE_BROKER, "7", None),
                resource(RESOURCE_BROKER_LOGGER, "1", None),
                resource(3, "x", None),
            ]);
        let response = handle(&broker, 4, request);
        testing::assert_encodes(&response, 1..=4);
        let r = &response.results;
        assert_eq!(r[0].error_code, 0);
        assert_eq!(r[0].error_message, None);
        assert_eq!(r[0].configs.len(), TOPIC_CONFIGS.len());
        assert_eq!(r[1].configs.len(), 1);
        let retention = &r[1].configs[0];
        assert_eq!(retention.value.as_deref(), Some("5"));
        assert_eq!(retention.config_source, DYNAMIC_TOPIC_CONFIG);
        assert_eq!(retention.synonyms.len(), 2);
        assert_eq!(retention.config_type, ConfigType::Long.code());
        assert!(retention.documentation.is_some());
        assert_eq!(
            r[2].error_code,
            ResponseError::UnknownTopicOrPartition.code()
        );
        assert_eq!(r[3].configs.len(), BROKER_CONFIGS.len());
        assert!(r[3].configs.iter().all(|c| c.read_only));
        assert_eq!((r[4].error_code, r[4].configs.len()), (0, 0));
        assert_eq!(r[5].error_code, ResponseError::InvalidRequest.code());
        assert_eq!((r[6].error_code, r[6].configs.len()), (0, 0));
        assert_eq!(r[7].error_code, ResponseError::InvalidRequest.code());
    }
}

/// Fixtures for the handler tests of the admin APIs: a broker on a temporary
/// data directory, records produced through the Produce handler, and a check
/// that a response encodes at every version.
// Belongs in a shared `handlers::test_support`; kept here until mod.rs has one.
#[cfg(test)]
pub(crate) mod testing {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use bytes::BytesMut;
    use kafka_protocol::messages::{ProduceRequest, TopicName, produce_request};
    use kafka_protocol::protocol::{Encodable, StrBytes};
    use takhin_storage::{BatchBuilderParams, Compression, Record, TimestampType};

    use crate::broker::Broker;
    use crate::config::BrokerConfig;

    pub(crate) fn open_broker(dir: &std::path::Path) -> Arc<Broker> {
        let values = BTreeMap::from([("data.dir".to_string(), dir.display().to_string())]);
        Arc::new(Broker::open(BrokerConfig::from_map(values).unwrap()).unwrap())
    }

    pub(crate) fn topic_name(name: &str) -> TopicName {
        TopicName(StrBytes::from_string(name.to_string()))
    }

    /// Produces `count` records with timestamps `first_timestamp_ms..` to
    /// partition 0 of `topic` and waits for the acknowledgement.
    pub(crate) async fn produce(
        broker: &Arc<Broker>,
        topic: &str,
        count: usize,
        first_timestamp_ms: i64,
    ) {
        let records: Vec<Record> = (0..count)
            .map(|i| Record {
                offset: i as i64,
                timestamp: first_timestamp_ms + i as i64,
                key: None,
                value: Some(bytes::Bytes::from(format!("value-{i}"))),
                headers: Vec::new(),
            })
            .collect();
        let params = BatchBuilderParams {
            base_offset: 0,
            compression: Compression::None,
            timestamp_type: TimestampType::CreateTime,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            is_transactional: false,
            partition_leader_epoch: -1,
        };
        let batch = takhin_storage::encode_batch(&params, &records)
            .unwrap()
            .freeze();
        let request = ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(10_000)
            .with_topic_data(vec![
                produce_request::TopicProduceData::default()
                    .with_name(topic_name(topic))
                    .with_partition_data(vec![
                        produce_request::PartitionProduceData::default()
                            .with_index(0)
                            .with_records(Some(batch)),
                    ]),
            ]);
        let response = super::super::produce::handle(broker, 9, request, None)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(response.responses[0].partition_responses[0].error_code, 0);
    }

    /// Panics unless `response` encodes at every version in `versions`.
    pub(crate) fn assert_encodes<T: Encodable>(
        response: &T,
        versions: std::ops::RangeInclusive<i16>,
    ) {
        for version in versions {
            let mut buf = BytesMut::new();
            if let Err(e) = response.encode(&mut buf, version) {
                panic!("does not encode at v{version}: {e}");
            }
        }
    }
}
