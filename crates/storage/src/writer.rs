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
use crate::wal::segment::{DIRECT_ALIGN, DirectBuffer};
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
    /// The local directory behind `store`, when it is one: files are written
    /// there directly, paced, and they and their directories are synced, so a
    /// written file survives a power loss.
    local_dir: Option<PathBuf>,
    pacing: SyncPacing,
    /// Set while files under a local root are written straight to the disk
    /// (`storage.direct_io`): the block-aligned copy of a file's bytes, kept
    /// from file to file (it grows to at most twice the largest file
    /// written, a few MiB at the default `storage.flush_rows`).
    direct: Option<DirectBuffer>,
}

/// How a file under a local root reaches the disk: written and synced `chunk`
/// bytes at a time, `pause` apart.
///
/// A sync makes the disk write everything queued before it, and a device
/// with a volatile cache (here a virtual disk) flushes all of that cache,
/// whoever wrote it. A 4.6 MB Parquet file synced at once took 7 ms (median):
/// such syncs covered 1.1% of a run, yet more than half of the WAL's syncs
/// over 5 ms fell in one. In a model of the two writers (a WAL's 230 KB
/// fdatasyncs at 250/s beside a 4.6 MB file every 0.8 s), 1 MiB chunks, each
/// synced, took the WAL's syncs over 5 ms from 12-13 in 12 s to 0-3; 2 MiB
/// chunks left 9 (`benches/sync_beside_file.py` runs the model on any disk).
/// RocksDB's `bytes_per_sync` paces its files for the same reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncPacing {
    /// Bytes written and synced at a time; 0 writes the file whole.
    pub chunk: usize,
    pub pause: std::time::Duration,
}

impl SyncPacing {
    pub fn from_config(config: &StorageConfig) -> Self {
        Self {
            chunk: usize::try_from(config.sync_chunk_bytes.as_u64()).unwrap_or(usize::MAX),
            pause: config.sync_pause.get(),
        }
    }
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
            pacing: SyncPacing::from_config(config),
            direct: config.direct_io.then(|| DirectBuffer::new(&[])),
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
        if let Some(dir) = &self.local_dir {
            put_local(dir, path.as_ref(), &bytes, self.pacing, &mut self.direct).map_err(
                |source| {
                    ::metrics::counter!(metrics::WRITE_ERRORS, &labels).increment(1);
                    StorageError::WriteLocal {
                        path: path.to_string(),
                        source,
                    }
                },
            )?;
        } else {
            self.runtime
                .block_on(self.store.put(&path, PutPayload::from(bytes)))
                .map_err(|source| {
                    ::metrics::counter!(metrics::WRITE_ERRORS, &labels).increment(1);
                    StorageError::Put {
                        path: path.to_string(),
                        source,
                    }
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

/// Puts `bytes` at `relative` under `dir` as the local store would: written
/// beside it under a name the store's listings skip (`<name>#<digits>`, its
/// own staged uploads), then renamed into place. The file is written as
/// `pacing` says (straight to the disk while `direct` is set) and synced,
/// and so is the rename. Returns how many syncs wrote the data.
fn put_local(
    dir: &std::path::Path,
    relative: &str,
    bytes: &[u8],
    pacing: SyncPacing,
    direct: &mut Option<DirectBuffer>,
) -> std::io::Result<usize> {
    let path = dir.join(relative);
    let parent = path.parent().unwrap_or(dir);
    std::fs::create_dir_all(parent)?;
    let mut staged = path.clone().into_os_string();
    staged.push("#0");
    let staged = PathBuf::from(staged);
    let written = write_staged(&staged, bytes, pacing, direct).and_then(|syncs| {
        std::fs::rename(&staged, &path)?;
        std::fs::File::open(parent)?.sync_all()?;
        Ok(syncs)
    });
    if written.is_err() {
        let _ = std::fs::remove_file(&staged);
    }
    written
}

/// Writes and syncs the staged file: straight to the disk while `direct` is
/// set, through the page cache otherwise, and from then on where the file
/// system refuses direct writes.
fn write_staged(
    staged: &std::path::Path,
    bytes: &[u8],
    pacing: SyncPacing,
    direct: &mut Option<DirectBuffer>,
) -> std::io::Result<usize> {
    if let Some(buffer) = direct.as_mut() {
        match write_direct(staged, bytes, pacing, buffer) {
            Err(error) if error.raw_os_error() == Some(libc::EINVAL) => {
                tracing::warn!(path = %staged.display(), %error, "the file system refuses direct writes; Parquet files go through the page cache");
                *direct = None;
            }
            written => return written,
        }
    }
    write_buffered(staged, bytes, pacing)
}

/// Writes the file through the page cache, `pacing.chunk` bytes at a time,
/// each synced.
fn write_buffered(
    staged: &std::path::Path,
    bytes: &[u8],
    pacing: SyncPacing,
) -> std::io::Result<usize> {
    use std::io::Write;
    let mut file = std::fs::File::create(staged)?;
    let chunk = if pacing.chunk == 0 {
        bytes.len().max(1)
    } else {
        pacing.chunk
    };
    let mut syncs = 0;
    for piece in bytes.chunks(chunk) {
        if syncs > 0 {
            std::thread::sleep(pacing.pause);
        }
        file.write_all(piece)?;
        file.sync_data()?;
        syncs += 1;
    }
    if syncs == 0 {
        file.sync_data()?;
    }
    Ok(syncs)
}

/// Writes the file with `O_DIRECT`: its bytes copied into `buffer`, zeros
/// to the end of the last block, written in chunks of whole blocks (the
/// pacing's chunk rounded up to them), each synced; the length is cut back
/// to the file's before the last sync. The kernel copies nothing into the
/// page cache: that copy took 4% of the daemon's samples at full load on
/// the development machine (benches/RESULTS.md).
fn write_direct(
    staged: &std::path::Path,
    bytes: &[u8],
    pacing: SyncPacing,
    buffer: &mut DirectBuffer,
) -> std::io::Result<usize> {
    use std::os::unix::fs::{FileExt, OpenOptionsExt};
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(libc::O_DIRECT)
        .open(staged)?;
    let blocks = buffer.holding(bytes);
    let chunk = match pacing.chunk {
        0 => blocks.len(),
        chunk => chunk.next_multiple_of(DIRECT_ALIGN),
    }
    .max(DIRECT_ALIGN);
    let mut syncs = 0;
    let mut at = 0;
    for piece in blocks.chunks(chunk) {
        if syncs > 0 {
            std::thread::sleep(pacing.pause);
        }
        file.write_all_at(piece, at as u64)?;
        at += piece.len();
        if at == blocks.len() {
            file.set_len(bytes.len() as u64)?;
        }
        file.sync_data()?;
        syncs += 1;
    }
    if syncs == 0 {
        file.sync_data()?;
    }
    Ok(syncs)
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::{DIRECT_ALIGN, DirectBuffer, SyncPacing, equal_row_groups, put_local};
    use crate::wal::segment::takes_direct_writes;
    use futures::TryStreamExt;
    use object_store::ObjectStore;

    #[tokio::test]
    async fn a_local_put_in_chunks_lands_whole_and_listed_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bytes: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let relative = "default/otel_traces/date=2026-11-24/hour=03/a.parquet";
        // Direct writes take whole blocks: a chunk is rounded up to them.
        for (direct, chunk, syncs) in [
            (false, 4096, 3),
            (false, 0, 1),
            (false, 10_000, 1),
            (true, 4096, 3),
            (true, 5_000, 2),
            (true, 0, 1),
            (true, 10_000, 1),
        ] {
            let pacing = SyncPacing {
                chunk,
                pause: std::time::Duration::from_millis(1),
            };
            // Where the file system refuses direct writes, the file goes
            // through the page cache (in as many syncs here) and the writer
            // stops trying; where it takes them, it keeps writing directly.
            let mut buffer = direct.then(|| DirectBuffer::new(&[]));
            let done = put_local(dir.path(), relative, &bytes, pacing, &mut buffer).expect("put");
            assert_eq!(done, syncs, "direct {direct}, chunk {chunk}");
            assert_eq!(
                buffer.is_some(),
                direct && takes_direct_writes(dir.path()),
                "direct {direct}, chunk {chunk}"
            );
            assert_eq!(
                std::fs::read(dir.path().join(relative)).expect("read"),
                bytes,
                "direct {direct}, chunk {chunk}"
            );
        }
        // A staged file a crash left is not listed, like the store's own.
        std::fs::write(dir.path().join(format!("{relative}#0")), b"half").expect("write");
        let store =
            object_store::local::LocalFileSystem::new_with_prefix(dir.path()).expect("store");
        let listed: Vec<String> = store
            .list(None)
            .map_ok(|meta| meta.location.to_string())
            .try_collect()
            .await
            .expect("list");
        assert_eq!(listed, [relative]);
    }

    /// A file's bytes, whatever their length, come back aligned, whole and
    /// followed by zeros to the end of their last block, from a buffer that
    /// held a longer file before.
    #[test]
    fn an_aligned_buffer_holds_a_file_in_whole_blocks() {
        let mut buffer = DirectBuffer::new(&[]);
        for len in [10_000usize, 0, 1, 4095, 4096, 4097, 3, 20_000] {
            let data: Vec<u8> = (0..len).map(|i| (i % 251 + 1) as u8).collect();
            let blocks = buffer.holding(&data);
            assert_eq!(blocks.as_ptr().align_offset(DIRECT_ALIGN), 0);
            assert_eq!(blocks.len(), len.next_multiple_of(DIRECT_ALIGN));
            assert_eq!(&blocks[..len], &data[..]);
            assert!(blocks[len..].iter().all(|&b| b == 0), "{len}");
        }
    }

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
