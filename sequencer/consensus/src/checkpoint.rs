//! Checkpoints: what a replica needs to start from a recent decided block instead of replaying
//! the chain from genesis (state sync), and what lets it trust that block without its
//! ancestors.
//!
//! A [`Checkpoint`] is an anchor certificate (2f + 1 execution attestations of the batch header
//! at height H: height, state root, transactions root, timestamp), the decided block at H and a
//! quorum certificate of that block. [`Checkpoint::verify`] checks every signature against the
//! committee and that the block is the one the header describes (same height, timestamp and
//! transactions root), so a peer can serve a checkpoint without being trusted: the state it
//! sends afterwards must hash to the certified state root.

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
    /// A quorum certificate of `base` (the justify of its certified child).
    pub qc: QuorumCert,
}

/// Why a checkpoint is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// Too few signatures, a signer listed twice or out of order, or a bad signature.
    #[error("the anchor certificate is not signed by a quorum of the committee")]
    Certificate,
    /// The quorum certificate does not certify the block with a quorum.
    #[error("the quorum certificate does not certify the checkpoint block")]
    QuorumCert,
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
        let hash = block.hash(chain_id);
        if self.qc.block != hash || self.qc.view != block.view {
            return Err(CheckpointError::QuorumCert);
        }
        let vote = vote_message(chain_id, self.qc.view, &hash);
        if !quorum_signed(committee, verifier, &self.qc.votes, &vote) {
            return Err(CheckpointError::QuorumCert);
        }
        Ok(())
    }
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
        self.qc.encode(out);
    }
}

impl Decode for Checkpoint {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Checkpoint {
            certificate: AnchorCertificate::decode(reader)?,
            base: CertifiedBlock::decode(reader)?,
            qc: QuorumCert::decode(reader)?,
        })
    }
}
