//! Arrow schemas of the storage tables, column for column those of the
//! OpenTelemetry Collector ClickHouse exporter, so SQL written for it carries over.
//!
//! Mapping from ClickHouse types:
//! - `DateTime64(9)` → `timestamp[ns, UTC]`; `String`/`LowCardinality(String)` →
//!   `utf8` (Parquet dictionary-encodes the repetitive ones).
//! - `Map(String, String)` → `map<utf8, utf8>`.
//! - `Nested(a, b)` → a struct of lists (`Events.Name` is a list, as in
//!   ClickHouse, where a nested column reads as parallel arrays).
//! - Values OTLP marks optional (histogram `Sum`, `Min`, `Max`) are nullable
//!   instead of zero, so absence is not confused with zero.
//!
//! Sluice adds a few columns after the exporter's, so that every OTLP field is
//! kept: schema URLs, scope attributes, flags and dropped counts.

use std::sync::{Arc, LazyLock};

use arrow::array::RecordBatch;
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use arrow::error::ArrowError;

use crate::Table;
use crate::attributes::{interned_map_type, map_type};

/// `timestamp[ns, UTC]`.
pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
}

fn utf8(name: &str) -> Field {
    Field::new(name, DataType::Utf8, false)
}

fn ts(name: &str) -> Field {
    Field::new(name, timestamp_type(), false)
}

fn attrs(name: &str) -> Field {
    Field::new(name, map_type(), false)
}

fn u32f(name: &str) -> Field {
    Field::new(name, DataType::UInt32, false)
}

/// A list of `item`s, as `ListBuilder` produces it.
pub fn list_of(item: DataType, item_nullable: bool) -> DataType {
    DataType::List(Arc::new(Field::new_list_field(item, item_nullable)))
}

fn list(name: &str, item: DataType) -> Field {
    Field::new(name, list_of(item, true), false)
}

/// A ClickHouse `Nested` column: a struct of equally long lists.
fn nested(name: &str, fields: Vec<Field>) -> Field {
    Field::new(name, DataType::Struct(Fields::from(fields)), false)
}

/// The fields of the `Events` column.
pub fn event_fields() -> Vec<Field> {
    vec![
        list("Timestamp", timestamp_type()),
        list("Name", DataType::Utf8),
        list("Attributes", map_type()),
    ]
}

/// The fields of the `Links` column.
pub fn link_fields() -> Vec<Field> {
    vec![
        list("TraceId", DataType::Utf8),
        list("SpanId", DataType::Utf8),
        list("TraceState", DataType::Utf8),
        list("Attributes", map_type()),
    ]
}

/// The fields of the `Exemplars` column of the metric tables.
pub fn exemplar_fields() -> Vec<Field> {
    vec![
        list("FilteredAttributes", map_type()),
        list("TimeUnix", timestamp_type()),
        list("Value", DataType::Float64),
        list("SpanId", DataType::Utf8),
        list("TraceId", DataType::Utf8),
    ]
}

/// The fields of the `ValueAtQuantiles` column of `otel_metrics_summary`.
pub fn quantile_fields() -> Vec<Field> {
    vec![
        list("Quantile", DataType::Float64),
        list("Value", DataType::Float64),
    ]
}

fn traces() -> Schema {
    Schema::new(vec![
        ts("Timestamp"),
        utf8("TraceId"),
        utf8("SpanId"),
        utf8("ParentSpanId"),
        utf8("TraceState"),
        utf8("SpanName"),
        utf8("SpanKind"),
        utf8("ServiceName"),
        attrs("ResourceAttributes"),
        utf8("ScopeName"),
        utf8("ScopeVersion"),
        attrs("SpanAttributes"),
        Field::new("Duration", DataType::UInt64, false),
        utf8("StatusCode"),
        utf8("StatusMessage"),
        nested("Events", event_fields()),
        nested("Links", link_fields()),
        // Sluice additions.
        utf8("ResourceSchemaUrl"),
        utf8("ScopeSchemaUrl"),
        attrs("ScopeAttributes"),
        u32f("Flags"),
        u32f("DroppedAttributesCount"),
        u32f("DroppedEventsCount"),
        u32f("DroppedLinksCount"),
    ])
}

fn logs() -> Schema {
    Schema::new(vec![
        ts("Timestamp"),
        utf8("TraceId"),
        utf8("SpanId"),
        Field::new("TraceFlags", DataType::UInt8, false),
        utf8("SeverityText"),
        Field::new("SeverityNumber", DataType::UInt8, false),
        utf8("ServiceName"),
        utf8("Body"),
        utf8("ResourceSchemaUrl"),
        attrs("ResourceAttributes"),
        utf8("ScopeSchemaUrl"),
        utf8("ScopeName"),
        utf8("ScopeVersion"),
        attrs("ScopeAttributes"),
        attrs("LogAttributes"),
        // Sluice additions.
        utf8("EventName"),
        ts("ObservedTimestamp"),
        u32f("Flags"),
        u32f("DroppedAttributesCount"),
    ])
}

/// The columns every metric table starts with.
fn metric_common() -> Vec<Field> {
    vec![
        attrs("ResourceAttributes"),
        utf8("ResourceSchemaUrl"),
        utf8("ScopeName"),
        utf8("ScopeVersion"),
        attrs("ScopeAttributes"),
        u32f("ScopeDroppedAttrCount"),
        utf8("ScopeSchemaUrl"),
        utf8("ServiceName"),
        utf8("MetricName"),
        utf8("MetricDescription"),
        utf8("MetricUnit"),
        attrs("Attributes"),
        ts("StartTimeUnix"),
        ts("TimeUnix"),
    ]
}

fn metric_schema(extra: Vec<Field>) -> Schema {
    let mut fields = metric_common();
    fields.extend(extra);
    Schema::new(fields)
}

fn exemplars() -> Field {
    nested("Exemplars", exemplar_fields())
}

fn f64f(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Float64, nullable)
}

fn gauge() -> Schema {
    metric_schema(vec![f64f("Value", false), u32f("Flags"), exemplars()])
}

fn sum() -> Schema {
    metric_schema(vec![
        f64f("Value", false),
        u32f("Flags"),
        exemplars(),
        Field::new("AggregationTemporality", DataType::Int32, false),
        Field::new("IsMonotonic", DataType::Boolean, false),
    ])
}

fn histogram() -> Schema {
    metric_schema(vec![
        Field::new("Count", DataType::UInt64, false),
        f64f("Sum", true),
        list("BucketCounts", DataType::UInt64),
        list("ExplicitBounds", DataType::Float64),
        exemplars(),
        u32f("Flags"),
        f64f("Min", true),
        f64f("Max", true),
        Field::new("AggregationTemporality", DataType::Int32, false),
    ])
}

fn exponential_histogram() -> Schema {
    metric_schema(vec![
        Field::new("Count", DataType::UInt64, false),
        f64f("Sum", true),
        Field::new("Scale", DataType::Int32, false),
        Field::new("ZeroCount", DataType::UInt64, false),
        Field::new("PositiveOffset", DataType::Int32, false),
        list("PositiveBucketCounts", DataType::UInt64),
        Field::new("NegativeOffset", DataType::Int32, false),
        list("NegativeBucketCounts", DataType::UInt64),
        exemplars(),
        u32f("Flags"),
        f64f("Min", true),
        f64f("Max", true),
        Field::new("AggregationTemporality", DataType::Int32, false),
        // Sluice addition.
        f64f("ZeroThreshold", false),
    ])
}

fn summary() -> Schema {
    metric_schema(vec![
        Field::new("Count", DataType::UInt64, false),
        f64f("Sum", false),
        nested("ValueAtQuantiles", quantile_fields()),
        u32f("Flags"),
    ])
}

/// `sluice_rollups`: one row per tenant, service, operation, span kind and
/// minute of span end time, from one shard's share of the spans; rows for the
/// same key and minute (from other shards, nodes or late spans) merge exactly.
/// Sketches are `sluice-slo`'s versioned DDSketch encoding.
fn rollups() -> Schema {
    Schema::new(vec![
        ts("Minute"),
        utf8("ServiceName"),
        utf8("SpanName"),
        utf8("SpanKind"),
        Field::new("Requests", DataType::UInt64, false),
        Field::new("Errors", DataType::UInt64, false),
        Field::new("LatencySketchSuccess", DataType::Binary, false),
        Field::new("LatencySketchFailure", DataType::Binary, false),
    ])
}

/// `sluice_anomalies`: one row each time an anomaly opens or ends (the API
/// keeps the last row of each `Id`). Partitioned by `Start`, so both rows of
/// an anomaly lie in the same hour.
fn anomalies() -> Schema {
    Schema::new(vec![
        utf8("Id"),
        ts("Start"),
        Field::new("End", timestamp_type(), true),
        ts("Updated"),
        utf8("ServiceName"),
        Field::new("Operation", DataType::Utf8, true),
        utf8("Signal"),
        attrs("Labels"),
        f64f("Observed", false),
        f64f("Expected", false),
        f64f("Score", false),
        utf8("Severity"),
        utf8("Direction"),
        utf8("Detector"),
    ])
}

static SCHEMAS: LazyLock<[SchemaRef; 9]> = LazyLock::new(|| {
    Table::ALL.map(|table| {
        Arc::new(match table {
            Table::Traces => traces(),
            Table::Logs => logs(),
            Table::MetricsGauge => gauge(),
            Table::MetricsSum => sum(),
            Table::MetricsHistogram => histogram(),
            Table::MetricsExponentialHistogram => exponential_histogram(),
            Table::MetricsSummary => summary(),
            Table::Rollups => rollups(),
            Table::Anomalies => anomalies(),
        })
    })
});

/// The Arrow schema of `table`.
pub fn schema(table: Table) -> SchemaRef {
    Arc::clone(&SCHEMAS[index_of(table)])
}

/// The place of `table` in `Table::ALL`, and so in the schema arrays.
fn index_of(table: Table) -> usize {
    Table::ALL
        .iter()
        .position(|t| *t == table)
        .expect("every table is in Table::ALL")
}

/// The schemas of the batches Sluice builds, in the order of `Table::ALL`:
/// each OTLP table's with its top-level attribute maps interned.
static BUILT_SCHEMAS: LazyLock<[SchemaRef; 9]> = LazyLock::new(|| {
    Table::ALL.map(|table| {
        let plain = schema(table);
        if !Table::OTLP.contains(&table) {
            return plain;
        }
        let fields: Vec<Field> = plain
            .fields()
            .iter()
            .map(|field| match *field.data_type() == map_type() {
                true => Field::new(field.name(), interned_map_type(), field.is_nullable()),
                false => field.as_ref().clone(),
            })
            .collect();
        Arc::new(Schema::new_with_metadata(fields, plain.metadata().clone()))
    })
});

/// The schema of the batches Sluice builds for `table`, which storage writes
/// as [`schema`]: for an OTLP table, with its top-level attribute maps
/// (`ResourceAttributes`, `ScopeAttributes` and the record's own) interned
/// ([`interned_map_type`]); for a derived table, `schema` itself.
pub fn built_schema(table: Table) -> SchemaRef {
    Arc::clone(&BUILT_SCHEMAS[index_of(table)])
}

/// `built` with its interned map columns as `map<utf8, utf8>`: the schema a
/// file of a batch of that schema holds (the same schema where it has none).
pub fn file_schema(built: &SchemaRef) -> SchemaRef {
    let interned = |field: &Field| *field.data_type() == interned_map_type();
    if !built.fields().iter().any(|f| interned(f)) {
        return Arc::clone(built);
    }
    let fields: Vec<Field> = built
        .fields()
        .iter()
        .map(|field| match interned(field) {
            true => Field::new(field.name(), map_type(), field.is_nullable()),
            false => field.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, built.metadata().clone()))
}

/// `batch` with its interned map columns cast to `map<utf8, utf8>`: the
/// rows as a file of it reads back.
pub fn plain_batch(batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    let built = batch.schema();
    let plain = file_schema(&built);
    if Arc::ptr_eq(&plain, &built) {
        return Ok(batch.clone());
    }
    let columns = batch
        .columns()
        .iter()
        .zip(plain.fields())
        .map(
            |(column, field)| match column.data_type() == field.data_type() {
                true => Ok(Arc::clone(column)),
                false => cast(column, field.data_type()),
            },
        )
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(plain, columns)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A built batch's file holds the table's schema; an OTLP table's
    /// built schema interns its top-level attribute maps, and only them.
    #[test]
    fn built_schemas_are_written_as_the_tables_schemas() {
        for table in Table::ALL {
            assert_eq!(file_schema(&built_schema(table)), schema(table), "{table}");
        }
        // The names of the columns of `schema` whose type is `of`.
        let named = |schema: SchemaRef, of: DataType| -> Vec<String> {
            let fields = schema.fields().iter();
            fields
                .filter(|f| *f.data_type() == of)
                .map(|f| f.name().clone())
                .collect()
        };
        for table in Table::OTLP {
            let interned = named(built_schema(table), interned_map_type());
            assert_eq!(interned, named(schema(table), map_type()), "{table}");
            assert!(
                interned.contains(&"ResourceAttributes".to_owned()),
                "{table}"
            );
        }
    }

    #[test]
    fn every_table_has_its_time_and_service_columns() {
        for table in Table::ALL {
            let schema = schema(table);
            assert!(
                schema.field_with_name(table.time_column()).is_ok(),
                "{table}"
            );
            assert!(schema.field_with_name("ServiceName").is_ok(), "{table}");
        }
        for table in Table::OTLP {
            assert!(
                schema(table).field_with_name("ResourceAttributes").is_ok(),
                "{table}"
            );
        }
    }
}
