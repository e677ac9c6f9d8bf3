//! `sluice-loadgen`: an OTLP load generator for Sluice or any OpenTelemetry
//! collector.
//!
//! It speaks OTLP/gRPC and OTLP/HTTP (protobuf or JSON; plain, gzip or zstd)
//! and sends realistic traces, metrics or logs from a configurable fleet of
//! services, at a fixed total rate or as fast as the endpoint acknowledges,
//! then reports what was sent, acknowledged and refused, the achieved rate and
//! the acknowledgement latency. Scenario phases change a service's error ratio,
//! latency or traffic for a time window, to drive SLO and anomaly drills
//! ("checkout error ratio 5% from minute 3 to 5").
//!
//! # Place in the project
//!
//! ```text
//! sluice-loadgen (binary, or benches via `run`) ──OTLP──▶ crates/otlp receivers ──▶ pipeline ──▶ storage
//! ```
//!
//! The crate is a client only: it depends on `sluice-model` for the duration
//! syntax and on `sluice-slo` for the latency sketch, never on the receivers.
//!
//! # Modules
//!
//! - [`options`]: the command line ([`Options`]) and its validation ([`Plan`]).
//! - [`latency`], [`phase`]: the latency distribution and scenario phase syntax.
//! - [`generate`]: realistic export requests; [`client`]: the gRPC and HTTP
//!   exporters and how answers are classified.
//! - [`schedule`]: the shared rate schedule; [`runner`]: workers, retries,
//!   shutdown; [`stats`], [`summary`], [`progress`]: counting and reporting.
//!
//! # Example
//!
//! ```no_run
//! # async fn example() -> Result<(), sluice_loadgen::LoadgenError> {
//! use clap::Parser;
//! let options = sluice_loadgen::Options::try_parse_from([
//!     "sluice-loadgen", "--protocol", "http-proto", "--rate", "0", "--duration", "10s", "--quiet",
//! ]).expect("valid arguments");
//! let summary = sluice_loadgen::run(&options).await?;
//! println!("{}", summary.to_json());
//! # Ok(())
//! # }
//! ```

pub mod client;
mod error;
pub mod generate;
pub mod latency;
pub mod options;
pub mod phase;
pub mod progress;
mod rng;
pub mod runner;
pub mod schedule;
pub mod stats;
pub mod summary;

pub use error::LoadgenError;
pub use latency::LatencyDistribution;
pub use options::{Compression, Options, Plan, Protocol, Signal};
pub use phase::Phase;
pub use runner::{run, run_plan, run_until};
pub use summary::Summary;
