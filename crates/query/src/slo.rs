//! SLO status, error budgets, burn rates and the deploy gate, computed from
//! the `sluice_rollups` table (never from raw spans).
//!
//! For each service with SLOs, one query reads the server-span rollup rows of
//! the longest window needed (the SLO window, at least the 3-day burn window),
//! pruned by partition; rows of all shards and nodes are merged per minute, and
//! `sluice-slo` does the arithmetic. Rollups reach storage every
//! `storage.flush_interval`, so the newest seconds may not be counted yet.
//!
//! Ratio SLIs count the increments of metric counters instead ([`crate::ratio`]).

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{TimestampNanosecondType, UInt64Type};
use sluice_model::Tenant;
use sluice_model::time::PartitionHour;
use sluice_slo::{
    DdSketch, Minute, MinuteRange, RollupKey, SliKind, SliRollup, SliSpec, SloCounts,
    SloDefinition, SloDefinitions, SloStatus, SpanKind,
};

use crate::ratio::ratio_counts;
use crate::sql::{QueryError, SqlEngine};

/// The longest burn window, 3 days, in minutes.
const LONGEST_BURN_MINUTES: i64 = 3 * 24 * 60;

/// Evaluates the configured SLOs.
#[derive(Debug, Clone)]
pub struct SloEngine {
    sql: SqlEngine,
    definitions: Arc<RwLock<Arc<SloDefinitions>>>,
}

impl SloEngine {
    pub fn new(sql: SqlEngine, definitions: SloDefinitions) -> Self {
        Self {
            sql,
            definitions: Arc::new(RwLock::new(Arc::new(definitions))),
        }
    }

    pub fn definitions(&self) -> Arc<SloDefinitions> {
        Arc::clone(&self.definitions.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Replaces the definitions (config reload); statuses are computed from
    /// stored rollups, so no state is lost.
    pub fn replace(&self, definitions: SloDefinitions) {
        *self.definitions.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(definitions);
    }

    /// The tenants with stored data: the top-level directories of the root
    /// that are tenant ids.
    pub async fn tenants(&self) -> Vec<Tenant> {
        match self.sql.store().list_with_delimiter(None).await {
            Ok(listing) => listing
                .common_prefixes
                .iter()
                .filter_map(|p| p.filename().and_then(|name| name.parse().ok()))
                .collect(),
            Err(error) => {
                tracing::warn!(%error, "cannot list tenants");
                Vec::new()
            }
        }
    }

    /// The status of every evaluated SLO selected by `select`, at `now_nanos`.
    pub async fn statuses(
        &self,
        tenant: &Tenant,
        now_nanos: i64,
        select: impl Fn(&SloDefinition) -> bool,
    ) -> Result<Vec<SloStatus>, QueryError> {
        let definitions = self.definitions();
        let mut by_service: BTreeMap<&str, Vec<&SloDefinition>> = BTreeMap::new();
        for definition in definitions.iter().filter(|d| select(d)) {
            by_service
                .entry(&definition.service)
                .or_default()
                .push(definition);
        }
        let mut statuses = Vec::new();
        for (service, slos) in by_service {
            let mut counts: Vec<SloCounts> = slos
                .iter()
                .map(|d| SloCounts::new(d.window, now_nanos))
                .collect();
            let oldest = slos
                .iter()
                .map(|d| d.window.range(now_nanos).start)
                .chain([MinuteRange::last_n(now_nanos, LONGEST_BURN_MINUTES).start])
                .min()
                .unwrap_or_else(|| Minute::of_nanos(now_nanos));
            let span_based = slos.iter().any(|d| d.sli_kind() != SliKind::Ratio);
            let rows = if span_based {
                self.rollups(tenant, service, oldest).await?
            } else {
                Vec::new()
            };
            for (key, minute, rollup) in &rows {
                for (definition, counts) in slos.iter().zip(counts.iter_mut()) {
                    if let Some(events) = definition.span_counts(key, rollup) {
                        counts.add_minute(*minute, events);
                    }
                }
            }
            for (definition, counts) in slos.iter().zip(counts.iter_mut()) {
                if let SliSpec::Ratio { good, total } = &definition.sli {
                    let minutes =
                        ratio_counts(&self.sql, tenant, service, good, total, oldest).await?;
                    for (minute, events) in minutes {
                        counts.add_minute(minute, events);
                    }
                }
            }
            for (definition, counts) in slos.iter().zip(&counts) {
                statuses.push(SloStatus::evaluate(definition, counts));
            }
        }
        let order: Vec<&str> = definitions.iter().map(|d| d.name.as_str()).collect();
        statuses.sort_by_key(|s| order.iter().position(|n| *n == s.name));
        Ok(statuses)
    }

    /// The server-span rollups of `service` from minute `oldest` on, merged per
    /// operation and minute.
    pub(crate) async fn rollups(
        &self,
        tenant: &Tenant,
        service: &str,
        oldest: Minute,
    ) -> Result<Vec<(RollupKey, Minute, SliRollup)>, QueryError> {
        let (y, m, d, _) = PartitionHour::of_nanos(oldest.start_nanos()).civil();
        let sql = format!(
            "SELECT \"Minute\", \"SpanName\", \"Requests\", \"Errors\", \"LatencySketchSuccess\", \"LatencySketchFailure\" FROM sluice_rollups \
             WHERE \"ServiceName\" = '{}' AND \"SpanKind\" = '{}' \
             AND date >= '{y:04}-{m:02}-{d:02}' AND \"Minute\" >= to_timestamp_nanos({})",
            service.replace('\'', "''"),
            SpanKind::Server.as_str(),
            oldest.start_nanos()
        );
        let batches = self.sql.query_unlimited(tenant, &sql).await?.batches;
        let mut merged: BTreeMap<(String, Minute), SliRollup> = BTreeMap::new();
        for batch in &batches {
            for (operation, minute, rollup) in read_rows(batch)? {
                match merged.get_mut(&(operation.clone(), minute)) {
                    Some(existing) => existing
                        .merge(&rollup)
                        .map_err(|e| QueryError::Internal(e.to_string()))?,
                    None => {
                        merged.insert((operation, minute), rollup);
                    }
                }
            }
        }
        Ok(merged
            .into_iter()
            .map(|((operation, minute), rollup)| {
                let key = RollupKey::new(tenant.clone(), service, operation, SpanKind::Server);
                (key, minute, rollup)
            })
            .collect())
    }
}

/// The rollup rows of one batch.
fn read_rows(batch: &RecordBatch) -> Result<Vec<(String, Minute, SliRollup)>, QueryError> {
    let bad =
        |what: &str| QueryError::Internal(format!("sluice_rollups: unexpected column {what}"));
    let minute = batch
        .column(0)
        .as_primitive_opt::<TimestampNanosecondType>()
        .ok_or_else(|| bad("Minute"))?;
    let operation = batch.column(1);
    let requests = batch
        .column(2)
        .as_primitive_opt::<UInt64Type>()
        .ok_or_else(|| bad("Requests"))?;
    let errors = batch
        .column(3)
        .as_primitive_opt::<UInt64Type>()
        .ok_or_else(|| bad("Errors"))?;
    let string_at = |i: usize| -> Option<String> {
        operation
            .as_string_view_opt()
            .map(|a| a.value(i).to_owned())
            .or_else(|| {
                operation
                    .as_string_opt::<i32>()
                    .map(|a| a.value(i).to_owned())
            })
    };
    let sketch_at = |column: usize, i: usize| -> Result<DdSketch, QueryError> {
        let array = batch.column(column);
        let bytes = array
            .as_binary_view_opt()
            .map(|a| a.value(i))
            .or_else(|| array.as_binary_opt::<i32>().map(|a| a.value(i)))
            .ok_or_else(|| bad("LatencySketch"))?;
        DdSketch::from_bytes(bytes).map_err(|e| QueryError::Internal(e.to_string()))
    };
    let mut rows = Vec::with_capacity(batch.num_rows());
    for i in 0..batch.num_rows() {
        if minute.is_null(i) {
            continue;
        }
        let op = string_at(i).ok_or_else(|| bad("SpanName"))?;
        let rollup = SliRollup::from_parts(
            requests.value(i),
            errors.value(i),
            sketch_at(4, i)?,
            sketch_at(5, i)?,
        )
        .map_err(|e| QueryError::Internal(e.to_string()))?;
        rows.push((op, Minute::of_nanos(minute.value(i)), rollup));
    }
    Ok(rows)
}
