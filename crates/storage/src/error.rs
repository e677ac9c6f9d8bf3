//! Storage errors. All of them are transient from a client's point of view: the
//! data stays with the shard, which retries.

/// Why a batch could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("cannot encode parquet for {table}: {source}")]
    Encode {
        table: &'static str,
        #[source]
        source: parquet::errors::ParquetError,
    },
    #[error("cannot sort batch for {table}: {source}")]
    Sort {
        table: &'static str,
        #[source]
        source: arrow::error::ArrowError,
    },
    #[error("cannot write {path}: {source}")]
    Put {
        path: String,
        #[source]
        source: object_store::Error,
    },
    #[error("cannot write {path}: {source}")]
    WriteLocal {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open storage root {root}: {reason}")]
    Open { root: String, reason: String },
}
