//! The `[storage]` section of the config file.

use serde::{Deserialize, Serialize};
use sluice_model::units::{ByteSize, Duration};

/// Where and how Parquet files are written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// Root of the layout: a local directory (created if missing).
    pub root: String,
    /// A batch is written once it holds this many rows.
    pub flush_rows: usize,
    /// A batch is written once its first row is this old (arrival time).
    pub flush_interval: Duration,
    /// Most rows per Parquet row group (each with its own statistics and bloom
    /// filter); a larger batch is split into equal groups.
    pub row_group_rows: usize,
    /// zstd level for Parquet pages, 1 (fast) to 22 (small); ids and the
    /// resource attribute keys are always at 1 (see `writer_properties`).
    pub zstd_level: i32,
    /// Requests are refused (retryably) while the WAL directory or a local
    /// storage root has less free space than this.
    pub min_free_bytes: ByteSize,
    /// Partitions whose hour ended longer ago than this are removed; 0 keeps
    /// everything.
    pub retention: Duration,
    /// While stored data is larger than this, the oldest partitions are
    /// removed (never the current hour); 0 means no limit.
    pub max_total_bytes: ByteSize,
    /// How often retention runs.
    pub retention_interval: Duration,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            root: "./data".to_owned(),
            flush_rows: 100_000,
            flush_interval: Duration::from_secs(10),
            row_group_rows: 100_000,
            zstd_level: 3,
            min_free_bytes: ByteSize::mib(512),
            retention: Duration::from_secs(0),
            max_total_bytes: ByteSize::b(0),
            retention_interval: Duration::from_secs(60),
        }
    }
}

impl StorageConfig {
    /// The retention policy these settings describe.
    pub fn retention_policy(&self) -> crate::retention::RetentionPolicy {
        crate::retention::RetentionPolicy {
            max_age_nanos: (!self.retention.get().is_zero()).then(|| self.retention.as_nanos_u64()),
            max_total_bytes: (self.max_total_bytes.as_u64() > 0)
                .then(|| self.max_total_bytes.as_u64()),
        }
    }

    /// Checks the values a type cannot; the error names the key.
    pub fn validate(&self) -> Result<(), String> {
        if self.root.trim().is_empty() {
            return Err("storage.root: must not be empty".into());
        }
        if self.flush_rows == 0 {
            return Err("storage.flush_rows: must be at least 1".into());
        }
        if self.flush_interval.get().is_zero() {
            return Err("storage.flush_interval: must be longer than 0s".into());
        }
        if self.row_group_rows == 0 {
            return Err("storage.row_group_rows: must be at least 1".into());
        }
        if self.retention_interval.get().is_zero() {
            return Err("storage.retention_interval: must be longer than 0s".into());
        }
        if !(1..=22).contains(&self.zstd_level) {
            return Err(format!(
                "storage.zstd_level: {} is outside 1..=22",
                self.zstd_level
            ));
        }
        Ok(())
    }
}
