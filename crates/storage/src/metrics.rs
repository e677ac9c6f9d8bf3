//! Metric names of the storage layer.

/// Files written, by table.
pub const FILES_WRITTEN: &str = "sluice_storage_files_written_total";
/// Bytes of Parquet written, by table.
pub const BYTES_WRITTEN: &str = "sluice_storage_bytes_written_total";
/// Rows written, by table.
pub const ROWS_WRITTEN: &str = "sluice_records_written_total";
/// Failed writes (retried), by table.
pub const WRITE_ERRORS: &str = "sluice_storage_write_errors_total";
/// Seconds spent sorting, encoding and putting one file.
pub const WRITE_SECONDS: &str = "sluice_storage_write_seconds";
/// Bytes of WAL segments on disk.
pub const WAL_BYTES: &str = "sluice_wal_bytes";
/// Seconds one WAL sync took.
pub const WAL_FSYNC_SECONDS: &str = "sluice_wal_fsync_seconds";
/// WAL segments that were spares written over, not new files.
pub const WAL_RECYCLED: &str = "sluice_wal_segments_recycled_total";
/// Group commits that failed (their requests were refused, retryably).
pub const WAL_ERRORS: &str = "sluice_wal_write_errors_total";
/// Partitions removed by retention.
pub const RETENTION_REMOVED: &str = "sluice_retention_partitions_removed_total";
/// Bytes of Parquet under the storage root, as of the last retention pass.
pub const STORED_BYTES: &str = "sluice_storage_bytes";
