//! The series generators: realistic noise (Poisson counts, binomial errors,
//! log-normal latency, autocorrelated jitter, single-point glitches) and
//! injected incidents with their ground truth.

use super::rng::SplitMix64;
use super::{Incident, LabelledSeries, START_NANOS, STEP_NANOS, STEPS_PER_DAY};
use crate::signal::Signal;

const STEPS_PER_HOUR: usize = STEPS_PER_DAY / 24;
/// Step seconds: counts per step are rates times this.
const STEP_SECONDS: f64 = 10.0;
/// Incidents last 2 to 10 minutes.
const INCIDENT_STEPS: (usize, usize) = (12, 61);
/// What the exhaustion ground truth calls "soon": the limit is crossed
/// within this many steps (4 hours).
pub const EXHAUSTION_HORIZON_STEPS: usize = 4 * STEPS_PER_HOUR;

/// Autocorrelated, heavy-tailed noise: an AR(1) process of standard
/// deviation about `sd` whose innovations are three times larger one time in
/// twenty.
struct Ar1 {
    phi: f64,
    innovation: f64,
    x: f64,
}

impl Ar1 {
    fn new(phi: f64, sd: f64) -> Self {
        Self {
            phi,
            innovation: sd * (1.0 - phi * phi).sqrt(),
            x: 0.0,
        }
    }

    fn next(&mut self, rng: &mut SplitMix64) -> f64 {
        let tail = if rng.chance(0.05) { 3.0 } else { 1.0 };
        self.x = self.phi * self.x + tail * self.innovation * rng.normal();
        self.x
    }
}

/// `count` incidents in `[from, to)`, one per equal segment, each 2–10
/// minutes long and ending at least half an hour before its segment does.
fn place_incidents(rng: &mut SplitMix64, from: usize, to: usize, count: usize) -> Vec<Incident> {
    let segment = (to - from) / count.max(1);
    (0..count)
        .map(|i| {
            let len = rng.range(INCIDENT_STEPS.0, INCIDENT_STEPS.1);
            let first = from + i * segment;
            let last = first + segment - len - STEPS_PER_HOUR / 2;
            let start = rng.range(first, last.max(first + 1));
            Incident {
                start,
                end: start + len,
            }
        })
        .collect()
}

/// Glitches are isolated: after one (one or two steps long), none for
/// `QUIET_STEPS`. Three glitched steps in a row would be an incident by any
/// other name.
const QUIET_STEPS: usize = 6;

/// Which glitch, if any, hits a step.
#[derive(Debug, Default)]
struct Glitches {
    quiet: usize,
    second: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Glitch {
    None,
    Short,
    Over,
}

impl Glitches {
    /// Rolls for one step: short with `p_short`, over with `p_over`, and two
    /// short steps in a row with `p_double`.
    fn roll(&mut self, rng: &mut SplitMix64, p_short: f64, p_over: f64, p_double: f64) -> Glitch {
        if std::mem::take(&mut self.second) {
            self.quiet = QUIET_STEPS;
            return Glitch::Short;
        }
        if self.quiet > 0 {
            self.quiet -= 1;
            return Glitch::None;
        }
        let u = rng.unit();
        let glitch = if u < p_short {
            Glitch::Short
        } else if u < p_short + p_over {
            Glitch::Over
        } else if u < p_short + p_over + p_double {
            self.second = true;
            Glitch::Short
        } else {
            Glitch::None
        };
        if glitch != Glitch::None && !self.second {
            self.quiet = QUIET_STEPS;
        }
        glitch
    }
}

fn inside(incidents: &[Incident], i: usize) -> Option<usize> {
    incidents.iter().position(|x| (x.start..x.end).contains(&i))
}

fn series(name: String, signal: Signal, values: Vec<f64>) -> LabelledSeries {
    LabelledSeries {
        name,
        signal,
        start_nanos: START_NANOS,
        step_nanos: STEP_NANOS,
        values,
        incidents: Vec::new(),
        exhaustion: Vec::new(),
        limit: None,
    }
}

/// Requests per second: Poisson counts around `rate × shape(i)` with 3%
/// autocorrelated burstiness, a level that wanders about 10% a day, and
/// glitches outside incidents: a step 30–70% short or 1.5–2.5× over 0.2% of
/// the time each, two short steps in a row 0.05% of the time.
fn traffic(
    rng: &mut SplitMix64,
    steps: usize,
    shape: impl Fn(usize) -> f64,
    incidents: &[Incident],
    factors: &[f64],
) -> Vec<f64> {
    let rate = rng.log_uniform(20.0, 500.0);
    let mut jitter = Ar1::new(0.6, 0.03);
    let mut wander = 0.0;
    let mut glitches = Glitches::default();
    (0..steps)
        .map(|i| {
            wander += 0.001 * rng.normal();
            let incident = inside(incidents, i).map_or(1.0, |k| factors[k]);
            let mean =
                rate * wander.exp() * shape(i) * (1.0 + jitter.next(rng)).max(0.0) * incident;
            let mut value = rng.poisson(mean * STEP_SECONDS) / STEP_SECONDS;
            if incident == 1.0 {
                match glitches.roll(rng, 0.002, 0.002, 0.0005) {
                    Glitch::Short => value *= rng.uniform(0.3, 0.7),
                    Glitch::Over => value *= rng.uniform(1.5, 2.5),
                    Glitch::None => {}
                }
            }
            value
        })
        .collect()
}

/// A day of steady noisy traffic, no incident.
pub fn steady_traffic(rng: &mut SplitMix64, name: String) -> LabelledSeries {
    let values = traffic(rng, STEPS_PER_DAY, |_| 1.0, &[], &[]);
    series(name, Signal::RequestRate, values)
}

/// A day of traffic with four drops to 30–70% of normal.
pub fn traffic_drop(rng: &mut SplitMix64, name: String, warmup: usize) -> LabelledSeries {
    let incidents = place_incidents(rng, warmup + STEPS_PER_HOUR, STEPS_PER_DAY, 4);
    let factors: Vec<f64> = incidents.iter().map(|_| rng.uniform(0.3, 0.7)).collect();
    let values = traffic(rng, STEPS_PER_DAY, |_| 1.0, &incidents, &factors);
    LabelledSeries {
        incidents,
        ..series(name, Signal::RequestRate, values)
    }
}

/// A day of p99 latency (milliseconds): log-normal around 20–400 ms with
/// 5–15% autocorrelated noise, single-point spikes of 1.5–3× (a GC pause)
/// 0.5% of the time, and four incidents where it runs 1.8–4× slower.
pub fn latency_spike(rng: &mut SplitMix64, name: String, warmup: usize) -> LabelledSeries {
    let incidents = place_incidents(rng, warmup + STEPS_PER_HOUR, STEPS_PER_DAY, 4);
    let factors: Vec<f64> = incidents.iter().map(|_| rng.uniform(1.8, 4.0)).collect();
    let base = rng.log_uniform(20.0, 400.0);
    let mut noise = Ar1::new(0.5, rng.uniform(0.05, 0.15));
    let mut glitches = Glitches::default();
    let values = (0..STEPS_PER_DAY)
        .map(|i| {
            let incident = inside(&incidents, i).map_or(1.0, |k| factors[k]);
            let mut value = base * noise.next(rng).exp() * incident;
            if incident == 1.0 && glitches.roll(rng, 0.0, 0.005, 0.0) == Glitch::Over {
                value *= rng.uniform(1.5, 3.0);
            }
            value
        })
        .collect();
    LabelledSeries {
        incidents,
        ..series(name, Signal::LatencyP99, values)
    }
}

/// A day of error ratio: binomial errors of 20–300 requests per second at a
/// base ratio of 0.1–2% (with 20% autocorrelated wobble), single-step blips
/// of +2–10 points 0.2% of the time, and four bursts of +3–20 points.
pub fn error_burst(rng: &mut SplitMix64, name: String, warmup: usize) -> LabelledSeries {
    let incidents = place_incidents(rng, warmup + STEPS_PER_HOUR, STEPS_PER_DAY, 4);
    let extra: Vec<f64> = incidents.iter().map(|_| rng.uniform(0.03, 0.2)).collect();
    let requests = rng.log_uniform(20.0, 300.0) * STEP_SECONDS;
    let ratio = rng.log_uniform(0.001, 0.02);
    let mut wobble = Ar1::new(0.5, 0.2);
    let mut glitches = Glitches::default();
    let values = (0..STEPS_PER_DAY)
        .map(|i| {
            let burst = inside(&incidents, i).map(|k| extra[k]);
            let p = ratio * wobble.next(rng).exp() + burst.unwrap_or(0.0);
            let n = rng.poisson(requests).max(1.0);
            let mut value = rng.binomial(n, p) / n;
            if burst.is_none() && glitches.roll(rng, 0.0, 0.002, 0.0) == Glitch::Over {
                value = (value + rng.uniform(0.02, 0.1)).min(1.0);
            }
            value
        })
        .collect();
    LabelledSeries {
        incidents,
        ..series(name, Signal::ErrorRatio, values)
    }
}

/// A day of a utilization gauge (0 to 1): flat at 0.2–0.4 for 2–6 hours,
/// then a linear climb. When `crossing`, the climb reaches 1.0 14–20 hours in
/// and the gauge saturates there (ground truth: exhaustion within 4 hours from
/// 4 hours before the crossing); otherwise it levels off at 0.5–0.7 after
/// 12–18 hours. Noise 0.5–2%, spikes of +5–15 points 0.3% of the time.
pub fn slow_drift(rng: &mut SplitMix64, name: String, crossing: bool) -> LabelledSeries {
    let base = rng.uniform(0.2, 0.4);
    let sd = rng.uniform(0.005, 0.02);
    let ramp_start = rng.range(2 * STEPS_PER_HOUR, 6 * STEPS_PER_HOUR);
    let (ramp_end, top) = if crossing {
        (rng.range(14 * STEPS_PER_HOUR, 20 * STEPS_PER_HOUR), 1.0)
    } else {
        (
            rng.range(12 * STEPS_PER_HOUR, 18 * STEPS_PER_HOUR),
            rng.uniform(0.5, 0.7),
        )
    };
    let slope = (top - base) / (ramp_end - ramp_start) as f64;
    let mut noise = Ar1::new(0.3, sd);
    let mut glitches = Glitches::default();
    let values = (0..STEPS_PER_DAY)
        .map(|i| {
            let level = base + slope * (i.clamp(ramp_start, ramp_end) - ramp_start) as f64;
            let mut value = level + noise.next(rng);
            if glitches.roll(rng, 0.0, 0.003, 0.0) == Glitch::Over {
                value += rng.uniform(0.05, 0.15);
            }
            value.clamp(0.0, 1.0)
        })
        .collect();
    let exhaustion = if crossing {
        vec![Incident {
            start: ramp_end.saturating_sub(EXHAUSTION_HORIZON_STEPS),
            end: STEPS_PER_DAY,
        }]
    } else {
        Vec::new()
    };
    LabelledSeries {
        exhaustion,
        limit: Some(1.0),
        ..series(name, Signal::Metric, values)
    }
}

/// `days` of traffic with a daily cycle: a peak at 12:00–18:00 UTC of 30–60%
/// above the mean (with a second harmonic, so the peak is sharper than the
/// trough), the whole day 5% busier or quieter than the one before (changing
/// smoothly), and with `incidents`, three drops to 30–70% after the second day.
pub fn daily_seasonality(
    rng: &mut SplitMix64,
    name: String,
    days: usize,
    incidents: bool,
) -> LabelledSeries {
    let amplitude = rng.uniform(0.3, 0.6);
    let peak_hour = rng.uniform(12.0, 18.0);
    let day_factors: Vec<f64> = (0..=days).map(|_| 1.0 + 0.05 * rng.normal()).collect();
    let steps = days * STEPS_PER_DAY;
    let truth = if incidents {
        place_incidents(rng, 2 * STEPS_PER_DAY + 2 * STEPS_PER_HOUR, steps, 3)
    } else {
        Vec::new()
    };
    let factors: Vec<f64> = truth.iter().map(|_| rng.uniform(0.3, 0.7)).collect();
    let shape = |i: usize| {
        let hours = i as f64 / STEPS_PER_HOUR as f64;
        let angle = std::f64::consts::TAU * (hours - peak_hour) / 24.0;
        let cycle = (angle.cos() + 0.3 * (2.0 * angle).cos()) / 1.3;
        let day = i / STEPS_PER_DAY;
        let within = (i % STEPS_PER_DAY) as f64 / STEPS_PER_DAY as f64;
        let trend = day_factors[day] + (day_factors[day + 1] - day_factors[day]) * within;
        (1.0 + amplitude * cycle) * trend
    };
    let values = traffic(rng, steps, shape, &truth, &factors);
    LabelledSeries {
        incidents: truth,
        ..series(name, Signal::RequestRate, values)
    }
}
