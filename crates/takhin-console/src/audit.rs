//! The audit log: who changed what, when, and with what result.
//!
//! Every mutating request under `/api/v1` (`POST`, `PUT`, `PATCH`,
//! `DELETE`, login attempts included, refused ones too) becomes one
//! [`AuditEntry`], which goes to three places:
//!
//! - a `tracing` event at INFO with target `takhin_console::audit`;
//! - the last [`AUDIT_RECENT_MAX`] entries in memory, for
//!   `GET /api/v1/audit`;
//! - when configured, one JSON line appended to a file. A dedicated thread
//!   writes the file (one `write` per line, no buffering in the process) so
//!   that a slow disk never stalls the async runtime. Requests hand it their
//!   line through a queue of [`AUDIT_QUEUE_MAX`] lines; when the queue is
//!   full a request waits up to [`AUDIT_ENQUEUE_WAIT`] (asynchronously, not
//!   blocking a runtime thread) and then the line is dropped, counted
//!   ([`AuditLog::dropped_lines`]) and reported with an error event. A
//!   disk that cannot take 4096 lines is stuck; stalling every mutating
//!   request behind it would make the console unusable while the entry
//!   still reaches the tracing event and the in-memory list.
//!
//! Entries never hold passwords, API keys, cookies or query strings: only
//! the path, the principal's name and the problem detail of an error
//! (at most [`AUDIT_DETAIL_MAX_CHARS`] characters).

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use serde::Serialize;
use tokio::sync::mpsc;
use utoipa::ToSchema;

use crate::auth::{AuthMethod, Role};

/// Entries kept in memory for `GET /api/v1/audit`.
pub const AUDIT_RECENT_MAX: usize = 1000;
/// Lines waiting for the file writer.
pub const AUDIT_QUEUE_MAX: usize = 4096;
/// How long a request waits for room in a full queue before its line is
/// dropped from the file.
pub const AUDIT_ENQUEUE_WAIT: Duration = Duration::from_millis(250);
/// Longest `detail` kept, in characters.
pub const AUDIT_DETAIL_MAX_CHARS: usize = 512;

/// Whether the call succeeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditResult {
    /// A 1xx, 2xx or 3xx answer.
    Ok,
    /// A 4xx or 5xx answer.
    Error,
}

/// One mutating call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct AuditEntry {
    /// When the call finished, RFC 3339 in UTC with milliseconds.
    pub time: String,
    /// The username or API key name; for a login attempt, the username
    /// tried; null when the caller sent no valid credentials.
    pub principal: Option<String>,
    pub role: Option<Role>,
    /// How the principal authenticated.
    pub auth_method: Option<AuthMethod>,
    /// The HTTP method.
    pub method: String,
    /// The request path, without the query string.
    pub path: String,
    /// The HTTP status answered.
    pub status: u16,
    pub result: AuditResult,
    /// The problem detail of an error, shortened to 512 characters.
    pub detail: Option<String>,
    /// The client's address, when the server knows it.
    pub client_addr: Option<String>,
    pub duration_ms: u64,
}

impl AuditEntry {
    /// `detail` shortened to [`AUDIT_DETAIL_MAX_CHARS`].
    pub fn bounded_detail(detail: &str) -> String {
        match detail.char_indices().nth(AUDIT_DETAIL_MAX_CHARS) {
            Some((cut, _)) => format!("{}…", &detail[..cut]),
            None => detail.to_string(),
        }
    }

    pub fn result_for(status: u16) -> AuditResult {
        if status >= 400 {
            AuditResult::Error
        } else {
            AuditResult::Ok
        }
    }
}

/// The audit log. Cheap to share; one per console.
pub struct AuditLog {
    recent: Mutex<VecDeque<AuditEntry>>,
    file: Option<FileSink>,
}

struct FileSink {
    path: PathBuf,
    queue: mpsc::Sender<String>,
    dropped: AtomicU64,
    write_failures: Arc<AtomicU64>,
}

impl AuditLog {
    /// An audit log kept in memory and emitted as tracing events only.
    pub fn in_memory() -> AuditLog {
        AuditLog {
            recent: Mutex::new(VecDeque::with_capacity(AUDIT_RECENT_MAX)),
            file: None,
        }
    }

    /// An audit log that also appends to `path`, creating it. Starts the
    /// writer thread, which ends when the log is dropped.
    pub fn with_file(path: &Path) -> std::io::Result<AuditLog> {
        let file = open_append(path)?;
        let (queue, lines) = mpsc::channel(AUDIT_QUEUE_MAX);
        let write_failures = Arc::new(AtomicU64::new(0));
        let failures = Arc::clone(&write_failures);
        let thread_path = path.to_path_buf();
        std::thread::Builder::new()
            .name("takhin-audit".to_string())
            .spawn(move || write_lines(file, &thread_path, lines, &failures))?;
        Ok(AuditLog {
            recent: Mutex::new(VecDeque::with_capacity(AUDIT_RECENT_MAX)),
            file: Some(FileSink {
                path: path.to_path_buf(),
                queue,
                dropped: AtomicU64::new(0),
                write_failures,
            }),
        })
    }

    /// Records `entry` in all three places.
    pub async fn record(&self, entry: AuditEntry) {
        tracing::info!(
            target: "takhin_console::audit",
            time = %entry.time,
            principal = entry.principal.as_deref(),
            role = entry.role.map(Role::as_str),
            method = %entry.method,
            path = %entry.path,
            status = entry.status,
            result = ?entry.result,
            detail = entry.detail.as_deref(),
            client_addr = entry.client_addr.as_deref(),
            duration_ms = entry.duration_ms,
            "audit"
        );
        if let Some(sink) = &self.file {
            match serde_json::to_string(&entry) {
                Ok(mut line) => {
                    line.push('\n');
                    sink.enqueue(line).await;
                }
                Err(error) => tracing::error!(%error, "cannot encode an audit entry"),
            }
        }
        let mut recent = self.recent.lock();
        if recent.len() >= AUDIT_RECENT_MAX {
            recent.pop_front();
        }
        recent.push_back(entry);
    }

    /// The last `limit` entries, newest first.
    pub fn recent(&self, limit: usize) -> Vec<AuditEntry> {
        self.recent
            .lock()
            .iter()
            .rev()
            .take(limit)
            .cloned()
            .collect()
    }

    /// Lines dropped from the file because its queue stayed full.
    pub fn dropped_lines(&self) -> u64 {
        self.file
            .as_ref()
            .map_or(0, |sink| sink.dropped.load(Ordering::Relaxed))
    }

    /// Lines the writer failed to write.
    pub fn failed_writes(&self) -> u64 {
        self.file
            .as_ref()
            .map_or(0, |sink| sink.write_failures.load(Ordering::Relaxed))
    }
}

impl FileSink {
    async fn enqueue(&self, line: String) {
        let line = match self.queue.try_send(line) {
            Ok(()) => return,
            Err(mpsc::error::TrySendError::Full(line)) => line,
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.count_dropped("the audit writer has stopped");
                return;
            }
        };
        match self.queue.send_timeout(line, AUDIT_ENQUEUE_WAIT).await {
            Ok(()) => {}
            Err(mpsc::error::SendTimeoutError::Timeout(_)) => {
                self.count_dropped("the audit file's queue is full");
            }
            Err(mpsc::error::SendTimeoutError::Closed(_)) => {
                self.count_dropped("the audit writer has stopped");
            }
        }
    }

    fn count_dropped(&self, why: &str) {
        let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::error!(
            path = %self.path.display(),
            dropped,
            "{why}; an audit line was not written to the file"
        );
    }
}

/// Opens `path` for appending, creating it; the console's configuration
/// check calls this to refuse to start with an unwritable audit log.
pub fn open_append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// The writer thread: one `write` per line, flushed to the OS (not
/// fsynced), until every sender is gone.
fn write_lines(
    mut file: File,
    path: &Path,
    mut lines: mpsc::Receiver<String>,
    failures: &AtomicU64,
) {
    while let Some(line) = lines.blocking_recv() {
        if let Err(error) = file.write_all(line.as_bytes()).and_then(|()| file.flush()) {
            let failed = failures.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::error!(path = %path.display(), %error, failed, "cannot write the audit log");
        }
    }
}

/// `time` as RFC 3339 in UTC with milliseconds: `2024-05-01T12:34:56.789Z`.
pub fn rfc3339_utc(time: SystemTime) -> String {
    let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since_epoch.as_secs();
    let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX);
    let secs_of_day = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        secs_of_day / 3600,
        secs_of_day / 60 % 60,
        secs_of_day % 60,
        since_epoch.subsec_millis()
    )
}

/// The Gregorian date of a day counted from 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (
        year,
        u32::try_from(month).unwrap_or(0),
        u32::try_from(day).unwrap_or(0),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn entry(path: &str) -> AuditEntry {
        AuditEntry {
            time: rfc3339_utc(SystemTime::now()),
            principal: Some("alice".into()),
            role: Some(Role::Admin),
            auth_method: Some(AuthMethod::Session),
            method: "POST".into(),
            path: path.into(),
            status: 201,
            result: AuditResult::Ok,
            detail: None,
            client_addr: None,
            duration_ms: 3,
        }
    }

    #[test]
    fn formats_rfc3339() {
        assert_eq!(rfc3339_utc(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let leap = UNIX_EPOCH + Duration::from_millis(951_782_400_123);
        assert_eq!(rfc3339_utc(leap), "2000-02-29T00:00:00.123Z");
        let later = UNIX_EPOCH + Duration::from_secs(1_735_689_599);
        assert_eq!(rfc3339_utc(later), "2024-12-31T23:59:59.000Z");
        let far = UNIX_EPOCH + Duration::from_secs(4_107_542_400);
        assert_eq!(rfc3339_utc(far), "2100-03-01T00:00:00.000Z");
    }

    #[test]
    fn details_are_bounded() {
        assert_eq!(AuditEntry::bounded_detail("short"), "short");
        let long = "é".repeat(AUDIT_DETAIL_MAX_CHARS + 10);
        let bounded = AuditEntry::bounded_detail(&long);
        assert_eq!(bounded.chars().count(), AUDIT_DETAIL_MAX_CHARS + 1);
        assert!(bounded.ends_with('…'));
        assert_eq!(AuditEntry::result_for(204), AuditResult::Ok);
        assert_eq!(AuditEntry::result_for(403), AuditResult::Error);
    }

    #[tokio::test]
    async fn keeps_the_most_recent_entries() {
        let log = AuditLog::in_memory();
        for i in 0..AUDIT_RECENT_MAX + 3 {
            log.record(entry(&format!("/p{i}"))).await;
        }
        let recent = log.recent(usize::MAX);
        assert_eq!(recent.len(), AUDIT_RECENT_MAX);
        assert_eq!(recent[0].path, format!("/p{}", AUDIT_RECENT_MAX + 2));
        assert_eq!(log.recent(2).len(), 2);
    }

    #[tokio::test]
    async fn appends_json_lines_to_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        std::fs::write(&path, "earlier line\n").unwrap();
        let log = AuditLog::with_file(&path).unwrap();
        log.record(entry("/a")).await;
        log.record(entry("/b")).await;
        drop(log);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let text = std::fs::read_to_string(&path).unwrap();
            let lines: Vec<&str> = text.lines().collect();
            if lines.len() == 3 {
                assert_eq!(lines[0], "earlier line");
                let first: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
                assert_eq!(first["path"], "/a");
                assert_eq!(first["result"], "ok");
                assert_eq!(first["role"], "admin");
                assert_eq!(first["auth_method"], "session");
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{text}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
