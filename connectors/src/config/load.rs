//! Reading the configuration: the TOML file, then `SNODO_*` environment overrides, then validation.
//!
//! Overrides address any key by its path, with `__` between levels and list indices as numbers:
//! `SNODO_TRANSPORT__PREFETCH`, `SNODO_RUNTIME__RETRY='["50ms","100ms"]'`, `SNODO_TENANTS__0__NAME`.
//! Two short forms are kept because DESIGN §6–§7 name them: `SNODO_AMQP_URL` and `SNODO_REDIS_URL`.
//! A value is read as TOML when it is one (a number, a boolean, a list, a quoted string), else as text.

use std::path::{Path, PathBuf};

use super::Config;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read the configuration: {source}")]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: not valid TOML: {reason}")]
    Syntax { file: String, reason: String },
    #[error("{file}: key `{key}`: {reason}")]
    Invalid {
        file: String,
        key: String,
        reason: String,
    },
}

/// Short environment names for the two settings operators set most.
const ALIASES: [(&str, &str); 2] = [
    ("SNODO_AMQP_URL", "transport.amqp_url"),
    ("SNODO_REDIS_URL", "redis.url"),
];

/// Loads `file` (or the development configuration when `None`) with overrides from the process
/// environment.
pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
    let (origin, text) = match file {
        Some(path) => (
            path.display().to_string(),
            Some(std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                file: path.to_owned(),
                source,
            })?),
        ),
        None => ("<development defaults>".to_owned(), None),
    };
    load_from_str(&origin, text.as_deref(), std::env::vars())
}

/// Loads from TOML text (`None`: the development configuration) and the given environment.
pub fn load_from_str(
    origin: &str,
    text: Option<&str>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Config, ConfigError> {
    let mut value = match text {
        Some(text) => toml::from_str::<toml::Value>(text).map_err(|e| ConfigError::Syntax {
            file: origin.to_owned(),
            reason: e.to_string(),
        })?,
        None => {
            toml::Value::try_from(Config::development()).expect("the development configuration serializes")
        }
    };
    let mut overridden = Vec::new();
    let mut env: Vec<(String, String)> = env.into_iter().collect();
    env.sort();
    for (name, raw) in env {
        let path = match ALIASES.iter().find(|(alias, _)| *alias == name) {
            Some((_, path)) => path.to_string(),
            None => match name.strip_prefix("SNODO_") {
                // Only nested paths are configuration: SNODO_LOG, SNODO_CONFIG, SNODO_TEST_* are not.
                Some(rest) if rest.contains("__") => rest.to_ascii_lowercase().replace("__", "."),
                _ => continue,
            },
        };
        set_path(&mut value, &path, parse_env_value(&raw)).map_err(|reason| ConfigError::Invalid {
            file: format!("environment {name}"),
            key: path.clone(),
            reason,
        })?;
        overridden.push((name, path));
    }
    let config: Config = serde_path_to_error::deserialize(value).map_err(|e| {
        let key = e.path().to_string();
        // serde_path_to_error writes list indices as `tenants[0]`, override paths as `tenants.0`.
        let dotted = key.replace('[', ".").replace(']', "");
        let from_env = overridden
            .iter()
            .find(|(_, path)| dotted.starts_with(path.as_str()) || path.starts_with(&dotted));
        ConfigError::Invalid {
            file: from_env
                .map(|(name, _)| format!("environment {name}"))
                .unwrap_or_else(|| origin.to_owned()),
            key,
            reason: e.into_inner().to_string(),
        }
    })?;
    super::validate::validate(&config).map_err(|(key, reason)| ConfigError::Invalid {
        file: origin.to_owned(),
        key,
        reason,
    })?;
    Ok(config)
}

fn parse_env_value(raw: &str) -> toml::Value {
    let looks_typed = raw.starts_with('[')
        || raw.starts_with('"')
        || raw == "true"
        || raw == "false"
        || raw
            .parse::<i64>()
            .is_ok_and(|_| !raw.starts_with('0') || raw == "0");
    if looks_typed && let Ok(mut doc) = toml::from_str::<toml::Table>(&format!("v = {raw}")) {
        return doc.remove("v").expect("just parsed");
    }
    toml::Value::String(raw.to_owned())
}

fn set_path(root: &mut toml::Value, path: &str, new: toml::Value) -> Result<(), String> {
    let mut node = root;
    let parts: Vec<&str> = path.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        node = match node {
            toml::Value::Table(table) => {
                if last {
                    table.insert((*part).to_owned(), new);
                    return Ok(());
                }
                table
                    .entry((*part).to_owned())
                    .or_insert_with(|| toml::Value::Table(Default::default()))
            }
            toml::Value::Array(items) => {
                let index: usize = part
                    .parse()
                    .map_err(|_| format!("`{part}` is not a list index"))?;
                let len = items.len();
                let slot = items
                    .get_mut(index)
                    .ok_or_else(|| format!("index {index} is past the end of a list of {len}"))?;
                if last {
                    *slot = new;
                    return Ok(());
                }
                slot
            }
            _ => return Err(format!("`{part}` is below a value that is not a table")),
        };
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn no_env() -> Vec<(String, String)> {
        Vec::new()
    }

    #[test]
    fn development_defaults_are_valid() {
        let c = load_from_str("x", None, no_env()).unwrap();
        assert_eq!(c.tenants[0].istat, "015146");
        assert_eq!(c.tenants[0].fiscal_code, "01199250158");
        assert_eq!(c.tenants[0].cadastral_code, "F205");
        assert!(c.transport.amqp_url.is_none());
        assert_eq!(c.listeners.ops.port(), 9400);
    }

    #[test]
    fn environment_overrides_any_key() {
        let env = vec![
            (
                "SNODO_AMQP_URL".to_owned(),
                "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned(),
            ),
            ("SNODO_RUNTIME__RETRY".to_owned(), "[\"50ms\", \"1s\"]".to_owned()),
            ("SNODO_RUNTIME__PREFETCH".to_owned(), "7".to_owned()),
            ("SNODO_TENANTS__0__NAME".to_owned(), "Milano".to_owned()),
            ("SNODO_CONNECTORS__CORE__CONCURRENCY".to_owned(), "3".to_owned()),
            ("SNODO_TEST_AMQP_URL".to_owned(), "ignored".to_owned()),
            ("SNODO_LOG".to_owned(), "debug".to_owned()),
        ];
        let c = load_from_str("x", None, env).unwrap();
        assert_eq!(
            c.transport.amqp_url.as_deref(),
            Some("amqp://guest:guest@127.0.0.1:5672/%2f")
        );
        assert_eq!(
            c.runtime.retry,
            vec![Duration::from_millis(50), Duration::from_secs(1)]
        );
        assert_eq!(c.runtime.prefetch, 7);
        assert_eq!(c.tenants[0].name, "Milano");
        assert_eq!(c.runtime_for("core").concurrency, 3);
        assert_eq!(c.runtime_for("anpr").concurrency, 32);
    }

    #[test]
    fn unknown_key_is_reported_with_file_and_key() {
        let err = load_from_str("snodo.toml", Some("[runtime]\nprefetchh = 3\n"), no_env()).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("snodo.toml: key `runtime"), "{text}");
        assert!(text.contains("prefetchh"), "{text}");
    }

    #[test]
    fn bad_value_is_reported_with_its_key() {
        let err = load_from_str("snodo.toml", Some("[runtime]\nretry = [\"soon\"]\n"), no_env()).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("key `runtime.retry`"), "{text}");
        assert!(text.contains("soon"), "{text}");
    }

    #[test]
    fn bad_environment_value_names_the_variable() {
        let env = vec![("SNODO_RUNTIME__PREFETCH".to_owned(), "lots".to_owned())];
        let err = load_from_str("snodo.toml", Some(""), env).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("environment SNODO_RUNTIME__PREFETCH: key `runtime.prefetch`"),
            "{err}"
        );
    }

    #[test]
    fn syntax_errors_name_the_file() {
        let err = load_from_str("snodo.toml", Some("[runtime\n"), no_env()).unwrap_err();
        assert!(err.to_string().starts_with("snodo.toml: not valid TOML"), "{err}");
    }

    #[test]
    fn semantic_rules_name_the_offending_key() {
        let cases = [
            ("SNODO_TENANTS__0__ISTAT", "15146", "tenants[0].istat"),
            (
                "SNODO_TENANTS__0__FISCAL_CODE",
                "0119925015X",
                "tenants[0].fiscal_code",
            ),
            (
                "SNODO_TENANTS__0__CADASTRAL_CODE",
                "f205",
                "tenants[0].cadastral_code",
            ),
            ("SNODO_RUNTIME__PREFETCH", "0", "runtime.prefetch"),
            ("SNODO_RUNTIME__RETRY", "[\"0s\"]", "runtime.retry"),
            ("SNODO_TRANSPORT__AMQP_URL", "http://rabbit", "transport.amqp_url"),
            (
                "SNODO_BACKENDS__0__EVENTS_QUEUE",
                "snodo.mine",
                "backends[0].events_queue",
            ),
        ];
        for (var, value, key) in cases {
            let err = load_from_str("x", None, vec![(var.to_owned(), value.to_owned())]).unwrap_err();
            assert!(
                err.to_string().contains(&format!("key `{key}`")),
                "{var}={value}: {err}"
            );
        }
    }

    #[test]
    fn a_file_with_two_tenants_loads() {
        let text = r#"
            [transport]
            prefix = "snodo"
            [[tenants]]
            istat = "015146"
            name = "Comune di Milano"
            fiscal_code = "01199250158"
            cadastral_code = "F205"
            public_base_url = "https://snodo.comune.milano.it"
            [[tenants]]
            istat = "058091"
            name = "Roma Capitale"
            fiscal_code = "02438750586"
            cadastral_code = "H501"
            public_base_url = "https://snodo.comune.roma.it"
            environment = "test"
        "#;
        let c = load_from_str("snodo.toml", Some(text), no_env()).unwrap();
        assert_eq!(c.tenants.len(), 2);
        assert!(c.tenant("058091").is_some());
    }
}
