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
            // Syntax errors are 400, a body over the limit 413.
            other => Problem::new(other.status(), other.body_text()),
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

/// Makes every operation's error answers what the server really sends:
/// `application/problem+json` bodies, and the statuses any operation can
/// answer whatever its handler says (bad input, authentication, an
/// unreachable cluster). Called once on the merged OpenAPI document, so the
/// handlers document only the errors particular to them.
pub fn document_errors(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::path::Operation;
    for (path, item) in doc.paths.paths.iter_mut() {
        let operations: [(bool, &mut Option<Operation>); 5] = [
            (false, &mut item.get),
            (true, &mut item.post),
            (true, &mut item.put),
            (true, &mut item.patch),
            (true, &mut item.delete),
        ];
        for (mutating, operation) in operations {
            if let Some(operation) = operation {
                document_operation_errors(path, mutating, operation);
            }
        }
    }
}

fn document_operation_errors(
    path: &str,
    mutating: bool,
    operation: &mut utoipa::openapi::path::Operation,
) {
    use utoipa::openapi::RefOr;
    const PROBLEM_JSON: &str = "application/problem+json";
    for (status, response) in operation.responses.responses.iter_mut() {
        if !(status.starts_with('4') || status.starts_with('5')) {
            continue;
        }
        if let RefOr::T(response) = response
            && let Some(content) = response.content.shift_remove("application/json")
        {
            response.content.insert(PROBLEM_JSON.to_string(), content);
        }
    }
    let has_body = operation.request_body.is_some();
    let scoped = path.contains("{cluster}");
    // Operations anyone may call (login) list only the empty requirement.
    let public = operation.security.as_ref().is_some_and(|requirements| {
        requirements
            .iter()
            .all(|r| *r == utoipa::openapi::security::SecurityRequirement::default())
    });
    let mut common: Vec<(&str, &str)> = vec![(
        "400",
        "The request is malformed: a bad path, query or body.",
    )];
    if !public {
        common.push((
            "401",
            "Authentication is enabled and the request has no valid session or API key.",
        ));
    }
    if mutating && !public {
        common.push((
            "403",
            "The caller's role may not change anything, or the cluster refused the operation.",
        ));
    }
    if path.contains('{') {
        common.push((
            "404",
            "The cluster (or the resource named in the path) does not exist.",
        ));
    }
    if has_body {
        common.push(("415", "The body is not `application/json`."));
        common.push((
            "422",
            "The body is valid JSON of the wrong shape, or a value is refused.",
        ));
    }
    if scoped {
        common.push((
            "502",
            "The cluster cannot be reached or answered with an error.",
        ));
        common.push((
            "503",
            "The cluster is not ready (no leader, coordinator loading, console starting).",
        ));
        common.push(("504", "The cluster did not answer in time."));
    }
    for (status, description) in common {
        if operation.responses.responses.contains_key(status) {
            continue;
        }
        let response = utoipa::openapi::ResponseBuilder::new()
            .description(description)
            .content(
                PROBLEM_JSON,
                utoipa::openapi::ContentBuilder::new()
                    .schema(Some(utoipa::openapi::Ref::from_schema_name("Problem")))
                    .build(),
            )
            .build();
        operation
            .responses
            .responses
            .insert(status.to_string(), RefOr::T(response));
    }
}
