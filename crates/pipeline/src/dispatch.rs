//! From the WAL to the shards: runs on the WAL thread, so shares reach their
//! shard queues in sequence order, right after they became durable.

use std::sync::Arc;

use crossbeam_channel::Sender;
use sluice_model::Tenant;
use sluice_model::budget::Charge;
use sluice_storage::wal::CommitSink;

use crate::ShardMessage;
use crate::route::ShardRecords;

/// A request split over the shards, waiting for its WAL sequence number.
#[derive(Debug)]
pub struct Routed {
    pub tenant: Tenant,
    pub shares: Vec<(usize, ShardRecords)>,
    /// The request's memory charge, released once every share is written.
    pub charge: Option<Arc<Charge>>,
    /// What the request's rows weigh (the charge, or an estimate on replay).
    pub bytes: u64,
}

/// Sends committed requests to the shards.
#[derive(Debug)]
pub struct Dispatcher {
    queues: Vec<Sender<ShardMessage>>,
}

impl Dispatcher {
    pub fn new(queues: Vec<Sender<ShardMessage>>) -> Self {
        Self { queues }
    }

    /// Sends the shares of request `seq`. Blocks while a shard queue is full:
    /// the request is durable and must reach its shard.
    pub fn dispatch(&self, seq: u64, replay: bool, routed: Routed) {
        let shares = routed.shares.len().max(1) as u64;
        let bytes = routed.bytes / shares;
        for (shard, records) in routed.shares {
            let message = ShardMessage::Records {
                seq,
                replay,
                tenant: routed.tenant.clone(),
                records,
                charge: routed.charge.clone(),
                bytes,
            };
            if self.queues[shard].send(message).is_err() {
                tracing::error!(
                    shard,
                    seq,
                    "a shard thread is gone; its share stays in the wal for the next start"
                );
            }
        }
    }

    /// Tells idle shards that everything up to `through` has been sent, so
    /// their watermark moves on even when no share came their way.
    pub fn mark_committed(&self, through: u64) {
        for queue in &self.queues {
            if queue.is_empty() {
                let _ = queue.try_send(ShardMessage::Committed { through });
            }
        }
    }
}

impl CommitSink<Routed> for Dispatcher {
    fn committed(&mut self, seq: u64, routed: Routed) {
        self.dispatch(seq, false, routed);
    }

    fn group_committed(&mut self, last: u64) {
        self.mark_committed(last);
    }
}
