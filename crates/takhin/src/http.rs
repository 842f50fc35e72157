//! The HTTP server on `http.addr`: health endpoints for orchestrators now;
//! the console, REST API and metrics join it later.
//!
//! - `GET /api/health/live`: 200 while the process serves HTTP.
//! - `GET /api/health/ready`: 200 once the broker accepts Kafka connections,
//!   503 before that and while shutting down.
//! - `GET /api/health`: a JSON summary (status, version, uptime).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use serde_json::json;
use tokio::sync::watch;

#[derive(Clone)]
pub struct Health {
    pub ready: Arc<AtomicBool>,
    pub started_at: Instant,
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

pub async fn serve(
    addr: SocketAddr,
    health: Health,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/api/health", get(summary))
        .route("/api/health/live", get(live))
        .route("/api/health/ready", get(ready))
        .with_state(health);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(addr = %listener.local_addr()?, "HTTP listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = shutdown.changed().await;
        })
        .await
}
