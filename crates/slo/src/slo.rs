//! SLO definitions: the `[[slo]]` entries of the config file.
//!
//! # Place in the data path
//!
//! The binary deserializes `[[slo]]` into [`SloDefinitions`] when it loads the
//! config (and again on SIGHUP); a bad entry stops the start with a one-line
//! error naming the entry and the key, e.g. `slo "checkout-latency": threshold
//! is required when sli = "latency"`. The query API then evaluates each
//! definition against the rollups ([`SloDefinition::span_counts`] picks and
//! counts the rows an SLO is about) into a [`crate::SloStatus`].
//!
//! Definitions hold no tenant: each is evaluated for the tenant a request
//! selects (`X-Scope-OrgID`, default `default`).
//!
//! # Windows
//!
//! A rolling window (`"30d"`, `"4w"`, `"12h"`, whole minutes) is that many most
//! recent minutes of rollups, the current partial minute included. A
//! `"calendar-month"` window runs from the first instant of the current UTC
//! month to now; its budget in minutes is measured against the whole month's
//! length (28 to 31 days), so `remaining_minutes` does not swell as the month
//! goes by.

mod parse;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sluice_model::units::Duration;

use crate::SloError;
use crate::budget::{EventCounts, Objective};
use crate::minute::{Minute, MinuteRange, NANOS_PER_MINUTE, calendar_month_nanos};
use crate::rollup::{RollupKey, SliRollup, SpanKind};

/// What an SLI counts, as `sli = "..."` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SliKind {
    /// Good: server spans whose status is not ERROR.
    Availability,
    /// Good: server spans at most `threshold` long.
    Latency,
    /// Good and valid: two metric counters.
    Ratio,
}

impl SliKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Availability => "availability",
            Self::Latency => "latency",
            Self::Ratio => "ratio",
        }
    }
}

/// A metric counter (a sum) by name, and optionally attribute values it must
/// carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MetricSelector {
    pub metric: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
}

/// The SLI of an SLO with what its kind needs.
#[derive(Debug, Clone, PartialEq)]
pub enum SliSpec {
    Availability,
    Latency {
        threshold: Duration,
    },
    Ratio {
        good: MetricSelector,
        total: MetricSelector,
    },
}

impl SliSpec {
    pub fn kind(&self) -> SliKind {
        match self {
            Self::Availability => SliKind::Availability,
            Self::Latency { .. } => SliKind::Latency,
            Self::Ratio { .. } => SliKind::Ratio,
        }
    }
}

/// The window an SLO is measured over; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SloWindow {
    Rolling { minutes: u64 },
    CalendarMonth,
}

impl SloWindow {
    /// The minutes of rollups the window covers at `now_nanos`.
    pub fn range(self, now_nanos: i64) -> MinuteRange {
        match self {
            Self::Rolling { minutes } => {
                MinuteRange::last_n(now_nanos, i64::try_from(minutes).unwrap_or(i64::MAX))
            }
            Self::CalendarMonth => MinuteRange {
                start: Minute::of_nanos(calendar_month_nanos(now_nanos).start),
                end: Minute::of_nanos(now_nanos).plus(1),
            },
        }
    }

    /// The window's length for `remaining_minutes`: the rolling length, or the
    /// whole length of the current calendar month.
    pub fn length_minutes(self, now_nanos: i64) -> f64 {
        match self {
            Self::Rolling { minutes } => minutes as f64,
            Self::CalendarMonth => {
                let month = calendar_month_nanos(now_nanos);
                ((month.end - month.start) / NANOS_PER_MINUTE) as f64
            }
        }
    }
}

impl FromStr for SloWindow {
    type Err = SloError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        if input == "calendar-month" {
            return Ok(Self::CalendarMonth);
        }
        let err = |reason| SloError::InvalidWindow {
            input: input.to_owned(),
            reason,
        };
        let duration: Duration = input.parse().map_err(|_| {
            err("expected a rolling duration such as \"30d\", \"4w\" or \"12h\", or \"calendar-month\"")
        })?;
        let nanos = duration.as_nanos_u64();
        let per_minute = NANOS_PER_MINUTE as u64;
        if nanos == 0 || !nanos.is_multiple_of(per_minute) {
            return Err(err(
                "a rolling window must be a positive whole number of minutes",
            ));
        }
        Ok(Self::Rolling {
            minutes: nanos / per_minute,
        })
    }
}

impl fmt::Display for SloWindow {
    /// `calendar-month`, or the largest of `d`, `h`, `m` that divides the
    /// length (`30d`, `36h`, `90m`): the units the config is written in.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::CalendarMonth => f.write_str("calendar-month"),
            Self::Rolling { minutes } if minutes > 0 && minutes.is_multiple_of(1440) => {
                write!(f, "{}d", minutes / 1440)
            }
            Self::Rolling { minutes } if minutes > 0 && minutes.is_multiple_of(60) => {
                write!(f, "{}h", minutes / 60)
            }
            Self::Rolling { minutes } => write!(f, "{minutes}m"),
        }
    }
}

impl Serialize for SloWindow {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SloWindow {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// One `[[slo]]` entry, validated. Deserializes from the TOML shape of issue 4
/// and serializes back to it.
#[derive(Debug, Clone, PartialEq)]
pub struct SloDefinition {
    /// Unique; 1 to 128 letters, digits, `-`, `_` or `.` (it is a URL path
    /// segment of `/api/v1/slos/{name}`).
    pub name: String,
    /// `service.name` of the spans (or the resource of the metrics).
    pub service: String,
    /// One span name; all of the service's operations when `None`.
    pub operation: Option<String>,
    pub sli: SliSpec,
    pub objective: Objective,
    pub window: SloWindow,
    /// The contractual target, when there is one; never stricter than the
    /// objective.
    pub sla: Option<Objective>,
    pub runbook_url: Option<String>,
}

impl SloDefinition {
    pub fn sli_kind(&self) -> SliKind {
        self.sli.kind()
    }

    /// Whether a rollup row counts for this SLO: server spans of the service
    /// (and operation, when set). Ratio SLIs count metrics, never spans.
    pub fn matches(&self, key: &RollupKey) -> bool {
        !matches!(self.sli, SliSpec::Ratio { .. })
            && key.span_kind == SpanKind::Server
            && *key.service == *self.service
            && self
                .operation
                .as_deref()
                .is_none_or(|op| *key.operation == *op)
    }

    /// The good and valid events a rollup row adds to this SLO, `None` when
    /// the row is not about it.
    pub fn span_counts(&self, key: &RollupKey, rollup: &SliRollup) -> Option<EventCounts> {
        if !self.matches(key) {
            return None;
        }
        match &self.sli {
            SliSpec::Availability => Some(rollup.availability_counts()),
            SliSpec::Latency { threshold } => Some(rollup.latency_counts(threshold.as_nanos_u64())),
            SliSpec::Ratio { .. } => None,
        }
    }
}

impl<'de> Deserialize<'de> for SloDefinition {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        parse::definition(d)
    }
}

impl Serialize for SloDefinition {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        parse::serialize(self, s)
    }
}

/// Every `[[slo]]` entry, names unique. Deserializes from the array.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SloDefinitions(Vec<SloDefinition>);

impl SloDefinitions {
    /// Refuses two definitions of one name.
    pub fn new(definitions: Vec<SloDefinition>) -> Result<Self, SloError> {
        let mut seen = HashSet::new();
        for d in &definitions {
            if !seen.insert(d.name.as_str()) {
                return Err(SloError::DuplicateName {
                    name: d.name.clone(),
                });
            }
        }
        Ok(Self(definitions))
    }

    pub fn iter(&self) -> impl Iterator<Item = &SloDefinition> + '_ {
        self.0.iter()
    }

    pub fn get(&self, name: &str) -> Option<&SloDefinition> {
        self.0.iter().find(|d| d.name == name)
    }

    /// The SLOs of one service, in config order.
    pub fn for_service<'a>(&'a self, service: &'a str) -> impl Iterator<Item = &'a SloDefinition> {
        self.0.iter().filter(move |d| d.service == service)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'de> Deserialize<'de> for SloDefinitions {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::new(Vec::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl Serialize for SloDefinitions {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}
