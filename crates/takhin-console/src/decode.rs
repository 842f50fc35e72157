//! Decoders: how the message viewer turns a record's key and value bytes
//! into something a person can read and a filter can inspect.
//!
//! A [`Decoder`] maps bytes to a [`Decoded`] (a display text, and the parsed
//! JSON value where the bytes are JSON or MessagePack). A
//! [`DecoderRegistry`] holds decoders by name; [`DecoderRegistry::builtin`]
//! has `text`, `json`, `hex`, `base64`, `msgpack` and `auto`. Schema-aware
//! decoders (Avro, Protobuf, JSON Schema with a schema registry) register
//! themselves the same way.
//!
//! `auto` tries, in order: JSON (any JSON value), UTF-8 text that is mostly
//! printable, MessagePack when the bytes are exactly one map or array, and
//! finally base64.
//!
//! Limits: the display text is cut at [`TEXT_MAX_BYTES`] (`truncated` says
//! so, and the parsed JSON is then left out); JSON and MessagePack nesting is
//! bounded ([`MSGPACK_DEPTH_MAX`], serde_json's own 128 levels).
//!
//! ```
//! use takhin_console::decode::DecoderRegistry;
//! let decoders = DecoderRegistry::builtin();
//! let decoded = decoders.decode("auto", br#"{"n":1}"#).unwrap();
//! assert_eq!(decoded.encoding, "json");
//! assert_eq!(decoded.json.unwrap()["n"], 1);
//! ```

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use base64::Engine as _;
use serde::Serialize;
use utoipa::ToSchema;

/// The longest display text of one key or value; longer ones are cut.
pub const TEXT_MAX_BYTES: usize = 1024 * 1024;
/// Deepest MessagePack nesting decoded (deeper input is not MessagePack to us).
pub const MSGPACK_DEPTH_MAX: usize = 128;
/// `auto` calls UTF-8 "text" when at most one character in this many is a
/// control character (other than tab, CR and LF).
const CONTROL_CHARS_ONE_IN: usize = 20;

/// The decoder used when none is named.
pub const DEFAULT_DECODER: &str = "auto";

/// Why bytes could not be decoded by a given decoder.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("not valid UTF-8: {0}")]
    Utf8(#[from] std::str::Utf8Error),
    #[error("not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("not valid MessagePack: {0}")]
    MessagePack(String),
    #[error("no decoder named '{0}'")]
    UnknownDecoder(String),
}

/// Bytes turned into something readable.
#[derive(Clone, Debug, PartialEq)]
pub struct Decoded {
    /// The decoder that produced this (`auto` names the one it chose).
    pub encoding: String,
    /// The display text, at most [`TEXT_MAX_BYTES`].
    pub text: String,
    /// The parsed value, for JSON and MessagePack (absent when `truncated`).
    pub json: Option<serde_json::Value>,
    /// Whether `text` was cut at [`TEXT_MAX_BYTES`].
    pub truncated: bool,
}

impl Decoded {
    /// A text, cut at [`TEXT_MAX_BYTES`] on a character boundary.
    pub fn text(encoding: &str, text: String, json: Option<serde_json::Value>) -> Decoded {
        let (text, truncated) = cap_text(text);
        Decoded {
            encoding: encoding.to_string(),
            text,
            json: if truncated { None } else { json },
            truncated,
        }
    }
}

fn cap_text(mut text: String) -> (String, bool) {
    if text.len() <= TEXT_MAX_BYTES {
        return (text, false);
    }
    let mut cut = TEXT_MAX_BYTES;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.truncate(cut);
    (text, true)
}

/// One way of reading bytes. Implementations must be cheap to call per
/// message and must not panic on any input.
pub trait Decoder: Send + Sync {
    /// The name used in `key_decoder=`/`value_decoder=`.
    fn name(&self) -> &str;
    /// Decodes `bytes`, or says why they are not of this decoder's format.
    fn decode(&self, bytes: &[u8]) -> Result<Decoded, DecodeError>;
}

/// Decoders by name.
#[derive(Clone, Default)]
pub struct DecoderRegistry {
    decoders: BTreeMap<String, Arc<dyn Decoder>>,
}

impl std::fmt::Debug for DecoderRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.decoders.keys()).finish()
    }
}

impl DecoderRegistry {
    /// The built-in decoders, shared.
    pub fn builtin() -> &'static DecoderRegistry {
        static BUILTIN: OnceLock<DecoderRegistry> = OnceLock::new();
        BUILTIN.get_or_init(DecoderRegistry::with_builtins)
    }

    /// A registry with the built-in decoders, to add more to.
    pub fn with_builtins() -> DecoderRegistry {
        let mut registry = DecoderRegistry::default();
        registry.register(Arc::new(TextDecoder));
        registry.register(Arc::new(JsonDecoder));
        registry.register(Arc::new(HexDecoder));
        registry.register(Arc::new(Base64Decoder));
        registry.register(Arc::new(MessagePackDecoder));
        registry.register(Arc::new(AutoDecoder));
        registry
    }

    /// Adds `decoder`, replacing one of the same name.
    pub fn register(&mut self, decoder: Arc<dyn Decoder>) {
        self.decoders.insert(decoder.name().to_string(), decoder);
    }

    pub fn get(&self, name: &str) -> Option<Arc<dyn Decoder>> {
        self.decoders.get(name).cloned()
    }

    /// Names of all decoders, sorted.
    pub fn names(&self) -> Vec<String> {
        self.decoders.keys().cloned().collect()
    }

    /// Decodes with the named decoder.
    pub fn decode(&self, name: &str, bytes: &[u8]) -> Result<Decoded, DecodeError> {
        self.decoders
            .get(name)
            .ok_or_else(|| DecodeError::UnknownDecoder(name.to_string()))?
            .decode(bytes)
    }
}

/// UTF-8 text; invalid UTF-8 is an error.
pub struct TextDecoder;

impl Decoder for TextDecoder {
    fn name(&self) -> &str {
        "text"
    }
    fn decode(&self, bytes: &[u8]) -> Result<Decoded, DecodeError> {
        let text = std::str::from_utf8(bytes)?;
        Ok(Decoded::text("text", text.to_string(), None))
    }
}

/// JSON, shown pretty-printed.
pub struct JsonDecoder;

impl Decoder for JsonDecoder {
    fn name(&self) -> &str {
        "json"
    }
    fn decode(&self, bytes: &[u8]) -> Result<Decoded, DecodeError> {
        let value: serde_json::Value = serde_json::from_slice(bytes)?;
        Ok(json_decoded("json", value))
    }
}

fn json_decoded(encoding: &str, value: serde_json::Value) -> Decoded {
    let text = serde_json::to_string_pretty(&value).unwrap_or_default();
    Decoded::text(encoding, text, Some(value))
}

/// Lower-case hex, two digits a byte.
pub struct HexDecoder;

impl Decoder for HexDecoder {
    fn name(&self) -> &str {
        "hex"
    }
    fn decode(&self, bytes: &[u8]) -> Result<Decoded, DecodeError> {
        // Two characters a byte: encode no more than fits the cap.
        let shown = &bytes[..bytes.len().min(TEXT_MAX_BYTES / 2)];
        let mut decoded = Decoded::text("hex", hex_encode(shown), None);
        decoded.truncated = shown.len() < bytes.len();
        Ok(decoded)
    }
}

/// Lower-case hex of `bytes`.
pub fn hex_encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(DIGITS[usize::from(byte >> 4)] as char);
        out.push(DIGITS[usize::from(byte & 0x0f)] as char);
    }
    out
}

/// Parses hex (either case, no separators).
pub fn hex_decode(text: &str) -> Result<Vec<u8>, String> {
    let digits = text.as_bytes();
    if !digits.len().is_multiple_of(2) {
        return Err(format!("odd number of hex digits ({})", digits.len()));
    }
    let value = |position: usize| -> Result<u8, String> {
        let digit = digits[position];
        (digit as char)
            .to_digit(16)
            .map(|v| v as u8)
            .ok_or_else(|| {
                format!(
                    "'{}' at position {position} is not a hex digit",
                    digit as char
                )
            })
    };
    let mut out = Vec::with_capacity(digits.len() / 2);
    for pair in 0..digits.len() / 2 {
        out.push(value(pair * 2)? << 4 | value(pair * 2 + 1)?);
    }
    Ok(out)
}

/// Standard base64 with padding.
pub struct Base64Decoder;

impl Decoder for Base64Decoder {
    fn name(&self) -> &str {
        "base64"
    }
    fn decode(&self, bytes: &[u8]) -> Result<Decoded, DecodeError> {
        // Four characters every three bytes.
        let shown = &bytes[..bytes.len().min(TEXT_MAX_BYTES / 4 * 3)];
        let mut decoded = Decoded::text("base64", base64_encode(shown), None);
        decoded.truncated = shown.len() < bytes.len();
        Ok(decoded)
    }
}

pub fn base64_encode(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn base64_decode(text: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|error| error.to_string())
}

/// MessagePack, shown as JSON. Binary strings become base64, extension
/// values `{"ext_type": n, "data": base64}`, non-string map keys their JSON
/// text.
pub struct MessagePackDecoder;

impl Decoder for MessagePackDecoder {
    fn name(&self) -> &str {
        "msgpack"
    }
    fn decode(&self, bytes: &[u8]) -> Result<Decoded, DecodeError> {
        let mut reader = bytes;
        let value = rmpv::decode::read_value_with_max_depth(&mut reader, MSGPACK_DEPTH_MAX)
            .map_err(|error| DecodeError::MessagePack(error.to_string()))?;
        if !reader.is_empty() {
            return Err(DecodeError::MessagePack(format!(
                "{} bytes after the first value",
                reader.len()
            )));
        }
        Ok(json_decoded("msgpack", msgpack_to_json(value)))
    }
}

fn msgpack_to_json(value: rmpv::Value) -> serde_json::Value {
    use serde_json::Value as Json;
    match value {
        rmpv::Value::Nil => Json::Null,
        rmpv::Value::Boolean(b) => Json::Bool(b),
        rmpv::Value::Integer(i) => i
            .as_i64()
            .map(Json::from)
            .or_else(|| i.as_u64().map(Json::from))
            .unwrap_or(Json::Null),
        rmpv::Value::F32(f) => serde_json::Number::from_f64(f64::from(f))
            .map(Json::Number)
            .unwrap_or(Json::Null),
        rmpv::Value::F64(f) => serde_json::Number::from_f64(f)
            .map(Json::Number)
            .unwrap_or(Json::Null),
        rmpv::Value::String(s) => match s.into_str() {
            Some(s) => Json::String(s),
            None => Json::Null,
        },
        rmpv::Value::Binary(bytes) => Json::String(base64_encode(&bytes)),
        rmpv::Value::Array(items) => Json::Array(items.into_iter().map(msgpack_to_json).collect()),
        rmpv::Value::Map(entries) => {
            let mut object = serde_json::Map::with_capacity(entries.len());
            for (key, value) in entries {
                let key = match msgpack_to_json(key) {
                    Json::String(s) => s,
                    other => other.to_string(),
                };
                object.insert(key, msgpack_to_json(value));
            }
            Json::Object(object)
        }
        rmpv::Value::Ext(ext_type, data) => serde_json::json!({
            "ext_type": ext_type,
            "data": base64_encode(&data),
        }),
    }
}

/// Guesses: JSON, then printable UTF-8, then MessagePack (a map or array that
/// uses every byte), then base64.
pub struct AutoDecoder;

impl Decoder for AutoDecoder {
    fn name(&self) -> &str {
        "auto"
    }
    fn decode(&self, bytes: &[u8]) -> Result<Decoded, DecodeError> {
        if let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) {
            return Ok(json_decoded("json", value));
        }
        if let Ok(text) = std::str::from_utf8(bytes)
            && mostly_printable(text)
        {
            return Ok(Decoded::text("text", text.to_string(), None));
        }
        // Only a leading map or array marker: a single MessagePack scalar
        // matches far too many byte strings to be a useful guess.
        if looks_like_msgpack_container(bytes)
            && let Ok(decoded) = MessagePackDecoder.decode(bytes)
        {
            return Ok(decoded);
        }
        Base64Decoder.decode(bytes)
    }
}

fn mostly_printable(text: &str) -> bool {
    let mut chars = 0usize;
    let mut control = 0usize;
    for ch in text.chars() {
        chars += 1;
        if ch.is_control() && !matches!(ch, '\t' | '\n' | '\r') {
            control += 1;
        }
    }
    control * CONTROL_CHARS_ONE_IN <= chars
}

fn looks_like_msgpack_container(bytes: &[u8]) -> bool {
    matches!(bytes.first(), Some(0x80..=0x9f | 0xdc..=0xdf))
}

/// A decoded key or value as the API shows it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct DecodedView {
    /// The decoder that produced `text` (`json`, `text`, `msgpack`, `hex`,
    /// `base64`, ...). When the requested decoder failed, `base64`.
    pub encoding: String,
    /// What to show, at most 1 MiB.
    pub text: String,
    /// The parsed value when `encoding` is `json` or `msgpack`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub json: Option<serde_json::Value>,
    /// Size of the raw bytes.
    pub size: usize,
    /// Whether `text` was cut.
    pub truncated: bool,
    /// Why the requested decoder could not read the bytes, if it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl DecodedView {
    /// Decodes `bytes` with `decoder`, falling back to base64 (with the
    /// reason in `error`) when the bytes are not of its format.
    pub fn decode(decoder: &dyn Decoder, bytes: &[u8]) -> DecodedView {
        let (decoded, error) = match decoder.decode(bytes) {
            Ok(decoded) => (decoded, None),
            Err(error) => match Base64Decoder.decode(bytes) {
                Ok(decoded) => (decoded, Some(error.to_string())),
                Err(_) => (
                    Decoded::text("base64", String::new(), None),
                    Some(error.to_string()),
                ),
            },
        };
        DecodedView {
            encoding: decoded.encoding,
            text: decoded.text,
            json: decoded.json,
            size: bytes.len(),
            truncated: decoded.truncated,
            error,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn auto(bytes: &[u8]) -> Decoded {
        DecoderRegistry::builtin().decode("auto", bytes).unwrap()
    }

    #[test]
    fn auto_prefers_json_then_text_then_msgpack_then_base64() {
        let decoded = auto(br#"{"a":[1,2]}"#);
        assert_eq!(decoded.encoding, "json");
        assert_eq!(decoded.text, "{\n  \"a\": [\n    1,\n    2\n  ]\n}");
        assert_eq!(decoded.json.unwrap()["a"][1], 2);
        assert_eq!(auto(b"42").encoding, "json");
        assert_eq!(auto(b"\"s\"").json, Some(serde_json::json!("s")));

        let decoded = auto("héllo wörld".as_bytes());
        assert_eq!(decoded.encoding, "text");
        assert_eq!(decoded.text, "héllo wörld");
        assert_eq!(decoded.json, None);
        assert_eq!(auto(b"").encoding, "text");

        // {"n": 1, "b": bin[1,2]} in MessagePack.
        let msgpack = [0x82, 0xa1, b'n', 0x01, 0xa1, b'b', 0xc4, 0x02, 0x01, 0x02];
        let decoded = auto(&msgpack);
        assert_eq!(decoded.encoding, "msgpack");
        assert_eq!(
            decoded.json.unwrap(),
            serde_json::json!({"n": 1, "b": "AQI="})
        );
        // A map followed by junk is not MessagePack.
        let decoded = auto(&[0x81, 0xa1, b'n', 0x01, 0xff]);
        assert_eq!(decoded.encoding, "base64");

        let decoded = auto(&[0x00, 0x01, 0xfe, 0xff]);
        assert_eq!(decoded.encoding, "base64");
        assert_eq!(decoded.text, "AAH+/w==");
    }

    #[test]
    fn control_characters_make_binary() {
        assert_eq!(auto(b"tab\tand\nnewline").encoding, "text");
        assert_eq!(auto(b"\x01\x02\x03abc").encoding, "base64");
    }

    #[test]
    fn explicit_decoders_refuse_what_is_not_theirs() {
        let decoders = DecoderRegistry::builtin();
        assert!(matches!(
            decoders.decode("text", &[0xff, 0xfe]),
            Err(DecodeError::Utf8(_))
        ));
        assert!(matches!(
            decoders.decode("json", b"{nope"),
            Err(DecodeError::Json(_))
        ));
        assert!(matches!(
            decoders.decode("msgpack", &[0x92, 0x01]),
            Err(DecodeError::MessagePack(_))
        ));
        assert!(matches!(
            decoders.decode("avro", b""),
            Err(DecodeError::UnknownDecoder(_))
        ));
        assert_eq!(decoders.decode("hex", b"\x00\xab").unwrap().text, "00ab");
        assert_eq!(decoders.decode("base64", b"hi").unwrap().text, "aGk=");
        let view = DecodedView::decode(&TextDecoder, &[0xff]);
        assert_eq!(view.encoding, "base64");
        assert_eq!(view.text, "/w==");
        assert!(view.error.unwrap().contains("UTF-8"));
    }

    #[test]
    fn long_text_is_cut_on_a_character_boundary() {
        let long = "é".repeat(TEXT_MAX_BYTES);
        let decoded = TextDecoder.decode(long.as_bytes()).unwrap();
        assert!(decoded.truncated);
        assert!(decoded.text.len() <= TEXT_MAX_BYTES);
        assert!(decoded.text.chars().all(|c| c == 'é'));
        let hex = HexDecoder.decode(&vec![7u8; TEXT_MAX_BYTES]).unwrap();
        assert!(hex.truncated);
        assert_eq!(hex.text.len(), TEXT_MAX_BYTES);
        let json = format!("[{}]", vec!["1"; TEXT_MAX_BYTES / 2].join(","));
        let decoded = JsonDecoder.decode(json.as_bytes()).unwrap();
        assert!(decoded.truncated);
        assert_eq!(decoded.json, None, "a cut text carries no parsed value");
    }

    #[test]
    fn hex_round_trips_and_rejects_junk() {
        assert_eq!(hex_decode("00aBff").unwrap(), vec![0, 0xab, 0xff]);
        assert!(hex_decode("abc").is_err());
        assert!(hex_decode("zz").is_err());
        assert_eq!(
            hex_encode(&hex_decode("0123456789abcdef").unwrap()),
            "0123456789abcdef"
        );
        assert!(base64_decode("!!").is_err());
    }

    #[test]
    fn msgpack_extension_and_odd_keys() {
        // {1: ext(5, [9])}
        let bytes = [0x81, 0x01, 0xd4, 0x05, 0x09];
        let decoded = MessagePackDecoder.decode(&bytes).unwrap();
        assert_eq!(
            decoded.json.unwrap(),
            serde_json::json!({"1": {"ext_type": 5, "data": "CQ=="}})
        );
    }
}
