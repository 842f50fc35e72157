//! The console's settings: the `console.*` keys of the settings file and
//! `TAKHIN_CONSOLE_*` environment variables, kept apart from the broker's
//! Kafka-named settings.
//!
//! | key | meaning |
//! |---|---|
//! | `console.enabled` | serve the console and its REST API on `http.addr` (default true) |
//! | `console.clusters.<name>` | another cluster to manage: its bootstrap servers, comma-separated |
//! | `console.auth.enabled` | require a login or API key (default false) |
//! | `console.auth.users.<username>` | `<role>:<argon2 PHC hash>`; role is `admin` or `read-only` |
//! | `console.auth.api-keys.<name>` | `<role>:<hex SHA-256 of the key>` |
//! | `console.auth.session-ttl-secs` | session lifetime (default 28800) |
//! | `console.auth.cookie-secure` | mark the session cookie Secure (behind TLS) |
//! | `console.audit.log` | file the audit log is appended to |

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use takhin_console::auth::{ApiKeyConfig, AuthConfig, Role, UserConfig};
use takhin_console::{ClusterConfig, ConsoleConfig};

/// The prefix of every console setting.
pub const PREFIX: &str = "console.";

/// Moves the `console.*` settings out of `values` (the broker must not see
/// them) and adds those of the environment.
pub fn split_off(
    values: &mut BTreeMap<String, String>,
    env: impl Iterator<Item = (String, String)>,
) -> BTreeMap<String, String> {
    let mut console: BTreeMap<String, String> = BTreeMap::new();
    let keys: Vec<String> = values
        .keys()
        .filter(|key| key.starts_with(PREFIX))
        .cloned()
        .collect();
    for key in keys {
        if let Some(value) = values.remove(&key) {
            console.insert(key, value);
        }
    }
    for (name, value) in env {
        if let Some(key) = env_to_key(&name) {
            console.insert(key, value);
        }
    }
    console
}

/// `TAKHIN_CONSOLE_CLUSTERS_PROD` -> `console.clusters.prod`. Fixed keys
/// map to their dotted names; the last part of a map key (cluster, user or
/// API key name) is taken lowercased, with `_` kept.
fn env_to_key(name: &str) -> Option<String> {
    let rest = name.strip_prefix("TAKHIN_CONSOLE_")?;
    const MAPS: [(&str, &str); 3] = [
        ("CLUSTERS_", "console.clusters."),
        ("AUTH_USERS_", "console.auth.users."),
        ("AUTH_API_KEYS_", "console.auth.api-keys."),
    ];
    for (env_prefix, key_prefix) in MAPS {
        if let Some(entry) = rest.strip_prefix(env_prefix) {
            return Some(format!("{key_prefix}{}", entry.to_ascii_lowercase()));
        }
    }
    let key = match rest {
        "ENABLED" => "console.enabled",
        "AUTH_ENABLED" => "console.auth.enabled",
        "AUTH_SESSION_TTL_SECS" => "console.auth.session-ttl-secs",
        "AUTH_COOKIE_SECURE" => "console.auth.cookie-secure",
        "AUDIT_LOG" => "console.audit.log",
        _ => return None,
    };
    Some(key.to_string())
}

/// The console's settings, parsed.
pub struct ConsoleSettings {
    pub enabled: bool,
    pub config: ConsoleConfig,
}

fn parse_bool(key: &str, value: &str) -> anyhow::Result<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => bail!("{key}: expected true or false, got {value:?}"),
    }
}

/// Parses the console settings. `local` is the cluster the console serves
/// first (the broker of this process, or `--brokers` of `takhin console`).
pub fn parse(
    values: &BTreeMap<String, String>,
    local: Option<ClusterConfig>,
) -> anyhow::Result<ConsoleSettings> {
    let mut enabled = true;
    let mut clusters: Vec<ClusterConfig> = local.into_iter().collect();
    let mut auth = AuthConfig::default();
    let mut audit_log = None;
    for (key, value) in values {
        let rest = key.strip_prefix(PREFIX).unwrap_or(key);
        if rest == "enabled" {
            enabled = parse_bool(key, value)?;
        } else if let Some(name) = rest.strip_prefix("clusters.") {
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            {
                bail!("{key}: a cluster name may contain only letters, digits, '-', '_' and '.'");
            }
            if clusters.iter().any(|c| c.name == name) {
                bail!("{key}: cluster '{name}' is configured twice");
            }
            let servers: Vec<String> = value
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            if servers.is_empty() {
                bail!("{key}: give the cluster's bootstrap servers as HOST:PORT[,HOST:PORT...]");
            }
            for server in &servers {
                validate_host_port(server).with_context(|| format!("{key}: {server:?}"))?;
            }
            clusters.push(ClusterConfig::new(name, servers));
        } else if rest == "audit.log" {
            if value.trim().is_empty() {
                bail!("{key}: give a file path");
            }
            audit_log = Some(std::path::PathBuf::from(value.trim()));
        } else if let Some(auth_key) = rest.strip_prefix("auth.") {
            parse_auth(key, auth_key, value, &mut auth)?;
        } else {
            bail!("unknown console setting {key}");
        }
    }
    if clusters.is_empty() {
        bail!("the console has no cluster to manage");
    }
    let config = ConsoleConfig {
        clusters,
        auth,
        audit_log,
        metrics: std::sync::Arc::default(),
    };
    config.validate()?;
    Ok(ConsoleSettings { enabled, config })
}

/// `<role>:<secret>` with role `admin` or `read-only`.
fn role_and_secret<'a>(key: &str, value: &'a str) -> anyhow::Result<(Role, &'a str)> {
    let (role, secret) = value
        .split_once(':')
        .with_context(|| format!("{key}: expected <role>:<hash>, role admin or read-only"))?;
    let role = match role.trim() {
        "admin" => Role::Admin,
        "read-only" => Role::ReadOnly,
        other => bail!("{key}: role {other:?} is neither admin nor read-only"),
    };
    Ok((role, secret.trim()))
}

fn parse_auth(key: &str, auth_key: &str, value: &str, auth: &mut AuthConfig) -> anyhow::Result<()> {
    if let Some(username) = auth_key.strip_prefix("users.") {
        let (role, password_hash) = role_and_secret(key, value)?;
        auth.users.push(UserConfig {
            username: username.to_string(),
            password_hash: password_hash.to_string(),
            role,
        });
    } else if let Some(name) = auth_key.strip_prefix("api-keys.") {
        let (role, key_hash) = role_and_secret(key, value)?;
        auth.api_keys.push(ApiKeyConfig {
            name: name.to_string(),
            key_hash: key_hash.to_string(),
            role,
        });
    } else {
        match auth_key {
            "enabled" => auth.enabled = parse_bool(key, value)?,
            "cookie-secure" => auth.cookie_secure = parse_bool(key, value)?,
            "session-ttl-secs" => {
                auth.session_ttl_secs = value
                    .trim()
                    .parse()
                    .with_context(|| format!("{key}: expected a number of seconds"))?;
            }
            _ => bail!("unknown console setting {key}"),
        }
    }
    Ok(())
}

/// Checks `HOST:PORT`.
pub fn validate_host_port(server: &str) -> anyhow::Result<()> {
    let (host, port) = server.rsplit_once(':').context("expected HOST:PORT")?;
    if host.is_empty() {
        bail!("the host is empty");
    }
    port.parse::<u16>()
        .ok()
        .filter(|port| *port > 0)
        .context("the port must be a number from 1 to 65535")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_keys_leave_the_broker_settings() {
        let mut values = BTreeMap::from([
            ("num.partitions".to_string(), "3".to_string()),
            (
                "console.clusters.prod".to_string(),
                "k1:9092,k2:9092".to_string(),
            ),
        ]);
        let env = [
            (
                "TAKHIN_CONSOLE_CLUSTERS_STAGING".to_string(),
                "s:9092".to_string(),
            ),
            ("TAKHIN_NUM_PARTITIONS".to_string(), "9".to_string()),
        ];
        let console = split_off(&mut values, env.into_iter());
        assert_eq!(values.len(), 1);
        let settings = parse(
            &console,
            Some(ClusterConfig::new("local", vec!["l:9092".into()])),
        )
        .unwrap_or_else(|e| panic!("{e:#}"));
        let names: Vec<&str> = settings
            .config
            .clusters
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(names, ["local", "prod", "staging"]);
        assert_eq!(
            settings.config.clusters[1].bootstrap_servers,
            ["k1:9092", "k2:9092"]
        );
        assert!(settings.enabled);
    }

    #[test]
    fn every_console_setting_is_documented() {
        let docs = include_str!("../../../docs/configuration.md");
        for key in [
            "console.enabled",
            "console.clusters.<name>",
            "console.auth.enabled",
            "console.auth.users.<username>",
            "console.auth.api-keys.<name>",
            "console.auth.session-ttl-secs",
            "console.auth.cookie-secure",
            "console.audit.log",
        ] {
            assert!(
                docs.contains(&format!("`{key}`")),
                "{key} is missing from docs/configuration.md"
            );
        }
    }

    #[test]
    fn auth_users_and_api_keys_parse_with_roles() {
        let hash = takhin_console::auth::hash_password("s3cret").unwrap_or_default();
        let key_hash = takhin_console::auth::hash_api_key("the-key");
        let values = BTreeMap::from([
            ("console.auth.enabled".to_string(), "true".to_string()),
            (
                "console.auth.users.ann".to_string(),
                format!("admin:{hash}"),
            ),
            (
                "console.auth.users.bob".to_string(),
                format!("read-only:{hash}"),
            ),
            (
                "console.auth.api-keys.ci".to_string(),
                format!("read-only:{key_hash}"),
            ),
            (
                "console.auth.session-ttl-secs".to_string(),
                "600".to_string(),
            ),
        ]);
        let settings = parse(
            &values,
            Some(ClusterConfig::new("local", vec!["l:1".into()])),
        )
        .unwrap_or_else(|e| panic!("{e:#}"));
        let auth = &settings.config.auth;
        assert!(auth.enabled);
        assert_eq!(auth.users.len(), 2);
        assert_eq!(auth.users[0].role, Role::Admin);
        assert_eq!(auth.users[1].role, Role::ReadOnly);
        assert_eq!(auth.api_keys[0].name, "ci");
        assert_eq!(auth.session_ttl_secs, 600);

        // Enabled without anyone who could log in is refused.
        let values = BTreeMap::from([("console.auth.enabled".to_string(), "true".to_string())]);
        assert!(
            parse(
                &values,
                Some(ClusterConfig::new("local", vec!["l:1".into()]))
            )
            .is_err()
        );
    }

    #[test]
    fn bad_console_settings_are_refused_with_the_key() {
        let bad = [
            ("console.clusters.prod", "nohostport"),
            ("console.clusters.prod", ""),
            ("console.clusters.bad name", "k:1"),
            ("console.clusters.local", "k:1"),
            ("console.enabled", "maybe"),
            ("console.colour", "red"),
            ("console.auth.users.ann", "superuser:$argon2id$x"),
            ("console.auth.users.ann", "admin-no-colon"),
            ("console.auth.enabled", "yes"),
            ("console.auth.session-ttl-secs", "soon"),
            ("console.audit.log", " "),
        ];
        for (key, value) in bad {
            let values = BTreeMap::from([(key.to_string(), value.to_string())]);
            let error = parse(
                &values,
                Some(ClusterConfig::new("local", vec!["l:1".into()])),
            );
            let message = format!(
                "{:#}",
                error.err().unwrap_or_else(|| panic!("{key} accepted"))
            );
            assert!(message.contains(key), "{message}");
        }
    }
}
