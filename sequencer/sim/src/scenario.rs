//! Scenarios: what one seed does to the cluster, drawn from the seed alone.

use curve_consensus::{Committee, ReplicaId, View};
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
    /// Signs a vote for every twin an equivocating coalition leader makes, besides its core's own
    /// vote, so both conflicting blocks gather Byzantine votes.
    Accomplice,
    /// Member of a coalition steered by an [`Attack`]: its core runs, and the attack decides
    /// what of it reaches the others and what the member signs besides.
    Coalition,
}

/// A coordinated attack: one schedule the adversary steers the network and its coalition through,
/// built to turn one specific kind of safety bug into two honest replicas deciding different
/// blocks at one height. Against the correct protocol each plan runs to its dangerous point and
/// fails; the coverage counts how far each got.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Plan {
    /// A QC and a TC in the same view `v`: the votes for the block of `v` are harvested and kept
    /// from the next leader, so `v` times out and `v + 1` certifies a conflicting sibling; a
    /// coalition timeout then brings the hidden QC back, `v + 2` certifies a child of the first
    /// block (a 2-chain with a view gap, seen only by the victim, the leader of `v + 3`), and the
    /// sibling's QC released afterwards lets the chain continue on the sibling. Bites a decide
    /// rule without the consecutive-view check.
    HiddenQcFork,
    /// The victim alone learns a QC of `v + 1` that decides the block of `v`; a coalition
    /// leader of `v + 2` proposes a sibling of it justified by the QC of `v - 1` and the TC of
    /// `v + 1`, whose shares report the QC of `v`. Bites a vote rule that ignores the TC's
    /// high QC.
    StaleProposal,
    /// The coalition leader of `v` equivocates; the victim votes for one block, crashes right
    /// after, restarts and is handed the twin; the coalition votes for both, and the votes of
    /// `v + 1` wait. If the victim votes twice, both blocks are certified: the first is decided
    /// by the leader of `v + 2` (whose QC is then hidden) and the coalition starts the certified
    /// chain on the twin at its next turn to lead. If it times out instead, the plan gives up.
    /// Bites a restart that forgets the last voted view.
    RestartDoubleVote,
}

impl Plan {
    /// Every plan.
    pub const ALL: [Plan; 3] = [
        Plan::HiddenQcFork,
        Plan::StaleProposal,
        Plan::RestartDoubleVote,
    ];
}

/// An attack: the plan, the view it starts at and the honest replica it is built around.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attack {
    /// What is attempted.
    pub plan: Plan,
    /// The view the plan starts at.
    pub view: View,
    /// The honest replica the plan isolates (or, for [`Plan::RestartDoubleVote`], crashes).
    pub victim: ReplicaId,
    /// [`Plan::RestartDoubleVote`]: the honest replicas (bit i = replica i) that receive the
    /// twin first.
    pub twin_side: u64,
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
    /// The Byzantine replicas (at most f) and what each does.
    pub byzantine: Vec<(ReplicaId, Behaviour)>,
    /// The coordinated attack, if this seed runs one (its coalition is `byzantine`).
    pub attack: Option<Attack>,
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
    /// The scenario of `seed`: a committee of 4 (70 %), 7 (20 %) or 10; three seeds in ten run a
    /// coordinated [`Attack`]...  random faults with up to f Byzantine replicas.
    pub fn generate(seed: u64) -> Scenario {
        let mut rng = Rng::new(seed, 0);
        let n = match rng.range(0, 9) {
            0..=6 => 4,
            7..=8 => 7,
            _ => 10,
        };
        if rng.chance(150) {
            let plan = Plan::ALL[rng.index(Plan::ALL.len())];
            return Scenario::attack(seed, n, plan, &mut rng);
        }
        let gst_ms = rng.range(1_000, 2_500);
        let faults_max = (n - 1) / 3;
        let byzantine_count = if rng.chance(650) {
            rng.range(1, faults_max as u64) as usize
        } else {
            0
        };
        let mut byzantine: Vec<(ReplicaId, Behaviour)> = Vec::new();
        while byzantine.len() < byzantine_count {
            let replica = rng.index(n) as ReplicaId;
            if byzantine.iter().any(|(b, _)| *b == replica) {
                continue;
            }
            let behaviour = match rng.range(0, 10) {
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
                8 => Behaviour::LieAttest,
                _ => Behaviour::Accomplice,
            };
            byzantine.push((replica, behaviour));
        }
        byzantine.sort_by_key(|(replica, _)| *replica);
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
            attack: None,
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

    /// A seed that runs `plan`: the start view, the victim and a coalition of f replicas placed
    /// where the plan needs them, a quiet network (no drops, duplicates or random crashes: the
    /// attack is the fault) and a GST late enough for the plan's view changes.
    fn attack(seed: u64, n: usize, plan: Plan, rng: &mut Rng) -> Scenario {
        let keys: Vec<[u8; 32]> = (0..n).map(|i| crate::key_of(i).public()).collect();
        let committee = Committee::new(&keys).expect("distinct valid simulation keys");
        let faults_max = (n - 1) / 3;
        let leader = |view: View| committee.leader(view);
        let view = rng.range(6, 14);
        // Required members, forbidden members (honest by the plan), and the victim.
        let (required, honest, victim): (Vec<ReplicaId>, Vec<ReplicaId>, ReplicaId) = match plan {
            Plan::HiddenQcFork => {
                let victim = leader(view + 3);
                (Vec::new(), vec![victim], victim)
            }
            Plan::StaleProposal => {
                let (proposer, next, after) =
                    (leader(view + 2), leader(view + 3), leader(view + 4));
                let candidates: Vec<ReplicaId> = (0..n as ReplicaId)
                    .filter(|r| ![proposer, next, after].contains(r))
                    .collect();
                let victim = candidates[rng.index(candidates.len())];
                (vec![proposer], vec![victim, next, after], victim)
            }
            Plan::RestartDoubleVote => {
                let (equivocator, collector, decider) =
                    (leader(view), leader(view + 1), leader(view + 2));
                let mut required = vec![equivocator];
                // With room for a second member, it leads `v + 3`, so the twin's chain starts
                // at once; with n = 4 it starts when the equivocator leads again at `v + 4`.
                if faults_max >= 2 {
                    required.push(leader(view + 3));
                }
                let candidates: Vec<ReplicaId> = (0..n as ReplicaId)
                    .filter(|r| {
                        ![equivocator, collector, decider].contains(r) && !required.contains(r)
                    })
                    .collect();
                let victim = candidates[rng.index(candidates.len())];
                (required, vec![victim, collector, decider], victim)
            }
        };
        let mut coalition = required;
        while coalition.len() < faults_max {
            let replica = rng.index(n) as ReplicaId;
            if !coalition.contains(&replica) && !honest.contains(&replica) {
                coalition.push(replica);
            }
        }
        coalition.sort_unstable();
        let mut twin_side = 0u64;
        if plan == Plan::RestartDoubleVote {
            // f honest replicas get the twin first. Not the victim (it gets it after its
            // restart), nor the leader of `v + 1`, which votes to itself, off the wire, where the
            // coalition cannot collect the vote.
            let collector = committee.leader(view + 1);
            let mut others: Vec<ReplicaId> = (0..n as ReplicaId)
                .filter(|r| !coalition.contains(r) && *r != victim && *r != collector)
                .collect();
            while others.len() > faults_max {
                others.remove(rng.index(others.len()));
            }
            twin_side = others.iter().fold(0, |m, r| m | 1 << r);
        }
        Scenario {
            seed,
            n,
            byzantine: coalition
                .into_iter()
                .map(|r| (r, Behaviour::Coalition))
                .collect(),
            attack: Some(Attack {
                plan,
                view,
                victim,
                twin_side,
            }),
            faults: Vec::new(),
            gst_ms: rng.range(5_000, 6_000),
            // Links slow enough that views take tens of ms: the plan needs a few hundred ms, and
            // a fast quiet network would only run hundreds of uneventful views before GST.
            delay_ms: (5, rng.range(15, 30)),
            stable_delay_ms: 10,
            drop_per_mille: 0,
            duplicate_per_mille: 0,
            base_timeout_ms: 100,
            max_timeout_ms: 1_600,
            tx_interval_ms: rng.range(10, 80),
        }
    }

    /// Whether `replica` is honest.
    pub fn honest(&self, replica: ReplicaId) -> bool {
        self.byzantine.iter().all(|(b, _)| *b != replica)
    }
}
