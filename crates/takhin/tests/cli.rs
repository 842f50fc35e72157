//! The `takhin serve` command line as a contract: settings precedence
//! (flags > env > file > defaults), health endpoints, and a clean SIGTERM
//! shutdown, against the real binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Serve {
    child: Child,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_string();
    Some((status, body))
}

/// Polls (with a sleep, never spinning) until `ready` or the deadline.
fn wait_until(mut ready: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if ready() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn serve(dir: &Path, config: &Path, env: &[(&str, String)], args: &[String]) -> Serve {
    let mut command = Command::new(env!("CARGO_BIN_EXE_takhin"));
    command
        .arg("serve")
        .arg("--config")
        .arg(config)
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (name, value) in env {
        command.env(name, value);
    }
    Serve {
        child: command.spawn().unwrap(),
    }
}

/// `takhin serve` on free loopback ports with data in `dir`, once ready;
/// returns the process and its Kafka and HTTP ports.
fn serve_ready(dir: &Path) -> (Serve, u16, u16) {
    let (kafka_port, http_port) = (free_port(), free_port());
    let config = dir.join("takhin.yaml");
    std::fs::write(
        &config,
        format!(
            "kafka.addr: 127.0.0.1:{kafka_port}\nhttp.addr: 127.0.0.1:{http_port}\ndata.dir: {}\n",
            dir.join("data").display()
        ),
    )
    .unwrap();
    let broker = serve(dir, &config, &[], &[]);
    assert!(
        wait_until(
            || http_get(http_port, "/api/health/ready").is_some_and(|(status, _)| status == 200)
        ),
        "broker never became ready"
    );
    (broker, kafka_port, http_port)
}

#[test]
fn flags_beat_env_beat_file_and_sigterm_is_clean() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data-from-flag");
    let (file_port, env_port, flag_port, http_port) =
        (free_port(), free_port(), free_port(), free_port());
    let config = dir.path().join("takhin.yaml");
    std::fs::write(
        &config,
        format!(
            "kafka.addr: 127.0.0.1:{file_port}\nhttp:\n  addr: 127.0.0.1:{http_port}\ndata.dir: {}\n",
            dir.path().join("data-from-file").display()
        ),
    )
    .unwrap();
    let mut broker = serve(
        dir.path(),
        &config,
        &[
            ("TAKHIN_KAFKA_ADDR", format!("127.0.0.1:{env_port}")),
            (
                "TAKHIN_DATA_DIR",
                dir.path().join("data-from-env").display().to_string(),
            ),
        ],
        &[
            "--kafka-addr".into(),
            format!("127.0.0.1:{flag_port}"),
            "--data-dir".into(),
            data_dir.display().to_string(),
        ],
    );
    assert!(
        wait_until(
            || http_get(http_port, "/api/health/ready").is_some_and(|(status, _)| status == 200)
        ),
        "broker never became ready"
    );
    assert!(
        TcpStream::connect(("127.0.0.1", flag_port)).is_ok(),
        "flag address not served"
    );
    assert!(
        TcpStream::connect(("127.0.0.1", env_port)).is_err(),
        "env beat the flag"
    );
    assert!(
        TcpStream::connect(("127.0.0.1", file_port)).is_err(),
        "file beat the flag"
    );
    assert!(data_dir.join("takhin-metadata.json").exists());
    assert!(!dir.path().join("data-from-env").exists());
    let (status, body) = http_get(http_port, "/api/health").unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("\"status\":\"up\""), "{body}");
    assert_eq!(http_get(http_port, "/api/health/live").unwrap().0, 200);

    let status = Command::new("kill")
        .args(["-TERM", &broker.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut exit = None;
    assert!(wait_until(|| {
        exit = broker.child.try_wait().unwrap();
        exit.is_some()
    }));
    assert!(exit.unwrap().success(), "unclean exit: {exit:?}");
    assert!(data_dir.join(".kafka_cleanshutdown").exists());
}

#[test]
fn a_bad_setting_stops_start_up_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("takhin.yaml");
    std::fs::write(&config, "log.retention.mss: 5\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_takhin"))
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("log.retention.mss"), "{stderr}");
}

#[test]
fn metrics_are_served_in_the_prometheus_text_format() {
    let dir = tempfile::tempdir().unwrap();
    let (_broker, _kafka_port, http_port) = serve_ready(dir.path());
    let mut stream = TcpStream::connect(("127.0.0.1", http_port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.lines().any(|line| line
            .to_ascii_lowercase()
            .starts_with("content-type: text/plain; version=0.0.4")),
        "{head}"
    );
    let version = env!("CARGO_PKG_VERSION");
    assert!(
        body.contains(&format!("takhin_build_info{{version=\"{version}\"}} 1")),
        "{body}"
    );
    // The broker's own series are there once it is ready.
    assert!(body.contains("takhin_kafka_connections 0"), "{body}");
    assert!(
        body.contains("# TYPE takhin_kafka_requests_total counter"),
        "{body}"
    );
}

#[test]
fn the_console_is_served_next_to_the_broker_and_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (_broker, kafka_port, http_port) = serve_ready(dir.path());
    // Under `serve`, the console manages this broker as cluster "local".
    let (status, body) = http_get(http_port, "/api/v1/clusters").unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&format!("127.0.0.1:{kafka_port}")), "{body}");
    let (status, body) = http_get(http_port, "/api/v1/clusters/local/overview").unwrap();
    assert_eq!(status, 200, "{body}");
    let (status, body) = http_get(http_port, "/api/health").unwrap();
    assert_eq!(status, 200);
    assert!(
        body.contains(r#""kafka":"up""#) && body.contains(r#""console":"up""#),
        "{body}"
    );
    let (status, body) = http_get(http_port, "/api/v1/openapi.json").unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("\"openapi\""), "{body}");
    let (status, _) = http_get(http_port, "/api/docs").unwrap();
    assert_eq!(status, 200);
    // The console's own requests are in /metrics, by route template.
    let (status, body) = http_get(http_port, "/metrics").unwrap();
    assert_eq!(status, 200);
    assert!(
        body.contains(
            r#"takhin_console_requests_total{method="GET",route="/api/v1/clusters/{cluster}/overview",status="200"} 1"#
        ),
        "{body}"
    );
    assert!(body.contains("takhin_kafka_requests_total"), "{body}");
    // Under serve, the overview's throughput comes from this broker's counters.
    let (status, body) = http_get(http_port, "/api/v1/clusters/local/throughput").unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""available":true"#), "{body}");
    // And its storage health from this broker's logs.
    let (status, body) = http_get(http_port, "/api/v1/clusters/local/storage-health").unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""available":true"#), "{body}");

    // `takhin console` alone, against the same broker as a cluster named dev.
    let console_port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_takhin"))
        .args(["console", "--brokers"])
        .arg(format!("127.0.0.1:{kafka_port}"))
        .args(["--name", "dev", "--http-addr"])
        .arg(format!("127.0.0.1:{console_port}"))
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _console = Serve { child };
    assert!(
        wait_until(|| http_get(console_port, "/api/health/ready").is_some_and(|(s, _)| s == 200)),
        "console never became ready"
    );
    let (status, body) = http_get(console_port, "/api/v1/clusters/dev/overview").unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&format!("\"port\":{kafka_port}")), "{body}");
    // Alone, the console sees only the Kafka protocol: no storage health.
    let (status, body) = http_get(console_port, "/api/v1/clusters/dev/storage-health").unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""available":false"#), "{body}");
    let (_, body) = http_get(console_port, "/api/health").unwrap();
    assert!(
        body.contains(r#""console":"up""#) && !body.contains("kafka"),
        "{body}"
    );
}

#[test]
fn the_console_refuses_bad_settings_before_starting() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_takhin"))
        .args([
            "console",
            "--brokers",
            "no-port-here",
            "--http-addr",
            "127.0.0.1:0",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--brokers"), "{stderr}");

    let config = dir.path().join("takhin.yaml");
    std::fs::write(&config, "console:\n  auth:\n    enabled: true\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_takhin"))
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("authentication"), "{stderr}");
}
