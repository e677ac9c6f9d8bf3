//! Streaming anomaly detection for Sluice: hear about a latency spike, an
//! error burst, a traffic drop or a resource heading for exhaustion while it
//! happens, from the data already flowing through, without being paged for
//! noise.
//!
//! # Place in the data path
//!
//! ```text
//! shard workers ──per step (10 s of event time)──▶ Observation { time_nanos, value }
//!   request rate, error ratio, p99 latency           │ one per series
//!   per service/operation; metric series;            ▼
//!   ERROR logs per service               SeriesDetector::observe ──▶ Transition
//!                                        TrendForecast::observe  ──▶ (Opened / Updated / Resolved)
//!                                                                        │ + SeriesKey
//!                                                                        ▼
//!                                              AnomalyRecord ──▶ storage (Parquet), alert webhooks
//! ```
//!
//! That wiring is not in this crate. Here:
//!
//! - [`signal`]: [`Observation`], [`Signal`], [`Direction`] and which
//!   direction hurts ([`DirectionPolicy`]), [`Severity`].
//! - [`config`]: [`DetectorConfig`] and [`TrendConfig`], validated.
//! - [`baseline`]: [`RobustBaseline`], a Huber-clipped EWMA level and spread
//!   that one outlier cannot drag.
//! - [`seasonal`]: [`SeasonalProfile`], hour-of-day and day-of-week × hour
//!   profiles used once enough history exists.
//! - [`detector`]: [`SeriesDetector`], baseline + seasonality + direction +
//!   hysteresis for one series.
//! - [`trend`]: [`TrendForecast`], time to exhaustion of a gauge.
//! - [`event`]: [`AnomalyEvent`], [`Transition`], [`AnomalyRecord`].
//! - [`scenario`]: labelled synthetic series and the scorer the tests and the
//!   benchmark measure detection quality with.
//!
//! # Conventions
//!
//! - Event time only: a detector runs on the records' own timestamps
//!   (`i64` nanoseconds since the Unix epoch, UTC) and never reads the clock,
//!   so replaying last week's data gives the same anomalies as watching it
//!   live.
//! - O(1) memory per series: a few floats per baseline, 264 profile slots
//!   with seasonality on.
//! - Points arrive in time order per series; a late point is skipped.
//!
//! This crate is pure: no IO, no clock, no threads.

pub mod baseline;
pub mod config;
pub mod detector;
mod error;
pub mod event;
mod hysteresis;
pub mod scenario;
pub mod seasonal;
pub mod signal;
pub mod trend;

pub use baseline::{Clipping, Decay, Rates, RobustBaseline, decay_rate};
pub use config::{Amount, DetectorConfig, Fraction, Points, Score, SeasonalityConfig, TrendConfig};
pub use detector::{Evaluation, SeriesDetector, StepOutcome};
pub use error::AnomalyError;
pub use event::{AnomalyEvent, AnomalyRecord, DetectorKind, SeriesKey, Transition};
pub use seasonal::{SeasonalExpectation, SeasonalProfile};
pub use signal::{Direction, DirectionPolicy, Observation, Severity, Signal};
pub use trend::TrendForecast;
