//! Scheduler slices for the threads on the acknowledgement path: the WAL
//! writer and the I/O threads that decode and answer requests.
//!
//! Those threads sleep often (a request to arrive, a sync to finish) and run
//! briefly; shards run for long stretches. Linux's EEVDF scheduler (6.12 on)
//! picks, of the threads eligible to run, the one whose virtual deadline (its
//! virtual run time plus its slice) comes first, so a thread with a short
//! slice that wakes runs soon instead of waiting for a shard's slice to end.
//! Its share of the CPU stays what it was: unlike a lower priority for shards,
//! which starved them under overload (99,751 spans/s acknowledged as fast as
//! possible at nice 10, against 206,836), a short slice takes nothing from
//! anyone. At 146,000 spans/s on 2 cores, 100 us slices took the requests
//! over 5 ms from 3.2-7.2% to 1.4-5.2% (benches/RESULTS.md, eighth session).

use std::time::Duration;

/// The shortest and longest slice the kernel takes.
pub const SLICE_RANGE: (crate::units::Duration, crate::units::Duration) = (
    crate::units::Duration::from_micros(100),
    crate::units::Duration::from_millis(100),
);

/// Gives the calling thread a scheduler slice of `slice`, keeping its policy
/// and nice value; `Duration::ZERO` gives it the kernel's default. A new
/// thread starts with its creator's slice, so threads that run long (shards)
/// set the default for themselves. Kernels before 6.12 accept and ignore it.
pub fn set_current_thread_slice(slice: Duration) -> std::io::Result<()> {
    set_slice(slice)
}

/// `struct sched_attr` as far as its first version (48 bytes) goes.
#[cfg(target_os = "linux")]
#[repr(C)]
#[derive(Debug, Default)]
struct SchedAttr {
    size: u32,
    policy: u32,
    flags: u64,
    nice: i32,
    priority: u32,
    /// For the fair policies, the slice in nanoseconds (0: the default).
    runtime: u64,
    deadline: u64,
    period: u64,
}

#[cfg(target_os = "linux")]
fn set_slice(slice: Duration) -> std::io::Result<()> {
    let mut attr = get_attr()?;
    attr.size = std::mem::size_of::<SchedAttr>() as u32;
    attr.runtime = u64::try_from(slice.as_nanos()).unwrap_or(u64::MAX);
    // SAFETY: `attr` is a live `sched_attr` of `attr.size` bytes, which the
    // kernel reads and keeps no pointer to; pid 0 is the calling thread.
    #[allow(unsafe_code)]
    let set = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &raw mut attr, 0) };
    if set != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// The calling thread's scheduling attributes.
#[cfg(target_os = "linux")]
fn get_attr() -> std::io::Result<SchedAttr> {
    let mut attr = SchedAttr::default();
    let size = std::mem::size_of::<SchedAttr>() as u32;
    // SAFETY: `attr` is a live `sched_attr` of `size` bytes, which the kernel
    // fills and keeps no pointer to; pid 0 is the calling thread.
    #[allow(unsafe_code)]
    let got = unsafe { libc::syscall(libc::SYS_sched_getattr, 0, &raw mut attr, size, 0) };
    if got != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(attr)
}

#[cfg(not(target_os = "linux"))]
fn set_slice(_slice: Duration) -> std::io::Result<()> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "scheduler slices are Linux only",
    ))
}

/// Checks a slice setting: 0 or within [`SLICE_RANGE`]; the error names `key`.
pub fn validate_slice(key: &str, slice: crate::units::Duration) -> Result<(), String> {
    let (shortest, longest) = SLICE_RANGE;
    if slice.get().is_zero() || (shortest..=longest).contains(&slice) {
        Ok(())
    } else {
        Err(format!(
            "{key}: {slice} is outside {shortest}..={longest} (0s keeps the kernel's default)"
        ))
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// The calling thread's slice and nice value, as the kernel reports them.
    fn own_slice_and_nice() -> (u64, i32) {
        let attr = get_attr().expect("sched_getattr");
        (attr.runtime, attr.nice)
    }

    /// Whether the kernel has custom slices (6.12 on).
    fn has_custom_slices() -> bool {
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").expect("osrelease");
        let mut numbers = release
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|n| n.parse::<u32>().ok());
        let major = numbers.next().unwrap_or(0);
        let minor = numbers.next().unwrap_or(0);
        (major, minor) >= (6, 12)
    }

    #[test]
    fn only_the_calling_thread_gets_the_slice() {
        let (before, nice) = own_slice_and_nice();
        let (slice, kept_nice) = std::thread::spawn(|| {
            set_current_thread_slice(Duration::from_micros(300)).expect("sched_setattr");
            own_slice_and_nice()
        })
        .join()
        .expect("join");
        assert_eq!(kept_nice, nice, "the nice value is kept");
        if has_custom_slices() {
            assert_eq!(slice, 300_000);
        } else {
            assert_eq!(slice, before, "kernels before 6.12 take none");
        }
        assert_eq!(
            own_slice_and_nice().0,
            before,
            "the other threads keep theirs"
        );
        // A thread started by one with a slice has it too, until it sets the default.
        let (inherited, reset) = std::thread::spawn(|| {
            set_current_thread_slice(Duration::from_micros(300)).expect("sched_setattr");
            std::thread::spawn(|| {
                let inherited = own_slice_and_nice().0;
                set_current_thread_slice(Duration::ZERO).expect("sched_setattr");
                (inherited, own_slice_and_nice().0)
            })
            .join()
            .expect("join")
        })
        .join()
        .expect("join");
        if has_custom_slices() {
            assert_eq!(inherited, 300_000);
        }
        assert_eq!(reset, before);
    }

    #[test]
    fn slices_outside_the_kernels_range_are_named() {
        use crate::units::Duration;
        let key = "wal.writer_slice";
        assert_eq!(validate_slice(key, Duration::from_secs(0)), Ok(()));
        assert_eq!(validate_slice(key, Duration::from_micros(100)), Ok(()));
        let error = validate_slice(key, Duration::from_micros(50)).expect_err("short");
        assert!(
            error.starts_with("wal.writer_slice: 50us is outside 100us..=100ms"),
            "{error}"
        );
        assert!(validate_slice(key, Duration::from_millis(150)).is_err());
    }
}
