//! Lowercase hex encoding of trace and span ids, written straight into Arrow
//! string builders without an intermediate allocation.

use std::fmt::Write;

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Appends the lowercase hex form of `bytes` to `out`.
pub fn encode_into<W: Write>(bytes: &[u8], out: &mut W) {
    let mut buf = [0u8; 64];
    for chunk in bytes.chunks(32) {
        let mut n = 0;
        for &b in chunk {
            buf[n] = DIGITS[usize::from(b >> 4)];
            buf[n + 1] = DIGITS[usize::from(b & 0x0f)];
            n += 2;
        }
        // Only ASCII hex digits were written.
        let text = std::str::from_utf8(&buf[..n]).expect("hex digits are ascii");
        // Writing to a String or an Arrow builder cannot fail.
        let _ = out.write_str(text);
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
        fn round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            let text = encode(&bytes);
            prop_assert_eq!(text.len(), bytes.len() * 2);
            prop_assert!(text.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)));
            prop_assert_eq!(decode(&text), Some(bytes));
        }
    }
}
