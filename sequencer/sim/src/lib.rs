//! Deterministic simulation of the consensus core (FoundationDB / TigerBeetle VOPR style).
//!
//! One seed fixes a [`Scenario`]: committee size (4, 7 or 10), up to f Byzantine replicas and
//! their behaviours, crashes (some right after a send) and restarts, a partition and its heal,
//! message drop, duplication, delay and reordering before a global stabilisation time (GST), and
//! a client workload — or, for three seeds in ten, a coordinated [`Attack`]: a coalition of f
//! replicas and an adversary that reads every message, holds honest ones from chosen replicas
//! until GST, signs with coalition keys and crashes a replica right after a send, steered
//! through a [`Plan`] built to turn one kind of safety bug into a conflicting decide (see
//! `attack.rs`). The simulator runs n real [`Core`]s over a virtual clock and an event queue
//! ordered by (time, sequence), encodes every message to wire bytes and decodes it on delivery,
//! gives each replica a store that loses its unsynced writes on a crash, and checks after every
//! step:
//! - no two different blocks decided at one height, decided logs gapless and prefixes of one
//!   another, also across restarts;
//! - no honest replica signs two votes or two proposals for one view;
//! - honest attestations agree, and anchor certificates certify what honest replicas computed;
//! - no conflicting-certificate or conflicting-decide alarm at an honest replica;
//! - after GST every honest replica decides something new within [`LIVENESS_MS`], and the run
//!   reaches [`MIN_VIEWS`] views.
//!
//! A conflicting decide, a gap, a failed restart or a liveness failure ends the run; the other
//! findings are recorded and the run goes on, so that a double vote is also seen to lead (or not)
//! to a conflicting decide. The [`Violation`] reports the most severe finding.
//!
//! Signature checks go through a memoised verifier keyed by (key, message, signature): every
//! replica checks the same votes, and the sweep needs thousands of seeds per CI run. Same seed,
//! same run: no clock, no OS randomness, no hash-map order.

mod attack;
mod byzantine;
mod checker;
mod scenario;

pub use crate::attack::Stage;
pub use crate::checker::{Broken, Checker, Kind};
pub use crate::scenario::{Attack, Behaviour, Fault, Plan, Rng, Scenario};

use crate::attack::{Engine, Send};
use crate::byzantine::Adversary;
use curve_consensus::{
    Action, Alarm, Committee, Config, ConsensusKey, Core, DecidedBlock, Executor, Hash, Input,
    Message, Record, ReplicaId, Verifier, execute_decided,
};
use curve_formats::batch::BatchHeader;
use curve_formats::encoding::{Decode, Encode};
use ed25519_dalek::VerifyingKey;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The chain id every simulated replica signs for.
pub const CHAIN_ID: u64 = 0x5349_4d00;
/// Views every seed must reach.
pub const MIN_VIEWS: u64 = 50;
/// After GST, every honest replica must decide a new height within this long (virtual ms).
/// Back-off is capped at 1.6 s, so this allows several full view changes.
pub const LIVENESS_MS: u64 = 12_000;
/// A run that has not reached [`MIN_VIEWS`] this long after GST fails.
pub const RUN_LIMIT_AFTER_GST_MS: u64 = 60_000;
/// Runs continue at least this long after GST.
pub const RUN_MIN_AFTER_GST_MS: u64 = 300;
/// A run with a finding goes on this long after the first one (to see what it leads to), then
/// ends.
pub const FINDINGS_GRACE_MS: u64 = 4_000;
/// Findings kept per run (the rest are only counted).
pub const FINDINGS_KEPT: usize = 64;
/// An attack plan must make its last move within this long of its first.
pub const ATTACK_BUDGET_MS: u64 = 3_000;
/// GST comes this long after an attack plan's last move.
pub const ATTACK_GRACE_MS: u64 = 1_500;

/// The secret seed of replica `i`'s consensus key (fixed, so the verification cache and failing
/// seeds replay identically).
pub fn key_of(i: usize) -> ConsensusKey {
    let mut seed = [0u8; 32];
    seed[0] = i as u8 + 1;
    seed[31] = 0x5a;
    ConsensusKey::from_seed(&seed)
}

/// How to run a scenario.
#[derive(Clone, Copy)]
pub struct Options {
    /// Applied to every replica's config (the mutation tests plant bugs here).
    pub configure: fn(Config) -> Config,
    /// Print every event to stderr.
    pub trace: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            configure: |config| config,
            trace: false,
        }
    }
}

/// What a run covered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Coverage {
    /// An honest replica formed and used a timeout certificate.
    pub timeout_cert: bool,
    /// A replica crashed with unsynced writes and restarted without them.
    pub lost_writes: bool,
    /// A Byzantine leader sent conflicting proposals.
    pub equivocation: bool,
    /// More than one replica was Byzantine.
    pub coalition: bool,
    /// The attack's plan and the furthest stage it reached.
    pub attack: Option<(Plan, Stage)>,
    /// A partition formed and healed.
    pub partition_heal: bool,
    /// Fault events that happened.
    pub faults: u32,
}

/// A successful run.
#[derive(Clone, Debug)]
pub struct Report {
    /// The seed.
    pub seed: u64,
    /// The lowest current view among honest replicas at the end.
    pub views: u64,
    /// The highest decided height.
    pub decided: u64,
    /// Anchor certificates formed.
    pub anchors: usize,
    /// Virtual time at the end.
    pub virtual_ms: u64,
    /// From GST until every honest replica had decided something new.
    pub recovery_ms: u64,
    /// What happened.
    pub coverage: Coverage,
}

/// A broken invariant, with how to replay it: the most severe finding of the run (the first of
/// its kind), and how many there were.
#[derive(Clone, Debug)]
pub struct Violation {
    /// The seed.
    pub seed: u64,
    /// Virtual time of the reported finding.
    pub at_ms: u64,
    /// Its kind.
    pub kind: Kind,
    /// What broke.
    pub what: String,
    /// Findings in the run, this one included.
    pub findings: usize,
    /// The attack the seed ran, if any.
    pub attack: Option<Attack>,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "seed {} at {} ms: {:?}: {}",
            self.seed, self.at_ms, self.kind, self.what
        )?;
        if self.findings > 1 {
            write!(f, " ({} findings in the run)", self.findings)?;
        }
        if let Some(attack) = &self.attack {
            write!(f, "\n  attack: {attack:?}")?;
        }
        write!(
            f,
            "\n  replay: SIM_SEED={} SIM_TRACE=1 cargo test -p curve-consensus-sim --test sweep replay -- --nocapture",
            self.seed
        )
    }
}

/// Memoised signature checks, shared by the replicas of one run.
#[derive(Clone, Default)]
struct CachedVerifier(Arc<Mutex<BTreeMap<Hash, bool>>>);

impl Verifier for CachedVerifier {
    fn verify(&mut self, key: &VerifyingKey, message: &[u8], signature: &[u8; 64]) -> bool {
        let mut hasher = Sha256::new();
        hasher.update(key.as_bytes());
        hasher.update(signature);
        hasher.update(message);
        let id: Hash = hasher.finalize().into();
        let mut cache = self.0.lock().expect("single-threaded per run");
        *cache.entry(id).or_insert_with(|| {
            key.verify_strict(message, &ed25519_dalek::Signature::from_bytes(signature))
                .is_ok()
        })
    }
}

/// A replica's disk: writes go to a volatile buffer until synced; a crash drops the buffer.
#[derive(Default)]
struct CrashStore {
    durable: BTreeMap<Vec<u8>, Vec<u8>>,
    /// Writes (`Some`) and deletions (`None`) in order.
    pending: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

impl CrashStore {
    fn write(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.pending.push((key, Some(value)));
    }

    fn delete(&mut self, key: Vec<u8>) {
        self.pending.push((key, None));
    }

    fn sync(&mut self) {
        for (key, value) in self.pending.drain(..) {
            match value {
                Some(value) => self.durable.insert(key, value),
                None => self.durable.remove(&key),
            };
        }
    }

    /// Drops unsynced writes; returns whether there were any.
    fn crash(&mut self) -> bool {
        let lost = !self.pending.is_empty();
        self.pending.clear();
        lost
    }
}

const EXECUTOR_KEY: &[u8] = b"executor";
/// The simulated executor syncs its store every this many heights.
const EXECUTOR_SYNC_EVERY: u64 = 3;

/// The simulated executor: a hash chain over decided blocks, in its own store, synced every
/// [`EXECUTOR_SYNC_EVERY`] heights like a state database checkpoint, so crashes often lose
/// executed heights that the core must re-announce.
#[derive(Default)]
struct HashChainExecutor {
    height: u64,
    root: Hash,
    store: CrashStore,
}

impl HashChainExecutor {
    /// Reloads what the store kept.
    fn reload(&mut self) -> Result<(), String> {
        (self.height, self.root) = (0, [0; 32]);
        if let Some(value) = self.store.durable.get(EXECUTOR_KEY) {
            self.height = u64::from_bytes(&value[..8]).map_err(|e| e.to_string())?;
            self.root = value[8..].try_into().map_err(|_| "bad executor record")?;
        }
        Ok(())
    }
}

impl Executor for HashChainExecutor {
    fn executed_height(&self) -> u64 {
        self.height
    }

    fn execute(&mut self, block: &DecidedBlock) -> BatchHeader {
        let prev_root = self.root;
        let mut hasher = Sha256::new();
        hasher.update(self.root);
        hasher.update(block.height.to_le_bytes());
        hasher.update(block.timestamp_ms.to_le_bytes());
        hasher.update(block.hash);
        self.root = hasher.finalize().into();
        self.height = block.height;
        let mut value = block.height.to_bytes();
        value.extend_from_slice(&self.root);
        self.store.write(EXECUTOR_KEY.to_vec(), value);
        if block.height.is_multiple_of(EXECUTOR_SYNC_EVERY) {
            self.store.sync();
        }
        // A header as the runtime makes one; this executor pays nothing out.
        BatchHeader {
            height: block.height,
            prev_root,
            state_root: self.root,
            transactions_root: block.hash,
            withdrawal_root: [0; 32],
            withdrawal_count: 0,
            withdrawal_total: 0,
            timestamp_ms: block.timestamp_ms,
        }
    }
}

struct Node {
    core: Option<Core>,
    store: CrashStore,
    executor: HashChainExecutor,
    timer: u64,
    crash_after_send: bool,
    lost_writes: bool,
    progress_after_gst: bool,
}

#[derive(Debug)]
enum Event {
    Deliver {
        to: ReplicaId,
        from: ReplicaId,
        bytes: Vec<u8>,
    },
    Timer {
        replica: ReplicaId,
        view: u64,
        generation: u64,
    },
    Wake {
        replica: ReplicaId,
        view: u64,
    },
    Fault(Fault),
    Stabilise,
    Submit(u64),
}

struct Sim<'a> {
    scenario: &'a Scenario,
    options: Options,
    rng: Rng,
    now: u64,
    sequence: u64,
    queue: BTreeMap<(u64, u64), Event>,
    nodes: Vec<Node>,
    /// The replicas that are not Byzantine, in id order.
    honest_ids: Vec<ReplicaId>,
    committee: Committee,
    verifier: CachedVerifier,
    adversary: Option<Adversary>,
    /// Findings so far, with their virtual time (at most [`FINDINGS_KEPT`]), and how many.
    findings: Vec<(u64, Broken)>,
    findings_count: usize,
    /// Global stabilisation time: the scenario's, or earlier once an attack has played out.
    gst_ms: u64,
    stabilised: bool,
    /// When the attack made its first move.
    attack_started_ms: Option<u64>,
    partition: Option<u64>,
    partitioned: bool,
    checker: Checker,
    coverage: Coverage,
    decided_at_gst: Option<u64>,
    recovery_ms: u64,
}

/// Runs one scenario to the end, or to the first broken invariant.
pub fn run(scenario: &Scenario, options: Options) -> Result<Report, Violation> {
    let keys: Vec<[u8; 32]> = (0..scenario.n).map(|i| key_of(i).public()).collect();
    let committee = Committee::new(&keys).expect("distinct valid simulation keys");
    let adversary = (!scenario.byzantine.is_empty()).then(|| {
        let members: BTreeMap<ReplicaId, (Behaviour, ConsensusKey)> = scenario
            .byzantine
            .iter()
            .map(|(replica, behaviour)| (*replica, (*behaviour, key_of(usize::from(*replica)))))
            .collect();
        let engine = scenario.attack.map(|attack| {
            let keys = members
                .iter()
                .map(|(replica, (_, key))| (*replica, key.clone()))
                .collect();
            let mut engine = Engine::new(attack, CHAIN_ID, committee.clone(), keys);
            engine.trace = options.trace;
            engine
        });
        Adversary::new(members, committee.clone(), CHAIN_ID, engine)
    });
    let mut sim = Sim {
        scenario,
        options,
        rng: Rng::new(scenario.seed, 1),
        now: 0,
        sequence: 0,
        queue: BTreeMap::new(),
        nodes: Vec::new(),
        honest_ids: (0..scenario.n as ReplicaId)
            .filter(|r| scenario.honest(*r))
            .collect(),
        committee,
        verifier: CachedVerifier::default(),
        adversary,
        findings: Vec::new(),
        findings_count: 0,
        gst_ms: scenario.gst_ms,
        stabilised: false,
        attack_started_ms: None,
        partition: None,
        partitioned: false,
        checker: Checker::default(),
        coverage: Coverage::default(),
        decided_at_gst: None,
        recovery_ms: 0,
    };
    let outcome = sim.run();
    if let Err(fatal) = outcome.as_ref() {
        sim.findings.push((sim.now, fatal.clone()));
        sim.findings_count += 1;
    }
    let worst = sim
        .findings
        .iter()
        .min_by_key(|(at, broken)| (broken.kind, *at))
        .cloned();
    match (outcome, worst) {
        (Ok(report), None) => Ok(report),
        (_, Some((at_ms, broken))) => Err(Violation {
            seed: scenario.seed,
            at_ms,
            kind: broken.kind,
            what: broken.what,
            findings: sim.findings_count,
            attack: scenario.attack,
        }),
        (Err(_), None) => unreachable!("a fatal finding is recorded"),
    }
}

impl Sim<'_> {
    fn schedule(&mut self, at: u64, event: Event) {
        self.sequence += 1;
        self.queue.insert((at, self.sequence), event);
    }

    fn config(&self, replica: ReplicaId) -> Config {
        let mut config = Config::new(CHAIN_ID, self.committee.clone(), replica);
        config.base_timeout_ms = self.scenario.base_timeout_ms;
        config.max_timeout_ms = self.scenario.max_timeout_ms;
        config.max_block_txs = 64;
        config.attest_every = 4;
        (self.options.configure)(config)
    }

    fn honest(&self, replica: ReplicaId) -> bool {
        self.scenario.honest(replica)
    }

    /// Records a finding that does not end the run; passes on one that does.
    fn note(&mut self, result: Result<(), Broken>) -> Result<(), Broken> {
        match result {
            Err(broken) if !broken.kind.ends_run() => {
                self.findings_count += 1;
                if self.findings.len() < FINDINGS_KEPT {
                    self.findings.push((self.now, broken));
                }
                Ok(())
            }
            other => other,
        }
    }

    fn run(&mut self) -> Result<Report, Broken> {
        for i in 0..self.scenario.n {
            self.nodes.push(Node {
                core: None,
                store: CrashStore::default(),
                executor: HashChainExecutor::default(),
                timer: 0,
                crash_after_send: false,
                lost_writes: false,
                progress_after_gst: false,
            });
            self.start(i as ReplicaId)?;
        }
        for (at, fault) in self.scenario.faults.clone() {
            self.schedule(at, Event::Fault(fault));
        }
        self.schedule(self.gst_ms, Event::Stabilise);
        self.schedule(self.scenario.tx_interval_ms, Event::Submit(0));
        while let Some(((at, _), event)) = self.queue.pop_first() {
            self.now = at;
            if self.options.trace {
                eprintln!("{at:>6} {}", describe_event(&event));
            }
            self.handle(event)?;
            self.pace_attack();
            if let Some((first, _)) = self.findings.first()
                && at > first + FINDINGS_GRACE_MS
            {
                // Broken already; what follows is recorded up to here.
                break;
            }
            if at >= self.gst_ms && self.stabilised {
                self.check_liveness()?;
                if self.finished() {
                    break;
                }
                if at > self.gst_ms + RUN_LIMIT_AFTER_GST_MS {
                    return Err(Broken::new(
                        Kind::Liveness,
                        format!(
                            "only {} views {} ms after GST (need {MIN_VIEWS})",
                            self.min_view(),
                            RUN_LIMIT_AFTER_GST_MS
                        ),
                    ));
                }
            }
        }
        if let Some(adversary) = &self.adversary {
            self.coverage.equivocation = adversary.equivocated;
            self.coverage.attack = adversary
                .engine
                .as_ref()
                .zip(self.scenario.attack)
                .map(|(engine, attack)| (attack.plan, engine.reached));
        }
        self.coverage.coalition = self.scenario.byzantine.len() > 1;
        Ok(Report {
            seed: self.scenario.seed,
            views: self.min_view(),
            decided: self.checker.max_decided(),
            anchors: self.checker.anchors(),
            virtual_ms: self.now,
            recovery_ms: self.recovery_ms,
            coverage: self.coverage,
        })
    }

    fn min_view(&self) -> u64 {
        self.honest_ids
            .iter()
            .filter_map(|r| self.nodes[usize::from(*r)].core.as_ref())
            .map(|core| core.status().view)
            .min()
            .unwrap_or(0)
    }

    fn finished(&self) -> bool {
        self.now >= self.gst_ms + RUN_MIN_AFTER_GST_MS
            && self.min_view() >= MIN_VIEWS
            && self
                .honest_ids
                .iter()
                .all(|r| self.nodes[usize::from(*r)].progress_after_gst)
    }

    fn check_liveness(&mut self) -> Result<(), Broken> {
        let Some(base) = self.decided_at_gst else {
            return Ok(());
        };
        for i in 0..self.honest_ids.len() {
            let replica = self.honest_ids[i];
            if self.checker.decided_height(replica) > base {
                if !self.nodes[usize::from(replica)].progress_after_gst {
                    self.nodes[usize::from(replica)].progress_after_gst = true;
                    self.recovery_ms = self.recovery_ms.max(self.now - self.gst_ms);
                }
            } else if self.now > self.gst_ms + LIVENESS_MS {
                return Err(Broken::new(
                    Kind::Liveness,
                    format!(
                        "honest replica {replica} decided nothing new (height {}) within \
                         {LIVENESS_MS} ms after GST",
                        self.checker.decided_height(replica)
                    ),
                ));
            }
        }
        Ok(())
    }

    fn handle(&mut self, event: Event) -> Result<(), Broken> {
        match event {
            Event::Deliver { to, from, bytes } => {
                if self.nodes[usize::from(to)].core.is_none() {
                    return Ok(());
                }
                // Undecodable bytes are dropped by the transport layer, as a node would.
                if let Ok(message) = Message::from_wire(CHAIN_ID, &bytes) {
                    self.step(to, Input::Message { from, message })?;
                }
            }
            Event::Timer {
                replica,
                view,
                generation,
            } => {
                if self.nodes[usize::from(replica)].timer == generation {
                    self.step(replica, Input::TimerFired { view })?;
                }
            }
            Event::Wake { replica, view } => self.step(replica, Input::Wake { view })?,
            Event::Fault(fault) => self.fault(fault)?,
            Event::Stabilise => {
                // GST may have been brought forward; the superseded event is ignored.
                if self.stabilised || self.now != self.gst_ms {
                    return Ok(());
                }
                self.stabilised = true;
                self.partition = None;
                for replica in 0..self.scenario.n as ReplicaId {
                    self.nodes[usize::from(replica)].crash_after_send = false;
                    if self.nodes[usize::from(replica)].core.is_none() {
                        self.start(replica)?;
                    }
                }
                // The network becomes synchronous: whatever the adversary held arrives.
                let held = self
                    .engine_mut()
                    .map(Engine::release_all)
                    .unwrap_or_default();
                self.send_all(held);
                self.decided_at_gst = Some(self.checker.max_decided());
            }
            Event::Submit(k) => {
                let mut tx = self.scenario.seed.to_le_bytes().to_vec();
                tx.extend_from_slice(&k.to_le_bytes());
                for i in 0..self.honest_ids.len() {
                    self.step(self.honest_ids[i], Input::Submit(tx.clone()))?;
                }
                let next = self.now + self.scenario.tx_interval_ms;
                self.schedule(next, Event::Submit(k + 1));
            }
        }
        Ok(())
    }

    fn fault(&mut self, fault: Fault) -> Result<(), Broken> {
        self.coverage.faults += 1;
        match fault {
            Fault::Crash(replica) => self.crash(replica),
            Fault::CrashAfterSend(replica) => {
                if self.nodes[usize::from(replica)].core.is_some() {
                    self.nodes[usize::from(replica)].crash_after_send = true;
                }
            }
            Fault::Restart(replica) => {
                let node = &mut self.nodes[usize::from(replica)];
                node.crash_after_send = false;
                if node.core.is_none() {
                    self.start(replica)?;
                    let handed = self
                        .engine_mut()
                        .map(|engine| engine.on_restart(replica))
                        .unwrap_or_default();
                    self.send_all(handed);
                }
            }
            Fault::Partition(mask) => {
                self.partition = Some(mask);
                self.partitioned = true;
            }
            Fault::Heal => {
                self.partition = None;
                if self.partitioned {
                    self.coverage.partition_heal = true;
                }
            }
        }
        Ok(())
    }

    fn crash(&mut self, replica: ReplicaId) {
        let node = &mut self.nodes[usize::from(replica)];
        if node.core.take().is_some() {
            node.crash_after_send = false;
            node.lost_writes |= node.store.crash();
            node.lost_writes |= node.executor.store.crash();
            // Volatile executor state goes too; the stored one is reloaded on restart.
            node.timer += 1;
        }
    }

    /// Boots (or reboots) a replica from what its store kept.
    fn start(&mut self, replica: ReplicaId) -> Result<(), Broken> {
        let config = self.config(replica);
        let node = &mut self.nodes[usize::from(replica)];
        let restart_failed =
            |what: String| Broken::new(Kind::Restart, format!("replica {replica}: {what}"));
        let mut records = Vec::new();
        node.executor.reload().map_err(restart_failed)?;
        for value in node.store.durable.values() {
            records.push(
                Record::from_bytes(value)
                    .map_err(|e| restart_failed(format!("stored record: {e}")))?,
            );
        }
        if node.lost_writes {
            self.coverage.lost_writes = true;
            node.lost_writes = false;
        }
        let executed = node.executor.executed_height();
        let (core, actions) = Core::restore(
            config,
            key_of(usize::from(replica)),
            Box::new(self.verifier.clone()),
            records,
            executed,
            self.now,
        )
        .map_err(|e| restart_failed(format!("cannot restart: {e}")))?;
        self.nodes[usize::from(replica)].core = Some(core);
        let mut inputs = VecDeque::new();
        self.perform(replica, actions, &mut inputs)?;
        self.drain(replica, inputs)
    }

    fn step(&mut self, replica: ReplicaId, input: Input) -> Result<(), Broken> {
        self.drain(replica, VecDeque::from([input]))
    }

    fn drain(&mut self, replica: ReplicaId, mut inputs: VecDeque<Input>) -> Result<(), Broken> {
        while let Some(input) = inputs.pop_front() {
            let Some(core) = self.nodes[usize::from(replica)].core.as_mut() else {
                return Ok(());
            };
            let actions = core.step(self.now, input);
            self.perform(replica, actions, &mut inputs)?;
        }
        Ok(())
    }

    fn perform(
        &mut self,
        replica: ReplicaId,
        actions: Vec<Action>,
        inputs: &mut VecDeque<Input>,
    ) -> Result<(), Broken> {
        let honest = self.honest(replica);
        for action in actions {
            if self.nodes[usize::from(replica)].core.is_none() {
                // Crashed part-way: the rest never happens.
                return Ok(());
            }
            match action {
                Action::Persist { records, sync } => {
                    let store = &mut self.nodes[usize::from(replica)].store;
                    for record in records {
                        store.write(record.key(), record.to_bytes());
                    }
                    if sync {
                        store.sync();
                    }
                }
                Action::Send { to, message } => self.transmit(replica, &[to], message)?,
                Action::Broadcast(message) => {
                    let others: Vec<ReplicaId> = (0..self.scenario.n as ReplicaId)
                        .filter(|to| *to != replica)
                        .collect();
                    self.transmit(replica, &others, message)?;
                }
                Action::SetTimer { view, after_ms } => {
                    let node = &mut self.nodes[usize::from(replica)];
                    node.timer += 1;
                    let generation = node.timer;
                    self.schedule(
                        self.now + after_ms,
                        Event::Timer {
                            replica,
                            view,
                            generation,
                        },
                    );
                }
                Action::Wake { view, after_ms } => {
                    self.schedule(self.now + after_ms, Event::Wake { replica, view });
                }
                Action::Decided(blocks) => {
                    if self.options.trace {
                        let list: Vec<String> = blocks
                            .iter()
                            .map(|b| format!("{}@{}", short(&b.hash), b.height))
                            .collect();
                        eprintln!(
                            "{:>6}   replica {replica} decided {}",
                            self.now,
                            list.join(" ")
                        );
                    }
                    if honest {
                        let result = self.checker.decided(replica, &blocks);
                        self.note(result)?;
                    }
                    let executor = &mut self.nodes[usize::from(replica)].executor;
                    inputs.extend(execute_decided(executor, &blocks));
                }
                Action::Prune { base, forget } => {
                    let store = &mut self.nodes[usize::from(replica)].store;
                    store.write(base.key(), base.to_bytes());
                    for key in forget {
                        store.delete(key);
                    }
                }
                Action::Anchored(certificate) => {
                    if honest {
                        let result = self.checker.anchored(replica, &certificate);
                        self.note(result)?;
                    }
                }
                Action::Alarm(
                    alarm @ (Alarm::ConflictingCertificates { .. }
                    | Alarm::ConflictingDecide { .. }),
                ) if honest => {
                    let what = format!("honest replica {replica} raised {alarm:?}");
                    self.note(Err(Broken::new(Kind::Alarm, what)))?;
                }
                Action::Alarm(_) => {}
            }
        }
        Ok(())
    }

    /// The adversary chooses GST (partial synchrony lets it): once its plan has made its last
    /// move, or given up, the network stabilises [`ATTACK_GRACE_MS`] later rather than at the
    /// scenario's bound, so a seed does not spend seconds of quiet network on nothing. A plan
    /// that has not finished within [`ATTACK_BUDGET_MS`] of its first move (or that never
    /// started by then) gives up.
    fn pace_attack(&mut self) {
        let now = self.now;
        let deadline = match self.attack_started_ms {
            Some(at) => at + ATTACK_BUDGET_MS,
            None => ATTACK_BUDGET_MS,
        };
        let Some(engine) = self.engine_mut() else {
            return;
        };
        let started = engine.stage != Stage::Waiting;
        let released = if !engine.finished() && now > deadline {
            engine.give_up()
        } else {
            Vec::new()
        };
        let finished = engine.finished();
        if started && self.attack_started_ms.is_none() {
            self.attack_started_ms = Some(now);
            self.coverage.faults += 1;
        }
        self.send_all(released);
        if finished && !self.stabilised && self.gst_ms > now + ATTACK_GRACE_MS {
            self.gst_ms = now + ATTACK_GRACE_MS;
            self.schedule(self.gst_ms, Event::Stabilise);
        }
    }

    fn engine_mut(&mut self) -> Option<&mut Engine> {
        self.adversary.as_mut().and_then(|a| a.engine.as_mut())
    }

    /// Puts messages the adversary crafted or released on the wire.
    fn send_all(&mut self, sends: Vec<Send>) {
        for send in sends {
            let bytes = send.message.to_wire(CHAIN_ID);
            self.network(send.from, send.to, bytes, 0);
        }
    }

    /// Sends `message` to each of `recipients` in turn: an honest sender's message is checked and
    /// encoded once (and, in an attack, shown to the adversary, which may hold it from some
    /// recipients); a Byzantine sender's is rewritten per recipient. A replica set to crash after
    /// its next send stops after the first recipient.
    fn transmit(
        &mut self,
        from: ReplicaId,
        recipients: &[ReplicaId],
        message: Message,
    ) -> Result<(), Broken> {
        let honest = self.honest(from);
        if honest {
            let result = self.checker.sent(from, &message, CHAIN_ID);
            self.note(result)?;
            let uses_tc = match &message {
                Message::Proposal(p) => p.timeout_cert.is_some(),
                Message::Timeout(t) => t.last_tc.is_some(),
                _ => false,
            };
            self.coverage.timeout_cert |= uses_tc;
        }
        let reaction = self
            .engine_mut()
            .map(|engine| engine.react(from, &message))
            .unwrap_or_default();
        let bytes = message.to_wire(CHAIN_ID);
        for &to in recipients {
            if honest {
                // After GST the network delivers everything an honest replica sends.
                let stabilised = self.stabilised;
                match self.engine_mut() {
                    Some(engine) if !stabilised && engine.holds(to, &message) => {
                        engine.hold(Send {
                            from,
                            to,
                            message: message.clone(),
                        })
                    }
                    _ => self.network(from, to, bytes.clone(), 0),
                }
            } else if let Some(mut adversary) = self.adversary.take() {
                for t in adversary.rewrite(from, to, message.clone(), &mut self.rng) {
                    self.network(t.from, t.to, t.bytes, t.extra_delay_ms);
                }
                self.adversary = Some(adversary);
            }
            if self.nodes[usize::from(from)].crash_after_send {
                self.crash(from);
                break;
            }
        }
        self.send_all(reaction.sends);
        if let Some((replica, restart_after_ms)) = reaction.crash {
            self.coverage.faults += 1;
            self.crash(replica);
            self.schedule(
                self.now + restart_after_ms,
                Event::Fault(Fault::Restart(replica)),
            );
        }
        Ok(())
    }

    fn network(&mut self, from: ReplicaId, to: ReplicaId, bytes: Vec<u8>, extra_delay_ms: u64) {
        if from == to {
            return;
        }
        let stable = self.stabilised;
        if !stable {
            if let Some(mask) = self.partition
                && (mask >> from) & 1 != (mask >> to) & 1
            {
                return;
            }
            if self.rng.chance(self.scenario.drop_per_mille) {
                return;
            }
        }
        let (low, high) = if stable {
            (1, self.scenario.stable_delay_ms)
        } else {
            self.scenario.delay_ms
        };
        let delay = self.rng.range(low, high) + extra_delay_ms;
        if !stable && self.rng.chance(self.scenario.duplicate_per_mille) {
            let again = self.rng.range(low, high * 4);
            self.schedule(
                self.now + again,
                Event::Deliver {
                    to,
                    from,
                    bytes: bytes.clone(),
                },
            );
        }
        self.schedule(self.now + delay, Event::Deliver { to, from, bytes });
    }
}

fn short(hash: &Hash) -> String {
    hash.iter().take(3).map(|b| format!("{b:02x}")).collect()
}

/// One line per message, for traces: kind, view, blocks by short hash, certificates by view.
fn describe(message: &Message) -> String {
    let qc = |qc: &curve_consensus::QuorumCert| format!("qc{}:{}", qc.view, short(&qc.block));
    match message {
        Message::Proposal(p) => format!(
            "proposal v{} h{} {} parent {} justify {}{}",
            p.block.view,
            p.block.height,
            short(&p.block.hash(CHAIN_ID)),
            short(&p.block.parent),
            qc(&p.justify),
            p.timeout_cert.as_ref().map_or(String::new(), |tc| format!(
                " tc{} (max {})",
                tc.view,
                tc.max_high_qc_view()
            )),
        ),
        Message::Vote(v) => format!("vote v{} {} by {}", v.view, short(&v.block), v.replica),
        Message::Timeout(t) => format!("timeout v{} {} by {}", t.view, qc(&t.high_qc), t.replica),
        Message::FetchRequest(h) => format!("fetch {}", short(h)),
        Message::FetchResponse(b) => format!(
            "fetched v{} h{} {}",
            b.block.view,
            b.block.height,
            short(&b.block.hash(CHAIN_ID))
        ),
        Message::Attestation(a) => format!("attestation of h{} by {}", a.header.height, a.replica),
    }
}

fn describe_event(event: &Event) -> String {
    match event {
        Event::Deliver { to, from, bytes } => match Message::from_wire(CHAIN_ID, bytes) {
            Ok(message) => format!("{from} -> {to}: {}", describe(&message)),
            Err(_) => format!("{from} -> {to}: {} undecodable bytes", bytes.len()),
        },
        other => format!("{other:?}"),
    }
}

/// The outcome of many seeds.
#[derive(Debug, Default)]
pub struct Sweep {
    /// Seeds run to completion.
    pub passed: u64,
    /// Broken invariants (at most one per seed), lowest seed first.
    pub violations: Vec<Violation>,
    /// Seeds that formed a TC.
    pub timeout_cert: u64,
    /// Seeds with a crash that lost unsynced writes.
    pub lost_writes: u64,
    /// Seeds where a Byzantine leader equivocated.
    pub equivocation: u64,
    /// Seeds with more than one Byzantine replica.
    pub coalition: u64,
    /// Per plan: seeds that ran it, reached its dangerous state, and struck.
    pub attacks: BTreeMap<Plan, [u64; 3]>,
    /// Seeds with a partition that healed.
    pub partition_heal: u64,
    /// The fewest views any passing seed ran.
    pub min_views: u64,
    /// The fewest fault events any passing seed had.
    pub min_faults: u32,
    /// Anchor certificates formed across all seeds.
    pub anchors: u64,
    /// The longest recovery after GST (see [`Report::recovery_ms`]) and its seed.
    pub max_recovery: (u64, u64),
}

impl Sweep {
    /// Seeds run (passed or failed).
    pub fn seeds(&self) -> u64 {
        self.passed + self.violations.len() as u64
    }

    fn add(&mut self, report: &Report) {
        self.min_views = if self.passed == 0 {
            report.views
        } else {
            self.min_views.min(report.views)
        };
        self.min_faults = if self.passed == 0 {
            report.coverage.faults
        } else {
            self.min_faults.min(report.coverage.faults)
        };
        self.passed += 1;
        let c = report.coverage;
        self.timeout_cert += u64::from(c.timeout_cert);
        self.lost_writes += u64::from(c.lost_writes);
        self.equivocation += u64::from(c.equivocation);
        self.coalition += u64::from(c.coalition);
        if let Some((plan, stage)) = c.attack {
            let counts = self.attacks.entry(plan).or_default();
            counts[0] += 1;
            counts[1] += u64::from(stage >= Stage::Dangerous);
            counts[2] += u64::from(stage >= Stage::Struck);
        }
        self.partition_heal += u64::from(c.partition_heal);
        self.anchors += report.anchors as u64;
        if report.recovery_ms > self.max_recovery.0 {
            self.max_recovery = (report.recovery_ms, report.seed);
        }
    }

    /// `part` as a percentage of the seeds that passed.
    pub fn percent(&self, part: u64) -> u64 {
        (part * 100).checked_div(self.passed).unwrap_or(0)
    }
}

impl fmt::Display for Sweep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} seeds, {} passed, {} violations; coverage: TC {}%, crash with lost writes {}%, \
             equivocating leader {}%, partition then heal {}%, coalition of 2+ {}%; min views {}, \
             min faults {}, {} anchor certificates; slowest recovery after GST {} ms (seed {})",
            self.seeds(),
            self.passed,
            self.violations.len(),
            self.percent(self.timeout_cert),
            self.percent(self.lost_writes),
            self.percent(self.equivocation),
            self.percent(self.partition_heal),
            self.percent(self.coalition),
            self.min_views,
            self.min_faults,
            self.anchors,
            self.max_recovery.0,
            self.max_recovery.1,
        )?;
        for (plan, [ran, dangerous, struck]) in &self.attacks {
            write!(
                f,
                "; {plan:?}: {ran} seeds, {dangerous} reached the dangerous state, {struck} struck"
            )?;
        }
        Ok(())
    }
}

/// Which violation stops a sweep.
pub type StopWhen = fn(&Violation) -> bool;

/// Runs seeds `start..start + count` on `threads` threads. With `stop_when`, stops handing out
/// seeds after the first violation it accepts; every seed below it still runs, so the lowest such
/// seed is the same on every machine.
pub fn sweep(
    start: u64,
    count: u64,
    threads: usize,
    options: Options,
    stop_when: Option<StopWhen>,
) -> Sweep {
    let next = AtomicU64::new(start);
    let stop = AtomicBool::new(false);
    let results = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| {
                loop {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let seed = next.fetch_add(1, Ordering::SeqCst);
                    if seed >= start + count {
                        break;
                    }
                    let outcome = run(&Scenario::generate(seed), options);
                    if let (Err(violation), Some(stop_when)) = (&outcome, stop_when)
                        && stop_when(violation)
                    {
                        stop.store(true, Ordering::SeqCst);
                    }
                    results.lock().expect("no panics while held").push(outcome);
                }
            });
        }
    });
    let mut results = results.into_inner().expect("threads joined");
    results.sort_by_key(|r| match r {
        Ok(report) => report.seed,
        Err(violation) => violation.seed,
    });
    let mut sweep = Sweep::default();
    for outcome in results {
        match outcome {
            Ok(report) => sweep.add(&report),
            Err(violation) => sweep.violations.push(violation),
        }
    }
    sweep
}
