//! Event-time minutes: the granularity of SLI rollups, of SLO windows and of
//! burn-rate windows.
//!
//! Time is always passed in as nanoseconds since the Unix epoch (`i64`, UTC),
//! never read from a clock. A span belongs to the minute of its end time.

use std::fmt;
use std::ops::Range;

use sluice_model::time::PartitionHour;

/// Nanoseconds in a minute.
pub const NANOS_PER_MINUTE: i64 = 60 * 1_000_000_000;

/// One UTC minute, `[start, start + 60 s)`, counted from the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Minute(i64);

impl Minute {
    /// The minute that contains `nanos` (floor, also before 1970).
    pub fn of_nanos(nanos: i64) -> Self {
        Self(nanos.div_euclid(NANOS_PER_MINUTE))
    }

    /// The minute `index` minutes after 1970-01-01T00:00Z.
    pub const fn from_index(index: i64) -> Self {
        Self(index)
    }

    pub const fn index(self) -> i64 {
        self.0
    }

    /// The first nanosecond of the minute (saturating far outside the range of
    /// `i64` nanoseconds).
    pub fn start_nanos(self) -> i64 {
        self.0.saturating_mul(NANOS_PER_MINUTE)
    }

    /// The first nanosecond after the minute.
    pub fn end_nanos(self) -> i64 {
        self.0.saturating_add(1).saturating_mul(NANOS_PER_MINUTE)
    }

    /// `n` minutes later (earlier for negative `n`).
    pub fn plus(self, n: i64) -> Self {
        Self(self.0.saturating_add(n))
    }
}

impl fmt::Display for Minute {
    /// `2024-02-29T23:59Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hour = PartitionHour::of_nanos(self.start_nanos());
        let (y, m, d, h) = hour.civil();
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{h:02}:{:02}Z",
            self.0.rem_euclid(60)
        )
    }
}

/// Consecutive minutes `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MinuteRange {
    pub start: Minute,
    pub end: Minute,
}

impl MinuteRange {
    /// The `n` most recent minutes up to and including the one holding
    /// `now_nanos`. The current minute is partial, so the range covers between
    /// `n - 1` and `n` minutes of time.
    pub fn last_n(now_nanos: i64, n: i64) -> Self {
        let end = Minute::of_nanos(now_nanos).plus(1);
        Self {
            start: end.plus(-n.max(0)),
            end,
        }
    }

    pub fn contains(&self, minute: Minute) -> bool {
        self.start <= minute && minute < self.end
    }

    /// How many minutes the range holds.
    pub fn len(&self) -> i64 {
        (self.end.0 - self.start.0).max(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The nanoseconds the range covers, for pruning files by time.
    pub fn nanos(&self) -> Range<i64> {
        self.start.start_nanos()..self.end.start_nanos()
    }
}

/// The calendar month (UTC) holding `now_nanos`, as nanoseconds
/// `[first instant, first instant of the next month)`. Past the end of `i64`
/// time (April 2262) the end saturates.
pub fn calendar_month_nanos(now_nanos: i64) -> Range<i64> {
    let (year, month, _, _) = PartitionHour::of_nanos(now_nanos).civil();
    let (next_year, next_month) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    let start =
        PartitionHour::from_civil(year, month, 1, 0).map_or(i64::MIN, PartitionHour::start_nanos);
    let end = PartitionHour::from_civil(next_year, next_month, 1, 0)
        .map_or(i64::MAX, PartitionHour::start_nanos);
    start..end
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2024-02-29T23:59:30Z.
    const LEAP_NIGHT: i64 = 1_709_251_170_000_000_000;

    #[test]
    fn minutes_floor_event_times() {
        let m = Minute::of_nanos(LEAP_NIGHT);
        assert_eq!(m.to_string(), "2024-02-29T23:59Z");
        assert_eq!(m.start_nanos(), LEAP_NIGHT - 30_000_000_000);
        assert_eq!(m.end_nanos(), m.plus(1).start_nanos());
        assert_eq!(
            Minute::of_nanos(m.end_nanos()).to_string(),
            "2024-03-01T00:00Z"
        );
        assert_eq!(Minute::of_nanos(-1).index(), -1);
        assert_eq!(Minute::of_nanos(-1).to_string(), "1969-12-31T23:59Z");
    }

    #[test]
    fn last_n_minutes_end_with_the_current_one() {
        let r = MinuteRange::last_n(LEAP_NIGHT, 5);
        assert_eq!(r.len(), 5);
        assert!(r.contains(Minute::of_nanos(LEAP_NIGHT)));
        assert!(r.contains(Minute::of_nanos(LEAP_NIGHT).plus(-4)));
        assert!(!r.contains(Minute::of_nanos(LEAP_NIGHT).plus(-5)));
        assert!(!r.contains(Minute::of_nanos(LEAP_NIGHT).plus(1)));
        assert_eq!(r.nanos().end, Minute::of_nanos(LEAP_NIGHT).end_nanos());
        assert!(MinuteRange::last_n(LEAP_NIGHT, 0).is_empty());
    }

    #[test]
    fn calendar_months() {
        let feb = calendar_month_nanos(LEAP_NIGHT);
        assert_eq!(Minute::of_nanos(feb.start).to_string(), "2024-02-01T00:00Z");
        assert_eq!(Minute::of_nanos(feb.end).to_string(), "2024-03-01T00:00Z");
        assert_eq!((feb.end - feb.start) / NANOS_PER_MINUTE, 29 * 1440);
        // 2023-12-31T12:00Z: December, ending at the new year.
        let dec = calendar_month_nanos(1_704_024_000_000_000_000);
        assert_eq!(Minute::of_nanos(dec.end).to_string(), "2024-01-01T00:00Z");
        assert_eq!((dec.end - dec.start) / NANOS_PER_MINUTE, 31 * 1440);
        assert_eq!(calendar_month_nanos(i64::MAX).end, i64::MAX);
    }
}
