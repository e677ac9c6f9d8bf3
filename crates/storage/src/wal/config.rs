//! The `[wal]` section of the config file.

use serde::{Deserialize, Serialize};
use sluice_model::units::{ByteSize, Duration};

use super::segment::WriteMode;

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

/// The longest `release_pause`.
const MAX_RELEASE_PAUSE: Duration = Duration::from_millis(100);
/// The most `recycle_segments`.
const MAX_RECYCLE_SEGMENTS: usize = 64;

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
    /// A segment whose records are all in Parquet files is cut back this much
    /// at a time before it is unlinked; `0B` unlinks it at once. Freeing a
    /// file's blocks holds filesystem locks the writer's next append or sync
    /// waits for, so a whole segment freed at once stalls every
    /// acknowledgement behind it (see [`Release`](super::Release)).
    pub release_chunk_bytes: ByteSize,
    /// The pause between two cuts, in which the writer goes on.
    pub release_pause: Duration,
    /// Released segments kept as spares (`wal-<seq>.spare`) and written over
    /// as new segments; `0` deletes every released segment. A sync of a file
    /// written over in place writes only data, where one of a growing file
    /// also writes its new blocks and size. A new file is made only when no
    /// spare is left, so the segments and spares together never outnumber
    /// the most segments the WAL held at once. The default, 32, is
    /// `max_bytes / segment_bytes` at their defaults: the directory stays
    /// within about `max_bytes`, and every segment the WAL can hold can be
    /// recycled. Spares are not counted in `max_bytes` and keep that disk
    /// after a burst. Below the free-disk watermark the spares are deleted
    /// (see [`Wal::disk_low`](super::Wal::disk_low)).
    pub recycle_segments: usize,
    /// The writer thread's scheduler slice (Linux 6.12 on; see
    /// [`sluice_model::slice`]): woken by a request or a finished sync, it
    /// runs before a shard's long slice ends. `0s` keeps the kernel's default.
    pub writer_slice: Duration,
    /// Writes go straight to the disk (`O_DIRECT`), in whole 4 KiB blocks,
    /// instead of through the page cache: the kernel then copies nothing,
    /// which took most of the writer thread's time. The sync per `fsync`
    /// still flushes the disk's cache, so durability is the same. Where the
    /// file system refuses direct writes (some do), the WAL writes through
    /// the page cache and logs a warning.
    pub direct_io: bool,
}

impl Default for WalConfig {
    fn default() -> Self {
        Self {
            dir: String::new(),
            fsync: FsyncPolicy::Always,
            fsync_interval: Duration::from_millis(100),
            segment_bytes: ByteSize::mib(64),
            max_bytes: ByteSize::gib(2),
            release_chunk_bytes: ByteSize::mib(4),
            release_pause: Duration::from_millis(10),
            recycle_segments: 32,
            writer_slice: Duration::from_micros(100),
            direct_io: true,
        }
    }
}

impl WalConfig {
    /// How segments are written, per `direct_io`.
    pub fn write_mode(&self) -> WriteMode {
        match self.direct_io {
            true => WriteMode::Direct,
            false => WriteMode::Buffered,
        }
    }

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
        let chunk = self.release_chunk_bytes;
        if chunk != ByteSize::b(0) && chunk < ByteSize::mib(1) {
            return Err(format!(
                "wal.release_chunk_bytes: {chunk} is below the minimum of 1MiB (0B unlinks at once)"
            ));
        }
        if self.release_pause > MAX_RELEASE_PAUSE {
            return Err(format!(
                "wal.release_pause: {} is above the maximum of {MAX_RELEASE_PAUSE}: the checkpoint that releases segments waits out every pause",
                self.release_pause
            ));
        }
        if self.recycle_segments > MAX_RECYCLE_SEGMENTS {
            return Err(format!(
                "wal.recycle_segments: {} is above the maximum of {MAX_RECYCLE_SEGMENTS}",
                self.recycle_segments
            ));
        }
        sluice_model::slice::validate_slice("wal.writer_slice", self.writer_slice)?;
        if self.fsync == FsyncPolicy::Interval && self.fsync_interval.get().is_zero() {
            return Err("wal.fsync_interval: must be longer than 0s".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_settings_out_of_range_are_named() {
        let small = WalConfig {
            release_chunk_bytes: ByteSize::kib(512),
            ..WalConfig::default()
        };
        let error = small.validate().expect_err("below 1MiB");
        assert!(
            error.starts_with("wal.release_chunk_bytes: 512KiB"),
            "{error}"
        );
        let at_once = WalConfig {
            release_chunk_bytes: ByteSize::b(0),
            ..WalConfig::default()
        };
        assert_eq!(at_once.validate(), Ok(()));
        let long = WalConfig {
            release_pause: Duration::from_millis(250),
            ..WalConfig::default()
        };
        let error = long.validate().expect_err("above 100ms");
        assert!(error.starts_with("wal.release_pause: 250ms"), "{error}");
        let many = WalConfig {
            recycle_segments: 65,
            ..WalConfig::default()
        };
        let error = many.validate().expect_err("above 64");
        assert!(error.starts_with("wal.recycle_segments: 65"), "{error}");
        assert_eq!(WalConfig::default().validate(), Ok(()));
    }
}
