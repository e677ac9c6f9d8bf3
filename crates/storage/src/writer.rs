//! Writes finished batches as Parquet files under their partition.

use std::sync::Arc;
use std::time::Instant;

use arrow::array::RecordBatch;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use sluice_model::time::PartitionHour;
use sluice_model::{Table, Tenant};

use crate::layout::{FileName, partition_prefix};
use crate::{StorageConfig, StorageError, encode_parquet, metrics, sort_batch, writer_properties};

/// A file that is now under its final name.
#[derive(Debug, Clone)]
pub struct WrittenFile {
    pub path: String,
    pub rows: usize,
    pub bytes: usize,
}

/// Writes batches for one shard. Each shard owns one, so file names never clash.
#[derive(Debug)]
pub struct ParquetFileWriter {
    store: Arc<dyn ObjectStore>,
    runtime: tokio::runtime::Handle,
    node: String,
    shard: usize,
    seq: u64,
    row_group_rows: usize,
    zstd_level: i32,
}

impl ParquetFileWriter {
    /// `runtime` runs the store's IO; the caller must not be one of its workers.
    pub fn new(
        store: Arc<dyn ObjectStore>,
        runtime: tokio::runtime::Handle,
        config: &StorageConfig,
        node: &str,
        shard: usize,
    ) -> Self {
        Self {
            store,
            runtime,
            node: node.to_owned(),
            shard,
            seq: 0,
            row_group_rows: config.row_group_rows,
            zstd_level: config.zstd_level,
        }
    }

    /// Sorts, encodes and stores `batch` as one new file of `table`, blocking
    /// the calling thread until the file is in place.
    pub fn write(
        &mut self,
        tenant: &Tenant,
        table: Table,
        hour: PartitionHour,
        batch: &RecordBatch,
    ) -> Result<WrittenFile, StorageError> {
        let started = Instant::now();
        let sorted = sort_batch(table, batch)?;
        let metadata = vec![
            ("sluice.node".to_owned(), self.node.clone()),
            ("sluice.shard".to_owned(), self.shard.to_string()),
        ];
        let properties = writer_properties(table, self.row_group_rows, self.zstd_level, metadata);
        let bytes = encode_parquet(table, &sorted, properties)?;
        self.seq += 1;
        let name = FileName {
            node: self.node.clone(),
            shard: self.shard,
            created_ms: now_ms(),
            seq: self.seq,
        };
        let path = partition_prefix(tenant, table, hour).join(name.to_file_name());
        let size = bytes.len();
        let labels = [("table", table.name())];
        self.runtime
            .block_on(self.store.put(&path, PutPayload::from(bytes)))
            .map_err(|source| {
                ::metrics::counter!(metrics::WRITE_ERRORS, &labels).increment(1);
                StorageError::Put {
                    path: path.to_string(),
                    source,
                }
            })?;
        ::metrics::counter!(metrics::FILES_WRITTEN, &labels).increment(1);
        ::metrics::counter!(metrics::BYTES_WRITTEN, &labels).increment(size as u64);
        ::metrics::counter!(metrics::ROWS_WRITTEN, &labels).increment(batch.num_rows() as u64);
        ::metrics::histogram!(metrics::WRITE_SECONDS, &labels)
            .record(started.elapsed().as_secs_f64());
        Ok(WrittenFile {
            path: path.to_string(),
            rows: batch.num_rows(),
            bytes: size,
        })
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
