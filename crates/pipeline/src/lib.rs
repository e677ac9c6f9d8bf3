//! The sharded stage between the receivers and storage.
//!
//! [`Pipeline`] is the receivers' [`ExportSink`](sluice_otlp::ExportSink): it
//! splits each validated request by key ([`route`]: spans by trace id, so a
//! trace lands on one shard; metrics and logs by resource) and puts each share
//! on the bounded queue of its shard. Each [`shard`] worker is a thread that
//! alone owns its Arrow builders, one per tenant, table and hour of event time,
//! and hands a finished batch to storage when it holds `flush_rows` rows or is
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
//! a shard writes everything it holds before its thread ends.

mod config;
pub mod metrics;
mod pipeline;
pub mod route;
pub mod shard;

pub use config::PipelineConfig;
pub use pipeline::{Pipeline, ShardThreads};
pub use shard::ShardMessage;
