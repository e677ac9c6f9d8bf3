//! Writes finished batches as Parquet files under their partition.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use futures::TryStreamExt;
use object_store::ObjectMeta;
use parquet::errors::ParquetError;
use parquet::file::metadata::{FooterTail, ParquetMetaData, ParquetMetaDataReader};

use arrow::array::RecordBatch;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use sluice_model::time::PartitionHour;
use sluice_model::{Table, Tenant};

use crate::layout::{FileName, partition_prefix};
use crate::{StorageConfig, StorageError, encode_parquet, metrics, sort_batch, writer_properties};

/// Metadata keys Sluice writes into each file's footer.
pub mod keys {
    /// The node that wrote the file.
    pub const NODE: &str = "sluice.node";
    /// The shard that wrote the file.
    pub const SHARD: &str = "sluice.shard";
    /// The first and last WAL sequence numbers of the records in the file:
    /// every record its shard routed to this partition between the two is in it.
    pub const WAL_FIRST: &str = "sluice.wal.first_seq";
    pub const WAL_LAST: &str = "sluice.wal.last_seq";
}

/// WAL sequence numbers `first..=last`.
pub type SeqRange = (u64, u64);

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
    /// The local directory behind `store`, when it is one: files and their
    /// directories are synced there, so a written file survives a power loss.
    local_dir: Option<PathBuf>,
}

/// Rows per row group for `rows` rows and at most `limit` per group: as few
/// groups as the limit allows, nearly equally full (the last short by fewer
/// rows than there are groups). A batch a request's worth above
/// the limit gets two halves, not a full group and a sliver.
fn equal_row_groups(rows: usize, limit: usize) -> usize {
    let rows = rows.max(1);
    rows.div_ceil(rows.div_ceil(limit.max(1)))
}

impl ParquetFileWriter {
    /// `runtime` runs the store's IO; the caller must not be one of its workers.
    pub fn new(
        store: Arc<dyn ObjectStore>,
        runtime: tokio::runtime::Handle,
        config: &StorageConfig,
        node: &str,
        shard: usize,
        local_dir: Option<PathBuf>,
    ) -> Self {
        Self {
            local_dir,
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
        wal: SeqRange,
    ) -> Result<WrittenFile, StorageError> {
        let started = Instant::now();
        let sorted = sort_batch(table, batch)?;
        let metadata = vec![
            (keys::NODE.to_owned(), self.node.clone()),
            (keys::SHARD.to_owned(), self.shard.to_string()),
            (keys::WAL_FIRST.to_owned(), wal.0.to_string()),
            (keys::WAL_LAST.to_owned(), wal.1.to_string()),
        ];
        let group_rows = equal_row_groups(sorted.num_rows(), self.row_group_rows);
        let properties = writer_properties(table, group_rows, self.zstd_level, metadata);
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
        if let Some(dir) = &self.local_dir {
            sync_local(dir, path.as_ref()).map_err(|e| StorageError::Sync {
                path: path.to_string(),
                source: e,
            })?;
        }
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

impl ParquetFileWriter {
    /// The WAL ranges of the files this node's shard already wrote for a
    /// partition, read from their footers. Replay skips what they cover.
    pub fn persisted_ranges(
        &self,
        tenant: &Tenant,
        table: Table,
        hour: PartitionHour,
    ) -> Result<Vec<SeqRange>, StorageError> {
        let prefix = partition_prefix(tenant, table, hour);
        let mine = format!("{}-{:03}-", self.node, self.shard);
        let store = Arc::clone(&self.store);
        self.runtime.block_on(async move {
            let list_err = |source| StorageError::Put {
                path: prefix.to_string(),
                source,
            };
            let objects: Vec<ObjectMeta> = store
                .list(Some(&prefix))
                .try_collect()
                .await
                .map_err(list_err)?;
            let mut ranges = Vec::new();
            for object in objects {
                let name = object.location.filename().unwrap_or_default();
                if !name.starts_with(&mine) || !name.ends_with(".parquet") {
                    continue;
                }
                let metadata = read_footer(store.as_ref(), &object)
                    .await
                    .map_err(|source| StorageError::Encode {
                        table: table.name(),
                        source,
                    })?;
                let value = |key: &str| -> Option<u64> {
                    metadata
                        .file_metadata()
                        .key_value_metadata()?
                        .iter()
                        .find(|kv| kv.key == key)?
                        .value
                        .as_deref()?
                        .parse()
                        .ok()
                };
                if let (Some(first), Some(last)) = (value(keys::WAL_FIRST), value(keys::WAL_LAST)) {
                    ranges.push((first, last));
                }
            }
            Ok(ranges)
        })
    }
}

/// Reads the footer metadata of a Parquet object with two ranged reads.
async fn read_footer(
    store: &dyn ObjectStore,
    object: &ObjectMeta,
) -> Result<ParquetMetaData, ParquetError> {
    let size = object.size;
    if size < 8 {
        return Err(ParquetError::General(format!(
            "{} is too short for parquet",
            object.location
        )));
    }
    let io = |e: object_store::Error| ParquetError::External(Box::new(e));
    let tail = store
        .get_range(&object.location, size - 8..size)
        .await
        .map_err(io)?;
    let footer = FooterTail::try_from(&tail[..])?;
    let length = footer.metadata_length() as u64;
    if length + 8 > size {
        return Err(ParquetError::General(format!(
            "{} has a corrupt footer",
            object.location
        )));
    }
    let metadata = store
        .get_range(&object.location, size - 8 - length..size - 8)
        .await
        .map_err(io)?;
    ParquetMetaDataReader::decode_metadata(&metadata)
}

/// Syncs a file just put under `dir` and its directory.
fn sync_local(dir: &std::path::Path, relative: &str) -> std::io::Result<()> {
    let file = dir.join(relative);
    std::fs::File::open(&file)?.sync_all()?;
    if let Some(parent) = file.parent() {
        std::fs::File::open(parent)?.sync_all()?;
    }
    Ok(())
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::equal_row_groups;

    #[test]
    fn row_groups_are_equal_and_within_the_limit() {
        for limit in 1..40 {
            for rows in 0..200 {
                let per_group = equal_row_groups(rows, limit);
                let groups = rows.div_ceil(per_group);
                assert!(per_group <= limit, "{rows} rows, limit {limit}");
                assert_eq!(groups, rows.div_ceil(limit), "{rows} rows, limit {limit}");
                // The last group is short by fewer rows than there are groups.
                assert!(
                    groups * per_group - rows < groups.max(1),
                    "{rows} rows, limit {limit}"
                );
            }
        }
        assert_eq!(equal_row_groups(100_352, 100_000), 50_176);
    }
}
