//! `takhin`: a Kafka-compatible broker in one native binary.
//!
//! ```text
//! takhin serve [--config FILE] [--data-dir DIR] [--kafka-addr HOST:PORT]
//!              [--advertised-kafka-addr HOST:PORT] [--http-addr HOST:PORT] [--node-id N]
//! takhin console --brokers HOST:PORT[,...] [--name NAME] [--http-addr HOST:PORT] [--config FILE]
//! ```

mod console_settings;
mod http;
mod settings;
mod web;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, Subcommand};
use takhin_broker::BrokerConfig;
use tokio::sync::{oneshot, watch};
use tracing::{error, info, warn};

#[derive(Parser)]
#[command(
    name = "takhin",
    version,
    about = "A Kafka-compatible streaming platform in one binary"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a broker: Kafka API, HTTP (console, REST API, metrics, health), data on local disk.
    Serve(ServeArgs),
    /// Run only the console (web UI and REST API) against any Kafka cluster.
    Console(ConsoleArgs),
    /// Print the argon2 hash of a console password read from standard input,
    /// for `console.auth.users.<name>: admin:<hash>`.
    HashPassword,
    /// Make a new console API key: prints the key (give it to the client)
    /// and the setting that lets it in (only its hash is stored).
    NewApiKey {
        /// The key's name in the audit log.
        #[arg(long, default_value = "api")]
        name: String,
        /// admin or read-only.
        #[arg(long, default_value = "read-only")]
        role: String,
    },
}

/// `takhin hash-password`: one line of standard input, hashed.
fn hash_password() -> anyhow::Result<()> {
    let mut password = String::new();
    std::io::stdin()
        .read_line(&mut password)
        .context("reading the password from standard input")?;
    let password = password.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        anyhow::bail!(
            "give the password on standard input, e.g. `read -rs P; echo \"$P\" | takhin hash-password`"
        );
    }
    let hash = takhin_console::auth::hash_password(password)
        .map_err(|e| anyhow::anyhow!("hashing the password: {e}"))?;
    println!("{hash}");
    Ok(())
}

/// `takhin new-api-key`.
fn new_api_key(name: &str, role: &str) -> anyhow::Result<()> {
    if role != "admin" && role != "read-only" {
        anyhow::bail!("--role must be admin or read-only, not {role:?}");
    }
    takhin_console::auth::check_name(name).map_err(|reason| anyhow::anyhow!("--name: {reason}"))?;
    let key = takhin_console::auth::generate_api_key()
        .map_err(|e| anyhow::anyhow!("generating a key: {e}"))?;
    let hash = takhin_console::auth::hash_api_key(&key);
    println!("key (send as X-API-Key; shown only now): {key}");
    println!("setting: console.auth.api-keys.{name}: \"{role}:{hash}\"");
    Ok(())
}

#[derive(clap::Args)]
struct ConsoleArgs {
    /// Bootstrap servers of the cluster to manage.
    #[arg(
        long,
        value_name = "HOST:PORT[,...]",
        value_delimiter = ',',
        required = true
    )]
    brokers: Vec<String>,
    /// The cluster's name in the console and its URLs.
    #[arg(long, value_name = "NAME", default_value = "default")]
    name: String,
    /// HTTP listen address.
    #[arg(long, value_name = "HOST:PORT", default_value = "0.0.0.0:8080")]
    http_addr: std::net::SocketAddr,
    /// YAML settings file; only its `console.*` and `log.*` settings apply.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

#[derive(clap::Args)]
struct ServeArgs {
    /// YAML settings file (Kafka setting names, flat or nested).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data directory (setting data.dir).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<String>,
    /// Kafka API listen address (setting kafka.addr).
    #[arg(long, value_name = "HOST:PORT")]
    kafka_addr: Option<String>,
    /// Address clients are told to connect to (setting advertised.kafka.addr).
    #[arg(long, value_name = "HOST:PORT")]
    advertised_kafka_addr: Option<String>,
    /// HTTP listen address (setting http.addr).
    #[arg(long, value_name = "HOST:PORT")]
    http_addr: Option<String>,
    /// Broker id (setting node.id).
    #[arg(long, value_name = "N")]
    node_id: Option<i32>,
}

impl ServeArgs {
    /// Merges defaults < file < environment < flags; the console's settings
    /// are split off (they are not Kafka settings).
    fn settings(&self) -> anyhow::Result<(BrokerConfig, BTreeMap<String, String>)> {
        let mut values = match &self.config {
            Some(path) => settings::from_yaml_file(path)?,
            None => Default::default(),
        };
        values.extend(settings::from_env(|name| std::env::var(name).ok()));
        let flags = [
            ("data.dir", self.data_dir.clone()),
            ("kafka.addr", self.kafka_addr.clone()),
            ("advertised.kafka.addr", self.advertised_kafka_addr.clone()),
            ("http.addr", self.http_addr.clone()),
            ("node.id", self.node_id.map(|id| id.to_string())),
        ];
        for (name, value) in flags {
            if let Some(value) = value {
                values.insert(name.to_string(), value);
            }
        }
        let console = console_settings::split_off(&mut values, std::env::vars());
        Ok((BrokerConfig::from_map(values)?, console))
    }
}

/// The address the console reaches this process's broker at: the bound
/// Kafka port on loopback when listening on all interfaces.
fn local_bootstrap(bound: SocketAddr) -> String {
    let host = if bound.ip().is_unspecified() {
        if bound.is_ipv6() {
            "[::1]".to_string()
        } else {
            "127.0.0.1".to_string()
        }
    } else if bound.is_ipv6() {
        format!("[{}]", bound.ip())
    } else {
        bound.ip().to_string()
    };
    format!("{host}:{}", bound.port())
}

fn warn_if_open_without_auth(http_addr: SocketAddr, config: &takhin_console::ConsoleConfig) {
    if !http_addr.ip().is_loopback() && !config.auth.enabled {
        warn!(
            %http_addr,
            "the console and its REST API are reachable beyond this machine WITHOUT authentication; \
             set console.auth.enabled=true with users or API keys (docs/configuration.md), \
             or listen on 127.0.0.1"
        );
    }
}

fn init_logging(config: &BrokerConfig) {
    let filter = tracing_subscriber::EnvFilter::try_new(config.value("log.level"))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if config.log_format() == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Turns SIGTERM / SIGINT into a shutdown signal; a second one exits at once.
async fn wait_for_signal(shutdown: watch::Sender<bool>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        error!("cannot install signal handlers");
        return;
    };
    tokio::select! {
        _ = term.recv() => info!("SIGTERM received; shutting down"),
        _ = int.recv() => info!("SIGINT received; shutting down"),
    }
    let _ = shutdown.send(true);
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    error!("second signal received; exiting without a clean shutdown");
    std::process::exit(130);
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let started_at = Instant::now();
    let (config, console_values) = args.settings()?;
    init_logging(&config);
    // Checked before anything starts, with a placeholder for the local
    // cluster whose address is known only once the broker has bound it.
    let placeholder = takhin_console::ClusterConfig::new("local", vec!["localhost:9092".into()]);
    let console = console_settings::parse(&console_values, Some(placeholder))?;
    let (shutdown_tx, shutdown) = watch::channel(false);
    tokio::spawn(wait_for_signal(shutdown_tx));

    let health = http::Health {
        ready: Arc::new(AtomicBool::new(false)),
        started_at,
        broker: Arc::default(),
        console: console.enabled.then(Arc::default),
        serves_kafka: true,
        console_metrics: console.enabled.then(|| console.config.metrics.clone()),
    };
    let http_addr = config.http_addr;
    if console.enabled {
        warn_if_open_without_auth(http_addr, &console.config);
    }
    let http = tokio::spawn(http::serve(http_addr, health.clone(), shutdown.clone()));

    let (ready_tx, ready_rx) = oneshot::channel::<(SocketAddr, Arc<takhin_broker::Broker>)>();
    let ready_flag = health.ready.clone();
    let broker_slot = health.broker.clone();
    let console_slot = health.console.clone();
    let mut console_config = console.config;
    tokio::spawn(async move {
        if let Ok((kafka_addr, broker)) = ready_rx.await {
            let _ = broker_slot.set(Arc::clone(&broker));
            if let Some(slot) = console_slot {
                console_config.clusters[0].bootstrap_servers = vec![local_bootstrap(kafka_addr)];
                // The overview's throughput charts read this broker's counters.
                let counters_of = Arc::downgrade(&broker);
                console_config.clusters[0].throughput = Some(Arc::new(move || {
                    let broker = counters_of.upgrade()?;
                    let totals = broker.metrics.throughput_totals(&broker);
                    Some(takhin_console::throughput::Counters {
                        bytes_in: totals.bytes_in,
                        bytes_out: totals.bytes_out,
                        records_in: totals.records_in,
                        requests: totals.requests,
                    })
                }));
                // The overview and topic pages show this broker's damaged data.
                let logs_of = Arc::downgrade(&broker);
                console_config.clusters[0].storage_health = Some(Arc::new(move || {
                    let broker = logs_of.upgrade()?;
                    let mut partitions = Vec::new();
                    for topic in broker.topics() {
                        for partition in topic.partitions() {
                            partitions.push(
                                takhin_console::storage_health::PartitionLogHealth::of(
                                    &topic.name,
                                    partition.index,
                                    &partition.log(),
                                ),
                            );
                        }
                    }
                    Some(partitions)
                }));
                let _ = slot.set(console_router(console_config));
            }
            ready_flag.store(true, Ordering::Release);
        }
    });
    let mut shutdown_seen = shutdown.clone();
    let not_ready_on_shutdown = health.ready.clone();
    tokio::spawn(async move {
        if shutdown_seen.changed().await.is_ok() {
            not_ready_on_shutdown.store(false, Ordering::Release);
        }
    });
    takhin_broker::run(config, shutdown, ready_tx)
        .await
        .context("broker failed")?;
    match http.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(e).context(format!("HTTP server on {http_addr}")),
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

fn console_router(config: takhin_console::ConsoleConfig) -> axum::Router {
    takhin_console::router(config).merge(takhin_console::api::docs::router())
}

/// `takhin console`: the console alone, against any Kafka cluster.
async fn console(args: ConsoleArgs) -> anyhow::Result<()> {
    let started_at = Instant::now();
    let mut values = match &args.config {
        Some(path) => settings::from_yaml_file(path)?,
        None => Default::default(),
    };
    let console_values = console_settings::split_off(&mut values, std::env::vars());
    // The broker's logging settings apply; other broker settings are ignored.
    values.retain(|key, _| key.starts_with("log."));
    let logging = BrokerConfig::from_map(values)?;
    init_logging(&logging);
    for server in &args.brokers {
        console_settings::validate_host_port(server)
            .with_context(|| format!("--brokers: {server:?}"))?;
    }
    let local = takhin_console::ClusterConfig::new(args.name.clone(), args.brokers.clone());
    let console = console_settings::parse(&console_values, Some(local))?;
    warn_if_open_without_auth(args.http_addr, &console.config);
    let (shutdown_tx, shutdown) = watch::channel(false);
    tokio::spawn(wait_for_signal(shutdown_tx));
    let slot: http::ConsoleSlot = Arc::default();
    let console_metrics = console.config.metrics.clone();
    let _ = slot.set(console_router(console.config));
    let health = http::Health {
        ready: Arc::new(AtomicBool::new(true)),
        started_at,
        broker: Arc::default(),
        console: Some(slot),
        serves_kafka: false,
        console_metrics: Some(console_metrics),
    };
    info!(brokers = %args.brokers.join(","), cluster = %args.name, "console starting");
    http::serve(args.http_addr, health, shutdown)
        .await
        .with_context(|| format!("HTTP server on {}", args.http_addr))
}

/// glibc malloc: keep freed memory for reuse instead of returning it to the
/// kernel after every large free. With its adaptive defaults, the 1 MiB read
/// buffers of a fetch were mapped and unmapped per request: page faults and
/// page zeroing took a quarter of the broker's CPU serving a backlog consumer.
/// Freed memory above the trim threshold still goes back to the kernel.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_allocator() {
    const MMAP_THRESHOLD: libc::c_int = 32 * 1024 * 1024;
    const TRIM_THRESHOLD: libc::c_int = 64 * 1024 * 1024;
    // SAFETY: mallopt only sets allocator parameters; called before any other
    // thread exists.
    #[allow(unsafe_code)]
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_allocator() {}

fn main() -> std::process::ExitCode {
    tune_allocator();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(256)
        .thread_name("takhin")
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("takhin: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve(args).await,
            Command::Console(args) => console(args).await,
            Command::HashPassword => hash_password(),
            Command::NewApiKey { name, role } => new_api_key(&name, &role),
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            error!("{e:#}");
            eprintln!("takhin: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
