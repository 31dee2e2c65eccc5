//! What the core asks its driver to store, and reads back on restart.
//!
//! The driver keeps one value per [`Record::key`] (a later record with the same key replaces the
//! earlier one). Records of one [`crate::Action::Persist`] are written atomically and in order, and
//! persists are applied in the order the core emits them, so whatever survives a crash is a prefix
//! of what the core wrote. `sync: true` means durable before the driver executes the next action:
//! the core relies on it for everything it has signed.

use crate::types::{CertifiedBlock, Hash, QuorumCert, TimeoutCert, View};
use curve_formats::encoding::{Decode, DecodeError, DecodeErrorKind, Encode, Reader};

/// The key prefix of [`Record::Block`]s.
pub const BLOCK_PREFIX: &[u8] = b"block/";

/// The safety-critical state: never sign a conflicting vote or proposal after a restart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SafetyState {
    /// The highest view this replica voted or timed out in; it never votes in a view ≤ this.
    pub last_voted_view: View,
    /// The highest view this replica proposed in; it never proposes in a view ≤ this.
    pub last_proposed_view: View,
    /// Its highest QC (the Jolteon lock: timeouts report it, and no TC can skip it).
    pub high_qc: QuorumCert,
    /// The TC it entered its current view with, if any.
    pub last_tc: Option<TimeoutCert>,
}

impl Encode for SafetyState {
    fn encode(&self, out: &mut Vec<u8>) {
        self.last_voted_view.encode(out);
        self.last_proposed_view.encode(out);
        self.high_qc.encode(out);
        self.last_tc.encode(out);
    }
}

impl Decode for SafetyState {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(SafetyState {
            last_voted_view: u64::decode(reader)?,
            last_proposed_view: u64::decode(reader)?,
            high_qc: QuorumCert::decode(reader)?,
            last_tc: Option::decode(reader)?,
        })
    }
}

/// One stored item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// The safety state (key `safety`).
    Safety(SafetyState),
    /// A block whose ancestors are all stored (key `block/` ‖ hash). The hash is stored
    /// beside it, so writing the record never hashes the block again (a full block is
    /// megabytes); [`Record::intact`] checks it when the record is read back.
    Block {
        /// [`crate::Block::hash`] of the block.
        hash: Hash,
        /// The block and the QC it extends.
        block: CertifiedBlock,
    },
    /// The highest decided block (key `decided`).
    Decided {
        /// Its height.
        height: u64,
        /// Its hash.
        block: Hash,
    },
    /// The oldest block kept (key `base`): a decided block the replica starts from instead of
    /// genesis once older blocks are pruned or a checkpoint was installed; every stored block
    /// descends from it.
    Base {
        /// The block.
        block: CertifiedBlock,
        /// A quorum certificate of the block (the justify of its certified child).
        qc: QuorumCert,
    },
}

impl Record {
    /// The storage key: records with equal keys replace each other.
    pub fn key(&self) -> Vec<u8> {
        match self {
            Record::Safety(_) => b"safety".to_vec(),
            Record::Block { hash, .. } => Record::block_key(hash),
            Record::Decided { .. } => b"decided".to_vec(),
            Record::Base { .. } => b"base".to_vec(),
        }
    }

    /// Whether a record read back is what its writer stored: a block record's hash is its
    /// block's hash on `chain_id` (the other records carry nothing derived).
    pub fn intact(&self, chain_id: u64) -> bool {
        match self {
            Record::Block { hash, block } => block.block.hash(chain_id) == *hash,
            _ => true,
        }
    }

    /// The key of the block record of the block hashing to `hash`.
    pub fn block_key(hash: &Hash) -> Vec<u8> {
        let mut key = BLOCK_PREFIX.to_vec();
        key.extend_from_slice(hash);
        key
    }
}

impl Encode for Record {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Record::Safety(s) => {
                0u8.encode(out);
                s.encode(out);
            }
            Record::Block { hash, block } => {
                1u8.encode(out);
                hash.encode(out);
                block.encode(out);
            }
            Record::Decided { height, block } => {
                2u8.encode(out);
                height.encode(out);
                block.encode(out);
            }
            Record::Base { block, qc } => {
                3u8.encode(out);
                block.encode(out);
                qc.encode(out);
            }
        }
    }
}

impl Decode for Record {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let at = reader.offset();
        match u8::decode(reader)? {
            0 => Ok(Record::Safety(SafetyState::decode(reader)?)),
            1 => Ok(Record::Block {
                hash: reader.array()?,
                block: CertifiedBlock::decode(reader)?,
            }),
            2 => Ok(Record::Decided {
                height: u64::decode(reader)?,
                block: reader.array()?,
            }),
            3 => Ok(Record::Base {
                block: CertifiedBlock::decode(reader)?,
                qc: QuorumCert::decode(reader)?,
            }),
            other => Err(DecodeError {
                offset: at,
                kind: DecodeErrorKind::InvalidDiscriminant(other),
            }),
        }
    }
}
