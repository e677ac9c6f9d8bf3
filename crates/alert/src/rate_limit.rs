//! The per-sink rate limit: at most `max` notifications start in any window
//! of one minute, over time passed in.
//!
//! A sliding window over the start times of the last `max` notifications:
//! exact (unlike a token bucket, which lets nearly twice as many through in
//! the minute after an idle one) and small (`max` is bounded by
//! [`validate`](crate::AlertingConfig::validate)).
//!
//! A notification that finds the window full is not lost: the group stays
//! due, later changes join it, and it goes at [`RateLimit::next_available`].

use std::collections::VecDeque;

const MINUTE_NANOS: i64 = 60_000_000_000;

#[derive(Debug, Clone)]
pub struct RateLimit {
    max: usize,
    /// Start times of the last `max` notifications, oldest first.
    starts: VecDeque<i64>,
}

impl RateLimit {
    /// A limit of `max_per_minute` (at least 1) notifications in any minute.
    pub fn per_minute(max_per_minute: u32) -> Self {
        let max = usize::try_from(max_per_minute.max(1)).unwrap_or(usize::MAX);
        Self {
            max,
            starts: VecDeque::new(),
        }
    }

    /// Records a notification starting at `now` if the window has room.
    pub fn try_acquire(&mut self, now: i64) -> bool {
        if self.next_available(now) > now {
            return false;
        }
        if self.starts.len() == self.max {
            self.starts.pop_front();
        }
        self.starts.push_back(now);
        true
    }

    /// The earliest time, not before `now`, at which a notification may start.
    pub fn next_available(&self, now: i64) -> i64 {
        match self.starts.front() {
            Some(oldest) if self.starts.len() == self.max => {
                oldest.saturating_add(MINUTE_NANOS).max(now)
            }
            _ => now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: i64 = 1_000_000_000;

    #[test]
    fn a_burst_then_room_as_the_window_slides() {
        let mut limit = RateLimit::per_minute(3);
        assert!(limit.try_acquire(0));
        assert!(limit.try_acquire(10 * SECOND));
        assert!(limit.try_acquire(20 * SECOND));
        assert!(!limit.try_acquire(30 * SECOND));
        assert_eq!(limit.next_available(30 * SECOND), 60 * SECOND);
        assert!(!limit.try_acquire(60 * SECOND - 1));
        assert!(limit.try_acquire(60 * SECOND));
        assert_eq!(limit.next_available(60 * SECOND), 70 * SECOND);
    }

    #[test]
    fn never_more_than_the_limit_in_any_minute() {
        let mut limit = RateLimit::per_minute(4);
        let mut starts = Vec::new();
        let mut now = 0;
        while now < 10 * 60 * SECOND {
            if limit.try_acquire(now) {
                starts.push(now);
            }
            now += SECOND / 2;
        }
        for (i, start) in starts.iter().enumerate() {
            let in_minute = starts[i..]
                .iter()
                .take_while(|t| **t < start + 60 * SECOND)
                .count();
            assert!(
                in_minute <= 4,
                "{in_minute} starts in the minute from {start}"
            );
        }
        assert_eq!(starts.len(), 40, "four a minute for ten minutes");
    }

    #[test]
    fn idle_time_frees_the_whole_window() {
        let mut limit = RateLimit::per_minute(2);
        assert!(limit.try_acquire(0));
        assert!(limit.try_acquire(0));
        let later = 3600 * SECOND;
        assert_eq!(limit.next_available(later), later);
        assert!(limit.try_acquire(later));
        assert!(limit.try_acquire(later));
        assert!(!limit.try_acquire(later));
    }
}
