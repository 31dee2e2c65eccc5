//! Scenarios: what one seed does to the cluster, drawn from the seed alone.

use curve_consensus::ReplicaId;
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

/// How a Byzantine replica misbehaves. It runs a real core; the simulator rewrites what it sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// As leader, signs two different blocks for its view and sends each to part of the
    /// committee, then the other one to everybody.
    Equivocate,
    /// Signs a second vote for another block in every view it votes in.
    DoubleVote,
    /// Reports the genesis QC in its timeouts and proposes on its oldest QC.
    StaleQc,
    /// Sends nothing at all.
    Silent,
    /// Sends nothing to the replicas in the mask.
    WithholdFrom(u64),
    /// Adds far-future votes and timeouts, bad signatures, non-member claims and undecodable
    /// bytes to everything it sends.
    FutureViewSpam,
    /// Attests random state roots.
    LieAttest,
}

/// A fault event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The replica loses its memory and its unsynced writes.
    Crash(ReplicaId),
    /// The replica crashes right after the next message it sends leaves (power loss just after a
    /// packet: the worst moment for a missing persist barrier).
    CrashAfterSend(ReplicaId),
    /// The replica restarts from what its storage kept.
    Restart(ReplicaId),
    /// Messages between the two sides (bit i set = replica i on side A) are dropped.
    Partition(u64),
    /// The partition ends.
    Heal,
}

/// Everything a run does, fixed by its seed.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// The seed.
    pub seed: u64,
    /// Committee size.
    pub n: usize,
    /// The Byzantine replica, if any.
    pub byzantine: Option<(ReplicaId, Behaviour)>,
    /// Fault events, by virtual time (ms).
    pub faults: Vec<(u64, Fault)>,
    /// Global stabilisation time: after it, no drops, no duplicates, delays ≤ `stable_delay_ms`,
    /// every replica up, no partition.
    pub gst_ms: u64,
    /// Message delay bounds before GST.
    pub delay_ms: (u64, u64),
    /// Message delay bound after GST.
    pub stable_delay_ms: u64,
    /// Drop probability before GST, per mille.
    pub drop_per_mille: u32,
    /// Duplicate probability before GST, per mille.
    pub duplicate_per_mille: u32,
    /// Base view timeout.
    pub base_timeout_ms: u64,
    /// Back-off ceiling.
    pub max_timeout_ms: u64,
    /// A client transaction every this many ms.
    pub tx_interval_ms: u64,
}

/// A small deterministic random source over the seed.
pub struct Rng(ChaCha8Rng);

impl Rng {
    /// The stream for `seed` and `stream` (scenario drawing and network use different streams,
    /// so changing how a run unfolds never changes the scenario it runs).
    pub fn new(seed: u64, stream: u64) -> Rng {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(stream);
        Rng(rng)
    }

    /// Uniform in `low..=high`.
    pub fn range(&mut self, low: u64, high: u64) -> u64 {
        if high <= low {
            return low;
        }
        low + self.0.next_u64() % (high - low + 1)
    }

    /// True with probability `per_mille` / 1000.
    pub fn chance(&mut self, per_mille: u32) -> bool {
        self.range(0, 999) < u64::from(per_mille)
    }

    /// 32 random bytes.
    pub fn bytes32(&mut self) -> [u8; 32] {
        let mut out = [0; 32];
        self.0.fill_bytes(&mut out);
        out
    }

    /// A uniformly chosen index below `len`.
    pub fn index(&mut self, len: usize) -> usize {
        self.range(0, len as u64 - 1) as usize
    }
}

impl Scenario {
    /// The scenario of `seed`.
    pub fn generate(seed: u64) -> Scenario {
        let mut rng = Rng::new(seed, 0);
        let n = if rng.chance(100) { 7 } else { 4 };
        let gst_ms = rng.range(1_000, 2_500);
        let byzantine = if rng.chance(650) {
            let replica = rng.index(n) as ReplicaId;
            let behaviour = match rng.range(0, 9) {
                0..=2 => Behaviour::Equivocate,
                3 => Behaviour::DoubleVote,
                4 => Behaviour::StaleQc,
                5 => Behaviour::Silent,
                6 => {
                    let others = (0..n as u64).filter(|i| *i != u64::from(replica));
                    let mask = others
                        .filter(|_| rng.chance(500))
                        .fold(0, |m, i| m | 1 << i);
                    Behaviour::WithholdFrom(mask)
                }
                7 => Behaviour::FutureViewSpam,
                _ => Behaviour::LieAttest,
            };
            Some((replica, behaviour))
        } else {
            None
        };
        let mut faults = Vec::new();
        if rng.chance(350) {
            let start = rng.range(100, gst_ms / 2);
            let end = rng.range(start + 200, gst_ms - 100);
            let mut mask = 0u64;
            while mask == 0 || mask.count_ones() as usize == n {
                mask = (0..n)
                    .filter(|_| rng.chance(500))
                    .fold(0, |m, i| m | 1 << i);
            }
            faults.push((start, Fault::Partition(mask)));
            faults.push((end, Fault::Heal));
        }
        let crashes = match rng.range(0, 9) {
            0..=3 => 0,
            4..=6 => 1,
            7..=8 => 2,
            _ => 3,
        };
        let mut down_until = vec![0u64; n];
        for _ in 0..crashes {
            let replica = rng.index(n);
            let at = rng.range(down_until[replica] + 50, gst_ms.saturating_sub(300));
            if at + 100 >= gst_ms {
                continue;
            }
            let back = rng.range(at + 50, (at + 800).min(gst_ms - 50));
            let crash = if rng.chance(500) {
                Fault::CrashAfterSend(replica as ReplicaId)
            } else {
                Fault::Crash(replica as ReplicaId)
            };
            faults.push((at, crash));
            faults.push((back, Fault::Restart(replica as ReplicaId)));
            down_until[replica] = back;
        }
        let drop_per_mille = if rng.chance(700) {
            rng.range(0, 150) as u32
        } else {
            0
        };
        let duplicate_per_mille = if rng.chance(500) {
            rng.range(0, 100) as u32
        } else {
            0
        };
        if faults.is_empty() {
            // Every seed has at least one fault event.
            let replica = rng.index(n) as ReplicaId;
            let at = rng.range(100, gst_ms / 2);
            faults.push((at, Fault::Crash(replica)));
            faults.push((at + rng.range(50, 500), Fault::Restart(replica)));
        }
        faults.sort_by_key(|(at, _)| *at);
        let max_delay = rng.range(5, 60);
        Scenario {
            seed,
            n,
            byzantine,
            faults,
            gst_ms,
            delay_ms: (1, max_delay),
            stable_delay_ms: 10,
            drop_per_mille,
            duplicate_per_mille,
            base_timeout_ms: 100,
            max_timeout_ms: 1_600,
            tx_interval_ms: rng.range(10, 80),
        }
    }

    /// Whether `replica` is honest.
    pub fn honest(&self, replica: ReplicaId) -> bool {
        self.byzantine.is_none_or(|(b, _)| b != replica)
    }
}
