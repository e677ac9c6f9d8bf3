//! Metric names of the pipeline.

/// Request shares waiting in a shard's queue, by shard.
pub const QUEUE_DEPTH: &str = "sluice_shard_queue_depth";
/// Requests refused by the pipeline, by reason.
pub const REFUSED: &str = "sluice_pipeline_refused_total";
/// Rows appended to shard builders, by table.
pub const ROWS_BUFFERED: &str = "sluice_shard_rows_buffered_total";
/// Batches handed to storage, by reason (`rows`, `age`, `open_batches`, `shutdown`).
pub const FLUSHES: &str = "sluice_shard_flushes_total";
/// Rows currently held in a shard's builders, by shard.
pub const ROWS_OPEN: &str = "sluice_shard_rows_open";
/// Requests replayed from the WAL at startup.
pub const WAL_REPLAYED: &str = "sluice_wal_replayed_records_total";
/// Bytes of damaged WAL skipped at startup.
pub const WAL_SKIPPED_BYTES: &str = "sluice_wal_skipped_bytes_total";
/// The WAL sequence number up to which every record is in a written file.
pub const WAL_DURABLE_SEQ: &str = "sluice_wal_durable_seq";
/// Bytes of the admission budget in use by requests and unwritten rows.
pub const MEMORY_USED: &str = "sluice_memory_budget_used_bytes";
/// The admission budget in bytes.
pub const MEMORY_BUDGET: &str = "sluice_memory_budget_bytes";
/// Free bytes on the filesystem of a directory Sluice writes to, by path.
pub const DISK_FREE: &str = "sluice_disk_free_bytes";
/// Anomaly changes found, by change (`opened`, `updated`, `resolved`) and signal.
pub const ANOMALIES: &str = "sluice_anomalies_total";
/// Step summaries or records the watch left out, by reason (`queue_full`,
/// `late`, `future`, `write_failed`).
pub const ANOMALY_DROPPED: &str = "sluice_anomaly_dropped_total";
/// Series the detectors watch.
pub const ANOMALY_SERIES: &str = "sluice_anomaly_series";
/// New series left out because `anomaly.max_series` were watched.
pub const ANOMALY_SERIES_REFUSED: &str = "sluice_anomaly_series_refused_total";
