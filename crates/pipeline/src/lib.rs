//! The sharded stage between the receivers and storage.
//!
//! [`Pipeline`] is the receivers' [`ExportSink`](sluice_otlp::ExportSink): it
//! splits each validated request by key ([`route`]: spans by trace id, so a
//! trace lands on one shard; metrics and logs by resource), appends it to the
//! write-ahead log, and once it is durable the WAL thread puts each share on
//! the bounded queue of its shard, in sequence order; only then is the request
//! acknowledged. At startup, what the WAL still holds is replayed first. Each [`shard`] worker is a thread that
//! alone owns its Arrow builders, one per tenant, table and hour of event time,
//! and hands a finished batch to storage when it holds `flush_rows` rows (the
//! shards' first batches staggered, so that they take turns encoding) or is
//! `flush_interval` old.
//!
//! # Backpressure
//!
//! A shard queue holds `queue_capacity` shares. A new request is refused with a
//! retryable `queue_full` once any queue it would go to is three-quarters full;
//! the last quarter absorbs requests already admitted, which wait for room
//! rather than being split, so a request is either taken whole or refused whole.
//!
//! # Shutdown
//!
//! [`Pipeline::close`] refuses further requests and tells every shard to stop;
//! a shard writes everything it holds before its thread ends, after which
//! [`Pipeline::retire_wal`] empties the WAL.

mod config;
mod disk;
mod dispatch;
mod memory;
pub mod metrics;
mod pipeline;
mod recovery;
pub mod route;
pub mod shard;
pub mod watch;

pub use config::PipelineConfig;
pub use memory::{MemoryConfig, available_memory};
pub use pipeline::{Pipeline, PipelineSetup, ShardThreads};
pub use recovery::Replayed;
pub use shard::ShardMessage;
