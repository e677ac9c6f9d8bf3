//! Reading `sluice_rollups` files straight from the store, for the SLO index
//! ([`crate::slo_index`]) and the golden signals ([`crate::sli`]).
//!
//! These answers need a few columns of the server-span rows of a few
//! services, so they skip DataFusion's planning and listing of the whole
//! table: [`list_rollup_files`] lists only the date directories of the hours
//! asked for, and [`read_server_rollups`] decodes a file with a row filter on
//! `ServiceName` and `SpanKind`, so the sketch columns are decoded only for
//! the rows kept (and not at all unless asked for).
//!
//! Files are fetched a few at a time and decoded on the blocking pool, so a
//! month of rollups uses both cores and never stalls the API's runtime.

use std::collections::HashSet;
use std::sync::Arc;

use bytes::Bytes;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, TimestampNanosecondType, UInt64Type};
use datafusion::arrow::error::ArrowError;
use datafusion::parquet::arrow::ProjectionMask;
use datafusion::parquet::arrow::arrow_reader::{
    ArrowPredicateFn, ParquetRecordBatchReaderBuilder, RowFilter,
};
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use sluice_model::time::PartitionHour;
use sluice_model::{Table, Tenant};
use sluice_slo::{DdSketch, EventCounts, Minute, SliRollup, SpanKind};

use crate::sql::QueryError;

/// Files fetched and decoded at once.
const CONCURRENT_FILES: usize = 8;

const HOUR_NANOS: i64 = 3_600_000_000_000;

/// One rollup file and the hour partition it lies in.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct RollupFile {
    pub path: Path,
    pub hour: PartitionHour,
}

/// The `sluice_rollups` files of `tenant` in the hour partitions from `from`
/// to `to` (both included; no end when `None`).
pub(crate) async fn list_rollup_files(
    store: &Arc<dyn ObjectStore>,
    tenant: &Tenant,
    from: PartitionHour,
    to: Option<PartitionHour>,
) -> Result<Vec<RollupFile>, QueryError> {
    let failed = |e: object_store::Error| QueryError::Internal(format!("listing rollups: {e}"));
    let table = Path::from_iter([tenant.as_str(), Table::Rollups.name()]);
    let days = match store.list_with_delimiter(Some(&table)).await {
        Ok(listing) => listing.common_prefixes,
        Err(object_store::Error::NotFound { .. }) => return Ok(Vec::new()),
        Err(e) => return Err(failed(e)),
    };
    let day_start =
        |date: &str| PartitionHour::from_path_segments(date, "hour=00").map(|h| h.start_nanos());
    let wanted: Vec<Path> = days
        .into_iter()
        .filter(|day| {
            day.filename().and_then(day_start).is_some_and(|start| {
                start + 24 * HOUR_NANOS > from.start_nanos()
                    && to.is_none_or(|to| start <= to.start_nanos())
            })
        })
        .collect();
    let mut files: Vec<RollupFile> = futures::stream::iter(wanted)
        .map(|day| {
            let store = Arc::clone(store);
            async move { store.list(Some(&day)).try_collect::<Vec<_>>().await }
        })
        .buffer_unordered(CONCURRENT_FILES)
        .map_ok(|objects| futures::stream::iter(objects.into_iter().map(Ok)))
        .try_flatten()
        .try_filter_map(|object| async move { Ok(rollup_file(object.location)) })
        .try_collect()
        .await
        .map_err(failed)?;
    files.retain(|f| f.hour >= from && to.is_none_or(|to| f.hour <= to));
    files.sort_by(|a, b| (a.hour, &a.path).cmp(&(b.hour, &b.path)));
    Ok(files)
}

/// A listed object as a rollup file: a `.parquet` file under
/// `date=…/hour=…/`.
fn rollup_file(path: Path) -> Option<RollupFile> {
    let parts: Vec<String> = path.parts().map(|p| p.as_ref().to_owned()).collect();
    let [.., date, hour, name] = parts.as_slice() else {
        return None;
    };
    if !name.ends_with(".parquet") {
        return None;
    }
    let hour = PartitionHour::from_path_segments(date, hour)?;
    Some(RollupFile { path, hour })
}

/// Fetches `files` a few at a time and runs `decode` on each file's bytes on
/// the blocking pool; the results come back in no particular order.
pub(crate) async fn read_files<T, F>(
    store: &Arc<dyn ObjectStore>,
    files: Vec<RollupFile>,
    decode: F,
) -> Result<Vec<T>, QueryError>
where
    T: Send + 'static,
    F: Fn(&RollupFile, Bytes) -> Result<T, QueryError> + Send + Sync + 'static,
{
    let decode = Arc::new(decode);
    futures::stream::iter(files)
        .map(|file| {
            let store = Arc::clone(store);
            let decode = Arc::clone(&decode);
            async move {
                let bytes = match store.get(&file.path).await {
                    Ok(got) => got.bytes().await,
                    Err(e) => Err(e),
                };
                let bytes = match bytes {
                    Ok(bytes) => bytes,
                    // Deleted by retention between listing and reading.
                    Err(object_store::Error::NotFound { .. }) => return Ok(None),
                    Err(e) => {
                        return Err(QueryError::Internal(format!("reading {}: {e}", file.path)));
                    }
                };
                tokio::task::spawn_blocking(move || decode(&file, bytes).map(Some))
                    .await
                    .map_err(|e| QueryError::Internal(format!("rollup reader: {e}")))?
            }
        })
        .buffer_unordered(CONCURRENT_FILES)
        .try_filter_map(|decoded| async move { Ok(decoded) })
        .try_collect()
        .await
}

/// One server-span row of a rollup file, borrowed from the decoded batch.
#[derive(Debug)]
pub(crate) struct ServerRollup<'a> {
    pub service: &'a str,
    pub operation: &'a str,
    pub minute: Minute,
    pub requests: u64,
    pub errors: u64,
    sketches: Option<(&'a [u8], &'a [u8])>,
}

impl ServerRollup<'_> {
    /// Good and valid events of an availability SLI; needs no sketch.
    pub fn availability(&self) -> EventCounts {
        EventCounts::new(
            self.requests - self.errors.min(self.requests),
            self.requests,
        )
    }

    /// The whole rollup, sketches decoded: only when read with sketches.
    pub fn rollup(&self) -> Result<SliRollup, QueryError> {
        let internal = |e: sluice_slo::SloError| QueryError::Internal(e.to_string());
        let (success, failure) = self.sketches.ok_or_else(|| {
            QueryError::Internal("rollup read without its latency sketches".into())
        })?;
        SliRollup::from_parts(
            self.requests,
            self.errors,
            DdSketch::from_bytes(success).map_err(internal)?,
            DdSketch::from_bytes(failure).map_err(internal)?,
        )
        .map_err(internal)
    }
}

/// Calls `each` for every server-span row of the rollup file `bytes` whose
/// service is in `services`; the latency sketches are decoded only when
/// `sketches` is set.
pub(crate) fn read_server_rollups(
    bytes: Bytes,
    services: &HashSet<String>,
    sketches: bool,
    mut each: impl FnMut(ServerRollup<'_>) -> Result<(), QueryError>,
) -> Result<(), QueryError> {
    let parquet = |e: datafusion::parquet::errors::ParquetError| {
        QueryError::Internal(format!("sluice_rollups file: {e}"))
    };
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes).map_err(parquet)?;
    let schema = builder.parquet_schema();
    let mut columns = vec![
        "Minute",
        "ServiceName",
        "SpanName",
        "SpanKind",
        "Requests",
        "Errors",
    ];
    if sketches {
        columns.extend(["LatencySketchSuccess", "LatencySketchFailure"]);
    }
    let projection = ProjectionMask::columns(schema, columns);
    let filter_columns = ProjectionMask::columns(schema, ["ServiceName", "SpanKind"]);
    let services = services.clone();
    let keep = ArrowPredicateFn::new(filter_columns, move |batch: RecordBatch| {
        let service = utf8_column(&batch, "ServiceName")?;
        let kind = utf8_column(&batch, "SpanKind")?;
        let (service, kind) = (service.as_string::<i32>(), kind.as_string::<i32>());
        Ok((0..batch.num_rows())
            .map(|i| {
                Some(
                    kind.value(i) == SpanKind::Server.as_str()
                        && services.contains(service.value(i)),
                )
            })
            .collect::<BooleanArray>())
    });
    let reader = builder
        .with_projection(projection)
        .with_row_filter(RowFilter::new(vec![Box::new(keep)]))
        .build()
        .map_err(parquet)?;
    for batch in reader {
        let batch = batch.map_err(|e| QueryError::Internal(format!("sluice_rollups file: {e}")))?;
        for_each_row(&batch, sketches, &mut each)?;
    }
    Ok(())
}

fn for_each_row(
    batch: &RecordBatch,
    sketches: bool,
    each: &mut impl FnMut(ServerRollup<'_>) -> Result<(), QueryError>,
) -> Result<(), QueryError> {
    let bad =
        |what: &str| QueryError::Internal(format!("sluice_rollups: unexpected column {what}"));
    let column = |name: &str| batch.column_by_name(name).ok_or_else(|| bad(name));
    let minute = column("Minute")?
        .as_primitive_opt::<TimestampNanosecondType>()
        .ok_or_else(|| bad("Minute"))?;
    let requests = column("Requests")?
        .as_primitive_opt::<UInt64Type>()
        .ok_or_else(|| bad("Requests"))?;
    let errors = column("Errors")?
        .as_primitive_opt::<UInt64Type>()
        .ok_or_else(|| bad("Errors"))?;
    let service = utf8_column(batch, "ServiceName").map_err(|_| bad("ServiceName"))?;
    let operation = utf8_column(batch, "SpanName").map_err(|_| bad("SpanName"))?;
    let (service, operation) = (service.as_string::<i32>(), operation.as_string::<i32>());
    let sketch_columns = if sketches {
        let binary = |name: &str| {
            column(name).and_then(|c| {
                cast(c, &DataType::Binary).map_err(|e| QueryError::Internal(e.to_string()))
            })
        };
        Some((
            binary("LatencySketchSuccess")?,
            binary("LatencySketchFailure")?,
        ))
    } else {
        None
    };
    let sketch_arrays = sketch_columns
        .as_ref()
        .map(|(s, f)| (s.as_binary::<i32>(), f.as_binary::<i32>()));
    for i in 0..batch.num_rows() {
        if minute.is_null(i) {
            continue;
        }
        each(ServerRollup {
            service: service.value(i),
            operation: operation.value(i),
            minute: Minute::of_nanos(minute.value(i)),
            requests: requests.value(i),
            errors: errors.value(i),
            sketches: sketch_arrays.map(|(s, f)| (s.value(i), f.value(i))),
        })?;
    }
    Ok(())
}

/// A string column as `Utf8`, whichever string type the file stored.
fn utf8_column(batch: &RecordBatch, name: &str) -> Result<ArrayRef, ArrowError> {
    let column = batch
        .column_by_name(name)
        .ok_or_else(|| ArrowError::SchemaError(format!("no column {name}")))?;
    if column.data_type() == &DataType::Utf8 {
        Ok(Arc::clone(column))
    } else {
        cast(column, &DataType::Utf8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_parquet_files_under_hour_partitions_are_rollup_files() {
        let file = rollup_file(Path::from(
            "default/sluice_rollups/date=2026-11-22/hour=07/n-000-1-000001.parquet",
        ))
        .expect("a rollup file");
        assert_eq!(file.hour.civil(), (2026, 11, 22, 7));
        for other in [
            "default/sluice_rollups/date=2026-11-22/hour=07/n.parquet.tmp",
            "default/sluice_rollups/date=2026-11-22/n.parquet",
            "default/sluice_rollups/date=bad/hour=07/n.parquet",
        ] {
            assert_eq!(rollup_file(Path::from(other)), None, "{other}");
        }
    }
}
