//! The write-ahead log: what makes an acknowledgement mean "durable".
//!
//! A receiver's validated request is appended here before it is acknowledged;
//! after a crash, the records not yet in Parquet files are replayed. This module
//! holds the on-disk format: segments of checksummed records ([`record`]), and
//! the reader that recovers every good record of a segment whose tail was torn
//! by a crash or corrupted on disk ([`segment`]).
//!
//! # Format
//!
//! A segment is `wal-<first seq, 20 digits>.log`: an 8-byte magic, then records,
//! then an end marker. A record is a 16-byte header (payload length `u32`,
//! CRC-32 of sequence number and payload `u32`, sequence number `u64`, all
//! little-endian) and its payload, never empty. The end marker is a header
//! with no payload and the next sequence number, checksummed the same way; a
//! segment with no record yet has a header of zeros right after its magic.
//! What follows either (in a segment written over a spare, the spare's old
//! records; written with `wal.direct_io`, zeros to the end of a 4 KiB block)
//! is not read; zeros anywhere else are damage. Sequence numbers
//! increase by one across segments, so a gap or a step back is as much a sign
//! of damage as a checksum mismatch.
//!
//! # Durability
//!
//! Records are written whole and synced per the configured policy before the
//! requests they carry are acknowledged. A segment is never appended to after a
//! restart: recovery reads it, and a new segment takes new records. A new
//! segment is written as `wal-<first seq>.new` and renamed in once it holds
//! its magic, so a crash never leaves a segment without one. A segment is
//! taken out of the WAL once everything in it is in durable Parquet files.
//! Up to `wal.recycle_segments` are kept as spares: renamed to
//! `wal-<first seq>.spare`, their start overwritten with the magic and a
//! header of zeros, and synced; a later rotation renames one back in as the
//! new segment and writes over it, so that its syncs write only data. The
//! others are deleted: renamed to `wal-<first seq>.released`, cut back a chunk
//! at a time, then unlinked; so are the spares while free disk is below the
//! watermark. Recovery reads only `.log` files; the next start takes up the
//! spares and deletes the `.released` and `.new` files a crash left behind.

mod config;
mod log;
pub mod record;
pub mod segment;
mod writer;

pub use config::{FsyncPolicy, WalConfig};
pub use log::{CommitSink, Release, Wal, WalAppend, WalError};
pub use record::{RecordError, WalRecord};
pub use segment::{
    RecoveredSegment, SegmentReader, SegmentWriter, WriteMode, list_segments, segment_file_name,
};
