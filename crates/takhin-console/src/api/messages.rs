//! Messages: a streamed search (server-sent events), its export as JSON
//! lines or CSV, and producing a message.
//!
//! # Search
//!
//! `GET .../topics/{topic}/messages` validates everything it can before the
//! stream starts (unknown topic 404, bad parameters 400, a partition the topic
//! lacks, an unknown decoder or a filter that does not compile 422), then
//! answers `text/event-stream` with these events:
//!
//! - `message`: one matching record ([`SearchMessage`]);
//! - `progress`: counts and partition positions ([`SearchStats`]), every
//!   [`PROGRESS_EVERY_MESSAGES`] scanned records or [`PROGRESS_INTERVAL`];
//! - `error`: a problem (RFC 9457) that ends the search, always followed by
//! - `done`: final counts and why the search ended ([`SearchDone`]).
//!
//! Comments keep the connection alive every [`KEEP_ALIVE_INTERVAL`].
//!
//! Where to start (`start=`): `oldest` (log start), `offset` (`offset=` in
//! every selected partition, clamped to the log), `timestamp` (the first
//! record at or after `timestamp=` ms, via ListOffsets), or `newest`, the
//! default: the last `max` offsets across the selected partitions, shared
//! evenly (a partition with fewer records gives its unused share to the
//! others), so an unfiltered newest search returns the `max` most recent
//! records by offset. With a filter, `newest` reads backwards, a page of
//! [`BACKWARD_PAGE_OFFSETS`] offsets a partition at a time, and returns the
//! newest `max` matches, newest first (page by page, partition by
//! partition). With `follow=true` (live tail) `newest` means the current end: only new
//! records, and the search keeps fetching until `max` records matched or the
//! client goes away.
//!
//! The search reads with Fetch requests to each partition leader
//! (read_uncommitted, [`FETCH_PARTITION_MAX_BYTES`] a partition,
//! [`FETCH_MAX_BYTES`] a request) and stops at each partition's end offset as
//! it was when the search started. Control records are skipped, offset gaps
//! (compaction) are fine.
//!
//! Work is split in two: an async task fetches (I/O only) and a thread of
//! the search's own decodes, filters and serialises (CPU, and the QuickJS
//! runtime, which cannot move between threads). They talk through bounded
//! channels, so a slow client slows the fetching rather than filling memory;
//! a client that goes away drops the stream, which cancels both.
//!
//! Limits: [`SEARCH_MESSAGES_MAX`] matches, [`SEARCH_SCANNED_MAX`] scanned
//! records, [`SEARCH_TIME_MAX`] (a live tail [`FOLLOW_TIME_MAX`]),
//! [`SEARCHES_CONCURRENT_MAX`] searches at once, and the filter's own limits
//! (see [`crate::filter`]).
//!
//! # Produce
//!
//! `POST .../topics/{topic}/messages` writes one record with acks=all. With
//! no partition given, a key picks the partition the way Kafka's Java
//! producer does (murmur2 of the key bytes), and a null key takes the next
//! partition in turn.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use futures_util::StreamExt;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchRequest, FetchTopic};
use kafka_protocol::messages::produce_request::{
    PartitionProduceData, ProduceRequest, TopicProduceData,
};
use kafka_protocol::messages::{BrokerId, TopicName};
use kafka_protocol::protocol::StrBytes;
use serde::{Deserialize, Serialize};
use takhin_storage::batch::{BatchHeader, Compression, decode_records};
use takhin_storage::{BatchBuilderParams, Record, RecordHeader, TimestampType};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;
use utoipa::{IntoParams, OpenApi, ToSchema};

use super::AppState;
use super::extract::{Json, Path, Query};
use super::problem::{ApiResult, Problem};
use crate::client::ops::{self, OffsetSpec, TopicPartition};
use crate::client::{ClientError, KafkaClient, TopicInfo};
use crate::decode::{self, DEFAULT_DECODER, DecodedView, Decoder, DecoderRegistry};
use crate::filter::{
    CompileError, FILTER_ERRORS_MAX, FILTER_SOURCE_MAX_BYTES, Filter, FilterError, FilterInput,
    FilterLimits, FilterValue,
};

/// Matches a search returns when `max=` is not given.
pub const SEARCH_MESSAGES_DEFAULT: u32 = 50;
/// Largest `max=` of a search.
pub const SEARCH_MESSAGES_MAX: u32 = 10_000;
/// Largest `max=` of an export.
pub const EXPORT_MESSAGES_MAX: u32 = 100_000;
/// Records one search may read, matching or not.
pub const SEARCH_SCANNED_MAX: u64 = 1_000_000;
/// Wall-clock time of one search.
pub const SEARCH_TIME_MAX: Duration = Duration::from_secs(60);
/// Wall-clock time of one live tail (`follow=true`).
pub const FOLLOW_TIME_MAX: Duration = Duration::from_secs(60 * 60);
/// Searches (and exports) running at once in this console; more are 429.
pub const SEARCHES_CONCURRENT_MAX: usize = 16;
/// Fetch `partition_max_bytes`.
pub const FETCH_PARTITION_MAX_BYTES: i32 = 1024 * 1024;
/// Fetch `max_bytes`.
pub const FETCH_MAX_BYTES: i32 = 4 * 1024 * 1024;
/// How long a live tail's fetch waits on the broker for new records.
pub const FOLLOW_FETCH_WAIT: Duration = Duration::from_millis(500);
/// Largest decompressed records section of one batch the search decodes.
pub const DECOMPRESSED_BATCH_MAX_BYTES: usize = 64 * 1024 * 1024;
/// A `progress` event at least every this many scanned records...
pub const PROGRESS_EVERY_MESSAGES: u64 = 5_000;
/// ...and at least this often while records arrive.
pub const PROGRESS_INTERVAL: Duration = Duration::from_millis(500);
/// An SSE comment this often keeps proxies from closing an idle stream.
pub const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(15);
/// Largest key plus value plus headers of a produced record.
pub const PRODUCE_RECORD_MAX_BYTES: usize = 1024 * 1024;
/// Most headers on a produced record.
pub const PRODUCE_HEADERS_MAX: usize = 1_000;
/// How long the broker may take to acknowledge a produced record.
const PRODUCE_TIMEOUT_MS: i32 = 10_000;
/// Fetched chunks queued for the search thread.
const FETCH_QUEUE_DEPTH: usize = 4;
/// Formatted events queued for the client.
const OUTPUT_QUEUE_DEPTH: usize = 16;
/// Empty fetches in a row after which a partition below its end offset is
/// taken as finished (its last offsets hold nothing a consumer sees).
const EMPTY_FETCHES_MAX: u32 = 3;
/// Fetch retries after a leader change, per partition and search.
const LEADER_RETRIES_MAX: u32 = 5;
/// Offsets of one page of a backward (`newest` with a filter) search, per
/// partition: about what one fetch returns for small records.
pub const BACKWARD_PAGE_OFFSETS: i64 = 5_000;
/// Stack of a search thread: QuickJS recursion is bounded well below it.
const SEARCH_THREAD_STACK_BYTES: usize = 8 * 1024 * 1024;

#[derive(OpenApi)]
#[openapi(
    paths(search_messages, export_messages, produce_message),
    components(schemas(
        SearchMessage, SearchStats, SearchDone, PartitionProgress, DecodedView, HeaderView,
        FilterProblem, ProduceMessage, ProduceHeader, Produced, StartFrom, ExportFormat,
        PayloadEncoding, CompressionName, DoneReason
    )),
    tags((name = "messages", description = "Search, export and produce messages"))
)]
pub struct Doc;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/clusters/{cluster}/topics/{topic}/messages",
            get(search_messages).post(produce_message),
        )
        .route(
            "/clusters/{cluster}/topics/{topic}/messages/export",
            get(export_messages),
        )
}

// ---------------------------------------------------------------------------
// Parameters.

/// Where a search starts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StartFrom {
    Oldest,
    #[default]
    Newest,
    Offset,
    Timestamp,
}

/// Format of an export.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExportFormat {
    #[default]
    Jsonl,
    Csv,
}

/// Search parameters.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// Where to start: `oldest`, `newest` (default: the last `max` records;
    /// with a filter the newest `max` matches, read backwards), `offset`,
    /// `timestamp`.
    #[param(inline)]
    pub start: Option<StartFrom>,
    /// With `start=offset`: the offset to start at in every selected partition.
    #[param(minimum = 0)]
    pub offset: Option<i64>,
    /// With `start=timestamp`: ms since the epoch.
    #[param(minimum = 0)]
    pub timestamp: Option<i64>,
    /// One partition; all when absent.
    #[param(minimum = 0)]
    pub partition: Option<i32>,
    /// Most messages to return (default 50; at most 10000, 100000 for an export).
    #[param(minimum = 1, maximum = 100000)]
    pub max: Option<u32>,
    /// Decoder of keys: `auto` (default), `text`, `json`, `hex`, `base64`, `msgpack`.
    pub key_decoder: Option<String>,
    /// Decoder of values, as `key_decoder`.
    pub value_decoder: Option<String>,
    /// A JavaScript filter: an expression or a function body (at most 16 KiB).
    pub filter: Option<String>,
    /// Live tail: keep fetching new records until `max` matched.
    pub follow: Option<bool>,
}

/// Export parameters besides the search's.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// `jsonl` (default) or `csv`.
    #[param(inline)]
    pub format: Option<ExportFormat>,
}

// ---------------------------------------------------------------------------
// Output.

/// A header of a record.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct HeaderView {
    pub key: String,
    /// The value as text, or base64 when it is not UTF-8; null for a null value.
    pub value: Option<String>,
    /// `text`, `base64` or `null`.
    pub value_encoding: &'static str,
}

/// One record of a search.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SearchMessage {
    pub partition: i32,
    pub offset: i64,
    /// ms since the epoch.
    pub timestamp: i64,
    /// `CreateTime` or `LogAppendTime`.
    pub timestamp_type: &'static str,
    pub key: Option<DecodedView>,
    pub value: Option<DecodedView>,
    /// In record order; keys may repeat.
    pub headers: Vec<HeaderView>,
    /// Bytes of key, value and headers.
    pub size_bytes: usize,
    /// Codec of the record's batch: `none`, `gzip`, `snappy`, `lz4`, `zstd`.
    pub compression: &'static str,
    pub is_transactional: bool,
    /// -1 for a non-idempotent producer.
    pub producer_id: i64,
}

/// Where a search is in one partition.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PartitionProgress {
    pub partition: i32,
    /// The next offset to read; reading backwards (`newest` with a filter),
    /// the bottom of the page being read (it falls to the log start).
    pub position: i64,
    /// Where the search stops (exclusive); null for a live tail.
    pub end: Option<i64>,
}

/// Counts of a search so far (the `progress` event).
#[derive(Clone, Debug, Default, Serialize, ToSchema)]
pub struct SearchStats {
    /// Records read, matching or not.
    pub scanned: u64,
    /// Records sent.
    pub matched: u64,
    /// Bytes of key, value and headers read.
    pub bytes: u64,
    /// Records on which the filter threw.
    pub filter_errors: u64,
    /// The last error the filter threw, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_filter_error: Option<String>,
    /// Batches that could not be decoded (skipped).
    pub undecodable_batches: u64,
    pub elapsed_ms: u64,
    pub partitions: Vec<PartitionProgress>,
}

/// Why a search ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DoneReason {
    /// `max` records matched.
    MaxReached,
    /// Every partition was read to its end offset.
    EndReached,
    /// The search, or its filter, ran out of time.
    TimeLimit,
    /// The search read as many records as one search may.
    ScanLimit,
    /// The filter threw on too many records.
    FilterErrors,
    /// An `error` event said what went wrong.
    Error,
    /// The client went away.
    Cancelled,
}

/// The last event of a search.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SearchDone {
    pub reason: DoneReason,
    #[serde(flatten)]
    pub stats: SearchStats,
}

/// A problem with the position of a filter's syntax error.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct FilterProblem {
    #[serde(flatten)]
    pub problem: Problem,
    /// 1-based line in the filter source.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// 1-based column in the filter source.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
}

impl IntoResponse for FilterProblem {
    fn into_response(self) -> Response {
        let mut response = (self.problem.status(), axum::Json(self)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        response
    }
}

impl From<Problem> for FilterProblem {
    fn from(problem: Problem) -> FilterProblem {
        FilterProblem {
            problem,
            line: None,
            column: None,
        }
    }
}

impl From<ClientError> for FilterProblem {
    fn from(error: ClientError) -> FilterProblem {
        Problem::from(error).into()
    }
}

// ---------------------------------------------------------------------------
// Handlers.

/// Searches a topic's messages, streamed as server-sent events.
///
/// Events: `message` ([`SearchMessage`]), `progress` ([`SearchStats`]),
/// `error` (a problem; the search ends) and `done` ([`SearchDone`], always
/// last).
#[utoipa::path(get, path = "/api/v1/clusters/{cluster}/topics/{topic}/messages", tag = "messages",
    params(
        ("cluster" = String, Path, description = "Cluster name"),
        ("topic" = String, Path, description = "Topic name"),
        SearchQuery
    ),
    responses(
        (status = 200, description = "Server-sent events: `message` (SearchMessage), `progress` (SearchStats), `error` (Problem), `done` (SearchDone)", content_type = "text/event-stream", body = String),
        (status = 400, description = "Bad parameters", body = Problem),
        (status = 404, description = "No such cluster or topic", body = Problem),
        (status = 422, description = "No such partition, unknown decoder, or a filter that does not compile", body = FilterProblem),
        (status = 429, description = "Too many searches running", body = Problem),
        (status = 502, description = "The cluster failed", body = Problem),
    ))]
pub async fn search_messages(
    State(state): State<AppState>,
    Path((cluster, topic)): Path<(String, String)>,
    Query(query): Query<SearchQuery>,
) -> Result<Response, FilterProblem> {
    let search = prepare(&state, &cluster, &topic, &query, Output::Events).await?;
    let receiver = search.start();
    let stream = receiver.map(|chunk| match chunk {
        OutputChunk::Event(event) => Ok::<_, Infallible>(event),
        // Only events are sent for `Output::Events`.
        OutputChunk::Bytes(_) | OutputChunk::Failed(_) => Ok(Event::default().comment("")),
    });
    let mut response = Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE_INTERVAL))
        .into_response();
    // Events must reach the client as they come: no caching, and no
    // buffering by a reverse proxy (nginx honours this header).
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

/// Exports a search as a download: JSON lines (one [`SearchMessage`] a
/// line) or CSV (`partition,offset,timestamp,timestamp_type,key,value,headers,
/// key_encoding,value_encoding,size_bytes,compression`).
///
/// A failure after the download started aborts it (the transfer ends
/// incomplete).
#[utoipa::path(get, path = "/api/v1/clusters/{cluster}/topics/{topic}/messages/export", tag = "messages",
    params(
        ("cluster" = String, Path, description = "Cluster name"),
        ("topic" = String, Path, description = "Topic name"),
        ExportQuery,
        SearchQuery
    ),
    responses(
        (status = 200, description = "The matching messages", content(
            (String = "application/x-ndjson"),
            (String = "text/csv")
        )),
        (status = 400, description = "Bad parameters", body = Problem),
        (status = 404, description = "No such cluster or topic", body = Problem),
        (status = 422, description = "No such partition, unknown decoder, or a filter that does not compile", body = FilterProblem),
        (status = 429, description = "Too many searches running", body = Problem),
        (status = 502, description = "The cluster failed", body = Problem),
    ))]
pub async fn export_messages(
    State(state): State<AppState>,
    Path((cluster, topic)): Path<(String, String)>,
    Query(export): Query<ExportQuery>,
    Query(query): Query<SearchQuery>,
) -> Result<Response, FilterProblem> {
    if query.follow == Some(true) {
        return Err(Problem::bad_request("an export cannot follow (follow=true)").into());
    }
    let format = export.format.unwrap_or_default();
    let search = prepare(&state, &cluster, &topic, &query, Output::Export(format)).await?;
    let receiver = search.start();
    let stream = receiver.filter_map(|chunk| async move {
        match chunk {
            OutputChunk::Bytes(bytes) => Some(Ok(bytes)),
            OutputChunk::Failed(problem) => Some(Err(std::io::Error::other(problem.detail))),
            OutputChunk::Event(_) => None,
        }
    });
    let (content_type, extension) = match format {
        ExportFormat::Jsonl => ("application/x-ndjson", "jsonl"),
        ExportFormat::Csv => ("text/csv; charset=utf-8", "csv"),
    };
    // Topic names are [a-zA-Z0-9._-]: safe inside the quoted file name.
    let disposition = format!("attachment; filename=\"{topic}-messages.{extension}\"");
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

// ---------------------------------------------------------------------------
// Search preparation: everything checked before the first byte is sent.

/// How the search thread formats what it finds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Output {
    Events,
    Export(ExportFormat),
}

/// What the search thread sends to the response.
enum OutputChunk {
    Event(Event),
    Bytes(Bytes),
    /// An export failed after it started.
    Failed(Problem),
}

/// One partition's range to read.
#[derive(Clone, Debug)]
struct PartitionRange {
    partition: i32,
    leader: i32,
    /// First offset to return.
    start: i64,
    /// Stop before this offset; `None` follows.
    end: Option<i64>,
    /// Read backwards page by page from `end` down to this offset (the log
    /// start): a `newest` search with a filter.
    backward_floor: Option<i64>,
}

/// A validated search, ready to start.
struct PreparedSearch {
    client: Arc<KafkaClient>,
    topic: TopicInfo,
    ranges: Vec<PartitionRange>,
    max: u64,
    follow: bool,
    output: Output,
    key_decoder: Arc<dyn Decoder>,
    value_decoder: Arc<dyn Decoder>,
    /// The search thread, waiting for its first fetched chunk.
    thread: SearchThread,
}

fn searches() -> &'static Arc<Semaphore> {
    static SEARCHES: OnceLock<Arc<Semaphore>> = OnceLock::new();
    SEARCHES.get_or_init(|| Arc::new(Semaphore::new(SEARCHES_CONCURRENT_MAX)))
}

async fn prepare(
    state: &AppState,
    cluster: &str,
    topic_name: &str,
    query: &SearchQuery,
    output: Output,
) -> Result<PreparedSearch, FilterProblem> {
    let client = state.cluster(cluster)?;
    let params = validate_query(query, output)?;
    let registry = DecoderRegistry::builtin();
    let decoder = |name: &Option<String>| -> Result<Arc<dyn Decoder>, Problem> {
        let name = name.as_deref().unwrap_or(DEFAULT_DECODER);
        registry.get(name).ok_or_else(|| {
            Problem::unprocessable(format!(
                "no decoder named '{name}'; known decoders: {}",
                registry.names().join(", ")
            ))
        })
    };
    let key_decoder = decoder(&query.key_decoder)?;
    let value_decoder = decoder(&query.value_decoder)?;
    if let Some(filter) = &query.filter
        && filter.len() > FILTER_SOURCE_MAX_BYTES
    {
        return Err(Problem::unprocessable(format!(
            "the filter is {} bytes long; at most {FILTER_SOURCE_MAX_BYTES} are allowed",
            filter.len()
        ))
        .into());
    }

    let metadata = client.topic_metadata(&[topic_name]).await?;
    let topic = metadata
        .topic(topic_name)
        .cloned()
        .ok_or_else(|| Problem::not_found(format!("topic '{topic_name}' does not exist")))?;
    let partitions: Vec<_> = match query.partition {
        Some(partition) => {
            let found = topic.partitions.iter().find(|p| p.partition == partition);
            match found {
                Some(found) => vec![found.clone()],
                None => {
                    return Err(Problem::unprocessable(format!(
                        "topic '{topic_name}' has no partition {partition} (it has {})",
                        topic.partitions.len()
                    ))
                    .into());
                }
            }
        }
        None => topic.partitions.clone(),
    };

    let permit = searches().clone().try_acquire_owned().map_err(|_| {
        Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("{SEARCHES_CONCURRENT_MAX} searches are running; try again when one ends"),
        )
    })?;
    let mut thread = SearchThread::spawn(query.filter.clone(), permit)?;
    thread.compiled().await?;

    let ranges = plan_ranges(&client, topic_name, &partitions, &params).await?;
    Ok(PreparedSearch {
        client,
        topic,
        ranges,
        max: params.max,
        follow: params.follow,
        output,
        key_decoder,
        value_decoder,
        thread,
    })
}

/// The query, checked.
struct SearchParams {
    start: StartFrom,
    /// With `start=offset`.
    offset: i64,
    /// With `start=timestamp`, ms.
    timestamp: i64,
    max: u64,
    follow: bool,
    filtered: bool,
}

fn validate_query(query: &SearchQuery, output: Output) -> Result<SearchParams, Problem> {
    let limit = match output {
        Output::Events => SEARCH_MESSAGES_MAX,
        Output::Export(_) => EXPORT_MESSAGES_MAX,
    };
    let max = query.max.unwrap_or(SEARCH_MESSAGES_DEFAULT);
    if max == 0 || max > limit {
        return Err(Problem::bad_request(format!(
            "max must be between 1 and {limit}, not {max}"
        )));
    }
    let start = query.start.unwrap_or_default();
    match (start, query.offset, query.timestamp) {
        (StartFrom::Offset, None, _) => {
            return Err(Problem::bad_request("start=offset needs offset="));
        }
        (StartFrom::Timestamp, _, None) => {
            return Err(Problem::bad_request("start=timestamp needs timestamp="));
        }
        (start, Some(_), _) if start != StartFrom::Offset => {
            return Err(Problem::bad_request("offset= is only for start=offset"));
        }
        (start, _, Some(_)) if start != StartFrom::Timestamp => {
            return Err(Problem::bad_request(
                "timestamp= is only for start=timestamp",
            ));
        }
        _ => {}
    }
    if query.offset.is_some_and(|offset| offset < 0) {
        return Err(Problem::bad_request("offset must not be negative"));
    }
    if query.timestamp.is_some_and(|timestamp| timestamp < 0) {
        return Err(Problem::bad_request("timestamp must not be negative"));
    }
    if query.partition.is_some_and(|partition| partition < 0) {
        return Err(Problem::bad_request("partition must not be negative"));
    }
    Ok(SearchParams {
        start,
        offset: query.offset.unwrap_or(0),
        timestamp: query.timestamp.unwrap_or(0),
        max: u64::from(max),
        follow: query.follow.unwrap_or(false),
        filtered: query.filter.is_some(),
    })
}

/// Start and end offsets of each partition, from ListOffsets.
async fn plan_ranges(
    client: &KafkaClient,
    topic: &str,
    partitions: &[crate::client::PartitionInfo],
    params: &SearchParams,
) -> Result<Vec<PartitionRange>, Problem> {
    let keys: Vec<TopicPartition> = partitions
        .iter()
        .map(|p| (topic.to_string(), p.partition))
        .collect();
    let (earliest, latest) = futures_util::future::join(
        ops::list_offsets(client, &keys, OffsetSpec::Earliest),
        ops::list_offsets(client, &keys, OffsetSpec::Latest),
    )
    .await;
    let (earliest, latest) = (earliest?, latest?);
    let by_timestamp = match params.start {
        StartFrom::Timestamp => {
            let spec = OffsetSpec::Timestamp(params.timestamp);
            Some(ops::list_offsets(client, &keys, spec).await?)
        }
        _ => None,
    };
    let mut bounds = Vec::with_capacity(partitions.len());
    for key in &keys {
        let offset_of =
            |map: &HashMap<TopicPartition, Result<Option<i64>, ClientError>>| match map.get(key) {
                Some(Ok(offset)) => Ok(*offset),
                Some(Err(error)) => Err(Problem::from(clone_error(error))),
                None => Err(Problem::new(
                    StatusCode::BAD_GATEWAY,
                    format!("no offsets for {}-{}", key.0, key.1),
                )),
            };
        let log_start = offset_of(&earliest)?.unwrap_or(0);
        let log_end = offset_of(&latest)?.unwrap_or(log_start);
        let at_timestamp = match &by_timestamp {
            Some(map) => offset_of(map)?,
            None => None,
        };
        bounds.push((log_start, log_end.max(log_start), at_timestamp));
    }
    let newest_takes = newest_window(
        &bounds
            .iter()
            .map(|(s, e, _)| (e - s) as u64)
            .collect::<Vec<_>>(),
        params.max,
    );
    Ok(partitions
        .iter()
        .zip(bounds)
        .zip(newest_takes)
        .map(|((partition, (log_start, log_end, at_timestamp)), take)| {
            let start = match params.start {
                StartFrom::Oldest => log_start,
                StartFrom::Offset => params.offset.clamp(log_start, log_end),
                // A timestamp after the last record: nothing until new ones.
                StartFrom::Timestamp => at_timestamp.unwrap_or(log_end).max(log_start),
                StartFrom::Newest if params.follow => log_end,
                StartFrom::Newest => log_end - take as i64,
            };
            let backward = params.start == StartFrom::Newest && params.filtered && !params.follow;
            PartitionRange {
                partition: partition.partition,
                leader: partition.leader,
                start: if backward { log_start } else { start },
                end: if params.follow { None } else { Some(log_end) },
                backward_floor: backward.then_some(log_start),
            }
        })
        .collect())
}

/// `ClientError` is not `Clone`; a copy good enough for a problem.
fn clone_error(error: &ClientError) -> ClientError {
    match error {
        ClientError::Kafka {
            code,
            name,
            context,
            message,
        } => ClientError::Kafka {
            code: *code,
            name: name.clone(),
            context: context.clone(),
            message: message.clone(),
        },
        ClientError::NotFound(what) => ClientError::NotFound(what.clone()),
        ClientError::Timeout(what) => ClientError::Timeout(what.clone()),
        other => ClientError::Io(other.to_string()),
    }
}

/// How many of the newest records each partition contributes so that the
/// total is `max` (or everything there is), shared evenly; a partition with
/// fewer records than its share gives the rest to the others.
fn newest_window(available: &[u64], max: u64) -> Vec<u64> {
    let mut take = vec![0u64; available.len()];
    let mut left = max;
    loop {
        let open: Vec<usize> = (0..available.len())
            .filter(|&index| take[index] < available[index])
            .collect();
        if open.is_empty() || left == 0 {
            return take;
        }
        let share = (left / open.len() as u64).max(1);
        for index in open {
            let add = share.min(available[index] - take[index]).min(left);
            take[index] += add;
            left -= add;
            if left == 0 {
                break;
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The search thread: decode, filter, format.

/// What the fetch task hands the search thread.
enum FetchedChunk {
    /// Raw record batches of one partition, as Fetch returned them; only
    /// records in `[from, to)` belong to the search (Fetch answers whole
    /// batches, so some may lie before `from`, and a page ends at `to`).
    Records {
        partition: i32,
        records: Bytes,
        from: i64,
        to: Option<i64>,
    },
    /// Where the fetcher is in a partition, once the records before are in.
    Position(PartitionProgress),
    /// Reading backwards: a page of this partition is all in.
    PageEnd(i32),
    /// The fetch task is done.
    End(DoneReason),
    /// The fetch task failed.
    Failed(Problem),
}

/// Set when the client goes away; also stops a running filter.
#[derive(Clone, Default)]
struct Cancel(Arc<AtomicBool>);

impl Cancel {
    fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Cancels the search when dropped (with the response stream).
struct CancelOnDrop(Cancel);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.0.store(true, Ordering::Relaxed);
    }
}

/// What the search thread needs once the search starts.
struct SearchJob {
    ranges: Vec<PartitionRange>,
    max: u64,
    output: Output,
    key_decoder: Arc<dyn Decoder>,
    value_decoder: Arc<dyn Decoder>,
    fetched: mpsc::Receiver<FetchedChunk>,
    sink: mpsc::Sender<OutputChunk>,
}

/// A search's own thread, spawned before the search starts so the filter
/// compiles there (a QuickJS runtime cannot change threads).
struct SearchThread {
    compiled: Option<oneshot::Receiver<Result<(), CompileError>>>,
    job: Option<oneshot::Sender<SearchJob>>,
    cancel: Cancel,
}

impl SearchThread {
    fn spawn(
        filter_source: Option<String>,
        permit: tokio::sync::OwnedSemaphorePermit,
    ) -> Result<SearchThread, Problem> {
        let (compiled_tx, compiled_rx) = oneshot::channel();
        let (job_tx, job_rx) = oneshot::channel::<SearchJob>();
        let cancel = Cancel::default();
        let thread_cancel = cancel.clone();
        std::thread::Builder::new()
            .name("takhin-search".to_string())
            .stack_size(SEARCH_THREAD_STACK_BYTES)
            .spawn(move || {
                // Held for the thread's life: it is what the limit counts.
                let _permit = permit;
                let filter = match filter_source {
                    Some(source) => {
                        let limits = FilterLimits {
                            cancelled: thread_cancel.0.clone(),
                            ..FilterLimits::default()
                        };
                        match Filter::compile(&source, limits) {
                            Ok(filter) => Some(filter),
                            Err(error) => {
                                let _ = compiled_tx.send(Err(error));
                                return;
                            }
                        }
                    }
                    None => None,
                };
                if compiled_tx.send(Ok(())).is_err() {
                    return;
                }
                // The handler may still fail (offsets); then no job comes.
                if let Ok(job) = job_rx.blocking_recv() {
                    SearchWorker::new(job, filter, thread_cancel).run();
                }
            })
            .map_err(|error| {
                Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("cannot start a search thread: {error}"),
                )
            })?;
        Ok(SearchThread {
            compiled: Some(compiled_rx),
            job: Some(job_tx),
            cancel,
        })
    }

    /// Waits for the filter to compile; a syntax error is a 422 problem.
    async fn compiled(&mut self) -> Result<(), FilterProblem> {
        let Some(receiver) = self.compiled.take() else {
            return Ok(());
        };
        match receiver.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(FilterProblem {
                problem: Problem::unprocessable(format!("the filter does not compile: {error}")),
                line: error.line,
                column: error.column,
            }),
            Err(_) => Err(Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the search thread ended before compiling the filter",
            )
            .into()),
        }
    }
}

impl PreparedSearch {
    /// Starts fetching and streaming; returns what the response reads.
    fn start(mut self) -> impl futures_util::Stream<Item = OutputChunk> + Send + 'static {
        let (fetched_tx, fetched_rx) = mpsc::channel(FETCH_QUEUE_DEPTH);
        let (sink_tx, sink_rx) = mpsc::channel(OUTPUT_QUEUE_DEPTH);
        let job = SearchJob {
            ranges: self.ranges.clone(),
            max: self.max,
            output: self.output,
            key_decoder: self.key_decoder.clone(),
            value_decoder: self.value_decoder.clone(),
            fetched: fetched_rx,
            sink: sink_tx.clone(),
        };
        if let Some(job_tx) = self.thread.job.take() {
            let _ = job_tx.send(job);
        }
        let cancel = self.thread.cancel.clone();
        let fetcher = Fetcher {
            client: self.client.clone(),
            topic: self.topic.clone(),
            follow: self.follow,
            cursors: self.ranges.iter().map(Cursor::new).collect(),
            deadline: Instant::now()
                + if self.follow {
                    FOLLOW_TIME_MAX
                } else {
                    SEARCH_TIME_MAX
                },
            to_worker: fetched_tx,
            client_gone: sink_tx,
            cancel: cancel.clone(),
        };
        tokio::spawn(fetcher.run());
        let guard = CancelOnDrop(cancel);
        ReceiverStream::new(sink_rx).map(move |chunk| {
            // The guard lives as long as the stream.
            let _ = &guard;
            chunk
        })
    }
}

// ---------------------------------------------------------------------------
// Fetching.

/// The fetch position of one partition.
#[derive(Clone, Debug)]
struct Cursor {
    partition: i32,
    leader: i32,
    /// The next offset to fetch.
    position: i64,
    /// Where reading stops (exclusive): the end offset, or the top of the
    /// current page when reading backwards; `None` follows.
    end: Option<i64>,
    /// Reading backwards: pages go down to this offset.
    backward_floor: Option<i64>,
    /// The end offset of the whole search, for progress.
    search_end: Option<i64>,
    empty_fetches: u32,
    leader_retries: u32,
    done: bool,
}

impl Cursor {
    fn new(range: &PartitionRange) -> Cursor {
        let mut cursor = Cursor {
            partition: range.partition,
            leader: range.leader,
            position: range.start,
            end: range.end,
            backward_floor: range.backward_floor,
            search_end: range.end,
            empty_fetches: 0,
            leader_retries: 0,
            done: false,
        };
        match (range.backward_floor, range.end) {
            // The first page ends at the end offset.
            (Some(floor), Some(end)) => cursor.open_page(floor, end),
            _ => cursor.done = range.end.is_some_and(|end| range.start >= end),
        }
        cursor
    }

    /// Reading backwards: the page below `top`, or done at the floor.
    fn open_page(&mut self, floor: i64, top: i64) {
        self.end = Some(top);
        self.position = (top - BACKWARD_PAGE_OFFSETS).max(floor);
        self.empty_fetches = 0;
        self.done = top <= floor;
    }

    /// The current range is read: next page, or done. True when a
    /// backward page ended (the search thread then sends its matches).
    fn range_read(&mut self) -> bool {
        match self.backward_floor {
            Some(floor) => {
                let page_bottom = (self.end.unwrap_or(floor) - BACKWARD_PAGE_OFFSETS).max(floor);
                self.open_page(floor, page_bottom);
                true
            }
            None => {
                self.done = true;
                false
            }
        }
    }

    /// What progress shows: the next offset forwards, the bottom of the
    /// page being read backwards.
    fn shown_position(&self) -> i64 {
        match (self.backward_floor, self.end) {
            (Some(floor), Some(top)) => (top - BACKWARD_PAGE_OFFSETS).max(floor),
            _ => self.position,
        }
    }
}

/// The async half of a search: Fetch requests to partition leaders, raw
/// batches handed to the search thread.
struct Fetcher {
    client: Arc<KafkaClient>,
    topic: TopicInfo,
    follow: bool,
    cursors: Vec<Cursor>,
    deadline: Instant,
    to_worker: mpsc::Sender<FetchedChunk>,
    /// Held only to notice the client going away (`closed()`).
    client_gone: mpsc::Sender<OutputChunk>,
    cancel: Cancel,
}

/// Kafka error codes after which the leader must be looked up again:
/// LEADER_NOT_AVAILABLE, NOT_LEADER_OR_FOLLOWER, FENCED_LEADER_EPOCH,
/// UNKNOWN_LEADER_EPOCH.
const LEADER_CHANGED_CODES: [i16; 4] = [5, 6, 74, 75];
/// OFFSET_OUT_OF_RANGE: retention deleted what the search was about to read.
const OFFSET_OUT_OF_RANGE: i16 = 1;

impl Fetcher {
    async fn run(mut self) {
        let chunk = match self.fetch_all().await {
            Ok(reason) => FetchedChunk::End(reason),
            Err(problem) => FetchedChunk::Failed(problem),
        };
        let _ = self.to_worker.send(chunk).await;
    }

    fn gone(&self) -> bool {
        self.cancel.is_cancelled() || self.to_worker.is_closed() || self.client_gone.is_closed()
    }

    async fn fetch_all(&mut self) -> Result<DoneReason, Problem> {
        loop {
            if self.gone() {
                return Ok(DoneReason::Cancelled);
            }
            if Instant::now() >= self.deadline {
                return Ok(DoneReason::TimeLimit);
            }
            let mut leaders: Vec<i32> = self
                .cursors
                .iter()
                .filter(|cursor| !cursor.done)
                .map(|cursor| cursor.leader)
                .collect();
            leaders.sort_unstable();
            leaders.dedup();
            if leaders.is_empty() {
                return Ok(DoneReason::EndReached);
            }
            for leader in leaders {
                let request = self.request_for(leader);
                let response = tokio::select! {
                    response = self.send_fetch(leader, &request) => response,
                    _ = self.to_worker.closed() => return Ok(DoneReason::Cancelled),
                    _ = self.client_gone.closed() => return Ok(DoneReason::Cancelled),
                };
                for topic in response?.responses {
                    for partition in topic.partitions {
                        if !self.absorb(partition).await? {
                            return Ok(DoneReason::Cancelled);
                        }
                    }
                }
            }
        }
    }

    fn request_for(&self, leader: i32) -> FetchRequest {
        let partitions = self
            .cursors
            .iter()
            .filter(|cursor| !cursor.done && cursor.leader == leader)
            .map(|cursor| {
                FetchPartition::default()
                    .with_partition(cursor.partition)
                    .with_fetch_offset(cursor.position)
                    .with_partition_max_bytes(FETCH_PARTITION_MAX_BYTES)
            })
            .collect();
        let wait = if self.follow {
            FOLLOW_FETCH_WAIT
        } else {
            Duration::ZERO
        };
        FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(wait.as_millis() as i32)
            .with_min_bytes(1)
            .with_max_bytes(FETCH_MAX_BYTES)
            // read_uncommitted: the viewer shows what is in the log.
            .with_isolation_level(0)
            .with_topics(vec![
                FetchTopic::default()
                    .with_topic(TopicName(StrBytes::from_string(self.topic.name.clone())))
                    .with_topic_id(self.topic.topic_id)
                    .with_partitions(partitions),
            ])
    }

    async fn send_fetch(
        &self,
        leader: i32,
        request: &FetchRequest,
    ) -> Result<kafka_protocol::messages::FetchResponse, Problem> {
        let extra = if self.follow {
            FOLLOW_FETCH_WAIT
        } else {
            Duration::ZERO
        };
        let first = self
            .client
            .broker(leader)
            .await?
            .send_with_extra_time(request, extra)
            .await;
        let response = match first {
            Err(ClientError::Closed(_)) | Err(ClientError::Io(_)) => {
                self.client
                    .broker(leader)
                    .await?
                    .send_with_extra_time(request, extra)
                    .await?
            }
            other => other?,
        };
        let (response, _version) = response;
        if response.error_code != 0 {
            return Err(ClientError::kafka(response.error_code, "fetch").into());
        }
        Ok(response)
    }

    /// Takes in one partition's answer; `false` when the search thread is gone.
    async fn absorb(
        &mut self,
        answer: kafka_protocol::messages::fetch_response::PartitionData,
    ) -> Result<bool, Problem> {
        let Some(index) = self
            .cursors
            .iter()
            .position(|cursor| cursor.partition == answer.partition_index)
        else {
            return Ok(true);
        };
        let code = answer.error_code;
        if LEADER_CHANGED_CODES.contains(&code) {
            return self.find_leader(index, code).await.map(|()| true);
        }
        if code == OFFSET_OUT_OF_RANGE {
            let page_ended = self.skip_deleted(index).await?;
            return Ok(!page_ended || self.page_end(index).await);
        }
        if code != 0 {
            let cursor = &self.cursors[index];
            return Err(ClientError::kafka(
                code,
                format!(
                    "fetching {}-{} at offset {}",
                    self.topic.name, cursor.partition, cursor.position
                ),
            )
            .into());
        }
        let records = answer.records.unwrap_or_default();
        let next = next_position(&records);
        let cursor = &mut self.cursors[index];
        cursor.leader_retries = 0;
        let mut page_ended = false;
        match next {
            Some(next) => {
                let chunk = FetchedChunk::Records {
                    partition: cursor.partition,
                    records,
                    from: cursor.position,
                    to: cursor.end,
                };
                cursor.position = next.max(cursor.position);
                cursor.empty_fetches = 0;
                if cursor.end.is_some_and(|end| cursor.position >= end) {
                    page_ended = cursor.range_read();
                }
                let shown = PartitionProgress {
                    partition: cursor.partition,
                    position: cursor.shown_position(),
                    end: cursor.search_end,
                };
                if self.to_worker.send(chunk).await.is_err()
                    || self
                        .to_worker
                        .send(FetchedChunk::Position(shown))
                        .await
                        .is_err()
                {
                    return Ok(false);
                }
            }
            None if !self.follow => {
                // Nothing at or after the position below the end: the last
                // offsets hold no batch a consumer sees (aborted or removed).
                cursor.empty_fetches += 1;
                if cursor.empty_fetches >= EMPTY_FETCHES_MAX
                    || answer.high_watermark <= cursor.position
                {
                    page_ended = cursor.range_read();
                }
            }
            None => {}
        }
        Ok(!page_ended || self.page_end(index).await)
    }

    /// Tells the search thread a backward page of a partition is all in;
    /// `false` when it is gone.
    async fn page_end(&self, index: usize) -> bool {
        let partition = self.cursors[index].partition;
        self.to_worker
            .send(FetchedChunk::PageEnd(partition))
            .await
            .is_ok()
    }

    async fn find_leader(&mut self, index: usize, code: i16) -> Result<(), Problem> {
        let partition = self.cursors[index].partition;
        self.cursors[index].leader_retries += 1;
        if self.cursors[index].leader_retries > LEADER_RETRIES_MAX {
            return Err(ClientError::kafka(
                code,
                format!("fetching {}-{partition}", self.topic.name),
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        self.client.invalidate_metadata();
        self.cursors[index].leader = self.client.leader(&self.topic.name, partition).await?;
        Ok(())
    }

    /// Moves past offsets retention deleted; true when a backward page ended.
    async fn skip_deleted(&mut self, index: usize) -> Result<bool, Problem> {
        let key = (self.topic.name.clone(), self.cursors[index].partition);
        let earliest = ops::list_offsets(
            &self.client,
            std::slice::from_ref(&key),
            OffsetSpec::Earliest,
        )
        .await?
        .remove(&key);
        let cursor = &mut self.cursors[index];
        match earliest {
            Some(Ok(Some(earliest))) if earliest > cursor.position => {
                cursor.position = earliest;
                if let Some(floor) = cursor.backward_floor.as_mut() {
                    *floor = earliest.max(*floor);
                }
            }
            // Past the end (the log was truncated): nothing more to read.
            _ => cursor.done = true,
        }
        if cursor.end.is_some_and(|end| cursor.position >= end) {
            return Ok(cursor.range_read());
        }
        Ok(false)
    }
}

/// The offset after the last whole batch of `records`, if there is one.
/// Fetch may end with a partial batch; it is fetched again next time.
fn next_position(records: &[u8]) -> Option<i64> {
    let mut rest = records;
    let mut next = None;
    while let Ok(header) = BatchHeader::parse(rest) {
        let size = header.total_size();
        if size < BatchHeader::SIZE || size > rest.len() {
            break;
        }
        next = Some(header.last_offset() + 1);
        rest = &rest[size..];
    }
    next
}

// ---------------------------------------------------------------------------
// The search thread's work.

/// How a search ends.
enum Finish {
    Done(DoneReason),
    /// An `error` event, then `done`.
    Failed(Problem, DoneReason),
}

struct SearchWorker {
    job: SearchJob,
    filter: Option<Filter>,
    cancel: Cancel,
    /// Reading backwards: each partition's matches in the current page,
    /// at most as many as are still wanted, sent newest first when the
    /// page is all in.
    backward: bool,
    pages: BTreeMap<i32, VecDeque<SearchMessage>>,
    progress: BTreeMap<i32, PartitionProgress>,
    stats: SearchStats,
    started: Instant,
    last_progress: Instant,
    scanned_at_last_progress: u64,
}

impl SearchWorker {
    fn new(job: SearchJob, filter: Option<Filter>, cancel: Cancel) -> SearchWorker {
        let backward = job
            .ranges
            .iter()
            .any(|range| range.backward_floor.is_some());
        let progress = job
            .ranges
            .iter()
            .map(|range| {
                (
                    range.partition,
                    PartitionProgress {
                        partition: range.partition,
                        position: range.backward_floor.and(range.end).unwrap_or(range.start),
                        end: range.end,
                    },
                )
            })
            .collect();
        SearchWorker {
            job,
            filter,
            cancel,
            backward,
            pages: BTreeMap::new(),
            progress,
            stats: SearchStats::default(),
            started: Instant::now(),
            last_progress: Instant::now(),
            scanned_at_last_progress: 0,
        }
    }

    fn run(mut self) {
        let finish = match self.begin() {
            Ok(()) => self.consume(),
            Err(finish) => finish,
        };
        self.finish(finish);
    }

    /// Sends what comes before any record (the CSV header row).
    fn begin(&mut self) -> Result<(), Finish> {
        if self.job.output == Output::Export(ExportFormat::Csv) {
            let mut row = String::new();
            csv_row(&mut row, &CSV_COLUMNS.map(str::to_string));
            self.send(OutputChunk::Bytes(Bytes::from(row)))?;
        }
        Ok(())
    }

    fn consume(&mut self) -> Finish {
        loop {
            let Some(chunk) = self.job.fetched.blocking_recv() else {
                return Finish::Done(DoneReason::Cancelled);
            };
            match chunk {
                FetchedChunk::Records {
                    partition,
                    records,
                    from,
                    to,
                } => {
                    if let Err(finish) = self.scan(partition, &records, from, to) {
                        return finish;
                    }
                }
                FetchedChunk::Position(position) => {
                    self.progress.insert(position.partition, position);
                    if let Err(finish) = self.maybe_progress() {
                        return finish;
                    }
                }
                FetchedChunk::PageEnd(partition) => {
                    if let Err(finish) = self.flush_page(partition) {
                        return finish;
                    }
                }
                FetchedChunk::End(reason) => {
                    // Matches of pages cut short (time limit) still count.
                    let partitions: Vec<i32> = self.pages.keys().copied().collect();
                    for partition in partitions {
                        if let Err(finish) = self.flush_page(partition) {
                            return finish;
                        }
                    }
                    return Finish::Done(reason);
                }
                FetchedChunk::Failed(problem) => return Finish::Failed(problem, DoneReason::Error),
            }
            if self.cancel.is_cancelled() {
                return Finish::Done(DoneReason::Cancelled);
            }
        }
    }

    /// Goes through the batches of one fetched chunk.
    fn scan(
        &mut self,
        partition: i32,
        records: &[u8],
        from: i64,
        to: Option<i64>,
    ) -> Result<(), Finish> {
        let mut rest = records;
        while let Ok(header) = BatchHeader::parse(rest) {
            let size = header.total_size();
            if size < BatchHeader::SIZE || size > rest.len() {
                break;
            }
            let batch = &rest[..size];
            rest = &rest[size..];
            // Control batches (transaction markers) are not data.
            if header.last_offset() < from || header.is_control() {
                continue;
            }
            if to.is_some_and(|to| header.base_offset >= to) {
                break;
            }
            let (header, batch_records) = match decode_records(batch, DECOMPRESSED_BATCH_MAX_BYTES)
            {
                Ok(decoded) => decoded,
                Err(error) => {
                    tracing::warn!(partition, base_offset = header.base_offset, %error, "skipping an undecodable batch");
                    self.stats.undecodable_batches += 1;
                    continue;
                }
            };
            for record in batch_records {
                if record.offset < from {
                    continue;
                }
                if to.is_some_and(|to| record.offset >= to) {
                    break;
                }
                self.record(partition, &header, record)?;
                if self.stats.scanned >= SEARCH_SCANNED_MAX {
                    return Err(Finish::Done(DoneReason::ScanLimit));
                }
                if self.stats.scanned - self.scanned_at_last_progress >= PROGRESS_EVERY_MESSAGES {
                    self.maybe_progress()?;
                }
            }
        }
        Ok(())
    }

    /// One record: decode, filter, send.
    fn record(
        &mut self,
        partition: i32,
        header: &BatchHeader,
        record: Record,
    ) -> Result<(), Finish> {
        let headers: Vec<HeaderView> = record.headers.iter().map(header_view).collect();
        let size_bytes = record.key.as_ref().map_or(0, |k| k.len())
            + record.value.as_ref().map_or(0, |v| v.len())
            + record
                .headers
                .iter()
                .map(|h| h.key.len() + h.value.as_ref().map_or(0, |v| v.len()))
                .sum::<usize>();
        self.stats.scanned += 1;
        self.stats.bytes += size_bytes as u64;
        let key = record
            .key
            .as_ref()
            .map(|key| DecodedView::decode(&*self.job.key_decoder, key));
        let value = record
            .value
            .as_ref()
            .map(|value| DecodedView::decode(&*self.job.value_decoder, value));
        if !self.filter_matches(partition, &record, key.as_ref(), value.as_ref(), &headers)? {
            return Ok(());
        }
        let message = SearchMessage {
            partition,
            offset: record.offset,
            timestamp: record.timestamp,
            timestamp_type: match header.timestamp_type() {
                TimestampType::CreateTime => "CreateTime",
                TimestampType::LogAppendTime => "LogAppendTime",
            },
            key,
            value,
            headers,
            size_bytes,
            compression: compression_name(header.compression()),
            is_transactional: header.is_transactional(),
            producer_id: header.producer_id,
        };
        if self.backward {
            let wanted = (self.job.max - self.stats.matched) as usize;
            let page = self.pages.entry(partition).or_default();
            page.push_back(message);
            if page.len() > wanted {
                page.pop_front();
            }
            return Ok(());
        }
        self.emit(message)
    }

    /// Sends a backward page's matches, newest first.
    fn flush_page(&mut self, partition: i32) -> Result<(), Finish> {
        let Some(mut page) = self.pages.remove(&partition) else {
            return Ok(());
        };
        while let Some(message) = page.pop_back() {
            self.emit(message)?;
        }
        Ok(())
    }

    /// Sends one matching message; the search ends at `max`.
    fn emit(&mut self, message: SearchMessage) -> Result<(), Finish> {
        self.stats.matched += 1;
        let chunk = match self.job.output {
            Output::Events => OutputChunk::Event(
                Event::default()
                    .event("message")
                    .data(serde_json::to_string(&message).unwrap_or_default()),
            ),
            Output::Export(ExportFormat::Jsonl) => {
                let mut line = serde_json::to_vec(&message).unwrap_or_default();
                line.push(b'\n');
                OutputChunk::Bytes(Bytes::from(line))
            }
            Output::Export(ExportFormat::Csv) => {
                OutputChunk::Bytes(Bytes::from(csv_message(&message)))
            }
        };
        self.send(chunk)?;
        if self.stats.matched >= self.job.max {
            return Err(Finish::Done(DoneReason::MaxReached));
        }
        Ok(())
    }

    /// Whether the filter (if any) takes the record; fatal filter errors end
    /// the search.
    fn filter_matches(
        &mut self,
        partition: i32,
        record: &Record,
        key: Option<&DecodedView>,
        value: Option<&DecodedView>,
        headers: &[HeaderView],
    ) -> Result<bool, Finish> {
        let Some(filter) = self.filter.as_mut() else {
            return Ok(true);
        };
        let filter_headers: Vec<(String, Option<String>)> = headers
            .iter()
            .map(|h| (h.key.clone(), h.value.clone()))
            .collect();
        let key_json = json_for_filter(key, record.key.as_deref());
        let value_json = json_for_filter(value, record.value.as_deref());
        let input = FilterInput {
            key: filter_value(key, &key_json),
            value: filter_value(value, &value_json),
            headers: &filter_headers,
            partition,
            offset: record.offset,
            timestamp: record.timestamp,
        };
        match filter.matches(&input) {
            Ok(verdict) => Ok(verdict),
            Err(error) if error.is_per_message() => {
                self.stats.filter_errors += 1;
                let described = format!("partition {partition}, offset {}: {error}", record.offset);
                self.stats.last_filter_error = Some(described.clone());
                if self.stats.filter_errors >= FILTER_ERRORS_MAX {
                    return Err(Finish::Failed(
                        Problem::unprocessable(format!(
                            "the filter threw on {FILTER_ERRORS_MAX} messages; the search stopped. The last: {described}"
                        )),
                        DoneReason::FilterErrors,
                    ));
                }
                Ok(false)
            }
            Err(FilterError::Cancelled) => Err(Finish::Done(DoneReason::Cancelled)),
            Err(error @ (FilterError::MessageTimeLimit(_) | FilterError::TotalTimeLimit(_))) => {
                Err(Finish::Failed(
                    Problem::unprocessable(format!(
                        "{error} (at partition {partition}, offset {}); the search stopped",
                        record.offset
                    )),
                    DoneReason::TimeLimit,
                ))
            }
            Err(error) => Err(Finish::Failed(
                Problem::unprocessable(format!(
                    "{error} (at partition {partition}, offset {}); the search stopped",
                    record.offset
                )),
                DoneReason::Error,
            )),
        }
    }

    fn maybe_progress(&mut self) -> Result<(), Finish> {
        let due = self.stats.scanned - self.scanned_at_last_progress >= PROGRESS_EVERY_MESSAGES
            || self.last_progress.elapsed() >= PROGRESS_INTERVAL;
        if !due || self.job.output != Output::Events {
            return Ok(());
        }
        self.scanned_at_last_progress = self.stats.scanned;
        self.last_progress = Instant::now();
        let stats = self.snapshot();
        self.send(OutputChunk::Event(
            Event::default()
                .event("progress")
                .data(serde_json::to_string(&stats).unwrap_or_default()),
        ))
    }

    fn snapshot(&self) -> SearchStats {
        SearchStats {
            elapsed_ms: self.started.elapsed().as_millis() as u64,
            partitions: self.progress.values().cloned().collect(),
            ..self.stats.clone()
        }
    }

    /// Hands a chunk to the response; the client is gone when that fails.
    fn send(&self, chunk: OutputChunk) -> Result<(), Finish> {
        self.job
            .sink
            .blocking_send(chunk)
            .map_err(|_| Finish::Done(DoneReason::Cancelled))
    }

    fn finish(self, finish: Finish) {
        let (problem, reason) = match finish {
            Finish::Done(reason) => (None, reason),
            Finish::Failed(problem, reason) => (Some(problem), reason),
        };
        tracing::debug!(
            ?reason,
            scanned = self.stats.scanned,
            matched = self.stats.matched,
            "search ended"
        );
        if reason == DoneReason::Cancelled {
            return;
        }
        match (self.job.output, problem) {
            (Output::Events, problem) => {
                if let Some(problem) = problem {
                    let _ = self.send(OutputChunk::Event(
                        Event::default()
                            .event("error")
                            .data(serde_json::to_string(&problem).unwrap_or_default()),
                    ));
                }
                let done = SearchDone {
                    reason,
                    stats: self.snapshot(),
                };
                let _ = self.send(OutputChunk::Event(
                    Event::default()
                        .event("done")
                        .data(serde_json::to_string(&done).unwrap_or_default()),
                ));
            }
            (Output::Export(_), Some(problem)) => {
                let _ = self.send(OutputChunk::Failed(problem));
            }
            (Output::Export(_), None) => {}
        }
    }
}

fn header_view(header: &RecordHeader) -> HeaderView {
    match &header.value {
        None => HeaderView {
            key: header.key.clone(),
            value: None,
            value_encoding: "null",
        },
        Some(bytes) => match std::str::from_utf8(bytes) {
            Ok(text) => HeaderView {
                key: header.key.clone(),
                value: Some(text.to_string()),
                value_encoding: "text",
            },
            Err(_) => HeaderView {
                key: header.key.clone(),
                value: Some(decode::base64_encode(bytes)),
                value_encoding: "base64",
            },
        },
    }
}

/// JSON text for the filter when the decoded value has a parsed form:
/// the raw bytes when they are JSON, the serialised value for MessagePack.
fn json_for_filter(view: Option<&DecodedView>, raw: Option<&[u8]>) -> Option<String> {
    let view = view?;
    if view.error.is_some() {
        return None;
    }
    match view.encoding.as_str() {
        "json" => raw
            .and_then(|raw| std::str::from_utf8(raw).ok())
            .map(str::to_string),
        _ => view.json.as_ref().map(|json| json.to_string()),
    }
}

fn filter_value<'a>(view: Option<&'a DecodedView>, json: &'a Option<String>) -> FilterValue<'a> {
    match (view, json) {
        (None, _) => FilterValue::Null,
        (Some(_), Some(json)) => FilterValue::Json(json),
        (Some(view), None) => FilterValue::Text(&view.text),
    }
}

fn compression_name(compression: Compression) -> &'static str {
    match compression {
        Compression::None => "none",
        Compression::Gzip => "gzip",
        Compression::Snappy => "snappy",
        Compression::Lz4 => "lz4",
        Compression::Zstd => "zstd",
    }
}

// ---------------------------------------------------------------------------
// CSV (RFC 4180).

const CSV_COLUMNS: [&str; 11] = [
    "partition",
    "offset",
    "timestamp",
    "timestamp_type",
    "key",
    "value",
    "headers",
    "key_encoding",
    "value_encoding",
    "size_bytes",
    "compression",
];

fn csv_message(message: &SearchMessage) -> String {
    // A parsed value is written compact, one line; other text as it is.
    let text = |view: &Option<DecodedView>| match view {
        None => (String::new(), "null".to_string()),
        Some(view) => (
            view.json
                .as_ref()
                .map_or_else(|| view.text.clone(), |json| json.to_string()),
            view.encoding.clone(),
        ),
    };
    let (key, key_encoding) = text(&message.key);
    let (value, value_encoding) = text(&message.value);
    let headers = serde_json::to_string(&message.headers).unwrap_or_default();
    let mut row = String::new();
    csv_row(
        &mut row,
        &[
            message.partition.to_string(),
            message.offset.to_string(),
            message.timestamp.to_string(),
            message.timestamp_type.to_string(),
            key,
            value,
            headers,
            key_encoding,
            value_encoding,
            message.size_bytes.to_string(),
            message.compression.to_string(),
        ],
    );
    row
}

/// Appends one CSV row: fields with a comma, quote or line break are quoted,
/// quotes doubled; rows end with CRLF.
fn csv_row(out: &mut String, fields: &[String]) {
    for (index, field) in fields.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        if field.contains([',', '"', '\n', '\r']) {
            out.push('"');
            out.push_str(&field.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(field);
        }
    }
    out.push_str("\r\n");
}

// ---------------------------------------------------------------------------
// Produce.

/// How a produced key or value is given.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PayloadEncoding {
    /// UTF-8 text, stored as is.
    #[default]
    Text,
    /// JSON text, checked to be JSON and stored as given.
    Json,
    Base64,
    Hex,
}

/// Compression of a produced batch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CompressionName {
    #[default]
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl From<CompressionName> for Compression {
    fn from(name: CompressionName) -> Compression {
        match name {
            CompressionName::None => Compression::None,
            CompressionName::Gzip => Compression::Gzip,
            CompressionName::Snappy => Compression::Snappy,
            CompressionName::Lz4 => Compression::Lz4,
            CompressionName::Zstd => Compression::Zstd,
        }
    }
}

/// A header of a produced record.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProduceHeader {
    pub key: String,
    /// UTF-8 text; null for a null value.
    pub value: Option<String>,
}

/// A record to produce.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProduceMessage {
    /// The partition; when absent, chosen from the key like Kafka's Java
    /// producer (murmur2), or in turn for a null key.
    pub partition: Option<i32>,
    /// Null for a null key.
    pub key: Option<String>,
    /// Null for a null value (a tombstone on a compacted topic).
    pub value: Option<String>,
    #[serde(default)]
    pub key_encoding: PayloadEncoding,
    #[serde(default)]
    pub value_encoding: PayloadEncoding,
    /// In order; keys may repeat.
    #[serde(default)]
    pub headers: Vec<ProduceHeader>,
    #[serde(default)]
    pub compression: CompressionName,
    /// CreateTime in ms since the epoch; now when absent.
    #[schema(minimum = 0)]
    pub timestamp: Option<i64>,
}

/// Where a produced record went.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Produced {
    pub partition: i32,
    pub offset: i64,
    /// The record's timestamp (the broker's when the topic uses LogAppendTime).
    pub timestamp: i64,
}

/// Produces one record (acks=all).
#[utoipa::path(post, path = "/api/v1/clusters/{cluster}/topics/{topic}/messages", tag = "messages",
    params(
        ("cluster" = String, Path, description = "Cluster name"),
        ("topic" = String, Path, description = "Topic name"),
    ),
    request_body = ProduceMessage,
    responses(
        (status = 201, description = "Produced", body = Produced),
        (status = 400, description = "Malformed body", body = Problem),
        (status = 404, description = "No such cluster or topic", body = Problem),
        (status = 422, description = "Bad key, value, headers or partition, or a record the broker refuses (MESSAGE_TOO_LARGE, ...)", body = Problem),
        (status = 502, description = "The cluster failed", body = Problem),
        (status = 503, description = "The partition has no leader", body = Problem),
    ))]
pub async fn produce_message(
    State(state): State<AppState>,
    Path((cluster, topic_name)): Path<(String, String)>,
    Json(message): Json<ProduceMessage>,
) -> ApiResult<(StatusCode, Json<Produced>)> {
    let client = state.cluster(&cluster)?;
    let record = build_record(&message)?;
    let metadata = client.topic_metadata(&[&topic_name]).await?;
    let topic = metadata
        .topic(&topic_name)
        .ok_or_else(|| Problem::not_found(format!("topic '{topic_name}' does not exist")))?;
    let partition_count = topic.partitions.len();
    if partition_count == 0 {
        return Err(Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("topic '{topic_name}' has no partitions yet"),
        ));
    }
    let partition = match (message.partition, &record.key) {
        (Some(partition), _) => {
            if !topic.partitions.iter().any(|p| p.partition == partition) {
                return Err(Problem::unprocessable(format!(
                    "topic '{topic_name}' has no partition {partition} (it has {partition_count})"
                )));
            }
            partition
        }
        (None, Some(key)) => partition_for_key(key, partition_count),
        (None, None) => {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            (NEXT.fetch_add(1, Ordering::Relaxed) % partition_count) as i32
        }
    };
    let compression = Compression::from(message.compression);
    let params = BatchBuilderParams {
        compression,
        ..Default::default()
    };
    let batch = takhin_storage::batch::encode_batch(&params, std::slice::from_ref(&record))
        .map_err(|error| Problem::unprocessable(format!("cannot encode the record: {error}")))?
        .freeze();
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(PRODUCE_TIMEOUT_MS)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_string(topic_name.clone())))
                .with_topic_id(topic.topic_id)
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(partition)
                        .with_records(Some(batch)),
                ]),
        ]);
    let mut attempt = 0;
    let answer = loop {
        attempt += 1;
        let leader = client.leader(&topic_name, partition).await?;
        let response = client.send_to(leader, &request).await?;
        let answer = response
            .responses
            .into_iter()
            .flat_map(|topic| topic.partition_responses)
            .find(|answer| answer.index == partition)
            .ok_or_else(|| {
                Problem::new(
                    StatusCode::BAD_GATEWAY,
                    "the broker's produce response names no partition",
                )
            })?;
        if LEADER_CHANGED_CODES.contains(&answer.error_code) && attempt < 3 {
            client.invalidate_metadata();
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        break answer;
    };
    if answer.error_code != 0 {
        return Err(ClientError::kafka_with_message(
            answer.error_code,
            format!("producing to {topic_name}-{partition}"),
            answer.error_message.as_ref(),
        )
        .into());
    }
    Ok((
        StatusCode::CREATED,
        Json(Produced {
            partition,
            offset: answer.base_offset,
            timestamp: if answer.log_append_time_ms >= 0 {
                answer.log_append_time_ms
            } else {
                record.timestamp
            },
        }),
    ))
}

/// The record of a produce request, every field checked.
fn build_record(message: &ProduceMessage) -> Result<Record, Problem> {
    let key = encode_payload("key", message.key.as_deref(), message.key_encoding)?;
    let value = encode_payload("value", message.value.as_deref(), message.value_encoding)?;
    if message.headers.len() > PRODUCE_HEADERS_MAX {
        return Err(Problem::unprocessable(format!(
            "{} headers; at most {PRODUCE_HEADERS_MAX} are allowed",
            message.headers.len()
        )));
    }
    let headers: Vec<RecordHeader> = message
        .headers
        .iter()
        .map(|header| RecordHeader {
            key: header.key.clone(),
            value: header
                .value
                .as_ref()
                .map(|v| Bytes::copy_from_slice(v.as_bytes())),
        })
        .collect();
    let size = key.as_ref().map_or(0, |k| k.len())
        + value.as_ref().map_or(0, |v| v.len())
        + headers
            .iter()
            .map(|h| h.key.len() + h.value.as_ref().map_or(0, |v| v.len()))
            .sum::<usize>();
    if size > PRODUCE_RECORD_MAX_BYTES {
        return Err(Problem::unprocessable(format!(
            "the record is {size} bytes (key, value and headers); at most {PRODUCE_RECORD_MAX_BYTES} are allowed"
        )));
    }
    let timestamp = match message.timestamp {
        Some(timestamp) if timestamp < 0 => {
            return Err(Problem::unprocessable(format!(
                "timestamp must not be negative, not {timestamp}"
            )));
        }
        Some(timestamp) => timestamp,
        None => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64),
    };
    Ok(Record {
        offset: 0,
        timestamp,
        key,
        value,
        headers,
    })
}

fn encode_payload(
    what: &str,
    payload: Option<&str>,
    encoding: PayloadEncoding,
) -> Result<Option<Bytes>, Problem> {
    let Some(payload) = payload else {
        return Ok(None);
    };
    let bytes = match encoding {
        PayloadEncoding::Text => payload.as_bytes().to_vec(),
        PayloadEncoding::Json => {
            serde_json::from_str::<serde::de::IgnoredAny>(payload).map_err(|error| {
                Problem::unprocessable(format!("the {what} is not valid JSON: {error}"))
            })?;
            payload.as_bytes().to_vec()
        }
        PayloadEncoding::Base64 => decode::base64_decode(payload).map_err(|error| {
            Problem::unprocessable(format!("the {what} is not valid base64: {error}"))
        })?,
        PayloadEncoding::Hex => decode::hex_decode(payload).map_err(|error| {
            Problem::unprocessable(format!("the {what} is not valid hex: {error}"))
        })?,
    };
    Ok(Some(Bytes::from(bytes)))
}

/// Kafka's `Utils.murmur2`: the hash its Java producer partitions keys by.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h = SEED ^ (data.len() as u32);
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition Kafka's default partitioner picks for a non-null key.
pub fn partition_for_key(key: &[u8], partitions: usize) -> i32 {
    ((murmur2(key) & 0x7fff_ffff) as usize % partitions.max(1)) as i32
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use bytes::BytesMut;

    #[test]
    fn murmur2_matches_kafkas_utils_test() {
        // From Kafka's UtilsTest.testMurmur2.
        let cases: [(&[u8], i32); 6] = [
            (b"21", -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            (b"abc", 479_470_107),
        ];
        for (data, expected) in cases {
            assert_eq!(murmur2(data), expected, "{}", String::from_utf8_lossy(data));
        }
        assert_eq!(
            partition_for_key(b"21", 3),
            ((-973_932_308i32 & 0x7fff_ffff) % 3)
        );
    }

    #[test]
    fn newest_window_shares_evenly_and_passes_on_unused_shares() {
        assert_eq!(newest_window(&[100, 100, 100], 30), vec![10, 10, 10]);
        assert_eq!(newest_window(&[2, 100, 100], 30), vec![2, 14, 14]);
        assert_eq!(newest_window(&[0, 0], 30), vec![0, 0]);
        assert_eq!(newest_window(&[5, 5], 30), vec![5, 5]);
        assert_eq!(newest_window(&[100, 100, 100], 2).iter().sum::<u64>(), 2);
        assert_eq!(newest_window(&[], 5), Vec::<u64>::new());
    }

    #[test]
    fn csv_quotes_what_needs_quoting() {
        let mut row = String::new();
        csv_row(
            &mut row,
            &["a".into(), "b,c".into(), "say \"hi\"".into(), "x\ny".into()],
        );
        assert_eq!(row, "a,\"b,c\",\"say \"\"hi\"\"\",\"x\ny\"\r\n");
    }

    #[test]
    fn payload_encodings_are_checked() {
        assert_eq!(
            encode_payload("key", Some("00ff"), PayloadEncoding::Hex).unwrap(),
            Some(Bytes::from_static(&[0, 0xff]))
        );
        assert!(encode_payload("key", Some("0g"), PayloadEncoding::Hex).is_err());
        assert!(encode_payload("key", Some("@@"), PayloadEncoding::Base64).is_err());
        assert!(encode_payload("key", Some("{"), PayloadEncoding::Json).is_err());
        assert_eq!(
            encode_payload("key", None, PayloadEncoding::Json).unwrap(),
            None
        );
    }

    /// A search thread over batches with offset gaps (as compaction leaves
    /// them) and a start inside a batch.
    #[test]
    fn scanning_handles_offset_gaps_and_bounds() {
        let record = |offset: i64| Record {
            offset,
            timestamp: 1,
            key: None,
            value: Some(Bytes::from(format!("{{\"o\":{offset}}}"))),
            headers: vec![],
        };
        let batch = |base_offset: i64, offsets: &[i64]| {
            let params = BatchBuilderParams {
                base_offset,
                compression: Compression::Gzip,
                ..Default::default()
            };
            let records: Vec<Record> = offsets.iter().map(|&o| record(o)).collect();
            takhin_storage::batch::encode_batch(&params, &records).unwrap()
        };
        let mut fetched = BytesMut::new();
        fetched.extend_from_slice(&batch(10, &[10, 12, 15]));
        fetched.extend_from_slice(&batch(20, &[20, 21, 24]));
        assert_eq!(next_position(&fetched), Some(25));

        let (_fetched_tx, fetched_rx) = mpsc::channel(1);
        let (sink_tx, mut sink_rx) = mpsc::channel(16);
        let job = SearchJob {
            ranges: vec![PartitionRange {
                partition: 0,
                leader: 1,
                start: 11,
                end: Some(24),
                backward_floor: None,
            }],
            max: 100,
            output: Output::Export(ExportFormat::Jsonl),
            key_decoder: DecoderRegistry::builtin().get("auto").unwrap(),
            value_decoder: DecoderRegistry::builtin().get("auto").unwrap(),
            fetched: fetched_rx,
            sink: sink_tx,
        };
        let mut worker = SearchWorker::new(job, None, Cancel::default());
        assert!(worker.scan(0, &fetched, 11, Some(24)).is_ok());
        let mut offsets = Vec::new();
        while let Ok(OutputChunk::Bytes(line)) = sink_rx.try_recv() {
            let message: serde_json::Value = serde_json::from_slice(&line).unwrap();
            assert_eq!(message["value"]["json"]["o"], message["offset"]);
            assert_eq!(message["compression"], "gzip");
            offsets.push(message["offset"].as_i64().unwrap());
        }
        assert_eq!(offsets, vec![12, 15, 20, 21]);
        assert_eq!(worker.stats.scanned, 4);
    }

    #[test]
    fn next_position_ignores_a_trailing_partial_batch() {
        let record = |offset| Record {
            offset,
            timestamp: 0,
            key: None,
            value: Some(Bytes::from_static(b"v")),
            headers: vec![],
        };
        let params = BatchBuilderParams {
            base_offset: 10,
            ..Default::default()
        };
        let batch =
            takhin_storage::batch::encode_batch(&params, &[record(10), record(11)]).unwrap();
        let mut two = BytesMut::new();
        two.extend_from_slice(&batch);
        assert_eq!(next_position(&two), Some(12));
        two.extend_from_slice(&batch[..batch.len() - 1]);
        assert_eq!(next_position(&two), Some(12));
        assert_eq!(next_position(&batch[..20]), None);
    }
}
