//! SQL over the stored tables, through DataFusion: the read side of the data
//! path.
//!
//! Each query gets a session in which the tenant's tables (the storage contract's
//! names plus `sluice_rollups`) are Parquet listing tables over
//! `<root>/<tenant>/<table>/`, with the Hive partition columns `date` and `hour`,
//! so a filter on them prunes whole directories. Parquet statistics and the
//! bloom filter on `TraceId` prune row groups. Queries may only read: DDL, DML
//! and statements such as `COPY` or `SET` are refused. Each query has a time
//! limit and a row limit.

use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::prelude::{SQLOptions, SessionConfig, SessionContext};
use futures::StreamExt;
use object_store::ObjectStore;
use serde::{Deserialize, Serialize};
use sluice_model::units::Duration as ConfigDuration;
use sluice_model::{Table, Tenant};

/// The `[query]` section of the config file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueryConfig {
    /// A query running longer than this is stopped.
    pub time_limit: ConfigDuration,
    /// Rows a query returns at most; more are cut off (and the response says so).
    pub max_rows: usize,
}

impl Default for QueryConfig {
    fn default() -> Self {
        Self {
            time_limit: ConfigDuration::from_secs(30),
            max_rows: 100_000,
        }
    }
}

impl QueryConfig {
    /// Checks the values a type cannot; the error names the key.
    pub fn validate(&self) -> Result<(), String> {
        if self.time_limit.get().is_zero() {
            return Err("query.time_limit: must be longer than 0s".into());
        }
        if self.max_rows == 0 {
            return Err("query.max_rows: must be at least 1".into());
        }
        Ok(())
    }
}

/// Why a query produced no result.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The SQL is wrong or refers to what does not exist: the client's to fix.
    #[error("{0}")]
    Sql(String),
    #[error("the query ran longer than query.time_limit ({0:?})")]
    Timeout(Duration),
    #[error("cannot run the query: {0}")]
    Internal(String),
}

/// What a query returned.
#[derive(Debug)]
pub struct QueryResult {
    pub batches: Vec<RecordBatch>,
    /// Rows were cut off at `query.max_rows`.
    pub truncated: bool,
}

/// `schema` with its top-level string and binary columns read as Arrow's view
/// types, which point into the decoded Parquet pages instead of copying every
/// value: group-bys over string columns run about a third faster (`--bench
/// sql`). Results carry the view types; JSON, CSV and Arrow IPC readers take
/// them as strings.
fn view_types(schema: &Schema) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|field| match field.data_type() {
            DataType::Utf8 => field.as_ref().clone().with_data_type(DataType::Utf8View),
            DataType::Binary => field.as_ref().clone().with_data_type(DataType::BinaryView),
            _ => field.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// Runs SQL over one storage root.
#[derive(Debug, Clone)]
pub struct SqlEngine {
    store: Arc<dyn ObjectStore>,
    config: QueryConfig,
}

/// The URL the store is registered under in each session.
const STORE_URL: &str = "sluice://store";

impl SqlEngine {
    pub fn new(store: Arc<dyn ObjectStore>, config: QueryConfig) -> Self {
        Self { store, config }
    }

    /// The store the tables are read from.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// A session with `tenant`'s tables registered.
    fn session(&self, tenant: &Tenant) -> Result<SessionContext, QueryError> {
        let internal = |e: datafusion::error::DataFusionError| QueryError::Internal(e.to_string());
        let config = SessionConfig::new().with_information_schema(true);
        let ctx = SessionContext::new_with_config(config);
        let url = ObjectStoreUrl::parse(STORE_URL).map_err(internal)?;
        ctx.register_object_store(url.as_ref(), Arc::clone(&self.store));
        for table in Table::ALL {
            let path = format!("{STORE_URL}/{}/{}/", tenant.as_str(), table.name());
            let table_url = ListingTableUrl::parse(&path).map_err(internal)?;
            let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
                .with_file_extension(".parquet")
                .with_table_partition_cols(vec![
                    ("date".to_owned(), DataType::Utf8),
                    ("hour".to_owned(), DataType::Utf8),
                ]);
            let listing = ListingTableConfig::new(table_url)
                .with_listing_options(options)
                .with_schema(view_types(&sluice_model::schema::schema(table)));
            let provider = ListingTable::try_new(listing).map_err(internal)?;
            ctx.register_table(table.name(), Arc::new(provider))
                .map_err(internal)?;
        }
        Ok(ctx)
    }

    /// Runs one read-only statement for `tenant`, within the limits.
    pub async fn query(&self, tenant: &Tenant, sql: &str) -> Result<QueryResult, QueryError> {
        let limit = self.config.time_limit.get();
        tokio::time::timeout(limit, self.run(tenant, sql, Some(self.config.max_rows)))
            .await
            .map_err(|_| QueryError::Timeout(limit))?
    }

    /// Runs a statement of Sluice's own (the SLO API's), within the time limit
    /// but without the row limit, which is for clients' results.
    pub async fn query_unlimited(
        &self,
        tenant: &Tenant,
        sql: &str,
    ) -> Result<QueryResult, QueryError> {
        let limit = self.config.time_limit.get();
        tokio::time::timeout(limit, self.run(tenant, sql, None))
            .await
            .map_err(|_| QueryError::Timeout(limit))?
    }

    async fn run(
        &self,
        tenant: &Tenant,
        sql: &str,
        max_rows: Option<usize>,
    ) -> Result<QueryResult, QueryError> {
        let ctx = self.session(tenant)?;
        let options = SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false);
        let frame = ctx
            .sql_with_options(sql, options)
            .await
            .map_err(|e| QueryError::Sql(e.to_string()))?;
        let Some(max) = max_rows else {
            let batches = frame
                .collect()
                .await
                .map_err(|e| QueryError::Sql(e.to_string()))?;
            return Ok(QueryResult {
                batches,
                truncated: false,
            });
        };
        // Read the result as a stream and stop one row past the limit, rather
        // than wrapping the plan in a LIMIT, which EXPLAIN ANALYZE refuses.
        let mut stream = frame
            .execute_stream()
            .await
            .map_err(|e| QueryError::Sql(e.to_string()))?;
        let mut batches = Vec::new();
        let mut rows = 0;
        let mut truncated = false;
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(|e| QueryError::Sql(e.to_string()))?;
            if batch.num_rows() == 0 {
                continue;
            }
            let take = batch.num_rows().min(max - rows);
            if take < batch.num_rows() {
                truncated = true;
            }
            if take > 0 {
                batches.push(batch.slice(0, take));
                rows += take;
            }
            if truncated {
                break;
            }
        }
        Ok(QueryResult { batches, truncated })
    }
}
