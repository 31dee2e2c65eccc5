//! Safety checkers: what must hold at every step, whatever the network, crashes and up to f
//! Byzantine replicas do. They see everything honest replicas output and send.

use curve_consensus::{AnchorCertificate, DecidedBlock, Hash, Message, ReplicaId, View};
use curve_formats::batch::BatchHeader;
use std::collections::BTreeMap;

/// What kind of invariant broke, most severe first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// Two honest replicas decided different blocks at one height, or one replica decided a
    /// different block at a height after a restart: safety is lost.
    ConflictingDecide,
    /// An honest replica's decided log has a gap.
    DecidedLog,
    /// An honest replica signed two conflicting votes, proposals or attestations.
    DoubleSign,
    /// An anchor certificate for a root honest replicas did not compute, or two for one range.
    Anchor,
    /// An honest replica raised an alarm that only more than f faults can cause.
    Alarm,
    /// A replica could not restart from what its store kept.
    Restart,
    /// After GST, an honest replica decided nothing new in time, or the run stalled.
    Liveness,
}

impl Kind {
    /// Whether the run stops here: after a lost decide, a broken log or a failed restart nothing
    /// later is meaningful; the others are recorded and the run goes on, so that what they lead
    /// to (a conflicting decide) is seen too.
    pub fn ends_run(self) -> bool {
        matches!(
            self,
            Kind::ConflictingDecide | Kind::DecidedLog | Kind::Restart | Kind::Liveness
        )
    }
}

/// A broken invariant: its kind and what happened, in words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Broken {
    /// The kind.
    pub kind: Kind,
    /// What happened.
    pub what: String,
}

impl Broken {
    /// A finding of `kind`.
    pub fn new(kind: Kind, what: String) -> Broken {
        Broken { kind, what }
    }
}

/// What honest replicas have decided, signed and attested so far.
#[derive(Default)]
pub struct Checker {
    /// Height → the block decided there and the first replica that decided it.
    decided: BTreeMap<u64, (Hash, ReplicaId)>,
    /// Each replica's decided log, across restarts.
    logs: BTreeMap<ReplicaId, Vec<Hash>>,
    votes: BTreeMap<(ReplicaId, View), Hash>,
    proposals: BTreeMap<(ReplicaId, View), Hash>,
    /// Attested height → the header an honest replica attested.
    headers: BTreeMap<u64, (BatchHeader, ReplicaId)>,
    anchors: BTreeMap<u64, BatchHeader>,
}

fn short(hash: &Hash) -> String {
    hash.iter().take(4).map(|b| format!("{b:02x}")).collect()
}

impl Checker {
    /// An honest replica decided `blocks` (after a restart it may re-announce heights it decided
    /// before; they must be the same blocks).
    pub fn decided(&mut self, replica: ReplicaId, blocks: &[DecidedBlock]) -> Result<(), Broken> {
        let log = self.logs.entry(replica).or_default();
        for block in blocks {
            let height = block.height;
            if height == 0 || height > log.len() as u64 + 1 {
                return Err(Broken::new(
                    Kind::DecidedLog,
                    format!(
                        "replica {replica} decided height {height} with only {} decided: \
                         decided logs must be gapless",
                        log.len()
                    ),
                ));
            }
            if height <= log.len() as u64 {
                let before = log[height as usize - 1];
                if before != block.hash {
                    return Err(Broken::new(
                        Kind::ConflictingDecide,
                        format!(
                            "replica {replica} decided {} at height {height} after deciding {} \
                             there before a restart",
                            short(&block.hash),
                            short(&before)
                        ),
                    ));
                }
                continue;
            }
            log.push(block.hash);
            match self.decided.get(&height) {
                Some((other, by)) if *other != block.hash => {
                    return Err(Broken::new(
                        Kind::ConflictingDecide,
                        format!(
                            "two blocks decided at height {height}: {} by replica {by} and {} by \
                             replica {replica}",
                            short(other),
                            short(&block.hash)
                        ),
                    ));
                }
                Some(_) => {}
                None => {
                    self.decided.insert(height, (block.hash, replica));
                }
            }
        }
        Ok(())
    }

    /// An honest replica sent `message`: it must never contradict what it signed before.
    pub fn sent(
        &mut self,
        replica: ReplicaId,
        message: &Message,
        chain_id: u64,
    ) -> Result<(), Broken> {
        match message {
            Message::Vote(vote) => {
                let earlier = *self.votes.entry((replica, vote.view)).or_insert(vote.block);
                if earlier != vote.block {
                    return Err(Broken::new(
                        Kind::DoubleSign,
                        format!(
                            "honest replica {replica} voted for {} and {} in view {}",
                            short(&earlier),
                            short(&vote.block),
                            vote.view
                        ),
                    ));
                }
            }
            Message::Proposal(p) => {
                let hash = p.block.hash(chain_id);
                let earlier = *self
                    .proposals
                    .entry((replica, p.block.view))
                    .or_insert(hash);
                if earlier != hash {
                    return Err(Broken::new(
                        Kind::DoubleSign,
                        format!(
                            "honest replica {replica} proposed {} and {} in view {}",
                            short(&earlier),
                            short(&hash),
                            p.block.view
                        ),
                    ));
                }
            }
            Message::Attestation(a) => {
                let (header, by) = *self
                    .headers
                    .entry(a.header.height)
                    .or_insert((a.header, replica));
                if header != a.header {
                    return Err(Broken::new(
                        Kind::DoubleSign,
                        format!(
                            "honest replicas {by} and {replica} attested different headers at \
                             height {}",
                            a.header.height
                        ),
                    ));
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// An honest replica formed an anchor certificate: it must certify what honest replicas
    /// computed, and agree with every other certificate for the height.
    pub fn anchored(&mut self, replica: ReplicaId, cert: &AnchorCertificate) -> Result<(), Broken> {
        let height = cert.header.height;
        if let Some((header, _)) = self.headers.get(&height)
            && *header != cert.header
        {
            return Err(Broken::new(
                Kind::Anchor,
                format!(
                    "replica {replica} anchored root {} at height {height} but honest replicas \
                     computed root {}",
                    short(&cert.header.state_root),
                    short(&header.state_root)
                ),
            ));
        }
        let anchored = *self.anchors.entry(height).or_insert(cert.header);
        if anchored != cert.header {
            return Err(Broken::new(
                Kind::Anchor,
                format!("two anchor certificates for height {height}"),
            ));
        }
        Ok(())
    }

    /// The highest height any honest replica decided.
    pub fn max_decided(&self) -> u64 {
        self.decided.keys().next_back().copied().unwrap_or(0)
    }

    /// How far `replica` has decided.
    pub fn decided_height(&self, replica: ReplicaId) -> u64 {
        self.logs.get(&replica).map_or(0, |log| log.len() as u64)
    }

    /// Anchor certificates formed.
    pub fn anchors(&self) -> usize {
        self.anchors.len()
    }
}
