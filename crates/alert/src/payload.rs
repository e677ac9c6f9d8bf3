//! The bodies sent to each kind of sink, in the receivers' own formats.
//!
//! - Alertmanager: the v2 API's `postableAlerts`, a JSON array of `{labels,
//!   annotations, startsAt, endsAt, generatorURL}` posted to
//!   `/api/v2/alerts`. A firing alert carries `endsAt` = batch time + 4 ×
//!   `repeat_interval` (as Prometheus does): refreshed at every repeat, it
//!   resolves on its own if Sluice stops sending, whatever Alertmanager's
//!   `resolve_timeout`. A resolved alert carries its `ends_at`, in the past.
//! - Webhooks: Alertmanager's own webhook payload, version `"4"` (`receiver`,
//!   `status`, `groupKey`, `groupLabels`, `commonLabels`,
//!   `commonAnnotations`, `externalURL`, `alerts[]` with `fingerprint`), so
//!   any receiver written for Alertmanager's webhook understands Sluice's.
//!   As in Alertmanager, a firing alert's `endsAt` is `0001-01-01T00:00:00Z`.
//!
//! Times are RFC 3339 in UTC.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::alert::{Alert, AlertState, LABEL_SERVICE};

/// Alertmanager's zero time, the `endsAt` of a firing alert in its webhooks.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";
/// The `receiver` of Sluice's webhook payloads.
pub const RECEIVER: &str = "sluice";

/// One element of Alertmanager's `postableAlerts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostableAlert {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    #[serde(rename = "startsAt")]
    pub starts_at: String,
    #[serde(rename = "endsAt")]
    pub ends_at: String,
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
}

/// Alertmanager's webhook payload, version 4.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookMessage {
    pub version: String,
    #[serde(rename = "groupKey")]
    pub group_key: String,
    #[serde(rename = "truncatedAlerts")]
    pub truncated_alerts: u64,
    /// `firing` when any alert fires, else `resolved`.
    pub status: String,
    pub receiver: String,
    #[serde(rename = "groupLabels")]
    pub group_labels: BTreeMap<String, String>,
    #[serde(rename = "commonLabels")]
    pub common_labels: BTreeMap<String, String>,
    #[serde(rename = "commonAnnotations")]
    pub common_annotations: BTreeMap<String, String>,
    #[serde(rename = "externalURL")]
    pub external_url: String,
    pub alerts: Vec<WebhookAlert>,
}

/// One alert of a [`WebhookMessage`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookAlert {
    /// `firing` or `resolved`.
    pub status: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    #[serde(rename = "startsAt")]
    pub starts_at: String,
    #[serde(rename = "endsAt")]
    pub ends_at: String,
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
    pub fingerprint: String,
}

/// RFC 3339 in UTC with as many fractional digits as needed.
pub fn rfc3339(nanos: i64) -> String {
    DateTime::<Utc>::from_timestamp_nanos(nanos).to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn generator_url(alert: &Alert, external_url: &str) -> String {
    alert
        .resolved_api_url(external_url)
        .unwrap_or_else(|| external_url.to_owned())
}

/// The body of `POST /api/v2/alerts` for alerts of a batch made at `at`.
pub fn alertmanager_body(
    alerts: &[Alert],
    at: i64,
    repeat_interval: i64,
    external_url: &str,
) -> Vec<PostableAlert> {
    let valid_until = at.saturating_add(repeat_interval.saturating_mul(4));
    alerts
        .iter()
        .map(|alert| PostableAlert {
            labels: alert.label_set(),
            annotations: alert.annotations(external_url),
            starts_at: rfc3339(alert.starts_at),
            ends_at: rfc3339(match alert.state {
                AlertState::Firing => valid_until,
                AlertState::Resolved { ends_at } => ends_at,
            }),
            generator_url: generator_url(alert, external_url),
        })
        .collect()
}

/// The webhook payload for the alerts of one service group.
pub fn webhook_message(service: &str, alerts: &[Alert], external_url: &str) -> WebhookMessage {
    let alerts: Vec<WebhookAlert> = alerts
        .iter()
        .map(|alert| {
            let labels = alert.label_set();
            WebhookAlert {
                status: if alert.is_firing() {
                    "firing"
                } else {
                    "resolved"
                }
                .to_owned(),
                fingerprint: crate::alert::Fingerprint::of(&labels).to_string(),
                labels,
                annotations: alert.annotations(external_url),
                starts_at: rfc3339(alert.starts_at),
                ends_at: match alert.state {
                    AlertState::Firing => ZERO_TIME.to_owned(),
                    AlertState::Resolved { ends_at } => rfc3339(ends_at),
                },
                generator_url: generator_url(alert, external_url),
            }
        })
        .collect();
    let group_labels = BTreeMap::from([(LABEL_SERVICE.to_owned(), service.to_owned())]);
    let firing = alerts.iter().any(|a| a.status == "firing");
    WebhookMessage {
        version: "4".to_owned(),
        group_key: format!("{{}}:{{{LABEL_SERVICE}={service:?}}}"),
        truncated_alerts: 0,
        status: if firing { "firing" } else { "resolved" }.to_owned(),
        receiver: RECEIVER.to_owned(),
        common_labels: common(alerts.iter().map(|a| &a.labels)),
        common_annotations: common(alerts.iter().map(|a| &a.annotations)),
        group_labels,
        external_url: external_url.to_owned(),
        alerts,
    }
}

/// The pairs present, with the same value, in every map.
fn common<'a>(
    mut maps: impl Iterator<Item = &'a BTreeMap<String, String>>,
) -> BTreeMap<String, String> {
    let Some(first) = maps.next() else {
        return BTreeMap::new();
    };
    let mut out = first.clone();
    for map in maps {
        out.retain(|k, v| map.get(k) == Some(v));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::Severity;

    const S: i64 = 1_000_000_000;
    const T0: i64 = 1_700_000_000 * S;

    fn alerts() -> Vec<Alert> {
        vec![
            Alert::firing("SloBurnRate", "checkout", Severity::Page, "fast burn", T0)
                .with_label("slo", "checkout-availability")
                .with_runbook_url("http://runbooks/slo")
                .with_api_url("/api/v1/slos/checkout-availability"),
            Alert::firing(
                "SloBurnRate",
                "checkout",
                Severity::Page,
                "fast burn",
                T0 + S,
            )
            .with_label("slo", "checkout-latency")
            .with_runbook_url("http://runbooks/slo")
            .resolved(T0 + 90 * S),
        ]
    }

    #[test]
    fn alertmanager_alerts_carry_labels_annotations_and_times() {
        let body = alertmanager_body(&alerts(), T0 + 10 * S, 60 * S, "http://sluice:4319");
        let json = serde_json::to_value(&body).expect("serializes");
        assert_eq!(
            json[0],
            serde_json::json!({
                "labels": {
                    "alertname": "SloBurnRate",
                    "service": "checkout",
                    "severity": "page",
                    "slo": "checkout-availability",
                },
                "annotations": {
                    "summary": "fast burn",
                    "runbook_url": "http://runbooks/slo",
                    "api_url": "http://sluice:4319/api/v1/slos/checkout-availability",
                },
                "startsAt": "2023-11-14T22:13:20Z",
                "endsAt": "2023-11-14T22:17:30Z",
                "generatorURL": "http://sluice:4319/api/v1/slos/checkout-availability",
            })
        );
        assert_eq!(json[1]["endsAt"], "2023-11-14T22:14:50Z");
        assert_eq!(json[1]["generatorURL"], "http://sluice:4319");
    }

    #[test]
    fn webhook_message_is_alertmanagers_version_4() {
        let message = webhook_message("checkout", &alerts(), "http://sluice:4319");
        let json = serde_json::to_value(&message).expect("serializes");
        assert_eq!(json["version"], "4");
        assert_eq!(json["status"], "firing");
        assert_eq!(json["receiver"], "sluice");
        assert_eq!(json["groupKey"], "{}:{service=\"checkout\"}");
        assert_eq!(json["truncatedAlerts"], 0);
        assert_eq!(
            json["groupLabels"],
            serde_json::json!({"service": "checkout"})
        );
        assert_eq!(
            json["commonLabels"],
            serde_json::json!({"alertname": "SloBurnRate", "service": "checkout", "severity": "page"})
        );
        assert_eq!(
            json["commonAnnotations"],
            serde_json::json!({"summary": "fast burn", "runbook_url": "http://runbooks/slo"})
        );
        assert_eq!(json["externalURL"], "http://sluice:4319");
        assert_eq!(json["alerts"][0]["status"], "firing");
        assert_eq!(json["alerts"][0]["endsAt"], ZERO_TIME);
        assert_eq!(json["alerts"][1]["status"], "resolved");
        assert_eq!(json["alerts"][1]["endsAt"], "2023-11-14T22:14:50Z");
        assert_eq!(
            json["alerts"][0]["fingerprint"],
            alerts()[0].fingerprint().to_string()
        );
        let resolved = webhook_message("checkout", &alerts()[1..], "http://sluice:4319");
        assert_eq!(resolved.status, "resolved");
    }

    #[test]
    fn times_keep_their_fraction() {
        assert_eq!(rfc3339(T0 + 250_000_000), "2023-11-14T22:13:20.250Z");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    }
}
