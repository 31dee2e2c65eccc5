//! Byzantine replicas: a real core whose outgoing messages are rewritten. Everything forged here
//! is signed with the replica's own key (it cannot forge others'), so whatever it sends is what a
//! malicious operator could send.

use crate::scenario::{Behaviour, Rng};
use curve_consensus::types::{proposal_message, timeout_message, vote_message};
use curve_consensus::{
    Block, ConsensusKey, Message, Proposal, QuorumCert, ReplicaId, SignedAttestation, Timeout,
    View, Vote,
};
use std::collections::BTreeMap;

/// One transmission: wire bytes to a replica, after an extra delay.
pub struct Transmission {
    /// The recipient.
    pub to: ReplicaId,
    /// The wire bytes (possibly undecodable).
    pub bytes: Vec<u8>,
    /// Added to the network delay.
    pub extra_delay_ms: u64,
}

/// The Byzantine replica's state across a run.
pub struct Adversary {
    /// The replica.
    pub replica: ReplicaId,
    /// What it does.
    pub behaviour: Behaviour,
    key: ConsensusKey,
    chain_id: u64,
    /// The conflicting twin of its proposal in each view it led.
    twins: BTreeMap<View, Proposal>,
    /// Whether it has actually sent two conflicting proposals yet.
    pub equivocated: bool,
}

impl Adversary {
    /// The adversary controlling `replica` with `key`.
    pub fn new(replica: ReplicaId, behaviour: Behaviour, key: ConsensusKey, chain_id: u64) -> Self {
        Adversary {
            replica,
            behaviour,
            key,
            chain_id,
            twins: BTreeMap::new(),
            equivocated: false,
        }
    }

    fn wire(&self, message: &Message) -> Vec<u8> {
        message.to_wire(self.chain_id)
    }

    fn now(&self, to: ReplicaId, message: &Message) -> Transmission {
        Transmission {
            to,
            bytes: self.wire(message),
            extra_delay_ms: 0,
        }
    }

    /// What it sends instead of `message` to `to`.
    pub fn rewrite(&mut self, to: ReplicaId, message: Message, rng: &mut Rng) -> Vec<Transmission> {
        match self.behaviour {
            Behaviour::Silent => Vec::new(),
            Behaviour::WithholdFrom(mask) if mask & (1 << to) != 0 => Vec::new(),
            Behaviour::WithholdFrom(_) => vec![self.now(to, &message)],
            Behaviour::Equivocate => match &message {
                Message::Proposal(p) => self.equivocate(to, p, rng),
                _ => vec![self.now(to, &message)],
            },
            Behaviour::DoubleVote => match &message {
                Message::Vote(v) => {
                    let other = self.vote(v.view, rng.bytes32());
                    vec![self.now(to, &message), self.now(to, &Message::Vote(other))]
                }
                _ => vec![self.now(to, &message)],
            },
            Behaviour::StaleQc => vec![self.now(to, &self.stale(message))],
            Behaviour::FutureViewSpam => {
                let mut out = vec![self.now(to, &message)];
                out.extend(self.spam(to, &message, rng));
                out
            }
            Behaviour::LieAttest => match message {
                Message::Attestation(mut a) => {
                    a.attestation.state_root = rng.bytes32();
                    let bytes =
                        curve_consensus::types::attestation_message(self.chain_id, &a.attestation);
                    a.signature = self.key.sign(&bytes);
                    vec![self.now(to, &Message::Attestation(a))]
                }
                other => vec![self.now(to, &other)],
            },
        }
    }

    fn vote(&self, view: View, block: [u8; 32]) -> Vote {
        Vote {
            view,
            block,
            replica: self.replica,
            signature: self.key.sign(&vote_message(self.chain_id, view, &block)),
        }
    }

    /// Half the replicas get the real proposal first, half a twin with another payload; each
    /// then gets the other one later.
    fn equivocate(&mut self, to: ReplicaId, p: &Proposal, rng: &mut Rng) -> Vec<Transmission> {
        let view = p.block.view;
        let chain_id = self.chain_id;
        let key = self.key.clone();
        let twin = self
            .twins
            .entry(view)
            .or_insert_with(|| {
                let mut block = p.block.clone();
                block
                    .payload
                    .push(format!("twin of view {view}").into_bytes());
                let signature = key.sign(&proposal_message(chain_id, &block.hash(chain_id)));
                Proposal {
                    block,
                    signature,
                    ..p.clone()
                }
            })
            .clone();
        self.equivocated = true;
        let (first, second) = if (u64::from(to) + view).is_multiple_of(2) {
            (Message::Proposal(p.clone()), Message::Proposal(twin))
        } else {
            (Message::Proposal(twin), Message::Proposal(p.clone()))
        };
        vec![
            self.now(to, &first),
            Transmission {
                to,
                bytes: self.wire(&second),
                extra_delay_ms: rng.range(20, 400),
            },
        ]
    }

    /// Timeouts report the genesis QC; proposals build on genesis.
    fn stale(&self, message: Message) -> Message {
        let genesis = QuorumCert::genesis(self.chain_id);
        match message {
            Message::Timeout(t) => {
                let signature =
                    self.key
                        .sign(&timeout_message(self.chain_id, t.view, genesis.view));
                Message::Timeout(Timeout {
                    high_qc: genesis,
                    signature,
                    ..t
                })
            }
            Message::Proposal(p) => {
                let block = Block {
                    height: 1,
                    parent: genesis.block,
                    ..p.block
                };
                let signature = self
                    .key
                    .sign(&proposal_message(self.chain_id, &block.hash(self.chain_id)));
                Message::Proposal(Proposal {
                    block,
                    justify: genesis,
                    signature,
                    ..p
                })
            }
            other => other,
        }
    }

    /// Far-future statements with valid signatures, a bad signature, a non-member claim and
    /// undecodable bytes.
    fn spam(&self, to: ReplicaId, message: &Message, rng: &mut Rng) -> Vec<Transmission> {
        let view = message.view().unwrap_or(1);
        let genesis = QuorumCert::genesis(self.chain_id);
        let far = view + rng.range(2, 100_000);
        let timeout = Timeout {
            view: far,
            high_qc: genesis.clone(),
            last_tc: None,
            replica: self.replica,
            signature: self.key.sign(&timeout_message(self.chain_id, far, 0)),
        };
        let future_vote = self.vote(far, rng.bytes32());
        let mut bad_signature = self.vote(view, rng.bytes32());
        bad_signature.signature[7] ^= 1;
        let non_member = Vote {
            replica: 200,
            ..self.vote(view, rng.bytes32())
        };
        let mut truncated = self.wire(message);
        truncated.truncate(rng.index(truncated.len().max(1)));
        let mut garbage = self.wire(message);
        let at = rng.index(garbage.len());
        garbage[at] ^= 0x5a;
        let forged_attestation = SignedAttestation {
            attestation: curve_formats::batch::Attestation {
                first_height: 1,
                last_height: far,
                state_root: rng.bytes32(),
                replica: self.replica,
            },
            signature: [9; 64],
        };
        let mut out: Vec<Transmission> = [
            Message::Timeout(timeout),
            Message::Vote(future_vote),
            Message::Vote(bad_signature),
            Message::Vote(non_member),
            Message::Attestation(forged_attestation),
            Message::FetchRequest(rng.bytes32()),
        ]
        .iter()
        .map(|m| self.now(to, m))
        .collect();
        for bytes in [truncated, garbage, rng.bytes32().to_vec()] {
            out.push(Transmission {
                to,
                bytes,
                extra_delay_ms: 0,
            });
        }
        out
    }
}
