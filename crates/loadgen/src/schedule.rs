//! The shared send schedule of a fixed-rate run.
//!
//! # Rate control
//!
//! One schedule serves every worker. A worker that is ready reserves the next
//! slot: `records` records due at `next_due`, after which `next_due` advances
//! by `records / rate`. It then sleeps until the slot is due and sends. Because
//! the due times come from one accumulating clock and not from each worker's
//! own sleep, the total rate is exact however many workers there are, and
//! nothing drifts: a request that took long delays the next one of that worker,
//! not the schedule.
//!
//! When the endpoint cannot keep up, slots fall due in the past and workers
//! send them at once (catching up) until the run ends; the summary then shows an
//! achieved rate below the target. The last slot before the end of the run is
//! shortened so a run of `D` seconds at `R` records/s offers exactly `R × D`
//! records.
//!
//! The rate may change during a run (phases with `rate=`): each slot uses the
//! rate at its own due time. While the rate is 0 the schedule hands out empty
//! slots 100 ms apart, so workers wait without spinning.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How far an empty slot advances the schedule while the rate is 0.
const PAUSE_STEP_SECS: f64 = 0.1;

/// A reserved slot: send `records` records at `due` seconds after the start.
/// `records` is 0 while the rate is 0: wait until `due`, then ask again.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Slot {
    pub due: f64,
    pub records: usize,
}

/// The schedule's clock, in seconds since the start of the run; pure, so tests
/// need no timer.
///
/// Due times are computed as `anchor + records / rate` from the last rate
/// change rather than by adding up slot lengths, so rounding never accumulates
/// (ten slots of 0.1 s end at 1.0 s, not at 0.9999999999999999 s).
#[derive(Debug, Default)]
pub struct ScheduleState {
    /// When the current rate took effect.
    anchor: f64,
    /// The current rate; 0 before the first slot and while paused.
    anchor_rate: f64,
    /// Records reserved since `anchor`.
    reserved: f64,
}

impl ScheduleState {
    fn next_due(&self) -> f64 {
        if self.anchor_rate > 0.0 {
            self.anchor + self.reserved / self.anchor_rate
        } else {
            self.anchor
        }
    }

    /// Reserves the next slot of at most `batch` records; `rate_at` gives the
    /// rate (records/s) at a moment, `end` the end of the run (seconds). `None`
    /// once the next slot would start at or after the end.
    pub fn reserve(
        &mut self,
        batch: usize,
        rate_at: impl Fn(f64) -> f64,
        end: Option<f64>,
    ) -> Option<Slot> {
        let due = self.next_due();
        if end.is_some_and(|end| due >= end) {
            return None;
        }
        let rate = rate_at(due);
        let rate = if rate.is_finite() { rate.max(0.0) } else { 0.0 };
        if rate.to_bits() != self.anchor_rate.to_bits() {
            self.anchor = due;
            self.anchor_rate = rate;
            self.reserved = 0.0;
        }
        if rate == 0.0 {
            self.anchor = due + PAUSE_STEP_SECS;
            return Some(Slot { due, records: 0 });
        }
        let mut records = batch;
        if let Some(end) = end {
            // Rounded, so a run of D s at R records/s offers R × D, not one less.
            let remaining = ((end - due) * rate).round();
            if remaining < 1.0 {
                return None;
            }
            if remaining < batch as f64 {
                // In 1..batch, so the conversion is exact.
                records = remaining as usize;
            }
        }
        self.reserved += records as f64;
        Some(Slot { due, records })
    }
}

/// The schedule shared by the workers of a fixed-rate run.
#[derive(Debug)]
pub struct RateSchedule {
    start: Instant,
    end: Option<Duration>,
    rate: f64,
    state: Mutex<ScheduleState>,
}

impl RateSchedule {
    /// A schedule of `rate` records/s from `start`, ending `end` after it.
    pub fn new(start: Instant, rate: f64, end: Option<Duration>) -> Self {
        Self {
            start,
            end,
            rate,
            state: Mutex::new(ScheduleState::default()),
        }
    }

    /// Reserves the next slot; `factor` scales the rate at a moment since the
    /// start. Returns when the slot is due and how many records it holds.
    pub fn reserve(
        &self,
        batch: usize,
        factor: impl Fn(Duration) -> f64,
    ) -> Option<(Instant, usize)> {
        let slot = self
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .reserve(
                batch,
                |at| self.rate * factor(Duration::from_secs_f64(at.max(0.0))),
                self.end.map(|end| end.as_secs_f64()),
            )?;
        let due = self.start + Duration::from_secs_f64(slot.due.max(0.0));
        Some((due, slot.records))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(
        state: &mut ScheduleState,
        batch: usize,
        rate: impl Fn(f64) -> f64,
        end: f64,
    ) -> Vec<Slot> {
        std::iter::from_fn(|| state.reserve(batch, &rate, Some(end))).collect()
    }

    #[test]
    fn slots_are_evenly_spaced_and_the_total_is_exact() {
        let slots = drain(&mut ScheduleState::default(), 100, |_| 1000.0, 1.0);
        assert_eq!(slots.len(), 10);
        for (i, slot) in slots.iter().enumerate() {
            assert_eq!(slot.records, 100);
            assert!((slot.due - i as f64 * 0.1).abs() < 1e-9, "{slot:?}");
        }
        // 500 records/s for 2 s in batches of 512: 512 + 488.
        let slots = drain(&mut ScheduleState::default(), 512, |_| 500.0, 2.0);
        let records: Vec<usize> = slots.iter().map(|s| s.records).collect();
        assert_eq!(records, [512, 488]);
        // An awkward rate still sums to rate × duration.
        let slots = drain(&mut ScheduleState::default(), 7, |_| 333.0, 3.0);
        assert_eq!(slots.iter().map(|s| s.records).sum::<usize>(), 999);
    }

    #[test]
    fn without_an_end_the_schedule_never_stops() {
        let mut state = ScheduleState::default();
        for _ in 0..10_000 {
            assert!(state.reserve(10, |_| 1.0, None).is_some());
        }
    }

    #[test]
    fn the_rate_of_each_slot_is_the_rate_at_its_due_time() {
        // 1000/s for the first second, 200/s afterwards.
        let rate = |at: f64| if at < 1.0 { 1000.0 } else { 200.0 };
        let slots = drain(&mut ScheduleState::default(), 100, rate, 2.0);
        let total: usize = slots.iter().map(|s| s.records).sum();
        assert_eq!(total, 1200);
    }

    #[test]
    fn a_zero_rate_pauses_without_records() {
        let rate = |at: f64| if at < 0.5 { 0.0 } else { 100.0 };
        let slots = drain(&mut ScheduleState::default(), 10, rate, 1.0);
        let empty = slots.iter().filter(|s| s.records == 0).count();
        assert_eq!(empty, 5);
        assert_eq!(slots.iter().map(|s| s.records).sum::<usize>(), 50);
    }

    #[test]
    fn shared_schedule_hands_out_due_times_from_its_start() {
        let start = Instant::now();
        let schedule = RateSchedule::new(start, 100.0, Some(Duration::from_secs(1)));
        let (first, n) = schedule.reserve(10, |_| 1.0).expect("a slot");
        assert_eq!((first, n), (start, 10));
        let (second, _) = schedule.reserve(10, |_| 1.0).expect("a slot");
        let gap = second.duration_since(first).as_secs_f64();
        assert!((gap - 0.1).abs() < 1e-6, "{gap}");
    }
}
