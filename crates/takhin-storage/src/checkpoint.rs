//! Kafka's small text files, read and written atomically.
//!
//! * `recovery-point-offset-checkpoint`, `log-start-offset-checkpoint`,
//!   `cleaner-offset-checkpoint` (data dir root):
//!   `0\n<N>\n` then N lines `<topic> <partition> <offset>`.
//! * `leader-epoch-checkpoint` (partition dir): `0\n<N>\n` then N lines `<epoch> <start offset>`.
//! * `partition.metadata` (partition dir): `version: 0\ntopic_id: <id>\n`, the id printed as
//!   Kafka's `Uuid.toString()`: URL-safe base64 of the 16 bytes, without padding.
//!
//! Every write goes to `<file>.tmp`, is fsync'd, renamed over the target, and the directory is
//! fsync'd, so a crash leaves either the old or the new file, never a mix. Leftover `.tmp`
//! files are deleted by recovery.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

pub(crate) const RECOVERY_POINT_CHECKPOINT: &str = "recovery-point-offset-checkpoint";
pub(crate) const LOG_START_OFFSET_CHECKPOINT: &str = "log-start-offset-checkpoint";
pub(crate) const CLEANER_OFFSET_CHECKPOINT: &str = "cleaner-offset-checkpoint";
pub(crate) const LEADER_EPOCH_CHECKPOINT: &str = "leader-epoch-checkpoint";
pub(crate) const PARTITION_METADATA: &str = "partition.metadata";
pub(crate) const TMP_SUFFIX: &str = ".tmp";
const CHECKPOINT_VERSION: &str = "0";

/// Writes `bytes` to `path` via a temporary file and rename. With `durable`, the temporary
/// file and then the directory are fsync'd.
pub(crate) fn write_file_atomically(path: &Path, bytes: &[u8], durable: bool) -> io::Result<()> {
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(TMP_SUFFIX);
    let tmp = Path::new(&tmp_name);
    let annotate = |err: io::Error, what: &Path| {
        io::Error::new(err.kind(), format!("{}: {err}", what.display()))
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(tmp)
        .map_err(|err| annotate(err, tmp))?;
    file.write_all(bytes).map_err(|err| annotate(err, tmp))?;
    if durable {
        file.sync_all().map_err(|err| annotate(err, tmp))?;
    }
    drop(file);
    std::fs::rename(tmp, path).map_err(|err| annotate(err, path))?;
    if durable && let Some(parent) = path.parent() {
        sync_dir(parent)?;
    }
    Ok(())
}

/// fsyncs a directory so that renames and new files in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)
        .and_then(|handle| handle.sync_all())
        .map_err(|err| io::Error::new(err.kind(), format!("{}: {err}", dir.display())))
}

/// Renders lines under Kafka's `version\ncount\n` header.
fn render(lines: &[String]) -> String {
    let mut text = format!("{CHECKPOINT_VERSION}\n{}\n", lines.len());
    for line in lines {
        text.push_str(line);
        text.push('\n');
    }
    text
}

/// Parses the `version\ncount\n` header and returns the entry lines.
fn parse_lines(text: &str) -> Result<Vec<&str>, String> {
    let mut lines = text.lines();
    match lines.next() {
        Some(CHECKPOINT_VERSION) => {}
        other => return Err(format!("unsupported version line {other:?}")),
    }
    let count: usize = lines
        .next()
        .and_then(|line| line.trim().parse().ok())
        .ok_or_else(|| "missing or invalid entry count".to_string())?;
    let entries: Vec<&str> = lines.filter(|line| !line.trim().is_empty()).collect();
    if entries.len() != count {
        return Err(format!(
            "header says {count} entries, found {}",
            entries.len()
        ));
    }
    Ok(entries)
}

/// `<topic> <partition> <offset>` entries.
pub(crate) fn render_offsets(entries: &[(String, i32, i64)]) -> String {
    let lines: Vec<String> = entries
        .iter()
        .map(|(topic, partition, offset)| format!("{topic} {partition} {offset}"))
        .collect();
    render(&lines)
}

pub(crate) fn parse_offsets(text: &str) -> Result<Vec<(String, i32, i64)>, String> {
    let mut entries = Vec::new();
    for line in parse_lines(text)? {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let parsed = match fields.as_slice() {
            [topic, partition, offset] => partition
                .parse()
                .ok()
                .zip(offset.parse().ok())
                .map(|(p, o)| (topic.to_string(), p, o)),
            _ => None,
        };
        entries.push(parsed.ok_or_else(|| format!("malformed line {line:?}"))?);
    }
    Ok(entries)
}

/// `<epoch> <start offset>` entries.
pub(crate) fn render_epochs(entries: &[(i32, i64)]) -> String {
    let lines: Vec<String> = entries
        .iter()
        .map(|(epoch, offset)| format!("{epoch} {offset}"))
        .collect();
    render(&lines)
}

pub(crate) fn parse_epochs(text: &str) -> Result<Vec<(i32, i64)>, String> {
    let mut entries = Vec::new();
    for line in parse_lines(text)? {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let parsed = match fields.as_slice() {
            [epoch, offset] => epoch.parse().ok().zip(offset.parse().ok()),
            _ => None,
        };
        entries.push(parsed.ok_or_else(|| format!("malformed line {line:?}"))?);
    }
    Ok(entries)
}

const BASE64_URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Kafka's `Uuid.toString()`: URL-safe base64 without padding (22 characters).
pub(crate) fn topic_id_to_string(id: uuid::Uuid) -> String {
    let bytes = id.as_bytes();
    let mut out = String::with_capacity(22);
    for chunk in bytes.chunks(3) {
        let mut group = [0u8; 3];
        group[..chunk.len()].copy_from_slice(chunk);
        let value = (u32::from(group[0]) << 16) | (u32::from(group[1]) << 8) | u32::from(group[2]);
        for index in 0..chunk.len() + 1 {
            out.push(BASE64_URL[((value >> (18 - 6 * index)) & 0x3f) as usize] as char);
        }
    }
    out
}

pub(crate) fn topic_id_from_string(text: &str) -> Option<uuid::Uuid> {
    if text.len() != 22 {
        return None;
    }
    let mut bits = 0u32;
    let mut bit_count = 0;
    let mut bytes = Vec::with_capacity(16);
    for character in text.bytes() {
        let value = BASE64_URL
            .iter()
            .position(|candidate| *candidate == character)? as u32;
        bits = (bits << 6) | value;
        bit_count += 6;
        if bit_count >= 8 {
            bit_count -= 8;
            bytes.push((bits >> bit_count) as u8);
            bits &= (1 << bit_count) - 1;
        }
    }
    uuid::Uuid::from_slice(&bytes).ok()
}

pub(crate) fn render_partition_metadata(topic_id: uuid::Uuid) -> String {
    format!("version: 0\ntopic_id: {}\n", topic_id_to_string(topic_id))
}

pub(crate) fn parse_partition_metadata(text: &str) -> Result<uuid::Uuid, String> {
    let mut lines = text.lines();
    if lines.next().map(str::trim) != Some("version: 0") {
        return Err("first line is not \"version: 0\"".to_string());
    }
    let id = lines
        .next()
        .and_then(|line| line.trim().strip_prefix("topic_id: "))
        .ok_or_else(|| "missing topic_id line".to_string())?;
    topic_id_from_string(id.trim()).ok_or_else(|| format!("invalid topic id {id:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_text_round_trip() {
        let entries = vec![
            ("orders".to_string(), 0, 42),
            ("my-topic".to_string(), 3, 0),
        ];
        let text = render_offsets(&entries);
        assert_eq!(text, "0\n2\norders 0 42\nmy-topic 3 0\n");
        assert_eq!(parse_offsets(&text).unwrap(), entries);
        assert!(parse_offsets("0\n2\norders 0 42\n").is_err());
        assert!(parse_offsets("1\n0\n").is_err());
        assert_eq!(render_epochs(&[(0, 0), (3, 17)]), "0\n2\n0 0\n3 17\n");
        assert_eq!(parse_epochs("0\n1\n5 100\n").unwrap(), vec![(5, 100)]);
    }

    #[test]
    fn topic_id_matches_kafka_printing() {
        // Kafka: new Uuid(0x0102030405060708L, 0x090a0b0c0d0e0f10L).toString() == "AQIDBAUGBwgJCgsMDQ4PEA"
        let id = uuid::Uuid::from_bytes([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]);
        assert_eq!(topic_id_to_string(id), "AQIDBAUGBwgJCgsMDQ4PEA");
        assert_eq!(topic_id_from_string("AQIDBAUGBwgJCgsMDQ4PEA"), Some(id));
        let random = uuid::Uuid::new_v4();
        assert_eq!(
            topic_id_from_string(&topic_id_to_string(random)),
            Some(random)
        );
        let text = render_partition_metadata(id);
        assert_eq!(text, "version: 0\ntopic_id: AQIDBAUGBwgJCgsMDQ4PEA\n");
        assert_eq!(parse_partition_metadata(&text).unwrap(), id);
    }
}
