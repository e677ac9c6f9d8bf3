//! The free-disk watermark: past it, requests are refused retryably before a
//! write can fail half-way.
//!
//! Checked by the checkpoint thread for the WAL directory and the local storage
//! root; a request arriving while either is below the watermark is refused
//! with `disk_full` (503 / `UNAVAILABLE`). Ingestion resumes by itself once
//! space returns.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::metrics::DISK_FREE;

/// Watches the free space of the directories Sluice writes to.
#[derive(Debug)]
pub struct DiskWatch {
    dirs: Vec<PathBuf>,
    min_free: u64,
    low: AtomicBool,
}

/// Bytes available to unprivileged writers on the filesystem of `path`.
pub fn free_bytes(path: &Path) -> std::io::Result<u64> {
    let stat = rustix::fs::statvfs(path)?;
    Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
}

impl DiskWatch {
    pub fn new(dirs: Vec<PathBuf>, min_free: u64) -> Self {
        Self {
            dirs,
            min_free,
            low: AtomicBool::new(false),
        }
    }

    /// Whether any watched directory is below the watermark (as of the last check).
    pub fn is_low(&self) -> bool {
        self.low.load(Ordering::Acquire)
    }

    /// Measures again; returns whether space is low.
    pub fn check(&self) -> bool {
        let mut low = false;
        for dir in &self.dirs {
            match free_bytes(dir) {
                Ok(free) => {
                    ::metrics::gauge!(DISK_FREE, "path" => dir.display().to_string())
                        .set(free as f64);
                    low |= free < self.min_free;
                }
                Err(error) => {
                    tracing::warn!(dir = %dir.display(), %error, "cannot measure free disk space")
                }
            }
        }
        let was = self.low.swap(low, Ordering::AcqRel);
        if low != was {
            if low {
                tracing::warn!(
                    min_free = self.min_free,
                    "free disk space below the watermark; refusing new requests"
                );
            } else {
                tracing::info!("free disk space back above the watermark; taking requests again");
            }
        }
        low
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_and_compares_with_the_watermark() {
        let dir = tempfile::tempdir().expect("tempdir");
        let free = free_bytes(dir.path()).expect("statvfs");
        assert!(free > 0);
        assert!(!DiskWatch::new(vec![dir.path().into()], 1).check());
        assert!(DiskWatch::new(vec![dir.path().into()], u64::MAX).check());
    }
}
