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

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::delete_topics_request::DeleteTopicState;

    use crate::handlers::describe_configs::testing::{assert_encodes, open_broker, topic_name};

    use super::*;

    #[tokio::test]
    async fn deletes_by_name_and_by_id() {
        let dir = tempfile::tempdir().unwrap();
        let broker = open_broker(dir.path());
        broker.create_topic("a", 1, 1, Default::default()).unwrap();
        let b = broker.create_topic("b", 1, 1, Default::default()).unwrap();
        let by_name = DeleteTopicsRequest::default()
            .with_topic_names(vec![topic_name("a"), topic_name("zz")]);
        let response = handle(&broker, 5, by_name).await;
        assert_encodes(&response, 1..=5);
        let codes: Vec<i16> = response.responses.iter().map(|r| r.error_code).collect();
        assert_eq!(
            codes,
            vec![0, ResponseError::UnknownTopicOrPartition.code()]
        );
        assert!(broker.topic("a").is_none());
        let by_id = DeleteTopicsRequest::default().with_topics(vec![
            DeleteTopicState::default()
                .with_name(None)
                .with_topic_id(b.topic_id),
            DeleteTopicState::default()
                .with_name(None)
                .with_topic_id(Uuid::new_v4()),
            DeleteTopicState::default()
                .with_name(Some(topic_name("b")))
                .with_topic_id(b.topic_id),
        ]);
        let response = handle(&broker, 6, by_id).await;
        assert_encodes(&response, 6..=6);
        let r = &response.responses;
        assert_eq!(
            (r[0].error_code, r[0].name.as_ref().map(|n| n.as_str())),
            (0, Some("b"))
        );
        assert_eq!(r[1].error_code, ResponseError::UnknownTopicId.code());
        assert_eq!(r[2].error_code, ResponseError::InvalidRequest.code());
        assert!(broker.topic("b").is_none());
    }
}
