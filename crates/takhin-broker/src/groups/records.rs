//! The records of `__consumer_offsets`, byte for byte as Apache Kafka 4.1
//! writes them, so that a data directory moves between Takhin and Kafka and
//! Kafka's tools (`kafka-dump-log --offsets-decoder`, `kafka-console-consumer`
//! with the offsets formatter) read ours.
//!
//! # Layout
//!
//! Every record's key and value start with a big-endian `i16`. In the key it
//! is the *record type* (Kafka's `CoordinatorRecordType`, historically called
//! the key version); in the value it is the value's schema version.
//!
//! | key type | record | key fields after the type |
//! |---|---|---|
//! | 0, 1 | offset commit (`OffsetCommitKey`; 0 is the legacy id, Kafka 4.1 writes 1) | `group: string, topic: string, partition: int32` |
//! | 2 | group metadata (`GroupMetadataKey`) | `group: string` |
//! | 3.. | KIP-848 consumer, share and streams group records | not decoded here: [`RecordFormatError::UnknownKeyVersion`] |
//!
//! Keys are never flexible. `string` is `i16` length + UTF-8; a negative
//! length is only legal where the field is nullable (`-1` = null).
//!
//! `OffsetCommitValue` (value version first):
//!
//! | version | fields |
//! |---|---|
//! | 0 | `offset: i64, metadata: string, commit_timestamp: i64` |
//! | 1 | `offset: i64, metadata: string, commit_timestamp: i64, expire_timestamp: i64` |
//! | 2 | `offset: i64, metadata: string, commit_timestamp: i64` |
//! | 3 | `offset: i64, leader_epoch: i32, metadata: string, commit_timestamp: i64` |
//! | 4 | as 3, flexible: compact string, trailing tagged fields |
//!
//! Kafka 4.1 writes version 3, or version 1 when the commit carries an
//! explicit expire timestamp (OffsetCommit v1 requests with a retention
//! time); [`OffsetCommitValue::encode`] does the same.
//!
//! `GroupMetadataValue`:
//!
//! | version | fields |
//! |---|---|
//! | 0 | `protocol_type: string, generation: i32, protocol: string?, leader: string?, members: [member v0]` |
//! | 1 | as 0, each member gains `rebalance_timeout: i32` before `session_timeout` |
//! | 2 | as 1, plus `current_state_timestamp: i64` after `leader` |
//! | 3 | as 2, each member gains `group_instance_id: string?` after `member_id` |
//! | 4 | as 3, flexible (compact strings, bytes and arrays; tagged fields after every struct) |
//!
//! A member is `member_id: string, [group_instance_id: string?], client_id:
//! string, client_host: string, [rebalance_timeout: i32], session_timeout:
//! i32, subscription: bytes, assignment: bytes` (`bytes` is `i32` length +
//! data, never null). Kafka 4.1 writes version 3 (its
//! `MetadataVersion.groupMetadataValueVersion()`), and so does
//! [`GroupMetadataValue::encode`].
//!
//! Fields missing from old versions decode to Kafka's defaults:
//! `leader_epoch = -1`, `expire_timestamp_ms = -1`,
//! `current_state_timestamp_ms = -1`, `group_instance_id = None`, and (as
//! Kafka's Scala coordinator did) `rebalance_timeout_ms = session_timeout_ms`
//! for version 0 members.
//!
//! A *tombstone* (a record with a key and a null value) deletes the offset or
//! the group during compaction and replay; it is a property of the record,
//! not of these encodings, so the caller handles it before calling a value
//! decoder.
//!
//! # Reading untrusted bytes
//!
//! Decoders read whatever a crash or another tool left on disk. They never
//! panic, check every length against the bytes that remain before reading or
//! allocating, and name the field that was wrong. Unknown tagged fields in
//! flexible versions are skipped. Bytes after the last field are ignored, as
//! Kafka's generated readers ignore them.

use bytes::{BufMut, Bytes, BytesMut};

/// Key type Kafka 4.1 writes for offset commits.
pub const OFFSET_COMMIT_KEY_TYPE: i16 = 1;
/// Key type of offset commits written before Kafka 3.x renumbered it.
pub const LEGACY_OFFSET_COMMIT_KEY_TYPE: i16 = 0;
/// Key type of classic group metadata.
pub const GROUP_METADATA_KEY_TYPE: i16 = 2;

/// Highest `OffsetCommitValue` version this module reads.
pub const OFFSET_COMMIT_VALUE_MAX_VERSION: i16 = 4;
/// Highest `GroupMetadataValue` version this module reads.
pub const GROUP_METADATA_VALUE_MAX_VERSION: i16 = 4;
/// `OffsetCommitValue` version written when there is no expire timestamp.
pub const OFFSET_COMMIT_VALUE_WRITE_VERSION: i16 = 3;
/// `OffsetCommitValue` version written when there is an expire timestamp.
pub const OFFSET_COMMIT_VALUE_EXPIRE_VERSION: i16 = 1;
/// `GroupMetadataValue` version written.
pub const GROUP_METADATA_VALUE_WRITE_VERSION: i16 = 3;

/// Version from which `OffsetCommitValue` and `GroupMetadataValue` are
/// flexible (compact encodings and tagged fields).
const FIRST_FLEXIBLE_VERSION: i16 = 4;

/// Why a key or value could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordFormatError {
    /// A key type that is not an offset commit or group metadata: a KIP-848
    /// (consumer/share/streams group) record, or garbage. Replay may skip it.
    #[error("unknown __consumer_offsets key type {0}")]
    UnknownKeyVersion(i16),
    #[error("unknown {record} version {version}")]
    UnknownValueVersion { record: &'static str, version: i16 },
    #[error("truncated reading {what}: needs {needed} bytes, {remaining} remain")]
    Truncated {
        what: &'static str,
        needed: usize,
        remaining: usize,
    },
    #[error("{what} is not valid UTF-8")]
    InvalidUtf8 { what: &'static str },
    #[error("{what} is null but the schema does not allow null")]
    UnexpectedNull { what: &'static str },
    #[error("{what} has invalid length {length}")]
    InvalidLength { what: &'static str, length: i64 },
    #[error("{what}: unsigned varint longer than 5 bytes")]
    VarintTooLong { what: &'static str },
}

/// The key of a `__consumer_offsets` record this module understands.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum GroupRecordKey {
    OffsetCommit {
        group: String,
        topic: String,
        partition: i32,
    },
    GroupMetadata {
        group: String,
    },
    /// Takhin's snapshot of a KIP-848 consumer group's membership (key type
    /// [`TAKHIN_CONSUMER_GROUP_KEY_TYPE`], outside Kafka's range, so Kafka's
    /// tools skip it as an unknown record). Kafka splits this state over
    /// several record types; one snapshot per change is simpler and enough
    /// for a single coordinator.
    TakhinConsumerGroup {
        group: String,
    },
}

/// Key type of [`GroupRecordKey::TakhinConsumerGroup`].
pub const TAKHIN_CONSUMER_GROUP_KEY_TYPE: i16 = 1000;

/// A committed offset (`OffsetCommitValue`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommitValue {
    pub offset: i64,
    /// `-1` when unknown (and always after reading versions 0–2).
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp_ms: i64,
    /// `-1` unless the commit set one explicitly; only version 1 carries it.
    pub expire_timestamp_ms: i64,
}

/// One member of a classic group, as stored in `GroupMetadataValue`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMemberRecord {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    /// The member's protocol metadata for the group's selected protocol.
    pub subscription: Bytes,
    /// What the leader assigned to the member in SyncGroup.
    pub assignment: Bytes,
}

/// A classic group's state (`GroupMetadataValue`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMetadataValue {
    pub protocol_type: String,
    pub generation: i32,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    /// `-1` when unknown (and always after reading versions 0–1).
    pub current_state_timestamp_ms: i64,
    pub members: Vec<GroupMemberRecord>,
}

impl GroupRecordKey {
    /// The key as Kafka 4.1 writes it (offset commits with type 1).
    pub fn encode(&self) -> Bytes {
        let mut out = Writer::new(false);
        match self {
            GroupRecordKey::OffsetCommit {
                group,
                topic,
                partition,
            } => {
                out.i16(OFFSET_COMMIT_KEY_TYPE);
                out.string(group);
                out.string(topic);
                out.i32(*partition);
            }
            GroupRecordKey::GroupMetadata { group } => {
                out.i16(GROUP_METADATA_KEY_TYPE);
                out.string(group);
            }
            GroupRecordKey::TakhinConsumerGroup { group } => {
                out.i16(TAKHIN_CONSUMER_GROUP_KEY_TYPE);
                out.string(group);
            }
        }
        out.finish()
    }

    /// Reads a key of type 0, 1 or 2.
    pub fn decode(buf: &[u8]) -> Result<GroupRecordKey, RecordFormatError> {
        let mut input = Reader::new(buf, false);
        let key_type = input.i16("key type")?;
        match key_type {
            LEGACY_OFFSET_COMMIT_KEY_TYPE | OFFSET_COMMIT_KEY_TYPE => {
                Ok(GroupRecordKey::OffsetCommit {
                    group: input.string("OffsetCommitKey.group")?,
                    topic: input.string("OffsetCommitKey.topic")?,
                    partition: input.i32("OffsetCommitKey.partition")?,
                })
            }
            GROUP_METADATA_KEY_TYPE => Ok(GroupRecordKey::GroupMetadata {
                group: input.string("GroupMetadataKey.group")?,
            }),
            TAKHIN_CONSUMER_GROUP_KEY_TYPE => Ok(GroupRecordKey::TakhinConsumerGroup {
                group: input.string("TakhinConsumerGroupKey.group")?,
            }),
            other => Err(RecordFormatError::UnknownKeyVersion(other)),
        }
    }

    /// The group the record belongs to.
    pub fn group(&self) -> &str {
        match self {
            GroupRecordKey::OffsetCommit { group, .. }
            | GroupRecordKey::GroupMetadata { group }
            | GroupRecordKey::TakhinConsumerGroup { group } => group,
        }
    }
}

impl OffsetCommitValue {
    /// The value in the version Kafka 4.1 writes: 3, or 1 when
    /// `expire_timestamp_ms` is set (not `-1`).
    pub fn encode(&self) -> Bytes {
        let version = if self.expire_timestamp_ms == -1 {
            OFFSET_COMMIT_VALUE_WRITE_VERSION
        } else {
            OFFSET_COMMIT_VALUE_EXPIRE_VERSION
        };
        self.encode_version(version)
    }

    /// The value in `version` (0..=4). Fields the version lacks are dropped.
    ///
    /// # Panics
    /// If `version` is not 0..=4: that is a programming error.
    pub fn encode_version(&self, version: i16) -> Bytes {
        assert!(
            (0..=OFFSET_COMMIT_VALUE_MAX_VERSION).contains(&version),
            "OffsetCommitValue version {version} does not exist"
        );
        let mut out = Writer::new(version >= FIRST_FLEXIBLE_VERSION);
        out.i16(version);
        out.i64(self.offset);
        if version >= 3 {
            out.i32(self.leader_epoch);
        }
        out.string(&self.metadata);
        out.i64(self.commit_timestamp_ms);
        if version == 1 {
            out.i64(self.expire_timestamp_ms);
        }
        out.no_tagged_fields();
        out.finish()
    }

    /// Reads any version Kafka has written (0..=4).
    pub fn decode(buf: &[u8]) -> Result<Self, RecordFormatError> {
        let mut input = Reader::new(buf, false);
        let version = input.i16("OffsetCommitValue version")?;
        if !(0..=OFFSET_COMMIT_VALUE_MAX_VERSION).contains(&version) {
            return Err(RecordFormatError::UnknownValueVersion {
                record: "OffsetCommitValue",
                version,
            });
        }
        input.flexible = version >= FIRST_FLEXIBLE_VERSION;
        let offset = input.i64("OffsetCommitValue.offset")?;
        let leader_epoch = if version >= 3 {
            input.i32("OffsetCommitValue.leaderEpoch")?
        } else {
            -1
        };
        let metadata = input.string("OffsetCommitValue.metadata")?;
        let commit_timestamp_ms = input.i64("OffsetCommitValue.commitTimestamp")?;
        let expire_timestamp_ms = if version == 1 {
            input.i64("OffsetCommitValue.expireTimestamp")?
        } else {
            -1
        };
        input.skip_tagged_fields("OffsetCommitValue tagged fields")?;
        Ok(OffsetCommitValue {
            offset,
            leader_epoch,
            metadata,
            commit_timestamp_ms,
            expire_timestamp_ms,
        })
    }
}

impl GroupMetadataValue {
    /// The value in the version Kafka 4.1 writes (3).
    pub fn encode(&self) -> Bytes {
        self.encode_version(GROUP_METADATA_VALUE_WRITE_VERSION)
    }

    /// The value in `version` (0..=4). Fields the version lacks are dropped.
    ///
    /// # Panics
    /// If `version` is not 0..=4, or there are more than `i32::MAX` members
    /// or bytes in a field: programming errors.
    pub fn encode_version(&self, version: i16) -> Bytes {
        assert!(
            (0..=GROUP_METADATA_VALUE_MAX_VERSION).contains(&version),
            "GroupMetadataValue version {version} does not exist"
        );
        let mut out = Writer::new(version >= FIRST_FLEXIBLE_VERSION);
        out.i16(version);
        out.string(&self.protocol_type);
        out.i32(self.generation);
        out.nullable_string(self.protocol.as_deref());
        out.nullable_string(self.leader.as_deref());
        if version >= 2 {
            out.i64(self.current_state_timestamp_ms);
        }
        out.array_len(self.members.len());
        for member in &self.members {
            out.string(&member.member_id);
            if version >= 3 {
                out.nullable_string(member.group_instance_id.as_deref());
            }
            out.string(&member.client_id);
            out.string(&member.client_host);
            if version >= 1 {
                out.i32(member.rebalance_timeout_ms);
            }
            out.i32(member.session_timeout_ms);
            out.bytes(&member.subscription);
            out.bytes(&member.assignment);
            out.no_tagged_fields();
        }
        out.no_tagged_fields();
        out.finish()
    }

    /// Reads any version Kafka has written (0..=4).
    pub fn decode(buf: &[u8]) -> Result<Self, RecordFormatError> {
        let mut input = Reader::new(buf, false);
        let version = input.i16("GroupMetadataValue version")?;
        if !(0..=GROUP_METADATA_VALUE_MAX_VERSION).contains(&version) {
            return Err(RecordFormatError::UnknownValueVersion {
                record: "GroupMetadataValue",
                version,
            });
        }
        input.flexible = version >= FIRST_FLEXIBLE_VERSION;
        let protocol_type = input.string("GroupMetadataValue.protocolType")?;
        let generation = input.i32("GroupMetadataValue.generation")?;
        let protocol = input.nullable_string("GroupMetadataValue.protocol")?;
        let leader = input.nullable_string("GroupMetadataValue.leader")?;
        let current_state_timestamp_ms = if version >= 2 {
            input.i64("GroupMetadataValue.currentStateTimestamp")?
        } else {
            -1
        };
        let count = input.array_len("GroupMetadataValue.members")?;
        // No capacity from the wire: a member takes at least 16 bytes, so a
        // lying count fails on the bytes long before memory runs out.
        let mut members = Vec::new();
        for _ in 0..count {
            members.push(decode_member(&mut input, version)?);
        }
        input.skip_tagged_fields("GroupMetadataValue tagged fields")?;
        Ok(GroupMetadataValue {
            protocol_type,
            generation,
            protocol,
            leader,
            current_state_timestamp_ms,
            members,
        })
    }
}

fn decode_member(
    input: &mut Reader<'_>,
    version: i16,
) -> Result<GroupMemberRecord, RecordFormatError> {
    let member_id = input.string("MemberMetadata.memberId")?;
    let group_instance_id = if version >= 3 {
        input.nullable_string("MemberMetadata.groupInstanceId")?
    } else {
        None
    };
    let client_id = input.string("MemberMetadata.clientId")?;
    let client_host = input.string("MemberMetadata.clientHost")?;
    let rebalance_timeout = if version >= 1 {
        Some(input.i32("MemberMetadata.rebalanceTimeout")?)
    } else {
        None
    };
    let session_timeout_ms = input.i32("MemberMetadata.sessionTimeout")?;
    let subscription = input.bytes("MemberMetadata.subscription")?;
    let assignment = input.bytes("MemberMetadata.assignment")?;
    input.skip_tagged_fields("MemberMetadata tagged fields")?;
    Ok(GroupMemberRecord {
        member_id,
        group_instance_id,
        client_id,
        client_host,
        // Version 0 predates the rebalance timeout; Kafka used the session
        // timeout in its place.
        rebalance_timeout_ms: rebalance_timeout.unwrap_or(session_timeout_ms),
        session_timeout_ms,
        subscription,
        assignment,
    })
}

/// The `__consumer_offsets` partition that holds `group_id`, as Kafka picks
/// it: `Utils.abs(groupId.hashCode()) % partitions`, where `hashCode` is
/// Java's `String.hashCode` (`h = 31 * h + c` over UTF-16 code units,
/// wrapping) and Kafka's `Utils.abs` is `Math.abs` except that
/// `Integer.MIN_VALUE` maps to 0 (it is *not* the `& 0x7fffffff` of
/// `Utils.toPositive`; the two differ for every negative hash).
///
/// # Panics
/// If `partitions <= 0` (`offsets.topic.num.partitions` is validated `>= 1`).
pub fn partition_for_group(group_id: &str, partitions: i32) -> i32 {
    assert!(
        partitions > 0,
        "__consumer_offsets has {partitions} partitions"
    );
    let hash = java_string_hash(group_id);
    let positive = if hash == i32::MIN { 0 } else { hash.abs() };
    positive % partitions
}

/// Java's `String.hashCode`.
fn java_string_hash(value: &str) -> i32 {
    let mut hash: i32 = 0;
    for unit in value.encode_utf16() {
        hash = hash.wrapping_mul(31).wrapping_add(i32::from(unit));
    }
    hash
}

/// Kafka's primitive encodings, classic or flexible.
struct Writer {
    out: BytesMut,
    flexible: bool,
}

impl Writer {
    fn new(flexible: bool) -> Self {
        Writer {
            out: BytesMut::new(),
            flexible,
        }
    }

    fn finish(self) -> Bytes {
        self.out.freeze()
    }

    fn i16(&mut self, value: i16) {
        self.out.put_i16(value);
    }

    fn i32(&mut self, value: i32) {
        self.out.put_i32(value);
    }

    fn i64(&mut self, value: i64) {
        self.out.put_i64(value);
    }

    fn unsigned_varint(&mut self, mut value: u32) {
        while value >= 0x80 {
            self.out.put_u8((value as u8 & 0x7f) | 0x80);
            value >>= 7;
        }
        self.out.put_u8(value as u8);
    }

    /// A length in the flexible (`length + 1`, 0 = null) or classic form.
    fn length(&mut self, length: Option<usize>, classic_is_i16: bool) {
        if self.flexible {
            let encoded = match length {
                None => 0,
                Some(n) => u32::try_from(n)
                    .ok()
                    .and_then(|n| n.checked_add(1))
                    .unwrap_or_else(|| panic!("length {n} does not fit a Kafka field")),
            };
            self.unsigned_varint(encoded);
        } else if classic_is_i16 {
            let encoded = match length {
                None => -1,
                Some(n) => i16::try_from(n)
                    .unwrap_or_else(|_| panic!("string of {n} bytes does not fit an i16 length")),
            };
            self.i16(encoded);
        } else {
            let encoded = match length {
                None => -1,
                Some(n) => {
                    i32::try_from(n).unwrap_or_else(|_| panic!("length {n} does not fit an i32"))
                }
            };
            self.i32(encoded);
        }
    }

    fn string(&mut self, value: &str) {
        self.nullable_string(Some(value));
    }

    fn nullable_string(&mut self, value: Option<&str>) {
        self.length(value.map(str::len), true);
        if let Some(value) = value {
            self.out.put_slice(value.as_bytes());
        }
    }

    fn bytes(&mut self, value: &[u8]) {
        self.length(Some(value.len()), false);
        self.out.put_slice(value);
    }

    fn array_len(&mut self, len: usize) {
        self.length(Some(len), false);
    }

    fn no_tagged_fields(&mut self) {
        if self.flexible {
            self.unsigned_varint(0);
        }
    }
}

/// Reads Kafka primitives from a slice, bounding every length by what
/// remains.
struct Reader<'a> {
    buf: &'a [u8],
    flexible: bool,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8], flexible: bool) -> Self {
        Reader { buf, flexible }
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], RecordFormatError> {
        if n > self.buf.len() {
            return Err(RecordFormatError::Truncated {
                what,
                needed: n,
                remaining: self.buf.len(),
            });
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], RecordFormatError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    fn i16(&mut self, what: &'static str) -> Result<i16, RecordFormatError> {
        Ok(i16::from_be_bytes(self.array(what)?))
    }

    fn i32(&mut self, what: &'static str) -> Result<i32, RecordFormatError> {
        Ok(i32::from_be_bytes(self.array(what)?))
    }

    fn i64(&mut self, what: &'static str) -> Result<i64, RecordFormatError> {
        Ok(i64::from_be_bytes(self.array(what)?))
    }

    fn unsigned_varint(&mut self, what: &'static str) -> Result<u32, RecordFormatError> {
        let mut value: u32 = 0;
        for index in 0..5 {
            let [byte] = self.array::<1>(what)?;
            value |= u32::from(byte & 0x7f) << (7 * index);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(RecordFormatError::VarintTooLong { what })
    }

    /// A length: `None` for null, checked against the remaining bytes
    /// (`element_bytes_min` per element) before anyone allocates from it.
    fn length(
        &mut self,
        what: &'static str,
        classic_is_i16: bool,
        element_bytes_min: usize,
    ) -> Result<Option<usize>, RecordFormatError> {
        let raw: i64 = if self.flexible {
            i64::from(self.unsigned_varint(what)?) - 1
        } else if classic_is_i16 {
            i64::from(self.i16(what)?)
        } else {
            i64::from(self.i32(what)?)
        };
        if raw == -1 {
            return Ok(None);
        }
        let length = usize::try_from(raw)
            .map_err(|_| RecordFormatError::InvalidLength { what, length: raw })?;
        let needed = length.saturating_mul(element_bytes_min);
        if needed > self.buf.len() {
            return Err(RecordFormatError::Truncated {
                what,
                needed,
                remaining: self.buf.len(),
            });
        }
        Ok(Some(length))
    }

    fn nullable_string(&mut self, what: &'static str) -> Result<Option<String>, RecordFormatError> {
        let Some(length) = self.length(what, true, 1)? else {
            return Ok(None);
        };
        let raw = self.take(length, what)?;
        match std::str::from_utf8(raw) {
            Ok(text) => Ok(Some(text.to_owned())),
            Err(_) => Err(RecordFormatError::InvalidUtf8 { what }),
        }
    }

    fn string(&mut self, what: &'static str) -> Result<String, RecordFormatError> {
        self.nullable_string(what)?
            .ok_or(RecordFormatError::UnexpectedNull { what })
    }

    fn bytes(&mut self, what: &'static str) -> Result<Bytes, RecordFormatError> {
        let length = self
            .length(what, false, 1)?
            .ok_or(RecordFormatError::UnexpectedNull { what })?;
        Ok(Bytes::copy_from_slice(self.take(length, what)?))
    }

    /// An array's element count, bounded by one byte per element (every
    /// element here is larger, so the bound is safe, not tight).
    fn array_len(&mut self, what: &'static str) -> Result<usize, RecordFormatError> {
        self.length(what, false, 1)?
            .ok_or(RecordFormatError::UnexpectedNull { what })
    }

    /// Skips a flexible struct's tagged fields; nothing in classic versions.
    fn skip_tagged_fields(&mut self, what: &'static str) -> Result<(), RecordFormatError> {
        if !self.flexible {
            return Ok(());
        }
        let count = self.unsigned_varint(what)?;
        for _ in 0..count {
            let _tag = self.unsigned_varint(what)?;
            let size = self.unsigned_varint(what)?;
            let size = usize::try_from(size).map_err(|_| RecordFormatError::InvalidLength {
                what,
                length: i64::from(size),
            })?;
            self.take(size, what)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn offset_value() -> OffsetCommitValue {
        OffsetCommitValue {
            offset: 42,
            leader_epoch: 7,
            metadata: "meta".into(),
            commit_timestamp_ms: 1_700_000_000_000,
            expire_timestamp_ms: -1,
        }
    }

    fn member(id: &str, instance: Option<&str>) -> GroupMemberRecord {
        GroupMemberRecord {
            member_id: id.into(),
            group_instance_id: instance.map(str::to_owned),
            client_id: "client".into(),
            client_host: "/127.0.0.1".into(),
            rebalance_timeout_ms: 300_000,
            session_timeout_ms: 45_000,
            subscription: Bytes::from_static(&[0, 1, 0, 0, 0, 1, 0, 1, b't']),
            assignment: Bytes::from_static(&[0, 3]),
        }
    }

    fn group_value() -> GroupMetadataValue {
        GroupMetadataValue {
            protocol_type: "consumer".into(),
            generation: 5,
            protocol: Some("range".into()),
            leader: Some("m-1".into()),
            current_state_timestamp_ms: 1_700_000_000_123,
            members: vec![member("m-1", Some("i-1")), member("m-2", None)],
        }
    }

    /// What a value looks like after a round trip through `version`.
    fn group_value_as_of(value: &GroupMetadataValue, version: i16) -> GroupMetadataValue {
        let mut expected = value.clone();
        if version < 2 {
            expected.current_state_timestamp_ms = -1;
        }
        for member in &mut expected.members {
            if version < 3 {
                member.group_instance_id = None;
            }
            if version < 1 {
                member.rebalance_timeout_ms = member.session_timeout_ms;
            }
        }
        expected
    }

    #[test]
    fn offset_commit_key_golden_bytes() {
        let key = GroupRecordKey::OffsetCommit {
            group: "g".into(),
            topic: "t".into(),
            partition: 3,
        };
        let golden = [0, 1, 0, 1, b'g', 0, 1, b't', 0, 0, 0, 3];
        assert_eq!(&key.encode()[..], &golden);
        assert_eq!(GroupRecordKey::decode(&golden), Ok(key.clone()));
        // The legacy type 0 reads the same.
        let legacy = [0, 0, 0, 1, b'g', 0, 1, b't', 0, 0, 0, 3];
        assert_eq!(GroupRecordKey::decode(&legacy), Ok(key));
    }

    #[test]
    fn group_metadata_key_golden_bytes() {
        let key = GroupRecordKey::GroupMetadata {
            group: "grp".into(),
        };
        let golden = [0, 2, 0, 3, b'g', b'r', b'p'];
        assert_eq!(&key.encode()[..], &golden);
        assert_eq!(GroupRecordKey::decode(&golden), Ok(key));
    }

    #[test]
    fn other_key_types_are_named() {
        // Type 3 is ConsumerGroupMetadataKey in Kafka 4.x.
        assert_eq!(
            GroupRecordKey::decode(&[0, 3, 0, 1, b'g']),
            Err(RecordFormatError::UnknownKeyVersion(3))
        );
        assert_eq!(
            GroupRecordKey::decode(&[0xff, 0xff]),
            Err(RecordFormatError::UnknownKeyVersion(-1))
        );
    }

    #[test]
    fn offset_commit_value_golden_bytes_v3() {
        let value = OffsetCommitValue {
            offset: 100,
            leader_epoch: 2,
            metadata: String::new(),
            commit_timestamp_ms: 0x0102,
            expire_timestamp_ms: -1,
        };
        let golden = [
            0, 3, // version
            0, 0, 0, 0, 0, 0, 0, 100, // offset
            0, 0, 0, 2, // leader epoch
            0, 0, // metadata ""
            0, 0, 0, 0, 0, 0, 1, 2, // commit timestamp
        ];
        assert_eq!(&value.encode()[..], &golden);
        assert_eq!(OffsetCommitValue::decode(&golden), Ok(value));
    }

    #[test]
    fn offset_commit_value_golden_bytes_v1_when_expiring() {
        let value = OffsetCommitValue {
            offset: 1,
            leader_epoch: -1,
            metadata: "m".into(),
            commit_timestamp_ms: 2,
            expire_timestamp_ms: 3,
        };
        let golden = [
            0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, b'm', 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0,
            3,
        ];
        assert_eq!(&value.encode()[..], &golden);
        assert_eq!(OffsetCommitValue::decode(&golden), Ok(value));
    }

    #[test]
    fn offset_commit_value_golden_bytes_v4_flexible() {
        let golden = [
            0, 4, 0, 0, 0, 0, 0, 0, 0, 9, // version, offset
            0xff, 0xff, 0xff, 0xff, // leader epoch -1
            3, b'a', b'b', // compact string "ab"
            0, 0, 0, 0, 0, 0, 0, 5, // commit timestamp
            1, 10, 2, 0xaa, 0xbb, // one unknown tagged field (tag 10, 2 bytes), skipped
        ];
        let value = OffsetCommitValue::decode(&golden);
        assert_eq!(
            value,
            Ok(OffsetCommitValue {
                offset: 9,
                leader_epoch: -1,
                metadata: "ab".into(),
                commit_timestamp_ms: 5,
                expire_timestamp_ms: -1,
            })
        );
    }

    #[test]
    fn offset_commit_value_round_trips_every_version() {
        for version in 0..=OFFSET_COMMIT_VALUE_MAX_VERSION {
            let mut value = offset_value();
            value.expire_timestamp_ms = 99;
            let decoded = OffsetCommitValue::decode(&value.encode_version(version));
            if version < 3 {
                value.leader_epoch = -1;
            }
            if version != 1 {
                value.expire_timestamp_ms = -1;
            }
            assert_eq!(decoded, Ok(value), "version {version}");
        }
    }

    #[test]
    fn group_metadata_value_golden_bytes_v3() {
        let value = GroupMetadataValue {
            protocol_type: "consumer".into(),
            generation: 1,
            protocol: Some("range".into()),
            leader: None,
            current_state_timestamp_ms: 10,
            members: vec![GroupMemberRecord {
                member_id: "m".into(),
                group_instance_id: None,
                client_id: "c".into(),
                client_host: "h".into(),
                rebalance_timeout_ms: 3,
                session_timeout_ms: 4,
                subscription: Bytes::from_static(&[0xaa]),
                assignment: Bytes::new(),
            }],
        };
        let mut golden = vec![0, 3, 0, 8];
        golden.extend_from_slice(b"consumer");
        golden.extend_from_slice(&[0, 0, 0, 1, 0, 5]);
        golden.extend_from_slice(b"range");
        golden.extend_from_slice(&[0xff, 0xff]); // leader null
        golden.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 10]); // current state timestamp
        golden.extend_from_slice(&[0, 0, 0, 1]); // one member
        golden.extend_from_slice(&[0, 1, b'm', 0xff, 0xff, 0, 1, b'c', 0, 1, b'h']);
        golden.extend_from_slice(&[0, 0, 0, 3, 0, 0, 0, 4]); // rebalance, session timeouts
        golden.extend_from_slice(&[0, 0, 0, 1, 0xaa, 0, 0, 0, 0]); // subscription, assignment
        assert_eq!(&value.encode()[..], &golden[..]);
        assert_eq!(GroupMetadataValue::decode(&golden), Ok(value));
    }

    #[test]
    fn group_metadata_value_golden_bytes_v0_defaults() {
        let mut golden = vec![0, 0, 0, 8];
        golden.extend_from_slice(b"consumer");
        golden.extend_from_slice(&[0, 0, 0, 2, 0xff, 0xff, 0, 1, b'm']);
        golden.extend_from_slice(&[0, 0, 0, 1]);
        golden.extend_from_slice(&[0, 1, b'm', 0, 0, 0, 0]); // member id, client id "", host ""
        golden.extend_from_slice(&[0, 0, 0x27, 0x10]); // session timeout 10000
        golden.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
        let value = GroupMetadataValue::decode(&golden);
        assert_eq!(
            value,
            Ok(GroupMetadataValue {
                protocol_type: "consumer".into(),
                generation: 2,
                protocol: None,
                leader: Some("m".into()),
                current_state_timestamp_ms: -1,
                members: vec![GroupMemberRecord {
                    member_id: "m".into(),
                    group_instance_id: None,
                    client_id: String::new(),
                    client_host: String::new(),
                    rebalance_timeout_ms: 10_000,
                    session_timeout_ms: 10_000,
                    subscription: Bytes::new(),
                    assignment: Bytes::new(),
                }],
            })
        );
    }

    #[test]
    fn group_metadata_value_golden_bytes_v4_flexible() {
        let mut golden = vec![0, 4, 2, b'c', 0, 0, 0, 1];
        golden.extend_from_slice(&[0, 2, b'l']); // protocol null, leader "l"
        golden.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 7]);
        golden.push(2); // one member
        golden.extend_from_slice(&[2, b'm', 2, b'i', 1, 1]); // id, instance, client id "", host ""
        golden.extend_from_slice(&[0, 0, 0, 5, 0, 0, 0, 6]);
        golden.extend_from_slice(&[2, 0xaa, 1]); // subscription [aa], assignment []
        golden.push(0); // member tagged fields
        golden.extend_from_slice(&[1, 0, 1, 0xff]); // group tagged fields: tag 0, one byte
        let value = GroupMetadataValue::decode(&golden);
        assert_eq!(
            value,
            Ok(GroupMetadataValue {
                protocol_type: "c".into(),
                generation: 1,
                protocol: None,
                leader: Some("l".into()),
                current_state_timestamp_ms: 7,
                members: vec![GroupMemberRecord {
                    member_id: "m".into(),
                    group_instance_id: Some("i".into()),
                    client_id: String::new(),
                    client_host: String::new(),
                    rebalance_timeout_ms: 5,
                    session_timeout_ms: 6,
                    subscription: Bytes::from_static(&[0xaa]),
                    assignment: Bytes::new(),
                }],
            })
        );
    }

    #[test]
    fn group_metadata_value_round_trips_every_version() {
        let value = group_value();
        for version in 0..=GROUP_METADATA_VALUE_MAX_VERSION {
            let decoded = GroupMetadataValue::decode(&value.encode_version(version));
            assert_eq!(
                decoded,
                Ok(group_value_as_of(&value, version)),
                "version {version}"
            );
        }
        let empty = GroupMetadataValue {
            protocol_type: "consumer".into(),
            generation: 0,
            protocol: None,
            leader: None,
            current_state_timestamp_ms: -1,
            members: Vec::new(),
        };
        assert_eq!(GroupMetadataValue::decode(&empty.encode()), Ok(empty));
    }

    #[test]
    fn errors_name_the_field() {
        let value = offset_value().encode();
        assert!(matches!(
            OffsetCommitValue::decode(&value[..value.len() - 1]),
            Err(RecordFormatError::Truncated {
                what: "OffsetCommitValue.commitTimestamp",
                ..
            })
        ));
        assert_eq!(
            OffsetCommitValue::decode(&[0, 5]),
            Err(RecordFormatError::UnknownValueVersion {
                record: "OffsetCommitValue",
                version: 5
            })
        );
        // metadata null in a non-nullable string
        let null_metadata = [
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        assert_eq!(
            OffsetCommitValue::decode(&null_metadata),
            Err(RecordFormatError::UnexpectedNull {
                what: "OffsetCommitValue.metadata"
            })
        );
        let bad_utf8 = [0, 2, 0, 1, 0xff];
        assert_eq!(
            GroupRecordKey::decode(&bad_utf8),
            Err(RecordFormatError::InvalidUtf8 {
                what: "GroupMetadataKey.group"
            })
        );
        let negative = [0, 2, 0x80, 0];
        assert!(matches!(
            GroupRecordKey::decode(&negative),
            Err(RecordFormatError::InvalidLength { .. })
        ));
    }

    #[test]
    fn a_lying_member_count_fails_without_allocating() {
        let mut value = group_value().encode_version(0).to_vec();
        // protocol type "consumer", generation, protocol "range", leader "m-1"
        let count_at = 2 + 2 + 8 + 4 + 2 + 5 + 2 + 3;
        value[count_at..count_at + 4].copy_from_slice(&i32::MAX.to_be_bytes());
        assert!(matches!(
            GroupMetadataValue::decode(&value),
            Err(RecordFormatError::Truncated {
                what: "GroupMetadataValue.members",
                ..
            })
        ));
        let lying_bytes = [0, 1, 0x7f, 0xff, 0xff, 0xff];
        let mut record = vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        record.extend_from_slice(&lying_bytes);
        assert!(GroupMetadataValue::decode(&record).is_err());
    }

    #[test]
    fn varints_longer_than_five_bytes_are_rejected() {
        let value = [
            0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01,
        ];
        assert_eq!(
            OffsetCommitValue::decode(&value),
            Err(RecordFormatError::VarintTooLong {
                what: "OffsetCommitValue.metadata"
            })
        );
    }

    #[test]
    fn partition_for_group_matches_java() {
        // Java: "".hashCode() == 0, "a".hashCode() == 97.
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("a"), 97);
        assert_eq!(java_string_hash("group-1"), 293_427_299);
        // Integer.MIN_VALUE: Utils.abs maps it to 0.
        assert_eq!(java_string_hash("polygenelubricants"), i32::MIN);
        assert_eq!(partition_for_group("polygenelubricants", 50), 0);
        // Non-ASCII: hashed over UTF-16 code units, a surrogate pair is two.
        assert_eq!(java_string_hash("é"), 0xe9);
        assert_eq!(java_string_hash("😀"), 1_772_899); // 0xd83d * 31 + 0xde00
        assert_eq!(partition_for_group("", 50), 0);
        assert_eq!(partition_for_group("a", 50), 97 % 50);
        assert_eq!(partition_for_group("group-1", 50), 293_427_299 % 50);
    }

    #[test]
    fn partition_for_group_uses_abs_not_mask_for_negative_hashes() {
        // Java: "orders-consumer".hashCode() == -1204742690.
        // Utils.abs: 1204742690 % 50 == 40; the mask form would give 8.
        assert_eq!(java_string_hash("orders-consumer"), -1_204_742_690);
        assert_eq!(partition_for_group("orders-consumer", 50), 40);
        // "groupe-café" (non-ASCII, positive): 1208610248 % 50 == 48.
        assert_eq!(java_string_hash("groupe-café"), 1_208_610_248);
        assert_eq!(partition_for_group("groupe-café", 50), 48);
        assert_eq!(partition_for_group("orders-consumer", 1), 0);
    }

    fn arb_string() -> impl Strategy<Value = String> {
        "\\PC{0,12}"
    }

    fn arb_member() -> impl Strategy<Value = GroupMemberRecord> {
        (
            arb_string(),
            proptest::option::of(arb_string()),
            arb_string(),
            arb_string(),
            any::<i32>(),
            any::<i32>(),
            proptest::collection::vec(any::<u8>(), 0..20),
            proptest::collection::vec(any::<u8>(), 0..20),
        )
            .prop_map(
                |(
                    member_id,
                    group_instance_id,
                    client_id,
                    client_host,
                    rebalance,
                    session,
                    sub,
                    asg,
                )| {
                    GroupMemberRecord {
                        member_id,
                        group_instance_id,
                        client_id,
                        client_host,
                        rebalance_timeout_ms: rebalance,
                        session_timeout_ms: session,
                        subscription: Bytes::from(sub),
                        assignment: Bytes::from(asg),
                    }
                },
            )
    }

    fn arb_group_value() -> impl Strategy<Value = GroupMetadataValue> {
        (
            arb_string(),
            any::<i32>(),
            proptest::option::of(arb_string()),
            proptest::option::of(arb_string()),
            any::<i64>(),
            proptest::collection::vec(arb_member(), 0..4),
        )
            .prop_map(
                |(protocol_type, generation, protocol, leader, timestamp, members)| {
                    GroupMetadataValue {
                        protocol_type,
                        generation,
                        protocol,
                        leader,
                        current_state_timestamp_ms: timestamp,
                        members,
                    }
                },
            )
    }

    proptest! {
        #[test]
        fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = GroupRecordKey::decode(&bytes);
            let _ = OffsetCommitValue::decode(&bytes);
            let _ = GroupMetadataValue::decode(&bytes);
        }

        #[test]
        fn decoders_never_panic_behind_a_valid_version(
            version in 0i16..=4,
            bytes in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            let mut record = version.to_be_bytes().to_vec();
            record.extend_from_slice(&bytes);
            let _ = GroupRecordKey::decode(&record);
            let _ = OffsetCommitValue::decode(&record);
            let _ = GroupMetadataValue::decode(&record);
        }

        #[test]
        fn truncations_of_valid_records_are_errors(value in arb_group_value(), version in 0i16..=4, cut in any::<prop::sample::Index>()) {
            let encoded = value.encode_version(version);
            let cut = cut.index(encoded.len());
            prop_assert!(GroupMetadataValue::decode(&encoded[..cut]).is_err());
        }

        #[test]
        fn keys_round_trip(group in arb_string(), topic in arb_string(), partition in any::<i32>()) {
            let key = GroupRecordKey::OffsetCommit { group: group.clone(), topic, partition };
            prop_assert_eq!(GroupRecordKey::decode(&key.encode()), Ok(key));
            let key = GroupRecordKey::GroupMetadata { group };
            prop_assert_eq!(GroupRecordKey::decode(&key.encode()), Ok(key));
        }

        #[test]
        fn offset_values_round_trip(
            offset in any::<i64>(),
            leader_epoch in any::<i32>(),
            metadata in arb_string(),
            commit in any::<i64>(),
            expire in prop_oneof![Just(-1i64), any::<i64>()],
        ) {
            let value = OffsetCommitValue { offset, leader_epoch, metadata, commit_timestamp_ms: commit, expire_timestamp_ms: expire };
            let mut expected = value.clone();
            if expire != -1 {
                expected.leader_epoch = -1;
            }
            prop_assert_eq!(OffsetCommitValue::decode(&value.encode()), Ok(expected));
        }

        #[test]
        fn group_values_round_trip_every_version(value in arb_group_value(), version in 0i16..=4) {
            let decoded = GroupMetadataValue::decode(&value.encode_version(version));
            prop_assert_eq!(decoded, Ok(group_value_as_of(&value, version)));
        }

        #[test]
        fn partition_for_group_is_in_range(id in "\\PC{0,40}", partitions in 1i32..500) {
            let partition = partition_for_group(&id, partitions);
            prop_assert!((0..partitions).contains(&partition));
        }
    }
}
