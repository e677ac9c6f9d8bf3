//! Metric names of the receivers.

/// Requests answered, by signal, transport and outcome (`ok`, `partial`, or the
/// refusal reason).
pub const REQUESTS: &str = "sluice_receiver_requests_total";
/// Records accepted, by signal and transport.
pub const RECORDS_RECEIVED: &str = "sluice_records_received_total";
/// Records refused, by signal and reason (`invalid` for records dropped from an
/// otherwise accepted request; the refusal reason when a whole request was).
pub const RECORDS_REFUSED: &str = "sluice_records_refused_total";
/// Request bytes received as sent (before decompression), by signal and transport.
pub const BYTES_RECEIVED: &str = "sluice_receiver_bytes_total";
/// Seconds from a decompressed body to its answer (decode, validation, the
/// WAL's group commit, dispatch to the shards), by signal and transport, for
/// requests that were taken: the server's side of acknowledgement latency.
pub const REQUEST_SECONDS: &str = "sluice_receiver_request_seconds";
