//! Byzantine replicas: real cores whose outgoing messages are rewritten. Everything forged here
//! is signed with a Byzantine replica's own key (none can forge an honest one's), so whatever
//! they send is what up to f colluding operators could send.

use crate::attack::Engine;
use crate::scenario::{Behaviour, Rng};
use curve_consensus::types::{proposal_message, timeout_message, vote_message};
use curve_consensus::{
    Block, Committee, ConsensusKey, Message, Proposal, QuorumCert, ReplicaId, SignedAttestation,
    Timeout, View, Vote,
};
use std::collections::BTreeMap;

/// One transmission: wire bytes to a replica, after an extra delay.
pub struct Transmission {
    /// The sender (the Byzantine replica, or an accomplice signing alongside it).
    pub from: ReplicaId,
    /// The recipient.
    pub to: ReplicaId,
    /// The wire bytes (possibly undecodable).
    pub bytes: Vec<u8>,
    /// Added to the network delay.
    pub extra_delay_ms: u64,
}

/// The Byzantine replicas' state across a run.
pub struct Adversary {
    members: BTreeMap<ReplicaId, (Behaviour, ConsensusKey)>,
    chain_id: u64,
    committee: Committee,
    /// The conflicting twin of an equivocating leader's proposal in each view it led.
    twins: BTreeMap<View, Proposal>,
    /// Whether a leader has actually sent two conflicting proposals yet.
    pub equivocated: bool,
    /// The coordinated attack steering the [`Behaviour::Coalition`] members, if any.
    pub engine: Option<Engine>,
}

impl Adversary {
    /// The adversary controlling `members` (each with its behaviour and key).
    pub fn new(
        members: BTreeMap<ReplicaId, (Behaviour, ConsensusKey)>,
        committee: Committee,
        chain_id: u64,
        engine: Option<Engine>,
    ) -> Self {
        Adversary {
            members,
            chain_id,
            committee,
            twins: BTreeMap::new(),
            equivocated: false,
            engine,
        }
    }

    fn wire(&self, message: &Message) -> Vec<u8> {
        message.to_wire(self.chain_id)
    }

    fn now(&self, from: ReplicaId, to: ReplicaId, message: &Message) -> Transmission {
        Transmission {
            from,
            to,
            bytes: self.wire(message),
            extra_delay_ms: 0,
        }
    }

    /// What member `from` sends instead of `message` to `to`.
    pub fn rewrite(
        &mut self,
        from: ReplicaId,
        to: ReplicaId,
        message: Message,
        rng: &mut Rng,
    ) -> Vec<Transmission> {
        let (behaviour, key) = self.members[&from].clone();
        let plain = |this: &Self| vec![this.now(from, to, &message)];
        match behaviour {
            Behaviour::Silent => Vec::new(),
            Behaviour::WithholdFrom(mask) if mask & (1 << to) != 0 => Vec::new(),
            Behaviour::WithholdFrom(_) | Behaviour::Accomplice => plain(self),
            Behaviour::Coalition => match &self.engine {
                Some(engine) => engine
                    .route_member(from, to, &message)
                    .into_iter()
                    .map(|send| self.now(send.from, send.to, &send.message))
                    .collect(),
                None => plain(self),
            },
            Behaviour::Equivocate => match &message {
                Message::Proposal(p) => self.equivocate(from, &key, to, p, rng),
                _ => plain(self),
            },
            Behaviour::DoubleVote => match &message {
                Message::Vote(v) => {
                    let other = vote(&key, self.chain_id, from, v.view, rng.bytes32());
                    vec![
                        self.now(from, to, &message),
                        self.now(from, to, &Message::Vote(other)),
                    ]
                }
                _ => plain(self),
            },
            Behaviour::StaleQc => vec![self.now(from, to, &self.stale(&key, message))],
            Behaviour::FutureViewSpam => {
                let mut out = plain(self);
                out.extend(self.spam(from, &key, to, &message, rng));
                out
            }
            Behaviour::LieAttest => match message {
                Message::Attestation(mut a) => {
                    a.header.state_root = rng.bytes32();
                    let bytes =
                        curve_consensus::types::attestation_message(self.chain_id, &a.header);
                    a.signature = key.sign(&bytes);
                    vec![self.now(from, to, &Message::Attestation(a))]
                }
                other => vec![self.now(from, to, &other)],
            },
        }
    }

    /// Half the replicas get the real proposal first, half a twin with another payload; each
    /// then gets the other one later. Accomplices sign votes for the twin as their cores vote
    /// for the real block, so both gather Byzantine votes.
    fn equivocate(
        &mut self,
        from: ReplicaId,
        key: &ConsensusKey,
        to: ReplicaId,
        p: &Proposal,
        rng: &mut Rng,
    ) -> Vec<Transmission> {
        let view = p.block.view;
        let chain_id = self.chain_id;
        let mut out = Vec::new();
        if let std::collections::btree_map::Entry::Vacant(entry) = self.twins.entry(view) {
            let mut block = p.block.clone();
            block
                .payload
                .push(format!("twin of view {view}").into_bytes());
            let hash = block.hash(chain_id);
            let signature = key.sign(&proposal_message(chain_id, &hash));
            entry.insert(Proposal {
                block,
                signature,
                ..p.clone()
            });
            let next_leader = self.committee.leader(view + 1);
            for (member, (behaviour, member_key)) in &self.members {
                if *behaviour == Behaviour::Accomplice && *member != next_leader {
                    let vote = vote(member_key, chain_id, *member, view, hash);
                    out.push(self.now(*member, next_leader, &Message::Vote(vote)));
                }
            }
        }
        let twin = self.twins[&view].clone();
        self.equivocated = true;
        let (first, second) = if (u64::from(to) + view).is_multiple_of(2) {
            (Message::Proposal(p.clone()), Message::Proposal(twin))
        } else {
            (Message::Proposal(twin), Message::Proposal(p.clone()))
        };
        out.push(self.now(from, to, &first));
        out.push(Transmission {
            from,
            to,
            bytes: self.wire(&second),
            extra_delay_ms: rng.range(20, 400),
        });
        out
    }

    /// Timeouts report the genesis QC; proposals build on genesis.
    fn stale(&self, key: &ConsensusKey, message: Message) -> Message {
        let genesis = QuorumCert::genesis(self.chain_id);
        match message {
            Message::Timeout(t) => {
                let signature = key.sign(&timeout_message(self.chain_id, t.view, genesis.view));
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
                let signature =
                    key.sign(&proposal_message(self.chain_id, &block.hash(self.chain_id)));
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
    fn spam(
        &self,
        from: ReplicaId,
        key: &ConsensusKey,
        to: ReplicaId,
        message: &Message,
        rng: &mut Rng,
    ) -> Vec<Transmission> {
        let view = message.view().unwrap_or(1);
        let genesis = QuorumCert::genesis(self.chain_id);
        let far = view + rng.range(2, 100_000);
        let timeout = Timeout {
            view: far,
            high_qc: genesis.clone(),
            last_tc: None,
            replica: from,
            signature: key.sign(&timeout_message(self.chain_id, far, 0)),
        };
        let future_vote = vote(key, self.chain_id, from, far, rng.bytes32());
        let mut bad_signature = vote(key, self.chain_id, from, view, rng.bytes32());
        bad_signature.signature[7] ^= 1;
        let non_member = Vote {
            replica: 200,
            ..vote(key, self.chain_id, from, view, rng.bytes32())
        };
        let mut truncated = self.wire(message);
        truncated.truncate(rng.index(truncated.len().max(1)));
        let mut garbage = self.wire(message);
        let at = rng.index(garbage.len());
        garbage[at] ^= 0x5a;
        let forged_attestation = SignedAttestation {
            header: curve_formats::batch::BatchHeader {
                height: far,
                prev_root: rng.bytes32(),
                state_root: rng.bytes32(),
                transactions_root: [0; 32],
                withdrawal_root: [0; 32],
                withdrawal_count: 0,
                withdrawal_total: 0,
                timestamp_ms: 0,
            },
            replica: from,
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
        .map(|m| self.now(from, to, m))
        .collect();
        for bytes in [truncated, garbage, rng.bytes32().to_vec()] {
            out.push(Transmission {
                from,
                to,
                bytes,
                extra_delay_ms: 0,
            });
        }
        out
    }
}

fn vote(
    key: &ConsensusKey,
    chain_id: u64,
    replica: ReplicaId,
    view: View,
    block: [u8; 32],
) -> Vote {
    Vote {
        view,
        block,
        replica,
        signature: key.sign(&vote_message(chain_id, view, &block)),
    }
}
