//! Consensus alone (`[bench] consensus_only = true`): the node orders opaque payloads and
//! executes nothing — a benchmark of the consensus core, the transport and RocksDB, never a
//! real chain.
//!
//! `curve_benchOpaque [rate, size, seconds]` makes a node generate `rate` payloads a second of
//! `size` bytes (`replica u16 ‖ sequence u64 ‖ due_ms u64 ‖ zeros`), pack each tick's
//! into batches sent once to every member, and hand the core the batches' references
//! ([`crate::batches`]): blocks order references. Decided blocks go
//! through a hash-chain executor (the root at height h is `SHA-256(h ‖ block hash)`, 0 at
//! genesis: a block's hash names its ancestors, and a restarted node resumes the chain from
//! the block it last decided), so attestations and
//! anchor certificates still flow. Each node measures, for the payloads it generated, the time
//! from generation to decision; `curve_benchReport` returns the counts and a histogram in
//! milliseconds that `curve bench --consensus-only` merges across nodes.

use std::collections::BTreeMap;

use bytes::Bytes;
use curve_consensus::{DecidedBlock, Message};
use curve_formats::batch::BatchHeader;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::batches::{BatchPacker, BatchRef, BatchStore};

/// The smallest payload (the header fields).
pub const PAYLOAD_MIN: usize = 18;
/// The largest payload.
pub const PAYLOAD_MAX: usize = 64 << 10;

/// A generator's schedule.
struct Load {
    rate: u64,
    size: usize,
    started_ms: u64,
    until_ms: u64,
}

/// The hash chain's root at `height`, whose decided block is `block`: zeros at genesis.
fn chain_root(height: u64, block: &[u8; 32]) -> [u8; 32] {
    if height == 0 {
        return [0; 32];
    }
    Sha256::new()
        .chain_update(height.to_le_bytes())
        .chain_update(block)
        .finalize()
        .into()
}

/// The hash-chain executor and the load generator of a consensus-only node.
#[derive(Default)]
pub struct OpaqueBench {
    height: u64,
    root: [u8; 32],
    load: Option<Load>,
    /// Payloads generated in the current run.
    generated: u64,
    /// Of those, decided.
    decided: u64,
    /// Generation to decision, milliseconds → count.
    latency_ms: BTreeMap<u64, u64>,
    /// Payloads decided in total (every node's).
    pub ordered: u64,
    /// The batches this node holds and the proposals waiting for some.
    pub batches: BatchStore<Message>,
}

impl OpaqueBench {
    /// Starts (or restarts) generating `rate` payloads a second of `size` bytes for `seconds`.
    pub fn start(
        &mut self,
        rate: u64,
        size: usize,
        seconds: u64,
        now_ms: u64,
    ) -> Result<(), String> {
        if !(PAYLOAD_MIN..=PAYLOAD_MAX).contains(&size) {
            return Err(format!(
                "size {size}: payloads are {PAYLOAD_MIN} to {PAYLOAD_MAX} bytes"
            ));
        }
        if rate == 0 || rate > 1_000_000 || seconds == 0 || seconds > 3_600 {
            return Err("rate must be 1 to 1,000,000 a second, seconds 1 to 3,600".into());
        }
        self.load = Some(Load {
            rate,
            size,
            started_ms: now_ms,
            until_ms: now_ms + seconds * 1_000,
        });
        self.generated = 0;
        self.decided = 0;
        self.latency_ms.clear();
        Ok(())
    }

    /// The payloads due by `now_ms` that were not generated yet, packed into batch frames.
    pub fn due(&mut self, me: u16, now_ms: u64) -> Vec<Bytes> {
        let Some(load) = &self.load else {
            return Vec::new();
        };
        let elapsed = now_ms.min(load.until_ms).saturating_sub(load.started_ms);
        let target = load.rate * elapsed / 1_000;
        // Each payload is stamped with when it was due, not when this tick ran, so a late tick
        // counts in the latency; the tick's batches carry its first (earliest) payload's time.
        let due_ms = |sequence: u64| load.started_ms + sequence * 1_000 / load.rate;
        let mut payload = vec![0u8; load.size];
        payload[..2].copy_from_slice(&me.to_le_bytes());
        let mut packer = BatchPacker::new(me, due_ms(self.generated));
        packer.expect(target.saturating_sub(self.generated) as usize, load.size);
        while self.generated < target {
            payload[2..10].copy_from_slice(&self.generated.to_le_bytes());
            payload[10..18].copy_from_slice(&due_ms(self.generated).to_le_bytes());
            packer.push(&payload);
            self.generated += 1;
        }
        if now_ms >= load.until_ms {
            self.load = None;
        }
        packer.finish()
    }

    /// Continues the chain above `block`, decided at `height` (what a restarted node
    /// decided): its root is that block's, as if this executor had applied it.
    pub fn resume_at(&mut self, height: u64, block: [u8; 32]) {
        self.height = height;
        self.root = chain_root(height, &block);
    }

    /// The next height this executor applies.
    pub fn next_height(&self) -> u64 {
        self.height + 1
    }

    /// Applies `block` (at [`OpaqueBench::next_height`]): the hash chain moves on, the
    /// payloads of the batches this replica generated are timed, and the decided batches are
    /// noted for dropping. Also returns the payloads the block ordered.
    pub fn execute(&mut self, me: u16, block: &DecidedBlock, now_ms: u64) -> (BatchHeader, u64) {
        let mut ordered = 0;
        let mut digests = Vec::with_capacity(block.payload.len());
        // Votes waited for every batch, but a block fetched as a certified ancestor was not
        // checked here: an item that is not a reference orders nothing.
        for reference in block
            .payload
            .iter()
            .filter_map(|item| BatchRef::from_bytes(item))
        {
            let count = u64::from(reference.count);
            ordered += count;
            digests.push(reference.digest);
            if reference.author == me {
                *self
                    .latency_ms
                    .entry(now_ms.saturating_sub(reference.generated_ms))
                    .or_default() += count;
                self.decided += count;
            }
        }
        self.ordered += ordered;
        self.batches.decided(block.height, digests);
        let prev_root = self.root;
        self.root = chain_root(block.height, &block.hash);
        self.height = block.height;
        let header = BatchHeader {
            height: block.height,
            prev_root,
            state_root: self.root,
            transactions_root: [0; 32],
            withdrawal_root: [0; 32],
            withdrawal_count: 0,
            withdrawal_total: 0,
            timestamp_ms: block.timestamp_ms,
        };
        (header, ordered)
    }

    /// `curve_benchReport`'s answer.
    pub fn report(&self) -> Value {
        let histogram: Vec<[u64; 2]> = self.latency_ms.iter().map(|(ms, n)| [*ms, *n]).collect();
        json!({
            "running": self.load.is_some(),
            "generated": self.generated,
            "decided": self.decided,
            "ordered": self.ordered,
            "height": self.height,
            "batches_held": self.batches.len(),
            "proposals_waited": self.batches.waited,
            "latency_ms": histogram,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batches::reference;

    fn block(height: u64) -> DecidedBlock {
        DecidedBlock {
            height,
            hash: Sha256::digest(height.to_be_bytes()).into(),
            view: height + 1,
            timestamp_ms: 1_000 * height,
            payload: vec![
                BatchRef {
                    digest: [height as u8; 32],
                    author: 0,
                    count: 3,
                    generated_ms: 0,
                }
                .to_bytes(),
            ],
        }
    }

    #[test]
    fn payloads_are_generated_on_schedule_in_batches_and_timed_from_when_they_were_due() {
        let mut bench = OpaqueBench::default();
        bench.start(1_000, 512, 1, 10_000).unwrap();
        assert!(bench.due(2, 10_000).is_empty());
        // A tick 500 ms late: 500 payloads were due, the first at 10,000 ms.
        let frames = bench.due(2, 10_500);
        let first: Vec<BatchRef> = frames.iter().map(|f| reference(f).unwrap()).collect();
        assert_eq!(first.iter().map(|r| r.count).sum::<u32>(), 500);
        assert_eq!(first[0].generated_ms, 10_000);
        assert!(first.iter().all(|r| r.author == 2));
        // Past the end: the rest, and the load stops.
        let rest: Vec<BatchRef> = bench
            .due(2, 12_000)
            .iter()
            .map(|f| reference(f).unwrap())
            .collect();
        assert_eq!(rest.iter().map(|r| r.count).sum::<u32>(), 500);
        assert_eq!(rest[0].generated_ms, 10_500);
        assert!(bench.due(2, 13_000).is_empty());

        // Another member's batch is ordered but not timed here.
        let mut payload: Vec<Vec<u8>> = first.iter().chain(&rest).map(BatchRef::to_bytes).collect();
        payload.push(
            BatchRef {
                digest: [1; 32],
                author: 1,
                count: 7,
                generated_ms: 0,
            }
            .to_bytes(),
        );
        let decided = DecidedBlock {
            payload,
            ..block(1)
        };
        let (_, ordered) = bench.execute(2, &decided, 10_600);
        assert_eq!(ordered, 1_007);
        let report = bench.report();
        assert_eq!(report["decided"], 1_000);
        assert_eq!(report["ordered"], 1_007);
        // 500 due at 10,000 decided 600 ms later; 500 due at 10,500 decided 100 ms later.
        assert_eq!(report["latency_ms"], json!([[100, 500], [600, 500]]));
    }

    #[test]
    fn a_restarted_executor_continues_the_chain_it_left() {
        let mut running = OpaqueBench::default();
        let headers: Vec<BatchHeader> = (1..=4)
            .map(|h| running.execute(0, &block(h), 0).0)
            .collect();
        assert_eq!(running.ordered, 12);
        for pair in headers.windows(2) {
            assert_eq!(pair[1].prev_root, pair[0].state_root);
        }
        assert_eq!(headers[0].prev_root, [0; 32]);
        // Restarted after each height (the core restores the block it decided last).
        for restart in 0..4u64 {
            let mut restarted = OpaqueBench::default();
            let decided = if restart == 0 {
                [0; 32]
            } else {
                block(restart).hash
            };
            restarted.resume_at(restart, decided);
            assert_eq!(restarted.next_height(), restart + 1);
            for h in restart + 1..=4 {
                let (header, _) = restarted.execute(0, &block(h), 0);
                assert_eq!(
                    header,
                    headers[h as usize - 1],
                    "restarted at {restart}, height {h}"
                );
            }
        }
    }
}
