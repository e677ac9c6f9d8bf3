//! The `[wal]` section of the config file.

use serde::{Deserialize, Serialize};
use sluice_model::units::{ByteSize, Duration};

/// When the WAL forces its writes to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FsyncPolicy {
    /// Every group commit is synced before its requests are acknowledged:
    /// nothing acknowledged is lost, even on power loss.
    Always,
    /// Synced at most every `fsync_interval`; a crash of the process loses
    /// nothing, a power loss may lose what was acknowledged since the last sync.
    Interval,
    /// Never synced by Sluice (the OS writes back when it likes); a crash of the
    /// process loses nothing, a power loss may lose recent acknowledged data.
    Never,
}

/// Where and how the write-ahead log is kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WalConfig {
    /// A local directory, even when storage is an object store. Empty: `.wal`
    /// inside the storage root (which must then be local).
    pub dir: String,
    pub fsync: FsyncPolicy,
    /// The longest time between syncs under `fsync = "interval"`.
    pub fsync_interval: Duration,
    /// A segment is closed and a new one started past this size.
    pub segment_bytes: ByteSize,
    /// The WAL never grows past this; requests are refused (retryably) until
    /// written data lets old segments go.
    pub max_bytes: ByteSize,
}

impl Default for WalConfig {
    fn default() -> Self {
        Self {
            dir: String::new(),
            fsync: FsyncPolicy::Always,
            fsync_interval: Duration::from_millis(100),
            segment_bytes: ByteSize::mib(64),
            max_bytes: ByteSize::gib(2),
        }
    }
}

impl WalConfig {
    /// The WAL directory: `dir`, or `.wal` inside the local `storage_root`.
    pub fn resolve_dir(&self, storage_root: &str) -> Result<std::path::PathBuf, String> {
        if !self.dir.trim().is_empty() {
            return Ok(self.dir.clone().into());
        }
        crate::local_dir(storage_root)
            .map(|root| root.join(".wal"))
            .ok_or_else(|| format!("wal.dir: must be set when storage.root ({storage_root}) is not a local directory"))
    }

    /// Checks the values a type cannot; the error names the key.
    pub fn validate(&self) -> Result<(), String> {
        if self.segment_bytes < ByteSize::mib(1) {
            return Err(format!(
                "wal.segment_bytes: {} is below the minimum of 1MiB",
                self.segment_bytes
            ));
        }
        if self.max_bytes < self.segment_bytes {
            return Err(format!(
                "wal.max_bytes: {} is smaller than wal.segment_bytes ({})",
                self.max_bytes, self.segment_bytes
            ));
        }
        if self.fsync == FsyncPolicy::Interval && self.fsync_interval.get().is_zero() {
            return Err("wal.fsync_interval: must be longer than 0s".into());
        }
        Ok(())
    }
}
