//! Attribute maps to Parquet column chunks: the flush's own encoder for the
//! top-level `map<utf8, utf8>` columns (resource, scope, span, log and data
//! point attributes).
//!
//! Where it sits: [`crate::encode_parquet`] hands it each such column of a
//! row group and splices the two chunks it returns (the keys' leaf and the
//! values') into the file; parquet's Arrow writer encodes every other column.
//!
//! Why: these columns hold most of a record's strings (a resource's dozen
//! entries repeat on every row of its spans), and parquet's writer spent
//! half a flush on them: it computes their levels generically, and its
//! dictionary interns every key and value (hash, probe, compare). Here the
//! levels follow from the map's offsets; a row the same as the row before
//! (one comparison of its bytes) takes that row's dictionary indices, and
//! an entry equal to the one at its place in the row before takes that
//! entry's index; only the rest are hashed (the `otel_anomalies` labels).
//! The OTLP tables' batches come with their maps interned
//! (`sluice_model::attributes::InternedMapBuilder`): each entry already an
//! index into its leaf's distinct strings, which are only renumbered here
//! in the order first met, so that the chunks are those of the same maps of
//! strings, byte for byte.
//!
//! The chunks are what parquet's writer writes for the same settings: a
//! PLAIN dictionary page, data pages (format v1) of RLE levels and
//! RLE_DICTIONARY indices; once the dictionary passes
//! `dictionary_page_size_limit`, PLAIN pages for the rows after (no
//! dictionary at all where the leaf's dictionary is disabled). Pages end on
//! row boundaries at the page row count and size limits, are compressed
//! with the leaf's codec, and are listed in an offset index. The encoder
//! declines (parquet's writer then takes the leaf) leaves with statistics or
//! a bloom filter, codecs other than zstd and none, and maps with nulls;
//! Sluice's map leaves have none of these (see `writer_properties`).

use std::borrow::Cow;

use arrow::array::{Array, AsArray, MapArray, StringArray};
use arrow::datatypes::UInt32Type;
use bytes::Bytes;
use hashbrown::hash_table::{Entry, HashTable};
use parquet::basic::{Compression, Encoding, PageType};
use parquet::column::page::{CompressedPage, Page, PageWriteSpec, PageWriter};
use parquet::column::writer::ColumnCloseResult;
use parquet::errors::Result;
use parquet::file::metadata::{ColumnChunkMetaData, ColumnChunkMetaDataBuilder, PageEncodingStats};
use parquet::file::page_index::offset_index::{OffsetIndexMetaData, PageLocation};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::writer::{SerializedPageWriter, TrackedWrite};
use parquet::schema::types::ColumnDescPtr;
pub(crate) use sluice_model::compare::same_bytes;

/// One leaf's column chunk, encoded: its bytes and what the row group
/// writer records of it.
pub(crate) struct EncodedChunk {
    pub bytes: Bytes,
    pub close: ColumnCloseResult,
}

/// A map column this encoder takes: strings to strings, plain or interned
/// (`sluice_model::attributes::interned_map_type`), without nulls.
pub(crate) struct StringMap<'a> {
    map: &'a MapArray,
    keys: Leaf<'a>,
    values: Leaf<'a>,
}

/// One leaf of a [`StringMap`]: its entries' strings.
#[derive(Clone, Copy)]
enum Leaf<'a> {
    /// Each entry's string.
    Strings(&'a StringArray),
    /// Each entry's index into `strings`.
    Interned {
        ids: &'a [u32],
        strings: &'a StringArray,
    },
}

impl<'a> Leaf<'a> {
    fn of(column: &'a dyn Array) -> Option<Self> {
        if let Some(strings) = column.as_string_opt::<i32>() {
            return (strings.null_count() == 0).then_some(Self::Strings(strings));
        }
        let interned = column.as_dictionary_opt::<UInt32Type>()?;
        let strings = interned.values().as_string_opt::<i32>()?;
        (interned.null_count() == 0 && strings.null_count() == 0).then_some(Self::Interned {
            ids: interned.keys().values(),
            strings,
        })
    }
}

/// `column` as a map of strings to strings without nulls (what this encoder
/// takes), or `None`.
pub(crate) fn string_map(column: &dyn Array) -> Option<StringMap<'_>> {
    let map = column.as_any().downcast_ref::<MapArray>()?;
    // Null maps or entries would need definition levels this encoder does
    // not write; Sluice's schemas have none.
    if map.null_count() > 0 {
        return None;
    }
    Some(StringMap {
        map,
        keys: Leaf::of(map.keys().as_ref())?,
        values: Leaf::of(map.values().as_ref())?,
    })
}

/// The key and value chunks of `map` (all its rows: one row group's), or
/// `None` for a leaf this encoder declines (see the module docs).
pub(crate) fn encode_map(
    map: &StringMap<'_>,
    key: ColumnDescPtr,
    value: ColumnDescPtr,
    properties: &WriterProperties,
) -> Result<[Option<EncodedChunk>; 2]> {
    if map.map.is_empty() {
        return Ok([None, None]);
    }
    let offsets = map.map.value_offsets();
    Ok([
        encode_leaf(map.keys, offsets, key, properties)?,
        encode_leaf(map.values, offsets, value, properties)?,
    ])
}

/// One leaf's chunk, or `None` where parquet's writer should take it.
fn encode_leaf(
    leaf: Leaf<'_>,
    offsets: &[i32],
    descriptor: ColumnDescPtr,
    properties: &WriterProperties,
) -> Result<Option<EncodedChunk>> {
    let path = descriptor.path();
    // Statistics (and their column index) and bloom filters are parquet's
    // to write; the map leaves of Sluice's schemas have neither.
    if properties.statistics_enabled(path) != EnabledStatistics::None
        || properties.bloom_filter_properties(path).is_some()
    {
        return Ok(None);
    }
    let codec = properties.compression(path);
    let Some(mut compressor) = PageCompressor::of(codec)? else {
        return Ok(None);
    };
    let entries = Entries { leaf, offsets };
    // Only empty maps (a scope's attributes, mostly): nothing to look up,
    // and each row one level 0.
    let empty = entries.of_rows_empty();
    let dictionary = match properties.dictionary_enabled(path) {
        true if empty => Dictionary {
            rows: entries.rows(),
            ..Dictionary::default()
        },
        true => Dictionary::build(&entries, properties.dictionary_page_size_limit()),
        false => Dictionary::default(),
    };
    let pages = page_bounds(&entries, dictionary.rows, properties);

    let mut sink = TrackedWrite::new(Vec::new());
    let mut writer = SerializedPageWriter::new(&mut sink);
    let mut chunk = ChunkTotals::default();
    let mut raw = Vec::new();
    if dictionary.rows > 0 {
        write_dictionary_page(
            &mut writer,
            &dictionary.strings,
            &mut compressor,
            properties,
            &mut chunk,
            &mut raw,
        )?;
    }
    let bit_width = dictionary.bit_width();
    let first = entries.first();
    for page in &pages {
        raw.clear();
        let level_count = match empty {
            true => empty_levels(page.len(), &mut raw),
            false => levels(offsets, page.clone(), &mut raw),
        };
        let entries_of_page =
            offsets[page.start] as usize - first..offsets[page.end] as usize - first;
        let encoding = if page.end <= dictionary.rows {
            raw.push(bit_width);
            hybrid_values(&dictionary.indices[entries_of_page], bit_width, &mut raw);
            properties.dictionary_data_page_encoding()
        } else {
            for entry in entries_of_page {
                let text = entries.string(first + entry);
                raw.extend_from_slice(&(text.len() as u32).to_le_bytes());
                raw.extend_from_slice(text);
            }
            Encoding::PLAIN
        };
        chunk.write_data_page(
            &mut writer,
            &mut compressor,
            &raw,
            (page.start, level_count),
            encoding,
        )?;
    }
    writer.close()?;

    let metadata = chunk.metadata(descriptor, codec).build()?;
    let bytes = Bytes::from(sink.into_inner()?);
    Ok(Some(EncodedChunk {
        close: ColumnCloseResult {
            bytes_written: bytes.len() as u64,
            rows_written: entries.rows() as u64,
            metadata,
            bloom_filter: None,
            column_index: None,
            offset_index: (!properties.offset_index_disabled()).then_some(OffsetIndexMetaData {
                page_locations: chunk.locations,
                unencoded_byte_array_data_bytes: None,
            }),
        },
        bytes,
    }))
}

thread_local! {
    /// The zstd context the thread's last chunk used, kept for its next:
    /// making one per chunk (a map leaf, a string column; some twenty a
    /// flush) cost about 1% of the daemon's time in `ZSTD_createCCtx` and in
    /// the first compression's workspace (libc's `malloc`, fresh pages each
    /// time). One per thread that writes files: its workspace is a few MiB
    /// at most.
    pub(crate) static KEPT: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> =
        const { std::cell::RefCell::new(None) };
}

/// Compresses a chunk's pages with the chunk's codec: zstd with the thread's
/// kept context (see [`KEPT`]), given back when done, or none.
pub(crate) struct PageCompressor {
    zstd: Option<zstd::bulk::Compressor<'static>>,
}

impl PageCompressor {
    /// The compressor of `codec`, or `None` for a codec these encoders do
    /// not write (zstd and none only).
    pub(crate) fn of(codec: Compression) -> Result<Option<Self>> {
        let level = match codec {
            Compression::ZSTD(level) => level.compression_level(),
            Compression::UNCOMPRESSED => return Ok(Some(Self { zstd: None })),
            _ => return Ok(None),
        };
        let zstd = match KEPT.with(|kept| kept.borrow_mut().take()) {
            Some(mut kept) => {
                kept.set_compression_level(level)?;
                kept
            }
            None => zstd::bulk::Compressor::new(level)?,
        };
        Ok(Some(Self { zstd: Some(zstd) }))
    }

    /// `raw` compressed (a copy, for no codec).
    pub(crate) fn compress(&mut self, raw: &[u8]) -> Result<Bytes> {
        Ok(Bytes::from(match self.zstd.as_mut() {
            Some(zstd) => zstd.compress(raw)?,
            None => raw.to_vec(),
        }))
    }
}

impl Drop for PageCompressor {
    fn drop(&mut self) {
        if let Some(zstd) = self.zstd.take() {
            // On a thread being torn down the context is simply dropped.
            let _ = KEPT.try_with(|kept| *kept.borrow_mut() = Some(zstd));
        }
    }
}

/// Writes `strings` as a chunk's dictionary page, PLAIN (each string after
/// its length), through `raw`.
pub(crate) fn write_dictionary_page<W: std::io::Write + Send>(
    writer: &mut SerializedPageWriter<'_, W>,
    strings: &[&[u8]],
    compressor: &mut PageCompressor,
    properties: &WriterProperties,
    chunk: &mut ChunkTotals,
    raw: &mut Vec<u8>,
) -> Result<()> {
    raw.clear();
    for text in strings {
        raw.extend_from_slice(&(text.len() as u32).to_le_bytes());
        raw.extend_from_slice(text);
    }
    let encoding = properties.dictionary_page_encoding();
    let spec = writer.write_page(CompressedPage::new(
        Page::DictionaryPage {
            buf: compressor.compress(raw)?,
            num_values: strings.len() as u32,
            encoding,
            is_sorted: false,
        },
        raw.len(),
    ))?;
    chunk.add(&spec, encoding, None);
    chunk.dictionary_page = true;
    Ok(())
}

/// What a column chunk's metadata and offset index record of its pages.
#[derive(Default)]
pub(crate) struct ChunkTotals {
    pub compressed: i64,
    pub uncompressed: i64,
    pub values: i64,
    pub dictionary_page: bool,
    pub data_page_offset: Option<i64>,
    pub stats: Vec<PageEncodingStats>,
    pub locations: Vec<PageLocation>,
}

impl ChunkTotals {
    /// Writes `raw` as a v1 data page (no page statistics) whose first row
    /// and count of values (levels, where it has them) are `data`.
    pub(crate) fn write_data_page<W: std::io::Write + Send>(
        &mut self,
        writer: &mut SerializedPageWriter<'_, W>,
        compressor: &mut PageCompressor,
        raw: &[u8],
        data: (usize, u32),
        encoding: Encoding,
    ) -> Result<()> {
        let spec = writer.write_page(CompressedPage::new(
            Page::DataPage {
                buf: compressor.compress(raw)?,
                num_values: data.1,
                encoding,
                def_level_encoding: Encoding::RLE,
                rep_level_encoding: Encoding::RLE,
                statistics: None,
            },
            raw.len(),
        ))?;
        self.add(&spec, encoding, Some(data));
        Ok(())
    }

    /// The chunk's metadata as its pages give it (sizes, values, encodings
    /// and their counts, offsets), taking the encoding counts.
    pub(crate) fn metadata(
        &mut self,
        descriptor: ColumnDescPtr,
        codec: Compression,
    ) -> ColumnChunkMetaDataBuilder {
        // RLE for the levels, which every data page of format v1 declares.
        let mut encodings = vec![Encoding::RLE];
        encodings.extend(self.stats.iter().map(|s| s.encoding));
        encodings.sort_unstable_by_key(|e| *e as i32);
        encodings.dedup();
        ColumnChunkMetaData::builder(descriptor)
            .set_compression(codec)
            .set_encodings(encodings)
            .set_page_encoding_stats(std::mem::take(&mut self.stats))
            .set_total_compressed_size(self.compressed)
            .set_total_uncompressed_size(self.uncompressed)
            .set_num_values(self.values)
            .set_data_page_offset(self.data_page_offset.unwrap_or(0))
            .set_dictionary_page_offset(self.dictionary_page.then_some(0))
    }

    /// Adds a page written as `spec` in `encoding`: a data page (its first
    /// row and level count) or the dictionary page.
    pub(crate) fn add(
        &mut self,
        spec: &PageWriteSpec,
        encoding: Encoding,
        data: Option<(usize, u32)>,
    ) {
        self.compressed += spec.compressed_size as i64;
        self.uncompressed += spec.uncompressed_size as i64;
        let page_type = match data {
            None => PageType::DICTIONARY_PAGE,
            Some((first_row, levels)) => {
                self.values += i64::from(levels);
                self.data_page_offset.get_or_insert(spec.offset as i64);
                self.locations.push(PageLocation {
                    offset: spec.offset as i64,
                    compressed_page_size: spec.compressed_size as i32,
                    first_row_index: first_row as i64,
                });
                PageType::DATA_PAGE
            }
        };
        match self.stats.last_mut() {
            Some(last) if last.page_type == page_type && last.encoding == encoding => {
                last.count += 1
            }
            _ => self.stats.push(PageEncodingStats {
                page_type,
                encoding,
                count: 1,
            }),
        }
    }
}

/// A map column's entries (one leaf of them) and the rows they belong to.
struct Entries<'a> {
    leaf: Leaf<'a>,
    offsets: &'a [i32],
}

impl<'a> Entries<'a> {
    fn rows(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// Whether every row's map is empty.
    fn of_rows_empty(&self) -> bool {
        self.offsets.first() == self.offsets.last()
    }

    /// The first row's first entry.
    fn first(&self) -> usize {
        self.offsets.first().copied().unwrap_or(0) as usize
    }

    /// Entry `entry`'s string (its index in the whole entries array).
    fn string(&self, entry: usize) -> &'a [u8] {
        match self.leaf {
            Leaf::Strings(strings) => string_at(strings, entry),
            Leaf::Interned { ids, strings } => string_at(strings, ids[entry] as usize),
        }
    }

    /// Whether rows `a` and `b` of a leaf of [`Leaf::Strings`] hold the same
    /// strings: the same lengths and the same bytes.
    fn same_rows(&self, strings: &StringArray, a: usize, b: usize) -> bool {
        let (a, b) = (self.of_row(a), self.of_row(b));
        let ends = strings.value_offsets();
        let (a_ends, b_ends) = (&ends[a.start..=a.end], &ends[b.start..=b.end]);
        let bytes = strings.values().as_slice();
        a.len() == b.len()
            && a_ends[a.len()] - a_ends[0] == b_ends[b.len()] - b_ends[0]
            && a_ends
                .iter()
                .zip(b_ends)
                .all(|(x, y)| x - a_ends[0] == y - b_ends[0])
            && same_bytes(
                &bytes[a_ends[0] as usize..a_ends[a.len()] as usize],
                &bytes[b_ends[0] as usize..b_ends[b.len()] as usize],
            )
    }

    /// Entries of `row`: its place in the entries array.
    fn of_row(&self, row: usize) -> std::ops::Range<usize> {
        self.offsets[row] as usize..self.offsets[row + 1] as usize
    }
}

/// String `index` of `strings`, as bytes.
pub(crate) fn string_at(strings: &StringArray, index: usize) -> &[u8] {
    let ends = strings.value_offsets();
    &strings.values().as_slice()[ends[index] as usize..ends[index + 1] as usize]
}

/// Data pages' rows: ending on a row boundary once they hold the page row
/// count limit or, as parquet's writer estimates a page, the page size limit
/// (a dictionary index at its bit width, a plain value at its length plus
/// four), and at `dictionary_rows`, where dictionary pages give way to plain
/// ones.
fn page_bounds(
    entries: &Entries<'_>,
    dictionary_rows: usize,
    properties: &WriterProperties,
) -> Vec<std::ops::Range<usize>> {
    let row_limit = properties.data_page_row_count_limit().max(1);
    let size_limit = properties.data_page_size_limit().max(1);
    if entries.of_rows_empty() {
        // Nothing but levels: pages of the row count limit.
        return (0..entries.rows())
            .step_by(row_limit)
            .map(|start| start..(start + row_limit).min(entries.rows()))
            .collect();
    }
    let mut pages = Vec::new();
    let mut start = 0;
    let mut size = 0;
    for row in 0..entries.rows() {
        let of_row = entries.of_row(row);
        size += if row < dictionary_rows {
            // Indices take at most four bytes each: a page of them stays
            // within the limit however wide.
            of_row.len() * 4
        } else {
            of_row.map(|entry| 4 + entries.string(entry).len()).sum()
        };
        if row + 1 - start >= row_limit || size >= size_limit || row + 1 == dictionary_rows {
            pages.push(start..row + 1);
            start = row + 1;
            size = 0;
        }
    }
    if start < entries.rows() {
        pages.push(start..entries.rows());
    }
    pages
}

/// Appends the repetition and definition levels of `rows`, RLE-encoded with
/// their length before each (as a v1 data page holds them), and returns
/// their count: a row's first entry is at repetition 0, the others at 1;
/// every entry at definition 1, and an empty map one level at 0.
fn levels(offsets: &[i32], rows: std::ops::Range<usize>, out: &mut Vec<u8>) -> u32 {
    let lengths = || {
        rows.clone()
            .map(|row| (offsets[row + 1] - offsets[row]) as usize)
    };
    length_prefixed(out, |encoder| {
        for entries in lengths() {
            encoder.run(0, 1);
            encoder.run(1, entries.saturating_sub(1));
        }
    });
    let mut count = 0;
    length_prefixed(out, |encoder| {
        for entries in lengths() {
            count += entries.max(1);
            encoder.run(u32::from(entries > 0), entries.max(1));
        }
    });
    count as u32
}

/// Appends the levels of `rows` empty maps, as [`levels`] would (each row
/// one level 0, for repetition and definition alike), in one run each.
fn empty_levels(rows: usize, out: &mut Vec<u8>) -> u32 {
    for _ in 0..2 {
        length_prefixed(out, |encoder| encoder.run(0, rows));
    }
    rows as u32
}

/// Appends the levels `write` gives a one-bit [`Hybrid`] encoder, after their
/// length in four bytes.
fn length_prefixed(out: &mut Vec<u8>, write: impl FnOnce(&mut Hybrid<'_>)) {
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    let mut encoder = Hybrid::new(1, out);
    write(&mut encoder);
    encoder.finish();
    let length = (out.len() - at - 4) as u32;
    out[at..at + 4].copy_from_slice(&length.to_le_bytes());
}

/// The most rows skipped between comparisons of a row with the one before.
const MAX_ROW_BACKOFF: usize = 64;

/// A leaf's dictionary: its distinct strings in the order first met, and
/// the index of each entry of its first `rows` rows.
#[derive(Default)]
struct Dictionary<'a> {
    strings: Vec<&'a [u8]>,
    /// Borrowed where they are the interned indices themselves.
    indices: Cow<'a, [u32]>,
    /// Rows whose entries are indexed: all of them, unless the dictionary
    /// passed its size limit (the rows after go plain).
    rows: usize,
    /// The PLAIN dictionary page's size: a 4-byte length before each string.
    plain_size: usize,
}

impl<'a> Dictionary<'a> {
    /// The dictionary of `entries`, up to the row at which its page passes
    /// `limit` bytes (that row included, as parquet's writer checks its
    /// dictionary after each batch of values).
    fn build(entries: &Entries<'a>, limit: usize) -> Self {
        match entries.leaf {
            Leaf::Strings(strings) => Self::of_strings(entries, strings, limit),
            Leaf::Interned { ids, strings } => Self::renumbered(entries, ids, strings, limit),
        }
    }

    /// [`build`](Self::build) for a leaf of interned strings: their indices
    /// renumbered in the order first met, the order of the dictionary of
    /// the same strings plain ([`of_strings`](Self::of_strings)). A row group
    /// of a batch (or a sorted batch) may hold some of its strings only, or
    /// meet them in another order.
    fn renumbered(
        entries: &Entries<'a>,
        ids: &'a [u32],
        strings: &'a StringArray,
        limit: usize,
    ) -> Self {
        let first = entries.first();
        let mut dictionary = Dictionary::default();
        // Interned in the order first met, as the shards intern a batch
        // already in the file's order, each index is its own number: the
        // indices are the interned ones, borrowed, not copied (5 MB a leaf
        // for a flush of 100,000 spans, read and written again). `met`
        // strings are met so far, those numbered below it.
        let mut met = 0u32;
        for row in 0..entries.rows() {
            let range = entries.of_row(row);
            for (entry, &id) in range.clone().zip(&ids[range]) {
                if id > met {
                    // Met out of order: renumbered from here.
                    return dictionary.renumber_from(entries, ids, strings, limit, row, entry);
                }
                if id == met {
                    met += 1;
                    dictionary.add(string_at(strings, id as usize));
                }
            }
            dictionary.rows = row + 1;
            if dictionary.plain_size > limit {
                break;
            }
        }
        let end = entries.offsets[dictionary.rows] as usize;
        dictionary.indices = Cow::Borrowed(&ids[first..end]);
        dictionary
    }

    /// [`renumbered`](Self::renumbered) from entry `entry` of row `row` on,
    /// the entries before numbered as interned.
    fn renumber_from(
        mut self,
        entries: &Entries<'a>,
        ids: &[u32],
        strings: &'a StringArray,
        limit: usize,
        row: usize,
        entry: usize,
    ) -> Self {
        let first = entries.first();
        let last = entries.offsets.last().copied().unwrap_or(0) as usize;
        let mut indices = Vec::with_capacity(last - first);
        indices.extend_from_slice(&ids[first..entry]);
        // Each interned string's number here, or `u32::MAX` until met.
        let mut numbers = vec![u32::MAX; strings.len()];
        for (number, slot) in numbers.iter_mut().enumerate().take(self.strings.len()) {
            *slot = number as u32;
        }
        let mut from = entry;
        for row in row..entries.rows() {
            let range = entries.of_row(row);
            for &id in &ids[from.max(range.start)..range.end] {
                let number = &mut numbers[id as usize];
                if *number == u32::MAX {
                    *number = self.strings.len() as u32;
                    self.add(string_at(strings, id as usize));
                }
                indices.push(*number);
            }
            from = 0;
            self.rows = row + 1;
            if self.plain_size > limit {
                break;
            }
        }
        self.indices = Cow::Owned(indices);
        self
    }

    /// Adds `text`, met for the first time, to the dictionary's strings.
    fn add(&mut self, text: &'a [u8]) {
        self.strings.push(text);
        self.plain_size += 4 + text.len();
    }

    /// [`build`](Self::build) for a leaf of strings.
    fn of_strings(entries: &Entries<'a>, strings: &StringArray, limit: usize) -> Self {
        let mut dictionary = Dictionary::default();
        let mut indices = Vec::with_capacity(
            entries.offsets.last().copied().unwrap_or(0) as usize - entries.first(),
        );
        // The strings' indices, found by a string's hash and compared with
        // the dictionary's strings: a table of indices alone.
        let mut index: HashTable<u32> = HashTable::new();
        let hasher = ahash::RandomState::new();
        // The row before's entries, with their indices.
        let mut before: Vec<(&[u8], u32)> = Vec::new();
        let first = entries.first();
        // Rows to go before comparing a row with the one before again, and
        // how many to skip after the next miss: a column whose rows seldom
        // repeat (records of several senders interleaved, values that vary
        // from row to row) stops paying for comparisons that read a row's
        // bytes only to fail.
        let (mut skip, mut backoff) = (0usize, 1usize);
        for row in 0..entries.rows() {
            // A row the same as the one before (a resource's attributes on
            // each of its spans): one comparison of all its bytes.
            if row > 0 && skip == 0 {
                if entries.same_rows(strings, row - 1, row) {
                    let previous = entries.of_row(row - 1);
                    indices.extend_from_within(previous.start - first..previous.end - first);
                    dictionary.rows = row + 1;
                    backoff = 1;
                    continue;
                }
                skip = backoff;
                backoff = (backoff * 2).min(MAX_ROW_BACKOFF);
            } else {
                skip = skip.saturating_sub(1);
            }
            for (place, entry) in entries.of_row(row).enumerate() {
                let text = entries.string(entry);
                let id = match before.get(place) {
                    Some(&(previous, id)) if same_bytes(previous, text) => id,
                    _ => {
                        let (id, new) = intern(&mut index, &hasher, &mut dictionary.strings, text);
                        if new {
                            dictionary.plain_size += 4 + text.len();
                        }
                        match before.get_mut(place) {
                            Some(slot) => *slot = (text, id),
                            None => before.push((text, id)),
                        }
                        id
                    }
                };
                indices.push(id);
            }
            dictionary.rows = row + 1;
            if dictionary.plain_size > limit {
                break;
            }
        }
        dictionary.indices = Cow::Owned(indices);
        dictionary
    }

    /// Bits per index: enough for the largest, and at least one.
    fn bit_width(&self) -> u8 {
        let largest = self.strings.len().saturating_sub(1) as u32;
        (32 - largest.leading_zeros()).max(1) as u8
    }
}

/// `text`'s index among `strings` (distinct strings in the order first met,
/// found through `index`, a table of their indices by hash), appended if
/// new; and whether it was.
pub(crate) fn intern<'a>(
    index: &mut HashTable<u32>,
    hasher: &ahash::RandomState,
    strings: &mut Vec<&'a [u8]>,
    text: &'a [u8],
) -> (u32, bool) {
    let known = &*strings;
    match index.entry(
        hasher.hash_one(text),
        |&id| same_bytes(known[id as usize], text),
        |&id| hasher.hash_one(known[id as usize]),
    ) {
        Entry::Occupied(found) => (*found.get(), false),
        Entry::Vacant(slot) => {
            let id = known.len() as u32;
            slot.insert(id);
            strings.push(text);
            (id, true)
        }
    }
}

/// Values that must repeat for an RLE run to be written rather than packed.
const MIN_RUN: usize = 8;

/// Groups of eight values in one bit-packed run at most: its header then
/// fits one byte, as every writer's does.
const MAX_PACKED_GROUPS: usize = 63;

/// Parquet's RLE / bit-packing hybrid encoding, at `bit_width` bits a value,
/// taking values run by run: runs of eight or more equal values as RLE runs,
/// the rest bit-packed in groups of eight (the last group padded with zeros,
/// which readers ignore: they know the count).
struct Hybrid<'o> {
    bit_width: u8,
    out: &'o mut Vec<u8>,
    /// The run being taken: a value and how many times it came so far.
    run: (u32, usize),
    /// Values not yet written, fewer than a full bit-packed run's.
    literals: Vec<u32>,
}

impl<'o> Hybrid<'o> {
    fn new(bit_width: u8, out: &'o mut Vec<u8>) -> Self {
        Self {
            bit_width,
            out,
            run: (0, 0),
            literals: Vec::with_capacity(MAX_PACKED_GROUPS * 8),
        }
    }

    /// `value`, `count` times: the run so far longer if it holds `value`.
    fn run(&mut self, value: u32, count: usize) {
        if count == 0 {
            return;
        }
        if self.run.0 == value {
            self.run.1 += count;
            return;
        }
        self.end_run();
        self.run = (value, count);
    }

    /// Writes the run taken so far, as an RLE run if long enough, else as
    /// literals.
    fn end_run(&mut self) {
        let (value, count) = std::mem::take(&mut self.run);
        // Literals before a run are packed in whole groups: the run lends
        // them its first values to fill the last group.
        let lent = (8 - self.literals.len() % 8) % 8;
        if count >= lent + MIN_RUN {
            self.literals.extend(std::iter::repeat_n(value, lent));
            pack(&self.literals, self.bit_width, self.out);
            self.literals.clear();
            rle(value, count - lent, self.bit_width, self.out);
            return;
        }
        for _ in 0..count {
            self.literals.push(value);
            if self.literals.len() == MAX_PACKED_GROUPS * 8 {
                pack(&self.literals, self.bit_width, self.out);
                self.literals.clear();
            }
        }
    }

    /// Writes the values left, their last group padded.
    fn finish(mut self) {
        self.end_run();
        pack(&self.literals, self.bit_width, self.out);
    }
}

/// Appends `values` in the RLE / bit-packing hybrid encoding, as
/// [`Hybrid`] would, but packing straight from `values` between runs (a
/// dictionary's indices are mostly literals).
pub(crate) fn hybrid_values(values: &[u32], bit_width: u8, out: &mut Vec<u8>) {
    let mut literals = 0;
    let mut at = 0;
    while at < values.len() {
        let value = values[at];
        let run_of_eight = values
            .get(at..at + MIN_RUN)
            .is_some_and(|next| next[MIN_RUN - 1] == value && next.iter().all(|&v| v == value));
        if !run_of_eight {
            at += 1;
            continue;
        }
        let end = at + values[at..].iter().take_while(|&&v| v == value).count();
        // Literals before a run are packed in whole groups: the run lends
        // them its first values to fill the last group.
        let lent = (8 - (at - literals) % 8) % 8;
        if end - at >= lent + MIN_RUN {
            pack_all(&values[literals..at + lent], bit_width, out);
            rle(value, end - at - lent, bit_width, out);
            literals = end;
        }
        at = end;
    }
    // The values after the last RLE run: whole groups packed; a last group
    // of one value repeated, with no packed run left open before it (none,
    // or whole runs of the most groups), is an RLE run, as parquet's writer
    // ends its encoding.
    let tail = &values[literals..];
    let groups = tail.len() / 8;
    let (packed, last) = tail.split_at(groups * 8);
    match last.first() {
        Some(&value)
            if groups.is_multiple_of(MAX_PACKED_GROUPS) && last.iter().all(|&v| v == value) =>
        {
            pack_all(packed, bit_width, out);
            rle(value, last.len(), bit_width, out);
        }
        _ => pack_all(tail, bit_width, out),
    }
}

/// Bit-packed runs of `values`, as many as their length takes.
fn pack_all(values: &[u32], bit_width: u8, out: &mut Vec<u8>) {
    for run in values.chunks(MAX_PACKED_GROUPS * 8) {
        pack(run, bit_width, out);
    }
}

/// An RLE run: its length, then the value in whole bytes.
fn rle(value: u32, count: usize, bit_width: u8, out: &mut Vec<u8>) {
    varint((count as u64) << 1, out);
    let bytes = usize::from(bit_width).div_ceil(8);
    out.extend_from_slice(&value.to_le_bytes()[..bytes]);
}

/// One bit-packed run of `values` (at most [`MAX_PACKED_GROUPS`] groups),
/// least significant bit first; the last group padded with zeros.
fn pack(values: &[u32], bit_width: u8, out: &mut Vec<u8>) {
    if values.is_empty() {
        return;
    }
    let groups = values.len().div_ceil(8);
    debug_assert!(groups <= MAX_PACKED_GROUPS);
    varint(((groups as u64) << 1) | 1, out);
    // Eight values of `bit_width` bits take `bit_width` bytes.
    let width = usize::from(bit_width);
    if width <= 8 {
        // A group at a time, in one 64-bit word: a dictionary of up to 256
        // strings.
        out.reserve(groups * width);
        for group in values.chunks(8) {
            let mut word = 0u64;
            for (i, &value) in group.iter().enumerate() {
                word |= u64::from(value) << (i * width);
            }
            out.extend_from_slice(&word.to_le_bytes()[..width]);
        }
        return;
    }
    let end = out.len() + groups * width;
    let mut buffer = 0u64;
    let mut bits = 0u32;
    for &value in values {
        buffer |= u64::from(value) << bits;
        bits += u32::from(bit_width);
        while bits >= 8 {
            out.push(buffer as u8);
            buffer >>= 8;
            bits -= 8;
        }
    }
    if bits > 0 {
        out.push(buffer as u8);
    }
    out.resize(end, 0);
}

/// `value` as an unsigned LEB128 varint.
fn varint(mut value: u64, out: &mut Vec<u8>) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, RecordBatch, StructArray};
    use arrow::buffer::OffsetBuffer;
    use arrow::datatypes::{DataType, Field, Schema};
    use parquet::arrow::arrow_reader::{
        ArrowReaderOptions, ParquetRecordBatchReaderBuilder, RowSelection, RowSelector,
    };
    use parquet::basic::ZstdLevel;
    use parquet::file::metadata::PageIndexPolicy;
    use parquet::file::properties::WriterProperties;
    use proptest::prelude::*;
    use sluice_model::Table;
    use sluice_model::attributes::{interned_map_type, map_type};

    use super::*;
    use crate::encode_parquet;

    /// A map column of `rows`, each a list of (key, value) entries.
    fn map_column(rows: &[Vec<(String, String)>]) -> ArrayRef {
        let DataType::Map(entries, sorted) = map_type() else {
            unreachable!("attributes are maps")
        };
        let DataType::Struct(fields) = entries.data_type().clone() else {
            unreachable!("map entries are structs")
        };
        let keys: StringArray = rows
            .iter()
            .flatten()
            .map(|(k, _)| Some(k.as_str()))
            .collect();
        let values: StringArray = rows
            .iter()
            .flatten()
            .map(|(_, v)| Some(v.as_str()))
            .collect();
        let columns: Vec<ArrayRef> = vec![Arc::new(keys), Arc::new(values)];
        let struct_array = StructArray::try_new(fields, columns, None).expect("entries");
        let offsets = OffsetBuffer::from_lengths(rows.iter().map(Vec::len));
        Arc::new(MapArray::try_new(entries, offsets, struct_array, None, sorted).expect("map"))
    }

    /// A batch of a row number and the map column.
    fn batch(rows: &[Vec<(String, String)>]) -> RecordBatch {
        let schema = Schema::new(vec![
            Field::new("Row", DataType::UInt64, false),
            Field::new("Attributes", map_type(), false),
        ]);
        let numbers = arrow::array::UInt64Array::from_iter_values(0..rows.len() as u64);
        RecordBatch::try_new(Arc::new(schema), vec![Arc::new(numbers), map_column(rows)])
            .expect("batch")
    }

    /// The batch of [`batch`] with its map interned. `in_order`: each
    /// leaf's distinct strings in the order first met, then strings no row
    /// holds, as the shards intern a batch (the encoder takes the indices
    /// as they are, in a row group that meets them so); otherwise in
    /// reverse order of first meeting, after strings no row holds, so that
    /// the encoder must renumber them.
    fn interned_batch(rows: &[Vec<(String, String)>], in_order: bool) -> RecordBatch {
        let interned = |strings: Vec<&str>| -> ArrayRef {
            let mut distinct: Vec<&str> = vec!["unused", "also unused"];
            for text in &strings {
                if !distinct.contains(text) {
                    match in_order {
                        true => distinct.insert(distinct.len() - 2, text),
                        false => distinct.insert(2, text),
                    }
                }
            }
            let ids = strings
                .iter()
                .map(|text| distinct.iter().position(|d| d == text).expect("listed") as u32);
            Arc::new(
                arrow::array::DictionaryArray::<UInt32Type>::try_new(
                    arrow::array::UInt32Array::from_iter_values(ids),
                    Arc::new(StringArray::from(distinct)),
                )
                .expect("ids within the strings"),
            )
        };
        let DataType::Map(entries, sorted) = interned_map_type() else {
            unreachable!("attributes are maps")
        };
        let DataType::Struct(fields) = entries.data_type().clone() else {
            unreachable!("map entries are structs")
        };
        let keys = interned(rows.iter().flatten().map(|(k, _)| k.as_str()).collect());
        let values = interned(rows.iter().flatten().map(|(_, v)| v.as_str()).collect());
        let struct_array = StructArray::try_new(fields, vec![keys, values], None).expect("entries");
        let offsets = OffsetBuffer::from_lengths(rows.iter().map(Vec::len));
        let map = MapArray::try_new(entries, offsets, struct_array, None, sorted).expect("map");
        let schema = Schema::new(vec![
            Field::new("Row", DataType::UInt64, false),
            Field::new("Attributes", interned_map_type(), false),
        ]);
        let numbers = arrow::array::UInt64Array::from_iter_values(0..rows.len() as u64);
        RecordBatch::try_new(Arc::new(schema), vec![Arc::new(numbers), Arc::new(map)])
            .expect("batch")
    }

    /// The rows read back from `bytes`, all of them or those `selection`
    /// picks (pages skipped by the offset index).
    fn read(bytes: Vec<u8>, selection: Option<RowSelection>) -> RecordBatch {
        let options = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Required);
        let mut builder =
            ParquetRecordBatchReaderBuilder::try_new_with_options(Bytes::from(bytes), options)
                .expect("a Parquet file");
        if let Some(selection) = selection {
            builder = builder.with_row_selection(selection);
        }
        let schema = builder.schema().clone();
        let batches: Vec<RecordBatch> = builder
            .build()
            .expect("a reader")
            .collect::<std::result::Result<_, _>>()
            .expect("readable");
        arrow::compute::concat_batches(&schema, &batches).expect("one schema")
    }

    /// Rows of entries drawn from `keys` and `values` distinct strings, some
    /// rows repeating the row before.
    fn rows() -> impl Strategy<Value = Vec<Vec<(String, String)>>> {
        (1usize..40, 1usize..3000).prop_flat_map(|(keys, values)| {
            let entry = (0..keys, 0..values).prop_map(|(k, v)| {
                (
                    format!("key.{k}"),
                    format!("value-{v}-{}", "x".repeat(v % 7)),
                )
            });
            let row = prop_oneof![
                1 => Just(None),
                4 => proptest::collection::vec(entry, 0..14).prop_map(Some),
            ];
            proptest::collection::vec(row, 1..300).prop_map(|rows| {
                let mut out: Vec<Vec<(String, String)>> = Vec::new();
                for row in rows {
                    // `None`: the row before again.
                    let row = row.unwrap_or_else(|| out.last().cloned().unwrap_or_default());
                    out.push(row);
                }
                out
            })
        })
    }

    fn properties(
        dictionary: bool,
        dictionary_limit: usize,
        page_rows: usize,
        page_bytes: usize,
        zstd: bool,
        row_group_rows: usize,
    ) -> WriterProperties {
        let compression = match zstd {
            true => Compression::ZSTD(ZstdLevel::try_new(1).expect("a zstd level")),
            false => Compression::UNCOMPRESSED,
        };
        WriterProperties::builder()
            .set_statistics_enabled(EnabledStatistics::None)
            .set_dictionary_enabled(dictionary)
            .set_dictionary_page_size_limit(dictionary_limit)
            .set_data_page_row_count_limit(page_rows)
            .set_data_page_size_limit(page_bytes)
            .set_compression(compression)
            .set_max_row_group_row_count(Some(row_group_rows))
            .build()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever the limits (dictionary pages giving way to plain ones,
        /// pages of one row, row groups of one), parquet's reader gives back
        /// the maps written, all rows or a selection of them. The same maps
        /// interned are written as the same bytes; and where the encoder
        /// declines them (statistics asked for), parquet's writer takes them
        /// as strings.
        #[test]
        fn maps_read_back_as_written(
            rows in rows(),
            dictionary in prop::bool::weighted(0.8),
            dictionary_limit in prop_oneof![Just(16usize), Just(600), Just(1 << 20)],
            page_rows in prop_oneof![Just(1usize), Just(7), Just(20_000)],
            page_bytes in prop_oneof![Just(64usize), Just(1 << 20)],
            zstd in any::<bool>(),
            row_group_rows in prop_oneof![Just(1usize), Just(97), Just(1_000)],
            skip in 0usize..300,
            take in 1usize..300,
        ) {
            let batch = batch(&rows);
            let properties =
                properties(dictionary, dictionary_limit, page_rows, page_bytes, zstd, row_group_rows);
            let bytes = encode_parquet(Table::Traces, &batch, properties.clone()).expect("encodes");
            prop_assert_eq!(&read(bytes.clone(), None), &batch);
            let encode = |batch: &RecordBatch, properties: WriterProperties| {
                encode_parquet(Table::Traces, batch, properties).expect("encodes")
            };
            prop_assert!(encode(&interned_batch(&rows, true), properties.clone()) == bytes);
            let interned = interned_batch(&rows, false);
            prop_assert!(encode(&interned, properties) == bytes);
            let statistics = WriterProperties::builder()
                .set_max_row_group_row_count(Some(row_group_rows))
                .build();
            let declined = encode(&interned, statistics.clone());
            prop_assert!(declined == encode(&batch, statistics));
            prop_assert_eq!(&read(declined, None), &batch);

            let skip = skip.min(rows.len() - 1);
            let take = take.min(rows.len() - skip);
            let selection = RowSelection::from(vec![
                RowSelector::skip(skip),
                RowSelector::select(take),
                RowSelector::skip(rows.len() - skip - take),
            ]);
            prop_assert_eq!(read(bytes, Some(selection)), batch.slice(skip, take));
        }

        /// The hybrid encoding of any values at any width reads back
        /// through parquet's reader (as dictionary indices and levels).
        #[test]
        fn runs_and_literals_encode_as_parquet_reads_them(
            runs in proptest::collection::vec((0usize..70, 1usize..40), 1..60),
        ) {
            // Rows of one entry whose value is the run's number: long runs
            // of one index, then literals, at widths up to 7 bits.
            let rows: Vec<Vec<(String, String)>> = runs
                .iter()
                .flat_map(|&(value, length)| {
                    std::iter::repeat_n(vec![("k".to_string(), format!("{value}"))], length)
                })
                .collect();
            let batch = batch(&rows);
            let properties = properties(true, 1 << 20, 20_000, 1 << 20, false, 10_000);
            let bytes = encode_parquet(Table::Traces, &batch, properties).expect("encodes");
            prop_assert_eq!(read(bytes, None), batch);
        }
    }

    /// A dictionary wide enough for 17-bit indices, and a row of more entries
    /// than one bit-packed run holds.
    #[test]
    fn wide_indices_and_long_rows_read_back() {
        let mut rows: Vec<Vec<(String, String)>> = (0..70_000)
            .map(|i| vec![("k".to_string(), format!("v{i}"))])
            .collect();
        rows.push(
            (0..2_000)
                .map(|i| (format!("k{i}"), "v".to_string()))
                .collect(),
        );
        rows.push(Vec::new());
        let batch = batch(&rows);
        let properties = properties(true, 8 << 20, 20_000, 1 << 20, true, 1 << 20);
        let bytes = encode_parquet(Table::Traces, &batch, properties).expect("encodes");
        assert_eq!(read(bytes, None), batch);
    }

    /// A column of empty maps only (a scope's attributes, mostly), in pages
    /// of any size, with a dictionary or without: read back whole and
    /// through a selection.
    #[test]
    fn empty_maps_read_back() {
        let rows = vec![Vec::new(); 100];
        let batch = batch(&rows);
        for page_rows in [1, 7, 20_000] {
            for dictionary in [true, false] {
                let properties = properties(dictionary, 1 << 20, page_rows, 1 << 20, true, 60);
                let bytes = encode_parquet(Table::Traces, &batch, properties).expect("encodes");
                assert_eq!(read(bytes.clone(), None), batch);
                let selection = RowSelection::from(vec![
                    RowSelector::skip(13),
                    RowSelector::select(50),
                    RowSelector::skip(37),
                ]);
                assert_eq!(read(bytes, Some(selection)), batch.slice(13, 50));
            }
        }
    }

    /// Rows whose strings run together the same (`ab`, `c` and `a`, `bc`)
    /// are not the same row.
    #[test]
    fn rows_of_the_same_bytes_split_differently_differ() {
        let entry = |k: &str, v: &str| (k.to_string(), v.to_string());
        let rows = vec![
            vec![entry("ab", "x"), entry("c", "yz")],
            vec![entry("a", "x"), entry("bc", "yz")],
            vec![entry("a", "xy"), entry("bc", "z")],
        ];
        let batch = batch(&rows);
        let properties = properties(true, 1 << 20, 20_000, 1 << 20, true, 1000);
        let bytes = encode_parquet(Table::Traces, &batch, properties).expect("encodes");
        assert_eq!(read(bytes, None), batch);
    }

    /// A chunk compressed with the thread's kept zstd context, last used at
    /// another level, is the chunk a fresh context makes.
    #[test]
    fn a_kept_context_compresses_as_a_fresh_one() {
        let raw: Vec<u8> = (0..10_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        for level in [1, 3, 9, 1] {
            let fresh = zstd::bulk::Compressor::new(level)
                .and_then(|mut zstd| zstd.compress(&raw))
                .expect("compresses");
            let codec = Compression::ZSTD(ZstdLevel::try_new(level).expect("a zstd level"));
            let mut kept = PageCompressor::of(codec).expect("zstd").expect("taken");
            assert_eq!(
                kept.compress(&raw).expect("compresses").as_ref(),
                fresh.as_slice()
            );
        }
        assert!(KEPT.with(|kept| kept.borrow().is_some()));
    }

    /// The encoder takes zstd and uncompressed chunks with or without a
    /// dictionary; it declines null maps, which need levels it does not
    /// write.
    #[test]
    fn what_the_encoder_takes_and_declines() {
        let rows = vec![vec![("a".to_string(), "b".to_string())]; 3];
        let batch = batch(&rows);
        let descriptor = parquet::arrow::ArrowSchemaConverter::new()
            .convert(&batch.schema())
            .expect("converts");
        let leaf = |i: usize| descriptor.column(i);
        let map = string_map(batch.column(1).as_ref()).expect("a map of strings");
        for zstd in [true, false] {
            for dictionary in [true, false] {
                let properties = properties(dictionary, 1 << 20, 20_000, 1 << 20, zstd, 1000);
                let chunks = encode_map(&map, leaf(1), leaf(2), &properties).expect("encodes");
                assert!(
                    chunks.iter().all(Option::is_some),
                    "zstd {zstd}, dictionary {dictionary}"
                );
            }
        }
        let nullable = MapArray::new(
            match map_type() {
                DataType::Map(entries, _) => entries,
                _ => unreachable!("attributes are maps"),
            },
            map.map.offsets().clone(),
            map.map.entries().clone(),
            Some(vec![true, false, true].into()),
            false,
        );
        assert!(string_map(&nullable).is_none());
        assert!(string_map(batch.column(0).as_ref()).is_none());

        // Statistics and bloom filters are parquet's to write.
        let declined = |properties: WriterProperties| {
            let chunks = encode_map(&map, leaf(1), leaf(2), &properties).expect("encodes");
            chunks.iter().all(Option::is_none)
        };
        let statistics = WriterProperties::builder()
            .set_statistics_enabled(EnabledStatistics::Page)
            .build();
        assert!(declined(statistics));
        let bloom = WriterProperties::builder()
            .set_statistics_enabled(EnabledStatistics::None)
            .set_bloom_filter_enabled(true)
            .build();
        assert!(declined(bloom));
    }

    /// `encode_parquet` hands the map to this encoder: its data pages carry
    /// the encoder's mark, a one-string dictionary's indices at one bit
    /// (parquet's writer gives them zero bits).
    #[test]
    fn encode_parquet_sends_maps_here() {
        use parquet::file::reader::{FileReader, SerializedFileReader};

        let rows = vec![vec![("a".to_string(), "b".to_string())]; 50];
        let properties = properties(true, 1 << 20, 20_000, 1 << 20, false, 1000);
        let bytes = encode_parquet(Table::Traces, &batch(&rows), properties).expect("encodes");
        let file = SerializedFileReader::new(Bytes::from(bytes)).expect("a Parquet file");
        let row_group = file.get_row_group(0).expect("one row group");
        for leaf in [1, 2] {
            let mut pages = row_group.get_column_page_reader(leaf).expect("the leaf");
            let mut data_pages = 0;
            while let Some(page) = pages.get_next_page().expect("readable") {
                if page.page_type() != PageType::DATA_PAGE {
                    continue;
                }
                // A v1 page: repetition and definition levels, each after
                // its 4-byte length, then the indices' bit width.
                let buf = page.buffer();
                let length = |at: usize| {
                    u32::from_le_bytes(buf[at..at + 4].try_into().expect("4 bytes")) as usize
                };
                let definition = 4 + length(0);
                let bit_width = buf[definition + 4 + length(definition)];
                assert_eq!(bit_width, 1, "leaf {leaf}");
                data_pages += 1;
            }
            assert_eq!(data_pages, 1, "leaf {leaf}");
        }
    }
}
