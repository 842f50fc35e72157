//! Cluster metadata of a single node: cluster id, topics (id, partition
//! count, config overrides) and the producer-id allocation watermark.
//!
//! Persisted as one JSON document, `<data.dir>/takhin-metadata.json`,
//! replaced atomically (write a temp file, fsync, rename, fsync the
//! directory) on every change, so a crash leaves either the old or the new
//! document. Changes are rare (topic admin), so rewriting it whole is cheap.
//! Later, the Raft quorum replaces this file as the source of truth.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub const METADATA_FILE: &str = "takhin-metadata.json";

/// Producer ids are handed out from blocks; the end of the current block is
/// persisted before any id in it is used, so ids never repeat across restarts.
pub const PRODUCER_ID_BLOCK_SIZE: i64 = 1000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopicMetadata {
    pub topic_id: Uuid,
    pub partitions: i32,
    #[serde(default)]
    pub configs: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetadataDocument {
    pub version: u32,
    pub cluster_id: String,
    /// Exclusive end of the producer-id block already reserved on disk.
    pub producer_id_block_end: i64,
    pub topics: BTreeMap<String, TopicMetadata>,
}

#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("metadata file {path} is corrupt: {reason}")]
    Corrupt { path: PathBuf, reason: String },
}

fn io_error(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> MetadataError {
    let context = context.into();
    move |source| MetadataError::Io { context, source }
}

/// Kafka prints cluster ids as URL-safe base64 of 16 random bytes, unpadded.
pub fn kafka_uuid_string(id: Uuid) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = id.as_bytes();
    let mut out = String::with_capacity(22);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

impl MetadataDocument {
    fn new() -> MetadataDocument {
        MetadataDocument {
            version: 1,
            cluster_id: kafka_uuid_string(Uuid::new_v4()),
            producer_id_block_end: 0,
            topics: BTreeMap::new(),
        }
    }

    /// Loads the document from `dir`, or creates a new one.
    pub fn load_or_create(dir: &Path) -> Result<MetadataDocument, MetadataError> {
        let path = dir.join(METADATA_FILE);
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| MetadataError::Corrupt {
                path: path.clone(),
                reason: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let document = MetadataDocument::new();
                document.store(dir)?;
                Ok(document)
            }
            Err(e) => Err(io_error(format!("reading {}", path.display()))(e)),
        }
    }

    /// Replaces the document on disk atomically.
    pub fn store(&self, dir: &Path) -> Result<(), MetadataError> {
        let path = dir.join(METADATA_FILE);
        let tmp = dir.join(format!("{METADATA_FILE}.tmp"));
        let json = serde_json::to_vec_pretty(self).map_err(|e| MetadataError::Corrupt {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let mut file =
            File::create(&tmp).map_err(io_error(format!("creating {}", tmp.display())))?;
        file.write_all(&json)
            .and_then(|()| file.sync_all())
            .map_err(io_error(format!("writing {}", tmp.display())))?;
        fs::rename(&tmp, &path).map_err(io_error(format!("renaming {}", tmp.display())))?;
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_error(format!("syncing {}", dir.display())))?;
        Ok(())
    }
}

/// Kafka's topic name rule: 1..=249 characters of `[a-zA-Z0-9._-]`, not `.`
/// or `..`.
pub fn validate_topic_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("topic name is empty".into());
    }
    if name == "." || name == ".." {
        return Err(format!("topic name cannot be {name:?}"));
    }
    if name.len() > 249 {
        return Err(format!(
            "topic name is {} characters, the maximum is 249",
            name.len()
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "topic name {name:?} contains {bad:?}; legal characters are ASCII letters, digits, '.', '_' and '-'"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survives_a_round_trip_through_disk() {
        let dir = tempfile::tempdir().unwrap();
        let mut document = MetadataDocument::load_or_create(dir.path()).unwrap();
        document.topics.insert(
            "orders".into(),
            TopicMetadata {
                topic_id: Uuid::new_v4(),
                partitions: 3,
                configs: BTreeMap::from([("retention.ms".into(), "1000".into())]),
            },
        );
        document.store(dir.path()).unwrap();
        assert_eq!(
            MetadataDocument::load_or_create(dir.path()).unwrap(),
            document
        );
    }

    #[test]
    fn kafka_uuid_strings_are_22_url_safe_characters() {
        let id = Uuid::from_bytes([0xff; 16]);
        assert_eq!(kafka_uuid_string(id), "_____________________w");
        assert_eq!(kafka_uuid_string(Uuid::nil()), "AAAAAAAAAAAAAAAAAAAAAA");
    }

    #[test]
    fn topic_names_follow_kafka_rules() {
        assert!(validate_topic_name("orders.v1_a-b").is_ok());
        for bad in ["", ".", "..", "a b", "a/b", &"x".repeat(250)] {
            assert!(validate_topic_name(bad).is_err(), "{bad}");
        }
    }
}
