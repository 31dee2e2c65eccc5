//! Prometheus metrics (`/metrics`): what an operator graphs and alerts on.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The node's metrics; cheap to update from any task.
pub struct Metrics {
    registry: Registry,
    /// Current view.
    pub view: Gauge,
    /// Highest decided height.
    pub decided_height: Gauge,
    /// Highest executed height.
    pub executed_height: Gauge,
    /// Highest height under an anchor certificate.
    pub anchored_height: Gauge,
    /// Transactions pooled.
    pub mempool: Gauge,
    /// Committee peers connected.
    pub peers: Gauge,
    /// Transactions admitted.
    pub admitted: Counter,
    /// Transactions refused at admission.
    pub refused: Counter,
    /// Transactions executed.
    pub committed_transactions: Counter,
    /// Consensus alarms raised.
    pub alarms: Counter,
    /// Submission (here) to decision.
    pub finality_decided: Histogram,
    /// Submission (here) to execution.
    pub finality_executed: Histogram,
    /// One consensus persist (synced or not).
    pub persist_seconds: Histogram,
    /// Height of the oldest block kept (blocks below are pruned).
    pub base_height: Gauge,
    /// Height of the newest checkpoint served to peers.
    pub checkpoint_height: Gauge,
    /// Checkpoints installed from a peer (state syncs).
    pub state_syncs: Counter,
}

impl Metrics {
    /// Registers every metric under the `curve_` prefix.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("curve");
        let latency = || Histogram::new(exponential_buckets(0.001, 2.0, 16));
        let metrics = Metrics {
            view: Gauge::default(),
            decided_height: Gauge::default(),
            executed_height: Gauge::default(),
            anchored_height: Gauge::default(),
            mempool: Gauge::default(),
            peers: Gauge::default(),
            admitted: Counter::default(),
            refused: Counter::default(),
            committed_transactions: Counter::default(),
            alarms: Counter::default(),
            finality_decided: latency(),
            finality_executed: latency(),
            persist_seconds: Histogram::new(exponential_buckets(0.000_05, 2.0, 16)),
            base_height: Gauge::default(),
            checkpoint_height: Gauge::default(),
            state_syncs: Counter::default(),
            registry: Registry::default(),
        };
        registry.register("view", "Current consensus view", metrics.view.clone());
        registry.register(
            "decided_height",
            "Highest decided height",
            metrics.decided_height.clone(),
        );
        registry.register(
            "executed_height",
            "Highest executed height",
            metrics.executed_height.clone(),
        );
        registry.register(
            "anchored_height",
            "Highest height under an anchor certificate",
            metrics.anchored_height.clone(),
        );
        registry.register(
            "mempool_transactions",
            "Transactions pooled",
            metrics.mempool.clone(),
        );
        registry.register("peers", "Committee peers connected", metrics.peers.clone());
        registry.register(
            "transactions_admitted",
            "Transactions admitted to the pool",
            metrics.admitted.clone(),
        );
        registry.register(
            "transactions_refused",
            "Transactions refused at admission",
            metrics.refused.clone(),
        );
        registry.register(
            "transactions_executed",
            "Transactions executed",
            metrics.committed_transactions.clone(),
        );
        registry.register("alarms", "Consensus alarms raised", metrics.alarms.clone());
        registry.register(
            "finality_decided_seconds",
            "Submission to decision",
            metrics.finality_decided.clone(),
        );
        registry.register(
            "finality_executed_seconds",
            "Submission to execution",
            metrics.finality_executed.clone(),
        );
        registry.register(
            "persist_seconds",
            "Consensus record persist latency",
            metrics.persist_seconds.clone(),
        );
        registry.register(
            "base_height",
            "Height of the oldest block kept",
            metrics.base_height.clone(),
        );
        registry.register(
            "checkpoint_height",
            "Height of the newest checkpoint served to peers",
            metrics.checkpoint_height.clone(),
        );
        registry.register(
            "state_syncs",
            "Checkpoints installed from a peer",
            metrics.state_syncs.clone(),
        );
        Metrics {
            registry,
            ..metrics
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut text = String::new();
        encode(&mut text, &self.registry).expect("writing to a String cannot fail");
        text
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}
