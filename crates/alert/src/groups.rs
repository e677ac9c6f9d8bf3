//! The dispatcher's state, without IO: the alerts held, grouped by service,
//! and when each group is due to each sink. Time is passed in (nanoseconds
//! since the Unix epoch), never read, so every schedule is testable.
//!
//! # Data path
//!
//! ```text
//! Notifier::notify ─▶ queue ─▶ observe ─▶ AlertGroups ─poll─▶ Batch ─▶ sink (HTTP)
//!                                              ▲                          │
//!                                              └────── complete ◀─────────┘
//! ```
//!
//! # Rules
//!
//! - **Dedup**: an alert is its [`Fingerprint`]. Notifying a firing alert
//!   again refreshes its annotations and nothing else; a resolved alert is
//!   sent once as resolved, then forgotten. Resolving an alert that is not
//!   firing does nothing.
//! - **Grouping**: alerts are grouped by `service`; a send to one sink carries
//!   every firing alert of the group and the resolutions that sink has not
//!   had yet, so a receiver always sees the whole group (as with
//!   Alertmanager's own notifications), sorted by name and labels. A
//!   resolution whose firing a sink never got is not sent to it.
//! - **Timing**, per group and sink: the first send waits `group_wait` from the
//!   group's creation; later changes wait `group_interval` from the previous
//!   attempt; with no change, a group with firing alerts is re-sent every
//!   `repeat_interval` (Alertmanager) or `webhook_repeat_interval` (webhooks,
//!   0 = never). A group is forgotten once it holds nothing, so the next alert
//!   of its service waits `group_wait` again.
//! - **Rate limit**: each sink takes `max_notifications_per_minute` in any
//!   minute; a due group that finds its sink's window full stays due and goes
//!   later with whatever changed meanwhile. Groups due the longest go first,
//!   so repeats cannot starve a waiting group.
//! - **Retries**: one send per group and sink at a time. A retryable failure
//!   schedules the next attempt after
//!   [`Backoff::delay`](crate::Backoff::delay); the retry carries the group
//!   as it is then. After `max_retries` retries in a row, or a
//!   refusal (4xx other than 429), the changes count as delivered: firing
//!   alerts go again at the next repeat, resolutions are lost (Alertmanager
//!   still resolves the alert at its `endsAt`).

use std::collections::BTreeMap;

mod timing;

pub use timing::{SinkKind, Timing};

use crate::alert::{Alert, AlertState, Fingerprint};
use crate::backoff::JitterSource;
use crate::rate_limit::RateLimit;

/// Which send a [`Batch`] is: the sink's index, the group, and the group's
/// change number it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchId {
    pub sink: usize,
    pub service: String,
    pub seq: u64,
}

/// One notification to send: the alerts of one group for one sink.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub id: BatchId,
    pub alerts: Vec<Alert>,
    /// When the batch was made: firing alerts' `endsAt` counts from it.
    pub at: i64,
}

/// What [`AlertGroups::observe`] did with an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observed {
    /// A new firing alert (or one firing again): its group is due.
    Firing,
    /// Already firing: annotations refreshed, nothing due.
    Refreshed,
    /// A firing alert resolved: its group is due.
    Resolved,
    /// A resolution of an alert that is not firing: nothing to do.
    Ignored,
    /// `max_active_alerts` alerts are held already: dropped.
    TooManyActive,
}

/// How a send went, as the IO layer saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendOutcome {
    Sent,
    Failed { retryable: bool },
}

/// What [`AlertGroups::complete`] made of a send's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    Sent,
    /// Failed; the group goes again at this time.
    RetryAt(i64),
    /// Failed `max_retries + 1` times in a row: dropped.
    GaveUp,
    /// Refused by the receiver: dropped, never retried.
    Rejected,
    /// Not a send in flight (the group is gone): ignored.
    Unknown,
}

#[derive(Debug, Clone)]
struct Tracked {
    alert: Alert,
    /// The group change at which it (last) started firing.
    fired_seq: u64,
    /// The group change at which it resolved.
    resolved_seq: Option<u64>,
}

/// One group's progress towards one sink.
#[derive(Debug, Clone, Default)]
struct SinkSchedule {
    /// Group changes up to this one are delivered (or given up).
    acked_seq: u64,
    in_flight: Option<u64>,
    last_attempt: Option<i64>,
    failures: u32,
    retry_at: Option<i64>,
}

#[derive(Debug, Clone)]
struct Group {
    alerts: BTreeMap<Fingerprint, Tracked>,
    /// Incremented at each firing or resolution.
    seq: u64,
    created_at: i64,
    sinks: Vec<SinkSchedule>,
}

impl Group {
    fn has_firing(&self) -> bool {
        self.alerts.values().any(|t| t.resolved_seq.is_none())
    }

    /// Every firing alert, and the resolutions a sink that has acknowledged
    /// `acked` still needs (those whose firing it got).
    fn batch_alerts(&self, acked: u64) -> Vec<Alert> {
        let mut alerts: Vec<Alert> = self
            .alerts
            .values()
            .filter(|t| match t.resolved_seq {
                None => true,
                Some(resolved) => t.fired_seq <= acked && acked < resolved,
            })
            .map(|t| t.alert.clone())
            .collect();
        alerts.sort_by(|a, b| {
            (&a.name, &a.labels, a.severity).cmp(&(&b.name, &b.labels, b.severity))
        });
        alerts
    }

    /// When the group is next due to a sink, before the rate limit.
    fn due_at(&self, s: &SinkSchedule, repeat: i64, timing: &Timing) -> Option<i64> {
        if s.in_flight.is_some() {
            return None;
        }
        if let Some(at) = s.retry_at {
            return Some(at);
        }
        let changed = self.seq > s.acked_seq;
        match s.last_attempt {
            None if changed => Some(self.created_at.saturating_add(timing.group_wait)),
            None => None,
            Some(last) if changed => Some(last.saturating_add(timing.group_interval)),
            Some(last) if repeat > 0 && self.has_firing() => Some(last.saturating_add(repeat)),
            Some(_) => None,
        }
    }
}

/// The alerts held and their schedule towards every sink (see the module docs).
#[derive(Debug, Clone)]
pub struct AlertGroups {
    timing: Timing,
    sinks: Vec<SinkKind>,
    limits: Vec<RateLimit>,
    groups: BTreeMap<String, Group>,
    held: usize,
    jitter: JitterSource,
}

impl AlertGroups {
    /// No alerts yet; `sinks` in the order [`BatchId::sink`] indexes them;
    /// `seed` seeds the retry jitter.
    pub fn new(timing: Timing, sinks: Vec<SinkKind>, seed: u64) -> Self {
        let limits = sinks
            .iter()
            .map(|_| RateLimit::per_minute(timing.max_per_minute))
            .collect();
        Self {
            timing,
            sinks,
            limits,
            groups: BTreeMap::new(),
            held: 0,
            jitter: JitterSource::new(seed),
        }
    }

    /// Takes in one alert (see the module docs for dedup).
    pub fn observe(&mut self, alert: Alert, now: i64) -> Observed {
        let fingerprint = alert.fingerprint();
        if let Some(group) = self.groups.get_mut(&alert.service)
            && let Some(tracked) = group.alerts.get_mut(&fingerprint)
        {
            return match (alert.state, tracked.resolved_seq) {
                (AlertState::Firing, None) => {
                    tracked.alert = Alert {
                        starts_at: tracked.alert.starts_at,
                        ..alert
                    };
                    Observed::Refreshed
                }
                (AlertState::Firing, Some(_)) => {
                    group.seq += 1;
                    *tracked = Tracked {
                        alert,
                        fired_seq: group.seq,
                        resolved_seq: None,
                    };
                    Observed::Firing
                }
                (AlertState::Resolved { .. }, None) => {
                    group.seq += 1;
                    tracked.resolved_seq = Some(group.seq);
                    tracked.alert = Alert {
                        starts_at: tracked.alert.starts_at,
                        ..alert
                    };
                    Observed::Resolved
                }
                (AlertState::Resolved { .. }, Some(_)) => Observed::Ignored,
            };
        }
        if !alert.is_firing() {
            return Observed::Ignored;
        }
        if self.held >= self.timing.max_active {
            return Observed::TooManyActive;
        }
        let sinks = self.sinks.len();
        let group = self
            .groups
            .entry(alert.service.clone())
            .or_insert_with(|| Group {
                alerts: BTreeMap::new(),
                seq: 0,
                created_at: now,
                sinks: vec![SinkSchedule::default(); sinks],
            });
        group.seq += 1;
        group.alerts.insert(
            fingerprint,
            Tracked {
                alert,
                fired_seq: group.seq,
                resolved_seq: None,
            },
        );
        self.held += 1;
        Observed::Firing
    }

    /// The batches due at `now` that the rate limits let go; each is in flight
    /// until [`complete`](Self::complete) hears of it.
    pub fn poll(&mut self, now: i64) -> Vec<Batch> {
        // Longest due first, so that repeats cannot starve a group waiting
        // for the rate limit.
        let mut due: Vec<(i64, &String, usize)> = Vec::new();
        for (service, group) in &self.groups {
            for (index, kind) in self.sinks.iter().enumerate() {
                let repeat = self.timing.repeat(*kind);
                match group.due_at(&group.sinks[index], repeat, &self.timing) {
                    Some(at) if at <= now => due.push((at, service, index)),
                    _ => {}
                }
            }
        }
        due.sort_unstable();
        let due: Vec<(String, usize)> = due
            .into_iter()
            .map(|(_, service, index)| (service.clone(), index))
            .collect();
        let mut out = Vec::new();
        for (service, index) in due {
            let Some(group) = self.groups.get_mut(&service) else {
                continue;
            };
            let alerts = group.batch_alerts(group.sinks[index].acked_seq);
            let seq = group.seq;
            let schedule = &mut group.sinks[index];
            if alerts.is_empty() {
                // Only fired-and-resolved alerts this sink never saw firing.
                schedule.acked_seq = seq;
                schedule.retry_at = None;
                schedule.failures = 0;
                continue;
            }
            if !self.limits[index].try_acquire(now) {
                continue;
            }
            schedule.in_flight = Some(seq);
            schedule.last_attempt = Some(now);
            schedule.retry_at = None;
            out.push(Batch {
                id: BatchId {
                    sink: index,
                    service,
                    seq,
                },
                alerts,
                at: now,
            });
        }
        self.collect_garbage();
        out
    }

    /// Records how a batch from [`poll`](Self::poll) or
    /// [`flush`](Self::flush) went.
    pub fn complete(&mut self, id: &BatchId, outcome: SendOutcome, now: i64) -> Completion {
        let Some(schedule) = self
            .groups
            .get_mut(&id.service)
            .and_then(|g| g.sinks.get_mut(id.sink))
            .filter(|s| s.in_flight == Some(id.seq))
        else {
            return Completion::Unknown;
        };
        schedule.in_flight = None;
        let completion = match outcome {
            SendOutcome::Failed { retryable: true }
                if schedule.failures < self.timing.max_retries =>
            {
                let delay = self
                    .timing
                    .backoff
                    .delay(schedule.failures, self.jitter.next_unit());
                schedule.failures += 1;
                let at = now.saturating_add(i64::try_from(delay.as_nanos()).unwrap_or(i64::MAX));
                schedule.retry_at = Some(at);
                return Completion::RetryAt(at);
            }
            SendOutcome::Sent => Completion::Sent,
            SendOutcome::Failed { retryable: true } => Completion::GaveUp,
            SendOutcome::Failed { retryable: false } => Completion::Rejected,
        };
        schedule.acked_seq = schedule.acked_seq.max(id.seq);
        schedule.failures = 0;
        schedule.retry_at = None;
        self.collect_garbage();
        completion
    }

    /// The earliest time something may be due, rate limits included; `None`
    /// when nothing is scheduled.
    pub fn next_due(&self, now: i64) -> Option<i64> {
        let mut next: Option<i64> = None;
        for group in self.groups.values() {
            for (index, kind) in self.sinks.iter().enumerate() {
                let repeat = self.timing.repeat(*kind);
                if let Some(due) = group.due_at(&group.sinks[index], repeat, &self.timing) {
                    let due = due.max(self.limits[index].next_available(now));
                    next = Some(next.map_or(due, |n| n.min(due)));
                }
            }
        }
        next
    }

    /// At shutdown: a batch for every group and sink with undelivered changes
    /// and nothing in flight, ignoring waits, intervals and rate limits.
    pub fn flush(&mut self, now: i64) -> Vec<Batch> {
        let mut out = Vec::new();
        for (service, group) in &mut self.groups {
            for index in 0..self.sinks.len() {
                let schedule = &group.sinks[index];
                let undelivered = group.seq > schedule.acked_seq || schedule.retry_at.is_some();
                if schedule.in_flight.is_some() || !undelivered {
                    continue;
                }
                let alerts = group.batch_alerts(schedule.acked_seq);
                if alerts.is_empty() {
                    continue;
                }
                let schedule = &mut group.sinks[index];
                schedule.in_flight = Some(group.seq);
                schedule.last_attempt = Some(now);
                schedule.retry_at = None;
                out.push(Batch {
                    id: BatchId {
                        sink: index,
                        service: service.clone(),
                        seq: group.seq,
                    },
                    alerts,
                    at: now,
                });
            }
        }
        out
    }

    /// Alerts firing now.
    pub fn firing(&self) -> usize {
        self.groups
            .values()
            .map(|g| {
                g.alerts
                    .values()
                    .filter(|t| t.resolved_seq.is_none())
                    .count()
            })
            .sum()
    }

    /// Groups held (services with firing or undelivered resolved alerts).
    pub fn groups(&self) -> usize {
        self.groups.len()
    }

    /// Forgets resolutions every sink has had, and groups left empty.
    fn collect_garbage(&mut self) {
        let mut removed = 0;
        self.groups.retain(|_, group| {
            let acked = group
                .sinks
                .iter()
                .map(|s| s.acked_seq)
                .min()
                .unwrap_or(u64::MAX);
            let before = group.alerts.len();
            group
                .alerts
                .retain(|_, t| t.resolved_seq.is_none_or(|resolved| resolved > acked));
            removed += before - group.alerts.len();
            !group.alerts.is_empty() || group.sinks.iter().any(|s| s.in_flight.is_some())
        });
        self.held -= removed;
    }
}

#[cfg(test)]
mod tests;
