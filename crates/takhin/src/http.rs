//! The HTTP server on `http.addr`: health endpoints for orchestrators,
//! Prometheus metrics, the console's REST API and its web UI.
//!
//! - `GET /api/health/live`: 200 while the process serves HTTP.
//! - `GET /api/health/ready`: 200 once the broker accepts Kafka connections,
//!   503 before that and while shutting down.
//! - `GET /api/health`: a JSON summary (status, version, uptime).
//! - `GET /metrics`: Prometheus metrics, text format 0.0.4 (every metric is in
//!   docs/operations.md). Before the broker has opened its data directory,
//!   only the process and build metrics.
//! - `/api/v1/**`, `/api/docs`: the console's REST API (crate
//!   `takhin-console`), when `console.enabled`.
//! - anything else: the web console's files (see `web.rs`).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::Json;
use axum::Router;
use axum::extract::Request;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use takhin_broker::Broker;
use tokio::sync::watch;
use tower::ServiceExt;

/// The console's router once it can serve: under `takhin serve` the local
/// cluster's address is known only after the broker has bound its port.
pub type ConsoleSlot = Arc<OnceLock<Router>>;

#[derive(Clone)]
pub struct Health {
    pub ready: Arc<AtomicBool>,
    pub started_at: Instant,
    /// Set once the broker has opened its data directory; `/metrics` reads it.
    pub broker: Arc<OnceLock<Arc<Broker>>>,
    /// `None` when the console is disabled (`console.enabled=false`).
    pub console: Option<ConsoleSlot>,
    /// False under `takhin console`: no broker runs in this process.
    pub serves_kafka: bool,
    /// The console's request metrics, rendered after the broker's.
    pub console_metrics: Option<Arc<takhin_console::metrics::ConsoleMetrics>>,
}

/// Whether `path` is the console's: its REST API and API docs.
fn is_console_path(path: &str) -> bool {
    path == "/api/v1" || path.starts_with("/api/v1/") || path == "/api/docs"
}

/// Hands console paths to the console; everything else goes on to routing.
async fn console_first(State(health): State<Health>, request: Request, next: Next) -> Response {
    if health.console.is_none() || !is_console_path(request.uri().path()) {
        return next.run(request).await;
    }
    console(&health, request).await
}

/// Answers with the console, or 503 while it waits for the broker it manages.
async fn console(health: &Health, request: Request) -> Response {
    match health.console.as_ref().and_then(|slot| slot.get()) {
        Some(router) => match router.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        },
        None => {
            let body = json!({
                "type": "about:blank",
                "title": "Service Unavailable",
                "status": 503,
                "detail": "the console starts once the broker has opened its data directory",
            });
            let mut response = (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/problem+json"),
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            response
        }
    }
}

async fn live() -> StatusCode {
    StatusCode::OK
}

async fn ready(State(health): State<Health>) -> StatusCode {
    if health.ready.load(Ordering::Acquire) {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

async fn summary(State(health): State<Health>) -> (StatusCode, Json<serde_json::Value>) {
    let ready = health.ready.load(Ordering::Acquire);
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut components = serde_json::Map::new();
    if health.serves_kafka {
        components.insert("kafka".into(), json!(if ready { "up" } else { "down" }));
    }
    if let Some(slot) = &health.console {
        components.insert(
            "console".into(),
            json!(if slot.get().is_some() {
                "up"
            } else {
                "starting"
            }),
        );
    }
    (
        status,
        Json(json!({
            "status": if ready { "up" } else { "starting" },
            "version": env!("CARGO_PKG_VERSION"),
            "uptime_seconds": health.started_at.elapsed().as_secs(),
            "components": components,
        })),
    )
}

async fn metrics(
    State(health): State<Health>,
) -> (StatusCode, [(header::HeaderName, &'static str); 1], String) {
    let content_type = [(header::CONTENT_TYPE, takhin_broker::metrics::CONTENT_TYPE)];
    let console = health
        .console_metrics
        .as_ref()
        .map(|metrics| metrics.render())
        .unwrap_or_default();
    let Some(broker) = health.broker.get().cloned() else {
        return (
            StatusCode::OK,
            content_type,
            takhin_broker::metrics::render_process() + &console,
        );
    };
    // Reading every partition (and /proc) takes a while on a large broker: off the async workers.
    match tokio::task::spawn_blocking(move || broker.metrics.render(&broker)).await {
        Ok(body) => (StatusCode::OK, content_type, body + &console),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            content_type,
            format!("# rendering metrics failed: {e}\n"),
        ),
    }
}

pub async fn serve(
    addr: SocketAddr,
    health: Health,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/api/health", get(summary))
        .route("/api/health/live", get(live))
        .route("/api/health/ready", get(ready))
        .route("/metrics", get(metrics));
    // The console is dispatched before routing (so its own router sees the
    // request untouched, without this router's path parameters).
    let app = app
        .with_state(health.clone())
        .merge(crate::web::router())
        .layer(middleware::from_fn_with_state(health, console_first));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(addr = %listener.local_addr()?, "HTTP listening");
    // Connection info lets the console's audit log name the client address.
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        let _ = shutdown.changed().await;
    })
    .await
}
