//! Attribute columns built as dictionaries: each distinct key and value held
//! once, and every entry as its index.
//!
//! Where it sits: the OTLP tables' top-level attribute maps
//! (`ResourceAttributes`, `ScopeAttributes`, and the span's, record's or
//! data point's own) are built here by the shards: the spans' at the flush
//! ([`TraceBatchBuilder`](crate::traces::TraceBatchBuilder)), the logs' and
//! metrics' as their records arrive. Storage's map encoder writes them to
//! Parquet with these indices (renumbered in the order first met, as a
//! dictionary page holds them): the same file bytes as for the same maps of
//! strings.
//!
//! Why: built as strings, every key and value was copied into the batch,
//! then read back at the encode, compared with the row before and hashed to
//! find its dictionary index. Here each is looked up once, as it is read,
//! and only new strings are copied. A resource's or scope's attributes, the
//! same on each of their records, are looked up once per batch
//! ([`ContextRows`], [`InternedMapBuilder::repeat_row`]).
//!
//! In a batch, such a column has the type of [`interned_map_type`]: a map
//! whose keys and values are `Dictionary(UInt32, Utf8)`. Arrow's `cast`
//! turns it into [`map_type`](super::map_type) (`plain_batch` in
//! [`schema`](crate::schema) does so for a whole batch), and Parquet files
//! hold it as that.

use std::collections::{HashMap, hash_map};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, DictionaryArray, MapArray, StringArray, StructArray, UInt32Array,
};
use arrow::buffer::{Buffer, OffsetBuffer, ScalarBuffer};
use arrow::datatypes::{DataType, Field, FieldRef, Fields as ArrowFields, UInt32Type};
use hashbrown::hash_table::{Entry, HashTable};

use super::{StringPairs, TextOut, WireKeyValue, string_pair};

/// The Arrow type of a dictionary's entries: `UInt32` indices into strings.
fn interned_string() -> DataType {
    DataType::Dictionary(Box::new(DataType::UInt32), Box::new(DataType::Utf8))
}

/// The field of an interned map's entries: a key and a value, both interned.
fn interned_entries_field() -> FieldRef {
    let fields: ArrowFields = vec![
        Field::new("key", interned_string(), false),
        Field::new("value", interned_string(), false),
    ]
    .into();
    Arc::new(Field::new("key_value", DataType::Struct(fields), false))
}

/// The Arrow type of an attribute column built by [`InternedMapBuilder`]:
/// [`map_type`](super::map_type) with its keys and values dictionary-encoded.
pub fn interned_map_type() -> DataType {
    DataType::Map(interned_entries_field(), false)
}

/// A string of at most [`Short::MAX`] bytes held as two words and its
/// length, which determine it: two such strings are equal exactly when their
/// `Short`s are, so the interner compares and hashes these words instead of
/// reading the strings' bytes again (most keys and values are this short).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Short {
    first: u64,
    last: u64,
    len: u64,
}

impl Short {
    /// The longest string a `Short` holds.
    const MAX: usize = 16;

    /// What a longer string's index holds: equal to no `Short::of`.
    const LONG: Self = Self {
        first: 0,
        last: 0,
        len: u64::MAX,
    };

    /// `text` as a `Short`, if it is one: its first and last 8 bytes (they
    /// overlap below 16), or its first and last 4, or its first, middle and
    /// last byte, by its length.
    #[inline(always)]
    fn of(text: &[u8]) -> Option<Self> {
        let len = text.len();
        let word = |at: usize| {
            let bytes: [u8; 8] = text[at..at + 8].try_into().expect("8 bytes");
            u64::from_le_bytes(bytes)
        };
        let half = |at: usize| {
            let bytes: [u8; 4] = text[at..at + 4].try_into().expect("4 bytes");
            u64::from(u32::from_le_bytes(bytes))
        };
        let (first, last) = match len {
            0 => (0, 0),
            1..=3 => {
                let byte = |at: usize| u64::from(text[at]);
                (byte(0) | byte(len / 2) << 8 | byte(len - 1) << 16, 0)
            }
            4..=7 => (half(0), half(len - 4)),
            8..=Self::MAX => (word(0), word(len - 8)),
            _ => return None,
        };
        Some(Self {
            first,
            last,
            len: len as u64,
        })
    }

    /// A hash of this string keyed by `seed`: a multiply folded to 64 bits
    /// for each word, as `ahash` does without AES.
    #[inline(always)]
    fn hash(&self, seed: u64) -> u64 {
        const MULTIPLIERS: [u64; 2] = [0x5851_F42D_4C95_7F2D, 0x9E37_79B9_7F4A_7C15];
        let fold = |a: u64, b: u64| {
            let product = u128::from(a) * u128::from(b);
            (product as u64) ^ ((product >> 64) as u64)
        };
        let mixed = fold(self.first ^ seed, MULTIPLIERS[0]);
        fold(mixed ^ self.last, MULTIPLIERS[1] ^ self.len)
    }
}

/// The indices of the short strings of an [`Interner`], found by
/// [`Short::hash`]: open addressing, probed linearly, at most half full.
/// hashbrown's table calls its comparison through a pointer (about 90
/// instructions a lookup); here it is three words compared in line.
#[derive(Debug, Default)]
struct ShortIndex {
    /// A string's index, or [`ShortIndex::EMPTY`]; a power of two long.
    slots: Vec<u32>,
    len: usize,
}

impl ShortIndex {
    const EMPTY: u32 = u32::MAX;

    /// The index of `short` (whose hash is `hash`) among `shorts`, or the
    /// slot where it goes.
    #[inline(always)]
    fn find(&self, shorts: &[Short], short: Short, hash: u64) -> Result<u32, usize> {
        if self.slots.is_empty() {
            return Err(0);
        }
        let mask = self.slots.len() - 1;
        let mut at = hash as usize & mask;
        loop {
            match self.slots[at] {
                Self::EMPTY => return Err(at),
                id if shorts[id as usize] == short => return Ok(id),
                _ => at = (at + 1) & mask,
            }
        }
    }

    /// Puts `id` in slot `at`, found empty by [`find`](Self::find) since
    /// the last insert; grows when half full, hashing `shorts` again.
    fn insert(&mut self, at: usize, id: u32, shorts: &[Short], seed: u64) {
        let at = if (self.len + 1) * 2 > self.slots.len() {
            self.grow(shorts, seed);
            let short = shorts[id as usize];
            let Err(at) = self.find(shorts, short, short.hash(seed)) else {
                unreachable!("a string is inserted once")
            };
            at
        } else {
            at
        };
        self.slots[at] = id;
        self.len += 1;
    }

    fn grow(&mut self, shorts: &[Short], seed: u64) {
        let size = (self.slots.len() * 2).max(64);
        let old = std::mem::replace(&mut self.slots, vec![Self::EMPTY; size]);
        let mask = size - 1;
        for id in old.into_iter().filter(|&id| id != Self::EMPTY) {
            let mut at = shorts[id as usize].hash(seed) as usize & mask;
            while self.slots[at] != Self::EMPTY {
                at = (at + 1) & mask;
            }
            self.slots[at] = id;
        }
    }

    fn clear(&mut self) {
        self.slots.fill(Self::EMPTY);
        self.len = 0;
    }
}

/// Distinct strings, each with its index in the order first met.
#[derive(Debug)]
struct Interner {
    /// Where each string ends in `bytes`, after a leading 0.
    ends: Vec<i32>,
    bytes: Vec<u8>,
    /// Each string as a [`Short`], or [`Short::LONG`].
    shorts: Vec<Short>,
    /// The short strings' indices.
    short_index: ShortIndex,
    /// The longer strings' indices, found by a string's hash and compared
    /// with the strings themselves: a table of indices alone.
    long_index: HashTable<u32>,
    /// Hashes the longer strings.
    hasher: ahash::RandomState,
    /// Keys [`Short::hash`], as `hasher` is keyed: no one can choose strings
    /// that collide in every run.
    seed: u64,
}

impl Default for Interner {
    fn default() -> Self {
        let hasher = ahash::RandomState::new();
        Self {
            ends: vec![0],
            bytes: Vec::new(),
            shorts: Vec::new(),
            short_index: ShortIndex::default(),
            long_index: HashTable::new(),
            seed: hasher.hash_one(0x51CE_u64),
            hasher,
        }
    }
}

impl Interner {
    /// The index of `text`, which is added if new.
    fn intern(&mut self, text: &[u8]) -> u32 {
        self.intern_or(text, None)
    }

    /// The index of `text`, which is added if new; string `hint` (one of
    /// these) is tried first, by one comparison.
    #[inline(always)]
    fn intern_or(&mut self, text: &[u8], hint: Option<u32>) -> u32 {
        match Short::of(text) {
            Some(short) => {
                if let Some(id) = hint.filter(|&id| self.shorts[id as usize] == short) {
                    return id;
                }
                match self
                    .short_index
                    .find(&self.shorts, short, short.hash(self.seed))
                {
                    Ok(id) => id,
                    Err(at) => {
                        let id = self.push(text, short);
                        self.short_index.insert(at, id, &self.shorts, self.seed);
                        id
                    }
                }
            }
            None => self.intern_long(text, hint),
        }
    }

    /// [`intern_or`](Self::intern_or) for a string longer than [`Short::MAX`].
    fn intern_long(&mut self, text: &[u8], hint: Option<u32>) -> u32 {
        let (ends, bytes) = (&self.ends, &self.bytes);
        let string = |id: u32| &bytes[ends[id as usize] as usize..ends[id as usize + 1] as usize];
        if let Some(id) = hint.filter(|&id| string(id) == text) {
            return id;
        }
        let hasher = &self.hasher;
        let entry = self.long_index.entry(
            hasher.hash_one(text),
            |&id| string(id) == text,
            |&id| hasher.hash_one(string(id)),
        );
        match entry {
            Entry::Occupied(found) => *found.get(),
            Entry::Vacant(slot) => {
                // The index `push` gives it, taken first: the slot holds the
                // table borrowed until it is filled.
                slot.insert((self.ends.len() - 1) as u32);
                self.push(text, Short::LONG)
            }
        }
    }

    /// Adds `text`, held as `short`; its index.
    fn push(&mut self, text: &[u8], short: Short) -> u32 {
        let id = (self.ends.len() - 1) as u32;
        self.bytes.extend_from_slice(text);
        self.ends.push(
            i32::try_from(self.bytes.len())
                .expect("the distinct strings of one attribute column passed 2 GiB"),
        );
        self.shorts.push(short);
        id
    }

    /// The strings as an Arrow array, leaving this empty. They are UTF-8 (keys
    /// and values of checked bodies, or printed values): one check over the
    /// distinct strings alone; bytes that are not UTF-8 become U+FFFD rather
    /// than a panic.
    fn finish(&mut self) -> StringArray {
        let ends = std::mem::replace(&mut self.ends, vec![0]);
        let bytes = std::mem::take(&mut self.bytes);
        self.shorts.clear();
        self.short_index.clear();
        self.long_index.clear();
        let offsets = OffsetBuffer::new(ScalarBuffer::from(ends));
        // Shared, not copied, with the array checked.
        let bytes = Buffer::from_vec(bytes);
        match StringArray::try_new(offsets.clone(), bytes.clone(), None) {
            Ok(strings) => strings,
            Err(_) => offsets
                .windows(2)
                .map(|w| {
                    Some(String::from_utf8_lossy(
                        &bytes[w[0] as usize..w[1] as usize],
                    ))
                })
                .collect(),
        }
    }
}

/// A value other than a string, printed.
#[derive(Debug, Default)]
struct Printed(Vec<u8>);

impl std::fmt::Write for Printed {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

impl TextOut for Printed {
    fn write_checked(&mut self, text: &[u8]) {
        self.0.extend_from_slice(text);
    }
}

/// Builds one attribute column as an interned map; see the module docs.
#[derive(Debug)]
pub struct InternedMapBuilder {
    keys: Interner,
    values: Interner,
    /// Each entry's key and value, as indices into `keys` and `values`.
    key_ids: Vec<u32>,
    value_ids: Vec<u32>,
    /// Where each row's entries end, after a leading 0.
    ends: Vec<i32>,
    /// The entries of the last row built by [`append_wire`](Self::append_wire),
    /// place by place: a span's keys, and often its values, are those of the
    /// span before at the same place, found by one comparison rather than a
    /// lookup.
    before: Vec<(u32, u32)>,
    /// For each key, one past the last row holding it: a key already in the
    /// row being built has this row's number.
    seen: Vec<u32>,
    printed: Printed,
}

impl Default for InternedMapBuilder {
    fn default() -> Self {
        Self::with_capacity(0, 0)
    }
}

impl InternedMapBuilder {
    /// A builder with room for `rows` rows of `entries` entries in all.
    pub fn with_capacity(rows: usize, entries: usize) -> Self {
        let mut ends = Vec::with_capacity(rows + 1);
        ends.push(0);
        Self {
            keys: Interner::default(),
            values: Interner::default(),
            key_ids: Vec::with_capacity(entries),
            value_ids: Vec::with_capacity(entries),
            ends,
            before: Vec::new(),
            seen: Vec::new(),
            printed: Printed::default(),
        }
    }

    /// Rows appended since the last [`finish`](Self::finish).
    pub fn len(&self) -> usize {
        self.ends.len() - 1
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends one map holding the attributes of `key_values`, `KeyValue`
    /// messages read in place from a checked body, as
    /// [`append_wire_attributes`](super::append_wire_attributes) appends
    /// them: values printed by [`write_value`](super::write_value), the first
    /// of each key kept.
    pub fn append_wire<'a>(&mut self, key_values: impl Iterator<Item = &'a [u8]>) {
        let row = self.ends.len() as u32;
        let mut place = 0;
        // Taken out for the loop, so that the entries may borrow it.
        let mut printed = std::mem::take(&mut self.printed);
        for bytes in key_values {
            let (key, text) = match string_pair(bytes) {
                Some(pair) => pair,
                None => {
                    let kv = WireKeyValue::parse(bytes);
                    match kv.string_value() {
                        Some(text) => (kv.key, text),
                        None => {
                            printed.0.clear();
                            kv.write_value(&mut printed);
                            (kv.key, &printed.0[..])
                        }
                    }
                }
            };
            if self.append_entry(row, place, key, text) {
                place += 1;
            }
        }
        self.printed = printed;
        self.end_row();
    }

    /// Appends the entry `key`, `value` to row `row` (one past its index),
    /// at `place` among the row's entries, unless the row holds `key`
    /// already; returns whether it was appended. The entry at the same place
    /// in the row before is tried first, by one comparison each.
    #[inline(always)]
    fn append_entry(&mut self, row: u32, place: usize, key: &[u8], value: &[u8]) -> bool {
        let before = self.before.get(place).copied();
        let key = self.keys.intern_or(key, before.map(|(id, _)| id));
        if self.seen.len() <= key as usize {
            self.seen.resize(key as usize + 1, 0);
        }
        if self.seen[key as usize] == row {
            return false;
        }
        self.seen[key as usize] = row;
        let value = self.values.intern_or(value, before.map(|(_, id)| id));
        match self.before.get_mut(place) {
            Some(slot) => *slot = (key, value),
            None => self.before.push((key, value)),
        }
        self.key_ids.push(key);
        self.value_ids.push(value);
        true
    }

    /// Appends one map holding `pairs` (unique keys, as a context's are).
    pub fn append_pairs(&mut self, pairs: &StringPairs) {
        for (key, value) in pairs.pairs() {
            let key = self.keys.intern(key.as_bytes());
            let value = self.values.intern(value.as_bytes());
            self.key_ids.push(key);
            self.value_ids.push(value);
        }
        self.end_row();
    }

    /// Appends a copy of row `row`, one already appended since the last
    /// [`finish`](Self::finish).
    pub fn repeat_row(&mut self, row: usize) {
        let entries = self.ends[row] as usize..self.ends[row + 1] as usize;
        self.key_ids.extend_from_within(entries.clone());
        self.value_ids.extend_from_within(entries);
        self.end_row();
    }

    fn end_row(&mut self) {
        self.ends.push(
            i32::try_from(self.key_ids.len())
                .expect("the entries of one attribute column passed 2^31"),
        );
    }

    /// Takes the rows appended so far as a column of the type of
    /// [`interned_map_type`], leaving the builder empty.
    pub fn finish(&mut self) -> ArrayRef {
        let interned = |ids: Vec<u32>, strings: StringArray| -> ArrayRef {
            let ids = UInt32Array::from(ids);
            debug_assert!(ids.values().iter().all(|&id| (id as usize) < strings.len()));
            // SAFETY: every index was handed out by the interner of
            // `strings` (or copied from a row whose indices were), which
            // holds a string for each: below its length, so `try_new` would
            // succeed. Its check read every entry of the column again (2.7%
            // of the instructions of building the rows of the load
            // generator's spans, `instructions` bench).
            #[allow(unsafe_code)]
            let dictionary =
                unsafe { DictionaryArray::<UInt32Type>::new_unchecked(ids, Arc::new(strings)) };
            Arc::new(dictionary)
        };
        let keys = interned(std::mem::take(&mut self.key_ids), self.keys.finish());
        let values = interned(std::mem::take(&mut self.value_ids), self.values.finish());
        let DataType::Struct(fields) = interned_entries_field().data_type().clone() else {
            unreachable!("the entries field is a struct")
        };
        let entries = StructArray::new(fields, vec![keys, values], None);
        let ends = std::mem::replace(&mut self.ends, vec![0]);
        self.before.clear();
        self.seen.clear();
        Arc::new(MapArray::new(
            interned_entries_field(),
            OffsetBuffer::new(ScalarBuffer::from(ends)),
            entries,
            None,
            false,
        ))
    }
}

/// The first row of each context (a resource or a scope) appended to a batch,
/// found by the context's address: a context's attributes are looked up in
/// the column's dictionary once, and its other rows copy that row's indices.
/// Each context is held while it is in the table, so no other can take its
/// address; past [`MAX_CONTEXTS`] the table starts afresh, so that a batch
/// of many small requests (each with contexts of its own) holds no more
/// than that many contexts here.
#[derive(Debug)]
pub(crate) struct ContextRows<T> {
    rows: HashMap<usize, (Arc<T>, usize), ahash::RandomState>,
}

/// The most contexts a [`ContextRows`] holds.
const MAX_CONTEXTS: usize = 1024;

impl<T> Default for ContextRows<T> {
    fn default() -> Self {
        Self {
            rows: HashMap::default(),
        }
    }
}

impl<T> ContextRows<T> {
    /// Appends the attributes of `context` to `column`: those `pairs` reads
    /// from it the first time, a copy of that row after.
    pub(crate) fn append(
        &mut self,
        column: &mut InternedMapBuilder,
        context: &Arc<T>,
        pairs: impl FnOnce(&T) -> &StringPairs,
    ) {
        match self.rows.entry(Arc::as_ptr(context).addr()) {
            hash_map::Entry::Occupied(first) => column.repeat_row(first.get().1),
            hash_map::Entry::Vacant(slot) => {
                slot.insert((Arc::clone(context), column.len()));
                column.append_pairs(pairs(context));
                if self.rows.len() >= MAX_CONTEXTS {
                    self.rows.clear();
                }
            }
        }
    }

    /// Forgets every context, for a new batch.
    pub(crate) fn clear(&mut self) {
        self.rows.clear();
    }
}

#[cfg(test)]
mod tests;
