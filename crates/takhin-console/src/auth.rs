//! Who may use the console: users with passwords, API keys, sessions and
//! the two roles.
//!
//! Authentication is off by default ([`AuthConfig::default`]), for a console
//! that listens on loopback only; then every caller is the `anonymous`
//! principal with the [`Role::Admin`] role. When [`AuthConfig::enabled`] is
//! set, every request under `/api/v1` names a principal by one of:
//!
//! - an **API key**, in `X-API-Key: <key>` or `Authorization: Bearer <key>`
//!   (`X-API-Key` wins when both are sent). Keys are configured by their
//!   SHA-256 ([`hash_api_key`]), not by argon2: a key is a high-entropy
//!   random token ([`generate_api_key`], 256 bits), so a slow hash adds
//!   nothing against guessing and would cost an argon2 run (about 19 MiB and
//!   tens of milliseconds) on every request;
//! - a **session** cookie ([`SESSION_COOKIE`]) obtained by logging in with a
//!   username and a password. Passwords are configured as argon2 PHC strings
//!   ([`hash_password`]); sessions live in memory, are lost on restart, and
//!   expire [`AuthConfig::session_ttl_secs`] after login (an absolute
//!   lifetime, not a sliding one).
//!
//! A [`Role::ReadOnly`] principal may only read (`GET`, `HEAD`); everything
//! else needs [`Role::Admin`].
//!
//! ## Defences and limits
//!
//! - Login answers the same error for an unknown user and a wrong password,
//!   and spends the same argon2 work on both (an unknown user is checked
//!   against a dummy hash).
//! - At most [`LOGIN_FAILURES_MAX`] failed logins per username within
//!   [`LOGIN_FAILURE_WINDOW`]; further attempts are refused until the window
//!   ends, without checking the password. At most
//!   [`THROTTLED_USERNAMES_MAX`] usernames are tracked, the oldest evicted
//!   first: evicting a live entry would take that many failed logins within
//!   one window, which the argon2 cost and [`PASSWORD_CHECKS_CONCURRENT_MAX`]
//!   make far slower than the window.
//! - At most [`PASSWORD_CHECKS_CONCURRENT_MAX`] argon2 checks run at once,
//!   off the async runtime; a login waits at most
//!   [`PASSWORD_CHECK_QUEUE_TIMEOUT`] for its turn.
//! - At most [`SESSIONS_MAX`] sessions; logging in beyond that evicts the
//!   oldest. Sessions are kept by the SHA-256 of their token, so looking one
//!   up leaks nothing through timing and the memory holds no usable token.
//! - API keys are compared in constant time ([`constant_time_eq`]) against
//!   every configured key.
//!
//! ```
//! use takhin_console::auth::{hash_password, verify_password};
//! let stored = hash_password("correct horse").unwrap();
//! assert!(stored.starts_with("$argon2id$"));
//! assert!(verify_password("correct horse", &stored));
//! assert!(!verify_password("wrong", &stored));
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};
use axum::http::{HeaderMap, Method, header};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;
use utoipa::ToSchema;

/// The name of the session cookie.
pub const SESSION_COOKIE: &str = "takhin_session";
/// How long a session lives by default: 8 hours.
pub const SESSION_TTL_DEFAULT_SECS: u64 = 8 * 3600;
/// The longest session lifetime the configuration accepts: 30 days.
pub const SESSION_TTL_MAX_SECS: u64 = 30 * 24 * 3600;
/// Sessions kept at once; logging in beyond that evicts the oldest.
pub const SESSIONS_MAX: usize = 10_000;
/// Failed logins of one username within [`LOGIN_FAILURE_WINDOW`] after which
/// further attempts are refused (429) until the window ends.
pub const LOGIN_FAILURES_MAX: u32 = 5;
/// The window in which failed logins are counted, from the first failure.
pub const LOGIN_FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Usernames whose failed logins are tracked at once.
pub const THROTTLED_USERNAMES_MAX: usize = 10_000;
/// argon2 checks running at once. Each takes about 19 MiB and a core for
/// tens of milliseconds with the default parameters.
pub const PASSWORD_CHECKS_CONCURRENT_MAX: usize = 2;
/// How long a login waits for a free password check before answering 503.
pub const PASSWORD_CHECK_QUEUE_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest username, in characters.
pub const USERNAME_MAX_CHARS: usize = 128;
/// Longest password accepted at login, in bytes.
pub const PASSWORD_MAX_BYTES: usize = 1024;
/// Longest API key or session token accepted in a request, in bytes.
pub const CREDENTIAL_MAX_BYTES: usize = 1024;
/// Bytes of randomness in a session token and a generated API key.
const TOKEN_BYTES: usize = 32;
/// The prefix of generated API keys, so secret scanners can find leaked ones.
pub const API_KEY_PREFIX: &str = "takhin_";

/// What a principal may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// May read (`GET`, `HEAD`) but change nothing.
    ReadOnly,
    /// May do everything.
    Admin,
}

impl Role {
    /// Whether this role may call an endpoint with `method`.
    pub fn allows(self, method: &Method) -> bool {
        match self {
            Role::Admin => true,
            Role::ReadOnly => method == Method::GET || method == Method::HEAD,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::ReadOnly => "read-only",
            Role::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    /// `read-only` or `admin`, as in the configuration.
    fn from_str(text: &str) -> Result<Role, String> {
        match text {
            "read-only" => Ok(Role::ReadOnly),
            "admin" => Ok(Role::Admin),
            other => Err(format!(
                "unknown role '{other}'; use 'read-only' or 'admin'"
            )),
        }
    }
}

/// How a principal proved who it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// A session cookie from a login.
    Session,
    /// An API key header.
    ApiKey,
    /// Nothing: authentication is disabled.
    None,
}

/// The caller of a request, put in the request's extensions by the API's
/// authentication layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The username, the API key's name, or `anonymous`.
    pub name: String,
    pub role: Role,
    pub method: AuthMethod,
}

impl Principal {
    /// Everyone, when authentication is disabled.
    pub fn anonymous() -> Principal {
        Principal {
            name: "anonymous".to_string(),
            role: Role::Admin,
            method: AuthMethod::None,
        }
    }
}

/// A user who logs in with a password.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    pub username: String,
    /// An argon2 PHC string (`$argon2id$v=19$m=...`), see [`hash_password`].
    pub password_hash: String,
    pub role: Role,
}

impl fmt::Debug for UserConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserConfig")
            .field("username", &self.username)
            .field("password_hash", &"<redacted>")
            .field("role", &self.role)
            .finish()
    }
}

/// An API key.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyConfig {
    /// Names the key's holder in the audit log and `/auth/me`.
    pub name: String,
    /// SHA-256 of the key as 64 hex digits, optionally prefixed `sha256:`;
    /// see [`hash_api_key`].
    pub key_hash: String,
    pub role: Role,
}

impl fmt::Debug for ApiKeyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeyConfig")
            .field("name", &self.name)
            .field("key_hash", &"<redacted>")
            .field("role", &self.role)
            .finish()
    }
}

/// Authentication settings. The default is disabled.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    pub enabled: bool,
    pub users: Vec<UserConfig>,
    pub api_keys: Vec<ApiKeyConfig>,
    /// Lifetime of a session from login, in seconds (1 to
    /// [`SESSION_TTL_MAX_SECS`]).
    pub session_ttl_secs: u64,
    /// Marks the session cookie `Secure` (sent over HTTPS only). Set it
    /// whenever the console is reached over HTTPS, directly or through a
    /// proxy.
    pub cookie_secure: bool,
    /// The clock sessions and login throttling are measured with; tests
    /// inject a [`ManualClock`].
    #[serde(skip)]
    pub clock: SharedClock,
}

impl Default for AuthConfig {
    fn default() -> AuthConfig {
        AuthConfig {
            enabled: false,
            users: Vec::new(),
            api_keys: Vec::new(),
            session_ttl_secs: SESSION_TTL_DEFAULT_SECS,
            cookie_secure: false,
            clock: SharedClock::default(),
        }
    }
}

/// A configuration the console refuses to start with.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthConfigError {
    #[error("authentication is enabled but no users or API keys are configured")]
    NoPrincipals,
    #[error("user '{username}': {reason}")]
    InvalidUsername { username: String, reason: String },
    #[error("user '{0}' is configured twice")]
    DuplicateUser(String),
    #[error(
        "user '{username}': password_hash is not an argon2 PHC string ({reason}); \
         make one with `takhin console hash-password`"
    )]
    InvalidPasswordHash { username: String, reason: String },
    #[error("API key '{name}': {reason}")]
    InvalidApiKeyName { name: String, reason: String },
    #[error("API key '{0}' is configured twice")]
    DuplicateApiKeyName(String),
    #[error(
        "API key '{0}': key_hash must be the key's SHA-256 as 64 hex digits, optionally prefixed 'sha256:'"
    )]
    InvalidApiKeyHash(String),
    #[error("API keys '{0}' and '{1}' have the same key")]
    DuplicateApiKey(String, String),
    #[error("session_ttl_secs must be between 1 and {SESSION_TTL_MAX_SECS}, not {0}")]
    InvalidSessionTtl(u64),
}

impl AuthConfig {
    /// Checks the configuration; a disabled one is always valid.
    pub fn validate(&self) -> Result<(), AuthConfigError> {
        if !self.enabled {
            return Ok(());
        }
        if self.users.is_empty() && self.api_keys.is_empty() {
            return Err(AuthConfigError::NoPrincipals);
        }
        if !(1..=SESSION_TTL_MAX_SECS).contains(&self.session_ttl_secs) {
            return Err(AuthConfigError::InvalidSessionTtl(self.session_ttl_secs));
        }
        let mut usernames = std::collections::HashSet::new();
        for user in &self.users {
            if let Err(reason) = check_name(&user.username) {
                return Err(AuthConfigError::InvalidUsername {
                    username: user.username.clone(),
                    reason: reason.to_string(),
                });
            }
            if !usernames.insert(user.username.as_str()) {
                return Err(AuthConfigError::DuplicateUser(user.username.clone()));
            }
            check_password_hash(&user.password_hash).map_err(|reason| {
                AuthConfigError::InvalidPasswordHash {
                    username: user.username.clone(),
                    reason,
                }
            })?;
        }
        let mut key_names = std::collections::HashSet::new();
        let mut digests: HashMap<[u8; 32], &str> = HashMap::new();
        for key in &self.api_keys {
            if let Err(reason) = check_name(&key.name) {
                return Err(AuthConfigError::InvalidApiKeyName {
                    name: key.name.clone(),
                    reason: reason.to_string(),
                });
            }
            if !key_names.insert(key.name.as_str()) {
                return Err(AuthConfigError::DuplicateApiKeyName(key.name.clone()));
            }
            let digest = parse_key_hash(&key.key_hash)
                .ok_or_else(|| AuthConfigError::InvalidApiKeyHash(key.name.clone()))?;
            if let Some(other) = digests.insert(digest, &key.name) {
                return Err(AuthConfigError::DuplicateApiKey(
                    other.to_string(),
                    key.name.clone(),
                ));
            }
        }
        Ok(())
    }
}

/// Checks a username or API key name: 1 to [`USERNAME_MAX_CHARS`]
/// characters, no control characters.
pub fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("the name is empty");
    }
    if name.chars().count() > USERNAME_MAX_CHARS {
        return Err("the name is longer than 128 characters");
    }
    if name.chars().any(char::is_control) {
        return Err("the name contains control characters");
    }
    Ok(())
}

fn check_password_hash(phc: &str) -> Result<(), String> {
    let hash = PasswordHash::new(phc).map_err(|e| e.to_string())?;
    let algorithm = hash.algorithm.as_str();
    if !matches!(algorithm, "argon2id" | "argon2i" | "argon2d") {
        return Err(format!("algorithm '{algorithm}' is not argon2"));
    }
    argon2::Params::try_from(&hash).map_err(|e| e.to_string())?;
    if hash.salt.is_none() || hash.hash.is_none() {
        return Err("the salt or the hash is missing".to_string());
    }
    Ok(())
}

/// Could not hash a password: the system's random number generator failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot hash the password: {0}")]
pub struct HashError(String);

/// Hashes `password` with argon2id, the default parameters (19 MiB, 2
/// passes, 1 lane) and a random salt, as a PHC string for
/// [`UserConfig::password_hash`].
pub fn hash_password(password: &str) -> Result<String, HashError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// Whether `password` matches the PHC string `phc`; false for a malformed
/// `phc`. Takes an argon2 run: call it off the async runtime.
pub fn verify_password(password: &str, phc: &str) -> bool {
    let Ok(hash) = PasswordHash::new(phc) else {
        return false;
    };
    // The parameters come from the PHC string, not from `Argon2::default()`.
    Argon2::default()
        .verify_password(password.as_bytes(), &hash)
        .is_ok()
}

/// A hash with the default parameters that no password matches in
/// practice, checked for unknown usernames so that they take as long as
/// known ones. Computed once per process, with a fixed salt (no randomness
/// needed).
fn dummy_password_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        Argon2::default()
            .hash_password_with_salt(b"takhin: no such user", b"takhin-dummy-salt")
            .map(|hash| hash.to_string())
            // Cannot fail with the default parameters and a 17-byte salt;
            // an empty string would still cost nothing but fail safe.
            .unwrap_or_default()
    })
}

/// `a == b` in time that depends on the lengths only.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut hex = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        hex.push(char::from(DIGITS[usize::from(byte >> 4)]));
        hex.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
    hex
}

fn from_hex_32(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        let high = char::from(pair[0]).to_digit(16)?;
        let low = char::from(pair[1]).to_digit(16)?;
        *byte = u8::try_from(high * 16 + low).ok()?;
    }
    Some(out)
}

/// The configuration form of an API key: `sha256:` and its SHA-256 in hex.
pub fn hash_api_key(key: &str) -> String {
    format!("sha256:{}", to_hex(&sha256(key.as_bytes())))
}

fn parse_key_hash(key_hash: &str) -> Option<[u8; 32]> {
    from_hex_32(key_hash.strip_prefix("sha256:").unwrap_or(key_hash))
}

/// A new random API key: [`API_KEY_PREFIX`] and 256 random bits in hex.
pub fn generate_api_key() -> Result<String, HashError> {
    let mut bytes = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut bytes).map_err(|e| HashError(e.to_string()))?;
    Ok(format!("{API_KEY_PREFIX}{}", to_hex(&bytes)))
}

/// A source of monotonic time.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Instant;
}

/// The system's monotonic clock.
#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that moves only when told to, for tests.
#[derive(Debug)]
pub struct ManualClock {
    start: Instant,
    elapsed_ms: AtomicU64,
}

impl ManualClock {
    pub fn new() -> ManualClock {
        ManualClock {
            start: Instant::now(),
            elapsed_ms: AtomicU64::new(0),
        }
    }

    pub fn advance(&self, by: Duration) {
        let by_ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.elapsed_ms.fetch_add(by_ms, Ordering::SeqCst);
    }
}

impl Default for ManualClock {
    fn default() -> ManualClock {
        ManualClock::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.start + Duration::from_millis(self.elapsed_ms.load(Ordering::SeqCst))
    }
}

/// A clock shared by the configuration and the authenticator.
#[derive(Clone)]
pub struct SharedClock(pub Arc<dyn Clock>);

impl SharedClock {
    pub fn now(&self) -> Instant {
        self.0.now()
    }
}

impl Default for SharedClock {
    fn default() -> SharedClock {
        SharedClock(Arc::new(SystemClock))
    }
}

impl fmt::Debug for SharedClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedClock")
    }
}

impl<C: Clock> From<Arc<C>> for SharedClock {
    fn from(clock: Arc<C>) -> SharedClock {
        SharedClock(clock)
    }
}

struct Session {
    username: String,
    role: Role,
    expires_at: Instant,
    /// Login order, the key of [`SessionStore::by_age`].
    sequence: u64,
}

/// Live sessions by the SHA-256 of their token, at most [`SESSIONS_MAX`].
/// All sessions have the same lifetime, so login order is expiry order.
#[derive(Default)]
struct SessionStore {
    by_digest: HashMap<[u8; 32], Session>,
    by_age: BTreeMap<u64, [u8; 32]>,
    next_sequence: u64,
}

impl SessionStore {
    fn insert(
        &mut self,
        digest: [u8; 32],
        username: String,
        role: Role,
        now: Instant,
        ttl: Duration,
    ) {
        self.purge_expired(now);
        while self.by_digest.len() >= SESSIONS_MAX {
            let Some((_, oldest)) = self.by_age.pop_first() else {
                break;
            };
            self.by_digest.remove(&oldest);
        }
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        self.by_age.insert(sequence, digest);
        self.by_digest.insert(
            digest,
            Session {
                username,
                role,
                expires_at: now + ttl,
                sequence,
            },
        );
    }

    fn get(&mut self, digest: &[u8; 32], now: Instant) -> Result<Principal, SessionError> {
        let session = self.by_digest.get(digest).ok_or(SessionError::Unknown)?;
        if now >= session.expires_at {
            self.remove(digest);
            return Err(SessionError::Expired);
        }
        Ok(Principal {
            name: session.username.clone(),
            role: session.role,
            method: AuthMethod::Session,
        })
    }

    fn remove(&mut self, digest: &[u8; 32]) {
        if let Some(session) = self.by_digest.remove(digest) {
            self.by_age.remove(&session.sequence);
        }
    }

    fn purge_expired(&mut self, now: Instant) {
        while let Some((&sequence, &digest)) = self.by_age.first_key_value() {
            let live = self
                .by_digest
                .get(&digest)
                .is_some_and(|session| session.sequence == sequence && now < session.expires_at);
            if live {
                break;
            }
            self.by_age.remove(&sequence);
            if self
                .by_digest
                .get(&digest)
                .is_some_and(|session| session.sequence == sequence)
            {
                self.by_digest.remove(&digest);
            }
        }
    }

    fn len(&self) -> usize {
        self.by_digest.len()
    }
}

struct FailureWindow {
    started_at: Instant,
    failures: u32,
}

/// Failed logins per username, at most [`THROTTLED_USERNAMES_MAX`].
#[derive(Default)]
struct LoginThrottle {
    by_username: HashMap<String, FailureWindow>,
}

impl LoginThrottle {
    /// `Err(retry_after)` when `username` has failed too often lately.
    fn check(&mut self, username: &str, now: Instant) -> Result<(), Duration> {
        let Some(window) = self.by_username.get(username) else {
            return Ok(());
        };
        let ends_at = window.started_at + LOGIN_FAILURE_WINDOW;
        if now >= ends_at {
            self.by_username.remove(username);
            return Ok(());
        }
        if window.failures >= LOGIN_FAILURES_MAX {
            return Err(ends_at - now);
        }
        Ok(())
    }

    fn record_failure(&mut self, username: &str, now: Instant) {
        if let Some(window) = self.by_username.get_mut(username) {
            if now >= window.started_at + LOGIN_FAILURE_WINDOW {
                window.started_at = now;
                window.failures = 0;
            }
            window.failures = window.failures.saturating_add(1);
            return;
        }
        if self.by_username.len() >= THROTTLED_USERNAMES_MAX {
            self.by_username
                .retain(|_, window| now < window.started_at + LOGIN_FAILURE_WINDOW);
        }
        if self.by_username.len() >= THROTTLED_USERNAMES_MAX {
            let oldest = self
                .by_username
                .iter()
                .min_by_key(|(_, window)| window.started_at)
                .map(|(name, _)| name.clone());
            if let Some(oldest) = oldest {
                self.by_username.remove(&oldest);
            }
        }
        self.by_username.insert(
            username.to_string(),
            FailureWindow {
                started_at: now,
                failures: 1,
            },
        );
    }

    fn record_success(&mut self, username: &str) {
        self.by_username.remove(username);
    }
}

/// Why a session cookie was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("the session is unknown; log in again")]
    Unknown,
    #[error("the session has expired; log in again")]
    Expired,
}

/// Why a request's credentials were refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    #[error("the API key is not valid")]
    InvalidApiKey,
    #[error("the Authorization header must be 'Bearer <API key>'")]
    UnsupportedScheme,
    #[error(transparent)]
    Session(#[from] SessionError),
}

/// Why a login failed.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Unknown user or wrong password; deliberately not told apart.
    #[error("invalid username or password")]
    InvalidCredentials,
    #[error("too many failed logins for this user; retry later")]
    Throttled { retry_after: Duration },
    #[error("too many logins are being checked; retry later")]
    Busy,
    #[error("authentication is not enabled on this console; no login is needed")]
    Disabled,
    #[error("authentication is misconfigured: {0}")]
    Misconfigured(String),
    #[error("internal error while checking the password: {0}")]
    Internal(String),
}

/// A successful login: the principal and the session token for the cookie.
pub struct Login {
    pub principal: Principal,
    /// The cookie value. Never log it.
    pub token: String,
}

struct UserEntry {
    password_hash: String,
    role: Role,
}

struct ApiKeyEntry {
    name: String,
    digest: [u8; 32],
    role: Role,
}

/// Checks credentials and keeps sessions. Shared by all requests.
pub struct Authenticator {
    enabled: bool,
    /// Set when the configuration is invalid: then every request that needs
    /// a principal is refused (fail closed) instead of serving unprotected.
    misconfigured: Option<String>,
    users: HashMap<String, UserEntry>,
    api_keys: Vec<ApiKeyEntry>,
    session_ttl: Duration,
    cookie_secure: bool,
    clock: SharedClock,
    sessions: Mutex<SessionStore>,
    throttle: Mutex<LoginThrottle>,
    password_checks: Arc<Semaphore>,
}

impl Authenticator {
    /// The authenticator for `config`. An invalid configuration gives an
    /// authenticator that refuses every request (check
    /// [`AuthConfig::validate`] first to refuse to start instead). When
    /// enabled, computes the dummy password hash once per process (an
    /// argon2 run).
    pub fn new(config: &AuthConfig) -> Authenticator {
        let misconfigured = config.validate().err().map(|error| {
            tracing::error!(%error, "console authentication is misconfigured; refusing every API request");
            error.to_string()
        });
        let users = config
            .users
            .iter()
            .map(|user| {
                let entry = UserEntry {
                    password_hash: user.password_hash.clone(),
                    role: user.role,
                };
                (user.username.clone(), entry)
            })
            .collect();
        let api_keys = config
            .api_keys
            .iter()
            .filter_map(|key| {
                Some(ApiKeyEntry {
                    name: key.name.clone(),
                    digest: parse_key_hash(&key.key_hash)?,
                    role: key.role,
                })
            })
            .collect();
        if config.enabled {
            dummy_password_hash();
        }
        Authenticator {
            enabled: config.enabled,
            misconfigured,
            users,
            api_keys,
            session_ttl: Duration::from_secs(config.session_ttl_secs),
            cookie_secure: config.cookie_secure,
            clock: config.clock.clone(),
            sessions: Mutex::new(SessionStore::default()),
            throttle: Mutex::new(LoginThrottle::default()),
            password_checks: Arc::new(Semaphore::new(PASSWORD_CHECKS_CONCURRENT_MAX)),
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Why every request is refused, when the configuration is invalid.
    pub fn misconfigured(&self) -> Option<&str> {
        self.misconfigured.as_deref()
    }

    pub fn session_ttl(&self) -> Duration {
        self.session_ttl
    }

    pub fn cookie_secure(&self) -> bool {
        self.cookie_secure
    }

    /// Sessions currently kept.
    pub fn session_count(&self) -> usize {
        self.sessions.lock().len()
    }

    /// The principal named by a request's headers: `Ok(None)` when it sends
    /// no credentials, the anonymous admin when authentication is disabled.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Option<Principal>, CredentialError> {
        if !self.enabled {
            return Ok(Some(Principal::anonymous()));
        }
        if let Some(key) = api_key_header(headers)? {
            return self.authenticate_api_key(key).map(Some);
        }
        match session_cookie(headers) {
            Some(token) => self.authenticate_session(token).map(Some),
            None => Ok(None),
        }
    }

    /// The API key's principal, comparing against every configured key.
    pub fn authenticate_api_key(&self, key: &str) -> Result<Principal, CredentialError> {
        if key.len() > CREDENTIAL_MAX_BYTES {
            return Err(CredentialError::InvalidApiKey);
        }
        let digest = sha256(key.as_bytes());
        let mut found = None;
        for entry in &self.api_keys {
            if constant_time_eq(&digest, &entry.digest) {
                found = Some(entry);
            }
        }
        let entry = found.ok_or(CredentialError::InvalidApiKey)?;
        Ok(Principal {
            name: entry.name.clone(),
            role: entry.role,
            method: AuthMethod::ApiKey,
        })
    }

    /// The session's principal.
    pub fn authenticate_session(&self, token: &str) -> Result<Principal, CredentialError> {
        if token.len() > CREDENTIAL_MAX_BYTES {
            return Err(SessionError::Unknown.into());
        }
        let digest = sha256(token.as_bytes());
        let now = self.clock.now();
        Ok(self.sessions.lock().get(&digest, now)?)
    }

    /// Checks `username` and `password` and opens a session.
    pub async fn login(&self, username: &str, password: &str) -> Result<Login, LoginError> {
        if !self.enabled {
            return Err(LoginError::Disabled);
        }
        if let Some(reason) = &self.misconfigured {
            return Err(LoginError::Misconfigured(reason.clone()));
        }
        self.throttle
            .lock()
            .check(username, self.clock.now())
            .map_err(|retry_after| LoginError::Throttled { retry_after })?;
        let role = self.check_password(username, password).await?;
        let Some(role) = role else {
            self.throttle
                .lock()
                .record_failure(username, self.clock.now());
            return Err(LoginError::InvalidCredentials);
        };
        self.throttle.lock().record_success(username);
        let mut token_bytes = [0u8; TOKEN_BYTES];
        getrandom::fill(&mut token_bytes).map_err(|e| LoginError::Internal(e.to_string()))?;
        let token = to_hex(&token_bytes);
        self.sessions.lock().insert(
            sha256(token.as_bytes()),
            username.to_string(),
            role,
            self.clock.now(),
            self.session_ttl,
        );
        Ok(Login {
            principal: Principal {
                name: username.to_string(),
                role,
                method: AuthMethod::Session,
            },
            token,
        })
    }

    /// The user's role if the password is right. Unknown users are checked
    /// against a dummy hash so that they take as long.
    async fn check_password(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<Role>, LoginError> {
        let (phc, role) = match self.users.get(username) {
            Some(user) => (user.password_hash.clone(), Some(user.role)),
            None => (dummy_password_hash().to_string(), None),
        };
        let permit = tokio::time::timeout(
            PASSWORD_CHECK_QUEUE_TIMEOUT,
            Arc::clone(&self.password_checks).acquire_owned(),
        )
        .await
        .map_err(|_| LoginError::Busy)?
        .map_err(|e| LoginError::Internal(e.to_string()))?;
        let password = password.to_string();
        let matches = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            verify_password(&password, &phc)
        })
        .await
        .map_err(|e| LoginError::Internal(e.to_string()))?;
        Ok(if matches { role } else { None })
    }

    /// Ends the session of `token`, if there is one.
    pub fn logout(&self, token: &str) {
        if token.len() <= CREDENTIAL_MAX_BYTES {
            self.sessions.lock().remove(&sha256(token.as_bytes()));
        }
    }
}

/// The API key of `X-API-Key` or `Authorization: Bearer`, if one is sent.
fn api_key_header(headers: &HeaderMap) -> Result<Option<&str>, CredentialError> {
    if let Some(value) = headers.get("x-api-key") {
        return value
            .to_str()
            .map(|key| Some(key.trim()))
            .map_err(|_| CredentialError::InvalidApiKey);
    }
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| CredentialError::UnsupportedScheme)?;
    let (scheme, key) = value
        .split_once(' ')
        .ok_or(CredentialError::UnsupportedScheme)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(CredentialError::UnsupportedScheme);
    }
    Ok(Some(key.trim()))
}

/// The value of the session cookie, if one is sent.
pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == SESSION_COOKIE).then_some(value.trim())
        })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn config_with(users: &[(&str, &str, Role)], keys: &[(&str, &str, Role)]) -> AuthConfig {
        AuthConfig {
            enabled: true,
            users: users
                .iter()
                .map(|(name, password, role)| UserConfig {
                    username: name.to_string(),
                    password_hash: hash_password(password).unwrap(),
                    role: *role,
                })
                .collect(),
            api_keys: keys
                .iter()
                .map(|(name, key, role)| ApiKeyConfig {
                    name: name.to_string(),
                    key_hash: hash_api_key(key),
                    role: *role,
                })
                .collect(),
            ..AuthConfig::default()
        }
    }

    #[test]
    fn hash_and_verify_passwords() {
        let first = hash_password("s3cret").unwrap();
        let second = hash_password("s3cret").unwrap();
        assert!(
            first.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{first}"
        );
        assert_ne!(first, second, "salts must differ");
        assert!(verify_password("s3cret", &first));
        assert!(verify_password("s3cret", &second));
        assert!(!verify_password("s3cret ", &first));
        assert!(!verify_password("", &first));
        assert!(!verify_password("s3cret", "not a hash"));
        assert!(!verify_password("takhin: no such user", "$argon2id$v=19$"));
        assert!(check_password_hash(&first).is_ok());
        assert!(check_password_hash("$pbkdf2-sha256$i=1000$c2FsdA$aGFzaA").is_err());
        assert!(check_password_hash("plain").is_err());
    }

    #[test]
    fn dummy_hash_is_a_valid_default_hash() {
        let dummy = dummy_password_hash();
        assert!(
            dummy.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{dummy}"
        );
        assert!(check_password_hash(dummy).is_ok());
        assert!(!verify_password("", dummy));
    }

    #[test]
    fn constant_time_comparison() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"ab", b"abc"));
        let a = sha256(b"one");
        assert!(constant_time_eq(&a, &sha256(b"one")));
        assert!(!constant_time_eq(&a, &sha256(b"two")));
    }

    #[test]
    fn api_key_hashes_round_trip() {
        let key = generate_api_key().unwrap();
        assert!(key.starts_with(API_KEY_PREFIX));
        assert_eq!(key.len(), API_KEY_PREFIX.len() + 64);
        let hash = hash_api_key(&key);
        assert_eq!(parse_key_hash(&hash), Some(sha256(key.as_bytes())));
        let bare = hash.trim_start_matches("sha256:").to_uppercase();
        assert_eq!(parse_key_hash(&bare), Some(sha256(key.as_bytes())));
        assert_eq!(parse_key_hash("sha256:abc"), None);
        assert_eq!(parse_key_hash(&"g".repeat(64)), None);
        assert_eq!(
            hash_api_key("abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn validation_names_the_problem() {
        assert!(AuthConfig::default().validate().is_ok());
        let empty = AuthConfig {
            enabled: true,
            ..AuthConfig::default()
        };
        assert_eq!(empty.validate(), Err(AuthConfigError::NoPrincipals));
        let mut config = config_with(&[], &[("ci", "k1", Role::Admin), ("ci", "k2", Role::Admin)]);
        assert_eq!(
            config.validate(),
            Err(AuthConfigError::DuplicateApiKeyName("ci".into()))
        );
        config.api_keys[1].name = "ci2".into();
        config.api_keys[1].key_hash = hash_api_key("k1");
        assert_eq!(
            config.validate(),
            Err(AuthConfigError::DuplicateApiKey("ci".into(), "ci2".into()))
        );
        config.api_keys[1].key_hash = "sha256:xyz".into();
        assert_eq!(
            config.validate(),
            Err(AuthConfigError::InvalidApiKeyHash("ci2".into()))
        );
        config.api_keys.pop();
        config.session_ttl_secs = 0;
        assert_eq!(
            config.validate(),
            Err(AuthConfigError::InvalidSessionTtl(0))
        );
        config.session_ttl_secs = 60;
        assert!(config.validate().is_ok());
        config.users.push(UserConfig {
            username: "alice".into(),
            password_hash: "hunter2".into(),
            role: Role::Admin,
        });
        assert!(matches!(
            config.validate(),
            Err(AuthConfigError::InvalidPasswordHash { .. })
        ));
        config.users[0].username = "al\nice".into();
        assert!(matches!(
            config.validate(),
            Err(AuthConfigError::InvalidUsername { .. })
        ));
    }

    #[test]
    fn debug_output_redacts_hashes() {
        let config = config_with(
            &[("alice", "pw", Role::Admin)],
            &[("ci", "key", Role::Admin)],
        );
        let debug = format!("{config:?}");
        assert!(!debug.contains("argon2"), "{debug}");
        assert!(!debug.contains("sha256"), "{debug}");
        assert!(debug.contains("alice"));
    }

    #[test]
    fn roles_allow_methods() {
        assert!(Role::ReadOnly.allows(&Method::GET));
        assert!(Role::ReadOnly.allows(&Method::HEAD));
        for method in [
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ] {
            assert!(!Role::ReadOnly.allows(&method));
            assert!(Role::Admin.allows(&method));
        }
        assert_eq!(
            serde_json::to_string(&Role::ReadOnly).unwrap(),
            "\"read-only\""
        );
        assert_eq!(
            serde_json::from_str::<Role>("\"admin\"").unwrap(),
            Role::Admin
        );
        assert_eq!("read-only".parse::<Role>(), Ok(Role::ReadOnly));
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn sessions_are_bounded_and_expire() {
        let start = Instant::now();
        let ttl = Duration::from_secs(10);
        let mut store = SessionStore::default();
        for i in 0..SESSIONS_MAX + 5 {
            let digest = sha256(&i.to_le_bytes());
            store.insert(digest, format!("u{i}"), Role::Admin, start, ttl);
        }
        assert_eq!(store.len(), SESSIONS_MAX);
        assert_eq!(store.by_age.len(), SESSIONS_MAX);
        // The oldest five were evicted.
        for i in 0..5usize {
            assert_eq!(
                store.get(&sha256(&i.to_le_bytes()), start),
                Err(SessionError::Unknown)
            );
        }
        let newest = sha256(&(SESSIONS_MAX + 4).to_le_bytes());
        assert_eq!(
            store.get(&newest, start).unwrap().name,
            format!("u{}", SESSIONS_MAX + 4)
        );
        assert_eq!(store.get(&newest, start + ttl), Err(SessionError::Expired));
        assert_eq!(store.get(&newest, start), Err(SessionError::Unknown));
        // Everything else expires at once and is purged on the next login.
        store.insert(
            sha256(b"late"),
            "late".into(),
            Role::Admin,
            start + ttl,
            ttl,
        );
        assert_eq!(store.len(), 1);
        assert_eq!(store.by_age.len(), 1);
        store.remove(&sha256(b"late"));
        assert_eq!(store.len(), 0);
        assert!(store.by_age.is_empty());
    }

    #[test]
    fn throttle_counts_failures_in_a_window() {
        let start = Instant::now();
        let mut throttle = LoginThrottle::default();
        for _ in 0..LOGIN_FAILURES_MAX {
            assert_eq!(throttle.check("bob", start), Ok(()));
            throttle.record_failure("bob", start);
        }
        let later = start + Duration::from_secs(20);
        assert_eq!(throttle.check("bob", later), Err(Duration::from_secs(40)));
        assert_eq!(throttle.check("carol", later), Ok(()));
        assert_eq!(throttle.check("bob", start + LOGIN_FAILURE_WINDOW), Ok(()));
        assert!(throttle.by_username.is_empty());
        throttle.record_failure("bob", start);
        throttle.record_success("bob");
        assert!(throttle.by_username.is_empty());
    }

    #[test]
    fn throttle_is_bounded() {
        let start = Instant::now();
        let mut throttle = LoginThrottle::default();
        for i in 0..THROTTLED_USERNAMES_MAX {
            throttle.record_failure(&format!("user{i}"), start + Duration::from_millis(i as u64));
        }
        throttle.record_failure("one more", start + Duration::from_secs(30));
        assert_eq!(throttle.by_username.len(), THROTTLED_USERNAMES_MAX);
        assert!(!throttle.by_username.contains_key("user0"));
        // Expired windows are dropped first.
        throttle.record_failure("after", start + Duration::from_secs(200));
        assert_eq!(throttle.by_username.len(), 1);
    }

    #[test]
    fn credentials_from_headers() {
        let config = config_with(&[], &[("ci", "the-key", Role::ReadOnly)]);
        let auth = Authenticator::new(&config);
        let mut headers = HeaderMap::new();
        assert_eq!(auth.authenticate(&headers), Ok(None));
        headers.insert(header::AUTHORIZATION, "Bearer the-key".parse().unwrap());
        let principal = auth.authenticate(&headers).unwrap().unwrap();
        assert_eq!(
            (principal.name.as_str(), principal.role),
            ("ci", Role::ReadOnly)
        );
        headers.insert(header::AUTHORIZATION, "Basic dTpw".parse().unwrap());
        assert_eq!(
            auth.authenticate(&headers),
            Err(CredentialError::UnsupportedScheme)
        );
        headers.insert("x-api-key", "wrong".parse().unwrap());
        assert_eq!(
            auth.authenticate(&headers),
            Err(CredentialError::InvalidApiKey)
        );
        let mut cookies = HeaderMap::new();
        cookies.insert(
            header::COOKIE,
            "a=b; takhin_session=abc ; c=d".parse().unwrap(),
        );
        assert_eq!(session_cookie(&cookies), Some("abc"));
        assert_eq!(
            auth.authenticate(&cookies),
            Err(CredentialError::Session(SessionError::Unknown))
        );
        let disabled = Authenticator::new(&AuthConfig::default());
        assert_eq!(
            disabled.authenticate(&cookies),
            Ok(Some(Principal::anonymous()))
        );
    }

    #[tokio::test]
    async fn login_opens_a_session_until_it_expires() {
        let clock = Arc::new(ManualClock::new());
        let mut config = config_with(&[("alice", "pw", Role::Admin)], &[]);
        config.session_ttl_secs = 60;
        config.clock = clock.clone().into();
        let auth = Authenticator::new(&config);
        assert!(matches!(
            auth.login("alice", "nope").await,
            Err(LoginError::InvalidCredentials)
        ));
        assert!(matches!(
            auth.login("mallory", "pw").await,
            Err(LoginError::InvalidCredentials)
        ));
        let login = auth.login("alice", "pw").await.unwrap();
        assert_eq!(login.token.len(), 64);
        assert_eq!(login.principal.method, AuthMethod::Session);
        assert_eq!(
            auth.authenticate_session(&login.token).unwrap().name,
            "alice"
        );
        clock.advance(Duration::from_secs(59));
        assert!(auth.authenticate_session(&login.token).is_ok());
        clock.advance(Duration::from_secs(1));
        assert_eq!(
            auth.authenticate_session(&login.token),
            Err(CredentialError::Session(SessionError::Expired))
        );
        assert_eq!(auth.session_count(), 0);
        let again = auth.login("alice", "pw").await.unwrap();
        assert_ne!(again.token, login.token);
        auth.logout(&again.token);
        assert_eq!(auth.session_count(), 0);
    }

    #[tokio::test]
    async fn misconfigured_fails_closed() {
        let config = AuthConfig {
            enabled: true,
            ..AuthConfig::default()
        };
        let auth = Authenticator::new(&config);
        assert!(auth.misconfigured().is_some());
        assert!(matches!(
            auth.login("a", "b").await,
            Err(LoginError::Misconfigured(_))
        ));
        let disabled = Authenticator::new(&AuthConfig::default());
        assert!(matches!(
            disabled.login("a", "b").await,
            Err(LoginError::Disabled)
        ));
    }
}
