//! The scheduling priority of the shard threads.
//!
//! A request is acknowledged once the receivers have checked it and the WAL
//! has made it durable; a shard's flush (building rows, encoding Parquet)
//! comes later and may take a core for a second or more. Where the cores are
//! few, a flush at the same priority as the receivers delays them by whole
//! time slices. Each shard thread (and the watch thread) therefore raises its
//! own nice value by `pipeline.shard_niceness` when it starts: the scheduler
//! runs receivers, WAL and clients first and gives the shards every cycle
//! they leave. When the shards cannot keep up, their queues fill and new
//! requests are refused with a retryable status, as they would be anyway.
//!
//! On Linux the nice value belongs to a thread (`nice(2)` changes the calling
//! thread's alone); raising it needs no privilege. Elsewhere the call reports
//! that it is unsupported and the threads keep the process's priority.

use std::io;

/// Raises the calling thread's nice value by `by` (the kernel caps it at 19)
/// and returns the new value.
#[cfg(target_os = "linux")]
pub fn lower_this_thread(by: u8) -> io::Result<i32> {
    // SAFETY: errno is thread local, and nice(2) changes only the calling
    // thread's nice value; neither touches memory Rust owns.
    #[allow(unsafe_code)]
    unsafe {
        // -1 is also a valid nice value: only errno tells a failure apart.
        *libc::__errno_location() = 0;
        let now = libc::nice(i32::from(by));
        if now == -1 && *libc::__errno_location() != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(now)
    }
}

/// Raises the calling thread's nice value by `by`: not on this platform,
/// where a nice value is the whole process's.
#[cfg(not(target_os = "linux"))]
pub fn lower_this_thread(_by: u8) -> io::Result<i32> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "per-thread nice values are Linux only",
    ))
}

/// Lowers the calling thread's priority by `niceness` (0 leaves it) and says
/// so in the log; a failure is logged and the thread runs on as it is.
pub fn lower_for(thread: &str, niceness: u8) {
    if niceness == 0 {
        return;
    }
    match lower_this_thread(niceness) {
        Ok(nice) => tracing::debug!(thread, nice, "lowered the thread's priority"),
        Err(e) => tracing::warn!(
            thread,
            niceness,
            error = %e,
            "cannot lower the thread's priority (pipeline.shard_niceness); it runs at the receivers' priority"
        ),
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// The calling thread's nice value, as `ps -L` shows it.
    fn nice_of_this_thread() -> i32 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
        // The fields after the parenthesised name; nice is the 19th field.
        let after_name = &stat[stat.rfind(')').unwrap() + 2..];
        after_name.split(' ').nth(16).unwrap().parse().unwrap()
    }

    #[test]
    fn only_the_calling_thread_is_lowered() {
        let before = nice_of_this_thread();
        let (returned, seen) = std::thread::spawn(|| {
            let returned = lower_this_thread(3).unwrap();
            (returned, nice_of_this_thread())
        })
        .join()
        .unwrap();
        let expected = (before + 3).min(19);
        assert_eq!(returned, expected);
        assert_eq!(seen, expected);
        assert_eq!(
            nice_of_this_thread(),
            before,
            "the spawning thread is unchanged"
        );
    }

    #[test]
    fn lowering_adds_to_what_the_thread_had() {
        let before = nice_of_this_thread();
        let seen = std::thread::spawn(|| {
            lower_this_thread(2).unwrap();
            lower_this_thread(2).unwrap();
            nice_of_this_thread()
        })
        .join()
        .unwrap();
        assert_eq!(seen, (before + 4).min(19));
    }
}
