//! SHA-256 Merkle trees (version 1) for withdrawal and settlement payouts.
//!
//! - Leaf hash: `SHA-256(0x00 ‖ leaf bytes)`; node: `SHA-256(0x01 ‖ left ‖ right)`. The prefixes
//!   keep a leaf from being presented as a node and the reverse (RFC 6962).
//! - The leaves are padded to the next power of two with `SHA-256(0x02)`, so every proof of a
//!   tree of `count` leaves has exactly `depth(count) = ⌈log2 count⌉` siblings; any other length
//!   is rejected.
//! - The leaf count is committed beside the root (the batch header holds both) and the verifier
//!   takes it as an input: index ≥ count is rejected.
//! - An empty tree's root is the padding hash; nothing verifies against it.
//!
//! [`verify`] allocates nothing and needs only `sha2`, so the Anchor program runs it unchanged.

use crate::encoding::{
    Decode, DecodeError, DecodeErrorKind, Encode, Reader, decode_seq, encode_seq,
};
use alloc::vec::Vec;
use sha2::{Digest, Sha256};

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// Prefix of leaf hashes.
pub const LEAF_PREFIX: u8 = 0x00;
/// Prefix of node hashes.
pub const NODE_PREFIX: u8 = 0x01;
/// Prefix of the padding hash.
pub const PADDING_PREFIX: u8 = 0x02;
/// Prefix of a root committed together with its leaf count.
pub const COUNTED_ROOT_PREFIX: u8 = 0x03;
/// Deepest tree: 2^32 leaves.
pub const DEPTH_MAX: u32 = 32;

/// `SHA-256(0x00 ‖ leaf)`.
pub fn hash_leaf(leaf: &[u8]) -> Hash {
    Sha256::new()
        .chain_update([LEAF_PREFIX])
        .chain_update(leaf)
        .finalize()
        .into()
}

/// `SHA-256(0x01 ‖ left ‖ right)`.
pub fn hash_node(left: &Hash, right: &Hash) -> Hash {
    Sha256::new()
        .chain_update([NODE_PREFIX])
        .chain_update(left)
        .chain_update(right)
        .finalize()
        .into()
}

/// `SHA-256(0x02)`: fills the tree up to a power of two; also the empty tree's root.
pub fn padding_hash() -> Hash {
    Sha256::digest([PADDING_PREFIX]).into()
}

/// `SHA-256(0x03 ‖ count u64 LE ‖ root)`: one hash that commits to a tree and its leaf count,
/// for places that hold a single hash (the rollup's state root). A proof against it is checked
/// with [`verify`] against `root` and `count`, after recomputing this hash.
pub fn counted_root(root: &Hash, count: u64) -> Hash {
    Sha256::new()
        .chain_update([COUNTED_ROOT_PREFIX])
        .chain_update(count.to_le_bytes())
        .chain_update(root)
        .finalize()
        .into()
}

/// ⌈log2 count⌉ (0 for 0 or 1 leaves).
pub fn depth(count: u64) -> u32 {
    if count <= 1 {
        0
    } else {
        64 - (count - 1).leading_zeros()
    }
}

/// Why a proof was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MerkleError {
    /// The tree has no leaves.
    EmptyTree,
    /// The index is not below the count.
    IndexOutOfRange {
        /// The index.
        index: u64,
        /// The count.
        count: u64,
    },
    /// The proof does not have exactly `depth(count)` siblings.
    WrongProofLength {
        /// Siblings needed.
        expected: u32,
        /// Siblings given.
        found: usize,
    },
    /// The recomputed root differs.
    RootMismatch,
}

impl core::fmt::Display for MerkleError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            MerkleError::EmptyTree => f.write_str("the tree has no leaves"),
            MerkleError::IndexOutOfRange { index, count } => {
                write!(f, "leaf index {index} is not below the leaf count {count}")
            }
            MerkleError::WrongProofLength { expected, found } => {
                write!(f, "a proof needs {expected} siblings, found {found}")
            }
            MerkleError::RootMismatch => f.write_str("the proof does not lead to the root"),
        }
    }
}

/// Checks that `leaf` is leaf `index` of the tree with `root` and `count` leaves.
pub fn verify(
    root: &Hash,
    count: u64,
    index: u64,
    leaf: &[u8],
    siblings: &[Hash],
) -> Result<(), MerkleError> {
    verify_hash(root, count, index, hash_leaf(leaf), siblings)
}

/// [`verify`] for a leaf given by its hash ([`hash_leaf`]), as the VM's `merkle_verify` host
/// call receives it.
pub fn verify_hash(
    root: &Hash,
    count: u64,
    index: u64,
    leaf_hash: Hash,
    siblings: &[Hash],
) -> Result<(), MerkleError> {
    if count == 0 {
        return Err(MerkleError::EmptyTree);
    }
    if index >= count {
        return Err(MerkleError::IndexOutOfRange { index, count });
    }
    let expected = depth(count);
    if siblings.len() != expected as usize {
        return Err(MerkleError::WrongProofLength {
            expected,
            found: siblings.len(),
        });
    }
    let mut hash = leaf_hash;
    let mut position = index;
    for sibling in siblings {
        hash = if position & 1 == 0 {
            hash_node(&hash, sibling)
        } else {
            hash_node(sibling, &hash)
        };
        position >>= 1;
    }
    if &hash == root {
        Ok(())
    } else {
        Err(MerkleError::RootMismatch)
    }
}

/// An inclusion proof: the leaf's index and its siblings from the bottom up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MerkleProof {
    /// Index of the leaf.
    pub index: u64,
    /// Siblings, leaf level first.
    pub siblings: Vec<Hash>,
}

impl MerkleProof {
    /// Verifies against a root and count.
    pub fn verify(&self, root: &Hash, count: u64, leaf: &[u8]) -> Result<(), MerkleError> {
        verify(root, count, self.index, leaf, &self.siblings)
    }
}

impl Encode for MerkleProof {
    fn encode(&self, out: &mut Vec<u8>) {
        self.index.encode(out);
        encode_seq(&self.siblings, out);
    }
}

impl Decode for MerkleProof {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let index = u64::decode(reader)?;
        let siblings = decode_seq(reader, DEPTH_MAX)?;
        Ok(MerkleProof { index, siblings })
    }
}

/// A whole tree, kept level by level (the runtime builds it; clients ask it for proofs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MerkleTree {
    count: u64,
    /// `levels[0]` are the padded leaf hashes; the last level is the root alone.
    levels: Vec<Vec<Hash>>,
}

impl MerkleTree {
    /// Builds the tree over leaf byte strings.
    pub fn from_leaves<L: AsRef<[u8]>>(leaves: &[L]) -> Result<Self, DecodeError> {
        let count = leaves.len() as u64;
        if depth(count) > DEPTH_MAX {
            return Err(DecodeError {
                offset: 0,
                kind: DecodeErrorKind::LengthTooLarge {
                    length: u32::MAX,
                    max: u32::MAX,
                },
            });
        }
        let width = 1usize << depth(count);
        let mut level: Vec<Hash> = leaves.iter().map(|leaf| hash_leaf(leaf.as_ref())).collect();
        level.resize(width.max(1), padding_hash());
        let mut levels = alloc::vec![level];
        while levels.last().is_some_and(|l| l.len() > 1) {
            let below = levels.last().expect("at least one level");
            let above = below
                .chunks_exact(2)
                .map(|pair| hash_node(&pair[0], &pair[1]))
                .collect();
            levels.push(above);
        }
        Ok(MerkleTree { count, levels })
    }

    /// The number of real leaves.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The root (the padding hash for an empty tree).
    pub fn root(&self) -> Hash {
        self.levels
            .last()
            .and_then(|l| l.first())
            .copied()
            .unwrap_or_else(padding_hash)
    }

    /// The proof of leaf `index`, if it exists.
    pub fn proof(&self, index: u64) -> Option<MerkleProof> {
        if index >= self.count {
            return None;
        }
        let mut position = index as usize;
        let mut siblings = Vec::with_capacity(self.levels.len().saturating_sub(1));
        for level in &self.levels[..self.levels.len() - 1] {
            siblings.push(level[position ^ 1]);
            position >>= 1;
        }
        Some(MerkleProof { index, siblings })
    }
}
