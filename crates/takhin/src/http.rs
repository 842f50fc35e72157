//! The HTTP server on `http.addr`: health endpoints for orchestrators now;
//! the console, REST API and metrics join it later.
//!
//! - `GET /api/health/live`: 200 while the process serves HTTP.
//! - `GET /api/health/ready`: 200 once the broker accepts Kafka connections,
//!   503 before that and while shutting down.
//! - `GET /api/health`: a JSON summary (status, version, uptime).
//! - `GET /metrics`: Prometheus metrics, text format 0.0.4 (every metric is in
//!   docs/operations.md). Before the broker has opened its data directory,
//!   only the process and build metrics.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::routing::get;
use serde_json::json;
use takhin_broker::Broker;
use tokio::sync::watch;

#[derive(Clone)]
pub struct Health {
    pub ready: Arc<AtomicBool>,
    pub started_at: Instant,
    /// Set once the broker has opened its data directory; `/metrics` reads it.
    pub broker: Arc<OnceLock<Arc<Broker>>>,
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
    (
        status,
        Json(json!({
            "status": if ready { "up" } else { "starting" },
            "version": env!("CARGO_PKG_VERSION"),
            "uptime_seconds": health.started_at.elapsed().as_secs(),
            "components": { "kafka": if ready { "up" } else { "down" } },
        })),
    )
}

async fn metrics(
    State(health): State<Health>,
) -> (StatusCode, [(header::HeaderName, &'static str); 1], String) {
    let content_type = [(header::CONTENT_TYPE, takhin_broker::metrics::CONTENT_TYPE)];
    let Some(broker) = health.broker.get().cloned() else {
        return (
            StatusCode::OK,
            content_type,
            takhin_broker::metrics::render_process(),
        );
    };
    // Reading every partition (and /proc) takes a while on a large broker: off the async workers.
    match tokio::task::spawn_blocking(move || broker.metrics.render(&broker)).await {
        Ok(body) => (StatusCode::OK, content_type, body),
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
        .route("/metrics", get(metrics))
        .with_state(health)
        .merge(crate::web::router());
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(addr = %listener.local_addr()?, "HTTP listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = shutdown.changed().await;
        })
        .await
}
