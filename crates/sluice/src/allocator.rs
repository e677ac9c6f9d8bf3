//! The global allocator (mimalloc) and its one tuning: how long freed memory is
//! kept before it goes back to the operating system.
//!
//! A shard's flush sorts and encodes a batch of up to `storage.flush_rows`
//! rows, allocating and freeing tens of MiB, every `storage.flush_interval`.
//! With mimalloc's default purge delay (1 s) that memory is returned between
//! two flushes and faulted in again by the next: the kernel zeroes every fresh
//! page (2 MiB at a time where transparent huge pages are on), and returning
//! memory interrupts every thread of the process. Measured on the 2-core
//! development machine at 60k spans/s (benches/RESULTS.md): 15% more spans per
//! CPU second and the p99 acknowledgement latency 53 ms -> 13 ms with the delay
//! below. Freed memory is still returned once it has stayed unused that long,
//! and resident memory stays within the admission budget's bound either way.
//!
//! `MIMALLOC_PURGE_DELAY` (milliseconds; -1 never purges), mimalloc's own
//! variable, overrides it.
//!
//! The C libraries Sluice links allocate through glibc's `malloc`, not
//! mimalloc: zstd above all, whose contexts parquet's writer makes for each
//! column of each file (a compression and a decompression context each, a
//! few MiB of workspace in all a file). glibc gives a writing thread's arena
//! back to the kernel (`madvise(MADV_DONTNEED)`) as soon as more than its
//! trim threshold lies free at the top, which the end of every file leaves:
//! each shard returned about 5 MiB after each file and faulted it in again,
//! zeroed, for the next (at full load 95% of the daemon's page faults, and
//! most of the 3% of its samples the kernel spent zeroing pages). [`tune`] keeps that
//! memory with the thread: glibc's trim threshold at [`GLIBC_TRIM_THRESHOLD`]
//! and its mmap threshold at [`GLIBC_MMAP_THRESHOLD`], fixed (setting the
//! one stops glibc raising the other as it goes). A thread keeps at most
//! what it once used at the same time, a few MiB. glibc's own
//! `MALLOC_TRIM_THRESHOLD_`, `MALLOC_MMAP_THRESHOLD_` and `GLIBC_TUNABLES`
//! variables override both.

use std::time::Duration;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How long freed memory stays with the process: longer than the default
/// flush interval, so steady ingestion reuses its flush buffers.
pub const PURGE_DELAY: Duration = Duration::from_secs(30);

/// mimalloc's `mi_option_purge_delay` (the same index in its v2 and v3).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Free memory at the top of a glibc arena kept rather than returned.
pub const GLIBC_TRIM_THRESHOLD: usize = 64 << 20;

/// glibc allocations from this size up are mapped on their own (and unmapped
/// when freed); smaller ones come from the thread's arena. glibc's largest.
pub const GLIBC_MMAP_THRESHOLD: usize = 32 << 20;

/// Sets mimalloc's purge delay and glibc's thresholds, each unless its
/// variables are set. Call first in `main`, before any other thread starts.
pub fn tune() {
    tune_mimalloc();
    tune_glibc();
}

fn tune_mimalloc() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    let millis = std::os::raw::c_long::try_from(PURGE_DELAY.as_millis()).unwrap_or(-1);
    // SAFETY: `mi_option_set` stores a value in mimalloc's option table; it is
    // not thread safe, and this runs in `main` before any thread is spawned.
    #[allow(unsafe_code)]
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, millis);
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_glibc() {
    let set_by_user = [
        "MALLOC_TRIM_THRESHOLD_",
        "MALLOC_MMAP_THRESHOLD_",
        "GLIBC_TUNABLES",
    ]
    .iter()
    .any(|name| std::env::var_os(name).is_some());
    if !set_by_user {
        keep_freed_memory();
    }
}

/// Sets glibc's thresholds ([`GLIBC_TRIM_THRESHOLD`], [`GLIBC_MMAP_THRESHOLD`]).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn keep_freed_memory() {
    for (option, value) in [
        (libc::M_MMAP_THRESHOLD, GLIBC_MMAP_THRESHOLD),
        (libc::M_TRIM_THRESHOLD, GLIBC_TRIM_THRESHOLD),
    ] {
        let value = libc::c_int::try_from(value).unwrap_or(libc::c_int::MAX);
        // SAFETY: `mallopt` sets a parameter of glibc's allocator; this runs
        // in `main` before any other thread is spawned. It returns 0 where a
        // value is refused, and glibc's defaults then stand.
        #[allow(unsafe_code)]
        unsafe {
            libc::mallopt(option, value);
        }
    }
}

/// Other C libraries' allocators are left as they are.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_glibc() {}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    /// Minor page faults of the calling thread so far.
    fn faults() -> u64 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("reads");
        // Fields after the command's closing parenthesis, from the third
        // (the state) on: the minor faults are the tenth.
        let after = stat.rsplit_once(") ").expect("a stat line").1;
        after
            .split_whitespace()
            .nth(7)
            .and_then(|field| field.parse().ok())
            .expect("minor faults")
    }

    /// What a thread frees through glibc stays with it: blocks of a file's
    /// zstd contexts taken, touched and freed again are not faulted in again
    /// (with glibc's defaults the third round faulted as much as the first:
    /// its arena's free top, past the trim threshold, went back).
    #[test]
    fn glibc_keeps_what_a_thread_frees() {
        const BLOCKS: usize = 8;
        const BLOCK: usize = 1 << 20;
        super::keep_freed_memory();
        let faults_by_round = std::thread::spawn(|| {
            (0..3)
                .map(|_| {
                    let before = faults();
                    // SAFETY: each block is allocated by glibc's `malloc`,
                    // checked, written within its size and freed once.
                    #[allow(unsafe_code)]
                    unsafe {
                        let blocks: Vec<*mut u8> =
                            (0..BLOCKS).map(|_| libc::malloc(BLOCK).cast()).collect();
                        for &block in &blocks {
                            assert!(!block.is_null());
                            std::ptr::write_bytes(block, 1, BLOCK);
                        }
                        for block in blocks {
                            libc::free(block.cast());
                        }
                    }
                    faults() - before
                })
                .collect::<Vec<u64>>()
        })
        .join()
        .expect("the thread ends");
        assert!(faults_by_round[0] > 0, "{faults_by_round:?}");
        assert!(
            faults_by_round[2] * 10 < faults_by_round[0],
            "{faults_by_round:?}"
        );
    }
}
