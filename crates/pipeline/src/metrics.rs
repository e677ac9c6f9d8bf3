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
