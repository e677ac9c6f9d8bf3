//! The `[receivers]` section of the config file.

use serde::{Deserialize, Serialize};
use sluice_model::units::{ByteSize, Duration};

/// Where the receivers listen and what they accept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReceiverConfig {
    /// OTLP/gRPC listen address.
    pub grpc_listen: String,
    /// OTLP/HTTP listen address.
    pub http_listen: String,
    /// Largest request body accepted as received (compressed or not).
    pub max_request_bytes: ByteSize,
    /// Largest request body after decompression; on gRPC also the largest
    /// message. Decompression stops as soon as it would pass this.
    pub max_decompressed_bytes: ByteSize,
    /// The scheduler slice of the I/O threads that decode and answer
    /// requests (Linux 6.12 on; see [`sluice_model::slice`]): woken by a
    /// request or an acknowledgement, they run before a shard's long slice
    /// ends. `0s` keeps the kernel's default.
    pub io_slice: Duration,
}

impl Default for ReceiverConfig {
    fn default() -> Self {
        Self {
            grpc_listen: "127.0.0.1:4317".to_owned(),
            http_listen: "127.0.0.1:4318".to_owned(),
            max_request_bytes: ByteSize::mib(8),
            max_decompressed_bytes: ByteSize::mib(32),
            io_slice: Duration::from_micros(100),
        }
    }
}

impl ReceiverConfig {
    /// Checks the values a type cannot; the error names the key.
    pub fn validate(&self) -> Result<(), String> {
        for (key, addr) in [
            ("receivers.grpc_listen", &self.grpc_listen),
            ("receivers.http_listen", &self.http_listen),
        ] {
            addr.parse::<std::net::SocketAddr>().map_err(|e| {
                format!("{key}: {addr:?} is not an address like 127.0.0.1:4317 ({e})")
            })?;
        }
        if self.max_request_bytes.as_u64() < 1024 {
            return Err(format!(
                "receivers.max_request_bytes: {} is below the minimum of 1KiB",
                self.max_request_bytes
            ));
        }
        if self.max_decompressed_bytes < self.max_request_bytes {
            return Err(format!(
                "receivers.max_decompressed_bytes: {} is smaller than receivers.max_request_bytes ({})",
                self.max_decompressed_bytes, self.max_request_bytes
            ));
        }
        if self.max_decompressed_bytes.as_u64() > u64::from(u32::MAX) {
            return Err(format!(
                "receivers.max_decompressed_bytes: {} is above the gRPC maximum of 4GiB",
                self.max_decompressed_bytes
            ));
        }
        sluice_model::slice::validate_slice("receivers.io_slice", self.io_slice)
    }
}
