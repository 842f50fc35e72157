//! Kafka wire protocol for Takhin: framing, the table of APIs and versions the
//! broker serves, and decoding/encoding of requests and responses.
//!
//! This crate is sans-IO: it turns bytes into typed requests and typed
//! responses into bytes. Every message layout comes from the `kafka-protocol`
//! crate; this crate owns only what sits around it:
//!
//! - [`frame`]: the 4-byte length prefix, checked against a maximum before any
//!   allocation.
//! - [`api`]: the registry of supported API keys and version ranges (what
//!   ApiVersions advertises).
//! - [`request`]: header parsing and body decoding into [`Request`], with
//!   errors that say whether the connection can be answered or must close.
//! - [`response`]: encoding a [`Response`] with the right header version
//!   (ApiVersions responses always use header v0, see KIP-511).
//!
//! ```
//! use takhin_protocol::api::supported_versions;
//! use kafka_protocol::messages::ApiKey;
//! let produce = supported_versions(ApiKey::Produce).unwrap();
//! assert_eq!((produce.min, produce.max), (0, 13));
//! ```

pub mod api;
pub mod frame;
pub mod request;
pub mod response;

pub use request::{DecodeError, Request, RequestFrame, decode_request};
pub use response::{
    EncodedResponse, FilePart, MAX_FILE_RECORD_SETS, MAX_FILE_RECORDS_BYTES, Part, Reply, Response,
    SHARE_MIN_BYTES, encode_response, encode_response_chain, file_records_placeholder,
};
