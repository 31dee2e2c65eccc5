//! Checkpoints: what a replica needs to start from a recent decided block instead of replaying
//! the chain from genesis (state sync), and what lets it trust that block without its
//! ancestors.
//!
//! A [`Checkpoint`] is an anchor certificate (2f + 1 execution attestations of the batch header
//! at height H: height, state root, transactions root, timestamp), the decided block at H and a
//! proof that it was decided: the blocks above it up to a two-chain (a block b1 certified in the
//! view right after the view of its parent b0, which decides b0 and every ancestor) and the QC
//! of b1. [`Checkpoint::verify`] checks every signature against the committee, every parent link
//! and that the block is the one the header describes (same height, timestamp and transactions
//! root), so a peer can serve a checkpoint without being trusted: a certified twin of the block
//! that was never decided has no such proof, and the state sent afterwards must hash to the
//! certified state root.

use curve_formats::encoding::{Decode, DecodeError, Encode, Reader};
use curve_formats::merkle::MerkleTree;

use crate::committee::{Committee, Verifier};
use crate::types::{
    AnchorCertificate, CertifiedBlock, QuorumCert, ReplicaId, Signature, attestation_message,
    vote_message,
};

/// A decided block with the certificates that let a replica start from it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// 2f + 1 attestations of the header of the batch at the block's height.
    pub certificate: AnchorCertificate,
    /// The decided block at that height.
    pub base: CertifiedBlock,
    /// The blocks above `base`, each the parent of the next, the last (b1) certified in the view
    /// after its parent's: the two-chain that decided `base`.
    pub proof: Vec<CertifiedBlock>,
    /// The QC of the last block of `proof`.
    pub qc: QuorumCert,
}

/// Most blocks a decision proof may carry.
pub const PROOF_MAX: usize = 64;

/// Why a checkpoint is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// Too few signatures, a signer listed twice or out of order, or a bad signature.
    #[error("the anchor certificate is not signed by a quorum of the committee")]
    Certificate,
    /// A quorum certificate of the proof does not certify its block with a quorum.
    #[error("a quorum certificate of the decision proof is invalid")]
    QuorumCert,
    /// The proof does not chain up from the block to a two-chain.
    #[error("the decision proof does not show the checkpoint block decided: {0}")]
    NotDecided(&'static str),
    /// The block is not the one the header describes.
    #[error("the checkpoint block does not match the certified header: {0}")]
    Mismatch(&'static str),
}

impl Checkpoint {
    /// The checkpoint's height.
    pub fn height(&self) -> u64 {
        self.certificate.header.height
    }

    /// Checks every signature against `committee` and that the block is the certified one.
    pub fn verify(
        &self,
        chain_id: u64,
        committee: &Committee,
        verifier: &mut dyn Verifier,
    ) -> Result<(), CheckpointError> {
        let header = &self.certificate.header;
        let message = attestation_message(chain_id, header);
        if !quorum_signed(committee, verifier, &self.certificate.signatures, &message) {
            return Err(CheckpointError::Certificate);
        }
        let block = &self.base.block;
        if block.height != header.height {
            return Err(CheckpointError::Mismatch("height"));
        }
        if block.timestamp_ms != header.timestamp_ms {
            return Err(CheckpointError::Mismatch("timestamp"));
        }
        let transactions_root = MerkleTree::from_leaves(&block.payload)
            .map_err(|_| CheckpointError::Mismatch("transactions"))?
            .root();
        if transactions_root != header.transactions_root {
            return Err(CheckpointError::Mismatch("transactions root"));
        }
        if self.proof.is_empty() || self.proof.len() > PROOF_MAX {
            return Err(CheckpointError::NotDecided(
                "no blocks above the checkpoint",
            ));
        }
        // Every block's justify certifies its parent; the last block is certified by `qc`.
        let mut parent = &self.base;
        let mut parent_hash = parent.block.hash(chain_id);
        for child in &self.proof {
            let justify = &child.justify;
            if child.block.parent != parent_hash
                || justify.block != parent_hash
                || justify.view != parent.block.view
                || child.block.height != parent.block.height + 1
            {
                return Err(CheckpointError::NotDecided("a broken parent link"));
            }
            if !qc_valid(chain_id, committee, verifier, justify) {
                return Err(CheckpointError::QuorumCert);
            }
            parent = child;
            parent_hash = child.block.hash(chain_id);
        }
        let b1 = parent;
        if self.qc.block != parent_hash
            || self.qc.view != b1.block.view
            || !qc_valid(chain_id, committee, verifier, &self.qc)
        {
            return Err(CheckpointError::QuorumCert);
        }
        if b1.justify.view + 1 != b1.block.view {
            return Err(CheckpointError::NotDecided(
                "the last two views are not consecutive",
            ));
        }
        // The base's own justify is what this node will answer fetches with (the genesis QC,
        // which has no votes, for a block on genesis).
        let justify = &self.base.justify;
        let genesis = justify.view == 0 && *justify == QuorumCert::genesis(chain_id);
        if !genesis && !qc_valid(chain_id, committee, verifier, justify) {
            return Err(CheckpointError::QuorumCert);
        }
        Ok(())
    }

    /// The QC of the checkpoint block (the justify of the first proof block).
    pub fn base_qc(&self) -> Option<&QuorumCert> {
        self.proof.first().map(|child| &child.justify)
    }
}

/// Whether `qc` carries a quorum of valid votes for its block and view.
fn qc_valid(
    chain_id: u64,
    committee: &Committee,
    verifier: &mut dyn Verifier,
    qc: &QuorumCert,
) -> bool {
    let vote = vote_message(chain_id, qc.view, &qc.block);
    quorum_signed(committee, verifier, &qc.votes, &vote)
}

/// Whether `signatures` hold a quorum of distinct members' valid signatures over `message`.
fn quorum_signed(
    committee: &Committee,
    verifier: &mut dyn Verifier,
    signatures: &[(ReplicaId, Signature)],
    message: &[u8],
) -> bool {
    signatures.len() >= committee.quorum()
        && signatures.windows(2).all(|pair| pair[0].0 < pair[1].0)
        && signatures.iter().all(|(replica, signature)| {
            committee
                .key(*replica)
                .is_some_and(|key| verifier.verify(key, message, signature))
        })
}

impl Encode for Checkpoint {
    fn encode(&self, out: &mut Vec<u8>) {
        self.certificate.encode(out);
        self.base.encode(out);
        (self.proof.len() as u32).encode(out);
        for block in &self.proof {
            block.encode(out);
        }
        self.qc.encode(out);
    }
}

impl Decode for Checkpoint {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let certificate = AnchorCertificate::decode(reader)?;
        let base = CertifiedBlock::decode(reader)?;
        let count = reader.length(PROOF_MAX as u32)?;
        let mut proof = Vec::with_capacity(count);
        for _ in 0..count {
            proof.push(CertifiedBlock::decode(reader)?);
        }
        Ok(Checkpoint {
            certificate,
            base,
            proof,
            qc: QuorumCert::decode(reader)?,
        })
    }
}
