//! ApiVersions (key 18): the APIs and version ranges this broker serves.

use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};

pub fn handle(_version: i16, _request: ApiVersionsRequest) -> ApiVersionsResponse {
    ApiVersionsResponse::default()
        .with_error_code(0)
        .with_api_keys(takhin_protocol::api::api_versions())
}
