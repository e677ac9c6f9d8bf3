//! Precision, recall, F1, detection delay and false alarms of a detector over
//! labelled series (the rules are in the parent module's docs).

use super::Incident;

/// How far from an incident an opened anomaly still counts as its detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tolerance {
    /// Steps before the incident's start.
    pub early: usize,
    /// Steps after the incident's end.
    pub late: usize,
}

/// Counts over one or more series.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ScenarioScore {
    pub series: usize,
    pub series_days: f64,
    pub incidents: usize,
    pub detected: usize,
    /// Anomalies opened, matched or not.
    pub opened: usize,
    /// Opened anomalies that overlap no incident window.
    pub false_alarms: usize,
    /// Detection delay of each detected incident, in steps.
    pub delays: Vec<usize>,
}

impl ScenarioScore {
    /// Adds one series: its incidents, the steps at which anomalies opened
    /// (ascending), and its length in days.
    pub fn add_series(
        &mut self,
        incidents: &[Incident],
        opened: &[usize],
        days: f64,
        tolerance: Tolerance,
    ) {
        self.series += 1;
        self.series_days += days;
        self.incidents += incidents.len();
        self.opened += opened.len();
        let window = |x: &Incident| {
            x.start.saturating_sub(tolerance.early)..=x.end.saturating_add(tolerance.late)
        };
        for incident in incidents {
            let range = window(incident);
            if let Some(&first) = opened.iter().find(|&&o| range.contains(&o)) {
                self.detected += 1;
                self.delays.push(first.saturating_sub(incident.start));
            }
        }
        self.false_alarms += opened
            .iter()
            .filter(|&&o| !incidents.iter().any(|x| window(x).contains(&o)))
            .count();
    }

    /// Adds another score's counts to this one.
    pub fn merge(&mut self, other: &ScenarioScore) {
        self.series += other.series;
        self.series_days += other.series_days;
        self.incidents += other.incidents;
        self.detected += other.detected;
        self.opened += other.opened;
        self.false_alarms += other.false_alarms;
        self.delays.extend_from_slice(&other.delays);
    }

    /// Detected incidents over opened anomalies; `None` when nothing opened.
    pub fn precision(&self) -> Option<f64> {
        (self.opened > 0).then(|| self.detected as f64 / self.opened as f64)
    }

    /// Detected over all incidents; `None` without incidents.
    pub fn recall(&self) -> Option<f64> {
        (self.incidents > 0).then(|| self.detected as f64 / self.incidents as f64)
    }

    /// The harmonic mean of precision and recall; `None` without incidents,
    /// 0 when incidents exist and nothing was detected.
    pub fn f1(&self) -> Option<f64> {
        let recall = self.recall()?;
        let precision = self.precision().unwrap_or(0.0);
        Some(if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        })
    }

    /// The median detection delay in steps; `None` when nothing was detected.
    pub fn median_delay(&self) -> Option<f64> {
        let mut delays = self.delays.clone();
        delays.sort_unstable();
        let n = delays.len();
        match n {
            0 => None,
            _ if n % 2 == 1 => Some(delays[n / 2] as f64),
            _ => Some((delays[n / 2 - 1] + delays[n / 2]) as f64 / 2.0),
        }
    }

    /// False alarms per series per day of event time.
    pub fn false_alarms_per_series_day(&self) -> f64 {
        if self.series_days > 0.0 {
            self.false_alarms as f64 / self.series_days
        } else {
            0.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXACT: Tolerance = Tolerance { early: 0, late: 3 };

    #[test]
    fn counts_detections_duplicates_and_false_alarms() {
        let incidents = [
            Incident {
                start: 100,
                end: 120,
            },
            Incident {
                start: 500,
                end: 520,
            },
            Incident {
                start: 900,
                end: 910,
            },
        ];
        // 102 detects the first, 110 is a duplicate inside it, 300 is a false
        // alarm, 512 detects the second, 912 (within `late`) the third.
        let mut score = ScenarioScore::default();
        score.add_series(&incidents, &[102, 110, 300, 512, 912], 1.0, EXACT);
        assert_eq!(score.detected, 3);
        assert_eq!(score.opened, 5);
        assert_eq!(score.false_alarms, 1);
        assert_eq!(score.delays, vec![2, 12, 12]);
        assert_eq!(score.precision(), Some(0.6));
        assert_eq!(score.recall(), Some(1.0));
        assert!((score.f1().expect("incidents") - 0.75).abs() < 1e-12);
        assert_eq!(score.median_delay(), Some(12.0));
        assert_eq!(score.false_alarms_per_series_day(), 1.0);
    }

    #[test]
    fn early_warnings_count_with_early_tolerance() {
        let incidents = [Incident {
            start: 1000,
            end: 2000,
        }];
        let mut strict = ScenarioScore::default();
        strict.add_series(&incidents, &[950], 1.0, EXACT);
        assert_eq!((strict.detected, strict.false_alarms), (0, 1));
        let mut lenient = ScenarioScore::default();
        lenient.add_series(&incidents, &[950], 1.0, Tolerance { early: 60, late: 3 });
        assert_eq!((lenient.detected, lenient.false_alarms), (1, 0));
        assert_eq!(lenient.delays, vec![0]);
    }

    #[test]
    fn no_incidents_means_no_f1() {
        let mut score = ScenarioScore::default();
        score.add_series(&[], &[], 2.0, EXACT);
        assert_eq!(
            (score.precision(), score.recall(), score.f1()),
            (None, None, None)
        );
        assert_eq!(score.median_delay(), None);
        assert_eq!(score.false_alarms_per_series_day(), 0.0);
    }
}
