//! DeleteTopics (key 20): delete topics and their data.
//!
//! v1-v5 name topics in `topic_names`; v6 in `topics`, each by name or by
//! id. As in Kafka: an unknown name is UNKNOWN_TOPIC_OR_PARTITION, an
//! unknown id UNKNOWN_TOPIC_ID, and an entry giving both a name and an id
//! (or neither) INVALID_REQUEST. The response names each topic and its id;
//! error messages are carried from v5.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::{blocking, topic_error};
use crate::broker::Broker;

/// Resolves a v6 entry to the topic name to delete.
fn resolve(
    broker: &Broker,
    name: Option<&TopicName>,
    topic_id: Uuid,
) -> Result<(TopicName, Uuid), (ResponseError, String)> {
    match (name, topic_id.is_nil()) {
        (Some(_), false) => Err((
            ResponseError::InvalidRequest,
            "You may not specify both topic name and topic id.".to_string(),
        )),
        (None, true) => Err((
            ResponseError::InvalidRequest,
            "Neither topic name nor id were specified.".to_string(),
        )),
        (Some(name), true) => Ok((name.clone(), Uuid::nil())),
        (None, false) => match broker.topic_by_id(&topic_id) {
            Some(topic) => Ok((
                TopicName(StrBytes::from_string(topic.name.to_string())),
                topic_id,
            )),
            None => Err((
                ResponseError::UnknownTopicId,
                format!("Topic id {topic_id} does not exist"),
            )),
        },
    }
}

async fn delete(broker: &Arc<Broker>, name: &TopicName) -> Result<Uuid, (ResponseError, String)> {
    let deleter = broker.clone();
    let name = name.to_string();
    blocking(move || deleter.delete_topic(&name))
        .await
        .map_err(|e| (e, "topic deletion was interrupted".to_string()))?
        .map_err(|e| topic_error(&e))
}

pub async fn handle(
    broker: &Arc<Broker>,
    version: i16,
    request: DeleteTopicsRequest,
) -> DeleteTopicsResponse {
    let wanted: Vec<(Option<TopicName>, Uuid)> = if version >= 6 {
        request
            .topics
            .into_iter()
            .map(|t| (t.name, t.topic_id))
            .collect()
    } else {
        request
            .topic_names
            .into_iter()
            .map(|name| (Some(name), Uuid::nil()))
            .collect()
    };
    let mut responses = Vec::with_capacity(wanted.len());
    for (name, topic_id) in wanted {
        let result = DeletableTopicResult::default()
            .with_name(name.clone())
            .with_topic_id(topic_id);
        let outcome = match resolve(broker, name.as_ref(), topic_id) {
            Ok((name, _)) => delete(broker, &name).await.map(|id| (name, id)),
            Err(error) => Err(error),
        };
        let result = match outcome {
            Ok((name, deleted_id)) => result
                .with_name(Some(name))
                .with_topic_id(deleted_id)
                .with_error_code(0)
                .with_error_message(None),
            Err((error, message)) => result
                .with_error_code(error.code())
                .with_error_message(Some(StrBytes::from_string(message))),
        };
        responses.push(result);
    }
    DeleteTopicsResponse::default().with_responses(responses)
}
