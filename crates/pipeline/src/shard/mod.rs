//! Shard workers: each a thread that alone owns its builders.
//!
//! A worker drains its queue, appends every record to the builder of its
//! tenant, table and hour of event time, records every span into the
//! per-minute SLI rollups (`sluice_rollups`, kept like any other table), and
//! writes a builder's rows as one Parquet file when it holds `flush_rows` rows
//! (its first batch of a partition earlier: see [`stagger`]) or weighs
//! `max_batch_bytes`, when it is `flush_interval` old, when more than
//! `max_open_batches` are open (oldest first), when the memory budget runs
//! short, and at shutdown.
//!
//! # Durability
//!
//! Every message carries the WAL sequence number of its request, and messages
//! arrive in sequence order. Each open batch remembers the first and last
//! sequence number it holds, and each file records them in its footer. The
//! worker publishes its watermark: every record routed to it with a sequence
//! number up to the watermark is in a written file, so WAL segments below the
//! lowest watermark of all shards can go.
//!
//! A batch that storage fails to write is kept and retried with backoff; the
//! worker takes nothing new meanwhile, so its queue fills and receivers refuse
//! new requests with a retryable status. Accepted records are never dropped.
//!
//! # Replay
//!
//! Records replayed from the WAL after a crash may already be in files written
//! before it. For each partition a replayed record goes to, the worker reads the
//! sequence ranges of its own files there, and skips records they cover, so a
//! record is never written twice.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use hashbrown::hash_map::EntryRef;
use sluice_model::budget::{Charge, MemoryBudget};
use sluice_model::time::{PartitionHour, to_arrow_nanos};
use sluice_model::traces::wire::ContextCache;
use sluice_model::{HashMap, Table, Tenant};
use sluice_storage::{ParquetFileWriter, SeqRange};

use crate::metrics::{FLUSHES, QUEUE_DEPTH, ROWS_OPEN};
use crate::route::ShardRecords;
use crate::watch::StepFeed;

mod append;
mod rollups;
mod stagger;

use rollups::OpenBuilder;
pub use rollups::rollup_batch;
use stagger::Stagger;

/// One share of a request, or a control message.
#[derive(Debug)]
pub enum ShardMessage {
    Records {
        /// The WAL sequence number of the request.
        seq: u64,
        /// Replayed from the WAL at startup: skip what files already hold.
        replay: bool,
        tenant: Tenant,
        records: ShardRecords,
        /// The request's memory charge, held until its rows are written.
        charge: Option<Arc<Charge>>,
        /// This share's part of the charge, in bytes: what its rows weigh.
        bytes: u64,
    },
    /// Every request up to `through` has been sent; nothing for this shard
    /// among those not already received.
    Committed { through: u64 },
    /// Write everything held and end the thread. Every request up to
    /// `through` has been sent before this message.
    Shutdown { through: u64 },
}

/// Identifies one open batch.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct BatchKey {
    tenant: Tenant,
    table: Table,
    hour: PartitionHour,
}

impl BatchKey {
    /// A key of `tenant`'s, its table and hour set record by record with
    /// [`BatchKey::at`]: one key a request, not a tenant clone a record.
    fn new(tenant: &Tenant) -> Self {
        Self {
            tenant: tenant.clone(),
            table: Table::Traces,
            hour: PartitionHour::of_nanos(0),
        }
    }

    /// This key set to `table` and the hour of `time_unix_nano` (OTLP time).
    fn at(&mut self, table: Table, time_unix_nano: u64) -> &Self {
        self.table = table;
        self.hour = PartitionHour::of_nanos(to_arrow_nanos(time_unix_nano));
        self
    }
}

/// What a new open batch's entry takes (`hashbrown`'s `entry_ref`).
impl From<&BatchKey> for BatchKey {
    fn from(key: &BatchKey) -> Self {
        key.clone()
    }
}

#[derive(Debug)]
struct OpenBatch {
    builder: OpenBuilder,
    opened: Instant,
    /// WAL sequence numbers of the first and last records appended.
    seqs: SeqRange,
    /// What the rows weigh, from the charges of the requests they came in.
    bytes: u64,
    /// Rows already weighed.
    weighed_rows: usize,
    /// Rows at which the batch is written (see [`Stagger`]).
    rows_limit: usize,
}

/// What ended a batch.
#[derive(Debug, Clone, Copy)]
enum FlushReason {
    Rows,
    Age,
    OpenBatches,
    Memory,
    Shutdown,
}

impl FlushReason {
    fn label(self) -> &'static str {
        match self {
            Self::Rows => "rows",
            Self::Age => "age",
            Self::OpenBatches => "open_batches",
            Self::Memory => "memory",
            Self::Shutdown => "shutdown",
        }
    }
}

/// Settings of a shard worker.
#[derive(Debug, Clone)]
pub struct ShardSettings {
    pub flush_rows: usize,
    pub flush_interval: Duration,
    pub max_open_batches: usize,
    /// A batch is written once its rows weigh this much, so that the copy
    /// sorting and encoding make of it stays a small part of the budget.
    pub max_batch_bytes: u64,
    /// The shards running, each with these settings.
    pub shards: usize,
}

/// What a shard did over its life.
#[derive(Debug, Clone, Default)]
pub struct ShardStats {
    pub rows_written: u64,
    pub files_written: u64,
    /// Replayed records skipped because a file already held them.
    pub replay_skipped: u64,
}

/// A shard worker; [`ShardWorker::run`] is its thread's body.
#[derive(Debug)]
pub struct ShardWorker {
    index: usize,
    queue: Receiver<ShardMessage>,
    writer: ParquetFileWriter,
    settings: ShardSettings,
    open: hashbrown::HashMap<BatchKey, OpenBatch, ahash::RandomState>,
    open_rows: usize,
    stats: ShardStats,
    /// The highest sequence number received.
    last_seen: u64,
    /// Published: everything routed here up to this sequence number is written.
    watermark: Arc<AtomicU64>,
    /// Ranges already in files, per partition, loaded while replaying.
    persisted: HashMap<BatchKey, Vec<SeqRange>>,
    /// Memory charges of requests whose rows are not all written, by sequence.
    charges: VecDeque<(u64, Arc<Charge>)>,
    /// The budget those charges count against: under pressure, write early.
    budget: Arc<MemoryBudget>,
    /// Step summaries for the anomaly detectors, when they watch.
    feed: Option<StepFeed>,
    /// The rows at which each new batch is written.
    stagger: Stagger,
    /// The resources and scopes of the trace requests before, found again by
    /// their bytes (`None` only while a request's spans are appended).
    contexts: Option<ContextCache>,
    /// The last traces batch written, empty, for the next one: its held
    /// spans' vectors keep their room (a batch's worth: about 150 bytes a
    /// row), so a new batch does not grow them again from nothing, copying
    /// as it doubles (1% of the daemon's samples at full load).
    spare_traces: Option<OpenBuilder>,
}

/// Longest wait for a message before checking batch ages.
const TICK: Duration = Duration::from_millis(200);
/// Share of the memory budget in use at which shards write everything early.
const MEMORY_PRESSURE: f64 = 0.75;
/// Longest pause between attempts to write a batch storage refused.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

impl ShardWorker {
    pub fn new(
        index: usize,
        queue: Receiver<ShardMessage>,
        writer: ParquetFileWriter,
        settings: ShardSettings,
        watermark: Arc<AtomicU64>,
        budget: Arc<MemoryBudget>,
        feed: Option<StepFeed>,
    ) -> Self {
        Self {
            index,
            queue,
            writer,
            open: hashbrown::HashMap::default(),
            open_rows: 0,
            stats: ShardStats::default(),
            last_seen: watermark.load(Ordering::Acquire),
            watermark,
            persisted: HashMap::default(),
            charges: VecDeque::new(),
            budget,
            feed,
            stagger: Stagger::new(&settings, index),
            settings,
            contexts: Some(ContextCache::default()),
            spare_traces: None,
        }
    }

    /// Runs until told to shut down (or every sender is gone), then writes
    /// everything it holds.
    pub fn run(mut self) -> ShardStats {
        let shard = self.index.to_string();
        let depth = ::metrics::gauge!(QUEUE_DEPTH, "shard" => shard.clone());
        let rows_open = ::metrics::gauge!(ROWS_OPEN, "shard" => shard);
        let tick = TICK.min(self.settings.flush_interval);
        loop {
            match self.queue.recv_timeout(tick) {
                Ok(ShardMessage::Shutdown { through }) => {
                    self.last_seen = self.last_seen.max(through);
                    break;
                }
                Err(RecvTimeoutError::Disconnected) => break,
                Ok(message) => self.apply(message),
                Err(RecvTimeoutError::Timeout) => {}
            }
            self.flush_due();
            if let Some(feed) = &mut self.feed {
                feed.send_due(Instant::now());
            }
            self.publish_watermark();
            depth.set(self.queue.len() as f64);
            rows_open.set(self.open_rows as f64);
        }
        let keys: Vec<BatchKey> = self.open.keys().cloned().collect();
        for key in keys {
            self.flush(&key, FlushReason::Shutdown);
        }
        if let Some(feed) = &mut self.feed {
            feed.send();
        }
        self.publish_watermark();
        depth.set(0.0);
        rows_open.set(0.0);
        tracing::debug!(
            shard = self.index,
            rows = self.stats.rows_written,
            files = self.stats.files_written,
            "shard stopped"
        );
        self.stats
    }

    /// Publishes the sequence number up to which everything routed here is
    /// written, and releases the memory charges of those requests.
    fn publish_watermark(&mut self) {
        let durable = self
            .open
            .values()
            .map(|b| b.seqs.0.saturating_sub(1))
            .min()
            .unwrap_or(self.last_seen);
        self.watermark.store(durable, Ordering::Release);
        while self.charges.front().is_some_and(|(seq, _)| *seq <= durable) {
            self.charges.pop_front();
        }
    }

    /// Whether a file of this shard already holds the record `seq` of `key`.
    fn is_persisted(&mut self, key: &BatchKey, seq: u64) -> bool {
        if !self.persisted.contains_key(key) {
            let ranges = self
                .writer
                .persisted_ranges(&key.tenant, key.table, key.hour)
                .unwrap_or_else(|error| {
                    tracing::error!(shard = self.index, table = key.table.name(), %error, "cannot read the files of a partition, replaying it whole");
                    Vec::new()
                });
            self.persisted.insert(key.clone(), ranges);
        }
        self.persisted.get(key).is_some_and(|ranges| {
            ranges
                .iter()
                .any(|(first, last)| (*first..=*last).contains(&seq))
        })
    }

    /// The builder a record of request `seq` goes to, opened if needed; `None`
    /// when the record is replayed and already in a file.
    fn target(&mut self, key: &BatchKey, seq: u64, replay: bool) -> Option<&mut OpenBuilder> {
        if replay && self.is_persisted(key, seq) {
            self.stats.replay_skipped += 1;
            return None;
        }
        // The key is cloned only for a batch not open yet.
        let batch = match self.open.entry_ref(key) {
            EntryRef::Occupied(open) => open.into_mut(),
            EntryRef::Vacant(new) => {
                let rows_limit = self.stagger.rows_limit(key);
                let spare = match key.table {
                    Table::Traces => self.spare_traces.take(),
                    _ => None,
                };
                new.insert(OpenBatch {
                    builder: spare.unwrap_or_else(|| OpenBuilder::new(key.table)),
                    opened: Instant::now(),
                    seqs: (seq, seq),
                    bytes: 0,
                    weighed_rows: 0,
                    rows_limit,
                })
            }
        };
        batch.seqs.1 = seq;
        Some(&mut batch.builder)
    }

    fn apply(&mut self, message: ShardMessage) {
        let before: usize = self.open.values().map(|b| b.builder.len()).sum();
        match message {
            ShardMessage::Records {
                seq,
                replay,
                tenant,
                records,
                charge,
                bytes,
            } => {
                if let Some(charge) = charge {
                    self.charges.push_back((seq, charge));
                }
                if !replay && !self.persisted.is_empty() {
                    // Replay is over; its cache is not needed again.
                    self.persisted = HashMap::default();
                }
                match records {
                    ShardRecords::Traces(r) => self.append_traces(seq, replay, &tenant, &r),
                    ShardRecords::Metrics(r) => self.append_metrics(seq, replay, &tenant, &r),
                    ShardRecords::Logs(r) => self.append_logs(seq, replay, &tenant, &r),
                }
                self.last_seen = self.last_seen.max(seq);
                self.weigh(bytes);
            }
            ShardMessage::Committed { through } => self.last_seen = self.last_seen.max(through),
            ShardMessage::Shutdown { .. } => {}
        }
        let after: usize = self.open.values().map(|b| b.builder.len()).sum();
        self.open_rows = self.open_rows + after - before;
    }

    /// Spreads `bytes` over the batches that took rows since the last call, in
    /// proportion to the rows each took.
    fn weigh(&mut self, bytes: u64) {
        let added: usize = self
            .open
            .values()
            .map(|b| b.builder.len() - b.weighed_rows)
            .sum();
        if added == 0 {
            return;
        }
        for batch in self.open.values_mut() {
            let rows = batch.builder.len() - batch.weighed_rows;
            batch.bytes += bytes * rows as u64 / added as u64;
            batch.weighed_rows = batch.builder.len();
        }
    }

    /// Writes the batches that are full or old, the oldest ones while too many
    /// are open, and all of them when the memory budget runs short.
    fn flush_due(&mut self) {
        if self.budget.pressure() >= MEMORY_PRESSURE && !self.open.is_empty() {
            let keys: Vec<BatchKey> = self.open.keys().cloned().collect();
            for key in keys {
                self.flush(&key, FlushReason::Memory);
            }
            return;
        }
        let now = Instant::now();
        let due: Vec<(BatchKey, FlushReason)> = self
            .open
            .iter()
            .filter_map(|(key, batch)| {
                if batch.builder.len() >= batch.rows_limit
                    || batch.bytes >= self.settings.max_batch_bytes
                {
                    Some((key.clone(), FlushReason::Rows))
                } else if now.duration_since(batch.opened) >= self.settings.flush_interval {
                    Some((key.clone(), FlushReason::Age))
                } else {
                    None
                }
            })
            .collect();
        for (key, reason) in due {
            self.flush(&key, reason);
        }
        while self.open.len() > self.settings.max_open_batches {
            let oldest = self
                .open
                .iter()
                .min_by_key(|(_, batch)| batch.opened)
                .map(|(key, _)| key.clone());
            match oldest {
                Some(key) => self.flush(&key, FlushReason::OpenBatches),
                None => break,
            }
        }
    }

    /// Writes the batch of `key`, retrying until storage takes it.
    fn flush(&mut self, key: &BatchKey, reason: FlushReason) {
        let Some(mut batch) = self.open.remove(key) else {
            return;
        };
        if batch.builder.is_empty() {
            return;
        }
        let rows = batch.builder.len();
        let record_batch = batch.builder.finish();
        let mut backoff = Duration::from_millis(100);
        loop {
            match self
                .writer
                .write(&key.tenant, key.table, key.hour, &record_batch, batch.seqs)
            {
                Ok(file) => {
                    tracing::debug!(shard = self.index, path = %file.path, rows = file.rows, bytes = file.bytes, reason = reason.label(), "file written");
                    break;
                }
                Err(error) => {
                    tracing::error!(shard = self.index, table = key.table.name(), rows, %error, retry_in = ?backoff, "cannot write batch, will retry");
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
        if matches!(reason, FlushReason::Rows) {
            self.stagger.written_for_rows(key);
        }
        if key.table == Table::Traces {
            // Under memory pressure, or at the end, the room goes back.
            self.spare_traces = match reason {
                FlushReason::Memory | FlushReason::Shutdown => None,
                _ => Some(batch.builder),
            };
        }
        ::metrics::counter!(FLUSHES, "reason" => reason.label()).increment(1);
        self.open_rows -= rows;
        self.stats.rows_written += rows as u64;
        self.stats.files_written += 1;
    }
}
