//! One WAL record: an export request with its tenant and routing context.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use sluice_model::{Signal, Tenant};

/// What a record holds: enough to route the request again exactly as it was
/// routed the first time.
#[derive(Debug, Clone, PartialEq)]
pub struct WalRecord {
    pub seq: u64,
    pub tenant: Tenant,
    pub signal: Signal,
    /// Shards the request was routed over, so replay routes it the same way.
    pub shards: u16,
    /// The validated request, protobuf-encoded.
    pub body: Bytes,
}

/// Bytes before a record's payload.
pub const HEADER_LEN: usize = 16;

/// Why a record could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("record truncated: {needed} bytes needed, {available} available")]
    Truncated { needed: usize, available: usize },
    #[error("record checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    Checksum { stored: u32, computed: u32 },
    #[error("record payload is malformed: {0}")]
    Malformed(&'static str),
    #[error("record length {len} is above the limit of {limit}")]
    TooLong { len: usize, limit: usize },
}

fn signal_code(signal: Signal) -> u8 {
    match signal {
        Signal::Traces => 1,
        Signal::Metrics => 2,
        Signal::Logs => 3,
    }
}

fn signal_of(code: u8) -> Option<Signal> {
    match code {
        1 => Some(Signal::Traces),
        2 => Some(Signal::Metrics),
        3 => Some(Signal::Logs),
        _ => None,
    }
}

/// The header that ends a segment's records: no payload, and the sequence
/// number the next record would have, checksummed as a record's is. No record
/// has an empty payload, and a run of zeros is not this header, so zeros where
/// a record should be are still damage.
pub fn end_marker(next_seq: u64) -> [u8; HEADER_LEN] {
    let mut end = [0u8; HEADER_LEN];
    end[4..8].copy_from_slice(&checksum(next_seq, &[]).to_le_bytes());
    end[8..].copy_from_slice(&next_seq.to_le_bytes());
    end
}

/// The checksum of a record: its sequence number and its payload, given in
/// consecutive parts.
fn checksum(seq: u64, payload: &[&[u8]]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&seq.to_le_bytes());
    for part in payload {
        hasher.update(part);
    }
    hasher.finalize()
}

impl WalRecord {
    /// Appends the encoded record (header and payload) to `out`.
    pub fn encode_into(&self, out: &mut BytesMut) {
        self.encode_head_into(out);
        out.put_slice(&self.body);
    }

    /// Appends everything of the encoded record that comes before its body
    /// (the header, the signal, the shards and the tenant) to `out`; the
    /// body follows it unchanged. The WAL writer writes the heads and the
    /// bodies of a group in one vectored write, so bodies are never copied.
    pub fn encode_head_into(&self, out: &mut BytesMut) {
        let tenant = self.tenant.as_str().as_bytes();
        let payload_len = 1 + 2 + 1 + tenant.len() + self.body.len();
        out.reserve(HEADER_LEN + payload_len - self.body.len());
        let start = out.len();
        out.put_u32_le(u32::try_from(payload_len).unwrap_or(u32::MAX));
        // The checksum covers the payload: written in place once the rest of
        // the head is there.
        out.put_u32_le(0);
        out.put_u64_le(self.seq);
        out.put_u8(signal_code(self.signal));
        out.put_u16_le(self.shards);
        // Tenant ids are at most 64 bytes.
        out.put_u8(u8::try_from(tenant.len()).unwrap_or(u8::MAX));
        out.put_slice(tenant);
        let sum = checksum(self.seq, &[&out[start + HEADER_LEN..], &self.body]);
        out[start + 4..start + 8].copy_from_slice(&sum.to_le_bytes());
    }

    /// The encoded size of this record.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN + 4 + self.tenant.as_str().len() + self.body.len()
    }

    /// Decodes the record at the start of `input`; returns it and its encoded
    /// length. `max_len` bounds the payload a header may claim.
    pub fn decode(input: &[u8], max_len: usize) -> Result<(Self, usize), RecordError> {
        if input.len() < HEADER_LEN {
            return Err(RecordError::Truncated {
                needed: HEADER_LEN,
                available: input.len(),
            });
        }
        let mut header = &input[..HEADER_LEN];
        let len = header.get_u32_le() as usize;
        let stored = header.get_u32_le();
        let seq = header.get_u64_le();
        if len > max_len {
            return Err(RecordError::TooLong {
                len,
                limit: max_len,
            });
        }
        let total = HEADER_LEN + len;
        if input.len() < total {
            return Err(RecordError::Truncated {
                needed: total,
                available: input.len(),
            });
        }
        let payload = &input[HEADER_LEN..total];
        let computed = checksum(seq, &[payload]);
        if computed != stored {
            return Err(RecordError::Checksum { stored, computed });
        }
        let mut p = payload;
        if p.len() < 4 {
            return Err(RecordError::Malformed(
                "payload shorter than its fixed fields",
            ));
        }
        let signal = signal_of(p.get_u8()).ok_or(RecordError::Malformed("unknown signal"))?;
        let shards = p.get_u16_le();
        let tenant_len = usize::from(p.get_u8());
        if p.len() < tenant_len {
            return Err(RecordError::Malformed("tenant longer than the payload"));
        }
        let tenant = std::str::from_utf8(&p[..tenant_len])
            .ok()
            .and_then(|t| t.parse::<Tenant>().ok())
            .ok_or(RecordError::Malformed("invalid tenant"))?;
        let body = Bytes::copy_from_slice(&p[tenant_len..]);
        let record = Self {
            seq,
            tenant,
            signal,
            shards,
            body,
        };
        Ok((record, total))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(seq: u64, body: &[u8]) -> WalRecord {
        WalRecord {
            seq,
            tenant: "team-a".parse().expect("valid"),
            signal: Signal::Logs,
            shards: 4,
            body: Bytes::copy_from_slice(body),
        }
    }

    #[test]
    fn round_trips_and_detects_every_single_bit_flip() {
        let original = record(42, b"some protobuf bytes");
        let mut buf = BytesMut::new();
        original.encode_into(&mut buf);
        assert_eq!(buf.len(), original.encoded_len());
        let (decoded, used) = WalRecord::decode(&buf, 1 << 20).expect("valid");
        assert_eq!((decoded, used), (original.clone(), buf.len()));
        for bit in 0..buf.len() * 8 {
            let mut damaged = buf.to_vec();
            damaged[bit / 8] ^= 1 << (bit % 8);
            assert!(
                WalRecord::decode(&damaged, 1 << 20).map(|(r, _)| r) != Ok(original.clone()),
                "flipping bit {bit} went unnoticed"
            );
        }
        for cut in 0..buf.len() {
            assert!(matches!(
                WalRecord::decode(&buf[..cut], 1 << 20),
                Err(RecordError::Truncated { .. })
            ));
        }
    }
}
