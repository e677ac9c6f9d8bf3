//! The partition layout and file names.
//!
//! `<tenant>/<table>/date=YYYY-MM-DD/hour=HH/<node>-<shard>-<created ms>-<seq>.parquet`
//! relative to the storage root. The node id keeps files of several nodes
//! sharing one bucket apart; shard and sequence keep a node's own files apart.

use object_store::path::Path;
use sluice_model::time::PartitionHour;
use sluice_model::{Table, Tenant};

/// The directory of one table's hour for one tenant.
pub fn partition_prefix(tenant: &Tenant, table: Table, hour: PartitionHour) -> Path {
    let (y, m, d, h) = hour.civil();
    Path::from_iter([
        tenant.as_str().to_owned(),
        table.name().to_owned(),
        format!("date={y:04}-{m:02}-{d:02}"),
        format!("hour={h:02}"),
    ])
}

/// The name of one Parquet file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileName {
    pub node: String,
    pub shard: usize,
    pub created_ms: u64,
    pub seq: u64,
}

impl FileName {
    pub fn to_file_name(&self) -> String {
        format!(
            "{}-{:03}-{:013}-{:06}.parquet",
            self.node, self.shard, self.created_ms, self.seq
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_hive_style() {
        let tenant: Tenant = "default".parse().expect("valid tenant");
        // 2024-05-06T07:08:09Z
        let hour = PartitionHour::of_nanos(1_714_979_289_000_000_000);
        let prefix = partition_prefix(&tenant, Table::Traces, hour);
        assert_eq!(
            prefix.as_ref(),
            "default/otel_traces/date=2024-05-06/hour=07"
        );
        let name = FileName {
            node: "node-a".into(),
            shard: 3,
            created_ms: 1_714_979_289_123,
            seq: 42,
        };
        assert_eq!(
            name.to_file_name(),
            "node-a-003-1714979289123-000042.parquet"
        );
    }
}
