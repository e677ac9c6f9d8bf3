//! The `[pipeline]` section of the config file.

use serde::{Deserialize, Serialize};
use sluice_model::units::Duration;

/// Shards, queues and what a busy pipeline tells clients.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PipelineConfig {
    /// Shard worker threads; 0 means one per available core.
    pub shards: usize,
    /// Request shares each shard queue holds; new requests are refused once a
    /// queue they would go to is three-quarters full. A shard drains nothing
    /// while it writes a file, so the queue holds what arrives meanwhile (its
    /// requests charged to the memory budget like any other).
    pub queue_capacity: usize,
    /// Batches (tenant × table × hour) a shard keeps open at once; past it the
    /// oldest is written early. Bounds memory when data arrives for many hours.
    pub max_open_batches: usize,
    /// Delay a refused client is asked to wait before retrying.
    pub retry_after: Duration,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            shards: 0,
            queue_capacity: 1024,
            max_open_batches: 64,
            retry_after: Duration::from_secs(1),
        }
    }
}

/// Shards above this are surely a typo.
const MAX_SHARDS: usize = 1024;

impl PipelineConfig {
    /// Checks the values a type cannot; the error names the key.
    pub fn validate(&self) -> Result<(), String> {
        if self.shards > MAX_SHARDS {
            return Err(format!(
                "pipeline.shards: {} is above the maximum of {MAX_SHARDS}",
                self.shards
            ));
        }
        if self.queue_capacity < 4 {
            return Err(format!(
                "pipeline.queue_capacity: {} is below the minimum of 4",
                self.queue_capacity
            ));
        }
        if self.max_open_batches == 0 {
            return Err("pipeline.max_open_batches: must be at least 1".into());
        }
        Ok(())
    }

    /// The number of shards to run: `shards`, or one per available core.
    pub fn effective_shards(&self) -> usize {
        if self.shards > 0 {
            self.shards
        } else {
            std::thread::available_parallelism().map_or(1, usize::from)
        }
    }
}
