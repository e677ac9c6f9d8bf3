//! Validated units for configuration: byte sizes (`"64MiB"`) and durations (`"30s"`).
//!
//! Both parse from strings with a unit suffix and from bare integers (bytes,
//! seconds), print back in the form they parse, and deserialize from TOML either way.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// An error parsing a [`ByteSize`] or a [`Duration`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} {input:?}: {reason}")]
pub struct UnitError {
    kind: &'static str,
    input: String,
    reason: &'static str,
}

impl UnitError {
    fn new(kind: &'static str, input: &str, reason: &'static str) -> Self {
        Self {
            kind,
            input: input.to_owned(),
            reason,
        }
    }
}

/// Splits `"64MiB"` into `(64, "MiB")`, allowing one space between them.
fn split_number(input: &str) -> Option<(u64, &str)> {
    let trimmed = input.trim();
    let digits = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    if digits == 0 {
        return None;
    }
    let number = trimmed[..digits].parse().ok()?;
    Some((number, trimmed[digits..].trim_start()))
}

/// A size in bytes, written `"512"`, `"64KiB"`, `"64MiB"`, `"2GiB"` (powers of
/// 1024) or `"10MB"` (powers of 1000).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(u64);

impl ByteSize {
    pub const fn b(bytes: u64) -> Self {
        Self(bytes)
    }
    pub const fn kib(n: u64) -> Self {
        Self(n * 1024)
    }
    pub const fn mib(n: u64) -> Self {
        Self(n * 1024 * 1024)
    }
    pub const fn gib(n: u64) -> Self {
        Self(n * 1024 * 1024 * 1024)
    }
    pub const fn as_u64(self) -> u64 {
        self.0
    }
    /// The size as `usize`, saturating on 32-bit targets.
    pub fn as_usize(self) -> usize {
        usize::try_from(self.0).unwrap_or(usize::MAX)
    }
}

impl FromStr for ByteSize {
    type Err = UnitError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = |reason| UnitError::new("byte size", input, reason);
        let (number, unit) = split_number(input).ok_or_else(|| err("expected a number"))?;
        let multiplier: u64 = match unit {
            "" | "B" => 1,
            "KiB" => 1 << 10,
            "MiB" => 1 << 20,
            "GiB" => 1 << 30,
            "TiB" => 1 << 40,
            "KB" | "kB" => 1_000,
            "MB" => 1_000_000,
            "GB" => 1_000_000_000,
            "TB" => 1_000_000_000_000,
            _ => {
                return Err(err(
                    "unknown unit, expected B, KiB, MiB, GiB, TiB, KB, MB, GB or TB",
                ));
            }
        };
        number
            .checked_mul(multiplier)
            .map(Self)
            .ok_or_else(|| err("too large"))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(&str, u64); 4] = [
            ("TiB", 1 << 40),
            ("GiB", 1 << 30),
            ("MiB", 1 << 20),
            ("KiB", 1 << 10),
        ];
        for (unit, size) in UNITS {
            if self.0 >= size && self.0.is_multiple_of(size) {
                return write!(f, "{}{unit}", self.0 / size);
            }
        }
        write!(f, "{}B", self.0)
    }
}

/// A span of time, written `"250ms"`, `"30s"`, `"5m"`, `"2h"`, `"30d"` or
/// `"1w"`; a bare integer is seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(std::time::Duration);

impl Duration {
    pub const fn from_micros(us: u64) -> Self {
        Self(std::time::Duration::from_micros(us))
    }
    pub const fn from_millis(ms: u64) -> Self {
        Self(std::time::Duration::from_millis(ms))
    }
    pub const fn from_secs(secs: u64) -> Self {
        Self(std::time::Duration::from_secs(secs))
    }
    pub const fn get(self) -> std::time::Duration {
        self.0
    }
    pub fn as_nanos_u64(self) -> u64 {
        u64::try_from(self.0.as_nanos()).unwrap_or(u64::MAX)
    }
}

impl From<Duration> for std::time::Duration {
    fn from(d: Duration) -> Self {
        d.0
    }
}

impl FromStr for Duration {
    type Err = UnitError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = |reason| UnitError::new("duration", input, reason);
        let (number, unit) = split_number(input).ok_or_else(|| err("expected a number"))?;
        let nanos_per_unit: u64 = match unit {
            "ns" => 1,
            "us" | "µs" => 1_000,
            "ms" => 1_000_000,
            "" | "s" => 1_000_000_000,
            "m" => 60 * 1_000_000_000,
            "h" => 3_600 * 1_000_000_000,
            "d" => 86_400 * 1_000_000_000,
            "w" => 7 * 86_400 * 1_000_000_000,
            _ => return Err(err("unknown unit, expected ns, us, ms, s, m, h, d or w")),
        };
        number
            .checked_mul(nanos_per_unit)
            .map(|nanos| Self(std::time::Duration::from_nanos(nanos)))
            .ok_or_else(|| err("too large"))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = self.as_nanos_u64();
        const UNITS: [(&str, u64); 7] = [
            ("w", 7 * 86_400 * 1_000_000_000),
            ("d", 86_400 * 1_000_000_000),
            ("h", 3_600 * 1_000_000_000),
            ("m", 60 * 1_000_000_000),
            ("s", 1_000_000_000),
            ("ms", 1_000_000),
            ("us", 1_000),
        ];
        for (unit, size) in UNITS {
            if nanos >= size && nanos.is_multiple_of(size) {
                return write!(f, "{}{unit}", nanos / size);
            }
        }
        write!(f, "{nanos}ns")
    }
}

/// Deserializes either a string with a unit or a bare non-negative integer.
struct UnitVisitor<T>(std::marker::PhantomData<T>, &'static str);

impl<T> Visitor<'_> for UnitVisitor<T>
where
    T: FromStr<Err = UnitError>,
{
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.1)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        v.parse().map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        v.to_string().parse().map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        u64::try_from(v)
            .map_err(|_| E::custom(format!("{v} is negative")))
            .and_then(|v| self.visit_u64(v))
    }
}

macro_rules! serde_via_str {
    ($ty:ty, $expecting:literal) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_any(UnitVisitor(std::marker::PhantomData, $expecting))
            }
        }
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    };
}

serde_via_str!(ByteSize, "a byte size such as \"64MiB\"");
serde_via_str!(Duration, "a duration such as \"30s\"");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_sizes_parse_and_print() {
        let good = [
            ("0", 0, "0B"),
            ("512", 512, "512B"),
            ("512B", 512, "512B"),
            ("64KiB", 65_536, "64KiB"),
            ("64 MiB", 64 << 20, "64MiB"),
            ("2GiB", 2 << 30, "2GiB"),
            ("10MB", 10_000_000, "10000000B"),
            ("1TiB", 1 << 40, "1TiB"),
        ];
        for (input, bytes, printed) in good {
            let size: ByteSize = input.parse().unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(size.as_u64(), bytes, "{input}");
            assert_eq!(size.to_string(), printed, "{input}");
            assert_eq!(printed.parse::<ByteSize>(), Ok(size), "{input} round trip");
        }
        for bad in [
            "",
            "MiB",
            "-1",
            "1.5MiB",
            "12XB",
            "99999999999999999999TiB",
            "1 2",
        ] {
            assert!(bad.parse::<ByteSize>().is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn durations_parse_and_print() {
        let good = [
            ("250ms", 250_000_000, "250ms"),
            ("30s", 30_000_000_000, "30s"),
            ("30", 30_000_000_000, "30s"),
            ("5m", 300_000_000_000, "5m"),
            ("90m", 5_400_000_000_000, "90m"),
            ("2h", 7_200_000_000_000, "2h"),
            ("30d", 2_592_000_000_000_000, "30d"),
            ("1w", 604_800_000_000_000, "1w"),
            ("7ns", 7, "7ns"),
        ];
        for (input, nanos, printed) in good {
            let d: Duration = input.parse().unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(d.as_nanos_u64(), nanos, "{input}");
            assert_eq!(d.to_string(), printed, "{input}");
        }
        for bad in ["", "s", "1.5s", "10 years", "-5s", "99999999999999999999w"] {
            assert!(bad.parse::<Duration>().is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn deserializes_from_strings_and_integers() {
        #[derive(Deserialize)]
        struct T {
            size: ByteSize,
            every: Duration,
        }
        let t: T = serde_json::from_str(r#"{"size": "4MiB", "every": 10}"#).expect("valid");
        assert_eq!(t.size, ByteSize::mib(4));
        assert_eq!(t.every, Duration::from_secs(10));
        let t: T = serde_json::from_str(r#"{"size": 1024, "every": "1m"}"#).expect("valid");
        assert_eq!(t.size, ByteSize::kib(1));
        assert_eq!(t.every, Duration::from_secs(60));
        let err = serde_json::from_str::<T>(r#"{"size": "4 parsecs", "every": 1}"#)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("invalid byte size"), "{err}");
    }
}

/// A memory amount: bytes (`"1GiB"`) or a share of the memory available to the
/// process (`"40%"`: of the cgroup limit, or of the machine without one).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MemoryAmount {
    Bytes(ByteSize),
    Percent(f64),
}

impl MemoryAmount {
    /// The amount in bytes, given the memory available to the process.
    pub fn resolve(self, available: u64) -> u64 {
        match self {
            Self::Bytes(b) => b.as_u64(),
            Self::Percent(p) => (available as f64 * p / 100.0) as u64,
        }
    }
}

impl FromStr for MemoryAmount {
    type Err = UnitError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        match input.trim().strip_suffix('%') {
            Some(number) => {
                let p: f64 = number.trim().parse().map_err(|_| {
                    UnitError::new(
                        "memory amount",
                        input,
                        "expected a percentage such as \"40%\"",
                    )
                })?;
                if p > 0.0 && p <= 100.0 {
                    Ok(Self::Percent(p))
                } else {
                    Err(UnitError::new(
                        "memory amount",
                        input,
                        "a percentage must be above 0 and at most 100",
                    ))
                }
            }
            None => input.parse().map(Self::Bytes),
        }
    }
}

impl fmt::Display for MemoryAmount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bytes(b) => b.fmt(f),
            Self::Percent(p) => write!(f, "{p}%"),
        }
    }
}

serde_via_str!(MemoryAmount, "a memory amount such as \"1GiB\" or \"40%\"");

#[cfg(test)]
mod memory_tests {
    use super::*;

    #[test]
    fn memory_amounts_are_bytes_or_percentages() {
        assert_eq!(
            "40%".parse::<MemoryAmount>(),
            Ok(MemoryAmount::Percent(40.0))
        );
        assert_eq!(
            "1GiB".parse::<MemoryAmount>(),
            Ok(MemoryAmount::Bytes(ByteSize::gib(1)))
        );
        assert_eq!(MemoryAmount::Percent(25.0).resolve(4 << 30), 1 << 30);
        assert_eq!(MemoryAmount::Bytes(ByteSize::mib(3)).resolve(1), 3 << 20);
        for bad in ["0%", "101%", "x%", "-5%", "lots"] {
            assert!(bad.parse::<MemoryAmount>().is_err(), "{bad}");
        }
        assert_eq!(
            "12.5%".parse::<MemoryAmount>().map(|m| m.to_string()),
            Ok("12.5%".to_owned())
        );
    }
}
