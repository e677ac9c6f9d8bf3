//! SLO status, error budgets, burn rates and the deploy gate, computed from
//! the `sluice_rollups` table (never from raw spans).
//!
//! Span-based SLIs count the server-span rollups of the SLO window (at least
//! the 3-day burn window), through the in-memory [`crate::slo_index`] that
//! folds each stored rollup file in once; rows of all shards and nodes add up
//! per minute, and `sluice-slo` does the arithmetic. Rollups reach storage
//! every `storage.flush_interval`, so the newest seconds may not be counted
//! yet.
//!
//! Ratio SLIs count the increments of metric counters instead ([`crate::ratio`]).

use std::collections::HashSet;
use std::sync::{Arc, RwLock};

use sluice_model::Tenant;
use sluice_model::time::PartitionHour;
use sluice_slo::{
    Minute, MinuteRange, SliKind, SliRollup, SliSpec, SloCounts, SloDefinition, SloDefinitions,
    SloStatus,
};

use crate::ratio::ratio_counts;
use crate::rollup_files::{RollupFile, list_rollup_files, read_files, read_server_rollups};
use crate::slo_index::{LONGEST_BURN_MINUTES, SloIndex};
use crate::sql::{QueryError, SqlEngine};

/// Evaluates the configured SLOs.
#[derive(Debug, Clone)]
pub struct SloEngine {
    sql: SqlEngine,
    definitions: Arc<RwLock<Arc<SloDefinitions>>>,
    index: Arc<SloIndex>,
}

impl SloEngine {
    pub fn new(sql: SqlEngine, definitions: SloDefinitions) -> Self {
        Self {
            sql,
            definitions: Arc::new(RwLock::new(Arc::new(definitions))),
            index: Arc::default(),
        }
    }

    pub fn definitions(&self) -> Arc<SloDefinitions> {
        Arc::clone(&self.definitions.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Replaces the definitions (config reload); statuses are computed from
    /// stored rollups, so no state is lost (the index of each tenant is
    /// rebuilt from them on its next answer, or by [`Self::warm`]).
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

    /// The status of every evaluated SLO selected by `select`, at `now_nanos`,
    /// in the order of the definitions.
    pub async fn statuses(
        &self,
        tenant: &Tenant,
        now_nanos: i64,
        select: impl Fn(&SloDefinition) -> bool,
    ) -> Result<Vec<SloStatus>, QueryError> {
        let definitions = self.definitions();
        let selected: Vec<(usize, &SloDefinition)> = definitions
            .iter()
            .enumerate()
            .filter(|(_, d)| select(d))
            .collect();
        let mut counts: Vec<SloCounts> = selected
            .iter()
            .map(|(_, d)| SloCounts::new(d.window, now_nanos))
            .collect();
        let mut span_based: Vec<(usize, &mut SloCounts)> = selected
            .iter()
            .zip(counts.iter_mut())
            .filter(|((_, d), _)| d.sli_kind() != SliKind::Ratio)
            .map(|((position, _), counts)| (*position, counts))
            .collect();
        if !span_based.is_empty() {
            self.index
                .add_counts(self.sql.store(), tenant, &definitions, &mut span_based)
                .await?;
        }
        for ((_, definition), counts) in selected.iter().zip(counts.iter_mut()) {
            if let SliSpec::Ratio { good, total } = &definition.sli {
                let oldest = counts
                    .range()
                    .start
                    .min(MinuteRange::last_n(now_nanos, LONGEST_BURN_MINUTES).start);
                let minutes =
                    ratio_counts(&self.sql, tenant, &definition.service, good, total, oldest)
                        .await?;
                for (minute, events) in minutes {
                    counts.add_minute(minute, events);
                }
            }
        }
        Ok(selected
            .iter()
            .zip(&counts)
            .map(|((_, definition), counts)| SloStatus::evaluate(definition, counts))
            .collect())
    }

    /// Reads the stored rollups of every tenant into the SLO index, so the
    /// first answers after a start or a reload are as fast as the later ones.
    pub async fn warm(&self) {
        let now = crate::now_nanos();
        for tenant in self.tenants().await {
            if let Err(error) = self.statuses(&tenant, now, |_| true).await {
                tracing::warn!(%error, tenant = %tenant, "cannot read the slo rollups");
            }
        }
    }

    /// The server-span rollups of `service` in the minutes of `range`, one
    /// element per stored row (several per operation and minute when several
    /// shards, nodes or flushes wrote that minute).
    pub(crate) async fn server_rollups(
        &self,
        tenant: &Tenant,
        service: &str,
        range: MinuteRange,
    ) -> Result<Vec<(String, Minute, SliRollup)>, QueryError> {
        if range.is_empty() {
            return Ok(Vec::new());
        }
        let files = list_rollup_files(
            self.sql.store(),
            tenant,
            PartitionHour::of_nanos(range.start.start_nanos()),
            Some(PartitionHour::of_nanos(range.end.plus(-1).start_nanos())),
        )
        .await?;
        let services = HashSet::from([service.to_owned()]);
        let decoded = read_files(self.sql.store(), files, move |_file: &RollupFile, bytes| {
            let mut rows = Vec::new();
            read_server_rollups(bytes, &services, true, |row| {
                if range.contains(row.minute) {
                    rows.push((row.operation.to_owned(), row.minute, row.rollup()?));
                }
                Ok(())
            })?;
            Ok(rows)
        })
        .await?;
        Ok(decoded.into_iter().flatten().collect())
    }
}
