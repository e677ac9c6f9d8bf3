//! WAL appends: what acknowledging only durable requests costs.
//!
//! - `wal/*/append_fsync_always/{1,64}`: appends of a 16 KiB request body, from 1
//!   and from 64 concurrent appenders, with `fsync = "always"`; with 64, many
//!   requests share one group commit and one fsync.
//! - `wal/*/append_fsync_never/64`: the same with `fsync = "never"`, the ceiling
//!   set by the writer thread alone.
//!
//! With one appender every append waits for its own fsync, so the time per
//! append there is the fsync latency of the disk under `wal.dir`.
//!
//! Each runs with `wal.direct_io` on (the default: `direct/` in the names)
//! and off (`buffered/`).
//!
//! Run with `cargo bench -p sluice-benches --bench wal`.

/// The allocator the daemon runs with.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sluice_model::{Signal, Tenant};
use sluice_storage::wal::{CommitSink, FsyncPolicy, Wal, WalConfig};

/// Takes committed items and drops them: the bench measures the WAL alone.
struct Discard;

impl CommitSink<()> for Discard {
    fn committed(&mut self, _seq: u64, _item: ()) {}
    fn group_committed(&mut self, _last: u64) {}
}

fn bench_appends(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let body = Bytes::from(vec![0x5Au8; 16 << 10]);
    let mut group = c.benchmark_group("wal");
    group
        .measurement_time(Duration::from_secs(5))
        .sample_size(10);
    group.throughput(Throughput::Elements(1));
    let runs = [
        (FsyncPolicy::Always, "append_fsync_always", 1usize),
        (FsyncPolicy::Always, "append_fsync_always", 64),
        (FsyncPolicy::Never, "append_fsync_never", 64),
    ];
    for ((policy, name, concurrency), direct_io) in
        runs.into_iter().flat_map(|run| [(run, true), (run, false)])
    {
        let dir = tempfile::tempdir_in(std::env::temp_dir()).expect("tempdir");
        let config = WalConfig {
            fsync: policy,
            max_bytes: sluice_model::units::ByteSize::gib(64),
            direct_io,
            ..WalConfig::default()
        };
        let io = if direct_io { "direct" } else { "buffered" };
        let wal = Arc::new(Wal::start(dir.path(), &config, 1, vec![], Discard).expect("wal"));
        group.bench_function(BenchmarkId::new(format!("{io}/{name}"), concurrency), |b| {
            b.iter_custom(|iters| {
                let wal = Arc::clone(&wal);
                let body = body.clone();
                runtime.block_on(async move {
                    let started = Instant::now();
                    let per_task = iters.div_ceil(concurrency as u64);
                    let tasks: Vec<_> = (0..concurrency)
                        .map(|_| {
                            let (wal, body) = (Arc::clone(&wal), body.clone());
                            tokio::spawn(async move {
                                for _ in 0..per_task {
                                    wal.append(
                                        Tenant::default(),
                                        Signal::Traces,
                                        1,
                                        body.clone(),
                                        (),
                                    )
                                    .await
                                    .expect("append");
                                }
                            })
                        })
                        .collect();
                    for task in tasks {
                        task.await.expect("task");
                    }
                    let elapsed = started.elapsed();
                    // Keep the WAL from growing across samples.
                    wal.release_through(u64::MAX);
                    elapsed.mul_f64(iters as f64 / (per_task * concurrency as u64) as f64)
                })
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench_appends);
criterion_main!(benches);
