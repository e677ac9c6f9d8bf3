//! Scenario phases: time windows of a run during which some services behave
//! differently, for SLO and anomaly drills.
//!
//! # Syntax
//!
//! ```text
//! START..[END] [service=NAME] [error_ratio=F] [latency=DIST] [rate=MULT]
//! ```
//!
//! - `START` and `END` are offsets from the start of the run (`90s`, `3m`,
//!   `1h`); without `END` the phase lasts until the run ends. The window is
//!   half-open: `3m..5m` covers 3:00 up to, not including, 5:00.
//! - `service=NAME` limits the phase to one service; without it, the phase
//!   applies to every service.
//! - `error_ratio=F` (0..1) replaces `--error-ratio`; `latency=DIST` replaces
//!   `--latency` (same syntax, e.g. `lognormal:800ms,0.3`); `rate=MULT`
//!   multiplies the service's traffic (`0.2` = a fifth, `0` = the service goes
//!   silent, `3` = a burst). With a fixed `--rate` the total rate changes with
//!   it: each of `n` services has `rate / n` records/s, times its multiplier.
//!
//! At least one of `error_ratio`, `latency` and `rate` must be given. When
//! phases overlap, each setting comes from the last phase (in command-line
//! order) that sets it.
//!
//! Example: `--phase "3m..5m service=checkout error_ratio=0.05"` makes 5% of
//! checkout's requests fail from minute 3 to minute 5.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::error::LoadgenError;
use crate::latency::LatencyDistribution;

/// One phase; see the module docs for the syntax.
#[derive(Debug, Clone, PartialEq)]
pub struct Phase {
    pub start: Duration,
    /// `None`: until the end of the run.
    pub end: Option<Duration>,
    /// `None`: every service.
    pub service: Option<String>,
    pub error_ratio: Option<f64>,
    pub latency: Option<LatencyDistribution>,
    pub rate: Option<f64>,
}

impl Phase {
    /// Whether `elapsed` (since the start of the run) is inside the window.
    pub fn is_active(&self, elapsed: Duration) -> bool {
        elapsed >= self.start && self.end.is_none_or(|end| elapsed < end)
    }

    fn applies_to(&self, service: &str) -> bool {
        self.service.as_deref().is_none_or(|s| s == service)
    }

    /// The phases of a scenario file: one phase per line, blank lines and
    /// lines starting with `#` ignored.
    pub fn parse_lines(text: &str) -> Result<Vec<Phase>, LoadgenError> {
        text.lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .map(str::parse)
            .collect()
    }
}

fn offset(input: &str, whole: &str) -> Result<Duration, LoadgenError> {
    input
        .trim()
        .parse::<sluice_model::units::Duration>()
        .map(Duration::from)
        .map_err(|e| LoadgenError::invalid("phase", whole, e.to_string()))
}

impl FromStr for Phase {
    type Err = LoadgenError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let invalid = |reason: String| LoadgenError::invalid("phase", input, reason);
        let mut tokens = input.split_whitespace();
        let window = tokens
            .next()
            .ok_or_else(|| invalid("expected START..END followed by settings".into()))?;
        let (start, end) = window
            .split_once("..")
            .ok_or_else(|| invalid(format!("expected a window START..END, got {window:?}")))?;
        let start = offset(start, input)?;
        let end = if end.is_empty() {
            None
        } else {
            Some(offset(end, input)?)
        };
        if end.is_some_and(|end| end <= start) {
            return Err(invalid("the window ends before it starts".into()));
        }
        let mut phase = Phase {
            start,
            end,
            service: None,
            error_ratio: None,
            latency: None,
            rate: None,
        };
        for token in tokens {
            let (key, value) = token
                .split_once('=')
                .ok_or_else(|| invalid(format!("expected key=value, got {token:?}")))?;
            let number = || {
                value
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite() && *v >= 0.0)
                    .ok_or_else(|| invalid(format!("{key} must be a non-negative number")))
            };
            match key {
                "service" if !value.is_empty() => phase.service = Some(value.to_owned()),
                "error_ratio" | "error-ratio" => {
                    let ratio = number()?;
                    if ratio > 1.0 {
                        return Err(invalid("error_ratio must be between 0 and 1".into()));
                    }
                    phase.error_ratio = Some(ratio);
                }
                "latency" => {
                    let latency = value
                        .parse::<LatencyDistribution>()
                        .map_err(|e| invalid(e.to_string()))?;
                    phase.latency = Some(latency);
                }
                "rate" => phase.rate = Some(number()?),
                _ => {
                    return Err(invalid(format!(
                        "unknown setting {token:?}, expected service=, error_ratio=, latency= or rate="
                    )));
                }
            }
        }
        if phase.error_ratio.is_none() && phase.latency.is_none() && phase.rate.is_none() {
            return Err(invalid(
                "a phase must set at least one of error_ratio, latency and rate".into(),
            ));
        }
        Ok(phase)
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let units = |d: Duration| {
            sluice_model::units::Duration::from_millis(
                u64::try_from(d.as_millis()).unwrap_or(u64::MAX),
            )
        };
        write!(f, "{}..", units(self.start))?;
        if let Some(end) = self.end {
            write!(f, "{}", units(end))?;
        }
        if let Some(service) = &self.service {
            write!(f, " service={service}")?;
        }
        if let Some(ratio) = self.error_ratio {
            write!(f, " error_ratio={ratio}")?;
        }
        if let Some(latency) = &self.latency {
            write!(f, " latency={latency}")?;
        }
        if let Some(rate) = self.rate {
            write!(f, " rate={rate}")?;
        }
        Ok(())
    }
}

/// How one service behaves at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ServiceSettings {
    pub error_ratio: f64,
    pub latency: LatencyDistribution,
    /// The service's share of the traffic, relative to the others' (1 = even).
    pub rate_multiplier: f64,
}

/// The base settings of a run and its phases.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    base: ServiceSettings,
    phases: Vec<Phase>,
}

impl Scenario {
    pub fn new(error_ratio: f64, latency: LatencyDistribution, phases: Vec<Phase>) -> Self {
        Self {
            base: ServiceSettings {
                error_ratio,
                latency,
                rate_multiplier: 1.0,
            },
            phases,
        }
    }

    pub fn phases(&self) -> &[Phase] {
        &self.phases
    }

    /// The settings of `service` at `elapsed` since the start of the run.
    pub fn settings(&self, service: &str, elapsed: Duration) -> ServiceSettings {
        let mut settings = self.base;
        for phase in &self.phases {
            if !phase.is_active(elapsed) || !phase.applies_to(service) {
                continue;
            }
            if let Some(ratio) = phase.error_ratio {
                settings.error_ratio = ratio;
            }
            if let Some(latency) = phase.latency {
                settings.latency = latency;
            }
            if let Some(rate) = phase.rate {
                settings.rate_multiplier = rate;
            }
        }
        settings
    }

    /// The factor the target rate is multiplied by at `elapsed`: the mean of
    /// the services' rate multipliers (1 without rate phases).
    pub fn rate_factor(&self, services: &[String], elapsed: Duration) -> f64 {
        if services.is_empty() || !self.phases.iter().any(|p| p.rate.is_some()) {
            return 1.0;
        }
        let sum: f64 = services
            .iter()
            .map(|s| self.settings(s, elapsed).rate_multiplier)
            .sum();
        sum / services.len() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn parses_the_documented_forms() {
        let phase: Phase = "3m..5m service=checkout error_ratio=0.05"
            .parse()
            .expect("valid");
        assert_eq!(phase.start, secs(180));
        assert_eq!(phase.end, Some(secs(300)));
        assert_eq!(phase.service.as_deref(), Some("checkout"));
        assert_eq!(phase.error_ratio, Some(0.05));
        assert_eq!(
            phase.to_string(),
            "3m..5m service=checkout error_ratio=0.05"
        );

        let phase: Phase = "10m..12m service=checkout latency=lognormal:800ms,0.3"
            .parse()
            .expect("valid");
        assert_eq!(phase.latency, "lognormal:800ms,0.3".parse().ok());

        let phase: Phase = "90s.. rate=0.2".parse().expect("valid");
        assert_eq!((phase.start, phase.end), (secs(90), None));
        assert_eq!((phase.service.as_deref(), phase.rate), (None, Some(0.2)));
        assert_eq!(phase.to_string(), "90s.. rate=0.2");
    }

    #[test]
    fn rejects_what_it_cannot_mean() {
        let bad = [
            "",
            "3m",
            "5m..3m error_ratio=0.1",
            "3m..3m error_ratio=0.1",
            "x..5m error_ratio=0.1",
            "3m..5m",
            "3m..5m service=checkout",
            "3m..5m error_ratio=1.5",
            "3m..5m error_ratio=-0.1",
            "3m..5m rate=fast",
            "3m..5m latency=slow",
            "3m..5m colour=red",
            "3m..5m error_ratio",
        ];
        for input in bad {
            let err = input.parse::<Phase>().err();
            assert!(
                matches!(
                    err,
                    Some(LoadgenError::InvalidOption {
                        option: "phase",
                        ..
                    })
                ),
                "{input:?}: {err:?}"
            );
        }
    }

    #[test]
    fn phases_override_their_service_inside_their_window_only() {
        let phases = Phase::parse_lines(
            "# checkout has a bad two minutes\n\
             3m..5m service=checkout error_ratio=0.05\n\
             \n\
             4m..6m latency=fixed:1s rate=0.5\n",
        )
        .expect("valid");
        let scenario = Scenario::new(0.01, LatencyDistribution::default(), phases);
        let base = scenario.settings("checkout", secs(0));
        assert_eq!(base.error_ratio, 0.01);
        assert_eq!(base.rate_multiplier, 1.0);
        assert_eq!(scenario.settings("checkout", secs(180)).error_ratio, 0.05);
        assert_eq!(scenario.settings("checkout", secs(299)).error_ratio, 0.05);
        assert_eq!(scenario.settings("checkout", secs(300)).error_ratio, 0.01);
        assert_eq!(scenario.settings("cart", secs(200)).error_ratio, 0.01);
        let both = scenario.settings("checkout", secs(250));
        assert_eq!(both.error_ratio, 0.05);
        assert_eq!(both.latency, "fixed:1s".parse().expect("valid"));
        assert_eq!(both.rate_multiplier, 0.5);
        let services = ["checkout".to_owned(), "cart".to_owned()];
        assert_eq!(scenario.rate_factor(&services, secs(0)), 1.0);
        assert_eq!(scenario.rate_factor(&services, secs(250)), 0.5);
    }

    #[test]
    fn a_silent_service_halves_the_rate_of_two() {
        let phases = vec!["0s.. service=a rate=0".parse().expect("valid")];
        let scenario = Scenario::new(0.0, LatencyDistribution::default(), phases);
        let services = ["a".to_owned(), "b".to_owned()];
        assert_eq!(scenario.rate_factor(&services, secs(1)), 0.5);
    }
}
