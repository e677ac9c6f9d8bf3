//! The data model of Sluice: what an OTLP record becomes on its way to Parquet.
//!
//! Receivers (`sluice-otlp`) do not decode protobuf requests into the prost
//! types of `opentelemetry-proto`: they check them ([`protowire`]) and index
//! them in place ([`wire`]: [`traces::wire`], [`logs::wire`],
//! [`metrics::wire`]), validating each record as they go ([`validate`], which
//! says why a record is dropped: the `partial_success` of the response).
//! OTLP/JSON requests are decoded, then encoded and indexed alike. The shard workers (`sluice-pipeline`)
//! then append each record to one of the batch builders of [`traces`],
//! [`logs`] and [`metrics`], which produce Arrow `RecordBatch`es whose
//! schemas ([`schema`]) follow the OpenTelemetry Collector ClickHouse exporter, so
//! SQL written for that exporter carries over. Storage (`sluice-storage`) writes
//! those batches as Parquet under the table names of [`Table`].
//!
//! This crate is pure: no IO, no clock, no threads.

pub mod attributes;
pub mod batch;
pub mod budget;
pub mod compare;
pub mod context;
pub mod hex;
pub mod logs;
pub mod metrics;
pub mod protowire;
pub mod schema;
pub mod slice;
mod table;
mod tenant;
pub mod time;
pub mod traces;
pub mod units;
pub mod validate;
pub mod wire;

pub use table::{Signal, Table};
pub use tenant::{Tenant, TenantError};

/// A hash map keyed by data from clients and looked up once or twice per
/// record (the shards' open batches, the rollups, the watch's step
/// summaries): hashed with ahash, as arrow and parquet hash, not std's slower
/// SipHash. Build one with `HashMap::default()`.
pub type HashMap<K, V> = std::collections::HashMap<K, V, ahash::RandomState>;

/// The OTLP prost types, re-exported so that every crate uses the same copy.
pub use opentelemetry_proto::tonic as otlp;
