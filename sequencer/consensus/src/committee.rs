//! The committee, thresholds, keys and signature verification.

use crate::types::{ReplicaId, Signature, View};
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};

/// Why a committee cannot be formed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CommitteeError {
    /// No members, or more than the format allows.
    #[error("a committee has 1 to {max} members, not {found}")]
    Size {
        /// Members given.
        found: usize,
        /// The bound.
        max: usize,
    },
    /// A key that is not a valid Ed25519 point, or a weak one.
    #[error("committee member {index}: not a valid (non-weak) Ed25519 public key")]
    BadKey {
        /// The member's index.
        index: usize,
    },
    /// The same key twice: one operator would count twice towards a quorum.
    #[error("committee members {first} and {second} have the same key")]
    DuplicateKey {
        /// The first index.
        first: usize,
        /// The second index.
        second: usize,
    },
}

/// The replicas, in index order, with their consensus (not network) keys.
#[derive(Clone, Debug)]
pub struct Committee {
    keys: Vec<VerifyingKey>,
}

impl Committee {
    /// A committee of these Ed25519 public keys; replica `i` holds key `i`.
    pub fn new(keys: &[[u8; 32]]) -> Result<Committee, CommitteeError> {
        let max = crate::types::limits::COMMITTEE_MAX as usize;
        if keys.is_empty() || keys.len() > max {
            return Err(CommitteeError::Size {
                found: keys.len(),
                max,
            });
        }
        let mut parsed = Vec::with_capacity(keys.len());
        for (index, bytes) in keys.iter().enumerate() {
            if let Some(first) = keys[..index].iter().position(|k| k == bytes) {
                return Err(CommitteeError::DuplicateKey {
                    first,
                    second: index,
                });
            }
            match VerifyingKey::from_bytes(bytes) {
                Ok(key) if !key.is_weak() => parsed.push(key),
                _ => return Err(CommitteeError::BadKey { index }),
            }
        }
        Ok(Committee { keys: parsed })
    }

    /// Number of replicas `n`.
    pub fn size(&self) -> usize {
        self.keys.len()
    }

    /// Faults tolerated: `f = ⌊(n − 1) / 3⌋`.
    pub fn faults(&self) -> usize {
        (self.keys.len() - 1) / 3
    }

    /// Certificate size: `⌊2n / 3⌋ + 1` (2f + 1 when n = 3f + 1). Any two quorums share more
    /// than f replicas, so they share an honest one.
    pub fn quorum(&self) -> usize {
        2 * self.keys.len() / 3 + 1
    }

    /// The leader of `view` (round robin).
    pub fn leader(&self, view: View) -> ReplicaId {
        (view % self.keys.len() as u64) as ReplicaId
    }

    /// Replica `id`'s key, if `id` is a member.
    pub fn key(&self, id: ReplicaId) -> Option<&VerifyingKey> {
        self.keys.get(usize::from(id))
    }

    /// Every replica id.
    pub fn members(&self) -> impl Iterator<Item = ReplicaId> + '_ {
        (0..self.keys.len()).map(|i| i as ReplicaId)
    }
}

/// Checks Ed25519 signatures. The core calls it for every signature it accepts; a simulator may
/// memoise it (the same vote is checked by every replica), a node uses [`Ed25519Verifier`].
pub trait Verifier: Send {
    /// Whether `signature` by `key` over `message` is valid.
    fn verify(&mut self, key: &VerifyingKey, message: &[u8], signature: &Signature) -> bool;
}

/// Strict Ed25519 verification (no malleable or small-order signatures).
#[derive(Clone, Copy, Debug, Default)]
pub struct Ed25519Verifier;

impl Verifier for Ed25519Verifier {
    fn verify(&mut self, key: &VerifyingKey, message: &[u8], signature: &Signature) -> bool {
        key.verify_strict(message, &ed25519_dalek::Signature::from_bytes(signature))
            .is_ok()
    }
}

/// A replica's consensus signing key.
#[derive(Clone)]
pub struct ConsensusKey(SigningKey);

impl ConsensusKey {
    /// The key with this 32-byte secret seed.
    pub fn from_seed(seed: &[u8; 32]) -> ConsensusKey {
        ConsensusKey(SigningKey::from_bytes(seed))
    }

    /// The public key committee lists carry.
    pub fn public(&self) -> [u8; 32] {
        self.0.verifying_key().to_bytes()
    }

    /// Signs `message` (deterministic: the same message always gets the same signature).
    pub fn sign(&self, message: &[u8]) -> Signature {
        self.0.sign(message).to_bytes()
    }
}

impl std::fmt::Debug for ConsensusKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ConsensusKey({})", hex_prefix(&self.public()))
    }
}

fn hex_prefix(bytes: &[u8]) -> String {
    bytes.iter().take(4).map(|b| format!("{b:02x}")).collect()
}
