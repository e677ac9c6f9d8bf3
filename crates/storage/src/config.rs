//! The `[storage]` section of the config file.

use serde::{Deserialize, Serialize};
use sluice_model::units::{ByteSize, Duration};

/// The longest `sync_pause`.
const MAX_SYNC_PAUSE: Duration = Duration::from_millis(100);

/// Where and how Parquet files are written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// Root of the layout: a local directory (created if missing).
    pub root: String,
    /// A batch is written once it holds this many rows; a shard's first batch
    /// of a partition earlier, at its share of it (see the pipeline's shards).
    pub flush_rows: usize,
    /// A batch is written once its first row is this old (arrival time).
    pub flush_interval: Duration,
    /// Most rows per Parquet row group (each with its own statistics and bloom
    /// filter); a larger batch is split into equal groups.
    pub row_group_rows: usize,
    /// zstd level for Parquet pages, 1 (fast) to 22 (small); ids are always
    /// at 1 (see `writer_properties`).
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
    /// A file under a local root is written and synced this much at a time,
    /// `sync_pause` apart; `0B` writes it whole and syncs it once. A whole
    /// file synced at once puts megabytes on the disk ahead of the WAL's next
    /// sync, and every acknowledgement waits behind them (see
    /// [`SyncPacing`](crate::SyncPacing)).
    pub sync_chunk_bytes: ByteSize,
    /// The pause between two chunks, in which the WAL's syncs go first.
    pub sync_pause: Duration,
    /// Files under a local root go straight to the disk (`O_DIRECT`), in
    /// whole 4 KiB blocks (`sync_chunk_bytes` rounded up to them), instead of
    /// through the page cache: the kernel then copies nothing (4% of the
    /// daemon's CPU at full load). Queries read new files from the disk
    /// rather than from the page cache. Where the file system refuses direct
    /// writes (some do), files go through the page cache and a warning is
    /// logged.
    pub direct_io: bool,
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
            sync_chunk_bytes: ByteSize::mib(1),
            sync_pause: Duration::from_millis(2),
            direct_io: true,
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
        let chunk = self.sync_chunk_bytes;
        if chunk != ByteSize::b(0) && chunk < ByteSize::kib(64) {
            return Err(format!(
                "storage.sync_chunk_bytes: {chunk} is below the minimum of 64KiB (0B syncs a file once)"
            ));
        }
        if self.sync_pause > MAX_SYNC_PAUSE {
            return Err(format!(
                "storage.sync_pause: {} is above the maximum of {MAX_SYNC_PAUSE}: a shard waits out every pause of the files it writes",
                self.sync_pause
            ));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_settings_out_of_range_are_named() {
        let small = StorageConfig {
            sync_chunk_bytes: ByteSize::kib(16),
            ..StorageConfig::default()
        };
        let error = small.validate().expect_err("below 64KiB");
        assert!(
            error.starts_with("storage.sync_chunk_bytes: 16KiB"),
            "{error}"
        );
        let once = StorageConfig {
            sync_chunk_bytes: ByteSize::b(0),
            ..StorageConfig::default()
        };
        assert_eq!(once.validate(), Ok(()));
        let long = StorageConfig {
            sync_pause: Duration::from_millis(500),
            ..StorageConfig::default()
        };
        let error = long.validate().expect_err("above 100ms");
        assert!(error.starts_with("storage.sync_pause: 500ms"), "{error}");
        assert_eq!(StorageConfig::default().validate(), Ok(()));
    }
}
