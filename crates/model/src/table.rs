//! The tables of the storage contract, named as the OpenTelemetry Collector
//! ClickHouse exporter names them.

use std::fmt;

/// The three OTLP signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Signal {
    Traces,
    Metrics,
    Logs,
}

impl Signal {
    pub const ALL: [Signal; 3] = [Signal::Traces, Signal::Metrics, Signal::Logs];

    /// The lowercase name used in metric labels and URL paths (`/v1/traces`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Metrics => "metrics",
            Signal::Logs => "logs",
        }
    }

    /// What one record of this signal is called in OTLP's `partial_success`.
    pub const fn record_noun(self) -> &'static str {
        match self {
            Signal::Traces => "spans",
            Signal::Metrics => "data points",
            Signal::Logs => "log records",
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A table of the storage layout `<root>/<tenant>/<table>/date=…/hour=…/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    Traces,
    Logs,
    MetricsGauge,
    MetricsSum,
    MetricsHistogram,
    MetricsExponentialHistogram,
    MetricsSummary,
    /// Per-minute SLI rollups of spans (requests, errors, latency sketches),
    /// derived by the shards; Sluice's own table.
    Rollups,
    /// Anomalies found by the detectors, one row per change of an anomaly
    /// (opened, resolved); Sluice's own table.
    Anomalies,
}

impl Table {
    pub const ALL: [Table; 9] = [
        Table::Traces,
        Table::Logs,
        Table::MetricsGauge,
        Table::MetricsSum,
        Table::MetricsHistogram,
        Table::MetricsExponentialHistogram,
        Table::MetricsSummary,
        Table::Rollups,
        Table::Anomalies,
    ];

    /// The tables of the ClickHouse exporter schema, holding OTLP records as
    /// received (every table but the derived ones).
    pub const OTLP: [Table; 7] = [
        Table::Traces,
        Table::Logs,
        Table::MetricsGauge,
        Table::MetricsSum,
        Table::MetricsHistogram,
        Table::MetricsExponentialHistogram,
        Table::MetricsSummary,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            Table::Traces => "otel_traces",
            Table::Logs => "otel_logs",
            Table::MetricsGauge => "otel_metrics_gauge",
            Table::MetricsSum => "otel_metrics_sum",
            Table::MetricsHistogram => "otel_metrics_histogram",
            Table::MetricsExponentialHistogram => "otel_metrics_exponential_histogram",
            Table::MetricsSummary => "otel_metrics_summary",
            Table::Rollups => "sluice_rollups",
            Table::Anomalies => "sluice_anomalies",
        }
    }

    /// The column holding each row's event time, used for partitioning and sorting.
    pub const fn time_column(self) -> &'static str {
        match self {
            Table::Traces | Table::Logs => "Timestamp",
            Table::Rollups => "Minute",
            Table::Anomalies => "Start",
            _ => "TimeUnix",
        }
    }

    pub fn from_name(name: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.name() == name)
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
