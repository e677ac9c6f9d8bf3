//! WAL segment files: written append-only by one writer, read back whole at
//! recovery, keeping every record before the first sign of damage.
//!
//! A segment file is either new, or a recycled one: a released segment kept
//! as a spare (`wal-<seq>.spare`) and written over from the start, so that its
//! syncs write only data, never the blocks and sizes a growing file needs.
//! A recycled file still holds its old records past the new ones, so every
//! group is followed by an [`end_marker`] naming the next sequence number,
//! which the next group overwrites.
//!
//! The writer writes either through the page cache or, with
//! `wal.direct_io`, straight to the disk (`O_DIRECT`), block by block: the
//! records of a group are copied into a block-aligned buffer after the
//! segment's last partial block, which the write rewrites, and the rest of
//! the last block is zeros (after the end marker, so never read). The kernel
//! then copies nothing into the page cache, which took most of the WAL
//! thread's time (`benches/RESULTS.md`, sixteenth session).

use std::fs::{File, OpenOptions};
use std::io::{IoSlice, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::record::{HEADER_LEN, RecordError, WalRecord, end_marker};

/// The first bytes of every segment.
pub const MAGIC: &[u8; 8] = b"SLUWAL01";

/// The first header of a segment that holds no record yet: zeros, right after
/// the magic. Anything after it is left over from the file's previous use.
/// Only there is a run of zeros an end; a disk zeroes whole blocks, so one
/// that zeroed this header would have zeroed the magic too.
pub const BLANK: [u8; HEADER_LEN] = [0; HEADER_LEN];

/// The name a released segment takes while it waits to be reused. Recovery
/// reads only `.log` files.
pub fn spare_path(segment: &Path) -> PathBuf {
    segment.with_extension(SPARE_EXTENSION)
}

pub(super) const SPARE_EXTENSION: &str = "spare";

/// The extension of a new segment until it is renamed into the WAL; one a
/// crash left behind holds no record.
pub(super) const NEW_EXTENSION: &str = "new";

/// Makes the file at `path` an empty segment: the magic and a [`BLANK`] at its
/// start, synced. Whatever it held after them stays, unread.
pub fn prepare_spare(path: &Path) -> std::io::Result<()> {
    let file = OpenOptions::new().write(true).open(path)?;
    let mut start = [0u8; MAGIC.len() + HEADER_LEN];
    start[..MAGIC.len()].copy_from_slice(MAGIC);
    file.write_all_at(&start, 0)?;
    file.sync_data()
}

/// `path` opened for buffered writes at `len`.
fn open_at(path: &Path, len: u64) -> std::io::Result<File> {
    let mut file = OpenOptions::new().write(true).open(path)?;
    file.seek(SeekFrom::Start(len))?;
    Ok(file)
}

/// Logs that the file system refused direct writes to `path`.
fn refused_direct(path: &Path, error: &std::io::Error) {
    tracing::warn!(
        path = %path.display(),
        %error,
        "the file system refuses direct writes (wal.direct_io); this segment is written through the page cache"
    );
}

/// The file name of the segment whose first record is `first_seq`.
pub fn segment_file_name(first_seq: u64) -> String {
    format!("wal-{first_seq:020}.log")
}

/// The first sequence number of a segment, from its file name.
pub fn first_seq_of(path: &Path) -> Option<u64> {
    let name = path.file_name()?.to_str()?;
    name.strip_prefix("wal-")?
        .strip_suffix(".log")?
        .parse()
        .ok()
}

/// How a segment's writes reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// Through the page cache; the sync writes it back.
    Buffered,
    /// Straight to the disk (`O_DIRECT`) in whole aligned blocks; the sync
    /// flushes the disk's cache. Where the file system refuses it, the
    /// segment is written buffered instead (with a warning).
    Direct,
}

/// The alignment of direct writes, in memory, in the file and in length: the
/// largest logical block size of common disks (512 B or 4 KiB).
pub(crate) const DIRECT_ALIGN: usize = 4096;

/// Whether the file system of `dir` takes direct writes: a block written to
/// a probe file with `O_DIRECT`, as a segment or a Parquet file would be;
/// the tests of both require the direct path kept where it does.
#[cfg(test)]
pub(crate) fn takes_direct_writes(dir: &Path) -> bool {
    let probe = dir.join("direct-probe");
    let taken = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(libc::O_DIRECT)
        .open(&probe)
        .and_then(|file| {
            let mut buffer = DirectBuffer::new(&[]);
            file.write_all_at(buffer.holding(&[7; 10]), 0)
        })
        .is_ok();
    let _ = std::fs::remove_file(&probe);
    taken
}

/// An open segment taking new records.
#[derive(Debug)]
pub struct SegmentWriter {
    file: File,
    path: PathBuf,
    first_seq: u64,
    len: u64,
    /// Set while the segment is written directly.
    direct: Option<DirectBuffer>,
}

/// The block-aligned buffer of a file written directly. A segment's front
/// holds the segment's last partial block (from the block's start to the
/// segment's end), which the next write rewrites with the new records; it
/// grows to at most twice the largest group written (the writer's group
/// limit, plus one request past it) and is freed with the segment. A
/// Parquet file's ([`holding`](Self::holding)) holds the whole file, and
/// the buffer, kept by its writer from file to file, grows to at most twice
/// the largest.
#[derive(Debug)]
pub(crate) struct DirectBuffer {
    /// Aligned from `start` on.
    bytes: Vec<u8>,
    start: usize,
    /// Bytes of the partial block at the front.
    tail: usize,
}

impl DirectBuffer {
    /// A buffer whose front holds `tail`, the start of the segment's last
    /// block (nothing for a whole file).
    pub(crate) fn new(tail: &[u8]) -> Self {
        let mut buffer = Self {
            bytes: Vec::new(),
            start: 0,
            tail: 0,
        };
        buffer.reserve(DIRECT_ALIGN);
        buffer.aligned(tail.len()).copy_from_slice(tail);
        buffer.tail = tail.len();
        buffer
    }

    /// The first `len` aligned bytes.
    fn aligned(&mut self, len: usize) -> &mut [u8] {
        &mut self.bytes[self.start..self.start + len]
    }

    /// `data`, a whole file, in whole aligned blocks, zeros to the end of
    /// the last: what a direct write of the file takes.
    pub(crate) fn holding(&mut self, data: &[u8]) -> &[u8] {
        debug_assert_eq!(self.tail, 0, "a whole file's buffer keeps no block");
        let len = data.len().next_multiple_of(DIRECT_ALIGN);
        self.reserve(len);
        let blocks = self.aligned(len);
        blocks[..data.len()].copy_from_slice(data);
        blocks[data.len()..].fill(0);
        blocks
    }

    /// Writes `parts` and `end` after the `len` bytes `file` holds: from the
    /// start of its last partial block, whose bytes are at the front, to the
    /// end of a block, zeros after `end`, in one write. The new last partial
    /// block then moves to the front.
    fn write(
        &mut self,
        file: &File,
        len: u64,
        parts: &[IoSlice<'_>],
        end: &[u8; HEADER_LEN],
    ) -> std::io::Result<()> {
        let tail = self.tail;
        let total: usize = parts.iter().map(|p| p.len()).sum();
        let used = tail + total + end.len();
        let blocks = used.next_multiple_of(DIRECT_ALIGN);
        self.reserve(blocks);
        let aligned = self.aligned(blocks);
        let mut at = tail;
        for part in parts.iter().map(|p| &p[..]).chain([&end[..]]) {
            aligned[at..at + part.len()].copy_from_slice(part);
            at += part.len();
        }
        aligned[used..].fill(0);
        file.write_all_at(aligned, len - tail as u64)?;
        let new_tail = ((len + total as u64) % DIRECT_ALIGN as u64) as usize;
        let from = tail + total - new_tail;
        aligned.copy_within(from..from + new_tail, 0);
        self.tail = new_tail;
        Ok(())
    }

    /// Makes room for `len` aligned bytes, keeping the partial block; the
    /// room at least doubles, so that groups growing a little at a time do
    /// not each cost a new buffer.
    fn reserve(&mut self, len: usize) {
        let room = self.bytes.len() - self.start;
        if room >= len {
            return;
        }
        let mut bytes = vec![0u8; len.max(2 * room) + DIRECT_ALIGN];
        let start = bytes.as_ptr().align_offset(DIRECT_ALIGN);
        bytes[start..start + self.tail]
            .copy_from_slice(&self.bytes[self.start..self.start + self.tail]);
        self.bytes = bytes;
        self.start = start;
    }
}

impl SegmentWriter {
    /// Creates a new segment in `dir` for records from `first_seq` on, and
    /// makes its name durable (the directory is synced). The file is written
    /// under a name recovery does not read (`wal-<seq>.new`) and renamed into
    /// the WAL once it starts with the magic and a [`BLANK`], so that a crash
    /// never leaves a segment without its magic for recovery to take as
    /// damage. Fails if the segment exists.
    pub fn create(dir: &Path, first_seq: u64, mode: WriteMode) -> std::io::Result<Self> {
        let path = dir.join(segment_file_name(first_seq));
        if path.exists() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("{} exists", path.display()),
            ));
        }
        let new = path.with_extension(NEW_EXTENSION);
        let mut file = File::create(&new)?;
        file.write_all(MAGIC)?;
        file.write_all(&BLANK)?;
        file.sync_all()?;
        Self::reuse(dir, &new, first_seq, mode)
    }

    /// Takes the spare at `spare` (made ready by [`prepare_spare`], or new) as
    /// the segment for records from `first_seq` on: renames it into the WAL
    /// and makes the name durable.
    pub fn reuse(
        dir: &Path,
        spare: &Path,
        first_seq: u64,
        mode: WriteMode,
    ) -> std::io::Result<Self> {
        let path = dir.join(segment_file_name(first_seq));
        std::fs::rename(spare, &path)?;
        File::open(dir)?.sync_all()?;
        let len = MAGIC.len() as u64;
        let direct = match mode {
            WriteMode::Direct => match OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_DIRECT)
                .open(&path)
            {
                Ok(file) => Some(file),
                Err(error) if error.raw_os_error() == Some(libc::EINVAL) => {
                    refused_direct(&path, &error);
                    None
                }
                Err(error) => return Err(error),
            },
            WriteMode::Buffered => None,
        };
        let (file, direct) = match direct {
            Some(file) => (file, Some(DirectBuffer::new(MAGIC))),
            None => (open_at(&path, len)?, None),
        };
        Ok(Self {
            file,
            path,
            first_seq,
            len,
            direct,
        })
    }

    /// Whether the segment is written straight to the disk.
    pub fn is_direct(&self) -> bool {
        self.direct.is_some()
    }

    /// Appends the concatenation of `parts` (the encoded records of a group,
    /// in pieces), followed by `end` (the [`end_marker`] of the sequence
    /// number after the group) for the next group to overwrite, with as few
    /// vectored writes as the system takes. Not durable until
    /// [`sync`](Self::sync).
    pub fn append_parts<'a>(
        &mut self,
        parts: &mut Vec<IoSlice<'a>>,
        end: &'a [u8; HEADER_LEN],
    ) -> std::io::Result<()> {
        let total: usize = parts.iter().map(|p| p.len()).sum();
        if let Some(buffer) = &mut self.direct {
            match buffer.write(&self.file, self.len, parts, end) {
                Ok(()) => {
                    self.len += total as u64;
                    return Ok(());
                }
                Err(error) if error.raw_os_error() == Some(libc::EINVAL) => {
                    // Refused before anything was written: the file system
                    // takes the flag but not the writes.
                    refused_direct(&self.path, &error);
                    self.direct = None;
                    self.file = open_at(&self.path, self.len)?;
                }
                Err(error) => return Err(error),
            }
        }
        parts.push(IoSlice::new(end));
        let mut parts = &mut parts[..];
        // Leaves out the empty parts in front (a write of those returns 0).
        IoSlice::advance_slices(&mut parts, 0);
        while !parts.is_empty() {
            match self.file.write_vectored(parts) {
                Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                Ok(written) => IoSlice::advance_slices(&mut parts, written),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.len += total as u64;
        self.file.seek(SeekFrom::Start(self.len))?;
        Ok(())
    }

    /// Makes everything appended so far durable.
    pub fn sync(&mut self) -> std::io::Result<()> {
        self.file.sync_data()
    }

    /// Cuts the file back to `len` bytes (dropping a partly written group).
    /// Nothing is appended to the segment after: the WAL writer moves to a
    /// new one.
    pub fn truncate(&mut self, len: u64) -> std::io::Result<()> {
        self.file.set_len(len)?;
        self.len = len;
        self.file.sync_all()
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len <= MAGIC.len() as u64
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn first_seq(&self) -> u64 {
        self.first_seq
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

/// What recovery found in one segment.
#[derive(Debug)]
pub struct RecoveredSegment {
    pub path: PathBuf,
    /// Every record before the first damage, in order.
    pub records: Vec<WalRecord>,
    /// Bytes of the file that held good records (magic included).
    pub good_bytes: u64,
    /// Bytes after them that were skipped, and why; `None` for a clean segment.
    pub damage: Option<(u64, RecordError)>,
}

/// Reads segments at recovery.
#[derive(Debug, Clone, Copy)]
pub struct SegmentReader {
    /// The largest payload a record header may claim; anything above is damage.
    pub max_record_bytes: usize,
}

impl SegmentReader {
    /// Reads `path`, keeping every good record up to the first damaged one (a
    /// torn write, flipped bits, a sequence gap). A missing or damaged magic
    /// means no record is trusted.
    pub fn read(&self, path: &Path) -> std::io::Result<RecoveredSegment> {
        let mut bytes = Vec::new();
        File::open(path)?.read_to_end(&mut bytes)?;
        let mut recovered = RecoveredSegment {
            path: path.to_path_buf(),
            records: Vec::new(),
            good_bytes: 0,
            damage: None,
        };
        if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
            let available = bytes.len();
            recovered.damage = Some((
                available as u64,
                RecordError::Malformed("segment does not start with the WAL magic"),
            ));
            return Ok(recovered);
        }
        let mut offset = MAGIC.len();
        let mut expected_seq = first_seq_of(path);
        while offset < bytes.len() {
            let rest = &bytes[offset..];
            let blank = offset == MAGIC.len() && rest.starts_with(&BLANK);
            let ended = expected_seq.is_some_and(|s| rest.starts_with(&end_marker(s)));
            if blank || ended {
                // What follows is not this segment's.
                break;
            }
            match WalRecord::decode(&bytes[offset..], self.max_record_bytes) {
                Ok((record, used)) => {
                    if expected_seq.is_some_and(|s| s != record.seq) {
                        let skipped = (bytes.len() - offset) as u64;
                        recovered.damage = Some((
                            skipped,
                            RecordError::Malformed("sequence number out of order"),
                        ));
                        break;
                    }
                    expected_seq = Some(record.seq + 1);
                    recovered.records.push(record);
                    offset += used;
                }
                Err(error) => {
                    recovered.damage = Some(((bytes.len() - offset) as u64, error));
                    break;
                }
            }
        }
        recovered.good_bytes = offset as u64;
        Ok(recovered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{Bytes, BytesMut};
    use sluice_model::Signal;

    fn records(first: u64, n: u64) -> Vec<WalRecord> {
        (first..first + n)
            .map(|seq| WalRecord {
                seq,
                tenant: sluice_model::Tenant::default(),
                signal: Signal::Traces,
                shards: 2,
                body: Bytes::from(vec![seq as u8; (seq % 50) as usize]),
            })
            .collect()
    }

    /// Writes `records` as the WAL writer does: their heads and bodies in
    /// parts (an empty body is an empty part).
    fn write_segment(dir: &Path, records: &[WalRecord]) -> PathBuf {
        let mut writer =
            SegmentWriter::create(dir, records[0].seq, WriteMode::Buffered).expect("create");
        let heads: Vec<BytesMut> = records
            .iter()
            .map(|r| {
                let mut head = BytesMut::new();
                r.encode_head_into(&mut head);
                head
            })
            .collect();
        let mut parts: Vec<IoSlice> = heads
            .iter()
            .zip(records)
            .flat_map(|(head, r)| [IoSlice::new(head), IoSlice::new(&r.body)])
            .collect();
        let end = end_marker(records[records.len() - 1].seq + 1);
        writer.append_parts(&mut parts, &end).expect("append");
        writer.sync().expect("sync");
        let on_disk = std::fs::metadata(writer.path()).expect("stat").len();
        assert_eq!(writer.len() + HEADER_LEN as u64, on_disk);
        writer.path().to_path_buf()
    }

    const READER: SegmentReader = SegmentReader {
        max_record_bytes: 1 << 20,
    };

    #[test]
    fn records_in_one_buffer_read_back_as_records_in_parts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let written = records(7, 30);
        let mut writer = SegmentWriter::create(dir.path(), 7, WriteMode::Buffered).expect("create");
        let mut buf = BytesMut::new();
        for r in &written {
            r.encode_into(&mut buf);
        }
        writer
            .append_parts(&mut vec![IoSlice::new(&buf)], &end_marker(37))
            .expect("append");
        writer.sync().expect("sync");
        let whole = std::fs::read(writer.path()).expect("read");
        let other = tempfile::tempdir().expect("tempdir");
        let in_parts = std::fs::read(write_segment(other.path(), &written)).expect("read");
        assert_eq!(whole, in_parts);
    }

    #[test]
    fn a_group_of_more_parts_than_one_write_takes_reads_back_whole() {
        // Linux takes at most 1024 parts per write: 3000 need several.
        let dir = tempfile::tempdir().expect("tempdir");
        let written = records(1, 1500);
        let path = write_segment(dir.path(), &written);
        let recovered = READER.read(&path).expect("read");
        assert_eq!(recovered.records, written);
        assert!(recovered.damage.is_none());
    }

    #[test]
    fn a_clean_segment_reads_back_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let written = records(100, 20);
        let path = write_segment(dir.path(), &written);
        assert_eq!(first_seq_of(&path), Some(100));
        let recovered = READER.read(&path).expect("read");
        assert_eq!(recovered.records, written);
        assert!(recovered.damage.is_none());
        assert_eq!(
            recovered.good_bytes + HEADER_LEN as u64,
            std::fs::metadata(&path).expect("stat").len()
        );
    }

    #[test]
    fn a_torn_tail_keeps_every_record_before_the_cut() {
        let dir = tempfile::tempdir().expect("tempdir");
        let written = records(0, 12);
        let path = write_segment(dir.path(), &written);
        let full = std::fs::read(&path).expect("read");
        // Where each record ends.
        let mut ends = Vec::new();
        let mut end = MAGIC.len();
        for r in &written {
            end += r.encoded_len();
            ends.push(end);
        }
        for cut in MAGIC.len()..full.len() {
            std::fs::write(&path, &full[..cut]).expect("truncate");
            let recovered = READER.read(&path).expect("read");
            let whole = ends.iter().filter(|e| **e <= cut).count();
            assert_eq!(recovered.records, written[..whole], "cut at {cut}");
            let at_boundary = cut == MAGIC.len() || ends.contains(&cut);
            assert_eq!(recovered.damage.is_some(), !at_boundary, "cut at {cut}");
        }
    }

    #[test]
    fn a_new_segment_appears_under_its_name_only_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let writer = SegmentWriter::create(dir.path(), 5, WriteMode::Buffered).expect("create");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("read dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, [segment_file_name(5).as_str()]);
        let bytes = std::fs::read(writer.path()).expect("read");
        assert_eq!(&bytes[..MAGIC.len()], MAGIC);
        assert_eq!(bytes[MAGIC.len()..], BLANK);
        let again = SegmentWriter::create(dir.path(), 5, WriteMode::Buffered).expect_err("exists");
        assert_eq!(again.kind(), std::io::ErrorKind::AlreadyExists);
    }

    #[test]
    fn a_recycled_segment_reads_back_only_its_new_records() {
        for mode in [WriteMode::Buffered, WriteMode::Direct] {
            a_recycled_segment_written(mode);
        }
    }

    fn a_recycled_segment_written(mode: WriteMode) {
        let dir = tempfile::tempdir().expect("tempdir");
        let old = write_segment(dir.path(), &records(1, 200));
        let size = std::fs::metadata(&old).expect("stat").len();
        let spare = spare_path(&old);
        std::fs::rename(&old, &spare).expect("rename");
        prepare_spare(&spare).expect("prepare");

        let mut writer = SegmentWriter::reuse(dir.path(), &spare, 201, mode).expect("reuse");
        let direct = mode == WriteMode::Direct && takes_direct_writes(dir.path());
        assert_eq!(writer.is_direct(), direct);
        assert!(!spare.exists());
        let empty = READER.read(writer.path()).expect("read");
        assert!(empty.records.is_empty());
        assert!(empty.damage.is_none(), "{:?}", empty.damage);

        // Two groups: the second overwrites the end marker the first left.
        let written = records(201, 6);
        for group in written.chunks(3) {
            let mut buf = BytesMut::new();
            for r in group {
                r.encode_into(&mut buf);
            }
            let end = end_marker(group[group.len() - 1].seq + 1);
            writer
                .append_parts(&mut vec![IoSlice::new(&buf)], &end)
                .expect("append");
        }
        writer.sync().expect("sync");
        let recovered = READER.read(writer.path()).expect("read");
        assert_eq!(recovered.records, written);
        assert!(recovered.damage.is_none(), "{:?}", recovered.damage);
        let reused_size = std::fs::metadata(writer.path()).expect("stat").len();
        assert_eq!(reused_size, size, "{mode:?}: written over, not grown");
    }

    /// Writes `groups` (of body sizes) as consecutive records from `first`
    /// on, a group at a time, to a new segment in `dir` in `mode`.
    fn write_groups(
        dir: &Path,
        first: u64,
        groups: &[Vec<usize>],
        mode: WriteMode,
    ) -> (SegmentWriter, Vec<WalRecord>) {
        let mut writer = SegmentWriter::create(dir, first, mode).expect("create");
        let mut written = Vec::new();
        for sizes in groups {
            let mut buf = BytesMut::new();
            for size in sizes {
                let seq = first + written.len() as u64;
                let record = WalRecord {
                    seq,
                    tenant: sluice_model::Tenant::default(),
                    signal: Signal::Logs,
                    shards: 1,
                    body: Bytes::from(vec![seq as u8 | 1; *size]),
                };
                record.encode_into(&mut buf);
                written.push(record);
            }
            let end = end_marker(first + written.len() as u64);
            writer
                .append_parts(&mut vec![IoSlice::new(&buf)], &end)
                .expect("append");
        }
        writer.sync().expect("sync");
        (writer, written)
    }

    proptest::proptest! {
        /// A segment written directly holds the bytes a buffered one does,
        /// then zeros to the end of its last block; it reads back whole.
        /// Groups of records with bodies within a block, across one and
        /// across several. Where the temporary directory's file system
        /// refuses direct writes (a probe file tells), the segment falls
        /// back to buffered writes and holds exactly the buffered bytes.
        #[test]
        fn direct_writes_leave_the_bytes_buffered_writes_leave(
            groups in proptest::collection::vec(
                proptest::collection::vec(1usize..9_000, 1..5),
                1..8,
            ),
        ) {
            let (direct_dir, buffered_dir) = (
                tempfile::tempdir().expect("tempdir"),
                tempfile::tempdir().expect("tempdir"),
            );
            let (direct, written) = write_groups(direct_dir.path(), 3, &groups, WriteMode::Direct);
            let (buffered, _) = write_groups(buffered_dir.path(), 3, &groups, WriteMode::Buffered);
            proptest::prop_assert_eq!(direct.is_direct(), takes_direct_writes(direct_dir.path()));
            proptest::prop_assert_eq!(direct.len(), buffered.len());
            let direct_bytes = std::fs::read(direct.path()).expect("read");
            let buffered_bytes = std::fs::read(buffered.path()).expect("read");
            let blocks = match direct.is_direct() {
                true => buffered_bytes.len().next_multiple_of(DIRECT_ALIGN),
                false => buffered_bytes.len(),
            };
            proptest::prop_assert_eq!(direct_bytes.len(), blocks);
            proptest::prop_assert_eq!(
                &direct_bytes[..buffered_bytes.len()],
                &buffered_bytes[..]
            );
            proptest::prop_assert!(direct_bytes[buffered_bytes.len()..].iter().all(|b| *b == 0));
            let recovered = READER.read(direct.path()).expect("read");
            proptest::prop_assert_eq!(recovered.records, written);
            proptest::prop_assert!(recovered.damage.is_none());
        }
    }

    #[test]
    fn zeros_where_a_record_should_be_are_damage_not_an_end() {
        let dir = tempfile::tempdir().expect("tempdir");
        let written = records(1, 10);
        let path = write_segment(dir.path(), &written);
        let mut bytes = std::fs::read(&path).expect("read");
        let fourth = MAGIC.len()
            + written[..3]
                .iter()
                .map(WalRecord::encoded_len)
                .sum::<usize>();
        bytes[fourth..fourth + HEADER_LEN].fill(0);
        std::fs::write(&path, &bytes).expect("write");
        let recovered = READER.read(&path).expect("read");
        assert_eq!(recovered.records, written[..3]);
        assert!(
            recovered.damage.is_some(),
            "a zeroed header hides 7 records"
        );

        // An end marker for any other sequence number is no end either.
        let mut bytes = std::fs::read(&path).expect("read");
        bytes[fourth..fourth + HEADER_LEN].copy_from_slice(&end_marker(5));
        std::fs::write(&path, &bytes).expect("write");
        assert!(READER.read(&path).expect("read").damage.is_some());
        bytes[fourth..fourth + HEADER_LEN].copy_from_slice(&end_marker(4));
        std::fs::write(&path, &bytes).expect("write");
        let ended = READER.read(&path).expect("read");
        assert_eq!(ended.records, written[..3]);
        assert!(ended.damage.is_none(), "{:?}", ended.damage);
    }

    #[test]
    fn flipped_bytes_keep_every_record_before_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let written = records(7, 10);
        let path = write_segment(dir.path(), &written);
        let full = std::fs::read(&path).expect("read");
        let mut start = MAGIC.len();
        for (i, r) in written.iter().enumerate() {
            for offset in [start, start + 5, start + r.encoded_len() - 1] {
                let mut damaged = full.clone();
                damaged[offset] ^= 0x40;
                std::fs::write(&path, &damaged).expect("write");
                let recovered = READER.read(&path).expect("read");
                assert_eq!(
                    recovered.records,
                    written[..i],
                    "damage in record {i} at {offset}"
                );
                assert!(recovered.damage.is_some());
            }
            start += r.encoded_len();
        }
        let mut no_magic = full.clone();
        no_magic[0] = b'X';
        std::fs::write(&path, &no_magic).expect("write");
        assert!(READER.read(&path).expect("read").records.is_empty());
    }
}
