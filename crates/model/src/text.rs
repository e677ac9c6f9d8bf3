//! String columns read in place from checked bodies.
//!
//! At the flush a shard worker appends the text fields of held spans (names,
//! trace states, status messages, hex ids) to their rows. The receivers'
//! check already found every string of a body UTF-8, so a [`TextBuilder`]
//! takes them as bytes and checks the finished column once, whole
//! ([`checked_text`]), instead of each string as it is appended: that check,
//! a call per field, was a twentieth of the shards' time at 200,000 spans/s.

use std::sync::Arc;

use arrow::array::{ArrayRef, BinaryArray, BinaryBuilder, StringArray};

use crate::hex;

/// Builds a string column from the text fields of checked bodies; see the
/// module documentation.
#[derive(Debug, Default)]
pub struct TextBuilder(BinaryBuilder);

impl TextBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Room for `items` strings of `bytes` bytes in all, so that a flush of
    /// known size grows no buffer (each growth copies the column and faults
    /// in fresh pages).
    pub fn with_capacity(items: usize, bytes: usize) -> Self {
        Self(BinaryBuilder::with_capacity(items, bytes))
    }

    /// Appends `text`, a string field of a checked body (so UTF-8).
    pub fn append_value(&mut self, text: &[u8]) {
        self.0.append_value(text);
    }

    /// Appends the lowercase hex form of `id`.
    pub fn append_hex(&mut self, id: &[u8]) {
        let mut buf = [0u8; 2 * hex::CHUNK];
        if id.len() <= hex::CHUNK {
            self.0.append_value(hex::encode_chunk_ascii(id, &mut buf));
        } else {
            for chunk in id.chunks(hex::CHUNK) {
                // Appending to a builder's buffer cannot fail.
                let _ = std::io::Write::write_all(
                    &mut self.0,
                    hex::encode_chunk_ascii(chunk, &mut buf),
                );
            }
            self.0.append_value(b"");
        }
    }

    /// The strings appended since the last `finish`, as a `Utf8` column,
    /// leaving the builder empty.
    pub fn finish(&mut self) -> ArrayRef {
        checked_text(self.0.finish())
    }
}

/// A binary column holding UTF-8 as a string column, its buffers reused: one
/// check over all its bytes. Bytes that are not UTF-8, which a checked body
/// cannot hold, become U+FFFD rather than a panic.
pub(crate) fn checked_text(binary: BinaryArray) -> ArrayRef {
    match StringArray::try_from_binary(binary.clone()) {
        Ok(text) => Arc::new(text),
        Err(_) => Arc::new(
            binary
                .iter()
                .map(|v| v.map(String::from_utf8_lossy))
                .collect::<StringArray>(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Array, AsArray};

    use super::*;

    #[test]
    fn binary_columns_become_text_and_stray_bytes_replacement_characters() {
        let column = BinaryArray::from(vec![&b"ok"[..], &[0xff, b'a'][..]]);
        let text = checked_text(column);
        let values: Vec<Option<&str>> = text.as_string::<i32>().iter().collect();
        assert_eq!(values, [Some("ok"), Some("\u{fffd}a")]);
    }

    #[test]
    fn text_and_ids_of_any_length_read_back_as_appended() {
        let long_id: Vec<u8> = (0..=70).collect();
        let mut builder = TextBuilder::with_capacity(1, 1);
        builder.append_value("checkout é".as_bytes());
        builder.append_hex(&[0x00, 0xab, 0xff]);
        builder.append_hex(&[]);
        builder.append_hex(&long_id);
        let column = builder.finish();
        assert_eq!(column.data_type(), &arrow::datatypes::DataType::Utf8);
        let values: Vec<Option<&str>> = column.as_string::<i32>().iter().collect();
        let long_hex = hex::encode(&long_id);
        assert_eq!(
            values,
            [
                Some("checkout é"),
                Some("00abff"),
                Some(""),
                Some(long_hex.as_str())
            ]
        );
        assert_eq!(builder.finish().len(), 0, "finishing empties the builder");
    }
}
