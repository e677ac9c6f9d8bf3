//! The progress line: one stderr line redrawn with `\r` every 500 ms while a
//! run lasts, showing the current send rate, what was acknowledged and refused,
//! and the acknowledgement p99 so far. Off with `--quiet` or when stderr is not
//! a terminal (so logs and CI output stay clean).

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::stats::{Stats, Totals};

/// How often the line is redrawn.
pub const INTERVAL: Duration = Duration::from_millis(500);

/// The line for `now`, given the totals at the previous redraw `dt` ago.
pub fn line(now: &Totals, previous: &Totals, dt: Duration, elapsed: Duration) -> String {
    let rate = (now.records_sent - previous.records_sent) as f64 / dt.as_secs_f64().max(1e-3);
    let p99 = now
        .latency
        .quantile(0.99)
        .map_or_else(|| "-".to_owned(), |ns| format!("{:.1} ms", ns / 1e6));
    format!(
        "[{:>6.1}s] {:>9.0} records/s  acked {} records  refused {}  failed {}  p99 {}",
        elapsed.as_secs_f64(),
        rate,
        now.records_acknowledged,
        now.requests_refused,
        now.requests_failed,
        p99
    )
}

/// Redraws the line until `stop` turns true, then clears it.
pub async fn draw(stats: Arc<Stats>, start: Instant, mut stop: watch::Receiver<bool>) {
    let mut previous = stats.snapshot();
    let mut last = Instant::now();
    let mut width = 0usize;
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + INTERVAL, INTERVAL);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.wait_for(|stopped| *stopped) => break,
        }
        let now = stats.snapshot();
        let text = line(&now, &previous, last.elapsed(), start.elapsed());
        // Pad over the remains of a longer previous line.
        let pad = width.saturating_sub(text.len());
        width = text.len();
        let mut stderr = std::io::stderr().lock();
        let _ = write!(stderr, "\r{text}{:pad$}", "");
        let _ = stderr.flush();
        previous = now;
        last = Instant::now();
    }
    if width > 0 {
        let _ = write!(std::io::stderr().lock(), "\r{:width$}\r", "");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_shows_rate_acknowledged_refused_and_p99() {
        let previous = Totals {
            records_sent: 1000,
            ..Totals::default()
        };
        let mut now = Totals {
            records_sent: 6000,
            records_acknowledged: 5500,
            requests_refused: 2,
            ..Totals::default()
        };
        now.latency.add(12e6);
        let text = line(
            &now,
            &previous,
            Duration::from_millis(500),
            Duration::from_secs(3),
        );
        assert!(text.contains("10000 records/s"), "{text}");
        assert!(text.contains("acked 5500 records"), "{text}");
        assert!(text.contains("refused 2"), "{text}");
        assert!(text.contains("p99 12.0 ms"), "{text}");
        assert!(text.starts_with("[   3.0s]"), "{text}");
    }
}
