//! When a run of scores becomes an anomaly and when it is over: the state
//! machine that keeps one noisy point from opening an anomaly and a flapping
//! series from paging again and again.
//!
//! # Place in the data path
//!
//! Both detectors score a point, tell this machine whether it is *hot* (at or
//! above the open threshold) and whether it is *calm* (below the close
//! threshold, which is lower: between the two a point neither opens nor
//! closes), and turn the [`Edge`] it returns into a [`crate::Transition`].
//!
//! # Rules
//!
//! - Closed → open after `open_points` consecutive hot points; the anomaly
//!   starts at the first of them.
//! - Open → closed after `close_points` consecutive calm points; it ends at
//!   the first of them.
//! - After closing, nothing opens for `cooldown` (event time); a run that is
//!   still hot when the cool-down ends opens then.
//! - A silence longer than `max_gap` between two points restarts both runs:
//!   consecutive means consecutive in time, not just in arrival.

/// What a point changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Edge {
    None,
    Open { start: i64 },
    Close { end: i64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Run {
    len: u32,
    start: i64,
}

impl Run {
    const EMPTY: Run = Run { len: 0, start: 0 };

    /// Extends the run with a point at `time`, or ends it.
    fn extend(&mut self, time: i64, continues: bool) {
        if !continues {
            *self = Self::EMPTY;
            return;
        }
        if self.len == 0 {
            self.start = time;
        }
        self.len = self.len.saturating_add(1);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hysteresis {
    open_points: u32,
    close_points: u32,
    cooldown_nanos: i64,
    max_gap_nanos: i64,
    open: bool,
    hot: Run,
    calm: Run,
    quiet_until: Option<i64>,
    last_time: Option<i64>,
}

impl Hysteresis {
    pub(crate) fn new(
        open_points: u32,
        close_points: u32,
        cooldown_nanos: i64,
        max_gap_nanos: i64,
    ) -> Self {
        Self {
            open_points: open_points.max(1),
            close_points: close_points.max(1),
            cooldown_nanos,
            max_gap_nanos,
            open: false,
            hot: Run::EMPTY,
            calm: Run::EMPTY,
            quiet_until: None,
            last_time: None,
        }
    }

    pub(crate) fn is_open(&self) -> bool {
        self.open
    }

    /// Whether the next hot run may open now, or is held by the cool-down.
    pub(crate) fn in_cooldown(&self, time: i64) -> bool {
        self.quiet_until.is_some_and(|until| time < until)
    }

    /// The length of the current hot run.
    pub(crate) fn hot_run(&self) -> u32 {
        self.hot.len
    }

    /// Steps the machine with a point at `time` (after the previous one).
    pub(crate) fn step(&mut self, time: i64, hot: bool, calm: bool) -> Edge {
        if self
            .last_time
            .is_some_and(|last| time.saturating_sub(last) > self.max_gap_nanos)
        {
            self.hot = Run::EMPTY;
            self.calm = Run::EMPTY;
        }
        self.last_time = Some(time);
        if self.open {
            self.calm.extend(time, calm);
            if self.calm.len >= self.close_points {
                let end = self.calm.start;
                self.open = false;
                self.hot = Run::EMPTY;
                self.calm = Run::EMPTY;
                self.quiet_until = Some(time.saturating_add(self.cooldown_nanos));
                return Edge::Close { end };
            }
            return Edge::None;
        }
        self.hot.extend(time, hot);
        if self.hot.len >= self.open_points && !self.in_cooldown(time) {
            let start = self.hot.start;
            self.open = true;
            self.hot = Run::EMPTY;
            self.calm = Run::EMPTY;
            return Edge::Open { start };
        }
        Edge::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 10;

    fn run(h: &mut Hysteresis, pattern: &str) -> Vec<(usize, Edge)> {
        pattern
            .bytes()
            .enumerate()
            .filter_map(|(i, b)| {
                let t = (i as i64 + 1) * S;
                // `#` hot, `.` calm, `-` neither.
                match h.step(t, b == b'#', b == b'.') {
                    Edge::None => None,
                    edge => Some((i, edge)),
                }
            })
            .collect()
    }

    #[test]
    fn opens_after_a_run_and_closes_after_a_calm_run() {
        let mut h = Hysteresis::new(3, 4, 0, 100 * S);
        let edges = run(&mut h, "..#.##.###-#....");
        assert_eq!(
            edges,
            vec![
                (9, Edge::Open { start: 80 }),
                (15, Edge::Close { end: 130 })
            ]
        );
    }

    #[test]
    fn one_hot_point_never_opens() {
        let mut h = Hysteresis::new(2, 3, 0, 100 * S);
        assert!(run(&mut h, &"#.".repeat(500)).is_empty());
        assert!(run(&mut h, &"#-".repeat(500)).is_empty());
    }

    #[test]
    fn between_the_thresholds_the_state_holds() {
        let mut h = Hysteresis::new(2, 2, 0, 100 * S);
        let edges = run(&mut h, "##----------.-.-..");
        assert_eq!(
            edges,
            vec![
                (1, Edge::Open { start: 10 }),
                (17, Edge::Close { end: 170 })
            ]
        );
    }

    #[test]
    fn the_cooldown_holds_a_new_open() {
        let mut h = Hysteresis::new(2, 2, 10 * S, 100 * S);
        let edges = run(&mut h, "##..####################");
        // Closed at index 3 (time 40): quiet until time 140, index 13.
        assert_eq!(
            edges,
            vec![
                (1, Edge::Open { start: 10 }),
                (3, Edge::Close { end: 30 }),
                (13, Edge::Open { start: 50 }),
            ]
        );
    }

    #[test]
    fn a_gap_restarts_the_runs() {
        let mut h = Hysteresis::new(3, 3, 0, 2 * S);
        assert_eq!(h.step(10, true, false), Edge::None);
        assert_eq!(h.step(20, true, false), Edge::None);
        assert_eq!(h.step(100, true, false), Edge::None);
        assert_eq!(h.hot_run(), 1);
        assert_eq!(h.step(110, true, false), Edge::None);
        assert_eq!(h.step(120, true, false), Edge::Open { start: 100 });
    }
}
