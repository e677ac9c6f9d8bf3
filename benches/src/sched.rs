//! Where Sluice's threads spent a step of the end-to-end driver, from Linux's
//! per-thread scheduler statistics (`/proc/<pid>/task/<tid>/schedstat`): time
//! on a core, time runnable but waiting for one, and how many times each ran.
//!
//! The driver reports these for the half-load step next to the latency
//! figures: on two shared cores an acknowledgement's tail is often a thread
//! that was woken (a request arrived, a sync finished) and waited for a core,
//! not work done slowly. Threads are summed by kind, the name without its
//! number (`sluice-shard-0` and `sluice-shard-1` are `sluice-shard`). A
//! thread that exits between two samples drops out of the difference, as
//! blocking-pool threads may; Sluice's own threads live as long as it does.

use std::collections::BTreeMap;
use std::time::Duration;

/// One thread's, or one kind's, scheduler times.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ThreadTimes {
    /// Time on a core.
    pub ran: Duration,
    /// Time runnable, waiting for a core.
    pub waited: Duration,
    /// How many times it was put on a core.
    pub runs: u64,
}

impl ThreadTimes {
    /// Reads a `schedstat` line: nanoseconds run, nanoseconds waited, runs.
    pub fn parse(line: &str) -> Option<Self> {
        let mut fields = line.split_whitespace().map(str::parse::<u64>);
        let (ran, waited, runs) = (
            fields.next()?.ok()?,
            fields.next()?.ok()?,
            fields.next()?.ok()?,
        );
        Some(Self {
            ran: Duration::from_nanos(ran),
            waited: Duration::from_nanos(waited),
            runs,
        })
    }

    /// The mean wait for a core each time the thread was put on one.
    pub fn mean_wait(&self) -> Duration {
        self.waited / u32::try_from(self.runs.max(1)).unwrap_or(u32::MAX)
    }

    fn add(&mut self, other: &Self) {
        self.ran += other.ran;
        self.waited += other.waited;
        self.runs += other.runs;
    }

    fn saturating_sub(&self, earlier: &Self) -> Self {
        Self {
            ran: self.ran.saturating_sub(earlier.ran),
            waited: self.waited.saturating_sub(earlier.waited),
            runs: self.runs.saturating_sub(earlier.runs),
        }
    }
}

/// A thread's kind: its name without a trailing number and the dash before it.
pub fn kind(name: &str) -> &str {
    let name = name.trim();
    let stem = name.trim_end_matches(|c: char| c.is_ascii_digit());
    if stem.len() < name.len() {
        stem.trim_end_matches('-')
    } else {
        name
    }
}

/// Every live thread of process `pid`, by thread id: its kind and times.
/// Empty where `/proc` has no scheduler statistics (not Linux, or a kernel
/// built without them).
pub fn threads(pid: u32) -> BTreeMap<u32, (String, ThreadTimes)> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return BTreeMap::new();
    };
    tasks
        .flatten()
        .filter_map(|task| {
            let tid = task.file_name().to_str()?.parse().ok()?;
            let name = std::fs::read_to_string(task.path().join("comm")).ok()?;
            let line = std::fs::read_to_string(task.path().join("schedstat")).ok()?;
            Some((tid, (kind(&name).to_owned(), ThreadTimes::parse(&line)?)))
        })
        .collect()
}

/// What each kind of thread added from `before` to `after` (two samples of
/// [`threads`]); a thread started in between counts whole.
pub fn by_kind_since(
    before: &BTreeMap<u32, (String, ThreadTimes)>,
    after: &BTreeMap<u32, (String, ThreadTimes)>,
) -> BTreeMap<String, ThreadTimes> {
    let mut kinds = BTreeMap::<String, ThreadTimes>::new();
    for (tid, (kind, times)) in after {
        let added = match before.get(tid) {
            Some((_, earlier)) => times.saturating_sub(earlier),
            None => *times,
        };
        kinds.entry(kind.clone()).or_default().add(&added);
    }
    kinds
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schedstat_line_is_run_wait_and_runs_in_nanoseconds() {
        let times =
            ThreadTimes::parse("2790000000 4240000000 73959\n").expect("three numbers parse");
        assert_eq!(times.ran, Duration::from_millis(2790));
        assert_eq!(times.waited, Duration::from_millis(4240));
        assert_eq!(times.runs, 73959);
        assert_eq!(times.mean_wait(), Duration::from_nanos(57_329));
        assert_eq!(ThreadTimes::parse("12 34"), None);
        assert_eq!(ThreadTimes::parse("12 x 5"), None);
    }

    #[test]
    fn numbered_threads_share_a_kind() {
        assert_eq!(kind("sluice-shard-12\n"), "sluice-shard");
        assert_eq!(kind("sluice-wal"), "sluice-wal");
        assert_eq!(kind("tokio-rt-worker"), "tokio-rt-worker");
        assert_eq!(kind("worker7"), "worker");
        assert_eq!(kind("12"), "");
    }

    #[test]
    fn kinds_add_what_their_threads_did_between_samples() {
        let times = |ran, waited, runs| ThreadTimes {
            ran: Duration::from_millis(ran),
            waited: Duration::from_millis(waited),
            runs,
        };
        let shard = String::from("sluice-shard");
        let before = BTreeMap::from([(1, (shard.clone(), times(100, 10, 5)))]);
        let after = BTreeMap::from([
            (1, (shard.clone(), times(160, 30, 9))),
            (2, (shard.clone(), times(40, 5, 2))),
            (3, ("sluice-wal".to_owned(), times(7, 8, 3))),
        ]);
        let kinds = by_kind_since(&before, &after);
        assert_eq!(kinds[&shard], times(100, 25, 6));
        assert_eq!(kinds["sluice-wal"], times(7, 8, 3));
        assert_eq!(kinds.len(), 2);
    }

    #[test]
    fn this_process_has_scheduler_statistics_on_linux() {
        let threads = threads(std::process::id());
        if cfg!(target_os = "linux") && std::path::Path::new("/proc/self/schedstat").exists() {
            let (_, me) = threads
                .values()
                .next()
                .expect("the test's own threads are listed");
            assert!(me.runs > 0);
        }
    }
}
