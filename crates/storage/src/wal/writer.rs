//! The WAL writer thread: turns the queued appends into group commits.

use std::io::IoSlice;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{Ordering, fence};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use crossbeam_channel::{Receiver, TryRecvError};

use super::config::{FsyncPolicy, WalConfig};
use super::log::{CommitSink, SegmentEntry, Shared, WalAppend, WalError, open_segment};
use super::record::{HEADER_LEN, WalRecord, end_marker};
use super::segment::{SegmentWriter, WriteMode};
use crate::metrics;

/// Records committed in one group at most.
const MAX_GROUP_RECORDS: usize = 1024;
/// Bytes committed in one group at most.
const MAX_GROUP_BYTES: usize = 4 << 20;
/// How long the idle writer sleeps before it looks at the queue again
/// unwoken (see [`Writer::next`]). Under test, an hour: a missed wake-up
/// then fails the WAL's tests instead of costing 100 ms.
const IDLE_RECHECK: Duration = if cfg!(test) {
    Duration::from_secs(3600)
} else {
    Duration::from_millis(100)
};

pub(super) struct Writer {
    dir: PathBuf,
    config: WalConfig,
    segment: SegmentWriter,
    next_seq: u64,
    last_sync: Instant,
    shared: Arc<Shared>,
    /// The heads of the records of a group (see [`WalRecord::encode_head_into`]).
    heads: BytesMut,
    /// A write failed and the segment could not be replaced yet: the next group
    /// must start a new segment first.
    needs_rotation: bool,
}

impl Writer {
    pub(super) fn new(
        dir: PathBuf,
        config: WalConfig,
        segment: SegmentWriter,
        next_seq: u64,
        shared: Arc<Shared>,
    ) -> Self {
        Self {
            dir,
            config,
            segment,
            next_seq,
            last_sync: Instant::now(),
            shared,
            heads: BytesMut::new(),
            needs_rotation: false,
        }
    }

    pub(super) fn run<T>(mut self, queue: Receiver<WalAppend<T>>, mut sink: impl CommitSink<T>) {
        while let Some(first) = self.next(&queue) {
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

    /// The next append, waiting for one while none is queued; `None` once
    /// every sender is gone and the queue is drained.
    ///
    /// It waits by parking the thread until an appender wakes it
    /// ([`Shared::wake_writer`]), not in the channel's blocking `recv`: that
    /// spins, then yields the core four times before it sleeps, and a thread
    /// that yielded to a busy shard is not woken when an append arrives (it
    /// is not asleep): it waits for the shard's turn to end, up to a
    /// scheduler tick (4 ms at 250 Hz). Measured in `benches/RESULTS.md`
    /// (ninth session).
    fn next<T>(&self, queue: &Receiver<WalAppend<T>>) -> Option<WalAppend<T>> {
        loop {
            match queue.try_recv() {
                Ok(append) => return Some(append),
                Err(TryRecvError::Disconnected) => return None,
                Err(TryRecvError::Empty) => {}
            }
            self.shared.writer_idle.store(true, Ordering::SeqCst);
            fence(Ordering::SeqCst);
            // An append queued before the flag could be seen is found by this
            // second look; one queued after it wakes the thread. The timeout
            // only bounds the cost of a wake-up this reasoning missed.
            if queue.is_empty() {
                std::thread::park_timeout(IDLE_RECHECK);
            }
            self.shared.writer_idle.store(false, Ordering::SeqCst);
        }
    }

    fn commit<T>(&mut self, group: Vec<WalAppend<T>>, sink: &mut impl CommitSink<T>) {
        let first_seq = self.next_seq;
        // The records' heads go into one buffer, reused from group to group;
        // the bodies are written from where they are, each after its head,
        // in one vectored write.
        let mut heads = std::mem::take(&mut self.heads);
        heads.clear();
        let mut head_ends = Vec::with_capacity(group.len());
        for (i, append) in group.iter().enumerate() {
            let record = WalRecord {
                seq: first_seq + i as u64,
                tenant: append.tenant.clone(),
                signal: append.signal,
                shards: append.shards,
                body: append.body.clone(),
            };
            record.encode_head_into(&mut heads);
            head_ends.push(heads.len());
        }
        let end = end_marker(first_seq + group.len() as u64);
        // A head and a body per record, and room for the end marker.
        let mut parts = Vec::with_capacity(2 * group.len() + 1);
        let mut head_start = 0;
        for (append, head_end) in group.iter().zip(head_ends) {
            parts.push(IoSlice::new(&heads[head_start..head_end]));
            parts.push(IoSlice::new(&append.body));
            head_start = head_end;
        }
        let written = self.write_group(first_seq, &mut parts, &end);
        drop(parts);
        self.heads = heads;
        if let Err(error) = written {
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

    /// Writes the encoded group (`parts`, used up) and its `end` marker, and
    /// syncs per policy; on failure, cuts the segment back and moves to a
    /// fresh one starting at `first_seq`.
    fn write_group<'a>(
        &mut self,
        first_seq: u64,
        parts: &mut Vec<IoSlice<'a>>,
        end: &'a [u8; HEADER_LEN],
    ) -> std::io::Result<()> {
        let group_bytes: u64 = parts.iter().map(|p| p.len() as u64).sum();
        if self.needs_rotation {
            self.rotate(first_seq)?;
            self.needs_rotation = false;
        }
        if self.segment.len() + group_bytes > self.config.segment_bytes.as_u64()
            && !self.segment.is_empty()
        {
            self.rotate(first_seq)?;
        }
        let good_len = self.segment.len();
        let result = self
            .segment
            .append_parts(parts, end)
            .and_then(|()| self.sync_per_policy());
        match result {
            Ok(()) => {
                self.shared.bytes.fetch_add(group_bytes, Ordering::AcqRel);
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

    /// Closes the active segment (synced) and opens one for `first_seq` on: a
    /// spare written over when one waits.
    fn rotate(&mut self, first_seq: u64) -> std::io::Result<()> {
        let _ = self.segment.sync();
        // Direct while the file system took the last segment's direct writes.
        let mode = match self.segment.is_direct() {
            true => WriteMode::Direct,
            false => WriteMode::Buffered,
        };
        let segment = open_segment(&self.dir, first_seq, &self.shared, mode).or_else(|_| {
            // A previous failed rotation may have left an empty file behind.
            let _ = std::fs::remove_file(self.dir.join(super::segment_file_name(first_seq)));
            SegmentWriter::create(&self.dir, first_seq, mode)
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
