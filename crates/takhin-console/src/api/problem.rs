//! Errors as RFC 9457 problem details (`application/problem+json`).
//!
//! Kafka error codes map to HTTP statuses by what the caller can do about
//! them: a missing topic or group is 404, an existing one 409, a value the
//! cluster refuses 422, a refused permission 403, an unreachable or failing
//! cluster 502/504. The Kafka error name travels in `kafka_error`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::client::ClientError;

/// An error answer: RFC 9457 problem details.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem (`about:blank` for plain HTTP ones).
    #[serde(rename = "type")]
    pub type_uri: String,
    /// A short summary of the kind of problem.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong this time, for a human.
    pub detail: String,
    /// Kafka's name for the error (`TOPIC_ALREADY_EXISTS`), when the cluster
    /// answered with one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kafka_error: Option<String>,
}

impl Problem {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Problem {
        Problem {
            type_uri: "about:blank".to_string(),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail: detail.into(),
            kafka_error: None,
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::BAD_REQUEST, detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::NOT_FOUND, detail)
    }

    pub fn conflict(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::CONFLICT, detail)
    }

    pub fn unprocessable(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::UNPROCESSABLE_ENTITY, detail)
    }

    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

/// The HTTP status for a Kafka error code.
pub fn status_for_kafka_code(code: i16) -> StatusCode {
    match code {
        // UNKNOWN_TOPIC_OR_PARTITION, GROUP_ID_NOT_FOUND, UNKNOWN_TOPIC_ID,
        // RESOURCE_NOT_FOUND
        3 | 69 | 100 | 91 => StatusCode::NOT_FOUND,
        // TOPIC_ALREADY_EXISTS, NON_EMPTY_GROUP, GROUP_SUBSCRIBED_TO_TOPIC,
        // REBALANCE_IN_PROGRESS, COORDINATOR_LOAD_IN_PROGRESS is retriable (503),
        // UNKNOWN_MEMBER_ID on an active group
        36 | 68 | 86 | 27 | 25 => StatusCode::CONFLICT,
        // TOPIC_AUTHORIZATION_FAILED, GROUP_AUTHORIZATION_FAILED,
        // CLUSTER_AUTHORIZATION_FAILED, TRANSACTIONAL_ID_AUTHORIZATION_FAILED
        29..=31 | 53 => StatusCode::FORBIDDEN,
        // OFFSET_OUT_OF_RANGE, CORRUPT_MESSAGE, MESSAGE_TOO_LARGE,
        // INVALID_TOPIC_EXCEPTION, RECORD_LIST_TOO_LARGE, INVALID_TIMESTAMP,
        // INVALID_PARTITIONS, INVALID_REPLICATION_FACTOR,
        // INVALID_REPLICA_ASSIGNMENT, INVALID_CONFIG, INVALID_REQUEST,
        // POLICY_VIOLATION, INVALID_RECORD, INVALID_PRODUCE_... etc.
        1 | 2 | 10 | 17 | 18 | 32 | 37..=40 | 42 | 44 | 87 => StatusCode::UNPROCESSABLE_ENTITY,
        // COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE,
        // NOT_COORDINATOR, LEADER_NOT_AVAILABLE, NOT_LEADER_OR_FOLLOWER,
        // NOT_CONTROLLER, REQUEST_TIMED_OUT
        14..=16 | 5 | 6 | 41 => StatusCode::SERVICE_UNAVAILABLE,
        7 => StatusCode::GATEWAY_TIMEOUT,
        // UNSUPPORTED_VERSION: the cluster lacks what the console needs.
        35 => StatusCode::NOT_IMPLEMENTED,
        _ => StatusCode::BAD_GATEWAY,
    }
}

impl From<ClientError> for Problem {
    fn from(error: ClientError) -> Problem {
        let detail = error.to_string();
        match error {
            ClientError::Kafka { code, name, .. } => {
                let status = status_for_kafka_code(code);
                Problem {
                    type_uri: format!(
                        "https://kafka.apache.org/protocol#protocol_error_codes/{name}"
                    ),
                    title: name.clone(),
                    status: status.as_u16(),
                    detail,
                    kafka_error: Some(name),
                }
            }
            ClientError::NotFound(_) => Problem::not_found(detail),
            ClientError::Timeout(_) => Problem::new(StatusCode::GATEWAY_TIMEOUT, detail),
            ClientError::UnsupportedApi(_) => Problem::new(StatusCode::NOT_IMPLEMENTED, detail),
            ClientError::Encode(_) => Problem::unprocessable(detail),
            _ => Problem::new(StatusCode::BAD_GATEWAY, detail),
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut response = (status, Json(self)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        response
    }
}

impl From<axum::extract::rejection::JsonRejection> for Problem {
    fn from(rejection: axum::extract::rejection::JsonRejection) -> Problem {
        use axum::extract::rejection::JsonRejection;
        match rejection {
            JsonRejection::JsonDataError(error) => Problem::unprocessable(error.body_text()),
            JsonRejection::MissingJsonContentType(error) => {
                Problem::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, error.body_text())
            }
            other => Problem::bad_request(other.body_text()),
        }
    }
}

impl From<axum::extract::rejection::QueryRejection> for Problem {
    fn from(rejection: axum::extract::rejection::QueryRejection) -> Problem {
        Problem::bad_request(rejection.body_text())
    }
}

impl From<axum::extract::rejection::PathRejection> for Problem {
    fn from(rejection: axum::extract::rejection::PathRejection) -> Problem {
        Problem::bad_request(rejection.body_text())
    }
}

/// The result of a handler.
pub type ApiResult<T> = Result<T, Problem>;
