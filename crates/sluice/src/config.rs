//! The whole config: one TOML file, every key overridable by an environment
//! variable, embedded defaults for everything.
//!
//! `SLUICE_<SECTION>_<KEY>` overrides `[section] key`, e.g.
//! `SLUICE_STORAGE_ROOT=/var/lib/sluice` or `SLUICE_PIPELINE_SHARDS=4`. Errors
//! are one line naming the key (and the variable, if one set it).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sluice_alert::AlertingConfig;
use sluice_model::units::Duration;
use sluice_otlp::ReceiverConfig;
use sluice_pipeline::watch::WatchConfig;
use sluice_pipeline::{MemoryConfig, PipelineConfig, available_memory};
use sluice_query::{ApiConfig, QueryConfig};
use sluice_slo::SloDefinitions;
use sluice_storage::StorageConfig;
use sluice_storage::wal::WalConfig;

/// The `[node]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeConfig {
    /// This node's id, part of every file name so nodes sharing storage never
    /// clash. Empty: the host name.
    pub id: String,
    /// How long shutdown may take to drain and write everything before the
    /// process gives up and exits non-zero.
    pub shutdown_timeout: Duration,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            id: String::new(),
            shutdown_timeout: Duration::from_secs(30),
        }
    }
}

/// The `[log]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `error`, `warn`, `info`, `debug`, `trace`, or a tracing filter such as
    /// `info,sluice_pipeline=debug`. `RUST_LOG`, when set, wins.
    pub level: String,
    /// `text` or `json`.
    pub format: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".to_owned(),
            format: "text".to_owned(),
        }
    }
}

/// Everything Sluice can be told.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub node: NodeConfig,
    pub receivers: ReceiverConfig,
    pub api: ApiConfig,
    pub query: QueryConfig,
    pub pipeline: PipelineConfig,
    pub memory: MemoryConfig,
    pub storage: StorageConfig,
    pub wal: WalConfig,
    pub log: LogConfig,
    /// Streaming anomaly detection.
    pub anomaly: WatchConfig,
    /// Notifications of SLO alerts and anomalies.
    pub alerting: AlertingConfig,
    /// `[[slo]]` entries.
    pub slo: SloDefinitions,
}

/// A config problem, already phrased as one line for the user.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

/// The prefix of overriding environment variables.
const ENV_PREFIX: &str = "SLUICE_";
/// Variables with the prefix that are not overrides.
const NOT_OVERRIDES: [&str; 1] = ["SLUICE_CONFIG"];

impl Config {
    /// Loads `path` (or the defaults), applies `env` overrides, and validates.
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let (mut table, origin) = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    ConfigError(format!("config error: cannot read {}: {e}", path.display()))
                })?;
                (parse_toml(&text, path)?, path.display().to_string())
            }
            None => (toml::Table::new(), "defaults".to_owned()),
        };
        let overridden = apply_env(&mut table, env)?;
        let config: Config =
            serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
                let key = e.path().to_string();
                let source = overridden
                    .get(&key)
                    .map_or_else(|| format!(" (in {origin})"), |var| format!(" (from {var})"));
                let message = e.inner().to_string().trim().replace('\n', " ");
                ConfigError(format!("config error: {key}: {message}{source}"))
            })?;
        config
            .validate()
            .map_err(|e| ConfigError(format!("config error: {e}")))?;
        Ok(config)
    }

    /// Checks what types cannot.
    pub fn validate(&self) -> Result<(), String> {
        self.receivers.validate()?;
        self.api.validate()?;
        self.query.validate()?;
        self.pipeline.validate()?;
        self.storage.validate()?;
        self.wal.validate()?;
        self.anomaly.validate()?;
        self.alerting.validate()?;
        self.memory_budget()?;
        self.wal.resolve_dir(&self.storage.root)?;
        if !matches!(self.log.format.as_str(), "text" | "json") {
            return Err(format!(
                "log.format: {:?} is not \"text\" or \"json\"",
                self.log.format
            ));
        }
        if !self.node.id.is_empty()
            && !self
                .node
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(format!(
                "node.id: {:?} may only contain letters, digits, '-' and '_'",
                self.node.id
            ));
        }
        if self.node.shutdown_timeout.get().is_zero() {
            return Err("node.shutdown_timeout: must be longer than 0s".into());
        }
        Ok(())
    }

    /// The admission budget in bytes.
    pub fn memory_budget(&self) -> Result<u64, String> {
        self.memory.validate(
            available_memory(),
            self.receivers.max_decompressed_bytes.as_u64(),
        )
    }

    /// The node id to use: the configured one or the host name.
    pub fn node_id(&self) -> String {
        if !self.node.id.is_empty() {
            return self.node.id.clone();
        }
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .or_else(|_| std::fs::read_to_string("/etc/hostname"))
            .unwrap_or_default();
        let id: String = host
            .trim()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if id.is_empty() {
            "sluice".to_owned()
        } else {
            id
        }
    }
}

fn parse_toml(text: &str, path: &Path) -> Result<toml::Table, ConfigError> {
    text.parse::<toml::Table>().map_err(|e| {
        let line = e
            .span()
            .map(|span| text[..span.start.min(text.len())].lines().count().max(1));
        let at = line.map_or_else(String::new, |l| format!(":{l}"));
        ConfigError(format!(
            "config error: {}{at}: {}",
            path.display(),
            e.message().trim().replace('\n', " ")
        ))
    })
}

/// Applies `SLUICE_<SECTION>_<KEY>` variables to `table`. Returns which dotted
/// keys each variable set. An unknown section or key is an error, so a typo
/// never goes unnoticed.
fn apply_env(
    table: &mut toml::Table,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<BTreeMap<String, String>, ConfigError> {
    let defaults = toml::Table::try_from(Config::default())
        .map_err(|e| ConfigError(format!("config error: cannot describe defaults: {e}")))?;
    let mut overridden = BTreeMap::new();
    for (var, raw) in env {
        let Some(rest) = var.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        if NOT_OVERRIDES.contains(&var.as_str()) {
            continue;
        }
        let lower = rest.to_ascii_lowercase();
        let (section, key) = lower.split_once('_').unwrap_or((lower.as_str(), ""));
        let default = defaults
            .get(section)
            .and_then(toml::Value::as_table)
            .and_then(|s| s.get(key))
            .ok_or_else(|| {
                ConfigError(format!(
                    "config error: {var} does not name a setting (expected SLUICE_<SECTION>_<KEY>, e.g. SLUICE_STORAGE_ROOT)"
                ))
            })?;
        // Keep strings as written; parse numbers and booleans as TOML would.
        let value = if default.is_str() {
            toml::Value::String(raw)
        } else {
            format!("v = {raw}")
                .parse::<toml::Table>()
                .ok()
                .and_then(|mut t| t.remove("v"))
                .unwrap_or(toml::Value::String(raw))
        };
        let section_table = table
            .entry(section.to_owned())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        let Some(section_table) = section_table.as_table_mut() else {
            return Err(ConfigError(format!(
                "config error: {section} must be a table"
            )));
        };
        section_table.insert(key.to_owned(), value);
        overridden.insert(format!("{section}.{key}"), var);
    }
    Ok(overridden)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str, env: &[(&str, &str)]) -> Result<Config, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let path = dir.path().join("sluice.toml");
        std::fs::write(&path, text).map_err(|e| e.to_string())?;
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        Config::load(Some(&path), env).map_err(|e| e.to_string())
    }

    #[test]
    fn the_example_config_is_the_defaults() {
        let example = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../config/sluice.example.toml"
        );
        let config = Config::load(Some(Path::new(example)), []).expect("the example config loads");
        assert_eq!(config, Config::default());
    }

    #[test]
    fn no_file_means_defaults() {
        let config = Config::load(None, []).expect("defaults are valid");
        assert_eq!(config, Config::default());
        assert_eq!(config.receivers.grpc_listen, "127.0.0.1:4317");
        assert_eq!(config.storage.root, "./data");
    }

    #[test]
    fn environment_overrides_the_file() {
        let config = load(
            "[storage]\nroot = \"/from/file\"\nflush_rows = 10\n",
            &[
                ("SLUICE_STORAGE_ROOT", "/from/env"),
                ("SLUICE_PIPELINE_SHARDS", "3"),
                ("SLUICE_NODE_ID", "123"),
                ("SLUICE_RECEIVERS_MAX_REQUEST_BYTES", "2MiB"),
                ("SLUICE_CONFIG", "ignored"),
                ("PATH", "/bin"),
            ],
        )
        .expect("valid");
        assert_eq!(config.storage.root, "/from/env");
        assert_eq!(config.storage.flush_rows, 10);
        assert_eq!(config.pipeline.shards, 3);
        assert_eq!(config.node.id, "123");
        assert_eq!(config.receivers.max_request_bytes.as_u64(), 2 << 20);
    }

    #[test]
    fn errors_are_one_line_and_name_the_key() {
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
        let cases: [Case<'_>; 8] = [
            (
                "[storage]\nflush_rows = \"many\"\n",
                &[],
                "storage.flush_rows",
            ),
            (
                "[storage]\nflush_row = 5\n",
                &[],
                "unknown field `flush_row`",
            ),
            ("[storag]\n", &[], "unknown field `storag`"),
            (
                "",
                &[("SLUICE_STORAGE_FLUSH_ROWS", "lots")],
                "SLUICE_STORAGE_FLUSH_ROWS",
            ),
            (
                "",
                &[("SLUICE_STORAGE_ROOTS", "/x")],
                "SLUICE_STORAGE_ROOTS does not name a setting",
            ),
            (
                "[receivers]\ngrpc_listen = \"localhost\"\n",
                &[],
                "receivers.grpc_listen",
            ),
            (
                "[storage]\nflush_interval = \"10 parsecs\"\n",
                &[],
                "storage.flush_interval",
            ),
            ("[storage\n", &[], "sluice.toml:1"),
        ];
        for (text, env, expected) in cases {
            let err = load(text, env).expect_err(text);
            assert!(err.contains(expected), "{text:?}: {err}");
            assert!(!err.contains('\n'), "{text:?}: not one line: {err}");
            assert!(err.starts_with("config error: "), "{err}");
        }
    }
}
