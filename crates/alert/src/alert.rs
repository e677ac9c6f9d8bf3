//! The value callers hand to [`Notifier::notify`](crate::Notifier::notify):
//! one alert, firing or resolved, with its labels and annotations.
//!
//! # Identity
//!
//! An alert is identified by its label set: `alertname` (the alert's
//! [`name`](Alert::name)), `service`, `severity` and the extra
//! [`labels`](Alert::labels), as in Alertmanager. The [`Fingerprint`] is
//! Alertmanager's own (FNV-1a over the sorted labels), so the value in a
//! webhook payload equals the one Alertmanager shows for the same alert.
//! Annotations (summary, description, runbook and API links) are not part of
//! the identity: notifying the same firing alert again only refreshes them.
//!
//! # Label names
//!
//! Alertmanager refuses a whole request when one label name is not
//! `[a-zA-Z_][a-zA-Z0-9_]*`, so extra label names are sanitized the way
//! Prometheus exporters do (`service.name` becomes `service_name`), extra
//! labels with an empty value are left out (Prometheus treats empty as absent),
//! and extra labels cannot override the three reserved ones.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// The label holding [`Alert::name`].
pub const LABEL_ALERTNAME: &str = "alertname";
/// The label holding [`Alert::service`]; alerts are grouped by it.
pub const LABEL_SERVICE: &str = "service";
/// The label holding [`Alert::severity`].
pub const LABEL_SEVERITY: &str = "severity";

/// Who should look at an alert, and how soon. Sent as the `severity` label;
/// receivers behind Alertmanager route on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Wake someone up: only fast SLO burn-rate alerts.
    Page,
    /// Someone looks during working hours: slow burns, anomalies without SLO
    /// impact (unless `alerting.anomaly_severity = "dashboard"`).
    Ticket,
    /// For the record; receivers usually only show it.
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Page => "page",
            Self::Ticket => "ticket",
            Self::Info => "info",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether the condition holds now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertState {
    Firing,
    /// The condition stopped holding at `ends_at` (nanoseconds since the Unix
    /// epoch).
    Resolved {
        ends_at: i64,
    },
}

/// One alert, firing or resolved. Times are nanoseconds since the Unix epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// Sent as the `alertname` label, e.g. `SloBurnRate`.
    pub name: String,
    /// Sent as the `service` label; alerts are grouped by it.
    pub service: String,
    pub severity: Severity,
    /// Extra identifying labels (e.g. `slo`, `tenant`, `window`).
    pub labels: BTreeMap<String, String>,
    /// One line a person reads first (annotation `summary`).
    pub summary: String,
    /// More detail (annotation `description`).
    pub description: Option<String>,
    /// What to do (annotation `runbook_url`).
    pub runbook_url: Option<String>,
    /// A link to Sluice's API for this alert (annotation `api_url` and the
    /// Alertmanager `generatorURL`). A value starting with `/` is a path on
    /// `alerting.external_url`; anything else is used as it is.
    pub api_url: Option<String>,
    /// When the condition started to hold.
    pub starts_at: i64,
    pub state: AlertState,
}

impl Alert {
    /// A firing alert with no extra labels and no optional annotations.
    pub fn firing(
        name: impl Into<String>,
        service: impl Into<String>,
        severity: Severity,
        summary: impl Into<String>,
        starts_at: i64,
    ) -> Self {
        Self {
            name: name.into(),
            service: service.into(),
            severity,
            labels: BTreeMap::new(),
            summary: summary.into(),
            description: None,
            runbook_url: None,
            api_url: None,
            starts_at,
            state: AlertState::Firing,
        }
    }

    /// The same alert, resolved at `ends_at`.
    pub fn resolved(mut self, ends_at: i64) -> Self {
        self.state = AlertState::Resolved { ends_at };
        self
    }

    pub fn with_label(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(name.into(), value.into());
        self
    }

    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    pub fn with_runbook_url(mut self, url: impl Into<String>) -> Self {
        self.runbook_url = Some(url.into());
        self
    }

    pub fn with_api_url(mut self, url: impl Into<String>) -> Self {
        self.api_url = Some(url.into());
        self
    }

    pub fn is_firing(&self) -> bool {
        self.state == AlertState::Firing
    }

    /// The label set sent to receivers: the three reserved labels and the
    /// extra ones, sanitized (see the module docs).
    pub fn label_set(&self) -> BTreeMap<String, String> {
        let mut set: BTreeMap<String, String> = self
            .labels
            .iter()
            .filter(|(_, value)| !value.is_empty())
            .map(|(name, value)| (sanitize_label_name(name), value.clone()))
            .collect();
        set.insert(LABEL_ALERTNAME.to_owned(), self.name.clone());
        set.insert(LABEL_SERVICE.to_owned(), self.service.clone());
        set.insert(LABEL_SEVERITY.to_owned(), self.severity.as_str().to_owned());
        set
    }

    /// The identity of the alert: its label set, hashed as Alertmanager does.
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(&self.label_set())
    }

    /// The annotations sent to receivers: `summary`, and `description`,
    /// `runbook_url` and `api_url` when set. `external_url` resolves an
    /// `api_url` path.
    pub fn annotations(&self, external_url: &str) -> BTreeMap<String, String> {
        let mut annotations = BTreeMap::from([("summary".to_owned(), self.summary.clone())]);
        let optional = [
            ("description", self.description.clone()),
            ("runbook_url", self.runbook_url.clone()),
            ("api_url", self.resolved_api_url(external_url)),
        ];
        for (name, value) in optional {
            if let Some(value) = value.filter(|v| !v.is_empty()) {
                annotations.insert(name.to_owned(), value);
            }
        }
        annotations
    }

    /// [`api_url`](Self::api_url) as an absolute link.
    pub fn resolved_api_url(&self, external_url: &str) -> Option<String> {
        let url = self.api_url.as_deref()?;
        Some(if url.starts_with('/') {
            format!("{}{url}", external_url.trim_end_matches('/'))
        } else {
            url.to_owned()
        })
    }
}

/// `name` with every character outside `[a-zA-Z0-9_]` replaced by `_`, and a
/// `_` in front when it starts with a digit or is empty.
fn sanitize_label_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// The identity of an alert: Alertmanager's label-set fingerprint, FNV-1a 64
/// over each sorted label name and value followed by a 0xFF separator byte,
/// printed as 16 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint(u64);

impl Fingerprint {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    const SEPARATOR: u8 = 0xff;

    /// The fingerprint of a label set (a `BTreeMap` iterates sorted by name).
    pub fn of(labels: &BTreeMap<String, String>) -> Self {
        let mut hash = Self::OFFSET;
        let mut add = |bytes: &[u8]| {
            for &b in bytes {
                hash ^= u64::from(b);
                hash = hash.wrapping_mul(Self::PRIME);
            }
        };
        for (name, value) in labels {
            add(name.as_bytes());
            add(&[Self::SEPARATOR]);
            add(value.as_bytes());
            add(&[Self::SEPARATOR]);
        }
        Self(hash)
    }

    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert() -> Alert {
        Alert::firing("SloBurnRate", "checkout", Severity::Page, "burning", 1)
    }

    #[test]
    fn reserved_labels_win_and_extra_names_are_sanitized() {
        let alert = alert()
            .with_label("service", "other")
            .with_label("k8s.pod-name", "p1")
            .with_label("9lives", "x")
            .with_label("empty", "");
        let labels = alert.label_set();
        let expected = BTreeMap::from([
            ("alertname".to_owned(), "SloBurnRate".to_owned()),
            ("service".to_owned(), "checkout".to_owned()),
            ("severity".to_owned(), "page".to_owned()),
            ("k8s_pod_name".to_owned(), "p1".to_owned()),
            ("_9lives".to_owned(), "x".to_owned()),
        ]);
        assert_eq!(labels, expected);
    }

    #[test]
    fn fingerprint_is_alertmanagers() {
        // prometheus/common model: the empty label set hashes to the FNV offset.
        assert_eq!(Fingerprint::of(&BTreeMap::new()).get(), Fingerprint::OFFSET);
        let one = BTreeMap::from([("a".to_owned(), "b".to_owned())]);
        // FNV-1a 64 of "a\xffb\xff", computed independently.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in [b'a', 0xff, b'b', 0xff] {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x100_0000_01b3);
        }
        assert_eq!(Fingerprint::of(&one).get(), h);
        assert_eq!(Fingerprint::of(&one).to_string().len(), 16);
    }

    #[test]
    fn identity_ignores_annotations_and_state() {
        let a = alert();
        let b = alert()
            .with_description("more")
            .with_runbook_url("http://runbooks/x")
            .resolved(5);
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_ne!(
            a.fingerprint(),
            alert().with_label("slo", "x").fingerprint()
        );
        let mut ticket = alert();
        ticket.severity = Severity::Ticket;
        assert_ne!(a.fingerprint(), ticket.fingerprint());
    }

    #[test]
    fn api_paths_resolve_against_the_external_url() {
        let a = alert().with_api_url("/api/v1/slos/checkout");
        assert_eq!(
            a.annotations("http://sluice:4319/")["api_url"],
            "http://sluice:4319/api/v1/slos/checkout"
        );
        let b = alert().with_api_url("http://elsewhere/x");
        assert_eq!(
            b.annotations("http://sluice:4319")["api_url"],
            "http://elsewhere/x"
        );
        let c = alert();
        assert_eq!(
            c.annotations("http://sluice:4319")
                .keys()
                .collect::<Vec<_>>(),
            ["summary"]
        );
    }
}
