//! The driver: one tokio task that owns the consensus core, the runtime and the mempool, feeds
//! the core its inputs (frames, the view timer, transactions, executed heights) and carries out
//! its actions in order.
//!
//! - `Persist` is written to RocksDB before the next action runs (synced when the core says
//!   so), so no vote, timeout or proposal leaves before the record that forbids signing again
//!   in that view is durable.
//! - `Decided` blocks are executed by the runtime at once; each header goes back to the core as
//!   `Executed`, which signs and broadcasts the execution attestation. The node's index (block
//!   summaries, receipts, transaction locations, anchor certificates) is written after.
//! - An execution divergence or a failed store halts the node with an error that says where.
//! - Transactions are admitted by the mempool (signature checked once), forwarded to the other
//!   members in batches, and handed to the core in selection order (round-robin over senders,
//!   nonce order, no gaps) as its pool runs low.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use bytes::Bytes;
use curve_consensus::{
    Action, Alarm, Checkpoint, ConsensusKey, Core, DecidedBlock, Ed25519Verifier, Input, Message,
    Record,
};
use curve_formats::deposit::DepositRecord;
use curve_formats::encoding::Decode;
use curve_formats::tx::{PublicKey, SignedTransaction};
use curve_mempool::{AdmitError, Mempool, TxHash};
use curve_runtime::{Batch, MemoryStorage, Runtime};
use curve_store::RocksStorage;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::batches::{
    Availability, FRAME_BATCH, FRAME_BATCH_REQUEST, decode_request, reference, request_frame,
};
use crate::config::StorageSettings;
use crate::deposits::{Attestation, DepositPool, FRAME_ATTESTATION, credit_transaction};
use crate::frame::{
    FORWARD_BATCH, FRAME_CONSENSUS, FRAME_TRANSACTIONS, consensus_frame, decode_transactions,
    encode_transactions,
};
use crate::guard::SafetyGuard;
use crate::index;
use crate::metrics::Metrics;
use crate::net::{Net, NetEvent};
use crate::opaque::OpaqueBench;
use crate::sync::{
    DOWNLOAD_MAX, Download, FRAME_SNAPSHOT, FRAME_SNAPSHOT_REQUEST, PROBE_EVERY, PROBE_GAP, STALL,
    STALLS_MAX, SnapshotAnswer, SnapshotRequest, SyncState,
};

/// How often buffered transactions are forwarded.
const FORWARD_EVERY: Duration = Duration::from_millis(5);
/// Most network events the driver takes in one turn of its loop (timers and clients wait no
/// longer than that many events).
const EVENTS_AT_ONCE: usize = 64;
/// How often pooled deposit attestations are looked at for a credit to send.
const CREDIT_EVERY: Duration = Duration::from_millis(50);
/// Submissions whose finality latency is tracked at once (older ones are forgotten).
const TRACKED_MAX: usize = 200_000;

/// The wall clock in milliseconds: only stamps proposals (the core bounds drift).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Something the RPC server asks the driver.
pub enum Request {
    /// Admit transactions; one answer per transaction.
    Submit {
        /// Signed transaction bytes.
        transactions: Vec<Vec<u8>>,
        /// The answers.
        reply: oneshot::Sender<Vec<Result<TxHash, AdmitError>>>,
    },
    /// Run a read against the driver's state.
    Read(Box<dyn FnOnce(&Driver) + Send>),
    /// Run a change of the driver's state (the consensus-only bench's controls).
    Write(Box<dyn FnOnce(&mut Driver) + Send>),
}

/// Finality samples the dashboard's chart keeps.
const FINALITY_SAMPLES: usize = 2_048;

/// What the driver needs besides its parts.
pub struct DriverSettings {
    /// The consensus key (a core rebuilt from a checkpoint signs with it).
    pub key: ConsensusKey,
    /// Most transactions per block.
    pub max_block_txs: usize,
    /// Checkpoints and pruning.
    pub storage: StorageSettings,
    /// Order opaque payloads and execute nothing (see [`crate::opaque`]).
    pub consensus_only: bool,
    /// The consensus key as a rollup account: it sends this member's deposit credits.
    pub credit_key: ed25519_dalek::SigningKey,
}

/// The state the driver owns.
pub struct Driver {
    pub(crate) chain_id: u64,
    pub(crate) me: u16,
    pub(crate) members: u16,
    pub(crate) core: Core,
    pub(crate) runtime: Runtime<RocksStorage>,
    pub(crate) store: RocksStorage,
    guard: SafetyGuard,
    pub(crate) mempool: Mempool,
    pub(crate) peers: usize,
    net: Net,
    metrics: Arc<Metrics>,
    settings: DriverSettings,
    sync: SyncState,
    /// The hash-chain executor and load generator of a consensus-only node.
    opaque: Option<OpaqueBench>,
    /// Per sender, the nonce after the last transaction handed to the core.
    handed: BTreeMap<PublicKey, u64>,
    /// Senders of the blocks executed since the pool was last pruned.
    executed_senders: BTreeSet<PublicKey>,
    forward: Vec<Vec<u8>>,
    timer: Option<(u64, Instant)>,
    /// An idle leader's wake-up.
    wake: Option<(u64, Instant)>,
    /// When each transaction submitted here was admitted (finality latency).
    submitted: BTreeMap<TxHash, Instant>,
    /// The latest finality samples of transactions submitted here, oldest first: (Unix time of
    /// execution in ms, submission → execution in ms), for the dashboard.
    pub(crate) finality: std::collections::VecDeque<(u64, u64)>,
    /// Deposit attestations awaiting a quorum and a credit.
    deposits: DepositPool,
}

impl Driver {
    /// A driver over a restored core and runtime.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        core: Core,
        runtime: Runtime<RocksStorage>,
        store: RocksStorage,
        guard: SafetyGuard,
        mempool: Mempool,
        net: Net,
        metrics: Arc<Metrics>,
        settings: DriverSettings,
    ) -> Driver {
        let config = core.config();
        let opaque = settings.consensus_only.then(|| {
            let mut bench = OpaqueBench::default();
            let status = core.status();
            bench.resume_at(status.decided_height, status.decided_block);
            bench
        });
        Driver {
            chain_id: config.chain_id,
            me: config.me,
            members: config.committee.size() as u16,
            core,
            runtime,
            store,
            guard,
            mempool,
            peers: 0,
            net,
            metrics,
            settings,
            sync: SyncState::default(),
            opaque,
            handed: BTreeMap::new(),
            executed_senders: BTreeSet::new(),
            forward: Vec::new(),
            timer: None,
            wake: None,
            submitted: BTreeMap::new(),
            finality: std::collections::VecDeque::new(),
            deposits: DepositPool::default(),
        }
    }

    /// Runs until `shutdown` resolves or the node must halt.
    pub async fn run(
        mut self,
        initial: Vec<Action>,
        mut events: mpsc::Receiver<NetEvent>,
        mut requests: mpsc::Receiver<Request>,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<()> {
        let restored = self.serve_restored_checkpoint()?;
        self.perform(restored)?;
        self.perform(initial)?;
        let mut forward_tick = tokio::time::interval(FORWARD_EVERY);
        forward_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut credit_tick = tokio::time::interval(CREDIT_EVERY);
        credit_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            let deadline = self.timer.map(|(_, at)| at);
            let wake = self.wake.map(|(_, at)| at);
            tokio::select! {
                biased;
                () = &mut shutdown => {
                    tracing::info!("shutting down");
                    return Ok(());
                }
                () = sleep_until(deadline), if deadline.is_some() => {
                    let (view, _) = self.timer.take().expect("armed");
                    tracing::info!(view, "view timed out");
                    self.step(Input::TimerFired { view })?;
                }
                () = sleep_until(wake), if wake.is_some() => {
                    let (view, _) = self.wake.take().expect("armed");
                    self.step(Input::Wake { view })?;
                }
                event = events.recv() => {
                    // Whatever else has arrived is taken too, and peers' transaction frames
                    // in a row are admitted as one: the busier the node, the larger the
                    // batch its signatures are verified in.
                    let mut forwarded: Vec<Vec<u8>> = Vec::new();
                    let mut next = event;
                    for _ in 0..EVENTS_AT_ONCE {
                        match next {
                            Some(NetEvent::Frame(inbound))
                                if self.opaque.is_none()
                                    && inbound.frame.first() == Some(&FRAME_TRANSACTIONS) =>
                            {
                                match decode_transactions(&inbound.frame[1..]) {
                                    Ok(transactions) => forwarded.extend(transactions),
                                    Err(error) => tracing::warn!(
                                        from = inbound.from,
                                        %error,
                                        "malformed transaction frame"
                                    ),
                                }
                            }
                            other => {
                                if !forwarded.is_empty() {
                                    self.submit(std::mem::take(&mut forwarded), false)?;
                                }
                                self.on_event(other)?;
                            }
                        }
                        match events.try_recv() {
                            Ok(event) => next = Some(event),
                            Err(_) => break,
                        }
                    }
                    if !forwarded.is_empty() {
                        self.submit(forwarded, false)?;
                    }
                }
                request = requests.recv() => match request {
                    Some(Request::Submit { transactions, reply }) => {
                        let answers = self.submit(transactions, true)?;
                        let _ = reply.send(answers);
                    }
                    Some(Request::Read(read)) => read(&self),
                    Some(Request::Write(write)) => write(&mut self),
                    None => return Ok(()),
                },
                _ = credit_tick.tick() => self.credit_deposits()?,
                _ = forward_tick.tick() => {
                    self.generate_opaque()?;
                    self.flush_forward();
                    self.check_download();
                }
            }
            self.publish_status();
        }
    }

    fn on_event(&mut self, event: Option<NetEvent>) -> Result<()> {
        match event {
            Some(NetEvent::Frame(inbound)) => self.on_frame(inbound.from, inbound.frame)?,
            Some(NetEvent::Peers(count)) => {
                self.peers = count;
                self.metrics.peers.set(count as i64);
            }
            Some(NetEvent::Delivered { to, tag }) => self.on_delivered(to, tag)?,
            Some(NetEvent::Listening(_) | NetEvent::WrongProtocol(_) | NetEvent::Refused(_)) => {}
            None => bail!("the transport stopped"),
        }
        Ok(())
    }

    fn publish_status(&self) {
        let status = self.core.status();
        self.metrics.view.set(status.view as i64);
        self.metrics
            .decided_height
            .set(status.decided_height as i64);
        self.metrics
            .executed_height
            .set(self.executed_height() as i64);
        self.metrics.mempool.set(self.mempool.len() as i64);
        self.metrics.base_height.set(status.base_height as i64);
    }

    fn step(&mut self, input: Input) -> Result<()> {
        let actions = self.core.step(now_ms(), input);
        self.perform(actions)
    }

    fn on_frame(&mut self, from: u16, frame: Vec<u8>) -> Result<()> {
        match frame.split_first() {
            Some((&FRAME_CONSENSUS, body)) => match Message::from_wire(self.chain_id, body) {
                Ok(message) => {
                    if let Message::Proposal(proposal) = &message {
                        self.maybe_probe(from, proposal.block.height);
                    }
                    self.step_when_available(from, message)
                }
                Err(error) => {
                    tracing::warn!(from, %error, "malformed consensus frame");
                    Ok(())
                }
            },
            Some((&FRAME_TRANSACTIONS, _)) if self.opaque.is_some() => {
                tracing::warn!(
                    from,
                    "a consensus-only node takes batches, not transactions"
                );
                Ok(())
            }
            Some((&FRAME_TRANSACTIONS, body)) => match decode_transactions(body) {
                Ok(transactions) => self.submit(transactions, false).map(drop),
                Err(error) => {
                    tracing::warn!(from, %error, "malformed transaction frame");
                    Ok(())
                }
            },
            // A batch is kept as it arrived, without a copy.
            Some((&FRAME_BATCH, _)) => self.on_batch(from, frame),
            Some((&FRAME_BATCH_REQUEST, body)) => {
                self.on_batch_request(from, body);
                Ok(())
            }
            Some((&FRAME_SNAPSHOT_REQUEST, body)) => {
                match SnapshotRequest::decode_body(body) {
                    Ok(request) => {
                        let base = self.core.status().base_height;
                        let answer = self.sync.answer(&request, base);
                        self.net.send(from, answer.to_frame());
                    }
                    Err(error) => tracing::warn!(from, %error, "malformed snapshot request"),
                }
                Ok(())
            }
            Some((&FRAME_ATTESTATION, body)) => {
                match Attestation::decode_body(body) {
                    Ok(attestation) => self.on_attestation(from, attestation),
                    Err(error) => tracing::warn!(from, %error, "malformed attestation frame"),
                }
                Ok(())
            }
            Some((&FRAME_SNAPSHOT, body)) => match SnapshotAnswer::decode_body(body) {
                Ok(answer) => self.on_snapshot(from, answer),
                Err(error) => {
                    tracing::warn!(from, %error, "malformed snapshot frame");
                    Ok(())
                }
            },
            _ => {
                tracing::warn!(from, "frame of an unknown kind");
                Ok(())
            }
        }
    }

    /// Asks `from` for its checkpoint when its proposal at `height` is far above what this
    /// node decided (at most once per [`PROBE_EVERY`], never during a download).
    fn maybe_probe(&mut self, from: u16, height: u64) {
        let decided = self.core.status().decided_height;
        if height <= decided + PROBE_GAP
            || self.sync.download.is_some()
            || self
                .sync
                .probed
                .is_some_and(|(at, _)| at.elapsed() < PROBE_EVERY)
        {
            return;
        }
        tracing::info!(from, height, decided, "far behind: asking for a checkpoint");
        self.sync.probed = Some((Instant::now(), from));
        self.net.send(from, SnapshotRequest::Manifest.to_frame());
    }

    /// A peer's manifest or chunk.
    fn on_snapshot(&mut self, from: u16, answer: SnapshotAnswer) -> Result<()> {
        match answer {
            SnapshotAnswer::Manifest {
                base,
                chunks,
                checkpoint,
            } => {
                // Only the answer to this node's last probe, and one download at a time.
                if self.sync.download.is_some() || self.sync.probed.map(|(_, p)| p) != Some(from) {
                    return Ok(());
                }
                let decided = self.core.status().decided_height;
                let height = checkpoint.height();
                // Worth it if this node cannot fetch what it misses (the peer pruned it), or if
                // the checkpoint saves replaying at least a checkpoint interval.
                let gap = self.settings.storage.checkpoint_every.max(PROBE_GAP);
                if height <= decided || (decided >= base && height < decided + gap) {
                    return Ok(());
                }
                if chunks == 0 || chunks > crate::sync::CHUNKS_MAX {
                    tracing::warn!(from, chunks, "checkpoint manifest with a bad chunk count");
                    return Ok(());
                }
                let config = self.core.config();
                if let Err(error) =
                    checkpoint.verify(self.chain_id, &config.committee, &mut Ed25519Verifier)
                {
                    tracing::warn!(from, height, %error, "checkpoint refused");
                    return Ok(());
                }
                tracing::info!(from, height, chunks, "downloading checkpoint");
                self.sync.download = Some(Download {
                    peer: from,
                    checkpoint: *checkpoint,
                    total: chunks,
                    chunks: Vec::new(),
                    progress: Instant::now(),
                    started: Instant::now(),
                    bytes: 0,
                    stalls: 0,
                });
                self.net
                    .send(from, SnapshotRequest::Chunk { height, index: 0 }.to_frame());
            }
            SnapshotAnswer::Chunk {
                height,
                index,
                bytes,
            } => {
                let Some(download) = self.sync.download.as_mut() else {
                    return Ok(());
                };
                if download.peer != from
                    || download.checkpoint.height() != height
                    || index as usize != download.chunks.len()
                {
                    return Ok(());
                }
                download.bytes += bytes.len() as u64;
                if bytes.len() > crate::sync::CHUNK_MAX
                    || download.bytes > crate::sync::DOWNLOAD_BYTES_MAX
                {
                    tracing::warn!(from, height, "checkpoint chunk too large; download dropped");
                    self.sync.download = None;
                    return Ok(());
                }
                download.chunks.push(bytes);
                download.progress = Instant::now();
                download.stalls = 0;
                let next = download.chunks.len() as u32;
                if next < download.total {
                    self.net.send(
                        from,
                        SnapshotRequest::Chunk {
                            height,
                            index: next,
                        }
                        .to_frame(),
                    );
                } else {
                    let download = self.sync.download.take().expect("in progress");
                    self.install(download)?;
                }
            }
            SnapshotAnswer::None { base } => {
                if self.sync.download.as_ref().is_some_and(|d| d.peer == from) {
                    tracing::info!(from, base, "the peer no longer serves the checkpoint");
                    self.sync.download = None;
                }
            }
        }
        Ok(())
    }

    /// Installs a downloaded checkpoint if its state hashes to the certified root: the state,
    /// the base and decided records in one synced write, then a runtime and a core reopened
    /// from the store. A checkpoint that does not check out is dropped and changes nothing.
    fn install(&mut self, download: Download) -> Result<()> {
        let Download {
            peer, checkpoint, ..
        } = download;
        let height = checkpoint.height();
        let certified = checkpoint.certificate.header;
        if height <= self.core.status().decided_height {
            // Fetching caught up meanwhile: installing would move this node back.
            tracing::info!(peer, height, "checkpoint no longer ahead; dropped");
            return Ok(());
        }
        let entries = match crate::sync::decode_chunks(&download.chunks) {
            Ok(entries) => entries,
            Err(error) => {
                tracing::warn!(peer, height, %error, "checkpoint chunks malformed; dropped");
                return Ok(());
            }
        };
        match Runtime::open(MemoryStorage::from_entries(entries.clone())) {
            Ok(check) if check.meta().height == height && check.root() == certified.state_root => {}
            Ok(check) => {
                tracing::warn!(
                    peer,
                    height,
                    got_height = check.meta().height,
                    got_root = %hex::encode(check.root()),
                    want_root = %hex::encode(certified.state_root),
                    "checkpoint state does not match its certificate; dropped"
                );
                return Ok(());
            }
            Err(error) => {
                tracing::warn!(peer, height, %error, "checkpoint state does not open; dropped");
                return Ok(());
            }
        }
        let base_hash = checkpoint.base.block.hash(self.chain_id);
        let Some(base_qc) = checkpoint.base_qc() else {
            return Ok(());
        };
        let records = [
            Record::Base {
                block: checkpoint.base.clone(),
                qc: base_qc.clone(),
            },
            Record::Decided {
                height,
                block: base_hash,
            },
        ];
        self.store
            .install_checkpoint(&entries, &records)
            .context("installing a checkpoint")?;
        index::put_anchor(&self.store, &checkpoint.certificate)?;
        let engine = self.runtime.engine();
        self.runtime = Runtime::open(self.store.clone().without_state_sync())
            .context("reopening the state after a checkpoint")?;
        self.runtime.set_engine(engine);
        let stored = self
            .store
            .records(self.chain_id)
            .context("reading the consensus records")?;
        let (core, actions) = Core::restore(
            self.core.config().clone(),
            self.settings.key.clone(),
            Box::new(Ed25519Verifier),
            stored,
            height,
            now_ms(),
        )
        .context("restarting consensus from a checkpoint")?;
        self.core = core;
        self.handed.clear();
        let runtime = &self.runtime;
        // The state jumped: any sender's nonce may have moved.
        self.mempool.prune(|sender| account_nonce(runtime, sender));
        self.mempool.reconsider_all();
        self.metrics.state_syncs.inc();
        tracing::info!(
            peer,
            height,
            root = %hex::encode(certified.state_root),
            "checkpoint installed"
        );
        self.perform(actions)?;
        self.after_execution();
        Ok(())
    }

    /// Consensus-only: the hash chain applies decided blocks, and blocks below the retention
    /// are pruned every checkpoint interval (there is no state to checkpoint).
    fn execute_opaque(&mut self, blocks: &[DecidedBlock]) -> Vec<Action> {
        let Some(opaque) = self.opaque.as_mut() else {
            return Vec::new();
        };
        let mut actions = Vec::new();
        for block in blocks {
            if block.height != opaque.next_height() {
                continue;
            }
            let (header, ordered) = opaque.execute(self.me, block, now_ms());
            self.metrics.committed_transactions.inc_by(ordered);
            actions.extend(self.core.step(now_ms(), Input::Executed { header }));
        }
        let status = self.core.status();
        let storage = self.settings.storage;
        if storage.retain_blocks > 0
            && status.decided_height
                >= status.base_height + storage.retain_blocks + storage.checkpoint_every
        {
            actions.extend(
                self.core
                    .prune(status.decided_height - storage.retain_blocks),
            );
        }
        actions
    }

    /// Consensus-only: packs the payloads due into batches, keeps them, sends each to every
    /// member and hands the core their references; asks every member for the batches of
    /// proposals that waited too long.
    fn generate_opaque(&mut self) -> Result<()> {
        let Some(opaque) = self.opaque.as_mut() else {
            return Ok(());
        };
        let overdue = opaque.batches.overdue();
        if !overdue.is_empty() {
            let request = Bytes::from(request_frame(&overdue));
            for to in (0..self.members).filter(|&r| r != self.me) {
                self.net.send(to, request.clone());
            }
        }
        // A node's own batch is proposed once a quorum holds it (as asonnino/hotstuff's
        // mempool waits): a leader's proposal never overtakes its own fresh batch.
        let needed = self.core.config().committee.quorum() - 1;
        let mut references = Vec::new();
        for frame in opaque.due(self.me, now_ms()) {
            let batch = reference(&frame).expect("a packed batch checks");
            if !opaque.batches.insert(batch, frame.clone()) {
                continue;
            }
            for to in (0..self.members).filter(|&r| r != self.me) {
                self.net.send_tracked(to, frame.clone(), batch.digest);
            }
            if needed == 0 {
                references.push(batch.to_bytes());
            } else {
                opaque.batches.await_acks(batch, needed);
            }
        }
        for reference in references {
            self.step(Input::Submit(reference))?;
        }
        Ok(())
    }

    /// Consensus-only: a member acknowledged one of this node's batches; at a quorum (this
    /// node and `2f` others) its reference goes to the core.
    fn on_delivered(&mut self, to: u16, digest: [u8; 32]) -> Result<()> {
        let Some(opaque) = self.opaque.as_mut() else {
            return Ok(());
        };
        match opaque.batches.acked(digest, to) {
            Some(batch) => self.step(Input::Submit(batch.to_bytes())),
            None => Ok(()),
        }
    }

    /// Consensus-only: a proposal is stepped once every batch it names is held (see
    /// [`crate::batches`]); other messages at once.
    fn step_when_available(&mut self, from: u16, message: Message) -> Result<()> {
        let Some(opaque) = self.opaque.as_mut() else {
            return self.step(Input::Message { from, message });
        };
        let Message::Proposal(proposal) = &message else {
            return self.step(Input::Message { from, message });
        };
        match opaque.batches.availability(&proposal.block.payload) {
            Availability::Ready => self.step(Input::Message { from, message }),
            Availability::Missing(missing) => {
                let digests: Vec<[u8; 32]> = missing.iter().copied().collect();
                tracing::debug!(
                    from,
                    view = proposal.block.view,
                    missing = digests.len(),
                    "proposal waits for batches"
                );
                opaque.batches.park(from, message, missing);
                self.net.send(from, request_frame(&digests));
                Ok(())
            }
            Availability::Refused(reason) => {
                tracing::warn!(from, %reason, "proposal refused");
                Ok(())
            }
        }
    }

    /// Consensus-only: a member's batch is kept, its reference handed to the core, and the
    /// proposals it completes are stepped.
    fn on_batch(&mut self, from: u16, frame: Vec<u8>) -> Result<()> {
        let Some(opaque) = self.opaque.as_mut() else {
            tracing::warn!(from, "a batch for a node that executes transactions");
            return Ok(());
        };
        let batch = match reference(&frame) {
            Ok(batch) => batch,
            Err(error) => {
                tracing::warn!(from, %error, "malformed batch frame");
                return Ok(());
            }
        };
        if !opaque.batches.insert(batch, Bytes::from(frame)) {
            return Ok(());
        }
        let unparked = opaque.batches.unparked(&batch.digest);
        self.step(Input::Submit(batch.to_bytes()))?;
        for (from, message) in unparked {
            self.step(Input::Message { from, message })?;
        }
        Ok(())
    }

    /// Consensus-only: the batches asked for that this node holds.
    fn on_batch_request(&mut self, from: u16, body: &[u8]) {
        let Some(opaque) = self.opaque.as_ref() else {
            return;
        };
        match decode_request(body) {
            Ok(digests) => {
                for digest in digests {
                    if let Some(frame) = opaque.batches.get(&digest) {
                        self.net.send(from, frame.clone());
                    }
                }
            }
            Err(error) => tracing::warn!(from, %error, "malformed batch request"),
        }
    }

    /// `curve_benchOpaque`: starts the consensus-only load.
    pub(crate) fn start_opaque(
        &mut self,
        rate: u64,
        size: usize,
        seconds: u64,
    ) -> Result<(), String> {
        match self.opaque.as_mut() {
            Some(opaque) => opaque.start(rate, size, seconds, now_ms()),
            None => {
                Err("this node executes transactions; set [bench] consensus_only = true".into())
            }
        }
    }

    /// `curve_benchReport`'s answer.
    pub(crate) fn opaque_report(&self) -> Option<Value> {
        self.opaque.as_ref().map(OpaqueBench::report)
    }

    /// A stalled download asks for its chunk again, up to [`STALLS_MAX`] times; one that
    /// stalls more or takes longer than [`DOWNLOAD_MAX`] is dropped.
    fn check_download(&mut self) {
        let Some(download) = self.sync.download.as_mut() else {
            return;
        };
        if download.progress.elapsed() <= STALL {
            return;
        }
        if download.stalls >= STALLS_MAX || download.started.elapsed() > DOWNLOAD_MAX {
            tracing::warn!(peer = download.peer, "checkpoint download stalled; dropped");
            self.sync.download = None;
            return;
        }
        download.stalls += 1;
        download.progress = Instant::now();
        let request = SnapshotRequest::Chunk {
            height: download.checkpoint.height(),
            index: download.chunks.len() as u32,
        };
        let peer = download.peer;
        self.net.send(peer, request.to_frame());
    }

    /// After executing `header`: captures the state at checkpoint heights (served at once if
    /// the height was anchored before this node executed it).
    fn maybe_capture(&mut self, header: &curve_formats::batch::BatchHeader) -> Vec<Action> {
        if !header
            .height
            .is_multiple_of(self.settings.storage.checkpoint_every)
        {
            return Vec::new();
        }
        let entries = self.runtime.stored_entries();
        self.sync.capture(*header, &entries);
        match self.sync.early_anchor.take() {
            Some(certificate) if certificate.header.height == header.height => {
                self.on_anchored(&certificate)
            }
            _ => Vec::new(),
        }
    }

    /// An anchor certificate: a capture at its height becomes the served checkpoint, and
    /// blocks below it (and below the retention) are pruned.
    fn on_anchored(&mut self, certificate: &curve_consensus::AnchorCertificate) -> Vec<Action> {
        let header = certificate.header;
        let Some(chunks) = self.sync.anchored(&header) else {
            if header
                .height
                .is_multiple_of(self.settings.storage.checkpoint_every)
                && header.height > self.runtime.meta().height
            {
                self.sync.early_anchor = Some(certificate.clone());
            }
            return Vec::new();
        };
        self.serve_checkpoint(certificate, chunks)
    }

    /// Serves the state `chunks` certified by `certificate` (with the proof that its block was
    /// decided, if still stored), then prunes below it and the retention.
    fn serve_checkpoint(
        &mut self,
        certificate: &curve_consensus::AnchorCertificate,
        chunks: Vec<Vec<u8>>,
    ) -> Vec<Action> {
        let height = certificate.header.height;
        let Some((base, proof, qc)) = self.core.decision_proof(height) else {
            return Vec::new();
        };
        self.sync.serve(
            Checkpoint {
                certificate: certificate.clone(),
                base,
                proof,
                qc,
            },
            chunks,
        );
        self.metrics.checkpoint_height.set(height as i64);
        let retain = self.settings.storage.retain_blocks;
        if retain == 0 {
            return Vec::new();
        }
        let decided = self.core.status().decided_height;
        self.core.prune(height.min(decided.saturating_sub(retain)))
    }

    /// At start: the state the node restarted with is served as a checkpoint when its height
    /// was anchored, so a committee restarted as a whole serves checkpoints at once (not only
    /// from its next checkpoint height on) to a member that fell behind its pruning.
    fn serve_restored_checkpoint(&mut self) -> Result<Vec<Action>> {
        let height = self.runtime.meta().height;
        if self.opaque.is_some() || height == 0 {
            return Ok(Vec::new());
        }
        let Some(certificate) = index::anchor_certificate(&self.store, height)? else {
            return Ok(Vec::new());
        };
        if certificate.header.state_root != self.runtime.root() {
            // An anchor of another root at our height is a divergence the core reports.
            return Ok(Vec::new());
        }
        let entries = self.runtime.stored_entries();
        Ok(self.serve_checkpoint(&certificate, crate::sync::chunk_entries(&entries)))
    }

    /// `curve_observeDeposit`: this member's bridge read `record` from the Anchor program.
    /// Unless it is credited, the node signs it, pools its own attestation and sends it to
    /// the other members.
    pub(crate) fn observe_deposit(&mut self, record: DepositRecord) -> Result<Value, String> {
        if self.opaque.is_some() {
            return Err("this node executes nothing; it credits no deposits".into());
        }
        if record.chain_id != self.chain_id {
            return Err(format!(
                "the record is for chain {:#x}, this node is chain {:#x}",
                record.chain_id, self.chain_id
            ));
        }
        if self.runtime.deposit_credited(record.sequence) {
            return Ok(json!({"sequence": record.sequence, "credited": true}));
        }
        let (member, _, quorum) = self.rollup_committee()?;
        let attestation = Attestation {
            record,
            member,
            signature: self.settings.key.sign(&record.attestation_message()),
        };
        let frame = attestation.to_frame();
        let signed = self.deposits.add(attestation, quorum, Instant::now())?;
        for to in (0..self.members).filter(|&r| r != self.me) {
            self.net.send(to, frame.clone());
        }
        Ok(json!({"sequence": record.sequence, "credited": false, "signatures": signed}))
    }

    /// The rollup's committee as the runtime checks a credit against it: this node's index in
    /// it, its size and its quorum (the consensus committee's until a rotation moves it).
    fn rollup_committee(&self) -> Result<(u16, u16, usize), String> {
        let config = self.runtime.config();
        let me = self.settings.credit_key.verifying_key().to_bytes();
        let index = config
            .committee
            .iter()
            .position(|key| *key == me)
            .ok_or("this node's consensus key is not in the rollup's committee")?;
        Ok((
            index as u16,
            config.committee.len() as u16,
            usize::from(config.quorum),
        ))
    }

    /// Another member's attestation: pooled if the peer that sent it is the member it names
    /// (in the rollup's committee) and the signature verifies.
    fn on_attestation(&mut self, from: u16, attestation: Attestation) {
        let sequence = attestation.record.sequence;
        if self.opaque.is_some()
            || attestation.record.chain_id != self.chain_id
            || self.runtime.deposit_credited(sequence)
        {
            return;
        }
        let config = self.runtime.config();
        let Some(key) = config.committee.get(usize::from(attestation.member)) else {
            tracing::warn!(
                from,
                sequence,
                "an attestation by a member the rollup does not have"
            );
            return;
        };
        let sender = self.core.config().committee.key(from).map(|k| k.to_bytes());
        let verifies = sender == Some(*key)
            && ed25519_dalek::VerifyingKey::from_bytes(key).is_ok_and(|key| {
                key.verify_strict(
                    &attestation.record.attestation_message(),
                    &ed25519_dalek::Signature::from_bytes(&attestation.signature),
                )
                .is_ok()
            });
        if !verifies {
            tracing::warn!(
                from,
                sequence,
                "a deposit attestation not signed by the member that sent it"
            );
            return;
        }
        let quorum = usize::from(config.quorum);
        if let Err(reason) = self.deposits.add(attestation, quorum, Instant::now()) {
            tracing::warn!(from, sequence, %reason, "deposit attestation dropped");
        }
    }

    /// Submits the deposit credit that is this member's to send, if any.
    fn credit_deposits(&mut self) -> Result<()> {
        if self.deposits.is_empty() {
            return Ok(());
        }
        let now = Instant::now();
        let account = self.settings.credit_key.verifying_key().to_bytes();
        let nonce = account_nonce(&self.runtime, &account);
        let runtime = &self.runtime;
        self.deposits
            .settle(|sequence| runtime.deposit_credited(sequence), nonce, now);
        let Ok((me, members, quorum)) = self.rollup_committee() else {
            return Ok(());
        };
        let Some((record, attestations)) = self.deposits.due(me, members, quorum, now) else {
            return Ok(());
        };
        let tx = credit_transaction(
            self.chain_id,
            &self.settings.credit_key,
            nonce,
            record,
            attestations,
        );
        self.deposits.sent(nonce, now);
        let answer = self.submit(vec![tx], true)?;
        match &answer[0] {
            Ok(hash) => tracing::info!(
                sequence = record.sequence,
                amount = record.amount,
                tx = %hex::encode(hash),
                "deposit credit submitted"
            ),
            Err(error) => {
                tracing::warn!(sequence = record.sequence, %error, "deposit credit refused")
            }
        }
        Ok(())
    }

    /// Admits transactions; those from a client are forwarded to the other members.
    fn submit(
        &mut self,
        transactions: Vec<Vec<u8>>,
        from_client: bool,
    ) -> Result<Vec<Result<TxHash, AdmitError>>> {
        // A client's transactions are forwarded once admitted: their bytes are kept until then.
        let copies: Vec<Vec<u8>> = if from_client {
            transactions.clone()
        } else {
            Vec::new()
        };
        let runtime = &self.runtime;
        let answers = self
            .mempool
            .admit_all(transactions, |sender| account_nonce(runtime, sender));
        let mut copies = copies.into_iter();
        for answer in &answers {
            let forwarded = copies.next();
            match answer {
                Ok(hash) => {
                    self.metrics.admitted.inc();
                    if let Some(bytes) = forwarded {
                        if self.submitted.len() < TRACKED_MAX {
                            self.submitted.insert(*hash, Instant::now());
                        }
                        self.forward.push(bytes);
                        if self.forward.len() >= FORWARD_BATCH {
                            self.flush_forward();
                        }
                    }
                }
                Err(error) => {
                    self.metrics.refused.inc();
                    tracing::debug!(%error, "transaction refused");
                }
            }
        }
        self.refill()?;
        Ok(answers)
    }

    fn flush_forward(&mut self) {
        if self.forward.is_empty() {
            return;
        }
        let frame = Bytes::from(encode_transactions(&std::mem::take(&mut self.forward)));
        for to in (0..self.members).filter(|&r| r != self.me) {
            self.net.send(to, frame.clone());
        }
    }

    /// Hands the core up to two blocks' worth of transactions when it holds less than one.
    fn refill(&mut self) -> Result<()> {
        let held = self.core.status().mempool;
        if held == 0 {
            // Nothing handed is outstanding: selection starts again from account nonces.
            if !self.handed.is_empty() {
                self.handed.clear();
                self.mempool.reconsider_all();
            }
        }
        // Only worth it once the core holds less than a block's worth.
        let max_block_txs = self.settings.max_block_txs;
        if held >= max_block_txs || self.mempool.is_empty() {
            return Ok(());
        }
        let room = 2 * max_block_txs - held;
        let (runtime, handed) = (&self.runtime, &self.handed);
        let chosen = self.mempool.select(room, usize::MAX, |sender| {
            let account = account_nonce(runtime, sender);
            handed.get(sender).map_or(account, |&n| n.max(account))
        });
        for bytes in chosen {
            if let Ok(signed) = SignedTransaction::from_bytes(&bytes) {
                self.handed.insert(signed.tx.sender, signed.tx.nonce + 1);
            }
            self.step(Input::Submit(bytes))?;
        }
        Ok(())
    }

    /// Carries out the core's actions in order (and those that executing blocks produces).
    fn perform(&mut self, actions: Vec<Action>) -> Result<()> {
        let mut queue: VecDeque<Action> = actions.into();
        // The pool is pruned and the core refilled once every decided block is executed: one
        // step may decide in several `Decided` actions, and a refill between them would hand
        // the core again a transaction of a block it decided but this node has not executed.
        let mut executed = false;
        while let Some(action) = queue.pop_front() {
            match action {
                Action::Persist { records, sync } => {
                    let started = Instant::now();
                    self.store
                        .persist(&records, sync)
                        .context("persisting consensus records")?;
                    if sync {
                        for record in &records {
                            if let Record::Safety(state) = record {
                                self.guard.record(state)?;
                            }
                        }
                    }
                    self.metrics
                        .persist_seconds
                        .observe(started.elapsed().as_secs_f64());
                }
                Action::Send { to, message } => {
                    self.net.send(to, consensus_frame(self.chain_id, &message));
                }
                Action::Broadcast(message) => {
                    let frame = Bytes::from(consensus_frame(self.chain_id, &message));
                    for to in (0..self.members).filter(|&r| r != self.me) {
                        self.net.send(to, frame.clone());
                    }
                }
                Action::SetTimer { view, after_ms } => {
                    self.timer = Some((view, Instant::now() + Duration::from_millis(after_ms)));
                }
                Action::Wake { view, after_ms } => {
                    self.wake = Some((view, Instant::now() + Duration::from_millis(after_ms)));
                }
                Action::Decided(blocks) if self.opaque.is_some() => {
                    queue.extend(self.execute_opaque(&blocks));
                }
                Action::Decided(blocks) => {
                    let decided_at_ms = now_ms();
                    for block in &blocks {
                        self.observe_finality(block, false);
                    }
                    for block in blocks {
                        if block.height != self.runtime.meta().height + 1 {
                            continue;
                        }
                        let header = self.execute(&block, decided_at_ms)?;
                        queue.extend(self.maybe_capture(&header));
                        queue.extend(self.core.step(now_ms(), Input::Executed { header }));
                    }
                    executed = true;
                }
                Action::Anchored(certificate) => {
                    tracing::debug!(height = certificate.header.height, "anchor certificate");
                    self.metrics
                        .anchored_height
                        .set(certificate.header.height as i64);
                    index::put_anchor(&self.store, &certificate)?;
                    queue.extend(self.on_anchored(&certificate));
                }
                Action::Prune { base, forget } => {
                    self.store.prune(&base, &forget).context("pruning blocks")?;
                    tracing::debug!(blocks = forget.len(), "pruned");
                }
                Action::Alarm(alarm) => {
                    self.metrics.alarms.inc();
                    if let Alarm::ExecutionDivergence {
                        height,
                        ours,
                        certified,
                    } = &alarm
                    {
                        bail!(
                            "execution diverged at height {height}: this node's state root is {}, \
                             the committee certified {} (prev root ours {}, theirs {}); halting",
                            hex::encode(ours.state_root),
                            hex::encode(certified.state_root),
                            hex::encode(ours.prev_root),
                            hex::encode(certified.prev_root),
                        );
                    }
                    tracing::error!(?alarm, "consensus alarm");
                }
            }
        }
        if executed {
            self.after_execution();
        }
        Ok(())
    }

    fn observe_finality(&mut self, block: &DecidedBlock, executed: bool) {
        if self.submitted.is_empty() {
            return;
        }
        for tx in &block.payload {
            let hash: TxHash = Sha256::digest(tx).into();
            let Some(at) = self.submitted.get(&hash) else {
                continue;
            };
            let seconds = at.elapsed().as_secs_f64();
            if executed {
                self.metrics.finality_executed.observe(seconds);
                self.submitted.remove(&hash);
                if self.finality.len() == FINALITY_SAMPLES {
                    self.finality.pop_front();
                }
                let now_ms = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64);
                self.finality.push_back((now_ms, (seconds * 1e3) as u64));
            } else {
                self.metrics.finality_decided.observe(seconds);
            }
        }
    }

    fn execute(
        &mut self,
        block: &DecidedBlock,
        decided_at_ms: u64,
    ) -> Result<curve_formats::batch::BatchHeader> {
        let batch = Batch {
            height: block.height,
            timestamp_ms: block.timestamp_ms,
            transactions: block.payload.clone(),
        };
        // The senders whose nonces this block may move: the pool prunes only them.
        self.executed_senders.extend(
            block
                .payload
                .iter()
                .filter_map(|tx| SignedTransaction::from_bytes(tx).ok())
                .map(|signed| signed.tx.sender),
        );
        let (mempool, store) = (&self.mempool, &self.store);
        let outcome = self
            .runtime
            .apply_batch_indexed(
                &batch,
                |hash| mempool.contains(hash),
                |header, receipts, payouts| {
                    index::executed_entries(
                        block,
                        header,
                        receipts,
                        payouts,
                        decided_at_ms,
                        |hash| index::located(store, hash),
                    )
                },
            )
            .map_err(|error| {
                anyhow!(
                    "executing decided height {}: {error}; halting",
                    block.height
                )
            })?;
        self.observe_finality(block, true);
        self.metrics
            .committed_transactions
            .inc_by(block.payload.len() as u64);
        // A rejected transaction left no trace (its nonce is still the sender's next): it
        // leaves the pool, and the sender's next transaction may take its nonce.
        for receipt in &outcome.receipts {
            if matches!(receipt.status, curve_runtime::Status::Rejected(_))
                && let Some((sender, nonce)) = self.mempool.evict(&receipt.tx_hash)
                && let Some(next) = self.handed.get_mut(&sender)
            {
                *next = (*next).min(nonce);
            }
        }
        Ok(outcome.header)
    }

    fn after_execution(&mut self) {
        let runtime = &self.runtime;
        let executed = std::mem::take(&mut self.executed_senders);
        self.mempool
            .prune_senders(&executed, |sender| account_nonce(runtime, sender));
        // Only these senders' nonces moved.
        for sender in &executed {
            if self
                .handed
                .get(sender)
                .is_some_and(|&next| next <= account_nonce(runtime, sender))
            {
                self.handed.remove(sender);
            }
        }
        if let Err(error) = self.refill() {
            tracing::error!(%error, "refilling the core's pool");
        }
    }

    /// `curve_status`'s answer.
    pub(crate) fn status_json(&self) -> Value {
        let status = self.core.status();
        json!({
            "chain_id": self.chain_id,
            "replica": self.me,
            "pid": std::process::id(),
            "view": status.view,
            "high_qc_view": status.high_qc_view,
            "decided_height": status.decided_height,
            "executed_height": self.executed_height(),
            "anchored_height": status.anchored_height,
            "base_height": status.base_height,
            "checkpoint_height": self.sync.newest().map_or(0, |s| s.checkpoint.height()),
            "state_root": hex::encode(self.runtime.root()),
            "consecutive_failures": status.consecutive_failures,
            "mempool": self.mempool.len(),
            "peers": self.peers,
            "last_voted_view": status.last_voted_view,
            "deposits_credited": self.runtime.meta().deposits_credited.to_string(),
            "withdrawals_finalised": self.runtime.meta().withdrawals_finalised.to_string(),
            "deposits_pooled": self.deposits.len(),
        })
    }

    /// The height executed: the runtime's, or a consensus-only node's hash chain's.
    fn executed_height(&self) -> u64 {
        match &self.opaque {
            Some(opaque) => opaque.next_height() - 1,
            None => self.runtime.meta().height,
        }
    }

    /// The next nonce of `sender` in the executed state.
    pub(crate) fn account_json(&self, sender: &PublicKey) -> Value {
        json!({
            // The dense id programs name the account by (a slab's or the router's `user`).
            "user": self.runtime.account(sender).map(|a| a.user),
            "nonce": account_nonce(&self.runtime, sender),
            "balance": self.runtime.balance(sender).to_string(),
            "exists": self.runtime.account(sender).is_some(),
        })
    }
}

/// The nonce `sender`'s next transaction must carry in the executed state.
fn account_nonce(runtime: &Runtime<RocksStorage>, sender: &PublicKey) -> u64 {
    runtime.account(sender).map_or(0, |a| a.nonce)
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
