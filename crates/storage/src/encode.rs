//! Batches to Parquet bytes: sorted by service then time, zstd (at its
//! quickest where a longer search finds nothing more: ids), dictionaries for
//! repetitive strings, delta encoding for times, a bloom filter on trace ids,
//! statistics for top-level columns other than ids. The attribute maps and
//! the top-level dictionary strings go through Sluice's own encoders
//! ([`crate::maps`], [`crate::strings`]), the rest through parquet's Arrow
//! writer.

use std::cmp::Ordering;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringBuilder};
use arrow::compute::{
    LexicographicalComparator, SortColumn, SortOptions, cast, lexsort_to_indices,
};
use arrow::error::ArrowError;
use parquet::arrow::arrow_writer::{ArrowColumnWriter, ArrowLeafColumn, compute_leaves};
use parquet::arrow::{ArrowSchemaConverter, ArrowWriter};
use parquet::basic::{Compression, Encoding, LogicalType, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::metadata::KeyValue;
use parquet::file::metadata::SortingColumn;
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterPropertiesBuilder};
use parquet::file::writer::SerializedRowGroupWriter;
use parquet::schema::types::ColumnDescriptor;
use parquet::schema::types::ColumnPath;
use sluice_model::Table;

use crate::StorageError;
use crate::take::take_nested;

/// Fields whose values are (nearly) all distinct, at the top level or in
/// lists: a dictionary only costs there.
const HIGH_CARDINALITY: [&str; 3] = ["TraceId", "SpanId", "ParentSpanId"];

/// A span's dropped counts: nearly always 0. Parquet's dictionary interns
/// every value of them (a hash and a probe each); plain, zstd takes them to
/// as few bytes and the column takes a third of the time (`--bench
/// columns`: 0.20 -> 0.07 ms each for 32,768 spans, 508-522 -> 486-500
/// bytes; the load generator's files 46.19 -> 46.19 bytes a span). Not the
/// flags: where they vary (the load generator's logs) plain flags took 1%
/// more bytes.
const DROPPED_COUNTS: [&str; 3] = [
    "DroppedAttributesCount",
    "DroppedEventsCount",
    "DroppedLinksCount",
];

/// Values parquet's column writers take at a time (its default is 1,024).
/// Each such mini-batch has fixed costs (levels, statistics, the page and
/// dictionary size checks), and a shard hands the writer its whole flush at
/// once. Page and dictionary limits are checked once a mini-batch, so pages
/// of top-level columns hold up to this many rows (byte-array pages stay
/// within their size limit: the encoder counts bytes within a batch). With
/// 32,768: the bench payload's 32,768-span file encodes 4-6% quicker (`cargo
/// bench -p sluice-benches --bench columns`) and 2.3% smaller; loadgen logs,
/// histograms and sums re-encoded 1-5% quicker, within a percent in bytes.
const WRITE_BATCH_SIZE: usize = 32_768;

/// The writer settings for `table`.
pub fn writer_properties(
    table: Table,
    row_group_rows: usize,
    zstd_level: i32,
    metadata: Vec<(String, String)>,
) -> WriterProperties {
    let schema = sluice_model::schema::schema(table);
    let level = ZstdLevel::try_new(zstd_level).unwrap_or_default();
    // For columns where zstd's search for matches finds nothing a quicker
    // search would not: what it saves there is in the entropy coding, which
    // every level does alike (on the load generator's ids level 1 even came
    // out smaller; figures in `benches/RESULTS.md`, sixth session).
    let fastest = Compression::ZSTD(ZstdLevel::try_new(1).unwrap_or_default());
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::ZSTD(level))
        .set_dictionary_enabled(true)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(row_group_rows.max(1)))
        .set_write_batch_size(WRITE_BATCH_SIZE)
        .set_created_by(format!("sluice {}", env!("CARGO_PKG_VERSION")))
        .set_key_value_metadata(Some(
            metadata
                .into_iter()
                .map(|(k, v)| KeyValue::new(k, v))
                .collect(),
        ));
    // Every leaf column of the file, top-level or inside maps and lists
    // (the conversion cannot fail for Sluice's own schemas).
    let leaves = ArrowSchemaConverter::new()
        .convert(&schema)
        .map(|descriptor| descriptor.columns().to_vec())
        .unwrap_or_default();
    for column in &leaves {
        builder = leaf_settings(builder, column, fastest);
    }
    if table == Table::Traces {
        builder = builder
            .set_column_bloom_filter_enabled(ColumnPath::from("TraceId"), true)
            .set_column_bloom_filter_fpp(ColumnPath::from("TraceId"), 0.01);
    }
    let sorting: Option<Vec<SortingColumn>> = sort_columns(table)
        .iter()
        .map(|name| {
            schema.index_of(name).ok().map(|i| SortingColumn {
                column_idx: i32::try_from(i).unwrap_or(i32::MAX),
                descending: false,
                nulls_first: false,
            })
        })
        .collect();
    builder.set_sorting_columns(sorting).build()
}

/// `builder` with the settings of one leaf column: ids, times, resource
/// attribute keys and the leaves inside maps and lists differ from the
/// defaults.
fn leaf_settings(
    mut builder: WriterPropertiesBuilder,
    column: &ColumnDescriptor,
    fastest: Compression,
) -> WriterPropertiesBuilder {
    let path = column.path();
    let name = field_name(path);
    // Ids are random hex of one length: without the 4-byte length before
    // each (DELTA_LENGTH_BYTE_ARRAY), zstd sees only the hex digits. Their
    // minimum and maximum span nearly all ids in any page or row group,
    // so statistics would prune nothing (a trace is found by the bloom
    // filter) and cost two string comparisons per value. Random digits
    // hold no matches: zstd's level only changes how long it looks for
    // them. The same goes for the ids in lists (a span's links, a
    // metric's exemplars).
    if HIGH_CARDINALITY.contains(&name) {
        builder = builder
            .set_column_dictionary_enabled(path.clone(), false)
            .set_column_encoding(path.clone(), Encoding::DELTA_LENGTH_BYTE_ARRAY)
            .set_column_statistics_enabled(path.clone(), EnabledStatistics::None)
            .set_column_compression(path.clone(), fastest);
    }
    // Times and durations are nearly all distinct: a dictionary only
    // costs (interning every value) and overflows. Sorted times
    // delta-encode to a few bits each, and so do the times in lists (a
    // span's events, within the span: on the benchmarks' payload their
    // column took a quarter fewer bytes, and the Events column a fifth
    // less time, than with a dictionary).
    let timestamp = matches!(
        column.logical_type_ref(),
        Some(LogicalType::Timestamp { .. })
    );
    if timestamp || path.string() == "Duration" {
        builder = builder
            .set_column_dictionary_enabled(path.clone(), false)
            .set_column_encoding(path.clone(), Encoding::DELTA_BINARY_PACKED);
    }
    if path.parts().len() == 1 && DROPPED_COUNTS.contains(&name) {
        builder = builder
            .set_column_dictionary_enabled(path.clone(), false)
            .set_column_encoding(path.clone(), Encoding::PLAIN);
    }
    // Statistics of the leaves inside maps and lists (attribute keys and
    // values, events, links) prune nothing, and computing them compares
    // every string: only top-level columns keep them.
    if path.parts().len() > 1 {
        builder = builder.set_column_statistics_enabled(path.clone(), EnabledStatistics::None);
    }
    builder
}

/// The name of the field a leaf column holds values of: its path without the
/// parts lists add (`Links.TraceId.list.item` holds `TraceId`s).
fn field_name(path: &ColumnPath) -> &str {
    path.parts()
        .iter()
        .rev()
        .find(|part| !matches!(part.as_str(), "list" | "item"))
        .map_or("", String::as_str)
}

/// The order of rows within a file: service, then event time.
fn sort_columns(table: Table) -> [&'static str; 2] {
    ["ServiceName", table.time_column()]
}

/// Sorts `batch` by service name, then event time (rows equal in both come in
/// no particular order).
///
/// # Cost
///
/// None for a batch in order, as the shards build traces (see
/// `sluice_model::traces::held`). Otherwise mostly copying the nested columns
/// (events, links, attribute maps; see [`take_nested`]), and the string
/// columns once more, into buffers parquet encodes faster (see
/// [`doubling_capacity`]).
pub fn sort_batch(table: Table, batch: &RecordBatch) -> Result<RecordBatch, StorageError> {
    let sort_err = |source| StorageError::Sort {
        table: table.name(),
        source,
    };
    let columns: Vec<SortColumn> = sort_columns(table)
        .iter()
        .map(|name| {
            let index = batch.schema().index_of(name).map_err(sort_err)?;
            Ok(SortColumn {
                values: batch.column(index).clone(),
                options: Some(SortOptions::default()),
            })
        })
        .collect::<Result<_, StorageError>>()?;
    if is_sorted(&columns).map_err(sort_err)? {
        // Already in order (traces are built so): nothing to copy.
        return Ok(batch.clone());
    }
    let indices = lexsort_to_indices(&columns, None).map_err(sort_err)?;
    let columns = batch
        .columns()
        .iter()
        .map(|column| take_nested(column.as_ref(), &indices).and_then(doubling_capacity))
        .collect::<Result<Vec<_>, _>>()
        .map_err(sort_err)?;
    RecordBatch::try_new(batch.schema(), columns).map_err(sort_err)
}

/// `column` again with the capacity a builder growing by doubling leaves, if
/// it is a string column.
///
/// `take` sizes a string column's buffers exactly, and parquet encodes such a
/// column about a fifth slower than the same strings in buffers of a power of
/// two's capacity: the same file bytes, more time in the dictionary interner's
/// and the statistics' compares (`cargo bench -p sluice-benches --bench
/// capacity`: glibc's EVEX `memcmp`, whose masked loads of short strings are
/// slow on such buffers; its AVX2 `memcmp` encodes both alike). Copying the
/// column costs far less than that.
fn doubling_capacity(column: ArrayRef) -> Result<ArrayRef, ArrowError> {
    let Some(text) = column.as_string_opt::<i32>() else {
        return Ok(column);
    };
    let mut builder = StringBuilder::with_capacity(
        text.len().next_power_of_two(),
        text.values().len().next_power_of_two(),
    );
    builder.append_array(text)?;
    Ok(Arc::new(builder.finish()))
}

/// Whether the rows are in the order of `columns` already: one comparison
/// per row, where sorting takes a logarithm's worth.
fn is_sorted(columns: &[SortColumn]) -> Result<bool, ArrowError> {
    let rows = columns.first().map_or(0, |c| c.values.len());
    let comparator = LexicographicalComparator::try_new(columns)?;
    Ok((1..rows).all(|row| comparator.compare(row - 1, row) != Ordering::Greater))
}

/// Encodes `batch` (already sorted) as one Parquet file.
///
/// Row groups of `max_row_group_row_count` rows, as parquet's `ArrowWriter`
/// would write them; the top-level attribute maps and strings through
/// Sluice's own encoders (see [`crate::maps`] and [`crate::strings`]; the
/// strings' chunks are the ones parquet's writer writes, byte for byte),
/// every other column through parquet's.
pub fn encode_parquet(
    table: Table,
    batch: &RecordBatch,
    properties: WriterProperties,
) -> Result<Vec<u8>, StorageError> {
    let encode_err = |source| StorageError::Encode {
        table: table.name(),
        source,
    };
    let row_group_rows = properties
        .max_row_group_row_count()
        .unwrap_or(usize::MAX)
        .max(1);
    // The file holds interned maps as the maps of strings they stand for.
    let file_schema = sluice_model::schema::file_schema(&batch.schema());
    let writer = ArrowWriter::try_new(Vec::new(), Arc::clone(&file_schema), Some(properties))
        .map_err(encode_err)?;
    let (mut file, factory) = writer.into_serialized_writer().map_err(encode_err)?;
    let properties = Arc::clone(file.properties());
    let leaves = file.schema_descr().columns().to_vec();
    let schema = batch.schema();
    let mut start = 0;
    let mut row_group_index = 0;
    while start < batch.num_rows() {
        let rows = batch.slice(start, row_group_rows.min(batch.num_rows() - start));
        let mut writers = factory
            .create_column_writers(row_group_index)
            .map_err(encode_err)?
            .into_iter();
        let mut leaf = leaves.iter();
        let mut row_group = file.next_row_group().map_err(encode_err)?;
        for ((field, file_field), column) in schema
            .fields()
            .iter()
            .zip(file_schema.fields())
            .zip(rows.columns())
        {
            let Some(map) = crate::maps::string_map(column.as_ref()) else {
                // A string column (one leaf): Sluice's encoder, unless it
                // declines it.
                if let Some(descriptor) = leaf.clone().next()
                    && let Some(chunk) = crate::strings::encode_strings(
                        column.as_ref(),
                        Arc::clone(descriptor),
                        &properties,
                    )
                    .map_err(encode_err)?
                {
                    leaf.next();
                    writers.next();
                    row_group
                        .append_column(&chunk.bytes, chunk.close)
                        .map_err(encode_err)?;
                    continue;
                }
                for arrow_leaf in compute_leaves(field, column).map_err(encode_err)? {
                    leaf.next();
                    append_arrow(writers.next(), &arrow_leaf, &mut row_group)
                        .map_err(encode_err)?;
                }
                continue;
            };
            let (Some(key), Some(value)) = (leaf.next(), leaf.next()) else {
                return Err(encode_err(ParquetError::General(
                    "a map column without its two leaves".into(),
                )));
            };
            let chunks =
                crate::maps::encode_map(&map, Arc::clone(key), Arc::clone(value), &properties)
                    .map_err(encode_err)?;
            // Parquet's leaves (levels computed for the whole map) only where
            // Sluice's encoder declined one, of the map as the file holds it.
            let arrow_leaves = match chunks.iter().any(Option::is_none) {
                true => {
                    let plain = cast(column, file_field.data_type())
                        .map_err(|e| encode_err(ParquetError::from(e)))?;
                    compute_leaves(file_field, &plain).map_err(encode_err)?
                }
                false => Vec::new(),
            };
            for (index, chunk) in chunks.into_iter().enumerate() {
                let writer = writers.next();
                match (chunk, arrow_leaves.get(index)) {
                    (Some(chunk), _) => row_group
                        .append_column(&chunk.bytes, chunk.close)
                        .map_err(encode_err)?,
                    (None, Some(arrow_leaf)) => {
                        append_arrow(writer, arrow_leaf, &mut row_group).map_err(encode_err)?
                    }
                    (None, None) => {
                        return Err(encode_err(ParquetError::General(
                            "a map column without its two leaves".into(),
                        )));
                    }
                }
            }
        }
        row_group.close().map_err(encode_err)?;
        start += rows.num_rows();
        row_group_index += 1;
    }
    file.into_inner().map_err(encode_err)
}

/// Encodes `leaf` with parquet's `writer` into `row_group`.
fn append_arrow<W: std::io::Write + Send>(
    writer: Option<ArrowColumnWriter>,
    leaf: &ArrowLeafColumn,
    row_group: &mut SerializedRowGroupWriter<'_, W>,
) -> Result<(), ParquetError> {
    let mut writer =
        writer.ok_or_else(|| ParquetError::General("fewer column writers than leaves".into()))?;
    writer.write(leaf)?;
    writer.close()?.append_to_row_group(row_group)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{
        ArrayRef, AsArray, BinaryArray, StringArray, TimestampNanosecondArray, UInt64Array,
    };
    use proptest::prelude::*;

    use super::*;

    /// A `sluice_rollups` batch whose `Requests` column numbers the rows.
    fn batch(rows: &[(u8, i64)]) -> RecordBatch {
        let services: StringArray = rows.iter().map(|(s, _)| Some(format!("svc-{s}"))).collect();
        let minutes =
            TimestampNanosecondArray::from(rows.iter().map(|(_, t)| *t).collect::<Vec<_>>())
                .with_timezone("UTC");
        let text = |v: &str| Arc::new(StringArray::from(vec![v; rows.len()])) as ArrayRef;
        let sketch = Arc::new(BinaryArray::from(vec![&b"x"[..]; rows.len()])) as ArrayRef;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(minutes),
            Arc::new(services),
            text("op"),
            text("Server"),
            Arc::new(UInt64Array::from_iter_values(0..rows.len() as u64)),
            Arc::new(UInt64Array::from(vec![0; rows.len()])),
            Arc::clone(&sketch),
            sketch,
        ];
        RecordBatch::try_new(sluice_model::schema::schema(Table::Rollups), columns).expect("schema")
    }

    fn row_numbers(batch: &RecordBatch) -> Vec<u64> {
        batch
            .column(4)
            .as_primitive::<arrow::datatypes::UInt64Type>()
            .values()
            .to_vec()
    }

    proptest! {
        /// The result holds every input row once, ordered by service, then
        /// time.
        #[test]
        fn sorts_by_service_then_time(
            rows in proptest::collection::vec((0u8..4, 0i64..6), 0..200),
            sorted_prefix in any::<bool>(),
        ) {
            let mut rows = rows;
            if sorted_prefix {
                rows.sort();
            }
            let sorted = sort_batch(Table::Rollups, &batch(&rows)).expect("sorts");
            let order = row_numbers(&sorted);
            let mut seen = order.clone();
            seen.sort_unstable();
            prop_assert_eq!(seen, (0..rows.len() as u64).collect::<Vec<_>>());
            let keys: Vec<(String, i64)> = order
                .iter()
                .map(|&i| (format!("svc-{}", rows[i as usize].0), rows[i as usize].1))
                .collect();
            prop_assert!(keys.windows(2).all(|w| w[0] <= w[1]), "{:?}", keys);
            // The services as `take` reorders them, in buffers of a power of
            // two's capacity (see `doubling_capacity`).
            let services = sorted.column(1).as_string::<i32>();
            let taken = arrow::compute::take(
                batch(&rows).column(1).as_ref(),
                &arrow::array::UInt32Array::from_iter_values(order.iter().map(|&i| i as u32)),
                None,
            )
            .expect("in bounds");
            prop_assert_eq!(services, taken.as_string::<i32>());
            if !rows.is_sorted() {
                prop_assert!(services.values().capacity().is_power_of_two());
            }
        }
    }

    /// Every attribute map's keys and values are dictionary-encoded; the
    /// paths checked are columns of the file (a setting on a path the file
    /// lacks would do nothing, silently).
    #[test]
    fn attribute_keys_and_values_are_dictionary_encoded() {
        let properties = writer_properties(Table::Traces, 1000, 3, vec![]);
        let schema = sluice_model::schema::schema(Table::Traces);
        let descriptor = ArrowSchemaConverter::new()
            .convert(&schema)
            .expect("converts");
        let leaves: Vec<&ColumnPath> = descriptor.columns().iter().map(|c| c.path()).collect();
        for map in ["ResourceAttributes", "SpanAttributes", "ScopeAttributes"] {
            for leaf in ["key", "value"] {
                let path = column_path(&[map, "key_value", leaf]);
                assert!(leaves.contains(&&path), "{path} is a column");
                assert!(properties.dictionary_enabled(&path), "{path}");
            }
        }
    }

    /// A span's dropped counts are plain; its other columns keep their
    /// dictionaries.
    #[test]
    fn dropped_counts_are_plain() {
        let properties = writer_properties(Table::Traces, 1000, 3, vec![]);
        let schema = sluice_model::schema::schema(Table::Traces);
        for count in DROPPED_COUNTS {
            let path = column_path(&[count]);
            assert!(schema.index_of(count).is_ok(), "{count} is a column");
            assert!(!properties.dictionary_enabled(&path), "{path}");
            assert_eq!(properties.encoding(&path), Some(Encoding::PLAIN));
        }
        for column in ["Flags", "SpanKind"] {
            assert!(properties.dictionary_enabled(&column_path(&[column])));
        }
    }

    /// Times and ids are encoded alike wherever they are: at the top level
    /// and in lists (a span's events and links, a metric's exemplars).
    #[test]
    fn times_and_ids_in_lists_are_encoded_as_at_the_top_level() {
        let mut nested = Vec::new();
        for table in Table::ALL {
            let properties = writer_properties(table, 1000, 3, vec![]);
            let descriptor = ArrowSchemaConverter::new()
                .convert(&sluice_model::schema::schema(table))
                .expect("converts");
            for column in descriptor.columns() {
                let path = column.path();
                let timestamp = matches!(
                    column.logical_type_ref(),
                    Some(LogicalType::Timestamp { .. })
                );
                let id = HIGH_CARDINALITY.contains(&field_name(path));
                if timestamp {
                    assert_eq!(
                        properties.encoding(path),
                        Some(Encoding::DELTA_BINARY_PACKED),
                        "{path}"
                    );
                }
                if id {
                    assert_eq!(
                        properties.encoding(path),
                        Some(Encoding::DELTA_LENGTH_BYTE_ARRAY),
                        "{path}"
                    );
                    assert_eq!(properties.compression(path), properties_fastest(), "{path}");
                }
                if timestamp || id {
                    assert!(!properties.dictionary_enabled(path), "{path}");
                    if path.parts().len() > 1 {
                        nested.push(path.string());
                    }
                }
            }
        }
        for path in [
            "Events.Timestamp.list.item",
            "Links.TraceId.list.item",
            "Links.SpanId.list.item",
            "Exemplars.TimeUnix.list.item",
            "Exemplars.TraceId.list.item",
        ] {
            assert!(nested.iter().any(|p| p == path), "{path} in {nested:?}");
        }
    }

    /// zstd at its quickest level.
    fn properties_fastest() -> Compression {
        Compression::ZSTD(ZstdLevel::try_new(1).expect("a zstd level"))
    }

    /// The path of the column named by `parts`, outermost first.
    fn column_path(parts: &[&str]) -> ColumnPath {
        ColumnPath::new(parts.iter().map(|p| p.to_string()).collect())
    }

    /// Times and names keep their statistics (queries prune by them); ids and
    /// the leaves inside maps have none; trace ids have a bloom filter.
    #[test]
    fn statistics_only_where_they_prune() {
        let properties = writer_properties(Table::Traces, 1000, 3, vec![]);
        let statistics = |path: &[&str]| properties.statistics_enabled(&column_path(path));
        for column in ["Timestamp", "ServiceName", "SpanName", "Duration"] {
            assert_eq!(statistics(&[column]), EnabledStatistics::Page, "{column}");
        }
        for column in HIGH_CARDINALITY {
            assert_eq!(statistics(&[column]), EnabledStatistics::None, "{column}");
        }
        let leaf = ["SpanAttributes", "key_value", "value"];
        assert_eq!(statistics(&leaf), EnabledStatistics::None);
        assert!(
            properties
                .bloom_filter_properties(&ColumnPath::from("TraceId"))
                .is_some()
        );
    }

    /// Ids are compressed at zstd's quickest level, every other column at
    /// the level configured.
    #[test]
    fn only_columns_without_matches_to_find_compress_at_the_quickest_level() {
        let properties = writer_properties(Table::Traces, 1000, 9, vec![]);
        let compression = |path: &[&str]| properties.compression(&column_path(path));
        let at = |level| Compression::ZSTD(ZstdLevel::try_new(level).expect("a zstd level"));
        for column in HIGH_CARDINALITY {
            assert_eq!(compression(&[column]), at(1), "{column}");
        }
        for leaf in ["key", "value"] {
            assert_eq!(
                compression(&["ResourceAttributes", "key_value", leaf]),
                at(9)
            );
        }
        assert_eq!(compression(&["SpanAttributes", "key_value", "key"]), at(9));
        for column in ["Timestamp", "ServiceName", "SpanName", "Duration"] {
            assert_eq!(compression(&[column]), at(9), "{column}");
        }
    }

    #[test]
    fn a_sorted_batch_is_not_copied() {
        let input = batch(&[(0, 1), (0, 2), (1, 0)]);
        let sorted = sort_batch(Table::Rollups, &input).expect("sorts");
        assert!(Arc::ptr_eq(input.column(0), sorted.column(0)));
    }
}
