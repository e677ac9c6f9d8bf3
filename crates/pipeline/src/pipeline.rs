//! The receivers' sink: makes each request durable in the WAL, then routes it
//! onto the shard queues.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use object_store::ObjectStore;
use sluice_model::budget::MemoryBudget;
use sluice_otlp::{Export, ExportSink, SinkError, SinkFuture};
use sluice_storage::wal::{Wal, WalConfig, WalError};
use sluice_storage::{ParquetFileWriter, StorageConfig};

use crate::disk::DiskWatch;
use crate::dispatch::{Dispatcher, Routed};
use crate::metrics::{MEMORY_BUDGET, MEMORY_USED, REFUSED, WAL_DURABLE_SEQ};
use crate::recovery::{Replayed, replay, scan};
use crate::route::split;
use crate::shard::{ShardSettings, ShardStats, ShardWorker};
use crate::watch::{AnomalySink, StepFeed, WatchConfig, WatchStage};
use crate::{PipelineConfig, ShardMessage};

/// How often durable WAL segments are looked for and deleted.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// The shard worker threads, joined at shutdown.
#[derive(Debug)]
pub struct ShardThreads {
    threads: Vec<JoinHandle<ShardStats>>,
    /// The anomaly detector thread, which ends after the shards.
    watch: Option<JoinHandle<()>>,
}

impl ShardThreads {
    /// Waits for every shard to write what it holds and stop. Blocks.
    pub fn join(self) -> ShardStats {
        let mut total = ShardStats::default();
        for thread in self.threads {
            match thread.join() {
                Ok(stats) => {
                    total.rows_written += stats.rows_written;
                    total.files_written += stats.files_written;
                    total.replay_skipped += stats.replay_skipped;
                }
                Err(_) => tracing::error!("a shard thread panicked"),
            }
        }
        if let Some(watch) = self.watch
            && watch.join().is_err()
        {
            tracing::error!("the anomaly detector thread panicked");
        }
        total
    }
}

/// Everything [`Pipeline::start`] needs.
#[derive(Debug)]
pub struct PipelineSetup<'a> {
    pub pipeline: &'a PipelineConfig,
    pub storage: &'a StorageConfig,
    pub wal: &'a WalConfig,
    pub store: Arc<dyn ObjectStore>,
    /// Runs storage IO; must outlive the shards.
    pub runtime: tokio::runtime::Handle,
    pub node: &'a str,
    /// The admission budget; shards write early when it runs short.
    pub budget: Arc<MemoryBudget>,
    /// Bytes charged per byte of request, to weigh replayed records.
    pub bytes_per_request_byte: u64,
    /// The anomaly watch; off when `None` or not enabled.
    pub watch: Option<&'a WatchConfig>,
    /// Hears of every anomaly change (the alert notifier).
    pub anomaly_sink: Option<Arc<dyn AnomalySink>>,
}

/// Routes validated requests to the shards, through the WAL.
#[derive(Debug)]
pub struct Pipeline {
    queues: Vec<crossbeam_channel::Sender<ShardMessage>>,
    watermarks: Vec<Arc<AtomicU64>>,
    wal: Wal<Routed>,
    wal_dir: PathBuf,
    /// Queue length at which new requests are refused.
    refuse_at: usize,
    retry_after: Duration,
    closed: AtomicBool,
    replayed: Replayed,
    budget: Arc<MemoryBudget>,
    disk: DiskWatch,
}

impl Pipeline {
    /// Starts the shard threads, replays what the WAL holds from a previous
    /// run, and opens the WAL for new requests. Blocks while replaying.
    pub fn start(setup: PipelineSetup<'_>) -> std::io::Result<(Arc<Self>, ShardThreads)> {
        let wal_dir = setup
            .wal
            .resolve_dir(&setup.storage.root)
            .map_err(std::io::Error::other)?;
        std::fs::create_dir_all(&wal_dir)?;
        let found = scan(&wal_dir)?;
        let configured = setup.pipeline.effective_shards();
        let shards = match found.shards {
            Some(previous) if previous != configured => {
                tracing::warn!(
                    previous,
                    configured,
                    "the wal holds requests routed over {previous} shards; keeping {previous} shards until a restart with an empty wal"
                );
                previous
            }
            _ => configured,
        };
        let settings = ShardSettings {
            flush_rows: setup.storage.flush_rows,
            flush_interval: setup.storage.flush_interval.get(),
            max_open_batches: setup.pipeline.max_open_batches,
            // Sorting and encoding copy a batch, about twice over: an eighth of
            // the budget spread over the shards keeps those copies a small part
            // of it.
            max_batch_bytes: (setup.budget.limit() / (8 * shards as u64)).max(1 << 20),
            shards,
        };
        let local_dir = sluice_storage::local_dir(&setup.storage.root);
        let mut queues = Vec::with_capacity(shards);
        let mut watermarks = Vec::with_capacity(shards);
        let mut threads = Vec::with_capacity(shards);
        let mut watch_thread = None;
        let watch_queue = match setup.watch.filter(|w| w.enabled) {
            Some(config) => {
                let (tx, rx) = crossbeam_channel::bounded(config.queue_capacity);
                // Its files take the shard number after the last shard's.
                let writer = ParquetFileWriter::new(
                    Arc::clone(&setup.store),
                    setup.runtime.clone(),
                    setup.storage,
                    setup.node,
                    shards,
                    local_dir.clone(),
                );
                let stage = WatchStage::new(config.clone(), rx, writer, setup.anomaly_sink.clone());
                watch_thread = Some(
                    std::thread::Builder::new()
                        .name("sluice-watch".into())
                        .spawn(move || {
                            default_slice();
                            stage.run()
                        })?,
                );
                Some((tx, config))
            }
            None => None,
        };
        for index in 0..shards {
            let (tx, rx) = crossbeam_channel::bounded(setup.pipeline.queue_capacity);
            let writer = ParquetFileWriter::new(
                Arc::clone(&setup.store),
                setup.runtime.clone(),
                setup.storage,
                setup.node,
                index,
                local_dir.clone(),
            );
            let watermark = Arc::new(AtomicU64::new(0));
            let worker = ShardWorker::new(
                index,
                rx,
                writer,
                settings.clone(),
                Arc::clone(&watermark),
                Arc::clone(&setup.budget),
                watch_queue
                    .as_ref()
                    .map(|(tx, config)| StepFeed::new(index, tx.clone(), config)),
            );
            let thread = std::thread::Builder::new()
                .name(format!("sluice-shard-{index}"))
                .spawn(move || {
                    default_slice();
                    worker.run()
                })?;
            queues.push(tx);
            watermarks.push(watermark);
            threads.push(thread);
        }

        let dispatcher = Dispatcher::new(queues.clone());
        let replayed = replay(
            &found.segments,
            &dispatcher,
            shards,
            setup.bytes_per_request_byte,
        )?;
        if replayed.records > 0 {
            tracing::info!(
                records = replayed.records,
                last_seq = replayed.last_seq,
                segments = found.segments.len(),
                "replayed the wal"
            );
        }
        let mut watched = vec![wal_dir.clone()];
        watched.extend(local_dir.clone());
        let disk = DiskWatch::new(watched, setup.storage.min_free_bytes.as_u64());
        disk.check();
        let wal = Wal::start(
            &wal_dir,
            setup.wal,
            replayed.next_seq(),
            found.segments,
            dispatcher,
        )?;
        let pipeline = Arc::new(Self {
            queues,
            watermarks,
            wal,
            wal_dir,
            refuse_at: setup.pipeline.queue_capacity * 3 / 4,
            retry_after: setup.pipeline.retry_after.get(),
            closed: AtomicBool::new(false),
            replayed,
            budget: Arc::clone(&setup.budget),
            disk,
        });
        let weak = Arc::downgrade(&pipeline);
        std::thread::Builder::new()
            .name("sluice-checkpoint".into())
            .spawn(move || checkpoint_loop(weak))?;
        drop(watch_queue);
        Ok((
            pipeline,
            ShardThreads {
                threads,
                watch: watch_thread,
            },
        ))
    }

    pub fn shards(&self) -> usize {
        self.queues.len()
    }

    /// What startup replay did.
    pub fn replayed(&self) -> Replayed {
        self.replayed
    }

    /// The sequence number up to which every record is in a written file.
    pub fn durable_seq(&self) -> u64 {
        self.watermarks
            .iter()
            .map(|w| w.load(Ordering::Acquire))
            .min()
            .unwrap_or(0)
            .min(self.wal.committed())
    }

    /// Deletes the WAL segments whose records are all in written files.
    /// While free disk is below the watermark, the WAL keeps no spares.
    pub fn checkpoint(&self) {
        self.wal.disk_low(self.disk.check());
        ::metrics::gauge!(MEMORY_USED).set(self.budget.used() as f64);
        ::metrics::gauge!(MEMORY_BUDGET).set(self.budget.limit() as f64);
        let durable = self.durable_seq();
        ::metrics::gauge!(WAL_DURABLE_SEQ).set(durable as f64);
        self.wal.release_through(durable);
    }

    /// Refuses further requests and tells every shard to write what it holds
    /// and stop. Call once the receivers have finished their requests.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        let through = self.wal.committed();
        for queue in &self.queues {
            // A shard whose thread already ended has nothing left to write.
            let _ = queue.send(ShardMessage::Shutdown { through });
        }
    }

    /// After the shards have stopped: if every record is in a written file,
    /// empties the WAL, so the next start has nothing to replay. Returns
    /// whether it did.
    pub fn retire_wal(&self) -> bool {
        let durable = self.durable_seq();
        let committed = self.wal.committed();
        if durable < committed {
            tracing::warn!(
                durable,
                committed,
                "not everything is written; the wal keeps it for the next start"
            );
            return false;
        }
        self.wal.retire();
        tracing::debug!(dir = %self.wal_dir.display(), "wal emptied");
        true
    }

    fn busy(&self, reason: &'static str) -> SinkError {
        ::metrics::counter!(REFUSED, "reason" => reason).increment(1);
        SinkError::Busy {
            reason,
            retry_after: self.retry_after,
        }
    }

    async fn enqueue(&self, mut export: Export) -> Result<(), SinkError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(SinkError::ShuttingDown);
        }
        if self.disk.is_low() {
            return Err(self.busy("disk_full"));
        }
        let signal = export.request.signal();
        let body = export
            .protobuf
            .take()
            .unwrap_or_else(|| export.request.encode_protobuf());
        let shards = self.queues.len();
        let shares = split(export.request, shards);
        if shares
            .iter()
            .any(|(shard, _)| self.queues[*shard].len() >= self.refuse_at)
        {
            return Err(self.busy("queue_full"));
        }
        let charge = export.charge.take();
        let bytes = charge.as_ref().map_or(0, |c| c.bytes());
        let routed = Routed {
            tenant: export.tenant.clone(),
            shares,
            charge: charge.map(Arc::new),
            bytes,
        };
        let shard_count = u16::try_from(shards).unwrap_or(u16::MAX);
        match self
            .wal
            .append(export.tenant, signal, shard_count, body, routed)
            .await
        {
            Ok(_) => Ok(()),
            Err(WalError::Full { .. }) => Err(self.busy("wal_full")),
            Err(WalError::Io(_)) => Err(self.busy("wal_error")),
            Err(WalError::Closed) => Err(SinkError::ShuttingDown),
        }
    }
}

/// Gives a thread that runs long (a shard, the watch stage) the kernel's
/// default scheduler slice: it started with its creator's, which may be the
/// short one of an I/O thread (see [`sluice_model::slice`]).
fn default_slice() {
    if let Err(error) = sluice_model::slice::set_current_thread_slice(std::time::Duration::ZERO) {
        tracing::debug!(%error, "cannot set the default scheduler slice");
    }
}

fn checkpoint_loop(pipeline: Weak<Pipeline>) {
    loop {
        std::thread::sleep(CHECKPOINT_EVERY);
        let Some(pipeline) = pipeline.upgrade() else {
            return;
        };
        if pipeline.closed.load(Ordering::Acquire) {
            return;
        }
        pipeline.checkpoint();
    }
}

impl ExportSink for Pipeline {
    fn export(&self, export: Export) -> SinkFuture<'_> {
        Box::pin(self.enqueue(export))
    }
}
