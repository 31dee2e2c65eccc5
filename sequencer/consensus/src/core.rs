//! The state machine: `step(input) -> actions`, nothing else.

use crate::committee::{Committee, ConsensusKey, Verifier};
use crate::record::{Record, SafetyState};
use crate::types::{
    AnchorCertificate, Block, CertifiedBlock, Hash, Message, Proposal, QuorumCert, ReplicaId,
    Signature, SignedAttestation, Timeout, TimeoutCert, TimeoutShare, View, Vote,
    attestation_message, proposal_message, timeout_message, tx_digest, vote_message,
};
use curve_formats::batch::BatchHeader;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// How far ahead of its current view a replica keeps uncertified timeouts and votes. Anything
/// further must come with a QC or TC that moves the replica forward first, so a spammer cannot
/// make it store unbounded future state.
pub const FUTURE_VIEWS: View = 256;
/// Views and heights at or above this are refused on arrival: no chain gets there (2^62 views
/// at a million per second is 146,000 years), and below it `view + 2` cannot overflow.
pub const VIEW_LIMIT: u64 = 1 << 62;
/// Proposals held while their ancestors are fetched.
pub const WAITING_MAX: usize = 256;
/// Fetched blocks held while their own ancestors are fetched.
pub const ORPHANS_MAX: usize = 4_096;
/// Attested heights kept ahead of the replica's own decided height (in units of `attest_every`).
pub const ATTESTATION_RANGES_AHEAD: u64 = 64;
/// How many of the last decided heights' transaction digests a replica remembers, refusing
/// those transactions if they are submitted again: a peer's forward or a client's retry that
/// arrives after its block was decided would otherwise be proposed a second time (and refused
/// by the executor, wasting the slot and confusing receipts). Older replays are the
/// executor's to refuse (a spent nonce).
pub const RECENTLY_DECIDED_HEIGHTS: u64 = 64;

/// A planted bug for testing the simulator's teeth. Only [`Mutation::None`] is reachable unless
/// the `planted-mutations` feature is on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mutation {
    /// The protocol as specified.
    #[default]
    None,
    /// Send votes, timeouts and proposals before their safety record is durable.
    SkipPersistBarrier,
    /// Accept certificates of 2f signatures instead of a quorum.
    QuorumOf2f,
    /// Decide a block whose certified child is from any later view, not only the next one
    /// (the 2-chain rule without its consecutive-view check).
    DecideWithoutConsecutiveViews,
    /// Vote for a proposal justified by a TC whatever QC the TC reports (Jolteon's lock
    /// ignored).
    VoteIgnoresTcHighQc,
    /// Restart without the stored last voted view, so a replica may vote again in a view it
    /// voted in before a crash.
    RestartForgetsLastVotedView,
}

/// Static configuration of one replica.
#[derive(Clone, Debug)]
pub struct Config {
    /// The chain every signature is bound to.
    pub chain_id: u64,
    /// The replicas and their keys.
    pub committee: Committee,
    /// This replica's index.
    pub me: ReplicaId,
    /// First view timeout; kept for the first failed view, then doubled after each further
    /// consecutive failed view.
    pub base_timeout_ms: u64,
    /// Back-off ceiling.
    pub max_timeout_ms: u64,
    /// Most transactions a proposal may carry (larger proposals are ignored).
    pub max_block_txs: usize,
    /// Most payload bytes a proposal may carry (larger proposals are ignored).
    pub max_block_bytes: usize,
    /// Most gas a leader packs into a proposal, each transaction weighed by [`Config::gas_of`]
    /// when it is submitted. Not a validity rule (a proposal over it is still voted for: the
    /// executor refuses what does not fit), only how a leader fills its blocks — so that a
    /// transaction is not refused for gas a later block had.
    pub max_block_gas: u64,
    /// A transaction's gas, as the executor will reserve it (0 for opaque payloads).
    pub gas_of: fn(&[u8]) -> u64,
    /// Largest transaction the mempool accepts.
    pub max_tx_bytes: usize,
    /// Mempool capacity in transactions.
    pub mempool_max: usize,
    /// Attest the executed batch header every this many decided heights (1 for a chain anchored
    /// on Solana, whose `post_batch` takes every height in turn).
    pub attest_every: u64,
    /// How far ahead of this replica's clock a proposal's timestamp may be for it to vote.
    pub max_clock_drift_ms: u64,
    /// How long a leader with nothing to propose waits (for a transaction) before proposing
    /// an empty block, when the blocks its proposal would help decide are empty too: an idle
    /// chain then makes a few blocks a second instead of as many as the network allows.
    /// 0 proposes at once (the protocol as specified; the simulator's setting). Keep it well
    /// under `base_timeout_ms`, or replicas time out an idle leader.
    pub idle_block_delay_ms: u64,
    /// How long after entering its view a leader waits for its block to fill before
    /// proposing one that is not full (0: at once): under light load, fewer and fuller blocks,
    /// so the per-view cost (signatures, synced writes) is paid per many transactions.
    pub block_interval_ms: u64,
    mutation: Mutation,
}

impl Config {
    /// Defaults for a replica `me` of `committee`: 1 s base timeout up to 60 s, blocks up to
    /// 4,096 transactions and 4 MiB, an attestation of every height's header.
    pub fn new(chain_id: u64, committee: Committee, me: ReplicaId) -> Config {
        Config {
            chain_id,
            committee,
            me,
            base_timeout_ms: 1_000,
            max_timeout_ms: 60_000,
            max_block_txs: 4_096,
            max_block_bytes: 4 << 20,
            max_block_gas: u64::MAX,
            gas_of: |_| 0,
            max_tx_bytes: 64 << 10,
            mempool_max: 100_000,
            attest_every: 1,
            max_clock_drift_ms: 2_000,
            idle_block_delay_ms: 0,
            block_interval_ms: 0,
            mutation: Mutation::None,
        }
    }

    /// Plants a bug (simulator tests only).
    #[cfg(feature = "planted-mutations")]
    pub fn with_mutation(mut self, mutation: Mutation) -> Config {
        self.mutation = mutation;
        self
    }

    /// The planted bug, if any.
    pub fn mutation(&self) -> Mutation {
        self.mutation
    }
}

/// Something that happened to the replica.
// Inputs are moved into `step` once; boxing the message would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// A decoded message from the transport (`from` is the authenticated peer; every statement
    /// inside is checked against its own signature anyway).
    Message {
        /// The peer it came from.
        from: ReplicaId,
        /// The message.
        message: Message,
    },
    /// The timer set by the last [`Action::SetTimer`] fired.
    TimerFired {
        /// The view it was set for.
        view: View,
    },
    /// A transaction for the mempool (already checked by the node's ingress).
    Submit(Vec<u8>),
    /// The wake-up set by the last [`Action::Wake`] is due.
    Wake {
        /// The view it was set in.
        view: View,
    },
    /// The executor applied a decided height; `header` is the batch header it produced (the
    /// runtime's `BatchHeader`, which the replica attests every `attest_every` heights).
    Executed {
        /// The header of the executed batch.
        header: BatchHeader,
    },
}

/// What the driver must do, in order. A `Persist` with `sync` is a barrier: nothing after it may
/// happen before it is durable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Store records (see [`crate::record`]).
    Persist {
        /// The records, written atomically in order.
        records: Vec<Record>,
        /// Durable before the next action runs.
        sync: bool,
    },
    /// Send to one replica.
    Send {
        /// The recipient.
        to: ReplicaId,
        /// The message.
        message: Message,
    },
    /// Send to every other replica.
    Broadcast(Message),
    /// Replace the replica's one timer: fire [`Input::TimerFired`] after `after_ms`.
    SetTimer {
        /// The view it guards.
        view: View,
        /// Delay in milliseconds.
        after_ms: u64,
    },
    /// Feed [`Input::Wake`] after `after_ms` (an idle leader's wait, see
    /// [`Config::idle_block_delay_ms`]); a later `Wake` replaces it.
    Wake {
        /// The view it belongs to.
        view: View,
        /// Delay in milliseconds.
        after_ms: u64,
    },
    /// Newly decided blocks, in height order, to execute.
    Decided(Vec<DecidedBlock>),
    /// A quorum attested the same state root for a range of heights.
    Anchored(AnchorCertificate),
    /// Evidence of a fault, for operators and metrics; the core has already handled it.
    Alarm(Alarm),
    /// Store `base` (a [`Record::Base`]) and delete the records under `forget`, in one atomic
    /// write (need not be synced: a lost prune only keeps more blocks).
    Prune {
        /// The new base record.
        base: Record,
        /// Keys of the block records below it (and of dead forks).
        forget: Vec<Vec<u8>>,
    },
}

/// A decided block handed to the executor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecidedBlock {
    /// Its height.
    pub height: u64,
    /// Its hash.
    pub hash: Hash,
    /// The view it was proposed in.
    pub view: View,
    /// Its timestamp (the rollup's clock for this batch).
    pub timestamp_ms: u64,
    /// Its transactions.
    pub payload: Vec<Vec<u8>>,
}

/// Evidence of misbehaviour or of more than f faults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Alarm {
    /// A leader signed two proposals for one view.
    Equivocation {
        /// The leader.
        replica: ReplicaId,
        /// The view.
        view: View,
    },
    /// A replica signed votes for two blocks in one view.
    DoubleVote {
        /// The voter.
        replica: ReplicaId,
        /// The view.
        view: View,
    },
    /// Two valid QCs for different blocks in one view: more than f replicas are faulty.
    ConflictingCertificates {
        /// The view.
        view: View,
    },
    /// A block certified for decision does not extend what this replica already decided: more
    /// than f replicas are faulty. Nothing is decided.
    ConflictingDecide {
        /// The height where the chains differ.
        height: u64,
    },
    /// A quorum attested a header that this replica's executor did not produce.
    ExecutionDivergence {
        /// The height.
        height: u64,
        /// This replica's header.
        ours: Box<BatchHeader>,
        /// The header the quorum signed.
        certified: Box<BatchHeader>,
    },
}

/// Why stored records cannot be restored.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RestoreError {
    /// The key does not belong to the configured replica.
    #[error("the signing key is not committee member {me}'s key")]
    WrongKey {
        /// The configured replica.
        me: ReplicaId,
    },
    /// A stored block whose parent is not stored: the store lost writes out of order.
    #[error("stored block at height {height} has no stored parent")]
    Disconnected {
        /// The block's height.
        height: u64,
    },
    /// The decided tip is not a stored block.
    #[error("the decided block at height {height} is not stored")]
    MissingDecided {
        /// Its height.
        height: u64,
    },
    /// The decided block is below the base: the store is corrupt.
    #[error("the decided height {decided} is below the base height {base}")]
    DecidedBelowBase {
        /// The stored decided height.
        decided: u64,
        /// The stored base height.
        base: u64,
    },
    /// The executor is below the base: its state predates the blocks kept.
    #[error(
        "executed height {executed} is below the base height {base}: the blocks to replay were pruned"
    )]
    ExecutedBelowBase {
        /// The executor's height.
        executed: u64,
        /// The stored base height.
        base: u64,
    },
    /// The executor is past the decided height: the driver persisted out of order.
    #[error("executed height {executed} is above the decided height {decided}")]
    ExecutedAhead {
        /// The executor's height.
        executed: u64,
        /// The stored decided height.
        decided: u64,
    },
}

/// A snapshot for metrics and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status {
    /// Current view.
    pub view: View,
    /// View of the highest QC.
    pub high_qc_view: View,
    /// Highest decided height.
    pub decided_height: u64,
    /// The block decided at that height (genesis before any).
    pub decided_block: Hash,
    /// Highest view voted or timed out in.
    pub last_voted_view: View,
    /// Last height covered by an anchor certificate.
    pub anchored_height: u64,
    /// Height of the oldest block kept (0: genesis, nothing pruned).
    pub base_height: u64,
    /// Consecutive failed views (the back-off exponent).
    pub consecutive_failures: u32,
    /// Transactions waiting.
    pub mempool: usize,
}

/// Transactions waiting for a proposal, in arrival order, deduplicated by hash; each with its
/// gas. Those of the last [`RECENTLY_DECIDED_HEIGHTS`] decided heights are refused.
#[derive(Default)]
struct Mempool {
    by_seq: BTreeMap<u64, (Hash, Vec<u8>, u64)>,
    by_hash: BTreeMap<Hash, u64>,
    next: u64,
    /// Recently decided transactions' digests, each with the last height it was decided at
    /// (a faulty leader may repeat one), and each of those heights' digests, oldest first.
    decided: BTreeMap<Hash, u64>,
    decided_heights: VecDeque<(u64, Vec<Hash>)>,
}

/// A stored block and its transactions' digests, computed with its hash when it arrived (the
/// proposal path and the decision read them; a full block is megabytes).
struct Stored {
    certified: CertifiedBlock,
    digests: Vec<Hash>,
}

impl Stored {
    /// `block`, whose transactions' digests are `digests`.
    fn new(certified: CertifiedBlock, digests: Vec<Hash>) -> Stored {
        Stored { certified, digests }
    }
}

impl std::ops::Deref for Stored {
    type Target = CertifiedBlock;

    fn deref(&self) -> &CertifiedBlock {
        &self.certified
    }
}

/// One attested header and the replicas that signed it, in replica order.
type HeaderSigners = (BatchHeader, BTreeMap<ReplicaId, Signature>);

/// One replica's consensus state machine.
pub struct Core {
    config: Config,
    key: ConsensusKey,
    verifier: Box<dyn Verifier>,
    genesis: Hash,
    /// Height of the oldest block kept: genesis, or a decided block older ones were pruned
    /// below.
    base_height: u64,
    view: View,
    safety: SafetyState,
    consecutive_failures: u32,
    /// Blocks whose every ancestor is here too.
    blocks: BTreeMap<Hash, Stored>,
    /// Fetched blocks waiting for their parent, by parent hash.
    orphans: BTreeMap<Hash, Vec<CertifiedBlock>>,
    /// Proposals waiting for an ancestor, by the missing hash.
    waiting: BTreeMap<Hash, Vec<Proposal>>,
    /// Outstanding fetches and the peer last asked.
    fetching: BTreeMap<Hash, ReplicaId>,
    /// The certified block of each recent view (one per view unless > f are faulty).
    certified: BTreeMap<View, Hash>,
    /// The first proposal seen per recent view.
    proposals_seen: BTreeMap<View, Hash>,
    /// Votes collected as the next leader.
    votes: BTreeMap<(View, Hash), BTreeMap<ReplicaId, Signature>>,
    /// Which block each replica voted for in recent views.
    voted_by: BTreeMap<(View, ReplicaId), Hash>,
    /// Timeouts per view: the share and the QC it reported.
    timeouts: BTreeMap<View, BTreeMap<ReplicaId, (TimeoutShare, QuorumCert)>>,
    /// This replica's timeout for the current view, once sent.
    my_timeout: Option<Timeout>,
    decided_height: u64,
    decided_block: Hash,
    decided_view: View,
    mempool: Mempool,
    /// Attestations by height, then the digest of the signed header bytes (with the header),
    /// then replica.
    attestations: BTreeMap<u64, BTreeMap<Hash, HeaderSigners>>,
    /// Headers this replica's executor produced, by height.
    my_headers: BTreeMap<u64, BatchHeader>,
    anchored: Option<(u64, BatchHeader)>,
    /// The driver's clock at the last step (only stamps and bounds proposal timestamps).
    now_ms: u64,
    out: Vec<Action>,
    /// Messages this replica sent itself, handled before `step` returns.
    inbox: VecDeque<Message>,
    /// A proposal this leader is holding back: its view, when it is due, whether the
    /// wake-up has come.
    held: Option<Held>,
    /// The proposal this leader just signed (view, hash, digests), until the inbox delivers it
    /// back.
    own_proposal: Option<(View, Hash, Vec<Hash>)>,
    /// The driver's clock when this replica entered its current view.
    view_entered_ms: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Held {
    view: View,
    due_ms: u64,
    woken: bool,
}

impl Core {
    /// A replica starting from genesis with empty storage.
    pub fn new(
        config: Config,
        key: ConsensusKey,
        verifier: Box<dyn Verifier>,
        now_ms: u64,
    ) -> Result<(Core, Vec<Action>), RestoreError> {
        Core::restore(config, key, verifier, Vec::new(), 0, now_ms)
    }

    /// A replica restarting from what its storage kept and the height its executor reached. It
    /// re-enters the highest view it knows of, never signs again in a view it signed in, and
    /// re-emits decided blocks above `executed_height`.
    pub fn restore(
        config: Config,
        key: ConsensusKey,
        verifier: Box<dyn Verifier>,
        records: Vec<Record>,
        executed_height: u64,
        now_ms: u64,
    ) -> Result<(Core, Vec<Action>), RestoreError> {
        let me = config.me;
        if config.committee.key(me).map(|k| k.to_bytes()) != Some(key.public()) {
            return Err(RestoreError::WrongKey { me });
        }
        let chain_id = config.chain_id;
        let genesis_block = Block::genesis();
        let genesis = genesis_block.hash(chain_id);
        let genesis_qc = QuorumCert::genesis(chain_id);
        let mut core = Core {
            config,
            key,
            verifier,
            genesis,
            base_height: 0,
            view: 0,
            safety: SafetyState {
                last_voted_view: 0,
                last_proposed_view: 0,
                high_qc: genesis_qc.clone(),
                last_tc: None,
            },
            consecutive_failures: 0,
            blocks: BTreeMap::new(),
            orphans: BTreeMap::new(),
            waiting: BTreeMap::new(),
            fetching: BTreeMap::new(),
            certified: BTreeMap::new(),
            proposals_seen: BTreeMap::new(),
            votes: BTreeMap::new(),
            voted_by: BTreeMap::new(),
            timeouts: BTreeMap::new(),
            my_timeout: None,
            decided_height: 0,
            decided_block: genesis,
            decided_view: 0,
            mempool: Mempool::default(),
            attestations: BTreeMap::new(),
            my_headers: BTreeMap::new(),
            anchored: None,
            now_ms,
            out: Vec::new(),
            inbox: VecDeque::new(),
            held: None,
            own_proposal: None,
            view_entered_ms: now_ms,
        };
        core.blocks.insert(
            genesis,
            Stored::new(
                CertifiedBlock {
                    block: genesis_block,
                    justify: genesis_qc,
                },
                Vec::new(),
            ),
        );
        core.certified.insert(0, genesis);

        let mut stored = Vec::new();
        let mut base = None;
        for record in records {
            match record {
                Record::Safety(safety) => {
                    core.safety = safety;
                    if core.config.mutation == Mutation::RestartForgetsLastVotedView {
                        core.safety.last_voted_view = 0;
                    }
                }
                // The hash is computed again below: a stored one is never trusted.
                Record::Block { block, .. } => stored.push(block),
                Record::Decided { height, block } => {
                    core.decided_height = height;
                    core.decided_block = block;
                }
                Record::Base { block, qc } => base = Some((block, qc)),
            }
        }
        if let Some((block, qc)) = base {
            core.start_from(block, qc);
            if core.decided_height < core.base_height {
                return Err(RestoreError::DecidedBelowBase {
                    decided: core.decided_height,
                    base: core.base_height,
                });
            }
            if executed_height < core.base_height {
                return Err(RestoreError::ExecutedBelowBase {
                    executed: executed_height,
                    base: core.base_height,
                });
            }
        }
        // Parents before children: a store is a prefix of what was written, so every stored
        // block's parent is stored, but key order is not height order.
        stored.sort_by_key(|b| b.block.height);
        for block in stored {
            if block.block.height <= core.base_height {
                // The base itself (kept as a block record too) or a stale record below it.
                continue;
            }
            if !core.blocks.contains_key(&block.block.parent) {
                return Err(RestoreError::Disconnected {
                    height: block.block.height,
                });
            }
            core.certified
                .insert(block.justify.view, block.justify.block);
            let (hash, digests) = block.block.hash_and_digests(chain_id);
            core.blocks.insert(hash, Stored::new(block, digests));
        }
        let high_qc = core.safety.high_qc.clone();
        core.certified.insert(high_qc.view, high_qc.block);
        let Some(decided) = core.blocks.get(&core.decided_block) else {
            return Err(RestoreError::MissingDecided {
                height: core.decided_height,
            });
        };
        core.decided_view = decided.block.view;
        // The transactions of the last decided heights stay refused across a restart.
        let mut recent = Vec::new();
        let mut hash = core.decided_block;
        while let Some(stored) = core.blocks.get(&hash)
            && stored.block.height > core.base_height
            && stored.block.height + RECENTLY_DECIDED_HEIGHTS > core.decided_height
        {
            recent.push((stored.block.height, stored.digests.clone()));
            hash = stored.block.parent;
        }
        for (height, digests) in recent.into_iter().rev() {
            core.mempool.on_decided(height, &digests);
        }
        if executed_height > core.decided_height {
            return Err(RestoreError::ExecutedAhead {
                executed: executed_height,
                decided: core.decided_height,
            });
        }
        if executed_height < core.decided_height {
            let blocks = core.chain_above(core.decided_block, executed_height);
            core.out.push(Action::Decided(blocks));
        }

        let tc_view = core.safety.last_tc.as_ref().map_or(0, |tc| tc.view + 1);
        core.view = (high_qc.view + 1)
            .max(tc_view)
            .max(core.safety.last_voted_view);
        core.set_timer();
        core.try_propose();
        core.drain_inbox();
        let actions = std::mem::take(&mut core.out);
        Ok((core, actions))
    }

    /// Handles one input at the driver's time `now_ms` and returns what the driver must do, in
    /// order. Time only stamps proposals and bounds how far ahead a voted-for timestamp may be;
    /// timers are the driver's.
    pub fn step(&mut self, now_ms: u64, input: Input) -> Vec<Action> {
        self.now_ms = self.now_ms.max(now_ms);
        match input {
            Input::Message { from, message } => self.on_message(from, message),
            Input::TimerFired { view } => self.on_timer(view),
            Input::Wake { view } => {
                if let Some(held) = &mut self.held
                    && held.view == view
                    && !held.woken
                {
                    held.woken = true;
                    self.try_propose();
                }
            }
            Input::Submit(tx) => self.submit(tx),
            Input::Executed { header } => self.on_executed(header),
        }
        self.drain_inbox();
        std::mem::take(&mut self.out)
    }

    /// A snapshot for metrics.
    pub fn status(&self) -> Status {
        Status {
            view: self.view,
            high_qc_view: self.safety.high_qc.view,
            decided_height: self.decided_height,
            decided_block: self.decided_block,
            last_voted_view: self.safety.last_voted_view,
            anchored_height: self.anchored.map_or(0, |(h, _)| h),
            base_height: self.base_height,
            consecutive_failures: self.consecutive_failures,
            mempool: self.mempool.by_seq.len(),
        }
    }

    /// This replica's configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// A stored block by hash (what fetches are answered from).
    pub fn block(&self, hash: &Hash) -> Option<&CertifiedBlock> {
        self.blocks.get(hash).map(|stored| &stored.certified)
    }

    /// The decided block at `height`, if still kept.
    pub fn decided_at(&self, height: u64) -> Option<(Hash, &CertifiedBlock)> {
        if height > self.decided_height || height < self.base_height {
            return None;
        }
        let mut hash = self.decided_block;
        loop {
            let stored = self.blocks.get(&hash)?;
            if stored.block.height == height {
                return Some((hash, &stored.certified));
            }
            hash = stored.block.parent;
        }
    }

    /// The decided block at `height` and the proof that it was decided (see
    /// [`crate::Checkpoint`]): the blocks above it up to the first two-chain, and that
    /// chain's last QC. `None` while no such proof is stored.
    pub fn decision_proof(
        &self,
        height: u64,
    ) -> Option<(CertifiedBlock, Vec<CertifiedBlock>, QuorumCert)> {
        let (_, base) = self.decided_at(height)?;
        let mut chain = Vec::new();
        let mut hash = self.decided_block;
        while let Some(stored) = self.blocks.get(&hash) {
            if stored.block.height <= height {
                break;
            }
            chain.push(hash);
            hash = stored.block.parent;
        }
        chain.reverse();
        // Above the decided tip: its certified children.
        chain.extend(
            self.blocks
                .iter()
                .filter(|(_, stored)| stored.block.parent == self.decided_block)
                .map(|(hash, _)| *hash),
        );
        let decided_len = chain.len();
        for (i, hash) in chain.iter().enumerate().take(crate::checkpoint::PROOF_MAX) {
            let stored = &self.blocks[hash];
            if stored.justify.view + 1 != stored.block.view {
                continue;
            }
            let Some(qc) = self.certificate_of(hash) else {
                continue;
            };
            // Only the decided chain, then one child of the decided tip.
            let mut path = chain[..decided_len.min(i + 1)].to_vec();
            if i >= decided_len {
                path.push(*hash);
            }
            let proof = path
                .iter()
                .map(|h| self.blocks[h].certified.clone())
                .collect();
            return Some((base.clone(), proof, qc));
        }
        None
    }

    /// A quorum certificate of the stored block `hash`: the justify of a stored child, or the
    /// highest QC.
    pub fn certificate_of(&self, hash: &Hash) -> Option<QuorumCert> {
        if self.safety.high_qc.block == *hash {
            return Some(self.safety.high_qc.clone());
        }
        self.blocks
            .values()
            .find(|child| child.justify.block == *hash)
            .map(|child| child.justify.clone())
    }

    /// Makes the decided block at `floor` (capped one below the decided height, whose decided
    /// child carries its certificate) the base: every block below it, and every block that does
    /// not descend from it or from the decided block, is dropped from memory, and the returned
    /// [`Action::Prune`] drops them from the store. Nothing happens unless `floor` is above the
    /// current base.
    pub fn prune(&mut self, floor: u64) -> Vec<Action> {
        let floor = floor.min(self.decided_height.saturating_sub(1));
        if floor <= self.base_height {
            return Vec::new();
        }
        let mut keep = BTreeSet::new();
        let mut hash = self.decided_block;
        let mut child_qc = None;
        let (base, qc) = loop {
            let Some(stored) = self.blocks.get(&hash) else {
                return Vec::new();
            };
            keep.insert(hash);
            if stored.block.height == floor {
                match child_qc {
                    Some(qc) => break (stored.certified.clone(), qc),
                    None => return Vec::new(),
                }
            }
            child_qc = Some(stored.justify.clone());
            hash = stored.block.parent;
        };
        // Undecided blocks stay if they extend the decided block.
        for (hash, stored) in &self.blocks {
            if stored.block.height <= self.decided_height {
                continue;
            }
            let mut ancestor = stored;
            while ancestor.block.height > self.decided_height + 1 {
                match self.blocks.get(&ancestor.block.parent) {
                    Some(parent) => ancestor = parent,
                    None => break,
                }
            }
            if ancestor.block.parent == self.decided_block {
                keep.insert(*hash);
            }
        }
        let forget: Vec<Vec<u8>> = self
            .blocks
            .keys()
            .filter(|hash| !keep.contains(*hash))
            .map(Record::block_key)
            .collect();
        self.blocks.retain(|hash, _| keep.contains(hash));
        self.orphans
            .retain(|_, blocks| blocks.iter().any(|b| b.block.height > floor));
        self.waiting
            .retain(|_, proposals| proposals.iter().any(|p| p.block.height > floor));
        self.base_height = floor;
        vec![Action::Prune {
            base: Record::Base { block: base, qc },
            forget,
        }]
    }

    /// Makes `block` (certified by `qc`) the root of the block tree instead of genesis.
    fn start_from(&mut self, block: CertifiedBlock, qc: QuorumCert) {
        let (hash, digests) = block.block.hash_and_digests(self.chain_id());
        self.blocks.clear();
        self.base_height = block.block.height;
        self.certified.insert(qc.view, qc.block);
        if qc.view > self.safety.high_qc.view {
            self.safety.high_qc = qc;
        }
        if self.decided_height == 0 {
            self.decided_height = block.block.height;
            self.decided_block = hash;
        }
        self.blocks.insert(hash, Stored::new(block, digests));
    }

    fn drain_inbox(&mut self) {
        let me = self.config.me;
        while let Some(message) = self.inbox.pop_front() {
            self.on_message(me, message);
        }
    }

    fn chain_id(&self) -> u64 {
        self.config.chain_id
    }

    fn quorum(&self) -> usize {
        match self.config.mutation {
            Mutation::QuorumOf2f => 2 * self.config.committee.faults(),
            _ => self.config.committee.quorum(),
        }
    }

    fn leader(&self, view: View) -> ReplicaId {
        self.config.committee.leader(view)
    }

    fn send(&mut self, to: ReplicaId, message: Message) {
        if to == self.config.me {
            self.inbox.push_back(message);
        } else {
            self.out.push(Action::Send { to, message });
        }
    }

    fn deliver(&mut self, to: Option<ReplicaId>, message: Message) {
        match to {
            Some(to) => self.send(to, message),
            None => self.broadcast(message),
        }
    }

    fn broadcast(&mut self, message: Message) {
        self.inbox.push_back(message.clone());
        self.out.push(Action::Broadcast(message));
    }

    /// Makes the safety state (and `extra` records) durable, then runs `sends`. This ordering is
    /// the whole crash-safety argument: a signed statement never leaves before the record that
    /// forbids contradicting it.
    fn persist_then_send(
        &mut self,
        mut records: Vec<Record>,
        sends: Vec<(Option<ReplicaId>, Message)>,
    ) {
        records.push(Record::Safety(self.safety.clone()));
        let persist = Action::Persist {
            records,
            sync: true,
        };
        if self.config.mutation == Mutation::SkipPersistBarrier {
            // The planted bug: the statement leaves first and its record is not synced.
            for (to, message) in sends {
                self.deliver(to, message);
            }
            if let Action::Persist { records, .. } = persist {
                self.out.push(Action::Persist {
                    records,
                    sync: false,
                });
            }
            return;
        }
        self.out.push(persist);
        for (to, message) in sends {
            self.deliver(to, message);
        }
    }

    fn timeout_ms(&self) -> u64 {
        // One crashed leader costs two views in a row (the view whose votes it should have
        // collected, then its own): both keep the base timeout, and only a third consecutive
        // failure starts the doubling, so a single crash stalls about two base timeouts.
        let shift = self.consecutive_failures.saturating_sub(1).min(20);
        self.config
            .base_timeout_ms
            .saturating_mul(1u64 << shift)
            .min(self.config.max_timeout_ms)
    }

    fn set_timer(&mut self) {
        let after_ms = self.timeout_ms();
        self.out.push(Action::SetTimer {
            view: self.view,
            after_ms,
        });
    }

    // ---- certificates -------------------------------------------------------------------

    /// Whether committee member `replica` signed `message` (false for non-members).
    fn signed_by(&mut self, replica: ReplicaId, message: &[u8], signature: &Signature) -> bool {
        match self.config.committee.key(replica) {
            Some(key) => self.verifier.verify(key, message, signature),
            None => false,
        }
    }

    fn verify_qc(&mut self, qc: &QuorumCert) -> bool {
        if qc.view == 0 {
            return qc.block == self.genesis && qc.votes.is_empty();
        }
        if self.certified.get(&qc.view) == Some(&qc.block) {
            return true;
        }
        if qc.votes.len() < self.quorum() || !strictly_increasing(&qc.votes) {
            return false;
        }
        let message = vote_message(self.chain_id(), qc.view, &qc.block);
        for (replica, signature) in &qc.votes {
            if !self.signed_by(*replica, &message, signature) {
                return false;
            }
        }
        self.note_certified(qc.view, qc.block);
        true
    }

    fn note_certified(&mut self, view: View, block: Hash) {
        if view < self.decided_view {
            return;
        }
        if let Some(existing) = self.certified.insert(view, block)
            && existing != block
        {
            self.out
                .push(Action::Alarm(Alarm::ConflictingCertificates { view }));
        }
    }

    fn verify_tc(&mut self, tc: &TimeoutCert) -> bool {
        if tc.shares.len() < self.quorum() || !strictly_increasing(&tc.shares) {
            return false;
        }
        if tc.high_qc.view != tc.max_high_qc_view() || tc.high_qc.view >= tc.view {
            return false;
        }
        for (replica, share) in &tc.shares {
            let message = timeout_message(self.chain_id(), tc.view, share.high_qc_view);
            if !self.signed_by(*replica, &message, &share.signature) {
                return false;
            }
        }
        self.verify_qc(&tc.high_qc)
    }

    /// Learns a verified QC: raises the high QC, maybe decides, moves to the next view.
    fn process_qc(&mut self, qc: &QuorumCert) {
        if qc.view > self.safety.high_qc.view {
            // Persisted with the next signed statement; losing it before then is safe because
            // every vote already made was persisted with the high QC it was made under.
            self.safety.high_qc = qc.clone();
        }
        self.try_decide(qc.block);
        if qc.view + 1 > self.view {
            self.consecutive_failures = 0;
            self.safety.last_tc = None;
            self.enter_view(qc.view + 1);
        }
    }

    /// Learns a verified TC: moves past its view.
    fn process_tc(&mut self, tc: &TimeoutCert) {
        self.process_qc(&tc.high_qc);
        if tc.view + 1 > self.view {
            self.consecutive_failures = self.consecutive_failures.saturating_add(1);
            self.safety.last_tc = Some(tc.clone());
            self.enter_view(tc.view + 1);
        }
    }

    fn enter_view(&mut self, view: View) {
        self.view = view;
        self.view_entered_ms = self.now_ms;
        self.my_timeout = None;
        let keep_from = view.saturating_sub(2);
        self.timeouts = self.timeouts.split_off(&keep_from);
        self.votes = self.votes.split_off(&(keep_from, [0; 32]));
        self.voted_by = self.voted_by.split_off(&(keep_from, 0));
        self.proposals_seen = self.proposals_seen.split_off(&keep_from);
        self.set_timer();
        self.try_propose();
    }

    // ---- blocks ------------------------------------------------------------------------

    /// Stores `block` if its parent is stored and it extends it correctly; then connects any
    /// orphans and waiting proposals that hung on it. Returns whether it was stored now.
    /// `hash` and `digests` are `block`'s ([`Block::hash_and_digests`]), computed once by the
    /// caller (they cover the whole payload: a full block is megabytes).
    fn connect(&mut self, hash: Hash, digests: Vec<Hash>, block: CertifiedBlock) -> bool {
        if self.blocks.contains_key(&hash) {
            return false;
        }
        let Some(parent) = self.blocks.get(&block.block.parent) else {
            return false;
        };
        let extends = block.justify.block == block.block.parent
            && block.justify.view == parent.block.view
            && block.block.view > parent.block.view
            && block.block.timestamp_ms >= parent.block.timestamp_ms
            && Some(block.block.height) == parent.block.height.checked_add(1);
        if !extends {
            return false;
        }
        self.fetching.remove(&hash);
        self.out.push(Action::Persist {
            records: vec![Record::Block {
                hash,
                block: block.clone(),
            }],
            sync: false,
        });
        let view = block.block.view;
        self.blocks.insert(hash, Stored::new(block, digests));
        for orphan in self.orphans.remove(&hash).unwrap_or_default() {
            let (orphan_hash, orphan_digests) = orphan.block.hash_and_digests(self.chain_id());
            self.connect(orphan_hash, orphan_digests, orphan);
        }
        for proposal in self.waiting.remove(&hash).unwrap_or_default() {
            let proposer = proposal.block.proposer;
            self.on_proposal(proposer, proposal);
        }
        if self.certified.get(&view) == Some(&hash) {
            self.try_decide(hash);
        }
        self.try_propose();
        true
    }

    fn fetch(&mut self, hash: Hash, from: ReplicaId) {
        if self.fetching.contains_key(&hash) || self.blocks.contains_key(&hash) {
            return;
        }
        let peer = if from == self.config.me {
            self.next_peer(from)
        } else {
            from
        };
        self.fetching.insert(hash, peer);
        self.send(peer, Message::FetchRequest(hash));
    }

    fn next_peer(&self, after: ReplicaId) -> ReplicaId {
        let n = self.config.committee.size() as u64;
        let mut peer = (u64::from(after) + 1) % n;
        if peer == u64::from(self.config.me) {
            peer = (peer + 1) % n;
        }
        peer as ReplicaId
    }

    /// The 2-chain rule: if `b1` is certified and certifies its parent `b0` from the view just
    /// before, `b0` and its ancestors are decided.
    fn try_decide(&mut self, b1: Hash) {
        let Some(b1) = self.blocks.get(&b1) else {
            return;
        };
        if b1.justify.view + 1 != b1.block.view
            && self.config.mutation != Mutation::DecideWithoutConsecutiveViews
        {
            return;
        }
        let b0 = b1.block.parent;
        let Some(b0_block) = self.blocks.get(&b0) else {
            return;
        };
        if b0_block.block.height <= self.decided_height {
            return;
        }
        let blocks = self.chain_above(b0, self.decided_height);
        let joins = blocks
            .first()
            .and_then(|first| self.blocks.get(&first.hash))
            .is_some_and(|first| first.block.parent == self.decided_block);
        if !joins {
            self.out.push(Action::Alarm(Alarm::ConflictingDecide {
                height: self.decided_height + 1,
            }));
            return;
        }
        let tip = blocks.last().expect("b0 is above the decided height");
        self.decided_height = tip.height;
        self.decided_block = tip.hash;
        self.decided_view = tip.view;
        self.consecutive_failures = 0;
        for block in &blocks {
            if let Some(stored) = self.blocks.get(&block.hash) {
                self.mempool.on_decided(block.height, &stored.digests);
            }
        }
        self.certified = self.certified.split_off(&self.decided_view);
        // Synced before the executor hears of it, so an executor's durable height never passes
        // the stored decided height (restore refuses that).
        self.out.push(Action::Persist {
            records: vec![Record::Decided {
                height: self.decided_height,
                block: self.decided_block,
            }],
            sync: true,
        });
        self.out.push(Action::Decided(blocks));
    }

    /// The blocks from height `above + 1` up to `tip`, in height order.
    fn chain_above(&self, tip: Hash, above: u64) -> Vec<DecidedBlock> {
        let mut chain = Vec::new();
        let mut hash = tip;
        while let Some(stored) = self.blocks.get(&hash) {
            if stored.block.height <= above {
                break;
            }
            chain.push(DecidedBlock {
                height: stored.block.height,
                hash,
                view: stored.block.view,
                timestamp_ms: stored.block.timestamp_ms,
                payload: stored.block.payload.clone(),
            });
            hash = stored.block.parent;
        }
        chain.reverse();
        chain
    }

    // ---- proposing ---------------------------------------------------------------------

    fn try_propose(&mut self) {
        let view = self.view;
        if self.leader(view) != self.config.me
            || self.safety.last_proposed_view >= view
            || self.safety.last_voted_view >= view
        {
            return;
        }
        let justify = self.safety.high_qc.clone();
        let timeout_cert = if justify.view + 1 == view {
            None
        } else {
            match &self.safety.last_tc {
                Some(tc) if tc.view + 1 == view && justify.view >= tc.max_high_qc_view() => {
                    Some(tc.clone())
                }
                _ => return,
            }
        };
        let Some(parent) = self.blocks.get(&justify.block) else {
            let from = justify.votes.first().map_or(self.config.me, |(r, _)| *r);
            self.fetch(justify.block, from);
            return;
        };
        let (parent_height, parent_time) = (parent.block.height, parent.block.timestamp_ms);
        let (payload, digests) = self.select_payload(justify.block);
        if self.hold_proposal(view, justify.block, payload.len()) {
            return;
        }
        let block = Block {
            view,
            height: parent_height + 1,
            parent: justify.block,
            proposer: self.config.me,
            timestamp_ms: self.now_ms.max(parent_time),
            payload,
        };
        let hash = block.hash_with_digests(self.chain_id(), &digests);
        let signature = self.key.sign(&proposal_message(self.chain_id(), &hash));
        self.safety.last_proposed_view = view;
        self.own_proposal = Some((view, hash, digests));
        let proposal = Proposal {
            block,
            justify,
            timeout_cert,
            signature,
        };
        self.persist_then_send(Vec::new(), vec![(None, Message::Proposal(proposal))]);
    }

    /// Whether this leader's proposal for `view` on `parent`, carrying `txs` transactions,
    /// waits. A full block never waits. An empty one whose parent and grandparent (the blocks
    /// its certificate and its child's decide) are empty too waits `idle_block_delay_ms`
    /// (see [`Config::idle_block_delay_ms`]); any other waits until `block_interval_ms` after
    /// the leader entered the view. Once woken (or due) it goes with what it has.
    fn hold_proposal(&mut self, view: View, parent: Hash, txs: usize) -> bool {
        if self.held.is_some_and(|h| h.view == view && h.woken) || txs >= self.config.max_block_txs
        {
            return false;
        }
        let idle = txs == 0 && self.ancestors_empty(parent);
        let wait = if idle {
            self.config.idle_block_delay_ms
        } else {
            self.config.block_interval_ms
        };
        let due_ms = self.view_entered_ms.saturating_add(wait);
        if due_ms <= self.now_ms {
            return false;
        }
        // Ask to be woken, unless an earlier wake-up for this view is already set.
        if !self
            .held
            .is_some_and(|h| h.view == view && h.due_ms <= due_ms)
        {
            self.held = Some(Held {
                view,
                due_ms,
                woken: false,
            });
            self.out.push(Action::Wake {
                view,
                after_ms: due_ms - self.now_ms,
            });
        }
        true
    }

    /// Whether `parent` and its parent are stored and carry no transactions.
    fn ancestors_empty(&self, parent: Hash) -> bool {
        let mut hash = parent;
        for _ in 0..2 {
            match self.blocks.get(&hash) {
                Some(stored) if stored.block.payload.is_empty() => hash = stored.block.parent,
                _ => return false,
            }
        }
        true
    }

    /// Mempool transactions not already in an undecided ancestor of `parent`, within the block
    /// limits, and their digests.
    fn select_payload(&self, parent: Hash) -> (Vec<Vec<u8>>, Vec<Hash>) {
        let mut pending = BTreeSet::new();
        let mut hash = parent;
        while let Some(stored) = self.blocks.get(&hash) {
            if stored.block.height <= self.decided_height {
                break;
            }
            pending.extend(stored.digests.iter().copied());
            hash = stored.block.parent;
        }
        let (mut payload, mut digests) = (Vec::new(), Vec::new());
        let (mut bytes, mut gas) = (0, 0u64);
        for (hash, tx, tx_gas) in self.mempool.by_seq.values() {
            if payload.len() == self.config.max_block_txs {
                break;
            }
            if pending.contains(hash) || bytes + tx.len() + 4 > self.config.max_block_bytes {
                continue;
            }
            // The first transaction over the gas ends the block: skipping it for a later one
            // could skip a sender's nonce (its next would then be refused).
            if gas.saturating_add(*tx_gas) > self.config.max_block_gas {
                break;
            }
            gas += tx_gas;
            bytes += tx.len() + 4;
            payload.push(tx.clone());
            digests.push(*hash);
        }
        (payload, digests)
    }

    // ---- messages ----------------------------------------------------------------------

    fn on_message(&mut self, from: ReplicaId, message: Message) {
        if self.config.committee.key(from).is_none() || !plausible(&message) {
            return;
        }
        match message {
            Message::Proposal(p) => self.on_proposal(from, p),
            Message::Vote(v) => self.on_vote(v),
            Message::Timeout(t) => self.on_timeout(t),
            Message::FetchRequest(hash) => {
                if from != self.config.me
                    && let Some(block) = self.blocks.get(&hash)
                {
                    let block = block.certified.clone();
                    self.send(from, Message::FetchResponse(block));
                }
            }
            Message::FetchResponse(block) => self.on_fetched(from, block),
            Message::Attestation(a) => self.on_attestation(a),
        }
    }

    fn on_proposal(&mut self, from: ReplicaId, p: Proposal) {
        let view = p.block.view;
        let oversized = p.block.payload.len() > self.config.max_block_txs
            || p.block.payload_bytes() > self.config.max_block_bytes;
        if view == 0
            || p.block.proposer != self.leader(view)
            || p.block.parent != p.justify.block
            || p.justify.view >= view
            || oversized
        {
            return;
        }
        // This leader's own proposal comes back through the inbox: its hash and digests are
        // known.
        let me = self.config.me;
        let (hash, digests) = match self
            .own_proposal
            .take_if(|(own_view, _, _)| from == me && *own_view == view)
        {
            Some((_, hash, digests)) => (hash, digests),
            None => p.block.hash_and_digests(self.chain_id()),
        };
        if self.blocks.contains_key(&hash) {
            return;
        }
        let message = proposal_message(self.chain_id(), &hash);
        if !self.signed_by(p.block.proposer, &message, &p.signature) || !self.verify_qc(&p.justify)
        {
            return;
        }
        // The view-change evidence: a TC is needed (and only then looked at) when the justify
        // is not from the view just before.
        let timeout_cert = if p.justify.view + 1 == view {
            None
        } else {
            match &p.timeout_cert {
                Some(tc)
                    if tc.view + 1 == view
                        && (p.justify.view >= tc.max_high_qc_view()
                            || self.config.mutation == Mutation::VoteIgnoresTcHighQc) =>
                {
                    if !self.verify_tc(tc) {
                        return;
                    }
                    Some(tc.clone())
                }
                _ => return,
            }
        };
        match self.proposals_seen.get(&view) {
            Some(first) if *first != hash => self.out.push(Action::Alarm(Alarm::Equivocation {
                replica: p.block.proposer,
                view,
            })),
            Some(_) => {}
            None => {
                if view + 2 >= self.view {
                    self.proposals_seen.insert(view, hash);
                }
            }
        }
        self.process_qc(&p.justify.clone());
        if let Some(tc) = &timeout_cert {
            self.process_tc(tc);
        }
        if !self.blocks.contains_key(&p.block.parent) {
            let parent = p.block.parent;
            if self.waiting.values().map(Vec::len).sum::<usize>() < WAITING_MAX {
                self.waiting.entry(parent).or_default().push(p);
            }
            self.fetch(parent, from);
            return;
        }
        let timely =
            p.block.timestamp_ms <= self.now_ms.saturating_add(self.config.max_clock_drift_ms);
        let block = CertifiedBlock {
            block: p.block,
            justify: p.justify,
        };
        if !self.connect(hash, digests, block) {
            return;
        }
        // Checked after `connect`, which may process waiting descendants (views and the last
        // voted view only grow). Jolteon's voting rule holds by construction here: the justify
        // is from view − 1, or the TC of view − 1 reports no QC higher than the justify.
        if timely && view == self.view && view > self.safety.last_voted_view {
            self.safety.last_voted_view = view;
            let signature = self.key.sign(&vote_message(self.chain_id(), view, &hash));
            let vote = Vote {
                view,
                block: hash,
                replica: self.config.me,
                signature,
            };
            let next_leader = self.leader(view + 1);
            self.persist_then_send(Vec::new(), vec![(Some(next_leader), Message::Vote(vote))]);
        }
    }

    fn on_vote(&mut self, vote: Vote) {
        if self.leader(vote.view + 1) != self.config.me
            || vote.view + 1 < self.view
            || vote.view > self.view + FUTURE_VIEWS
            || self.certified.contains_key(&vote.view)
        {
            return;
        }
        let first = self.voted_by.get(&(vote.view, vote.replica)).copied();
        if first == Some(vote.block) {
            return;
        }
        let message = vote_message(self.chain_id(), vote.view, &vote.block);
        // Checked before alarming too: anyone can forge the claim, not the signature.
        if !self.signed_by(vote.replica, &message, &vote.signature) {
            return;
        }
        if first.is_some() {
            self.out.push(Action::Alarm(Alarm::DoubleVote {
                replica: vote.replica,
                view: vote.view,
            }));
            return;
        }
        self.voted_by.insert((vote.view, vote.replica), vote.block);
        let quorum = self.quorum();
        let entry = self.votes.entry((vote.view, vote.block)).or_default();
        entry.insert(vote.replica, vote.signature);
        if entry.len() >= quorum {
            let qc = QuorumCert {
                view: vote.view,
                block: vote.block,
                votes: entry.iter().map(|(r, s)| (*r, *s)).collect(),
            };
            self.note_certified(qc.view, qc.block);
            if !self.blocks.contains_key(&qc.block) {
                let from = vote.replica;
                self.fetch(qc.block, from);
            }
            self.process_qc(&qc);
        }
    }

    fn on_timeout(&mut self, t: Timeout) {
        if t.high_qc.view >= t.view {
            return;
        }
        let message = timeout_message(self.chain_id(), t.view, t.high_qc.view);
        if !self.signed_by(t.replica, &message, &t.signature) || !self.verify_qc(&t.high_qc) {
            return;
        }
        if let Some(tc) = &t.last_tc
            && (tc.view + 1 != t.view || !self.verify_tc(tc))
        {
            return;
        }
        self.process_qc(&t.high_qc);
        if let Some(tc) = &t.last_tc {
            self.process_tc(&tc.clone());
        }
        if t.view < self.view || t.view > self.view + FUTURE_VIEWS {
            return;
        }
        let share = TimeoutShare {
            high_qc_view: t.high_qc.view,
            signature: t.signature,
        };
        let entry = self.timeouts.entry(t.view).or_default();
        if entry.contains_key(&t.replica) {
            return;
        }
        entry.insert(t.replica, (share, t.high_qc));
        let count = entry.len();
        // f + 1 replicas gave up on a view at least as high as ours: at least one is honest,
        // so join them rather than wait out our own timer (Bracha-style amplification).
        if count > self.config.committee.faults() && t.view >= self.view {
            if t.view > self.view {
                self.enter_view(t.view);
            }
            if self.my_timeout.is_none() {
                self.time_out();
            }
        }
        let count = self.timeouts.get(&t.view).map_or(0, BTreeMap::len);
        if count >= self.quorum() && t.view >= self.view {
            let entry = &self.timeouts[&t.view];
            let shares: Vec<(ReplicaId, TimeoutShare)> =
                entry.iter().map(|(r, (s, _))| (*r, *s)).collect();
            let high_qc = entry
                .values()
                .map(|(_, qc)| qc)
                .max_by_key(|qc| qc.view)
                .expect("a quorum is not empty")
                .clone();
            let tc = TimeoutCert {
                view: t.view,
                shares,
                high_qc,
            };
            self.process_tc(&tc);
        }
    }

    fn on_fetched(&mut self, from: ReplicaId, block: CertifiedBlock) {
        let (hash, digests) = block.block.hash_and_digests(self.chain_id());
        if !self.fetching.contains_key(&hash)
            || block.block.parent != block.justify.block
            || !self.verify_qc(&block.justify)
        {
            return;
        }
        self.fetching.remove(&hash);
        let parent = block.block.parent;
        let justify = block.justify.clone();
        if self.blocks.contains_key(&parent) {
            self.connect(hash, digests, block);
        } else {
            if self.orphans.values().map(Vec::len).sum::<usize>() < ORPHANS_MAX {
                self.orphans.entry(parent).or_default().push(block);
            }
            self.fetch(parent, from);
        }
        self.process_qc(&justify);
    }

    // ---- pacemaker ---------------------------------------------------------------------

    fn on_timer(&mut self, view: View) {
        if view != self.view {
            return;
        }
        if self.my_timeout.is_none() {
            self.time_out();
        } else if let Some(t) = self.my_timeout.clone() {
            // Re-send the identical, already persisted timeout: messages may have been lost.
            self.broadcast(Message::Timeout(t));
        }
        // Outstanding fetches go to the next peer: the last one may be down.
        let retries: Vec<(Hash, ReplicaId)> = self.fetching.iter().map(|(h, p)| (*h, *p)).collect();
        for (hash, peer) in retries {
            let next = self.next_peer(peer);
            self.fetching.insert(hash, next);
            self.send(next, Message::FetchRequest(hash));
        }
        self.set_timer();
    }

    /// Gives up on the current view: never vote in it afterwards, tell everyone.
    fn time_out(&mut self) {
        let view = self.view;
        self.safety.last_voted_view = self.safety.last_voted_view.max(view);
        let high_qc = self.safety.high_qc.clone();
        let signature = self
            .key
            .sign(&timeout_message(self.chain_id(), view, high_qc.view));
        let last_tc = self.safety.last_tc.clone().filter(|tc| tc.view + 1 == view);
        let timeout = Timeout {
            view,
            high_qc,
            last_tc,
            replica: self.config.me,
            signature,
        };
        self.my_timeout = Some(timeout.clone());
        self.persist_then_send(Vec::new(), vec![(None, Message::Timeout(timeout))]);
    }

    // ---- mempool and execution ---------------------------------------------------------

    fn submit(&mut self, tx: Vec<u8>) {
        if tx.len() > self.config.max_tx_bytes
            || self.mempool.by_seq.len() >= self.config.mempool_max
        {
            return;
        }
        let hash = tx_digest(&tx);
        if self.mempool.by_hash.contains_key(&hash) || self.mempool.decided.contains_key(&hash) {
            return;
        }
        let seq = self.mempool.next;
        self.mempool.next += 1;
        self.mempool.by_hash.insert(hash, seq);
        let gas = (self.config.gas_of)(&tx);
        self.mempool.by_seq.insert(seq, (hash, tx, gas));
        // A leader holding back a proposal looks again (it may be full now, or no longer
        // idle and due sooner).
        if self.held.is_some_and(|h| h.view == self.view) {
            self.try_propose();
        }
    }

    fn on_executed(&mut self, header: BatchHeader) {
        let height = header.height;
        let every = self.config.attest_every.max(1);
        if height == 0 || !height.is_multiple_of(every) || self.my_headers.contains_key(&height) {
            return;
        }
        self.my_headers.insert(height, header);
        if let Some((anchored, certified)) = self.anchored
            && anchored == height
            && certified != header
        {
            self.out.push(Action::Alarm(Alarm::ExecutionDivergence {
                height,
                ours: Box::new(header),
                certified: Box::new(certified),
            }));
        }
        let signature = self
            .key
            .sign(&attestation_message(self.chain_id(), &header));
        self.broadcast(Message::Attestation(SignedAttestation {
            header,
            replica: self.config.me,
            signature,
        }));
    }

    fn on_attestation(&mut self, signed: SignedAttestation) {
        let header = signed.header;
        let height = header.height;
        let every = self.config.attest_every.max(1);
        let anchored = self.anchored.map_or(0, |(h, _)| h);
        if height == 0
            || !height.is_multiple_of(every)
            || height <= anchored
            || height > self.decided_height + every * ATTESTATION_RANGES_AHEAD
        {
            return;
        }
        let by_header = self.attestations.entry(height).or_default();
        if by_header
            .values()
            .any(|(_, signers)| signers.contains_key(&signed.replica))
        {
            return;
        }
        let message = attestation_message(self.chain_id(), &header);
        if !self.signed_by(signed.replica, &message, &signed.signature) {
            return;
        }
        let quorum = self.quorum();
        let digest: Hash = Sha256::digest(&message).into();
        let (_, signers) = self
            .attestations
            .entry(height)
            .or_default()
            .entry(digest)
            .or_insert_with(|| (header, BTreeMap::new()));
        signers.insert(signed.replica, signed.signature);
        if signers.len() < quorum {
            return;
        }
        let certificate = AnchorCertificate {
            header,
            signatures: signers.iter().map(|(r, s)| (*r, *s)).collect(),
        };
        self.anchored = Some((height, header));
        self.attestations = self.attestations.split_off(&(height + 1));
        if let Some(ours) = self.my_headers.get(&height)
            && *ours != header
        {
            self.out.push(Action::Alarm(Alarm::ExecutionDivergence {
                height,
                ours: Box::new(*ours),
                certified: Box::new(header),
            }));
        }
        self.my_headers = self.my_headers.split_off(&height);
        self.out.push(Action::Anchored(certificate));
    }
}

impl Mempool {
    /// Takes the transactions decided at `height` out of the pool and refuses them from now on,
    /// forgetting those decided [`RECENTLY_DECIDED_HEIGHTS`] or more heights before.
    fn on_decided(&mut self, height: u64, digests: &[Hash]) {
        for digest in digests {
            if let Some(seq) = self.by_hash.remove(digest) {
                self.by_seq.remove(&seq);
            }
        }
        self.decided
            .extend(digests.iter().map(|digest| (*digest, height)));
        self.decided_heights.push_back((height, digests.to_vec()));
        while let Some((oldest, _)) = self.decided_heights.front()
            && oldest + RECENTLY_DECIDED_HEIGHTS <= height
        {
            let (oldest, forgotten) = self.decided_heights.pop_front().expect("a front");
            for digest in forgotten {
                if self.decided.get(&digest) == Some(&oldest) {
                    self.decided.remove(&digest);
                }
            }
        }
    }
}

/// Every view and height a message carries is below [`VIEW_LIMIT`].
fn plausible(message: &Message) -> bool {
    fn tc_ok(tc: &TimeoutCert) -> bool {
        tc.view < VIEW_LIMIT
            && tc.high_qc.view < VIEW_LIMIT
            && tc.shares.iter().all(|(_, s)| s.high_qc_view < VIEW_LIMIT)
    }
    fn block_ok(block: &Block, justify: &QuorumCert) -> bool {
        block.view < VIEW_LIMIT && block.height < VIEW_LIMIT && justify.view < VIEW_LIMIT
    }
    match message {
        Message::Proposal(p) => {
            block_ok(&p.block, &p.justify) && p.timeout_cert.as_ref().is_none_or(tc_ok)
        }
        Message::Vote(v) => v.view < VIEW_LIMIT,
        Message::Timeout(t) => {
            t.view < VIEW_LIMIT
                && t.high_qc.view < VIEW_LIMIT
                && t.last_tc.as_ref().is_none_or(tc_ok)
        }
        Message::FetchRequest(_) => true,
        Message::FetchResponse(b) => block_ok(&b.block, &b.justify),
        Message::Attestation(a) => a.header.height < VIEW_LIMIT,
    }
}

fn strictly_increasing<T>(items: &[(ReplicaId, T)]) -> bool {
    items.windows(2).all(|pair| pair[0].0 < pair[1].0)
}
