//! Startup recovery: every record left in the WAL goes to the shards again,
//! which skip what is already in files.

use std::path::{Path, PathBuf};

use sluice_otlp::{BodyEncoding, decode_export};
use sluice_storage::wal::record::HEADER_LEN;
use sluice_storage::wal::segment::first_seq_of;
use sluice_storage::wal::{SegmentReader, list_segments};

use crate::dispatch::{Dispatcher, Routed};
use crate::metrics::{WAL_REPLAYED, WAL_SKIPPED_BYTES};
use crate::route::split;

/// Largest record a segment may claim; a larger length field is damage.
const MAX_RECORD_BYTES: usize = 1 << 30;

/// What is in the WAL directory at startup.
#[derive(Debug, Default)]
pub struct WalScan {
    /// Segment files, oldest first.
    pub segments: Vec<PathBuf>,
    /// The shard count the oldest record was routed with, if any.
    pub shards: Option<usize>,
}

/// Looks at the WAL without replaying it: which segments, which shard count.
pub fn scan(dir: &Path) -> std::io::Result<WalScan> {
    let segments = list_segments(dir)?;
    let reader = SegmentReader {
        max_record_bytes: MAX_RECORD_BYTES,
    };
    let mut shards = None;
    for path in &segments {
        let recovered = reader.read(path)?;
        if let Some(first) = recovered.records.first() {
            shards = Some(usize::from(first.shards));
            break;
        }
    }
    Ok(WalScan { segments, shards })
}

/// What replay did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Replayed {
    pub records: u64,
    /// The highest sequence number found.
    pub last_seq: u64,
    /// The highest sequence number a damaged segment could have held.
    pub reserved_through: u64,
}

impl Replayed {
    /// Where new sequence numbers start: after every number that was or
    /// could have been used.
    pub fn next_seq(&self) -> u64 {
        self.last_seq.max(self.reserved_through) + 1
    }
}

/// Sends every good record of `segments` to the shards, flagged as replay.
///
/// `bytes_per_request_byte` estimates what a record's rows weigh, as admission
/// would have charged them.
pub fn replay(
    segments: &[PathBuf],
    dispatcher: &Dispatcher,
    shards: usize,
    bytes_per_request_byte: u64,
) -> std::io::Result<Replayed> {
    let reader = SegmentReader {
        max_record_bytes: MAX_RECORD_BYTES,
    };
    let mut replayed = Replayed::default();
    for path in segments {
        let recovered = reader.read(path)?;
        if let Some((skipped, error)) = &recovered.damage {
            // The damaged bytes may have held records with higher sequence
            // numbers that reached files before the damage; new records must
            // never reuse those numbers, so skip past the most it could hold.
            let before = recovered.records.last().map_or_else(
                || first_seq_of(path).unwrap_or(1).saturating_sub(1),
                |r| r.seq,
            );
            replayed.reserved_through = replayed
                .reserved_through
                .max(before + skipped / HEADER_LEN as u64 + 1);
            ::metrics::counter!(WAL_SKIPPED_BYTES).increment(*skipped);
            tracing::warn!(segment = %path.display(), good_bytes = recovered.good_bytes, skipped_bytes = skipped, %error, "wal segment damaged; keeping every record before the damage");
        }
        for record in recovered.records {
            replayed.last_seq = replayed.last_seq.max(record.seq);
            let bytes = (record.body.len() as u64).saturating_mul(bytes_per_request_byte);
            let request = decode_export(record.signal, &record.body, BodyEncoding::Protobuf);
            let mut request = match request {
                Ok(request) => request,
                Err(error) => {
                    tracing::error!(seq = record.seq, %error, "wal record does not decode; skipped");
                    continue;
                }
            };
            request.retain_valid();
            let routed_over = if record.shards == 0 {
                shards
            } else {
                usize::from(record.shards)
            };
            let shares = split(request, routed_over)
                .into_iter()
                .map(|(shard, records)| (shard % shards, records))
                .collect();
            let routed = Routed {
                tenant: record.tenant,
                shares,
                charge: None,
                bytes,
            };
            dispatcher.dispatch(record.seq, true, routed);
            replayed.records += 1;
        }
    }
    if replayed.records > 0 {
        dispatcher.mark_committed(replayed.last_seq);
    }
    ::metrics::counter!(WAL_REPLAYED).increment(replayed.records);
    Ok(replayed)
}
