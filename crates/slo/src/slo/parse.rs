//! Reading and writing one `[[slo]]` entry.
//!
//! The entry is first read into a loosely typed tree that accepts any value,
//! so that every error, wrong types and unknown keys included, can name the
//! entry (`slo "checkout-latency": ...`) and the key, whatever order the keys
//! come in.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use sluice_model::units::Duration;

use super::{MetricSelector, SliKind, SliSpec, SloDefinition, SloWindow};
use crate::SloError;
use crate::budget::Objective;

const KEYS: [&str; 11] = [
    "name",
    "service",
    "operation",
    "sli",
    "objective",
    "window",
    "sla",
    "runbook_url",
    "threshold",
    "good",
    "total",
];
const MAX_NAME_LEN: usize = 128;

/// Any TOML (or JSON) value.
#[derive(Debug)]
enum Loose {
    Str(String),
    Int(i128),
    Float(f64),
    Bool,
    Table(Vec<(String, Loose)>),
    Array,
}

impl Loose {
    fn kind(&self) -> &'static str {
        match self {
            Self::Str(_) => "a string",
            Self::Int(_) => "an integer",
            Self::Float(_) => "a float",
            Self::Bool => "a boolean",
            Self::Table(_) => "a table",
            Self::Array => "an array",
        }
    }
}

struct LooseVisitor;

impl<'de> Visitor<'de> for LooseVisitor {
    type Value = Loose;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Loose, E> {
        Ok(Loose::Bool)
    }
    fn visit_i64<E>(self, v: i64) -> Result<Loose, E> {
        Ok(Loose::Int(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Loose, E> {
        Ok(Loose::Int(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Loose, E> {
        Ok(Loose::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Loose, E> {
        Ok(Loose::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Loose, E> {
        Ok(Loose::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Loose, A::Error> {
        while seq.next_element::<de::IgnoredAny>()?.is_some() {}
        Ok(Loose::Array)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Loose, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            entries.push((key, map.next_value::<Loose>()?));
        }
        Ok(Loose::Table(entries))
    }
}

impl<'de> Deserialize<'de> for Loose {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(LooseVisitor)
    }
}

pub(super) fn definition<'de, D: Deserializer<'de>>(d: D) -> Result<SloDefinition, D::Error> {
    match Loose::deserialize(d)? {
        Loose::Table(entries) => from_table(entries).map_err(de::Error::custom),
        other => Err(de::Error::custom(format!(
            "an [[slo]] entry must be a table, got {}",
            other.kind()
        ))),
    }
}

/// The entry's keys, taken out one by one; whatever is left is unknown.
struct Entry {
    label: String,
    keys: Vec<(String, Loose)>,
}

impl Entry {
    fn err(&self, message: impl Into<String>) -> SloError {
        SloError::InvalidDefinition {
            slo: self.label.clone(),
            message: message.into(),
        }
    }

    fn take(&mut self, key: &str) -> Option<Loose> {
        let at = self.keys.iter().position(|(k, _)| k == key)?;
        Some(self.keys.remove(at).1)
    }

    fn string(&mut self, key: &str) -> Result<Option<String>, SloError> {
        match self.take(key) {
            None => Ok(None),
            Some(Loose::Str(s)) if s.trim().is_empty() => {
                Err(self.err(format!("{key} must not be empty")))
            }
            Some(Loose::Str(s)) => Ok(Some(s)),
            Some(other) => Err(self.err(format!("{key} must be a string, got {}", other.kind()))),
        }
    }

    fn required_string(&mut self, key: &str) -> Result<String, SloError> {
        self.string(key)?
            .ok_or_else(|| self.err(format!("{key} is required")))
    }

    fn ratio(&mut self, key: &str) -> Result<Option<Objective>, SloError> {
        let value = match self.take(key) {
            None => return Ok(None),
            Some(Loose::Float(f)) => f,
            Some(Loose::Int(i)) => i as f64,
            Some(other) => {
                return Err(self.err(format!("{key} must be a number, got {}", other.kind())));
            }
        };
        Objective::new(value).map(Some).map_err(|_| {
            self.err(format!(
                "{key} must be between 0 and 1, exclusive (0.999 for 99.9%), got {value}"
            ))
        })
    }

    /// A duration string (`"300ms"`) or integer seconds, as `units::Duration`.
    fn duration_text(&mut self, key: &str) -> Result<Option<String>, SloError> {
        match self.take(key) {
            None => Ok(None),
            Some(Loose::Str(s)) => Ok(Some(s)),
            Some(Loose::Int(i)) if i >= 0 => Ok(Some(i.to_string())),
            Some(other) => Err(self.err(format!(
                "{key} must be a duration such as \"300ms\", got {}",
                other.kind()
            ))),
        }
    }

    fn selector(&mut self, key: &str) -> Result<Option<MetricSelector>, SloError> {
        let entries = match self.take(key) {
            None => return Ok(None),
            Some(Loose::Table(entries)) => entries,
            Some(other) => {
                return Err(self.err(format!(
                    "{key} must be a table such as {{ metric = \"http.server.requests\" }}, got {}",
                    other.kind()
                )));
            }
        };
        let mut metric = None;
        let mut attributes = BTreeMap::new();
        for (k, v) in entries {
            match (k.as_str(), v) {
                ("metric", Loose::Str(s)) if !s.trim().is_empty() => metric = Some(s),
                ("metric", Loose::Str(_)) => {
                    return Err(self.err(format!("{key}.metric must not be empty")));
                }
                ("attributes", Loose::Table(attrs)) => {
                    for (name, value) in attrs {
                        let Loose::Str(value) = value else {
                            return Err(self.err(format!(
                                "{key}.attributes.{name} must be a string, got {}",
                                value.kind()
                            )));
                        };
                        attributes.insert(name, value);
                    }
                }
                ("metric" | "attributes", v) => {
                    let want = if k == "metric" { "a string" } else { "a table" };
                    return Err(self.err(format!("{key}.{k} must be {want}, got {}", v.kind())));
                }
                (other, _) => {
                    return Err(self.err(format!(
                        "{key}: unknown key {other:?} (known keys: metric, attributes)"
                    )));
                }
            }
        }
        let metric = metric.ok_or_else(|| self.err(format!("{key}.metric is required")))?;
        Ok(Some(MetricSelector { metric, attributes }))
    }
}

fn from_table(keys: Vec<(String, Loose)>) -> Result<SloDefinition, SloError> {
    let label = match keys.iter().find(|(k, _)| k == "name") {
        Some((_, Loose::Str(name))) if !name.is_empty() => format!("{name:?}"),
        _ => "(unnamed)".to_owned(),
    };
    let mut e = Entry { label, keys };
    let name = e.required_string("name")?;
    let name_ok = name.len() <= MAX_NAME_LEN
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !name_ok {
        return Err(e.err(format!(
            "name may only hold letters, digits, '-', '_' and '.', at most {MAX_NAME_LEN} of them"
        )));
    }
    if let Some((unknown, _)) = e.keys.iter().find(|(k, _)| !KEYS.contains(&k.as_str())) {
        return Err(e.err(format!(
            "unknown key {unknown:?} (known keys: {})",
            KEYS.join(", ")
        )));
    }
    let service = e.required_string("service")?;
    let operation = e.string("operation")?;
    let sli = e.required_string("sli")?;
    let objective = e
        .ratio("objective")?
        .ok_or_else(|| e.err("objective is required"))?;
    let window_text = e
        .duration_text("window")?
        .ok_or_else(|| e.err("window is required"))?;
    let window: SloWindow = window_text.parse().map_err(|err| match err {
        SloError::InvalidWindow { reason, .. } => {
            e.err(format!("window {window_text:?}: {reason}"))
        }
        other => e.err(other.to_string()),
    })?;
    let sla = e.ratio("sla")?;
    let runbook_url = e.string("runbook_url")?;
    let threshold = e.duration_text("threshold")?;
    let good = e.selector("good")?;
    let total = e.selector("total")?;

    let kind = match sli.as_str() {
        "availability" => SliKind::Availability,
        "latency" => SliKind::Latency,
        "ratio" => SliKind::Ratio,
        other => {
            return Err(e.err(format!(
                "sli {other:?} is not \"availability\", \"latency\" or \"ratio\""
            )));
        }
    };
    let only_for = |key: &str, sli: &str| e.err(format!("{key} only applies when sli = \"{sli}\""));
    if kind != SliKind::Latency && threshold.is_some() {
        return Err(only_for("threshold", "latency"));
    }
    if kind != SliKind::Ratio && good.is_some() {
        return Err(only_for("good", "ratio"));
    }
    if kind != SliKind::Ratio && total.is_some() {
        return Err(only_for("total", "ratio"));
    }
    let sli = match kind {
        SliKind::Availability => SliSpec::Availability,
        SliKind::Latency => {
            let text =
                threshold.ok_or_else(|| e.err("threshold is required when sli = \"latency\""))?;
            let threshold: Duration = text
                .parse()
                .map_err(|err| e.err(format!("threshold: {err}")))?;
            if threshold.get().is_zero() {
                return Err(e.err("threshold must be longer than 0s"));
            }
            SliSpec::Latency { threshold }
        }
        SliKind::Ratio => {
            if operation.is_some() {
                return Err(e.err(
                    "operation only applies to span-based SLIs (sli = \"availability\" or \"latency\")",
                ));
            }
            let good = good.ok_or_else(|| e.err("good is required when sli = \"ratio\""))?;
            let total = total.ok_or_else(|| e.err("total is required when sli = \"ratio\""))?;
            SliSpec::Ratio { good, total }
        }
    };
    if let Some(sla) = sla
        && sla.get() > objective.get()
    {
        return Err(e.err(format!(
            "sla {} is stricter than objective {}: the SLO must warn before the SLA is breached",
            sla.get(),
            objective.get()
        )));
    }
    if let Some(url) = &runbook_url
        && !(url.starts_with("https://") || url.starts_with("http://"))
    {
        return Err(e.err(format!("runbook_url {url:?} is not an http(s) URL")));
    }
    Ok(SloDefinition {
        name,
        service,
        operation,
        sli,
        objective,
        window,
        sla,
        runbook_url,
    })
}

/// Writes the entry back in the shape it is read from.
pub(super) fn serialize<S: Serializer>(slo: &SloDefinition, s: S) -> Result<S::Ok, S::Error> {
    let mut map = s.serialize_map(None)?;
    map.serialize_entry("name", &slo.name)?;
    map.serialize_entry("service", &slo.service)?;
    if let Some(operation) = &slo.operation {
        map.serialize_entry("operation", operation)?;
    }
    map.serialize_entry("sli", slo.sli_kind().as_str())?;
    match &slo.sli {
        SliSpec::Availability => {}
        SliSpec::Latency { threshold } => map.serialize_entry("threshold", threshold)?,
        SliSpec::Ratio { good, total } => {
            map.serialize_entry("good", good)?;
            map.serialize_entry("total", total)?;
        }
    }
    map.serialize_entry("objective", &slo.objective)?;
    map.serialize_entry("window", &slo.window)?;
    if let Some(sla) = &slo.sla {
        map.serialize_entry("sla", sla)?;
    }
    if let Some(url) = &slo.runbook_url {
        map.serialize_entry("runbook_url", url)?;
    }
    map.end()
}
