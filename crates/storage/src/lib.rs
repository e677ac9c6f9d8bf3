//! Storage: Arrow batches from the shard workers become Parquet files in the
//! Hive-style layout `<root>/<tenant>/<table>/date=YYYY-MM-DD/hour=HH/<file>.parquet`,
//! written through `object_store` so that a local directory and a bucket are the
//! same code.
//!
//! Data comes from `sluice-pipeline`'s shards, one finished batch per table and
//! hour; [`ParquetFileWriter`] sorts it by service then time, encodes it (zstd,
//! dictionaries for repetitive strings, a bloom filter on trace ids; the
//! attribute maps and the top-level strings through encoders of Sluice's
//! own, the rest through parquet's Arrow writer) and puts it under its final
//! name in one step.
//!
//! # Atomicity
//!
//! A file appears whole or not at all: `object_store` writes a local file under a
//! temporary name and renames it, and an object store put is atomic. Readers
//! globbing `*.parquet` never see a partial file.
//!
//! # Backpressure
//!
//! Writes are synchronous for the calling shard thread. When the store fails,
//! the shard retries the same batch (see `sluice-pipeline`), its queue fills,
//! and receivers refuse new requests with a retryable status.

mod config;
mod encode;
mod error;
mod layout;
mod maps;
pub mod metrics;
pub mod retention;
mod store;
mod strings;
mod take;
pub mod wal;
mod writer;

pub use config::StorageConfig;
pub use encode::{encode_parquet, sort_batch, writer_properties};
pub use error::StorageError;
pub use layout::{FileName, partition_prefix};
pub use store::{local_dir, open_store};
pub use writer::{ParquetFileWriter, SeqRange, SyncPacing, WrittenFile, keys};
