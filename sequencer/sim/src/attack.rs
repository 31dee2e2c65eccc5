//! The coordinated adversary: f coalition replicas and control of delivery before GST, steered
//! through one [`Plan`] per seed.
//!
//! The engine sees every message any replica sends (a network adversary reads the wire) and
//! keeps what it needs to act: proposed blocks, vote signatures per (view, block) and timeout
//! shares per view, from which it assembles QCs and TCs exactly as a replica would (a certificate
//! is only a set of signatures). It acts in three ways, each something a real adversary can do:
//! - **hold** an honest message from a recipient until GST (the network is asynchronous before
//!   GST), or drop a coalition core's message;
//! - **sign** statements with coalition keys: timeouts reporting a chosen QC, votes, proposals,
//!   fetch answers for blocks only the coalition has;
//! - **crash** an honest replica right after a send (power loss) and restart it.
//!
//! It never signs for honest replicas and never alters their messages: every certificate it uses
//! carries signatures honest replicas really made.

use crate::scenario::{Attack, Plan};
use curve_consensus::types::{proposal_message, timeout_message, vote_message};
use curve_consensus::{
    Block, CertifiedBlock, Committee, ConsensusKey, Hash, Message, Proposal, QuorumCert, ReplicaId,
    Signature, Timeout, TimeoutCert, TimeoutShare, View, Vote,
};
use std::collections::{BTreeMap, BTreeSet};

/// How far a plan got (the sweep's coverage counts each stage).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    /// Waiting for the start view.
    #[default]
    Waiting,
    /// The first move was made (a QC harvested and hidden, a twin sent, a decide hidden).
    Started,
    /// The dangerous state was reached, where a correct replica must refuse what a buggy one
    /// accepts: a hidden QC across a view gap about to be seen by the victim alone
    /// ([`Plan::HiddenQcFork`]), a decide hidden from all but the victim
    /// ([`Plan::StaleProposal`]), the victim restarted and handed the twin of the block it voted
    /// for ([`Plan::RestartDoubleVote`]).
    Dangerous,
    /// The coalition sent the block only a buggy replica votes for, or started the certified
    /// chain on the twin.
    Struck,
    /// The plan could not proceed (the protocol refused a step it needed); nothing more is done.
    Aborted,
}

/// A message to put on the wire.
#[derive(Clone, Debug)]
pub struct Send {
    /// The sender (a coalition member, or the honest sender of a released message).
    pub from: ReplicaId,
    /// The recipient.
    pub to: ReplicaId,
    /// The message.
    pub message: Message,
}

/// What the simulator must do after an honest send.
#[derive(Default)]
pub struct Reaction {
    /// Messages to send now.
    pub sends: Vec<Send>,
    /// Crash this replica now and restart it after this many ms.
    pub crash: Option<(ReplicaId, u64)>,
}

/// The engine of one attack.
pub struct Engine {
    attack: Attack,
    chain_id: u64,
    committee: Committee,
    quorum: usize,
    /// Coalition members and their keys.
    keys: BTreeMap<ReplicaId, ConsensusKey>,
    /// Every block seen (proposals, fetch answers, the coalition's own), with its justify.
    blocks: BTreeMap<Hash, CertifiedBlock>,
    /// The first proposal seen per view.
    proposed: BTreeMap<View, Hash>,
    /// Vote signatures per (view, block).
    votes: BTreeMap<(View, Hash), BTreeMap<ReplicaId, Signature>>,
    timeouts: BTreeMap<View, BTreeMap<ReplicaId, (TimeoutShare, QuorumCert)>>,
    /// Blocks whose certificate must not reach anyone who does not already have it.
    secret: BTreeSet<Hash>,
    /// Blocks the coalition votes for (and for every proposal extending them).
    supported: BTreeSet<Hash>,
    /// (view, member) pairs the coalition has already signed a vote for.
    signed_votes: BTreeSet<(View, ReplicaId)>,
    /// Honest messages kept from their recipient, in send order.
    held: Vec<Send>,
    /// Recipient whose every incoming message is held (the crashed victim, until it votes).
    inbox_held: Option<ReplicaId>,
    /// [`Plan::RestartDoubleVote`]: the twin of the equivocator's block, and its proposal.
    twin: Option<Hash>,
    twin_proposal: Option<Proposal>,
    /// [`Plan::RestartDoubleVote`]: the victim voted for the twin after its restart.
    double_voted: bool,
    /// The stage reached.
    pub stage: Stage,
    /// The furthest stage reached (an abort does not lower it).
    pub reached: Stage,
    /// Print each move to stderr.
    pub trace: bool,
}

impl Engine {
    /// The engine for `attack`, with the coalition's keys.
    pub fn new(
        attack: Attack,
        chain_id: u64,
        committee: Committee,
        keys: BTreeMap<ReplicaId, ConsensusKey>,
    ) -> Engine {
        let quorum = committee.quorum();
        Engine {
            attack,
            chain_id,
            committee,
            quorum,
            keys,
            blocks: BTreeMap::new(),
            proposed: BTreeMap::new(),
            votes: BTreeMap::new(),
            timeouts: BTreeMap::new(),
            secret: BTreeSet::new(),
            supported: BTreeSet::new(),
            signed_votes: BTreeSet::new(),
            held: Vec::new(),
            inbox_held: None,
            twin: None,
            twin_proposal: None,
            double_voted: false,
            stage: Stage::Waiting,
            reached: Stage::Waiting,
            trace: false,
        }
    }

    fn v(&self) -> View {
        self.attack.view
    }

    fn leader(&self, view: View) -> ReplicaId {
        self.committee.leader(view)
    }

    fn members(&self) -> Vec<ReplicaId> {
        self.keys.keys().copied().collect()
    }

    fn advance(&mut self, stage: Stage) {
        if self.trace {
            eprintln!(
                "         attack {:?}: {:?} -> {stage:?}",
                self.attack.plan, self.stage
            );
        }
        self.stage = stage;
        if stage != Stage::Aborted {
            self.reached = self.reached.max(stage);
        }
    }

    /// Whether the plan has made its last move (or given up): the rest is up to the protocol.
    pub fn finished(&self) -> bool {
        let last = match self.attack.plan {
            Plan::HiddenQcFork => Stage::Dangerous,
            Plan::StaleProposal | Plan::RestartDoubleVote => Stage::Struck,
        };
        self.stage == last || self.stage == Stage::Aborted
    }

    /// Gives up: releases what is held and does nothing more.
    pub fn give_up(&mut self) -> Vec<Send> {
        self.abort()
    }

    fn abort(&mut self) -> Vec<Send> {
        self.advance(Stage::Aborted);
        self.secret.clear();
        self.inbox_held = None;
        std::mem::take(&mut self.held)
    }

    // ---- knowledge -----------------------------------------------------------------------

    /// Learns what `message` reveals (called for every message any replica sends).
    pub fn observe(&mut self, message: &Message) {
        match message {
            Message::Proposal(p) => {
                let hash = p.block.hash(self.chain_id);
                self.learn_qc(&p.justify);
                if let Some(tc) = &p.timeout_cert {
                    self.learn_tc(tc);
                }
                self.proposed.entry(p.block.view).or_insert(hash);
                self.blocks.entry(hash).or_insert_with(|| CertifiedBlock {
                    block: p.block.clone(),
                    justify: p.justify.clone(),
                });
            }
            Message::Vote(vote) => {
                self.votes
                    .entry((vote.view, vote.block))
                    .or_default()
                    .entry(vote.replica)
                    .or_insert(vote.signature);
            }
            Message::Timeout(t) => {
                self.learn_qc(&t.high_qc);
                if let Some(tc) = &t.last_tc {
                    self.learn_tc(tc);
                }
                let share = TimeoutShare {
                    high_qc_view: t.high_qc.view,
                    signature: t.signature,
                };
                self.timeouts
                    .entry(t.view)
                    .or_default()
                    .entry(t.replica)
                    .or_insert((share, t.high_qc.clone()));
            }
            Message::FetchResponse(block) => {
                self.learn_qc(&block.justify);
                let hash = block.block.hash(self.chain_id);
                self.blocks.entry(hash).or_insert_with(|| block.clone());
            }
            Message::FetchRequest(_) | Message::Attestation(_) => {}
        }
    }

    fn learn_qc(&mut self, qc: &QuorumCert) {
        let signers = self.votes.entry((qc.view, qc.block)).or_default();
        for (replica, signature) in &qc.votes {
            signers.entry(*replica).or_insert(*signature);
        }
    }

    fn learn_tc(&mut self, tc: &TimeoutCert) {
        self.learn_qc(&tc.high_qc);
        let shares = self.timeouts.entry(tc.view).or_default();
        for (replica, share) in &tc.shares {
            // The QC a share reported is only known when it is the TC's highest.
            if share.high_qc_view == tc.high_qc.view {
                shares
                    .entry(*replica)
                    .or_insert((*share, tc.high_qc.clone()));
            }
        }
    }

    /// A QC for `block` in `view` from the signatures seen, if there are a quorum.
    fn qc(&self, view: View, block: Hash) -> Option<QuorumCert> {
        let signers = self.votes.get(&(view, block))?;
        (signers.len() >= self.quorum).then(|| QuorumCert {
            view,
            block,
            votes: signers
                .iter()
                .take(self.quorum)
                .map(|(r, s)| (*r, *s))
                .collect(),
        })
    }

    /// A TC for `view` from the shares seen that report QCs no higher than `max_high_qc_view`,
    /// if there are a quorum of them.
    fn tc(&self, view: View, max_high_qc_view: View) -> Option<TimeoutCert> {
        let shares: Vec<(ReplicaId, &(TimeoutShare, QuorumCert))> = self
            .timeouts
            .get(&view)?
            .iter()
            .filter(|(_, (share, _))| share.high_qc_view <= max_high_qc_view)
            .map(|(r, entry)| (*r, entry))
            .take(self.quorum)
            .collect();
        if shares.len() < self.quorum {
            return None;
        }
        let high_qc = shares
            .iter()
            .map(|(_, (_, qc))| qc)
            .max_by_key(|qc| qc.view)
            .expect("a quorum is not empty")
            .clone();
        Some(TimeoutCert {
            view,
            shares: shares.iter().map(|(r, (share, _))| (*r, *share)).collect(),
            high_qc,
        })
    }

    /// Whether `hash` is `ancestor` or descends from it through known blocks.
    fn extends(&self, mut hash: Hash, ancestor: &Hash) -> bool {
        for _ in 0..1_000 {
            if hash == *ancestor {
                return true;
            }
            match self.blocks.get(&hash) {
                Some(block) if block.block.height > 0 => hash = block.block.parent,
                _ => return false,
            }
        }
        false
    }

    // ---- signing -------------------------------------------------------------------------

    fn key(&self, member: ReplicaId) -> &ConsensusKey {
        &self.keys[&member]
    }

    fn vote(&self, member: ReplicaId, view: View, block: Hash) -> Vote {
        Vote {
            view,
            block,
            replica: member,
            signature: self
                .key(member)
                .sign(&vote_message(self.chain_id, view, &block)),
        }
    }

    fn timeout(&self, member: ReplicaId, view: View, high_qc: QuorumCert) -> Timeout {
        Timeout {
            view,
            signature: self
                .key(member)
                .sign(&timeout_message(self.chain_id, view, high_qc.view)),
            high_qc,
            last_tc: None,
            replica: member,
        }
    }

    fn proposal(
        &self,
        block: Block,
        justify: QuorumCert,
        timeout_cert: Option<TimeoutCert>,
    ) -> Proposal {
        let signature = self
            .key(block.proposer)
            .sign(&proposal_message(self.chain_id, &block.hash(self.chain_id)));
        Proposal {
            block,
            justify,
            timeout_cert,
            signature,
        }
    }

    /// Every coalition member's timeout for `view` reporting `high_qc`, to everyone but `except`
    /// and the signer; the shares are learned too.
    fn coalition_timeouts(
        &mut self,
        view: View,
        high_qc: &QuorumCert,
        except: Option<ReplicaId>,
    ) -> Vec<Send> {
        let mut sends = Vec::new();
        for member in self.members() {
            let message = Message::Timeout(self.timeout(member, view, high_qc.clone()));
            self.observe(&message);
            for to in self.committee.members() {
                if to != member && Some(to) != except {
                    sends.push(Send {
                        from: member,
                        to,
                        message: message.clone(),
                    });
                }
            }
        }
        sends
    }

    /// Coalition votes for `block` of `view`, to the next leader, once per (view, member).
    fn coalition_votes(&mut self, view: View, block: Hash) -> Vec<Send> {
        let to = self.leader(view + 1);
        let mut sends = Vec::new();
        for member in self.members() {
            if !self.signed_votes.insert((view, member)) {
                continue;
            }
            let message = Message::Vote(self.vote(member, view, block));
            self.observe(&message);
            if to != member {
                sends.push(Send {
                    from: member,
                    to,
                    message,
                });
            }
        }
        sends
    }

    fn to_all(&self, from: ReplicaId, message: &Message, except: Option<ReplicaId>) -> Vec<Send> {
        self.committee
            .members()
            .filter(|to| *to != from && Some(*to) != except)
            .map(|to| Send {
                from,
                to,
                message: message.clone(),
            })
            .collect()
    }

    // ---- routing -------------------------------------------------------------------------

    /// Whether `message` carries a certificate for a secret block.
    fn leaks(&self, message: &Message) -> bool {
        let secret = |qc: &QuorumCert| self.secret.contains(&qc.block);
        let tc_leaks = |tc: &TimeoutCert| secret(&tc.high_qc);
        match message {
            Message::Proposal(p) => {
                secret(&p.justify) || p.timeout_cert.as_ref().is_some_and(tc_leaks)
            }
            Message::Timeout(t) => secret(&t.high_qc) || t.last_tc.as_ref().is_some_and(tc_leaks),
            Message::FetchResponse(b) => secret(&b.justify),
            Message::Vote(_) | Message::FetchRequest(_) | Message::Attestation(_) => false,
        }
    }

    /// Whether the honest `message` to `to` is held until GST.
    pub fn holds(&self, to: ReplicaId, message: &Message) -> bool {
        if self.stage == Stage::Aborted {
            return false;
        }
        if self.inbox_held == Some(to) || self.leaks(message) {
            return true;
        }
        let v = self.v();
        match (self.attack.plan, message) {
            // The hidden QCs: votes of `v` and `v + 1` never reach their collectors.
            (Plan::HiddenQcFork, Message::Vote(vote)) => {
                (vote.view == v || vote.view == v + 1) && to == self.leader(vote.view + 1)
            }
            // The twin's votes are harvested, never collected by the leader of `v + 1`; the
            // votes of `v + 1` wait until the victim has voted twice (or GST), so the first
            // block is not decided before the twin can be certified.
            (Plan::RestartDoubleVote, Message::Vote(vote)) => {
                (vote.view == v && Some(vote.block) == self.twin)
                    || (vote.view == v + 1 && to == self.leader(v + 2) && !self.double_voted)
            }
            // While the first branch's decide is hidden, honest leaders before the coalition's
            // turn would certify more of it.
            (Plan::RestartDoubleVote, Message::Proposal(p)) => {
                !self.secret.is_empty()
                    && self.stage < Stage::Struck
                    && p.block.view > v + 2
                    && p.block.view < self.coalition_view()
            }
            _ => false,
        }
    }

    /// Keeps an honest message until GST (or until the plan releases it).
    pub fn hold(&mut self, send: Send) {
        self.held.push(send);
    }

    /// Everything held, for delivery at GST.
    pub fn release_all(&mut self) -> Vec<Send> {
        self.inbox_held = None;
        std::mem::take(&mut self.held)
    }

    /// The first view after `v + 2` that a coalition member leads.
    fn coalition_view(&self) -> View {
        let v = self.v();
        (v + 3..v + 3 + self.committee.size() as u64)
            .find(|view| self.keys.contains_key(&self.leader(*view)))
            .expect("the coalition leads some view of every round")
    }

    // ---- reactions -----------------------------------------------------------------------

    /// Any replica (honest or coalition core) is about to send `message`: learn from it and
    /// make the plan's move, once per message whatever the number of recipients.
    pub fn react(&mut self, from: ReplicaId, message: &Message) -> Reaction {
        self.observe(message);
        let mut reaction = Reaction::default();
        if self.stage == Stage::Aborted {
            return reaction;
        }
        let v = self.v();
        match self.attack.plan {
            Plan::HiddenQcFork => self.hidden_qc_fork(from, message, &mut reaction),
            Plan::StaleProposal => match message {
                Message::Proposal(p)
                    if self.stage == Stage::Waiting
                        && p.block.view == v + 2
                        && from == self.leader(v + 2) =>
                {
                    reaction.sends = self.stale_proposal_hide(p);
                }
                Message::Timeout(t) if self.stage == Stage::Dangerous && t.view == v + 1 => {
                    reaction.sends = self.stale_proposal_strike();
                }
                _ => {}
            },
            Plan::RestartDoubleVote => self.restart_double_vote(from, message, &mut reaction),
        }
        reaction.sends.extend(self.support(message));
        reaction
    }

    /// Coalition votes for proposals that extend a supported block.
    fn support(&mut self, message: &Message) -> Vec<Send> {
        let Message::Proposal(p) = message else {
            return Vec::new();
        };
        let hash = p.block.hash(self.chain_id);
        if self.supported.iter().any(|s| self.extends(hash, s)) {
            self.coalition_votes(p.block.view, hash)
        } else {
            Vec::new()
        }
    }

    fn hidden_qc_fork(&mut self, from: ReplicaId, message: &Message, reaction: &mut Reaction) {
        let v = self.v();
        let Message::Proposal(p) = message else {
            return;
        };
        let Some(&first) = self.proposed.get(&v) else {
            return;
        };
        match self.stage {
            // The leader of `v + 1` never got the votes of `v`: it proposes a sibling of the
            // block of `v` on the TC of `v`. The coalition now reports the hidden QC of `v`, so
            // that `v + 2` certifies a child of the first block across the gap.
            Stage::Waiting if p.block.view == v + 1 && from == self.leader(v + 1) => {
                match self.qc(v, first) {
                    Some(qc) if p.block.parent != first => {
                        reaction.sends = self.coalition_timeouts(v + 1, &qc, None);
                        self.advance(Stage::Started);
                    }
                    _ => reaction.sends = self.abort(),
                }
            }
            // The victim leads `v + 3` on a QC of `v + 2` for that child: it is the only one who
            // knows it. Hide it, and report the sibling's QC of `v + 1` to everyone else, so the
            // chain continues on the sibling.
            Stage::Started
                if from == self.attack.victim
                    && p.block.view == v + 3
                    && p.justify.view == v + 2
                    && self
                        .blocks
                        .get(&p.justify.block)
                        .is_some_and(|b| b.block.parent == first) =>
            {
                let sibling = self.proposed.get(&(v + 1)).copied();
                match sibling.and_then(|s| self.qc(v + 1, s)) {
                    Some(qc) => {
                        self.secret.insert(p.justify.block);
                        reaction.sends =
                            self.coalition_timeouts(v + 2, &qc, Some(self.attack.victim));
                        self.advance(Stage::Dangerous);
                    }
                    None => reaction.sends = self.abort(),
                }
            }
            _ => {}
        }
    }

    /// [`Plan::StaleProposal`]: the coalition leader of `v + 2` certified the child of the block
    /// of `v`, which decides it. Only the victim gets that proposal; its QC is hidden from the
    /// rest, and the coalition times out of `v + 1` reporting the QC of `v`.
    fn stale_proposal_hide(&mut self, p: &Proposal) -> Vec<Send> {
        let v = self.v();
        let first = self.proposed.get(&v).copied();
        let child_justify = self.blocks.get(&p.justify.block).map(|b| b.justify.clone());
        match child_justify {
            Some(qc_v) if p.justify.view == v + 1 && Some(qc_v.block) == first => {
                self.secret.insert(p.justify.block);
                let sends = self.coalition_timeouts(v + 1, &qc_v, Some(self.attack.victim));
                self.advance(Stage::Dangerous);
                sends
            }
            _ => self.abort(),
        }
    }

    /// [`Plan::StaleProposal`], once the others have timed out of `v + 1`: the coalition leader
    /// of `v + 2` proposes a sibling of the decided block on the QC of `v - 1`, with the TC of
    /// `v + 1` whose shares report the QC of `v`.
    fn stale_proposal_strike(&mut self) -> Vec<Send> {
        let v = self.v();
        let Some(first) = self
            .proposed
            .get(&v)
            .and_then(|h| self.blocks.get(h))
            .cloned()
        else {
            return Vec::new();
        };
        let Some(tc) = self.tc(v + 1, v) else {
            return Vec::new();
        };
        let proposer = self.leader(v + 2);
        let block = Block {
            view: v + 2,
            height: first.block.height,
            parent: first.block.parent,
            proposer,
            timestamp_ms: first.block.timestamp_ms,
            payload: vec![b"stale sibling".to_vec()],
        };
        let hash = block.hash(self.chain_id);
        let proposal = Message::Proposal(self.proposal(block, first.justify.clone(), Some(tc)));
        self.observe(&proposal);
        self.supported.insert(hash);
        let mut sends = self.to_all(proposer, &proposal, Some(self.attack.victim));
        sends.extend(self.coalition_votes(v + 2, hash));
        self.advance(Stage::Struck);
        sends
    }

    fn restart_double_vote(&mut self, from: ReplicaId, message: &Message, reaction: &mut Reaction) {
        let v = self.v();
        let victim = self.attack.victim;
        match (self.stage, message) {
            // The coalition leader of `v` proposes: it makes a twin (routed to one side).
            (Stage::Waiting, Message::Proposal(p))
                if p.block.view == v && from == self.leader(v) =>
            {
                self.make_twin(p);
            }
            // The victim voted for the first block: power loss right after.
            (Stage::Started, Message::Vote(vote))
                if from == victim && vote.view == v && Some(vote.block) != self.twin =>
            {
                let restart_after = 5 + u64::from(vote.signature[0]) % 16;
                reaction.crash = Some((victim, restart_after));
                self.inbox_held = Some(victim);
            }
            // It voted again, for the twin: both blocks of `v` can be certified. What was held
            // for it, and the votes of `v + 1`, go on.
            (Stage::Dangerous, Message::Vote(vote))
                if from == victim && vote.view == v && Some(vote.block) == self.twin =>
            {
                self.double_voted = true;
                self.inbox_held = None;
                let decider = self.leader(v + 2);
                let (released, rest): (Vec<Send>, Vec<Send>) =
                    std::mem::take(&mut self.held).into_iter().partition(|s| {
                        s.to == victim
                            || (s.to == decider
                                && matches!(&s.message, Message::Vote(vote) if vote.view == v + 1))
                    });
                self.held = rest;
                reaction.sends = released;
            }
            // Handed the twin, the victim timed out of `v` instead of voting again: the
            // protocol held.
            (Stage::Dangerous, Message::Timeout(t))
                if from == victim && t.view == v && !self.double_voted =>
            {
                reaction.sends = self.abort();
            }
            // The leader of `v + 2` decided the first block: hide that QC, or give up if the
            // twin could not be certified.
            (Stage::Started | Stage::Dangerous, Message::Proposal(p))
                if from == self.leader(v + 2)
                    && p.block.view == v + 2
                    && p.justify.view == v + 1 =>
            {
                let twin_qc = self.twin.and_then(|twin| self.qc(v, twin));
                if twin_qc.is_some() && self.double_voted {
                    self.secret.insert(p.justify.block);
                } else {
                    reaction.sends = self.abort();
                }
            }
            // The coalition's turn: the certified chain starts on the twin.
            (Stage::Dangerous, Message::Proposal(p))
                if !self.secret.is_empty()
                    && p.block.view == self.coalition_view()
                    && from == self.leader(p.block.view) =>
            {
                reaction.sends = self.fork_on_twin(from, p.block.view);
            }
            _ => {}
        }
    }

    /// After the victim restarts: hand it the twin. This is the dangerous moment: a replica
    /// that forgot its vote signs a second one.
    pub fn on_restart(&mut self, replica: ReplicaId) -> Vec<Send> {
        if self.attack.plan != Plan::RestartDoubleVote
            || replica != self.attack.victim
            || self.stage != Stage::Started
            || self.inbox_held != Some(replica)
        {
            return Vec::new();
        }
        let Some(twin) = self.twin_proposal.clone() else {
            return Vec::new();
        };
        self.advance(Stage::Dangerous);
        vec![Send {
            from: self.leader(self.v()),
            to: replica,
            message: Message::Proposal(twin),
        }]
    }

    /// What a coalition member's core sends instead of `message` to `to` (after [`react`] saw
    /// the message once).
    ///
    /// [`react`]: Engine::react
    pub fn route_member(&self, member: ReplicaId, to: ReplicaId, message: &Message) -> Vec<Send> {
        let plain = vec![Send {
            from: member,
            to,
            message: message.clone(),
        }];
        // Fetches for blocks only the coalition has (the twin, its chain) are answered for it.
        if let Message::FetchRequest(hash) = message
            && self.keys.contains_key(&to)
            && let Some(block) = self.blocks.get(hash)
        {
            return vec![Send {
                from: to,
                to: member,
                message: Message::FetchResponse(block.clone()),
            }];
        }
        if self.stage == Stage::Aborted {
            return plain;
        }
        let v = self.v();
        match (self.attack.plan, message) {
            // The decide of the block of `v` reaches the victim alone.
            (Plan::StaleProposal, Message::Proposal(p))
                if p.block.view == v + 2 && member == self.leader(v + 2) =>
            {
                if to == self.attack.victim {
                    plain
                } else {
                    Vec::new()
                }
            }
            // The core's own votes in the views where the coalition proposes would pre-empt the
            // votes the coalition signs for its own proposal (a second vote counts for nothing).
            (Plan::StaleProposal, Message::Vote(vote)) if vote.view == v + 2 => Vec::new(),
            (Plan::RestartDoubleVote, Message::Vote(vote))
                if vote.view == self.coalition_view() && !self.supported.contains(&vote.block) =>
            {
                Vec::new()
            }
            _ if self.leaks(message) => Vec::new(),
            // The equivocation: the twin goes to one side, the first block to the rest.
            (Plan::RestartDoubleVote, Message::Proposal(p))
                if p.block.view == v && member == self.leader(v) =>
            {
                match &self.twin_proposal {
                    Some(twin) if self.attack.twin_side & (1 << to) != 0 => vec![Send {
                        from: member,
                        to,
                        message: Message::Proposal(twin.clone()),
                    }],
                    _ => plain,
                }
            }
            // The core's own proposal in the coalition's view gives way to the one on the twin.
            (Plan::RestartDoubleVote, Message::Proposal(p))
                if self.stage == Stage::Struck
                    && p.block.view == self.coalition_view()
                    && member == self.leader(p.block.view)
                    && !self.supported.contains(&p.block.hash(self.chain_id)) =>
            {
                Vec::new()
            }
            _ => plain,
        }
    }

    /// The twin of the equivocator's proposal, and the coalition's votes for it.
    fn make_twin(&mut self, p: &Proposal) {
        let mut block = p.block.clone();
        block.payload.push(b"twin".to_vec());
        let twin = self.proposal(block, p.justify.clone(), p.timeout_cert.clone());
        let hash = twin.block.hash(self.chain_id);
        self.twin = Some(hash);
        self.observe(&Message::Proposal(twin.clone()));
        for member in self.members() {
            let vote = Message::Vote(self.vote(member, p.block.view, hash));
            self.observe(&vote);
        }
        self.twin_proposal = Some(twin);
        self.advance(Stage::Started);
    }

    /// The coalition leader of `view` proposes on the twin's QC with the TC of `view - 1`.
    fn fork_on_twin(&mut self, proposer: ReplicaId, view: View) -> Vec<Send> {
        let v = self.v();
        let Some(twin) = self.twin.and_then(|t| self.blocks.get(&t)).cloned() else {
            return self.abort();
        };
        let twin_hash = twin.block.hash(self.chain_id);
        let (Some(justify), Some(tc)) = (self.qc(v, twin_hash), self.tc(view - 1, v)) else {
            return self.abort();
        };
        let block = Block {
            view,
            height: twin.block.height + 1,
            parent: twin_hash,
            proposer,
            timestamp_ms: twin.block.timestamp_ms,
            payload: vec![b"on the twin".to_vec()],
        };
        let hash = block.hash(self.chain_id);
        let proposal = Message::Proposal(self.proposal(block, justify, Some(tc)));
        self.observe(&proposal);
        self.supported.insert(hash);
        let mut sends = self.to_all(proposer, &proposal, None);
        sends.extend(self.coalition_votes(view, hash));
        self.advance(Stage::Struck);
        sends
    }
}
