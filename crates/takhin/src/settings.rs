//! Where settings come from: built-in defaults, a YAML file, `TAKHIN_*`
//! environment variables, and command-line flags, in increasing precedence.
//!
//! Names are Kafka's (`log.retention.ms`). The environment variable of a
//! setting is its name upper-cased with `.` replaced by `_` and `TAKHIN_`
//! in front, as Kafka's container images do: `log.retention.check.interval.ms`
//! is `TAKHIN_LOG_RETENTION_CHECK_INTERVAL_MS`. The YAML file may write names
//! flat (`log.retention.ms: 1000`) or nested (`log: {retention: {ms: 1000}}`).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, bail};
use takhin_broker::config::BROKER_CONFIGS;

/// The environment variable that sets `name`.
pub fn env_var_name(name: &str) -> String {
    format!(
        "TAKHIN_{}",
        name.to_ascii_uppercase().replace(['.', '-'], "_")
    )
}

/// Reads a YAML settings file into a flat name → value map.
pub fn from_yaml_file(path: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config file {}", path.display()))?;
    from_yaml(&text).with_context(|| format!("parsing config file {}", path.display()))
}

pub fn from_yaml(text: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let value: serde_yaml::Value = serde_yaml::from_str(text)?;
    let mut out = BTreeMap::new();
    match value {
        serde_yaml::Value::Null => {}
        serde_yaml::Value::Mapping(_) => flatten("", &value, &mut out)?,
        _ => bail!("the top level must be a mapping of setting names to values"),
    }
    Ok(out)
}

fn flatten(
    prefix: &str,
    value: &serde_yaml::Value,
    out: &mut BTreeMap<String, String>,
) -> anyhow::Result<()> {
    use serde_yaml::Value;
    match value {
        Value::Mapping(map) => {
            for (key, child) in map {
                let key = match key {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    other => bail!("unsupported key {other:?}"),
                };
                let name = if prefix.is_empty() {
                    key
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&name, child, out)?;
            }
        }
        Value::String(s) => {
            out.insert(prefix.to_string(), s.clone());
        }
        Value::Number(n) => {
            out.insert(prefix.to_string(), n.to_string());
        }
        Value::Bool(b) => {
            out.insert(prefix.to_string(), b.to_string());
        }
        Value::Sequence(items) => {
            let mut parts = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::String(s) => parts.push(s.clone()),
                    Value::Number(n) => parts.push(n.to_string()),
                    Value::Bool(b) => parts.push(b.to_string()),
                    other => bail!("{prefix}: unsupported list item {other:?}"),
                }
            }
            out.insert(prefix.to_string(), parts.join(","));
        }
        Value::Null => {}
        Value::Tagged(_) => bail!("{prefix}: YAML tags are not supported"),
    }
    Ok(())
}

/// Settings from `TAKHIN_*` variables, for every known setting.
pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> BTreeMap<String, String> {
    BROKER_CONFIGS
        .iter()
        .filter_map(|def| lookup(&env_var_name(def.name)).map(|v| (def.name.to_string(), v)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names_follow_kafkas_container_convention() {
        assert_eq!(
            env_var_name("log.retention.check.interval.ms"),
            "TAKHIN_LOG_RETENTION_CHECK_INTERVAL_MS"
        );
        let env = from_env(|name| (name == "TAKHIN_NUM_PARTITIONS").then(|| "3".to_string()));
        assert_eq!(env.get("num.partitions").map(String::as_str), Some("3"));
        assert_eq!(env.len(), 1);
    }

    #[test]
    fn yaml_may_be_flat_or_nested() {
        let flat = from_yaml("log.retention.ms: 1000\nauto.create.topics.enable: false\n").unwrap();
        let nested =
            from_yaml("log:\n  retention:\n    ms: 1000\nauto.create.topics.enable: false\n")
                .unwrap();
        assert_eq!(flat, nested);
        assert_eq!(
            flat.get("log.retention.ms").map(String::as_str),
            Some("1000")
        );
        assert!(from_yaml("- a\n- b\n").is_err());
    }
}
