//! The incremental state tree: the formats crate's Merkle tree (same leaf, node and padding
//! hashes, so its proofs verify with [`curve_formats::merkle::verify`]), kept level by level and
//! updated in place. Setting k leaves and committing rehashes only their ancestors: at most
//! k · ⌈log2 n⌉ node hashes, shared ancestors once.
//!
//! Leaves are never moved: a state entry keeps the index it was given when first written, so
//! an update never reshuffles the tree.

use std::collections::BTreeSet;

use curve_formats::merkle::{
    Hash, MerkleProof, counted_root, depth, hash_leaf, hash_node, padding_hash,
};

/// A Merkle tree whose leaves are updated and appended in place.
#[derive(Clone, Debug, Default)]
pub struct StateTree {
    /// `levels[0]` holds the leaf hashes, `levels[k]` the ⌈n / 2^k⌉ nodes of height k; a node
    /// without a right child pairs with the padding subtree of its height.
    levels: Vec<Vec<Hash>>,
    /// Leaf indices set since the last commit.
    dirty: BTreeSet<u64>,
    /// Hash computations (leaf and node) since creation: the cost the tests bound.
    hashes: u64,
}

/// The root of an all-padding subtree of each height.
fn padding_subtrees() -> &'static [Hash] {
    static PADDING: std::sync::OnceLock<Vec<Hash>> = std::sync::OnceLock::new();
    PADDING.get_or_init(|| {
        let mut out = vec![padding_hash()];
        for height in 1..=curve_formats::merkle::DEPTH_MAX as usize {
            let below = out[height - 1];
            out.push(hash_node(&below, &below));
        }
        out
    })
}

impl StateTree {
    /// An empty tree.
    pub fn new() -> StateTree {
        StateTree::default()
    }

    /// Leaves in the tree.
    pub fn count(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// Hashes computed since creation.
    pub fn hash_count(&self) -> u64 {
        self.hashes
    }

    /// Sets leaf `index` to `leaf` (appending when `index == count`); takes effect at
    /// [`StateTree::commit`].
    pub fn set(&mut self, index: u64, leaf: &[u8]) {
        if self.levels.is_empty() {
            self.levels.push(Vec::new());
        }
        let hash = hash_leaf(leaf);
        self.hashes += 1;
        let leaves = &mut self.levels[0];
        let at = index as usize;
        assert!(
            at <= leaves.len(),
            "state tree leaves are appended in order: index {index}, count {}",
            leaves.len()
        );
        if at == leaves.len() {
            leaves.push(hash);
        } else {
            leaves[at] = hash;
        }
        self.dirty.insert(index);
    }

    /// Rehashes the ancestors of the leaves set since the last commit.
    pub fn commit(&mut self) {
        let count = self.count();
        let height = depth(count) as usize;
        self.levels.resize(height + 1, Vec::new());
        let mut positions: Vec<u64> = std::mem::take(&mut self.dirty).into_iter().collect();
        for level in 0..height {
            let mut parents: Vec<u64> = positions.iter().map(|p| p >> 1).collect();
            parents.dedup();
            let width = count.div_ceil(1 << (level + 1)) as usize;
            let (below, above) = self.levels.split_at_mut(level + 1);
            let (below, above) = (&below[level], &mut above[0]);
            above.resize(width, [0; 32]);
            for &parent in &parents {
                let left = below[(parent * 2) as usize];
                let right = below
                    .get((parent * 2 + 1) as usize)
                    .copied()
                    .unwrap_or(padding_subtrees()[level]);
                above[parent as usize] = hash_node(&left, &right);
                self.hashes += 1;
            }
            positions = parents;
        }
    }

    /// The root (the padding hash when empty). Call after [`StateTree::commit`].
    pub fn root(&self) -> Hash {
        debug_assert!(self.dirty.is_empty(), "the root of an uncommitted tree");
        if self.count() == 0 {
            return padding_hash();
        }
        self.levels[depth(self.count()) as usize][0]
    }

    /// The root and count in one hash ([`counted_root`]).
    pub fn counted_root(&self) -> Hash {
        counted_root(&self.root(), self.count())
    }

    /// The inclusion proof of leaf `index`.
    pub fn proof(&self, index: u64) -> Option<MerkleProof> {
        if index >= self.count() {
            return None;
        }
        let height = depth(self.count()) as usize;
        let mut position = index as usize;
        let siblings = (0..height)
            .map(|level| {
                let sibling = self.levels[level]
                    .get(position ^ 1)
                    .copied()
                    .unwrap_or(padding_subtrees()[level]);
                position >>= 1;
                sibling
            })
            .collect();
        Some(MerkleProof { index, siblings })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use curve_formats::merkle::MerkleTree;

    #[test]
    fn matches_the_formats_tree_while_growing_and_updating() {
        let mut tree = StateTree::new();
        let mut leaves: Vec<Vec<u8>> = Vec::new();
        for n in 0u64..70 {
            leaves.push(n.to_le_bytes().to_vec());
            tree.set(n, &leaves[n as usize]);
            // Update an older leaf too, in the same commit.
            let old = (n * 7) % (n + 1);
            leaves[old as usize].push(0xAA);
            tree.set(old, &leaves[old as usize]);
            tree.commit();
            let full = MerkleTree::from_leaves(&leaves).expect("small");
            assert_eq!(tree.root(), full.root(), "{} leaves", n + 1);
            for index in [0, n / 2, n] {
                let proof = tree.proof(index).expect("in range");
                assert_eq!(Some(proof.clone()), full.proof(index));
                proof
                    .verify(&full.root(), n + 1, &leaves[index as usize])
                    .expect("verifies");
            }
        }
    }

    #[test]
    fn updating_k_leaves_costs_at_most_k_log_n_node_hashes() {
        let n = 1u64 << 14;
        let mut tree = StateTree::new();
        for i in 0..n {
            tree.set(i, &i.to_le_bytes());
        }
        tree.commit();
        for k in [1u64, 10, 100, 1000] {
            let before = tree.hash_count();
            for j in 0..k {
                // Spread over the tree: few shared ancestors, the worst case for this bound.
                tree.set((j * 7919) % n, b"changed");
            }
            tree.commit();
            let cost = tree.hash_count() - before;
            let bound = k + k * u64::from(depth(n));
            assert!(cost <= bound, "k = {k}: {cost} hashes > {bound}");
            // And far below a rebuild (2n hashes).
            assert!(cost < 2 * n / 2, "k = {k}: {cost}");
        }
    }
}
