//! Event time: OTLP's `u64` nanoseconds since the Unix epoch, and the hourly
//! partition (`date=YYYY-MM-DD/hour=HH`) a record belongs to.

use std::fmt;

const NANOS_PER_HOUR: i64 = 3_600 * 1_000_000_000;

/// Converts OTLP nanoseconds to the `i64` of an Arrow nanosecond timestamp.
/// Values past the year 2262 do not fit; [`crate::validate`] refuses them, and
/// this saturates rather than wraps should one slip through.
pub fn to_arrow_nanos(nanos: u64) -> i64 {
    i64::try_from(nanos).unwrap_or(i64::MAX)
}

/// The hour of event time a record is stored under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartitionHour {
    /// Start of the hour, nanoseconds since the Unix epoch.
    start_nanos: i64,
}

impl PartitionHour {
    pub fn of_nanos(nanos: i64) -> Self {
        Self {
            start_nanos: nanos.div_euclid(NANOS_PER_HOUR) * NANOS_PER_HOUR,
        }
    }

    /// The hour starting at `hour`:00 UTC on `year-month-day`, if it is a date.
    pub fn from_civil(year: i64, month: u32, day: u32, hour: u32) -> Option<Self> {
        if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 {
            return None;
        }
        let days = days_from_civil(year, month, day);
        if civil_from_days(days) != (year, month, day) {
            return None;
        }
        let start = days
            .checked_mul(24)?
            .checked_add(i64::from(hour))?
            .checked_mul(NANOS_PER_HOUR)?;
        Some(Self { start_nanos: start })
    }

    /// Parses the `date=YYYY-MM-DD` and `hour=HH` path segments.
    pub fn from_path_segments(date: &str, hour: &str) -> Option<Self> {
        let date = date.strip_prefix("date=")?;
        let hour = hour.strip_prefix("hour=")?.parse().ok()?;
        let mut parts = date.splitn(3, '-');
        let y = parts.next()?.parse().ok()?;
        let m = parts.next()?.parse().ok()?;
        let d = parts.next()?.parse().ok()?;
        Self::from_civil(y, m, d, hour)
    }

    pub fn start_nanos(self) -> i64 {
        self.start_nanos
    }

    /// `(year, month, day, hour)` in UTC.
    pub fn civil(self) -> (i64, u32, u32, u32) {
        let hours = self.start_nanos.div_euclid(NANOS_PER_HOUR);
        let days = hours.div_euclid(24);
        let hour = u32::try_from(hours.rem_euclid(24)).expect("0..24 fits");
        let (y, m, d) = civil_from_days(days);
        (y, m, d, hour)
    }

    /// The Hive-style path `date=YYYY-MM-DD/hour=HH`.
    pub fn path(self) -> String {
        self.to_string()
    }
}

impl fmt::Display for PartitionHour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d, h) = self.civil();
        write!(f, "date={y:04}-{m:02}-{d:02}/hour={h:02}")
    }
}

/// A proleptic Gregorian date to days since 1970-01-01 (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        u32::try_from(m).expect("month is 1..=12"),
        u32::try_from(d).expect("day is 1..=31"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn partitions_by_utc_hour() {
        assert_eq!(PartitionHour::of_nanos(0).path(), "date=1970-01-01/hour=00");
        // 2024-02-29T23:59:59.999999999Z
        let leap = 1_709_251_199_999_999_999;
        assert_eq!(
            PartitionHour::of_nanos(leap).path(),
            "date=2024-02-29/hour=23"
        );
        assert_eq!(
            PartitionHour::of_nanos(leap + 1).path(),
            "date=2024-03-01/hour=00"
        );
        assert_eq!(
            PartitionHour::of_nanos(-1).path(),
            "date=1969-12-31/hour=23"
        );
        assert_eq!(
            PartitionHour::of_nanos(i64::MAX).path(),
            "date=2262-04-11/hour=23"
        );
    }

    #[test]
    fn parses_partition_paths() {
        let hour = PartitionHour::from_path_segments("date=2024-02-29", "hour=23").expect("valid");
        assert_eq!(hour.path(), "date=2024-02-29/hour=23");
        for (date, h) in [
            ("date=2023-02-29", "hour=01"),
            ("date=2024-13-01", "hour=00"),
            ("2024-01-01", "hour=00"),
            ("date=2024-01-01", "hour=24"),
        ] {
            assert_eq!(
                PartitionHour::from_path_segments(date, h),
                None,
                "{date} {h}"
            );
        }
    }

    proptest! {
        #[test]
        fn paths_round_trip(nanos in -(1i64 << 61)..(1i64 << 61)) {
            let hour = PartitionHour::of_nanos(nanos);
            let text = hour.path();
            let (date, h) = text.split_once('/').expect("two segments");
            prop_assert_eq!(PartitionHour::from_path_segments(date, h), Some(hour));
        }

        #[test]
        fn agrees_with_chrono(nanos in any::<i64>()) {
            let ours = PartitionHour::of_nanos(nanos).path();
            let theirs = chrono::DateTime::from_timestamp_nanos(nanos)
                .format("date=%Y-%m-%d/hour=%H")
                .to_string();
            prop_assert_eq!(ours, theirs);
        }
    }
}
