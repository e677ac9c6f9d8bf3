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

use std::time::Duration;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How long freed memory stays with the process: longer than the default
/// flush interval, so steady ingestion reuses its flush buffers.
pub const PURGE_DELAY: Duration = Duration::from_secs(30);

/// mimalloc's `mi_option_purge_delay` (the same index in its v2 and v3).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Sets the purge delay unless `MIMALLOC_PURGE_DELAY` is set. Call first in
/// `main`, before any other thread starts.
pub fn tune() {
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
