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
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering, fence};
use std::sync::{Arc, Mutex};
use std::thread::{JoinHandle, Thread};

use bytes::Bytes;
use crossbeam_channel::{Sender, TrySendError};
use sluice_model::{Signal, Tenant};
use tokio::sync::oneshot;

use super::config::WalConfig;
use super::record::HEADER_LEN;
use super::segment::{
    MAGIC, NEW_EXTENSION, SPARE_EXTENSION, SegmentWriter, WriteMode, first_seq_of, prepare_spare,
    spare_path,
};
use super::writer::Writer;
use crate::metrics;

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
    pub(super) reply: oneshot::Sender<Result<u64, WalError>>,
}

/// A closed or active segment on disk.
#[derive(Debug, Clone)]
pub(super) struct SegmentEntry {
    pub(super) first_seq: u64,
    pub(super) path: PathBuf,
    pub(super) bytes: u64,
}

#[derive(Debug)]
pub(super) struct Shared {
    /// Segments in sequence order; the last one is the active one.
    pub(super) segments: Mutex<VecDeque<SegmentEntry>>,
    pub(super) bytes: AtomicU64,
    pub(super) committed: AtomicU64,
    pub(super) retired: AtomicBool,
    /// Released segments ready to be written over (see [`prepare_spare`]).
    pub(super) spares: Mutex<Vec<PathBuf>>,
    /// The writer found the queue empty and sleeps until an appender wakes it
    /// (see `Writer::next`).
    pub(super) writer_idle: AtomicBool,
}

impl Shared {
    fn lock_spares(&self) -> std::sync::MutexGuard<'_, Vec<PathBuf>> {
        self.spares.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes `writer` if it sleeps for want of appends; called after queueing
    /// one, and after dropping a sender (so that the writer sees the queue
    /// closed).
    fn wake_writer(&self, writer: &Thread) {
        // Pairs with the fence in `Writer::next`: either the writer's second
        // look at the queue finds what was queued before this fence, or this
        // load finds the writer idle.
        fence(Ordering::SeqCst);
        if self.writer_idle.load(Ordering::SeqCst) {
            writer.unpark();
        }
    }
}

/// Opens the segment for records from `first_seq` on in `dir`: a spare
/// written over if one is waiting, else a new file.
pub(super) fn open_segment(
    dir: &Path,
    first_seq: u64,
    shared: &Shared,
    mode: WriteMode,
) -> std::io::Result<SegmentWriter> {
    let spare = shared.lock_spares().pop();
    if let Some(spare) = spare {
        match SegmentWriter::reuse(dir, &spare, first_seq, mode) {
            Ok(segment) => {
                ::metrics::counter!(metrics::WAL_RECYCLED).increment(1);
                return Ok(segment);
            }
            Err(e) => {
                tracing::warn!(path = %spare.display(), error = %e, "cannot reuse a wal spare; starting a new segment");
                // It holds no record under either name.
                let _ = std::fs::remove_file(&spare);
                let _ = std::fs::remove_file(dir.join(super::segment_file_name(first_seq)));
            }
        }
    }
    SegmentWriter::create(dir, first_seq, mode)
}

/// Whether the segment at `path` holds no record: it ends after its magic, or
/// a [`BLANK`](super::segment::BLANK) follows it.
fn holds_no_record(path: &Path) -> std::io::Result<bool> {
    use std::io::Read;
    let mut start = Vec::with_capacity(MAGIC.len() + HEADER_LEN);
    std::fs::File::open(path)?
        .take((MAGIC.len() + HEADER_LEN) as u64)
        .read_to_end(&mut start)?;
    Ok(start.len() <= MAGIC.len() || start[MAGIC.len()..].iter().all(|b| *b == 0))
}

/// How a released segment leaves the disk: renamed out of the WAL, cut back
/// `chunk` bytes at a time from its end, `pause` apart, then unlinked.
///
/// Freeing a file's blocks holds locks of the filesystem that the writer's
/// next append or sync waits for. Here (ext4 mounted with `discard`) a 64 MiB
/// segment unlinked at once took 43-55 ms, and every acknowledgement waited
/// behind it; cut back 4 MiB at a time, each cut takes under 4 ms. RocksDB
/// deletes its files in chunks (`bytes_max_delete_chunk`) for the same reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Release {
    /// Bytes freed per cut; 0 unlinks at once.
    pub chunk: u64,
    pub pause: std::time::Duration,
}

impl Release {
    pub fn from_config(config: &WalConfig) -> Self {
        Self {
            chunk: config.release_chunk_bytes.as_u64(),
            pause: config.release_pause.get(),
        }
    }

    /// Frees the blocks of the file at `path` from its end, `chunk` bytes per
    /// cut, until at most `chunk` are left for the unlink. Returns the cuts.
    pub fn cut_back(&self, path: &Path) -> std::io::Result<u32> {
        if self.chunk == 0 {
            return Ok(0);
        }
        let file = std::fs::OpenOptions::new().write(true).open(path)?;
        let mut len = file.metadata()?.len();
        let mut cuts = 0;
        while len > self.chunk {
            len -= self.chunk;
            file.set_len(len)?;
            cuts += 1;
            std::thread::sleep(self.pause);
        }
        Ok(cuts)
    }
}

/// The name a released segment takes while it is cut back. Recovery reads
/// only `.log` files, so it is out of the WAL from the rename on; one left
/// behind by a crash is deleted at the next start.
fn released_path(segment: &Path) -> PathBuf {
    segment.with_extension(RELEASED_EXTENSION)
}

const RELEASED_EXTENSION: &str = "released";

/// Deletes the released segments a crash left in `dir` (everything in them is
/// in durable Parquet files) and the new ones it left before their rename
/// (they hold no record), and takes up to `recycle` spares left by an earlier
/// run, made ready again. One that cannot be deleted is only in the way of
/// the disk's free space, so it is named and left.
fn collect_leftovers(dir: &Path, recycle: usize) -> std::io::Result<Vec<PathBuf>> {
    let mut spares = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        match path.extension().and_then(|e| e.to_str()) {
            Some(SPARE_EXTENSION) if spares.len() < recycle => match prepare_spare(&path) {
                Ok(()) => {
                    spares.push(path);
                    continue;
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "cannot reuse a wal spare");
                }
            },
            Some(RELEASED_EXTENSION) => {
                tracing::info!(path = %path.display(), "deleting a released wal segment left by a crash");
            }
            // Spares past `recycle`, and new segments never renamed in.
            Some(SPARE_EXTENSION | NEW_EXTENSION) => {}
            _ => continue,
        }
        if let Err(e) = std::fs::remove_file(&path) {
            tracing::warn!(path = %path.display(), error = %e, "cannot delete a leftover wal file");
        }
    }
    Ok(spares)
}

/// Makes the last rename in the directory of `path` durable.
fn sync_parent(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(dir) => std::fs::File::open(dir).and_then(|d| d.sync_all()),
        None => Ok(()),
    }
}

/// The write-ahead log.
#[derive(Debug)]
pub struct Wal<T> {
    queue: Option<Sender<WalAppend<T>>>,
    shared: Arc<Shared>,
    max_bytes: u64,
    release: Release,
    /// Released segments kept as spares at most.
    recycle: usize,
    /// Whether released segments may be kept as spares: not while free disk
    /// is below the watermark (see [`Wal::disk_low`]).
    keep_spares: AtomicBool,
    thread: Option<JoinHandle<()>>,
    /// The writer thread, to wake it (see [`Shared::wake_writer`]).
    writer: Thread,
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
        let recycle = config.recycle_segments;
        let mut spares = collect_leftovers(&dir, recycle)?;
        let mut segments = VecDeque::new();
        let mut total = 0;
        for path in existing {
            let Some(first_seq) = first_seq_of(&path) else {
                continue;
            };
            if first_seq == next_seq && holds_no_record(&path)? {
                // The active segment of a process stopped before it wrote a
                // record (killed right after starting, or after a rotation):
                // the new active segment takes its name.
                if spares.len() < recycle {
                    let spare = spare_path(&path);
                    std::fs::rename(&path, &spare)?;
                    prepare_spare(&spare)?;
                    spares.push(spare);
                } else {
                    std::fs::remove_file(&path)?;
                }
                continue;
            }
            let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            total += bytes;
            segments.push_back(SegmentEntry {
                first_seq,
                path,
                bytes,
            });
        }
        let shared = Arc::new(Shared {
            segments: Mutex::new(VecDeque::new()),
            bytes: AtomicU64::new(0),
            committed: AtomicU64::new(next_seq.saturating_sub(1)),
            retired: AtomicBool::new(false),
            spares: Mutex::new(spares),
            writer_idle: AtomicBool::new(false),
        });
        let active = open_segment(&dir, next_seq, &shared, config.write_mode())?;
        total += active.len();
        segments.push_back(SegmentEntry {
            first_seq: next_seq,
            path: active.path().to_path_buf(),
            bytes: active.len(),
        });
        *shared.segments.lock().unwrap_or_else(|e| e.into_inner()) = segments;
        shared.bytes.store(total, Ordering::Release);
        let (tx, rx) = crossbeam_channel::bounded(QUEUE_CAPACITY);
        let writer = Writer::new(dir, config.clone(), active, next_seq, Arc::clone(&shared));
        let slice = config.writer_slice;
        let thread = std::thread::Builder::new()
            .name("sluice-wal".into())
            .spawn(move || {
                if let Err(error) = sluice_model::slice::set_current_thread_slice(slice.get()) {
                    tracing::warn!(%slice, %error, "cannot set the wal writer's scheduler slice; it keeps the default");
                }
                writer.run(rx, sink)
            })?;
        Ok(Self {
            queue: Some(tx),
            shared,
            max_bytes: config.max_bytes.as_u64(),
            release: Release::from_config(config),
            recycle,
            keep_spares: AtomicBool::new(true),
            writer: thread.thread().clone(),
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
            Ok(()) => self.shared.wake_writer(&self.writer),
            Err(TrySendError::Full(append)) => {
                // The writer is behind; wait for room off the async workers.
                // The task wakes the writer itself, after dropping its sender:
                // it may outlive this future (and this WAL) if it is dropped.
                let queue = queue.clone();
                let (shared, writer) = (Arc::clone(&self.shared), self.writer.clone());
                tokio::task::spawn_blocking(move || {
                    let sent = queue.send(append);
                    drop(queue);
                    shared.wake_writer(&writer);
                    sent.map_err(|_| WalError::Closed)
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

    /// Takes out of the WAL the closed segments whose every record has a
    /// sequence number up to `durable` (everything in them is in durable
    /// Parquet files): each is kept as a spare while fewer than
    /// `wal.recycle_segments` wait, else deleted as [`Release`] says. Returns
    /// how many were taken out.
    pub fn release_through(&self, durable: u64) -> usize {
        // Taken off the list under the lock and deleted after it: deleting a
        // segment of tens of MiB takes milliseconds, and the writer takes the
        // lock after every group commit, so acknowledgements waited for it.
        // (The writer also waits on the filesystem while blocks are freed;
        // hence the cuts of `Release`.)
        let released: Vec<SegmentEntry> = {
            let mut segments = self.lock_segments();
            let mut released = Vec::new();
            while segments.len() > 1 {
                // A closed segment ends where the next one begins.
                let last_in_first = segments[1].first_seq.saturating_sub(1);
                if last_in_first > durable {
                    break;
                }
                released.extend(segments.pop_front());
            }
            released
        };
        let mut deleted = 0;
        let mut released = released.into_iter();
        while let Some(segment) = released.next() {
            let spare = self.keep_spares.load(Ordering::Acquire)
                && self.shared.lock_spares().len() < self.recycle;
            let renamed = if spare {
                spare_path(&segment.path)
            } else {
                released_path(&segment.path)
            };
            match std::fs::rename(&segment.path, &renamed) {
                Ok(()) => {
                    self.shared.bytes.fetch_sub(segment.bytes, Ordering::AcqRel);
                    deleted += 1;
                    if spare {
                        self.keep_spare(renamed);
                    } else {
                        self.delete_released(&renamed);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    self.shared.bytes.fetch_sub(segment.bytes, Ordering::AcqRel);
                }
                Err(e) => {
                    tracing::warn!(path = %segment.path.display(), error = %e, "cannot delete wal segment");
                    // Back at the front, in order, for the next checkpoint.
                    let kept: Vec<SegmentEntry> =
                        std::iter::once(segment).chain(released).collect();
                    let mut segments = self.lock_segments();
                    for segment in kept.into_iter().rev() {
                        segments.push_front(segment);
                    }
                    break;
                }
            }
        }
        ::metrics::gauge!(metrics::WAL_BYTES).set(self.bytes() as f64);
        deleted
    }

    /// Tells the WAL whether free disk is below the watermark. While it is,
    /// released segments are deleted instead of kept as spares, and the
    /// spares already kept are deleted (as released segments are, a cut at a
    /// time): they hold disk the WAL can do without, and rotations make new
    /// files until space returns. Returns how many spares were deleted.
    pub fn disk_low(&self, low: bool) -> usize {
        self.keep_spares.store(!low, Ordering::Release);
        if !low {
            return 0;
        }
        let spares = std::mem::take(&mut *self.shared.lock_spares());
        for spare in &spares {
            let released = released_path(spare);
            match std::fs::rename(spare, &released) {
                Ok(()) => self.delete_released(&released),
                Err(e) => {
                    tracing::warn!(path = %spare.display(), error = %e, "cannot delete a wal spare; the next start takes it up");
                }
            }
        }
        if !spares.is_empty() {
            tracing::info!(
                deleted = spares.len(),
                "free disk space below the watermark; deleted the wal's spare segments"
            );
        }
        spares.len()
    }

    /// Makes a segment renamed out of the WAL ready to be written over, and
    /// hands it to the writer. One that cannot be made ready is deleted.
    fn keep_spare(&self, path: PathBuf) {
        match sync_parent(&path).and_then(|()| prepare_spare(&path)) {
            Ok(()) => self.shared.lock_spares().push(path),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot keep a released wal segment as a spare; deleting it");
                self.delete_released(&path);
            }
        }
    }

    /// Cuts back and unlinks a segment renamed out of the WAL. The rename is
    /// synced first, so that a crash never brings the old name back over a
    /// file already cut back (recovery would take it for a damaged segment).
    fn delete_released(&self, path: &Path) {
        let deleted = sync_parent(path)
            .and_then(|()| self.release.cut_back(path))
            .and_then(|_| std::fs::remove_file(path));
        if let Err(e) = deleted {
            tracing::warn!(path = %path.display(), error = %e, "cannot delete a released wal segment; the next start deletes it");
        }
    }

    fn lock_segments(&self) -> std::sync::MutexGuard<'_, VecDeque<SegmentEntry>> {
        self.shared
            .segments
            .lock()
            .unwrap_or_else(|e| e.into_inner())
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
}

/// Dropping the WAL stops taking appends, lets the writer commit what is
/// queued, and waits for it to end. The segments stay on disk.
impl<T> Drop for Wal<T> {
    fn drop(&mut self) {
        self.queue = None;
        self.writer.unpark();
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the wal thread panicked");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wal::WalRecord;
    use crate::wal::segment::{DIRECT_ALIGN, SegmentReader, list_segments, segment_file_name};

    fn segment_path(dir: &Path, first_seq: u64) -> PathBuf {
        dir.join(segment_file_name(first_seq))
    }
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

    /// A WAL started in the empty `dir`, and what its sink is handed.
    fn start_empty(
        dir: &Path,
        segment: ByteSize,
        max: ByteSize,
    ) -> (Wal<usize>, std::sync::mpsc::Receiver<(u64, usize)>) {
        start_with(dir, &config(segment, max))
    }

    /// A WAL on `config` started in `dir` with nothing to replay, and what
    /// its sink is handed.
    fn start_with(
        dir: &Path,
        config: &WalConfig,
    ) -> (Wal<usize>, std::sync::mpsc::Receiver<(u64, usize)>) {
        let (tx, rx) = std::sync::mpsc::channel();
        let wal = Wal::start(dir, config, 1, vec![], Recorder(tx)).expect("start");
        (wal, rx)
    }

    /// The writer sleeps while the queue is empty; the next append wakes it,
    /// and dropping the WAL ends it. Under test the writer never looks at the
    /// queue unwoken, so a missed wake-up fails here.
    #[tokio::test(flavor = "multi_thread")]
    async fn an_idle_writer_is_woken_by_an_append_and_by_the_end() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (wal, _rx) = start_empty(dir.path(), ByteSize::mib(1), ByteSize::gib(1));
        let bound = std::time::Duration::from_secs(30);
        for item in 0..20usize {
            let started = std::time::Instant::now();
            while !wal.shared.writer_idle.load(Ordering::SeqCst) {
                assert!(started.elapsed() < bound, "the writer never went idle");
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
            let body = Bytes::from_static(b"one span");
            let append = wal.append(Tenant::default(), Signal::Traces, 1, body, item);
            tokio::time::timeout(bound, append)
                .await
                .expect("the append woke the idle writer")
                .expect("append");
        }
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            drop(wal);
            let _ = done_tx.send(());
        });
        done_rx
            .recv_timeout(bound)
            .expect("dropping the wal woke the idle writer, which ended");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_appends_commit_in_sequence_and_read_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (wal, rx) = start_empty(dir.path(), ByteSize::kib(64), ByteSize::gib(1));
        let wal = Arc::new(wal);
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
    async fn a_restart_before_any_record_reuses_the_empty_segment() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (tx, _rx) = std::sync::mpsc::channel();
        let start = |next_seq: u64| {
            let existing = list_segments(dir.path()).expect("list");
            Wal::start(
                dir.path(),
                &config(ByteSize::kib(16), ByteSize::mib(64)),
                next_seq,
                existing,
                Recorder(tx.clone()),
            )
        };
        let first = start(1).expect("start");
        let body = Bytes::from(vec![1u8; 100]);
        let seq = first
            .append(Tenant::default(), Signal::Logs, 1, body.clone(), 0)
            .await
            .expect("append");
        // Stopped with its segments on disk: one holding the record, and
        // none opened after it. Replay resumes after the record.
        drop(first);
        let second = start(seq + 1).expect("a first restart");
        drop(second);
        // Stopped again before writing: its active segment is empty.
        let third = start(seq + 1).expect("a restart over the empty segment");
        assert_eq!(
            third
                .append(Tenant::default(), Signal::Logs, 1, body, 0)
                .await
                .expect("append"),
            seq + 1
        );
        assert_eq!(list_segments(dir.path()).expect("list").len(), 2);
    }

    /// Appends 20 records of 4000 bytes to `wal` (16 KiB segments rotate
    /// every few); returns the last sequence number.
    async fn append_twenty(wal: &Wal<usize>) -> u64 {
        let mut last = 0;
        for _ in 0..20 {
            let body = Bytes::from(vec![1u8; 4000]);
            last = wal
                .append(Tenant::default(), Signal::Logs, 1, body, 0)
                .await
                .expect("append");
        }
        last
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_segment_that_cannot_be_deleted_stays_with_those_after_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = WalConfig {
            recycle_segments: 0,
            ..config(ByteSize::kib(16), ByteSize::mib(64))
        };
        let (wal, _rx) = start_with(dir.path(), &config);
        let last = append_twenty(&wal).await;
        let segments = list_segments(dir.path()).expect("list");
        assert!(segments.len() >= 4, "16KiB segments rotate: {segments:?}");
        // A directory where the second segment would be renamed to on its way
        // out: the rename fails.
        let blocker = released_path(&segments[1]);
        std::fs::create_dir(&blocker).expect("mkdir");
        std::fs::write(blocker.join("x"), b"x").expect("write");

        assert_eq!(wal.release_through(last), 1, "only the first goes");
        assert_eq!(list_segments(dir.path()).expect("list")[..], segments[1..]);
        std::fs::remove_dir_all(&blocker).expect("rmdir");
        // The rest go at the next checkpoint.
        assert_eq!(wal.release_through(last), segments.len() - 2);
        assert_eq!(
            list_segments(dir.path()).expect("list")[..],
            segments[segments.len() - 1..]
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn released_segments_in_small_cuts_leave_no_file_but_the_active_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = WalConfig {
            release_chunk_bytes: ByteSize::kib(4),
            release_pause: sluice_model::units::Duration::from_millis(0),
            recycle_segments: 0,
            ..config(ByteSize::kib(16), ByteSize::mib(64))
        };
        let (wal, _rx) = start_with(dir.path(), &config);
        let last = append_twenty(&wal).await;
        let segments = list_segments(dir.path()).expect("list");
        assert_eq!(wal.release_through(last), segments.len() - 1);
        let left: Vec<PathBuf> = std::fs::read_dir(dir.path())
            .expect("read dir")
            .map(|e| e.expect("entry").path())
            .collect();
        assert_eq!(
            left[..],
            segments[segments.len() - 1..],
            "only the active segment"
        );
        // Up to its end marker; written directly, zeros to a block's end
        // (unless this file system refuses direct writes).
        let exact = wal.bytes() + HEADER_LEN as u64;
        let on_disk = std::fs::metadata(&left[0]).expect("stat").len();
        assert!(
            on_disk == exact.next_multiple_of(DIRECT_ALIGN as u64) || on_disk == exact,
            "{on_disk} bytes on disk for {exact}"
        );
    }

    /// The files in `dir` named `*.<extension>`.
    fn files_ending(dir: &Path, extension: &str) -> Vec<PathBuf> {
        std::fs::read_dir(dir)
            .expect("read dir")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == extension))
            .collect()
    }

    /// Every record in the `.log` segments of `dir`, checked undamaged.
    fn read_all(dir: &Path) -> Vec<WalRecord> {
        let reader = SegmentReader {
            max_record_bytes: 1 << 20,
        };
        let mut records = Vec::new();
        for path in list_segments(dir).expect("list") {
            let recovered = reader.read(&path).expect("read");
            assert!(
                recovered.damage.is_none(),
                "{path:?}: {:?}",
                recovered.damage
            );
            records.extend(recovered.records);
        }
        records
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn released_segments_are_written_over_as_new_ones() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = WalConfig {
            recycle_segments: 2,
            ..config(ByteSize::kib(16), ByteSize::mib(64))
        };
        let (wal, _rx) = start_with(dir.path(), &config);
        let first = append_twenty(&wal).await;
        let closed = list_segments(dir.path()).expect("list").len() - 1;
        assert!(closed >= 4, "16KiB segments rotate");
        assert_eq!(wal.release_through(first), closed);
        let spares = files_ending(dir.path(), "spare");
        assert_eq!(spares.len(), 2, "two kept, the rest deleted");
        assert!(files_ending(dir.path(), "released").is_empty());
        let inode =
            |p: &PathBuf| std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(p).expect("stat"));
        let mut spare_files: Vec<u64> = spares.iter().map(inode).collect();
        let active_first = first_seq_of(&list_segments(dir.path()).expect("list")[0]);

        // The next rotations take the spares, and their old records stay unread.
        let last = append_twenty(&wal).await;
        assert!(files_ending(dir.path(), "spare").is_empty(), "both reused");
        let mut reused: Vec<u64> = list_segments(dir.path())
            .expect("list")
            .iter()
            .map(inode)
            .filter(|i| spare_files.contains(i))
            .collect();
        reused.sort_unstable();
        spare_files.sort_unstable();
        assert_eq!(
            reused, spare_files,
            "both spares are segments now, the same files"
        );
        let seqs: Vec<u64> = read_all(dir.path()).iter().map(|r| r.seq).collect();
        let expected: Vec<u64> = (active_first.expect("name")..=last).collect();
        assert_eq!(seqs, expected);

        // A restart reads them the same way.
        drop(wal);
        let (tx, _rx) = std::sync::mpsc::channel();
        let existing = list_segments(dir.path()).expect("list");
        let wal =
            Wal::start(dir.path(), &config, last + 1, existing, Recorder(tx)).expect("restart");
        let body = Bytes::from(vec![2u8; 10]);
        let next = wal
            .append(Tenant::default(), Signal::Logs, 1, body, 0)
            .await
            .expect("append");
        assert_eq!(next, last + 1);
        let seqs: Vec<u64> = read_all(dir.path()).iter().map(|r| r.seq).collect();
        assert_eq!(seqs.last(), Some(&next));
        assert_eq!(seqs.len(), expected.len() + 1);
    }

    /// A WAL of 16 KiB segments (twenty appends rotate it several times)
    /// that keeps up to 64 spares.
    fn start_recycling(dir: &Path) -> (Wal<usize>, std::sync::mpsc::Receiver<(u64, usize)>) {
        let config = WalConfig {
            recycle_segments: 64,
            ..config(ByteSize::kib(16), ByteSize::mib(64))
        };
        start_with(dir, &config)
    }

    /// A new file is made only when no spare is left: however rounds of
    /// appends and releases go, the segments and spares together never
    /// outnumber the most segments the WAL held at once (so spares only keep
    /// disk the WAL itself once used).
    #[tokio::test(flavor = "multi_thread")]
    async fn segments_and_spares_never_outnumber_the_most_segments_held() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (wal, _rx) = start_recycling(dir.path());
        let files = || {
            list_segments(dir.path()).expect("list").len() + files_ending(dir.path(), "spare").len()
        };
        let mut most_held = 0;
        let mut spares_taken = 0;
        for twenties in [2, 1, 3, 1, 2] {
            let spares_before = files_ending(dir.path(), "spare").len();
            let mut last = 0;
            for _ in 0..twenties {
                last = append_twenty(&wal).await;
                most_held = most_held.max(list_segments(dir.path()).expect("list").len());
                assert!(files() <= most_held, "{} files, {most_held} held", files());
            }
            spares_taken += spares_before - files_ending(dir.path(), "spare").len();
            wal.release_through(last);
            assert!(files() <= most_held, "{} files, {most_held} held", files());
        }
        assert!(spares_taken >= 8, "rotations took spares: {spares_taken}");
    }

    /// While free disk is below the watermark the spares are deleted and
    /// released segments are not kept; once space returns they are again.
    #[tokio::test(flavor = "multi_thread")]
    async fn spares_are_deleted_while_the_disk_is_low() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (wal, _rx) = start_recycling(dir.path());
        let last = append_twenty(&wal).await;
        wal.release_through(last);
        let kept = files_ending(dir.path(), "spare").len();
        assert!(kept >= 4, "16KiB segments rotate: {kept} spares");

        assert_eq!(wal.disk_low(true), kept);
        assert!(files_ending(dir.path(), "spare").is_empty());
        assert!(files_ending(dir.path(), "released").is_empty());
        let last = append_twenty(&wal).await;
        assert!(wal.release_through(last) >= 4, "rotations made new files");
        assert!(files_ending(dir.path(), "spare").is_empty(), "none kept");
        assert_eq!(wal.disk_low(true), 0);

        assert_eq!(wal.disk_low(false), 0);
        let last = append_twenty(&wal).await;
        wal.release_through(last);
        assert!(files_ending(dir.path(), "spare").len() >= 4, "kept again");
        let seqs: Vec<u64> = read_all(dir.path()).iter().map(|r| r.seq).collect();
        assert_eq!(seqs.last(), Some(&last), "the active segment reads");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_spare_left_by_an_earlier_run_is_made_ready_and_written_over() {
        for recycle in [1, 0] {
            let dir = tempfile::tempdir().expect("tempdir");
            // A segment renamed to a spare and never made ready (a crash
            // between the two): it still starts with its old records.
            let old = {
                let (tx, _rx) = std::sync::mpsc::channel();
                let wal = Wal::start(
                    dir.path(),
                    &config(ByteSize::mib(1), ByteSize::mib(64)),
                    1,
                    vec![],
                    Recorder(tx),
                )
                .expect("start");
                append_twenty(&wal).await;
                list_segments(dir.path()).expect("list").remove(0)
            };
            std::fs::rename(&old, spare_path(&old)).expect("rename");

            let config = WalConfig {
                recycle_segments: recycle,
                ..config(ByteSize::mib(1), ByteSize::mib(64))
            };
            let (tx, _rx) = std::sync::mpsc::channel();
            let wal = Wal::start(dir.path(), &config, 100, vec![], Recorder(tx)).expect("start");
            assert!(
                files_ending(dir.path(), "spare").is_empty(),
                "recycle {recycle}"
            );
            let body = Bytes::from(vec![3u8; 10]);
            wal.append(Tenant::default(), Signal::Logs, 1, body, 0)
                .await
                .expect("append");
            let seqs: Vec<u64> = read_all(dir.path()).iter().map(|r| r.seq).collect();
            assert_eq!(seqs, [100], "recycle {recycle}");
            let size = std::fs::metadata(segment_path(dir.path(), 100))
                .expect("stat")
                .len();
            assert_eq!(
                size > 80_000,
                recycle == 1,
                "recycle {recycle}: {size} bytes"
            );
        }
    }

    #[test]
    fn a_cut_back_frees_a_chunk_at_a_time_and_leaves_at_most_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("wal-00000000000000000001.released");
        std::fs::write(&path, vec![7u8; 10_000]).expect("write");
        let release = Release {
            chunk: 4096,
            pause: std::time::Duration::ZERO,
        };
        assert_eq!(release.cut_back(&path).expect("cut"), 2);
        assert_eq!(
            std::fs::metadata(&path).expect("stat").len(),
            10_000 - 2 * 4096
        );
        let at_once = Release {
            chunk: 0,
            ..release
        };
        assert_eq!(at_once.cut_back(&path).expect("cut"), 0);
        assert_eq!(
            std::fs::metadata(&path).expect("stat").len(),
            10_000 - 2 * 4096
        );
    }

    #[test]
    fn released_and_new_segments_left_by_a_crash_are_deleted_at_start() {
        let dir = tempfile::tempdir().expect("tempdir");
        let leftover = released_path(&dir.path().join(segment_file_name(1)));
        std::fs::write(&leftover, b"SLUWAL01 and a torn record").expect("write");
        // Killed between creating a new segment and writing its magic.
        let new = segment_path(dir.path(), 7).with_extension("new");
        std::fs::write(&new, b"").expect("write");
        let (wal, _rx) = start_empty(dir.path(), ByteSize::kib(16), ByteSize::mib(64));
        assert!(!leftover.exists());
        assert!(!new.exists());
        assert_eq!(list_segments(dir.path()).expect("list").len(), 1);
        drop(wal);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_full_wal_refuses_until_segments_are_released() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (wal, _rx) = start_empty(dir.path(), ByteSize::kib(16), ByteSize::kib(40));
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
