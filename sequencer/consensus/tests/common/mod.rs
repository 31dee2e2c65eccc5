//! Shared helpers: a four-replica committee with known keys, and signed protocol messages.
#![allow(dead_code)] // each test file uses a different subset

use curve_consensus::types::{proposal_message, timeout_message, vote_message};
use curve_consensus::{
    Action, Block, CertifiedBlock, Committee, Config, ConsensusKey, Core, Ed25519Verifier, Hash,
    Proposal, QuorumCert, ReplicaId, SignedAttestation, Timeout, TimeoutCert, TimeoutShare, View,
    Vote,
};
use curve_formats::batch::BatchHeader;

pub const CHAIN: u64 = 7;
pub const N: usize = 4;
/// The clock every scripted replica runs at (timestamps of test proposals equal it).
pub const NOW: u64 = 1_000_000;

pub fn key(i: usize) -> ConsensusKey {
    ConsensusKey::from_seed(&[i as u8 + 1; 32])
}

pub fn committee() -> Committee {
    let keys: Vec<[u8; 32]> = (0..N).map(|i| key(i).public()).collect();
    Committee::new(&keys).unwrap()
}

pub fn config(me: ReplicaId) -> Config {
    let mut config = Config::new(CHAIN, committee(), me);
    config.base_timeout_ms = 1_000;
    config.max_timeout_ms = 8_000;
    config.attest_every = 2;
    config.max_block_txs = 4;
    config
}

pub fn replica(me: ReplicaId) -> (Core, Vec<Action>) {
    Core::new(
        config(me),
        key(usize::from(me)),
        Box::new(Ed25519Verifier),
        NOW,
    )
    .unwrap()
}

pub fn leader(view: View) -> ReplicaId {
    (view % N as u64) as ReplicaId
}

pub fn genesis() -> CertifiedBlock {
    CertifiedBlock {
        block: Block::genesis(),
        justify: QuorumCert::genesis(CHAIN),
    }
}

pub fn hash(block: &CertifiedBlock) -> Hash {
    block.block.hash(CHAIN)
}

pub fn qc(view: View, block: Hash, signers: &[usize]) -> QuorumCert {
    QuorumCert {
        view,
        block,
        votes: signers
            .iter()
            .map(|i| {
                (
                    *i as ReplicaId,
                    key(*i).sign(&vote_message(CHAIN, view, &block)),
                )
            })
            .collect(),
    }
}

pub fn certify(block: &CertifiedBlock) -> QuorumCert {
    qc(block.block.view, hash(block), &[0, 1, 2])
}

/// A proposal by the leader of `view` extending `parent` with `justify`.
pub fn propose(
    view: View,
    parent: &CertifiedBlock,
    justify: QuorumCert,
    timeout_cert: Option<TimeoutCert>,
    payload: Vec<Vec<u8>>,
) -> Proposal {
    let block = Block {
        view,
        height: parent.block.height + 1,
        parent: hash(parent),
        proposer: leader(view),
        timestamp_ms: NOW,
        payload,
    };
    let signature =
        key(usize::from(leader(view))).sign(&proposal_message(CHAIN, &block.hash(CHAIN)));
    Proposal {
        block,
        justify,
        timeout_cert,
        signature,
    }
}

pub fn certified(p: &Proposal) -> CertifiedBlock {
    CertifiedBlock {
        block: p.block.clone(),
        justify: p.justify.clone(),
    }
}

pub fn timeout(
    i: usize,
    view: View,
    high_qc: &QuorumCert,
    last_tc: Option<TimeoutCert>,
) -> Timeout {
    Timeout {
        view,
        high_qc: high_qc.clone(),
        last_tc,
        replica: i as ReplicaId,
        signature: key(i).sign(&timeout_message(CHAIN, view, high_qc.view)),
    }
}

pub fn tc(view: View, shares: &[(usize, &QuorumCert)]) -> TimeoutCert {
    let high_qc = shares
        .iter()
        .map(|(_, q)| *q)
        .max_by_key(|q| q.view)
        .unwrap()
        .clone();
    TimeoutCert {
        view,
        shares: shares
            .iter()
            .map(|(i, q)| {
                let share = TimeoutShare {
                    high_qc_view: q.view,
                    signature: key(*i).sign(&timeout_message(CHAIN, view, q.view)),
                };
                (*i as ReplicaId, share)
            })
            .collect(),
        high_qc,
    }
}

pub fn vote(i: usize, view: View, block: Hash) -> Vote {
    Vote {
        view,
        block,
        replica: i as ReplicaId,
        signature: key(i).sign(&vote_message(CHAIN, view, &block)),
    }
}

/// Replica `i`'s attestation of a batch at `height` whose state root is `root` (the other header
/// fields are fixed, so two attestations with one height and root are equal).
pub fn attestation(i: usize, height: u64, root: Hash) -> SignedAttestation {
    let header = batch_header(height, root);
    SignedAttestation {
        signature: key(i).sign(&curve_consensus::types::attestation_message(CHAIN, &header)),
        header,
        replica: i as ReplicaId,
    }
}

/// A batch header at `height` with state root `root`.
pub fn batch_header(height: u64, root: Hash) -> BatchHeader {
    BatchHeader {
        height,
        prev_root: [0x11; 32],
        state_root: root,
        transactions_root: [0x22; 32],
        withdrawal_root: [0x33; 32],
        withdrawal_count: 0,
        withdrawal_total: 0,
        timestamp_ms: height.saturating_mul(1_000),
    }
}
