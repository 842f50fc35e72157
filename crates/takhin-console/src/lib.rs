//! Takhin's console backend: a REST API for operating any Kafka cluster.
//!
//! The console reaches clusters only through the Kafka protocol ([`client`]),
//! so it manages Apache Kafka as well as Takhin. [`api`] is the HTTP layer:
//! axum handlers under `/api/v1`, errors as RFC 9457 problem details, and an
//! OpenAPI document generated from the handlers ([`api::ApiDoc`]), checked in
//! at `crates/takhin-console/openapi.json`.
//!
//! ```no_run
//! # async fn demo() {
//! use takhin_console::{ClusterConfig, ConsoleConfig};
//! let config = ConsoleConfig::single(ClusterConfig::new("local", vec!["localhost:9092".into()]));
//! let router = takhin_console::router(config);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await.unwrap();
//! axum::serve(listener, router).await.unwrap();
//! # }
//! ```

pub mod api;
pub mod client;

pub use api::{AppState, router};

/// One cluster the console manages.
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    /// The name used in URLs (`/api/v1/clusters/{name}/...`).
    pub name: String,
    pub bootstrap_servers: Vec<String>,
}

impl ClusterConfig {
    pub fn new(name: impl Into<String>, bootstrap_servers: Vec<String>) -> ClusterConfig {
        ClusterConfig {
            name: name.into(),
            bootstrap_servers,
        }
    }
}

/// Everything the console needs to run.
#[derive(Clone, Debug)]
pub struct ConsoleConfig {
    /// The clusters, the first being the default.
    pub clusters: Vec<ClusterConfig>,
}

impl ConsoleConfig {
    pub fn single(cluster: ClusterConfig) -> ConsoleConfig {
        ConsoleConfig {
            clusters: vec![cluster],
        }
    }
}
