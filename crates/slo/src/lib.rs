//! The SRE maths of Sluice: per-minute SLI rollups with mergeable latency
//! sketches, SLO definitions, error budgets, burn rates, multi-window alerts and
//! the deploy gate.
//!
//! # Place in the data path
//!
//! ```text
//! shard workers ──record_span──▶ RollupTable ──drain_older_than──▶ storage: sluice_rollups
//!                                 (SliRollup per key and minute,   (LatencySketch* = DdSketch::to_bytes)
//!                                  two DdSketch each)
//! query API ◀── SloStatus / GateDecision ◀── SloCounts ◀── merge_row ◀── rows of every shard and node
//! ```
//!
//! - [`sketch`]: [`DdSketch`], the relative-accuracy quantile sketch and its
//!   stable binary encoding.
//! - [`rollup`]: [`SliRollup`] (requests, errors, success and failure latency
//!   of one [`RollupKey`] in one [`Minute`]) and the [`RollupTable`] a shard
//!   holds; rows from many shards and nodes merge into exact totals.
//! - [`slo`]: the `[[slo]]` config entries ([`SloDefinition`]), validated.
//! - [`budget`], [`burn`], [`status`]: error budget, burn rates and alerts,
//!   assembled into the [`SloStatus`] objects of `/api/v1/slos`.
//! - [`gate`]: [`GateDecision`], the body of `/api/v1/gate`.
//!
//! # Conventions
//!
//! - Time is passed in, never read: `i64` nanoseconds since the Unix epoch, UTC.
//!   A span belongs to the minute of its end time.
//! - Latencies are nanoseconds: `u64` when recorded, `f64` inside sketches.
//! - Without valid events an SLI is `None` (JSON `null`), a burn rate is 0 and
//!   no budget is spent.
//!
//! This crate is pure: no IO, no clock, no threads.

pub mod budget;
pub mod burn;
mod error;
pub mod gate;
pub mod minute;
pub mod rollup;
pub mod sketch;
pub mod slo;
pub mod status;

pub use budget::{ErrorBudget, EventCounts, Objective, burn_rate};
pub use burn::{
    ALERT_RULES, AlertRule, AlertStatus, BurnCounts, BurnRates, BurnWindow, Severity,
    evaluate_alerts,
};
pub use error::SloError;
pub use gate::GateDecision;
pub use minute::{Minute, MinuteRange, NANOS_PER_MINUTE, calendar_month_nanos};
pub use rollup::{RollupKey, RollupKeyRef, RollupRow, RollupTable, SliRollup, SpanKind};
pub use sketch::{DdSketch, SketchConfig};
pub use slo::{MetricSelector, SliKind, SliSpec, SloDefinition, SloDefinitions, SloWindow};
pub use status::{SloCounts, SloStatus};
