//! The WAL writer: one thread that turns concurrent appends into group commits.
//!
//! Requests queue on a bounded channel; the thread takes whatever is waiting
//! (up to a group limit), assigns consecutive sequence numbers, writes the whole
//! group with one `write`, syncs once per the [`FsyncPolicy`], hands each item to
//! the [`CommitSink`] in sequence order, and only then answers the appenders.
//! Many concurrent requests therefore share one fsync.
//!
//! # Failure
//!
//! If a write or sync fails, nothing in the group is acknowledged: the segment
//! is cut back to its last good length and closed, and a new segment takes the
//! next group. A failed sync is never retried on the same file.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use crossbeam_channel::{Receiver, Sender, TrySendError};
use sluice_model::{Signal, Tenant};
use tokio::sync::oneshot;

use super::config::{FsyncPolicy, WalConfig};
use super::record::WalRecord;
use super::segment::{SegmentWriter, first_seq_of};
use crate::metrics;

/// Records committed in one group at most.
const MAX_GROUP_RECORDS: usize = 1024;
/// Bytes committed in one group at most.
const MAX_GROUP_BYTES: usize = 16 << 20;
/// Appends waiting for the writer thread at most.
const QUEUE_CAPACITY: usize = 4096;

/// Why an append was not made durable. All are transient for the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WalError {
    #[error("the wal is full ({bytes} bytes on disk, limit {limit})")]
    Full { bytes: u64, limit: u64 },
    #[error("cannot write the wal: {0}")]
    Io(String),
    #[error("the wal is closed")]
    Closed,
}

/// Receives committed items, on the WAL thread, in sequence order.
pub trait CommitSink<T>: Send + 'static {
    /// `seq` is durable (per the fsync policy); `item` travels on.
    fn committed(&mut self, seq: u64, item: T);
    /// Every sequence number up to `last` has been committed.
    fn group_committed(&mut self, last: u64);
}

/// One request to make durable.
#[derive(Debug)]
pub struct WalAppend<T> {
    pub tenant: Tenant,
    pub signal: Signal,
    pub shards: u16,
    pub body: Bytes,
    pub item: T,
    reply: oneshot::Sender<Result<u64, WalError>>,
}

/// A closed or active segment on disk.
#[derive(Debug, Clone)]
struct SegmentEntry {
    first_seq: u64,
    path: PathBuf,
    bytes: u64,
}

#[derive(Debug)]
struct Shared {
    /// Segments in sequence order; the last one is the active one.
    segments: Mutex<VecDeque<SegmentEntry>>,
    bytes: AtomicU64,
    committed: AtomicU64,
    retired: AtomicBool,
}

/// The write-ahead log.
#[derive(Debug)]
pub struct Wal<T> {
    queue: Option<Sender<WalAppend<T>>>,
    shared: Arc<Shared>,
    max_bytes: u64,
    thread: Option<JoinHandle<()>>,
}

impl<T: Send + 'static> Wal<T> {
    /// Starts the writer on `config.dir`, taking new records from `next_seq` on.
    /// `existing` are the segments recovery left in place (oldest first), kept
    /// until [`release_through`](Self::release_through) lets them go.
    pub fn start(
        dir: &Path,
        config: &WalConfig,
        next_seq: u64,
        existing: Vec<PathBuf>,
        sink: impl CommitSink<T>,
    ) -> std::io::Result<Self> {
        let dir = dir.to_path_buf();
        std::fs::create_dir_all(&dir)?;
        let mut segments = VecDeque::new();
        let mut total = 0;
        for path in existing {
            let Some(first_seq) = first_seq_of(&path) else {
                continue;
            };
            let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            total += bytes;
            segments.push_back(SegmentEntry {
                first_seq,
                path,
                bytes,
            });
        }
        let active = SegmentWriter::create(&dir, next_seq)?;
        total += active.len();
        segments.push_back(SegmentEntry {
            first_seq: next_seq,
            path: active.path().to_path_buf(),
            bytes: active.len(),
        });
        let shared = Arc::new(Shared {
            segments: Mutex::new(segments),
            bytes: AtomicU64::new(total),
            committed: AtomicU64::new(next_seq.saturating_sub(1)),
            retired: AtomicBool::new(false),
        });
        let (tx, rx) = crossbeam_channel::bounded(QUEUE_CAPACITY);
        let writer = Writer {
            dir,
            config: config.clone(),
            segment: active,
            next_seq,
            last_sync: Instant::now(),
            shared: Arc::clone(&shared),
            encoded: BytesMut::new(),
            needs_rotation: false,
        };
        let thread = std::thread::Builder::new()
            .name("sluice-wal".into())
            .spawn(move || writer.run(rx, sink))?;
        Ok(Self {
            queue: Some(tx),
            shared,
            max_bytes: config.max_bytes.as_u64(),
            thread: Some(thread),
        })
    }

    /// Makes one request durable; resolves with its sequence number once the
    /// sink has it.
    pub async fn append(
        &self,
        tenant: Tenant,
        signal: Signal,
        shards: u16,
        body: Bytes,
        item: T,
    ) -> Result<u64, WalError> {
        if self.shared.retired.load(Ordering::Acquire) {
            return Err(WalError::Closed);
        }
        let bytes = self.shared.bytes.load(Ordering::Acquire);
        if bytes >= self.max_bytes {
            return Err(WalError::Full {
                bytes,
                limit: self.max_bytes,
            });
        }
        let queue = self.queue.as_ref().ok_or(WalError::Closed)?;
        let (reply, done) = oneshot::channel();
        let append = WalAppend {
            tenant,
            signal,
            shards,
            body,
            item,
            reply,
        };
        match queue.try_send(append) {
            Ok(()) => {}
            Err(TrySendError::Full(append)) => {
                // The writer is behind; wait for room off the async workers.
                let queue = queue.clone();
                tokio::task::spawn_blocking(move || {
                    queue.send(append).map_err(|_| WalError::Closed)
                })
                .await
                .map_err(|_| WalError::Closed)??;
            }
            Err(TrySendError::Disconnected(_)) => return Err(WalError::Closed),
        }
        done.await.map_err(|_| WalError::Closed)?
    }

    /// Bytes of all segments on disk.
    pub fn bytes(&self) -> u64 {
        self.shared.bytes.load(Ordering::Acquire)
    }

    /// The highest sequence number committed.
    pub fn committed(&self) -> u64 {
        self.shared.committed.load(Ordering::Acquire)
    }

    /// Deletes the closed segments whose every record has a sequence number up
    /// to `durable` (everything in them is in durable Parquet files). Returns
    /// how many were deleted.
    pub fn release_through(&self, durable: u64) -> usize {
        let mut deleted = 0;
        let mut segments = self
            .shared
            .segments
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        while segments.len() > 1 {
            // A closed segment ends where the next one begins.
            let last_in_first = segments[1].first_seq.saturating_sub(1);
            if last_in_first > durable {
                break;
            }
            let Some(segment) = segments.pop_front() else {
                break;
            };
            match std::fs::remove_file(&segment.path) {
                Ok(()) => {
                    self.shared.bytes.fetch_sub(segment.bytes, Ordering::AcqRel);
                    deleted += 1;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    self.shared.bytes.fetch_sub(segment.bytes, Ordering::AcqRel);
                }
                Err(e) => {
                    tracing::warn!(path = %segment.path.display(), error = %e, "cannot delete wal segment");
                    segments.push_front(segment);
                    break;
                }
            }
        }
        ::metrics::gauge!(metrics::WAL_BYTES).set(self.bytes() as f64);
        deleted
    }

    /// Empties the WAL at a clean shutdown, once everything committed is in
    /// durable files: takes no more appends and deletes every segment.
    pub fn retire(&self) {
        self.shared.retired.store(true, Ordering::Release);
        let mut segments = self
            .shared
            .segments
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        while let Some(segment) = segments.pop_front() {
            match std::fs::remove_file(&segment.path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(path = %segment.path.display(), error = %e, "cannot delete wal segment")
                }
            }
        }
        self.shared.bytes.store(0, Ordering::Release);
        ::metrics::gauge!(metrics::WAL_BYTES).set(0.0);
    }

    /// Stops taking appends, lets the writer commit what is queued, and waits
    /// for it to end. The segments stay on disk.
    pub fn close(&mut self) {
        self.queue = None;
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the wal thread panicked");
        }
    }
}

impl<T> Drop for Wal<T> {
    fn drop(&mut self) {
        self.queue = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Writer {
    dir: PathBuf,
    config: WalConfig,
    segment: SegmentWriter,
    next_seq: u64,
    last_sync: Instant,
    shared: Arc<Shared>,
    encoded: BytesMut,
    /// A write failed and the segment could not be replaced yet: the next group
    /// must start a new segment first.
    needs_rotation: bool,
}

impl Writer {
    fn run<T>(mut self, queue: Receiver<WalAppend<T>>, mut sink: impl CommitSink<T>) {
        while let Ok(first) = queue.recv() {
            let mut group = vec![first];
            let mut bytes = group[0].body.len();
            while group.len() < MAX_GROUP_RECORDS && bytes < MAX_GROUP_BYTES {
                match queue.try_recv() {
                    Ok(append) => {
                        bytes += append.body.len();
                        group.push(append);
                    }
                    Err(_) => break,
                }
            }
            self.commit(group, &mut sink);
        }
        if let Err(e) = self.segment.sync() {
            tracing::error!(error = %e, "cannot sync the wal at shutdown");
        }
    }

    fn commit<T>(&mut self, group: Vec<WalAppend<T>>, sink: &mut impl CommitSink<T>) {
        let first_seq = self.next_seq;
        self.encoded.clear();
        for (i, append) in group.iter().enumerate() {
            let record = WalRecord {
                seq: first_seq + i as u64,
                tenant: append.tenant.clone(),
                signal: append.signal,
                shards: append.shards,
                body: append.body.clone(),
            };
            record.encode_into(&mut self.encoded);
        }
        if let Err(error) = self.write_group(first_seq) {
            tracing::error!(%error, records = group.len(), "wal write failed, refusing the group");
            ::metrics::counter!(metrics::WAL_ERRORS).increment(1);
            for append in group {
                let _ = append.reply.send(Err(WalError::Io(error.to_string())));
            }
            return;
        }
        let last_seq = first_seq + group.len() as u64 - 1;
        self.next_seq = last_seq + 1;
        self.shared.committed.store(last_seq, Ordering::Release);
        let mut replies = Vec::with_capacity(group.len());
        for (i, append) in group.into_iter().enumerate() {
            sink.committed(first_seq + i as u64, append.item);
            replies.push((first_seq + i as u64, append.reply));
        }
        sink.group_committed(last_seq);
        for (seq, reply) in replies {
            let _ = reply.send(Ok(seq));
        }
    }

    /// Writes the encoded group and syncs per policy; on failure, cuts the
    /// segment back and moves to a fresh one starting at `first_seq`.
    fn write_group(&mut self, first_seq: u64) -> std::io::Result<()> {
        if self.needs_rotation {
            self.rotate(first_seq)?;
            self.needs_rotation = false;
        }
        if self.segment.len() + self.encoded.len() as u64 > self.config.segment_bytes.as_u64()
            && !self.segment.is_empty()
        {
            self.rotate(first_seq)?;
        }
        let good_len = self.segment.len();
        let result = self
            .segment
            .append(&self.encoded)
            .and_then(|()| self.sync_per_policy());
        match result {
            Ok(()) => {
                self.shared
                    .bytes
                    .fetch_add(self.encoded.len() as u64, Ordering::AcqRel);
                self.update_active_len();
                ::metrics::gauge!(metrics::WAL_BYTES)
                    .set(self.shared.bytes.load(Ordering::Acquire) as f64);
                Ok(())
            }
            Err(error) => {
                // Not acknowledged: drop the partial group and never touch this file again.
                let _ = self.segment.truncate(good_len);
                self.needs_rotation = self.rotate(first_seq).is_err();
                Err(error)
            }
        }
    }

    fn sync_per_policy(&mut self) -> std::io::Result<()> {
        let due = match self.config.fsync {
            FsyncPolicy::Always => true,
            FsyncPolicy::Interval => self.last_sync.elapsed() >= self.config.fsync_interval.get(),
            FsyncPolicy::Never => false,
        };
        if due {
            let started = Instant::now();
            self.segment.sync()?;
            ::metrics::histogram!(metrics::WAL_FSYNC_SECONDS)
                .record(started.elapsed().as_secs_f64());
            self.last_sync = Instant::now();
        }
        Ok(())
    }

    fn update_active_len(&self) {
        let mut segments = self
            .shared
            .segments
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(active) = segments.back_mut() {
            active.bytes = self.segment.len();
        }
    }

    /// Closes the active segment (synced) and opens one for `first_seq` on.
    fn rotate(&mut self, first_seq: u64) -> std::io::Result<()> {
        let _ = self.segment.sync();
        let segment = SegmentWriter::create(&self.dir, first_seq).or_else(|_| {
            // A previous failed rotation may have left an empty file behind.
            let _ = std::fs::remove_file(self.dir.join(super::segment_file_name(first_seq)));
            SegmentWriter::create(&self.dir, first_seq)
        })?;
        let entry = SegmentEntry {
            first_seq,
            path: segment.path().to_path_buf(),
            bytes: segment.len(),
        };
        self.shared.bytes.fetch_add(segment.len(), Ordering::AcqRel);
        self.segment = segment;
        let mut segments = self
            .shared
            .segments
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        // An empty active segment replaced at the same sequence is gone from disk.
        if segments.back().is_some_and(|s| s.first_seq == first_seq)
            && let Some(replaced) = segments.pop_back()
        {
            self.shared
                .bytes
                .fetch_sub(replaced.bytes, Ordering::AcqRel);
        }
        segments.push_back(entry);
        Ok(())
    }
}

/// The segments in `dir`, oldest first.
pub fn list_segments(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut segments: Vec<(u64, PathBuf)> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter_map(|p| first_seq_of(&p).map(|s| (s, p)))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    segments.sort();
    Ok(segments.into_iter().map(|(_, p)| p).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wal::segment::SegmentReader;
    use sluice_model::units::ByteSize;

    /// Records what it was handed, as the pipeline's dispatcher would.
    struct Recorder(std::sync::mpsc::Sender<(u64, usize)>);

    impl CommitSink<usize> for Recorder {
        fn committed(&mut self, seq: u64, item: usize) {
            let _ = self.0.send((seq, item));
        }
        fn group_committed(&mut self, _last: u64) {}
    }

    fn config(segment: ByteSize, max: ByteSize) -> WalConfig {
        WalConfig {
            segment_bytes: segment,
            max_bytes: max,
            ..WalConfig::default()
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_appends_commit_in_sequence_and_read_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (tx, rx) = std::sync::mpsc::channel();
        let wal = Arc::new(
            Wal::start(
                dir.path(),
                &config(ByteSize::kib(64), ByteSize::gib(1)),
                1,
                vec![],
                Recorder(tx),
            )
            .expect("start"),
        );
        let mut tasks = Vec::new();
        for item in 0..400usize {
            let wal = Arc::clone(&wal);
            tasks.push(tokio::spawn(async move {
                let body = Bytes::from(vec![(item % 251) as u8; 300 + item]);
                wal.append(Tenant::default(), Signal::Traces, 2, body, item)
                    .await
            }));
        }
        let mut seqs = Vec::new();
        for task in tasks {
            seqs.push(task.await.expect("join").expect("append"));
        }
        // One at a time: each its own group, so segments rotate between them.
        for item in 400..600usize {
            let body = Bytes::from(vec![(item % 251) as u8; 300 + item]);
            seqs.push(
                wal.append(Tenant::default(), Signal::Traces, 2, body, item)
                    .await
                    .expect("append"),
            );
        }
        seqs.sort_unstable();
        assert_eq!(seqs, (1..=600).collect::<Vec<u64>>());
        let committed: Vec<(u64, usize)> = rx.try_iter().collect();
        assert!(
            committed.windows(2).all(|w| w[1].0 == w[0].0 + 1),
            "the sink sees sequence order"
        );

        let segments = list_segments(dir.path()).expect("list");
        assert!(segments.len() >= 3, "64KiB segments rotate: {segments:?}");
        let reader = SegmentReader {
            max_record_bytes: 1 << 20,
        };
        let mut read = Vec::new();
        for path in &segments {
            let recovered = reader.read(path).expect("read");
            assert!(recovered.damage.is_none());
            read.extend(recovered.records);
        }
        assert_eq!(read.len(), 600);
        for (record, (seq, item)) in read.iter().zip(&committed) {
            assert_eq!(record.seq, *seq);
            assert_eq!(
                record.body.len(),
                300 + item,
                "record {seq} holds item {item}"
            );
        }

        // Everything through the last closed segment is durable elsewhere: it goes.
        let before = wal.bytes();
        let deleted = wal.release_through(600);
        assert_eq!(deleted, segments.len() - 1);
        assert_eq!(list_segments(dir.path()).expect("list").len(), 1);
        assert!(wal.bytes() < before);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_full_wal_refuses_until_segments_are_released() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (tx, _rx) = std::sync::mpsc::channel();
        let wal = Wal::start(
            dir.path(),
            &config(ByteSize::kib(16), ByteSize::kib(40)),
            1,
            vec![],
            Recorder(tx),
        )
        .expect("start");
        let mut last = 0;
        let full = loop {
            match wal
                .append(
                    Tenant::default(),
                    Signal::Logs,
                    1,
                    Bytes::from(vec![1u8; 4000]),
                    0,
                )
                .await
            {
                Ok(seq) => last = seq,
                Err(e) => break e,
            }
            assert!(last < 1000, "the limit must bite");
        };
        assert!(matches!(full, WalError::Full { .. }), "{full:?}");
        wal.release_through(last);
        assert!(wal.bytes() < 40 << 10);
        wal.append(
            Tenant::default(),
            Signal::Logs,
            1,
            Bytes::from_static(b"x"),
            0,
        )
        .await
        .expect("room again");
    }
}
