//! The receivers' sink: routes requests onto the shard queues.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Sender, TrySendError};
use object_store::ObjectStore;
use sluice_otlp::{Export, ExportRequest, ExportSink, SinkError, SinkFuture};
use sluice_storage::{ParquetFileWriter, StorageConfig};

use crate::metrics::REFUSED;
use crate::route::{split_logs, split_metrics, split_traces};
use crate::shard::{ShardSettings, ShardStats, ShardWorker};
use crate::{PipelineConfig, ShardMessage};

/// The shard worker threads, joined at shutdown.
#[derive(Debug)]
pub struct ShardThreads {
    threads: Vec<JoinHandle<ShardStats>>,
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
                }
                Err(_) => tracing::error!("a shard thread panicked"),
            }
        }
        total
    }
}

/// Routes validated requests to the shards.
#[derive(Debug)]
pub struct Pipeline {
    queues: Vec<Sender<ShardMessage>>,
    /// Queue length at which new requests are refused.
    refuse_at: usize,
    retry_after: Duration,
    closed: AtomicBool,
}

impl Pipeline {
    /// Starts the shard threads. `runtime` runs storage IO and must outlive them.
    pub fn start(
        config: &PipelineConfig,
        storage: &StorageConfig,
        store: Arc<dyn ObjectStore>,
        runtime: tokio::runtime::Handle,
        node: &str,
    ) -> std::io::Result<(Arc<Self>, ShardThreads)> {
        let shards = config.effective_shards();
        let settings = ShardSettings {
            flush_rows: storage.flush_rows,
            flush_interval: storage.flush_interval.get(),
            max_open_batches: config.max_open_batches,
        };
        let mut queues = Vec::with_capacity(shards);
        let mut threads = Vec::with_capacity(shards);
        for index in 0..shards {
            let (tx, rx) = crossbeam_channel::bounded(config.queue_capacity);
            let writer =
                ParquetFileWriter::new(Arc::clone(&store), runtime.clone(), storage, node, index);
            let worker = ShardWorker::new(index, rx, writer, settings.clone());
            let thread = std::thread::Builder::new()
                .name(format!("sluice-shard-{index}"))
                .spawn(move || worker.run())?;
            queues.push(tx);
            threads.push(thread);
        }
        let pipeline = Self {
            queues,
            refuse_at: config.queue_capacity * 3 / 4,
            retry_after: config.retry_after.get(),
            closed: AtomicBool::new(false),
        };
        Ok((Arc::new(pipeline), ShardThreads { threads }))
    }

    pub fn shards(&self) -> usize {
        self.queues.len()
    }

    /// Refuses further requests and tells every shard to write what it holds
    /// and stop. Call once the receivers have finished their requests.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        for queue in &self.queues {
            // A shard whose thread already ended has nothing left to write.
            let _ = queue.send(ShardMessage::Shutdown);
        }
    }

    fn busy(&self, reason: &'static str) -> SinkError {
        ::metrics::counter!(REFUSED, "reason" => reason).increment(1);
        SinkError::Busy {
            reason,
            retry_after: self.retry_after,
        }
    }

    /// Splits a request into per-shard messages.
    fn route(&self, export: Export) -> Vec<(usize, ShardMessage)> {
        let shards = self.queues.len();
        let tenant = export.tenant;
        let mut messages = Vec::new();
        match export.request {
            ExportRequest::Traces(r) => {
                for (shard, resource_spans) in split_traces(r, shards).into_iter().enumerate() {
                    if !resource_spans.is_empty() {
                        messages.push((
                            shard,
                            ShardMessage::Traces {
                                tenant: tenant.clone(),
                                resource_spans,
                            },
                        ));
                    }
                }
            }
            ExportRequest::Metrics(r) => {
                for (shard, resource_metrics) in split_metrics(r, shards).into_iter().enumerate() {
                    if !resource_metrics.is_empty() {
                        messages.push((
                            shard,
                            ShardMessage::Metrics {
                                tenant: tenant.clone(),
                                resource_metrics,
                            },
                        ));
                    }
                }
            }
            ExportRequest::Logs(r) => {
                for (shard, resource_logs) in split_logs(r, shards).into_iter().enumerate() {
                    if !resource_logs.is_empty() {
                        messages.push((
                            shard,
                            ShardMessage::Logs {
                                tenant: tenant.clone(),
                                resource_logs,
                            },
                        ));
                    }
                }
            }
        }
        messages
    }

    async fn enqueue(&self, export: Export) -> Result<(), SinkError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(SinkError::ShuttingDown);
        }
        let messages = self.route(export);
        if messages
            .iter()
            .any(|(shard, _)| self.queues[*shard].len() >= self.refuse_at)
        {
            return Err(self.busy("queue_full"));
        }
        for (shard, mut message) in messages {
            // Admitted: wait for room rather than refuse half a request.
            loop {
                match self.queues[shard].try_send(message) {
                    Ok(()) => break,
                    Err(TrySendError::Full(back)) => {
                        message = back;
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    Err(TrySendError::Disconnected(_)) => return Err(SinkError::ShuttingDown),
                }
            }
        }
        Ok(())
    }
}

impl ExportSink for Pipeline {
    fn export(&self, export: Export) -> SinkFuture<'_> {
        Box::pin(self.enqueue(export))
    }
}
