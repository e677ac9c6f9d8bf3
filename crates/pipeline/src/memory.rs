//! The `[memory]` section: the budget of admission control.

use serde::{Deserialize, Serialize};
use sluice_model::units::MemoryAmount;

/// How much memory requests in flight and unwritten rows may use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MemoryConfig {
    /// The budget: bytes (`"1GiB"`) or a share of the memory available to the
    /// process (`"40%"` of the cgroup limit, or of the machine without one).
    pub budget: MemoryAmount,
    /// Bytes charged per byte of decompressed request, covering the decoded
    /// request and its rows in the shard builders until they are written.
    pub bytes_per_request_byte: u64,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        Self {
            budget: MemoryAmount::Percent(40.0),
            bytes_per_request_byte: 4,
        }
    }
}

impl MemoryConfig {
    /// Checks the values a type cannot; the error names the key. `largest` is
    /// the largest request a receiver accepts, which must fit the budget.
    pub fn validate(&self, available: u64, largest: u64) -> Result<u64, String> {
        if self.bytes_per_request_byte == 0 {
            return Err("memory.bytes_per_request_byte: must be at least 1".into());
        }
        let budget = self.budget.resolve(available);
        let needed = largest.saturating_mul(self.bytes_per_request_byte);
        if budget < needed {
            return Err(format!(
                "memory.budget: {} ({budget} bytes) cannot hold even one request of receivers.max_decompressed_bytes ({largest} bytes) at {} bytes per byte; raise it or lower the request limit",
                self.budget, self.bytes_per_request_byte
            ));
        }
        Ok(budget)
    }
}

/// The memory available to this process: its cgroup limit (v2 or v1), or the
/// machine's memory when there is none.
pub fn available_memory() -> u64 {
    let read = |path: &str| std::fs::read_to_string(path).ok();
    let cgroup = read("/sys/fs/cgroup/memory.max")
        .or_else(|| read("/sys/fs/cgroup/memory/memory.limit_in_bytes"))
        .and_then(|text| text.trim().parse::<u64>().ok());
    let machine = read("/proc/meminfo")
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<u64>().ok())
        })
        .map(|kib| kib * 1024);
    match (cgroup, machine) {
        // cgroup v1 reports "no limit" as a huge number.
        (Some(limit), Some(total)) => limit.min(total),
        (Some(limit), None) => limit,
        (None, Some(total)) => total,
        (None, None) => 1 << 30,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_must_hold_the_largest_request() {
        let config = MemoryConfig {
            budget: "100MiB".parse().expect("valid"),
            bytes_per_request_byte: 4,
        };
        assert_eq!(config.validate(0, 25 << 20), Ok(100 << 20));
        let err = config.validate(0, 26 << 20).expect_err("too small");
        assert!(err.starts_with("memory.budget:"), "{err}");
        let share = MemoryConfig::default();
        assert_eq!(share.validate(10 << 30, 32 << 20), Ok(4 << 30));
        assert!(available_memory() > 0);
    }
}
