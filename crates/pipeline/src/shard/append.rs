//! Records to rows: each record of a shard message goes to the builder of its
//! tenant, table and hour of event time (skipped when replay finds it in a
//! file already).

use sluice_model::batch::BatchBuilder;
use sluice_model::logs::wire::WireLogs;
use sluice_model::metrics::wire::WireMetrics;
use sluice_model::otlp::trace::v1::status::StatusCode;
use sluice_model::time::to_arrow_nanos;
use sluice_model::traces::wire::{Contexts, SpanFacts, WireTraces};
use sluice_model::{Table, Tenant};
use sluice_slo::{RollupKeyRef, SpanKind};

use super::{BatchKey, OpenBuilder, ShardWorker};

impl ShardWorker {
    /// The row builder a record of request `seq` goes to; see `target`.
    fn rows(&mut self, key: &BatchKey, seq: u64, replay: bool) -> Option<&mut BatchBuilder> {
        self.target(key, seq, replay).and_then(OpenBuilder::rows)
    }

    /// Adds `span` to the SLI rollup of its minute of end time;
    /// `rollups_key` is the request's key of the rollups table, its hour set
    /// here.
    fn record_rollup(
        &mut self,
        seq: u64,
        replay: bool,
        rollups_key: &mut BatchKey,
        service: &str,
        span: &SpanFacts,
    ) {
        let end = to_arrow_nanos(span.end_time_unix_nano);
        rollups_key.at(Table::Rollups, span.end_time_unix_nano);
        let kind = SpanKind::from_otlp(span.kind);
        let tenant = &rollups_key.tenant;
        let is_error = span.status_code == StatusCode::Error as i32;
        let duration = span
            .end_time_unix_nano
            .saturating_sub(span.start_time_unix_nano);
        if kind == SpanKind::Server
            && let Some(feed) = &mut self.feed
        {
            feed.record_span(
                tenant,
                service,
                span.name,
                span.end_time_unix_nano,
                duration,
                is_error,
            );
        }
        let rollup_key = RollupKeyRef {
            tenant,
            service,
            operation: span.name,
            span_kind: kind,
        };
        if let Some(OpenBuilder::Rollups(rollups)) = self.target(rollups_key, seq, replay) {
            rollups.record_span(rollup_key, end, duration, is_error);
        }
    }

    pub(super) fn append_traces(
        &mut self,
        seq: u64,
        replay: bool,
        tenant: &Tenant,
        traces: &WireTraces,
    ) {
        // Taken out while the spans are appended to `self`'s batches.
        let mut cache = self.contexts.take().unwrap_or_default();
        let mut contexts = Contexts::cached(&mut cache);
        // The request's keys, their hours set span by span.
        let mut key = BatchKey::new(tenant);
        let mut rollups_key = BatchKey::new(tenant);
        for span in traces.facts() {
            let (resource, scope) = contexts.get(traces, span.resource, span.scope);
            let key = key.at(Table::Traces, span.start_time_unix_nano);
            if let Some(BatchBuilder::Traces(held)) = self.rows(key, seq, replay) {
                held.push(traces.body(), &span, resource, scope);
            }
            self.record_rollup(seq, replay, &mut rollups_key, &resource.service_name, &span);
        }
        self.contexts = Some(cache);
    }

    pub(super) fn append_logs(&mut self, seq: u64, replay: bool, tenant: &Tenant, logs: &WireLogs) {
        // Taken out while the records are appended to `self`'s batches.
        let mut cache = self.contexts.take().unwrap_or_default();
        let mut contexts = Contexts::cached(&mut cache);
        let mut key = BatchKey::new(tenant);
        for log in logs.records() {
            let (resource, scope) = contexts.get(logs, log.resource, log.scope);
            let record = &log.record;
            if let Some(feed) = &mut self.feed {
                feed.record_log(
                    tenant,
                    &resource.service_name,
                    record.event_time(),
                    record.severity_number,
                );
            }
            let key = key.at(Table::Logs, record.event_time());
            if let Some(BatchBuilder::Logs(b)) = self.rows(key, seq, replay) {
                b.append(resource, scope, record);
            }
        }
        self.contexts = Some(cache);
    }

    pub(super) fn append_metrics(
        &mut self,
        seq: u64,
        replay: bool,
        tenant: &Tenant,
        metrics: &WireMetrics,
    ) {
        // Taken out while the points are appended to `self`'s batches: the
        // contexts, and the watch's feed, which summarizes the same points.
        let mut cache = self.contexts.take().unwrap_or_default();
        let mut contexts = Contexts::cached(&mut cache);
        let mut feed = self.feed.take();
        let mut key = BatchKey::new(tenant);
        for metric in metrics.metrics() {
            let (resource, scope) = contexts.get(metrics, metric.resource, metric.scope);
            let Some(table) = metric.metric.table() else {
                continue;
            };
            let watched = feed
                .as_ref()
                .and_then(|f| f.watch_metric(resource, &metric));
            for point in metric.points() {
                if let (Some(feed), Some(watched)) = (&mut feed, &watched) {
                    feed.record_point(tenant, watched, &point);
                }
                let time = point.common().time_unix_nano;
                if let Some(rows) = self.rows(key.at(table, time), seq, replay) {
                    let appended = rows.append_point(resource, scope, &metric, &point);
                    debug_assert!(appended, "a point goes to its metric's table");
                }
            }
        }
        self.feed = feed;
        self.contexts = Some(cache);
    }
}
