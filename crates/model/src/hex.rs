//! Lowercase hex encoding of trace and span ids, written straight into Arrow
//! string builders without an intermediate allocation.

use std::fmt::Write;

use arrow::array::StringArray;
use arrow::buffer::{Buffer, OffsetBuffer, ScalarBuffer};

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// The two lowercase hex digits of each byte value.
const PAIRS: [[u8; 2]; 256] = {
    let mut pairs = [[0u8; 2]; 256];
    let mut b = 0;
    while b < 256 {
        pairs[b] = [DIGITS[b >> 4], DIGITS[b & 0x0f]];
        b += 1;
    }
    pairs
};

/// Bytes encoded at a time, on the stack: a trace id is 16, a span id 8.
pub(crate) const CHUNK: usize = 32;

/// The lowercase hex form of `bytes`, written into `buf`, which holds that of
/// [`CHUNK`] bytes: callers pass at most that many (any further are left out).
pub(crate) fn encode_chunk<'b>(bytes: &[u8], buf: &'b mut [u8; 2 * CHUNK]) -> &'b str {
    // Only ASCII hex digits were written.
    std::str::from_utf8(chunk_digits(bytes, buf)).expect("hex digits are ascii")
}

/// [`encode_chunk`]'s digits, as bytes.
fn chunk_digits<'b>(bytes: &[u8], buf: &'b mut [u8; 2 * CHUNK]) -> &'b [u8] {
    let bytes = &bytes[..bytes.len().min(CHUNK)];
    for (pair, &b) in buf.chunks_exact_mut(2).zip(bytes) {
        pair.copy_from_slice(&PAIRS[usize::from(b)]);
    }
    &buf[..2 * bytes.len()]
}

/// Builds a string column of ids in lowercase hex. The digits are written
/// straight into the column's bytes and checked as UTF-8 once, over the
/// whole column as it is finished, rather than once an id: three calls of
/// `from_utf8` a span, each costing more than its 16 or 32 bytes' check.
#[derive(Debug)]
pub(crate) struct HexBuilder {
    /// Every id's digits, one after another.
    digits: Vec<u8>,
    /// Where each id's digits start, and after the last where they end.
    offsets: Vec<i32>,
}

impl Default for HexBuilder {
    fn default() -> Self {
        Self::with_capacity(0, 0)
    }
}

impl HexBuilder {
    /// Room for `ids` ids of `bytes` digits in all.
    pub(crate) fn with_capacity(ids: usize, bytes: usize) -> Self {
        let mut offsets = Vec::with_capacity(ids + 1);
        offsets.push(0);
        Self {
            digits: Vec::with_capacity(bytes),
            offsets,
        }
    }

    /// Appends the hex form of `id` (empty for an empty id).
    pub(crate) fn append(&mut self, id: &[u8]) {
        // A trace id's and a span id's digits are written at their fixed
        // length: a few moves, where a length known only at run time costs
        // a call of libc's `memcpy` (2% of the daemon's samples at full
        // load, when the three ids of a span shared one such copy).
        if let Ok(id) = <&[u8; 16]>::try_from(id) {
            self.push(&fixed_digits::<16, 32>(id));
        } else if let Ok(id) = <&[u8; 8]>::try_from(id) {
            self.push(&fixed_digits::<8, 16>(id));
        } else {
            let mut buf = [0u8; 2 * CHUNK];
            for chunk in id.chunks(CHUNK) {
                self.digits.extend_from_slice(chunk_digits(chunk, &mut buf));
            }
            self.end_id();
        }
    }

    /// Appends one id's `digits`, whose length the compiler knows.
    #[inline(always)]
    fn push<const N: usize>(&mut self, digits: &[u8; N]) {
        self.digits.extend_from_slice(digits);
        self.end_id();
    }

    fn end_id(&mut self) {
        // Fewer than 2^31 bytes of digits a column: a batch is written long
        // before (`i32` offsets, as Arrow's string builders keep).
        let end = i32::try_from(self.digits.len()).expect("a column's digits fit i32 offsets");
        self.offsets.push(end);
    }

    /// The ids appended so far, leaving the builder empty.
    pub(crate) fn finish(&mut self) -> StringArray {
        let built = std::mem::take(self);
        let offsets = OffsetBuffer::new(ScalarBuffer::from(built.offsets));
        StringArray::try_new(offsets, Buffer::from_vec(built.digits), None)
            .expect("hex digits are ascii")
    }
}

/// The lowercase hex digits of the `N` bytes of `id`.
#[inline(always)]
fn fixed_digits<const N: usize, const D: usize>(id: &[u8; N]) -> [u8; D] {
    let mut digits = [0u8; D];
    for (pair, &b) in digits.chunks_exact_mut(2).zip(id) {
        pair.copy_from_slice(&PAIRS[usize::from(b)]);
    }
    digits
}

/// Appends the lowercase hex form of `bytes` to `out`.
pub fn encode_into<W: Write>(bytes: &[u8], out: &mut W) {
    let mut buf = [0u8; 2 * CHUNK];
    for chunk in bytes.chunks(CHUNK) {
        // Writing to a String or an Arrow builder cannot fail.
        let _ = out.write_str(encode_chunk(chunk, &mut buf));
    }
}

/// The lowercase hex form of `bytes`.
pub fn encode(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    encode_into(bytes, &mut s);
    s
}

/// Decodes a hex string (either case) into bytes, or `None` if it is not hex.
pub fn decode(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    text.as_bytes()
        .chunks(2)
        .map(|pair| Some((nibble(pair[0])? << 4) | nibble(pair[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn encodes_lowercase() {
        assert_eq!(encode(&[0x00, 0xab, 0xff, 0x10]), "00abff10");
        assert_eq!(encode(&[]), "");
        assert_eq!(decode("00ABff10"), Some(vec![0x00, 0xab, 0xff, 0x10]));
        assert_eq!(decode("0g"), None);
        assert_eq!(decode("abc"), None);
    }

    proptest! {
        #[test]
        fn a_chunk_reads_as_std_formats_it(bytes in proptest::collection::vec(any::<u8>(), 0..=CHUNK)) {
            let mut buf = [0u8; 2 * CHUNK];
            let formatted: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            prop_assert_eq!(encode_chunk(&bytes, &mut buf), formatted.as_str());
        }

        #[test]
        fn ids_build_as_encode_writes_them(ids in proptest::collection::vec(
            // Trace and span ids' lengths (copied at a fixed length), and any.
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 16),
                proptest::collection::vec(any::<u8>(), 8),
                proptest::collection::vec(any::<u8>(), 0..80),
            ],
            0..8,
        )) {
            let mut builder = HexBuilder::with_capacity(0, 0);
            for _ in 0..2 {
                ids.iter().for_each(|id| builder.append(id));
                let column = builder.finish();
                let expected: Vec<String> = ids.iter().map(|id| encode(id)).collect();
                prop_assert_eq!(column.iter().flatten().collect::<Vec<_>>(), expected);
                prop_assert_eq!(arrow::array::Array::null_count(&column), 0);
            }
        }

        #[test]
        fn round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            let text = encode(&bytes);
            prop_assert_eq!(text.len(), bytes.len() * 2);
            prop_assert!(text.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)));
            prop_assert_eq!(decode(&text), Some(bytes));
        }
    }
}
