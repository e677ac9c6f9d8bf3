//! Alert notifications: the end of the data path that tells people. SLO
//! burn-rate alerts and anomalies become notifications to Prometheus
//! Alertmanager and to JSON webhooks (Slack- or PagerDuty-style receivers sit
//! behind either).
//!
//! # Place in the data path
//!
//! ```text
//! SLO evaluation ──notify──────────┐
//!   (burn-rate alerts)             ├─▶ bounded queue ─▶ dispatcher ─┬─▶ Alertmanager: POST /api/v2/alerts
//! anomaly detection ─notify_anomaly┘   (never blocks;   (AlertGroups: └─▶ webhooks: Alertmanager's
//!   (no SLO impact)                     full: dropped)   dedup, group,      webhook payload, version 4
//!                                                        rate limit, retry)
//! ```
//!
//! - [`alert`]: the [`Alert`] value, its labels, annotations and identity.
//! - [`config`]: the `[alerting]` section ([`AlertingConfig`], [`EXAMPLE_TOML`]).
//! - [`groups`]: the pure state machine: dedup, grouping by service, group
//!   wait and interval, repeats, per-sink rate limits, retries with backoff.
//! - [`payload`]: the Alertmanager and webhook bodies.
//! - [`Notifier`]: the handle; `dispatcher` and `sink`: the IO around
//!   [`groups`].
//!
//! # Severity
//!
//! Only SLO burn-rate alerts page ([`Severity::Page`]); anomalies without SLO
//! impact go through [`Notifier::notify_anomaly`], which makes them tickets or
//! keeps them off the sinks, per `alerting.anomaly_severity`. The callers
//! choose the severity of everything else.
//!
//! # Delivery
//!
//! At most once per change and sink, with retries: a notification that fails
//! `max_retries` times in a row is dropped and counted. Firing alerts are
//! re-sent to Alertmanager every `repeat_interval`, so a lost firing alert
//! comes back; a lost resolution is covered by the firing alert's `endsAt`.
//! Nothing is persisted: after a restart, the SLO evaluation notifies what
//! still fires.

pub mod alert;
mod backoff;
pub mod config;
mod dispatcher;
mod error;
pub mod groups;
pub mod metrics;
mod notifier;
pub mod payload;
mod rate_limit;
mod sink;

pub use alert::{Alert, AlertState, Fingerprint, Severity};
pub use backoff::Backoff;
pub use config::{AlertingConfig, AnomalySeverity, EXAMPLE_TOML};
pub use error::AlertError;
pub use notifier::Notifier;
