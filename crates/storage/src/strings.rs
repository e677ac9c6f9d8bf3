//! Top-level string columns to Parquet column chunks: the flush's own
//! encoder for the dictionary-encoded strings of a row (`ServiceName`,
//! `SpanName`, `SpanKind`, `ScopeName`, `StatusCode`, the schema URLs...).
//!
//! Where it sits: [`crate::encode_parquet`] hands it each top-level string
//! column of a row group and splices the chunk it returns into the file, as
//! it does the attribute maps' ([`crate::maps`]); parquet's Arrow writer
//! takes the columns it declines.
//!
//! Why: parquet's writer interns every value (hash, probe, compare) and
//! compares every value with the running minimum and maximum of its page,
//! though these columns take a handful of values a batch, mostly in runs
//! (the rows are sorted by service). Here a value the same as the one
//! before takes that value's index (one comparison); only the rest are
//! hashed. A page's minimum and maximum are found among the distinct
//! values it holds.
//!
//! The chunk is the one parquet's writer writes, byte for byte: a PLAIN
//! dictionary page; data pages (format v1) of RLE_DICTIONARY indices at the
//! width of the dictionary as it stood when the page was cut; pages cut
//! where parquet's writer cuts them (after each mini-batch it takes: the
//! `write_batch_size` values, or fewer where their bytes could pass what is
//! left of `dictionary_page_size_limit`, as long schema URLs do; once they
//! hold `data_page_row_count_limit` rows or its estimate of their size
//! passes `data_page_size_limit`); chunk statistics, a column index and an
//! offset index as the settings ask. Where parquet's writer would do
//! something else the encoder declines the column: nulls, a dictionary that
//! would pass `dictionary_page_size_limit` (parquet's writer then falls back
//! to plain pages), minimums or maximums that statistics would truncate,
//! bloom filters, page header statistics, codecs other than zstd and none,
//! format v2 pages.

use arrow::array::{Array, AsArray, StringArray};
use bytes::Bytes;
use hashbrown::HashTable;
use parquet::basic::{BoundaryOrder, Compression, Type};
use parquet::column::page::PageWriter;
use parquet::column::writer::ColumnCloseResult;
use parquet::data_type::ByteArray;
use parquet::errors::Result;
use parquet::file::metadata::ColumnIndexBuilder;
use parquet::file::page_index::offset_index::OffsetIndexMetaData;
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use parquet::file::statistics::{Statistics, ValueStatistics};
use parquet::file::writer::{SerializedPageWriter, TrackedWrite};
use parquet::schema::types::{ColumnDescPtr, ColumnPath};

use crate::maps::{
    ChunkTotals, EncodedChunk, PageCompressor, hybrid_values, intern, same_bytes, string_at,
    write_dictionary_page,
};

/// The bytes a dictionary page gives each string besides its own: its
/// length.
const LENGTH_PREFIX: usize = 4;

/// `column`'s chunk (all its rows: one row group's), or `None` where
/// parquet's writer should take it (see the module docs).
pub(crate) fn encode_strings(
    column: &dyn Array,
    descriptor: ColumnDescPtr,
    properties: &WriterProperties,
) -> Result<Option<EncodedChunk>> {
    let Some(strings) = column.as_string_opt::<i32>() else {
        return Ok(None);
    };
    let path = &descriptor.path().clone();
    if !matches!(
        properties.compression(path),
        Compression::ZSTD(_) | Compression::UNCOMPRESSED
    ) || strings.is_empty()
        || strings.null_count() > 0
        || descriptor.max_def_level() > 0
        || descriptor.max_rep_level() > 0
        || descriptor.physical_type() != Type::BYTE_ARRAY
        || !properties.dictionary_enabled(path)
        || properties.bloom_filter_properties(path).is_some()
        || properties.write_page_header_statistics(path)
        || properties.writer_version() != WriterVersion::PARQUET_1_0
    {
        return Ok(None);
    }
    let Some(dictionary) = Dictionary::build(strings, properties, path) else {
        return Ok(None);
    };
    let statistics = properties.statistics_enabled(path);
    // Statistics keep a value whole up to the shorter truncation length;
    // a longer one parquet's writer truncates (and, for a maximum, bumps).
    let keeps_whole = [
        properties.statistics_truncate_length(),
        properties.column_index_truncate_length(),
    ]
    .into_iter()
    .flatten()
    .min()
    .is_none_or(|limit| dictionary.longest <= limit);
    if statistics != EnabledStatistics::None && !keeps_whole {
        return Ok(None);
    }
    let Some(mut compressor) = PageCompressor::of(properties.compression(path))? else {
        return Ok(None);
    };

    let mut sink = TrackedWrite::new(Vec::new());
    let mut writer = SerializedPageWriter::new(&mut sink);
    let mut chunk = ChunkTotals::default();
    let mut raw = Vec::with_capacity(dictionary.plain_size);
    write_dictionary_page(
        &mut writer,
        &dictionary.strings,
        &mut compressor,
        properties,
        &mut chunk,
        &mut raw,
    )?;

    let mut bounds = PageBounds::new(&dictionary);
    let mut column_index = ColumnIndexBuilder::new(Type::BYTE_ARRAY);
    if statistics != EnabledStatistics::Page {
        column_index.to_invalid();
    }
    let mut unencoded = Vec::new();
    let mut total_bytes = 0i64;
    // The chunk's least and greatest values.
    let mut extremes: Option<(&[u8], &[u8])> = None;
    let offsets = strings.value_offsets();
    for page in dictionary.pages(properties, path) {
        let indices = &dictionary.indices[page.rows.clone()];
        raw.clear();
        raw.push(page.bit_width);
        hybrid_values(indices, page.bit_width, &mut raw);
        let encoding = properties.dictionary_data_page_encoding();
        chunk.write_data_page(
            &mut writer,
            &mut compressor,
            &raw,
            (page.rows.start, indices.len() as u32),
            encoding,
        )?;
        let bytes = i64::from(offsets[page.rows.end] - offsets[page.rows.start]);
        unencoded.push(bytes);
        total_bytes += bytes;
        if statistics == EnabledStatistics::None {
            continue;
        }
        let (least, greatest) = bounds.of_page(indices);
        let (min, max) = (
            dictionary.strings[least as usize],
            dictionary.strings[greatest as usize],
        );
        if column_index.valid() {
            column_index.append(false, min.to_vec(), max.to_vec(), 0);
            bounds.order(min, max);
        }
        extremes = Some(match extremes {
            None => (min, max),
            Some((least, greatest)) => (least.min(min), greatest.max(max)),
        });
    }
    writer.close()?;

    let mut metadata = chunk.metadata(descriptor, properties.compression(path));
    // Only where statistics are asked for.
    if let Some((least, greatest)) = extremes {
        let value = |text: &[u8]| Some(ByteArray::from(text.to_vec()));
        let min_max = ValueStatistics::new(value(least), value(greatest), None, Some(0), false);
        metadata = metadata
            .set_statistics(Statistics::ByteArray(min_max))
            .set_unencoded_byte_array_data_bytes(Some(total_bytes));
    }
    column_index.set_boundary_order(bounds.boundary_order());
    let column_index = match column_index.valid() {
        true => Some(column_index.build()?),
        false => None,
    };
    let bytes = Bytes::from(sink.into_inner()?);
    Ok(Some(EncodedChunk {
        close: ColumnCloseResult {
            bytes_written: bytes.len() as u64,
            rows_written: strings.len() as u64,
            metadata: metadata.build()?,
            bloom_filter: None,
            column_index,
            offset_index: (!properties.offset_index_disabled()).then_some(OffsetIndexMetaData {
                page_locations: chunk.locations,
                unencoded_byte_array_data_bytes: Some(unencoded),
            }),
        },
        bytes,
    }))
}

/// A column's dictionary: its distinct strings in the order first met, the
/// index of each row's, and its size at the end of each mini-batch of
/// values parquet's writer takes (where it may cut a page).
struct Dictionary<'a> {
    strings: Vec<&'a [u8]>,
    indices: Vec<u32>,
    /// For each mini-batch: its end (a row) and the strings met up to it.
    batches: Vec<(usize, usize)>,
    /// The PLAIN dictionary page's size: a 4-byte length before each string.
    plain_size: usize,
    /// The longest string's length.
    longest: usize,
}

impl<'a> Dictionary<'a> {
    /// The dictionary of `strings`, or `None` where parquet's writer would
    /// leave dictionary encoding (the page passing its limit).
    fn build(
        strings: &'a StringArray,
        properties: &WriterProperties,
        path: &ColumnPath,
    ) -> Option<Self> {
        let limit = properties.column_dictionary_page_size_limit(path);
        let batch = properties.write_batch_size().max(1);
        let rows = strings.len();
        let offsets = strings.value_offsets();
        let mut dictionary = Dictionary {
            strings: Vec::new(),
            indices: Vec::with_capacity(rows),
            batches: Vec::with_capacity(rows.div_ceil(batch)),
            plain_size: 0,
            longest: 0,
        };
        let mut index: HashTable<u32> = HashTable::new();
        let hasher = ahash::RandomState::new();
        let mut before: Option<(&[u8], u32)> = None;
        for start in (0..rows).step_by(batch) {
            let end = (start + batch).min(rows);
            let step = mini_batch(
                offsets,
                start..end,
                limit.saturating_sub(dictionary.plain_size),
            );
            for first in (start..end).step_by(step) {
                let last = (first + step).min(end);
                for row in first..last {
                    let text = string_at(strings, row);
                    let id = match before {
                        Some((previous, id)) if same_bytes(previous, text) => id,
                        _ => {
                            let (id, new) =
                                intern(&mut index, &hasher, &mut dictionary.strings, text);
                            if new {
                                dictionary.plain_size += LENGTH_PREFIX + text.len();
                                dictionary.longest = dictionary.longest.max(text.len());
                            }
                            before = Some((text, id));
                            id
                        }
                    };
                    dictionary.indices.push(id);
                }
                // Past the limit parquet's writer falls back to plain pages.
                if dictionary.plain_size >= limit {
                    return None;
                }
                dictionary.batches.push((last, dictionary.strings.len()));
            }
        }
        Some(dictionary)
    }

    /// The data pages: cut after a mini-batch once they hold the row count
    /// limit or parquet's estimate of their size passes the size limit, each
    /// at the bit width of the dictionary as it then stood; the last page
    /// at the whole dictionary's.
    fn pages(&self, properties: &WriterProperties, path: &ColumnPath) -> Vec<DataPage> {
        let row_limit = properties.data_page_row_count_limit();
        let size_limit = properties.column_data_page_size_limit(path);
        let mut pages = Vec::new();
        let mut start = 0;
        for &(end, strings) in &self.batches {
            let bit_width = bit_width(strings);
            if end - start >= row_limit || 1 + max_hybrid_size(bit_width, end - start) >= size_limit
            {
                pages.push(DataPage {
                    rows: start..end,
                    bit_width,
                });
                start = end;
            }
        }
        if start < self.indices.len() {
            pages.push(DataPage {
                rows: start..self.indices.len(),
                bit_width: bit_width(self.strings.len()),
            });
        }
        pages
    }
}

/// How many values parquet's writer takes at a time from the batch `rows`
/// (its byte budget chunker): all of them where their bytes, each with its
/// length, fit `budget` (what is left of the dictionary page's limit),
/// counted over all of them, repeats and all; else as many as fit and the
/// one that passes, in mini-batches of that many to the batch's end.
fn mini_batch(offsets: &[i32], rows: std::ops::Range<usize>, budget: usize) -> usize {
    let length = |row: usize| (offsets[row + 1] - offsets[row]) as usize + LENGTH_PREFIX;
    let payload = (offsets[rows.end] - offsets[rows.start]) as usize + LENGTH_PREFIX * rows.len();
    if payload <= budget {
        return rows.len();
    }
    let mut total = 0;
    for (taken, row) in rows.clone().enumerate() {
        total += length(row);
        if total > budget {
            return taken + 1;
        }
    }
    rows.len()
}

/// One data page: its rows and its indices' bit width.
struct DataPage {
    rows: std::ops::Range<usize>,
    bit_width: u8,
}

/// Bits per index of a dictionary of `strings` strings, as parquet's writer
/// counts them: none for one string.
fn bit_width(strings: usize) -> u8 {
    let largest = strings.saturating_sub(1) as u32;
    (32 - largest.leading_zeros()) as u8
}

/// Parquet's writer's bound on the hybrid encoding of `values` values at
/// `bit_width` (`RleEncoder::max_buffer_size`): runs of eight, bit-packed
/// or RLE, whichever is larger.
fn max_hybrid_size(bit_width: u8, values: usize) -> usize {
    let runs = values.div_ceil(8);
    let packed = runs + runs * usize::from(bit_width);
    let rle = runs * (1 + usize::from(bit_width).div_ceil(8));
    packed.max(rle)
}

/// The pages' minimums and maximums, as the column index orders them.
struct PageBounds<'d> {
    strings: &'d [&'d [u8]],
    /// The page each string was last met in (`u32::MAX`: none yet).
    seen: Vec<u32>,
    page: u32,
    last: Option<(&'d [u8], &'d [u8])>,
    ascending: bool,
    descending: bool,
}

impl<'d> PageBounds<'d> {
    fn new(dictionary: &'d Dictionary<'_>) -> Self {
        Self {
            strings: &dictionary.strings,
            seen: vec![u32::MAX; dictionary.strings.len()],
            page: 0,
            last: None,
            ascending: true,
            descending: true,
        }
    }

    /// The least and greatest of a page's strings (as indices), each
    /// distinct string compared once.
    fn of_page(&mut self, indices: &[u32]) -> (u32, u32) {
        let page = self.page;
        self.page += 1;
        let first = indices[0];
        let (mut least, mut greatest) = (first, first);
        for &index in indices {
            let seen = &mut self.seen[index as usize];
            if *seen == page {
                continue;
            }
            *seen = page;
            let text = self.strings[index as usize];
            if text < self.strings[least as usize] {
                least = index;
            }
            if text > self.strings[greatest as usize] {
                greatest = index;
            }
        }
        (least, greatest)
    }

    /// Takes the next page's minimum and maximum into the boundary order.
    fn order(&mut self, min: &'d [u8], max: &'d [u8]) {
        if let Some((last_min, last_max)) = self.last {
            self.ascending &= last_min <= min && last_max <= max;
            self.descending &= min <= last_min && max <= last_max;
        }
        self.last = Some((min, max));
    }

    /// As parquet's writer gives it: pages of equal bounds are ascending.
    fn boundary_order(&self) -> BoundaryOrder {
        match (self.ascending, self.descending) {
            (true, _) => BoundaryOrder::ASCENDING,
            (false, true) => BoundaryOrder::DESCENDING,
            (false, false) => BoundaryOrder::UNORDERED,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, RecordBatch, UInt64Array};
    use arrow::datatypes::{DataType, Field, Schema};
    use parquet::arrow::ArrowWriter;
    use parquet::basic::ZstdLevel;
    use proptest::prelude::*;
    use sluice_model::Table;

    use super::*;
    use crate::encode_parquet;

    /// A batch of a row number and one string column per list of values.
    fn batch(columns: &[Vec<String>]) -> RecordBatch {
        let rows = columns.first().map_or(0, Vec::len);
        let mut fields = vec![Field::new("Row", DataType::UInt64, false)];
        let mut arrays: Vec<ArrayRef> =
            vec![Arc::new(UInt64Array::from_iter_values(0..rows as u64))];
        for (i, values) in columns.iter().enumerate() {
            fields.push(Field::new(format!("Text{i}"), DataType::Utf8, false));
            arrays.push(Arc::new(StringArray::from_iter_values(values)));
        }
        RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).expect("batch")
    }

    /// What parquet's own writer makes of `batch`.
    fn parquet_writes(batch: &RecordBatch, properties: WriterProperties) -> Vec<u8> {
        let mut writer =
            ArrowWriter::try_new(Vec::new(), batch.schema(), Some(properties)).expect("a writer");
        writer.write(batch).expect("writes");
        writer.into_inner().expect("closes")
    }

    /// A column of `rows` values drawn from `distinct` strings of up to
    /// `longest` bytes, in runs of up to `run` rows.
    fn column(rows: usize) -> impl Strategy<Value = Vec<String>> {
        (1usize..40, 0usize..90, 1usize..30).prop_flat_map(move |(distinct, longest, run)| {
            let value = (0..distinct, 1..=run).prop_map(move |(v, n)| {
                let text = format!("{v}-{}", "é".repeat(v % (longest / 2 + 1)));
                let text: String = text.chars().take(longest.max(1)).collect();
                vec![text; n]
            });
            proptest::collection::vec(value, rows)
                .prop_map(move |runs| runs.into_iter().flatten().take(rows).collect())
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        /// Whatever the settings, the file is the one parquet's writer
        /// writes, byte for byte: where this encoder takes a column (most
        /// cases) and where it declines one.
        #[test]
        fn files_are_parquets_byte_for_byte(
            (a, b) in (1usize..400).prop_flat_map(|rows| (column(rows), column(rows))),
            statistics in prop_oneof![
                Just(EnabledStatistics::None),
                Just(EnabledStatistics::Chunk),
                Just(EnabledStatistics::Page),
            ],
            write_batch in prop_oneof![Just(3usize), Just(64), Just(32_768)],
            page_rows in prop_oneof![Just(1usize), Just(5), Just(20_000)],
            page_bytes in prop_oneof![Just(16usize), Just(1 << 20)],
            dictionary_bytes in prop_oneof![Just(40usize), Just(400), Just(1 << 20)],
            truncate in prop_oneof![Just(None), Just(Some(8usize)), Just(Some(64))],
            zstd in any::<bool>(),
            row_group_rows in prop_oneof![Just(7usize), Just(100), Just(10_000)],
        ) {
            let compression = match zstd {
                true => Compression::ZSTD(ZstdLevel::try_new(3).expect("a zstd level")),
                false => Compression::UNCOMPRESSED,
            };
            let properties = WriterProperties::builder()
                .set_statistics_enabled(statistics)
                .set_write_batch_size(write_batch)
                .set_data_page_row_count_limit(page_rows)
                .set_data_page_size_limit(page_bytes)
                .set_dictionary_page_size_limit(dictionary_bytes)
                .set_statistics_truncate_length(truncate)
                .set_column_index_truncate_length(truncate)
                .set_compression(compression)
                .set_max_row_group_row_count(Some(row_group_rows))
                .build();
            let batch = batch(&[a, b]);
            let ours = encode_parquet(Table::Traces, &batch, properties.clone()).expect("encodes");
            let theirs = parquet_writes(&batch, properties);
            prop_assert!(ours == theirs, "{} bytes against parquet's {}", ours.len(), theirs.len());
        }
    }

    /// The encoder takes the columns of Sluice's settings: zstd, page
    /// statistics, batches of 32,768 rows, runs and interleaved values, and
    /// values long enough (schema URLs) that parquet's writer takes a batch
    /// in smaller mini-batches to keep the dictionary page within its limit.
    #[test]
    fn takes_sluices_columns() {
        let runs: Vec<String> = (0..100_000)
            .map(|i| format!("service-{}", i / 9_000))
            .collect();
        let mixed: Vec<String> = (0..100_000)
            .map(|i| format!("GET /api/{}", i % 7))
            .collect();
        let urls: Vec<String> = (0..100_000)
            .map(|i| format!("https://opentelemetry.io/schemas/1.{}.0", 20 + i / 40_000))
            .collect();
        let batch = batch(&[runs, mixed, urls]);
        let properties = crate::writer_properties(Table::Traces, 100_000, 3, vec![]);
        let descriptors = parquet::arrow::ArrowSchemaConverter::new()
            .convert(&batch.schema())
            .expect("converts");
        for leaf in [1, 2, 3] {
            let chunk = encode_strings(
                batch.column(leaf).as_ref(),
                descriptors.column(leaf),
                &properties,
            )
            .expect("encodes");
            assert!(chunk.is_some(), "column {leaf} declined");
        }
        let ours = encode_parquet(Table::Traces, &batch, properties.clone()).expect("encodes");
        assert!(ours == parquet_writes(&batch, properties));
    }

    /// `encode_parquet` hands string columns to this encoder: only it uses
    /// the thread's kept zstd context (parquet's writer makes its own), and
    /// a batch of strings alone, compressed, leaves one kept.
    #[test]
    fn encode_parquet_sends_strings_here() {
        let values: Vec<String> = (0..1_000).map(|i| format!("op-{}", i % 5)).collect();
        let batch = batch(&[values]);
        let properties = crate::writer_properties(Table::Traces, 100_000, 3, vec![]);
        assert!(crate::maps::KEPT.with(|kept| kept.borrow().is_none()));
        let ours = encode_parquet(Table::Traces, &batch, properties.clone()).expect("encodes");
        assert!(crate::maps::KEPT.with(|kept| kept.borrow().is_some()));
        assert!(ours == parquet_writes(&batch, properties));
    }

    /// Nulls, a nullable column's levels and bloom filters are parquet's
    /// writer's to write.
    #[test]
    fn declines_what_parquet_writes_otherwise() {
        let properties = WriterProperties::builder().build();
        let schema = Schema::new(vec![Field::new("Text", DataType::Utf8, true)]);
        let descriptor = parquet::arrow::ArrowSchemaConverter::new()
            .convert(&schema)
            .expect("converts")
            .column(0);
        let nulls = StringArray::from(vec![Some("a"), None]);
        assert!(
            encode_strings(&nulls, Arc::clone(&descriptor), &properties)
                .expect("encodes")
                .is_none()
        );
        let whole = StringArray::from(vec!["a", "b"]);
        // The nullable column's definition levels.
        assert!(
            encode_strings(&whole, descriptor, &properties)
                .expect("encodes")
                .is_none()
        );

        let required = parquet::arrow::ArrowSchemaConverter::new()
            .convert(&Schema::new(vec![Field::new(
                "Text",
                DataType::Utf8,
                false,
            )]))
            .expect("converts")
            .column(0);
        assert!(
            encode_strings(&whole, Arc::clone(&required), &properties)
                .expect("encodes")
                .is_some()
        );
        let bloom = WriterProperties::builder()
            .set_bloom_filter_enabled(true)
            .build();
        assert!(
            encode_strings(&whole, required, &bloom)
                .expect("encodes")
                .is_none()
        );
    }
}
