use arrow::array::{Array, AsArray};
use arrow::compute::cast;

use super::*;
use crate::attributes::map_type;

/// The rows of an interned column, as (key, value) strings.
fn rows(column: &ArrayRef) -> Vec<Vec<(String, String)>> {
    let plain = cast(column, &map_type()).expect("an interned map casts to strings");
    let map = plain.as_map();
    let (keys, values) = (
        map.keys().as_string::<i32>(),
        map.values().as_string::<i32>(),
    );
    map.offsets()
        .windows(2)
        .map(|w| {
            (w[0] as usize..w[1] as usize)
                .map(|i| (keys.value(i).to_owned(), values.value(i).to_owned()))
                .collect()
        })
        .collect()
}

fn pairs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A `KeyValue` message with a string value, encoded by hand (so that its
/// key may be any bytes).
fn key_value(key: &[u8], value: &[u8]) -> Vec<u8> {
    let mut any_value = vec![0x0a, value.len() as u8];
    any_value.extend_from_slice(value);
    let mut kv = vec![0x0a, key.len() as u8];
    kv.extend_from_slice(key);
    kv.extend_from_slice(&[0x12, any_value.len() as u8]);
    kv.extend_from_slice(&any_value);
    kv
}

#[test]
fn repeated_rows_copy_the_first_and_strings_are_held_once() {
    let resource = StringPairs::new(pairs(&[("service.name", "api"), ("host", "a")]));
    let other = StringPairs::new(pairs(&[("service.name", "db"), ("host", "a")]));
    let mut builder = InternedMapBuilder::default();
    builder.append_pairs(&resource);
    builder.append_pairs(&other);
    builder.repeat_row(0);
    builder.append_pairs(&StringPairs::default());
    builder.repeat_row(1);
    builder.repeat_row(3);
    let column = builder.finish();
    assert_eq!(
        rows(&column),
        vec![
            pairs(&[("service.name", "api"), ("host", "a")]),
            pairs(&[("service.name", "db"), ("host", "a")]),
            pairs(&[("service.name", "api"), ("host", "a")]),
            vec![],
            pairs(&[("service.name", "db"), ("host", "a")]),
            vec![],
        ]
    );
    let map = column.as_map();
    let distinct = |leaf: &ArrayRef| leaf.as_any_dictionary().values().len();
    assert_eq!((distinct(map.keys()), distinct(map.values())), (2, 3));
}

#[test]
fn the_first_of_each_key_is_kept_whether_or_not_the_row_before_had_it() {
    let mut builder = InternedMapBuilder::default();
    // The second row's keys are the first row's at each place (found by the
    // comparison with the row before), and repeat within the row.
    for row in [
        vec![key_value(b"a", b"1"), key_value(b"b", b"2")],
        vec![
            key_value(b"a", b"3"),
            key_value(b"a", b"4"),
            key_value(b"b", b"5"),
        ],
        vec![
            key_value(b"b", b"6"),
            key_value(b"b", b"7"),
            key_value(b"a", b"8"),
        ],
    ] {
        builder.append_wire(row.iter().map(Vec::as_slice));
    }
    assert_eq!(
        rows(&builder.finish()),
        vec![
            pairs(&[("a", "1"), ("b", "2")]),
            pairs(&[("a", "3"), ("b", "5")]),
            pairs(&[("b", "6"), ("a", "8")]),
        ]
    );
}

#[test]
fn bytes_that_are_not_utf8_become_replacement_characters() {
    let mut builder = InternedMapBuilder::default();
    let row = [key_value(b"ok", b"fine"), key_value(b"k", b"\xff\xfe")];
    builder.append_wire(row.iter().map(Vec::as_slice));
    assert_eq!(
        rows(&builder.finish()),
        vec![pairs(&[("ok", "fine"), ("k", "\u{fffd}\u{fffd}")])]
    );
}

#[test]
fn a_finished_builder_starts_anew() {
    let mut builder = InternedMapBuilder::with_capacity(4, 8);
    builder.append_wire([key_value(b"a", b"1")].iter().map(Vec::as_slice));
    assert_eq!(builder.len(), 1);
    let first = builder.finish();
    assert!(builder.is_empty());
    assert_eq!(first.data_type(), &interned_map_type());
    builder.append_wire([key_value(b"b", b"2")].iter().map(Vec::as_slice));
    let second = builder.finish();
    assert_eq!(rows(&second), vec![pairs(&[("b", "2")])]);
    assert_eq!(second.as_map().keys().as_any_dictionary().values().len(), 1);
}

/// Past the most contexts it holds, the table of first rows starts afresh:
/// the rows stay those of their contexts.
#[test]
fn many_contexts_keep_their_rows() {
    let contexts: Vec<Arc<StringPairs>> = (0..MAX_CONTEXTS + 10)
        .map(|i| Arc::new(StringPairs::new(pairs(&[("host", &format!("h{i}"))]))))
        .collect();
    let mut first_rows = ContextRows::default();
    let mut builder = InternedMapBuilder::default();
    let mut expected = Vec::new();
    for context in contexts.iter().chain(contexts.iter().rev()) {
        first_rows.append(&mut builder, context, |pairs| pairs);
        expected.push(context.pairs().to_vec());
    }
    assert!(first_rows.rows.len() < MAX_CONTEXTS);
    assert_eq!(rows(&builder.finish()), expected);
}

mod short {
    use std::collections::HashMap;

    use arrow::array::Array;
    use proptest::collection::vec;
    use proptest::prelude::*;

    use super::super::{Interner, Short};

    /// Strings of up to 20 bytes from a 3-letter alphabet: many share their
    /// first or last bytes, or differ only in the middle.
    fn text() -> impl Strategy<Value = Vec<u8>> {
        vec(prop_oneof![Just(b'a'), Just(b'b'), Just(0u8)], 0..=20)
    }

    proptest! {
        /// Two strings of up to 16 bytes have the same `Short` exactly when
        /// they are equal; longer ones have none.
        #[test]
        fn shorts_are_equal_exactly_when_their_strings_are(a in text(), b in text()) {
            prop_assert_eq!(Short::of(&a).is_some(), a.len() <= Short::MAX);
            if let (Some(x), Some(y)) = (Short::of(&a), Short::of(&b)) {
                prop_assert_eq!(x == y, a == b);
                prop_assert!(x != Short::LONG);
            }
            let seed = 0x1234_5678;
            if a == b && a.len() <= Short::MAX {
                prop_assert_eq!(Short::of(&a).map(|s| s.hash(seed)), Short::of(&b).map(|s| s.hash(seed)));
            }
        }

        /// Interned, short and long strings alike get their index in the
        /// order first met, whatever the hint, and read back as they came.
        #[test]
        fn strings_get_their_first_index_whatever_the_hint(
            texts in vec(text(), 1..200),
            hints in vec(any::<u32>(), 200),
        ) {
            let mut interner = Interner::default();
            let mut first: HashMap<&[u8], u32> = HashMap::new();
            for (text, hint) in texts.iter().zip(&hints) {
                let next = first.len() as u32;
                let expected = *first.entry(text.as_slice()).or_insert(next);
                // A hint is one of the strings held.
                let hint = (!interner.shorts.is_empty()).then(|| hint % interner.shorts.len() as u32);
                prop_assert_eq!(interner.intern_or(text, hint), expected);
            }
            let strings = interner.finish();
            prop_assert_eq!(strings.len(), first.len());
            for (text, id) in first {
                prop_assert_eq!(strings.value(id as usize).as_bytes(), text);
            }
        }
    }
}
