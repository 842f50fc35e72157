//! `takhin`: a Kafka-compatible broker in one native binary.
//!
//! ```text
//! takhin serve [--config FILE] [--data-dir DIR] [--kafka-addr HOST:PORT]
//!              [--advertised-kafka-addr HOST:PORT] [--http-addr HOST:PORT] [--node-id N]
//! ```

mod http;
mod settings;
mod web;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, Subcommand};
use takhin_broker::BrokerConfig;
use tokio::sync::{oneshot, watch};
use tracing::{error, info};

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
    /// Run a broker: Kafka API, HTTP (health), data on local disk.
    Serve(ServeArgs),
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
    /// Merges defaults < file < environment < flags.
    fn settings(&self) -> anyhow::Result<BrokerConfig> {
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
        Ok(BrokerConfig::from_map(values)?)
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
    let config = args.settings()?;
    init_logging(&config);
    let (shutdown_tx, shutdown) = watch::channel(false);
    tokio::spawn(wait_for_signal(shutdown_tx));

    let health = http::Health {
        ready: Arc::new(AtomicBool::new(false)),
        started_at,
        broker: Arc::default(),
    };
    let http_addr = config.http_addr;
    let http = tokio::spawn(http::serve(http_addr, health.clone(), shutdown.clone()));

    let (ready_tx, ready_rx) = oneshot::channel();
    let ready_flag = health.ready.clone();
    let broker_slot = health.broker.clone();
    tokio::spawn(async move {
        if let Ok((_, broker)) = ready_rx.await {
            let _ = broker_slot.set(broker);
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

fn main() -> std::process::ExitCode {
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
