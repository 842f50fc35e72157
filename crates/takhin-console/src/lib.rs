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
pub mod audit;
pub mod auth;
pub mod client;
pub mod decode;
pub mod filter;
pub mod metrics;
pub mod storage_health;
pub mod throughput;

use std::path::PathBuf;

pub use api::{AppState, router};

/// One cluster the console manages.
#[derive(Clone)]
pub struct ClusterConfig {
    /// The name used in URLs (`/api/v1/clusters/{name}/...`).
    pub name: String,
    pub bootstrap_servers: Vec<String>,
    /// Where throughput counters come from, if anywhere (see [`throughput`]).
    pub throughput: Option<std::sync::Arc<dyn throughput::ThroughputSource>>,
    /// Where damaged data and offline logs are read from, if anywhere (see
    /// [`storage_health`]).
    pub storage_health: Option<std::sync::Arc<dyn storage_health::StorageHealthSource>>,
}

impl std::fmt::Debug for ClusterConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterConfig")
            .field("name", &self.name)
            .field("bootstrap_servers", &self.bootstrap_servers)
            .field("throughput", &self.throughput.is_some())
            .field("storage_health", &self.storage_health.is_some())
            .finish()
    }
}

impl ClusterConfig {
    pub fn new(name: impl Into<String>, bootstrap_servers: Vec<String>) -> ClusterConfig {
        ClusterConfig {
            name: name.into(),
            bootstrap_servers,
            throughput: None,
            storage_health: None,
        }
    }
}

/// Everything the console needs to run.
#[derive(Clone, Debug)]
pub struct ConsoleConfig {
    /// The clusters, the first being the default.
    pub clusters: Vec<ClusterConfig>,
    /// Who may use the API; disabled by default (see [`auth`]).
    pub auth: auth::AuthConfig,
    /// The file mutating calls are appended to as JSON lines (see
    /// [`audit`]); without it they are only traced and kept in memory.
    pub audit_log: Option<PathBuf>,
    /// Where the API's request metrics go (see [`metrics`]); the process
    /// renders them at `/metrics`.
    pub metrics: std::sync::Arc<metrics::ConsoleMetrics>,
}

impl ConsoleConfig {
    /// One cluster, authentication disabled, no audit file.
    pub fn single(cluster: ClusterConfig) -> ConsoleConfig {
        ConsoleConfig {
            clusters: vec![cluster],
            auth: auth::AuthConfig::default(),
            audit_log: None,
            metrics: std::sync::Arc::default(),
        }
    }

    /// Checks what [`router`] cannot refuse: the authentication settings,
    /// and that the audit log can be opened for appending (creating it).
    /// Call it before serving; [`router`] fails closed on invalid
    /// authentication settings and logs an error for an unwritable audit
    /// log.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.auth.validate()?;
        if let Some(path) = &self.audit_log {
            audit::open_append(path).map_err(|source| ConfigError::AuditLog {
                path: path.clone(),
                source,
            })?;
        }
        Ok(())
    }
}

/// A console configuration that cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("console authentication: {0}")]
    Auth(#[from] auth::AuthConfigError),
    #[error("cannot open the audit log {}: {source}", path.display())]
    AuditLog {
        path: PathBuf,
        source: std::io::Error,
    },
}
