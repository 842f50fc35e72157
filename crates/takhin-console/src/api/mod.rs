//! The REST API under `/api/v1`.
//!
//! Each resource is a module with its handlers, a `routes()` function and an
//! OpenAPI `Doc`; [`router`] mounts them all and [`openapi`] merges their
//! documents into the one served at `/api/v1/openapi.json` (and checked in
//! at `crates/takhin-console/openapi.json`; a test fails when they differ).
//!
//! Every handler is scoped by cluster (`/api/v1/clusters/{cluster}/...`),
//! validates its input before talking to the cluster, and answers errors as
//! [`problem::Problem`]s.

pub mod auth;
pub mod cluster;
pub mod docs;
pub mod extract;
pub mod groups;
pub mod messages;
pub mod problem;
pub mod topics;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use utoipa::OpenApi;

use crate::ConsoleConfig;
use crate::client::{ClientConfig, KafkaClient};
use problem::Problem;

/// Shared state of all handlers.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<StateInner>,
}

struct StateInner {
    clusters: BTreeMap<String, Arc<KafkaClient>>,
    /// Cluster names in configuration order; the first is the default.
    order: Vec<String>,
    /// Throughput history of the clusters that have a source.
    throughput: BTreeMap<String, Arc<crate::throughput::History>>,
    /// Storage-health sources of the clusters that have one.
    storage_health: BTreeMap<String, Arc<dyn crate::storage_health::StorageHealthSource>>,
    started_at: std::time::Instant,
    auth: crate::auth::Authenticator,
    audit: crate::audit::AuditLog,
}

impl AppState {
    pub fn new(config: &ConsoleConfig) -> AppState {
        let mut clusters = BTreeMap::new();
        let mut order = Vec::new();
        let mut throughput = BTreeMap::new();
        let mut storage_health = BTreeMap::new();
        for cluster in &config.clusters {
            clusters.insert(
                cluster.name.clone(),
                Arc::new(KafkaClient::new(ClientConfig::new(
                    cluster.bootstrap_servers.clone(),
                ))),
            );
            order.push(cluster.name.clone());
            if let Some(source) = &cluster.throughput {
                let history = Arc::new(crate::throughput::History::new(source.clone()));
                crate::throughput::spawn_sampler(&history);
                throughput.insert(cluster.name.clone(), history);
            }
            if let Some(source) = &cluster.storage_health {
                storage_health.insert(cluster.name.clone(), source.clone());
            }
        }
        AppState {
            inner: Arc::new(StateInner {
                clusters,
                order,
                throughput,
                storage_health,
                started_at: std::time::Instant::now(),
                auth: crate::auth::Authenticator::new(&config.auth),
                audit: open_audit_log(config),
            }),
        }
    }

    /// The client of cluster `name`, or 404.
    pub fn cluster(&self, name: &str) -> Result<Arc<KafkaClient>, Problem> {
        self.inner
            .clusters
            .get(name)
            .cloned()
            .ok_or_else(|| Problem::not_found(format!("no cluster named '{name}' is configured")))
    }

    /// Configured clusters in order, the default first.
    pub fn clusters(&self) -> impl Iterator<Item = (&str, &Arc<KafkaClient>)> {
        self.inner.order.iter().filter_map(|name| {
            self.inner
                .clusters
                .get(name)
                .map(|client| (name.as_str(), client))
        })
    }

    /// The throughput history of cluster `name`, if it has a source.
    pub fn throughput(&self, name: &str) -> Option<&Arc<crate::throughput::History>> {
        self.inner.throughput.get(name)
    }

    /// The storage-health source of cluster `name`, if it has one.
    pub fn storage_health(
        &self,
        name: &str,
    ) -> Option<&Arc<dyn crate::storage_health::StorageHealthSource>> {
        self.inner.storage_health.get(name)
    }

    pub fn uptime(&self) -> std::time::Duration {
        self.inner.started_at.elapsed()
    }

    pub fn auth(&self) -> &crate::auth::Authenticator {
        &self.inner.auth
    }

    pub fn audit(&self) -> &crate::audit::AuditLog {
        &self.inner.audit
    }
}

/// The audit log of `config`; without its file (loudly) when the file
/// cannot be opened, which [`ConsoleConfig::validate`] checks up front.
fn open_audit_log(config: &ConsoleConfig) -> crate::audit::AuditLog {
    let Some(path) = &config.audit_log else {
        return crate::audit::AuditLog::in_memory();
    };
    crate::audit::AuditLog::with_file(path).unwrap_or_else(|error| {
        tracing::error!(path = %path.display(), %error, "cannot open the audit log; auditing to the tracing log only");
        crate::audit::AuditLog::in_memory()
    })
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Takhin Console API",
        description = "Operate any Kafka-compatible cluster: topics, messages, consumer groups, configs.",
        license(name = "Apache-2.0")
    ),
    components(schemas(Problem))
)]
struct BaseDoc;

/// The whole OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = BaseDoc::openapi();
    doc.merge(cluster::Doc::openapi());
    doc.merge(topics::Doc::openapi());
    doc.merge(groups::Doc::openapi());
    doc.merge(messages::Doc::openapi());
    doc.merge(auth::Doc::openapi());
    auth::document_security(&mut doc);
    problem::document_errors(&mut doc);
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    doc
}

/// The OpenAPI document as checked in: pretty JSON with a final newline.
pub fn openapi_json_pretty() -> String {
    let mut json = openapi().to_pretty_json().unwrap_or_default();
    json.push('\n');
    json
}

async fn openapi_json() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(openapi())
}

async fn not_found() -> Problem {
    Problem::not_found("no such API endpoint")
}

/// API requests served at once; more wait up to [`REQUEST_QUEUE_WAIT`],
/// then get 503. Each holds a few Kafka requests' worth of memory at most.
pub const REQUESTS_CONCURRENT_MAX: usize = 256;
/// How long a request waits for a free slot before 503.
pub const REQUEST_QUEUE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);
/// Largest request body accepted (a produced record of 1 MiB, base64-encoded,
/// fits).
pub const REQUEST_BODY_BYTES_MAX: usize = 2 * 1024 * 1024;

/// Bounds the requests in progress (see [`REQUESTS_CONCURRENT_MAX`]). The
/// slot is held until the response head is ready; long searches have their
/// own bound.
async fn limit_concurrency(
    axum::extract::State(slots): axum::extract::State<Arc<tokio::sync::Semaphore>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let permit = tokio::time::timeout(REQUEST_QUEUE_WAIT, slots.acquire_owned()).await;
    let Ok(Ok(_permit)) = permit else {
        let mut response = Problem::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            format!("the console is serving {REQUESTS_CONCURRENT_MAX} requests; retry shortly"),
        )
        .into_response();
        response.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from_static("1"),
        );
        return response;
    };
    next.run(request).await
}

/// Counts each request by its route template and status (outermost, so
/// refusals by the other layers count too).
async fn record_metrics(
    axum::extract::State(metrics): axum::extract::State<Arc<crate::metrics::ConsoleMetrics>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let started = std::time::Instant::now();
    let method = request.method().as_str().to_string();
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|path| path.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let response = next.run(request).await;
    metrics.record(
        &method,
        &route,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

/// The console's routes: `/api/v1/...`.
pub fn router(config: ConsoleConfig) -> Router {
    let state = AppState::new(&config);
    let slots = Arc::new(tokio::sync::Semaphore::new(REQUESTS_CONCURRENT_MAX));
    let v1 = Router::new()
        .route("/openapi.json", get(openapi_json))
        .merge(cluster::routes())
        .merge(topics::routes())
        .merge(groups::routes())
        .merge(messages::routes())
        .merge(auth::routes())
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::guard,
        ))
        .layer(axum::middleware::from_fn_with_state(
            slots,
            limit_concurrency,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(REQUEST_BODY_BYTES_MAX))
        .layer(axum::middleware::from_fn_with_state(
            config.metrics.clone(),
            record_metrics,
        ))
        .with_state(state);
    Router::new().nest("/api/v1", v1)
}
